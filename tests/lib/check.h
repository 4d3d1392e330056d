/*
 * check.h - assertions for volley's unit tests. A failed CHECK prints
 * file:line, the expression and both values, counts the failure and goes
 * on; check_done() returns the exit code (1 if anything failed). Tests
 * that cannot run here return CHECK_SKIP (77, ctest's SKIP_RETURN_CODE).
 */
#ifndef VOLLEY_TESTS_CHECK_H
#define VOLLEY_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_SKIP 77

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        check_count++;                                                                             \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        check_count++;                                                                             \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", __FILE__, __LINE__,  \
                    #a, #b, check_a_, check_b_);                                                   \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_U64(a, b)                                                                            \
    do {                                                                                           \
        unsigned long long check_a_ = (unsigned long long)(a), check_b_ = (unsigned long long)(b); \
        check_count++;                                                                             \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "%s:%d: CHECK_U64(%s, %s) failed: %llu != %llu\n", __FILE__, __LINE__, \
                    #a, #b, check_a_, check_b_);                                                   \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        check_count++;                                                                             \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                           \
            fprintf(stderr,                                                                        \
                    "%s:%d: CHECK_STR(%s, %s) failed:\n  got:      \"%s\"\n"                       \
                    "  expected: \"%s\"\n",                                                        \
                    __FILE__, __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                    \
                    check_b_ ? check_b_ : "(null)");                                               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

/* Substring check: haystack contains needle. */
#define CHECK_HAS(hay, needle)                                                                     \
    do {                                                                                           \
        const char *check_h_ = (hay), *check_n_ = (needle);                                        \
        check_count++;                                                                             \
        if (!check_h_ || !strstr(check_h_, check_n_)) {                                            \
            fprintf(stderr, "%s:%d: CHECK_HAS(%s, \"%s\") failed; text was:\n%s\n", __FILE__,      \
                    __LINE__, #hay, check_n_, check_h_ ? check_h_ : "(null)");                     \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

static inline int check_done(void)
{
    if (check_failures) {
        fprintf(stderr, "%d of %d checks FAILED\n", check_failures, check_count);
        return 1;
    }
    fprintf(stderr, "all %d checks passed\n", check_count);
    return 0;
}

#endif /* VOLLEY_TESTS_CHECK_H */

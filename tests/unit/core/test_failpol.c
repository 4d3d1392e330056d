/*
 * test_failpol.c - the failure-handler policy: which rule matches, how
 * many retries, when the recovery script runs, bad rules skipped.
 */
#include "check.h"
#include "core/failpol.h"

static const int32_t codes[] = {12, 75, 3, 200};
static const char pool[] = "\0./fix.sh\0";

int main(void)
{
    struct spec_rule rules[3] = {
        {.code_first = 0, .ncodes = 2, .max_retries = 3, .script_off = SPEC_NO_STR},
        {.code_first = 2, .ncodes = 1, .max_retries = 1, .script_off = 1},
        {.max_retries = 2, .flags = SPEC_RULE_MATCH_ALL, .script_off = SPEC_NO_STR},
    };
    struct failpol fh = {.rules = rules,
                         .nrules = 3,
                         .codes = codes,
                         .ncodes = 4,
                         .pool = pool,
                         .pool_len = sizeof pool};
    struct failpol_decision d;

    d = failpol_decide(&fh, 0, 1); /* success is never retried */
    CHECK(!d.retry && d.rule == -1);
    d = failpol_decide(NULL, 12, 1); /* no handler */
    CHECK(!d.retry);
    for (uint32_t a = 1; a <= 3; a++) { /* 3 retries: attempts 1..3 retry */
        d = failpol_decide(&fh, 75, a);
        CHECK(d.retry && d.rule == 0 && d.recovery == NULL);
    }
    d = failpol_decide(&fh, 75, 4);
    CHECK(!d.retry && d.rule == 0);
    d = failpol_decide(&fh, 3, 1); /* rule 1, with its script */
    CHECK(d.retry && d.rule == 1 && d.recovery && strcmp(d.recovery, "./fix.sh") == 0);
    d = failpol_decide(&fh, 3, 2); /* exhausted: no script either */
    CHECK(!d.retry && d.recovery == NULL);
    d = failpol_decide(&fh, 5, 2); /* match-all */
    CHECK(d.retry && d.rule == 2);
    d = failpol_decide(&fh, 5, 3);
    CHECK(!d.retry && d.rule == 2);
    d = failpol_decide(&fh, 137, 1); /* a signal death: 128 + 9 */
    CHECK(d.retry && d.rule == 2);
    d = failpol_decide(&fh, -1, 1); /* could not start */
    CHECK(d.retry && d.rule == 2);
    d = failpol_decide(&fh, 12, 0);
    CHECK(!d.retry);

    /* listed codes win over an earlier match-all rule */
    struct spec_rule r2[2] = {
        {.max_retries = 1, .flags = SPEC_RULE_MATCH_ALL, .script_off = SPEC_NO_STR},
        {.code_first = 3, .ncodes = 1, .max_retries = 5, .script_off = SPEC_NO_STR},
    };
    struct failpol fh2 = {.rules = r2,
                          .nrules = 2,
                          .codes = codes,
                          .ncodes = 4,
                          .pool = pool,
                          .pool_len = sizeof pool};
    d = failpol_decide(&fh2, 200, 4);
    CHECK(d.retry && d.rule == 1);
    d = failpol_decide(&fh2, 201, 1);
    CHECK(d.retry && d.rule == 0);

    /* rules pointing outside the arrays are skipped, not followed */
    struct spec_rule bad[2] = {
        {.code_first = 3, .ncodes = 2, .max_retries = 9, .script_off = SPEC_NO_STR},
        {.code_first = 0, .ncodes = 1, .max_retries = 9, .script_off = 999},
    };
    struct failpol fh3 = {.rules = bad,
                          .nrules = 2,
                          .codes = codes,
                          .ncodes = 4,
                          .pool = pool,
                          .pool_len = sizeof pool};
    d = failpol_decide(&fh3, 200, 1);
    CHECK(!d.retry);
    d = failpol_decide(&fh3, 12, 1);
    CHECK(!d.retry);
    return check_done();
}

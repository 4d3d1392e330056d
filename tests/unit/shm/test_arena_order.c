/*
 * test_arena_order.c - the order in which ready jobs start: a higher
 * priority first; within one priority, first ready first run.
 *
 * One worker: exactly the order of a reference that keeps one FIFO per
 * priority (roots first, in ascending ids; a finished job's children in
 * ascending ids), with arena_finish + arena_take and with
 * arena_finish_take (which keeps a child only when it is the oldest).
 *
 * Several slots, driven in turn by this one process (so every run is the
 * same): a job of a lower priority never starts while one of a higher
 * priority is ready; within a priority, the rank displacement of the start
 * order against the ready order stays within the design's bound
 * (docs/arena.md, "Order": ~3 x ARENA_CHUNK x slots); each job starts once.
 *
 * Few roots: the slot that took them runs them in the order listed, and
 * another takes none of them (nor anything younger or of a lower
 * priority) until that slot has left.
 */
#include "shm/arena.h"

#include <errno.h>

#include "check.h"
#include "shm_test.h"

static uint64_t rnd_state;
static uint32_t rnd(uint32_t n)
{
    uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (uint32_t)((z ^ (z >> 31)) % n);
}

/* A random DAG: job j has 0-3 children among the next `window` ids, and a
 * priority from prios[] (NULL: none). */
static void random_spec(struct spec *s, uint32_t n, uint32_t window, const int32_t *prios,
                        uint32_t nprios, uint64_t seed)
{
    rnd_state = seed;
    uint32_t(*e)[2] = vl_xcalloc((size_t)n * 3 + 1, sizeof *e);
    size_t ne = 0;
    for (uint32_t j = 0; j + 1 < n; j++) {
        uint32_t k = rnd(4), w = VL_MIN(window, n - 1 - j), last = 0;
        for (uint32_t i = 0; i < k; i++) {
            uint32_t c = j + 1 + rnd(w);
            if (c == last)
                continue; /* no duplicate edge (the rare repeat is dropped) */
            bool dup = false;
            for (size_t q = ne - (ne > 3 ? 3 : ne); q < ne; q++)
                dup |= e[q][0] == j && e[q][1] == c;
            if (dup)
                continue;
            e[ne][0] = j;
            e[ne++][1] = c;
            last = c;
        }
    }
    shm_test_spec(s, n, (const uint32_t(*)[2])e, ne, NULL);
    free(e);
    if (prios) {
        s->prio = vl_xcalloc(n, sizeof *s->prio);
        for (uint32_t j = 0; j < n; j++)
            s->prio[j] = prios[rnd(nprios)];
    }
}

static int32_t prio_of(const struct spec *s, uint32_t j)
{
    return s->prio ? s->prio[j] : 0;
}

/* The reference with one worker: the start order of every job. */
static uint32_t *reference(const struct spec *s)
{
    uint32_t n = s->njobs, *order = vl_xcalloc(n, 4), *deg = vl_xcalloc(n, 4);
    int32_t levels[ARENA_MAX_LEVELS];
    uint32_t nl = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t i = 0;
        while (i < nl && levels[i] != prio_of(s, j))
            i++;
        if (i == nl)
            levels[nl++] = prio_of(s, j);
    }
    /* one FIFO per level, each big enough for every job */
    uint32_t *q = vl_xcalloc((size_t)nl * n, 4), head[ARENA_MAX_LEVELS] = {0},
             tail[ARENA_MAX_LEVELS] = {0};
#define LVL(j)                                                                                     \
    ({                                                                                             \
        uint32_t l_ = 0;                                                                           \
        while (levels[l_] != prio_of(s, (j)))                                                      \
            l_++;                                                                                  \
        l_;                                                                                        \
    })
    for (uint32_t j = 0; j < n; j++) {
        deg[j] = s->npar[j];
        if (!deg[j]) {
            uint32_t l = LVL(j);
            q[(size_t)l * n + tail[l]++] = j;
        }
    }
    for (uint32_t k = 0; k < n; k++) {
        int best = -1;
        for (uint32_t l = 0; l < nl; l++)
            if (head[l] < tail[l] && (best < 0 || levels[l] > levels[best]))
                best = (int)l;
        if (best < 0)
            break;
        uint32_t j = q[(size_t)best * n + head[best]++];
        order[k] = j;
        for (uint64_t e = s->kid_off[j]; e < s->kid_off[j + 1]; e++) {
            uint32_t c = s->kids[e];
            if (--deg[c] == 0) {
                uint32_t l = LVL(c);
                q[(size_t)l * n + tail[l]++] = c;
            }
        }
    }
#undef LVL
    free(q);
    free(deg);
    return order;
}

static void one_worker(const struct spec *s, bool take_next, const char *tag)
{
    struct arena a;
    shm_test_build(&a, s, 2, tag);
    uint32_t w;
    CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &w, NULL), 0);
    uint32_t *want = reference(s), n = 0, j = arena_take(&a, w), bad = 0;
    while (j != ARENA_NONE && n < s->njobs) {
        if (j != want[n] && bad++ < 3)
            fprintf(stderr, "%s: start %u is job %u (priority %d), want %u (priority %d)\n", tag, n,
                    j, prio_of(s, j), want[n], prio_of(s, want[n]));
        n++;
        if (take_next) {
            CHECK_EQ(arena_finish_take(&a, w, j, ARENA_COMPLETED, 0, &j), 0);
        } else {
            CHECK_EQ(arena_finish(&a, w, j, ARENA_COMPLETED, 0), 0);
            j = arena_take(&a, w);
        }
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(n, s->njobs);
    CHECK(arena_done(&a));
    free(want);
    arena_close(&a);
}

static void test_one_worker(void)
{
    static const int32_t prios[] = {0, 5, -3, 100, 7};
    struct spec s;
    /* no priorities: first ready, first run */
    random_spec(&s, 5000, 300, NULL, 0, 1);
    one_worker(&s, false, "fifo");
    one_worker(&s, true, "fifo-next");
    spec_free(&s);
    /* five priorities */
    random_spec(&s, 5000, 300, prios, 5, 2);
    one_worker(&s, false, "prio");
    one_worker(&s, true, "prio-next");
    spec_free(&s);
    /* a chain of low priority, and children of high priority that become
     * ready in the middle of it: the chain waits for them */
    static const uint32_t e[][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {1, 5}, {1, 6}, {6, 7}};
    shm_test_spec(&s, 8, e, 7, NULL);
    s.prio = vl_xcalloc(8, sizeof *s.prio);
    s.prio[5] = s.prio[6] = s.prio[7] = 9;
    one_worker(&s, false, "chain");
    one_worker(&s, true, "chain-next");
    uint32_t *want = reference(&s);
    static const uint32_t expect[] = {0, 1, 5, 6, 7, 2, 3, 4};
    CHECK(memcmp(want, expect, sizeof expect) == 0);
    free(want);
    spec_free(&s);
}

/*
 * W slots, each in turn takes a job and finishes it (finish_take when
 * asked). Ready ranks count the jobs that became ready before, per level;
 * roots share rank 0 (all ready at the start).
 */
static void round_robin(const struct spec *s, uint32_t W, bool take_next, uint32_t *max_disp,
                        const char *tag)
{
    struct arena a;
    shm_test_build(&a, s, W + 1, tag);
    uint32_t n = s->njobs, *slot = vl_xcalloc(W, 4), *cur = vl_xcalloc(W, 4);
    for (uint32_t i = 0; i < W; i++) {
        CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &slot[i], NULL), 0);
        cur[i] = ARENA_NONE;
    }
    /* per job: ready sequence (within its priority) and start sequence */
    uint64_t *ready = vl_xcalloc(n, 8), *start = vl_xcalloc(n, 8);
    uint32_t *deg = vl_xcalloc(n, 4), *started = vl_xcalloc(n, 4);
    int32_t seen_prio[ARENA_MAX_LEVELS];
    uint64_t rseq[ARENA_MAX_LEVELS] = {0}, sseq[ARENA_MAX_LEVELS] = {0};
    uint32_t nl = 0, ready_now[ARENA_MAX_LEVELS] = {0};
#define LVL(j)                                                                                     \
    ({                                                                                             \
        uint32_t l_ = 0;                                                                           \
        while (l_ < nl && seen_prio[l_] != prio_of(s, (j)))                                        \
            l_++;                                                                                  \
        if (l_ == nl)                                                                              \
            seen_prio[nl++] = prio_of(s, (j));                                                     \
        l_;                                                                                        \
    })
    for (uint32_t j = 0; j < n; j++) {
        deg[j] = s->npar[j];
        uint32_t l = LVL(j);
        if (!deg[j])
            ready_now[l]++; /* ready[j] = 0 */
    }
    uint32_t done = 0, idle = 0, prio_bad = 0;
    /* a job starts when it is claimed (taken, or kept by finish_take):
     * no job of a higher priority may be ready then */
#define STARTED(j)                                                                                 \
    do {                                                                                           \
        uint32_t l = LVL(j);                                                                       \
        started[j]++;                                                                              \
        start[j] = sseq[l]++;                                                                      \
        ready_now[l]--;                                                                            \
        for (uint32_t h = 0; h < nl; h++)                                                          \
            if (seen_prio[h] > seen_prio[l] && ready_now[h] && prio_bad++ < 3)                     \
                fprintf(stderr, "%s: job %u (priority %d) started while %u of priority %d wait\n", \
                        tag, j, seen_prio[l], ready_now[h], seen_prio[h]);                         \
    } while (0)
    for (uint32_t turn = 0; done < n && idle < 2 * W; turn++) {
        uint32_t i = turn % W, w = slot[i], j = cur[i];
        cur[i] = ARENA_NONE;
        if (j == ARENA_NONE) {
            j = arena_take(&a, w);
            if (j == ARENA_NONE) {
                idle++;
                continue;
            }
            STARTED(j);
        }
        idle = 0;
        /* its children that this completion makes ready, in edge order */
        for (uint64_t e = s->kid_off[j]; e < s->kid_off[j + 1]; e++) {
            uint32_t c = s->kids[e];
            if (--deg[c] == 0) {
                uint32_t lc = LVL(c);
                ready[c] = ++rseq[lc];
                ready_now[lc]++;
            }
        }
        done++;
        if (take_next) {
            CHECK_EQ(arena_finish_take(&a, w, j, ARENA_COMPLETED, 0, &cur[i]), 0);
            if (cur[i] != ARENA_NONE)
                STARTED(cur[i]);
        } else {
            CHECK_EQ(arena_finish(&a, w, j, ARENA_COMPLETED, 0), 0);
        }
    }
#undef STARTED
#undef LVL
    CHECK_EQ(done, n);
    CHECK_EQ(prio_bad, 0);
    for (uint32_t j = 0; j < n; j++)
        CHECK_EQ(started[j], 1);
    /* rank of a ready sequence: roots (0) are ranks [0, roots), the job
     * with ready sequence r > 0 is rank roots + r - 1, per level */
    uint64_t roots[ARENA_MAX_LEVELS] = {0};
    for (uint32_t j = 0; j < n; j++)
        if (!s->npar[j]) {
            uint32_t l = 0;
            while (seen_prio[l] != prio_of(s, j))
                l++;
            roots[l]++;
        }
    uint32_t mx = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t l = 0;
        while (seen_prio[l] != prio_of(s, j))
            l++;
        uint64_t lo = ready[j] ? roots[l] + ready[j] - 1 : 0;
        uint64_t hi = ready[j] ? lo : roots[l] - 1;
        uint64_t d = start[j] < lo ? lo - start[j] : start[j] > hi ? start[j] - hi : 0;
        mx = VL_MAX(mx, (uint32_t)d);
    }
    *max_disp = mx;
    free(ready);
    free(start);
    free(deg);
    free(started);
    free(slot);
    free(cur);
    arena_close(&a);
}

static void test_round_robin(void)
{
    static const int32_t prios[] = {1, 2, 3};
    struct spec s, sp;
    random_spec(&s, 60000, 4096, NULL, 0, 3);
    random_spec(&sp, 60000, 4096, prios, 3, 4);
    static const uint32_t ws[] = {2, 4, 16, 64};
    for (size_t i = 0; i < VL_ARRAY_LEN(ws); i++) {
        uint32_t W = ws[i], bound = 3 * ARENA_CHUNK * (W + 1), d1, d2, d3;
        round_robin(&s, W, false, &d1, "rr");
        round_robin(&s, W, true, &d2, "rr-next");
        round_robin(&sp, W, true, &d3, "rr-prio");
        fprintf(stderr,
                "%u slots: max displacement %u, %u (finish_take), %u (priorities); "
                "bound %u\n",
                W, d1, d2, d3, bound);
        CHECK(d1 <= bound);
        CHECK(d2 <= bound);
        CHECK(d3 <= bound);
    }
    spec_free(&s);
    spec_free(&sp);
}

/*
 * 16 roots of priority 1 (0-15), one of priority 0 (16), and 17, a child
 * of 0 of priority 1: fewer roots than a thief may split (2 x
 * ARENA_CHUNK), so slot A, which took them, runs them in order while B
 * waits (a process runner's reservation for a big job listed early
 * relies on it: run_outcomes); once A left, B takes the rest.
 */
static void test_few_roots(void)
{
    static const uint32_t e[][2] = {{0, 17}};
    struct spec s;
    shm_test_spec(&s, 18, e, 1, NULL);
    s.prio = vl_xcalloc(18, sizeof *s.prio);
    for (uint32_t j = 0; j < 18; j++)
        s.prio[j] = j == 16 ? 0 : 1;
    struct arena a;
    shm_test_build(&a, &s, 3, "few-roots");
    uint32_t A, B;
    CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &A, NULL), 0);
    CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &B, NULL), 0);
    CHECK_EQ(arena_take(&a, A), 0);
    CHECK_EQ(arena_take(&a, B), ARENA_NONE); /* not 16: a lower priority */
    CHECK_EQ(arena_take(&a, A), 1);
    CHECK_EQ(arena_finish(&a, A, 0, ARENA_COMPLETED, 0), 0); /* 17 is ready */
    CHECK_EQ(arena_take(&a, B), ARENA_NONE);                 /* not 17: younger than the roots */
    CHECK_EQ(arena_take(&a, A), 2);
    arena_leave(&a, A);
    uint32_t order[18], n = 0, j;
    while ((j = arena_take(&a, B)) != ARENA_NONE && n < 18) {
        order[n++] = j;
        CHECK_EQ(arena_finish(&a, B, j, ARENA_COMPLETED, 0), 0);
    }
    CHECK_EQ(n, 15u); /* 3-15, then 17, then 16 */
    bool seen[18] = {false};
    for (uint32_t i = 0; i < n && i < 13; i++) {
        CHECK(order[i] >= 3 && order[i] <= 15);
        if (order[i] < 18)
            seen[order[i]] = true;
    }
    for (uint32_t r = 3; r <= 15; r++)
        CHECK(seen[r]);
    if (n == 15) {
        CHECK_EQ(order[13], 17);
        CHECK_EQ(order[14], 16);
    }
    arena_close(&a);
    spec_free(&s);
}

int main(void)
{
    test_one_worker();
    test_round_robin();
    test_few_roots();
    return check_done();
}

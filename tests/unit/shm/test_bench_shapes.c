/*
 * test_bench_shapes.c - the bench's shape generators: each passes
 * spec_check and has the structure its definition promises (barrier
 * rounds, tree heap order, random degrees and window, seeds); too few jobs
 * is an error; and the no-spawn driver runs each shape and verifies it.
 */
#include "bench/lib/bench_noexec.h"

#include "shm/arena.h"

#include <errno.h>
#include <unistd.h>

#include "check.h"

static void gen(enum bench_shape sh, uint32_t n, uint64_t seed, struct spec *s)
{
    struct vl_err err = {0};
    struct bench_shape_opts o = {.fanout = 4, .seed = seed};
    CHECK_EQ(bench_shape_gen(sh, n, &o, s, &err), 0);
    CHECK_EQ(spec_check(s, &err), 0);
    if (err.code)
        fprintf(stderr, "%s %u: %s\n", bench_shape_name(sh), n, err.msg);
    if (sh != BENCH_RANDOM)
        CHECK_U64(s->nedges, bench_shape_edges(sh, n, &o));
}

static void test_shapes(void)
{
    struct spec s;
    for (int sh = 0; sh < BENCH_NSHAPES; sh++)
        for (uint32_t n = bench_shape_min_jobs((enum bench_shape)sh); n < 40; n++) {
            gen((enum bench_shape)sh, n, 7, &s);
            CHECK_STR(spec_job_name(&s, n - 1), n == 10 ? "j9" : spec_job_name(&s, n - 1));
            CHECK_STR(spec_job_cmd(&s, 0), "true");
            CHECK(s.flags[0] & SPEC_JOB_CANCEL_ON_BLOCK);
            spec_free(&s);
        }

    gen(BENCH_FLAT, 1000, 1, &s);
    CHECK_EQ(s.nedges, 0);
    spec_free(&s);

    gen(BENCH_CHAIN, 1000, 1, &s);
    for (uint32_t j = 0; j + 1 < 1000; j++)
        CHECK_EQ(s.kids[s.kid_off[j]], j + 1);
    spec_free(&s);

    gen(BENCH_TREE, 1000, 1, &s);
    CHECK_EQ(s.kid_off[1] - s.kid_off[0], 4);
    CHECK_EQ(s.kids[s.kid_off[3]], 13);
    CHECK_EQ(s.npar[0], 0);
    CHECK_EQ(s.npar[999], 1);
    spec_free(&s);

    /* barrier, 1003 jobs: rounds of 250, barriers at 250, 501, 752 */
    gen(BENCH_BARRIER, 1003, 1, &s);
    CHECK_EQ(s.npar[250], 250);
    CHECK_EQ(s.kid_off[251] - s.kid_off[250], 250);
    CHECK_EQ(s.kids[s.kid_off[0]], 250);
    CHECK_EQ(s.npar[251], 1);
    CHECK_EQ(s.npar[752], 250);
    CHECK_EQ(s.kid_off[1003] - s.kid_off[1002], 0);
    uint32_t roots = 0;
    for (uint32_t j = 0; j < 1003; j++)
        roots += s.npar[j] == 0;
    CHECK_EQ(roots, 250);
    spec_free(&s);

    /* random: 0-4 children, mean 2, within (p, p+4096], reproducible */
    enum { N = 200000 };
    gen(BENCH_RANDOM, N, 42, &s);
    uint32_t hist[5] = {0};
    for (uint32_t p = 0; p < N; p++) {
        uint64_t d = s.kid_off[p + 1] - s.kid_off[p];
        CHECK(d <= 4);
        hist[d <= 4 ? d : 4]++;
        for (uint64_t e = s.kid_off[p]; e < s.kid_off[p + 1]; e++)
            CHECK(s.kids[e] > p && s.kids[e] <= p + 4096);
    }
    double mean = (double)s.nedges / N;
    CHECK(mean > 1.98 && mean < 2.02);
    for (int d = 0; d <= 4; d++)
        CHECK(hist[d] > N / 6 && hist[d] < N / 4);
    struct spec t;
    gen(BENCH_RANDOM, N, 42, &t);
    CHECK_U64(t.nedges, s.nedges);
    CHECK(memcmp(t.kids, s.kids, s.nedges * 4) == 0);
    spec_free(&t);
    gen(BENCH_RANDOM, N, 43, &t);
    CHECK(t.nedges != s.nedges || memcmp(t.kids, s.kids, s.nedges * 4) != 0);
    spec_free(&t);
    CHECK(bench_shape_spec_bytes(BENCH_RANDOM, N) >= (uint64_t)N * 49 + s.nedges * 4);
    spec_free(&s);

    /* errors */
    struct vl_err err = {0};
    CHECK_EQ(bench_shape_gen(BENCH_BARRIER, 6, NULL, &s, &err), -EINVAL);
    CHECK_HAS(err.msg, "the barrier shape needs 7 to 4294967294 jobs, not 6");
    CHECK_EQ(bench_shape_gen(BENCH_FLAT, 0, NULL, &s, &err), -EINVAL);
    enum bench_shape x;
    CHECK_EQ(bench_shape_parse("tree", &x), 0);
    CHECK_EQ(x, BENCH_TREE);
    CHECK_EQ(bench_shape_parse("trees", &x), -EINVAL);
    CHECK_STR(bench_shape_list(), "flat, barrier, chain, tree, random");
}

static void test_noexec(void)
{
    for (int sh = 0; sh < BENCH_NSHAPES; sh++) {
        struct bench_noexec_opts o = {.shape = (enum bench_shape)sh,
                                      .njobs = 30000,
                                      .workers = 3,
                                      .shape_opts = {.fanout = 3, .seed = 5}};
        struct bench_noexec_result r;
        struct vl_err err = {0};
        uint64_t shm = 0, heap = 0;
        CHECK_EQ(bench_noexec_plan(&o, &shm, &heap, &err), 0);
        CHECK_EQ(bench_noexec_run(&o, &r, &err), 0);
        CHECK(r.verified);
        if (!r.verified)
            fprintf(stderr, "%s: %s\n", bench_shape_name(o.shape), r.why);
        CHECK(r.wall_s > 0);
        CHECK(r.completions_per_s > 0);
        CHECK_U64(r.arena_bytes, shm > r.arena_bytes ? r.arena_bytes : shm);
        CHECK(r.hot_bytes < r.arena_bytes);
        CHECK((double)r.hot_bytes / o.njobs <= 64.0);
        CHECK(!r.ordered);
    }
    /* the order check: measured, and consistent (no bound: it is a time
     * measure of processes the machine may preempt at any moment) */
    struct bench_noexec_opts o = {.shape = BENCH_RANDOM,
                                  .njobs = 30000,
                                  .workers = 3,
                                  .shape_opts = {.seed = 5},
                                  .order = true};
    struct bench_noexec_result r;
    struct vl_err err = {0};
    CHECK_EQ(bench_noexec_run(&o, &r, &err), 0);
    CHECK(r.verified && r.ordered);
    CHECK(r.order.p50 <= r.order.p99 && r.order.p99 <= r.order.max);
    CHECK(r.order.mean <= (double)r.order.max);
    CHECK(r.order.max < o.njobs);
}

/* The order check's arithmetic on small cases worked by hand. */
static void test_order_measure(void)
{
    struct bench_order o;
    struct vl_err err = {0};
    /* first ready, first run (three roots in any order) */
    uint64_t r1[] = {0, 0, 0, 5, 6}, s1[] = {3, 1, 2, 4, 5};
    CHECK_EQ(bench_order_measure(r1, s1, 5, &o, &err), 0);
    CHECK(o.mean == 0);
    CHECK_U64(o.max, 0);
    CHECK_U64(o.late, 0);
    /* reversed: start ranks 3 2 1 0 against ready ranks 0 1 2 3 */
    uint64_t r2[] = {1, 2, 3, 4}, s2[] = {40, 30, 20, 10};
    CHECK_EQ(bench_order_measure(r2, s2, 4, &o, &err), 0);
    CHECK(o.mean == 2.0);
    CHECK_U64(o.max, 3);
    CHECK_U64(o.p50, 1);
    CHECK_U64(o.late, 2);
    /* a child started before a root: 1 rank early, the last root 1 late */
    uint64_t r3[] = {0, 0, 7}, s3[] = {1, 3, 2};
    CHECK_EQ(bench_order_measure(r3, s3, 3, &o, &err), 0);
    CHECK_U64(o.max, 1);
    CHECK_U64(o.late, 1);
    CHECK(o.mean > 0.66 && o.mean < 0.67);
    CHECK_EQ(bench_order_measure(r3, s3, 0, &o, &err), 0);
}

/* The verifier fails each way a run can be wrong. */
static void test_verify(void)
{
    struct spec s;
    struct vl_err err = {0};
    CHECK_EQ(bench_shape_gen(BENCH_CHAIN, 5, NULL, &s, &err), 0);
    struct arena a;
    char path[128], why[256];
    snprintf(path, sizeof path, "/dev/shm/volley-test-verify-%d", (int)getpid());
    struct arena_opts o = {.nslots = 2};
    CHECK_EQ(arena_build(&a, path, &s, &o, &err), 0);
    arena_unlink(path);
    uint32_t w;
    CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &w, &err), 0);
    _Atomic uint64_t stamp[5] = {1, 2, 3, 4, 5};
    CHECK(!bench_noexec_verify(&a, stamp, 5, 0, 0, why, sizeof why));
    CHECK_HAS(why, "job 0 is ready in attempt 1");
    for (uint32_t j; (j = arena_take(&a, w)) != ARENA_NONE;)
        arena_finish(&a, w, j, ARENA_COMPLETED, 0);
    CHECK(bench_noexec_verify(&a, stamp, 5, 0, 0, why, sizeof why));
    CHECK(!bench_noexec_verify(&a, stamp, 5, 1, 0, why, sizeof why));
    CHECK_HAS(why, "1 jobs ran before one of their parents completed");
    CHECK(!bench_noexec_verify(&a, stamp, 6, 0, 0, why, sizeof why));
    CHECK_HAS(why, "6 completions for 5 jobs");
    CHECK(!bench_noexec_verify(&a, stamp, 5, 0, 2, why, sizeof why));
    CHECK_HAS(why, "2 finishes were refused");
    stamp[3] = 3;
    CHECK(!bench_noexec_verify(&a, stamp, 5, 0, 0, why, sizeof why));
    CHECK_HAS(why, "job 3 completed before its parent 2");
    stamp[3] = 4;
    stamp[0] = 0;
    CHECK(!bench_noexec_verify(&a, stamp, 5, 0, 0, why, sizeof why));
    CHECK_HAS(why, "job 0 never completed");
    arena_close(&a);
    spec_free(&s);
}

int main(void)
{
    test_shapes();
    test_order_measure();
    test_verify();
    test_noexec();
    return check_done();
}

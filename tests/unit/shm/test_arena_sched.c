/*
 * test_arena_sched.c - the scheduling primitives in one process: claim,
 * finish and release, the cancellation cascade of a failed parent, retry,
 * finish_take, a queue growing by chunks and stolen from, root ranges
 * (split, left behind by leave), counts, dirty bits, sleep and wake.
 * The order (priorities, first ready first run) is test_arena_order.c.
 */
#include "shm/arena.h"

#include <errno.h>

#include "check.h"
#include "shm_test.h"

static uint64_t count(const struct arena *a, enum arena_state s)
{
    uint64_t c[ARENA_NSTATES];
    arena_counts(a, c);
    return c[s];
}

static uint32_t join(struct arena *a)
{
    uint32_t w = ARENA_NONE;
    struct vl_err err = {0};
    CHECK_EQ(arena_join(a, ARENA_ROLE_WORKER, &w, &err), 0);
    return w;
}

static void test_diamond(void)
{
    /* 0 -> {1, 2} -> 3 */
    static const uint32_t e[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 3}};
    struct spec s;
    struct arena a;
    shm_test_spec(&s, 4, e, 4, NULL);
    shm_test_build(&a, &s, 4, "diamond");
    CHECK_EQ(count(&a, ARENA_READY), 1);
    CHECK_EQ(count(&a, ARENA_BLOCKED), 3);
    CHECK_STR(arena_job_name(&a, 3), "j3");
    CHECK_STR(arena_job_cmd(&a, 3), "true");
    uint32_t w = join(&a);
    CHECK_EQ(w, 0);

    uint32_t j = arena_take(&a, w);
    CHECK_EQ(j, 0);
    CHECK_EQ(arena_job_state(&a, 0), ARENA_RUNNING);
    CHECK_EQ(arena_job_owner(&a, 0), w);
    CHECK_EQ(arena_job_attempt(&a, 0), 1);
    CHECK_EQ(arena_take(&a, w), ARENA_NONE); /* 1 and 2 wait for 0 */
    CHECK(!arena_done(&a));
    CHECK_EQ(count(&a, ARENA_RUNNING), 1);

    CHECK_EQ(arena_finish(&a, w, 0, ARENA_COMPLETED, 0), 0);
    CHECK_EQ(arena_job_state(&a, 1), ARENA_READY);
    CHECK_EQ(arena_job_state(&a, 2), ARENA_READY);
    CHECK_EQ(arena_job_state(&a, 3), ARENA_BLOCKED);
    CHECK_EQ(count(&a, ARENA_READY), 2);
    CHECK_EQ(count(&a, ARENA_COMPLETED), 1);

    /* first ready, first run: 1 and 2 became ready together, in edge order */
    uint32_t x = arena_take(&a, w), y = arena_take(&a, w);
    CHECK_EQ(x, 1);
    CHECK_EQ(y, 2);
    CHECK_EQ(arena_finish(&a, w, x, ARENA_COMPLETED, 0), 0);
    CHECK_EQ(arena_job_state(&a, 3), ARENA_BLOCKED); /* one parent left */
    CHECK_EQ(arena_finish(&a, w, y, ARENA_COMPLETED, 0), 0);
    CHECK_EQ(arena_job_state(&a, 3), ARENA_READY);
    CHECK_EQ(arena_take(&a, w), 3);
    CHECK(!arena_done(&a));
    CHECK_EQ(arena_finish(&a, w, 3, ARENA_COMPLETED, 7), 0);
    CHECK(arena_done(&a));
    CHECK_EQ(count(&a, ARENA_COMPLETED), 4);
    CHECK_EQ(count(&a, ARENA_RUNNING), 0);

    /* errors: not running, bad id, bad outcome, not the owner */
    CHECK_EQ(arena_finish(&a, w, 3, ARENA_COMPLETED, 0), -ESTALE);
    CHECK_EQ(arena_finish(&a, w, 4, ARENA_COMPLETED, 0), -EINVAL);
    CHECK_EQ(arena_finish(&a, w, 3, ARENA_READY, 0), -EINVAL);
    struct arena_job_rec r;
    arena_job_read(&a, 3, &r);
    CHECK_EQ(r.state, ARENA_COMPLETED);
    CHECK_EQ(r.exit_code, 7);
    CHECK_EQ(r.owner, w);
    CHECK_EQ(r.attempt, 1);
    arena_leave(&a, w);
    arena_close(&a);
    arena_close(&a); /* twice is fine */
    spec_free(&s);
}

static void test_fail_cascade(void)
{
    /* 0 -> 1 -> 2 -> 3, 0 -> 4, and 5 -> 6 <- 1: flags on 1, 3 and 6 */
    static const uint32_t e[][2] = {{0, 1}, {1, 2}, {2, 3}, {0, 4}, {5, 6}, {1, 6}};
    static const uint8_t fl[] = {0, 1, 0, 1, 0, 0, 1};
    struct spec s;
    struct arena a;
    shm_test_spec(&s, 7, e, 6, fl);
    shm_test_build(&a, &s, 2, "cascade");
    uint32_t w = join(&a);
    /* take 0 and 5; fail 0 while 5 still runs */
    uint32_t j0 = arena_take(&a, w), j5 = arena_take(&a, w);
    CHECK_EQ(j0 + j5, 5);
    CHECK_EQ(arena_finish(&a, w, 0, ARENA_FAILED, 3), 0);
    CHECK_EQ(arena_job_state(&a, 0), ARENA_FAILED);
    CHECK_EQ(arena_job_state(&a, 1), ARENA_CANCELED); /* flag: canceled at once */
    CHECK_EQ(arena_job_state(&a, 2), ARENA_READY);    /* no flag: released */
    CHECK_EQ(arena_job_state(&a, 4), ARENA_READY);
    /* 6 has a flag and a canceled parent: canceled now, not when 5 ends */
    CHECK_EQ(arena_job_state(&a, 6), ARENA_CANCELED);
    CHECK_EQ(arena_job_state(&a, 5), ARENA_RUNNING);
    CHECK_EQ(arena_finish(&a, w, 5, ARENA_COMPLETED, 0), 0);
    CHECK_EQ(arena_job_state(&a, 6), ARENA_CANCELED);
    CHECK_EQ(shm_test_run(&a, w), 3); /* 2, 4, then 3 */
    CHECK_EQ(arena_job_state(&a, 3), ARENA_COMPLETED);
    CHECK(arena_done(&a));
    CHECK_EQ(count(&a, ARENA_CANCELED), 2);
    CHECK_EQ(count(&a, ARENA_FAILED), 1);
    CHECK_EQ(count(&a, ARENA_COMPLETED), 4);
    struct arena_job_rec r;
    arena_job_read(&a, 0, &r);
    CHECK_EQ(r.exit_code, 3);
    arena_close(&a);
    spec_free(&s);

    /* terminated and canceled outcomes cancel flagged children too */
    static const uint32_t e2[][2] = {{0, 2}, {1, 3}};
    shm_test_spec(&s, 4, e2, 2, NULL);
    shm_test_build(&a, &s, 2, "cascade2");
    w = join(&a);
    CHECK_EQ(arena_take(&a, w) + arena_take(&a, w), 1);
    CHECK_EQ(arena_finish(&a, w, 0, ARENA_TERMINATED, -9), 0);
    CHECK_EQ(arena_finish(&a, w, 1, ARENA_CANCELED, 0), 0);
    CHECK_EQ(arena_job_state(&a, 2), ARENA_CANCELED);
    CHECK_EQ(arena_job_state(&a, 3), ARENA_CANCELED);
    CHECK(arena_done(&a));
    arena_close(&a);
    spec_free(&s);
}

/* A long chain: the cascade is iterative (a recursive one would need a
 * stack frame per job). */
static void test_long_cascade(void)
{
    enum { N = 1000000 };
    struct spec s;
    memset(&s, 0, sizeof s);
    s.name = vl_xstrdup("chain");
    s.njobs = N;
    s.nedges = N - 1;
    s.pool = vl_xmalloc(8);
    memcpy(s.pool, "j\0true", 7);
    s.pool_len = 7;
    s.name_off = vl_xcalloc(N, 8);
    s.cmd_off = vl_xcalloc(N, 8);
    s.kid_off = vl_xcalloc(N + 1, 8);
    s.kids = vl_xcalloc(N, 4);
    s.npar = vl_xcalloc(N, 4);
    s.rr = vl_xcalloc(N, 2);
    s.fh = vl_xcalloc(N, 2);
    s.flags = vl_xcalloc(N, 1);
    for (uint32_t j = 0; j < N; j++) {
        s.cmd_off[j] = 2;
        s.rr[j] = s.fh[j] = SPEC_NONE16;
        s.flags[j] = SPEC_JOB_CANCEL_ON_BLOCK;
        s.kid_off[j] = j;
        if (j + 1 < N) {
            s.kids[j] = j + 1;
            s.npar[j + 1] = 1;
        }
    }
    s.kid_off[N] = N - 1;
    struct arena a;
    shm_test_build(&a, &s, 2, "chain");
    uint32_t w = join(&a);
    CHECK_EQ(arena_take(&a, w), 0);
    CHECK_EQ(arena_finish(&a, w, 0, ARENA_FAILED, 1), 0);
    CHECK(arena_done(&a));
    CHECK_EQ(count(&a, ARENA_CANCELED), N - 1);
    CHECK_EQ(arena_job_state(&a, N - 1), ARENA_CANCELED);
    arena_close(&a);
    spec_free(&s);
}

static void test_retry_and_finish_take(void)
{
    static const uint32_t e[][2] = {{0, 1}, {1, 2}, {0, 3}};
    struct spec s;
    struct arena a;
    shm_test_spec(&s, 4, e, 3, NULL);
    shm_test_build(&a, &s, 2, "retry");
    uint32_t w = join(&a), att = 0;
    CHECK_EQ(arena_take(&a, w), 0);
    CHECK_EQ(arena_retry(&a, w, 0, &att), 0);
    CHECK_EQ(att, 2);
    CHECK_EQ(arena_job_state(&a, 0), ARENA_RUNNING);
    CHECK_EQ(arena_retry(&a, w, 0, &att), 0);
    CHECK_EQ(att, 3);
    CHECK_EQ(arena_retry(&a, w + 1, 0, &att), -ESTALE);
    CHECK_EQ(arena_retry(&a, w, 2, &att), -ESTALE);
    CHECK_EQ(arena_retry(&a, w, 9, &att), -EINVAL);

    /* finish_take keeps the first child it releases, claimed, when
     * nothing older is ready */
    uint32_t next = 99;
    CHECK_EQ(arena_finish_take(&a, w, 0, ARENA_COMPLETED, 0, &next), 0);
    CHECK_EQ(arena_job_attempt(&a, 0), 3);
    CHECK_EQ(next, 1);
    CHECK_EQ(arena_job_state(&a, 1), ARENA_RUNNING);
    CHECK_EQ(arena_job_owner(&a, 1), w);
    CHECK_EQ(arena_job_state(&a, 3), ARENA_READY);
    /* 2 became ready after 3, which waits in w's queue: 3 runs first */
    CHECK_EQ(arena_finish_take(&a, w, 1, ARENA_COMPLETED, 0, &next), 0);
    CHECK_EQ(next, 3);
    CHECK_EQ(arena_job_state(&a, 2), ARENA_READY);
    CHECK_EQ(arena_finish_take(&a, w, 3, ARENA_COMPLETED, 0, &next), 0);
    CHECK_EQ(next, 2); /* no child: falls back to take */
    CHECK_EQ(arena_finish_take(&a, w, 2, ARENA_COMPLETED, 0, &next), 0);
    CHECK_EQ(next, ARENA_NONE);
    CHECK(arena_done(&a));
    CHECK_EQ(count(&a, ARENA_COMPLETED), 4);
    CHECK_EQ(count(&a, ARENA_RUNNING), 0);
    CHECK_EQ(count(&a, ARENA_READY), 0);
    CHECK_EQ(arena_finish_take(&a, w, 2, ARENA_COMPLETED, 0, &next), -ESTALE);
    arena_close(&a);
    spec_free(&s);
}

/* A star: one parent, 3000 children, released into w0's queue, which
 * grows chunk by chunk. w1 has nothing: it steals from w0's head, the
 * rest of a chunk at a time; both take oldest first. */
static void test_star_steal(void)
{
    enum { K = 3000 };
    uint32_t(*e)[2] = vl_xcalloc(K, sizeof *e);
    for (uint32_t i = 0; i < K; i++) {
        e[i][0] = 0;
        e[i][1] = i + 1;
    }
    struct spec s;
    struct arena a;
    shm_test_spec(&s, K + 1, (const uint32_t(*)[2])e, K, NULL);
    free(e);
    shm_test_build(&a, &s, 4, "star");
    uint32_t w0 = join(&a), w1 = join(&a);
    CHECK_EQ(arena_take(&a, w0), 0);
    CHECK_EQ(arena_finish(&a, w0, 0, ARENA_COMPLETED, 0), 0);
    CHECK_EQ(count(&a, ARENA_READY), K);
    /* the queue spans K / ARENA_CHUNK chunks beyond its first */
    CHECK_U64(atomic_load(&a.ctl->chunk_next), 4 * a.nlevels + (K - 1) / ARENA_CHUNK);
    uint8_t *seen = vl_xcalloc(K + 1, 1);
    uint32_t n0 = 0, n1 = 0, j;
    /* w1 steals the head chunk: jobs 1..64 in order */
    for (uint32_t i = 0; i < ARENA_CHUNK; i++) {
        j = arena_take(&a, w1);
        CHECK_EQ(j, i + 1);
        seen[j]++;
        n1++;
        CHECK_EQ(arena_finish(&a, w1, j, ARENA_COMPLETED, 0), 0);
    }
    /* w0 goes on from where w1's span ended */
    CHECK_EQ(arena_take(&a, w0), ARENA_CHUNK + 1);
    seen[ARENA_CHUNK + 1]++;
    n0++;
    CHECK_EQ(arena_finish(&a, w0, ARENA_CHUNK + 1, ARENA_COMPLETED, 0), 0);
    /* then they alternate, w1 stealing spans from w0's head; each takes
     * its own tokens in order, so a job starts no later than the ones
     * two spans after it (a thief splits off a range's younger half) */
    uint32_t hi = ARENA_CHUNK + 1;
    for (;;) {
        uint32_t x = arena_take(&a, w0), y = arena_take(&a, w1);
        if (x == ARENA_NONE && y == ARENA_NONE)
            break;
        uint32_t xy[2] = {x, y}, ws[2] = {w0, w1};
        for (int k = 0; k < 2; k++) {
            if (xy[k] == ARENA_NONE)
                continue;
            CHECK(xy[k] + 2 * ARENA_CHUNK > hi);
            hi = VL_MAX(hi, xy[k]);
            seen[xy[k]]++;
            *(k ? &n1 : &n0) += 1;
            CHECK_EQ(arena_finish(&a, ws[k], xy[k], ARENA_COMPLETED, 0), 0);
        }
    }
    CHECK_EQ(n0 + n1, K);
    CHECK(n1 > K / 4 && n0 > K / 4);
    for (uint32_t i = 1; i <= K; i++)
        CHECK_EQ(seen[i], 1);
    CHECK(arena_done(&a));
    free(seen);
    arena_close(&a);
    spec_free(&s);
}

static void test_roots(void)
{
    enum { N = 5000 };
    struct spec s;
    struct arena a;
    shm_test_spec(&s, N, NULL, 0, NULL);
    shm_test_build(&a, &s, 4, "roots");
    uint32_t w0 = join(&a), w1 = join(&a);
    uint8_t *seen = vl_xcalloc(N, 1);
    /* w0 gets half the roots; w1 half of the rest */
    uint32_t j = arena_take(&a, w0);
    CHECK_EQ(j, 0);
    seen[j]++;
    uint32_t k = arena_take(&a, w1);
    CHECK_EQ(k, N / 2);
    seen[k]++;
    CHECK_EQ(arena_finish(&a, w0, j, ARENA_COMPLETED, 0), 0);
    CHECK_EQ(arena_finish(&a, w1, k, ARENA_COMPLETED, 0), 0);
    /* w1 leaves: the roots of its range stay there, for w0 to take */
    arena_leave(&a, w1);
    uint32_t n = 2;
    while ((j = arena_take(&a, w0)) != ARENA_NONE) {
        seen[j]++;
        n++;
        CHECK_EQ(arena_finish(&a, w0, j, ARENA_COMPLETED, 0), 0);
    }
    CHECK_EQ(n, N);
    for (uint32_t i = 0; i < N; i++)
        CHECK_EQ(seen[i], 1);
    CHECK(arena_done(&a));
    /* a new joiner inherits the slot and its counters */
    uint32_t w2 = join(&a);
    CHECK_EQ(w2, w1);
    CHECK_EQ(count(&a, ARENA_COMPLETED), N);
    free(seen);
    arena_close(&a);
    spec_free(&s);

    /* splitting: the cursor hands out halves; a slot with nothing left
     * takes the top half of another's range */
    shm_test_spec(&s, 8192, NULL, 0, NULL);
    shm_test_build(&a, &s, 4, "split");
    w0 = join(&a);
    w1 = join(&a);
    CHECK_EQ(arena_take(&a, w0), 0);    /* [0, 4096) */
    CHECK_EQ(arena_take(&a, w1), 4096); /* [4096, 6144) */
    CHECK_EQ(arena_take(&a, w0), 1);
    uint32_t w2b = join(&a);
    CHECK_EQ(arena_take(&a, w2b), 6144); /* [6144, 7168): half of the rest */
    uint32_t w3 = join(&a);
    CHECK_EQ(arena_take(&a, w3), 7168); /* the cursor's last 1024 roots */
    for (int i = 0; i < 1023; i++)
        CHECK_EQ(arena_take(&a, w3), (uint32_t)(7169 + i));
    /* w3 has nothing left: the oldest tokens are all roots (age 0); it
     * takes the top half of another range */
    uint32_t x = arena_take(&a, w3);
    CHECK((x > 1 && x < 4096) || (x > 4096 && x < 6144) || (x > 6144 && x < 7168));
    arena_close(&a);
    spec_free(&s);
}

static void test_dirty(void)
{
    enum { N = 300 };
    struct spec s;
    struct arena a;
    shm_test_spec(&s, N, NULL, 0, NULL);
    shm_test_build(&a, &s, 2, "dirty");
    uint32_t w = join(&a), out[N + 64];
    uint64_t cur = 0;
    CHECK_EQ(arena_dirty_collect(&a, &cur, out, VL_ARRAY_LEN(out)), 0);
    CHECK_U64(cur, a.ndirty);
    uint32_t j = arena_take(&a, w);
    arena_job_set_pid(&a, j, 4242);
    arena_job_set_start(&a, j, 11);
    arena_job_set_end(&a, j, 22);
    arena_job_set_log(&a, j, 33);
    CHECK_EQ(arena_finish(&a, w, j, ARENA_COMPLETED, 0), 0);
    uint32_t k = arena_take(&a, w); /* left running */
    cur = 0;
    size_t n = arena_dirty_collect(&a, &cur, out, VL_ARRAY_LEN(out));
    CHECK_EQ(n, 2);
    CHECK_EQ(out[0], j);
    CHECK_EQ(out[1], k);
    cur = 0;
    CHECK_EQ(arena_dirty_collect(&a, &cur, out, VL_ARRAY_LEN(out)), 0);
    struct arena_job_rec r;
    arena_job_read(&a, j, &r);
    CHECK_EQ(r.pid, 4242);
    CHECK_U64(r.start_ns, 11);
    CHECK_U64(r.end_ns, 22);
    CHECK_U64(r.log_ref, 33);
    CHECK_EQ(arena_job_pid(&a, j), 4242);
    uint32_t first = j;
    /* many changes, small buffer: collected in several calls, none lost */
    uint32_t done = 0;
    CHECK_EQ(arena_finish(&a, w, k, ARENA_COMPLETED, 0), 0);
    while ((j = arena_take(&a, w)) != ARENA_NONE) {
        arena_finish(&a, w, j, ARENA_COMPLETED, 0);
        done++;
    }
    CHECK_EQ(done, N - 2);
    uint8_t *seen = vl_xcalloc(N, 1);
    size_t total = 0;
    cur = 0;
    while (cur < a.ndirty) {
        n = arena_dirty_collect(&a, &cur, out, 64);
        for (size_t i = 0; i < n; i++)
            seen[out[i]]++;
        total += n;
    }
    CHECK_EQ(total, N - 1); /* k and the N - 2 others */
    CHECK_EQ(seen[k], 1);
    CHECK_EQ(seen[first], 0);
    free(seen);
    arena_close(&a);
    spec_free(&s);
}

static void test_sleep_wake(void)
{
    struct spec s;
    struct arena a;
    shm_test_spec(&s, 1, NULL, 0, NULL);
    shm_test_build(&a, &s, 2, "sleep");
    uint32_t w = join(&a);
    uint32_t v = arena_sleep_prepare(&a, w);
    CHECK_EQ(atomic_load(&a.ctl->sleepers), 1);
    CHECK_EQ(arena_sleep_wait(&a, w, v, 1000000), -ETIMEDOUT);
    arena_wake(&a);
    CHECK(*arena_futex_word(&a) != v);
    CHECK_EQ(arena_sleep_wait(&a, w, v, -1), 0); /* changed: returns at once */
    arena_sleep_done(&a, w);
    arena_sleep_done(&a, w); /* twice is harmless */
    CHECK_EQ(atomic_load(&a.ctl->sleepers), 0);
    CHECK(!arena_quiesce_point(&a, w));
    CHECK_STR(arena_state_name(ARENA_TERMINATED), "terminated");
    CHECK_STR(arena_state_name((enum arena_state)42), "invalid");
    arena_close(&a);
    spec_free(&s);
}

int main(void)
{
    test_diamond();
    test_fail_cascade();
    test_long_cascade();
    test_retry_and_finish_take();
    test_star_steal();
    test_roots();
    test_dirty();
    test_sleep_wake();
    return check_done();
}

/*
 * test_arena_cancel.c - a user cancel (volley cancel DIR JOB): the job and
 * all its dependents, whatever their flags; blocked and ready ones at
 * once, running ones by the request bit their worker sees; and restore
 * from saved job records (arena_restore).
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

static uint32_t join(struct arena *a, enum arena_role role)
{
    uint32_t w = ARENA_NONE;
    struct vl_err err = {0};
    CHECK_EQ(arena_join(a, role, &w, &err), 0);
    return w;
}

static void test_cancel_running(void)
{
    /* 0 -> 1 -> 2, 0 -> 3, 4 -> 2, 5 alone; no flags anywhere */
    static const uint32_t e[][2] = {{0, 1}, {1, 2}, {0, 3}, {4, 2}};
    static const uint8_t fl[6] = {0};
    struct spec s;
    struct arena a;
    shm_test_spec(&s, 6, e, 4, fl);
    shm_test_build(&a, &s, 4, "ucancel");
    uint32_t w = join(&a, ARENA_ROLE_WORKER), c = join(&a, ARENA_ROLE_CLIENT);
    CHECK_EQ(arena_take(&a, w), 0);
    uint32_t seq = atomic_load(&a.ctl->cancel_seq), word = *arena_futex_word(&a);
    struct arena_cancel_stats st;
    struct vl_err err = {0};
    CHECK_EQ(arena_cancel(&a, c, 0, &st, &err), 0);
    CHECK_EQ(st.marked, 4);
    CHECK_EQ(st.canceled, 3);
    CHECK_EQ(st.running, 1);
    CHECK(atomic_load(&a.ctl->cancel_seq) != seq);
    CHECK(*arena_futex_word(&a) != word);
    CHECK_EQ(arena_job_state(&a, 0), ARENA_RUNNING);
    CHECK(arena_job_cancel_requested(&a, 0));
    CHECK_EQ(arena_job_state(&a, 1), ARENA_CANCELED);
    CHECK_EQ(arena_job_state(&a, 2), ARENA_CANCELED); /* at once, though 4 has not run */
    CHECK_EQ(arena_job_state(&a, 3), ARENA_CANCELED);
    CHECK_EQ(arena_job_state(&a, 4), ARENA_READY);
    CHECK(!arena_job_cancel_requested(&a, 4));
    uint32_t att;
    CHECK_EQ(arena_retry(&a, w, 0, &att), -ECANCELED);
    CHECK_EQ(arena_finish(&a, w, 0, ARENA_CANCELED, -15), 0);
    CHECK_EQ(shm_test_run(&a, w), 2); /* 4 and 5 */
    CHECK_EQ(arena_job_state(&a, 2), ARENA_CANCELED);
    CHECK(arena_done(&a));
    CHECK_EQ(count(&a, ARENA_CANCELED), 4);
    CHECK_EQ(count(&a, ARENA_COMPLETED), 2);

    /* again: idempotent */
    CHECK_EQ(arena_cancel(&a, c, 0, &st, &err), 0);
    CHECK_EQ(st.marked, 0);
    CHECK_EQ(st.canceled, 0);
    CHECK_EQ(arena_cancel(&a, c, 6, &st, &err), -EINVAL);
    CHECK_HAS(err.msg, "job 6 is not in arena");
    arena_close(&a);
    spec_free(&s);
}

static void test_cancel_finished_and_ready(void)
{
    /* 0 -> 1 -> 2 -> 3: complete 0 (1 ready), then cancel 0 */
    static const uint32_t e[][2] = {{0, 1}, {1, 2}, {2, 3}};
    struct spec s;
    struct arena a;
    shm_test_spec(&s, 4, e, 3, NULL);
    shm_test_build(&a, &s, 4, "ucancel2");
    uint32_t w = join(&a, ARENA_ROLE_WORKER);
    CHECK_EQ(arena_take(&a, w), 0);
    CHECK_EQ(arena_finish(&a, w, 0, ARENA_COMPLETED, 0), 0);
    CHECK_EQ(arena_job_state(&a, 1), ARENA_READY);
    struct arena_cancel_stats st;
    CHECK_EQ(arena_cancel(&a, w, 0, &st, NULL), 0);
    CHECK_EQ(arena_job_state(&a, 0), ARENA_COMPLETED); /* finished stays finished */
    CHECK_EQ(arena_job_state(&a, 1), ARENA_CANCELED);  /* ready: at once */
    CHECK_EQ(arena_job_state(&a, 3), ARENA_CANCELED);
    CHECK_EQ(st.canceled, 3);
    /* the token of 1 is still on the deque: taking discards it */
    CHECK_EQ(arena_take(&a, w), ARENA_NONE);
    CHECK(arena_done(&a));
    CHECK_EQ(count(&a, ARENA_READY), 0);
    arena_close(&a);
    spec_free(&s);

    /* a ready job whose request bit is set (between the marking and the
     * canceling of a concurrent cancel) is canceled by take, not run */
    static const uint32_t e2[][2] = {{0, 1}};
    static const uint8_t fl[2] = {0, 0};
    shm_test_spec(&s, 2, e2, 1, fl);
    shm_test_build(&a, &s, 2, "ucancel3");
    w = join(&a, ARENA_ROLE_WORKER);
    atomic_fetch_or(&a.state[0], ARENA_W_CANCEL_REQ);
    atomic_fetch_or(&a.state[1], ARENA_W_CANCEL_REQ);
    CHECK_EQ(arena_take(&a, w), ARENA_NONE);
    CHECK_EQ(arena_job_state(&a, 0), ARENA_CANCELED);
    CHECK_EQ(arena_job_state(&a, 1), ARENA_CANCELED); /* requested: canceled, not released */
    CHECK(arena_done(&a));
    arena_close(&a);
    spec_free(&s);
}

static void test_cancel_rdonly(void)
{
    struct spec s;
    struct arena a, r;
    shm_test_spec(&s, 2, NULL, 0, NULL);
    const char *path = shm_test_build(&a, &s, 2, "ucancel4");
    struct vl_err err = {0};
    CHECK_EQ(arena_attach(&r, path, ARENA_RDONLY, &err), 0);
    CHECK_EQ(arena_cancel(&r, 0, 0, NULL, &err), -EROFS);
    CHECK_HAS(err.msg, "read-only");
    uint32_t w;
    CHECK_EQ(arena_join(&r, ARENA_ROLE_CLIENT, &w, &err), -EROFS);
    CHECK_EQ(arena_recover(&r, ARENA_NONE, 10, NULL, &err), -EROFS);
    arena_close(&r);
    arena_close(&a);
    spec_free(&s);
}

static void test_restore(void)
{
    /* 0 -> 1 -> 2 -> 3, 0 -> 4, 5 -> 6 -> 7, 8 -> 9 -> 10 (no flag on 9) */
    static const uint32_t e[][2] = {{0, 1}, {1, 2}, {2, 3},  {0, 4}, {5, 6},
                                    {6, 7}, {8, 9}, {9, 10}, {2, 11}};
    uint8_t fl[12];
    for (int i = 0; i < 12; i++)
        fl[i] = i == 9 ? 0 : SPEC_JOB_CANCEL_ON_BLOCK;
    struct spec s;
    shm_test_spec(&s, 12, e, 9, fl);
    struct arena_job_rec r[12];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 12; i++) {
        r[i].state = ARENA_BLOCKED;
        r[i].attempt = 1;
    }
    r[0] = (struct arena_job_rec){.state = ARENA_COMPLETED,
                                  .attempt = 2,
                                  .exit_code = 0,
                                  .start_ns = 5,
                                  .end_ns = 6,
                                  .log_ref = 77};
    r[1].state = ARENA_RUNNING; /* was in flight: ready, attempt 2, one more cut short */
    r[1].lost = 4;
    r[1].exit_code = 99; /* stale: an unfinished job's code is 0 */
    r[5].state = ARENA_FAILED;
    r[5].exit_code = 4;
    r[8].state = ARENA_TERMINATED;
    r[11].flags = ARENA_REC_CANCEL_REQ; /* canceled by a user, not yet applied */
    const char *path = shm_test_path(NULL, "restore");
    struct arena a;
    struct vl_err err = {0};
    CHECK_EQ(arena_restore(&a, path, &s, NULL, r, &err), 0);
    CHECK_EQ(arena_job_state(&a, 0), ARENA_COMPLETED);
    CHECK_EQ(arena_job_attempt(&a, 0), 2);
    CHECK_EQ(arena_job_state(&a, 1), ARENA_READY);
    CHECK_EQ(arena_job_attempt(&a, 1), 2);
    CHECK_EQ(arena_job_lost(&a, 1), 5);
    CHECK_EQ(arena_job_lost(&a, 0), 0);
    CHECK_EQ(arena_job_state(&a, 2), ARENA_BLOCKED);
    CHECK_EQ(atomic_load(&a.indeg[2]), 1);
    CHECK_EQ(arena_job_state(&a, 4), ARENA_READY);    /* its parent completed */
    CHECK_EQ(arena_job_state(&a, 6), ARENA_CANCELED); /* flag, parent failed */
    CHECK_EQ(arena_job_state(&a, 7), ARENA_CANCELED); /* and downstream */
    CHECK_EQ(arena_job_state(&a, 9), ARENA_READY);    /* no flag: released */
    CHECK_EQ(arena_job_state(&a, 10), ARENA_BLOCKED);
    CHECK_EQ(arena_job_state(&a, 11), ARENA_CANCELED);
    struct arena_job_rec back;
    arena_job_read(&a, 0, &back);
    CHECK_EQ(back.log_ref, 77);
    CHECK_EQ(back.end_ns, 6);
    arena_job_read(&a, 1, &back);
    CHECK_EQ(back.exit_code, 0);
    arena_job_read(&a, 5, &back);
    CHECK_EQ(back.exit_code, 4);
    CHECK_EQ(count(&a, ARENA_READY), 3);
    CHECK_EQ(count(&a, ARENA_CANCELED), 3);
    /* persist sees what the restore changed */
    uint32_t out[128];
    uint64_t cur = 0;
    size_t n = arena_dirty_collect(&a, &cur, out, 128);
    CHECK_EQ(n, 6); /* 1, 4, 6, 7, 9, 11 */
    /* run the rest: 1, 2, 3, 4, 9, 10 complete */
    uint32_t w = join(&a, ARENA_ROLE_WORKER);
    CHECK_EQ(shm_test_run(&a, w), 6);
    CHECK(arena_done(&a));
    CHECK_EQ(arena_job_state(&a, 3), ARENA_COMPLETED);
    CHECK_EQ(arena_job_state(&a, 10), ARENA_COMPLETED);
    CHECK_EQ(count(&a, ARENA_COMPLETED), 7);
    arena_close(&a);

    /* an inconsistent checkpoint: a child recorded running while its parent
     * was still recorded running: the child waits for the parent again */
    for (int i = 0; i < 12; i++)
        r[i] = (struct arena_job_rec){.state = ARENA_COMPLETED, .attempt = 1};
    r[0].state = ARENA_RUNNING;
    r[1].state = ARENA_RUNNING;
    r[2].state = ARENA_BLOCKED;
    path = shm_test_path(NULL, "restore2");
    CHECK_EQ(arena_restore(&a, path, &s, NULL, r, &err), 0);
    CHECK_EQ(arena_job_state(&a, 0), ARENA_READY);
    CHECK_EQ(arena_job_state(&a, 1), ARENA_BLOCKED);
    CHECK_EQ(arena_job_attempt(&a, 1), 2);
    w = join(&a, ARENA_ROLE_WORKER);
    CHECK_EQ(shm_test_run(&a, w), 3);
    CHECK(arena_done(&a));
    arena_close(&a);

    /* a record that is not a state */
    r[3].state = 9;
    path = shm_test_path(NULL, "restore3");
    CHECK_EQ(arena_restore(&a, path, &s, NULL, r, &err), VL_ECORRUPT);
    CHECK_HAS(err.msg, "saved job 'j3' has state 9, which is not a job state");
    CHECK(access(path, F_OK) != 0); /* nothing left behind */
    spec_free(&s);
}

int main(void)
{
    test_cancel_running();
    test_cancel_finished_and_ready();
    test_cancel_rdonly();
    test_restore();
    return check_done();
}

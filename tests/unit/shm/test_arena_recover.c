/*
 * test_arena_recover.c - recovery of a dead participant, with the process
 * killed (SIGKILL) at chosen instructions through the fault points of
 * volley_shm_fi: holding claimed jobs, in the middle of releasing a job's
 * children, in the middle of a cancellation cascade, with a queue chunk
 * taken but not linked, with stolen tokens not yet recorded, between a
 * user cancel's marking and canceling. After arena_recover every job must run to its one correct
 * end. Also: a live worker parks and resumes; a participant that never
 * reaches a safe point makes recover give up and change nothing; a
 * recovery whose requester died is taken over.
 */
#include "shm/arena.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "check.h"
#include "shm/arena_int.h"
#include "shm_test.h"

static int fault_point, fault_after;

static int kill_at(int point)
{
    if (point == fault_point && --fault_after == 0)
        raise(SIGKILL);
    return 0;
}

static uint64_t count(const struct arena *a, enum arena_state s)
{
    uint64_t c[ARENA_NSTATES];
    arena_counts(a, c);
    return c[s];
}

/* Forks a child that joins, arms the fault, runs fn, and must die of it. */
static void die_in_child(struct arena *a, int point, int after,
                         void (*fn)(struct arena *a, uint32_t w))
{
    pid_t pid = fork();
    if (pid == 0) {
        uint32_t w;
        if (arena_join(a, ARENA_ROLE_WORKER, &w, NULL) != 0)
            _exit(3);
        fault_point = point;
        fault_after = after;
        arena__fault_hook = kill_at;
        fn(a, w);
        _exit(0); /* the fault did not fire */
    }
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void recover(struct arena *a, struct arena_recover_stats *st)
{
    struct vl_err err = {0};
    CHECK_EQ(arena_recover(a, ARENA_NONE, 5000, st, &err), 0);
    if (err.code)
        fprintf(stderr, "recover: %s\n", err.msg);
    CHECK_EQ(atomic_load(&a->ctl->qs_word) & 1, 0);
}

/* Runs everything left as a fresh worker; every job must end in `want`
 * (or canceled where cancel[j]); returns the number run. */
static uint32_t finish_all(struct arena *a)
{
    uint32_t w;
    CHECK_EQ(arena_join(a, ARENA_ROLE_WORKER, &w, NULL), 0);
    uint32_t n = shm_test_run(a, w);
    CHECK(arena_done(a));
    arena_leave(a, w);
    return n;
}

static void take_two(struct arena *a, uint32_t w)
{
    for (int i = 0; i < 2; i++) {
        uint32_t j = arena_take(a, w);
        if (j != ARENA_NONE)
            arena_job_set_pid(a, j, 4000000 + (int32_t)j); /* as at its clone */
    }
    arena_take(a, w); /* the fault fires on the third claim */
}

static void test_dead_holding_jobs(void)
{
    struct spec s;
    struct arena a;
    shm_test_spec(&s, 10, NULL, 0, NULL);
    shm_test_build(&a, &s, 4, "rec1");
    die_in_child(&a, ARENA_FP_CLAIMED, 3, take_two);
    CHECK_EQ(count(&a, ARENA_RUNNING), 2); /* the third claim's counters never moved */
    struct arena_recover_stats st;
    recover(&a, &st);
    CHECK_EQ(st.dead, 1);
    CHECK_EQ(st.requeued, 3);
    CHECK_EQ(st.ready, 10);
    CHECK_EQ(count(&a, ARENA_RUNNING), 0);
    CHECK_EQ(count(&a, ARENA_READY), 10);
    CHECK_EQ(arena_job_attempt(&a, 0), 2);
    CHECK_EQ(arena_job_lost(&a, 0), 1); /* cut short: not a failure */
    CHECK_EQ(arena_job_attempt(&a, 3), 1);
    CHECK_EQ(arena_job_lost(&a, 3), 0);
    /* their groups were ended by whoever found the worker dead; a pid left
     * behind would be signaled again, maybe reused, once the job is taken
     * and waits for capacity */
    for (uint32_t j = 0; j < 10; j++)
        CHECK_EQ(arena_job_pid(&a, j), 0);
    CHECK_EQ(arena_slot_pid(&a, 0), 0); /* the dead slot is free */
    CHECK_EQ(finish_all(&a), 10);
    CHECK_EQ(count(&a, ARENA_COMPLETED), 10);
    CHECK_U64(atomic_load(&a.ctl->recoveries), 1);
    arena_close(&a);
    spec_free(&s);
}

static void take_finish_first(struct arena *a, uint32_t w)
{
    uint32_t j = arena_take(a, w);
    arena_finish(a, w, j, ARENA_COMPLETED, 0);
}

static void test_dead_mid_release(void)
{
    /* 0 -> 1..1500, and 1500 more jobs each depending on two of those */
    enum { K = 1500 };
    uint32_t(*e)[2] = vl_xcalloc(3 * K, sizeof *e);
    size_t ne = 0;
    for (uint32_t i = 1; i <= K; i++) {
        e[ne][0] = 0;
        e[ne++][1] = i;
    }
    for (uint32_t i = 0; i < K; i++) {
        e[ne][0] = 1 + i;
        e[ne++][1] = K + 1 + i;
        e[ne][0] = 1 + (i * 7 + 3) % K;
        e[ne++][1] = K + 1 + i;
    }
    struct spec s;
    shm_test_spec(&s, 2 * K + 1, (const uint32_t(*)[2])e, ne, NULL);
    free(e);
    for (int at = 1; at <= 1200; at += 397) {
        struct arena a;
        shm_test_build(&a, &s, 4, "rec2");
        /* killed after `at` of the 1500 decrements */
        die_in_child(&a, ARENA_FP_RELEASE_EDGE, at, take_finish_first);
        CHECK_EQ(arena_job_state(&a, 0), ARENA_COMPLETED);
        struct arena_recover_stats st;
        recover(&a, &st);
        CHECK_EQ(st.requeued, 0);
        CHECK_EQ(st.ready, K);
        for (uint32_t i = 1; i <= K; i++)
            CHECK_EQ(atomic_load(&a.indeg[i]), 0);
        CHECK_EQ(finish_all(&a), 2 * K);
        CHECK_EQ(count(&a, ARENA_COMPLETED), 2 * K + 1);
        for (uint32_t i = 0; i <= 2 * K; i++)
            CHECK_EQ(arena_job_attempt(&a, i), 1);
        arena_close(&a);
    }
    /* killed after a child became ready but before its token was pushed */
    struct arena a;
    shm_test_build(&a, &s, 4, "rec2b");
    die_in_child(&a, ARENA_FP_READY, 700, take_finish_first);
    recover(&a, NULL);
    CHECK_EQ(finish_all(&a), 2 * K);
    arena_close(&a);
    spec_free(&s);
}

static void fail_first(struct arena *a, uint32_t w)
{
    uint32_t j = arena_take(a, w);
    arena_finish(a, w, j, ARENA_FAILED, 1);
}

static void test_dead_mid_cascade(void)
{
    /* a failing root above a binary tree of flagged jobs, plus an
     * unflagged branch whose subtree must still run */
    enum { N = 2047 };
    uint32_t(*e)[2] = vl_xcalloc(N, sizeof *e);
    size_t ne = 0;
    for (uint32_t i = 1; i < N; i++) {
        e[ne][0] = (i - 1) / 2;
        e[ne++][1] = i;
    }
    uint8_t *fl = vl_xcalloc(N, 1);
    for (uint32_t i = 0; i < N; i++)
        fl[i] = i == 2 ? 0 : SPEC_JOB_CANCEL_ON_BLOCK;
    struct spec s;
    shm_test_spec(&s, N, (const uint32_t(*)[2])e, ne, fl);
    free(e);
    free(fl);
    for (int at = 1; at < 900; at += 299) {
        struct arena a;
        shm_test_build(&a, &s, 4, "rec3");
        die_in_child(&a, ARENA_FP_CANCELED, at, fail_first);
        struct arena_recover_stats st;
        recover(&a, &st);
        CHECK(st.canceled > 0);
        finish_all(&a);
        /* job 2 (no flag) ran; every other descendant of 0 is canceled;
         * 2's subtree ran since 2 completed */
        CHECK_EQ(arena_job_state(&a, 0), ARENA_FAILED);
        CHECK_EQ(arena_job_state(&a, 1), ARENA_CANCELED);
        CHECK_EQ(arena_job_state(&a, 2), ARENA_COMPLETED);
        CHECK_EQ(arena_job_state(&a, 3), ARENA_CANCELED);
        CHECK_EQ(arena_job_state(&a, 5), ARENA_COMPLETED);
        CHECK_EQ(arena_job_state(&a, N - 1), ARENA_COMPLETED); /* under 2 */
        uint64_t c = count(&a, ARENA_CANCELED), d = count(&a, ARENA_COMPLETED);
        CHECK_EQ(c + d + 1, N);
        CHECK_EQ(d, (N - 1) / 2); /* the subtree under 2: 1023 jobs */
        arena_close(&a);
    }
    spec_free(&s);
}

static void finish_star(struct arena *a, uint32_t w)
{
    uint32_t j = arena_take(a, w);
    arena_finish(a, w, j, ARENA_COMPLETED, 0);
}

static void test_dead_chunk_taken(void)
{
    enum { K = 1000 };
    uint32_t(*e)[2] = vl_xcalloc(K, sizeof *e);
    for (uint32_t i = 0; i < K; i++) {
        e[i][0] = 0;
        e[i][1] = i + 1;
    }
    struct spec s;
    shm_test_spec(&s, K + 1, (const uint32_t(*)[2])e, K, NULL);
    free(e);
    struct arena a;
    shm_test_build(&a, &s, 4, "rec4");
    /* the releasing worker fills its queue's first chunk (ARENA_CHUNK
     * children) and dies having taken a fresh chunk, before linking it:
     * the next child is ready with no token, the rest never released */
    die_in_child(&a, ARENA_FP_CHUNK_TAKEN, 1, finish_star);
    uint32_t w;
    CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &w, NULL), 0);
    /* the tokens in the dead slot's queue are taken from there, oldest
     * first; then nothing: no spinning on the missing link */
    uint32_t j, n = 0;
    while ((j = arena_take(&a, w)) != ARENA_NONE) {
        CHECK_EQ(j, n + 1);
        CHECK_EQ(arena_finish(&a, w, j, ARENA_COMPLETED, 0), 0);
        n++;
    }
    CHECK_EQ(n, ARENA_CHUNK);
    CHECK_EQ(arena_job_state(&a, ARENA_CHUNK + 1), ARENA_READY);
    CHECK_EQ(arena_job_state(&a, ARENA_CHUNK + 2), ARENA_BLOCKED);
    CHECK(!arena_done(&a));
    arena_leave(&a, w);
    struct arena_recover_stats st;
    recover(&a, &st);
    CHECK_EQ(st.ready, K - n);
    CHECK_EQ(finish_all(&a), K - n);
    CHECK_EQ(count(&a, ARENA_COMPLETED), K + 1);
    arena_close(&a);
    spec_free(&s);
}

/* Dies having stolen a span of another queue's tokens, before recording
 * it: those tokens are nowhere until the repair. */
static void steal_and_die(struct arena *a, uint32_t w)
{
    (void)arena_take(a, w); /* its own queue is empty: steals, dies */
}

static void test_dead_after_steal(void)
{
    enum { K = 200 };
    uint32_t(*e)[2] = vl_xcalloc(K, sizeof *e);
    for (uint32_t i = 0; i < K; i++) {
        e[i][0] = 0;
        e[i][1] = i + 1;
    }
    struct spec s;
    shm_test_spec(&s, K + 1, (const uint32_t(*)[2])e, K, NULL);
    free(e);
    struct arena a;
    shm_test_build(&a, &s, 4, "rec5");
    uint32_t w;
    CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &w, NULL), 0);
    CHECK_EQ(arena_take(&a, w), 0);
    CHECK_EQ(arena_finish(&a, w, 0, ARENA_COMPLETED, 0), 0); /* K tokens in w's queue */
    die_in_child(&a, ARENA_FP_STOLEN, 1, steal_and_die);
    /* the thief took the head chunk's ARENA_CHUNK tokens (more follow) */
    uint32_t n = shm_test_run(&a, w);
    CHECK_EQ(n, K - ARENA_CHUNK);
    CHECK(!arena_done(&a));
    arena_leave(&a, w);
    struct arena_recover_stats st;
    recover(&a, &st);
    CHECK_EQ(st.dead, 1);
    CHECK_EQ(st.ready, ARENA_CHUNK);
    CHECK_EQ(finish_all(&a), ARENA_CHUNK);
    CHECK(arena_done(&a));
    arena_close(&a);
    spec_free(&s);
}

static void cancel_root(struct arena *a, uint32_t w)
{
    arena_cancel(a, w, 0, NULL, NULL);
}

static void test_dead_mid_user_cancel(void)
{
    static const uint32_t e[][2] = {{0, 1}, {1, 2}, {0, 3}, {4, 5}};
    static const uint8_t fl[6] = {0};
    struct spec s;
    struct arena a;
    shm_test_spec(&s, 6, e, 4, fl);
    shm_test_build(&a, &s, 4, "rec5");
    die_in_child(&a, ARENA_FP_CANCEL_MARKED, 1, cancel_root);
    CHECK(arena_job_cancel_requested(&a, 2));
    CHECK_EQ(arena_job_state(&a, 2), ARENA_BLOCKED);
    recover(&a, NULL);
    for (uint32_t j = 0; j < 4; j++)
        CHECK_EQ(arena_job_state(&a, j), ARENA_CANCELED);
    CHECK_EQ(finish_all(&a), 2);
    CHECK_EQ(arena_job_state(&a, 5), ARENA_COMPLETED);
    arena_close(&a);
    spec_free(&s);
}

/* A live worker that sleeps when idle parks for the repair and resumes. */
static void test_live_worker_parks(void)
{
    enum { N = 20000 };
    struct spec s;
    struct arena a;
    shm_test_spec(&s, N, NULL, 0, NULL);
    shm_test_build(&a, &s, 4, "rec6");
    uint32_t hold;
    CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &hold, NULL), 0);
    uint32_t held = arena_take(&a, hold);            /* so the run cannot end without us */
    die_in_child(&a, ARENA_FP_CLAIMED, 3, take_two); /* dies holding 3 */
    pid_t live = fork();
    if (live == 0) {
        shm_test_child(); /* it sleeps until the run is done */
        uint32_t w;
        if (arena_join(&a, ARENA_ROLE_WORKER, &w, NULL) != 0)
            _exit(3);
        for (;;) {
            uint32_t j = arena_take(&a, w);
            if (j != ARENA_NONE) {
                arena_finish(&a, w, j, ARENA_COMPLETED, 0);
                continue;
            }
            if (arena_done(&a))
                break;
            uint32_t v = arena_sleep_prepare(&a, w);
            j = arena_take(&a, w);
            if (j == ARENA_NONE && !arena_done(&a))
                arena_sleep_wait(&a, w, v, -1);
            arena_sleep_done(&a, w);
            if (j != ARENA_NONE)
                arena_finish(&a, w, j, ARENA_COMPLETED, 0);
        }
        arena_leave(&a, w);
        _exit(0);
    }
    for (bool joined = false; !joined; usleep(100)) /* let it join and work first */
        for (uint32_t i = 0; i < a.nslots; i++)
            joined |= arena_slot_pid(&a, i) == live;
    struct arena_recover_stats st;
    struct vl_err err = {0};
    /* the live worker parks within microseconds; 10 s is a hang */
    CHECK_EQ(arena_recover(&a, hold, 10000, &st, &err), 0);
    CHECK_EQ(st.dead, 1);
    CHECK_EQ(st.live, 1);
    CHECK_EQ(arena_job_state(&a, held), ARENA_RUNNING); /* ours: kept */
    CHECK_EQ(arena_finish(&a, hold, held, ARENA_COMPLETED, 0), 0);
    while (!arena_done(&a)) /* the live worker runs the dead one's jobs */
        usleep(1000);
    arena_wake(&a); /* we finished last: tell the sleeper it is over */
    arena_leave(&a, hold);
    int stt;
    waitpid(live, &stt, 0);
    CHECK(WIFEXITED(stt) && WEXITSTATUS(stt) == 0);
    CHECK(arena_done(&a));
    CHECK_EQ(count(&a, ARENA_COMPLETED), N);
    arena_close(&a);
    spec_free(&s);
}

static void test_timeout_and_takeover(void)
{
    struct spec s;
    struct arena a;
    shm_test_spec(&s, 4, NULL, 0, NULL);
    shm_test_build(&a, &s, 4, "rec7");
    pid_t pid = fork();
    if (pid == 0) {
        shm_test_child(); /* stopped until we kill it */
        uint32_t w;
        if (arena_join(&a, ARENA_ROLE_WORKER, &w, NULL) != 0)
            _exit(3);
        arena_take(&a, w);
        raise(SIGSTOP);    /* alive, never at a safe point */
        arena_take(&a, w); /* parks here once continued */
        _exit(0);
    }
    int st;
    waitpid(pid, &st, WUNTRACED);
    struct vl_err err = {0};
    uint64_t before = count(&a, ARENA_RUNNING);
    /* stopped, it can never reach a safe point: the timeout comes on any
     * machine; 100 ms is only how long this waits for it */
    CHECK_EQ(arena_recover(&a, ARENA_NONE, 100, NULL, &err), -ETIMEDOUT);
    CHECK_HAS(err.msg, "1 live participant did not reach a safe point within 100 ms");
    CHECK_EQ(atomic_load(&a.ctl->qs_word) & 1, 0); /* released */
    CHECK_EQ(count(&a, ARENA_RUNNING), before);    /* nothing changed */
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);

    /* a recovery requested by a process that died: the next one takes over */
    atomic_fetch_add(&a.ctl->qs_word, 1);
    atomic_store(&a.ctl->qs_owner, ARENA_IDENT(pid, 1));
    struct arena_recover_stats rs;
    /* no live participant is left to wait for: 1 s is a hang */
    CHECK_EQ(arena_recover(&a, ARENA_NONE, 1000, &rs, &err), 0);
    CHECK_EQ(rs.requeued, 1);
    CHECK_EQ(atomic_load(&a.ctl->qs_word) & 1, 0);
    CHECK_EQ(finish_all(&a), 4);
    arena_close(&a);
    spec_free(&s);
}

/* Joiners come and go while recoveries run: a live joiner is never taken
 * for a dead one. (Its identity was once two words, pid then start time:
 * a recover that read the new pid with the previous owner's start time
 * freed the slot of a live process. Now one CAS claims both; CI saw it once
 * in 11,074 rounds.) The churn goes on until the recoveries have run
 * RECOVERS times while it made JOINERS joiners: counts, not a time, so a
 * slow or loaded machine runs as much of the race as a fast one. */
enum { RECOVERS = 12000, JOINERS = 400 };
static void test_join_during_recover(void)
{
    struct spec s;
    struct arena a;
    shm_test_spec(&s, 16, NULL, 0, NULL);
    shm_test_build(&a, &s, 2, "rec8");
    struct churn_ctl {
        _Atomic uint32_t stop, joiners;
    } *cc = mmap(NULL, sizeof *cc, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(cc != MAP_FAILED);
    if (cc == MAP_FAILED)
        return;
    pid_t churn = fork();
    if (churn == 0) {
        shm_test_child();
        pid_t self = getpid();
        while (!atomic_load(&cc->stop)) {
            pid_t p = fork();
            if (p == 0) {
                /* a joiner parks while a recovery is under way: one that
                 * an interrupted test left unfinished would park forever */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != self)
                    _exit(1);
                uint32_t w;
                if (arena_join(&a, ARENA_ROLE_CLIENT, &w, NULL) != 0)
                    _exit(3);
                sched_yield();
                arena_leave(&a, w);
                _exit(0);
            }
            int st;
            if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                _exit(4);
            atomic_fetch_add(&cc->joiners, 1);
        }
        _exit(0);
    }
    unsigned rounds = 0, bad = 0;
    int cst = 0;
    bool churn_ended = false;
    for (; rounds < RECOVERS || atomic_load(&cc->joiners) < JOINERS; rounds++) {
        if (waitpid(churn, &cst, WNOHANG) == churn) { /* it failed: ends early */
            churn_ended = true;
            break;
        }
        struct arena_recover_stats rs = {0};
        struct vl_err err = {0};
        /* a joiner is at a safe point within microseconds; 5 s is a hang */
        if (arena_recover(&a, ARENA_NONE, 5000, &rs, &err) != 0 || rs.dead != 0) {
            fprintf(stderr, "round %u: dead %u: %s\n", rounds, rs.dead, err.msg);
            bad++;
        }
    }
    atomic_store(&cc->stop, 1);
    if (!churn_ended)
        CHECK_EQ(waitpid(churn, &cst, 0), churn);
    CHECK(WIFEXITED(cst) && WEXITSTATUS(cst) == 0);
    CHECK_EQ(bad, 0);
    fprintf(stderr, "join during recover: %u recoveries, %u joiners\n", rounds,
            (unsigned)atomic_load(&cc->joiners));
    munmap(cc, sizeof *cc);
    for (uint32_t i = 0; i < a.nslots; i++)
        CHECK_EQ(arena_slot_pid(&a, i), 0);
    arena_close(&a);
    spec_free(&s);
}

int main(void)
{
    test_dead_holding_jobs();
    test_dead_mid_release();
    test_dead_mid_cascade();
    test_dead_chunk_taken();
    test_dead_after_steal();
    test_dead_mid_user_cancel();
    test_live_worker_parks();
    test_timeout_and_takeover();
    test_join_during_recover();
    return check_done();
}

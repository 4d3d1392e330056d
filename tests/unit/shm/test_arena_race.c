/*
 * test_arena_race.c - the CAS races, with processes released together:
 * many processes take from the same jobs (each job claimed once); many
 * call finish on the same job (finished once); a user cancel races the
 * takers (each job either ran once or was canceled, never both); many
 * parents finish at once over shared children (each child released once,
 * after all of its parents). Every round is checked. Each segment is
 * unlinked right after its build (the forked children share the mapping),
 * so even a test killed with SIGKILL leaves none in /dev/shm.
 */
#include "shm/arena.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "check.h"
#include "shm_test.h"

enum { PROCS = 6 };

struct shared {
    _Atomic uint32_t go;
    _Atomic uint32_t ready;
    _Atomic uint64_t seq;
    _Atomic uint64_t ok;     /* successful finishes (finish race) */
    _Atomic uint32_t runs[]; /* per job: times run */
};

static struct shared *sh;
static _Atomic uint64_t *stamp;
static uint64_t job_ns = 5000; /* how long a cancel-aware job runs (busy) */

static void start_line(void)
{
    atomic_fetch_add(&sh->ready, 1);
    while (!atomic_load(&sh->go))
        syscall(SYS_futex, (uint32_t *)&sh->go, FUTEX_WAIT, 0, NULL, NULL, 0);
}

static void go(int n)
{
    while (atomic_load(&sh->ready) < (uint32_t)n)
        usleep(50);
    atomic_store(&sh->go, 1);
    syscall(SYS_futex, (uint32_t *)&sh->go, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static void reset(uint32_t njobs)
{
    sh->go = 0;
    sh->ready = 0;
    sh->seq = 0;
    sh->ok = 0;
    for (uint32_t j = 0; j < njobs; j++) {
        sh->runs[j] = 0;
        stamp[j] = 0;
    }
}

static void wait_all(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

/* A worker: takes and finishes until every job is finished. */
static void work(struct arena *a, bool cancel_aware)
{
    shm_test_child();
    uint32_t w;
    if (arena_join(a, ARENA_ROLE_WORKER, &w, NULL) != 0)
        _exit(3);
    start_line();
    for (;;) {
        uint32_t j = arena_take(a, w);
        if (j == ARENA_NONE) {
            if (arena_done(a))
                break;
            uint32_t v = arena_sleep_prepare(a, w);
            j = arena_take(a, w);
            if (j == ARENA_NONE && !arena_done(a))
                arena_sleep_wait(a, w, v, -1);
            arena_sleep_done(a, w);
            if (j == ARENA_NONE)
                continue;
        }
        atomic_fetch_add(&sh->runs[j], 1);
        atomic_store(&stamp[j], atomic_fetch_add(&sh->seq, 1) + 1);
        if (cancel_aware) /* a job that takes a while, so the cancels land mid-run */
            for (uint64_t t = vl_now_ns(); vl_now_ns() - t < job_ns;)
                ;
        enum arena_state out = ARENA_COMPLETED;
        if (cancel_aware && arena_job_cancel_requested(a, j))
            out = ARENA_CANCELED;
        if (arena_finish(a, w, j, out, 0) != 0)
            _exit(4);
    }
    arena_wake(a);
    arena_leave(a, w);
    _exit(0);
}

static void test_claim_race(void)
{
    enum { N = 3000 };
    struct spec s;
    shm_test_spec(&s, N, NULL, 0, NULL);
    for (int round = 0; round < 10; round++) {
        struct arena a;
        unlink(shm_test_build(&a, &s, PROCS + 1, "claim"));
        reset(N);
        pid_t p[PROCS];
        for (int i = 0; i < PROCS; i++)
            if ((p[i] = fork()) == 0)
                work(&a, false);
        go(PROCS);
        wait_all(p, PROCS);
        for (uint32_t j = 0; j < N; j++)
            CHECK_EQ(sh->runs[j], 1);
        CHECK(arena_done(&a));
        uint64_t c[ARENA_NSTATES];
        arena_counts(&a, c);
        CHECK_EQ(c[ARENA_COMPLETED], N);
        arena_close(&a);
    }
    spec_free(&s);
}

static void test_finish_race(void)
{
    struct spec s;
    shm_test_spec(&s, 1, NULL, 0, NULL);
    for (int round = 0; round < 20; round++) {
        struct arena a;
        unlink(shm_test_build(&a, &s, 2, "finish"));
        reset(1);
        uint32_t w;
        CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &w, NULL), 0);
        CHECK_EQ(arena_take(&a, w), 0);
        pid_t p[PROCS];
        for (int i = 0; i < PROCS; i++)
            if ((p[i] = fork()) == 0) {
                shm_test_child();
                start_line();
                int rc = arena_finish(&a, w, 0, i % 2 ? ARENA_COMPLETED : ARENA_FAILED, i);
                if (rc == 0)
                    atomic_fetch_add(&sh->ok, 1);
                _exit(rc == 0 || rc == -ESTALE ? 0 : 1);
            }
        go(PROCS);
        wait_all(p, PROCS);
        CHECK_EQ(sh->ok, 1);
        uint64_t c[ARENA_NSTATES];
        arena_counts(&a, c);
        CHECK_EQ(c[ARENA_COMPLETED] + c[ARENA_FAILED], 1);
        CHECK_EQ(c[ARENA_RUNNING], 0);
        arena_close(&a);
    }
    spec_free(&s);
}

static void test_cancel_race(void)
{
    /* 300 chains of 10: the canceller cancels every third chain's head */
    enum { CH = 300, LEN = 10, N = CH * LEN };
    uint32_t(*e)[2] = vl_xcalloc(N, sizeof *e);
    size_t ne = 0;
    for (uint32_t c = 0; c < CH; c++)
        for (uint32_t i = 0; i + 1 < LEN; i++) {
            e[ne][0] = c * LEN + i;
            e[ne++][1] = c * LEN + i + 1;
        }
    struct spec s;
    shm_test_spec(&s, N, (const uint32_t(*)[2])e, ne, NULL);
    free(e);
    uint64_t canceled_all = 0;
    /* Five rounds, and more until a cancel has reached a job before it
     * ran (the race was run, not only the checks): a loaded machine may
     * let the workers finish everything before the canceller runs in a
     * round. From the sixth round each job runs twice as long as in the
     * round before (up to 5 ms), so on any machine the cancels land; 40
     * rounds where none does is a defect. */
    job_ns = 5000;
    int round;
    for (round = 0; round < 5 || (canceled_all == 0 && round < 40); round++) {
        if (round >= 5 && job_ns < 5000000)
            job_ns *= 2;
        struct arena a;
        unlink(shm_test_build(&a, &s, PROCS + 2, "cancel"));
        reset(N);
        pid_t p[PROCS + 1];
        for (int i = 0; i < PROCS; i++)
            if ((p[i] = fork()) == 0)
                work(&a, true);
        if ((p[PROCS] = fork()) == 0) {
            shm_test_child();
            uint32_t w;
            if (arena_join(&a, ARENA_ROLE_CLIENT, &w, NULL) != 0)
                _exit(3);
            start_line();
            for (uint32_t c = 0; c < CH; c += 3)
                if (arena_cancel(&a, w, c * LEN, NULL, NULL) != 0)
                    _exit(5);
            arena_leave(&a, w);
            _exit(0);
        }
        go(PROCS + 1);
        wait_all(p, PROCS + 1);
        CHECK(arena_done(&a));
        uint64_t canceled = 0;
        for (uint32_t j = 0; j < N; j++) {
            enum arena_state st = arena_job_state(&a, j);
            CHECK(sh->runs[j] <= 1);
            if (st == ARENA_COMPLETED)
                CHECK_EQ(sh->runs[j], 1);
            else if (st == ARENA_CANCELED && sh->runs[j] == 0)
                canceled++;
            else
                CHECK(st == ARENA_CANCELED && sh->runs[j] == 1); /* stopped by its worker */
            /* a chain is canceled from some point on: after a canceled job
             * nothing of its chain ran */
            if (j % LEN && arena_job_state(&a, j - 1) == ARENA_CANCELED)
                CHECK_EQ(arena_job_state(&a, j), ARENA_CANCELED);
            if ((j / LEN) % 3)
                CHECK_EQ(st, ARENA_COMPLETED);
        }
        uint64_t c[ARENA_NSTATES];
        arena_counts(&a, c);
        CHECK_EQ(c[ARENA_COMPLETED] + c[ARENA_CANCELED], N);
        canceled_all += canceled;
        arena_close(&a);
    }
    if (canceled_all == 0)
        fprintf(stderr, "cancel race: no cancel reached a job before it ran in %d rounds\n", round);
    CHECK(canceled_all > 0);
    spec_free(&s);
}

static void test_release_race(void)
{
    /* layers of 64 jobs, each job of a layer a child of every job of the
     * layer before: 64 parents finish at once over the same children */
    enum { W = 64, L = 12, N = W * L };
    uint32_t(*e)[2] = vl_xcalloc((size_t)W * W * L, sizeof *e);
    size_t ne = 0;
    for (uint32_t l = 0; l + 1 < L; l++)
        for (uint32_t i = 0; i < W; i++)
            for (uint32_t k = 0; k < W; k++) {
                e[ne][0] = l * W + i;
                e[ne++][1] = (l + 1) * W + k;
            }
    struct spec s;
    shm_test_spec(&s, N, (const uint32_t(*)[2])e, ne, NULL);
    free(e);
    for (int round = 0; round < 5; round++) {
        struct arena a;
        unlink(shm_test_build(&a, &s, PROCS + 1, "release"));
        reset(N);
        pid_t p[PROCS];
        for (int i = 0; i < PROCS; i++)
            if ((p[i] = fork()) == 0)
                work(&a, false);
        go(PROCS);
        wait_all(p, PROCS);
        for (uint32_t j = 0; j < N; j++) {
            CHECK_EQ(sh->runs[j], 1);
            uint64_t n;
            const uint32_t *k = arena_job_kids(&a, j, &n);
            for (uint64_t i = 0; i < n; i++)
                CHECK(stamp[k[i]] > stamp[j]);
        }
        arena_close(&a);
    }
    spec_free(&s);
}

int main(void)
{
    enum { MAXJ = 4096 };
    sh = mmap(NULL, sizeof *sh + MAXJ * 4, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
              0);
    stamp = mmap(NULL, MAXJ * 8, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    test_claim_race();
    test_finish_race();
    test_cancel_race();
    test_release_race();
    return check_done();
}

/*
 * stress_arena.c - many worker processes on one arena, every run checked.
 *
 *   stress_arena run  WORKERS JOBS REPS   random DAGs, no faults
 *   stress_arena kill WORKERS JOBS REPS   the same, and in each run one or
 *        more workers (about one in 6 of many) die of SIGKILL: from
 *        outside, together, at a random point of progress, or
 *        from inside at the Nth passage of a random fault point (in the
 *        middle of releasing children, of a cancellation cascade, between
 *        taking a queue chunk and linking it, after a steal before the
 *        span is recorded, after a pop before the claim, ...). The parent acts as the supervisor:
 * it reaps the dead, calls arena_recover, starts a replacement, and goes on.
 *
 * The DAG is the bench's random shape (0-4 children within 4096 ids). One
 * job in 1000 fails; two jobs in three have SPEC_JOB_CANCEL_ON_BLOCK, so
 * cascades run too. Because ids are topological, the one correct final
 * state of every job is computed beforehand. A run passes when: every job
 * ends in that state; each job that ran has exactly one record for its
 * final attempt (a record is (attempt, stamp) written with an exchange, so
 * a second run of the same attempt is caught); no canceled job ever ran;
 * every child's stamp exceeds its parents' (stamps come from one shared
 * counter); the counts agree; extra attempts only come from kills.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/lib/bench_shapes.h"
#include "check.h"
#include "shm/arena.h"
#include "shm/arena_int.h"

#define ATT_SHIFT 40

struct shared {
    _Atomic uint32_t go;
    _Atomic uint32_t joined;
    _Atomic uint64_t seq;
    _Atomic uint64_t dups;
    _Atomic uint64_t errors;
};

static struct shared *sh;
static _Atomic uint64_t *rec; /* per job: attempt << 40 | stamp */
static char seg_path[256];

static int fault_point, fault_after;

static int kill_at(int point)
{
    if (point == fault_point && --fault_after == 0)
        raise(SIGKILL);
    return 0;
}

static void cleanup(void)
{
    if (seg_path[0])
        unlink(seg_path);
}

static void on_signal(int sig)
{
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static bool fails(uint32_t j)
{
    return j % 1000 == 7;
}

static void worker(struct arena *a, int point, int after)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    uint32_t w;
    struct vl_err err = {0};
    if (arena_join(a, ARENA_ROLE_WORKER, &w, &err) != 0) {
        fprintf(stderr, "worker: %s\n", err.msg);
        _exit(3);
    }
    atomic_fetch_add(&sh->joined, 1);
    while (!atomic_load(&sh->go))
        syscall(SYS_futex, (uint32_t *)&sh->go, FUTEX_WAIT, 0, NULL, NULL, 0);
    if (point) {
        fault_point = point;
        fault_after = after;
        arena__fault_hook = kill_at;
    }
    uint32_t j = arena_take(a, w);
    for (;;) {
        if (j == ARENA_NONE) {
            uint32_t v = arena_sleep_prepare(a, w);
            j = arena_take(a, w);
            if (j == ARENA_NONE) {
                if (arena_done(a)) {
                    arena_sleep_done(a, w);
                    break;
                }
                arena_sleep_wait(a, w, v, -1);
            }
            arena_sleep_done(a, w);
            if (j == ARENA_NONE)
                continue;
        }
        uint64_t att = arena_job_attempt(a, j);
        uint64_t s = atomic_fetch_add(&sh->seq, 1) + 1;
        uint64_t old = atomic_exchange(&rec[j], att << ATT_SHIFT | s);
        if (old >> ATT_SHIFT == att)
            atomic_fetch_add(&sh->dups, 1);
        if (arena_finish_take(a, w, j, fails(j) ? ARENA_FAILED : ARENA_COMPLETED, fails(j), &j) !=
            0) {
            atomic_fetch_add(&sh->errors, 1);
            j = ARENA_NONE;
        }
    }
    arena_wake(a);
    arena_leave(a, w);
    _exit(0);
}

static pid_t start_worker(struct arena *a, int point, int after)
{
    fflush(NULL);
    pid_t p = fork();
    if (p < 0) {
        perror("fork");
        exit(1);
    }
    if (p == 0)
        worker(a, point, after);
    return p;
}

/* The one correct end of every job (ids are topological). */
static uint8_t *expected(const struct spec *s)
{
    uint8_t *st = vl_xcalloc(s->njobs, 1), *bad = vl_xcalloc(s->njobs, 1);
    for (uint32_t j = 0; j < s->njobs; j++) {
        if (bad[j] && (s->flags[j] & SPEC_JOB_CANCEL_ON_BLOCK))
            st[j] = ARENA_CANCELED;
        else
            st[j] = fails(j) ? ARENA_FAILED : ARENA_COMPLETED;
        if (st[j] != ARENA_COMPLETED)
            for (uint64_t e = s->kid_off[j]; e < s->kid_off[j + 1]; e++)
                bad[s->kids[e]] = 1;
    }
    free(bad);
    return st;
}

static const int points[] = {ARENA_FP_RELEASE_EDGE, ARENA_FP_RELEASE_EDGE, ARENA_FP_READY,
                             ARENA_FP_CANCELED,     ARENA_FP_CLAIMED,      ARENA_FP_FINISHED,
                             ARENA_FP_CHUNK_TAKEN,  ARENA_FP_STOLEN,       ARENA_FP_POPPED,
                             ARENA_FP_ROOT_RANGE};

static int one_run(const char *mode, uint32_t workers, uint32_t njobs, uint64_t seed)
{
    int failures_before = check_failures;
    struct vl_err err = {0};
    struct spec s;
    struct bench_shape_opts so = {.seed = seed};
    if (bench_shape_gen(BENCH_RANDOM, njobs, &so, &s, &err) != 0) {
        fprintf(stderr, "gen: %s\n", err.msg);
        return 1;
    }
    for (uint32_t j = 0; j < njobs; j++)
        s.flags[j] = j % 3 ? SPEC_JOB_CANCEL_ON_BLOCK : 0;
    CHECK_EQ(spec_check(&s, &err), 0);
    uint8_t *want = expected(&s);

    snprintf(seg_path, sizeof seg_path, "/dev/shm/volley-stress-%d-%" PRIu64, (int)getpid(), seed);
    struct arena a;
    struct arena_opts o = {.nslots = 2 * workers + 8};
    if (arena_build(&a, seg_path, &s, &o, &err) != 0) {
        fprintf(stderr, "build: %s\n", err.msg);
        return 1;
    }
    unlink(seg_path); /* the mapping lives on in us and our children */
    seg_path[0] = '\0';
    memset((void *)rec, 0, (size_t)njobs * 8);
    memset(sh, 0, sizeof *sh);

    bool kill_mode = !strcmp(mode, "kill");
    uint64_t rnd = seed * 0x9e3779b97f4a7c15ull + 1;
    pid_t *pids = vl_xcalloc(4 * workers + 16, sizeof *pids);
    uint32_t npids = 0, kills = 0, armed = 0;
    for (uint32_t i = 0; i < workers; i++) {
        int point = 0, after = 0;
        /* armed workers (two, one in 8 of many): a random point and passage */
        if (kill_mode && i < VL_MAX(2u, workers / 8)) {
            rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
            point = points[(rnd >> 33) % VL_ARRAY_LEN(points)];
            after = 1 + (int)((rnd >> 13) % (njobs / workers / 2 + 1));
            armed++;
        }
        pids[npids++] = start_worker(&a, point, after);
    }
    while (atomic_load(&sh->joined) < workers)
        usleep(100);
    uint64_t t0 = vl_now_ns();
    atomic_store(&sh->go, 1);
    syscall(SYS_futex, (uint32_t *)&sh->go, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
    if (kill_mode) {
        /* and some from outside (one, one in 16 of many), at a random point
         * of the run: once a random number of jobs (1 to half of them) has
         * finished. A point of progress, not a time (a delay of up to 30 ms
         * once let a fast machine finish all 1M jobs first). It comes
         * sooner if a worker has died (an armed one), as the run may not
         * progress until that one is recovered, below; for that reason the
         * outside kills come together: after the first, progress may wait
         * for the recovery. */
        rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t at = 1 + (rnd >> 33) % (njobs / 2 + 1), c[ARENA_NSTATES];
        for (;;) {
            arena_counts(&a, c);
            siginfo_t si = {0};
            if (arena_counts_finished(c) >= at || arena_done(&a) ||
                (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0))
                break;
            usleep(100);
        }
        for (uint32_t k = 0; k < VL_MAX(1u, workers / 16); k++)
            kill(pids[workers - 1 - k], SIGKILL);
    }

    uint32_t running = npids, dead = 0;
    uint64_t recover_ns = 0, repair_ns = 0;
    while (running) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        running--;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            continue;
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
            fprintf(stderr, "worker %d ended with status %#x\n", (int)p, st);
            CHECK(false);
            continue;
        }
        kills++;
        struct arena_recover_stats rs;
        CHECK_EQ(arena_recover(&a, ARENA_NONE, 30000, &rs, &err), 0);
        recover_ns += rs.paused_ns;
        repair_ns += rs.repair_ns;
        dead += rs.dead; /* two that died together are repaired at once */
        atomic_store(&sh->joined, 0);
        pids[npids++] = start_worker(&a, 0, 0); /* a replacement */
        running++;
        while (atomic_load(&sh->joined) < 1)
            usleep(100);
    }
    double wall = (double)(vl_now_ns() - t0) / 1e9;

    /* check */
    CHECK(arena_done(&a));
    CHECK_EQ(sh->dups, 0);
    CHECK_EQ(sh->errors, 0);
    uint64_t counts[ARENA_NSTATES], want_count[ARENA_NSTATES] = {0}, extra = 0, bad = 0;
    arena_counts(&a, counts);
    for (uint32_t j = 0; j < njobs; j++) {
        want_count[want[j]]++;
        enum arena_state st = arena_job_state(&a, j);
        uint64_t r = rec[j], att = arena_job_attempt(&a, j);
        extra += att - 1;
        bool ok = st == want[j];
        if (st == ARENA_CANCELED)
            ok &= r == 0;
        else
            ok &= r >> ATT_SHIFT == att && (r & ((1ull << ATT_SHIFT) - 1)) != 0;
        uint64_t n;
        const uint32_t *k = arena_job_kids(&a, j, &n);
        for (uint64_t e = 0; e < n && r; e++) {
            uint64_t rk = rec[k[e]];
            if (rk && (rk & ((1ull << ATT_SHIFT) - 1)) <= (r & ((1ull << ATT_SHIFT) - 1)))
                ok = false;
        }
        if (!ok && bad++ < 5)
            fprintf(stderr,
                    "job %" PRIu32 ": %s attempt %" PRIu64 " record %#" PRIx64 ", want %s\n", j,
                    arena_state_name(st), att, r, arena_state_name(want[j]));
    }
    CHECK_EQ(bad, 0);
    for (int k = 0; k < ARENA_NSTATES; k++)
        CHECK_EQ(counts[k], want_count[k]);
    CHECK(extra <= 3 * (uint64_t)kills);
    CHECK_EQ(dead, kills);
    if (kill_mode)
        CHECK(kills >= 1);
    fprintf(stderr,
            "%s seed %" PRIu64 ": %" PRIu32 " jobs, %" PRIu32 " workers, %.2f s, %" PRIu32
            " killed (%" PRIu32 " armed), %" PRIu64 " reruns, paused %.1f ms (repair %.1f): %s\n",
            mode, seed, njobs, workers, wall, kills, armed, extra, recover_ns / 1e6,
            repair_ns / 1e6, check_failures == failures_before ? "ok" : "FAILED");
    free(pids);
    free(want);
    arena_close(&a);
    spec_free(&s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "run") && strcmp(argv[1], "kill"))) {
        fprintf(stderr, "usage: stress_arena run|kill WORKERS JOBS REPS\n");
        return 2;
    }
    uint32_t workers = (uint32_t)atoi(argv[2]), njobs = (uint32_t)atoi(argv[3]);
    int reps = atoi(argv[4]);
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    rec = mmap(NULL, (size_t)njobs * 8, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED || rec == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    uint64_t base = (uint64_t)time(NULL);
    const char *fixed = getenv("STRESS_SEED");
    if (fixed)
        base = strtoull(fixed, NULL, 10);
    fprintf(stderr,
            "stress_arena %s: seeds from %" PRIu64 " (STRESS_SEED=%" PRIu64 " repeats this)\n",
            argv[1], base, base);
    for (int r = 0; r < reps; r++)
        if (one_run(argv[1], workers, njobs, base + (uint64_t)r) != 0)
            return 1;
    return check_done();
}

/*
 * supervisor.c - the supervisor of a run (supervisor.h; docs/running.md).
 *
 * One thread, one loop: sigtimedwait with a tick (run_status.tick_ms, or
 * sooner when a checkpoint is due) takes stop signals and SIGCHLD; each
 * round reaps workers, collects the arena's changes for the checkpointer
 * when --checkpoint-interval has passed, and calls the status's progress.
 * The workers never wait for it: it reads the arena's dirty bits and job
 * records (ckpt_collect), and writes only the control page's stop word and
 * a dead worker's share of the counters.
 *
 * A dead worker (a crash, not an exit after a stop or an error) is
 * repaired in place: what it held of -j and of the capacity is given
 * back, its jobs' process groups are killed, arena_recover puts its
 * claimed jobs back to ready (attempt + 1), and another worker takes its
 * index (and its log segment). After SUPERVISOR_MAX_CRASHES deaths the run
 * stops, so the cause can be looked at; `volley resume` continues.
 *
 * Governance (cgroup.h, docs/limits.md): before any worker starts, the
 * run's cgroup tree is made (a group per unit of -j) and named in the
 * control page, whose pool the workers take groups from; the backend is
 * recorded in volley.db and shown (run_status.limits). A dead worker's
 * groups are emptied before its jobs are requeued; the tree is removed
 * when the last worker is gone (a crash of the supervisor leaves it for
 * `volley resume`, which sweeps it).
 *
 * Not here: option parsing and every line a person reads (tools/), the
 * worker's loop (worker.c), restore and reconciliation (resume.c).
 */
#include "core/supervisor.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/actions.h"
#include "persist/ckpt.h"
#include "persist/rundir.h"
#include "persist/runstats.h"
#include "persist/snap_arena.h"
#include "persist/watchlog.h"

extern char **environ;

struct sup {
    struct arena *a;
    const char *run_dir;
    const struct supervisor_opts *o;
    const struct run_status *st;
    struct run_view view;
    struct runctl *ctl;
    size_t ctl_bytes; /* RUNCTL_BYTES(ncg) */
    int ctl_fd;
    struct cgroup_tree tree; /* the run's groups (mode CGROUP_NONE: none) */
    char limits_why[CGROUP_WHY + 128];
    struct ckpt *ck;
    struct actions *acts; /* the workflow's actions, or NULL */
    struct watchlog *wl;  /* joblog.tsv, events.jsonl, rate.bin */
    pid_t pids[RUNCTL_MAX_WORKERS];
    uint32_t live; /* workers not yet reaped */
    uint32_t crashes;
    bool stopping; /* Ctrl-C, SIGTERM, or a fatal error */
    bool interrupted;
    bool halted;             /* the workers halted at --max-failures */
    bool draining;           /* the allocation ends soon: runctl's drain is set */
    bool deadline_hit;       /* stopped at the deadline less the kill grace */
    uint64_t stop_at;        /* wall clock: the deadline less the kill grace; 0: none */
    uint64_t drain_at;       /* wall clock: jobs without a runtime stop starting; 0: none */
    uint64_t next_ckpt;      /* monotonic: the next collection */
    struct snap_alloc alloc; /* this allocation's record (seq 0: none) */
    uint64_t fail_next;      /* the next failure number to announce (runctl.h's ring) */
    uint64_t fail_wait;      /* ... and how many ticks it has not been written yet */
    /* the first stop, signal or deadline, as taken (run-stats.json
     * "stop"; tests/run check that no spawn passed it), and the drain */
    int stop_sig;           /* 0: none taken */
    bool stop_deadline;     /* the deadline's stop came first */
    uint32_t stop_running;  /* workers started and not reaped then */
    uint64_t stop_wall_ns;  /* CLOCK_REALTIME, as a job's start_ns */
    const char *drain_why;  /* begin_drain's why; NULL: no drain */
    uint64_t drain_wall_ns; /* when, the same clock */
    int fatal;              /* exit code 3 reason recorded */
    struct vl_err fatal_err;
    char exe[PATH_MAX];
    sigset_t stop_sigs; /* SIGINT, SIGTERM, SIGHUP less those ignored at start */
    bool usr1;          /* SIGUSR1 is waited for (not ignored at start) */
};

void supervisor_opts_default(struct supervisor_opts *o)
{
    memset(o, 0, sizeof *o);
    struct capacity c;
    capacity_detect(&c, NULL);
    o->cap = c.cap;
    o->cpus_allowed = c.cap.cpus;
    o->ckpt_ms = 1000;
    o->kill_grace_ms = 5000;
}

uint32_t supervisor_kill_grace_ms(const struct spec *s, const struct supervisor_opts *o)
{
    if (o->kill_grace_given || !(s->exec.set & SPEC_EXEC_TERM_LEAD))
        return o->kill_grace_ms;
    uint64_t ms = (uint64_t)spec_term_lead_s(s) * 1000u;
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

bool supervisor_enforces(const struct spec *s, const struct supervisor_opts *o)
{
    return !o->no_limits && spec_limit_resources(s);
}

/* The most entries a job's merged env has, over every env set. */
static uint32_t max_env_of(const struct spec *s)
{
    uint32_t m = 0;
    for (uint32_t k = 0; k < s->nenvsets; k++) {
        uint32_t n = spec_envset_list(s->pool, s->envsets, s->envkv, k, NULL, 0);
        if (n > m)
            m = n;
    }
    return m;
}

static int spawn_worker(struct sup *S, uint32_t i)
{
    char fdbuf[16], ibuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", S->ctl_fd);
    snprintf(ibuf, sizeof ibuf, "%u", i);
    char *argv[] = {"volley", SUPERVISOR_WORKER_CMD, fdbuf, ibuf, NULL};
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, def = S->stop_sigs; /* an ignored one stays ignored in the worker */
    sigemptyset(&none);
    sigaddset(&def, SIGCHLD);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGXFSZ);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    atomic_store(&S->ctl->w[i].state, RUNCTL_W_STARTING);
    atomic_store(&S->ctl->w[i].held_jobs, 0);
    S->ctl->w[i].msg[0] = 0;
    pid_t pid;
    int rc = posix_spawn(&pid, S->exe, NULL, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    if (rc)
        return -rc;
    S->pids[i] = pid;
    S->live++;
    return 0;
}

void supervisor_kill_jobs(const struct arena *a, bool orphans_only)
{
    for (uint32_t j = 0; j < a->njobs; j++) {
        if (arena_job_state(a, j) != ARENA_RUNNING)
            continue;
        uint32_t o = arena_job_owner(a, j);
        if (orphans_only && o != ARENA_NONE && arena_slot_alive(a, o))
            continue;
        int32_t pid = arena_job_pid(a, j);
        if (pid > 0)
            kill(-pid, SIGKILL);
    }
}

static void stop_all(struct sup *S, int sig)
{
    actions_stop(S->acts); /* a running one runs again on resume */
    atomic_store(&S->ctl->stop, 1);
    arena_wake(S->a);
    for (uint32_t i = 0; i < S->ctl->nworkers; i++)
        if (S->pids[i] > 0)
            kill(S->pids[i], sig);
}

/* The run stops for a reason of its own (exit 3); the first reason is kept. */
static void stop_fatal(struct sup *S)
{
    S->fatal = 1;
    if (!S->stopping) {
        S->stopping = true;
        stop_all(S, SIGTERM);
    }
}

/* Ctrl-C, SIGTERM or SIGHUP (sig): the first stops the run (the workers'
 * jobs get SIGTERM, SIGKILL after the grace), another kills the jobs at
 * once. The first is stamped before the stop flag is set: a job whose
 * start_ns is later was being spawned then (one per worker at most). */
static void take_stop(struct sup *S, int sig)
{
    if (!S->stop_sig && !S->stop_deadline) {
        S->stop_sig = sig;
        S->stop_wall_ns = vl_wall_ns();
        S->stop_running = S->live;
    }
    if (!S->stopping) {
        S->stopping = true;
        S->interrupted = true;
        if (S->st->stopping)
            S->st->stopping(S->st->ctx, &S->view);
        stop_all(S, SIGTERM);
    } else {
        supervisor_kill_jobs(S->a, false);
    }
}

/* A dead worker's groups: what its jobs left in them is killed (before
 * the jobs are requeued), then they go back to the pool, their counters
 * to be read afresh; and its bound CPUs go back. */
static void give_back_governed(struct sup *S, uint32_t i)
{
    struct runctl *c = S->ctl;
    for (uint32_t g = 0; g < c->ncg; g++) {
        struct runctl_cg *e = runctl_cg_at(c, g);
        if (atomic_load_explicit(&e->owner, memory_order_acquire) != i + 1)
            continue;
        (void)cgroup_tree_empty_slot(&c->cg, g);
        e->sh.flags &= ~CGROUP_SH_READY;
        atomic_store_explicit(&e->owner, 0, memory_order_release);
    }
    for (uint32_t w = 0; w < RUNCTL_MAX_CPUS / 64; w++) {
        uint64_t bits = atomic_exchange(&c->w[i].held_cpu_bits[w], 0);
        if (bits)
            atomic_fetch_and(&c->cpus_used[w], ~bits);
    }
}

/* The allocation ends soon: only jobs whose runtime ends before the stop
 * start, workers with nothing to run end, and a checkpoint is taken now. */
static void begin_drain(struct sup *S, const char *why)
{
    if (S->draining || S->stopping)
        return;
    S->draining = true;
    S->drain_why = why;
    S->drain_wall_ns = vl_wall_ns();
    atomic_store(&S->ctl->drain, 1);
    arena_wake(S->a);
    S->next_ckpt = 0;
    if (S->st->draining)
        S->st->draining(S->st->ctx, &S->view, why, S->stop_at);
}

/* The deadline less the kill grace: the running jobs are stopped, to run
 * again on resume; the run exits 75. */
static void take_deadline(struct sup *S)
{
    if (S->stopping)
        return;
    S->stopping = true;
    S->deadline_hit = true;
    if (!S->stop_sig) {
        S->stop_deadline = true;
        S->stop_wall_ns = vl_wall_ns();
        S->stop_running = S->live;
    }
    if (S->st->deadline)
        S->st->deadline(S->st->ctx, &S->view);
    stop_all(S, SIGTERM);
}

/* The deadline's two moments, each tick. */
static void check_deadline(struct sup *S)
{
    if (!S->stop_at || S->stopping)
        return;
    uint64_t now = vl_wall_ns();
    if (now >= S->drain_at)
        begin_drain(S, "the deadline is near");
    if (now >= S->stop_at)
        take_deadline(S);
}

/* A dead worker's share of -j and of the capacity goes back to the others. */
static void give_back(struct sup *S, uint32_t i)
{
    give_back_governed(S, i);
    struct runctl_worker *m = &S->ctl->w[i];
    struct res_amount need = {.cpus = atomic_load(&m->held_cpus),
                              .memory_bytes = atomic_load(&m->held_mem)};
    uint64_t gpus = atomic_load(&m->held_gpus);
    if (need.cpus || need.memory_bytes || gpus)
        res_release(&S->ctl->res, &need, gpus);
    atomic_fetch_sub(&S->ctl->running, atomic_load(&m->held_jobs));
    atomic_store(&m->held_jobs, 0);
    atomic_store(&m->held_cpus, 0);
    atomic_store(&m->held_mem, 0);
    atomic_store(&m->held_gpus, 0);
    /* what the capacity kept for its held job goes to the others */
    if (res_unreserve(&S->ctl->res, i + 1))
        arena_wake(S->a);
}

/* A crash: give back what it held, repair the arena from its state words
 * and start another. */
static void repair_crash(struct sup *S, uint32_t i, pid_t pid, int status)
{
    give_back(S, i);
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof how, "exited with %d", WEXITSTATUS(status));
    S->crashes++;
    supervisor_kill_jobs(S->a, true);
    struct arena_recover_stats rs;
    struct vl_err err = {0};
    int rc = arena_recover(S->a, ARENA_NONE, 10000, &rs, &err);
    arena_wake(S->a); /* whoever waited for the capacity it held */
    if (S->st->worker_died)
        S->st->worker_died(S->st->ctx, &S->view, i, (int)pid, how, rs.requeued);
    if (rc < 0 || S->crashes > SUPERVISOR_MAX_CRASHES) {
        if (!S->fatal) {
            if (rc < 0)
                S->fatal_err = err;
            else
                vl_err_set(&S->fatal_err, VL_ENOTRUN,
                           "workers died %u times (the last: worker %u %s); stopping so that the "
                           "cause can be looked at (volley resume continues)",
                           S->crashes, i, how);
        }
        stop_fatal(S);
        return;
    }
    if (!S->stopping && !arena_done(S->a) && spawn_worker(S, i) < 0 && !S->fatal) {
        S->fatal = 1;
        vl_err_sys(&S->fatal_err, -errno, "cannot start worker %u again", i);
    }
}

static void on_worker_exit(struct sup *S, pid_t pid, int status)
{
    uint32_t i = 0;
    while (i < S->ctl->nworkers && S->pids[i] != pid)
        i++;
    if (i == S->ctl->nworkers)
        return; /* not ours (cannot happen: we start no other child) */
    S->pids[i] = 0;
    S->live--;
    uint32_t ws = atomic_load(&S->ctl->w[i].state);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
              (ws == RUNCTL_W_DONE || ws == RUNCTL_W_STOPPED);
    /* One told to stop while it was starting (an early Ctrl-C) ran nothing:
     * no error, and nothing to repair. */
    if (ok || (S->stopping && ws == RUNCTL_W_STARTING))
        return;
    if (ws == RUNCTL_W_ERROR || ws == RUNCTL_W_STARTING) {
        if (!S->fatal)
            vl_err_set(&S->fatal_err, VL_ENOTRUN, "worker %u stopped the run: %s", i,
                       S->ctl->w[i].msg[0] ? S->ctl->w[i].msg : "it exited before starting");
        stop_fatal(S);
        return;
    }
    repair_crash(S, i, pid, status);
}

/* DIR/run-stats.json: what this runner process cost, for benchmarks
 * (runner CPU per job: the supervisor and its workers, not the jobs). */
static void write_stats(struct sup *S, double secs)
{
    uint64_t c[ARENA_NSTATES];
    arena_counts(S->a, c);
    struct runstats rs = {
        .jobs = S->a->njobs,
        .workers = S->ctl->nworkers,
        .finished_here = arena_counts_finished(c) - S->view.finished_at_start,
        .wall_s = secs,
        .supervisor_cpu_s = (double)vl_cpu_ns() / 1e9,
        .max_running = S->ctl->max_running,
        .worker_restarts = S->crashes,
        .stop_sig = S->stop_sig,
        .stop_running = S->stop_running,
        .stop_wall_ns = S->stop_wall_ns,
        .stop_deadline = S->stop_deadline,
        .drain_why = S->drain_why,
        .drain_wall_ns = S->drain_wall_ns,
    };
    for (uint32_t i = 0; i < S->ctl->nworkers; i++) {
        rs.workers_cpu_s += (double)atomic_load(&S->ctl->w[i].cpu_ns) / 1e9;
        rs.spawned += atomic_load(&S->ctl->w[i].spawned);
    }
    (void)runstats_write(S->run_dir, &rs);
}

/* The control page: made, filled and mapped before any worker starts. */
static int make_ctl(struct sup *S, const struct spec *s, const char *arena_path,
                    const char *workdir, uint32_t gen, uint32_t nworkers, uint32_t jcap,
                    struct vl_err *err)
{
    uint32_t ncg = S->tree.mode != CGROUP_NONE ? S->tree.nslots : 0;
    S->ctl_bytes = RUNCTL_BYTES(ncg);
    S->ctl_fd = memfd_create("volley-runctl", 0); /* inherited by workers */
    if (S->ctl_fd < 0 || ftruncate(S->ctl_fd, (off_t)S->ctl_bytes) < 0)
        return vl_err_sys(err, -errno, "cannot create the run's control page");
    void *m = mmap(NULL, S->ctl_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, S->ctl_fd, 0);
    if (m == MAP_FAILED)
        return vl_err_sys(err, -errno, "cannot map the run's control page");
    struct runctl *c = S->ctl = m;
    c->cg = S->tree;
    c->ncg = ncg;
    c->max_pids = S->o->max_pids;
    /* torc's limit_resources: false is --no-limits */
    c->limits = (supervisor_enforces(s, S->o) ? RUNCTL_LIM_ENFORCE : 0) |
                (S->o->bind_cpus ? RUNCTL_LIM_BIND : 0);
    cpu_set_t mine;
    if (S->o->bind_cpus && sched_getaffinity(0, sizeof mine, &mine) == 0)
        for (int cpu = 0; cpu < CPU_SETSIZE && c->ncpu_ids < RUNCTL_MAX_CPUS; cpu++)
            if (CPU_ISSET(cpu, &mine))
                c->cpu_id[c->ncpu_ids++] = (uint16_t)cpu;
    c->magic = RUNCTL_MAGIC;
    c->version = RUNCTL_VERSION;
    c->shape = RUNCTL_SHAPE;
    snprintf(c->arena_path, sizeof c->arena_path, "%s", arena_path);
    snprintf(c->run_dir, sizeof c->run_dir, "%s", S->run_dir);
    /* this generation's logs (after a reload: logs/gen-N; rundir.h) */
    char logs0[sizeof c->log_dir];
    if (rundir_log_dir(c->log_dir, sizeof c->log_dir, S->run_dir, gen) < 0 ||
        rundir_log_dir(logs0, sizeof logs0, S->run_dir, 0) < 0)
        return vl_err_sys(err, -ENAMETOOLONG, "cannot use %s as a run directory", S->run_dir);
    snprintf(c->workdir, sizeof c->workdir, "%s", workdir);
    c->supervisor_pid = getpid();
    c->nworkers = nworkers;
    c->max_running = jcap;
    c->kill_grace_ms = supervisor_kill_grace_ms(s, S->o);
    c->term_signal = spec_term_signal(s);
    c->timeout_code = spec_timeout_exit_code(s);
    c->oom_code = spec_oom_exit_code(s);
    c->max_env = max_env_of(s);
    c->max_failures = S->o->max_failures;
    c->stop_at_ns = S->stop_at;
    c->cap = S->o->cap;
    for (uint32_t r = 0; r < s->nrr; r++)
        if (s->rrs[r].num_cpus || s->rrs[r].num_gpus || s->rrs[r].memory_bytes)
            c->use_res = 1;
    if (gen && mkdir(logs0, 0755) < 0 && errno != EEXIST)
        return vl_err_sys(err, -errno, "cannot create %s", logs0);
    if (mkdir(c->log_dir, 0755) < 0 && errno != EEXIST)
        return vl_err_sys(err, -errno, "cannot create %s", c->log_dir);
    return 0;
}

/* Signals arrive through sigtimedwait, on this thread only. SIGINT and
 * SIGHUP ignored when volley started (nohup, a background job of a
 * script) stay ignored, here and in the workers, as make leaves them: a
 * blocked signal is queued even when ignored, so it must not be in the
 * set. Returns the set waited for (the stop signals and SIGCHLD). */
static sigset_t block_signals(struct sup *S, sigset_t *old)
{
    sigemptyset(&S->stop_sigs);
    static const int stop_sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < VL_ARRAY_LEN(stop_sigs); i++)
        if (vl_stop_signal_taken(stop_sigs[i]))
            sigaddset(&S->stop_sigs, stop_sigs[i]);
    sigset_t set = S->stop_sigs;
    sigaddset(&set, SIGCHLD);
    /* SIGUSR1: the allocation ends soon (sbatch --signal=B:USR1@N) */
    S->usr1 = vl_stop_signal_taken(SIGUSR1);
    if (S->usr1)
        sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, old);
    if (S->o->on_signals_blocked)
        S->o->on_signals_blocked();
    /* A reader of our output that goes away (`volley run ... | head`) must
     * not end the run: from here on our lines are lost (EPIPE), the jobs
     * go on, and the exit code tells how the run ended. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit: EFBIG, as a full disk */
    return set;
}

/* The watch files; a resume first writes what its restore changed
 * (running -> ready: it runs again; failed -> ready with --retry-failed). */
static void open_watch(struct sup *S)
{
    const uint8_t *prev = S->o->watch_prev;
    S->wl = watchlog_open(S->run_dir, S->a, &S->ctl->running, prev, &S->st->warn);
    if (!S->wl || !prev)
        return;
    for (uint32_t j = 0; j < S->a->njobs; j++)
        if (prev[j] != (uint8_t)arena_job_state(S->a, j)) {
            struct snap_job sj;
            snap_job_read(S->a, j, &sj);
            watchlog_note(S->wl, j, &sj);
        }
    watchlog_flush(S->wl);
}

static void start_workers(struct sup *S, uint32_t nworkers)
{
    if (arena_done(S->a) || S->stopping) /* stopping: a deadline that has passed */
        return;
    for (uint32_t i = 0; i < nworkers; i++) {
        /* a stop signal that came while the workers start (a spawn takes
         * ~50 ms here: 32 workers are seconds) is taken now, by the loop
         * below, not after the last spawn */
        struct timespec zero = {0};
        int sig = sigtimedwait(&S->stop_sigs, NULL, &zero);
        if (sig > 0) {
            take_stop(S, sig);
            break;
        }
        if (spawn_worker(S, i) < 0) {
            vl_err_sys(&S->fatal_err, -errno, "cannot start worker %u", i);
            S->fatal = 1;
            S->stopping = true;
            stop_all(S, SIGTERM);
            break;
        }
    }
}

/*
 * The failures since the last tick, from the control page's ring, to
 * st->job_failed in the order they ended. An entry not written yet (its
 * worker is between its increment and its store) is waited for, a few
 * ticks at most (a worker that died there never writes it); one already
 * overwritten is skipped and counted. At the end (final) nothing is
 * waited for. Then the halt, announced once.
 */
static void announce_failures(struct sup *S, bool final)
{
    struct runctl *c = S->ctl;
    uint64_t n = atomic_load_explicit(&c->failures, memory_order_seq_cst);
    uint64_t skipped = 0;
    if (n - S->fail_next > RUNCTL_FAIL_RING) {
        skipped = n - RUNCTL_FAIL_RING - S->fail_next;
        S->fail_next = n - RUNCTL_FAIL_RING;
    }
    while (S->fail_next < n) {
        uint64_t e = atomic_load_explicit(&c->fail_ring[S->fail_next % RUNCTL_FAIL_RING],
                                          memory_order_acquire);
        int32_t age = (int32_t)((uint32_t)(e >> 32) - (uint32_t)(S->fail_next + 1));
        if (age < 0 && !final && ++S->fail_wait < 5)
            break; /* not written yet */
        S->fail_wait = 0;
        if (age == 0 && S->st->job_failed) {
            S->st->job_failed(S->st->ctx, &S->view, (uint32_t)e, skipped);
            skipped = 0;
        } else if (age != 0) {
            skipped++;
        }
        S->fail_next++;
    }
    if (!S->halted && atomic_load_explicit(&c->halt, memory_order_acquire)) {
        S->halted = true;
        if (S->st->halting)
            S->st->halting(S->st->ctx, &S->view, n);
    }
}

/* Reaps the workers that exited, each by its pid: the actions' engine, on
 * a thread of this process, reaps its own children through their pidfds,
 * so waitpid(-1) would take them from it. */
static void reap_workers(struct sup *S)
{
    for (uint32_t i = 0; i < S->ctl->nworkers; i++) {
        int status;
        pid_t pid = S->pids[i];
        if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid)
            on_worker_exit(S, pid, status);
    }
}

/* While an action is due or running (on_workflow_start before the
 * workers, on_workflow_complete and late on_jobs_* ones after them):
 * signals, checkpoints, progress; poll_jobs: the on_jobs_* triggers too
 * (not before the workers: the other actions wait for the start ones, as
 * the jobs do). A stop ends the wait (actions_close waits for the stopped
 * commands). */
static void wait_actions(struct sup *S, const sigset_t *set, bool poll_jobs)
{
    const struct run_status *st = S->st;
    const uint64_t tick_ns = (uint64_t)(st->tick_ms ? st->tick_ms : 250) * 1000000ull;
    while (actions_busy(S->acts) && !S->stopping) {
        struct timespec ts = {.tv_sec = (time_t)(tick_ns / 1000000000ull),
                              .tv_nsec = (long)(tick_ns % 1000000000ull)};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
            take_stop(S, sig);
        else if (sig == SIGUSR1) /* not lost while on_workflow_start runs */
            begin_drain(S, "SIGUSR1");
        check_deadline(S);
        reap_workers(S);
        actions_poll(S->acts, poll_jobs ? S->a : NULL);
        if (st->progress)
            st->progress(st->ctx, &S->view, false);
    }
}

/* Until every worker has exited: signals, reaping, checkpoints, progress. */
static void supervise(struct sup *S, const sigset_t *set)
{
    const struct run_status *st = S->st;
    uint64_t ckpt_ns = (uint64_t)S->o->ckpt_ms * 1000000ull;
    S->next_ckpt = vl_now_ns() + ckpt_ns;
    const uint64_t tick_ns = (uint64_t)(st->tick_ms ? st->tick_ms : 250) * 1000000ull;
    while (S->live > 0) {
        uint64_t now = vl_now_ns();
        uint64_t wait = tick_ns;
        if (S->next_ckpt > now && S->next_ckpt - now < wait)
            wait = S->next_ckpt - now;
        if (S->stop_at && !S->stopping) { /* the deadline's moments, on time */
            uint64_t wall = vl_wall_ns();
            uint64_t at = S->draining ? S->stop_at : S->drain_at;
            if (at > wall && at - wall < wait)
                wait = at - wall;
        }
        struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000ull),
                              .tv_nsec = (long)(wait % 1000000000ull)};
        siginfo_t si;
        int sig = sigtimedwait(set, &si, &ts);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
            take_stop(S, sig);
        else if (sig == SIGUSR1)
            begin_drain(S, "SIGUSR1");
        check_deadline(S);
        reap_workers(S);
        actions_poll(S->acts, S->a);
        now = vl_now_ns();
        if (now >= S->next_ckpt) {
            ckpt_collect(S->ck, S->a, S->wl);
            S->next_ckpt = now + ckpt_ns;
        }
        announce_failures(S, false);
        if (st->progress)
            st->progress(st->ctx, &S->view, false);
    }
}

/* Every worker is gone: the arena is quiet. Workers that stopped left
 * their jobs running; the record says so, and resume runs them again. */
static int finish(struct sup *S, double secs)
{
    ckpt_collect(S->ck, S->a, S->wl);
    watchlog_close(S->wl);
    struct vl_err cerr = {0};
    int crc = ckpt_stop(S->ck, &cerr);
    S->ck = NULL;
    bool left = !arena_done(S->a);
    struct run_end e = {.secs = secs,
                        .interrupted = S->interrupted,
                        .halted = S->halted,
                        .deadline = S->deadline_hit || (S->draining && left),
                        .failures = atomic_load(&S->ctl->failures),
                        .arena_done = arena_done(S->a),
                        .fatal = S->fatal ? &S->fatal_err : NULL,
                        .ckpt = crc < 0 ? &cerr : NULL};
    arena_counts(S->a, e.counts);
    write_stats(S, secs);
    if (S->fatal)
        e.exit_code = VL_EXIT_ENV;
    else if (S->interrupted)
        e.exit_code = VL_EXIT_INTR;
    else if (S->halted)
        e.exit_code = VL_EXIT_FAIL; /* resumable: the jobs not started are ready still */
    else if (e.deadline)
        e.exit_code = VL_EXIT_AGAIN; /* resumable, in the next allocation */
    else if (!e.arena_done)
        e.exit_code = VL_EXIT_ENV; /* the workers ended with jobs unfinished */
    else
        e.exit_code = e.counts[ARENA_COMPLETED] == S->a->njobs ? VL_EXIT_OK : VL_EXIT_FAIL;
    if (crc < 0)
        e.exit_code = VL_EXIT_ENV;
    if (S->st->finished)
        S->st->finished(S->st->ctx, &S->view, &e);
    return crc < 0 ? -1 : e.exit_code;
}

/* The actions' thread, and the on_workflow_start ones, which jobs wait for
 * (torc: a runner runs its pending actions before it claims a job). */
static void run_actions_first(struct sup *S, const struct spec *s, const struct snap_action *recs,
                              const sigset_t *set)
{
    struct actions_opts ao = {.run_dir = S->run_dir,
                              .log_dir = S->ctl->log_dir,
                              .workdir = S->ctl->workdir,
                              .kill_grace_ms = S->ctl->kill_grace_ms,
                              .term_signal = S->ctl->term_signal,
                              .warn = &S->st->warn};
    if (actions_open(&S->acts, s, recs, S->ck, &ao, &S->fatal_err) < 0) {
        S->fatal = 1;
        S->stopping = true;
        return;
    }
    actions_fire(S->acts, SPEC_ON_WORKFLOW_START);
    wait_actions(S, set, false);
}

/* The workers are gone. Every job finished (and no stop): the on_jobs_*
 * actions the last completions made due, and the wait for every action
 * still running, then on_workflow_complete, the last thing a run does
 * (as on_workflow_start is the first), and the wait for it; a stop stops
 * them instead. Then the thread ends: its records are submitted before
 * the final checkpoint. */
static void run_actions_last(struct sup *S, const sigset_t *set)
{
    if (!S->acts)
        return;
    if (!S->stopping && arena_done(S->a)) {
        actions_poll(S->acts, S->a);
        wait_actions(S, set, true);
        if (!S->stopping)
            actions_fire(S->acts, SPEC_ON_WORKFLOW_COMPLETE);
    }
    wait_actions(S, set, true);
    if (S->stopping)
        actions_stop(S->acts);
    struct vl_err e = {0};
    if (actions_close(S->acts, NULL, &e) < 0)
        vl_warnf(&S->st->warn, "the workflow's actions: %s", e.msg);
    S->acts = NULL;
}

/* The run's groups (cgroup.h): a group per unit of -j, under the run's
 * id. A backend that cannot be had falls back to none (the reason is
 * shown), unless it was forced: then the run does not start. */
static int make_tree(struct sup *S, uint32_t jcap, struct vl_err *err)
{
    const struct cgroup_env *env = S->o->limits;
    memset(&S->tree, 0, sizeof S->tree);
    if (!env || env->mode == CGROUP_NONE) {
        snprintf(S->limits_why, sizeof S->limits_why, "%s",
                 env ? env->why : "no limits backend was asked for");
        return 0;
    }
    snprintf(S->limits_why, sizeof S->limits_why, "%s", env->why);
    struct vl_err terr = {0};
    if (jcap > RUNCTL_MAX_CG) {
        vl_err_set(&terr, VL_EUSAGE, "-j %u would need %u cgroups; volley makes at most %u per run",
                   jcap, jcap, RUNCTL_MAX_CG);
    } else {
        char hex[33];
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", S->a->hdr->run_id[i]);
        if (cgroup_tree_create(env, hex, jcap, &S->tree, &terr) == 0)
            return 0;
    }
    if (S->o->limits_forced) {
        *err = terr;
        return err->code ? err->code : -EIO;
    }
    memset(&S->tree, 0, sizeof S->tree);
    snprintf(S->limits_why, sizeof S->limits_why, "%s was not usable: %.300s",
             cgroup_mode_name(env->mode), terr.msg);
    return 0;
}

/* Workers: as asked, else one per CPU this process was given; never more
 * than -j (a worker with nothing it may run is a waste). -j: as asked,
 * else those CPUs. */
static void size_run(const struct supervisor_opts *o, uint32_t *nworkers, uint32_t *jcap)
{
    long ncpu = o->cpus_allowed;
    if (ncpu < 1)
        ncpu = 1;
    *nworkers = o->workers ? o->workers : (uint32_t)ncpu;
    if (*nworkers > RUNCTL_MAX_WORKERS)
        *nworkers = RUNCTL_MAX_WORKERS;
    *jcap = o->max_running ? o->max_running : (uint32_t)ncpu;
    if (*nworkers > *jcap)
        *nworkers = *jcap;
}

int supervisor_run(const struct spec *s, struct snap *db, struct arena *a, const char *arena_path,
                   const char *run_dir, const char *workdir, const struct supervisor_opts *o,
                   const struct run_status *st, struct vl_err *err)
{
    struct sup S = {.a = a, .run_dir = run_dir, .o = o, .st = st, .ctl_fd = -1};
    uint32_t nworkers, jcap;
    size_run(o, &nworkers, &jcap);
    sigset_t old;
    bool blocked = false;
    ssize_t el = readlink("/proc/self/exe", S.exe, sizeof S.exe - 1);
    if (el <= 0) {
        vl_err_sys(err, -errno, "cannot find my own executable (/proc/self/exe)");
        goto out_early;
    }
    S.exe[el] = 0;
    /* from here a stop signal waits for the loop: the groups made below
     * are removed whatever comes */
    sigset_t set = block_signals(&S, &old);
    blocked = true;
    if (make_tree(&S, jcap, err) < 0)
        goto out_early;
    if (o->deadline_ns) {
        uint64_t g = (uint64_t)o->kill_grace_ms * 1000000ull;
        S.stop_at = o->deadline_ns > g ? o->deadline_ns - g : 1;
        uint64_t lead = (uint64_t)SUPERVISOR_DRAIN_LEAD_MS * 1000000ull;
        S.drain_at = S.stop_at > lead ? S.stop_at - lead : 1;
    }
    if (make_ctl(&S, s, arena_path, workdir, snap_gen(db), nworkers, jcap, err) < 0)
        goto out_early;
    if (snap_mark_live(db, err) < 0)
        goto out_early;
    struct vl_err lerr = {0};
    if (snap_set_limits(db, cgroup_mode_name(S.tree.mode), S.limits_why, &lerr) < 0)
        vl_warnf(&st->warn, "%s", lerr.msg);
    /* the actions' records as volley.db has them: read before the
       checkpointer takes the db over */
    struct snap_action *acts = s->nactions ? vl_xcalloc(s->nactions, sizeof *acts) : NULL;
    if (acts && snap_actions(db))
        memcpy(acts, snap_actions(db), s->nactions * sizeof *acts);
    if (o->alloc) {
        S.alloc = *o->alloc;
        S.alloc.start_ns = vl_wall_ns();
        S.alloc.deadline_ns = o->deadline_ns;
        if (snap_alloc_begin(db, &S.alloc, err) < 0) {
            free(acts);
            goto out_early;
        }
    }
    struct ckpt_opts copts = {0};
    if (ckpt_start(&S.ck, db, &copts, err) < 0) {
        free(acts);
        goto out_early;
    }
    arena_set_runner(a, getpid(), vl_proc_start(getpid()));
    open_watch(&S);
    uint64_t cs[ARENA_NSTATES];
    arena_counts(a, cs);
    S.view = (struct run_view){.a = a,
                               .run_dir = run_dir,
                               .arena_path = arena_path,
                               .admitted = &S.ctl->running,
                               .t0_ns = vl_now_ns(),
                               .finished_at_start = arena_counts_finished(cs),
                               .kill_grace_ms = S.ctl->kill_grace_ms,
                               .max_running = jcap,
                               .capacity_wait = &S.ctl->res.resv_owner,
                               .max_failures = o->max_failures,
                               .deadline_ns = o->deadline_ns,
                               .stop_at_ns = S.stop_at};
    if (st->limits)
        st->limits(st->ctx, &S.view, S.tree.mode, S.tree.can, supervisor_enforces(s, o),
                   S.tree.mode == CGROUP_NONE || supervisor_enforces(s, o) ? S.limits_why
                   : o->no_limits                                          ? "--no-limits"
                                  : "the workflow's limit_resources: false");

    run_actions_first(&S, s, acts, &set);
    free(acts);
    check_deadline(&S); /* a deadline that is near already: drain before any job starts */
    if (!S.stopping)
        start_workers(&S, nworkers);
    supervise(&S, &set);
    announce_failures(&S, true);
    run_actions_last(&S, &set);
    /* every worker is gone: what is left in the groups is killed with them */
    (void)cgroup_tree_remove(&S.tree, NULL);
    double secs = (double)(vl_now_ns() - S.view.t0_ns) / 1e9;
    if (st->progress)
        st->progress(st->ctx, &S.view, true);
    int exit_code = finish(&S, secs);
    arena_close(a);
    if (exit_code < 0) /* the final checkpoint failed: the arena keeps the state */
        exit_code = VL_EXIT_ENV;
    else
        arena_unlink(arena_path);
    if (S.alloc.seq) { /* a failure here loses only the end time: the run's state is saved */
        struct vl_err aerr = {0};
        if (snap_alloc_end(db, S.alloc.seq, vl_wall_ns(), exit_code, &aerr) < 0)
            vl_warnf(&st->warn, "%s", aerr.msg);
    }
    snap_close(db);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(S.ctl, S.ctl_bytes);
    close(S.ctl_fd);
    return exit_code;

out_early:
    (void)cgroup_tree_remove(&S.tree, NULL);
    if (blocked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (S.ctl)
        munmap(S.ctl, S.ctl_bytes);
    if (S.ctl_fd >= 0)
        close(S.ctl_fd);
    snap_close(db);
    arena_close(a);
    arena_unlink(arena_path);
    return VL_EXIT_ENV;
}

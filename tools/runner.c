/*
 * runner.c - the supervisor of a run (runner.h; docs/running.md).
 */
#include "runner.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/logread.h"
#include "core/runctl.h"
#include "core/worker.h"
#include "persist/ckpt.h"
#include "persist/rundir.h"
#include "persist/runstats.h"
#include "persist/snap_arena.h"
#include "persist/watchlog.h" /* watch: joblog, events */
#include "cli.h"

extern char **environ;

#define MAX_CRASHES 3 /* worker deaths a run survives */

void runner_opts_default(struct runner_opts *o)
{
    memset(o, 0, sizeof *o);
    res_detect(&o->cap);
    o->ckpt_ms = 1000;
    o->kill_grace_ms = 5000;
    o->progress = -1;
}

/* Applies option c with its value arg to o: 1, 0 if c is not one of
 * RUNNER_LONGOPTS, or -EINVAL with err filled. */
static int set_opt(int c, const char *arg, struct runner_opts *o, struct vl_err *err)
{
    double d;
    uint64_t u;
    switch (c) {
    case 'j':
        return cli_check_u32("-j", arg, 1, 1u << 20, &o->max_running, err) ? 1 : -EINVAL;
    case 1000:
        return cli_check_u32("--workers", arg, 1, RUNCTL_MAX_WORKERS, &o->workers, err) ? 1
                                                                                        : -EINVAL;
    case 1001:
        return cli_check_u32("--cpus", arg, 1, 1u << 20, &o->cap.cpus, err) ? 1 : -EINVAL;
    case 1002:
        if (vl_parse_size(arg, &u) < 0 || u == 0)
            return vl_err_set(err, -EINVAL, "--memory: '%s' is not a size (like 64g, 512m)", arg);
        o->cap.memory_bytes = u;
        return 1;
    case 1003:
        return cli_check_u32("--gpus", arg, 0, RES_MAX_GPUS, &o->cap.gpus, err) ? 1 : -EINVAL;
    case 1004:
        if (!cli_check_double("--checkpoint-interval", arg, 0.01, 3600, &d, err))
            return -EINVAL;
        o->ckpt_ms = (uint32_t)(d * 1000);
        return 1;
    case 1005:
        if (!cli_check_double("--kill-grace", arg, 0, 3600, &d, err))
            return -EINVAL;
        o->kill_grace_ms = (uint32_t)(d * 1000);
        return 1;
    case 1006:
        o->progress = 0;
        return 1;
    case 1007:
        o->progress = 1;
        return 1;
    default:
        return 0;
    }
}

int runner_parse_opt(const char *cmd, int c, const char *arg, struct runner_opts *o)
{
    struct vl_err err = {0};
    int r = set_opt(c, arg, o, &err);
    return r < 0 ? cli_usage_error(cmd, "%s", err.msg) : r;
}

/* The options a run keeps, in the order a resume names them. */
static const int kept_codes[RUNNER_NKEPT] = {'j', 1000, 1001, 1002, 1003, 1004, 1005};
static const struct option runner_longopts[] = {RUNNER_LONGOPTS, {NULL, 0, NULL, 0}};

/* The long name of option c ("jobs" for -j). */
static const char *opt_name(int c)
{
    for (const struct option *l = runner_longopts; l->name; l++)
        if (l->val == c)
            return l->name;
    return "?";
}

void runner_kept_note(struct runner_kept *k, int c, const char *arg)
{
    uint32_t i = 0;
    while (i < RUNNER_NKEPT && kept_codes[i] != c)
        i++;
    const char *name = opt_name(c);
    if (i == RUNNER_NKEPT || !snap_opt_check(name, arg))
        return; /* --quiet, --progress: this invocation's; a value volley.db cannot hold */
    uint32_t at = 0;
    while (at < k->n && strcmp(k->opt[at].name, name))
        at++;
    if (at == k->n)
        k->n++;
    k->opt[at] = (struct snap_opt){.name = name, .value = arg};
}

int runner_apply_kept(struct runner_opts *o, const struct snap_opt *opts, uint32_t n,
                      const struct runner_kept *given, const char *db_path, char *shown, size_t len,
                      struct vl_err *err)
{
    size_t at = 0;
    if (len)
        shown[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = 0;
        while (k < RUNNER_NKEPT && strcmp(opts[i].name, opt_name(kept_codes[k])))
            k++;
        if (k == RUNNER_NKEPT)
            return vl_err_set(err, VL_ECORRUPT,
                              "%s: the stored run option '%s' is not one this volley knows; the "
                              "file is damaged and this run cannot be resumed from it",
                              db_path, opts[i].name);
    }
    for (uint32_t k = 0; k < RUNNER_NKEPT; k++) {
        const char *name = opt_name(kept_codes[k]);
        const struct snap_opt *so = NULL;
        for (uint32_t i = 0; i < n && !so; i++)
            if (!strcmp(opts[i].name, name))
                so = &opts[i];
        bool again = false;
        for (uint32_t i = 0; given && i < given->n && !again; i++)
            again = !strcmp(given->opt[i].name, name);
        if (!so || again)
            continue; /* not stored, or replaced on this command line */
        char flag[48];
        snprintf(flag, sizeof flag, kept_codes[k] == 'j' ? "-j" : "--%s", name);
        struct vl_err e = {0};
        if (set_opt(kept_codes[k], so->value, o, &e) < 0)
            return vl_err_set(err, VL_ECORRUPT,
                              "%s: the stored run option %s '%s' does not parse (%s); the file "
                              "is damaged: give %s to `volley resume` to replace it",
                              db_path, flag, so->value, e.msg, flag);
        if (at < len)
            at += (size_t)snprintf(shown + at, len - at, "%s%s %s", at ? " " : "", flag, so->value);
    }
    return 0;
}

struct sup {
    const struct spec *s;
    struct arena *a;
    const char *run_dir;
    const struct runner_opts *o;
    struct runctl *ctl;
    int ctl_fd;
    struct ckpt *ck;
    struct watchlog *wl; /* watch: joblog.tsv, events.jsonl */
    pid_t pids[RUNCTL_MAX_WORKERS];
    uint32_t live; /* workers not yet reaped */
    uint32_t crashes;
    bool stopping; /* Ctrl-C, SIGTERM, or a fatal error */
    bool interrupted;
    int fatal; /* exit code 3 reason recorded */
    struct vl_err fatal_err;
    char exe[PATH_MAX];
    sigset_t stop_sigs; /* SIGINT, SIGTERM, SIGHUP less those ignored at start */
    /* progress */
    bool tty;
    uint64_t t0, last_done, last_t;
    double rate;
    uint64_t total_at_start; /* finished before this process started (resume) */
};

static int spawn_worker(struct sup *S, uint32_t i)
{
    char fdbuf[16], ibuf[16];
    snprintf(fdbuf, sizeof fdbuf, "%d", S->ctl_fd);
    snprintf(ibuf, sizeof ibuf, "%u", i);
    char *argv[] = {"volley", "__worker", fdbuf, ibuf, NULL};
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

void runner_kill_jobs(struct arena *a, bool orphans_only)
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
    atomic_store(&S->ctl->stop, 1);
    arena_wake(S->a);
    for (uint32_t i = 0; i < S->ctl->nworkers; i++)
        if (S->pids[i] > 0)
            kill(S->pids[i], sig);
}

/* Ctrl-C, SIGTERM or SIGHUP: the first stops the run (the workers' jobs
 * get SIGTERM, SIGKILL after the grace), another kills the jobs at once. */
static void take_stop(struct sup *S, const struct runner_opts *o)
{
    if (!S->stopping) {
        S->stopping = true;
        S->interrupted = true;
        if (S->tty)
            fputc('\n', stderr);
        fprintf(stderr,
                "volley: stopping: running jobs get SIGTERM, SIGKILL after %.1f s "
                "(again to kill at once)\n",
                o->kill_grace_ms / 1000.0);
        stop_all(S, SIGTERM);
    } else {
        runner_kill_jobs(S->a, false);
    }
}

static void progress(struct sup *S, bool final)
{
    uint64_t c[ARENA_NSTATES];
    arena_counts(S->a, c);
    uint64_t done = arena_counts_finished(c);
    uint64_t now = vl_now_ns();
    if (now - S->last_t >= 500000000ull || final) {
        double dt = (double)(now - S->last_t) / 1e9;
        double r = dt > 0 ? (double)(done - S->last_done) / dt : 0;
        S->rate = S->last_t == S->t0 ? r : 0.5 * S->rate + 0.5 * r;
        S->last_t = now;
        S->last_done = done;
    }
    if (!S->tty)
        return;
    char eta[32] = "-";
    uint64_t left = S->a->njobs - done;
    if (S->rate > 0.5 && left)
        snprintf(eta, sizeof eta, "%.0fs", (double)left / S->rate);
    /* A job claimed by a worker is running in the arena before it is
     * admitted: those waiting for a unit of -j or for resources are told
     * apart (ctl->running counts the admitted ones). */
    uint64_t waiting = watchlog_waiting(c[ARENA_RUNNING], atomic_load(&S->ctl->running));
    char wait_s[64] = "";
    if (waiting)
        snprintf(wait_s, sizeof wait_s, " (%" PRIu64 " more waiting for capacity)", waiting);
    fprintf(stderr,
            "\r\033[K%" PRIu64 "/%u done, %" PRIu64 " failed, %" PRIu64
            " running%s, %.0f jobs/s, ETA %s",
            done, S->a->njobs, c[ARENA_FAILED] + c[ARENA_TERMINATED], c[ARENA_RUNNING] - waiting,
            wait_s, S->rate, eta);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
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
        if (!S->fatal) {
            S->fatal = 1;
            vl_err_set(&S->fatal_err, VL_ENOTRUN, "worker %u stopped the run: %s", i,
                       S->ctl->w[i].msg[0] ? S->ctl->w[i].msg : "it exited before starting");
        }
        if (!S->stopping) {
            S->stopping = true;
            stop_all(S, SIGTERM);
        }
        return;
    }
    /* A crash: give back what it held of the cap and the capacity, repair
     * the arena from its state words and start another. */
    {
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
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(status));
    else
        snprintf(how, sizeof how, "exited with %d", WEXITSTATUS(status));
    S->crashes++;
    runner_kill_jobs(S->a, true);
    struct arena_recover_stats st;
    struct vl_err err = {0};
    int rc = arena_recover(S->a, ARENA_NONE, 10000, &st, &err);
    arena_wake(S->a); /* whoever waited for the capacity it held */
    if (S->tty)
        fputc('\n', stderr);
    fprintf(stderr, "volley: worker %u (pid %d) %s; %" PRIu64 " of its jobs will run again\n", i,
            (int)pid, how, st.requeued);
    if (rc < 0 || S->crashes > MAX_CRASHES) {
        if (!S->fatal) {
            S->fatal = 1;
            if (rc < 0)
                S->fatal_err = err;
            else
                vl_err_set(&S->fatal_err, VL_ENOTRUN,
                           "workers died %u times (the last: worker %u %s); stopping so that the "
                           "cause can be looked at (volley resume continues)",
                           S->crashes, i, how);
        }
        if (!S->stopping) {
            S->stopping = true;
            stop_all(S, SIGTERM);
        }
        return;
    }
    if (!S->stopping && !arena_done(S->a) && spawn_worker(S, i) < 0 && !S->fatal) {
        S->fatal = 1;
        vl_err_sys(&S->fatal_err, -errno, "cannot start worker %u again", i);
    }
}

/* Prints the last 8 lines of one stream of an attempt under label; false
 * if it is empty or cannot be read. */
static bool show_tail(struct sup *S, uint32_t jid, uint32_t attempt, unsigned stream,
                      const struct logread_ref *hint, const char *label)
{
    char logs[PATH_MAX];
    rundir_path(logs, sizeof logs, S->run_dir, RUNDIR_LOGS);
    int fd = memfd_create("tail", MFD_CLOEXEC);
    if (fd < 0)
        return false;
    struct logread_info info;
    struct vl_err err = {0};
    int rc = logread_copy(logs, jid, attempt, stream, hint, fd, &info, &err);
    off_t len = lseek(fd, 0, SEEK_END);
    size_t want = len > 2048 ? 2048 : (size_t)len;
    char buf[2049];
    ssize_t got = rc == 0 && len > 0 ? pread(fd, buf, want, len - (off_t)want) : -1;
    close(fd);
    if (got <= 0)
        return false;
    buf[got] = 0;
    char *p = buf + got;
    int lines = 0;
    if (p > buf && p[-1] == '\n')
        p--;
    while (p > buf && lines < 8)
        if (*--p == '\n')
            lines++;
    if (*p == '\n')
        p++;
    fprintf(stderr, "  %s:\n", label);
    for (char *l = strtok(p, "\n"); l; l = strtok(NULL, "\n"))
        fprintf(stderr, "  | %s\n", l);
    return true;
}

/* Prints the last lines of what a failed job wrote (stderr, else stdout),
 * of what its recovery script wrote, and volley's notes on the attempt
 * (runtime exceeded, the recovery script's exit, a stream cut). */
static void show_failure(struct sup *S, uint32_t jid)
{
    struct arena_job_rec r;
    arena_job_read(S->a, jid, &r);
    const char *what = r.state == ARENA_TERMINATED ? "was terminated (runtime)" : "failed";
    const char *name = arena_job_name(S->a, jid);
    fprintf(stderr, "volley: job '%s' %s, exit %d, attempt %u\n", name, what, r.exit_code,
            r.attempt);
    struct logread_ref hint = {.log_id = worker_log_ref_id(r.log_ref),
                               .rec = worker_log_ref_rec(r.log_ref)};
    const struct logread_ref *h = r.log_ref ? &hint : NULL;
    if (!show_tail(S, jid, r.attempt, LOG_STDERR, h, "last lines of its stderr"))
        show_tail(S, jid, r.attempt, LOG_STDOUT, h, "last lines of its stdout");
    if (!show_tail(S, jid, r.attempt, LOG_RECOVERY_ERR, h,
                   "last lines of its recovery script's stderr"))
        show_tail(S, jid, r.attempt, LOG_RECOVERY_OUT, h,
                  "last lines of its recovery script's stdout");
    if (show_tail(S, jid, r.attempt, LOG_NOTE, h, "volley's notes on this attempt"))
        fprintf(stderr, "  (all of it: volley logs %s %s [--stderr] [--recovery] [--notes])\n",
                S->run_dir, name);
}

/* DIR/run-stats.json: what this runner process cost, for benchmarks
 * (runner CPU per job: the supervisor and its workers, not the jobs). */
static void write_stats(struct sup *S, double secs)
{
    uint64_t c[ARENA_NSTATES];
    arena_counts(S->a, c);
    struct runstats st = {
        .jobs = S->a->njobs,
        .workers = S->ctl->nworkers,
        .finished_here = arena_counts_finished(c) - S->total_at_start,
        .wall_s = secs,
        .supervisor_cpu_s = (double)vl_cpu_ns() / 1e9,
        .max_running = S->ctl->max_running,
        .worker_restarts = S->crashes,
    };
    for (uint32_t i = 0; i < S->ctl->nworkers; i++) {
        st.workers_cpu_s += (double)atomic_load(&S->ctl->w[i].cpu_ns) / 1e9;
        st.spawned += atomic_load(&S->ctl->w[i].spawned);
    }
    (void)runstats_write(S->run_dir, &st);
}

static void summary(struct sup *S, double secs)
{
    uint64_t c[ARENA_NSTATES];
    arena_counts(S->a, c);
    uint64_t done = arena_counts_finished(c);
    uint64_t here = done - S->total_at_start;
    fprintf(stderr,
            "volley: %s: %" PRIu64 "/%u jobs finished in %.2f s (%.0f jobs/s): %" PRIu64
            " completed, %" PRIu64 " failed, %" PRIu64 " terminated, %" PRIu64 " canceled",
            S->interrupted ? "interrupted"
            : S->fatal     ? "stopped"
                           : "done",
            done, S->a->njobs, secs, secs > 0 ? (double)here / secs : 0.0, c[ARENA_COMPLETED],
            c[ARENA_FAILED], c[ARENA_TERMINATED], c[ARENA_CANCELED]);
    if (c[ARENA_READY] + c[ARENA_RUNNING] + c[ARENA_BLOCKED])
        fprintf(stderr, ", %" PRIu64 " left", c[ARENA_READY] + c[ARENA_RUNNING] + c[ARENA_BLOCKED]);
    fprintf(stderr, "\n");
    uint32_t shown = 0, nfail = 0;
    for (uint32_t j = 0; j < S->a->njobs; j++) {
        enum arena_state st = arena_job_state(S->a, j);
        if (st != ARENA_FAILED && st != ARENA_TERMINATED)
            continue;
        nfail++;
        if (shown < 3) {
            show_failure(S, j);
            shown++;
        }
    }
    if (nfail > shown)
        fprintf(stderr, "volley: %u more failed jobs: volley jobs %s --state failed\n",
                nfail - shown, S->run_dir);
    if (S->interrupted)
        fprintf(stderr, "volley: state saved; continue with: volley resume %s\n", S->run_dir);
}

int runner_go(const struct spec *s, struct snap *db, struct arena *a, const char *arena_path,
              const char *run_dir, const char *workdir, const struct runner_opts *o)
{
    struct sup S = {.s = s, .a = a, .run_dir = run_dir, .o = o, .ctl_fd = -1};
    struct vl_err err = {0};
    int exit_code = VL_EXIT_ENV;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    uint32_t nworkers = o->workers ? o->workers : (uint32_t)ncpu;
    if (nworkers > RUNCTL_MAX_WORKERS)
        nworkers = RUNCTL_MAX_WORKERS;
    uint32_t jcap = o->max_running ? o->max_running : (uint32_t)ncpu;
    if (nworkers > jcap)
        nworkers = jcap; /* a worker with nothing it may run is a waste */

    ssize_t el = readlink("/proc/self/exe", S.exe, sizeof S.exe - 1);
    if (el <= 0) {
        vl_err_sys(&err, -errno, "cannot find my own executable (/proc/self/exe)");
        goto out_early;
    }
    S.exe[el] = 0;

    /* The control page. */
    S.ctl_fd = memfd_create("volley-runctl", 0); /* inherited by workers */
    if (S.ctl_fd < 0 || ftruncate(S.ctl_fd, sizeof(struct runctl)) < 0) {
        vl_err_sys(&err, -errno, "cannot create the run's control page");
        goto out_early;
    }
    S.ctl = mmap(NULL, sizeof(struct runctl), PROT_READ | PROT_WRITE, MAP_SHARED, S.ctl_fd, 0);
    if (S.ctl == MAP_FAILED) {
        S.ctl = NULL;
        vl_err_sys(&err, -errno, "cannot map the run's control page");
        goto out_early;
    }
    struct runctl *c = S.ctl;
    c->magic = RUNCTL_MAGIC;
    c->version = RUNCTL_VERSION;
    c->shape = RUNCTL_SHAPE;
    snprintf(c->arena_path, sizeof c->arena_path, "%s", arena_path);
    snprintf(c->run_dir, sizeof c->run_dir, "%s", run_dir);
    if (rundir_path(c->log_dir, sizeof c->log_dir, run_dir, RUNDIR_LOGS) < 0) {
        vl_err_sys(&err, -ENAMETOOLONG, "cannot use %s as a run directory", run_dir);
        goto out_early;
    }
    snprintf(c->workdir, sizeof c->workdir, "%s", workdir);
    c->supervisor_pid = getpid();
    c->nworkers = nworkers;
    c->max_running = jcap;
    c->kill_grace_ms = o->kill_grace_ms;
    c->cap = o->cap;
    for (uint32_t r = 0; r < s->nrr; r++)
        if (s->rrs[r].num_cpus || s->rrs[r].num_gpus || s->rrs[r].memory_bytes)
            c->use_res = 1;
    if (mkdir(c->log_dir, 0755) < 0 && errno != EEXIST) {
        vl_err_sys(&err, -errno, "cannot create %s", c->log_dir);
        goto out_early;
    }

    /* Signals arrive through sigtimedwait, on this thread only. SIGINT
     * and SIGHUP ignored when volley started (nohup, a background job of a
     * script) stay ignored, here and in the workers, as make leaves them:
     * a blocked signal is queued even when ignored, so it must not be in
     * the set. */
    sigemptyset(&S.stop_sigs);
    static const int stop_sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < VL_ARRAY_LEN(stop_sigs); i++)
        if (vl_stop_signal_taken(stop_sigs[i]))
            sigaddset(&S.stop_sigs, stop_sigs[i]);
    sigset_t set = S.stop_sigs, old;
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    if (o->on_signals_blocked)
        o->on_signals_blocked();
    /* A reader of our output that goes away (`volley run ... | head`) must
     * not end the run: from here on our lines are lost (EPIPE), the jobs
     * go on, and the exit code tells how the run ended. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit: EFBIG, as a full disk */

    struct ckpt_opts copts = {0};
    if (ckpt_start(&S.ck, db, &copts, &err) < 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        goto out_early;
    }
    arena_set_runner(a, getpid(), vl_proc_start(getpid()));
    S.wl = watchlog_open(run_dir, a, &S.ctl->running, o->watch_prev, &cli_warn); /* watch */
    if (S.wl && o->watch_prev) {
        /* what the restore changed (running -> ready: it runs again;
         * failed -> ready with --retry-failed) */
        for (uint32_t j = 0; j < a->njobs; j++)
            if (o->watch_prev[j] != (uint8_t)arena_job_state(a, j)) {
                struct snap_job sj;
                snap_job_read(a, j, &sj);
                watchlog_note(S.wl, j, &sj);
            }
        watchlog_flush(S.wl);
    }

    S.tty = o->progress == 1 || (o->progress < 0 && isatty(2));
    S.t0 = S.last_t = vl_now_ns();
    {
        uint64_t cs[ARENA_NSTATES];
        arena_counts(a, cs);
        S.total_at_start = arena_counts_finished(cs);
        S.last_done = S.total_at_start;
    }

    if (!arena_done(a))
        for (uint32_t i = 0; i < nworkers; i++) {
            /* a stop signal that came while the workers start (a spawn
             * takes ~50 ms here: 32 workers are seconds) is taken now, by
             * the loop below, not after the last spawn */
            struct timespec zero = {0};
            if (sigtimedwait(&S.stop_sigs, NULL, &zero) > 0) {
                take_stop(&S, o);
                break;
            }
            if (spawn_worker(&S, i) < 0) {
                vl_err_sys(&S.fatal_err, -errno, "cannot start worker %u", i);
                S.fatal = 1;
                S.stopping = true;
                stop_all(&S, SIGTERM);
                break;
            }
        }

    uint64_t next_ckpt = vl_now_ns() + (uint64_t)o->ckpt_ms * 1000000ull;
    const uint64_t tick_ns = S.tty ? 200000000ull : 250000000ull;
    while (S.live > 0) {
        uint64_t now = vl_now_ns();
        uint64_t wait = tick_ns;
        if (next_ckpt > now && next_ckpt - now < wait)
            wait = next_ckpt - now;
        struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000ull),
                              .tv_nsec = (long)(wait % 1000000000ull)};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &ts);
        if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
            take_stop(&S, o);
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            on_worker_exit(&S, pid, status);
        now = vl_now_ns();
        if (now >= next_ckpt) {
            ckpt_collect(S.ck, a, S.wl);
            next_ckpt = now + (uint64_t)o->ckpt_ms * 1000000ull;
        }
        progress(&S, false);
    }
    double secs = (double)(vl_now_ns() - S.t0) / 1e9;
    progress(&S, true);

    /* Every worker is gone: the arena is quiet. Workers that stopped left
     * their jobs running; the record says so, and resume runs them again. */
    ckpt_collect(S.ck, a, S.wl);
    watchlog_close(S.wl); /* watch */
    struct vl_err cerr = {0};
    int crc = ckpt_stop(S.ck, &cerr);
    S.ck = NULL;
    uint64_t cs[ARENA_NSTATES];
    arena_counts(a, cs);
    summary(&S, secs);
    write_stats(&S, secs);
    if (S.fatal) {
        cli_print_err(&S.fatal_err);
        if (crc == 0 && !arena_done(a))
            fprintf(stderr,
                    "volley: state saved; once that is mended, continue with: volley resume %s\n",
                    run_dir);
        exit_code = VL_EXIT_ENV;
    } else if (S.interrupted) {
        exit_code = VL_EXIT_INTR;
    } else if (!arena_done(a)) {
        fprintf(stderr, "volley: the workers ended with %" PRIu64 " jobs unfinished\n",
                cs[ARENA_BLOCKED] + cs[ARENA_READY] + cs[ARENA_RUNNING]);
        exit_code = VL_EXIT_ENV;
    } else {
        exit_code = cs[ARENA_COMPLETED] == a->njobs ? VL_EXIT_OK : VL_EXIT_FAIL;
    }
    if (crc < 0) {
        cli_print_err(&cerr);
        fprintf(stderr,
                "volley: the arena %s keeps the run's state; volley resume %s continues from it\n",
                arena_path, run_dir);
        arena_close(a);
        exit_code = VL_EXIT_ENV;
    } else {
        arena_close(a);
        arena_unlink(arena_path);
    }
    snap_close(db);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(S.ctl, sizeof(struct runctl));
    close(S.ctl_fd);
    return exit_code;

out_early:
    cli_print_err(&err);
    if (S.ctl)
        munmap(S.ctl, sizeof(struct runctl));
    if (S.ctl_fd >= 0)
        close(S.ctl_fd);
    snap_close(db);
    arena_close(a);
    arena_unlink(arena_path);
    return exit_code;
}

int cmd_worker(int argc, char **argv)
{
    uint64_t fd, idx;
    if (argc != 3 || vl_parse_u64(argv[1], INT32_MAX, &fd) < 0 ||
        vl_parse_u64(argv[2], RUNCTL_MAX_WORKERS - 1, &idx) < 0) {
        fprintf(stderr, "volley __worker: internal command; volley run starts it\n");
        return VL_EXIT_USAGE;
    }
    return worker_main((int)fd, (uint32_t)idx);
}

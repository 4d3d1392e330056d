/*
 * runstatus.c - the lines a person sees during and after a run
 * (runstatus.h; docs/running.md).
 */
#include "runstatus.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/logread.h"
#include "core/worker.h"
#include "persist/rundir.h"
#include "persist/watchlog.h"
#include "cli.h"

static void progress(void *ctx, const struct run_view *v, bool final)
{
    struct runstatus *h = ctx;
    uint64_t c[ARENA_NSTATES];
    arena_counts(v->a, c);
    uint64_t done = arena_counts_finished(c);
    uint64_t now = vl_now_ns();
    if (!h->started) {
        h->started = true;
        h->last_t = v->t0_ns;
        h->last_done = v->finished_at_start;
    }
    if (now - h->last_t >= 500000000ull || final) {
        double dt = (double)(now - h->last_t) / 1e9;
        double r = dt > 0 ? (double)(done - h->last_done) / dt : 0;
        h->rate = h->last_t == v->t0_ns ? r : 0.5 * h->rate + 0.5 * r;
        h->last_t = now;
        h->last_done = done;
    }
    char eta[32] = "-";
    uint64_t left = v->a->njobs - done;
    if (h->rate > 0.5 && left)
        snprintf(eta, sizeof eta, "%.0fs", (double)left / h->rate);
    /* A job claimed by a worker is running in the arena before it is
     * admitted: those waiting for a unit of -j or for resources are told
     * apart (admitted counts the others). */
    uint64_t waiting = watchlog_waiting(c[ARENA_RUNNING], atomic_load(v->admitted));
    char wait_s[64] = "";
    if (waiting)
        snprintf(wait_s, sizeof wait_s, " (%" PRIu64 " more waiting for capacity)", waiting);
    fprintf(stderr,
            "\r\033[K%" PRIu64 "/%u done, %" PRIu64 " failed, %" PRIu64
            " running%s, %.0f jobs/s, ETA %s",
            done, v->a->njobs, c[ARENA_FAILED] + c[ARENA_TERMINATED], c[ARENA_RUNNING] - waiting,
            wait_s, h->rate, eta);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

static void stopping(void *ctx, const struct run_view *v)
{
    struct runstatus *h = ctx;
    if (h->tty)
        fputc('\n', stderr);
    fprintf(stderr,
            "volley: stopping: running jobs get SIGTERM, SIGKILL after %.1f s "
            "(again to kill at once)\n",
            v->kill_grace_ms / 1000.0);
}

static void worker_died(void *ctx, const struct run_view *v, uint32_t worker, int pid,
                        const char *how, uint64_t requeued)
{
    struct runstatus *h = ctx;
    (void)v;
    if (h->tty)
        fputc('\n', stderr);
    fprintf(stderr, "volley: worker %u (pid %d) %s; %" PRIu64 " of its jobs will run again\n",
            worker, pid, how, requeued);
}

/* Prints the last 8 lines of one stream of an attempt under label; false
 * if it is empty or cannot be read. */
static bool show_tail(const struct run_view *v, uint32_t jid, uint32_t attempt, unsigned stream,
                      const struct logread_ref *hint, const char *label)
{
    char logs[PATH_MAX];
    rundir_path(logs, sizeof logs, v->run_dir, RUNDIR_LOGS);
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
static void show_failure(const struct run_view *v, uint32_t jid)
{
    struct arena_job_rec r;
    arena_job_read(v->a, jid, &r);
    const char *what = r.state == ARENA_TERMINATED ? "was terminated (runtime)" : "failed";
    const char *name = arena_job_name(v->a, jid);
    fprintf(stderr, "volley: job '%s' %s, exit %d, attempt %u\n", name, what, r.exit_code,
            r.attempt);
    struct logread_ref hint = {.log_id = worker_log_ref_id(r.log_ref),
                               .rec = worker_log_ref_rec(r.log_ref)};
    const struct logread_ref *hp = r.log_ref ? &hint : NULL;
    if (!show_tail(v, jid, r.attempt, LOG_STDERR, hp, "last lines of its stderr"))
        show_tail(v, jid, r.attempt, LOG_STDOUT, hp, "last lines of its stdout");
    if (!show_tail(v, jid, r.attempt, LOG_RECOVERY_ERR, hp,
                   "last lines of its recovery script's stderr"))
        show_tail(v, jid, r.attempt, LOG_RECOVERY_OUT, hp,
                  "last lines of its recovery script's stdout");
    if (show_tail(v, jid, r.attempt, LOG_NOTE, hp, "volley's notes on this attempt"))
        fprintf(stderr, "  (all of it: volley logs %s %s [--stderr] [--recovery] [--notes])\n",
                v->run_dir, name);
}

static void summary(const struct run_view *v, const struct run_end *e)
{
    const uint64_t *c = e->counts;
    uint64_t done = arena_counts_finished(c);
    uint64_t here = done - v->finished_at_start;
    double secs = e->secs;
    fprintf(stderr,
            "volley: %s: %" PRIu64 "/%u jobs finished in %.2f s (%.0f jobs/s): %" PRIu64
            " completed, %" PRIu64 " failed, %" PRIu64 " terminated, %" PRIu64 " canceled",
            e->interrupted ? "interrupted"
            : e->fatal     ? "stopped"
                           : "done",
            done, v->a->njobs, secs, secs > 0 ? (double)here / secs : 0.0, c[ARENA_COMPLETED],
            c[ARENA_FAILED], c[ARENA_TERMINATED], c[ARENA_CANCELED]);
    if (c[ARENA_READY] + c[ARENA_RUNNING] + c[ARENA_BLOCKED])
        fprintf(stderr, ", %" PRIu64 " left", c[ARENA_READY] + c[ARENA_RUNNING] + c[ARENA_BLOCKED]);
    fprintf(stderr, "\n");
    uint32_t shown = 0, nfail = 0;
    for (uint32_t j = 0; j < v->a->njobs; j++) {
        enum arena_state st = arena_job_state(v->a, j);
        if (st != ARENA_FAILED && st != ARENA_TERMINATED)
            continue;
        nfail++;
        if (shown < 3) {
            show_failure(v, j);
            shown++;
        }
    }
    if (nfail > shown)
        fprintf(stderr, "volley: %u more failed jobs: volley jobs %s --state failed\n",
                nfail - shown, v->run_dir);
    if (e->interrupted)
        fprintf(stderr, "volley: state saved; continue with: volley resume %s\n", v->run_dir);
}

static void finished(void *ctx, const struct run_view *v, const struct run_end *e)
{
    (void)ctx;
    summary(v, e);
    if (e->fatal) {
        cli_print_err(e->fatal);
        if (!e->ckpt && !e->arena_done)
            fprintf(stderr,
                    "volley: state saved; once that is mended, continue with: volley resume %s\n",
                    v->run_dir);
    } else if (!e->interrupted && !e->arena_done) {
        fprintf(stderr, "volley: the workers ended with %" PRIu64 " jobs unfinished\n",
                e->counts[ARENA_BLOCKED] + e->counts[ARENA_READY] + e->counts[ARENA_RUNNING]);
    }
    if (e->ckpt) {
        cli_print_err(e->ckpt);
        fprintf(stderr,
                "volley: the arena %s keeps the run's state; volley resume %s continues from it\n",
                v->arena_path, v->run_dir);
    }
}

void runstatus_init(struct runstatus *h, int progress_mode)
{
    memset(h, 0, sizeof *h);
    h->tty = progress_mode == 1 || (progress_mode < 0 && isatty(2));
    h->st = (struct run_status){
        .ctx = h,
        .tick_ms = h->tty ? 200 : 250,
        .progress = h->tty ? progress : NULL, /* quiet: nothing to compute */
        .stopping = stopping,
        .worker_died = worker_died,
        .finished = finished,
        .warn = cli_warn,
    };
}

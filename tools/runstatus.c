/*
 * runstatus.c - the lines a person sees during and after a run
 * (runstatus.h; docs/running.md).
 */
#include "runstatus.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/logfmt.h"
#include "core/cgroup.h"
#include "persist/rundir.h"
#include "persist/watchlog.h"
#include "cli.h"
#include "logtail.h"

/* The terminal's columns (stderr's), else $COLUMNS, else 80. */
static int term_width(const struct runstatus *h)
{
    if (h->width > 0)
        return h->width;
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int n = c ? atoi(c) : 0;
    return n > 0 ? n : 80;
}

static void fmt_secs(double s, char *buf, size_t len)
{
    uint64_t t = (uint64_t)(s + 0.5);
    if (s < 60)
        snprintf(buf, len, "%.1fs", s);
    else if (t < 3600)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", t / 60, t % 60);
    else
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", t / 3600, t / 60 % 60);
}

/* One piece of the progress line: shown in order, dropped by rank (the
 * highest first) until the line fits. */
struct part {
    char text[72];
    int rank; /* 0: always */
};

/* p's text from fmt if on, else empty (not shown). */
static void part(struct part *p, int rank, bool on, const char *fmt, ...) VL_PRINTF(4, 5);
static void part(struct part *p, int rank, bool on, const char *fmt, ...)
{
    p->rank = rank;
    p->text[0] = 0;
    if (!on)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->text, sizeof p->text, fmt, ap);
    va_end(ap);
}

/*
 * Joins the parts with ", " into out, dropping the highest ranks until the
 * line is at most width - 1 columns (the last column would make some
 * terminals wrap, and a wrapped line is what \r cannot take back); the
 * first part is cut if it alone is too long. ASCII only: a byte is a
 * column.
 */
static void fit_line(char *out, size_t cap, struct part *p, int n, int width)
{
    int max = width > 1 ? width - 1 : 1;
    bool keep[16];
    int len = 0;
    for (int i = 0; i < n; i++) {
        keep[i] = p[i].text[0] != 0;
        len += keep[i] ? (int)strlen(p[i].text) + (len ? 2 : 0) : 0;
    }
    while (len > max) {
        int worst = -1;
        for (int i = 1; i < n; i++)
            if (keep[i] && (worst < 0 || p[i].rank > p[worst].rank))
                worst = i;
        if (worst < 0)
            break;
        keep[worst] = false;
        len = 0;
        for (int i = 0; i < n; i++)
            len += keep[i] ? (int)strlen(p[i].text) + (len ? 2 : 0) : 0;
    }
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < n && at + 1 < cap; i++)
        if (keep[i])
            at += (size_t)snprintf(out + at, cap - at, "%s%s", at ? ", " : "", p[i].text);
    if ((int)strlen(out) > max)
        out[max] = 0;
}

/* Clears the progress line, if one is up, so that lines can be printed
 * where it was; the next progress call draws it again below them. */
static void clear_line(struct runstatus *h)
{
    if (h->tty && h->line_up) {
        fputs("\r\033[K", stderr);
        h->line_up = false;
    }
}

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
    uint64_t total = v->a->njobs, left = total - done;
    /* A job claimed by a worker is running in the arena before it is
     * admitted: running is what was admitted; of the rest, those waiting
     * for CPUs, memory or GPUs are shown (the capacity holds a
     * reservation for them), not those waiting for a unit of -j. */
    uint64_t admitted = atomic_load(v->admitted);
    uint64_t claimed = c[ARENA_RUNNING];
    uint64_t running = admitted < claimed ? admitted : claimed;
    uint64_t waiting = 0;
    if (v->capacity_wait && atomic_load(v->capacity_wait)) {
        waiting = watchlog_waiting(claimed, admitted);
        if (!waiting)
            waiting = 1;
    }
    struct part p[8];
    int n = 0;
    unsigned pct = total ? (unsigned)(done * 100 / total) : 100;
    uint64_t failed = c[ARENA_FAILED] + c[ARENA_TERMINATED];
    char el[32], eta[32] = "";
    fmt_secs((double)(now - v->t0_ns) / 1e9, el, sizeof el);
    if (h->rate > 0.5 && left && !h->halted)
        fmt_secs((double)left / h->rate, eta, sizeof eta);
    part(&p[n++], 0, true, "[%3u%%] %" PRIu64 "/%" PRIu64 " done", pct, done, total);
    part(&p[n++], 1, failed, "%" PRIu64 " failed", failed);
    part(&p[n++], 3, true, "%" PRIu64 " running", running);
    part(&p[n++], 5, waiting, "%" PRIu64 " waiting for capacity", waiting);
    part(&p[n++], 2, h->halted, "halted: no new jobs");
    part(&p[n++], 6, true, "%.0f jobs/s", h->rate);
    part(&p[n++], 2, true, "%s elapsed", el);
    part(&p[n++], 4, eta[0], "ETA %s", eta);
    char line[512];
    fit_line(line, sizeof line, p, n, term_width(h));
    fprintf(stderr, "\r%s\033[K", line);
    h->line_up = true;
    if (final) {
        fputc('\n', stderr);
        h->line_up = false;
    }
    fflush(stderr);
}

/* One line, before any job starts: how the jobs are governed. */
static void limits(void *ctx, const struct run_view *v, int mode, uint32_t can, bool enforced,
                   const char *why)
{
    (void)ctx;
    (void)v;
    const char *name = cgroup_mode_name(mode);
    if (mode == CGROUP_NONE) {
        fprintf(stderr,
                "volley: limits: none: memory and process limits are not enforced (%s); what a "
                "job leaves is killed through its process group, usage comes from rusage\n",
                why);
        return;
    }
    if (!enforced) {
        fprintf(stderr,
                "volley: limits: %s, not enforced (%s); what a job leaves is killed and "
                "its usage counted through its cgroup\n",
                name, why);
        return;
    }
    bool mem = can & CGROUP_CAN_MEMORY, pids = can & CGROUP_CAN_PIDS;
    const char *has = mem && pids ? "memory and processes"
                      : mem       ? "memory"
                      : pids      ? "processes"
                                  : "";
    const char *lacks = mem && pids ? ""
                        : mem       ? "processes"
                        : pids      ? "memory"
                                    : "memory or processes";
    bool say_why = *lacks && why && *why;
    fprintf(stderr,
            "volley: limits: %s: %s%s%s%s%s%s%s%s; what a job leaves is killed and its usage "
            "counted through its cgroup\n",
            name, *has ? "enforces " : "", has, *has && *lacks ? ", " : "",
            *lacks ? "does not enforce " : "", lacks, say_why ? " (" : "", say_why ? why : "",
            say_why ? ")" : "");
}

static void stopping(void *ctx, const struct run_view *v)
{
    struct runstatus *h = ctx;
    clear_line(h);
    fprintf(stderr,
            "volley: stopping: running jobs get SIGTERM, SIGKILL after %.1f s "
            "(again to kill at once)\n",
            v->kill_grace_ms / 1000.0);
}

/* "in 1m52s" from now to wall-clock ns at */
static const char *fmt_until(uint64_t at, char *buf, size_t len)
{
    uint64_t now = vl_wall_ns();
    uint64_t s = at > now ? (at - now) / 1000000000ull : 0;
    if (s >= 3600)
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
    else
        snprintf(buf, len, "%" PRIu64 "s", s);
    return buf;
}

static void draining(void *ctx, const struct run_view *v, const char *why, uint64_t stop_at)
{
    struct runstatus *h = ctx;
    clear_line(h);
    char in[32];
    if (stop_at)
        fprintf(stderr,
                "volley: %s: the allocation ends soon: only jobs whose runtime ends before the "
                "stop (in %s) start; then exit 75 (resumable)\n",
                why, fmt_until(stop_at, in, sizeof in));
    else
        fprintf(stderr,
                "volley: %s: the allocation ends soon: no more jobs start, running ones "
                "finish; then exit 75 (resumable)\n",
                why);
    (void)v;
}

static void deadline(void *ctx, const struct run_view *v)
{
    struct runstatus *h = ctx;
    clear_line(h);
    fprintf(stderr,
            "volley: the deadline less the kill grace: running jobs get SIGTERM, SIGKILL after "
            "%.1f s; they run again on resume\n",
            v->kill_grace_ms / 1000.0);
}

static void worker_died(void *ctx, const struct run_view *v, uint32_t worker, int pid,
                        const char *how, uint64_t requeued)
{
    struct runstatus *h = ctx;
    (void)v;
    clear_line(h);
    fprintf(stderr, "volley: worker %u (pid %d) %s; %" PRIu64 " of its jobs will run again\n",
            worker, pid, how, requeued);
}

/* Prints the last lines of one stream of an attempt under label; false
 * if it is empty or cannot be read. */
static bool show_tail(const struct run_view *v, uint32_t jid, const struct arena_job_rec *r,
                      unsigned stream, unsigned lines, const char *label)
{
    char buf[2049];
    if (!logtail_read(v->run_dir, jid, r->attempt, stream, r->log_ref, lines, buf, sizeof buf))
        return false;
    fprintf(stderr, "  %s:\n", label);
    for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
        fprintf(stderr, "  | %s\n", l);
    return true;
}

/* "volley: job 'x' failed, exit 3, attempt 1", and what a code means
 * where it is not the job's own: a signal, maybe the memory limit. */
static void failed_line(const struct run_view *v, uint32_t jid, const struct arena_job_rec *r)
{
    int ec = r->exit_code;
    const char *what = r->state == ARENA_TERMINATED ? "was terminated (runtime)" : "failed";
    fprintf(stderr, "volley: job '%s' %s, exit %d, attempt %u", arena_job_name(v->a, jid), what, ec,
            r->attempt);
    if (r->state == ARENA_FAILED && ec == 137)
        fprintf(stderr, " (killed by SIGKILL: out of memory?)");
    else if (r->state == ARENA_FAILED && ec > 128 && ec < 128 + 65)
        fprintf(stderr, " (killed by signal %d)", ec - 128);
    else if (ec == -1)
        fprintf(stderr, " (it could not be started)");
    fputc('\n', stderr);
}

/* The last lines of what a failed job wrote (stderr, else stdout), of
 * what its recovery script wrote, and volley's notes on the attempt
 * (runtime exceeded, the recovery script's exit, a stream cut). */
static void show_output(const struct run_view *v, uint32_t jid, const struct arena_job_rec *r,
                        unsigned lines, bool notes)
{
    if (!show_tail(v, jid, r, LOG_STDERR, lines, "last lines of its stderr"))
        show_tail(v, jid, r, LOG_STDOUT, lines, "last lines of its stdout");
    if (!show_tail(v, jid, r, LOG_RECOVERY_ERR, lines,
                   "last lines of its recovery script's stderr"))
        show_tail(v, jid, r, LOG_RECOVERY_OUT, lines, "last lines of its recovery script's stdout");
    if (notes && show_tail(v, jid, r, LOG_NOTE, lines, "volley's notes on this attempt"))
        fprintf(stderr, "  (all of it: volley logs %s %s [--stderr] [--recovery] [--notes])\n",
                v->run_dir, arena_job_name(v->a, jid));
}

static void show_failure(const struct run_view *v, uint32_t jid)
{
    struct arena_job_rec r;
    arena_job_read(v->a, jid, &r);
    failed_line(v, jid, &r);
    show_output(v, jid, &r, 8, true);
}

/* A job failed for good: announced above the progress line, as ninja
 * does, the first RUNSTATUS_SHOWN with their last lines of output; the
 * rest are counted on the progress line and listed by `volley jobs`. */
static void job_failed(void *ctx, const struct run_view *v, uint32_t jid, uint64_t skipped)
{
    struct runstatus *h = ctx;
    h->failures += skipped + 1;
    if (!h->announce || h->announced > RUNSTATUS_SHOWN)
        return;
    clear_line(h);
    if (h->announced == RUNSTATUS_SHOWN) {
        fprintf(stderr,
                "volley: more jobs failed: they are counted on the progress line, not shown "
                "(volley jobs %s --state failed lists them)\n",
                v->run_dir);
        h->announced++;
        return;
    }
    h->announced++;
    struct arena_job_rec r;
    arena_job_read(v->a, jid, &r);
    failed_line(v, jid, &r);
    show_output(v, jid, &r, RUNSTATUS_TAIL_LINES, false);
    fflush(stderr);
}

static void halting(void *ctx, const struct run_view *v, uint64_t failures)
{
    struct runstatus *h = ctx;
    h->halted = true;
    clear_line(h);
    /* admitted and not given back, and running in the arena: the failed
     * job may still hold its unit of -j, a claimed one that never starts
     * is running in the arena */
    uint64_t c[ARENA_NSTATES];
    arena_counts(v->a, c);
    uint64_t running = VL_MIN((uint64_t)atomic_load(v->admitted), c[ARENA_RUNNING]);
    if (v->max_failures == 1)
        fprintf(stderr, "volley: a job failed (--halt-on-failure): ");
    else
        fprintf(stderr, "volley: %" PRIu64 " jobs failed (--max-failures %u): ", failures,
                v->max_failures);
    fprintf(stderr, "no more jobs start; %" PRIu64 " running will finish (Ctrl-C stops them)\n",
            running);
}

static void summary(struct runstatus *h, const struct run_view *v, const struct run_end *e)
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
            : e->halted    ? "halted"
            : e->deadline  ? "stopped for the allocation's end"
                           : "done",
            done, v->a->njobs, secs, secs > 0 ? (double)here / secs : 0.0, c[ARENA_COMPLETED],
            c[ARENA_FAILED], c[ARENA_TERMINATED], c[ARENA_CANCELED]);
    if (c[ARENA_READY] + c[ARENA_RUNNING] + c[ARENA_BLOCKED])
        fprintf(stderr, ", %" PRIu64 " left", c[ARENA_READY] + c[ARENA_RUNNING] + c[ARENA_BLOCKED]);
    fprintf(stderr, "\n");
    uint64_t nfail = c[ARENA_FAILED] + c[ARENA_TERMINATED];
    if (h->announce && h->announced) {
        /* their output was shown as they ended */
        if (nfail)
            fprintf(stderr, "volley: %" PRIu64 " failed jobs: volley jobs %s --state failed\n",
                    nfail, v->run_dir);
    } else {
        uint32_t shown = 0;
        for (uint32_t j = 0; j < v->a->njobs && shown < 3; j++) {
            enum arena_state st = arena_job_state(v->a, j);
            if (st == ARENA_FAILED || st == ARENA_TERMINATED) {
                show_failure(v, j);
                shown++;
            }
        }
        if (nfail > shown)
            fprintf(stderr, "volley: %" PRIu64 " more failed jobs: volley jobs %s --state failed\n",
                    nfail - shown, v->run_dir);
    }
    if (e->interrupted)
        fprintf(stderr, "volley: state saved; continue with: volley resume %s\n", v->run_dir);
    else if (e->halted && !e->fatal && !e->arena_done)
        fprintf(stderr, "volley: the jobs not started are kept; continue with: volley resume %s\n",
                v->run_dir);
    else if (e->deadline && !e->fatal)
        fprintf(stderr,
                "volley: state saved; exit 75: continue in the next allocation with: volley "
                "resume %s\n",
                v->run_dir);
}

static void finished(void *ctx, const struct run_view *v, const struct run_end *e)
{
    struct runstatus *h = ctx;
    clear_line(h);
    summary(h, v, e);
    if (e->fatal) {
        cli_print_err(e->fatal);
        if (!e->ckpt && !e->arena_done)
            fprintf(stderr,
                    "volley: state saved; once that is mended, continue with: volley resume %s\n",
                    v->run_dir);
    } else if (!e->interrupted && !e->halted && !e->deadline && !e->arena_done) {
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
    h->announce = progress_mode != 0;
    h->st = (struct run_status){
        .ctx = h,
        .tick_ms = h->tty ? 200 : 250,
        .progress = h->tty ? progress : NULL, /* quiet: nothing to compute */
        .stopping = stopping,
        .worker_died = worker_died,
        .limits = limits,
        .finished = finished,
        .job_failed = job_failed,
        .halting = halting,
        .draining = draining,
        .deadline = deadline,
        .warn = cli_warn,
    };
}

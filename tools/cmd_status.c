/*
 * cmd_status.c - `volley status DIR [--json]`: counts by state, rate,
 * elapsed, ETA, whether the runner is alive, the first failed jobs; for a
 * stopped run, its interrupted jobs (running when it stopped) and how to
 * continue; the allocations it went on in (volley.db's table allocation:
 * each run or resume, with its Slurm job, node, times and exit code).
 *
 * Cost independent of the number of jobs: the counts are the arena's
 * (arena_counts, O(worker slots)) while the arena exists, else volley.db's
 * state_count table (snap_info_read); the rate over the last 10 s compares
 * the count now with the supervisor's samples in DIR/rate.bin
 * (watchlog.h). Only the failed-job names need a scan, and only when there
 * are failed jobs: it stops at the first STATUS_FAILED_MAX of them (and
 * attaches the arena again with its job table checked, O(njobs)). The
 * counts-only attach (ARENA_HDR_ONLY) checks the header alone: measured in
 * docs/watching.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "runpick.h"
#include "json.h"
#include "persist/watch.h"
#include "persist/watchlog.h"

#define STATUS_FAILED_MAX 10
#define RATE_WINDOW_NS 10000000000ull

struct status {
    uint64_t total;
    uint64_t counts[WATCH_NSTATES]; /* running jobs of a stopped run: interrupted */
    uint64_t done;
    double rate;    /* last 10 s; < 0: unknown */
    double overall; /* since the run was created */
    double elapsed_s;
    double eta_s;     /* < 0: unknown */
    uint64_t waiting; /* running in the arena, not started (rate.bin) */
    const char *phase;
    char failed[STATUS_FAILED_MAX][256];
    uint32_t nfailed;
};

static int find_failed(struct watch *w, struct status *st, struct vl_err *err)
{
    if (!st->counts[SNAP_STATE_FAILED] && !st->counts[SNAP_STATE_TERMINATED])
        return 0;
    struct arena a;
    if (w->have_arena && arena_attach(&a, w->arena_path, ARENA_RDONLY, NULL) == 0) {
        /* the names need the fully checked job table */
        for (uint32_t j = 0; j < a.njobs && st->nfailed < STATUS_FAILED_MAX; j++) {
            enum arena_state s = arena_job_state(&a, j);
            if (s == ARENA_FAILED || s == ARENA_TERMINATED)
                snprintf(st->failed[st->nfailed++], sizeof st->failed[0], "%s",
                         arena_job_name(&a, j));
        }
        arena_close(&a);
        return 0;
    }
    struct snap_iter *it = NULL;
    int rc = snap_iter_open(&it, w->dir, err);
    struct snap_job r;
    const char *name;
    while (rc >= 0 && st->nfailed < STATUS_FAILED_MAX &&
           (rc = snap_iter_next(it, &r, &name, err)) == 1)
        if (r.state == SNAP_STATE_FAILED || r.state == SNAP_STATE_TERMINATED)
            snprintf(st->failed[st->nfailed++], sizeof st->failed[0], "%s", name);
    snap_iter_close(it);
    return rc < 0 ? rc : 0;
}

/* "2026-11-23 09:30:00", local time (the human output) */
static void fmt_local(uint64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000u);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* How an allocation ended, from the exit code it recorded. */
static const char *alloc_end_name(const struct snap_alloc *a, bool last, bool live)
{
    if (!a->end_ns)
        return last && live ? "running" : "did not end: its runner died (node failure, kill -9)";
    switch (a->exit_code) {
    case VL_EXIT_OK:
        return "every job completed";
    case VL_EXIT_FAIL:
        return "finished, some jobs did not complete";
    case VL_EXIT_AGAIN:
        return "stopped for the allocation's end";
    case VL_EXIT_INTR:
        return "interrupted";
    default:
        return "stopped by an error";
    }
}

#define STATUS_ALLOCS_SHOWN 5

/* The last allocation, if it has not ended and ran on another host: a run
 * that may be live there (status on a login node sees only volley.db:
 * the arena is in the compute node's /dev/shm). NULL otherwise. */
static const struct snap_alloc *elsewhere(const struct snap_info *in, bool live)
{
    if (live || !in->nallocs)
        return NULL;
    const struct snap_alloc *a = &in->allocs[in->nallocs - 1];
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    const char *node = getenv("SLURMD_NODENAME");
    if (a->end_ns || !strcmp(a->node, host) || (node && !strcmp(a->node, node)))
        return NULL;
    return a;
}

static void print_allocs(const struct snap_info *in, bool live)
{
    if (!in->nallocs)
        return;
    uint32_t first = in->nallocs > STATUS_ALLOCS_SHOWN ? in->nallocs - STATUS_ALLOCS_SHOWN : 0;
    printf("  allocations: %u%s\n", in->nallocs, first ? " (the last ones:)" : "");
    for (uint32_t i = first; i < in->nallocs; i++) {
        const struct snap_alloc *a = &in->allocs[i];
        char t0[32], t1[32] = "", job[160] = "";
        fmt_local(a->start_ns, t0, sizeof t0);
        if (a->end_ns)
            fmt_local(a->end_ns, t1, sizeof t1);
        if (a->job_id[0])
            snprintf(job, sizeof job, "Slurm job %s", a->job_id);
        printf("    #%" PRId64 " %s%s", a->seq, job, job[0] ? " " : "");
        if (a->restart >= 0)
            printf("(restart %" PRId64 ") ", a->restart);
        printf("on %s, %s%s%s: %s", a->node, t0, t1[0] ? " to " : "", t1,
               alloc_end_name(a, i + 1 == in->nallocs, live));
        if (a->end_ns)
            printf(" (exit %d)", a->exit_code);
        printf("\n");
    }
}

static void json_allocs(struct json *j, const struct snap_info *in, bool live)
{
    json_key(j, "allocations");
    json_arr_begin(j);
    for (uint32_t i = 0; i < in->nallocs; i++) {
        const struct snap_alloc *a = &in->allocs[i];
        char t[48];
        json_obj_begin(j);
        json_kv_int(j, "seq", a->seq);
        json_key(j, "job_id");
        if (a->job_id[0])
            json_str(j, a->job_id);
        else
            json_null(j);
        json_kv_str(j, "node", a->node);
        json_key(j, "restart");
        if (a->restart >= 0)
            json_int(j, a->restart);
        else
            json_null(j);
        json_fmt_time(a->start_ns, t, sizeof t);
        json_kv_str(j, "start", t);
        json_key(j, "end");
        if (a->end_ns) {
            json_fmt_time(a->end_ns, t, sizeof t);
            json_str(j, t);
        } else {
            json_null(j);
        }
        json_key(j, "deadline");
        if (a->deadline_ns) {
            json_fmt_time(a->deadline_ns, t, sizeof t);
            json_str(j, t);
        } else {
            json_null(j);
        }
        json_key(j, "exit_code");
        if (a->end_ns)
            json_int(j, a->exit_code);
        else
            json_null(j);
        json_kv_str(j, "how", alloc_end_name(a, i + 1 == in->nallocs, live));
        json_obj_end(j);
    }
    json_arr_end(j);
}

static void fmt_secs(double s, char *buf, size_t len)
{
    if (s < 0) {
        snprintf(buf, len, "-");
        return;
    }
    uint64_t t = (uint64_t)(s + 0.5);
    if (t < 60)
        snprintf(buf, len, "%.1fs", s);
    else if (t < 3600)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", t / 60, t % 60);
    else
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", t / 3600, t / 60 % 60);
}

/* The figures of a run: counts by state, phase, elapsed, rates, ETA. */
static void status_compute(struct watch *w, struct status *st)
{
    *st = (struct status){.total = w->info.njobs, .rate = -1, .eta_s = -1};
    uint64_t now = vl_wall_ns();
    if (w->have_arena) {
        uint64_t ac[ARENA_NSTATES];
        arena_counts(&w->a, ac);
        for (int s = 0; s < SNAP_NSTATES; s++)
            st->counts[s] = ac[s]; /* same numbering (snap_job_from_arena) */
    } else {
        memcpy(st->counts, w->info.counts, sizeof st->counts);
    }
    if (!w->live) { /* nothing runs them: resume will */
        st->counts[WATCH_INTERRUPTED] = st->counts[SNAP_STATE_RUNNING];
        st->counts[SNAP_STATE_RUNNING] = 0;
    }
    st->done = st->counts[SNAP_STATE_COMPLETED] + st->counts[SNAP_STATE_FAILED] +
               st->counts[SNAP_STATE_TERMINATED] + st->counts[SNAP_STATE_CANCELED];
    uint64_t end = w->live               ? now
                   : w->info.finished_ns ? w->info.finished_ns
                                         : w->info.checkpoint_ns;
    st->elapsed_s = end > w->info.created_ns ? (double)(end - w->info.created_ns) / 1e9 : 0;
    st->overall = st->elapsed_s > 0 ? (double)st->done / st->elapsed_s : 0;
    /* finished_ns is also set when a run stopped early (Ctrl-C, cancel) */
    st->phase = w->live ? "running" : st->done == st->total ? "finished" : "stopped";
    if (w->live) {
        struct watchlog_rate r;
        if (watchlog_rate_load(w->dir, &r)) {
            st->rate = watchlog_rate_of(&r, now, st->done, RATE_WINDOW_NS);
            st->waiting = r.waiting < st->counts[SNAP_STATE_RUNNING]
                              ? r.waiting
                              : st->counts[SNAP_STATE_RUNNING];
        }
        if (st->rate > 0)
            st->eta_s = (double)(st->total - st->done) / st->rate;
    } else {
        st->rate = 0;
        if (st->done == st->total)
            st->eta_s = 0;
    }
}

/* status --json; returns json_finish's code. */
static int print_json(const struct watch *w, const struct status *st)
{
    struct json j;
    json_init(&j, stdout, true);
    json_obj_begin(&j);
    json_kv_str(&j, "run_dir", w->dir);
    json_kv_str(&j, "workflow", w->info.workflow ? w->info.workflow : "");
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", w->info.run_id[i]);
    json_kv_str(&j, "run_id", hex);
    json_kv_uint(&j, "total", st->total);
    json_key(&j, "states");
    json_obj_begin(&j);
    for (unsigned s = 0; s < WATCH_NSTATES; s++)
        json_kv_uint(&j, watch_state_name(s), st->counts[s]);
    json_obj_end(&j);
    json_kv_uint(&j, "running", st->counts[SNAP_STATE_RUNNING] - st->waiting);
    json_kv_uint(&j, "waiting", st->waiting);
    json_kv_uint(&j, "done", st->done);
    /* json.h writes a non-finite double as null: unknown */
    json_kv_double(&j, "rate_per_s", st->rate >= 0 ? st->rate : NAN);
    json_kv_double(&j, "rate_overall_per_s", st->overall);
    json_kv_double(&j, "elapsed_s", st->elapsed_s);
    json_kv_double(&j, "eta_s", st->eta_s >= 0 ? st->eta_s : NAN);
    json_kv_bool(&j, "live", w->live);
    json_kv_str(&j, "phase", st->phase);
    json_kv_str(&j, "source", w->have_arena ? "arena" : "checkpoint");
    json_key(&j, "continue_with"); /* what to type to go on; null if nothing */
    if (!strcmp(st->phase, "stopped")) {
        char cont[PATH_MAX + 16];
        snprintf(cont, sizeof cont, "volley resume %s", w->dir);
        json_str(&j, cont);
    } else {
        json_null(&j);
    }
    /* how the jobs were governed, and the CPU they used (docs/limits.md):
     * as of the last checkpoint */
    json_key(&j, "limits");
    if (w->info.limits)
        json_str(&j, w->info.limits);
    else
        json_null(&j);
    json_kv_double(&j, "cpu_s", (double)w->info.cpu_ms / 1e3);
    json_key(&j, "failed_jobs");
    json_arr_begin(&j);
    for (uint32_t i = 0; i < st->nfailed; i++)
        json_str(&j, st->failed[i]);
    json_arr_end(&j);
    json_allocs(&j, &w->info, w->live);
    /* the node the run may be live on (its last allocation has not
     * ended there); null if none or here */
    json_key(&j, "elsewhere");
    const struct snap_alloc *ea = elsewhere(&w->info, w->live);
    if (ea)
        json_str(&j, ea->node);
    else
        json_null(&j);
    json_obj_end(&j);
    return json_finish(&j);
}

/* status for a person. */
static void print_text(const struct watch *w, const struct status *st)
{
    char el[32], eta[32];
    fmt_secs(st->elapsed_s, el, sizeof el);
    fmt_secs(st->eta_s, eta, sizeof eta);
    printf("run %s (%s): %s%s\n", w->dir, w->info.workflow ? w->info.workflow : "", st->phase,
           w->have_arena || w->info.finished_ns ? "" : " (as of its last checkpoint)");
    printf("  %" PRIu64 "/%" PRIu64 " done:", st->done, st->total);
    for (unsigned s = 0; s < WATCH_NSTATES; s++)
        if (s < SNAP_NSTATES || st->counts[s])
            printf("%s %" PRIu64 " %s", s ? "," : "", st->counts[s], watch_state_name(s));
    printf("\n  ");
    if (st->waiting)
        printf("waiting for capacity (-j, --cpus, --memory, --gpus): %" PRIu64 " of the %" PRIu64
               " running, not started yet\n  ",
               st->waiting, st->counts[SNAP_STATE_RUNNING]);
    if (st->rate >= 0 && w->live)
        printf("%.1f jobs/s (last 10 s), ", st->rate);
    printf("%.1f jobs/s overall, elapsed %s, ETA %s\n", st->overall, el, eta);
    if (!strcmp(st->phase, "stopped"))
        printf("  stopped%s: continue with: volley resume %s\n",
               st->counts[WATCH_INTERRUPTED] ? " (its interrupted jobs run again)" : "", w->dir);
    if (w->info.limits)
        printf("  limits: %s; the jobs used %.1f s of CPU\n", w->info.limits,
               (double)w->info.cpu_ms / 1e3);
    if (st->nfailed) {
        printf("  failed:");
        for (uint32_t i = 0; i < st->nfailed; i++)
            printf("%s %s", i ? "," : "", st->failed[i]);
        uint64_t nf = st->counts[SNAP_STATE_FAILED] + st->counts[SNAP_STATE_TERMINATED];
        if (nf > st->nfailed)
            printf(" (and %" PRIu64 " more: volley jobs %s --state failed)", nf - st->nfailed,
                   w->dir);
        printf("\n");
    }
    print_allocs(&w->info, w->live);
    const struct snap_alloc *ea = elsewhere(&w->info, w->live);
    if (ea) {
        char job[96] = "";
        if (ea->job_id[0])
            snprintf(job, sizeof job, " (Slurm job %s)", ea->job_id);
        printf("  allocation #%" PRId64 "%s on %s has not ended: the run may be live there; "
               "this is its last checkpoint\n",
               ea->seq, job, ea->node);
    }
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'J'}, {NULL, 0, NULL, 0}};
    bool as_json;
    const char *word;
    int urc = cli_json_word("status", argc, argv, opts, &as_json, &word);
    if (urc != 0)
        return urc;
    struct vl_err err = {0};
    struct watch w;
    char dir[PATH_MAX];
    int prc = runpick_dir("status", word, dir, sizeof dir);
    if (prc != 0)
        return prc;
    if (watch_open(&w, dir, WATCH_COUNTS_ONLY, &err) < 0) {
        watch_close(&w);
        return cli_print_err(&err);
    }
    struct status st;
    status_compute(&w, &st);
    int rc = find_failed(&w, &st, &err);
    if (rc < 0) {
        watch_close(&w);
        return cli_print_err(&err);
    }

    if (as_json)
        rc = print_json(&w, &st);
    else
        print_text(&w, &st);
    rc = cli_stdout_check(&err, rc);
    watch_close(&w);
    if (rc < 0)
        return cli_print_err(&err);
    return 0;
}

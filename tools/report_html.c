/*
 * report_html.c - the page of `volley report` (report_html.h).
 *
 * The template (tools/report.html) is compiled into the binary as
 * report_template[] (cmake/embed.cmake); its line VOLLEY_REPORT_DATA (the
 * data mark, the only line with that word) is replaced by one JSON
 * document: the run's summary, the timeline, the series, the classes, the
 * failures (with the last lines of their output, read from the logs), the
 * slowest jobs. The JSON is written to memory first and copied with every
 * '<' as \u003c, so no string in it (a job name, a line of output) can end
 * the <script> element it sits in; '<' occurs only inside JSON strings,
 * where the escape means the same.
 *
 * Size: up to REPORT_MAX_BARS started jobs, one bar each (~40 bytes, with
 * its name ~60 more); beyond, the timeline is binned: rows x bins cells of
 * one character each (the share of the cell's time its lane ran a job, in
 * 63rds), so a 1M-job run at -j 256 is ~260 KB of timeline, whatever the
 * number of jobs. docs/report.md has the measured sizes.
 */
#include "report_html.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/logfmt.h"
#include "persist/report.h"
#include "logtail.h"

extern const char report_template[];
extern const unsigned long report_template_len;

#define MARK "\nVOLLEY_REPORT_DATA\n" /* a line of its own in the template */
/* 64 characters for the 64 levels of a binned cell; JSON-safe, not '<' */
static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

static double ms_of(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* a double rounded to 3 decimals (sub-ms times, averages): smaller JSON */
static void json_d3(struct json *j, double v)
{
    json_double(j, round(v * 1000) / 1000);
}

static void kv_size_or_null(struct json *j, const char *key, uint64_t v)
{
    json_key(j, key);
    if (v)
        json_uint(j, v);
    else
        json_null(j);
}

void report_json_class(struct json *j, const struct report_class *c, bool full)
{
    json_obj_begin(j);
    json_kv_str(j, "name", c->name);
    json_kv_uint(j, "jobs", c->jobs);
    kv_size_or_null(j, "memory_bytes", c->memory_bytes);
    json_key(j, "max_rss_bytes_max");
    c->with_usage ? json_uint(j, c->max_rss_max) : json_null(j);
    json_key(j, "max_rss_bytes_p95");
    c->with_usage ? json_uint(j, c->max_rss_p95) : json_null(j);
    kv_size_or_null(j, "num_cpus", c->num_cpus);
    json_kv_double(j, "cpu_efficiency", c->cpu_efficiency >= 0 ? c->cpu_efficiency : NAN);
    json_kv_str(j, "verdict", report_verdict_name(c->verdict));
    kv_size_or_null(j, "suggested_memory_bytes", c->suggested_memory);
    if (full) {
        kv_size_or_null(j, "num_gpus", c->num_gpus);
        json_kv_double(j, "runtime_s", c->runtime_ms ? (double)c->runtime_ms / 1000 : NAN);
        json_kv_uint(j, "ran", c->ran);
        json_kv_uint(j, "with_usage", c->with_usage);
        json_kv_double(j, "cpu_s", c->with_usage ? c->cpu_s : NAN);
        json_kv_double(j, "longest_s", c->longest_s >= 0 ? c->longest_s : NAN);
        json_kv_uint(j, "oom_killed", c->oom_killed);
        json_kv_uint(j, "terminated", c->terminated);
        json_kv_uint(j, "near_memory", c->near_memory);
        json_kv_uint(j, "near_runtime", c->near_runtime);
        json_kv_double(j, "suggested_runtime_s",
                       c->suggested_runtime_ms ? (double)c->suggested_runtime_ms / 1000 : NAN);
    }
    json_obj_end(j);
}

static void write_run(struct json *j, const struct report *r)
{
    json_key(j, "run");
    json_obj_begin(j);
    json_kv_str(j, "run_dir", r->dir);
    json_kv_str(j, "workflow", r->info.workflow ? r->info.workflow : "");
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", r->info.run_id[i]);
    json_kv_str(j, "run_id", hex);
    json_kv_double(j, "created_ms", ms_of(r->info.created_ns));
    json_kv_double(j, "snapshot_ms", ms_of(r->now_ns));
    json_kv_bool(j, "live", r->live);
    json_kv_str(j, "phase", r->phase);
    json_kv_str(j, "source", r->from_arena ? "arena" : "checkpoint");
    json_kv_uint(j, "total", r->spec.njobs);
    json_kv_uint(j, "done", r->done);
    json_key(j, "states");
    json_obj_begin(j);
    for (unsigned s = 0; s < WATCH_NSTATES; s++)
        json_kv_uint(j, watch_state_name(s), r->counts[s]);
    json_obj_end(j);
    json_kv_double(j, "elapsed_s", r->elapsed_s);
    json_kv_double(j, "rate_overall_per_s", r->elapsed_s > 0 ? (double)r->done / r->elapsed_s : 0);
    json_kv_bool(j, "usage", r->have_usage);
    json_kv_double(j, "cpu_s", r->have_usage ? r->cpu_s : NAN);
    /* how the jobs were governed, as status --json's "limits" (docs/limits.md):
     * null for a run before schema SNAP_SCHEMA_GOV or one that never started */
    json_key(j, "limits_backend");
    if (r->info.limits)
        json_str(j, r->info.limits);
    else
        json_null(j);
    json_key(j, "limits_why");
    if (r->info.limits_why && r->info.limits_why[0])
        json_str(j, r->info.limits_why);
    else
        json_null(j);
    json_key(j, "options");
    json_arr_begin(j);
    for (uint32_t i = 0; i < r->info.nopts; i++) {
        json_arr_begin(j);
        json_str(j, r->info.opts[i].name);
        json_str(j, r->info.opts[i].value);
        json_arr_end(j);
    }
    json_arr_end(j);
    /* each run or resume, with the batch job it ran in (docs/slurm.md) */
    json_key(j, "allocations");
    json_arr_begin(j);
    for (uint32_t i = 0; i < r->info.nallocs; i++) {
        const struct snap_alloc *a = &r->info.allocs[i];
        json_obj_begin(j);
        json_kv_int(j, "seq", a->seq);
        json_kv_str(j, "job_id", a->job_id);
        json_kv_str(j, "node", a->node);
        json_kv_int(j, "restart", a->restart);
        json_kv_double(j, "start_ms", ms_of(a->start_ns));
        json_kv_double(j, "end_ms", a->end_ns ? ms_of(a->end_ns) : NAN);
        json_kv_double(j, "deadline_ms", a->deadline_ns ? ms_of(a->deadline_ns) : NAN);
        json_kv_double(j, "exit_code", a->end_ns ? a->exit_code : NAN);
        json_obj_end(j);
    }
    json_arr_end(j);
    json_obj_end(j);
}

static void write_timeline(struct json *j, const struct report *r)
{
    json_key(j, "timeline");
    json_obj_begin(j);
    json_kv_double(j, "t0_ms", ms_of(r->t0_ns));
    json_kv_double(j, "t1_ms", ms_of(r->t1_ns));
    json_kv_uint(j, "lanes", r->nlanes);
    json_kv_uint(j, "spans", r->nspans);
    if (r->nspans <= REPORT_MAX_BARS) {
        json_kv_str(j, "mode", "jobs");
        json_key(j, "jobs");
        json_arr_begin(j);
        for (uint32_t i = 0; i < r->nspans; i++) {
            const struct report_span *sp = &r->spans[i];
            json_arr_begin(j);
            json_uint(j, sp->lane);
            json_d3(j, ms_of(sp->start_ns - r->t0_ns));
            json_d3(j, ms_of(sp->end_ns - sp->start_ns));
            json_uint(j, report_job_state(r, sp->jid));
            json_uint(j, i);
            json_arr_end(j);
        }
        json_arr_end(j);
        json_key(j, "names");
        json_arr_begin(j);
        for (uint32_t i = 0; i < r->nspans; i++)
            json_str(j, spec_job_name(&r->spec, r->spans[i].jid));
        json_arr_end(j);
    } else {
        struct report_bins b;
        report_bins(r, REPORT_HTML_TIMELINE_BINS, &b);
        json_kv_str(j, "mode", "bins");
        json_kv_uint(j, "rows", b.rows);
        json_kv_uint(j, "lanes_per_row", b.lanes_per_row);
        json_kv_uint(j, "nbins", b.nbins);
        json_kv_double(j, "bin_ms", ms_of(b.bin_ns));
        json_kv_str(j, "alphabet", alphabet);
        size_t cells = (size_t)b.rows * b.nbins;
        char *busy = vl_xmalloc(cells + 1);
        for (size_t i = 0; i < cells; i++) {
            double v = b.busy[i] < 0 ? 0 : b.busy[i] > 1 ? 1 : b.busy[i];
            long q = lround(v * 63);
            if (q == 0 && b.busy[i] > 0.001)
                q = 1; /* a job ran there: never drawn as idle */
            busy[i] = alphabet[q];
        }
        busy[cells] = 0;
        json_kv_str(j, "busy", busy);
        free(busy);
        json_key(j, "fail");
        json_arr_begin(j);
        for (size_t i = 0; i < cells; i++)
            if (b.fail[i]) {
                json_arr_begin(j);
                json_uint(j, i / b.nbins);
                json_uint(j, i % b.nbins);
                json_uint(j, b.fail[i]);
                json_arr_end(j);
            }
        json_arr_end(j);
        report_bins_fini(&b);
    }
    json_key(j, "barriers");
    json_arr_begin(j);
    for (uint32_t i = 0; i < r->nbarriers; i++) {
        uint32_t jid = r->barriers[i];
        json_obj_begin(j);
        json_kv_str(j, "name", spec_job_name(&r->spec, jid));
        json_kv_double(j, "t_ms", ms_of(r->jobs[jid].end_ns - r->t0_ns));
        json_obj_end(j);
    }
    json_arr_end(j);
    json_obj_end(j);
}

static void write_series(struct json *j, const struct report *r)
{
    struct report_series s;
    report_series(r, REPORT_HTML_SERIES_BINS, &s);
    json_key(j, "series");
    json_obj_begin(j);
    json_kv_uint(j, "nbins", s.nbins);
    json_kv_double(j, "t0_ms", ms_of(s.t0_ns));
    json_kv_double(j, "bin_ms", ms_of(s.bin_ns));
    const uint32_t *counts[2] = {s.completed, s.failed};
    const char *ckeys[2] = {"completed", "failed"};
    for (int k = 0; k < 2; k++) {
        json_key(j, ckeys[k]);
        json_arr_begin(j);
        for (uint32_t i = 0; i < s.nbins; i++)
            json_uint(j, counts[k][i]);
        json_arr_end(j);
    }
    const float *avg[2] = {s.running, s.ready};
    const char *akeys[2] = {"running", "ready"};
    for (int k = 0; k < 2; k++) {
        json_key(j, akeys[k]);
        json_arr_begin(j);
        for (uint32_t i = 0; i < s.nbins; i++)
            json_d3(j, avg[k][i]);
        json_arr_end(j);
    }
    json_obj_end(j);
    report_series_fini(&s);
}

/* Why a job failed, in words. */
static void reason_of(const struct snap_job *jb, char *buf, size_t len)
{
    int ec = jb->exit_code;
    if (jb->state == SNAP_STATE_TERMINATED)
        snprintf(buf, len, "terminated: ran past its runtime (exit %d)", ec);
    else if (ec == -1)
        snprintf(buf, len, "could not be started");
    else if (ec == 137)
        snprintf(buf, len, "killed by SIGKILL (exit 137: out of memory?)");
    else if (ec > 128 && ec < 128 + 65)
        snprintf(buf, len, "killed by signal %d (exit %d)", ec - 128, ec);
    else
        snprintf(buf, len, "exit %d", ec);
}

static void write_failures(struct json *j, const struct report *r)
{
    uint32_t ids[REPORT_HTML_FAILURES];
    uint64_t total = report_failures(r, ids, REPORT_HTML_FAILURES);
    uint32_t shown = (uint32_t)VL_MIN(total, (uint64_t)REPORT_HTML_FAILURES);
    json_key(j, "failures");
    json_obj_begin(j);
    json_kv_uint(j, "total", total); /* failed and terminated: the ones listed */
    json_key(j, "by_state");
    json_obj_begin(j);
    json_kv_uint(j, "failed", r->counts[SNAP_STATE_FAILED]);
    json_kv_uint(j, "terminated", r->counts[SNAP_STATE_TERMINATED]);
    json_kv_uint(j, "canceled", r->counts[SNAP_STATE_CANCELED]);
    json_obj_end(j);
    json_key(j, "shown");
    json_arr_begin(j);
    static char buf[4096];
    for (uint32_t i = 0; i < shown; i++) {
        const struct snap_job *jb = &r->jobs[ids[i]];
        json_obj_begin(j);
        json_kv_str(j, "name", spec_job_name(&r->spec, ids[i]));
        json_kv_str(j, "state", watch_state_name(jb->state));
        json_kv_int(j, "exit_code", jb->exit_code);
        json_kv_uint(j, "attempt", jb->attempt);
        json_kv_double(j, "end_ms", ms_of(jb->end_ns));
        char why[96];
        reason_of(jb, why, sizeof why);
        json_kv_str(j, "reason", why);
        static const struct {
            unsigned stream;
            const char *key;
        } tails[] = {{LOG_STDERR, "stderr"}, {LOG_STDOUT, "stdout"}, {LOG_NOTE, "notes"}};
        bool err_seen = false;
        for (size_t t = 0; t < VL_ARRAY_LEN(tails); t++) {
            if (tails[t].stream == LOG_STDOUT && err_seen)
                continue; /* stdout only when stderr is empty */
            size_t n = jb->attempt ? logtail_read(r->dir, ids[i], jb->attempt, tails[t].stream,
                                                  jb->log_ref, 10, buf, sizeof buf)
                                   : 0;
            if (tails[t].stream == LOG_STDERR)
                err_seen = n > 0;
            json_key(j, tails[t].key);
            n ? json_strn(j, buf, n) : json_null(j);
        }
        json_obj_end(j);
    }
    json_arr_end(j);
    json_obj_end(j);
}

static void write_slowest(struct json *j, const struct report *r)
{
    uint32_t ids[REPORT_HTML_SLOWEST];
    uint32_t n = report_slowest(r, ids, REPORT_HTML_SLOWEST);
    json_key(j, "slowest");
    json_arr_begin(j);
    for (uint32_t i = 0; i < n; i++) {
        const struct snap_job *jb = &r->jobs[ids[i]];
        json_obj_begin(j);
        json_kv_str(j, "name", spec_job_name(&r->spec, ids[i]));
        json_kv_str(j, "state", watch_state_name(jb->state));
        json_kv_double(j, "secs", (double)(jb->end_ns - jb->start_ns) / 1e9);
        json_kv_double(j, "start_ms", ms_of(jb->start_ns));
        json_obj_end(j);
    }
    json_arr_end(j);
}

int report_html_write(FILE *f, const struct report *r, struct vl_err *err)
{
    const char *tpl = report_template;
    const char *mark = strstr(tpl, MARK);
    if (!mark)
        return vl_err_set(err, -EINVAL, "the report template has no data mark (a build error)");
    char *data = NULL;
    size_t data_len = 0;
    FILE *m = open_memstream(&data, &data_len);
    if (!m)
        return vl_err_sys(err, -errno, "cannot make the report's data");
    struct json j;
    json_init(&j, m, false);
    json_obj_begin(&j);
    json_kv_uint(&j, "format", 1);
    write_run(&j, r);
    write_timeline(&j, r);
    write_series(&j, r);
    json_key(&j, "classes");
    json_arr_begin(&j);
    for (uint32_t i = 0; i < r->nclasses; i++)
        report_json_class(&j, &r->classes[i], true);
    json_arr_end(&j);
    write_failures(&j, r);
    write_slowest(&j, r);
    json_obj_end(&j);
    if (fclose(m) != 0) {
        free(data);
        return vl_err_sys(err, -ENOMEM, "cannot make the report's data");
    }
    fwrite(tpl, 1, (size_t)(mark - tpl) + 1, f); /* up to the mark's line */
    const char *p = data, *end = data + data_len;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        size_t n = lt ? (size_t)(lt - p) : (size_t)(end - p);
        fwrite(p, 1, n, f);
        if (!lt)
            break;
        fputs("\\u003c", f);
        p = lt + 1;
    }
    free(data);
    const char *rest = mark + strlen(MARK) - 1; /* from the newline after it */
    fwrite(rest, 1, report_template_len - (size_t)(rest - tpl), f);
    return 0;
}

/*
 * report_res.c - the resource classes of a report and their verdicts
 * (report.h, struct report_class; docs/report.md has the rules), what
 * `volley report --resources` prints and the page's class table shows.
 *
 * The rules (torc's check-resource-utilization and correct-resources are
 * the model):
 *   over     a job was OOM-killed (failed, exit 137), ran past its runtime
 *            (terminated), or came within 10% of the memory request or the
 *            runtime: raise it;
 *   under    the 95th percentile of peak memory is below half the request:
 *            lower it;
 *   ok       neither;
 *   unknown  no usage recorded and nothing was killed: no verdict.
 * The suggested memory is the largest peak plus 20%, rounded up to a MiB
 * (never more than the request for `under`; at least twice the request
 * when a job was OOM-killed, since a killed job's peak is cut at the
 * limit). The suggested runtime, when over on time, is 1.5x the longest
 * attempt (twice the limit if one was terminated), rounded up to a minute.
 *
 * The 95th percentile needs the peaks of each class in order: they are
 * gathered by class (a counting sort) and each class sorted, O(n log n)
 * over the jobs with usage.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

#define MIB (1024ull * 1024)

static uint64_t round_up(double v, uint64_t unit)
{
    if (!(v > 0))
        return unit;
    double u = ceil(v / (double)unit);
    return u >= 1.8e19 / (double)unit ? UINT64_MAX / unit * unit : (uint64_t)u * unit;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void judge(struct report_class *c)
{
    bool killed = c->oom_killed || c->terminated;
    if (killed || c->near_memory || c->near_runtime)
        c->verdict = REPORT_OVER;
    else if (!c->with_usage)
        c->verdict = REPORT_UNKNOWN;
    else if (c->memory_bytes && c->max_rss_p95 < c->memory_bytes / 2)
        c->verdict = REPORT_UNDER;
    else
        c->verdict = REPORT_OK;
    uint64_t peak = c->with_usage ? round_up((double)c->max_rss_max * 1.2, MIB) : 0;
    switch (c->verdict) {
    case REPORT_OVER:
        c->suggested_memory = peak ? peak : c->memory_bytes;
        if (c->oom_killed && c->memory_bytes && c->suggested_memory < 2 * c->memory_bytes)
            c->suggested_memory = 2 * c->memory_bytes;
        if (c->oom_killed && !c->memory_bytes && !peak)
            c->suggested_memory = 0;
        if (c->terminated || c->near_runtime) {
            double ms = c->longest_s > 0 ? c->longest_s * 1500.0 : 0;
            if (c->terminated && (double)c->runtime_ms * 2 > ms)
                ms = (double)c->runtime_ms * 2;
            c->suggested_runtime_ms = round_up(ms, 60000);
        }
        break;
    case REPORT_UNDER:
        c->suggested_memory = VL_MIN(peak, c->memory_bytes);
        break;
    case REPORT_OK:
        c->suggested_memory = c->memory_bytes ? c->memory_bytes : peak;
        break;
    case REPORT_UNKNOWN:
    default:
        c->suggested_memory = 0;
    }
}

int report__classes(struct report *r, struct vl_err *err)
{
    const struct spec *s = &r->spec;
    uint32_t ncls = s->nrr + 1; /* the last: jobs without a class */
    struct report_class *c = vl_xcalloc(ncls, sizeof *c);
    double *busy_s = vl_xcalloc(ncls, sizeof *busy_s);
    uint64_t *first = vl_xcalloc((size_t)ncls + 1, sizeof *first);
    for (uint32_t k = 0; k < ncls; k++) {
        c[k].rr = k < s->nrr ? k : REPORT_NO_CLASS;
        c[k].name = k < s->nrr ? spec_str(s, s->rrs[k].name_off) : "(none)";
        if (k < s->nrr) {
            c[k].num_cpus = s->rrs[k].num_cpus;
            c[k].num_gpus = s->rrs[k].num_gpus;
            c[k].memory_bytes = s->rrs[k].memory_bytes;
            c[k].runtime_ms = s->rrs[k].runtime_ms;
        }
        c[k].longest_s = -1;
    }
    for (uint32_t j = 0; j < s->njobs; j++) {
        uint32_t k = s->rr[j] < s->nrr ? s->rr[j] : s->nrr;
        struct report_class *x = &c[k];
        const struct snap_job *jb = &r->jobs[j];
        x->jobs++;
        x->ran += jb->attempt > 0;
        x->oom_killed += jb->state == SNAP_STATE_FAILED && jb->exit_code == 137;
        x->terminated += jb->state == SNAP_STATE_TERMINATED;
        double secs = -1;
        if (report__finished(jb->state) && jb->start_ns && jb->end_ns >= jb->start_ns) {
            secs = (double)(jb->end_ns - jb->start_ns) / 1e9;
            if (secs > x->longest_s)
                x->longest_s = secs;
            if (x->runtime_ms && jb->state != SNAP_STATE_TERMINATED &&
                secs * 1000 >= 0.9 * (double)x->runtime_ms)
                x->near_runtime++;
        }
        if (!snap_job_has_usage(jb))
            continue;
        x->with_usage++;
        first[k + 1]++;
        if (jb->max_rss_bytes > x->max_rss_max)
            x->max_rss_max = jb->max_rss_bytes;
        if (x->memory_bytes && (double)jb->max_rss_bytes >= 0.9 * (double)x->memory_bytes)
            x->near_memory++;
        x->cpu_s += jb->cpu_user_s + jb->cpu_sys_s;
        if (secs > 0)
            busy_s[k] += secs * (x->num_cpus ? x->num_cpus : 1);
    }
    /* the peaks by class, each class sorted: p95 by nearest rank */
    for (uint32_t k = 0; k < ncls; k++)
        first[k + 1] += first[k];
    uint64_t *peaks = NULL;
    if (first[ncls]) {
        peaks = vl_alloc_array(first[ncls], sizeof *peaks, false, "the report's peaks", err);
        if (!peaks) {
            free(c);
            free(busy_s);
            free(first);
            return err ? err->code : VL_ETOOBIG;
        }
        uint64_t *at = vl_xcalloc(ncls, sizeof *at);
        for (uint32_t j = 0; j < s->njobs; j++)
            if (snap_job_has_usage(&r->jobs[j])) {
                uint32_t k = s->rr[j] < s->nrr ? s->rr[j] : s->nrr;
                peaks[first[k] + at[k]++] = r->jobs[j].max_rss_bytes;
            }
        free(at);
    }
    uint32_t kept = 0;
    for (uint32_t k = 0; k < ncls; k++) {
        struct report_class *x = &c[k];
        if (!x->jobs)
            continue;
        x->cpu_efficiency = busy_s[k] > 0 ? x->cpu_s / busy_s[k] : -1;
        if (x->with_usage) {
            uint64_t *p = peaks + first[k];
            qsort(p, x->with_usage, sizeof *p, u64_cmp);
            uint64_t rank = (uint64_t)ceil(0.95 * (double)x->with_usage);
            x->max_rss_p95 = p[rank ? rank - 1 : 0];
        }
        judge(x);
        c[kept++] = *x;
    }
    free(peaks);
    free(busy_s);
    free(first);
    r->classes = c;
    r->nclasses = kept;
    return 0;
}

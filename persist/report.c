/*
 * report.c - reading a run for `volley report` (report.h): the records
 * (the arena's over the last checkpoint's), the summary as `volley status`
 * computes it, the timeline's spans and lanes, the barriers, the failures
 * and the slowest jobs. The series and bins are in report_time.c, the
 * resource classes in report_res.c.
 *
 * Lanes: the started jobs sorted by start, each put in the lowest lane
 * that is free at its start (a heap of busy lanes by end, a heap of free
 * lane numbers), a new lane only when none is free. That is interval
 * partitioning: the lanes are exactly the most jobs that ran at once,
 * which -j bounds (a job's -j unit is taken before its start time is read
 * and given back after its end time is), so a run at -j 8 that kept 8 jobs
 * going shows 8 lanes without the slots being recorded.
 */
#include "persist/report.h"

#include <stdlib.h>
#include <string.h>

#include "persist/snap_arena.h"
#include "persist/watch.h"
#include "report_int.h"

const char *report_verdict_name(enum report_verdict v)
{
    switch (v) {
    case REPORT_OK:
        return "ok";
    case REPORT_UNDER:
        return "under";
    case REPORT_OVER:
        return "over";
    case REPORT_UNKNOWN:
    default:
        return "unknown";
    }
}

unsigned report_job_state(const struct report *r, uint32_t jid)
{
    return watch_state(r->jobs[jid].state, r->live);
}

bool report__finished(unsigned state)
{
    return state == SNAP_STATE_COMPLETED || state == SNAP_STATE_FAILED ||
           state == SNAP_STATE_TERMINATED || state == SNAP_STATE_CANCELED;
}

bool report__span_of(const struct report *r, uint32_t jid, uint64_t *start, uint64_t *end)
{
    const struct snap_job *j = &r->jobs[jid];
    if (!j->start_ns || !j->attempt)
        return false;
    unsigned st = report_job_state(r, jid);
    uint64_t e;
    if (report__finished(st))
        e = j->end_ns;
    else if (st == SNAP_STATE_RUNNING)
        e = r->now_ns;
    else if (st == WATCH_INTERRUPTED)
        e = r->stop_ns;
    else
        return false; /* ready or blocked: its start is an earlier attempt's */
    if (!e)
        return false;
    *start = j->start_ns;
    *end = e > j->start_ns ? e : j->start_ns;
    return true;
}

/* ---- a small binary min-heap of (key, value) ---- */

struct heap {
    uint64_t *key;
    uint32_t *val;
    uint32_t n;
};

static void heap_push(struct heap *h, uint64_t key, uint32_t val)
{
    uint32_t i = h->n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (h->key[p] < key || (h->key[p] == key && h->val[p] <= val))
            break;
        h->key[i] = h->key[p];
        h->val[i] = h->val[p];
        i = p;
    }
    h->key[i] = key;
    h->val[i] = val;
}

static uint32_t heap_pop(struct heap *h)
{
    uint32_t top = h->val[0];
    uint64_t k = h->key[--h->n];
    uint32_t v = h->val[h->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && (h->key[c + 1] < h->key[c] ||
                             (h->key[c + 1] == h->key[c] && h->val[c + 1] < h->val[c])))
            c++;
        if (k < h->key[c] || (k == h->key[c] && v <= h->val[c]))
            break;
        h->key[i] = h->key[c];
        h->val[i] = h->val[c];
        i = c;
    }
    h->key[i] = k;
    h->val[i] = v;
    return top;
}

static int span_cmp(const void *a, const void *b)
{
    const struct report_span *x = a, *y = b;
    if (x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return x->jid < y->jid ? -1 : x->jid > y->jid;
}

/* The spans of the started jobs, sorted by start, each in its lane. */
static int make_spans(struct report *r, struct vl_err *err)
{
    uint32_t n = r->spec.njobs, ns = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint64_t s, e;
        ns += report__span_of(r, j, &s, &e);
    }
    r->spans = vl_alloc_array(ns ? ns : 1, sizeof *r->spans, false, "the report's timeline", err);
    if (!r->spans)
        return err ? err->code : VL_ETOOBIG;
    for (uint32_t j = 0; j < n; j++) {
        struct report_span *sp = &r->spans[r->nspans];
        if (report__span_of(r, j, &sp->start_ns, &sp->end_ns)) {
            sp->jid = j;
            sp->lane = REPORT_NO_LANE;
            r->nspans++;
        }
    }
    qsort(r->spans, r->nspans, sizeof *r->spans, span_cmp);
    /* busy: lanes by the end of their job; idle: free lane numbers */
    struct heap busy = {vl_xcalloc(ns + 1, 8), vl_xcalloc(ns + 1, 4), 0};
    struct heap idle = {vl_xcalloc(ns + 1, 8), vl_xcalloc(ns + 1, 4), 0};
    r->t0_ns = r->info.created_ns;
    r->t1_ns = r->info.created_ns;
    for (uint32_t i = 0; i < r->nspans; i++) {
        struct report_span *sp = &r->spans[i];
        while (busy.n && busy.key[0] <= sp->start_ns) {
            uint32_t lane = heap_pop(&busy);
            heap_push(&idle, lane, lane);
        }
        sp->lane = idle.n ? heap_pop(&idle) : r->nlanes++;
        heap_push(&busy, sp->end_ns, sp->lane);
        if (sp->start_ns < r->t0_ns || !r->t0_ns)
            r->t0_ns = sp->start_ns;
        if (sp->end_ns > r->t1_ns)
            r->t1_ns = sp->end_ns;
    }
    if (r->live && r->now_ns > r->t1_ns)
        r->t1_ns = r->now_ns;
    free(busy.key);
    free(busy.val);
    free(idle.key);
    free(idle.val);
    return 0;
}

static int end_cmp_ctx_sort(const void *a, const void *b, void *ctx)
{
    const struct report *r = ctx;
    uint64_t x = r->jobs[*(const uint32_t *)a].end_ns, y = r->jobs[*(const uint32_t *)b].end_ns;
    if (x != y)
        return x < y ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/*
 * Barriers: finished jobs that wait for more jobs than can run at once and
 * release as many (a fan-in then a fan-out, like the gates of
 * examples/rounds.yaml): at such a job the pool drains and refills, which
 * the timeline marks. Twice the lanes, and at least 4, either way.
 */
static void find_barriers(struct report *r)
{
    const struct spec *s = &r->spec;
    uint64_t thr = VL_MAX(4u, 2ull * r->nlanes);
    uint32_t all[REPORT_MAX_BARRIERS * 4];
    uint32_t n = 0;
    for (uint32_t j = 0; j < s->njobs && n < VL_ARRAY_LEN(all); j++)
        if (s->npar[j] >= thr && s->kid_off[j + 1] - s->kid_off[j] >= thr &&
            report__finished(r->jobs[j].state) && r->jobs[j].end_ns)
            all[n++] = j;
    qsort_r(all, n, sizeof *all, end_cmp_ctx_sort, r);
    r->nbarriers = VL_MIN(n, (uint32_t)REPORT_MAX_BARRIERS);
    memcpy(r->barriers, all, r->nbarriers * sizeof *all);
}

/* The records: the checkpoint's, then the arena's where it is attached.
 * The arena holds no usage: a record of the same attempt keeps the
 * checkpoint's. */
static void take_arena(struct report *r, const struct watch *w)
{
    for (uint32_t j = 0; j < r->spec.njobs; j++) {
        struct snap_job a;
        watch_arena_rec(w, j, &a);
        struct snap_job *d = &r->jobs[j];
        if (!snap_job_has_usage(&a) && snap_job_has_usage(d) && d->attempt == a.attempt) {
            a.max_rss_bytes = d->max_rss_bytes;
            a.cpu_user_s = d->cpu_user_s;
            a.cpu_sys_s = d->cpu_sys_s;
        }
        *d = a;
    }
}

int report_open(struct report *r, const char *dir, struct vl_err *err)
{
    memset(r, 0, sizeof *r);
    struct watch w;
    int rc = watch_open(&w, dir, 0, err);
    if (rc < 0) {
        watch_close(&w);
        return rc;
    }
    snprintf(r->dir, sizeof r->dir, "%s", w.dir);
    rc = snap_read(w.dir, &r->spec, &r->jobs, &r->info, err);
    if (rc < 0) {
        watch_close(&w);
        return rc;
    }
    r->now_ns = vl_wall_ns();
    if (w.have_arena && w.a.njobs == r->spec.njobs) {
        r->live = watch_live(&w);
        r->from_arena = true;
        take_arena(r, &w);
    }
    watch_close(&w);
    r->stop_ns = r->info.finished_ns ? r->info.finished_ns : r->info.checkpoint_ns;
    for (uint32_t j = 0; j < r->spec.njobs; j++) {
        const struct snap_job *jb = &r->jobs[j];
        r->counts[report_job_state(r, j)]++;
        if (snap_job_has_usage(jb)) {
            r->have_usage = true;
            r->cpu_s += jb->cpu_user_s + jb->cpu_sys_s;
        }
    }
    r->done = r->counts[SNAP_STATE_COMPLETED] + r->counts[SNAP_STATE_FAILED] +
              r->counts[SNAP_STATE_TERMINATED] + r->counts[SNAP_STATE_CANCELED];
    uint64_t end = r->live ? r->now_ns : r->stop_ns;
    r->elapsed_s = end > r->info.created_ns ? (double)(end - r->info.created_ns) / 1e9 : 0;
    r->phase = r->live ? "running" : r->done == r->spec.njobs ? "finished" : "stopped";
    if ((rc = make_spans(r, err)) < 0)
        return rc;
    find_barriers(r);
    return report__classes(r, err);
}

void report_fini(struct report *r)
{
    free(r->jobs);
    free(r->spans);
    free(r->classes);
    spec_free(&r->spec);
    snap_info_fini(&r->info);
    memset(r, 0, sizeof *r);
}

uint64_t report_failures(const struct report *r, uint32_t *out, uint32_t max)
{
    uint64_t n = 0;
    uint32_t *all = NULL;
    for (uint32_t j = 0; j < r->spec.njobs; j++) {
        unsigned s = r->jobs[j].state;
        n += s == SNAP_STATE_FAILED || s == SNAP_STATE_TERMINATED;
    }
    if (!n || !max)
        return n;
    all = vl_xcalloc(n, sizeof *all);
    uint32_t k = 0;
    for (uint32_t j = 0; j < r->spec.njobs; j++) {
        unsigned s = r->jobs[j].state;
        if (s == SNAP_STATE_FAILED || s == SNAP_STATE_TERMINATED)
            all[k++] = j;
    }
    qsort_r(all, k, sizeof *all, end_cmp_ctx_sort, (void *)r);
    memcpy(out, all, VL_MIN(k, max) * sizeof *all);
    free(all);
    return n;
}

uint32_t report_slowest(const struct report *r, uint32_t *out, uint32_t max)
{
    /* keep the max longest in out, shortest at the end (max is small) */
    uint32_t n = 0;
    uint64_t dur[64];
    if (max > VL_ARRAY_LEN(dur))
        max = VL_ARRAY_LEN(dur);
    for (uint32_t j = 0; j < r->spec.njobs; j++) {
        const struct snap_job *jb = &r->jobs[j];
        if (!report__finished(jb->state) || !jb->start_ns || jb->end_ns < jb->start_ns)
            continue;
        uint64_t d = jb->end_ns - jb->start_ns;
        if (n == max && d <= dur[n - 1])
            continue;
        uint32_t i = n < max ? n++ : n - 1;
        while (i > 0 && dur[i - 1] < d) {
            dur[i] = dur[i - 1];
            out[i] = out[i - 1];
            i--;
        }
        dur[i] = d;
        out[i] = j;
    }
    return n;
}

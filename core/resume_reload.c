/*
 * resume_reload.c - the reload of a run with its edited workflow
 * (resume.h, "reload"; docs/running.md, "volley resume --reload").
 *
 * Three passes over the jobs of the edited workflow, none over its edges
 * twice: the comparison (loader/specdiff.h: a name table and both parent
 * lists, then each job's definition), a breadth-first walk from every
 * changed or new job down its children (each job entered once: its
 * "cause" is the first changed ancestor to reach it, which is a nearest
 * one), and the records. The new generation's volley.db is then written
 * whole, as `volley run` writes a run's first one (snap_create), and
 * renamed over the old one: that rename is the reload's commit point.
 * bench/suite measures the whole of it on 1M jobs (docs/running.md).
 */
#include "core/resume.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int resume_reload_plan(const struct spec *old, const struct spec *cur, struct reload_plan *out,
                       struct vl_err *err)
{
    memset(out, 0, sizeof *out);
    struct specdiff d;
    int rc = specdiff_init(&d, old, cur, err);
    if (rc < 0)
        return rc;
    uint32_t n = cur->njobs;
    out->njobs = n;
    out->why = vl_alloc_array(n ? n : 1, 1, false, "the reload plan", err);
    out->cause = vl_alloc_array(n ? n : 1, sizeof *out->cause, false, "the reload plan", err);
    uint32_t *queue = vl_alloc_array(n ? n : 1, sizeof *queue, false, "the reload plan", err);
    if (!out->why || !out->cause || !queue) {
        free(queue);
        specdiff_fini(&d);
        resume_reload_plan_fini(out);
        return err ? err->code : VL_ETOOBIG;
    }
    uint32_t head = 0, tail = 0;
    for (uint32_t j = 0; j < n; j++) {
        out->why[j] = (uint8_t)specdiff_job(&d, j);
        out->cause[j] = SPEC_NONE;
        if (out->why[j] != SPECDIFF_SAME)
            queue[tail++] = j;
    }
    /* downstream: breadth first from every change, each job entered once */
    while (head < tail) {
        uint32_t p = queue[head++];
        uint32_t from = out->why[p] == RESUME_DOWNSTREAM ? out->cause[p] : p;
        for (uint64_t k = cur->kid_off[p]; k < cur->kid_off[p + 1]; k++) {
            uint32_t c = cur->kids[k];
            if (out->why[c] != SPECDIFF_SAME)
                continue;
            out->why[c] = RESUME_DOWNSTREAM;
            out->cause[c] = from;
            queue[tail++] = c;
        }
    }
    free(queue);
    for (uint32_t j = 0; j < n; j++)
        out->count[out->why[j]]++;
    for (uint32_t o = 0; o < old->njobs; o++)
        out->nremoved += d.cur_of[o] == SPEC_NONE;
    out->removed = vl_xmalloc(((size_t)out->nremoved + 1) * sizeof *out->removed);
    for (uint32_t o = 0, k = 0; o < old->njobs; o++)
        if (d.cur_of[o] == SPEC_NONE)
            out->removed[k++] = o;
    /* the map outlives the comparison */
    out->old_of = d.old_of;
    d.old_of = NULL;
    specdiff_fini(&d);
    return 0;
}

void resume_reload_plan_fini(struct reload_plan *p)
{
    free(p->why);
    free(p->cause);
    free(p->old_of);
    free(p->removed);
    memset(p, 0, sizeof *p);
}

int resume_reload_records(const struct reload_plan *p, const struct spec *cur,
                          const struct snap_job *old_jobs, const uint8_t *old_prev,
                          struct snap_job **jobs_out, uint8_t **prev_out, struct vl_err *err)
{
    *jobs_out = NULL;
    if (prev_out)
        *prev_out = NULL;
    uint32_t n = cur->njobs;
    struct snap_job *jobs = vl_alloc_array(n ? n : 1, sizeof *jobs, false, "the job records", err);
    uint8_t *prev = prev_out ? vl_alloc_array(n ? n : 1, 1, false, "the job records", err) : NULL;
    if (!jobs || (prev_out && !prev)) {
        free(jobs);
        free(prev);
        return err ? err->code : VL_ETOOBIG;
    }
    for (uint32_t j = 0; j < n; j++) {
        uint32_t o = p->old_of[j];
        struct snap_job *r = &jobs[j];
        snap_job_init(cur, j, r);
        if (prev)
            prev[j] = o == SPEC_NONE ? r->state : old_prev[o];
        if (o == SPEC_NONE)
            continue;
        if (p->why[j] == SPECDIFF_SAME) {
            *r = old_jobs[o];
            r->jid = j;
        } else {
            /* starts over: the next run is attempt + 1, its handler's
             * retries start again (lost: attempts a handler does not count) */
            r->attempt = old_jobs[o].attempt;
            r->lost = (uint16_t)VL_MIN(r->attempt, 2047u);
        }
    }
    *jobs_out = jobs;
    if (prev_out)
        *prev_out = prev;
    return 0;
}

/* The new generation's history: the old one's arrays read through old_of,
 * and the old generation itself (old_of). */
static int next_history(const struct reload_plan *p, const struct snap_history *old,
                        uint64_t created_ns, struct snap_history *h, struct vl_err *err)
{
    memset(h, 0, sizeof *h);
    uint32_t g = old ? old->ngens : 0, n = p->njobs;
    if (g + 1 >= SNAP_MAX_GENS)
        return vl_err_set(err, -E2BIG,
                          "this run was reloaded %u times, the most one run keeps: start it "
                          "anew with `volley run`",
                          g);
    h->ngens = g + 1;
    h->njobs = n;
    h->started_ns = vl_xcalloc((size_t)g + 2, sizeof *h->started_ns);
    h->jid_in = vl_xcalloc((size_t)g + 1, sizeof *h->jid_in);
    for (uint32_t k = 0; k <= g; k++) {
        h->started_ns[k] = old && old->started_ns[k] ? old->started_ns[k] : created_ns;
        h->jid_in[k] = vl_alloc_array(n ? n : 1, sizeof(uint32_t), false, "the run's history", err);
        if (!h->jid_in[k]) {
            snap_history_fini(h);
            return err ? err->code : VL_ETOOBIG;
        }
        for (uint32_t j = 0; j < n; j++) {
            uint32_t o = p->old_of[j];
            h->jid_in[k][j] = k == g ? o : o == SPEC_NONE ? SNAP_NO_JID : old->jid_in[k][o];
        }
    }
    h->started_ns[g + 1] = vl_wall_ns();
    return 0;
}

int resume_reload_commit(struct snap **db, const char *dir, const struct spec *cur,
                         const struct snap_info *info, const struct snap_opt *opts, uint32_t n,
                         const struct snap_wffile *wf, const struct reload_plan *p,
                         const struct snap_history *old_hist, const struct snap_job *jobs,
                         struct vl_err *err)
{
    struct snap_history h;
    int rc = next_history(p, old_hist, info->created_ns, &h, err);
    snap_close(*db); /* its last connection: the WAL is folded into the old file */
    *db = NULL;
    if (rc < 0)
        return rc;
    struct snap_meta m = {
        .created_ns = info->created_ns,
        .cwd = info->cwd,
        .opts = opts,
        .nopts = n,
        .wf = wf,
        .hist = &h,
        .allocs = info->allocs,
        .nallocs = info->nallocs,
    };
    memcpy(m.run_id, info->run_id, sizeof m.run_id);
    vl_boot_id(m.boot_id);
    rc = snap_create(db, dir, cur, &m, jobs, SNAP_REPLACE, err);
    snap_history_fini(&h);
    return rc;
}

/*
 * report_time.c - a run over time (report.h): completions and failures
 * per bin, jobs running and ready averaged over each bin, and the binned
 * timeline (the fraction of each cell's time its lanes ran a job).
 *
 * An interval is added to the bins in O(1), whatever its length: the two
 * partial bins at its ends directly, the whole bins between them as +1/-1
 * in a difference array summed once at the end. A 1M-job sweep whose jobs
 * are all ready from the first second until they start would otherwise
 * cost 1M x bins.
 *
 * A job is ready from the end of its last parent (the run's creation for a
 * root) until its last attempt began (or now, or the stop, if it is ready
 * still); earlier attempts of a retried job count as ready time, the
 * records keeping only the last one.
 */
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

/* Bins of [t0, t0 + nb * bin): partial coverage and the difference array. */
struct cover {
    uint64_t t0, bin;
    uint32_t nb;
    double *part; /* [nb] */
    double *diff; /* [nb + 1] */
};

static void cover_init(struct cover *c, uint64_t t0, uint64_t bin, uint32_t nb)
{
    c->t0 = t0;
    c->bin = bin;
    c->nb = nb;
    c->part = vl_xcalloc(nb, sizeof *c->part);
    c->diff = vl_xcalloc((size_t)nb + 1, sizeof *c->diff);
}

static void cover_add(struct cover *c, uint64_t a, uint64_t b)
{
    uint64_t end = c->t0 + c->bin * c->nb;
    if (a < c->t0)
        a = c->t0;
    if (b > end)
        b = end;
    if (b <= a)
        return;
    uint64_t ba = (a - c->t0) / c->bin, bb = (b - c->t0) / c->bin;
    double w = (double)c->bin;
    if (ba == bb) {
        c->part[ba] += (double)(b - a) / w;
        return;
    }
    c->part[ba] += (double)(c->t0 + (ba + 1) * c->bin - a) / w;
    if (bb < c->nb)
        c->part[bb] += (double)(b - (c->t0 + bb * c->bin)) / w;
    c->diff[ba + 1] += 1;
    c->diff[bb] -= 1;
}

/* The average coverage per bin into out[nb] (scaled by 1/div); frees c. */
static void cover_end(struct cover *c, float *out, double div)
{
    double run = 0;
    for (uint32_t i = 0; i < c->nb; i++) {
        run += c->diff[i];
        out[i] = (float)((run + c->part[i]) / div);
    }
    free(c->part);
    free(c->diff);
}

static uint64_t bin_width(const struct report *r, uint32_t nbins)
{
    uint64_t span = r->t1_ns > r->t0_ns ? r->t1_ns - r->t0_ns : 1;
    uint64_t w = (span + nbins - 1) / nbins;
    return w ? w : 1;
}

static uint32_t bin_of(uint64_t t0, uint64_t bin, uint32_t nb, uint64_t t)
{
    uint64_t b = t > t0 ? (t - t0) / bin : 0;
    return b < nb ? (uint32_t)b : nb - 1;
}

void report_series(const struct report *r, uint32_t nbins, struct report_series *out)
{
    const struct spec *s = &r->spec;
    uint32_t n = s->njobs;
    memset(out, 0, sizeof *out);
    out->nbins = nbins ? nbins : 1;
    out->t0_ns = r->t0_ns;
    out->bin_ns = bin_width(r, out->nbins);
    out->completed = vl_xcalloc(out->nbins, sizeof *out->completed);
    out->failed = vl_xcalloc(out->nbins, sizeof *out->failed);
    out->running = vl_xcalloc(out->nbins, sizeof *out->running);
    out->ready = vl_xcalloc(out->nbins, sizeof *out->ready);
    struct cover run, rdy;
    cover_init(&run, out->t0_ns, out->bin_ns, out->nbins);
    cover_init(&rdy, out->t0_ns, out->bin_ns, out->nbins);
    for (uint32_t i = 0; i < r->nspans; i++)
        cover_add(&run, r->spans[i].start_ns, r->spans[i].end_ns);
    for (uint32_t j = 0; j < n; j++) {
        const struct snap_job *jb = &r->jobs[j];
        if (!report__finished(jb->state) || !jb->end_ns || jb->state == SNAP_STATE_CANCELED)
            continue;
        uint32_t b = bin_of(out->t0_ns, out->bin_ns, out->nbins, jb->end_ns);
        if (jb->state == SNAP_STATE_COMPLETED)
            out->completed[b]++;
        else
            out->failed[b]++;
    }
    /* ready: from the last parent's end (UINT64_MAX: a parent has not
     * finished) to the start of the last attempt */
    uint64_t *ready_at = vl_xcalloc(n ? n : 1, sizeof *ready_at);
    for (uint32_t j = 0; j < n; j++)
        ready_at[j] = r->info.created_ns;
    for (uint32_t p = 0; p < n; p++) {
        const struct snap_job *jb = &r->jobs[p];
        uint64_t e = report__finished(jb->state) ? jb->end_ns : UINT64_MAX;
        for (uint64_t k = s->kid_off[p]; k < s->kid_off[p + 1]; k++)
            if (ready_at[s->kids[k]] < e)
                ready_at[s->kids[k]] = e;
    }
    for (uint32_t j = 0; j < n; j++) {
        if (ready_at[j] == UINT64_MAX)
            continue;
        uint64_t from, to;
        if (report__span_of(r, j, &from, &to))
            to = from;
        else if (r->jobs[j].state == SNAP_STATE_READY)
            to = r->live ? r->now_ns : r->stop_ns;
        else
            continue; /* blocked, or canceled before it began */
        cover_add(&rdy, ready_at[j], to);
    }
    free(ready_at);
    cover_end(&run, out->running, 1);
    cover_end(&rdy, out->ready, 1);
}

void report_series_fini(struct report_series *s)
{
    free(s->completed);
    free(s->failed);
    free(s->running);
    free(s->ready);
    memset(s, 0, sizeof *s);
}

void report_bins(const struct report *r, uint32_t nbins, struct report_bins *out)
{
    memset(out, 0, sizeof *out);
    uint32_t lanes = r->nlanes ? r->nlanes : 1;
    out->lanes_per_row = (lanes + REPORT_MAX_ROWS - 1) / REPORT_MAX_ROWS;
    out->rows = (lanes + out->lanes_per_row - 1) / out->lanes_per_row;
    out->nbins = nbins ? nbins : 1;
    out->t0_ns = r->t0_ns;
    out->bin_ns = bin_width(r, out->nbins);
    size_t cells = (size_t)out->rows * out->nbins;
    out->busy = vl_xcalloc(cells, sizeof *out->busy);
    out->fail = vl_xcalloc(cells, sizeof *out->fail);
    struct cover *row = vl_xcalloc(out->rows, sizeof *row);
    for (uint32_t i = 0; i < out->rows; i++)
        cover_init(&row[i], out->t0_ns, out->bin_ns, out->nbins);
    for (uint32_t i = 0; i < r->nspans; i++) {
        const struct report_span *sp = &r->spans[i];
        uint32_t w = sp->lane / out->lanes_per_row;
        cover_add(&row[w], sp->start_ns, sp->end_ns);
        unsigned st = r->jobs[sp->jid].state;
        if (st == SNAP_STATE_FAILED || st == SNAP_STATE_TERMINATED)
            out->fail[(size_t)w * out->nbins +
                      bin_of(out->t0_ns, out->bin_ns, out->nbins, sp->end_ns)]++;
    }
    for (uint32_t i = 0; i < out->rows; i++)
        cover_end(&row[i], out->busy + (size_t)i * out->nbins, out->lanes_per_row);
    free(row);
}

void report_bins_fini(struct report_bins *b)
{
    free(b->busy);
    free(b->fail);
    memset(b, 0, sizeof *b);
}

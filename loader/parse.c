/*
 * parse.c - events -> the raw model (struct raw): the workflow mapping and
 * its sections (parse_int.h lists the files that read each of them), the
 * checks on the workflow as a whole (a name, jobs, one document).
 */
#include "parse_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

/* A sequence of entries, each parsed by fn. */
static void parse_seq(struct P *P, const char *key, void (*fn)(struct P *))
{
    const struct yev *e = yread_peek(P->r);
    if (yev_is_null(e)) {
        yread_next(P->r);
        return;
    }
    if (e->type != YEV_SEQ) {
        if (e->type == YEV_ERR || e->type == YEV_END)
            return;
        lerr(P->g, e->loc, "'%s' must be a list (a sequence of '- ...' entries), not %s", key,
             yev_kind_name(e));
        yread_skip(P->r);
        return;
    }
    yread_next(P->r);
    while (!parse_failed(P) && yread_peek(P->r)->type != YEV_SEQ_END)
        fn(P);
    yread_next(P->r);
}

static const char *const top_keys[] = {"name",
                                       "description",
                                       "user",
                                       "project",
                                       "metadata",
                                       "parameters",
                                       "jobs",
                                       "files",
                                       "user_data",
                                       "resource_requirements",
                                       "failure_handlers"};
static const char *const top_warn[] = {"slurm_schedulers",   "slurm_defaults",   "actions",
                                       "resource_monitor",   "compute_node_*",   "jobs_sort_method",
                                       "use_pending_failed", "execution_config", "limit_resources",
                                       "enable_ro_crate"};

bool raw_parse(struct raw *R, const char *buf, size_t len, enum wf_format fmt, struct ldiag *g)
{
    memset(R, 0, sizeof *R);
    R->params.elem = R->sparams.elem = sizeof(struct param);
    R->vals.elem = sizeof(struct pval);
    R->jobs.elem = R->files.elem = sizeof(struct rent);
    R->items.elem = sizeof(struct ritem);
    R->rrs.elem = sizeof(struct rrr);
    R->fhs.elem = sizeof(struct rfh);
    R->rules.elem = sizeof(struct rrule);
    R->codes.elem = sizeof(int32_t);
    R->uds.elem = sizeof(struct rud);
    R->dropped.elem = sizeof(struct rdrop);
    R->wf_name.off = R->wf_desc.off = RSTR_NONE;
    struct P P = {yread_new(buf, len, g, fmt), g, R};
    bool ok = true;
    const struct yev *e = yread_peek(P.r);
    if (e->type == YEV_END) {
        lerr(g, LOC_NONE, "the file is empty: expected a mapping with 'name' and 'jobs'");
        ok = false;
        goto out;
    }
    yread_next(P.r); /* document start */
    e = yread_peek(P.r);
    R->root_loc = e->loc;
    struct mapit m = {.keys = top_keys,
                      .nkeys = VL_ARRAY_LEN(top_keys),
                      .warn = top_warn,
                      .nwarn = VL_ARRAY_LEN(top_warn),
                      .where = "the workflow",
                      .warn_why = "volley runs on one node without a server"};
    if (e->type == YEV_SCALAR && yev_is_null(e)) {
        lerr(g, e->loc, "the file is empty: expected a mapping with 'name' and 'jobs'");
        ok = false;
        goto out;
    }
    bool has_jobs = false;
    if (mapit_begin(&P, &m, "the workflow")) {
        int k;
        while ((k = mapit_next(&P, &m)) >= 0) {
            switch (k) {
            case 0:
                parse_str(&P, "name", &R->wf_name);
                break;
            case 1:
                parse_str(&P, "description", &R->wf_desc);
                break;
            case 2:
            case 3:
            case 4:
                yread_skip(P.r); /* accepted for torc files, not used */
                break;
            case 5:
                parse_params(&P, &R->sparams, NULL, NULL);
                break;
            case 6:
                has_jobs = true;
                parse_seq(&P, "jobs", parse_job);
                break;
            case 7:
                parse_seq(&P, "files", parse_file);
                break;
            case 8:
                parse_seq(&P, "user_data", parse_ud);
                break;
            case 9:
                parse_seq(&P, "resource_requirements", parse_rr);
                break;
            case 10:
                parse_seq(&P, "failure_handlers", parse_fh);
                break;
            }
        }
    } else {
        ok = false;
    }
    e = yread_peek(P.r);
    if (e->type == YEV_ERR) {
        ok = false;
        goto out;
    }
    if (ok) {
        if (R->wf_name.off == RSTR_NONE)
            lerr(g, R->root_loc, "the workflow needs a 'name'");
        if (R->wf_name.off == RSTR_BAD)
            R->wf_name.off = RSTR_NONE;
        if (R->wf_name.off != RSTR_NONE) {
            /* it names the run directory, printed on one line to copy */
            const char *n = raw_str(R, R->wf_name.off);
            size_t nl = strlen(n), at = ctl_at(n, nl);
            if (!nl)
                lerr(g, R->wf_name.loc, "the workflow name is empty");
            else if (at < nl)
                lerr(g, R->wf_name.loc,
                     "the workflow name contains a control character (0x%02x); it names the "
                     "run directory",
                     (unsigned char)n[at]);
        }
        if (!has_jobs)
            lerr(g, R->root_loc, "the workflow needs 'jobs'");
    }
    yread_next(P.r); /* document end */
    e = yread_peek(P.r);
    if (e->type == YEV_DOC) {
        lerr(g, e->loc, "a second YAML document: a workflow file holds one");
        while (e->type != YEV_END && e->type != YEV_ERR) {
            yread_next(P.r);
            e = yread_peek(P.r);
        }
    }
    if (e->type == YEV_ERR)
        ok = false;
out:
    yread_free(P.r);
    return ok;
}

void raw_free(struct raw *R)
{
    sbuf_free(&R->pool);
    vec_free(&R->params);
    vec_free(&R->sparams);
    vec_free(&R->vals);
    vec_free(&R->jobs);
    vec_free(&R->files);
    vec_free(&R->items);
    vec_free(&R->rrs);
    vec_free(&R->fhs);
    vec_free(&R->rules);
    vec_free(&R->codes);
    vec_free(&R->uds);
    vec_free(&R->dropped);
}

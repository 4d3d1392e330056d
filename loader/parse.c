/*
 * parse.c - events -> the raw model (struct raw): the workflow mapping and
 * its sections (parse_int.h lists the files that read each of them), the
 * checks on the workflow as a whole (a name, jobs, one document).
 *
 * torc substitutes `variables` before it reads anything else, and keys come
 * in any order. The events are substituted as they stream (vars.c), so a
 * file whose variables come after a value with a '{' in it is read twice:
 * the first reading finds the variables, the second has them from the
 * start (only its messages are kept). The usual file, with variables near
 * the top, is read once; a file without the word "variables" never pays
 * for any of this.
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

static void top_name(struct P *P)
{
    parse_str(P, "name", &P->R->wf_name);
}

static void top_desc(struct P *P)
{
    parse_str(P, "description", &P->R->wf_desc);
}

static void top_skip(struct P *P)
{
    yread_skip(P->r); /* accepted for torc files, not used */
}

static void top_params(struct P *P)
{
    parse_params(P, &P->R->sparams, NULL, NULL);
}

static void top_vars(struct P *P)
{
    if (P->vars_preset) { /* the second reading: report its errors again */
        struct vars again = {0};
        parse_variables(P, &again);
        vars_free(&again);
        return;
    }
    P->vars_late = yread_placeholder_before(P->r); /* up to the key `variables` */
    parse_variables(P, &P->R->vars);
    yread_set_vars(P->r, &P->R->vars);
}

static void top_env(struct P *P)
{
    uint64_t first;
    uint32_t n;
    parse_env(P, &P->R->wf_envs, &first, &n);
}

static void top_jobs(struct P *P)
{
    P->R->has_jobs = true;
    parse_seq(P, "jobs", parse_job);
}

static void top_files(struct P *P)
{
    parse_seq(P, "files", parse_file);
}

static void top_uds(struct P *P)
{
    parse_seq(P, "user_data", parse_ud);
}

static void top_rrs(struct P *P)
{
    parse_seq(P, "resource_requirements", parse_rr);
}

static void top_fhs(struct P *P)
{
    parse_seq(P, "failure_handlers", parse_fh);
}

static void top_actions(struct P *P)
{
    parse_seq(P, "actions", parse_action);
}

static const struct top_key {
    const char *key;
    void (*read)(struct P *P);
} top_keys[] = {
    {"name", top_name},
    {"description", top_desc},
    {"user", top_skip},
    {"project", top_skip},
    {"metadata", top_skip},
    {"parameters", top_params},
    {"variables", top_vars},
    {"env", top_env},
    {"jobs", top_jobs},
    {"files", top_files},
    {"user_data", top_uds},
    {"resource_requirements", top_rrs},
    {"failure_handlers", top_fhs},
    {"execution_config", parse_exec},
    {"actions", top_actions},
};

/* torc's other workflow keys: ignored with a warning where ignoring them
 * changes nothing that runs on one node, refused where it would. */
static const char one_node[] = "volley runs the jobs itself on this one node";
static const struct mapnote top_notes[] = {
    {"slurm_schedulers", SPEC_DIAG_WARNING, "volley runs the jobs on this node, not through Slurm"},
    {"slurm_defaults", SPEC_DIAG_WARNING, "volley runs the jobs on this node, not through Slurm"},
    {"resource_monitor", SPEC_DIAG_WARNING,
     "volley records each job's peak memory and CPU time always (volley jobs, volley report)"},
    {"compute_node_*", SPEC_DIAG_WARNING, one_node},
    {"jobs_sort_method", SPEC_DIAG_WARNING,
     "volley starts ready jobs in the order they become ready"},
    {"use_pending_failed", SPEC_DIAG_WARNING,
     "it holds failed jobs for torc's AI-assisted recovery; volley marks them failed"},
    {"limit_resources", SPEC_DIAG_WARNING,
     "torc reads it in execution_config now, and so does volley"},
    {"enable_ro_crate", SPEC_DIAG_WARNING, "volley writes no RO-Crate provenance"},
    {"access_groups", SPEC_DIAG_WARNING, "volley has no server to share a workflow on"},
    {"dynamic_jobs", SPEC_DIAG_WARNING,
     "volley runs the jobs of the file; its jobs cannot add jobs through torc's server"},
    {"datasets", SPEC_DIAG_ERROR,
     "volley has no datasets yet; declare the paths as files and use input_files and "
     "output_files"},
    {NULL, 0, NULL},
};

/* The workflow mapping's keys; false if it is not a mapping. */
static bool parse_workflow(struct P *P)
{
    struct mapit m = {.keys = &top_keys[0].key,
                      .nkeys = VL_ARRAY_LEN(top_keys),
                      .stride = sizeof top_keys[0],
                      .notes = top_notes,
                      .ext = true,
                      .where = "the workflow"};
    if (!mapit_begin(P, &m, "the workflow"))
        return false;
    int k;
    while ((k = mapit_next(P, &m)) >= 0)
        top_keys[k].read(P);
    return true;
}

/* The checks on the workflow as a whole: a name that names a run
 * directory, jobs, variables that are not parameters. */
static void check_workflow(struct P *P)
{
    struct raw *R = P->R;
    struct ldiag *g = P->g;
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
    if (!R->has_jobs)
        lerr(g, R->root_loc, "the workflow needs 'jobs'");
    parse_variables_check(P);
}

static void raw_init(struct raw *R)
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
    R->wf_envs.elem = R->envs.elem = sizeof(struct renv);
    R->acts.elem = sizeof(struct ract);
    R->acmds.elem = sizeof(struct rstr);
    R->asel.elem = sizeof(struct ritem);
    R->wf_name.off = R->wf_desc.off = RSTR_NONE;
}

/* One reading of the file; *late: variables came after a value that may
 * have used them (read again with them known from the start). */
static bool parse_once(struct raw *R, const char *buf, size_t len, enum wf_format fmt,
                       struct ldiag *g, const struct vars *preset, bool *late)
{
    raw_init(R);
    struct P P = {yread_new(buf, len, g, fmt), g, R, preset != NULL, false};
    if (preset) {
        vars_copy(&R->vars, preset);
        yread_set_vars(P.r, &R->vars);
    }
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
    if (e->type == YEV_SCALAR && yev_is_null(e)) {
        lerr(g, e->loc, "the file is empty: expected a mapping with 'name' and 'jobs'");
        ok = false;
        goto out;
    }
    ok = parse_workflow(&P);
    e = yread_peek(P.r);
    if (e->type == YEV_ERR) {
        ok = false;
        goto out;
    }
    if (ok)
        check_workflow(&P);
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
    *late = ok && P.vars_late;
    yread_free(P.r);
    return ok;
}

bool raw_parse(struct raw *R, const char *buf, size_t len, enum wf_format fmt, struct ldiag *g)
{
    bool late;
    bool ok = parse_once(R, buf, len, fmt, g, NULL, &late);
    if (!late)
        return ok;
    /* variables came after values that may use them: read the file again
     * with them known from the start (torc substitutes them before
     * anything else), and only that reading's messages count */
    struct vars vars;
    vars_copy(&vars, &R->vars);
    raw_free(R);
    ldiag_reset(g);
    ok = parse_once(R, buf, len, fmt, g, &vars, &late);
    vars_free(&vars);
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
    vars_free(&R->vars);
    vec_free(&R->wf_envs);
    vec_free(&R->envs);
    vec_free(&R->acts);
    vec_free(&R->acmds);
    vec_free(&R->asel);
}

/*
 * parse_job.c - job and file entries as written (struct rent): their
 * strings, reference lists (items) and parameters, unexpanded.
 */
#include "parse_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>

/* How one key of a job is read. */
struct job_key {
    const char *key;
    void (*read)(struct P *P, struct rent *x, const struct job_key *k);
    uint16_t off; /* job_str: the struct rstr field of struct rent */
    uint8_t item; /* job_list: IT_* */
};

static void job_str(struct P *P, struct rent *x, const struct job_key *k)
{
    parse_str(P, k->key, (struct rstr *)((char *)x + k->off));
}

static void job_list(struct P *P, struct rent *x, const struct job_key *k)
{
    parse_list(P, k->key, k->item);
}

static void job_scheduler(struct P *P, struct rent *x, const struct job_key *k)
{
    uint64_t loc = yread_peek(P->r)->loc;
    yread_skip(P->r);
    x->has_sched = 1;
    lwarn(P->g, loc, "'scheduler' is ignored: volley runs jobs on this node");
}

static void job_cancel(struct P *P, struct rent *x, const struct job_key *k)
{
    bool b;
    if (parse_bool(P, k->key, &b))
        x->cancel = b;
}

static void job_supports_termination(struct P *P, struct rent *x, const struct job_key *k)
{
    bool b;
    parse_bool(P, k->key, &b); /* accepted: volley always sends SIGTERM first */
}

static void job_params(struct P *P, struct rent *x, const struct job_key *k)
{
    parse_params(P, &P->R->params, NULL, &x->lp_n);
}

static void job_mode(struct P *P, struct rent *x, const struct job_key *k)
{
    parse_mode(P, x);
}

static void job_use(struct P *P, struct rent *x, const struct job_key *k)
{
    yread_subst(P->r, false); /* names of parameters: no variables in them */
    parse_list(P, k->key, IT_USE);
    yread_subst(P->r, true);
}

static void job_env(struct P *P, struct rent *x, const struct job_key *k)
{
    x->env_loc = yread_peek(P->r)->loc;
    parse_env(P, &P->R->envs, &x->env_first, &x->env_n);
}

static void job_stdio(struct P *P, struct rent *x, const struct job_key *k)
{
    x->has_stdio = 1;
    parse_stdio(P, &x->stdio);
}

static void job_priority(struct P *P, struct rent *x, const struct job_key *k)
{
    /* torc 0.23: among ready jobs, higher priority starts first */
    if (!parse_want_scalar(P, k->key, "a whole number"))
        return;
    const struct yev *e = yread_peek(P->r);
    char *end;
    errno = 0;
    long long v = strtoll(e->val, &end, 10);
    if (!*e->val || *end || errno || v < INT32_MIN || v > INT32_MAX)
        lerr(P->g, e->loc, "'priority' must be a whole number from %d to %d, not '%s'", INT32_MIN,
             INT32_MAX, lcut(P->g, e->val));
    else
        x->prio = (int32_t)v;
    yread_next(P->r);
}

#define JOB_STR(k, field)                                                                          \
    {                                                                                              \
        k, job_str, offsetof(struct rent, field), 0                                                \
    }
#define JOB_LIST(k, it)                                                                            \
    {                                                                                              \
        k, job_list, 0, it                                                                         \
    }
static const struct job_key job_keys[] = {
    JOB_STR("name", name),
    JOB_STR("command", cmd),
    JOB_STR("invocation_script", script),
    JOB_STR("resource_requirements", rr),
    JOB_STR("failure_handler", fh),
    {"scheduler", job_scheduler, 0, 0},
    {"cancel_on_blocking_job_failure", job_cancel, 0, 0},
    {"supports_termination", job_supports_termination, 0, 0},
    JOB_LIST("depends_on", IT_DEP),
    JOB_LIST("depends_on_regexes", IT_DEPRX),
    JOB_LIST("input_files", IT_IN),
    JOB_LIST("output_files", IT_OUT),
    JOB_LIST("input_user_data", IT_UIN),
    JOB_LIST("output_user_data", IT_UOUT),
    JOB_LIST("input_file_regexes", IT_INRX),
    JOB_LIST("output_file_regexes", IT_OUTRX),
    JOB_LIST("input_user_data_regexes", IT_UINRX),
    JOB_LIST("output_user_data_regexes", IT_UOUTRX),
    {"parameters", job_params, 0, 0},
    {"parameter_mode", job_mode, 0, 0},
    {"use_parameters", job_use, 0, 0},
    {"priority", job_priority, 0, 0},
    {"env", job_env, 0, 0},
    {"stdio", job_stdio, 0, 0},
};

/* torc job keys volley does not read */
static const struct mapnote job_notes[] = {
    {"label", SPEC_DIAG_WARNING,
     "labels route jobs between torc's job runners, and volley is the one runner"},
    {"input_datasets", SPEC_DIAG_ERROR,
     "volley has no datasets yet; declare the paths as files and use input_files"},
    {"output_datasets", SPEC_DIAG_ERROR,
     "volley has no datasets yet; declare the paths as files and use output_files"},
    {"parameters_file", SPEC_DIAG_ERROR,
     "volley does not read parameter tables yet; write the values under 'parameters' (with "
     "parameter_mode: zip for rows)"},
    {NULL, 0, NULL},
};

void parse_job(struct P *P)
{
    struct rent x;
    memset(&x, 0, sizeof x);
    x.name.off = x.cmd.off = x.script.off = x.rr.off = x.fh.off = x.path.off = RSTR_NONE;
    x.cancel = 1;
    x.lp_first = P->R->params.n;
    x.it_first = P->R->items.n;
    x.mode_loc = LOC_NONE;
    struct mapit m = {.keys = &job_keys[0].key,
                      .nkeys = VL_ARRAY_LEN(job_keys),
                      .stride = sizeof job_keys[0],
                      .notes = job_notes,
                      .where = "a job"};
    if (!mapit_begin(P, &m, "a job")) {
        P->R->bad_jobs++;
        return;
    }
    x.loc = m.loc;
    int k;
    while ((k = mapit_next(P, &m)) >= 0)
        job_keys[k].read(P, &x, &job_keys[k]);
    x.it_n = (uint32_t)(P->R->items.n - x.it_first);
    if (parse_failed(P))
        return;
    bool ok = true;
    if (x.name.off == RSTR_NONE) {
        lerr(P->g, x.loc, "a job needs a 'name'");
        ok = false;
    }
    if (x.cmd.off == RSTR_NONE) {
        if (x.name.off < RSTR_BAD)
            lerr(P->g, x.loc, "job '%s' needs a 'command'", lcut(P->g, raw_str(P->R, x.name.off)));
        else if (x.name.off == RSTR_NONE)
            lerr(P->g, x.loc, "a job needs a 'command'");
        ok = false;
    }
    if (x.name.off == RSTR_BAD || x.cmd.off == RSTR_BAD || x.script.off == RSTR_BAD ||
        x.rr.off == RSTR_BAD || x.fh.off == RSTR_BAD || m.refused)
        ok = false; /* reported where the wrong kind of value (or key) was */
    if (ok) {
        *(struct rent *)vec_push(&P->R->jobs) = x;
        return;
    }
    P->R->bad_jobs++;
    if (x.name.off < RSTR_BAD)
        *(struct rdrop *)vec_push(&P->R->dropped) = (struct rdrop){x.name.off, 'j'};
}

static const char *const file_keys[] = {"name", "path", "parameters", "parameter_mode",
                                        "use_parameters"};

/* torc file keys volley does not read */
static const struct mapnote file_notes[] = {
    {"identifier", SPEC_DIAG_WARNING,
     "it is an RO-Crate identifier, and volley writes no RO-Crate"},
    {"st_mtime", SPEC_DIAG_WARNING,
     "volley checks that an input file exists when the run starts, not its time"},
    {"parameters_file", SPEC_DIAG_ERROR,
     "volley does not read parameter tables yet; write the values under 'parameters'"},
    {NULL, 0, NULL},
};

void parse_file(struct P *P)
{
    struct rent x;
    memset(&x, 0, sizeof x);
    x.name.off = x.cmd.off = x.script.off = x.rr.off = x.fh.off = x.path.off = RSTR_NONE;
    x.is_file = 1;
    x.lp_first = P->R->params.n;
    x.it_first = P->R->items.n;
    x.mode_loc = LOC_NONE;
    struct mapit m = {.keys = file_keys,
                      .nkeys = VL_ARRAY_LEN(file_keys),
                      .notes = file_notes,
                      .where = "a file"};
    if (!mapit_begin(P, &m, "a file")) {
        P->R->bad_files++;
        return;
    }
    x.loc = m.loc;
    int k;
    while ((k = mapit_next(P, &m)) >= 0) {
        switch (k) {
        case 0:
            parse_str(P, "name", &x.name);
            break;
        case 1:
            parse_str(P, "path", &x.path);
            break;
        case 2:
            parse_params(P, &P->R->params, NULL, &x.lp_n);
            break;
        case 3:
            parse_mode(P, &x);
            break;
        case 4:
            yread_subst(P->r, false); /* names of parameters: no variables in them */
            parse_list(P, "use_parameters", IT_USE);
            yread_subst(P->r, true);
            break;
        }
    }
    x.it_n = (uint32_t)(P->R->items.n - x.it_first);
    if (parse_failed(P))
        return;
    P->R->bad_files++; /* until it is pushed below */
    if (x.name.off == RSTR_NONE) {
        lerr(P->g, x.loc, "a file needs a 'name'");
        return;
    }
    if (x.name.off < RSTR_BAD && (x.path.off >= RSTR_BAD || m.refused))
        *(struct rdrop *)vec_push(&P->R->dropped) = (struct rdrop){x.name.off, 'f'};
    if (x.path.off == RSTR_NONE && x.name.off != RSTR_BAD) {
        lerr(P->g, x.loc, "file '%s' needs a 'path'", lcut(P->g, raw_str(P->R, x.name.off)));
        return;
    }
    if (x.name.off == RSTR_BAD || x.path.off == RSTR_BAD || m.refused)
        return;
    P->R->bad_files--;
    *(struct rent *)vec_push(&P->R->files) = x;
}

/*
 * parse_torc.c - torc's keys that mean something on one node, as written:
 * variables, env (the workflow's and a job's), stdio, execution_config and
 * actions (run_commands). docs/workflow-format.md has the table of every
 * torc key: what volley does with it, ignores with a warning, or refuses.
 *
 * Each reader checks the shape and the values (names of environment
 * variables, stdio modes, signal names, triggers) and keeps what expansion
 * needs in the raw model; names of jobs in actions are resolved in
 * expansion, once every job is known.
 */
#include "parse_int.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>

/* ---- variables ---- */

void parse_variables(struct P *P, struct vars *dst)
{
    struct mapit m = {.where = "variables"};
    const struct yev *e = yread_peek(P->r);
    if (yev_is_null(e)) {
        yread_next(P->r);
        return;
    }
    yread_subst(P->r, false); /* the block itself is the source, not a user */
    if (!mapit_begin(P, &m, "'variables'"))
        goto out;
    while ((e = freemap_next(P, "variable names")) != NULL) {
        if (!parse_is_ident(e->val)) {
            lerr(P->g, e->loc,
                 "variable name '%s' is not an identifier (letters, digits and '_', not "
                 "starting with a digit)",
                 lcut(P->g, e->val));
            yread_skip(P->r);
            yread_skip(P->r);
            continue;
        }
        char name[256];
        snprintf(name, sizeof name, "%s", e->val);
        uint64_t nloc = e->loc;
        yread_next(P->r);
        e = yread_peek(P->r);
        if (e->type != YEV_SCALAR || yev_is_null(e)) {
            if (e->type == YEV_ERR || e->type == YEV_END)
                break;
            lerr(P->g, e->loc, "variable '%s' must be a string, not %s", name,
                 e->type == YEV_SCALAR ? "null (write \"\" for an empty one)" : yev_kind_name(e));
            yread_skip(P->r);
            continue;
        }
        /* torc's rule: a value holds no {placeholder}, so the order of
         * substitution never matters */
        size_t id_end;
        for (size_t i = 0; i < e->len; i++)
            if (vars_placeholder(e->val, e->len, i, &id_end)) {
                lerr(P->g, e->loc,
                     "variable '%s' holds the placeholder '%s': a variable's value is plain text "
                     "(compose where it is used, like \"{a}/{b}\")",
                     name, lcutn(P->g, e->val + i, id_end + 1 - i));
                break;
            }
        if (!vars_add(dst, name, e->val, e->len, nloc))
            lerr(P->g, nloc, "duplicate variable '%s'", name);
        yread_next(P->r);
    }
out:
    yread_subst(P->r, true);
}

/* A variable must not share its name with a parameter (torc's rule: then
 * {name} would be ambiguous). */
void parse_variables_check(struct P *P)
{
    const struct raw *R = P->R;
    for (uint64_t i = 0; i < R->vars.v.n; i++) {
        const struct var *x = &VEC_AT(R->vars.v, struct var, i);
        const char *nm = R->vars.text.p + x->name;
        const struct param *clash = NULL;
        const struct vec *lists[] = {&R->sparams, &R->params};
        for (int l = 0; l < 2 && !clash; l++)
            for (uint64_t k = 0; k < lists[l]->n && !clash; k++)
                if (!strcmp(raw_str(R, VEC_AT(*lists[l], struct param, k).name), nm))
                    clash = &VEC_AT(*lists[l], struct param, k);
        if (clash)
            lerr(P->g, x->loc,
                 "variable '%s' has the name of a parameter (line %" PRIu32 "); rename one of them",
                 nm, loc_line(clash->nloc) + 1);
    }
}

/* ---- env ---- */

static bool env_name_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

void parse_env(struct P *P, struct vec *out, uint64_t *first, uint32_t *n)
{
    *first = out->n;
    *n = 0;
    if (!freemap_begin(P, "env", "variable names to values"))
        return;
    const struct yev *e;
    while ((e = freemap_next(P, "env names")) != NULL) {
        if (!env_name_ok(e->val)) {
            lerr(P->g, e->loc,
                 "env: '%s' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                 lcut(P->g, e->val));
            yread_skip(P->r);
            yread_skip(P->r);
            continue;
        }
        struct renv x = {.key = parse_take_str(P)};
        const char *key = raw_str(P->R, x.key.off);
        for (uint64_t i = *first; i < out->n; i++)
            if (!strcmp(raw_str(P->R, VEC_AT(*out, struct renv, i).key.off), key)) {
                lerr(P->g, x.key.loc, "duplicate env name '%s'", key);
                yread_skip(P->r);
                goto next;
            }
        if (!strncmp(key, "VOLLEY_", 7))
            lwarn(P->g, x.key.loc,
                  "env: volley sets the VOLLEY_* variables of each job itself; the job sees "
                  "volley's '%s', not this one",
                  lcut(P->g, key));
        e = yread_peek(P->r);
        if (e->type != YEV_SCALAR || yev_is_null(e)) {
            if (e->type == YEV_ERR || e->type == YEV_END)
                return;
            lerr(P->g, e->loc, "env '%s' must be a string, not %s", lcut(P->g, key),
                 e->type == YEV_SCALAR ? "null (write \"\" for an empty value)" : yev_kind_name(e));
            yread_skip(P->r);
            continue;
        }
        x.val = parse_take_str(P);
        *(struct renv *)vec_push(out) = x;
        (*n)++;
    next:;
    }
}

/* ---- stdio ---- */

static const char *const stdio_modes[] = {"separate", "combined", "no_stdout", "no_stderr", "none"};

/* A stdio mode at the current (scalar) event into *bits. */
static void stdio_mode(struct P *P, uint8_t *bits)
{
    const struct yev *e = yread_peek(P->r);
    for (size_t i = 0; i < VL_ARRAY_LEN(stdio_modes); i++)
        if (!strcmp(e->val, stdio_modes[i])) {
            *bits = (uint8_t)((*bits & ~SPEC_JOB_STDIO_MASK) | i << SPEC_JOB_STDIO_SHIFT);
            yread_next(P->r);
            return;
        }
    const char *dym = did_you_mean(e->val, stdio_modes, VL_ARRAY_LEN(stdio_modes));
    lerr(P->g, e->loc,
         "stdio mode '%s' is none of separate, combined, no_stdout, no_stderr and none%s%s%s",
         lcut(P->g, e->val), dym ? "; did you mean '" : "", dym ? dym : "", dym ? "'?" : "");
    yread_next(P->r);
}

static const char *const stdio_keys[] = {"mode", "delete_on_success"};

void parse_stdio(struct P *P, uint8_t *bits)
{
    *bits = SPEC_STDIO_SEPARATE; /* what is not given is torc's default */
    const struct yev *e = yread_peek(P->r);
    if (yev_is_null(e)) {
        yread_next(P->r);
        return;
    }
    if (e->type == YEV_SCALAR) { /* volley's shorthand: stdio: combined */
        stdio_mode(P, bits);
        return;
    }
    struct mapit m = {.keys = stdio_keys, .nkeys = VL_ARRAY_LEN(stdio_keys), .where = "stdio"};
    if (!mapit_begin(P, &m, "'stdio' ({mode: ..., delete_on_success: ...})"))
        return;
    int k;
    bool b;
    while ((k = mapit_next(P, &m)) >= 0) {
        if (k == 0 && parse_want_scalar(P, "mode", "a stdio mode"))
            stdio_mode(P, bits);
        else if (k == 1 && parse_bool(P, "delete_on_success", &b) && b)
            *bits |= SPEC_JOB_DELETE_ON_SUCCESS;
    }
}

/* ---- execution_config ---- */

/* Linux's signal names (without SIG), for termination_signal. */
static const struct {
    const char *name;
    int sig;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
    {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

static void exec_signal(struct P *P, struct spec_exec *x)
{
    if (!parse_want_scalar(P, "termination_signal", "a signal name like SIGTERM"))
        return;
    const struct yev *e = yread_peek(P->r);
    const char *s = e->val;
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    int sig = 0;
    for (size_t i = 0; i < VL_ARRAY_LEN(signals) && !sig; i++)
        if (!strcasecmp(s, signals[i].name))
            sig = signals[i].sig;
    char *end;
    errno = 0;
    long n = strtol(e->val, &end, 10);
    if (!sig && *e->val && !*end && !errno && n > 0 && n <= 64)
        sig = (int)n;
    if (!sig) {
        lerr(P->g, e->loc,
             "termination_signal '%s' is not a signal: write its name (SIGTERM, SIGINT, "
             "SIGUSR1, ...) or number",
             lcut(P->g, e->val));
    } else {
        x->term_signal = sig;
        x->set |= SPEC_EXEC_TERM_SIGNAL;
    }
    yread_next(P->r);
}

static void exec_code(struct P *P, const char *key, int32_t *code, uint32_t bit, uint32_t *set)
{
    uint32_t v;
    uint64_t loc = yread_peek(P->r)->loc;
    if (!parse_u32(P, key, 255, &v))
        return;
    if (v == 0) {
        lerr(P->g, loc, "'%s' must be an exit status from 1 to 255, not 0", key);
        return;
    }
    *code = (int32_t)v;
    *set |= bit;
}

static void exec_mode(struct P *P)
{
    if (!parse_want_scalar(P, "mode", "direct, slurm or auto"))
        return;
    const struct yev *e = yread_peek(P->r);
    if (!strcmp(e->val, "slurm"))
        lwarn(P->g, e->loc,
              "'mode: slurm' is ignored: volley runs each job itself on this node, not with "
              "srun; the execution_config fields of slurm mode are ignored too");
    else if (strcmp(e->val, "direct") && strcmp(e->val, "auto"))
        lerr(P->g, e->loc, "execution_config mode must be direct, slurm or auto, not '%s'",
             lcut(P->g, e->val));
    yread_next(P->r);
}

static const char *const exec_keys[] = {
    "mode",
    "limit_resources",
    "termination_signal",
    "sigterm_lead_seconds",
    "timeout_exit_code",
    "oom_exit_code",
    "stdio",
};

static const char slurm_why[] =
    "it is a slurm-mode setting, and volley runs each job itself on this node";
static const struct mapnote exec_notes[] = {
    {"sigkill_headroom_seconds", SPEC_DIAG_WARNING,
     "it counts back from an allocation's end, and volley's run has no end time"},
    {"staggered_start", SPEC_DIAG_WARNING,
     "it spaces out torc's job runners in Slurm allocations; volley has one runner"},
    {"srun_termination_signal", SPEC_DIAG_WARNING, slurm_why},
    {"enable_cpu_bind", SPEC_DIAG_WARNING, slurm_why},
    {"srun_mpi", SPEC_DIAG_WARNING, slurm_why},
    {"job_stdio_overrides", SPEC_DIAG_WARNING,
     "torc fills it from the jobs' own stdio, which volley reads"},
    {NULL, 0, NULL},
};

void parse_exec(struct P *P)
{
    struct spec_exec *x = &P->R->exec;
    const struct yev *e = yread_peek(P->r);
    if (yev_is_null(e)) {
        yread_next(P->r);
        return;
    }
    struct mapit m = {.keys = exec_keys,
                      .nkeys = VL_ARRAY_LEN(exec_keys),
                      .notes = exec_notes,
                      .where = "execution_config"};
    if (!mapit_begin(P, &m, "'execution_config'"))
        return;
    int k;
    bool b;
    while ((k = mapit_next(P, &m)) >= 0) {
        switch (k) {
        case 0:
            exec_mode(P);
            break;
        case 1:
            if (parse_bool(P, "limit_resources", &b) && !b)
                x->set |= SPEC_EXEC_NO_LIMITS;
            break;
        case 2:
            exec_signal(P, x);
            break;
        case 3:
            if (parse_u32(P, "sigterm_lead_seconds", 86400, &x->term_lead_s))
                x->set |= SPEC_EXEC_TERM_LEAD;
            break;
        case 4:
            exec_code(P, "timeout_exit_code", &x->timeout_exit_code, SPEC_EXEC_TIMEOUT_CODE,
                      &x->set);
            break;
        case 5:
            exec_code(P, "oom_exit_code", &x->oom_exit_code, SPEC_EXEC_OOM_CODE, &x->set);
            break;
        case 6:
            parse_stdio(P, &P->R->wf_stdio);
            break;
        }
    }
}

/* ---- actions ---- */

static const char *const triggers[] = {"on_workflow_start", "on_workflow_complete",
                                       "on_jobs_ready",     "on_jobs_complete",
                                       "on_worker_start",   "on_worker_complete"};
static const char *const action_types[] = {"run_commands", "schedule_nodes"};

/* A scalar naming one of names (its index, or -1 after an error). */
static int parse_choice(struct P *P, const char *key, const char *const *names, size_t n)
{
    if (!parse_want_scalar(P, key, "a string"))
        return -1;
    const struct yev *e = yread_peek(P->r);
    int found = -1;
    for (size_t i = 0; i < n && found < 0; i++)
        if (!strcmp(e->val, names[i]))
            found = (int)i;
    if (found < 0) {
        const char *dym = did_you_mean(e->val, names, n);
        lerr(P->g, e->loc, "%s '%s' is not one torc knows%s%s%s", key, lcut(P->g, e->val),
             dym ? "; did you mean '" : "", dym ? dym : "", dym ? "'?" : "");
    }
    yread_next(P->r);
    return found;
}

/* A list of strings into v (struct ritem of kind, or struct rstr when
 * kind is IT_NKINDS); the number read. */
static uint32_t action_list(struct P *P, const char *key, struct vec *v, uint8_t kind)
{
    uint64_t first = P->R->items.n;
    parse_list(P, key, kind);
    uint32_t n = (uint32_t)(P->R->items.n - first);
    for (uint64_t i = first; i < P->R->items.n; i++) {
        const struct ritem *it = &VEC_AT(P->R->items, struct ritem, i);
        if (kind == IT_NKINDS)
            *(struct rstr *)vec_push(v) = it->s;
        else
            *(struct ritem *)vec_push(v) = *it;
    }
    P->R->items.n = first; /* they were only passing through */
    return n;
}

static const char *const action_keys[] = {
    "trigger_type",
    "action_type",
    "jobs",
    "job_name_regexes",
    "commands",
    "persistent",
    "scheduler",
    "scheduler_type",
    "num_allocations",
    "start_one_worker_per_node",
    "max_parallel_jobs",
};

/* Reads the action's keys into a; its trigger and type (-1: absent or bad). */
static void action_keys_read(struct P *P, struct ract *a, int *trig, int *type, bool *has_cmds)
{
    struct mapit m = {
        .keys = action_keys, .nkeys = VL_ARRAY_LEN(action_keys), .where = "an action"};
    if (!mapit_begin(P, &m, "an action"))
        return;
    a->loc = m.loc;
    int k;
    bool b;
    while ((k = mapit_next(P, &m)) >= 0) {
        switch (k) {
        case 0:
            *trig = parse_choice(P, "trigger_type", triggers, VL_ARRAY_LEN(triggers));
            break;
        case 1:
            *type = parse_choice(P, "action_type", action_types, VL_ARRAY_LEN(action_types));
            break;
        case 2:
        case 3:
            if (a->sel_loc == LOC_NONE)
                a->sel_loc = yread_peek(P->r)->loc;
            a->nsel += action_list(P, action_keys[k], &P->R->asel, k == 2 ? IT_DEP : IT_DEPRX);
            break;
        case 4:
            *has_cmds = true;
            a->ncmds = action_list(P, "commands", &P->R->acmds, IT_NKINDS);
            break;
        case 5:
            parse_bool(P, "persistent", &b); /* one runner: nothing to share */
            break;
        default:
            yread_skip(P->r); /* schedule_nodes' settings */
            break;
        }
    }
}

void parse_action(struct P *P)
{
    struct ract a = {.loc = LOC_NONE,
                     .sel_loc = LOC_NONE,
                     .cmd_first = P->R->acmds.n,
                     .sel_first = P->R->asel.n};
    int trig = -2, type = -2;
    bool has_cmds = false;
    action_keys_read(P, &a, &trig, &type, &has_cmds);
    if (parse_failed(P) || a.loc == LOC_NONE)
        return;
    bool keep = trig >= 0 && type == 0;
    if (trig == -2)
        lerr(P->g, a.loc, "an action needs a 'trigger_type'");
    if (type == -2)
        lerr(P->g, a.loc, "an action needs an 'action_type'");
    if (type == 1) {
        lwarn(P->g, a.loc,
              "a schedule_nodes action is ignored: volley runs on this node, with no Slurm "
              "allocations to request");
        keep = false;
    } else if (trig == 4 || trig == 5) {
        lwarn(P->g, a.loc,
              "an action with trigger_type %s is ignored: torc runs it in each of its job "
              "runners, and volley has none",
              triggers[trig]);
        keep = false;
    }
    if (keep && (!has_cmds || !a.ncmds)) {
        lerr(P->g, a.loc, "a run_commands action needs 'commands' (a list of commands)");
        keep = false;
    }
    if (keep && trig >= SPEC_ON_JOBS_READY && !a.nsel) {
        lerr(P->g, a.loc, "an %s action needs 'jobs' or 'job_name_regexes' (the jobs it waits for)",
             triggers[trig]);
        keep = false;
    }
    if (keep && trig < SPEC_ON_JOBS_READY && a.nsel)
        lwarn(P->g, a.sel_loc, "'jobs' and 'job_name_regexes' are ignored by %s", triggers[trig]);
    if (!keep) {
        P->R->acmds.n = a.cmd_first;
        P->R->asel.n = a.sel_first;
        return;
    }
    a.trigger = (uint32_t)trig;
    if (trig < SPEC_ON_JOBS_READY) {
        P->R->asel.n = a.sel_first;
        a.nsel = 0;
    }
    *(struct ract *)vec_push(&P->R->acts) = a;
}

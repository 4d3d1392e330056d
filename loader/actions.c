/*
 * actions.c - torc's actions with run_commands, resolved: each action's
 * commands into the pool, and the jobs an on_jobs_ready / on_jobs_complete
 * action waits for (its `jobs` by name, its `job_name_regexes` matched
 * anywhere in a name, as torc's Rust regexes and volley's
 * depends_on_regexes are) into one sorted list of job ids.
 *
 * Run after pass B, while the job table and the regex cache live: a name
 * that matches no job is an error with a did-you-mean, a pattern that
 * matches none is an error, as they are in depends_on.
 */
#include "expand_int.h"

#include <stdio.h>

/* The jobs of action a (its items in R->asel) appended to X->act_jobs. */
static void action_jobs(struct X *X, const struct ract *a)
{
    const struct raw *R = X->R;
    uint64_t first = X->act_jobs.n;
    for (uint32_t i = 0; i < a->nsel; i++) {
        const struct ritem *it = &VEC_AT(R->asel, struct ritem, a->sel_first + i);
        const char *s = raw_str(R, it->s.off);
        size_t n = strlen(s);
        if (it->kind == IT_DEPRX) {
            uint32_t id = rx_get(X, 'j', s, n, it->s.loc, true);
            const struct rx *r = &VEC_AT(X->rxs, struct rx, id);
            if (!r->bad && !r->nres && !X->jobs_incomplete)
                ldiag_add(X->g, SPEC_DIAG_ERROR, it->s.loc, K_ACTION,
                          "the action's job_name_regexes pattern '%s' matches no job",
                          lcut(X->g, s));
            for (uint64_t m = 0; m < r->nres; m++)
                u32_push(&X->act_jobs, VEC_AT(X->rxres, uint32_t, r->res + m));
            continue;
        }
        uint32_t j = strtab_find(&X->jtab, s, n, strtab_hash(s, n));
        if (j != SPEC_NONE) {
            u32_push(&X->act_jobs, j);
            continue;
        }
        if (X->jobs_incomplete && unknown_maybe_dropped(X, 'j', s, n))
            continue;
        const char *dym = unknown_dym(X, 'j', s, n, SPEC_NONE);
        ldiag_add(X->g, SPEC_DIAG_ERROR, it->s.loc, K_ACTION,
                  "the action's job '%s' matches no job%s%s%s", lcut(X->g, s),
                  dym ? "; did you mean '" : "", dym ? lcut(X->g, dym) : "", dym ? "'?" : "");
    }
    /* sorted and distinct, in place over the new tail (none: p may be NULL) */
    if (X->act_jobs.n - first > 1) {
        struct vec tail = {.p = (uint32_t *)X->act_jobs.p + first,
                           .n = X->act_jobs.n - first,
                           .elem = sizeof(uint32_t)};
        u32_sort_unique(&tail);
        X->act_jobs.n = first + tail.n;
    }
}

void actions_resolve(struct X *X)
{
    const struct raw *R = X->R;
    for (uint64_t i = 0; i < R->acts.n; i++) {
        const struct ract *a = &VEC_AT(R->acts, struct ract, i);
        struct spec_action *sa = vec_push(&X->acts);
        memset(sa, 0, sizeof *sa);
        sa->trigger = a->trigger;
        sa->line = loc_line(a->loc) + 1;
        sa->cmd_first = (uint32_t)X->act_cmds.n;
        sa->ncmds = a->ncmds;
        for (uint32_t c = 0; c < a->ncmds; c++) {
            const struct rstr *cmd = &VEC_AT(R->acmds, struct rstr, a->cmd_first + c);
            const char *t = raw_str(R, cmd->off);
            size_t n = strlen(t);
            char what[64];
            snprintf(what, sizeof what, "command %u of the action", (unsigned)c + 1);
            env_check_arg(X, cmd->loc, n, what);
            *(uint64_t *)vec_push(&X->act_cmds) = sbuf_addz(&X->pool, t, n);
        }
        sa->job_first = X->act_jobs.n;
        action_jobs(X, a);
        sa->njobs = (uint32_t)(X->act_jobs.n - sa->job_first);
    }
}

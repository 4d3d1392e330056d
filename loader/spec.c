/*
 * spec.c - freeing and checking a struct spec (see spec.h for the
 * invariants). The check is what makes a spec from any producer (the
 * loader, a generator, a restored volley.db) safe to build an arena from:
 * after it passes, no consumer needs bounds checks of its own.
 *
 * The acyclicity check is Kahn's algorithm with an explicit queue, so it is
 * O(jobs + edges) and never recurses; it needs 4 bytes per job of scratch.
 */
#include "spec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void spec_free(struct spec *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->name);
    free(s->description);
    free(s->pool);
    free(s->name_off);
    free(s->cmd_off);
    free(s->kid_off);
    free(s->kids);
    free(s->npar);
    free(s->rr);
    free(s->fh);
    free(s->flags);
    free(s->prio);
    free(s->in_off);
    free(s->ins);
    free(s->out_off);
    free(s->outs);
    free(s->rrs);
    free(s->fhs);
    free(s->rules);
    free(s->codes);
    free(s->files);
    free(s->srcs);
    free(s->env);
    free(s->envsets);
    free(s->envkv);
    free(s->actions);
    free(s->act_cmds);
    free(s->act_jobs);
    memset(s, 0, sizeof *s);
}

/* The length of the key of "KEY=VALUE". */
static size_t env_key_len(const char *kv)
{
    return strcspn(kv, "=");
}

/* Whether the entries kv[first .. first + n) have the key of entry. */
static bool kv_has_key(const char *pool, const uint64_t *kv, uint64_t first, uint32_t n,
                       const char *entry)
{
    size_t kl = env_key_len(entry);
    for (uint32_t i = 0; i < n; i++) {
        const char *o = pool + kv[first + i];
        if (env_key_len(o) == kl && !memcmp(o, entry, kl))
            return true;
    }
    return false;
}

/* Whether set k's own entries have the key of kv. */
static bool set_has_key(const struct spec *s, const struct spec_envset *k, const char *kv)
{
    return kv_has_key(s->pool, s->envkv, k->first, k->n, kv);
}

uint32_t spec_envset_list(const char *pool, const struct spec_envset *sets, const uint64_t *kv,
                          uint32_t set, uint64_t *out, uint32_t cap)
{
    uint32_t n = 0;
    /* own entries first, then each base's that no set before it overrode */
    for (uint32_t k = set; k != SPEC_NONE; k = sets[k].base) {
        const struct spec_envset *e = &sets[k];
        for (uint32_t i = 0; i < e->n; i++) {
            const char *entry = pool + kv[e->first + i];
            bool over = false;
            for (uint32_t o = set; o != k && !over; o = sets[o].base)
                over = kv_has_key(pool, kv, sets[o].first, sets[o].n, entry);
            if (over)
                continue;
            if (n < cap)
                out[n] = kv[e->first + i];
            n++;
        }
    }
    return n;
}

uint32_t spec_job_env(const struct spec *s, uint32_t jid, uint64_t *out, uint32_t cap)
{
    if (!s->nenvsets)
        return 0;
    return spec_envset_list(s->pool, s->envsets, s->envkv, s->env ? s->env[jid] : 0, out, cap);
}

uint32_t spec_effects(const struct spec *s)
{
    uint32_t fx = 0;
    for (uint32_t i = 0; i < s->nenvsets; i++)
        if (s->envsets[i].n)
            fx |= SPEC_FX_ENV;
    for (uint32_t j = 0; j < s->njobs; j++) {
        if (spec_flags_stdio(s->flags[j]) != SPEC_STDIO_SEPARATE)
            fx |= SPEC_FX_STDIO;
        if (s->flags[j] & SPEC_JOB_DELETE_ON_SUCCESS)
            fx |= SPEC_FX_DELETE_OUTPUT;
    }
    if (s->nactions)
        fx |= SPEC_FX_ACTIONS;
    if (s->exec.set & SPEC_EXEC_TIMEOUT_CODE)
        fx |= SPEC_FX_TIMEOUT_CODE;
    if (s->exec.set & SPEC_EXEC_OOM_CODE)
        fx |= SPEC_FX_OOM_CODE;
    if (spec_term_signal(s) != 15)
        fx |= SPEC_FX_TERM_SIGNAL;
    if (s->exec.set & SPEC_EXEC_TERM_LEAD)
        fx |= SPEC_FX_TERM_LEAD;
    if (!spec_limit_resources(s))
        fx |= SPEC_FX_NO_LIMITS;
    return fx;
}

const char *spec_effect_key(uint32_t fx)
{
    switch (fx) {
    case SPEC_FX_ENV:
        return "env";
    case SPEC_FX_STDIO:
        return "stdio";
    case SPEC_FX_DELETE_OUTPUT:
        return "stdio.delete_on_success";
    case SPEC_FX_ACTIONS:
        return "actions";
    case SPEC_FX_TIMEOUT_CODE:
        return "execution_config.timeout_exit_code";
    case SPEC_FX_OOM_CODE:
        return "execution_config.oom_exit_code";
    case SPEC_FX_TERM_SIGNAL:
        return "execution_config.termination_signal";
    case SPEC_FX_TERM_LEAD:
        return "execution_config.sigterm_lead_seconds";
    case SPEC_FX_NO_LIMITS:
        return "execution_config.limit_resources";
    default:
        return "?";
    }
}

/* A pool offset must name a NUL-terminated string inside the pool. */
static bool str_ok(const struct spec *s, uint64_t off, bool optional)
{
    if (off == SPEC_NO_STR)
        return optional;
    return off < s->pool_len && memchr(s->pool + off, '\0', s->pool_len - off) != NULL;
}

static int check_csr(const struct spec *s, const uint64_t *off, const uint32_t *val, uint32_t limit,
                     const char *what, struct vl_err *err)
{
    if (off[0] != 0)
        return vl_err_set(err, VL_ECORRUPT, "%s offsets do not start at 0", what);
    for (uint32_t j = 0; j < s->njobs; j++) {
        if (off[j + 1] < off[j])
            return vl_err_set(err, VL_ECORRUPT, "job %" PRIu32 ": %s offsets decrease", j, what);
        for (uint64_t e = off[j]; e < off[j + 1]; e++)
            if (val[e] >= limit)
                return vl_err_set(err, VL_ECORRUPT,
                                  "job %" PRIu32 ": %s entry %" PRIu32 " is out of range", j, what,
                                  val[e]);
    }
    return 0;
}

static int check_acyclic(const struct spec *s, struct vl_err *err)
{
    uint32_t n = s->njobs;
    uint32_t *deg = vl_alloc_array(n, sizeof *deg, false, "the cycle check", err);
    uint32_t *queue = vl_alloc_array(n, sizeof *queue, false, "the cycle check", err);
    int rc = 0;
    if (!deg || !queue) {
        rc = err ? err->code : VL_ETOOBIG;
        goto out;
    }
    memcpy(deg, s->npar, (size_t)n * sizeof *deg);
    uint32_t head = 0, tail = 0;
    for (uint32_t j = 0; j < n; j++)
        if (deg[j] == 0)
            queue[tail++] = j;
    while (head < tail) {
        uint32_t j = queue[head++];
        for (uint64_t e = s->kid_off[j]; e < s->kid_off[j + 1]; e++)
            if (--deg[s->kids[e]] == 0)
                queue[tail++] = s->kids[e];
    }
    if (tail != n) {
        uint32_t j = 0;
        while (deg[j] == 0)
            j++;
        rc = vl_err_set(err, VL_ECORRUPT, "the dependency graph has a cycle through job '%s'",
                        spec_job_name(s, j));
    }
out:
    free(deg);
    free(queue);
    return rc;
}

static int check_env(const struct spec *s, struct vl_err *err)
{
    if (!s->nenvsets) {
        if (s->env)
            return vl_err_set(err, VL_ECORRUPT, "jobs have env sets, but there are none");
        return 0;
    }
    if (!s->envsets || (s->nenvkv && !s->envkv))
        return vl_err_set(err, VL_ECORRUPT, "the env arrays are missing");
    for (uint32_t k = 0; k < s->nenvsets; k++) {
        const struct spec_envset *e = &s->envsets[k];
        if (e->first > s->nenvkv || e->n > s->nenvkv - e->first ||
            (e->base != SPEC_NONE && e->base >= k))
            return vl_err_set(err, VL_ECORRUPT, "env set %" PRIu32 " is out of range", k);
        for (uint32_t i = 0; i < e->n; i++) {
            uint64_t off = s->envkv[e->first + i];
            if (!str_ok(s, off, false) || !strchr(s->pool + off, '=') ||
                env_key_len(s->pool + off) == 0)
                return vl_err_set(err, VL_ECORRUPT,
                                  "env set %" PRIu32 ": entry %" PRIu32 " is not KEY=VALUE", k, i);
            struct spec_envset before = {e->first, i, SPEC_NONE};
            if (set_has_key(s, &before, s->pool + off))
                return vl_err_set(err, VL_ECORRUPT, "env set %" PRIu32 ": a key is there twice", k);
        }
    }
    for (uint32_t j = 0; s->env && j < s->njobs; j++)
        if (s->env[j] >= s->nenvsets)
            return vl_err_set(err, VL_ECORRUPT, "job %" PRIu32 ": env set out of range", j);
    for (uint32_t j = 0; j < s->njobs; j++)
        if (spec_flags_stdio(s->flags[j]) > SPEC_STDIO_NONE)
            return vl_err_set(err, VL_ECORRUPT, "job %" PRIu32 ": bad stdio mode", j);
    return 0;
}

static int check_actions(const struct spec *s, struct vl_err *err)
{
    if (s->nactions && !s->actions)
        return vl_err_set(err, VL_ECORRUPT, "the action array is missing");
    for (uint32_t i = 0; i < s->nactions; i++) {
        const struct spec_action *a = &s->actions[i];
        if (a->trigger > SPEC_ON_JOBS_COMPLETE || !a->ncmds || a->cmd_first > s->nact_cmds ||
            a->ncmds > s->nact_cmds - a->cmd_first || a->job_first > s->nact_jobs ||
            a->njobs > s->nact_jobs - a->job_first)
            return vl_err_set(err, VL_ECORRUPT, "action %" PRIu32 " is out of range", i);
        for (uint32_t c = 0; c < a->ncmds; c++)
            if (!str_ok(s, s->act_cmds[a->cmd_first + c], false))
                return vl_err_set(err, VL_ECORRUPT, "action %" PRIu32 ": a command is out of pool",
                                  i);
        for (uint32_t k = 0; k < a->njobs; k++) {
            uint32_t j = s->act_jobs[a->job_first + k];
            if (j >= s->njobs || (k && s->act_jobs[a->job_first + k - 1] >= j))
                return vl_err_set(err, VL_ECORRUPT, "action %" PRIu32 ": bad job list", i);
        }
    }
    return 0;
}

int spec_check(const struct spec *s, struct vl_err *err)
{
    if (!s->name || !s->pool || s->pool_len == 0 || s->pool[s->pool_len - 1] != '\0')
        return vl_err_set(err, VL_ECORRUPT, "the workflow has no name or string pool");
    if (s->njobs > SPEC_MAX_JOBS)
        return vl_err_set(err, VL_ECORRUPT, "%" PRIu32 " jobs is more than volley can address",
                          s->njobs);
    if (s->njobs && (!s->name_off || !s->cmd_off || !s->npar || !s->rr || !s->fh || !s->flags))
        return vl_err_set(err, VL_ECORRUPT, "per-job arrays are missing");
    if (!s->kid_off || (s->nedges && !s->kids))
        return vl_err_set(err, VL_ECORRUPT, "the dependency arrays are missing");
    if (s->kid_off[s->njobs] != s->nedges)
        return vl_err_set(err, VL_ECORRUPT, "edge count %" PRIu64 " does not match offsets",
                          s->nedges);
    int rc = check_csr(s, s->kid_off, s->kids, s->njobs, "dependency", err);
    if (rc)
        return rc;

    uint32_t *seen = vl_alloc_array(s->njobs, sizeof *seen, true, "the spec check", err);
    if (!seen)
        return err ? err->code : VL_ETOOBIG;
    for (uint32_t j = 0; j < s->njobs && !rc; j++) {
        for (uint64_t e = s->kid_off[j]; e < s->kid_off[j + 1]; e++) {
            uint32_t k = s->kids[e];
            if (k == j)
                rc = vl_err_set(err, VL_ECORRUPT, "job %" PRIu32 " depends on itself", j);
            else if (e > s->kid_off[j] && s->kids[e - 1] >= k)
                rc = vl_err_set(err, VL_ECORRUPT,
                                "job %" PRIu32 ": children not strictly ascending", j);
            if (rc)
                break;
            seen[k]++;
        }
    }
    for (uint32_t j = 0; j < s->njobs && !rc; j++)
        if (seen[j] != s->npar[j])
            rc = vl_err_set(err, VL_ECORRUPT,
                            "job %" PRIu32 ": in-degree %" PRIu32 " but %" PRIu32 " parents", j,
                            s->npar[j], seen[j]);
    free(seen);
    if (rc)
        return rc;

    for (uint32_t j = 0; j < s->njobs; j++) {
        if (!str_ok(s, s->name_off[j], false) || !str_ok(s, s->cmd_off[j], false))
            return vl_err_set(err, VL_ECORRUPT, "job %" PRIu32 ": name or command out of pool", j);
        if (s->rr[j] != SPEC_NONE16 && s->rr[j] >= s->nrr)
            return vl_err_set(err, VL_ECORRUPT, "job %" PRIu32 ": resource class out of range", j);
        if (s->fh[j] != SPEC_NONE16 && s->fh[j] >= s->nfh)
            return vl_err_set(err, VL_ECORRUPT, "job %" PRIu32 ": failure handler out of range", j);
    }
    for (uint32_t i = 0; i < s->nrr; i++)
        if (!str_ok(s, s->rrs[i].name_off, false))
            return vl_err_set(err, VL_ECORRUPT, "resource class %" PRIu32 ": bad name", i);
    for (uint32_t i = 0; i < s->nfh; i++) {
        const struct spec_fh *h = &s->fhs[i];
        if (!str_ok(s, h->name_off, false) || h->rule_first > s->nrules ||
            h->nrules > s->nrules - h->rule_first)
            return vl_err_set(err, VL_ECORRUPT, "failure handler %" PRIu32 ": bad rules", i);
    }
    for (uint32_t i = 0; i < s->nrules; i++) {
        const struct spec_rule *r = &s->rules[i];
        if (r->code_first > s->ncodes || r->ncodes > s->ncodes - r->code_first ||
            !str_ok(s, r->script_off, true))
            return vl_err_set(err, VL_ECORRUPT, "failure rule %" PRIu32 " is out of range", i);
    }
    for (uint32_t i = 0; i < s->nfiles; i++) {
        const struct spec_file *f = &s->files[i];
        if (!str_ok(s, f->name_off, false) || !str_ok(s, f->path_off, false) ||
            (f->producer != SPEC_NONE && f->producer >= s->njobs))
            return vl_err_set(err, VL_ECORRUPT, "file %" PRIu32 " is out of range", i);
    }
    if (s->nfiles) {
        if (!s->in_off || !s->out_off)
            return vl_err_set(err, VL_ECORRUPT, "the file relation arrays are missing");
        if ((rc = check_csr(s, s->in_off, s->ins, s->nfiles, "input file", err)) ||
            (rc = check_csr(s, s->out_off, s->outs, s->nfiles, "output file", err)))
            return rc;
    }
    for (uint32_t i = 0; i < s->nsrcs; i++)
        if (s->srcs[i].first >= s->njobs || (i && s->srcs[i].first <= s->srcs[i - 1].first))
            return vl_err_set(err, VL_ECORRUPT,
                              "source line table entry %" PRIu32 " is out of order", i);
    if ((rc = check_env(s, err)) || (rc = check_actions(s, err)))
        return rc;
    return check_acyclic(s, err);
}

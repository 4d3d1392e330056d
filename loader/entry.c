/*
 * entry.c - one job or file entry while it expands: its parameters (shared
 * ones pulled in by use_parameters first, then its own), its compiled
 * templates, and which parameters name instances and which fan in.
 *
 * Instances are names (SPEC.md): the parameters the name uses give one
 * instance per combination, enumerated with the name's parameters
 * outermost, so the combinations of one instance are contiguous; the
 * others fan in (a reference using them expands over all their values for
 * the same instance). Combinations are stepped by the inline helpers in
 * expand_int.h.
 */
#include "expand_int.h"

#include <inttypes.h>

static const struct param *find_shared(const struct raw *R, const char *name)
{
    for (uint64_t i = 0; i < R->sparams.n; i++)
        if (!strcmp(raw_str(R, VEC_AT(R->sparams, struct param, i).name), name))
            return &VEC_AT(R->sparams, struct param, i);
    return NULL;
}

/* Collects the entry's parameters and compiles its templates. */
/* Pulls the shared parameters named in use_parameters into E (in that
 * order), then the entry's own; false when one is unknown or bad. */
static bool entry_params(struct X *X, struct E *E, const struct rent *e)
{
    const struct raw *R = X->R;
    const char *what = e->is_file ? "file" : "job";
    for (uint32_t k = 0; k < e->it_n; k++) {
        const struct ritem *it = &VEC_AT(R->items, struct ritem, e->it_first + k);
        if (it->kind != IT_USE)
            continue;
        const char *pn = raw_str(R, it->s.off);
        const struct param *p = find_shared(R, pn);
        if (!p) {
            if (X->quiet) {
                E->ok = false;
                continue;
            }
            const char *cands[64];
            size_t nc = 0;
            for (uint64_t i = 0; i < R->sparams.n && nc < 64; i++)
                cands[nc++] = raw_str(R, VEC_AT(R->sparams, struct param, i).name);
            const char *dym = did_you_mean(pn, cands, nc);
            if (dym)
                lerr(X->g, it->s.loc,
                     "use_parameters: '%s' is not a shared parameter; did you mean '%s'?", pn, dym);
            else
                lerr(X->g, it->s.loc, "use_parameters: '%s' is not a shared parameter", pn);
            E->ok = false; /* its placeholders would only cascade */
            continue;
        }
        bool local = false;
        for (uint32_t l = 0; l < e->lp_n; l++)
            if (!strcmp(raw_str(R, VEC_AT(R->params, struct param, e->lp_first + l).name), pn))
                local = true;
        if (local) {
            if (!X->quiet)
                lwarn(X->g, it->s.loc,
                      "use_parameters: '%s' is also a parameter of this %s, which "
                      "takes precedence",
                      pn, what);
            continue;
        }
        bool dup = false;
        for (uint32_t q = 0; q < E->np; q++)
            dup |= E->pt[q] == p;
        if (dup)
            continue;
        if (E->np == MAXP) {
            if (!X->quiet)
                lerr(X->g, it->s.loc, "more than %d parameters in one %s", MAXP, what);
            E->ok = false;
            break;
        }
        E->pt[E->np++] = p;
    }
    for (uint32_t l = 0; l < e->lp_n; l++) {
        if (E->np == MAXP) {
            if (!X->quiet)
                lerr(X->g, e->loc, "more than %d parameters in one %s", MAXP, what);
            E->ok = false;
            break;
        }
        E->pt[E->np++] = &VEC_AT(R->params, struct param, e->lp_first + l);
    }
    for (uint32_t p = 0; p < E->np; p++)
        if (E->pt[p]->bad)
            E->ok = false; /* its value's error is reported; so are the rest of
                              its mistakes, once it is fixed */
    return E->ok;
}

/* Compiles the entry's templates; false after reporting an error. */
static bool entry_compile(struct X *X, struct E *E, const struct rent *e)
{
    const struct raw *R = X->R;
    bool ok = true;
    ok &= tmpl_compile(X, E, &E->t_name, &e->name, TK_NAME, "name");
    if (e->is_file) {
        ok &= tmpl_compile(X, E, &E->t_path, &e->path, TK_NAME, "path");
    } else {
        ok &= tmpl_compile(X, E, &E->t_cmd, &e->cmd, TK_CMD, "command");
        ok &= tmpl_compile(X, E, &E->t_script, &e->script, TK_CMD, "invocation_script");
        ok &= tmpl_compile(X, E, &E->t_rr, &e->rr, TK_NAME, "resource_requirements");
        ok &= tmpl_compile(X, E, &E->t_fh, &e->fh, TK_NAME, "failure_handler");
        E->t_items = e->it_n ? vl_xcalloc(e->it_n, sizeof *E->t_items) : NULL;
        for (uint32_t k = 0; k < e->it_n; k++) {
            const struct ritem *it = &VEC_AT(R->items, struct ritem, e->it_first + k);
            if (it->kind != IT_USE)
                ok &= tmpl_compile(X, E, &E->t_items[k], &it->s, TK_NAME, "reference");
        }
        E->t_env = e->env_n ? vl_xcalloc(e->env_n, sizeof *E->t_env) : NULL;
        for (uint32_t k = 0; k < e->env_n; k++) {
            const struct renv *v = &VEC_AT(R->envs, struct renv, e->env_first + k);
            ok &= tmpl_compile(X, E, &E->t_env[k], &v->val, TK_ENV, "env");
            E->env_mask |= E->t_env[k].mask;
        }
    }
    if (!ok)
        E->ok = false;
    return ok;
}

/* zip: all parameters step together; one instance per index. */
static bool entry_shape_zip(struct X *X, struct E *E, const struct rent *e)
{
    uint32_t L = 0;
    for (uint32_t p = 0; p < E->np; p++) {
        if (p == 0) {
            L = E->pt[p]->n;
        } else if (E->pt[p]->n != L) {
            if (!X->quiet)
                lerr(X->g, e->mode_loc != LOC_NONE ? e->mode_loc : e->loc,
                     "parameter_mode zip needs parameters of equal length: '%s' has %" PRIu32
                     " values, '%s' has %" PRIu32,
                     raw_str(X->R, E->pt[0]->name), L, raw_str(X->R, E->pt[p]->name), E->pt[p]->n);
            E->ok = false;
            return false;
        }
    }
    E->C = E->np ? L : 1;
    E->F = 1;
    return true;
}

/* Which parameters name instances (E->name_p, C combinations) and which
 * fan in (E->fan_p, F combinations); false after reporting an error. */
static bool entry_shape(struct X *X, struct E *E, const struct rent *e)
{
    const char *what = e->is_file ? "file" : "job";
    E->name_mask = E->t_name.mask;
    /* what an instance is made of beyond its references: copies of one
     * name must not differ in it */
    uint64_t own = E->t_cmd.mask | E->t_script.mask | E->t_path.mask | E->t_rr.mask | E->t_fh.mask |
                   E->env_mask;
    uint64_t used = own;
    for (uint32_t k = 0; E->t_items && k < e->it_n; k++)
        used |= E->t_items[k].mask;
    if (e->zip)
        return entry_shape_zip(X, E, e);
    E->C = 1;
    E->F = 1;
    for (uint32_t p = 0; p < E->np; p++) {
        uint64_t bit = 1ull << p;
        if (E->name_mask & bit) {
            E->name_p[E->nname++] = p;
            if (E->C > MAX_JOBS_BUILD || (E->C *= E->pt[p]->n) > MAX_JOBS_BUILD) {
                if (!X->quiet)
                    lerr(X->g, E->t_name.loc, "%s '%s' expands to more than %u instances", what,
                         lcut(X->g, ename(X, E)), MAX_JOBS_BUILD);
                E->ok = false;
                return false;
            }
        } else if (used & bit) {
            if ((own & bit) && E->pt[p]->n > 1) {
                const char *pn = raw_str(X->R, E->pt[p]->name);
                if (!X->quiet)
                    lerr(X->g, E->t_name.loc,
                         "%s name '%s' does not use parameter '%s', so its copies would differ in "
                         "%s; put {%s} in the name",
                         what, lcut(X->g, ename(X, E)), pn,
                         e->is_file                   ? "path"
                         : (own & ~E->env_mask) & bit ? "command"
                                                      : "env",
                         pn);
                E->ok = false;
                return false;
            }
            E->fan_p[E->nfan++] = p;
            E->fan_mask |= bit;
            if (E->F > UINT32_MAX || (E->F *= E->pt[p]->n) > ((uint64_t)1 << 40)) {
                if (!X->quiet)
                    lerr(X->g, E->t_name.loc, "%s '%s' fans in over too many combinations", what,
                         lcut(X->g, ename(X, E)));
                E->ok = false;
                return false;
            }
        }
    }
    return true;
}

bool entry_begin(struct X *X, struct E *E, const struct rent *e)
{
    memset(E, 0, sizeof *E);
    E->e = e;
    E->ok = true;
    E->t_items = NULL;
    return entry_params(X, E, e) && entry_compile(X, E, e) && entry_shape(X, E, e);
}

void entry_end(struct E *E)
{
    free(E->t_items);
    if (E->t_env) /* most entries have none: spare the call */
        free(E->t_env);
    E->t_items = NULL;
    E->t_env = NULL;
}

/* The entry (among the first `lim`) whose jobs hold jid, or NULL. Entries
 * hand out jids in order, so their firsts are nondecreasing. */
const struct rent *entry_of(struct X *X, uint32_t jid, uint64_t lim)
{
    uint64_t lo = 0, hi = lim;
    while (lo < hi) { /* first entry with first > jid */
        uint64_t mid = lo + (hi - lo) / 2;
        if (X->eo[mid].first <= jid)
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo-- > 0)
        if (!X->eo[lo].bad && X->eo[lo].n && jid - X->eo[lo].first < X->eo[lo].n)
            return &VEC_AT(X->R->jobs, struct rent, lo);
    return NULL;
}

/* Lists the combinations of each instance of a collapsed entry: on return
 * (*order)[(*off)[i] .. (*off)[i+1]) are the combinations of instance i. */
void entry_collapse_map(struct X *X, struct E *E, const struct eout *eo, uint32_t **order,
                        uint64_t **off)
{
    uint32_t *map = vl_xmalloc(E->C * sizeof *map);
    for (uint64_t c = 0; c < E->C; c++) {
        entry_set_combo(E, c);
        entry_first_fan(E);
        X->scratch.len = 0;
        tmpl_render(X, E, &E->t_name, &X->scratch);
        uint32_t j = strtab_find(&X->jtab, X->scratch.p ? X->scratch.p : "", X->scratch.len,
                                 strtab_hash(X->scratch.p, X->scratch.len));
        map[c] = j >= eo->first && j - eo->first < eo->n ? j - eo->first : SPEC_NONE;
    }
    *off = vl_xcalloc((uint64_t)eo->n + 1, sizeof **off);
    for (uint64_t c = 0; c < E->C; c++)
        if (map[c] != SPEC_NONE)
            (*off)[map[c] + 1]++;
    for (uint32_t i = 0; i < eo->n; i++)
        (*off)[i + 1] += (*off)[i];
    *order = vl_xmalloc(E->C * sizeof **order);
    uint64_t *pos = vl_xmalloc(((uint64_t)eo->n + 1) * sizeof *pos);
    memcpy(pos, *off, ((uint64_t)eo->n + 1) * sizeof *pos);
    for (uint64_t c = 0; c < E->C; c++)
        if (map[c] != SPEC_NONE)
            (*order)[pos[map[c]]++] = (uint32_t)c;
    free(pos);
    free(map);
}

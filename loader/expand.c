/*
 * expand.c - the raw model -> struct spec: parameter expansion, name
 * resolution, implicit file dependencies, regex dependencies, CSR edges and
 * the cycle check.
 *
 * Order (each step needs the previous one complete):
 *   1. files and user_data (files.c): expanded names -> file ids;
 *   2. pass A over job entries (jobs.c): instance names (-> the job hash table),
 *      commands (with ${files...} filled in), input/output files (CSR per
 *      job), producers of files;
 *   3. pass B over job entries (deps.c): depends_on, depends_on_regexes and the
 *      producers of inputs -> parent lists per job (CSR, child-major, built
 *      in jid order so no sort of all edges is needed);
 *   4. (edges.c) transpose to children per parent (counting sort: ascending for free),
 *      in-degrees, Kahn's algorithm; on a cycle, walk parents to print it.
 *
 * Instances are names (SPEC.md): an entry's parameters split into those its
 * name uses (one instance per combination) and the rest, which fan in: a
 * reference using them expands over all their values for the same instance.
 * Combinations are enumerated with the name's parameters outermost, so the
 * combinations of one instance are contiguous and its edges can be
 * deduplicated in a small scratch list. Names that collide inside one entry
 * (zip with repeated values, "{p:.0f}") take a slower mapped path.
 *
 * Costs per job (the budget of spec.h plus this file's transients): the
 * spec's 33 bytes, parent offsets 8, the name table 16-32, 8 per edge while
 * both CSR directions exist. Regex patterns are compiled once per distinct
 * expanded text (PCRE2 with JIT) and matched over all names once; results
 * are cached, so a parameterized job with a fixed pattern costs one pass.
 */
#include "expand_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

/* ---- growth ---- */

bool jobs_reserve(struct X *X, uint64_t more)
{
    uint64_t need = (uint64_t)X->njobs + more;
    if (need > MAX_JOBS_BUILD) {
        if (!X->too_big)
            lerr(X->g, LOC_NONE, "the workflow expands to more than %u jobs", MAX_JOBS_BUILD);
        X->too_big = true;
        return false;
    }
    if (need <= X->jcap && X->name_off)
        return true;
    /* a workflow that cannot fit is a user error, not an abort */
    uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    if (need * 96 > ram) {
        char b[32];
        if (!X->too_big)
            lerr(X->g, LOC_NONE,
                 "the workflow expands to %" PRIu64 " jobs or more, which need %s, "
                 "more than this machine has",
                 need, vl_fmt_bytes(need * 96, b, sizeof b));
        X->too_big = true;
        return false;
    }
    uint64_t cap = X->jcap ? X->jcap * 3 / 2 : 0;
    if (cap < need)
        cap = need ? need : 1; /* the file CSR offsets need a slot even for no jobs */
    X->name_off = big_realloc(X->name_off, cap * sizeof *X->name_off);
    X->cmd_off = big_realloc(X->cmd_off, cap * sizeof *X->cmd_off);
    X->rr = big_realloc(X->rr, cap * sizeof *X->rr);
    X->fh = big_realloc(X->fh, cap * sizeof *X->fh);
    X->flags = big_realloc(X->flags, cap * sizeof *X->flags);
    X->prio = big_realloc(X->prio, cap * sizeof *X->prio);
    if (X->R->envs.n) /* some job has its own env: a set per job */
        X->env = big_realloc(X->env, cap * sizeof *X->env);
    X->npar = big_realloc(X->npar, cap * sizeof *X->npar);
    if (X->has_files) {
        X->in_off = big_realloc(X->in_off, (cap + 1) * sizeof *X->in_off);
        X->out_off = big_realloc(X->out_off, (cap + 1) * sizeof *X->out_off);
    }
    X->jcap = cap;
    return true;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts a[0..n) and drops repeats; returns the new count. */
uint64_t u32_sort_dedup(uint32_t *a, uint64_t n)
{
    qsort(a, n, sizeof *a, cmp_u32);
    uint64_t w = 1;
    for (uint64_t i = 1; i < n; i++)
        if (a[i] != a[w - 1])
            a[w++] = a[i];
    return w;
}

/* ---- estimates: reserve once instead of growing (copies, page faults) ---- */

static uint64_t est_value(struct X *X, const struct param *p, uint32_t i, const struct fspec *fs)
{
    struct val v;
    param_value(X->R, p, i, &v);
    X->scratch.len = 0;
    fmt_value(&X->scratch, &v, fs);
    return X->scratch.len;
}

/* An upper bound of the rendered length of t (without its NUL). */
static uint64_t est_segs(struct X *X, const struct E *E, uint32_t first, uint32_t n)
{
    uint64_t total = 0;
    for (uint32_t k = 0; k < n; k++) {
        const struct seg *s = &VEC_AT(X->segs, struct seg, first + k);
        if (s->kind == SEG_LIT) {
            total += s->len;
        } else if (s->kind == SEG_REF) {
            total += X->max_path;
            k += s->nsub;
        } else {
            const struct param *p = E->pt[s->param];
            uint64_t w = 0;
            if (p->kind == PK_LIST) {
                for (uint32_t i = 0; i < p->n && i < 4096; i++)
                    w = VL_MAX(w, est_value(X, p, i, &s->fs));
                if (p->n > 4096)
                    w += 64; /* long lists: a margin instead of formatting all */
            } else {
                w = VL_MAX(est_value(X, p, 0, &s->fs), est_value(X, p, p->n - 1, &s->fs));
                w += p->kind == PK_INT ? 0 : p->kind == PK_DEC ? 18 : 26;
            }
            total += w;
        }
    }
    return total;
}

static uint64_t est_tmpl(struct X *X, const struct E *E, const struct tmpl *t)
{
    return t->present ? est_segs(X, E, t->first, t->n) + 1 : 0;
}

/* Sums instances and string bytes over all job entries, then reserves. */
static void reserve_all(struct X *X)
{
    const struct raw *R = X->R;
    uint64_t jobs = 0, bytes = 0;
    struct E E;
    X->quiet = true;
    for (uint64_t i = 0; i < R->jobs.n; i++) {
        X->segs.n = 0;
        if (entry_begin(X, &E, &VEC_AT(R->jobs, struct rent, i))) {
            uint64_t per = est_tmpl(X, &E, &E.t_name) + est_tmpl(X, &E, &E.t_cmd) +
                           est_tmpl(X, &E, &E.t_script) + 1;
            jobs += E.C;
            bytes += per > (1ull << 40) / (E.C ? E.C : 1) ? (1ull << 40) : per * E.C;
        }
        entry_end(&E);
        if (jobs > MAX_JOBS_BUILD || bytes > (1ull << 40))
            break;
    }
    X->quiet = false;
    uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    if (jobs <= MAX_JOBS_BUILD && jobs * 96 <= ram)
        jobs_reserve(X, jobs);
    if (bytes <= ram / 4)
        sbuf_reserve(&X->pool, X->pool.len + bytes);
    strtab_free(&X->jtab);
    strtab_init(&X->jtab, &X->pool.p, &X->name_off,
                jobs <= MAX_JOBS_BUILD && jobs * 96 <= ram ? jobs : 1024);
}

/* ---- the whole ---- */

static void *shrink(void *p, uint64_t n, size_t elem)
{
    return vl_xrealloc(p, (n ? n : 1) * elem);
}

static void x_init(struct X *X, const struct raw *R, struct ldiag *g)
{
    memset(X, 0, sizeof *X);
    X->R = R;
    X->g = g;
    X->files.elem = sizeof(struct spec_file);
    X->ins.elem = X->outs.elem = X->pars.elem = X->tmpu.elem = X->tmpu2.elem = X->rxres.elem =
        sizeof(uint32_t);
    X->segs.elem = sizeof(struct seg);
    X->refs.elem = sizeof(uint64_t);
    X->rxs.elem = sizeof(struct rx);
    strtab_init(&X->jtab, &X->pool.p, &X->name_off, 1024);
    strtab_init(&X->ftab, &X->pool.p, &X->fname_off, 64);
    strtab_init(&X->utab, &X->pool.p, &X->fname_off, 64);
    strtab_init(&X->rxtab, &X->rxpool.p, &X->rxoff, 16);
    X->md = pcre2_match_data_create(1, NULL);
    sbuf_addc(&X->pool, '\0'); /* offset 0: the empty string */
    X->has_files = R->files.n || R->uds.n;
    X->cur_jid = SPEC_NONE;
    X->jobs_incomplete = R->bad_jobs > 0;
    X->files_incomplete = R->bad_files > 0;
    X->dropped_j.elem = X->dropped_f.elem = sizeof(uint64_t);
    X->ghosts.elem = sizeof(struct ghost);
    for (uint64_t i = 0; i < R->dropped.n; i++) {
        const struct rdrop *d = &VEC_AT(R->dropped, struct rdrop, i);
        *(uint64_t *)vec_push(d->kind == 'j' ? &X->dropped_j : &X->dropped_f) = d->name;
    }
    X->acts.elem = sizeof(struct spec_action);
    X->act_cmds.elem = sizeof(uint64_t);
    X->act_jobs.elem = sizeof(uint32_t);
    env_begin(X);
}

static void x_fini(struct X *X)
{
    strtab_free(&X->jtab);
    strtab_free(&X->ftab);
    strtab_free(&X->utab);
    strtab_free(&X->rxtab);
    pcre2_match_data_free(X->md);
    free(X->name_off);
    free(X->cmd_off);
    free(X->rr);
    free(X->fh);
    free(X->flags);
    free(X->prio);
    free(X->env);
    vec_free(&X->envsets);
    vec_free(&X->envkv);
    vec_free(&X->envbytes);
    vec_free(&X->acts);
    vec_free(&X->act_cmds);
    vec_free(&X->act_jobs);
    free(X->eo);
    free(X->fname_off);
    free(X->in_off);
    free(X->out_off);
    free(X->npar);
    free(X->rxoff);
    vec_free(&X->files);
    vec_free(&X->ins);
    vec_free(&X->outs);
    vec_free(&X->pars);
    vec_free(&X->segs);
    vec_free(&X->refs);
    vec_free(&X->tmpu);
    vec_free(&X->tmpu2);
    vec_free(&X->rxs);
    vec_free(&X->rxres);
    sbuf_free(&X->scratch);
    sbuf_free(&X->scratch2);
    sbuf_free(&X->rxpool);
    sbuf_free(&X->pool);
    vec_free(&X->dropped_j);
    vec_free(&X->dropped_f);
    vec_free(&X->ghosts);
    sbuf_free(&X->ghost_name);
    sbuf_free(&X->ghost_cmd);
}

/* Pass A over every job entry (jobs.c): names, commands, files. */
static void pass_a(struct X *X)
{
    const struct raw *R = X->R;
    X->eo = vl_xcalloc(R->jobs.n ? R->jobs.n : 1, sizeof *X->eo);
    struct E E;
    for (uint64_t i = 0; i < R->jobs.n && !X->too_big; i++) {
        const struct rent *e = &VEC_AT(R->jobs, struct rent, i);
        X->segs.n = 0;
        if (!entry_begin(X, &E, e)) {
            X->eo[i].bad = true;
            X->eo[i].first = X->njobs;
            X->jobs_incomplete = true;
            *(uint64_t *)vec_push(&X->dropped_j) = e->name.off;
            entry_end(&E);
            continue;
        }
        jobs_expand_entry(X, &E, &X->eo[i]);
        X->jobs_incomplete |= X->eo[i].bad;
        entry_end(&E);
    }
    if (X->has_files && !X->too_big) {
        X->in_off[X->njobs] = X->ins.n;
        X->out_off[X->njobs] = X->outs.n;
    }
}

/* Pass B over every job entry (deps.c): parents. */
static void pass_b(struct X *X)
{
    const struct raw *R = X->R;
    struct E E;
    X->quiet = true;
    for (uint64_t i = 0; i < R->jobs.n && !X->too_big; i++) {
        if (X->eo[i].bad)
            continue;
        X->segs.n = 0;
        if (!entry_begin(X, &E, &VEC_AT(R->jobs, struct rent, i))) {
            entry_end(&E);
            continue;
        }
        deps_expand_entry(X, &E, &X->eo[i]);
        entry_end(&E);
    }
}

/* The job arrays move from X to s. */
static void hand_jobs(struct X *X, struct spec *s, const char *path)
{
    const struct raw *R = X->R;
    s->path = vl_xstrdup(path);
    s->name = vl_xstrdup(R->wf_name.off != RSTR_NONE ? raw_str(R, R->wf_name.off) : "");
    s->description = R->wf_desc.off < RSTR_BAD ? vl_xstrdup(raw_str(R, R->wf_desc.off)) : NULL;
    s->njobs = X->njobs;
    s->name_off = shrink(X->name_off, X->njobs, sizeof *X->name_off);
    s->cmd_off = shrink(X->cmd_off, X->njobs, sizeof *X->cmd_off);
    s->rr = shrink(X->rr, X->njobs, sizeof *X->rr);
    s->fh = shrink(X->fh, X->njobs, sizeof *X->fh);
    s->flags = shrink(X->flags, X->njobs, sizeof *X->flags);
    if (X->any_prio) {
        s->prio = shrink(X->prio, X->njobs, sizeof *X->prio);
        X->prio = NULL;
    }
    X->npar = shrink(X->npar, X->njobs, sizeof *X->npar);
    X->name_off = X->cmd_off = NULL;
    X->rr = X->fh = NULL;
    X->flags = NULL;
    strtab_free(&X->jtab);
}

/* env sets and actions into s. */
static void hand_torc(struct X *X, struct spec *s)
{
    if (X->env) {
        s->env = shrink(X->env, X->njobs, sizeof *X->env);
        X->env = NULL;
    }
    s->nenvsets = (uint32_t)X->envsets.n;
    s->envsets = X->envsets.p;
    s->nenvkv = X->envkv.n;
    s->envkv = X->envkv.p;
    X->envsets.p = X->envkv.p = NULL;
    s->exec = X->R->exec;
    s->nactions = (uint32_t)X->acts.n;
    s->actions = X->acts.p;
    s->nact_cmds = (uint32_t)X->act_cmds.n;
    s->act_cmds = X->act_cmds.p;
    s->nact_jobs = X->act_jobs.n;
    s->act_jobs = X->act_jobs.p;
    X->acts.p = X->act_cmds.p = X->act_jobs.p = NULL;
}

/* Resource classes, failure handlers and their rules, into s (their names
 * into the pool). */
static void hand_tables(struct X *X, struct spec *s)
{
    const struct raw *R = X->R;
    struct ldiag *g = X->g;
    s->nrr = (uint32_t)R->rrs.n;
    s->rrs = vl_xcalloc(s->nrr ? s->nrr : 1, sizeof *s->rrs);
    for (uint32_t i = 0; i < s->nrr; i++) {
        const struct rrr *r = &VEC_AT(R->rrs, struct rrr, i);
        s->rrs[i] = r->v;
        const char *nm = raw_str(R, r->name.off);
        s->rrs[i].name_off = sbuf_addz(&X->pool, nm, strlen(nm));
        for (uint32_t k = 0; k < i; k++)
            if (!strcmp(nm, raw_str(R, VEC_AT(R->rrs, struct rrr, k).name.off)))
                lerr(g, r->name.loc, "duplicate resource_requirements name '%s'", lcut(g, nm));
    }
    s->nfh = (uint32_t)R->fhs.n;
    s->fhs = vl_xcalloc(s->nfh ? s->nfh : 1, sizeof *s->fhs);
    for (uint32_t i = 0; i < s->nfh; i++) {
        const struct rfh *f = &VEC_AT(R->fhs, struct rfh, i);
        const char *nm = raw_str(R, f->name.off);
        s->fhs[i].name_off = sbuf_addz(&X->pool, nm, strlen(nm));
        s->fhs[i].rule_first = f->rule_first;
        s->fhs[i].nrules = f->nrules;
        for (uint32_t k = 0; k < i; k++)
            if (!strcmp(nm, raw_str(R, VEC_AT(R->fhs, struct rfh, k).name.off)))
                lerr(g, f->name.loc, "duplicate failure_handlers name '%s'", lcut(g, nm));
    }
    if (R->rrs.n > SPEC_NONE16 || R->fhs.n > SPEC_NONE16)
        lerr(g, R->root_loc, "more than %u resource classes or failure handlers", SPEC_NONE16 - 1);
    s->nrules = (uint32_t)R->rules.n;
    s->rules = vl_xcalloc(s->nrules ? s->nrules : 1, sizeof *s->rules);
    for (uint32_t i = 0; i < s->nrules; i++) {
        const struct rrule *r = &VEC_AT(R->rules, struct rrule, i);
        s->rules[i] = r->v;
        if (r->script.off < RSTR_BAD) {
            const char *sc = raw_str(R, r->script.off);
            env_check_arg(X, r->script.loc, strlen(sc), "the recovery_script");
            s->rules[i].script_off = sbuf_addz(&X->pool, sc, strlen(sc));
        }
    }
    s->ncodes = (uint32_t)R->codes.n;
    s->codes = vl_xmalloc((s->ncodes ? s->ncodes : 1) * sizeof *s->codes);
    if (s->ncodes)
        memcpy(s->codes, R->codes.p, s->ncodes * sizeof *s->codes);
}

/* Files, the job -> file relations and the source lines of jobs, into s. */
static void hand_files(struct X *X, struct spec *s)
{
    const struct raw *R = X->R;
    s->nfiles = (uint32_t)X->files.n;
    s->files = X->files.p ? shrink(X->files.p, X->files.n, sizeof *s->files) : NULL;
    X->files.p = NULL;
    if (s->nfiles && X->has_files) {
        s->in_off = shrink(X->in_off, (uint64_t)X->njobs + 1, sizeof *X->in_off);
        s->out_off = shrink(X->out_off, (uint64_t)X->njobs + 1, sizeof *X->out_off);
        X->in_off = X->out_off = NULL;
        s->ins = X->ins.p ? X->ins.p : vl_xmalloc(4);
        s->outs = X->outs.p ? X->outs.p : vl_xmalloc(4);
        X->ins.p = X->outs.p = NULL;
    }

    /* where each entry's jobs came from */
    s->srcs = vl_xcalloc(R->jobs.n ? R->jobs.n : 1, sizeof *s->srcs);
    for (uint64_t i = 0; i < R->jobs.n; i++) {
        if (X->eo[i].bad || !X->eo[i].n)
            continue;
        s->srcs[s->nsrcs].first = X->eo[i].first;
        s->srcs[s->nsrcs].line = loc_line(VEC_AT(R->jobs, struct rent, i).loc) + 1;
        s->nsrcs++;
    }
}

int spec_expand(const struct raw *R, struct ldiag *g, const char *path, struct spec *s)
{
    struct X X;
    x_init(&X, R, g);
    int rc = VL_ETOOBIG;
    files_expand(&X);
    reserve_all(&X);
    pass_a(&X);
    if (X.too_big)
        goto out;
    pass_b(&X);
    if (X.too_big)
        goto out;
    deps_check_ghosts(&X);
    actions_resolve(&X);
    hand_jobs(&X, s, path);
    hand_torc(&X, s);
    hand_tables(&X, s);
    hand_files(&X, s);

    /* regex results are spent: free them before the edges' peak */
    vec_free(&X.rxres);
    vec_free(&X.rxs);
    strtab_free(&X.rxtab);
    sbuf_free(&X.rxpool);

    /* edges (needs the names: pool stays in X until here) */
    s->pool = X.pool.p;
    s->pool_len = X.pool.len;
    rc = edges_build(&X, s);
    s->pool = shrink(X.pool.p, X.pool.len, 1);
    X.pool.p = NULL;
out:
    x_fini(&X);
    return rc;
}

/*
 * specdiff.c - see specdiff.h.
 *
 * The name table is the one restore uses to check names (FNV-1a, then a
 * multiply to spread it; linear probing in a power-of-two table of at
 * least twice the jobs): ~60 ns per name for 1M names here. Parent lists
 * are the kids CSR turned around, so comparing a job's dependencies costs
 * its in-degree, not a scan of the edges.
 */
#include "loader/specdiff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const what_names[SPECDIFF_NWHAT] = {
    "unchanged",       "new",           "command changed", "env changed",   "resources changed",
    "handler changed", "flags changed", "stdio changed",   "files changed", "dependencies changed",
};

const char *specdiff_what_name(unsigned what)
{
    return what < SPECDIFF_NWHAT ? what_names[what] : "?";
}

static uint64_t name_hash(const char *name)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (const char *p = name; *p; p++)
        x = (x ^ (uint8_t)*p) * 0x100000001b3ull;
    return x * 0x9E3779B97F4A7C15ull;
}

/* Parents CSR of s: off[njobs + 1], par[nedges], each list ascending. */
static int parents(const struct spec *s, uint64_t **off_out, uint32_t **par_out, struct vl_err *err)
{
    uint64_t *off = vl_alloc_array((size_t)s->njobs + 1, sizeof *off, true, "parent lists", err);
    uint32_t *par =
        vl_alloc_array(s->nedges ? s->nedges : 1, sizeof *par, false, "parent lists", err);
    if (!off || !par) {
        free(off);
        free(par);
        return err ? err->code : VL_ETOOBIG;
    }
    for (uint32_t j = 0; j < s->njobs; j++)
        off[j + 1] = off[j] + s->npar[j];
    /* filling parents in ascending order of parent keeps each list sorted */
    uint64_t *at = vl_alloc_array((size_t)s->njobs + 1, sizeof *at, false, "parent lists", err);
    if (!at) {
        free(off);
        free(par);
        return err ? err->code : VL_ETOOBIG;
    }
    memcpy(at, off, ((size_t)s->njobs + 1) * sizeof *at);
    for (uint32_t p = 0; p < s->njobs; p++)
        for (uint64_t k = s->kid_off[p]; k < s->kid_off[p + 1]; k++)
            par[at[s->kids[k]]++] = p;
    free(at);
    *off_out = off;
    *par_out = par;
    return 0;
}

int specdiff_init(struct specdiff *d, const struct spec *old, const struct spec *cur,
                  struct vl_err *err)
{
    memset(d, 0, sizeof *d);
    d->old = old;
    d->cur = cur;
    uint64_t cap = 16;
    while (cap < (uint64_t)old->njobs * 2)
        cap <<= 1;
    uint32_t *tab = vl_alloc_array(cap, sizeof *tab, false, "the name table", err);
    d->old_of =
        vl_alloc_array(cur->njobs ? cur->njobs : 1, sizeof *d->old_of, false, "the job map", err);
    d->cur_of =
        vl_alloc_array(old->njobs ? old->njobs : 1, sizeof *d->cur_of, false, "the job map", err);
    int rc = !tab || !d->old_of || !d->cur_of ? (err ? err->code : VL_ETOOBIG) : 0;
    if (rc == 0)
        rc = parents(old, &d->opar_off, &d->opar, err);
    if (rc == 0)
        rc = parents(cur, &d->cpar_off, &d->cpar, err);
    uint32_t maxpar = 1;
    for (uint32_t j = 0; rc == 0 && j < cur->njobs; j++)
        maxpar = VL_MAX(maxpar, cur->npar[j]);
    if (rc == 0 &&
        !(d->scratch = vl_alloc_array(maxpar, sizeof *d->scratch, false, "the parent lists", err)))
        rc = err ? err->code : VL_ETOOBIG;
    if (rc) {
        free(tab);
        specdiff_fini(d);
        return rc;
    }
    memset(tab, 0xff, cap * sizeof *tab);
    for (uint32_t o = 0; o < old->njobs; o++) {
        uint64_t i = (name_hash(spec_job_name(old, o)) >> 32) & (cap - 1);
        while (tab[i] != SPEC_NONE)
            i = (i + 1) & (cap - 1);
        tab[i] = o;
        d->cur_of[o] = SPEC_NONE;
    }
    for (uint32_t j = 0; j < cur->njobs; j++) {
        const char *name = spec_job_name(cur, j);
        uint64_t i = (name_hash(name) >> 32) & (cap - 1);
        d->old_of[j] = SPEC_NONE;
        for (; tab[i] != SPEC_NONE; i = (i + 1) & (cap - 1))
            if (!strcmp(spec_job_name(old, tab[i]), name)) {
                d->old_of[j] = tab[i];
                d->cur_of[tab[i]] = j;
                break;
            }
    }
    free(tab);
    return 0;
}

void specdiff_fini(struct specdiff *d)
{
    free(d->old_of);
    free(d->cur_of);
    free(d->opar_off);
    free(d->opar);
    free(d->cpar_off);
    free(d->cpar);
    free(d->scratch);
    free(d->env_a);
    free(d->env_b);
    memset(d, 0, sizeof *d);
}

/* A resource class by value; none asks for nothing. */
static bool same_rr(const struct spec *a, uint16_t ra, const struct spec *b, uint16_t rb)
{
    static const struct spec_rr none;
    const struct spec_rr *x = ra == SPEC_NONE16 ? &none : &a->rrs[ra];
    const struct spec_rr *y = rb == SPEC_NONE16 ? &none : &b->rrs[rb];
    return x->num_cpus == y->num_cpus && x->num_gpus == y->num_gpus &&
           x->num_nodes == y->num_nodes && x->memory_bytes == y->memory_bytes &&
           x->runtime_ms == y->runtime_ms;
}

/* A failure handler by its rules; none has no rules. */
static bool same_fh(const struct spec *a, uint16_t fa, const struct spec *b, uint16_t fb)
{
    uint32_t na = fa == SPEC_NONE16 ? 0 : a->fhs[fa].nrules;
    uint32_t nb = fb == SPEC_NONE16 ? 0 : b->fhs[fb].nrules;
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++) {
        const struct spec_rule *x = &a->rules[a->fhs[fa].rule_first + i];
        const struct spec_rule *y = &b->rules[b->fhs[fb].rule_first + i];
        if (x->ncodes != y->ncodes || x->max_retries != y->max_retries || x->flags != y->flags ||
            (x->script_off == SPEC_NO_STR) != (y->script_off == SPEC_NO_STR) ||
            strcmp(spec_str(a, x->script_off), spec_str(b, y->script_off)) != 0 ||
            memcmp(a->codes + x->code_first, b->codes + y->code_first,
                   x->ncodes * sizeof *a->codes) != 0)
            return false;
    }
    return true;
}

/* One side of a job's files (ins or outs, CSR off/list) by path, in order. */
static bool same_files(const struct spec *a, const uint64_t *aoff, const uint32_t *al, uint32_t ja,
                       const struct spec *b, const uint64_t *boff, const uint32_t *bl, uint32_t jb)
{
    uint64_t na = a->nfiles ? aoff[ja + 1] - aoff[ja] : 0;
    uint64_t nb = b->nfiles ? boff[jb + 1] - boff[jb] : 0;
    if (na != nb)
        return false;
    for (uint64_t i = 0; i < na; i++) {
        const struct spec_file *x = &a->files[al[aoff[ja] + i]];
        const struct spec_file *y = &b->files[bl[boff[jb] + i]];
        if (strcmp(spec_str(a, x->path_off), spec_str(b, y->path_off)) != 0)
            return false;
    }
    return true;
}

/* For qsort_r: two pool offsets of "KEY=VALUE" strings of one spec. */
static int cmp_kv(const void *a, const void *b, void *ctx)
{
    const struct spec *s = ctx;
    return strcmp(s->pool + *(const uint64_t *)a, s->pool + *(const uint64_t *)b);
}

/* The merged env of job j of s into buf[0] (d->env_a or env_b, grown as
 * needed: both are reallocated together), sorted; its size. */
static uint32_t env_of(struct specdiff *d, const struct spec *s, uint32_t j, bool second)
{
    uint32_t n = spec_job_env(s, j, second ? d->env_b : d->env_a, d->env_cap);
    if (n > d->env_cap) {
        d->env_cap = n;
        d->env_a = vl_xrealloc(d->env_a, (size_t)n * sizeof *d->env_a);
        d->env_b = vl_xrealloc(d->env_b, (size_t)n * sizeof *d->env_b);
        n = spec_job_env(s, j, second ? d->env_b : d->env_a, d->env_cap);
    }
    if (n > 1) /* none: the buffers may not exist yet, and qsort wants one */
        qsort_r(second ? d->env_b : d->env_a, n, sizeof *d->env_a, cmp_kv, (void *)s);
    return n;
}

/*
 * The environment of old job o and cur job j, as sets of KEY=VALUE.
 * volley.db keeps env (persist/snap_int.h, the kinds job_env and env_kv);
 * a run written before it did ran its jobs without env, so a job that has
 * env now did change.
 */
static bool same_env(struct specdiff *d, uint32_t j, uint32_t o)
{
    uint32_t na = env_of(d, d->old, o, false);
    uint32_t nb = env_of(d, d->cur, j, true); /* may grow both: the first stays sorted */
    if (na != nb)
        return false;
    for (uint32_t i = 0; i < na; i++)
        if (strcmp(d->old->pool + d->env_a[i], d->cur->pool + d->env_b[i]))
            return false;
    return true;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The parents of cur job j, as old jobs, are the parents of old job o. */
static bool same_deps(struct specdiff *d, uint32_t j, uint32_t o)
{
    uint64_t n = d->cpar_off[j + 1] - d->cpar_off[j];
    if (n != d->opar_off[o + 1] - d->opar_off[o])
        return false;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t p = d->old_of[d->cpar[d->cpar_off[j] + i]];
        if (p == SPEC_NONE)
            return false; /* a parent that is new */
        d->scratch[i] = p;
    }
    qsort(d->scratch, n, sizeof *d->scratch, cmp_u32);
    return memcmp(d->scratch, d->opar + d->opar_off[o], n * sizeof *d->scratch) == 0;
}

enum specdiff_what specdiff_job(struct specdiff *d, uint32_t j)
{
    const struct spec *a = d->old, *b = d->cur;
    uint32_t o = d->old_of[j];
    if (o == SPEC_NONE)
        return SPECDIFF_NEW;
    /* A new field of a job: compare it here, and name it in specdiff.h. */
    if (strcmp(spec_job_cmd(a, o), spec_job_cmd(b, j)) != 0)
        return SPECDIFF_COMMAND;
    if (!same_env(d, j, o))
        return SPECDIFF_ENV;
    if (!same_rr(a, a->rr[o], b, b->rr[j]))
        return SPECDIFF_RESOURCES;
    if (!same_fh(a, a->fh[o], b, b->fh[j]))
        return SPECDIFF_HANDLER;
    const uint8_t stdio = SPEC_JOB_STDIO_MASK | SPEC_JOB_DELETE_ON_SUCCESS;
    if ((a->flags[o] & ~stdio) != (b->flags[j] & ~stdio))
        return SPECDIFF_FLAGS;
    if ((a->flags[o] & stdio) != (b->flags[j] & stdio))
        return SPECDIFF_STDIO;
    if (!same_files(a, a->in_off, a->ins, o, b, b->in_off, b->ins, j) ||
        !same_files(a, a->out_off, a->outs, o, b, b->out_off, b->outs, j))
        return SPECDIFF_FILES;
    if (!same_deps(d, j, o))
        return SPECDIFF_DEPS;
    return SPECDIFF_SAME;
}

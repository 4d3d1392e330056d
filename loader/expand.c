/*
 * expand.c - the raw model -> struct spec: parameter expansion, name
 * resolution, implicit file dependencies, regex dependencies, CSR edges and
 * the cycle check.
 *
 * Order (each step needs the previous one complete):
 *   1. files and user_data: expanded names -> file ids (a hash table);
 *   2. pass A over job entries: instance names (-> the job hash table),
 *      commands (with ${files...} filled in), input/output files (CSR per
 *      job), producers of files;
 *   3. pass B over job entries: depends_on, depends_on_regexes and the
 *      producers of inputs -> parent lists per job (CSR, child-major, built
 *      in jid order so no sort of all edges is needed);
 *   4. transpose to children per parent (counting sort: ascending for free),
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
#include "load_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#define MAXP 64 /* parameters per entry */
#define PIPE 16 /* hash lookups in flight (prefetched) */

#ifdef VL_FUZZING
#define MAX_JOBS_BUILD 200000u /* keep fuzz inputs inside -rss_limit_mb */
#define MAX_EDGES_BUILD 2000000u
#else
#define MAX_JOBS_BUILD SPEC_MAX_JOBS
#define MAX_EDGES_BUILD UINT64_MAX
#endif

/* error kinds, for folding repeats at one location */
enum {
    K_NONE,
    K_UNKNOWN_JOB,
    K_SELF,
    K_UNKNOWN_FILE,
    K_RX_NONE,
    K_RX_BAD,
    K_DUP,
    K_DIFF,
    K_PRODUCERS,
    K_UNKNOWN_RR,
    K_UNKNOWN_FH,
    K_REF,
};

enum { TK_NAME, TK_CMD, TK_REF };
enum { SEG_LIT, SEG_PH, SEG_REF };
enum { REF_FIN, REF_FOUT, REF_UIN, REF_UOUT };

struct seg {
    uint8_t kind;
    uint8_t ref;        /* SEG_REF: REF_* */
    uint16_t param;     /* SEG_PH: index into the entry's parameters */
    uint32_t off;       /* LIT: start; PH/REF: position in the source */
    uint32_t len;       /* LIT: length; REF: length of the whole ${...} */
    uint32_t sub, nsub; /* SEG_REF: the NAME's segments */
    struct fspec fs;
};

struct tmpl {
    const char *src;
    uint64_t loc;
    uint32_t first, n; /* segments */
    uint64_t mask;     /* parameters used (bit i: the entry's parameter i) */
    bool present;
};

/* A regex cache entry: a distinct expanded pattern and what it matched. */
struct rx {
    uint64_t res;  /* first match in X.rxres */
    uint64_t nres; /* matches */
    bool bad;      /* did not compile */
};

/* Per job entry, kept across the passes. */
struct eout {
    uint32_t first, n; /* its jids */
    bool collapsed;    /* two combinations gave one name */
    bool bad;          /* could not be expanded */
};

struct X {
    const struct raw *R;
    struct ldiag *g;
    struct sbuf pool; /* the spec's string pool */
    /* jobs */
    uint64_t jcap;
    uint32_t njobs;
    uint64_t *name_off, *cmd_off;
    uint16_t *rr, *fh;
    uint8_t *flags;
    struct strtab jtab;
    struct eout *eo;
    /* files and user_data */
    struct vec files; /* struct spec_file */
    uint64_t *fname_off;
    uint64_t fcap;
    struct strtab ftab, utab;
    /* per job: files (CSR) and parents (CSR) */
    uint64_t *in_off, *out_off; /* only when the workflow has files */
    uint32_t *npar;             /* parents per job, as pass B finds them */
    bool has_files;
    uint64_t max_path;          /* longest file path or user_data text: estimates */
    struct vec ins, outs, pars; /* uint32_t */
    /* templates */
    struct vec segs;
    struct sbuf scratch, scratch2;
    struct vec refs; /* uint64_t: ref << 32 | fid, collected while rendering */
    struct vec tmpu; /* uint32_t scratch lists */
    struct vec tmpu2;
    /* regexes */
    struct sbuf rxpool;
    uint64_t *rxoff;
    uint64_t rxcap;
    struct vec rxs; /* struct rx */
    struct strtab rxtab;
    struct vec rxres; /* uint32_t */
    pcre2_match_data *md;
    bool quiet;            /* pass B recompiles templates: do not report twice */
    bool jobs_incomplete;  /* a job entry was dropped for an error: no "matches no job" */
    bool files_incomplete; /* likewise for files and user_data */
    uint32_t cur_jid;      /* the job whose command is being rendered, for messages */
    bool too_big;
};

/* One entry while it is being expanded. */
struct E {
    const struct rent *e;
    const struct param *pt[MAXP];
    uint32_t np;
    uint32_t vi[MAXP]; /* current value index of each parameter */
    uint32_t name_p[MAXP], nname;
    uint32_t fan_p[MAXP], nfan;
    uint64_t C, F;
    uint64_t name_mask, fan_mask;
    struct tmpl t_name, t_cmd, t_script, t_path, t_rr, t_fh;
    struct tmpl *t_items; /* [e->it_n] */
    bool ok;
};

static const char *ename(const struct X *X, const struct E *E)
{
    return raw_str(X->R, E->e->name.off);
}

/* ---- growth ---- */

static bool jobs_reserve(struct X *X, uint64_t more)
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
    X->npar = big_realloc(X->npar, cap * sizeof *X->npar);
    if (X->has_files) {
        X->in_off = big_realloc(X->in_off, (cap + 1) * sizeof *X->in_off);
        X->out_off = big_realloc(X->out_off, (cap + 1) * sizeof *X->out_off);
    }
    X->jcap = cap;
    return true;
}

static void files_reserve(struct X *X, uint64_t more)
{
    uint64_t need = X->files.n + more;
    if (need <= X->fcap)
        return;
    uint64_t cap = X->fcap ? X->fcap : 64;
    while (cap < need)
        cap *= 2;
    X->fname_off = vl_xrealloc(X->fname_off, cap * sizeof *X->fname_off);
    X->fcap = cap;
}

static inline void push_u32(struct vec *v, uint32_t x)
{
    *(uint32_t *)vec_push(v) = x;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts and deduplicates v[from..) in place; returns the new count. */
static uint64_t sort_unique(struct vec *v, uint64_t from)
{
    uint64_t n = v->n - from;
    if (n > 1) {
        uint32_t *a = (uint32_t *)v->p + from; /* v->p is NULL when empty */
        bool sorted = true;
        for (uint64_t i = 1; i < n && sorted; i++)
            sorted = a[i - 1] < a[i];
        if (!sorted) {
            qsort(a, n, sizeof *a, cmp_u32);
            uint64_t w = 1;
            for (uint64_t i = 1; i < n; i++)
                if (a[i] != a[w - 1])
                    a[w++] = a[i];
            n = w;
        }
    }
    v->n = from + n;
    return n;
}

/* ---- templates ---- */

static const char *param_list(const struct X *X, const struct E *E, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < E->np && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
                              raw_str(X->R, E->pt[i]->name));
    return E->np ? buf : "none";
}

static bool is_id0(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_id(char c)
{
    return is_id0(c) || (c >= '0' && c <= '9');
}

static void add_lit(struct X *X, uint32_t off, uint32_t len)
{
    if (!len)
        return;
    struct seg *last = X->segs.n ? &VEC_AT(X->segs, struct seg, X->segs.n - 1) : NULL;
    (void)last;
    struct seg *s = vec_push(&X->segs);
    memset(s, 0, sizeof *s);
    s->kind = SEG_LIT;
    s->off = off;
    s->len = len;
}

/* Compiles src[from..to) into segments; returns false on an error. */
static bool compile_range(struct X *X, struct E *E, struct tmpl *t, uint32_t from, uint32_t to,
                          int tk, const char *field)
{
    const char *src = t->src;
    bool ok = true;
    uint32_t lit = from;
    uint32_t i = from;
    while (i < to) {
        char c = src[i];
        if (c == '$' && i + 1 < to && src[i + 1] == '{' && tk == TK_CMD) {
            static const char *const pfx[] = {"files.input.", "files.output.", "user_data.input.",
                                              "user_data.output."};
            int ref = -1;
            size_t pl = 0;
            for (int k = 0; k < 4; k++) {
                pl = strlen(pfx[k]);
                if (i + 2 + pl <= to && !strncmp(src + i + 2, pfx[k], pl)) {
                    ref = k;
                    break;
                }
            }
            if (ref >= 0) {
                uint32_t ns = i + 2 + (uint32_t)pl, j = ns;
                int depth = 0;
                for (; j < to; j++) {
                    if (src[j] == '{')
                        depth++;
                    else if (src[j] == '}' && depth-- == 0)
                        break;
                }
                if (j < to && j > ns) {
                    add_lit(X, lit, i - lit);
                    uint64_t si = X->segs.n;
                    struct seg *s = vec_push(&X->segs);
                    memset(s, 0, sizeof *s);
                    s->kind = SEG_REF;
                    s->ref = (uint8_t)ref;
                    s->off = i;
                    s->len = j + 1 - i;
                    uint64_t sub = X->segs.n;
                    if (!compile_range(X, E, t, ns, j, TK_REF, field))
                        ok = false;
                    s = &VEC_AT(X->segs, struct seg, si);
                    s->sub = (uint32_t)sub;
                    s->nsub = (uint32_t)(X->segs.n - sub);
                    i = j + 1;
                    lit = i;
                    continue;
                }
            }
            i += 2; /* any other ${...} is the shell's */
            continue;
        }
        if (c != '{' || i + 1 >= to || !is_id0(src[i + 1])) {
            i++;
            continue;
        }
        uint32_t j = i + 1;
        while (j < to && is_id(src[j]))
            j++;
        uint32_t id_end = j, fs_from = 0, fs_to = 0;
        if (j < to && src[j] == ':') {
            fs_from = j + 1;
            j++;
            while (j < to && src[j] != '}' && src[j] != '{')
                j++;
            fs_to = j;
        }
        if (j >= to || src[j] != '}') {
            i++;
            continue;
        }
        /* {identifier} or {identifier:fmt}: a placeholder */
        uint32_t p = 0;
        size_t idl = id_end - i - 1;
        while (p < E->np) {
            const char *pn = raw_str(X->R, E->pt[p]->name);
            if (strlen(pn) == idl && !strncmp(pn, src + i + 1, idl))
                break;
            p++;
        }
        uint64_t at = loc_inner(t->loc, src, i);
        if (p == E->np) {
            char pl[256];
            if (tk == TK_CMD) {
                if (!X->quiet)
                    lwarn(X->g, at,
                          "'%.*s' in the %s names no parameter of job '%s'; left as written for "
                          "the shell",
                          (int)(j + 1 - i), src + i, field, ename(X, E));
                i = j + 1;
                continue;
            }
            if (!X->quiet)
                lerr(X->g, at, "'%.*s' in the %s names no parameter of %s '%s' (it has: %s)",
                     (int)(j + 1 - i), src + i, field, E->e->is_file ? "file" : "job", ename(X, E),
                     param_list(X, E, pl, sizeof pl));
            ok = false;
            i = j + 1;
            continue;
        }
        struct fspec fs;
        const char *why = NULL;
        if (fs_from) {
            if (!fspec_parse(src + fs_from, fs_to - fs_from, &fs, &why) ||
                !fspec_fits(&fs, E->pt[p]->types, &why)) {
                if (!X->quiet)
                    lerr(X->g, at, "bad format '%.*s' for parameter '%s': %s", (int)(j + 1 - i),
                         src + i, raw_str(X->R, E->pt[p]->name), why);
                ok = false;
                i = j + 1;
                lit = i;
                continue;
            }
        } else {
            fspec_parse("", 0, &fs, &why);
        }
        add_lit(X, lit, i - lit);
        struct seg *s = vec_push(&X->segs);
        memset(s, 0, sizeof *s);
        s->kind = SEG_PH;
        s->param = (uint16_t)p;
        s->off = i;
        s->fs = fs;
        t->mask |= 1ull << p;
        i = j + 1;
        lit = i;
    }
    add_lit(X, lit, to - lit);
    return ok;
}

static bool compile(struct X *X, struct E *E, struct tmpl *t, const struct rstr *rs, int tk,
                    const char *field)
{
    memset(t, 0, sizeof *t);
    if (rs->off >= RSTR_BAD)
        return true;
    t->present = true;
    t->src = raw_str(X->R, rs->off);
    t->loc = rs->loc;
    t->first = (uint32_t)X->segs.n;
    size_t len = strlen(t->src);
    if (len > UINT32_MAX / 2) {
        lerr(X->g, rs->loc, "the %s is longer than 2 GiB", field);
        return false;
    }
    bool ok = compile_range(X, E, t, 0, (uint32_t)len, tk, field);
    t->n = (uint32_t)(X->segs.n - t->first);
    return ok;
}

static uint32_t find_file(struct X *X, int ref, const char *s, size_t n)
{
    struct strtab *t = ref == REF_FIN || ref == REF_FOUT ? &X->ftab : &X->utab;
    return strtab_find(t, s, n, strtab_hash(s, n));
}

static bool render_segs(struct X *X, struct E *E, const struct tmpl *t, uint32_t first, uint32_t n,
                        struct sbuf *out)
{
    bool ok = true;
    for (uint32_t k = 0; k < n; k++) {
        const struct seg *s = &VEC_AT(X->segs, struct seg, first + k);
        if (s->kind == SEG_LIT) {
            sbuf_add(out, t->src + s->off, s->len);
        } else if (s->kind == SEG_PH) {
            struct val v;
            param_value(X->R, E->pt[s->param], E->vi[s->param], &v);
            fmt_value(out, &v, &s->fs);
        } else {
            k += s->nsub; /* its NAME's segments follow it */
            struct sbuf *nb = &X->scratch2;
            nb->len = 0;
            render_segs(X, E, t, s->sub, s->nsub, nb);
            uint32_t fid = find_file(X, s->ref, nb->p ? nb->p : "", nb->len);
            if (fid == SPEC_NONE) {
                static const char *const what[] = {"files.input", "files.output", "user_data.input",
                                                   "user_data.output"};
                bool ud = s->ref >= REF_UIN;
                if (!X->files_incomplete)
                    lerr(X->g, loc_inner(t->loc, t->src, s->off),
                         "'%s' uses ${%s.%.*s}, but no %s is named '%.*s'",
                         X->cur_jid != SPEC_NONE ? X->pool.p + X->name_off[X->cur_jid]
                                                 : ename(X, E),
                         what[s->ref], (int)nb->len, nb->p ? nb->p : "",
                         ud ? "user_data entry" : "file", (int)nb->len, nb->p ? nb->p : "");
                sbuf_add(out, t->src + s->off, s->len);
                ok = false;
                continue;
            }
            const struct spec_file *f = &VEC_AT(X->files, struct spec_file, fid);
            const char *path = X->pool.p + f->path_off;
            /* pool may move while appending to it: copy via length */
            size_t pl = strlen(path);
            if (out == &X->pool) { /* appending the pool to itself: it may move */
                uint64_t po = f->path_off;
                if (out->len + pl > out->cap)
                    sbuf__grow(out, pl);
                memcpy(out->p + out->len, out->p + po, pl);
                out->len += pl;
            } else {
                sbuf_add(out, path, pl);
            }
            *(uint64_t *)vec_push(&X->refs) = (uint64_t)s->ref << 32 | fid;
        }
    }
    return ok;
}

static bool render(struct X *X, struct E *E, const struct tmpl *t, struct sbuf *out)
{
    return render_segs(X, E, t, t->first, t->n, out);
}

/* ---- entries ---- */

static const struct param *find_shared(const struct raw *R, const char *name)
{
    for (uint64_t i = 0; i < R->sparams.n; i++)
        if (!strcmp(raw_str(R, VEC_AT(R->sparams, struct param, i).name), name))
            return &VEC_AT(R->sparams, struct param, i);
    return NULL;
}

/* Collects the entry's parameters and compiles its templates. */
static bool entry_begin(struct X *X, struct E *E, const struct rent *e)
{
    memset(E, 0, sizeof *E);
    E->e = e;
    E->ok = true;
    E->t_items = NULL;
    const struct raw *R = X->R;
    const char *what = e->is_file ? "file" : "job";
    /* shared parameters first (use_parameters order), then the entry's own */
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
    if (!E->ok)
        return false;

    bool ok = true;
    ok &= compile(X, E, &E->t_name, &e->name, TK_NAME, "name");
    if (e->is_file) {
        ok &= compile(X, E, &E->t_path, &e->path, TK_NAME, "path");
    } else {
        ok &= compile(X, E, &E->t_cmd, &e->cmd, TK_CMD, "command");
        ok &= compile(X, E, &E->t_script, &e->script, TK_CMD, "invocation_script");
        ok &= compile(X, E, &E->t_rr, &e->rr, TK_NAME, "resource_requirements");
        ok &= compile(X, E, &E->t_fh, &e->fh, TK_NAME, "failure_handler");
        E->t_items = e->it_n ? vl_xcalloc(e->it_n, sizeof *E->t_items) : NULL;
        for (uint32_t k = 0; k < e->it_n; k++) {
            const struct ritem *it = &VEC_AT(R->items, struct ritem, e->it_first + k);
            if (it->kind != IT_USE)
                ok &= compile(X, E, &E->t_items[k], &it->s, TK_NAME, "reference");
        }
    }
    if (!ok) {
        E->ok = false;
        return false;
    }

    /* which parameters name instances, which fan in */
    E->name_mask = E->t_name.mask;
    uint64_t used = E->t_cmd.mask | E->t_script.mask | E->t_path.mask | E->t_rr.mask | E->t_fh.mask;
    for (uint32_t k = 0; E->t_items && k < e->it_n; k++)
        used |= E->t_items[k].mask;
    if (e->zip) {
        uint32_t L = 0;
        for (uint32_t p = 0; p < E->np; p++) {
            if (p == 0) {
                L = E->pt[p]->n;
            } else if (E->pt[p]->n != L) {
                if (!X->quiet)
                    lerr(X->g, e->mode_loc != LOC_NONE ? e->mode_loc : e->loc,
                         "parameter_mode zip needs parameters of equal length: '%s' has %" PRIu32
                         " values, '%s' has %" PRIu32,
                         raw_str(R, E->pt[0]->name), L, raw_str(R, E->pt[p]->name), E->pt[p]->n);
                E->ok = false;
                return false;
            }
        }
        E->C = E->np ? L : 1;
        E->F = 1;
        return true;
    }
    E->C = 1;
    E->F = 1;
    /* product: copies of one name must not differ in what they run */
    uint64_t own = E->t_cmd.mask | E->t_script.mask | E->t_path.mask | E->t_rr.mask | E->t_fh.mask;
    for (uint32_t p = 0; p < E->np; p++) {
        uint64_t bit = 1ull << p;
        if (E->name_mask & bit) {
            E->name_p[E->nname++] = p;
            if (E->C > MAX_JOBS_BUILD || (E->C *= E->pt[p]->n) > MAX_JOBS_BUILD) {
                if (!X->quiet)
                    lerr(X->g, E->t_name.loc, "%s '%s' expands to more than %u instances", what,
                         ename(X, E), MAX_JOBS_BUILD);
                E->ok = false;
                return false;
            }
        } else if (used & bit) {
            if ((own & bit) && E->pt[p]->n > 1) {
                const char *pn = raw_str(R, E->pt[p]->name);
                if (!X->quiet)
                    lerr(X->g, E->t_name.loc,
                         "%s name '%s' does not use parameter '%s', so its copies would differ in "
                         "%s; put {%s} in the name",
                         what, ename(X, E), pn, e->is_file ? "path" : "command", pn);
                E->ok = false;
                return false;
            }
            E->fan_p[E->nfan++] = p;
            E->fan_mask |= bit;
            if (E->F > UINT32_MAX || (E->F *= E->pt[p]->n) > ((uint64_t)1 << 40)) {
                if (!X->quiet)
                    lerr(X->g, E->t_name.loc, "%s '%s' fans in over too many combinations", what,
                         ename(X, E));
                E->ok = false;
                return false;
            }
        }
    }
    return true;
}

static void entry_end(struct E *E)
{
    free(E->t_items);
    E->t_items = NULL;
}

/* Sets the parameters that name instances for combination c. */
static void set_combo(struct E *E, uint64_t c)
{
    if (E->e->zip) {
        for (uint32_t p = 0; p < E->np; p++)
            E->vi[p] = (uint32_t)c;
        return;
    }
    for (uint32_t k = E->nname; k-- > 0;) {
        uint32_t p = E->name_p[k];
        uint32_t n = E->pt[p]->n;
        E->vi[p] = (uint32_t)(c % n);
        c /= n;
    }
}

/* Advances to the next combination of fan-in parameters; false at the end. */
static bool next_fan(struct E *E)
{
    for (uint32_t k = E->nfan; k-- > 0;) {
        uint32_t p = E->fan_p[k];
        if (++E->vi[p] < E->pt[p]->n)
            return true;
        E->vi[p] = 0;
    }
    return false;
}

static void first_fan(struct E *E)
{
    for (uint32_t k = 0; k < E->nfan; k++)
        E->vi[E->fan_p[k]] = 0;
}

/* ---- files ---- */

static void expand_files(struct X *X)
{
    const struct raw *R = X->R;
    struct E E;
    for (uint64_t i = 0; i < R->files.n; i++) {
        const struct rent *e = &VEC_AT(R->files, struct rent, i);
        if (!entry_begin(X, &E, e)) {
            X->files_incomplete = true;
            entry_end(&E);
            continue;
        }
        uint32_t first = (uint32_t)X->files.n;
        files_reserve(X, E.C);
        for (uint64_t c = 0; c < E.C; c++) {
            set_combo(&E, c);
            first_fan(&E);
            uint64_t start = X->pool.len;
            render(X, &E, &E.t_name, &X->pool);
            uint64_t nlen = X->pool.len - start;
            sbuf_addc(&X->pool, '\0');
            uint32_t fid = (uint32_t)X->files.n;
            files_reserve(X, 1);
            X->fname_off[fid] = start;
            uint64_t h = strtab_hash(X->pool.p + start, nlen);
            uint32_t old = strtab_put(&X->ftab, X->pool.p + start, nlen, h, fid);
            uint64_t pstart = X->pool.len;
            render(X, &E, &E.t_path, &X->pool);
            sbuf_addc(&X->pool, '\0');
            if (old != SPEC_NONE) {
                const struct spec_file *of = &VEC_AT(X->files, struct spec_file, old);
                if (old < first)
                    lerr(X->g, E.t_name.loc, "duplicate file name '%s'", X->pool.p + start);
                else if (strcmp(X->pool.p + of->path_off, X->pool.p + pstart))
                    ldiag_add(X->g, SPEC_DIAG_ERROR, E.t_name.loc, K_DIFF,
                              "two instances are both named '%s' but differ in path; use the "
                              "parameters that differ in the name",
                              X->pool.p + start);
                X->pool.len = start;
                continue;
            }
            X->max_path = VL_MAX(X->max_path, X->pool.len - pstart);
            struct spec_file *f = vec_push(&X->files);
            f->name_off = start;
            f->path_off = pstart;
            f->producer = SPEC_NONE;
            f->flags = 0;
        }
        entry_end(&E);
    }
    for (uint64_t i = 0; i < R->uds.n; i++) {
        const struct rud *u = &VEC_AT(R->uds, struct rud, i);
        const char *nm = raw_str(R, u->name.off);
        size_t nl = strlen(nm);
        uint32_t fid = (uint32_t)X->files.n;
        files_reserve(X, 1);
        X->fname_off[fid] = sbuf_addz(&X->pool, nm, nl);
        if (strtab_put(&X->utab, nm, nl, strtab_hash(nm, nl), fid) != SPEC_NONE) {
            lerr(X->g, u->name.loc, "duplicate user_data name '%s'", nm);
            continue;
        }
        struct spec_file *f = vec_push(&X->files);
        f->name_off = X->fname_off[fid];
        const char *data = raw_str(R, u->data);
        f->path_off = sbuf_addz(&X->pool, data, strlen(data));
        X->max_path = VL_MAX(X->max_path, strlen(data) + 1);
        f->producer = SPEC_NONE;
        f->flags = SPEC_FILE_USER_DATA;
    }
}

/* ---- regexes ---- */

/* The cached result of pattern (kind: 'j' job names, 'f' files, 'u' user
 * data); compiles and matches on first use. Returns the rx index. */
static uint32_t rx_get(struct X *X, char kind, const char *pat, size_t plen, uint64_t loc,
                       bool exact_src)
{
    uint64_t start = X->rxpool.len;
    sbuf_addc(&X->rxpool, kind);
    sbuf_add(&X->rxpool, pat, plen);
    uint64_t klen = plen + 1;
    sbuf_addc(&X->rxpool, '\0');
    uint32_t id = (uint32_t)X->rxs.n;
    if (id == X->rxcap) {
        X->rxcap = X->rxcap ? X->rxcap * 2 : 16;
        X->rxoff = vl_xrealloc(X->rxoff, X->rxcap * sizeof *X->rxoff);
    }
    X->rxoff[id] = start;
    uint64_t h = strtab_hash(X->rxpool.p + start, klen);
    uint32_t old = strtab_put(&X->rxtab, X->rxpool.p + start, klen, h, id);
    if (old != SPEC_NONE) {
        X->rxpool.len = start;
        return old;
    }
    struct rx *r = vec_push(&X->rxs);
    memset(r, 0, sizeof *r);
    r->res = X->rxres.n;
    int ec;
    PCRE2_SIZE eo;
    /* PCRE2_UCP: \d, \w, \s and \b are Unicode's, as in torc's Rust regex */
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pat, plen, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        lerr(X->g, exact_src ? loc_inner(loc, pat, eo) : loc,
             "bad regular expression '%.*s': %s at column %zu", (int)plen, pat, (char *)msg,
             (size_t)eo + 1);
        r->bad = true;
        return id;
    }
    bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    if (kind == 'j') {
        for (uint32_t j = 0; j < X->njobs; j++) {
            const char *nm = X->pool.p + X->name_off[j];
            /* pcre2_jit_match does not take PCRE2_ZERO_TERMINATED (10.42) */
            size_t nl = strlen(nm);
            int rc =
                jit ? pcre2_jit_match(code, (PCRE2_SPTR)nm, nl, 0, 0, X->md, NULL)
                    : pcre2_match(code, (PCRE2_SPTR)nm, nl, 0, PCRE2_NO_UTF_CHECK, X->md, NULL);
            if (rc >= 0)
                push_u32(&X->rxres, j);
        }
    } else {
        for (uint32_t f = 0; f < X->files.n; f++) {
            const struct spec_file *sf = &VEC_AT(X->files, struct spec_file, f);
            bool ud = sf->flags & SPEC_FILE_USER_DATA;
            if (ud != (kind == 'u'))
                continue;
            const char *nm = X->pool.p + sf->name_off;
            int rc = pcre2_match(code, (PCRE2_SPTR)nm, PCRE2_ZERO_TERMINATED, 0, PCRE2_NO_UTF_CHECK,
                                 X->md, NULL);
            if (rc >= 0)
                push_u32(&X->rxres, f);
        }
    }
    pcre2_code_free(code);
    r = &VEC_AT(X->rxs, struct rx, id);
    r->nres = X->rxres.n - r->res;
    return id;
}

/* The entry (among the first `lim`) whose jobs hold jid, or NULL. Entries
 * hand out jids in order, so their firsts are nondecreasing. */
static const struct rent *entry_of(struct X *X, uint32_t jid, uint64_t lim)
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

/* ---- jobs, pass A: names, commands, files ---- */

static uint32_t find_named(struct X *X, const struct vec *tab_names, const struct rstr *want,
                           const char *got, uint64_t loc, const char *what, unsigned kind,
                           const struct E *E)
{
    /* tab_names: struct rrr or struct rfh, both starting with struct rstr name */
    size_t stride = tab_names->elem;
    for (uint64_t i = 0; i < tab_names->n; i++) {
        const struct rstr *nm = (const struct rstr *)((const char *)tab_names->p + i * stride);
        if (!strcmp(raw_str(X->R, nm->off), got))
            return (uint32_t)i;
    }
    const char *cands[64];
    size_t nc = 0;
    for (uint64_t i = 0; i < tab_names->n && nc < 64; i++)
        cands[nc++] =
            raw_str(X->R, ((const struct rstr *)((const char *)tab_names->p + i * stride))->off);
    const char *dym = did_you_mean(got, cands, nc);
    (void)want;
    if (dym)
        ldiag_add(X->g, SPEC_DIAG_ERROR, loc, kind,
                  "job '%s' uses %s '%s', which is not defined; did you mean '%s'?", ename(X, E),
                  what, got, dym);
    else
        ldiag_add(X->g, SPEC_DIAG_ERROR, loc, kind, "job '%s' uses %s '%s', which is not defined",
                  ename(X, E), what, got);
    return SPEC_NONE;
}

/* resource class and failure handler of the current combination */
static void job_classes(struct X *X, struct E *E, uint32_t jid, uint32_t *rr_cache,
                        uint32_t *fh_cache)
{
    X->rr[jid] = X->fh[jid] = SPEC_NONE16;
    if (E->t_rr.present) {
        uint32_t id = *rr_cache;
        if (id == SPEC_NONE - 1 || E->t_rr.mask) {
            X->scratch.len = 0;
            render(X, E, &E->t_rr, &X->scratch);
            sbuf_addc(&X->scratch, '\0');
            id = find_named(X, &X->R->rrs, &E->e->rr, X->scratch.p, E->t_rr.loc,
                            "resource_requirements", K_UNKNOWN_RR, E);
            *rr_cache = id;
        }
        X->rr[jid] = id == SPEC_NONE ? SPEC_NONE16 : (uint16_t)id;
    }
    if (E->t_fh.present) {
        uint32_t id = *fh_cache;
        if (id == SPEC_NONE - 1 || E->t_fh.mask) {
            X->scratch.len = 0;
            render(X, E, &E->t_fh, &X->scratch);
            sbuf_addc(&X->scratch, '\0');
            id = find_named(X, &X->R->fhs, &E->e->fh, X->scratch.p, E->t_fh.loc, "failure_handler",
                            K_UNKNOWN_FH, E);
            *fh_cache = id;
        }
        X->fh[jid] = id == SPEC_NONE ? SPEC_NONE16 : (uint16_t)id;
    }
}

/* Renders the full command (invocation_script prefixed) into out. */
static void render_cmd(struct X *X, struct E *E, struct sbuf *out)
{
    if (E->t_script.present) {
        render(X, E, &E->t_script, out);
        sbuf_addc(out, ' ');
    }
    render(X, E, &E->t_cmd, out);
}

/* The file references (items) of the current combination into ins/outs. */
static void job_file_items(struct X *X, struct E *E, uint32_t jid, bool fan_only)
{
    const struct raw *R = X->R;
    for (uint32_t k = 0; k < E->e->it_n; k++) {
        const struct ritem *it = &VEC_AT(R->items, struct ritem, E->e->it_first + k);
        const struct tmpl *t = &E->t_items[k];
        if (fan_only && !(t->mask & E->fan_mask))
            continue;
        bool out, ud, rx;
        switch (it->kind) {
        case IT_IN:
            out = false, ud = false, rx = false;
            break;
        case IT_OUT:
            out = true, ud = false, rx = false;
            break;
        case IT_UIN:
            out = false, ud = true, rx = false;
            break;
        case IT_UOUT:
            out = true, ud = true, rx = false;
            break;
        case IT_INRX:
            out = false, ud = false, rx = true;
            break;
        case IT_OUTRX:
            out = true, ud = false, rx = true;
            break;
        case IT_UINRX:
            out = false, ud = true, rx = true;
            break;
        case IT_UOUTRX:
            out = true, ud = true, rx = true;
            break;
        default:
            continue;
        }
        X->scratch.len = 0;
        render(X, E, t, &X->scratch);
        struct vec *dst = out ? &X->tmpu2 : &X->tmpu;
        if (rx) {
            uint32_t id = rx_get(X, ud ? 'u' : 'f', X->scratch.p ? X->scratch.p : "",
                                 X->scratch.len, t->loc, t->mask == 0);
            const struct rx *r = &VEC_AT(X->rxs, struct rx, id);
            if (!r->bad && r->nres == 0 && !X->files_incomplete)
                ldiag_add(X->g, SPEC_DIAG_ERROR, t->loc, K_RX_NONE,
                          "'%s': pattern '%.*s' matches no %s", X->pool.p + X->name_off[jid],
                          (int)X->scratch.len, X->scratch.p, ud ? "user_data entry" : "file");
            for (uint64_t m = 0; m < r->nres; m++)
                push_u32(dst, VEC_AT(X->rxres, uint32_t, r->res + m));
            continue;
        }
        uint32_t fid = strtab_find(ud ? &X->utab : &X->ftab, X->scratch.p ? X->scratch.p : "",
                                   X->scratch.len, strtab_hash(X->scratch.p, X->scratch.len));
        if (fid == SPEC_NONE) {
            if (X->files_incomplete)
                continue;
            ldiag_add(X->g, SPEC_DIAG_ERROR, t->loc, K_UNKNOWN_FILE,
                      "'%s' %s %s '%.*s', which is not declared in %s",
                      X->pool.p + X->name_off[jid], out ? "writes" : "reads",
                      ud ? "user_data" : "file", (int)X->scratch.len, X->scratch.p,
                      ud ? "user_data" : "files");
            continue;
        }
        push_u32(dst, fid);
    }
}

/* Lists the combinations of each instance of a collapsed entry: on return
 * (*order)[(*off)[i] .. (*off)[i+1]) are the combinations of instance i. */
static void collapse_map(struct X *X, struct E *E, const struct eout *eo, uint32_t **order,
                         uint64_t **off)
{
    uint32_t *map = vl_xmalloc(E->C * sizeof *map);
    for (uint64_t c = 0; c < E->C; c++) {
        set_combo(E, c);
        first_fan(E);
        X->scratch.len = 0;
        render(X, E, &E->t_name, &X->scratch);
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

/* A job name is printed one per line and typed on command lines: it must
 * not be empty or hold a control character. Reports and returns false.
 * Only names that can hold one are scanned (name_scan). */
static bool job_name_ok(struct X *X, const struct E *E, const char *s, uint64_t n)
{
    size_t at = ctl_at(s, n);
    if (n && at == n)
        return true;
    if (!n) {
        lerr(X->g, E->t_name.loc, "a job name is empty");
        return false;
    }
    char shown[128];
    size_t k;
    for (k = 0; k < n && k + 1 < sizeof shown; k++)
        shown[k] = iscntrl((unsigned char)s[k]) ? '?' : s[k];
    shown[k] = '\0';
    lerr(X->g, E->t_name.loc,
         "job name '%s' contains a control character (0x%02x); names are shown one per line and "
         "typed on command lines",
         shown, (unsigned char)s[at]);
    return false;
}

/* Whether the entry's names can hold a control character: its name template
 * does, or a parameter it uses has string values (numbers never do). */
static bool name_scan(const struct E *E)
{
    size_t len = E->t_name.src ? strlen(E->t_name.src) : 0;
    if (ctl_at(E->t_name.src, len) < len)
        return true;
    for (uint64_t m = E->t_name.mask; m; m &= m - 1)
        if (E->pt[__builtin_ctzll(m)]->types & VT_STR)
            return true;
    return false;
}

static void pass_a_entry(struct X *X, struct E *E, struct eout *eo)
{
    bool scan = E->t_name.mask ? name_scan(E) : true; /* no parameters: the name is src */
    const struct rent *e = E->e;
    eo->first = X->njobs;
    if (!jobs_reserve(X, E->C)) {
        eo->bad = true;
        return;
    }
    /* names, PIPE at a time: render and hash a batch, prefetch the table
     * slots, then insert; the slot loads are the cost (a cache miss per
     * name), and this way they overlap */
    uint64_t bstart[PIPE], blen[PIPE], bh[PIPE];
    for (uint64_t c0 = 0; c0 < E->C; c0 += PIPE) {
        uint32_t nb = (uint32_t)VL_MIN((uint64_t)PIPE, E->C - c0);
        for (uint32_t k = 0; k < nb; k++) {
            set_combo(E, c0 + k);
            bstart[k] = X->pool.len;
            render(X, E, &E->t_name, &X->pool);
            blen[k] = X->pool.len - bstart[k];
            sbuf_addc(&X->pool, '\0');
            if (scan || !blen[k])
                job_name_ok(X, E, X->pool.p + bstart[k], blen[k]);
            bh[k] = strtab_hash(X->pool.p + bstart[k], blen[k]);
            strtab_prefetch(&X->jtab, bh[k]);
        }
        for (uint32_t k = 0; k < nb; k++) {
            uint32_t jid = X->njobs;
            X->name_off[jid] = bstart[k];
            uint32_t old = strtab_put(&X->jtab, X->pool.p + bstart[k], blen[k], bh[k], jid);
            if (old == SPEC_NONE) {
                X->njobs++;
                continue;
            }
            /* the rejected name stays in the pool as dead bytes */
            if (old < eo->first) {
                const struct rent *o = entry_of(X, old, (uint64_t)(eo - X->eo));
                ldiag_add(X->g, SPEC_DIAG_ERROR, E->t_name.loc, K_DUP,
                          "duplicate job name '%s' (the job at line %" PRIu32 " has it too)",
                          X->pool.p + bstart[k], o ? loc_line(o->loc) + 1 : 0);
            } else {
                eo->collapsed = true;
            }
        }
    }
    eo->n = X->njobs - eo->first;
    uint32_t *order = NULL;
    uint64_t *off = NULL;
    if (eo->collapsed)
        collapse_map(X, E, eo, &order, &off);
    uint32_t rr_cache = SPEC_NONE - 1, fh_cache = SPEC_NONE - 1;
    for (uint32_t i = 0; i < eo->n; i++) {
        uint32_t jid = eo->first + i;
        uint64_t nc = eo->collapsed ? off[i + 1] - off[i] : 1;
        X->tmpu.n = X->tmpu2.n = 0;
        for (uint64_t k = 0; k < nc; k++) {
            uint64_t c = eo->collapsed ? order[off[i] + k] : i;
            set_combo(E, c);
            first_fan(E);
            X->refs.n = 0;
            X->cur_jid = jid;
            if (k == 0) {
                X->cmd_off[jid] = X->pool.len;
                render_cmd(X, E, &X->pool);
                sbuf_addc(&X->pool, '\0');
                job_classes(X, E, jid, &rr_cache, &fh_cache);
                X->flags[jid] = e->cancel ? SPEC_JOB_CANCEL_ON_BLOCK : 0;
            } else {
                X->scratch.len = 0;
                render_cmd(X, E, &X->scratch);
                if (X->scratch.len != strlen(X->pool.p + X->cmd_off[jid]) ||
                    memcmp(X->scratch.p, X->pool.p + X->cmd_off[jid], X->scratch.len))
                    ldiag_add(X->g, SPEC_DIAG_ERROR, E->t_name.loc, K_DIFF,
                              "two instances are both named '%s' but differ in command; use the "
                              "parameters that differ in the name",
                              X->pool.p + X->name_off[jid]);
            }
            for (uint64_t r = 0; r < X->refs.n; r++) {
                uint64_t v = VEC_AT(X->refs, uint64_t, r);
                uint32_t ref = (uint32_t)(v >> 32), fid = (uint32_t)v;
                push_u32(ref == REF_FOUT || ref == REF_UOUT ? &X->tmpu2 : &X->tmpu, fid);
            }
            job_file_items(X, E, jid, false);
            while (E->nfan && next_fan(E))
                job_file_items(X, E, jid, true);
        }
        if (!X->has_files)
            continue;
        sort_unique(&X->tmpu, 0);
        sort_unique(&X->tmpu2, 0);
        X->in_off[jid] = X->ins.n;
        for (uint64_t k = 0; k < X->tmpu.n; k++) {
            uint32_t fid = VEC_AT(X->tmpu, uint32_t, k);
            push_u32(&X->ins, fid);
            VEC_AT(X->files, struct spec_file, fid).flags |= SPEC_FILE_INPUT;
        }
        X->out_off[jid] = X->outs.n;
        for (uint64_t k = 0; k < X->tmpu2.n; k++) {
            uint32_t fid = VEC_AT(X->tmpu2, uint32_t, k);
            push_u32(&X->outs, fid);
            struct spec_file *f = &VEC_AT(X->files, struct spec_file, fid);
            if (f->producer != SPEC_NONE && f->producer != jid)
                ldiag_add(X->g, SPEC_DIAG_ERROR, E->t_name.loc, K_PRODUCERS,
                          "%s '%s' is written by both '%s' and '%s'",
                          f->flags & SPEC_FILE_USER_DATA ? "user_data" : "file",
                          X->pool.p + f->name_off, X->pool.p + X->name_off[f->producer],
                          X->pool.p + X->name_off[jid]);
            else
                f->producer = jid;
        }
    }
    X->cur_jid = SPEC_NONE;
    free(order);
    free(off);
}

/* ---- jobs, pass B: parents ---- */

/* A dependency name rendered ahead (pass B batches), with its hash. */
struct pre {
    uint64_t off, len, h;
};

static void add_dep_items(struct X *X, struct E *E, uint32_t jid, bool fan_only,
                          const struct pre *pre, uint64_t *pi)
{
    const struct raw *R = X->R;
    for (uint32_t k = 0; k < E->e->it_n; k++) {
        const struct ritem *it = &VEC_AT(R->items, struct ritem, E->e->it_first + k);
        if (it->kind != IT_DEP && it->kind != IT_DEPRX)
            continue;
        const struct tmpl *t = &E->t_items[k];
        if (fan_only && !(t->mask & E->fan_mask))
            continue;
        const char *s;
        uint64_t slen, h;
        if (pre && it->kind == IT_DEP && !(t->mask & E->fan_mask)) {
            const struct pre *q = &pre[(*pi)++];
            s = X->scratch2.p + q->off;
            slen = q->len;
            h = q->h;
        } else {
            X->scratch.len = 0;
            render(X, E, t, &X->scratch);
            s = X->scratch.p ? X->scratch.p : "";
            slen = X->scratch.len;
            h = it->kind == IT_DEP ? strtab_hash(s, slen) : 0;
        }
        if (it->kind == IT_DEP) {
            uint32_t p = strtab_find(&X->jtab, s, slen, h);
            if (p == SPEC_NONE) {
                if (X->jobs_incomplete)
                    continue;
                ldiag_add(X->g, SPEC_DIAG_ERROR, t->loc, K_UNKNOWN_JOB,
                          "'%s' depends on '%.*s', which matches no job",
                          X->pool.p + X->name_off[jid], (int)slen, s);
                continue;
            }
            if (p == jid) {
                ldiag_add(X->g, SPEC_DIAG_ERROR, t->loc, K_SELF,
                          "dependency cycle: %s -> %s (a job cannot depend on itself)",
                          X->pool.p + X->name_off[jid], X->pool.p + X->name_off[jid]);
                continue;
            }
            push_u32(&X->tmpu, p);
            continue;
        }
        uint32_t id = rx_get(X, 'j', s, slen, t->loc, t->mask == 0);
        const struct rx *r = &VEC_AT(X->rxs, struct rx, id);
        if (r->bad)
            continue;
        uint64_t added = 0;
        for (uint64_t m = 0; m < r->nres; m++) {
            uint32_t p = VEC_AT(X->rxres, uint32_t, r->res + m);
            if (p != jid) {
                push_u32(&X->tmpu, p);
                added++;
            }
        }
        if (!added && !X->jobs_incomplete)
            ldiag_add(X->g, SPEC_DIAG_ERROR, t->loc, K_RX_NONE,
                      "'%s': depends_on_regexes pattern '%.*s' matches no other job",
                      X->pool.p + X->name_off[jid], (int)slen, s);
    }
}

static void pass_b_entry(struct X *X, struct E *E, const struct eout *eo)
{
    bool has_dep = false;
    uint32_t npre = 0; /* depends_on items without fan-in: rendered ahead */
    for (uint32_t k = 0; k < E->e->it_n; k++) {
        uint8_t kind = VEC_AT(X->R->items, struct ritem, E->e->it_first + k).kind;
        has_dep |= kind == IT_DEP || kind == IT_DEPRX;
        npre += kind == IT_DEP && !(E->t_items[k].mask & E->fan_mask);
    }
    uint32_t *order = NULL;
    uint64_t *off = NULL;
    if (eo->collapsed && has_dep)
        collapse_map(X, E, eo, &order, &off);
    bool batch = npre && !eo->collapsed;
    struct pre *pre = batch ? vl_xmalloc((size_t)PIPE * npre * sizeof *pre) : NULL;
    for (uint32_t i0 = 0; i0 < eo->n; i0 += PIPE) {
        uint32_t nb = VL_MIN((uint32_t)PIPE, eo->n - i0);
        if (batch) {
            X->scratch2.len = 0;
            uint64_t np = 0;
            for (uint32_t b = 0; b < nb; b++) {
                set_combo(E, i0 + b);
                first_fan(E);
                for (uint32_t k = 0; k < E->e->it_n; k++) {
                    const struct tmpl *t = &E->t_items[k];
                    if (VEC_AT(X->R->items, struct ritem, E->e->it_first + k).kind != IT_DEP ||
                        (t->mask & E->fan_mask))
                        continue;
                    struct pre *q = &pre[np++];
                    q->off = X->scratch2.len;
                    render(X, E, t, &X->scratch2);
                    q->len = X->scratch2.len - q->off;
                    q->h = strtab_hash(X->scratch2.p + q->off, q->len);
                    strtab_prefetch(&X->jtab, q->h);
                }
            }
        }
        uint64_t pi = 0;
        for (uint32_t b = 0; b < nb; b++) {
            uint32_t i = i0 + b;
            uint32_t jid = eo->first + i;
            X->tmpu.n = 0;
            if (has_dep) {
                uint64_t nc = eo->collapsed ? off[i + 1] - off[i] : 1;
                for (uint64_t k = 0; k < nc; k++) {
                    set_combo(E, eo->collapsed ? order[off[i] + k] : i);
                    first_fan(E);
                    add_dep_items(X, E, jid, false, pre, &pi);
                    while (E->nfan && next_fan(E))
                        add_dep_items(X, E, jid, true, NULL, NULL);
                }
            }
            for (uint64_t k = X->has_files ? X->in_off[jid] : 0;
                 X->has_files && k < X->in_off[jid + 1]; k++) {
                uint32_t p =
                    VEC_AT(X->files, struct spec_file, VEC_AT(X->ins, uint32_t, k)).producer;
                if (p != SPEC_NONE && p != jid)
                    push_u32(&X->tmpu, p);
            }
            sort_unique(&X->tmpu, 0);
            X->npar[jid] = 0;
            if (X->pars.n + X->tmpu.n > MAX_EDGES_BUILD) {
                if (!X->too_big)
                    lerr(X->g, LOC_NONE, "the workflow has more than %" PRIu64 " dependencies",
                         (uint64_t)MAX_EDGES_BUILD);
                X->too_big = true;
                continue;
            }
            for (uint64_t k = 0; k < X->tmpu.n; k++)
                push_u32(&X->pars, VEC_AT(X->tmpu, uint32_t, k));
            X->npar[jid] = (uint32_t)X->tmpu.n;
        }
    }
    free(pre);
    free(order);
    free(off);
}

/* ---- edges and cycles ---- */

static void report_cycle(struct X *X, struct spec *s, const uint32_t *deg)
{
    uint32_t n = s->njobs;
    /* every job left with deg > 0 has a parent left: walk parents */
    uint32_t *par = vl_xmalloc((uint64_t)n * sizeof *par);
    for (uint32_t j = 0; j < n; j++)
        par[j] = SPEC_NONE;
    for (uint32_t p = 0; p < n; p++) {
        if (!deg[p])
            continue;
        for (uint64_t e = s->kid_off[p]; e < s->kid_off[p + 1]; e++)
            if (deg[s->kids[e]])
                par[s->kids[e]] = p;
    }
    uint32_t v = 0;
    while (!deg[v])
        v++;
    uint32_t *seen = vl_xcalloc(n, sizeof *seen); /* step + 1 */
    uint32_t step = 0;
    while (!seen[v]) {
        seen[v] = ++step;
        v = par[v];
    }
    /* v is on the cycle; collect it in dependency order (parent first) */
    struct vec cyc = {.elem = sizeof(uint32_t)};
    uint32_t u = v;
    do {
        push_u32(&cyc, u);
        u = par[u];
    } while (u != v);
    uint32_t *c = cyc.p;
    uint64_t m = cyc.n;
    for (uint64_t i = 0; i < m / 2; i++) {
        uint32_t t = c[i];
        c[i] = c[m - 1 - i];
        c[m - 1 - i] = t;
    }
    /* start at the job written first, so the message reads like the file */
    uint64_t lo = 0;
    for (uint64_t i = 1; i < m; i++)
        if (c[i] < c[lo])
            lo = i;
    uint32_t *rot = vl_xmalloc(m * sizeof *rot);
    for (uint64_t i = 0; i < m; i++)
        rot[i] = c[(lo + i) % m];
    memcpy(c, rot, m * sizeof *rot);
    free(rot);
    struct sbuf b = {0};
    for (uint64_t i = 0; i < m; i++) {
        if (m > 12 && i == 8) {
            char t[64];
            int tl = snprintf(t, sizeof t, " -> ... (%" PRIu64 " more) ...", m - 11);
            sbuf_add(&b, t, (size_t)tl);
            i = m - 3;
        }
        if (i)
            sbuf_add(&b, " -> ", 4);
        const char *nm = spec_job_name(s, c[i]);
        sbuf_add(&b, nm, strlen(nm));
    }
    sbuf_add(&b, " -> ", 4);
    const char *nm = spec_job_name(s, c[0]);
    sbuf_add(&b, nm, strlen(nm));
    sbuf_addc(&b, '\0');
    const struct rent *e = entry_of(X, c[0], X->R->jobs.n);
    lerr(X->g, e ? e->name.loc : X->R->root_loc, "dependency cycle: %s", b.p);
    sbuf_free(&b);
    vec_free(&cyc);
    free(seen);
    free(par);
}

/* Zeroed memory for a workflow-sized array, on huge pages when large. */
static void *big_zalloc(uint64_t n, size_t elem)
{
    void *p = big_realloc(NULL, (n ? n : 1) * elem);
    memset(p, 0, (n ? n : 1) * elem);
    return p;
}

/* Children per parent from parents per child, in-degrees, cycle check.
 * kid_off doubles as the fill cursor (then shifts by one), so the only
 * scratch is the cycle check's 8 bytes per job, after the parents list is
 * freed. */
static int build_edges(struct X *X, struct spec *s)
{
    uint32_t n = X->njobs;
    uint64_t m = X->pars.n;
    s->kid_off = big_zalloc((uint64_t)n + 1, sizeof *s->kid_off);
    s->npar = X->npar;
    X->npar = NULL;
    s->kids = big_realloc(NULL, (m ? m : 1) * sizeof *s->kids);
    const uint32_t *pars = X->pars.p;
    for (uint64_t e = 0; e < m; e++) /* kid_off[p + 1]: how many children p has */
        s->kid_off[pars[e] + 1]++;
    for (uint32_t j = 0; j < n; j++) /* kid_off[p]: where p's children start */
        s->kid_off[j + 1] += s->kid_off[j];
    uint64_t e = 0;
    for (uint32_t c = 0; c < n; c++)                   /* parents are stored in child order, so */
        for (uint32_t k = 0; k < s->npar[c]; k++, e++) /* children come ascending */
            s->kids[s->kid_off[pars[e]]++] = c;
    /* kid_off[p] is now where p's children end: shift by one for the CSR */
    if (n)
        memmove(s->kid_off + 1, s->kid_off, (uint64_t)n * sizeof *s->kid_off);
    s->kid_off[0] = 0;
    s->nedges = m;
    vec_free(&X->pars);

    /* Kahn: iterative, O(jobs + edges) */
    uint32_t *deg = big_realloc(NULL, (n ? n : 1) * sizeof *deg);
    uint32_t *queue = big_realloc(NULL, (n ? n : 1) * sizeof *queue);
    memcpy(deg, s->npar, (uint64_t)n * sizeof *deg);
    uint32_t head = 0, tail = 0;
    for (uint32_t j = 0; j < n; j++)
        if (!deg[j])
            queue[tail++] = j;
    while (head < tail) {
        uint32_t j = queue[head++];
        for (uint64_t k = s->kid_off[j]; k < s->kid_off[j + 1]; k++)
            if (--deg[s->kids[k]] == 0)
                queue[tail++] = s->kids[k];
    }
    free(queue);
    if (tail != n)
        report_cycle(X, s, deg);
    free(deg);
    return 0;
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

int spec_expand(const struct raw *R, struct ldiag *g, const char *path, struct spec *s)
{
    struct X X;
    memset(&X, 0, sizeof X);
    X.R = R;
    X.g = g;
    X.files.elem = sizeof(struct spec_file);
    X.ins.elem = X.outs.elem = X.pars.elem = X.tmpu.elem = X.tmpu2.elem = X.rxres.elem =
        sizeof(uint32_t);
    X.segs.elem = sizeof(struct seg);
    X.refs.elem = sizeof(uint64_t);
    X.rxs.elem = sizeof(struct rx);
    strtab_init(&X.jtab, &X.pool.p, &X.name_off, 1024);
    strtab_init(&X.ftab, &X.pool.p, &X.fname_off, 64);
    strtab_init(&X.utab, &X.pool.p, &X.fname_off, 64);
    strtab_init(&X.rxtab, &X.rxpool.p, &X.rxoff, 16);
    X.md = pcre2_match_data_create(1, NULL);
    sbuf_addc(&X.pool, '\0'); /* offset 0: the empty string */
    int rc = 0;

    X.has_files = R->files.n || R->uds.n;
    X.cur_jid = SPEC_NONE;
    X.jobs_incomplete = R->bad_jobs > 0;
    X.files_incomplete = R->bad_files > 0;
    expand_files(&X);
    reserve_all(&X);

    /* pass A */
    X.eo = vl_xcalloc(R->jobs.n ? R->jobs.n : 1, sizeof *X.eo);
    struct E E;
    for (uint64_t i = 0; i < R->jobs.n && !X.too_big; i++) {
        const struct rent *e = &VEC_AT(R->jobs, struct rent, i);
        X.segs.n = 0;
        if (!entry_begin(&X, &E, e)) {
            X.eo[i].bad = true;
            X.eo[i].first = X.njobs;
            X.jobs_incomplete = true;
            entry_end(&E);
            continue;
        }
        pass_a_entry(&X, &E, &X.eo[i]);
        X.jobs_incomplete |= X.eo[i].bad;
        entry_end(&E);
    }
    if (X.too_big) {
        rc = VL_ETOOBIG;
        goto out;
    }
    if (X.has_files) {
        X.in_off[X.njobs] = X.ins.n;
        X.out_off[X.njobs] = X.outs.n;
    }

    /* pass B */
    X.quiet = true;
    for (uint64_t i = 0; i < R->jobs.n && !X.too_big; i++) {
        if (X.eo[i].bad)
            continue;
        X.segs.n = 0;
        if (!entry_begin(&X, &E, &VEC_AT(R->jobs, struct rent, i))) {
            entry_end(&E);
            continue;
        }
        pass_b_entry(&X, &E, &X.eo[i]);
        entry_end(&E);
    }
    if (X.too_big) {
        rc = VL_ETOOBIG;
        goto out;
    }

    /* hand the arrays over to the spec */
    s->path = vl_xstrdup(path);
    s->name = vl_xstrdup(R->wf_name.off != RSTR_NONE ? raw_str(R, R->wf_name.off) : "");
    s->description = R->wf_desc.off < RSTR_BAD ? vl_xstrdup(raw_str(R, R->wf_desc.off)) : NULL;
    s->njobs = X.njobs;
    s->name_off = shrink(X.name_off, X.njobs, sizeof *X.name_off);
    s->cmd_off = shrink(X.cmd_off, X.njobs, sizeof *X.cmd_off);
    s->rr = shrink(X.rr, X.njobs, sizeof *X.rr);
    s->fh = shrink(X.fh, X.njobs, sizeof *X.fh);
    s->flags = shrink(X.flags, X.njobs, sizeof *X.flags);
    X.npar = shrink(X.npar, X.njobs, sizeof *X.npar);
    X.name_off = X.cmd_off = NULL;
    X.rr = X.fh = NULL;
    X.flags = NULL;
    strtab_free(&X.jtab);

    /* small tables */
    s->nrr = (uint32_t)R->rrs.n;
    s->rrs = vl_xcalloc(s->nrr ? s->nrr : 1, sizeof *s->rrs);
    for (uint32_t i = 0; i < s->nrr; i++) {
        const struct rrr *r = &VEC_AT(R->rrs, struct rrr, i);
        s->rrs[i] = r->v;
        const char *nm = raw_str(R, r->name.off);
        s->rrs[i].name_off = sbuf_addz(&X.pool, nm, strlen(nm));
        for (uint32_t k = 0; k < i; k++)
            if (!strcmp(nm, raw_str(R, VEC_AT(R->rrs, struct rrr, k).name.off)))
                lerr(g, r->name.loc, "duplicate resource_requirements name '%s'", nm);
    }
    s->nfh = (uint32_t)R->fhs.n;
    s->fhs = vl_xcalloc(s->nfh ? s->nfh : 1, sizeof *s->fhs);
    for (uint32_t i = 0; i < s->nfh; i++) {
        const struct rfh *f = &VEC_AT(R->fhs, struct rfh, i);
        const char *nm = raw_str(R, f->name.off);
        s->fhs[i].name_off = sbuf_addz(&X.pool, nm, strlen(nm));
        s->fhs[i].rule_first = f->rule_first;
        s->fhs[i].nrules = f->nrules;
        for (uint32_t k = 0; k < i; k++)
            if (!strcmp(nm, raw_str(R, VEC_AT(R->fhs, struct rfh, k).name.off)))
                lerr(g, f->name.loc, "duplicate failure_handlers name '%s'", nm);
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
            s->rules[i].script_off = sbuf_addz(&X.pool, sc, strlen(sc));
        }
    }
    s->ncodes = (uint32_t)R->codes.n;
    s->codes = vl_xmalloc((s->ncodes ? s->ncodes : 1) * sizeof *s->codes);
    if (s->ncodes)
        memcpy(s->codes, R->codes.p, s->ncodes * sizeof *s->codes);

    /* files */
    s->nfiles = (uint32_t)X.files.n;
    s->files = X.files.p ? shrink(X.files.p, X.files.n, sizeof *s->files) : NULL;
    X.files.p = NULL;
    if (s->nfiles && X.has_files) {
        s->in_off = shrink(X.in_off, (uint64_t)X.njobs + 1, sizeof *X.in_off);
        s->out_off = shrink(X.out_off, (uint64_t)X.njobs + 1, sizeof *X.out_off);
        X.in_off = X.out_off = NULL;
        s->ins = X.ins.p ? X.ins.p : vl_xmalloc(4);
        s->outs = X.outs.p ? X.outs.p : vl_xmalloc(4);
        X.ins.p = X.outs.p = NULL;
    }

    /* where each entry's jobs came from */
    s->srcs = vl_xcalloc(R->jobs.n ? R->jobs.n : 1, sizeof *s->srcs);
    for (uint64_t i = 0; i < R->jobs.n; i++) {
        if (X.eo[i].bad || !X.eo[i].n)
            continue;
        s->srcs[s->nsrcs].first = X.eo[i].first;
        s->srcs[s->nsrcs].line = loc_line(VEC_AT(R->jobs, struct rent, i).loc) + 1;
        s->nsrcs++;
    }

    /* regex results are spent: free them before the edges' peak */
    vec_free(&X.rxres);
    vec_free(&X.rxs);
    strtab_free(&X.rxtab);
    sbuf_free(&X.rxpool);

    /* edges (needs the names: pool stays in X until here) */
    s->pool = X.pool.p;
    s->pool_len = X.pool.len;
    rc = build_edges(&X, s);
    s->pool = shrink(X.pool.p, X.pool.len, 1);
    X.pool.p = NULL;
out:
    strtab_free(&X.jtab);
    strtab_free(&X.ftab);
    strtab_free(&X.utab);
    strtab_free(&X.rxtab);
    pcre2_match_data_free(X.md);
    free(X.name_off);
    free(X.cmd_off);
    free(X.rr);
    free(X.fh);
    free(X.flags);
    free(X.eo);
    free(X.fname_off);
    free(X.in_off);
    free(X.out_off);
    free(X.npar);
    free(X.rxoff);
    vec_free(&X.files);
    vec_free(&X.ins);
    vec_free(&X.outs);
    vec_free(&X.pars);
    vec_free(&X.segs);
    vec_free(&X.refs);
    vec_free(&X.tmpu);
    vec_free(&X.tmpu2);
    vec_free(&X.rxs);
    vec_free(&X.rxres);
    sbuf_free(&X.scratch);
    sbuf_free(&X.scratch2);
    sbuf_free(&X.rxpool);
    sbuf_free(&X.pool);
    return rc;
}

/*
 * expand_int.h - what the files of expansion share (loader-internal): the
 * expansion state (struct X), one entry while it expands (struct E), its
 * compiled templates, and the steps spec_expand runs in order:
 *
 *   files.c   files and user_data: expanded names -> file ids;
 *   jobs.c    pass A over job entries: instance names (-> the job hash
 *             table), commands, resource classes, failure handlers, the
 *             files each job reads and writes, producers of files;
 *   deps.c    pass B: depends_on, depends_on_regexes and the producers of
 *             inputs -> parent lists per job (CSR, in jid order);
 *   edges.c   children per parent, in-degrees, the cycle check;
 *   expand.c  the order above, the estimates that reserve memory once, and
 *             the hand-over of the arrays to struct spec.
 *
 * Helpers: tmpl.c compiles and renders templates ("{p:fmt}", ${files...});
 * entry.c collects an entry's parameters and splits them into those that
 * name instances and those that fan in; rx.c caches regex matches.
 */
#ifndef VOLLEY_LOADER_EXPAND_INT_H
#define VOLLEY_LOADER_EXPAND_INT_H

#include "load_int.h"

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
    K_ARG,
    K_ACTION,
};

/* What a template is: a name or reference (an unknown placeholder is an
 * error), a command (also ${files...}; an unknown placeholder is left for
 * the shell, with a warning), or an env value (like a command's text, but
 * without ${files...}). */
enum { TK_NAME, TK_CMD, TK_REF, TK_ENV };
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

/* An instance that was not made: its name is another entry's. */
struct ghost {
    uint64_t combo; /* its combination */
    uint32_t entry; /* its job entry */
};

/* The job "jid" stands for in messages: JID_GHOST is the ghost being
 * checked (its name in X->ghost_name). */
#define JID_GHOST (SPEC_NONE - 1)

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
    int32_t *prio; /* [jcap]; handed over only if some job's is not 0 */
    bool any_prio;
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
    /* what unknown names are checked against (unknown.c) */
    struct vec dropped_j, dropped_f; /* uint64_t: raw name offsets of dropped entries */
    uint64_t dym_spent;              /* names compared for did-you-means so far */
    /* instances dropped as duplicates of another entry's: their references
     * are still checked, for messages only (deps_check_ghosts) */
    struct vec ghosts; /* struct ghost */
    struct sbuf ghost_name, ghost_cmd;
    /* env (env.c): sets of "KEY=VALUE" strings, set 0 the workflow's */
    uint32_t *env;       /* [jcap] each job's set, when some job has its own env */
    struct vec envsets;  /* struct spec_envset */
    struct vec envkv;    /* uint64_t: pool offsets of "KEY=VALUE" */
    struct vec envbytes; /* uint64_t: what each set adds to a job's execve (ARG_MAX) */
    uint64_t arg_max;    /* sysconf(_SC_ARG_MAX): argv and envp of a new program */
    uint64_t arg_strlen; /* MAX_ARG_STRLEN: one argument or env string, with its NUL */
    uint64_t cmd_fast;   /* a command shorter than this passes both limits with set 0 */
    /* actions (actions.c) */
    struct vec acts;       /* struct spec_action */
    struct vec act_cmds;   /* uint64_t pool offsets */
    struct vec act_jobs;   /* uint32_t */
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
    struct tmpl *t_env;   /* [e->env_n] the values of the job's env */
    uint64_t env_mask;    /* parameters the env values use */
    bool ok;
};

static inline const char *ename(const struct X *X, const struct E *E)
{
    return raw_str(X->R, E->e->name.off);
}

static inline const char *jname(const struct X *X, uint32_t jid)
{
    return jid == JID_GHOST ? X->ghost_name.p : X->pool.p + X->name_off[jid];
}

static inline void u32_push(struct vec *v, uint32_t x)
{
    *(uint32_t *)vec_push(v) = x;
}

/* ---- expand.c ---- */
/* Makes room for `more` jobs; false (reported once, X->too_big) when the
 * workflow would not fit in memory or above MAX_JOBS_BUILD. */
bool jobs_reserve(struct X *X, uint64_t more);
/* Sorts a[0..n) (n > 1) and drops repeats; returns the new count. */
uint64_t u32_sort_dedup(uint32_t *a, uint64_t n);
/* Sorts and deduplicates the uint32_t list v in place. Lists are mostly
 * built ascending already (one check, inline); the rest are sorted. */
static inline void u32_sort_unique(struct vec *v)
{
    uint32_t *a = v->p; /* NULL when empty */
    for (uint64_t i = 1; i < v->n; i++)
        if (a[i - 1] >= a[i]) {
            v->n = u32_sort_dedup(a, v->n);
            return;
        }
}

/* ---- tmpl.c ---- */
/* Compiles the string rs into t (segments in X->segs); tk says what may be
 * in it (TK_NAME: placeholders; TK_CMD: also ${files...}, and unknown
 * placeholders are left for the shell). False after reporting an error. */
bool tmpl_compile(struct X *X, struct E *E, struct tmpl *t, const struct rstr *rs, int tk,
                  const char *field);
/* Appends segments first .. first+n of t, rendered for E's current values,
 * to out; ${files...} references are filled and noted in X->refs. */
bool tmpl_render_segs(struct X *X, struct E *E, const struct tmpl *t, uint32_t first, uint32_t n,
                      struct sbuf *out);
static inline bool tmpl_render(struct X *X, struct E *E, const struct tmpl *t, struct sbuf *out)
{
    return tmpl_render_segs(X, E, t, t->first, t->n, out);
}

/* ---- entry.c ---- */
/* Collects the entry's parameters and compiles its templates; false when
 * the entry cannot be expanded (reported unless X->quiet). */
bool entry_begin(struct X *X, struct E *E, const struct rent *e);
void entry_end(struct E *E);
/* The entry (among the first `lim`) whose jobs hold jid, or NULL. */
const struct rent *entry_of(struct X *X, uint32_t jid, uint64_t lim);
/* Lists the combinations of each instance of a collapsed entry (two
 * combinations gave one name): on return (*order)[(*off)[i] .. (*off)[i+1])
 * are the combinations of instance i; the caller frees both. */
void entry_collapse_map(struct X *X, struct E *E, const struct eout *eo, uint32_t **order,
                        uint64_t **off);

/* Sets the parameters that name instances for combination c. */
static inline void entry_set_combo(struct E *E, uint64_t c)
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
static inline bool entry_next_fan(struct E *E)
{
    for (uint32_t k = E->nfan; k-- > 0;) {
        uint32_t p = E->fan_p[k];
        if (++E->vi[p] < E->pt[p]->n)
            return true;
        E->vi[p] = 0;
    }
    return false;
}

static inline void entry_first_fan(struct E *E)
{
    for (uint32_t k = 0; k < E->nfan; k++)
        E->vi[E->fan_p[k]] = 0;
}

/* ---- files.c, jobs.c, deps.c, edges.c, rx.c ---- */
void files_expand(struct X *X);
void jobs_expand_entry(struct X *X, struct E *E, struct eout *eo);
void deps_expand_entry(struct X *X, struct E *E, const struct eout *eo);
int edges_build(struct X *X, struct spec *s);
/* The cached matches of pattern (kind: 'j' job names, 'f' files, 'u'
 * user data); compiles and matches on first use. Returns the rx index. */
uint32_t rx_get(struct X *X, char kind, const char *pat, size_t plen, uint64_t loc, bool exact_src);
/* Checks the references of instances dropped as duplicates (X->ghosts). */
void deps_check_ghosts(struct X *X);
/* jobs.c, for ghosts: the command (its ${files...} checked) into out, and
 * the file references of the current combination (into X->tmpu/tmpu2). */
void jobs_render_cmd(struct X *X, struct E *E, struct sbuf *out);
void jobs_file_items(struct X *X, struct E *E, uint32_t jid, bool fan_only);

/* ---- env.c ---- */
/* The workflow's env as set 0 (when the file has env anywhere). */
void env_begin(struct X *X);
/* Job jid's env set (*entry_set caches an entry's set when its env uses
 * no parameter; SPEC_NONE at first), and the argument limits of its
 * command (cmd_len bytes) with that env. Needed only when X->env is set or
 * cmd_len >= X->cmd_fast (the common job skips the call). */
void env_job(struct X *X, struct E *E, uint32_t jid, uint32_t *entry_set, uint64_t cmd_len);
/* A command or script of cmd_len bytes under MAX_ARG_STRLEN, else an error
 * at loc about what ("the command of 'x'") naming the limit. */
bool env_check_arg(struct X *X, uint64_t loc, uint64_t cmd_len, const char *what);

/* ---- actions.c ---- */
/* Resolves the actions' jobs (names, regexes) while the job table lives. */
void actions_resolve(struct X *X);

/* ---- unknown.c ---- */
/* Whether s could be the name of an entry dropped for an error ('j' jobs,
 * 'f' files and user_data): then "matches no job" would only echo it. */
bool unknown_maybe_dropped(const struct X *X, char kind, const char *s, size_t n);
/* The closest job ('j'), file ('f') or user_data ('u') name to s, or NULL
 * (also for an empty s); job self is not a candidate. The pointer is into
 * X->pool: use it before the pool grows. */
const char *unknown_dym(struct X *X, char kind, const char *s, size_t n, uint32_t self);

#endif /* VOLLEY_LOADER_EXPAND_INT_H */

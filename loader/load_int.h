/*
 * load_int.h - what the loader's files share (not for other modules).
 *
 * The loader runs in two phases. parse.c walks libyaml's event stream once
 * and decodes it straight into a compact raw model (struct raw): scalars in
 * one byte pool, job and file entries as fixed records, parameter values as
 * formulas (a range is a, step and count, never a list of values). No YAML
 * node tree is built, so a file that lists a million jobs explicitly costs
 * its raw records, not millions of nodes. expand.c then turns the raw model
 * into struct spec: files first, then job names and commands (pass A), then
 * dependencies (pass B), then CSR, then the cycle check.
 *
 * Locations are 64-bit: line << 32 | col (both 0-based, as libyaml counts:
 * columns in characters), with LOC_EXACT set when the scalar's characters
 * map one to one onto the source (a plain or quoted scalar on one line
 * without escapes) and col pointing at its first content character; then a
 * position inside the string can be reported exactly (loc_inner).
 */
#ifndef VOLLEY_LOADER_LOAD_INT_H
#define VOLLEY_LOADER_LOAD_INT_H

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"

/* ---- locations ---- */
#define LOC_EXACT (1u << 31)
#define LOC_NONE UINT64_MAX
static inline uint64_t loc_make(uint64_t line, uint64_t col, bool exact)
{
    return line << 32 | (col & 0x7fffffffu) | (exact ? LOC_EXACT : 0);
}
static inline uint32_t loc_line(uint64_t loc)
{
    return (uint32_t)(loc >> 32);
}
static inline uint32_t loc_col(uint64_t loc)
{
    return (uint32_t)loc & 0x7fffffffu;
}
/* The location of byte off of buf (lines and characters before it). */
uint64_t loc_of_byte(const char *buf, size_t len, size_t off);
/* The location of byte off of string s whose start is at loc. */
uint64_t loc_inner(uint64_t loc, const char *s, size_t off);

/* realloc (aborting on failure) that asks for huge pages on large blocks */
void *big_realloc(void *p, size_t bytes);

/* ---- a growable byte buffer with 64-bit length (string pools) ---- */
struct sbuf {
    char *p;
    uint64_t len, cap;
};
void sbuf__grow(struct sbuf *b, uint64_t extra);
static inline void sbuf_add(struct sbuf *b, const void *s, size_t n)
{
    if (VL_UNLIKELY(!n))
        return;
    if (VL_UNLIKELY(b->len + n > b->cap))
        sbuf__grow(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
static inline void sbuf_addc(struct sbuf *b, char c)
{
    if (VL_UNLIKELY(b->len + 1 > b->cap))
        sbuf__grow(b, 1);
    b->p[b->len++] = c;
}
static inline void sbuf_addfill(struct sbuf *b, char c, size_t n)
{
    if (VL_UNLIKELY(!n))
        return;
    if (VL_UNLIKELY(b->len + n > b->cap))
        sbuf__grow(b, n);
    memset(b->p + b->len, c, n);
    b->len += n;
}
/* Appends s with its NUL; returns its offset. */
static inline uint64_t sbuf_addz(struct sbuf *b, const char *s, size_t n)
{
    uint64_t off = b->len;
    sbuf_add(b, s, n);
    sbuf_addc(b, '\0');
    return off;
}
void sbuf_free(struct sbuf *b);
/* Makes the capacity at least total bytes. */
void sbuf_reserve(struct sbuf *b, uint64_t total);

/* A growable array of fixed-size elements. */
struct vec {
    void *p;
    uint64_t n, cap;
    uint32_t elem;
};
void *vec__grow(struct vec *v);
static inline void *vec_push(struct vec *v)
{
    if (VL_UNLIKELY(v->n == v->cap))
        return vec__grow(v);
    return (char *)v->p + v->n++ * v->elem;
}
#define VEC_AT(v, type, i) (((type *)(v).p)[i])
void vec_free(struct vec *v);

/* ---- diagnostics (diag.c) ---- */
#define LCUT_CHARS 80 /* user strings in messages longer than this are cut */
#define LCUT_RING 8   /* lcut results alive at once (arguments of one message) */
#define LCUT_BYTES (LCUT_CHARS * 4 + 8)
struct ldiag {
    struct spec_diags *d;
    const char *buf; /* the source, for excerpts */
    size_t len;
    uint64_t *line_start; /* built on the first diagnostic */
    uint64_t nlines;
    uint64_t *dkey; /* dedupe table: loc ^ kind -> index + 1 */
    uint32_t *dval;
    uint32_t dcap;
    uint64_t *more; /* [d->cap] repeats folded into each kept diagnostic */
    uint64_t seq;
    char cut[LCUT_RING][LCUT_BYTES]; /* lcut's results, reused in turn */
    unsigned ncut;
};
/* Adds an error or warning at loc (LOC_NONE: about the whole file). A
 * diagnostic with the same loc, severity and kind as one already kept is
 * folded into it ("and N more like it") instead of being listed again. */
void ldiag_add(struct ldiag *g, int sev, uint64_t loc, unsigned kind, const char *fmt, ...)
    VL_PRINTF(5, 6);
/* If such a diagnostic folds into one already kept, counts it there and
 * returns true: then its arguments (cut strings, a did-you-mean) need not
 * be computed. ldiag_addf is ldiag_add that way, for messages repeated
 * per instance. */
bool ldiag_fold(struct ldiag *g, int sev, uint64_t loc, unsigned kind, const char *fmt);
#define ldiag_addf(g, sev, loc, kind, fmt, ...)                                                    \
    do {                                                                                           \
        if (!ldiag_fold((g), (sev), (loc), (kind), (fmt)))                                         \
            ldiag_add((g), (sev), (loc), (kind), fmt, __VA_ARGS__);                                \
    } while (0)
#define lerr(g, loc, ...) ldiag_add((g), SPEC_DIAG_ERROR, (loc), 0, __VA_ARGS__)
#define lwarn(g, loc, ...) ldiag_add((g), SPEC_DIAG_WARNING, (loc), 0, __VA_ARGS__)
/* A user string (a name, a value, a command) fit for a message: at most
 * LCUT_CHARS characters (a longer one keeps its start and end around
 * "..."), control characters shown as '?'. The result lives until
 * LCUT_RING more calls. lcutn takes the first n bytes of s. */
const char *lcutn(struct ldiag *g, const char *s, size_t n);
static inline const char *lcut(struct ldiag *g, const char *s)
{
    return lcutn(g, s, strlen(s));
}
/* Sorts by location and appends the fold counts to the messages. */
void ldiag_finish(struct ldiag *g);
void ldiag_fini(struct ldiag *g);
/* Drops every diagnostic added so far (a file read a second time reports
 * its messages anew). */
void ldiag_reset(struct ldiag *g);

/* ---- the YAML event reader (yread.c) ---- */
enum yev_type {
    YEV_ERR = 0, /* a syntax error (already reported): stop */
    YEV_SCALAR,
    YEV_SEQ, /* sequence start */
    YEV_SEQ_END,
    YEV_MAP, /* mapping start */
    YEV_MAP_END,
    YEV_DOC, /* document start */
    YEV_DOC_END,
    YEV_END, /* stream end */
};
struct yev {
    uint8_t type;    /* enum yev_type */
    uint8_t quoted;  /* a quoted or block scalar: never null, bool or number */
    uint64_t loc;    /* start (content start for exact scalars) */
    const char *val; /* scalar value (NUL-terminated) */
    size_t len;
    const char *anchor; /* anchor name, or NULL */
};
/* The text formats of a workflow file (load.c chooses one). */
enum wf_format {
    WF_YAML,  /* libyaml */
    WF_JSON,  /* libyaml: JSON is YAML's flow style */
    WF_JSON5, /* json5.c */
};
struct yread;
struct vars;
struct yread *yread_new(const char *buf, size_t len, struct ldiag *g, enum wf_format fmt);
void yread_free(struct yread *r);
/* The current event (never NULL; YEV_ERR after a syntax error). */
const struct yev *yread_peek(struct yread *r);
void yread_next(struct yread *r);
/* Consumes the current node and everything inside it, iteratively. */
void yread_skip(struct yread *r);
/* From the next event on, scalars in value positions (not keys) have the
 * variables of v substituted (vars.c); v stays the caller's. */
void yread_set_vars(struct yread *r, struct vars *v);
/* Substitution off (false) or on again: for the variables block itself and
 * for identifiers (use_parameters). */
void yread_subst(struct yread *r, bool on);
/* Whether the source read so far holds a {placeholder} (vars.c's syntax;
 * flow mappings like {a: b} count too, harmlessly): then variables found
 * now came after something that may have used them. */
bool yread_placeholder_before(const struct yread *r);
/* Appends the current node as JSON text to out and consumes it. */
void yread_json(struct yread *r, struct sbuf *out);
/* The offset of the first control character in s[0..n) (iscntrl: 0-31 and
 * 127, volley runs in the C locale), or n. Names are printed one per line. */
static inline size_t ctl_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (iscntrl((unsigned char)s[i]))
            return i;
    return n;
}

static inline bool yev_is_null(const struct yev *e)
{
    return e->type == YEV_SCALAR && !e->quoted &&
           (e->len == 0 || !strcmp(e->val, "~") || !strcmp(e->val, "null") ||
            !strcmp(e->val, "Null") || !strcmp(e->val, "NULL"));
}

/* ---- workflow variables (vars.c): {name} in every string value ---- */
struct var {
    uint64_t name, val; /* offsets in vars.text */
    size_t len;         /* bytes of the value */
    uint64_t loc;       /* where the variable was defined */
};
struct vars {
    struct sbuf text; /* names and values, NUL-terminated */
    struct vec v;     /* struct var */
    struct sbuf out;  /* the last substitution's result */
};
/* Adds a variable; false if the name is there already. */
bool vars_add(struct vars *v, const char *name, const char *val, size_t len, uint64_t loc);
const struct var *vars_find(const struct vars *v, const char *name, size_t n);
/* If s[0..n) holds {name} or {name:format} of a variable: the text with
 * each of them replaced in v->out (NUL-terminated), true. A bad format is
 * reported at loc and the placeholder kept. False when nothing changed. */
bool vars_subst(struct vars *v, const char *s, size_t n, struct ldiag *g, uint64_t loc);
/* The length of the placeholder {identifier} or {identifier:format} at
 * s[i] (not right after a '$'), with *id_end where its name ends; 0 if
 * there is none. */
size_t vars_placeholder(const char *s, size_t n, size_t i, size_t *id_end);
void vars_copy(struct vars *dst, const struct vars *src);
void vars_free(struct vars *v);

/* ---- the JSON5 reader (json5.c): the events of yread, from JSON5 ---- */
struct j5;
struct j5 *j5_new(const char *buf, size_t len, struct ldiag *g);
void j5_free(struct j5 *j);
/* The next event into *e (its value lives until the next call); YEV_ERR
 * after a syntax error, which is reported. */
void j5_next(struct j5 *j, struct yev *e);
/* Bytes of the input read so far. */
size_t j5_offset(const struct j5 *j);

/* ---- parameter values (value.c) ---- */
enum { VT_INT = 1, VT_FLT = 2, VT_STR = 4 };
enum { PK_INT, PK_DEC, PK_FLT, PK_LIST };

struct param {
    uint64_t name;  /* raw pool offset of the name */
    uint64_t loc;   /* where its value was written */
    uint64_t nloc;  /* where its name was written */
    uint8_t kind;   /* PK_* */
    uint8_t types;  /* VT_* bits of its values */
    uint8_t bad;    /* its value had an error (reported): entries using it are skipped */
    uint32_t n;     /* number of values */
    int64_t a, s;   /* PK_INT: a + i*s; PK_DEC: (a + i*s) / scale */
    double fa, fs;  /* PK_FLT: fa + i*fs */
    double scale;   /* PK_DEC: 10^decimals */
    uint64_t first; /* PK_LIST: first value in raw.vals */
};
struct pval {
    uint8_t type; /* VT_* */
    int64_t i;
    double f;
    uint64_t s; /* VT_STR: raw pool offset */
};
/* A value as rendering sees it. */
struct val {
    uint8_t type;
    int64_t i;
    double f;
    const char *s;
};
struct raw;
/* Parses a parameter's text ("1:10", "[a,b]", "0.5") into p; false with an
 * error reported at p->loc. */
bool param_parse(struct raw *R, struct ldiag *g, struct param *p, const char *text, bool quoted);
/* Adds one value (a list item) to p: a number unless quoted. */
void param_add_value(struct raw *R, struct param *p, const char *item, bool quoted);
void param_value(const struct raw *R, const struct param *p, uint32_t i, struct val *v);

/* A Python-style format spec: [[fill]align][sign][0][width][.prec][type] */
struct fspec {
    char fill, align, sign, type; /* align 0: default; type 0: none */
    bool zero;
    int32_t width; /* 0: none */
    int32_t prec;  /* -1: none */
};
/* Parses spec (n bytes); false if it is not one volley knows. */
bool fspec_parse(const char *s, size_t n, struct fspec *fs, const char **why);
/* Whether values of these VT_* types can be formatted with fs. */
bool fspec_fits(const struct fspec *fs, uint8_t types, const char **why);
void fmt_value(struct sbuf *out, const struct val *v, const struct fspec *fs);
/* Shortest round-trip text of x ("0.1", "1" for 1.0); returns length. */
int fmt_double(char *buf, double x);

/* ---- the raw model (parse.c) ---- */
struct rstr {
    uint64_t off; /* raw pool offset, RSTR_NONE if absent */
    uint64_t loc;
};
#define RSTR_NONE UINT64_MAX
#define RSTR_BAD (UINT64_MAX - 1) /* present but of the wrong kind (reported) */

/* Kinds of list items of an entry. */
enum {
    IT_USE,    /* use_parameters */
    IT_DEP,    /* depends_on */
    IT_DEPRX,  /* depends_on_regexes */
    IT_IN,     /* input_files */
    IT_OUT,    /* output_files */
    IT_UIN,    /* input_user_data */
    IT_UOUT,   /* output_user_data */
    IT_INRX,   /* input_file_regexes */
    IT_OUTRX,  /* output_file_regexes */
    IT_UINRX,  /* input_user_data_regexes */
    IT_UOUTRX, /* output_user_data_regexes */
    IT_NKINDS
};
struct ritem {
    struct rstr s;
    uint8_t kind;
};

/* A job or file entry as written. */
struct rent {
    uint64_t loc; /* the entry's mapping */
    struct rstr name, cmd, script, rr, fh, path;
    uint64_t lp_first; /* local parameters: raw.params[lp_first .. +lp_n) */
    uint32_t lp_n;
    uint32_t it_n; /* items: raw.items[it_first .. +it_n) */
    uint64_t it_first;
    uint64_t mode_loc;
    uint8_t zip;    /* parameter_mode: zip */
    uint8_t cancel; /* cancel_on_blocking_job_failure */
    uint8_t is_file;
    uint8_t has_sched;
    uint8_t has_stdio; /* stdio given: replaces execution_config.stdio */
    uint8_t stdio;     /* spec flags bits: SPEC_JOB_STDIO_MASK, DELETE_ON_SUCCESS */
    uint32_t env_n;    /* env: raw.envs[env_first .. +env_n) */
    uint64_t env_first;
    uint64_t env_loc; /* where env was written */
    int32_t prio;     /* priority (torc 0.23): higher starts first; 0 if not given */
};

/* An env entry as written: KEY and its value (a template in a job). */
struct renv {
    struct rstr key, val;
};

/* An action as written (run_commands; others are only warned about). */
struct ract {
    uint64_t loc;     /* the action's mapping */
    uint64_t sel_loc; /* where its jobs / job_name_regexes were written */
    uint32_t trigger; /* enum spec_trigger */
    uint32_t ncmds;   /* commands: raw.acmds[cmd_first .. +ncmds) (struct rstr) */
    uint64_t cmd_first;
    uint64_t sel_first; /* jobs (IT_DEP) and job_name_regexes (IT_DEPRX): raw.asel */
    uint32_t nsel;
    uint32_t pad;
};

struct rrr {
    struct rstr name;
    struct spec_rr v;
};
struct rfh {
    struct rstr name;
    uint32_t rule_first, nrules;
};
struct rrule {
    struct spec_rule v;
    struct rstr script;
};
struct rud {
    struct rstr name;
    uint64_t data; /* raw pool offset of the JSON text */
};

/* An entry dropped while parsing, by the name it had (unknown.c). */
struct rdrop {
    uint64_t name; /* raw pool offset of its name template */
    uint8_t kind;  /* 'j' a job, 'f' a file or user_data entry */
};

struct raw {
    struct sbuf pool; /* every scalar, NUL-terminated */
    struct rstr wf_name, wf_desc;
    uint64_t root_loc;
    struct vec params;  /* struct param: entries' own parameters */
    struct vec sparams; /* struct param: the workflow's shared parameters */
    struct vec vals;    /* struct pval: list values */
    struct vec jobs;    /* struct rent */
    struct vec files;   /* struct rent (is_file) */
    struct vec items;   /* struct ritem */
    struct vec rrs;     /* struct rrr */
    struct vec fhs;     /* struct rfh */
    struct vec rules;   /* struct rrule */
    struct vec codes;   /* int32_t */
    struct vec uds;     /* struct rud */
    uint64_t bad_jobs;  /* job entries dropped for errors (already reported) */
    uint64_t bad_files; /* file and user_data entries dropped likewise */
    struct vec dropped; /* struct rdrop: the names of those that had one */
    bool has_jobs;      /* a jobs key was there */
    /* torc's keys that mean something on one node (parse_torc.c) */
    struct vars vars;      /* variables (already substituted) */
    struct vec wf_envs;    /* struct renv: the workflow's env */
    struct vec envs;       /* struct renv: the jobs' env */
    uint8_t wf_stdio;      /* execution_config.stdio, as spec flags bits */
    struct spec_exec exec; /* execution_config */
    struct vec acts;       /* struct ract */
    struct vec acmds;      /* struct rstr: commands of actions */
    struct vec asel;       /* struct ritem: jobs of actions */
};
static inline const char *raw_str(const struct raw *R, uint64_t off)
{
    return R->pool.p + off;
}
/* Parses the file in buf (fmt) into R; false if the file had errors that
 * stop expansion (syntax errors); other errors are only reported. */
bool raw_parse(struct raw *R, const char *buf, size_t len, enum wf_format fmt, struct ldiag *g);
void raw_free(struct raw *R);
/* Closest of the candidates to s within a small edit distance, or NULL. */
const char *did_you_mean(const char *s, const char *const *cands, size_t n);

/* ---- expansion (expand.c) ---- */
int spec_expand(const struct raw *R, struct ldiag *g, const char *path, struct spec *s);

/* ---- string hash table (strtab.c): names in a pool -> ids ---- */
struct strtab {
    uint64_t *slot;        /* hash32 << 32 | (id + 1); 0 empty */
    uint64_t mask;         /* capacity - 1 */
    uint64_t n;            /* ids stored */
    char *const *pool;     /* the pool the names live in (may move) */
    uint64_t *const *offs; /* offs[id]: the name's pool offset (may move) */
};
uint64_t strtab_hash(const char *s, size_t n);
void strtab_init(struct strtab *t, char *const *pool, uint64_t *const *offs, uint64_t expect);
/* The id of name s, or SPEC_NONE. */
uint32_t strtab_find(const struct strtab *t, const char *s, size_t n, uint64_t h);
/* Inserts id for s unless s is there: returns SPEC_NONE when inserted,
 * else the existing id. */
uint32_t strtab_put(struct strtab *t, const char *s, size_t n, uint64_t h, uint32_t id);
void strtab_free(struct strtab *t);
static inline void strtab_prefetch(const struct strtab *t, uint64_t h)
{
    __builtin_prefetch(&t->slot[h & t->mask]);
}

#endif /* VOLLEY_LOADER_LOAD_INT_H */

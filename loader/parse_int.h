/*
 * parse_int.h - what the files of parsing share (loader-internal).
 *
 * Parsing walks the event stream once (yread.c) and decodes it straight
 * into the raw model (struct raw, load_int.h), reporting every structural
 * error: unknown keys (with a did-you-mean), wrong node kinds, wrong scalar
 * types, bad sizes and durations, unsupported torc keys (one warning each).
 * Recursive descent over a fixed shape (at most five levels deep); anything
 * of unknown shape is skipped iteratively (yread_skip), so a file nested a
 * million levels deep cannot overflow the stack.
 *
 *   parse.c        the workflow mapping, raw_parse, raw_free;
 *   parse_value.c  scalars (strings, booleans, numbers, durations), lists
 *                  of strings, iterating a mapping's keys;
 *   parse_param.c  parameters and parameter_mode;
 *   parse_job.c    job and file entries;
 *   parse_table.c  user_data, resource classes, failure handlers;
 *   parse_torc.c   variables, env, stdio, execution_config, actions.
 *
 * Nothing is expanded here; names and references are checked in expansion
 * (expand_int.h), where all of the file is known (keys come in any order).
 */
#ifndef VOLLEY_LOADER_PARSE_INT_H
#define VOLLEY_LOADER_PARSE_INT_H

#include "load_int.h"

struct P {
    struct yread *r;
    struct ldiag *g;
    struct raw *R;
    bool vars_preset; /* the second reading: variables are known from the start */
    bool vars_late;   /* variables came after a value that may have used them */
};

/* ---- parse_value.c ---- */
/* "a mapping", "a sequence", "a scalar" or "nothing", for messages. */
const char *yev_kind_name(const struct yev *e);
/* True when the stream ended or broke (a syntax error): stop. */
bool parse_failed(struct P *P);
/* True if the current event is a scalar; else reports "'key' must be what"
 * (unless the stream broke), skips the node and returns false. */
bool parse_want_scalar(struct P *P, const char *key, const char *what);
/* The current scalar into the raw pool; consumes it. */
struct rstr parse_take_str(struct P *P);
/* A string value into *out: absent (RSTR_NONE) for null, RSTR_BAD for the
 * wrong kind of node (reported). */
void parse_str(struct P *P, const char *key, struct rstr *out);
bool parse_bool(struct P *P, const char *key, bool *out);
bool parse_u32(struct P *P, const char *key, uint32_t max, uint32_t *out);
/* ISO-8601 duration -> ms; -1 with *why (NULL: it rounds to 0 ms). */
int parse_duration(const char *s, uint64_t *ms, const char **why);
/* A sequence of strings into R->items of the given kind (IT_*). */
void parse_list(struct P *P, const char *key, uint8_t kind);

/* A torc key volley does not read, and why: a warning (it is ignored) or
 * an error (it would change what runs). A key ending in '*' is a prefix. */
struct mapnote {
    const char *key;
    uint8_t sev; /* SPEC_DIAG_WARNING or SPEC_DIAG_ERROR */
    const char *why;
};

/* Iterates the keys of the mapping at the current event. Returns the key's
 * index in keys[] with the value as the current event; -1 at the end.
 * Keys in notes[] get their note; other unknown keys are errors with a
 * did-you-mean. The values of both are skipped; duplicate keys are errors. */
struct mapit {
    const char *const *keys; /* the known keys (at most 64) */
    size_t nkeys;
    size_t stride;               /* bytes from one key to the next; 0: an array of names */
    const struct mapnote *notes; /* ended by a NULL key; or NULL */
    bool ext;                    /* "x-" keys are skipped (they hold YAML anchors) */
    uint32_t refused;            /* keys of notes[] that were errors */
    const char *where;           /* "a job", "the workflow" */
    uint64_t seen;
    bool open;
    uint64_t loc; /* the mapping */
    char key[64]; /* the current key (truncated) */
    uint64_t key_loc;
};
static inline const char *mapit_key(const struct mapit *m, size_t i)
{
    return *(const char *const *)((const char *)m->keys +
                                  i * (m->stride ? m->stride : sizeof(char *)));
}
bool mapit_begin(struct P *P, struct mapit *m, const char *what);
int mapit_next(struct P *P, struct mapit *m);
/* A mapping of free keys (parameters, env): entered (true, its start
 * read); null (read) is an empty one; the input's end or an error (said
 * before) ends it; another kind is reported ("'KEY' must be a mapping of
 * WHAT, not KIND") and skipped. */
bool freemap_begin(struct P *P, const char *key, const char *what);
/* Its next key (of those, or of variables, which mapit_begin enters), a
 * scalar event not yet read; NULL at its end (read) or the input's. A key
 * of another kind is reported ("NOUN must be strings, not KIND") and
 * skipped with its value. */
const struct yev *freemap_next(struct P *P, const char *noun);

/* ---- parse_param.c ---- */
bool parse_is_ident(const char *s);
/* A parameters mapping into out (struct param); *n counts them if given. */
void parse_params(struct P *P, struct vec *out, uint64_t *first, uint32_t *n);
void parse_mode(struct P *P, struct rent *x);

/* ---- parse_torc.c ---- */
/* The variables mapping into dst (substitution is off while it is read). */
void parse_variables(struct P *P, struct vars *dst);
/* Reports variables that share a parameter's name (after the whole file). */
void parse_variables_check(struct P *P);
/* An env mapping into out (struct renv): *first and *n say where. */
void parse_env(struct P *P, struct vec *out, uint64_t *first, uint32_t *n);
/* stdio ({mode, delete_on_success}, or a mode) as spec flags bits. */
void parse_stdio(struct P *P, uint8_t *bits);
void parse_exec(struct P *P);
void parse_action(struct P *P);

/* ---- parse_job.c, parse_table.c ---- */
void parse_job(struct P *P);
void parse_file(struct P *P);
void parse_ud(struct P *P);
void parse_rr(struct P *P);
void parse_fh(struct P *P);

#endif /* VOLLEY_LOADER_PARSE_INT_H */

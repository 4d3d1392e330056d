/*
 * load.h - the workflow loader: a torc-style YAML (or JSON) file in, a fully
 * expanded and validated struct spec out (SPEC.md section 1; the format is
 * documented in docs/workflow-format.md).
 *
 * Every problem found is a diagnostic with a 1-based line and column and the
 * offending source line, all of them from one pass: the loader does not stop
 * at the first error. Modules never print (STYLE.md section 4): tools/ prints
 * the list (tools/diag_print.c).
 *
 * For `volley run`: the input files that no job produces are the entries of
 * spec.files with producer == SPEC_NONE and without SPEC_FILE_USER_DATA; a
 * job's source line for messages is spec_job_line().
 */
#ifndef VOLLEY_LOADER_LOAD_H
#define VOLLEY_LOADER_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "spec.h"

enum spec_diag_sev {
    SPEC_DIAG_ERROR = 0,
    SPEC_DIAG_WARNING = 1,
};

/* One error or warning. */
struct spec_diag {
    uint32_t line;     /* 1-based; 0 when about the whole file (unreadable) */
    uint32_t col;      /* 1-based, in characters; 0 with line 0 */
    uint32_t severity; /* enum spec_diag_sev */
    uint32_t caret;    /* byte offset of the column inside src (if src) */
    char *msg;         /* "'a' depends on 'b', which matches no job" */
    char *src;         /* the source line (an excerpt if long), or NULL */
};

/* Every diagnostic of one load, in source order. */
struct spec_diags {
    char *path;          /* the file as named by the caller */
    struct spec_diag *v; /* [n] kept diagnostics, sorted by line, col */
    uint32_t n, cap;     /* kept / allocated */
    uint64_t nerrors;    /* errors found (including any not kept) */
    uint64_t nwarnings;  /* warnings found (including any not kept) */
    uint64_t dropped;    /* found beyond SPEC_DIAGS_MAX, not kept */
};

#define SPEC_DIAGS_MAX 1000 /* diagnostics kept per load; the rest counted */

/*
 * Loads the workflow at path into *out (which the caller frees with
 * spec_free, also after a failure). Returns 0 (valid: warnings may be in
 * *d), VL_ESPEC (errors in *d; *out is empty), -errno when the file cannot be
 * read (also a diagnostic in *d), or VL_ETOOBIG when the expanded workflow
 * does not fit in memory (a diagnostic too). *d must be zeroed or freed
 * before; the caller frees it with spec_diags_free.
 */
int spec_load_file(const char *path, struct spec *out, struct spec_diags *d);

/*
 * Like spec_load_file on a buffer (len bytes, need not be NUL-terminated);
 * name is used in messages and as spec.path.
 */
int spec_load_buffer(const char *buf, size_t len, const char *name, struct spec *out,
                     struct spec_diags *d);

/* Frees what a load put in *d; accepts NULL; leaves *d zeroed. */
void spec_diags_free(struct spec_diags *d);

#endif /* VOLLEY_LOADER_LOAD_H */

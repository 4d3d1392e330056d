/*
 * files.c - the files and user_data entries, expanded first: every job
 * reference to a file (input_files, ${files.input.NAME}, the regex forms)
 * is resolved against the names made here (two hash tables, one for files
 * and one for user_data, over the spec's pool).
 *
 * A file entry expands like a job entry (its parameters, one instance per
 * distinct name; copies of one name must agree on the path). A user_data
 * entry is one record; its data is kept as compact JSON text in path_off.
 */
#include "expand_int.h"

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

void files_expand(struct X *X)
{
    const struct raw *R = X->R;
    struct E E;
    for (uint64_t i = 0; i < R->files.n; i++) {
        const struct rent *e = &VEC_AT(R->files, struct rent, i);
        if (!entry_begin(X, &E, e)) {
            X->files_incomplete = true;
            *(uint64_t *)vec_push(&X->dropped_f) = e->name.off;
            entry_end(&E);
            continue;
        }
        uint32_t first = (uint32_t)X->files.n;
        files_reserve(X, E.C);
        for (uint64_t c = 0; c < E.C; c++) {
            entry_set_combo(&E, c);
            entry_first_fan(&E);
            uint64_t start = X->pool.len;
            tmpl_render(X, &E, &E.t_name, &X->pool);
            uint64_t nlen = X->pool.len - start;
            sbuf_addc(&X->pool, '\0');
            uint32_t fid = (uint32_t)X->files.n;
            files_reserve(X, 1);
            X->fname_off[fid] = start;
            uint64_t h = strtab_hash(X->pool.p + start, nlen);
            uint32_t old = strtab_put(&X->ftab, X->pool.p + start, nlen, h, fid);
            uint64_t pstart = X->pool.len;
            tmpl_render(X, &E, &E.t_path, &X->pool);
            sbuf_addc(&X->pool, '\0');
            if (old != SPEC_NONE) {
                const struct spec_file *of = &VEC_AT(X->files, struct spec_file, old);
                if (old < first)
                    lerr(X->g, E.t_name.loc, "duplicate file name '%s'",
                         lcut(X->g, X->pool.p + start));
                else if (strcmp(X->pool.p + of->path_off, X->pool.p + pstart))
                    ldiag_add(X->g, SPEC_DIAG_ERROR, E.t_name.loc, K_DIFF,
                              "two instances are both named '%s' but differ in path; use the "
                              "parameters that differ in the name",
                              lcut(X->g, X->pool.p + start));
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
            lerr(X->g, u->name.loc, "duplicate user_data name '%s'", lcut(X->g, nm));
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

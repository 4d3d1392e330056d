/*
 * rx.c - regular expressions of references (depends_on_regexes and the
 * *_regexes forms of files and user_data): each distinct expanded pattern
 * is compiled once (PCRE2 with JIT, UTF and UCP: \d, \w, \s and \b are
 * Unicode's, as in torc's Rust regex) and matched over all names once; the
 * matches are cached, so a parameterized job with a fixed pattern costs one
 * pass over the names, not one per instance.
 */
#include "expand_int.h"

uint32_t rx_get(struct X *X, char kind, const char *pat, size_t plen, uint64_t loc, bool exact_src)
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
             "bad regular expression '%s': %s at column %zu", lcutn(X->g, pat, plen), (char *)msg,
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
                u32_push(&X->rxres, j);
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
                u32_push(&X->rxres, f);
        }
    }
    pcre2_code_free(code);
    r = &VEC_AT(X->rxs, struct rx, id);
    r->nres = X->rxres.n - r->res;
    return id;
}

/*
 * tmpl.c - templates: a name, command, path or reference with placeholders
 * ("{p}", "{p:05d}") and, in commands, ${files.input.NAME} and its kin.
 *
 * A template is compiled once per entry into segments (literal runs,
 * placeholders with their format spec, ${...} references whose NAME is a
 * template itself), then rendered once per instance without parsing again:
 * rendering a name is a few memcpys and one number format.
 *
 * Only {identifier} and {identifier:format} are placeholders; braces around
 * anything else are text (awk's '{...}', JSON, regex quantifiers \d{3}).
 */
#include "expand_int.h"

#include <stdio.h>

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
static bool tmpl_compile_range(struct X *X, struct E *E, struct tmpl *t, uint32_t from, uint32_t to,
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
                    if (!tmpl_compile_range(X, E, t, ns, j, TK_REF, field))
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
            if (tk == TK_CMD || tk == TK_ENV) {
                if (!X->quiet)
                    lwarn(X->g, at,
                          "'%.*s' in the %s names no parameter of job '%s'; left as written%s",
                          (int)(j + 1 - i), src + i, field, lcut(X->g, ename(X, E)),
                          tk == TK_CMD ? " for the shell" : "");
                i = j + 1;
                continue;
            }
            if (!X->quiet)
                lerr(X->g, at, "'%.*s' in the %s names no parameter of %s '%s' (it has: %s)",
                     (int)(j + 1 - i), src + i, field, E->e->is_file ? "file" : "job",
                     lcut(X->g, ename(X, E)), param_list(X, E, pl, sizeof pl));
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

bool tmpl_compile(struct X *X, struct E *E, struct tmpl *t, const struct rstr *rs, int tk,
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
    bool ok = tmpl_compile_range(X, E, t, 0, (uint32_t)len, tk, field);
    t->n = (uint32_t)(X->segs.n - t->first);
    return ok;
}

static uint32_t find_file(struct X *X, int ref, const char *s, size_t n)
{
    struct strtab *t = ref == REF_FIN || ref == REF_FOUT ? &X->ftab : &X->utab;
    return strtab_find(t, s, n, strtab_hash(s, n));
}

/* Reports ${files.input.NAME} (or its kin) whose NAME (in nb) is unknown. */
static void unknown_ref(struct X *X, struct E *E, uint64_t loc, int ref, const struct sbuf *nb)
{
    static const char fmt[] = "'%s' uses ${%s.%s}, but no %s is named '%s'%s%s%s";
    static const char *const what[] = {"files.input", "files.output", "user_data.input",
                                       "user_data.output"};
    bool ud = ref >= REF_UIN;
    const char *s = nb->p ? nb->p : "";
    if (ldiag_fold(X->g, SPEC_DIAG_ERROR, loc, 0, fmt))
        return; /* counted into the first report */
    if (X->files_incomplete && unknown_maybe_dropped(X, 'f', s, nb->len))
        return;
    const char *dym = unknown_dym(X, ud ? 'u' : 'f', s, nb->len, SPEC_NONE);
    const char *who = X->cur_jid != SPEC_NONE ? jname(X, X->cur_jid) : ename(X, E);
    lerr(X->g, loc, fmt, lcut(X->g, who), what[ref], lcutn(X->g, s, nb->len),
         ud ? "user_data entry" : "file", lcutn(X->g, s, nb->len), dym ? "; did you mean '" : "",
         dym ? lcut(X->g, dym) : "", dym ? "'?" : "");
}

bool tmpl_render_segs(struct X *X, struct E *E, const struct tmpl *t, uint32_t first, uint32_t n,
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
            tmpl_render_segs(X, E, t, s->sub, s->nsub, nb);
            uint32_t fid = find_file(X, s->ref, nb->p ? nb->p : "", nb->len);
            if (fid == SPEC_NONE) {
                unknown_ref(X, E, loc_inner(t->loc, t->src, s->off), s->ref, nb);
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

/*
 * vars.c - torc's workflow `variables`: constants substituted as {name} (or
 * {name:format}) into every string value of the file, before parameters
 * are expanded.
 *
 * Substitution happens on the event stream (yread.c calls vars_subst for
 * each scalar in a value position), so every reader of the file sees the
 * substituted text: names, commands, paths, references, parameter values,
 * resource sizes, env values, action commands, user_data strings, all of
 * them, with no list of fields to keep up to date. Not substituted, as in
 * torc: keys of mappings (so parameter names), the entries of
 * use_parameters (identifiers), and the variables block itself. A "{" right
 * after "$" starts the shell's ${...}, never a variable.
 *
 * A placeholder whose name is no variable is left as it is: it is a
 * parameter's, expanded later (a variable may not share a parameter's
 * name), or text. A variable's value may not itself hold a {placeholder}:
 * torc refuses that, since the order of substitution would matter.
 *
 * Lookups are a linear scan: a workflow has a handful of variables, and a
 * scalar is only scanned when it holds a '{'.
 */
#include "load_int.h"

#include <errno.h>
#include <stdio.h>

void vars_free(struct vars *v)
{
    sbuf_free(&v->text);
    vec_free(&v->v);
    sbuf_free(&v->out);
    memset(v, 0, sizeof *v);
}

void vars_copy(struct vars *dst, const struct vars *src)
{
    memset(dst, 0, sizeof *dst);
    dst->v.elem = sizeof(struct var);
    sbuf_add(&dst->text, src->text.p, src->text.len);
    for (uint64_t i = 0; i < src->v.n; i++)
        *(struct var *)vec_push(&dst->v) = VEC_AT(src->v, struct var, i);
}

bool vars_add(struct vars *v, const char *name, const char *val, size_t len, uint64_t loc)
{
    if (!v->v.elem)
        v->v.elem = sizeof(struct var);
    if (vars_find(v, name, strlen(name)))
        return false;
    struct var *x = vec_push(&v->v);
    x->name = sbuf_addz(&v->text, name, strlen(name));
    x->val = sbuf_addz(&v->text, val, len);
    x->len = len;
    x->loc = loc;
    return true;
}

const struct var *vars_find(const struct vars *v, const char *name, size_t n)
{
    for (uint64_t i = 0; i < v->v.n; i++) {
        const struct var *x = &VEC_AT(v->v, struct var, i);
        const char *xn = v->text.p + x->name;
        if (strlen(xn) == n && !memcmp(xn, name, n))
            return x;
    }
    return NULL;
}

static bool id0(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool id1(char c)
{
    return id0(c) || (c >= '0' && c <= '9');
}

size_t vars_placeholder(const char *s, size_t n, size_t i, size_t *id_end)
{
    if (s[i] != '{' || i + 1 >= n || !id0(s[i + 1]) || (i > 0 && s[i - 1] == '$'))
        return 0;
    size_t j = i + 1;
    while (j < n && id1(s[j]))
        j++;
    *id_end = j;
    if (j < n && s[j] == ':')
        while (j < n && s[j] != '}' && s[j] != '{')
            j++;
    return j < n && s[j] == '}' ? j + 1 - i : 0;
}

/* The value of x formatted with fs into out; false with *why. */
static bool format_var(const struct vars *v, const struct var *x, const struct fspec *fs,
                       struct sbuf *out, const char **why)
{
    const char *text = v->text.p + x->val;
    struct val val = {.type = VT_STR, .s = text};
    if (fs->type == 'd' || fs->type == 'f' || fs->type == 'e' || fs->type == 'g' || fs->sign) {
        char *end;
        errno = 0;
        long long i = strtoll(text, &end, 10);
        if (*text && !*end && !errno) {
            val.type = VT_INT;
            val.i = i;
        } else {
            errno = 0;
            double f = strtod(text, &end);
            if (!*text || *end || errno || fs->type == 'd') {
                *why = fs->type == 'd' ? "'d' formats whole numbers" : "its value is no number";
                return false;
            }
            val.type = VT_FLT;
            val.f = f;
        }
    }
    if (!fspec_fits(fs, val.type, why))
        return false;
    fmt_value(out, &val, fs);
    return true;
}

bool vars_subst(struct vars *v, const char *s, size_t n, struct ldiag *g, uint64_t loc)
{
    if (!v->v.n || !memchr(s, '{', n))
        return false;
    bool any = false;
    size_t lit = 0;
    for (size_t i = 0; i < n; i++) {
        size_t id_end, pl = vars_placeholder(s, n, i, &id_end);
        if (!pl)
            continue;
        const struct var *x = vars_find(v, s + i + 1, id_end - i - 1);
        if (!x)
            continue;
        if (!any) {
            v->out.len = 0;
            any = true;
        }
        sbuf_add(&v->out, s + lit, i - lit);
        if (id_end == i + pl - 1) { /* {name}: the text as written */
            sbuf_add(&v->out, v->text.p + x->val, x->len);
        } else {
            struct fspec fs;
            const char *why = NULL;
            size_t fl = i + pl - 1 - (id_end + 1);
            if (!fspec_parse(s + id_end + 1, fl, &fs, &why) ||
                !format_var(v, x, &fs, &v->out, &why)) {
                lerr(g, loc, "bad format '%s' for variable '%s' ('%s'): %s", lcutn(g, s + i, pl),
                     v->text.p + x->name, lcut(g, v->text.p + x->val), why);
                sbuf_add(&v->out, v->text.p + x->val, x->len); /* reported: the text, as is */
            }
        }
        i += pl - 1;
        lit = i + 1;
    }
    if (!any)
        return false;
    sbuf_add(&v->out, s + lit, n - lit);
    sbuf_addc(&v->out, '\0');
    v->out.len--;
    return true;
}

/*
 * parse_param.c - a parameters mapping (shared, or an entry's own) into
 * struct param: a range or a list is parsed here into its formula
 * (value.c), once; names must be identifiers and appear once.
 */
#include "parse_int.h"

bool parse_is_ident(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

void parse_params(struct P *P, struct vec *out, uint64_t *first, uint32_t *n)
{
    uint64_t start = out->n;
    if (first)
        *first = out->n;
    if (!freemap_begin(P, "parameters", "names to values"))
        return;
    const struct yev *e;
    while ((e = freemap_next(P, "parameter names")) != NULL) {
        uint64_t nloc = e->loc;
        if (!parse_is_ident(e->val)) {
            lerr(P->g, nloc,
                 "parameter name '%s' is not an identifier (letters, digits and '_', not starting "
                 "with a digit)",
                 lcut(P->g, e->val));
            yread_next(P->r);
            yread_skip(P->r);
            continue;
        }
        bool dup = false;
        for (uint64_t i = start; i < out->n; i++)
            if (!strcmp(raw_str(P->R, VEC_AT(*out, struct param, i).name), e->val))
                dup = true;
        if (dup) {
            lerr(P->g, nloc, "duplicate parameter '%s'", lcut(P->g, e->val));
            yread_next(P->r);
            yread_skip(P->r);
            continue;
        }
        struct param p;
        memset(&p, 0, sizeof p);
        p.name = sbuf_addz(&P->R->pool, e->val, e->len);
        p.nloc = nloc;
        yread_next(P->r);
        e = yread_peek(P->r);
        p.loc = e->loc;
        bool ok;
        if (yev_is_null(e) && e->len) { /* ~ or null: no value (an empty one says so below) */
            lerr(P->g, e->loc, "parameter '%s' has no value ('%s' is YAML's null)",
                 raw_str(P->R, p.name), lcut(P->g, e->val));
            yread_next(P->r);
            ok = false;
        } else if (e->type == YEV_SCALAR) {
            char *text = vl_xstrdup(e->val);
            bool quoted = e->quoted;
            yread_next(P->r);
            ok = param_parse(P->R, P->g, &p, text, quoted);
            free(text);
        } else if (e->type == YEV_SEQ) {
            /* a YAML list of values: [1, 2] or [a, b] */
            yread_next(P->r);
            p.kind = PK_LIST;
            p.first = P->R->vals.n;
            ok = true;
            for (;;) {
                e = yread_peek(P->r);
                if (e->type == YEV_SEQ_END) {
                    yread_next(P->r);
                    break;
                }
                if (e->type == YEV_ERR || e->type == YEV_END)
                    return;
                if (e->type != YEV_SCALAR) {
                    lerr(P->g, e->loc, "parameter '%s': values must be scalars, not %s",
                         raw_str(P->R, p.name), yev_kind_name(e));
                    yread_skip(P->r);
                    ok = false;
                    continue;
                }
                if (yev_is_null(e)) {
                    lerr(P->g, e->loc, "parameter '%s': the list has an empty item%s%s%s",
                         raw_str(P->R, p.name), e->len ? " ('" : "", e->val,
                         e->len ? "' is YAML's null)" : "");
                    yread_next(P->r);
                    ok = false;
                    continue;
                }
                param_add_value(P->R, &p, e->val, e->quoted);
                yread_next(P->r);
            }
            if (ok && p.n == 0) {
                lerr(P->g, p.loc, "parameter '%s': the list is empty", raw_str(P->R, p.name));
                ok = false;
            }
        } else {
            if (e->type == YEV_ERR || e->type == YEV_END)
                return;
            lerr(P->g, e->loc,
                 "parameter '%s' must be a range (\"1:10\"), a list (\"[a,b]\") or a value, not %s",
                 raw_str(P->R, p.name), yev_kind_name(e));
            yread_skip(P->r);
            ok = false;
        }
        p.bad = !ok; /* kept, so its placeholders are known; its entry is skipped */
        *(struct param *)vec_push(out) = p;
        if (n)
            (*n)++;
    }
}

void parse_mode(struct P *P, struct rent *x)
{
    if (!parse_want_scalar(P, "parameter_mode", "product or zip"))
        return;
    const struct yev *e = yread_peek(P->r);
    x->mode_loc = e->loc;
    if (!strcmp(e->val, "zip"))
        x->zip = 1;
    else if (strcmp(e->val, "product"))
        lerr(P->g, e->loc, "parameter_mode must be 'product' or 'zip', not '%s'",
             lcut(P->g, e->val));
    yread_next(P->r);
}

/*
 * parse.c - YAML events -> the raw model (struct raw), with every
 * structural error: unknown keys (with a did-you-mean), wrong node kinds,
 * wrong scalar types, bad sizes and durations, unsupported torc keys (one
 * warning each). Recursive descent over a fixed shape (at most five levels
 * deep); anything of unknown shape is skipped iteratively (yread_skip), so
 * a file nested a million levels deep cannot overflow the stack.
 *
 * Nothing is expanded here; names and references are checked in expand.c,
 * where all of the file is known (YAML keys come in any order).
 */
#include "load_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

struct P {
    struct yread *r;
    struct ldiag *g;
    struct raw *R;
};

static const char *kind_name(const struct yev *e)
{
    switch (e->type) {
    case YEV_MAP:
        return "a mapping";
    case YEV_SEQ:
        return "a sequence";
    case YEV_SCALAR:
        return "a scalar";
    default:
        return "nothing";
    }
}

static bool failed(struct P *P)
{
    uint8_t t = yread_peek(P->r)->type;
    return t == YEV_ERR || t == YEV_END;
}

/* ---- did you mean ---- */

const char *did_you_mean(const char *s, const char *const *cands, size_t n)
{
    size_t len = strlen(s);
    unsigned limit = len <= 4 ? 1 : len <= 10 ? 2 : 3;
    const char *best = NULL;
    unsigned bd = limit + 1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = vl_edit_distance(s, cands[i], limit);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    return best;
}

/* ---- scalars ---- */

static bool want_scalar(struct P *P, const char *key, const char *what)
{
    const struct yev *e = yread_peek(P->r);
    if (e->type == YEV_SCALAR)
        return true;
    if (e->type == YEV_ERR || e->type == YEV_END)
        return false;
    lerr(P->g, e->loc, "'%s' must be %s, not %s", key, what, kind_name(e));
    yread_skip(P->r);
    return false;
}

static struct rstr take_str(struct P *P)
{
    const struct yev *e = yread_peek(P->r);
    struct rstr s = {sbuf_addz(&P->R->pool, e->val, e->len), e->loc};
    yread_next(P->r);
    return s;
}

static void get_str(struct P *P, const char *key, struct rstr *out)
{
    uint64_t loc = yread_peek(P->r)->loc;
    if (!want_scalar(P, key, "a string")) {
        out->off = RSTR_BAD;
        out->loc = loc;
        return;
    }
    if (yev_is_null(yread_peek(P->r))) {
        yread_next(P->r);
        return;
    }
    *out = take_str(P);
}

static bool get_bool(struct P *P, const char *key, bool *out)
{
    if (!want_scalar(P, key, "true or false"))
        return false;
    const struct yev *e = yread_peek(P->r);
    const char *v = e->val;
    bool ok = true;
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
        *out = false;
    else {
        lerr(P->g, e->loc, "'%s' must be true or false, not '%s'", key, v);
        ok = false;
    }
    yread_next(P->r);
    return ok;
}

static bool get_u32(struct P *P, const char *key, uint32_t max, uint32_t *out)
{
    if (!want_scalar(P, key, "a whole number"))
        return false;
    const struct yev *e = yread_peek(P->r);
    uint64_t v;
    int rc = vl_parse_u64(e->val, max, &v);
    if (rc == -EINVAL)
        lerr(P->g, e->loc, "'%s' must be a whole number, not '%s'", key, e->val);
    else if (rc == -ERANGE)
        lerr(P->g, e->loc, "'%s' is %s, more than %" PRIu32, key, e->val, max);
    else
        *out = (uint32_t)v;
    yread_next(P->r);
    return rc == 0;
}

/* ISO-8601 duration: P[nW][nD][T[nH][nM][n[.f]S]] -> milliseconds. One that
 * rounds to 0 ms (why stays NULL) is an error too: 0 means no limit. */
static int parse_duration(const char *s, uint64_t *ms, const char **why)
{
    const char *p = s;
    if (*p != 'P' && *p != 'p') {
        *why = "it must start with 'P'";
        return -1;
    }
    p++;
    bool in_time = false, any = false;
    long double total = 0;
    char last = 0;
    static const char order_date[] = "WD", order_time[] = "HMS";
    while (*p) {
        if (*p == 'T' || *p == 't') {
            if (in_time) {
                *why = "'T' appears twice";
                return -1;
            }
            in_time = true;
            last = 0;
            p++;
            if (!*p) {
                *why = "nothing follows 'T'";
                return -1;
            }
            continue;
        }
        const char *num = p;
        while ((*p >= '0' && *p <= '9') || *p == '.' || *p == ',')
            p++;
        if (p == num) {
            *why = "a number must come before each unit";
            return -1;
        }
        char unit = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        if (!unit) {
            *why = "the last number has no unit";
            return -1;
        }
        char nb[64];
        size_t nl = (size_t)(p - num);
        if (nl >= sizeof nb) {
            *why = "a number is too long";
            return -1;
        }
        memcpy(nb, num, nl);
        nb[nl] = '\0';
        for (char *c = nb; *c; c++)
            if (*c == ',')
                *c = '.';
        char *end;
        long double v = strtold(nb, &end);
        if (*end) {
            *why = "a number is malformed";
            return -1;
        }
        long double mult;
        const char *ord = in_time ? order_time : order_date;
        const char *pos = strchr(ord, unit);
        if (!in_time && (unit == 'Y' || unit == 'M')) {
            *why = "years and months have no fixed length; use weeks, days, hours, minutes or "
                   "seconds";
            return -1;
        }
        if (!pos || !unit) {
            *why =
                in_time ? "after 'T' the units are H, M and S" : "before 'T' the units are W and D";
            return -1;
        }
        if (last && strchr(ord, last) >= pos) {
            *why = "units must be in order and appear once";
            return -1;
        }
        if (strchr(nb, '.') && unit != 'S') {
            *why = "only seconds may have a fraction";
            return -1;
        }
        last = unit;
        switch (unit) {
        case 'W':
            mult = 7 * 86400e3L;
            break;
        case 'D':
            mult = 86400e3L;
            break;
        case 'H':
            mult = 3600e3L;
            break;
        case 'M':
            mult = 60e3L;
            break;
        default:
            mult = 1e3L;
            break;
        }
        total += v * mult;
        any = true;
        p++;
    }
    if (!any) {
        *why = "it has no amount";
        return -1;
    }
    if (total > 1e18L) {
        *why = "it is too long";
        return -1;
    }
    if (llroundl(total) == 0) {
        *why = NULL;
        return -1;
    }
    *ms = (uint64_t)llroundl(total);
    return 0;
}

/* A sequence of strings into items of the given kind. */
static void get_list(struct P *P, const char *key, uint8_t kind)
{
    const struct yev *e = yread_peek(P->r);
    if (e->type == YEV_SCALAR && yev_is_null(e)) {
        yread_next(P->r);
        return;
    }
    if (e->type != YEV_SEQ) {
        if (e->type == YEV_ERR || e->type == YEV_END)
            return;
        lerr(P->g, e->loc, "'%s' must be a list of strings, not %s", key, kind_name(e));
        yread_skip(P->r);
        return;
    }
    yread_next(P->r);
    for (;;) {
        e = yread_peek(P->r);
        if (e->type == YEV_SEQ_END) {
            yread_next(P->r);
            return;
        }
        if (e->type == YEV_ERR || e->type == YEV_END)
            return;
        if (e->type != YEV_SCALAR) {
            lerr(P->g, e->loc, "'%s' must be a list of strings; this item is %s", key,
                 kind_name(e));
            yread_skip(P->r);
            continue;
        }
        struct ritem *it = vec_push(&P->R->items);
        it->s = take_str(P);
        it->kind = kind;
    }
}

/* ---- mappings ---- */

/* Iterates the keys of the mapping at the current event. Returns the key's
 * index in keys[] with the value as the current event; -1 at the end.
 * Unknown keys are reported (or warned about when listed in warn[]) and
 * their values skipped; duplicate keys are errors. */
struct mapit {
    const char *const *keys;
    size_t nkeys;
    const char *const *warn; /* torc keys volley ignores, with a warning */
    size_t nwarn;
    const char *where;    /* "a job", "the workflow" */
    const char *warn_why; /* why warn keys are ignored */
    uint64_t seen;
    bool open;
    uint64_t loc; /* the mapping */
    char key[64]; /* the current key (truncated) */
    uint64_t key_loc;
};

static bool map_begin(struct P *P, struct mapit *m, const char *what)
{
    const struct yev *e = yread_peek(P->r);
    m->seen = 0;
    m->open = false;
    m->loc = e->loc;
    if (e->type != YEV_MAP) {
        if (e->type == YEV_ERR || e->type == YEV_END)
            return false;
        lerr(P->g, e->loc, "%s must be a mapping (key: value), not %s", what, kind_name(e));
        yread_skip(P->r);
        return false;
    }
    yread_next(P->r);
    m->open = true;
    return true;
}

static int map_next(struct P *P, struct mapit *m)
{
    for (;;) {
        const struct yev *e = yread_peek(P->r);
        if (e->type == YEV_MAP_END) {
            yread_next(P->r);
            return -1;
        }
        if (e->type == YEV_ERR || e->type == YEV_END)
            return -1;
        if (e->type != YEV_SCALAR) {
            lerr(P->g, e->loc, "keys in %s must be strings, not %s", m->where, kind_name(e));
            yread_skip(P->r);
            yread_skip(P->r);
            continue;
        }
        snprintf(m->key, sizeof m->key, "%s", e->val);
        m->key_loc = e->loc;
        char key[256];
        snprintf(key, sizeof key, "%s", e->val);
        yread_next(P->r);
        for (size_t i = 0; i < m->nkeys; i++) {
            if (strcmp(key, m->keys[i]))
                continue;
            uint64_t bit = 1ull << i;
            if (m->seen & bit) {
                lerr(P->g, m->key_loc, "duplicate key '%s' in %s", key, m->where);
                yread_skip(P->r);
                goto next;
            }
            m->seen |= bit;
            return (int)i;
        }
        bool warned = false;
        if (m->nwarn && !strncmp(key, "x-", 2)) { /* an extension key: holds YAML anchors */
            yread_skip(P->r);
            goto next;
        }
        for (size_t i = 0; i < m->nwarn; i++) {
            size_t wl = strlen(m->warn[i]);
            bool prefix = wl && m->warn[i][wl - 1] == '*';
            if (prefix ? !strncmp(key, m->warn[i], wl - 1) : !strcmp(key, m->warn[i])) {
                lwarn(P->g, m->key_loc, "'%s' is ignored: %s", key, m->warn_why);
                warned = true;
                break;
            }
        }
        if (!warned) {
            const char *dym = did_you_mean(key, m->keys, m->nkeys);
            if (dym)
                lerr(P->g, m->key_loc, "unknown key '%s' in %s; did you mean '%s'?", key, m->where,
                     dym);
            else
                lerr(P->g, m->key_loc, "unknown key '%s' in %s", key, m->where);
        }
        yread_skip(P->r);
    next:;
    }
}

/* ---- parameters ---- */

static bool is_ident(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static void parse_params(struct P *P, struct vec *out, uint64_t *first, uint32_t *n)
{
    const struct yev *e = yread_peek(P->r);
    uint64_t start = out->n;
    if (first)
        *first = out->n;
    if (yev_is_null(e)) {
        yread_next(P->r);
        return;
    }
    if (e->type != YEV_MAP) {
        if (e->type == YEV_ERR || e->type == YEV_END)
            return;
        lerr(P->g, e->loc, "'parameters' must be a mapping of names to values, not %s",
             kind_name(e));
        yread_skip(P->r);
        return;
    }
    yread_next(P->r);
    for (;;) {
        e = yread_peek(P->r);
        if (e->type == YEV_MAP_END) {
            yread_next(P->r);
            break;
        }
        if (e->type == YEV_ERR || e->type == YEV_END)
            break;
        if (e->type != YEV_SCALAR) {
            lerr(P->g, e->loc, "parameter names must be strings, not %s", kind_name(e));
            yread_skip(P->r);
            yread_skip(P->r);
            continue;
        }
        uint64_t nloc = e->loc;
        if (!is_ident(e->val)) {
            lerr(P->g, nloc,
                 "parameter name '%s' is not an identifier (letters, digits and '_', not starting "
                 "with a digit)",
                 e->val);
            yread_next(P->r);
            yread_skip(P->r);
            continue;
        }
        bool dup = false;
        for (uint64_t i = start; i < out->n; i++)
            if (!strcmp(raw_str(P->R, VEC_AT(*out, struct param, i).name), e->val))
                dup = true;
        if (dup) {
            lerr(P->g, nloc, "duplicate parameter '%s'", e->val);
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
                 raw_str(P->R, p.name), e->val);
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
                         raw_str(P->R, p.name), kind_name(e));
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
                 raw_str(P->R, p.name), kind_name(e));
            yread_skip(P->r);
            ok = false;
        }
        p.bad = !ok; /* kept, so its placeholders are known; its entry is skipped */
        *(struct param *)vec_push(out) = p;
        if (n)
            (*n)++;
    }
}

static void parse_mode(struct P *P, struct rent *x)
{
    if (!want_scalar(P, "parameter_mode", "product or zip"))
        return;
    const struct yev *e = yread_peek(P->r);
    x->mode_loc = e->loc;
    if (!strcmp(e->val, "zip"))
        x->zip = 1;
    else if (strcmp(e->val, "product"))
        lerr(P->g, e->loc, "parameter_mode must be 'product' or 'zip', not '%s'", e->val);
    yread_next(P->r);
}

/* ---- entries ---- */

static const char *const job_keys[] = {
    "name",
    "command",
    "invocation_script",
    "resource_requirements",
    "failure_handler",
    "scheduler",
    "cancel_on_blocking_job_failure",
    "supports_termination",
    "depends_on",
    "depends_on_regexes",
    "input_files",
    "output_files",
    "input_user_data",
    "output_user_data",
    "input_file_regexes",
    "output_file_regexes",
    "input_user_data_regexes",
    "output_user_data_regexes",
    "parameters",
    "parameter_mode",
    "use_parameters",
    "priority",
};

static void parse_job(struct P *P)
{
    struct rent x;
    memset(&x, 0, sizeof x);
    x.name.off = x.cmd.off = x.script.off = x.rr.off = x.fh.off = x.path.off = RSTR_NONE;
    x.cancel = 1;
    x.lp_first = P->R->params.n;
    x.it_first = P->R->items.n;
    x.mode_loc = LOC_NONE;
    struct mapit m = {.keys = job_keys, .nkeys = VL_ARRAY_LEN(job_keys), .where = "a job"};
    if (!map_begin(P, &m, "a job")) {
        P->R->bad_jobs++;
        return;
    }
    x.loc = m.loc;
    int k;
    bool b;
    while ((k = map_next(P, &m)) >= 0) {
        const char *key = job_keys[k];
        switch (k) {
        case 0:
            get_str(P, key, &x.name);
            break;
        case 1:
            get_str(P, key, &x.cmd);
            break;
        case 2:
            get_str(P, key, &x.script);
            break;
        case 3:
            get_str(P, key, &x.rr);
            break;
        case 4:
            get_str(P, key, &x.fh);
            break;
        case 5: {
            uint64_t loc = yread_peek(P->r)->loc;
            yread_skip(P->r);
            x.has_sched = 1;
            lwarn(P->g, loc, "'scheduler' is ignored: volley runs jobs on this node");
            break;
        }
        case 6:
            if (get_bool(P, key, &b))
                x.cancel = b;
            break;
        case 7:
            get_bool(P, key, &b); /* accepted: volley always sends SIGTERM first */
            break;
        case 8:
            get_list(P, key, IT_DEP);
            break;
        case 9:
            get_list(P, key, IT_DEPRX);
            break;
        case 10:
            get_list(P, key, IT_IN);
            break;
        case 11:
            get_list(P, key, IT_OUT);
            break;
        case 12:
            get_list(P, key, IT_UIN);
            break;
        case 13:
            get_list(P, key, IT_UOUT);
            break;
        case 14:
            get_list(P, key, IT_INRX);
            break;
        case 15:
            get_list(P, key, IT_OUTRX);
            break;
        case 16:
            get_list(P, key, IT_UINRX);
            break;
        case 17:
            get_list(P, key, IT_UOUTRX);
            break;
        case 18:
            parse_params(P, &P->R->params, NULL, &x.lp_n);
            break;
        case 19:
            parse_mode(P, &x);
            break;
        case 20:
            get_list(P, key, IT_USE);
            break;
        case 21: { /* torc 0.23: ready jobs are claimed by priority */
            if (!want_scalar(P, key, "a whole number"))
                break;
            const struct yev *e = yread_peek(P->r);
            char *end;
            errno = 0;
            (void)strtoll(e->val, &end, 10);
            if (!*e->val || *end || errno)
                lerr(P->g, e->loc, "'priority' must be a whole number, not '%s'", e->val);
            else
                lwarn(P->g, e->loc,
                      "'priority' is ignored: volley starts ready jobs in the order they "
                      "became ready");
            yread_next(P->r);
            break;
        }
        }
    }
    x.it_n = (uint32_t)(P->R->items.n - x.it_first);
    if (failed(P))
        return;
    bool ok = true;
    if (x.name.off == RSTR_NONE) {
        lerr(P->g, x.loc, "a job needs a 'name'");
        ok = false;
    }
    if (x.cmd.off == RSTR_NONE) {
        if (x.name.off < RSTR_BAD)
            lerr(P->g, x.loc, "job '%s' needs a 'command'", raw_str(P->R, x.name.off));
        else if (x.name.off == RSTR_NONE)
            lerr(P->g, x.loc, "a job needs a 'command'");
        ok = false;
    }
    if (x.name.off == RSTR_BAD || x.cmd.off == RSTR_BAD || x.script.off == RSTR_BAD ||
        x.rr.off == RSTR_BAD || x.fh.off == RSTR_BAD)
        ok = false; /* reported where the wrong kind of value was */
    if (ok)
        *(struct rent *)vec_push(&P->R->jobs) = x;
    else
        P->R->bad_jobs++;
}

static const char *const file_keys[] = {"name", "path", "parameters", "parameter_mode",
                                        "use_parameters"};

static void parse_file(struct P *P)
{
    struct rent x;
    memset(&x, 0, sizeof x);
    x.name.off = x.cmd.off = x.script.off = x.rr.off = x.fh.off = x.path.off = RSTR_NONE;
    x.is_file = 1;
    x.lp_first = P->R->params.n;
    x.it_first = P->R->items.n;
    x.mode_loc = LOC_NONE;
    struct mapit m = {.keys = file_keys, .nkeys = VL_ARRAY_LEN(file_keys), .where = "a file"};
    if (!map_begin(P, &m, "a file")) {
        P->R->bad_files++;
        return;
    }
    x.loc = m.loc;
    int k;
    while ((k = map_next(P, &m)) >= 0) {
        switch (k) {
        case 0:
            get_str(P, "name", &x.name);
            break;
        case 1:
            get_str(P, "path", &x.path);
            break;
        case 2:
            parse_params(P, &P->R->params, NULL, &x.lp_n);
            break;
        case 3:
            parse_mode(P, &x);
            break;
        case 4:
            get_list(P, "use_parameters", IT_USE);
            break;
        }
    }
    x.it_n = (uint32_t)(P->R->items.n - x.it_first);
    if (failed(P))
        return;
    P->R->bad_files++; /* until it is pushed below */
    if (x.name.off == RSTR_NONE) {
        lerr(P->g, x.loc, "a file needs a 'name'");
        return;
    }
    if (x.path.off == RSTR_NONE && x.name.off != RSTR_BAD) {
        lerr(P->g, x.loc, "file '%s' needs a 'path'", raw_str(P->R, x.name.off));
        return;
    }
    if (x.name.off == RSTR_BAD || x.path.off == RSTR_BAD)
        return;
    P->R->bad_files--;
    *(struct rent *)vec_push(&P->R->files) = x;
}

static const char *const ud_keys[] = {"name", "data", "is_ephemeral"};

static void parse_ud(struct P *P)
{
    struct rud u = {.name = {RSTR_NONE, LOC_NONE}, .data = RSTR_NONE};
    struct mapit m = {
        .keys = ud_keys, .nkeys = VL_ARRAY_LEN(ud_keys), .where = "a user_data entry"};
    if (!map_begin(P, &m, "a user_data entry"))
        return;
    int k;
    bool b;
    while ((k = map_next(P, &m)) >= 0) {
        if (k == 0) {
            get_str(P, "name", &u.name);
        } else if (k == 1) {
            u.data = P->R->pool.len;
            yread_json(P->r, &P->R->pool);
            sbuf_addc(&P->R->pool, '\0');
        } else {
            get_bool(P, "is_ephemeral", &b);
        }
    }
    if (failed(P))
        return;
    if (u.name.off == RSTR_NONE || u.name.off == RSTR_BAD) {
        if (u.name.off == RSTR_NONE)
            lerr(P->g, m.loc, "a user_data entry needs a 'name'");
        P->R->bad_files++;
        return;
    }
    if (u.data == RSTR_NONE)
        u.data = sbuf_addz(&P->R->pool, "null", 4);
    *(struct rud *)vec_push(&P->R->uds) = u;
}

static const char *const rr_keys[] = {"name",      "num_cpus", "num_gpus",
                                      "num_nodes", "memory",   "runtime"};

static void parse_rr(struct P *P)
{
    struct rrr x;
    memset(&x, 0, sizeof x);
    x.name.off = RSTR_NONE;
    x.v.num_cpus = 1;
    x.v.num_nodes = 1;
    struct mapit m = {
        .keys = rr_keys, .nkeys = VL_ARRAY_LEN(rr_keys), .where = "a resource_requirements entry"};
    if (!map_begin(P, &m, "a resource_requirements entry"))
        return;
    int k;
    while ((k = map_next(P, &m)) >= 0) {
        const struct yev *e;
        switch (k) {
        case 0:
            get_str(P, "name", &x.name);
            break;
        case 1:
            get_u32(P, "num_cpus", 1u << 20, &x.v.num_cpus);
            break;
        case 2:
            get_u32(P, "num_gpus", 1u << 16, &x.v.num_gpus);
            break;
        case 3:
            if (get_u32(P, "num_nodes", UINT32_MAX, &x.v.num_nodes) && x.v.num_nodes != 1)
                lwarn(P->g, m.key_loc,
                      "num_nodes is %" PRIu32 ": volley runs each job on this one node",
                      x.v.num_nodes);
            break;
        case 4:
            if (!want_scalar(P, "memory", "a size like 512k, 100m or 2g"))
                break;
            e = yread_peek(P->r);
            {
                int rc = vl_parse_size(e->val, &x.v.memory_bytes);
                if (rc == -ERANGE)
                    lerr(P->g, e->loc, "memory '%s' is too large", e->val);
                else if (rc)
                    lerr(P->g, e->loc,
                         "memory '%s' is not a size: expected a number with k, m, g "
                         "or t (512k, 100m, 2g)",
                         e->val);
            }
            yread_next(P->r);
            break;
        case 5:
            if (!want_scalar(P, "runtime", "an ISO-8601 duration like PT30M"))
                break;
            e = yread_peek(P->r);
            {
                const char *why = NULL;
                if (parse_duration(e->val, &x.v.runtime_ms, &why) && !why)
                    lerr(P->g, e->loc,
                         "runtime '%s' rounds to 0 ms: the shortest limit is PT0.001S; leave "
                         "runtime out for no limit",
                         e->val);
                else if (why)
                    lerr(P->g, e->loc,
                         "runtime '%s' is not an ISO-8601 duration (PT2S, PT1H30M, P1DT2H): %s",
                         e->val, why);
            }
            yread_next(P->r);
            break;
        }
    }
    if (failed(P))
        return;
    if (x.name.off == RSTR_NONE || x.name.off == RSTR_BAD) {
        if (x.name.off == RSTR_NONE)
            lerr(P->g, m.loc, "a resource_requirements entry needs a 'name'");
        return;
    }
    *(struct rrr *)vec_push(&P->R->rrs) = x;
}

static const char *const rule_keys[] = {"exit_codes", "match_all_exit_codes", "recovery_script",
                                        "max_retries"};

static void parse_rule(struct P *P)
{
    struct rrule x;
    memset(&x, 0, sizeof x);
    x.v.max_retries = 3;
    x.v.script_off = SPEC_NO_STR;
    x.script.off = RSTR_NONE;
    x.v.code_first = (uint32_t)P->R->codes.n;
    struct mapit m = {
        .keys = rule_keys, .nkeys = VL_ARRAY_LEN(rule_keys), .where = "a failure handler rule"};
    if (!map_begin(P, &m, "a failure handler rule"))
        return;
    int k;
    bool b, has_codes = false;
    while ((k = map_next(P, &m)) >= 0) {
        const struct yev *e;
        switch (k) {
        case 0:
            e = yread_peek(P->r);
            if (e->type != YEV_SEQ) {
                if (e->type == YEV_ERR || e->type == YEV_END)
                    break;
                lerr(P->g, e->loc, "'exit_codes' must be a list of whole numbers, not %s",
                     kind_name(e));
                yread_skip(P->r);
                break;
            }
            has_codes = true;
            yread_next(P->r);
            for (;;) {
                e = yread_peek(P->r);
                if (e->type == YEV_SEQ_END) {
                    yread_next(P->r);
                    break;
                }
                if (e->type == YEV_ERR || e->type == YEV_END)
                    break;
                int64_t c = 0;
                char *end = NULL;
                if (e->type == YEV_SCALAR) {
                    errno = 0;
                    c = strtoll(e->val, &end, 10);
                }
                if (e->type != YEV_SCALAR || !end || *end || end == e->val || errno ||
                    c < -2147483648LL || c > 2147483647LL) {
                    lerr(P->g, e->loc, "exit codes must be whole numbers, not %s",
                         e->type == YEV_SCALAR ? e->val : kind_name(e));
                    yread_skip(P->r);
                    continue;
                }
                *(int32_t *)vec_push(&P->R->codes) = (int32_t)c;
                x.v.ncodes++;
                yread_next(P->r);
            }
            break;
        case 1:
            if (get_bool(P, "match_all_exit_codes", &b) && b)
                x.v.flags |= SPEC_RULE_MATCH_ALL;
            break;
        case 2:
            get_str(P, "recovery_script", &x.script);
            break;
        case 3:
            get_u32(P, "max_retries", 1000000, &x.v.max_retries);
            break;
        }
    }
    if (failed(P))
        return;
    if (!has_codes && !(x.v.flags & SPEC_RULE_MATCH_ALL))
        lwarn(P->g, m.loc,
              "this rule has no exit_codes and no match_all_exit_codes: it never "
              "applies");
    *(struct rrule *)vec_push(&P->R->rules) = x;
}

static const char *const fh_keys[] = {"name", "rules"};

static void parse_fh(struct P *P)
{
    struct rfh x;
    memset(&x, 0, sizeof x);
    x.name.off = RSTR_NONE;
    x.rule_first = (uint32_t)P->R->rules.n;
    struct mapit m = {
        .keys = fh_keys, .nkeys = VL_ARRAY_LEN(fh_keys), .where = "a failure handler"};
    if (!map_begin(P, &m, "a failure handler"))
        return;
    int k;
    while ((k = map_next(P, &m)) >= 0) {
        if (k == 0) {
            get_str(P, "name", &x.name);
            continue;
        }
        const struct yev *e = yread_peek(P->r);
        if (e->type != YEV_SEQ) {
            if (e->type == YEV_ERR || e->type == YEV_END)
                break;
            lerr(P->g, e->loc, "'rules' must be a list of rules, not %s", kind_name(e));
            yread_skip(P->r);
            continue;
        }
        yread_next(P->r);
        while (!failed(P) && yread_peek(P->r)->type != YEV_SEQ_END)
            parse_rule(P);
        yread_next(P->r);
    }
    x.nrules = (uint32_t)(P->R->rules.n - x.rule_first);
    if (failed(P))
        return;
    if (x.name.off == RSTR_NONE || x.name.off == RSTR_BAD) {
        if (x.name.off == RSTR_NONE)
            lerr(P->g, m.loc, "a failure handler needs a 'name'");
        return;
    }
    *(struct rfh *)vec_push(&P->R->fhs) = x;
}

/* A sequence of entries, each parsed by fn. */
static void parse_seq(struct P *P, const char *key, void (*fn)(struct P *))
{
    const struct yev *e = yread_peek(P->r);
    if (yev_is_null(e)) {
        yread_next(P->r);
        return;
    }
    if (e->type != YEV_SEQ) {
        if (e->type == YEV_ERR || e->type == YEV_END)
            return;
        lerr(P->g, e->loc, "'%s' must be a list (a sequence of '- ...' entries), not %s", key,
             kind_name(e));
        yread_skip(P->r);
        return;
    }
    yread_next(P->r);
    while (!failed(P) && yread_peek(P->r)->type != YEV_SEQ_END)
        fn(P);
    yread_next(P->r);
}

static const char *const top_keys[] = {"name",
                                       "description",
                                       "user",
                                       "project",
                                       "metadata",
                                       "parameters",
                                       "jobs",
                                       "files",
                                       "user_data",
                                       "resource_requirements",
                                       "failure_handlers"};
static const char *const top_warn[] = {"slurm_schedulers",   "slurm_defaults",   "actions",
                                       "resource_monitor",   "compute_node_*",   "jobs_sort_method",
                                       "use_pending_failed", "execution_config", "limit_resources",
                                       "enable_ro_crate"};

bool raw_parse(struct raw *R, const char *buf, size_t len, struct ldiag *g)
{
    memset(R, 0, sizeof *R);
    R->params.elem = R->sparams.elem = sizeof(struct param);
    R->vals.elem = sizeof(struct pval);
    R->jobs.elem = R->files.elem = sizeof(struct rent);
    R->items.elem = sizeof(struct ritem);
    R->rrs.elem = sizeof(struct rrr);
    R->fhs.elem = sizeof(struct rfh);
    R->rules.elem = sizeof(struct rrule);
    R->codes.elem = sizeof(int32_t);
    R->uds.elem = sizeof(struct rud);
    R->wf_name.off = R->wf_desc.off = RSTR_NONE;
    struct P P = {yread_new(buf, len, g), g, R};
    bool ok = true;
    const struct yev *e = yread_peek(P.r);
    if (e->type == YEV_END) {
        lerr(g, LOC_NONE, "the file is empty: expected a mapping with 'name' and 'jobs'");
        ok = false;
        goto out;
    }
    yread_next(P.r); /* document start */
    e = yread_peek(P.r);
    R->root_loc = e->loc;
    struct mapit m = {.keys = top_keys,
                      .nkeys = VL_ARRAY_LEN(top_keys),
                      .warn = top_warn,
                      .nwarn = VL_ARRAY_LEN(top_warn),
                      .where = "the workflow",
                      .warn_why = "volley runs on one node without a server"};
    if (e->type == YEV_SCALAR && yev_is_null(e)) {
        lerr(g, e->loc, "the file is empty: expected a mapping with 'name' and 'jobs'");
        ok = false;
        goto out;
    }
    bool has_jobs = false;
    if (map_begin(&P, &m, "the workflow")) {
        int k;
        while ((k = map_next(&P, &m)) >= 0) {
            switch (k) {
            case 0:
                get_str(&P, "name", &R->wf_name);
                break;
            case 1:
                get_str(&P, "description", &R->wf_desc);
                break;
            case 2:
            case 3:
            case 4:
                yread_skip(P.r); /* accepted for torc files, not used */
                break;
            case 5:
                parse_params(&P, &R->sparams, NULL, NULL);
                break;
            case 6:
                has_jobs = true;
                parse_seq(&P, "jobs", parse_job);
                break;
            case 7:
                parse_seq(&P, "files", parse_file);
                break;
            case 8:
                parse_seq(&P, "user_data", parse_ud);
                break;
            case 9:
                parse_seq(&P, "resource_requirements", parse_rr);
                break;
            case 10:
                parse_seq(&P, "failure_handlers", parse_fh);
                break;
            }
        }
    } else {
        ok = false;
    }
    e = yread_peek(P.r);
    if (e->type == YEV_ERR) {
        ok = false;
        goto out;
    }
    if (ok) {
        if (R->wf_name.off == RSTR_NONE)
            lerr(g, R->root_loc, "the workflow needs a 'name'");
        if (R->wf_name.off == RSTR_BAD)
            R->wf_name.off = RSTR_NONE;
        if (R->wf_name.off != RSTR_NONE) {
            /* it names the run directory, printed on one line to copy */
            const char *n = raw_str(R, R->wf_name.off);
            size_t nl = strlen(n), at = ctl_at(n, nl);
            if (!nl)
                lerr(g, R->wf_name.loc, "the workflow name is empty");
            else if (at < nl)
                lerr(g, R->wf_name.loc,
                     "the workflow name contains a control character (0x%02x); it names the "
                     "run directory",
                     (unsigned char)n[at]);
        }
        if (!has_jobs)
            lerr(g, R->root_loc, "the workflow needs 'jobs'");
    }
    yread_next(P.r); /* document end */
    e = yread_peek(P.r);
    if (e->type == YEV_DOC) {
        lerr(g, e->loc, "a second YAML document: a workflow file holds one");
        while (e->type != YEV_END && e->type != YEV_ERR) {
            yread_next(P.r);
            e = yread_peek(P.r);
        }
    }
    if (e->type == YEV_ERR)
        ok = false;
out:
    yread_free(P.r);
    return ok;
}

void raw_free(struct raw *R)
{
    sbuf_free(&R->pool);
    vec_free(&R->params);
    vec_free(&R->sparams);
    vec_free(&R->vals);
    vec_free(&R->jobs);
    vec_free(&R->files);
    vec_free(&R->items);
    vec_free(&R->rrs);
    vec_free(&R->fhs);
    vec_free(&R->rules);
    vec_free(&R->codes);
    vec_free(&R->uds);
}

/*
 * parse_value.c - reading values from the event stream: scalars of each
 * type (strings, booleans, whole numbers, ISO-8601 durations), lists of
 * strings, and iterating the keys of a mapping (unknown keys reported with
 * a did-you-mean, torc keys volley ignores warned about, duplicates
 * refused). Each reader consumes the node it reads, also on an error.
 */
#include "parse_int.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

const char *yev_kind_name(const struct yev *e)
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

bool parse_failed(struct P *P)
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

bool parse_want_scalar(struct P *P, const char *key, const char *what)
{
    const struct yev *e = yread_peek(P->r);
    if (e->type == YEV_SCALAR)
        return true;
    if (e->type == YEV_ERR || e->type == YEV_END)
        return false;
    lerr(P->g, e->loc, "'%s' must be %s, not %s", key, what, yev_kind_name(e));
    yread_skip(P->r);
    return false;
}

struct rstr parse_take_str(struct P *P)
{
    const struct yev *e = yread_peek(P->r);
    struct rstr s = {sbuf_addz(&P->R->pool, e->val, e->len), e->loc};
    yread_next(P->r);
    return s;
}

void parse_str(struct P *P, const char *key, struct rstr *out)
{
    uint64_t loc = yread_peek(P->r)->loc;
    if (!parse_want_scalar(P, key, "a string")) {
        out->off = RSTR_BAD;
        out->loc = loc;
        return;
    }
    if (yev_is_null(yread_peek(P->r))) {
        yread_next(P->r);
        return;
    }
    *out = parse_take_str(P);
}

bool parse_bool(struct P *P, const char *key, bool *out)
{
    if (!parse_want_scalar(P, key, "true or false"))
        return false;
    const struct yev *e = yread_peek(P->r);
    const char *v = e->val;
    bool ok = true;
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
        *out = false;
    else {
        lerr(P->g, e->loc, "'%s' must be true or false, not '%s'", key, lcut(P->g, v));
        ok = false;
    }
    yread_next(P->r);
    return ok;
}

bool parse_u32(struct P *P, const char *key, uint32_t max, uint32_t *out)
{
    if (!parse_want_scalar(P, key, "a whole number"))
        return false;
    const struct yev *e = yread_peek(P->r);
    uint64_t v;
    int rc = vl_parse_u64(e->val, max, &v);
    if (rc == -EINVAL)
        lerr(P->g, e->loc, "'%s' must be a whole number, not '%s'", key, lcut(P->g, e->val));
    else if (rc == -ERANGE)
        lerr(P->g, e->loc, "'%s' is %s, more than %" PRIu32, key, lcut(P->g, e->val), max);
    else
        *out = (uint32_t)v;
    yread_next(P->r);
    return rc == 0;
}

/* ISO-8601 duration: P[nW][nD][T[nH][nM][n[.f]S]] -> milliseconds. One that
 * rounds to 0 ms (why stays NULL) is an error too: 0 means no limit. */
int parse_duration(const char *s, uint64_t *ms, const char **why)
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
void parse_list(struct P *P, const char *key, uint8_t kind)
{
    const struct yev *e = yread_peek(P->r);
    if (e->type == YEV_SCALAR && yev_is_null(e)) {
        yread_next(P->r);
        return;
    }
    if (e->type != YEV_SEQ) {
        if (e->type == YEV_ERR || e->type == YEV_END)
            return;
        lerr(P->g, e->loc, "'%s' must be a list of strings, not %s", key, yev_kind_name(e));
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
                 yev_kind_name(e));
            yread_skip(P->r);
            continue;
        }
        struct ritem *it = vec_push(&P->R->items);
        it->s = parse_take_str(P);
        it->kind = kind;
    }
}

/* ---- mappings ---- */

bool mapit_begin(struct P *P, struct mapit *m, const char *what)
{
    const struct yev *e = yread_peek(P->r);
    m->seen = 0;
    m->open = false;
    m->loc = e->loc;
    if (e->type != YEV_MAP) {
        if (e->type == YEV_ERR || e->type == YEV_END)
            return false;
        lerr(P->g, e->loc, "%s must be a mapping (key: value), not %s", what, yev_kind_name(e));
        yread_skip(P->r);
        return false;
    }
    yread_next(P->r);
    m->open = true;
    return true;
}

bool freemap_begin(struct P *P, const char *key, const char *what)
{
    const struct yev *e = yread_peek(P->r);
    if (yev_is_null(e)) {
        yread_next(P->r);
        return false;
    }
    if (e->type != YEV_MAP) {
        if (e->type == YEV_ERR || e->type == YEV_END)
            return false;
        lerr(P->g, e->loc, "'%s' must be a mapping of %s, not %s", key, what, yev_kind_name(e));
        yread_skip(P->r);
        return false;
    }
    yread_next(P->r);
    return true;
}

const struct yev *freemap_next(struct P *P, const char *noun)
{
    for (;;) {
        const struct yev *e = yread_peek(P->r);
        if (e->type == YEV_MAP_END) {
            yread_next(P->r);
            return NULL;
        }
        if (e->type == YEV_ERR || e->type == YEV_END)
            return NULL;
        if (e->type == YEV_SCALAR)
            return e;
        lerr(P->g, e->loc, "%s must be strings, not %s", noun, yev_kind_name(e));
        yread_skip(P->r);
        yread_skip(P->r);
    }
}

int mapit_next(struct P *P, struct mapit *m)
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
            lerr(P->g, e->loc, "keys in %s must be strings, not %s", m->where, yev_kind_name(e));
            yread_skip(P->r);
            yread_skip(P->r);
            continue;
        }
        /* copies: the event goes on the next read (bounded, for messages) */
        size_t kl = VL_MIN(e->len, sizeof m->key - 1);
        memcpy(m->key, e->val, kl);
        m->key[kl] = '\0';
        m->key_loc = e->loc;
        char key[256];
        kl = VL_MIN(e->len, sizeof key - 1);
        memcpy(key, e->val, kl);
        key[kl] = '\0';
        yread_next(P->r);
        for (size_t i = 0; i < m->nkeys; i++) {
            if (strcmp(key, mapit_key(m, i)))
                continue;
            uint64_t bit = 1ull << i;
            if (m->seen & bit) {
                lerr(P->g, m->key_loc, "duplicate key '%s' in %s", lcut(P->g, key), m->where);
                yread_skip(P->r);
                goto next;
            }
            m->seen |= bit;
            return (int)i;
        }
        bool noted = false;
        if (m->ext && !strncmp(key, "x-", 2)) { /* an extension key: holds YAML anchors */
            yread_skip(P->r);
            goto next;
        }
        for (size_t i = 0; m->notes && m->notes[i].key; i++) {
            const struct mapnote *n = &m->notes[i];
            size_t wl = strlen(n->key);
            bool prefix = wl && n->key[wl - 1] == '*';
            if (prefix ? !strncmp(key, n->key, wl - 1) : !strcmp(key, n->key)) {
                if (n->sev == SPEC_DIAG_WARNING)
                    lwarn(P->g, m->key_loc, "'%s' is ignored: %s", lcut(P->g, key), n->why);
                else
                    lerr(P->g, m->key_loc, "'%s' is not supported: %s", lcut(P->g, key), n->why),
                        m->refused++;
                noted = true;
                break;
            }
        }
        if (!noted) {
            const char *cands[64];
            size_t nc = 0;
            for (size_t i = 0; i < m->nkeys && nc < 64; i++)
                cands[nc++] = mapit_key(m, i);
            const char *dym = did_you_mean(key, cands, nc);
            if (dym)
                lerr(P->g, m->key_loc, "unknown key '%s' in %s; did you mean '%s'?",
                     lcut(P->g, key), m->where, dym);
            else
                lerr(P->g, m->key_loc, "unknown key '%s' in %s", lcut(P->g, key), m->where);
        }
        yread_skip(P->r);
    next:;
    }
}

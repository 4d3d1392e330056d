/*
 * yread.c - libyaml's event stream with one event of lookahead, locations,
 * and aliases.
 *
 * The loader reads events, never libyaml's document tree: a document tree
 * holds a node per scalar, so a file listing a million jobs would cost tens
 * of millions of nodes before the first one is looked at. Here an event is
 * decoded and dropped.
 *
 * Aliases (*a) are replayed from a recording of the anchored node (&a),
 * made while it streams by; replays are capped (MAX_REPLAY events in all)
 * so "billion laughs" files are an error, not an out-of-memory.
 */
#include "load_int.h"

#include <stdio.h>
#include <yaml.h>

#define MAX_REPLAY 20000000u

struct rec_ev {
    uint8_t type, quoted;
    uint64_t loc;
    char *val; /* owned */
    size_t len;
};

struct anchor {
    char *name;
    struct rec_ev *ev;
    uint64_t n, cap;
    int64_t depth; /* while recording: open containers */
    bool done;
};

struct replay {
    struct anchor *a;
    uint64_t i;
};

struct yread {
    yaml_parser_t p;
    yaml_event_t ev; /* the libyaml event behind cur, if from the parser */
    bool have_ev;
    bool err;
    struct yev cur;
    bool have;
    struct ldiag *g;
    const char *buf;
    size_t len;
    struct anchor *an; /* every anchor seen (recording or done) */
    uint64_t nan, capan;
    struct replay *rs; /* replay stack (an alias inside a replay nests) */
    uint64_t nrs, caprs;
    uint64_t replayed;
    uint64_t *act; /* anchors still recording, innermost last (they nest) */
    uint64_t nact, capact;
};

static void syntax_error(struct yread *r)
{
    yaml_parser_t *p = &r->p;
    uint64_t loc;
    if (p->error == YAML_READER_ERROR) {
        /* offset in bytes; the file was checked for UTF-8 before, so this
         * is rare (a NUL or a control character) */
        loc = loc_of_byte(r->buf, r->len, p->problem_offset);
        if (p->problem_value >= 0)
            lerr(r->g, loc, "the file cannot be read as YAML: %s (byte 0x%02x)",
                 p->problem ? p->problem : "bad input", (unsigned)p->problem_value & 0xffu);
        else
            lerr(r->g, loc, "the file cannot be read as YAML: %s",
                 p->problem ? p->problem : "bad input");
    } else {
        loc = loc_make(p->problem_mark.line, p->problem_mark.column, false);
        if (p->context)
            lerr(r->g, loc, "YAML syntax error: %s %s (line %zu)", p->problem ? p->problem : "",
                 p->context, p->context_mark.line + 1);
        else
            lerr(r->g, loc, "YAML syntax error: %s", p->problem ? p->problem : "bad input");
    }
    r->err = true;
}

static struct anchor *find_anchor(struct yread *r, const char *name)
{
    /* the latest definition wins (YAML allows redefinition) */
    for (uint64_t i = r->nan; i-- > 0;)
        if (r->an[i].done && !strcmp(r->an[i].name, name))
            return &r->an[i];
    return NULL;
}

static void record(struct yread *r, const struct yev *e)
{
    for (uint64_t k = 0; k < r->nact; k++) {
        struct anchor *a = &r->an[r->act[k]];
        if (a->n == a->cap) {
            a->cap = a->cap ? a->cap * 2 : 8;
            a->ev = vl_xrealloc(a->ev, a->cap * sizeof *a->ev);
        }
        struct rec_ev *x = &a->ev[a->n++];
        x->type = e->type;
        x->quoted = e->quoted;
        x->loc = e->loc;
        x->val = e->type == YEV_SCALAR ? vl_xstrdup(e->val) : NULL;
        x->len = e->len;
        if (e->type == YEV_SEQ || e->type == YEV_MAP)
            a->depth++;
        else if (e->type == YEV_SEQ_END || e->type == YEV_MAP_END)
            a->depth--;
        if (a->depth == 0)
            a->done = true;
    }
    while (r->nact && r->an[r->act[r->nact - 1]].done)
        r->nact--;
}

static void start_anchor(struct yread *r, const char *name)
{
    if (r->nan == r->capan) {
        r->capan = r->capan ? r->capan * 2 : 8;
        r->an = vl_xrealloc(r->an, r->capan * sizeof *r->an);
    }
    struct anchor *a = &r->an[r->nan++];
    memset(a, 0, sizeof *a);
    a->name = vl_xstrdup(name);
    if (r->nact == r->capact) {
        r->capact = r->capact ? r->capact * 2 : 8;
        r->act = vl_xrealloc(r->act, r->capact * sizeof *r->act);
    }
    r->act[r->nact++] = r->nan - 1;
}

/* Fetches the next event into r->cur. */
static void fetch(struct yread *r)
{
    if (r->have_ev) {
        yaml_event_delete(&r->ev);
        r->have_ev = false;
    }
    r->have = true;
    memset(&r->cur, 0, sizeof r->cur);
    if (r->err) {
        r->cur.type = YEV_ERR;
        return;
    }
    while (r->nrs) {
        struct replay *rp = &r->rs[r->nrs - 1];
        if (rp->i == rp->a->n) {
            r->nrs--;
            continue;
        }
        struct rec_ev *x = &rp->a->ev[rp->i++];
        r->cur.type = x->type;
        r->cur.quoted = x->quoted;
        r->cur.loc = x->loc;
        r->cur.val = x->val;
        r->cur.len = x->len;
        record(r, &r->cur);
        return;
    }
    for (;;) {
        if (!yaml_parser_parse(&r->p, &r->ev)) {
            syntax_error(r);
            r->cur.type = YEV_ERR;
            return;
        }
        r->have_ev = true;
        yaml_event_t *e = &r->ev;
        const char *anchor = NULL;
        r->cur.loc = loc_make(e->start_mark.line, e->start_mark.column, false);
        switch (e->type) {
        case YAML_STREAM_START_EVENT:
            yaml_event_delete(e);
            r->have_ev = false;
            continue;
        case YAML_STREAM_END_EVENT:
            r->cur.type = YEV_END;
            break;
        case YAML_DOCUMENT_START_EVENT:
            r->cur.type = YEV_DOC;
            break;
        case YAML_DOCUMENT_END_EVENT:
            r->cur.type = YEV_DOC_END;
            break;
        case YAML_SEQUENCE_START_EVENT:
            r->cur.type = YEV_SEQ;
            anchor = (const char *)e->data.sequence_start.anchor;
            break;
        case YAML_SEQUENCE_END_EVENT:
            r->cur.type = YEV_SEQ_END;
            break;
        case YAML_MAPPING_START_EVENT:
            r->cur.type = YEV_MAP;
            anchor = (const char *)e->data.mapping_start.anchor;
            break;
        case YAML_MAPPING_END_EVENT:
            r->cur.type = YEV_MAP_END;
            break;
        case YAML_SCALAR_EVENT: {
            r->cur.type = YEV_SCALAR;
            r->cur.val = (const char *)e->data.scalar.value;
            r->cur.len = e->data.scalar.length;
            if (memchr(r->cur.val, '\0', r->cur.len)) {
                /* "\0" in a double-quoted scalar: no name, path or command
                 * can hold it (they are C strings, and so is exec's argv) */
                lerr(r->g, r->cur.loc, "this string contains a NUL character (\\0)");
                r->cur.len = strlen(r->cur.val);
            }
            yaml_scalar_style_t st = e->data.scalar.style;
            r->cur.quoted = st != YAML_PLAIN_SCALAR_STYLE;
            anchor = (const char *)e->data.scalar.anchor;
            /* exact: one line, and the source characters are the value's */
            bool q = st == YAML_SINGLE_QUOTED_SCALAR_STYLE || st == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            if ((st == YAML_PLAIN_SCALAR_STYLE || q) && e->start_mark.line == e->end_mark.line) {
                size_t chars = 0;
                for (size_t i = 0; i < r->cur.len; i++)
                    chars += ((unsigned char)r->cur.val[i] & 0xc0) != 0x80;
                if (e->end_mark.index - e->start_mark.index == chars + (q ? 2 : 0))
                    r->cur.loc =
                        loc_make(e->start_mark.line, e->start_mark.column + (q ? 1 : 0), true);
            }
            break;
        }
        case YAML_ALIAS_EVENT: {
            const char *name = (const char *)e->data.alias.anchor;
            struct anchor *a = find_anchor(r, name);
            uint64_t loc = r->cur.loc;
            if (!a) {
                lerr(r->g, loc, "unknown YAML alias '*%s'", name);
                r->err = true;
                r->cur.type = YEV_ERR;
                return;
            }
            r->replayed += a->n;
            if (r->replayed > MAX_REPLAY) {
                lerr(r->g, loc, "YAML aliases expand to more than %u events; refusing to expand",
                     MAX_REPLAY);
                r->err = true;
                r->cur.type = YEV_ERR;
                return;
            }
            if (r->nrs == r->caprs) {
                r->caprs = r->caprs ? r->caprs * 2 : 4;
                r->rs = vl_xrealloc(r->rs, r->caprs * sizeof *r->rs);
            }
            r->rs[r->nrs].a = a;
            r->rs[r->nrs].i = 0;
            r->nrs++;
            yaml_event_delete(e);
            r->have_ev = false;
            fetch(r);
            return;
        }
        default:
            yaml_event_delete(e);
            r->have_ev = false;
            continue;
        }
        if (anchor)
            start_anchor(r, anchor);
        r->cur.anchor = anchor;
        record(r, &r->cur);
        return;
    }
}

struct yread *yread_new(const char *buf, size_t len, struct ldiag *g)
{
    struct yread *r = vl_xcalloc(1, sizeof *r);
    r->g = g;
    r->buf = buf;
    r->len = len;
    if (!yaml_parser_initialize(&r->p))
        abort();
    yaml_parser_set_input_string(&r->p, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&r->p, YAML_UTF8_ENCODING);
    return r;
}

void yread_free(struct yread *r)
{
    if (!r)
        return;
    if (r->have_ev)
        yaml_event_delete(&r->ev);
    yaml_parser_delete(&r->p);
    for (uint64_t i = 0; i < r->nan; i++) {
        for (uint64_t k = 0; k < r->an[i].n; k++)
            free(r->an[i].ev[k].val);
        free(r->an[i].ev);
        free(r->an[i].name);
    }
    free(r->an);
    free(r->rs);
    free(r->act);
    free(r);
}

const struct yev *yread_peek(struct yread *r)
{
    if (!r->have)
        fetch(r);
    return &r->cur;
}

void yread_next(struct yread *r)
{
    if (!r->have)
        fetch(r);
    if (r->cur.type == YEV_ERR || r->cur.type == YEV_END)
        return;
    r->have = false;
}

void yread_skip(struct yread *r)
{
    int64_t depth = 0;
    do {
        const struct yev *e = yread_peek(r);
        if (e->type == YEV_ERR || e->type == YEV_END)
            return;
        if (e->type == YEV_SEQ || e->type == YEV_MAP)
            depth++;
        else if (e->type == YEV_SEQ_END || e->type == YEV_MAP_END)
            depth--;
        yread_next(r);
    } while (depth > 0);
}

static void json_scalar(const struct yev *e, struct sbuf *out)
{
    if (!e->quoted) {
        if (yev_is_null(e)) {
            sbuf_add(out, "null", 4);
            return;
        }
        if (!strcmp(e->val, "true") || !strcmp(e->val, "True") || !strcmp(e->val, "TRUE")) {
            sbuf_add(out, "true", 4);
            return;
        }
        if (!strcmp(e->val, "false") || !strcmp(e->val, "False") || !strcmp(e->val, "FALSE")) {
            sbuf_add(out, "false", 5);
            return;
        }
        /* a JSON number as written */
        const char *p = e->val;
        if (*p == '-')
            p++;
        bool num = *p >= '0' && *p <= '9' && !(p[0] == '0' && p[1] >= '0' && p[1] <= '9');
        while (num && *p >= '0' && *p <= '9')
            p++;
        if (num && *p == '.') {
            p++;
            num = *p >= '0' && *p <= '9';
            while (*p >= '0' && *p <= '9')
                p++;
        }
        if (num && (*p == 'e' || *p == 'E')) {
            p++;
            if (*p == '+' || *p == '-')
                p++;
            num = *p >= '0' && *p <= '9';
            while (*p >= '0' && *p <= '9')
                p++;
        }
        if (num && !*p) {
            sbuf_add(out, e->val, e->len);
            return;
        }
    }
    sbuf_addc(out, '"');
    for (size_t i = 0; i < e->len; i++) {
        unsigned char c = (unsigned char)e->val[i];
        if (c == '"' || c == '\\') {
            sbuf_addc(out, '\\');
            sbuf_addc(out, (char)c);
        } else if (c < 0x20) {
            char t[8];
            snprintf(t, sizeof t, "\\u%04x", c);
            sbuf_add(out, t, 6);
        } else {
            sbuf_addc(out, (char)c);
        }
    }
    sbuf_addc(out, '"');
}

void yread_json(struct yread *r, struct sbuf *out)
{
    /* first[d]: no element yet at depth d; key[d]: the next scalar in a
     * mapping at depth d is a key */
    struct sbuf st = {0}; /* per depth: bit0 first, bit1 in mapping, bit2 expecting key */
    int64_t depth = 0;
    do {
        const struct yev *e = yread_peek(r);
        if (e->type == YEV_ERR || e->type == YEV_END)
            break;
        bool is_end = e->type == YEV_SEQ_END || e->type == YEV_MAP_END;
        if (depth > 0 && !is_end) {
            char *s = &st.p[depth - 1];
            bool in_map = *s & 2, want_key = *s & 4;
            if (!in_map || want_key) {
                if (!(*s & 1))
                    sbuf_addc(out, ',');
                *s &= (char)~1;
            }
            if (in_map) {
                if (want_key) {
                    /* keys are strings in JSON */
                    if (e->type == YEV_SCALAR) {
                        struct yev k = *e;
                        k.quoted = 1;
                        json_scalar(&k, out);
                    } else {
                        sbuf_add(out, "\"?\"", 3);
                        yread_skip(r);
                        sbuf_addc(out, ':');
                        *s &= (char)~4;
                        continue;
                    }
                    sbuf_addc(out, ':');
                    *s &= (char)~4;
                    yread_next(r);
                    continue;
                }
                *s |= 4;
            }
        }
        switch (e->type) {
        case YEV_SCALAR:
            json_scalar(e, out);
            break;
        case YEV_SEQ:
        case YEV_MAP:
            sbuf_addc(out, e->type == YEV_SEQ ? '[' : '{');
            sbuf_addc(&st, (char)(1 | (e->type == YEV_MAP ? 6 : 0)));
            depth++;
            break;
        case YEV_SEQ_END:
        case YEV_MAP_END:
            sbuf_addc(out, e->type == YEV_SEQ_END ? ']' : '}');
            st.len--;
            depth--;
            break;
        default:
            break;
        }
        yread_next(r);
    } while (depth > 0);
    sbuf_free(&st);
}

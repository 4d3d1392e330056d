/*
 * yread.c - the event stream of a workflow file with one event of
 * lookahead, locations, and aliases: libyaml's for YAML and JSON, json5.c's
 * for JSON5 (the same events, so one parser reads all three).
 *
 * The loader reads events, never libyaml's document tree: a document tree
 * holds a node per scalar, so a file listing a million jobs would cost tens
 * of millions of nodes before the first one is looked at. Here an event is
 * decoded and dropped.
 *
 * Aliases (*a) are replayed from a recording of the anchored node (&a),
 * made while it streams by; replays are capped (MAX_REPLAY events in all)
 * so "billion laughs" files are an error, not an out-of-memory.
 *
 * Merge keys (<<: *d, or <<: [*d, *e]) are resolved here, so no reader of
 * the events ever sees one: the merged mapping is read into a small tree
 * (its own merges resolved: its own keys first), and its entries are given
 * just before the end of the mapping that holds the '<<', minus every key
 * that mapping writes itself (before or after the '<<'); for a list, the
 * first mapping that has a key gives it. Keys are compared by a 64-bit
 * hash, kept for every open mapping while it streams.
 */
#include "load_int.h"

#include <stdio.h>
#include <yaml.h>

#define MAX_REPLAY 20000000u
#define MAX_MERGE_DEPTH 256 /* nesting inside a merged mapping (trees recurse) */

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

/* A node of a merged mapping: a scalar, or a container with its children
 * (a mapping's are key, value, key, value...). */
struct mnode {
    struct rec_ev ev;
    struct mnode *kid;
    size_t n, cap;
};

/* An open mapping or sequence, as the reader of the events sees it. */
struct mctx {
    bool map;
    bool want_key;  /* a mapping: the next node is a key */
    uint64_t *keys; /* a mapping: hashes of the keys given so far */
    size_t nkeys, capkeys;
    struct mnode pend; /* merged entries to give before the end */
};

struct yread {
    struct j5 *j5; /* JSON5: its reader gives the events, not libyaml */
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
    struct mctx *ctx; /* open containers (the merge layer), innermost last */
    size_t nctx, capctx;
    struct rec_ev *q; /* events to give before reading more: resolved merges */
    size_t qh, qn, capq;
    char *cur_owned;   /* the current event's value, when it came from q */
    struct vars *vars; /* workflow variables to substitute, or NULL */
    bool no_subst;     /* substitution off for now (yread_subst) */
    size_t read_to;    /* how far the source was read (every event came from before):
                          bytes for JSON5, characters for libyaml (its marks) */
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

/* Fetches the next event into r->cur, merge keys as written. */
static void fetch_raw(struct yread *r)
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
    if (r->j5) { /* no anchors, aliases or merge keys in JSON5 */
        j5_next(r->j5, &r->cur);
        r->read_to = j5_offset(r->j5);
        if (r->cur.type == YEV_ERR)
            r->err = true;
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
        r->read_to = VL_MAX(r->read_to, e->end_mark.index);
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
            fetch_raw(r);
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

/* ---- merge keys ---- */

static bool is_merge_key(uint8_t type, uint8_t quoted, const char *val, size_t len)
{
    return type == YEV_SCALAR && !quoted && len == 2 && !memcmp(val, "<<", 2);
}

static bool node_is_merge(const struct mnode *k)
{
    return is_merge_key(k->ev.type, k->ev.quoted, k->ev.val, k->ev.len);
}

static struct mctx *ctx_top(struct yread *r)
{
    return r->nctx ? &r->ctx[r->nctx - 1] : NULL;
}

static void mnode_free(struct mnode *m)
{
    for (size_t i = 0; i < m->n; i++)
        mnode_free(&m->kid[i]);
    free(m->kid);
    free(m->ev.val);
    memset(m, 0, sizeof *m);
}

static struct mnode *mnode_add(struct mnode *m)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4;
        m->kid = vl_xrealloc(m->kid, m->cap * sizeof *m->kid);
    }
    struct mnode *k = &m->kid[m->n++];
    memset(k, 0, sizeof *k);
    return k;
}

/* Takes the next queued event (q must have one) into *e; returns its
 * value, which the caller now owns (NULL for none). */
static char *q_pop(struct yread *r, struct yev *e)
{
    struct rec_ev *x = &r->q[r->qh++];
    *e = (struct yev){
        .type = x->type, .quoted = x->quoted, .loc = x->loc, .val = x->val, .len = x->len};
    if (r->qh == r->qn) /* x stays readable: the array is kept */
        r->qh = r->qn = 0;
    return x->val;
}

/* Reads the next whole node (from q, then the file) into out. False after
 * an error (reported; out holds what was read). */
static bool read_tree(struct yread *r, struct mnode *out)
{
    struct mnode **st = NULL;
    size_t nst = 0, capst = 0;
    bool ok = true;
    memset(out, 0, sizeof *out);
    for (;;) {
        struct yev e;
        char *owned = NULL;
        if (r->qh < r->qn) {
            owned = q_pop(r, &e);
        } else {
            fetch_raw(r);
            e = r->cur;
        }
        if (e.type == YEV_ERR || e.type == YEV_END || e.type == YEV_DOC || e.type == YEV_DOC_END) {
            r->err = true;
            ok = false;
            free(owned);
            break;
        }
        if (e.type == YEV_SEQ_END || e.type == YEV_MAP_END) {
            free(owned);
            if (--nst == 0)
                break;
            continue;
        }
        struct mnode *n = nst ? mnode_add(st[nst - 1]) : out;
        n->ev = (struct rec_ev){.type = e.type, .quoted = e.quoted, .loc = e.loc, .len = e.len};
        if (e.type == YEV_SCALAR)
            n->ev.val = owned ? owned : vl_xstrdup(e.val);
        else
            free(owned);
        if (e.type == YEV_SCALAR) {
            if (nst == 0)
                break;
            continue;
        }
        if (nst == MAX_MERGE_DEPTH) {
            lerr(r->g, e.loc, "a mapping merged with '<<' nests deeper than %d levels",
                 MAX_MERGE_DEPTH);
            r->err = true;
            ok = false;
            break;
        }
        if (nst == capst) {
            capst = capst ? capst * 2 : 8;
            st = vl_xrealloc(st, capst * sizeof *st);
        }
        st[nst++] = n;
    }
    free(st);
    return ok;
}

static bool same_key(const struct mnode *a, const struct mnode *b)
{
    return a->ev.type == YEV_SCALAR && b->ev.type == YEV_SCALAR && a->ev.len == b->ev.len &&
           !memcmp(a->ev.val, b->ev.val, a->ev.len);
}

/* Adds the entries of the mapping m (moved out of it) to dst, except keys
 * dst has already. */
static void take_entries(struct mnode *dst, struct mnode *m)
{
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        bool have = false;
        for (size_t k = 0; k + 1 < dst->n && !have; k += 2)
            have = same_key(&dst->kid[k], &m->kid[i]);
        if (have) {
            mnode_free(&m->kid[i]);
            mnode_free(&m->kid[i + 1]);
            continue;
        }
        *mnode_add(dst) = m->kid[i];
        *mnode_add(dst) = m->kid[i + 1];
    }
    m->n = 0;
}

static void merge_error(struct yread *r, uint64_t loc)
{
    lerr(r->g, loc,
         "'<<' (a YAML merge) takes a mapping or a list of mappings, like <<: *defaults");
}

static void resolve(struct yread *r, struct mnode *m);

/* Adds what the value v of a '<<' (at loc) merges to dst, v resolved. */
static void merge_value(struct yread *r, struct mnode *dst, struct mnode *v, uint64_t loc)
{
    resolve(r, v);
    if (v->ev.type == YEV_MAP) {
        take_entries(dst, v);
        return;
    }
    bool ok = v->ev.type == YEV_SEQ;
    for (size_t i = 0; ok && i < v->n; i++)
        ok = v->kid[i].ev.type == YEV_MAP;
    if (!ok) {
        merge_error(r, loc);
        return;
    }
    for (size_t i = 0; i < v->n; i++)
        take_entries(dst, &v->kid[i]);
}

/* Resolves every merge key in the tree m: a mapping's own keys first, then
 * what its merges give that it lacks. */
static void resolve(struct yread *r, struct mnode *m)
{
    if (m->ev.type == YEV_SEQ) {
        for (size_t i = 0; i < m->n; i++)
            resolve(r, &m->kid[i]);
        return;
    }
    if (m->ev.type != YEV_MAP)
        return;
    bool any = false;
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        resolve(r, &m->kid[i]);
        resolve(r, &m->kid[i + 1]);
        any |= node_is_merge(&m->kid[i]);
    }
    if (!any)
        return;
    struct mnode own = {.ev = m->ev};        /* a mapping start: no string */
    for (size_t i = 0; i + 1 < m->n; i += 2) /* own keys, in order */
        if (!node_is_merge(&m->kid[i])) {
            *mnode_add(&own) = m->kid[i];
            *mnode_add(&own) = m->kid[i + 1];
            memset(&m->kid[i], 0, 2 * sizeof *m->kid);
        }
    for (size_t i = 0; i + 1 < m->n; i += 2) /* then merges, in order */
        if (node_is_merge(&m->kid[i]))
            merge_value(r, &own, &m->kid[i + 1], m->kid[i].ev.loc);
    mnode_free(m);
    *m = own;
}

static void q_push(struct yread *r, struct rec_ev ev)
{
    if (r->qn == r->capq) {
        r->capq = r->capq ? r->capq * 2 : 64;
        r->q = vl_xrealloc(r->q, r->capq * sizeof *r->q);
    }
    r->q[r->qn++] = ev;
}

/* Appends the events of m to q, moving its strings; frees m. */
static void q_tree(struct yread *r, struct mnode *m)
{
    q_push(r, m->ev);
    m->ev.val = NULL;
    if (m->ev.type == YEV_SEQ || m->ev.type == YEV_MAP) {
        for (size_t i = 0; i < m->n; i++)
            q_tree(r, &m->kid[i]);
        q_push(r, (struct rec_ev){.type = m->ev.type == YEV_SEQ ? YEV_SEQ_END : YEV_MAP_END,
                                  .loc = m->ev.loc});
    }
    mnode_free(m);
}

/* The end of a mapping with merged entries: q gets the entries whose key
 * the mapping did not write, then the end itself (end), then what q had. */
static void give_merged(struct yread *r, struct mctx *c, const struct yev *end)
{
    struct rec_ev *rest = NULL;
    size_t nrest = r->qn - r->qh;
    if (nrest) {
        rest = vl_xmalloc(nrest * sizeof *rest);
        memcpy(rest, r->q + r->qh, nrest * sizeof *rest);
    }
    r->qh = r->qn = 0;
    struct mnode *p = &c->pend;
    for (size_t i = 0; i + 1 < p->n; i += 2) {
        struct mnode *k = &p->kid[i];
        bool own = false;
        if (k->ev.type == YEV_SCALAR) {
            uint64_t h = strtab_hash(k->ev.val, k->ev.len);
            for (size_t j = 0; j < c->nkeys && !own; j++)
                own = c->keys[j] == h;
        }
        if (own) {
            mnode_free(k);
            mnode_free(&p->kid[i + 1]);
            continue;
        }
        q_tree(r, k);
        q_tree(r, &p->kid[i + 1]);
    }
    p->n = 0;
    q_push(r, (struct rec_ev){.type = end->type, .loc = end->loc});
    for (size_t i = 0; i < nrest; i++)
        q_push(r, rest[i]);
    free(rest);
}

/* Follows the structure as the reader sees it (keys of open mappings). */
static void track(struct yread *r, const struct yev *e)
{
    struct mctx *c = ctx_top(r);
    switch (e->type) {
    case YEV_SCALAR:
        if (c && c->map && c->want_key) {
            if (c->nkeys == c->capkeys) {
                c->capkeys = c->capkeys ? c->capkeys * 2 : 8;
                c->keys = vl_xrealloc(c->keys, c->capkeys * sizeof *c->keys);
            }
            c->keys[c->nkeys++] = strtab_hash(e->val, e->len);
        }
        if (c && c->map)
            c->want_key = !c->want_key;
        return;
    case YEV_SEQ:
    case YEV_MAP:
        if (r->nctx == r->capctx) {
            size_t cap = r->capctx ? r->capctx * 2 : 16;
            r->ctx = vl_xrealloc(r->ctx, cap * sizeof *r->ctx);
            memset(r->ctx + r->capctx, 0, (cap - r->capctx) * sizeof *r->ctx);
            r->capctx = cap;
        }
        c = &r->ctx[r->nctx++];
        c->map = e->type == YEV_MAP;
        c->want_key = true;
        c->nkeys = 0;
        if (c->pend.kid) /* left by an error */
            mnode_free(&c->pend);
        return;
    case YEV_SEQ_END:
    case YEV_MAP_END:
        if (r->nctx)
            r->nctx--;
        c = ctx_top(r);
        if (c && c->map)
            c->want_key = !c->want_key;
        return;
    default:
        r->nctx = 0;
        return;
    }
}

/* A scalar in a value position: variables substituted. */
static void value_scalar(struct yread *r)
{
    if (r->no_subst || !vars_subst(r->vars, r->cur.val, r->cur.len, r->g, r->cur.loc))
        return;
    r->cur.val = r->vars->out.p;
    r->cur.len = r->vars->out.len;
    r->cur.loc &= ~(uint64_t)LOC_EXACT; /* its characters are no longer the source's */
}

/* Fetches the next event into r->cur, merge keys resolved. */
static void fetch(struct yread *r)
{
    for (;;) {
        if (r->cur_owned) {
            free(r->cur_owned);
            r->cur_owned = NULL;
        }
        if (r->qh < r->qn) {
            if (r->have_ev) {
                yaml_event_delete(&r->ev);
                r->have_ev = false;
            }
            r->cur_owned = q_pop(r, &r->cur);
            r->have = true;
        } else {
            fetch_raw(r);
        }
        struct mctx *c = ctx_top(r);
        const struct yev *e = &r->cur;
        if (c && c->map && c->want_key && is_merge_key(e->type, e->quoted, e->val, e->len)) {
            uint64_t loc = r->cur.loc;
            struct mnode v;
            if (read_tree(r, &v))
                merge_value(r, &c->pend, &v, loc);
            mnode_free(&v);
            continue;
        }
        if (r->cur.type == YEV_MAP_END && c && c->map && c->pend.n) {
            give_merged(r, c, &r->cur);
            continue;
        }
        if (r->vars && r->cur.type == YEV_SCALAR && !(c && c->map && c->want_key))
            value_scalar(r);
        track(r, &r->cur);
        return;
    }
}

struct yread *yread_new(const char *buf, size_t len, struct ldiag *g, enum wf_format fmt)
{
    struct yread *r = vl_xcalloc(1, sizeof *r);
    r->g = g;
    r->buf = buf;
    r->len = len;
    if (fmt == WF_JSON5)
        r->j5 = j5_new(buf, len, g);
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
    j5_free(r->j5);
    for (uint64_t i = 0; i < r->nan; i++) {
        for (uint64_t k = 0; k < r->an[i].n; k++)
            free(r->an[i].ev[k].val);
        free(r->an[i].ev);
        free(r->an[i].name);
    }
    free(r->an);
    free(r->rs);
    free(r->act);
    for (size_t i = 0; i < r->capctx; i++) {
        free(r->ctx[i].keys);
        mnode_free(&r->ctx[i].pend);
    }
    free(r->ctx);
    for (size_t i = r->qh; i < r->qn; i++)
        free(r->q[i].val);
    free(r->q);
    free(r->cur_owned);
    free(r);
}

void yread_set_vars(struct yread *r, struct vars *v)
{
    r->vars = v && v->v.n ? v : NULL;
}

void yread_subst(struct yread *r, bool on)
{
    r->no_subst = !on;
}

bool yread_placeholder_before(const struct yread *r)
{
    size_t id_end, n = VL_MIN(r->read_to, r->len);
    if (!r->j5) { /* libyaml's marks count characters: where character read_to starts */
        size_t chars = 0, i = 0;
        for (; i < r->len; i++)
            if (((unsigned char)r->buf[i] & 0xc0) != 0x80 && chars++ == r->read_to)
                break;
        n = i;
    }
    for (const char *p = r->buf; (p = memchr(p, '{', n - (size_t)(p - r->buf))); p++)
        if (vars_placeholder(r->buf, n, (size_t)(p - r->buf), &id_end))
            return true;
    return false;
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

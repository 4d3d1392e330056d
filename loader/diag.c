/*
 * diag.c - the loader's diagnostics: errors and warnings with a location,
 * the source line and a caret, like a compiler's (STYLE.md section 4).
 *
 * Lines are found through a table of line starts built on the first
 * diagnostic only, so a valid file never pays for it. Columns are counted in
 * characters, as libyaml counts them. A line longer than EXCERPT bytes (a
 * 100 MB single-line file) is shown as a window around the column.
 *
 * An error repeated for every instance of a parameterized entry (the same
 * location and kind) is kept once, with "(and N more like it)": a typo in a
 * template over a million instances is one message, not a million. At most
 * SPEC_DIAGS_MAX are kept; the rest are counted.
 *
 * Also here: the small containers the loader shares (sbuf, vec).
 */
#include "load_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>

#define EXCERPT 160

void *big_realloc(void *p, size_t bytes)
{
    p = vl_xrealloc(p, bytes);
    /* a first touch costs 10-12 us per 4 KiB page on this VM
     * (research/platform-probe.md): ask for 2 MiB pages where they fit */
    if (bytes >= (4u << 20)) {
        uintptr_t a = ((uintptr_t)p + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
        uintptr_t e = ((uintptr_t)p + bytes) & ~(uintptr_t)((2u << 20) - 1);
        if (e > a)
            madvise((void *)a, e - a, MADV_HUGEPAGE);
    }
    return p;
}

void sbuf__grow(struct sbuf *b, uint64_t extra)
{
    uint64_t need = b->len + extra;
    uint64_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->p = big_realloc(b->p, cap);
    b->cap = cap;
}

void sbuf_reserve(struct sbuf *b, uint64_t total)
{
    if (total > b->cap) {
        b->p = big_realloc(b->p, total);
        b->cap = total;
    }
}

void sbuf_free(struct sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void *vec__grow(struct vec *v)
{
    uint64_t cap = v->cap ? v->cap * 2 : 16;
    v->p = big_realloc(v->p, cap * v->elem);
    v->cap = cap;
    return (char *)v->p + v->n++ * v->elem;
}

void vec_free(struct vec *v)
{
    free(v->p);
    v->p = NULL;
    v->n = v->cap = 0;
}

uint64_t loc_inner(uint64_t loc, const char *s, size_t off)
{
    if (loc == LOC_NONE || !(loc & LOC_EXACT))
        return loc;
    uint64_t chars = 0;
    for (size_t i = 0; i < off && s[i]; i++)
        chars += ((unsigned char)s[i] & 0xc0) != 0x80;
    return loc_make(loc_line(loc), loc_col(loc) + chars, true);
}

uint64_t loc_of_byte(const char *buf, size_t len, size_t off)
{
    if (off > len)
        off = len;
    uint64_t line = 0, col = 0;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            line++;
            col = 0;
        } else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
            col++;
        }
    }
    return loc_make(line, col, false);
}

static void build_lines(struct ldiag *g)
{
    uint64_t n = 1;
    for (const char *p = g->buf, *end = g->buf + g->len; (p = memchr(p, '\n', (size_t)(end - p)));
         p++)
        n++;
    g->line_start = vl_xmalloc(n * sizeof *g->line_start);
    g->line_start[0] = 0;
    uint64_t i = 1;
    for (const char *p = g->buf, *end = g->buf + g->len; (p = memchr(p, '\n', (size_t)(end - p)));
         p++)
        g->line_start[i++] = (uint64_t)(p - g->buf) + 1;
    g->nlines = n;
}

/* The source line of loc (0-based line and char column): an excerpt and
 * the caret's byte offset in it. */
static char *excerpt(struct ldiag *g, uint32_t line, uint32_t col, uint32_t *caret)
{
    if (!g->buf)
        return NULL;
    if (!g->line_start)
        build_lines(g);
    if (line >= g->nlines)
        return NULL;
    const char *s = g->buf + g->line_start[line];
    const char *end = g->buf + g->len;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    if (nl)
        end = nl;
    if (end > s && end[-1] == '\r')
        end--;
    /* the caret's byte position: col characters in */
    const char *c = s;
    for (uint32_t k = 0; k < col && c < end; k++) {
        c++;
        while (c < end && ((unsigned char)*c & 0xc0) == 0x80)
            c++;
    }
    const char *from = s, *to = end;
    bool pre = false, post = false;
    if (to - from > EXCERPT) {
        from = c - EXCERPT / 2 > s ? c - EXCERPT / 2 : s;
        while (from > s && ((unsigned char)*from & 0xc0) == 0x80)
            from--;
        to = from + EXCERPT < end ? from + EXCERPT : end;
        while (to < end && ((unsigned char)*to & 0xc0) == 0x80)
            to++;
        pre = from > s;
        post = to < end;
    }
    struct sbuf b = {0};
    if (pre)
        sbuf_add(&b, "...", 3);
    /* shown on a terminal: bytes that are not UTF-8 or are control
     * characters (but tabs) become '?', one for one, so the caret stays */
    for (const char *q = from; q < to;) {
        unsigned char ch = (unsigned char)*q;
        size_t n = ch < 0x80                  ? 1
                   : ch >= 0xc2 && ch <= 0xdf ? 2
                   : ch >= 0xe0 && ch <= 0xef ? 3
                   : ch >= 0xf0 && ch <= 0xf4 ? 4
                                              : 0;
        bool ok = n && q + n <= to;
        for (size_t k = 1; ok && k < n; k++)
            ok = ((unsigned char)q[k] & 0xc0) == 0x80;
        if (!ok || (ch < 0x20 && ch != '\t') || ch == 0x7f) {
            sbuf_addc(&b, '?');
            q++;
        } else {
            sbuf_add(&b, q, n);
            q += n;
        }
    }
    if (post)
        sbuf_add(&b, "...", 3);
    sbuf_addc(&b, '\0');
    *caret = (uint32_t)((c - from) + (pre ? 3 : 0));
    return b.p;
}

/* Bytes of the UTF-8 character at s (1 for a byte that starts none). */
static size_t u8len(const char *s, const char *end)
{
    unsigned char c = (unsigned char)*s;
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return (size_t)(end - s) < n ? 1 : n;
}

/* Appends s[0..n) to o (no NUL), control characters as '?'. */
static size_t cut_copy(char *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        o[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
    return n;
}

const char *lcutn(struct ldiag *g, const char *s, size_t n)
{
    char *o = g->cut[g->ncut++ % LCUT_RING];
    const char *end = s + n;
    size_t chars = 0, head = 0;
    for (const char *p = s; p < end && chars <= LCUT_CHARS; p += u8len(p, end))
        if (++chars == LCUT_CHARS - 24 + 1)
            head = (size_t)(p - s);
    if (chars <= LCUT_CHARS) {
        o[cut_copy(o, s, n)] = '\0';
        return o;
    }
    /* the first LCUT_CHARS - 24 characters, "...", the last 21 */
    const char *tail = end;
    for (size_t k = 0; k < 21; k++) {
        tail--;
        while (tail > s && ((unsigned char)*tail & 0xc0) == 0x80)
            tail--;
    }
    size_t w = cut_copy(o, s, head);
    memcpy(o + w, "...", 3);
    w += 3;
    w += cut_copy(o + w, tail, (size_t)(end - tail));
    o[w] = '\0';
    return o;
}

static uint64_t dhash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

/* The fold key of a diagnostic: the message's format tells call sites
 * apart, so only repeats of one message at one place fold. */
static uint64_t fold_key(int sev, uint64_t loc, unsigned kind, const char *fmt)
{
    for (const char *f = fmt; *f; f++)
        kind = kind * 31u + (unsigned char)*f;
    uint64_t key = (loc == LOC_NONE ? 0 : (loc & ~(uint64_t)LOC_EXACT)) ^
                   ((uint64_t)kind << 1 | (uint64_t)sev) * 0x9e3779b97f4a7c15ULL;
    return key | 1; /* never 0: 0 marks an empty slot */
}

/* The kept diagnostic key folds into, or UINT32_MAX. */
static uint32_t fold_find(const struct ldiag *g, uint64_t loc, uint64_t key)
{
    if (loc == LOC_NONE || !g->dcap)
        return UINT32_MAX;
    for (uint64_t i = dhash(key) & (g->dcap - 1);; i = (i + 1) & (g->dcap - 1)) {
        if (g->dkey[i] == 0)
            return UINT32_MAX;
        if (g->dkey[i] == key)
            return g->dval[i];
    }
}

bool ldiag_fold(struct ldiag *g, int sev, uint64_t loc, unsigned kind, const char *fmt)
{
    uint32_t into = fold_find(g, loc, fold_key(sev, loc, kind, fmt));
    if (into == UINT32_MAX)
        return false;
    if (sev == SPEC_DIAG_ERROR)
        g->d->nerrors++;
    else
        g->d->nwarnings++;
    g->more[into]++;
    return true;
}

void ldiag_add(struct ldiag *g, int sev, uint64_t loc, unsigned kind, const char *fmt, ...)
{
    struct spec_diags *d = g->d;
    if (sev == SPEC_DIAG_ERROR)
        d->nerrors++;
    else
        d->nwarnings++;
    uint64_t key = fold_key(sev, loc, kind, fmt);
    uint32_t into = fold_find(g, loc, key);
    if (into != UINT32_MAX) {
        g->more[into]++;
        return;
    }
    if (d->n >= SPEC_DIAGS_MAX) {
        d->dropped++;
        return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->v = vl_xrealloc(d->v, d->cap * sizeof *d->v);
        g->more = vl_xrealloc(g->more, d->cap * sizeof *g->more);
    }
    struct spec_diag *x = &d->v[d->n];
    memset(x, 0, sizeof *x);
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&x->msg, fmt, ap) < 0)
        x->msg = vl_xstrdup("(out of memory formatting a message)");
    va_end(ap);
    x->severity = (uint32_t)sev;
    if (loc != LOC_NONE) {
        x->line = loc_line(loc) + 1;
        x->col = loc_col(loc) + 1;
        x->src = excerpt(g, loc_line(loc), loc_col(loc), &x->caret);
    }
    g->more[d->n] = g->seq++; /* sequence number until ldiag_finish */
    if (loc != LOC_NONE) {
        if ((uint64_t)(d->n + 1) * 2 > g->dcap) {
            uint32_t ncap = g->dcap ? g->dcap * 2 : 64;
            uint64_t *nk = vl_xcalloc(ncap, sizeof *nk);
            uint32_t *nv = vl_xcalloc(ncap, sizeof *nv);
            for (uint32_t i = 0; i < g->dcap; i++) {
                if (!g->dkey[i])
                    continue;
                uint64_t j = dhash(g->dkey[i]) & (ncap - 1);
                while (nk[j])
                    j = (j + 1) & (ncap - 1);
                nk[j] = g->dkey[i];
                nv[j] = g->dval[i];
            }
            free(g->dkey);
            free(g->dval);
            g->dkey = nk;
            g->dval = nv;
            g->dcap = ncap;
        }
        uint64_t i = dhash(key) & (g->dcap - 1);
        while (g->dkey[i])
            i = (i + 1) & (g->dcap - 1);
        g->dkey[i] = key;
        g->dval[i] = d->n;
    }
    d->n++;
}

/* During loading more[] holds repeat counts; ordering uses line, col and
 * the order found (kept in a side array). */
struct dsort {
    struct spec_diag d;
    uint64_t more;
    uint32_t seq;
};

static int dcmp(const void *a, const void *b)
{
    const struct dsort *x = a, *y = b;
    if (x->d.line != y->d.line)
        return x->d.line < y->d.line ? -1 : 1;
    if (x->d.col != y->d.col)
        return x->d.col < y->d.col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void ldiag_finish(struct ldiag *g)
{
    struct spec_diags *d = g->d;
    if (!d->n)
        return;
    /* more[] counts folds; the first occurrence's sequence is its index */
    struct dsort *t = vl_xmalloc(d->n * sizeof *t);
    for (uint32_t i = 0; i < d->n; i++) {
        t[i].d = d->v[i];
        t[i].more = 0;
        t[i].seq = i;
    }
    /* folded counts: more[i] started at the sequence number, so subtract */
    for (uint32_t i = 0; i < d->n; i++)
        t[i].more = g->more[i] - (uint64_t)i;
    qsort(t, d->n, sizeof *t, dcmp);
    for (uint32_t i = 0; i < d->n; i++) {
        d->v[i] = t[i].d;
        if (t[i].more) {
            char *m = vl_xasprintf("%s (and %" PRIu64 " more like it)", d->v[i].msg, t[i].more);
            free(d->v[i].msg);
            d->v[i].msg = m;
        }
    }
    free(t);
}

void ldiag_reset(struct ldiag *g)
{
    struct spec_diags *d = g->d;
    for (uint32_t i = 0; i < d->n; i++) {
        free(d->v[i].msg);
        free(d->v[i].src);
    }
    d->n = 0;
    d->nerrors = d->nwarnings = d->dropped = 0;
    if (g->dcap)
        memset(g->dkey, 0, g->dcap * sizeof *g->dkey);
    g->seq = 0;
}

void ldiag_fini(struct ldiag *g)
{
    free(g->line_start);
    free(g->dkey);
    free(g->dval);
    free(g->more);
    memset(g, 0, sizeof *g);
}

void spec_diags_free(struct spec_diags *d)
{
    if (!d)
        return;
    for (uint32_t i = 0; i < d->n; i++) {
        free(d->v[i].msg);
        free(d->v[i].src);
    }
    free(d->v);
    free(d->path);
    memset(d, 0, sizeof *d);
}

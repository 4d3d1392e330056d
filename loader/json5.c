/*
 * json5.c - a JSON5 reader that gives the same events as libyaml does for
 * YAML (struct yev), so one parser (parse.c) reads YAML, JSON and JSON5.
 *
 * JSON5 (json5.org, spec 1.0.0) is JSON plus what people write by hand:
 * comments (// and / * * /), trailing commas, unquoted keys (identifiers),
 * single-quoted strings, escaped line breaks in strings, hexadecimal
 * numbers, a leading '+' or '.', a trailing '.', Infinity and NaN. torc's
 * .json5 examples use comments, trailing commas and unquoted keys.
 *
 * The reader is a state machine over the buffer with an explicit stack of
 * open containers (no recursion: nesting is capped at MAX_DEPTH only so a
 * hostile file cannot make the parser's per-level state grow without
 * bound). Each call gives one event; a string's value lives in a scratch
 * buffer until the next call, as libyaml's does until its event is freed.
 *
 * What the events carry, so that the parser sees the same as for YAML:
 *   - strings and unquoted keys are quoted scalars (never a number, a
 *     boolean or null);
 *   - numbers, true, false, null, Infinity and NaN are plain scalars; a
 *     number's text is rewritten as JSON writes it (0x1F -> 31, +1 -> 1,
 *     .5 -> 0.5, 5. -> 5.0), because the parser reads sizes and counts and
 *     writes user_data back out as JSON;
 *   - locations are 0-based line and column in characters (a line ends at
 *     '\n'); a string written without escapes on one line is LOC_EXACT with
 *     its column at the first character inside the quotes.
 *
 * The first syntax error is reported at its line and column and ends the
 * stream (YEV_ERR), as a YAML syntax error does: nothing after it is
 * checked.
 */
#include "load_int.h"

#include <inttypes.h>
#include <stdio.h>

#define MAX_DEPTH 100000

enum j5_state {
    J_START,        /* before the document */
    J_VALUE,        /* a value must come */
    J_KEY_OR_END,   /* in an object: a key, or '}' */
    J_VALUE_OR_END, /* in an array: a value, or ']' */
    J_AFTER,        /* a value ended: ',' or the container's end */
    J_DOC_END,      /* the top value ended: only comments and blanks may follow */
    J_END,          /* the stream end was given */
    J_FAILED,       /* a syntax error was reported */
};

struct j5 {
    const char *start, *p, *end; /* the input, p at the next unread byte */
    uint64_t line, col;          /* of p: 0-based, col in characters */
    struct ldiag *g;
    uint8_t state;
    struct sbuf stack; /* open containers: '{' or '[' */
    struct sbuf val;   /* the current scalar's text, NUL-terminated */
};

struct j5 *j5_new(const char *buf, size_t len, struct ldiag *g)
{
    struct j5 *j = vl_xcalloc(1, sizeof *j);
    j->start = j->p = buf;
    j->end = buf + len;
    j->g = g;
    return j;
}

size_t j5_offset(const struct j5 *j)
{
    return (size_t)(j->p - j->start);
}

void j5_free(struct j5 *j)
{
    if (!j)
        return;
    sbuf_free(&j->stack);
    sbuf_free(&j->val);
    free(j);
}

static uint64_t here(const struct j5 *j)
{
    return loc_make(j->line, j->col, false);
}

/* Consumes n bytes (which hold no '\n' unless n == 1). */
static void adv(struct j5 *j, size_t n)
{
    for (size_t i = 0; i < n; i++, j->p++) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '\n') {
            j->line++;
            j->col = 0;
        } else if ((c & 0xc0) != 0x80) {
            j->col++;
        }
    }
}

static void fail(struct j5 *j, uint64_t loc, const char *fmt, const char *arg)
{
    if (j->state == J_FAILED)
        return;
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg);
    lerr(j->g, loc, "JSON5 syntax error: %s", msg);
    j->state = J_FAILED;
}

/* What the next character is, for messages: "'x'", "a line break", ... */
static const char *what_here(const struct j5 *j, char *buf, size_t n)
{
    if (j->p >= j->end)
        return "the end of the file";
    unsigned char c = (unsigned char)*j->p;
    if (c == '\n' || c == '\r')
        return "a line break";
    if (c < 0x20 || c == 0x7f) {
        snprintf(buf, n, "the control character 0x%02x", c);
        return buf;
    }
    size_t l = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (j->p + l > j->end)
        l = (size_t)(j->end - j->p);
    snprintf(buf, n, "'%.*s'", (int)l, j->p);
    return buf;
}

/* Bytes of the JSON5 white space or line terminator at p, or 0. */
static size_t ws_len(const char *p, const char *end)
{
    unsigned char c = (unsigned char)*p;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
        return 1;
    if (c < 0xc2 || end - p < 2)
        return 0;
    unsigned char d = (unsigned char)p[1];
    if (c == 0xc2 && d == 0xa0) /* U+00A0 */
        return 2;
    if (end - p < 3)
        return 0;
    unsigned char e = (unsigned char)p[2];
    if (c == 0xef && d == 0xbb && e == 0xbf) /* U+FEFF */
        return 3;
    if (c == 0xe1 && d == 0x9a && e == 0x80) /* U+1680 */
        return 3;
    if (c == 0xe2 && d == 0x80 && ((e >= 0x80 && e <= 0x8a) || e == 0xa8 || e == 0xa9 || e == 0xaf))
        return 3;                            /* U+2000..200A, U+2028, U+2029, U+202F */
    if (c == 0xe2 && d == 0x81 && e == 0x9f) /* U+205F */
        return 3;
    if (c == 0xe3 && d == 0x80 && e == 0x80) /* U+3000 */
        return 3;
    return 0;
}

/* Bytes of the line terminator at p (\n, \r\n, \r, U+2028, U+2029), or 0. */
static size_t eol_len(const char *p, const char *end)
{
    if (*p == '\n')
        return 1;
    if (*p == '\r')
        return end - p > 1 && p[1] == '\n' ? 2 : 1;
    if (end - p >= 3 && (unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x80 &&
        ((unsigned char)p[2] == 0xa8 || (unsigned char)p[2] == 0xa9))
        return 3;
    return 0;
}

/* Skips blanks and comments; false after an unterminated comment. */
static bool skip_space(struct j5 *j)
{
    while (j->p < j->end) {
        size_t n = ws_len(j->p, j->end);
        if (n) {
            adv(j, n);
            continue;
        }
        if (*j->p != '/' || j->end - j->p < 2)
            return true;
        if (j->p[1] == '/') {
            while (j->p < j->end && !eol_len(j->p, j->end))
                adv(j, 1);
            continue;
        }
        if (j->p[1] != '*')
            return true;
        uint64_t at = here(j);
        adv(j, 2);
        for (;;) {
            if (j->p >= j->end) {
                fail(j, at, "%s", "this comment is not closed with */");
                return false;
            }
            if (*j->p == '*' && j->end - j->p >= 2 && j->p[1] == '/') {
                adv(j, 2);
                break;
            }
            adv(j, 1);
        }
    }
    return true;
}

static bool id_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c >= 0x80;
}

static bool id_part(unsigned char c)
{
    return id_start(c) || (c >= '0' && c <= '9');
}

static void put_utf8(struct sbuf *b, uint32_t cp)
{
    if (cp < 0x80) {
        sbuf_addc(b, (char)cp);
    } else if (cp < 0x800) {
        sbuf_addc(b, (char)(0xc0 | cp >> 6));
        sbuf_addc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        sbuf_addc(b, (char)(0xe0 | cp >> 12));
        sbuf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        sbuf_addc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        sbuf_addc(b, (char)(0xf0 | cp >> 18));
        sbuf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        sbuf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        sbuf_addc(b, (char)(0x80 | (cp & 0x3f)));
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* n hex digits at p into *v; false if they are not there. */
static bool hex_n(const struct j5 *j, const char *p, int n, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        int h = p + i < j->end ? hexval(p[i]) : -1;
        if (h < 0)
            return false;
        *v = *v << 4 | (uint32_t)h;
    }
    return true;
}

/* One escape sequence after the backslash (j->p at the backslash), its
 * character appended to j->val. False after reporting an error. */
static bool read_escape(struct j5 *j, bool *nul)
{
    uint64_t at = here(j);
    adv(j, 1);
    if (j->p >= j->end) {
        fail(j, at, "%s", "the string is not closed");
        return false;
    }
    size_t eol = eol_len(j->p, j->end);
    if (eol) { /* a line continuation: nothing */
        adv(j, eol);
        return true;
    }
    char c = *j->p;
    static const char from[] = "bfnrtv'\"\\", to[] = "\b\f\n\r\t\v'\"\\";
    const char *k = strchr(from, c);
    if (k && c) {
        sbuf_addc(&j->val, to[k - from]);
        adv(j, 1);
        return true;
    }
    uint32_t cp;
    if (c == '0' && !(j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')) {
        *nul = true;
        sbuf_addc(&j->val, '\0');
        adv(j, 1);
        return true;
    }
    if (c >= '0' && c <= '9') {
        fail(j, at, "%s", "a digit cannot be escaped (write \\x0N or \\u000N)");
        return false;
    }
    if (c == 'x') {
        if (!hex_n(j, j->p + 1, 2, &cp)) {
            fail(j, at, "%s", "\\x needs two hexadecimal digits");
            return false;
        }
        adv(j, 3);
    } else if (c == 'u') {
        if (!hex_n(j, j->p + 1, 4, &cp)) {
            fail(j, at, "%s", "\\u needs four hexadecimal digits");
            return false;
        }
        adv(j, 5);
        if (cp >= 0xd800 && cp <= 0xdbff) { /* a high surrogate: its low half must follow */
            uint32_t lo;
            if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
                hex_n(j, j->p + 2, 4, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                adv(j, 6);
            } else {
                fail(j, at, "%s", "a \\u surrogate (D800-DBFF) must be followed by its low half");
                return false;
            }
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            fail(j, at, "%s", "a low \\u surrogate (DC00-DFFF) without its high half");
            return false;
        }
    } else {
        /* any other character stands for itself (\a is a) */
        unsigned char u = (unsigned char)c;
        size_t l = u < 0x80 ? 1 : u < 0xe0 ? 2 : u < 0xf0 ? 3 : 4;
        sbuf_add(&j->val, j->p, l);
        adv(j, l);
        return true;
    }
    if (cp == 0)
        *nul = true;
    put_utf8(&j->val, cp);
    return true;
}

/* A quoted string (j->p at the quote) into j->val; fills e. */
static bool read_string(struct j5 *j, struct yev *e)
{
    char q = *j->p;
    uint64_t start = here(j);
    uint64_t line0 = j->line;
    bool exact = true, nul = false;
    adv(j, 1);
    uint64_t content = here(j);
    j->val.len = 0;
    for (;;) {
        if (j->p >= j->end) {
            fail(j, start, "%s", "the string is not closed");
            return false;
        }
        char c = *j->p;
        if (c == q) {
            adv(j, 1);
            break;
        }
        if (c == '\\') {
            exact = false;
            if (!read_escape(j, &nul))
                return false;
            continue;
        }
        if (c == '\n' || c == '\r') {
            fail(j, here(j), "%s",
                 "a line break inside a string: end the line with \\ or write \\n");
            return false;
        }
        const char *s = j->p;
        while (j->p < j->end && *j->p != q && *j->p != '\\' && *j->p != '\n' && *j->p != '\r') {
            nul |= *j->p == '\0';
            adv(j, 1);
        }
        sbuf_add(&j->val, s, (size_t)(j->p - s));
    }
    sbuf_addc(&j->val, '\0');
    e->type = YEV_SCALAR;
    e->quoted = 1;
    e->val = j->val.p;
    e->len = j->val.len - 1;
    e->loc = exact && j->line == line0 ? (content | LOC_EXACT) : start;
    if (nul) {
        lerr(j->g, start, "this string contains a NUL character (\\0)");
        e->len = strlen(e->val);
    }
    return true;
}

/* An unquoted key: an identifier. */
static bool read_ident(struct j5 *j, struct yev *e)
{
    uint64_t start = here(j);
    const char *s = j->p;
    while (j->p < j->end && id_part((unsigned char)*j->p))
        adv(j, 1);
    if (j->p < j->end && *j->p == '\\') {
        fail(j, here(j), "%s", "an escape in an unquoted key: put the key in quotes");
        return false;
    }
    j->val.len = 0;
    sbuf_addz(&j->val, s, (size_t)(j->p - s));
    e->type = YEV_SCALAR;
    e->quoted = 1;
    e->val = j->val.p;
    e->len = j->val.len - 1;
    e->loc = start | LOC_EXACT;
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A number, or true / false / null / Infinity / NaN (j->p at its first
 * character), as a plain scalar in JSON's spelling. */
static bool read_literal(struct j5 *j, struct yev *e)
{
    uint64_t start = here(j);
    const char *s = j->p, *p = s;
    j->val.len = 0;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    const char *body = p;
    while (p < j->end && (id_part((unsigned char)*p) || *p == '.' ||
                          ((*p == '+' || *p == '-') && (p[-1] == 'e' || p[-1] == 'E'))))
        p++;
    size_t n = (size_t)(p - body);
    char shown[64];
    snprintf(shown, sizeof shown, "%.*s", (int)VL_MIN((size_t)(p - s), (size_t)40), s);
    if (!n) {
        char w[48];
        j->p = body; /* for the message: what follows the sign */
        const char *what = what_here(j, w, sizeof w);
        j->p = s;
        fail(j, start, "expected a value here, not %s", body == s ? what : shown);
        return false;
    }
    bool word = !is_digit(*body) && *body != '.';
    if (word) {
        bool sign_ok =
            (n == 8 && !memcmp(body, "Infinity", 8)) || (n == 3 && !memcmp(body, "NaN", 3));
        bool plain = (n == 4 && !memcmp(body, "true", 4)) ||
                     (n == 5 && !memcmp(body, "false", 5)) || (n == 4 && !memcmp(body, "null", 4));
        if (!(sign_ok || (plain && body == s))) {
            fail(j, start,
                 "'%s' is not a JSON5 value: a string needs quotes, a number digits, and only "
                 "true, false, null, Infinity and NaN are written bare",
                 shown);
            return false;
        }
        sbuf_add(&j->val, neg ? "-" : "", neg);
        sbuf_add(&j->val, body, n);
    } else if (n > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
        uint64_t v = 0;
        for (const char *q = body + 2; q < p; q++) {
            int h = hexval(*q);
            if (h < 0 || v >> 60) {
                fail(j, start,
                     h < 0 ? "'%s' is not a hexadecimal number" : "'%s' does not fit in 64 bits",
                     shown);
                return false;
            }
            v = v << 4 | (uint64_t)h;
        }
        char t[32];
        int tl = snprintf(t, sizeof t, "%s%" PRIu64, neg && v ? "-" : "", v);
        sbuf_add(&j->val, t, (size_t)tl);
    } else {
        /* [digits][.digits][(e|E)[+-]digits], no leading zero, some digit */
        const char *q = body;
        size_t int_digits = 0, frac_digits = 0;
        while (q < p && is_digit(*q))
            q++, int_digits++;
        bool dot = q < p && *q == '.';
        const char *dotp = q;
        if (dot) {
            q++;
            while (q < p && is_digit(*q))
                q++, frac_digits++;
        }
        bool ok = int_digits + frac_digits > 0 && !(int_digits > 1 && body[0] == '0');
        const char *exp = q;
        if (ok && q < p && (*q == 'e' || *q == 'E')) {
            q++;
            if (q < p && (*q == '+' || *q == '-'))
                q++;
            size_t ed = 0;
            while (q < p && is_digit(*q))
                q++, ed++;
            ok = ed > 0;
        }
        if (!ok || q != p) {
            fail(j, start, "'%s' is not a number", shown);
            return false;
        }
        if (neg)
            sbuf_addc(&j->val, '-');
        if (!int_digits)
            sbuf_addc(&j->val, '0');
        sbuf_add(&j->val, body, (size_t)(exp - body));
        if (dot && !frac_digits)
            sbuf_addc(&j->val, '0');
        (void)dotp;
        sbuf_add(&j->val, exp, (size_t)(p - exp));
    }
    sbuf_addc(&j->val, '\0');
    adv(j, (size_t)(p - s));
    e->type = YEV_SCALAR;
    e->quoted = 0;
    e->val = j->val.p;
    e->len = j->val.len - 1;
    e->loc = start;
    return true;
}

static void open_container(struct j5 *j, struct yev *e, char c)
{
    e->type = c == '{' ? YEV_MAP : YEV_SEQ;
    e->loc = here(j);
    if (j->stack.len == MAX_DEPTH) {
        fail(j, e->loc, "%s", "the file nests deeper than 100000 levels");
        e->type = YEV_ERR;
        return;
    }
    sbuf_addc(&j->stack, c);
    adv(j, 1);
    j->state = c == '{' ? J_KEY_OR_END : J_VALUE_OR_END;
}

static void close_container(struct j5 *j, struct yev *e)
{
    e->type = j->stack.p[j->stack.len - 1] == '{' ? YEV_MAP_END : YEV_SEQ_END;
    e->loc = here(j);
    j->stack.len--;
    adv(j, 1);
    j->state = j->stack.len ? J_AFTER : J_DOC_END;
}

/* A value at j->p: a container start or a scalar. */
static void read_value(struct j5 *j, struct yev *e)
{
    char c = *j->p;
    if (c == '{' || c == '[') {
        open_container(j, e, c);
        return;
    }
    bool ok = c == '"' || c == '\'' ? read_string(j, e) : read_literal(j, e);
    if (!ok) {
        e->type = YEV_ERR;
        return;
    }
    j->state = j->stack.len ? J_AFTER : J_DOC_END;
}

/* A key of an object and its ':'. */
static void read_key(struct j5 *j, struct yev *e)
{
    char c = *j->p;
    char w[48];
    bool ok;
    if (c == '"' || c == '\'') {
        ok = read_string(j, e);
    } else if (id_start((unsigned char)c) && c != '\\') {
        ok = read_ident(j, e);
    } else {
        fail(j, here(j), "expected a key or '}' here, not %s", what_here(j, w, sizeof w));
        ok = false;
    }
    if (ok && !skip_space(j))
        ok = false;
    if (ok && (j->p >= j->end || *j->p != ':')) {
        fail(j, here(j), "expected ':' after the key, not %s", what_here(j, w, sizeof w));
        ok = false;
    }
    if (!ok) {
        e->type = YEV_ERR;
        return;
    }
    adv(j, 1);
    j->state = J_VALUE;
}

void j5_next(struct j5 *j, struct yev *e)
{
    char w[48];
    memset(e, 0, sizeof *e);
    if (j->state == J_FAILED) {
        e->type = YEV_ERR;
        return;
    }
    if (j->state == J_END) {
        e->type = YEV_END;
        return;
    }
    if (!skip_space(j)) {
        e->type = YEV_ERR;
        return;
    }
    e->loc = here(j);
    bool at_end = j->p >= j->end;
    switch (j->state) {
    case J_START:
        if (at_end) { /* only blanks and comments: an empty stream */
            j->state = J_END;
            e->type = YEV_END;
            return;
        }
        e->type = YEV_DOC;
        j->state = J_VALUE;
        return;
    case J_VALUE:
    case J_VALUE_OR_END:
        if (at_end) {
            fail(j, e->loc, "%s",
                 j->stack.len ? "the file ends inside a list or object" : "expected a value");
            break;
        }
        if (j->state == J_VALUE_OR_END && *j->p == ']') {
            close_container(j, e);
            return;
        }
        read_value(j, e);
        return;
    case J_KEY_OR_END:
        if (at_end) {
            fail(j, e->loc, "%s", "the file ends inside an object (a '}' is missing)");
            break;
        }
        if (*j->p == '}') {
            close_container(j, e);
            return;
        }
        read_key(j, e);
        return;
    case J_AFTER: {
        char top = j->stack.p[j->stack.len - 1];
        char close = top == '{' ? '}' : ']';
        if (!at_end && *j->p == ',') {
            adv(j, 1);
            j->state = top == '{' ? J_KEY_OR_END : J_VALUE_OR_END;
            j5_next(j, e); /* one level: the next state never comes back here */
            return;
        }
        if (!at_end && *j->p == close) {
            close_container(j, e);
            return;
        }
        if (at_end)
            fail(j, e->loc,
                 top == '{' ? "the file ends inside an object (a '%s' is missing)"
                            : "the file ends inside a list (a '%s' is missing)",
                 top == '{' ? "}" : "]");
        else if (top == '{')
            fail(j, e->loc, "expected ',' or '}' here, not %s", what_here(j, w, sizeof w));
        else
            fail(j, e->loc, "expected ',' or ']' here, not %s", what_here(j, w, sizeof w));
        break;
    }
    case J_DOC_END:
        if (!at_end) {
            fail(j, e->loc, "more after the end of the document: %s", what_here(j, w, sizeof w));
            break;
        }
        e->type = YEV_DOC_END;
        j->state = J_END;
        return;
    default:
        break;
    }
    e->type = YEV_ERR;
}

/*
 * value.c - parameter values and how they print.
 *
 * A parameter is a formula, never a materialized list: "0:9999999" is
 * (a = 0, s = 1, n = 10^7), 24 bytes whatever n is. Only explicit lists
 * ("[a,b]") keep their values.
 *
 * Float ranges are a + i*s without accumulated rounding. When the bounds and
 * the step are written as plain decimals ("0.0:1.0:0.1") they are scaled to
 * integers (A + i*S) / 10^d: both operands are exact doubles below 2^53 and
 * IEEE division rounds correctly, so the i-th value is the double nearest
 * the decimal a + i*s: 0.1 * 3 prints as 0.3, not 0.30000000000000004, and
 * the count (B - A) / S + 1 is exact. Otherwise (exponents, more than 15
 * decimals) it is a + i*s in doubles and the count is floor((b-a)/s + 1e-9)+1.
 *
 * Formatting follows Python's format-spec mini-language for the subset SPEC
 * names: [[fill]align][sign][0][width][.precision][type], types d f e g s.
 * A plain float prints in its shortest round-trip form and an integral one
 * without ".0" (SPEC.md: torc prints 1.0 as 1).
 */
#include "load_int.h"

#include <errno.h>
#include <inttypes.h>
#include <float.h>
#include <math.h>
#include <stdio.h>

/* A decimal integer, whole string: 0, -EINVAL or -ERANGE. */
static int parse_i64(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    if (*p < '0' || *p > '9')
        return -EINVAL;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p)
        return -EINVAL;
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
        return -ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* A finite double, whole string; also says how many decimals a plain
 * decimal has (-1 if written with an exponent or otherwise). */
static bool parse_f64(const char *s, double *out, int *decimals)
{
    char *end;
    errno = 0;
    if (!*s || strchr(s, 'x') || strchr(s, 'X') || strpbrk(s, "nNiI"))
        return false; /* no hex floats, nan or inf */
    double v = strtod(s, &end);
    if (*end || end == s || !isfinite(v))
        return false;
    *out = v;
    int dec = -1;
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    const char *q = p;
    while (*q >= '0' && *q <= '9')
        q++;
    if (q > p && !*q)
        dec = 0;
    else if (*q == '.') {
        const char *r = q + 1;
        while (*r >= '0' && *r <= '9')
            r++;
        if (!*r && (q > p || r > q + 1))
            dec = (int)(r - q - 1);
    }
    *decimals = dec;
    return true;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

void param_add_value(struct raw *R, struct param *p, const char *item, bool quoted)
{
    struct pval *v = vec_push(&R->vals);
    memset(v, 0, sizeof *v);
    int dec;
    if (!quoted && parse_i64(item, &v->i) == 0) {
        v->type = VT_INT;
    } else if (!quoted && parse_f64(item, &v->f, &dec)) {
        v->type = VT_FLT;
    } else {
        v->type = VT_STR;
        v->s = sbuf_addz(&R->pool, item, strlen(item));
    }
    p->types |= v->type;
    p->n++;
}

static bool parse_list(struct raw *R, struct ldiag *g, struct param *p, char *t)
{
    p->kind = PK_LIST;
    p->first = R->vals.n;
    char *s = t + 1;
    s[strlen(s) - 1] = '\0'; /* the ']' */
    if (!*trim(s)) {
        lerr(g, p->loc, "parameter '%s': the list is empty", raw_str(R, p->name));
        return false;
    }
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        char *item = s;
        bool quoted = false;
        if (*s == '\'' || *s == '"') {
            char q = *s;
            char *close = strchr(s + 1, q);
            if (!close) {
                lerr(g, p->loc, "parameter '%s': unterminated quote in the list",
                     raw_str(R, p->name));
                return false;
            }
            item = s + 1;
            *close = '\0';
            s = close + 1;
            quoted = true;
            while (*s == ' ' || *s == '\t')
                s++;
            if (*s && *s != ',') {
                lerr(g, p->loc, "parameter '%s': expected ',' after a quoted list item",
                     raw_str(R, p->name));
                return false;
            }
        } else {
            s += strcspn(s, ",");
        }
        bool last = *s == '\0';
        *s = '\0';
        if (!quoted)
            item = trim(item);
        char *br = quoted ? NULL : strpbrk(item, "[]");
        if (br) { /* "[1,2]]": a stray bracket, not the value "2]" */
            lerr(g, p->loc,
                 "parameter '%s': the list item '%s' holds a stray '%c'; a list is [a, b, c], "
                 "and an item with a bracket is quoted: ['a]', b]",
                 lcut(g, raw_str(R, p->name)), lcut(g, item), *br);
            return false;
        }
        if (!quoted && !*item) {
            lerr(g, p->loc, "parameter '%s': the list has an empty item", raw_str(R, p->name));
            return false;
        }
        if (p->n == SPEC_MAX_JOBS) {
            lerr(g, p->loc, "parameter '%s': more than %u values", raw_str(R, p->name),
                 SPEC_MAX_JOBS);
            return false;
        }
        param_add_value(R, p, item, quoted);
        if (last)
            break;
        s++;
    }
    return true;
}

static bool parse_range(struct raw *R, struct ldiag *g, struct param *p, char *t)
{
    const char *pname = raw_str(R, p->name);
    char *part[3];
    int np = 0;
    char *s = t;
    int colons = 0;
    for (const char *c = t; (c = strchr(c, ':')); c++)
        colons++;
    if (colons > 2) { /* before t is split, so the message shows all of it */
        lerr(g, p->loc,
             "parameter '%s': malformed range '%s': expected start:end or start:end:step", pname,
             lcut(g, t));
        return false;
    }
    for (;;) {
        part[np++] = s;
        char *c = strchr(s, ':');
        if (!c)
            break;
        *c = '\0';
        s = c + 1;
    }
    if (np < 2) {
        lerr(g, p->loc, "parameter '%s': malformed range", pname);
        return false;
    }
    for (int i = 0; i < np; i++)
        part[i] = trim(part[i]);
    char shown[LCUT_BYTES]; /* the range as written, cut for messages */
    {
        struct sbuf b = {0};
        for (int i = 0; i < np; i++) {
            if (i)
                sbuf_addc(&b, ':');
            sbuf_add(&b, part[i], strlen(part[i]));
        }
        snprintf(shown, sizeof shown, "%s", lcutn(g, b.p ? b.p : "", b.len));
        sbuf_free(&b);
    }
    int64_t iv[3] = {0, 0, 1};
    bool ints = true;
    for (int i = 0; i < np; i++) {
        int rc = parse_i64(part[i], &iv[i]);
        if (rc == -ERANGE) {
            lerr(g, p->loc,
                 "parameter '%s': integer overflow in range '%s': '%s' does not fit in 64 bits",
                 pname, shown, lcut(g, part[i]));
            return false;
        }
        if (rc)
            ints = false;
    }
    if (ints) {
        if (iv[2] <= 0) {
            lerr(g, p->loc, "parameter '%s': range '%s' needs a step above 0", pname, shown);
            return false;
        }
        if (iv[0] > iv[1]) {
            lerr(g, p->loc, "parameter '%s': range '%s' is empty (start above end)", pname, shown);
            return false;
        }
        unsigned __int128 n = ((unsigned __int128)((__int128)iv[1] - iv[0])) / (uint64_t)iv[2] + 1;
        if (n > SPEC_MAX_JOBS) {
            lerr(g, p->loc,
                 "parameter '%s': range '%s' has %" PRIu64 " values, more than %u (2^32 - 2)",
                 pname, shown, (uint64_t)n, SPEC_MAX_JOBS);
            return false;
        }
        p->kind = PK_INT;
        p->types = VT_INT;
        p->a = iv[0];
        p->s = iv[2];
        p->n = (uint32_t)n;
        return true;
    }
    double fv[3] = {0, 0, 1};
    int dec[3] = {0, 0, 0};
    for (int i = 0; i < np; i++) {
        if (!parse_f64(part[i], &fv[i], &dec[i])) {
            lerr(g, p->loc, "parameter '%s': malformed range '%s': '%s' is not a number", pname,
                 shown, lcut(g, part[i]));
            return false;
        }
    }
    if (!(fv[2] > 0)) {
        lerr(g, p->loc, "parameter '%s': range '%s' needs a step above 0", pname, shown);
        return false;
    }
    if (fv[0] > fv[1]) {
        lerr(g, p->loc, "parameter '%s': range '%s' is empty (start above end)", pname, shown);
        return false;
    }
    int d = VL_MAX(VL_MAX(dec[0], dec[1]), dec[2]);
    bool plain = dec[0] >= 0 && dec[1] >= 0 && dec[2] >= 0 && d <= 15;
    double scale = plain ? pow(10, d) : 1;
    if (plain && fabs(fv[0]) * scale < 9e15 && fabs(fv[1]) * scale < 9e15 && fv[2] * scale < 9e15) {
        int64_t A = llround(fv[0] * scale), B = llround(fv[1] * scale), S = llround(fv[2] * scale);
        if (S <= 0)
            S = 1;
        uint64_t n = (uint64_t)(B - A) / (uint64_t)S + 1;
        if (n > SPEC_MAX_JOBS) {
            lerr(g, p->loc,
                 "parameter '%s': range '%s' has %" PRIu64 " values, more than %u (2^32 - 2)",
                 pname, shown, n, SPEC_MAX_JOBS);
            return false;
        }
        p->kind = PK_DEC;
        p->a = A;
        p->s = S;
        p->scale = scale;
        p->n = (uint32_t)n;
    } else {
        /* value i is a + i*s (param_value): it is in when i*s is not above
         * b - a by more than the doubles' rounding of a, b and s (and less
         * than half a step) */
        double span = fv[1] - fv[0];
        double n = floor(span / fv[2]) + 1;
        if (!(n <= (double)SPEC_MAX_JOBS + 1)) {
            lerr(g, p->loc, "parameter '%s': range '%s' has %.0f values, more than %u (2^32 - 2)",
                 pname, shown, n, SPEC_MAX_JOBS);
            return false;
        }
        double tol = fmin(8 * DBL_EPSILON * fmax(fmax(fabs(fv[0]), fabs(fv[1])), fv[2]), fv[2] / 2);
        for (int k = 0; k < 2 && n > 1 && (n - 1) * fv[2] > span + tol; k++)
            n--;
        for (int k = 0; k < 2 && n * fv[2] <= span + tol; k++)
            n++;
        if (n > (double)SPEC_MAX_JOBS) {
            lerr(g, p->loc, "parameter '%s': range '%s' has %.0f values, more than %u (2^32 - 2)",
                 pname, shown, n, SPEC_MAX_JOBS);
            return false;
        }
        p->kind = PK_FLT;
        p->fa = fv[0];
        p->fs = fv[2];
        p->n = (uint32_t)n;
    }
    p->types = VT_FLT;
    return true;
}

bool param_parse(struct raw *R, struct ldiag *g, struct param *p, const char *text, bool quoted)
{
    char *copy = vl_xstrdup(text);
    char *t = trim(copy);
    bool ok;
    p->n = 0;
    p->types = 0;
    size_t n = strlen(t);
    if (!quoted && n == 0) {
        lerr(g, p->loc, "parameter '%s' has no value", raw_str(R, p->name));
        ok = false;
    } else if (t[0] == '[') {
        /* a list, or a mistake: "[0.1, 0.01" is not one value */
        if (n >= 2 && t[n - 1] == ']') {
            ok = parse_list(R, g, p, t);
        } else {
            lerr(g, p->loc, "parameter '%s': '%s' starts a list but does not end with ']'",
                 lcut(g, raw_str(R, p->name)), lcut(g, t));
            ok = false;
        }
    } else if (strchr(t, ':')) {
        ok = parse_range(R, g, p, t);
    } else {
        p->kind = PK_LIST;
        p->first = R->vals.n;
        param_add_value(R, p, t, false);
        ok = true;
    }
    free(copy);
    return ok;
}

void param_value(const struct raw *R, const struct param *p, uint32_t i, struct val *v)
{
    switch (p->kind) {
    case PK_INT:
        v->type = VT_INT;
        /* in uint64 so a + i*s cannot overflow midway (the result fits) */
        v->i = (int64_t)((uint64_t)p->a + (uint64_t)i * (uint64_t)p->s);
        return;
    case PK_DEC:
        v->type = VT_FLT;
        v->f = (double)(p->a + (int64_t)i * p->s) / p->scale;
        return;
    case PK_FLT:
        v->type = VT_FLT;
        v->f = p->fa + (double)i * p->fs;
        return;
    default: {
        const struct pval *x = &VEC_AT(R->vals, struct pval, p->first + i);
        v->type = x->type;
        v->i = x->i;
        v->f = x->f;
        v->s = x->type == VT_STR ? raw_str(R, x->s) : NULL;
        return;
    }
    }
}

bool fspec_parse(const char *s, size_t n, struct fspec *fs, const char **why)
{
    memset(fs, 0, sizeof *fs);
    fs->fill = ' ';
    fs->prec = -1;
    size_t i = 0;
    if (n >= 2 && strchr("<>^=", s[1]) && s[1]) {
        fs->fill = s[0];
        fs->align = s[1];
        i = 2;
    } else if (n >= 1 && strchr("<>^=", s[0]) && s[0]) {
        fs->align = s[0];
        i = 1;
    }
    if (i < n && (s[i] == '+' || s[i] == '-' || s[i] == ' '))
        fs->sign = s[i++];
    if (i < n && s[i] == '#') {
        *why = "the alternate form '#' is not supported";
        return false;
    }
    if (i < n && s[i] == '0') {
        fs->zero = true;
        i++;
    }
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        fs->width = fs->width * 10 + (s[i++] - '0');
        if (fs->width > 1000) {
            *why = "the width is above 1000";
            return false;
        }
    }
    if (i < n && (s[i] == ',' || s[i] == '_')) {
        *why = "digit grouping (',' or '_') is not supported";
        return false;
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i == n || s[i] < '0' || s[i] > '9') {
            *why = "'.' needs a precision after it";
            return false;
        }
        fs->prec = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            fs->prec = fs->prec * 10 + (s[i++] - '0');
            if (fs->prec > 100) {
                *why = "the precision is above 100";
                return false;
            }
        }
    }
    if (i < n) {
        if (!strchr("dfegs", s[i]) || !s[i]) {
            *why = "unknown type (volley knows d, f, e, g and s)";
            return false;
        }
        fs->type = s[i++];
    }
    if (i != n) {
        *why = "unexpected text after the type";
        return false;
    }
    return true;
}

bool fspec_fits(const struct fspec *fs, uint8_t types, const char **why)
{
    switch (fs->type) {
    case 'd':
        if (types & ~VT_INT) {
            *why = "'d' formats integers only";
            return false;
        }
        break;
    case 'f':
    case 'e':
    case 'g':
        if (types & VT_STR) {
            *why = "a float format needs numbers, and the parameter has strings";
            return false;
        }
        break;
    default:
        break;
    }
    if (fs->sign && (types & VT_STR)) {
        *why = "a sign is not allowed with strings";
        return false;
    }
    return true;
}

int fmt_double(char *buf, double x)
{
    if (x == floor(x) && fabs(x) < 1e16)
        return snprintf(buf, 32, "%.0f", x == 0 ? 0.0 : x);
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, 32, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return n;
}

static int fmt_u64(char *buf, uint64_t v)
{
    char t[24];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        buf[i] = t[n - 1 - i];
    return n;
}

void fmt_value(struct sbuf *out, const struct val *v, const struct fspec *fs)
{
    char num[512]; /* '%.100f' of 1e308 is 411 characters */
    const char *body = num;
    size_t blen = 0;
    char sign = 0;
    bool is_num = v->type != VT_STR;
    char type = fs->type;
    if (v->type == VT_INT && (type == 0 || type == 'd' || type == 's')) {
        uint64_t u = v->i < 0 ? 0 - (uint64_t)v->i : (uint64_t)v->i;
        if (v->i < 0)
            sign = '-';
        blen = (size_t)fmt_u64(num, u);
        if (!sign && !fs->sign && (fs->width == 0 || (fs->zero && !fs->align))) {
            /* the common cases: {i} and {i:05d} */
            if ((size_t)fs->width > blen)
                sbuf_addfill(out, '0', (size_t)fs->width - blen);
            sbuf_add(out, num, blen);
            return;
        }
    } else if (is_num) {
        double x = v->type == VT_INT ? (double)v->i : v->f;
        if (signbit(x) && !(x == 0 && type == 0 && fs->prec < 0)) {
            sign = '-';
            x = -x;
        } else if (x == 0) {
            x = 0.0;
        }
        int n;
        if (type == 'f' || type == 'e' || type == 'g') {
            char f[8] = {'%', '.', '*', type, 0};
            n = snprintf(num, sizeof num, f, fs->prec < 0 ? 6 : fs->prec, x);
        } else if (fs->prec >= 0) {
            n = snprintf(num, sizeof num, "%.*g", fs->prec ? fs->prec : 1, x);
        } else {
            n = fmt_double(num, x);
        }
        blen = n < 0 ? 0 : VL_MIN((size_t)n, sizeof num - 1);
    } else {
        body = v->s;
        blen = strlen(v->s);
        if (fs->prec >= 0) { /* truncate to prec characters */
            size_t chars = 0, i = 0;
            while (i < blen && chars < (size_t)fs->prec) {
                i++;
                while (i < blen && ((unsigned char)body[i] & 0xc0) == 0x80)
                    i++;
                chars++;
            }
            blen = i;
        }
    }
    if (!sign && is_num && (fs->sign == '+' || fs->sign == ' '))
        sign = fs->sign;
    size_t chars = (sign ? 1 : 0);
    for (size_t i = 0; i < blen; i++)
        chars += ((unsigned char)body[i] & 0xc0) != 0x80;
    size_t pad = (size_t)fs->width > chars ? (size_t)fs->width - chars : 0;
    char align = fs->align, fill = fs->fill;
    if (!align) {
        if (fs->zero) {
            fill = '0';
            align = is_num ? '=' : '<';
        } else {
            align = is_num ? '>' : '<';
        }
    }
    size_t left = 0, right = 0;
    switch (align) {
    case '<':
        right = pad;
        break;
    case '^':
        left = pad / 2;
        right = pad - left;
        break;
    default:
        left = pad;
        break;
    }
    if (align == '=') {
        if (sign)
            sbuf_addc(out, sign);
        sbuf_addfill(out, fill, left);
    } else {
        sbuf_addfill(out, fill, left);
        if (sign)
            sbuf_addc(out, sign);
    }
    sbuf_add(out, body, blen);
    sbuf_addfill(out, fill, right);
}

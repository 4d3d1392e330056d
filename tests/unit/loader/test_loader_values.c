/* test_loader_values.c - parameter values and their formatting (value.c),
 * checked below the YAML layer. */
#include "loader/load_int.h"

#include <math.h>

#include "check.h"

static char out[512];

/* Formats v with spec (the text between ':' and '}'). */
static const char *fmt(const struct val *v, const char *spec)
{
    struct fspec fs;
    const char *why = NULL;
    if (!fspec_parse(spec, strlen(spec), &fs, &why)) {
        snprintf(out, sizeof out, "BAD: %s", why);
        return out;
    }
    struct sbuf b = {0};
    fmt_value(&b, v, &fs);
    snprintf(out, sizeof out, "%.*s", (int)b.len, b.p ? b.p : "");
    sbuf_free(&b);
    return out;
}

static struct val I(int64_t i) {
    struct val v = {.type = VT_INT, .i = i};
    return v;
} static struct val F(double f) {
    struct val v = {.type = VT_FLT, .f = f};
    return v;
} static struct val S(const char *s) {
    struct val v = {.type = VT_STR, .s = s};
    return v;
}

static void
test_format(void)
{
    struct val v;
    v = I(7);
    CHECK_STR(fmt(&v, ""), "7");
    CHECK_STR(fmt(&v, "05d"), "00007");
    CHECK_STR(fmt(&v, ">8"), "       7");
    CHECK_STR(fmt(&v, "<4"), "7   ");
    CHECK_STR(fmt(&v, "^5"), "  7  ");
    CHECK_STR(fmt(&v, "*^6"), "**7***");
    CHECK_STR(fmt(&v, "+d"), "+7");
    CHECK_STR(fmt(&v, ".3f"), "7.000");
    CHECK_STR(fmt(&v, "e"), "7.000000e+00");
    v = I(-3);
    CHECK_STR(fmt(&v, "05d"), "-0003");
    CHECK_STR(fmt(&v, ">5"), "   -3");
    CHECK_STR(fmt(&v, "=5"), "-   3");
    v = F(0.1);
    CHECK_STR(fmt(&v, ""), "0.1");
    CHECK_STR(fmt(&v, ".3f"), "0.100");
    CHECK_STR(fmt(&v, "08.3f"), "0000.100");
    CHECK_STR(fmt(&v, ".2e"), "1.00e-01");
    CHECK_STR(fmt(&v, "g"), "0.1");
    v = F(1.0);
    CHECK_STR(fmt(&v, ""), "1"); /* integral floats print without ".0" */
    v = F(0.1 + 0.2);
    CHECK_STR(fmt(&v, ""), "0.30000000000000004"); /* shortest round trip */
    v = F(1e-5);
    CHECK_STR(fmt(&v, ""), "1e-05");
    v = F(-2.5);
    CHECK_STR(fmt(&v, "+.1f"), "-2.5");
    v = S("adam");
    CHECK_STR(fmt(&v, ""), "adam");
    CHECK_STR(fmt(&v, ">8"), "    adam");
    CHECK_STR(fmt(&v, "8"), "adam    "); /* strings align left by default */
    CHECK_STR(fmt(&v, ".2s"), "ad");
    CHECK_STR(fmt(&v, "_<6s"), "adam__");

    struct fspec fs;
    const char *why = NULL;
    CHECK(!fspec_parse("q", 1, &fs, &why));
    CHECK_HAS(why, "unknown type");
    CHECK(!fspec_parse("#x", 2, &fs, &why));
    CHECK(!fspec_parse(",d", 2, &fs, &why));
    CHECK(!fspec_parse(".d", 2, &fs, &why));
    CHECK(fspec_parse("05d", 3, &fs, &why));
    CHECK(!fspec_fits(&fs, VT_FLT, &why));
    CHECK_HAS(why, "'d' formats integers only");
    CHECK(fspec_parse(".3f", 3, &fs, &why));
    CHECK(!fspec_fits(&fs, VT_STR | VT_INT, &why));
    CHECK(fspec_fits(&fs, VT_INT | VT_FLT, &why));
}

/* Parses text as a parameter; returns its values joined by ','. */
static struct raw R;
static char joined[4096];
static const char *values(const char *text, bool quoted, struct param *p)
{
    struct spec_diags d = {0};
    struct ldiag g = {.d = &d};
    memset(p, 0, sizeof *p);
    p->name = sbuf_addz(&R.pool, "p", 1);
    p->loc = LOC_NONE;
    if (!param_parse(&R, &g, p, text, quoted)) {
        snprintf(joined, sizeof joined, "ERR: %s", d.n ? d.v[0].msg : "?");
        spec_diags_free(&d);
        ldiag_fini(&g);
        return joined;
    }
    struct sbuf b = {0};
    struct fspec fs;
    const char *why;
    fspec_parse("", 0, &fs, &why);
    for (uint32_t i = 0; i < p->n && i < 64; i++) {
        struct val v;
        param_value(&R, p, i, &v);
        if (i)
            sbuf_addc(&b, ',');
        fmt_value(&b, &v, &fs);
    }
    snprintf(joined, sizeof joined, "%.*s", (int)b.len, b.p ? b.p : "");
    sbuf_free(&b);
    spec_diags_free(&d);
    ldiag_fini(&g);
    return joined;
}

static void test_params(void)
{
    R.vals.elem = sizeof(struct pval);
    struct param p;
    CHECK_STR(values("1:3", false, &p), "1,2,3");
    CHECK_EQ(p.types, VT_INT);
    CHECK_STR(values("1:100:25", false, &p), "1,26,51,76");
    CHECK_STR(values("-2:2", false, &p), "-2,-1,0,1,2");
    /* a + i*s near the int64 limits: no overflow midway */
    CHECK_STR(values("-9000000000000000000:9000000000000000000:9000000000000000000", false, &p),
              "-9000000000000000000,0,9000000000000000000");
    CHECK_STR(values("0:24999", false, &p), values("0:24999", false, &p));
    CHECK_EQ(p.n, 25000);
    CHECK_STR(values("0.0:1.0:0.25", false, &p), "0,0.25,0.5,0.75,1");
    CHECK_EQ(p.types, VT_FLT);
    /* a + i*s without accumulated rounding: 0.3 is 0.3 */
    CHECK_STR(values("0.0:1.0:0.1", false, &p), "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1");
    CHECK_EQ(p.n, 11);
    CHECK_STR(values("1e-3:3e-3:1e-3", false, &p), "0.001,0.002,0.003");
    /* with exponents (a + i*s in doubles): the end is in only when a step
     * lands on it, up to the doubles' rounding, never past it */
    CHECK_STR(values("0:2.9999999999e0:1e0", false, &p), "0,1,2");
    CHECK_STR(values("0:3e0:1e0", false, &p), "0,1,2,3");
    CHECK_EQ(values("0:0.3e0:0.1e0", false, &p)[0], '0');
    CHECK_EQ(p.n, 4);
    CHECK_EQ(values("1e-9:1e-8:1e-9", false, &p)[0], '1');
    CHECK_EQ(p.n, 10);
    CHECK_STR(values("0:2.5e0:1e0", false, &p), "0,1,2");
    CHECK_STR(values("1e300:1e300:1e-300", false, &p), "1e+300"); /* a step below rounding */
    CHECK_STR(values("[1,5,10]", false, &p), "1,5,10");
    CHECK_STR(values("[0.1,0.01]", false, &p), "0.1,0.01");
    CHECK_STR(values("['adam','sgd']", false, &p), "adam,sgd");
    CHECK_STR(values("[adam, sgd]", false, &p), "adam,sgd");
    CHECK_EQ(p.types, VT_STR);
    CHECK_STR(values("[\"a,b\", c]", false, &p), "a,b,c");
    CHECK_EQ(p.n, 2);
    CHECK_STR(values("['1', 2]", false, &p), "1,2");
    CHECK_EQ(p.types, VT_STR | VT_INT);
    CHECK_STR(values("0.5", false, &p), "0.5");
    CHECK_STR(values("42", false, &p), "42");
    CHECK_STR(values("adam", true, &p), "adam");

    CHECK_HAS(values("5:1", false, &p), "range '5:1' is empty");
    CHECK_HAS(values("1:10:0", false, &p), "needs a step above 0");
    CHECK_HAS(values("1:10:-1", false, &p), "needs a step above 0");
    CHECK_HAS(values("0:99999999999", false, &p), "has 100000000000 values, more than");
    CHECK_HAS(values("0:4294967294", false, &p), "ERR"); /* 2^32 - 1 values */
    CHECK_STR(values("0:4294967293", false, &p), values("0:4294967293", false, &p));
    CHECK_EQ(p.n, 4294967294u); /* SPEC_MAX_JOBS: the most a range may have */
    CHECK_HAS(values("-9223372036854775808:9223372036854775807", false, &p), "more than");
    CHECK_HAS(values("0:99999999999999999999", false, &p), "integer overflow");
    CHECK_HAS(values("a:b", false, &p), "'a' is not a number");
    CHECK_HAS(values("1:2:3:4", false, &p), "malformed range '1:2:3:4': expected start:end");
    CHECK_HAS(values("[]", false, &p), "is empty");
    CHECK_HAS(values("[1,,2]", false, &p), "empty item");
    CHECK_HAS(values("['a]", false, &p), "unterminated quote");
    CHECK_HAS(values("0.0:1e300:1e-300", false, &p), "more than");
    raw_free(&R);
}

int main(void)
{
    test_format();
    test_params();
    return check_done();
}

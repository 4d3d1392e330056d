/* test_spec.c - spec_check accepts good specs and names each broken invariant. */
#include "loader/spec.h"

#include <stdlib.h>

#include "check.h"

/* A small diamond a -> {b, c} -> d, built the way a generator would. */
static void diamond(struct spec *s)
{
    memset(s, 0, sizeof *s);
    static const char pool[] = "a\0b\0c\0d\0true\0";
    s->name = vl_xstrdup("diamond");
    s->pool = vl_xmalloc(sizeof pool);
    memcpy(s->pool, pool, sizeof pool);
    s->pool_len = sizeof pool;
    s->njobs = 4;
    s->nedges = 4;
    s->name_off = vl_xcalloc(4, 8);
    s->cmd_off = vl_xcalloc(4, 8);
    for (int j = 0; j < 4; j++) {
        s->name_off[j] = (uint64_t)j * 2;
        s->cmd_off[j] = 8;
    }
    s->kid_off = vl_xcalloc(5, 8);
    uint64_t off[] = {0, 2, 3, 4, 4};
    memcpy(s->kid_off, off, sizeof off);
    s->kids = vl_xcalloc(4, 4);
    uint32_t kids[] = {1, 2, 3, 3};
    memcpy(s->kids, kids, sizeof kids);
    s->npar = vl_xcalloc(4, 4);
    uint32_t npar[] = {0, 1, 1, 2};
    memcpy(s->npar, npar, sizeof npar);
    s->rr = vl_xmalloc(8);
    s->fh = vl_xmalloc(8);
    s->flags = vl_xcalloc(4, 1);
    for (int j = 0; j < 4; j++)
        s->rr[j] = s->fh[j] = SPEC_NONE16;
}

int main(void)
{
    struct spec s;
    struct vl_err e = {0};

    diamond(&s);
    CHECK_EQ(spec_check(&s, &e), 0);
    CHECK_STR(spec_job_name(&s, 3), "d");
    CHECK_STR(spec_job_cmd(&s, 0), "true");

    s.kids[3] = 0; /* d -> a would make c -> a: a cycle a -> c -> a */
    s.npar[3] = 1;
    s.npar[0] = 1;
    CHECK_EQ(spec_check(&s, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "cycle");
    spec_free(&s);

    diamond(&s);
    s.npar[3] = 1;
    CHECK_EQ(spec_check(&s, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "in-degree");
    spec_free(&s);

    diamond(&s);
    s.kids[0] = 2;
    s.kids[1] = 1;
    CHECK_EQ(spec_check(&s, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "ascending");
    spec_free(&s);

    diamond(&s);
    s.kids[2] = 9;
    CHECK_EQ(spec_check(&s, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "out of range");
    spec_free(&s);

    diamond(&s);
    s.cmd_off[2] = 1000;
    CHECK_EQ(spec_check(&s, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "out of pool");
    spec_free(&s);

    diamond(&s);
    s.rr[1] = 0; /* nrr == 0 */
    CHECK_EQ(spec_check(&s, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "resource class");
    spec_free(&s);

    /* a 1M-long chain: the check must not recurse */
    memset(&s, 0, sizeof s);
    uint32_t n = 1000000;
    s.name = vl_xstrdup("chain");
    s.pool_len = 2;
    s.pool = vl_xstrdup("x");
    s.njobs = n;
    s.nedges = n - 1;
    s.name_off = vl_xcalloc(n, 8);
    s.cmd_off = vl_xcalloc(n, 8);
    s.kid_off = vl_xcalloc(n + 1, 8);
    s.kids = vl_xcalloc(n, 4);
    s.npar = vl_xcalloc(n, 4);
    s.rr = vl_xmalloc(2 * (size_t)n);
    s.fh = vl_xmalloc(2 * (size_t)n);
    s.flags = vl_xcalloc(n, 1);
    for (uint32_t j = 0; j < n; j++) {
        s.rr[j] = s.fh[j] = SPEC_NONE16;
        s.kid_off[j + 1] = j + 1 < n ? j + 1 : n - 1;
        if (j + 1 < n)
            s.kids[j] = j + 1;
        s.npar[j] = j > 0;
    }
    CHECK_EQ(spec_check(&s, &e), 0);
    spec_free(&s);
    spec_free(NULL);
    return check_done();
}

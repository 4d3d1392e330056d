/*
 * edges.c - children per parent from the parents per child (a counting
 * sort: children come out ascending), in-degrees, and the cycle check
 * (Kahn's algorithm, iterative, O(jobs + edges); a 10-million-job chain is
 * no problem). On a cycle, parents are walked from a job left over to show
 * one cycle as a path in run order.
 */
#include "expand_int.h"

#include <inttypes.h>
#include <stdio.h>

static void report_cycle(struct X *X, struct spec *s, const uint32_t *deg)
{
    uint32_t n = s->njobs;
    /* every job left with deg > 0 has a parent left: walk parents */
    uint32_t *par = vl_xmalloc((uint64_t)n * sizeof *par);
    for (uint32_t j = 0; j < n; j++)
        par[j] = SPEC_NONE;
    for (uint32_t p = 0; p < n; p++) {
        if (!deg[p])
            continue;
        for (uint64_t e = s->kid_off[p]; e < s->kid_off[p + 1]; e++)
            if (deg[s->kids[e]])
                par[s->kids[e]] = p;
    }
    uint32_t v = 0;
    while (!deg[v])
        v++;
    uint32_t *seen = vl_xcalloc(n, sizeof *seen); /* step + 1 */
    uint32_t step = 0;
    while (!seen[v]) {
        seen[v] = ++step;
        v = par[v];
    }
    /* v is on the cycle; collect it in dependency order (parent first) */
    struct vec cyc = {.elem = sizeof(uint32_t)};
    uint32_t u = v;
    do {
        u32_push(&cyc, u);
        u = par[u];
    } while (u != v);
    uint32_t *c = cyc.p;
    uint64_t m = cyc.n;
    for (uint64_t i = 0; i < m / 2; i++) {
        uint32_t t = c[i];
        c[i] = c[m - 1 - i];
        c[m - 1 - i] = t;
    }
    /* start at the job written first, so the message reads like the file */
    uint64_t lo = 0;
    for (uint64_t i = 1; i < m; i++)
        if (c[i] < c[lo])
            lo = i;
    uint32_t *rot = vl_xmalloc(m * sizeof *rot);
    for (uint64_t i = 0; i < m; i++)
        rot[i] = c[(lo + i) % m];
    memcpy(c, rot, m * sizeof *rot);
    free(rot);
    struct sbuf b = {0};
    for (uint64_t i = 0; i < m; i++) {
        if (m > 12 && i == 8) {
            char t[64];
            int tl = snprintf(t, sizeof t, " -> ... (%" PRIu64 " more) ...", m - 11);
            sbuf_add(&b, t, (size_t)tl);
            i = m - 3;
        }
        if (i)
            sbuf_add(&b, " -> ", 4);
        const char *nm = lcut(X->g, spec_job_name(s, c[i]));
        sbuf_add(&b, nm, strlen(nm));
    }
    sbuf_add(&b, " -> ", 4);
    const char *nm = lcut(X->g, spec_job_name(s, c[0]));
    sbuf_add(&b, nm, strlen(nm));
    sbuf_addc(&b, '\0');
    const struct rent *e = entry_of(X, c[0], X->R->jobs.n);
    lerr(X->g, e ? e->name.loc : X->R->root_loc, "dependency cycle: %s", b.p);
    sbuf_free(&b);
    vec_free(&cyc);
    free(seen);
    free(par);
}

/* Zeroed memory for a workflow-sized array, on huge pages when large. */
static void *big_zalloc(uint64_t n, size_t elem)
{
    void *p = big_realloc(NULL, (n ? n : 1) * elem);
    memset(p, 0, (n ? n : 1) * elem);
    return p;
}

/* Children per parent from parents per child, in-degrees, cycle check.
 * kid_off doubles as the fill cursor (then shifts by one), so the only
 * scratch is the cycle check's 8 bytes per job, after the parents list is
 * freed. */
int edges_build(struct X *X, struct spec *s)
{
    uint32_t n = X->njobs;
    uint64_t m = X->pars.n;
    s->kid_off = big_zalloc((uint64_t)n + 1, sizeof *s->kid_off);
    s->npar = X->npar;
    X->npar = NULL;
    s->kids = big_realloc(NULL, (m ? m : 1) * sizeof *s->kids);
    const uint32_t *pars = X->pars.p;
    for (uint64_t e = 0; e < m; e++) /* kid_off[p + 1]: how many children p has */
        s->kid_off[pars[e] + 1]++;
    for (uint32_t j = 0; j < n; j++) /* kid_off[p]: where p's children start */
        s->kid_off[j + 1] += s->kid_off[j];
    uint64_t e = 0;
    for (uint32_t c = 0; c < n; c++)                   /* parents are stored in child order, so */
        for (uint32_t k = 0; k < s->npar[c]; k++, e++) /* children come ascending */
            s->kids[s->kid_off[pars[e]]++] = c;
    /* kid_off[p] is now where p's children end: shift by one for the CSR */
    if (n)
        memmove(s->kid_off + 1, s->kid_off, (uint64_t)n * sizeof *s->kid_off);
    s->kid_off[0] = 0;
    s->nedges = m;
    vec_free(&X->pars);

    /* Kahn: iterative, O(jobs + edges) */
    uint32_t *deg = big_realloc(NULL, (n ? n : 1) * sizeof *deg);
    uint32_t *queue = big_realloc(NULL, (n ? n : 1) * sizeof *queue);
    memcpy(deg, s->npar, (uint64_t)n * sizeof *deg);
    uint32_t head = 0, tail = 0;
    for (uint32_t j = 0; j < n; j++)
        if (!deg[j])
            queue[tail++] = j;
    while (head < tail) {
        uint32_t j = queue[head++];
        for (uint64_t k = s->kid_off[j]; k < s->kid_off[j + 1]; k++)
            if (--deg[s->kids[k]] == 0)
                queue[tail++] = s->kids[k];
    }
    free(queue);
    if (tail != n)
        report_cycle(X, s, deg);
    free(deg);
    return 0;
}

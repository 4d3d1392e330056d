/*
 * bench_shapes.c - see bench_shapes.h. Each generator writes the CSR in
 * one pass in id order, so a 10M-job shape costs ~0.1-0.3 s and 49 bytes
 * per job plus 4 per edge and ~12 bytes of names (no per-job malloc).
 * The random generator is splitmix64: tiny, seedable, and the same on
 * every platform, so a seed names a DAG.
 */
#include "bench_shapes.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define RANDOM_WINDOW 4096u
#define RANDOM_MAX_KIDS 4u

static const char *const names[BENCH_NSHAPES] = {"flat", "barrier", "chain", "tree", "random"};

const char *bench_shape_name(enum bench_shape s)
{
    return (unsigned)s < BENCH_NSHAPES ? names[s] : "?";
}

int bench_shape_parse(const char *name, enum bench_shape *out)
{
    for (int i = 0; i < BENCH_NSHAPES; i++)
        if (!strcmp(name, names[i])) {
            *out = (enum bench_shape)i;
            return 0;
        }
    return -EINVAL;
}

const char *bench_shape_list(void)
{
    return "flat, barrier, chain, tree, random";
}

uint32_t bench_shape_min_jobs(enum bench_shape s)
{
    return s == BENCH_BARRIER ? 7 : 1;
}

uint64_t bench_shape_edges(enum bench_shape s, uint32_t njobs, const struct bench_shape_opts *o)
{
    (void)o;
    uint64_t n = njobs;
    switch (s) {
    case BENCH_FLAT:
        return 0;
    case BENCH_BARRIER: {
        uint64_t r = n - 3, r0 = r / 4 + (r % 4 > 0), r3 = r / 4;
        return (r - r3) + (r - r0); /* rounds 0-2 -> barriers, barriers -> rounds 1-3 */
    }
    case BENCH_CHAIN:
    case BENCH_TREE:
        return n ? n - 1 : 0;
    case BENCH_RANDOM:
    default:
        return 2 * n;
    }
}

uint64_t bench_shape_spec_bytes(enum bench_shape s, uint32_t njobs)
{
    uint64_t edges =
        s == BENCH_RANDOM ? (uint64_t)RANDOM_MAX_KIDS * njobs : bench_shape_edges(s, njobs, NULL);
    /* name_off, cmd_off, kid_off 8 each, npar 4, rr 2, fh 2, flags 1; pool
     * "j" + 10 digits + NUL; edges 4 */
    return (uint64_t)njobs * (8 + 8 + 8 + 4 + 2 + 2 + 1 + 12) + edges * 4 + 4096;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Writes "j<id>\0" at p; returns the bytes written. */
static size_t put_name(char *p, uint32_t id)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + id % 10);
        id /= 10;
    } while (id);
    p[0] = 'j';
    for (int i = 0; i < n; i++)
        p[1 + i] = tmp[n - 1 - i];
    p[1 + n] = '\0';
    return (size_t)n + 2;
}

static int alloc_jobs(struct spec *s, uint32_t n, uint64_t edges, struct vl_err *err)
{
    memset(s, 0, sizeof *s);
    s->path = vl_xstrdup("<generated>");
    s->njobs = n;
    s->nedges = edges;
    s->pool = vl_alloc_array((size_t)n * 12 + 8, 1, false, "job names", err);
    s->name_off = vl_alloc_array(n, sizeof *s->name_off, false, "job names", err);
    s->cmd_off = vl_alloc_array(n, sizeof *s->cmd_off, false, "commands", err);
    s->kid_off = vl_alloc_array((size_t)n + 1, sizeof *s->kid_off, false, "edges", err);
    s->kids = vl_alloc_array(edges ? edges : 1, sizeof *s->kids, false, "edges", err);
    s->npar = vl_alloc_array(n, sizeof *s->npar, true, "in-degrees", err);
    s->rr = vl_alloc_array(n, sizeof *s->rr, false, "resources", err);
    s->fh = vl_alloc_array(n, sizeof *s->fh, false, "failure handlers", err);
    s->flags = vl_alloc_array(n, sizeof *s->flags, false, "flags", err);
    if (!s->pool || !s->name_off || !s->cmd_off || !s->kid_off || !s->kids || !s->npar || !s->rr ||
        !s->fh || !s->flags) {
        spec_free(s);
        return err ? err->code : VL_ETOOBIG;
    }
    memcpy(s->pool, "true", 5);
    uint64_t off = 5;
    for (uint32_t j = 0; j < n; j++) {
        s->name_off[j] = off;
        off += put_name(s->pool + off, j);
        s->cmd_off[j] = 0;
        s->rr[j] = SPEC_NONE16;
        s->fh[j] = SPEC_NONE16;
        s->flags[j] = SPEC_JOB_CANCEL_ON_BLOCK;
    }
    s->pool_len = off;
    return 0;
}

/* Appends child c of the current parent. */
static inline void edge(struct spec *s, uint64_t *e, uint32_t c)
{
    s->kids[(*e)++] = c;
    s->npar[c]++;
}

static void gen_barrier(struct spec *s, uint32_t n)
{
    /* layout: round 0, barrier 0, round 1, barrier 1, round 2, barrier 2, round 3 */
    uint32_t r = n - 3, first[4], size[4];
    uint32_t at = 0;
    for (int k = 0; k < 4; k++) {
        size[k] = r / 4 + ((uint32_t)k < r % 4);
        first[k] = at;
        at += size[k] + (k < 3);
    }
    uint64_t e = 0;
    for (int k = 0; k < 4; k++) {
        uint32_t bar = first[k] + size[k]; /* barrier k sits right after round k */
        for (uint32_t j = first[k]; j < first[k] + size[k]; j++) {
            s->kid_off[j] = e;
            if (k < 3)
                edge(s, &e, bar);
        }
        if (k < 3) {
            s->kid_off[bar] = e;
            for (uint32_t c = first[k + 1]; c < first[k + 1] + size[k + 1]; c++)
                edge(s, &e, c);
        }
    }
    s->kid_off[n] = e;
}

static void gen_tree(struct spec *s, uint32_t n, uint32_t k)
{
    uint64_t e = 0;
    for (uint32_t j = 0; j < n; j++) {
        s->kid_off[j] = e;
        for (uint64_t c = (uint64_t)j * k + 1; c <= (uint64_t)j * k + k && c < n; c++)
            edge(s, &e, (uint32_t)c);
    }
    s->kid_off[n] = e;
}

static int gen_random(struct spec *s, uint32_t n, uint64_t seed, struct vl_err *err)
{
    uint64_t x = seed, e = 0;
    /* degrees first, so the edge array is allocated once at its exact size */
    uint8_t *deg = vl_alloc_array(n, 1, false, "the random shape", err);
    if (!deg)
        return err ? err->code : VL_ETOOBIG;
    for (uint32_t p = 0; p < n; p++) {
        uint32_t window = VL_MIN(RANDOM_WINDOW, n - 1 - p);
        uint32_t d = (uint32_t)(splitmix64(&x) % (RANDOM_MAX_KIDS + 1)); /* VL_MIN reads twice */
        deg[p] = (uint8_t)VL_MIN(d, window);
        e += deg[p];
    }
    uint32_t *kids = vl_realloc_array(s->kids, e ? e : 1, sizeof *kids, "edges", err);
    if (!kids) {
        free(deg);
        return err ? err->code : VL_ETOOBIG;
    }
    s->kids = kids;
    s->nedges = e;
    e = 0;
    for (uint32_t p = 0; p < n; p++) {
        s->kid_off[p] = e;
        uint32_t pick[RANDOM_MAX_KIDS], k = 0, window = VL_MIN(RANDOM_WINDOW, n - 1 - p);
        while (k < deg[p]) {
            uint32_t c = p + 1 + (uint32_t)(splitmix64(&x) % window);
            uint32_t i = k;
            bool dup = false;
            for (uint32_t q = 0; q < k; q++)
                dup |= pick[q] == c;
            if (dup)
                continue;
            while (i > 0 && pick[i - 1] > c) { /* insertion sort: ascending */
                pick[i] = pick[i - 1];
                i--;
            }
            pick[i] = c;
            k++;
        }
        for (uint32_t q = 0; q < k; q++)
            edge(s, &e, pick[q]);
    }
    s->kid_off[n] = e;
    free(deg);
    return 0;
}

int bench_shape_gen(enum bench_shape shape, uint32_t njobs, const struct bench_shape_opts *o,
                    struct spec *out, struct vl_err *err)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)shape >= BENCH_NSHAPES)
        return vl_err_set(err, -EINVAL, "unknown shape %d", (int)shape);
    if (njobs < bench_shape_min_jobs(shape) || njobs > SPEC_MAX_JOBS)
        return vl_err_set(err, -EINVAL, "the %s shape needs %" PRIu32 " to %u jobs, not %" PRIu32,
                          names[shape], bench_shape_min_jobs(shape), SPEC_MAX_JOBS, njobs);
    uint32_t k = o && o->fanout ? o->fanout : 4;
    uint64_t edges = shape == BENCH_RANDOM ? 0 : bench_shape_edges(shape, njobs, o);
    int rc = alloc_jobs(out, njobs, edges, err);
    if (rc)
        return rc;
    out->name = vl_xasprintf("bench-%s", names[shape]);
    uint64_t e = 0;
    switch (shape) {
    case BENCH_FLAT:
        memset(out->kid_off, 0, ((size_t)njobs + 1) * sizeof *out->kid_off);
        break;
    case BENCH_BARRIER:
        gen_barrier(out, njobs);
        break;
    case BENCH_CHAIN:
        for (uint32_t j = 0; j < njobs; j++) {
            out->kid_off[j] = e;
            if (j + 1 < njobs)
                edge(out, &e, j + 1);
        }
        out->kid_off[njobs] = e;
        break;
    case BENCH_TREE:
        gen_tree(out, njobs, k);
        break;
    case BENCH_RANDOM:
        rc = gen_random(out, njobs, o ? o->seed : 1, err);
        break;
    default:
        break;
    }
    if (rc)
        spec_free(out);
    return rc;
}

/*
 * specgen.c - see specgen.h. Strings go into one pool through vl_buf; the
 * random DAG is built child by child, so each parent's children arrive in
 * ascending order and the CSR needs only a counting pass, no sort.
 */
#include "specgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rnd(uint64_t *x)
{
    /* xorshift64*: a fixed stream per seed, good enough for shapes */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

int specgen_shape_parse(const char *name)
{
    if (strcmp(name, "sweep") == 0)
        return SPECGEN_SWEEP;
    if (strcmp(name, "dag") == 0)
        return SPECGEN_DAG;
    return -1;
}

int specgen_make(struct spec *s, enum specgen_shape shape, uint32_t n, uint64_t seed,
                 struct vl_err *err)
{
    memset(s, 0, sizeof *s);
    s->name = vl_xstrdup(shape == SPECGEN_DAG ? "random_dag" : "flat_sweep");
    s->path = vl_xstrdup("<generated>");
    s->njobs = n;
    struct vl_buf pool = {0};
    s->name_off = vl_alloc_array(n, 8, false, "names", err);
    s->cmd_off = vl_alloc_array(n, 8, false, "commands", err);
    s->kid_off = vl_alloc_array((size_t)n + 1, 8, true, "edges", err);
    s->npar = vl_alloc_array(n, 4, true, "in-degrees", err);
    s->rr = vl_alloc_array(n, 2, false, "classes", err);
    s->fh = vl_alloc_array(n, 2, false, "handlers", err);
    s->flags = vl_alloc_array(n, 1, false, "flags", err);
    if (!s->name_off || !s->cmd_off || !s->kid_off || !s->npar || !s->rr || !s->fh || !s->flags)
        goto fail;
    vl_buf_reserve(&pool, (size_t)n * 40);
    for (uint32_t j = 0; j < n; j++) {
        s->name_off[j] = pool.len;
        vl_buf_printf(&pool, "stage1_%06u", j);
        vl_buf_addc(&pool, '\0');
        s->cmd_off[j] = pool.len;
        vl_buf_printf(&pool, "python train.py --i %u", j);
        vl_buf_addc(&pool, '\0');
        s->rr[j] = SPEC_NONE16;
        s->fh[j] = SPEC_NONE16;
        s->flags[j] = SPEC_JOB_CANCEL_ON_BLOCK;
    }
    s->pool = pool.p;
    s->pool_len = pool.len;
    if (shape == SPECGEN_DAG && n > 1) {
        /* parents of j: p1 = j - 1 - r1, p2 = a distinct one, both >= 0 */
        uint64_t x = seed * 2 + 1;
        uint32_t *par = vl_alloc_array((size_t)n * 2, 4, false, "edges", err);
        if (!par)
            goto fail;
        for (uint32_t j = 1; j < n; j++) {
            uint32_t win = j < 4096 ? j : 4096;
            uint32_t a = j - 1 - (uint32_t)(rnd(&x) % win);
            uint32_t b = j - 1 - (uint32_t)(rnd(&x) % win);
            par[2 * j] = a;
            par[2 * j + 1] = b == a ? UINT32_MAX : b;
        }
        for (uint32_t j = 1; j < n; j++)
            for (int i = 0; i < 2; i++)
                if (par[2 * j + i] != UINT32_MAX) {
                    s->kid_off[par[2 * j + i] + 1]++;
                    s->npar[j]++;
                }
        for (uint32_t j = 0; j < n; j++)
            s->kid_off[j + 1] += s->kid_off[j];
        s->nedges = s->kid_off[n];
        s->kids = vl_alloc_array(s->nedges ? s->nedges : 1, 4, false, "edges", err);
        uint64_t *fill = vl_alloc_array(n, 8, false, "edges", err);
        if (!s->kids || !fill) {
            free(par);
            free(fill);
            goto fail;
        }
        memcpy(fill, s->kid_off, (size_t)n * 8);
        for (uint32_t j = 1; j < n; j++)
            for (int i = 0; i < 2; i++)
                if (par[2 * j + i] != UINT32_MAX)
                    s->kids[fill[par[2 * j + i]]++] = j;
        free(par);
        free(fill);
    } else {
        s->kids = vl_xmalloc(4);
    }
    return 0;
fail:
    spec_free(s);
    return err ? err->code : VL_ETOOBIG;
}

static uint64_t add_str(struct vl_buf *b, const char *str)
{
    uint64_t off = b->len;
    vl_buf_adds(b, str);
    vl_buf_addc(b, '\0');
    return off;
}

void specgen_rich(struct spec *s, uint32_t n)
{
    memset(s, 0, sizeof *s);
    if (n < 4)
        n = 4;
    struct vl_buf b = {0};
    s->name = vl_xstrdup("rich");
    s->path = vl_xstrdup("/tmp/rich.yaml");
    s->description = vl_xstrdup("every part of a spec, with a 'quote' and ünïcode");
    s->njobs = n;
    s->name_off = vl_xcalloc(n, 8);
    s->cmd_off = vl_xcalloc(n, 8);
    s->kid_off = vl_xcalloc((size_t)n + 1, 8);
    s->npar = vl_xcalloc(n, 4);
    s->rr = vl_xcalloc(n, 2);
    s->fh = vl_xcalloc(n, 2);
    s->flags = vl_xcalloc(n, 1);
    /* chain with skips: j -> j+1 and j -> j+3 */
    s->kids = vl_xcalloc((size_t)n * 2, 4);
    for (uint32_t j = 0; j < n; j++) {
        char tmp[96];
        snprintf(tmp, sizeof tmp, "job_%u", j);
        s->name_off[j] = add_str(&b, tmp);
        snprintf(tmp, sizeof tmp, "echo %u > out/%u.txt; exit $((%u %% 3))", j, j, j);
        s->cmd_off[j] = add_str(&b, tmp);
        s->kid_off[j + 1] = s->kid_off[j];
        if (j + 1 < n) {
            s->kids[s->kid_off[j + 1]++] = j + 1;
            s->npar[j + 1]++;
        }
        if (j + 3 < n) {
            s->kids[s->kid_off[j + 1]++] = j + 3;
            s->npar[j + 3]++;
        }
        s->rr[j] = j % 3 == 2 ? SPEC_NONE16 : (uint16_t)(j % 3);
        s->fh[j] = j % 2 ? 0 : SPEC_NONE16;
        s->flags[j] = j % 4 ? SPEC_JOB_CANCEL_ON_BLOCK : 0;
    }
    s->nedges = s->kid_off[n];
    s->nrr = 2;
    s->rrs = vl_xcalloc(2, sizeof *s->rrs);
    s->rrs[0] = (struct spec_rr){.name_off = add_str(&b, "small"),
                                 .memory_bytes = 100 << 20,
                                 .runtime_ms = 600000,
                                 .num_cpus = 1,
                                 .num_nodes = 1};
    s->rrs[1] = (struct spec_rr){.name_off = add_str(&b, "gpu"),
                                 .memory_bytes = 2ull << 30,
                                 .num_cpus = 4,
                                 .num_gpus = 1,
                                 .num_nodes = 1};
    s->nfh = 1;
    s->fhs = vl_xcalloc(1, sizeof *s->fhs);
    s->fhs[0] =
        (struct spec_fh){.name_off = add_str(&b, "transient"), .rule_first = 0, .nrules = 2};
    s->nrules = 2;
    s->rules = vl_xcalloc(2, sizeof *s->rules);
    s->rules[0] = (struct spec_rule){
        .code_first = 0, .ncodes = 2, .max_retries = 3, .script_off = SPEC_NO_STR};
    s->rules[1] = (struct spec_rule){.code_first = 2,
                                     .ncodes = 0,
                                     .max_retries = 1,
                                     .flags = SPEC_RULE_MATCH_ALL,
                                     .script_off = add_str(&b, "./fix.sh")};
    s->ncodes = 2;
    s->codes = vl_xcalloc(2, sizeof *s->codes);
    s->codes[0] = 12;
    s->codes[1] = -75;
    /* files: out_j produced by job j; one input nobody makes; one user_data */
    s->nfiles = n + 2;
    s->files = vl_xcalloc(s->nfiles, sizeof *s->files);
    for (uint32_t j = 0; j < n; j++) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "out_%u", j);
        s->files[j].name_off = add_str(&b, tmp);
        snprintf(tmp, sizeof tmp, "out/%u.txt", j);
        s->files[j].path_off = add_str(&b, tmp);
        s->files[j].producer = j;
    }
    s->files[n] = (struct spec_file){.name_off = add_str(&b, "raw"),
                                     .path_off = add_str(&b, "data/raw.csv"),
                                     .producer = SPEC_NONE,
                                     .flags = SPEC_FILE_INPUT};
    s->files[n + 1] = (struct spec_file){.name_off = add_str(&b, "cfg"),
                                         .path_off = add_str(&b, "{\"lr\": 0.1}"),
                                         .producer = SPEC_NONE,
                                         .flags = SPEC_FILE_USER_DATA | SPEC_FILE_INPUT};
    s->in_off = vl_xcalloc((size_t)n + 1, 8);
    s->out_off = vl_xcalloc((size_t)n + 1, 8);
    s->ins = vl_xcalloc((size_t)n * 2, 4);
    s->outs = vl_xcalloc(n, 4);
    for (uint32_t j = 0; j < n; j++) {
        s->in_off[j + 1] = s->in_off[j];
        if (j > 0) /* reads its predecessor's output */
            s->ins[s->in_off[j + 1]++] = j - 1;
        if (j % 5 == 0)
            s->ins[s->in_off[j + 1]++] = n + (j % 10 == 0 ? 0 : 1);
        s->out_off[j + 1] = s->out_off[j] + 1;
        s->outs[j] = j;
    }
    s->pool = b.p;
    s->pool_len = b.len;
}

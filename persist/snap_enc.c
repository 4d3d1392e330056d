/*
 * snap_enc.c - the array encoding of a spec and its content hash (see
 * snap_int.h). Create and restore agree through this file alone: create
 * hashes exactly the bytes it stores, restore hashes exactly the bytes it
 * reads, and snap_spec_hash runs the encoder without storing.
 *
 * Arrays that already are their encoding (kids, rr, fh, flags, npar, ins,
 * outs) are handed to the sink in place, without a copy; names, commands,
 * degrees and file fields are gathered into one row buffer. The hash is a
 * 4-lane multiply-rotate over 32-byte stripes: ~1 cycle per byte or less,
 * so hashing a 1M-job spec (~60 MB) costs a few tens of ms. It detects
 * damage and names a workflow; it is not meant to resist an adversary.
 */
#include "snap_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const struct snap__kind_desc snap__kinds[SNAP__NKINDS] = {
    [SNAP__JOB_NAME] = {"job_name", 0},
    [SNAP__JOB_CMD] = {"job_cmd", 0},
    [SNAP__JOB_NPAR] = {"job_npar", 4},
    [SNAP__JOB_NKIDS] = {"job_nkids", 4},
    [SNAP__JOB_KIDS] = {"job_kids", 4},
    [SNAP__JOB_RR] = {"job_rr", 2},
    [SNAP__JOB_FH] = {"job_fh", 2},
    [SNAP__JOB_FLAGS] = {"job_flags", 1},
    [SNAP__JOB_NINS] = {"job_nins", 4},
    [SNAP__JOB_INS] = {"job_ins", 4},
    [SNAP__JOB_NOUTS] = {"job_nouts", 4},
    [SNAP__JOB_OUTS] = {"job_outs", 4},
    [SNAP__FILE_NAME] = {"file_name", 0},
    [SNAP__FILE_PATH] = {"file_path", 0},
    [SNAP__FILE_PRODUCER] = {"file_producer", 4},
    [SNAP__FILE_FLAGS] = {"file_flags", 4},
    [SNAP__JOB_ENV] = {"job_env", 4},
    [SNAP__ENV_KV] = {"env_kv", 0},
    [SNAP__ACT_CMD] = {"act_cmd", 0},
    [SNAP__ACT_JOBS] = {"act_jobs", 4},
    [SNAP__JOB_PRIO] = {"job_prio", 4},
};

size_t snap__row_bytes = SNAP__ROW_BYTES;

uint64_t snap__kind_items(const struct spec *s, int k)
{
    switch (k) {
    case SNAP__JOB_KIDS:
        return s->nedges;
    case SNAP__JOB_NINS:
    case SNAP__JOB_NOUTS:
        return s->nfiles ? s->njobs : 0;
    case SNAP__JOB_INS:
        return s->nfiles ? s->in_off[s->njobs] : 0;
    case SNAP__JOB_OUTS:
        return s->nfiles ? s->out_off[s->njobs] : 0;
    case SNAP__FILE_NAME:
    case SNAP__FILE_PATH:
    case SNAP__FILE_PRODUCER:
    case SNAP__FILE_FLAGS:
        return s->nfiles;
    case SNAP__JOB_ENV:
        return s->nenvsets && s->env ? s->njobs : 0;
    case SNAP__ENV_KV:
        return s->nenvsets ? s->nenvkv : 0;
    case SNAP__ACT_CMD:
        return s->nactions ? s->nact_cmds : 0;
    case SNAP__ACT_JOBS:
        return s->nactions ? s->nact_jobs : 0;
    case SNAP__JOB_PRIO:
        return s->prio ? s->njobs : 0;
    default:
        return s->njobs;
    }
}

/* ---- the hash ---- */

#define K1 0x9E3779B97F4A7C15ull
#define K2 0xD6E8FEB86659FD93ull
#define K3 0xC2B2AE3D27D4EB4Full

static inline uint64_t rotl(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t lane(uint64_t v, uint64_t w)
{
    return rotl(v + w * K2, 29) * K1;
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void stripe(struct snap__hash *h, const uint8_t *p)
{
    h->v[0] = lane(h->v[0], load64(p));
    h->v[1] = lane(h->v[1], load64(p + 8));
    h->v[2] = lane(h->v[2], load64(p + 16));
    h->v[3] = lane(h->v[3], load64(p + 24));
}

void snap__hash_init(struct snap__hash *h)
{
    memset(h, 0, sizeof *h);
    h->v[0] = K1;
    h->v[1] = K2;
    h->v[2] = K3;
    h->v[3] = K1 ^ K3;
}

void snap__hash_add(struct snap__hash *h, const void *data, size_t len)
{
    const uint8_t *p = data;
    h->total += len;
    if (h->nbuf) {
        size_t take = VL_MIN(len, 32 - (size_t)h->nbuf);
        memcpy(h->buf + h->nbuf, p, take);
        h->nbuf += (unsigned)take;
        p += take;
        len -= take;
        if (h->nbuf < 32)
            return;
        stripe(h, h->buf);
        h->nbuf = 0;
    }
    for (; len >= 32; p += 32, len -= 32)
        stripe(h, p);
    memcpy(h->buf, p, len);
    h->nbuf = (unsigned)len;
}

void snap__hash_u64(struct snap__hash *h, uint64_t v)
{
    snap__hash_add(h, &v, sizeof v);
}

uint64_t snap__hash_end(const struct snap__hash *h)
{
    uint64_t x = rotl(h->v[0], 1) + rotl(h->v[1], 7) + rotl(h->v[2], 12) + rotl(h->v[3], 18);
    x ^= h->total * K3;
    for (unsigned i = 0; i < h->nbuf; i++)
        x = rotl(x ^ (h->buf[i] * K1), 11) * K2;
    /* final avalanche: every input bit reaches every output bit */
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 32;
    return x;
}

void snap__hash_kind_end(struct snap__hash *h, int k, uint64_t items, uint64_t bytes)
{
    if (snap__kind_optional(k) && items == 0)
        return; /* absent: the hash stays what an older schema made it */
    snap__hash_u64(h, 0x6b696e64u + (uint64_t)k); /* "kind" + k */
    snap__hash_u64(h, items);
    snap__hash_u64(h, bytes);
}

static void hash_str(struct snap__hash *h, const struct spec *s, uint64_t off)
{
    if (off == SPEC_NO_STR) {
        snap__hash_u64(h, 0); /* distinct from "" (one NUL byte) */
        return;
    }
    snap__hash_u64(h, 1);
    const char *p = s->pool + off;
    snap__hash_add(h, p, strlen(p) + 1);
}

void snap__hash_rest(struct snap__hash *h, const struct spec *s)
{
    snap__hash_u64(h, s->nrr);
    for (uint32_t i = 0; i < s->nrr; i++) {
        const struct spec_rr *r = &s->rrs[i];
        hash_str(h, s, r->name_off);
        snap__hash_u64(h, r->memory_bytes);
        snap__hash_u64(h, r->runtime_ms);
        snap__hash_u64(h, ((uint64_t)r->num_cpus << 32) | r->num_gpus);
        snap__hash_u64(h, r->num_nodes);
        if (r->max_pids) /* only when set: a workflow without it hashes as before schema 4 */
            snap__hash_u64(h, 0x70696473ull << 32 | r->max_pids);
    }
    snap__hash_u64(h, s->nfh);
    for (uint32_t i = 0; i < s->nfh; i++) {
        hash_str(h, s, s->fhs[i].name_off);
        snap__hash_u64(h, ((uint64_t)s->fhs[i].rule_first << 32) | s->fhs[i].nrules);
    }
    snap__hash_u64(h, s->nrules);
    for (uint32_t i = 0; i < s->nrules; i++) {
        const struct spec_rule *r = &s->rules[i];
        snap__hash_u64(h, ((uint64_t)r->code_first << 32) | r->ncodes);
        snap__hash_u64(h, ((uint64_t)r->max_retries << 32) | r->flags);
        hash_str(h, s, r->script_off);
    }
    snap__hash_u64(h, s->ncodes);
    if (s->ncodes)
        snap__hash_add(h, s->codes, (size_t)s->ncodes * sizeof *s->codes);
    snap__hash_u64(h, 0x6e616d65u); /* "name" */
    snap__hash_add(h, s->name, strlen(s->name) + 1);
    if (s->description) {
        snap__hash_u64(h, 1);
        snap__hash_add(h, s->description, strlen(s->description) + 1);
    } else {
        snap__hash_u64(h, 0);
    }
    snap__hash_exec(h, s);
}

/* ---- the encoder ---- */

struct enc {
    struct snap__hash *h;
    snap__sink sink;
    void *ctx;
    char *buf; /* row buffer, SNAP__ROW_BYTES (grows for one huge string) */
    size_t cap;
    size_t len;     /* bytes in buf */
    uint64_t seq;   /* rows of this kind so far */
    uint64_t first; /* first item in buf */
    uint64_t count; /* items in buf */
    uint64_t bytes; /* kind payload so far */
    int k;
};

static int emit(struct enc *e, const void *data, size_t len, uint64_t count)
{
    if (count == 0)
        return 0;
    snap__hash_add(e->h, data, len);
    int rc = e->sink ? e->sink(e->ctx, e->k, e->seq, e->first, count, data, len) : 0;
    e->seq++;
    e->first += count;
    e->bytes += len;
    return rc;
}

static int flush(struct enc *e)
{
    int rc = emit(e, e->buf, e->len, e->count);
    e->len = 0;
    e->count = 0;
    return rc;
}

/* Appends one item of len bytes to the row buffer, cutting a row first if
 * it would not fit. */
static int put(struct enc *e, const void *item, size_t len)
{
    if (e->len + len > snap__row_bytes && e->count) {
        int rc = flush(e);
        if (rc)
            return rc;
    }
    if (len > e->cap) { /* one string longer than a row: its own row */
        e->buf = realloc(e->buf, len);
        if (!e->buf)
            return -ENOMEM;
        e->cap = len;
    }
    memcpy(e->buf + e->len, item, len);
    e->len += len;
    e->count++;
    return 0;
}

/* A whole array that already is its encoding: rows sliced in place. */
static int put_array(struct enc *e, const void *arr, uint64_t n, unsigned width)
{
    const char *p = arr;
    uint64_t per = VL_MAX(snap__row_bytes / width, 1);
    for (uint64_t i = 0; i < n; i += per) {
        uint64_t c = VL_MIN(per, n - i);
        int rc = emit(e, p + i * width, (size_t)(c * width), c);
        if (rc)
            return rc;
    }
    return 0;
}

static int put_u32(struct enc *e, uint64_t v)
{
    if (v > UINT32_MAX)
        return VL_ETOOBIG;
    uint32_t x = (uint32_t)v;
    return put(e, &x, 4);
}

static int encode_kind(struct enc *e, const struct spec *s)
{
    uint64_t n = snap__kind_items(s, e->k);
    int rc = 0;
    switch (e->k) {
    case SNAP__JOB_NAME:
    case SNAP__JOB_CMD: {
        const uint64_t *off = e->k == SNAP__JOB_NAME ? s->name_off : s->cmd_off;
        for (uint64_t j = 0; j < n && !rc; j++) {
            const char *p = s->pool + off[j];
            rc = put(e, p, strlen(p) + 1);
        }
        break;
    }
    case SNAP__JOB_NPAR:
        return put_array(e, s->npar, n, 4);
    case SNAP__JOB_NKIDS:
        for (uint64_t j = 0; j < n && !rc; j++)
            rc = put_u32(e, s->kid_off[j + 1] - s->kid_off[j]);
        break;
    case SNAP__JOB_KIDS:
        return put_array(e, s->kids, n, 4);
    case SNAP__JOB_RR:
        return put_array(e, s->rr, n, 2);
    case SNAP__JOB_FH:
        return put_array(e, s->fh, n, 2);
    case SNAP__JOB_FLAGS:
        return put_array(e, s->flags, n, 1);
    case SNAP__JOB_NINS:
        for (uint64_t j = 0; j < n && !rc; j++)
            rc = put_u32(e, s->in_off[j + 1] - s->in_off[j]);
        break;
    case SNAP__JOB_INS:
        return put_array(e, s->ins, n, 4);
    case SNAP__JOB_NOUTS:
        for (uint64_t j = 0; j < n && !rc; j++)
            rc = put_u32(e, s->out_off[j + 1] - s->out_off[j]);
        break;
    case SNAP__JOB_OUTS:
        return put_array(e, s->outs, n, 4);
    case SNAP__FILE_NAME:
    case SNAP__FILE_PATH:
        for (uint64_t i = 0; i < n && !rc; i++) {
            uint64_t off = e->k == SNAP__FILE_NAME ? s->files[i].name_off : s->files[i].path_off;
            const char *p = s->pool + off;
            rc = put(e, p, strlen(p) + 1);
        }
        break;
    case SNAP__FILE_PRODUCER:
        for (uint64_t i = 0; i < n && !rc; i++)
            rc = put_u32(e, s->files[i].producer);
        break;
    case SNAP__FILE_FLAGS:
        for (uint64_t i = 0; i < n && !rc; i++)
            rc = put_u32(e, s->files[i].flags);
        break;
    case SNAP__JOB_ENV:
        return put_array(e, s->env, n, 4);
    case SNAP__ENV_KV:
    case SNAP__ACT_CMD: {
        const uint64_t *off = e->k == SNAP__ENV_KV ? s->envkv : s->act_cmds;
        for (uint64_t i = 0; i < n && !rc; i++) {
            const char *p = s->pool + off[i];
            rc = put(e, p, strlen(p) + 1);
        }
        break;
    }
    case SNAP__ACT_JOBS:
        return put_array(e, s->act_jobs, n, 4);
    case SNAP__JOB_PRIO:
        return put_array(e, s->prio, n, 4);
    default:
        break;
    }
    return rc ? rc : flush(e);
}

int snap__encode(const struct spec *s, struct snap__hash *h, snap__sink sink, void *ctx,
                 uint64_t bytes[SNAP__NKINDS])
{
    struct enc e = {.h = h, .sink = sink, .ctx = ctx, .cap = VL_MAX(snap__row_bytes, 64)};
    e.buf = malloc(e.cap);
    if (!e.buf)
        return -ENOMEM;
    int rc = 0;
    for (int k = 0; k < SNAP__NKINDS && !rc; k++) {
        e.k = k;
        e.seq = e.first = e.count = e.bytes = 0;
        e.len = 0;
        rc = encode_kind(&e, s);
        if (!rc) {
            snap__hash_kind_end(h, k, e.first, e.bytes);
            if (bytes)
                bytes[k] = e.bytes;
        }
    }
    free(e.buf);
    return rc;
}

uint64_t snap_spec_hash(const struct spec *s)
{
    struct snap__hash h;
    snap__hash_init(&h);
    if (snap__encode(s, &h, NULL, NULL, NULL) != 0)
        return 0; /* only ENOMEM or a degree above 2^32: no valid spec hashes to 0 in practice */
    snap__hash_rest(&h, s);
    return snap__hash_end(&h);
}

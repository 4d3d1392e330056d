/*
 * strtab.c - the name -> id hash table (job names, file names, regex
 * patterns): open addressing with linear probing over 8-byte slots holding
 * 32 bits of the hash and the id. The names themselves stay in their pool
 * and are compared only when the 32 hash bits match, so a lookup touches
 * one slot line and, on a hit, one pool line.
 *
 * 8 bytes per slot at a load factor of 0.35-0.7 when presized (at most 0.75):
 * 11-23 bytes per job, freed before the edges are built. Linear probing
 * at that load averages under 2.5 probes on a miss, in one cache line.
 */
#include "load_int.h"

static inline uint64_t rd64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t strtab_hash(const char *s, size_t n)
{
    const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL;
    uint64_t h = k0 ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        h = mix(h ^ rd64(s + i), k1);
    if (i < n) {
        uint64_t t = 0;
        memcpy(&t, s + i, n - i);
        h = mix(h ^ t, k1 ^ (n - i));
    }
    return mix(h, k0);
}

void strtab_init(struct strtab *t, char *const *pool, uint64_t *const *offs, uint64_t expect)
{
    uint64_t cap = 64;
    while (cap * 7 / 10 < expect) /* load at most 0.7 when presized */
        cap *= 2;
    t->slot = big_realloc(NULL, cap * sizeof *t->slot); /* huge pages: fewer TLB misses */
    memset(t->slot, 0, cap * sizeof *t->slot);
    t->mask = cap - 1;
    t->n = 0;
    t->pool = pool;
    t->offs = offs;
}

static inline bool same(const struct strtab *t, uint32_t id, const char *s, size_t n)
{
    const char *k = *t->pool + (*t->offs)[id];
    return memcmp(k, s, n) == 0 && k[n] == '\0';
}

uint32_t strtab_find(const struct strtab *t, const char *s, size_t n, uint64_t h)
{
    uint32_t h32 = (uint32_t)(h >> 32);
    for (uint64_t i = h & t->mask;; i = (i + 1) & t->mask) {
        uint64_t v = t->slot[i];
        if (!v)
            return SPEC_NONE;
        if ((uint32_t)(v >> 32) == h32 && same(t, (uint32_t)v - 1, s, n))
            return (uint32_t)v - 1;
    }
}

static void grow(struct strtab *t)
{
    uint64_t cap = (t->mask + 1) * 2;
    uint64_t *ns = big_realloc(NULL, cap * sizeof *ns);
    memset(ns, 0, cap * sizeof *ns);
    for (uint64_t i = 0; i <= t->mask; i++) {
        uint64_t v = t->slot[i];
        if (!v)
            continue;
        uint32_t id = (uint32_t)v - 1;
        const char *k = *t->pool + (*t->offs)[id];
        uint64_t j = strtab_hash(k, strlen(k)) & (cap - 1);
        while (ns[j])
            j = (j + 1) & (cap - 1);
        ns[j] = v;
    }
    free(t->slot);
    t->slot = ns;
    t->mask = cap - 1;
}

uint32_t strtab_put(struct strtab *t, const char *s, size_t n, uint64_t h, uint32_t id)
{
    uint32_t h32 = (uint32_t)(h >> 32);
    uint64_t i = h & t->mask;
    for (;; i = (i + 1) & t->mask) {
        uint64_t v = t->slot[i];
        if (!v)
            break;
        if ((uint32_t)(v >> 32) == h32 && same(t, (uint32_t)v - 1, s, n))
            return (uint32_t)v - 1;
    }
    t->slot[i] = (uint64_t)h32 << 32 | ((uint64_t)id + 1);
    if (++t->n * 4 > (t->mask + 1) * 3) /* load 0.75: grow */
        grow(t);
    return SPEC_NONE;
}

void strtab_free(struct strtab *t)
{
    free(t->slot);
    t->slot = NULL;
}

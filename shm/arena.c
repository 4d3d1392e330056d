/*
 * arena.c - the arena's lifecycle: plan the layout, build a segment from a
 * spec (or from a spec plus saved job records), attach and validate an
 * existing one, close and unlink.
 *
 * The layout is a pure function of the dimensions (njobs, nedges, pool
 * length, table sizes, slots): arena_plan computes it, the builder writes
 * it, and attach recomputes it from the header and demands every section
 * match exactly. That one comparison proves every section lies inside the
 * file and has the element size this build expects; the O(njobs + nedges)
 * content checks after it make every index the hot path follows (children,
 * string offsets, table indices) safe, so nothing downstream bounds-checks.
 *
 * Space: building a 10M-job random DAG takes ~1.1 GiB here; fallocate
 * makes tmpfs reserve every page now (a full /dev/shm fails with ENOSPC
 * instead of a SIGBUS in a worker later) and MADV_POPULATE_WRITE maps them
 * all in one call, ~12x faster than faulting 4 KiB pages one by one on
 * this VM (platform-probe.md section 5: 0.061 s against 0.76 s for 256 MiB).
 *
 * Not here: the scheduling primitives (arena_sched.c), participants and
 * sleeping (arena_slot.c), repair and restore (arena_repair.c).
 */
#include "arena.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "arena_int.h"

#define DEFAULT_SLOTS 64u

/* ---- planning ---- */

/*
 * The distinct priorities of s, highest first, into prio[] (at most
 * ARENA_MAX_LEVELS; returns ARENA_MAX_LEVELS + 1 if there are more). One
 * level, priority 0, when s has none. O(njobs * levels), levels <= 64.
 */
static uint32_t levels_of(const struct spec *s, int32_t prio[ARENA_MAX_LEVELS])
{
    prio[0] = 0;
    if (!s->prio || s->njobs == 0)
        return 1;
    uint32_t n = 0;
    int32_t last = 0;
    for (uint32_t j = 0; j < s->njobs; j++) {
        int32_t v = s->prio[j];
        if (n && v == last)
            continue; /* runs of equal priorities are the common case */
        last = v;
        uint32_t i = 0;
        while (i < n && prio[i] > v)
            i++;
        if (i < n && prio[i] == v)
            continue;
        if (n == ARENA_MAX_LEVELS)
            return ARENA_MAX_LEVELS + 1;
        memmove(prio + i + 1, prio + i, (n - i) * sizeof *prio);
        prio[i] = v;
        n++;
    }
    return n;
}

void arena_dims_of(const struct spec *s, const struct arena_opts *o, struct arena_dims *d)
{
    memset(d, 0, sizeof *d);
    d->njobs = s->njobs;
    d->nedges = s->nedges;
    d->pool_len = s->pool_len;
    d->nslots = o && o->nslots ? o->nslots : DEFAULT_SLOTS;
    d->nrr = s->nrr;
    d->nfh = s->nfh;
    d->nrules = s->nrules;
    d->ncodes = s->ncodes;
    d->nenvsets = s->nenvsets;
    d->nenvkv = s->nenvsets ? s->nenvkv : 0;
    d->njobenv = s->nenvsets && s->env ? s->njobs : 0;
    for (uint32_t j = 0; j < s->njobs; j++)
        d->nroots += s->npar[j] == 0;
    int32_t prio[ARENA_MAX_LEVELS];
    d->nlevels = levels_of(s, prio);
}

/* Priority levels: 0 in dimensions filled by hand means one. */
static uint32_t levels_in(const struct arena_dims *d)
{
    return d->nlevels ? d->nlevels : 1;
}

/* Queue chunks: each queue's first, and enough for every job to be pushed
 * once (every chunk but a queue's last is full). */
static uint64_t nchunks_of(const struct arena_dims *d)
{
    return (uint64_t)d->nslots * levels_in(d) + (d->njobs + ARENA_CHUNK - 1) / ARENA_CHUNK;
}

struct layout {
    struct arena_sect sect[ARENA_NSECT];
    uint64_t bytes, hot;
};

static bool lay_out(const struct arena_dims *d, struct layout *l)
{
    uint64_t nq = (uint64_t)d->nslots * levels_in(d), nch = nchunks_of(d);
    const uint64_t n[ARENA_NSECT] = {
        [ARENA_SECT_CTL] = 1,
        [ARENA_SECT_SLOTS] = d->nslots,
        [ARENA_SECT_STATE] = d->njobs,
        [ARENA_SECT_INDEG] = d->njobs,
        [ARENA_SECT_DIRTY] = (d->njobs + 63) / 64,
        [ARENA_SECT_KID_OFF] = d->njobs + 1,
        [ARENA_SECT_KIDS] = d->nedges,
        [ARENA_SECT_READYQ] = d->nroots + nch * ARENA_CHUNK,
        [ARENA_SECT_QD] = nq,
        [ARENA_SECT_CHUNKS] = nch,
        [ARENA_SECT_AGES] = nq,
        [ARENA_SECT_LVL] = levels_in(d) > 1 ? d->njobs : 0,
        [ARENA_SECT_SLEEP] = (d->nslots + 63) / 64,
        [ARENA_SECT_INDEG0] = d->njobs,
        [ARENA_SECT_LINK] = d->njobs,
        [ARENA_SECT_COLD] = d->njobs,
        [ARENA_SECT_META] = d->njobs,
        [ARENA_SECT_LEVELS] = levels_in(d),
        [ARENA_SECT_RRS] = d->nrr,
        [ARENA_SECT_FHS] = d->nfh,
        [ARENA_SECT_RULES] = d->nrules,
        [ARENA_SECT_CODES] = d->ncodes,
        [ARENA_SECT_POOL] = d->pool_len,
        [ARENA_SECT_ENVSETS] = d->nenvsets,
        [ARENA_SECT_ENVKV] = d->nenvkv,
        [ARENA_SECT_JOBENV] = d->njobenv,
    };
    const uint32_t elem[ARENA_NSECT] = {
        [ARENA_SECT_CTL] = sizeof(struct arena_ctl),
        [ARENA_SECT_SLOTS] = sizeof(struct arena_slot),
        [ARENA_SECT_STATE] = 8,
        [ARENA_SECT_INDEG] = 4,
        [ARENA_SECT_DIRTY] = 8,
        [ARENA_SECT_KID_OFF] = 8,
        [ARENA_SECT_KIDS] = 4,
        [ARENA_SECT_READYQ] = 4,
        [ARENA_SECT_QD] = sizeof(struct arena_qd),
        [ARENA_SECT_CHUNKS] = sizeof(struct arena_chunk),
        [ARENA_SECT_AGES] = 4,
        [ARENA_SECT_LVL] = 1,
        [ARENA_SECT_SLEEP] = 8,
        [ARENA_SECT_INDEG0] = 4,
        [ARENA_SECT_LINK] = 4,
        [ARENA_SECT_COLD] = sizeof(struct arena_cold),
        [ARENA_SECT_META] = sizeof(struct arena_meta),
        [ARENA_SECT_LEVELS] = sizeof(struct arena_level),
        [ARENA_SECT_RRS] = sizeof(struct arena_rr),
        [ARENA_SECT_FHS] = sizeof(struct arena_fh),
        [ARENA_SECT_RULES] = sizeof(struct arena_rule),
        [ARENA_SECT_CODES] = sizeof(int32_t),
        [ARENA_SECT_POOL] = 1,
        [ARENA_SECT_ENVSETS] = sizeof(struct arena_envset),
        [ARENA_SECT_ENVKV] = 8,
        [ARENA_SECT_JOBENV] = 4,
    };
    uint64_t off = sizeof(struct arena_hdr);
    l->hot = 0;
    for (int i = 0; i < ARENA_NSECT; i++) {
        uint64_t len;
        if (__builtin_mul_overflow(n[i], (uint64_t)elem[i], &len) ||
            __builtin_add_overflow(len, (uint64_t)ARENA_ALIGN - 1, &len))
            return false;
        len &= ~((uint64_t)ARENA_ALIGN - 1);
        l->sect[i] = (struct arena_sect){.off = off, .n = n[i], .elem = elem[i], .pad = 0};
        if (i >= ARENA_SECT_STATE && i <= ARENA_SECT_LVL)
            l->hot += n[i] * elem[i];
        if (__builtin_add_overflow(off, len, &off))
            return false;
    }
    l->bytes = off;
    return true;
}

int arena_plan(const struct arena_dims *d, struct arena_plan *p, struct vl_err *err)
{
    memset(p, 0, sizeof *p);
    if (d->njobs > SPEC_MAX_JOBS)
        return vl_err_set(err, VL_ETOOBIG, "%" PRIu64 " jobs is more than an arena can address",
                          d->njobs);
    if (d->nslots == 0 || d->nslots > ARENA_MAX_SLOTS)
        return vl_err_set(err, VL_ETOOBIG, "an arena has 1 to %u participant slots, not %" PRIu32,
                          ARENA_MAX_SLOTS, d->nslots);
    if (d->nlevels > ARENA_MAX_LEVELS)
        return vl_err_set(err, VL_ESPEC,
                          "the workflow has more than %u distinct priorities; volley orders at "
                          "most %u: give jobs fewer distinct 'priority' values",
                          ARENA_MAX_LEVELS, ARENA_MAX_LEVELS);
    if (d->nroots > d->njobs || d->nroots + nchunks_of(d) * ARENA_CHUNK > UINT32_MAX)
        return vl_err_set(err, VL_ETOOBIG,
                          "an arena for %" PRIu64 " jobs, %" PRIu32 " slots and %" PRIu32
                          " priorities needs more than 2^32 ready-queue cells",
                          d->njobs, d->nslots, levels_in(d));
    struct layout l;
    if (!lay_out(d, &l) || l.bytes > (uint64_t)SIZE_MAX / 2)
        return vl_err_set(err, VL_ETOOBIG, "an arena for %" PRIu64 " jobs does not fit in memory",
                          d->njobs);
    p->bytes = l.bytes;
    p->hot_bytes = l.hot;
    p->cold_bytes = l.bytes - l.hot;
    return 0;
}

/* ---- small helpers ---- */

static uint64_t fnv1a(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t hdr_sum(const struct arena_hdr *h)
{
    return fnv1a(h, offsetof(struct arena_hdr, hdr_sum));
}

void arena__bug(const char *what)
{
    vl_log("volley: internal error in the arena: %s. This is a bug in volley; "
           "`volley resume` will continue the run.",
           what);
    abort();
}

void arena__map_sections(struct arena *a)
{
    struct arena_hdr *h = (struct arena_hdr *)a->base;
    uint8_t *b = a->base;
    a->hdr = h;
    a->njobs = h->njobs;
    a->nslots = h->nslots;
    a->nedges = h->nedges;
    a->ndirty = h->sect[ARENA_SECT_DIRTY].n;
    a->ctl = (struct arena_ctl *)(b + h->sect[ARENA_SECT_CTL].off);
    a->slots = (struct arena_slot *)(b + h->sect[ARENA_SECT_SLOTS].off);
    a->state = (_Atomic uint64_t *)(b + h->sect[ARENA_SECT_STATE].off);
    a->indeg = (_Atomic uint32_t *)(b + h->sect[ARENA_SECT_INDEG].off);
    a->dirty = (_Atomic uint64_t *)(b + h->sect[ARENA_SECT_DIRTY].off);
    a->kid_off = (const uint64_t *)(b + h->sect[ARENA_SECT_KID_OFF].off);
    a->kids = (const uint32_t *)(b + h->sect[ARENA_SECT_KIDS].off);
    a->readyq = (_Atomic uint32_t *)(b + h->sect[ARENA_SECT_READYQ].off);
    a->qds = (struct arena_qd *)(b + h->sect[ARENA_SECT_QD].off);
    a->chunks = (struct arena_chunk *)(b + h->sect[ARENA_SECT_CHUNKS].off);
    a->ages = (_Atomic uint32_t *)(b + h->sect[ARENA_SECT_AGES].off);
    a->lvl = h->sect[ARENA_SECT_LVL].n ? (const uint8_t *)(b + h->sect[ARENA_SECT_LVL].off) : NULL;
    a->levels = (struct arena_level *)(b + h->sect[ARENA_SECT_LEVELS].off);
    a->sleep = (_Atomic uint64_t *)(b + h->sect[ARENA_SECT_SLEEP].off);
    a->nlevels = h->nlevels;
    a->nchunks = (uint32_t)h->sect[ARENA_SECT_CHUNKS].n;
    a->ncells = h->sect[ARENA_SECT_READYQ].n;
    a->chunk0 = h->nroots;
    a->indeg0 = (const uint32_t *)(b + h->sect[ARENA_SECT_INDEG0].off);
    a->link = (_Atomic uint32_t *)(b + h->sect[ARENA_SECT_LINK].off);
    a->cold = (struct arena_cold *)(b + h->sect[ARENA_SECT_COLD].off);
    a->meta = (const struct arena_meta *)(b + h->sect[ARENA_SECT_META].off);
    a->rrs = (const struct arena_rr *)(b + h->sect[ARENA_SECT_RRS].off);
    a->fhs = (const struct arena_fh *)(b + h->sect[ARENA_SECT_FHS].off);
    a->rules = (const struct arena_rule *)(b + h->sect[ARENA_SECT_RULES].off);
    a->codes = (const int32_t *)(b + h->sect[ARENA_SECT_CODES].off);
    a->pool = (const char *)(b + h->sect[ARENA_SECT_POOL].off);
    a->pool_len = h->pool_len;
    a->nenvsets = (uint32_t)h->sect[ARENA_SECT_ENVSETS].n;
    a->nenvkv = h->sect[ARENA_SECT_ENVKV].n;
    a->envsets = (const struct arena_envset *)(b + h->sect[ARENA_SECT_ENVSETS].off);
    a->envkv = (const uint64_t *)(b + h->sect[ARENA_SECT_ENVKV].off);
    a->jobenv = h->sect[ARENA_SECT_JOBENV].n
                    ? (const uint32_t *)(b + h->sect[ARENA_SECT_JOBENV].off)
                    : NULL;
}

const char *arena_state_name(enum arena_state s)
{
    static const char *names[ARENA_NSTATES] = {"blocked", "ready",      "running", "completed",
                                               "failed",  "terminated", "canceled"};
    return (unsigned)s < ARENA_NSTATES ? names[s] : "invalid";
}

/* ---- building ---- */

static void set_path(struct arena *a, const char *path)
{
    snprintf(a->path, sizeof a->path, "%s", path);
}

/* Free bytes in the file system that will hold path. */
static int free_space(const char *path, uint64_t *avail, char *dir, size_t dirlen)
{
    snprintf(dir, dirlen, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, dirlen, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0)
        return -errno;
    *avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    return 0;
}

static void fill_tables(struct arena *a, const struct spec *s)
{
    struct arena_rr *rr = (struct arena_rr *)a->rrs;
    for (uint32_t i = 0; i < s->nrr; i++)
        rr[i] = (struct arena_rr){
            .name_off = s->rrs[i].name_off,
            .memory_bytes = s->rrs[i].memory_bytes,
            .runtime_ms = s->rrs[i].runtime_ms,
            .num_cpus = s->rrs[i].num_cpus,
            .num_gpus = s->rrs[i].num_gpus,
            .num_nodes = s->rrs[i].num_nodes,
            .max_pids = s->rrs[i].max_pids,
        };
    struct arena_fh *fh = (struct arena_fh *)a->fhs;
    for (uint32_t i = 0; i < s->nfh; i++)
        fh[i] = (struct arena_fh){.name_off = s->fhs[i].name_off,
                                  .rule_first = s->fhs[i].rule_first,
                                  .nrules = s->fhs[i].nrules};
    struct arena_rule *ru = (struct arena_rule *)a->rules;
    for (uint32_t i = 0; i < s->nrules; i++)
        ru[i] = (struct arena_rule){.code_first = s->rules[i].code_first,
                                    .ncodes = s->rules[i].ncodes,
                                    .max_retries = s->rules[i].max_retries,
                                    .flags = s->rules[i].flags,
                                    .script_off = s->rules[i].script_off};
    if (s->ncodes)
        memcpy((int32_t *)a->codes, s->codes, (size_t)s->ncodes * sizeof(int32_t));
    if (s->pool_len)
        memcpy((char *)a->pool, s->pool, s->pool_len);
    struct arena_envset *es = (struct arena_envset *)a->envsets;
    for (uint32_t i = 0; i < a->nenvsets; i++)
        es[i] = (struct arena_envset){
            .first = s->envsets[i].first, .n = s->envsets[i].n, .base = s->envsets[i].base};
    if (a->nenvkv)
        memcpy((uint64_t *)a->envkv, s->envkv, (size_t)a->nenvkv * 8);
    if (a->jobenv)
        memcpy((uint32_t *)a->jobenv, s->env, (size_t)s->njobs * 4);
}

/*
 * The priority levels: each job's level, and each level's roots, in
 * ascending ids, as its root log at the start of readyq.
 */
static void fill_levels(struct arena *a, const struct spec *s)
{
    int32_t prio[ARENA_MAX_LEVELS];
    uint32_t nl = levels_of(s, prio);
    uint8_t *lvl = (uint8_t *)a->lvl;
    uint64_t count[ARENA_MAX_LEVELS] = {0}, at[ARENA_MAX_LEVELS];
    uint32_t L = 0;
    for (uint32_t j = 0; j < s->njobs; j++) {
        if (lvl) {
            if (prio[L] != s->prio[j]) /* runs of equal priorities are common */
                for (L = 0; prio[L] != s->prio[j]; L++)
                    ;
            lvl[j] = (uint8_t)L;
        }
        count[L] += s->npar[j] == 0;
    }
    uint64_t first = 0;
    for (uint32_t i = 0; i < nl; i++) {
        struct arena_level *lv = &a->levels[i];
        lv->prio = prio[i];
        lv->root_first = at[i] = first;
        lv->nroots = count[i];
        first += count[i];
    }
    for (uint32_t j = 0; j < s->njobs; j++)
        if (s->npar[j] == 0)
            atomic_store_explicit(&a->readyq[at[lvl ? lvl[j] : 0]++], j, ARENA_RELAXED);
}

/* Writes every section of a fresh (zeroed) segment from the spec. */
static void fill(struct arena *a, const struct spec *s, const struct arena_opts *o)
{
    uint32_t n = s->njobs;
    uint64_t nroots = 0;
    struct arena_meta *meta = (struct arena_meta *)a->meta;
    fill_levels(a, s);
    arena__reset_queues(a);
    for (uint32_t j = 0; j < n; j++) {
        unsigned st = s->npar[j] == 0 ? ARENA_READY : ARENA_BLOCKED;
        nroots += s->npar[j] == 0;
        atomic_store_explicit(&a->state[j], arena__word(st, 0, ARENA_W_NO_OWNER, 1), ARENA_RELAXED);
        meta[j] = (struct arena_meta){.name_off = s->name_off[j],
                                      .cmd_off = s->cmd_off[j],
                                      .rr = s->rr[j],
                                      .fh = s->fh[j],
                                      .flags = s->flags[j],
                                      .pad = {0, 0, 0}};
    }
    /* the atomic and plain u32/u64 arrays share a representation */
    memcpy((uint32_t *)a->indeg0, s->npar, (size_t)n * 4);
    memcpy((uint32_t *)a->indeg, s->npar, (size_t)n * 4);
    memcpy((uint64_t *)a->kid_off, s->kid_off, ((size_t)n + 1) * 8);
    if (s->nedges)
        memcpy((uint32_t *)a->kids, s->kids, (size_t)s->nedges * 4);
    fill_tables(a, s);

    atomic_store_explicit(&a->ctl->base[ARENA_READY], (int64_t)nroots, ARENA_RELAXED);
    atomic_store_explicit(&a->ctl->base[ARENA_BLOCKED], (int64_t)(n - nroots), ARENA_RELAXED);

    struct arena_hdr *h = a->hdr;
    (void)nroots; /* the header has it from the dimensions */
    static const uint8_t zero[16];
    if (o && memcmp(o->run_id, zero, 16) != 0)
        memcpy(h->run_id, o->run_id, 16);
    else if (getrandom(h->run_id, 16, 0) != 16)
        for (int i = 0; i < 16; i++) /* no entropy: still unique enough per host */
            h->run_id[i] = (uint8_t)((vl_now_ns() >> (i % 8 * 8)) ^ (uint64_t)getpid() ^ i);
    h->creator_pid = (int32_t)getpid();
    h->creator_start = vl_proc_start(getpid());
    h->created_ns = vl_wall_ns();
}

static void write_header(struct arena *a, const struct arena_dims *d, const struct layout *l)
{
    struct arena_hdr *h = a->hdr;
    memcpy(h->magic, ARENA_MAGIC, 8);
    h->layout = ARENA_LAYOUT;
    h->shape = ARENA_SHAPE;
    h->bytes = l->bytes;
    h->njobs = (uint32_t)d->njobs;
    h->nslots = d->nslots;
    h->nedges = d->nedges;
    h->nroots = d->nroots;
    h->nlevels = levels_in(d);
    h->pool_len = d->pool_len;
    h->nrr = d->nrr;
    h->nfh = d->nfh;
    h->nrules = d->nrules;
    h->ncodes = d->ncodes;
    memcpy(h->sect, l->sect, sizeof h->sect);
}

int arena__build(struct arena *a, const char *path, const struct spec *s,
                 const struct arena_opts *o, const struct arena_job_rec *recs, struct vl_err *err)
{
    memset(a, 0, sizeof *a);
    a->fd = -1;
    set_path(a, path);
    struct arena_dims d;
    struct arena_plan p;
    struct layout l;
    char sz[32], av[32], dir[256];
    arena_dims_of(s, o, &d);
    int rc = arena_plan(&d, &p, err);
    if (rc)
        return rc;
    lay_out(&d, &l);
    vl_fmt_bytes(p.bytes, sz, sizeof sz);
    if (strlen(path) + 32 >= sizeof a->path)
        return vl_err_set(err, -ENAMETOOLONG, "arena path too long: %s", path);

    uint64_t avail = 0;
    rc = free_space(path, &avail, dir, sizeof dir);
    if (rc)
        return vl_err_sys(err, rc, "cannot create arena %s (%s): cannot inspect %s", path, sz, dir);
    if (avail < p.bytes && !ARENA_FAULT(ARENA_FP_SPACE_CHECK))
        return vl_err_set(err, -ENOSPC,
                          "cannot create arena %s: it needs %s but %s has only %s free; "
                          "free space there or run a smaller workflow",
                          path, sz, dir, vl_fmt_bytes(avail, av, sizeof av));

    /* an unnamed file, linked into place when complete: nobody attaches a
     * half-built arena, and a crash while building leaves nothing behind.
     * Where O_TMPFILE is not supported, a named temporary file instead. */
    char tmp[sizeof a->path + 32] = "";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
        snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid());
        fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd < 0)
        return vl_err_sys(err, -errno, "cannot create arena %s (%s)", path, sz);
    void *m = MAP_FAILED;
    rc = fallocate(fd, 0, 0, (off_t)p.bytes);
    if (rc != 0 && (errno == EOPNOTSUPP || errno == ENOSYS))
        rc = ftruncate(fd, (off_t)p.bytes);
    if (rc != 0) {
        rc = vl_err_sys(err, -errno, "cannot create arena %s (%s)", path, sz);
        goto fail;
    }
    m = mmap(NULL, p.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        rc = vl_err_sys(err, -errno, "cannot map arena %s (%s)", path, sz);
        goto fail;
    }
    if (madvise(m, p.bytes, MADV_POPULATE_WRITE) != 0 && errno != EINVAL) {
        /* EINVAL: a kernel before 5.14; the pages are allocated anyway */
        rc = vl_err_sys(err, errno == EFAULT ? -ENOSPC : -errno,
                        "cannot allocate arena %s (%s) in memory", path, sz);
        goto fail;
    }
    a->base = m;
    a->bytes = p.bytes;
    a->fd = fd;
    a->hdr = (struct arena_hdr *)a->base;
    write_header(a, &d, &l);
    arena__map_sections(a);
    fill(a, s, o);
    if (recs && (rc = arena__apply_recs(a, recs, err)) != 0)
        goto fail;
    a->hdr->hdr_sum = hdr_sum(a->hdr);
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    if (tmp[0] ? renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0
               : linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) != 0) {
        rc = -errno;
        if (rc == -EEXIST)
            vl_err_set(err, rc,
                       "cannot create arena %s: it already exists (another run? remove it if "
                       "no volley is using it)",
                       path);
        else
            vl_err_sys(err, rc, "cannot create arena %s", path);
        goto fail;
    }
    return 0;
fail:
    if (m != MAP_FAILED)
        munmap(m, p.bytes);
    close(fd);
    if (tmp[0])
        unlink(tmp);
    memset(a, 0, sizeof *a);
    a->fd = -1;
    return rc;
}

int arena_build(struct arena *a, const char *path, const struct spec *s, const struct arena_opts *o,
                struct vl_err *err)
{
    return arena__build(a, path, s, o, NULL, err);
}

int arena_restore(struct arena *a, const char *path, const struct spec *s,
                  const struct arena_opts *o, const struct arena_job_rec *recs, struct vl_err *err)
{
    return arena__build(a, path, s, o, recs, err);
}

/* ---- attaching ---- */

#define CORRUPT(...) vl_err_set(err, VL_ECORRUPT, __VA_ARGS__)

/* The env sets: entries in range and in the pool, bases earlier (so a
 * chain ends), each job's set in range. */
static int check_env(const struct arena *a, struct vl_err *err)
{
    const char *p = a->path;
    for (uint32_t i = 0; i < a->nenvsets; i++) {
        const struct arena_envset *e = &a->envsets[i];
        if (e->first > a->nenvkv || e->n > a->nenvkv - e->first ||
            (e->base != ARENA_NONE && e->base >= i))
            return CORRUPT("arena %s is corrupt: env set %" PRIu32 " is out of range", p, i);
    }
    for (uint64_t i = 0; i < a->nenvkv; i++)
        if (a->envkv[i] >= a->pool_len)
            return CORRUPT("arena %s is corrupt: env entry %" PRIu64 " is out of the pool", p, i);
    for (uint32_t j = 0; a->jobenv && j < a->njobs; j++)
        if (a->jobenv[j] >= a->nenvsets)
            return CORRUPT("arena %s is corrupt: job %" PRIu32 " has an env set out of range", p,
                           j);
    return 0;
}

static int check_tables(const struct arena *a, struct vl_err *err)
{
    const struct arena_hdr *h = a->hdr;
    const char *p = a->path;
    if (a->pool_len == 0 ? a->njobs != 0 : a->pool[a->pool_len - 1] != '\0')
        return CORRUPT("arena %s is corrupt: its string pool is not terminated", p);
    for (uint32_t i = 0; i < h->nrr; i++)
        if (a->rrs[i].name_off >= a->pool_len)
            return CORRUPT("arena %s is corrupt: resource class %" PRIu32 " has a bad name", p, i);
    for (uint32_t i = 0; i < h->nfh; i++)
        if (a->fhs[i].name_off >= a->pool_len || a->fhs[i].rule_first > h->nrules ||
            a->fhs[i].nrules > h->nrules - a->fhs[i].rule_first)
            return CORRUPT("arena %s is corrupt: failure handler %" PRIu32 " is out of range", p,
                           i);
    for (uint32_t i = 0; i < h->nrules; i++) {
        const struct arena_rule *r = &a->rules[i];
        if (r->code_first > h->ncodes || r->ncodes > h->ncodes - r->code_first ||
            (r->script_off != SPEC_NO_STR && r->script_off >= a->pool_len))
            return CORRUPT("arena %s is corrupt: failure rule %" PRIu32 " is out of range", p, i);
    }
    return check_env(a, err);
}

static int check_jobs(const struct arena *a, struct vl_err *err)
{
    const char *p = a->path;
    if (a->kid_off[0] != 0 || a->kid_off[a->njobs] != a->nedges)
        return CORRUPT("arena %s is corrupt: the child offsets do not span the edges", p);
    uint64_t roots = 0, indeg_sum = 0;
    for (uint32_t j = 0; j < a->njobs; j++) {
        if (a->kid_off[j + 1] < a->kid_off[j])
            return CORRUPT("arena %s is corrupt: job %" PRIu32 ": child offsets decrease", p, j);
        const struct arena_meta *m = &a->meta[j];
        if (m->name_off >= a->pool_len || m->cmd_off >= a->pool_len)
            return CORRUPT("arena %s is corrupt: job %" PRIu32 ": name or command out of pool", p,
                           j);
        if ((m->rr != SPEC_NONE16 && m->rr >= a->hdr->nrr) ||
            (m->fh != SPEC_NONE16 && m->fh >= a->hdr->nfh))
            return CORRUPT("arena %s is corrupt: job %" PRIu32 ": table index out of range", p, j);
        uint64_t w = atomic_load_explicit(&a->state[j], ARENA_RELAXED);
        uint32_t o = arena__owner(w);
        if (arena__st(w) >= ARENA_NSTATES || (o != ARENA_W_NO_OWNER && o >= a->nslots))
            return CORRUPT("arena %s is corrupt: job %" PRIu32 " has an invalid state word", p, j);
        roots += a->indeg0[j] == 0;
        indeg_sum += a->indeg0[j];
    }
    for (uint64_t e = 0; e < a->nedges; e++)
        if (a->kids[e] >= a->njobs)
            return CORRUPT("arena %s is corrupt: edge %" PRIu64 " points past the last job", p, e);
    if (roots != a->hdr->nroots || indeg_sum != a->nedges)
        return CORRUPT("arena %s is corrupt: in-degrees do not match the edges", p);
    return 0;
}

/*
 * The priority levels: descending priorities, each job's level in range,
 * the root logs adjacent and holding every root once, at its own level
 * (a damaged root log would hand out a blocked job, or never a root).
 * The queues and chunks are derived: a repair rebuilds them before any
 * worker takes (take reads their indices bounds-checked all the same).
 */
static int check_levels(const struct arena *a, struct vl_err *err)
{
    const char *p = a->path;
    uint64_t first = 0;
    for (uint32_t i = 0; i < a->nlevels; i++) {
        const struct arena_level *lv = &a->levels[i];
        if ((i > 0 && lv->prio >= a->levels[i - 1].prio) || lv->root_first != first ||
            lv->nroots > a->hdr->nroots - first)
            return CORRUPT("arena %s is corrupt: priority level %" PRIu32 " is out of order", p, i);
        first += lv->nroots;
    }
    if (first != a->hdr->nroots)
        return CORRUPT("arena %s is corrupt: its root logs do not hold its roots", p);
    if (a->lvl)
        for (uint32_t j = 0; j < a->njobs; j++)
            if (a->lvl[j] >= a->nlevels)
                return CORRUPT("arena %s is corrupt: job %" PRIu32 " has priority level %u", p, j,
                               a->lvl[j]);
    uint64_t *seen =
        vl_alloc_array(((size_t)a->njobs + 63) / 64 + 1, 8, true, "checking the arena", err);
    if (!seen)
        return err ? err->code : VL_ETOOBIG;
    int rc = 0;
    for (uint32_t i = 0; i < a->nlevels && !rc; i++) {
        const struct arena_level *lv = &a->levels[i];
        for (uint64_t k = lv->root_first; k < lv->root_first + lv->nroots && !rc; k++) {
            uint32_t j = atomic_load_explicit(&a->readyq[k], ARENA_RELAXED);
            if (j >= a->njobs || a->indeg0[j] != 0 || arena_job_level(a, j) != i ||
                (seen[j >> 6] & (1ull << (j & 63))))
                rc = CORRUPT("arena %s is corrupt: root log cell %" PRIu64 " is not a root of its "
                             "level",
                             p, k);
            else
                seen[j >> 6] |= 1ull << (j & 63);
        }
    }
    free(seen);
    return rc;
}

/*
 * Read-write attach (a run resumes on it): the initial in-degrees must be
 * exact and the graph acyclic, or jobs would wait forever. Kahn's
 * algorithm, O(njobs + nedges), 8 bytes per job of scratch. Read-only
 * attach (status) skips this: nothing it does can hang or crash on it.
 */
static int check_graph(const struct arena *a, struct vl_err *err)
{
    uint32_t n = a->njobs, *deg = vl_alloc_array(n, 4, true, "checking the arena", err);
    uint32_t *queue = vl_alloc_array(n, 4, false, "checking the arena", err);
    int rc = 0;
    if (!deg || !queue) {
        rc = err ? err->code : VL_ETOOBIG;
        goto out;
    }
    for (uint64_t e = 0; e < a->nedges; e++)
        deg[a->kids[e]]++;
    for (uint32_t j = 0; j < n && !rc; j++)
        if (deg[j] != a->indeg0[j])
            rc = CORRUPT("arena %s is corrupt: job %" PRIu32 " has %" PRIu32
                         " parents but an initial in-degree of %" PRIu32,
                         a->path, j, deg[j], a->indeg0[j]);
    uint32_t head = 0, tail = 0;
    for (uint32_t j = 0; j < n && !rc; j++)
        if (deg[j] == 0)
            queue[tail++] = j;
    while (head < tail && !rc) {
        uint32_t j = queue[head++];
        for (uint64_t e = a->kid_off[j]; e < a->kid_off[j + 1]; e++)
            if (--deg[a->kids[e]] == 0)
                queue[tail++] = a->kids[e];
    }
    if (!rc && tail != n)
        rc = CORRUPT("arena %s is corrupt: its dependency graph has a cycle", a->path);
out:
    free(deg);
    free(queue);
    return rc;
}

static int validate(struct arena *a, uint64_t size, bool hdr_only, struct vl_err *err)
{
    const struct arena_hdr *h = (const struct arena_hdr *)a->base;
    const char *p = a->path;
    if (memcmp(h->magic, ARENA_MAGIC, 8) != 0)
        return CORRUPT("%s is not a volley arena (no VOLLEYAR magic at its start)", p);
    if (h->layout != ARENA_LAYOUT)
        return vl_err_set(err, VL_EVERSION,
                          "arena %s has layout version %" PRIu32 " but this volley " VL_VERSION
                          " reads only version %u: use the volley that started that run, or "
                          "resume it from its volley.db",
                          p, h->layout, ARENA_LAYOUT);
    if (h->shape != ARENA_SHAPE)
        return vl_err_set(err, VL_EVERSION,
                          "arena %s was written by a volley build with other structure sizes "
                          "(shape %08" PRIx32 ", this build %08x): use the volley that started "
                          "that run, or resume it from its volley.db",
                          p, h->shape, (unsigned)ARENA_SHAPE);
#ifndef VL_FUZZING /* let the fuzzer reach the checks below */
    if (h->hdr_sum != hdr_sum(h))
        return CORRUPT("arena %s is corrupt: its header checksum does not match", p);
#endif
    char b1[32], b2[32];
    if (h->bytes != size)
        return CORRUPT("arena %s is %s: its header says %s but the file has %s", p,
                       size < h->bytes ? "truncated" : "corrupt",
                       vl_fmt_bytes(h->bytes, b1, sizeof b1), vl_fmt_bytes(size, b2, sizeof b2));
    struct arena_dims d = {.njobs = h->njobs,
                           .nedges = h->nedges,
                           .pool_len = h->pool_len,
                           .nroots = h->nroots,
                           .nslots = h->nslots,
                           .nrr = h->nrr,
                           .nfh = h->nfh,
                           .nrules = h->nrules,
                           .ncodes = h->ncodes,
                           /* the env sections are their own dimensions */
                           .nenvsets = (uint32_t)h->sect[ARENA_SECT_ENVSETS].n,
                           .nenvkv = h->sect[ARENA_SECT_ENVKV].n,
                           .njobenv = h->sect[ARENA_SECT_JOBENV].n,
                           .nlevels = h->nlevels};
    struct layout l;
    struct arena_plan pl;
    if (h->njobs > SPEC_MAX_JOBS || h->nroots > h->njobs || h->nlevels == 0 ||
        h->sect[ARENA_SECT_ENVSETS].n > UINT32_MAX ||
        (d.njobenv && (d.njobenv != h->njobs || !d.nenvsets)) || arena_plan(&d, &pl, NULL) != 0 ||
        !lay_out(&d, &l) || l.bytes != h->bytes)
        return CORRUPT("arena %s is corrupt: its dimensions do not add up to its size", p);
    for (int i = 0; i < ARENA_NSECT; i++)
        if (memcmp(&l.sect[i], &h->sect[i], sizeof l.sect[i]) != 0)
            return CORRUPT("arena %s is corrupt: section %d is not where its dimensions put it", p,
                           i);
    arena__map_sections(a);
    if (hdr_only && a->rdonly)
        return 0;
    int rc = check_tables(a, err);
    if (!rc)
        rc = check_jobs(a, err);
    if (!rc)
        rc = check_levels(a, err);
    if (!rc && !a->rdonly)
        rc = check_graph(a, err);
    return rc;
}

int arena_attach(struct arena *a, const char *path, unsigned flags, struct vl_err *err)
{
    memset(a, 0, sizeof *a);
    a->fd = -1;
    set_path(a, path);
    bool ro = flags & ARENA_RDONLY;
    int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        if (rc == -EISDIR)
            return vl_err_set(err, VL_ECORRUPT, "%s is not a volley arena (not a regular file)",
                              path);
        if (rc == -ENOENT)
            return vl_err_set(err, rc,
                              "no arena at %s (the run ended, or the machine rebooted: "
                              "resume from its volley.db)",
                              path);
        return vl_err_sys(err, rc, "cannot open arena %s", path);
    }
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0) {
        rc = vl_err_sys(err, -errno, "cannot inspect arena %s", path);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = CORRUPT("%s is not a volley arena (not a regular file)", path);
        goto fail;
    }
    if ((uint64_t)st.st_size < sizeof(struct arena_hdr)) {
        rc = CORRUPT("arena %s is truncated: %lld bytes, less than its %zu-byte header", path,
                     (long long)st.st_size, sizeof(struct arena_hdr));
        goto fail;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | (ro ? 0 : PROT_WRITE), MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        rc = vl_err_sys(err, -errno, "cannot map arena %s", path);
        goto fail;
    }
    a->base = m;
    a->bytes = (uint64_t)st.st_size;
    a->fd = fd;
    a->rdonly = ro;
    rc = validate(a, (uint64_t)st.st_size, (flags & ARENA_HDR_ONLY) != 0, err);
    if (rc) {
        munmap(m, (size_t)st.st_size);
        goto fail;
    }
    return 0;
fail:
    close(fd);
    memset(a, 0, sizeof *a);
    a->fd = -1;
    return rc;
}

void arena_close(struct arena *a)
{
    if (!a || !a->base)
        return;
    munmap(a->base, a->bytes);
    if (a->fd >= 0)
        close(a->fd);
    memset(a, 0, sizeof *a);
    a->fd = -1;
}

int arena_unlink(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* ---- the runner's identity ---- */

void arena_set_runner(struct arena *a, int pid, uint64_t start_ticks)
{
    atomic_store_explicit(&a->hdr->runner, pid > 0 ? ARENA_IDENT(pid, start_ticks) : 0, ARENA_REL);
}

bool arena_runner_alive(const struct arena *a)
{
    return arena__ident_alive(atomic_load_explicit(&a->hdr->runner, ARENA_ACQ));
}

#ifdef ARENA_FAULTS
int (*arena__fault_hook)(int point);
#endif

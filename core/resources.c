/*
 * resources.c - see resources.h.
 */
#include "resources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint32_t res_gpu_count(const char *visible)
{
    uint32_t n = 0;
    for (const char *p = visible; *p && n < RES_MAX_GPUS;) {
        size_t len = strcspn(p, ",");
        if (*p == '-')
            break;
        if (len)
            n++;
        p += len + (p[len] == ',');
    }
    return n;
}

void res_detect(struct res_amount *cap)
{
    memset(cap, 0, sizeof *cap);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cap->cpus = n > 0 ? (uint32_t)n : 1;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0)
        cap->memory_bytes = (uint64_t)pages * (uint64_t)psz;
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    if (visible) {
        cap->gpus = res_gpu_count(visible);
        return;
    }
    for (int i = 0; i < RES_MAX_GPUS; i++) {
        char p[32];
        snprintf(p, sizeof p, "/dev/nvidia%d", i);
        if (access(p, F_OK) != 0)
            break;
        cap->gpus++;
    }
}

int res_check_fit(const struct res_amount *cap, const struct res_amount *need, const char *job,
                  const char *rclass, struct vl_err *err)
{
    char cls[300] = "";
    if (rclass && *rclass)
        snprintf(cls, sizeof cls, " (resource class '%s')", rclass);
    if (need->cpus > cap->cpus)
        return vl_err_set(err, VL_ESPEC, "job '%s' needs %u CPUs%s, the node has %u", job,
                          need->cpus, cls, cap->cpus);
    if (need->memory_bytes > cap->memory_bytes) {
        char a[32], b[32];
        return vl_err_set(err, VL_ESPEC, "job '%s' needs %s of memory%s, the node has %s", job,
                          vl_fmt_bytes(need->memory_bytes, a, sizeof a), cls,
                          vl_fmt_bytes(cap->memory_bytes, b, sizeof b));
    }
    if (need->gpus > cap->gpus || need->gpus > RES_MAX_GPUS)
        return vl_err_set(err, VL_ESPEC, "job '%s' needs %u GPUs%s, the node has %u", job,
                          need->gpus, cls, cap->gpus);
    return 0;
}

void res_need_of(const struct spec *s, uint32_t jid, struct res_amount *need)
{
    memset(need, 0, sizeof *need);
    uint16_t rr = s->rr ? s->rr[jid] : SPEC_NONE16;
    if (rr == SPEC_NONE16 || rr >= s->nrr)
        return;
    need->cpus = s->rrs[rr].num_cpus;
    need->gpus = s->rrs[rr].num_gpus;
    need->memory_bytes = s->rrs[rr].memory_bytes;
}

int res_check_spec(const struct spec *s, const struct res_amount *cap, struct vl_err *err)
{
    return res_check_left(s, NULL, cap, err);
}

int res_check_left(const struct spec *s, const uint8_t *done, const struct res_amount *cap,
                   struct vl_err *err)
{
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    uint32_t nvis = visible ? res_gpu_count(visible) : 0;
    if (visible && cap->gpus > nvis)
        return vl_err_set(err, VL_ESPEC,
                          "%u GPUs asked for (--gpus), but CUDA_VISIBLE_DEVICES (%.200s) lists %u",
                          cap->gpus, visible, nvis);
    /* Classes first (few), then the first job of a class that cannot fit. */
    for (uint32_t c = 0; c < s->nrr; c++) {
        const struct spec_rr *r = &s->rrs[c];
        struct res_amount need = {r->num_cpus, r->num_gpus, r->memory_bytes};
        if (res_check_fit(cap, &need, "", NULL, NULL) == 0)
            continue;
        for (uint32_t j = 0; j < s->njobs; j++)
            if (s->rr && s->rr[j] == c && !(done && done[j]))
                return res_check_fit(cap, &need, spec_job_name(s, j), spec_str(s, r->name_off),
                                     err);
    }
    return 0;
}

static bool take_u32(_Atomic uint32_t *used, uint32_t cap, uint32_t n)
{
    uint32_t cur = atomic_load_explicit(used, memory_order_relaxed);
    do {
        if (n > cap || cur > cap - n)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(used, &cur, cur + n, memory_order_acq_rel,
                                                    memory_order_relaxed));
    return true;
}

static bool take_u64(_Atomic uint64_t *used, uint64_t cap, uint64_t n)
{
    uint64_t cur = atomic_load_explicit(used, memory_order_relaxed);
    do {
        if (n > cap || cur > cap - n)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(used, &cur, cur + n, memory_order_acq_rel,
                                                    memory_order_relaxed));
    return true;
}

/* Takes the n lowest free GPUs below cap if at least n + keep are free: the
 * mask, or 0. */
static uint64_t take_gpus(_Atomic uint64_t *used, uint32_t cap, uint32_t n, uint32_t keep)
{
    uint64_t all = cap >= 64 ? ~0ull : ((1ull << cap) - 1);
    uint64_t cur = atomic_load_explicit(used, memory_order_relaxed);
    for (;;) {
        uint64_t freem = ~cur & all, pick = 0;
        if ((uint32_t)__builtin_popcountll(freem) < n + keep)
            return 0;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t low = freem & (~freem + 1);
            pick |= low;
            freem &= ~low;
        }
        if (atomic_compare_exchange_weak_explicit(used, &cur, cur | pick, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return pick;
    }
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

/* Takes need within room (cap less what another's reservation keeps). */
static bool take(struct res_counters *c, const struct res_amount *room, uint32_t gpu_cap,
                 uint32_t gpu_keep, const struct res_amount *need, uint64_t *gpus)
{
    *gpus = 0;
    if (need->cpus && !take_u32(&c->cpus_used, room->cpus, need->cpus))
        return false;
    if (need->memory_bytes && !take_u64(&c->mem_used, room->memory_bytes, need->memory_bytes))
        goto no_mem;
    if (need->gpus) {
        if (need->gpus > RES_MAX_GPUS ||
            !(*gpus = take_gpus(&c->gpus_used, gpu_cap, need->gpus, gpu_keep)))
            goto no_gpu;
    }
    return true;
no_gpu:
    if (need->memory_bytes)
        atomic_fetch_sub_explicit(&c->mem_used, need->memory_bytes, memory_order_acq_rel);
no_mem:
    if (need->cpus)
        atomic_fetch_sub_explicit(&c->cpus_used, need->cpus, memory_order_acq_rel);
    return false;
}

bool res_unreserve(struct res_counters *c, uint32_t who)
{
    if (!who || atomic_load_explicit(&c->resv_owner, memory_order_acquire) != who)
        return false;
    atomic_store_explicit(&c->resv_cpus, 0, memory_order_relaxed);
    atomic_store_explicit(&c->resv_gpus, 0, memory_order_relaxed);
    atomic_store_explicit(&c->resv_mem, 0, memory_order_relaxed);
    uint32_t me = who;
    return atomic_compare_exchange_strong_explicit(&c->resv_owner, &me, 0, memory_order_acq_rel,
                                                   memory_order_relaxed);
}

bool res_admit(struct res_counters *c, const struct res_amount *cap, const struct res_amount *need,
               uint32_t who, uint64_t *gpus)
{
    struct res_amount room = *cap;
    uint32_t keep_gpus = 0;
    uint32_t owner = atomic_load_explicit(&c->resv_owner, memory_order_acquire);
    if (owner && owner != who) {
        /* The amounts are stored after the owner (and cleared before it
         * goes): a reader in between keeps less, for that instant only. */
        room.cpus =
            (uint32_t)sat_sub(room.cpus, atomic_load_explicit(&c->resv_cpus, memory_order_relaxed));
        room.memory_bytes =
            sat_sub(room.memory_bytes, atomic_load_explicit(&c->resv_mem, memory_order_relaxed));
        keep_gpus = atomic_load_explicit(&c->resv_gpus, memory_order_relaxed);
    }
    if (take(c, &room, cap->gpus, keep_gpus, need, gpus)) {
        if (owner && owner == who)
            (void)res_unreserve(c, who);
        return true;
    }
    if (who && !owner) {
        uint32_t none = 0;
        if (atomic_compare_exchange_strong_explicit(&c->resv_owner, &none, who,
                                                    memory_order_acq_rel, memory_order_relaxed)) {
            atomic_store_explicit(&c->resv_cpus, need->cpus, memory_order_relaxed);
            atomic_store_explicit(&c->resv_gpus, need->gpus, memory_order_relaxed);
            atomic_store_explicit(&c->resv_mem, need->memory_bytes, memory_order_relaxed);
        }
    }
    return false;
}

void res_release(struct res_counters *c, const struct res_amount *need, uint64_t gpus)
{
    if (gpus)
        atomic_fetch_and_explicit(&c->gpus_used, ~gpus, memory_order_acq_rel);
    if (need->memory_bytes)
        atomic_fetch_sub_explicit(&c->mem_used, need->memory_bytes, memory_order_acq_rel);
    if (need->cpus)
        atomic_fetch_sub_explicit(&c->cpus_used, need->cpus, memory_order_acq_rel);
}

/* The i-th non-empty entry of a comma-separated list: *len bytes at the
 * returned pointer (NULL if there are not that many). */
static const char *list_entry(const char *list, int i, int *len)
{
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, ",");
        if (l && i-- == 0) {
            *len = (int)l;
            return p;
        }
        p += l + (p[l] == ',');
    }
    return NULL;
}

const char *res_gpu_list(uint64_t gpus, const char *visible, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < 64 && gpus; i++) {
        if (!(gpus & (1ull << i)))
            continue;
        gpus &= ~(1ull << i);
        int el = 0;
        const char *e = visible ? list_entry(visible, i, &el) : NULL;
        int w = e ? snprintf(buf + n, len - n, "%s%.*s", n ? "," : "", el, e)
                  : snprintf(buf + n, len - n, "%s%d", n ? "," : "", i);
        if (w < 0 || (size_t)w >= len - n)
            break;
        n += (size_t)w;
    }
    return buf;
}

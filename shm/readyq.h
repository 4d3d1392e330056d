/*
 * readyq.h - the two places a ready job's token can wait (internal to shm/):
 *
 * 1. Each slot's deque: Chase-Lev work stealing (Le, Pop, Cohen, Zappa
 *    Nardelli, PPoPP 2013, the C11 version), in the segment so thieves in
 *    other processes reach it. The owner pushes and pops at the bottom
 *    (LIFO: the child just released runs next, its data still in cache);
 *    thieves take from the top with a CAS. Bounded (ARENA_DQ_CAP); a push
 *    that finds it full returns false and the caller uses the shared queue.
 *    The owner's empty check needs no fence: top only grows and only the
 *    owner moves bottom, so bottom <= top seen once means empty.
 *
 * 2. The shared queue: njobs cells used as an append-only log between two
 *    repairs. A producer reserves cells with one fetch_add (a batch at a
 *    time) and publishes each with a release store of jid + 1; consumers
 *    CAS the take position over the published prefix, up to a batch. It
 *    never fills: a cell is consumed only once per repair epoch and a job
 *    enters the queue at most once per epoch (it becomes ready by release
 *    once; a root batch returned by arena_leave holds roots nobody queued;
 *    repair resets the log and queues each ready job once), so at most
 *    njobs cells are ever reserved. A reserved cell that is never written
 *    (its producer died) stalls consumers behind it until the repair that
 *    the death triggers: a consumer treats it as empty, never spins.
 *    Measured here (platform-probe.md section 5): one shared ring for every
 *    job drops 10M-job throughput from ~16M/s to ~2.5M/s on 2 workers, so
 *    this is the overflow path only, and it moves batches.
 */
#ifndef VOLLEY_SHM_READYQ_H
#define VOLLEY_SHM_READYQ_H

#include "arena_int.h"

#define DQ_MASK ((uint64_t)ARENA_DQ_CAP - 1)

static inline bool dq_empty_owner(struct arena_slot *s)
{
    uint64_t b = atomic_load_explicit(&s->dq_bot, ARENA_RELAXED);
    uint64_t t = atomic_load_explicit(&s->dq_top, ARENA_RELAXED);
    return (int64_t)(b - t) <= 0;
}

/* Owner only. */
static inline bool dq_push(struct arena_slot *s, uint32_t jid)
{
    uint64_t b = atomic_load_explicit(&s->dq_bot, ARENA_RELAXED);
    uint64_t t = atomic_load_explicit(&s->dq_top, ARENA_ACQ);
    if ((int64_t)(b - t) >= (int64_t)ARENA_DQ_CAP)
        return false;
    atomic_store_explicit(&s->dq[b & DQ_MASK], jid, ARENA_RELAXED);
    atomic_thread_fence(ARENA_REL);
    atomic_store_explicit(&s->dq_bot, b + 1, ARENA_RELAXED);
    return true;
}

/* Owner only: the newest entry, or ARENA_NONE. */
static inline uint32_t dq_pop(struct arena_slot *s)
{
    if (dq_empty_owner(s))
        return ARENA_NONE;
    uint64_t b = atomic_load_explicit(&s->dq_bot, ARENA_RELAXED) - 1;
    atomic_store_explicit(&s->dq_bot, b, ARENA_RELAXED);
    atomic_thread_fence(ARENA_SEQ);
    uint64_t t = atomic_load_explicit(&s->dq_top, ARENA_RELAXED);
    uint32_t x = ARENA_NONE;
    if ((int64_t)(b - t) >= 0) {
        x = atomic_load_explicit(&s->dq[b & DQ_MASK], ARENA_RELAXED);
        if (t == b) {
            /* the last entry: race the thieves for it */
            if (!atomic_compare_exchange_strong_explicit(&s->dq_top, &t, t + 1, ARENA_SEQ,
                                                         ARENA_RELAXED))
                x = ARENA_NONE;
            atomic_store_explicit(&s->dq_bot, b + 1, ARENA_RELAXED);
        }
    } else {
        atomic_store_explicit(&s->dq_bot, b + 1, ARENA_RELAXED);
    }
    return x;
}

/* Any process: the oldest entry, or ARENA_NONE (*lost set if another
 * thief or the owner won the race, so the deque may still hold more). */
static inline uint32_t dq_steal(struct arena_slot *s, bool *lost)
{
    uint64_t t = atomic_load_explicit(&s->dq_top, ARENA_ACQ);
    atomic_thread_fence(ARENA_SEQ);
    uint64_t b = atomic_load_explicit(&s->dq_bot, ARENA_ACQ);
    if ((int64_t)(b - t) <= 0)
        return ARENA_NONE;
    uint32_t x = atomic_load_explicit(&s->dq[t & DQ_MASK], ARENA_RELAXED);
    if (!atomic_compare_exchange_strong_explicit(&s->dq_top, &t, t + 1, ARENA_SEQ, ARENA_RELAXED)) {
        *lost = true;
        return ARENA_NONE;
    }
    return x;
}

/* Any process: appends n tokens to the shared queue. Never fails. */
static inline void rq_push(struct arena *a, const uint32_t *ids, uint32_t n)
{
    if (n == 0)
        return;
    uint64_t p = atomic_fetch_add_explicit(&a->ctl->rq_enq, n, ARENA_RELAXED);
    if (VL_UNLIKELY(p + n > a->njobs))
        arena__bug("the shared ready queue overflowed");
    (void)ARENA_FAULT(ARENA_FP_RQ_RESERVED);
    for (uint32_t i = 0; i < n; i++)
        atomic_store_explicit(&a->readyq[p + i], ids[i] + 1, ARENA_REL);
}

/* Any process: takes up to max published tokens into out; 0 if none. */
static inline uint32_t rq_pop(struct arena *a, uint32_t *out, uint32_t max)
{
    for (;;) {
        uint64_t d = atomic_load_explicit(&a->ctl->rq_deq, ARENA_ACQ);
        uint64_t e = atomic_load_explicit(&a->ctl->rq_enq, ARENA_ACQ);
        if (e > a->njobs)
            e = a->njobs;
        if (d >= e)
            return 0;
        uint32_t n = e - d < max ? (uint32_t)(e - d) : max, k = 0;
        while (k < n && (out[k] = atomic_load_explicit(&a->readyq[d + k], ARENA_ACQ)) != 0)
            k++;
        if (k == 0)
            return 0; /* reserved, not yet written */
        if (atomic_compare_exchange_weak_explicit(&a->ctl->rq_deq, &d, d + k, ARENA_ACQREL,
                                                  ARENA_RELAXED)) {
            for (uint32_t i = 0; i < k; i++)
                out[i]--;
            return k;
        }
    }
}

#endif /* VOLLEY_SHM_READYQ_H */

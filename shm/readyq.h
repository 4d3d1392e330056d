/*
 * readyq.h - where a ready job's token waits (internal to shm/): the
 * queues and ranges of struct arena_qd (layout.h), in the readyq cells.
 *
 * A queue is a FIFO with one producer, its owner, and any number of
 * consumers: the owner appends a job id to the cell at the tail and then
 * publishes the tail with a release store; anyone takes at the head with
 * a CAS after reading the cell (the tail, read with acquire first, makes
 * it visible). Cells are written once between two repairs and never
 * reused, so a head position cannot come back (no ABA). The owner's queue
 * grows by chunks of ARENA_CHUNK cells taken from ctl.chunk_next; it
 * never fills: a job becomes ready (and is pushed) once between two
 * repairs, every chunk but the last of a queue is full, so at most
 * njobs / ARENA_CHUNK chunks beyond each queue's first are ever taken.
 *
 * A range is a span of cells [lo, hi) that a slot takes before its queue,
 * oldest first: the owner moves lo up one token at a time (a plain store,
 * rq_range_pop says why that is safe), a thief takes the top half (hi
 * down, a CAS of the packed pair). Ranges hold
 * roots (the root log of a level, ascending ids: roots are all ready at
 * the start, equally old) or a span taken from another queue's head.
 *
 * Measured here (platform-probe.md section 5): one shared ring for every
 * job drops 10M-job throughput from ~16M/s to ~2.5M/s on 2 workers; a
 * global FIFO log taken in spans cost 1.5x the CPU per job of per-worker
 * queues on the random shape (docs/arena.md, "Order"): workers working on
 * the same stretch of the frontier share every in-degree line.
 */
#ifndef VOLLEY_SHM_READYQ_H
#define VOLLEY_SHM_READYQ_H

#include "arena_int.h"

static inline uint64_t rq_pos(uint32_t chunk, uint32_t off)
{
    return (uint64_t)chunk << 32 | off;
}
static inline uint32_t rq_chunk(uint64_t pos)
{
    return (uint32_t)(pos >> 32);
}
static inline uint32_t rq_off(uint64_t pos)
{
    return (uint32_t)pos;
}
static inline uint64_t rq_cell(const struct arena *a, uint32_t chunk, uint32_t off)
{
    return a->chunk0 + (uint64_t)chunk * ARENA_CHUNK + off;
}
static inline uint64_t rq_range(uint64_t lo, uint64_t hi)
{
    return hi << 32 | lo;
}

/*
 * The queue's head as a readable cell: (chunk, off) with off < ARENA_CHUNK,
 * following the link at the end of a full chunk. False if the queue is
 * empty (or damaged: an index out of range reads as empty).
 */
static inline bool rq_head_at(const struct arena *a, uint64_t h, uint64_t t, uint32_t *chunk,
                              uint32_t *off)
{
    if (h == t)
        return false;
    uint32_t c = rq_chunk(h), o = rq_off(h);
    if (c >= a->nchunks)
        return false;
    if (o >= ARENA_CHUNK) {
        c = atomic_load_explicit(&a->chunks[c].next, ARENA_ACQ);
        o = 0;
        if (c >= a->nchunks || rq_pos(c, 0) == t)
            return false;
    }
    *chunk = c;
    *off = o;
    return true;
}

/* Any process: the oldest token of q, or ARENA_NONE. [*cell, *end) gets
 * the cells from it to the last one published in its chunk (the next few
 * tokens, for prefetching). One CAS. */
static inline uint32_t rq_pop(const struct arena *a, struct arena_qd *q, uint64_t *cell,
                              uint64_t *end)
{
    uint64_t h = atomic_load_explicit(&q->head, ARENA_ACQ);
    for (;;) {
        uint64_t t = atomic_load_explicit(&q->tail, ARENA_ACQ);
        uint32_t c, o;
        if (!rq_head_at(a, h, t, &c, &o))
            return ARENA_NONE;
        uint32_t x = atomic_load_explicit(&a->readyq[rq_cell(a, c, o)], ARENA_RELAXED);
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, rq_pos(c, o + 1), ARENA_ACQREL,
                                                  ARENA_ACQ)) {
            *cell = rq_cell(a, c, o);
            *end = rq_cell(a, c, rq_chunk(t) == c ? VL_MIN(rq_off(t), ARENA_CHUNK) : ARENA_CHUNK);
            return x;
        }
    }
}

/*
 * Any process: takes the oldest tokens of q as a span of cells [*lo, *hi):
 * the rest of the head chunk if the queue goes on past it, else half of
 * what is there (rounded up). One CAS; false if empty.
 */
static inline bool rq_steal(const struct arena *a, struct arena_qd *q, uint64_t *lo, uint64_t *hi,
                            uint32_t *age)
{
    uint64_t h = atomic_load_explicit(&q->head, ARENA_ACQ);
    for (;;) {
        uint64_t t = atomic_load_explicit(&q->tail, ARENA_ACQ);
        uint32_t c, o;
        if (!rq_head_at(a, h, t, &c, &o))
            return false;
        uint32_t n;
        if (rq_chunk(t) != c)
            n = ARENA_CHUNK - o;
        else if (rq_off(t) > o && rq_off(t) <= ARENA_CHUNK)
            n = (rq_off(t) - o + 1) / 2;
        else
            return false; /* damaged */
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, rq_pos(c, o + n), ARENA_ACQREL,
                                                  ARENA_ACQ)) {
            *lo = rq_cell(a, c, o);
            *hi = *lo + n;
            *age = atomic_load_explicit(&a->chunks[c].age, ARENA_RELAXED);
            return true;
        }
    }
}

/* Is q empty? (a snapshot; exact for the owner about its own pushes) */
static inline bool rq_empty(const struct arena_qd *q)
{
    return atomic_load_explicit(&q->head, ARENA_ACQ) == atomic_load_explicit(&q->tail, ARENA_ACQ);
}

/*
 * The only writer of q's tail (its owner; a repair or build, with
 * everyone else parked): appends x. A chunk's age is the clock when its
 * first token was pushed, or when the queue, empty, got one again (the
 * chunk's older tokens are gone then). True if the queue was empty.
 */
static inline bool rq_push(struct arena *a, struct arena_qd *q, uint32_t x)
{
    uint64_t t = atomic_load_explicit(&q->tail, ARENA_RELAXED);
    bool was_empty = atomic_load_explicit(&q->head, ARENA_RELAXED) == t;
    uint32_t c = rq_chunk(t), o = rq_off(t);
    if (VL_UNLIKELY(o >= ARENA_CHUNK)) {
        uint64_t n = atomic_fetch_add_explicit(&a->ctl->chunk_next, 1, ARENA_RELAXED);
        if (VL_UNLIKELY(n >= a->nchunks))
            arena__bug("the ready queues ran out of chunks");
        (void)ARENA_FAULT(ARENA_FP_CHUNK_TAKEN);
        atomic_store_explicit(&a->chunks[c].next, (uint32_t)n, ARENA_RELAXED);
        c = (uint32_t)n;
        o = 0;
    }
    if (o == 0 || was_empty)
        atomic_store_explicit(&a->chunks[c].age, atomic_load_explicit(&a->ctl->tick, ARENA_RELAXED),
                              ARENA_RELAXED);
    atomic_store_explicit(&a->readyq[rq_cell(a, c, o)], x, ARENA_RELAXED);
    /* the release publishes the cell, the link and the age */
    atomic_store_explicit(&q->tail, rq_pos(c, o + 1), ARENA_REL);
    return was_empty;
}

/*
 * The owner: the token at the low end of its range, or ARENA_NONE.
 * [*cell, *end) gets its cell and the rest of the range. A plain store,
 * no CAS (a locked instruction per root was 4 of flat's 24 ns per job): a
 * thief that split the range meanwhile (CAS on the pair) may see its split
 * undone by this store, and then both hold the top half. Such duplicate
 * tokens are harmless: the claim, a CAS on the job's state word, lets one
 * of them run the job; the other's claim fails. Nothing but the owner
 * moves lo, and cells are never reused between repairs, so the store
 * never brings back a token that was not in this range.
 */
static inline uint32_t rq_range_pop(const struct arena *a, struct arena_qd *q, uint64_t *cell,
                                    uint64_t *end)
{
    uint64_t r = atomic_load_explicit(&q->range, ARENA_ACQ);
    uint64_t lo = (uint32_t)r, hi = r >> 32;
    if (lo >= hi || hi > a->ncells)
        return ARENA_NONE;
    uint32_t x = atomic_load_explicit(&a->readyq[lo], ARENA_RELAXED);
    atomic_store_explicit(&q->range, rq_range(lo + 1, hi), ARENA_REL);
    *cell = lo;
    *end = hi;
    return x;
}

/* Any process: the top half of q's range (all of it if it holds one
 * token) as [*lo, *hi); false if empty. */
static inline bool rq_range_split(const struct arena *a, struct arena_qd *q, uint64_t *lo,
                                  uint64_t *hi, uint32_t *age)
{
    uint64_t r = atomic_load_explicit(&q->range, ARENA_ACQ);
    for (;;) {
        uint64_t l = (uint32_t)r, h = r >> 32;
        if (l >= h || h > a->ncells)
            return false;
        uint64_t mid = l + (h - l) / 2;
        *age = atomic_load_explicit(&q->range_age, ARENA_RELAXED);
        if (atomic_compare_exchange_weak_explicit(&q->range, &r, rq_range(l, mid), ARENA_ACQREL,
                                                  ARENA_ACQ)) {
            *lo = mid;
            *hi = h;
            return true;
        }
    }
}

/* The owner, whose range is empty (nobody else sets it): makes [lo, hi)
 * its range. The release publishes the age and the cells' visibility it
 * acquired. */
static inline void rq_range_set(struct arena_qd *q, uint64_t lo, uint64_t hi, uint32_t age)
{
    atomic_store_explicit(&q->range_age, age, ARENA_RELAXED);
    atomic_store_explicit(&q->range, rq_range(lo, hi), ARENA_REL);
}

static inline bool rq_range_empty(const struct arena_qd *q)
{
    uint64_t r = atomic_load_explicit(&q->range, ARENA_ACQ);
    return (uint32_t)r >= (r >> 32);
}

/* The oldest age q holds (its range, its queue's head chunk), or
 * ARENA_AGE_NONE. */
static inline uint32_t rq_oldest_age(const struct arena *a, struct arena_qd *q)
{
    uint32_t age = ARENA_AGE_NONE, c, o;
    if (!rq_range_empty(q))
        age = atomic_load_explicit(&q->range_age, ARENA_RELAXED);
    uint64_t h = atomic_load_explicit(&q->head, ARENA_ACQ);
    uint64_t t = atomic_load_explicit(&q->tail, ARENA_ACQ);
    if (rq_head_at(a, h, t, &c, &o))
        age = VL_MIN(age, atomic_load_explicit(&a->chunks[c].age, ARENA_RELAXED));
    return age;
}

#endif /* VOLLEY_SHM_READYQ_H */

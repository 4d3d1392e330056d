/*
 * arena_sched.c - the scheduling primitives on a live arena: take (claim),
 * finish (and release the children), retry, user cancel, and what persist
 * reads (dirty bits, job records).
 *
 * The path of a job, in atomics (x86: every RMW is a locked instruction,
 * ~6 ns uncontended here, ~20 ns on a line another core writes):
 *   claim   1 CAS on the state word, 1 fetch_or on the dirty word (skipped
 *           when the bit is still set from an earlier change)
 *   finish  1 CAS on the state word; per child 1 fetch_sub on its in-degree,
 *           and for the child that becomes ready 1 CAS on its state word,
 *           1 dirty fetch_or, and a push on the finisher's own queue (two
 *           plain stores; one fetch_add per ARENA_CHUNK pushes for a fresh
 *           chunk); one fetch_add on the age clock per ARENA_CHUNK finishes
 *   take    1 CAS on the head of the taker's own range or queue (its own
 *           line); every SCAN_EVERY takes a look at the other slots' ages
 *           (4 bytes per slot); a steal is 1 CAS on another slot's line
 * Counters are per slot (plain load + store), so no line is written by two
 * processes on the completion path except the ones the DAG itself shares
 * (a child's in-degree with its other parents) and a steal.
 *
 * Order (docs/arena.md, "Order", has the measurements): each worker runs
 * its own queue first ready, first run; a token elsewhere that is older
 * than its own oldest by more than the slack is taken first; so is any
 * token when it has none. Ages are ctl.tick at the push of a chunk's first
 * token: a chunk fills with about ARENA_CHUNK finishes of its owner, about
 * one tick per running worker, so the slack is one tick per slot.
 *
 * Cancellation cascades (a parent that did not complete, a user cancel)
 * walk an intrusive list threaded through a->link: a job is linked only by
 * the process whose CAS canceled it, so the list needs no allocation and
 * a 10M-long chain costs no stack.
 */
#include "arena.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "arena_int.h"
#include "readyq.h"

#define SCAN_EVERY 64u /* own takes between two looks for older tokens elsewhere */
#define WAKE_FIRST                                                                                 \
    256u            /* during a long release, wake sleepers after this many                        \
                      tokens, then after twice as many, and so on */
#define PREFETCH 4u /* tokens ahead whose state and children are prefetched */

/* What one primitive publishes; flushed before it returns, so a
 * participant at a safe point holds no token outside the arena. */
struct pub {
    uint32_t published; /* tokens published */
    uint32_t wake_at;   /* the count at which sleepers are woken next */
    uint32_t head;      /* cascade worklist through a->link; ARENA_NONE: empty */
    bool any;           /* published a token */
    bool backlog;       /* pushed one onto a queue that was not empty */
    bool takes_next;    /* the caller takes its next job right after */
    bool want_next;     /* may keep the first child that becomes ready, claimed */
    uint32_t keep_lvl;  /* ... if it is of this level: the highest of all the
                           children (a child released after it may not be of
                           a higher priority: it would have to start first) */
    uint32_t next;      /* that child, or ARENA_NONE */
    uint64_t canceled;  /* jobs this primitive canceled */
    bool held;          /* a take found roots that their owner runs (may_split):
                           nothing younger or of a lower priority starts */
};

static void pub_init(struct pub *p)
{
    p->published = 0;
    p->wake_at = WAKE_FIRST;
    p->head = ARENA_NONE;
    p->any = false;
    p->backlog = false;
    p->takes_next = false;
    p->want_next = false;
    p->keep_lvl = 0;
    p->next = ARENA_NONE;
    p->canceled = 0;
    p->held = false;
}

/* An idle slot is woken when the publisher has more than it will take
 * itself next: a token behind another in its queue, or any token when the
 * caller does not take right after (arena_finish: core, its job slots
 * full). A single child queued by finish_take is the caller's next job. */
static void pub_end(struct arena *a, struct pub *p)
{
    if (p->any && (p->backlog || !p->takes_next))
        arena__publish(a);
}

/* ---- ages ---- */

/* The owner tells the others its oldest age at level L (written only when
 * it changed: the ages lines are read by every thief). */
static void publish_age(struct arena *a, uint32_t w, uint32_t L)
{
    struct arena_qd *q = arena__qd(a, w, L);
    uint32_t age = rq_oldest_age(a, q);
    if (age != atomic_load_explicit(&q->pub_age, ARENA_RELAXED)) {
        atomic_store_explicit(&q->pub_age, age, ARENA_RELAXED);
        atomic_store_explicit(arena__age(a, L, w), age, ARENA_RELAXED);
    }
}

/* Should a token of age x elsewhere come before our own oldest, of age
 * y? Roots (age 0; the clock starts at 1) come before any other token:
 * they are as old as a job can be, and numerous (a child overtaking them
 * would start before thousands of jobs that were ready before it).
 * Otherwise, if x is older than y by more than the slack. */
static inline bool older(const struct arena *a, uint32_t x, uint32_t y)
{
    if (x == 0)
        return y != 0;
    return x != ARENA_AGE_NONE && (uint64_t)x + arena__slots_hw(a) < (uint64_t)y;
}

/* Level L may hold tokens now (several levels only). The fence orders our
 * push before the read, against a taker that clears the bit and looks
 * again (take_levels). */
static void level_hint_set(struct arena *a, uint32_t L)
{
    uint64_t bit = 1ull << L;
    atomic_thread_fence(ARENA_SEQ);
    if (!(atomic_load_explicit(&a->ctl->lvl_hint, ARENA_RELAXED) & bit))
        atomic_fetch_or_explicit(&a->ctl->lvl_hint, bit, ARENA_SEQ);
}

/* ---- release ---- */

/* A ready token for c: the tail of the releasing slot's own queue. */
static void publish_token(struct arena *a, uint32_t w, struct pub *p, uint32_t c)
{
    uint32_t L = arena_job_level(a, c);
    if (rq_push(a, arena__qd(a, w, L), c)) {
        /* the queue was empty: the others learn that it holds work */
        publish_age(a, w, L);
        if (a->nlevels > 1)
            level_hint_set(a, L);
    } else {
        p->backlog = true;
    }
    p->any = true;
    if (++p->published == p->wake_at) {
        /* a big fan-out: let sleepers start on it now, not at the end;
         * at doubling counts, not every WAKE_FIRST: woken workers that
         * drained what was there and slept again were woken for every
         * 256 children of a 500k-wide barrier, 63 context switches each
         * time with 64 workers on 2 CPUs */
        p->wake_at = p->wake_at < UINT32_MAX / 2 ? 2 * p->wake_at : UINT32_MAX;
        arena__publish(a);
    }
}

/*
 * May w run c (just released, level L) next, without queueing it? Only if
 * it is the oldest ready token w knows of: w holds nothing else at L, the
 * level's roots are all handed out, no higher level has work, and no look
 * elsewhere is due (the look may find older tokens). A keep counts as a
 * take for that look.
 */
static uint32_t oldest_other(const struct arena *a, uint32_t w, uint32_t L, uint32_t *age);

static bool can_keep(struct arena *a, uint32_t w, uint32_t L)
{
    struct arena_slot *me = &a->slots[w];
    struct arena_qd *q = arena__qd(a, w, L);
    const struct arena_level *lv = &a->levels[L];
    if (!rq_range_empty(q) || !rq_empty(q) ||
        !atomic_load_explicit(&((struct arena_level *)lv)->roots_done, ARENA_RELAXED))
        return false;
    if (L > 0 && (atomic_load_explicit(&a->ctl->lvl_hint, ARENA_ACQ) & ((1ull << L) - 1)))
        return false;
    uint32_t sl = atomic_load_explicit(&me->scan_left, ARENA_RELAXED);
    if (sl == 0) {
        /* the look take would do, here: a token elsewhere older than this
         * child (ready now) by more than the slack goes first. Refusing
         * the keep instead queued a chain's child every 64 jobs, and the
         * push woke every sleeper (63 context switches with 64 workers) */
        atomic_store_explicit(&me->scan_left, SCAN_EVERY, ARENA_RELAXED);
        uint32_t va;
        return oldest_other(a, w, L, &va) == ARENA_NONE ||
               !older(a, va, atomic_load_explicit(&a->ctl->tick, ARENA_RELAXED));
    }
    atomic_store_explicit(&me->scan_left, sl - 1, ARENA_RELAXED);
    return true;
}

/* Cancels c if it is blocked or ready (word s as last read). True if this
 * call did it: then c is on p's worklist and its children get released. */
static bool cancel_job(struct arena *a, uint32_t w, uint32_t c, uint64_t s, struct pub *p)
{
    for (;;) {
        unsigned st = arena__st(s);
        if (st != ARENA_BLOCKED && st != ARENA_READY)
            return false;
        if (atomic_compare_exchange_weak_explicit(
                &a->state[c], &s, arena__with(s, ARENA_CANCELED, w), ARENA_SEQ, ARENA_RELAXED)) {
            (void)ARENA_FAULT(ARENA_FP_CANCELED);
            arena__mark_dirty(a, c);
            arena__cnt_move(&a->slots[w], st, ARENA_CANCELED);
            atomic_store_explicit(&a->link[c], p->head, ARENA_RELAXED);
            p->head = c;
            p->canceled++;
            return true;
        }
    }
}

/* c's in-degree just reached zero. */
static void became_ready(struct arena *a, uint32_t w, uint32_t c, struct pub *p)
{
    uint64_t s = atomic_load_explicit(&a->state[c], ARENA_RELAXED);
    if (p->want_next && p->next == ARENA_NONE &&
        (arena_job_level(a, c) != p->keep_lvl || !can_keep(a, w, p->keep_lvl)))
        p->want_next = false; /* older tokens come first: queue it */
    for (;;) {
        if (arena__st(s) != ARENA_BLOCKED)
            return; /* canceled while its parents ran, or restored finished */
        if (s & ARENA_W_CANCEL_REQ) {
            cancel_job(a, w, c, s, p);
            return;
        }
        if (p->want_next && p->next == ARENA_NONE) {
            /* the releasing worker runs it next: straight to running, no
             * token, no queue round trip */
            if (atomic_compare_exchange_weak_explicit(
                    &a->state[c], &s, arena__with(s, ARENA_RUNNING, w), ARENA_SEQ, ARENA_RELAXED)) {
                (void)ARENA_FAULT(ARENA_FP_CLAIMED);
                arena__mark_dirty(a, c);
                arena__cnt_move(&a->slots[w], ARENA_BLOCKED, ARENA_RUNNING);
                p->next = c;
                return;
            }
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&a->state[c], &s,
                                                  arena__with(s, ARENA_READY, ARENA_W_NO_OWNER),
                                                  ARENA_SEQ, ARENA_RELAXED))
            break;
    }
    (void)ARENA_FAULT(ARENA_FP_READY);
    arena__mark_dirty(a, c);
    arena__cnt_move(&a->slots[w], ARENA_BLOCKED, ARENA_READY);
    publish_token(a, w, p, c);
}

/* The children of x, which just finished: ok if it completed. */
static void release_one(struct arena *a, uint32_t w, uint32_t x, bool ok, struct pub *p)
{
    uint64_t e1 = a->kid_off[x + 1];
    for (uint64_t e = a->kid_off[x]; e < e1; e++) {
        uint32_t c = a->kids[e];
        if (!ok) {
            /* cancel before our decrement: c cannot be ready yet */
            uint64_t s = atomic_load_explicit(&a->state[c], ARENA_RELAXED);
            if (arena__st(s) == ARENA_BLOCKED &&
                ((a->meta[c].flags & SPEC_JOB_CANCEL_ON_BLOCK) || (s & ARENA_W_CANCEL_REQ)))
                cancel_job(a, w, c, s, p);
        }
        uint32_t old = atomic_fetch_sub_explicit(&a->indeg[c], 1, ARENA_ACQREL);
        (void)ARENA_FAULT(ARENA_FP_RELEASE_EDGE);
        if (old == 1)
            became_ready(a, w, c, p);
    }
}

/* Runs the cascade worklist until it is empty. */
static void drain(struct arena *a, uint32_t w, struct pub *p)
{
    while (p->head != ARENA_NONE) {
        uint32_t x = p->head;
        p->head = atomic_load_explicit(&a->link[x], ARENA_RELAXED);
        release_one(a, w, x, false, p);
    }
}

/* ---- take ---- */

/* CAS ready -> running for w. A ready job with a cancel request is
 * canceled instead (its cascade is left on p's worklist). */
static bool claim(struct arena *a, uint32_t w, uint32_t j, struct pub *p)
{
    if (VL_UNLIKELY(j >= a->njobs))
        return false;
    uint64_t s = atomic_load_explicit(&a->state[j], ARENA_RELAXED);
    for (;;) {
        if (arena__st(s) != ARENA_READY)
            return false;
        if (VL_UNLIKELY(s & ARENA_W_CANCEL_REQ)) {
            cancel_job(a, w, j, s, p);
            return false;
        }
        if (atomic_compare_exchange_weak_explicit(
                &a->state[j], &s, arena__with(s, ARENA_RUNNING, w), ARENA_SEQ, ARENA_RELAXED))
            break;
    }
    (void)ARENA_FAULT(ARENA_FP_CLAIMED);
    arena__mark_dirty(a, j);
    arena__cnt_move(&a->slots[w], ARENA_READY, ARENA_RUNNING);
    return true;
}

/*
 * A FIFO knows what comes next: while this token runs, the lines the next
 * ones will touch are fetched, in three steps so that each step's loads
 * hit what the step before fetched: 4 tokens ahead, the job's state word
 * and child offsets; 2 ahead, its children list; 1 ahead, its children's
 * in-degrees and state words. The misses of a job overlap with the work of
 * the ones before it; in LIFO order the next job is not known until this
 * one finishes.
 */
static void prefetch_after(const struct arena *a, uint64_t cell, uint64_t end)
{
    if (cell + PREFETCH < end) {
        uint32_t x = atomic_load_explicit(&a->readyq[cell + PREFETCH], ARENA_RELAXED);
        if (x < a->njobs) {
            __builtin_prefetch(&a->state[x], 1);
            __builtin_prefetch(&a->kid_off[x]);
        }
    }
    if (cell + PREFETCH / 2 < end) {
        uint32_t x = atomic_load_explicit(&a->readyq[cell + PREFETCH / 2], ARENA_RELAXED);
        if (x < a->njobs)
            __builtin_prefetch(&a->kids[a->kid_off[x]]);
    }
    if (cell + 1 < end) {
        uint32_t x = atomic_load_explicit(&a->readyq[cell + 1], ARENA_RELAXED);
        if (x < a->njobs) {
            uint64_t e0 = a->kid_off[x], e1 = VL_MIN(a->kid_off[x + 1], e0 + 8);
            for (uint64_t e = e0; e < e1 && e1 <= a->nedges; e++) {
                uint32_t c = a->kids[e];
                if (c < a->njobs) {
                    __builtin_prefetch(&a->indeg[c], 1);
                    __builtin_prefetch(&a->state[c], 1);
                }
            }
        }
    }
}

/* Roots of level L not handed out yet: half of what is left (at least
 * ARENA_ROOT_CHUNK) becomes w's range, so workers start far apart. */
static bool root_refill(struct arena *a, uint32_t w, uint32_t L)
{
    struct arena_level *lv = &a->levels[L];
    uint64_t n = lv->nroots;
    uint64_t c = atomic_load_explicit(&lv->root_cursor, ARENA_RELAXED);
    while (c < n) {
        uint64_t hi = VL_MIN(c + VL_MAX((n - c) / 2, (uint64_t)ARENA_ROOT_CHUNK), n);
        if (atomic_compare_exchange_weak_explicit(&lv->root_cursor, &c, hi, ARENA_RELAXED,
                                                  ARENA_RELAXED)) {
            (void)ARENA_FAULT(ARENA_FP_ROOT_RANGE);
            rq_range_set(arena__qd(a, w, L), lv->root_first + c, lv->root_first + hi, 0);
            publish_age(a, w, L);
            return true;
        }
    }
    return false;
}

/*
 * May a thief split v's range? Not when it holds fewer than 2 x
 * ARENA_CHUNK roots and v is in use: its owner runs them, in the order
 * they are listed. A thief would take the later half first: with 16
 * roots, jobs listed after a big one started before it, and its worker
 * reached it only after the capacity had gone to them (run_outcomes'
 * reservation). A free slot's roots (it left) go to anyone.
 */
static bool may_split(const struct arena *a, uint32_t v, const struct arena_qd *vq)
{
    if (atomic_load_explicit(&vq->range_age, ARENA_RELAXED) != 0)
        return true;
    uint64_t r = atomic_load_explicit(&vq->range, ARENA_RELAXED);
    uint64_t l = (uint32_t)r, h = r >> 32;
    return h >= l + 2 * ARENA_CHUNK || atomic_load_explicit(&a->slots[v].ident, ARENA_RELAXED) == 0;
}

/* Takes older tokens from slot v at level L: the top half of its range,
 * else (unless range_only) the head of its queue; they become w's range
 * (w's is empty). */
static bool steal_from(struct arena *a, uint32_t w, uint32_t L, uint32_t v, bool range_only)
{
    struct arena_qd *vq = arena__qd(a, v, L);
    uint64_t lo, hi;
    uint32_t age;
    if (!(may_split(a, v, vq) && rq_range_split(a, vq, &lo, &hi, &age)) &&
        (range_only || !rq_steal(a, vq, &lo, &hi, &age)))
        return false;
    (void)ARENA_FAULT(ARENA_FP_STOLEN);
    rq_range_set(arena__qd(a, w, L), lo, hi, age);
    publish_age(a, w, L);
    /* there was work to take: another idle slot may find some too */
    arena__publish(a);
    return true;
}

/* The slot other than w whose oldest token at L is the oldest, by the
 * ages the owners published (hints: a thief may have emptied it since).
 * Ties go to the first slot after w, so thieves spread over equals. */
static uint32_t oldest_other(const struct arena *a, uint32_t w, uint32_t L, uint32_t *age)
{
    uint32_t hw = arena__slots_hw(a), best = ARENA_NONE, best_age = ARENA_AGE_NONE;
    const _Atomic uint32_t *ages = arena__age(a, L, 0);
    for (uint32_t i = w + 1; i < hw; i++) {
        uint32_t x = atomic_load_explicit(&ages[i], ARENA_RELAXED);
        if (x < best_age) {
            best_age = x;
            best = i;
        }
    }
    for (uint32_t i = 0; i < w && i < hw; i++) {
        uint32_t x = atomic_load_explicit(&ages[i], ARENA_RELAXED);
        if (x < best_age) {
            best_age = x;
            best = i;
        }
    }
    *age = best_age;
    return best;
}

/* Should w, whose oldest token at L is of age own (ARENA_AGE_NONE: it
 * has none), take a token of age x elsewhere first? */
static inline bool worth(const struct arena *a, uint32_t x, uint32_t own)
{
    return own == ARENA_AGE_NONE ? x != ARENA_AGE_NONE : older(a, x, own);
}

/*
 * Every slot's actual oldest token, not the hints: a worker about to go
 * idle must not miss a token (the sleep protocol relies on this look), and
 * takes the oldest (a thief that took any token found first took
 * children while others still held roots: 5000 ranks of displacement with
 * 16 slots). A steal that loses a race looks again.
 */
static bool steal_oldest(struct arena *a, uint32_t w, uint32_t L, uint32_t own)
{
    uint32_t hw = arena__slots_hw(a);
    for (int round = 0; round < 4; round++) {
        uint32_t best = ARENA_NONE, best_age = ARENA_AGE_NONE;
        for (uint32_t i = 1; i < hw; i++) {
            uint32_t v = (w + i) % hw;
            struct arena_qd *vq = arena__qd(a, v, L);
            if (rq_range_empty(vq) && rq_empty(vq))
                continue;
            uint32_t age = rq_oldest_age(a, vq);
            if (best == ARENA_NONE || age < best_age) {
                best = v;
                best_age = age;
            }
        }
        if (best == ARENA_NONE || !worth(a, best_age, own))
            return false;
        if (steal_from(a, w, L, best, false))
            return true;
    }
    if (own != ARENA_AGE_NONE)
        return false;
    for (uint32_t i = 1; i < hw; i++) /* busy victims: any token will do */
        if (steal_from(a, w, L, (w + i) % hw, false))
            return true;
    return false;
}

/*
 * Roots come before every other token (all ready at the start, and
 * numerous: a child run before them would overtake thousands of jobs
 * that were ready before it). While a level's roots are not done, a slot
 * whose range ran dry takes roots from another slot's range before
 * anything of its own; a look at every slot that finds none (and the
 * cursor at its end) marks the level's roots done. A span in flight (split
 * off, not yet recorded by its thief) is missed by that look: its roots
 * then run as ordinary tokens.
 */
static bool steal_roots(struct arena *a, uint32_t w, uint32_t L, bool *held)
{
    struct arena_level *lv = &a->levels[L];
    if (atomic_load_explicit(&lv->roots_done, ARENA_RELAXED))
        return false;
    uint32_t hw = arena__slots_hw(a);
    bool left = false; /* roots that their owner runs (may_split) */
    for (uint32_t i = 1; i < hw; i++) {
        uint32_t v = (w + i) % hw;
        struct arena_qd *vq = arena__qd(a, v, L);
        if (!rq_range_empty(vq) && atomic_load_explicit(&vq->range_age, ARENA_RELAXED) == 0) {
            if (steal_from(a, w, L, v, true))
                return true;
            left = true;
        }
    }
    *held = left;
    if (!left && atomic_load_explicit(&lv->root_cursor, ARENA_RELAXED) >= lv->nroots &&
        rq_range_empty(arena__qd(a, w, L)))
        atomic_store_explicit(&lv->roots_done, 1, ARENA_RELAXED);
    return false;
}

/* The next token w should take at level L, or ARENA_NONE if L has none
 * anywhere or (*held) only roots that their owners run; [*cell, *end) as
 * for rq_pop. */
static uint32_t next_token(struct arena *a, uint32_t w, uint32_t L, uint64_t *cell, uint64_t *end,
                           bool *held)
{
    struct arena_slot *me = &a->slots[w];
    struct arena_qd *q = arena__qd(a, w, L);
    for (;;) {
        uint32_t j = rq_range_pop(a, q, cell, end);
        if (j != ARENA_NONE)
            return j;
        if (root_refill(a, w, L) || steal_roots(a, w, L, held))
            continue;
        if (*held)
            return ARENA_NONE;
        uint32_t sl = atomic_load_explicit(&me->scan_left, ARENA_RELAXED);
        bool mine = !rq_empty(q);
        if (!mine || sl == 0) {
            /* older tokens elsewhere come first: the ages the others
             * published say where (checked against the victim's own
             * state: the hint may be old); idle, or just out of roots,
             * every slot is looked at */
            atomic_store_explicit(&me->scan_left, SCAN_EVERY, ARENA_RELAXED);
            uint32_t own = mine ? rq_oldest_age(a, q) : ARENA_AGE_NONE;
            uint32_t va, v = oldest_other(a, w, L, &va);
            if (v != ARENA_NONE && worth(a, va, own) &&
                worth(a, rq_oldest_age(a, arena__qd(a, v, L)), own) &&
                steal_from(a, w, L, v, false)) {
                /* look again when that span is done: there may be more */
                atomic_store_explicit(&me->scan_left, 0, ARENA_RELAXED);
                continue;
            }
            if (!mine) {
                if (steal_oldest(a, w, L, own))
                    continue;
                return ARENA_NONE;
            }
        } else {
            atomic_store_explicit(&me->scan_left, sl - 1, ARENA_RELAXED);
        }
        j = rq_pop(a, q, cell, end);
        if (j != ARENA_NONE)
            return j;
    }
}

/* Takes and claims the next job of level L for w, or ARENA_NONE. */
static uint32_t take_at(struct arena *a, uint32_t w, uint32_t L, struct pub *p)
{
    uint32_t j;
    uint64_t cell = 0, end = 0;
    for (;;) {
        j = next_token(a, w, L, &cell, &end, &p->held);
        if (j == ARENA_NONE)
            break;
        (void)ARENA_FAULT(ARENA_FP_POPPED);
        if (claim(a, w, j, p)) {
            /* a job with children is in a DAG whose next jobs miss the
             * cache; one without (flat) would pay 40 instructions per job
             * to prefetch nothing */
            if (a->kid_off[j + 1] != a->kid_off[j])
                prefetch_after(a, cell, end);
            break;
        }
        drain(a, w, p);
    }
    /* our oldest age changes when a range or a queue's chunk runs out (a
     * steal, a refill and an empty queue's first push publish their own):
     * not while the span the token came from goes on (flat: 24
     * instructions of ~330 per job were this look) */
    if (j == ARENA_NONE || cell + 1 >= end || (cell + 1 - a->chunk0) % ARENA_CHUNK == 0)
        publish_age(a, w, L);
    return j;
}

/* Several levels: the highest that has a token. A level found empty
 * everywhere loses its hint bit; then it is looked at once more, since a
 * pusher that made it non-empty meanwhile may have seen the bit still set
 * (level_hint_set: one of the two sees the other). */
static uint32_t take_levels(struct arena *a, uint32_t w, struct pub *p)
{
    uint64_t hint = atomic_load_explicit(&a->ctl->lvl_hint, ARENA_ACQ);
    while (hint) {
        uint32_t L = (uint32_t)__builtin_ctzll(hint);
        uint64_t bit = 1ull << L;
        hint &= hint - 1;
        uint32_t j = take_at(a, w, L, p);
        if (j != ARENA_NONE || p->held)
            return j; /* held: L is not empty, and lower levels wait */
        atomic_fetch_and_explicit(&a->ctl->lvl_hint, ~bit, ARENA_SEQ);
        atomic_thread_fence(ARENA_SEQ);
        j = take_at(a, w, L, p);
        if (j != ARENA_NONE || p->held) {
            atomic_fetch_or_explicit(&a->ctl->lvl_hint, bit, ARENA_SEQ);
            return j;
        }
    }
    return ARENA_NONE;
}

uint32_t arena_take(struct arena *a, uint32_t w)
{
    if (VL_UNLIKELY(atomic_load_explicit(&a->ctl->qs_word, ARENA_ACQ) & 1))
        arena_quiesce_point(a, w);
    struct pub p;
    pub_init(&p);
    uint32_t j = a->nlevels == 1 ? take_at(a, w, 0, &p) : take_levels(a, w, &p);
    pub_end(a, &p);
    return j;
}

/* ---- finish, retry ---- */

static int finish(struct arena *a, uint32_t w, uint32_t jid, enum arena_state outcome,
                  int exit_code, uint32_t *next)
{
    if (jid >= a->njobs || !arena__finished(outcome))
        return -EINVAL;
    uint64_t s = atomic_load_explicit(&a->state[jid], ARENA_RELAXED);
    if (arena__st(s) != ARENA_RUNNING || arena__owner(s) != w)
        return -ESTALE;
    /* only w (or a repair, while w is parked) can take it away now. The
     * code of an unfinished job is 0 (build zeroes it, restore writes only
     * finished ones, finish runs once per job), so storing a 0 is skipped:
     * it was a cache miss per job, half of finish's cost in the bench */
    if (exit_code != 0)
        atomic_store_explicit(&a->cold[jid].exit_code, exit_code, ARENA_RELAXED);
    for (;;) {
        if (arena__st(s) != ARENA_RUNNING || arena__owner(s) != w)
            return -ESTALE;
        if (atomic_compare_exchange_weak_explicit(&a->state[jid], &s, arena__with(s, outcome, w),
                                                  ARENA_SEQ, ARENA_RELAXED))
            break;
    }
    (void)ARENA_FAULT(ARENA_FP_FINISHED);
    arena__mark_dirty(a, jid);
    struct arena_slot *me = &a->slots[w];
    arena__cnt_move(me, ARENA_RUNNING, outcome);
    /* the age clock: one tick per ARENA_CHUNK finishes of a slot */
    uint32_t tl = atomic_load_explicit(&me->tick_left, ARENA_RELAXED);
    if (tl <= 1) {
        atomic_store_explicit(&me->tick_left, ARENA_CHUNK, ARENA_RELAXED);
        atomic_fetch_add_explicit(&a->ctl->tick, 1, ARENA_RELAXED);
    } else {
        atomic_store_explicit(&me->tick_left, tl - 1, ARENA_RELAXED);
    }
    struct pub p;
    pub_init(&p);
    p.want_next = p.takes_next = next != NULL;
    if (p.want_next && a->lvl) {
        p.keep_lvl = ARENA_MAX_LEVELS;
        for (uint64_t e = a->kid_off[jid]; e < a->kid_off[jid + 1]; e++)
            p.keep_lvl = VL_MIN(p.keep_lvl, a->lvl[a->kids[e]]);
    }
    release_one(a, w, jid, outcome == ARENA_COMPLETED, &p);
    drain(a, w, &p);
    pub_end(a, &p);
    if (next)
        *next = p.next;
    return 0;
}

int arena_finish(struct arena *a, uint32_t w, uint32_t jid, enum arena_state outcome, int exit_code)
{
    return finish(a, w, jid, outcome, exit_code, NULL);
}

int arena_finish_take(struct arena *a, uint32_t w, uint32_t jid, enum arena_state outcome,
                      int exit_code, uint32_t *next)
{
    int rc = finish(a, w, jid, outcome, exit_code, next);
    if (rc == 0 && *next == ARENA_NONE)
        *next = arena_take(a, w);
    return rc;
}

int arena_retry(struct arena *a, uint32_t w, uint32_t jid, uint32_t *attempt)
{
    if (jid >= a->njobs)
        return -EINVAL;
    uint64_t s = atomic_load_explicit(&a->state[jid], ARENA_RELAXED), ns;
    for (;;) {
        if (arena__st(s) != ARENA_RUNNING || arena__owner(s) != w)
            return -ESTALE;
        if (s & ARENA_W_CANCEL_REQ)
            return -ECANCELED;
        ns = s + (1ull << ARENA_W_ATTEMPT_SHIFT);
        if (atomic_compare_exchange_weak_explicit(&a->state[jid], &s, ns, ARENA_SEQ, ARENA_RELAXED))
            break;
    }
    arena__mark_dirty(a, jid);
    arena__cnt_add(&a->slots[w], ARENA_CNT_RETRIES, 1);
    if (attempt)
        *attempt = (uint32_t)arena__attempt(ns);
    return 0;
}

/* ---- user cancel ---- */

int arena_cancel(struct arena *a, uint32_t w, uint32_t jid, struct arena_cancel_stats *st,
                 struct vl_err *err)
{
    struct arena_cancel_stats dummy;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof *st);
    if (a->rdonly)
        return vl_err_set(err, -EROFS, "arena %s is attached read-only", a->path);
    if (jid >= a->njobs)
        return vl_err_set(err, -EINVAL, "job %" PRIu32 " is not in arena %s", jid, a->path);
    uint32_t *list = vl_alloc_array(a->njobs, sizeof *list, false, "a cancel", err);
    if (!list)
        return err ? err->code : VL_ETOOBIG;

    /* 1. mark jid and every dependent; the bit is the visited mark */
    uint64_t n = 0;
    list[n++] = jid;
    if (!(atomic_fetch_or_explicit(&a->state[jid], ARENA_W_CANCEL_REQ, ARENA_SEQ) &
          ARENA_W_CANCEL_REQ)) {
        st->marked++;
        arena__mark_dirty(a, jid);
    }
    for (uint64_t i = 0; i < n; i++) {
        uint32_t x = list[i];
        for (uint64_t e = a->kid_off[x]; e < a->kid_off[x + 1]; e++) {
            uint32_t c = a->kids[e];
            if (atomic_fetch_or_explicit(&a->state[c], ARENA_W_CANCEL_REQ, ARENA_SEQ) &
                ARENA_W_CANCEL_REQ)
                continue;
            st->marked++;
            arena__mark_dirty(a, c);
            list[n++] = c;
        }
    }
    (void)ARENA_FAULT(ARENA_FP_CANCEL_MARKED);

    /* 2. cancel the blocked and ready ones now; running ones are their
     * workers' to stop */
    struct pub p;
    pub_init(&p);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t x = list[i];
        uint64_t s = atomic_load_explicit(&a->state[x], ARENA_RELAXED);
        if (arena__st(s) == ARENA_RUNNING)
            st->running++;
        else if (cancel_job(a, w, x, s, &p))
            drain(a, w, &p);
    }
    pub_end(a, &p);
    st->canceled = p.canceled;
    free(list);
    atomic_fetch_add_explicit(&a->ctl->cancel_seq, 1, ARENA_REL);
    arena_wake(a);
    return 0;
}

/* ---- what persist reads ---- */

size_t arena_dirty_collect(struct arena *a, uint64_t *cursor, uint32_t *out, size_t cap)
{
    size_t n = 0;
    uint64_t i = *cursor;
    for (; i < a->ndirty; i++) {
        if (atomic_load_explicit(&a->dirty[i], ARENA_RELAXED) == 0)
            continue;
        if (cap - n < 64)
            break; /* a word may gain bits before we take it */
        uint64_t v = atomic_exchange_explicit(&a->dirty[i], 0, ARENA_SEQ);
        while (v) {
            uint64_t jid = i * 64 + (uint64_t)__builtin_ctzll(v);
            v &= v - 1;
            if (jid < a->njobs)
                out[n++] = (uint32_t)jid;
        }
    }
    *cursor = i;
    return n;
}

void arena_job_read(const struct arena *a, uint32_t jid, struct arena_job_rec *r)
{
    uint64_t w = atomic_load_explicit(&a->state[jid], ARENA_SEQ);
    const struct arena_cold *c = &a->cold[jid];
    uint32_t o = arena__owner(w);
    r->state = arena__st(w);
    r->attempt = (uint32_t)arena__attempt(w);
    r->lost = (uint32_t)arena__lost(w);
    r->flags = (w & ARENA_W_CANCEL_REQ) ? ARENA_REC_CANCEL_REQ : 0;
    r->owner = o == ARENA_W_NO_OWNER ? ARENA_NONE : o;
    r->exit_code = atomic_load_explicit(&c->exit_code, ARENA_RELAXED);
    r->pid = atomic_load_explicit(&c->pid, ARENA_RELAXED);
    r->start_ns = atomic_load_explicit(&c->start_ns, ARENA_RELAXED);
    r->end_ns = atomic_load_explicit(&c->end_ns, ARENA_RELAXED);
    r->log_ref = atomic_load_explicit(&c->log_ref, ARENA_RELAXED);
    r->max_rss_bytes = atomic_load_explicit(&c->max_rss_bytes, ARENA_RELAXED);
    r->cpu_user_ms = atomic_load_explicit(&c->cpu_user_ms, ARENA_RELAXED);
    r->cpu_sys_ms = atomic_load_explicit(&c->cpu_sys_ms, ARENA_RELAXED);
}

void arena_job_set_pid(struct arena *a, uint32_t jid, int32_t pid)
{
    atomic_store_explicit(&a->cold[jid].pid, pid, ARENA_RELAXED);
    arena__mark_dirty(a, jid);
}

void arena_job_set_start(struct arena *a, uint32_t jid, uint64_t start_ns)
{
    atomic_store_explicit(&a->cold[jid].start_ns, start_ns, ARENA_RELAXED);
    arena__mark_dirty(a, jid);
}

void arena_job_set_end(struct arena *a, uint32_t jid, uint64_t end_ns)
{
    atomic_store_explicit(&a->cold[jid].end_ns, end_ns, ARENA_RELAXED);
    arena__mark_dirty(a, jid);
}

void arena_job_set_log(struct arena *a, uint32_t jid, uint64_t log_ref)
{
    atomic_store_explicit(&a->cold[jid].log_ref, log_ref, ARENA_RELAXED);
    arena__mark_dirty(a, jid);
}

static uint32_t us_to_ms(uint64_t us)
{
    uint64_t ms = (us + 500) / 1000;
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

void arena_job_set_usage(struct arena *a, uint32_t jid, uint64_t max_rss_bytes,
                         uint64_t cpu_user_us, uint64_t cpu_sys_us)
{
    struct arena_cold *c = &a->cold[jid];
    atomic_store_explicit(&c->max_rss_bytes, max_rss_bytes, ARENA_RELAXED);
    atomic_store_explicit(&c->cpu_user_ms, us_to_ms(cpu_user_us), ARENA_RELAXED);
    atomic_store_explicit(&c->cpu_sys_ms, us_to_ms(cpu_sys_us), ARENA_RELAXED);
    arena__mark_dirty(a, jid);
}

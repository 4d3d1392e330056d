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
 *           1 dirty fetch_or, and a deque push (plain stores + a release
 *           fence) or, on overflow, a share of one fetch_add per 64 tokens
 *   take    own deque pop: one seq_cst fence; shared queue: one CAS per
 *           batch of up to 16; roots: one CAS per 512 job ids
 * Counters are per slot (plain load + store), so no line is written by two
 * processes on the completion path except the ones the DAG itself shares
 * (a child's in-degree with its other parents).
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

#define RQ_BATCH 16u   /* shared-queue tokens taken at once */
#define OUTBOX 64u     /* overflow tokens pushed to the shared queue at once */
#define WAKE_EVERY 256 /* during a long release, check for sleepers this often */

/* What one primitive publishes; flushed before it returns, so a
 * participant at a safe point holds no token outside the arena. */
struct pub {
    uint32_t out[OUTBOX]; /* overflow tokens not yet in the shared queue */
    uint32_t nout;
    uint32_t since_wake; /* tokens since the last sleeper check */
    uint32_t head;       /* cascade worklist through a->link; ARENA_NONE: empty */
    bool any;            /* published a token */
    bool want_next;      /* keep the first child that becomes ready, claimed */
    uint32_t next;       /* that child, or ARENA_NONE */
    uint64_t canceled;   /* jobs this primitive canceled */
};

static void pub_init(struct pub *p)
{
    p->nout = 0;
    p->since_wake = 0;
    p->head = ARENA_NONE;
    p->any = false;
    p->want_next = false;
    p->next = ARENA_NONE;
    p->canceled = 0;
}

static void pub_flush(struct arena *a, struct pub *p)
{
    rq_push(a, p->out, p->nout);
    p->nout = 0;
}

static void pub_end(struct arena *a, struct pub *p)
{
    pub_flush(a, p);
    if (p->any)
        arena__publish(a);
}

/* A ready token for c: the releasing worker's own deque first. */
static void publish_token(struct arena *a, uint32_t w, struct pub *p, uint32_t c)
{
    if (!dq_push(&a->slots[w], c)) {
        p->out[p->nout++] = c;
        if (p->nout == OUTBOX)
            pub_flush(a, p);
    }
    p->any = true;
    if (++p->since_wake >= WAKE_EVERY) {
        /* a big fan-out: let sleepers start on it now, not at the end */
        pub_flush(a, p);
        p->since_wake = 0;
        arena__publish(a);
    }
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
    for (;;) {
        if (arena__st(s) != ARENA_BLOCKED)
            return; /* canceled while its parents ran, or restored finished */
        if (s & ARENA_W_CANCEL_REQ) {
            cancel_job(a, w, c, s, p);
            return;
        }
        if (p->want_next && p->next == ARENA_NONE) {
            /* the releasing worker runs it next: straight to running, no
             * token, no deque round trip (and no fence) */
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
 * Roots (jobs without parents) are not queued: their ids are handed out as
 * ranges. The first taker gets half of the ids left at the cursor, the
 * next half of the rest, and so on; a slot with nothing left splits off
 * the top half of the largest range another slot holds. So workers scan
 * regions far apart (a random DAG's children sit within 4096 ids of their
 * parents: neighbours would share every in-degree and state line) and still
 * end together. A slot scans its range ARENA_ROOT_CHUNK ids at a time,
 * which is one line of the dirty bitmap.
 */
static inline uint64_t pack(uint64_t lo, uint64_t hi)
{
    return hi << 32 | lo;
}

/* The next chunk of w's own range, into [*lo, *hi). */
static bool chunk_own(struct arena *a, struct arena_slot *me, uint64_t *lo, uint64_t *hi)
{
    uint64_t r = atomic_load_explicit(&me->roots, ARENA_ACQ);
    for (;;) {
        uint64_t l = (uint32_t)r, h = VL_MIN(r >> 32, (uint64_t)a->njobs);
        if (l >= h)
            return false;
        uint64_t n = VL_MIN(h - l, (uint64_t)ARENA_ROOT_CHUNK);
        if (atomic_compare_exchange_weak_explicit(&me->roots, &r, pack(l + n, h), ARENA_ACQREL,
                                                  ARENA_ACQ)) {
            *lo = l;
            *hi = l + n;
            return true;
        }
    }
}

/* A new range for w: half of what the cursor has left, else the top half
 * of the largest range another slot holds. */
static bool range_refill(struct arena *a, uint32_t w, struct arena_slot *me)
{
    uint64_t c = atomic_load_explicit(&a->ctl->root_cursor, ARENA_RELAXED);
    while (c < a->njobs) {
        uint64_t n = VL_MAX((a->njobs - c) / 2, (uint64_t)ARENA_ROOT_CHUNK);
        uint64_t hi = VL_MIN(c + n, (uint64_t)a->njobs);
        if (atomic_compare_exchange_weak_explicit(&a->ctl->root_cursor, &c, hi, ARENA_RELAXED,
                                                  ARENA_RELAXED)) {
            (void)ARENA_FAULT(ARENA_FP_ROOT_RANGE);
            atomic_store_explicit(&me->roots, pack(c, hi), ARENA_REL);
            return true;
        }
    }
    uint32_t hw = VL_MIN(atomic_load_explicit(&a->ctl->slots_hw, ARENA_ACQ), a->nslots);
    for (int tries = 0; tries < 4; tries++) {
        uint32_t best = ARENA_NONE;
        uint64_t best_n = 2 * ARENA_ROOT_CHUNK - 1, r = 0;
        for (uint32_t i = 0; i < hw; i++) {
            uint64_t v = atomic_load_explicit(&a->slots[i].roots, ARENA_RELAXED);
            uint64_t l = (uint32_t)v, h = v >> 32;
            if (i != w && h > l && h - l > best_n) {
                best = i;
                best_n = h - l;
                r = v;
            }
        }
        if (best == ARENA_NONE)
            return false;
        uint64_t l = (uint32_t)r, h = VL_MIN(r >> 32, (uint64_t)a->njobs);
        if (h <= l)
            continue;
        uint64_t mid = l + (h - l) / 2;
        if (atomic_compare_exchange_strong_explicit(&a->slots[best].roots, &r, pack(l, mid),
                                                    ARENA_ACQREL, ARENA_RELAXED)) {
            (void)ARENA_FAULT(ARENA_FP_ROOT_RANGE);
            atomic_store_explicit(&me->roots, pack(mid, h), ARENA_REL);
            return true;
        }
    }
    return false;
}

/* The next root w can claim, or ARENA_NONE. */
static uint32_t take_root(struct arena *a, uint32_t w, struct pub *p)
{
    struct arena_slot *me = &a->slots[w];
    for (;;) {
        uint64_t lo = atomic_load_explicit(&me->root_lo, ARENA_RELAXED);
        uint64_t hi = VL_MIN(atomic_load_explicit(&me->root_hi, ARENA_RELAXED), (uint64_t)a->njobs);
        while (lo < hi) {
            uint32_t j = (uint32_t)lo++;
            if (a->indeg0[j] != 0)
                continue;
            if (claim(a, w, j, p)) {
                atomic_store_explicit(&me->root_lo, lo, ARENA_RELAXED);
                return j;
            }
            drain(a, w, p);
        }
        if (!chunk_own(a, me, &lo, &hi)) {
            if (!range_refill(a, w, me))
                return ARENA_NONE;
            continue;
        }
        atomic_store_explicit(&me->root_hi, hi, ARENA_RELAXED);
        atomic_store_explicit(&me->root_lo, lo, ARENA_RELAXED);
    }
}

/* One token from another slot's deque (free and dead slots included). */
static uint32_t steal(struct arena *a, uint32_t w)
{
    uint32_t hw = atomic_load_explicit(&a->ctl->slots_hw, ARENA_ACQ);
    if (hw > a->nslots)
        hw = a->nslots;
    for (int round = 0; round < 8; round++) {
        bool lost = false;
        for (uint32_t i = 1; i < hw; i++) {
            struct arena_slot *s = &a->slots[(w + i) % hw];
            uint64_t b = atomic_load_explicit(&s->dq_bot, ARENA_RELAXED);
            uint64_t t = atomic_load_explicit(&s->dq_top, ARENA_RELAXED);
            if ((int64_t)(b - t) <= 0)
                continue;
            uint32_t x = dq_steal(s, &lost);
            if (x != ARENA_NONE)
                return x;
        }
        if (!lost)
            break;
    }
    return ARENA_NONE;
}

uint32_t arena_take(struct arena *a, uint32_t w)
{
    if (VL_UNLIKELY(atomic_load_explicit(&a->ctl->qs_word, ARENA_ACQ) & 1))
        arena_quiesce_point(a, w);
    struct arena_slot *me = &a->slots[w];
    struct pub p;
    pub_init(&p);
    uint32_t j;
    for (;;) {
        j = dq_pop(me);
        if (j == ARENA_NONE) {
            uint32_t buf[RQ_BATCH];
            uint32_t n = rq_pop(a, buf, RQ_BATCH);
            if (n) {
                (void)ARENA_FAULT(ARENA_FP_RQ_TAKEN);
                /* keep the rest on our deque, stealable; it was empty */
                for (uint32_t i = n; i-- > 1;)
                    if (!dq_push(me, buf[i]))
                        arena__bug("a deque was full right after it was empty");
                p.any |= n > 1;
                j = buf[0];
            }
        }
        if (j == ARENA_NONE) {
            j = take_root(a, w, &p);
            if (j != ARENA_NONE)
                break;
            j = steal(a, w);
            if (j == ARENA_NONE)
                break;
        }
        (void)ARENA_FAULT(ARENA_FP_DQ_POPPED);
        if (claim(a, w, j, &p))
            break;
        drain(a, w, &p);
    }
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
    arena__cnt_move(&a->slots[w], ARENA_RUNNING, outcome);
    struct pub p;
    pub_init(&p);
    p.want_next = next != NULL;
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

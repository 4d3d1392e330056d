/*
 * arena_int.h - what the files of shm/ share and nobody else may use: the
 * state-word helpers, per-slot counters, the dirty bit, futex calls, the
 * settle pass (repair and restore), and the fault-injection points that
 * the crash tests use to kill a worker between two chosen instructions.
 */
#ifndef VOLLEY_SHM_ARENA_INT_H
#define VOLLEY_SHM_ARENA_INT_H

#include "arena.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ARENA_RELAXED memory_order_relaxed
#define ARENA_ACQ memory_order_acquire
#define ARENA_REL memory_order_release
#define ARENA_ACQREL memory_order_acq_rel
#define ARENA_SEQ memory_order_seq_cst

/*
 * Fault points. In the volley_shm_fi library (tests only) ARENA_FAULT(p)
 * calls arena__fault_hook, which may kill the process right there; in the
 * real library it compiles to nothing.
 */
enum arena_fault_point {
    ARENA_FP_CLAIMED = 1,   /* after a claim CAS, before the counters */
    ARENA_FP_FINISHED,      /* after the finish CAS, before releasing children */
    ARENA_FP_RELEASE_EDGE,  /* after one child's fetch_sub */
    ARENA_FP_READY,         /* after a child's blocked -> ready CAS, before its push */
    ARENA_FP_CANCELED,      /* after a cascade cancel CAS, before linking it */
    ARENA_FP_CHUNK_TAKEN,   /* after taking a fresh queue chunk, before linking it */
    ARENA_FP_STOLEN,        /* after a steal's CAS, before the span is the thief's range */
    ARENA_FP_POPPED,        /* after taking a token from a range or queue, before its claim */
    ARENA_FP_ROOT_RANGE,    /* after taking roots from a cursor, before recording them */
    ARENA_FP_CANCEL_MARKED, /* arena_cancel: after marking, before canceling */
    ARENA_FP_SPACE_CHECK,   /* build: returning nonzero skips the statvfs check */
    ARENA_FP_NPOINTS
};
#ifdef ARENA_FAULTS
extern int (*arena__fault_hook)(int point);
#define ARENA_FAULT(p) (arena__fault_hook ? arena__fault_hook(p) : 0)
#else
#define ARENA_FAULT(p) 0
#endif

/* ---- the state word ---- */

static inline unsigned arena__st(uint64_t w)
{
    return (unsigned)(w & ARENA_W_STATE_MASK);
}
static inline uint32_t arena__owner(uint64_t w)
{
    return (uint32_t)((w >> ARENA_W_OWNER_SHIFT) & ARENA_W_NO_OWNER);
}
static inline uint64_t arena__attempt(uint64_t w)
{
    return w >> ARENA_W_ATTEMPT_SHIFT;
}
static inline uint64_t arena__lost(uint64_t w)
{
    return (w >> ARENA_W_LOST_SHIFT) & ARENA_W_LOST_MAX;
}
/* w with one more attempt cut short (saturating) */
static inline uint64_t arena__lost_inc(uint64_t w)
{
    return arena__lost(w) < ARENA_W_LOST_MAX ? w + (1ull << ARENA_W_LOST_SHIFT) : w;
}
/* w with state s and owner o (o = ARENA_W_NO_OWNER for none); keeps the
 * cancel bit, the cut attempts and the attempt. */
static inline uint64_t arena__with(uint64_t w, unsigned s, uint64_t o)
{
    return (w & ~(ARENA_W_STATE_MASK | (ARENA_W_NO_OWNER << ARENA_W_OWNER_SHIFT))) | s |
           (o << ARENA_W_OWNER_SHIFT);
}
static inline uint64_t arena__word(unsigned s, uint64_t flags, uint64_t owner, uint64_t attempt)
{
    return s | flags | (owner << ARENA_W_OWNER_SHIFT) | (attempt << ARENA_W_ATTEMPT_SHIFT);
}
static inline bool arena__finished(unsigned s)
{
    return s >= ARENA_COMPLETED && s <= ARENA_CANCELED;
}

/* ---- per-slot counters: only the owner writes its slot, so a load and a
 * store (no lock prefix) are enough; readers sum them. ---- */
static inline void arena__cnt_add(struct arena_slot *sl, unsigned i, int64_t d)
{
    int64_t v = atomic_load_explicit(&sl->cnt[i], ARENA_RELAXED);
    atomic_store_explicit(&sl->cnt[i], v + d, ARENA_RELAXED);
}
static inline void arena__cnt_move(struct arena_slot *sl, unsigned from, unsigned to)
{
    arena__cnt_add(sl, from, -1);
    arena__cnt_add(sl, to, 1);
}

/*
 * The dirty bit. The state CAS before it is seq_cst and so is this load,
 * and the checkpointer exchanges a word (seq_cst) before it reads the
 * states: in the single total order either our load comes after its
 * exchange (we see the bit clear and set it) or our CAS came before its
 * state read (it sees the new state). So skipping the RMW when the bit is
 * already set never loses a change. On x86 the load is a plain mov.
 */
static inline void arena__mark_dirty(struct arena *a, uint32_t jid)
{
    _Atomic uint64_t *w = &a->dirty[jid >> 6];
    uint64_t bit = 1ull << (jid & 63);
    if (!(atomic_load_explicit(w, ARENA_SEQ) & bit))
        atomic_fetch_or_explicit(w, bit, ARENA_SEQ);
}

/* ---- futexes: shared (not FUTEX_PRIVATE_FLAG), across processes ---- */
static inline long arena__futex_wait(_Atomic uint32_t *word, uint32_t val,
                                     const struct timespec *ts)
{
    return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, val, ts, NULL, 0);
}
/* abs: an absolute CLOCK_MONOTONIC deadline, or NULL */
static inline long arena__futex_wait_bits(_Atomic uint32_t *word, uint32_t val,
                                          const struct timespec *abs, uint32_t bits)
{
    return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, val, abs, NULL, bits);
}
static inline void arena__futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* ---- queues (readyq.h has the protocol) ---- */

static inline struct arena_qd *arena__qd(const struct arena *a, uint32_t slot, uint32_t lvl)
{
    return &a->qds[(uint64_t)slot * a->nlevels + lvl];
}
static inline _Atomic uint32_t *arena__age(const struct arena *a, uint32_t lvl, uint32_t slot)
{
    return &a->ages[(uint64_t)lvl * a->nslots + slot];
}
/* Slots that ever joined (participants beyond it never had queues). */
static inline uint32_t arena__slots_hw(const struct arena *a)
{
    uint32_t hw = atomic_load_explicit(&a->ctl->slots_hw, ARENA_ACQ);
    return hw > a->nslots ? a->nslots : hw;
}

/*
 * Wakes one idle slot, if any: clears its bit in a->sleep (so no other
 * waker picks it), changes the futex word (so it returns at once if it is
 * not in the kernel yet: it read the word before setting its bit) and
 * wakes the waiters of its bitset. True if it woke one.
 */
bool arena__wake_idle(struct arena *a);

/*
 * After publishing ready work: wake an idle slot if one may have missed
 * it. The fence pairs with the sleeper's seq_cst setting of its bit (after
 * its read of the futex word, before its look for work): either that look
 * sees our push, or we see its bit. One slot, not every one: the random
 * shape is a wave through the ids (depth 2442 of 2M jobs, ~800 ready at
 * a time), so most of 64 workers are idle, and waking all of them at each
 * publish made 32k futex waits and 4-5 times as many context switches in
 * a 2M-job run on 2 CPUs (and before that, a FUTEX_WAKE per completion
 * while woken workers waited for a CPU: 40 % of the run with 16 workers).
 */
static inline void arena__publish(struct arena *a)
{
    atomic_thread_fence(ARENA_SEQ);
    for (uint64_t i = 0, n = ((uint64_t)arena__slots_hw(a) + 63) / 64; i < n; i++)
        if (VL_UNLIKELY(atomic_load_explicit(&a->sleep[i], ARENA_RELAXED) != 0)) {
            arena__wake_idle(a);
            return;
        }
}

/* An invariant that the design proves broke: say so and abort. */
_Noreturn void arena__bug(const char *what);

/* Maps the sections of a validated or freshly written header. */
void arena__map_sections(struct arena *a);

/* Is the process of this identity (ARENA_IDENT) alive and not a zombie? */
bool arena__ident_alive(uint64_t ident);
/* The calling process's identity. */
uint64_t arena__self_ident(void);

/*
 * The settle pass (arena_repair.c): with every other participant parked
 * (or none at all), rebuilds in-degrees, cancellations, ready tokens and
 * counts from the state words. Running jobs must already belong to live
 * slots. Returns the number of jobs canceled; sets *ready to the number of
 * ready jobs. VL_ETOOBIG if its bitmap cannot be allocated (then nothing
 * changed).
 */
int arena__settle(struct arena *a, uint64_t *canceled, uint64_t *ready, struct vl_err *err);
/* Empties every queue, range and root cursor (settle, build). */
void arena__reset_queues(struct arena *a);

/* Builds a segment; with recs, applies them and settles (arena_restore). */
int arena__build(struct arena *a, const char *path, const struct spec *s,
                 const struct arena_opts *o, const struct arena_job_rec *recs, struct vl_err *err);
/* Restore: writes saved records over a freshly built arena, then settles. */
int arena__apply_recs(struct arena *a, const struct arena_job_rec *recs, struct vl_err *err);

#endif /* VOLLEY_SHM_ARENA_INT_H */

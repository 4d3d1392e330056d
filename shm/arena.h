/*
 * arena.h - the shared-memory arena: the whole DAG of a run in one segment
 * (layout.h), and the lock-free primitives that worker processes use on it.
 *
 * Who calls what:
 *   supervisor  arena_build / arena_restore, arena_set_runner, forks workers,
 *               arena_recover when a participant died (or at resume)
 *   worker      arena_join, then a loop of arena_take / arena_finish (or
 *               arena_retry), arena_sleep_* when idle, arena_leave
 *   client      arena_join (ARENA_ROLE_CLIENT) + arena_cancel + arena_leave
 *   persist     arena_dirty_collect + arena_job_read; arena_restore
 *   status      arena_attach(ARENA_RDONLY) + arena_counts, arena_job_read
 *
 * Design (docs/arena.md has the proofs and the numbers):
 * - A job is a uint32_t index. Its state word (layout.h) holds state,
 *   cancel-request bit, owner slot and attempt; every transition is one CAS
 *   of that word, so a job is claimed once and finished once.
 * - Completion: CAS running -> outcome, then fetch_sub each child's
 *   in-degree; the one that reaches zero makes the child ready. A parent
 *   that did not complete cancels its children that have
 *   SPEC_JOB_CANCEL_ON_BLOCK at once, and so on downstream, through an
 *   intrusive worklist in the segment: no recursion, no allocation.
 * - Order: a higher priority first; within one priority, first ready,
 *   first run. Each slot has one FIFO ready queue per priority level (in
 *   the segment, so thieves in other processes reach it): the worker that
 *   releases a child appends it to its own queue and takes from its head,
 *   so each worker runs its region of the DAG oldest first and workers stay
 *   apart. Tokens carry an age (a clock that advances once per 64
 *   completions of a slot); a worker that sees a token older than its own
 *   by more than the slack (one tick per slot) elsewhere takes it first
 *   (stealing), and so does an idle one: the order stays close to global
 *   FIFO (docs/arena.md measures how close). Roots are in a root log per
 *   level, handed out as ranges (half of what is left at a cursor).
 * - A token (queue entry or cursor position) exists for each ready job, and
 *   only one; a claim is a CAS, so a stale token can never run a job twice.
 * - A dead participant is repaired under a brief quiesce: live participants
 *   park at a safe point (between primitives), and the supervisor rebuilds
 *   every derived structure (in-degrees, queues, counts) from the state
 *   words, which are the truth. Exact whatever instruction the dead process
 *   was at, including the middle of releasing a job's children.
 *
 * Thread/process safety: every function may be called concurrently from
 * any number of processes that mapped the segment, except where it says
 * "supervisor". A struct arena is process-local; after fork() the child
 * may keep using the parent's (the mapping is shared).
 */
#ifndef VOLLEY_SHM_ARENA_H
#define VOLLEY_SHM_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "loader/spec.h"
#include "layout.h"

/* A process's view of a mapped arena; caller-allocated. */
struct arena {
    uint8_t *base;  /* the mapping; NULL when closed */
    uint64_t bytes; /* mapping size */
    int fd;         /* the segment file, O_CLOEXEC */
    bool rdonly;    /* attached with ARENA_RDONLY: never write */
    uint32_t njobs;
    uint32_t nslots;
    uint64_t nedges;
    uint64_t ndirty; /* words in dirty */
    struct arena_hdr *hdr;
    struct arena_ctl *ctl;
    struct arena_slot *slots;       /* [nslots] */
    _Atomic uint64_t *state;        /* [njobs] state words */
    _Atomic uint32_t *indeg;        /* [njobs] live in-degrees */
    _Atomic uint64_t *dirty;        /* [ndirty] */
    const uint64_t *kid_off;        /* [njobs + 1] */
    const uint32_t *kids;           /* [nedges] */
    _Atomic uint32_t *readyq;       /* [ncells] root logs, then queue chunks */
    struct arena_qd *qds;           /* [nslots * nlevels]: slot s, level L at s * nlevels + L */
    struct arena_chunk *chunks;     /* [nchunks] */
    _Atomic uint32_t *ages;         /* [nlevels * nslots]: level L, slot s at L * nslots + s */
    const uint8_t *lvl;             /* [njobs] with nlevels > 1, else NULL */
    struct arena_level *levels;     /* [nlevels] */
    _Atomic uint64_t *sleep;        /* [(nslots + 63) / 64] idle slots not yet woken */
    const uint32_t *indeg0;         /* [njobs] */
    _Atomic uint32_t *link;         /* [njobs] */
    struct arena_cold *cold;        /* [njobs] */
    const struct arena_meta *meta;  /* [njobs] */
    const struct arena_rr *rrs;     /* [hdr->nrr] */
    const struct arena_fh *fhs;     /* [hdr->nfh] */
    const struct arena_rule *rules; /* [hdr->nrules] */
    const int32_t *codes;           /* [hdr->ncodes] */
    const char *pool;               /* [pool_len], last byte NUL */
    uint64_t pool_len;
    const struct arena_envset *envsets; /* [nenvsets] */
    const uint64_t *envkv;              /* [nenvkv] pool offsets of "KEY=VALUE" */
    const uint32_t *jobenv;             /* [njobs] env set per job, or NULL: set 0 */
    uint32_t nenvsets;
    uint32_t nlevels; /* priority levels, 1 when the workflow has no priorities */
    uint64_t nenvkv;
    uint32_t nchunks; /* queue chunks */
    uint32_t pad;
    uint64_t ncells; /* readyq cells */
    uint64_t chunk0; /* the cell where chunk 0 starts (after the root logs) */
    char path[256];  /* for messages */
};

/* Build options; zero-initialised means defaults. */
struct arena_opts {
    uint32_t nslots; /* participant slots (workers + supervisor + clients);
                        0: 64. At most ARENA_MAX_SLOTS */
    uint32_t pad;
    uint8_t run_id[16]; /* all zero: 16 random bytes */
};

/* What a segment for a workflow of these dimensions costs. */
struct arena_dims {
    uint64_t njobs, nedges, pool_len;
    uint64_t nroots; /* jobs without parents */
    uint32_t nslots, nrr, nfh, nrules, ncodes;
    uint32_t nenvsets; /* env sets (0: no env) */
    uint32_t nlevels;  /* distinct priorities (1 without); more than
                          ARENA_MAX_LEVELS is refused by arena_plan */
    uint64_t nenvkv;   /* their entries */
    uint64_t njobenv;  /* njobs when jobs have sets of their own, else 0 */
};
struct arena_plan {
    uint64_t bytes;      /* the whole segment */
    uint64_t hot_bytes;  /* state, indeg, dirty, kid_off, kids, readyq, queues,
                            chunks, ages, lvl */
    uint64_t cold_bytes; /* the rest: header, slots, indeg0, link, cold,
                            meta, tables, pool, page padding */
};
void arena_dims_of(const struct spec *s, const struct arena_opts *o, struct arena_dims *d);
/* 0, or VL_ETOOBIG if the dimensions cannot be addressed (njobs > 2^32-2,
 * nslots > ARENA_MAX_SLOTS, more than 2^32 queue cells, sizes overflow)
 * or VL_ESPEC for more than ARENA_MAX_LEVELS distinct priorities. */
int arena_plan(const struct arena_dims *d, struct arena_plan *p, struct vl_err *err);

/*
 * Builds a new segment at path (a file under /dev/shm, mode 0600, built
 * unnamed (O_TMPFILE) and linked into place when complete, so nobody ever
 * attaches a half-built arena and a crash leaves nothing behind; an
 * existing path is never replaced). Checks free space first
 * (statvfs) and then allocates and prefaults every page (fallocate +
 * MADV_POPULATE_WRITE), so a full /dev/shm is -ENOSPC here, never a SIGBUS
 * later. s must have passed spec_check. Roots start ready, the rest
 * blocked, attempt 1.
 * On success a is attached read-write and the caller owns it (arena_close;
 * arena_unlink when the run is over). On failure nothing is left behind
 * (no file, no mapping) and err says what and why.
 */
int arena_build(struct arena *a, const char *path, const struct spec *s, const struct arena_opts *o,
                struct vl_err *err);

/* A job as persist saves and restores it. */
enum { ARENA_REC_CANCEL_REQ = 1u << 0 };
struct arena_job_rec {
    uint32_t state;    /* enum arena_state */
    uint32_t attempt;  /* 1-based */
    uint32_t lost;     /* attempts cut short (a stop, a crash): not failures */
    int32_t exit_code; /* meaningful once finished */
    uint32_t flags;    /* ARENA_REC_* */
    int32_t pid;       /* the job's process, 0 if none */
    uint32_t owner;    /* slot, or ARENA_NONE (arena_job_read only) */
    uint64_t start_ns; /* CLOCK_REALTIME, 0 if never started */
    uint64_t end_ns;
    uint64_t log_ref;
    uint64_t max_rss_bytes; /* the attempt's usage (layout.h, struct arena_cold) */
    uint32_t cpu_user_ms, cpu_sys_ms;
};

/*
 * Like arena_build, then applies saved per-job records recs[njobs]:
 * finished jobs stay finished; running and ready ones come back ready
 * (running ones with attempt + 1); live in-degrees are recomputed from the
 * initial ones and the set of finished parents; a job whose parents are all
 * finished becomes ready, one with a parent that did not complete and
 * SPEC_JOB_CANCEL_ON_BLOCK (or a cancel request) is canceled, downstream
 * too. Records may come from an inconsistent checkpoint (a ready job whose
 * parent is not finished goes back to blocked). VL_ECORRUPT if a record's
 * state is not a state.
 */
int arena_restore(struct arena *a, const char *path, const struct spec *s,
                  const struct arena_opts *o, const struct arena_job_rec *recs, struct vl_err *err);

enum {
    ARENA_RDONLY = 1u << 0,
    /* With ARENA_RDONLY: checks the header and the section layout only,
     * O(1) whatever njobs (the per-job checks cost ~40 ms per 1M jobs);
     * the caller may then use only arena_counts, arena_runner_alive and
     * a->hdr (`volley status`). */
    ARENA_HDR_ONLY = 1u << 1
};
/*
 * Maps an existing segment and validates it before returning: magic,
 * layout version, shape, header checksum, size against fstat, every
 * section's bounds and element size, the CSR (offsets nondecreasing,
 * children in range), every string offset, every table index, and for a
 * read-write attach also that the initial in-degrees match the edges and
 * the graph is acyclic (8 bytes per job of scratch). Refuses
 * with VL_EVERSION (another layout) or VL_ECORRUPT (damaged, truncated,
 * not an arena) and a sentence the user can act on; -errno if it cannot
 * be opened. With ARENA_RDONLY the mapping is PROT_READ and the caller
 * must use only the read functions (status, jobs). O(njobs + nedges).
 */
int arena_attach(struct arena *a, const char *path, unsigned flags, struct vl_err *err);
/* Unmaps and closes; accepts NULL and a closed or zeroed arena. */
void arena_close(struct arena *a);
/* Removes the segment file; 0 or -errno (ENOENT is not an error). */
int arena_unlink(const char *path);

/* The runner (supervisor) identity in the header, for `volley status`. */
void arena_set_runner(struct arena *a, int pid, uint64_t start_ticks);
bool arena_runner_alive(const struct arena *a);

/*
 * Participants. arena_join claims a free slot for the calling process
 * (pid and start time recorded, so its death is detectable), parking
 * first if a quiesce is in progress. -EBUSY if every slot is taken.
 * arena_leave frees it: the tokens left in its queues and ranges stay
 * there, where others take them (and a later joiner inherits them). Do not leave
 * while owning running jobs (finish them first, or let recover do it).
 */
int arena_join(struct arena *a, enum arena_role role, uint32_t *slot, struct vl_err *err);
void arena_leave(struct arena *a, uint32_t slot);
/* True if the slot's process is alive (not a zombie) and the same one. */
bool arena_slot_alive(const struct arena *a, uint32_t slot);
/* The pid of the slot's process, 0 if the slot is free. */
int arena_slot_pid(const struct arena *a, uint32_t slot);

/*
 * A safe point: if the supervisor asked for a quiesce, records this
 * participant as parked and sleeps until the repair is over; returns true
 * if it parked. arena_take calls it first; a worker that is busy with its
 * running jobs must also call it whenever the futex word (arena_futex_word)
 * changes, which recover makes it do. Never call it from inside another
 * arena function.
 */
bool arena_quiesce_point(struct arena *a, uint32_t w);

/*
 * Takes the next ready job for slot w and claims it (CAS ready -> running,
 * owner w, attempt unchanged); returns its id, or ARENA_NONE if no ready
 * job can be had right now. Order: the highest priority level that has
 * ready jobs; in it, w's range (roots, or a span it took from another
 * queue), then roots from the level's cursor, then the oldest of w's own
 * queue and the other slots' tokens (another's only if older by more than
 * the slack, or if w has none). ARENA_NONE means every queue of every
 * level was seen empty, or that its next tokens are fewer than 2 x
 * ARENA_CHUNK roots in another working slot's range, which that slot
 * runs in order. A ready job with a cancel request is canceled
 * instead of returned. Lock-free; allocates nothing.
 */
uint32_t arena_take(struct arena *a, uint32_t w);

/*
 * Finishes job jid, which slot w must own (running): outcome is
 * ARENA_COMPLETED, ARENA_FAILED, ARENA_TERMINATED or ARENA_CANCELED;
 * exit_code is stored for persist. Then releases its children: each
 * in-degree is decremented; a child whose count reaches zero becomes ready
 * at the tail of w's queue of its level; if the outcome is not
 * completed, children with SPEC_JOB_CANCEL_ON_BLOCK are canceled at once,
 * transitively. Idle sleepers are woken if work was published.
 * Returns 0; -EINVAL for a bad id or outcome; -ESTALE if jid is not
 * running under w (never claimed by w, or taken back by recover).
 */
int arena_finish(struct arena *a, uint32_t w, uint32_t jid, enum arena_state outcome,
                 int exit_code);

/*
 * arena_finish, then the next job for w, already claimed (running):
 * arena_take's choice, except that when w had nothing else ready at the
 * first released child's level (and nothing at a higher one), that child
 * is claimed directly, with no queue round trip (a chain runs without
 * touching a queue); *next is ARENA_NONE if nothing is ready. Same return
 * codes as arena_finish (*next is untouched on error). For a worker that
 * will start another job right away.
 */
int arena_finish_take(struct arena *a, uint32_t w, uint32_t jid, enum arena_state outcome,
                      int exit_code, uint32_t *next);

/*
 * Starts another attempt of a job that w owns and keeps running (the
 * caller runs it again): attempt + 1, stored in *attempt. -ESTALE as for
 * finish; -ECANCELED if a cancel was requested (finish it as canceled).
 */
int arena_retry(struct arena *a, uint32_t w, uint32_t jid, uint32_t *attempt);

/* Termination: every job is finished (completed, failed, terminated or
 * canceled). O(slots); exact once true (counts only grow). */
bool arena_done(const struct arena *a);

/*
 * Sleeping until work appears. The futex word is a 32-bit shared (not
 * private) futex that changes whenever ready work is published while
 * someone sleeps, and on quiesce, cancel and the end of the run. Protocol:
 *     v = arena_sleep_prepare(a, w);
 *     j = arena_take(a, w);              // re-check after announcing
 *     if (j == ARENA_NONE && !arena_done(a))
 *         arena_sleep_wait(a, w, v, timeout) or io_uring FUTEX_WAIT on
 *         arena_futex_word(a) with value v;
 *     arena_sleep_done(a, w);
 * Publishers check for sleepers after a seq_cst fence, so a wakeup cannot
 * be lost between the re-check and the wait. A publish wakes one idle
 * slot (its bit in a->sleep, its futex bitset); a worker that then steals
 * work wakes the next, so idle workers join one at a time while there is
 * work to take, instead of all of them at each publish.
 */
uint32_t arena_sleep_prepare(struct arena *a, uint32_t w);
/* futex-waits while the word equals seen: 0 (woken or changed), -ETIMEDOUT,
 * -EINTR. timeout_ns < 0: no timeout. */
int arena_sleep_wait(struct arena *a, uint32_t w, uint32_t seen, int64_t timeout_ns);
void arena_sleep_done(struct arena *a, uint32_t w);
/* Changes the futex word and wakes every sleeper (stop, cancel, end). */
void arena_wake(struct arena *a);
static inline _Atomic uint32_t *arena_futex_word(struct arena *a)
{
    return &a->ctl->work_seq;
}
/* The FUTEX bitset slot w waits with (FUTEX_WAIT_BITSET, or io_uring
 * FUTEX_WAIT's mask): published work wakes one idle slot by its bit, so
 * only the slots of that bit wake (slots w and w + 32k share one);
 * arena_wake wakes every waiter whatever its bitset. A participant that
 * waits with every bit set is woken by every wake (correct, only costly). */
static inline uint32_t arena_futex_mask(const struct arena *a, uint32_t w)
{
    (void)a;
    return 1u << (w & 31);
}

/*
 * A user cancel of jid and all its dependents, whatever their flags: every
 * one of them gets the cancel-request bit; blocked and ready ones are
 * canceled at once; running ones are left to their worker, which sees
 * arena_job_cancel_requested() (ctl->cancel_seq changes and sleepers are
 * woken) and finishes them as canceled. Finished ones stay finished (their
 * dependents are still canceled). The caller must be joined (slot w).
 * Allocates 4 bytes per job for the traversal (VL_ETOOBIG). Idempotent.
 */
struct arena_cancel_stats {
    uint64_t marked;   /* jobs that got the cancel-request bit now */
    uint64_t canceled; /* canceled by this call, cascades included */
    uint64_t running;  /* running: left to their worker */
};
int arena_cancel(struct arena *a, uint32_t w, uint32_t jid, struct arena_cancel_stats *st,
                 struct vl_err *err);

/*
 * Recovery (supervisor only; also at resume, when every old participant is
 * gone): quiesces the live participants (they park at a safe point; the
 * wait gives up after timeout_ms with -ETIMEDOUT and changes nothing),
 * then repairs from the state words: running jobs whose owner is dead
 * come back ready with attempt + 1 (canceled if a cancel was requested);
 * in-degrees are recomputed from the finished set; cancellations that a
 * dead process left half done are completed; every queue is rebuilt so
 * that each ready job has exactly one token; counts are recounted; dead
 * slots are freed. Exact whatever the dead were doing. self: the caller's
 * slot or ARENA_NONE. O(njobs + nedges) while everyone is parked.
 */
struct arena_recover_stats {
    uint32_t dead;      /* slots whose process was gone */
    uint32_t live;      /* slots that parked */
    uint64_t requeued;  /* running jobs of the dead, now ready */
    uint64_t canceled;  /* canceled by the repair */
    uint64_t ready;     /* ready jobs with a token after the repair */
    uint64_t paused_ns; /* from the quiesce request to the release */
    uint64_t repair_ns; /* of which the repair itself, everyone parked */
};
int arena_recover(struct arena *a, uint32_t self, int timeout_ms, struct arena_recover_stats *st,
                  struct vl_err *err);

/*
 * For persist: collects up to cap jobs whose state word changed since the
 * last collection, clearing their dirty bits; *cursor (start at 0) is the
 * bitmap word to continue from; a pass is over when *cursor reaches
 * a->ndirty. O(changed + njobs/64); workers never wait. Read each job
 * with arena_job_read afterwards: a change after the read sets the bit
 * again, so the next pass catches it.
 */
size_t arena_dirty_collect(struct arena *a, uint64_t *cursor, uint32_t *out, size_t cap);
/* A consistent-enough copy of one job (state word first, acquire). */
void arena_job_read(const struct arena *a, uint32_t jid, struct arena_job_rec *r);

/* Live count per state in O(slots): base + every slot's transitions. A
 * snapshot of moving counters: each is exact when the run is quiet. */
void arena_counts(const struct arena *a, uint64_t counts[ARENA_NSTATES]);
/* Of such counts, the finished jobs (completed, failed, terminated, canceled). */
static inline uint64_t arena_counts_finished(const uint64_t counts[ARENA_NSTATES])
{
    return counts[ARENA_COMPLETED] + counts[ARENA_FAILED] + counts[ARENA_TERMINATED] +
           counts[ARENA_CANCELED];
}
const char *arena_state_name(enum arena_state s); /* "blocked" ... "canceled" */

/* ---- per-job accessors (inline; jid < a->njobs is the caller's duty) ---- */

static inline uint64_t arena_job_word(const struct arena *a, uint32_t jid)
{
    return atomic_load_explicit(&a->state[jid], memory_order_acquire);
}
static inline enum arena_state arena_job_state(const struct arena *a, uint32_t jid)
{
    return (enum arena_state)(arena_job_word(a, jid) & ARENA_W_STATE_MASK);
}
static inline uint32_t arena_job_lost(const struct arena *a, uint32_t jid)
{
    return (uint32_t)((arena_job_word(a, jid) >> ARENA_W_LOST_SHIFT) & ARENA_W_LOST_MAX);
}
static inline uint32_t arena_job_attempt(const struct arena *a, uint32_t jid)
{
    return (uint32_t)(arena_job_word(a, jid) >> ARENA_W_ATTEMPT_SHIFT);
}
/* Slot that claimed or finished the job, ARENA_NONE if none. */
static inline uint32_t arena_job_owner(const struct arena *a, uint32_t jid)
{
    uint32_t o = (uint32_t)((arena_job_word(a, jid) >> ARENA_W_OWNER_SHIFT) & ARENA_W_NO_OWNER);
    return o == ARENA_W_NO_OWNER ? ARENA_NONE : o;
}
static inline bool arena_job_cancel_requested(const struct arena *a, uint32_t jid)
{
    return (arena_job_word(a, jid) & ARENA_W_CANCEL_REQ) != 0;
}
static inline bool arena_state_finished(enum arena_state s)
{
    return s >= ARENA_COMPLETED && s <= ARENA_CANCELED;
}
/* The job's priority level (0 = highest) and its priority value. */
static inline uint32_t arena_job_level(const struct arena *a, uint32_t jid)
{
    return a->lvl ? a->lvl[jid] : 0;
}
static inline int32_t arena_job_priority(const struct arena *a, uint32_t jid)
{
    return a->levels[arena_job_level(a, jid)].prio;
}
static inline const char *arena_job_name(const struct arena *a, uint32_t jid)
{
    return a->pool + a->meta[jid].name_off;
}
static inline const char *arena_job_cmd(const struct arena *a, uint32_t jid)
{
    return a->pool + a->meta[jid].cmd_off;
}
/* The env set of jid (an index into a->envsets), or ARENA_NONE when the
 * workflow has no env. */
static inline uint32_t arena_job_envset(const struct arena *a, uint32_t jid)
{
    if (!a->nenvsets)
        return ARENA_NONE;
    return a->jobenv ? a->jobenv[jid] : 0;
}
/* Children of jid: *n of them at the returned pointer, ascending. */
static inline const uint32_t *arena_job_kids(const struct arena *a, uint32_t jid, uint64_t *n)
{
    *n = a->kid_off[jid + 1] - a->kid_off[jid];
    return a->kids + a->kid_off[jid];
}

/* Cold fields a worker writes for the job it runs (relaxed stores; each
 * marks the job dirty so persist sees it). */
void arena_job_set_pid(struct arena *a, uint32_t jid, int32_t pid);
void arena_job_set_start(struct arena *a, uint32_t jid, uint64_t start_ns);
void arena_job_set_end(struct arena *a, uint32_t jid, uint64_t end_ns);
void arena_job_set_log(struct arena *a, uint32_t jid, uint64_t log_ref);
/* What the attempt that just ended used (CPU rounded to ms, saturating). */
void arena_job_set_usage(struct arena *a, uint32_t jid, uint64_t max_rss_bytes,
                         uint64_t cpu_user_us, uint64_t cpu_sys_us);
static inline int32_t arena_job_pid(const struct arena *a, uint32_t jid)
{
    return atomic_load_explicit(&a->cold[jid].pid, memory_order_relaxed);
}

#endif /* VOLLEY_SHM_ARENA_H */

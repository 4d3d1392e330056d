/*
 * ckpt.h - the checkpointer: a thread that owns a struct snap and writes
 * the job records handed to it, so that no caller ever waits on SQLite
 * (DESIGN.md: "Workers never wait for it").
 *
 * The supervisor collects changed records (ckpt_collect: the arena's dirty
 * bits, each changed job read once) every interval and hands them over
 * with ckpt_submit, which copies them into a
 * pending list under a mutex held only for that copy. The thread takes the
 * whole pending list, sorts it by jid, keeps the last record of each job
 * and writes it with snap_write_jobs: one transaction per round, only the
 * changed records. A failed round (disk full, I/O error) keeps its records:
 * they are merged with whatever arrives meanwhile and retried after
 * retry_ms, so once the cause goes away nothing is lost. The previous
 * checkpoint stays readable the whole time (snap_write_jobs rolls back).
 *
 * The end of a run is ckpt_stop: it writes everything submitted, marks the
 * run finished (snap_finish) and reports whether that worked; the run exits
 * 3 if it did not.
 */
#ifndef VOLLEY_PERSIST_CKPT_H
#define VOLLEY_PERSIST_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "persist/snap.h"
#include "shm/arena.h"

struct watchlog;

struct ckpt_opts {
    uint32_t retry_ms; /* wait after a failed round before retrying (0: 1000) */
};

struct ckpt_stats {
    uint64_t rounds;        /* successful checkpoint transactions */
    uint64_t failures;      /* failed ones */
    uint64_t records;       /* records written (after merging per job) */
    uint64_t pending;       /* records submitted and not yet written */
    uint64_t last_ns;       /* duration of the last successful round */
    uint64_t max_ns;        /* longest successful round */
    struct vl_err last_err; /* the last failure (code 0: none since the last success) */
};

struct ckpt;

/*
 * Starts the thread; it takes over db until ckpt_stop returns (do not use
 * db meanwhile). *out is the caller's: ckpt_stop frees it.
 */
int ckpt_start(struct ckpt **out, struct snap *db, const struct ckpt_opts *opts,
               struct vl_err *err);

/*
 * Hands over n changed records (copied; the caller may reuse jobs at once).
 * Never waits for a write in progress. 0, or -EINVAL for a record with jid
 * >= njobs or a bad state (nothing is taken then), or -ENOMEM.
 */
int ckpt_submit(struct ckpt *c, const struct snap_job *jobs, size_t n);

/*
 * Hands over n action records (snap.h struct snap_action; copied), written
 * with the next round (snap_write_actions, before that round's job records;
 * the last record of an action wins). Never waits for a write. 0, or
 * -EINVAL for an id >= nactions or a bad state (nothing taken), -ENOMEM.
 */
int ckpt_submit_actions(struct ckpt *c, const struct snap_action *acts, size_t n);

/*
 * Waits until every record submitted before the call is written (0), or a
 * round that started after the call failed (its error; the records stay
 * pending and will be retried).
 */
int ckpt_flush(struct ckpt *c, struct vl_err *err);

/*
 * One collection (the supervisor's thread, every --checkpoint-interval and
 * once more when its workers are gone): every job whose dirty bit is set
 * in a is read once, converted (snap_arena.h), noted in wl (the watch
 * files; may be NULL, then flushed) and submitted. The checkpointer never
 * reads the arena itself: what a collection saw is what gets written. 0,
 * or -ENOMEM if a submit could not take its records (they are lost to
 * this checkpoint: the next change of each job is taken again).
 */
int ckpt_collect(struct ckpt *c, struct arena *a, struct watchlog *wl);

/* A snapshot of the counters (for the progress line and the run log). */
void ckpt_get_stats(struct ckpt *c, struct ckpt_stats *st);

/*
 * The final checkpoint: writes everything submitted (one more attempt if
 * the last round failed), then snap_finish, then stops the thread and frees
 * c. Returns 0, or the error that kept the final snapshot from being
 * written (the run then exits 3; volley.db holds the last good checkpoint).
 * db is the caller's again afterwards (snap_close). Accepts NULL.
 */
int ckpt_stop(struct ckpt *c, struct vl_err *err);

#endif /* VOLLEY_PERSIST_CKPT_H */

/*
 * resume.h - resume's reconciliation (docs/running.md, "volley resume"):
 * the state a stopped or crashed run goes on from, and the arena it goes
 * on in. core/'s run side, beside the supervisor: it ends the old run's
 * processes, reads the surviving arena, and writes volley.db.
 *
 * The state comes from the best source there is: the run's arena if it
 * survived (the runner died, the node did not reboot: /dev/shm still holds
 * the exact state of every job), else volley.db's last checkpoint. The old
 * run's processes are ended first (its workers stop on their supervisor's
 * death; what is left of its jobs is killed), the surviving state is
 * written into volley.db, and a fresh arena is rebuilt from the records:
 *
 *   completed                    stays completed, never runs again
 *   running (or claimed)         ready again, attempt + 1 (the restore)
 *   failed, terminated, canceled stay so, unless retry_failed: then open
 *                                again (blocked or ready from its parents),
 *                                with their failure handler's retries anew
 *   cancel requested, unfinished canceled (`volley cancel` was stopping it;
 *                                a running one gets exit 128 + SIGKILL)
 *
 * An arena this volley cannot read (another layout, a damaged header) is
 * ignored: the snapshot is the source, and the arena is removed.
 */
#ifndef VOLLEY_CORE_RESUME_H
#define VOLLEY_CORE_RESUME_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "core/resources.h"
#include "persist/snap.h"
#include "shm/arena.h"

struct resume_opts {
    bool retry_failed;      /* --retry-failed */
    bool from_snapshot;     /* --from-snapshot: ignore a surviving arena's newer state */
    uint32_t kill_grace_ms; /* what the old run's workers get to stop their jobs */
};

/* What resume_reconcile found and did. */
struct resume_state {
    const char *source;    /* "the surviving arena" or "volley.db (last checkpoint)" */
    uint8_t *prev;         /* [njobs] each job's state where events.jsonl stopped (the
                              supervisor's watch_prev); the caller frees it */
    uint64_t unfinished;   /* jobs left to run */
    uint64_t bad;          /* jobs finished and not completed */
    uint64_t reopened;     /* jobs retry_failed opened again */
    struct vl_err ignored; /* code != 0: the arena found was ignored, and why */
};

/*
 * Whether the jobs left to run (per jobs[], volley.db's records, and
 * retry_failed) fit capacity cap: 0, or VL_ESPEC with err naming the first
 * that cannot (res_check_left). As of the checkpoint: a job finished since
 * is checked too, which errs on the side of refusing. Call it before
 * resume_reconcile, which ends the old run's processes.
 */
int resume_check_fit(const struct spec *s, const struct snap_job *jobs, bool retry_failed,
                     const struct res_amount *cap, struct vl_err *err);

/*
 * Reconciles run directory dir (db open on it, s and jobs[njobs] as
 * snap_open returned them, info its metadata) with the arena at
 * arena_path, if there is one: ends the old run's processes, folds the
 * arena's newer records into jobs and volley.db (when it is of this boot
 * and not from_snapshot), appends the watch files' missing lines, removes
 * the arena, then applies retry_failed (jobs and volley.db). jobs[] is
 * then what the new arena is restored from. warn gets the watch files'
 * write errors. On failure (volley.db could not be written) err says why;
 * out->prev is set (or NULL) either way: free it.
 */
int resume_reconcile(struct snap *db, const struct spec *s, const struct snap_info *info,
                     const char *dir, const char *arena_path, struct snap_job *jobs,
                     const struct resume_opts *o, const struct vl_warn *warn,
                     struct resume_state *out, struct vl_err *err);

/*
 * The resumed run's arena at arena_path, restored from jobs[njobs]
 * (snap_job_to_arena, then arena_restore) with the run's id. 0 or a
 * negative code with err filled.
 */
int resume_restore(struct arena *a, const char *arena_path, const struct spec *s,
                   const uint8_t run_id[16], const struct snap_job *jobs, struct vl_err *err);

#endif /* VOLLEY_CORE_RESUME_H */

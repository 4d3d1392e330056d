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
#include "loader/specdiff.h"
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
    uint32_t cg_found;     /* the old run's cgroup directories found and removed */
    uint32_t cg_killed;    /* processes still in them, killed */
    int cg_err;            /* 0, or why one could not be removed (-EBUSY) */
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
 * arena_path, if there is one: ends the old run's processes (and what is
 * left in its cgroups, which are removed: cgroup_sweep), folds the
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

/*
 * For `--dry-run`: what resume_reconcile would find, without ending or
 * writing anything: the records of a surviving arena of this boot (unless
 * from_snapshot) over jobs, then retry_failed, counted into out (out->prev
 * NULL, source set). Never fails: an arena it cannot read is ignored.
 */
void resume_peek(const struct spec *s, const struct snap_info *info, const char *arena_path,
                 struct snap_job *jobs, const struct resume_opts *o, struct resume_state *out);

/*
 * ---- reset: `volley reset` (core/resume_reset.c) ----
 *
 * Jobs of a stopped or finished run back to their initial state (blocked,
 * or ready without unfinished parents), so that the next resume runs them:
 * each job with sel[j] set, every job downstream of one if downstream, and
 * in any case the canceled ones downstream (their cancel came from a job
 * that runs again; a restore cancels them anew if another parent still did
 * not complete). Attempts are counted on and the failure handler's retries
 * start anew, as for --retry-failed. jobs[] (volley.db's records, after
 * resume_reconcile) are changed in place; the changed ones go to diff
 * (room for njobs) and their count to *n. Allocates a queue of njobs.
 */
void resume_reset(const struct spec *s, struct snap_job *jobs, const uint8_t *sel, bool downstream,
                  struct snap_job *diff, size_t *n);

/*
 * ---- reload: `volley resume --reload` (core/resume_reload.c) ----
 *
 * The edited workflow (cur) replaces the stored one (old) in a new
 * generation of the run (persist/snap.h, struct snap_history). A job is
 * its name (loader/specdiff.h says what its definition is):
 *
 *   same definition              keeps its record (completed stays so)
 *   changed, and every job       starts over: blocked or ready, its
 *   downstream of a changed or   attempts counted on (so its earlier
 *   new one                      logs stay apart), its failure handler's
 *                                retries anew
 *   new                          initial, like a job of a new run
 *   removed                      dropped (its logs stay where they are)
 *
 * The new volley.db is written beside the old one and renamed over it
 * (snap_create with SNAP_REPLACE): a crash before the rename leaves the old
 * run whole, after it the new one; never a mix. The old run's arena is
 * gone by then (resume_reconcile folded and removed it).
 */
#define RESUME_DOWNSTREAM SPECDIFF_NWHAT /* why[]: downstream of a changed job */
#define RESUME_NWHY (SPECDIFF_NWHAT + 1)
struct reload_plan {
    uint32_t njobs;    /* jobs of cur */
    uint8_t *why;      /* [njobs] enum specdiff_what (SPECDIFF_SAME: kept)
                          or RESUME_DOWNSTREAM */
    uint32_t *cause;   /* [njobs] downstream: the changed or new job it depends
                          on (the nearest); else SPEC_NONE */
    uint32_t *old_of;  /* [njobs] its job in old, or SPEC_NONE */
    uint32_t *removed; /* [nremoved] jobs of old not in cur (old jids) */
    uint32_t nremoved;
    uint64_t count[RESUME_NWHY]; /* jobs of cur per why */
};
/* Compares old and cur job by job and marks what is downstream of a
 * change. 0 or a negative code (allocation) with err. */
int resume_reload_plan(const struct spec *old, const struct spec *cur, struct reload_plan *out,
                       struct vl_err *err);
void resume_reload_plan_fini(struct reload_plan *p); /* accepts a zeroed one */

/*
 * The new generation's records (*jobs, njobs of cur) from the old ones
 * (old_jobs, after resume_reconcile) as the table above says, and (if
 * prev_out) each job's state where events.jsonl last has it: old_prev's
 * for a job that was there (so a job started over gets its event), the
 * initial one for a new job. Caller frees both. 0 or VL_ETOOBIG.
 */
int resume_reload_records(const struct reload_plan *p, const struct spec *cur,
                          const struct snap_job *old_jobs, const uint8_t *old_prev,
                          struct snap_job **jobs, uint8_t **prev_out, struct vl_err *err);

/*
 * Writes the new generation: closes *db (the old run's), then writes
 * DIR/volley.db anew from cur, records jobs, the old run's id, start time,
 * working directory and options (opts, n), the workflow file wf, and a
 * history one generation longer than old_hist (snap_history_load's; started
 * now). On success *db is the new one (open for checkpoints, pointing into
 * cur). On failure *db is NULL and the old volley.db is as it was.
 */
int resume_reload_commit(struct snap **db, const char *dir, const struct spec *cur,
                         const struct snap_info *info, const struct snap_opt *opts, uint32_t n,
                         const struct snap_wffile *wf, const struct reload_plan *p,
                         const struct snap_history *old_hist, const struct snap_job *jobs,
                         struct vl_err *err);

#endif /* VOLLEY_CORE_RESUME_H */

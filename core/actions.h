/*
 * actions.h - the workflow's actions in a run (torc's `actions` with
 * `run_commands`; docs/running.md "Actions"): when each one is due, and
 * running its commands. core/'s run side, beside the supervisor, which owns
 * the one struct actions of a run and calls everything here from its
 * thread, except where a function says otherwise.
 *
 * When an action is due:
 *   on_workflow_start     the supervisor fires it before any worker starts
 *                         and waits for it: jobs and the other actions
 *                         start after it ended (torc: a job runner runs
 *                         its pending actions before it claims a job),
 *                         whether it failed or not
 *   on_jobs_ready         every job of it has become ready (it is ready,
 *                         running or finished, and a canceled one had
 *                         started): actions_poll, each supervisor tick
 *   on_jobs_complete      every job of it is finished (completed, failed,
 *                         terminated or canceled): actions_poll
 *   on_workflow_complete  every job is finished, whatever the outcomes
 *                         (torc's meaning): the supervisor fires it once its
 *                         workers are gone, and waits for it
 * A completion never waits on an action: the poll reads the arena's state
 * words from the supervisor's thread, with a cursor per action (each job is
 * looked at until it satisfies the trigger, once), so its cost over a run
 * is one load per listed job plus O(actions) per tick; an action is due at
 * most one tick (250 ms) after its condition holds.
 *
 * Running: one engine (exec.h) on a thread of its own, at most 4 actions at
 * a time; an action's commands run in order, each as `/bin/sh -c COMMAND`
 * in the directory the run was started in, with the workflow's env,
 * VOLLEY_RUN_DIR (TORC_OUTPUT_DIR), VOLLEY_ACTION (its index) and
 * VOLLEY_ACTION_TRIGGER; the first that fails ends it (failed: the run goes
 * on, and its exit code does not change). Logs like a job's, in
 * DIR/logs/actions: job id = action index, attempt = (run - 1) * ncmds +
 * command + 1 (`volley logs DIR --action N`); after a reload, in that
 * generation's logs/gen-N/actions.
 *
 * Once each: an action's record (persist/snap.h struct snap_action) goes
 * to the checkpointer when it starts (running) and ends (completed or
 * failed); a completed or failed one never runs again in this run
 * directory; one still running when the run stopped or died runs again on
 * resume (as a job does). resume --retry-failed re-arms, as torc's
 * reinitialize does, what will happen again: on_workflow_complete, and an
 * on_jobs_* action one of whose jobs was opened again (resume.c).
 */
#ifndef VOLLEY_CORE_ACTIONS_H
#define VOLLEY_CORE_ACTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "loader/spec.h"
#include "persist/ckpt.h"
#include "persist/snap.h"
#include "shm/arena.h"

#define ACTIONS_MAX_RUNNING 4 /* actions running at once */

struct actions_opts {
    const char *run_dir;        /* VOLLEY_RUN_DIR */
    const char *log_dir;        /* this generation's log directory (persist/rundir.h
                                   rundir_log_dir): the actions log in its actions/ */
    const char *workdir;        /* where the commands run: where the run was started */
    uint32_t kill_grace_ms;     /* the first signal to SIGKILL, on a stop */
    int term_signal;            /* the first signal (SIGTERM, or the workflow's) */
    const struct vl_warn *warn; /* a failed action is said here, from the supervisor's
                                   thread (actions_poll, actions_close) */
};

struct actions;

/*
 * Starts the actions of s, with their records recs[nactions] (snap_actions
 * of the run's volley.db): completed and failed ones are done; the rest
 * wait for their trigger. Records of starts and ends go to ck (may be NULL:
 * not recorded). Starts the thread that runs them. Returns 0 (*out NULL
 * when s has no action), or a negative code with err (the log directory,
 * the thread).
 */
int actions_open(struct actions **out, const struct spec *s, const struct snap_action *recs,
                 struct ckpt *ck, const struct actions_opts *o, struct vl_err *err);

/* Makes every action of trigger t that is not done due (on_workflow_start,
 * on_workflow_complete). NULL ok. */
void actions_fire(struct actions *A, enum spec_trigger t);

/* One tick: the on_jobs_* actions whose jobs now satisfy their trigger
 * become due (a NULL: only the failures are said). O(actions) plus the
 * jobs newly satisfied. A NULL ok. */
void actions_poll(struct actions *A, const struct arena *a);

/* True while an action is due or running. NULL: false. */
bool actions_busy(const struct actions *A);

/* The run stops: no action starts any more; running commands get the
 * first signal, SIGKILL after the grace; they stay recorded running (a
 * resume runs them again). Any thread (not a signal handler). NULL ok. */
void actions_stop(struct actions *A);

/*
 * No more triggers: waits for the running actions (all of them, or, after
 * actions_stop, until they are stopped), ends the thread, and frees A.
 * Fills *failed with how many actions failed in this process (may be
 * NULL). Returns 0, or the engine's error (its log could not be written).
 * NULL ok.
 */
int actions_close(struct actions *A, uint32_t *failed, struct vl_err *err);

/* An action's record, for `volley logs` and the summary: its index's
 * trigger name ("on_workflow_start" ...). */
const char *actions_trigger_name(uint32_t trigger);

/*
 * For `volley resume` of a run whose jobs have all finished: whether an
 * action of s would still run (one that was running when the run stopped,
 * or one not done whose trigger the jobs' final records jobs[njobs]
 * satisfy).
 */
bool actions_due_at_resume(const struct spec *s, const struct snap_action *recs,
                           const struct snap_job *jobs);

/*
 * A reload (`volley resume --reload`) writes the run again with the edited
 * workflow cur: which action records of the old workflow carry over (as
 * torc's reinitialize keeps or re-arms them). An action at the same index
 * with the same trigger, commands and jobs (by name) keeps its record,
 * except that a completed or failed one is re-armed (pending again, its
 * runs kept) when what triggers it will happen again: on_workflow_complete
 * when some job of recs (cur's records after the reload) is left to run,
 * an on_jobs_* action when one of its jobs is. Any other action starts
 * pending. Writes the records to keep to out (room for cur->nactions);
 * returns how many.
 */
uint32_t actions_carry(const struct spec *old, const struct snap_action *old_recs,
                       const struct spec *cur, const struct snap_job *recs,
                       struct snap_action *out);

#endif /* VOLLEY_CORE_ACTIONS_H */

/*
 * snap_arena.h - a job's record between the arena (shm/arena.h: struct
 * arena_job_rec, the live state the workers change) and volley.db
 * (snap.h: struct snap_job, what a checkpoint stores and a restore
 * returns). The checkpointer (ckpt_collect), the supervisor's watch files
 * and resume's reconciliation all convert through here, so the two
 * meanings of "attempt" are told apart in one place:
 *
 *   arena      the number of the current (or next) run, from 1
 *   snapshot   the number of runs started, from 0
 *
 * A job that is running has started its attempt, a finished one has if
 * it has a start time; a ready or blocked one has not begun its next (its
 * start time, if any, is an earlier attempt's). A job taken but not cloned
 * yet (waiting for capacity, or a moment before its clone) has no pid: for
 * the record it is still ready.
 */
#ifndef VOLLEY_PERSIST_SNAP_ARENA_H
#define VOLLEY_PERSIST_SNAP_ARENA_H

#include <stdint.h>

#include "persist/snap.h"
#include "shm/arena.h"

/* The snapshot record of job jid from its arena record r. */
void snap_job_from_arena(uint32_t jid, const struct arena_job_rec *r, struct snap_job *out);

/* The arena record (for arena_restore) of snapshot record j; no owner. */
void snap_job_to_arena(const struct snap_job *j, struct arena_job_rec *out);

/* The snapshot record of job jid as the arena has it now (arena_job_read,
 * then snap_job_from_arena). */
void snap_job_read(const struct arena *a, uint32_t jid, struct snap_job *out);

#endif /* VOLLEY_PERSIST_SNAP_ARENA_H */

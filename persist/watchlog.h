/*
 * watchlog.h - what the supervisor writes for people and scripts watching
 * a run (docs/watching.md), from the records its checkpoint collection
 * already reads (ckpt_collect, ckpt.h); names from rundir.h:
 *
 *   DIR/joblog.tsv    GNU parallel's --joblog columns (Seq Host Starttime
 *                     JobRuntime Send Receive Exitval Signal Command), one
 *                     line per job that ran, when it finishes.
 *   DIR/events.jsonl  one JSON object per job state change seen by a
 *                     collection: {"t","job","from","to","attempt",
 *                     "exit_code"}; `volley events` prints and follows it.
 *   DIR/rate.bin      the last 32 (wall clock, jobs finished) samples, one
 *                     per collection, so `volley status` can tell the rate
 *                     over the last 10 s without keeping history itself;
 *                     and, as of the newest sample, how many of the jobs
 *                     running in the arena are claimed by a worker but not
 *                     started: waiting for a unit of -j or for CPUs,
 *                     memory or GPUs (the arena has no state for them).
 *
 * Granularity: a collection runs every --checkpoint-interval (1 s), and
 * sees each changed job once, in its state at that moment: a job that went
 * ready -> running -> completed between two collections gives one event,
 * ready -> completed. The job's previous state is kept here (one byte per
 * job, 10 MB for 10M jobs), since the arena keeps only the current one.
 *
 * Writes go through stdio buffers flushed at the end of each collection;
 * a write error (disk full) stops that file with one warning (struct
 * vl_warn: tools/ prints it) and never stops the run.
 */
#ifndef VOLLEY_PERSIST_WATCHLOG_H
#define VOLLEY_PERSIST_WATCHLOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "persist/rundir.h"
#include "persist/snap.h"
#include "shm/arena.h"

/* DIR/rate.bin: a ring of samples, checksummed (a reader may race the
 * writer's pwrite; a mismatch means "try again"). */
#define WATCHLOG_RATE_N 32
#define WATCHLOG_RATE_MAGIC 0x32746172u /* "rat2": 2026-12-02, with waiting */
struct watchlog_rate {
    uint32_t magic;
    uint32_t next; /* the slot the next sample goes to */
    uint64_t count;
    struct {
        uint64_t wall_ns;
        uint64_t done; /* jobs finished (any outcome) */
    } s[WATCHLOG_RATE_N];
    uint64_t waiting; /* at the newest sample: running in the arena, not started */
    uint64_t sum;     /* watchlog_rate_sum of everything above */
};
uint64_t watchlog_rate_sum(const struct watchlog_rate *r);

/* Of the jobs running in the arena, those claimed by a worker and not
 * admitted yet: running less started (the control page's count of
 * admitted jobs, core/runctl.h), 0 where started reads higher (a job
 * finished in the arena whose -j unit is not given back yet). */
static inline uint64_t watchlog_waiting(uint64_t running, uint64_t started)
{
    return running > started ? running - started : 0;
}

/* Reads DIR/rate.bin into *r. False if it is missing, torn (three tries)
 * or of another format. */
bool watchlog_rate_load(const char *dir, struct watchlog_rate *r);
/*
 * The jobs/s between the newest sample of r at least window_ns older than
 * now_ns (else the oldest) and (now_ns, done_now). -1 if no sample serves.
 */
double watchlog_rate_of(const struct watchlog_rate *r, uint64_t now_ns, uint64_t done_now,
                        uint64_t window_ns);
/* Both: watchlog_rate_of the file's samples, -1 without a usable file. */
double watchlog_rate_read(const char *dir, uint64_t now_ns, uint64_t done_now, uint64_t window_ns);

struct watchlog;

/* Opens (appends to) the files in run_dir. prev: each job's state as
 * events.jsonl last has it (a resume: watchlog_catchup's), the starting
 * point of the "from" of each job's next event; NULL (a new run): every
 * job's current state in a. started counts the jobs admitted and not
 * finished (the supervisor's control page, core/runctl.h), read at each
 * sample; NULL: no job waits. warn (may be NULL; kept by pointer until
 * watchlog_close) gets a write error. NULL (with a warning) if the files
 * cannot be created: the run goes on without them. */
struct watchlog *watchlog_open(const char *run_dir, const struct arena *a,
                               const _Atomic uint32_t *started, const uint8_t *prev,
                               const struct vl_warn *warn);
/*
 * A resume from a surviving arena (a, the dead runner's, still attached):
 * appends the lines its supervisor never wrote, for the records recs[0..n)
 * volley.db gets now (those that differ from its last checkpoint). prev
 * [njobs] holds each job's state in that checkpoint, which is where
 * events.jsonl stopped; it is updated to recs' states. A write error is a
 * warning (as watchlog_open's); the resume goes on.
 */
void watchlog_catchup(const char *run_dir, const struct arena *a, uint8_t *prev,
                      const struct snap_job *recs, size_t n, const struct vl_warn *warn);
/* One changed job record, as ckpt_collect hands it to volley.db. Accepts
 * NULL wl. */
void watchlog_note(struct watchlog *wl, uint32_t jid, const struct snap_job *r);
/* The end of a collection: flushes, adds a rate sample. Accepts NULL. */
void watchlog_flush(struct watchlog *wl);
/* Flushes and closes. Accepts NULL. */
void watchlog_close(struct watchlog *wl);

#endif /* VOLLEY_PERSIST_WATCHLOG_H */

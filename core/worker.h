/*
 * worker.h - a worker process of a run: joins the arena, and runs the
 * execution engine (exec.h) with the arena as its job source. Started by
 * the supervisor as `volley __worker FD INDEX` (FD: the run's control page,
 * runctl.h; INDEX: this worker's number, which also names its log segment
 * seg-INDEX, so a replacement or a resumed worker appends to the same one).
 *
 * The source (docs/running.md):
 *   next()  admits a job against the run's -j cap (a shared counter), takes
 *           one from the arena (its own deque first: the child its last
 *           completion made ready), admits its CPUs, memory and GPUs, and
 *           hands it over. A job that does not fit yet is held (it stays
 *           claimed) and tried again when capacity is given back. Once the
 *           control page says halt (--max-failures), nothing more: DONE.
 *           With a deadline (stop_at_ns), a job whose runtime would end
 *           after the stop is parked: claimed, never started (recorded
 *           ready); once it says drain, so is every job without a runtime,
 *           and a worker that runs nothing and finds nothing that fits is
 *           DONE.
 *   done()  on a retry, counts the attempt in the arena; on the final
 *           attempt, records pid, times and log reference and finishes the
 *           job in the arena, which unblocks its children at once; gives
 *           back the cap and the resources, waking waiters. A job that
 *           failed for good goes into the control page's failure ring (the
 *           supervisor announces it), and may set halt.
 *   word    the arena's futex word: the engine sleeps on it in its ring
 *           when the arena has nothing ready.
 *   notify  after the word changed: a canceled running job is stopped.
 *
 * Signals: SIGTERM, SIGINT and SIGHUP stop the engine (running jobs get
 * SIGTERM, SIGKILL after the grace); they stay `running` in the arena and
 * run again on resume. The worker gets SIGTERM when the supervisor dies.
 */
#ifndef VOLLEY_CORE_WORKER_H
#define VOLLEY_CORE_WORKER_H

#include <stdint.h>

/* The worker's process: returns its exit code (0 done or stopped, 3 error,
 * with the reason in the control page and on stderr). */
int worker_main(int ctl_fd, uint32_t index);

/* The arena log reference of an attempt's logs (log id, BEGIN record).
 * Bit 62 marks it present: 0 is "no log" in the arena, and log 0's first
 * record would otherwise be 0 (its reader then scanned every index).
 * References stored without the bit by earlier versions decode the same. */
#define WORKER_LOG_REF_SET (1ull << 62)
static inline uint64_t worker_log_ref(uint32_t log_id, uint64_t rec)
{
    return WORKER_LOG_REF_SET | ((uint64_t)(log_id & 0x3fffff) << 40) | (rec & ((1ull << 40) - 1));
}
static inline uint32_t worker_log_ref_id(uint64_t ref)
{
    return (uint32_t)(ref >> 40) & 0x3fffff;
}
static inline uint64_t worker_log_ref_rec(uint64_t ref)
{
    return ref & ((1ull << 40) - 1);
}

#endif /* VOLLEY_CORE_WORKER_H */

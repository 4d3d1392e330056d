/*
 * run_status.h - what a run tells the person watching it, behind an
 * interface: core/ prints nothing, tools/ implements this (the progress
 * line on a terminal, the summary, the failed jobs' last lines; or nothing
 * with --quiet), and a test implements it to record what it was told.
 * ninja's Status (status.h: "Abstract interface to object that tracks the
 * status of a build") is the model.
 *
 * Every callback runs on the supervisor's thread, between two ticks of its
 * loop, and may read the arena through the view (counts, job records,
 * names) but changes nothing. Any of them may be NULL.
 */
#ifndef VOLLEY_CORE_RUN_STATUS_H
#define VOLLEY_CORE_RUN_STATUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "shm/arena.h"

/* The run as a callback may look at it. Valid for the whole run. */
struct run_view {
    const struct arena *a;                 /* the run's arena */
    const char *run_dir;                   /* absolute */
    const char *arena_path;                /* /dev/shm/volley-<run id> */
    const _Atomic uint32_t *admitted;      /* jobs admitted against -j and not finished
                                              (runctl.h's running): the arena counts a job
                                              running from its claim, before it is admitted */
    uint64_t t0_ns;                        /* vl_now_ns() when supervision began */
    uint64_t finished_at_start;            /* jobs finished before this process (a resume) */
    uint32_t kill_grace_ms;                /* --kill-grace */
    uint32_t max_running;                  /* -j */
    const _Atomic uint32_t *capacity_wait; /* non-zero while some claimed job waits for
                                              CPUs, memory or GPUs, not for -j (the
                                              capacity's reservation, resources.h) */
    uint32_t max_failures;                 /* --max-failures (0: none) */
    uint32_t pad;
    uint64_t deadline_ns; /* the allocation's end (wall clock), 0: none */
    uint64_t stop_at_ns;  /* the deadline less the kill grace: the jobs still running
                             are stopped then; 0: none */
};

/* How a run ended, for the summary. */
struct run_end {
    double secs;                    /* wall time of the supervision */
    uint64_t counts[ARENA_NSTATES]; /* arena_counts at the end */
    bool interrupted;               /* a stop signal ended it (exit 130) */
    bool halted;                    /* --max-failures stopped it (exit 1 unless interrupted) */
    bool deadline;                  /* the allocation's end stopped it: stopped at the
                                       deadline less the kill grace, or drained with jobs
                                       left (exit 75: resumable) */
    uint64_t failures;              /* jobs that failed for good in this process */
    bool arena_done;                /* every job finished */
    const struct vl_err *fatal;     /* why the run stopped early (exit 3), or NULL */
    const struct vl_err *ckpt;      /* why the final checkpoint failed, or NULL: the
                                       arena is then kept (it holds the state) */
    int exit_code;                  /* what the run exits with (SPEC.md) */
};

struct run_status {
    void *ctx;
    /* How often progress is called, in ms: 200 where a line is redrawn. */
    uint32_t tick_ms;
    /* Each tick, and once more (final) when the workers are gone. */
    void (*progress)(void *ctx, const struct run_view *v, bool final);
    /* The first stop signal: running jobs get SIGTERM, SIGKILL after the
     * grace; another signal kills them at once. */
    void (*stopping)(void *ctx, const struct run_view *v);
    /* A worker died (how: "was killed by signal 9", "exited with 1"); the
     * arena is repaired, requeued of its jobs run again. */
    void (*worker_died)(void *ctx, const struct run_view *v, uint32_t worker, int pid,
                        const char *how, uint64_t requeued);
    /* A job failed for good (failed or terminated, no retry left), in the
     * order they ended, within a tick of its end; its arena record is final.
     * skipped: failures before it that are not named (more than
     * RUNCTL_FAIL_RING in a tick, runctl.h): they are only counted. */
    void (*job_failed)(void *ctx, const struct run_view *v, uint32_t jid, uint64_t skipped);
    /* --max-failures reached (once): no job starts any more, running ones
     * finish; a stop signal stops them. */
    void (*halting)(void *ctx, const struct run_view *v, uint64_t failures);
    /* The allocation ends soon (why: "SIGUSR1", "the deadline is near"):
     * from now on only a job whose runtime ends before stop_at_ns starts
     * (0: no deadline known: none), and the run ends once the running
     * ones have (exit 75). A checkpoint is taken at once. */
    void (*draining)(void *ctx, const struct run_view *v, const char *why, uint64_t stop_at_ns);
    /* The deadline less the kill grace: the running jobs are stopped
     * (SIGTERM, SIGKILL after the grace) to run again on resume. */
    void (*deadline)(void *ctx, const struct run_view *v);
    /* The end: the final checkpoint is taken, the arena still attached. */
    void (*finished)(void *ctx, const struct run_view *v, const struct run_end *e);
    /* How the jobs are governed, once, before any job starts: mode is an
     * enum cgroup_mode (core/cgroup.h), can its CGROUP_CAN_*; why says
     * what is not enforced and why ("" if nothing is missing); enforced:
     * limits are set (not --no-limits). */
    void (*limits)(void *ctx, const struct run_view *v, int mode, uint32_t can, bool enforced,
                   const char *why);
    /* Warnings while the run goes on (a watch file that stopped). */
    struct vl_warn warn;
};

#endif /* VOLLEY_CORE_RUN_STATUS_H */

/*
 * supervisor.h - the supervisor of a run, shared by `volley run` and
 * `volley resume` (docs/running.md): starts the worker processes on a built
 * arena, has the checkpointer write the arena's changes into volley.db,
 * repairs after a worker dies, takes Ctrl-C, drains and stops at the
 * allocation's end (SIGUSR1, the deadline), and ends the run. It is
 * core/'s run side: the one part of core/ that calls persist/ (to start
 * the checkpointer and hand it records); workers never wait on SQLite.
 *
 * It prints nothing: what a person watching should see goes through the
 * caller's struct run_status (run_status.h). A worker is this same program
 * started again as `EXE __worker FD INDEX` (EXE: /proc/self/exe; FD: the
 * control page, runctl.h), so the program must hand that command line to
 * worker_main (worker.h): the volley binary does (tools/cmd_worker.c), and
 * so does a test that links the supervisor.
 */
#ifndef VOLLEY_CORE_SUPERVISOR_H
#define VOLLEY_CORE_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cgroup.h"
#include "core/capacity.h"
#include "core/resources.h"
#include "core/run_status.h"
#include "core/runctl.h"
#include "persist/snap.h"
#include "shm/arena.h"

#define SUPERVISOR_WORKER_CMD "__worker" /* argv[1] of a worker process */
#define SUPERVISOR_MAX_WORKERS RUNCTL_MAX_WORKERS
#define SUPERVISOR_MAX_CRASHES 3 /* worker deaths a run survives */

struct supervisor_opts {
    uint32_t max_running;             /* -j (0: cpus_allowed) */
    uint32_t workers;                 /* --workers (0: cpus_allowed; never more than -j) */
    uint32_t cpus_allowed;            /* the CPUs this process was given (capacity.h) */
    struct res_amount cap;            /* capacity (capacity_detect, or --cpus ...) */
    uint32_t ckpt_ms;                 /* --checkpoint-interval */
    uint32_t kill_grace_ms;           /* --kill-grace */
    uint32_t max_failures;            /* --max-failures (--halt-on-failure: 1); 0: none */
    bool kill_grace_given;            /* --kill-grace was given: it wins over the
                                         workflow's execution_config.sigterm_lead_seconds */
    const uint8_t *watch_prev;        /* NULL, or (resume) each job's state as events.jsonl
                                         last has it: a job whose state in the arena differs
                                         gets its event at the start */
    void (*on_signals_blocked)(void); /* NULL, or called once the signals that stop a
                                         run are blocked (tools: intr_disarm) */
    /* governance (core/cgroup.h, docs/limits.md) */
    const struct cgroup_env *limits; /* what cgroup_detect found (NULL: none) */
    bool limits_forced;              /* --limits-backend named it: a tree that cannot be
                                        made stops the run (exit 3) instead of falling
                                        back to none */
    bool no_limits;                  /* --no-limits: groups track and count, enforce nothing */
    bool bind_cpus;                  /* --bind-cpus */
    uint32_t max_pids;               /* --max-pids, 0: none */
    uint64_t deadline_ns;            /* --deadline, or the batch job's end (wall clock,
                                        ns); 0: none. docs/slurm.md */
    const struct snap_alloc *alloc;  /* NULL, or the allocation this run goes on in:
                                        recorded in volley.db (start, end, exit code) */
};

/* The run drains for jobs without a runtime this long before the
 * deadline's stop (SIGUSR1 drains at once): Slurm's --signal has a
 * resolution of 60 s, and a job started in the last minute is most likely
 * cut. */
#define SUPERVISOR_DRAIN_LEAD_MS 60000u

/* Defaults: the capacity this process was given (capacity.h), -j and
 * workers its CPUs, checkpoints every second, 5 s grace. */
void supervisor_opts_default(struct supervisor_opts *o);

/*
 * Runs: a is built (or restored) at arena_path, db open on run_dir, s the
 * spec both came from; jobs run in workdir. Takes over db (closes it) and
 * a (closes it, and unlinks it when the run ended or stopped cleanly: a
 * failed final checkpoint keeps it for `volley resume`). Returns the exit
 * code (SPEC.md): 0, 1, 3 or 130, or 75 (VL_EXIT_AGAIN) when the
 * allocation's end stopped it (o->deadline_ns, SIGUSR1). If the run could not start (3: nothing
 * ran, no status callback was called) err says why; otherwise what went
 * wrong reaches st->finished.
 */
int supervisor_run(const struct spec *s, struct snap *db, struct arena *a, const char *arena_path,
                   const char *run_dir, const char *workdir, const struct supervisor_opts *o,
                   const struct run_status *st, struct vl_err *err);

/* The grace from the first signal to SIGKILL for jobs of s: --kill-grace
 * if given, else the workflow's sigterm_lead_seconds if it has one, else
 * o->kill_grace_ms (volley's default, 5 s). */
uint32_t supervisor_kill_grace_ms(const struct spec *s, const struct supervisor_opts *o);

/* Whether jobs of s get their memory and process limits: not with
 * --no-limits, nor when the workflow says limit_resources: false (torc's
 * key; its groups still track and count). docs/limits.md. */
bool supervisor_enforces(const struct spec *s, const struct supervisor_opts *o);

/* SIGKILL to the process group of every running job, by the pid the arena
 * got at its clone (orphans_only: only those whose worker is gone; a job
 * outlives its worker). */
void supervisor_kill_jobs(const struct arena *a, bool orphans_only);

#endif /* VOLLEY_CORE_SUPERVISOR_H */

/*
 * runctl.h - the page a supervisor shares with its worker processes: the
 * run's settings (which arena, which run directory, -j, the capacity) and
 * the counters that every worker admits jobs against (running jobs, CPUs,
 * memory, GPUs), and one slot per worker (its state, what it holds of the
 * counters, why it stopped). It lives in a memfd that the supervisor
 * (core/supervisor.c) creates, fills and passes to each worker by
 * descriptor number (`volley __worker FD INDEX`); job processes never see
 * it (the spawner closes every fd above 2).
 *
 * It is the one home of a run's control state, and it is per process
 * generation: a resumed run makes a new one, since the old workers are gone
 * and with them every job they had admitted. The arena (shm/layout.h) is
 * what survives a crash, and holds only the arena's own control words;
 * until layout 3 it also carried stop, running and resource words that
 * nothing read.
 *
 * The discipline of shm/layout.h: fixed-width types, -Wpadded an error
 * here so every hole is a named pad, sizes and offsets pinned by
 * _Static_assert, a version and a shape hash the worker checks, and every
 * atomic naming its writers (W), readers (R) and memory order. The words
 * workers write on every admission (running, the resource counters) and
 * the one they read on every take (stop) each sit on a 64-byte line of
 * their own; each worker slot is a whole number of lines, so two workers
 * never write the same line.
 */
#ifndef VOLLEY_CORE_RUNCTL_H
#define VOLLEY_CORE_RUNCTL_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cgroup.h"
#include "core/resources.h"

/* Only lock-free atomics work across processes. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wpadded"

#define RUNCTL_MAGIC 0x6c746372u /* "rctl" */
#define RUNCTL_VERSION                                                                             \
    6u /* bump on ANY change in this file. 2 (2026-12-06): lines; 3: halt,                         \
          max_failures, the failure count and ring; 4: term_signal, timeout_code, max_env; 5:      \
          governance (the cgroup tree, its pool, bound CPUs, oom_code); 6: drain, stop_at_ns */
#define RUNCTL_MAX_WORKERS 256u
#define RUNCTL_PATH 4096u      /* bytes of each path setting */
#define RUNCTL_ARENA_PATH 256u /* bytes of the arena path */
#define RUNCTL_MSG 512u        /* bytes of a worker's error message */
#define RUNCTL_FAIL_RING 64u   /* the last failures, for the supervisor to announce */
#define RUNCTL_MAX_CPUS 1024u  /* CPUs --bind-cpus hands out: ids of the runner's mask */
#define RUNCTL_MAX_CG 4096u    /* cgroups of a run's pool: -j above it runs without groups */

/* runctl.limits */
#define RUNCTL_LIM_ENFORCE (1u << 0) /* memory and process limits (not --no-limits) */
#define RUNCTL_LIM_BIND (1u << 1)    /* --bind-cpus */
_Static_assert(RUNCTL_PATH >= PATH_MAX, "a run directory path must fit");

/* What a worker reports about itself. */
enum runctl_wstate {
    RUNCTL_W_STARTING = 0,
    RUNCTL_W_RUNNING = 1,
    RUNCTL_W_DONE = 2,    /* the arena is finished: exited 0 */
    RUNCTL_W_STOPPED = 3, /* stopped on request: exited 0 */
    RUNCTL_W_ERROR = 4,   /* could not go on: msg says why; exited 3 */
};

/* One worker's slot: nine lines, written by that worker only while it
 * lives, by the supervisor before it starts and after it died. */
struct runctl_worker {
    /* line 0: state and what it holds */
    _Atomic uint32_t state;     /* enum runctl_wstate. W: supervisor (STARTING, before the
                                   spawn, seq_cst), the worker (release). R: supervisor after
                                   reaping it (seq_cst; waitpid orders it too) */
    _Atomic uint32_t held_jobs; /* units of -j this worker holds. W: the worker right
                                   after each admission and before each release
                                   (relaxed RMW); the supervisor, once the worker is
                                   reaped (seq_cst). R: supervisor after reaping */
    _Atomic uint64_t held_mem;  /* bytes of memory it holds. W/R: as held_jobs */
    _Atomic uint64_t held_gpus; /* mask of GPUs it holds. W/R: as held_jobs */
    _Atomic uint32_t held_cpus; /* CPUs it holds. W/R: as held_jobs */
    uint32_t pad0;              /* zero */
    _Atomic uint64_t spawned;   /* processes it started. W: the worker at its end
                                   (seq_cst). R: supervisor after reaping (run-stats) */
    _Atomic uint64_t cpu_ns;    /* its own CPU time (user + system). W/R: as spawned */
    uint8_t pad1[16];           /* zero */
    /* lines 1-8 */
    char msg[RUNCTL_MSG]; /* RUNCTL_W_ERROR: the reason, NUL-terminated. W: the worker
                             before its release store of state. R: supervisor after */
    /* lines 9-10: the CPUs its jobs are bound to (--bind-cpus), bit i: cpu_id[i]. W: the
       worker after taking them in cpus_used, before giving them back (relaxed RMW); the
       supervisor once the worker is reaped. R: supervisor after reaping (gives them back) */
    _Atomic uint64_t held_cpu_bits[RUNCTL_MAX_CPUS / 64];
};
_Static_assert(offsetof(struct runctl_worker, spawned) == 32, "runctl worker");
_Static_assert(offsetof(struct runctl_worker, msg) == 64, "runctl worker");
_Static_assert(offsetof(struct runctl_worker, held_cpu_bits) == 9 * 64, "runctl worker");
_Static_assert(sizeof(struct runctl_worker) == 11 * 64, "runctl worker: whole lines");

_Static_assert(sizeof(struct res_counters) == 48, "runctl: resource counters");
_Static_assert(sizeof(struct res_amount) == 16, "runctl: capacity");

struct runctl {
    /* line 0: identity and settings, written by the supervisor before any
     * worker starts, read-only afterwards */
    uint32_t magic;         /* RUNCTL_MAGIC */
    uint32_t version;       /* RUNCTL_VERSION */
    uint32_t shape;         /* RUNCTL_SHAPE */
    int32_t supervisor_pid; /* the process that made the page */
    uint32_t nworkers;      /* worker slots in use */
    uint32_t max_running;   /* -j: jobs running at once over every worker */
    uint32_t kill_grace_ms; /* --kill-grace */
    uint32_t use_res;       /* 1 if some job needs CPUs, memory or GPUs */
    struct res_amount cap;  /* --cpus, --memory, --gpus */
    int32_t term_signal;    /* the first signal of a stop, cancel or timeout
                               (execution_config.termination_signal, SIGTERM) */
    int32_t timeout_code;   /* the exit code of a job killed at its runtime, for its
                               failure handler and its record (timeout_exit_code, 152) */
    uint32_t max_env;       /* the most entries a job's merged env has (0: no env) */
    int32_t oom_code;       /* the exit code of a job the kernel killed in its cgroup for
                               its memory (execution_config.oom_exit_code, 137) */
    /* lines 1-196: paths, as line 0 */
    char arena_path[RUNCTL_ARENA_PATH];
    char run_dir[RUNCTL_PATH];
    char log_dir[RUNCTL_PATH]; /* run_dir/logs (persist/rundir.h) */
    char workdir[RUNCTL_PATH]; /* where jobs run: the directory `volley run` started in */
    /* line 197: read on every take, written once */
    _Atomic uint32_t stop;  /* 1: the supervisor asked every worker to stop. W: supervisor
                               (seq_cst store, then arena_wake). R: workers in next() and
                               notify() (acquire) */
    _Atomic uint32_t halt;  /* 1: no job starts any more; running ones finish (--max-failures
                               reached). W: the worker whose failure reached max_failures
                               (seq_cst store, then arena_wake). R: workers in next()
                               (acquire), the supervisor each tick */
    uint32_t max_failures;  /* --max-failures (--halt-on-failure: 1); 0: no limit. Written
                               before any worker starts */
    _Atomic uint32_t drain; /* 1: the allocation ends soon (SIGUSR1, or the deadline is near):
                               only a job whose runtime ends before stop_at_ns starts, and a
                               worker with nothing running and nothing that fits ends. W:
                               supervisor (seq_cst store, then arena_wake). R: workers in
                               next() (acquire) */
    uint64_t stop_at_ns;    /* wall clock (CLOCK_REALTIME ns) at which the supervisor stops
                               the jobs still running (the deadline less the kill grace);
                               0: no deadline. A job whose runtime would end after it does
                               not start. Written before any worker starts */
    uint8_t pad197[40];
    /* line 198: the -j counter, written on every admission and release */
    _Atomic uint32_t running; /* jobs admitted and not yet finished. W: workers (CAS and
                                 RMW, seq_cst), supervisor for a dead worker's held_jobs.
                                 R: workers, supervisor's progress line and rate.bin
                                 (seq_cst) */
    _Atomic uint32_t waiters; /* workers that found the cap or the capacity full. W:
                                 workers (seq_cst RMW). R: a worker that gives back (seq_cst,
                                 after its release: it wakes them if non-zero) */
    uint8_t pad198[56];
    /* line 199: CPUs, memory and GPUs in use (resources.h has the protocol) */
    struct res_counters res;
    uint8_t pad199[16];
    /* line 200: failures, written when a job fails for good (failed or terminated, no retry
     * left), by this generation of workers */
    _Atomic uint64_t failures; /* failures so far; a failure's number is the value before its
                                  increment. W: workers (seq_cst RMW). R: supervisor */
    uint8_t pad200[56];
    /* lines 201-208: the last RUNCTL_FAIL_RING failures, so the supervisor announces each
     * as it ends (run_status.h job_failed): failure number n is entry n % RUNCTL_FAIL_RING,
     * ((n + 1) mod 2^32) << 32 | jid. W: the worker that took number n (release store after
     * its increment). R: supervisor (acquire): an entry whose high half is older than n + 1
     * is not written yet, a newer one was overwritten (that failure is not announced) */
    _Atomic uint64_t fail_ring[RUNCTL_FAIL_RING];
    /* lines 209-305: governance (core/cgroup.h, docs/limits.md), as line 0 */
    struct cgroup_tree cg; /* the run's groups; mode CGROUP_NONE: none */
    uint32_t limits;       /* RUNCTL_LIM_* */
    uint32_t max_pids;     /* --max-pids: a job's process limit unless its class has one;
                              0: none */
    uint32_t ncg;          /* entries of the pool after this struct (cg.nslots), 0: no groups */
    uint32_t ncpu_ids;     /* entries of cpu_id: the CPUs --bind-cpus hands out */
    uint16_t cpu_id[RUNCTL_MAX_CPUS]; /* the runner's CPUs, in order: bit i is cpu_id[i] */
    uint8_t pad305[32];
    /* lines 306-307: bound CPUs in use, bit i: cpu_id[i]. W: workers (CAS, acq_rel) and the
       supervisor for a dead worker's (RMW). R: workers */
    _Atomic uint64_t cpus_used[RUNCTL_MAX_CPUS / 64];
    /* lines 308-: one slot per worker */
    struct runctl_worker w[RUNCTL_MAX_WORKERS];
    /* after the struct: ncg pool entries (struct runctl_cg, runctl_cg_at) */
};
_Static_assert(offsetof(struct runctl, arena_path) == 64, "runctl");
_Static_assert(offsetof(struct runctl, stop) == 197 * 64, "runctl");
_Static_assert(offsetof(struct runctl, running) == 198 * 64, "runctl");
_Static_assert(offsetof(struct runctl, res) == 199 * 64, "runctl");
_Static_assert(offsetof(struct runctl, failures) == 200 * 64, "runctl");
_Static_assert(offsetof(struct runctl, fail_ring) == 201 * 64, "runctl");
_Static_assert(offsetof(struct runctl, cg) == 209 * 64, "runctl");
_Static_assert(offsetof(struct runctl, cpus_used) == 306 * 64, "runctl");
_Static_assert(offsetof(struct runctl, w) == 308 * 64, "runctl");
_Static_assert(sizeof(struct runctl) == 308 * 64 + RUNCTL_MAX_WORKERS * 11 * 64, "runctl");

/* One cgroup of the run's pool (a running slot: -j of them): a worker
 * takes a free one for a job and gives it back when the job's last
 * attempt ended, so the slot's state passes from worker to worker. */
struct runctl_cg {
    _Atomic uint32_t owner;  /* 0: free; else the index + 1 of the worker whose job holds it.
                                W: a worker (CAS 0 -> index + 1, acq_rel) taking it; the
                                same worker (release store of 0) giving it back; the
                                supervisor for a dead worker's, after emptying the group.
                                R: workers looking for a free one (relaxed, then the CAS) */
    uint32_t pad;            /* zero */
    struct cgroup_shared sh; /* W/R: the owner only (the CAS and the release order it) */
};
_Static_assert(sizeof(struct cgroup_shared) == 56, "runctl: cgroup slot state");
_Static_assert(sizeof(struct runctl_cg) == 64, "runctl: a pool entry is a line");
_Static_assert(sizeof(struct cgroup_tree) == 16 + CGROUP_NHIER * CGROUP_PATH, "runctl: tree");

#pragma GCC diagnostic pop

/* Bytes of a control page with a pool of ncg groups. */
#define RUNCTL_BYTES(ncg) (sizeof(struct runctl) + (size_t)(ncg) * sizeof(struct runctl_cg))

/* Pool entry i (< c->ncg) of a page mapped RUNCTL_BYTES(c->ncg) long. */
static inline struct runctl_cg *runctl_cg_at(struct runctl *c, uint32_t i)
{
    return (struct runctl_cg *)(void *)(c + 1) + i;
}

/* RUNCTL_SHAPE: a constant hash of the structs' sizes and key offsets, so
 * a worker from another build (a volley binary replaced under a live run)
 * refuses the page instead of misreading it. */
#define RUNCTL_MIX_(h, v) ((((uint32_t)(h)) ^ (uint32_t)(v)) * 16777619u)
#define RUNCTL_SHAPE                                                                               \
    RUNCTL_MIX_(RUNCTL_MIX_(RUNCTL_MIX_(RUNCTL_MIX_(2166136261u, sizeof(struct runctl)),           \
                                        sizeof(struct runctl_worker)),                             \
                            offsetof(struct runctl, w)),                                           \
                sizeof(struct res_counters) * 31u + RUNCTL_MAX_WORKERS + sizeof(struct runctl_cg))

#endif /* VOLLEY_CORE_RUNCTL_H */

/*
 * runctl.h - the page a supervisor shares with its worker processes: the
 * run's settings (which arena, which run directory, -j, the capacity) and
 * the counters that every worker admits jobs against (running jobs, CPUs,
 * memory, GPUs). It lives in a memfd that the supervisor creates, fills and
 * passes to each worker by descriptor number (`volley __worker FD INDEX`);
 * job processes never see it (the spawner closes every fd above 2).
 *
 * It is per process generation: a resumed run makes a new one, since the
 * old workers are gone and with them every job they had admitted. The
 * arena (shm/) is what survives a crash; this page is not meant to.
 */
#ifndef VOLLEY_CORE_RUNCTL_H
#define VOLLEY_CORE_RUNCTL_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include "resources.h"

#define RUNCTL_MAGIC 0x6c746372u /* "rctl" */
#define RUNCTL_VERSION 1u
#define RUNCTL_MAX_WORKERS 256u

/* What a worker reports about itself (W: that worker; R: supervisor). */
enum runctl_wstate {
    RUNCTL_W_STARTING = 0,
    RUNCTL_W_RUNNING = 1,
    RUNCTL_W_DONE = 2,    /* the arena is finished: exited 0 */
    RUNCTL_W_STOPPED = 3, /* stopped on request: exited 0 */
    RUNCTL_W_ERROR = 4,   /* could not go on: msg says why; exited 3 */
};

struct runctl_worker {
    _Atomic uint32_t state; /* enum runctl_wstate */
    _Atomic int32_t pid;
    _Atomic uint64_t spawned;  /* processes started */
    _Atomic uint64_t attempts; /* attempts ended */
    _Atomic uint64_t cpu_ns;   /* the worker's own CPU time (user + system), at exit */
    /* What this worker holds of the shared counters, updated right after
     * each admission and before each release: when it dies, the supervisor
     * gives this back (a kill between the two stores leaks at most one) */
    _Atomic uint32_t held_jobs;
    _Atomic uint32_t held_cpus;
    _Atomic uint64_t held_mem;
    _Atomic uint64_t held_gpus;
    char msg[512]; /* RUNCTL_W_ERROR: the reason, NUL-terminated */
};

struct runctl {
    uint32_t magic, version;
    /* settings: written by the supervisor before any worker starts */
    char arena_path[256];
    char run_dir[PATH_MAX];
    char log_dir[PATH_MAX];
    char workdir[PATH_MAX]; /* where jobs run: the directory `volley run` started in */
    int32_t supervisor_pid;
    uint32_t nworkers;
    uint32_t max_running;   /* -j: jobs running at once over every worker */
    uint32_t kill_grace_ms; /* --kill-grace */
    uint32_t use_res;       /* 1 if some job needs CPUs, memory or GPUs */
    uint32_t pad;
    struct res_amount cap; /* --cpus, --memory, --gpus */
    /* shared counters */
    _Atomic uint32_t running; /* jobs admitted and not yet finished */
    _Atomic uint32_t waiters; /* workers that found the cap or the capacity full */
    _Atomic uint32_t stop;    /* 1: the supervisor asked every worker to stop */
    uint32_t pad2;
    struct res_counters res;
    struct runctl_worker w[RUNCTL_MAX_WORKERS];
};

#endif /* VOLLEY_CORE_RUNCTL_H */

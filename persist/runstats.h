/*
 * runstats.h - DIR/run-stats.json (rundir.h): what the last runner process
 * of a run cost, for benchmarks, and how it stopped. The supervisor
 * (core/supervisor.c) writes it when its workers are gone; `volley bench
 * --mode process` reads the runner's own CPU per job from it, tests/run
 * the stop, and scripts may read it as JSON:
 *
 *   {"jobs": 5000, "finished_here": 5000, "spawned": 5000, "wall_s": 1.2,
 *    "jobs_per_s": 4100.0, "workers": 2, "max_running": 2,
 *    "supervisor_cpu_s": 0.05, "workers_cpu_s": 0.4,
 *    "runner_cpu_us_per_job": 90.0, "worker_restarts": 0, "stop": null,
 *    "drain": null}
 *
 * "stop" is null, or the first stop the supervisor took: a signal or the
 * deadline (less the kill grace), whichever came first:
 * {"signal": "SIGINT", "wall_ns": 1795434793230203123, "workers_running": 3,
 *  "deadline": false} ("signal": null and "deadline": true for the
 * deadline's; wall_ns when it took it: nanoseconds since the epoch, the
 * clock of a job's start_ns; the workers running then). "drain" is null,
 * or when the run stopped starting jobs for the allocation's end:
 * {"why": "SIGUSR1" | "the deadline is near", "wall_ns": ...}. One object
 * on one line, the keys always in this order.
 */
#ifndef VOLLEY_PERSIST_RUNSTATS_H
#define VOLLEY_PERSIST_RUNSTATS_H

#include <stdbool.h>
#include <stdint.h>

struct runstats {
    uint32_t jobs;            /* jobs in the workflow */
    uint32_t workers;         /* worker processes */
    uint64_t finished_here;   /* jobs finished by this runner process */
    uint64_t spawned;         /* processes its workers started */
    double wall_s;            /* the runner's wall time */
    double supervisor_cpu_s;  /* the supervisor's own CPU time */
    double workers_cpu_s;     /* its workers' CPU time (not their jobs') */
    uint32_t max_running;     /* -j */
    uint32_t worker_restarts; /* workers that died and were started again */
    int stop_sig;             /* the first stop signal taken; 0: none */
    bool stop_deadline;       /* the first stop was the deadline's (stop_sig 0) */
    uint32_t stop_running;    /* workers running when it was taken */
    uint64_t stop_wall_ns;    /* when (CLOCK_REALTIME, as a job's start_ns) */
    const char *drain_why;    /* why it drained ("SIGUSR1", ...); NULL: it did not */
    uint64_t drain_wall_ns;   /* when (the same clock) */
};

/* Writes DIR/run-stats.json (jobs_per_s and runner_cpu_us_per_job derived
 * from the fields). false if it could not be written: it is for benchmarks,
 * a run goes on without it. */
bool runstats_write(const char *dir, const struct runstats *st);

/* The runner's CPU (supervisor and workers) per finished job, in us, as
 * DIR/run-stats.json has it; -1 if there is none or it does not parse. */
double runstats_cpu_us_per_job(const char *dir);

#endif /* VOLLEY_PERSIST_RUNSTATS_H */

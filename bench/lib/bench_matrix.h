/*
 * bench_matrix.h - the matrix `volley bench` runs: cases (mode x shape x
 * jobs x workers x runner), each giving one result row, planned (memory
 * checked) before any runs, then run --reps times with the runners
 * interleaved within a repetition (so they see the same machine). A row is
 * the median of its repetitions, verified only if every one was.
 *
 * Modes and their runners:
 *   noexec   the real scheduler, jobs do nothing (bench_noexec.h): volley
 *            only; workers = worker processes
 *   process  real /bin/true jobs (bench_process.h): limit (the spawn
 *            probe), volley (`volley run` end to end), make, ninja, on the
 *            same generated shape; workers = K, the jobs in flight (-j K).
 *            A runner that is not installed is skipped and named. The
 *            limits axis (--limits none,track,on; docs/limits.md) runs
 *            volley once per value, on a workflow whose jobs have a class
 *            with a memory limit: none = --limits-backend none, track =
 *            groups without limits (--no-limits), on = the default backend
 *            enforcing the memory and --max-pids 1000.
 *
 * tools/cmd_bench.c is its command line and its printer; nothing here
 * prints.
 */
#ifndef VOLLEY_BENCH_BENCH_MATRIX_H
#define VOLLEY_BENCH_BENCH_MATRIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "bench/lib/bench_noexec.h"
#include "bench/lib/bench_shapes.h"

#define BENCH_MAX_WORKERS 1024u
#define BENCH_MAX_REPS 99u
#define BENCH_MAX_LIST 16
#define BENCH_NMODES 2 /* noexec, process */
#define BENCH_MAX_SKIPS 4
#define BENCH_NLIMITS 3 /* the limits axis: none, track, on */

/* One cell of the matrix for one runner. */
struct bench_case {
    const char *runner; /* volley, limit, make, ninja */
    const char *mode;   /* noexec, process */
    enum bench_shape shape;
    uint32_t jobs;
    uint32_t workers;
    uint32_t order; /* noexec: also measure the order (bench_noexec.h), in a run
                       of its own after the throughput's */
    struct bench_shape_opts shape_opts;
    const char *limits; /* process volley on the limits axis: "none", "track", "on";
                           NULL: not on it (the default run, limits as a user gets them) */
};

/* Its result: one repetition, or (bench_matrix_run) all of them. */
struct bench_row {
    struct bench_case c;
    double wall_s, completions_per_s, bytes_per_job;
    bool verified;
    char why[256];
    /* human output only */
    double gen_s, build_s, cpu_s;
    uint64_t arena_bytes, hot_bytes;
    /* process mode */
    double span_s;        /* volley: first job start to last job end */
    double runner_cpu_us; /* volley: its own CPU per job (median) */
    char note[128];
    /* the repetitions */
    double walls[BENCH_MAX_REPS], spans[BENCH_MAX_REPS], cpus[BENCH_MAX_REPS];
    uint32_t nreps;
    /* limit: the best placement that leaves the children free to use every
     * CPU (median of the repetitions), as completions/s */
    double free_walls[BENCH_MAX_REPS], free_wall_s, free_cps;
    /* noexec with order: the last repetition's */
    bool ordered;
    struct bench_order order;
};

/* What the command line asked for; an empty list takes its mode's preset
 * (bench_matrix.c has the table: default, --quick, --full). */
struct bench_request {
    bool modes[BENCH_NMODES]; /* noexec, process; none: noexec (and process with a preset) */
    bool quick, full;         /* the presets */
    bool order;               /* --order: every noexec cell measures the order too (--quick:
                                 the random shape's) */
    enum bench_shape shapes[BENCH_NSHAPES];
    size_t nshapes;
    uint32_t jobs[BENCH_MAX_LIST];
    size_t njobs;
    uint32_t workers[BENCH_MAX_LIST];
    size_t nworkers;
    struct bench_shape_opts shape_opts;
    const char *only; /* --runners: a comma-separated list, or NULL for every runner */
    const char *limits[BENCH_NLIMITS]; /* --limits: the axis' values, in order */
    size_t nlimits;                    /* 0: volley runs once, as a user's run would */
};

struct bench_skip {
    const char *runner, *why; /* a runner asked for that cannot run here */
};

struct bench_plan {
    struct bench_case *cases; /* in run order */
    size_t ncases;
    struct bench_skip skips[BENCH_MAX_SKIPS];
    size_t nskips;
};

/* The cases of rq, in run order; bench_matrix_free releases them. */
void bench_matrix_plan(const struct bench_request *rq, struct bench_plan *p);
void bench_matrix_free(struct bench_plan *p);

/* Every case can run here: its shape has enough jobs, and its memory fits
 * /dev/shm and RAM. 0, or VL_EUSAGE with err saying which does not. */
int bench_matrix_check(const struct bench_plan *p, struct vl_err *err);

/* Some case is process mode: bench_matrix_run needs a directory. */
bool bench_matrix_needs_dir(const struct bench_plan *p);

/*
 * Runs every case reps times into rows[ncases] (caller's, zeroed), calling
 * on_rep (may be NULL) after each repetition of each case with that
 * repetition's row; then each row becomes the median of its repetitions.
 * dir: an empty directory for process mode's files (one subdirectory per
 * shape and job count, made once), NULL if no case needs it. 0 (rows may
 * be unverified), or a negative code with err (a runner could not be
 * started, a file not written): the rows are then incomplete.
 */
int bench_matrix_run(const struct bench_plan *p, uint32_t reps, const char *dir,
                     struct bench_row *rows, void (*on_rep)(void *ctx, const struct bench_row *one),
                     void *ctx, struct vl_err *err);

#endif /* VOLLEY_BENCH_BENCH_MATRIX_H */

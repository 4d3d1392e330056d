/*
 * bench_noexec.h - the no-spawn benchmark: the real scheduler (arena, W
 * worker processes, take/finish) over a generated shape, where running a
 * job means recording a completion sequence number and nothing else, so
 * the scheduler's own ceiling is what gets measured.
 *
 * Verification is computed, not asserted: each worker stamps the job it
 * finishes with the next value of one global counter (a fetch_add in
 * shared memory, whose modification order agrees with happens-before).
 * Afterwards every job must carry a stamp, the counter must equal njobs
 * (so no job completed twice: njobs stamps, every job stamped at least
 * once), every child's stamp must exceed each of its parents', every job
 * must be completed in attempt 1, and the arena's counts must agree.
 */
#ifndef VOLLEY_BENCH_NOEXEC_H
#define VOLLEY_BENCH_NOEXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_shapes.h"
#include "core/base.h"

struct bench_noexec_opts {
    enum bench_shape shape;
    uint32_t njobs;
    uint32_t workers;
    uint32_t pad;
    struct bench_shape_opts shape_opts;
    const char *shm_dir; /* where the arena goes; NULL: /dev/shm */
};

struct bench_noexec_result {
    double wall_s; /* first take to last completion */
    double completions_per_s;
    double gen_s;         /* generating and checking the spec */
    double build_s;       /* building the arena */
    double cpu_s;         /* CPU time of the workers while measured */
    uint64_t arena_bytes; /* the whole segment */
    uint64_t hot_bytes;   /* its hot part */
    uint64_t edges;
    bool verified;
    char why[256]; /* why not verified */
};

/* What the run will need: the arena (shared memory) and the private heap
 * (spec while building, per-job stamps). */
int bench_noexec_plan(const struct bench_noexec_opts *o, uint64_t *arena_bytes,
                      uint64_t *heap_bytes, struct vl_err *err);

/* Runs it. 0 with *r filled (r->verified may be false); a negative code
 * with err filled if it could not run (memory, /dev/shm, fork). Leaves no
 * segment behind, also when a worker dies. */
int bench_noexec_run(const struct bench_noexec_opts *o, struct bench_noexec_result *r,
                     struct vl_err *err);

#endif /* VOLLEY_BENCH_NOEXEC_H */

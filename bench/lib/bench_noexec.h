/*
 * bench_noexec.h - the no-spawn benchmark: the real scheduler (arena, W
 * worker processes, take/finish) over a generated shape, where running a
 * job means recording a completion sequence number and nothing else, so
 * the scheduler's own ceiling is what gets measured.
 *
 * Verification is computed, not asserted. Each job's completion stamp
 * is one more than the largest of its parents' stamps, read when the job
 * runs (a Lamport clock); a parent without a stamp there means the job ran
 * before that parent completed, and is counted. Afterwards: no job ran
 * early; every job has a stamp greater than each of its parents'; the
 * workers' run counts add up to njobs (so, every job being stamped, none
 * ran twice); every job is completed in attempt 1; the arena's counts
 * agree. Rejected: stamps from one shared counter (fetch_add per job): on
 * 2 workers that line bounced every job and cost ~60 of ~115 ns per job.
 */
#ifndef VOLLEY_BENCH_NOEXEC_H
#define VOLLEY_BENCH_NOEXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_shapes.h"
#include "base/base.h"

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

struct arena;
/* The checks above on a finished run: true, or false with why filled.
 * stamp[njobs]; runs, early, errors: the workers' totals. */
bool bench_noexec_verify(const struct arena *a, const _Atomic uint64_t *stamp, uint64_t runs,
                         uint64_t early, uint64_t errors, char *why, size_t whylen);

#endif /* VOLLEY_BENCH_NOEXEC_H */

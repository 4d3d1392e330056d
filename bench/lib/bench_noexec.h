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
 *
 * The order check (opts.order): each worker also reads CLOCK_MONOTONIC
 * when it gets a job (its start) and before it finishes it; a job became
 * ready when the last of its parents finished (roots: at the start, all
 * at once). The rank displacement of a job is how far its rank in the
 * start order is from its rank in the ready order (jobs that became ready
 * at the same instant share a range of ranks: roots, children of one
 * parent), in number of jobs; 0 for every job is global FIFO. Two clock
 * reads per job (~40 ns): an order run is a run of its own, its rate is
 * not the throughput's.
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
    bool order;          /* also measure the order (above) */
};

/* The rank displacement of the start order against the ready order. */
struct bench_order {
    double mean;   /* over every job, in jobs */
    uint64_t p50;  /* median */
    uint64_t p99;  /* 99th percentile */
    uint64_t max;  /* the largest */
    uint64_t late; /* jobs that started after one that became ready after them */
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
    bool ordered;             /* order below was measured */
    struct bench_order order; /* with opts.order */
    char why[256];            /* why not verified */
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

/*
 * The displacement of n jobs from ready[j] (when it became ready; equal
 * values are one instant) and start[j] (when it started; distinct, or
 * ties broken by job id). O(n log n) time, 24 bytes per job. 0, or
 * VL_ETOOBIG if the scratch cannot be allocated.
 */
int bench_order_measure(const uint64_t *ready, const uint64_t *start, uint32_t n,
                        struct bench_order *o, struct vl_err *err);

struct arena;
/* The checks above on a finished run: true, or false with why filled.
 * stamp[njobs]; runs, early, errors: the workers' totals. */
bool bench_noexec_verify(const struct arena *a, const _Atomic uint64_t *stamp, uint64_t runs,
                         uint64_t early, uint64_t errors, char *why, size_t whylen);

#endif /* VOLLEY_BENCH_NOEXEC_H */

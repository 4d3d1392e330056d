/*
 * bench_shapes.h - workload shapes for the benchmarks and the stress tests:
 * generators that fill a struct spec directly (no YAML), in the form the
 * loader produces, so every spec passes spec_check. Job j is named "j<j>"
 * and runs "true"; every job has SPEC_JOB_CANCEL_ON_BLOCK (the default).
 * Job ids are in topological order for every shape (edges go from a lower
 * to a higher id).
 *
 *   flat     N independent jobs
 *   barrier  4 rounds of jobs separated by 3 barrier jobs: every job of
 *            round r is a parent of barrier r, which is a parent of every
 *            job of round r+1 (N >= 7; the N-3 round jobs split evenly)
 *   chain    0 -> 1 -> ... -> N-1
 *   tree     a complete k-ary tree: the children of i are k*i+1 .. k*i+k
 *   random   node p gets 0-4 children (uniform, mean 2), distinct, drawn
 *            uniformly from (p, p+4096]; seeded, so reproducible
 */
#ifndef VOLLEY_BENCH_SHAPES_H
#define VOLLEY_BENCH_SHAPES_H

#include <stdint.h>

#include "base/base.h"
#include "loader/spec.h"

enum bench_shape {
    BENCH_FLAT,
    BENCH_BARRIER,
    BENCH_CHAIN,
    BENCH_TREE,
    BENCH_RANDOM,
    BENCH_NSHAPES
};

struct bench_shape_opts {
    uint32_t fanout; /* tree: children per node (0: 4) */
    uint32_t pad;
    uint64_t seed; /* random: generator seed */
};

const char *bench_shape_name(enum bench_shape s);
/* 0, or -EINVAL if name is not a shape. */
int bench_shape_parse(const char *name, enum bench_shape *out);
/* The list "flat, barrier, chain, tree, random" for messages. */
const char *bench_shape_list(void);
/* Fewest jobs the shape can be built with (barrier: 7, others: 1). */
uint32_t bench_shape_min_jobs(enum bench_shape s);
/* Memory the generated spec takes, an upper estimate (for a count that
 * must be refused before anything is allocated). */
uint64_t bench_shape_spec_bytes(enum bench_shape s, uint32_t njobs);
/* Edges the shape has (random: the expected count). */
uint64_t bench_shape_edges(enum bench_shape s, uint32_t njobs, const struct bench_shape_opts *o);

/*
 * Fills *out (zeroed first; free with spec_free) with the shape. Returns 0,
 * -EINVAL (njobs below the minimum) or VL_ETOOBIG (memory), err filled.
 */
int bench_shape_gen(enum bench_shape s, uint32_t njobs, const struct bench_shape_opts *o,
                    struct spec *out, struct vl_err *err);

#endif /* VOLLEY_BENCH_SHAPES_H */

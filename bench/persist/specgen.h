/*
 * specgen.h - workflows made directly as struct spec, for persist/'s
 * benchmarks and tests (no YAML, so the numbers measure persist/ alone).
 *
 * Shapes (the issue's): a flat sweep of independent jobs, and a random DAG
 * with ~2 edges per job whose parents lie within 4096 jobs before the child
 * (as in research/platform-probe.md section 5). Names look like
 * `stage1_000123`, commands like `python train.py --i 123`.
 */
#ifndef VOLLEY_BENCH_PERSIST_SPECGEN_H
#define VOLLEY_BENCH_PERSIST_SPECGEN_H

#include <stdint.h>

#include "loader/spec.h"

enum specgen_shape {
    SPECGEN_SWEEP, /* njobs independent jobs */
    SPECGEN_DAG,   /* job j > 1 has two parents among the 4096 before it */
};

/* Fills *s (caller's: spec_free). 0, or VL_ETOOBIG with err set. */
int specgen_make(struct spec *s, enum specgen_shape shape, uint32_t njobs, uint64_t seed,
                 struct vl_err *err);

/*
 * A small workflow with every part of struct spec in use: resource classes,
 * failure handlers with rules, exit codes and a recovery script, files and
 * user_data with producers, job-file relations, a description, flags.
 * njobs >= 4; jobs form a diamond-ish chain.
 */
void specgen_rich(struct spec *s, uint32_t njobs);

/* The parse of a shape name ("sweep", "dag"), or -1. */
int specgen_shape_parse(const char *name);

#endif /* VOLLEY_BENCH_PERSIST_SPECGEN_H */

/*
 * bench_process.h - `volley bench --mode process`: one generated shape run
 * by real processes, by volley and by the references it is judged against
 * in the same invocation.
 *
 * bproc_prepare writes the shape three ways into a directory: wf.yaml (for
 * `volley run`), wf.mk (GNU make) and build.ninja, every job /bin/true, and
 * wf-limits.yaml, wf.yaml with every job in a class with a memory limit
 * (1g: what the limits axis enforces). The runners then each run it once
 * and verify it:
 *   volley  `/proc/self/exe run wf.yaml -j K --quiet --run-dir D`: exit 0, and
 *           volley.db (read through persist/'s snap.h, never raw SQL) has
 *           njobs records, each completed in attempt 1
 *   limit   bench/spawn's spawn_probe next to the binary, N spawns of
 *           /bin/true with K in flight, in the placements of
 *           bench/spawn/run_bench.sh; the best is the limit, and the best
 *           of those whose children may use every CPU is reported too (a
 *           runner must leave real jobs free). Verified: exit 0, failed=0,
 *           n=N
 *   make    `make -r -s -j K -f wf.mk`: each recipe is `$(info jI)/bin/true`
 *           (make expands it just before exec'ing /bin/true without a
 *           shell, so the job stays the same); exit 0 and N distinct names
 *           printed
 *   ninja   `ninja -j K -f build.ninja`: exit 0 and N distinct outputs in
 *           .ninja_log (ninja starts every command through /bin/sh -c)
 */
#ifndef VOLLEY_BENCH_BENCH_PROCESS_H
#define VOLLEY_BENCH_BENCH_PROCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/lib/bench_shapes.h"
#include "base/base.h"

enum bproc_runner { BPROC_VOLLEY, BPROC_LIMIT, BPROC_MAKE, BPROC_NINJA };

struct bproc_result {
    double wall_s;        /* start of the runner to its exit */
    double span_s;        /* volley: first job start to last job end (volley.db); else 0 */
    double runner_cpu_us; /* volley: supervisor + workers CPU per job (run-stats.json) */
    bool verified;
    char why[256];      /* why not verified */
    char note[128];     /* limit: the placement that was best */
    double free_wall_s; /* limit: the best of the placements whose children may use
                           every CPU (not the one that keeps them on CPU 0); else 0 */
};

/* Writes wf.yaml, wf.mk and build.ninja for the shape into dir (which
 * exists). 0, or a negative code with err filled. */
int bproc_prepare(const char *dir, enum bench_shape shape, uint32_t njobs,
                  const struct bench_shape_opts *o, struct vl_err *err);

/* NULL if the runner can run here, else why not ("make is not installed"). */
const char *bproc_unavailable(enum bproc_runner r);

/* Runs the prepared dir once with K in flight. 0 with *res filled
 * (res->verified may be false); a negative code with err filled if the
 * runner could not be started. */
/* limits (volley only; NULL for the others): NULL runs wf.yaml as a user
 * would; "none", "track", "on" run wf-limits.yaml with --limits-backend
 * none, --no-limits, or --max-pids 1000 (bench_matrix.h). */
int bproc_run(enum bproc_runner r, const char *dir, uint32_t njobs, uint32_t k, const char *limits,
              struct bproc_result *res, struct vl_err *err);

/* prog is an executable file in $PATH. */
bool bproc_in_path(const char *prog);

/* rm -rf path; 0 or -errno. */
int bproc_rmtree(const char *path);

#endif /* VOLLEY_BENCH_BENCH_PROCESS_H */

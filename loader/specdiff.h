/*
 * specdiff.h - what changed between two expanded workflows, job by job.
 * `volley resume --reload` (core/resume.h) keeps the state of every job
 * whose definition is the same in the edited workflow, and runs the others
 * and everything downstream of them.
 *
 * A job's identity is its name. Its definition is what decides what it
 * does when it runs, each compared by value, never by index or name of a
 * shared table entry:
 *   - the command after expansion (invocation_script, ${files...} in it);
 *   - its environment (env: the workflow's and its own, merged), as a set
 *     of KEY=VALUE strings;
 *   - its resource class's values (CPUs, GPUs, nodes, memory, runtime; a
 *     job without a class equals one whose class asks for nothing);
 *   - its failure handler's rules (codes, max_retries, match_all, recovery
 *     script; no handler equals one without rules);
 *   - its flags: cancel_on_blocking_job_failure, and its stdio (the mode,
 *     delete_on_success);
 *   - its input and output files' paths, in order;
 *   - its dependencies (its parents), by name.
 * specdiff_job is the one place that compares them: a new field of a job
 * that decides what it does gets its line there and its enum value here.
 * Its priority does not (only when it starts): a reload applies an edited
 * one without running the job again, as the new generation stores it.
 *
 * Cost: a name table of the old spec (open addressing, 2x its jobs) and
 * both parent lists (CSR: 8 bytes per job + 4 per edge each), built once;
 * then O(size of the job) per comparison. 1M jobs: docs/running.md.
 */
#ifndef VOLLEY_LOADER_SPECDIFF_H
#define VOLLEY_LOADER_SPECDIFF_H

#include <stdint.h>

#include "base/base.h"
#include "loader/spec.h"

/* What makes a job of the new spec other than the old one's of its name
 * (the first difference found, in this order). */
enum specdiff_what {
    SPECDIFF_SAME = 0,
    SPECDIFF_NEW = 1,       /* no job of its name before */
    SPECDIFF_COMMAND = 2,   /* the command */
    SPECDIFF_ENV = 3,       /* its environment */
    SPECDIFF_RESOURCES = 4, /* the resource class's values */
    SPECDIFF_HANDLER = 5,   /* the failure handler's rules */
    SPECDIFF_FLAGS = 6,     /* cancel_on_blocking_job_failure */
    SPECDIFF_STDIO = 7,     /* stdio: what is captured, delete_on_success */
    SPECDIFF_FILES = 8,     /* input or output files */
    SPECDIFF_DEPS = 9,      /* its parents, by name */
    SPECDIFF_NWHAT = 10
};

/* "new", "command changed", "resources changed", ... */
const char *specdiff_what_name(unsigned what);

struct specdiff {
    const struct spec *old, *cur;  /* the stored workflow and the edited one */
    uint32_t *old_of;              /* [cur->njobs] the old job of the same name, or SPEC_NONE */
    uint32_t *cur_of;              /* [old->njobs] the new job of the same name, or SPEC_NONE
                                      (removed) */
    uint64_t *opar_off, *cpar_off; /* [njobs + 1] parents CSR of old and cur */
    uint32_t *opar, *cpar;         /* [nedges] parents, ascending per job */
    uint32_t *scratch;             /* room for the largest parent list of cur */
    uint64_t *env_a, *env_b;       /* room for a job's merged env, old and cur */
    uint32_t env_cap;
};

/* Builds the name maps and parent lists of old and cur (both must pass
 * spec_check, with distinct names). 0, or VL_ETOOBIG (-ENOMEM) with err. */
int specdiff_init(struct specdiff *d, const struct spec *old, const struct spec *cur,
                  struct vl_err *err);
void specdiff_fini(struct specdiff *d); /* accepts a zeroed one */

/* How job jid of cur differs from the old job of its name (see above). */
enum specdiff_what specdiff_job(struct specdiff *d, uint32_t jid);

#endif /* VOLLEY_LOADER_SPECDIFF_H */

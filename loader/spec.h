/*
 * spec.h - the expanded, validated workflow: plain data, built for 10 million
 * jobs.
 *
 * The loader (spec_load_file) produces it from YAML; bench/ generators and
 * persist/ (restore from volley.db) fill the same arrays directly; the arena
 * builder (shm/) consumes it. It is the contract between those modules, so
 * a field changes only together with every producer and consumer.
 *
 * Layout: jobs are indices 0..njobs-1 (uint32_t jid). Per-job data is in
 * parallel arrays (no struct per job, no malloc per job). Every string (job
 * names and commands, file names and paths, resource/handler names, recovery
 * scripts) is NUL-terminated in one pool and referenced by a uint64_t offset.
 * Job -> job dependencies are in CSR form by parent: the children of j are
 * kids[kid_off[j] .. kid_off[j+1]), sorted ascending and distinct. npar[j] is
 * j's in-degree (the number of distinct parents).
 *
 * Cost per job, without strings and edges: 8 (name_off) + 8 (cmd_off) + 8
 * (kid_off) + 4 (npar) + 2 (rr) + 2 (fh) + 1 (flags) + 16 (file CSR offsets)
 * = 49 bytes; each edge 4 bytes.
 *
 * Invariants (every producer must hold them; spec_check verifies all but the
 * distinctness of names, which the loader checks with its name table and
 * volley.db with a UNIQUE index):
 *   - kid_off[0] == 0, kid_off nondecreasing, kid_off[njobs] == nedges;
 *   - each kids[] entry < njobs, strictly increasing within a job, != j;
 *   - npar[j] == number of occurrences of j in kids[];
 *   - the graph is acyclic;
 *   - name_off/cmd_off (and every other *_off) < pool_len and point at a
 *     NUL-terminated string inside the pool; job names are distinct;
 *   - rr[j] < nrr or SPEC_NONE16; fh[j] < nfh or SPEC_NONE16;
 *   - files: producer < njobs or SPEC_NONE; in/out CSR like the kids CSR,
 *     entries < nfiles.
 */
#ifndef VOLLEY_LOADER_SPEC_H
#define VOLLEY_LOADER_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

#define SPEC_NONE UINT32_MAX      /* no job / no file */
#define SPEC_NONE16 UINT16_MAX    /* no resource class / no failure handler */
#define SPEC_NO_STR UINT64_MAX    /* an absent optional string */
#define SPEC_MAX_JOBS 4294967294u /* 2^32 - 2: SPEC_NONE stays free */

/* flags[j] bits */
enum spec_job_flag {
    SPEC_JOB_CANCEL_ON_BLOCK = 1u << 0, /* cancel_on_blocking_job_failure (default set) */
};

/* A resource class (resource_requirements entry). */
struct spec_rr {
    uint64_t name_off;     /* pool offset of its name */
    uint64_t memory_bytes; /* 0: no memory requirement */
    uint64_t runtime_ms;   /* 0: no runtime limit; else enforced */
    uint32_t num_cpus;     /* CPUs a job of this class occupies */
    uint32_t num_gpus;     /* GPUs, assigned by index */
    uint32_t num_nodes;    /* accepted for torc files; must be 1 on one node */
    uint32_t pad;
};

enum spec_rule_flag {
    SPEC_RULE_MATCH_ALL = 1u << 0, /* match_all_exit_codes: true */
};

/* One rule of a failure handler. */
struct spec_rule {
    uint32_t code_first;  /* first exit code in spec.codes */
    uint32_t ncodes;      /* exit_codes count (0 with MATCH_ALL) */
    uint32_t max_retries; /* retries after the first run (default 3) */
    uint32_t flags;       /* enum spec_rule_flag */
    uint64_t script_off;  /* recovery_script in the pool, or SPEC_NO_STR */
};

/* A failure handler: rules[rule_first .. rule_first + nrules). */
struct spec_fh {
    uint64_t name_off;
    uint32_t rule_first;
    uint32_t nrules;
};

enum spec_file_flag {
    SPEC_FILE_USER_DATA = 1u << 0, /* a user_data entry: path_off is its JSON text */
    SPEC_FILE_INPUT = 1u << 1,     /* some job reads it */
};

/* Where a run of jobs came from, for messages only: jobs first .. (the next
 * entry's first - 1) were written at line `line` of spec.path. One entry per
 * job entry of the file (not per instance), so it costs nothing per job. */
struct spec_src {
    uint32_t first; /* first jid of the run; strictly increasing over srcs */
    uint32_t line;  /* 1-based line of the job entry in spec.path (0: unknown) */
};

/* A file (or user_data entry) after parameter expansion. */
struct spec_file {
    uint64_t name_off; /* its expanded name */
    uint64_t path_off; /* its expanded path (user_data: the data as JSON) */
    uint32_t producer; /* the job that writes it, or SPEC_NONE (an input) */
    uint32_t flags;    /* enum spec_file_flag */
};

struct spec {
    /* the workflow */
    char *path;        /* the file it was loaded from (or "<generated>") */
    char *name;        /* workflow name */
    char *description; /* NULL if none */

    /* the string pool */
    char *pool;        /* every string, NUL-terminated */
    uint64_t pool_len; /* bytes used */

    /* jobs */
    uint32_t njobs;
    uint64_t nedges;    /* distinct job -> job edges after expansion */
    uint64_t *name_off; /* [njobs] */
    uint64_t *cmd_off;  /* [njobs] the full command (invocation_script prefixed,
                           ${files...} substituted); /bin/sh -c semantics */
    uint64_t *kid_off;  /* [njobs + 1] CSR offsets into kids */
    uint32_t *kids;     /* [nedges] children, ascending per parent */
    uint32_t *npar;     /* [njobs] in-degree */
    uint16_t *rr;       /* [njobs] resource class or SPEC_NONE16 */
    uint16_t *fh;       /* [njobs] failure handler or SPEC_NONE16 */
    uint8_t *flags;     /* [njobs] enum spec_job_flag */

    /* job -> file relations (CSR like kids); NULL arrays when nfiles == 0 */
    uint64_t *in_off;  /* [njobs + 1] */
    uint32_t *ins;     /* input files of each job */
    uint64_t *out_off; /* [njobs + 1] */
    uint32_t *outs;    /* output files of each job */

    /* small tables */
    struct spec_rr *rrs;
    uint32_t nrr;
    struct spec_fh *fhs;
    uint32_t nfh;
    struct spec_rule *rules;
    uint32_t nrules;
    int32_t *codes; /* exit codes of every rule, see spec_rule */
    uint32_t ncodes;
    struct spec_file *files;
    uint32_t nfiles;

    /* source lines of jobs (SHARED: added by the loader, issue #3); NULL and
       0 when the producer has none (generators) */
    struct spec_src *srcs;
    uint32_t nsrcs;
};

/* String at pool offset off ("" for SPEC_NO_STR). */
static inline const char *spec_str(const struct spec *s, uint64_t off)
{
    return off == SPEC_NO_STR ? "" : s->pool + off;
}
static inline const char *spec_job_name(const struct spec *s, uint32_t jid)
{
    return s->pool + s->name_off[jid];
}
static inline const char *spec_job_cmd(const struct spec *s, uint32_t jid)
{
    return s->pool + s->cmd_off[jid];
}

/* Line in s->path where job jid was written, or 0 if unknown. */
static inline uint32_t spec_job_line(const struct spec *s, uint32_t jid)
{
    uint32_t lo = 0, hi = s->nsrcs;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->srcs[mid].first <= jid)
            lo = mid;
        else
            hi = mid;
    }
    return s->nsrcs && s->srcs[lo].first <= jid ? s->srcs[lo].line : 0;
}

/* Frees every array and the struct's strings; accepts NULL; leaves *s zeroed. */
void spec_free(struct spec *s);

/*
 * Verifies every invariant above in O(jobs + edges) time, without recursion
 * (safe on a 10M-long chain). Returns 0, or VL_ECORRUPT with err naming the
 * first broken invariant ("job 17: child 17 is itself"). Used by persist on
 * restore, by the fuzz targets, and by tests of every producer.
 */
int spec_check(const struct spec *s, struct vl_err *err);

#endif /* VOLLEY_LOADER_SPEC_H */

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
 * = 49 bytes; each edge 4 bytes; 4 more (env) when some job has its own env,
 * 4 more (prio) when some job has a priority.
 *
 * torc's keys that mean something on one node (docs/workflow-format.md) are
 * here with torc's meaning: env (env, envsets, envkv: a job's merged list,
 * spec_job_env), stdio (in flags), execution_config (exec), actions
 * (actions, act_cmds, act_jobs). variables are not: they are substituted
 * while loading. A zeroed spec (generators, a restore that predates them)
 * means torc's defaults: no env, separate stdio, exit codes 152 and 137,
 * SIGTERM 30 s before SIGKILL, resource limits on, no actions.
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
 *     entries < nfiles;
 *   - env: env[j] < nenvsets (env NULL: every job has set 0, if any); a
 *     set's entries lie in envkv and are "KEY=VALUE" strings in the pool
 *     with distinct keys; its base is SPEC_NONE or a set before it;
 *   - flags: the stdio mode is a valid enum spec_stdio;
 *   - actions: commands in act_cmds (strings in the pool, at least one),
 *     jobs in act_jobs (< njobs, strictly ascending), triggers valid.
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
    SPEC_JOB_CANCEL_ON_BLOCK = 1u << 0,   /* cancel_on_blocking_job_failure (default set) */
    SPEC_JOB_STDIO_SHIFT = 1,             /* bits 1-3: enum spec_stdio */
    SPEC_JOB_STDIO_MASK = 7u << 1,        /* the stdio mode of the job */
    SPEC_JOB_DELETE_ON_SUCCESS = 1u << 4, /* stdio.delete_on_success: drop the job's
                                             captured output once it completed */
};

/* What is captured of a job's stdout and stderr (torc's StdioMode; a job's
 * own `stdio` replaces execution_config.stdio whole). */
enum spec_stdio {
    SPEC_STDIO_SEPARATE = 0,  /* both, apart (the default) */
    SPEC_STDIO_COMBINED = 1,  /* both, in one stream */
    SPEC_STDIO_NO_STDOUT = 2, /* stderr only; stdout to /dev/null */
    SPEC_STDIO_NO_STDERR = 3, /* stdout only; stderr to /dev/null */
    SPEC_STDIO_NONE = 4,      /* nothing: both to /dev/null, no pipe */
};

static inline enum spec_stdio spec_flags_stdio(uint8_t flags)
{
    return (enum spec_stdio)((flags & SPEC_JOB_STDIO_MASK) >> SPEC_JOB_STDIO_SHIFT);
}

/* A set of environment variables (env). Its own entries are
 * envkv[first .. first + n); the entries of set `base` whose keys it does
 * not have follow (torc: a job's env wins over the workflow's). */
struct spec_envset {
    uint64_t first; /* first entry in spec.envkv */
    uint32_t n;     /* its own entries */
    uint32_t base;  /* the set it adds to (an earlier one), or SPEC_NONE */
};

/* execution_config: what the file set, with torc's defaults otherwise (a
 * zeroed struct is all defaults; read it through the spec_exec_* helpers). */
enum spec_exec_set {
    SPEC_EXEC_TIMEOUT_CODE = 1u << 0, /* timeout_exit_code given */
    SPEC_EXEC_OOM_CODE = 1u << 1,     /* oom_exit_code given */
    SPEC_EXEC_TERM_SIGNAL = 1u << 2,  /* termination_signal given */
    SPEC_EXEC_TERM_LEAD = 1u << 3,    /* sigterm_lead_seconds given */
    SPEC_EXEC_NO_LIMITS = 1u << 4,    /* limit_resources: false */
};
struct spec_exec {
    uint32_t set;              /* enum spec_exec_set */
    int32_t timeout_exit_code; /* the code handlers and `jobs` see for a job killed at its
                                  runtime (default 152, Slurm's TIMEOUT) */
    int32_t oom_exit_code;     /* ... for a job killed for its memory (default 137) */
    int32_t term_signal;       /* sent first when a job is stopped (default SIGTERM) */
    uint32_t term_lead_s;      /* seconds from term_signal to SIGKILL (default 30) */
    uint32_t pad;
};

/* The action triggers volley acts on (torc's run_commands actions). */
enum spec_trigger {
    SPEC_ON_WORKFLOW_START = 0,    /* once, before the first job starts */
    SPEC_ON_WORKFLOW_COMPLETE = 1, /* once, when every job is finished */
    SPEC_ON_JOBS_READY = 2,        /* once, when all its jobs are ready */
    SPEC_ON_JOBS_COMPLETE = 3,     /* once, when all its jobs are finished */
};

/* An action: its commands run in order, with /bin/sh -c, in the directory
 * the run was started in. */
struct spec_action {
    uint32_t trigger;   /* enum spec_trigger */
    uint32_t line;      /* 1-based line of the action in spec.path */
    uint32_t cmd_first; /* commands: act_cmds[cmd_first .. cmd_first + ncmds) */
    uint32_t ncmds;
    uint64_t job_first; /* on_jobs_*: its jobs, act_jobs[job_first .. + njobs) */
    uint32_t njobs;
    uint32_t pad;
};

/* A resource class (resource_requirements entry). */
struct spec_rr {
    uint64_t name_off;     /* pool offset of its name */
    uint64_t memory_bytes; /* 0: no memory requirement */
    uint64_t runtime_ms;   /* 0: no runtime limit; else enforced */
    uint32_t num_cpus;     /* CPUs a job of this class occupies */
    uint32_t num_gpus;     /* GPUs, assigned by index */
    uint32_t num_nodes;    /* accepted for torc files; must be 1 on one node */
    uint32_t max_pids;     /* volley's extension (docs/workflow-format.md): processes a
                              job of this class may have at once; 0: --max-pids */
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
    int32_t *prio;      /* [njobs] priority: among ready jobs, higher starts first;
                           NULL when every job's is 0 (the common case: no cost) */

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

    /* env (issue #21): the workflow's env and the jobs' own, merged per job
       by spec_job_env. Jobs whose env does not depend on their parameters
       share one set per entry; the workflow's is never copied per job. */
    uint32_t *env;               /* [njobs] env set of each job; NULL: set 0 for all */
    struct spec_envset *envsets; /* [nenvsets]; set 0: the workflow's env */
    uint32_t nenvsets;           /* 0: no env anywhere */
    uint64_t *envkv;             /* [nenvkv] pool offsets of "KEY=VALUE" strings */
    uint64_t nenvkv;

    /* execution_config (issue #21); stdio per job is in flags */
    struct spec_exec exec;

    /* actions with run_commands (issue #21), in file order */
    struct spec_action *actions; /* [nactions] */
    uint32_t nactions;
    uint32_t nact_cmds;
    uint64_t *act_cmds; /* [nact_cmds] pool offsets of commands */
    uint32_t *act_jobs; /* [nact_jobs] the jobs of on_jobs_* actions */
    uint64_t nact_jobs;
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

/* execution_config with torc's defaults where the file gave nothing. */
static inline int32_t spec_timeout_exit_code(const struct spec *s)
{
    return s->exec.set & SPEC_EXEC_TIMEOUT_CODE ? s->exec.timeout_exit_code : 152;
}
static inline int32_t spec_oom_exit_code(const struct spec *s)
{
    return s->exec.set & SPEC_EXEC_OOM_CODE ? s->exec.oom_exit_code : 137;
}
static inline int32_t spec_term_signal(const struct spec *s)
{
    return s->exec.set & SPEC_EXEC_TERM_SIGNAL ? s->exec.term_signal : 15; /* SIGTERM */
}
static inline uint32_t spec_term_lead_s(const struct spec *s)
{
    return s->exec.set & SPEC_EXEC_TERM_LEAD ? s->exec.term_lead_s : 30;
}
static inline bool spec_limit_resources(const struct spec *s)
{
    return !(s->exec.set & SPEC_EXEC_NO_LIMITS);
}

/*
 * The merged environment of job jid (its own env, then the workflow's
 * entries whose keys it does not set): writes up to cap pool offsets of
 * "KEY=VALUE" strings to out and returns how many there are in all (call
 * again with a larger out when that exceeds cap). 0 when there is no env.
 */
uint32_t spec_job_env(const struct spec *s, uint32_t jid, uint64_t *out, uint32_t cap);

/*
 * The same over bare arrays, for a reader that holds them elsewhere (the
 * arena's copies, shm/layout.h): the merged list of env set `set` of
 * sets[], whose entries are pool offsets in kv[]. Every set on the chain
 * from `set` must be valid (spec_check's invariants).
 */
uint32_t spec_envset_list(const char *pool, const struct spec_envset *sets, const uint64_t *kv,
                          uint32_t set, uint64_t *out, uint32_t cap);

/* What a workflow asks of the run beyond running its jobs in order, as
 * bits: for `volley run` to say which of them it does not act on yet. */
enum spec_effect {
    SPEC_FX_ENV = 1u << 0,           /* env on the workflow or a job */
    SPEC_FX_STDIO = 1u << 1,         /* a stdio mode other than separate */
    SPEC_FX_DELETE_OUTPUT = 1u << 2, /* stdio.delete_on_success */
    SPEC_FX_ACTIONS = 1u << 3,       /* actions */
    SPEC_FX_TIMEOUT_CODE = 1u << 4,  /* timeout_exit_code given */
    SPEC_FX_TERM_SIGNAL = 1u << 5,   /* termination_signal other than SIGTERM */
    SPEC_FX_TERM_LEAD = 1u << 6,     /* sigterm_lead_seconds given */
    SPEC_FX_NO_LIMITS = 1u << 7,     /* limit_resources: false */
    SPEC_FX_OOM_CODE = 1u << 8,      /* oom_exit_code given */
};
uint32_t spec_effects(const struct spec *s);
/* The workflow key an effect comes from ("env", "stdio", ...). */
const char *spec_effect_key(uint32_t fx);

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

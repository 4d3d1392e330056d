/*
 * snap.h - a run's snapshot database DIR/volley.db: the expanded workflow,
 * the run's metadata and every job's state record, so that `volley resume
 * DIR` needs nothing but the run directory (DESIGN.md "Persistence and
 * resume"; docs/persistence.md has the schema and the numbers).
 *
 * Storage, chosen by measurement (bench/persist/):
 *   - The spec's big arrays (job names, commands, edges, per-job classes and
 *     flags, files and job-file relations) are "array rows": consecutive items
 *     packed little-endian into BLOBs of at most 4 MiB (table spec_chunk).
 *     Writing a 1M-job spec this way costs about what its bytes cost; one SQL
 *     row per job would cost ~0.5 us per row more (measured: 1M rows take
 *     0.5 s, the whole spec as chunks about half that).
 *   - The small tables (resource classes, failure handlers, rules, exit
 *     codes) and the run metadata are ordinary, readable rows.
 *   - Job state records are rows of table `job`, one per job that has left
 *     its initial state, with the job's name: `sqlite3 DIR/volley.db 'select
 *     * from jobs'` shows them readably. A job without a row is in its initial
 *     state (snap_job_init). So the initial snapshot writes no job rows,
 *     checkpoints write exactly the changed records, and state_count keeps
 *     the per-state counts that `volley status` reads in milliseconds.
 *   - A 64-bit content hash of the spec (snap_spec_hash) is stored at create
 *     and recomputed on restore: it names the workflow and catches damage
 *     that spec_check cannot see (a flipped byte in a command).
 *
 * The file appears atomically: it is written as volley.db.tmp, synced and
 * renamed, so a crash or a full disk during the initial snapshot leaves no
 * volley.db at all (or, with SNAP_REPLACE, the old one untouched). After
 * that it is in WAL mode with synchronous=FULL: a checkpoint is one
 * transaction and is durable when it returns, and a failed one (disk full,
 * I/O error) rolls back and leaves the previous checkpoint readable.
 *
 * Threads: a struct snap is used by one thread at a time (the checkpointer,
 * ckpt.h, takes it over while it runs). The readers snap_info_read and
 * snap_iter_* open their own connection and may run in any process while a
 * run is live.
 *
 * Errors: every function returns 0 or a negative code (base.h) and fills
 * err with a sentence naming the file and what to do. Codes: -EEXIST
 * (volley.db exists), VL_ENOTRUN (no volley.db, or not volley's),
 * VL_ECORRUPT (truncated, garbage, damaged content), VL_EVERSION (newer
 * schema), VL_EMISMATCH (another run or workflow than expected), -ENOSPC,
 * -EIO, -EROFS/-EACCES (read-only directory), VL_ETOOBIG. vl_exit_for()
 * maps all of them to exit code 3.
 */
#ifndef VOLLEY_PERSIST_SNAP_H
#define VOLLEY_PERSIST_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "loader/spec.h"
#include "persist/rundir.h" /* RUNDIR_DB */

#define SNAP_SCHEMA 9 /* PRAGMA user_version; bump on any schema change */
/* Schema history: 1 the first; 2 adds table run_option (a schema-1 file
 * reads as a run without stored options); 3 adds column job.lost (an
 * older file reads and is written without it: lost 0); 4 adds the
 * columns job.max_rss_bytes, job.cpu_user_s, job.cpu_sys_s, NULL where
 * no usage was recorded (an older file reads without usage and is
 * written without it); 5 adds tables workflow_file, generation and
 * job_history (an older file reads as a run of generation 0 whose
 * workflow file was not recorded); SNAP_SCHEMA_EXEC (6) adds what issue
 * 21 runs: tables env_set, exec_config, action and action_state and the
 * array kinds job_env, env_kv, act_cmd, act_jobs (an older file reads as a
 * workflow without env, with torc's execution defaults and no actions);
 * SNAP_SCHEMA_PRIO (7) adds the array kind job_prio (an older file reads
 * with every priority 0); SNAP_SCHEMA_GOV (8) adds how jobs were governed
 * (issue #18): column resource_class.max_pids and table governance (the
 * backend, and the sum of the jobs' CPU time), an older file reading with
 * no max_pids and no backend, written without them; SNAP_SCHEMA_ALLOC (9)
 * adds table allocation (issue #23: an older file reads as a run without
 * recorded allocations, and records none). */
#define SNAP_SCHEMA_EXEC 6 /* the first schema with env, exec_config and actions */
#define SNAP_SCHEMA_PRIO 7 /* the first schema with the jobs' priorities */
/* the first schema with them: the code tests this, so the number may change at a merge */
#define SNAP_SCHEMA_GOV 8
#define SNAP_SCHEMA_ALLOC 9 /* the first schema with table allocation */

/*
 * A job's state, stored as this number; the names (snap_state_name) are
 * SPEC.md's, 1:1. The same names are in table state_count of every db.
 */
enum snap_state {
    SNAP_STATE_BLOCKED = 0,    /* "blocked": waits for parents */
    SNAP_STATE_READY = 1,      /* "ready": may be claimed */
    SNAP_STATE_RUNNING = 2,    /* "running": claimed or started */
    SNAP_STATE_COMPLETED = 3,  /* "completed": exit 0 */
    SNAP_STATE_FAILED = 4,     /* "failed": nonzero exit, no retry left */
    SNAP_STATE_TERMINATED = 5, /* "terminated": killed for its runtime */
    SNAP_STATE_CANCELED = 6,   /* "canceled": a parent did not complete */
    SNAP_NSTATES = 7
};

/* "blocked" ... "canceled"; NULL for a number outside the enum. */
const char *snap_state_name(unsigned state);
/* The state named name, or -1. */
int snap_state_parse(const char *name);

#define SNAP_NO_LOG UINT64_MAX /* log_ref of a job without logs yet */

/* One job's state record: what a checkpoint stores and a restore returns. */
struct snap_job {
    uint32_t jid;      /* job index in the spec */
    uint8_t state;     /* enum snap_state */
    uint8_t pad;       /* zero */
    uint16_t lost;     /* attempts cut short (a stop, a crash): not failures, so a
                          failure handler does not count them (saturates at 2047) */
    uint32_t attempt;  /* runs started so far (0: never ran) */
    int32_t exit_code; /* last exit code: 128 + N if killed by signal N, -1 if
                          it could not be started; 0 before any exit */
    uint64_t start_ns; /* wall clock (ns since the epoch) of the last start; 0: none */
    uint64_t end_ns;   /* wall clock of the last end; 0: none */
    uint64_t log_ref;  /* the executor's reference to its log index; SNAP_NO_LOG */
    /* What the last attempt used (issue 18 measures it; snap_job_has_usage
     * tells whether it did): all zero when not recorded. */
    uint64_t max_rss_bytes; /* peak memory, bytes; 0: not recorded */
    double cpu_user_s;      /* user CPU time, s */
    double cpu_sys_s;       /* system CPU time, s */
};

/* True if the record holds the usage of its last attempt (a process that
 * ran has a peak memory above zero). */
static inline bool snap_job_has_usage(const struct snap_job *j)
{
    return j->max_rss_bytes != 0;
}

/* What happened to an action (spec.actions[id]) in this run. */
enum snap_act_state {
    SNAP_ACT_PENDING = 0,   /* "pending": not started (or started and cut short: runs again) */
    SNAP_ACT_RUNNING = 1,   /* "running": started; a resume runs it again */
    SNAP_ACT_COMPLETED = 2, /* "completed": every command exited 0 */
    SNAP_ACT_FAILED = 3,    /* "failed": a command failed; the ones after it did not run */
    SNAP_ACT_NSTATES = 4
};
/* "pending" ... "failed"; NULL outside the enum. */
const char *snap_act_state_name(unsigned state);

/* An action's record (table action_state; a row only once it started). */
struct snap_action {
    uint32_t id;       /* index in spec.actions */
    uint8_t state;     /* enum snap_act_state */
    uint8_t pad[3];    /* zero */
    uint32_t runs;     /* times it was started: its log attempts are numbered from there */
    int32_t exit_code; /* the last command's exit code (128 + N for signal N; -1: not
                          started) */
    uint64_t start_ns; /* wall clock of the last start, 0: none */
    uint64_t end_ns;   /* wall clock of the last end, 0: none */
};

/* The initial record of job jid: blocked if it has parents, else ready. */
static inline void snap_job_init(const struct spec *s, uint32_t jid, struct snap_job *out)
{
    *out = (struct snap_job){
        .jid = jid,
        .state = s->npar[jid] ? SNAP_STATE_BLOCKED : SNAP_STATE_READY,
        .log_ref = SNAP_NO_LOG,
    };
}

/*
 * A run option as the user gave it to `volley run` (table run_option), so
 * that a resume runs with it again. persist/ stores and returns the two
 * strings and checks their shape (snap_opt_check); what they mean is
 * tools/' business (runopts.c parses them as it parses the command line).
 */
struct snap_opt {
    const char *name;  /* the long option without "--": "jobs", "gpus" */
    const char *value; /* as typed: "4", "64g" */
};
#define SNAP_MAX_OPTS 32       /* run_option rows a restore accepts */
#define SNAP_OPT_NAME_MAX 32   /* bytes of a name: [a-z0-9-], not empty */
#define SNAP_OPT_VALUE_MAX 256 /* bytes of a value: no control characters, not empty */

/* True if name and value have a shape volley.db stores (the limits above). */
bool snap_opt_check(const char *name, const char *value);

/*
 * The workflow file a run was loaded from, as it was then (table
 * workflow_file, schema 5): `volley resume` tells that it changed since
 * (snap_wffile_check), `volley run WF` finds WF's unfinished runs by path.
 */
struct snap_wffile {
    const char *path;  /* absolute, symlinks resolved; NULL: not recorded */
    uint64_t size;     /* bytes */
    uint64_t mtime_ns; /* its modification time */
    uint64_t hash;     /* 64-bit content hash of its bytes */
};

/*
 * Reads the file at path (relative to the current directory) into *out:
 * its absolute path in abs (abslen bytes, PATH_MAX is enough; out->path
 * points there), size, mtime and content hash. 0 or a negative errno with
 * err naming the file.
 */
int snap_wffile_read(const char *path, struct snap_wffile *out, char *abs, size_t abslen,
                     struct vl_err *err);

enum snap_wf_change {
    SNAP_WF_SAME = 0,    /* as stored (or only its mtime moved: same bytes) */
    SNAP_WF_CHANGED = 1, /* other bytes than when the run stored it */
    SNAP_WF_GONE = 2,    /* it cannot be read any more */
    SNAP_WF_UNKNOWN = 3, /* the run did not record it (a schema-3 file, a generator) */
};
/* Whether the file stored describes changed since: a stat, and the bytes
 * hashed only if size or mtime differ. now (may be NULL) gets what is
 * there now, its path in abs (abslen bytes). */
enum snap_wf_change snap_wffile_check(const struct snap_wffile *stored, struct snap_wffile *now,
                                      char *abs, size_t abslen);

/*
 * A run's generations. `volley run` starts generation 0; each `volley
 * resume --reload` that changes the workflow starts the next, with the
 * reloaded workflow's jobs and jids. Logs are written under the jid of the
 * generation that ran the attempt (rundir_log_dir names each generation's
 * folder), so for the current generation's jobs the run keeps, per earlier
 * generation g, each job's jid there: jid_in[g][j], SNAP_NO_JID where job
 * j did not exist (table job_history, 4 bytes per job and generation).
 */
#define SNAP_NO_JID UINT32_MAX
#define SNAP_MAX_GENS 4096 /* reloads a run can take */
struct snap_history {
    uint32_t ngens;       /* earlier generations; the current one is number ngens */
    uint32_t njobs;       /* jobs of the current generation: each array's length */
    uint32_t **jid_in;    /* [ngens][njobs] */
    uint64_t *started_ns; /* [ngens + 1] wall clock at the start of each generation */
};
void snap_history_fini(struct snap_history *h); /* frees the arrays; accepts NULL */

/*
 * One allocation the run went on in (table allocation, from schema 6):
 * each `volley run` or `volley resume` that supervised it, with the batch
 * job it ran in (docs/slurm.md), so `status` and `report` can tell which
 * allocation did what and how each ended.
 */
#define SNAP_ALLOC_ID_MAX 64    /* bytes of a job id, with its NUL */
#define SNAP_ALLOC_NODE_MAX 256 /* bytes of a node name, with its NUL */
#define SNAP_MAX_ALLOCS 100000  /* rows a read accepts */
struct snap_alloc {
    int64_t seq;                    /* 1, 2, ... in the order they began (snap_alloc_begin) */
    char job_id[SNAP_ALLOC_ID_MAX]; /* the batch job (SLURM_JOB_ID); "" outside one */
    char node[SNAP_ALLOC_NODE_MAX]; /* the host it ran on (SLURMD_NODENAME, else hostname) */
    int64_t restart;                /* SLURM_RESTART_COUNT; -1: not set */
    uint64_t start_ns;              /* wall clock when its supervision began */
    uint64_t end_ns;                /* ... ended; 0: it did not end (live, or its runner died) */
    uint64_t deadline_ns;           /* the deadline it had (wall clock); 0: none */
    int32_t exit_code;              /* volley's exit code; -1 until it ended */
    uint32_t pad;                   /* zero */
};

/* What the caller tells snap_create about the run. */
struct snap_meta {
    uint8_t run_id[16];              /* the run's id (also names the arena) */
    uint64_t created_ns;             /* wall clock at run start */
    const char *cwd;                 /* the directory volley was started in (jobs run there) */
    char boot_id[37];                /* vl_boot_id() at run start */
    const struct snap_opt *opts;     /* the run's options, distinct names (may be NULL) */
    uint32_t nopts;                  /* entries in opts, at most SNAP_MAX_OPTS */
    const struct snap_wffile *wf;    /* the workflow file (NULL: none, as a generator's) */
    const struct snap_history *hist; /* NULL: generation 0; else its earlier generations
                                        (njobs: the spec's) and their start times, the
                                        current one's last */
    const struct snap_alloc *allocs; /* the run's allocations so far (a reload rewrites the
                                        file: they are carried over), in order; may be NULL */
    uint32_t nallocs;                /* entries in allocs */
};

/* Everything snap_info_read tells about a run (metadata, counts, options). */
struct snap_info {
    uint32_t schema;               /* schema version of the file */
    uint8_t run_id[16];            /* as given to snap_create */
    uint64_t created_ns;           /* as given to snap_create */
    char boot_id[37];              /* as given to snap_create */
    char *cwd;                     /* owned; snap_info_fini */
    char *workflow;                /* spec name; owned */
    char *source;                  /* spec path; owned */
    uint64_t spec_hash;            /* snap_spec_hash of the stored spec */
    uint32_t njobs;                /* jobs in the spec */
    uint64_t nedges;               /* edges in the spec */
    uint64_t counts[SNAP_NSTATES]; /* jobs per state as of the last checkpoint */
    uint64_t checkpoints;          /* checkpoints written (not counting the initial one) */
    uint64_t checkpoint_ns;        /* wall clock of the last one (creation if none) */
    uint64_t finished_ns;          /* wall clock of snap_finish; 0: not finished */
    struct snap_opt *opts;         /* the run's options in the order given to snap_create;
                                      owned (one block with its strings); NULL if none */
    uint32_t nopts;                /* entries in opts (0 for a schema-1 file) */
    struct snap_wffile wf;         /* the workflow file as stored; path owned, NULL if
                                      not recorded (before schema 5) */
    uint32_t gen;                  /* the current generation (0: never reloaded) */
    uint64_t gen_started_ns;       /* when it started (created_ns for generation 0) */
    char *limits;                  /* the governance backend of the last run or resume
                                      ("cgroup1"); owned; NULL: none recorded (before
                                      SNAP_SCHEMA_GOV, or a run that never started) */
    char *limits_why;              /* what it does not enforce, and why; owned, or NULL */
    uint64_t cpu_ms;               /* the jobs' CPU time (user + system of each job's
                                      recorded attempt), as of the last checkpoint */
    struct snap_alloc *allocs;     /* the allocations, in order; owned; NULL if none */
    uint32_t nallocs;              /* entries in allocs (0 before SNAP_SCHEMA_ALLOC) */
};
void snap_info_fini(struct snap_info *info); /* frees the strings; accepts NULL */

/* What a restore must match (VL_EMISMATCH otherwise). */
struct snap_expect {
    bool check_run_id;
    bool check_spec_hash;
    uint8_t run_id[16];
    uint64_t spec_hash;
};

struct snap; /* an open volley.db: opaque */

enum snap_create_flag {
    SNAP_REPLACE = 1u << 0, /* replace an existing volley.db (its -wal/-shm too, once its
                               WAL is folded into it; -EBUSY if another process reads it
                               and the WAL cannot be folded whole: nothing is changed) */
};

/*
 * The initial snapshot: writes DIR/volley.db from spec s (which must pass
 * spec_check), the run's metadata and options (meta; -EINVAL if an option
 * fails snap_opt_check or a name repeats) and the records
 * jobs[0..s->njobs) (NULL: every job in its
 * initial state; records equal to snap_job_init are not stored), then opens
 * it for checkpoints. DIR must exist; hold the run lock (runlock.h) first.
 * Without SNAP_REPLACE an existing volley.db fails with -EEXIST. s must stay
 * valid and unchanged until snap_close (checkpoints read job names from it).
 * On failure nothing is left behind (the old volley.db, if any, is
 * untouched); on success *out is the caller's (snap_close).
 */
int snap_create(struct snap **out, const char *dir, const struct spec *s,
                const struct snap_meta *meta, const struct snap_job *jobs, unsigned flags,
                struct vl_err *err);

/*
 * Restore: opens DIR/volley.db for a resume, verifies it (application id,
 * schema version, sizes, the content hash, spec_check, the job records and
 * counts, the shape of the stored run options) and fills *spec (caller's:
 * spec_free), *jobs (njobs records indexed by jid, caller's: free) and info
 * (if not NULL; snap_info_fini), with the run's options.
 * want (may be NULL) names the run or workflow the caller expects. Nothing
 * is written to the file before it has been verified. *out then belongs to
 * the caller and points into *spec, which must outlive it. On failure the
 * outputs are zeroed and nothing is held.
 */
int snap_open(struct snap **out, const char *dir, const struct snap_expect *want, struct spec *spec,
              struct snap_job **jobs, struct snap_info *info, struct vl_err *err);

/*
 * For `volley report`: what snap_open restores and verifies (the spec, the
 * records, info if not NULL), from a read-only connection that is closed
 * before it returns; nothing is written, no lock is needed, any process
 * may call it while the run is live (the records are then those of the
 * last checkpoint). Outputs as snap_open's: spec_free, free, snap_info_fini.
 */
int snap_read(const char *dir, struct spec *spec, struct snap_job **jobs, struct snap_info *info,
              struct vl_err *err);

/*
 * Stores the run options opts[0..n) (a resume's overrides): each replaces
 * the stored value of its name, or is added; the others stay. One
 * transaction. A schema-1 file (no run_option table) is left as it is.
 * -EINVAL if one fails snap_opt_check (nothing written).
 */
int snap_set_opts(struct snap *db, const struct snap_opt *opts, uint32_t n, struct vl_err *err);

/* Replaces the stored workflow file (a reload that found no job changed:
 * the same workflow, other bytes). One transaction. */
int snap_set_wffile(struct snap *db, const struct snap_wffile *wf, struct vl_err *err);

/* The run's generation history (see struct snap_history) for the spec
 * the db holds: 0 with *out filled (snap_history_fini), or a negative
 * code (VL_ECORRUPT for a damaged table). */
int snap_history_load(struct snap *db, struct snap_history *out, struct vl_err *err);

/* The generation the db is at (0 before any reload). */
uint32_t snap_gen(const struct snap *db);

/*
 * For `volley logs`: job jid of the current generation of the run in dir,
 * in each earlier generation: jids[g] for g < *ngens (at most cap of them),
 * SNAP_NO_JID where it did not exist. Reads one row per generation.
 */
int snap_job_past(const char *dir, uint32_t jid, uint32_t *jids, uint32_t cap, uint32_t *ngens,
                  struct vl_err *err);

/*
 * The allocation a (job_id, node, restart, start_ns, deadline_ns given;
 * end_ns 0, exit_code -1) begins: a row is added and a->seq set. A file
 * before schema 6 records none: 0 with seq 0. One transaction.
 */
int snap_alloc_begin(struct snap *db, struct snap_alloc *a, struct vl_err *err);
/* Allocation seq ended at end_ns with exit_code. One transaction. */
int snap_alloc_end(struct snap *db, int64_t seq, uint64_t end_ns, int exit_code,
                   struct vl_err *err);

/*
 * One checkpoint: writes the records jobs[0..n) (each jid < njobs, state <
 * SNAP_NSTATES; a jid may repeat, the last one wins) and the per-state
 * counts in ONE transaction, durable when it returns 0. On failure (ENOSPC,
 * EIO, ...) the transaction is rolled back, the file still holds the
 * previous checkpoint, and the caller keeps the records to retry them.
 * Synchronous: the checkpointer thread (ckpt.h) is what keeps it off the
 * workers' path.
 */
int snap_write_jobs(struct snap *db, const struct snap_job *jobs, size_t n, struct vl_err *err);

/*
 * The start (or the going on) of a runner: clears the finish time, so that
 * a runner that dies from here leaves a run that reads as crashed, not as
 * stopped (persist/runs.h). One small transaction.
 */
int snap_mark_live(struct snap *db, struct vl_err *err);

/*
 * Stores action records acts[0..n) (id < spec.nactions; the last of an id
 * wins) in one transaction, durable when it returns 0; snap_actions then
 * returns them. An older file (before SNAP_SCHEMA_EXEC) has no actions:
 * -EINVAL for any record. The checkpointer writes them (ckpt_submit_actions).
 */
int snap_write_actions(struct snap *db, const struct snap_action *acts, size_t n,
                       struct vl_err *err);

/* Every action's record as of the last write (or as restored):
 * [spec.nactions], indexed by id; NULL when the spec has none. */
const struct snap_action *snap_actions(const struct snap *db);

/* The flags of job jid (enum spec_job_flag: its stdio mode, delete_on_success)
 * as volley.db stores them, from a read-only connection (`volley logs`). */
int snap_job_flags(const char *dir, uint32_t jid, uint8_t *flags, struct vl_err *err);

/* The actions of a run as `volley logs --action N` needs them: the trigger
 * (enum spec_trigger), the number of commands, and the record. */
struct snap_action_view {
    uint32_t trigger;
    uint32_t ncmds;
    struct snap_action rec;
};
/* Reads them from a read-only connection: *out [*n] (the caller frees it;
 * NULL and 0 when there are none). */
int snap_actions_read(const char *dir, struct snap_action_view **out, uint32_t *n,
                      struct vl_err *err);

/*
 * Records how this run's jobs are governed (backend: "cgroup2", "cgroup1",
 * "none"; why: what is not enforced, and why, "" for nothing), replacing
 * what a run before a resume recorded. A file before SNAP_SCHEMA_GOV is
 * left as it is.
 */
int snap_set_limits(struct snap *db, const char *backend, const char *why, struct vl_err *err);

/*
 * The end of a run, after the final checkpoint: records the finish time and
 * folds the WAL into volley.db (so the directory holds one file to copy).
 */
int snap_finish(struct snap *db, struct vl_err *err);

/*
 * Whether dir is on a network or cluster filesystem (statfs's f_type: NFS,
 * Lustre, GPFS, CIFS/SMB, CephFS, BeeGFS, AFS, OCFS2, GFS2, Panasas; FUSE
 * too, which carries the network ones without a kernel driver, and tells
 * nothing more). SQLite's WAL keeps its index in a memory-mapped -shm
 * file, which hosts cannot share: on such a filesystem volley.db uses a
 * rollback journal instead (journal_mode=TRUNCATE), set by every writer
 * that opens it, so `volley status` on a login node reads a run that a
 * compute node writes (docs/slurm.md). name gets the filesystem's name
 * ("nfs", "lustre", "local" ...). A statfs that fails: false, "unknown".
 */
bool snap_fs_network(const char *dir, char *name, size_t len);

/* Closes; accepts NULL. Does not touch the spec it points into. */
void snap_close(struct snap *db);

/* The path of the open db ("DIR/volley.db"), for messages. */
const char *snap_path(const struct snap *db);
/* The spec the db was created or restored with. */
const struct spec *snap_spec(const struct snap *db);

/*
 * For `volley status DIR`: the metadata and per-state counts, from a
 * read-only connection, in milliseconds whatever the size of the run (no
 * job rows are read). Works while the run is live.
 */
int snap_info_read(const char *dir, struct snap_info *info, struct vl_err *err);

/*
 * For `volley jobs DIR`: every job in jid order with its name and record,
 * streamed (one chunk of names in memory at a time, whatever njobs is).
 * snap_iter_next returns 1 with *rec and *name filled (name valid until the
 * next call), 0 at the end, or a negative code.
 */
struct snap_iter;
int snap_iter_open(struct snap_iter **out, const char *dir, struct vl_err *err);
int snap_iter_next(struct snap_iter *it, struct snap_job *rec, const char **name,
                   struct vl_err *err);
void snap_iter_close(struct snap_iter *it); /* accepts NULL */

/*
 * The spec's content hash: everything in struct spec except path, over a
 * canonical encoding, so the same workflow hashes the same whatever its
 * string pool layout. ~0.05 s for 1M jobs.
 */
uint64_t snap_spec_hash(const struct spec *s);

#endif /* VOLLEY_PERSIST_SNAP_H */

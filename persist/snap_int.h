/*
 * snap_int.h - inside persist/: what the files of volley.db share.
 *
 *   snap.c          the open handle (struct snap), its connection settings,
 *                   SQLite errors as sentences, checkpoints, close
 *   snap_create.c   the initial snapshot
 *   snap_verify.c   opening a file and checking its run row, counts, options
 *   snap_restore.c  the spec and the records back (snap_open)
 *   snap_iter.c     `volley jobs`' streaming iterator
 *   snap_enc.c      the array encoding of a spec and its content hash
 *   snap_gen.c      the workflow file and the run's generations
 *   snap_act.c      env sets, execution_config, actions and their records
 *   snap_alloc.c    the allocations a run went on in
 *
 * The array encoding (below the connection section) is also used by the
 * tests and bench/persist.
 *
 * A spec's big arrays are stored as "kinds": each kind is an array of items,
 * either fixed-width little-endian numbers or NUL-terminated strings, cut
 * into rows of at most SNAP__ROW_BYTES that never split an item. The order
 * of enum snap__kind is the order in which kinds are hashed: never reorder,
 * only append (and bump SNAP_SCHEMA).
 */
#ifndef VOLLEY_PERSIST_SNAP_INT_H
#define VOLLEY_PERSIST_SNAP_INT_H

#include "persist/snap.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "volley.db arrays are little-endian and copied as is");

/* ---- the connection (snap.c), shared by create, verify, restore, iter ---- */

struct snap {
    sqlite3 *db;
    char *path;   /* DIR/volley.db */
    int schema;   /* of the file opened (snap_open) or created */
    uint32_t gen; /* the run's generation (snap_gen.c) */
    bool netfs;   /* the run directory is on a network filesystem: a rollback journal, not
                     WAL (snap_fs_network) */
    const struct spec *spec;
    uint8_t *state;                /* [njobs] state as of the last commit */
    uint64_t counts[SNAP_NSTATES]; /* as of the last commit */
    uint32_t *cpu_ms;              /* [njobs] each job's user + system ms as of the last
                                      commit (schema >= SNAP_SCHEMA_GOV), for cpu_total */
    uint64_t cpu_total;            /* their sum: governance.cpu_ms */
    sqlite3_stmt *upsert, *count_upd, *run_upd, *cpu_upd;
    struct snap_action *acts; /* [spec->nactions] as of the last write; NULL if none */
};

/* A record's CPU time as governance.cpu_ms sums it: whole ms. */
static inline uint32_t snap__cpu_ms(const struct snap_job *j)
{
    double ms = (j->cpu_user_s + j->cpu_sys_s) * 1e3 + 0.5;
    return ms <= 0 ? 0 : ms >= 4294967295.0 ? UINT32_MAX : (uint32_t)ms;
}

/* Fills err with "<doing, %s = path>: <SQLite's message>" and returns the
 * code (an errno where there is one). doing is a format with one %s,
 * always a literal at the call sites. */
int snap__sql_err(struct vl_err *err, sqlite3 *db, int rc, const char *doing, const char *path);
/* VL_ECORRUPT with "path: what; the file is damaged ..." */
int snap__damaged(struct vl_err *err, const char *path, const char *what);
/* sqlite3_exec without callbacks: a SQLite code. */
int snap__exec_sql(sqlite3 *db, const char *sql);
/* "dir/name", allocated (vl_xasprintf). */
char *snap__join(const char *dir, const char *name);
/* Opens path with flags through the fault-injection VFS (fault.h) and the
 * settings every snapshot connection has (defensive, no triggers, cell
 * size checks): a SQLite code. */
int snap__db_open(const char *path, int flags, sqlite3 **out);
/* The checkpoint settings and statements of d (d->db, d->schema set): a
 * SQLite code. */
int snap__prepare_writer(struct snap *d);
/* Writes record j of spec s with statement st (the upsert or the initial
 * insert) of a file of schema: from 3 st has the column lost (?9), from 4
 * the usage columns (?10-?12: NULL without usage). */
int snap__bind_job(sqlite3_stmt *st, const struct spec *s, const struct snap_job *j, int schema);
/* The SELECT of job rows from a file of schema: jid, state, attempt,
 * exit_code, start_ns, end_ns, log_ref, lost (0 before schema 3), then
 * max_rss_bytes, cpu_user_s, cpu_sys_s (NULL before schema 4); ordered by
 * jid if ordered. */
const char *snap__job_select(int schema, bool ordered);
/* The usage columns at col, col + 1, col + 2 of st's row into j (zero if
 * NULL); false if they are out of range (negative, not finite). */
bool snap__job_usage(sqlite3_stmt *st, int col, struct snap_job *j);
/* 32 hex digits and a NUL of the 16 bytes at id. */
void snap__hex16(char out[33], const uint8_t *id);

/* ---- opening and verifying (snap_verify.c), for restore and iter ---- */

/* Table governance (schema >= SNAP_SCHEMA_GOV) into in->limits,
 * limits_why and cpu_ms; an older file leaves them unset. */
int snap__read_gov(sqlite3 *db, const char *path, int schema, struct snap_info *in,
                   struct vl_err *err);

/* The run row as read; strings owned (snap__run_row_fini). */
struct snap__run_row {
    struct snap_info info;
    char *description;
    uint64_t nfiles, nrr, nfh, nrules, ncodes;
};
void snap__run_row_fini(struct snap__run_row *r);
/* Column i of the current row as text, "" for NULL. */
const char *snap__col_text(sqlite3_stmt *st, int i);
/* Checks that path (in dir) is a volley snapshot this volley can read, and
 * opens it: the file's first bytes, application_id, user_version
 * (*schema). */
int snap__open_checked(const char *dir, const char *path, bool writable, sqlite3 **out, int *schema,
                       struct vl_err *err);
/* The run row, checked for shape and range. */
int snap__read_run(sqlite3 *db, const char *path, struct snap__run_row *r, struct vl_err *err);
/* Table state_count into in->counts, every state once. */
int snap__read_counts(sqlite3 *db, const char *path, struct snap_info *in, struct vl_err *err);
/* The run's options (table run_option, from schema 2): one block holding
 * the array and its strings, each checked with snap_opt_check. */
int snap__read_opts(sqlite3 *db, const char *path, int schema, struct snap_info *in,
                    struct vl_err *err);
/* The workflow file and the current generation (schema 5; before that:
 * none, generation 0) into in->wf, gen, gen_started_ns (after the run row:
 * created_ns set). */
int snap__read_gen(sqlite3 *db, const char *path, int schema, struct snap_info *in,
                   struct vl_err *err);
/* Writes the workflow file (m->wf), the generations and the job history
 * (m->hist, arrays of njobs) into a new file: a SQLite code. */
int snap__write_gen(sqlite3 *db, const struct snap_meta *m, uint32_t njobs);
/* The run's allocations (table allocation, from SNAP_SCHEMA_ALLOC) into in. */
int snap__read_allocs(sqlite3 *db, const char *path, int schema, struct snap_info *in,
                      struct vl_err *err);
/* VL_EMISMATCH unless in is the run or workflow w names (w may be NULL). */
int snap__check_expect(const char *path, const struct snap_info *in, const struct snap_expect *w,
                       struct vl_err *err);

/* ---- the array encoding (snap_enc.c) ---- */

#define SNAP__ROW_BYTES ((size_t)4 << 20) /* 4 MiB: measured in bench/persist */
/* The row size in use: SNAP__ROW_BYTES; tests lower it to cut many rows. */
extern size_t snap__row_bytes;
/* Settings the benchmark compares (bench/persist); the defaults are the
 * measured choices. */
extern int snap__sync_full;     /* checkpoints: 1 synchronous=FULL (default), 0 NORMAL */
extern int64_t snap__cache_kib; /* checkpoint cache; 0: sized to the job table */
extern int snap__page_size;     /* page size of a new volley.db (default 4096) */
extern uint64_t snap__fs_type;  /* 0: statfs's f_type; else this one (tests: NFS here) */
extern int snap__prefault;      /* restore pre-faults its big arrays (default 1) */
#define SNAP__APP_ID 0x566c4442 /* PRAGMA application_id: "VlDB" */

enum snap__kind {
    SNAP__JOB_NAME,      /* str, njobs */
    SNAP__JOB_CMD,       /* str, njobs */
    SNAP__JOB_NPAR,      /* u32, njobs: in-degree (the iterator needs it) */
    SNAP__JOB_NKIDS,     /* u32, njobs: out-degree, kid_off's differences */
    SNAP__JOB_KIDS,      /* u32, nedges */
    SNAP__JOB_RR,        /* u16, njobs */
    SNAP__JOB_FH,        /* u16, njobs */
    SNAP__JOB_FLAGS,     /* u8, njobs */
    SNAP__JOB_NINS,      /* u32, njobs if nfiles else 0 */
    SNAP__JOB_INS,       /* u32 */
    SNAP__JOB_NOUTS,     /* u32, njobs if nfiles else 0 */
    SNAP__JOB_OUTS,      /* u32 */
    SNAP__FILE_NAME,     /* str, nfiles */
    SNAP__FILE_PATH,     /* str, nfiles */
    SNAP__FILE_PRODUCER, /* u32, nfiles */
    SNAP__FILE_FLAGS,    /* u32, nfiles */
    /* from SNAP_SCHEMA_EXEC on (an earlier file has no row: read as 0 items);
       hashed only when they have items, so a spec without them keeps the
       hash an earlier schema gave it (snap__kind_optional) */
    SNAP__JOB_ENV,  /* u32, njobs if jobs have env sets of their own, else 0 */
    SNAP__ENV_KV,   /* str, nenvkv: "KEY=VALUE" of every env set */
    SNAP__ACT_CMD,  /* str, nact_cmds: the actions' commands */
    SNAP__ACT_JOBS, /* u32, nact_jobs: the jobs of on_jobs_* actions */
    SNAP__JOB_PRIO, /* i32, njobs if the spec has priorities else 0 (from
                       SNAP_SCHEMA_PRIO on) */
    SNAP__NKINDS
};

/* True for the kinds an older schema does not have (and that are not
 * hashed when empty). */
static inline bool snap__kind_optional(int k)
{
    return k >= SNAP__JOB_ENV;
}

/* The first schema that has kind k. */
static inline int snap__kind_since(int k)
{
    return k >= SNAP__JOB_PRIO ? SNAP_SCHEMA_PRIO : k >= SNAP__JOB_ENV ? SNAP_SCHEMA_EXEC : 1;
}

struct snap__kind_desc {
    const char *name; /* spec_array.kind and spec_chunk.kind */
    unsigned width;   /* bytes per item; 0: NUL-terminated strings */
};
extern const struct snap__kind_desc snap__kinds[SNAP__NKINDS];

/* Items of kind k in spec s. */
uint64_t snap__kind_items(const struct spec *s, int k);

/* A streaming 64-bit hash (4 lanes of multiply-rotate, 32-byte stripes). */
struct snap__hash {
    uint64_t v[4];
    uint64_t total;
    uint8_t buf[32];
    unsigned nbuf;
};
void snap__hash_init(struct snap__hash *h);
void snap__hash_add(struct snap__hash *h, const void *data, size_t len);
void snap__hash_u64(struct snap__hash *h, uint64_t v);
uint64_t snap__hash_end(const struct snap__hash *h);

/* The trailer hashed after kind k's payload. */
void snap__hash_kind_end(struct snap__hash *h, int k, uint64_t items, uint64_t bytes);
/* Hashes what is not in kinds: the small tables and name/description. */
void snap__hash_rest(struct snap__hash *h, const struct spec *s);

/* Receives one row of kind k: items [first, first + count), len bytes. */
typedef int (*snap__sink)(void *ctx, int k, uint64_t seq, uint64_t first, uint64_t count,
                          const void *data, size_t len);

/*
 * Cuts every kind of s into rows, in kind order, hashing each (payload,
 * then trailer) into h, and hands each row to sink (may be NULL: hash
 * only). bytes[k] gets each kind's payload size. Returns 0 or the sink's
 * first error. Allocates one row buffer.
 */
int snap__encode(const struct spec *s, struct snap__hash *h, snap__sink sink, void *ctx,
                 uint64_t bytes[SNAP__NKINDS]);

/* ---- env, execution_config and actions (snap_act.c) ---- */

/* The tables SNAP_SCHEMA_EXEC adds (create). */
extern const char snap__exec_schema_sql[];
/* Writes the env sets, the execution_config and the actions of s (create):
 * a SQLite code. */
int snap__write_exec(sqlite3 *db, const struct spec *s);
/* Reads them into s (restore), for a file of schema; the counts of the
 * arrays they index (nenvkv, nact_cmds, nact_jobs) are set already. 0 or a
 * code with err. */
int snap__read_exec(sqlite3 *db, const char *path, int schema, struct spec *s, struct vl_err *err);
/* The action records of d (d->spec and d->schema set): d->acts. */
int snap__read_actions(struct snap *d, struct vl_err *err);
/* Hashes what snap__write_exec stores, only what is there (an older spec
 * keeps its hash). */
void snap__hash_exec(struct snap__hash *h, const struct spec *s);

#endif /* VOLLEY_PERSIST_SNAP_INT_H */

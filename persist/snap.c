/*
 * snap.c - DIR/volley.db: create (the initial snapshot), restore, one
 * checkpoint transaction, the status read and the job iterator (see snap.h
 * for the contract and docs/persistence.md for the schema and numbers).
 *
 * Create writes DIR/volley.db.tmp with journal_mode=OFF and
 * synchronous=OFF (a half-written temporary file is simply deleted, so a
 * journal would only double the writes), switches it to WAL, fsyncs it and
 * renames it into place: the snapshot appears whole or not at all. Measured
 * on this VM, writing the spec's bytes costs ~3.5 ns per byte (page faults
 * on fresh cache memory dominate, ~12 us per 4 KiB page), so the encoding
 * keeps the bytes per job low rather than the rows few.
 *
 * Restore trusts nothing it reads: sizes come from the blobs actually
 * present (bounded by the file's size) before anything is allocated, every
 * row's item count is checked against its bytes, the content hash is
 * recomputed from the bytes read, then spec_check and a name-uniqueness
 * check run on the rebuilt spec. The fuzz target feeds it arbitrary files.
 * Defensive SQLite settings (trusted_schema off, cell size checks) keep a
 * crafted file from running triggers or views of its own.
 */
#include "snap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"
#include "snap_int.h"

static const char *const state_names[SNAP_NSTATES] = {
    "blocked", "ready", "running", "completed", "failed", "terminated", "canceled",
};

const char *snap_state_name(unsigned state)
{
    return state < SNAP_NSTATES ? state_names[state] : NULL;
}

int snap_state_parse(const char *name)
{
    for (int i = 0; i < SNAP_NSTATES; i++)
        if (name && strcmp(name, state_names[i]) == 0)
            return i;
    return -1;
}

struct snap {
    sqlite3 *db;
    char *path; /* DIR/volley.db */
    int schema; /* of the file opened (snap_open) or created */
    const struct spec *spec;
    uint8_t *state;                /* [njobs] state as of the last commit */
    uint64_t counts[SNAP_NSTATES]; /* as of the last commit */
    sqlite3_stmt *upsert, *count_upd, *run_upd;
};

/* ---- SQLite helpers ---- */

/* A negative code for a SQLite result: errno where there is one. */
static int sql_code(sqlite3 *db, int rc)
{
    int e;
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return VL_ECORRUPT;
    case SQLITE_IOERR:
        return rc == SQLITE_IOERR_SHORT_READ ? VL_ECORRUPT : -EIO;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        e = db ? sqlite3_system_errno(db) : 0;
        return e > 0 ? -e : -EACCES;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_TOOBIG:
        return VL_ETOOBIG;
    default:
        return -EIO;
    }
}

/* Fills err with "<doing, %s = path>: <SQLite's message>" and returns the
 * code. doing is a format with one %s, always a literal at the call sites. */
static int sql_err(struct vl_err *err, sqlite3 *db, int rc, const char *doing, const char *path)
{
    int code = sql_code(db, rc);
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    char what[VL_ERR_MSG / 2];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(what, sizeof what, doing, path);
#pragma GCC diagnostic pop
    if (code == VL_ECORRUPT)
        return vl_err_set(err, code,
                          "%s: %s: the file is damaged; this run cannot be resumed from "
                          "it (start the workflow again with `volley run`)",
                          what, msg);
    if (code == -ENOSPC)
        return vl_err_set(err, code, "%s: %s: free some space and try again", what, msg);
    return vl_err_set(err, code, "%s: %s", what, msg);
}

static int damaged(struct vl_err *err, const char *path, const char *what)
{
    return vl_err_set(err, VL_ECORRUPT,
                      "%s: %s; the file is damaged and this run cannot be resumed from it "
                      "(start the workflow again with `volley run`)",
                      path, what);
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static char *join(const char *dir, const char *name)
{
    return vl_xasprintf("%s/%s", dir, name);
}

static const char schema_sql[] =
    "CREATE TABLE run("
    " one INTEGER PRIMARY KEY CHECK (one = 1), schema INTEGER NOT NULL, volley TEXT NOT NULL,"
    " run_id BLOB NOT NULL, created_ns INTEGER NOT NULL, cwd TEXT NOT NULL,"
    " boot_id TEXT NOT NULL, spec_hash TEXT NOT NULL, workflow TEXT NOT NULL,"
    " description TEXT, source TEXT, njobs INTEGER NOT NULL, nedges INTEGER NOT NULL,"
    " nfiles INTEGER NOT NULL, nrr INTEGER NOT NULL, nfh INTEGER NOT NULL,"
    " nrules INTEGER NOT NULL, ncodes INTEGER NOT NULL, checkpoints INTEGER NOT NULL,"
    " checkpoint_ns INTEGER NOT NULL, finished_ns INTEGER NOT NULL);"
    "CREATE TABLE spec_array(kind TEXT PRIMARY KEY, width INTEGER NOT NULL,"
    " items INTEGER NOT NULL, bytes INTEGER NOT NULL);"
    "CREATE TABLE spec_chunk(kind TEXT NOT NULL, seq INTEGER NOT NULL, first INTEGER NOT NULL,"
    " items INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (kind, seq));"
    "CREATE TABLE resource_class(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " num_cpus INTEGER NOT NULL, num_gpus INTEGER NOT NULL, num_nodes INTEGER NOT NULL,"
    " memory_bytes INTEGER NOT NULL, runtime_ms INTEGER NOT NULL);"
    "CREATE TABLE failure_handler(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " rule_first INTEGER NOT NULL, nrules INTEGER NOT NULL);"
    "CREATE TABLE failure_rule(id INTEGER PRIMARY KEY, code_first INTEGER NOT NULL,"
    " ncodes INTEGER NOT NULL, max_retries INTEGER NOT NULL, flags INTEGER NOT NULL,"
    " recovery_script TEXT);"
    "CREATE TABLE rule_code(id INTEGER PRIMARY KEY, code INTEGER NOT NULL);"
    "CREATE TABLE state_count(state INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " jobs INTEGER NOT NULL);"
    "CREATE TABLE job(jid INTEGER PRIMARY KEY, name TEXT NOT NULL, state INTEGER NOT NULL,"
    " attempt INTEGER NOT NULL, exit_code INTEGER NOT NULL, start_ns INTEGER NOT NULL,"
    " end_ns INTEGER NOT NULL, log_ref INTEGER NOT NULL, lost INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE run_option(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE VIEW jobs AS SELECT j.jid, j.name, c.name AS state, j.attempt, j.exit_code,"
    " CASE WHEN j.start_ns > 0 THEN strftime('%Y-%m-%dT%H:%M:%fZ', j.start_ns / 1e9,"
    " 'unixepoch') END AS started,"
    " CASE WHEN j.end_ns > 0 THEN strftime('%Y-%m-%dT%H:%M:%fZ', j.end_ns / 1e9,"
    " 'unixepoch') END AS ended,"
    " CASE WHEN j.end_ns >= j.start_ns AND j.start_ns > 0 THEN (j.end_ns - j.start_ns) / 1e9"
    " END AS seconds, j.log_ref FROM job j JOIN state_count c ON c.state = j.state;";

/* Settings of every connection that reads or writes a snapshot. */
static int conn_setup(sqlite3 *db)
{
    sqlite3_extended_result_codes(db, 1);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
    sqlite3_busy_timeout(db, 2000);
    return exec_sql(db, "PRAGMA cell_size_check=ON");
}

static int db_open(const char *path, int flags, sqlite3 **out)
{
    int rc;
    const char *vfs = fault_vfs(&rc);
    if (!vfs) {
        *out = NULL;
        return rc;
    }
    rc = sqlite3_open_v2(path, out, flags | SQLITE_OPEN_NOMUTEX, vfs);
    if (rc == SQLITE_OK)
        rc = conn_setup(*out);
    return rc;
}

/* Cache for checkpoints: the job table's working set (~64 B a row), within
 * [8 MiB, 256 MiB]; research/platform-probe.md section 6 measured random
 * updates 2.5x faster once the cache holds the working set. */
static int64_t cache_kib(uint32_t njobs)
{
    uint64_t kib = (uint64_t)njobs * 64 / 1024;
    return (int64_t)VL_MAX(8192, VL_MIN(kib, 262144));
}

int snap__sync_full = 1;
int64_t snap__cache_kib = 0;
int snap__page_size = 4096;

static int prepare_writer(struct snap *d)
{
    char sql[160];
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s; PRAGMA cache_size=-%" PRId64,
             snap__sync_full ? "FULL" : "NORMAL",
             snap__cache_kib ? snap__cache_kib : cache_kib(d->spec->njobs));
    int rc = exec_sql(d->db, sql);
    if (rc == SQLITE_OK && d->schema >= 3)
        rc = sqlite3_prepare_v2(
            d->db,
            "INSERT INTO job VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT(jid) DO UPDATE SET"
            " state=excluded.state, attempt=excluded.attempt, exit_code=excluded.exit_code,"
            " start_ns=excluded.start_ns, end_ns=excluded.end_ns, log_ref=excluded.log_ref,"
            " lost=excluded.lost",
            -1, &d->upsert, NULL);
    else if (rc == SQLITE_OK) /* an older file: no column lost */
        rc = sqlite3_prepare_v2(
            d->db,
            "INSERT INTO job(jid, name, state, attempt, exit_code, start_ns, end_ns, log_ref)"
            " VALUES(?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT(jid) DO UPDATE SET"
            " state=excluded.state, attempt=excluded.attempt, exit_code=excluded.exit_code,"
            " start_ns=excluded.start_ns, end_ns=excluded.end_ns, log_ref=excluded.log_ref",
            -1, &d->upsert, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(d->db, "UPDATE state_count SET jobs = ?2 WHERE state = ?1", -1,
                                &d->count_upd, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(d->db,
                                "UPDATE run SET checkpoints = checkpoints + 1, checkpoint_ns = ?1",
                                -1, &d->run_upd, NULL);
    return rc;
}

void snap_close(struct snap *d)
{
    if (!d)
        return;
    sqlite3_finalize(d->upsert);
    sqlite3_finalize(d->count_upd);
    sqlite3_finalize(d->run_upd);
    sqlite3_close(d->db);
    free(d->path);
    free(d->state);
    free(d);
}

const char *snap_path(const struct snap *d)
{
    return d->path;
}

const struct spec *snap_spec(const struct snap *d)
{
    return d->spec;
}

/* ---- create ---- */

struct wctx {
    sqlite3 *db;
    sqlite3_stmt *chunk;
};

static int sink_row(void *ctx, int k, uint64_t seq, uint64_t first, uint64_t count,
                    const void *data, size_t len)
{
    struct wctx *w = ctx;
    sqlite3_stmt *st = w->chunk;
    sqlite3_bind_text(st, 1, snap__kinds[k].name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)first);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)count);
    sqlite3_bind_blob64(st, 5, data, len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : rc;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void hex16(char out[33], const uint8_t *id)
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* One statement per small-table row; rc is a SQLite code. */
static int write_small(sqlite3 *db, const struct spec *s)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "INSERT INTO resource_class VALUES(?,?,?,?,?,?,?)", -1, &st, NULL);
    for (uint32_t i = 0; i < s->nrr && rc == SQLITE_OK; i++) {
        const struct spec_rr *r = &s->rrs[i];
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_text(st, 2, spec_str(s, r->name_off), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, r->num_cpus);
        sqlite3_bind_int64(st, 4, r->num_gpus);
        sqlite3_bind_int64(st, 5, r->num_nodes);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)r->memory_bytes);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)r->runtime_ms);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO failure_handler VALUES(?,?,?,?)", -1, &st, NULL);
    for (uint32_t i = 0; i < s->nfh && rc == SQLITE_OK; i++) {
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_text(st, 2, spec_str(s, s->fhs[i].name_off), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, s->fhs[i].rule_first);
        sqlite3_bind_int64(st, 4, s->fhs[i].nrules);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO failure_rule VALUES(?,?,?,?,?,?)", -1, &st, NULL);
    for (uint32_t i = 0; i < s->nrules && rc == SQLITE_OK; i++) {
        const struct spec_rule *r = &s->rules[i];
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_int64(st, 2, r->code_first);
        sqlite3_bind_int64(st, 3, r->ncodes);
        sqlite3_bind_int64(st, 4, r->max_retries);
        sqlite3_bind_int64(st, 5, r->flags);
        bind_opt_text(st, 6, r->script_off == SPEC_NO_STR ? NULL : s->pool + r->script_off);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO rule_code VALUES(?,?)", -1, &st, NULL);
    for (uint32_t i = 0; i < s->ncodes && rc == SQLITE_OK; i++) {
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_int64(st, 2, s->codes[i]);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int write_run(sqlite3 *db, const struct spec *s, const struct snap_meta *m, uint64_t hash)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db, "INSERT INTO run VALUES(1,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,?,0)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    char hx[17];
    snprintf(hx, sizeof hx, "%016" PRIx64, hash);
    int i = 1;
    sqlite3_bind_int(st, i++, SNAP_SCHEMA);
    sqlite3_bind_text(st, i++, VL_VERSION, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, i++, m->run_id, 16, SQLITE_STATIC);
    sqlite3_bind_int64(st, i++, (sqlite3_int64)m->created_ns);
    sqlite3_bind_text(st, i++, m->cwd ? m->cwd : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, i++, m->boot_id, (int)strnlen(m->boot_id, 36), SQLITE_STATIC);
    sqlite3_bind_text(st, i++, hx, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, i++, s->name, -1, SQLITE_STATIC);
    bind_opt_text(st, i++, s->description);
    bind_opt_text(st, i++, s->path);
    sqlite3_bind_int64(st, i++, s->njobs);
    sqlite3_bind_int64(st, i++, (sqlite3_int64)s->nedges);
    sqlite3_bind_int64(st, i++, s->nfiles);
    sqlite3_bind_int64(st, i++, s->nrr);
    sqlite3_bind_int64(st, i++, s->nfh);
    sqlite3_bind_int64(st, i++, s->nrules);
    sqlite3_bind_int64(st, i++, s->ncodes);
    sqlite3_bind_int64(st, i++, (sqlite3_int64)m->created_ns);
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    return rc;
}

bool snap_opt_check(const char *name, const char *value)
{
    if (!name || !value || !*name || !*value || strlen(name) > SNAP_OPT_NAME_MAX ||
        strlen(value) > SNAP_OPT_VALUE_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* The run's options, one row each, in the order given (rowid). */
static int write_opts(sqlite3 *db, const struct snap_meta *m)
{
    if (!m->nopts)
        return SQLITE_OK;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO run_option VALUES(?,?)", -1, &st, NULL);
    for (uint32_t i = 0; i < m->nopts && rc == SQLITE_OK; i++) {
        sqlite3_bind_text(st, 1, m->opts[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, m->opts[i].value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int write_arrays_meta(sqlite3 *db, const struct spec *s, const uint64_t *bytes)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO spec_array VALUES(?,?,?,?)", -1, &st, NULL);
    for (int k = 0; k < SNAP__NKINDS && rc == SQLITE_OK; k++) {
        sqlite3_bind_text(st, 1, snap__kinds[k].name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, (int)snap__kinds[k].width);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)snap__kind_items(s, k));
        sqlite3_bind_int64(st, 4, (sqlite3_int64)bytes[k]);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static bool job_is_initial(const struct spec *s, const struct snap_job *j)
{
    struct snap_job d;
    snap_job_init(s, j->jid, &d);
    return j->state == d.state && j->attempt == 0 && j->exit_code == 0 && j->start_ns == 0 &&
           j->end_ns == 0 && j->log_ref == d.log_ref && j->lost == 0;
}

/* lost: the statement has the column lost (?9): schema 3 and later */
static int bind_job(sqlite3_stmt *st, const struct spec *s, const struct snap_job *j, bool lost)
{
    sqlite3_bind_int64(st, 1, j->jid);
    sqlite3_bind_text(st, 2, spec_job_name(s, j->jid), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, j->state);
    sqlite3_bind_int64(st, 4, j->attempt);
    sqlite3_bind_int(st, 5, j->exit_code);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)j->start_ns);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)j->end_ns);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)j->log_ref); /* SNAP_NO_LOG reads as -1 */
    if (lost)
        sqlite3_bind_int(st, 9, j->lost);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The initial job rows and counts; fills state[] (njobs). */
static int write_jobs_initial(sqlite3 *db, const struct spec *s, const struct snap_job *jobs,
                              uint8_t *state, uint64_t *counts)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO job VALUES(?,?,?,?,?,?,?,?,?)", -1, &st, NULL);
    for (uint32_t j = 0; j < s->njobs && rc == SQLITE_OK; j++) {
        uint8_t st8 = s->npar[j] ? SNAP_STATE_BLOCKED : SNAP_STATE_READY;
        if (jobs) {
            st8 = jobs[j].state;
            if (!job_is_initial(s, &jobs[j]))
                rc = bind_job(st, s, &jobs[j], true);
        }
        state[j] = st8;
        counts[st8]++;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO state_count VALUES(?,?,?)", -1, &st, NULL);
    for (int i = 0; i < SNAP_NSTATES && rc == SQLITE_OK; i++) {
        sqlite3_bind_int(st, 1, i);
        sqlite3_bind_text(st, 2, state_names[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)counts[i]);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fault_fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* With SNAP_REPLACE: fold the old db's WAL into it and drop -wal/-shm, so
 * the renamed file never meets a stale WAL. A damaged old file has nothing
 * to fold. */
static void retire_old(const char *path)
{
    sqlite3 *db = NULL;
    if (db_open(path, SQLITE_OPEN_READWRITE, &db) == SQLITE_OK)
        exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    char *p = vl_xasprintf("%s-wal", path);
    unlink(p);
    free(p);
    p = vl_xasprintf("%s-shm", path);
    unlink(p);
    free(p);
}

int snap_create(struct snap **out, const char *dir, const struct spec *s,
                const struct snap_meta *meta, const struct snap_job *jobs, unsigned flags,
                struct vl_err *err)
{
    *out = NULL;
    struct snap *d = vl_xcalloc(1, sizeof *d);
    d->path = join(dir, RUNDIR_DB);
    d->schema = SNAP_SCHEMA;
    d->spec = s;
    char *tmp = join(dir, RUNDIR_DB_TMP);
    sqlite3 *db = NULL;
    int code = 0, rc;
    struct stat sb;

    if (stat(dir, &sb) != 0) {
        code = vl_err_sys(err, -errno, "cannot create a snapshot in run directory %s", dir);
        goto fail;
    }
    if (!S_ISDIR(sb.st_mode)) {
        code = vl_err_set(err, -ENOTDIR, "cannot create a snapshot in %s: not a directory", dir);
        goto fail;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        code = vl_err_sys(err, -errno, "cannot create %s (the run directory must be writable)",
                          d->path);
        goto fail;
    }
    if (!(flags & SNAP_REPLACE) && lstat(d->path, &sb) == 0) {
        code = vl_err_set(err, -EEXIST,
                          "%s already exists: resume that run with `volley resume %s`, or "
                          "choose another run directory",
                          d->path, dir);
        goto fail;
    }
    if (jobs)
        for (uint32_t j = 0; j < s->njobs; j++)
            if (jobs[j].jid != j || jobs[j].state >= SNAP_NSTATES) {
                code = vl_err_set(err, -EINVAL, "initial record %" PRIu32 " is invalid", j);
                goto fail;
            }
    if (meta->nopts > SNAP_MAX_OPTS || (meta->nopts && !meta->opts)) {
        code = vl_err_set(err, -EINVAL, "%" PRIu32 " run options are too many (at most %d)",
                          meta->nopts, SNAP_MAX_OPTS);
        goto fail;
    }
    for (uint32_t i = 0; i < meta->nopts; i++) {
        const struct snap_opt *o = &meta->opts[i];
        bool bad = !snap_opt_check(o->name, o->value), dup = false;
        for (uint32_t k = 0; k < i && !bad && !dup; k++)
            dup = !strcmp(meta->opts[k].name, o->name);
        if (bad || dup) {
            code = vl_err_set(err, -EINVAL, "run option %" PRIu32 " ('%s') is invalid%s", i,
                              o->name ? o->name : "(null)", dup ? ": given twice" : "");
            goto fail;
        }
    }
    d->state = vl_alloc_array(s->njobs, 1, false, "the checkpoint state table", err);
    if (!d->state) {
        code = err ? err->code : VL_ETOOBIG;
        goto fail;
    }
    unlink(tmp); /* a stale one from a crash during an earlier create */
    rc = db_open(tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &db);
    char pragmas[200];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA page_size=%d; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
             " PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-65536;",
             snap__page_size);
    if (rc == SQLITE_OK)
        rc = exec_sql(db, pragmas);
    if (rc != SQLITE_OK) {
        code = sql_err(err, db, rc, "cannot create %s", tmp);
        goto fail;
    }
    char app[96];
    snprintf(app, sizeof app, "PRAGMA application_id=%d; PRAGMA user_version=%d;", SNAP__APP_ID,
             SNAP_SCHEMA);
    rc = exec_sql(db, "BEGIN");
    if (rc == SQLITE_OK)
        rc = exec_sql(db, app);
    if (rc == SQLITE_OK)
        rc = exec_sql(db, schema_sql);

    struct wctx w = {.db = db};
    uint64_t bytes[SNAP__NKINDS] = {0};
    struct snap__hash h;
    snap__hash_init(&h);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO spec_chunk VALUES(?,?,?,?,?)", -1, &w.chunk, NULL);
    if (rc == SQLITE_OK) {
        int erc = snap__encode(s, &h, sink_row, &w, bytes);
        if (erc == -ENOMEM || erc == VL_ETOOBIG) {
            code = vl_err_set(err, erc, "cannot encode the workflow for %s: %s", d->path,
                              vl_strerror(erc));
            sqlite3_finalize(w.chunk);
            goto fail;
        }
        rc = erc ? erc : SQLITE_OK;
    }
    sqlite3_finalize(w.chunk);
    snap__hash_rest(&h, s);
    uint64_t hash = snap__hash_end(&h);
    if (rc == SQLITE_OK)
        rc = write_arrays_meta(db, s, bytes);
    if (rc == SQLITE_OK)
        rc = write_small(db, s);
    if (rc == SQLITE_OK)
        rc = write_run(db, s, meta, hash);
    if (rc == SQLITE_OK)
        rc = write_opts(db, meta);
    if (rc == SQLITE_OK)
        rc = write_jobs_initial(db, s, jobs, d->state, d->counts);
    if (rc == SQLITE_OK)
        rc = exec_sql(db, "COMMIT");
    /* WAL from here on: set in the header now, so the renamed file needs no
     * further write before its first checkpoint. */
    if (rc == SQLITE_OK)
        rc = exec_sql(db, "PRAGMA journal_mode=WAL");
    if (rc != SQLITE_OK) {
        code = sql_err(err, db, rc, "cannot write the initial snapshot %s", d->path);
        goto fail;
    }
    rc = sqlite3_close(db);
    db = NULL;
    if (rc != SQLITE_OK) {
        code = sql_err(err, NULL, rc, "cannot write the initial snapshot %s", d->path);
        goto fail;
    }
    if ((code = fsync_path(tmp, false)) != 0) {
        vl_err_sys(err, code, "cannot sync the initial snapshot %s", tmp);
        goto fail;
    }
    if (flags & SNAP_REPLACE)
        retire_old(d->path);
    if (fault_rename(tmp, d->path, (flags & SNAP_REPLACE) ? 0 : RENAME_NOREPLACE) != 0) {
        code = -errno;
        if (code == -EEXIST)
            vl_err_set(err, code, "%s already exists: resume that run with `volley resume %s`",
                       d->path, dir);
        else
            vl_err_sys(err, code, "cannot move the initial snapshot into place as %s", d->path);
        goto fail;
    }
    /* From here volley.db is complete; a failure below leaves it for a resume. */
    if ((code = fsync_path(dir, true)) != 0) {
        vl_err_sys(err, code, "cannot sync run directory %s after writing %s", dir, d->path);
        goto fail_after;
    }
    rc = db_open(d->path, SQLITE_OPEN_READWRITE, &d->db);
    if (rc == SQLITE_OK)
        rc = prepare_writer(d);
    if (rc != SQLITE_OK) {
        code = sql_err(err, d->db, rc, "cannot open %s", d->path);
        goto fail_after;
    }
    free(tmp);
    *out = d;
    return 0;

fail:
    sqlite3_close(db);
    unlink(tmp);
fail_after:
    free(tmp);
    snap_close(d);
    return code;
}

/* ---- one checkpoint ---- */

/* Ends the write transaction begun with BEGIN IMMEDIATE: COMMIT if rc
 * (of the statements in it) is SQLITE_OK, else, or if the commit fails,
 * ROLLBACK and err from doing (one %s: the file). 0 when committed. */
static int commit(struct snap *d, int rc, const char *doing, struct vl_err *err)
{
    if (rc == SQLITE_OK)
        rc = exec_sql(d->db, "COMMIT");
    if (rc == SQLITE_OK)
        return 0;
    int code = sql_err(err, d->db, rc, doing, d->path);
    if (!sqlite3_get_autocommit(d->db))
        exec_sql(d->db, "ROLLBACK");
    return code;
}

int snap_set_opts(struct snap *d, const struct snap_opt *opts, uint32_t n, struct vl_err *err)
{
    for (uint32_t i = 0; i < n; i++)
        if (!snap_opt_check(opts[i].name, opts[i].value))
            return vl_err_set(err, -EINVAL, "run option %u (%s) cannot be stored", i,
                              opts[i].name ? opts[i].name : "no name");
    if (!n || d->schema < 2)
        return 0; /* a schema-1 file has no run_option table: left as it is */
    sqlite3_stmt *st = NULL;
    int rc = exec_sql(d->db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(d->db,
                                "INSERT INTO run_option VALUES(?1,?2) "
                                "ON CONFLICT(name) DO UPDATE SET value = ?2",
                                -1, &st, NULL);
    for (uint32_t i = 0; i < n && rc == SQLITE_OK; i++) {
        sqlite3_bind_text(st, 1, opts[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, opts[i].value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return commit(d, rc, "cannot store the run's options in %s", err);
}

int snap_write_jobs(struct snap *d, const struct snap_job *jobs, size_t n, struct vl_err *err)
{
    const struct spec *s = d->spec;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].jid >= s->njobs || jobs[i].state >= SNAP_NSTATES)
            return vl_err_set(err, -EINVAL,
                              "checkpoint record %zu: job %" PRIu32 " state %u is out of range", i,
                              jobs[i].jid, jobs[i].state);
    uint8_t *undo = vl_alloc_array(n, 1, false, "a checkpoint", err);
    if (!undo)
        return err ? err->code : VL_ETOOBIG;
    int64_t delta[SNAP_NSTATES] = {0};
    size_t done = 0;
    int rc = exec_sql(d->db, "BEGIN IMMEDIATE");
    for (; done < n && rc == SQLITE_OK; done++) {
        const struct snap_job *j = &jobs[done];
        rc = bind_job(d->upsert, s, j, d->schema >= 3);
        undo[done] = d->state[j->jid];
        delta[d->state[j->jid]]--;
        delta[j->state]++;
        d->state[j->jid] = j->state;
    }
    for (int i = 0; i < SNAP_NSTATES && rc == SQLITE_OK; i++) {
        if (!delta[i])
            continue;
        sqlite3_bind_int(d->count_upd, 1, i);
        sqlite3_bind_int64(d->count_upd, 2, (sqlite3_int64)(d->counts[i] + (uint64_t)delta[i]));
        rc = sqlite3_step(d->count_upd) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
        sqlite3_reset(d->count_upd);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(d->run_upd, 1, (sqlite3_int64)vl_wall_ns());
        rc = sqlite3_step(d->run_upd) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
        sqlite3_reset(d->run_upd);
    }
    int code = commit(d, rc, "checkpoint to %s failed", err);
    if (code) {
        while (done-- > 0)
            d->state[jobs[done].jid] = undo[done];
        free(undo);
        return code;
    }
    for (int i = 0; i < SNAP_NSTATES; i++)
        d->counts[i] += (uint64_t)delta[i];
    free(undo);
    return 0;
}

int snap_finish(struct snap *d, struct vl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(d->db, "UPDATE run SET finished_ns = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)vl_wall_ns());
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = exec_sql(d->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (rc != SQLITE_OK)
        return sql_err(err, d->db, rc, "cannot write the final snapshot to %s", d->path);
    return 0;
}

/* ---- opening and verifying ---- */

/* The run row as read; strings owned. */
struct run_row {
    struct snap_info info;
    char *description;
    uint64_t nfiles, nrr, nfh, nrules, ncodes;
};

static void run_row_fini(struct run_row *r)
{
    snap_info_fini(&r->info);
    free(r->description);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static char *col_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? vl_xstrdup((const char *)t) : NULL;
}

/*
 * Checks that path is a volley snapshot this volley can read, and opens it:
 * the file's first bytes, application_id, user_version (*schema).
 */
static int open_checked(const char *dir, const char *path, bool writable, sqlite3 **out,
                        int *schema, struct vl_err *err)
{
    *out = NULL;
    *schema = 0;
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return vl_err_sys(err, -errno, "cannot open run directory %s", dir);
    if (!S_ISDIR(sb.st_mode))
        return vl_err_set(err, VL_ENOTRUN, "%s is not a directory: give the run directory", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return vl_err_set(err, VL_ENOTRUN,
                              "%s is not a volley run directory: it has no %s (start a run "
                              "with `volley run WORKFLOW --run-dir %s`)",
                              dir, RUNDIR_DB, dir);
        return vl_err_sys(err, -errno, "cannot open %s", path);
    }
    char head[16];
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    if (n != (ssize_t)sizeof head || memcmp(head, "SQLite format 3", 16) != 0)
        return vl_err_set(err, VL_ECORRUPT,
                          "%s is not a SQLite database (%s): it was truncated or overwritten; "
                          "this run cannot be resumed from it (start the workflow again with "
                          "`volley run`)",
                          path, n <= 0 ? "empty" : "wrong header");
    int rc = db_open(path, writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, out);
    if (rc != SQLITE_OK) {
        int code = sql_err(err, *out, rc, "cannot open %s", path);
        if (code == -EROFS || code == -EACCES || code == -EPERM)
            vl_err_set(err, code,
                       "cannot open %s for writing: %s (the run directory must be writable "
                       "to resume the run)",
                       path, sqlite3_errmsg(*out));
        sqlite3_close(*out);
        *out = NULL;
        return code;
    }
    sqlite3_stmt *st = NULL;
    int64_t app = 0, ver = 0;
    rc = sqlite3_prepare_v2(*out, "PRAGMA application_id", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        app = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(*out, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ver = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    int code = 0;
    if (rc != SQLITE_OK) {
        code = sql_err(err, *out, rc, "cannot read %s", path);
        if (code == -EROFS || code == -EACCES)
            vl_err_set(err, code,
                       "cannot read %s: %s (the run directory must be writable: SQLite "
                       "needs to create %s-shm next to it)",
                       path, sqlite3_errmsg(*out), RUNDIR_DB);
    } else if (app != SNAP__APP_ID)
        code = vl_err_set(err, VL_ENOTRUN,
                          "%s is a SQLite database but not a volley snapshot (application id "
                          "%" PRId64 "): this is not a volley run directory",
                          path, app);
    else if (ver > SNAP_SCHEMA)
        code = vl_err_set(err, VL_EVERSION,
                          "%s was written by a newer volley (schema %" PRId64
                          ", this volley reads schema %d): use that volley to resume it",
                          path, ver, SNAP_SCHEMA);
    else if (ver < 1)
        code = vl_err_set(err, VL_ECORRUPT,
                          "%s has no schema version: the file is damaged; this run cannot be "
                          "resumed from it",
                          path);
    if (code) {
        sqlite3_close(*out);
        *out = NULL;
    } else {
        *schema = (int)ver;
    }
    return code;
}

static int read_run(sqlite3 *db, const char *path, struct run_row *r, struct vl_err *err)
{
    memset(r, 0, sizeof *r);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db,
        "SELECT schema, run_id, created_ns, cwd, boot_id, spec_hash, workflow, description,"
        " source, njobs, nedges, nfiles, nrr, nfh, nrules, ncodes, checkpoints, checkpoint_ns,"
        " finished_ns FROM run WHERE one = 1",
        -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE || rc == SQLITE_ERROR)
            return vl_err_set(err, VL_ECORRUPT,
                              "%s has no run record: the file is damaged; this run cannot be "
                              "resumed from it",
                              path);
        return sql_err(err, db, rc, "cannot read %s", path);
    }
    struct snap_info *in = &r->info;
    int code = 0;
    const char *hx = (const char *)sqlite3_column_text(st, 5);
    const char *boot = (const char *)sqlite3_column_text(st, 4);
    int64_t v[10];
    for (int i = 0; i < 7; i++)
        v[i] = sqlite3_column_int64(st, 9 + i);
    in->schema = (uint32_t)sqlite3_column_int(st, 0);
    in->created_ns = (uint64_t)sqlite3_column_int64(st, 2);
    in->checkpoints = (uint64_t)sqlite3_column_int64(st, 16);
    in->checkpoint_ns = (uint64_t)sqlite3_column_int64(st, 17);
    in->finished_ns = (uint64_t)sqlite3_column_int64(st, 18);
    char *end = NULL;
    if (sqlite3_column_bytes(st, 1) != 16 || !hx || strlen(hx) != 16 || !boot ||
        strlen(boot) > 36 || sqlite3_column_type(st, 6) != SQLITE_TEXT)
        code = VL_ECORRUPT;
    else {
        memcpy(in->run_id, sqlite3_column_blob(st, 1), 16);
        in->spec_hash = strtoull(hx, &end, 16);
        if (*end)
            code = VL_ECORRUPT;
        strcpy(in->boot_id, boot);
    }
    if (v[0] < 0 || v[0] > (int64_t)SPEC_MAX_JOBS || v[1] < 0 || v[2] < 0 ||
        v[2] > (int64_t)UINT32_MAX || v[3] < 0 || v[3] > UINT16_MAX || v[4] < 0 ||
        v[4] > UINT16_MAX || v[5] < 0 || v[5] > (int64_t)UINT32_MAX || v[6] < 0 ||
        v[6] > (int64_t)UINT32_MAX)
        code = VL_ECORRUPT;
    if (!code) {
        in->njobs = (uint32_t)v[0];
        in->nedges = (uint64_t)v[1];
        r->nfiles = (uint64_t)v[2];
        r->nrr = (uint64_t)v[3];
        r->nfh = (uint64_t)v[4];
        r->nrules = (uint64_t)v[5];
        r->ncodes = (uint64_t)v[6];
        in->cwd = col_strdup(st, 3);
        in->workflow = col_strdup(st, 6);
        r->description = col_strdup(st, 7);
        in->source = col_strdup(st, 8);
        if (!in->cwd)
            in->cwd = vl_xstrdup("");
    }
    sqlite3_finalize(st);
    if (code)
        return vl_err_set(
            err, code, "%s: the run record is damaged; this run cannot be resumed from it", path);
    return 0;
}

static int read_counts(sqlite3 *db, const char *path, struct snap_info *in, struct vl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT state, jobs FROM state_count", -1, &st, NULL);
    unsigned seen = 0;
    bool bad = false;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t s = sqlite3_column_int64(st, 0), c = sqlite3_column_int64(st, 1);
        if (s < 0 || s >= SNAP_NSTATES || c < 0 || (seen & (1u << s)))
            bad = true;
        else {
            seen |= 1u << s;
            in->counts[s] = (uint64_t)c;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK)
        return sql_err(err, db, rc, "cannot read the job counts of %s", path);
    uint64_t sum = 0;
    for (int i = 0; i < SNAP_NSTATES; i++)
        sum += in->counts[i];
    if (bad || seen != (1u << SNAP_NSTATES) - 1 || sum != in->njobs)
        return vl_err_set(err, VL_ECORRUPT,
                          "%s: the per-state job counts are damaged; this run cannot be "
                          "resumed from it",
                          path);
    return 0;
}

/* The run's options (table run_option, from schema 2): one block holding
 * the array and its strings, each checked with snap_opt_check. */
static int read_opts(sqlite3 *db, const char *path, int schema, struct snap_info *in,
                     struct vl_err *err)
{
    if (schema < 2)
        return 0; /* before run_option: a run without stored options */
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "SELECT name, value FROM run_option ORDER BY rowid", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        int code = rc == SQLITE_ERROR ? damaged(err, path, "the table of run options is missing")
                                      : sql_err(err, db, rc, "cannot read %s", path);
        sqlite3_finalize(st);
        return code;
    }
    /* at most SNAP_MAX_OPTS rows of bounded strings: one fixed-size block */
    size_t block =
        SNAP_MAX_OPTS * (sizeof(struct snap_opt) + SNAP_OPT_NAME_MAX + SNAP_OPT_VALUE_MAX + 2);
    struct snap_opt *opts = vl_xmalloc(block);
    char *strs = (char *)(opts + SNAP_MAX_OPTS);
    uint32_t n = 0;
    int code = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *value = (const char *)sqlite3_column_text(st, 1);
        bool text =
            sqlite3_column_type(st, 0) == SQLITE_TEXT && sqlite3_column_type(st, 1) == SQLITE_TEXT;
        if (n == SNAP_MAX_OPTS || !text || !snap_opt_check(name, value) ||
            strlen(name) != (size_t)sqlite3_column_bytes(st, 0) ||
            strlen(value) != (size_t)sqlite3_column_bytes(st, 1)) {
            char what[160];
            snprintf(what, sizeof what, "the stored run option '%.*s' is damaged",
                     SNAP_OPT_NAME_MAX, text && snap_opt_check(name, "x") ? name : "?");
            code = damaged(err, path, n == SNAP_MAX_OPTS ? "there are too many run options" : what);
            break;
        }
        opts[n].name = strs;
        strs = stpcpy(strs, name) + 1;
        opts[n].value = strs;
        strs = stpcpy(strs, value) + 1;
        n++;
    }
    if (!code && rc != SQLITE_DONE)
        code = sql_err(err, db, rc, "cannot read the run options of %s", path);
    sqlite3_finalize(st);
    if (code || !n) {
        free(opts);
        return code;
    }
    in->opts = opts;
    in->nopts = n;
    return 0;
}

static int check_expect(const char *path, const struct snap_info *in, const struct snap_expect *w,
                        struct vl_err *err)
{
    if (!w)
        return 0;
    if (w->check_run_id && memcmp(w->run_id, in->run_id, 16) != 0) {
        char a[33], b[33];
        hex16(a, in->run_id);
        hex16(b, w->run_id);
        return vl_err_set(err, VL_EMISMATCH,
                          "%s belongs to another run (run id %s, expected %s): check the run "
                          "directory",
                          path, a, b);
    }
    if (w->check_spec_hash && w->spec_hash != in->spec_hash)
        return vl_err_set(err, VL_EMISMATCH,
                          "%s holds another workflow ('%s', content hash %016" PRIx64
                          ", expected %016" PRIx64 "): check the run directory",
                          path, in->workflow ? in->workflow : "?", in->spec_hash, w->spec_hash);
    return 0;
}

void snap_info_fini(struct snap_info *in)
{
    if (!in)
        return;
    free(in->cwd);
    free(in->workflow);
    free(in->source);
    free(in->opts);
    memset(in, 0, sizeof *in);
}

int snap_info_read(const char *dir, struct snap_info *info, struct vl_err *err)
{
    memset(info, 0, sizeof *info);
    char *path = join(dir, RUNDIR_DB);
    sqlite3 *db = NULL;
    struct run_row r;
    memset(&r, 0, sizeof r);
    int schema;
    int code = open_checked(dir, path, false, &db, &schema, err);
    if (!code)
        code = exec_sql(db, "BEGIN") == SQLITE_OK
                   ? 0
                   : sql_err(err, db, sqlite3_errcode(db), "cannot read %s", path);
    if (!code)
        code = read_run(db, path, &r, err);
    if (!code)
        code = read_counts(db, path, &r.info, err);
    if (!code)
        code = read_opts(db, path, schema, &r.info, err);
    if (!code) {
        *info = r.info;
        memset(&r.info, 0, sizeof r.info);
    }
    run_row_fini(&r);
    sqlite3_close(db);
    free(path);
    return code;
}

/* ---- restore ---- */

#define MADV_POPULATE_WRITE_C 23 /* Linux 5.14; glibc 2.36's headers lack it */

/*
 * Restore fills ~100 MB of fresh arrays per 1M jobs. A first-touch fault
 * costs ~12 us per 4 KiB page on this VM, pre-faulting the range in one
 * madvise about a twelfth of that (research/platform-probe.md section 5),
 * so large arrays are populated before they are written. Best effort: an
 * old kernel just returns EINVAL and the pages fault in as usual.
 */
int snap__prefault = 1;

static void prefault(void *p, size_t bytes)
{
    if (!snap__prefault || !p || bytes < ((size_t)1 << 20))
        return;
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
    uintptr_t b = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
    if (b > a)
        madvise((void *)a, b - a, MADV_POPULATE_WRITE_C);
}

struct kind_meta {
    uint64_t items, bytes;
};

static uint64_t file_bytes(const char *path)
{
    struct stat sb;
    uint64_t n = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    char *wal = vl_xasprintf("%s-wal", path);
    if (stat(wal, &sb) == 0)
        n += (uint64_t)sb.st_size;
    free(wal);
    return n;
}

/* spec_array: each kind's declared items and bytes, checked against the
 * run record, our widths and the file size (so allocations stay bounded). */
static int read_kinds(sqlite3 *db, const char *path, const struct run_row *r,
                      struct kind_meta km[SNAP__NKINDS], struct vl_err *err)
{
    uint64_t limit = file_bytes(path);
    struct spec dims = {
        .njobs = r->info.njobs, .nedges = r->info.nedges, .nfiles = (uint32_t)r->nfiles};
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT width, items, bytes FROM spec_array WHERE kind = ?", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return sql_err(err, db, rc, "cannot read %s", path);
    int code = 0;
    uint64_t total = 0;
    for (int k = 0; k < SNAP__NKINDS && !code; k++) {
        sqlite3_bind_text(st, 1, snap__kinds[k].name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
            code = rc == SQLITE_DONE ? damaged(err, path, "an array of the workflow is missing")
                                     : sql_err(err, db, rc, "cannot read %s", path);
            break;
        }
        int64_t w = sqlite3_column_int64(st, 0), it = sqlite3_column_int64(st, 1),
                by = sqlite3_column_int64(st, 2);
        sqlite3_reset(st);
        uint64_t want = 0;
        bool fixed_items = true;
        switch (k) {
        case SNAP__JOB_INS:
        case SNAP__JOB_OUTS:
            fixed_items = false; /* checked against the degrees later */
            break;
        case SNAP__JOB_NINS:
        case SNAP__JOB_NOUTS:
            want = r->nfiles ? dims.njobs : 0;
            break;
        default:
            want = snap__kind_items(&dims, k);
        }
        unsigned kw = snap__kinds[k].width;
        bool csr = k == SNAP__JOB_INS || k == SNAP__JOB_OUTS;
        if (w != (int64_t)kw || it < 0 || by < 0 || (uint64_t)by > limit ||
            (fixed_items && (uint64_t)it != want) || (csr && !r->nfiles && it) ||
            (kw && (uint64_t)by != (uint64_t)it * kw) || (!kw && by < it))
            code = damaged(err, path, "the workflow's array sizes do not match");
        km[k].items = (uint64_t)it;
        km[k].bytes = (uint64_t)by;
        total += (uint64_t)by;
    }
    sqlite3_finalize(st);
    if (!code && total > limit)
        code = damaged(err, path, "the workflow's arrays are larger than the file");
    return code;
}

/* Reads the small tables into s (strings appended to small). */
static int read_small(sqlite3 *db, const char *path, const struct run_row *r, struct spec *s,
                      struct vl_buf *small, struct vl_err *err)
{
    /* pool offsets of small strings are relative to small until placed */
    s->nrr = (uint32_t)r->nrr;
    s->nfh = (uint32_t)r->nfh;
    s->nrules = (uint32_t)r->nrules;
    s->ncodes = (uint32_t)r->ncodes;
    /* every row below is at least a few bytes of file: bound by its size */
    uint64_t limit = file_bytes(path);
    if (r->nrr + r->nfh + r->nrules + r->ncodes > limit)
        return damaged(err, path, "the small tables are larger than the file");
    s->rrs = vl_xcalloc(s->nrr ? s->nrr : 1, sizeof *s->rrs);
    s->fhs = vl_xcalloc(s->nfh ? s->nfh : 1, sizeof *s->fhs);
    s->rules = vl_xcalloc(s->nrules ? s->nrules : 1, sizeof *s->rules);
    s->codes = vl_xcalloc(s->ncodes ? s->ncodes : 1, sizeof *s->codes);
    static const char *const q[4] = {
        "SELECT id, name, num_cpus, num_gpus, num_nodes, memory_bytes, runtime_ms FROM "
        "resource_class ORDER BY id",
        "SELECT id, name, rule_first, nrules FROM failure_handler ORDER BY id",
        "SELECT id, code_first, ncodes, max_retries, flags, recovery_script FROM failure_rule "
        "ORDER BY id",
        "SELECT id, code FROM rule_code ORDER BY id",
    };
    const uint64_t want[4] = {r->nrr, r->nfh, r->nrules, r->ncodes};
    for (int t = 0; t < 4; t++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db, q[t], -1, &st, NULL);
        uint64_t i = 0;
        bool bad = false;
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            rc = SQLITE_OK;
            if (i >= want[t] || sqlite3_column_int64(st, 0) != (int64_t)i) {
                bad = true;
                break;
            }
            if (t == 0) {
                struct spec_rr *x = &s->rrs[i];
                x->name_off = small->len;
                vl_buf_adds(small, col_text(st, 1));
                vl_buf_addc(small, '\0');
                x->num_cpus = (uint32_t)sqlite3_column_int64(st, 2);
                x->num_gpus = (uint32_t)sqlite3_column_int64(st, 3);
                x->num_nodes = (uint32_t)sqlite3_column_int64(st, 4);
                x->memory_bytes = (uint64_t)sqlite3_column_int64(st, 5);
                x->runtime_ms = (uint64_t)sqlite3_column_int64(st, 6);
            } else if (t == 1) {
                struct spec_fh *x = &s->fhs[i];
                x->name_off = small->len;
                vl_buf_adds(small, col_text(st, 1));
                vl_buf_addc(small, '\0');
                x->rule_first = (uint32_t)sqlite3_column_int64(st, 2);
                x->nrules = (uint32_t)sqlite3_column_int64(st, 3);
            } else if (t == 2) {
                struct spec_rule *x = &s->rules[i];
                x->code_first = (uint32_t)sqlite3_column_int64(st, 1);
                x->ncodes = (uint32_t)sqlite3_column_int64(st, 2);
                x->max_retries = (uint32_t)sqlite3_column_int64(st, 3);
                x->flags = (uint32_t)sqlite3_column_int64(st, 4);
                if (sqlite3_column_type(st, 5) == SQLITE_NULL) {
                    x->script_off = SPEC_NO_STR;
                } else {
                    x->script_off = small->len;
                    vl_buf_adds(small, col_text(st, 5));
                    vl_buf_addc(small, '\0');
                }
            } else {
                s->codes[i] = (int32_t)sqlite3_column_int64(st, 1);
            }
            i++;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
            return sql_err(err, db, rc, "cannot read %s", path);
        if (bad || i != want[t])
            return damaged(err, path,
                           "a table of resource classes or failure handlers is "
                           "incomplete");
    }
    return 0;
}

/* Reads kind k's rows in order into dst; hashes them. For strings, fills
 * offs[i] with the pool offset of item i (when offs is not NULL). The
 * BLOBs are read with sqlite3_blob_read straight into dst: a column read
 * would first copy each 4 MiB row into a buffer of SQLite's own. */
static int read_kind(sqlite3_stmt *st, sqlite3 *db, const char *path, int k,
                     const struct kind_meta *km, char *dst, uint64_t pool_off, uint64_t *offs,
                     struct snap__hash *h, struct vl_err *err)
{
    sqlite3_bind_text(st, 1, snap__kinds[k].name, -1, SQLITE_STATIC);
    unsigned w = snap__kinds[k].width;
    uint64_t item = 0, at = 0, seq = 0;
    sqlite3_blob *blob = NULL;
    int rc, code = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t rowid = sqlite3_column_int64(st, 0), sq = sqlite3_column_int64(st, 1),
                first = sqlite3_column_int64(st, 2), cnt = sqlite3_column_int64(st, 3);
        int brc = blob ? sqlite3_blob_reopen(blob, rowid)
                       : sqlite3_blob_open(db, "main", "spec_chunk", "data", rowid, 0, &blob);
        if (brc != SQLITE_OK) {
            code = brc == SQLITE_ERROR ? damaged(err, path,
                                                 "a row of the workflow's arrays "
                                                 "is not a BLOB")
                                       : sql_err(err, db, brc, "cannot read %s", path);
            break;
        }
        uint64_t len = (uint64_t)sqlite3_blob_bytes(blob);
        if (sq != (int64_t)seq || first != (int64_t)item || cnt <= 0 ||
            (uint64_t)cnt > km->items - item || len > km->bytes - at ||
            (w && len != (uint64_t)cnt * w) || (!w && len == 0)) {
            code = damaged(err, path, "a row of the workflow's arrays is out of place");
            break;
        }
        if (len && (brc = sqlite3_blob_read(blob, dst + at, (int)len, 0)) != SQLITE_OK) {
            code = sql_err(err, db, brc, "cannot read %s", path);
            break;
        }
        snap__hash_add(h, dst + at, len);
        if (!w) { /* count the strings: exactly cnt, the last one ending the row */
            const char *p = dst + at, *e = p + len;
            uint64_t c = 0;
            while (p < e) {
                const char *z = memchr(p, '\0', (size_t)(e - p));
                if (!z || c == (uint64_t)cnt)
                    break;
                if (offs)
                    offs[item + c] = pool_off + (uint64_t)(p - dst);
                c++;
                p = z + 1;
            }
            if (c != (uint64_t)cnt || p != e) {
                code = damaged(err, path, "a row of names or commands is cut short");
                break;
            }
        }
        at += len;
        item += (uint64_t)cnt;
        seq++;
    }
    sqlite3_blob_close(blob);
    if (!code && rc != SQLITE_DONE && rc != SQLITE_ROW)
        code = sql_err(err, db, rc, "cannot read %s", path);
    if (!code && (item != km->items || at != km->bytes))
        code = damaged(err, path, "the workflow's arrays are incomplete");
    sqlite3_reset(st);
    if (!code)
        snap__hash_kind_end(h, k, item, at);
    return code;
}

/* Prefix sums of per-job counts into CSR offsets; false if they overflow
 * or do not end at total. */
static bool degrees_to_off(const uint32_t *deg, uint32_t n, uint64_t *off, uint64_t total)
{
    off[0] = 0;
    for (uint32_t j = 0; j < n; j++)
        off[j + 1] = off[j] + deg[j];
    return off[n] == total;
}

/* Distinct job names: an open-addressing table of jids, 2x njobs. */
static int check_names(const struct spec *s, const char *path, struct vl_err *err)
{
    uint64_t cap = 16;
    while (cap < (uint64_t)s->njobs * 2)
        cap <<= 1;
    uint32_t *tab = vl_alloc_array(cap, sizeof *tab, false, "the name check", err);
    if (!tab)
        return err ? err->code : VL_ETOOBIG;
    memset(tab, 0xff, cap * sizeof *tab);
    int code = 0;
    for (uint32_t j = 0; j < s->njobs && !code; j++) {
        const char *name = spec_job_name(s, j);
        uint64_t x = 0xcbf29ce484222325ull; /* FNV-1a, then a multiply to spread it */
        for (const char *p = name; *p; p++)
            x = (x ^ (uint8_t)*p) * 0x100000001b3ull;
        uint64_t i = ((x * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
        while (tab[i] != UINT32_MAX) {
            if (strcmp(spec_job_name(s, tab[i]), name) == 0) {
                code = damaged(err, path, "two jobs have the same name");
                break;
            }
            i = (i + 1) & (cap - 1);
        }
        tab[i] = j;
    }
    free(tab);
    return code;
}

/* The job rows over the initial records; counts checked against the
 * state_count table. */
static int read_jobs(sqlite3 *db, const char *path, int schema, const struct spec *s,
                     const uint64_t *counts, struct snap_job *jobs, uint8_t *state,
                     struct vl_err *err)
{
    for (uint32_t j = 0; j < s->njobs; j++)
        snap_job_init(s, j, &jobs[j]);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                schema >= 3 ? "SELECT jid, state, attempt, exit_code, start_ns,"
                                              " end_ns, log_ref, lost FROM job"
                                            : "SELECT jid, state, attempt, exit_code, start_ns,"
                                              " end_ns, log_ref, 0 FROM job",
                                -1, &st, NULL);
    int code = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        int64_t jid = sqlite3_column_int64(st, 0), state8 = sqlite3_column_int64(st, 1),
                att = sqlite3_column_int64(st, 2), ec = sqlite3_column_int64(st, 3),
                lost = sqlite3_column_int64(st, 7);
        if (jid < 0 || jid >= s->njobs || state8 < 0 || state8 >= SNAP_NSTATES || att < 0 ||
            att > UINT32_MAX || ec < INT32_MIN || ec > INT32_MAX || lost < 0 || lost > 2047) {
            code = damaged(err, path, "a job record is out of range");
            break;
        }
        struct snap_job *j = &jobs[jid];
        j->state = (uint8_t)state8;
        j->attempt = (uint32_t)att;
        j->exit_code = (int32_t)ec;
        j->start_ns = (uint64_t)sqlite3_column_int64(st, 4);
        j->end_ns = (uint64_t)sqlite3_column_int64(st, 5);
        j->log_ref = (uint64_t)sqlite3_column_int64(st, 6);
        j->lost = (uint16_t)lost;
    }
    sqlite3_finalize(st);
    if (!code && rc != SQLITE_DONE)
        code = sql_err(err, db, rc, "cannot read the job records of %s", path);
    if (code)
        return code;
    uint64_t c[SNAP_NSTATES] = {0};
    for (uint32_t j = 0; j < s->njobs; j++) {
        state[j] = jobs[j].state;
        c[jobs[j].state]++;
    }
    if (memcmp(c, counts, sizeof c) != 0)
        return damaged(err, path, "the per-state counts do not match the job records");
    return 0;
}

/* Rebuilds the spec from the arrays and small tables; verifies the hash. */
static int read_spec(sqlite3 *db, const char *path, const struct run_row *r, struct spec *s,
                     struct vl_err *err)
{
    struct kind_meta km[SNAP__NKINDS];
    int code = read_kinds(db, path, r, km, err);
    if (code)
        return code;
    struct vl_buf small = {0};
    code = read_small(db, path, r, s, &small, err);
    if (code) {
        vl_buf_free(&small);
        return code;
    }
    uint32_t n = r->info.njobs;
    uint32_t nf = (uint32_t)r->nfiles;
    s->njobs = n;
    s->nedges = r->info.nedges;
    s->nfiles = nf;
    s->name = vl_xstrdup(r->info.workflow ? r->info.workflow : "");
    s->description = r->description ? vl_xstrdup(r->description) : NULL;
    s->path = vl_xstrdup(r->info.source ? r->info.source : "<volley.db>");

    /* pool: [job names][commands][file names][file paths][small strings]NUL */
    uint64_t str_at[SNAP__NKINDS] = {0};
    uint64_t pool_len = 0;
    static const int str_kinds[] = {SNAP__JOB_NAME, SNAP__JOB_CMD, SNAP__FILE_NAME,
                                    SNAP__FILE_PATH};
    for (size_t i = 0; i < VL_ARRAY_LEN(str_kinds); i++) {
        str_at[str_kinds[i]] = pool_len;
        pool_len += km[str_kinds[i]].bytes;
    }
    uint64_t small_at = pool_len;
    pool_len += small.len + 1;
    s->pool_len = pool_len;
    s->pool = vl_alloc_array(pool_len, 1, false, "the string pool", err);
    prefault(s->pool, pool_len);
    uint32_t *nkids = NULL, *nins = NULL, *nouts = NULL, *prod = NULL, *fflags = NULL;
    uint64_t *fname = NULL, *fpath = NULL;
#define ALLOC(p, cnt, what)                                                                        \
    do {                                                                                           \
        if (!code && !((p) = vl_alloc_array((cnt) ? (cnt) : 1, sizeof *(p), false, what, err)))    \
            code = err ? err->code : VL_ETOOBIG;                                                   \
    } while (0)
    if (!s->pool)
        code = err ? err->code : VL_ETOOBIG;
    ALLOC(s->name_off, n, "job names");
    ALLOC(s->cmd_off, n, "commands");
    ALLOC(s->npar, n, "in-degrees");
    ALLOC(nkids, n, "out-degrees");
    ALLOC(s->kid_off, (uint64_t)n + 1, "edge offsets");
    ALLOC(s->kids, s->nedges, "edges");
    ALLOC(s->rr, n, "resource classes");
    ALLOC(s->fh, n, "failure handlers");
    ALLOC(s->flags, n, "job flags");
    if (nf) {
        ALLOC(nins, n, "input files");
        ALLOC(nouts, n, "output files");
        ALLOC(s->in_off, (uint64_t)n + 1, "input files");
        ALLOC(s->out_off, (uint64_t)n + 1, "output files");
        ALLOC(s->ins, km[SNAP__JOB_INS].items, "input files");
        ALLOC(s->outs, km[SNAP__JOB_OUTS].items, "output files");
        ALLOC(s->files, nf, "files");
        ALLOC(fname, nf, "files");
        ALLOC(fpath, nf, "files");
        ALLOC(prod, nf, "files");
        ALLOC(fflags, nf, "files");
    }
#undef ALLOC
    sqlite3_stmt *st = NULL;
    struct snap__hash h;
    snap__hash_init(&h);
    if (!code) {
        int rc = sqlite3_prepare_v2(db,
                                    "SELECT rowid, seq, first, items FROM spec_chunk WHERE kind = ?"
                                    " ORDER BY seq",
                                    -1, &st, NULL);
        if (rc != SQLITE_OK)
            code = sql_err(err, db, rc, "cannot read %s", path);
    }
    for (int k = 0; k < SNAP__NKINDS && !code; k++) {
        char *dst = NULL;
        uint64_t *offs = NULL;
        switch (k) {
        case SNAP__JOB_NAME:
            offs = s->name_off;
            break;
        case SNAP__JOB_CMD:
            offs = s->cmd_off;
            break;
        case SNAP__FILE_NAME:
            offs = fname;
            break;
        case SNAP__FILE_PATH:
            offs = fpath;
            break;
        case SNAP__JOB_NPAR:
            dst = (char *)s->npar;
            break;
        case SNAP__JOB_NKIDS:
            dst = (char *)nkids;
            break;
        case SNAP__JOB_KIDS:
            dst = (char *)s->kids;
            break;
        case SNAP__JOB_RR:
            dst = (char *)s->rr;
            break;
        case SNAP__JOB_FH:
            dst = (char *)s->fh;
            break;
        case SNAP__JOB_FLAGS:
            dst = (char *)s->flags;
            break;
        case SNAP__JOB_NINS:
            dst = (char *)nins;
            break;
        case SNAP__JOB_INS:
            dst = (char *)s->ins;
            break;
        case SNAP__JOB_NOUTS:
            dst = (char *)nouts;
            break;
        case SNAP__JOB_OUTS:
            dst = (char *)s->outs;
            break;
        case SNAP__FILE_PRODUCER:
            dst = (char *)prod;
            break;
        case SNAP__FILE_FLAGS:
            dst = (char *)fflags;
            break;
        default:
            break;
        }
        if (!snap__kinds[k].width)
            dst = s->pool + str_at[k];
        code = read_kind(st, db, path, k, &km[k], dst, str_at[k], offs, &h, err);
    }
    sqlite3_finalize(st);
    if (!code) {
        memcpy(s->pool + small_at, small.p ? small.p : "", small.len);
        s->pool[pool_len - 1] = '\0';
        for (uint32_t i = 0; i < s->nrr; i++)
            s->rrs[i].name_off += small_at;
        for (uint32_t i = 0; i < s->nfh; i++)
            s->fhs[i].name_off += small_at;
        for (uint32_t i = 0; i < s->nrules; i++)
            if (s->rules[i].script_off != SPEC_NO_STR)
                s->rules[i].script_off += small_at;
        for (uint32_t i = 0; i < nf; i++)
            s->files[i] = (struct spec_file){.name_off = fname[i],
                                             .path_off = fpath[i],
                                             .producer = prod[i],
                                             .flags = fflags[i]};
        if (!degrees_to_off(nkids, n, s->kid_off, s->nedges) ||
            (nf && (!degrees_to_off(nins, n, s->in_off, km[SNAP__JOB_INS].items) ||
                    !degrees_to_off(nouts, n, s->out_off, km[SNAP__JOB_OUTS].items))))
            code = damaged(err, path, "the edge counts do not add up");
    }
    if (!code) {
        snap__hash_rest(&h, s);
        if (snap__hash_end(&h) != r->info.spec_hash)
            code = damaged(err, path, "the workflow's content hash does not match");
    }
    if (!code) {
        struct vl_err e2 = {0};
        if (spec_check(s, &e2) != 0)
            code = vl_err_set(err, VL_ECORRUPT,
                              "%s: the stored workflow is inconsistent (%s); the file is "
                              "damaged and this run cannot be resumed from it",
                              path, e2.msg);
    }
    if (!code)
        code = check_names(s, path, err);
    free(nkids);
    free(nins);
    free(nouts);
    free(prod);
    free(fflags);
    free(fname);
    free(fpath);
    vl_buf_free(&small);
    return code;
}

int snap_open(struct snap **out, const char *dir, const struct snap_expect *want, struct spec *spec,
              struct snap_job **jobs, struct snap_info *info, struct vl_err *err)
{
    *out = NULL;
    *jobs = NULL;
    memset(spec, 0, sizeof *spec);
    if (info)
        memset(info, 0, sizeof *info);
    struct snap *d = vl_xcalloc(1, sizeof *d);
    d->path = join(dir, RUNDIR_DB);
    struct run_row r;
    memset(&r, 0, sizeof r);
    struct snap_job *recs = NULL;
    int schema;
    int code = open_checked(dir, d->path, true, &d->db, &schema, err);
    if (code)
        goto fail;
    d->schema = schema;
    /* one read transaction: a consistent view even if the file is shared */
    int rc = exec_sql(d->db, "BEGIN");
    if (rc != SQLITE_OK) {
        code = sql_err(err, d->db, rc, "cannot read %s", d->path);
        goto fail;
    }
    if ((code = read_run(d->db, d->path, &r, err)) ||
        (code = check_expect(d->path, &r.info, want, err)) ||
        (code = read_counts(d->db, d->path, &r.info, err)) ||
        (code = read_opts(d->db, d->path, schema, &r.info, err)) ||
        (code = read_spec(d->db, d->path, &r, spec, err)))
        goto fail;
    recs = vl_alloc_array(spec->njobs, sizeof *recs, false, "the job records", err);
    d->state = vl_alloc_array(spec->njobs, 1, false, "the checkpoint state table", err);
    prefault(recs, (size_t)spec->njobs * sizeof *recs);
    prefault(d->state, spec->njobs);
    if (!recs || !d->state) {
        code = err ? err->code : VL_ETOOBIG;
        goto fail;
    }
    if ((code = read_jobs(d->db, d->path, schema, spec, r.info.counts, recs, d->state, err)))
        goto fail;
    memcpy(d->counts, r.info.counts, sizeof d->counts);
    exec_sql(d->db, "COMMIT");
    d->spec = spec;
    rc = prepare_writer(d);
    if (rc != SQLITE_OK) {
        code = sql_err(err, d->db, rc, "cannot prepare checkpoints to %s", d->path);
        goto fail;
    }
    *jobs = recs;
    if (info) {
        *info = r.info;
        memset(&r.info, 0, sizeof r.info);
    }
    run_row_fini(&r);
    *out = d;
    return 0;
fail:
    run_row_fini(&r);
    free(recs);
    spec_free(spec);
    snap_close(d);
    return code;
}

/* ---- the streaming iterator ---- */

struct snap_iter {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *names, *npar, *rows;
    uint32_t njobs, next;
    /* current name row */
    const char *np, *ne; /* cursor into the row's blob */
    uint64_t nleft;      /* names left in this row */
    /* current npar row */
    const uint32_t *pp;
    uint64_t pleft;
    /* next job row, if any */
    bool have_row;
    struct snap_job row;
};

static int iter_row(struct snap_iter *it, struct vl_err *err)
{
    int rc = sqlite3_step(it->rows);
    it->have_row = false;
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return sql_err(err, it->db, rc, "cannot read the job records of %s", it->path);
    int64_t jid = sqlite3_column_int64(it->rows, 0), st = sqlite3_column_int64(it->rows, 1);
    if (jid < it->next || jid >= it->njobs || st < 0 || st >= SNAP_NSTATES)
        return damaged(err, it->path, "a job record is out of range");
    it->row = (struct snap_job){
        .jid = (uint32_t)jid,
        .state = (uint8_t)st,
        .attempt = (uint32_t)sqlite3_column_int64(it->rows, 2),
        .exit_code = (int32_t)sqlite3_column_int64(it->rows, 3),
        .start_ns = (uint64_t)sqlite3_column_int64(it->rows, 4),
        .end_ns = (uint64_t)sqlite3_column_int64(it->rows, 5),
        .log_ref = (uint64_t)sqlite3_column_int64(it->rows, 6),
    };
    it->have_row = true;
    return 0;
}

int snap_iter_open(struct snap_iter **out, const char *dir, struct vl_err *err)
{
    *out = NULL;
    struct snap_iter *it = vl_xcalloc(1, sizeof *it);
    it->path = join(dir, RUNDIR_DB);
    struct run_row r;
    memset(&r, 0, sizeof r);
    int schema;
    int code = open_checked(dir, it->path, false, &it->db, &schema, err);
    int rc = SQLITE_OK;
    if (!code && (rc = exec_sql(it->db, "BEGIN")) != SQLITE_OK)
        code = sql_err(err, it->db, rc, "cannot read %s", it->path);
    if (!code)
        code = read_run(it->db, it->path, &r, err);
    if (!code) {
        it->njobs = r.info.njobs;
        rc = sqlite3_prepare_v2(it->db,
                                "SELECT data, items FROM spec_chunk WHERE kind = 'job_name'"
                                " ORDER BY seq",
                                -1, &it->names, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(it->db,
                                    "SELECT data, items FROM spec_chunk WHERE kind = 'job_npar'"
                                    " ORDER BY seq",
                                    -1, &it->npar, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(it->db,
                                    "SELECT jid, state, attempt, exit_code, start_ns, end_ns,"
                                    " log_ref FROM job ORDER BY jid",
                                    -1, &it->rows, NULL);
        if (rc != SQLITE_OK)
            code = sql_err(err, it->db, rc, "cannot read %s", it->path);
    }
    if (!code)
        code = iter_row(it, err);
    run_row_fini(&r);
    if (code) {
        snap_iter_close(it);
        return code;
    }
    *out = it;
    return 0;
}

int snap_iter_next(struct snap_iter *it, struct snap_job *rec, const char **name,
                   struct vl_err *err)
{
    if (it->next >= it->njobs)
        return 0;
    if (it->nleft == 0) {
        int rc = sqlite3_step(it->names);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? damaged(err, it->path, "job names are missing")
                                     : sql_err(err, it->db, rc, "cannot read %s", it->path);
        it->np = sqlite3_column_blob(it->names, 0);
        int64_t c = sqlite3_column_int64(it->names, 1);
        if (c <= 0 || !it->np) /* an empty BLOB reads as NULL */
            return damaged(err, it->path, "a row of job names is empty");
        it->ne = it->np + sqlite3_column_bytes(it->names, 0);
        it->nleft = (uint64_t)c;
    }
    if (it->pleft == 0) {
        int rc = sqlite3_step(it->npar);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? damaged(err, it->path, "in-degrees are missing")
                                     : sql_err(err, it->db, rc, "cannot read %s", it->path);
        it->pp = sqlite3_column_blob(it->npar, 0);
        int64_t c = sqlite3_column_int64(it->npar, 1);
        if (c <= 0 || !it->pp || (uint64_t)sqlite3_column_bytes(it->npar, 0) != (uint64_t)c * 4)
            return damaged(err, it->path, "a row of in-degrees is damaged");
        it->pleft = (uint64_t)c;
    }
    /* names stays on this row until nleft runs out: the blob stays valid */
    const char *z = memchr(it->np, '\0', (size_t)(it->ne - it->np));
    if (!z)
        return damaged(err, it->path, "a job name is cut short");
    const char *nm = it->np;
    it->np = z + 1;
    it->nleft--;
    uint32_t npar;
    memcpy(&npar, it->pp, 4);
    it->pp++;
    it->pleft--;
    uint32_t jid = it->next++;
    if (it->have_row && it->row.jid == jid) {
        *rec = it->row;
        int code = iter_row(it, err);
        if (code)
            return code;
    } else {
        *rec = (struct snap_job){.jid = jid,
                                 .state = npar ? SNAP_STATE_BLOCKED : SNAP_STATE_READY,
                                 .log_ref = SNAP_NO_LOG};
    }
    *name = nm;
    return 1;
}

void snap_iter_close(struct snap_iter *it)
{
    if (!it)
        return;
    sqlite3_finalize(it->names);
    sqlite3_finalize(it->npar);
    sqlite3_finalize(it->rows);
    sqlite3_close(it->db);
    free(it->path);
    free(it);
}

/*
 * snap.c - an open DIR/volley.db (snap.h): the connection's settings,
 * SQLite's errors as sentences, the checkpoint transactions (snap_write_jobs,
 * snap_set_opts, snap_finish) and close. The rest of volley.db is in the
 * files snap_int.h lists: create, verify, restore, iter, enc. See snap.h
 * for the contract and docs/persistence.md for the schema and numbers.
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
#include <sys/vfs.h>
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
int snap__sql_err(struct vl_err *err, sqlite3 *db, int rc, const char *doing, const char *path)
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

int snap__damaged(struct vl_err *err, const char *path, const char *what)
{
    return vl_err_set(err, VL_ECORRUPT,
                      "%s: %s; the file is damaged and this run cannot be resumed from it "
                      "(start the workflow again with `volley run`)",
                      path, what);
}

int snap__exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

char *snap__join(const char *dir, const char *name)
{
    return vl_xasprintf("%s/%s", dir, name);
}

/* Settings of every connection that reads or writes a snapshot. */
static int conn_setup(sqlite3 *db)
{
    sqlite3_extended_result_codes(db, 1);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
    sqlite3_busy_timeout(db, 2000);
    return snap__exec_sql(db, "PRAGMA cell_size_check=ON");
}

int snap__db_open(const char *path, int flags, sqlite3 **out)
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

/* f_type values (linux/magic.h and the filesystems' own headers) */
static const struct {
    uint64_t type;
    const char *name;
} net_fs[] = {
    {0x6969, "nfs"},       {0x0BD00BD0, "lustre"}, {0x47504653, "gpfs"},  {0xFF534D42, "cifs"},
    {0xFE534D42, "smb2"},  {0x517B, "smb"},        {0x00C36400, "ceph"},  {0x19830326, "beegfs"},
    {0x5346414F, "afs"},   {0x6B414653, "kafs"},   {0x7461636f, "ocfs2"}, {0x01161970, "gfs2"},
    {0xAAD7AAEA, "panfs"}, {0x65735546, "fuse"},   {0x013111A8, "ibrix"}, {0x564c, "ncp"},
};

uint64_t snap__fs_type = 0;

bool snap_fs_network(const char *dir, char *name, size_t len)
{
    uint64_t t = snap__fs_type;
    if (!t) {
        struct statfs sf;
        if (statfs(dir, &sf) != 0) {
            snprintf(name, len, "unknown");
            return false;
        }
        t = (uint64_t)(unsigned long)sf.f_type;
    }
    for (size_t i = 0; i < VL_ARRAY_LEN(net_fs); i++)
        if ((uint32_t)t == (uint32_t)net_fs[i].type) {
            snprintf(name, len, "%s", net_fs[i].name);
            return true;
        }
    snprintf(name, len, "local");
    return false;
}

int snap__sync_full = 1;
int64_t snap__cache_kib = 0;
int snap__page_size = 4096;

int snap__prepare_writer(struct snap *d)
{
    /* WAL on a local filesystem; a rollback journal where the -shm index
     * cannot be shared between hosts (snap_fs_network). The mode a file is
     * in is switched here, by the one writer (the run lock is held): a run
     * directory moved to or from a network filesystem gets the right one. */
    /* A switch needs the file to itself: a reader that holds it open
     * (busy_timeout's 2 s passed) leaves it as it is, which is no error:
     * the next writer's open switches it. */
    (void)snap__exec_sql(d->db,
                         d->netfs ? "PRAGMA journal_mode=TRUNCATE" : "PRAGMA journal_mode=WAL");
    char sql[160];
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s; PRAGMA cache_size=-%" PRId64,
             snap__sync_full ? "FULL" : "NORMAL",
             snap__cache_kib ? snap__cache_kib : cache_kib(d->spec->njobs));
    int rc = snap__exec_sql(d->db, sql);
    if (rc == SQLITE_OK && d->schema >= 4)
        rc = sqlite3_prepare_v2(
            d->db,
            "INSERT INTO job VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12) ON CONFLICT(jid) DO"
            " UPDATE SET state=excluded.state, attempt=excluded.attempt,"
            " exit_code=excluded.exit_code, start_ns=excluded.start_ns, end_ns=excluded.end_ns,"
            " log_ref=excluded.log_ref, lost=excluded.lost, max_rss_bytes=excluded.max_rss_bytes,"
            " cpu_user_s=excluded.cpu_user_s, cpu_sys_s=excluded.cpu_sys_s",
            -1, &d->upsert, NULL);
    else if (rc == SQLITE_OK && d->schema >= 3) /* schema 3: no usage columns */
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
    if (rc == SQLITE_OK && d->schema >= SNAP_SCHEMA_GOV) {
        rc = sqlite3_prepare_v2(d->db, "UPDATE governance SET cpu_ms = ?1", -1, &d->cpu_upd, NULL);
        if (!d->cpu_ms && d->spec->njobs) /* a new file: every job at 0 */
            d->cpu_ms = vl_xcalloc(d->spec->njobs, sizeof *d->cpu_ms);
    }
    return rc;
}

void snap_close(struct snap *d)
{
    if (!d)
        return;
    sqlite3_finalize(d->upsert);
    sqlite3_finalize(d->count_upd);
    sqlite3_finalize(d->run_upd);
    sqlite3_finalize(d->cpu_upd);
    free(d->cpu_ms);
    sqlite3_close(d->db);
    free(d->path);
    free(d->state);
    free(d->acts);
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

const char *snap__job_select(int schema, bool ordered)
{
    static const char *const q[3][2] = {
        {"SELECT jid, state, attempt, exit_code, start_ns, end_ns, log_ref, 0, NULL, NULL, NULL"
         " FROM job",
         "SELECT jid, state, attempt, exit_code, start_ns, end_ns, log_ref, 0, NULL, NULL, NULL"
         " FROM job ORDER BY jid"},
        {"SELECT jid, state, attempt, exit_code, start_ns, end_ns, log_ref, lost, NULL, NULL,"
         " NULL FROM job",
         "SELECT jid, state, attempt, exit_code, start_ns, end_ns, log_ref, lost, NULL, NULL,"
         " NULL FROM job ORDER BY jid"},
        {"SELECT jid, state, attempt, exit_code, start_ns, end_ns, log_ref, lost, max_rss_bytes,"
         " cpu_user_s, cpu_sys_s FROM job",
         "SELECT jid, state, attempt, exit_code, start_ns, end_ns, log_ref, lost, max_rss_bytes,"
         " cpu_user_s, cpu_sys_s FROM job ORDER BY jid"},
    };
    return q[schema >= 4 ? 2 : schema >= 3 ? 1 : 0][ordered];
}

bool snap__job_usage(sqlite3_stmt *st, int col, struct snap_job *j)
{
    j->max_rss_bytes = 0;
    j->cpu_user_s = j->cpu_sys_s = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return true;
    int tr = sqlite3_column_type(st, col), tu = sqlite3_column_type(st, col + 1),
        ty = sqlite3_column_type(st, col + 2);
    bool num = tr == SQLITE_INTEGER && (tu == SQLITE_INTEGER || tu == SQLITE_FLOAT) &&
               (ty == SQLITE_INTEGER || ty == SQLITE_FLOAT);
    int64_t rss = sqlite3_column_int64(st, col);
    double u = sqlite3_column_double(st, col + 1), y = sqlite3_column_double(st, col + 2);
    if (!num || rss < 0 || !(u >= 0 && u < 1e15) || !(y >= 0 && y < 1e15))
        return false;
    j->max_rss_bytes = (uint64_t)rss;
    j->cpu_user_s = u;
    j->cpu_sys_s = y;
    return true;
}

int snap__bind_job(sqlite3_stmt *st, const struct spec *s, const struct snap_job *j, int schema)
{
    sqlite3_bind_int64(st, 1, j->jid);
    sqlite3_bind_text(st, 2, spec_job_name(s, j->jid), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, j->state);
    sqlite3_bind_int64(st, 4, j->attempt);
    sqlite3_bind_int(st, 5, j->exit_code);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)j->start_ns);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)j->end_ns);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)j->log_ref); /* SNAP_NO_LOG reads as -1 */
    if (schema >= 3)
        sqlite3_bind_int(st, 9, j->lost);
    if (schema >= 4 && snap_job_has_usage(j)) {
        sqlite3_bind_int64(st, 10, (sqlite3_int64)j->max_rss_bytes);
        sqlite3_bind_double(st, 11, j->cpu_user_s);
        sqlite3_bind_double(st, 12, j->cpu_sys_s);
    } else if (schema >= 4) {
        for (int i = 10; i <= 12; i++)
            sqlite3_bind_null(st, i);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- one checkpoint ---- */

/* Ends the write transaction begun with BEGIN IMMEDIATE: COMMIT if rc
 * (of the statements in it) is SQLITE_OK, else, or if the commit fails,
 * ROLLBACK and err from doing (one %s: the file). 0 when committed. */
static int commit(struct snap *d, int rc, const char *doing, struct vl_err *err)
{
    if (rc == SQLITE_OK)
        rc = snap__exec_sql(d->db, "COMMIT");
    if (rc == SQLITE_OK)
        return 0;
    int code = snap__sql_err(err, d->db, rc, doing, d->path);
    if (!sqlite3_get_autocommit(d->db))
        snap__exec_sql(d->db, "ROLLBACK");
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
    int rc = snap__exec_sql(d->db, "BEGIN IMMEDIATE");
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
    uint32_t *undo_cpu = d->cpu_ms ? vl_alloc_array(n, 4, false, "a checkpoint", err) : NULL;
    if (!undo || (d->cpu_ms && !undo_cpu)) {
        free(undo);
        return err ? err->code : VL_ETOOBIG;
    }
    int64_t delta[SNAP_NSTATES] = {0};
    uint64_t cpu_before = d->cpu_total;
    size_t done = 0;
    int rc = snap__exec_sql(d->db, "BEGIN IMMEDIATE");
    for (; done < n && rc == SQLITE_OK; done++) {
        const struct snap_job *j = &jobs[done];
        rc = snap__bind_job(d->upsert, s, j, d->schema);
        undo[done] = d->state[j->jid];
        delta[d->state[j->jid]]--;
        delta[j->state]++;
        d->state[j->jid] = j->state;
        if (d->cpu_ms) { /* the running sum of the jobs' CPU time (governance.cpu_ms) */
            uint32_t now = snap__cpu_ms(j);
            undo_cpu[done] = d->cpu_ms[j->jid];
            d->cpu_total = d->cpu_total - d->cpu_ms[j->jid] + now;
            d->cpu_ms[j->jid] = now;
        }
    }
    if (rc == SQLITE_OK && d->cpu_upd && d->cpu_total != cpu_before) {
        sqlite3_bind_int64(d->cpu_upd, 1, (sqlite3_int64)d->cpu_total);
        rc = sqlite3_step(d->cpu_upd) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
        sqlite3_reset(d->cpu_upd);
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
        while (done-- > 0) {
            d->state[jobs[done].jid] = undo[done];
            if (d->cpu_ms)
                d->cpu_ms[jobs[done].jid] = undo_cpu[done];
        }
        d->cpu_total = cpu_before;
        free(undo);
        free(undo_cpu);
        return code;
    }
    for (int i = 0; i < SNAP_NSTATES; i++)
        d->counts[i] += (uint64_t)delta[i];
    free(undo);
    free(undo_cpu);
    return 0;
}

int snap_set_limits(struct snap *d, const char *backend, const char *why, struct vl_err *err)
{
    if (d->schema < SNAP_SCHEMA_GOV)
        return 0; /* an older file has no governance table: left as it is */
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(d->db, "UPDATE governance SET limits = ?1, why = ?2", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, backend, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, why ? why : "", -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return snap__sql_err(err, d->db, rc, "cannot record the run's limits in %s", d->path);
    return 0;
}

int snap_mark_live(struct snap *d, struct vl_err *err)
{
    int rc = snap__exec_sql(d->db, "UPDATE run SET finished_ns = 0 WHERE finished_ns != 0");
    if (rc != SQLITE_OK)
        return snap__sql_err(err, d->db, rc, "cannot write to %s", d->path);
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
        rc = snap__exec_sql(d->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (rc != SQLITE_OK)
        return snap__sql_err(err, d->db, rc, "cannot write the final snapshot to %s", d->path);
    return 0;
}

/*
 * snap_create.c - the initial snapshot (snap_create, snap.h).
 *
 * Create writes DIR/volley.db.tmp with journal_mode=OFF and
 * synchronous=OFF (a half-written temporary file is simply deleted, so a
 * journal would only double the writes), switches it to WAL, fsyncs it and
 * renames it into place: the snapshot appears whole or not at all. Measured
 * on this VM, writing the spec's bytes costs ~3.5 ns per byte (page faults
 * on fresh cache memory dominate, ~12 us per 4 KiB page), so the encoding
 * keeps the bytes per job low rather than the rows few.
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
    " memory_bytes INTEGER NOT NULL, runtime_ms INTEGER NOT NULL,"
    " max_pids INTEGER NOT NULL DEFAULT 0);"
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
    " end_ns INTEGER NOT NULL, log_ref INTEGER NOT NULL, lost INTEGER NOT NULL DEFAULT 0,"
    " max_rss_bytes INTEGER, cpu_user_s REAL, cpu_sys_s REAL);"
    "CREATE TABLE run_option(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE governance(one INTEGER PRIMARY KEY CHECK (one = 1), limits TEXT NOT NULL,"
    " why TEXT NOT NULL, cpu_ms INTEGER NOT NULL);"
    "INSERT INTO governance VALUES(1, '', '', 0);"
    "CREATE TABLE workflow_file(one INTEGER PRIMARY KEY CHECK (one = 1), path TEXT NOT NULL,"
    " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL);"
    "CREATE TABLE generation(gen INTEGER PRIMARY KEY, started_ns INTEGER NOT NULL);"
    "CREATE TABLE job_history(gen INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " first INTEGER NOT NULL, items INTEGER NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (gen, seq));"
    "CREATE TABLE allocation(seq INTEGER PRIMARY KEY, job_id TEXT NOT NULL, node TEXT NOT NULL,"
    " restart INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
    " deadline_ns INTEGER NOT NULL, exit_code INTEGER NOT NULL);"
    "CREATE VIEW jobs AS SELECT j.jid, j.name, c.name AS state, j.attempt, j.exit_code,"
    " CASE WHEN j.start_ns > 0 THEN strftime('%Y-%m-%dT%H:%M:%fZ', j.start_ns / 1e9,"
    " 'unixepoch') END AS started,"
    " CASE WHEN j.end_ns > 0 THEN strftime('%Y-%m-%dT%H:%M:%fZ', j.end_ns / 1e9,"
    " 'unixepoch') END AS ended,"
    " CASE WHEN j.end_ns >= j.start_ns AND j.start_ns > 0 THEN (j.end_ns - j.start_ns) / 1e9"
    " END AS seconds, j.log_ref, j.max_rss_bytes, j.cpu_user_s, j.cpu_sys_s"
    " FROM job j JOIN state_count c ON c.state = j.state;";

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

void snap__hex16(char out[33], const uint8_t *id)
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* One statement per small-table row; rc is a SQLite code. */
static int write_small(sqlite3 *db, const struct spec *s)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db,
                           "INSERT INTO resource_class(id, name, num_cpus, num_gpus, num_nodes,"
                           " memory_bytes, runtime_ms, max_pids) VALUES(?,?,?,?,?,?,?,?)",
                           -1, &st, NULL);
    for (uint32_t i = 0; i < s->nrr && rc == SQLITE_OK; i++) {
        const struct spec_rr *r = &s->rrs[i];
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_text(st, 2, spec_str(s, r->name_off), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, r->num_cpus);
        sqlite3_bind_int64(st, 4, r->num_gpus);
        sqlite3_bind_int64(st, 5, r->num_nodes);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)r->memory_bytes);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)r->runtime_ms);
        sqlite3_bind_int64(st, 8, r->max_pids);
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

/* The allocations carried over (a reload), with their numbers. */
static int write_allocs(sqlite3 *db, const struct snap_meta *m)
{
    if (!m->nallocs)
        return SQLITE_OK;
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "INSERT INTO allocation VALUES(?,?,?,?,?,?,?,?)", -1, &st, NULL);
    for (uint32_t i = 0; i < m->nallocs && rc == SQLITE_OK; i++) {
        const struct snap_alloc *a = &m->allocs[i];
        sqlite3_bind_int64(st, 1, a->seq);
        sqlite3_bind_text(st, 2, a->job_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, a->node, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, a->restart);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)a->start_ns);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)a->end_ns);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)a->deadline_ns);
        sqlite3_bind_int(st, 8, a->exit_code);
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
           j->end_ns == 0 && j->log_ref == d.log_ref && j->lost == 0 && !snap_job_has_usage(j);
}

/* The initial job rows and counts; fills state[] (njobs). */
static int write_jobs_initial(sqlite3 *db, const struct spec *s, const struct snap_job *jobs,
                              uint8_t *state, uint64_t *counts)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "INSERT INTO job VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL);
    for (uint32_t j = 0; j < s->njobs && rc == SQLITE_OK; j++) {
        uint8_t st8 = s->npar[j] ? SNAP_STATE_BLOCKED : SNAP_STATE_READY;
        if (jobs) {
            st8 = jobs[j].state;
            if (!job_is_initial(s, &jobs[j]))
                rc = snap__bind_job(st, s, &jobs[j], SNAP_SCHEMA);
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
        sqlite3_bind_text(st, 2, snap_state_name((unsigned)i), -1, SQLITE_STATIC);
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
 * to fold. -EBUSY (nothing removed) if the WAL could not be folded whole:
 * another process reads the old file, and removing its WAL would lose the
 * checkpoints in it should the rename not follow. */
static int retire_old(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    bool whole = true;
    if (snap__db_open(path, SQLITE_OPEN_READWRITE, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL) == SQLITE_OK) {
        int rc = sqlite3_step(st);
        /* busy, frames in the log, frames folded; -1 -1 when not in WAL mode */
        if (rc == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
            whole = false;
        else if (rc == SQLITE_ROW)
            whole = sqlite3_column_int(st, 0) == 0 &&
                    sqlite3_column_int(st, 2) >= sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (!whole)
        return -EBUSY;
    char *p = vl_xasprintf("%s-wal", path);
    unlink(p);
    free(p);
    p = vl_xasprintf("%s-shm", path);
    unlink(p);
    free(p);
    return 0;
}

/* What snap_create checks before it writes anything: 0 or the code, with
 * err filled. path: DIR/volley.db. */
static int check_create(const char *dir, const char *path, const struct spec *s,
                        const struct snap_meta *meta, const struct snap_job *jobs, unsigned flags,
                        struct vl_err *err)
{
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return vl_err_sys(err, -errno, "cannot create a snapshot in run directory %s", dir);
    if (!S_ISDIR(sb.st_mode))
        return vl_err_set(err, -ENOTDIR, "cannot create a snapshot in %s: not a directory", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return vl_err_sys(err, -errno, "cannot create %s (the run directory must be writable)",
                          path);
    if (!(flags & SNAP_REPLACE) && lstat(path, &sb) == 0)
        return vl_err_set(err, -EEXIST,
                          "%s already exists: resume that run with `volley resume %s`, or "
                          "choose another run directory",
                          path, dir);
    if (jobs)
        for (uint32_t j = 0; j < s->njobs; j++)
            if (jobs[j].jid != j || jobs[j].state >= SNAP_NSTATES)
                return vl_err_set(err, -EINVAL, "initial record %" PRIu32 " is invalid", j);
    if (meta->nopts > SNAP_MAX_OPTS || (meta->nopts && !meta->opts))
        return vl_err_set(err, -EINVAL, "%" PRIu32 " run options are too many (at most %d)",
                          meta->nopts, SNAP_MAX_OPTS);
    const struct snap_history *h = meta->hist;
    if (h && (h->ngens >= SNAP_MAX_GENS || h->njobs != s->njobs || !h->started_ns ||
              (h->ngens && !h->jid_in)))
        return vl_err_set(err, -EINVAL, "the run's history (%" PRIu32 " generations) is invalid",
                          h->ngens);
    for (uint32_t i = 0; i < meta->nopts; i++) {
        const struct snap_opt *o = &meta->opts[i];
        bool bad = !snap_opt_check(o->name, o->value), dup = false;
        for (uint32_t k = 0; k < i && !bad && !dup; k++)
            dup = !strcmp(meta->opts[k].name, o->name);
        if (bad || dup)
            return vl_err_set(err, -EINVAL, "run option %" PRIu32 " ('%s') is invalid%s", i,
                              o->name ? o->name : "(null)", dup ? ": given twice" : "");
    }
    return 0;
}

/*
 * The initial snapshot's content, in one transaction, into the open
 * temporary file db, which is then switched to WAL: SQLITE_OK, a SQLite
 * code, or (the spec could not be encoded) a negative code with err
 * filled. Fills d->state and d->counts.
 */
static int write_content(sqlite3 *db, struct snap *d, const struct snap_meta *meta,
                         const struct snap_job *jobs, struct vl_err *err)
{
    const struct spec *s = d->spec;
    char app[96];
    snprintf(app, sizeof app, "PRAGMA application_id=%d; PRAGMA user_version=%d;", SNAP__APP_ID,
             SNAP_SCHEMA);
    int rc = snap__exec_sql(db, "BEGIN");
    if (rc == SQLITE_OK)
        rc = snap__exec_sql(db, app);
    if (rc == SQLITE_OK)
        rc = snap__exec_sql(db, schema_sql);
    if (rc == SQLITE_OK)
        rc = snap__exec_sql(db, snap__exec_schema_sql);
    struct wctx w = {.db = db};
    uint64_t bytes[SNAP__NKINDS] = {0};
    struct snap__hash h;
    snap__hash_init(&h);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO spec_chunk VALUES(?,?,?,?,?)", -1, &w.chunk, NULL);
    if (rc == SQLITE_OK) {
        int erc = snap__encode(s, &h, sink_row, &w, bytes);
        if (erc == -ENOMEM || erc == VL_ETOOBIG) {
            sqlite3_finalize(w.chunk);
            return vl_err_set(err, erc, "cannot encode the workflow for %s: %s", d->path,
                              vl_strerror(erc));
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
        rc = snap__write_exec(db, s);
    if (rc == SQLITE_OK)
        rc = write_run(db, s, meta, hash);
    if (rc == SQLITE_OK)
        rc = write_opts(db, meta);
    if (rc == SQLITE_OK)
        rc = snap__write_gen(db, meta, s->njobs);
    if (rc == SQLITE_OK)
        rc = write_allocs(db, meta);
    if (rc == SQLITE_OK)
        rc = write_jobs_initial(db, s, jobs, d->state, d->counts);
    if (rc == SQLITE_OK && jobs) { /* the sum of the records' CPU time */
        uint64_t cpu = 0;
        for (uint32_t j = 0; j < s->njobs; j++)
            cpu += snap__cpu_ms(&jobs[j]);
        char sql[96];
        snprintf(sql, sizeof sql, "UPDATE governance SET cpu_ms = %" PRIu64, cpu);
        rc = snap__exec_sql(db, sql);
    }
    if (rc == SQLITE_OK)
        rc = snap__exec_sql(db, "COMMIT");
    /* WAL from here on: set in the header now, so the renamed file needs no
     * further write before its first checkpoint. Not on a network
     * filesystem: the file stays in rollback mode (snap_fs_network). */
    if (rc == SQLITE_OK && !d->netfs)
        rc = snap__exec_sql(db, "PRAGMA journal_mode=WAL");
    return rc;
}

int snap_create(struct snap **out, const char *dir, const struct spec *s,
                const struct snap_meta *meta, const struct snap_job *jobs, unsigned flags,
                struct vl_err *err)
{
    *out = NULL;
    struct snap *d = vl_xcalloc(1, sizeof *d);
    d->path = snap__join(dir, RUNDIR_DB);
    d->schema = SNAP_SCHEMA;
    char fs[32];
    d->netfs = snap_fs_network(dir, fs, sizeof fs);
    d->spec = s;
    d->gen = meta->hist ? meta->hist->ngens : 0;
    char *tmp = snap__join(dir, RUNDIR_DB_TMP);
    sqlite3 *db = NULL;
    int code = check_create(dir, d->path, s, meta, jobs, flags, err), rc;
    if (code)
        goto fail;
    d->state = vl_alloc_array(s->njobs, 1, false, "the checkpoint state table", err);
    if (!d->state) {
        code = err ? err->code : VL_ETOOBIG;
        goto fail;
    }
    unlink(tmp); /* a stale one from a crash during an earlier create */
    rc = snap__db_open(tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &db);
    char pragmas[200];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA page_size=%d; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
             " PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-65536;",
             snap__page_size);
    if (rc == SQLITE_OK)
        rc = snap__exec_sql(db, pragmas);
    if (rc != SQLITE_OK) {
        code = snap__sql_err(err, db, rc, "cannot create %s", tmp);
        goto fail;
    }
    rc = write_content(db, d, meta, jobs, err);
    if (rc < 0) {
        code = rc;
        goto fail;
    }
    if (rc != SQLITE_OK) {
        code = snap__sql_err(err, db, rc, "cannot write the initial snapshot %s", d->path);
        goto fail;
    }
    rc = sqlite3_close(db);
    db = NULL;
    if (rc != SQLITE_OK) {
        code = snap__sql_err(err, NULL, rc, "cannot write the initial snapshot %s", d->path);
        goto fail;
    }
    if ((code = fsync_path(tmp, false)) != 0) {
        vl_err_sys(err, code, "cannot sync the initial snapshot %s", tmp);
        goto fail;
    }
    if ((flags & SNAP_REPLACE) && (code = retire_old(d->path)) != 0) {
        vl_err_set(err, code,
                   "cannot replace %s: another process is reading it and its write-ahead log "
                   "could not be folded in; it is as it was: try again when that process is "
                   "done",
                   d->path);
        goto fail;
    }
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
    rc = snap__db_open(d->path, SQLITE_OPEN_READWRITE, &d->db);
    if (rc == SQLITE_OK)
        rc = snap__prepare_writer(d);
    if (rc != SQLITE_OK) {
        code = snap__sql_err(err, d->db, rc, "cannot open %s", d->path);
        goto fail_after;
    }
    for (uint32_t j = 0; jobs && d->cpu_ms && j < s->njobs; j++) {
        d->cpu_ms[j] = snap__cpu_ms(&jobs[j]);
        d->cpu_total += d->cpu_ms[j];
    }
    if ((code = snap__read_actions(d, err)) != 0)
        goto fail_after;
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

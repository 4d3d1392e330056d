/*
 * snap_verify.c - opening a volley.db and verifying what it says of the
 * run: its header, run row, counts and options (snap_info_read, and the
 * first half of snap_open).
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

void snap__run_row_fini(struct snap__run_row *r)
{
    snap_info_fini(&r->info);
    free(r->description);
}

const char *snap__col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static char *col_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? vl_xstrdup((const char *)t) : NULL;
}

/* application_id and user_version of an open file: a SQLite code. */
static int read_header(sqlite3 *db, int64_t *app, int64_t *ver)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *app = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *ver = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* A read that failed because the WAL index (volley.db-shm) cannot be
 * created or written: a read-only directory or another user's files. */
static bool cannot_share(int rc)
{
    return (rc & 0xff) == SQLITE_READONLY || (rc & 0xff) == SQLITE_CANTOPEN ||
           (rc & 0xff) == SQLITE_PERM;
}

/* True if path's write-ahead log is absent or empty: the file holds
 * everything (a finished or stopped run's last connection folded it in). */
static bool wal_empty(const char *path)
{
    char *wal = vl_xasprintf("%s-wal", path);
    struct stat sb;
    bool empty = stat(wal, &sb) != 0 ? errno == ENOENT : sb.st_size == 0;
    free(wal);
    return empty;
}

/* Opens path read-only as immutable (no locks, no -shm): only for a file
 * that nothing writes, with an empty WAL. The path becomes a URI, its
 * reserved characters escaped. */
static int open_immutable(const char *path, sqlite3 **out)
{
    struct vl_buf uri = {0};
    vl_buf_adds(&uri, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#' || *p <= 0x20 || *p >= 0x7f)
            vl_buf_printf(&uri, "%%%02X", *p);
        else
            vl_buf_addc(&uri, (char)*p);
    }
    vl_buf_adds(&uri, "?immutable=1");
    vl_buf_addc(&uri, '\0');
    int rc = snap__db_open(uri.p, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, out);
    vl_buf_free(&uri);
    return rc;
}

/*
 * Checks that path is a volley snapshot this volley can read, and opens it:
 * the file's first bytes, application_id, user_version (*schema).
 */
int snap__open_checked(const char *dir, const char *path, bool writable, sqlite3 **out, int *schema,
                       struct vl_err *err)
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
    int rc = snap__db_open(path, writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, out);
    if (rc != SQLITE_OK) {
        int code = snap__sql_err(err, *out, rc, "cannot open %s", path);
        if (code == -EROFS || code == -EACCES || code == -EPERM)
            vl_err_set(err, code,
                       "cannot open %s for writing: %s (the run directory must be writable "
                       "to resume the run)",
                       path, sqlite3_errmsg(*out));
        sqlite3_close(*out);
        *out = NULL;
        return code;
    }
    int64_t app = 0, ver = 0;
    rc = read_header(*out, &app, &ver);
    if (!writable && cannot_share(rc) && wal_empty(path)) {
        /* A read-only directory, or another user's: SQLite cannot create
         * or write volley.db-shm. With no write-ahead log to read, the
         * file alone is the whole state: read it as immutable. */
        sqlite3_close(*out);
        *out = NULL;
        rc = open_immutable(path, out);
        if (rc == SQLITE_OK)
            rc = read_header(*out, &app, &ver);
    }
    int code = 0;
    if (rc != SQLITE_OK) {
        code = snap__sql_err(err, *out, rc, "cannot read %s", path);
        if (!writable && cannot_share(rc))
            vl_err_set(err, code,
                       "cannot read %s: %s: the run directory is read-only to this user and "
                       "%s holds changes not yet in %s (its run is live, or its runner "
                       "died); `volley status` by the run's owner, or a copy of the "
                       "directory, can read it",
                       path, sqlite3_errmsg(*out), RUNDIR_DB_WAL, RUNDIR_DB);
        else if (code == -EROFS || code == -EACCES)
            vl_err_set(err, code, "cannot read %s: %s (the run directory must be writable)", path,
                       sqlite3_errmsg(*out));
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

int snap__read_run(sqlite3 *db, const char *path, struct snap__run_row *r, struct vl_err *err)
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
        return snap__sql_err(err, db, rc, "cannot read %s", path);
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

int snap__read_counts(sqlite3 *db, const char *path, struct snap_info *in, struct vl_err *err)
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
        return snap__sql_err(err, db, rc, "cannot read the job counts of %s", path);
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
int snap__read_opts(sqlite3 *db, const char *path, int schema, struct snap_info *in,
                    struct vl_err *err)
{
    if (schema < 2)
        return 0; /* before run_option: a run without stored options */
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "SELECT name, value FROM run_option ORDER BY rowid", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        int code = rc == SQLITE_ERROR
                       ? snap__damaged(err, path, "the table of run options is missing")
                       : snap__sql_err(err, db, rc, "cannot read %s", path);
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
            code = snap__damaged(err, path,
                                 n == SNAP_MAX_OPTS ? "there are too many run options" : what);
            break;
        }
        opts[n].name = strs;
        strs = stpcpy(strs, name) + 1;
        opts[n].value = strs;
        strs = stpcpy(strs, value) + 1;
        n++;
    }
    if (!code && rc != SQLITE_DONE)
        code = snap__sql_err(err, db, rc, "cannot read the run options of %s", path);
    sqlite3_finalize(st);
    if (code || !n) {
        free(opts);
        return code;
    }
    in->opts = opts;
    in->nopts = n;
    return 0;
}

int snap__check_expect(const char *path, const struct snap_info *in, const struct snap_expect *w,
                       struct vl_err *err)
{
    if (!w)
        return 0;
    if (w->check_run_id && memcmp(w->run_id, in->run_id, 16) != 0) {
        char a[33], b[33];
        snap__hex16(a, in->run_id);
        snap__hex16(b, w->run_id);
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
    free((char *)in->wf.path);
    free(in->limits);
    free(in->limits_why);
    free(in->allocs);
    memset(in, 0, sizeof *in);
}

int snap__read_gov(sqlite3 *db, const char *path, int schema, struct snap_info *in,
                   struct vl_err *err)
{
    if (schema < SNAP_SCHEMA_GOV)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT limits, why, cpu_ms FROM governance", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *l = snap__col_text(st, 0);
        if (*l) {
            in->limits = vl_xstrdup(l);
            in->limits_why = vl_xstrdup(snap__col_text(st, 1));
        }
        int64_t c = sqlite3_column_int64(st, 2);
        in->cpu_ms = c > 0 ? (uint64_t)c : 0;
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return snap__sql_err(err, db, rc, "cannot read the governance record of %s", path);
    return 0;
}

int snap_info_read(const char *dir, struct snap_info *info, struct vl_err *err)
{
    memset(info, 0, sizeof *info);
    char *path = snap__join(dir, RUNDIR_DB);
    sqlite3 *db = NULL;
    struct snap__run_row r;
    memset(&r, 0, sizeof r);
    int schema;
    int code = snap__open_checked(dir, path, false, &db, &schema, err);
    if (!code)
        code = snap__exec_sql(db, "BEGIN") == SQLITE_OK
                   ? 0
                   : snap__sql_err(err, db, sqlite3_errcode(db), "cannot read %s", path);
    if (!code)
        code = snap__read_run(db, path, &r, err);
    if (!code)
        code = snap__read_counts(db, path, &r.info, err);
    if (!code)
        code = snap__read_opts(db, path, schema, &r.info, err);
    if (!code)
        code = snap__read_gen(db, path, schema, &r.info, err);
    if (!code)
        code = snap__read_gov(db, path, schema, &r.info, err);
    if (!code)
        code = snap__read_allocs(db, path, schema, &r.info, err);
    if (!code) {
        *info = r.info;
        memset(&r.info, 0, sizeof r.info);
    }
    snap__run_row_fini(&r);
    sqlite3_close(db);
    free(path);
    return code;
}

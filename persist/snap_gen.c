/*
 * snap_gen.c - what volley.db keeps about where a run's workflow came from
 * and how it changed (snap.h, schema 5): the workflow file as it was when
 * the run stored it (table workflow_file), and the run's generations
 * (tables generation and job_history), one per `volley resume --reload`
 * that changed the workflow.
 *
 * A generation's jobs have their own jids (the reloaded spec's), and logs
 * are written under the jid of the generation that ran the attempt. So for
 * each job of the current generation the run keeps its jid in every
 * earlier one: one u32 array per earlier generation, in rows of at most
 * snap__row_bytes like the spec's arrays (4 MB per 1M jobs and reload).
 * The arrays are not part of the spec's content hash: they describe the
 * run, not the workflow, and are checked on reading (each value a jid of
 * its generation, or SNAP_NO_JID).
 *
 * The file's content hash is snap__hash over its bytes: a file is read
 * again only when its size or mtime moved (snap_wffile_check), so an
 * unchanged file costs a stat.
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
#include <sys/stat.h>
#include <unistd.h>

#include "snap_int.h"

/* ---- the workflow file ---- */

/* Content hash of the open file fd: 0 with *hash, or -errno. */
static int hash_fd(int fd, uint64_t *hash)
{
    struct snap__hash h;
    snap__hash_init(&h);
    char *buf = vl_xmalloc(1 << 20);
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        snap__hash_add(&h, buf, (size_t)n);
    }
    free(buf);
    *hash = snap__hash_end(&h);
    return rc;
}

static uint64_t mtime_ns(const struct stat *sb)
{
    return (uint64_t)sb->st_mtim.tv_sec * 1000000000ull + (uint64_t)sb->st_mtim.tv_nsec;
}

int snap_wffile_read(const char *path, struct snap_wffile *out, char *abs, size_t abslen,
                     struct vl_err *err)
{
    memset(out, 0, sizeof *out);
    char full[PATH_MAX];
    if (!realpath(path, full))
        return vl_err_sys(err, -errno, "cannot read the workflow file %s", path);
    if (strlen(full) >= abslen)
        return vl_err_set(err, -ENAMETOOLONG, "the path of %s is too long", path);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vl_err_sys(err, -errno, "cannot read the workflow file %s", path);
    struct stat sb;
    int rc = fstat(fd, &sb) == 0 ? 0 : -errno;
    if (rc == 0)
        rc = hash_fd(fd, &out->hash);
    close(fd);
    if (rc < 0)
        return vl_err_sys(err, rc, "cannot read the workflow file %s", path);
    strcpy(abs, full);
    out->path = abs;
    out->size = (uint64_t)sb.st_size;
    out->mtime_ns = mtime_ns(&sb);
    return 0;
}

enum snap_wf_change snap_wffile_check(const struct snap_wffile *stored, struct snap_wffile *now,
                                      char *abs, size_t abslen)
{
    struct snap_wffile tmp;
    char buf[PATH_MAX];
    if (!now) {
        now = &tmp;
        abs = buf;
        abslen = sizeof buf;
    }
    memset(now, 0, sizeof *now);
    if (!stored || !stored->path)
        return SNAP_WF_UNKNOWN;
    struct stat sb;
    if (stat(stored->path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return SNAP_WF_GONE;
    if ((uint64_t)sb.st_size == stored->size && mtime_ns(&sb) == stored->mtime_ns &&
        strlen(stored->path) < abslen) {
        strcpy(abs, stored->path);
        *now = *stored;
        now->path = abs;
        return SNAP_WF_SAME;
    }
    if (snap_wffile_read(stored->path, now, abs, abslen, NULL) < 0)
        return SNAP_WF_GONE;
    return now->hash == stored->hash && now->size == stored->size ? SNAP_WF_SAME : SNAP_WF_CHANGED;
}

/* ---- writing (snap_create) ---- */

static int write_wffile(sqlite3 *db, const struct snap_wffile *wf)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO workflow_file VALUES(1,?,?,?,?)", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    char hx[17];
    snprintf(hx, sizeof hx, "%016" PRIx64, wf->hash);
    sqlite3_bind_text(st, 1, wf->path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)wf->size);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)wf->mtime_ns);
    sqlite3_bind_text(st, 4, hx, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_finalize(st);
    return rc;
}

int snap__write_gen(sqlite3 *db, const struct snap_meta *m, uint32_t njobs)
{
    int rc = m->wf && m->wf->path ? write_wffile(db, m->wf) : SQLITE_OK;
    const struct snap_history *h = m->hist;
    uint32_t ngens = h ? h->ngens : 0;
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO generation VALUES(?,?)", -1, &st, NULL);
    for (uint32_t g = 0; g <= ngens && rc == SQLITE_OK; g++) {
        sqlite3_bind_int64(st, 1, g);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)(h ? h->started_ns[g] : m->created_ns));
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK && ngens)
        rc = sqlite3_prepare_v2(db, "INSERT INTO job_history VALUES(?,?,?,?,?)", -1, &st, NULL);
    uint64_t per_row = VL_MAX(snap__row_bytes / sizeof(uint32_t), 1);
    for (uint32_t g = 0; g < ngens && rc == SQLITE_OK; g++)
        for (uint64_t first = 0, seq = 0; first < njobs && rc == SQLITE_OK; seq++) {
            uint64_t n = VL_MIN(per_row, njobs - first);
            sqlite3_bind_int64(st, 1, g);
            sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
            sqlite3_bind_int64(st, 3, (sqlite3_int64)first);
            sqlite3_bind_int64(st, 4, (sqlite3_int64)n);
            sqlite3_bind_blob64(st, 5, h->jid_in[g] + first, n * sizeof(uint32_t), SQLITE_STATIC);
            rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
            sqlite3_reset(st);
            first += n;
        }
    sqlite3_finalize(st);
    return rc;
}

int snap_set_wffile(struct snap *d, const struct snap_wffile *wf, struct vl_err *err)
{
    if (d->schema < 5 || !wf || !wf->path)
        return 0; /* an older file has no table for it: left as it is */
    int rc = snap__exec_sql(d->db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = write_wffile(d->db, wf);
    if (rc == SQLITE_OK)
        rc = snap__exec_sql(d->db, "COMMIT");
    if (rc == SQLITE_OK)
        return 0;
    int code = snap__sql_err(err, d->db, rc, "cannot record the workflow file in %s", d->path);
    if (!sqlite3_get_autocommit(d->db))
        snap__exec_sql(d->db, "ROLLBACK");
    return code;
}

/* ---- reading ---- */

int snap__read_gen(sqlite3 *db, const char *path, int schema, struct snap_info *in,
                   struct vl_err *err)
{
    in->gen = 0;
    in->gen_started_ns = in->created_ns;
    if (schema < 5)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT path, size, mtime_ns, hash FROM workflow_file", -1, &st,
                                NULL);
    int code = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(st, 0);
        const char *hx = (const char *)sqlite3_column_text(st, 3);
        char *end = NULL;
        uint64_t hash = hx ? strtoull(hx, &end, 16) : 0;
        if (!p || *p != '/' || !hx || strlen(hx) != 16 || *end || sqlite3_column_int64(st, 1) < 0)
            code = snap__damaged(err, path, "the workflow file's record is damaged");
        else
            in->wf = (struct snap_wffile){.path = vl_xstrdup(p),
                                          .size = (uint64_t)sqlite3_column_int64(st, 1),
                                          .mtime_ns = (uint64_t)sqlite3_column_int64(st, 2),
                                          .hash = hash};
        rc = SQLITE_DONE;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!code && rc != SQLITE_DONE)
        code = rc == SQLITE_ERROR ? snap__damaged(err, path, "the workflow file's table is missing")
                                  : snap__sql_err(err, db, rc, "cannot read %s", path);
    if (code)
        return code;
    rc = sqlite3_prepare_v2(db, "SELECT count(*), max(gen), min(gen) FROM generation", -1, &st,
                            NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 0), mx = sqlite3_column_int64(st, 1),
                mn = sqlite3_column_int64(st, 2);
        if (n < 1 || mn != 0 || mx != n - 1 || mx >= SNAP_MAX_GENS)
            code = snap__damaged(err, path, "the table of the run's generations is damaged");
        else
            in->gen = (uint32_t)mx;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!code && rc != SQLITE_OK)
        return rc == SQLITE_ERROR
                   ? snap__damaged(err, path, "the table of the run's generations is missing")
                   : snap__sql_err(err, db, rc, "cannot read %s", path);
    if (code)
        return code;
    rc = sqlite3_prepare_v2(db, "SELECT started_ns FROM generation WHERE gen = ?", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, in->gen);
        if (sqlite3_step(st) == SQLITE_ROW)
            in->gen_started_ns = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return 0;
}

uint32_t snap_gen(const struct snap *d)
{
    return d->gen;
}

void snap_history_fini(struct snap_history *h)
{
    if (!h)
        return;
    for (uint32_t g = 0; h->jid_in && g < h->ngens; g++)
        free(h->jid_in[g]);
    free(h->jid_in);
    free(h->started_ns);
    memset(h, 0, sizeof *h);
}

/* Rows of generation g's array into out[0..njobs), each value checked
 * against that generation's job count (its rows in a table of njobs[]). */
static int read_history_gen(sqlite3 *db, const char *path, uint32_t g, uint32_t njobs,
                            uint32_t *out, struct vl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT seq, first, items, data FROM job_history WHERE gen = ?"
                                " ORDER BY seq",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return snap__sql_err(err, db, rc, "cannot read %s", path);
    sqlite3_bind_int64(st, 1, g);
    uint64_t at = 0;
    int64_t want_seq = 0;
    int code = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0), first = sqlite3_column_int64(st, 1),
                items = sqlite3_column_int64(st, 2);
        int bytes = sqlite3_column_bytes(st, 3);
        if (seq != want_seq++ || first != (int64_t)at || items < 1 ||
            (uint64_t)items > njobs - at || (uint64_t)bytes != (uint64_t)items * 4) {
            code = snap__damaged(err, path, "the run's job history is damaged");
            break;
        }
        memcpy(out + at, sqlite3_column_blob(st, 3), (size_t)bytes);
        at += (uint64_t)items;
    }
    if (!code && rc != SQLITE_DONE)
        code = snap__sql_err(err, db, rc, "cannot read the job history of %s", path);
    sqlite3_finalize(st);
    if (!code && at != njobs)
        code = snap__damaged(err, path, "the run's job history is incomplete");
    return code;
}

int snap_history_load(struct snap *d, struct snap_history *out, struct vl_err *err)
{
    memset(out, 0, sizeof *out);
    out->njobs = d->spec ? d->spec->njobs : 0;
    out->started_ns = vl_xcalloc((size_t)d->gen + 1, sizeof *out->started_ns);
    if (d->schema < 5)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(d->db, "SELECT gen, started_ns FROM generation ORDER BY gen", -1,
                                &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t g = sqlite3_column_int64(st, 0);
        if (g >= 0 && g <= d->gen)
            out->started_ns[g] = (uint64_t)sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return snap__sql_err(err, d->db, rc, "cannot read the generations of %s", d->path);
    out->jid_in = vl_xcalloc((size_t)d->gen + 1, sizeof *out->jid_in);
    for (uint32_t g = 0; g < d->gen; g++) {
        out->jid_in[g] = vl_alloc_array(out->njobs ? out->njobs : 1, sizeof(uint32_t), false,
                                        "the run's job history", err);
        out->ngens = g + 1;
        int code = out->jid_in[g]
                       ? read_history_gen(d->db, d->path, g, out->njobs, out->jid_in[g], err)
                       : (err ? err->code : VL_ETOOBIG);
        if (code) {
            snap_history_fini(out);
            return code;
        }
    }
    return 0;
}

int snap_job_past(const char *dir, uint32_t jid, uint32_t *jids, uint32_t cap, uint32_t *ngens,
                  struct vl_err *err)
{
    *ngens = 0;
    char *path = snap__join(dir, RUNDIR_DB);
    sqlite3 *db = NULL;
    int schema;
    struct snap_info in;
    memset(&in, 0, sizeof in);
    int code = snap__open_checked(dir, path, false, &db, &schema, err);
    if (!code)
        code = snap__read_gen(db, path, schema, &in, err);
    sqlite3_stmt *st = NULL;
    if (!code && in.gen) {
        int rc = sqlite3_prepare_v2(db,
                                    "SELECT first, items, data FROM job_history WHERE gen = ?1"
                                    " AND first <= ?2 ORDER BY first DESC LIMIT 1",
                                    -1, &st, NULL);
        if (rc != SQLITE_OK)
            code = snap__sql_err(err, db, rc, "cannot read %s", path);
    }
    for (uint32_t g = 0; !code && g < in.gen && g < cap; g++) {
        sqlite3_bind_int64(st, 1, g);
        sqlite3_bind_int64(st, 2, jid);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            int64_t first = sqlite3_column_int64(st, 0), items = sqlite3_column_int64(st, 1);
            int bytes = sqlite3_column_bytes(st, 2);
            if (first < 0 || (int64_t)jid - first >= items ||
                (uint64_t)bytes != (uint64_t)items * 4)
                code = snap__damaged(err, path, "the run's job history is damaged");
            else
                memcpy(&jids[g], (const uint32_t *)sqlite3_column_blob(st, 2) + (jid - first),
                       sizeof(uint32_t));
        } else if (rc == SQLITE_DONE) {
            code = snap__damaged(err, path, "the run's job history is incomplete");
        } else {
            code = snap__sql_err(err, db, rc, "cannot read the job history of %s", path);
        }
        sqlite3_reset(st);
        if (!code)
            *ngens = g + 1;
    }
    sqlite3_finalize(st);
    snap_info_fini(&in);
    sqlite3_close(db);
    free(path);
    return code;
}

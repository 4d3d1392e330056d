/*
 * snap_alloc.c - the allocations a run went on in (snap.h, struct
 * snap_alloc; table allocation, schema 6): one row per `volley run` or
 * `volley resume` that supervised it, added when it begins, its end and
 * exit code written when it ends. A row whose end is 0 belongs to a live
 * run, or to one whose runner died (a node failure, SIGKILL): `status`
 * says which. Rows are few (one per allocation) and small: read whole.
 */
#include "snap.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snap_int.h"

/* A text that volley.db keeps as given: printable, below max bytes. */
static bool text_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n == max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

int snap_alloc_begin(struct snap *d, struct snap_alloc *a, struct vl_err *err)
{
    a->seq = 0;
    if (d->schema < SNAP_SCHEMA_ALLOC)
        return 0; /* an older file records none */
    if (!text_ok(a->job_id, sizeof a->job_id) || !text_ok(a->node, sizeof a->node))
        return vl_err_set(err, -EINVAL, "the allocation's job id or node name is not text");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(d->db,
                                "INSERT INTO allocation(job_id, node, restart, start_ns, end_ns,"
                                " deadline_ns, exit_code) VALUES(?1, ?2, ?3, ?4, 0, ?5, -1)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, a->job_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->node, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, a->restart);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)a->start_ns);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)a->deadline_ns);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return snap__sql_err(err, d->db, rc, "cannot record the allocation in %s", d->path);
    a->seq = sqlite3_last_insert_rowid(d->db);
    a->end_ns = 0;
    a->exit_code = -1;
    return 0;
}

int snap_alloc_end(struct snap *d, int64_t seq, uint64_t end_ns, int exit_code, struct vl_err *err)
{
    if (d->schema < SNAP_SCHEMA_ALLOC || seq <= 0)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        d->db, "UPDATE allocation SET end_ns = ?2, exit_code = ?3 WHERE seq = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)end_ns);
        sqlite3_bind_int(st, 3, exit_code);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return snap__sql_err(err, d->db, rc, "cannot record the end of the allocation in %s",
                             d->path);
    return 0;
}

int snap__read_allocs(sqlite3 *db, const char *path, int schema, struct snap_info *in,
                      struct vl_err *err)
{
    if (schema < SNAP_SCHEMA_ALLOC)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT seq, job_id, node, restart, start_ns, end_ns, deadline_ns,"
                                " exit_code FROM allocation ORDER BY seq",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        int code = rc == SQLITE_ERROR
                       ? snap__damaged(err, path, "the table of allocations is missing")
                       : snap__sql_err(err, db, rc, "cannot read %s", path);
        sqlite3_finalize(st);
        return code;
    }
    struct snap_alloc *v = NULL;
    uint32_t n = 0, cap = 0;
    int code = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *job = snap__col_text(st, 1), *node = snap__col_text(st, 2);
        int64_t seq = sqlite3_column_int64(st, 0), start = sqlite3_column_int64(st, 4),
                end = sqlite3_column_int64(st, 5), dl = sqlite3_column_int64(st, 6),
                ec = sqlite3_column_int64(st, 7);
        if (n == SNAP_MAX_ALLOCS || seq <= 0 || start < 0 || end < 0 || dl < 0 || ec < -1 ||
            ec > 255 || !text_ok(job, SNAP_ALLOC_ID_MAX) || !text_ok(node, SNAP_ALLOC_NODE_MAX)) {
            code = snap__damaged(err, path,
                                 n == SNAP_MAX_ALLOCS ? "there are too many allocations"
                                                      : "an allocation's record is damaged");
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            v = vl_xrealloc(v, (size_t)cap * sizeof *v);
        }
        struct snap_alloc *a = &v[n++];
        memset(a, 0, sizeof *a);
        a->seq = seq;
        snprintf(a->job_id, sizeof a->job_id, "%s", job);
        snprintf(a->node, sizeof a->node, "%s", node);
        a->restart = sqlite3_column_int64(st, 3);
        a->start_ns = (uint64_t)start;
        a->end_ns = (uint64_t)end;
        a->deadline_ns = (uint64_t)dl;
        a->exit_code = (int32_t)ec;
    }
    if (!code && rc != SQLITE_DONE)
        code = snap__sql_err(err, db, rc, "cannot read the allocations of %s", path);
    sqlite3_finalize(st);
    if (code || !n) {
        free(v);
        return code;
    }
    in->allocs = v;
    in->nallocs = n;
    return 0;
}

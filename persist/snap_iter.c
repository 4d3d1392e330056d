/*
 * snap_iter.c - the streaming job iterator of `volley jobs` (snap_iter_*,
 * snap.h).
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
        return snap__sql_err(err, it->db, rc, "cannot read the job records of %s", it->path);
    int64_t jid = sqlite3_column_int64(it->rows, 0), st = sqlite3_column_int64(it->rows, 1);
    int64_t lost = sqlite3_column_int64(it->rows, 7);
    if (jid < it->next || jid >= it->njobs || st < 0 || st >= SNAP_NSTATES || lost < 0 ||
        lost > 2047)
        return snap__damaged(err, it->path, "a job record is out of range");
    it->row = (struct snap_job){
        .jid = (uint32_t)jid,
        .state = (uint8_t)st,
        .attempt = (uint32_t)sqlite3_column_int64(it->rows, 2),
        .exit_code = (int32_t)sqlite3_column_int64(it->rows, 3),
        .start_ns = (uint64_t)sqlite3_column_int64(it->rows, 4),
        .end_ns = (uint64_t)sqlite3_column_int64(it->rows, 5),
        .log_ref = (uint64_t)sqlite3_column_int64(it->rows, 6),
        .lost = (uint16_t)lost,
    };
    if (!snap__job_usage(it->rows, 8, &it->row))
        return snap__damaged(err, it->path, "a job's recorded usage is out of range");
    it->have_row = true;
    return 0;
}

int snap_iter_open(struct snap_iter **out, const char *dir, struct vl_err *err)
{
    *out = NULL;
    struct snap_iter *it = vl_xcalloc(1, sizeof *it);
    it->path = snap__join(dir, RUNDIR_DB);
    struct snap__run_row r;
    memset(&r, 0, sizeof r);
    int schema;
    int code = snap__open_checked(dir, it->path, false, &it->db, &schema, err);
    int rc = SQLITE_OK;
    if (!code && (rc = snap__exec_sql(it->db, "BEGIN")) != SQLITE_OK)
        code = snap__sql_err(err, it->db, rc, "cannot read %s", it->path);
    if (!code)
        code = snap__read_run(it->db, it->path, &r, err);
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
            rc = sqlite3_prepare_v2(it->db, snap__job_select(schema, true), -1, &it->rows, NULL);
        if (rc != SQLITE_OK)
            code = snap__sql_err(err, it->db, rc, "cannot read %s", it->path);
    }
    if (!code)
        code = iter_row(it, err);
    snap__run_row_fini(&r);
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
            return rc == SQLITE_DONE ? snap__damaged(err, it->path, "job names are missing")
                                     : snap__sql_err(err, it->db, rc, "cannot read %s", it->path);
        it->np = sqlite3_column_blob(it->names, 0);
        int64_t c = sqlite3_column_int64(it->names, 1);
        if (c <= 0 || !it->np) /* an empty BLOB reads as NULL */
            return snap__damaged(err, it->path, "a row of job names is empty");
        it->ne = it->np + sqlite3_column_bytes(it->names, 0);
        it->nleft = (uint64_t)c;
    }
    if (it->pleft == 0) {
        int rc = sqlite3_step(it->npar);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? snap__damaged(err, it->path, "in-degrees are missing")
                                     : snap__sql_err(err, it->db, rc, "cannot read %s", it->path);
        it->pp = sqlite3_column_blob(it->npar, 0);
        int64_t c = sqlite3_column_int64(it->npar, 1);
        if (c <= 0 || !it->pp || (uint64_t)sqlite3_column_bytes(it->npar, 0) != (uint64_t)c * 4)
            return snap__damaged(err, it->path, "a row of in-degrees is damaged");
        it->pleft = (uint64_t)c;
    }
    /* names stays on this row until nleft runs out: the blob stays valid */
    const char *z = memchr(it->np, '\0', (size_t)(it->ne - it->np));
    if (!z)
        return snap__damaged(err, it->path, "a job name is cut short");
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

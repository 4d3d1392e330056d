/*
 * test_fault.c - failure injection (STYLE.md section 7): the Nth write,
 * sync, truncate or rename fails, for N = 1, 2, ... until the operation
 * completes, for the initial snapshot (fresh and SNAP_REPLACE) and for a
 * checkpoint, with ENOSPC (disk full) and EIO. After every failure: a clear
 * message, exit code 3, and the previous state still readable and intact
 * (no volley.db at all for a failed first snapshot; the last good
 * checkpoint for a failed one). After the loop: the operation that finally
 * worked is complete.
 */
#include "persist/fault.h"
#include "persist/snap.h"

#include <errno.h>

#include "bench/persist/specgen.h"
#include "persist/snap_int.h"
#include "persist_test.h"

static struct snap_meta meta(void)
{
    struct snap_meta m = {.created_ns = 1, .cwd = "/"};
    memset(m.run_id, 0x5a, 16);
    return m;
}

/* Restores dir and checks the records of jobs 0..n against want (NULL:
 * every job initial). Returns 0 if it opened. */
static int check_restores(const char *dir, const struct spec *s, const struct snap_job *want,
                          uint32_t n)
{
    struct snap *db;
    struct spec r;
    struct snap_job *jobs;
    struct vl_err e = {0};
    int rc = snap_open(&db, dir, NULL, &r, &jobs, NULL, &e);
    if (rc) {
        fprintf(stderr, "restore after a failure: %s\n", e.msg);
        CHECK_EQ(rc, 0);
        return rc;
    }
    CHECK_U64(snap_spec_hash(&r), snap_spec_hash(s));
    int bad = 0;
    for (uint32_t j = 0; j < n && bad < 3; j++) {
        struct snap_job w;
        if (want)
            w = want[j];
        else
            snap_job_init(s, j, &w);
        if (memcmp(&w, &jobs[j], sizeof w) != 0) {
            fprintf(stderr, "job %u: state %u, want %u\n", j, jobs[j].state, w.state);
            bad++;
        }
    }
    CHECK_EQ(bad, 0);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    return 0;
}

static void create_loop(const char *base, int err_no, bool replace)
{
    struct spec s, old;
    struct vl_err e = {0};
    CHECK_EQ(specgen_make(&s, SPECGEN_DAG, 3000, 1, &e), 0);
    specgen_rich(&old, 12);
    char *dir = pt_subdir(base, replace ? "create_replace" : "create");
    char *path = pt_path(dir, RUNDIR_DB);
    char *tmp = pt_path(dir, RUNDIR_DB_TMP);
    struct snap_meta m = meta();
    struct snap *db;
    if (replace) { /* an old run, with a checkpoint still in its WAL */
        CHECK_EQ(snap_create(&db, dir, &old, &m, NULL, 0, &e), 0);
        struct snap_job j;
        snap_job_init(&old, 3, &j);
        j.state = SNAP_STATE_FAILED;
        CHECK_EQ(snap_write_jobs(db, &j, 1, &e), 0);
        snap_close(db);
    }
    uint64_t n;
    int failures = 0;
    for (n = 1; n < 100000; n++) {
        fault_arm(n, err_no);
        int rc = snap_create(&db, dir, &s, &m, NULL, replace ? SNAP_REPLACE : 0, &e);
        fault_disarm();
        if (rc == 0 && !fault_fired()) {
            snap_close(db);
            break;
        }
        if (rc == 0) {
            /* the fault hit after the snapshot was complete (the directory
             * sync or the reopen are after the rename); a good db is there */
            snap_close(db);
            CHECK_EQ(check_restores(dir, &s, NULL, s.njobs), 0);
            if (replace)
                break; /* the old run is gone by design once replaced */
            unlink(path);
            continue;
        }
        failures++;
        CHECK(db == NULL);
        CHECK_EQ(vl_exit_for(rc), VL_EXIT_ENV);
        if (err_no == ENOSPC && rc == -ENOSPC)
            CHECK(strstr(e.msg, "database or disk is full") ||
                  strstr(e.msg, "No space left on device"));
        CHECK_HAS(e.msg, dir);
        CHECK_EQ(pt_file_size(tmp), -1); /* no temporary left behind */
        if (pt_file_size(path) >= 0 && !replace) {
            /* only a complete snapshot may be there (a fault after the rename) */
            CHECK_EQ(check_restores(dir, &s, NULL, s.njobs), 0);
            unlink(path);
        } else if (replace) {
            /* the old run is intact (or the new one is complete) */
            struct spec r;
            struct snap_job *jobs;
            CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
            CHECK(r.njobs == old.njobs || r.njobs == s.njobs);
            if (r.njobs == old.njobs)
                CHECK_EQ(jobs[3].state, SNAP_STATE_FAILED);
            snap_close(db);
            free(jobs);
            spec_free(&r);
        }
    }
    fprintf(stderr, "create (%s, errno %d): %d failed attempts, completed at N=%" PRIu64 "\n",
            replace ? "replace" : "fresh", err_no, failures, n);
    CHECK(failures >= 5);
    CHECK(n < 100000);
    CHECK_EQ(check_restores(dir, &s, NULL, s.njobs), 0);
    spec_free(&s);
    spec_free(&old);
    free(path);
    free(tmp);
    free(dir);
}

static void checkpoint_loop(const char *base, int err_no)
{
    struct spec s;
    struct vl_err e = {0};
    CHECK_EQ(specgen_make(&s, SPECGEN_SWEEP, 6000, 1, &e), 0);
    char *dir = pt_subdir(base, err_no == ENOSPC ? "ckpt_nospc" : "ckpt_eio");
    struct snap_meta m = meta();
    struct snap *db;
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    /* a first good checkpoint: jobs 0..999 completed */
    struct snap_job *want = vl_xcalloc(s.njobs, sizeof *want);
    for (uint32_t j = 0; j < s.njobs; j++)
        snap_job_init(&s, j, &want[j]);
    for (uint32_t j = 0; j < 1000; j++) {
        want[j].state = SNAP_STATE_COMPLETED;
        want[j].attempt = 1;
        want[j].end_ns = 1000 + j;
    }
    CHECK_EQ(snap_write_jobs(db, want, 1000, &e), 0);
    /* the batch that will fail: a big one spanning many pages (and WAL
     * frames), updating old rows and adding new ones */
    uint32_t nb = 4000;
    struct snap_job *batch = vl_xcalloc(nb, sizeof *batch);
    for (uint32_t k = 0; k < nb; k++) {
        uint32_t j = (k * 1499u) % s.njobs; /* distinct: 1499 is prime to 6000 */
        snap_job_init(&s, j, &batch[k]);
        batch[k].state = SNAP_STATE_FAILED;
        batch[k].attempt = 2;
        batch[k].exit_code = 1;
        batch[k].log_ref = k;
    }
    uint64_t n;
    int failures = 0;
    for (n = 1; n < 100000; n++) {
        fault_arm(n, err_no);
        int rc = snap_write_jobs(db, batch, nb, &e);
        fault_disarm();
        if (rc == 0) {
            if (!fault_fired())
                break;
            /* fired after COMMIT was durable? then the batch is in */
            continue;
        }
        failures++;
        CHECK_EQ(vl_exit_for(rc), VL_EXIT_ENV);
        CHECK_HAS(e.msg, "checkpoint to");
        if (err_no == ENOSPC)
            CHECK_HAS(e.msg, "database or disk is full");
        else
            CHECK_HAS(e.msg, "I/O error");
        /* the previous checkpoint is what a resume sees, from another
         * connection, while this one stays open */
        CHECK_EQ(check_restores(dir, &s, want, s.njobs), 0);
        if (check_failures > 20)
            break;
    }
    fprintf(stderr, "checkpoint (errno %d): %d failed attempts, completed at N=%" PRIu64 "\n",
            err_no, failures, n);
    CHECK(failures >= 3);
    /* the same handle goes on: the next checkpoint works, counts are right */
    struct snap_job one = want[5999];
    one.state = SNAP_STATE_RUNNING;
    CHECK_EQ(snap_write_jobs(db, &one, 1, &e), 0);
    snap_close(db);
    for (uint32_t k = 0; k < nb; k++)
        want[batch[k].jid] = batch[k];
    want[5999] = one;
    CHECK_EQ(check_restores(dir, &s, want, s.njobs), 0);
    struct snap_info in;
    CHECK_EQ(snap_info_read(dir, &in, &e), 0);
    uint64_t failed = 0, completed = 0;
    for (uint32_t j = 0; j < s.njobs; j++) {
        failed += want[j].state == SNAP_STATE_FAILED;
        completed += want[j].state == SNAP_STATE_COMPLETED;
    }
    CHECK_U64(in.counts[SNAP_STATE_FAILED], failed);
    CHECK_U64(in.counts[SNAP_STATE_COMPLETED], completed);
    CHECK_U64(in.counts[SNAP_STATE_RUNNING], 1);
    snap_info_fini(&in);
    free(batch);
    free(want);
    spec_free(&s);
    free(dir);
}

/* The final step of a run: snap_finish under faults keeps the data. */
static void finish_loop(const char *base)
{
    struct spec s;
    specgen_rich(&s, 30);
    char *dir = pt_subdir(base, "finish");
    struct snap_meta m = meta();
    struct snap *db;
    struct vl_err e = {0};
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    struct snap_job j;
    snap_job_init(&s, 0, &j);
    j.state = SNAP_STATE_COMPLETED;
    CHECK_EQ(snap_write_jobs(db, &j, 1, &e), 0);
    uint64_t n;
    for (n = 1; n < 1000; n++) {
        fault_arm(n, EIO);
        int rc = snap_finish(db, &e);
        fault_disarm();
        if (rc == 0 && !fault_fired())
            break;
        if (rc)
            CHECK_HAS(e.msg, "final snapshot");
    }
    snap_close(db);
    struct snap_job *want = vl_xcalloc(s.njobs, sizeof *want);
    for (uint32_t k = 0; k < s.njobs; k++)
        snap_job_init(&s, k, &want[k]);
    want[0] = j;
    CHECK_EQ(check_restores(dir, &s, want, s.njobs), 0);
    struct snap_info in;
    CHECK_EQ(snap_info_read(dir, &in, &e), 0);
    CHECK(in.finished_ns > 0);
    snap_info_fini(&in);
    free(want);
    spec_free(&s);
    free(dir);
}

/* The table itself: counts, fires once, disarms. */
static void table(const char *base)
{
    char *p = pt_path(base, "f");
    int fd = open(p, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    fault_arm(2, ENOSPC);
    CHECK_EQ(fault_write(fd, "a", 1), 1);
    CHECK_EQ(fault_write(fd, "b", 1), -1);
    CHECK_EQ(errno, ENOSPC);
    CHECK(fault_fired());
    CHECK_EQ(fault_fsync(fd), 0);
    CHECK_EQ(fault_ops(), 3);
    fault_disarm();
    CHECK_EQ(fault_ftruncate(fd, 0), 0);
    CHECK_EQ(fault_ops(), 3);
    close(fd);
    free(p);
}

int main(void)
{
    char *base = pt_tmpdir();
    snap__row_bytes = 4096; /* many rows, so faults land between rows too */
    table(base);
    create_loop(base, ENOSPC, false);
    create_loop(base, EIO, false);
    create_loop(base, ENOSPC, true);
    checkpoint_loop(base, ENOSPC);
    checkpoint_loop(base, EIO);
    finish_loop(base);
    pt_rmrf(base);
    free(base);
    return check_done();
}

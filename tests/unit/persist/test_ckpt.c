/*
 * test_ckpt.c - the checkpointer thread: many threads submitting at once
 * end with exactly the last record of every job on disk; a failed round
 * (disk full) is reported by ckpt_flush, keeps the previous checkpoint
 * readable, and is retried until it works; a final checkpoint that cannot
 * be written makes ckpt_stop fail (exit 3) and leaves the last good one.
 */
#include "persist/ckpt.h"

#include <errno.h>
#include <pthread.h>

#include "bench/persist/specgen.h"
#include "persist/fault.h"
#include "persist_test.h"

#define NTHREADS 4
#define NJOBS 4000
#define ROUNDS 300

struct submitter {
    struct ckpt *c;
    int t;
    int rc;
};

/* Thread t owns jobs j % NTHREADS == t; its k-th submission sets attempt k
 * on a pseudo-random handful of them, so the last record per job is the one
 * with the highest attempt that thread gave it. */
static void *submit_loop(void *arg)
{
    struct submitter *s = arg;
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(s->t + 1);
    struct snap_job batch[64];
    for (uint32_t k = 1; k <= ROUNDS; k++) {
        uint32_t n = 1 + (uint32_t)(k % 64);
        for (uint32_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint32_t j = (uint32_t)(x % (NJOBS / NTHREADS)) * NTHREADS + (uint32_t)s->t;
            batch[i] = (struct snap_job){.jid = j,
                                         .state = (uint8_t)(k % SNAP_NSTATES),
                                         .attempt = k,
                                         .exit_code = (int32_t)k,
                                         .start_ns = k,
                                         .end_ns = k + 1,
                                         .log_ref = ((uint64_t)s->t << 32) | k};
        }
        if ((s->rc = ckpt_submit(s->c, batch, n)) != 0)
            break;
    }
    return NULL;
}

/* Replays the same streams to know the last record of every job. */
static void expected(struct snap_job *want, const struct spec *sp)
{
    for (uint32_t j = 0; j < sp->njobs; j++)
        snap_job_init(sp, j, &want[j]);
    for (int t = 0; t < NTHREADS; t++) {
        uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1);
        for (uint32_t k = 1; k <= ROUNDS; k++) {
            uint32_t n = 1 + (uint32_t)(k % 64);
            for (uint32_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                uint32_t j = (uint32_t)(x % (NJOBS / NTHREADS)) * NTHREADS + (uint32_t)t;
                want[j] = (struct snap_job){.jid = j,
                                            .state = (uint8_t)(k % SNAP_NSTATES),
                                            .attempt = k,
                                            .exit_code = (int32_t)k,
                                            .start_ns = k,
                                            .end_ns = k + 1,
                                            .log_ref = ((uint64_t)t << 32) | k};
            }
        }
    }
}

static void check_db(const char *dir, const struct snap_job *want, uint32_t n)
{
    struct snap *db;
    struct spec r;
    struct snap_job *jobs;
    struct vl_err e = {0};
    int rc = snap_open(&db, dir, NULL, &r, &jobs, NULL, &e);
    CHECK_EQ(rc, 0);
    if (rc) {
        fprintf(stderr, "%s\n", e.msg);
        return;
    }
    int bad = 0;
    for (uint32_t j = 0; j < n && bad < 5; j++)
        if (memcmp(&jobs[j], &want[j], sizeof *want) != 0) {
            fprintf(stderr, "job %u: attempt %u state %u, want attempt %u state %u\n", j,
                    jobs[j].attempt, jobs[j].state, want[j].attempt, want[j].state);
            bad++;
        }
    CHECK_EQ(bad, 0);
    snap_close(db);
    free(jobs);
    spec_free(&r);
}

static void test_concurrent(const char *base)
{
    struct spec sp;
    struct vl_err e = {0};
    CHECK_EQ(specgen_make(&sp, SPECGEN_DAG, NJOBS, 3, &e), 0);
    char *dir = pt_subdir(base, "concurrent");
    struct snap_meta m = {.cwd = "/"};
    struct snap *db;
    CHECK_EQ(snap_create(&db, dir, &sp, &m, NULL, 0, &e), 0);
    struct ckpt *c;
    CHECK_EQ(ckpt_start(&c, db, NULL, &e), 0);
    pthread_t th[NTHREADS];
    struct submitter sub[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        sub[t] = (struct submitter){.c = c, .t = t};
        pthread_create(&th[t], NULL, submit_loop, &sub[t]);
    }
    /* flushes from the main thread while they submit */
    for (int i = 0; i < 5; i++)
        CHECK_EQ(ckpt_flush(c, &e), 0);
    for (int t = 0; t < NTHREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK_EQ(sub[t].rc, 0);
    }
    struct snap_job bad = {.jid = NJOBS};
    CHECK_EQ(ckpt_submit(c, &bad, 1), -EINVAL);
    bad.jid = 0;
    bad.state = 200;
    CHECK_EQ(ckpt_submit(c, &bad, 1), -EINVAL);
    CHECK_EQ(ckpt_flush(c, &e), 0);
    struct ckpt_stats st;
    ckpt_get_stats(c, &st);
    CHECK(st.rounds >= 1);
    CHECK_U64(st.failures, 0);
    CHECK_U64(st.pending, 0);
    fprintf(stderr, "concurrent: %" PRIu64 " rounds, %" PRIu64 " records written\n", st.rounds,
            st.records);
    CHECK_EQ(ckpt_stop(c, &e), 0);
    CHECK_EQ(ckpt_stop(NULL, &e), 0);
    snap_close(db);
    struct snap_job *want = vl_xcalloc(NJOBS, sizeof *want);
    expected(want, &sp);
    check_db(dir, want, NJOBS);
    struct snap_info in;
    CHECK_EQ(snap_info_read(dir, &in, &e), 0);
    CHECK(in.finished_ns > 0);
    uint64_t counts[SNAP_NSTATES] = {0};
    for (uint32_t j = 0; j < NJOBS; j++)
        counts[want[j].state]++;
    for (int i = 0; i < SNAP_NSTATES; i++)
        CHECK_U64(in.counts[i], counts[i]);
    snap_info_fini(&in);
    free(want);
    spec_free(&sp);
    free(dir);
}

static void test_failure_retry(const char *base)
{
    struct spec sp;
    struct vl_err e = {0};
    CHECK_EQ(specgen_make(&sp, SPECGEN_SWEEP, 500, 3, &e), 0);
    char *dir = pt_subdir(base, "retry");
    struct snap_meta m = {.cwd = "/"};
    struct snap *db;
    CHECK_EQ(snap_create(&db, dir, &sp, &m, NULL, 0, &e), 0);
    struct ckpt *c;
    struct ckpt_opts o = {.retry_ms = 60000}; /* only flushes retry here */
    CHECK_EQ(ckpt_start(&c, db, &o, &e), 0);
    struct snap_job *want = vl_xcalloc(sp.njobs, sizeof *want);
    for (uint32_t j = 0; j < sp.njobs; j++)
        snap_job_init(&sp, j, &want[j]);
    /* a good round first */
    want[1].state = SNAP_STATE_COMPLETED;
    CHECK_EQ(ckpt_submit(c, &want[1], 1), 0);
    CHECK_EQ(ckpt_flush(c, &e), 0);
    /* the disk fills up: the round fails, the flush says so */
    struct snap_job next = want[2];
    next.state = SNAP_STATE_FAILED;
    next.exit_code = 3;
    fault_arm_from(1, ENOSPC);
    CHECK_EQ(ckpt_submit(c, &next, 1), 0);
    int rc = ckpt_flush(c, &e);
    CHECK_EQ(rc, -ENOSPC);
    CHECK_EQ(vl_exit_for(rc), VL_EXIT_ENV);
    CHECK_HAS(e.msg, "checkpoint to ");
    CHECK_HAS(e.msg, "/retry/volley.db failed: database or disk is full: free some space");
    struct ckpt_stats st;
    ckpt_get_stats(c, &st);
    CHECK(st.failures >= 1);
    CHECK_EQ(st.last_err.code, -ENOSPC);
    /* meanwhile a resume would see the last good checkpoint */
    check_db(dir, want, sp.njobs);
    CHECK_EQ(ckpt_flush(c, &e), -ENOSPC); /* still full: still failing */
    fault_disarm();
    /* space is back: the kept record is retried and lands */
    CHECK_EQ(ckpt_flush(c, &e), 0);
    want[2] = next;
    check_db(dir, want, sp.njobs);
    ckpt_get_stats(c, &st);
    CHECK_EQ(st.last_err.code, 0);

    /* the final checkpoint fails: ckpt_stop reports it */
    struct snap_job last = want[3];
    last.state = SNAP_STATE_RUNNING;
    fault_arm_from(1, EIO);
    CHECK_EQ(ckpt_submit(c, &last, 1), 0);
    rc = ckpt_stop(c, &e);
    fault_disarm();
    CHECK_EQ(rc, -EIO);
    CHECK_EQ(vl_exit_for(rc), VL_EXIT_ENV);
    CHECK_HAS(e.msg, "disk I/O error");
    snap_close(db);
    check_db(dir, want, sp.njobs);
    free(want);
    spec_free(&sp);
    free(dir);
}

/* A final checkpoint that must fail: the fault is armed before the record
 * is even submitted, so the first write of its round fails. */
static void test_final_fails(const char *base)
{
    struct spec sp;
    struct vl_err e = {0};
    CHECK_EQ(specgen_make(&sp, SPECGEN_SWEEP, 100, 3, &e), 0);
    char *dir = pt_subdir(base, "final");
    struct snap_meta m = {.cwd = "/"};
    struct snap *db;
    CHECK_EQ(snap_create(&db, dir, &sp, &m, NULL, 0, &e), 0);
    struct ckpt *c;
    struct ckpt_opts o = {.retry_ms = 60000}; /* no retry before the stop */
    CHECK_EQ(ckpt_start(&c, db, &o, &e), 0);
    struct snap_job j;
    snap_job_init(&sp, 5, &j);
    j.state = SNAP_STATE_COMPLETED;
    fault_arm_from(1, ENOSPC);
    CHECK_EQ(ckpt_submit(c, &j, 1), 0);
    CHECK_EQ(ckpt_flush(c, &e), -ENOSPC);
    /* still failing at the end of the run */
    int rc = ckpt_stop(c, &e);
    fault_disarm();
    CHECK_EQ(rc, -ENOSPC);
    CHECK_HAS(e.msg, "database or disk is full");
    snap_close(db);
    struct snap_job *want = vl_xcalloc(sp.njobs, sizeof *want);
    for (uint32_t k = 0; k < sp.njobs; k++)
        snap_job_init(&sp, k, &want[k]);
    check_db(dir, want, sp.njobs);
    struct snap_info in;
    CHECK_EQ(snap_info_read(dir, &in, &e), 0);
    CHECK_U64(in.finished_ns, 0); /* not marked finished */
    snap_info_fini(&in);
    free(want);
    spec_free(&sp);
    free(dir);
}

int main(void)
{
    char *base = pt_tmpdir();
    test_concurrent(base);
    test_failure_retry(base);
    test_final_fails(base);
    pt_rmrf(base);
    free(base);
    return check_done();
}

/*
 * test_supervisor.c - the supervisor (core/supervisor.h) linked without
 * the command line: real worker processes (this binary started again as
 * `__worker FD INDEX`, as the volley binary is), the real arena and
 * volley.db, real jobs (sh one-liners in a scratch run directory), and a
 * struct run_status that records what it is told instead of printing.
 *
 *   dag      a diamond and a tail run to completion in dependency order:
 *            exit 0, every record completed in attempt 1, joblog lines,
 *            the arena removed, every worker reaped
 *   fail     a failing job: exit 1, its child canceled, its exit code kept
 *   crash    a job kills its worker: the supervisor repairs the arena,
 *            starts another worker, the job runs again (attempt 2)
 *   stop     SIGTERM while a job runs: exit 130, the job left running in
 *            the record (a resume runs it again), the arena removed
 *   halt     --max-failures: each failure announced once (job_failed), the
 *            halt once; no job starts after it, a running one finishes;
 *            exit 1, the rest ready for a resume
 *
 * Each asserts on events (files, records, callbacks, exit codes), never on
 * how long something took.
 */
#include "core/supervisor.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/worker.h"
#include "run_testlib.h"

/* What the supervisor told us. */
struct seen {
    int progress, finals, stopping, died, finished, halting;
    uint32_t failed[16]; /* jids told to job_failed, in order */
    int nfailed;
    uint64_t skipped, halt_failures;
    uint32_t died_worker;
    uint64_t requeued;
    char how[64];
    struct run_end end;
    bool fatal, ckpt;
    char fatal_msg[VL_ERR_MSG];
    char warn[VL_ERR_MSG];
};

static void on_progress(void *ctx, const struct run_view *v, bool final)
{
    struct seen *s = ctx;
    (void)v;
    s->progress++;
    s->finals += final;
}

static void on_stopping(void *ctx, const struct run_view *v)
{
    struct seen *s = ctx;
    CHECK_EQ(v->kill_grace_ms, 300);
    s->stopping++;
}

static void on_died(void *ctx, const struct run_view *v, uint32_t worker, int pid, const char *how,
                    uint64_t requeued)
{
    struct seen *s = ctx;
    (void)v;
    CHECK(pid > 0);
    s->died++;
    s->died_worker = worker;
    s->requeued += requeued;
    snprintf(s->how, sizeof s->how, "%s", how);
}

static void on_finished(void *ctx, const struct run_view *v, const struct run_end *e)
{
    struct seen *s = ctx;
    s->finished++;
    s->end = *e;
    s->fatal = e->fatal != NULL;
    s->ckpt = e->ckpt != NULL;
    if (e->fatal)
        snprintf(s->fatal_msg, sizeof s->fatal_msg, "%s", e->fatal->msg);
    /* the arena is still attached, and says the same */
    uint64_t c[ARENA_NSTATES];
    arena_counts(v->a, c);
    CHECK(!memcmp(c, e->counts, sizeof c));
}

static void on_job_failed(void *ctx, const struct run_view *v, uint32_t jid, uint64_t skipped)
{
    struct seen *s = ctx;
    /* the record is final when it is announced */
    enum arena_state st = arena_job_state(v->a, jid);
    CHECK(st == ARENA_FAILED || st == ARENA_TERMINATED);
    if (s->nfailed < 16)
        s->failed[s->nfailed] = jid;
    s->nfailed++;
    s->skipped += skipped;
}

static void on_halting(void *ctx, const struct run_view *v, uint64_t failures)
{
    struct seen *s = ctx;
    CHECK(v->max_failures > 0);
    s->halting++;
    s->halt_failures = failures;
}

static void on_warn(void *ctx, const char *msg)
{
    struct seen *s = ctx;
    snprintf(s->warn, sizeof s->warn, "%s", msg);
}

static uint32_t g_max_failures; /* --max-failures of the next run() */
static uint32_t g_jobs;         /* -j of the next run() (0: w) */

/* Runs yaml in a fresh directory with w workers and -j w; *s, the exit
 * code and what was seen. The spec is the caller's (spec_free). */
static int run(const char *tag, const char *yaml, uint32_t w, struct spec *s, struct seen *seen)
{
    const char *dir = rt_scratch(tag);
    rt_spec(yaml, s);
    struct snap *db;
    struct arena a;
    const char *apath = rt_make_run(dir, s, &db, &a);
    struct supervisor_opts o;
    supervisor_opts_default(&o);
    o.workers = w;
    o.max_running = g_jobs ? g_jobs : w;
    o.max_failures = g_max_failures;
    o.ckpt_ms = 50;
    o.kill_grace_ms = 300;
    memset(seen, 0, sizeof *seen);
    struct run_status st = {.ctx = seen,
                            .tick_ms = 20,
                            .progress = on_progress,
                            .stopping = on_stopping,
                            .worker_died = on_died,
                            .finished = on_finished,
                            .job_failed = on_job_failed,
                            .halting = on_halting,
                            .warn = {.fn = on_warn, .ctx = seen}};
    struct vl_err err = {0};
    int rc = supervisor_run(s, db, &a, apath, dir, dir, &o, &st, &err);
    CHECK_EQ(err.code, 0);
    CHECK_EQ(seen->finished, 1);
    CHECK_EQ(seen->finals, 1);
    CHECK_EQ(seen->end.exit_code, rc);
    CHECK(access(apath, F_OK) != 0); /* removed: nothing kept it */
    int status;
    CHECK(waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD); /* every worker reaped */
    CHECK_STR(seen->warn, "");
    return rc;
}

static void test_dag(void)
{
    static const char yaml[] = "name: dag\njobs:\n"
                               "  - {name: a, command: 'echo a >> order'}\n"
                               "  - {name: b, command: 'echo b >> order', depends_on: [a]}\n"
                               "  - {name: c, command: 'echo c >> order', depends_on: [a]}\n"
                               "  - {name: d, command: 'echo d >> order', depends_on: [b, c]}\n"
                               "  - {name: e, command: 'echo e >> order', depends_on: [d]}\n"
                               "  - {name: f, command: 'echo f >> order'}\n";
    struct spec s;
    struct seen seen;
    CHECK_EQ(run("sup-dag", yaml, 2, &s, &seen), VL_EXIT_OK);
    CHECK_U64(seen.end.counts[ARENA_COMPLETED], 6);
    CHECK(seen.end.arena_done);
    CHECK(!seen.end.interrupted && !seen.fatal && !seen.ckpt);
    CHECK(seen.progress >= 1);
    /* dependency order, each job once */
    const char *order = rt_slurp(rt_path(rt_dir, "order"));
    CHECK_EQ(strlen(order), 12);
    const char *pa = strchr(order, 'a'), *pb = strchr(order, 'b'), *pc = strchr(order, 'c'),
               *pd = strchr(order, 'd'), *pe = strchr(order, 'e');
    CHECK(pa && pb && pc && pd && pe);
    CHECK(pa && pb && pa < pb && pa < pc && pb < pd && pc < pd && pd < pe);
    struct snap_job recs[6];
    CHECK_EQ(rt_records(rt_dir, recs, 6), 6);
    for (uint32_t j = 0; j < 6; j++) {
        CHECK_EQ(recs[j].state, SNAP_STATE_COMPLETED);
        CHECK_EQ(recs[j].attempt, 1);
    }
    /* the watch files: a joblog line per job, the header first */
    const char *joblog = rt_slurp(rt_path(rt_dir, RUNDIR_JOBLOG));
    int lines = 0;
    for (const char *p = joblog; *p; p++)
        lines += *p == '\n';
    CHECK_EQ(lines, 7);
    CHECK(!strncmp(joblog, "Seq\tHost", 8));
    CHECK_HAS(rt_slurp(rt_path(rt_dir, RUNDIR_STATS)), "\"finished_here\": 6,");
    spec_free(&s);
}

static void test_fail(void)
{
    static const char yaml[] = "name: fail\njobs:\n"
                               "  - {name: ok, command: 'true'}\n"
                               "  - {name: bad, command: 'exit 3'}\n"
                               "  - {name: after, command: 'true', depends_on: [bad]}\n";
    struct spec s;
    struct seen seen;
    CHECK_EQ(run("sup-fail", yaml, 1, &s, &seen), VL_EXIT_FAIL);
    CHECK_U64(seen.end.counts[ARENA_COMPLETED], 1);
    CHECK_U64(seen.end.counts[ARENA_FAILED], 1);
    CHECK_U64(seen.end.counts[ARENA_CANCELED], 1);
    struct snap_job recs[3];
    CHECK_EQ(rt_records(rt_dir, recs, 3), 3);
    uint32_t bad = rt_job(&s, "bad"), after = rt_job(&s, "after");
    CHECK_EQ(recs[bad].state, SNAP_STATE_FAILED);
    CHECK_EQ(recs[bad].exit_code, 3);
    CHECK_EQ(recs[after].state, SNAP_STATE_CANCELED);
    CHECK_EQ(recs[after].attempt, 0); /* never ran */
    /* announced as it ended, once; no halt without --max-failures */
    CHECK_EQ(seen.nfailed, 1);
    CHECK_EQ(seen.failed[0], bad);
    CHECK_U64(seen.skipped, 0);
    CHECK_EQ(seen.halting, 0);
    CHECK_U64(seen.end.failures, 1);
    CHECK(!seen.end.halted);
    spec_free(&s);
}

/* The job kills its worker ($PPID) the first time (leaving a marker), and
 * completes when it runs again; the orphaned sleep is the supervisor's to
 * kill (its process group). */
static void test_crash(void)
{
    static const char yaml[] =
        "name: crash\njobs:\n"
        "  - {name: victim, command: 'if [ -e marker ]; then exit 0; fi; touch marker; "
        "kill -9 $PPID; sleep 30'}\n"
        "  - {name: next, command: 'true', depends_on: [victim]}\n";
    struct spec s;
    struct seen seen;
    CHECK_EQ(run("sup-crash", yaml, 1, &s, &seen), VL_EXIT_OK);
    CHECK_EQ(seen.died, 1);
    CHECK_EQ(seen.died_worker, 0);
    CHECK_U64(seen.requeued, 1);
    CHECK_STR(seen.how, "was killed by signal 9");
    CHECK_U64(seen.end.counts[ARENA_COMPLETED], 2);
    struct snap_job recs[2];
    CHECK_EQ(rt_records(rt_dir, recs, 2), 2);
    uint32_t v = rt_job(&s, "victim");
    CHECK_EQ(recs[v].state, SNAP_STATE_COMPLETED);
    CHECK_EQ(recs[v].attempt, 2);
    CHECK_EQ(recs[v].lost, 1); /* cut short, not failed */
    CHECK_HAS(rt_slurp(rt_path(rt_dir, RUNDIR_STATS)),
              "\"worker_restarts\": 1, \"stop\": null, \"drain\": null}");
    spec_free(&s);
}

/* The job sends SIGTERM to the supervisor (this process) and waits: the
 * run stops, the job gets SIGTERM, and stays running in the record. */
static void test_stop(void)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml,
             "name: stop\njobs:\n"
             "  - {name: stopper, command: 'kill -TERM %d; sleep 30'}\n"
             "  - {name: later, command: 'true', depends_on: [stopper]}\n",
             (int)getpid());
    struct spec s;
    struct seen seen;
    CHECK_EQ(run("sup-stop", yaml, 1, &s, &seen), VL_EXIT_INTR);
    CHECK_EQ(seen.stopping, 1);
    CHECK(seen.end.interrupted);
    CHECK(!seen.end.arena_done);
    struct snap_job recs[2];
    CHECK_EQ(rt_records(rt_dir, recs, 2), 2);
    uint32_t j = rt_job(&s, "stopper"), l = rt_job(&s, "later");
    CHECK_EQ(recs[j].state, SNAP_STATE_RUNNING);
    CHECK_EQ(recs[j].attempt, 1);
    CHECK_EQ(recs[l].state, SNAP_STATE_BLOCKED);
    /* the stop record: the signal, after the job's start, one worker */
    const char *stats = rt_slurp(rt_path(rt_dir, RUNDIR_STATS));
    CHECK_HAS(stats, "\"stop\": {\"signal\": \"SIGTERM\", \"wall_ns\": ");
    CHECK_HAS(stats, ", \"workers_running\": 1, \"deadline\": false}, \"drain\": null}");
    const char *w = strstr(stats, "\"wall_ns\": ");
    CHECK(w && strtoull(w + 11, NULL, 10) >= recs[j].start_ns);
    spec_free(&s);
}

/* --max-failures 2 on five failing jobs at -j 1: two run, the halt
 * comes once, three stay ready (never started), exit 1. */
static void test_halt_count(void)
{
    static const char yaml[] = "name: halt\njobs:\n"
                               "  - {name: f1, command: 'exit 3'}\n"
                               "  - {name: f2, command: 'exit 3'}\n"
                               "  - {name: f3, command: 'exit 3'}\n"
                               "  - {name: f4, command: 'exit 3'}\n"
                               "  - {name: f5, command: 'exit 3'}\n";
    struct spec s;
    struct seen seen;
    g_max_failures = 2;
    CHECK_EQ(run("sup-halt", yaml, 1, &s, &seen), VL_EXIT_FAIL);
    g_max_failures = 0;
    CHECK(seen.end.halted && !seen.end.interrupted && !seen.end.arena_done);
    CHECK_EQ(seen.halting, 1);
    CHECK_U64(seen.halt_failures, 2);
    CHECK_EQ(seen.nfailed, 2);
    CHECK_U64(seen.end.failures, 2);
    CHECK_U64(seen.end.counts[ARENA_FAILED], 2);
    struct snap_job recs[5];
    CHECK_EQ(rt_records(rt_dir, recs, 5), 5);
    int failed = 0, ready = 0;
    for (uint32_t j = 0; j < 5; j++) {
        failed += recs[j].state == SNAP_STATE_FAILED && recs[j].attempt == 1;
        ready += recs[j].state == SNAP_STATE_READY && recs[j].attempt == 0;
    }
    CHECK_EQ(failed, 2);
    CHECK_EQ(ready, 3);
    spec_free(&s);
}

/* --halt-on-failure (1) while another job runs: it finishes (completed,
 * not killed), its children never start. slow ends once bad's failure is in
 * events.jsonl: the worker (one) has then finished bad, and halted,
 * before it takes slow's end. */
static void test_halt_drain(void)
{
    static const char yaml[] =
        "name: drain\njobs:\n"
        "  - {name: slow, command: 'touch started; until grep -q failed events.jsonl; "
        "do sleep 0.01; done'}\n"
        "  - {name: bad, command: 'while [ ! -e started ]; do sleep 0.01; done; exit 4'}\n"
        "  - {name: c1, command: 'true', depends_on: [slow]}\n"
        "  - {name: c2, command: 'true', depends_on: [slow]}\n";
    struct spec s;
    struct seen seen;
    g_max_failures = 1;
    g_jobs = 2;
    CHECK_EQ(run("sup-drain", yaml, 1, &s, &seen), VL_EXIT_FAIL);
    g_max_failures = 0;
    g_jobs = 0;
    CHECK(seen.end.halted);
    CHECK_EQ(seen.halting, 1);
    CHECK_EQ(seen.nfailed, 1);
    struct snap_job recs[4];
    CHECK_EQ(rt_records(rt_dir, recs, 4), 4);
    uint32_t sl = rt_job(&s, "slow"), bad = rt_job(&s, "bad");
    CHECK_EQ(seen.failed[0], bad);
    CHECK_EQ(recs[bad].exit_code, 4);
    CHECK_EQ(recs[sl].state, SNAP_STATE_COMPLETED);
    CHECK_EQ(recs[sl].exit_code, 0);
    CHECK_EQ(recs[rt_job(&s, "c1")].state, SNAP_STATE_READY);
    CHECK_EQ(recs[rt_job(&s, "c2")].attempt, 0);
    spec_free(&s);
}

int main(int argc, char **argv)
{
    /* the supervisor starts this binary again as a worker */
    if (argc == 4 && !strcmp(argv[1], SUPERVISOR_WORKER_CMD))
        return worker_main(atoi(argv[2]), (uint32_t)atoi(argv[3]));
    test_dag();
    test_fail();
    test_crash();
    test_stop();
    test_halt_count();
    test_halt_drain();
    return check_done();
}

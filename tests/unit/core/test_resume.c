/*
 * test_resume.c - resume's reconciliation (core/resume.h) linked without
 * the command line. A run is made as `volley run` makes it; an "old
 * worker" (a forked child) joins its arena, completes one job, fails one
 * (its child is canceled), leaves two running on live process groups
 * (one of them with a cancel request, as `volley cancel` leaves it) and
 * dies without leaving. volley.db still holds the initial records: the
 * arena is the newer source.
 *
 *   arena      the surviving arena wins: completed stays completed, the
 *              running job is recorded running (the restore makes it ready,
 *              attempt 2), failed stays failed, the cancel-requested one
 *              is canceled (exit 137); both job process groups are killed;
 *              volley.db and events.jsonl get the records; the arena is
 *              removed
 *   retry      --retry-failed on the result: failed and canceled jobs are
 *              open again (blocked), their retries counted from here
 *   old        an arena of another layout is ignored with its reason, and
 *              removed; the snapshot is the source
 *   fit        the fit check counts only the jobs left to run
 *   reload     the plan of an edited workflow (changed, new, downstream with
 *              its cause, removed) and the records it makes (kept ones as
 *              they were, started-over ones with their attempts counted on)
 *   reset      named jobs and their canceled descendants back to initial;
 *              with downstream, every descendant
 */
#include "core/resume.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run_testlib.h"

static const char yaml[] = "name: resume\n"
                           "resource_requirements:\n"
                           "  - {name: big, num_cpus: 4}\n"
                           "jobs:\n"
                           "  - {name: done, command: 'true'}\n"
                           "  - {name: fail, command: 'false'}\n"
                           "  - {name: child, command: 'true', depends_on: [fail]}\n"
                           "  - {name: run, command: 'sleep 30', resource_requirements: big}\n"
                           "  - {name: cancelme, command: 'sleep 30'}\n"
                           "  - {name: after, command: 'true', depends_on: [run]}\n";

/* A process in a process group of its own that waits to be killed (and
 * dies with this test). */
static pid_t sleeper(void)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setpgid(0, 0);
        if (getppid() != parent)
            _exit(1);
        for (;;)
            pause();
    }
    setpgid(pid, pid); /* both sides: whichever runs first */
    return pid;
}

/* The old run's worker: takes every ready job, does to each what its name
 * says, and dies holding the running ones. */
static void old_worker(const char *apath, const struct spec *s, pid_t run_pid, pid_t cancel_pid)
{
    struct arena a;
    struct vl_err err = {0};
    uint32_t w;
    if (arena_attach(&a, apath, 0, &err) < 0 || arena_join(&a, ARENA_ROLE_WORKER, &w, &err) < 0)
        _exit(2);
    uint32_t jid;
    while ((jid = arena_take(&a, w)) != ARENA_NONE) {
        const char *name = spec_job_name(s, jid);
        arena_job_set_start(&a, jid, vl_wall_ns());
        if (!strcmp(name, "done") || !strcmp(name, "fail")) {
            arena_job_set_end(&a, jid, vl_wall_ns());
            bool ok = !strcmp(name, "done");
            if (arena_finish(&a, w, jid, ok ? ARENA_COMPLETED : ARENA_FAILED, ok ? 0 : 2) < 0)
                _exit(3);
        } else if (!strcmp(name, "run")) {
            arena_job_set_pid(&a, jid, run_pid);
        } else if (!strcmp(name, "cancelme")) {
            arena_job_set_pid(&a, jid, cancel_pid);
            struct arena_cancel_stats cs;
            if (arena_cancel(&a, w, jid, &cs, &err) < 0)
                _exit(4);
        }
    }
    _exit(0); /* without arena_leave: a dead worker */
}

/* The killed sleeper's end: SIGKILL, by the reconciliation. */
static void check_killed(pid_t pid)
{
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

struct opened {
    struct snap *db;
    struct spec s;
    struct snap_job *jobs;
    struct snap_info info;
};

static void open_run(const char *dir, struct opened *o)
{
    struct vl_err err = {0};
    memset(o, 0, sizeof *o);
    if (snap_open(&o->db, dir, NULL, &o->s, &o->jobs, &o->info, &err) < 0) {
        fprintf(stderr, "snap_open: %s\n", err.msg);
        exit(1);
    }
}

static void close_run(struct opened *o)
{
    snap_close(o->db);
    free(o->jobs);
    snap_info_fini(&o->info);
    spec_free(&o->s);
}

static void test_arena(const char *dir, const char *apath)
{
    struct opened o;
    open_run(dir, &o);
    const struct spec *s = &o.s;
    uint32_t done = rt_job(s, "done"), fail = rt_job(s, "fail"), child = rt_job(s, "child"),
             run = rt_job(s, "run"), cancelme = rt_job(s, "cancelme"), after = rt_job(s, "after");
    for (uint32_t j = 0; j < s->njobs; j++) /* volley.db is behind the arena */
        CHECK(o.jobs[j].state <= SNAP_STATE_READY);

    pid_t run_pid = sleeper(), cancel_pid = sleeper();
    pid_t w = fork();
    if (w == 0)
        old_worker(apath, s, run_pid, cancel_pid);
    int st = 0;
    CHECK_EQ(waitpid(w, &st, 0), w);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    struct resume_opts ro = {.kill_grace_ms = 100};
    struct resume_state rs;
    struct vl_err err = {0};
    CHECK_EQ(resume_reconcile(o.db, s, &o.info, dir, apath, o.jobs, &ro, NULL, &rs, &err), 0);
    CHECK_STR(rs.source, "the surviving arena");
    CHECK_EQ(rs.ignored.code, 0);
    check_killed(run_pid);
    check_killed(cancel_pid);
    CHECK(access(apath, F_OK) != 0);
    CHECK_EQ(o.jobs[done].state, SNAP_STATE_COMPLETED);
    CHECK_EQ(o.jobs[done].attempt, 1);
    CHECK_EQ(o.jobs[fail].state, SNAP_STATE_FAILED);
    CHECK_EQ(o.jobs[fail].exit_code, 2);
    CHECK_EQ(o.jobs[child].state, SNAP_STATE_CANCELED);
    CHECK_EQ(o.jobs[run].state, SNAP_STATE_RUNNING);
    CHECK_EQ(o.jobs[run].attempt, 1);
    CHECK_EQ(o.jobs[cancelme].state, SNAP_STATE_CANCELED);
    CHECK_EQ(o.jobs[cancelme].exit_code, 128 + SIGKILL);
    CHECK(o.jobs[cancelme].end_ns != 0);
    CHECK_EQ(o.jobs[after].state, SNAP_STATE_BLOCKED);
    CHECK_U64(rs.unfinished, 2); /* run, after */
    CHECK_U64(rs.bad, 3);        /* fail, child, cancelme */
    CHECK_U64(rs.reopened, 0);
    /* where events.jsonl is now: the catch-up wrote the arena's states */
    CHECK_EQ(rs.prev[run], SNAP_STATE_RUNNING);
    CHECK_EQ(rs.prev[done], SNAP_STATE_COMPLETED);
    CHECK_EQ(rs.prev[after], SNAP_STATE_BLOCKED);
    free(rs.prev);

    /* volley.db has what the arena had; events.jsonl the changes */
    struct snap_job recs[6];
    CHECK_EQ(rt_records(dir, recs, 6), 6);
    CHECK(!memcmp(recs, o.jobs, sizeof recs));
    const char *ev = rt_slurp(rt_path(dir, RUNDIR_EVENTS));
    CHECK_HAS(ev, "\"job\":\"done\",\"from\":\"ready\",\"to\":\"completed\"");
    CHECK_HAS(ev, "\"job\":\"cancelme\",\"from\":\"ready\",\"to\":\"canceled\"");
    CHECK_HAS(ev, "\"job\":\"run\",\"from\":\"ready\",\"to\":\"running\"");

    /* the new arena: the running job ready again, attempt 2 */
    struct arena a;
    CHECK_EQ(resume_restore(&a, apath, s, o.info.run_id, o.jobs, &err), 0);
    CHECK_EQ(arena_job_state(&a, run), ARENA_READY);
    CHECK_EQ(arena_job_attempt(&a, run), 2);
    CHECK_EQ(arena_job_state(&a, done), ARENA_COMPLETED);
    CHECK_EQ(arena_job_state(&a, fail), ARENA_FAILED);
    CHECK_EQ(arena_job_state(&a, cancelme), ARENA_CANCELED);
    CHECK_EQ(arena_job_state(&a, after), ARENA_BLOCKED);
    arena_close(&a);
    arena_unlink(apath);
    close_run(&o);
}

static void test_retry(const char *dir, const char *apath)
{
    struct opened o;
    open_run(dir, &o);
    const struct spec *s = &o.s;
    uint32_t done = rt_job(s, "done"), fail = rt_job(s, "fail"), child = rt_job(s, "child"),
             cancelme = rt_job(s, "cancelme");
    struct resume_opts ro = {.retry_failed = true, .kill_grace_ms = 100};
    struct resume_state rs;
    struct vl_err err = {0};
    CHECK_EQ(resume_reconcile(o.db, s, &o.info, dir, apath, o.jobs, &ro, NULL, &rs, &err), 0);
    CHECK_STR(rs.source, "volley.db (last checkpoint)");
    CHECK_U64(rs.reopened, 3);
    CHECK_U64(rs.unfinished, 5);
    CHECK_U64(rs.bad, 0);
    CHECK_EQ(o.jobs[done].state, SNAP_STATE_COMPLETED);
    CHECK_EQ(o.jobs[fail].state, SNAP_STATE_BLOCKED);
    CHECK_EQ(o.jobs[fail].exit_code, 0);
    CHECK_EQ(o.jobs[fail].lost, o.jobs[fail].attempt); /* its retries start again */
    CHECK_EQ(o.jobs[child].state, SNAP_STATE_BLOCKED);
    CHECK_EQ(o.jobs[cancelme].state, SNAP_STATE_BLOCKED);
    free(rs.prev);
    struct snap_job recs[6];
    CHECK_EQ(rt_records(dir, recs, 6), 6);
    CHECK_EQ(recs[fail].state, SNAP_STATE_BLOCKED);
    struct arena a;
    CHECK_EQ(resume_restore(&a, apath, s, o.info.run_id, o.jobs, &err), 0);
    CHECK_EQ(arena_job_state(&a, fail), ARENA_READY); /* no parents */
    CHECK_EQ(arena_job_state(&a, child), ARENA_BLOCKED);
    arena_close(&a);
    arena_unlink(apath);
    close_run(&o);
}

/* An arena this volley cannot read: ignored, with why, and removed. */
static void test_old_layout(const char *dir, const char *apath)
{
    struct opened o;
    open_run(dir, &o);
    struct arena a;
    struct vl_err err = {0};
    CHECK_EQ(resume_restore(&a, apath, &o.s, o.info.run_id, o.jobs, &err), 0);
    struct arena_hdr *h = (struct arena_hdr *)a.base;
    h->layout = ARENA_LAYOUT - 1; /* as an older volley left it */
    arena_close(&a);
    struct resume_opts ro = {.kill_grace_ms = 100};
    struct resume_state rs;
    CHECK_EQ(resume_reconcile(o.db, &o.s, &o.info, dir, apath, o.jobs, &ro, NULL, &rs, &err), 0);
    CHECK_EQ(rs.ignored.code, VL_EVERSION);
    CHECK_HAS(rs.ignored.msg, "layout version");
    CHECK_STR(rs.source, "volley.db (last checkpoint)");
    CHECK(access(apath, F_OK) != 0);
    free(rs.prev);
    close_run(&o);
}

/* The fit check counts only what is left: "run" needs 4 CPUs. */
static void test_fit(const char *dir)
{
    struct opened o;
    open_run(dir, &o);
    uint32_t run = rt_job(&o.s, "run");
    struct res_amount cap = {.cpus = 2, .memory_bytes = 1ull << 30};
    struct vl_err err = {0};
    CHECK_EQ(resume_check_fit(&o.s, o.jobs, false, &cap, &err), VL_ESPEC);
    CHECK_HAS(err.msg, "'run' needs 4 CPUs");
    o.jobs[run].state = SNAP_STATE_COMPLETED;
    CHECK_EQ(resume_check_fit(&o.s, o.jobs, false, &cap, &err), 0);
    o.jobs[run].state = SNAP_STATE_FAILED;
    CHECK_EQ(resume_check_fit(&o.s, o.jobs, false, &cap, &err), 0);
    CHECK_EQ(resume_check_fit(&o.s, o.jobs, true, &cap, &err), VL_ESPEC);
    close_run(&o);
}

static const char old_yaml[] = "name: r\n"
                               "jobs:\n"
                               "  - {name: a, command: 'echo a'}\n"
                               "  - {name: b, command: 'echo b', depends_on: [a]}\n"
                               "  - {name: c, command: 'echo c', depends_on: [b]}\n"
                               "  - {name: d, command: 'echo d', depends_on: [a]}\n"
                               "  - {name: x, command: 'echo x'}\n";
static const char new_yaml[] = "name: r\n"
                               "jobs:\n"
                               "  - {name: e, command: 'echo e', depends_on: [d]}\n"
                               "  - {name: d, command: 'echo d', depends_on: [a]}\n"
                               "  - {name: c, command: 'echo c', depends_on: [b]}\n"
                               "  - {name: b, command: 'echo B', depends_on: [a]}\n"
                               "  - {name: a, command: 'echo a'}\n";

static void old_records(const struct spec *s, struct snap_job *jobs)
{
    for (uint32_t j = 0; j < s->njobs; j++) {
        snap_job_init(s, j, &jobs[j]);
        jobs[j].state = SNAP_STATE_COMPLETED;
        jobs[j].attempt = 1;
        jobs[j].start_ns = 100;
        jobs[j].end_ns = 200;
        jobs[j].log_ref = 7;
    }
    struct snap_job *b = &jobs[rt_job(s, "b")], *c = &jobs[rt_job(s, "c")];
    b->state = SNAP_STATE_FAILED;
    b->attempt = 2;
    b->exit_code = 3;
    *c = (struct snap_job){.jid = c->jid, .state = SNAP_STATE_CANCELED, .log_ref = SNAP_NO_LOG};
}

static void test_reload(void)
{
    struct spec old, cur;
    rt_spec(old_yaml, &old);
    rt_spec(new_yaml, &cur);
    struct snap_job jobs[5];
    old_records(&old, jobs);
    uint8_t prev[5];
    for (uint32_t j = 0; j < 5; j++)
        prev[j] = jobs[j].state;
    struct reload_plan p;
    struct vl_err err = {0};
    CHECK_EQ(resume_reload_plan(&old, &cur, &p, &err), 0);
    uint32_t a = rt_job(&cur, "a"), b = rt_job(&cur, "b"), c = rt_job(&cur, "c"),
             d = rt_job(&cur, "d"), e = rt_job(&cur, "e");
    CHECK_EQ(p.why[a], SPECDIFF_SAME);
    CHECK_EQ(p.why[b], SPECDIFF_COMMAND);
    CHECK_EQ(p.why[c], RESUME_DOWNSTREAM);
    CHECK_EQ(p.cause[c], b);
    CHECK_EQ(p.why[d], SPECDIFF_SAME);
    CHECK_EQ(p.why[e], SPECDIFF_NEW);
    CHECK_EQ(p.nremoved, 1);
    CHECK_STR(spec_job_name(&old, p.removed[0]), "x");
    CHECK_EQ(p.count[SPECDIFF_SAME], 2);
    CHECK_EQ(p.old_of[a], rt_job(&old, "a"));
    struct snap_job *recs;
    uint8_t *nprev;
    CHECK_EQ(resume_reload_records(&p, &cur, jobs, prev, &recs, &nprev, &err), 0);
    /* kept: as it was, under its new jid */
    CHECK_EQ(recs[a].jid, a);
    CHECK(recs[a].state == SNAP_STATE_COMPLETED && recs[a].attempt == 1 && recs[a].log_ref == 7);
    CHECK(recs[d].state == SNAP_STATE_COMPLETED);
    /* started over: initial state, attempts counted on, retries anew */
    CHECK(recs[b].state == SNAP_STATE_BLOCKED && recs[b].attempt == 2 && recs[b].lost == 2 &&
          recs[b].exit_code == 0 && recs[b].start_ns == 0 && recs[b].log_ref == SNAP_NO_LOG);
    CHECK(recs[c].state == SNAP_STATE_BLOCKED && recs[c].attempt == 0);
    CHECK(recs[e].state == SNAP_STATE_BLOCKED && recs[e].attempt == 0);
    /* where events.jsonl stopped: the old state, the initial one if new */
    CHECK_EQ(nprev[b], SNAP_STATE_FAILED);
    CHECK_EQ(nprev[c], SNAP_STATE_CANCELED);
    CHECK_EQ(nprev[e], SNAP_STATE_BLOCKED);
    free(recs);
    free(nprev);
    resume_reload_plan_fini(&p);

    /* a new parent makes its child's dependencies change, and the child
     * is a change of its own, not a downstream one */
    struct spec cur2;
    rt_spec("name: r\n"
            "jobs:\n"
            "  - {name: a, command: 'echo a'}\n"
            "  - {name: n, command: 'echo n'}\n"
            "  - {name: b, command: 'echo b', depends_on: [a, n]}\n"
            "  - {name: c, command: 'echo c', depends_on: [b]}\n"
            "  - {name: d, command: 'echo d', depends_on: [a]}\n"
            "  - {name: x, command: 'echo x'}\n",
            &cur2);
    CHECK_EQ(resume_reload_plan(&old, &cur2, &p, &err), 0);
    CHECK_EQ(p.why[rt_job(&cur2, "b")], SPECDIFF_DEPS);
    CHECK_EQ(p.why[rt_job(&cur2, "c")], RESUME_DOWNSTREAM);
    CHECK_EQ(p.why[rt_job(&cur2, "n")], SPECDIFF_NEW);
    CHECK_EQ(p.nremoved, 0);
    resume_reload_plan_fini(&p);
    spec_free(&cur2);
    spec_free(&cur);
    spec_free(&old);
}

static void test_reset(void)
{
    struct spec s;
    rt_spec(old_yaml, &s);
    struct snap_job jobs[5], diff[5];
    uint8_t sel[5] = {0};
    size_t n = 0;
    old_records(&s, jobs);
    uint32_t a = rt_job(&s, "a"), b = rt_job(&s, "b"), c = rt_job(&s, "c"), d = rt_job(&s, "d");
    /* b and its canceled child; d (completed) is not downstream of b */
    sel[b] = 1;
    resume_reset(&s, jobs, sel, false, diff, &n);
    CHECK_EQ(n, 2);
    CHECK(jobs[b].state == SNAP_STATE_BLOCKED && jobs[b].attempt == 2 && jobs[b].lost == 2 &&
          jobs[b].start_ns == 0);
    CHECK_EQ(jobs[c].state, SNAP_STATE_BLOCKED);
    CHECK_EQ(jobs[d].state, SNAP_STATE_COMPLETED);
    /* again: nothing left to change */
    resume_reset(&s, jobs, sel, false, diff, &n);
    CHECK_EQ(n, 0);
    /* a without downstream: a alone (its children are not canceled) */
    old_records(&s, jobs);
    sel[b] = 0;
    sel[a] = 1;
    resume_reset(&s, jobs, sel, false, diff, &n);
    CHECK_EQ(n, 1);
    CHECK_EQ(jobs[a].state, SNAP_STATE_READY);
    CHECK_EQ(jobs[d].state, SNAP_STATE_COMPLETED);
    /* with downstream: everything below a */
    old_records(&s, jobs);
    resume_reset(&s, jobs, sel, true, diff, &n);
    CHECK_EQ(n, 4);
    CHECK(jobs[b].state == SNAP_STATE_BLOCKED && jobs[c].state == SNAP_STATE_BLOCKED &&
          jobs[d].state == SNAP_STATE_BLOCKED);
    CHECK_EQ(jobs[rt_job(&s, "x")].state, SNAP_STATE_COMPLETED);
    spec_free(&s);
}

int main(void)
{
    const char *dir = rt_scratch("resume");
    struct spec s;
    rt_spec(yaml, &s);
    struct snap *db;
    struct arena a;
    const char *apath = rt_make_run(dir, &s, &db, &a);
    arena_close(&a);
    snap_close(db);
    spec_free(&s);
    test_fit(dir);
    test_arena(dir, apath);
    test_retry(dir, apath);
    test_old_layout(dir, apath);
    test_reload();
    test_reset();
    return check_done();
}

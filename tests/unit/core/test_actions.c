/*
 * test_actions.c - the actions of a run (core/actions.h) without the
 * supervisor: their triggers read from a real arena as jobs are taken and
 * finished (on_jobs_ready, on_jobs_complete, a canceled job that never
 * became ready), fire for the workflow triggers, commands in order with
 * the workflow's env, the first failure ends an action, records, and the
 * resume predicate over final job records.
 */
#include "core/actions.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "loader/load.h"
#include "scratch.h"

static char dir[64];
static char arena_path[128];

static void cleanup(void)
{
    unlink(arena_path);
    scratch_rmtree_at(AT_FDCWD, dir, 8);
}

static void load(const char *yaml, struct spec *s)
{
    struct spec_diags d;
    memset(&d, 0, sizeof d);
    CHECK_EQ(spec_load_buffer(yaml, strlen(yaml), "wf.yaml", s, &d), 0);
    spec_diags_free(&d);
}

static char *slurp(const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    char *b = vl_xcalloc(1, 4096);
    if (f) {
        size_t n = fread(b, 1, 4095, f);
        b[n] = '\0';
        fclose(f);
    }
    return b;
}

/* Waits (up to 20 s: a hang bound, 10x far beyond a few echo commands)
 * until no action is due or running. */
static void settle(struct actions *A)
{
    for (int i = 0; i < 2000 && actions_busy(A); i++)
        usleep(10000);
    CHECK(!actions_busy(A));
}

static uint32_t jid_of(const struct spec *s, const char *name)
{
    for (uint32_t j = 0; j < s->njobs; j++)
        if (!strcmp(spec_job_name(s, j), name))
            return j;
    return UINT32_MAX;
}

static void warn_fn(void *ctx, const char *msg)
{
    (void)ctx;
    FILE *f = fopen("warn.txt", "a");
    fprintf(f, "%s\n", msg);
    fclose(f);
}

static void test_triggers(void)
{
    struct spec s;
    load("name: t\n"
         "env: {W: wf}\n"
         "jobs:\n"
         "  - {name: a, command: x}\n"
         "  - {name: b, command: x, depends_on: [a]}\n"
         "  - {name: c, command: x, depends_on: [a]}\n"
         "actions:\n"
         "  - {trigger_type: on_workflow_start, action_type: run_commands,\n"
         "     commands: ['echo start $W $VOLLEY_ACTION $VOLLEY_ACTION_TRIGGER >> log']}\n"
         "  - {trigger_type: on_jobs_ready, action_type: run_commands, jobs: [b],\n"
         "     commands: ['echo b-ready >> log']}\n"
         "  - {trigger_type: on_jobs_complete, action_type: run_commands, jobs: [a, b],\n"
         "     commands: ['echo ab-done >> log', 'false', 'echo never >> log']}\n"
         "  - {trigger_type: on_jobs_ready, action_type: run_commands, jobs: [c],\n"
         "     commands: ['echo c-ready >> log']}\n"
         "  - {trigger_type: on_jobs_complete, action_type: run_commands, jobs: [c],\n"
         "     commands: ['echo c-done >> log']}\n"
         "  - {trigger_type: on_workflow_complete, action_type: run_commands,\n"
         "     commands: ['echo complete >> log']}\n",
         &s);
    struct arena a;
    struct vl_err err = {0};
    CHECK_EQ(arena_build(&a, arena_path, &s, NULL, &err), 0);
    uint32_t w;
    CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &w, &err), 0);

    struct vl_warn warn = {.fn = warn_fn};
    char logs[128];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    struct actions_opts o = {
        .run_dir = dir, .log_dir = logs, .workdir = dir, .kill_grace_ms = 500, .warn = &warn};
    struct actions *A = NULL;
    CHECK_EQ(actions_open(&A, &s, NULL, NULL, &o, &err), 0);
    CHECK(A != NULL);
    if (!A)
        return;
    actions_fire(A, SPEC_ON_WORKFLOW_START);
    settle(A);
    char *log = slurp("log");
    CHECK_STR(log, "start wf 0 on_workflow_start\n");
    free(log);

    /* a is ready (a root), b and c blocked: nothing of the job triggers yet */
    actions_poll(A, &a);
    settle(A);
    log = slurp("log");
    CHECK_STR(log, "start wf 0 on_workflow_start\n");
    free(log);

    /* c (blocked) is canceled before it started: it never became ready */
    struct arena_cancel_stats cs;
    CHECK_EQ(arena_cancel(&a, w, jid_of(&s, "c"), &cs, &err), 0);
    actions_poll(A, &a);
    settle(A);
    log = slurp("log");
    CHECK_STR(log, "start wf 0 on_workflow_start\nc-done\n");
    free(log);

    /* a runs and completes: b becomes ready */
    uint32_t j = arena_take(&a, w);
    CHECK_EQ(j, jid_of(&s, "a"));
    arena_job_set_start(&a, j, vl_wall_ns());
    CHECK_EQ(arena_finish(&a, w, j, ARENA_COMPLETED, 0), 0);
    actions_poll(A, &a);
    settle(A);
    log = slurp("log");
    CHECK_STR(log, "start wf 0 on_workflow_start\nc-done\nb-ready\n");
    free(log);

    /* b fails: a and b are finished; that action's second command fails */
    j = arena_take(&a, w);
    CHECK_EQ(j, jid_of(&s, "b"));
    CHECK_EQ(arena_finish(&a, w, j, ARENA_FAILED, 1), 0);
    CHECK(arena_done(&a));
    actions_poll(A, &a);
    settle(A);
    actions_fire(A, SPEC_ON_WORKFLOW_COMPLETE);
    actions_fire(A, SPEC_ON_WORKFLOW_START); /* done: not again */
    settle(A);
    uint32_t failed = 9;
    CHECK_EQ(actions_close(A, &failed, &err), 0);
    CHECK_EQ(failed, 1);
    log = slurp("log");
    CHECK_STR(log, "start wf 0 on_workflow_start\nc-done\nb-ready\nab-done\ncomplete\n");
    free(log);
    char *w_txt = slurp("warn.txt");
    CHECK_HAS(w_txt, "action 2 (on_jobs_complete, line 12) failed: exit code 1 (volley logs ");
    free(w_txt);
    /* the actions' own log: the failed command noted as exit 1 */
    char p[256];
    snprintf(p, sizeof p, "%s/logs/actions/seg-0000.idx", dir);
    struct stat sb;
    CHECK_EQ(stat(p, &sb), 0);
    arena_leave(&a, w);
    arena_close(&a);
    unlink(arena_path);
    spec_free(&s);
}

static void test_due_at_resume(void)
{
    struct spec s;
    load("name: r\n"
         "jobs:\n"
         "  - {name: a, command: x}\n"
         "  - {name: b, command: x}\n"
         "actions:\n"
         "  - {trigger_type: on_jobs_ready, action_type: run_commands, jobs: [b], commands: [x]}\n"
         "  - {trigger_type: on_jobs_complete, action_type: run_commands, jobs: [a], commands: "
         "[x]}\n",
         &s);
    struct snap_action recs[2] = {{.id = 0, .state = SNAP_ACT_PENDING},
                                  {.id = 1, .state = SNAP_ACT_COMPLETED}};
    struct snap_job jobs[2] = {{.jid = 0, .state = SNAP_STATE_COMPLETED},
                               {.jid = 1, .state = SNAP_STATE_CANCELED}};
    /* b canceled before it started: never ready; the other one is done */
    CHECK(!actions_due_at_resume(&s, recs, jobs));
    jobs[1].start_ns = 5; /* it had started: it was ready */
    CHECK(actions_due_at_resume(&s, recs, jobs));
    jobs[1].start_ns = 0;
    recs[1].state = SNAP_ACT_RUNNING; /* cut short: runs again */
    CHECK(actions_due_at_resume(&s, recs, jobs));
    recs[1].state = SNAP_ACT_FAILED;
    CHECK(!actions_due_at_resume(&s, recs, jobs));
    CHECK(!actions_due_at_resume(&s, NULL, jobs));
    spec_free(&s);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/volley-actions-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(arena_path, sizeof arena_path, "/dev/shm/volley-test-actions-%d", (int)getpid());
    scratch_at_exit(cleanup);
    char *old = getcwd(NULL, 0);
    CHECK_EQ(chdir(dir), 0);
    test_triggers();
    test_due_at_resume();
    CHECK_EQ(chdir(old), 0);
    free(old);
    return check_done();
}

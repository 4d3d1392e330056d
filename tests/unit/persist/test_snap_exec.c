/*
 * test_snap_exec.c - volley.db keeps what issue 21 runs: env sets (the
 * workflow's, a shared one per entry, one per job), stdio flags, the
 * execution_config and the actions, exactly (field by field and by content
 * hash); action records written directly and through the checkpointer come
 * back on restore; `volley logs`' readers (snap_job_flags,
 * snap_actions_read) see them; a file of the schema before them reads with
 * torc's defaults and keeps its content hash; damage in the new tables is
 * refused.
 */
#include "persist/snap.h"

#include <errno.h>
#include <sqlite3.h>

#include "loader/load.h"
#include "persist/ckpt.h"
#include "persist/snap_int.h"
#include "persist_test.h"

static void sql(const char *path, const char *q)
{
    sqlite3 *db;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, q, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sql %s: %s\n", q, msg ? msg : "?");
    CHECK_EQ(rc, SQLITE_OK);
    sqlite3_free(msg);
    sqlite3_close(db);
}

static void load(const char *yaml, struct spec *s)
{
    struct spec_diags d;
    memset(&d, 0, sizeof d);
    int rc = spec_load_buffer(yaml, strlen(yaml), "wf.yaml", s, &d);
    for (uint32_t i = 0; i < d.n; i++)
        if (rc)
            fprintf(stderr, "%u:%u: %s\n", d.v[i].line, d.v[i].col, d.v[i].msg);
    CHECK_EQ(rc, 0);
    spec_diags_free(&d);
}

static struct snap_meta meta(void)
{
    struct snap_meta m = {.created_ns = 1700000000000000000ull, .cwd = "/w"};
    for (int i = 0; i < 16; i++)
        m.run_id[i] = (uint8_t)(0x40 + i);
    strcpy(m.boot_id, "01234567-89ab-cdef-0123-456789abcdef");
    return m;
}

/* Every field issue 21 added, by content. */
static void check_same_exec(const struct spec *a, const struct spec *b)
{
    CHECK_U64(a->nenvsets, b->nenvsets);
    CHECK_U64(a->nenvkv, b->nenvkv);
    CHECK_EQ(a->env == NULL, b->env == NULL);
    for (uint32_t j = 0; j < a->njobs && j < b->njobs; j++) {
        uint64_t x[16], y[16];
        uint32_t nx = spec_job_env(a, j, x, 16), ny = spec_job_env(b, j, y, 16);
        CHECK_EQ(nx, ny);
        for (uint32_t i = 0; i < nx && i < ny && i < 16; i++)
            CHECK_STR(spec_str(a, x[i]), spec_str(b, y[i]));
        CHECK_EQ(a->flags[j], b->flags[j]);
    }
    CHECK(memcmp(&a->exec, &b->exec, sizeof a->exec) == 0);
    CHECK_U64(a->nactions, b->nactions);
    for (uint32_t i = 0; i < a->nactions && i < b->nactions; i++) {
        const struct spec_action *x = &a->actions[i], *y = &b->actions[i];
        CHECK_EQ(x->trigger, y->trigger);
        CHECK_EQ(x->line, y->line);
        CHECK_EQ(x->ncmds, y->ncmds);
        CHECK_EQ(x->njobs, y->njobs);
        for (uint32_t c = 0; c < x->ncmds && c < y->ncmds; c++)
            CHECK_STR(spec_str(a, a->act_cmds[x->cmd_first + c]),
                      spec_str(b, b->act_cmds[y->cmd_first + c]));
        for (uint32_t k = 0; k < x->njobs && k < y->njobs; k++)
            CHECK_EQ(a->act_jobs[x->job_first + k], b->act_jobs[y->job_first + k]);
    }
}

static const char rich_yaml[] =
    "name: exec\n"
    "env: {ROOT: /data, MODE: fast}\n"
    "execution_config:\n"
    "  stdio: {mode: combined, delete_on_success: true}\n"
    "  termination_signal: SIGUSR1\n"
    "  sigterm_lead_seconds: 7\n"
    "  timeout_exit_code: 124\n"
    "  oom_exit_code: 9\n"
    "  limit_resources: false\n"
    "jobs:\n"
    "  - {name: prep, command: 'echo prep', env: {MODE: slow}, stdio: none}\n"
    "  - name: 'run_{i}'\n"
    "    command: 'echo {i}'\n"
    "    parameters: {i: '1:3'}\n"
    "    env: {SEED: '{i}'}\n"
    "    depends_on: [prep]\n"
    "  - {name: plain, command: 'true', stdio: {mode: no_stderr}}\n"
    "actions:\n"
    "  - {trigger_type: on_workflow_start, action_type: run_commands,\n"
    "     commands: ['mkdir -p out', 'echo start']}\n"
    "  - {trigger_type: on_jobs_complete, action_type: run_commands,\n"
    "     job_name_regexes: ['^run_'], commands: ['echo runs done']}\n"
    "  - {trigger_type: on_workflow_complete, action_type: run_commands,\n"
    "     commands: ['echo end']}\n";

static void test_roundtrip(const char *base)
{
    char *dir = pt_subdir(base, "rich");
    struct spec s;
    load(rich_yaml, &s);
    CHECK(s.env != NULL);
    CHECK_EQ(s.nactions, 3);
    struct snap_meta m = meta();
    struct snap *db = NULL;
    struct vl_err e = {0};
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    if (!db) {
        fprintf(stderr, "snap_create: %s\n", e.msg);
        spec_free(&s);
        free(dir);
        return;
    }
    /* no action has a record yet: all pending */
    const struct snap_action *acts = snap_actions(db);
    CHECK(acts != NULL);
    for (uint32_t i = 0; acts && i < 3; i++) {
        CHECK_EQ(acts[i].state, SNAP_ACT_PENDING);
        CHECK_EQ(acts[i].id, i);
        CHECK_EQ(acts[i].runs, 0);
    }
    struct snap_action a0 = {.id = 0,
                             .state = SNAP_ACT_COMPLETED,
                             .runs = 1,
                             .exit_code = 0,
                             .start_ns = 1700000001000000000ull,
                             .end_ns = 1700000002000000000ull};
    CHECK_EQ(snap_write_actions(db, &a0, 1, &e), 0);
    struct snap_action bad = {.id = 3, .state = SNAP_ACT_RUNNING};
    CHECK_EQ(snap_write_actions(db, &bad, 1, &e), -EINVAL);
    CHECK_EQ(snap_actions(db)[0].state, SNAP_ACT_COMPLETED);
    /* through the checkpointer: the last record of an id wins */
    struct ckpt *ck = NULL;
    CHECK_EQ(ckpt_start(&ck, db, NULL, &e), 0);
    struct snap_action a2[2] = {
        {.id = 2, .state = SNAP_ACT_RUNNING, .runs = 1, .exit_code = -1, .start_ns = 5},
        {.id = 2, .state = SNAP_ACT_FAILED, .runs = 1, .exit_code = 3, .start_ns = 5, .end_ns = 9},
    };
    CHECK_EQ(ckpt_submit_actions(ck, &a2[0], 1), 0);
    CHECK_EQ(ckpt_submit_actions(ck, &a2[1], 1), 0);
    CHECK_EQ(ckpt_submit_actions(ck, &bad, 1), -EINVAL);
    CHECK_EQ(ckpt_flush(ck, &e), 0);
    CHECK_EQ(ckpt_stop(ck, &e), 0);
    snap_close(db);

    struct spec r;
    struct snap_job *jobs = NULL;
    struct snap_expect want = {.check_spec_hash = true, .spec_hash = snap_spec_hash(&s)};
    int rc = snap_open(&db, dir, &want, &r, &jobs, NULL, &e);
    if (rc)
        fprintf(stderr, "snap_open: %s\n", e.msg);
    CHECK_EQ(rc, 0);
    if (rc == 0) {
        pt_check_same_spec(&s, &r);
        check_same_exec(&s, &r);
        CHECK_U64(snap_spec_hash(&r), snap_spec_hash(&s));
        CHECK_EQ(spec_flags_stdio(r.flags[0]), SPEC_STDIO_NONE);
        CHECK_EQ(spec_flags_stdio(r.flags[1]), SPEC_STDIO_COMBINED);
        CHECK(r.flags[1] & SPEC_JOB_DELETE_ON_SUCCESS);
        CHECK_EQ(spec_term_lead_s(&r), 7);
        CHECK_EQ(spec_timeout_exit_code(&r), 124);
        CHECK(!spec_limit_resources(&r));
        acts = snap_actions(db);
        CHECK_EQ(acts[0].state, SNAP_ACT_COMPLETED);
        CHECK_U64(acts[0].end_ns, 1700000002000000000ull);
        CHECK_EQ(acts[1].state, SNAP_ACT_PENDING);
        CHECK_EQ(acts[2].state, SNAP_ACT_FAILED);
        CHECK_EQ(acts[2].exit_code, 3);
        snap_close(db);
        free(jobs);
        spec_free(&r);
    }

    /* the readers from outside */
    uint8_t fl = 0;
    uint32_t last = s.njobs - 1;
    CHECK_EQ(snap_job_flags(dir, last, &fl, &e), 0);
    CHECK_EQ(fl, s.flags[last]);
    CHECK_EQ(spec_flags_stdio(fl), SPEC_STDIO_NO_STDERR);
    struct snap_action_view *v = NULL;
    uint32_t nv = 0;
    CHECK_EQ(snap_actions_read(dir, &v, &nv, &e), 0);
    CHECK_EQ(nv, 3);
    if (nv == 3) {
        CHECK_EQ(v[0].trigger, SPEC_ON_WORKFLOW_START);
        CHECK_EQ(v[0].ncmds, 2);
        CHECK_EQ(v[0].rec.state, SNAP_ACT_COMPLETED);
        CHECK_EQ(v[1].trigger, SPEC_ON_JOBS_COMPLETE);
        CHECK_EQ(v[1].rec.state, SNAP_ACT_PENDING);
        CHECK_EQ(v[2].rec.exit_code, 3);
    }
    free(v);

    /* damage in the new tables is refused, naming it */
    char *path = pt_path(dir, RUNDIR_DB);
    sql(path, "UPDATE action SET trigger = 'on_lunch' WHERE id = 1");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "an action is out of range");
    sql(path, "UPDATE action SET trigger = 'on_jobs_complete' WHERE id = 1;"
              "UPDATE env_set SET base = 5 WHERE id = 1");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "an env set is out of range");
    sql(path, "UPDATE env_set SET base = 0 WHERE id = 1; UPDATE env_set SET n = 9 WHERE id = 0");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "the file is damaged");
    sql(path, "UPDATE env_set SET n = 2 WHERE id = 0; UPDATE action_state SET state = 'odd'");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "action's record is out of range");
    sql(path, "UPDATE action_state SET state = 'failed'; UPDATE exec_config SET term_lead_s = 8");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "content hash does not match");
    sql(path, "UPDATE exec_config SET term_lead_s = 7");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    free(path);
    spec_free(&s);
    free(dir);
}

/* A file of the schema before SNAP_SCHEMA_EXEC: no new tables, no new
 * kinds. A workflow without env, actions or execution_config keeps its
 * content hash, so such a file opens (with torc's defaults) and takes
 * checkpoints. */
static void test_older_schema(const char *base)
{
    char *dir = pt_subdir(base, "old");
    struct spec s;
    load("name: old\njobs:\n  - {name: a, command: 'true'}\n"
         "  - {name: b, command: 'true', depends_on: [a]}\n",
         &s);
    struct snap_meta m = meta();
    struct snap *db = NULL;
    struct vl_err e = {0};
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    CHECK(snap_actions(db) == NULL);
    snap_close(db);
    char *path = pt_path(dir, RUNDIR_DB);
    char q[512];
    snprintf(q, sizeof q,
             "DROP TABLE env_set; DROP TABLE exec_config; DROP TABLE action;"
             " DROP TABLE action_state; DELETE FROM spec_array WHERE kind IN"
             " ('job_env', 'env_kv', 'act_cmd', 'act_jobs'); PRAGMA user_version = %d",
             SNAP_SCHEMA_EXEC - 1);
    sql(path, q);
    struct spec r;
    struct snap_job *jobs = NULL;
    struct snap_expect want = {.check_spec_hash = true, .spec_hash = snap_spec_hash(&s)};
    int rc = snap_open(&db, dir, &want, &r, &jobs, NULL, &e);
    if (rc)
        fprintf(stderr, "snap_open: %s\n", e.msg);
    CHECK_EQ(rc, 0);
    if (rc == 0) {
        CHECK_EQ(r.nenvsets, 0);
        CHECK_EQ(r.nactions, 0);
        CHECK_EQ(r.exec.set, 0);
        CHECK_EQ(spec_term_signal(&r), 15);
        struct snap_job rec = jobs[0];
        rec.state = SNAP_STATE_COMPLETED;
        rec.attempt = 1;
        CHECK_EQ(snap_write_jobs(db, &rec, 1, &e), 0);
        struct snap_action none = {.id = 0, .state = SNAP_ACT_RUNNING};
        CHECK_EQ(snap_write_actions(db, &none, 1, &e), -EINVAL);
        snap_close(db);
        free(jobs);
        spec_free(&r);
    }
    struct snap_action_view *v = NULL;
    uint32_t nv = 5;
    CHECK_EQ(snap_actions_read(dir, &v, &nv, &e), 0);
    CHECK_EQ(nv, 0);
    CHECK(v == NULL);
    free(path);
    spec_free(&s);
    free(dir);
}

int main(void)
{
    char *base = pt_tmpdir();
    test_roundtrip(base);
    test_older_schema(base);
    pt_rmrf(base);
    free(base);
    return check_done();
}

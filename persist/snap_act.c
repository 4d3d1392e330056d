/*
 * snap_act.c - what volley.db keeps of issue 21's keys beyond the arrays
 * (snap_int.h, "env, execution_config and actions"): the env sets, the
 * execution_config, the actions (their commands and jobs are array kinds,
 * snap_enc.c), and each action's record in this run, so that a resume runs
 * with all of it and does not run again an action that ran.
 *
 * Tables (SNAP_SCHEMA_EXEC on; docs/persistence.md):
 *   env_set(id, first, n, base)            spec.envsets, base NULL for none
 *   exec_config(one, set_mask, timeout_exit_code, oom_exit_code,
 *               term_signal, term_lead_s)  spec.exec (one row, or none
 *                                          when the file set nothing)
 *   action(id, trigger, line, cmd_first, ncmds, job_first, njobs)
 *   action_state(id, state, runs, exit_code, start_ns, end_ns)
 *                                          a row per action once it started
 * Triggers and states are stored by name, so `sqlite3 DIR/volley.db` reads
 * them. Everything read back is bounded by the file's size before it is
 * allocated, and spec_check verifies the rebuilt spec (restore).
 */
#include "snap.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "snap_int.h"

const char snap__exec_schema_sql[] =
    "CREATE TABLE env_set(id INTEGER PRIMARY KEY, first INTEGER NOT NULL, n INTEGER NOT NULL,"
    " base INTEGER);"
    "CREATE TABLE exec_config(one INTEGER PRIMARY KEY CHECK (one = 1),"
    " set_mask INTEGER NOT NULL, timeout_exit_code INTEGER NOT NULL,"
    " oom_exit_code INTEGER NOT NULL, term_signal INTEGER NOT NULL,"
    " term_lead_s INTEGER NOT NULL);"
    "CREATE TABLE action(id INTEGER PRIMARY KEY, trigger TEXT NOT NULL, line INTEGER NOT NULL,"
    " cmd_first INTEGER NOT NULL, ncmds INTEGER NOT NULL, job_first INTEGER NOT NULL,"
    " njobs INTEGER NOT NULL);"
    "CREATE TABLE action_state(id INTEGER PRIMARY KEY, state TEXT NOT NULL,"
    " runs INTEGER NOT NULL, exit_code INTEGER NOT NULL, start_ns INTEGER NOT NULL,"
    " end_ns INTEGER NOT NULL);";

static const char *const trigger_names[] = {
    [SPEC_ON_WORKFLOW_START] = "on_workflow_start",
    [SPEC_ON_WORKFLOW_COMPLETE] = "on_workflow_complete",
    [SPEC_ON_JOBS_READY] = "on_jobs_ready",
    [SPEC_ON_JOBS_COMPLETE] = "on_jobs_complete",
};

static const char *const act_state_names[SNAP_ACT_NSTATES] = {"pending", "running", "completed",
                                                              "failed"};

const char *snap_act_state_name(unsigned state)
{
    return state < SNAP_ACT_NSTATES ? act_state_names[state] : NULL;
}

static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    sqlite3_reset(st);
    return rc;
}

/* ---- create ---- */

int snap__write_exec(sqlite3 *db, const struct spec *s)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO env_set VALUES(?,?,?,?)", -1, &st, NULL);
    for (uint32_t i = 0; i < s->nenvsets && rc == SQLITE_OK; i++) {
        const struct spec_envset *e = &s->envsets[i];
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)e->first);
        sqlite3_bind_int64(st, 3, e->n);
        if (e->base == SPEC_NONE)
            sqlite3_bind_null(st, 4);
        else
            sqlite3_bind_int64(st, 4, e->base);
        rc = step_done(db, st);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK && s->exec.set) {
        rc = sqlite3_prepare_v2(db, "INSERT INTO exec_config VALUES(1,?,?,?,?,?)", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, s->exec.set);
            sqlite3_bind_int64(st, 2, s->exec.timeout_exit_code);
            sqlite3_bind_int64(st, 3, s->exec.oom_exit_code);
            sqlite3_bind_int64(st, 4, s->exec.term_signal);
            sqlite3_bind_int64(st, 5, s->exec.term_lead_s);
            rc = step_done(db, st);
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO action VALUES(?,?,?,?,?,?,?)", -1, &st, NULL);
    for (uint32_t i = 0; i < s->nactions && rc == SQLITE_OK; i++) {
        const struct spec_action *a = &s->actions[i];
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_text(st, 2,
                          a->trigger <= SPEC_ON_JOBS_COMPLETE ? trigger_names[a->trigger] : "?", -1,
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, a->line);
        sqlite3_bind_int64(st, 4, a->cmd_first);
        sqlite3_bind_int64(st, 5, a->ncmds);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)a->job_first);
        sqlite3_bind_int64(st, 7, a->njobs);
        rc = step_done(db, st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- the hash ---- */

void snap__hash_exec(struct snap__hash *h, const struct spec *s)
{
    if (s->nenvsets) {
        snap__hash_u64(h, 0x656e7673u); /* "envs" */
        snap__hash_u64(h, s->nenvsets);
        for (uint32_t i = 0; i < s->nenvsets; i++) {
            snap__hash_u64(h, s->envsets[i].first);
            snap__hash_u64(h, ((uint64_t)s->envsets[i].n << 32) | s->envsets[i].base);
        }
    }
    if (s->exec.set) {
        snap__hash_u64(h, 0x65786563u); /* "exec" */
        snap__hash_u64(h, s->exec.set);
        snap__hash_u64(h, ((uint64_t)(uint32_t)s->exec.timeout_exit_code << 32) |
                              (uint32_t)s->exec.oom_exit_code);
        snap__hash_u64(h, ((uint64_t)(uint32_t)s->exec.term_signal << 32) | s->exec.term_lead_s);
    }
    if (s->nactions) {
        snap__hash_u64(h, 0x61637473u); /* "acts" */
        snap__hash_u64(h, s->nactions);
        for (uint32_t i = 0; i < s->nactions; i++) {
            const struct spec_action *a = &s->actions[i];
            snap__hash_u64(h, ((uint64_t)a->trigger << 32) | a->line);
            snap__hash_u64(h, ((uint64_t)a->cmd_first << 32) | a->ncmds);
            snap__hash_u64(h, a->job_first);
            snap__hash_u64(h, a->njobs);
        }
    }
}

/* ---- restore ---- */

static uint64_t db_bytes(const char *path)
{
    struct stat sb;
    uint64_t n = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    char *wal = vl_xasprintf("%s-wal", path);
    if (stat(wal, &sb) == 0)
        n += (uint64_t)sb.st_size;
    free(wal);
    return n;
}

/* The number of rows of table (a literal), bounded by the file's size. */
static int count_rows(sqlite3 *db, const char *path, const char *sql, uint64_t *n,
                      struct vl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(st, 0);
        *n = v < 0 ? 0 : (uint64_t)v;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return snap__sql_err(err, db, rc, "cannot read %s", path);
    if (*n > db_bytes(path) / 8)
        return snap__damaged(err, path, "a table of env sets or actions is larger than the file");
    return 0;
}

static int read_envsets(sqlite3 *db, const char *path, struct spec *s, struct vl_err *err)
{
    uint64_t n;
    int code = count_rows(db, path, "SELECT count(*) FROM env_set", &n, err);
    if (code || !n)
        return code;
    s->envsets = vl_xcalloc(n, sizeof *s->envsets);
    s->nenvsets = (uint32_t)n;
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(db, "SELECT id, first, n, base FROM env_set ORDER BY id", -1, &st, NULL);
    uint64_t i = 0;
    while (!code && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        int64_t id = sqlite3_column_int64(st, 0), first = sqlite3_column_int64(st, 1),
                cnt = sqlite3_column_int64(st, 2);
        bool nobase = sqlite3_column_type(st, 3) == SQLITE_NULL;
        int64_t base = sqlite3_column_int64(st, 3);
        if (i >= n || id != (int64_t)i || first < 0 || cnt < 0 || cnt > UINT32_MAX ||
            (!nobase && (base < 0 || base >= id))) {
            code = snap__damaged(err, path, "an env set is out of range");
            break;
        }
        s->envsets[i++] = (struct spec_envset){.first = (uint64_t)first,
                                               .n = (uint32_t)cnt,
                                               .base = nobase ? SPEC_NONE : (uint32_t)base};
    }
    sqlite3_finalize(st);
    if (!code && rc != SQLITE_DONE)
        code = snap__sql_err(err, db, rc, "cannot read the env sets of %s", path);
    if (!code && i != n)
        code = snap__damaged(err, path, "the env sets are incomplete");
    return code;
}

static int read_exec_config(sqlite3 *db, const char *path, struct spec *s, struct vl_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT set_mask, timeout_exit_code, oom_exit_code, term_signal,"
                                " term_lead_s FROM exec_config",
                                -1, &st, NULL);
    int code = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t v[5];
        for (int i = 0; i < 5; i++)
            v[i] = sqlite3_column_int64(st, i);
        if (v[0] < 0 || v[0] > UINT32_MAX || v[1] < INT32_MIN || v[1] > INT32_MAX ||
            v[2] < INT32_MIN || v[2] > INT32_MAX || v[3] < 1 || v[3] > 64 || v[4] < 0 ||
            v[4] > UINT32_MAX)
            code = snap__damaged(err, path, "the execution_config is out of range");
        else
            s->exec = (struct spec_exec){.set = (uint32_t)v[0],
                                         .timeout_exit_code = (int32_t)v[1],
                                         .oom_exit_code = (int32_t)v[2],
                                         .term_signal = (int32_t)v[3],
                                         .term_lead_s = (uint32_t)v[4]};
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (!code && rc != SQLITE_DONE)
        code = snap__sql_err(err, db, rc, "cannot read the execution_config of %s", path);
    return code;
}

static int read_action_table(sqlite3 *db, const char *path, struct spec *s, struct vl_err *err)
{
    uint64_t n;
    int code = count_rows(db, path, "SELECT count(*) FROM action", &n, err);
    if (code || !n)
        return code;
    s->actions = vl_xcalloc(n, sizeof *s->actions);
    s->nactions = (uint32_t)n;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT id, trigger, line, cmd_first, ncmds, job_first, njobs"
                                " FROM action ORDER BY id",
                                -1, &st, NULL);
    uint64_t i = 0;
    while (!code && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        int64_t v[7];
        for (int c = 0; c < 7; c++)
            v[c] = c == 1 ? 0 : sqlite3_column_int64(st, c);
        int trig =
            name_index(trigger_names, (int)VL_ARRAY_LEN(trigger_names), snap__col_text(st, 1));
        bool bad = i >= n || v[0] != (int64_t)i || trig < 0;
        for (int c = 2; c < 7; c++)
            bad = bad || v[c] < 0 || (c != 5 && v[c] > UINT32_MAX);
        if (bad) {
            code = snap__damaged(err, path, "an action is out of range");
            break;
        }
        s->actions[i++] = (struct spec_action){.trigger = (uint32_t)trig,
                                               .line = (uint32_t)v[2],
                                               .cmd_first = (uint32_t)v[3],
                                               .ncmds = (uint32_t)v[4],
                                               .job_first = (uint64_t)v[5],
                                               .njobs = (uint32_t)v[6]};
    }
    sqlite3_finalize(st);
    if (!code && rc != SQLITE_DONE)
        code = snap__sql_err(err, db, rc, "cannot read the actions of %s", path);
    if (!code && i != n)
        code = snap__damaged(err, path, "the actions are incomplete");
    return code;
}

int snap__read_exec(sqlite3 *db, const char *path, int schema, struct spec *s, struct vl_err *err)
{
    if (schema < SNAP_SCHEMA_EXEC)
        return 0; /* before env and actions: none, and torc's defaults */
    int code = read_envsets(db, path, s, err);
    if (!code)
        code = read_exec_config(db, path, s, err);
    if (!code)
        code = read_action_table(db, path, s, err);
    return code;
}

/* ---- the action records ---- */

/* One action_state row into r (checked against nactions). */
static bool action_row(sqlite3_stmt *st, uint32_t nactions, struct snap_action *r)
{
    int64_t id = sqlite3_column_int64(st, 0), runs = sqlite3_column_int64(st, 2),
            ec = sqlite3_column_int64(st, 3);
    int state = name_index(act_state_names, SNAP_ACT_NSTATES, snap__col_text(st, 1));
    if (id < 0 || id >= nactions || state < 0 || runs < 0 || runs > UINT32_MAX || ec < INT32_MIN ||
        ec > INT32_MAX)
        return false;
    *r = (struct snap_action){.id = (uint32_t)id,
                              .state = (uint8_t)state,
                              .runs = (uint32_t)runs,
                              .exit_code = (int32_t)ec,
                              .start_ns = (uint64_t)sqlite3_column_int64(st, 4),
                              .end_ns = (uint64_t)sqlite3_column_int64(st, 5)};
    return true;
}

static void action_init(struct snap_action *r, uint32_t id)
{
    *r = (struct snap_action){.id = id, .state = SNAP_ACT_PENDING, .exit_code = -1};
}

static const char sel_states[] =
    "SELECT id, state, runs, exit_code, start_ns, end_ns FROM action_state";

int snap__read_actions(struct snap *d, struct vl_err *err)
{
    uint32_t n = d->spec->nactions;
    if (!n)
        return 0;
    d->acts = vl_xcalloc(n, sizeof *d->acts);
    for (uint32_t i = 0; i < n; i++)
        action_init(&d->acts[i], i);
    if (d->schema < SNAP_SCHEMA_EXEC)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(d->db, sel_states, -1, &st, NULL);
    int code = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        struct snap_action r;
        if (!action_row(st, n, &r)) {
            code = snap__damaged(err, d->path, "an action's record is out of range");
            break;
        }
        d->acts[r.id] = r;
    }
    sqlite3_finalize(st);
    if (!code && rc != SQLITE_DONE)
        code = snap__sql_err(err, d->db, rc, "cannot read the action records of %s", d->path);
    return code;
}

const struct snap_action *snap_actions(const struct snap *d)
{
    return d->acts;
}

int snap_write_actions(struct snap *d, const struct snap_action *acts, size_t n, struct vl_err *err)
{
    uint32_t na = d->spec->nactions;
    for (size_t i = 0; i < n; i++)
        if (acts[i].id >= na || acts[i].state >= SNAP_ACT_NSTATES || d->schema < SNAP_SCHEMA_EXEC)
            return vl_err_set(err, -EINVAL,
                              "action record %zu (action %" PRIu32 ") is out of range", i,
                              acts[i].id);
    if (!n)
        return 0;
    sqlite3_stmt *st = NULL;
    int rc = snap__exec_sql(d->db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(d->db,
                                "INSERT INTO action_state VALUES(?1,?2,?3,?4,?5,?6)"
                                " ON CONFLICT(id) DO UPDATE SET state=excluded.state,"
                                " runs=excluded.runs, exit_code=excluded.exit_code,"
                                " start_ns=excluded.start_ns, end_ns=excluded.end_ns",
                                -1, &st, NULL);
    for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
        const struct snap_action *a = &acts[i];
        sqlite3_bind_int64(st, 1, a->id);
        sqlite3_bind_text(st, 2, act_state_names[a->state], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, a->runs);
        sqlite3_bind_int64(st, 4, a->exit_code);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)a->start_ns);
        sqlite3_bind_int64(st, 6, (sqlite3_int64)a->end_ns);
        rc = step_done(d->db, st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = snap__exec_sql(d->db, "COMMIT");
    if (rc != SQLITE_OK) {
        int code =
            snap__sql_err(err, d->db, rc, "cannot write the actions' records to %s", d->path);
        if (!sqlite3_get_autocommit(d->db))
            snap__exec_sql(d->db, "ROLLBACK");
        return code;
    }
    for (size_t i = 0; i < n; i++)
        d->acts[acts[i].id] = acts[i];
    return 0;
}

/* ---- readers from outside (`volley logs`) ---- */

/* A read-only connection to DIR/volley.db in one read transaction. */
static int open_ro(const char *dir, char **path, sqlite3 **db, int *schema, struct vl_err *err)
{
    *path = snap__join(dir, RUNDIR_DB);
    int code = snap__open_checked(dir, *path, false, db, schema, err);
    int rc;
    if (!code && (rc = snap__exec_sql(*db, "BEGIN")) != SQLITE_OK)
        code = snap__sql_err(err, *db, rc, "cannot read %s", *path);
    return code;
}

int snap_job_flags(const char *dir, uint32_t jid, uint8_t *flags, struct vl_err *err)
{
    *flags = 0;
    char *path = NULL;
    sqlite3 *db = NULL;
    int schema;
    int code = open_ro(dir, &path, &db, &schema, err);
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    if (!code)
        rc = sqlite3_prepare_v2(db,
                                "SELECT first, data FROM spec_chunk WHERE kind = 'job_flags'"
                                " AND first <= ?1 ORDER BY first DESC LIMIT 1",
                                -1, &st, NULL);
    if (!code && rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, jid);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            int64_t first = sqlite3_column_int64(st, 0);
            int len = sqlite3_column_bytes(st, 1);
            const uint8_t *p = sqlite3_column_blob(st, 1);
            if (first < 0 || !p || (int64_t)jid - first >= len)
                code = snap__damaged(err, path, "the job flags are cut short");
            else
                *flags = p[(int64_t)jid - first];
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            code = snap__damaged(err, path, "the job flags are missing");
            rc = SQLITE_OK;
        }
    }
    if (!code && rc != SQLITE_OK)
        code = snap__sql_err(err, db, rc, "cannot read %s", path);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
    return code;
}

int snap_actions_read(const char *dir, struct snap_action_view **out, uint32_t *n,
                      struct vl_err *err)
{
    *out = NULL;
    *n = 0;
    char *path = NULL;
    sqlite3 *db = NULL;
    int schema;
    int code = open_ro(dir, &path, &db, &schema, err);
    struct spec s;
    memset(&s, 0, sizeof s);
    if (!code && schema >= SNAP_SCHEMA_EXEC)
        code = read_action_table(db, path, &s, err);
    struct snap_action_view *v = s.nactions ? vl_xcalloc(s.nactions, sizeof *v) : NULL;
    for (uint32_t i = 0; i < s.nactions; i++) {
        v[i].trigger = s.actions[i].trigger;
        v[i].ncmds = s.actions[i].ncmds;
        action_init(&v[i].rec, i);
    }
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    if (!code && s.nactions)
        rc = sqlite3_prepare_v2(db, sel_states, -1, &st, NULL);
    while (!code && s.nactions && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        struct snap_action r;
        if (!action_row(st, s.nactions, &r))
            code = snap__damaged(err, path, "an action's record is out of range");
        else
            v[r.id].rec = r;
    }
    if (!code && rc != SQLITE_OK && rc != SQLITE_DONE)
        code = snap__sql_err(err, db, rc, "cannot read the action records of %s", path);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
    if (!code) {
        *out = v;
        *n = s.nactions;
    } else {
        free(v);
    }
    spec_free(&s);
    return code;
}

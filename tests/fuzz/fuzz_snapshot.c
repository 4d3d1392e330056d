/*
 * fuzz_snapshot.c - arbitrary bytes as DIR/volley.db: restore (snap_open),
 * the status read and the job iterator must never crash, only return clean
 * errors; a file that restores must also take a checkpoint.
 *
 * Each input is written to volley.db in a scratch directory made once per
 * process (leftover -wal/-shm files of the previous input are removed
 * first, so inputs do not leak into each other).
 *
 * The seed corpus (tests/fuzz/corpus/fuzz_snapshot/) is made by this same
 * file built with -DFUZZ_SNAPSHOT_MAKE_CORPUS: small valid snapshots (512-
 * byte pages so they stay small), truncated and bit-flipped copies, an
 * empty file and garbage. See docs/persistence.md for the command.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist/snap.h"

static char *dir, *db_path, *wal_path, *shm_path;

static void cleanup(void)
{
    if (!dir)
        return;
    unlink(db_path);
    unlink(wal_path);
    unlink(shm_path);
    rmdir(dir);
}

static void setup(void)
{
    if (dir)
        return;
    dir = strdup("/tmp/volley-fuzz-snapshot-XXXXXX");
    if (!dir || !mkdtemp(dir))
        abort();
    db_path = vl_xasprintf("%s/%s", dir, RUNDIR_DB);
    wal_path = vl_xasprintf("%s/%s", dir, RUNDIR_DB_WAL);
    shm_path = vl_xasprintf("%s/%s", dir, RUNDIR_DB_SHM);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    unlink(wal_path);
    unlink(shm_path);
    FILE *f = fopen(db_path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);

    struct vl_err e = {0};
    struct snap_info info;
    if (snap_info_read(dir, &info, &e) == 0)
        snap_info_fini(&info);

    struct snap_iter *it = NULL;
    if (snap_iter_open(&it, dir, &e) == 0) {
        struct snap_job rec;
        const char *name;
        size_t total = 0;
        while (snap_iter_next(it, &rec, &name, &e) == 1)
            total += strlen(name) + rec.state;
        snap_iter_close(it);
        (void)total;
    }

    struct snap *db = NULL;
    struct spec s;
    struct snap_job *jobs = NULL;
    if (snap_open(&db, dir, NULL, &s, &jobs, &info, &e) == 0) {
        if (s.njobs) {
            struct snap_job j = jobs[s.njobs - 1];
            j.state = SNAP_STATE_COMPLETED;
            snap_write_jobs(db, &j, 1, &e);
        }
        snap_close(db);
        free(jobs);
        spec_free(&s);
        snap_info_fini(&info);
    } else if (e.code == 0 || e.msg[0] == '\0') {
        abort(); /* every failure must say what is wrong */
    }
    return 0;
}

#ifdef FUZZ_SNAPSHOT_MAKE_CORPUS
/* Writes the seed corpus into argv[1]. */
#include "bench/persist/specgen.h"
#include "persist/snap_int.h"

static void put(const char *out, const char *name, const void *p, size_t n)
{
    char *path = vl_xasprintf("%s/%s", out, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n))
        abort();
    fclose(f);
    free(path);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        abort();
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = vl_xmalloc(*n);
    if (fread(p, 1, *n, f) != *n)
        abort();
    fclose(f);
    return p;
}

/* A finished run of spec s (one file: the WAL folded in), as bytes. */
static char *make_db(struct spec *s, size_t *n, int rows)
{
    char *d = strdup("/tmp/volley-fuzz-seed-XXXXXX");
    if (!mkdtemp(d))
        abort();
    struct snap_meta m = {.created_ns = 1, .cwd = "/"};
    struct vl_err e = {0};
    struct snap *db;
    if (snap_create(&db, d, s, &m, NULL, 0, &e))
        abort();
    for (int i = 0; i < rows && (uint32_t)i < s->njobs; i++) {
        struct snap_job j;
        snap_job_init(s, (uint32_t)i, &j);
        j.state = (uint8_t)(i % SNAP_NSTATES);
        j.attempt = (uint32_t)i;
        if (snap_write_jobs(db, &j, 1, &e))
            abort();
    }
    /* schema 9: two allocations, a requeued Slurm job's first (75) and
     * second (0) */
    for (int i = 0; i < 2; i++) {
        struct snap_alloc al = {.restart = i - 1, .start_ns = 10u + 10u * (unsigned)i};
        snprintf(al.job_id, sizeof al.job_id, "4711");
        snprintf(al.node, sizeof al.node, "n%d", i + 1);
        if (snap_alloc_begin(db, &al, &e) ||
            snap_alloc_end(db, al.seq, al.start_ns + 5, i ? 0 : 75, &e))
            abort();
    }
    if (s->nactions) {
        struct snap_action a = {
            .id = 0, .state = SNAP_ACT_COMPLETED, .runs = 1, .start_ns = 1, .end_ns = 2};
        if (snap_write_actions(db, &a, 1, &e))
            abort();
    }
    if (snap_finish(db, &e))
        abort();
    snap_close(db);
    char *path = vl_xasprintf("%s/%s", d, RUNDIR_DB);
    char *p = slurp(path, n);
    unlink(path);
    free(path);
    rmdir(d);
    free(d);
    return p;
}

/* Appends str to s's pool; returns its offset. */
static uint64_t pool_add(struct spec *s, const char *str)
{
    size_t n = strlen(str) + 1;
    s->pool = vl_xrealloc(s->pool, s->pool_len + n);
    memcpy(s->pool + s->pool_len, str, n);
    s->pool_len += n;
    return s->pool_len - n;
}

/* Gives s (at least 2 jobs) what schema 4 stores: env sets (the
 * workflow's and one per odd job), stdio flags, an execution_config, two
 * actions. */
static void add_exec(struct spec *s)
{
    static const char *const kv[] = {"A=1", "B=two", "A=3"};
    s->nenvkv = 3;
    s->envkv = vl_xcalloc(3, sizeof *s->envkv);
    for (int i = 0; i < 3; i++)
        s->envkv[i] = pool_add(s, kv[i]);
    s->nenvsets = 2;
    s->envsets = vl_xcalloc(2, sizeof *s->envsets);
    s->envsets[0] = (struct spec_envset){.first = 0, .n = 2, .base = SPEC_NONE};
    s->envsets[1] = (struct spec_envset){.first = 2, .n = 1, .base = 0};
    s->env = vl_xcalloc(s->njobs, sizeof *s->env);
    for (uint32_t j = 0; j < s->njobs; j++) {
        s->env[j] = j % 2;
        s->flags[j] |= (uint8_t)((j % 5) << SPEC_JOB_STDIO_SHIFT);
    }
    s->flags[0] |= SPEC_JOB_DELETE_ON_SUCCESS;
    s->exec = (struct spec_exec){.set = SPEC_EXEC_TIMEOUT_CODE | SPEC_EXEC_TERM_SIGNAL,
                                 .timeout_exit_code = 124,
                                 .term_signal = 10};
    s->nact_cmds = 3;
    s->act_cmds = vl_xcalloc(3, sizeof *s->act_cmds);
    s->act_cmds[0] = pool_add(s, "mkdir -p out");
    s->act_cmds[1] = pool_add(s, "echo start");
    s->act_cmds[2] = pool_add(s, "echo done");
    s->nact_jobs = 2;
    s->act_jobs = vl_xcalloc(2, sizeof *s->act_jobs);
    s->act_jobs[0] = 0;
    s->act_jobs[1] = 1;
    s->nactions = 2;
    s->actions = vl_xcalloc(2, sizeof *s->actions);
    s->actions[0] = (struct spec_action){.trigger = SPEC_ON_WORKFLOW_START, .line = 3, .ncmds = 2};
    s->actions[1] = (struct spec_action){
        .trigger = SPEC_ON_JOBS_COMPLETE, .line = 9, .cmd_first = 2, .ncmds = 1, .njobs = 2};
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    snap__page_size = 512;
    snap__row_bytes = 256;
    struct spec s;
    struct vl_err e = {0};
    size_t n;
    specgen_rich(&s, 6);
    char *rich = make_db(&s, &n, 4);
    put(argv[1], "rich.db", rich, n);
    for (int i = 1; i <= 4; i++) { /* truncated at fractions */
        char name[32];
        snprintf(name, sizeof name, "rich_trunc_%d.db", i);
        put(argv[1], name, rich, n * (size_t)i / 5);
    }
    for (int i = 0; i < 6; i++) { /* one bit flipped across the file */
        char *c = vl_xmalloc(n);
        memcpy(c, rich, n);
        size_t at = 100 + (n - 100) * (size_t)i / 6;
        c[at] ^= (char)(1 << (i % 8));
        char name[32];
        snprintf(name, sizeof name, "rich_flip_%d.db", i);
        put(argv[1], name, c, n);
        free(c);
    }
    free(rich);
    spec_free(&s);
    /* schema 4: env, stdio, execution_config, actions and their records */
    specgen_rich(&s, 6);
    add_exec(&s);
    if (spec_check(&s, &e))
        abort();
    char *ex = make_db(&s, &n, 2);
    put(argv[1], "exec.db", ex, n);
    for (int i = 0; i < 3; i++) { /* damage in the later pages, where the new tables are */
        char *c = vl_xmalloc(n);
        memcpy(c, ex, n);
        size_t at = n / 2 + (n / 2 - 1) * (size_t)i / 3;
        c[at] ^= (char)(1 << (i + 2));
        char name[32];
        snprintf(name, sizeof name, "exec_flip_%d.db", i);
        put(argv[1], name, c, n);
        free(c);
    }
    free(ex);
    spec_free(&s);
    if (specgen_make(&s, SPECGEN_DAG, 40, 1, &e))
        abort();
    char *dag = make_db(&s, &n, 10);
    put(argv[1], "dag.db", dag, n);
    free(dag);
    s.prio = vl_xcalloc(s.njobs, sizeof *s.prio); /* three priorities: the job_prio array */
    for (uint32_t j = 0; j < s.njobs; j++)
        s.prio[j] = j % 3 == 0 ? 7 : j % 3 == 1 ? 0 : -7;
    dag = make_db(&s, &n, 10);
    put(argv[1], "dag_prio.db", dag, n);
    free(dag);
    spec_free(&s);
    put(argv[1], "empty.db", "", 0);
    put(argv[1], "garbage.db", "SQLite format 3\0garbage garbage garbage", 40);
    return 0;
}
#endif

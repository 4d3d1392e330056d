/*
 * test_snap.c - volley.db: round trips of every part of a spec and the job
 * records, checkpoints and counts, the status read, the streaming
 * iterator, the readable `jobs` view, and every kind of bad input with the
 * message it gets, its exit code (3) and a file left byte-for-byte as it
 * was.
 */
#include "persist/snap.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "bench/persist/specgen.h"
#include "persist/snap_int.h"
#include "persist_test.h"

static struct snap_meta meta_for(uint8_t seed)
{
    struct snap_meta m = {.created_ns = 1700000000123456789ull, .cwd = "/work/here"};
    for (int i = 0; i < 16; i++)
        m.run_id[i] = (uint8_t)(seed + i);
    strcpy(m.boot_id, "01234567-89ab-cdef-0123-456789abcdef");
    return m;
}

/* Runs one SQL statement on a db with plain SQLite (no volley checks). */
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

/* First column of the first row of q, as text (static buffer). */
static const char *sql1(const char *path, const char *q)
{
    static char out[512];
    out[0] = '\0';
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    } else {
        fprintf(stderr, "sql1 %s: %s\n", q, sqlite3_errmsg(db));
        check_failures++;
    }
    sqlite3_close(db);
    return out;
}

static void test_roundtrip_rich(const char *base)
{
    char *dir = pt_subdir(base, "rich");
    struct spec s;
    specgen_rich(&s, 50);
    struct vl_err e = {0};
    CHECK_EQ(spec_check(&s, &e), 0);
    struct snap_meta m = meta_for(7);
    struct snap *db = NULL;
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    CHECK(db != NULL);
    /* a checkpoint with a few records, one job twice (the last wins) */
    struct snap_job recs[4];
    snap_job_init(&s, 0, &recs[0]);
    recs[0].state = SNAP_STATE_RUNNING;
    recs[0].attempt = 1;
    recs[0].start_ns = 1700000001000000000ull;
    recs[1] = recs[0];
    recs[1].state = SNAP_STATE_COMPLETED;
    recs[1].end_ns = 1700000002500000000ull;
    recs[1].log_ref = 4096;
    snap_job_init(&s, 7, &recs[2]);
    recs[2].state = SNAP_STATE_FAILED;
    recs[2].attempt = 4;
    recs[2].lost = 2; /* two of them cut short */
    recs[2].exit_code = -9;
    snap_job_init(&s, 49, &recs[3]);
    recs[3].state = SNAP_STATE_CANCELED;
    CHECK_EQ(snap_write_jobs(db, recs, 4, &e), 0);
    snap_close(db);

    struct spec r;
    struct snap_job *jobs = NULL;
    struct snap_info info;
    struct snap_expect want = {
        .check_run_id = true, .check_spec_hash = true, .spec_hash = snap_spec_hash(&s)};
    memcpy(want.run_id, m.run_id, 16);
    int rc = snap_open(&db, dir, &want, &r, &jobs, &info, &e);
    if (rc)
        fprintf(stderr, "snap_open: %s\n", e.msg);
    CHECK_EQ(rc, 0);
    if (rc == 0) {
        pt_check_same_spec(&s, &r);
        CHECK_U64(snap_spec_hash(&r), snap_spec_hash(&s));
        CHECK_U64(info.spec_hash, snap_spec_hash(&s));
        CHECK_STR(info.cwd, "/work/here");
        CHECK_STR(info.workflow, "rich");
        CHECK_STR(info.source, "/tmp/rich.yaml");
        CHECK_STR(info.boot_id, m.boot_id);
        CHECK_U64(info.created_ns, m.created_ns);
        CHECK_U64(info.njobs, 50);
        CHECK_EQ(jobs[0].state, SNAP_STATE_COMPLETED);
        CHECK_U64(jobs[0].end_ns, 1700000002500000000ull);
        CHECK_U64(jobs[0].log_ref, 4096);
        CHECK_EQ(jobs[7].state, SNAP_STATE_FAILED);
        CHECK_EQ(jobs[7].exit_code, -9);
        CHECK_EQ(jobs[7].attempt, 4);
        CHECK_EQ(jobs[7].lost, 2);
        CHECK_EQ(jobs[49].state, SNAP_STATE_CANCELED);
        CHECK_EQ(jobs[1].state, SNAP_STATE_BLOCKED);
        CHECK_U64(jobs[1].log_ref, SNAP_NO_LOG);
        CHECK_U64(info.counts[SNAP_STATE_COMPLETED], 1);
        CHECK_U64(info.counts[SNAP_STATE_FAILED], 1);
        CHECK_U64(info.counts[SNAP_STATE_CANCELED], 1);
        CHECK_U64(info.counts[SNAP_STATE_READY], 0); /* job 0 was the only root */
        CHECK_U64(info.counts[SNAP_STATE_BLOCKED], 47);
        CHECK_U64(info.checkpoints, 1);
        /* keep checkpointing through the restored handle */
        recs[0] = jobs[1];
        recs[0].state = SNAP_STATE_READY;
        CHECK_EQ(snap_write_jobs(db, recs, 1, &e), 0);
        CHECK_EQ(snap_finish(db, &e), 0);
        snap_close(db);
        free(jobs);
        spec_free(&r);
        /* a schema-2 file (no column lost) reads with lost 0 and takes
         * checkpoints; a lost count out of range is damage */
        char *path = pt_path(dir, RUNDIR_DB);
        sql(path, "UPDATE job SET lost = 2048 WHERE jid = 7");
        CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), VL_ECORRUPT);
        CHECK_HAS(e.msg, "job record is out of range");
        sql(path, "ALTER TABLE job DROP COLUMN lost; PRAGMA user_version = 2");
        CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
        if (db) {
            CHECK_EQ(jobs[7].attempt, 4);
            CHECK_EQ(jobs[7].lost, 0);
            recs[0] = jobs[7];
            recs[0].attempt = 5;
            recs[0].lost = 3; /* not stored: no column */
            CHECK_EQ(snap_write_jobs(db, recs, 1, &e), 0);
            snap_close(db);
            free(jobs);
            spec_free(&r);
            CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
            CHECK_EQ(jobs[7].attempt, 5);
            CHECK_EQ(jobs[7].lost, 0);
            snap_close(db);
            free(jobs);
            spec_free(&r);
        }
        free(path);
        snap_info_fini(&info);
    }
    struct snap_info in2;
    CHECK_EQ(snap_info_read(dir, &in2, &e), 0);
    CHECK_U64(in2.counts[SNAP_STATE_READY], 1);
    CHECK_U64(in2.counts[SNAP_STATE_BLOCKED], 46);
    CHECK_U64(in2.checkpoints, 3); /* with the one into the schema-2 file */
    CHECK(in2.finished_ns > 0);
    snap_info_fini(&in2);

    /* readable for a plain sqlite3 user */
    char *path = pt_path(dir, RUNDIR_DB);
    CHECK_STR(sql1(path, "SELECT state FROM jobs WHERE name = 'job_7'"), "failed");
    CHECK_STR(sql1(path, "SELECT started FROM jobs WHERE name = 'job_0'"),
              "2023-11-14T22:13:21.000Z");
    CHECK_STR(sql1(path, "SELECT seconds FROM jobs WHERE name = 'job_0'"), "1.5");
    CHECK_STR(sql1(path, "SELECT jobs FROM state_count WHERE name = 'completed'"), "1");
    CHECK_STR(sql1(path, "SELECT workflow FROM run"), "rich");
    CHECK_STR(sql1(path, "PRAGMA journal_mode"), "wal");
    /* finished: the WAL was folded into the file */
    char *wal = pt_path(dir, RUNDIR_DB_WAL);
    CHECK(pt_file_size(wal) <= 0);
    free(wal);
    free(path);

    /* the iterator: every job, in order, with names and records */
    struct snap_iter *it = NULL;
    CHECK_EQ(snap_iter_open(&it, dir, &e), 0);
    struct snap_job rec;
    const char *name;
    uint32_t n = 0;
    int irc;
    while ((irc = snap_iter_next(it, &rec, &name, &e)) == 1) {
        char want_name[32];
        snprintf(want_name, sizeof want_name, "job_%u", n);
        if (rec.jid != n || strcmp(name, want_name) != 0) {
            CHECK_EQ(rec.jid, n);
            CHECK_STR(name, want_name);
            break;
        }
        if (n == 7)
            CHECK_EQ(rec.state, SNAP_STATE_FAILED);
        if (n == 1)
            CHECK_EQ(rec.state, SNAP_STATE_READY);
        if (n == 2)
            CHECK_EQ(rec.state, SNAP_STATE_BLOCKED);
        n++;
    }
    CHECK_EQ(irc, 0);
    CHECK_EQ(n, 50);
    snap_iter_close(it);
    snap_iter_close(NULL);
    spec_free(&s);
    free(dir);
}

/* Big enough, with small rows, that every kind spans many rows. */
static void test_many_rows(const char *base)
{
    char *dir = pt_subdir(base, "rows");
    size_t saved = snap__row_bytes;
    snap__row_bytes = 100;
    struct spec s;
    struct vl_err e = {0};
    CHECK_EQ(specgen_make(&s, SPECGEN_DAG, 3000, 5, &e), 0);
    struct snap_meta m = meta_for(1);
    struct snap_job *init = vl_xcalloc(s.njobs, sizeof *init);
    for (uint32_t j = 0; j < s.njobs; j++)
        snap_job_init(&s, j, &init[j]);
    init[5].state = SNAP_STATE_COMPLETED; /* a non-initial record at create */
    init[5].attempt = 1;
    struct snap *db;
    CHECK_EQ(snap_create(&db, dir, &s, &m, init, 0, &e), 0);
    snap_close(db);
    char *path = pt_path(dir, RUNDIR_DB);
    CHECK(atoi(sql1(path, "SELECT count(*) FROM spec_chunk WHERE kind = 'job_name'")) > 100);
    CHECK_STR(sql1(path, "SELECT count(*) FROM job"), "1");
    struct spec r;
    struct snap_job *jobs;
    int rc = snap_open(&db, dir, NULL, &r, &jobs, NULL, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    CHECK_EQ(rc, 0);
    if (!rc) {
        pt_check_same_spec(&s, &r);
        CHECK_EQ(jobs[5].state, SNAP_STATE_COMPLETED);
        snap_close(db);
        free(jobs);
        spec_free(&r);
    }
    /* the hash does not depend on the row size */
    uint64_t h_small = snap_spec_hash(&s);
    snap__row_bytes = saved;
    CHECK_U64(snap_spec_hash(&s), h_small);
    free(init);
    free(path);
    spec_free(&s);
    free(dir);
}

/* An open that must fail with code and a message containing needle, and
 * leave the file as it was. */
static void expect_open_fails_x(const char *dir, const struct snap_expect *want, int code,
                                const char *needle, bool status_too)
{
    char *path = pt_path(dir, RUNDIR_DB);
    size_t len0 = 0, len1 = 0;
    char *before = pt_read(path, &len0);
    struct snap *db = (struct snap *)1;
    struct spec r;
    struct snap_job *jobs = (struct snap_job *)1;
    struct vl_err e = {0};
    int rc = snap_open(&db, dir, want, &r, &jobs, NULL, &e);
    CHECK_EQ(rc, code);
    CHECK_HAS(e.msg, needle);
    CHECK_EQ(vl_exit_for(rc), VL_EXIT_ENV);
    CHECK(db == NULL);
    CHECK(jobs == NULL);
    CHECK(r.njobs == 0 && r.pool == NULL);
    char *after = pt_read(path, &len1);
    CHECK_EQ(len0, len1);
    CHECK(!before || (after && memcmp(before, after, len0) == 0));
    /* the status reader refuses the same way when the damage is in what it
     * reads (the header, the run record, the counts) */
    struct snap_info info;
    rc = snap_info_read(dir, &info, &e);
    if (status_too)
        CHECK_EQ(rc, code);
    snap_info_fini(&info);
    free(before);
    free(after);
    free(path);
}

static void expect_open_fails(const char *dir, const struct snap_expect *want, int code,
                              const char *needle)
{
    bool head = code == -ENOENT || code == VL_ENOTRUN || code == VL_EVERSION ||
                strstr(needle, "SQLite database") || strstr(needle, "run record") ||
                strstr(needle, "job counts");
    expect_open_fails_x(dir, want, code, needle, head);
}

/* A fresh valid run in base/name; returns the dir. */
static char *make_run(const char *base, const char *name, struct spec *s)
{
    char *dir = pt_subdir(base, name);
    struct vl_err e = {0};
    struct snap_meta m = meta_for(3);
    struct snap *db;
    CHECK_EQ(snap_create(&db, dir, s, &m, NULL, 0, &e), 0);
    snap_close(db);
    return dir;
}

static void test_bad_input(const char *base)
{
    struct spec s;
    specgen_rich(&s, 20);
    struct vl_err e = {0};

    /* no such directory */
    char *nodir = pt_path(base, "nope");
    expect_open_fails(nodir, NULL, -ENOENT, "cannot open run directory");
    free(nodir);

    /* a directory without volley.db */
    char *empty = pt_subdir(base, "empty");
    expect_open_fails(empty, NULL, VL_ENOTRUN, "has no volley.db");
    struct snap_iter *it = NULL;
    CHECK_EQ(snap_iter_open(&it, empty, &e), VL_ENOTRUN);
    CHECK(it == NULL);
    free(empty);

    /* an empty file, garbage, a truncated db */
    char *dir = make_run(base, "garbage", &s);
    char *path = pt_path(dir, RUNDIR_DB);
    size_t len = 0;
    char *good = pt_read(path, &len);
    pt_write(path, "", 0);
    expect_open_fails(dir, NULL, VL_ECORRUPT, "not a SQLite database (empty)");
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 131 + 7);
    pt_write(path, junk, sizeof junk);
    expect_open_fails(dir, NULL, VL_ECORRUPT, "not a SQLite database (wrong header)");
    /* SQLite's header, garbage after it */
    memcpy(junk, good, 100);
    pt_write(path, junk, sizeof junk);
    expect_open_fails(dir, NULL, VL_ECORRUPT, "damaged");
    /* truncated at several points */
    size_t cuts[] = {len / 2, len - 4096, 4096, 200};
    for (size_t i = 0; i < VL_ARRAY_LEN(cuts); i++) {
        pt_write(path, good, cuts[i]);
        expect_open_fails(dir, NULL, VL_ECORRUPT, "cannot be resumed");
    }
    /* and the good bytes again open fine */
    pt_write(path, good, len);
    struct snap *db;
    struct spec r;
    struct snap_job *jobs;
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    free(good);
    free(path);
    free(dir);

    /* a newer schema */
    dir = make_run(base, "future", &s);
    path = pt_path(dir, RUNDIR_DB);
    sql(path, "PRAGMA user_version = 99");
    expect_open_fails(dir, NULL, VL_EVERSION, "newer volley (schema 99");
    free(path);
    free(dir);

    /* another application's SQLite database */
    dir = pt_subdir(base, "other");
    path = pt_path(dir, RUNDIR_DB);
    sql(path, "CREATE TABLE t(x); INSERT INTO t VALUES(1)");
    expect_open_fails(dir, NULL, VL_ENOTRUN, "not a volley snapshot");
    free(path);
    free(dir);

    /* another run or workflow than the caller expects */
    dir = make_run(base, "mismatch", &s);
    struct snap_expect want = {.check_run_id = true};
    memset(want.run_id, 0xee, 16);
    expect_open_fails(dir, &want, VL_EMISMATCH, "belongs to another run (run id 030405");
    want = (struct snap_expect){.check_spec_hash = true, .spec_hash = 42};
    expect_open_fails(dir, &want, VL_EMISMATCH, "holds another workflow ('rich'");

    /* a flipped byte inside a command: only the content hash can see it */
    path = pt_path(dir, RUNDIR_DB);
    sql(path, "UPDATE spec_chunk SET data = CAST(replace(CAST(data AS TEXT), 'echo 3 ',"
              " 'echo 4 ') AS BLOB) WHERE kind = 'job_cmd'");
    expect_open_fails(dir, NULL, VL_ECORRUPT, "content hash does not match");
    free(path);
    free(dir);

    /* rows missing, or counts off */
    dir = make_run(base, "norows", &s);
    path = pt_path(dir, RUNDIR_DB);
    sql(path, "DELETE FROM spec_chunk WHERE kind = 'job_kids'");
    expect_open_fails(dir, NULL, VL_ECORRUPT, "incomplete");
    free(path);
    free(dir);
    dir = make_run(base, "counts", &s);
    path = pt_path(dir, RUNDIR_DB);
    sql(path, "UPDATE state_count SET jobs = jobs + 1 WHERE state = 3;"
              " UPDATE state_count SET jobs = jobs - 1 WHERE state = 0");
    expect_open_fails(dir, NULL, VL_ECORRUPT, "per-state counts do not match");
    sql(path, "UPDATE state_count SET jobs = 5 WHERE state = 3");
    expect_open_fails(dir, NULL, VL_ECORRUPT, "per-state job counts are damaged");
    free(path);
    free(dir);
    dir = make_run(base, "badjob", &s);
    path = pt_path(dir, RUNDIR_DB);
    sql(path, "INSERT INTO job(jid, name, state, attempt, exit_code, start_ns, end_ns, log_ref, "
              "lost) VALUES(999, 'x', 3, 1, 0, 0, 0, -1, 0)");
    expect_open_fails(dir, NULL, VL_ECORRUPT, "job record is out of range");
    free(path);
    free(dir);
    /* an empty BLOB where a row of names should be (found by fuzz_snapshot) */
    dir = make_run(base, "emptyblob", &s);
    path = pt_path(dir, RUNDIR_DB);
    sql(path, "UPDATE spec_chunk SET data = x'' WHERE kind = 'job_name'");
    expect_open_fails(dir, NULL, VL_ECORRUPT, "out of place");
    it = NULL;
    CHECK_EQ(snap_iter_open(&it, dir, &e), 0);
    struct snap_job rec;
    const char *nm;
    CHECK_EQ(snap_iter_next(it, &rec, &nm, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "a row of job names is empty");
    snap_iter_close(it);
    free(path);
    free(dir);
    dir = make_run(base, "norun", &s);
    path = pt_path(dir, RUNDIR_DB);
    sql(path, "DELETE FROM run");
    expect_open_fails(dir, NULL, VL_ECORRUPT, "has no run record");
    free(path);
    free(dir);

    /* two jobs with the same name, written by a buggy producer */
    struct spec d;
    specgen_rich(&d, 6);
    d.name_off[4] = d.name_off[2];
    dir = make_run(base, "dupname", &d);
    expect_open_fails(dir, NULL, VL_ECORRUPT, "two jobs have the same name");
    spec_free(&d);
    free(dir);

    /* create refuses to overwrite, and replaces only when told */
    dir = make_run(base, "exists", &s);
    struct snap_meta m = meta_for(9);
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), -EEXIST);
    CHECK_HAS(e.msg, "already exists: resume that run with `volley resume");
    CHECK(db == NULL);
    struct spec s2;
    specgen_rich(&s2, 9);
    CHECK_EQ(snap_create(&db, dir, &s2, &m, NULL, SNAP_REPLACE, &e), 0);
    snap_close(db);
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
    CHECK_EQ(r.njobs, 9);
    snap_close(db);
    free(jobs);
    spec_free(&r);

    /* ... but not while another process reads the old file with
     * checkpoints still in its WAL: removing that WAL could lose them
     * (a reload's crash-safety), so the old run stays and -EBUSY says why */
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
    struct snap_job failed2 = jobs[2];
    failed2.state = SNAP_STATE_FAILED;
    failed2.attempt = 1;
    CHECK_EQ(snap_write_jobs(db, &failed2, 1, &e), 0);
    sqlite3 *reader;
    char *dbpath = pt_path(dir, RUNDIR_DB);
    CHECK_EQ(sqlite3_open_v2(dbpath, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM job", NULL, NULL, NULL), SQLITE_OK);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    struct spec s3;
    specgen_rich(&s3, 11);
    CHECK_EQ(snap_create(&db, dir, &s3, &m, NULL, SNAP_REPLACE, &e), -EBUSY);
    CHECK_HAS(e.msg, "another process is reading it");
    CHECK(db == NULL);
    sqlite3_close(reader);
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
    CHECK_EQ(r.njobs, 9);
    CHECK_EQ(jobs[2].state, SNAP_STATE_FAILED);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    CHECK_EQ(snap_create(&db, dir, &s3, &m, NULL, SNAP_REPLACE, &e), 0); /* once it is done */
    snap_close(db);
    spec_free(&s3);
    free(dbpath);
    spec_free(&s2);
    free(dir);

    /* bad records are refused before anything is written */
    dir = make_run(base, "badrec", &s);
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
    struct snap_job bad = jobs[0];
    bad.jid = 1000;
    CHECK_EQ(snap_write_jobs(db, &bad, 1, &e), -EINVAL);
    CHECK_HAS(e.msg, "out of range");
    bad.jid = 0;
    bad.state = SNAP_NSTATES;
    CHECK_EQ(snap_write_jobs(db, &bad, 1, &e), -EINVAL);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    free(dir);
    spec_free(&s);
}

/* The run's options: stored by create in the order given, returned by
 * open and the status read; a schema-1 file has none; damage is refused
 * naming the option. */
static void test_run_options(const char *base)
{
    struct spec s;
    specgen_rich(&s, 10);
    struct vl_err e = {0};
    static const struct snap_opt given[] = {{"jobs", "1"}, {"memory", "64g"}, {"gpus", "1"}};
    struct snap_meta m = meta_for(5);
    m.opts = given;
    m.nopts = VL_ARRAY_LEN(given);
    char *dir = pt_subdir(base, "opts");
    struct snap *db = NULL;
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    snap_close(db);
    struct spec r;
    struct snap_job *jobs;
    struct snap_info info;
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, &info, &e), 0);
    CHECK_EQ(info.schema, SNAP_SCHEMA);
    CHECK_EQ(info.nopts, 3);
    for (uint32_t i = 0; i < info.nopts && i < 3; i++) {
        CHECK_STR(info.opts[i].name, given[i].name);
        CHECK_STR(info.opts[i].value, given[i].value);
    }
    snap_info_fini(&info);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    CHECK_EQ(snap_info_read(dir, &info, &e), 0);
    CHECK_EQ(info.nopts, 3);
    if (info.nopts == 3)
        CHECK_STR(info.opts[1].value, "64g");
    snap_info_fini(&info);
    char *path = pt_path(dir, RUNDIR_DB);
    CHECK_STR(sql1(path, "SELECT group_concat(name || '=' || value, ' ') FROM run_option"),
              "jobs=1 memory=64g gpus=1");

    /* a resume's options replace those of their names, add the others;
     * one that cannot be stored writes nothing */
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, &info, &e), 0);
    static const struct snap_opt over[] = {{"jobs", "2"}, {"cpus", "4"}};
    CHECK_EQ(snap_set_opts(db, over, VL_ARRAY_LEN(over), &e), 0);
    static const struct snap_opt unstorable[] = {{"gpus", "2"}, {"memory", "1\n"}};
    CHECK_EQ(snap_set_opts(db, unstorable, VL_ARRAY_LEN(unstorable), &e), -EINVAL);
    CHECK_HAS(e.msg, "run option 1 (memory) cannot be stored");
    CHECK_EQ(snap_set_opts(db, NULL, 0, &e), 0);
    snap_info_fini(&info);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    CHECK_STR(sql1(path, "SELECT group_concat(name || '=' || value, ' ') FROM run_option"),
              "jobs=2 memory=64g gpus=1 cpus=4");
    sql(path, "UPDATE run_option SET value = '1' WHERE name = 'jobs'; DELETE FROM run_option "
              "WHERE name = 'cpus'");

    /* damaged rows: refused by open and the status read, naming the option */
    sql(path, "UPDATE run_option SET value = x'0031' WHERE name = 'gpus'");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "the stored run option 'gpus' is damaged", true);
    sql(path, "UPDATE run_option SET value = '1' || char(10) WHERE name = 'gpus'");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "the stored run option 'gpus' is damaged", true);
    sql(path, "UPDATE run_option SET value = '' WHERE name = 'gpus'");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "the stored run option 'gpus' is damaged", true);
    sql(path, "UPDATE run_option SET value = 7 WHERE name = 'gpus'"); /* TEXT affinity: '7' */
    CHECK_EQ(snap_info_read(dir, &info, &e), 0);
    snap_info_fini(&info);
    sql(path, "UPDATE run_option SET name = 'GPUS' WHERE name = 'gpus'");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "the stored run option '?' is damaged", true);
    sql(path, "DELETE FROM run_option WHERE name = 'GPUS'; WITH RECURSIVE n(i) AS (SELECT 1 UNION"
              " ALL SELECT i + 1 FROM n WHERE i < 40) INSERT INTO run_option SELECT 'o' || i, 'v'"
              " FROM n");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "too many run options", true);
    /* schema 2 without the table is damage; schema 1 never had it */
    sql(path, "DROP TABLE run_option");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "the table of run options is missing", true);
    sql(path, "PRAGMA user_version = 1");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, &info, &e), 0);
    CHECK_EQ(info.schema, SNAP_SCHEMA); /* the run row says what wrote it */
    CHECK_EQ(info.nopts, 0);
    CHECK(info.opts == NULL);
    snap_info_fini(&info);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    free(path);
    free(dir);

    /* no options: none come back */
    dir = make_run(base, "noopts", &s);
    CHECK_EQ(snap_info_read(dir, &info, &e), 0);
    CHECK_EQ(info.nopts, 0);
    CHECK(info.opts == NULL);
    snap_info_fini(&info);
    free(dir);

    /* create refuses options it could not read back, and leaves nothing */
    static const struct snap_opt twice[] = {{"jobs", "1"}, {"jobs", "2"}};
    static const struct snap_opt upper[] = {{"Jobs", "1"}};
    static const struct snap_opt empty[] = {{"jobs", ""}};
    static const struct snap_opt ctrl[] = {{"jobs", "1\t"}};
    const struct snap_opt *bad[] = {twice, upper, empty, ctrl};
    const uint32_t nbad[] = {2, 1, 1, 1};
    dir = pt_subdir(base, "badopts");
    path = pt_path(dir, RUNDIR_DB);
    for (size_t i = 0; i < VL_ARRAY_LEN(bad); i++) {
        m.opts = bad[i];
        m.nopts = nbad[i];
        CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), -EINVAL);
        CHECK_HAS(e.msg, "is invalid");
        CHECK(db == NULL);
        CHECK_EQ(pt_file_size(path), -1);
    }
    m.opts = given;
    m.nopts = SNAP_MAX_OPTS + 1;
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), -EINVAL);
    CHECK_HAS(e.msg, "too many");
    free(path);
    free(dir);
    spec_free(&s);
}

/* A read-only run directory: refused with a message, nothing written. Root
 * ignores permissions, so the check runs in a child as nobody. */
static void test_read_only(const char *base)
{
    struct spec s;
    specgen_rich(&s, 10);
    char *dir = make_run(base, "ro", &s);
    char *fresh = pt_subdir(base, "ro_fresh");
    chmod(dir, 0555);
    char *path = pt_path(dir, RUNDIR_DB);
    chmod(path, 0444);
    chmod(fresh, 0555);
    chmod(base, 0755);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(77);
        struct vl_err e = {0};
        struct snap *db;
        struct spec r;
        struct snap_job *jobs;
        int rc = snap_open(&db, dir, NULL, &r, &jobs, NULL, &e);
        CHECK(rc == -EROFS || rc == -EACCES);
        CHECK_EQ(vl_exit_for(rc), VL_EXIT_ENV);
        CHECK_HAS(e.msg, "must be writable");
        struct snap_meta m = meta_for(2);
        rc = snap_create(&db, fresh, &s, &m, NULL, 0, &e);
        if (rc != -EACCES && rc != -EROFS)
            fprintf(stderr, "create in a read-only dir: %d %s\n", rc, e.msg);
        CHECK(rc == -EACCES || rc == -EROFS);
        CHECK_HAS(e.msg, "volley.db");
        _exit(check_done());
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        fprintf(stderr, "read-only test skipped: cannot drop privileges\n");
    else
        CHECK_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : 99, 0);
    char *tmp = pt_path(fresh, RUNDIR_DB);
    CHECK_EQ(pt_file_size(tmp), -1);
    free(tmp);
    chmod(dir, 0755);
    chmod(fresh, 0755);
    free(path);
    free(dir);
    free(fresh);
    spec_free(&s);
}

/* The runner dies (SIGKILL) with checkpoints still in the WAL; a copy of
 * the directory taken while the db is open (power-cut style) restores too. */
static void test_crash(const char *base)
{
    struct spec s;
    struct vl_err e = {0};
    CHECK_EQ(specgen_make(&s, SPECGEN_DAG, 5000, 9, &e), 0);
    char *dir = pt_subdir(base, "crash");
    char *copy = pt_subdir(base, "crash_copy");
    int ready[2];
    CHECK_EQ(pipe(ready), 0);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* it pause()s: dies with us */
        if (getppid() != parent)
            _exit(1);
        struct snap_meta m = meta_for(4);
        struct snap *db;
        if (snap_create(&db, dir, &s, &m, NULL, 0, &e))
            _exit(1);
        for (uint32_t k = 0; k < 10; k++) { /* ten checkpoints of 100 jobs */
            struct snap_job recs[100];
            for (uint32_t i = 0; i < 100; i++) {
                snap_job_init(&s, k * 100 + i, &recs[i]);
                recs[i].state = SNAP_STATE_COMPLETED;
                recs[i].attempt = k + 1;
            }
            if (snap_write_jobs(db, recs, 100, &e))
                _exit(1);
        }
        char *cmd = vl_xasprintf("cp '%s'/volley.db* '%s'/", dir, copy);
        if (system(cmd) != 0)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        pause(); /* killed with the db open */
        _exit(0);
    }
    close(ready[1]);
    char c;
    CHECK_EQ(read(ready[0], &c, 1), 1);
    close(ready[0]);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    char *wal = pt_path(dir, RUNDIR_DB_WAL);
    CHECK(pt_file_size(wal) > 0); /* the checkpoints were still in the WAL */
    free(wal);
    const char *dirs[2] = {dir, copy};
    for (int d = 0; d < 2; d++) {
        struct snap *db;
        struct spec r;
        struct snap_job *jobs;
        struct snap_info in;
        int rc = snap_open(&db, dirs[d], NULL, &r, &jobs, &in, &e);
        if (rc)
            fprintf(stderr, "%s\n", e.msg);
        CHECK_EQ(rc, 0);
        if (rc)
            continue;
        CHECK_EQ(jobs[999].state, SNAP_STATE_COMPLETED);
        CHECK_EQ(jobs[999].attempt, 10);
        CHECK_EQ(jobs[1000].state, s.npar[1000] ? SNAP_STATE_BLOCKED : SNAP_STATE_READY);
        CHECK_U64(in.counts[SNAP_STATE_COMPLETED], 1000);
        CHECK_U64(in.checkpoints, 10);
        CHECK_U64(in.finished_ns, 0);
        snap_close(db);
        free(jobs);
        spec_free(&r);
        snap_info_fini(&in);
    }
    spec_free(&s);
    free(dir);
    free(copy);
}

static void test_names(void)
{
    for (unsigned i = 0; i < SNAP_NSTATES; i++)
        CHECK_EQ(snap_state_parse(snap_state_name(i)), (int)i);
    CHECK_STR(snap_state_name(SNAP_STATE_TERMINATED), "terminated");
    CHECK(snap_state_name(SNAP_NSTATES) == NULL);
    CHECK_EQ(snap_state_parse("done"), -1);
    CHECK_EQ(snap_state_parse(NULL), -1);
    /* the hash sees each part */
    struct spec s;
    specgen_rich(&s, 8);
    uint64_t h = snap_spec_hash(&s);
    s.flags[3] ^= 1;
    CHECK(snap_spec_hash(&s) != h);
    s.flags[3] ^= 1;
    s.codes[1]++;
    CHECK(snap_spec_hash(&s) != h);
    s.codes[1]--;
    free(s.description);
    s.description = NULL;
    CHECK(snap_spec_hash(&s) != h);
    spec_free(&s);
}

/* Usage (schema 4): written with the record, NULL without it, read back
 * by snap_open, snap_read and the iterator; a negative one is damage; a
 * schema-3 file reads without usage and takes checkpoints. */
static void test_usage(const char *base)
{
    char *dir = pt_subdir(base, "usage");
    struct spec s;
    specgen_rich(&s, 10);
    struct vl_err e = {0};
    struct snap_meta m = meta_for(9);
    struct snap *db = NULL;
    struct snap_job init[10];
    for (uint32_t j = 0; j < 10; j++)
        snap_job_init(&s, j, &init[j]);
    init[1].state = SNAP_STATE_COMPLETED; /* usage in the initial snapshot */
    init[1].attempt = 1;
    init[1].max_rss_bytes = 123456789;
    init[1].cpu_user_s = 1.5;
    init[1].cpu_sys_s = 0.25;
    CHECK_EQ(snap_create(&db, dir, &s, &m, init, 0, &e), 0);
    struct snap_job recs[2];
    snap_job_init(&s, 0, &recs[0]);
    recs[0].state = SNAP_STATE_COMPLETED;
    recs[0].attempt = 1;
    recs[0].max_rss_bytes = 1ull << 40;
    recs[0].cpu_user_s = 3600.125;
    recs[0].cpu_sys_s = 0.0;
    snap_job_init(&s, 2, &recs[1]);
    recs[1].state = SNAP_STATE_FAILED; /* no usage recorded */
    recs[1].attempt = 1;
    recs[1].exit_code = 1;
    CHECK_EQ(snap_write_jobs(db, recs, 2, &e), 0);
    snap_close(db);
    char *path = pt_path(dir, RUNDIR_DB);
    CHECK_STR(sql1(path, "SELECT max_rss_bytes IS NULL AND cpu_user_s IS NULL FROM job"
                         " WHERE jid = 2"),
              "1");
    CHECK_STR(sql1(path, "SELECT max_rss_bytes FROM jobs WHERE name = 'job_0'"), "1099511627776");

    struct spec r;
    struct snap_job *jobs = NULL;
    CHECK_EQ(snap_read(dir, &r, &jobs, NULL, &e), 0);
    if (jobs) {
        CHECK(snap_job_has_usage(&jobs[0]) && snap_job_has_usage(&jobs[1]));
        CHECK(!snap_job_has_usage(&jobs[2]) && !snap_job_has_usage(&jobs[3]));
        CHECK_U64(jobs[0].max_rss_bytes, 1ull << 40);
        CHECK(jobs[0].cpu_user_s == 3600.125 && jobs[0].cpu_sys_s == 0.0);
        CHECK_U64(jobs[1].max_rss_bytes, 123456789);
        CHECK(jobs[1].cpu_user_s == 1.5 && jobs[1].cpu_sys_s == 0.25);
        CHECK_EQ(jobs[2].exit_code, 1);
        free(jobs);
        spec_free(&r);
    }
    struct snap_iter *it = NULL;
    CHECK_EQ(snap_iter_open(&it, dir, &e), 0);
    struct snap_job rec;
    const char *name;
    int n = 0, with = 0;
    while (it && snap_iter_next(it, &rec, &name, &e) == 1) {
        n++;
        with += snap_job_has_usage(&rec);
        if (rec.jid == 1)
            CHECK(rec.cpu_sys_s == 0.25);
    }
    snap_iter_close(it);
    CHECK_EQ(n, 10);
    CHECK_EQ(with, 2);

    /* damage: a negative peak, a CPU time that is not a number */
    sql(path, "UPDATE job SET max_rss_bytes = -1 WHERE jid = 0");
    CHECK_EQ(snap_read(dir, &r, &jobs, NULL, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "recorded usage is out of range");
    sql(path, "UPDATE job SET max_rss_bytes = 5, cpu_user_s = 'x' WHERE jid = 0");
    CHECK_EQ(snap_iter_open(&it, dir, &e), VL_ECORRUPT);
    snap_iter_close(it);
    sql(path, "UPDATE job SET cpu_user_s = 1 WHERE jid = 0");

    /* a schema-3 file: no usage, and checkpoints go on without it */
    sql(path, "DROP VIEW jobs; ALTER TABLE job DROP COLUMN max_rss_bytes;"
              " ALTER TABLE job DROP COLUMN cpu_user_s; ALTER TABLE job DROP COLUMN cpu_sys_s;"
              " PRAGMA user_version = 3");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
    if (db) {
        CHECK(!snap_job_has_usage(&jobs[0]));
        recs[0] = jobs[3];
        recs[0].state = SNAP_STATE_COMPLETED;
        recs[0].max_rss_bytes = 77; /* not stored: no column */
        CHECK_EQ(snap_write_jobs(db, recs, 1, &e), 0);
        snap_close(db);
        free(jobs);
        spec_free(&r);
        CHECK_EQ(snap_read(dir, &r, &jobs, NULL, &e), 0);
        CHECK_EQ(jobs ? jobs[3].state : 0, SNAP_STATE_COMPLETED);
        CHECK(jobs && !snap_job_has_usage(&jobs[3]));
        free(jobs);
        spec_free(&r);
    }
    free(path);
    spec_free(&s);
    free(dir);
}

/* The workflow file and the run's generations (schema 5): stored by
 * create, returned by open and the status read, history arrays cut into
 * rows and read back whole or one job at a time; an older file reads as
 * generation 0 without a file; damage is refused. */
static void test_generations(const char *base)
{
    struct spec s;
    specgen_rich(&s, 10);
    struct vl_err e = {0};
    char *dir = pt_subdir(base, "gens");
    char *wfpath = pt_path(dir, "wf.yaml");
    FILE *f = fopen(wfpath, "w");
    fputs("name: x\n", f);
    fclose(f);
    char abs[PATH_MAX];
    struct snap_wffile wf;
    CHECK_EQ(snap_wffile_read(wfpath, &wf, abs, sizeof abs, &e), 0);
    CHECK_STR(wf.path, wfpath);
    CHECK_EQ(wf.size, 8);
    /* two earlier generations: job j was j + 1 in the first (none for the
     * last), and j in the second */
    uint32_t g0[10], g1[10];
    for (uint32_t j = 0; j < 10; j++) {
        g0[j] = j == 9 ? SNAP_NO_JID : j + 1;
        g1[j] = j;
    }
    uint32_t *arrays[2] = {g0, g1};
    uint64_t started[3] = {111, 222, 333};
    struct snap_history h = {.ngens = 2, .njobs = 10, .jid_in = arrays, .started_ns = started};
    struct snap_meta m = meta_for(9);
    m.wf = &wf;
    m.hist = &h;
    size_t saved = snap__row_bytes;
    snap__row_bytes = 12; /* 3 jids a row: 4 rows per generation */
    struct snap *db = NULL;
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    snap__row_bytes = saved;
    CHECK_EQ(snap_gen(db), 2);
    snap_close(db);
    struct snap_info info;
    CHECK_EQ(snap_info_read(dir, &info, &e), 0);
    CHECK_EQ(info.gen, 2);
    CHECK_EQ(info.gen_started_ns, 333);
    CHECK_STR(info.wf.path ? info.wf.path : "", wfpath);
    CHECK_EQ(info.wf.size, 8);
    CHECK_EQ(info.wf.hash, wf.hash);
    CHECK_EQ(snap_wffile_check(&info.wf, NULL, NULL, 0), SNAP_WF_SAME);
    snap_info_fini(&info);
    struct spec r;
    struct snap_job *jobs;
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, &info, &e), 0);
    CHECK_EQ(snap_gen(db), 2);
    struct snap_history back;
    CHECK_EQ(snap_history_load(db, &back, &e), 0);
    CHECK_EQ(back.ngens, 2);
    CHECK_EQ(back.njobs, 10);
    CHECK_EQ(back.started_ns[0], 111);
    CHECK_EQ(back.started_ns[2], 333);
    if (back.ngens == 2) {
        CHECK(memcmp(back.jid_in[0], g0, sizeof g0) == 0);
        CHECK(memcmp(back.jid_in[1], g1, sizeof g1) == 0);
    }
    snap_history_fini(&back);
    /* a reload that found the same workflow records the file's new bytes */
    struct snap_wffile wf2 = wf;
    wf2.hash ^= 1;
    wf2.size = 9;
    CHECK_EQ(snap_set_wffile(db, &wf2, &e), 0);
    snap_info_fini(&info);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    CHECK_EQ(snap_info_read(dir, &info, &e), 0);
    CHECK_EQ(info.wf.size, 9);
    CHECK_EQ(snap_wffile_check(&info.wf, NULL, NULL, 0), SNAP_WF_CHANGED);
    snap_info_fini(&info);
    uint32_t past[4] = {0, 0, 0, 0}, n = 0;
    CHECK_EQ(snap_job_past(dir, 7, past, 4, &n, &e), 0);
    CHECK_EQ(n, 2);
    CHECK_EQ(past[0], 8);
    CHECK_EQ(past[1], 7);
    CHECK_EQ(snap_job_past(dir, 9, past, 1, &n, &e), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(past[0], SNAP_NO_JID);

    /* the file: bytes that moved, a touch without new bytes, gone */
    struct snap_wffile now;
    char abs2[PATH_MAX];
    struct timespec ts[2] = {{.tv_sec = 1000000, .tv_nsec = 0}, {.tv_sec = 1000000, .tv_nsec = 0}};
    utimensat(AT_FDCWD, wfpath, ts, 0);
    CHECK_EQ(snap_wffile_check(&wf, &now, abs2, sizeof abs2), SNAP_WF_SAME);
    CHECK(now.mtime_ns != wf.mtime_ns);
    f = fopen(wfpath, "w");
    fputs("name: y\n", f);
    fclose(f);
    CHECK_EQ(snap_wffile_check(&wf, &now, abs2, sizeof abs2), SNAP_WF_CHANGED);
    CHECK(now.hash != wf.hash);
    unlink(wfpath);
    CHECK_EQ(snap_wffile_check(&wf, NULL, NULL, 0), SNAP_WF_GONE);
    CHECK_EQ(snap_wffile_check(&(struct snap_wffile){0}, NULL, NULL, 0), SNAP_WF_UNKNOWN);
    CHECK_EQ(snap_wffile_read(wfpath, &now, abs2, sizeof abs2, &e), -ENOENT);
    CHECK_HAS(e.msg, "cannot read the workflow file");

    /* damage */
    char *path = pt_path(dir, RUNDIR_DB);
    sql(path, "UPDATE job_history SET items = 2 WHERE gen = 1 AND seq = 1");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, &info, &e), 0);
    CHECK_EQ(snap_history_load(db, &back, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "job history is damaged");
    snap_info_fini(&info);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    sql(path, "UPDATE job_history SET items = 3 WHERE gen = 1 AND seq = 1");
    sql(path, "UPDATE workflow_file SET hash = 'xyz'");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "the workflow file's record is damaged", true);
    sql(path, "DELETE FROM workflow_file");
    CHECK_EQ(snap_info_read(dir, &info, &e), 0);
    CHECK(info.wf.path == NULL);
    snap_info_fini(&info);
    sql(path, "DELETE FROM generation WHERE gen = 1");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "generations is damaged", true);
    sql(path, "DROP TABLE generation");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "generations is missing", true);
    /* a schema-4 file: generation 0, no file recorded */
    sql(path, "DROP TABLE workflow_file; DROP TABLE job_history; PRAGMA user_version = 4");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, &info, &e), 0);
    CHECK_EQ(info.gen, 0);
    CHECK(info.wf.path == NULL);
    CHECK_EQ(snap_history_load(db, &back, &e), 0);
    CHECK_EQ(back.ngens, 0);
    snap_history_fini(&back);
    CHECK_EQ(snap_set_wffile(db, &wf, &e), 0); /* no table: left as it is */
    snap_info_fini(&info);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    CHECK_EQ(snap_job_past(dir, 3, past, 4, &n, &e), 0);
    CHECK_EQ(n, 0);

    /* create refuses a history that does not fit the spec */
    char *bad = pt_subdir(base, "gens_bad");
    h.njobs = 11;
    CHECK_EQ(snap_create(&db, bad, &s, &m, NULL, 0, &e), -EINVAL);
    CHECK_HAS(e.msg, "history");
    free(bad);
    free(path);
    free(wfpath);
    free(dir);
    spec_free(&s);
}

/* Priorities (schema 7): stored as the job_prio array and read back; a
 * spec without them hashes as schema 5 made it (a run started by the
 * earlier volley resumes under this one); a schema-5 file reads with no
 * priorities. */
static void test_priorities(const char *base)
{
    struct spec s;
    specgen_rich(&s, 50);
    CHECK_U64(snap_spec_hash(&s), 0x94480d7f139d69f2ull); /* as before priorities */
    uint64_t plain = snap_spec_hash(&s);
    s.prio = vl_xcalloc(s.njobs, sizeof *s.prio);
    for (uint32_t j = 0; j < s.njobs; j++)
        s.prio[j] = j % 3 == 0 ? 10 : j % 3 == 1 ? -5 : INT32_MAX;
    CHECK(snap_spec_hash(&s) != plain);
    struct vl_err e = {0};
    char *dir = pt_subdir(base, "prio");
    struct snap_meta m = meta_for(9);
    struct snap *db = NULL;
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    snap_close(db);
    struct spec r;
    struct snap_job *jobs = NULL;
    struct snap_expect want = {.check_spec_hash = true, .spec_hash = snap_spec_hash(&s)};
    CHECK_EQ(snap_open(&db, dir, &want, &r, &jobs, NULL, &e), 0);
    if (db) {
        pt_check_same_spec(&s, &r);
        CHECK(r.prio != NULL);
        for (uint32_t j = 0; r.prio && j < s.njobs; j++)
            if (r.prio[j] != s.prio[j]) {
                CHECK_EQ(r.prio[j], s.prio[j]);
                break;
            }
        snap_close(db);
        free(jobs);
        spec_free(&r);
    }
    /* a file as the earlier volley wrote it: no job_prio, schema 5 */
    int32_t *prio = s.prio;
    s.prio = NULL;
    char *dir3 = pt_subdir(base, "prio3");
    CHECK_EQ(snap_create(&db, dir3, &s, &m, NULL, 0, &e), 0);
    snap_close(db);
    char *path3 = pt_path(dir3, RUNDIR_DB);
    sql(path3, "DELETE FROM spec_array WHERE kind = 'job_prio'; PRAGMA user_version = 5");
    want.spec_hash = plain;
    int rc = snap_open(&db, dir3, &want, &r, &jobs, NULL, &e);
    if (rc)
        fprintf(stderr, "schema 5: %s\n", e.msg);
    CHECK_EQ(rc, 0);
    if (db) {
        CHECK(r.prio == NULL);
        CHECK_U64(snap_spec_hash(&r), plain);
        snap_close(db);
        free(jobs);
        spec_free(&r);
    }
    free(path3);
    free(dir3);
    s.prio = prio;
    char *path = pt_path(dir, RUNDIR_DB);
    /* a priority array of the wrong size is damage */
    sql(path, "UPDATE spec_array SET items = 7, bytes = 28 WHERE kind = 'job_prio'");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), VL_ECORRUPT);
    CHECK_HAS(e.msg, "the workflow's array sizes do not match");
    free(path);
    free(dir);
    spec_free(&s);
}

/* Schema 8 (SNAP_SCHEMA_GOV, issue #18): the backend a run recorded, the running sum of
 * the jobs' CPU time (status reads it without the job rows), a class's
 * max_pids (hashed only when set: an older workflow keeps its hash); a
 * schema-5 file reads with no backend and no max_pids, and is written
 * without them. */
static void test_governance(const char *base)
{
    char *dir = pt_subdir(base, "gov");
    struct spec s;
    specgen_rich(&s, 20);
    struct vl_err e = {0};
    CHECK(s.nrr >= 1);
    uint64_t h0 = snap_spec_hash(&s);
    s.rrs[0].max_pids = 64;
    CHECK(snap_spec_hash(&s) != h0);
    struct snap_meta m = meta_for(9);
    struct snap *db = NULL;
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    CHECK_EQ(snap_set_limits(db, "cgroup1", "", &e), 0);
    struct snap_job recs[3];
    for (uint32_t i = 0; i < 3; i++) {
        snap_job_init(&s, i, &recs[i]);
        recs[i].state = SNAP_STATE_COMPLETED;
        recs[i].attempt = 1;
        recs[i].start_ns = 1700000001000000000ull;
        recs[i].end_ns = 1700000002000000000ull;
        recs[i].max_rss_bytes = (uint64_t)(i + 1) << 20;
        recs[i].cpu_user_s = 1.0 * (i + 1);
        recs[i].cpu_sys_s = 0.01;
    }
    CHECK_EQ(snap_write_jobs(db, recs, 3, &e), 0);
    /* job 1 again (a retry that used less): the sum follows the record */
    recs[1].cpu_user_s = 0.5;
    recs[1].attempt = 2;
    CHECK_EQ(snap_write_jobs(db, &recs[1], 1, &e), 0);
    snap_close(db);
    struct snap_info in;
    CHECK_EQ(snap_info_read(dir, &in, &e), 0);
    CHECK_STR(in.limits, "cgroup1");
    CHECK_STR(in.limits_why, "");
    CHECK_U64(in.cpu_ms, 1010 + 510 + 3010);
    snap_info_fini(&in);
    char *path = pt_path(dir, RUNDIR_DB);
    CHECK_STR(sql1(path, "SELECT max_pids FROM resource_class WHERE id = 0"), "64");
    /* restored: the class, and the sum goes on */
    struct spec r;
    struct snap_job *jobs = NULL;
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
    if (db) {
        pt_check_same_spec(&s, &r);
        recs[0].cpu_user_s = 0;
        recs[0].cpu_sys_s = 0;
        CHECK_EQ(snap_write_jobs(db, &recs[0], 1, &e), 0);
        CHECK_EQ(snap_set_limits(db, "none", "--limits-backend none", &e), 0);
        snap_close(db);
        free(jobs);
        spec_free(&r);
    }
    CHECK_EQ(snap_info_read(dir, &in, &e), 0);
    CHECK_U64(in.cpu_ms, 510 + 3010);
    CHECK_STR(in.limits, "none");
    CHECK_STR(in.limits_why, "--limits-backend none");
    snap_info_fini(&in);
    /* a class's max_pids out of range is damage */
    sql(path, "UPDATE resource_class SET max_pids = -1 WHERE id = 0");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), VL_ECORRUPT);
    sql(path, "UPDATE resource_class SET max_pids = 64 WHERE id = 0");
    /* an older file: schema 5, its spec hashed without max_pids */
    sql(path, "DROP TABLE governance; ALTER TABLE resource_class DROP COLUMN max_pids;"
              " UPDATE run SET schema = 5; PRAGMA user_version = 5");
    char q[128];
    snprintf(q, sizeof q, "UPDATE run SET spec_hash = '%016" PRIx64 "'", h0);
    sql(path, q);
    CHECK_EQ(snap_info_read(dir, &in, &e), 0);
    CHECK(in.limits == NULL);
    CHECK_U64(in.cpu_ms, 0);
    snap_info_fini(&in);
    int rc = snap_open(&db, dir, NULL, &r, &jobs, NULL, &e);
    if (rc)
        fprintf(stderr, "schema 5: %s\n", e.msg);
    CHECK_EQ(rc, 0);
    if (db) {
        CHECK_EQ(r.rrs[0].max_pids, 0);
        CHECK_EQ(jobs[2].state, SNAP_STATE_COMPLETED);
        CHECK_EQ(snap_write_jobs(db, recs, 3, &e), 0);
        CHECK_EQ(snap_set_limits(db, "cgroup1", "", &e), 0); /* no table: left alone */
        snap_close(db);
        free(jobs);
        spec_free(&r);
    }
    free(path);
    spec_free(&s);
    free(dir);
}

/* Allocations (schema 9, SNAP_SCHEMA_ALLOC): begun and ended in order, read back by open,
 * the status read and snap_read; a row that did not end reads with end 0;
 * damage is refused; a schema-8 file records none and reads with none. */
static void test_allocations(const char *base)
{
    char *dir = pt_subdir(base, "alloc");
    struct spec s;
    specgen_rich(&s, 10);
    struct vl_err e = {0};
    struct snap_meta m = meta_for(11);
    struct snap *db = NULL;
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    struct snap_alloc a1 = {.restart = -1, .start_ns = 1000, .deadline_ns = 0};
    snprintf(a1.node, sizeof a1.node, "n1");
    CHECK_EQ(snap_alloc_begin(db, &a1, &e), 0);
    CHECK_EQ(a1.seq, 1);
    CHECK_EQ(snap_alloc_end(db, a1.seq, 2000, 75, &e), 0);
    struct snap_alloc a2 = {.restart = 1, .start_ns = 3000, .deadline_ns = 9000};
    snprintf(a2.job_id, sizeof a2.job_id, "4242");
    snprintf(a2.node, sizeof a2.node, "n2");
    CHECK_EQ(snap_alloc_begin(db, &a2, &e), 0);
    CHECK_EQ(a2.seq, 2);
    struct snap_alloc bad = {.restart = -1};
    snprintf(bad.node, sizeof bad.node, "n\n3");
    CHECK_EQ(snap_alloc_begin(db, &bad, &e), -EINVAL);
    snap_close(db); /* a2 never ends: its runner died */

    struct snap_info info;
    CHECK_EQ(snap_info_read(dir, &info, &e), 0);
    CHECK_EQ(info.nallocs, 2);
    if (info.nallocs == 2) {
        const struct snap_alloc *x = info.allocs;
        CHECK(x[0].seq == 1 && !strcmp(x[0].job_id, "") && !strcmp(x[0].node, "n1") &&
              x[0].restart == -1 && x[0].start_ns == 1000 && x[0].end_ns == 2000 &&
              x[0].exit_code == 75 && x[0].deadline_ns == 0);
        CHECK(x[1].seq == 2 && !strcmp(x[1].job_id, "4242") && !strcmp(x[1].node, "n2") &&
              x[1].restart == 1 && x[1].start_ns == 3000 && x[1].end_ns == 0 &&
              x[1].exit_code == -1 && x[1].deadline_ns == 9000);
    }
    snap_info_fini(&info);
    struct spec r;
    struct snap_job *jobs = NULL;
    CHECK_EQ(snap_read(dir, &r, &jobs, &info, &e), 0);
    CHECK_EQ(info.nallocs, 2);
    snap_info_fini(&info);
    free(jobs);
    spec_free(&r);

    char *path = pt_path(dir, RUNDIR_DB);
    sql(path, "UPDATE allocation SET node = 'a' || char(10) WHERE seq = 2");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "an allocation's record is damaged", true);
    sql(path, "UPDATE allocation SET node = 'n2', start_ns = -1 WHERE seq = 2");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "an allocation's record is damaged", true);
    sql(path, "DROP TABLE allocation");
    expect_open_fails_x(dir, NULL, VL_ECORRUPT, "the table of allocations is missing", true);
    /* a schema-8 file: none read, none recorded, and it takes checkpoints */
    sql(path, "PRAGMA user_version = 8");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, &info, &e), 0);
    CHECK_EQ(info.nallocs, 0);
    CHECK(info.allocs == NULL);
    struct snap_alloc a3 = {.restart = -1};
    snprintf(a3.node, sizeof a3.node, "n3");
    CHECK_EQ(snap_alloc_begin(db, &a3, &e), 0);
    CHECK_EQ(a3.seq, 0);
    CHECK_EQ(snap_alloc_end(db, a3.seq, 1, 0, &e), 0);
    CHECK_EQ(snap_write_jobs(db, jobs, 1, &e), 0);
    snap_info_fini(&info);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    free(path);
    free(dir);
    spec_free(&s);
}

/* The header's write and read versions (bytes 18, 19): 1 rollback, 2 WAL. */
static int header_mode(const char *path)
{
    size_t n = 0;
    unsigned char *p = (unsigned char *)pt_read(path, &n);
    int v = p && n > 19 ? p[18] * 10 + p[19] : -1;
    free(p);
    return v;
}

/* A run directory on a network filesystem (the f_type injected: there is
 * no NFS here): volley.db in rollback mode from its creation, no -wal or
 * -shm beside it through checkpoints, read by another connection while
 * the writer has it open; opened where the filesystem is local it goes to
 * WAL, and back on Lustre. */
static void test_netfs(const char *base)
{
    char name[32];
    CHECK(!snap_fs_network(base, name, sizeof name)); /* /tmp here */
    CHECK_STR(name, "local");
    snap__fs_type = 0x6969;
    CHECK(snap_fs_network(base, name, sizeof name));
    CHECK_STR(name, "nfs");
    char *dir = pt_subdir(base, "netfs");
    char *path = pt_path(dir, RUNDIR_DB);
    char *wal = pt_path(dir, "volley.db-wal"), *shm = pt_path(dir, "volley.db-shm");
    struct spec s;
    specgen_rich(&s, 10);
    struct vl_err e = {0};
    struct snap_meta m = meta_for(12);
    struct snap *db = NULL;
    CHECK_EQ(snap_create(&db, dir, &s, &m, NULL, 0, &e), 0);
    CHECK_EQ(header_mode(path), 11);
    struct snap_job rec;
    snap_job_init(&s, 0, &rec);
    rec.state = SNAP_STATE_COMPLETED;
    rec.attempt = 1;
    CHECK_EQ(snap_write_jobs(db, &rec, 1, &e), 0);
    CHECK(access(wal, F_OK) != 0 && access(shm, F_OK) != 0);
    struct snap_info info;
    CHECK_EQ(snap_info_read(dir, &info, &e), 0); /* the writer is open */
    CHECK_U64(info.counts[SNAP_STATE_COMPLETED], 1);
    snap_info_fini(&info);
    CHECK_EQ(snap_finish(db, &e), 0);
    snap_close(db);
    CHECK_EQ(header_mode(path), 11);

    /* opened on a local filesystem: WAL */
    snap__fs_type = 0;
    struct spec r;
    struct snap_job *jobs = NULL;
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, NULL, &e), 0);
    CHECK_EQ(header_mode(path), 22);
    rec.jid = 1;
    CHECK_EQ(snap_write_jobs(db, &rec, 1, &e), 0);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    /* and on Lustre: rollback again, the WAL folded in first */
    snap__fs_type = 0x0BD00BD0;
    CHECK(snap_fs_network(dir, name, sizeof name));
    CHECK_STR(name, "lustre");
    CHECK_EQ(snap_open(&db, dir, NULL, &r, &jobs, &info, &e), 0);
    CHECK_EQ(header_mode(path), 11);
    CHECK_U64(info.counts[SNAP_STATE_COMPLETED], 2);
    snap_info_fini(&info);
    snap_close(db);
    free(jobs);
    spec_free(&r);
    CHECK(access(wal, F_OK) != 0 && access(shm, F_OK) != 0);
    snap__fs_type = 0;
    free(wal);
    free(shm);
    free(path);
    free(dir);
    spec_free(&s);
}

int main(void)
{
    char *base = pt_tmpdir();
    test_names();
    test_roundtrip_rich(base);
    test_usage(base);
    test_priorities(base);
    test_governance(base);
    test_many_rows(base);
    test_bad_input(base);
    test_run_options(base);
    test_allocations(base);
    test_netfs(base);
    test_read_only(base);
    test_generations(base);
    test_crash(base);
    pt_rmrf(base);
    free(base);
    return check_done();
}

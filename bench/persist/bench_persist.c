/*
 * bench_persist.c - what volley.db costs: the initial snapshot, checkpoints
 * of 10k/100k/1M changed records, restore, the status read, the job
 * iterator and the bytes per job, each against a reference measured in the
 * same run (the machine is shared and noisy, so ratios and CPU time are the
 * stable figures; wall times are the median and best of --reps runs).
 *
 * References:
 *   rows1M  1M plain INSERTs of 6 integer columns in one transaction, the
 *           figure research/platform-probe.md section 6 measured (~0.5 s);
 *   rowdesign  the rejected design: the same spec as one SQL row per job
 *           (name, command, degree, classes) plus one per edge.
 *
 *   bench_persist [--jobs N] [--shape sweep|dag] [--reps R] [--dir DIR]
 *                 [--sync full|normal] [--page-size B] [--no-reference]
 *                 [--ckpt-order random|sequential]
 *
 * Prints one line per measurement: name, median s, best s, CPU s, extra.
 * Cleans up its scratch directory, also after an error or a signal.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/persist/specgen.h"
#include "persist/snap.h"
#include "persist/snap_int.h"
#include "tests/lib/scratch.h"

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e-6;
}

static double now_s(void)
{
    return (double)vl_now_ns() * 1e-9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct series {
    double wall[64];
    double cpu[64];
    int n;
};

static void report(const char *name, struct series *s, const char *extra)
{
    double w[64];
    memcpy(w, s->wall, sizeof(double) * (size_t)s->n);
    qsort(w, (size_t)s->n, sizeof(double), cmp_d);
    double c = 0;
    for (int i = 0; i < s->n; i++)
        c += s->cpu[i];
    printf("%-34s median %8.3f s  best %8.3f s  cpu %8.3f s  %s\n", name, w[s->n / 2], w[0],
           c / s->n, extra ? extra : "");
    fflush(stdout);
}

static void die(const char *what, const struct vl_err *e)
{
    fprintf(stderr, "bench_persist: %s: %s\n", what, e->msg);
    exit(3);
}

static uint64_t fsize(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* The research's reference: 1M 6-column integer INSERTs, one transaction. */
static void ref_rows(const char *dir, uint32_t n, struct series *ser)
{
    char *path = vl_xasprintf("%s/ref.db", dir);
    unlink(path);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
    sqlite3_exec(db, "CREATE TABLE t(a INTEGER PRIMARY KEY, b, c, d, e, f)", NULL, NULL, NULL);
    double t0 = now_s(), c0 = cpu_s();
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?,?,?,?,?,?)", -1, &st, NULL);
    for (uint32_t i = 0; i < n; i++) {
        for (int c = 1; c <= 6; c++)
            sqlite3_bind_int64(st, c, (int64_t)i * c);
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    ser->wall[ser->n] = now_s() - t0;
    ser->cpu[ser->n++] = cpu_s() - c0;
    sqlite3_close(db);
    unlink(path);
    char *w = vl_xasprintf("%s-wal", path);
    unlink(w);
    free(w);
    free(path);
}

/* The rejected design: a row per job and per edge. Write, then read back. */
static void ref_rowdesign(const char *dir, const struct spec *s, struct series *wr,
                          struct series *rd, uint64_t *bytes)
{
    char *path = vl_xasprintf("%s/rows.db", dir);
    unlink(path);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;"
                 "CREATE TABLE job(jid INTEGER PRIMARY KEY, name TEXT, cmd TEXT, npar INTEGER,"
                 " rr INTEGER, fh INTEGER, flags INTEGER, state INTEGER);"
                 "CREATE TABLE edge(parent INTEGER, child INTEGER);",
                 NULL, NULL, NULL);
    double t0 = now_s(), c0 = cpu_s();
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *st, *ed;
    sqlite3_prepare_v2(db, "INSERT INTO job VALUES(?,?,?,?,?,?,?,?)", -1, &st, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO edge VALUES(?,?)", -1, &ed, NULL);
    for (uint32_t j = 0; j < s->njobs; j++) {
        sqlite3_bind_int64(st, 1, j);
        sqlite3_bind_text(st, 2, spec_job_name(s, j), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, spec_job_cmd(s, j), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, s->npar[j]);
        sqlite3_bind_int64(st, 5, s->rr[j]);
        sqlite3_bind_int64(st, 6, s->fh[j]);
        sqlite3_bind_int64(st, 7, s->flags[j]);
        sqlite3_bind_int64(st, 8, s->npar[j] ? 0 : 1);
        sqlite3_step(st);
        sqlite3_reset(st);
        for (uint64_t e = s->kid_off[j]; e < s->kid_off[j + 1]; e++) {
            sqlite3_bind_int64(ed, 1, j);
            sqlite3_bind_int64(ed, 2, s->kids[e]);
            sqlite3_step(ed);
            sqlite3_reset(ed);
        }
    }
    sqlite3_finalize(st);
    sqlite3_finalize(ed);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    wr->wall[wr->n] = now_s() - t0;
    wr->cpu[wr->n++] = cpu_s() - c0;
    *bytes = fsize(path);

    /* read it all back into arrays, as a restore would */
    t0 = now_s();
    c0 = cpu_s();
    sqlite3_open(path, &db);
    struct vl_buf pool = {0};
    uint64_t *off = vl_xmalloc((size_t)s->njobs * 16 + 16);
    uint32_t *kids = vl_xmalloc((size_t)s->nedges * 8 + 8);
    sqlite3_prepare_v2(db, "SELECT name, cmd, npar, rr, fh, flags, state FROM job ORDER BY jid", -1,
                       &st, NULL);
    uint32_t j = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        off[2 * j] = pool.len;
        vl_buf_adds(&pool, (const char *)sqlite3_column_text(st, 0));
        vl_buf_addc(&pool, 0);
        off[2 * j + 1] = pool.len;
        vl_buf_adds(&pool, (const char *)sqlite3_column_text(st, 1));
        vl_buf_addc(&pool, 0);
        j++;
    }
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "SELECT parent, child FROM edge", -1, &st, NULL);
    uint64_t e = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        kids[2 * e] = (uint32_t)sqlite3_column_int64(st, 0);
        kids[2 * e + 1] = (uint32_t)sqlite3_column_int64(st, 1);
        e++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    rd->wall[rd->n] = now_s() - t0;
    rd->cpu[rd->n++] = cpu_s() - c0;
    vl_buf_free(&pool);
    free(off);
    free(kids);
    unlink(path);
    free(path);
}

/* The command line. */
struct bp_opts {
    uint32_t njobs;
    int shape, reps;
    const char *base;
    bool reference, ckpt_random;
};

/* 0, or the exit code of a usage error (printed). */
static int parse(int argc, char **argv, struct bp_opts *o)
{
    *o = (struct bp_opts){.njobs = 1000000,
                          .shape = SPECGEN_DAG,
                          .reps = 5,
                          .base = "/tmp",
                          .reference = true,
                          .ckpt_random = true};
    static const struct option opts[] = {
        {"jobs", required_argument, NULL, 'n'},
        {"shape", required_argument, NULL, 's'},
        {"reps", required_argument, NULL, 'r'},
        {"dir", required_argument, NULL, 'd'},
        {"sync", required_argument, NULL, 'y'},
        {"page-size", required_argument, NULL, 'p'},
        {"no-reference", no_argument, NULL, 'R'},
        {"ckpt-order", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            o->njobs = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 's':
            o->shape = specgen_shape_parse(optarg);
            break;
        case 'r':
            o->reps = VL_MAX(1, VL_MIN(atoi(optarg), 63));
            break;
        case 'd':
            o->base = optarg;
            break;
        case 'y':
            snap__sync_full = strcmp(optarg, "normal") != 0;
            break;
        case 'p':
            snap__page_size = atoi(optarg);
            break;
        case 'R':
            o->reference = false;
            break;
        case 'o':
            o->ckpt_random = strcmp(optarg, "sequential") != 0;
            break;
        default:
            fprintf(stderr, "usage: bench_persist [--jobs N] [--shape sweep|dag] [--reps R] "
                            "[--dir DIR] [--sync full|normal] [--page-size B] "
                            "[--no-reference] [--ckpt-order random|sequential]\n");
            return 2;
        }
    }
    if (o->shape < 0 || o->njobs == 0) {
        fprintf(stderr, "bench_persist: bad --shape or --jobs\n");
        return 2;
    }
    return 0;
}

/* What the phases share. */
struct bp {
    const struct bp_opts *o;
    struct spec s;
    struct snap_meta m;
    char *dir, *run, *db_path;
};

/* The spec's hash and spec_check, for scale. */
static void bench_spec(struct bp *b)
{
    struct vl_err e = {0};
    struct series hash = {0}, check = {0};
    for (int r = 0; r < b->o->reps; r++) {
        double t = now_s(), c = cpu_s();
        volatile uint64_t h = snap_spec_hash(&b->s);
        (void)h;
        hash.wall[hash.n] = now_s() - t;
        hash.cpu[hash.n++] = cpu_s() - c;
        t = now_s();
        c = cpu_s();
        if (spec_check(&b->s, &e))
            die("spec_check", &e);
        check.wall[check.n] = now_s() - t;
        check.cpu[check.n++] = cpu_s() - c;
    }
    report("spec hash", &hash, NULL);
    report("spec_check (reference)", &check, NULL);
}

/* The initial snapshot, against the references. */
static void bench_create(struct bp *b)
{
    struct vl_err e = {0};
    struct series create = {0}, ref = {0}, rowsw = {0}, rowsr = {0};
    uint64_t rows_bytes = 0, create_bytes = 0;
    uint32_t njobs = b->o->njobs;
    for (int r = 0; r < b->o->reps; r++) {
        if (b->o->reference)
            ref_rows(b->dir, 1000000, &ref);
        struct snap *db;
        double t = now_s(), c = cpu_s();
        if (snap_create(&db, b->run, &b->s, &b->m, NULL, SNAP_REPLACE, &e))
            die("create", &e);
        create.wall[create.n] = now_s() - t;
        create.cpu[create.n++] = cpu_s() - c;
        snap_close(db);
        create_bytes = fsize(b->db_path);
        if (b->o->reference && (r < 3 || njobs <= 1000000))
            ref_rowdesign(b->dir, &b->s, &rowsw, &rowsr, &rows_bytes);
    }
    char extra[256];
    snprintf(extra, sizeof extra, "%.1f bytes/job (%.1f MiB)", (double)create_bytes / njobs,
             (double)create_bytes / 1048576.0);
    report("initial snapshot (snap_create)", &create, extra);
    if (b->o->reference) {
        report("ref: 1M plain 6-int INSERTs", &ref, NULL);
        snprintf(extra, sizeof extra, "%.1f bytes/job", (double)rows_bytes / njobs);
        report("ref: row-per-job+edge design write", &rowsw, extra);
        report("ref: row-per-job+edge design read", &rowsr, NULL);
    }
}

/* The order checkpoints touch jobs in: a fixed shuffle, or 0..n-1. */
static uint32_t *job_order(uint32_t njobs, bool random)
{
    uint32_t *perm = vl_xmalloc((size_t)njobs * 4);
    for (uint32_t j = 0; j < njobs; j++)
        perm[j] = j;
    uint64_t x = 88172645463325252ull;
    if (random)
        for (uint32_t j = njobs - 1; j > 0; j--) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint32_t k = (uint32_t)(x % (j + 1));
            uint32_t t = perm[j];
            perm[j] = perm[k];
            perm[k] = t;
        }
    return perm;
}

/* Checkpoints on a fresh snapshot: 10k, 100k, then every job, first as
 * inserts (jobs leaving their initial state), then again as updates; then
 * snap_finish and the size of the finished run's db. */
static void bench_checkpoints(struct bp *b)
{
    struct vl_err e = {0};
    uint32_t njobs = b->o->njobs;
    struct snap *db;
    if (snap_create(&db, b->run, &b->s, &b->m, NULL, SNAP_REPLACE, &e))
        die("create", &e);
    uint32_t *perm = job_order(njobs, b->o->ckpt_random);
    struct snap_job *recs = vl_xmalloc((size_t)njobs * sizeof *recs);
    uint32_t sizes[] = {10000, 100000, njobs};
    uint32_t done = 0;
    char extra[256];
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < VL_ARRAY_LEN(sizes); i++) {
            uint32_t n = VL_MIN(sizes[i], njobs);
            if (i == 2 && pass == 0) /* the rest, so that every job has a row after */
                n = done < njobs ? njobs - done : 0;
            if (n == 0)
                continue; /* fewer jobs than the first two sizes: all have rows */
            struct series cp = {0};
            for (uint32_t k = 0; k < n; k++) {
                uint32_t j = perm[(done + k) % njobs];
                recs[k] = (struct snap_job){
                    .jid = j,
                    .state = (uint8_t)(pass ? SNAP_STATE_COMPLETED : SNAP_STATE_RUNNING),
                    .attempt = 1,
                    .start_ns = vl_wall_ns(),
                    .end_ns = pass ? vl_wall_ns() : 0,
                    .log_ref = (uint64_t)k * 64};
            }
            double t = now_s(), c = cpu_s();
            if (snap_write_jobs(db, recs, n, &e))
                die("checkpoint", &e);
            cp.wall[0] = now_s() - t;
            cp.cpu[0] = cpu_s() - c;
            cp.n = 1;
            done = pass == 0 ? done + n : done;
            char name[64];
            snprintf(name, sizeof name, "checkpoint %u %s", n, pass ? "updates" : "new rows");
            snprintf(extra, sizeof extra, "%.2f us/record", cp.wall[0] * 1e6 / n);
            report(name, &cp, extra);
        }
        if (pass == 0)
            done = 0;
    }
    struct series fin = {0};
    double t = now_s(), c = cpu_s();
    if (snap_finish(db, &e))
        die("finish", &e);
    fin.wall[0] = now_s() - t;
    fin.cpu[0] = cpu_s() - c;
    fin.n = 1;
    report("snap_finish (fold WAL)", &fin, NULL);
    snap_close(db);
    uint64_t full_bytes = fsize(b->db_path);
    snprintf(extra, sizeof extra, "%.1f bytes/job with every job's row (%.1f MiB)",
             (double)full_bytes / njobs, (double)full_bytes / 1048576.0);
    printf("%-34s %s\n", "db size after the run", extra);
    free(recs);
    free(perm);
}

/* One restore (snap_open) of the run into ser. */
static void restore_once(struct bp *b, struct series *ser)
{
    struct vl_err e = {0};
    struct snap *db;
    struct spec rs;
    struct snap_job *jobs;
    double t = now_s(), c = cpu_s();
    if (snap_open(&db, b->run, NULL, &rs, &jobs, NULL, &e))
        die("restore", &e);
    ser->wall[ser->n] = now_s() - t;
    ser->cpu[ser->n++] = cpu_s() - c;
    snap_close(db);
    free(jobs);
    spec_free(&rs);
}

/* Restore, the status read and the iterator over the finished run (every
 * job has a row: the worst case). */
static void bench_read(struct bp *b)
{
    struct vl_err e = {0};
    struct series rest = {0}, stat = {0}, iter = {0};
    for (int r = 0; r < b->o->reps; r++) {
        restore_once(b, &rest);
        struct snap_info in;
        double t = now_s(), c = cpu_s();
        if (snap_info_read(b->run, &in, &e))
            die("status", &e);
        stat.wall[stat.n] = now_s() - t;
        stat.cpu[stat.n++] = cpu_s() - c;
        snap_info_fini(&in);
    }
    report("restore (snap_open), all rows", &rest, NULL);
    report("status (snap_info_read)", &stat, NULL);
    struct snap_iter *it;
    double t = now_s(), c = cpu_s();
    if (snap_iter_open(&it, b->run, &e))
        die("iter", &e);
    struct snap_job rec;
    const char *name;
    uint64_t cnt = 0;
    int rc;
    while ((rc = snap_iter_next(it, &rec, &name, &e)) == 1)
        cnt++;
    if (rc < 0)
        die("iter", &e);
    snap_iter_close(it);
    iter.wall[0] = now_s() - t;
    iter.cpu[0] = cpu_s() - c;
    iter.n = 1;
    char extra[64];
    snprintf(extra, sizeof extra, "%" PRIu64 " jobs", cnt);
    report("iterate every job (snap_iter)", &iter, extra);
}

/* Restore of a fresh snapshot (no job rows: a crash right after start),
 * with and without pre-faulting. */
static void bench_restore_fresh(struct bp *b)
{
    struct vl_err e = {0};
    struct snap *db;
    if (snap_create(&db, b->run, &b->s, &b->m, NULL, SNAP_REPLACE, &e))
        die("create", &e);
    snap_close(db);
    struct series rest0 = {0}, rest_nopf = {0};
    for (int r = 0; r < b->o->reps; r++)
        for (int pf = 1; pf >= 0; pf--) { /* alternate: the same noise for both */
            snap__prefault = pf;
            restore_once(b, pf ? &rest0 : &rest_nopf);
        }
    snap__prefault = 1;
    report("restore (snap_open), no job rows", &rest0, NULL);
    report("ref: same, without pre-faulting", &rest_nopf, NULL);
}

int main(int argc, char **argv)
{
    struct bp_opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc;
    struct bp b = {.o = &o};
    b.dir = vl_xasprintf("%s/volley-bench-persist-XXXXXX", o.base);
    if (!mkdtemp(b.dir)) {
        perror("mkdtemp");
        return 3;
    }
    scratch_guard(b.dir); /* its volley.db is tens of MB: removed on die() and signals too */
    struct vl_err e = {0};
    double t0 = now_s();
    if (specgen_make(&b.s, (enum specgen_shape)o.shape, o.njobs, 42, &e))
        die("generate", &e);
    printf("# %u jobs, %" PRIu64 " edges, shape %s, pool %.1f MiB, generated in %.3f s; "
           "sync %s, page %d, checkpoint order %s\n",
           b.s.njobs, b.s.nedges, o.shape == SPECGEN_DAG ? "dag" : "sweep",
           (double)b.s.pool_len / 1048576.0, now_s() - t0, snap__sync_full ? "full" : "normal",
           snap__page_size, o.ckpt_random ? "random" : "sequential");
    b.m = (struct snap_meta){.created_ns = vl_wall_ns(), .cwd = "/tmp"};
    vl_boot_id(b.m.boot_id);
    b.run = vl_xasprintf("%s/run", b.dir);
    b.db_path = vl_xasprintf("%s/%s", b.run, RUNDIR_DB);
    mkdir(b.run, 0755);
    bench_spec(&b);
    bench_create(&b);
    bench_checkpoints(&b);
    bench_read(&b);
    bench_restore_fresh(&b);
    free(b.db_path);
    free(b.run);
    spec_free(&b.s);
    scratch_guard_cleanup();
    free(b.dir);
    return 0;
}

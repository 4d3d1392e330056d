/*
 * run_testlib.h - helpers for the tests of core/'s run side (supervisor,
 * resume): a scratch run directory removed at exit, a workflow from a YAML
 * string, and a run made as `volley run` makes it (volley.db, then the
 * arena), with the arenas it makes unlinked at exit and on fatal signals,
 * so a failing test leaves nothing in /dev/shm or /tmp.
 *
 * Header-only (static functions): each test binary includes it once.
 */
#ifndef VOLLEY_TESTS_RUN_TESTLIB_H
#define VOLLEY_TESTS_RUN_TESTLIB_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "check.h"
#include "loader/load.h"
#include "persist/rundir.h"
#include "persist/snap.h"
#include "scratch.h"
#include "shm/arena.h"

#define RT_MAX_ARENAS 16

static char rt_dir[256];
static char rt_arenas[RT_MAX_ARENAS][64];
static int rt_narenas;

/* At exit and on signals (async-signal-safe calls only). */
static void rt_cleanup(void)
{
    for (int i = 0; i < rt_narenas; i++)
        unlink(rt_arenas[i]);
    if (rt_dir[0])
        scratch_rmtree_at(AT_FDCWD, rt_dir, 8);
}

/* A fresh scratch directory; the process's cleanup is armed. */
static __attribute__((unused)) const char *rt_scratch(const char *tag)
{
    scratch_at_exit(rt_cleanup);
    if (rt_dir[0])
        scratch_rmtree_at(AT_FDCWD, rt_dir, 8);
    snprintf(rt_dir, sizeof rt_dir, "/tmp/volley-%s-XXXXXX", tag);
    if (!mkdtemp(rt_dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
    return rt_dir;
}

/* dir/name as a path in a static buffer (one at a time). */
static __attribute__((unused)) const char *rt_path(const char *dir, const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* The workflow in yaml; exits on a loader error (the test is wrong). */
static __attribute__((unused)) void rt_spec(const char *yaml, struct spec *s)
{
    struct spec_diags d;
    memset(&d, 0, sizeof d);
    if (spec_load_buffer(yaml, strlen(yaml), "test.yaml", s, &d) != 0) {
        for (uint32_t i = 0; i < d.n; i++)
            fprintf(stderr, "test.yaml:%u: %s\n", d.v[i].line, d.v[i].msg);
        exit(1);
    }
    spec_diags_free(&d);
}

/* The arena path of run id, remembered for the cleanup. */
static __attribute__((unused)) const char *rt_arena_path(const uint8_t run_id[16])
{
    if (rt_narenas == RT_MAX_ARENAS) {
        fprintf(stderr, "run_testlib: too many arenas\n");
        exit(1);
    }
    char *p = rt_arenas[rt_narenas];
    rundir_arena_path(run_id, p, sizeof rt_arenas[0]);
    rt_narenas++;
    return p;
}

/*
 * A run of s in dir, as `volley run` makes it: volley.db (run id random,
 * this boot, jobs run in dir), then the arena, attached in *a. *db and
 * the arena path are the caller's; exits on failure.
 */
static __attribute__((unused)) const char *rt_make_run(const char *dir, const struct spec *s,
                                                       struct snap **db, struct arena *a)
{
    struct snap_meta meta = {.created_ns = vl_wall_ns(), .cwd = dir};
    if (getrandom(meta.run_id, sizeof meta.run_id, 0) != (ssize_t)sizeof meta.run_id)
        exit(1);
    vl_boot_id(meta.boot_id);
    struct vl_err err = {0};
    const char *apath = rt_arena_path(meta.run_id);
    struct arena_opts ao = {0};
    memcpy(ao.run_id, meta.run_id, sizeof ao.run_id);
    if (snap_create(db, dir, s, &meta, NULL, 0, &err) < 0 ||
        arena_build(a, apath, s, &ao, &err) < 0) {
        fprintf(stderr, "rt_make_run: %s\n", err.msg);
        exit(1);
    }
    return apath;
}

/* Job jid of spec s by name, or UINT32_MAX. */
static __attribute__((unused)) uint32_t rt_job(const struct spec *s, const char *name)
{
    for (uint32_t j = 0; j < s->njobs; j++)
        if (!strcmp(spec_job_name(s, j), name))
            return j;
    return UINT32_MAX;
}

/* Every record of dir's volley.db, as a resume reads them (snap_open:
 * the whole record, lost included), into recs[njobs]; the number read,
 * or -1. */
static __attribute__((unused)) int rt_records(const char *dir, struct snap_job *recs,
                                              uint32_t njobs)
{
    struct snap *db = NULL;
    struct spec s;
    struct snap_job *jobs = NULL;
    struct vl_err err = {0};
    if (snap_open(&db, dir, NULL, &s, &jobs, NULL, &err) < 0) {
        fprintf(stderr, "snap_open: %s\n", err.msg);
        return -1;
    }
    int n = s.njobs < njobs ? (int)s.njobs : (int)njobs;
    memcpy(recs, jobs, (size_t)n * sizeof *recs);
    snap_close(db);
    free(jobs);
    spec_free(&s);
    return n;
}

/* The whole of file path in a static buffer ("" if missing). */
static __attribute__((unused)) const char *rt_slurp(const char *path)
{
    static char buf[1 << 16];
    buf[0] = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

#endif /* VOLLEY_TESTS_RUN_TESTLIB_H */

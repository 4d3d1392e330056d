/*
 * shm_test.h - helpers for the arena tests: segment paths that are
 * unlinked at exit and on fatal signals (so a failing or crashing test
 * leaves nothing in /dev/shm), forked children that die with the test,
 * small specs from edge lists, and a single-process "run everything" loop.
 */
#ifndef VOLLEY_TESTS_SHM_TEST_H
#define VOLLEY_TESTS_SHM_TEST_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "loader/spec.h"
#include "scratch.h"
#include "shm/arena.h"

#define SHM_TEST_MAX_PATHS 64

static char shm_test_paths[SHM_TEST_MAX_PATHS][256];
static int shm_test_npaths;
/* Optional: runs after the paths are unlinked, at exit and on the signals
 * below, so async-signal-safe calls only (a test's own mount, say). */
static void (*shm_test_cleanup_hook)(void);

/* At exit and on signals (scratch_at_exit: in the test process only, not
 * in the children it forks); unlink is async-signal-safe. */
static void shm_test_cleanup(void)
{
    for (int i = 0; i < shm_test_npaths; i++)
        if (shm_test_paths[i][0]) {
            unlink(shm_test_paths[i]);
            char tmp[320];
            snprintf(tmp, sizeof tmp, "%.255s.tmp-%d", shm_test_paths[i], (int)getpid());
            unlink(tmp);
        }
    if (shm_test_cleanup_hook)
        shm_test_cleanup_hook();
}

/* A fresh path under dir (NULL: /dev/shm), removed when the test exits. */
static inline const char *shm_test_path(const char *dir, const char *tag)
{
    scratch_at_exit(shm_test_cleanup);
    if (shm_test_npaths == SHM_TEST_MAX_PATHS) {
        fprintf(stderr, "shm_test: too many paths\n");
        abort();
    }
    char *p = shm_test_paths[shm_test_npaths++];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(p, 256, "%s/volley-test-%s-%d-%ld", dir ? dir : "/dev/shm", tag, (int)getpid(),
             (long)ts.tv_nsec);
    unlink(p);
    return p;
}

/*
 * First thing in a child forked by the test: it dies (SIGKILL, which also
 * ends a stopped process) when the test process does, even if that happened
 * before this ran, so an interrupted test leaves no child blocked forever.
 */
static inline void shm_test_child(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != scratch_exit_owner) /* the test process: scratch_at_exit */
        _exit(1);
}

static inline int shm_test_cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/*
 * A spec with n jobs named "j0".."j<n-1>" (command "true", flags as given
 * or SPEC_JOB_CANCEL_ON_BLOCK) and the edges {parent, child} listed.
 */
static inline void shm_test_spec(struct spec *s, uint32_t n, const uint32_t (*edges)[2],
                                 size_t nedges, const uint8_t *flags)
{
    memset(s, 0, sizeof *s);
    s->name = vl_xstrdup("test");
    s->path = vl_xstrdup("<test>");
    s->njobs = n;
    s->nedges = nedges;
    s->pool = vl_xmalloc((size_t)n * 12 + 8);
    memcpy(s->pool, "true", 5);
    uint64_t off = 5;
    s->name_off = vl_xcalloc(n ? n : 1, 8);
    s->cmd_off = vl_xcalloc(n ? n : 1, 8);
    s->npar = vl_xcalloc(n ? n : 1, 4);
    s->rr = vl_xcalloc(n ? n : 1, 2);
    s->fh = vl_xcalloc(n ? n : 1, 2);
    s->flags = vl_xcalloc(n ? n : 1, 1);
    s->kid_off = vl_xcalloc((size_t)n + 1, 8);
    s->kids = vl_xcalloc(nedges ? nedges : 1, 4);
    for (uint32_t j = 0; j < n; j++) {
        s->name_off[j] = off;
        off += (uint64_t)sprintf(s->pool + off, "j%u", j) + 1;
        s->rr[j] = SPEC_NONE16;
        s->fh[j] = SPEC_NONE16;
        s->flags[j] = flags ? flags[j] : SPEC_JOB_CANCEL_ON_BLOCK;
    }
    s->pool_len = off;
    /* CSR by parent (counting sort), children ascending (edges may come
     * in any order) */
    for (size_t i = 0; i < nedges; i++)
        s->kid_off[edges[i][0] + 1]++;
    for (uint32_t p = 0; p < n; p++)
        s->kid_off[p + 1] += s->kid_off[p];
    uint64_t *fill = vl_xcalloc((size_t)n + 1, 8);
    memcpy(fill, s->kid_off, ((size_t)n + 1) * 8);
    for (size_t i = 0; i < nedges; i++) {
        s->kids[fill[edges[i][0]]++] = edges[i][1];
        s->npar[edges[i][1]]++;
    }
    free(fill);
    for (uint32_t p = 0; p < n; p++)
        qsort(s->kids + s->kid_off[p], s->kid_off[p + 1] - s->kid_off[p], 4, shm_test_cmp_u32);
}

/* Builds an arena at a fresh path from s; aborts the test on failure. */
static inline const char *shm_test_build(struct arena *a, const struct spec *s, uint32_t nslots,
                                         const char *tag)
{
    const char *path = shm_test_path(NULL, tag);
    struct arena_opts o = {.nslots = nslots};
    struct vl_err err = {0};
    if (arena_build(a, path, s, &o, &err) != 0) {
        fprintf(stderr, "arena_build %s: %s\n", path, err.msg);
        exit(1);
    }
    return path;
}

/* Takes and completes jobs as slot w until none is ready; returns how many. */
static inline uint32_t shm_test_run(struct arena *a, uint32_t w)
{
    uint32_t n = 0, j;
    while ((j = arena_take(a, w)) != ARENA_NONE) {
        if (arena_finish(a, w, j, ARENA_COMPLETED, 0) != 0) {
            fprintf(stderr, "shm_test_run: finish of %u failed\n", j);
            exit(1);
        }
        n++;
    }
    return n;
}

#endif /* VOLLEY_TESTS_SHM_TEST_H */

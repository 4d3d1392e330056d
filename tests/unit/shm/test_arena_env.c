/*
 * test_arena_env.c - the arena carries each job's environment (issue 21):
 * the env sets, their entries and each job's set, so that a worker builds
 * exactly the list spec_job_env gives; a workflow without per-job env has
 * no per-job section, one without env none at all; an attach refuses env
 * sections whose indices point outside them.
 */
#include "shm/arena.h"

#include <errno.h>

#include "check.h"
#include "loader/load.h"
#include "shm_test.h"

_Static_assert(sizeof(struct arena_envset) == sizeof(struct spec_envset), "envset layout");

static void load(const char *yaml, struct spec *s)
{
    struct spec_diags d;
    memset(&d, 0, sizeof d);
    CHECK_EQ(spec_load_buffer(yaml, strlen(yaml), "wf.yaml", s, &d), 0);
    spec_diags_free(&d);
}

static void build(struct arena *a, const struct spec *s, const char *tag, const char **path)
{
    *path = shm_test_path(NULL, tag);
    struct vl_err err = {0};
    CHECK_EQ(arena_build(a, *path, s, NULL, &err), 0);
}

/* Every job's list from the arena equals spec_job_env's. */
static void check_lists(const struct arena *a, const struct spec *s)
{
    for (uint32_t j = 0; j < s->njobs; j++) {
        uint64_t x[16], y[16];
        uint32_t set = arena_job_envset(a, j);
        uint32_t nx = set == ARENA_NONE
                          ? 0
                          : spec_envset_list(a->pool, (const struct spec_envset *)a->envsets,
                                             a->envkv, set, x, 16);
        uint32_t ny = spec_job_env(s, j, y, 16);
        CHECK_EQ(nx, ny);
        for (uint32_t i = 0; i < nx && i < ny && i < 16; i++)
            CHECK_STR(a->pool + x[i], s->pool + y[i]);
    }
}

/* Attaching a copy of the segment with one change is refused read-write. */
static void refused(const struct arena *a, size_t at, const void *val, size_t n, const char *want)
{
    const char *p = shm_test_path(NULL, "envbad");
    FILE *f = fopen(p, "wb");
    CHECK_EQ(fwrite(a->base, 1, a->bytes, f), a->bytes);
    CHECK_EQ(fseek(f, (long)at, SEEK_SET), 0);
    CHECK_EQ(fwrite(val, 1, n, f), n);
    fclose(f);
    struct arena b;
    struct vl_err err = {0};
    CHECK_EQ(arena_attach(&b, p, 0, &err), VL_ECORRUPT);
    CHECK_HAS(err.msg, want);
    unlink(p);
}

int main(void)
{
    struct spec s;
    struct arena a;
    const char *path;

    /* per-job env: the workflow's set, one per job of the parametric
       entry, one shared by the instances of a constant one */
    load("name: e\n"
         "env: {ROOT: /data, MODE: fast}\n"
         "jobs:\n"
         "  - {name: a, command: 'true', env: {MODE: slow, X: '1'}}\n"
         "  - {name: 'p{i}', command: 'true', parameters: {i: '1:3'}, env: {SEED: '{i}'}}\n"
         "  - {name: 'c{i}', command: 'true', parameters: {i: '1:2'}, env: {K: v}}\n"
         "  - {name: plain, command: 'true'}\n",
         &s);
    build(&a, &s, "env", &path);
    CHECK(a.jobenv != NULL);
    CHECK_EQ(a.nenvsets, s.nenvsets);
    CHECK_U64(a.nenvkv, s.nenvkv);
    CHECK_EQ(arena_job_envset(&a, s.njobs - 1), 0); /* plain: the workflow's */
    check_lists(&a, &s);
    struct arena b;
    struct vl_err err = {0};
    CHECK_EQ(arena_attach(&b, path, 0, &err), 0);
    check_lists(&b, &s);
    arena_close(&b);

    /* indices out of range are refused */
    uint32_t big = 999;
    refused(&a, a.hdr->sect[ARENA_SECT_JOBENV].off + 4, &big, 4, "has an env set out of range");
    uint64_t far = a.pool_len + 10;
    refused(&a, a.hdr->sect[ARENA_SECT_ENVKV].off, &far, 8, "env entry 0 is out of the pool");
    uint32_t base = 3; /* set 1's base must come before it */
    refused(&a, a.hdr->sect[ARENA_SECT_ENVSETS].off + 16 + 12, &base, 4,
            "env set 1 is out of range");
    arena_close(&a);
    unlink(path);
    spec_free(&s);

    /* the workflow's env only: no per-job section, every job set 0 */
    load("name: w\nenv: {A: '1'}\njobs:\n  - {name: a, command: 'true'}\n", &s);
    build(&a, &s, "wenv", &path);
    CHECK(a.jobenv == NULL);
    CHECK_U64(a.hdr->sect[ARENA_SECT_JOBENV].n, 0);
    CHECK_EQ(arena_job_envset(&a, 0), 0);
    check_lists(&a, &s);
    arena_close(&a);
    unlink(path);
    spec_free(&s);

    /* no env at all: nothing */
    load("name: n\njobs:\n  - {name: a, command: 'true'}\n", &s);
    build(&a, &s, "noenv", &path);
    CHECK_EQ(a.nenvsets, 0);
    CHECK_U64(a.nenvkv, 0);
    CHECK_EQ(arena_job_envset(&a, 0), ARENA_NONE);
    for (int i = ARENA_SECT_ENVSETS; i <= ARENA_SECT_JOBENV; i++)
        CHECK_U64(a.hdr->sect[i].n, 0);
    arena_close(&a);
    unlink(path);
    spec_free(&s);
    return check_done();
}

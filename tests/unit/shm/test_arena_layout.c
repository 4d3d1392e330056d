/*
 * test_arena_layout.c - the segment as built: header fields, sections
 * page-aligned and in order, the spec's tables copied, hot bytes per job
 * within the 64-byte budget for every bench shape at 10M jobs, the
 * planner's limits, build errors (existing path, bad directory, long
 * path), slots running out, and the runner identity.
 */
#include "shm/arena.h"

#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "shm_test.h"

static void test_header(void)
{
    static const uint32_t e[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 3}};
    struct spec s;
    shm_test_spec(&s, 4, e, 4, NULL);
    /* small tables, copied verbatim */
    s.nrr = 1;
    s.rrs = vl_xcalloc(1, sizeof *s.rrs);
    s.rrs[0] = (struct spec_rr){.name_off = 0,
                                .memory_bytes = 1u << 20,
                                .runtime_ms = 2000,
                                .num_cpus = 2,
                                .num_gpus = 1,
                                .num_nodes = 1};
    s.rr[2] = 0;
    s.ncodes = 2;
    s.codes = vl_xcalloc(2, 4);
    s.codes[0] = 12;
    s.codes[1] = 75;
    s.nrules = 1;
    s.rules = vl_xcalloc(1, sizeof *s.rules);
    s.rules[0] = (struct spec_rule){
        .code_first = 0, .ncodes = 2, .max_retries = 3, .flags = 0, .script_off = SPEC_NO_STR};
    s.nfh = 1;
    s.fhs = vl_xcalloc(1, sizeof *s.fhs);
    s.fhs[0] = (struct spec_fh){.name_off = 0, .rule_first = 0, .nrules = 1};
    s.fh[1] = 0;
    struct vl_err err = {0};
    CHECK_EQ(spec_check(&s, &err), 0);
    struct arena_opts o = {.nslots = 3};
    memcpy(o.run_id, "0123456789abcdef", 16);
    const char *path = shm_test_path(NULL, "layout");
    struct arena a;
    CHECK_EQ(arena_build(&a, path, &s, &o, &err), 0);

    const struct arena_hdr *h = a.hdr;
    CHECK(memcmp(h->magic, "VOLLEYAR", 8) == 0);
    CHECK_EQ(h->layout, ARENA_LAYOUT);
    CHECK_EQ(h->shape, ARENA_SHAPE);
    CHECK_EQ(h->njobs, 4);
    CHECK_EQ(h->nslots, 3);
    CHECK_EQ(h->nedges, 4);
    CHECK_EQ(h->nroots, 1);
    CHECK(memcmp(h->run_id, "0123456789abcdef", 16) == 0);
    CHECK_EQ(h->creator_pid, getpid());
    CHECK_U64(h->creator_start, vl_proc_start(getpid()));
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_U64(h->bytes, (uint64_t)st.st_size);
    CHECK_EQ(st.st_mode & 0777, 0600);
    uint64_t end = sizeof(struct arena_hdr);
    for (int i = 0; i < ARENA_NSECT; i++) {
        CHECK_EQ(h->sect[i].off % ARENA_ALIGN, 0);
        CHECK(h->sect[i].off >= end);
        end = h->sect[i].off + h->sect[i].n * h->sect[i].elem;
    }
    CHECK(end <= h->bytes);
    CHECK_EQ(a.rrs[0].num_cpus, 2);
    CHECK_U64(a.rrs[0].memory_bytes, 1u << 20);
    CHECK_EQ(a.meta[2].rr, 0);
    CHECK_EQ(a.meta[1].fh, 0);
    CHECK_EQ(a.rules[0].max_retries, 3);
    CHECK_EQ(a.codes[1], 75);
    CHECK_EQ(a.fhs[0].nrules, 1);
    CHECK_EQ(a.indeg0[3], 2);
    CHECK_EQ(arena_job_state(&a, 0), ARENA_READY);
    CHECK_EQ(arena_job_owner(&a, 0), ARENA_NONE);
    CHECK_EQ(arena_job_state(&a, 3), ARENA_BLOCKED);
    uint64_t n;
    const uint32_t *k = arena_job_kids(&a, 0, &n);
    CHECK_EQ(n, 2);
    CHECK_EQ(k[0], 1);
    CHECK_EQ(k[1], 2);

    /* a second build gets a random run id, and refuses an existing path */
    struct arena b;
    CHECK_EQ(arena_build(&b, path, &s, NULL, &err), -EEXIST);
    CHECK_HAS(err.msg, "already exists (another run? remove it if no volley is using it)");
    CHECK(b.base == NULL);
    const char *p2 = shm_test_path(NULL, "layout2");
    CHECK_EQ(arena_build(&b, p2, &s, NULL, &err), 0);
    CHECK_EQ(b.nslots, 64);
    CHECK(memcmp(b.hdr->run_id, a.hdr->run_id, 16) != 0);
    arena_close(&b);
    CHECK_EQ(arena_unlink(p2), 0);
    CHECK_EQ(arena_unlink(p2), 0); /* already gone: fine */

    /* slots run out */
    uint32_t w[3];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(arena_join(&a, ARENA_ROLE_WORKER, &w[i], &err), 0);
    uint32_t x;
    CHECK_EQ(arena_join(&a, ARENA_ROLE_CLIENT, &x, &err), -EBUSY);
    CHECK_HAS(err.msg, "has no free participant slot (all 3 are in use)");
    CHECK(arena_slot_alive(&a, w[1]));
    arena_leave(&a, w[1]);
    CHECK(!arena_slot_alive(&a, w[1]));
    CHECK(!arena_slot_alive(&a, 99));
    CHECK_EQ(arena_join(&a, ARENA_ROLE_CLIENT, &x, &err), 0);
    CHECK_EQ(x, w[1]);

    /* the runner identity */
    CHECK(!arena_runner_alive(&a));
    arena_set_runner(&a, getpid(), vl_proc_start(getpid()));
    CHECK(arena_runner_alive(&a));
    arena_set_runner(&a, getpid(), vl_proc_start(getpid()) + 1); /* a reused pid */
    CHECK(!arena_runner_alive(&a));
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    arena_set_runner(&a, dead, 0);
    CHECK(!arena_runner_alive(&a));
    arena_close(&a);

    /* build errors */
    CHECK_EQ(arena_build(&b, "/nonexistent-dir/arena", &s, NULL, &err), -ENOENT);
    CHECK_HAS(err.msg, "cannot create arena /nonexistent-dir/arena");
    CHECK_HAS(err.msg, "cannot inspect /nonexistent-dir");
    char longp[300];
    memset(longp, 'x', sizeof longp);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    CHECK_EQ(arena_build(&b, longp, &s, NULL, &err), -ENAMETOOLONG);
    CHECK_HAS(err.msg, "arena path too long");
    spec_free(&s);
}

static void test_plan(void)
{
    struct arena_plan p;
    struct vl_err err = {0};
    /* 10M jobs of each bench shape's edge count: hot data <= 64 B/job */
    const uint64_t n = 10000000, edges[] = {0, 15000000, n - 1, n - 1, 2 * n};
    for (size_t i = 0; i < VL_ARRAY_LEN(edges); i++) {
        struct arena_dims d = {.njobs = n, .nedges = edges[i], .pool_len = 12 * n, .nslots = 3};
        CHECK_EQ(arena_plan(&d, &p, &err), 0);
        double hot = (double)p.hot_bytes / n;
        CHECK(hot <= 64.0);
        CHECK(hot >= 24.0 + 4.0 * edges[i] / n);
        CHECK_U64(p.bytes, p.hot_bytes + p.cold_bytes);
    }
    struct arena_dims d = {.njobs = 1ull << 33, .nslots = 1};
    CHECK_EQ(arena_plan(&d, &p, &err), VL_ETOOBIG);
    CHECK_HAS(err.msg, "8589934592 jobs is more than an arena can address");
    d = (struct arena_dims){.njobs = 10, .nslots = 0};
    CHECK_EQ(arena_plan(&d, &p, &err), VL_ETOOBIG);
    CHECK_HAS(err.msg, "an arena has 1 to 4096 participant slots, not 0");
    d = (struct arena_dims){.njobs = 10, .nedges = UINT64_MAX / 2, .nslots = 1};
    CHECK_EQ(arena_plan(&d, &p, &err), VL_ETOOBIG);
    CHECK_HAS(err.msg, "does not fit in memory");
}

int main(void)
{
    test_header();
    test_plan();
    return check_done();
}

/*
 * test_arena_attach.c - attach refuses what it does not know, each with a
 * sentence a user can act on and the code that makes a command exit 3:
 * another layout version, other structure sizes, a garbage header, a bad
 * checksum, a truncated or padded file, sections out of place, a body
 * whose indices point outside it; and accepts a good arena read-write and
 * read-only.
 */
#include "shm/arena.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "check.h"
#include "shm_test.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = vl_xmalloc(*len);
    CHECK_EQ(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static const char *spit(const uint8_t *b, size_t len, const char *tag)
{
    const char *p = shm_test_path(NULL, tag);
    FILE *f = fopen(p, "wb");
    CHECK_EQ(fwrite(b, 1, len, f), len);
    fclose(f);
    return p;
}

static void fix_sum(uint8_t *b)
{
    struct arena_hdr *h = (struct arena_hdr *)b;
    uint64_t x = 14695981039346656037ull;
    for (size_t i = 0; i < offsetof(struct arena_hdr, hdr_sum); i++)
        x = (x ^ b[i]) * 1099511628211ull;
    h->hdr_sum = x;
}

/* Attaching a copy of good (modified by the caller) must fail with code
 * and a message containing want. */
static void refused(const uint8_t *b, size_t len, int code, const char *want, const char *tag)
{
    const char *p = spit(b, len, tag);
    struct arena a;
    struct vl_err err = {0};
    CHECK_EQ(arena_attach(&a, p, 0, &err), code);
    CHECK_HAS(err.msg, want);
    CHECK_EQ(vl_exit_for(err.code), 3);
    CHECK(a.base == NULL);
    CHECK_EQ(arena_attach(&a, p, ARENA_RDONLY, &err), code);
    unlink(p);
}

/* Refused read-write, accepted read-only. */
static void refused_rw(const uint8_t *b, size_t len, const char *want, const char *tag)
{
    const char *p = spit(b, len, tag);
    struct arena a;
    struct vl_err err = {0};
    CHECK_EQ(arena_attach(&a, p, 0, &err), VL_ECORRUPT);
    CHECK_HAS(err.msg, want);
    CHECK_EQ(arena_attach(&a, p, ARENA_RDONLY, &err), 0);
    arena_close(&a);
    unlink(p);
}

/* A newer layout, and an older one (what a resume meets after an upgrade:
 * layout 3 had a LIFO deque per slot and a shared overflow ring where 5
 * has FIFO queues per slot and priority level). m: scratch. */
static void refused_layouts(uint8_t *m, const uint8_t *good, size_t len)
{
    struct arena_hdr *h = (struct arena_hdr *)m;
    char want[256];
    for (int d = -1; d <= 1; d += 2) {
        memcpy(m, good, len);
        h->layout = ARENA_LAYOUT + (uint32_t)d;
        fix_sum(m);
        snprintf(want, sizeof want,
                 "has layout version %u but this volley " VL_VERSION " reads only version %u: "
                 "use the volley that started that run, or resume it from its volley.db",
                 ARENA_LAYOUT + (unsigned)d, ARENA_LAYOUT);
        refused(m, len, VL_EVERSION, want, d < 0 ? "old" : "ver");
    }
}

int main(void)
{
    static const uint32_t e[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 3}};
    struct spec s;
    struct arena a, b;
    struct vl_err err = {0};
    shm_test_spec(&s, 4, e, 4, NULL);
    const char *path = shm_test_build(&a, &s, 4, "attach");

    /* good: read-write and read-only see the same arena */
    CHECK_EQ(arena_attach(&b, path, 0, &err), 0);
    CHECK_EQ(b.njobs, 4);
    CHECK_EQ(b.nedges, 4);
    CHECK_STR(arena_job_name(&b, 2), "j2");
    uint32_t w;
    CHECK_EQ(arena_join(&b, ARENA_ROLE_WORKER, &w, &err), 0);
    CHECK_EQ(arena_take(&b, w), 0); /* seen through the first mapping too */
    CHECK_EQ(arena_job_state(&a, 0), ARENA_RUNNING);
    arena_close(&b);
    CHECK_EQ(arena_attach(&b, path, ARENA_RDONLY, &err), 0);
    CHECK(b.rdonly);
    uint64_t c[ARENA_NSTATES];
    arena_counts(&b, c);
    CHECK_EQ(c[ARENA_RUNNING], 1);
    arena_close(&b);

    size_t len;
    uint8_t *good = slurp(path, &len), *m = vl_xmalloc(len);
    struct arena_hdr *h = (struct arena_hdr *)m;
#define FRESH() memcpy(m, good, len)

    refused_layouts(m, good, len);

    FRESH();
    h->shape ^= 1;
    fix_sum(m);
    refused(m, len, VL_EVERSION, "was written by a volley build with other structure sizes",
            "shape");

    FRESH();
    for (size_t i = 0; i < 4096; i++)
        m[i] = (uint8_t)(i * 131 + 7);
    refused(m, len, VL_ECORRUPT, "is not a volley arena (no VOLLEYAR magic at its start)",
            "garbage");

    FRESH();
    h->njobs = 5; /* no fix_sum */
    refused(m, len, VL_ECORRUPT, "is corrupt: its header checksum does not match", "sum");

    FRESH();
    refused(m, len / 2, VL_ECORRUPT, "is truncated: its header says", "trunc");
    refused(m, 100, VL_ECORRUPT, "is truncated: 100 bytes, less than its 1024-byte header", "tiny");
    refused(m, 0, VL_ECORRUPT, "is truncated: 0 bytes", "empty");

    uint8_t *big = vl_xcalloc(len + 4096, 1);
    memcpy(big, good, len);
    refused(big, len + 4096, VL_ECORRUPT, "is corrupt: its header says", "padded");
    free(big);

    FRESH();
    h->sect[ARENA_SECT_KIDS].off += 4096;
    fix_sum(m);
    refused(m, len, VL_ECORRUPT, "section 6 is not where its dimensions put it", "sect");

    FRESH();
    h->njobs = 4000;
    fix_sum(m);
    refused(m, len, VL_ECORRUPT, "its dimensions do not add up to its size", "dims");

    FRESH();
    h->nslots = 0;
    fix_sum(m);
    refused(m, len, VL_ECORRUPT, "its dimensions do not add up to its size", "slots");

    /* the body: not covered by the checksum, checked index by index */
    FRESH();
    ((uint32_t *)(m + h->sect[ARENA_SECT_KIDS].off))[2] = 4;
    refused(m, len, VL_ECORRUPT, "edge 2 points past the last job", "kids");

    FRESH();
    ((uint64_t *)(m + h->sect[ARENA_SECT_KID_OFF].off))[2] = 1;
    refused(m, len, VL_ECORRUPT, "job 1: child offsets decrease", "kidoff");

    FRESH();
    ((struct arena_meta *)(m + h->sect[ARENA_SECT_META].off))[3].cmd_off = 1u << 20;
    refused(m, len, VL_ECORRUPT, "job 3: name or command out of pool", "pool");

    FRESH();
    ((struct arena_meta *)(m + h->sect[ARENA_SECT_META].off))[1].rr = 0;
    refused(m, len, VL_ECORRUPT, "job 1: table index out of range", "rr");

    FRESH();
    ((uint64_t *)(m + h->sect[ARENA_SECT_STATE].off))[3] = 9;
    refused(m, len, VL_ECORRUPT, "job 3 has an invalid state word", "state");

    FRESH();
    ((uint64_t *)(m + h->sect[ARENA_SECT_STATE].off))[3] = 2 | (4000ull << 16);
    refused(m, len, VL_ECORRUPT, "job 3 has an invalid state word", "owner");

    FRESH();
    ((uint32_t *)(m + h->sect[ARENA_SECT_INDEG0].off))[3] = 1;
    refused(m, len, VL_ECORRUPT, "in-degrees do not match the edges", "indeg");

    /* edges moved so the sums still add up: a read-only attach (status)
     * accepts it; a read-write one (a run resuming) must not */
    FRESH();
    ((uint32_t *)(m + h->sect[ARENA_SECT_KIDS].off))[1] = 1; /* 0 -> 1 twice, 0 -/-> 2 */
    refused_rw(m, len, "job 1 has 2 parents but an initial in-degree of 1", "indeg2");

    FRESH(); /* 0 -> 1 -> 3 -> 2 -> 3: the same in-degrees, a cycle 2-3-2 */
    uint64_t *ko = (uint64_t *)(m + h->sect[ARENA_SECT_KID_OFF].off);
    uint32_t *kd = (uint32_t *)(m + h->sect[ARENA_SECT_KIDS].off);
    ko[1] = 1;
    ko[2] = 2;
    ko[3] = 3;
    kd[0] = 1;
    kd[1] = 3;
    kd[2] = 3;
    kd[3] = 2;
    refused_rw(m, len, "its dependency graph has a cycle", "cycle");

    /* the root log: every root once, at its level; levels in order */
    FRESH();
    ((uint32_t *)(m + h->sect[ARENA_SECT_READYQ].off))[0] = 3;
    refused(m, len, VL_ECORRUPT, "root log cell 0 is not a root of its level", "rootlog");
    FRESH();
    ((struct arena_level *)(m + h->sect[ARENA_SECT_LEVELS].off))[0].nroots = 2;
    refused(m, len, VL_ECORRUPT, "priority level 0 is out of order", "levels");

    FRESH();
    m[h->sect[ARENA_SECT_POOL].off + h->pool_len - 1] = 'x';
    refused(m, len, VL_ECORRUPT, "its string pool is not terminated", "nul");

    /* not there, not a file */
    CHECK_EQ(arena_attach(&b, "/dev/shm/volley-test-no-such-arena", 0, &err), -ENOENT);
    CHECK_HAS(err.msg, "no arena at /dev/shm/volley-test-no-such-arena (the run ended, or the "
                       "machine rebooted: resume from its volley.db)");
    CHECK_EQ(arena_attach(&b, "/dev/shm", 0, &err), VL_ECORRUPT);
    CHECK_HAS(err.msg, "/dev/shm is not a volley arena (not a regular file)");

    /* an unwritable file: read-only attach still works */
    chmod(path, 0400);
    if (geteuid() != 0) {
        CHECK_EQ(arena_attach(&b, path, 0, &err), -EACCES);
        CHECK_HAS(err.msg, "cannot open arena");
    }
    CHECK_EQ(arena_attach(&b, path, ARENA_RDONLY, &err), 0);
    arena_close(&b);

    free(good);
    free(m);
    arena_close(&a);
    spec_free(&s);
    return check_done();
}

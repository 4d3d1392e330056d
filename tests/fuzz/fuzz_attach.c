/*
 * fuzz_attach.c - arbitrary bytes as an arena segment file. attach must
 * refuse them with an error or accept them; an accepted arena must be
 * safe to read (counts, every job record, names, children, the dirty
 * bitmap) read-only and read-write; and after arena_recover has repaired
 * it with no live participant, one worker must finish every job, each
 * claimed once. (Fuzz builds skip the header checksum, so mutations reach
 * the checks behind it; the replay under gcc keeps it.)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[128];

static void cleanup(void)
{
    if (path[0])
        unlink(path);
}

static void read_all(const struct arena *a)
{
    uint64_t c[ARENA_NSTATES], sum = 0;
    arena_counts(a, c);
    for (int s = 0; s < ARENA_NSTATES; s++)
        sum += c[s];
    (void)sum;
    for (uint32_t j = 0; j < a->njobs; j++) {
        struct arena_job_rec r;
        arena_job_read(a, j, &r);
        uint64_t n;
        const uint32_t *k = arena_job_kids(a, j, &n);
        for (uint64_t e = 0; e < n; e++)
            if (k[e] >= a->njobs)
                abort(); /* attach let an edge out */
        /* each string ends inside the pool (two jobs, or a name and a
         * command, may share bytes: their lengths need not add up) */
        const char *str[2] = {arena_job_name(a, j), arena_job_cmd(a, j)};
        for (int i = 0; i < 2; i++)
            if (str[i] < a->pool || str[i] >= a->pool + a->pool_len ||
                strlen(str[i]) >= a->pool_len - (uint64_t)(str[i] - a->pool))
                abort();
    }
    (void)arena_runner_alive(a);
    (void)arena_done(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/dev/shm/volley-fuzz-attach-%d", (int)getpid());
        atexit(cleanup);
    }
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);

    struct arena a;
    struct vl_err err = {0};
    if (arena_attach(&a, path, ARENA_RDONLY, &err) == 0) {
        read_all(&a);
        arena_close(&a);
    } else if (!err.msg[0] || err.code == 0) {
        abort(); /* a refusal must say why */
    }
    if (arena_attach(&a, path, 0, &err) != 0) {
        unlink(path);
        return 0;
    }
    read_all(&a);
    uint32_t out[256];
    uint64_t cur = 0;
    while (cur < a.ndirty)
        arena_dirty_collect(&a, &cur, out, 256);
    struct arena_recover_stats st;
    if (arena_recover(&a, ARENA_NONE, 1, &st, &err) == 0 && st.live == 0) {
        uint64_t c[ARENA_NSTATES];
        arena_counts(&a, c);
        uint32_t w;
        if (c[ARENA_RUNNING] == 0 && arena_join(&a, ARENA_ROLE_CLIENT, &w, &err) == 0) {
            uint64_t runs = 0;
            for (uint32_t j; (j = arena_take(&a, w)) != ARENA_NONE;) {
                if (++runs > a.njobs || arena_finish(&a, w, j, ARENA_COMPLETED, 0) != 0)
                    abort(); /* a job claimed twice, or a claim that is not ours */
            }
            if (!arena_done(&a))
                abort(); /* a repaired arena left jobs that can never run */
            arena_leave(&a, w);
        }
    }
    arena_close(&a);
    /* libFuzzer's time limit ends the process without atexit handlers:
     * leave no segment behind between inputs */
    unlink(path);
    return 0;
}

#ifdef FUZZ_ATTACH_MAKE_CORPUS
/*
 * Writes the seed corpus into argv[1]: arenas of this layout, fresh,
 * mid-run, restored and with priorities, and damaged copies (a cycle, an
 * in-degree off by one, counters near overflow, a name and a command on
 * the same bytes, another layout with a good sum, a truncated file, the
 * header alone). docs/arena.md has the command.
 */
#include "loader/spec.h"

static char *mk_path;

static void mk_spec(struct spec *s, uint32_t n, const uint32_t (*e)[2], size_t ne)
{
    memset(s, 0, sizeof *s);
    s->name = vl_xstrdup("seed");
    s->path = vl_xstrdup("<seed>");
    s->njobs = n;
    s->nedges = ne;
    s->pool = vl_xmalloc((size_t)n * 12 + 8);
    memcpy(s->pool, "true", 5);
    uint64_t off = 5;
    s->name_off = vl_xcalloc(n, 8);
    s->cmd_off = vl_xcalloc(n, 8);
    s->npar = vl_xcalloc(n, 4);
    s->rr = vl_xcalloc(n, 2);
    s->fh = vl_xcalloc(n, 2);
    s->flags = vl_xcalloc(n, 1);
    s->kid_off = vl_xcalloc((size_t)n + 1, 8);
    s->kids = vl_xcalloc(ne ? ne : 1, 4);
    for (uint32_t j = 0; j < n; j++) {
        s->name_off[j] = off;
        off += (uint64_t)sprintf(s->pool + off, "j%u", j) + 1;
        s->rr[j] = SPEC_NONE16;
        s->fh[j] = SPEC_NONE16;
        s->flags[j] = SPEC_JOB_CANCEL_ON_BLOCK;
    }
    s->pool_len = off;
    /* edges come sorted by parent, then child */
    for (size_t i = 0; i < ne; i++) {
        s->kid_off[e[i][0] + 1]++;
        s->kids[i] = e[i][1];
        s->npar[e[i][1]]++;
    }
    for (uint32_t p = 0; p < n; p++)
        s->kid_off[p + 1] += s->kid_off[p];
}

static void mk_build(struct arena *a, const struct spec *s, uint32_t nslots)
{
    struct vl_err err = {0};
    unlink(mk_path);
    if (arena_build(a, mk_path, s, &(struct arena_opts){.nslots = nslots}, &err) != 0) {
        fprintf(stderr, "arena_build: %s\n", err.msg);
        exit(1);
    }
}

static uint64_t mk_sum(const uint8_t *b)
{
    uint64_t x = 14695981039346656037ull;
    for (size_t i = 0; i < offsetof(struct arena_hdr, hdr_sum); i++)
        x = (x ^ b[i]) * 1099511628211ull;
    return x;
}

/* Writes the first n bytes of a's segment (all: n = 0) to out/name and
 * closes a. */
static void mk_put(struct arena *a, const char *out, const char *name, size_t n)
{
    size_t len = n ? n : (size_t)a->bytes;
    char *p = vl_xasprintf("%s/%s", out, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(a->base, 1, len, f) != len)
        abort();
    fclose(f);
    free(p);
    arena_close(a);
    unlink(mk_path);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    const char *out = argv[1];
    mk_path = vl_xasprintf("/dev/shm/volley-fuzz-seed-%d", (int)getpid());
    static const uint32_t diamond[][2] = {{0, 1}, {0, 2}, {1, 3}, {2, 3}};
    static const uint32_t chain4[][2] = {{0, 1}, {0, 4}, {1, 2}, {2, 3}, {3, 4}};
    uint32_t dag[80][2];
    size_t nd = 0;
    for (uint32_t j = 0; j < 40; j++) /* each job's children: j+1 and j+7 */
        for (uint32_t d = 1; d <= 7; d += 6)
            if (j + d < 40 && nd < 80) {
                dag[nd][0] = j;
                dag[nd++][1] = j + d;
            }
    struct spec one, dia, cyc, d40;
    mk_spec(&one, 1, NULL, 0);
    mk_spec(&cyc, 5, chain4, 5);
    mk_spec(&dia, 4, diamond, 4);
    mk_spec(&d40, 40, (const uint32_t(*)[2])dag, nd);
    struct arena a;
    struct vl_err err = {0};
    uint32_t w, j;

    mk_build(&a, &one, 1);
    mk_put(&a, out, "one-job", 0);
    mk_build(&a, &dia, 2);
    mk_put(&a, out, "diamond-fresh", 0);
    mk_build(&a, &dia, 2);
    mk_put(&a, out, "header-only", 1024);
    mk_build(&a, &dia, 2);
    mk_put(&a, out, "diamond-truncated", (size_t)a.bytes * 3 / 5);

    mk_build(&a, &dia, 2); /* 0 done, 1 running in a joined slot */
    if (arena_join(&a, ARENA_ROLE_WORKER, &w, &err) != 0 || arena_take(&a, w) != 0 ||
        arena_finish(&a, w, 0, ARENA_COMPLETED, 0) != 0 || arena_take(&a, w) == ARENA_NONE)
        abort();
    mk_put(&a, out, "diamond-running", 0);

    mk_build(&a, &cyc, 2); /* 3 -> 4 becomes 3 -> 1: 1 -> 2 -> 3 -> 1, in-degrees kept whole */
    ((uint32_t *)a.kids)[4] = 1;
    ((uint32_t *)a.indeg0)[1] = 2;
    ((uint32_t *)a.indeg0)[4] = 1;
    atomic_store(&a.indeg[1], 2);
    atomic_store(&a.indeg[4], 1);
    mk_put(&a, out, "cycle", 0);

    mk_build(&a, &dia, 2);
    for (int s = 0; s < ARENA_NSTATES; s++)
        atomic_store(&a.ctl->base[s], INT64_MAX - 1);
    mk_put(&a, out, "counter-overflow", 0);

    mk_build(&a, &one, 1); /* the name inside the command's bytes */
    ((struct arena_meta *)a.meta)[0].name_off = a.meta[0].cmd_off + 1;
    mk_put(&a, out, "shared-name-bytes", 0);

    mk_build(&a, &d40, 4); /* 12 done, 2 running */
    if (arena_join(&a, ARENA_ROLE_WORKER, &w, &err) != 0)
        abort();
    for (int i = 0; i < 12; i++)
        if ((j = arena_take(&a, w)) == ARENA_NONE || arena_finish(&a, w, j, ARENA_COMPLETED, 0))
            abort();
    (void)arena_take(&a, w);
    (void)arena_take(&a, w);
    mk_put(&a, out, "dag40-midrun", 0);

    struct arena_job_rec recs[40];
    memset(recs, 0, sizeof recs);
    for (uint32_t i = 0; i < 40; i++) {
        recs[i].attempt = 1;
        recs[i].owner = ARENA_NONE;
        recs[i].state = i < 10 ? ARENA_COMPLETED : ARENA_BLOCKED;
    }
    unlink(mk_path);
    if (arena_restore(&a, mk_path, &d40, &(struct arena_opts){.nslots = 4}, recs, &err) != 0) {
        fprintf(stderr, "arena_restore: %s\n", err.msg);
        return 1;
    }
    mk_put(&a, out, "dag40-restored", 0);

    mk_build(&a, &d40, 4);
    ((uint32_t *)a.indeg0)[20] += 1;
    mk_put(&a, out, "dag40-indeg-mismatch", 0);

    mk_build(&a, &dia, 2);
    a.hdr->layout = ARENA_LAYOUT + 1;
    a.hdr->hdr_sum = mk_sum(a.base);
    mk_put(&a, out, "other-layout", 0);

    d40.prio = vl_xcalloc(40, sizeof *d40.prio); /* 3 levels, mid-run */
    for (uint32_t i = 0; i < 40; i++)
        d40.prio[i] = i % 3 == 0 ? 5 : i % 3 == 1 ? 0 : -5;
    mk_build(&a, &d40, 4);
    uint32_t w2;
    if (arena_join(&a, ARENA_ROLE_WORKER, &w, &err) != 0 ||
        arena_join(&a, ARENA_ROLE_WORKER, &w2, &err) != 0)
        abort();
    for (int i = 0; i < 10; i++) {
        uint32_t by = i % 2 ? w2 : w;
        if ((j = arena_take(&a, by)) == ARENA_NONE || arena_finish(&a, by, j, ARENA_COMPLETED, 0))
            abort();
    }
    (void)arena_take(&a, w);
    mk_put(&a, out, "prio-midrun", 0);

    spec_free(&one);
    spec_free(&dia);
    spec_free(&cyc);
    spec_free(&d40);
    free(mk_path);
    return 0;
}
#endif

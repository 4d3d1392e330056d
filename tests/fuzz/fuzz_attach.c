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

/*
 * test_watchlog.c - the rate samples `volley status` reads (DIR/rate.bin,
 * persist/watchlog.h): the window choice, a ring that wrapped, and that a
 * missing, short, foreign or torn file gives "unknown" (-1), never a rate.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist/watchlog.h"
#include "check.h"

static char dir[64];

static void put(const struct watchlog_rate *r, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, RUNDIR_RATE);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, r, len) == (ssize_t)len);
    close(fd);
}

#define S 1000000000ull

/* One sample a second at 1000 + t s, t = from..to, 100 jobs/s. */
static void add_samples(struct watchlog_rate *r, uint64_t from, uint64_t to)
{
    for (uint64_t t = from; t <= to; t++) {
        r->s[r->next].wall_ns = 1000 * S + t * S;
        r->s[r->next].done = t * 100;
        r->next = (r->next + 1) % WATCHLOG_RATE_N;
        r->count++;
    }
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/vl-test-watchlog-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    CHECK(watchlog_rate_read(dir, 100 * S, 10, 10 * S) < 0); /* no file */

    /* one sample a second, 0..20 s, 100 jobs/s: 21 samples, no wrap */
    struct watchlog_rate r = {.magic = WATCHLOG_RATE_MAGIC};
    add_samples(&r, 0, 20);
    r.sum = watchlog_rate_sum(&r);
    put(&r, sizeof r);
    /* now = 1020.5 s, 2060 done: the newest sample >= 10 s old is t=10 */
    double v = watchlog_rate_read(dir, 1020 * S + S / 2, 2060, 10 * S);
    CHECK(fabs(v - (2060.0 - 1000.0) / 10.5) < 1e-9);
    /* a window longer than the history: the oldest sample */
    v = watchlog_rate_read(dir, 1020 * S, 2000, 60 * S);
    CHECK(fabs(v - 100.0) < 1e-9);

    /* wrap: 40 more samples, the ring holds t = 29..60 */
    add_samples(&r, 21, 60);
    r.sum = watchlog_rate_sum(&r);
    put(&r, sizeof r);
    v = watchlog_rate_read(dir, 1060 * S, 6000, 10 * S);
    CHECK(fabs(v - 100.0) < 1e-9);
    v = watchlog_rate_read(dir, 1060 * S, 6000, 600 * S); /* oldest kept: t = 29 */
    CHECK(fabs(v - 100.0) < 1e-9);

    /* damaged: a flipped byte, another magic, a short file, fewer done */
    struct watchlog_rate bad = r;
    bad.s[3].done ^= 1;
    put(&bad, sizeof bad);
    CHECK(watchlog_rate_read(dir, 1060 * S, 6000, 10 * S) < 0);
    bad = r;
    bad.magic = 0;
    bad.sum = watchlog_rate_sum(&bad);
    put(&bad, sizeof bad);
    CHECK(watchlog_rate_read(dir, 1060 * S, 6000, 10 * S) < 0);
    put(&r, sizeof r - 1);
    CHECK(watchlog_rate_read(dir, 1060 * S, 6000, 10 * S) < 0);
    put(&r, sizeof r);
    CHECK(watchlog_rate_read(dir, 1060 * S, 10, 10 * S) < 0);  /* count went down */
    CHECK(watchlog_rate_read(dir, 900 * S, 6000, 10 * S) < 0); /* clock before every sample */

    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, RUNDIR_RATE);
    unlink(path);
    rmdir(dir);
    return check_done();
}

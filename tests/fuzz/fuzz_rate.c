/*
 * fuzz_rate.c - libFuzzer target for the reader of DIR/rate.bin
 * (persist/watchlog.c), the rate samples `volley status` and the progress
 * line read from a run directory that may be damaged. Input: one flag byte,
 * 24 bytes of the reader's clock, jobs done and window, then the file's
 * bytes. With bit 0 of the flag set, the harness writes a correct checksum
 * over what it was given (when it is long enough to hold one), so the
 * values behind the checksum get explored too. The reader must accept
 * only a file of the right size, format and checksum with its ring index
 * in range, and then give -1 (no usable sample) or a finite rate >= 0.
 * Seeds: tests/fuzz/corpus/fuzz_rate/.
 */
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/watchlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void cleanup(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, RUNDIR_RATE);
    unlink(p);
    rmdir(dir);
}

static uint64_t u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/volley-fuzz-rate-%d", (int)getpid());
        if (mkdir(dir, 0700) != 0)
            abort();
        atexit(cleanup);
    }
    if (size < 25)
        return 0;
    uint8_t flag = data[0];
    uint64_t now = u64(data + 1), done = u64(data + 9), window = u64(data + 17);
    const uint8_t *file = data + 25;
    size_t len = size - 25;

    struct watchlog_rate r;
    uint8_t *bytes = malloc(len ? len : 1);
    if (!bytes)
        abort();
    memcpy(bytes, file, len);
    if ((flag & 1) && len >= sizeof r) {
        memcpy(&r, bytes, sizeof r);
        r.sum = watchlog_rate_sum(&r);
        memcpy(bytes, &r, sizeof r);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, RUNDIR_RATE);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len && write(fd, bytes, len) != (ssize_t)len))
        abort();
    close(fd);

    bool ok = watchlog_rate_load(dir, &r);
    if (ok) {
        /* what was accepted is what the file holds, and is well formed */
        if (len < sizeof r || memcmp(&r, bytes, sizeof r) != 0)
            abort();
        if (r.magic != WATCHLOG_RATE_MAGIC || r.next >= WATCHLOG_RATE_N ||
            r.sum != watchlog_rate_sum(&r))
            abort();
    }
    double v = watchlog_rate_read(dir, now, done, window);
    if (!ok && v != -1)
        abort();
    if (!(v == -1 || (isfinite(v) && v >= 0)))
        abort();
    free(bytes);
    return 0;
}

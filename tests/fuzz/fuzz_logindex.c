/*
 * fuzz_logindex.c - libFuzzer target for the job-log index reader
 * (core/logread.c). Input: 4 bytes (little-endian) giving the segment's
 * data size (low 20 bits), then the bytes of an index file. Every input
 * goes through logread_check_index in memory, then, written as
 * seg-0000.idx next to a segment of that size (with a header matching the
 * index's, when it has one), through logread_copy (with and without a
 * hint) and logread_last_attempt. Nothing may crash, read out of bounds or
 * leak; a failure must come with a message; what the in-memory checker
 * accepts the file reader must accept too, and copy no more bytes than
 * the segment holds. Seeds: tests/fuzz/corpus/fuzz_logindex/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/logfmt.h"
#include "core/logread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static int devnull = -1;

static void cleanup(void)
{
    char p[128];
    snprintf(p, sizeof p, "%s/seg-0000.idx", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/seg-0000.log", dir);
    unlink(p);
    rmdir(dir);
}

static void put(const char *name, const void *p, size_t n, uint64_t total)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    if (n && write(fd, p, n) != (ssize_t)n)
        abort();
    if (total > n && ftruncate(fd, (off_t)total) != 0)
        abort();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/volley-fuzz-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        atexit(cleanup);
        devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    if (size < 4)
        return 0;
    uint32_t extra;
    memcpy(&extra, data, 4);
    bool seal = extra >> 31;
    extra &= 0xfffff;
    size_t n = size - 4;
    uint8_t *idx = malloc(n + 1);
    memcpy(idx, data + 4, n);
    if (seal && n >= LOGFMT_HDR_BYTES) {
        struct logfmt_hdr hh;
        memcpy(&hh, idx, sizeof hh);
        hh.check = logfmt_check(&hh, offsetof(struct logfmt_hdr, check));
        memcpy(idx, &hh, sizeof hh);
        for (size_t off = LOGFMT_HDR_BYTES; off + LOGFMT_REC_BYTES <= n; off += LOGFMT_REC_BYTES) {
            struct logfmt_rec r;
            memcpy(&r, idx + off, sizeof r);
            logfmt_rec_seal(&r);
            memcpy(idx + off, &r, sizeof r);
        }
    }
    uint64_t seg_size = LOGFMT_HDR_BYTES + extra;

    struct vl_err err = {0};
    int mem_rc = logread_check_index(idx, n, seg_size, &err);
    if (mem_rc != 0 && !err.msg[0])
        abort();

    /* the segment: a header paired with the index's (if it has one) */
    struct logfmt_hdr h;
    if (n >= sizeof h) {
        memcpy(&h, idx, sizeof h);
        logfmt_hdr_init(&h, false, h.log_id, h.created_ns);
    } else {
        logfmt_hdr_init(&h, false, 0, 0);
    }
    put("seg-0000.log", &h, sizeof h, seg_size);
    put("seg-0000.idx", idx, n, n);

    uint32_t jid = 0, attempt = 1;
    if (n >= LOGFMT_HDR_BYTES + LOGFMT_REC_BYTES) {
        memcpy(&jid, idx + LOGFMT_HDR_BYTES, 4);
        memcpy(&attempt, idx + LOGFMT_HDR_BYTES + 4, 4);
    }
    struct logread_info info;
    for (unsigned stream = 0; stream < 3; stream++) {
        memset(&err, 0, sizeof err);
        int rc = logread_copy(dir, jid, attempt, stream, NULL, devnull, &info, &err);
        if (rc != 0 && !err.msg[0])
            abort();
        if (rc == 0 && info.bytes > seg_size)
            abort();
        /* a header log id other than 0 names another pair: ENOENT-ish */
        if (mem_rc == 0 && rc != 0 && rc != -ENOENT && rc != -EINVAL && h.log_id == 0)
            abort();
    }
    struct logread_ref hint = {.log_id = 0, .rec = 0};
    memset(&err, 0, sizeof err);
    int rc = logread_copy(dir, jid, attempt, LOG_STDOUT, &hint, devnull, &info, &err);
    if (rc != 0 && !err.msg[0])
        abort();
    uint32_t last;
    rc = logread_last_attempt(dir, jid, &last, &err);
    if (rc != 0 && !err.msg[0])
        abort();
    free(idx);
    return 0;
}

/*
 * logseg.c - see logseg.h. Two fds, two staging buffers, pwrite at known
 * offsets (so the fd position never matters), segment before index.
 */
#include "logseg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAGE_DATA_BYTES (1u << 20)
#define STAGE_RECS 4096u
#define MERGE_MAX (1u << 30) /* a record's len stays far from UINT32_MAX */

const char *logseg_path(char *buf, size_t len, const char *dir, uint32_t log_id, bool index)
{
    snprintf(buf, len, "%s/seg-%04u.%s", dir, log_id, index ? "idx" : "log");
    return buf;
}

static int write_all(int fd, const void *p, size_t n, uint64_t off)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = pwrite(fd, b, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        b += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EIO; /* shorter than fstat said */
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Existing pair: check headers, drop a torn record tail and unindexed
 * segment bytes, and find where to append. */
static int reopen(struct logseg *ls, uint64_t idx_size, uint64_t seg_size, struct vl_err *err)
{
    struct logfmt_hdr hi, hs;
    const char *why;
    int rc;
    if (idx_size < LOGFMT_HDR_BYTES)
        return vl_err_set(err, VL_ECORRUPT,
                          "log index %s is damaged: %llu bytes, shorter than its header; move "
                          "it and %s away to start new logs",
                          ls->idx_path, (unsigned long long)idx_size, ls->seg_path);
    if (seg_size < LOGFMT_HDR_BYTES)
        return vl_err_set(err, VL_ECORRUPT,
                          "log segment %s is damaged: %llu bytes, shorter than its header",
                          ls->seg_path, (unsigned long long)seg_size);
    if ((rc = read_all(ls->idx_fd, &hi, sizeof hi, 0)) < 0)
        return vl_err_sys(err, rc, "cannot read %s", ls->idx_path);
    if ((rc = read_all(ls->seg_fd, &hs, sizeof hs, 0)) < 0)
        return vl_err_sys(err, rc, "cannot read %s", ls->seg_path);
    if ((rc = logfmt_hdr_check(&hi, true, &why)) != 0)
        return vl_err_set(err, rc, "log index %s: %s", ls->idx_path, why);
    if ((rc = logfmt_hdr_check(&hs, false, &why)) != 0)
        return vl_err_set(err, rc, "log segment %s: %s", ls->seg_path, why);
    if (hi.log_id != ls->log_id || hs.log_id != ls->log_id || hi.created_ns != hs.created_ns)
        return vl_err_set(err, VL_ECORRUPT, "log segment %s does not belong to index %s",
                          ls->seg_path, ls->idx_path);

    uint64_t nrec = (idx_size - LOGFMT_HDR_BYTES) / LOGFMT_REC_BYTES;
    if (LOGFMT_HDR_BYTES + nrec * LOGFMT_REC_BYTES != idx_size &&
        ftruncate(ls->idx_fd, (off_t)(LOGFMT_HDR_BYTES + nrec * LOGFMT_REC_BYTES)) != 0)
        return vl_err_sys(err, -errno, "cannot truncate the torn end of %s", ls->idx_path);
    /* The last DATA record says where the indexed bytes end. */
    uint64_t end = LOGFMT_HDR_BYTES;
    for (uint64_t i = nrec; i > 0; i--) {
        struct logfmt_rec r;
        if ((rc = read_all(ls->idx_fd, &r, sizeof r,
                           LOGFMT_HDR_BYTES + (i - 1) * LOGFMT_REC_BYTES)) < 0)
            return vl_err_sys(err, rc, "cannot read %s", ls->idx_path);
        if ((rc = logfmt_rec_check(&r, &why)) != 0)
            return vl_err_set(err, rc, "log index %s: record %llu is damaged: %s", ls->idx_path,
                              (unsigned long long)(i - 1), why);
        if (r.kind == LOGREC_DATA) {
            end = r.off + r.len;
            break;
        }
    }
    if (end > seg_size)
        return vl_err_set(
            err, VL_ECORRUPT, "log index %s refers to %llu bytes of %s, which has only %llu",
            ls->idx_path, (unsigned long long)end, ls->seg_path, (unsigned long long)seg_size);
    if (end < seg_size && ftruncate(ls->seg_fd, (off_t)end) != 0)
        return vl_err_sys(err, -errno, "cannot truncate unindexed bytes of %s", ls->seg_path);
    ls->seg_end = ls->seg_written = end;
    ls->nrec = ls->nrec_written = nrec;
    return 0;
}

int logseg_open(struct logseg *ls, const char *dir, uint32_t log_id, struct vl_err *err)
{
    char b[4096];
    memset(ls, 0, sizeof *ls);
    ls->seg_fd = ls->idx_fd = -1;
    ls->log_id = log_id;
    ls->seg_path = vl_xstrdup(logseg_path(b, sizeof b, dir, log_id, false));
    ls->idx_path = vl_xstrdup(logseg_path(b, sizeof b, dir, log_id, true));
    int rc;
    ls->idx_fd = open(ls->idx_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (ls->idx_fd < 0) {
        rc = vl_err_sys(err, -errno, "cannot open log index %s", ls->idx_path);
        goto fail;
    }
    ls->seg_fd = open(ls->seg_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (ls->seg_fd < 0) {
        rc = vl_err_sys(err, -errno, "cannot open log segment %s", ls->seg_path);
        goto fail;
    }
    struct stat si, ss;
    if (fstat(ls->idx_fd, &si) != 0 || fstat(ls->seg_fd, &ss) != 0) {
        rc = vl_err_sys(err, -errno, "cannot stat %s", ls->idx_path);
        goto fail;
    }
    if (si.st_size == 0 && ss.st_size == 0) {
        struct logfmt_hdr h;
        uint64_t now = vl_wall_ns();
        logfmt_hdr_init(&h, false, log_id, now);
        if ((rc = write_all(ls->seg_fd, &h, sizeof h, 0)) < 0) {
            vl_err_sys(err, rc, "cannot write %s", ls->seg_path);
            goto fail;
        }
        logfmt_hdr_init(&h, true, log_id, now);
        if ((rc = write_all(ls->idx_fd, &h, sizeof h, 0)) < 0) {
            vl_err_sys(err, rc, "cannot write %s", ls->idx_path);
            goto fail;
        }
        ls->seg_end = ls->seg_written = LOGFMT_HDR_BYTES;
    } else if ((rc = reopen(ls, (uint64_t)si.st_size, (uint64_t)ss.st_size, err)) != 0) {
        goto fail;
    }
    ls->data_cap = STAGE_DATA_BYTES;
    ls->data = vl_xmalloc(ls->data_cap);
    ls->recs_cap = STAGE_RECS;
    ls->recs = vl_xmalloc(ls->recs_cap * sizeof *ls->recs);
    return 0;
fail:
    if (ls->idx_fd >= 0)
        close(ls->idx_fd);
    if (ls->seg_fd >= 0)
        close(ls->seg_fd);
    free(ls->seg_path);
    free(ls->idx_path);
    memset(ls, 0, sizeof *ls);
    ls->seg_fd = ls->idx_fd = -1;
    return rc;
}

int logseg_flush(struct logseg *ls)
{
    if (!logseg_pending(ls))
        return ls->err;
    int rc = 0;
    if (!ls->err && ls->data_len)
        rc = write_all(ls->seg_fd, ls->data, ls->data_len, ls->seg_written);
    if (!ls->err && !rc && ls->recs_len) {
        for (size_t i = 0; i < ls->recs_len; i++)
            logfmt_rec_seal(&ls->recs[i]);
        rc = write_all(ls->idx_fd, ls->recs, ls->recs_len * sizeof *ls->recs,
                       LOGFMT_HDR_BYTES + ls->nrec_written * LOGFMT_REC_BYTES);
    }
    if (rc && !ls->err)
        ls->err = rc;
    if (ls->err) {
        /* Dropped: records must never describe bytes that are not there.
         * A partly written segment tail is unindexed and cut on reopen. */
        ls->seg_end = ls->seg_written;
        ls->nrec = ls->nrec_written;
    } else {
        ls->seg_written = ls->seg_end;
        ls->nrec_written = ls->nrec;
        ls->flushes++;
    }
    ls->data_len = 0;
    ls->recs_len = 0;
    ls->last_mergeable = false;
    return ls->err;
}

void logseg_punch(struct logseg *ls, uint64_t off, uint64_t len)
{
    if (!len || off < LOGFMT_HDR_BYTES)
        return;
    if (off + len > ls->seg_written)
        logseg_flush(ls);
    if (ls->err || off + len > ls->seg_written)
        return; /* dropped, not written: nothing to give back */
    (void)fallocate(ls->seg_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
}

static struct logfmt_rec *stage_rec(struct logseg *ls)
{
    if (ls->recs_len == ls->recs_cap)
        logseg_flush(ls);
    struct logfmt_rec *r = &ls->recs[ls->recs_len++];
    memset(r, 0, sizeof *r);
    ls->nrec++;
    ls->last_mergeable = false;
    return r;
}

uint64_t logseg_begin(struct logseg *ls, uint32_t jid, uint32_t attempt, uint64_t start_ns)
{
    struct logfmt_rec *r = stage_rec(ls);
    /* after stage_rec: a flush inside it may have rewound nrec on error */
    uint64_t no = ls->nrec - 1;
    r->jid = jid;
    r->attempt = attempt;
    r->off = start_ns;
    r->kind = LOGREC_BEGIN;
    return no;
}

void logseg_data(struct logseg *ls, uint32_t jid, uint32_t attempt, uint8_t stream, const void *p,
                 size_t n)
{
    const uint8_t *b = p;
    ls->bytes_total += n;
    while (n) {
        /* Make room first: a flush here writes only complete pairs of
         * bytes and records, never bytes without their record. */
        if (ls->data_len == ls->data_cap || ls->recs_len == ls->recs_cap)
            logseg_flush(ls);
        struct logfmt_rec *last = ls->recs_len ? &ls->recs[ls->recs_len - 1] : NULL;
        size_t take = VL_MIN(n, ls->data_cap - ls->data_len);
        memcpy(ls->data + ls->data_len, b, take);
        ls->data_len += take;
        if (ls->last_mergeable && last->jid == jid && last->attempt == attempt &&
            last->stream == stream && last->len + take <= MERGE_MAX) {
            last->len += (uint32_t)take;
        } else {
            uint64_t off = ls->seg_end;
            struct logfmt_rec *r = stage_rec(ls); /* room was made above */
            r->jid = jid;
            r->attempt = attempt;
            r->off = off;
            r->len = (uint32_t)take;
            r->stream = stream;
            r->kind = LOGREC_DATA;
            ls->last_mergeable = true;
        }
        ls->seg_end += take;
        b += take;
        n -= take;
    }
}

void logseg_end(struct logseg *ls, uint32_t jid, uint32_t attempt, uint8_t stream, uint8_t kind)
{
    struct logfmt_rec *r = stage_rec(ls);
    r->jid = jid;
    r->attempt = attempt;
    r->stream = stream;
    r->kind = kind;
}

void logseg_note(struct logseg *ls, uint32_t jid, uint32_t attempt, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = VL_MIN((size_t)n, sizeof line - 2);
    line[len++] = '\n';
    logseg_data(ls, jid, attempt, LOG_NOTE, line, len);
}

void logseg_close(struct logseg *ls)
{
    if (!ls || ls->idx_fd < 0 || !ls->recs)
        return;
    logseg_flush(ls);
    close(ls->idx_fd);
    close(ls->seg_fd);
    free(ls->data);
    free(ls->recs);
    free(ls->seg_path);
    free(ls->idx_path);
    memset(ls, 0, sizeof *ls);
    ls->seg_fd = ls->idx_fd = -1;
}

/*
 * logread.c - see logread.h. Index files are read in chunks of 2048
 * records with pread; segment bytes are copied through a 64 KiB buffer.
 */
#include "logread.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logseg.h"

#define CHUNK_RECS 2048u

/* One index + segment pair, opened and header-checked. */
struct pair {
    uint32_t log_id;
    int idx_fd, seg_fd;
    uint64_t nrec;     /* whole records at open time */
    uint64_t seg_size; /* segment bytes, taken after the index size */
    char idx_path[4096], seg_path[4096];
    struct logfmt_rec *chunk; /* records [chunk_first, chunk_first + chunk_n) */
    uint64_t chunk_first, chunk_n;
};

static int pread_full(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *b = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, b + got, n - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (int)(got == n ? 0 : -EIO);
}

static void pair_close(struct pair *p)
{
    if (p->idx_fd >= 0)
        close(p->idx_fd);
    if (p->seg_fd >= 0)
        close(p->seg_fd);
    free(p->chunk);
    p->idx_fd = p->seg_fd = -1;
    p->chunk = NULL;
}

static int pair_open(struct pair *p, const char *dir, uint32_t log_id, struct vl_err *err)
{
    memset(p, 0, sizeof *p);
    p->idx_fd = p->seg_fd = -1;
    p->log_id = log_id;
    logseg_path(p->idx_path, sizeof p->idx_path, dir, log_id, true);
    logseg_path(p->seg_path, sizeof p->seg_path, dir, log_id, false);
    int rc;
    const char *why;
    struct logfmt_hdr hi, hs;
    struct stat st;
    p->idx_fd = open(p->idx_path, O_RDONLY | O_CLOEXEC);
    if (p->idx_fd < 0)
        return vl_err_sys(err, -errno, "cannot open log index %s", p->idx_path);
    /* The index size first, the segment size after: every record within
     * the former describes bytes within the latter. */
    if (fstat(p->idx_fd, &st) != 0)
        return vl_err_sys(err, -errno, "cannot stat %s", p->idx_path);
    /* 0 bytes: a writer between its create and its header (logseg_open
     * writes the segment's header, then the index's), or one that crashed
     * there, which it treats as fresh too: no records yet */
    if (st.st_size == 0)
        return 0;
    if ((uint64_t)st.st_size < LOGFMT_HDR_BYTES)
        return vl_err_set(err, VL_ECORRUPT,
                          "log index %s is damaged: %lld bytes, shorter than its 64-byte header",
                          p->idx_path, (long long)st.st_size);
    p->nrec = ((uint64_t)st.st_size - LOGFMT_HDR_BYTES) / LOGFMT_REC_BYTES;
    if ((rc = pread_full(p->idx_fd, &hi, sizeof hi, 0)) < 0)
        return vl_err_sys(err, rc, "cannot read %s", p->idx_path);
    if ((rc = logfmt_hdr_check(&hi, true, &why)) != 0)
        return vl_err_set(err, rc, "log index %s is damaged: %s", p->idx_path, why);
    p->seg_fd = open(p->seg_path, O_RDONLY | O_CLOEXEC);
    if (p->seg_fd < 0)
        return vl_err_sys(err, -errno, "cannot open log segment %s", p->seg_path);
    if (fstat(p->seg_fd, &st) != 0)
        return vl_err_sys(err, -errno, "cannot stat %s", p->seg_path);
    p->seg_size = (uint64_t)st.st_size;
    if ((rc = pread_full(p->seg_fd, &hs, sizeof hs, 0)) < 0)
        return vl_err_set(err, VL_ECORRUPT, "log segment %s is damaged: shorter than its header",
                          p->seg_path);
    if ((rc = logfmt_hdr_check(&hs, false, &why)) != 0)
        return vl_err_set(err, rc, "log segment %s is damaged: %s", p->seg_path, why);
    if (hi.log_id != log_id || hs.log_id != log_id || hi.created_ns != hs.created_ns)
        return vl_err_set(err, VL_ECORRUPT, "log segment %s does not belong to index %s",
                          p->seg_path, p->idx_path);
    p->chunk = vl_xmalloc(CHUNK_RECS * sizeof *p->chunk);
    return 0;
}

/* Record i (< nrec), through the chunk cache; NULL on a read error. */
static const struct logfmt_rec *pair_rec(struct pair *p, uint64_t i, struct vl_err *err, int *rc)
{
    if (i < p->chunk_first || i >= p->chunk_first + p->chunk_n) {
        uint64_t n = VL_MIN((uint64_t)CHUNK_RECS, p->nrec - i);
        *rc = pread_full(p->idx_fd, p->chunk, (size_t)n * LOGFMT_REC_BYTES,
                         LOGFMT_HDR_BYTES + i * LOGFMT_REC_BYTES);
        if (*rc < 0) {
            vl_err_sys(err, *rc, "cannot read %s", p->idx_path);
            p->chunk_n = 0;
            return NULL;
        }
        p->chunk_first = i;
        p->chunk_n = n;
    }
    return &p->chunk[i - p->chunk_first];
}

/* Record checks that depend on the position: DATA bytes lie inside the
 * segment and follow the previous DATA record (*expect; 0: not known yet). */
static int check_placed(const struct logfmt_rec *r, uint64_t seg_size, uint64_t *expect,
                        const char **why)
{
    int rc = logfmt_rec_check(r, why);
    if (rc)
        return rc;
    if (r->kind != LOGREC_DATA)
        return 0;
    if (r->off < LOGFMT_HDR_BYTES || r->off > seg_size || r->len > seg_size - r->off) {
        *why = "DATA record points outside the segment";
        return VL_ECORRUPT;
    }
    if (*expect && r->off != *expect) {
        *why = "DATA record does not follow the previous one";
        return VL_ECORRUPT;
    }
    *expect = r->off + r->len;
    return 0;
}

static int rec_damaged(struct vl_err *err, int rc, const char *path, uint64_t i, const char *why)
{
    return vl_err_set(err, rc, "log index %s is damaged: record %llu (byte %llu): %s", path,
                      (unsigned long long)i,
                      (unsigned long long)(LOGFMT_HDR_BYTES + i * LOGFMT_REC_BYTES), why);
}

int logread_check_index(const void *buf, size_t len, uint64_t seg_size, struct vl_err *err)
{
    const char *why;
    int rc;
    if (len < LOGFMT_HDR_BYTES)
        return vl_err_set(err, VL_ECORRUPT,
                          "log index is damaged: %zu bytes, shorter than its "
                          "64-byte header",
                          len);
    struct logfmt_hdr h;
    memcpy(&h, buf, sizeof h);
    if ((rc = logfmt_hdr_check(&h, true, &why)) != 0)
        return vl_err_set(err, rc, "log index is damaged: %s", why);
    uint64_t n = (len - LOGFMT_HDR_BYTES) / LOGFMT_REC_BYTES;
    uint64_t expect = LOGFMT_HDR_BYTES;
    for (uint64_t i = 0; i < n; i++) {
        struct logfmt_rec r;
        memcpy(&r, (const uint8_t *)buf + LOGFMT_HDR_BYTES + i * LOGFMT_REC_BYTES, sizeof r);
        if ((rc = check_placed(&r, seg_size, &expect, &why)) != 0)
            return rec_damaged(err, rc, "(memory)", i, why);
    }
    return 0;
}

/* Log ids of DIR's seg-NNNN.idx files, ascending. */
static int list_ids(const char *dir, uint32_t **ids, size_t *n, struct vl_err *err)
{
    *ids = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return vl_err_sys(err, -errno, "cannot open log directory %s", dir);
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned id;
        char tail[8];
        int used = 0;
        if (sscanf(e->d_name, "seg-%u.%4s%n", &id, tail, &used) != 2 || strcmp(tail, "idx") != 0 ||
            e->d_name[used] != '\0')
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *ids = vl_xrealloc(*ids, cap * sizeof **ids);
        }
        (*ids)[(*n)++] = id;
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++)
        for (size_t j = i; j > 0 && (*ids)[j - 1] > (*ids)[j]; j--) {
            uint32_t t = (*ids)[j];
            (*ids)[j] = (*ids)[j - 1];
            (*ids)[j - 1] = t;
        }
    return 0;
}

/* Pass 1: scan every index, checking every record; find the latest BEGIN of
 * (jid, attempt) (attempt 0: any attempt, tracking the highest). */
struct found {
    bool any;
    uint32_t log_id;
    uint64_t rec;
    uint64_t start_ns;
    uint32_t max_attempt;
};

static int scan_all(const char *dir, uint32_t jid, uint32_t attempt, struct found *f,
                    struct vl_err *err)
{
    memset(f, 0, sizeof *f);
    uint32_t *ids;
    size_t nids;
    int rc = list_ids(dir, &ids, &nids, err);
    if (rc)
        return rc;
    for (size_t k = 0; k < nids && rc == 0; k++) {
        struct pair p;
        rc = pair_open(&p, dir, ids[k], err);
        uint64_t expect = LOGFMT_HDR_BYTES;
        for (uint64_t i = 0; rc == 0 && i < p.nrec; i++) {
            const struct logfmt_rec *r = pair_rec(&p, i, err, &rc);
            if (!r)
                break;
            const char *why;
            if ((rc = check_placed(r, p.seg_size, &expect, &why)) != 0) {
                rec_damaged(err, rc, p.idx_path, i, why);
                break;
            }
            if (r->kind != LOGREC_BEGIN || r->jid != jid)
                continue;
            if (r->attempt > f->max_attempt)
                f->max_attempt = r->attempt;
            if (attempt && r->attempt == attempt && (!f->any || r->off >= f->start_ns)) {
                f->any = true;
                f->log_id = p.log_id;
                f->rec = i;
                f->start_ns = r->off;
            }
        }
        pair_close(&p);
    }
    free(ids);
    return rc;
}

static int write_out(int fd, const uint8_t *b, size_t n)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Pass 2: from the BEGIN at rec, copy the stream's bytes until its end
 * record, another BEGIN of the same attempt, or the end of the index. */
static int copy_from(struct pair *p, uint64_t rec, uint32_t jid, uint32_t attempt, unsigned stream,
                     int out_fd, struct logread_info *info, struct vl_err *err)
{
    static const size_t bufsz = 64 * 1024;
    uint8_t *buf = vl_xmalloc(bufsz);
    int rc = 0;
    uint64_t expect = 0;
    for (uint64_t i = rec + 1; i < p->nrec; i++) {
        const struct logfmt_rec *r = pair_rec(p, i, err, &rc);
        if (!r)
            break;
        const char *why;
        if ((rc = check_placed(r, p->seg_size, &expect, &why)) != 0) {
            rec_damaged(err, rc, p->idx_path, i, why);
            break;
        }
        if (r->jid != jid || r->attempt != attempt)
            continue;
        if (r->kind == LOGREC_BEGIN)
            break; /* begun again: what follows is another occurrence */
        if (r->stream != stream)
            continue;
        if (r->kind == LOGREC_EOF || r->kind == LOGREC_CUT) {
            info->ended = true;
            info->cut = r->kind == LOGREC_CUT;
            break;
        }
        uint64_t off = r->off, left = r->len;
        while (left) {
            size_t n = (size_t)VL_MIN(left, (uint64_t)bufsz);
            if ((rc = pread_full(p->seg_fd, buf, n, off)) < 0) {
                vl_err_sys(err, rc, "cannot read %s", p->seg_path);
                goto out;
            }
            if ((rc = write_out(out_fd, buf, n)) < 0) {
                vl_err_sys(err, rc, "cannot write the log of job %u", jid);
                goto out;
            }
            info->bytes += n;
            off += n;
            left -= n;
        }
    }
out:
    free(buf);
    return rc;
}

int logread_copy(const char *dir, uint32_t jid, uint32_t attempt, unsigned stream,
                 const struct logread_ref *hint, int out_fd, struct logread_info *info,
                 struct vl_err *err)
{
    memset(info, 0, sizeof *info);
    if (stream >= LOG_NSTREAMS || attempt == 0)
        return vl_err_set(err, -EINVAL, "no stream %u or attempt %u in job logs", stream, attempt);
    struct pair p;
    int rc;
    if (hint) {
        struct vl_err herr;
        if (pair_open(&p, dir, hint->log_id, &herr) == 0 && hint->rec < p.nrec) {
            const struct logfmt_rec *r = pair_rec(&p, hint->rec, &herr, &rc);
            const char *why;
            if (r && logfmt_rec_check(r, &why) == 0 && r->kind == LOGREC_BEGIN && r->jid == jid &&
                r->attempt == attempt) {
                info->start_ns = r->off;
                info->log_id = p.log_id;
                rc = copy_from(&p, hint->rec, jid, attempt, stream, out_fd, info, err);
                pair_close(&p);
                return rc;
            }
        }
        pair_close(&p);
    }
    struct found f;
    if ((rc = scan_all(dir, jid, attempt, &f, err)) != 0)
        return rc;
    if (!f.any)
        return vl_err_set(err, -ENOENT, "no log for job %u, attempt %u in %s", jid, attempt, dir);
    if ((rc = pair_open(&p, dir, f.log_id, err)) == 0) {
        info->start_ns = f.start_ns;
        info->log_id = f.log_id;
        rc = copy_from(&p, f.rec, jid, attempt, stream, out_fd, info, err);
    }
    pair_close(&p);
    return rc;
}

int logread_last_attempt(const char *dir, uint32_t jid, uint32_t *attempt, struct vl_err *err)
{
    struct found f;
    int rc = scan_all(dir, jid, 0, &f, err);
    *attempt = rc ? 0 : f.max_attempt;
    return rc;
}

/*
 * logfmt.h - the on-disk format of job logs (version 1): one segment file
 * and one index file per engine, in the run's log directory. The writer is
 * logseg.c, the reader logread.c; docs/execution.md describes the format
 * for people.
 *
 * Why: a file per job costs ~100 us of runner CPU and a 4 KiB block per
 * tiny log (32x disk amplification for 99-byte logs), and millions of
 * inodes; pipes read through the ring into one append-only segment cost
 * ~33 us and no inode per job (research/platform-probe.md section 4).
 *
 *   seg-NNNN.log  64-byte header, then job output bytes, appended in the
 *                 order the engine read them; output of concurrent jobs
 *                 interleaves.
 *   seg-NNNN.idx  64-byte header, then 32-byte records, appended. Every
 *                 byte after the segment header belongs to exactly one DATA
 *                 record, and DATA records are contiguous: each starts where
 *                 the previous one ended (the first at 64). The writer
 *                 writes segment bytes before the records that describe
 *                 them, so a record never points past the data on disk.
 *
 * An attempt of a job (jid, attempt) starts with a BEGIN record; its
 * streams' bytes follow in DATA records, each stream ends with EOF (the
 * pipe closed) or CUT (the engine stopped reading it, e.g. a background
 * process kept it open after the job exited; a NOTE says so). If the same
 * (jid, attempt) was begun more than once (a run resumed after a crash),
 * the BEGIN with the latest start time is the one that counts.
 *
 * Integers are little-endian (this is an x86_64/arm64 format; the build
 * refuses a big-endian target). Every header and record carries a checksum
 * of its other bytes, so a damaged file is refused, not misread.
 */
#ifndef VOLLEY_CORE_LOGFMT_H
#define VOLLEY_CORE_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "log files are little-endian");

#define LOGFMT_VERSION 1
#define LOGFMT_IDX_MAGIC "VLOGIDX" /* 8 bytes with the NUL */
#define LOGFMT_SEG_MAGIC "VLOGSEG"
#define LOGFMT_HDR_BYTES 64
#define LOGFMT_REC_BYTES 32

/* The first 64 bytes of both files. */
struct logfmt_hdr {
    char magic[8];        /* LOGFMT_IDX_MAGIC or LOGFMT_SEG_MAGIC, NUL-padded */
    uint32_t version;     /* LOGFMT_VERSION */
    uint32_t rec_bytes;   /* index: LOGFMT_REC_BYTES; segment: 0 */
    uint32_t log_id;      /* the engine's log id, also in the file names */
    uint32_t flags;       /* 0 */
    uint64_t created_ns;  /* wall clock at creation; the same in both files of a pair */
    uint8_t reserved[28]; /* 0 */
    uint32_t check;       /* logfmt_check of the 60 bytes before */
};
_Static_assert(sizeof(struct logfmt_hdr) == LOGFMT_HDR_BYTES, "log header layout");

enum logfmt_stream {
    LOG_NOTE = 0,         /* the engine's own notes about the attempt */
    LOG_STDOUT = 1,       /* the job's stdout */
    LOG_STDERR = 2,       /* the job's stderr */
    LOG_RECOVERY_OUT = 3, /* stdout of the recovery script run after this attempt */
    LOG_RECOVERY_ERR = 4, /* its stderr */
    LOG_NSTREAMS = 5
};

enum logfmt_kind {
    LOGREC_BEGIN = 1, /* an attempt starts: off = start wall clock ns */
    LOGREC_DATA = 2,  /* bytes [off, off + len) of the segment belong to stream */
    LOGREC_EOF = 3,   /* stream ended: the pipe reached end of file */
    LOGREC_CUT = 4,   /* stream ended: the engine stopped reading it */
};

struct logfmt_rec {
    uint32_t jid;     /* job id */
    uint32_t attempt; /* 1 for the first run */
    uint64_t off;     /* DATA: segment offset; BEGIN: start ns; else 0 */
    uint32_t len;     /* DATA: bytes, > 0; else 0 */
    uint8_t stream;   /* enum logfmt_stream; BEGIN: 0 */
    uint8_t kind;     /* enum logfmt_kind */
    uint16_t zero;    /* 0 */
    uint32_t aux;     /* 0 (reserved) */
    uint32_t check;   /* logfmt_check of the 28 bytes before */
};
_Static_assert(sizeof(struct logfmt_rec) == LOGFMT_REC_BYTES, "log record layout");

/* FNV-1a over n bytes, folded with a final mix so that a zeroed record
 * does not check. */
static inline uint32_t logfmt_check(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    return h ^ 0x5a5a5a5au;
}

/* Fills a header for a new file. */
static inline void logfmt_hdr_init(struct logfmt_hdr *h, bool index, uint32_t log_id,
                                   uint64_t created_ns)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, index ? LOGFMT_IDX_MAGIC : LOGFMT_SEG_MAGIC, 8);
    h->version = LOGFMT_VERSION;
    h->rec_bytes = index ? LOGFMT_REC_BYTES : 0;
    h->log_id = log_id;
    h->created_ns = created_ns;
    h->check = logfmt_check(h, offsetof(struct logfmt_hdr, check));
}

/*
 * Checks a header read from a file: 0 when valid; VL_EVERSION when it is a
 * volley log of another version; VL_ECORRUPT otherwise. *why gets a short
 * reason ("not a volley log index", "checksum mismatch", ...).
 */
static inline int logfmt_hdr_check(const struct logfmt_hdr *h, bool index, const char **why)
{
    if (memcmp(h->magic, index ? LOGFMT_IDX_MAGIC : LOGFMT_SEG_MAGIC, 8) != 0) {
        *why =
            index ? "not a volley log index (bad magic)" : "not a volley log segment (bad magic)";
        return VL_ECORRUPT;
    }
    if (h->check != logfmt_check(h, offsetof(struct logfmt_hdr, check))) {
        *why = "header checksum mismatch";
        return VL_ECORRUPT;
    }
    if (h->version != LOGFMT_VERSION) {
        *why = "written by another log format version";
        return VL_EVERSION;
    }
    if (h->rec_bytes != (index ? LOGFMT_REC_BYTES : 0u) || h->flags != 0) {
        *why = "unexpected record size or flags in the header";
        return VL_ECORRUPT;
    }
    for (size_t i = 0; i < sizeof h->reserved; i++) {
        if (h->reserved[i]) {
            *why = "reserved header bytes are not zero";
            return VL_ECORRUPT;
        }
    }
    return 0;
}

/* Seals a record (sets its checksum). */
static inline void logfmt_rec_seal(struct logfmt_rec *r)
{
    r->check = logfmt_check(r, offsetof(struct logfmt_rec, check));
}

/*
 * Checks one record on its own (not its place in the file): 0, or
 * VL_ECORRUPT with *why set.
 */
static inline int logfmt_rec_check(const struct logfmt_rec *r, const char **why)
{
    if (r->check != logfmt_check(r, offsetof(struct logfmt_rec, check))) {
        *why = "checksum mismatch";
        return VL_ECORRUPT;
    }
    if (r->zero != 0 || r->aux != 0) {
        *why = "reserved fields are not zero";
        return VL_ECORRUPT;
    }
    if (r->stream >= LOG_NSTREAMS) {
        *why = "unknown stream";
        return VL_ECORRUPT;
    }
    switch (r->kind) {
    case LOGREC_BEGIN:
        if (r->stream != 0 || r->len != 0) {
            *why = "BEGIN record with a stream or a length";
            return VL_ECORRUPT;
        }
        return 0;
    case LOGREC_DATA:
        if (r->len == 0) {
            *why = "DATA record of length 0";
            return VL_ECORRUPT;
        }
        return 0;
    case LOGREC_EOF:
    case LOGREC_CUT:
        if (r->off != 0 || r->len != 0) {
            *why = "end record with an offset or a length";
            return VL_ECORRUPT;
        }
        return 0;
    default:
        *why = "unknown record kind";
        return VL_ECORRUPT;
    }
}

#endif /* VOLLEY_CORE_LOGFMT_H */

/*
 * logseg.h - the writer of one engine's log segment and index (format in
 * logfmt.h): stages bytes and records in memory and writes them with two
 * pwrite calls per flush, segment first.
 *
 * The engine flushes before it reports an attempt as ended, so a log is on
 * disk (in the page cache) when the attempt's end is published; between
 * ends, staged bytes wait at most until the staging buffer (1 MiB) fills.
 * Consecutive chunks of the same stream are merged into one record (a
 * 100 MB writer gets a few hundred records, not one per pipe read).
 *
 * Reopening an existing pair (a resumed run, the same log id) appends: a
 * partial record at the end of the index (a crash mid-write) is dropped,
 * and so are segment bytes after the last record's end.
 *
 * Write errors (disk full) are sticky: the first one is kept, later staged
 * data is dropped rather than indexed wrongly, and logseg_flush keeps
 * returning it; the engine reports it at the end of the run.
 */
#ifndef VOLLEY_CORE_LOGSEG_H
#define VOLLEY_CORE_LOGSEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "logfmt.h"

struct logseg {
    int seg_fd, idx_fd;
    uint32_t log_id;
    char *seg_path, *idx_path;
    uint64_t seg_end;      /* offset of the next data byte, staged included */
    uint64_t seg_written;  /* segment bytes on disk */
    uint64_t nrec;         /* records, staged included */
    uint64_t nrec_written; /* records on disk */
    uint8_t *data;         /* staged bytes */
    size_t data_len, data_cap;
    struct logfmt_rec *recs; /* staged records */
    size_t recs_len, recs_cap;
    bool last_mergeable;  /* recs[recs_len-1] is DATA and may grow */
    int err;              /* first write error (negative errno), sticky */
    uint64_t bytes_total; /* data bytes accepted since open (stats) */
    uint64_t flushes;     /* flushes that wrote something (stats) */
};

/* Opens (creating or appending to) DIR/seg-NNNN.log and .idx for log_id.
 * On failure returns a negative code with err naming the file. */
int logseg_open(struct logseg *ls, const char *dir, uint32_t log_id, struct vl_err *err);
/* Flushes and closes; NULL or unopened ok. */
void logseg_close(struct logseg *ls);

/* Stages a BEGIN record and returns its record number (the log reference). */
uint64_t logseg_begin(struct logseg *ls, uint32_t jid, uint32_t attempt, uint64_t start_ns);
/* Stages n bytes of a stream (may flush when staging is full). */
void logseg_data(struct logseg *ls, uint32_t jid, uint32_t attempt, uint8_t stream, const void *p,
                 size_t n);
/* Stages the end of a stream: kind LOGREC_EOF or LOGREC_CUT. */
void logseg_end(struct logseg *ls, uint32_t jid, uint32_t attempt, uint8_t stream, uint8_t kind);
/* Stages a line of text on the LOG_NOTE stream ("volley: ..."). */
void logseg_note(struct logseg *ls, uint32_t jid, uint32_t attempt, const char *fmt, ...)
    VL_PRINTF(4, 5);
/* True if anything is staged. */
static inline bool logseg_pending(const struct logseg *ls)
{
    return ls->recs_len > 0 || ls->data_len > 0;
}
/* Gives the segment space of bytes [off, off + len) back to the file
 * system (fallocate PUNCH_HOLE, the file keeps its size: they read as
 * zeros; only whole blocks are freed). Flushes first if they are still
 * staged. Best effort: a file system without hole punching keeps them. */
void logseg_punch(struct logseg *ls, uint64_t off, uint64_t len);
/* Writes what is staged; returns 0 or the sticky error. */
int logseg_flush(struct logseg *ls);

/* "DIR/seg-NNNN.idx" or ".log" into buf; returns buf. */
const char *logseg_path(char *buf, size_t len, const char *dir, uint32_t log_id, bool index);

#endif /* VOLLEY_CORE_LOGSEG_H */

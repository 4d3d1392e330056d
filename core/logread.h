/*
 * logread.h - reading job logs back (format in logfmt.h): what one attempt
 * of one job wrote to one stream, byte for byte, from the segment and index
 * files of a log directory. `volley logs` and the tests use it; it works
 * while a run is live (it reads only whole records, and the writer puts
 * bytes on disk before the records that describe them).
 *
 * Without a hint it scans every index in the directory (seg-*.idx), checks
 * every record, and takes the latest BEGIN of (job, attempt); cost linear
 * in the number of records (32 bytes each). With the log reference an
 * attempt's result carried (exec.h: log id + record number of its BEGIN),
 * it starts right there and reads forward until the stream's end record.
 *
 * Damaged files are refused: a header or record whose checksum, magic,
 * fields or offsets do not hold gives VL_ECORRUPT (another format version
 * VL_EVERSION) with a message naming the file and the record.
 */
#ifndef VOLLEY_CORE_LOGREAD_H
#define VOLLEY_CORE_LOGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "logfmt.h"

/* Where an attempt's BEGIN record is: a log reference. */
struct logread_ref {
    uint32_t log_id; /* seg-<log_id>.idx */
    uint32_t pad;
    uint64_t rec; /* record number (0 = first after the header) */
};

struct logread_info {
    uint64_t bytes;    /* bytes written to the output */
    uint64_t start_ns; /* the attempt's start, wall clock */
    uint32_t log_id;   /* the index it came from */
    bool ended;        /* the stream's end record was found (else live or crashed) */
    bool cut;          /* ... and it was CUT: the engine stopped reading */
};

/*
 * Writes to out_fd exactly the bytes job jid wrote to stream (enum
 * logfmt_stream) in attempt. hint may be NULL; a hint that does not point at
 * a BEGIN of (jid, attempt) is ignored (full scan). Returns 0 (info filled;
 * the stream may have been empty), -ENOENT (no such attempt in DIR: err says
 * so), VL_ECORRUPT / VL_EVERSION (a damaged or foreign file: err names it),
 * or a negative errno (reading DIR, or writing out_fd: -EPIPE ...).
 */
int logread_copy(const char *dir, uint32_t jid, uint32_t attempt, unsigned stream,
                 const struct logread_ref *hint, int out_fd, struct logread_info *info,
                 struct vl_err *err);

/* The highest attempt of jid that has a BEGIN in DIR (0: none). */
int logread_last_attempt(const char *dir, uint32_t jid, uint32_t *attempt, struct vl_err *err);

/*
 * Checks a whole index image in memory against a segment of seg_size bytes:
 * the header, then every whole record (alone, DATA contiguity from offset
 * 64, bounds). A trailing partial record is allowed (a live writer). 0 or
 * VL_ECORRUPT / VL_EVERSION with err set. The fuzz target's entry point.
 */
int logread_check_index(const void *buf, size_t len, uint64_t seg_size, struct vl_err *err);

#endif /* VOLLEY_CORE_LOGREAD_H */

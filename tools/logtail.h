/*
 * logtail.h - the last lines of what a job's attempt wrote to one stream
 * (its stderr, stdout, recovery script's output, or volley's notes), as
 * the run summary, the live failure lines (runstatus.c) and the report's
 * failure list (report_html.c) show them.
 */
#ifndef VOLLEY_TOOLS_LOGTAIL_H
#define VOLLEY_TOOLS_LOGTAIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * The last max_lines lines of stream (enum logfmt_stream) of attempt of
 * jid, from at most the last cap - 1 bytes, into buf (NUL-terminated,
 * without the final newline). log_ref: the record's log reference (0 or
 * UINT64_MAX: none, the indexes are scanned). Returns the length; 0 if
 * the stream is empty or cannot be read.
 */
size_t logtail_read(const char *run_dir, uint32_t jid, uint32_t attempt, unsigned stream,
                    uint64_t log_ref, unsigned max_lines, char *buf, size_t cap);

#endif /* VOLLEY_TOOLS_LOGTAIL_H */

/*
 * log.h - logging for processes without a terminal (workers, supervisor):
 * one line per event, "2026-11-23T08:30:00.123Z pid 1234: text", appended
 * with one write(2) to the file opened by vl_log_open (O_APPEND|O_CLOEXEC).
 * Before vl_log_open, or after vl_log_close, lines go to stderr.
 */
#ifndef VOLLEY_BASE_LOG_H
#define VOLLEY_BASE_LOG_H

#include "base/err.h"

int vl_log_open(const char *path, struct vl_err *err);
void vl_log(const char *fmt, ...) VL_PRINTF(1, 2);
void vl_log_close(void);

#endif /* VOLLEY_BASE_LOG_H */

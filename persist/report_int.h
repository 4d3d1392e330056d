/*
 * report_int.h - inside persist/: what the files of the report share
 * (report.c reads the run, report_time.c bins it over time, report_res.c
 * judges its resource classes).
 */
#ifndef VOLLEY_PERSIST_REPORT_INT_H
#define VOLLEY_PERSIST_REPORT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "persist/report.h"

/* completed, failed, terminated or canceled */
bool report__finished(unsigned state);
/* The interval of job jid on the timeline (report.h, struct report_span):
 * false if it has none (never started, or ready again). */
bool report__span_of(const struct report *r, uint32_t jid, uint64_t *start, uint64_t *end);
/* Fills r->classes (report_res.c). */
int report__classes(struct report *r, struct vl_err *err);

#endif /* VOLLEY_PERSIST_REPORT_INT_H */

/*
 * report_html.h - the formats of `volley report` (docs/report.md): the
 * self-contained HTML page (the template tools/report.html, embedded at
 * build time, with the run's data as one JSON document inline) and the
 * JSON of a resource class, which the page and `--resources --json` share.
 */
#ifndef VOLLEY_TOOLS_REPORT_HTML_H
#define VOLLEY_TOOLS_REPORT_HTML_H

#include <stdbool.h>
#include <stdio.h>

#include "persist/report.h"
#include "json.h"

/* The page's cost knobs: per-job bars up to REPORT_MAX_BARS started jobs,
 * else a binned timeline of this many bins; the series' bins. */
#define REPORT_HTML_TIMELINE_BINS 1000
#define REPORT_HTML_SERIES_BINS 300
#define REPORT_HTML_FAILURES 100 /* failed jobs listed with their output */
#define REPORT_HTML_SLOWEST 10

/* Writes the page of r to f: 0, or a negative code with err set (f not
 * written completely). */
int report_html_write(FILE *f, const struct report *r, struct vl_err *err);

/* One class as a JSON object: the keys of `--resources --json` (name,
 * jobs, memory_bytes, max_rss_bytes_max, max_rss_bytes_p95, num_cpus,
 * cpu_efficiency, verdict, suggested_memory_bytes; null where unknown or
 * not requested), and with full the page's others. */
void report_json_class(struct json *j, const struct report_class *c, bool full);

#endif /* VOLLEY_TOOLS_REPORT_HTML_H */

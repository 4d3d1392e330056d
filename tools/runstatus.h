/*
 * runstatus.h - what `volley run` and `volley resume` show while a run goes
 * (core/run_status.h implemented for a person; docs/running.md): on a
 * terminal (or with --progress) one line redrawn five times a second that
 * fits the terminal's width (percent, done/total, failed, running, jobs/s,
 * elapsed, ETA; "waiting for capacity" only while a job waits for CPUs,
 * memory or GPUs), each job that fails for good announced when it ends,
 * above that line, with its last lines of stderr (the first
 * RUNSTATUS_SHOWN in full, then only counted), the halt of
 * --max-failures, a line when the run stops or a worker dies; and at the
 * end the summary and what to type next. Everything goes to stderr;
 * --quiet keeps only the end.
 */
#ifndef VOLLEY_TOOLS_RUNSTATUS_H
#define VOLLEY_TOOLS_RUNSTATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/run_status.h"

#define RUNSTATUS_SHOWN 10     /* failures announced with their output; the rest counted */
#define RUNSTATUS_TAIL_LINES 5 /* lines of a failed job's stderr (or stdout) shown */

struct runstatus {
    struct run_status st; /* what the supervisor gets: &h->st */
    bool tty;             /* the progress line is drawn */
    bool announce;        /* failures are announced as they end (not --quiet) */
    bool started;         /* the rate has its first window */
    bool line_up;         /* a progress line is on the screen: clear it before printing */
    bool halted;          /* --max-failures reached */
    uint64_t last_done, last_t;
    double rate;        /* jobs/s, smoothed */
    uint64_t announced; /* failures announced with their output */
    uint64_t failures;  /* failures told by the supervisor (with those it skipped) */
    int width;          /* columns, for tests: 0 asks the terminal each redraw */
};

/* progress: -1 a line on a TTY (stderr), 0 --quiet, 1 --progress. */
void runstatus_init(struct runstatus *h, int progress);

#endif /* VOLLEY_TOOLS_RUNSTATUS_H */

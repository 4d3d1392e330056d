/*
 * runstatus.h - what `volley run` and `volley resume` show while a run goes
 * (core/run_status.h implemented for a person): on a terminal (or with
 * --progress) a line redrawn five times a second, done/total, failed,
 * running, jobs/s, ETA; a line when the run stops or a worker dies; and at
 * the end the summary, the last lines of the first failed jobs' output,
 * and what to type next. Everything goes to stderr.
 */
#ifndef VOLLEY_TOOLS_RUNSTATUS_H
#define VOLLEY_TOOLS_RUNSTATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/run_status.h"

struct runstatus {
    struct run_status st; /* what the supervisor gets: &h->st */
    bool tty;             /* the progress line is drawn */
    bool started;         /* the rate has its first window */
    uint64_t last_done, last_t;
    double rate; /* jobs/s, smoothed */
};

/* progress: -1 a line on a TTY (stderr), 0 --quiet, 1 --progress. */
void runstatus_init(struct runstatus *h, int progress);

#endif /* VOLLEY_TOOLS_RUNSTATUS_H */

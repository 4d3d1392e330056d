/*
 * runpick.h - which run a command works on: the run directory given, or,
 * given none, the latest run in ./volley-runs (persist/runs.h), named on
 * stderr so that nobody looks at the wrong run without knowing it.
 */
#ifndef VOLLEY_TOOLS_RUNPICK_H
#define VOLLEY_TOOLS_RUNPICK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * given: the DIR argument, or NULL. Fills out (len bytes; PATH_MAX) with
 * given, or with the latest run's directory after printing "volley CMD:
 * the latest run: DIR (STATE)" on stderr. 0, or the exit code of an error
 * it printed (no run to take: 3).
 */
int runpick_dir(const char *cmd, const char *given, char *out, size_t len);

/* True if arg names a run directory (a directory holding volley.db): for
 * `cancel [DIR] [JOB...]` and `reset [DIR] JOB...`, whose first argument
 * may be either. */
bool runpick_is_run(const char *arg);

#endif /* VOLLEY_TOOLS_RUNPICK_H */

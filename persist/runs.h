/*
 * runs.h - the runs in a folder: `volley runs`, the run every command
 * takes when it is given no run directory (the latest in ./volley-runs),
 * and `volley run WF`'s look for an unfinished run of WF. A reader of run
 * directories, so persist/'s: tools/ prints what it finds.
 *
 * A run's state, from what its directory and /dev/shm hold (no process is
 * asked anything, nothing is written):
 *
 *   live      its runner is alive: the arena says so, or (while a run or a
 *             resume sets up, before the arena exists) the process named
 *             in volley.lock is
 *   finished  every job ended (completed, failed, terminated, canceled)
 *   crashed   jobs are left and the runner died without stopping the run:
 *             its arena is still there, or volley.db has no finish time
 *             (a reboot took the arena)
 *   stopped   jobs are left and the runner stopped the run cleanly
 *             (Ctrl-C, `volley cancel`, a job failure with --halt-on-failure)
 *   unreadable  volley.db cannot be read (err says why)
 *
 * Cost: per run, the status read of volley.db (milliseconds whatever its
 * size) and a header-only attach of its arena if there is one.
 */
#ifndef VOLLEY_PERSIST_RUNS_H
#define VOLLEY_PERSIST_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "persist/rundir.h" /* RUNDIR_RUNS: the default folder */
#include "persist/snap.h"

enum runs_state {
    RUNS_LIVE = 0,
    RUNS_STOPPED = 1,
    RUNS_FINISHED = 2,
    RUNS_CRASHED = 3,
    RUNS_UNREADABLE = 4,
};
/* "live", "stopped", "finished", "crashed", "unreadable" */
const char *runs_state_name(unsigned state);

struct runs_entry {
    char *dir;                     /* absolute path; owned */
    const char *name;              /* its last component (points into dir) */
    enum runs_state state;         /* as above */
    struct snap_info info;         /* volley.db's status read (zeroed if unreadable) */
    uint64_t counts[SNAP_NSTATES]; /* now: the arena's while it is there, else info's */
    uint64_t done;                 /* jobs ended, any outcome */
    uint64_t end_ns;               /* wall clock of the last news: now if live, else the
                                      finish time or the last checkpoint */
    int pid;                       /* live: the runner's pid (0 if not known) */
    struct vl_err err;             /* unreadable: why */
};

/* The state of the run in dir (absolute or relative) into *e (runs_free'd
 * with n = 1, or runs_entry_fini). 0, or VL_ENOTRUN if dir holds no
 * volley.db (e is then unused); a volley.db that cannot be read is an
 * entry in state unreadable. */
int runs_probe(const char *dir, struct runs_entry *e);
void runs_entry_fini(struct runs_entry *e);

/*
 * The runs in folder (each direct subdirectory holding a volley.db),
 * oldest first by start time (unreadable ones by directory name, first).
 * *out (runs_free) gets n entries; a missing folder is 0 runs. 0, or a
 * negative errno with err if the folder cannot be read.
 */
int runs_list(const char *folder, struct runs_entry **out, size_t *n, struct vl_err *err);
void runs_free(struct runs_entry *v, size_t n); /* accepts NULL */

/*
 * The latest run in folder (the readable one started last) into out (len
 * bytes, PATH_MAX is enough): 0, or VL_ENOTRUN with err saying that folder
 * holds no run and how to name one.
 */
int runs_latest(const char *folder, char *out, size_t len, struct vl_err *err);

#endif /* VOLLEY_PERSIST_RUNS_H */

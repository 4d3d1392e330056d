/*
 * watch.h - what the commands that look at a run from outside share
 * (`volley status`, `jobs`, `logs`, `cancel`, `events`; docs/watching.md):
 * opening a run directory, the best source of job records it has, and
 * finding a job by name.
 *
 * Sources, best first: the run's arena in /dev/shm (exact and current;
 * present while the run is live, and after a crash of its runner until
 * `volley resume`), attached read-only and never written; else volley.db,
 * as of its last checkpoint (every --checkpoint-interval, 1 s by default).
 * Both give the same records (snap_job_from_arena), so every command prints
 * the same thing either way.
 *
 * A reader of the run directory, so persist/'s: tools/ prints what it
 * finds.
 */
#ifndef VOLLEY_PERSIST_WATCH_H
#define VOLLEY_PERSIST_WATCH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "persist/snap.h"
#include "shm/arena.h"

struct watch {
    char dir[PATH_MAX];     /* the run directory, absolute */
    char log_dir[PATH_MAX]; /* the current generation's logs: DIR/logs (rundir_log_dir) */
    char arena_path[256];
    struct snap_info info; /* metadata and the last checkpoint's counts */
    bool have_arena;       /* a is attached (read-only) */
    bool live;             /* ... and its runner is alive */
    bool counts_only;      /* attached with ARENA_HDR_ONLY: no job table */
    bool arena_denied;     /* the arena is there but not readable by this user (another
                              user's run): live comes from the lock's holder, the
                              records from volley.db */
    int runner_pid;        /* arena_denied and live: the runner's pid */
    struct arena a;
};

/*
 * Opens run directory dir: VL_ENOTRUN if it is not one (missing, not a
 * directory, no volley.db), VL_ECORRUPT / VL_EVERSION for a damaged or
 * foreign volley.db; err says which. An arena that cannot be attached is
 * not an error: the db is used.
 */
enum { WATCH_COUNTS_ONLY = 1u << 0 }; /* only counts: O(1) attach (ARENA_HDR_ONLY) */
int watch_open(struct watch *w, const char *dir, unsigned flags, struct vl_err *err);
void watch_close(struct watch *w); /* accepts a zeroed one */

/*
 * Finds job name: 0 with *jid and *rec (the job's current record) set, or
 * VL_EUSAGE with err "no job 'x' in run DIR (did you mean 'y'?)". O(njobs).
 */
int watch_find_job(struct watch *w, const char *name, uint32_t *jid, struct snap_job *rec,
                   struct vl_err *err);

/* The current record of jid from the arena (have_arena only). */
void watch_arena_rec(const struct watch *w, uint32_t jid, struct snap_job *rec);

/*
 * Where job jid's logs of earlier generations are (a reloaded run, snap.h
 * struct snap_history): each earlier generation's log folder, newest
 * first, with the jid the job had there; generations it did not exist in
 * are left out. *out (free) gets the places; returns their number (0 for
 * a run never reloaded) or a negative code with err.
 */
struct watch_logplace {
    char dir[PATH_MAX]; /* DIR/logs or DIR/logs/gen-N */
    uint32_t jid;       /* the job's jid in that generation */
    uint32_t gen;
};
int watch_log_past(const struct watch *w, uint32_t jid, struct watch_logplace **out,
                   struct vl_err *err);

/* Checks liveness again (the runner may have ended since watch_open). */
bool watch_live(const struct watch *w);

/*
 * States as the watch commands and the report show them: snap.h's seven,
 * and "interrupted": a job running when its run stopped (Ctrl-C, a halt at
 * --max-failures, a crash of the runner): nothing runs it now, and `volley
 * resume` runs it again. A record says running either way; live tells.
 */
#define WATCH_INTERRUPTED SNAP_NSTATES
#define WATCH_NSTATES (SNAP_NSTATES + 1)
static inline unsigned watch_state(unsigned state, bool live)
{
    return state == SNAP_STATE_RUNNING && !live ? WATCH_INTERRUPTED : state;
}
/* "blocked" ... "canceled", "interrupted"; NULL outside. */
const char *watch_state_name(unsigned state);
/* The state named name (WATCH_INTERRUPTED for "interrupted"), or -1. */
int watch_state_parse(const char *name);

#endif /* VOLLEY_PERSIST_WATCH_H */

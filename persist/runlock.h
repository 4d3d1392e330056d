/*
 * runlock.h - the run directory's lock: flock(LOCK_EX) on DIR/volley.lock,
 * held by the runner for the whole run, so that a second `volley run` or
 * `volley resume` on the same directory refuses instead of writing next to
 * a live runner.
 *
 * flock belongs to the open file description: it is released when the last
 * descriptor sharing it closes, which includes every way a process dies, so
 * a crashed runner never leaves a stale lock. Worker processes forked after
 * the lock was taken share it (the lock then lasts until the last of them
 * exits); exec'd jobs do not, since the descriptor is O_CLOEXEC. The file
 * holds "pid starttime\n" of the holder, read back to name it when another
 * process is refused. The file is never unlinked: unlinking a lock file
 * lets two processes lock two different inodes.
 */
#ifndef VOLLEY_PERSIST_RUNLOCK_H
#define VOLLEY_PERSIST_RUNLOCK_H

#include <stdbool.h>

#include "base/base.h"
#include "persist/rundir.h" /* RUNDIR_LOCK */

struct runlock {
    int fd1; /* the lock file's descriptor + 1; 0 when not held (so {0} is "not held") */
};

/*
 * Takes the lock of run directory dir without waiting. Returns 0 (the
 * caller holds it until runlock_release or exit), VL_ELOCKED with a message
 * naming the holder's pid, or a negative errno (missing or read-only
 * directory: -ENOENT, -EROFS, -EACCES).
 */
int runlock_acquire(struct runlock *l, const char *dir, struct vl_err *err);

/*
 * Who holds (or last held) the lock of dir, without taking it: the pid in
 * DIR/volley.lock into *pid (0 if none is recorded). Returns true if that
 * process is alive (pid and start time match), false otherwise or if the
 * file cannot be read. Needs read access only.
 */
bool runlock_holder(const char *dir, int *pid);

/* Releases (closes the descriptor); accepts a lock never taken. */
void runlock_release(struct runlock *l);

#endif /* VOLLEY_PERSIST_RUNLOCK_H */

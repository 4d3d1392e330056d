/*
 * intr.h - Ctrl-C (SIGINT, SIGTERM, SIGHUP) while `volley run` or `volley
 * resume` sets a run up, before the supervisor blocks these signals
 * (supervisor_run, then supervisor_opts.on_signals_blocked = intr_disarm). Their
 * default action would end volley silently (143 for SIGTERM) and could
 * leave a run directory holding only a half-written volley.db.tmp and the
 * lock, or an arena in /dev/shm. While armed, a handler (async-signal-safe:
 * unlink, rmdir, write, _exit) removes what this invocation made, or keeps
 * a run whose volley.db is in place (removing an arena it linked, as every
 * interrupted run's is), says which in one line, and exits 130 like an
 * interrupted run. As in the runner, SIGTERM is always taken; SIGINT and
 * SIGHUP only when they were not ignored at start (nohup). SIGUSR1 (the
 * allocation ends soon, docs/slurm.md) during the setup is kept and
 * raised again for the supervisor once it blocks it (intr_disarm).
 */
#ifndef VOLLEY_TOOLS_INTR_H
#define VOLLEY_TOOLS_INTR_H

#include <stdbool.h>

enum intr_phase {
    INTR_OFF,      /* not armed: the default actions */
    INTR_LOADING,  /* reading the workflow file: nothing made yet */
    INTR_CREATING, /* making the run directory and volley.db: remove them */
    INTR_KEPT,     /* volley.db is in place: keep the run, say how to resume it */
};

/* Installs the handler, in phase INTR_LOADING. */
void intr_arm(void);
/* `run`: from here on an interrupt removes what is made in dir; made_dir:
 * dir did not exist, so it goes too. */
void intr_creating(const char *dir, bool made_dir);
/* `run`: we hold dir's lock, so volley.db.tmp and its journal are ours;
 * abs_dir is dir's absolute path (for "continue with: volley resume",
 * should volley.db be in place before intr_kept). */
void intr_locked(const char *abs_dir);
/* on: the armed signals wait (blocked) until intr_hold(false), so that a
 * step and the setter that tells the handler of it are one step for it
 * (taking the lock and intr_locked: an interrupt between them left a
 * directory holding only volley.lock). */
void intr_hold(bool on);
/* volley.db of the run in dir is in place. */
void intr_kept(const char *dir);
/* The arena the setup may link at arena_path: removed by an interrupt.
 * Set it only once no older arena of the run can be there. */
void intr_arena(const char *arena_path);
/* The signals back at their default; no-op when not armed. */
void intr_disarm(void);

#endif /* VOLLEY_TOOLS_INTR_H */

/*
 * rundir.h - every name in a run directory, in one place. A run directory
 * (`volley run --run-dir DIR`, default ./volley-runs/<name>-<time>) holds:
 *
 *   volley.db            the snapshot database (snap.h): the expanded
 *                        workflow, the run's metadata and options, every
 *                        job's state record. SQLite adds volley.db-wal and
 *                        volley.db-shm next to it while a run is live.
 *   volley.db.tmp        the initial snapshot while it is written (and its
 *                        -journal); renamed to volley.db when complete
 *   volley.lock          flock'ed by the runner for the whole run (runlock.h)
 *   logs/                every job's stdout, stderr and volley's notes, in
 *                        one segment per worker: seg-NNNN.log and its index
 *                        seg-NNNN.idx (core/logseg.h names those two);
 *                        logs/gen-N/ the same for generation N >= 1, the
 *                        run after its N-th `resume --reload`
 *   joblog.tsv           GNU parallel's --joblog lines (watchlog.h)
 *   events.jsonl         one line per job state change (watchlog.h)
 *   rate.bin             the last samples of jobs finished (watchlog.h)
 *   run-stats.json       what the last runner process cost (runstats.h)
 *
 * and one file outside it, named by the run id: the arena,
 * /dev/shm/volley-<run id in hex> (shm/layout.h), which survives a crash
 * of the runner but not a reboot.
 *
 * Every module that opens one of these names it through this header; the
 * names are part of the on-disk format (docs/persistence.md, watching.md):
 * scripts and `sqlite3 DIR/volley.db` rely on them.
 */
#ifndef VOLLEY_PERSIST_RUNDIR_H
#define VOLLEY_PERSIST_RUNDIR_H

#include <stddef.h>
#include <stdint.h>

/* The folder `volley run` makes run directories in (in the current
 * directory), and where the other commands look for the latest run when
 * given none (runs.h). */
#define RUNDIR_RUNS "volley-runs"

#define RUNDIR_DB "volley.db"
#define RUNDIR_DB_TMP RUNDIR_DB ".tmp"
#define RUNDIR_DB_TMP_JOURNAL RUNDIR_DB_TMP "-journal"
#define RUNDIR_DB_WAL RUNDIR_DB "-wal"
#define RUNDIR_DB_SHM RUNDIR_DB "-shm"
#define RUNDIR_LOCK "volley.lock"
#define RUNDIR_LOGS "logs"
#define RUNDIR_LOGS_GEN "gen-"       /* logs/gen-<N>: generation N's logs (N >= 1) */
#define RUNDIR_ACTION_LOGS "actions" /* in a generation's log directory: the actions' logs */
#define RUNDIR_JOBLOG "joblog.tsv"
#define RUNDIR_EVENTS "events.jsonl"
#define RUNDIR_RATE "rate.bin"
#define RUNDIR_STATS "run-stats.json"

/*
 * out = the log folder of generation gen (snap.h, struct snap_history):
 * "dir/logs" for 0, "dir/logs/gen-<gen>" after the gen-th reload (the
 * attempts of a run's earlier generations stay where they were written).
 * 0 or -ENAMETOOLONG as rundir_path.
 */
int rundir_log_dir(char *out, size_t len, const char *dir, uint32_t gen);

/* The arena of a run: "/dev/shm/volley-" and the 32 hex digits of its id. */
#define RUNDIR_ARENA_PREFIX "/dev/shm/volley-"

/*
 * out = "dir/name". 0, or -ENAMETOOLONG if it does not fit in len bytes
 * (out then holds a truncated, NUL-terminated path: never open it).
 */
int rundir_path(char *out, size_t len, const char *dir, const char *name);

/* out = the arena path of run id run_id (len >= 49 bytes holds it). */
void rundir_arena_path(const uint8_t run_id[16], char *out, size_t len);

#endif /* VOLLEY_PERSIST_RUNDIR_H */

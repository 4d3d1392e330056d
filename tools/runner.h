/*
 * runner.h - the supervisor of a run, shared by `volley run` and `volley
 * resume`: starts the worker processes on a built arena, checkpoints the
 * arena's changes into volley.db, repairs after a worker dies, shows
 * progress, handles Ctrl-C, and ends the run (docs/running.md).
 */
#ifndef VOLLEY_TOOLS_RUNNER_H
#define VOLLEY_TOOLS_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/resources.h"
#include "persist/snap.h"
#include "shm/arena.h"

struct runner_opts {
    uint32_t max_running;             /* -j (0: CPUs) */
    uint32_t workers;                 /* --workers (0: CPUs) */
    struct res_amount cap;            /* capacity (res_detect, overridden by --cpus ...) */
    uint32_t ckpt_ms;                 /* --checkpoint-interval */
    uint32_t kill_grace_ms;           /* --kill-grace */
    int progress;                     /* -1: a line on a TTY; 0: --quiet; 1: --progress */
    void (*on_signals_blocked)(void); /* NULL, or called once runner_go has blocked the
                                         signals that stop a run (run and resume:
                                         intr_disarm, tools/intr.h) */
    const uint8_t *watch_prev;        /* NULL, or (resume) each job's state as
                                         events.jsonl last has it: a job whose state in
                                         the arena differs gets its event at the start */
};

/* Defaults: this machine's capacity, checkpoints every second, 5 s grace. */
void runner_opts_default(struct runner_opts *o);

/* getopt_long entries of the options run and resume share (codes 1000+),
 * and their parser: 1 if c was one of them (applied to o), 0 if not, or
 * VL_EXIT_USAGE after printing the usage error. */
#define RUNNER_LONGOPTS                                                                            \
    {"jobs", required_argument, NULL, 'j'}, {"workers", required_argument, NULL, 1000},            \
        {"cpus", required_argument, NULL, 1001}, {"memory", required_argument, NULL, 1002},        \
        {"gpus", required_argument, NULL, 1003},                                                   \
        {"checkpoint-interval", required_argument, NULL, 1004},                                    \
        {"kill-grace", required_argument, NULL, 1005}, {"quiet", no_argument, NULL, 1006},         \
    {                                                                                              \
        "progress", no_argument, NULL, 1007                                                        \
    }
int runner_parse_opt(const char *cmd, int c, const char *arg, struct runner_opts *o);

/*
 * The options a run keeps (docs/running.md): those of -j, --workers,
 * --cpus, --memory, --gpus, --checkpoint-interval and --kill-grace given on
 * `volley run`'s command line are stored in volley.db as typed (table
 * run_option), and `volley resume` applies them again, except those given
 * on its own command line. Not given: this machine's default, detected
 * again. --quiet and --progress belong to one invocation: not kept.
 */
#define RUNNER_NKEPT 7
struct runner_kept {
    struct snap_opt opt[RUNNER_NKEPT]; /* name: the long option's ("jobs"); value: as typed */
    uint32_t n;                        /* entries in opt, in the order first given */
};
/* Notes option c with arg (runner_parse_opt accepted it) if c is one a run
 * keeps; given again, the later value replaces the earlier. k keeps
 * pointers to arg (argv) and to static names. A value volley.db cannot
 * hold (snap_opt_check: a control character, over 256 bytes) is not kept. */
void runner_kept_note(struct runner_kept *k, int c, const char *arg);
/*
 * Applies the stored options opts[0..n) to o, in the order of
 * RUNNER_LONGOPTS, as runner_parse_opt would, skipping those in given (may
 * be NULL); shown gets the applied ones, "-j 1 --gpus 1" ("" if none). A
 * name volley does not know or a value that does not parse is damage:
 * VL_ECORRUPT naming db_path and the option (o may be partly changed).
 */
int runner_apply_kept(struct runner_opts *o, const struct snap_opt *opts, uint32_t n,
                      const struct runner_kept *given, const char *db_path, char *shown, size_t len,
                      struct vl_err *err);

/*
 * Runs: a is built (or restored) at arena_path, db open on run_dir, s the
 * spec both came from. Takes over db (closes it) and a (closes and
 * unlinks it when the run ended or stopped cleanly). Returns the process
 * exit code (SPEC.md): 0, 1, 3 or 130.
 */
int runner_go(const struct spec *s, struct snap *db, struct arena *a, const char *arena_path,
              const char *run_dir, const char *workdir, const struct runner_opts *o);

/* SIGKILL to the process group of every running job, by the pid the arena
 * got at its clone (orphans_only: only those whose worker is gone; a job
 * outlives its worker). */
void runner_kill_jobs(struct arena *a, bool orphans_only);

/* The hidden `volley __worker FD INDEX` command. */
int cmd_worker(int argc, char **argv);

#endif /* VOLLEY_TOOLS_RUNNER_H */

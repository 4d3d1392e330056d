/*
 * runopts.h - the options `volley run` and `volley resume` share (-j,
 * --workers, --cpus, --memory, --gpus, --checkpoint-interval, --kill-grace,
 * --quiet, --progress, --halt-on-failure, --max-failures, --deadline; the
 * limits: --max-pids, --bind-cpus, --no-limits, --limits-backend;
 * docs/running.md, docs/limits.md): their parsing, which of them a run
 * keeps in volley.db for its resume, the check of the limits against this
 * machine before anything starts, and what a run takes from where it runs
 * (runopts_settle).
 */
#ifndef VOLLEY_TOOLS_RUNOPTS_H
#define VOLLEY_TOOLS_RUNOPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/supervisor.h"
#include "persist/snap.h"

struct runopts {
    struct supervisor_opts sup;                /* what the supervisor gets */
    int progress;                              /* -1: a line on a TTY; 0: --quiet; 1: --progress */
    bool halt_given;                           /* --halt-on-failure (max_failures 1) was given */
    int limits_want;                           /* --limits-backend: CGROUP_AUTO or a cgroup_mode */
    struct cgroup_env limits;                  /* what runopts_limits found (sup.limits) */
    bool cpus_given, memory_given, gpus_given; /* --cpus, --memory, --gpus (also stored) */
    bool deadline_given;                       /* --deadline */
    struct capacity given;                     /* what this process was given (capacity.h) */
    struct snap_alloc alloc;                   /* this allocation, for volley.db */
};

/* Defaults: supervisor_opts_default, a progress line on a TTY. */
void runopts_default(struct runopts *o);

/* getopt_long entries of the options run and resume share (codes 1000+),
 * and their parser: 1 if c was one of them (applied to o), 0 if not, or
 * VL_EXIT_USAGE after printing the usage error. */
#define RUNOPTS_LONGOPTS                                                                           \
    {"jobs", required_argument, NULL, 'j'}, {"workers", required_argument, NULL, 1000},            \
        {"cpus", required_argument, NULL, 1001}, {"memory", required_argument, NULL, 1002},        \
        {"gpus", required_argument, NULL, 1003},                                                   \
        {"checkpoint-interval", required_argument, NULL, 1004},                                    \
        {"kill-grace", required_argument, NULL, 1005}, {"quiet", no_argument, NULL, 1006},         \
        {"progress", no_argument, NULL, 1007}, {"halt-on-failure", no_argument, NULL, 1008},       \
        {"max-failures", required_argument, NULL, 1009},                                           \
        {"max-pids", required_argument, NULL, 1010}, {"bind-cpus", no_argument, NULL, 1011},       \
        {"no-limits", no_argument, NULL, 1012}, {"limits-backend", required_argument, NULL, 1013}, \
    {                                                                                              \
        "deadline", required_argument, NULL, 1014                                                  \
    }
int runopts_parse(const char *cmd, int c, const char *arg, struct runopts *o);

/*
 * Where the run goes on (docs/slurm.md), just before it starts: the batch
 * job it is in (recorded in volley.db as this allocation), the deadline
 * (--deadline, else inside Slurm the job's end: `scontrol`, batch.h), the
 * allocation's GPUs for the jobs (SLURM_JOB_GPUS as CUDA_VISIBLE_DEVICES
 * when that is not set); then one line on stderr of the capacity, each
 * figure with where it came from and -j, one of the deadline if there is
 * one, and one if the run directory dir is on a network filesystem.
 */
void runopts_settle(struct runopts *o, const char *dir);

/*
 * --deadline's value: "+DURATION" from now ("+90m", "+1h30m", "+2d",
 * "+45s", "+600": seconds), a local time today ("HH:MM", "HH:MM:SS"; the
 * next one, so tomorrow if it has passed), a local date and time
 * ("YYYY-MM-DDTHH:MM[:SS]"), or "@EPOCH" seconds. 0 with *wall_ns, or
 * -EINVAL (not one of them) / -ERANGE (in the past) with err.
 */
int runopts_parse_deadline(const char *s, uint64_t now_ns, uint64_t *wall_ns, struct vl_err *err);

/*
 * The options a run keeps (docs/running.md): those of -j, --workers,
 * --cpus, --memory, --gpus, --checkpoint-interval, --kill-grace and the
 * limits' given on `volley run`'s command line are stored in volley.db as
 * typed (table run_option; a flag as "yes"), and `volley resume` applies
 * them again, except those given on its own command line. Not given: this
 * machine's default, detected again. --quiet, --progress, --halt-on-failure,
 * --max-failures and --deadline belong to one invocation (or allocation):
 * not kept.
 */
#define RUNOPTS_NKEPT 11
struct runopts_kept {
    struct snap_opt opt[RUNOPTS_NKEPT]; /* name: the long option's ("jobs"); value: as typed */
    uint32_t n;                         /* entries in opt, in the order first given */
};
/* Notes option c with arg (runopts_parse accepted it) if c is one a run
 * keeps; given again, the later value replaces the earlier. k keeps
 * pointers to arg (argv) and to static names. A value volley.db cannot
 * hold (snap_opt_check: a control character, over 256 bytes) is not kept. */
void runopts_kept_note(struct runopts_kept *k, int c, const char *arg);
/*
 * Applies the stored options opts[0..n) to o, in the order of
 * RUNOPTS_LONGOPTS, as runopts_parse would, skipping those in given (may
 * be NULL); shown gets the applied ones, "-j 1 --gpus 1" ("" if none). A
 * name volley does not know or a value that does not parse is damage:
 * VL_ECORRUPT naming db_path and the option (o may be partly changed).
 */
int runopts_apply_kept(struct runopts *o, const struct snap_opt *opts, uint32_t n,
                       const struct runopts_kept *given, const char *db_path, char *shown,
                       size_t len, struct vl_err *err);

/*
 * Before anything starts: finds the limits backend (cgroup_detect) and
 * checks --bind-cpus against the CPUs this process may use. VL_EXIT_USAGE
 * after printing why (a forced backend that is not here), else 0 with
 * o->sup's governance filled.
 */
int runopts_limits(const char *cmd, struct runopts *o);

#endif /* VOLLEY_TOOLS_RUNOPTS_H */

/*
 * cmd_resume.c - `volley resume DIR [--retry-failed] [--from-snapshot]`:
 * continue a run that stopped (Ctrl-C, `volley cancel`) or crashed.
 *
 * What state it goes on from, and how the old run's processes are ended,
 * is resume's reconciliation (core/resume.h): finished jobs stay finished
 * and never run again, jobs that were running run again (attempt + 1),
 * failed ones stay failed unless --retry-failed.
 *
 * The run goes on with the options `volley run` was given (stored in
 * volley.db, runopts.h), each replaced by one given here, and only after the
 * same check as `volley run`'s that every job fits that capacity: a resume
 * that could never finish is refused before the old run's processes are
 * ended or anything is written. Options given here are stored as the
 * run's, for the next resume, once it goes on.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/resume.h"
#include "persist/rundir.h"
#include "persist/runlock.h"
#include "persist/snap.h"
#include "cli.h"
#include "commands.h"
#include "intr.h"
#include "runopts.h"
#include "runstatus.h"

struct resume_args {
    struct runopts o;
    struct runopts_kept given; /* replace the run's stored ones */
    struct resume_opts r;
    const char *dir;
};

/* The command line: 0, or the exit code of a usage error (printed). */
static int parse(int argc, char **argv, struct resume_args *ra)
{
    static const struct option opts[] = {{"retry-failed", no_argument, NULL, 'r'},
                                         {"from-snapshot", no_argument, NULL, 's'},
                                         RUNOPTS_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    runopts_default(&ra->o);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":j:", opts, NULL)) != -1) {
        if (c == 'r') {
            ra->r.retry_failed = true;
            continue;
        }
        if (c == 's') {
            ra->r.from_snapshot = true;
            continue;
        }
        if (c == ':')
            return cli_usage_error("resume", "option '%s' needs a value", argv[optind - 1]);
        int r = runopts_parse("resume", c, optarg, &ra->o);
        if (r == VL_EXIT_USAGE)
            return r;
        if (r == 0)
            return cli_usage_error("resume", "unknown option '%s'", cli_bad_opt(argv));
        runopts_kept_note(&ra->given, c, optarg);
    }
    if (optind >= argc)
        return cli_usage_error("resume", "missing the run directory");
    if (optind + 1 < argc)
        return cli_usage_error("resume", "unexpected argument '%s'", argv[optind + 1]);
    ra->dir = argv[optind];
    ra->r.kill_grace_ms = ra->o.sup.kill_grace_ms;
    return 0;
}

/* The run's options over this machine's defaults, those given here over
 * both; then `volley run`'s fit check, before anything is ended or
 * written. 0, VL_EXIT_USAGE (printed), or a negative code with err. */
static int options_and_fit(struct resume_args *ra, struct snap *db, const struct spec *s,
                           const struct snap_job *jobs, const struct snap_info *info,
                           struct vl_err *err)
{
    char shown[512];
    int rc = runopts_apply_kept(&ra->o, info->opts, info->nopts, &ra->given, snap_path(db), shown,
                                sizeof shown, err);
    if (rc < 0)
        return rc;
    ra->r.kill_grace_ms = ra->o.sup.kill_grace_ms;
    /* only the jobs left must fit */
    if (resume_check_fit(s, jobs, ra->r.retry_failed, &ra->o.sup.cap, err) < 0) {
        fprintf(stderr,
                "volley resume: %s; nothing started (resume takes --cpus, --memory and --gpus "
                "to change the capacity)\n",
                err->msg);
        return VL_EXIT_USAGE;
    }
    if (shown[0])
        fprintf(stderr, "volley: resuming with the run's options: %s\n", shown);
    return 0;
}

/* From the open snapshot on: reconcile, restore, run. Takes over db. */
static int go_on(struct resume_args *ra, const char *dir, struct snap *db, struct spec *s,
                 struct snap_job *jobs, const struct snap_info *info, struct vl_err *err)
{
    int rc = options_and_fit(ra, db, s, jobs, info, err);
    if (rc != 0) {
        snap_close(db);
        return rc < 0 ? cli_print_err(err) : rc;
    }
    char apath[256];
    rundir_arena_path(info->run_id, apath, sizeof apath);
    struct resume_state rs;
    rc = resume_reconcile(db, s, info, dir, apath, jobs, &ra->r, &cli_warn, &rs, err);
    if (rs.ignored.code)
        fprintf(stderr, "volley resume: ignoring %s: %s\n", apath, rs.ignored.msg);
    if (rc == 0 && !rs.unfinished) {
        fprintf(stderr,
                "volley resume: every job of %s has finished (%" PRIu64
                " not completed%s); nothing to run\n",
                dir, rs.bad, rs.bad ? ": --retry-failed runs them again" : "");
        snap_close(db);
        free(rs.prev);
        return rs.bad ? VL_EXIT_FAIL : VL_EXIT_OK;
    }
    /* What was given here becomes the run's: a later resume without
     * options goes on as this one does. */
    if (rc == 0)
        rc = snap_set_opts(db, ra->given.opt, ra->given.n, err);
    struct arena a = {0};
    if (rc == 0) {
        intr_arena(apath); /* the old one is gone: the one linked now is ours */
        rc = resume_restore(&a, apath, s, info->run_id, jobs, err);
    }
    if (rc < 0) {
        snap_close(db);
        free(rs.prev);
        return cli_print_err(err);
    }
    fprintf(stderr, "volley: resuming %s from %s: %" PRIu64 " of %u jobs to run%s\n", dir,
            rs.source, rs.unfinished, s->njobs, ra->r.retry_failed ? " (failed ones again)" : "");
    ra->o.sup.on_signals_blocked = intr_disarm;
    ra->o.sup.watch_prev = rs.prev;
    struct runstatus shown;
    runstatus_init(&shown, ra->o.progress);
    *err = (struct vl_err){0};
    rc = supervisor_run(s, db, &a, apath, dir, info->cwd ? info->cwd : ".", &ra->o.sup, &shown.st,
                        err);
    if (err->code)
        cli_print_err(err);
    free(rs.prev);
    return rc;
}

static int resume_cmd(int argc, char **argv)
{
    struct resume_args ra = {0};
    int rc = parse(argc, argv, &ra);
    if (rc != 0)
        return rc;
    intr_arm();

    struct vl_err err = {0};
    char dir[PATH_MAX];
    if (!realpath(ra.dir, dir)) {
        vl_err_sys(&err, -errno, "%s is not a run directory", ra.dir);
        return cli_print_err(&err);
    }
    struct runlock lock = {0};
    if (runlock_acquire(&lock, dir, &err) < 0)
        return cli_print_err(&err);
    struct snap *db = NULL;
    struct spec s;
    memset(&s, 0, sizeof s);
    struct snap_job *jobs = NULL;
    struct snap_info info;
    memset(&info, 0, sizeof info);
    if (snap_open(&db, dir, NULL, &s, &jobs, &info, &err) < 0) {
        rc = cli_print_err(&err);
    } else {
        intr_kept(dir);
        rc = go_on(&ra, dir, db, &s, jobs, &info, &err);
    }
    free(jobs);
    snap_info_fini(&info);
    spec_free(&s);
    runlock_release(&lock);
    return rc;
}

int cmd_resume(int argc, char **argv)
{
    int rc = resume_cmd(argc, argv);
    intr_disarm(); /* an error return: the signals at their default again */
    return rc;
}

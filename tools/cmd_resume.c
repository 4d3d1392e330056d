/*
 * cmd_resume.c - `volley resume DIR [--retry-failed] [--from-snapshot]`:
 * continue a run that stopped (Ctrl-C, `volley cancel`) or crashed.
 *
 * The state comes from the best source there is: the run's arena if it
 * survived (the runner died, the node did not reboot: /dev/shm still holds
 * the exact state of every job), else volley.db's last checkpoint. The old
 * run's processes are ended first (its workers stop on their supervisor's
 * death; what is left of its jobs is killed), the surviving state is
 * written into volley.db, and a fresh arena is rebuilt from the records:
 * finished jobs stay finished and never run again, jobs that were running
 * run again (attempt + 1), failed ones stay failed unless --retry-failed.
 *
 * The run goes on with the options `volley run` was given (stored in
 * volley.db, runner.h), each replaced by one given here, and only after the
 * same check as `volley run`'s that every job fits that capacity: a resume
 * that could never finish is refused before the old run's processes are
 * ended or anything is written. Options given here are stored as the
 * run's, for the next resume, once it goes on.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/resources.h"
#include "persist/runlock.h"
#include "persist/snap.h"
#include "persist/snap_arena.h"
#include "cli.h"
#include "commands.h"
#include "intr.h"
#include "runner.h"
#include "persist/watchlog.h"

/* Ends what is left of the old run: its workers (which stop their own jobs
 * when the supervisor dies; give them the grace), then job process groups. */
static void end_old_processes(struct arena *old, uint32_t grace_ms)
{
    uint64_t deadline = vl_now_ns() + (uint64_t)(grace_ms + 2000) * 1000000ull;
    for (;;) {
        bool any = false;
        for (uint32_t w = 0; w < old->nslots; w++)
            if (arena_slot_pid(old, w) > 0 && arena_slot_alive(old, w))
                any = true;
        if (!any)
            break;
        if (vl_now_ns() > deadline) {
            for (uint32_t w = 0; w < old->nslots; w++)
                if (arena_slot_pid(old, w) > 0 && arena_slot_alive(old, w))
                    kill(arena_slot_pid(old, w), SIGKILL);
            vl_sleep_ns(100 * 1000000u);
            break;
        }
        vl_sleep_ns(50 * 1000000u);
    }
    runner_kill_jobs(old, false);
}

static int resume_cmd(int argc, char **argv)
{
    static const struct option opts[] = {{"retry-failed", no_argument, NULL, 'r'},
                                         {"from-snapshot", no_argument, NULL, 's'},
                                         RUNNER_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    struct runner_opts o;
    runner_opts_default(&o);
    struct runner_kept given = {0}; /* replace the run's stored ones */
    bool retry_failed = false, from_snapshot = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":j:", opts, NULL)) != -1) {
        if (c == 'r') {
            retry_failed = true;
            continue;
        }
        if (c == 's') {
            from_snapshot = true;
            continue;
        }
        if (c == ':')
            return cli_usage_error("resume", "option '%s' needs a value", argv[optind - 1]);
        int r = runner_parse_opt("resume", c, optarg, &o);
        if (r == VL_EXIT_USAGE)
            return r;
        if (r == 0)
            return cli_usage_error("resume", "unknown option '%s'", cli_bad_opt(argv));
        runner_kept_note(&given, c, optarg);
    }
    if (optind >= argc)
        return cli_usage_error("resume", "missing the run directory");
    if (optind + 1 < argc)
        return cli_usage_error("resume", "unexpected argument '%s'", argv[optind + 1]);
    intr_arm();

    struct vl_err err = {0};
    char dir[PATH_MAX];
    if (!realpath(argv[optind], dir)) {
        vl_err_sys(&err, -errno, "%s is not a run directory", argv[optind]);
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
    struct arena_job_rec *recs = NULL;
    struct snap_job *diff = NULL;
    uint8_t *prev = NULL; /* each job's state where events.jsonl stopped */
    int rc = snap_open(&db, dir, NULL, &s, &jobs, &info, &err);
    if (rc < 0)
        goto fail;
    intr_kept(dir);

    /* The run's options over this machine's defaults, those given here
     * over both; then `volley run`'s fit check, before anything is ended or
     * written. */
    char shown[512];
    if ((rc = runner_apply_kept(&o, info.opts, info.nopts, &given, snap_path(db), shown,
                                sizeof shown, &err)) < 0)
        goto fail;
    /* only the jobs left must fit (as of the checkpoint: a job finished
     * since is checked too, which errs on the side of refusing) */
    uint8_t *done = vl_xmalloc((size_t)s.njobs + 1);
    for (uint32_t j = 0; j < s.njobs; j++)
        done[j] = jobs[j].state == SNAP_STATE_COMPLETED ||
                  (!retry_failed && jobs[j].state > SNAP_STATE_COMPLETED);
    int fit = res_check_left(&s, done, &o.cap, &err);
    free(done);
    if (fit < 0) {
        fprintf(stderr,
                "volley resume: %s; nothing started (resume takes --cpus, --memory and --gpus "
                "to change the capacity)\n",
                err.msg);
        snap_close(db);
        rc = VL_EXIT_USAGE;
        goto out;
    }
    if (shown[0])
        fprintf(stderr, "volley: resuming with the run's options: %s\n", shown);

    char apath[256];
    rundir_arena_path(info.run_id, apath, sizeof apath);
    char boot[37] = "";
    vl_boot_id(boot);
    const char *source = "volley.db (last checkpoint)";
    prev = vl_xmalloc((size_t)s.njobs + 1);
    for (uint32_t j = 0; j < s.njobs; j++)
        prev[j] = jobs[j].state;
    if (access(apath, F_OK) == 0) {
        struct arena old = {0};
        struct vl_err aerr = {0};
        if (arena_attach(&old, apath, ARENA_RDONLY, &aerr) == 0 && old.njobs == s.njobs) {
            end_old_processes(&old, o.kill_grace_ms);
            if (!from_snapshot && !strcmp(boot, info.boot_id)) {
                /* The arena is newer than any checkpoint: save it first,
                 * and write the watch files' lines its runner did not */
                diff = vl_xmalloc((size_t)s.njobs * sizeof *diff + 1);
                size_t nd = 0;
                for (uint32_t j = 0; j < s.njobs; j++) {
                    struct arena_job_rec r;
                    arena_job_read(&old, j, &r);
                    struct snap_job sj;
                    snap_job_from_arena(j, &r, &sj);
                    if ((r.flags & ARENA_REC_CANCEL_REQ) && sj.state < SNAP_STATE_COMPLETED) {
                        /* `volley cancel` was stopping it: it is canceled,
                         * and end_old_processes killed what ran */
                        if (sj.state == SNAP_STATE_RUNNING) {
                            sj.exit_code = 128 + SIGKILL;
                            sj.end_ns = vl_wall_ns();
                        }
                        sj.state = SNAP_STATE_CANCELED;
                    }
                    if (memcmp(&sj, &jobs[j], sizeof sj)) {
                        jobs[j] = sj;
                        diff[nd++] = sj;
                    }
                }
                if (nd && (rc = snap_write_jobs(db, diff, nd, &err)) < 0) {
                    arena_close(&old);
                    goto fail;
                }
                watchlog_catchup(dir, &old, prev, diff, nd, &cli_warn);
                source = "the surviving arena";
            }
        } else if (aerr.code) {
            fprintf(stderr, "volley resume: ignoring %s: %s\n", apath, aerr.msg);
        }
        arena_close(&old);
        arena_unlink(apath);
    }

    /* --retry-failed: failed, terminated and canceled jobs are open again
     * (the restore makes each ready or blocked from its parents). */
    uint64_t reopened = 0, unfinished = 0, bad = 0;
    for (uint32_t j = 0; j < s.njobs; j++) {
        uint8_t st = jobs[j].state;
        if (retry_failed &&
            (st == SNAP_STATE_FAILED || st == SNAP_STATE_TERMINATED || st == SNAP_STATE_CANCELED)) {
            jobs[j].state = SNAP_STATE_BLOCKED;
            jobs[j].exit_code = 0;
            jobs[j].start_ns = jobs[j].end_ns = 0; /* so the next run is attempt + 1 */
            /* and its failure handler's retries start again */
            jobs[j].lost = (uint16_t)VL_MIN(jobs[j].attempt, 2047u);
            if (!diff)
                diff = vl_xmalloc((size_t)s.njobs * sizeof *diff + 1);
            diff[reopened++] = jobs[j];
            st = SNAP_STATE_BLOCKED;
        }
        if (st < SNAP_STATE_COMPLETED)
            unfinished++;
        else if (st != SNAP_STATE_COMPLETED)
            bad++;
    }
    if (reopened && (rc = snap_write_jobs(db, diff, reopened, &err)) < 0)
        goto fail;
    if (!unfinished) {
        fprintf(stderr,
                "volley resume: every job of %s has finished (%" PRIu64
                " not completed%s); nothing to run\n",
                dir, bad, bad ? ": --retry-failed runs them again" : "");
        snap_close(db);
        rc = bad ? VL_EXIT_FAIL : VL_EXIT_OK;
        goto out;
    }

    /* What was given here becomes the run's: a later resume without
     * options goes on as this one does. */
    if ((rc = snap_set_opts(db, given.opt, given.n, &err)) < 0)
        goto fail;

    recs = vl_alloc_array(s.njobs, sizeof *recs, false, "the job records", &err);
    if (!recs) {
        rc = VL_ETOOBIG;
        goto fail;
    }
    for (uint32_t j = 0; j < s.njobs; j++)
        snap_job_to_arena(&jobs[j], &recs[j]);
    struct arena a = {0};
    struct arena_opts ao = {0};
    memcpy(ao.run_id, info.run_id, sizeof ao.run_id);
    intr_arena(apath); /* the old one is gone: the one linked now is ours */
    if ((rc = arena_restore(&a, apath, &s, &ao, recs, &err)) < 0)
        goto fail;
    free(recs);
    recs = NULL;
    fprintf(stderr, "volley: resuming %s from %s: %" PRIu64 " of %u jobs to run%s\n", dir, source,
            unfinished, s.njobs, retry_failed ? " (failed ones again)" : "");
    o.on_signals_blocked = intr_disarm;
    o.watch_prev = prev;
    rc = runner_go(&s, db, &a, apath, dir, info.cwd ? info.cwd : ".", &o);
out:
    free(jobs);
    free(diff);
    free(prev);
    snap_info_fini(&info);
    spec_free(&s);
    runlock_release(&lock);
    return rc;

fail:
    snap_close(db);
    free(recs);
    free(jobs);
    free(diff);
    free(prev);
    snap_info_fini(&info);
    spec_free(&s);
    runlock_release(&lock);
    return cli_print_err(&err);
}

int cmd_resume(int argc, char **argv)
{
    int rc = resume_cmd(argc, argv);
    intr_disarm(); /* an error return: the signals at their default again */
    return rc;
}

/*
 * cmd_cancel.c - `volley cancel DIR [JOB...]`: stop a live run, or some of
 * its jobs, and keep it resumable.
 *
 * Without JOB: SIGTERM to the run's supervisor (its pid and start time are
 * in the arena header, so a recycled pid is never signaled). The
 * supervisor then does what Ctrl-C does: running jobs get SIGTERM, SIGKILL
 * after --kill-grace, state is saved, it exits 130, and `volley resume DIR`
 * continues (the stopped jobs run again). cancel waits until the
 * supervisor is gone (at most CANCEL_WAIT_S).
 *
 * With JOBs: every name is resolved first (an unknown one cancels
 * nothing: exit 2); then, joined to the arena as a client, arena_cancel
 * marks each job and all its dependents canceled: blocked and ready ones
 * at once; running ones are stopped by their worker (SIGTERM to the
 * process group, SIGKILL after the grace) and finished as canceled. The
 * rest of the run goes on; `volley resume DIR --retry-failed` brings the
 * canceled jobs back once the run has ended.
 *
 * A run that is not live (finished, stopped or crashed) has nothing to
 * cancel: exit 3 with a line saying so (SPEC.md: an environment error, the
 * run directory is not in the state the command needs).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "runpick.h"
#include "persist/watch.h"

#define CANCEL_WAIT_S 120

static int cancel_run(struct watch *w)
{
    int pid = ARENA_IDENT_PID(atomic_load(&w->a.hdr->runner));
    if (pid <= 0 || !arena_runner_alive(&w->a) || kill(pid, SIGTERM) < 0) {
        fprintf(stderr, "volley cancel: run %s is not running (its runner is gone)\n", w->dir);
        return VL_EXIT_ENV;
    }
    fprintf(stderr, "volley cancel: stopping run %s (runner pid %d)\n", w->dir, pid);
    for (int i = 0; i < CANCEL_WAIT_S * 20 && arena_runner_alive(&w->a); i++)
        vl_sleep_ns(50 * 1000000u);
    if (arena_runner_alive(&w->a)) {
        fprintf(stderr, "volley cancel: runner pid %d is still stopping after %d s\n", pid,
                CANCEL_WAIT_S);
        return VL_EXIT_ENV;
    }
    fprintf(stderr, "volley cancel: stopped; continue with: volley resume %s\n", w->dir);
    return 0;
}

static int cancel_jobs(struct watch *w, char **names, int n)
{
    struct vl_err err = {0};
    uint32_t *jids = vl_xcalloc((size_t)n, sizeof *jids);
    int rc = 0, bad = 0;
    for (int i = 0; i < n; i++) { /* every unknown name is named, then nothing is canceled */
        struct snap_job rec;
        struct vl_err e = {0};
        if (watch_find_job(w, names[i], &jids[i], &rec, &e) < 0) {
            int x = cli_print_err(&e);
            if (!bad)
                bad = x;
        }
    }
    if (bad) {
        free(jids);
        return bad;
    }
    struct arena a;
    uint32_t slot = ARENA_NONE;
    if ((rc = arena_attach(&a, w->arena_path, 0, &err)) < 0) {
        free(jids);
        if (rc == -ENOENT) {
            fprintf(stderr, "volley cancel: run %s is not running (it ended)\n", w->dir);
            return VL_EXIT_ENV;
        }
        return cli_print_err(&err);
    }
    if (!arena_runner_alive(&a)) {
        fprintf(stderr, "volley cancel: run %s is not running (its runner is gone)\n", w->dir);
        rc = VL_EXIT_ENV;
        goto out;
    }
    if ((rc = arena_join(&a, ARENA_ROLE_CLIENT, &slot, &err)) < 0) {
        rc = cli_print_err(&err);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        struct arena_cancel_stats st = {0};
        if ((rc = arena_cancel(&a, slot, jids[i], &st, &err)) < 0) {
            rc = cli_print_err(&err);
            goto out;
        }
        printf("%s: %" PRIu64 " jobs canceled now, %" PRIu64 " running ones being stopped\n",
               names[i], st.canceled, st.running);
    }
    rc = 0;
out:
    if (slot != ARENA_NONE)
        arena_leave(&a, slot);
    arena_close(&a);
    free(jids);
    return rc;
}

int cmd_cancel(int argc, char **argv)
{
    static const struct option opts[] = {{NULL, 0, NULL, 0}};
    opterr = 0;
    optind = 1;
    if (getopt_long(argc, argv, "", opts, NULL) != -1)
        return cli_usage_error("cancel", "unknown option '%s'", cli_bad_opt(argv));
    /* `cancel [DIR] [JOB...]`: a first argument that is a run directory is DIR */
    bool has_dir = optind < argc && runpick_is_run(argv[optind]);
    char dir[PATH_MAX];
    int prc = runpick_dir("cancel", has_dir ? argv[optind] : NULL, dir, sizeof dir);
    if (prc != 0)
        return prc;
    if (has_dir)
        optind++;
    struct vl_err err = {0};
    struct watch w;
    if (watch_open(&w, dir, 0, &err) < 0) {
        watch_close(&w);
        return cli_print_err(&err);
    }
    int rc;
    if (w.live && w.arena_denied) {
        fprintf(stderr,
                "volley cancel: run %s is live (runner pid %d), but its arena %s is not this "
                "user's: only the user who started it (or root) can cancel it\n",
                w.dir, w.runner_pid, w.arena_path);
        rc = VL_EXIT_ENV;
    } else if (!w.live) {
        /* finished_ns is set by a stop too (Ctrl-C, cancel): a run is
         * finished when every job is */
        uint64_t left = w.info.counts[SNAP_STATE_BLOCKED] + w.info.counts[SNAP_STATE_READY] +
                        w.info.counts[SNAP_STATE_RUNNING];
        fprintf(stderr, "volley cancel: run %s is not running (%s); nothing to cancel\n", w.dir,
                w.have_arena ? "its runner is gone: volley resume continues it"
                : left       ? "it stopped: volley resume continues it"
                             : "it finished");
        rc = VL_EXIT_ENV;
    } else if (optind == argc) {
        rc = cancel_run(&w);
    } else {
        rc = cancel_jobs(&w, argv + optind, argc - optind);
    }
    watch_close(&w);
    return rc;
}

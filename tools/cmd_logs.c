/*
 * cmd_logs.c - `volley logs DIR JOB [--stderr] [--recovery | --notes]
 * [--attempt N] [--follow]`: exactly the bytes one attempt of one job wrote
 * to its stdout (or stderr), binary-safe, from the run's log segments
 * (core/logread.h); also while the run is live. Default: the job's last
 * attempt. --recovery: what the recovery script run after that attempt
 * wrote; --notes: volley's own lines about the attempt (runtime exceeded,
 * recovery script's exit, a stream cut, a start failure).
 *
 * The job's record (arena when there is one, else volley.db) carries the
 * log reference of its last finished attempt, so the usual case reads the
 * index from that record on instead of scanning every index.
 *
 * A job's stdio mode (issue 21) decides what there is: a stream it does not
 * capture (no_stdout, no_stderr, none; stderr under combined) has nothing,
 * and the command says why instead of printing nothing; so does the last
 * attempt of a completed job with delete_on_success, whose output was
 * deleted. --notes always has what volley noted.
 *
 * `volley logs DIR --action N [--stderr | --notes]`: what action N's
 * commands wrote in its last run, command after command (core/actions.h:
 * the actions' own segment, job id N, one attempt per command).
 *
 * --follow: copies the stream again every 200 ms into a memfd and writes
 * what is new, until the stream's end record appears, or the runner is
 * gone. Before the attempt starts it waits for it (while the run is live).
 * Each poll re-reads the stream from its start: fine for the logs jobs
 * usually write; a job writing hundreds of MiB makes each poll cost that.
 *
 * Exit: 0 (printed, possibly nothing); 1 the job has not run that attempt
 * (and the run is not live, or no --follow); 2 usage, unknown job (with a
 * did-you-mean); 3 not a run directory, damaged logs.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/actions.h"
#include "core/logread.h"
#include "core/worker.h"
#include "cli.h"
#include "commands.h"
#include "runpick.h"
#include "persist/rundir.h"
#include "persist/watch.h"

#define POLL_MS 200

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Copies the stream into memfd fd (truncated first); writes to stdout the
 * bytes past *done. */
static int copy_new(struct watch *w, uint32_t jid, uint32_t attempt, unsigned stream,
                    const struct logread_ref *hint, int fd, uint64_t *done,
                    struct logread_info *info, struct vl_err *err)
{
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return vl_err_sys(err, -errno, "cannot reset the log buffer");
    int rc = logread_copy(w->log_dir, jid, attempt, stream, hint, fd, info, err);
    if (rc < 0)
        return rc;
    off_t len = lseek(fd, 0, SEEK_END);
    if (len < 0)
        return vl_err_sys(err, -errno, "cannot size the log buffer");
    if ((uint64_t)len <= *done)
        return 0;
    size_t n = (size_t)((uint64_t)len - *done);
    char *m = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return vl_err_sys(err, -errno, "cannot map the log buffer");
    rc = write_all(1, m + *done, n);
    munmap(m, (size_t)len);
    if (rc < 0)
        return vl_err_sys(err, rc, "cannot write the log to stdout");
    *done = (uint64_t)len;
    return 0;
}

/*
 * A reloaded run: the attempt in the logs of the generation that ran it
 * (watch_log_past), newest generation first; latest: or else the newest
 * attempt found there. 0 (copied to stdout), -ENOENT, or an error.
 */
static int copy_past(struct watch *w, uint32_t jid, uint32_t attempt, bool latest, unsigned stream,
                     struct vl_err *err)
{
    struct watch_logplace *p = NULL;
    int n = watch_log_past(w, jid, &p, err);
    int rc = n < 0 ? n : -ENOENT;
    struct logread_info info;
    for (int i = 0; i < n && rc == -ENOENT; i++) {
        uint32_t a = attempt, last = 0;
        struct vl_err e2 = {0};
        if (a)
            rc = logread_copy(p[i].dir, p[i].jid, a, stream, NULL, 1, &info, err);
        if (rc == -ENOENT && latest && logread_last_attempt(p[i].dir, p[i].jid, &last, &e2) == 0 &&
            last && last != a)
            rc = logread_copy(p[i].dir, p[i].jid, last, stream, NULL, 1, &info, err);
    }
    free(p);
    return rc;
}

/* A stream the job's stdio mode does not capture, or output deleted on
 * success: says so on stderr and returns VL_EXIT_FAIL; 0 if there is
 * something to read. */
static int not_captured(const char *name, uint8_t flags, unsigned stream,
                        const struct snap_job *rec, uint32_t attempt, const char *dir)
{
    static const char *const modes[] = {"separate", "combined", "no_stdout", "no_stderr", "none"};
    enum spec_stdio m = spec_flags_stdio(flags);
    if (stream == LOG_NOTE)
        return 0;
    bool out = stream == LOG_STDOUT || stream == LOG_RECOVERY_OUT;
    const char *what = stream == LOG_STDOUT   ? "stdout"
                       : stream == LOG_STDERR ? "stderr"
                       : out                  ? "recovery script's stdout"
                                              : "recovery script's stderr";
    if (!out && m == SPEC_STDIO_COMBINED) {
        fprintf(stderr,
                "volley logs: job '%s' runs with stdio combined: its %s is in its stdout "
                "(volley logs %s %s%s)\n",
                name, what, dir, name, stream == LOG_STDERR ? "" : " --recovery");
        return VL_EXIT_FAIL;
    }
    if (m == SPEC_STDIO_NONE || (out && m == SPEC_STDIO_NO_STDOUT) ||
        (!out && m == SPEC_STDIO_NO_STDERR)) {
        fprintf(stderr, "volley logs: job '%s' runs with stdio %s: its %s is not captured\n", name,
                m <= SPEC_STDIO_NONE ? modes[m] : "?", what);
        return VL_EXIT_FAIL;
    }
    if ((flags & SPEC_JOB_DELETE_ON_SUCCESS) && rec->state == SNAP_STATE_COMPLETED &&
        attempt == rec->attempt && (stream == LOG_STDOUT || stream == LOG_STDERR)) {
        fprintf(stderr,
                "volley logs: job '%s' completed and its output was deleted (stdio "
                "delete_on_success); volley logs %s %s --notes has volley's notes\n",
                name, dir, name);
        return VL_EXIT_FAIL;
    }
    return 0;
}

/* The job's flags: the arena's when it is attached, else volley.db's. */
static int job_flags(struct watch *w, uint32_t jid, uint8_t *flags, struct vl_err *err)
{
    if (w->have_arena && !w->counts_only) {
        *flags = w->a.meta[jid].flags;
        return 0;
    }
    return snap_job_flags(w->dir, jid, flags, err);
}

/* `volley logs DIR --action N`: its last run's commands' stream, in order. */
static int action_logs(struct watch *w, uint32_t n, unsigned stream)
{
    struct vl_err err = {0};
    struct snap_action_view *v = NULL;
    uint32_t nv = 0;
    int rc = snap_actions_read(w->dir, &v, &nv, &err);
    if (rc < 0)
        return cli_print_err(&err);
    if (n >= nv) {
        free(v);
        if (!nv)
            fprintf(stderr, "volley logs: run %s has no actions\n", w->dir);
        else
            fprintf(stderr, "volley logs: run %s has actions 0 to %u, not %u\n", w->dir, nv - 1, n);
        return VL_EXIT_USAGE;
    }
    struct snap_action_view a = v[n];
    free(v);
    if (!a.rec.runs) {
        fprintf(stderr, "volley logs: action %u (%s) has not run (%s)\n", n,
                actions_trigger_name(a.trigger), snap_act_state_name(a.rec.state));
        return VL_EXIT_FAIL;
    }
    /* its last run's logs: in the generation that ran it (a reload keeps
       the record of an action it did not change), newest first */
    for (uint32_t g = w->info.gen + 1; g-- > 0;) {
        char logs[PATH_MAX], dir[PATH_MAX];
        if (rundir_log_dir(logs, sizeof logs, w->dir, g) < 0 ||
            rundir_path(dir, sizeof dir, logs, RUNDIR_ACTION_LOGS) < 0) {
            vl_err_set(&err, VL_ENOTRUN, "%s: path too long", w->dir);
            return cli_print_err(&err);
        }
        struct logread_info info;
        uint32_t first = (a.rec.runs - 1) * a.ncmds + 1, last = 0;
        struct vl_err e2 = {0};
        if (access(dir, F_OK) != 0 || logread_last_attempt(dir, n, &last, &e2) != 0 || last < first)
            continue;
        for (uint32_t c = 0; c < a.ncmds; c++) {
            rc = logread_copy(dir, n, first + c, stream, NULL, 1, &info, &err);
            if (rc == -ENOENT)
                break; /* not run: the one before failed (or it runs now) */
            if (rc < 0)
                return cli_print_err(&err);
        }
        return 0;
    }
    return 0;
}

struct logs_opts {
    bool follow, err_stream, recovery, notes, action;
    uint32_t attempt, action_no;
};

/* argv's options into o; 0, or the usage error's exit code. */
static int parse_opts(int argc, char **argv, struct logs_opts *o)
{
    static const struct option opts[] = {{"stderr", no_argument, NULL, 'e'},
                                         {"attempt", required_argument, NULL, 'a'},
                                         {"follow", no_argument, NULL, 'f'},
                                         {"recovery", no_argument, NULL, 'r'},
                                         {"notes", no_argument, NULL, 'n'},
                                         {"action", required_argument, NULL, 'A'},
                                         {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":f", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            o->err_stream = true;
            break;
        case 'r':
            o->recovery = true;
            break;
        case 'n':
            o->notes = true;
            break;
        case 'f':
            o->follow = true;
            break;
        case 'a':
            if (!cli_parse_u32("logs", "--attempt", optarg, 1, UINT32_MAX, &o->attempt))
                return VL_EXIT_USAGE;
            break;
        case 'A':
            if (!cli_parse_u32("logs", "--action", optarg, 0, UINT32_MAX - 1, &o->action_no))
                return VL_EXIT_USAGE;
            o->action = true;
            break;
        case ':':
            return cli_usage_error("logs", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("logs", "unknown option '%s'", cli_bad_opt(argv));
        }
    }
    return 0;
}

/* `volley logs [DIR] --action N`: the last run of action N. */
static int logs_of_action(int argc, char **argv, const struct logs_opts *o)
{
    if (argc - optind > 1)
        return cli_usage_error("logs", "--action N takes no job name ('%s')", argv[optind + 1]);
    if (o->recovery || o->follow || o->attempt)
        return cli_usage_error("logs", "--action shows the last run of an action: not with %s",
                               o->recovery ? "--recovery"
                               : o->follow ? "--follow"
                                           : "--attempt");
    if (o->notes && o->err_stream)
        return cli_usage_error("logs", "--notes is a stream of its own: not with --stderr");
    char adir[PATH_MAX];
    int prc = runpick_dir("logs", argc - optind == 1 ? argv[optind] : NULL, adir, sizeof adir);
    if (prc != 0)
        return prc;
    struct vl_err err = {0};
    struct watch w;
    int rc = watch_open(&w, adir, WATCH_COUNTS_ONLY, &err);
    if (rc == 0)
        rc = action_logs(&w, o->action_no,
                         o->notes        ? LOG_NOTE
                         : o->err_stream ? LOG_STDERR
                                         : LOG_STDOUT);
    else
        rc = cli_print_err(&err);
    watch_close(&w);
    return rc;
}

/* Why job name has no log to show (attempt: the one asked for, or 0);
 * returns the exit code. */
static int say_no_log(const struct watch *w, const char *name, uint32_t want_attempt,
                      const struct snap_job *rec)
{
    if (want_attempt) {
        fprintf(stderr, "volley logs: job '%s' has no attempt %u (it ran %u)\n", name, want_attempt,
                rec->attempt);
    } else if (rec->state >= SNAP_STATE_COMPLETED && rec->start_ns && rec->attempt) {
        /* it ran and ended: its log was written before its end */
        fprintf(stderr,
                "volley logs: job '%s' ran (attempt %u, %s), but %s has no log of it: "
                "the run directory is damaged\n",
                name, rec->attempt, snap_state_name(rec->state), w->log_dir);
        return VL_EXIT_ENV;
    } else if (rec->state >= SNAP_STATE_COMPLETED) {
        fprintf(stderr, "volley logs: job '%s' did not run (%s)\n", name,
                snap_state_name(rec->state));
    } else {
        fprintf(stderr, "volley logs: job '%s' has not started yet (%s)\n", name,
                snap_state_name(rec->state));
    }
    return VL_EXIT_FAIL;
}

int cmd_logs(int argc, char **argv)
{
    struct logs_opts o;
    int prc = parse_opts(argc, argv, &o);
    if (prc != 0)
        return prc;
    if (o.action)
        return logs_of_action(argc, argv, &o);
    bool follow = o.follow, err_stream = o.err_stream, recovery = o.recovery, notes = o.notes;
    uint32_t want_attempt = o.attempt;
    if (argc - optind < 1)
        return cli_usage_error("logs", "missing the job name");
    if (argc - optind > 2)
        return cli_usage_error("logs", "unexpected argument '%s'", argv[optind + 2]);
    if (notes && (err_stream || recovery))
        return cli_usage_error("logs", "--notes is a stream of its own: not with %s",
                               err_stream ? "--stderr" : "--recovery");
    unsigned stream = notes      ? LOG_NOTE
                      : recovery ? (err_stream ? LOG_RECOVERY_ERR : LOG_RECOVERY_OUT)
                                 : (err_stream ? LOG_STDERR : LOG_STDOUT);
    /* `logs JOB`: the latest run's; `logs DIR JOB` */
    const char *name = argv[argc - 1];
    char dir[PATH_MAX];
    prc = runpick_dir("logs", argc - optind == 2 ? argv[optind] : NULL, dir, sizeof dir);
    if (prc != 0)
        return prc;

    struct vl_err err = {0};
    struct watch w;
    int rc = watch_open(&w, dir, 0, &err);
    if (rc < 0) {
        watch_close(&w);
        return cli_print_err(&err);
    }
    uint32_t jid;
    struct snap_job rec;
    if ((rc = watch_find_job(&w, name, &jid, &rec, &err)) < 0) {
        watch_close(&w);
        return cli_print_err(&err);
    }
    uint8_t flags = 0;
    if ((rc = job_flags(&w, jid, &flags, &err)) < 0) {
        watch_close(&w);
        return cli_print_err(&err);
    }
    if ((rc = not_captured(name, flags, stream, &rec, want_attempt ? want_attempt : rec.attempt,
                           w.dir)) != 0) {
        watch_close(&w);
        return rc;
    }
    int fd = -1;
    if (follow && (fd = memfd_create("volley-logs", MFD_CLOEXEC)) < 0) {
        vl_err_sys(&err, -errno, "cannot create a buffer for --follow");
        goto fail;
    }
    uint64_t done = 0;
    for (;;) {
        bool live = watch_live(&w);
        if (w.have_arena)
            watch_arena_rec(&w, jid, &rec);
        uint32_t attempt = want_attempt ? want_attempt : rec.attempt;
        struct logread_info info;
        struct logread_ref hint = {.log_id = worker_log_ref_id(rec.log_ref),
                                   .rec = worker_log_ref_rec(rec.log_ref)};
        const struct logread_ref *h = rec.log_ref != SNAP_NO_LOG ? &hint : NULL;
        rc = -ENOENT;
        if (attempt) {
            if (follow)
                rc = copy_new(&w, jid, attempt, stream, h, fd, &done, &info, &err);
            else
                rc = logread_copy(w.log_dir, jid, attempt, stream, h, 1, &info, &err);
        }
        if (rc == -ENOENT && !want_attempt) {
            /* a record ahead of its logs (a resumed job not yet started
             * again): the newest attempt that has logs */
            uint32_t last = 0;
            struct vl_err e2 = {0};
            if (logread_last_attempt(w.log_dir, jid, &last, &e2) == 0 && last && last != attempt) {
                attempt = last;
                if (follow)
                    rc = copy_new(&w, jid, attempt, stream, NULL, fd, &done, &info, &err);
                else
                    rc = logread_copy(w.log_dir, jid, attempt, stream, NULL, 1, &info, &err);
            }
        }
        if (rc == -ENOENT && !(follow && live))
            rc = copy_past(&w, jid, want_attempt ? want_attempt : attempt, !want_attempt, stream,
                           &err);
        if (rc == -ENOENT) {
            if (follow && live) {
                vl_sleep_ns(POLL_MS * 1000000u);
                continue;
            }
            rc = say_no_log(&w, name, want_attempt, &rec);
            goto out;
        }
        if (rc < 0)
            goto fail;
        if (!follow || info.ended || !live)
            break;
        /* notes have no end record, nor has a recovery script that never
         * ran: those end with the attempt (rec was read before the copy) */
        if ((notes || recovery) && (rec.state >= SNAP_STATE_COMPLETED || rec.attempt > attempt))
            break;
        vl_sleep_ns(POLL_MS * 1000000u);
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    watch_close(&w);
    return rc;
fail:
    if (fd >= 0)
        close(fd);
    watch_close(&w);
    return cli_print_err(&err);
}

/*
 * cmd_events.c - `volley events DIR [--follow]`: the run's job state
 * changes, JSON lines (DIR/events.jsonl, written by the supervisor:
 * persist/watchlog.h), whole lines only. --follow keeps printing new lines
 * while the run is live (polling every 200 ms: tail -f without inotify,
 * which also works on network file systems), and ends once the runner is
 * gone and the file is drained.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "runpick.h"
#include "persist/watch.h"
#include "persist/watchlog.h"

#define POLL_MS 200

int cmd_events(int argc, char **argv)
{
    static const struct option opts[] = {{"follow", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
    bool follow = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
        if (c == 'f')
            follow = true;
        else
            return cli_usage_error("events", "unknown option '%s'", cli_bad_opt(argv));
    }
    if (optind + 1 < argc)
        return cli_usage_error("events", "unexpected argument '%s'", argv[optind + 1]);
    struct vl_err err = {0};
    struct watch w;
    char dir[PATH_MAX];
    int prc = runpick_dir("events", optind < argc ? argv[optind] : NULL, dir, sizeof dir);
    if (prc != 0)
        return prc;
    if (watch_open(&w, dir, WATCH_COUNTS_ONLY, &err) < 0) {
        watch_close(&w);
        return cli_print_err(&err);
    }
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", w.dir, RUNDIR_EVENTS);
    int fd = -1;
    size_t cap = 1 << 16, len = 0;
    char *buf = vl_xmalloc(cap);
    int rc = 0;
    for (;;) {
        bool live = watch_live(&w);
        if (fd < 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno != ENOENT) {
            rc = vl_err_sys(&err, -errno, "cannot read %s", path);
            break;
        }
        ssize_t n = 0;
        while (fd >= 0 && (n = read(fd, buf + len, cap - len)) > 0) {
            len += (size_t)n;
            char *nl = memrchr(buf, '\n', len);
            if (nl) {
                size_t whole = (size_t)(nl - buf) + 1;
                if (fwrite(buf, 1, whole, stdout) != whole) {
                    rc = vl_err_sys(&err, errno ? -errno : -EIO, "cannot write to stdout");
                    goto out;
                }
                memmove(buf, buf + whole, len - whole);
                len -= whole;
            } else if (len == cap) {
                cap *= 2;
                buf = vl_xrealloc(buf, cap);
            }
        }
        if (n < 0) {
            rc = vl_err_sys(&err, -errno, "cannot read %s", path);
            break;
        }
        if ((rc = cli_stdout_check(&err, 0)) < 0) /* a reader gone: stop following */
            break;
        if (!follow || !live)
            break;
        vl_sleep_ns(POLL_MS * 1000000u);
    }
out:
    if (fd < 0 && !rc && !follow)
        fprintf(stderr, "volley events: %s has no events (the run has not started)\n", w.dir);
    if (fd >= 0)
        close(fd);
    free(buf);
    watch_close(&w);
    if (!rc)
        rc = cli_stdout_check(&err, 0);
    return rc < 0 ? cli_print_err(&err) : 0;
}

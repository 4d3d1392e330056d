/*
 * cmd_runs.c - `volley runs [FOLDER] [--json]`: the runs in ./volley-runs
 * (or FOLDER), oldest first: directory, state (live, stopped, finished,
 * crashed; persist/runs.h says how each is told), jobs done of all,
 * failed, start and wall time. The latest, the last line, is the one every
 * command takes when given no run directory.
 *
 * Cost: per run, the status read of its volley.db (milliseconds whatever
 * its size) and a header-only attach of its arena if there is one.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persist/rundir.h"
#include "persist/runs.h"
#include "cli.h"
#include "commands.h"
#include "json.h"

/* "2026-12-06 12:00:01", local time */
static void fmt_start(uint64_t ns, char *buf, size_t len)
{
    time_t t = (time_t)(ns / 1000000000u);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* "1h02m", "3m05s", "12.3s" */
static void fmt_wall(double s, char *buf, size_t len)
{
    uint64_t t = (uint64_t)(s + 0.5);
    if (s < 60)
        snprintf(buf, len, "%.1fs", s);
    else if (t < 3600)
        snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", t / 60, t % 60);
    else
        snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", t / 3600, t / 60 % 60);
}

static double wall_s(const struct runs_entry *e)
{
    return e->end_ns > e->info.created_ns ? (double)(e->end_ns - e->info.created_ns) / 1e9 : 0;
}

static uint64_t failed_of(const struct runs_entry *e)
{
    return e->counts[SNAP_STATE_FAILED] + e->counts[SNAP_STATE_TERMINATED];
}

static int print_json(const struct runs_entry *v, size_t n)
{
    struct json j;
    json_init(&j, stdout, true);
    json_arr_begin(&j);
    for (size_t i = 0; i < n; i++) {
        const struct runs_entry *e = &v[i];
        json_obj_begin(&j);
        json_kv_str(&j, "name", e->name);
        json_kv_str(&j, "dir", e->dir);
        json_kv_str(&j, "state", runs_state_name(e->state));
        if (e->state == RUNS_UNREADABLE) {
            json_kv_str(&j, "error", e->err.msg);
            json_obj_end(&j);
            continue;
        }
        json_kv_str(&j, "workflow", e->info.workflow ? e->info.workflow : "");
        json_kv_str(&j, "workflow_file", e->info.wf.path ? e->info.wf.path : "");
        json_kv_uint(&j, "done", e->done);
        json_kv_uint(&j, "total", e->info.njobs);
        json_kv_uint(&j, "completed", e->counts[SNAP_STATE_COMPLETED]);
        json_kv_uint(&j, "failed", failed_of(e));
        json_kv_uint(&j, "canceled", e->counts[SNAP_STATE_CANCELED]);
        json_kv_double(&j, "started", (double)e->info.created_ns / 1e9);
        json_kv_double(&j, "wall_s", wall_s(e));
        json_kv_uint(&j, "generation", e->info.gen);
        json_key(&j, "pid");
        if (e->state == RUNS_LIVE && e->pid)
            json_int(&j, e->pid);
        else
            json_null(&j);
        json_obj_end(&j);
    }
    json_arr_end(&j);
    return json_finish(&j);
}

static void print_table(const char *folder, const struct runs_entry *v, size_t n)
{
    size_t w = strlen("RUN");
    for (size_t i = 0; i < n; i++)
        w = VL_MAX(w, strlen(folder) + 1 + strlen(v[i].name));
    printf("%-*s  %-10s  %13s  %6s  %-19s  %s\n", (int)w, "RUN", "STATE", "DONE/TOTAL", "FAILED",
           "STARTED", "WALL");
    for (size_t i = 0; i < n; i++) {
        const struct runs_entry *e = &v[i];
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", folder, e->name);
        if (e->state == RUNS_UNREADABLE) {
            printf("%-*s  %-10s  %s\n", (int)w, path, "unreadable", e->err.msg);
            continue;
        }
        char done[48], start[32], wall[32];
        snprintf(done, sizeof done, "%" PRIu64 "/%" PRIu32, e->done, e->info.njobs);
        fmt_start(e->info.created_ns, start, sizeof start);
        fmt_wall(wall_s(e), wall, sizeof wall);
        printf("%-*s  %-10s  %13s  %6" PRIu64 "  %-19s  %s\n", (int)w, path,
               runs_state_name(e->state), done, failed_of(e), start, wall);
    }
}

int cmd_runs(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'J'}, {NULL, 0, NULL, 0}};
    bool as_json;
    const char *folder;
    int urc = cli_json_word("runs", argc, argv, opts, &as_json, &folder);
    if (urc != 0)
        return urc;
    if (!folder)
        folder = RUNDIR_RUNS;
    struct vl_err err = {0};
    struct runs_entry *v = NULL;
    size_t n = 0;
    if (runs_list(folder, &v, &n, &err) < 0)
        return cli_print_err(&err);
    int rc = 0;
    if (as_json)
        rc = print_json(v, n);
    else if (n)
        print_table(folder, v, n);
    else
        fprintf(stderr, "volley runs: no runs in %s (`volley run WF` makes one there)\n", folder);
    runs_free(v, n);
    rc = cli_stdout_check(&err, rc);
    return rc < 0 ? cli_print_err(&err) : VL_EXIT_OK;
}

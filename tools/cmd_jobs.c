/*
 * cmd_jobs.c - `volley jobs DIR [--state S] [--name REGEX] [--json]`: one
 * line per job (name, state, attempt, exit code, start, duration; a job
 * running when its run stopped is "interrupted", watch.h), in job
 * order, streamed: from the arena while it exists (one record read per
 * job), else from volley.db through snap_iter (one chunk of names in
 * memory at a time). Nothing grows with the number of jobs, so 10M jobs
 * print in constant memory.
 *
 * --name is a PCRE2 pattern, JIT-compiled, matched anywhere in the name
 * (anchor it with ^...$). Human output is tab-separated (a header line when
 * stdout is a terminal); --json is one array of objects with the keys
 * name, state, attempt, exit_code, start, duration_s, max_rss_bytes,
 * cpu_user_s, cpu_sys_s (null where a job has no such value yet: not
 * ended, never started). The usage is the recorded attempt's
 * (docs/limits.md): its peak memory and CPU time, in MiB and seconds in
 * the human columns.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "runpick.h"
#include "json.h"
#include "persist/watch.h"

struct filter {
    int state; /* -1: any */
    pcre2_code *re;
    pcre2_match_data *md;
};

static bool keep(const struct filter *f, const struct snap_job *r, const char *name, bool live)
{
    if (f->state >= 0 && (int)watch_state(r->state, live) != f->state)
        return false;
    if (f->re)
        return pcre2_match(f->re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, f->md, NULL) >= 0;
    return true;
}

static void emit(struct json *j, const struct snap_job *r, const char *name, bool live)
{
    const char *state = watch_state_name(watch_state(r->state, live));
    bool ran = r->start_ns != 0;
    bool ended = ran && r->state >= SNAP_STATE_COMPLETED && r->end_ns >= r->start_ns;
    char ts[40] = "-";
    if (ran)
        json_fmt_time(r->start_ns, ts, sizeof ts);
    double dur = ended ? (double)(r->end_ns - r->start_ns) / 1e9 : -1;
    if (j) {
        json_obj_begin(j);
        json_kv_str(j, "name", name);
        json_kv_str(j, "state", state);
        json_kv_uint(j, "attempt", r->attempt);
        json_key(j, "exit_code");
        if (ended)
            json_int(j, r->exit_code);
        else
            json_null(j);
        json_key(j, "start");
        if (ran)
            json_str(j, ts);
        else
            json_null(j);
        /* json.h writes a non-finite double as null: not ended */
        json_kv_double(j, "duration_s", ended ? dur : NAN);
        /* the attempt's usage (docs/limits.md); null where none was recorded */
        bool use = ended && snap_job_has_usage(r);
        json_key(j, "max_rss_bytes");
        if (use)
            json_uint(j, r->max_rss_bytes);
        else
            json_null(j);
        json_kv_double(j, "cpu_user_s", use ? r->cpu_user_s : NAN);
        json_kv_double(j, "cpu_sys_s", use ? r->cpu_sys_s : NAN);
        json_obj_end(j);
        return;
    }
    char code[16] = "-", d[32] = "-", rss[32] = "-", us[32] = "-", sy[32] = "-";
    if (ended) {
        snprintf(code, sizeof code, "%d", r->exit_code);
        snprintf(d, sizeof d, "%.3f", dur);
    }
    if (ended && snap_job_has_usage(r)) {
        snprintf(rss, sizeof rss, "%.1f", (double)r->max_rss_bytes / (1024.0 * 1024.0));
        snprintf(us, sizeof us, "%.3f", r->cpu_user_s);
        snprintf(sy, sizeof sy, "%.3f", r->cpu_sys_s);
    }
    printf("%s\t%s\t%u\t%s\t%s\t%s\t%s\t%s\t%s\n", name, state, r->attempt, code, ts, d, rss, us,
           sy);
}

int cmd_jobs(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'J'},
                                         {"state", required_argument, NULL, 's'},
                                         {"name", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    bool as_json = false;
    const char *state = NULL, *pattern = NULL;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'J')
            as_json = true;
        else if (c == 's')
            state = optarg;
        else if (c == 'n')
            pattern = optarg;
        else if (c == ':')
            return cli_usage_error("jobs", "option '%s' needs a value", argv[optind - 1]);
        else
            return cli_usage_error("jobs", "unknown option '%s'", cli_bad_opt(argv));
    }
    if (optind + 1 < argc)
        return cli_usage_error("jobs", "unexpected argument '%s'", argv[optind + 1]);
    struct filter f = {.state = -1};
    if (state && (f.state = watch_state_parse(state)) < 0)
        return cli_usage_error("jobs",
                               "--state: unknown state '%s' (blocked, ready, running, completed, "
                               "failed, terminated, canceled, interrupted)",
                               state);
    if (pattern) {
        int ecode;
        PCRE2_SIZE eoff;
        f.re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff, NULL);
        if (!f.re) {
            char msg[256];
            pcre2_get_error_message(ecode, (PCRE2_UCHAR *)msg, sizeof msg);
            return cli_usage_error("jobs", "--name: bad regex at offset %zu: %s", (size_t)eoff,
                                   msg);
        }
        pcre2_jit_compile(f.re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
        f.md = pcre2_match_data_create_from_pattern(f.re, NULL);
    }
    struct vl_err err = {0};
    struct watch w;
    char dir[PATH_MAX];
    int rc = runpick_dir("jobs", optind < argc ? argv[optind] : NULL, dir, sizeof dir);
    if (rc != 0)
        return rc;
    rc = watch_open(&w, dir, 0, &err);
    if (rc < 0)
        goto out;
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    struct json j, *jp = NULL;
    if (as_json) {
        json_init(&j, stdout, false);
        json_arr_begin(&j);
        jp = &j;
    } else if (isatty(1)) {
        printf(
            "NAME\tSTATE\tATTEMPT\tEXIT\tSTART\tDURATION_S\tMAX_RSS_MIB\tCPU_USER_S\tCPU_SYS_S\n");
    }
    struct snap_job r;
    if (w.have_arena) {
        for (uint32_t jid = 0; jid < w.a.njobs; jid++) {
            if (f.state >= 0 && (int)watch_state(arena_job_state(&w.a, jid), w.live) != f.state &&
                f.state != SNAP_STATE_READY)
                continue; /* cheap pre-filter: the state word alone (a claimed job not
                             started is ready for the record) */
            watch_arena_rec(&w, jid, &r);
            const char *name = arena_job_name(&w.a, jid);
            if (keep(&f, &r, name, w.live))
                emit(jp, &r, name, w.live);
        }
    } else {
        struct snap_iter *it = NULL;
        if ((rc = snap_iter_open(&it, w.dir, &err)) < 0)
            goto out;
        const char *name;
        while ((rc = snap_iter_next(it, &r, &name, &err)) == 1)
            if (keep(&f, &r, name, false)) /* no arena: nothing runs the run */
                emit(jp, &r, name, false);
        snap_iter_close(it);
        if (rc < 0)
            goto out;
    }
    rc = 0;
    if (jp) {
        json_arr_end(jp);
        rc = json_finish(jp);
    }
    rc = cli_stdout_check(&err, rc);
out:
    watch_close(&w);
    pcre2_match_data_free(f.md);
    pcre2_code_free(f.re);
    return rc < 0 ? cli_print_err(&err) : 0;
}

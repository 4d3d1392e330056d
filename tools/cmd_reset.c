/*
 * cmd_reset.c - `volley reset [DIR] JOB... [--downstream] [--name REGEX]`
 * and `volley reset [DIR] --failed`: jobs of a stopped or finished run back
 * to their initial state, so that `volley resume` runs them again (torc's
 * `jobs reset-status`). What a reset changes is core/resume.h's (reset);
 * here: which jobs, and what is said.
 *
 * The run must not be live (its lock: exit 3 naming the runner). A run
 * that crashed is reconciled first, as a resume would (its arena folded
 * into volley.db, what is left of its processes ended), so the reset
 * applies to its latest state. Names are checked before anything is
 * touched: an unknown one is exit 2 with the closest name.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/resume.h"
#include "persist/rundir.h"
#include "persist/runlock.h"
#include "persist/snap.h"
#include "cli.h"
#include "commands.h"
#include "runpick.h"

#define RESET_SHOWN 20 /* names listed in the summary */

struct reset_args {
    const char *dir; /* NULL: the latest run */
    char **names;    /* the JOB arguments */
    int nnames;
    const char *regex; /* --name */
    bool failed, downstream;
};

static int parse(int argc, char **argv, struct reset_args *ra)
{
    static const struct option opts[] = {{"downstream", no_argument, NULL, 'd'},
                                         {"failed", no_argument, NULL, 'f'},
                                         {"name", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            ra->downstream = true;
            break;
        case 'f':
            ra->failed = true;
            break;
        case 'n':
            ra->regex = optarg;
            break;
        case ':':
            return cli_usage_error("reset", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("reset", "unknown option '%s'", cli_bad_opt(argv));
        }
    }
    /* a first argument that is a run directory is DIR */
    if (optind < argc && runpick_is_run(argv[optind]))
        ra->dir = argv[optind++];
    ra->names = argv + optind;
    ra->nnames = argc - optind;
    if (!ra->nnames && !ra->regex && !ra->failed)
        return cli_usage_error("reset", "which jobs? name them, or give --name REGEX or --failed");
    return 0;
}

/* The job named name: its jid, or SPEC_NONE with *near the closest name
 * (NULL if none is close). O(njobs). */
static uint32_t find(const struct spec *s, const char *name, const char **near)
{
    unsigned best = UINT32_MAX;
    *near = NULL;
    unsigned cap = (unsigned)(strlen(name) / 3) + 1; /* at most a third may differ */
    for (uint32_t j = 0; j < s->njobs; j++) {
        const char *n = spec_job_name(s, j);
        if (!strcmp(n, name))
            return j;
        unsigned limit = VL_MIN(best - 1, cap);
        unsigned d = vl_edit_distance(name, n, limit);
        if (d <= limit && d < best) {
            best = d;
            *near = n;
        }
    }
    return SPEC_NONE;
}

/* sel[] from the names and --name: 0, or the exit code of an error
 * (printed; nothing is changed). */
static int select_named(const struct reset_args *ra, const struct spec *s, const char *dir,
                        uint8_t *sel)
{
    for (int i = 0; i < ra->nnames; i++) {
        const char *near;
        uint32_t j = find(s, ra->names[i], &near);
        if (j != SPEC_NONE) {
            sel[j] = 1;
            continue;
        }
        if (near)
            fprintf(stderr, "volley reset: no job '%s' in run %s (did you mean '%s'?)\n",
                    ra->names[i], dir, near);
        else
            fprintf(stderr, "volley reset: no job '%s' in run %s (volley jobs %s lists them)\n",
                    ra->names[i], dir, dir);
        return VL_EXIT_USAGE;
    }
    if (!ra->regex)
        return 0;
    int ecode;
    PCRE2_SIZE eoff;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)ra->regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ecode, &eoff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        return cli_usage_error("reset", "--name '%s': %s at offset %zu", ra->regex,
                               (const char *)msg, (size_t)eoff);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    uint64_t hits = 0;
    for (uint32_t j = 0; j < s->njobs; j++)
        if (pcre2_match(re, (PCRE2_SPTR)spec_job_name(s, j), PCRE2_ZERO_TERMINATED, 0, 0, md,
                        NULL) >= 0) {
            sel[j] = 1;
            hits++;
        }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (!hits) {
        fprintf(stderr, "volley reset: --name '%s' matches no job of run %s\n", ra->regex, dir);
        return VL_EXIT_USAGE;
    }
    return 0;
}

static int reset_cmd(const struct reset_args *ra, const char *dir, struct vl_err *err)
{
    struct snap *db = NULL;
    struct spec s;
    struct snap_job *jobs = NULL;
    struct snap_info info;
    int rc = snap_open(&db, dir, NULL, &s, &jobs, &info, err);
    if (rc < 0)
        return cli_print_err(err);
    uint8_t *sel = vl_xcalloc((size_t)s.njobs + 1, 1);
    struct snap_job *diff = NULL;
    struct resume_state rs;
    memset(&rs, 0, sizeof rs);
    if ((rc = select_named(ra, &s, dir, sel)) != 0)
        goto out;
    /* a crashed run: its latest state first, its processes ended */
    char apath[256];
    rundir_arena_path(info.run_id, apath, sizeof apath);
    struct resume_opts ro = {.kill_grace_ms = 5000};
    if ((rc = resume_reconcile(db, &s, &info, dir, apath, jobs, &ro, &cli_warn, &rs, err)) < 0) {
        rc = cli_print_err(err);
        goto out;
    }
    if (ra->failed)
        for (uint32_t j = 0; j < s.njobs; j++)
            if (jobs[j].state > SNAP_STATE_COMPLETED)
                sel[j] = 1;
    diff = vl_xmalloc(((size_t)s.njobs + 1) * sizeof *diff);
    size_t n = 0;
    resume_reset(&s, jobs, sel, ra->downstream, diff, &n);
    if (n && (rc = snap_write_jobs(db, diff, n, err)) < 0) {
        rc = cli_print_err(err);
        goto out;
    }
    if (!n) {
        printf("nothing to reset in %s: the jobs chosen have not run (or were reset already)\n",
               dir);
    } else {
        printf("reset %zu job%s of %s:", n, n == 1 ? "" : "s", dir);
        for (size_t i = 0; i < n && i < RESET_SHOWN; i++)
            printf(" %s", spec_job_name(&s, diff[i].jid));
        printf("%s\n`volley resume %s` runs %s\n", n > RESET_SHOWN ? " ..." : "", dir,
               n == 1 ? "it" : "them");
    }
    rc = cli_stdout_check(err, 0) < 0 ? cli_print_err(err) : VL_EXIT_OK;
out:
    free(rs.prev);
    free(diff);
    free(sel);
    free(jobs);
    snap_close(db);
    snap_info_fini(&info);
    spec_free(&s);
    return rc;
}

int cmd_reset(int argc, char **argv)
{
    struct reset_args ra = {0};
    int rc = parse(argc, argv, &ra);
    if (rc != 0)
        return rc;
    char given[PATH_MAX], dir[PATH_MAX];
    if ((rc = runpick_dir("reset", ra.dir, given, sizeof given)) != 0)
        return rc;
    struct vl_err err = {0};
    if (!realpath(given, dir)) {
        vl_err_sys(&err, -errno, "%s is not a run directory", given);
        return cli_print_err(&err);
    }
    struct runlock lock = {0};
    if (runlock_acquire(&lock, dir, &err) < 0)
        return cli_print_err(&err);
    rc = reset_cmd(&ra, dir, &err);
    runlock_release(&lock);
    return rc;
}

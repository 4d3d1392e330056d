/*
 * cmd_run.c - `volley run WF [options]`: load WF, check that it can run
 * here (input files exist, every job fits the capacity), make the run
 * directory, its snapshot (with the options given here that a resume
 * keeps, runopts.h) and the arena, then supervise the run
 * (core/supervisor.h, shown by runstatus.h). Exit codes as SPEC.md
 * section 2.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/resources.h"
#include "loader/load.h"
#include "persist/runlock.h"
#include "persist/snap.h"
#include "cli.h"
#include "commands.h"
#include "diag_print.h"
#include "intr.h"
#include "persist/rundir.h"
#include "persist/runs.h"
#include "runopts.h"
#include "runpick.h"
#include "runstatus.h"

/* Input files (no job writes them) must exist before anything starts. */
static int check_inputs(const struct spec *s)
{
    uint32_t missing = 0;
    for (uint32_t f = 0; f < s->nfiles; f++) {
        const struct spec_file *sf = &s->files[f];
        if ((sf->flags & SPEC_FILE_USER_DATA) || sf->producer != SPEC_NONE ||
            !(sf->flags & SPEC_FILE_INPUT))
            continue;
        const char *path = spec_str(s, sf->path_off);
        struct stat st;
        if (stat(path, &st) == 0)
            continue;
        int e = errno;
        const char *reader = NULL;
        for (uint32_t j = 0; j < s->njobs && !reader; j++)
            for (uint64_t k = s->in_off[j]; k < s->in_off[j + 1]; k++)
                if (s->ins[k] == f) {
                    reader = spec_job_name(s, j);
                    break;
                }
        if (missing++ < 10)
            fprintf(stderr, "volley run: input file '%s' (%s) of job '%s': %s\n", path,
                    spec_str(s, sf->name_off), reader ? reader : "?", strerror(e));
    }
    if (missing > 10)
        fprintf(stderr, "volley run: ... %u missing input files in all\n", missing);
    if (missing)
        fprintf(stderr,
                "volley run: no job started: input files are missing; no job writes them\n");
    return missing ? VL_EXIT_USAGE : 0;
}

static int mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* The unfinished runs of the workflow file at wfabs in the runs folder:
 * the latest into *latest (runs_entry_fini; dir NULL if none), and how
 * many there are. A run that recorded no file (written by an older volley)
 * matches by its source path in its working directory. */
static size_t unfinished_runs(const char *wfabs, struct runs_entry *latest)
{
    memset(latest, 0, sizeof *latest);
    struct runs_entry *v = NULL;
    size_t n = 0, found = 0;
    if (runs_list(RUNDIR_RUNS, &v, &n, NULL) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const struct snap_info *in = &v[i].info;
        if (v[i].state == RUNS_FINISHED || v[i].state == RUNS_UNREADABLE)
            continue;
        char buf[PATH_MAX], abs[PATH_MAX];
        const char *p = in->wf.path;
        if (!p && in->source) {
            if (in->source[0] != '/' && in->cwd)
                snprintf(buf, sizeof buf, "%s/%s", in->cwd, in->source);
            else
                snprintf(buf, sizeof buf, "%s", in->source);
            p = realpath(buf, abs) ? abs : NULL;
        }
        if (!p || strcmp(p, wfabs))
            continue;
        found++;
        runs_entry_fini(latest);
        *latest = v[i];
        memset(&v[i], 0, sizeof v[i]);
    }
    runs_free(v, n);
    return found;
}

/* `run WF --resume`: the options given (those resume takes too) as words
 * for `volley resume`. */
struct passed {
    char *argv[2 * RUNOPTS_NKEPT + 8];
    char words[2 * RUNOPTS_NKEPT + 8][300];
    int argc;
};
static void pass_opt(struct passed *p, int c, const char *arg)
{
    static const struct option all[] = {RUNOPTS_LONGOPTS, {NULL, 0, NULL, 0}};
    if (p->argc + 2 >= (int)VL_ARRAY_LEN(p->argv))
        return;
    for (const struct option *l = all; l->name; l++)
        if (l->val == c) {
            if (l->has_arg)
                snprintf(p->words[p->argc], sizeof p->words[0], "--%s=%s", l->name, arg);
            else
                snprintf(p->words[p->argc], sizeof p->words[0], "--%s", l->name);
            p->argv[p->argc] = p->words[p->argc];
            p->argc++;
        }
}

struct run_args {
    struct runopts o;
    struct runopts_kept kept; /* stored in volley.db for a resume */
    const char *run_dir, *wf;
    bool resume;
    struct passed passed; /* the options again, for `volley resume` */
};

/* argv into r; 0 or the usage error's exit code. */
static int parse_args(int argc, char **argv, struct run_args *r)
{
    static const struct option opts[] = {{"run-dir", required_argument, NULL, 'd'},
                                         {"resume", no_argument, NULL, 'r'},
                                         RUNOPTS_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    runopts_default(&r->o);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":j:", opts, NULL)) != -1) {
        if (c == 'd') {
            r->run_dir = optarg;
            continue;
        }
        if (c == 'r') {
            r->resume = true;
            continue;
        }
        if (c == ':')
            return cli_usage_error("run", "option '%s' needs a value", argv[optind - 1]);
        int rc = runopts_parse("run", c, optarg, &r->o);
        if (rc == VL_EXIT_USAGE)
            return rc;
        if (rc == 0)
            return cli_usage_error("run", "unknown option '%s'", cli_bad_opt(argv));
        runopts_kept_note(&r->kept, c, optarg);
        pass_opt(&r->passed, c, optarg);
    }
    if (optind >= argc)
        return cli_usage_error("run", "missing the workflow file");
    if (optind + 1 < argc)
        return cli_usage_error("run", "unexpected argument '%s'", argv[optind + 1]);
    r->wf = argv[optind];
    return 0;
}

/* An unfinished run of this file: named, or (--resume) continued by
 * `volley resume`, whose exit code goes to *rc (true then). */
static bool resumed_instead(struct run_args *r, int *rc)
{
    const char *wf = r->wf;
    char wfabs[PATH_MAX];
    struct runs_entry old = {0};
    const char *resume_dir = NULL;
    if (r->resume && r->run_dir && runpick_is_run(r->run_dir))
        resume_dir = r->run_dir;
    else if (!r->run_dir && realpath(wf, wfabs) && unfinished_runs(wfabs, &old) && old.dir) {
        char cwd[PATH_MAX];
        const char *shown = old.dir;
        size_t n = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
        if (n && !strncmp(shown, cwd, n) && shown[n] == '/')
            shown += n + 1;
        if (r->resume)
            resume_dir = old.dir;
        else
            fprintf(stderr,
                    "volley run: %s has an unfinished run, %s (%s, %" PRIu64 "/%" PRIu32
                    " done): `volley resume %s` (or `volley run %s --resume`) continues it; "
                    "starting a new run\n",
                    wf, shown, runs_state_name(old.state), old.done, old.info.njobs, shown, wf);
    }
    if (r->resume && !resume_dir)
        fprintf(stderr, "volley run: no unfinished run of %s in %s/: starting a new run\n", wf,
                r->run_dir ? r->run_dir : RUNDIR_RUNS);
    if (!resume_dir) {
        runs_entry_fini(&old);
        return false;
    }
    fprintf(stderr, "volley run: --resume: continuing %s\n", resume_dir);
    char dirw[PATH_MAX], cmdw[] = "resume";
    snprintf(dirw, sizeof dirw, "%s", resume_dir);
    struct passed *p = &r->passed;
    p->argv[0] = cmdw;
    p->argv[1] = dirw;
    p->argv[p->argc] = NULL;
    runs_entry_fini(&old);
    *rc = cmd_resume(p->argc, p->argv);
    return true;
}

/* The workflow, loaded and checked against the node and its inputs; 0
 * or the exit code (s freed then). */
static int load_checked(struct run_args *r, struct spec *s)
{
    struct vl_err err = {0};
    struct spec_diags d;
    memset(&d, 0, sizeof d);
    int rc = spec_load_file(r->wf, s, &d);
    diag_print(stderr, &d);
    spec_diags_free(&d);
    if (rc < 0) {
        spec_free(s);
        return rc == VL_ETOOBIG || rc == -ENOMEM ? VL_EXIT_ENV : VL_EXIT_USAGE;
    }
    if (res_check_spec(s, &r->o.sup.cap, &err) < 0) {
        fprintf(stderr, "volley run: %s; nothing started\n", err.msg);
        spec_free(s);
        return VL_EXIT_USAGE;
    }
    if ((rc = check_inputs(s)) != 0 || (rc = runopts_limits("run", &r->o)) != 0) {
        spec_free(s);
        return rc;
    }
    return 0;
}

/* --run-dir, else volley-runs/NAME-YYYYmmdd-HHMMSS (-2, -3 ... for runs
 * started in the same second). */
static void pick_dir(const char *run_dir, const struct spec *s, char *dir, size_t len)
{
    if (run_dir) {
        snprintf(dir, len, "%s", run_dir);
        return;
    }
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    char name[96];
    snprintf(name, sizeof name, "%s", s->name && *s->name ? s->name : "run");
    for (char *p = name; *p; p++)
        if (*p == '/' || *p == ' ')
            *p = '_';
    snprintf(dir, len, "%s/%s-%s", RUNDIR_RUNS, name, ts);
    struct stat st;
    for (int i = 2; stat(dir, &st) == 0 && i < 1000; i++)
        snprintf(dir, len, "%s/%s-%s-%d", RUNDIR_RUNS, name, ts, i);
}

static int run_cmd(int argc, char **argv)
{
    struct run_args r = {.passed = {.argc = 2}};
    int rc = parse_args(argc, argv, &r);
    if (rc != 0)
        return rc;
    if (resumed_instead(&r, &rc))
        return rc;
    struct runopts *o = &r.o;
    const char *wf = r.wf;

    intr_arm();
    /* what the file is now, read before it is loaded: a later edit is seen
     * as one by `volley resume` (snap.h, struct snap_wffile) */
    struct vl_err err = {0};
    struct snap_wffile wff;
    char wfabs[PATH_MAX];
    bool have_wf = snap_wffile_read(wf, &wff, wfabs, sizeof wfabs, &err) == 0;
    struct spec s;
    if ((rc = load_checked(&r, &s)) != 0)
        return rc;

    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        vl_err_sys(&err, -errno, "cannot get the current directory");
        spec_free(&s);
        return cli_print_err(&err);
    }
    char dir[PATH_MAX];
    pick_dir(r.run_dir, &s, dir, sizeof dir);
    struct stat st;
    bool made_dir = stat(dir, &st) != 0;
    intr_creating(dir, made_dir);
    if ((rc = mkdirs(dir)) < 0) {
        vl_err_sys(&err, rc, "cannot create the run directory %s", dir);
        spec_free(&s);
        return cli_print_err(&err);
    }
    char absdir[PATH_MAX];
    if (!realpath(dir, absdir)) {
        vl_err_sys(&err, -errno, "cannot resolve the run directory %s", dir);
        spec_free(&s);
        return cli_print_err(&err);
    }

    struct runlock lock = {0};
    /* The lock file's creation and intr_locked are one step for the
     * handler: an interrupt between them left a directory holding only
     * volley.lock (run_resume.sh's setup sweep, under load). */
    intr_hold(true);
    if ((rc = runlock_acquire(&lock, absdir, &err)) == 0)
        intr_locked(absdir);
    intr_hold(false);
    if (rc < 0) {
        spec_free(&s);
        return cli_print_err(&err);
    }
    struct snap_meta meta = {.created_ns = vl_wall_ns(),
                             .cwd = cwd,
                             .opts = r.kept.opt,
                             .nopts = r.kept.n,
                             .wf = have_wf ? &wff : NULL};
    if (getrandom(meta.run_id, sizeof meta.run_id, 0) != (ssize_t)sizeof meta.run_id) {
        vl_err_sys(&err, -errno, "cannot get random bytes for the run id");
        goto fail;
    }
    vl_boot_id(meta.boot_id);
    struct snap *db = NULL;
    /* a directory that holds a run: snap_create's message says to resume */
    if ((rc = snap_create(&db, absdir, &s, &meta, NULL, 0, &err)) < 0)
        goto fail;
    char apath[256];
    rundir_arena_path(meta.run_id, apath, sizeof apath);
    intr_kept(absdir);
    intr_arena(apath);
    struct arena a = {0};
    struct arena_opts ao = {.nslots = 0};
    memcpy(ao.run_id, meta.run_id, sizeof ao.run_id);
    if ((rc = arena_build(&a, apath, &s, &ao, &err)) < 0) {
        snap_close(db);
        goto fail;
    }
    fprintf(stderr, "volley: run directory %s (%u jobs)\n", absdir, s.njobs);
    runopts_settle(o, absdir);
    o->sup.on_signals_blocked = intr_disarm;
    struct runstatus shown;
    runstatus_init(&shown, o->progress);
    err = (struct vl_err){0};
    rc = supervisor_run(&s, db, &a, apath, absdir, cwd, &o->sup, &shown.st, &err);
    if (err.code)
        cli_print_err(&err);
    runlock_release(&lock);
    spec_free(&s);
    return rc;

fail:
    runlock_release(&lock);
    spec_free(&s);
    return cli_print_err(&err);
}

int cmd_run(int argc, char **argv)
{
    int rc = run_cmd(argc, argv);
    intr_disarm(); /* an error return: the signals at their default again */
    return rc;
}

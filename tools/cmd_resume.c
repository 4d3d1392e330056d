/*
 * cmd_resume.c - `volley resume [DIR] [--retry-failed] [--from-snapshot]
 * [--reload [--dry-run]]`: continue a run that stopped (Ctrl-C, `volley
 * cancel`), crashed or finished, with its stored workflow or (--reload)
 * with its workflow file as it is now.
 *
 * What state it goes on from, and how the old run's processes are ended,
 * is resume's reconciliation (core/resume.h): finished jobs stay finished
 * and never run again, jobs that were running run again (attempt + 1),
 * failed ones stay failed unless --retry-failed. A reload (core/resume.h,
 * "reload") keeps the state of every job whose definition did not change
 * and runs the changed and new ones and everything downstream of them.
 *
 * The run goes on with the options `volley run` was given (stored in
 * volley.db, runopts.h), each replaced by one given here, and only after the
 * same check as `volley run`'s that every job fits that capacity: a resume
 * that could never finish is refused before the old run's processes are
 * ended or anything is written. Options given here are stored as the
 * run's, for the next resume, once it goes on. A reload whose workflow
 * does not load is refused the same way: its errors, exit 2, the run as
 * it was.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/actions.h"
#include "core/resume.h"
#include "loader/load.h"
#include "core/supervisor.h"
#include "persist/rundir.h"
#include "persist/runlock.h"
#include "persist/snap.h"
#include "cli.h"
#include "commands.h"
#include "diag_print.h"
#include "intr.h"
#include "runopts.h"
#include "runpick.h"
#include "runstatus.h"

/* Jobs a dry run names per reason; the rest are counted. */
#define DRY_RUN_SHOWN 200

struct resume_args {
    struct runopts o;
    struct runopts_kept given; /* replace the run's stored ones */
    struct resume_opts r;
    const char *dir; /* as given, or NULL: the latest run */
    bool reload, dry_run;
};

/* The command line: 0, or the exit code of a usage error (printed). */
static int parse(int argc, char **argv, struct resume_args *ra)
{
    static const struct option opts[] = {{"retry-failed", no_argument, NULL, 'r'},
                                         {"from-snapshot", no_argument, NULL, 's'},
                                         {"reload", no_argument, NULL, 'R'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         RUNOPTS_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    runopts_default(&ra->o);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":j:", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            ra->r.retry_failed = true;
            continue;
        case 's':
            ra->r.from_snapshot = true;
            continue;
        case 'R':
            ra->reload = true;
            continue;
        case 'n':
            ra->dry_run = true;
            continue;
        case ':':
            return cli_usage_error("resume", "option '%s' needs a value", argv[optind - 1]);
        default:
            break;
        }
        int r = runopts_parse("resume", c, optarg, &ra->o);
        if (r == VL_EXIT_USAGE)
            return r;
        if (r == 0)
            return cli_usage_error("resume", "unknown option '%s'", cli_bad_opt(argv));
        runopts_kept_note(&ra->given, c, optarg);
    }
    if (ra->dry_run && !ra->reload)
        return cli_usage_error("resume", "--dry-run shows what --reload would do: give both");
    if (optind + 1 < argc)
        return cli_usage_error("resume", "unexpected argument '%s'", argv[optind + 1]);
    ra->dir = optind < argc ? argv[optind] : NULL;
    ra->r.kill_grace_ms = ra->o.sup.kill_grace_ms;
    return 0;
}

/* The run's options over this machine's defaults, those given here over
 * both; then `volley run`'s fit check of the jobs left in jobs[] (of s),
 * before anything is ended or written. 0, VL_EXIT_USAGE (printed), or a
 * negative code with err. */
static int options_and_fit(struct resume_args *ra, struct snap *db, const struct spec *s,
                           const struct snap_job *jobs, const struct snap_info *info,
                           struct vl_err *err)
{
    char shown[512];
    int rc = runopts_apply_kept(&ra->o, info->opts, info->nopts, &ra->given, snap_path(db), shown,
                                sizeof shown, err);
    if (rc < 0)
        return rc;
    ra->r.kill_grace_ms = supervisor_kill_grace_ms(s, &ra->o.sup);
    /* only the jobs left must fit */
    if (resume_check_fit(s, jobs, ra->r.retry_failed, &ra->o.sup.cap, err) < 0) {
        fprintf(stderr,
                "volley resume: %s; nothing started (resume takes --cpus, --memory and --gpus "
                "to change the capacity)\n",
                err->msg);
        return VL_EXIT_USAGE;
    }
    if ((rc = runopts_limits("resume", &ra->o)) != 0)
        return rc;
    if (shown[0] && !ra->dry_run)
        fprintf(stderr, "volley: resuming with the run's options: %s\n", shown);
    return 0;
}

/* The reconciled run goes on: its arena restored from jobs, the
 * supervisor. Takes over db. unfinished: jobs left to run; prev: each
 * job's state where events.jsonl stopped. */
static int run_on(struct resume_args *ra, const char *dir, struct snap *db, const struct spec *s,
                  const struct snap_job *jobs, const struct snap_info *info, const uint8_t *prev,
                  const char *source, uint64_t unfinished, struct vl_err *err)
{
    char apath[256];
    rundir_arena_path(info->run_id, apath, sizeof apath);
    struct arena a = {0};
    intr_arena(apath); /* the old one is gone: the one linked now is ours */
    int rc = resume_restore(&a, apath, s, info->run_id, jobs, err);
    if (rc < 0) {
        snap_close(db);
        return cli_print_err(err);
    }
    fprintf(stderr, "volley: resuming %s from %s: %" PRIu64 " of %u jobs to run%s\n", dir, source,
            unfinished, s->njobs, ra->r.retry_failed ? " (failed ones again)" : "");
    runopts_settle(&ra->o, dir);
    ra->o.sup.on_signals_blocked = intr_disarm;
    ra->o.sup.watch_prev = prev;
    struct runstatus shown;
    runstatus_init(&shown, ra->o.progress);
    *err = (struct vl_err){0};
    rc = supervisor_run(s, db, &a, apath, dir, info->cwd ? info->cwd : ".", &ra->o.sup, &shown.st,
                        err);
    if (err->code)
        cli_print_err(err);
    return rc;
}

/* Nothing left to run: says so; the exit code. */
static int nothing_left(const char *dir, uint64_t bad)
{
    fprintf(stderr,
            "volley resume: every job of %s has finished (%" PRIu64
            " not completed%s); nothing to run\n",
            dir, bad, bad ? ": --retry-failed runs them again" : "");
    return bad ? VL_EXIT_FAIL : VL_EXIT_OK;
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
    if (rs.cg_found)
        fprintf(stderr,
                "volley resume: removed the stopped run's cgroups (%u director%s), killing %u "
                "process%s still in them\n",
                rs.cg_found, rs.cg_found == 1 ? "y" : "ies", rs.cg_killed,
                rs.cg_killed == 1 ? "" : "es");
    if (rs.cg_err)
        fprintf(stderr, "volley resume: a cgroup of the stopped run could not be removed: %s\n",
                vl_strerror(rs.cg_err));
    /* every job finished: nothing to run, unless an action is left (one
       that was running when the run stopped, on_workflow_complete ...) */
    if (rc == 0 && !rs.unfinished && !actions_due_at_resume(s, snap_actions(db), jobs)) {
        snap_close(db);
        free(rs.prev);
        return nothing_left(dir, rs.bad);
    }
    /* What was given here becomes the run's: a later resume without
     * options goes on as this one does. */
    if (rc == 0)
        rc = snap_set_opts(db, ra->given.opt, ra->given.n, err);
    if (rc < 0) {
        snap_close(db);
        free(rs.prev);
        return cli_print_err(err);
    }
    rc = run_on(ra, dir, db, s, jobs, info, rs.prev, rs.source, rs.unfinished, err);
    free(rs.prev);
    return rc;
}

/* ---- --reload ---- */

/* The workflow file of the run: the one it recorded, else (a run written
 * before volley recorded it) its source path from the run's directory. */
static const char *workflow_path(const struct snap_info *info, char *buf, size_t len)
{
    if (info->wf.path)
        return info->wf.path;
    const char *src = info->source ? info->source : "";
    if (src[0] == '/' || !info->cwd || !info->cwd[0])
        return src;
    snprintf(buf, len, "%s/%s", info->cwd, src);
    return buf;
}

/* The run's stored options with those given here over them: what the new
 * generation's volley.db keeps. out has room for SNAP_MAX_OPTS. */
static uint32_t merged_opts(const struct snap_info *info, const struct runopts_kept *given,
                            struct snap_opt *out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < info->nopts && n < SNAP_MAX_OPTS; i++)
        out[n++] = info->opts[i];
    for (uint32_t g = 0; g < given->n; g++) {
        uint32_t i = 0;
        while (i < n && strcmp(out[i].name, given->opt[g].name))
            i++;
        if (i < n)
            out[i] = given->opt[g];
        else if (n < SNAP_MAX_OPTS)
            out[n++] = given->opt[g];
    }
    return n;
}

/* Why job j runs after the reload, for --dry-run: "" if it does not. */
static const char *why_runs(const struct reload_plan *p, const struct spec *cur,
                            const struct snap_job *rec, uint32_t j, char *buf, size_t len)
{
    unsigned w = p->why[j];
    if (w == RESUME_DOWNSTREAM) {
        snprintf(buf, len, "downstream of %s", spec_job_name(cur, p->cause[j]));
        return buf;
    }
    if (w != SPECDIFF_SAME)
        return specdiff_what_name(w);
    if (rec->state < SNAP_STATE_COMPLETED)
        return rec->attempt ? "not finished" : "not run yet";
    return "";
}

/* --dry-run: what would run and why, on stdout; nothing is written. */
static int print_plan(const char *dir, const char *wfpath, const struct reload_plan *p,
                      const struct spec *old, const struct spec *cur, const struct snap_job *jobs,
                      const struct resume_state *rs)
{
    uint64_t runs = 0, kept_done = 0, kept_bad = 0;
    char buf[300];
    for (uint32_t j = 0; j < cur->njobs; j++) {
        if (why_runs(p, cur, &jobs[j], j, buf, sizeof buf)[0])
            runs++;
        else if (jobs[j].state == SNAP_STATE_COMPLETED)
            kept_done++;
        else
            kept_bad++;
    }
    printf("reload of %s into run %s (dry run: nothing is changed)\n", wfpath, dir);
    printf("would run %" PRIu64 " of %u jobs:\n", runs, cur->njobs);
    uint64_t shown[RESUME_NWHY + 2] = {0}, hidden = 0;
    for (uint32_t j = 0; j < cur->njobs; j++) {
        const char *why = why_runs(p, cur, &jobs[j], j, buf, sizeof buf);
        if (!why[0])
            continue;
        unsigned k = p->why[j] != SPECDIFF_SAME ? p->why[j] : RESUME_NWHY;
        if (shown[k]++ < DRY_RUN_SHOWN)
            printf("  %s\t%s\n", spec_job_name(cur, j), why);
        else
            hidden++;
    }
    if (hidden)
        printf("  ... and %" PRIu64 " more (at most %d shown per reason)\n", hidden, DRY_RUN_SHOWN);
    if (p->nremoved) {
        printf("would drop %u job%s no longer in the workflow (their logs stay):", p->nremoved,
               p->nremoved == 1 ? "" : "s");
        for (uint32_t i = 0; i < p->nremoved && i < DRY_RUN_SHOWN; i++)
            printf(" %s", spec_job_name(old, p->removed[i]));
        printf(p->nremoved > DRY_RUN_SHOWN ? " ...\n" : "\n");
    }
    if (kept_bad)
        printf("would keep %" PRIu64 " finished job%s as they are: %" PRIu64 " completed, %" PRIu64
               " failed, terminated or canceled (--retry-failed runs those again)\n",
               kept_done + kept_bad, kept_done + kept_bad == 1 ? "" : "s", kept_done, kept_bad);
    else
        printf("would keep %" PRIu64 " completed job%s as they are\n", kept_done,
               kept_done == 1 ? "" : "s");
    if (rs->source && strcmp(rs->source, "volley.db (last checkpoint)"))
        printf("(states from %s)\n", rs->source);
    return cli_stdout_check(&(struct vl_err){0}, 0) < 0 ? VL_EXIT_ENV : VL_EXIT_OK;
}

/* A reload whose workflow defines the same jobs as the stored one: the file
 * record is brought up to date, and the run goes on as a plain resume. */
static int reload_same(struct resume_args *ra, const char *dir, struct snap *db, struct spec *s,
                       struct snap_job *jobs, const struct snap_info *info,
                       const struct snap_wffile *wf, struct vl_err *err)
{
    if (ra->dry_run) {
        printf("reload of %s into run %s (dry run: nothing is changed)\n", wf->path, dir);
        printf("its jobs are the run's: nothing to reload (the resume goes on as it would)\n");
        snap_close(db);
        return VL_EXIT_OK;
    }
    fprintf(stderr, "volley resume: %s defines the same jobs as the run: nothing to reload\n",
            wf->path);
    if (snap_set_wffile(db, wf, err) < 0) {
        snap_close(db);
        return cli_print_err(err);
    }
    return go_on(ra, dir, db, s, jobs, info, err);
}

/* --reload, from the open snapshot (db, old, jobs, info) on. Takes over
 * db. */
static int reload(struct resume_args *ra, const char *dir, struct snap *db, struct spec *old,
                  struct snap_job *jobs, const struct snap_info *info, struct vl_err *err)
{
    char buf[PATH_MAX], abs[PATH_MAX];
    const char *wfpath = workflow_path(info, buf, sizeof buf);
    struct snap_wffile wf;
    if (snap_wffile_read(wfpath, &wf, abs, sizeof abs, err) < 0) {
        snap_close(db);
        fprintf(stderr, "volley resume: %s; the run is as it was\n", err->msg);
        return VL_EXIT_USAGE;
    }
    struct spec cur;
    struct spec_diags d;
    memset(&d, 0, sizeof d);
    int rc = spec_load_file(wf.path, &cur, &d);
    diag_print(stderr, &d);
    spec_diags_free(&d);
    if (rc < 0) {
        fprintf(stderr,
                "volley resume: %s does not load; nothing reloaded, the run is as it "
                "was\n",
                wf.path);
        spec_free(&cur);
        snap_close(db);
        return rc == VL_ETOOBIG || rc == -ENOMEM ? VL_EXIT_ENV : VL_EXIT_USAGE;
    }
    if (snap_spec_hash(&cur) == info->spec_hash) {
        spec_free(&cur);
        return reload_same(ra, dir, db, old, jobs, info, &wf, err);
    }
    struct reload_plan p;
    struct snap_job *recs = NULL;
    struct snap_action *acts = NULL; /* the old run's action records */
    uint8_t *prev = NULL;
    struct snap_history hist;
    memset(&hist, 0, sizeof hist);
    struct resume_state rs;
    memset(&rs, 0, sizeof rs);
    char apath[256];
    rundir_arena_path(info->run_id, apath, sizeof apath);
    if ((rc = resume_reload_plan(old, &cur, &p, err)) < 0)
        goto fail;
    if (ra->dry_run) {
        resume_peek(old, info, apath, jobs, &ra->r, &rs);
        if ((rc = resume_reload_records(&p, &cur, jobs, NULL, &recs, NULL, err)) < 0)
            goto fail;
        rc = print_plan(dir, wf.path, &p, old, &cur, recs, &rs);
        goto out;
    }
    /* the fit of what would run, as of the checkpoint, before anything is
     * ended or written */
    if ((rc = resume_reload_records(&p, &cur, jobs, NULL, &recs, NULL, err)) < 0)
        goto fail;
    if ((rc = options_and_fit(ra, db, &cur, recs, info, err)) != 0) {
        if (rc > 0)
            goto out;
        goto fail;
    }
    free(recs);
    recs = NULL;
    if ((rc = snap_history_load(db, &hist, err)) < 0)
        goto fail;
    rc = resume_reconcile(db, old, info, dir, apath, jobs, &ra->r, &cli_warn, &rs, err);
    if (rs.ignored.code)
        fprintf(stderr, "volley resume: ignoring %s: %s\n", apath, rs.ignored.msg);
    if (rc < 0)
        goto fail;
    if ((rc = resume_reload_records(&p, &cur, jobs, rs.prev, &recs, &prev, err)) < 0)
        goto fail;
    struct snap_opt opts[SNAP_MAX_OPTS];
    uint32_t nopts = merged_opts(info, &ra->given, opts);
    /* the actions' records: those the edit leaves as they were carry over */
    if (old->nactions && snap_actions(db)) {
        acts = vl_xcalloc(old->nactions, sizeof *acts);
        memcpy(acts, snap_actions(db), old->nactions * sizeof *acts);
    }
    rc = resume_reload_commit(&db, dir, &cur, info, opts, nopts, &wf, &p, &hist, recs, err);
    if (rc < 0) {
        fprintf(stderr, "volley resume: the reload could not be written; the run is as it was "
                        "(its workflow is the stored one)\n");
        goto fail;
    }
    if (cur.nactions) {
        struct snap_action *keep = vl_xcalloc(cur.nactions, sizeof *keep);
        uint32_t nkeep = actions_carry(old, acts, &cur, recs, keep);
        rc = snap_write_actions(db, keep, nkeep, err);
        free(keep);
        if (rc < 0)
            goto fail;
    }
    fprintf(stderr,
            "volley resume: reloaded %s: %" PRIu64 " changed, %" PRIu64 " new, %" PRIu64
            " downstream of them, %u removed\n",
            wf.path,
            (uint64_t)cur.njobs - p.count[SPECDIFF_SAME] - p.count[SPECDIFF_NEW] -
                p.count[RESUME_DOWNSTREAM],
            p.count[SPECDIFF_NEW], p.count[RESUME_DOWNSTREAM], p.nremoved);
    uint64_t left = 0, bad = 0;
    for (uint32_t j = 0; j < cur.njobs; j++) {
        left += recs[j].state < SNAP_STATE_COMPLETED;
        bad += recs[j].state > SNAP_STATE_COMPLETED;
    }
    /* the new run's info: its id, cwd and start as the old one's */
    if (!left) {
        snap_close(db);
        rc = nothing_left(dir, bad);
        goto out;
    }
    rc = run_on(ra, dir, db, &cur, recs, info, prev, rs.source, left, err);
    db = NULL;
    goto out;
fail:
    rc = rc > 0 ? rc : cli_print_err(err);
out:
    snap_close(db);
    snap_history_fini(&hist);
    resume_reload_plan_fini(&p);
    free(recs);
    free(acts);
    free(prev);
    free(rs.prev);
    spec_free(&cur);
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
    char given[PATH_MAX], dir[PATH_MAX];
    if ((rc = runpick_dir("resume", ra.dir, given, sizeof given)) != 0)
        return rc;
    if (!realpath(given, dir)) {
        vl_err_sys(&err, -errno, "%s is not a run directory", given);
        return cli_print_err(&err);
    }
    struct runlock lock = {0};
    if (!ra.dry_run && runlock_acquire(&lock, dir, &err) < 0)
        return cli_print_err(&err);
    struct snap *db = NULL;
    struct spec s;
    memset(&s, 0, sizeof s);
    struct snap_job *jobs = NULL;
    struct snap_info info;
    memset(&info, 0, sizeof info);
    if (snap_open(&db, dir, NULL, &s, &jobs, &info, &err) < 0) {
        rc = cli_print_err(&err);
    } else if (ra.reload) {
        intr_kept(dir);
        rc = reload(&ra, dir, db, &s, jobs, &info, &err);
    } else {
        intr_kept(dir);
        if (snap_wffile_check(&info.wf, NULL, NULL, 0) == SNAP_WF_CHANGED)
            fprintf(stderr,
                    "volley resume: %s changed since this run stored it; it goes on with the "
                    "stored workflow (`volley resume %s --reload` applies the file, "
                    "`--reload --dry-run` shows what would run)\n",
                    info.wf.path, dir);
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

/*
 * resume.c - resume's reconciliation (resume.h; docs/running.md).
 *
 * Cost: one pass over the jobs for the fold (an arena_job_read and a
 * 40-byte compare each), one for retry_failed, one for the restore's
 * records; volley.db gets only the records that changed, in one
 * transaction per pass. Waiting for the old run's workers is bounded by
 * their grace plus 2 s, then they are killed.
 */
#include "core/resume.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cgroup.h"
#include "core/supervisor.h"
#include "persist/snap_arena.h"
#include "persist/watchlog.h"

int resume_check_fit(const struct spec *s, const struct snap_job *jobs, bool retry_failed,
                     const struct res_amount *cap, struct vl_err *err)
{
    uint8_t *done = vl_xmalloc((size_t)s->njobs + 1);
    for (uint32_t j = 0; j < s->njobs; j++)
        done[j] = jobs[j].state == SNAP_STATE_COMPLETED ||
                  (!retry_failed && jobs[j].state > SNAP_STATE_COMPLETED);
    int rc = res_check_left(s, done, cap, err);
    free(done);
    return rc;
}

/* Ends what is left of the old run: its workers (which stop their own jobs
 * when the supervisor dies; give them the grace), then job process groups. */
static void end_old_processes(const struct arena *old, uint32_t grace_ms)
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
    supervisor_kill_jobs(old, false);
}

/* The arena's record of job j as volley.db gets it: `volley cancel` was
 * stopping an unfinished job: it is canceled (end_old_processes killed
 * what ran). */
static void arena_record(const struct arena *old, uint32_t j, struct snap_job *sj)
{
    struct arena_job_rec r;
    arena_job_read(old, j, &r);
    snap_job_from_arena(j, &r, sj);
    if ((r.flags & ARENA_REC_CANCEL_REQ) && sj->state < SNAP_STATE_COMPLETED) {
        if (sj->state == SNAP_STATE_RUNNING) {
            sj->exit_code = 128 + SIGKILL;
            sj->end_ns = vl_wall_ns();
        }
        sj->state = SNAP_STATE_CANCELED;
    }
}

/* The arena is newer than any checkpoint: its records that differ go into
 * jobs and volley.db, and the watch files get the lines its runner did not
 * write. diff: room for njobs records. */
static int fold_arena(struct snap *db, const struct arena *old, const char *dir, uint8_t *prev,
                      struct snap_job *jobs, struct snap_job *diff, const struct vl_warn *warn,
                      struct vl_err *err)
{
    size_t nd = 0;
    for (uint32_t j = 0; j < old->njobs; j++) {
        struct snap_job sj;
        arena_record(old, j, &sj);
        if (memcmp(&sj, &jobs[j], sizeof sj)) {
            jobs[j] = sj;
            diff[nd++] = sj;
        }
    }
    int rc = nd ? snap_write_jobs(db, diff, nd, err) : 0;
    if (rc == 0)
        watchlog_catchup(dir, old, prev, diff, nd, warn);
    return rc;
}

/* A surviving arena at arena_path: its processes ended, its state folded
 * in when it is this boot's and wanted, then removed. */
static int take_arena(struct snap *db, const struct spec *s, const struct snap_info *info,
                      const char *dir, const char *arena_path, struct snap_job *jobs,
                      struct snap_job *diff, const struct resume_opts *o,
                      const struct vl_warn *warn, struct resume_state *out, struct vl_err *err)
{
    struct arena old = {0};
    char boot[37] = "";
    vl_boot_id(boot);
    if (arena_attach(&old, arena_path, ARENA_RDONLY, &out->ignored) == 0 && old.njobs == s->njobs) {
        end_old_processes(&old, o->kill_grace_ms);
        if (!o->from_snapshot && !strcmp(boot, info->boot_id)) {
            int rc = fold_arena(db, &old, dir, out->prev, jobs, diff, warn, err);
            if (rc < 0) {
                arena_close(&old); /* kept: it holds what volley.db could not take */
                return rc;
            }
            out->source = "the surviving arena";
        }
    }
    arena_close(&old);
    arena_unlink(arena_path);
    return 0;
}

/* retry_failed: failed, terminated and canceled jobs are open again (the
 * restore makes each ready or blocked from its parents); counts what is
 * left. Reopened records go into diff[0..reopened). */
static void reopen_and_count(struct snap_job *jobs, uint32_t njobs, bool retry_failed,
                             struct snap_job *diff, struct resume_state *out)
{
    for (uint32_t j = 0; j < njobs; j++) {
        uint8_t st = jobs[j].state;
        if (retry_failed &&
            (st == SNAP_STATE_FAILED || st == SNAP_STATE_TERMINATED || st == SNAP_STATE_CANCELED)) {
            jobs[j].state = SNAP_STATE_BLOCKED;
            jobs[j].exit_code = 0;
            jobs[j].start_ns = jobs[j].end_ns = 0; /* so the next run is attempt + 1 */
            /* and its failure handler's retries start again */
            jobs[j].lost = (uint16_t)VL_MIN(jobs[j].attempt, 2047u);
            diff[out->reopened++] = jobs[j];
            st = SNAP_STATE_BLOCKED;
        }
        if (st < SNAP_STATE_COMPLETED)
            out->unfinished++;
        else if (st != SNAP_STATE_COMPLETED)
            out->bad++;
    }
}

/*
 * retry_failed opened jobs again (diff[0..n)): as torc's reinitialize does,
 * the actions whose trigger will happen again run again: on_workflow_complete
 * (the workflow will complete again), and an on_jobs_* action one of whose
 * jobs was opened. on_workflow_start never (this is no new start), nor an
 * action whose jobs all stay finished.
 */
static int rearm_actions(struct snap *db, const struct spec *s, const struct snap_job *diff,
                         size_t n, struct vl_err *err)
{
    const struct snap_action *recs = snap_actions(db);
    if (!n || !recs)
        return 0;
    uint8_t *open = vl_xcalloc((size_t)s->njobs + 1, 1);
    for (size_t i = 0; i < n; i++)
        open[diff[i].jid] = 1;
    struct snap_action *re = vl_xcalloc(s->nactions, sizeof *re);
    size_t nre = 0;
    for (uint32_t i = 0; i < s->nactions; i++) {
        const struct spec_action *sa = &s->actions[i];
        if (recs[i].state != SNAP_ACT_COMPLETED && recs[i].state != SNAP_ACT_FAILED)
            continue;
        bool again = sa->trigger == SPEC_ON_WORKFLOW_COMPLETE;
        for (uint32_t k = 0; k < sa->njobs && !again; k++)
            again = open[s->act_jobs[sa->job_first + k]];
        if (!again)
            continue;
        re[nre] = recs[i];
        re[nre++].state = SNAP_ACT_PENDING; /* runs keeps counting: its logs stay apart */
    }
    int rc = nre ? snap_write_actions(db, re, nre, err) : 0;
    free(re);
    free(open);
    return rc;
}

int resume_reconcile(struct snap *db, const struct spec *s, const struct snap_info *info,
                     const char *dir, const char *arena_path, struct snap_job *jobs,
                     const struct resume_opts *o, const struct vl_warn *warn,
                     struct resume_state *out, struct vl_err *err)
{
    memset(out, 0, sizeof *out);
    out->source = "volley.db (last checkpoint)";
    out->prev = vl_xmalloc((size_t)s->njobs + 1);
    for (uint32_t j = 0; j < s->njobs; j++)
        out->prev[j] = jobs[j].state;
    struct snap_job *diff = vl_xmalloc((size_t)s->njobs * sizeof *diff + 1);
    int rc = 0;
    if (access(arena_path, F_OK) == 0)
        rc = take_arena(db, s, info, dir, arena_path, jobs, diff, o, warn, out, err);
    /* after the old workers are gone: what their jobs left in the run's
     * groups, and the groups themselves */
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", info->run_id[i]);
    out->cg_err = cgroup_sweep(hex, &out->cg_found, &out->cg_killed);
    if (rc == 0) {
        reopen_and_count(jobs, s->njobs, o->retry_failed, diff, out);
        if (out->reopened)
            rc = snap_write_jobs(db, diff, out->reopened, err);
        if (rc == 0)
            rc = rearm_actions(db, s, diff, out->reopened, err);
    }
    free(diff);
    return rc;
}

void resume_peek(const struct spec *s, const struct snap_info *info, const char *arena_path,
                 struct snap_job *jobs, const struct resume_opts *o, struct resume_state *out)
{
    memset(out, 0, sizeof *out);
    out->source = "volley.db (last checkpoint)";
    struct arena old = {0};
    char boot[37] = "";
    vl_boot_id(boot);
    if (!o->from_snapshot && !strcmp(boot, info->boot_id) && access(arena_path, F_OK) == 0 &&
        arena_attach(&old, arena_path, ARENA_RDONLY, &out->ignored) == 0) {
        if (old.njobs == s->njobs) {
            for (uint32_t j = 0; j < old.njobs; j++)
                arena_record(&old, j, &jobs[j]);
            out->source = "the surviving arena";
        }
        arena_close(&old);
    }
    struct snap_job *diff = vl_xmalloc((size_t)s->njobs * sizeof *diff + 1);
    reopen_and_count(jobs, s->njobs, o->retry_failed, diff, out);
    free(diff);
}

int resume_restore(struct arena *a, const char *arena_path, const struct spec *s,
                   const uint8_t run_id[16], const struct snap_job *jobs, struct vl_err *err)
{
    struct arena_job_rec *recs =
        vl_alloc_array(s->njobs, sizeof *recs, false, "the job records", err);
    if (!recs)
        return VL_ETOOBIG;
    for (uint32_t j = 0; j < s->njobs; j++)
        snap_job_to_arena(&jobs[j], &recs[j]);
    struct arena_opts ao = {0};
    memcpy(ao.run_id, run_id, sizeof ao.run_id);
    int rc = arena_restore(a, arena_path, s, &ao, recs, err);
    free(recs);
    return rc;
}

/*
 * watch.c - opening a run from outside, and finding its jobs (watch.h).
 *
 * Finding a job by name is a linear scan (the arena's names, or volley.db's
 * streamed chunks): ~10 ms per 1M jobs from the arena, and it runs once per
 * command. The did-you-mean is computed during the same scan, with an edit
 * distance that gives up past the best one found so far, so the miss path
 * costs about what the hit path does.
 */
#include "persist/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "persist/rundir.h"
#include "persist/runlock.h"
#include "persist/snap_arena.h"

int watch_open(struct watch *w, const char *dir, unsigned flags, struct vl_err *err)
{
    memset(w, 0, sizeof *w);
    w->a.fd = -1;
    struct stat st;
    if (!realpath(dir, w->dir) || stat(w->dir, &st) != 0)
        return vl_err_set(err, VL_ENOTRUN, "%s is not a run directory (%s)", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return vl_err_set(err, VL_ENOTRUN, "%s is not a run directory (not a directory)", dir);
    int rc = snap_info_read(w->dir, &w->info, err);
    if (rc < 0) {
        memset(&w->info, 0, sizeof w->info);
        return rc;
    }
    if (rundir_log_dir(w->log_dir, sizeof w->log_dir, w->dir, w->info.gen) < 0)
        return vl_err_set(err, VL_ENOTRUN, "%s: path too long", dir);
    rundir_arena_path(w->info.run_id, w->arena_path, sizeof w->arena_path);
    struct vl_err aerr = {0};
    if (access(w->arena_path, F_OK) == 0 &&
        arena_attach(&w->a, w->arena_path,
                     ARENA_RDONLY | (flags & WATCH_COUNTS_ONLY ? ARENA_HDR_ONLY : 0), &aerr) == 0) {
        w->counts_only = flags & WATCH_COUNTS_ONLY;
        if (w->a.njobs == w->info.njobs) {
            w->have_arena = true;
            w->live = arena_runner_alive(&w->a);
        } else {
            arena_close(&w->a);
        }
    } else if (access(w->arena_path, F_OK) == 0 && access(w->arena_path, R_OK) != 0) {
        /* another user's run: its arena (mode 0600) is not ours to read,
         * but its runner may be alive all the same */
        w->arena_denied = true;
        w->live = runlock_holder(w->dir, &w->runner_pid);
    }
    return 0;
}

void watch_close(struct watch *w)
{
    if (w->have_arena)
        arena_close(&w->a);
    w->have_arena = false;
    snap_info_fini(&w->info);
}

bool watch_live(const struct watch *w)
{
    int pid;
    if (w->arena_denied)
        return runlock_holder(w->dir, &pid);
    return w->have_arena && arena_runner_alive(&w->a);
}

void watch_arena_rec(const struct watch *w, uint32_t jid, struct snap_job *rec)
{
    snap_job_read(&w->a, jid, rec);
}

const char *watch_state_name(unsigned state)
{
    return state == WATCH_INTERRUPTED ? "interrupted" : snap_state_name(state);
}

int watch_state_parse(const char *name)
{
    return name && !strcmp(name, "interrupted") ? WATCH_INTERRUPTED : snap_state_parse(name);
}

struct guess {
    char name[256];
    unsigned dist;
};

static void consider(struct guess *g, const char *want, const char *name)
{
    /* at most a third of the name may differ, and at least one edit */
    unsigned limit = g->dist - 1;
    unsigned cap = (unsigned)(strlen(want) / 3) + 1;
    if (limit > cap)
        limit = cap;
    unsigned d = vl_edit_distance(want, name, limit);
    if (d <= limit && d < g->dist) {
        g->dist = d;
        snprintf(g->name, sizeof g->name, "%s", name);
    }
}

int watch_find_job(struct watch *w, const char *name, uint32_t *jid, struct snap_job *rec,
                   struct vl_err *err)
{
    struct guess g = {.dist = UINT32_MAX};
    if (w->have_arena) {
        for (uint32_t j = 0; j < w->a.njobs; j++) {
            const char *n = arena_job_name(&w->a, j);
            if (!strcmp(n, name)) {
                *jid = j;
                watch_arena_rec(w, j, rec);
                return 0;
            }
            consider(&g, name, n);
        }
    } else {
        struct snap_iter *it = NULL;
        int rc = snap_iter_open(&it, w->dir, err);
        if (rc < 0)
            return rc;
        const char *n;
        while ((rc = snap_iter_next(it, rec, &n, err)) == 1) {
            if (!strcmp(n, name)) {
                *jid = rec->jid;
                snap_iter_close(it);
                return 0;
            }
            consider(&g, name, n);
        }
        snap_iter_close(it);
        if (rc < 0)
            return rc;
    }
    if (g.dist != UINT32_MAX)
        return vl_err_set(err, VL_EUSAGE, "no job '%s' in run %s (did you mean '%s'?)", name,
                          w->dir, g.name);
    return vl_err_set(err, VL_EUSAGE, "no job '%s' in run %s (volley jobs %s lists them)", name,
                      w->dir, w->dir);
}

int watch_log_past(const struct watch *w, uint32_t jid, struct watch_logplace **out,
                   struct vl_err *err)
{
    *out = NULL;
    if (!w->info.gen)
        return 0;
    uint32_t *jids = vl_xmalloc((size_t)w->info.gen * sizeof *jids), n = 0;
    int rc = snap_job_past(w->dir, jid, jids, w->info.gen, &n, err);
    if (rc < 0) {
        free(jids);
        return rc;
    }
    struct watch_logplace *p = vl_xcalloc(n ? n : 1, sizeof *p);
    int k = 0;
    for (uint32_t g = n; g-- > 0;) {
        if (jids[g] == SNAP_NO_JID || rundir_log_dir(p[k].dir, sizeof p[k].dir, w->dir, g) < 0)
            continue;
        p[k].jid = jids[g];
        p[k].gen = g;
        k++;
    }
    free(jids);
    *out = p;
    return k;
}

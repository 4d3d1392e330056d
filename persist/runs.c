/*
 * runs.c - the runs in a folder and their states (runs.h).
 */
#include "persist/runs.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/rundir.h"
#include "persist/runlock.h"
#include "shm/arena.h"

static const char *const state_names[] = {"live", "stopped", "finished", "crashed", "unreadable"};

const char *runs_state_name(unsigned state)
{
    return state < VL_ARRAY_LEN(state_names) ? state_names[state] : "?";
}

void runs_entry_fini(struct runs_entry *e)
{
    free(e->dir);
    snap_info_fini(&e->info);
    memset(e, 0, sizeof *e);
}

void runs_free(struct runs_entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        runs_entry_fini(&v[i]);
    free(v);
}

int runs_probe(const char *dir, struct runs_entry *e)
{
    memset(e, 0, sizeof *e);
    char abs[PATH_MAX], db[PATH_MAX];
    struct stat sb;
    if (!realpath(dir, abs) || rundir_path(db, sizeof db, abs, RUNDIR_DB) < 0 || stat(db, &sb) != 0)
        return VL_ENOTRUN;
    e->dir = vl_xstrdup(abs);
    const char *slash = strrchr(e->dir, '/');
    e->name = slash && slash[1] ? slash + 1 : e->dir;
    if (snap_info_read(e->dir, &e->info, &e->err) < 0) {
        e->state = RUNS_UNREADABLE;
        return 0;
    }
    memcpy(e->counts, e->info.counts, sizeof e->counts);
    uint64_t now = vl_wall_ns();
    e->end_ns = e->info.finished_ns ? e->info.finished_ns : e->info.checkpoint_ns;
    bool arena = false, live = false;
    char apath[256];
    rundir_arena_path(e->info.run_id, apath, sizeof apath);
    struct arena a = {0};
    if (access(apath, F_OK) == 0 &&
        arena_attach(&a, apath, ARENA_RDONLY | ARENA_HDR_ONLY, NULL) == 0) {
        if (a.njobs == e->info.njobs) {
            arena = true;
            live = arena_runner_alive(&a);
            uint64_t ac[ARENA_NSTATES];
            arena_counts(&a, ac);
            for (int s = 0; s < SNAP_NSTATES; s++)
                e->counts[s] = ac[s]; /* same numbering (snap_job_from_arena) */
        }
        arena_close(&a);
    }
    int pid = 0;
    if (runlock_holder(e->dir, &pid) || live) {
        live = true;
        e->pid = pid;
    }
    e->done = e->counts[SNAP_STATE_COMPLETED] + e->counts[SNAP_STATE_FAILED] +
              e->counts[SNAP_STATE_TERMINATED] + e->counts[SNAP_STATE_CANCELED];
    if (live) {
        e->state = RUNS_LIVE;
        e->end_ns = now;
    } else if (e->done == e->info.njobs) {
        e->state = RUNS_FINISHED;
    } else if (arena || !e->info.finished_ns) {
        e->state = RUNS_CRASHED;
    } else {
        e->state = RUNS_STOPPED;
    }
    return 0;
}

static int by_start(const void *pa, const void *pb)
{
    const struct runs_entry *a = pa, *b = pb;
    bool ua = a->state == RUNS_UNREADABLE, ub = b->state == RUNS_UNREADABLE;
    if (ua != ub)
        return ua ? -1 : 1;
    if (!ua && a->info.created_ns != b->info.created_ns)
        return a->info.created_ns < b->info.created_ns ? -1 : 1;
    return strcmp(a->name, b->name);
}

int runs_list(const char *folder, struct runs_entry **out, size_t *n, struct vl_err *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(folder);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return vl_err_sys(err, -errno, "cannot read the runs folder %s", folder);
    }
    size_t cap = 0;
    struct runs_entry *v = NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        if (rundir_path(path, sizeof path, folder, de->d_name) < 0)
            continue;
        struct runs_entry e;
        if (runs_probe(path, &e) < 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            v = vl_xrealloc(v, cap * sizeof *v);
        }
        v[(*n)++] = e;
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof *v, by_start);
    *out = v;
    return 0;
}

int runs_latest(const char *folder, char *out, size_t len, struct vl_err *err)
{
    struct runs_entry *v;
    size_t n;
    int rc = runs_list(folder, &v, &n, err);
    if (rc < 0)
        return rc;
    rc = VL_ENOTRUN;
    for (size_t i = n; i-- > 0;)
        if (v[i].state != RUNS_UNREADABLE) {
            if (strlen(v[i].dir) >= len) {
                rc = vl_err_set(err, -ENAMETOOLONG, "the path of %s is too long", v[i].dir);
                break;
            }
            strcpy(out, v[i].dir);
            rc = 0;
            break;
        }
    runs_free(v, n);
    if (rc == VL_ENOTRUN) {
        char abs[PATH_MAX];
        vl_err_set(err, VL_ENOTRUN,
                   "no run directory given, and %s holds no run to take instead: name one "
                   "(`volley runs FOLDER` lists the runs of another folder)",
                   realpath(folder, abs) ? abs : folder);
    }
    return rc;
}

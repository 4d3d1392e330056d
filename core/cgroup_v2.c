/*
 * cgroup_v2.c - a v2 hierarchy (cgroup.h): in cgroup2 mode everything
 * (memory.max with memory.swap.max 0 for "swap included", pids.max,
 * memory.peak, memory.events' oom_kill), and in both modes the tracking:
 * the job is cloned into its slot (CLONE_INTO_CGROUP: no migration, no
 * write by the child), cgroup.procs says whether it left anything,
 * cgroup.kill ends it, cgroup.events' "populated 0" says it is gone (the
 * engine polls it: POLLPRI when it changes), and cpu.stat's usage_usec,
 * user_usec and system_usec count the CPU time, which v2 keeps in every
 * group even without the cpu controller.
 *
 * What only a delegated v2 host exercises (the development machines'
 * v2 mount has no memory or pids controller; docs/limits.md): the
 * controllers' files, memory.peak's per-descriptor reset (Linux 6.12; on
 * an older kernel the peak cannot be reset and the rusage peak is used),
 * and the "no internal processes" rule: a delegated scope holds volley
 * itself, and a group with processes cannot enable controllers for its
 * children, so volley moves itself into <run>/runner first, and back when
 * the run ends.
 */
#include "core/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cgroup_int.h"
#include "core/spawn.h"

/* True if the space-separated list has word. */
static bool has_token(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p; p += strcspn(p, " \n"), p += strspn(p, " \n"))
        if (!strncmp(p, word, n) && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

uint32_t cgroup_v2__controllers(const char *dir)
{
    char buf[512];
    if (cgroup__get_path(dir, "cgroup.controllers", buf, sizeof buf) < 0)
        return 0;
    return (has_token(buf, "memory") ? CGROUP_CAN_MEMORY : 0) |
           (has_token(buf, "pids") ? CGROUP_CAN_PIDS : 0);
}

/* "+memory +pids" (or "-") for the controllers in can. */
static void ctl_list(char *out, size_t len, uint32_t can, char sign)
{
    snprintf(out, len, "%s%s%s",
             can & CGROUP_CAN_MEMORY ? (sign == '+' ? "+memory" : "-memory") : "",
             (can & CGROUP_CAN_MEMORY) && (can & CGROUP_CAN_PIDS) ? " " : "",
             can & CGROUP_CAN_PIDS ? (sign == '+' ? "+pids" : "-pids") : "");
}

/* What of can dir's subtree_control lacks. */
static uint32_t missing(const char *dir, uint32_t can)
{
    char buf[512] = "";
    (void)cgroup__get_path(dir, "cgroup.subtree_control", buf, sizeof buf);
    uint32_t m = 0;
    if ((can & CGROUP_CAN_MEMORY) && !has_token(buf, "memory"))
        m |= CGROUP_CAN_MEMORY;
    if ((can & CGROUP_CAN_PIDS) && !has_token(buf, "pids"))
        m |= CGROUP_CAN_PIDS;
    return m;
}

int cgroup_v2__enable(const char *base, const char *run_dir, uint32_t can, struct vl_err *err)
{
    can &= CGROUP_CAN_MEMORY | CGROUP_CAN_PIDS;
    char list[64];
    uint32_t m = missing(base, can);
    if (m) {
        ctl_list(list, sizeof list, m, '+');
        int rc = cgroup__put_path(base, "cgroup.subtree_control", list);
        if (rc == -EBUSY) {
            /* base holds processes (volley itself, in a delegated scope):
             * into a leaf of our own first */
            char leaf[CGROUP_PATH + 16];
            snprintf(leaf, sizeof leaf, "%s/runner", run_dir);
            if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
                return vl_err_sys(err, -errno, "cannot create the cgroup %s", leaf);
            rc = cgroup__put_path(leaf, "cgroup.procs", "0");
            if (rc == 0)
                rc = cgroup__put_path(base, "cgroup.subtree_control", list);
            if (rc < 0)
                return vl_err_sys(err, rc,
                                  "cannot enable %s for the groups under %s (it holds processes "
                                  "other than volley's: start volley in a scope of its own, "
                                  "systemd-run --user --scope -p Delegate=yes volley run ...)",
                                  list, base);
        } else if (rc < 0) {
            return vl_err_sys(err, rc, "cannot enable %s in %s/cgroup.subtree_control", list, base);
        }
    }
    ctl_list(list, sizeof list, can, '+');
    int rc = cgroup__put_path(run_dir, "cgroup.subtree_control", list);
    if (rc < 0)
        return vl_err_sys(err, rc, "cannot enable %s in %s/cgroup.subtree_control", list, run_dir);
    return 0;
}

void cgroup_v2__disable(const char *base, const char *run_dir)
{
    char leaf[CGROUP_PATH + 16];
    snprintf(leaf, sizeof leaf, "%s/runner", run_dir);
    struct stat st;
    if (stat(leaf, &st) != 0)
        return; /* we did not move: nothing to undo but what goes with the run dir */
    char list[64];
    ctl_list(list, sizeof list, CGROUP_CAN_MEMORY | CGROUP_CAN_PIDS, '-');
    (void)cgroup__put_path(run_dir, "cgroup.subtree_control", list);
    (void)cgroup__put_path(base, "cgroup.subtree_control", list);
    /* back where we started, so that the run dir can go (fails, and the
     * leaf stays, if another run under base still uses the controllers) */
    char self[32];
    snprintf(self, sizeof self, "%d", (int)getpid());
    if (cgroup__put_path(base, "cgroup.procs", self) == 0)
        rmdir(leaf);
}

int cgroup_v2__probe_into(int dir_fd)
{
    int st;
    int rc = spawn_probe_into(dir_fd, &st);
    return rc < 0 ? rc : st == 0 ? 0 : -ECHILD;
}

bool cgroup_v2__killfile_ok(const char *run_dir)
{
    char d[CGROUP_PATH + 32];
    snprintf(d, sizeof d, "%s/killprobe", run_dir);
    if (mkdir(d, 0755) < 0)
        return false;
    bool ok = false;
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int st = -1;
    if (fd >= 0 && cgroup__put_path(d, "cgroup.kill", "1") == 0 && spawn_probe_into(fd, &st) == 0)
        ok = st == 0; /* the bug: st is SIGKILL */
    if (fd >= 0)
        close(fd);
    rmdir(d);
    return ok;
}

/* Waits (bounded) for "frozen 1" in cgroup.events. */
static void wait_frozen_v2(int events_fd)
{
    char buf[256];
    for (int i = 0; i < 2000; i++) {
        if (cgroup__get(events_fd, buf, sizeof buf) <= 0 || cgroup__key(buf, "frozen") == 1 ||
            cgroup__key(buf, "populated") == 0)
            return;
        usleep(100);
    }
}

uint32_t cgroup_v2__freeze_kill(struct cgroup_slot *s)
{
    if (cgroup__put(s->v2_freeze_fd, "1") == 0)
        wait_frozen_v2(s->events_fd);
    char buf[16384];
    ssize_t n = cgroup__get(s->track_fd, buf, sizeof buf);
    uint32_t c = cgroup__kill_pids(buf, n);
    (void)cgroup__put(s->v2_freeze_fd, "0"); /* a frozen task dies once thawed, or at once */
    return c;
}

uint32_t cgroup_v2__freeze_kill_path(const char *dir)
{
    int fz = cgroup__open(dir, "cgroup.freeze", O_WRONLY);
    int ev = cgroup__open(dir, "cgroup.events", O_RDONLY);
    if (fz >= 0 && ev >= 0 && cgroup__put(fz, "1") == 0)
        wait_frozen_v2(ev);
    char buf[16384];
    ssize_t n = cgroup__get_path(dir, "cgroup.procs", buf, sizeof buf);
    uint32_t c = cgroup__kill_pids(buf, n);
    if (fz >= 0) {
        (void)cgroup__put(fz, "0");
        close(fz);
    }
    if (ev >= 0)
        close(ev);
    return c;
}

/* An optional file: its fd or -1. */
static int maybe(const char *d, const char *file, int flags)
{
    int fd = cgroup__open(d, file, flags);
    return fd < 0 ? -1 : fd;
}

int cgroup_v2__open(struct cgroup_slot *s, const char *d, struct vl_err *err)
{
    s->dir_fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dir_fd >= 0 && s->dir_fd < 3) { /* spawn.h: 0 means "no group" */
        int up = fcntl(s->dir_fd, F_DUPFD_CLOEXEC, 3);
        close(s->dir_fd);
        s->dir_fd = up;
    }
    s->events_fd = cgroup__open(d, "cgroup.events", O_RDONLY);
    s->track_fd = cgroup__open(d, "cgroup.procs", O_RDONLY);
    s->cpu_fd = cgroup__open(d, "cpu.stat", O_RDONLY);
    if (s->dir_fd < 0 || s->events_fd < 0 || s->track_fd < 0 || s->cpu_fd < 0)
        return vl_err_sys(err, -errno, "cannot open the v2 cgroup %s", d);
    if (s->t->can & CGROUP_CAN_KILLFILE)
        s->kill_fd = maybe(d, "cgroup.kill", O_WRONLY);
    s->v2_freeze_fd = maybe(d, "cgroup.freeze", O_WRONLY); /* Linux 5.2 */
    if (s->t->mode == CGROUP_V1) { /* joined by the child (cgroup.c, cgroup_detect) */
        s->v2_procs_fd = cgroup__open(d, "cgroup.procs", O_WRONLY);
        if (s->v2_procs_fd < 0)
            return vl_err_sys(err, s->v2_procs_fd, "cannot open %s/cgroup.procs", d);
    }
    if (s->t->mode != CGROUP_V2)
        return 0;
    if (s->t->can & CGROUP_CAN_MEMORY) {
        s->mem_max_fd = cgroup__open(d, "memory.max", O_RDWR);
        s->usage_fd = cgroup__open(d, "memory.current", O_RDONLY);
        s->oom_fd = cgroup__open(d, "memory.events", O_RDONLY);
        if (s->mem_max_fd < 0 || s->usage_fd < 0 || s->oom_fd < 0)
            return vl_err_sys(err, -errno, "cannot open the memory files of the cgroup %s", d);
        s->memsw_fd = maybe(d, "memory.swap.max", O_RDWR); /* no swap accounting: no file */
        /* memory.peak (5.19) is the slot's peak unless it can be reset
         * through this descriptor (6.12): else the rusage peak serves */
        s->peak_fd = maybe(d, "memory.peak", O_RDWR);
        if (s->peak_fd >= 0 && cgroup__put(s->peak_fd, "reset") < 0) {
            close(s->peak_fd);
            s->peak_fd = -1;
        }
    }
    if (s->t->can & CGROUP_CAN_PIDS) {
        s->pids_max_fd = cgroup__open(d, "pids.max", O_RDWR);
        if (s->pids_max_fd < 0)
            return vl_err_sys(err, -errno, "cannot open %s/pids.max", d);
    }
    return 0;
}

int cgroup_v2__limits(struct cgroup_slot *s, const struct cgroup_limits *lim, struct vl_err *err)
{
    struct cgroup_shared *sh = s->sh;
    uint64_t want = s->mem_max_fd >= 0 ? lim->mem_bytes : 0;
    if (want != sh->mem_limit && s->mem_max_fd >= 0) {
        char v[32];
        if (want)
            snprintf(v, sizeof v, "%" PRIu64, want);
        else
            snprintf(v, sizeof v, "max");
        sh->mem_limit = UINT64_MAX;
        int rc = cgroup__put(s->mem_max_fd, v);
        if (rc == 0 && s->memsw_fd >= 0) /* swap included: none beside the limit */
            rc = cgroup__put(s->memsw_fd, want ? "0" : "max");
        if (rc < 0)
            return vl_err_sys(err, rc, "cannot set the memory limit of cgroup slot %u to %s",
                              s->idx, v);
        sh->mem_limit = want;
    }
    return cgroup__set_pids(s, lim->pids, err);
}

bool cgroup_v2__empty(int events_fd)
{
    char buf[256];
    if (cgroup__get(events_fd, buf, sizeof buf) <= 0)
        return true;
    return cgroup__key(buf, "populated") == 0;
}

void cgroup_v2__end(struct cgroup_slot *s, bool failed, uint64_t mem_limit, struct cgroup_usage *u)
{
    struct cgroup_shared *sh = s->sh;
    char buf[1024];
    if (cgroup__get(s->cpu_fd, buf, sizeof buf) > 0) {
        uint64_t us = cgroup__key(buf, "user_usec"), sy = cgroup__key(buf, "system_usec");
        u->user_usec = us > sh->user_usec ? us - sh->user_usec : 0;
        u->sys_usec = sy > sh->sys_usec ? sy - sh->sys_usec : 0;
        u->have_cpu = true;
        sh->user_usec = us;
        sh->sys_usec = sy;
        sh->cpu_usec = cgroup__key(buf, "usage_usec");
    }
    if (s->t->mode != CGROUP_V2 || s->oom_fd < 0)
        return;
    /* memory.peak is reset by writing to it (Linux 6.12); without it the
     * OOM counter is read at every end */
    cgroup__mem_end(s, failed, mem_limit, true, "reset", u);
}

/*
 * cgroup_v1.c - the v1 hierarchies of cgroup1 mode (cgroup.h): memory
 * (limit_in_bytes with memsw.limit_in_bytes for "swap included", the peak
 * in max_usage_in_bytes, the OOM kills in oom_control), pids (pids.max)
 * and, when no v2 group tracks the job, freezer (freeze, kill every pid,
 * thaw: a fork bomb cannot outrun a frozen group).
 *
 * The child joins a v1 group through its `tasks` file, not cgroup.procs:
 * "0" there moves the calling thread alone (the child has one), and the
 * kernel then skips its global cgroup threadgroup lock, whose writer side
 * made every fork and exit of the machine wait on an RCU grace period.
 * `volley bench --mode process --limits none,on --jobs 20000 --workers 2`
 * went from 0.85x to 0.98x of none (docs/limits.md, "Costs").
 *
 * Two v1 details shape the code:
 *   - memsw.limit_in_bytes must stay >= limit_in_bytes, so a lower limit
 *     is written memory first, a higher one memsw first;
 *   - writing 0 to max_usage_in_bytes sets it to the usage now, and the
 *     page cache a job left (files it wrote) stays charged to the slot: the
 *     next job's peak would include it. The usage after the reset is kept
 *     (base_bytes) and subtracted from the next peak. It is read only when
 *     the job's peak was above 1 MiB (a `true` job peaks at 256 KiB here,
 *     and what is left cannot exceed the peak), so the common case costs a
 *     read and a write. Dropping the cache instead (memory.force_empty)
 *     took 91 ms for 50 MB here, on the engine's thread: not done.
 */
#include "core/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cgroup_int.h"

/* A file that must be there: its fd, or -1 with err set (rc). */
static int need(const char *d, const char *file, int flags, int *rc, struct vl_err *err)
{
    if (*rc)
        return -1;
    int fd = cgroup__open(d, file, flags);
    if (fd < 0) {
        *rc = vl_err_sys(err, fd, "cannot open %s/%s", d, file);
        return -1;
    }
    return fd;
}

int cgroup_v1__open(struct cgroup_slot *s, int h, const char *d, struct vl_err *err)
{
    int rc = 0;
    switch (h) {
    case CGROUP_H_MEMORY:
        s->v1_tasks[0] = need(d, "tasks", O_WRONLY, &rc, err);
        s->mem_max_fd = need(d, "memory.limit_in_bytes", O_RDWR, &rc, err);
        s->peak_fd = need(d, "memory.max_usage_in_bytes", O_RDWR, &rc, err);
        s->usage_fd = need(d, "memory.usage_in_bytes", O_RDONLY, &rc, err);
        s->oom_fd = need(d, "memory.oom_control", O_RDONLY, &rc, err);
        if (!rc) /* without swap accounting there is no memsw: RAM is all there is */
            s->memsw_fd = cgroup__open(d, "memory.memsw.limit_in_bytes", O_RDWR);
        break;
    case CGROUP_H_PIDS:
        s->v1_tasks[1] = need(d, "tasks", O_WRONLY, &rc, err);
        s->pids_max_fd = need(d, "pids.max", O_RDWR, &rc, err);
        break;
    case CGROUP_H_FREEZER:
        s->v1_tasks[2] = need(d, "tasks", O_WRONLY, &rc, err);
        s->freeze_fd = need(d, "freezer.state", O_RDWR, &rc, err);
        break;
    default:
        break;
    }
    return rc;
}

int cgroup_v1__limits(struct cgroup_slot *s, const struct cgroup_limits *lim, struct vl_err *err)
{
    struct cgroup_shared *sh = s->sh;
    uint64_t want = lim->mem_bytes, cur = sh->mem_limit;
    if (want != cur) {
        char v[32];
        if (want)
            snprintf(v, sizeof v, "%" PRIu64, want);
        else
            snprintf(v, sizeof v, "-1");
        /* memsw >= memory at every instant: lower the memory limit first */
        bool lower = want && (!cur || want < cur);
        int fds[2] = {s->mem_max_fd, s->memsw_fd};
        if (!lower) {
            fds[0] = s->memsw_fd;
            fds[1] = s->mem_max_fd;
        }
        sh->mem_limit = UINT64_MAX; /* unknown until both writes went through */
        for (int i = 0; i < 2; i++) {
            if (fds[i] < 0)
                continue;
            int rc = cgroup__put(fds[i], v);
            if (rc < 0)
                return vl_err_sys(err, rc, "cannot set the memory limit of cgroup slot %u to %s",
                                  s->idx, v);
        }
        sh->mem_limit = want;
    }
    return cgroup__set_pids(s, lim->pids, err);
}

/* Waits (bounded) for freezer.state to read FROZEN. */
static void wait_frozen(int fd)
{
    char st[32];
    for (int i = 0; i < 2000; i++) {
        if (cgroup__get(fd, st, sizeof st) < 0 || !strncmp(st, "FROZEN", 6))
            return;
        usleep(100);
    }
}

int cgroup_v1__freeze_kill(struct cgroup_slot *s)
{
    if (cgroup__put(s->freeze_fd, "FROZEN") == 0)
        wait_frozen(s->freeze_fd);
    char buf[16384];
    ssize_t n = cgroup__track(s, buf, sizeof buf);
    int c = (int)cgroup__kill_pids(buf, n);
    (void)cgroup__put(s->freeze_fd, "THAWED"); /* a frozen task dies once thawed */
    return c;
}

uint32_t cgroup_v1__drain(const char *dir, bool freezer)
{
    uint32_t first = 0;
    for (uint32_t t = 0; t <= CGROUP__WAIT_MS; t += 5) {
        char buf[64];
        ssize_t n = cgroup__get_path(dir, "cgroup.procs", buf, sizeof buf);
        if (n <= 0)
            break;
        if (freezer && cgroup__put_path(dir, "freezer.state", "FROZEN") == 0) {
            int fd = cgroup__open(dir, "freezer.state", O_RDONLY);
            if (fd >= 0) {
                wait_frozen(fd);
                close(fd);
            }
        }
        uint32_t k = cgroup__kill_listed(dir);
        if (!t)
            first = k;
        if (freezer)
            (void)cgroup__put_path(dir, "freezer.state", "THAWED");
        usleep(5000);
    }
    return first;
}

void cgroup_v1__end(struct cgroup_slot *s, bool failed, uint64_t mem_limit, struct cgroup_usage *u)
{
    /* writing 0 to max_usage_in_bytes sets it to the usage now */
    cgroup__mem_end(s, failed, mem_limit, false, "0", u);
}

/*
 * runlock.c - see runlock.h. The holder's pid is written after the lock is
 * taken, so a refused process may read an empty file for a moment; it then
 * says "another volley" without a pid rather than guess.
 */
#include "runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fault.h"

/* The command line of pid as "volley resume DIR" (argv[0] as its base
 * name), at most len - 1 bytes; "" if it cannot be read. */
static void cmdline_of(long pid, char *out, size_t len)
{
    out[0] = '\0';
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    const char *base = strrchr(buf, '/');
    base = base ? base + 1 : buf;
    size_t at = 0;
    for (const char *p = base; p < buf + n && at + 1 < len; p++)
        out[at++] = *p ? *p : ' ';
    while (at && out[at - 1] == ' ')
        at--;
    out[at] = '\0';
}

int runlock_acquire(struct runlock *l, const char *dir, struct vl_err *err)
{
    l->fd1 = 0;
    char *path = vl_xasprintf("%s/%s", dir, RUNDIR_LOCK);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        int code = -errno;
        if (code == -EROFS || code == -EACCES || code == -EPERM)
            vl_err_sys(err, code,
                       "cannot lock run directory %s: cannot create %s (the run directory "
                       "must be writable)",
                       dir, path);
        else
            vl_err_sys(err, code, "cannot lock run directory %s: cannot open %s", dir, path);
        free(path);
        return code;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int code = -errno;
        if (code != -EWOULDBLOCK) {
            vl_err_sys(err, code, "cannot lock run directory %s (%s)", dir, path);
        } else {
            char buf[64] = {0};
            ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
            long pid = 0;
            unsigned long long start = 0;
            if (n > 0 && sscanf(buf, "%ld %llu", &pid, &start) >= 1 && pid > 0) {
                bool alive = vl_proc_alive((int)pid, start);
                char cmd[160] = "";
                if (alive)
                    cmdline_of(pid, cmd, sizeof cmd);
                vl_err_set(err, VL_ELOCKED,
                           "run directory %s is in use by volley pid %ld%s%s%s%s: wait for it to "
                           "finish, or stop it with `volley cancel %s`",
                           dir, pid, cmd[0] ? " (`" : "", cmd, cmd[0] ? "`)" : "",
                           alive ? ""
                                 : " (which has exited; a worker it started still holds "
                                   "the lock)",
                           dir);
            } else {
                vl_err_set(err, VL_ELOCKED,
                           "run directory %s is in use by another volley: wait for it to "
                           "finish, or stop it with `volley cancel %s`",
                           dir, dir);
            }
            code = VL_ELOCKED;
        }
        close(fd);
        free(path);
        return code;
    }
    char buf[64];
    int pid = (int)getpid();
    int len = snprintf(buf, sizeof buf, "%d %" PRIu64 "\n", pid, vl_proc_start(pid));
    if (fault_ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
        /* the lock is held; only the holder's name is missing: refuse anyway,
         * since a directory we cannot write to cannot hold a run */
        int code = errno ? -errno : -EIO;
        vl_err_sys(err, code, "cannot write %s", path);
        close(fd);
        free(path);
        return code;
    }
    free(path);
    l->fd1 = fd + 1;
    return 0;
}

bool runlock_holder(const char *dir, int *pid)
{
    *pid = 0;
    char *path = vl_xasprintf("%s/%s", dir, RUNDIR_LOCK);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    if (fd < 0)
        return false;
    char buf[64] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    long p = 0;
    unsigned long long start = 0;
    if (n <= 0 || sscanf(buf, "%ld %llu", &p, &start) != 2 || p <= 0 || p > INT32_MAX)
        return false;
    *pid = (int)p;
    return vl_proc_alive(*pid, start);
}

void runlock_release(struct runlock *l)
{
    if (l && l->fd1 > 0) {
        close(l->fd1 - 1);
        l->fd1 = 0;
    }
}

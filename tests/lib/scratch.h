/*
 * scratch.h - removes a test's scratch tree from anywhere, a signal handler
 * included: only async-signal-safe calls (unlinkat, openat, fchmod,
 * getdents64, lseek, close), no allocation, no opendir, no rm -rf through
 * system(). The test libraries call it from the cleanup they run at exit
 * and on SIGINT/SIGTERM/SIGHUP, so an interrupted test leaves no
 * /tmp/volley-* behind. A depth bound (no recursion without end), a 4 KiB
 * buffer per level: scratch trees are a few levels deep.
 */
#ifndef VOLLEY_TESTS_SCRATCH_H
#define VOLLEY_TESTS_SCRATCH_H

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Removes name (relative to the directory fd at, or AT_FDCWD) and, when it
 * is a directory, what it holds, down to depth levels. A directory a test
 * made read-only is made writable first. Leaves errno changed. */
static inline __attribute__((unused)) void scratch_rmtree_at(int at, const char *name, int depth)
{
    if (unlinkat(at, name, 0) == 0 || depth <= 0)
        return;
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    fchmod(fd, 0700);
    /* a scan that removes entries may skip some: scan again (a few times) */
    for (int pass = 0; pass < 3 && unlinkat(at, name, AT_REMOVEDIR) != 0; pass++) {
        char buf[4096];
        ssize_t n;
        lseek(fd, 0, SEEK_SET);
        while ((n = getdents64(fd, buf, sizeof buf)) > 0)
            for (ssize_t off = 0; off < n;) {
                const struct dirent64 *e = (const struct dirent64 *)(buf + off);
                const char *d = e->d_name;
                off += e->d_reclen;
                if (!(d[0] == '.' && (!d[1] || (d[1] == '.' && !d[2]))))
                    scratch_rmtree_at(fd, d, depth - 1);
            }
    }
    close(fd);
}

#endif /* VOLLEY_TESTS_SCRATCH_H */

/*
 * scratch.h - removes a test's scratch tree from anywhere, a signal handler
 * included: only async-signal-safe calls (unlinkat, openat, fchmod,
 * getdents64, lseek, close), no allocation, no opendir, no rm -rf through
 * system(). The test libraries call it from the cleanup they run at exit
 * and on SIGINT/SIGTERM/SIGHUP, so an interrupted test leaves no
 * /tmp/volley-* behind; scratch_guard is that cleanup for a program with
 * one scratch directory and nothing else to end. A depth bound (no recursion without end), a 4 KiB
 * buffer per level: scratch trees are a few levels deep.
 */
#ifndef VOLLEY_TESTS_SCRATCH_H
#define VOLLEY_TESTS_SCRATCH_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
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

/* ---- one cleanup at exit and on the signals that end a test ---- */

static __attribute__((unused)) void (*scratch_exit_fn)(void);
static __attribute__((unused)) pid_t scratch_exit_owner;
static __attribute__((unused))
const int scratch_exit_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE};
/* what each signal did before (a sanitizer's report on a crash, say) */
static __attribute__((unused)) struct sigaction
    scratch_exit_old[sizeof scratch_exit_sigs / sizeof scratch_exit_sigs[0]];

static inline __attribute__((unused)) void scratch_exit_run(void)
{
    if (scratch_exit_fn && getpid() == scratch_exit_owner)
        scratch_exit_fn(); /* not in a child the test forked */
}

static inline __attribute__((unused)) void scratch_exit_on_signal(int sig)
{
    scratch_exit_run();
    for (size_t i = 0; i < sizeof scratch_exit_sigs / sizeof scratch_exit_sigs[0]; i++)
        if (scratch_exit_sigs[i] == sig)
            sigaction(sig, &scratch_exit_old[i], NULL);
    raise(sig);
}

/* From now on fn (async-signal-safe calls only) runs when this process
 * exits, an exit(3) from a die() included, and on SIGINT, SIGTERM, SIGHUP
 * or a crash (SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE), which is then
 * handed to what handled it before (the default action, or a sanitizer's
 * report); one the process ignores stays ignored. One fn per process: the
 * first call wins. */
static inline __attribute__((unused)) void scratch_at_exit(void (*fn)(void))
{
    if (scratch_exit_owner)
        return;
    scratch_exit_owner = getpid();
    scratch_exit_fn = fn;
    atexit(scratch_exit_run);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = scratch_exit_on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof scratch_exit_sigs / sizeof scratch_exit_sigs[0]; i++)
        if (sigaction(scratch_exit_sigs[i], NULL, &scratch_exit_old[i]) == 0 &&
            scratch_exit_old[i].sa_handler !=
                SIG_IGN) /* ignored (nohup, a background job): stays so */
            sigaction(scratch_exit_sigs[i], &sa, NULL);
}

/* ---- one scratch directory, removed at the end ---- */

static __attribute__((unused)) char scratch_guard_dir[4096];
static __attribute__((unused)) volatile sig_atomic_t scratch_guard_live;

static inline __attribute__((unused)) void scratch_guard_cleanup(void)
{
    if (!scratch_guard_live)
        return;
    int saved = errno;
    scratch_rmtree_at(AT_FDCWD, scratch_guard_dir, 8);
    scratch_guard_live = 0;
    errno = saved;
}

/* From now on dir (one at a time; not for forked children) is removed
 * when the process ends (scratch_at_exit). Call it right after the
 * mkdtemp. */
static inline __attribute__((unused)) void scratch_guard(const char *dir)
{
    scratch_at_exit(scratch_guard_cleanup);
    scratch_guard_live = 0;
    size_t n = strlen(dir);
    if (n >= sizeof scratch_guard_dir)
        return; /* not guarded: too long to keep */
    memcpy(scratch_guard_dir, dir, n + 1);
    scratch_guard_live = 1;
}

#endif /* VOLLEY_TESTS_SCRATCH_H */

/*
 * test_runlock.c - the run directory lock: a second runner is refused with
 * a message naming the holder's pid (exit 3); 16 processes racing for one
 * directory get exactly one winner; a holder killed with SIGKILL releases
 * it; a lock inherited by a forked worker outlives its runner and says so;
 * a read-only or missing directory is refused with a message.
 */
#include "persist/runlock.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#include "persist_test.h"

#define RACERS 16

static int child_status(pid_t pid)
{
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void test_second_refused(const char *base)
{
    char *dir = pt_subdir(base, "two");
    struct runlock l = {0}, never = {0};
    struct vl_err e = {0};
    runlock_release(&never); /* a lock never taken: nothing happens */
    CHECK_EQ(runlock_acquire(&l, dir, &e), 0);
    char *path = pt_path(dir, RUNDIR_LOCK);
    size_t len;
    char *text = pt_read(path, &len);
    char want[32];
    snprintf(want, sizeof want, "%d ", (int)getpid());
    CHECK(text && strncmp(text, want, strlen(want)) == 0);
    free(text);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        struct runlock l2 = {0};
        struct vl_err e2 = {0};
        int rc = runlock_acquire(&l2, dir, &e2);
        CHECK_EQ(rc, VL_ELOCKED);
        CHECK_EQ(vl_exit_for(rc), VL_EXIT_ENV);
        char msg[128];
        snprintf(msg, sizeof msg, "is in use by volley pid %d (`test_runlock`): wait for it",
                 (int)getppid());
        CHECK_HAS(e2.msg, msg); /* the holder named by its command line */
        CHECK_HAS(e2.msg, "volley cancel");
        _exit(check_done());
    }
    CHECK_EQ(child_status(pid), 0);
    runlock_release(&l);
    runlock_release(&l); /* twice: harmless */
    CHECK_EQ(runlock_acquire(&l, dir, &e), 0);
    runlock_release(&l);
    free(path);
    free(dir);
}

static void test_race(const char *base)
{
    char *dir = pt_subdir(base, "race");
    int go[2], res[2], hold[2];
    CHECK_EQ(pipe(go), 0);
    CHECK_EQ(pipe(res), 0);
    CHECK_EQ(pipe(hold), 0);
    pid_t pids[RACERS];
    fflush(stderr);
    for (int i = 0; i < RACERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(go[1]);
            close(res[0]);
            close(hold[1]);
            char c;
            if (read(go[0], &c, 1) != 0) /* blocks until the parent closes go */
                _exit(2);
            struct runlock l = {0};
            struct vl_err e = {0};
            int rc = runlock_acquire(&l, dir, &e);
            char r = rc == 0 ? 'W' : rc == VL_ELOCKED ? 'L' : 'E';
            if (write(res[1], &r, 1) != 1)
                _exit(2);
            if (rc == 0) /* hold it until every racer has reported */
                while (read(hold[0], &c, 1) > 0)
                    ;
            _exit(0);
        }
    }
    close(go[0]);
    close(res[1]);
    close(hold[0]);
    close(go[1]); /* start */
    int wins = 0, refused = 0;
    for (int i = 0; i < RACERS; i++) {
        char r = 0;
        if (read(res[0], &r, 1) != 1)
            break;
        wins += r == 'W';
        refused += r == 'L';
    }
    close(hold[1]);
    close(res[0]);
    for (int i = 0; i < RACERS; i++)
        CHECK_EQ(child_status(pids[i]), 0);
    CHECK_EQ(wins, 1);
    CHECK_EQ(refused, RACERS - 1);
    free(dir);
}

static void test_crash_releases(const char *base)
{
    char *dir = pt_subdir(base, "crash");
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        struct runlock l = {0};
        if (runlock_acquire(&l, dir, NULL) != 0)
            _exit(1);
        raise(SIGKILL);
        _exit(2);
    }
    CHECK_EQ(child_status(pid), 128 + SIGKILL);
    struct runlock l = {0};
    struct vl_err e = {0};
    CHECK_EQ(runlock_acquire(&l, dir, &e), 0);
    runlock_release(&l);
    free(dir);
}

/* A runner that forked a worker and died: the worker still holds the lock,
 * and the message says the named runner has exited. */
static void test_inherited(const char *base)
{
    char *dir = pt_subdir(base, "inherit");
    int ready[2], hold[2];
    CHECK_EQ(pipe(ready), 0);
    CHECK_EQ(pipe(hold), 0);
    fflush(stderr);
    pid_t runner = fork();
    if (runner == 0) {
        close(hold[1]);
        struct runlock l = {0};
        if (runlock_acquire(&l, dir, NULL) != 0)
            _exit(1);
        pid_t worker = fork();
        if (worker == 0) {
            close(ready[0]);
            pid_t me = getpid();
            if (write(ready[1], &me, sizeof me) < 0)
                _exit(1);
            /* holds the lock until EOF: we close hold[1], or die (not
             * pause(): a worker reparented away from a killed test would
             * hold it forever) */
            char c;
            while (read(hold[0], &c, 1) < 0 && errno == EINTR)
                ;
            _exit(0);
        }
        _exit(0);
    }
    close(hold[0]);
    close(ready[1]);
    pid_t worker = 0;
    CHECK_EQ(read(ready[0], &worker, sizeof worker), (ssize_t)sizeof worker);
    close(ready[0]);
    CHECK_EQ(child_status(runner), 0);
    struct runlock l = {0};
    struct vl_err e = {0};
    CHECK_EQ(runlock_acquire(&l, dir, &e), VL_ELOCKED);
    char msg[96];
    snprintf(msg, sizeof msg, "in use by volley pid %d (which has exited", (int)runner);
    CHECK_HAS(e.msg, msg);
    /* the worker (not our child: reparented) sees EOF and exits; the lock
     * is free again */
    CHECK(worker > 0);
    close(hold[1]);
    int rc = VL_ELOCKED;
    for (int i = 0; i < 3000 && rc == VL_ELOCKED; i++) { /* up to 30 s: a hang */
        rc = runlock_acquire(&l, dir, &e);
        if (rc == VL_ELOCKED)
            usleep(10000);
    }
    CHECK_EQ(rc, 0);
    runlock_release(&l);
    free(dir);
}

static void test_bad_dirs(const char *base)
{
    struct runlock l = {0};
    struct vl_err e = {0};
    char *missing = pt_path(base, "missing");
    CHECK_EQ(runlock_acquire(&l, missing, &e), -ENOENT);
    CHECK_HAS(e.msg, "cannot lock run directory");
    free(missing);
    char *ro = pt_subdir(base, "ro");
    chmod(ro, 0555);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(77);
        struct runlock l2 = {0};
        struct vl_err e2 = {0};
        int rc = runlock_acquire(&l2, ro, &e2);
        CHECK_EQ(rc, -EACCES);
        CHECK_EQ(vl_exit_for(rc), VL_EXIT_ENV);
        CHECK_HAS(e2.msg, "must be writable");
        _exit(check_done());
    }
    int st = child_status(pid);
    if (st == 77)
        fprintf(stderr, "read-only lock test skipped: cannot drop privileges\n");
    else
        CHECK_EQ(st, 0);
    chmod(ro, 0755);
    free(ro);
}

int main(void)
{
    char *base = pt_tmpdir();
    chmod(base, 0755);
    test_second_refused(base);
    test_race(base);
    test_crash_releases(base);
    test_inherited(base);
    test_bad_dirs(base);
    pt_rmrf(base);
    free(base);
    return check_done();
}

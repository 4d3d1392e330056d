/*
 * test_spawn.c - spawner_start in both modes: the child's fds, process
 * group, signal state, working directory, the shell fallback when execve
 * fails, the async mode's busy word, sources below fd 3, the death
 * signal of a child whose spawner is killed right after the clone, and
 * spawn_sig_sample / spawn_sigchld_ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/spawn.h"

extern char **environ;

/* Runs req, returns the exit status and what the child wrote to stdout. */
static int run(struct spawner *sp, struct spawn_req *req, char *out, size_t outlen)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    req->fd1 = p[1];
    int pidfd = -1;
    int pid = spawner_start(sp, 0, req, &pidfd);
    CHECK(pid > 0);
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < outlen && (r = read(p[0], out + n, outlen - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(p[0]);
    siginfo_t si;
    CHECK_EQ(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED), 0);
    close(pidfd);
    CHECK(!spawner_busy(sp, 0));
    return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
}

static void test_mode(enum spawn_mode mode)
{
    struct spawner sp;
    struct vl_err err;
    CHECK_EQ(spawner_init(&sp, mode, 2, &err), 0);
    char out[4096];
    char *sh[] = {"sh", "-c",
                  "ls /proc/self/fd | tr '\\n' ' '; grep -E '^Sig(Blk|Ign)' /proc/self/status "
                  "| tr '\\n' ' '; cut -d' ' -f5 /proc/self/stat; pwd",
                  NULL};
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int cwd = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct spawn_req req = {.path = "/bin/sh",
                            .argv = sh,
                            .envp = environ,
                            .fd0 = devnull,
                            .fd2 = 2,
                            .cwd_fd = cwd,
                            .sig_dfl = spawn_sig_sample()};
    signal(SIGPIPE, SIG_IGN);
    req.sig_dfl = spawn_sig_sample();
    CHECK(req.sig_dfl & (1ull << (SIGPIPE - 1)));
    CHECK_EQ(run(&sp, &req, out, sizeof out), 0);
    signal(SIGPIPE, SIG_DFL);
    /* fds 0-2 (+3: ls's directory); nothing blocked or ignored; pwd /tmp */
    CHECK(strncmp(out, "0 1 2 3 SigBlk:\t0000000000000000 SigIgn:\t0000000000000000 ", 58) == 0);
    CHECK(strstr(out, "\n/tmp\n") != NULL);
    /* the pgid printed by cut is the shell's own pid (cut runs in it) */

    /* execve fails: the shell fallback reports in its own words */
    char *bad[] = {"volley-nope", NULL};
    char *fallback[] = {"sh", "-c", "volley-nope", NULL};
    struct spawn_req r2 = {.path = "/nonexistent/volley-nope",
                           .argv = bad,
                           .envp = environ,
                           .sh_argv = fallback,
                           .fd0 = devnull,
                           .fd2 = -1,
                           .cwd_fd = -1};
    int p2[2];
    CHECK_EQ(pipe2(p2, O_CLOEXEC), 0);
    r2.fd2 = p2[1];
    CHECK_EQ(run(&sp, &r2, out, sizeof out), 127);
    close(p2[1]);
    char errbuf[256] = {0};
    CHECK(read(p2[0], errbuf, sizeof errbuf - 1) > 0);
    close(p2[0]);
    CHECK(strcmp(errbuf, "sh: 1: volley-nope: not found\n") == 0);

    /* no fallback: our own message, exit 127 */
    r2.sh_argv = NULL;
    CHECK_EQ(pipe2(p2, O_CLOEXEC), 0);
    r2.fd2 = p2[1];
    CHECK_EQ(run(&sp, &r2, out, sizeof out), 127);
    close(p2[1]);
    memset(errbuf, 0, sizeof errbuf);
    CHECK(read(p2[0], errbuf, sizeof errbuf - 1) > 0);
    close(p2[0]);
    CHECK(strcmp(errbuf, "volley: cannot execute /nonexistent/volley-nope (errno 2)\n") == 0);

    /* sources below 3: stdout from what was our stdin's number */
    int saved0 = dup(0);
    int p3[2];
    close(0);
    CHECK_EQ(pipe2(p3, O_CLOEXEC), 0); /* p3[0] is fd 0 now */
    CHECK_EQ(p3[0], 0);
    char *echo[] = {"sh", "-c", "echo low; cat", NULL};
    int dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct spawn_req r3 = {.path = "/bin/sh",
                           .argv = echo,
                           .envp = environ,
                           .fd0 = dn,
                           .fd1 = p3[1],
                           .fd2 = 2,
                           .cwd_fd = -1};
    int pidfd;
    int pid = spawner_start(&sp, 1, &r3, &pidfd);
    CHECK(pid > 0);
    close(p3[1]);
    char lb[16] = {0};
    CHECK(read(p3[0], lb, sizeof lb - 1) == 4);
    CHECK(strcmp(lb, "low\n") == 0);
    siginfo_t si;
    CHECK_EQ(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED), 0);
    CHECK_EQ(si.si_status, 0);
    close(pidfd);
    close(p3[0]);
    close(dn);
    dup2(saved0, 0);
    close(saved0);
    CHECK_EQ(spawner_start(&sp, 5, &r3, &pidfd), -EINVAL);
    close(devnull);
    close(cwd);
    spawner_fini(&sp);
}

/* The orphan pid has exec'd /bin/sleep (its comm is "sleep"). */
static bool orphan_runs_sleep(pid_t pid)
{
    char p[64], comm[32] = "";
    snprintf(p, sizeof p, "/proc/%d/comm", (int)pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return false;
    bool yes = fgets(comm, sizeof comm, f) && !strcmp(comm, "sleep\n");
    fclose(f);
    return yes;
}

/* 1 if SIGKILL is pending on pid (its own or its group's), 0 if not, -1
 * if its status cannot be read. */
static int pending_sigkill(pid_t pid)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return -1;
    int yes = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long m;
        if ((sscanf(line, "SigPnd: %llx", &m) == 1 || sscanf(line, "ShdPnd: %llx", &m) == 1) &&
            (m >> (SIGKILL - 1) & 1))
            yes = 1;
    }
    fclose(f);
    return yes;
}

/*
 * A spawner killed (SIGKILL) right after clone returned, before it could
 * note the child's pid anywhere: with death_sig the child dies with it;
 * without, it is left running (the case death_sig is for, shown here so
 * this test can tell the two apart). We are a subreaper, so the orphan
 * comes back to us and is reaped here in either case.
 */
static void test_death_sig(enum spawn_mode mode, int death_sig)
{
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    pid_t spawner_pid = fork();
    CHECK(spawner_pid >= 0);
    if (spawner_pid == 0) {
        struct spawner sp;
        struct vl_err err;
        if (spawner_init(&sp, mode, 1, &err) != 0)
            _exit(2);
        char *argv[] = {"sleep", "30", NULL};
        struct spawn_req req = {.path = "/bin/sleep",
                                .argv = argv,
                                .envp = environ,
                                .fd0 = -1,
                                .fd1 = -1,
                                .fd2 = -1,
                                .cwd_fd = -1,
                                .death_sig = death_sig};
        int pidfd = -1;
        int pid = spawner_start(&sp, 0, &req, &pidfd);
        /* The window: the child runs, nobody knows its pid but this
         * process, which dies now. The pid goes out through the pipe
         * only for the test to check on it. */
        if (write(p[1], &pid, sizeof pid) != (ssize_t)sizeof pid)
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    close(p[1]);
    int pid = -1;
    CHECK_EQ(read(p[0], &pid, sizeof pid), (ssize_t)sizeof pid);
    close(p[0]);
    int st = 0;
    CHECK_EQ(waitpid(spawner_pid, &st, 0), spawner_pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    if (pid <= 0)
        return;
    /* With death_sig, the orphan (now our child) dies of it at once; up to
     * 30 s is a hang. Without, it must not: the kernel queues a death
     * signal before the spawner's exit can be waited for, so once the
     * orphan runs sleep (it has passed any check of its own) it is either
     * dead, or dying with the signal pending, or it was given none. No time
     * is waited for. */
    pid_t got = 0;
    if (!death_sig) {
        bool execd = false;
        for (int i = 0; i < 3000 && !execd && got == 0; i++) {
            execd = orphan_runs_sleep(pid);
            if (!execd) {
                nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
                got = waitpid(pid, &st, WNOHANG);
            }
        }
        CHECK(execd);
        if (got == 0)
            got = waitpid(pid, &st, WNOHANG);
        CHECK_EQ(pending_sigkill(pid), 0);
    }
    for (int i = 0; death_sig && i < 3000 && got == 0; i++) {
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        got = waitpid(pid, &st, WNOHANG);
    }
    if (death_sig) {
        /* Killed by it, or (the spawner died before the child could set
         * it) gone at the child's own check, before exec. */
        CHECK_EQ(got, pid);
        if (got == pid && !(WIFSIGNALED(st) && WTERMSIG(st) == death_sig))
            fprintf(stderr, "death_sig: mode %d, status %#x\n", (int)mode, st);
        CHECK(got == pid && ((WIFSIGNALED(st) && WTERMSIG(st) == death_sig) ||
                             (WIFEXITED(st) && WEXITSTATUS(st) == 127)));
    } else {
        CHECK_EQ(got, 0);
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        CHECK_EQ(waitpid(pid, &st, 0), pid);
    }
}

int main(void)
{
    /* Orphans of the spawners test_death_sig kills come back to us. */
    CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    test_mode(SPAWN_VFORK);
    test_mode(SPAWN_ASYNC);
    for (int m = 0; m < 2; m++) {
        test_death_sig(m ? SPAWN_ASYNC : SPAWN_VFORK, SIGKILL);
        test_death_sig(m ? SPAWN_ASYNC : SPAWN_VFORK, 0);
    }
    CHECK(!spawn_sigchld_ignored());
    signal(SIGCHLD, SIG_IGN);
    CHECK(spawn_sigchld_ignored());
    signal(SIGCHLD, SIG_DFL);
    spawner_fini(NULL);
    return check_done();
}

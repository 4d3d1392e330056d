/*
 * test_cgroup.c - core/cgroup.h on this machine's hierarchies, with real
 * processes started as the engine starts them (spawner_start with the
 * slot's v2 group to clone into and its v1 groups to join):
 *   - the names and the parser; --limits-backend none needs nothing;
 *   - a tree of two slots for each backend that is available here: a
 *     child lands in its slot's groups (/proc/PID/cgroup), the slot finds
 *     and kills what a job left, and counts the CPU it used;
 *   - the regression that cost a day (docs/limits.md): after the slot
 *     killed leftovers, the next child cloned into it lives (Linux 6.18
 *     here SIGKILLs every later CLONE_INTO_CGROUP child of a group once
 *     cgroup.kill was written to it);
 *   - cgroup1: a memory limit, the peak, the OOM count; the limits are
 *     written only when they change;
 *   - a dead run's tree is found and swept (resume), processes killed;
 *   - the tree is gone after cgroup_tree_remove;
 *   - at the end every tree of this process is swept whatever failed, so a
 *     failing run of the test leaves no group behind.
 * Skipped (77) where no cgroup hierarchy is writable.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "proc.h"
#include "core/cgroup.h"
#include "core/spawn.h"

extern char **environ;

static struct spawner g_sp;

/* Starts `sh -c cmd` in slot s (NULL: no group) with lim; its pid and pidfd. */
static int start(struct cgroup_slot *s, const struct cgroup_limits *lim, const char *cmd,
                 int *pidfd)
{
    static char *argv[4];
    argv[0] = "sh";
    argv[1] = "-c";
    argv[2] = (char *)cmd;
    argv[3] = NULL;
    static struct spawn_req req;
    static struct cgroup_spawn sp;
    memset(&req, 0, sizeof req);
    req.path = "/bin/sh";
    req.argv = argv;
    req.envp = environ;
    req.fd0 = -1;
    req.fd1 = 1;
    req.fd2 = 2;
    req.cwd_fd = -1;
    if (s) {
        struct vl_err err = {0};
        int rc = cgroup_slot_begin(s, lim, &sp, &err);
        if (rc < 0)
            fprintf(stderr, "begin: %s\n", err.msg);
        CHECK_EQ(rc, 0);
        req.into_fd = sp.into_fd > 0 ? sp.into_fd : 0;
        req.join = sp.join;
        req.njoin = sp.njoin;
    }
    return spawner_start(&g_sp, 0, &req, pidfd);
}

/* Reaps pidfd: the wait status. */
static int reap(int pidfd)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED), 0);
    close(pidfd);
    return si.si_code == CLD_EXITED ? si.si_status << 8 : si.si_status;
}

/* True if pid's /proc/PID/cgroup has a line ending in want; ctl: only
 * the line of that v1 controller ("memory", "pids"), "" the v2 line. */
static bool in_group_of(int pid, const char *ctl, const char *want)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
    FILE *f = fopen(path, "r");
    bool yes = false;
    size_t wl = strlen(want);
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        size_t l = strlen(line);
        const char *c = strchr(line, ':');
        if (ctl) {
            size_t cl = strlen(ctl);
            if (!c || strncmp(c + 1, ctl, cl) != 0 || c[1 + cl] != ':')
                continue;
        }
        if (l >= wl && !strcmp(line + l - wl, want))
            yes = true;
    }
    if (f)
        fclose(f);
    return yes;
}

static bool in_group(int pid, const char *want)
{
    return in_group_of(pid, NULL, want);
}

/* Waits (5 s at most) until pid is gone or a zombie. */
static bool gone(int pid)
{
    return proc_gone_within(pid, 500);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void run_hex(char hex[33], int seed)
{
    snprintf(hex, 33, "%08x%08x%016x", (unsigned)getpid(), (unsigned)seed, 0x7e57u);
}

/* One backend: a tree of two slots and jobs through slot 0. */
static void test_backend(int want)
{
    struct cgroup_env env;
    struct vl_err err = {0};
    if (cgroup_detect(want, &env, &err) < 0) {
        fprintf(stderr, "skip %s: %s\n", cgroup_mode_name(want), err.msg);
        CHECK_EQ(err.code, VL_EUSAGE);
        return;
    }
    fprintf(stderr, "== %s (can %#x%s%s)\n", cgroup_mode_name(env.mode), env.can,
            env.why[0] ? ": " : "", env.why);
    char hex[33];
    run_hex(hex, want);
    struct cgroup_tree t;
    int rc = cgroup_tree_create(&env, hex, 2, &t, &err);
    if (rc)
        fprintf(stderr, "tree: %s\n", err.msg);
    CHECK_EQ(rc, 0);
    if (rc)
        return;
    char dirs[CGROUP_NHIER][CGROUP_PATH];
    uint32_t ndirs = cgroup_find(hex, dirs, CGROUP_NHIER);
    CHECK(ndirs >= 1);
    struct cgroup_shared sh;
    memset(&sh, 0, sizeof sh);
    struct cgroup_slot s;
    CHECK_EQ(cgroup_slot_open(&s, &t, 0, &sh, &err), 0);
    struct cgroup_limits none = {0};

    /* a job in its slot: the groups it is in; nothing left; CPU counted */
    char slot0[64];
    snprintf(slot0, sizeof slot0, "/volley-%s/s0", hex);
    int pidfd = -1;
    int pid =
        start(&s, &none, "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; sleep 0.2", &pidfd);
    CHECK(pid > 0);
    usleep(50000);
    CHECK(in_group(pid, slot0));
    CHECK_EQ(reap(pidfd), 0);
    CHECK_EQ(cgroup_slot_reap(&s), 0);
    CHECK(cgroup_slot_empty(&s));
    struct cgroup_usage u;
    cgroup_slot_end(&s, false, 0, &u);
    if (t.can & CGROUP_CAN_CPU)
        CHECK(u.have_cpu && u.user_usec + u.sys_usec > 1000);
    if (t.can & CGROUP_CAN_MEMORY && t.mode == CGROUP_V1)
        CHECK(u.have_mem && u.peak_bytes > 0);

    /* leftovers: found, killed, the slot empties */
    pid = start(&s, &none, "sleep 300 & echo $! > /dev/null; exit 0", &pidfd);
    CHECK(pid > 0);
    CHECK_EQ(reap(pidfd), 0);
    usleep(20000);
    int n = cgroup_slot_reap(&s);
    CHECK_EQ(n, 1);
    bool empty = false;
    for (int i = 0; i < 500 && !(empty = cgroup_slot_empty(&s)); i++)
        usleep(10000);
    CHECK(empty);
    cgroup_slot_end(&s, false, 0, &u);

    /* and the next job in that slot lives (the CLONE_INTO_CGROUP bug) */
    pid = start(&s, &none, "exit 7", &pidfd);
    CHECK(pid > 0);
    CHECK_EQ(reap(pidfd), 7 << 8);
    CHECK_EQ(cgroup_slot_reap(&s), 0);
    cgroup_slot_end(&s, true, 0, &u);

    if ((t.can & CGROUP_CAN_MEMORY) && t.mode == CGROUP_V1) {
        /* a memory limit: a hog is killed by the kernel in its group,
         * counted, its peak the limit; written once, then not again */
        struct cgroup_limits lim = {.mem_bytes = 32u << 20};
        pid = start(&s, &lim, "head -c 200m /dev/zero | tail -n 1 > /dev/null", &pidfd);
        CHECK(pid > 0);
        int st = reap(pidfd);
        CHECK(st != 0);
        (void)cgroup_slot_reap(&s);
        for (int i = 0; i < 500 && !cgroup_slot_empty(&s); i++)
            usleep(10000);
        cgroup_slot_end(&s, true, lim.mem_bytes, &u);
        CHECK(u.have_oom && u.oom_kills >= 1);
        CHECK_U64(u.peak_bytes, lim.mem_bytes);
        CHECK_U64(sh.mem_limit, lim.mem_bytes);
        pid = start(&s, &lim, "true", &pidfd);
        CHECK_EQ(reap(pidfd), 0);
        cgroup_slot_end(&s, false, lim.mem_bytes, &u);
        CHECK_EQ(u.oom_kills, 0);
        /* back to none */
        pid = start(&s, &none, "true", &pidfd);
        CHECK_EQ(reap(pidfd), 0);
        cgroup_slot_end(&s, false, 0, &u);
        CHECK_U64(sh.mem_limit, 0);
    }
    if (t.mode == CGROUP_V1) {
        /* the child joined each v1 group itself (a write of 0 to the
         * group's tasks): memory always, pids with a process limit, and
         * the v2 group beside them when there is one */
        struct cgroup_limits lim = {.pids = 64};
        pid = start(&s, &lim, "sleep 0.3", &pidfd);
        CHECK(pid > 0);
        usleep(50000);
        if (t.can & CGROUP_CAN_MEMORY)
            CHECK(in_group_of(pid, "memory", slot0));
        if (t.can & CGROUP_CAN_PIDS)
            CHECK(in_group_of(pid, "pids", slot0));
        if (t.dir[CGROUP_H_UNIFIED][0])
            CHECK(in_group_of(pid, "", slot0));
        CHECK_EQ(reap(pidfd), 0);
        CHECK_EQ(cgroup_slot_reap(&s), 0);
        cgroup_slot_end(&s, false, 0, &u);
    }
    if (t.can & CGROUP_CAN_PIDS) {
        /* a process limit: the shell cannot start its tenth sleeper */
        struct cgroup_limits lim = {.pids = 4};
        pid = start(&s, &lim,
                    "i=0; while [ $i -lt 40 ]; do sleep 300 & i=$((i+1)); done 2>/dev/null; "
                    "exit 0",
                    &pidfd);
        CHECK(pid > 0);
        int st = reap(pidfd);
        CHECK(st != 0); /* dash gives up when it cannot fork */
        n = cgroup_slot_reap(&s);
        CHECK(n >= 1 && n <= 3);
        for (int i = 0; i < 500 && !cgroup_slot_empty(&s); i++)
            usleep(10000);
        CHECK(cgroup_slot_empty(&s));
        cgroup_slot_end(&s, true, 0, &u);
    }
    cgroup_slot_close(&s);
    cgroup_slot_close(&s); /* twice is fine */

    /* the tree goes; a sleeper still in slot 1 is killed with it */
    struct cgroup_slot s1;
    struct cgroup_shared sh1;
    memset(&sh1, 0, sizeof sh1);
    CHECK_EQ(cgroup_slot_open(&s1, &t, 1, &sh1, &err), 0);
    pid = start(&s1, &none, "exec sleep 300", &pidfd);
    CHECK(pid > 0);
    uint32_t killed = 0;
    CHECK_EQ(cgroup_tree_remove(&t, &killed), 0);
    CHECK(killed >= 1);
    CHECK(reap(pidfd) == SIGKILL);
    cgroup_slot_close(&s1);
    for (uint32_t i = 0; i < ndirs; i++)
        CHECK(!exists(dirs[i]));
    CHECK_EQ(cgroup_find(hex, dirs, CGROUP_NHIER), 0);
}

/* A tree whose runner died: found by its run id, swept. */
static void test_sweep(void)
{
    struct cgroup_env env;
    if (cgroup_detect(CGROUP_AUTO, &env, NULL) < 0 || env.mode == CGROUP_NONE)
        return;
    char hex[33];
    run_hex(hex, 99);
    struct cgroup_tree t;
    struct vl_err err = {0};
    CHECK_EQ(cgroup_tree_create(&env, hex, 1, &t, &err), 0);
    struct cgroup_shared sh;
    memset(&sh, 0, sizeof sh);
    struct cgroup_slot s;
    CHECK_EQ(cgroup_slot_open(&s, &t, 0, &sh, &err), 0);
    struct cgroup_limits none = {0};
    int pidfd = -1;
    int pid = start(&s, &none, "sleep 300 & exec sleep 300", &pidfd);
    CHECK(pid > 0);
    usleep(50000);
    cgroup_slot_close(&s);
    uint32_t found = 0, killed = 0;
    CHECK_EQ(cgroup_sweep(hex, &found, &killed), 0);
    CHECK(found >= 1);
    CHECK_EQ(killed, 2);
    CHECK(reap(pidfd) == SIGKILL);
    char dirs[CGROUP_NHIER][CGROUP_PATH];
    CHECK_EQ(cgroup_find(hex, dirs, CGROUP_NHIER), 0);
    CHECK(gone(pid));
    /* again: nothing to find */
    CHECK_EQ(cgroup_sweep(hex, &found, &killed), 0);
    CHECK_EQ(found, 0);
}

/* After every test, passed or not (a failed CHECK goes on): each tree this
 * process made is swept, what is in it killed, so that a failure leaves no
 * group and no process behind; a tree found here is itself a failure (the
 * tests remove their own). */
static void sweep_all(void)
{
    static const int seeds[] = {CGROUP_V1, CGROUP_V2, 99};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char hex[33];
        run_hex(hex, seeds[i]);
        uint32_t found = 0, killed = 0;
        CHECK_EQ(cgroup_sweep(hex, &found, &killed), 0);
        if (found)
            fprintf(stderr, "left behind by seed %d: %u groups, %u processes (now swept)\n",
                    seeds[i], found, killed);
        CHECK_EQ(found, 0);
    }
}

int main(void)
{
    bool ok;
    CHECK_EQ(cgroup_mode_parse("auto", &ok), CGROUP_AUTO);
    CHECK(ok);
    CHECK_EQ(cgroup_mode_parse("cgroup1", &ok), CGROUP_V1);
    CHECK_EQ(cgroup_mode_parse("cgroup2", &ok), CGROUP_V2);
    CHECK_EQ(cgroup_mode_parse("none", &ok), CGROUP_NONE);
    cgroup_mode_parse("cgroup3", &ok);
    CHECK(!ok);
    CHECK_STR(cgroup_mode_name(CGROUP_V1), "cgroup1");
    struct cgroup_env env;
    CHECK_EQ(cgroup_detect(CGROUP_NONE, &env, NULL), 0);
    CHECK_EQ(env.mode, CGROUP_NONE);
    CHECK_STR(env.why, "--limits-backend none");
    CHECK_EQ(cgroup_detect(CGROUP_AUTO, &env, NULL), 0);
    if (env.mode == CGROUP_NONE) {
        fprintf(stderr, "skip: no writable cgroup hierarchy here (%s)\n", env.why);
        return check_done() ? check_done() : CHECK_SKIP;
    }
    struct vl_err err = {0};
    CHECK_EQ(spawner_init(&g_sp, SPAWN_VFORK, 1, &err), 0);
    test_backend(CGROUP_V1);
    test_backend(CGROUP_V2);
    /* the cgroup1 paths without a v2 mount beside them: the freezer */
    setenv("VOLLEY_CGROUP1_NO_V2", "1", 1);
    test_backend(CGROUP_V1);
    unsetenv("VOLLEY_CGROUP1_NO_V2");
    test_sweep();
    sweep_all();
    spawner_fini(&g_sp);
    return check_done();
}

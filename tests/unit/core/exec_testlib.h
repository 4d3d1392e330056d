/*
 * exec_testlib.h - helpers for the engine's tests: a scratch directory, a
 * job source over a list of commands (flat, chained, or held back until
 * other jobs end), results kept per attempt, logs read back into memory,
 * and process hygiene: after a test no child of ours is left (zombie or
 * not) and no process remains in any process group a job created. A test
 * that fails still kills those groups (by pgid) before it returns; one that
 * exits early or is interrupted (SIGINT, SIGTERM, SIGHUP) kills them and
 * removes its scratch directory on the way out.
 *
 * Header-only (static functions): each test binary includes it once.
 */
#ifndef VOLLEY_TESTS_EXEC_TESTLIB_H
#define VOLLEY_TESTS_EXEC_TESTLIB_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/exec.h"
#include "core/logread.h"
#include "scratch.h"

#define TL_MAX_JOBS 4096
#define TL_MAX_RESULTS 8192

/* ---- scratch directory ---- */

static __attribute__((unused)) char tl_dir[256];
static volatile sig_atomic_t tl_dir_live; /* tl_dir exists and is ours */

/* Removes dir and all it holds (also from the signal handler below). */
static __attribute__((unused)) void tl_rmdir(const char *dir)
{
    scratch_rmtree_at(AT_FDCWD, dir, 8);
    if (dir == tl_dir)
        tl_dir_live = 0;
}

static __attribute__((unused)) uint64_t tl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- process hygiene ---- */

/* volatile: the signal handler below reads them */
static volatile pid_t tl_pgids[TL_MAX_RESULTS];
static volatile sig_atomic_t tl_npgids;

static __attribute__((unused)) void tl_note_pgid(pid_t p)
{
    if (p > 0 && tl_npgids < TL_MAX_RESULTS)
        tl_pgids[tl_npgids++] = p;
}

/* Reads pid, ppid, pgrp and state of /proc/<name>/stat. */
static __attribute__((unused)) bool tl_stat(const char *name, pid_t *pid, pid_t *ppid, pid_t *pgrp,
                                            char *state)
{
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%s/stat", name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!rp)
        return false;
    *pid = (pid_t)atoi(buf);
    int pp, pg;
    if (sscanf(rp + 2, "%c %d %d", state, &pp, &pg) != 3)
        return false;
    *ppid = pp;
    *pgrp = pg;
    return true;
}

/* Counts our children and the members of job process groups; prints them. */
static __attribute__((unused)) int tl_strays(bool print)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t pid, ppid, pgrp;
        char st;
        if (!tl_stat(e->d_name, &pid, &ppid, &pgrp, &st))
            continue;
        bool ours = ppid == getpid();
        for (int i = 0; !ours && i < tl_npgids; i++)
            ours = pgrp == tl_pgids[i];
        if (ours && pid != getpid()) {
            n++;
            if (print)
                fprintf(stderr, "stray process %d (ppid %d, pgrp %d, state %c)\n", pid, ppid, pgrp,
                        st);
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* Kills every group a job created and reaps our children. */
static __attribute__((unused)) void tl_kill_all(void)
{
    for (int i = 0; i < tl_npgids; i++)
        kill(-tl_pgids[i], SIGKILL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* ---- an early exit or an interrupted test ---- */

/* Kills every group a job created (SIGKILL: some ignore SIGTERM, and they
 * are no children of ours once we are gone) and removes the scratch
 * directory. Async-signal-safe. */
static void tl_cleanup(void)
{
    int saved = errno;
    for (int i = 0; i < tl_npgids; i++)
        if (tl_pgids[i] > 1) /* never kill(0) or kill(-1) */
            kill(-tl_pgids[i], SIGKILL);
    if (tl_dir_live)
        scratch_rmtree_at(AT_FDCWD, tl_dir, 8);
    errno = saved;
}

/* A fresh scratch directory, in tl_dir (one at a time: tl_rmdir the one
 * before). The first call arranges the cleanup at exit and on signals. */
static __attribute__((unused)) const char *tl_mkdir(void)
{
    scratch_at_exit(tl_cleanup);
    snprintf(tl_dir, sizeof tl_dir, "/tmp/volley-test-XXXXXX");
    if (!mkdtemp(tl_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    tl_dir_live = 1;
    return tl_dir;
}

/* The hygiene check after a test: nothing may be left. Waits for
 * processes being killed to go (milliseconds; up to 20 s: a hang, 10x and
 * more what a loaded machine takes), then fails and kills what is left. */
static __attribute__((unused)) void tl_check_clean(const char *test)
{
    uint64_t t0 = tl_now_ms();
    while (tl_strays(false) && tl_now_ms() - t0 < 20000)
        usleep(10000);
    int n = tl_strays(true);
    if (n)
        fprintf(stderr, "%s: %d stray processes\n", test, n);
    CHECK_EQ(n, 0);
    tl_kill_all();
    tl_npgids = 0;
}

/* ---- job sources ---- */

struct tl_res {
    struct exec_result r;
};

struct tl_src {
    struct exec_job jobs[TL_MAX_JOBS];
    uint32_t njobs;
    uint32_t next;     /* next job to hand out */
    int mode;          /* TL_FLAT, TL_CHAIN, TL_ROUNDS */
    uint32_t released; /* jobs handed out may not pass this (chain / rounds) */
    uint32_t round;    /* rounds: jobs per round */
    uint32_t finals;   /* jobs with a final result */
    struct tl_res res[TL_MAX_RESULTS];
    uint32_t nres;
    struct exec_engine *e;
    /* optional hooks */
    void (*on_done)(struct tl_src *ts, const struct exec_result *r);
};

enum { TL_FLAT = 0, TL_CHAIN = 1, TL_ROUNDS = 2 };

static __attribute__((unused)) enum exec_next tl_next(void *ctx, struct exec_job *job)
{
    struct tl_src *ts = ctx;
    if (ts->next >= ts->njobs)
        return EXEC_NEXT_DONE;
    if (ts->mode != TL_FLAT && ts->next >= ts->released)
        return EXEC_NEXT_EMPTY;
    *job = ts->jobs[ts->next++];
    return EXEC_NEXT_JOB;
}

/* Notes each process a job starts, as it starts, so that an interrupted
 * test can end the groups of the jobs still running. */
static __attribute__((unused)) void tl_started(void *ctx, uint32_t jid, int pid, uint64_t start_ns)
{
    tl_note_pgid(pid);
}

static __attribute__((unused)) void tl_done(void *ctx, const struct exec_result *r)
{
    struct tl_src *ts = ctx;
    if (ts->nres < TL_MAX_RESULTS)
        ts->res[ts->nres++].r = *r;
    if (r->final) {
        ts->finals++;
        if (ts->mode == TL_CHAIN)
            ts->released = ts->finals + 1;
        else if (ts->mode == TL_ROUNDS && ts->finals % ts->round == 0)
            ts->released = ts->finals + ts->round;
    }
    if (ts->on_done)
        ts->on_done(ts, r);
}

static __attribute__((unused)) void tl_src_init(struct tl_src *ts, int mode, uint32_t round)
{
    memset(ts, 0, sizeof *ts);
    ts->mode = mode;
    ts->round = round ? round : 1;
    ts->released = mode == TL_CHAIN ? 1 : ts->round;
}

static __attribute__((unused)) struct exec_job *tl_add(struct tl_src *ts, const char *name,
                                                       const char *cmd)
{
    struct exec_job *j = &ts->jobs[ts->njobs];
    memset(j, 0, sizeof *j);
    j->jid = ts->njobs;
    j->attempt = 1;
    j->name = name;
    j->cmd = cmd;
    j->tag = 1000 + ts->njobs;
    ts->njobs++;
    return j;
}

static __attribute__((unused)) struct exec_source tl_source(struct tl_src *ts)
{
    struct exec_source s = {.ctx = ts, .next = tl_next, .started = tl_started, .done = tl_done};
    return s;
}

/* The final result of job jid (NULL if none). */
static __attribute__((unused)) const struct exec_result *tl_final(const struct tl_src *ts,
                                                                  uint32_t jid)
{
    for (uint32_t i = 0; i < ts->nres; i++)
        if (ts->res[i].r.jid == jid && ts->res[i].r.final)
            return &ts->res[i].r;
    return NULL;
}

/* Result of attempt a of jid. */
static __attribute__((unused)) const struct exec_result *tl_attempt(const struct tl_src *ts,
                                                                    uint32_t jid, uint32_t a)
{
    for (uint32_t i = 0; i < ts->nres; i++)
        if (ts->res[i].r.jid == jid && ts->res[i].r.attempt == a)
            return &ts->res[i].r;
    return NULL;
}

/* ---- engine and logs ---- */

static __attribute__((unused)) struct exec_engine *tl_open(const char *dir, uint32_t k,
                                                           void (*tweak)(struct exec_config *))
{
    struct exec_config cfg;
    exec_config_defaults(&cfg);
    cfg.max_running = k;
    cfg.log_dir = dir;
    cfg.kill_grace_ms = 300;
    cfg.eof_wait_ms = 300;
    if (tweak)
        tweak(&cfg);
    struct vl_err err = {0};
    struct exec_engine *e = exec_engine_open(&cfg, &err);
    if (!e) {
        fprintf(stderr, "exec_engine_open: %s\n", err.msg);
        exit(1);
    }
    return e;
}

static __attribute__((unused)) int tl_run(struct exec_engine *e, struct tl_src *ts)
{
    struct exec_source src = tl_source(ts);
    ts->e = e;
    struct vl_err err = {0};
    int rc = exec_engine_run(e, &src, &err);
    if (rc < 0)
        fprintf(stderr, "exec_engine_run: %s\n", err.msg);
    return rc;
}

/* A log read back: malloc'd bytes (NUL-terminated for convenience). */
struct tl_log {
    char *p;
    size_t len;
    int rc;
    struct logread_info info;
    char msg[VL_ERR_MSG];
};

static __attribute__((unused)) struct tl_log tl_read_log(const char *dir, uint32_t jid,
                                                         uint32_t attempt, unsigned stream,
                                                         const struct logread_ref *hint)
{
    struct tl_log l;
    memset(&l, 0, sizeof l);
    int fd = memfd_create("log", MFD_CLOEXEC);
    struct vl_err err = {0};
    l.rc = logread_copy(dir, jid, attempt, stream, hint, fd, &l.info, &err);
    snprintf(l.msg, sizeof l.msg, "%s", err.msg);
    off_t n = lseek(fd, 0, SEEK_END);
    l.len = n > 0 ? (size_t)n : 0;
    l.p = malloc(l.len + 1);
    if (l.len && pread(fd, l.p, l.len, 0) != (ssize_t)l.len)
        l.rc = -EIO;
    l.p[l.len] = '\0';
    close(fd);
    return l;
}

#endif /* VOLLEY_TESTS_EXEC_TESTLIB_H */

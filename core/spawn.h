/*
 * spawn.h - starting one job process: clone + execve, with the child set up
 * for a job before it execs (own process group, default signal
 * dispositions and an empty mask, stdin/stdout/stderr from the caller, no
 * other fd, a working directory, an optional CPU affinity).
 *
 * io_uring cannot spawn, and fork copies page tables (3-6x slower here, and
 * it grows with the runner's size), so the child shares our memory until it
 * execs: clone(CLONE_VM | CLONE_PIDFD). Two ways to wait for that exec:
 *
 *   SPAWN_VFORK  CLONE_VFORK: the caller sleeps until the child has exec'd
 *                (0.14-2.5 ms here). Any memory may be reused afterwards.
 *   SPAWN_ASYNC  no CLONE_VFORK, but CLONE_CHILD_CLEARTID on a word of the
 *                stack slot: the kernel zeroes it (and FUTEX_WAKEs it) when
 *                the child releases our memory, at exec or exit. The caller
 *                goes on at once; the stack slot and everything the request
 *                points to stay untouched until spawner_busy() is false.
 *                A job is reaped only after its exec, so a slot reused only
 *                after its job was reaped is always free.
 *
 * docs/execution.md has the measurements that chose between them.
 *
 * The child shares our memory and our TLS (errno, the allocator's thread
 * cache), so it makes raw syscalls only: no libc function, no malloc, no
 * stdio, no locks, no errno. On x86_64 they are inline `syscall`
 * instructions; elsewhere SPAWN_ASYNC is refused (glibc's syscall() writes
 * errno, which only a suspended caller can tolerate).
 *
 * Signals: every signal is blocked around clone (by spawner_start, or for
 * a whole run by a caller that sets sigs_blocked), so a signal cannot run
 * one of our handlers on the child's stack before the child has reset the
 * dispositions in sig_dfl (spawn_sig_sample) and cleared its mask.
 * SIGCHLD must not be ignored in the caller (the kernel would auto-reap).
 *
 * Control groups (cgroup.h): a request may name a v2 group to clone the
 * child into (clone3 with CLONE_INTO_CGROUP, through a small x86_64
 * trampoline: glibc 2.36 has no clone3 wrapper that takes a function, and
 * a CLONE_VM child must start on its own stack) and v1 groups the child
 * joins before exec (a write of "0" to each group's v1 `tasks` or v2
 * cgroup.procs file, a few us of the child's time each here).
 */
#ifndef VOLLEY_CORE_SPAWN_H
#define VOLLEY_CORE_SPAWN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

enum spawn_mode {
    SPAWN_VFORK = 0, /* clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD): caller stalls until exec */
    SPAWN_ASYNC = 1, /* clone(CLONE_VM|CLONE_PIDFD|CLONE_CHILD_CLEARTID): caller goes on */
};

/*
 * What the child does. Everything here and everything it points to must stay
 * valid and unchanged until spawner_start returns (VFORK) or spawner_busy()
 * turns false (ASYNC).
 */
struct spawn_req {
    const char *path;     /* program to execve */
    char *const *argv;    /* its argv */
    char *const *envp;    /* its environment */
    char *const *sh_argv; /* if execve(path) fails: execve("/bin/sh", sh_argv), so the
                             shell reports the failure exactly as it would; NULL: none */
    int fd0, fd1, fd2;    /* become the child's stdin, stdout and stderr */
    int cwd_fd;           /* directory fd to fchdir to; -1: stay in the caller's cwd */
    const void *affinity; /* cpu_set_t to apply before exec, or NULL */
    size_t affinity_len;  /* its size in bytes */
    uint64_t sig_dfl;     /* bit s-1 set: signal s gets SIG_DFL in the child */
    int death_sig;        /* nonzero: the child gets this signal when the thread that
                             started it dies (PR_SET_PDEATHSIG, kept across execve), and
                             exits at once if that thread is gone already */
    int into_fd;          /* > 0: a v2 cgroup directory the child is cloned into (clone3
                             CLONE_INTO_CGROUP, x86_64); 0: the caller's group (so a
                             zeroed request has none; cgroup.h never hands out fd 0) */
    const int *join;      /* v1 tasks / v2 cgroup.procs files the child writes "0" to, joining
                             those groups, before anything else it does: njoin of them */
    uint32_t njoin;
};

/* What a child gets from spawner_start: its request and who started it. */
struct spawn_arg {
    const struct spawn_req *req;
    int parent; /* the spawner's process id, for the death_sig check */
};

/* Child stacks for one spawning thread. Caller-allocated (init/fini). */
struct spawner {
    enum spawn_mode mode;
    unsigned nstacks;       /* slots: requests in flight at most (ASYNC) */
    size_t stack_bytes;     /* per slot */
    uint8_t *stacks;        /* nstacks * stack_bytes, one mapping */
    int *busy;              /* [nstacks] ASYNC: nonzero until the child released our memory */
    struct spawn_arg *args; /* [nstacks] the argument of the child on each slot */
    int self;               /* our process id (getpid at spawner_init) */
    sigset_t all;           /* every signal: the caller's mask around clone */
    bool sigs_blocked;      /* the caller keeps the signals blocked already (the engine
                               does during a run): skip the two sigprocmask calls */
};

/* Maps the stacks. 0, or a negative errno with err set (-ENOTSUP: ASYNC on
 * an architecture without raw syscalls here). Use the spawner only in the
 * process that initialized it: death_sig compares against its pid. */
int spawner_init(struct spawner *sp, enum spawn_mode mode, unsigned nstacks, struct vl_err *err);
/* Unmaps; ASYNC children still before exec are waited for first. NULL ok. */
void spawner_fini(struct spawner *sp);

/*
 * Starts req on stack slot idx (< nstacks). Returns the child's pid (> 0)
 * and its pidfd (O_CLOEXEC) in *pidfd, or a negative errno (nothing was
 * started: EAGAIN, ENOMEM ...). In ASYNC mode waits first if slot idx is
 * still busy (it never is when the caller reuses a slot after reaping).
 */
int spawner_start(struct spawner *sp, unsigned idx, const struct spawn_req *req, int *pidfd);

/* ASYNC: true while the child started on slot idx may still read its
 * request; always false for VFORK. */
bool spawner_busy(const struct spawner *sp, unsigned idx);

/*
 * The signals a child must reset to SIG_DFL: every signal whose disposition
 * in this process is not SIG_DFL right now (handled or ignored). Bit s-1
 * stands for signal s. exec_engine_run takes it when it starts, so a
 * handler installed while a run goes on is not reset in the jobs: install
 * handlers before the run.
 */
uint64_t spawn_sig_sample(void);

/* True if SIGCHLD is ignored or SA_NOCLDWAIT is set: children would be
 * reaped by the kernel and waitid() would fail with ECHILD. */
bool spawn_sigchld_ignored(void);

/* Clones a child into the v2 cgroup dir_fd (clone3 CLONE_INTO_CGROUP, as
 * spawner_start does for a request with into_fd) that exits 0 at once,
 * and reaps it: 0 with its wait status in *status if the kernel took it,
 * else a negative errno (-ENOTSUP where this build has no clone3 path). */
int spawn_probe_into(int dir_fd, int *status);

#endif /* VOLLEY_CORE_SPAWN_H */

/*
 * spawn.c - see spawn.h. The child side (spawn_child) runs on our memory
 * before exec: raw syscalls only, no sanitizer instrumentation, nothing
 * that touches errno, the allocator or TLS state.
 *
 * Child syscalls before execve: prctl(PR_SET_PDEATHSIG) and getppid when
 * asked for a death signal (a volley worker asks), setpgid, rt_sigpending
 * (two rt_sigaction more per terminal signal found pending), one
 * rt_sigaction per signal in sig_dfl, up to 3 dup2 (plus fcntl when a
 * source fd is below 3), close_range(3, ~0) so no fd we did not mean to
 * pass survives even if a caller leaked one without O_CLOEXEC, fchdir,
 * sched_setaffinity when asked, rt_sigprocmask (docs/execution.md counts
 * them in a volley worker), ~1 us each on this VM, paid by the child, not
 * the runner (in ASYNC mode), but on the path from one job's exit to the
 * next one's exec.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPAWN_STACK_BYTES (64u * 1024u)

#define CHILD_FN __attribute__((no_sanitize("address", "undefined")))
#define CHILD_INLINE                                                                               \
    static inline __attribute__((always_inline, no_sanitize("address", "undefined")))

#if defined(__x86_64__)
#define SPAWN_RAW_SYSCALLS 1
/* One syscall instruction; returns the kernel's value (-errno on failure)
 * and leaves errno alone. */
CHILD_INLINE long raw6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
#define SPAWN_RAW_SYSCALLS 0
/* Only SPAWN_VFORK gets here: the caller is suspended, so errno may go. */
CHILD_INLINE long raw6(long n, long a, long b, long c, long d, long e, long f)
{
    long r = syscall(n, a, b, c, d, e, f);
    return r < 0 ? -errno : r;
}
#endif

#define RAW(n, a, b, c, d) raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* The kernel's struct sigaction on x86_64 and arm64 (rt_sigaction). */
struct ksigaction {
    unsigned long handler;
    unsigned long flags;
    unsigned long restorer;
    uint64_t mask;
};
static const struct ksigaction ksig_default;                 /* SIG_DFL, no flags, no mask */
static const struct ksigaction ksig_ignore = {.handler = 1}; /* SIG_IGN */
static const uint64_t ksig_empty;                            /* empty mask */

static const char sh_path[] = "/bin/sh";

/* The signals a terminal sends to its foreground process group. */
#define SIGBIT(s) (1ull << ((s)-1))
#define GROUP_SIGS                                                                                 \
    (SIGBIT(SIGHUP) | SIGBIT(SIGINT) | SIGBIT(SIGQUIT) | SIGBIT(SIGTSTP) | SIGBIT(SIGTTIN) |       \
     SIGBIT(SIGTTOU))

/* Writes "volley: cannot execute PATH (errno N)\n" to fd 2, by hand. */
CHILD_INLINE void child_report(const char *path, long err)
{
    char buf[512];
    size_t n = 0;
    const char *pre = "volley: cannot execute ";
    for (const char *p = pre; *p && n < 300; p++)
        buf[n++] = *p;
    for (const char *p = path; *p && n < 450; p++)
        buf[n++] = *p;
    const char *mid = " (errno ";
    for (const char *p = mid; *p; p++)
        buf[n++] = *p;
    char digits[12];
    int nd = 0;
    unsigned long v = (unsigned long)(err < 0 ? -err : err);
    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && nd < 11);
    while (nd)
        buf[n++] = digits[--nd];
    buf[n++] = ')';
    buf[n++] = '\n';
    RAW(SYS_write, 2, buf, n, 0);
}

CHILD_FN static int spawn_child(void *varg)
{
    const struct spawn_arg *a = varg;
    const struct spawn_req *r = a->req;
    long rc = 0;

    /* Until the caller has noted our pid somewhere, nobody else could stop
     * us if it died: the death signal covers that window (and after).
     * Set, then check that the caller did not die before it was set. */
    if (r->death_sig) {
        RAW(SYS_prctl, PR_SET_PDEATHSIG, r->death_sig, 0, 0);
        if (RAW(SYS_getppid, 0, 0, 0, 0) != a->parent)
            raw6(SYS_exit_group, 127, 0, 0, 0, 0, 0);
    }
    RAW(SYS_setpgid, 0, 0, 0, 0);
    /* Into the job's v1 groups (memory, pids, freezer) before it can use
     * anything: a job that could not be limited must not run. */
    for (uint32_t i = 0; i < r->njoin; i++)
        if ((rc = RAW(SYS_write, r->join[i], "0", 1, 0)) < 0) {
            child_report("(joining the job's cgroup)", rc);
            raw6(SYS_exit_group, 127, 0, 0, 0, 0, 0);
        }
    /* Until setpgid the child was in the runner's process group: a Ctrl-C
     * (or a hangup) sent to that group may be pending on it now, and would
     * hit the job right after exec. Ignoring a signal discards its pending
     * instance; then it is set back to the default. One rt_sigpending
     * finds them (everything is blocked here, so a pending signal stays
     * pending): nothing more to do in the usual case. */
    uint64_t pending = 0;
    if (RAW(SYS_rt_sigpending, &pending, sizeof pending, 0, 0) == 0 && (pending & GROUP_SIGS)) {
        for (int s = 1; s <= 64; s++) {
            if (!((pending & GROUP_SIGS) >> (s - 1) & 1u))
                continue;
            RAW(SYS_rt_sigaction, s, &ksig_ignore, 0, sizeof(uint64_t));
            RAW(SYS_rt_sigaction, s, &ksig_default, 0, sizeof(uint64_t));
        }
    }
    for (int s = 1; s <= 64; s++)
        if ((r->sig_dfl >> (s - 1)) & 1u)
            RAW(SYS_rt_sigaction, s, &ksig_default, 0, sizeof(uint64_t));

    int fds[3];
    fds[0] = r->fd0;
    fds[1] = r->fd1;
    fds[2] = r->fd2;
    /* A source below 3 could be overwritten by an earlier dup2: move it up. */
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0 && fds[i] < 3) {
            rc = RAW(SYS_fcntl, fds[i], F_DUPFD_CLOEXEC, 3, 0);
            if (rc < 0)
                goto fail;
            fds[i] = (int)rc;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0)
            RAW(SYS_close, i, 0, 0, 0);
        else if ((rc = RAW(SYS_dup2, fds[i], i, 0, 0)) < 0)
            goto fail;
    }
    if (r->cwd_fd >= 0 && (rc = RAW(SYS_fchdir, r->cwd_fd, 0, 0, 0)) < 0)
        goto fail;
    RAW(SYS_close_range, 3, ~0u, 0, 0);
    if (r->affinity)
        RAW(SYS_sched_setaffinity, 0, r->affinity_len, r->affinity, 0);
    RAW(SYS_rt_sigprocmask, SIG_SETMASK, &ksig_empty, 0, sizeof(uint64_t));

    rc = RAW(SYS_execve, r->path, r->argv, r->envp, 0);
    if (r->sh_argv) {
        /* Let the shell find out again and report it in its own words
         * ("sh: 1: foo: not found", exit 127; "Permission denied", 126). */
        rc = RAW(SYS_execve, sh_path, r->sh_argv, r->envp, 0);
        child_report(sh_path, rc);
    } else {
        child_report(r->path, rc);
    }
    raw6(SYS_exit_group, 127, 0, 0, 0, 0, 0);
    return 127;
fail:
    child_report("(child setup)", rc);
    raw6(SYS_exit_group, 127, 0, 0, 0, 0, 0);
    return 127;
}

#if SPAWN_RAW_SYSCALLS
/* The kernel's struct clone_args (clone3), version 2 (with cgroup). */
struct clone_args_k {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* clone3 with the child on its own stack: the child calls fn(arg) and
 * exits with its return value, never coming back here; the parent gets
 * the child's pid or -errno. The child starts with the parent's registers
 * but rsp at the new stack's top, so fn and arg travel in r12 and r13,
 * which the syscall preserves. */
CHILD_FN __attribute__((noinline)) static long clone3_call(struct clone_args_k *ca,
                                                           int (*fn)(void *), void *arg)
{
    register long rax __asm__("rax") = SYS_clone3;
    register long rdi __asm__("rdi") = (long)ca;
    register long rsi __asm__("rsi") = (long)sizeof *ca;
    register long r12 __asm__("r12") = (long)fn;
    register long r13 __asm__("r13") = (long)arg;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "mov %%r13, %%rdi\n\t"
                     "call *%%r12\n\t"
                     "mov %%eax, %%edi\n\t"
                     "mov $231, %%eax\n\t" /* exit_group */
                     "syscall\n\t"
                     "hlt\n"
                     "1:\n"
                     : "+a"(rax)
                     : "D"(rdi), "S"(rsi), "r"(r12), "r"(r13)
                     : "rcx", "r11", "memory");
    return rax;
}

CHILD_FN static int probe_child(void *arg)
{
    (void)arg;
    raw6(SYS_exit_group, 0, 0, 0, 0, 0, 0);
    return 0;
}

int spawn_probe_into(int dir_fd, int *status)
{
    *status = -1;
    size_t bytes = 64 * 1024;
    uint8_t *stack =
        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return -errno;
    int pidfd = -1;
    struct clone_args_k ca = {
        .flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_INTO_CGROUP,
        .pidfd = (uint64_t)(uintptr_t)&pidfd,
        .exit_signal = SIGCHLD,
        .stack = (uint64_t)(uintptr_t)stack,
        .stack_size = bytes - 64,
        .cgroup = (uint64_t)dir_fd,
    };
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    long pid = clone3_call(&ca, probe_child, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    int rc = 0;
    if (pid < 0) {
        rc = (int)pid;
    } else {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
            ;
        close(pidfd);
        *status = si.si_code == CLD_EXITED ? si.si_status << 8 : si.si_status;
    }
    munmap(stack, bytes);
    return rc;
}
#else
int spawn_probe_into(int dir_fd, int *status)
{
    (void)dir_fd;
    *status = -1;
    return -ENOTSUP;
}
#endif

int spawner_init(struct spawner *sp, enum spawn_mode mode, unsigned nstacks, struct vl_err *err)
{
    memset(sp, 0, sizeof *sp);
    if (mode == SPAWN_ASYNC && !SPAWN_RAW_SYSCALLS)
        return vl_err_set(err, -ENOTSUP,
                          "asynchronous spawning needs raw syscalls, which this build has only "
                          "on x86_64; use the vfork mode");
    if (nstacks == 0)
        nstacks = 1;
    sp->mode = mode;
    sp->nstacks = nstacks;
    sp->stack_bytes = SPAWN_STACK_BYTES;
    size_t bytes = (size_t)nstacks * sp->stack_bytes;
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (m == MAP_FAILED)
        return vl_err_sys(err, -errno, "cannot map %u child stacks", nstacks);
    sp->stacks = m;
    /* A guard page at the low end of every stack: an overflow faults
     * instead of writing into the next slot's stack. */
    long page = sysconf(_SC_PAGESIZE);
    for (unsigned i = 0; i < nstacks; i++)
        mprotect(sp->stacks + (size_t)i * sp->stack_bytes, (size_t)page, PROT_NONE);
    sp->busy = vl_xcalloc(nstacks, sizeof *sp->busy);
    sp->args = vl_xcalloc(nstacks, sizeof *sp->args);
    sp->self = (int)getpid();
    sigfillset(&sp->all);
    return 0;
}

static void wait_free(const struct spawner *sp, unsigned idx)
{
    int v;
    while ((v = __atomic_load_n(&sp->busy[idx], __ATOMIC_ACQUIRE)) != 0)
        syscall(SYS_futex, &sp->busy[idx], FUTEX_WAIT, v, NULL, NULL, 0);
}

void spawner_fini(struct spawner *sp)
{
    if (!sp || !sp->stacks)
        return;
    if (sp->mode == SPAWN_ASYNC)
        for (unsigned i = 0; i < sp->nstacks; i++)
            wait_free(sp, i);
    munmap(sp->stacks, (size_t)sp->nstacks * sp->stack_bytes);
    free(sp->busy);
    free(sp->args);
    memset(sp, 0, sizeof *sp);
}

bool spawner_busy(const struct spawner *sp, unsigned idx)
{
    return sp->mode == SPAWN_ASYNC && __atomic_load_n(&sp->busy[idx], __ATOMIC_ACQUIRE) != 0;
}

int spawner_start(struct spawner *sp, unsigned idx, const struct spawn_req *req, int *pidfd)
{
    if (idx >= sp->nstacks)
        return -EINVAL;
    /* 16-byte aligned top of this slot's stack (it grows down). */
    uint8_t *top = sp->stacks + (size_t)(idx + 1) * sp->stack_bytes - 64;
    int flags = CLONE_VM | CLONE_PIDFD | SIGCHLD;
    if (sp->mode == SPAWN_VFORK) {
        flags |= CLONE_VFORK;
    } else {
        wait_free(sp, idx);
        __atomic_store_n(&sp->busy[idx], 1, __ATOMIC_RELEASE);
        flags |= CLONE_CHILD_CLEARTID;
    }
    sigset_t old;
    if (!sp->sigs_blocked)
        pthread_sigmask(SIG_SETMASK, &sp->all, &old);
    sp->args[idx].req = req;
    sp->args[idx].parent = sp->self;
    int fd = -1;
    pid_t pid;
    int e;
#if SPAWN_RAW_SYSCALLS
    if (req->into_fd > 0) {
        uint8_t *base = sp->stacks + (size_t)idx * sp->stack_bytes;
        struct clone_args_k ca = {
            .flags = (uint64_t)(flags & ~0xff) | CLONE_INTO_CGROUP,
            .pidfd = (uint64_t)(uintptr_t)&fd,
            .child_tid = (uint64_t)(uintptr_t)&sp->busy[idx],
            .exit_signal = SIGCHLD,
            .stack = (uint64_t)(uintptr_t)base,
            .stack_size = (uint64_t)(top - base),
            .cgroup = (uint64_t)req->into_fd,
        };
        long r = clone3_call(&ca, spawn_child, &sp->args[idx]);
        pid = r < 0 ? -1 : (pid_t)r;
        e = r < 0 ? (int)-r : 0;
    } else
#endif
    {
        pid = clone(spawn_child, top, flags, &sp->args[idx], &fd, NULL, &sp->busy[idx]);
        e = errno;
    }
    if (!sp->sigs_blocked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        if (sp->mode == SPAWN_ASYNC)
            __atomic_store_n(&sp->busy[idx], 0, __ATOMIC_RELEASE);
        return -e;
    }
    *pidfd = fd;
    return pid;
}

uint64_t spawn_sig_sample(void)
{
    uint64_t m = 0;
    for (int s = 1; s <= 64; s++) {
        if (s == SIGKILL || s == SIGSTOP)
            continue;
        struct ksigaction old;
        /* The raw syscall also sees glibc's internal signals 32 and 33. */
        if (syscall(SYS_rt_sigaction, s, NULL, &old, sizeof(uint64_t)) == 0 &&
            old.handler != (unsigned long)SIG_DFL)
            m |= 1ull << (s - 1);
    }
    return m;
}

bool spawn_sigchld_ignored(void)
{
    struct sigaction sa;
    if (sigaction(SIGCHLD, NULL, &sa) != 0)
        return false;
    return sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT);
}

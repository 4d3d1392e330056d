/*
 * spawn_probe.c - volley's own spawn-rate probe: the physical limit that
 * the engine is measured against, in the same run.
 *
 * Starts a program (default /bin/true) N times with at most K children in
 * flight and reaps them with waitpid; `rate=` is spawns per second. The
 * child does nothing but execve, so this is the bare cost of clone + exec +
 * exit + reap on this machine; the engine does more (pipes, process group,
 * fd and signal reset) and is judged against this floor.
 *
 * Placement (-m) is what the engine design has to choose:
 *   vfork   clone(CLONE_VM|CLONE_VFORK) in the loop: the loop stalls until
 *           the child has exec'd
 *   async   clone(CLONE_VM|CLONE_CHILD_CLEARTID), no VFORK: the loop goes on,
 *           a child stack is reused once the kernel cleared its word
 *   thread  a spawner thread does the vfork clone; the main thread reaps and
 *           wakes the spawner through a futex
 * -c CPU pins the probe (and, as children inherit affinity, its children)
 * to one CPU; with -R the children reset their affinity to the probe's
 * original mask before exec, as a runner must for real jobs. -C CPU pins
 * the children alone to that CPU before exec (a diagnosis: with -c 0 -C 1
 * every child exits on the other CPU than the one that clones, and the
 * kernel stack it leaves in that CPU's cache is of no use to the next
 * clone; docs/execution.md).
 *
 * Output: one key=value line. runner_us = CPU time of this process (all its
 * threads, not the children) per spawn; stall_us = average time inside the
 * spawning clone() call; foreign_cpu_s = busy CPU time of other processes on
 * the machine during the run (contention).
 *
 * x86_64 Linux.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define STACK_BYTES (64 * 1024)

enum mode { M_VFORK, M_ASYNC, M_THREAD };
static const char *mode_name[] = {"vfork", "async", "thread"};

static const char *prog = "/bin/true";
static char *child_argv[2];
static cpu_set_t full_mask;
static int reset_affinity;
static cpu_set_t child_mask; /* -C */
static int child_pin = -1;

static long raw3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

/* The child: optionally widen the affinity, then exec. Raw syscalls only
 * (async mode shares memory and TLS with a running parent). */
__attribute__((no_sanitize("address", "undefined"))) static int child_fn(void *arg)
{
    (void)arg;
    if (reset_affinity)
        raw3(SYS_sched_setaffinity, 0, sizeof full_mask, (long)&full_mask);
    if (child_pin >= 0)
        raw3(SYS_sched_setaffinity, 0, sizeof child_mask, (long)&child_mask);
    raw3(SYS_execve, (long)prog, (long)child_argv, (long)environ);
    raw3(SYS_exit_group, 127, 0, 0);
    return 127;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double busy_s(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    int r = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (r < 8)
        return 0;
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double tv_s(struct timeval t)
{
    return (double)t.tv_sec + (double)t.tv_usec * 1e-6;
}

static uint8_t *stacks;
static uint64_t stall_ns;

/* Spawns on stack slot s; returns the pid. */
static pid_t spawn_one(enum mode m, int s, int *tidword)
{
    uint8_t *top = stacks + (size_t)(s + 1) * STACK_BYTES - 64;
    int flags = CLONE_VM | SIGCHLD;
    if (m == M_ASYNC) {
        *tidword = 1;
        flags |= CLONE_CHILD_CLEARTID;
    } else {
        flags |= CLONE_VFORK;
    }
    uint64_t t0 = now_ns();
    pid_t pid = clone(child_fn, top, flags, NULL, NULL, NULL, tidword);
    stall_ns += now_ns() - t0;
    if (pid < 0) {
        perror("clone");
        exit(1);
    }
    return pid;
}

/* thread mode: the spawner keeps started - reaped below k */
static _Atomic uint32_t reaped_word, started_word;
static long n_total, k_total;

static void *spawner_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);
    for (long started = 0; started < n_total; started++) {
        for (;;) {
            uint32_t r = atomic_load(&reaped_word);
            if (started - (long)r < k_total)
                break;
            syscall(SYS_futex, &reaped_word, FUTEX_WAIT_PRIVATE, r, NULL, NULL, 0);
        }
        spawn_one(M_THREAD, 0, NULL);
        atomic_store(&started_word, (uint32_t)(started + 1));
        syscall(SYS_futex, &started_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: spawn_probe [-m vfork|async|thread] [-n N] [-k K] [-p PROG] "
                    "[-c CPU [-R]] [-C CPU] [-t TAG]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    enum mode m = M_VFORK;
    long n = 20000, k = 1;
    int pin = -1, opt;
    const char *tag = "-";
    while ((opt = getopt(argc, argv, "m:n:k:p:c:C:Rt:")) != -1) {
        switch (opt) {
        case 'm':
            if (!strcmp(optarg, "vfork"))
                m = M_VFORK;
            else if (!strcmp(optarg, "async"))
                m = M_ASYNC;
            else if (!strcmp(optarg, "thread"))
                m = M_THREAD;
            else
                usage();
            break;
        case 'n':
            n = atol(optarg);
            break;
        case 'k':
            k = atol(optarg);
            break;
        case 'p':
            prog = optarg;
            break;
        case 'c':
            pin = atoi(optarg);
            break;
        case 'R':
            reset_affinity = 1;
            break;
        case 'C':
            child_pin = atoi(optarg);
            break;
        case 't':
            tag = optarg;
            break;
        default:
            usage();
        }
    }
    if (n < 1 || k < 1)
        usage();
    child_argv[0] = (char *)prog;
    if (access(prog, X_OK) != 0) {
        fprintf(stderr, "spawn_probe: cannot execute %s: %s\n", prog, strerror(errno));
        return 2;
    }
    sched_getaffinity(0, sizeof full_mask, &full_mask);
    if (child_pin >= 0) {
        if (child_pin >= CPU_SETSIZE || !CPU_ISSET(child_pin, &full_mask)) {
            fprintf(stderr, "spawn_probe: -C %d: not a CPU this process may use\n", child_pin);
            return 2;
        }
        CPU_ZERO(&child_mask);
        CPU_SET(child_pin, &child_mask);
    }
    if (pin >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(pin, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0) {
            perror("sched_setaffinity");
            return 2;
        }
    }
    stacks = mmap(NULL, (size_t)(k + 1) * STACK_BYTES, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (stacks == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    pid_t *slot_pid = calloc((size_t)k, sizeof *slot_pid);
    int *slot_tid = calloc((size_t)k, sizeof *slot_tid);

    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double b0 = busy_s();
    struct rusage c0;
    getrusage(RUSAGE_CHILDREN, &c0);
    uint64_t t0 = now_ns();
    long started = 0, reaped = 0, failed = 0, inflight = 0;
    pthread_t th;
    if (m == M_THREAD) {
        n_total = n;
        k_total = k;
        pthread_create(&th, NULL, spawner_main, NULL);
    }
    while (reaped < n) {
        while (m != M_THREAD && inflight < k && started < n) {
            long s = 0;
            while (slot_pid[s])
                s++;
            slot_pid[s] = spawn_one(m, (int)s, &slot_tid[s]);
            started++;
            inflight++;
        }
        if (m == M_THREAD) {
            /* nothing to reap until the spawner has started another child */
            uint32_t sw;
            while ((long)(sw = atomic_load(&started_word)) <= reaped)
                syscall(SYS_futex, &started_word, FUTEX_WAIT_PRIVATE, sw, NULL, NULL, 0);
        }
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            perror("waitpid");
            return 1;
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
        reaped++;
        if (m == M_THREAD) {
            atomic_store(&reaped_word, (uint32_t)reaped);
            syscall(SYS_futex, &reaped_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        } else {
            for (long s = 0; s < k; s++)
                if (slot_pid[s] == p) {
                    slot_pid[s] = 0;
                    break;
                }
            inflight--;
        }
    }
    if (m == M_THREAD)
        pthread_join(th, NULL);
    double wall = (double)(now_ns() - t0) * 1e-9;
    getrusage(RUSAGE_SELF, &r1);
    struct rusage c1;
    getrusage(RUSAGE_CHILDREN, &c1);
    double b1 = busy_s();
    double self_s = tv_s(r1.ru_utime) - tv_s(r0.ru_utime) + tv_s(r1.ru_stime) - tv_s(r0.ru_stime);
    double kids_s = tv_s(c1.ru_utime) - tv_s(c0.ru_utime) + tv_s(c1.ru_stime) - tv_s(c0.ru_stime);
    printf(
        "tag=%s probe=volley mode=%s k=%ld n=%ld pin=%d reset=%d child_cpu=%d prog=%s wall_s=%.3f "
        "rate=%.1f runner_us=%.1f stall_us=%.1f child_cpu_s=%.2f foreign_cpu_s=%.2f "
        "failed=%ld\n",
        tag, mode_name[m], k, n, pin, reset_affinity, child_pin, prog, wall, (double)n / wall,
        self_s / (double)n * 1e6, (double)stall_ns / (double)n * 1e-3, kids_s,
        b1 - b0 - self_s - kids_s, failed);
    free(slot_pid);
    free(slot_tid);
    return failed ? 1 : 0;
}

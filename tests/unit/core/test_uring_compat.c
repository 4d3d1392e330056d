/*
 * test_uring_compat.c - the opcodes liburing 2.3 lacks, used by hand: the
 * probe, WAITID on a pidfd, READ_MULTISHOT into an incremental buffer
 * ring, FUTEX_WAIT (value mismatch and a real wake), PIPE, and
 * pidfd_send_signal to a process group after its leader was reaped. A
 * capability the probe says is missing is skipped with a line saying so.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/uring_compat.h"

static struct io_uring ring;

static struct io_uring_cqe *wait1(void)
{
    struct io_uring_cqe *c = NULL;
    int rc = io_uring_submit_and_wait(&ring, 1);
    CHECK(rc >= 0);
    rc = io_uring_peek_cqe(&ring, &c);
    CHECK_EQ(rc, 0);
    return c;
}

static void test_waitid(void)
{
    int pidfd = -1;
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
    if (pid == 0)
        _exit(7);
    CHECK(pid > 0 && pidfd >= 0);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    struct io_uring_sqe *q = io_uring_get_sqe(&ring);
    uring_compat_prep_waitid(q, P_PIDFD, pidfd, &si, WEXITED);
    q->user_data = 50;
    struct io_uring_cqe *c = wait1();
    CHECK_EQ(c->user_data, 50);
    CHECK_EQ(c->res, 0);
    io_uring_cqe_seen(&ring, c);
    CHECK_EQ(si.si_pid, pid);
    CHECK_EQ(si.si_code, CLD_EXITED);
    CHECK_EQ(si.si_status, 7);
    CHECK(waitpid(pid, NULL, WNOHANG) < 0 && errno == ECHILD); /* reaped */
    close(pidfd);
}

static void test_multishot(bool inc)
{
    enum { NB = 4, BSZ = 4096 };
    void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static uint8_t bufs[NB][BSZ];
    struct io_uring_buf_ring *br = mem;
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)mem, .ring_entries = NB, .bgid = 3};
    reg.pad = inc ? IOU_PBUF_RING_INC_C : 0;
    CHECK_EQ(io_uring_register_buf_ring(&ring, &reg, 0), 0);
    io_uring_buf_ring_init(br);
    for (int i = 0; i < NB; i++)
        io_uring_buf_ring_add(br, bufs[i], BSZ, (uint16_t)i, NB - 1, i);
    io_uring_buf_ring_advance(br, NB);
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    struct io_uring_sqe *q = io_uring_get_sqe(&ring);
    uring_compat_prep_read_multishot(q, p[0], 3);
    q->user_data = 49;
    io_uring_submit(&ring);
    /* three small writes: with INC they land back to back in buffer 0 */
    uint32_t off = 0;
    const char *parts[3] = {"one", "two!", "three"};
    for (int i = 0; i < 3; i++) {
        CHECK(write(p[1], parts[i], strlen(parts[i])) == (ssize_t)strlen(parts[i]));
        struct io_uring_cqe *c = wait1();
        CHECK(c->res == (int)strlen(parts[i]));
        CHECK(c->flags & IORING_CQE_F_MORE);
        CHECK(c->flags & IORING_CQE_F_BUFFER);
        uint16_t bid = (uint16_t)(c->flags >> IORING_CQE_BUFFER_SHIFT);
        if (inc) {
            CHECK_EQ(bid, 0);
            CHECK(c->flags & IORING_CQE_F_BUF_MORE_C);
            CHECK(memcmp(bufs[0] + off, parts[i], strlen(parts[i])) == 0);
            off += (uint32_t)c->res;
        } else {
            CHECK_EQ(bid, i);
            CHECK(memcmp(bufs[bid], parts[i], strlen(parts[i])) == 0);
        }
        io_uring_cqe_seen(&ring, c);
    }
    close(p[1]);
    struct io_uring_cqe *c = wait1();
    CHECK_EQ(c->res, 0); /* EOF ends the request */
    CHECK(!(c->flags & IORING_CQE_F_MORE));
    CHECK(!(c->flags & IORING_CQE_F_BUFFER));
    io_uring_cqe_seen(&ring, c);
    close(p[0]);
    io_uring_unregister_buf_ring(&ring, 3);
    munmap(mem, 4096);
}

static _Atomic uint32_t word;

/* Started once the wait is submitted (armed: the word was 1), so the wake
 * comes after it whatever the timing. */
static void *waker(void *arg)
{
    (void)arg;
    atomic_store(&word, 2);
    syscall(SYS_futex, &word, FUTEX_WAKE, 1, NULL, NULL, 0);
    return NULL;
}

static void test_futex(void)
{
    atomic_store(&word, 1);
    struct io_uring_sqe *q = io_uring_get_sqe(&ring);
    uring_compat_prep_futex_wait(q, (const uint32_t *)&word, 0, false, 0xffffffffu);
    q->user_data = 51;
    struct io_uring_cqe *c = wait1();
    CHECK_EQ(c->res, -EAGAIN); /* the word is not 0 */
    io_uring_cqe_seen(&ring, c);
    q = io_uring_get_sqe(&ring);
    uring_compat_prep_futex_wait(q, (const uint32_t *)&word, 1, false, 0xffffffffu);
    q->user_data = 52;
    CHECK_EQ(io_uring_submit(&ring), 1);
    CHECK_EQ(io_uring_peek_cqe(&ring, &c), -EAGAIN); /* it waits */
    pthread_t th;
    pthread_create(&th, NULL, waker, NULL);
    c = wait1();
    CHECK_EQ(c->user_data, 52);
    CHECK_EQ(c->res, 0);
    io_uring_cqe_seen(&ring, c);
    pthread_join(th, NULL);
}

static void test_pipe_op(void)
{
    int fds[2] = {-1, -1};
    struct io_uring_sqe *q = io_uring_get_sqe(&ring);
    uring_compat_prep_pipe(q, fds, O_CLOEXEC);
    struct io_uring_cqe *c = wait1();
    CHECK_EQ(c->res, 0);
    io_uring_cqe_seen(&ring, c);
    CHECK(fds[0] >= 0 && fds[1] >= 0);
    CHECK(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    CHECK(write(fds[1], "p", 1) == 1);
    char b;
    CHECK(read(fds[0], &b, 1) == 1 && b == 'p');
    close(fds[0]);
    close(fds[1]);
}

/* A group outlives its reaped leader: the leader's pidfd still signals it. */
static void test_pgrp_signal(void)
{
    int pidfd = -1, sync[2];
    CHECK_EQ(pipe2(sync, O_CLOEXEC), 0);
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
    if (pid == 0) {
        setpgid(0, 0);
        if (fork() == 0) { /* the member: waits for a signal */
            signal(SIGTERM, SIG_DFL);
            close(sync[0]);
            if (write(sync[1], "r", 1) != 1)
                _exit(1);
            pause();
            _exit(0);
        }
        _exit(0);
    }
    close(sync[1]);
    char b;
    CHECK(read(sync[0], &b, 1) == 1); /* the member runs */
    siginfo_t si;
    CHECK_EQ(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED), 0); /* leader reaped */
    CHECK_EQ(syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, PIDFD_SIGNAL_PROCESS_GROUP_C), 0);
    /* the member dies: its end of the pipe closes */
    struct pollfd pf = {.fd = sync[0], .events = POLLIN};
    int ready = poll(&pf, 1, 30000); /* at once; 30 s is a hang */
    CHECK_EQ(ready, 1);
    CHECK(ready == 1 && read(sync[0], &b, 1) == 0); /* after a timeout, read would block */
    /* ... and once its new parent reaped it, the group is gone */
    for (int i = 0; i < 3000 && kill(-pid, 0) == 0; i++) /* up to 30 s: a hang */
        usleep(10000);
    CHECK(kill(-pid, 0) < 0 && errno == ESRCH);
    CHECK(syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, PIDFD_SIGNAL_PROCESS_GROUP_C) < 0 &&
          errno == ESRCH);
    kill(-pid, SIGKILL); /* if the signal under test failed, the member would pause() forever */
    close(sync[0]);
    close(pidfd);
}

int main(void)
{
    CHECK_EQ(io_uring_queue_init(16, &ring, 0), 0);
    struct uring_caps caps;
    CHECK_EQ(uring_compat_probe(&ring, &caps), 0);
    fprintf(stderr,
            "caps: waitid=%d read_multishot=%d futex_wait=%d pipe=%d pbuf_inc=%d "
            "pidfd_pgrp=%d\n",
            caps.waitid, caps.read_multishot, caps.futex_wait, caps.pipe, caps.pbuf_inc,
            caps.pidfd_pgrp);
    if (caps.waitid)
        test_waitid();
    else
        fprintf(stderr, "skip: no IORING_OP_WAITID\n");
    if (caps.read_multishot) {
        test_multishot(false);
        if (caps.pbuf_inc)
            test_multishot(true);
        else
            fprintf(stderr, "skip: no IOU_PBUF_RING_INC\n");
    } else {
        fprintf(stderr, "skip: no IORING_OP_READ_MULTISHOT\n");
    }
    if (caps.futex_wait)
        test_futex();
    else
        fprintf(stderr, "skip: no IORING_OP_FUTEX_WAIT\n");
    if (caps.pipe)
        test_pipe_op();
    else
        fprintf(stderr, "skip: no IORING_OP_PIPE\n");
    if (caps.pidfd_pgrp)
        test_pgrp_signal();
    else
        fprintf(stderr, "skip: no PIDFD_SIGNAL_PROCESS_GROUP\n");
    io_uring_queue_exit(&ring);
    return check_done();
}

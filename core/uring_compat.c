/*
 * uring_compat.c - the capability probe of uring_compat.h. Runs once per
 * engine, at setup: a handful of syscalls, nothing on a hot path.
 */
#include "uring_compat.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Tries to register a one-entry buffer ring with IOU_PBUF_RING_INC. */
static bool probe_pbuf_inc(struct io_uring *ring)
{
    size_t bytes = (size_t)sysconf(_SC_PAGESIZE);
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return false;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = 1;
    reg.bgid = 0xfffe;
    reg.pad = IOU_PBUF_RING_INC_C; /* "flags" in newer headers */
    int rc = io_uring_register_buf_ring(ring, &reg, 0);
    if (rc == 0)
        io_uring_unregister_buf_ring(ring, 0xfffe);
    munmap(mem, bytes);
    return rc == 0;
}

/* pidfd_send_signal(own pidfd, 0, NULL, PROCESS_GROUP): EINVAL on kernels
 * before 6.9; where supported 0, or ESRCH when we lead no process group. */
static bool probe_pidfd_pgrp(void)
{
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (fd < 0)
        return false;
    long rc = syscall(SYS_pidfd_send_signal, fd, 0, NULL, PIDFD_SIGNAL_PROCESS_GROUP_C);
    int e = errno;
    close(fd);
    return rc == 0 || e == ESRCH;
}

int uring_compat_probe(struct io_uring *ring, struct uring_caps *caps)
{
    memset(caps, 0, sizeof *caps);
    struct io_uring_probe *p = io_uring_get_probe_ring(ring);
    if (!p)
        return -ENOMEM;
    int rc = 0;
    if (p->last_op < IORING_OP_SENDMSG_ZC) {
        rc = 0; /* an old kernel: everything new is missing */
    } else {
        caps->waitid = io_uring_opcode_supported(p, IORING_OP_WAITID_C);
        caps->read_multishot = io_uring_opcode_supported(p, IORING_OP_READ_MULTISHOT_C);
        caps->futex_wait = io_uring_opcode_supported(p, IORING_OP_FUTEX_WAIT_C);
        caps->pipe = io_uring_opcode_supported(p, IORING_OP_PIPE_C);
    }
    io_uring_free_probe(p);
    caps->pbuf_inc = probe_pbuf_inc(ring);
    caps->pidfd_pgrp = probe_pidfd_pgrp();
    return rc;
}

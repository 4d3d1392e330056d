/*
 * uring_compat.h - the io_uring pieces this kernel (6.18) has and Debian 12's
 * liburing 2.3 headers lack: opcode numbers 49..62, the flags that go with
 * them, prep helpers, and a probe of what the running kernel accepts.
 *
 * liburing 2.3's enum stops at IORING_OP_SENDMSG_ZC = 48; the kernel numbers
 * its opcodes consecutively, so the newer ones are 49, 50, ... in the order
 * below (research/platform-probe.md section 1 lists the kernel each arrived
 * in). They carry a _C suffix (STYLE.md section 2) so that a newer liburing,
 * which names them without it, does not clash. The _Static_asserts pin the
 * numbers: the probe author got them off by one once.
 *
 * The SQE field layouts follow the kernel's prep functions (io_waitid_prep,
 * io_futex_prep, io_read_mshot_prep, io_pipe_prep); each helper says which
 * field carries what.
 *
 * uring_compat_probe() asks IORING_REGISTER_PROBE which opcodes exist and
 * tries the two features that have no opcode of their own (incremental
 * provided-buffer rings, pidfd_send_signal to a process group). Callers
 * fall back where a capability is missing: a poll on the pidfd plus
 * waitid(P_PIDFD) without WAITID, one-shot reads without READ_MULTISHOT,
 * whole-buffer consumption without IOU_PBUF_RING_INC, kill(-pgid) without
 * PIDFD_SIGNAL_PROCESS_GROUP.
 */
#ifndef VOLLEY_CORE_URING_COMPAT_H
#define VOLLEY_CORE_URING_COMPAT_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

/* Opcodes after IORING_OP_SENDMSG_ZC (48), in kernel order. */
enum {
    IORING_OP_READ_MULTISHOT_C = 49, /* 6.7 */
    IORING_OP_WAITID_C = 50,         /* 6.7 */
    IORING_OP_FUTEX_WAIT_C = 51,     /* 6.7 */
    IORING_OP_FUTEX_WAKE_C = 52,     /* 6.7 */
    IORING_OP_FUTEX_WAITV_C = 53,    /* 6.7 */
    IORING_OP_FIXED_FD_INSTALL_C = 54,
    IORING_OP_FTRUNCATE_C = 55,
    IORING_OP_BIND_C = 56,
    IORING_OP_LISTEN_C = 57,
    IORING_OP_RECV_ZC_C = 58,
    IORING_OP_EPOLL_WAIT_C = 59,
    IORING_OP_READV_FIXED_C = 60,
    IORING_OP_WRITEV_FIXED_C = 61,
    IORING_OP_PIPE_C = 62, /* 6.16 */
};
_Static_assert(IORING_OP_SENDMSG_ZC == 48, "liburing's last known opcode moved");
_Static_assert(IORING_OP_READ_MULTISHOT_C == IORING_OP_SENDMSG_ZC + 1, "opcode numbering");
_Static_assert(IORING_OP_WAITID_C == 50 && IORING_OP_FUTEX_WAIT_C == 51, "opcode numbering");
_Static_assert(IORING_OP_PIPE_C == 62, "opcode numbering");

/* io_uring_buf_reg.flags (the field liburing 2.3 calls pad): 6.12+ */
#define IOU_PBUF_RING_INC_C 2u
/* CQE flag with IOU_PBUF_RING_INC: the buffer is still partly in use */
#define IORING_CQE_F_BUF_MORE_C (1u << 4)
/* futex2 flags for IORING_OP_FUTEX_WAIT (sqe->fd) */
#define FUTEX2_SIZE_U32_C 0x02u
#define FUTEX2_PRIVATE_C 128u
/* pidfd_send_signal flag (6.9+): signal the pidfd's process group */
#define PIDFD_SIGNAL_PROCESS_GROUP_C (1u << 2)
_Static_assert(P_PIDFD == 3, "P_PIDFD (glibc's idtype_t) is the kernel's 3");

/* What the running kernel accepts; filled by uring_compat_probe. */
struct uring_caps {
    bool waitid;         /* IORING_OP_WAITID */
    bool read_multishot; /* IORING_OP_READ_MULTISHOT */
    bool futex_wait;     /* IORING_OP_FUTEX_WAIT */
    bool pipe;           /* IORING_OP_PIPE */
    bool pbuf_inc;       /* IOU_PBUF_RING_INC accepted by REGISTER_PBUF_RING */
    bool pidfd_pgrp;     /* pidfd_send_signal(..., PIDFD_SIGNAL_PROCESS_GROUP) */
};

/*
 * Fills caps for ring (an initialized ring; a scratch buffer group 0xfffe is
 * registered and unregistered to test IOU_PBUF_RING_INC). Returns 0, or a
 * negative errno when the opcode probe itself fails (caps then all false).
 */
int uring_compat_probe(struct io_uring *ring, struct uring_caps *caps);

/* Zeroes an SQE and sets the fields every helper below shares. */
static inline void uring_compat_prep(struct io_uring_sqe *sqe, uint8_t op, int fd)
{
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = op;
    sqe->fd = fd;
}

/*
 * IORING_OP_WAITID: fd = id (pid, pidfd or pgid), len = idtype, file_index =
 * options (WEXITED ...), addr2 = siginfo_t *; addr, buf_index, addr3 and
 * rw_flags must be 0. cqe->res is 0 and *info holds the child's status.
 */
static inline void uring_compat_prep_waitid(struct io_uring_sqe *sqe, int idtype, int id,
                                            void *info, int options)
{
    uring_compat_prep(sqe, IORING_OP_WAITID_C, id);
    sqe->len = (uint32_t)idtype;
    sqe->file_index = (uint32_t)options;
    sqe->addr2 = (uint64_t)(uintptr_t)info;
}

/*
 * IORING_OP_READ_MULTISHOT: reads fd into buffers of group bgid until EOF
 * (res 0), an error, or buffer exhaustion (-ENOBUFS, no IORING_CQE_F_MORE:
 * re-arm). addr and len must be 0; the offset -1 means "current position"
 * (pipes ignore it).
 */
static inline void uring_compat_prep_read_multishot(struct io_uring_sqe *sqe, int fd, uint16_t bgid)
{
    uring_compat_prep(sqe, IORING_OP_READ_MULTISHOT_C, fd);
    sqe->off = (uint64_t)-1;
    sqe->buf_group = bgid;
    sqe->flags = IOSQE_BUFFER_SELECT;
}

/* One-shot read into a buffer of group bgid (the fallback for the above). */
static inline void uring_compat_prep_read_select(struct io_uring_sqe *sqe, int fd, uint32_t len,
                                                 uint16_t bgid)
{
    uring_compat_prep(sqe, IORING_OP_READ, fd);
    sqe->off = (uint64_t)-1;
    sqe->len = len;
    sqe->buf_group = bgid;
    sqe->flags = IOSQE_BUFFER_SELECT;
}

/*
 * IORING_OP_FUTEX_WAIT on a 32-bit word: completes (res 0) once woken by a
 * FUTEX_WAKE on addr, or at once with -EAGAIN when *addr != val. fd carries
 * the futex2 flags (size, and FUTEX2_PRIVATE_C only for process-private
 * words), addr2 the expected value, addr3 the wake mask.
 */
static inline void uring_compat_prep_futex_wait(struct io_uring_sqe *sqe, const uint32_t *addr,
                                                uint32_t val, bool private_word, uint32_t mask)
{
    uring_compat_prep(sqe, IORING_OP_FUTEX_WAIT_C,
                      (int)(FUTEX2_SIZE_U32_C | (private_word ? FUTEX2_PRIVATE_C : 0)));
    sqe->addr = (uint64_t)(uintptr_t)addr;
    sqe->addr2 = val;
    sqe->addr3 = mask; /* the bitset; 0xffffffff: FUTEX_BITSET_MATCH_ANY */
}

/*
 * IORING_OP_PIPE: creates a pipe and writes its two fds to fds[2]. The
 * flags (O_CLOEXEC ..., as pipe2) sit in the op-flags union (rw_flags);
 * fd, off and addr3 must be 0; file_index 0 asks for normal fds.
 */
static inline void uring_compat_prep_pipe(struct io_uring_sqe *sqe, int fds[2], int pipe_flags)
{
    uring_compat_prep(sqe, IORING_OP_PIPE_C, 0);
    sqe->addr = (uint64_t)(uintptr_t)fds;
    sqe->rw_flags = pipe_flags;
}

#endif /* VOLLEY_CORE_URING_COMPAT_H */

/*
 * exec_int.h - inside the engine (exec.h): the slot and engine structs and
 * the helpers its three files share.
 *
 *   exec.c        the event loop: completions, signals, a slot's logs,
 *                 ended attempts, retries and recovery scripts, the run
 *   exec_start.c  starting a process in a slot: environment, command
 *                 plan, spawn, its first requests
 *   exec_open.c   open and close: the ring, provided buffers, the base
 *                 environment, slots
 *
 * The submission helpers are static inline here: the loop and the start
 * path both queue requests per job, and a call across files for each was
 * measurable noise we did not want (callgrind, 5k `true` jobs).
 */
#ifndef VOLLEY_CORE_EXEC_INT_H
#define VOLLEY_CORE_EXEC_INT_H

#include "core/exec.h"

#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "core/cmdline.h"
#include "core/logseg.h"
#include "core/uring_compat.h"

enum ud_kind {
    K_IGNORE = 0, /* failures of CQE_SKIP_SUCCESS requests (close, remove, cancel) */
    K_WAITID,
    K_POLL,
    K_READ0, /* stdout pipe */
    K_READ1, /* stderr pipe */
    K_T_RUNTIME,
    K_T_GRACE,
    K_T_EOF,
    K_FUTEX_SRC,
    K_FUTEX_STOP,
    K_T_FLUSH,
    K_T_TICK, /* without FUTEX_WAIT: look at the stop flag and the word */
    K_CG,     /* the job's group emptied (poll on cgroup.events), or look again (timer) */
    K_T_HOLD, /* the end of a death from outside, held for the kill grace */
};

#define UD(k, slot, gen) (((uint64_t)(k) << 56) | ((uint64_t)(slot) << 32) | (uint64_t)(gen))
#define UD_KIND(u) ((unsigned)((u) >> 56))
#define UD_SLOT(u) ((uint32_t)(((u) >> 32) & 0xffffffu))
#define UD_GEN(u) ((uint32_t)(u))

#define MAX_SLOTS (1u << 20)
#define BGID 7
/* The variables volley sets per process: VOLLEY_JOB_ID, _JOB_NAME, _ATTEMPT,
 * _RUN_DIR, CUDA_VISIBLE_DEVICES, VOLLEY_RETURN_CODE, and the TORC_* aliases
 * of five of them (TORC_JOB_ID, _JOB_NAME, _ATTEMPT_ID, _OUTPUT_DIR,
 * _RETURN_CODE: torc's recovery scripts read them); VOLLEY_NUM_CPUS and
 * OMP_NUM_THREADS (docs/limits.md). */
#define HEAD_ENV 13
#define CG_LOOK_MS 5 /* without cgroup.events to poll: look at a killed group this often */
#define FLUSH_MS 100
#define TICK_MS 20

enum reason { R_NONE = 0, R_TIMEOUT, R_CANCEL, R_STOP };

struct stream {
    int fd;           /* read end, -1 once closed */
    bool armed;       /* a read request is in flight */
    bool done;        /* EOF or cut: nothing more */
    bool cancel_sent; /* the EOF wait ran out: being cut */
    bool rearm;       /* re-arm after this batch (-ENOBUFS) */
};

struct slot {
    uint32_t idx, gen;
    bool busy;     /* holds a job */
    bool recovery; /* the process is the recovery script */
    bool queued;   /* in the finished queue */
    bool ended;    /* its process ended and is being reported */
    bool in_rearm; /* in the re-arm queue */
    struct exec_job job;
    uint32_t attempt;
    const char *script; /* recovery script being run */
    pid_t pid;
    int pidfd;
    bool exited;
    siginfo_t si;
    /* governance */
    bool want_ru;       /* usage from rusage: reap with waitid after a WNOWAIT one */
    bool have_ru;       /* ru holds the reaped process's */
    bool cg_wait;       /* leftovers were killed: the attempt ends once the group is empty */
    bool cg_armed;      /* a K_CG request is in flight */
    uint32_t leftovers; /* processes killed after the main process ended */
    struct rusage ru;
    struct __kernel_timespec ts_cg;
    int join[CGROUP_MAX_JOIN]; /* the v1 groups the child joins (req.join) */
    cpu_set_t cpus;            /* the job's CPUs (req.affinity), when it has them */
    struct stream st[2];
    bool t_runtime, t_grace, t_eof; /* timers armed */
    bool held;                      /* its end is held (exec.c, held_end): t_hold armed */
    struct __kernel_timespec ts_runtime, ts_grace, ts_eof, ts_hold;
    uint8_t reason;     /* enum reason: why we signalled it */
    uint8_t kill_stage; /* 0, 1 SIGTERM sent, 2 SIGKILL sent */
    uint32_t flags;     /* EXEC_RES_* of the attempt */
    int spawn_err;
    uint64_t start_wall, spawn_mono, exit_mono;
    uint64_t logrec;            /* BEGIN record of the attempt */
    struct exec_result pending; /* the failed attempt, while its recovery script runs */
    int32_t seen_code;          /* the code its failure handler saw (pending's status, or
                                   timeout_code for a terminated attempt) */
    struct exec_result hold;    /* the end of the process whose report is held */
    /* what the child reads: untouched until the child released our memory */
    struct spawn_req req;
    char *wbuf; /* command words */
    size_t wcap;
    char **argv;
    size_t argv_cap;
    char *sh_argv[4];
    char **envmem; /* HEAD_ENV free entries, then the base environment, NULL */
    struct vl_buf envstr;
    char **envjob; /* a job with env of its own: head, its env, the base less what it
                      replaces, NULL (envjob_cap entries) */
    size_t envjob_cap;
    /* delete_on_success: where its captured output went in the segment */
    struct exec_range *ranges;
    uint32_t nranges, ranges_cap;
};

/* Bytes of a slot's captured output in the log segment. */
struct exec_range {
    uint64_t off, len;
};

struct exec_engine {
    struct exec_config cfg;
    struct io_uring ring;
    bool ring_ok;
    struct uring_caps caps;
    struct spawner sp;
    bool sp_ok;
    struct logseg log;
    struct cmdpath *paths;
    int devnull, cwd_fd;
    int devnull_w; /* /dev/null for writing: a stream not captured */
    /* provided buffers */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    uint8_t *bufs;
    uint32_t nbufs, bufsz;
    uint32_t *boff; /* INC: bytes of buffer bid already handed out */
    /* environment */
    char **base;
    size_t nbase;
    char *env_run_dir; /* "VOLLEY_RUN_DIR=..." */
    char *env_out_dir; /* "TORC_OUTPUT_DIR=..." (the same directory) */
    char *env_cuda;    /* the environment's "CUDA_VISIBLE_DEVICES=...", or NULL */
    bool env_has_omp;  /* the environment sets OMP_NUM_THREADS: jobs keep it */
    cpu_set_t orig_mask;
    bool pinned;
    uint64_t sig_dfl;
    /* slots */
    struct slot *slots;
    uint32_t nslots;
    uint32_t *freel, nfree;
    uint32_t running; /* busy slots */
    uint32_t *finq, nfin, *finq2;
    uint32_t *rearmq, nrearm;
    /* one run */
    const struct exec_source *src;
    _Atomic uint32_t stop_word; /* 0, 1 once stop is requested: the futex */
    bool stopping;
    bool src_armed, stop_armed, flush_armed, tick_armed, src_woke, flush_due;
    uint32_t word_seen;
    uint64_t outstanding; /* requests whose final CQE has not arrived */
    struct __kernel_timespec ts_flush, ts_tick;
    int fatal;         /* ring error during a run */
    sigset_t run_mask; /* the caller's mask: in force only while we wait */
    int old_policy;    /* the thread's scheduling policy before the run, -1 unchanged */
    struct sched_param old_param;
    struct exec_stats stats;
};

/* ---- submission helpers ---- */

static inline struct io_uring_sqe *exec__sqe_get(struct exec_engine *e)
{
    struct io_uring_sqe *s = io_uring_get_sqe(&e->ring);
    while (!s) {
        int rc = io_uring_submit(&e->ring);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            e->fatal = rc;
        s = io_uring_get_sqe(&e->ring);
    }
    return s;
}

static inline void exec__ms_to_ts(struct __kernel_timespec *ts, uint64_t ms)
{
    ts->tv_sec = (long long)(ms / 1000);
    ts->tv_nsec = (long long)(ms % 1000) * 1000000;
}

static inline void exec__arm_timer(struct exec_engine *e, struct __kernel_timespec *ts, uint64_t ms,
                                   uint64_t ud)
{
    exec__ms_to_ts(ts, ms);
    struct io_uring_sqe *q = exec__sqe_get(e);
    io_uring_prep_timeout(q, ts, 0, 0);
    q->user_data = ud;
    e->outstanding++;
}

static inline void exec__remove_timer(struct exec_engine *e, uint64_t ud)
{
    struct io_uring_sqe *q = exec__sqe_get(e);
    io_uring_prep_timeout_remove(q, ud, 0);
    q->flags |= IOSQE_CQE_SKIP_SUCCESS;
    q->user_data = UD(K_IGNORE, 0, 0);
}

static inline void exec__cancel_req(struct exec_engine *e, uint64_t ud)
{
    struct io_uring_sqe *q = exec__sqe_get(e);
    io_uring_prep_cancel64(q, ud, 0);
    q->flags |= IOSQE_CQE_SKIP_SUCCESS;
    q->user_data = UD(K_IGNORE, 0, 0);
}

static inline void exec__close_fd(struct exec_engine *e, int fd)
{
    if (fd < 0)
        return;
    struct io_uring_sqe *q = exec__sqe_get(e);
    io_uring_prep_close(q, fd);
    q->flags |= IOSQE_CQE_SKIP_SUCCESS;
    q->user_data = UD(K_IGNORE, 0, 0);
}

static inline void exec__arm_wait(struct exec_engine *e, struct slot *s)
{
    struct io_uring_sqe *q = exec__sqe_get(e);
    if (e->caps.waitid) {
        /* WNOWAIT when the usage comes from rusage: waitid reaps it then */
        uring_compat_prep_waitid(q, P_PIDFD, s->pidfd, &s->si,
                                 WEXITED | (s->want_ru ? WNOWAIT : 0));
        q->user_data = UD(K_WAITID, s->idx, s->gen);
    } else {
        io_uring_prep_poll_add(q, s->pidfd, POLLIN);
        q->user_data = UD(K_POLL, s->idx, s->gen);
    }
    e->outstanding++;
}

static inline void exec__arm_read(struct exec_engine *e, struct slot *s, int i)
{
    struct io_uring_sqe *q = exec__sqe_get(e);
    if (e->caps.read_multishot)
        uring_compat_prep_read_multishot(q, s->st[i].fd, BGID);
    else
        uring_compat_prep_read_select(q, s->st[i].fd, e->bufsz, BGID);
    q->user_data = UD(K_READ0 + i, s->idx, s->gen);
    s->st[i].armed = true;
    e->outstanding++;
}

static inline void exec__recycle_buf(struct exec_engine *e, uint16_t bid)
{
    e->boff[bid] = 0;
    io_uring_buf_ring_add(e->br, e->bufs + (size_t)bid * e->bufsz, e->bufsz, bid,
                          io_uring_buf_ring_mask(e->nbufs), 0);
    io_uring_buf_ring_advance(e->br, 1);
}

/* Whether stream i (0 stdout, 1 stderr) of the slot's job is captured. */
static inline bool exec__captured(const struct slot *s, int i)
{
    switch (s->job.stdio) {
    case SPEC_STDIO_NO_STDOUT:
        return i == 1;
    case SPEC_STDIO_NO_STDERR:
    case SPEC_STDIO_COMBINED: /* stderr goes into stdout's pipe */
        return i == 0;
    case SPEC_STDIO_NONE:
        return false;
    default:
        return true;
    }
}

static inline uint8_t exec__stream_id(const struct slot *s, int i)
{
    return (uint8_t)((s->recovery ? LOG_RECOVERY_OUT : LOG_STDOUT) + i);
}

static inline void exec__queue_finished(struct exec_engine *e, struct slot *s)
{
    if (s->queued)
        return;
    s->queued = true;
    e->finq[e->nfin++] = s->idx;
}

/* ---- shared between the files ---- */

/* SIGTERM to the slot's process (and group), SIGKILL after the grace;
 * why: the reason reported (timeout, cancel, stop). */
void exec__begin_kill(struct exec_engine *e, struct slot *s, enum reason why);
/* Starts the slot's current attempt (or its recovery script) (exec_start.c). */
void exec__start_proc(struct exec_engine *e, struct slot *s);
/* Takes job into a free slot and starts its first attempt (exec_start.c). */
void exec__start_job(struct exec_engine *e, const struct exec_job *job);

#endif /* VOLLEY_CORE_EXEC_INT_H */

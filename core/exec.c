/*
 * exec.c - the engine of exec.h: one io_uring event loop over K slots.
 *
 * A slot holds one job from next() to its final done(): its attempts, and
 * the recovery script between two of them, run one after the other in it.
 * Every process started in a slot gets a new generation number; it is in
 * the user_data of every request for that process (kind 8 bits, slot 24,
 * generation 32), so a completion that arrives after its process was done
 * with (a removed timer, a late cancel) is recognized and dropped. Provided
 * buffers are returned before that check: a stale read still consumed one.
 *
 * Requests per process: WAITID on the pidfd (or POLL + waitid(P_PIDFD)),
 * one multishot read per pipe (or a one-shot read re-armed), TIMEOUTs for
 * runtime, kill grace and the EOF wait (removed when no longer needed),
 * closes of both ends of the pipes and of the pidfd through the ring
 * (CQE_SKIP_SUCCESS); signals stay blocked for the whole run. So the
 * runner's syscalls per job are pipe2 x2, clone and ~1.8 io_uring_enter
 * (strace -c over 1000 `true` jobs, K=2).
 *
 * One loop iteration: stop request? -> flush logs, then report and retry
 * the attempts that ended -> re-arm reads -> ask the source for jobs while
 * fewer than K run -> sleep in io_uring_enter -> handle completions. Logs
 * are flushed before done(), so a reported attempt's log is readable.
 *
 * The engine allocates per slot at open (buffers grow only when a command
 * or name is longer than any before), not per job.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/futex.h>

#include "cmdline.h"
#include "logseg.h"
#include "uring_compat.h"

extern char **environ;

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
};

#define UD(k, slot, gen) (((uint64_t)(k) << 56) | ((uint64_t)(slot) << 32) | (uint64_t)(gen))
#define UD_KIND(u) ((unsigned)((u) >> 56))
#define UD_SLOT(u) ((uint32_t)(((u) >> 32) & 0xffffffu))
#define UD_GEN(u) ((uint32_t)(u))

#define MAX_SLOTS (1u << 20)
#define BGID 7
#define HEAD_ENV 6 /* VOLLEY_JOB_ID, _JOB_NAME, _ATTEMPT, _RUN_DIR, CUDA_..., _RETURN_CODE */
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
    struct stream st[2];
    bool t_runtime, t_grace, t_eof; /* timers armed */
    struct __kernel_timespec ts_runtime, ts_grace, ts_eof;
    uint8_t reason;     /* enum reason: why we signalled it */
    uint8_t kill_stage; /* 0, 1 SIGTERM sent, 2 SIGKILL sent */
    uint32_t flags;     /* EXEC_RES_* of the attempt */
    int spawn_err;
    uint64_t start_wall, spawn_mono, exit_mono;
    uint64_t logrec;            /* BEGIN record of the attempt */
    struct exec_result pending; /* the failed attempt, while its recovery script runs */
    /* what the child reads: untouched until the child released our memory */
    struct spawn_req req;
    char *wbuf; /* command words */
    size_t wcap;
    char **argv;
    size_t argv_cap;
    char *sh_argv[4];
    char **envmem; /* HEAD_ENV free entries, then the base environment, NULL */
    struct vl_buf envstr;
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
    char *env_cuda;    /* the environment's "CUDA_VISIBLE_DEVICES=...", or NULL */
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

const char *exec_outcome_name(enum exec_outcome o)
{
    switch (o) {
    case EXEC_COMPLETED:
        return "completed";
    case EXEC_FAILED:
        return "failed";
    case EXEC_TERMINATED:
        return "terminated";
    case EXEC_CANCELED:
        return "canceled";
    case EXEC_STOPPED:
        return "stopped";
    }
    return "unknown";
}

void exec_config_defaults(struct exec_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_running = 1;
    cfg->kill_grace_ms = 5000;
    cfg->eof_wait_ms = 2000;
    cfg->pin_cpu = -1;
    cfg->spawn_mode = SPAWN_ASYNC;
}

/* ---- submission helpers ---- */

static struct io_uring_sqe *sqe_get(struct exec_engine *e)
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

static void ms_to_ts(struct __kernel_timespec *ts, uint64_t ms)
{
    ts->tv_sec = (long long)(ms / 1000);
    ts->tv_nsec = (long long)(ms % 1000) * 1000000;
}

static void arm_timer(struct exec_engine *e, struct __kernel_timespec *ts, uint64_t ms, uint64_t ud)
{
    ms_to_ts(ts, ms);
    struct io_uring_sqe *q = sqe_get(e);
    io_uring_prep_timeout(q, ts, 0, 0);
    q->user_data = ud;
    e->outstanding++;
}

static void remove_timer(struct exec_engine *e, uint64_t ud)
{
    struct io_uring_sqe *q = sqe_get(e);
    io_uring_prep_timeout_remove(q, ud, 0);
    q->flags |= IOSQE_CQE_SKIP_SUCCESS;
    q->user_data = UD(K_IGNORE, 0, 0);
}

static void cancel_req(struct exec_engine *e, uint64_t ud)
{
    struct io_uring_sqe *q = sqe_get(e);
    io_uring_prep_cancel64(q, ud, 0);
    q->flags |= IOSQE_CQE_SKIP_SUCCESS;
    q->user_data = UD(K_IGNORE, 0, 0);
}

static void close_fd(struct exec_engine *e, int fd)
{
    if (fd < 0)
        return;
    struct io_uring_sqe *q = sqe_get(e);
    io_uring_prep_close(q, fd);
    q->flags |= IOSQE_CQE_SKIP_SUCCESS;
    q->user_data = UD(K_IGNORE, 0, 0);
}

static void arm_wait(struct exec_engine *e, struct slot *s)
{
    struct io_uring_sqe *q = sqe_get(e);
    if (e->caps.waitid) {
        uring_compat_prep_waitid(q, P_PIDFD, s->pidfd, &s->si, WEXITED);
        q->user_data = UD(K_WAITID, s->idx, s->gen);
    } else {
        io_uring_prep_poll_add(q, s->pidfd, POLLIN);
        q->user_data = UD(K_POLL, s->idx, s->gen);
    }
    e->outstanding++;
}

static void arm_read(struct exec_engine *e, struct slot *s, int i)
{
    struct io_uring_sqe *q = sqe_get(e);
    if (e->caps.read_multishot)
        uring_compat_prep_read_multishot(q, s->st[i].fd, BGID);
    else
        uring_compat_prep_read_select(q, s->st[i].fd, e->bufsz, BGID);
    q->user_data = UD(K_READ0 + i, s->idx, s->gen);
    s->st[i].armed = true;
    e->outstanding++;
}

static void recycle_buf(struct exec_engine *e, uint16_t bid)
{
    e->boff[bid] = 0;
    io_uring_buf_ring_add(e->br, e->bufs + (size_t)bid * e->bufsz, e->bufsz, bid,
                          io_uring_buf_ring_mask(e->nbufs), 0);
    io_uring_buf_ring_advance(e->br, 1);
}

/* ---- signals ---- */

static void send_sig(struct exec_engine *e, struct slot *s, int sig)
{
    if (s->pidfd < 0)
        return;
    /* The process itself first: a child that has not yet called setpgid
     * is not in its group yet, and would miss a group signal. The group
     * signal goes to the group whose id is the job's pid (pidfd with
     * PIDFD_SIGNAL_PROCESS_GROUP, or kill(-pid)): until the child's setpgid
     * that group is empty, never the runner's own (test_cancel_at_spawn). */
    if (!s->exited)
        syscall(SYS_pidfd_send_signal, s->pidfd, sig, NULL, 0);
    if (e->caps.pidfd_pgrp)
        syscall(SYS_pidfd_send_signal, s->pidfd, sig, NULL, PIDFD_SIGNAL_PROCESS_GROUP_C);
    else if (!s->exited)
        kill(-s->pid, sig); /* after the reap the pgid could be reused: not then */
}

static void begin_kill(struct exec_engine *e, struct slot *s, enum reason why)
{
    if (s->kill_stage || s->spawn_err)
        return;
    if (!s->exited)
        s->reason = (uint8_t)why;
    send_sig(e, s, SIGTERM);
    s->kill_stage = 1;
    s->t_grace = true;
    arm_timer(e, &s->ts_grace, e->cfg.kill_grace_ms, UD(K_T_GRACE, s->idx, s->gen));
}

/* ---- logs of a slot ---- */

static uint8_t stream_id(const struct slot *s, int i)
{
    return (uint8_t)((s->recovery ? LOG_RECOVERY_OUT : LOG_STDOUT) + i);
}

static void queue_finished(struct exec_engine *e, struct slot *s)
{
    if (s->queued)
        return;
    s->queued = true;
    e->finq[e->nfin++] = s->idx;
}

static void check_done(struct exec_engine *e, struct slot *s)
{
    if (!s->exited || s->queued)
        return;
    if (s->st[0].done && s->st[1].done) {
        queue_finished(e, s);
        return;
    }
    if (!s->t_eof) {
        s->t_eof = true;
        arm_timer(e, &s->ts_eof, e->cfg.eof_wait_ms, UD(K_T_EOF, s->idx, s->gen));
    }
}

static void stream_done(struct exec_engine *e, struct slot *s, int i, uint8_t kind)
{
    struct stream *st = &s->st[i];
    st->done = true;
    st->armed = false;
    if (kind == LOGREC_CUT && !s->recovery)
        s->flags |= i == 0 ? EXEC_RES_CUT_STDOUT : EXEC_RES_CUT_STDERR;
    if (kind == LOGREC_CUT && st->cancel_sent) {
        e->stats.cuts++;
        logseg_note(&e->log, s->job.jid, s->attempt,
                    "volley: stopped reading %s%s %.1f s after %s exited: a process it started "
                    "keeps the pipe open",
                    s->recovery ? "the recovery script's " : "", i == 0 ? "stdout" : "stderr",
                    (double)e->cfg.eof_wait_ms / 1000.0, s->recovery ? "it" : "the job");
    }
    logseg_end(&e->log, s->job.jid, s->attempt, stream_id(s, i), kind);
    close_fd(e, st->fd);
    st->fd = -1;
    check_done(e, s);
}

static void cut_streams(struct exec_engine *e, struct slot *s)
{
    for (int i = 0; i < 2; i++) {
        struct stream *st = &s->st[i];
        if (st->done || st->cancel_sent)
            continue;
        st->cancel_sent = true;
        if (st->armed)
            cancel_req(e, UD(K_READ0 + i, s->idx, s->gen));
        else
            stream_done(e, s, i, LOGREC_CUT); /* waiting for a re-arm */
    }
}

/* ---- starting processes ---- */

/* Fills the head of the slot's environment; returns envp. */
static char **build_env(struct exec_engine *e, struct slot *s, int rc_of_failed)
{
    struct vl_buf *b = &s->envstr;
    b->len = 0;
    size_t off[HEAD_ENV];
    int h = 0;
    off[h++] = b->len;
    vl_buf_printf(b, "VOLLEY_JOB_ID=%u", s->job.jid);
    vl_buf_addc(b, '\0');
    off[h++] = b->len;
    vl_buf_adds(b, "VOLLEY_JOB_NAME=");
    vl_buf_adds(b, s->job.name ? s->job.name : "");
    vl_buf_addc(b, '\0');
    off[h++] = b->len;
    vl_buf_printf(b, "VOLLEY_ATTEMPT=%u", s->attempt);
    vl_buf_addc(b, '\0');
    bool cuda = s->job.cuda_devices != NULL;
    if (cuda) {
        off[h++] = b->len;
        vl_buf_adds(b, "CUDA_VISIBLE_DEVICES=");
        vl_buf_adds(b, s->job.cuda_devices);
        vl_buf_addc(b, '\0');
    }
    bool rcv = s->recovery;
    if (rcv) {
        off[h++] = b->len;
        vl_buf_printf(b, "VOLLEY_RETURN_CODE=%d", rc_of_failed);
        vl_buf_addc(b, '\0');
    }
    /* Shared strings after the slot's own (the buffer is final now). */
    int total = h + 1 + (!cuda && e->env_cuda ? 1 : 0);
    char **envp = s->envmem + (HEAD_ENV - total);
    int k = 0;
    for (int i = 0; i < h; i++)
        envp[k++] = b->p + off[i];
    envp[k++] = e->env_run_dir;
    if (!cuda && e->env_cuda)
        envp[k++] = e->env_cuda;
    return envp;
}

/* Decides direct exec or /bin/sh -c and fills the request's program. */
static bool plan_command(struct exec_engine *e, struct slot *s, const char *cmd)
{
    s->sh_argv[0] = "sh";
    s->sh_argv[1] = "-c";
    s->sh_argv[2] = (char *)cmd;
    s->sh_argv[3] = NULL;
    s->req.path = "/bin/sh";
    s->req.argv = s->sh_argv;
    s->req.sh_argv = NULL;
    if (s->recovery || e->cfg.no_direct)
        return false;
    size_t need = strlen(cmd) + 1;
    if (need > s->wcap) {
        s->wcap = need * 2;
        s->wbuf = vl_xrealloc(s->wbuf, s->wcap);
    }
    int n;
    while ((n = cmdline_split(cmd, s->wbuf, s->argv, s->argv_cap - 1)) == -E2BIG) {
        s->argv_cap *= 2;
        s->argv = vl_xrealloc(s->argv, s->argv_cap * sizeof *s->argv);
    }
    if (n <= 0)
        return false;
    const char *path = strchr(s->argv[0], '/') ? s->argv[0] : cmdpath_lookup(e->paths, s->argv[0]);
    if (!path)
        return false; /* not found: the shell says so in its own words */
    s->req.path = path;
    s->req.argv = s->argv;
    s->req.sh_argv = s->sh_argv; /* if the exec fails after all */
    return true;
}

static void spawn_failed(struct exec_engine *e, struct slot *s, int rc, const char *what)
{
    s->spawn_err = rc;
    e->stats.spawn_errors++;
    logseg_note(&e->log, s->job.jid, s->attempt, "volley: cannot start %s: %s: %s",
                s->recovery ? "the recovery script" : "the job", what, vl_strerror(rc));
    s->exited = true;
    for (int i = 0; i < 2; i++) {
        s->st[i].done = true;
        logseg_end(&e->log, s->job.jid, s->attempt, stream_id(s, i), LOGREC_EOF);
    }
    queue_finished(e, s);
}

/* Starts the slot's next process: attempt s->attempt of its job, or, with
 * s->recovery, the recovery script after it. */
static void start_proc(struct exec_engine *e, struct slot *s)
{
    s->gen++;
    s->pid = 0;
    s->pidfd = -1;
    s->exited = false;
    s->queued = false;
    s->ended = false;
    s->t_runtime = s->t_grace = s->t_eof = false;
    s->reason = R_NONE;
    s->kill_stage = 0;
    s->spawn_err = 0;
    memset(&s->si, 0, sizeof s->si);
    for (int i = 0; i < 2; i++)
        s->st[i] = (struct stream){.fd = -1};
    s->exit_mono = 0;
    if (!s->recovery) {
        s->flags = 0;
        s->start_wall = vl_wall_ns();
        s->logrec = logseg_begin(&e->log, s->job.jid, s->attempt, s->start_wall);
    } else {
        logseg_note(&e->log, s->job.jid, s->attempt,
                    "volley: exit code %d: running the recovery script before attempt %u",
                    s->pending.status, s->attempt + 1);
    }
    const char *cmd = s->recovery ? s->script : s->job.cmd;
    bool direct = plan_command(e, s, cmd);

    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0) {
        spawn_failed(e, s, -errno, "pipe");
        return;
    }
    if (pipe2(pe, O_CLOEXEC) != 0) {
        int rc = -errno;
        close(po[0]);
        close(po[1]);
        spawn_failed(e, s, rc, "pipe");
        return;
    }
    s->req.envp = build_env(e, s, s->pending.status);
    s->req.fd0 = e->devnull;
    s->req.fd1 = po[1];
    s->req.fd2 = pe[1];
    s->req.cwd_fd = e->cwd_fd;
    s->req.affinity = e->pinned ? &e->orig_mask : NULL;
    s->req.affinity_len = sizeof e->orig_mask;
    s->req.sig_dfl = e->sig_dfl;
    /* A job dies with its worker: between the clone and the pid's store
     * in the arena (the `started` callback) nothing else could find it. */
    s->req.death_sig = SIGKILL;
    if (!s->recovery)
        s->spawn_mono = vl_now_ns();
    int pidfd = -1;
    int pid = spawner_start(&e->sp, s->idx, &s->req, &pidfd);
    /* Our copies of the write ends go with the next submission (the
     * child has its own): the job's EOF must not wait for them
     * (research/platform-probe.md pitfall 3). Through the ring: no syscall. */
    close_fd(e, po[1]);
    close_fd(e, pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        spawn_failed(e, s, pid, "clone");
        return;
    }
    if (e->src->started)
        e->src->started(e->src->ctx, s->job.jid, pid, s->start_wall);
    e->stats.spawned++;
    if (direct) {
        e->stats.direct++;
        if (!s->recovery)
            s->flags |= EXEC_RES_DIRECT;
    }
    s->pid = pid;
    s->pidfd = pidfd;
    s->st[0].fd = po[0];
    s->st[1].fd = pe[0];
    arm_wait(e, s);
    arm_read(e, s, 0);
    arm_read(e, s, 1);
    if (!s->recovery && s->job.runtime_ms) {
        s->t_runtime = true;
        arm_timer(e, &s->ts_runtime, s->job.runtime_ms, UD(K_T_RUNTIME, s->idx, s->gen));
    }
    if (e->stopping)
        begin_kill(e, s, R_STOP);
}

static void start_job(struct exec_engine *e, const struct exec_job *job)
{
    struct slot *s = &e->slots[e->freel[--e->nfree]];
    s->busy = true;
    e->running++;
    s->job = *job;
    s->attempt = job->attempt ? job->attempt : 1;
    s->recovery = false;
    s->script = NULL;
    memset(&s->pending, 0, sizeof s->pending);
    start_proc(e, s);
}

/* ---- completions ---- */

static void on_exit_reaped(struct exec_engine *e, struct slot *s)
{
    s->exited = true;
    s->exit_mono = vl_now_ns();
    if (s->t_runtime) {
        s->t_runtime = false;
        remove_timer(e, UD(K_T_RUNTIME, s->idx, s->gen));
    }
    check_done(e, s);
}

static void handle_read(struct exec_engine *e, const struct io_uring_cqe *c, struct slot *s,
                        bool valid, int i)
{
    int res = c->res;
    uint32_t fl = c->flags;
    if (fl & IORING_CQE_F_BUFFER) {
        uint16_t bid = (uint16_t)(fl >> IORING_CQE_BUFFER_SHIFT);
        bool inc = e->caps.pbuf_inc;
        const uint8_t *p = e->bufs + (size_t)bid * e->bufsz + (inc ? e->boff[bid] : 0);
        if (res > 0 && valid) {
            logseg_data(&e->log, s->job.jid, s->attempt, stream_id(s, i), p, (size_t)res);
            e->stats.log_bytes += (uint64_t)res;
        }
        if (!inc)
            recycle_buf(e, bid);
        else if (res > 0) {
            e->boff[bid] += (uint32_t)res;
            if (!(fl & IORING_CQE_F_BUF_MORE_C))
                recycle_buf(e, bid);
        }
    }
    bool more = fl & IORING_CQE_F_MORE;
    if (!more)
        e->outstanding--;
    if (!valid)
        return;
    struct stream *st = &s->st[i];
    if (more)
        return;
    st->armed = false;
    if (res > 0 || res == -ENOBUFS || res == -EAGAIN || res == -EINTR) {
        if (st->cancel_sent) {
            stream_done(e, s, i, LOGREC_CUT);
        } else if (res > 0) {
            arm_read(e, s, i); /* a one-shot read, or a multishot that ended */
        } else {
            /* Out of buffers: re-arm after this batch has returned some. */
            e->stats.rearms++;
            st->rearm = true;
            if (!s->in_rearm) {
                s->in_rearm = true;
                e->rearmq[e->nrearm++] = s->idx;
            }
        }
    } else if (res == 0) {
        stream_done(e, s, i, LOGREC_EOF);
    } else if (res == -ECANCELED) {
        stream_done(e, s, i, LOGREC_CUT);
    } else {
        logseg_note(&e->log, s->job.jid, s->attempt, "volley: reading %s failed: %s",
                    i == 0 ? "stdout" : "stderr", vl_strerror(res));
        stream_done(e, s, i, LOGREC_CUT);
    }
}

static void handle_cqe(struct exec_engine *e, const struct io_uring_cqe *c)
{
    uint64_t u = c->user_data;
    unsigned kind = UD_KIND(u);
    switch (kind) {
    case K_IGNORE:
        return;
    case K_FUTEX_SRC:
        e->outstanding--;
        e->src_armed = false;
        e->src_woke = true;
        return;
    case K_FUTEX_STOP:
        e->outstanding--;
        e->stop_armed = false;
        return;
    case K_T_FLUSH:
        e->outstanding--;
        e->flush_armed = false;
        e->flush_due = c->res == -ETIME;
        return;
    case K_T_TICK:
        e->outstanding--;
        e->tick_armed = false;
        if (e->src && e->src->word &&
            __atomic_load_n(e->src->word, __ATOMIC_ACQUIRE) != e->word_seen)
            e->src_woke = true;
        return;
    default:
        break;
    }
    uint32_t idx = UD_SLOT(u);
    if (idx >= e->nslots)
        return;
    struct slot *s = &e->slots[idx];
    bool valid = s->busy && s->gen == UD_GEN(u);
    if (kind == K_READ0 || kind == K_READ1) {
        handle_read(e, c, s, valid, (int)(kind - K_READ0));
        return;
    }
    e->outstanding--; /* every other request completes once */
    if (!valid)
        return;
    switch (kind) {
    case K_WAITID:
        if (c->res == 0) {
            on_exit_reaped(e, s);
        } else {
            logseg_note(&e->log, s->job.jid, s->attempt, "volley: waitid failed: %s",
                        vl_strerror(c->res));
            s->si.si_code = 0;
            on_exit_reaped(e, s);
        }
        return;
    case K_POLL: {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int rc = (int)syscall(SYS_waitid, P_PIDFD, s->pidfd, &si, WEXITED | WNOHANG, NULL);
        if (rc == 0 && si.si_pid != 0) {
            s->si = si;
            on_exit_reaped(e, s);
        } else if (rc == 0 || errno == EINTR) {
            arm_wait(e, s);
        } else {
            logseg_note(&e->log, s->job.jid, s->attempt, "volley: waitid failed: %s",
                        vl_strerror(-errno));
            on_exit_reaped(e, s);
        }
        return;
    }
    case K_T_RUNTIME:
        if (s->t_runtime && c->res == -ETIME) {
            s->t_runtime = false;
            if (!s->exited) {
                logseg_note(&e->log, s->job.jid, s->attempt,
                            "volley: runtime of %llu ms exceeded: SIGTERM to the job's process "
                            "group",
                            (unsigned long long)s->job.runtime_ms);
                begin_kill(e, s, R_TIMEOUT);
            }
        }
        s->t_runtime = false;
        return;
    case K_T_GRACE:
        if (s->t_grace && c->res == -ETIME) {
            s->kill_stage = 2;
            s->flags |= EXEC_RES_KILLED;
            logseg_note(&e->log, s->job.jid, s->attempt,
                        "volley: still running %u ms after SIGTERM: SIGKILL to the job's "
                        "process group",
                        e->cfg.kill_grace_ms);
            send_sig(e, s, SIGKILL);
        }
        s->t_grace = false;
        return;
    case K_T_EOF:
        if (s->t_eof && c->res == -ETIME)
            cut_streams(e, s);
        s->t_eof = false;
        return;
    default:
        return;
    }
}

/* ---- ended attempts ---- */

static void fill_result(struct exec_engine *e, struct slot *s, struct exec_result *r)
{
    memset(r, 0, sizeof *r);
    r->jid = s->job.jid;
    r->attempt = s->attempt;
    r->tag = s->job.tag;
    r->flags = s->flags;
    r->start_ns = s->start_wall;
    r->end_ns = vl_wall_ns();
    r->spawn_mono_ns = s->spawn_mono;
    r->exit_mono_ns = s->exit_mono;
    r->end_mono_ns = vl_now_ns();
    r->log.log_id = e->cfg.log_id;
    r->log.rec = s->logrec;
    r->spawn_err = s->spawn_err;
    r->pid = s->pid;
    if (s->spawn_err) {
        r->status = -1;
        r->outcome = EXEC_FAILED;
        return;
    }
    if (s->si.si_code == CLD_EXITED) {
        r->status = s->si.si_status;
    } else if (s->si.si_code == CLD_KILLED || s->si.si_code == CLD_DUMPED) {
        r->term_sig = s->si.si_status;
        r->status = 128 + s->si.si_status;
    } else {
        r->status = -1;
    }
    switch (s->reason) {
    case R_TIMEOUT:
        r->outcome = EXEC_TERMINATED;
        break;
    case R_CANCEL:
        r->outcome = EXEC_CANCELED;
        break;
    case R_STOP:
        r->outcome = EXEC_STOPPED;
        break;
    default:
        r->outcome = r->status == 0 ? EXEC_COMPLETED : EXEC_FAILED;
    }
}

static void report(struct exec_engine *e, const struct exec_result *r)
{
    e->stats.attempts++;
    if (e->src && e->src->done)
        e->src->done(e->src->ctx, r);
}

static void free_slot(struct exec_engine *e, struct slot *s)
{
    s->busy = false;
    s->recovery = false;
    e->running--;
    e->freel[e->nfree++] = s->idx;
}

/* The process in slot s ended (exit and both pipes): report, retry, run
 * the recovery script, or free the slot. */
static void finish(struct exec_engine *e, struct slot *s)
{
    s->queued = false;
    s->ended = true;
    if (s->t_runtime)
        remove_timer(e, UD(K_T_RUNTIME, s->idx, s->gen));
    if (s->t_grace)
        remove_timer(e, UD(K_T_GRACE, s->idx, s->gen));
    if (s->t_eof)
        remove_timer(e, UD(K_T_EOF, s->idx, s->gen));
    s->t_runtime = s->t_grace = s->t_eof = false;
    close_fd(e, s->pidfd);
    s->pidfd = -1;

    struct exec_result r;
    if (s->recovery) {
        struct exec_result rr;
        fill_result(e, s, &rr);
        r = s->pending;
        r.flags |= EXEC_RES_RECOVERY_RAN;
        s->recovery = false;
        bool stops = rr.outcome == EXEC_STOPPED || e->stopping || e->log.err;
        bool again = rr.outcome == EXEC_COMPLETED && !stops;
        const char *then = again                         ? ""
                           : stops                       ? ": the run stops, resume retries"
                           : rr.outcome == EXEC_CANCELED ? ": the job is canceled"
                                                         : ": no retry, the job fails";
        logseg_note(&e->log, s->job.jid, s->attempt, "volley: the recovery script %s %d%s",
                    rr.term_sig ? "was killed by signal" : "exited with",
                    rr.term_sig ? rr.term_sig : rr.status, then);
        if (again) {
            r.final = false;
            r.flags |= EXEC_RES_RETRY;
            report(e, &r);
            s->attempt++;
            start_proc(e, s);
            return;
        }
        if (rr.outcome == EXEC_STOPPED || e->stopping || e->log.err)
            r.outcome = EXEC_STOPPED;
        else if (rr.outcome == EXEC_CANCELED)
            r.outcome = EXEC_CANCELED;
        else
            r.flags |= EXEC_RES_RECOVERY_FAILED;
        r.final = true;
        report(e, &r);
        free_slot(e, s);
        return;
    }

    fill_result(e, s, &r);
    if (e->log.err) {
        /* Its bytes could not be written (disk full): as for a crash, the
         * attempt is not over for the record, and resume runs it again. */
        r.outcome = EXEC_STOPPED;
    } else if (r.outcome == EXEC_FAILED && s->job.fh) {
        struct failpol_decision d =
            failpol_decide(s->job.fh, s->spawn_err ? -1 : r.status,
                           s->attempt > s->job.lost ? s->attempt - s->job.lost : 1);
        if (d.retry && e->stopping) {
            r.outcome = EXEC_STOPPED; /* it would have run again: do so on resume */
        } else if (d.retry && d.recovery) {
            s->pending = r;
            s->recovery = true;
            s->script = d.recovery;
            start_proc(e, s);
            return;
        } else if (d.retry) {
            r.final = false;
            r.flags |= EXEC_RES_RETRY;
            report(e, &r);
            s->attempt++;
            start_proc(e, s);
            return;
        }
    }
    r.final = true;
    report(e, &r);
    free_slot(e, s);
}

static void process_finished(struct exec_engine *e)
{
    /* Logs first: a reported attempt's bytes are in the files. Only the
     * records of attempts that wrote nothing (BEGIN, two EOFs) may wait for
     * the flush timer: a pwrite per silent job is 5-10% of the runner's
     * CPU for `true` jobs, and such an attempt reads back as empty or, for
     * at most FLUSH_MS, as not there yet. */
    if (e->log.data_len > 0)
        logseg_flush(&e->log);
    e->stats.log_flushes = e->log.flushes;
    uint32_t n = e->nfin;
    uint32_t *q = e->finq;
    e->finq = e->finq2;
    e->finq2 = q;
    e->nfin = 0;
    for (uint32_t i = 0; i < n; i++)
        finish(e, &e->slots[q[i]]);
}

static void process_rearms(struct exec_engine *e)
{
    for (uint32_t k = 0; k < e->nrearm; k++) {
        struct slot *s = &e->slots[e->rearmq[k]];
        s->in_rearm = false;
        for (int i = 0; i < 2; i++) {
            if (!s->st[i].rearm)
                continue;
            s->st[i].rearm = false;
            if (s->busy && !s->st[i].done && !s->st[i].armed)
                arm_read(e, s, i);
        }
    }
    e->nrearm = 0;
}

static void drain_cqes(struct exec_engine *e)
{
    struct io_uring_cqe *cqes[64];
    for (;;) {
        unsigned n = io_uring_peek_batch_cqe(&e->ring, cqes, 64);
        if (!n)
            return;
        for (unsigned i = 0; i < n; i++)
            handle_cqe(e, cqes[i]);
        io_uring_cq_advance(&e->ring, n);
        e->stats.cqes += n;
    }
}

static void begin_stop(struct exec_engine *e)
{
    e->stopping = true;
    for (uint32_t i = 0; i < e->nslots; i++) {
        struct slot *s = &e->slots[i];
        if (s->busy && !s->queued && !s->spawn_err)
            begin_kill(e, s, R_STOP);
    }
}

int exec_engine_cancel(struct exec_engine *e, uint32_t jid)
{
    for (uint32_t i = 0; i < e->nslots; i++) {
        struct slot *s = &e->slots[i];
        if (s->busy && s->job.jid == jid && !s->queued && !s->ended) {
            begin_kill(e, s, R_CANCEL);
            return 0;
        }
    }
    return -ESRCH;
}

void exec_engine_stop(struct exec_engine *e)
{
    atomic_store(&e->stop_word, 1);
    syscall(SYS_futex, &e->stop_word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void arm_src_wait(struct exec_engine *e, bool said_empty)
{
    const struct exec_source *src = e->src;
    if (!src->word || !(said_empty || src->notify))
        return;
    if (!e->caps.futex_wait) {
        if (!e->tick_armed) {
            e->tick_armed = true;
            arm_timer(e, &e->ts_tick, TICK_MS, UD(K_T_TICK, 0, 0));
        }
        return;
    }
    if (e->src_armed)
        return;
    struct io_uring_sqe *q = sqe_get(e);
    uring_compat_prep_futex_wait(q, src->word, e->word_seen, src->word_private);
    q->user_data = UD(K_FUTEX_SRC, 0, 0);
    e->src_armed = true;
    e->outstanding++;
}

/* Cancels the run's own requests and waits for every outstanding CQE. */
static void run_teardown(struct exec_engine *e)
{
    if (e->src_armed)
        cancel_req(e, UD(K_FUTEX_SRC, 0, 0));
    if (e->stop_armed)
        cancel_req(e, UD(K_FUTEX_STOP, 0, 0));
    if (e->flush_armed)
        remove_timer(e, UD(K_T_FLUSH, 0, 0));
    if (e->tick_armed)
        remove_timer(e, UD(K_T_TICK, 0, 0));
    while (e->outstanding > 0) {
        int rc = io_uring_submit_and_wait(&e->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME)
            break;
        drain_cqes(e);
    }
    io_uring_submit(&e->ring);
    e->src_armed = e->stop_armed = e->flush_armed = e->tick_armed = false;
}

int exec_engine_run(struct exec_engine *e, const struct exec_source *src, struct vl_err *err)
{
    if (!src || !src->next)
        return vl_err_set(err, -EINVAL, "no job source");
    if (spawn_sigchld_ignored())
        return vl_err_set(err, -ECHILD,
                          "SIGCHLD is ignored in this process, so the kernel would reap the jobs "
                          "before volley can; restore its default disposition");
    e->sig_dfl = spawn_sig_sample();
    /* Signals stay blocked while we work and are let in only while we
     * sleep in io_uring_enter (its sigmask argument, like pselect): clone
     * needs them blocked anyway, and this saves two syscalls per spawn.
     * Not SIGCHLD: blocked, each job's would be queued and then interrupt
     * the next wait; unblocked and at SIG_DFL the kernel drops it at once.
     * Our child never gets one before exec (it has no children then). */
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGCHLD);
    pthread_sigmask(SIG_SETMASK, &all, &e->run_mask);
    e->sp.sigs_blocked = true;
    /* SCHED_BATCH: a job's exit wakes us three times (two EOFs and the exit,
     * microseconds apart); as SCHED_OTHER each wake-up preempts the dying
     * job on our CPU, so we wake and sleep three times per job. As
     * SCHED_BATCH we do not preempt it and take all three at once: 1.0
     * sleeps per job instead of 2.4, ~10 us less CPU per job here. With
     * SCHED_RESET_ON_FORK the jobs start as normal SCHED_OTHER tasks. */
    e->old_policy = -1;
    if (!e->cfg.normal_sched) {
        int pol = sched_getscheduler(0);
        struct sched_param bp = {0};
        if (pol == SCHED_OTHER && sched_getparam(0, &e->old_param) == 0 &&
            sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &bp) == 0)
            e->old_policy = pol;
    }
    e->src = src;
    e->stopping = false;
    e->src_woke = e->flush_due = false;
    e->fatal = 0;
    if (e->caps.futex_wait) {
        struct io_uring_sqe *q = sqe_get(e);
        uring_compat_prep_futex_wait(q, (const uint32_t *)&e->stop_word, 0, true);
        q->user_data = UD(K_FUTEX_STOP, 0, 0);
        e->stop_armed = true;
        e->outstanding++;
    }
    bool src_done = false;
    int ret = 0;
    for (;;) {
        if (atomic_load(&e->stop_word) && !e->stopping)
            begin_stop(e);
        if (e->nfin)
            process_finished(e);
        else if (e->flush_due)
            logseg_flush(&e->log);
        e->flush_due = false;
        /* Job logs cannot be written (disk full): stop now rather than run
         * the rest of the jobs with their output dropped. */
        if (e->log.err && !e->stopping)
            begin_stop(e);
        if (e->nrearm)
            process_rearms(e);
        if (e->src_woke) {
            e->src_woke = false;
            if (src->notify)
                src->notify(src->ctx);
        }
        bool empty = false;
        while (!e->stopping && !src_done && e->running < e->nslots) {
            if (src->word)
                e->word_seen = __atomic_load_n(src->word, __ATOMIC_ACQUIRE);
            struct exec_job job;
            memset(&job, 0, sizeof job);
            enum exec_next r = src->next(src->ctx, &job);
            if (r == EXEC_NEXT_JOB) {
                start_job(e, &job);
                continue;
            }
            if (r == EXEC_NEXT_DONE)
                src_done = true;
            else
                empty = true;
            break;
        }
        if (e->running == e->nslots && src->word && !e->src_armed)
            e->word_seen = __atomic_load_n(src->word, __ATOMIC_ACQUIRE);
        if (!e->stopping && !src_done)
            arm_src_wait(e, empty);
        if (e->running == 0 && e->nfin == 0) {
            if (e->stopping) {
                ret = 1;
                break;
            }
            if (src_done)
                break;
            if (empty && !src->word) {
                ret = vl_err_set(err, -EDEADLK,
                                 "the job source has nothing to run, no job is running, and it "
                                 "gave no word to wait on");
                break;
            }
        }
        if (logseg_pending(&e->log) && !e->flush_armed) {
            e->flush_armed = true;
            arm_timer(e, &e->ts_flush, FLUSH_MS, UD(K_T_FLUSH, 0, 0));
        }
        if (!e->caps.futex_wait && !e->tick_armed) {
            e->tick_armed = true; /* the stop flag has no futex to wake us */
            arm_timer(e, &e->ts_tick, TICK_MS, UD(K_T_TICK, 0, 0));
        }
        int rc;
        if (e->nfin || e->nrearm || e->src_woke) {
            rc = io_uring_submit(&e->ring);
        } else {
            struct io_uring_cqe *cqe;
            rc = io_uring_submit_and_wait_timeout(&e->ring, &cqe, 1, NULL, &e->run_mask);
            e->stats.waits++;
        }
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME)
            e->fatal = rc;
        if (e->fatal) {
            ret = vl_err_sys(err, e->fatal, "the engine's io_uring failed");
            break;
        }
        drain_cqes(e);
    }
    run_teardown(e);
    e->sp.sigs_blocked = false;
    pthread_sigmask(SIG_SETMASK, &e->run_mask, NULL);
    if (e->old_policy >= 0)
        sched_setscheduler(0, e->old_policy, &e->old_param);
    logseg_flush(&e->log);
    e->stats.log_flushes = e->log.flushes;
    atomic_store(&e->stop_word, 0);
    e->src = NULL;
    if (ret >= 0 && e->log.err)
        ret = vl_err_sys(err, e->log.err, "job logs could not be written to %s", e->log.seg_path);
    return ret;
}

/* ---- open / close ---- */

static bool shell_name(const char *s, size_t n)
{
    if (n == 0 || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static bool name_is(const char *entry, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(entry, name, n) == 0;
}

/*
 * The jobs' base environment, as dash would pass it on: entries whose name
 * is not a shell identifier are dropped, a repeated name keeps its last
 * value, PWD is kept if it names the working directory and otherwise set to
 * its physical path. The VOLLEY_* names are the engine's; CUDA_VISIBLE_
 * DEVICES is kept aside, for jobs without GPUs of their own.
 */
static int build_base_env(struct exec_engine *e, char *const *env, const char *workdir,
                          const char **path_env, struct vl_err *err)
{
    static const char *const ours[] = {"VOLLEY_JOB_ID",       "VOLLEY_JOB_NAME",
                                       "VOLLEY_ATTEMPT",      "VOLLEY_RUN_DIR",
                                       "VOLLEY_RETURN_CODE",  "PWD",
                                       "CUDA_VISIBLE_DEVICES"};
    size_t n = 0;
    while (env[n])
        n++;
    e->base = vl_xcalloc(n + 2, sizeof *e->base);
    const char *pwd = NULL;
    *path_env = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(env[i], '=');
        if (!eq)
            continue;
        size_t nl = (size_t)(eq - env[i]);
        if (!shell_name(env[i], nl))
            continue;
        bool skip = false;
        for (size_t k = 0; k < VL_ARRAY_LEN(ours); k++)
            if (name_is(env[i], nl, ours[k]))
                skip = true;
        if (name_is(env[i], nl, "PWD"))
            pwd = eq + 1;
        if (name_is(env[i], nl, "CUDA_VISIBLE_DEVICES")) {
            free(e->env_cuda);
            e->env_cuda = vl_xstrdup(env[i]);
        }
        if (skip)
            continue;
        size_t j;
        for (j = 0; j < e->nbase; j++)
            if (strncmp(e->base[j], env[i], nl + 1) == 0)
                break;
        if (j < e->nbase)
            free(e->base[j]);
        else
            e->nbase++;
        e->base[j] = vl_xstrdup(env[i]);
    }
    char *real = realpath(workdir, NULL);
    if (!real)
        return vl_err_sys(err, -errno, "cannot resolve the jobs' working directory %s", workdir);
    struct stat a, b;
    const char *use = real;
    if (pwd && pwd[0] == '/' && stat(pwd, &a) == 0 && stat(real, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        use = pwd;
    e->base[e->nbase++] = vl_xasprintf("PWD=%s", use);
    free(real);
    for (size_t j = 0; j < e->nbase; j++)
        if (strncmp(e->base[j], "PATH=", 5) == 0)
            *path_env = e->base[j] + 5;
    return 0;
}

static uint32_t pow2_at_least(uint32_t v)
{
    uint32_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

static int setup_ring(struct exec_engine *e, struct vl_err *err)
{
    uint32_t k = e->nslots;
    uint32_t sq = pow2_at_least(VL_MAX(64u, VL_MIN(8u * k, 4096u)));
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    p.cq_entries = sq * 4;
    int rc = io_uring_queue_init_params(sq, &e->ring, &p);
    if (rc == -EINVAL) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = sq * 4;
        rc = io_uring_queue_init_params(sq, &e->ring, &p);
    }
    if (rc < 0)
        return vl_err_sys(err, rc, "cannot set up an io_uring of %u entries", sq);
    e->ring_ok = true;
    uring_compat_probe(&e->ring, &e->caps);
    uint32_t dis = e->cfg.disable;
    if (dis & EXEC_DISABLE_WAITID)
        e->caps.waitid = false;
    if (dis & EXEC_DISABLE_MULTISHOT)
        e->caps.read_multishot = false;
    if (dis & EXEC_DISABLE_PBUF_INC)
        e->caps.pbuf_inc = false;
    if (dis & EXEC_DISABLE_FUTEX)
        e->caps.futex_wait = false;
    if (dis & EXEC_DISABLE_PGRP_SIGNAL)
        e->caps.pidfd_pgrp = false;

    /* Provided buffers: 32 KiB each, at least 16 and about two per pipe. */
    e->bufsz = 32u * 1024u;
    e->nbufs = VL_MIN(pow2_at_least(VL_MAX(16u, 2u * k)), 1024u);
    if (e->cfg.log_bufs)
        e->nbufs = VL_MIN(pow2_at_least(e->cfg.log_bufs), 32768u);
    long page = sysconf(_SC_PAGESIZE);
    e->br_bytes =
        ((size_t)e->nbufs * sizeof(struct io_uring_buf) + (size_t)page - 1) & ~((size_t)page - 1);
    void *m = mmap(NULL, e->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return vl_err_sys(err, -errno, "cannot map the buffer ring");
    e->br = m;
    m = mmap(NULL, (size_t)e->nbufs * e->bufsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (m == MAP_FAILED)
        return vl_err_sys(err, -errno, "cannot map %u log buffers", e->nbufs);
    e->bufs = m;
    e->boff = vl_xcalloc(e->nbufs, sizeof *e->boff);
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uint64_t)(uintptr_t)e->br;
    reg.ring_entries = e->nbufs;
    reg.bgid = BGID;
    reg.pad = e->caps.pbuf_inc ? IOU_PBUF_RING_INC_C : 0;
    rc = io_uring_register_buf_ring(&e->ring, &reg, 0);
    if (rc == -EINVAL && e->caps.pbuf_inc) {
        e->caps.pbuf_inc = false;
        reg.pad = 0;
        rc = io_uring_register_buf_ring(&e->ring, &reg, 0);
    }
    if (rc < 0)
        return vl_err_sys(err, rc, "cannot register the log buffer ring");
    io_uring_buf_ring_init(e->br);
    for (uint32_t i = 0; i < e->nbufs; i++)
        io_uring_buf_ring_add(e->br, e->bufs + (size_t)i * e->bufsz, e->bufsz, (uint16_t)i,
                              io_uring_buf_ring_mask(e->nbufs), (int)i);
    io_uring_buf_ring_advance(e->br, (int)e->nbufs);
    return 0;
}

struct exec_engine *exec_engine_open(const struct exec_config *cfg, struct vl_err *err)
{
    if (cfg->max_running == 0 || cfg->max_running > MAX_SLOTS) {
        vl_err_set(err, -EINVAL, "jobs at once must be between 1 and %u, not %u", MAX_SLOTS,
                   cfg->max_running);
        return NULL;
    }
    if (!cfg->log_dir) {
        vl_err_set(err, -EINVAL, "no log directory given");
        return NULL;
    }
    struct exec_engine *e = vl_xcalloc(1, sizeof *e);
    e->cfg = *cfg;
    e->nslots = cfg->max_running;
    e->devnull = e->cwd_fd = -1;
    e->log.idx_fd = e->log.seg_fd = -1;
    char *wd = NULL;
    const char *path_env = NULL;

    if ((e->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        vl_err_sys(err, -errno, "cannot open /dev/null");
        goto fail;
    }
    if (cfg->workdir) {
        e->cwd_fd = open(cfg->workdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (e->cwd_fd < 0) {
            vl_err_sys(err, -errno, "cannot open the jobs' working directory %s", cfg->workdir);
            goto fail;
        }
        wd = vl_xstrdup(cfg->workdir);
    } else if (!(wd = getcwd(NULL, 0))) {
        vl_err_sys(err, -errno, "cannot get the current directory");
        goto fail;
    }
    if (build_base_env(e, cfg->environ ? cfg->environ : environ, wd, &path_env, err) != 0)
        goto fail;
    e->paths = cmdpath_new(path_env);
    e->env_run_dir = vl_xasprintf("VOLLEY_RUN_DIR=%s", cfg->run_dir ? cfg->run_dir : cfg->log_dir);
    if (logseg_open(&e->log, cfg->log_dir, cfg->log_id, err) != 0)
        goto fail;
    if (spawner_init(&e->sp, cfg->spawn_mode, e->nslots, err) != 0)
        goto fail;
    e->sp_ok = true;
    if (setup_ring(e, err) != 0)
        goto fail;
    if (cfg->pin_cpu >= 0) {
        cpu_set_t one;
        sched_getaffinity(0, sizeof e->orig_mask, &e->orig_mask);
        CPU_ZERO(&one);
        CPU_SET(cfg->pin_cpu, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0) {
            vl_err_sys(err, -errno, "cannot pin the engine to CPU %d", cfg->pin_cpu);
            goto fail;
        }
        e->pinned = true;
    }
    e->slots = vl_xcalloc(e->nslots, sizeof *e->slots);
    e->freel = vl_xcalloc(e->nslots, sizeof *e->freel);
    e->finq = vl_xcalloc(e->nslots, sizeof *e->finq);
    e->finq2 = vl_xcalloc(e->nslots, sizeof *e->finq2);
    e->rearmq = vl_xcalloc(e->nslots, sizeof *e->rearmq);
    for (uint32_t i = 0; i < e->nslots; i++) {
        struct slot *s = &e->slots[i];
        s->idx = i;
        s->pidfd = -1;
        s->st[0].fd = s->st[1].fd = -1;
        s->wcap = 256;
        s->wbuf = vl_xmalloc(s->wcap);
        s->argv_cap = 16;
        s->argv = vl_xcalloc(s->argv_cap, sizeof *s->argv);
        s->envmem = vl_xcalloc(HEAD_ENV + e->nbase + 1, sizeof *s->envmem);
        memcpy(s->envmem + HEAD_ENV, e->base, e->nbase * sizeof *e->base);
        e->freel[e->nfree++] = e->nslots - 1 - i;
    }
    free(wd);
    return e;
fail:
    free(wd);
    exec_engine_close(e);
    return NULL;
}

void exec_engine_close(struct exec_engine *e)
{
    if (!e)
        return;
    if (e->ring_ok) {
        if (e->br)
            io_uring_unregister_buf_ring(&e->ring, BGID);
        io_uring_queue_exit(&e->ring);
    }
    if (e->sp_ok)
        spawner_fini(&e->sp);
    if (e->pinned)
        sched_setaffinity(0, sizeof e->orig_mask, &e->orig_mask);
    logseg_close(&e->log);
    if (e->br)
        munmap(e->br, e->br_bytes);
    if (e->bufs)
        munmap(e->bufs, (size_t)e->nbufs * e->bufsz);
    free(e->boff);
    if (e->slots) {
        for (uint32_t i = 0; i < e->nslots; i++) {
            free(e->slots[i].wbuf);
            free(e->slots[i].argv);
            free(e->slots[i].envmem);
            vl_buf_free(&e->slots[i].envstr);
        }
    }
    free(e->slots);
    free(e->freel);
    free(e->finq);
    free(e->finq2);
    free(e->rearmq);
    for (size_t i = 0; i < e->nbase; i++)
        free(e->base[i]);
    free(e->base);
    free(e->env_run_dir);
    free(e->env_cuda);
    cmdpath_free(e->paths);
    if (e->devnull >= 0)
        close(e->devnull);
    if (e->cwd_fd >= 0)
        close(e->cwd_fd);
    free(e);
}

void exec_engine_caps(const struct exec_engine *e, struct uring_caps *caps)
{
    *caps = e->caps;
}

void exec_engine_stats(const struct exec_engine *e, struct exec_stats *st)
{
    *st = e->stats;
}

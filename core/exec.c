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
 *
 * This file is the loop; starting a process is exec_start.c, open and
 * close exec_open.c, the structs and shared helpers exec_int.h.
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

#include "core/exec_int.h"

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

/* True if the slot's process has exited though the ring has not said so
 * yet (its end is waiting to be read): one waitid that reaps nothing. */
static bool exited_unread(const struct slot *s)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return s->pidfd >= 0 &&
           waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
}

void exec__begin_kill(struct exec_engine *e, struct slot *s, enum reason why)
{
    if (s->kill_stage || s->spawn_err)
        return;
    /* The reason is what ended the process only if it was alive when the
     * kill began: one that had exited by itself ends as it exited (a
     * job's shell that exits 0 as scancel's SIGTERM kills its `sleep`, a
     * moment before the stop reaches the worker, completed). What it left
     * in its group is still signalled. */
    if (!s->exited && !exited_unread(s))
        s->reason = (uint8_t)why;
    send_sig(e, s, e->cfg.term_signal);
    s->kill_stage = 1;
    s->t_grace = true;
    exec__arm_timer(e, &s->ts_grace, e->cfg.kill_grace_ms, UD(K_T_GRACE, s->idx, s->gen));
}

/* "SIGTERM" for SIGTERM (a number for one without a name). */
static const char *sig_name(int sig, char *buf, size_t len)
{
    const char *n = sigabbrev_np(sig);
    if (n)
        snprintf(buf, len, "SIG%s", n);
    else
        snprintf(buf, len, "signal %d", sig);
    return buf;
}

/* ---- logs of a slot ---- */

/* Notes where n bytes of the slot's captured output went (they begin at
 * segment offset off), for delete_on_success. */
static void note_range(struct slot *s, uint64_t off, uint64_t n)
{
    if (s->nranges && s->ranges[s->nranges - 1].off + s->ranges[s->nranges - 1].len == off) {
        s->ranges[s->nranges - 1].len += n;
        return;
    }
    if (s->nranges == s->ranges_cap) { /* output interleaved with many others': rare */
        s->ranges_cap *= 2;
        s->ranges = vl_xrealloc(s->ranges, s->ranges_cap * sizeof *s->ranges);
    }
    s->ranges[s->nranges++] = (struct exec_range){.off = off, .len = n};
}

/* A completed job with delete_on_success: its captured output's segment
 * space goes back to the file system (the index still describes it; the
 * bytes read as zeros, and `volley logs` says they were deleted). */
static void delete_output(struct exec_engine *e, struct slot *s)
{
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < s->nranges; i++) {
        logseg_punch(&e->log, s->ranges[i].off, s->ranges[i].len);
        bytes += s->ranges[i].len;
    }
    logseg_note(&e->log, s->job.jid, s->attempt,
                "volley: completed: its output (%llu bytes) is deleted (stdio delete_on_success)",
                (unsigned long long)bytes);
    s->nranges = 0;
}

static void check_done(struct exec_engine *e, struct slot *s)
{
    if (!s->exited || s->queued)
        return;
    if (s->st[0].done && s->st[1].done && !s->cg_wait) {
        exec__queue_finished(e, s);
        return;
    }
    if (!s->t_eof) {
        s->t_eof = true;
        exec__arm_timer(e, &s->ts_eof, e->cfg.eof_wait_ms, UD(K_T_EOF, s->idx, s->gen));
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
    logseg_end(&e->log, s->job.jid, s->attempt, exec__stream_id(s, i), kind);
    exec__close_fd(e, st->fd);
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
            exec__cancel_req(e, UD(K_READ0 + i, s->idx, s->gen));
        else
            stream_done(e, s, i, LOGREC_CUT); /* waiting for a re-arm */
    }
}

/* ---- completions ---- */

/* Waits for the job's group to empty: a poll on cgroup.events (it
 * signals POLLPRI when "populated" changes), or, without it, a look every
 * CG_LOOK_MS. */
static void arm_cg(struct exec_engine *e, struct slot *s)
{
    struct io_uring_sqe *q;
    if (s->job.cg->events_fd >= 0) {
        q = exec__sqe_get(e);
        io_uring_prep_poll_add(q, s->job.cg->events_fd, POLLPRI);
        q->user_data = UD(K_CG, s->idx, s->gen);
        e->outstanding++;
    } else {
        exec__arm_timer(e, &s->ts_cg, CG_LOOK_MS, UD(K_CG, s->idx, s->gen));
    }
    s->cg_armed = true;
}

/* The main process is gone: whatever else the job started is killed now
 * (docs/limits.md), which also ends the EOF wait a background process
 * holding a pipe would cause. */
static void kill_leftovers(struct exec_engine *e, struct slot *s)
{
    uint32_t n = 0;
    if (s->job.cg) {
        int rc = cgroup_slot_reap(s->job.cg);
        if (rc < 0)
            logseg_note(&e->log, s->job.jid, s->attempt,
                        "volley: cannot look for what the job left in its cgroup: %s",
                        vl_strerror(rc));
        if (rc > 0) {
            n = (uint32_t)rc;
            if (cgroup_slot_empty(s->job.cg)) {
                s->cg_wait = false;
            } else {
                s->cg_wait = true;
                arm_cg(e, s);
            }
        }
    } else if (!e->cfg.keep_leftovers && e->caps.pidfd_pgrp && s->pidfd >= 0 &&
               syscall(SYS_pidfd_send_signal, s->pidfd, 0, NULL, PIDFD_SIGNAL_PROCESS_GROUP_C) ==
                   0) {
        /* Its process group outlives it (the pidfd holds the group's id,
         * so no reused pid is hit): count it, then SIGKILL it. */
        n = vl_proc_count_pgrp(s->pid);
        syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, PIDFD_SIGNAL_PROCESS_GROUP_C);
        if (!n)
            n = 1;
    }
    if (!n)
        return;
    s->leftovers += n;
    e->stats.leftovers += n;
    logseg_note(&e->log, s->job.jid, s->attempt,
                "volley: killed %u leftover process%s: %s still running when the %s ended", n,
                n == 1 ? "" : "es", n == 1 ? "it was" : "they were",
                s->recovery ? "recovery script" : "job's main process");
}

static void on_exit_reaped(struct exec_engine *e, struct slot *s)
{
    s->exited = true;
    s->exit_mono = vl_now_ns();
    if (s->t_runtime) {
        s->t_runtime = false;
        exec__remove_timer(e, UD(K_T_RUNTIME, s->idx, s->gen));
    }
    kill_leftovers(e, s);
    check_done(e, s);
}

/* After a WNOWAIT wait: the reap itself, with the process's rusage. */
static void reap_with_rusage(struct slot *s)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (syscall(SYS_waitid, P_PIDFD, s->pidfd, &si, WEXITED | WNOHANG, &s->ru) == 0 &&
        si.si_pid != 0)
        s->have_ru = true;
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
            if (s->job.delete_on_success && !s->recovery)
                note_range(s, e->log.seg_end, (uint64_t)res);
            logseg_data(&e->log, s->job.jid, s->attempt, exec__stream_id(s, i), p, (size_t)res);
            e->stats.log_bytes += (uint64_t)res;
        }
        if (!inc)
            exec__recycle_buf(e, bid);
        else if (res > 0) {
            e->boff[bid] += (uint32_t)res;
            if (!(fl & IORING_CQE_F_BUF_MORE_C))
                exec__recycle_buf(e, bid);
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
            exec__arm_read(e, s, i); /* a one-shot read, or a multishot that ended */
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
            if (s->want_ru)
                reap_with_rusage(s);
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
        int rc = (int)syscall(SYS_waitid, P_PIDFD, s->pidfd, &si, WEXITED | WNOHANG, &s->ru);
        if (rc == 0 && si.si_pid != 0) {
            s->si = si;
            s->have_ru = true;
            on_exit_reaped(e, s);
        } else if (rc == 0 || errno == EINTR) {
            exec__arm_wait(e, s);
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
                char sn[32];
                logseg_note(&e->log, s->job.jid, s->attempt,
                            "volley: runtime of %llu ms exceeded: %s to the job's process group",
                            (unsigned long long)s->job.runtime_ms,
                            sig_name(e->cfg.term_signal, sn, sizeof sn));
                exec__begin_kill(e, s, R_TIMEOUT);
            }
        }
        s->t_runtime = false;
        return;
    case K_T_GRACE:
        if (s->t_grace && c->res == -ETIME) {
            s->kill_stage = 2;
            s->flags |= EXEC_RES_KILLED;
            char sn[32];
            logseg_note(&e->log, s->job.jid, s->attempt,
                        "volley: still running %u ms after %s: SIGKILL to the job's "
                        "process group",
                        e->cfg.kill_grace_ms, sig_name(e->cfg.term_signal, sn, sizeof sn));
            send_sig(e, s, SIGKILL);
            if (s->job.cg) /* and what left the process group */
                (void)cgroup_slot_kill(s->job.cg);
        }
        s->t_grace = false;
        return;
    case K_CG:
        s->cg_armed = false;
        if (!s->cg_wait)
            return;
        if (cgroup_slot_empty(s->job.cg)) {
            s->cg_wait = false;
            check_done(e, s);
        } else {
            arm_cg(e, s);
        }
        return;
    case K_T_EOF:
        if (s->t_eof && c->res == -ETIME)
            cut_streams(e, s);
        s->t_eof = false;
        return;
    case K_T_HOLD:
        if (s->held && !s->queued && c->res == -ETIME)
            exec__queue_finished(e, s); /* nothing stopped: it ended as it ended */
        return;
    default:
        return;
    }
}

/* ---- ended attempts ---- */

/* "64 MiB", "1.5 GiB": a size as a note shows it. */
static const char *fmt_size(uint64_t b, char *buf, size_t len)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)b / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        u++;
    }
    if (v == (double)(uint64_t)v)
        snprintf(buf, len, "%.0f %s", v, unit[u]);
    else
        snprintf(buf, len, "%.1f %s", v, unit[u]);
    return buf;
}

/* What the process that just ended used: its group's counters, the rest
 * from its rusage; the slot is ready for the next process afterwards. */
static void end_usage(struct slot *s, bool failed, struct exec_usage *u, uint32_t *oom)
{
    struct cgroup_usage cu = {0};
    if (s->job.cg && !s->spawn_err)
        cgroup_slot_end(s->job.cg, failed, s->job.mem_limit_bytes, &cu);
    memset(u, 0, sizeof *u);
    *oom = cu.have_oom ? cu.oom_kills : 0;
    if (cu.have_mem)
        u->max_rss_bytes = cu.peak_bytes;
    else if (s->have_ru)
        u->max_rss_bytes = (uint64_t)s->ru.ru_maxrss * 1024u;
    if (cu.have_cpu) {
        u->cpu_user_us = cu.user_usec;
        u->cpu_sys_us = cu.sys_usec;
    } else if (s->have_ru) {
        u->cpu_user_us =
            (uint64_t)s->ru.ru_utime.tv_sec * 1000000u + (uint64_t)s->ru.ru_utime.tv_usec;
        u->cpu_sys_us =
            (uint64_t)s->ru.ru_stime.tv_sec * 1000000u + (uint64_t)s->ru.ru_stime.tv_usec;
    }
}

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
    r->leftovers = s->leftovers;
    uint32_t oom = 0;
    end_usage(s, r->status != 0, &r->usage, &oom);
    if (oom) {
        r->oom_kills = oom;
        r->flags |= EXEC_RES_OOM;
        char lim[32], peak[32];
        if (s->job.mem_limit_bytes)
            fmt_size(s->job.mem_limit_bytes, lim, sizeof lim);
        else
            snprintf(lim, sizeof lim, "none of volley's");
        fmt_size(r->usage.max_rss_bytes, peak, sizeof peak);
        logseg_note(&e->log, s->job.jid, s->attempt,
                    "volley: out of memory: limit %s, peak %s (the kernel killed %u process%s "
                    "of the %s)",
                    lim, peak, oom, oom == 1 ? "" : "es", s->recovery ? "recovery script" : "job");
        /* torc's oom_exit_code: a job the kernel killed for its memory
         * fails with it (137 unless the workflow says), whatever its
         * shell made of the kill */
        if (r->status != 0 && s->reason == R_NONE) {
            r->status = e->cfg.oom_code;
            r->outcome = EXEC_FAILED;
        }
    }
}

/* An attempt that another follows: its usage stays in its notes (volley.db
 * keeps the last attempt's, docs/limits.md). */
static void note_usage(struct exec_engine *e, const struct slot *s, const struct exec_result *r)
{
    char peak[32];
    logseg_note(&e->log, s->job.jid, r->attempt,
                "volley: attempt %u used: peak memory %s, CPU %.3f s user, %.3f s system",
                r->attempt, fmt_size(r->usage.max_rss_bytes, peak, sizeof peak),
                (double)r->usage.cpu_user_us / 1e6, (double)r->usage.cpu_sys_us / 1e6);
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

/*
 * A death from outside: SIGTERM, SIGINT, SIGHUP or SIGKILL that volley did
 * not send, or the 128 + n a shell exits with when its command died of
 * one. A batch scheduler (scancel, a time limit), systemd or a `kill` to a
 * session sends the stop signal to every process at once, in no order: the
 * job may die of it a moment before volley is told to stop. Such an end is
 * held for the kill grace before it is a failure (hold_end), and is
 * stopped, not failed, if the run stops meanwhile (docs/execution.md).
 * Returns the signal, or 0.
 */
static int outside_death(const struct exec_result *r)
{
    if (r->outcome != EXEC_FAILED || r->spawn_err)
        return 0;
    int sig = r->term_sig ? r->term_sig : r->status > 128 ? r->status - 128 : 0;
    return sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGKILL ? sig : 0;
}

static void note_death(struct exec_engine *e, struct slot *s, const struct exec_result *r, int sig,
                       const char *then)
{
    if (r->term_sig)
        logseg_note(&e->log, s->job.jid, s->attempt, "volley: %s was killed by signal %d (%s)%s",
                    s->recovery ? "the recovery script" : "the job", sig, strsignal(sig), then);
    else
        logseg_note(&e->log, s->job.jid, s->attempt,
                    "volley: %s exited with %d, a death by signal %d (%s)%s",
                    s->recovery ? "the recovery script" : "the job", r->status, sig, strsignal(sig),
                    then);
}

/* Holds the end r of slot s's process for the kill grace: the slot stays
 * busy, its report waits; finish concludes it when the timer runs out
 * (as it ended) or when the run stops first (stopped). */
static void hold_end(struct exec_engine *e, struct slot *s, const struct exec_result *r, int sig)
{
    s->hold = *r;
    s->held = true;
    char then[160];
    snprintf(then, sizeof then,
             ", not by volley: held %u ms: if the run stops meanwhile, the attempt is stopped, "
             "not failed",
             e->cfg.kill_grace_ms);
    note_death(e, s, r, sig, then);
    exec__arm_timer(e, &s->ts_hold, e->cfg.kill_grace_ms, UD(K_T_HOLD, s->idx, s->gen));
}

/* The end of slot s's process, r (a job attempt, or the recovery script
 * after one): report, retry, run the recovery script, or free the slot. */
static void conclude(struct exec_engine *e, struct slot *s, const struct exec_result *pr)
{
    int sig = outside_death(pr);
    if (sig && e->stopping)
        note_death(e, s, pr, sig, " as the run stops: the attempt is stopped, not failed");
    struct exec_result r;
    if (s->recovery) {
        const struct exec_result *rr = pr;
        r = s->pending;
        r.flags |= EXEC_RES_RECOVERY_RAN;
        s->recovery = false;
        bool stops = rr->outcome == EXEC_STOPPED || e->stopping || e->log.err;
        bool again = rr->outcome == EXEC_COMPLETED && !stops;
        const char *then = again                          ? ""
                           : stops                        ? ": the run stops, resume retries"
                           : rr->outcome == EXEC_CANCELED ? ": the job is canceled"
                                                          : ": no retry, the job fails";
        logseg_note(&e->log, s->job.jid, s->attempt, "volley: the recovery script %s %d%s",
                    rr->term_sig ? "was killed by signal" : "exited with",
                    rr->term_sig ? rr->term_sig : rr->status, then);
        if (again) {
            note_usage(e, s, &r);
            r.final = false;
            r.flags |= EXEC_RES_RETRY;
            report(e, &r);
            s->attempt++;
            exec__start_proc(e, s);
            return;
        }
        if (stops)
            r.outcome = EXEC_STOPPED;
        else if (rr->outcome == EXEC_CANCELED)
            r.outcome = EXEC_CANCELED;
        else
            r.flags |= EXEC_RES_RECOVERY_FAILED;
        r.final = true;
        report(e, &r);
        free_slot(e, s);
        return;
    }

    r = *pr;
    if (e->log.err) {
        /* Its bytes could not be written (disk full): as for a crash, the
         * attempt is not over for the record, and resume runs it again. */
        r.outcome = EXEC_STOPPED;
    } else if (sig && e->stopping) {
        r.outcome = EXEC_STOPPED; /* the stop reached it first: resume runs it again */
    } else if ((r.outcome == EXEC_FAILED || r.outcome == EXEC_TERMINATED) && s->job.fh) {
        /* a job killed at its runtime is seen as timeout_code (152) */
        s->seen_code = r.outcome == EXEC_TERMINATED ? e->cfg.timeout_code
                       : s->spawn_err               ? -1
                                                    : r.status;
        struct failpol_decision d = failpol_decide(
            s->job.fh, s->seen_code, s->attempt > s->job.lost ? s->attempt - s->job.lost : 1);
        if (d.retry && e->stopping) {
            r.outcome = EXEC_STOPPED; /* it would have run again: do so on resume */
        } else if (d.retry && d.recovery) {
            s->pending = r;
            s->recovery = true;
            s->script = d.recovery;
            exec__start_proc(e, s);
            return;
        } else if (d.retry) {
            note_usage(e, s, &r);
            r.final = false;
            r.flags |= EXEC_RES_RETRY;
            report(e, &r);
            s->attempt++;
            exec__start_proc(e, s);
            return;
        }
    }
    if (r.outcome == EXEC_COMPLETED && s->job.delete_on_success)
        delete_output(e, s);
    r.final = true;
    report(e, &r);
    free_slot(e, s);
}

/* The process in slot s ended (exit and both pipes), or the hold of its
 * end is over: conclude, unless it died from outside and nothing stops
 * yet (hold_end). */
static void finish(struct exec_engine *e, struct slot *s)
{
    s->queued = false;
    if (s->held) {
        s->held = false;
        struct exec_result r = s->hold;
        conclude(e, s, &r);
        return;
    }
    s->ended = true;
    if (s->t_runtime)
        exec__remove_timer(e, UD(K_T_RUNTIME, s->idx, s->gen));
    if (s->t_grace)
        exec__remove_timer(e, UD(K_T_GRACE, s->idx, s->gen));
    if (s->t_eof)
        exec__remove_timer(e, UD(K_T_EOF, s->idx, s->gen));
    s->t_runtime = s->t_grace = s->t_eof = false;
    exec__close_fd(e, s->pidfd);
    s->pidfd = -1;

    struct exec_result r;
    fill_result(e, s, &r);
    int sig = outside_death(&r);
    /* A kill by the kernel for the job's own memory limit (its group's
     * oom_kill count) is the job's failure, not a stop that reached it
     * first: not held, so a stop in the next kill grace leaves it failed */
    bool oom = r.flags & EXEC_RES_OOM;
    if (sig && !oom && !e->stopping && !e->log.err && e->cfg.kill_grace_ms) {
        hold_end(e, s, &r, sig);
        return;
    }
    conclude(e, s, &r);
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
                exec__arm_read(e, s, i);
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
        if (s->busy && s->held && !s->queued) {
            /* it died of the stop that now reaches us: stopped, not failed */
            exec__remove_timer(e, UD(K_T_HOLD, s->idx, s->gen));
            exec__queue_finished(e, s);
        } else if (s->busy && !s->queued && !s->spawn_err && !s->held) {
            exec__begin_kill(e, s, R_STOP);
        }
    }
}

int exec_engine_cancel(struct exec_engine *e, uint32_t jid)
{
    for (uint32_t i = 0; i < e->nslots; i++) {
        struct slot *s = &e->slots[i];
        if (s->busy && s->job.jid == jid && !s->queued && !s->ended) {
            exec__begin_kill(e, s, R_CANCEL);
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
            exec__arm_timer(e, &e->ts_tick, TICK_MS, UD(K_T_TICK, 0, 0));
        }
        return;
    }
    if (e->src_armed)
        return;
    struct io_uring_sqe *q = exec__sqe_get(e);
    uring_compat_prep_futex_wait(q, src->word, e->word_seen, src->word_private,
                                 src->word_mask ? src->word_mask : 0xffffffffu);
    q->user_data = UD(K_FUTEX_SRC, 0, 0);
    e->src_armed = true;
    e->outstanding++;
}

/* Cancels the run's own requests and waits for every outstanding CQE. */
static void run_teardown(struct exec_engine *e)
{
    if (e->src_armed)
        exec__cancel_req(e, UD(K_FUTEX_SRC, 0, 0));
    if (e->stop_armed)
        exec__cancel_req(e, UD(K_FUTEX_STOP, 0, 0));
    if (e->flush_armed)
        exec__remove_timer(e, UD(K_T_FLUSH, 0, 0));
    if (e->tick_armed)
        exec__remove_timer(e, UD(K_T_TICK, 0, 0));
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
    if (!e->cfg.sigchld_blocked)
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
        struct io_uring_sqe *q = exec__sqe_get(e);
        uring_compat_prep_futex_wait(q, (const uint32_t *)&e->stop_word, 0, true, 0xffffffffu);
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
                exec__start_job(e, &job);
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
            exec__arm_timer(e, &e->ts_flush, FLUSH_MS, UD(K_T_FLUSH, 0, 0));
        }
        if (!e->caps.futex_wait && !e->tick_armed) {
            e->tick_armed = true; /* the stop flag has no futex to wake us */
            exec__arm_timer(e, &e->ts_tick, TICK_MS, UD(K_T_TICK, 0, 0));
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

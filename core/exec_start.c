/*
 * exec_start.c - starting a process in a slot of the engine (exec_int.h):
 * its environment (the base built at open, then the job's VOLLEY_*
 * variables), how its command runs (exec'd directly when it has no shell
 * syntax, else through /bin/sh -c), the spawn, and the first requests on
 * its pidfd and pipes.
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
        logseg_end(&e->log, s->job.jid, s->attempt, exec__stream_id(s, i), LOGREC_EOF);
    }
    exec__queue_finished(e, s);
}

/* Starts the slot's next process: attempt s->attempt of its job, or, with
 * s->recovery, the recovery script after it. */
void exec__start_proc(struct exec_engine *e, struct slot *s)
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
                    s->seen_code, s->attempt + 1);
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
    s->req.envp = build_env(e, s, s->seen_code);
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
    exec__close_fd(e, po[1]);
    exec__close_fd(e, pe[1]);
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
    exec__arm_wait(e, s);
    exec__arm_read(e, s, 0);
    exec__arm_read(e, s, 1);
    if (!s->recovery && s->job.runtime_ms) {
        s->t_runtime = true;
        exec__arm_timer(e, &s->ts_runtime, s->job.runtime_ms, UD(K_T_RUNTIME, s->idx, s->gen));
    }
    if (e->stopping)
        exec__begin_kill(e, s, R_STOP);
}

void exec__start_job(struct exec_engine *e, const struct exec_job *job)
{
    struct slot *s = &e->slots[e->freel[--e->nfree]];
    s->busy = true;
    e->running++;
    s->job = *job;
    s->attempt = job->attempt ? job->attempt : 1;
    s->recovery = false;
    s->script = NULL;
    memset(&s->pending, 0, sizeof s->pending);
    exec__start_proc(e, s);
}

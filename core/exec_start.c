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

/* ---- the environment ---- */

/* Appends "PREFIXvalue" and its NUL to b; returns the entry's offset. */
static size_t put_var(struct vl_buf *b, const char *prefix, const char *value)
{
    size_t at = b->len;
    vl_buf_adds(b, prefix);
    vl_buf_adds(b, value);
    vl_buf_addc(b, '\0');
    return at;
}

/* Whether entries "KEY=..." a and b have the same key. */
static bool same_key(const char *a, const char *b)
{
    while (*a && *a == *b && *a != '=') {
        a++;
        b++;
    }
    return *a == '=' && *b == '=';
}

/* Whether the job's own env has the key of entry (a "KEY=" string). */
static bool job_env_has(const struct slot *s, const char *entry)
{
    for (uint32_t i = 0; i < s->job.nenv; i++)
        if (same_key(s->job.env[i], entry))
            return true;
    return false;
}

/*
 * The variables volley sets for the slot's process, each with its TORC_
 * alias (torc's names: recovery scripts written for torc read
 * TORC_JOB_NAME, TORC_RETURN_CODE ...), as entries in s->envstr: offsets
 * in off[], the count returned (at most HEAD_ENV - 2: the run directory's
 * two entries are shared, see build_env); for a job with CPUs,
 * VOLLEY_NUM_CPUS and OMP_NUM_THREADS (docs/limits.md).
 */
static int head_vars(struct slot *s, int rc_of_failed, bool omp_set, size_t *off)
{
    struct vl_buf *b = &s->envstr;
    b->len = 0;
    int h = 0;
    char num[24];
    if (!s->job.no_ids) {
        snprintf(num, sizeof num, "%u", s->job.jid);
        off[h++] = put_var(b, "VOLLEY_JOB_ID=", num);
        off[h++] = put_var(b, "TORC_JOB_ID=", num);
        const char *name = s->job.name ? s->job.name : "";
        off[h++] = put_var(b, "VOLLEY_JOB_NAME=", name);
        off[h++] = put_var(b, "TORC_JOB_NAME=", name);
        snprintf(num, sizeof num, "%u", s->attempt);
        off[h++] = put_var(b, "VOLLEY_ATTEMPT=", num);
        off[h++] = put_var(b, "TORC_ATTEMPT_ID=", num);
    }
    if (s->job.cuda_devices)
        off[h++] = put_var(b, "CUDA_VISIBLE_DEVICES=", s->job.cuda_devices);
    if (s->recovery) {
        snprintf(num, sizeof num, "%d", rc_of_failed);
        off[h++] = put_var(b, "VOLLEY_RETURN_CODE=", num);
        off[h++] = put_var(b, "TORC_RETURN_CODE=", num);
    }
    if (s->job.num_cpus) { /* docs/limits.md */
        snprintf(num, sizeof num, "%u", s->job.num_cpus);
        off[h++] = put_var(b, "VOLLEY_NUM_CPUS=", num);
        /* OpenMP's default is every CPU of the node; the environment's
           value, or the job's own env's, is kept */
        if (!omp_set && !job_env_has(s, "OMP_NUM_THREADS="))
            off[h++] = put_var(b, "OMP_NUM_THREADS=", num);
    }
    return h;
}

/*
 * The environment of the slot's next process; returns envp. Order of
 * precedence: what volley sets (head_vars, the run directory), then the
 * job's own env (exec_job.env), then the environment volley runs in (the
 * base, built at open). A job without env of its own (the usual case)
 * costs the head only: the base follows it in s->envmem, shared.
 */
static char **build_env(struct exec_engine *e, struct slot *s, int rc_of_failed)
{
    size_t off[HEAD_ENV];
    int h = head_vars(s, rc_of_failed, e->env_has_omp, off);
    const char *base = s->envstr.p; /* final now: nothing more is appended */
    bool cuda = s->job.cuda_devices != NULL;
    if (!s->job.nenv) {
        int total = h + 2 + (!cuda && e->env_cuda ? 1 : 0);
        char **envp = s->envmem + (HEAD_ENV - total);
        int k = 0;
        for (int i = 0; i < h; i++)
            envp[k++] = (char *)base + off[i];
        envp[k++] = e->env_run_dir;
        envp[k++] = e->env_out_dir;
        if (!cuda && e->env_cuda)
            envp[k++] = e->env_cuda;
        return envp;
    }
    size_t need = (size_t)h + 3 + s->job.nenv + e->nbase + 1;
    if (need > s->envjob_cap) { /* beyond exec_config.max_env: rare */
        s->envjob_cap = need;
        s->envjob = vl_xrealloc(s->envjob, need * sizeof *s->envjob);
    }
    char **envp = s->envjob;
    size_t k = 0;
    for (int i = 0; i < h; i++)
        envp[k++] = (char *)base + off[i];
    envp[k++] = e->env_run_dir;
    envp[k++] = e->env_out_dir;
    size_t ours = k;
    for (uint32_t i = 0; i < s->job.nenv; i++) {
        const char *v = s->job.env[i];
        bool taken = false;
        for (size_t o = 0; o < ours && !taken; o++)
            taken = same_key(envp[o], v);
        if (!taken)
            envp[k++] = (char *)v;
    }
    if (!cuda && e->env_cuda && !job_env_has(s, e->env_cuda))
        envp[k++] = e->env_cuda;
    for (size_t i = 0; i < e->nbase; i++)
        if (!job_env_has(s, e->base[i]))
            envp[k++] = e->base[i];
    envp[k] = NULL;
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
    /* a PATH of the job's own: the shell finds the program in it */
    if (s->recovery || e->cfg.no_direct || (s->job.nenv && job_env_has(s, "PATH=")))
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
        if (exec__captured(s, i))
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
    s->cg_wait = s->cg_armed = s->have_ru = false;
    s->leftovers = 0;
    /* usage from rusage unless the group counts both memory and CPU */
    const struct cgroup_slot *cg = s->job.cg;
    s->want_ru = !cg || !(cg->t->can & CGROUP_CAN_CPU) || cg->peak_fd < 0;
    if (!s->recovery) {
        s->flags = 0;
        s->nranges = 0;
        s->start_wall = vl_wall_ns();
        s->logrec = logseg_begin(&e->log, s->job.jid, s->attempt, s->start_wall);
    } else {
        logseg_note(&e->log, s->job.jid, s->attempt,
                    "volley: exit code %d: running the recovery script before attempt %u",
                    s->seen_code, s->attempt + 1);
    }
    const char *cmd = s->recovery ? s->script : s->job.cmd;
    bool direct = plan_command(e, s, cmd);

    /* A pipe per captured stream (stdio); the rest goes to /dev/null, and
     * combined puts stderr into stdout's pipe. `none` makes no pipe. */
    int rd[2] = {-1, -1}, wr[2] = {-1, -1};
    for (int i = 0; i < 2; i++) {
        int p[2];
        if (!exec__captured(s, i))
            continue;
        if (pipe2(p, O_CLOEXEC) != 0) {
            int rc = -errno;
            if (rd[0] >= 0) {
                close(rd[0]);
                close(wr[0]);
            }
            spawn_failed(e, s, rc, "pipe");
            return;
        }
        rd[i] = p[0];
        wr[i] = p[1];
    }
    s->req.into_fd = 0;
    s->req.join = s->join;
    s->req.njoin = 0;
    if (s->job.cg) {
        struct cgroup_limits lim = {.mem_bytes = s->job.mem_limit_bytes, .pids = s->job.max_pids};
        struct cgroup_spawn sp;
        struct vl_err cerr = {0};
        int rc = cgroup_slot_begin(s->job.cg, &lim, &sp, &cerr);
        if (rc < 0) {
            for (int i = 0; i < 2; i++)
                if (rd[i] >= 0) {
                    close(rd[i]);
                    close(wr[i]);
                }
            logseg_note(&e->log, s->job.jid, s->attempt, "volley: %s", cerr.msg);
            spawn_failed(e, s, rc, "its cgroup");
            return;
        }
        s->req.into_fd = sp.into_fd > 0 ? sp.into_fd : 0;
        s->req.njoin = sp.njoin;
        memcpy(s->join, sp.join, sizeof s->join);
    }
    s->req.envp = build_env(e, s, s->seen_code);
    s->req.fd0 = e->devnull;
    s->req.fd1 = wr[0] >= 0 ? wr[0] : e->devnull_w;
    s->req.fd2 = wr[1] >= 0 ? wr[1] : s->job.stdio == SPEC_STDIO_COMBINED ? wr[0] : e->devnull_w;
    s->req.cwd_fd = e->cwd_fd;
    s->req.affinity = e->pinned ? &e->orig_mask : NULL;
    s->req.affinity_len = sizeof e->orig_mask;
    if (s->job.cpus) {
        s->cpus = *s->job.cpus;
        s->req.affinity = &s->cpus;
        s->req.affinity_len = sizeof s->cpus;
    }
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
    exec__close_fd(e, wr[0]);
    exec__close_fd(e, wr[1]);
    if (pid < 0) {
        for (int i = 0; i < 2; i++)
            if (rd[i] >= 0)
                close(rd[i]);
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
    exec__arm_wait(e, s);
    for (int i = 0; i < 2; i++) {
        s->st[i].fd = rd[i];
        if (rd[i] >= 0)
            exec__arm_read(e, s, i);
        else
            s->st[i].done = true; /* not captured: nothing to wait for */
    }
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

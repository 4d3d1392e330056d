/*
 * exec_open.c - opening and closing the engine (exec.h, exec_int.h): the
 * ring and its capabilities, provided buffers, the base environment of
 * every job, the slots; and the engine's small public helpers.
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
    cfg->timeout_code = FAILPOL_TIMEOUT_CODE;
    cfg->oom_code = 128 + SIGKILL;
    cfg->term_signal = SIGTERM;
}

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
 * its physical path. The VOLLEY_* names and their TORC_* aliases are the
 * engine's; CUDA_VISIBLE_DEVICES is kept aside, for jobs without GPUs of
 * their own.
 */
static int build_base_env(struct exec_engine *e, char *const *env, const char *workdir,
                          const char **path_env, struct vl_err *err)
{
    static const char *const ours[] = {"VOLLEY_JOB_ID",
                                       "VOLLEY_JOB_NAME",
                                       "VOLLEY_ATTEMPT",
                                       "VOLLEY_RUN_DIR",
                                       "VOLLEY_RETURN_CODE",
                                       "TORC_JOB_ID",
                                       "TORC_JOB_NAME",
                                       "TORC_ATTEMPT_ID",
                                       "TORC_OUTPUT_DIR",
                                       "TORC_RETURN_CODE",
                                       "PWD",
                                       "CUDA_VISIBLE_DEVICES",
                                       "VOLLEY_NUM_CPUS"};
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
        if (name_is(env[i], nl, "OMP_NUM_THREADS"))
            e->env_has_omp = true;
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
    e->devnull = e->cwd_fd = e->devnull_w = -1;
    e->log.idx_fd = e->log.seg_fd = -1;
    char *wd = NULL;
    const char *path_env = NULL;

    if ((e->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0 ||
        (e->devnull_w = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
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
    e->env_out_dir = vl_xasprintf("TORC_OUTPUT_DIR=%s", cfg->run_dir ? cfg->run_dir : cfg->log_dir);
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
        if (cfg->max_env) {
            s->envjob_cap = HEAD_ENV + 1 + cfg->max_env + e->nbase + 1;
            s->envjob = vl_xcalloc(s->envjob_cap, sizeof *s->envjob);
        }
        s->ranges_cap = 16;
        s->ranges = vl_xcalloc(s->ranges_cap, sizeof *s->ranges);
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
            free(e->slots[i].envjob);
            free(e->slots[i].ranges);
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
    free(e->env_out_dir);
    free(e->env_cuda);
    cmdpath_free(e->paths);
    if (e->devnull >= 0)
        close(e->devnull);
    if (e->devnull_w >= 0)
        close(e->devnull_w);
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

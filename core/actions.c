/*
 * actions.c - the workflow's actions in a run (actions.h).
 *
 * Two threads share a struct actions: the supervisor's (fire, poll, stop,
 * close) and the actions' own, which runs an engine (exec.h) with this
 * file as its job source. They meet in each action's state word:
 *
 *   IDLE -> DUE       the supervisor (fire, poll), then a FUTEX_WAKE of the
 *                     engine's source word
 *   DUE -> RUNNING    the thread, as next() hands out its first command
 *   RUNNING -> DONE   the thread, when its last command ended or one failed
 *
 * and in three flags (closing, stopped, and a failure not yet reported).
 * Everything else about an action (its cursor over its jobs: the
 * supervisor's; its next command and record: the thread's) has one owner.
 * The engine is opened, run and closed on the thread (its ring is
 * SINGLE_ISSUER) with SIGCHLD kept blocked, so the supervisor's sigtimedwait
 * still sees its workers' exits; the thread also raises SIGCHLD when an
 * action is done, so a supervisor waiting for it (on_workflow_start before
 * the workers, on_workflow_complete after them) goes on at once rather
 * than at its next tick.
 */
#include "core/actions.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/futex.h>

#include "core/exec.h"
#include "persist/rundir.h"

enum { A_IDLE = 0, A_DUE = 1, A_RUNNING = 2, A_DONE = 3 };

struct act {
    _Atomic uint32_t st;        /* A_*: see the file's comment */
    _Atomic uint32_t to_report; /* 1: it failed, the supervisor has not said so. W: thread
                                   (release), supervisor (exchange) */
    const struct spec_action *sa;
    uint64_t cursor; /* the supervisor's: its jobs before this one satisfy the trigger */
    /* the thread's */
    uint32_t next_cmd; /* the command next() hands out next */
    bool in_flight;    /* one of its commands runs */
    struct snap_action rec;
    const char **env; /* the workflow's env, VOLLEY_ACTION, VOLLEY_ACTION_TRIGGER */
    uint32_t nenv;
    char vars[2][64];
};

struct actions {
    const struct spec *s;
    struct ckpt *ck;
    struct actions_opts o;
    const struct vl_warn *warn;
    char *log_dir;
    struct act *v;
    uint32_t n;
    _Atomic uint32_t word;    /* the engine's source word (private futex) */
    _Atomic uint32_t closing; /* no more triggers: done once nothing is due or running */
    _Atomic uint32_t stopped; /* actions_stop was called */
    pthread_mutex_t mu;       /* guards e for actions_stop against the thread's close */
    struct exec_engine *e;
    pthread_t thread;
    bool thread_ok;
    /* the engine's open, reported by the thread */
    pthread_cond_t opened;
    int open_state; /* 0 pending, 1 open, -1 failed */
    int rc;         /* the run's result */
    struct vl_err err;
    _Atomic uint32_t failed;
};

static const char *const trigger_names[] = {
    [SPEC_ON_WORKFLOW_START] = "on_workflow_start",
    [SPEC_ON_WORKFLOW_COMPLETE] = "on_workflow_complete",
    [SPEC_ON_JOBS_READY] = "on_jobs_ready",
    [SPEC_ON_JOBS_COMPLETE] = "on_jobs_complete",
};

const char *actions_trigger_name(uint32_t trigger)
{
    return trigger < VL_ARRAY_LEN(trigger_names) ? trigger_names[trigger] : "?";
}

static void wake(struct actions *A)
{
    atomic_fetch_add_explicit(&A->word, 1, memory_order_release);
    syscall(SYS_futex, &A->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- the thread: the engine's source ---- */

static void record(struct actions *A, const struct act *x)
{
    if (A->ck)
        (void)ckpt_submit_actions(A->ck, &x->rec, 1); /* -ENOMEM: it may run again */
}

static enum exec_next a_next(void *ctx, struct exec_job *job)
{
    struct actions *A = ctx;
    bool live = false;
    for (uint32_t i = 0; i < A->n; i++) {
        struct act *x = &A->v[i];
        uint32_t st = atomic_load_explicit(&x->st, memory_order_acquire);
        if (st == A_DUE) {
            atomic_store_explicit(&x->st, A_RUNNING, memory_order_release);
            st = A_RUNNING;
            x->rec.runs++;
            x->rec.state = SNAP_ACT_RUNNING;
            x->rec.exit_code = -1;
            x->rec.start_ns = vl_wall_ns();
            x->rec.end_ns = 0;
            x->next_cmd = 0;
            record(A, x);
        }
        if (st != A_RUNNING)
            continue;
        live = true;
        if (x->in_flight || x->next_cmd >= x->sa->ncmds)
            continue;
        uint32_t c = x->next_cmd++;
        x->in_flight = true;
        *job = (struct exec_job){
            .jid = i,
            .attempt = (x->rec.runs - 1) * x->sa->ncmds + c + 1,
            .name = actions_trigger_name(x->sa->trigger),
            .cmd = spec_str(A->s, A->s->act_cmds[x->sa->cmd_first + c]),
            .tag = i,
            .env = x->env,
            .nenv = x->nenv,
            .no_ids = true,
        };
        return EXEC_NEXT_JOB;
    }
    if (!live && atomic_load_explicit(&A->closing, memory_order_acquire)) {
        /* closing was set after the last fire: one more look for a due one */
        for (uint32_t i = 0; i < A->n; i++)
            if (atomic_load_explicit(&A->v[i].st, memory_order_acquire) == A_DUE)
                return EXEC_NEXT_EMPTY; /* the word changed with it: next() comes again */
        return EXEC_NEXT_DONE;
    }
    return EXEC_NEXT_EMPTY;
}

static void a_done(void *ctx, const struct exec_result *r)
{
    struct actions *A = ctx;
    struct act *x = &A->v[r->tag];
    x->in_flight = false;
    if (r->outcome == EXEC_STOPPED)
        return; /* recorded running: a resume runs it again */
    x->rec.exit_code = r->status;
    bool ok = r->outcome == EXEC_COMPLETED;
    if (ok && x->next_cmd < x->sa->ncmds)
        return; /* its next command, from next() */
    x->rec.state = ok ? SNAP_ACT_COMPLETED : SNAP_ACT_FAILED;
    x->rec.end_ns = vl_wall_ns();
    record(A, x);
    if (!ok) {
        atomic_fetch_add(&A->failed, 1);
        atomic_store_explicit(&x->to_report, 1, memory_order_release);
    }
    atomic_store_explicit(&x->st, A_DONE, memory_order_release);
    /* the supervisor may be waiting for it (actions_busy between two
       ticks): SIGCHLD is what its sigtimedwait takes to look around, and
       every thread of this process but that one keeps it blocked */
    kill(getpid(), SIGCHLD);
}

static void *run_thread(void *arg)
{
    struct actions *A = arg;
    struct exec_config cfg;
    exec_config_defaults(&cfg);
    cfg.max_running = VL_MIN(A->n, (uint32_t)ACTIONS_MAX_RUNNING);
    cfg.log_dir = A->log_dir;
    cfg.log_id = 0;
    cfg.run_dir = A->o.run_dir;
    cfg.workdir = A->o.workdir;
    cfg.kill_grace_ms = A->o.kill_grace_ms;
    cfg.term_signal = A->o.term_signal ? A->o.term_signal : SIGTERM;
    cfg.sigchld_blocked = true;
    cfg.normal_sched = true; /* a few processes: not worth batching the thread */
    for (uint32_t i = 0; i < A->n; i++)
        cfg.max_env = VL_MAX(cfg.max_env, A->v[i].nenv);
    struct vl_err err = {0};
    struct exec_engine *e = exec_engine_open(&cfg, &err);
    pthread_mutex_lock(&A->mu);
    A->e = e;
    A->open_state = e ? 1 : -1;
    if (!e)
        A->err = err;
    pthread_cond_broadcast(&A->opened);
    bool stop = atomic_load(&A->stopped);
    pthread_mutex_unlock(&A->mu);
    if (!e)
        return NULL;
    if (stop)
        exec_engine_stop(e);
    struct exec_source src = {
        .ctx = A,
        .next = a_next,
        .done = a_done,
        .word = (const uint32_t *)(const void *)&A->word,
        .word_private = true,
    };
    int rc = exec_engine_run(e, &src, &err);
    pthread_mutex_lock(&A->mu);
    A->e = NULL;
    pthread_mutex_unlock(&A->mu);
    exec_engine_close(e);
    A->rc = rc < 0 ? rc : 0;
    if (rc < 0)
        A->err = err;
    return NULL;
}

/* ---- the supervisor's side ---- */

static void free_actions(struct actions *A)
{
    if (!A)
        return;
    for (uint32_t i = 0; i < A->n; i++)
        free(A->v[i].env);
    free(A->v);
    free(A->log_dir);
    pthread_mutex_destroy(&A->mu);
    pthread_cond_destroy(&A->opened);
    free(A);
}

/* An action's env: the workflow's (set 0), VOLLEY_ACTION, VOLLEY_ACTION_TRIGGER. */
static void make_env(const struct spec *s, struct act *x, uint32_t i)
{
    uint32_t nw = s->nenvsets ? spec_envset_list(s->pool, s->envsets, s->envkv, 0, NULL, 0) : 0;
    uint64_t *off = vl_xcalloc(nw + 1, sizeof *off);
    if (nw)
        spec_envset_list(s->pool, s->envsets, s->envkv, 0, off, nw);
    x->env = vl_xcalloc(nw + 2, sizeof *x->env);
    snprintf(x->vars[0], sizeof x->vars[0], "VOLLEY_ACTION=%u", i);
    snprintf(x->vars[1], sizeof x->vars[1], "VOLLEY_ACTION_TRIGGER=%s",
             actions_trigger_name(x->sa->trigger));
    x->env[0] = x->vars[0];
    x->env[1] = x->vars[1];
    for (uint32_t k = 0; k < nw; k++)
        x->env[2 + k] = s->pool + off[k];
    x->nenv = nw + 2;
    free(off);
}

int actions_open(struct actions **out, const struct spec *s, const struct snap_action *recs,
                 struct ckpt *ck, const struct actions_opts *o, struct vl_err *err)
{
    *out = NULL;
    if (!s->nactions)
        return 0;
    struct actions *A = vl_xcalloc(1, sizeof *A);
    A->s = s;
    A->ck = ck;
    A->o = *o;
    A->warn = o->warn;
    pthread_mutex_init(&A->mu, NULL);
    pthread_cond_init(&A->opened, NULL);
    A->log_dir = vl_xasprintf("%s/%s", o->log_dir, RUNDIR_ACTION_LOGS);
    if ((mkdir(o->log_dir, 0755) < 0 && errno != EEXIST) ||
        (mkdir(A->log_dir, 0755) < 0 && errno != EEXIST)) {
        int rc = vl_err_sys(err, -errno, "cannot create %s", A->log_dir);
        free_actions(A);
        return rc;
    }
    A->n = s->nactions;
    A->v = vl_xcalloc(A->n, sizeof *A->v);
    for (uint32_t i = 0; i < A->n; i++) {
        struct act *x = &A->v[i];
        x->sa = &s->actions[i];
        x->rec = recs ? recs[i]
                      : (struct snap_action){.id = i, .state = SNAP_ACT_PENDING, .exit_code = -1};
        x->rec.id = i;
        bool done = x->rec.state == SNAP_ACT_COMPLETED || x->rec.state == SNAP_ACT_FAILED;
        atomic_init(&x->st, done ? A_DONE : A_IDLE);
        make_env(s, x, i);
    }
    /* the thread inherits this one's signal mask: the supervisor blocks
       its stop signals and SIGCHLD before it opens the actions */
    int rc = pthread_create(&A->thread, NULL, run_thread, A);
    if (rc) {
        free_actions(A);
        return vl_err_sys(err, -rc, "cannot start the thread that runs the workflow's actions");
    }
    A->thread_ok = true;
    pthread_mutex_lock(&A->mu);
    while (A->open_state == 0)
        pthread_cond_wait(&A->opened, &A->mu);
    pthread_mutex_unlock(&A->mu);
    if (A->open_state < 0) {
        pthread_join(A->thread, NULL);
        rc = vl_err_set(err, A->err.code ? A->err.code : -EIO, "the workflow's actions: %s",
                        A->err.msg);
        free_actions(A);
        return rc;
    }
    *out = A;
    return 0;
}

static bool make_due(struct act *x)
{
    uint32_t idle = A_IDLE;
    return atomic_compare_exchange_strong(&x->st, &idle, A_DUE);
}

void actions_fire(struct actions *A, enum spec_trigger t)
{
    if (!A)
        return;
    bool any = false;
    for (uint32_t i = 0; i < A->n; i++)
        if (A->v[i].sa->trigger == (uint32_t)t)
            any |= make_due(&A->v[i]);
    if (any)
        wake(A);
}

/* A job of an on_jobs_ready action: it became ready (it is ready, running
 * or finished, and a canceled one had started: one canceled before that
 * was never ready). */
static bool became_ready(enum arena_state st, uint64_t start_ns)
{
    return st != ARENA_BLOCKED && (st != ARENA_CANCELED || start_ns != 0);
}

static void report_failures(struct actions *A)
{
    for (uint32_t i = 0; i < A->n; i++) {
        struct act *x = &A->v[i];
        if (!atomic_exchange_explicit(&x->to_report, 0, memory_order_acquire))
            continue;
        /* written by the thread before its release of to_report */
        vl_warnf(
            A->warn, "action %u (%s, line %u) failed: exit code %d (volley logs %s --action %u)", i,
            actions_trigger_name(x->sa->trigger), x->sa->line, x->rec.exit_code, A->o.run_dir, i);
    }
}

void actions_poll(struct actions *A, const struct arena *a)
{
    if (!A)
        return;
    bool any = false;
    for (uint32_t i = 0; a && i < A->n; i++) {
        struct act *x = &A->v[i];
        uint32_t t = x->sa->trigger;
        if ((t != SPEC_ON_JOBS_READY && t != SPEC_ON_JOBS_COMPLETE) ||
            atomic_load_explicit(&x->st, memory_order_relaxed) != A_IDLE)
            continue;
        const uint32_t *jobs = A->s->act_jobs + x->sa->job_first;
        while (x->cursor < x->sa->njobs) {
            uint32_t j = jobs[x->cursor];
            enum arena_state st = arena_job_state(a, j);
            bool ok = t == SPEC_ON_JOBS_COMPLETE
                          ? arena_state_finished(st)
                          : became_ready(st, atomic_load_explicit(&a->cold[j].start_ns,
                                                                  memory_order_relaxed));
            if (!ok)
                break;
            x->cursor++;
        }
        if (x->cursor == x->sa->njobs)
            any |= make_due(x);
    }
    if (any)
        wake(A);
    report_failures(A);
}

bool actions_busy(const struct actions *A)
{
    if (!A)
        return false;
    for (uint32_t i = 0; i < A->n; i++) {
        uint32_t st = atomic_load_explicit(&A->v[i].st, memory_order_acquire);
        if (st == A_DUE || st == A_RUNNING)
            return true;
    }
    return false;
}

void actions_stop(struct actions *A)
{
    if (!A)
        return;
    pthread_mutex_lock(&A->mu);
    atomic_store(&A->stopped, 1);
    if (A->e)
        exec_engine_stop(A->e);
    pthread_mutex_unlock(&A->mu);
}

int actions_close(struct actions *A, uint32_t *failed, struct vl_err *err)
{
    if (failed)
        *failed = 0;
    if (!A)
        return 0;
    atomic_store_explicit(&A->closing, 1, memory_order_release);
    wake(A);
    if (A->thread_ok)
        pthread_join(A->thread, NULL);
    report_failures(A);
    if (failed)
        *failed = atomic_load(&A->failed);
    int rc = A->rc;
    if (rc < 0 && err)
        *err = A->err;
    free_actions(A);
    return rc;
}

bool actions_due_at_resume(const struct spec *s, const struct snap_action *recs,
                           const struct snap_job *jobs)
{
    for (uint32_t i = 0; recs && i < s->nactions; i++) {
        const struct spec_action *sa = &s->actions[i];
        uint8_t st = recs[i].state;
        if (st == SNAP_ACT_COMPLETED || st == SNAP_ACT_FAILED)
            continue;
        if (st == SNAP_ACT_RUNNING || sa->trigger == SPEC_ON_WORKFLOW_START ||
            sa->trigger == SPEC_ON_WORKFLOW_COMPLETE)
            return true;
        bool all = true;
        for (uint32_t k = 0; k < sa->njobs && all; k++) {
            const struct snap_job *j = &jobs[s->act_jobs[sa->job_first + k]];
            all = sa->trigger == SPEC_ON_JOBS_COMPLETE
                      ? j->state >= SNAP_STATE_COMPLETED
                      : j->state != SNAP_STATE_BLOCKED &&
                            (j->state != SNAP_STATE_CANCELED || j->start_ns != 0);
        }
        if (all)
            return true;
    }
    return false;
}

/* The same action at index i of a and b: trigger, commands, jobs by name. */
static bool same_action(const struct spec *a, const struct spec *b, uint32_t i)
{
    const struct spec_action *x = &a->actions[i], *y = &b->actions[i];
    if (x->trigger != y->trigger || x->ncmds != y->ncmds || x->njobs != y->njobs)
        return false;
    for (uint32_t c = 0; c < x->ncmds; c++)
        if (strcmp(spec_str(a, a->act_cmds[x->cmd_first + c]),
                   spec_str(b, b->act_cmds[y->cmd_first + c])))
            return false;
    for (uint32_t k = 0; k < x->njobs; k++)
        if (strcmp(spec_job_name(a, a->act_jobs[x->job_first + k]),
                   spec_job_name(b, b->act_jobs[y->job_first + k])))
            return false;
    return true;
}

uint32_t actions_carry(const struct spec *old, const struct snap_action *old_recs,
                       const struct spec *cur, const struct snap_job *recs, struct snap_action *out)
{
    uint32_t n = 0;
    bool left = false;
    for (uint32_t j = 0; j < cur->njobs && !left; j++)
        left = recs[j].state < SNAP_STATE_COMPLETED;
    for (uint32_t i = 0; old_recs && i < old->nactions && i < cur->nactions; i++) {
        if (!old_recs[i].runs || !same_action(old, cur, i))
            continue;
        struct snap_action r = old_recs[i];
        const struct spec_action *sa = &cur->actions[i];
        bool again = sa->trigger == SPEC_ON_WORKFLOW_COMPLETE && left;
        for (uint32_t k = 0; k < sa->njobs && !again; k++)
            again = recs[cur->act_jobs[sa->job_first + k]].state < SNAP_STATE_COMPLETED;
        if (again && (r.state == SNAP_ACT_COMPLETED || r.state == SNAP_ACT_FAILED))
            r.state = SNAP_ACT_PENDING;
        r.id = i;
        out[n++] = r;
    }
    return n;
}

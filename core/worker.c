/*
 * worker.c - a worker process: the arena as the execution engine's job
 * source (worker.h has the protocol).
 */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/arena.h"
#include "exec.h"
#include "resources.h"
#include "runctl.h"

/* The arena copies the spec's rules and env sets field by field: failpol
 * reads them as spec rules, spec_envset_list as spec env sets. */
_Static_assert(sizeof(struct arena_envset) == sizeof(struct spec_envset), "env set layout");
_Static_assert(offsetof(struct arena_envset, base) == offsetof(struct spec_envset, base),
               "env set layout");
_Static_assert(sizeof(struct arena_rule) == sizeof(struct spec_rule), "rule layout");
_Static_assert(offsetof(struct arena_rule, script_off) == offsetof(struct spec_rule, script_off),
               "rule layout");
_Static_assert(offsetof(struct arena_rule, max_retries) == offsetof(struct spec_rule, max_retries),
               "rule layout");

#define HELD_MAX 4

#define NO_CG UINT32_MAX

/* One engine slot's job: what was admitted for it. */
struct wslot {
    uint32_t jid;
    bool used;
    bool cancel_sent;
    bool bound;  /* cpus/cpu_bits hold CPUs taken for it (--bind-cpus) */
    uint32_t cg; /* the pool entry (runctl_cg) its job holds, or NO_CG */
    struct res_amount need;
    uint64_t gpus;
    struct failpol fp;
    char *cuda;       /* its CUDA_VISIBLE_DEVICES: cuda_len bytes */
    const char **env; /* its merged env: pointers into the arena's pool */
    uint64_t *envoff; /* ... as pool offsets (spec_envset_list's output) */
    uint32_t envcap;  /* entries both have room for */
    cpu_set_t cpus;
    uint64_t cpu_bits[RUNCTL_MAX_CPUS / 64];
};

struct wk {
    struct arena a;
    uint32_t w; /* arena slot */
    uint32_t index;
    struct runctl *ctl;
    struct runctl_worker *me;
    struct exec_engine *e;
    struct wslot *slots;
    uint32_t nslots;
    uint32_t *free_slots;
    uint32_t nfree;
    uint32_t held[HELD_MAX]; /* claimed (running in the arena), not admitted yet */
    uint32_t nheld;
    uint32_t *parked; /* claimed, and never to start here: their runtime would end after
                         the deadline's stop (runctl.h stop_at_ns), or the run drains */
    uint32_t nparked, parked_cap;
    bool announced; /* arena_sleep_prepare without arena_sleep_done */
    bool waiting;   /* counted in ctl->waiters */
    uint64_t cancel_seq_seen;
    const char *visible; /* our CUDA_VISIBLE_DEVICES (an allocation's GPUs), or NULL */
    size_t cuda_len;
    size_t ctl_bytes;        /* the control page's mapping (RUNCTL_BYTES(ncg)) */
    struct cgroup_slot *cgs; /* [ctl->ncg] the pool's groups as this worker opened them */
    uint32_t cg_hint;        /* where to look for a free group first: the last given back */
};

static struct exec_engine *volatile g_engine;

static void on_stop_signal(int sig)
{
    (void)sig;
    struct exec_engine *e = g_engine;
    if (e)
        exec_engine_stop(e);
}

static void set_waiting(struct wk *k, bool on)
{
    if (on == k->waiting)
        return;
    k->waiting = on;
    if (on)
        atomic_fetch_add_explicit(&k->ctl->waiters, 1, memory_order_seq_cst);
    else
        atomic_fetch_sub_explicit(&k->ctl->waiters, 1, memory_order_seq_cst);
}

/* One unit of the -j cap; false if it is full. */
static bool cap_admit(struct runctl *c)
{
    uint32_t cur = atomic_load_explicit(&c->running, memory_order_relaxed);
    while (cur < c->max_running)
        if (atomic_compare_exchange_weak_explicit(&c->running, &cur, cur + 1, memory_order_seq_cst,
                                                  memory_order_relaxed))
            return true;
    return false;
}

static void hold(struct wk *k, int sign, const struct res_amount *need, uint64_t gpus)
{
    struct runctl_worker *m = k->me;
    if (sign > 0) {
        atomic_fetch_add_explicit(&m->held_jobs, 1, memory_order_relaxed);
        if (need) {
            atomic_fetch_add_explicit(&m->held_cpus, need->cpus, memory_order_relaxed);
            atomic_fetch_add_explicit(&m->held_mem, need->memory_bytes, memory_order_relaxed);
            atomic_fetch_or_explicit(&m->held_gpus, gpus, memory_order_relaxed);
        }
    } else {
        if (need) {
            atomic_fetch_and_explicit(&m->held_gpus, ~gpus, memory_order_relaxed);
            atomic_fetch_sub_explicit(&m->held_mem, need->memory_bytes, memory_order_relaxed);
            atomic_fetch_sub_explicit(&m->held_cpus, need->cpus, memory_order_relaxed);
        }
        atomic_fetch_sub_explicit(&m->held_jobs, 1, memory_order_relaxed);
    }
}

/* Gives back a unit of the cap (and resources); wakes whoever waits. */
static void cap_release(struct wk *k, const struct res_amount *need, uint64_t gpus)
{
    hold(k, -1, need, gpus);
    if (need)
        res_release(&k->ctl->res, need, gpus);
    atomic_fetch_sub_explicit(&k->ctl->running, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&k->ctl->waiters, memory_order_seq_cst) > 0)
        arena_wake(&k->a);
}

static void need_of(const struct arena *a, uint32_t jid, struct res_amount *need)
{
    memset(need, 0, sizeof *need);
    uint16_t rr = a->meta[jid].rr;
    if (rr == 0xffff || rr >= a->hdr->nrr)
        return;
    need->cpus = a->rrs[rr].num_cpus;
    need->gpus = a->rrs[rr].num_gpus;
    need->memory_bytes = a->rrs[rr].memory_bytes;
}

static uint64_t runtime_of(const struct arena *a, uint32_t jid)
{
    uint16_t rr = a->meta[jid].rr;
    return rr == 0xffff || rr >= a->hdr->nrr ? 0 : a->rrs[rr].runtime_ms;
}

/*
 * Whether a claimed job may start as the allocation's end nears (runctl.h:
 * drain, stop_at_ns): one with a runtime only if it ends before the stop;
 * one without, only while the run does not drain. Draining without a
 * known deadline, nothing starts.
 */
static bool fits_deadline(const struct wk *k, uint32_t jid, bool drain)
{
    uint64_t stop_at = k->ctl->stop_at_ns;
    uint64_t rt = runtime_of(&k->a, jid);
    if (drain && (!stop_at || !rt))
        return false;
    return !stop_at || !rt || vl_wall_ns() + rt * 1000000ull <= stop_at;
}

/* A claimed job that will not start here: it stays claimed (running in
 * the arena, no pid), so the record says ready and a resume runs it. The
 * list grows only once the deadline parks jobs, never on a normal run. */
static void park(struct wk *k, uint32_t jid)
{
    if (k->nparked == k->parked_cap) {
        k->parked_cap = k->parked_cap ? 2 * k->parked_cap : 64;
        k->parked = vl_xrealloc(k->parked, (size_t)k->parked_cap * sizeof *k->parked);
    }
    k->parked[k->nparked++] = jid;
}

/* A claimed job that will not run here (canceled while held). */
static void finish_unrun(struct wk *k, uint32_t jid, enum arena_state how)
{
    arena_job_set_end(&k->a, jid, vl_wall_ns());
    (void)arena_finish(&k->a, k->w, jid, how, 0);
}

/*
 * Admits held job i: the cap, then its resources. True with the slot's
 * need and gpus filled; false if it must wait (the cap is not held then).
 */
static bool admit(struct wk *k, uint32_t jid, struct wslot *s)
{
    if (!cap_admit(k->ctl))
        return false;
    hold(k, 1, NULL, 0);
    need_of(&k->a, jid, &s->need);
    s->gpus = 0;
    if (k->ctl->use_res && (s->need.cpus || s->need.gpus || s->need.memory_bytes) &&
        !res_admit(&k->ctl->res, &k->ctl->cap, &s->need, k->index + 1, &s->gpus)) {
        /* Give the unit back without a wake: it was ours for an instant,
         * and whoever waits on it is woken when a running job ends (the
         * capacity is short, so some job holds it and will end). A wake
         * here woke this worker itself, which then tried again at once:
         * a busy loop for as long as the job did not fit. If no job runs
         * at all, nothing would wake a waiter later: wake now. */
        hold(k, -1, NULL, 0);
        if (atomic_fetch_sub_explicit(&k->ctl->running, 1, memory_order_seq_cst) == 1 &&
            atomic_load_explicit(&k->ctl->waiters, memory_order_seq_cst) > 0)
            arena_wake(&k->a);
        return false;
    }
    if (!k->ctl->use_res)
        memset(&s->need, 0, sizeof s->need);
    else {
        /* the job unit is held already: add only the resources */
        atomic_fetch_add_explicit(&k->me->held_cpus, s->need.cpus, memory_order_relaxed);
        atomic_fetch_add_explicit(&k->me->held_mem, s->need.memory_bytes, memory_order_relaxed);
        atomic_fetch_or_explicit(&k->me->held_gpus, s->gpus, memory_order_relaxed);
    }
    return true;
}

/* The merged env of env set `set` (the job's and the workflow's) into the
 * slot's arrays: pointers into the arena's pool, valid while it is mapped. */
static void fill_env(struct wk *k, struct wslot *s, uint32_t set, struct exec_job *job)
{
    const struct arena *a = &k->a;
    const struct spec_envset *sets = (const struct spec_envset *)(const void *)a->envsets;
    uint32_t n = spec_envset_list(a->pool, sets, a->envkv, set, s->envoff, s->envcap);
    if (n > s->envcap) { /* more than the control page's max_env: cannot happen, but safe */
        s->envcap = n;
        s->envoff = vl_xrealloc(s->envoff, n * sizeof *s->envoff);
        s->env = vl_xrealloc(s->env, n * sizeof *s->env);
        n = spec_envset_list(a->pool, sets, a->envkv, set, s->envoff, s->envcap);
    }
    for (uint32_t i = 0; i < n; i++)
        s->env[i] = a->pool + s->envoff[i];
    job->env = s->env;
    job->nenv = n;
}

/* A free group of the pool for a job (the one this worker gave back last
 * first: its files are open). Opens it on first use. NO_CG if none
 * (cannot happen while the pool has -j entries: admission holds a unit of
 * -j per job, and a group goes back before the unit does). */
static uint32_t cg_take(struct wk *k)
{
    uint32_t n = k->ctl->ncg;
    for (uint32_t t = 0; t < n; t++) {
        uint32_t i = (k->cg_hint + t) % n;
        struct runctl_cg *c = runctl_cg_at(k->ctl, i);
        uint32_t free_ = 0;
        if (atomic_load_explicit(&c->owner, memory_order_relaxed) != 0 ||
            !atomic_compare_exchange_strong_explicit(&c->owner, &free_, k->index + 1,
                                                     memory_order_acq_rel, memory_order_relaxed))
            continue;
        if (!k->cgs[i].open) {
            struct vl_err err = {0};
            if (cgroup_slot_open(&k->cgs[i], &k->ctl->cg, i, &c->sh, &err) < 0) {
                vl_log("worker %u: %s: its jobs run without a cgroup", k->index, err.msg);
                atomic_store_explicit(&c->owner, 0, memory_order_release);
                return NO_CG;
            }
        }
        k->cg_hint = i;
        return i;
    }
    return NO_CG;
}

static void cg_give(struct wk *k, struct wslot *s)
{
    if (s->cg == NO_CG)
        return;
    atomic_store_explicit(&runctl_cg_at(k->ctl, s->cg)->owner, 0, memory_order_release);
    k->cg_hint = s->cg;
    s->cg = NO_CG;
}

/* --bind-cpus: n of the run's CPUs for slot s (bits of cpus_used), as GPUs
 * are assigned. False if they are not there (the job then runs unbound). */
static bool cpus_take(struct wk *k, struct wslot *s, uint32_t n)
{
    struct runctl *c = k->ctl;
    memset(s->cpu_bits, 0, sizeof s->cpu_bits);
    CPU_ZERO(&s->cpus);
    uint32_t got = 0;
    for (uint32_t w = 0; w * 64 < c->ncpu_ids && got < n; w++) {
        uint64_t cur = atomic_load_explicit(&c->cpus_used[w], memory_order_relaxed);
        for (;;) {
            uint64_t valid =
                c->ncpu_ids - w * 64 >= 64 ? ~0ull : (1ull << (c->ncpu_ids - w * 64)) - 1;
            uint64_t freem = ~cur & valid, pick = 0;
            for (uint32_t g = got; freem && g < n; g++) {
                uint64_t low = freem & (~freem + 1);
                pick |= low;
                freem &= ~low;
            }
            if (!pick)
                break;
            if (atomic_compare_exchange_weak_explicit(&c->cpus_used[w], &cur, cur | pick,
                                                      memory_order_acq_rel, memory_order_relaxed)) {
                s->cpu_bits[w] = pick;
                atomic_fetch_or_explicit(&k->me->held_cpu_bits[w], pick, memory_order_relaxed);
                got += (uint32_t)__builtin_popcountll(pick);
                break;
            }
        }
    }
    for (uint32_t w = 0; w < RUNCTL_MAX_CPUS / 64; w++)
        for (uint64_t b = s->cpu_bits[w]; b; b &= b - 1)
            CPU_SET(c->cpu_id[w * 64 + (uint32_t)__builtin_ctzll(b)], &s->cpus);
    s->bound = true;
    return got == n;
}

static void cpus_give(struct wk *k, struct wslot *s)
{
    if (!s->bound)
        return;
    for (uint32_t w = 0; w < RUNCTL_MAX_CPUS / 64; w++) {
        if (!s->cpu_bits[w])
            continue;
        atomic_fetch_and_explicit(&k->me->held_cpu_bits[w], ~s->cpu_bits[w], memory_order_relaxed);
        atomic_fetch_and_explicit(&k->ctl->cpus_used[w], ~s->cpu_bits[w], memory_order_acq_rel);
        s->cpu_bits[w] = 0;
    }
    s->bound = false;
}

/* The job's governance (docs/limits.md): its group and limits, its CPUs. */
static void fill_limits(struct wk *k, struct wslot *s, uint32_t jid, struct exec_job *job)
{
    const struct arena *a = &k->a;
    uint16_t rr = a->meta[jid].rr;
    const struct arena_rr *cls = rr != 0xffff && rr < a->hdr->nrr ? &a->rrs[rr] : NULL;
    job->num_cpus = cls ? cls->num_cpus : 0;
    if (k->ctl->ncg && (s->cg = cg_take(k)) != NO_CG) {
        job->cg = &k->cgs[s->cg];
        if (k->ctl->limits & RUNCTL_LIM_ENFORCE) {
            job->mem_limit_bytes = cls ? cls->memory_bytes : 0;
            job->max_pids = cls && cls->max_pids ? cls->max_pids : k->ctl->max_pids;
        }
    }
    if ((k->ctl->limits & RUNCTL_LIM_BIND) && job->num_cpus) {
        if (cpus_take(k, s, job->num_cpus))
            job->cpus = &s->cpus;
        else
            cpus_give(k, s);
    }
}

static void fill_job(struct wk *k, uint32_t slot, uint32_t jid, struct exec_job *job)
{
    struct wslot *s = &k->slots[slot];
    s->jid = jid;
    s->used = true;
    s->cancel_sent = false;
    const struct arena *a = &k->a;
    *job = (struct exec_job){
        .jid = jid,
        .attempt = arena_job_attempt(a, jid),
        .lost = arena_job_lost(a, jid),
        .name = arena_job_name(a, jid),
        .cmd = arena_job_cmd(a, jid),
        .runtime_ms = runtime_of(a, jid),
        .tag = slot,
    };
    if (s->need.gpus) {
        res_gpu_list(s->gpus, k->visible, s->cuda, k->cuda_len);
        job->cuda_devices = s->cuda;
    }
    uint8_t fl = a->meta[jid].flags;
    job->stdio = (uint8_t)spec_flags_stdio(fl);
    job->delete_on_success = fl & SPEC_JOB_DELETE_ON_SUCCESS;
    uint32_t set = arena_job_envset(a, jid);
    if (set != ARENA_NONE)
        fill_env(k, s, set, job);
    fill_limits(k, s, jid, job);
    uint16_t fh = a->meta[jid].fh;
    if (fh != 0xffff && fh < a->hdr->nfh) {
        const struct arena_fh *f = &a->fhs[fh];
        s->fp = (struct failpol){
            .rules = (const struct spec_rule *)(const void *)(a->rules + f->rule_first),
            .nrules = f->nrules,
            .codes = a->codes,
            .ncodes = a->hdr->ncodes,
            .pool = a->pool,
            .pool_len = a->pool_len,
        };
        job->fh = &s->fp;
    }
}

static void drop_held(struct wk *k)
{
    memmove(k->held, k->held + 1, (size_t)(k->nheld - 1) * sizeof *k->held);
    k->nheld--;
}

static enum exec_next src_next(void *ctx, struct exec_job *job)
{
    struct wk *k = ctx;
    if (k->announced) {
        arena_sleep_done(&k->a, k->w);
        k->announced = false;
    }
    if (atomic_load_explicit(&k->ctl->stop, memory_order_acquire) || !k->nfree)
        return EXEC_NEXT_EMPTY;
    /* Halted (--max-failures): nothing starts any more; the engine returns
     * once the running jobs end. Held jobs were never started: for the
     * record they are ready (no pid), and a resume runs them. */
    if (atomic_load_explicit(&k->ctl->halt, memory_order_acquire))
        return EXEC_NEXT_DONE;
    bool drain = atomic_load_explicit(&k->ctl->drain, memory_order_acquire);
    bool deadline = drain || k->ctl->stop_at_ns;
    for (int round = 0; round < 2; round++) {
        /* Held jobs first: they are claimed already. */
        while (k->nheld) {
            /* The oldest first: it is the one that may hold the
             * reservation of the capacity, and a job released by a later
             * end must not pass it (it would take what was kept for it). */
            uint32_t jid = k->held[0];
            if (arena_job_cancel_requested(&k->a, jid)) {
                drop_held(k);
                /* what was kept for it goes to the others */
                if (res_unreserve(&k->ctl->res, k->index + 1))
                    arena_wake(&k->a);
                finish_unrun(k, jid, ARENA_CANCELED);
                continue;
            }
            if (deadline && !fits_deadline(k, jid, drain)) {
                drop_held(k);
                if (res_unreserve(&k->ctl->res, k->index + 1))
                    arena_wake(&k->a);
                park(k, jid);
                continue;
            }
            uint32_t slot = k->free_slots[k->nfree - 1];
            if (!admit(k, jid, &k->slots[slot])) {
                set_waiting(k, true);
                /* re-check after announcing (a release may have raced) */
                if (!admit(k, jid, &k->slots[slot]))
                    return EXEC_NEXT_EMPTY;
            }
            set_waiting(k, false);
            drop_held(k);
            k->nfree--;
            fill_job(k, slot, jid, job);
            return EXEC_NEXT_JOB;
        }
        uint32_t jid = arena_take(&k->a, k->w);
        if (jid != ARENA_NONE) {
            k->held[k->nheld++] = jid;
            round = -1; /* admit it above */
            continue;
        }
        if (round == 0) {
            /* Announce, then look once more: a publisher that saw no
             * sleeper before our announcement published before our take. */
            (void)arena_sleep_prepare(&k->a, k->w);
            k->announced = true;
            continue;
        }
    }
    /* Draining: once this worker runs nothing, nothing that is ready now
     * fits, and nothing will: a job made ready later is the child of one
     * that runs now, and its worker (alive until its jobs end) looks. */
    if (arena_done(&k->a) || (drain && k->nfree == k->nslots && !k->nheld)) {
        arena_sleep_done(&k->a, k->w);
        k->announced = false;
        return EXEC_NEXT_DONE;
    }
    return EXEC_NEXT_EMPTY;
}

static enum arena_state outcome_state(enum exec_outcome o)
{
    switch (o) {
    case EXEC_COMPLETED:
        return ARENA_COMPLETED;
    case EXEC_TERMINATED:
        return ARENA_TERMINATED;
    case EXEC_CANCELED:
        return ARENA_CANCELED;
    case EXEC_FAILED:
    default:
        return ARENA_FAILED;
    }
}

/* The arena knows a job's pid from its clone on: should this worker die,
 * the supervisor (or a resume) ends the job's process group with it, before
 * the job runs again (supervisor_kill_jobs). Its start time too: status, jobs
 * and events show when the running attempt began. */
static void src_started(void *ctx, uint32_t jid, int pid, uint64_t start_ns)
{
    struct wk *k = ctx;
    arena_job_set_pid(&k->a, jid, pid);
    arena_job_set_start(&k->a, jid, start_ns);
    arena_job_set_usage(&k->a, jid, 0, 0, 0); /* the last attempt's is not this one's */
}

/* A job failed for good: its number goes to the failure ring for the
 * supervisor to announce, and the run halts if that was the
 * --max-failures-th (runctl.h, lines 200-208). */
static void note_failure(struct wk *k, uint32_t jid)
{
    struct runctl *c = k->ctl;
    uint64_t n = atomic_fetch_add_explicit(&c->failures, 1, memory_order_seq_cst);
    uint64_t entry = (uint64_t)(uint32_t)(n + 1) << 32 | jid;
    atomic_store_explicit(&c->fail_ring[n % RUNCTL_FAIL_RING], entry, memory_order_release);
    if (c->max_failures && n + 1 >= c->max_failures &&
        !atomic_exchange_explicit(&c->halt, 1, memory_order_seq_cst))
        arena_wake(&k->a); /* the sleeping workers see it and end */
}

static void src_done(void *ctx, const struct exec_result *res)
{
    struct wk *k = ctx;
    struct arena *a = &k->a;
    uint32_t jid = res->jid;
    struct wslot *s = &k->slots[res->tag];
    if (res->start_ns) /* also an attempt whose clone failed */
        arena_job_set_start(a, jid, res->start_ns);
    arena_job_set_log(a, jid, worker_log_ref(res->log.log_id, res->log.rec));
    arena_job_set_usage(a, jid, res->usage.max_rss_bytes, res->usage.cpu_user_us,
                        res->usage.cpu_sys_us);
    if (!res->final) {
        uint32_t at;
        if (arena_retry(a, k->w, jid, &at) == -ECANCELED)
            arena_wake(a); /* notify() stops the retry once it runs */
        return;
    }
    s->used = false;
    k->free_slots[k->nfree++] = (uint32_t)res->tag;
    /* the group and the CPUs go back before the unit of -j does (cg_take) */
    cg_give(k, s);
    cpus_give(k, s);
    if (res->outcome == EXEC_STOPPED) {
        /* Interrupted: the job stays running in the arena, owned by this
         * slot; resume runs it again (attempt + 1). */
        cap_release(k, &s->need, s->gpus);
        return;
    }
    arena_job_set_end(a, jid, res->end_ns);
    /* a failure may halt the run: it takes no next job here */
    bool failed = res->outcome == EXEC_FAILED || res->outcome == EXEC_TERMINATED;
    uint32_t next = ARENA_NONE;
    int r;
    /* a job killed at its runtime is recorded with timeout_exit_code (152):
       what torc shows, and what its failure handler saw; the signal that
       ended it is in its notes */
    int code = res->outcome == EXEC_TERMINATED ? k->ctl->timeout_code : res->status;
    if (k->nheld < HELD_MAX && !failed &&
        !atomic_load_explicit(&k->ctl->halt, memory_order_acquire))
        r = arena_finish_take(a, k->w, jid, outcome_state(res->outcome), code, &next);
    else
        r = arena_finish(a, k->w, jid, outcome_state(res->outcome), code);
    if (r < 0)
        vl_log("worker %u: finishing job %u: %s", k->index, jid, vl_strerror(r));
    if (r == 0 && next != ARENA_NONE)
        k->held[k->nheld++] = next;
    if (r == 0 && failed) /* its record is final: the announcement reads it */
        note_failure(k, jid);
    cap_release(k, &s->need, s->gpus);
}

static void src_notify(void *ctx)
{
    struct wk *k = ctx;
    /* a repair (a worker died) parks every participant: this is a safe
     * point, between arena calls */
    arena_quiesce_point(&k->a, k->w);
    if (atomic_load_explicit(&k->ctl->stop, memory_order_acquire)) {
        exec_engine_stop(k->e);
        return;
    }
    uint32_t seq = atomic_load_explicit(&k->a.ctl->cancel_seq, memory_order_acquire);
    if (seq == k->cancel_seq_seen)
        return;
    k->cancel_seq_seen = seq;
    for (uint32_t i = 0; i < k->nslots; i++) {
        struct wslot *s = &k->slots[i];
        if (s->used && !s->cancel_sent && arena_job_cancel_requested(&k->a, s->jid) &&
            exec_engine_cancel(k->e, s->jid) == 0)
            s->cancel_sent = true;
    }
}

static int fail(struct wk *k, const struct vl_err *err)
{
    if (k->me) {
        size_t n = strnlen(err->msg, sizeof k->me->msg - 1);
        memcpy(k->me->msg, err->msg, n);
        k->me->msg[n] = 0;
        atomic_store_explicit(&k->me->state, RUNCTL_W_ERROR, memory_order_release);
    }
    fprintf(stderr, "volley worker %u: %s\n", k->index, err->msg);
    return VL_EXIT_ENV;
}

int worker_main(int ctl_fd, uint32_t index)
{
    struct wk k = {.index = index, .w = ARENA_NONE};
    struct vl_err err = {0};
    /* The supervisor's death stops this worker like a Ctrl-C would. A
     * SIGINT or SIGHUP the supervisor ignores reaches this worker ignored
     * (nohup): it stays so. */
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    static const int stop_sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < VL_ARRAY_LEN(stop_sigs); i++)
        if (vl_stop_signal_taken(stop_sigs[i]))
            sigaction(stop_sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A file size limit (ulimit -f) then fails the log write with EFBIG,
     * which stops the run cleanly, instead of killing this worker. */
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    /* SIGUSR1 tells the supervisor the allocation ends soon (Slurm's
     * --signal): a worker that gets it too (a signal to the process
     * group) has nothing to do with it; its jobs get it at its default */
    signal(SIGUSR1, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGTERM);

    struct stat cst;
    void *m = MAP_FAILED;
    if (fstat(ctl_fd, &cst) == 0 && (size_t)cst.st_size >= sizeof(struct runctl))
        m = mmap(NULL, (size_t)cst.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, ctl_fd, 0);
    if (m == MAP_FAILED) {
        vl_err_sys(&err, -errno, "cannot map the run's control page (fd %d)", ctl_fd);
        return fail(&k, &err);
    }
    close(ctl_fd);
    k.ctl = m;
    k.ctl_bytes = (size_t)cst.st_size;
    if (k.ctl->magic != RUNCTL_MAGIC || k.ctl->version != RUNCTL_VERSION ||
        k.ctl->shape != RUNCTL_SHAPE || index >= k.ctl->nworkers || index >= RUNCTL_MAX_WORKERS ||
        k.ctl->ncg > RUNCTL_MAX_CG || k.ctl_bytes < RUNCTL_BYTES(k.ctl->ncg) ||
        k.ctl->ncpu_ids > RUNCTL_MAX_CPUS) {
        vl_err_set(&err, VL_EUSAGE, "not a volley control page, or worker %u out of range", index);
        return fail(&k, &err);
    }
    k.me = &k.ctl->w[index];
    if (getppid() != k.ctl->supervisor_pid) {
        vl_err_set(&err, VL_EUSAGE, "the supervisor (pid %d) is gone", k.ctl->supervisor_pid);
        return fail(&k, &err);
    }

    int rc = arena_attach(&k.a, k.ctl->arena_path, 0, &err);
    if (rc < 0)
        return fail(&k, &err);
    rc = arena_join(&k.a, ARENA_ROLE_WORKER, &k.w, &err);
    if (rc < 0) {
        arena_close(&k.a);
        return fail(&k, &err);
    }

    struct exec_config cfg;
    exec_config_defaults(&cfg);
    cfg.max_running = k.ctl->max_running;
    cfg.log_dir = k.ctl->log_dir;
    cfg.log_id = index;
    cfg.run_dir = k.ctl->run_dir;
    cfg.workdir = k.ctl->workdir;
    cfg.kill_grace_ms = k.ctl->kill_grace_ms;
    cfg.term_signal = k.ctl->term_signal;
    cfg.timeout_code = k.ctl->timeout_code;
    cfg.oom_code = k.ctl->oom_code;
    cfg.max_env = k.ctl->max_env;
    k.e = exec_engine_open(&cfg, &err);
    if (!k.e) {
        arena_leave(&k.a, k.w);
        arena_close(&k.a);
        return fail(&k, &err);
    }
    k.nslots = cfg.max_running;
    k.slots = vl_xcalloc(k.nslots, sizeof *k.slots);
    k.visible = getenv("CUDA_VISIBLE_DEVICES");
    k.cuda_len = k.visible ? strlen(k.visible) + 1 : 3 * RES_MAX_GPUS + 1;
    char *cuda = vl_xcalloc(k.nslots, k.cuda_len);
    for (uint32_t i = 0; i < k.nslots; i++) {
        k.slots[i].cuda = cuda + i * k.cuda_len;
        if (k.ctl->max_env) {
            k.slots[i].envcap = k.ctl->max_env;
            k.slots[i].env = vl_xcalloc(k.ctl->max_env, sizeof *k.slots[i].env);
            k.slots[i].envoff = vl_xcalloc(k.ctl->max_env, sizeof *k.slots[i].envoff);
        }
    }
    k.free_slots = vl_xcalloc(k.nslots, sizeof *k.free_slots);
    for (uint32_t i = 0; i < k.nslots; i++) {
        k.free_slots[k.nfree++] = k.nslots - 1 - i;
        k.slots[i].cg = NO_CG;
    }
    k.cgs = vl_xcalloc(k.ctl->ncg + 1, sizeof *k.cgs);
    k.cg_hint = (uint32_t)((uint64_t)index * k.ctl->ncg / k.ctl->nworkers);
    k.cancel_seq_seen = atomic_load(&k.a.ctl->cancel_seq);
    g_engine = k.e;
    atomic_store_explicit(&k.me->state, RUNCTL_W_RUNNING, memory_order_release);
    if (atomic_load(&k.ctl->stop))
        exec_engine_stop(k.e);

    struct exec_source src = {
        .ctx = &k,
        .next = src_next,
        .started = src_started,
        .done = src_done,
        .word = (const uint32_t *)(const void *)arena_futex_word(&k.a),
        .word_private = false,
        /* published work wakes one idle worker by its bit (docs/arena.md,
         * "Sleeping"); stop, cancel, quiesce and freed capacity wake all */
        .word_mask = arena_futex_mask(&k.a, k.w),
        .notify = src_notify,
    };
    rc = exec_engine_run(k.e, &src, &err);
    g_engine = NULL;
    struct exec_stats st;
    exec_engine_stats(k.e, &st);
    atomic_store(&k.me->spawned, st.spawned);
    if (k.announced)
        arena_sleep_done(&k.a, k.w);
    set_waiting(&k, false);
    if (res_unreserve(&k.ctl->res, k.index + 1))
        arena_wake(&k.a);
    /* Held jobs never started: they go back to ready through recover (the
     * supervisor repairs when a worker leaves jobs running). */
    bool clean = rc == 0 && k.nheld == 0 && k.nparked == 0;
    exec_engine_close(k.e);
    atomic_store(&k.me->cpu_ns, vl_cpu_ns());
    if (clean)
        arena_leave(&k.a, k.w);
    arena_close(&k.a);
    free(k.nslots ? k.slots[0].cuda : NULL);
    for (uint32_t i = 0; i < k.nslots; i++) {
        free(k.slots[i].env);
        free(k.slots[i].envoff);
    }
    free(k.slots);
    free(k.free_slots);
    for (uint32_t i = 0; i < k.ctl->ncg; i++)
        cgroup_slot_close(&k.cgs[i]);
    free(k.cgs);
    free(k.parked);
    if (rc < 0)
        return fail(&k, &err);
    bool halted = atomic_load_explicit(&k.ctl->halt, memory_order_acquire) ||
                  atomic_load_explicit(&k.ctl->drain, memory_order_acquire) || k.nparked;
    atomic_store_explicit(&k.me->state, rc == 0 && !halted ? RUNCTL_W_DONE : RUNCTL_W_STOPPED,
                          memory_order_release);
    return 0;
}

/*
 * ckpt.c - the checkpointer thread (see ckpt.h).
 *
 * Two lists: `pending` (filled by ckpt_submit under the mutex) and `work`
 * (the thread's, outside the mutex). A round swaps pending into work
 * (appending when work still holds a failed round), sorts by (jid, arrival)
 * with a stable merge so the newest record of each job wins, and writes.
 * The mutex is never held across SQLite, so ckpt_submit waits at most for a
 * memcpy and a swap. Sequence numbers tie flushes to rounds: every submit
 * takes the next number; a successful round covering everything up to S
 * sets written = S; a failed round sets failed_round to its round number.
 *
 * Memory: pending grows with submissions between rounds; a failed round
 * keeps at most one record per job (it is deduplicated), so a long outage
 * costs at most 40 bytes per job plus what arrives during one retry_ms.
 */
#include "ckpt.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "persist/snap_arena.h"
#include "persist/watchlog.h"

struct rec_list {
    struct snap_job *v;
    size_t n, cap;
};

/* Action records: few (one per action and state change), kept per id. */
struct act_list {
    struct snap_action *v;
    size_t n, cap;
};

struct ckpt {
    struct snap *db;
    uint32_t njobs;
    uint32_t nactions;
    struct act_list act_pending; /* under mu */
    struct act_list act_work;    /* the thread's */
    uint32_t retry_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* to the thread: new records, flush or stop */
    pthread_cond_t done;     /* to flushers: a round ended */
    struct rec_list pending; /* under mu */
    struct rec_list work;    /* the thread's */
    uint64_t submitted;      /* under mu: sequence of the last submit */
    uint64_t written;        /* under mu: everything up to here is on disk */
    uint64_t rounds_begun;   /* under mu */
    uint64_t failed_round;   /* under mu: round number of the last failure */
    uint64_t retry_at_ns;    /* under mu: no retry before (monotonic) */
    bool flush_wanted;       /* under mu: skip the retry wait */
    bool stop;               /* under mu */
    struct ckpt_stats st;    /* under mu */
    /* ckpt_collect's batch (the caller's thread; allocated at its first call) */
    uint32_t *col_ids;
    struct snap_job *col_recs;
};

#define COLLECT_BATCH 65536 /* records read from the arena per ckpt_submit */

static bool list_add(struct rec_list *l, const struct snap_job *v, size_t n)
{
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap : 1024;
        while (cap < l->n + n)
            cap *= 2;
        struct snap_job *p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return false;
        l->v = p;
        l->cap = cap;
    }
    memcpy(l->v + l->n, v, n * sizeof *v);
    l->n += n;
    return true;
}

/* Adds n records to l, each replacing the one of its id if l has it. */
static bool act_add(struct act_list *l, const struct snap_action *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < l->n && l->v[k].id != v[i].id)
            k++;
        if (k == l->n) {
            if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 8;
                struct snap_action *p = realloc(l->v, cap * sizeof *p);
                if (!p)
                    return false;
                l->v = p;
                l->cap = cap;
            }
            l->n++;
        }
        l->v[k] = v[i];
    }
    return true;
}

/* Stable sort by jid (merge sort through tmp), then keep the last of each. */
static void sort_dedupe(struct rec_list *l, struct snap_job *tmp)
{
    size_t n = l->n;
    struct snap_job *a = l->v, *b = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = VL_MIN(lo + w, n), hi = VL_MIN(lo + 2 * w, n);
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                b[k++] = a[j].jid < a[i].jid ? a[j++] : a[i++];
            while (i < mid)
                b[k++] = a[i++];
            while (j < hi)
                b[k++] = a[j++];
        }
        struct snap_job *t = a;
        a = b;
        b = t;
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && a[i + 1].jid == a[i].jid)
            continue; /* a later record of the same job follows */
        l->v[out++] = a[i];
    }
    l->n = out;
}

static void add_ms(struct timespec *ts, uint64_t ns)
{
    ts->tv_sec += (time_t)(ns / 1000000000u);
    ts->tv_nsec += (long)(ns % 1000000000u);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *run(void *arg)
{
    struct ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        bool have = c->pending.n || c->work.n || c->act_pending.n || c->act_work.n;
        uint64_t now = vl_now_ns();
        bool waiting = c->retry_at_ns > now && !c->flush_wanted && !c->stop;
        if (!have || waiting) {
            if (c->stop && !have)
                break;
            if (waiting) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                add_ms(&ts, c->retry_at_ns - now);
                pthread_cond_timedwait(&c->wake, &c->mu, &ts);
            } else {
                pthread_cond_wait(&c->wake, &c->mu);
            }
            continue;
        }
        /* take everything pending */
        if (!c->work.n) {
            struct rec_list t = c->work;
            c->work = c->pending;
            c->pending = t;
            c->pending.n = 0;
        } else if (c->pending.n && list_add(&c->work, c->pending.v, c->pending.n)) {
            c->pending.n = 0;
        } /* else: no memory to merge; this round writes the failed one alone */
        bool acts_left = false;
        if (c->act_pending.n) {
            if (act_add(&c->act_work, c->act_pending.v, c->act_pending.n))
                c->act_pending.n = 0;
            else
                acts_left = true;
        }
        uint64_t covers = c->pending.n || acts_left ? c->written : c->submitted;
        uint64_t round = ++c->rounds_begun;
        bool last_try = c->stop;
        c->flush_wanted = false;
        pthread_mutex_unlock(&c->mu);

        struct vl_err e = {0};
        int rc = 0;
        if (c->work.n > 1) {
            struct snap_job *tmp = malloc(c->work.n * sizeof *tmp);
            if (tmp) {
                sort_dedupe(&c->work, tmp);
                free(tmp);
            } /* without memory for sorting, duplicates are written in order: last wins */
        }
        uint64_t t0 = vl_now_ns();
        if (c->act_work.n) {
            rc = snap_write_actions(c->db, c->act_work.v, c->act_work.n, &e);
            if (rc == 0)
                c->act_work.n = 0;
        }
        if (rc == 0 && c->work.n)
            rc = snap_write_jobs(c->db, c->work.v, c->work.n, &e);
        uint64_t dt = vl_now_ns() - t0;

        pthread_mutex_lock(&c->mu);
        if (rc == 0) {
            c->st.rounds++;
            c->st.records += c->work.n;
            c->st.last_ns = dt;
            c->st.max_ns = VL_MAX(c->st.max_ns, dt);
            c->st.last_err = (struct vl_err){0};
            c->work.n = 0;
            c->written = covers;
        } else {
            c->st.failures++;
            c->st.last_err = e;
            c->failed_round = round;
            c->retry_at_ns = vl_now_ns() + (uint64_t)c->retry_ms * 1000000u;
        }
        c->st.pending = c->pending.n + c->work.n;
        pthread_cond_broadcast(&c->done);
        if (rc != 0 && last_try)
            break; /* ckpt_stop reports it */
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int ckpt_start(struct ckpt **out, struct snap *db, const struct ckpt_opts *opts, struct vl_err *err)
{
    *out = NULL;
    struct ckpt *c = vl_xcalloc(1, sizeof *c);
    c->db = db;
    c->njobs = snap_spec(db)->njobs;
    c->nactions = snap_spec(db)->nactions;
    c->retry_ms = opts && opts->retry_ms ? opts->retry_ms : 1000;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &ca);
    pthread_cond_init(&c->done, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&c->thread, NULL, run, c);
    if (rc) {
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->wake);
        pthread_cond_destroy(&c->done);
        free(c);
        return vl_err_sys(err, -rc, "cannot start the checkpoint thread for %s", snap_path(db));
    }
    *out = c;
    return 0;
}

int ckpt_submit(struct ckpt *c, const struct snap_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].jid >= c->njobs || jobs[i].state >= SNAP_NSTATES)
            return -EINVAL;
    if (n == 0)
        return 0;
    pthread_mutex_lock(&c->mu);
    bool ok = list_add(&c->pending, jobs, n);
    if (ok) {
        c->submitted++;
        c->st.pending = c->pending.n + c->work.n;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->mu);
    return ok ? 0 : -ENOMEM;
}

int ckpt_submit_actions(struct ckpt *c, const struct snap_action *acts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (acts[i].id >= c->nactions || acts[i].state >= SNAP_ACT_NSTATES)
            return -EINVAL;
    if (n == 0)
        return 0;
    pthread_mutex_lock(&c->mu);
    bool ok = act_add(&c->act_pending, acts, n);
    if (ok) {
        c->submitted++;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->mu);
    return ok ? 0 : -ENOMEM;
}

static int flush_locked(struct ckpt *c, struct vl_err *err)
{
    uint64_t target = c->submitted;
    uint64_t after = c->rounds_begun;
    int rc = 0;
    while (c->written < target) {
        if (c->failed_round > after) {
            rc = c->st.last_err.code ? c->st.last_err.code : -EIO;
            if (err)
                *err = c->st.last_err;
            break;
        }
        c->flush_wanted = true;
        pthread_cond_signal(&c->wake);
        pthread_cond_wait(&c->done, &c->mu);
    }
    return rc;
}

int ckpt_flush(struct ckpt *c, struct vl_err *err)
{
    pthread_mutex_lock(&c->mu);
    int rc = flush_locked(c, err);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void ckpt_get_stats(struct ckpt *c, struct ckpt_stats *st)
{
    pthread_mutex_lock(&c->mu);
    *st = c->st;
    st->pending = c->pending.n + c->work.n;
    pthread_mutex_unlock(&c->mu);
}

int ckpt_stop(struct ckpt *c, struct vl_err *err)
{
    if (!c)
        return 0;
    /* the thread writes what is left, one attempt from now even right
     * after a failure, and exits when it is written or that attempt failed */
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    int rc = 0;
    if (c->pending.n || c->work.n || c->act_pending.n || c->act_work.n) {
        rc = c->st.last_err.code ? c->st.last_err.code : -EIO;
        if (err)
            *err = c->st.last_err;
    } else {
        rc = snap_finish(c->db, err);
    }
    free(c->pending.v);
    free(c->work.v);
    free(c->act_pending.v);
    free(c->act_work.v);
    free(c->col_ids);
    free(c->col_recs);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->wake);
    pthread_cond_destroy(&c->done);
    free(c);
    return rc;
}

int ckpt_collect(struct ckpt *c, struct arena *a, struct watchlog *wl)
{
    if (!c->col_ids) {
        c->col_ids = vl_xmalloc(COLLECT_BATCH * sizeof *c->col_ids);
        c->col_recs = vl_xmalloc(COLLECT_BATCH * sizeof *c->col_recs);
    }
    uint64_t cursor = 0;
    int rc = 0;
    while (cursor < a->ndirty) {
        size_t n = arena_dirty_collect(a, &cursor, c->col_ids, COLLECT_BATCH);
        for (size_t i = 0; i < n; i++) {
            snap_job_read(a, c->col_ids[i], &c->col_recs[i]);
            watchlog_note(wl, c->col_ids[i], &c->col_recs[i]);
        }
        if (n && ckpt_submit(c, c->col_recs, n) < 0)
            rc = -ENOMEM;
    }
    watchlog_flush(wl);
    return rc;
}

/*
 * arena_repair.c - recovery of a dead participant, and restore.
 *
 * The state words are the truth; everything else (live in-degrees, queue
 * tokens, root batches, counts, the sleeper count) is derived from them.
 * A process killed between any two instructions can leave the derived
 * data inconsistent: a job finished with only some children decremented;
 * a child made ready but never pushed; a token popped but never claimed;
 * a shared-queue cell reserved but never written; a cascade half done; a
 * counter not yet moved. Instead of proving each case repairable in place,
 * arena_recover stops the world briefly and recomputes all derived data:
 *
 *   1. quiesce: bump the epoch word (odd); every live participant parks at
 *      its next safe point (between two primitives, so it holds no token
 *      and is inside no release) and acknowledges; the dead never will,
 *      and are recognised by pid + start time (zombies count as dead).
 *   2. running jobs whose owner is not live -> ready, attempt + 1.
 *   3. settle (shared with restore):
 *      a. empty every queue and range; every level's root cursor back to
 *         its first root (the root log holds every root; roots that are
 *         not ready are skipped when taken, as a claim fails on them);
 *      b. indeg[c] = indeg0[c] - |finished parents of c|   (one CSR pass);
 *      c. propagate cancel-request bits to every descendant;
 *      d. worklist from every finished job that did not complete and every
 *         job with a cancel request: cancel blocked/ready jobs with a
 *         request, and blocked/ready children of a non-completed job that
 *         have SPEC_JOB_CANCEL_ON_BLOCK; each newly canceled job decrements
 *         its children (it was not in the finished set of step b) and
 *         joins the worklist; each job joins at most once (visited bitmap);
 *      e. blocked with in-degree 0 -> ready; ready with in-degree > 0 ->
 *         blocked (only a restore from an inconsistent checkpoint); every
 *         ready job gets exactly one token: a root its place in the root
 *         log, any other a place in a queue (the live workers' queues in
 *         turn, ARENA_CHUNK at a time, ascending ids);
 *      f. recount the base counts and zero every slot's counters.
 *   4. free the dead slots; release the epoch (even) and wake everyone.
 *
 * Why it is exact: after step 1 no process but this one writes the arena
 * (the parked are between primitives, the dead are gone), so steps 2-3
 * read a fixed set of state words. Step b makes every in-degree equal to
 * the number of unfinished parents, which is what the live algorithm
 * maintains when every finished job's release has run completely; step d
 * applies the cancellation rule to every finished non-completed job and
 * every request, so nothing a dead process left half-canceled stays so;
 * step e restores "one token per ready job". The live primitives preserve
 * these invariants from then on. The result depends only on the state
 * words, so a repair that dies itself is simply run again (qs_owner lets the
 * next recover take over the quiesce).
 *
 * Cost: O(njobs + nedges) with everyone parked, once per death; measured
 * in docs/arena.md (tens of ms per million jobs). Rejected: repairing in
 * place from a per-worker journal ("releasing job J, next edge e"): the
 * edge in flight is ambiguous (did the fetch_sub land before the kill?)
 * and resolving it needs the child's parents, a reverse CSR (12 B/job
 * more) and still a stable snapshot of them, i.e. a quiesce anyway.
 */
#include "arena.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena_int.h"
#include "readyq.h"

static inline uint64_t ld(struct arena *a, uint32_t j)
{
    return atomic_load_explicit(&a->state[j], ARENA_RELAXED);
}

/* Everyone else is parked: plain (relaxed) stores are enough. */
static inline void put(struct arena *a, uint32_t j, uint64_t w)
{
    if (ld(a, j) != w) {
        atomic_store_explicit(&a->state[j], w, ARENA_RELAXED);
        arena__mark_dirty(a, j);
    }
}

static inline void dec_kids(struct arena *a, uint32_t x)
{
    for (uint64_t e = a->kid_off[x]; e < a->kid_off[x + 1]; e++)
        atomic_fetch_sub_explicit(&a->indeg[a->kids[e]], 1, ARENA_RELAXED);
}

/* A worklist through a->link (free for us: nobody else runs). */
struct wl {
    struct arena *a;
    uint32_t head;
};
static inline void wl_push(struct wl *l, uint32_t j)
{
    atomic_store_explicit(&l->a->link[j], l->head, ARENA_RELAXED);
    l->head = j;
}
static inline uint32_t wl_pop(struct wl *l)
{
    uint32_t j = l->head;
    if (j != ARENA_NONE)
        l->head = atomic_load_explicit(&l->a->link[j], ARENA_RELAXED);
    return j;
}

static void settle(struct arena *a, uint64_t *vis, uint64_t *canceled_out, uint64_t *ready_out)
{
    uint32_t n = a->njobs;
    uint64_t canceled = 0;

    /* a. queues */
    arena__reset_queues(a);

    /* b. in-degrees from the finished set */
    memcpy((uint32_t *)a->indeg, a->indeg0, (size_t)n * 4);
    for (uint32_t p = 0; p < n; p++)
        if (arena__finished(arena__st(ld(a, p))))
            dec_kids(a, p);

    /* c. cancel requests reach every descendant */
    struct wl l = {a, ARENA_NONE};
    for (uint32_t j = 0; j < n; j++)
        if (ld(a, j) & ARENA_W_CANCEL_REQ)
            wl_push(&l, j);
    for (uint32_t x; (x = wl_pop(&l)) != ARENA_NONE;)
        for (uint64_t e = a->kid_off[x]; e < a->kid_off[x + 1]; e++) {
            uint32_t c = a->kids[e];
            uint64_t w = ld(a, c);
            if (!(w & ARENA_W_CANCEL_REQ)) {
                put(a, c, w | ARENA_W_CANCEL_REQ);
                wl_push(&l, c);
            }
        }

    /* d. cancellations */
    for (uint32_t j = 0; j < n; j++) {
        uint64_t w = ld(a, j);
        unsigned st = arena__st(w);
        if ((w & ARENA_W_CANCEL_REQ) || (arena__finished(st) && st != ARENA_COMPLETED)) {
            vis[j >> 6] |= 1ull << (j & 63);
            wl_push(&l, j);
        }
    }
    for (uint32_t x; (x = wl_pop(&l)) != ARENA_NONE;) {
        uint64_t w = ld(a, x);
        unsigned st = arena__st(w);
        if ((w & ARENA_W_CANCEL_REQ) && (st == ARENA_BLOCKED || st == ARENA_READY)) {
            put(a, x, arena__with(w, ARENA_CANCELED, ARENA_W_NO_OWNER));
            canceled++;
            dec_kids(a, x);
            st = ARENA_CANCELED;
        }
        if (!arena__finished(st) || st == ARENA_COMPLETED)
            continue;
        for (uint64_t e = a->kid_off[x]; e < a->kid_off[x + 1]; e++) {
            uint32_t c = a->kids[e];
            uint64_t wc = ld(a, c);
            unsigned sc = arena__st(wc);
            if ((sc != ARENA_BLOCKED && sc != ARENA_READY) ||
                !((a->meta[c].flags & SPEC_JOB_CANCEL_ON_BLOCK) || (wc & ARENA_W_CANCEL_REQ)))
                continue;
            put(a, c, arena__with(wc, ARENA_CANCELED, ARENA_W_NO_OWNER));
            canceled++;
            dec_kids(a, c);
            if (!(vis[c >> 6] & (1ull << (c & 63)))) {
                vis[c >> 6] |= 1ull << (c & 63);
                wl_push(&l, c);
            }
        }
    }

    /* e. readiness and one token per ready job */
    uint32_t *to = vl_xcalloc(a->nslots, sizeof *to), nto = 0;
    for (uint32_t i = 0; i < a->nslots; i++)
        if (atomic_load_explicit(&a->slots[i].ident, ARENA_RELAXED) != 0 &&
            atomic_load_explicit(&a->slots[i].role, ARENA_RELAXED) == ARENA_ROLE_WORKER)
            to[nto++] = i;
    if (nto == 0) { /* no live worker (a restore, a resume): the slots that
                       ever joined, or slot 0; takers look at slots up to
                       the highest that ever joined, so a joiner sees them */
        uint32_t hw = VL_MAX(arena__slots_hw(a), 1u);
        for (uint32_t i = 0; i < hw; i++)
            to[nto++] = i;
    }
    uint64_t queued = 0, ready = 0, hint = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint64_t w = ld(a, j);
        unsigned st = arena__st(w);
        uint32_t deg = atomic_load_explicit(&a->indeg[j], ARENA_RELAXED);
        if (st == ARENA_READY && deg != 0)
            put(a, j, arena__with(w, (st = ARENA_BLOCKED), ARENA_W_NO_OWNER));
        else if (st == ARENA_BLOCKED && deg == 0)
            put(a, j, arena__with(w, (st = ARENA_READY), ARENA_W_NO_OWNER));
        if (st != ARENA_READY)
            continue;
        ready++;
        uint32_t L = arena_job_level(a, j);
        hint |= 1ull << L;
        if (a->indeg0[j] != 0)
            rq_push(a, arena__qd(a, to[queued++ / ARENA_CHUNK % nto], L), j);
    }
    free(to);
    for (uint32_t i = 0; i < a->nslots; i++)
        for (uint32_t L = 0; L < a->nlevels; L++) {
            struct arena_qd *q = arena__qd(a, i, L);
            uint32_t age = rq_oldest_age(a, q);
            atomic_store_explicit(&q->pub_age, age, ARENA_RELAXED);
            atomic_store_explicit(arena__age(a, L, i), age, ARENA_RELAXED);
        }
    atomic_store_explicit(&a->ctl->lvl_hint, hint, ARENA_RELAXED);

    /* f. counts */
    int64_t cnt[ARENA_NCNT] = {0};
    for (uint32_t j = 0; j < n; j++)
        cnt[arena__st(ld(a, j))]++;
    /* retries summed unsigned: a damaged segment's must not overflow */
    uint64_t retries =
        (uint64_t)atomic_load_explicit(&a->ctl->base[ARENA_CNT_RETRIES], ARENA_RELAXED);
    uint32_t sleepers = 0;
    memset((void *)a->sleep, 0, ((size_t)a->nslots + 63) / 64 * 8);
    for (uint32_t i = 0; i < a->nslots; i++) {
        struct arena_slot *s = &a->slots[i];
        retries += (uint64_t)atomic_load_explicit(&s->cnt[ARENA_CNT_RETRIES], ARENA_RELAXED);
        for (unsigned k = 0; k < ARENA_NCNT; k++)
            atomic_store_explicit(&s->cnt[k], 0, ARENA_RELAXED);
        if (atomic_load_explicit(&s->ident, ARENA_RELAXED) != 0 &&
            atomic_load_explicit(&s->sleeping, ARENA_RELAXED) != 0) {
            sleepers++; /* woken by the release's arena_wake; marked idle all the same */
            atomic_fetch_or_explicit(&a->sleep[i >> 6], 1ull << (i & 63), ARENA_RELAXED);
        } else if (atomic_load_explicit(&s->ident, ARENA_RELAXED) == 0)
            atomic_store_explicit(&s->sleeping, 0, ARENA_RELAXED);
    }
    cnt[ARENA_CNT_RETRIES] = (int64_t)retries;
    for (unsigned k = 0; k < ARENA_NCNT; k++)
        atomic_store_explicit(&a->ctl->base[k], cnt[k], ARENA_RELAXED);
    atomic_store_explicit(&a->ctl->sleepers, sleepers, ARENA_RELAXED);
    *canceled_out = canceled;
    *ready_out = ready;
}

void arena__reset_queues(struct arena *a)
{
    uint64_t nq = (uint64_t)a->nslots * a->nlevels, hint = 0;
    for (uint64_t q = 0; q < nq; q++) {
        struct arena_qd *d = &a->qds[q];
        atomic_store_explicit(&d->range, 0, ARENA_RELAXED);
        atomic_store_explicit(&d->head, rq_pos((uint32_t)q, 0), ARENA_RELAXED);
        atomic_store_explicit(&d->tail, rq_pos((uint32_t)q, 0), ARENA_RELAXED);
        atomic_store_explicit(&d->range_age, ARENA_AGE_NONE, ARENA_RELAXED);
        atomic_store_explicit(&d->pub_age, ARENA_AGE_NONE, ARENA_RELAXED);
        atomic_store_explicit(&a->ages[q], ARENA_AGE_NONE, ARENA_RELAXED);
    }
    atomic_store_explicit(&a->ctl->chunk_next, nq, ARENA_RELAXED);
    /* the clock starts at 1: age 0 is the roots' */
    if (atomic_load_explicit(&a->ctl->tick, ARENA_RELAXED) == 0)
        atomic_store_explicit(&a->ctl->tick, 1, ARENA_RELAXED);
    for (uint32_t L = 0; L < a->nlevels; L++) {
        atomic_store_explicit(&a->levels[L].root_cursor, 0, ARENA_RELAXED);
        atomic_store_explicit(&a->levels[L].roots_done, a->levels[L].nroots == 0, ARENA_RELAXED);
        if (a->levels[L].nroots)
            hint |= 1ull << L;
    }
    atomic_store_explicit(&a->ctl->lvl_hint, hint, ARENA_RELAXED);
    for (uint32_t i = 0; i < a->nslots; i++) {
        atomic_store_explicit(&a->slots[i].tick_left, ARENA_CHUNK, ARENA_RELAXED);
        atomic_store_explicit(&a->slots[i].scan_left, 0, ARENA_RELAXED);
    }
}

int arena__settle(struct arena *a, uint64_t *canceled, uint64_t *ready, struct vl_err *err)
{
    uint64_t *vis = vl_alloc_array(((size_t)a->njobs + 63) / 64, 8, true, "a repair", err);
    if (!vis)
        return err ? err->code : VL_ETOOBIG;
    settle(a, vis, canceled, ready);
    free(vis);
    atomic_thread_fence(ARENA_SEQ);
    return 0;
}

int arena__apply_recs(struct arena *a, const struct arena_job_rec *recs, struct vl_err *err)
{
    for (uint32_t j = 0; j < a->njobs; j++) {
        const struct arena_job_rec *r = &recs[j];
        if (r->state >= ARENA_NSTATES)
            return vl_err_set(err, VL_ECORRUPT,
                              "saved job '%s' has state %" PRIu32 ", which is not a job state",
                              arena_job_name(a, j), r->state);
        unsigned st = r->state;
        uint64_t attempt = r->attempt ? r->attempt : 1;
        uint64_t lost = r->lost;
        if (st == ARENA_RUNNING) { /* cut short: it runs again */
            st = ARENA_READY;
            attempt++;
            lost++;
        }
        uint64_t flags = (r->flags & ARENA_REC_CANCEL_REQ) ? ARENA_W_CANCEL_REQ : 0;
        flags |= VL_MIN(lost, ARENA_W_LOST_MAX) << ARENA_W_LOST_SHIFT;
        atomic_store_explicit(&a->state[j], arena__word(st, flags, ARENA_W_NO_OWNER, attempt),
                              ARENA_RELAXED);
        if (st != r->state) /* persist must write back what the restore changed */
            arena__mark_dirty(a, j);
        struct arena_cold *c = &a->cold[j];
        /* an unfinished job's exit code is 0: arena_finish relies on it */
        atomic_store_explicit(&c->exit_code, arena__finished(st) ? r->exit_code : 0, ARENA_RELAXED);
        atomic_store_explicit(&c->pid, r->pid, ARENA_RELAXED);
        atomic_store_explicit(&c->start_ns, r->start_ns, ARENA_RELAXED);
        atomic_store_explicit(&c->end_ns, r->end_ns, ARENA_RELAXED);
        atomic_store_explicit(&c->log_ref, r->log_ref, ARENA_RELAXED);
        atomic_store_explicit(&c->max_rss_bytes, r->max_rss_bytes, ARENA_RELAXED);
        atomic_store_explicit(&c->cpu_user_ms, r->cpu_user_ms, ARENA_RELAXED);
        atomic_store_explicit(&c->cpu_sys_ms, r->cpu_sys_ms, ARENA_RELAXED);
    }
    uint64_t canceled, ready;
    return arena__settle(a, &canceled, &ready, err);
}

/* ---- recovery ---- */

int arena_recover(struct arena *a, uint32_t self, int timeout_ms, struct arena_recover_stats *st,
                  struct vl_err *err)
{
    struct arena_recover_stats dummy;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof *st);
    if (a->rdonly)
        return vl_err_set(err, -EROFS, "arena %s is attached read-only", a->path);
    uint64_t t0 = vl_now_ns();
    /* allocate before stopping anyone, so a failure changes nothing */
    uint64_t *vis = vl_alloc_array(((size_t)a->njobs + 63) / 64, 8, true, "a repair", err);
    bool *dead = vl_alloc_array(a->nslots, sizeof *dead, true, "a repair", err);
    int rc = 0;
    if (!vis || !dead) {
        rc = err ? err->code : VL_ETOOBIG;
        goto out;
    }

    /* 1. request the quiesce (or take over one whose requester died) */
    struct arena_ctl *ctl = a->ctl;
    uint64_t me = arena__self_ident();
    uint32_t e = atomic_load_explicit(&ctl->qs_word, ARENA_SEQ);
    for (;;) {
        if (e & 1) {
            uint64_t owner = atomic_load_explicit(&ctl->qs_owner, ARENA_SEQ);
            if (owner != me && arena__ident_alive(owner)) {
                rc = vl_err_set(err, -EBUSY, "arena %s is being repaired by process %d", a->path,
                                (int)ARENA_IDENT_PID(owner));
                goto out;
            }
            break; /* its requester is gone: the quiesce is ours */
        }
        if (atomic_compare_exchange_weak_explicit(&ctl->qs_word, &e, e + 1, ARENA_SEQ, ARENA_SEQ)) {
            e++;
            break;
        }
    }
    atomic_store_explicit(&ctl->qs_owner, me, ARENA_SEQ);
    if (self < a->nslots)
        atomic_store_explicit(&a->slots[self].qs_ack, e, ARENA_SEQ);
    atomic_thread_fence(ARENA_SEQ);
    arena_wake(a); /* sleepers wake up, call take, and park */

    /* wait until every live participant parked */
    uint64_t deadline = t0 + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
    for (unsigned spin = 0;; spin++) {
        uint32_t pending = 0, hw = atomic_load_explicit(&ctl->slots_hw, ARENA_SEQ);
        hw = hw > a->nslots ? a->nslots : hw;
        for (uint32_t i = 0; i < hw; i++) {
            struct arena_slot *s = &a->slots[i];
            uint64_t id = atomic_load_explicit(&s->ident, ARENA_SEQ);
            if (i == self || id == 0 || dead[i] || atomic_load_explicit(&s->qs_ack, ARENA_ACQ) == e)
                continue;
            /* reading /proc costs ~30 us: look only now and then. A gone
             * process is dead only if the slot still holds its ident: one
             * that left (and exited) after the load above is not */
            if (spin % 16 == 0 && !arena__ident_alive(id) &&
                atomic_load_explicit(&s->ident, ARENA_SEQ) == id)
                dead[i] = true;
            else
                pending++;
        }
        if (pending == 0)
            break;
        if (timeout_ms >= 0 && vl_now_ns() > deadline) {
            atomic_store_explicit(&ctl->qs_owner, 0, ARENA_SEQ);
            atomic_store_explicit(&ctl->qs_word, e + 1, ARENA_SEQ);
            arena__futex_wake(&ctl->qs_word);
            rc = vl_err_set(err, -ETIMEDOUT,
                            "cannot repair arena %s: %" PRIu32 " live participant%s did not reach "
                            "a safe point within %d ms",
                            a->path, pending, pending == 1 ? "" : "s", timeout_ms);
            goto out;
        }
        if (spin % 256 == 255)
            arena_wake(a); /* one that went to sleep on an old value */
        vl_sleep_ns(spin < 100 ? 20000 : 200000);
    }

    /* 2. the running jobs of the dead */
    uint64_t t1 = vl_now_ns();
    for (uint32_t i = 0; i < a->nslots; i++) {
        if (dead[i]) {
            st->dead++;
            atomic_store_explicit(&a->slots[i].sleeping, 0, ARENA_RELAXED);
            atomic_store_explicit(&a->slots[i].ident, 0, ARENA_REL);
        } else if (i != self && atomic_load_explicit(&a->slots[i].ident, ARENA_RELAXED) != 0) {
            st->live++;
        }
    }
    for (uint32_t j = 0; j < a->njobs; j++) {
        uint64_t w = ld(a, j);
        if (arena__st(w) != ARENA_RUNNING)
            continue;
        uint32_t o = arena__owner(w);
        if (o < a->nslots && !dead[o] && atomic_load_explicit(&a->slots[o].ident, ARENA_RELAXED))
            continue;
        put(a, j,
            arena__lost_inc(arena__with(w, ARENA_READY, ARENA_W_NO_OWNER)) +
                (1ull << ARENA_W_ATTEMPT_SHIFT));
        /* Its group was ended by whoever found the owner dead (the
         * supervisor, supervisor_kill_jobs, before this); a pid left here would
         * be signaled again, maybe reused by then, while the job waits to
         * run. Its next clone writes the new one. */
        atomic_store_explicit(&a->cold[j].pid, 0, ARENA_RELAXED);
        st->requeued++;
    }

    /* 3. settle */
    settle(a, vis, &st->canceled, &st->ready);
    atomic_fetch_add_explicit(&ctl->recoveries, 1, ARENA_RELAXED);
    atomic_fetch_add_explicit(&ctl->recovered, st->requeued, ARENA_RELAXED);

    st->repair_ns = vl_now_ns() - t1;

    /* 4. release */
    atomic_store_explicit(&ctl->qs_owner, 0, ARENA_SEQ);
    atomic_store_explicit(&ctl->qs_word, e + 1, ARENA_SEQ);
    arena__futex_wake(&ctl->qs_word);
    arena_wake(a);
    st->paused_ns = vl_now_ns() - t0;
out:
    free(vis);
    free(dead);
    return rc;
}

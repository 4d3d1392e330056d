/*
 * arena_slot.c - participants: joining and leaving a slot, liveness (pid +
 * start time, zombies count as dead), the quiesce safe point, sleeping on
 * the futex word and waking, and the counts read from per-slot counters.
 *
 * Counts: each slot keeps +1/-1 per state for the transitions it made, on
 * its own cache line, written only by its owner with plain stores; a
 * reader adds the base counts (set at build and by repair) and every
 * slot's line: O(slots), and no line is shared on the completion path.
 * Finished counts only grow between repairs, so "sum of finished == njobs"
 * read in any order is a safe termination test.
 */
#include "arena.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arena_int.h"

bool arena__ident_alive(uint64_t ident)
{
    int32_t pid = ARENA_IDENT_PID(ident);
    if (pid <= 0)
        return false;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* comm may hold spaces and parentheses: fields start after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return false;
    char st = p[2]; /* field 3 */
    if (st == 'Z' || st == 'X' || st == 'x')
        return false; /* a zombie can no longer touch the arena */
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return false;
        p++;
    }
    return (uint32_t)strtoull(p, NULL, 10) == (uint32_t)ident;
}

uint64_t arena__self_ident(void)
{
    return ARENA_IDENT(getpid(), vl_proc_start(getpid()));
}

bool arena_slot_alive(const struct arena *a, uint32_t slot)
{
    if (slot >= a->nslots)
        return false;
    return arena__ident_alive(atomic_load_explicit(&a->slots[slot].ident, ARENA_ACQ));
}

int arena_slot_pid(const struct arena *a, uint32_t slot)
{
    if (slot >= a->nslots)
        return 0;
    return ARENA_IDENT_PID(atomic_load_explicit(&a->slots[slot].ident, ARENA_ACQ));
}

int arena_join(struct arena *a, enum arena_role role, uint32_t *slot, struct vl_err *err)
{
    if (a->rdonly)
        return vl_err_set(err, -EROFS, "arena %s is attached read-only", a->path);
    uint64_t me = arena__self_ident();
    for (uint32_t i = 0; i < a->nslots; i++) {
        struct arena_slot *s = &a->slots[i];
        uint64_t zero = 0;
        if (atomic_load_explicit(&s->ident, ARENA_RELAXED) != 0 ||
            !atomic_compare_exchange_strong_explicit(&s->ident, &zero, me, ARENA_SEQ,
                                                     ARENA_RELAXED))
            continue;
        atomic_store_explicit(&s->role, (uint32_t)role, ARENA_RELAXED);
        atomic_store_explicit(&s->qs_ack, 0, ARENA_RELAXED);
        atomic_store_explicit(&s->sleeping, 0, ARENA_RELAXED);
        atomic_store_explicit(&s->tick_left, ARENA_CHUNK, ARENA_RELAXED);
        atomic_store_explicit(&s->scan_left, 0, ARENA_RELAXED);
        uint32_t hw = atomic_load_explicit(&a->ctl->slots_hw, ARENA_RELAXED);
        while (hw < i + 1 && !atomic_compare_exchange_weak_explicit(&a->ctl->slots_hw, &hw, i + 1,
                                                                    ARENA_SEQ, ARENA_RELAXED))
            ;
        /* Dekker with arena_recover: our ident is visible before we read the
         * quiesce word, or recover's request is visible to us */
        atomic_thread_fence(ARENA_SEQ);
        *slot = i;
        arena_quiesce_point(a, i);
        if (role != ARENA_ROLE_CLIENT)
            /* fork does not copy the page tables of a shared mapping: without
             * this, a worker takes a ~10 us fault on every 4 KiB page of a
             * 1 GiB arena as it goes (measured: a third of a 5M-job run) */
            madvise(a->base, a->bytes, MADV_POPULATE_WRITE);
        return 0;
    }
    return vl_err_set(err, -EBUSY, "arena %s has no free participant slot (all %u are in use)",
                      a->path, a->nslots);
}

void arena_leave(struct arena *a, uint32_t w)
{
    if (w >= a->nslots)
        return;
    struct arena_slot *s = &a->slots[w];
    /* its queues and ranges stay: every token in them is in the segment,
     * where others take it (take looks at free slots too) */
    arena_sleep_done(a, w);
    atomic_store_explicit(&s->ident, 0, ARENA_REL);
    arena__publish(a);
}

bool arena_quiesce_point(struct arena *a, uint32_t w)
{
    _Atomic uint32_t *q = &a->ctl->qs_word;
    uint32_t e = atomic_load_explicit(q, ARENA_SEQ);
    if (!(e & 1))
        return false;
    atomic_store_explicit(&a->slots[w].qs_ack, e, ARENA_REL);
    while (atomic_load_explicit(q, ARENA_ACQ) == e)
        arena__futex_wait(q, e, NULL);
    return true;
}

uint32_t arena_sleep_prepare(struct arena *a, uint32_t w)
{
    struct arena_slot *s = &a->slots[w];
    if (!atomic_load_explicit(&s->sleeping, ARENA_RELAXED)) {
        atomic_store_explicit(&s->sleeping, 1, ARENA_RELAXED);
        atomic_fetch_add_explicit(&a->ctl->sleepers, 1, ARENA_SEQ);
    }
    uint32_t v = atomic_load_explicit(&a->ctl->work_seq, ARENA_SEQ);
    /* our idle bit after the read: a waker that clears it changes the word
     * after, so our wait on v returns even if we are not in the kernel yet */
    atomic_fetch_or_explicit(&a->sleep[w >> 6], 1ull << (w & 63), ARENA_SEQ);
    return v;
}

int arena_sleep_wait(struct arena *a, uint32_t w, uint32_t seen, int64_t timeout_ns)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) { /* FUTEX_WAIT_BITSET takes a deadline */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + timeout_ns % 1000000000;
        ts.tv_sec += timeout_ns / 1000000000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        tp = &ts;
    }
    if (arena__futex_wait_bits(&a->ctl->work_seq, seen, tp, arena_futex_mask(a, w)) == 0 ||
        errno == EAGAIN)
        return 0;
    return -errno;
}

void arena_sleep_done(struct arena *a, uint32_t w)
{
    struct arena_slot *s = &a->slots[w];
    uint64_t bit = 1ull << (w & 63);
    if (atomic_load_explicit(&a->sleep[w >> 6], ARENA_RELAXED) & bit)
        atomic_fetch_and_explicit(&a->sleep[w >> 6], ~bit, ARENA_SEQ);
    if (atomic_load_explicit(&s->sleeping, ARENA_RELAXED)) {
        atomic_store_explicit(&s->sleeping, 0, ARENA_RELAXED);
        atomic_fetch_sub_explicit(&a->ctl->sleepers, 1, ARENA_SEQ);
    }
}

void arena_wake(struct arena *a)
{
    atomic_fetch_add_explicit(&a->ctl->work_seq, 1, ARENA_SEQ);
    arena__futex_wake(&a->ctl->work_seq);
}

bool arena__wake_idle(struct arena *a)
{
    for (uint64_t i = 0, n = ((uint64_t)arena__slots_hw(a) + 63) / 64; i < n; i++) {
        uint64_t x = atomic_load_explicit(&a->sleep[i], ARENA_RELAXED);
        while (x) {
            uint64_t bit = x & -x;
            if (atomic_fetch_and_explicit(&a->sleep[i], ~bit, ARENA_SEQ) & bit) {
                uint32_t w = (uint32_t)(i * 64 + (uint64_t)__builtin_ctzll(bit));
                atomic_fetch_add_explicit(&a->ctl->work_seq, 1, ARENA_SEQ);
                syscall(SYS_futex, (uint32_t *)&a->ctl->work_seq, FUTEX_WAKE_BITSET, INT_MAX, NULL,
                        NULL, arena_futex_mask(a, w));
                return true;
            }
            x &= ~bit; /* another waker took it */
        }
    }
    return false;
}

static uint32_t slots_used(const struct arena *a)
{
    uint32_t hw = atomic_load_explicit(&a->ctl->slots_hw, ARENA_ACQ);
    return hw > a->nslots ? a->nslots : hw;
}

bool arena_done(const struct arena *a)
{
    /* summed unsigned: a damaged segment's counters must not overflow a
     * signed sum (undefined); live ones are small, so the wrap-free result
     * read back as signed is the count */
    uint64_t fin = 0;
    for (unsigned s = ARENA_COMPLETED; s <= ARENA_CANCELED; s++)
        fin += (uint64_t)atomic_load_explicit(&a->ctl->base[s], ARENA_RELAXED);
    uint32_t hw = slots_used(a);
    for (uint32_t i = 0; i < hw; i++)
        for (unsigned s = ARENA_COMPLETED; s <= ARENA_CANCELED; s++)
            fin += (uint64_t)atomic_load_explicit(&a->slots[i].cnt[s], ARENA_ACQ);
    return (int64_t)fin >= (int64_t)a->njobs;
}

void arena_counts(const struct arena *a, uint64_t counts[ARENA_NSTATES])
{
    uint64_t c[ARENA_NSTATES]; /* unsigned sums, as in arena_done */
    for (unsigned s = 0; s < ARENA_NSTATES; s++)
        c[s] = (uint64_t)atomic_load_explicit(&a->ctl->base[s], ARENA_RELAXED);
    uint32_t hw = slots_used(a);
    for (uint32_t i = 0; i < hw; i++)
        for (unsigned s = 0; s < ARENA_NSTATES; s++)
            c[s] += (uint64_t)atomic_load_explicit(&a->slots[i].cnt[s], ARENA_RELAXED);
    for (unsigned s = 0; s < ARENA_NSTATES; s++)
        counts[s] = (int64_t)c[s] < 0 ? 0 : c[s];
}

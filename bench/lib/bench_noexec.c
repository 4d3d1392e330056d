/*
 * bench_noexec.c - see bench_noexec.h.
 *
 * Process model: the parent generates the shape, builds the arena under
 * /dev/shm and unlinks it at once (the mapping lives on in the parent and
 * is inherited by fork, so a crash or Ctrl-C leaves nothing behind), frees
 * the spec, forks W workers (PR_SET_PDEATHSIG: they die with it), waits
 * until all have joined, then releases them together. The clock runs from
 * that release to the first worker that sees every job finished (on its
 * way out; process exit, which unmaps ~100 B/job of page tables, is not
 * counted). Stamps live in a shared anonymous mapping, prefaulted like the
 * arena, so no page fault lands inside the measurement.
 */
#include "bench_noexec.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/arena.h"

/* Shared between the parent and the workers, on its own page. */
struct run_ctl {
    _Atomic uint32_t joined; /* workers that joined their slot */
    _Atomic uint32_t go;     /* futex word: 1 = start */
    _Atomic uint64_t runs;   /* completions, added by each worker at its end */
    _Atomic uint64_t early;  /* jobs that ran while a parent had no stamp */
    _Atomic uint64_t errors; /* arena_finish failures */
    _Atomic uint64_t t_go;   /* CLOCK_MONOTONIC ns */
    _Atomic uint64_t t_done; /* first worker that saw the end */
    _Atomic uint64_t cpu_ns; /* workers' CPU time from go to their end */
};

int bench_noexec_plan(const struct bench_noexec_opts *o, uint64_t *arena_bytes,
                      uint64_t *heap_bytes, struct vl_err *err)
{
    struct arena_dims d = {.njobs = o->njobs,
                           .nedges = bench_shape_edges(o->shape, o->njobs, &o->shape_opts),
                           .pool_len = (uint64_t)o->njobs * 12 + 8,
                           .nslots = o->workers + 1};
    if (o->shape == BENCH_RANDOM) /* the count is random; allow for 5% more */
        d.nedges += d.nedges / 20;
    struct arena_plan p;
    int rc = arena_plan(&d, &p, err);
    if (rc)
        return rc;
    *arena_bytes = p.bytes;
    *heap_bytes = bench_shape_spec_bytes(o->shape, o->njobs) + (uint64_t)o->njobs * 8;
    return 0;
}

static uint64_t cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The parents of every job (the spec has children only): CSR. */
struct parents {
    uint64_t *off; /* [njobs + 1] */
    uint32_t *ids; /* [nedges] */
};

static int parents_of(const struct spec *s, struct parents *p, struct vl_err *err)
{
    p->off = vl_alloc_array((size_t)s->njobs + 1, sizeof *p->off, true, "the parent lists", err);
    p->ids =
        vl_alloc_array(s->nedges ? s->nedges : 1, sizeof *p->ids, false, "the parent lists", err);
    if (!p->off || !p->ids)
        return err ? err->code : VL_ETOOBIG;
    for (uint32_t j = 0; j < s->njobs; j++)
        p->off[j + 1] = p->off[j] + s->npar[j];
    uint64_t *fill =
        vl_alloc_array(s->njobs ? s->njobs : 1, sizeof *fill, false, "the parent lists", err);
    if (!fill)
        return err ? err->code : VL_ETOOBIG;
    memcpy(fill, p->off, (size_t)s->njobs * sizeof *fill);
    for (uint32_t j = 0; j < s->njobs; j++)
        for (uint64_t e = s->kid_off[j]; e < s->kid_off[j + 1]; e++)
            p->ids[fill[s->kids[e]]++] = j;
    free(fill);
    return 0;
}

/* Per job, with the order check: when it started and when it finished. */
struct times {
    _Atomic uint64_t *start, *fin;
    size_t bytes; /* of each */
};

static void worker(struct arena *a, struct run_ctl *rc, const struct parents *par,
                   _Atomic uint64_t *stamp, size_t stamp_bytes, const struct times *tm)
{
    uint32_t w;
    struct vl_err err = {0};
    if (arena_join(a, ARENA_ROLE_WORKER, &w, &err) != 0) {
        vl_log("bench worker: %s", err.msg);
        _exit(3);
    }
    madvise((void *)stamp, stamp_bytes, MADV_POPULATE_WRITE); /* fork left its page tables */
    if (tm->start) {
        madvise((void *)tm->start, tm->bytes, MADV_POPULATE_WRITE);
        madvise((void *)tm->fin, tm->bytes, MADV_POPULATE_WRITE);
    }
    atomic_fetch_add(&rc->joined, 1);
    while (atomic_load(&rc->go) == 0)
        syscall(SYS_futex, (uint32_t *)&rc->go, FUTEX_WAIT, 0, NULL, NULL, 0);
    uint64_t cpu0 = cpu_now(), runs = 0, early = 0;
    uint32_t j = arena_take(a, w);
    for (;;) {
        if (j == ARENA_NONE) {
            uint32_t v = arena_sleep_prepare(a, w);
            j = arena_take(a, w);
            if (j == ARENA_NONE) {
                if (arena_done(a)) {
                    arena_sleep_done(a, w);
                    break;
                }
                arena_sleep_wait(a, w, v, -1);
            }
            arena_sleep_done(a, w);
            if (j == ARENA_NONE)
                continue;
        }
        if (tm->start) /* the order check: j starts now */
            atomic_store_explicit(&tm->start[j], vl_now_ns(), memory_order_relaxed);
        /* "run" j: its stamp is one more than its parents' (a Lamport
         * clock); a parent without a stamp has not completed: j ran early */
        uint64_t s = 0;
        for (uint64_t e = par->off[j]; e < par->off[j + 1]; e++) {
            uint64_t sp = atomic_load_explicit(&stamp[par->ids[e]], memory_order_acquire);
            early += sp == 0;
            s = sp > s ? sp : s;
        }
        atomic_store_explicit(&stamp[j], s + 1, memory_order_release);
        runs++;
        if (tm->start)
            atomic_store_explicit(&tm->fin[j], vl_now_ns(), memory_order_relaxed);
        if (arena_finish_take(a, w, j, ARENA_COMPLETED, 0, &j) != 0) {
            atomic_fetch_add(&rc->errors, 1);
            j = ARENA_NONE;
        }
    }
    uint64_t zero = 0;
    atomic_compare_exchange_strong(&rc->t_done, &zero, vl_now_ns());
    atomic_fetch_add(&rc->cpu_ns, cpu_now() - cpu0);
    atomic_fetch_add(&rc->runs, runs);
    atomic_fetch_add(&rc->early, early);
    arena_wake(a); /* the others may be asleep: tell them it is over */
    arena_leave(a, w);
    _exit(0);
}

static void *shared_map(size_t bytes, struct vl_err *err)
{
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        vl_err_sys(err, -errno, "cannot map %zu bytes of shared memory", bytes);
        return NULL;
    }
    madvise(m, bytes, MADV_POPULATE_WRITE);
    return m;
}

static int cmp_key(const void *x, const void *y)
{
    const uint64_t *a = x, *b = y; /* (key, job) pairs */
    return a[0] != b[0] ? (a[0] > b[0]) - (a[0] < b[0]) : (a[1] > b[1]) - (a[1] < b[1]);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

int bench_order_measure(const uint64_t *ready, const uint64_t *start, uint32_t n,
                        struct bench_order *o, struct vl_err *err)
{
    memset(o, 0, sizeof *o);
    if (n == 0)
        return 0;
    uint64_t *pairs = vl_alloc_array((size_t)n * 2, 8, false, "the order check", err);
    uint64_t *lo = vl_alloc_array(n, 8, false, "the order check", err);
    uint64_t *d = vl_alloc_array(n, 8, false, "the order check", err);
    int rc = 0;
    if (!pairs || !lo || !d) {
        rc = err ? err->code : VL_ETOOBIG;
        goto out;
    }
    /* ready ranks: a run of equal ready times is one range [lo, hi] */
    for (uint32_t j = 0; j < n; j++) {
        pairs[2 * j] = ready[j];
        pairs[2 * j + 1] = j;
    }
    qsort(pairs, n, 16, cmp_key);
    for (uint32_t r = 0; r < n;) {
        uint32_t e = r;
        while (e + 1 < n && pairs[2 * (e + 1)] == pairs[2 * r])
            e++;
        for (uint32_t k = r; k <= e; k++)
            lo[pairs[2 * k + 1]] = (uint64_t)r << 32 | e; /* both ends, packed */
        r = e + 1;
    }
    /* start ranks, and the distance to the ready range */
    for (uint32_t j = 0; j < n; j++) {
        pairs[2 * j] = start[j];
        pairs[2 * j + 1] = j;
    }
    qsort(pairs, n, 16, cmp_key);
    double sum = 0;
    for (uint32_t s = 0; s < n; s++) {
        uint32_t j = (uint32_t)pairs[2 * s + 1];
        uint64_t a = lo[j] >> 32, b = (uint32_t)lo[j];
        d[s] = s < a ? a - s : s > b ? s - b : 0;
        o->late += s > b;
        sum += (double)d[s];
    }
    qsort(d, n, 8, cmp_u64);
    o->mean = sum / n;
    o->p50 = d[(n - 1) / 2];
    o->p99 = d[(uint64_t)(n - 1) * 99 / 100];
    o->max = d[n - 1];
out:
    free(pairs);
    free(lo);
    free(d);
    return rc;
}

bool bench_noexec_verify(const struct arena *a, const _Atomic uint64_t *stamp, uint64_t runs,
                         uint64_t early, uint64_t errors, char *why, size_t whylen)
{
#define FAIL(...) (snprintf(why, whylen, __VA_ARGS__), false)
    if (early)
        return FAIL("%" PRIu64 " jobs ran before one of their parents completed", early);
    if (errors)
        return FAIL("%" PRIu64 " finishes were refused", errors);
    for (uint32_t j = 0; j < a->njobs; j++) {
        uint64_t s = atomic_load_explicit(&stamp[j], memory_order_relaxed);
        if (s == 0)
            return FAIL("job %" PRIu32 " never completed", j);
        if (arena_job_state(a, j) != ARENA_COMPLETED || arena_job_attempt(a, j) != 1)
            return FAIL("job %" PRIu32 " is %s in attempt %" PRIu32, j,
                        arena_state_name(arena_job_state(a, j)), arena_job_attempt(a, j));
        uint64_t n;
        const uint32_t *kids = arena_job_kids(a, j, &n);
        for (uint64_t e = 0; e < n; e++)
            if (atomic_load_explicit(&stamp[kids[e]], memory_order_relaxed) <= s)
                return FAIL("job %" PRIu32 " completed before its parent %" PRIu32, kids[e], j);
    }
    /* every job has a stamp and there were njobs runs: each ran once */
    if (runs != a->njobs)
        return FAIL("%" PRIu64 " completions for %" PRIu32 " jobs", runs, a->njobs);
    uint64_t counts[ARENA_NSTATES];
    arena_counts(a, counts);
    if (counts[ARENA_COMPLETED] != a->njobs)
        return FAIL("the arena counts %" PRIu64 " completed of %" PRIu32, counts[ARENA_COMPLETED],
                    a->njobs);
    return true;
#undef FAIL
}

int bench_noexec_run(const struct bench_noexec_opts *o, struct bench_noexec_result *r,
                     struct vl_err *err)
{
    memset(r, 0, sizeof *r);
    struct spec s;
    struct arena a = {0};
    struct run_ctl *rc = NULL;
    _Atomic uint64_t *stamp = NULL;
    size_t stamp_bytes = ((size_t)o->njobs * 8 + 4095) & ~(size_t)4095;
    struct times tm = {NULL, NULL, stamp_bytes};
    pid_t *kids = vl_xcalloc(o->workers, sizeof *kids);
    struct parents par = {NULL, NULL};
    int ret;

    uint64_t t = vl_now_ns();
    if ((ret = bench_shape_gen(o->shape, o->njobs, &o->shape_opts, &s, err)) != 0)
        goto out;
    if ((ret = spec_check(&s, err)) != 0) {
        spec_free(&s);
        goto out;
    }
    r->edges = s.nedges;
    if ((ret = parents_of(&s, &par, err)) != 0) {
        spec_free(&s);
        goto out;
    }
    r->gen_s = (double)(vl_now_ns() - t) / 1e9;

    char path[256];
    snprintf(path, sizeof path, "%s/volley-bench-%d-%" PRIx64, o->shm_dir ? o->shm_dir : "/dev/shm",
             (int)getpid(), vl_now_ns());
    struct arena_opts ao = {.nslots = o->workers + 1};
    t = vl_now_ns();
    ret = arena_build(&a, path, &s, &ao, err);
    spec_free(&s);
    if (ret)
        goto out;
    arena_unlink(path); /* the mapping stays; nothing to clean up later */
    r->build_s = (double)(vl_now_ns() - t) / 1e9;
    struct arena_dims d = {
        .njobs = a.njobs, .nedges = a.nedges, .pool_len = a.pool_len, .nslots = a.nslots};
    struct arena_plan p;
    arena_plan(&d, &p, NULL);
    r->arena_bytes = p.bytes;
    r->hot_bytes = p.hot_bytes;

    rc = shared_map(4096, err);
    stamp = shared_map(stamp_bytes, err);
    if (o->order) {
        tm.start = shared_map(stamp_bytes, err);
        tm.fin = shared_map(stamp_bytes, err);
    }
    if (!rc || !stamp || (o->order && (!tm.start || !tm.fin))) {
        ret = err ? err->code : -ENOMEM;
        goto out;
    }
    fflush(NULL);
    for (uint32_t i = 0; i < o->workers; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            ret = vl_err_sys(err, -errno, "cannot start benchmark worker %" PRIu32, i);
            goto out;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1)
                _exit(3);
            worker(&a, rc, &par, stamp, stamp_bytes, &tm);
        }
        kids[i] = pid;
    }
    while (atomic_load(&rc->joined) < o->workers) {
        int st;
        for (uint32_t i = 0; i < o->workers; i++)
            if (kids[i] > 0 && waitpid(kids[i], &st, WNOHANG) == kids[i]) {
                kids[i] = 0;
                ret = vl_err_set(err, -ECHILD, "benchmark worker %" PRIu32 " failed to start", i);
                goto out;
            }
        usleep(100);
    }
    atomic_store(&rc->t_go, vl_now_ns());
    atomic_store(&rc->go, 1);
    syscall(SYS_futex, (uint32_t *)&rc->go, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);

    ret = 0;
    for (uint32_t i = 0; i < o->workers; i++) {
        int st;
        while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR)
            ;
        kids[i] = 0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            if (WIFSIGNALED(st))
                vl_err_set(err, VL_ECORRUPT, "benchmark worker %" PRIu32 " died of signal %d", i,
                           WTERMSIG(st));
            else
                vl_err_set(err, VL_ECORRUPT, "benchmark worker %" PRIu32 " exited with %d", i,
                           WEXITSTATUS(st));
            ret = VL_ECORRUPT;
        }
    }
    if (ret)
        goto out;
    r->wall_s = (double)(rc->t_done - rc->t_go) / 1e9;
    r->completions_per_s = r->wall_s > 0 ? (double)o->njobs / r->wall_s : 0;
    r->cpu_s = (double)rc->cpu_ns / 1e9;
    r->verified =
        bench_noexec_verify(&a, stamp, rc->runs, rc->early, rc->errors, r->why, sizeof r->why);
    if (o->order && r->verified) {
        /* a job became ready when its last parent finished; roots at 0 */
        uint64_t *ready = vl_alloc_array(o->njobs, 8, true, "the order check", err);
        if (!ready) {
            ret = err ? err->code : VL_ETOOBIG;
            goto out;
        }
        for (uint32_t j = 0; j < o->njobs; j++)
            for (uint64_t e = par.off[j]; e < par.off[j + 1]; e++)
                ready[j] = VL_MAX(ready[j], (uint64_t)tm.fin[par.ids[e]]);
        ret = bench_order_measure(ready, (const uint64_t *)tm.start, o->njobs, &r->order, err);
        free(ready);
        r->ordered = ret == 0;
    }
out:
    for (uint32_t i = 0; i < o->workers; i++)
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
        }
    free(kids);
    free(par.off);
    free(par.ids);
    if (stamp)
        munmap((void *)stamp, stamp_bytes);
    if (tm.start)
        munmap((void *)tm.start, stamp_bytes);
    if (tm.fin)
        munmap((void *)tm.fin, stamp_bytes);
    if (rc)
        munmap(rc, 4096);
    arena_close(&a);
    return ret;
}

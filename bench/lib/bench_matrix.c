/*
 * bench_matrix.c - planning and running `volley bench`'s matrix
 * (bench_matrix.h).
 */
#include "bench/lib/bench_matrix.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bench/lib/bench_noexec.h"
#include "bench/lib/bench_process.h"

/* ---- the runners ---- */

struct bench_runner {
    const char *name;
    const char *mode;
    /* memory the case needs: shared (/dev/shm) and private */
    int (*plan)(const struct bench_case *c, uint64_t *shm, uint64_t *heap, struct vl_err *err);
    /* dir: the case's prepared files (process mode) */
    int (*run)(const struct bench_case *c, const char *dir, struct bench_row *row,
               struct vl_err *err);
    enum bproc_runner proc;
};

static struct bench_noexec_opts noexec_opts(const struct bench_case *c)
{
    return (struct bench_noexec_opts){
        .shape = c->shape, .njobs = c->jobs, .workers = c->workers, .shape_opts = c->shape_opts};
}

static int volley_noexec_plan(const struct bench_case *c, uint64_t *shm, uint64_t *heap,
                              struct vl_err *err)
{
    struct bench_noexec_opts o = noexec_opts(c);
    return bench_noexec_plan(&o, shm, heap, err);
}

static int volley_noexec_run(const struct bench_case *c, const char *dir, struct bench_row *row,
                             struct vl_err *err)
{
    (void)dir;
    struct bench_noexec_opts o = noexec_opts(c);
    struct bench_noexec_result r;
    int rc = bench_noexec_run(&o, &r, err);
    if (rc)
        return rc;
    if (c->order && r.verified) { /* a run of its own: the clock reads cost throughput */
        struct bench_noexec_result ro;
        o.order = true;
        if ((rc = bench_noexec_run(&o, &ro, err)) != 0)
            return rc;
        row->ordered = ro.ordered;
        row->order = ro.order;
        if (!ro.verified) {
            r.verified = false;
            snprintf(r.why, sizeof r.why, "the order run: %.200s", ro.why);
        }
    }
    row->wall_s = r.wall_s;
    row->completions_per_s = r.completions_per_s;
    row->bytes_per_job = (double)r.arena_bytes / c->jobs;
    row->verified = r.verified;
    snprintf(row->why, sizeof row->why, "%s", r.why);
    row->gen_s = r.gen_s;
    row->build_s = r.build_s;
    row->cpu_s = r.cpu_s;
    row->arena_bytes = r.arena_bytes;
    row->hot_bytes = r.hot_bytes;
    return 0;
}

/* Process mode needs about what noexec needs (the arena of `volley run`
 * and the spec while writing the files); the rest is the runners' own. */
static int process_plan(const struct bench_case *c, uint64_t *shm, uint64_t *heap,
                        struct vl_err *err)
{
    return volley_noexec_plan(c, shm, heap, err);
}

static const struct bench_runner *find_runner(const char *runner, const char *mode);

static int process_run(const struct bench_case *c, const char *dir, struct bench_row *row,
                       struct vl_err *err)
{
    struct bproc_result r;
    int rc = bproc_run(find_runner(c->runner, c->mode)->proc, dir, c->jobs, c->workers, c->limits,
                       &r, err);
    if (rc)
        return rc;
    row->wall_s = r.wall_s;
    row->completions_per_s = r.wall_s > 0 ? c->jobs / r.wall_s : 0;
    row->verified = r.verified;
    row->span_s = r.span_s;
    row->runner_cpu_us = r.runner_cpu_us;
    row->free_wall_s = r.free_wall_s;
    row->free_cps = r.free_wall_s > 0 ? c->jobs / r.free_wall_s : 0;
    snprintf(row->why, sizeof row->why, "%s", r.why);
    snprintf(row->note, sizeof row->note, "%s", r.note);
    return 0;
}

/* Process mode's runners in the order they run within a cell: the limit
 * first, then volley, then the peers. */
static const struct bench_runner runners[] = {
    {"volley", "noexec", volley_noexec_plan, volley_noexec_run, BPROC_VOLLEY},
    {"limit", "process", process_plan, process_run, BPROC_LIMIT},
    {"volley", "process", process_plan, process_run, BPROC_VOLLEY},
    {"make", "process", process_plan, process_run, BPROC_MAKE},
    {"ninja", "process", process_plan, process_run, BPROC_NINJA},
};

static const struct bench_runner *find_runner(const char *runner, const char *mode)
{
    for (size_t i = 0; i < VL_ARRAY_LEN(runners); i++)
        if (!strcmp(runners[i].name, runner) && !strcmp(runners[i].mode, mode))
            return &runners[i];
    return NULL;
}

/* ---- planning ---- */

/*
 * The presets: what a mode measures when the command line names no
 * shapes, job counts or workers. workers 0: one per CPU. --quick: noexec
 * every shape at 1M on 2, 16, 64 and 256 workers (a big node's worker
 * counts, on this machine's CPUs), the random shape's order too; process
 * flat and barrier at 2k with K 1, 2 and 64 (K workers, K in flight);
 * --full: the issue-size cells, 10M noexec and 20k/100k processes.
 */
struct preset {
    size_t nshapes; /* the first n of enum bench_shape: flat, barrier, ... */
    uint32_t jobs[2];
    size_t njobs;
    uint32_t workers[4];
    size_t nworkers;
};
enum { PRESET_DEFAULT, PRESET_QUICK, PRESET_FULL, NPRESETS };
static const struct preset presets[BENCH_NMODES][NPRESETS] = {
    /* noexec */
    {{1, {1000000}, 1, {0}, 1},
     {BENCH_NSHAPES, {1000000}, 1, {2, 16, 64, 256}, 4},
     {BENCH_NSHAPES, {10000000}, 1, {1, 2}, 2}},
    /* process */
    {{1, {20000}, 1, {0}, 1}, {2, {2000}, 1, {1, 2, 64}, 3}, {2, {20000, 100000}, 2, {1, 2}, 2}},
};
static const char *const mode_names[BENCH_NMODES] = {"noexec", "process"};

static uint32_t default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > (long)BENCH_MAX_WORKERS ? BENCH_MAX_WORKERS : (uint32_t)n;
}

/* runner is in the comma-separated list only (NULL: every runner) */
static bool runner_wanted(const char *only, const char *runner)
{
    if (!only)
        return true;
    size_t n = strlen(runner);
    for (const char *p = only; (p = strstr(p, runner)) != NULL; p += n)
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

/* Mode m's axes: what rq gives, else its preset. */
static void mode_axes(const struct bench_request *rq, int m, enum bench_shape *shapes,
                      size_t *nshapes, uint32_t *jobs, size_t *njobs, uint32_t *workers,
                      size_t *nworkers)
{
    const struct preset *ps = &presets[m][rq->full    ? PRESET_FULL
                                          : rq->quick ? PRESET_QUICK
                                                      : PRESET_DEFAULT];
    *nshapes = rq->nshapes ? rq->nshapes : ps->nshapes;
    for (size_t s = 0; s < *nshapes; s++)
        shapes[s] = rq->nshapes ? rq->shapes[s] : (enum bench_shape)s;
    *njobs = rq->njobs ? rq->njobs : ps->njobs;
    for (size_t j = 0; j < *njobs; j++)
        jobs[j] = rq->njobs ? rq->jobs[j] : ps->jobs[j];
    *nworkers = rq->nworkers ? rq->nworkers : ps->nworkers;
    for (size_t w = 0; w < *nworkers; w++)
        workers[w] = rq->nworkers     ? rq->workers[w]
                     : ps->workers[w] ? ps->workers[w]
                                      : default_workers();
}

void bench_matrix_plan(const struct bench_request *rq, struct bench_plan *p)
{
    memset(p, 0, sizeof *p);
    bool modes[BENCH_NMODES] = {rq->modes[0], rq->modes[1]};
    if (!modes[0] && !modes[1]) {
        modes[0] = true;                  /* the default: noexec */
        modes[1] = rq->quick || rq->full; /* --quick, --full: both */
    }
    size_t cap = BENCH_NMODES * BENCH_NSHAPES * BENCH_MAX_LIST * BENCH_MAX_LIST *
                 (VL_ARRAY_LEN(runners) + BENCH_NLIMITS);
    p->cases = vl_xcalloc(cap, sizeof *p->cases);
    for (int m = 0; m < BENCH_NMODES; m++) {
        if (!modes[m])
            continue;
        enum bench_shape ms[BENCH_NSHAPES];
        uint32_t mj[BENCH_MAX_LIST], mw[BENCH_MAX_LIST];
        size_t nms, nmj, nmw;
        mode_axes(rq, m, ms, &nms, mj, &nmj, mw, &nmw);
        for (size_t r = 0; m && r < VL_ARRAY_LEN(runners); r++) {
            const char *why =
                strcmp(runners[r].mode, "process") ? NULL : bproc_unavailable(runners[r].proc);
            if (why && runner_wanted(rq->only, runners[r].name)) /* only those asked for */
                p->skips[p->nskips++] = (struct bench_skip){runners[r].name, why};
        }
        for (size_t s = 0; s < nms; s++)
            for (size_t jn = 0; jn < nmj; jn++)
                for (size_t w = 0; w < nmw; w++)
                    for (size_t r = 0; r < VL_ARRAY_LEN(runners); r++) {
                        if (strcmp(runners[r].mode, mode_names[m]) != 0 ||
                            !runner_wanted(rq->only, runners[r].name) ||
                            (m && bproc_unavailable(runners[r].proc)))
                            continue;
                        /* the limits axis: volley's process runs, once per value */
                        bool axis = m && runners[r].proc == BPROC_VOLLEY && rq->nlimits;
                        for (size_t l = 0; l < (axis ? rq->nlimits : 1); l++)
                            p->cases[p->ncases++] = (struct bench_case){
                                .runner = runners[r].name,
                                .mode = mode_names[m],
                                .shape = ms[s],
                                .jobs = mj[jn],
                                .workers = mw[w],
                                .order = !m && (rq->order || (rq->quick && ms[s] == BENCH_RANDOM)),
                                .shape_opts = rq->shape_opts,
                                .limits = axis ? rq->limits[l] : NULL};
                    }
    }
}

void bench_matrix_free(struct bench_plan *p)
{
    free(p->cases);
    p->cases = NULL;
    p->ncases = 0;
}

/* Bytes of RAM the kernel says can be had (MemAvailable). */
static uint64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    unsigned long long kb = 0;
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kb * 1024;
}

/* A case that cannot fit is a usage error, found before anything runs. */
static int check_fits(const struct bench_runner *r, const struct bench_case *c, struct vl_err *err)
{
    uint64_t shm = 0, heap = 0;
    struct vl_err e = {0};
    if (r->plan(c, &shm, &heap, &e) != 0)
        return vl_err_set(err, VL_EUSAGE, "--jobs %" PRIu32 ": %s", c->jobs, e.msg);
    char b1[32], b2[32], b3[32];
    struct statvfs vfs;
    uint64_t shm_free = statvfs("/dev/shm", &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
    if (shm > shm_free)
        return vl_err_set(err, VL_EUSAGE,
                          "--jobs %" PRIu32 " needs a %s arena but /dev/shm has %s free", c->jobs,
                          vl_fmt_bytes(shm, b1, sizeof b1), vl_fmt_bytes(shm_free, b2, sizeof b2));
    uint64_t avail = mem_available();
    if (avail && shm + heap > avail)
        return vl_err_set(err, VL_EUSAGE,
                          "--jobs %" PRIu32 " needs %s of memory (arena %s) but %s is available",
                          c->jobs, vl_fmt_bytes(shm + heap, b1, sizeof b1),
                          vl_fmt_bytes(shm, b2, sizeof b2), vl_fmt_bytes(avail, b3, sizeof b3));
    return 0;
}

int bench_matrix_check(const struct bench_plan *p, struct vl_err *err)
{
    for (size_t i = 0; i < p->ncases; i++) {
        const struct bench_case *k = &p->cases[i];
        if (k->jobs < bench_shape_min_jobs(k->shape))
            return vl_err_set(err, VL_EUSAGE,
                              "the %s shape needs at least %" PRIu32 " jobs, not %" PRIu32,
                              bench_shape_name(k->shape), bench_shape_min_jobs(k->shape), k->jobs);
        int rc = check_fits(find_runner(k->runner, k->mode), k, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- running ---- */

bool bench_matrix_needs_dir(const struct bench_plan *p)
{
    for (size_t i = 0; i < p->ncases; i++)
        if (!strcmp(p->cases[i].mode, "process"))
            return true;
    return false;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, uint32_t n)
{
    double s[BENCH_MAX_REPS];
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Process mode's files for case k: dir/<shape>-<jobs>, made once. */
static int prepare(const struct bench_case *k, const char *dir, char *out, size_t len,
                   struct vl_err *err)
{
    snprintf(out, len, "%s/%s-%" PRIu32, dir, bench_shape_name(k->shape), k->jobs);
    char wf[PATH_MAX + 16];
    snprintf(wf, sizeof wf, "%s/wf.yaml", out);
    if (access(wf, F_OK) == 0)
        return 0;
    if (mkdir(out, 0700) != 0 && errno != EEXIST)
        return vl_err_sys(err, -errno, "cannot create %s", out);
    return bproc_prepare(out, k->shape, k->jobs, &k->shape_opts, err);
}

/* Folds repetition one into row: every wall kept, the first failure's
 * reason kept. */
static void fold(struct bench_row *row, const struct bench_row *one)
{
    struct bench_row prev = *row;
    bool was_ok = prev.nreps == 0 || prev.verified;
    *row = *one;
    memcpy(row->walls, prev.walls, sizeof row->walls);
    memcpy(row->spans, prev.spans, sizeof row->spans);
    memcpy(row->cpus, prev.cpus, sizeof row->cpus);
    memcpy(row->free_walls, prev.free_walls, sizeof row->free_walls);
    row->cpus[prev.nreps] = one->runner_cpu_us;
    row->free_walls[prev.nreps] = one->free_wall_s;
    row->walls[prev.nreps] = one->wall_s;
    row->spans[prev.nreps] = one->span_s;
    row->nreps = prev.nreps + 1;
    row->verified = was_ok && one->verified;
    if (!was_ok)
        memcpy(row->why, prev.why, sizeof row->why);
}

/* The median wall of the repetitions. */
static void take_medians(struct bench_row *r)
{
    if (r->nreps <= 1)
        return;
    r->wall_s = median(r->walls, r->nreps);
    r->span_s = median(r->spans, r->nreps);
    r->runner_cpu_us = median(r->cpus, r->nreps);
    r->completions_per_s = r->wall_s > 0 ? r->c.jobs / r->wall_s : 0;
    r->free_wall_s = median(r->free_walls, r->nreps);
    r->free_cps = r->free_wall_s > 0 ? r->c.jobs / r->free_wall_s : 0;
}

int bench_matrix_run(const struct bench_plan *p, uint32_t reps, const char *dir,
                     struct bench_row *rows, void (*on_rep)(void *ctx, const struct bench_row *one),
                     void *ctx, struct vl_err *err)
{
    for (size_t i = 0; i < p->ncases; i++)
        rows[i].c = p->cases[i];
    for (uint32_t rep = 0; rep < reps; rep++)
        for (size_t i = 0; i < p->ncases; i++) {
            const struct bench_case *k = &p->cases[i];
            char cdir[PATH_MAX] = "";
            int rc = !strcmp(k->mode, "process") ? prepare(k, dir, cdir, sizeof cdir, err) : 0;
            struct bench_row one = {.c = *k};
            if (rc == 0)
                rc = find_runner(k->runner, k->mode)->run(k, cdir, &one, err);
            if (rc != 0)
                return rc;
            if (on_rep)
                on_rep(ctx, &one);
            fold(&rows[i], &one);
        }
    for (size_t i = 0; i < p->ncases; i++)
        take_medians(&rows[i]);
    return 0;
}

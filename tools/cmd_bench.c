/*
 * cmd_bench.c - `volley bench`: completions per second, side by side with
 * the limit and the peers, measured in the same invocation.
 *
 * A matrix of cases (mode x shape x jobs x workers x runner), each giving
 * one result row, printed as a table with ratios, as
 *   {"results":[{"runner":"volley","shape":...,"mode":"noexec","jobs":N,
 *     "workers":W,"wall_s":...,"completions_per_s":...,"bytes_per_job":...,
 *     "verified":true}, ...], "skipped":[{"runner":"ninja","why":...}]}
 * with --csv FILE and with --plot FILE.png (gnuplot). Every case is planned
 * (memory checked) before any runs, so a count that cannot fit is a usage
 * error up front.
 *
 * Modes:
 *   noexec   the real scheduler, jobs do nothing (bench/lib/bench_noexec.h):
 *            runner volley only; workers = worker processes
 *   process  real /bin/true jobs (bench/lib/bench_process.h): runners limit (the
 *            spawn probe), volley (`volley run` end to end), make, ninja, on
 *            the same generated shape; workers = K, the jobs in flight
 *            (`-j K`). A runner that is not installed is skipped and named.
 * Each cell runs --reps times (runners interleaved within a repetition, so
 * they see the same machine); the row is the median wall time, verified
 * only if every repetition was.
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/lib/bench_noexec.h"
#include "bench/lib/bench_process.h"
#include "cli.h"
#include "commands.h"
#include "json.h"

#define CMD "bench"
#define DEFAULT_JOBS 1000000u
#define QUICK_JOBS 1000000u
#define PROCESS_JOBS 20000u
#define QUICK_PROCESS_JOBS 2000u
#define MAX_WORKERS 1024u
#define MAX_REPS 99u
#define MAX_LIST 16

struct bench_case {
    const char *runner; /* volley, limit, make, ninja */
    const char *mode;   /* noexec, process */
    enum bench_shape shape;
    uint32_t jobs;
    uint32_t workers;
    uint32_t pad;
    struct bench_shape_opts shape_opts;
};

struct bench_row {
    struct bench_case c;
    double wall_s, completions_per_s, bytes_per_job;
    bool verified;
    char why[256];
    /* human output only */
    double gen_s, build_s, cpu_s;
    uint64_t arena_bytes, hot_bytes;
    /* process mode */
    double span_s;        /* volley: first job start to last job end */
    double runner_cpu_us; /* volley: its own CPU per job (median) */
    char note[128];
    /* the repetitions */
    double walls[MAX_REPS], spans[MAX_REPS], cpus[MAX_REPS];
    uint32_t nreps;
    /* limit: the best placement that leaves the children free to use every
     * CPU (median of the repetitions), as completions/s */
    double free_walls[MAX_REPS], free_wall_s, free_cps;
};

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
    int rc = bproc_run(find_runner(c->runner, c->mode)->proc, dir, c->jobs, c->workers, &r, err);
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
static bool check_fits(const struct bench_runner *r, const struct bench_case *c)
{
    uint64_t shm = 0, heap = 0;
    struct vl_err err = {0};
    if (r->plan(c, &shm, &heap, &err) != 0) {
        cli_usage_error(CMD, "--jobs %" PRIu32 ": %s", c->jobs, err.msg);
        return false;
    }
    char b1[32], b2[32], b3[32];
    struct statvfs vfs;
    uint64_t shm_free = statvfs("/dev/shm", &vfs) == 0 ? (uint64_t)vfs.f_bavail * vfs.f_frsize : 0;
    if (shm > shm_free) {
        cli_usage_error(CMD, "--jobs %" PRIu32 " needs a %s arena but /dev/shm has %s free",
                        c->jobs, vl_fmt_bytes(shm, b1, sizeof b1),
                        vl_fmt_bytes(shm_free, b2, sizeof b2));
        return false;
    }
    uint64_t avail = mem_available();
    if (avail && shm + heap > avail) {
        cli_usage_error(CMD, "--jobs %" PRIu32 " needs %s of memory (arena %s) but %s is available",
                        c->jobs, vl_fmt_bytes(shm + heap, b1, sizeof b1),
                        vl_fmt_bytes(shm, b2, sizeof b2), vl_fmt_bytes(avail, b3, sizeof b3));
        return false;
    }
    return true;
}

static void print_human(const struct bench_row *r)
{
    char b1[32];
    const struct bench_case *c = &r->c;
    printf("%s %s %s: %" PRIu32 " jobs, %" PRIu32 " worker%s: %.2f M completions/s "
           "(%.3f s), %s\n",
           c->runner, bench_shape_name(c->shape), c->mode, c->jobs, c->workers,
           c->workers == 1 ? "" : "s", r->completions_per_s / 1e6, r->wall_s,
           r->verified ? "verified" : "NOT VERIFIED");
    printf("  worker CPU %.1f ns/job; arena %s: %.1f B/job (hot %.1f B/job); generated in "
           "%.2f s, built in %.2f s\n",
           r->cpu_s * 1e9 / c->jobs, vl_fmt_bytes(r->arena_bytes, b1, sizeof b1), r->bytes_per_job,
           (double)r->hot_bytes / c->jobs, r->gen_s, r->build_s);
    if (!r->verified)
        printf("  verification failed: %s\n", r->why);
}

static bool same_cell(const struct bench_case *a, const struct bench_case *b)
{
    return !strcmp(a->mode, b->mode) && a->shape == b->shape && a->jobs == b->jobs &&
           a->workers == b->workers;
}

static const struct bench_row *cell_row(const struct bench_row *rows, size_t n,
                                        const struct bench_case *c, const char *runner)
{
    for (size_t i = 0; i < n; i++)
        if (same_cell(&rows[i].c, c) && !strcmp(rows[i].c.runner, runner) && rows[i].verified &&
            rows[i].completions_per_s > 0)
            return &rows[i];
    return NULL;
}

/* "volley/limit 0.912 (target >= 0.95: SHORT of it)" for one peer of a
 * cell: three decimals, so that a ratio just short of its target does not
 * read as the target itself. */
static void print_ratio(const struct bench_row *rows, size_t n, const struct bench_row *v,
                        const char *peer, double target)
{
    const struct bench_row *p = cell_row(rows, n, &v->c, peer);
    if (!p)
        return;
    double ratio = v->completions_per_s / p->completions_per_s;
    printf("  volley/%s %.3f", peer, ratio);
    if (target > 0)
        printf(" (target >= %.2f: %s)", target, ratio >= target ? "met" : "SHORT of it");
}

static void print_process(const struct bench_row *rows, size_t n, uint32_t reps)
{
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= !strcmp(rows[i].c.mode, "process");
    if (!any)
        return;
    printf("process mode: /bin/true jobs, K in flight; wall from start to exit, median of %" PRIu32
           "\n",
           reps);
    printf("%-8s %9s %4s  %-7s %9s %9s %14s  %s\n", "shape", "jobs", "K", "runner", "wall_s",
           "best_s", "completions/s", "verified");
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
        if (strcmp(r->c.mode, "process") != 0)
            continue;
        double best = r->walls[0];
        for (uint32_t k = 1; k < r->nreps; k++)
            best = r->walls[k] < best ? r->walls[k] : best;
        printf("%-8s %9" PRIu32 " %4" PRIu32 "  %-7s %9.3f %9.3f %14.0f  %s",
               bench_shape_name(r->c.shape), r->c.jobs, r->c.workers, r->c.runner, r->wall_s, best,
               r->completions_per_s, r->verified ? "yes" : "NO");
        if (!r->verified)
            printf(": %s", r->why);
        else if (r->note[0])
            printf(" (best placement: %s; children free to use every CPU: %.0f/s)", r->note,
                   r->free_cps);
        else if (r->span_s > 0)
            printf(" (jobs ran for %.3f s; runner CPU %.1f us/job, target <= 25)", r->span_s,
                   r->runner_cpu_us);
        putchar('\n');
    }
    printf("ratios of completions/s (targets: volley >= 0.95x the limit, >= 1.2x make)\n");
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *v = &rows[i];
        if (strcmp(v->c.mode, "process") != 0 || strcmp(v->c.runner, "volley") != 0)
            continue;
        printf("%-8s %9" PRIu32 " -j %-3" PRIu32 "", bench_shape_name(v->c.shape), v->c.jobs,
               v->c.workers);
        if (!v->verified) {
            printf("  volley NOT VERIFIED: no ratios\n");
            continue;
        }
        print_ratio(rows, n, v, "limit", 0.95);
        const struct bench_row *lim = cell_row(rows, n, &v->c, "limit");
        if (lim && lim->free_cps > 0)
            printf("  volley/limit-free %.3f", v->completions_per_s / lim->free_cps);
        print_ratio(rows, n, v, "make", 1.2);
        print_ratio(rows, n, v, "ninja", 0);
        putchar('\n');
    }
}

struct skip {
    const char *runner, *why;
};

static int print_json(const struct bench_row *rows, size_t n, const struct skip *skips,
                      size_t nskips)
{
    struct json j;
    json_init(&j, stdout, false);
    json_obj_begin(&j);
    json_key(&j, "results");
    json_arr_begin(&j);
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
        bool proc = !strcmp(r->c.mode, "process");
        json_obj_begin(&j);
        json_kv_str(&j, "runner", r->c.runner);
        json_kv_str(&j, "shape", bench_shape_name(r->c.shape));
        json_kv_str(&j, "mode", r->c.mode);
        json_kv_uint(&j, "jobs", r->c.jobs);
        json_kv_uint(&j, "workers", r->c.workers);
        json_kv_double(&j, "wall_s", r->wall_s);
        json_kv_double(&j, "completions_per_s", r->completions_per_s);
        json_kv_double(&j, "bytes_per_job", r->bytes_per_job);
        json_kv_bool(&j, "verified", r->verified);
        if (proc) {
            json_kv_uint(&j, "reps", r->nreps);
            json_key(&j, "walls_s");
            json_arr_begin(&j);
            for (uint32_t k = 0; k < r->nreps; k++)
                json_double(&j, r->walls[k]);
            json_arr_end(&j);
            if (r->span_s > 0)
                json_kv_double(&j, "jobs_span_s", r->span_s);
            if (r->runner_cpu_us > 0)
                json_kv_double(&j, "runner_cpu_us_per_job", r->runner_cpu_us);
            if (r->note[0])
                json_kv_str(&j, "note", r->note);
            if (r->free_cps > 0)
                json_kv_double(&j, "limit_free_completions_per_s", r->free_cps);
            if (!r->verified)
                json_kv_str(&j, "why", r->why);
        }
        json_obj_end(&j);
    }
    json_arr_end(&j);
    if (nskips) {
        json_key(&j, "skipped");
        json_arr_begin(&j);
        for (size_t i = 0; i < nskips; i++) {
            json_obj_begin(&j);
            json_kv_str(&j, "runner", skips[i].runner);
            json_kv_str(&j, "why", skips[i].why);
            json_obj_end(&j);
        }
        json_arr_end(&j);
    }
    json_obj_end(&j);
    return json_finish(&j);
}

static int write_csv(const char *path, const struct bench_row *rows, size_t n)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    fprintf(f, "runner,mode,shape,jobs,workers,wall_s,completions_per_s,verified,reps,"
               "jobs_span_s\n");
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
        fprintf(f, "%s,%s,%s,%" PRIu32 ",%" PRIu32 ",%.6f,%.1f,%s,%" PRIu32 ",%.6f\n", r->c.runner,
                r->c.mode, bench_shape_name(r->c.shape), r->c.jobs, r->c.workers, r->wall_s,
                r->completions_per_s, r->verified ? "true" : "false", r->nreps, r->span_s);
    }
    bool bad = ferror(f) != 0;
    return fclose(f) != 0 || bad ? -EIO : 0;
}

/*
 * The plot: completions/s against job count (each series at its largest
 * K) and against workers (each at its largest job count), one line per
 * runner, mode and shape, log scales. gnuplot reads inline data blocks.
 */
static int write_plot(const char *path, const struct bench_row *rows, size_t n)
{
    char script[PATH_MAX + 32];
    snprintf(script, sizeof script, "%s.gp", path);
    FILE *f = fopen(script, "we");
    if (!f)
        return -errno;
    /* series: the first row of each (runner, mode, shape) */
    size_t first[64], ns = 0;
    for (size_t i = 0; i < n && ns < 64; i++) {
        bool seen = false;
        for (size_t s = 0; s < ns; s++) {
            const struct bench_case *a = &rows[first[s]].c, *b = &rows[i].c;
            seen |=
                !strcmp(a->runner, b->runner) && !strcmp(a->mode, b->mode) && a->shape == b->shape;
        }
        if (!seen)
            first[ns++] = i;
    }
    for (int axis = 0; axis < 2; axis++)
        for (size_t s = 0; s < ns; s++) {
            const struct bench_case *a = &rows[first[s]].c;
            uint32_t maxk = 0, maxn = 0;
            for (size_t i = 0; i < n; i++) {
                const struct bench_case *b = &rows[i].c;
                if (!strcmp(a->runner, b->runner) && !strcmp(a->mode, b->mode) &&
                    a->shape == b->shape) {
                    maxk = b->workers > maxk ? b->workers : maxk;
                    maxn = b->jobs > maxn ? b->jobs : maxn;
                }
            }
            fprintf(f, "$d%d_%zu << EOD\n", axis, s);
            for (size_t i = 0; i < n; i++) {
                const struct bench_case *b = &rows[i].c;
                if (strcmp(a->runner, b->runner) || strcmp(a->mode, b->mode) ||
                    a->shape != b->shape || !rows[i].verified)
                    continue;
                if (axis == 0 && b->workers == maxk)
                    fprintf(f, "%" PRIu32 " %.1f\n", b->jobs, rows[i].completions_per_s);
                if (axis == 1 && b->jobs == maxn)
                    fprintf(f, "%" PRIu32 " %.1f\n", b->workers, rows[i].completions_per_s);
            }
            fputs("EOD\n", f);
        }
    fprintf(f, "set terminal pngcairo size 1400,600 noenhanced\nset output '%s'\n", path);
    fputs("set multiplot layout 1,2 title 'volley bench: completions per second'\n"
          "set logscale y\nset grid\nset key outside bottom center horizontal\n"
          "set ylabel 'completions/s'\n",
          f);
    for (int axis = 0; axis < 2; axis++) {
        fprintf(f, "set xlabel '%s'\n%s\nplot ", axis == 0 ? "jobs" : "workers (K in flight)",
                axis == 0 ? "set logscale x\nset xtics autofreq" : "unset logscale x\nset xtics 1");
        for (size_t s = 0; s < ns; s++) {
            const struct bench_case *a = &rows[first[s]].c;
            fprintf(f, "%s$d%d_%zu with linespoints title '%s %s %s'", s ? ", " : "", axis, s,
                    a->runner, a->mode, bench_shape_name(a->shape));
        }
        fputc('\n', f);
    }
    fputs("unset multiplot\n", f);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad) {
        unlink(script);
        return -EIO;
    }
    char *cmd = vl_xasprintf("gnuplot '%s' 2>&1", script);
    FILE *p = popen(cmd, "r");
    free(cmd);
    char line[512];
    int rc = p ? 0 : -errno;
    while (p && fgets(line, sizeof line, p))
        fprintf(stderr, "volley bench: gnuplot: %s", line);
    if (p && pclose(p) != 0)
        rc = -EIO;
    unlink(script);
    return rc;
}

static uint32_t default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > (long)MAX_WORKERS ? MAX_WORKERS : (uint32_t)n;
}

/* A comma-separated list of whole numbers for opt. */
static bool parse_u32_list(const char *opt, const char *arg, uint32_t min, uint32_t max,
                           uint32_t *out, size_t *n)
{
    char *copy = vl_xstrdup(arg), *save = NULL;
    *n = 0;
    bool ok = true;
    for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_LIST) {
            cli_usage_error(CMD, "%s takes at most %d values", opt, MAX_LIST);
            ok = false;
        } else {
            ok = cli_parse_u32(CMD, opt, t, min, max, &out[(*n)++]);
        }
    }
    if (ok && *n == 0)
        ok = cli_parse_u32(CMD, opt, arg, min, max, &out[(*n)++]);
    free(copy);
    return ok;
}

/* The directory part of path exists (for --csv and --plot). */
static bool dir_exists_for(const char *opt, const char *path)
{
    char *copy = vl_xstrdup(path);
    char *slash = strrchr(copy, '/');
    const char *dir = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
    struct stat st;
    bool ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    if (!ok)
        cli_usage_error(CMD, "%s %s: the directory %s does not exist", opt, path, dir);
    free(copy);
    return ok;
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, uint32_t n)
{
    double s[MAX_REPS];
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"shape", required_argument, NULL, 's'},   {"jobs", required_argument, NULL, 'n'},
        {"workers", required_argument, NULL, 'w'}, {"mode", required_argument, NULL, 'm'},
        {"fanout", required_argument, NULL, 'f'},  {"seed", required_argument, NULL, 'S'},
        {"reps", required_argument, NULL, 'r'},    {"csv", required_argument, NULL, 'c'},
        {"plot", required_argument, NULL, 'p'},    {"json", no_argument, NULL, 'j'},
        {"quick", no_argument, NULL, 'q'},         {"full", no_argument, NULL, 'F'},
        {"runners", required_argument, NULL, 'R'}, {NULL, 0, NULL, 0},
    };
    struct bench_shape_opts shape_opts = {.fanout = 4, .seed = 1};
    enum bench_shape shapes[BENCH_NSHAPES];
    uint32_t jobs[MAX_LIST], workers[MAX_LIST], reps = 1;
    size_t nshapes = 0, njobs = 0, nworkers = 0;
    bool modes[2] = {false, false}; /* noexec, process */
    bool json = false, quick = false, full = false;
    const char *csv = NULL, *plot = NULL, *only = NULL;
    uint64_t seed;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 's': {
            char *copy = vl_xstrdup(optarg), *save = NULL;
            nshapes = 0;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                enum bench_shape s;
                if (bench_shape_parse(t, &s) != 0 || nshapes == BENCH_NSHAPES) {
                    cli_usage_error(CMD, "unknown shape '%s' (shapes: %s)", t, bench_shape_list());
                    free(copy);
                    return VL_EXIT_USAGE;
                }
                shapes[nshapes++] = s;
            }
            free(copy);
            if (!nshapes)
                return cli_usage_error(CMD, "unknown shape '%s' (shapes: %s)", optarg,
                                       bench_shape_list());
            break;
        }
        case 'n':
            if (!parse_u32_list("--jobs", optarg, 1, SPEC_MAX_JOBS, jobs, &njobs))
                return VL_EXIT_USAGE;
            break;
        case 'w':
            if (!parse_u32_list("--workers", optarg, 1, MAX_WORKERS, workers, &nworkers))
                return VL_EXIT_USAGE;
            break;
        case 'm': {
            char *copy = vl_xstrdup(optarg), *save = NULL;
            bool ok = true;
            modes[0] = modes[1] = false;
            for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
                if (!strcmp(t, "noexec"))
                    modes[0] = true;
                else if (!strcmp(t, "process"))
                    modes[1] = true;
                else
                    ok = false;
            }
            free(copy);
            if (!ok || (!modes[0] && !modes[1]))
                return cli_usage_error(CMD, "unknown mode '%s' (modes: noexec, process)", optarg);
            break;
        }
        case 'f':
            if (!cli_parse_u32(CMD, "--fanout", optarg, 1, 1u << 20, &shape_opts.fanout))
                return VL_EXIT_USAGE;
            break;
        case 'S':
            if (!cli_parse_u64(CMD, "--seed", optarg, 0, UINT64_MAX, &seed))
                return VL_EXIT_USAGE;
            shape_opts.seed = seed;
            break;
        case 'r':
            if (!cli_parse_u32(CMD, "--reps", optarg, 1, MAX_REPS, &reps))
                return VL_EXIT_USAGE;
            break;
        case 'c':
            csv = optarg;
            break;
        case 'p':
            plot = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'q':
            quick = true;
            break;
        case 'F':
            full = true;
            break;
        case 'R': {
            char *copy = vl_xstrdup(optarg), *save = NULL, *bad = NULL;
            for (char *t = strtok_r(copy, ",", &save); t && !bad; t = strtok_r(NULL, ",", &save))
                if (strcmp(t, "volley") && strcmp(t, "limit") && strcmp(t, "make") &&
                    strcmp(t, "ninja"))
                    bad = t;
            if (bad) {
                cli_usage_error(CMD, "unknown runner '%s' (runners: volley, limit, make, ninja)",
                                bad);
                free(copy);
                return VL_EXIT_USAGE;
            }
            free(copy);
            only = optarg;
            break;
        }
        case ':':
            return cli_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(CMD, "unknown option '%s'", cli_bad_opt(argv));
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (csv && !dir_exists_for("--csv", csv))
        return VL_EXIT_USAGE;
    if (plot && !dir_exists_for("--plot", plot))
        return VL_EXIT_USAGE;
    if (plot && !bproc_in_path("gnuplot")) {
        fprintf(stderr, "volley bench: --plot needs gnuplot, which is not installed "
                        "(Debian: apt-get install gnuplot-nox)\n");
        return VL_EXIT_ENV;
    }
    if (quick && full)
        return cli_usage_error(CMD, "--quick and --full are two presets: choose one");
    if (!modes[0] && !modes[1]) {
        modes[0] = true;          /* the default: noexec */
        modes[1] = quick || full; /* --quick, --full: both */
    }

    /*
     * The cases. Defaults per mode: noexec flat 1M (--quick: every shape),
     * CPUs workers; process flat 20k (--quick: flat and barrier, 2k, K 1
     * and 2), CPUs in flight.
     */
    size_t cap = 2 * BENCH_NSHAPES * MAX_LIST * MAX_LIST * VL_ARRAY_LEN(runners);
    struct bench_case *cases = vl_xcalloc(cap, sizeof *cases);
    size_t ncases = 0;
    struct skip skips[4];
    size_t nskips = 0;
    for (int m = 0; m < 2; m++) {
        if (!modes[m])
            continue;
        const char *mode = m ? "process" : "noexec";
        enum bench_shape ms[BENCH_NSHAPES];
        size_t nms = nshapes;
        memcpy(ms, shapes, sizeof shapes);
        if (!nshapes) {
            nms = quick || full ? (m ? 2 : BENCH_NSHAPES) : 1;
            for (size_t s = 0; s < nms; s++)
                ms[s] = (enum bench_shape)s; /* flat, barrier, ... */
        }
        uint32_t mj[MAX_LIST], mw[MAX_LIST];
        size_t nmj = njobs, nmw = nworkers;
        memcpy(mj, jobs, sizeof jobs);
        memcpy(mw, workers, sizeof workers);
        if (!njobs) {
            nmj = 1;
            mj[0] = m ? (quick ? QUICK_PROCESS_JOBS : PROCESS_JOBS)
                      : (quick ? QUICK_JOBS : DEFAULT_JOBS);
            if (full) { /* the issue-size cells: 10M noexec; 20k and 100k processes */
                mj[0] = m ? PROCESS_JOBS : 10000000u;
                if (m) {
                    mj[1] = 100000u;
                    nmj = 2;
                }
            }
        }
        if (!nworkers) {
            nmw = 1;
            mw[0] = default_workers();
            if ((m && quick) || full) {
                nmw = 2;
                mw[0] = 1;
                mw[1] = 2;
            }
        }
        for (size_t r = 0; m && r < VL_ARRAY_LEN(runners); r++) {
            const char *why =
                strcmp(runners[r].mode, "process") ? NULL : bproc_unavailable(runners[r].proc);
            if (why && runner_wanted(only, runners[r].name)) /* only those asked for */
                skips[nskips++] = (struct skip){runners[r].name, why};
        }
        for (size_t s = 0; s < nms; s++)
            for (size_t jn = 0; jn < nmj; jn++)
                for (size_t w = 0; w < nmw; w++)
                    for (size_t r = 0; r < VL_ARRAY_LEN(runners); r++) {
                        if (strcmp(runners[r].mode, mode) != 0 ||
                            !runner_wanted(only, runners[r].name) ||
                            (m && bproc_unavailable(runners[r].proc)))
                            continue;
                        cases[ncases++] = (struct bench_case){.runner = runners[r].name,
                                                              .mode = mode,
                                                              .shape = ms[s],
                                                              .jobs = mj[jn],
                                                              .workers = mw[w],
                                                              .shape_opts = shape_opts};
                    }
    }
    if (ncases == 0) { /* measuring nothing is not a result */
        free(cases);
        if (nskips) {
            for (size_t i = 0; i < nskips; i++)
                fprintf(stderr, "volley bench: nothing to measure: %s: %s\n", skips[i].runner,
                        skips[i].why);
            return VL_EXIT_ENV;
        }
        return cli_usage_error(CMD, "nothing to measure: no runner of --runners runs in the modes "
                                    "given (noexec: volley; process: limit, volley, make, ninja)");
    }
    for (size_t i = 0; i < ncases; i++) {
        const struct bench_case k0 = cases[i], *k = &k0;
        if (k->jobs < bench_shape_min_jobs(k->shape)) {
            free(cases);
            return cli_usage_error(
                CMD, "the %s shape needs at least %" PRIu32 " jobs, not %" PRIu32,
                bench_shape_name(k->shape), bench_shape_min_jobs(k->shape), k->jobs);
        }
        if (!check_fits(find_runner(k->runner, k->mode), k)) {
            free(cases);
            return VL_EXIT_USAGE;
        }
    }
    for (size_t i = 0; i < nskips; i++)
        fprintf(stderr, "volley bench: skipping %s: %s\n", skips[i].runner, skips[i].why);

    /* process mode's files: one directory per (shape, jobs), made once */
    char tmp[64] = "";
    bool any_process = false;
    for (size_t i = 0; i < ncases; i++)
        any_process |= !strcmp(cases[i].mode, "process");
    if (any_process) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/volley-bench-XXXXXX",
                 base && strlen(base) < 40 ? base : "/tmp");
        if (!mkdtemp(tmp)) {
            fprintf(stderr, "volley bench: cannot create a directory %s: %s\n", tmp,
                    strerror(errno));
            free(cases);
            return VL_EXIT_ENV;
        }
    }

    struct bench_row *rows = vl_xcalloc(ncases, sizeof *rows);
    int exit_code = VL_EXIT_OK;
    for (size_t i = 0; i < ncases; i++)
        rows[i].c = cases[i];
    for (uint32_t rep = 0; rep < reps && exit_code == VL_EXIT_OK; rep++)
        for (size_t i = 0; i < ncases; i++) {
            struct vl_err err = {0};
            const struct bench_case *k = &cases[i];
            char dir[PATH_MAX] = "";
            if (!strcmp(k->mode, "process")) {
                snprintf(dir, sizeof dir, "%s/%s-%" PRIu32, tmp, bench_shape_name(k->shape),
                         k->jobs);
                char wf[PATH_MAX + 16];
                snprintf(wf, sizeof wf, "%s/wf.yaml", dir);
                if (access(wf, F_OK) != 0 &&
                    ((mkdir(dir, 0700) != 0 && errno != EEXIST &&
                      vl_err_sys(&err, -errno, "cannot create %s", dir)) ||
                     bproc_prepare(dir, k->shape, k->jobs, &k->shape_opts, &err) != 0)) {
                    exit_code = cli_print_err(&err);
                    break;
                }
            }
            struct bench_row one = {.c = *k};
            if (find_runner(k->runner, k->mode)->run(k, dir, &one, &err) != 0) {
                exit_code = cli_print_err(&err);
                break;
            }
            if (!one.verified)
                fprintf(stderr,
                        "volley bench: %s %s %s %" PRIu32 " jobs, %" PRIu32
                        ": verification FAILED: %s\n",
                        k->runner, k->mode, bench_shape_name(k->shape), k->jobs, k->workers,
                        one.why);
            /* fold the repetition into the row: every wall kept, the first
             * failure's reason kept */
            struct bench_row *row = &rows[i];
            struct bench_row prev = *row;
            bool was_ok = prev.nreps == 0 || prev.verified;
            *row = one;
            memcpy(row->walls, prev.walls, sizeof row->walls);
            memcpy(row->spans, prev.spans, sizeof row->spans);
            memcpy(row->cpus, prev.cpus, sizeof row->cpus);
            memcpy(row->free_walls, prev.free_walls, sizeof row->free_walls);
            row->cpus[prev.nreps] = one.runner_cpu_us;
            row->free_walls[prev.nreps] = one.free_wall_s;
            row->walls[prev.nreps] = one.wall_s;
            row->spans[prev.nreps] = one.span_s;
            row->nreps = prev.nreps + 1;
            row->verified = was_ok && one.verified;
            if (!was_ok)
                memcpy(row->why, prev.why, sizeof row->why);
        }
    /* the median wall of the repetitions */
    for (size_t i = 0; i < ncases && exit_code == VL_EXIT_OK; i++) {
        struct bench_row *r = &rows[i];
        if (r->nreps > 1) {
            r->wall_s = median(r->walls, r->nreps);
            r->span_s = median(r->spans, r->nreps);
            r->runner_cpu_us = median(r->cpus, r->nreps);
            r->completions_per_s = r->wall_s > 0 ? r->c.jobs / r->wall_s : 0;
            r->free_wall_s = median(r->free_walls, r->nreps);
            r->free_cps = r->free_wall_s > 0 ? r->c.jobs / r->free_wall_s : 0;
        }
        if (!r->verified)
            exit_code = VL_EXIT_FAIL;
    }
    if (tmp[0])
        bproc_rmtree(tmp);
    if (exit_code == VL_EXIT_OK || exit_code == VL_EXIT_FAIL) {
        int rc = 0;
        if (json) {
            rc = print_json(rows, ncases, skips, nskips);
        } else {
            for (size_t i = 0; i < ncases; i++)
                if (!strcmp(rows[i].c.mode, "noexec"))
                    print_human(&rows[i]);
            print_process(rows, ncases, reps);
            for (size_t i = 0; i < nskips; i++)
                printf("skipped %s: %s\n", skips[i].runner, skips[i].why);
            rc = fflush(stdout) == 0 ? 0 : -EIO;
        }
        if (rc != 0) {
            fprintf(stderr, "volley bench: cannot write the results: %s\n", strerror(EIO));
            exit_code = VL_EXIT_ENV;
        }
        if (csv && (rc = write_csv(csv, rows, ncases)) != 0) {
            fprintf(stderr, "volley bench: cannot write %s: %s\n", csv, strerror(-rc));
            exit_code = VL_EXIT_ENV;
        }
        if (plot && (rc = write_plot(plot, rows, ncases)) != 0) {
            fprintf(stderr, "volley bench: gnuplot could not draw %s\n", plot);
            exit_code = VL_EXIT_ENV;
        }
    }
    free(rows);
    free(cases);
    return exit_code;
}

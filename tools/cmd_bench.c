/*
 * cmd_bench.c - `volley bench`: measure completions per second.
 *
 * Built as a list of cases (runner x shape x mode x jobs x workers), each
 * producing one result row, printed as text or as
 *   {"results":[{"runner":"volley","shape":...,"mode":"noexec","jobs":N,
 *     "workers":W,"wall_s":...,"completions_per_s":...,"bytes_per_job":...,
 *     "verified":true}]}
 * Issue #8 grows this into a matrix: more runners (make, ninja, a spawn
 * probe) go into the runners[] table, more axes into the case list, more
 * formats into print_rows. Every case is planned (memory checked) before
 * any runs, so a count that cannot fit is a usage error up front.
 *
 * Modes: noexec (the real scheduler, jobs do nothing) is built; process
 * (real /bin/true jobs) is issue #5 and says so.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bench/lib/bench_noexec.h"
#include "cli.h"
#include "commands.h"
#include "json.h"

#define CMD "bench"
#define DEFAULT_JOBS 1000000u
#define QUICK_JOBS 1000000u
#define MAX_WORKERS 1024u

struct bench_case {
    const char *runner; /* "volley" */
    const char *mode;   /* "noexec" */
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
};

struct bench_runner {
    const char *name;
    const char *mode;
    /* memory the case needs: shared (/dev/shm) and private */
    int (*plan)(const struct bench_case *c, uint64_t *shm, uint64_t *heap, struct vl_err *err);
    int (*run)(const struct bench_case *c, struct bench_row *row, struct vl_err *err);
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

static int volley_noexec_run(const struct bench_case *c, struct bench_row *row, struct vl_err *err)
{
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

static const struct bench_runner runners[] = {
    {"volley", "noexec", volley_noexec_plan, volley_noexec_run},
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

static int print_rows(const struct bench_row *rows, size_t n, bool json)
{
    if (!json) {
        for (size_t i = 0; i < n; i++)
            print_human(&rows[i]);
        return fflush(stdout) == 0 ? 0 : -EIO;
    }
    struct json j;
    json_init(&j, stdout, false);
    json_obj_begin(&j);
    json_key(&j, "results");
    json_arr_begin(&j);
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
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
        json_obj_end(&j);
    }
    json_arr_end(&j);
    json_obj_end(&j);
    return json_finish(&j);
}

static uint32_t default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > (long)MAX_WORKERS ? MAX_WORKERS : (uint32_t)n;
}

int cmd_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"shape", required_argument, NULL, 's'},
        {"jobs", required_argument, NULL, 'n'},
        {"workers", required_argument, NULL, 'w'},
        {"mode", required_argument, NULL, 'm'},
        {"fanout", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},
        {"quick", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct bench_case base = {.runner = "volley",
                              .mode = "noexec",
                              .shape = BENCH_FLAT,
                              .jobs = DEFAULT_JOBS,
                              .workers = default_workers(),
                              .shape_opts = {.fanout = 4, .seed = 1}};
    bool json = false, quick = false, shape_given = false, jobs_given = false;
    uint64_t seed;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (bench_shape_parse(optarg, &base.shape) != 0)
                return cli_usage_error(CMD, "unknown shape '%s' (shapes: %s)", optarg,
                                       bench_shape_list());
            shape_given = true;
            break;
        case 'n':
            if (!cli_parse_u32(CMD, "--jobs", optarg, 1, SPEC_MAX_JOBS, &base.jobs))
                return VL_EXIT_USAGE;
            jobs_given = true;
            break;
        case 'w':
            if (!cli_parse_u32(CMD, "--workers", optarg, 1, MAX_WORKERS, &base.workers))
                return VL_EXIT_USAGE;
            break;
        case 'm':
            if (!strcmp(optarg, "process")) {
                fprintf(stderr, "volley bench: --mode process is NOT BUILT YET: it runs real jobs "
                                "through core/, which is issue #5.\n");
                return VL_EXIT_ENV;
            }
            if (strcmp(optarg, "noexec") != 0)
                return cli_usage_error(CMD, "unknown mode '%s' (modes: noexec, process)", optarg);
            base.mode = "noexec";
            break;
        case 'f':
            if (!cli_parse_u32(CMD, "--fanout", optarg, 1, 1u << 20, &base.shape_opts.fanout))
                return VL_EXIT_USAGE;
            break;
        case 'S':
            if (!cli_parse_u64(CMD, "--seed", optarg, 0, UINT64_MAX, &seed))
                return VL_EXIT_USAGE;
            base.shape_opts.seed = seed;
            break;
        case 'j':
            json = true;
            break;
        case 'q':
            quick = true;
            break;
        case ':':
            return cli_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);

    /* the cases: one, or --quick's every shape */
    struct bench_case cases[BENCH_NSHAPES];
    size_t ncases = 0;
    if (quick && !shape_given) {
        for (int s = 0; s < BENCH_NSHAPES; s++) {
            cases[ncases] = base;
            cases[ncases].shape = (enum bench_shape)s;
            if (!jobs_given)
                cases[ncases].jobs = QUICK_JOBS;
            ncases++;
        }
    } else {
        cases[ncases++] = base;
    }
    for (size_t i = 0; i < ncases; i++) {
        const struct bench_case *k = &cases[i];
        if (k->jobs < bench_shape_min_jobs(k->shape))
            return cli_usage_error(
                CMD, "the %s shape needs at least %" PRIu32 " jobs, not %" PRIu32,
                bench_shape_name(k->shape), bench_shape_min_jobs(k->shape), k->jobs);
        const struct bench_runner *r = find_runner(k->runner, k->mode);
        if (!r)
            return cli_usage_error(CMD, "no runner %s in mode %s", k->runner, k->mode);
        if (!check_fits(r, k))
            return VL_EXIT_USAGE;
    }

    struct bench_row *rows = vl_xcalloc(ncases, sizeof *rows);
    int exit_code = VL_EXIT_OK;
    for (size_t i = 0; i < ncases; i++) {
        struct vl_err err = {0};
        rows[i].c = cases[i];
        if (find_runner(cases[i].runner, cases[i].mode)->run(&cases[i], &rows[i], &err) != 0) {
            free(rows);
            return cli_print_err(&err);
        }
        if (!rows[i].verified) {
            fprintf(stderr, "volley bench: %s %s: verification FAILED: %s\n", cases[i].runner,
                    bench_shape_name(cases[i].shape), rows[i].why);
            exit_code = VL_EXIT_FAIL;
        }
    }
    if (print_rows(rows, ncases, json) != 0) {
        fprintf(stderr, "volley bench: cannot write the results: %s\n", strerror(EIO));
        exit_code = VL_EXIT_ENV;
    }
    free(rows);
    return exit_code;
}

/*
 * cmd_bench.c - `volley bench`: completions per second, side by side with
 * the limit and the peers, measured in the same invocation
 * (docs/benchmarks.md).
 *
 * The command line of bench/lib/bench_matrix.h (the matrix: cases, the
 * presets, the runs, the medians) and its outputs (bench_print.h). Every
 * case is planned (memory checked) before any runs, so a count that
 * cannot fit is a usage error up front.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/lib/bench_matrix.h"
#include "bench/lib/bench_process.h"
#include "bench_print.h"
#include "cli.h"
#include "commands.h"

#define CMD "bench"

struct bench_args {
    struct bench_request rq;
    uint32_t reps;
    bool json;
    const char *csv, *plot;
};

/* A comma-separated list of whole numbers for opt. */
static bool parse_u32_list(const char *opt, const char *arg, uint32_t min, uint32_t max,
                           uint32_t *out, size_t *n)
{
    char *copy = vl_xstrdup(arg), *save = NULL;
    *n = 0;
    bool ok = true;
    for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
        if (*n == BENCH_MAX_LIST) {
            cli_usage_error(CMD, "%s takes at most %d values", opt, BENCH_MAX_LIST);
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

/* --shape a,b: 0 or the usage error's exit code. */
static int parse_shapes(const char *arg, struct bench_request *rq)
{
    char *copy = vl_xstrdup(arg), *save = NULL;
    rq->nshapes = 0;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        enum bench_shape s;
        if (bench_shape_parse(t, &s) != 0 || rq->nshapes == BENCH_NSHAPES) {
            cli_usage_error(CMD, "unknown shape '%s' (shapes: %s)", t, bench_shape_list());
            free(copy);
            return VL_EXIT_USAGE;
        }
        rq->shapes[rq->nshapes++] = s;
    }
    free(copy);
    if (!rq->nshapes)
        return cli_usage_error(CMD, "unknown shape '%s' (shapes: %s)", arg, bench_shape_list());
    return 0;
}

/* --mode noexec,process */
static int parse_modes(const char *arg, struct bench_request *rq)
{
    char *copy = vl_xstrdup(arg), *save = NULL;
    bool ok = true;
    rq->modes[0] = rq->modes[1] = false;
    for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "noexec"))
            rq->modes[0] = true;
        else if (!strcmp(t, "process"))
            rq->modes[1] = true;
        else
            ok = false;
    }
    free(copy);
    if (!ok || (!rq->modes[0] && !rq->modes[1]))
        return cli_usage_error(CMD, "unknown mode '%s' (modes: noexec, process)", arg);
    return 0;
}

/* --runners volley,limit,make,ninja */
static int parse_runners(const char *arg, struct bench_request *rq)
{
    char *copy = vl_xstrdup(arg), *save = NULL, *bad = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && !bad; t = strtok_r(NULL, ",", &save))
        if (strcmp(t, "volley") && strcmp(t, "limit") && strcmp(t, "make") && strcmp(t, "ninja"))
            bad = t;
    int rc =
        bad ? cli_usage_error(CMD, "unknown runner '%s' (runners: volley, limit, make, ninja)", bad)
            : 0;
    free(copy);
    rq->only = arg;
    return rc;
}

/* --limits none,track,on: the limits axis (bench_matrix.h) */
static int parse_limits(const char *arg, struct bench_request *rq)
{
    static const char *const names[BENCH_NLIMITS] = {"none", "track", "on"};
    char *copy = vl_xstrdup(arg), *save = NULL;
    int rc = 0;
    rq->nlimits = 0;
    for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < BENCH_NLIMITS && strcmp(t, names[k]))
            k++;
        bool again = false;
        for (size_t i = 0; k < BENCH_NLIMITS && i < rq->nlimits; i++)
            again |= rq->limits[i] == names[k];
        if (k == BENCH_NLIMITS || again)
            rc =
                cli_usage_error(CMD, "--limits: '%s' is not one of none, track, on (each once)", t);
        else
            rq->limits[rq->nlimits++] = names[k];
    }
    free(copy);
    if (!rc && !rq->nlimits)
        rc = cli_usage_error(CMD, "--limits: no value (none, track, on)");
    return rc;
}

/* One option: 0 or the exit code of its usage error (printed). */
static int parse_opt(int c, const char *arg, char **argv, struct bench_args *a)
{
    struct bench_request *rq = &a->rq;
    uint64_t seed;
    switch (c) {
    case 's':
        return parse_shapes(arg, rq);
    case 'n':
        return parse_u32_list("--jobs", arg, 1, SPEC_MAX_JOBS, rq->jobs, &rq->njobs)
                   ? 0
                   : VL_EXIT_USAGE;
    case 'w':
        return parse_u32_list("--workers", arg, 1, BENCH_MAX_WORKERS, rq->workers, &rq->nworkers)
                   ? 0
                   : VL_EXIT_USAGE;
    case 'm':
        return parse_modes(arg, rq);
    case 'f':
        return cli_parse_u32(CMD, "--fanout", arg, 1, 1u << 20, &rq->shape_opts.fanout)
                   ? 0
                   : VL_EXIT_USAGE;
    case 'S':
        if (!cli_parse_u64(CMD, "--seed", arg, 0, UINT64_MAX, &seed))
            return VL_EXIT_USAGE;
        rq->shape_opts.seed = seed;
        return 0;
    case 'r':
        return cli_parse_u32(CMD, "--reps", arg, 1, BENCH_MAX_REPS, &a->reps) ? 0 : VL_EXIT_USAGE;
    case 'R':
        return parse_runners(arg, rq);
    case 'L':
        return parse_limits(arg, rq);
    case ':':
        return cli_usage_error(CMD, "%s needs a value", argv[optind - 1]);
    default:
        return cli_usage_error(CMD, "unknown option '%s'", cli_bad_opt(argv));
    }
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

/* The command line: 0, or the exit code of its error (printed). */
static int parse(int argc, char **argv, struct bench_args *a)
{
    static const struct option opts[] = {
        {"shape", required_argument, NULL, 's'},   {"jobs", required_argument, NULL, 'n'},
        {"workers", required_argument, NULL, 'w'}, {"mode", required_argument, NULL, 'm'},
        {"fanout", required_argument, NULL, 'f'},  {"seed", required_argument, NULL, 'S'},
        {"reps", required_argument, NULL, 'r'},    {"csv", required_argument, NULL, 'c'},
        {"plot", required_argument, NULL, 'p'},    {"json", no_argument, NULL, 'j'},
        {"quick", no_argument, NULL, 'q'},         {"full", no_argument, NULL, 'F'},
        {"runners", required_argument, NULL, 'R'}, {"order", no_argument, NULL, 'O'},
        {"limits", required_argument, NULL, 'L'},  {NULL, 0, NULL, 0},
    };
    *a = (struct bench_args){.rq.shape_opts = {.fanout = 4, .seed = 1}, .reps = 1};
    int c, rc = 0;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'c')
            a->csv = optarg;
        else if (c == 'p')
            a->plot = optarg;
        else if (c == 'j')
            a->json = true;
        else if (c == 'q')
            a->rq.quick = true;
        else if (c == 'F')
            a->rq.full = true;
        else if (c == 'O')
            a->rq.order = true;
        else
            rc = parse_opt(c, optarg, argv, a);
    }
    if (rc != 0)
        return rc;
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if ((a->csv && !dir_exists_for("--csv", a->csv)) ||
        (a->plot && !dir_exists_for("--plot", a->plot)))
        return VL_EXIT_USAGE;
    if (a->plot && !bproc_in_path("gnuplot")) {
        fprintf(stderr, "volley bench: --plot needs gnuplot, which is not installed "
                        "(Debian: apt-get install gnuplot-nox)\n");
        return VL_EXIT_ENV;
    }
    if (a->rq.quick && a->rq.full)
        return cli_usage_error(CMD, "--quick and --full are two presets: choose one");
    return 0;
}

/* A repetition that did not verify is named at once, on stderr. */
static void on_rep(void *ctx, const struct bench_row *one)
{
    (void)ctx;
    const struct bench_case *k = &one->c;
    if (!one->verified)
        fprintf(stderr,
                "volley bench: %s %s %s %" PRIu32 " jobs, %" PRIu32 ": verification FAILED: %s\n",
                k->runner, k->mode, bench_shape_name(k->shape), k->jobs, k->workers, one->why);
}

/* The results, in the formats asked for: the exit code. */
static int print_all(const struct bench_args *a, const struct bench_plan *p,
                     const struct bench_row *rows, int exit_code)
{
    int rc = 0;
    if (a->json) {
        rc = bench_print_json(rows, p->ncases, p->skips, p->nskips);
    } else {
        for (size_t i = 0; i < p->ncases; i++)
            if (!strcmp(rows[i].c.mode, "noexec"))
                bench_print_human(&rows[i]);
        bench_print_process(rows, p->ncases, a->reps);
        for (size_t i = 0; i < p->nskips; i++)
            printf("skipped %s: %s\n", p->skips[i].runner, p->skips[i].why);
        rc = fflush(stdout) == 0 ? 0 : -EIO;
    }
    if (rc != 0) {
        fprintf(stderr, "volley bench: cannot write the results: %s\n", strerror(EIO));
        exit_code = VL_EXIT_ENV;
    }
    if (a->csv && (rc = bench_write_csv(a->csv, rows, p->ncases)) != 0) {
        fprintf(stderr, "volley bench: cannot write %s: %s\n", a->csv, strerror(-rc));
        exit_code = VL_EXIT_ENV;
    }
    if (a->plot && (rc = bench_write_plot(a->plot, rows, p->ncases)) != 0) {
        fprintf(stderr, "volley bench: gnuplot could not draw %s\n", a->plot);
        exit_code = VL_EXIT_ENV;
    }
    return exit_code;
}

/* Plans and checks: 0, or the exit code of what is wrong (printed). */
static int plan(const struct bench_args *a, struct bench_plan *p)
{
    bench_matrix_plan(&a->rq, p);
    if (p->ncases == 0) { /* measuring nothing is not a result */
        if (p->nskips) {
            for (size_t i = 0; i < p->nskips; i++)
                fprintf(stderr, "volley bench: nothing to measure: %s: %s\n", p->skips[i].runner,
                        p->skips[i].why);
            return VL_EXIT_ENV;
        }
        return cli_usage_error(CMD, "nothing to measure: no runner of --runners runs in the modes "
                                    "given (noexec: volley; process: limit, volley, make, ninja)");
    }
    struct vl_err err = {0};
    if (bench_matrix_check(p, &err) != 0)
        return cli_usage_error(CMD, "%s", err.msg);
    for (size_t i = 0; i < p->nskips; i++)
        fprintf(stderr, "volley bench: skipping %s: %s\n", p->skips[i].runner, p->skips[i].why);
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    struct bench_args a;
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        return rc;
    struct bench_plan p;
    if ((rc = plan(&a, &p)) != 0) {
        bench_matrix_free(&p);
        return rc;
    }
    /* process mode's files: one directory per (shape, jobs), made once */
    char tmp[64] = "";
    if (bench_matrix_needs_dir(&p)) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/volley-bench-XXXXXX",
                 base && strlen(base) < 40 ? base : "/tmp");
        if (!mkdtemp(tmp)) {
            fprintf(stderr, "volley bench: cannot create a directory %s: %s\n", tmp,
                    strerror(errno));
            bench_matrix_free(&p);
            return VL_EXIT_ENV;
        }
    }
    struct bench_row *rows = vl_xcalloc(p.ncases, sizeof *rows);
    struct vl_err err = {0};
    int exit_code = VL_EXIT_OK;
    if (bench_matrix_run(&p, a.reps, tmp[0] ? tmp : NULL, rows, on_rep, NULL, &err) != 0)
        exit_code = cli_print_err(&err);
    for (size_t i = 0; i < p.ncases && exit_code == VL_EXIT_OK; i++)
        if (!rows[i].verified)
            exit_code = VL_EXIT_FAIL;
    if (tmp[0])
        bproc_rmtree(tmp);
    if (exit_code == VL_EXIT_OK || exit_code == VL_EXIT_FAIL)
        exit_code = print_all(&a, &p, rows, exit_code);
    free(rows);
    bench_matrix_free(&p);
    return exit_code;
}

/*
 * bench_print.c - the outputs of `volley bench` (bench_print.h).
 */
#include "bench_print.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"

void bench_print_human(const struct bench_row *r)
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
    if (r->ordered)
        printf("  order: rank displacement from first-ready-first-run mean %.1f, median %" PRIu64
               ", p99 %" PRIu64 ", max %" PRIu64 " jobs (of %" PRIu32 "; %.4f %%)\n",
               r->order.mean, r->order.p50, r->order.p99, r->order.max, c->jobs,
               100.0 * (double)r->order.max / c->jobs);
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

/* The volley row of c's cell run with limits (the limits axis), verified. */
static const struct bench_row *limits_row(const struct bench_row *rows, size_t n,
                                          const struct bench_case *c, const char *limits)
{
    for (size_t i = 0; i < n; i++)
        if (same_cell(&rows[i].c, c) && !strcmp(rows[i].c.runner, "volley") && rows[i].c.limits &&
            !strcmp(rows[i].c.limits, limits) && rows[i].verified && rows[i].completions_per_s > 0)
            return &rows[i];
    return NULL;
}

/* "volley" or "volley:on" */
static const char *runner_label(const struct bench_case *c, char *buf, size_t len)
{
    if (!c->limits)
        return c->runner;
    snprintf(buf, len, "%s:%s", c->runner, c->limits);
    return buf;
}

/* The limits axis of one cell: on and track against none (targets for on:
 * >= 0.90x the completions/s, runner CPU at most +10 us per job). */
static void print_limits(const struct bench_row *rows, size_t n, const struct bench_row *v)
{
    const struct bench_row *none = limits_row(rows, n, &v->c, "none");
    if (!none || !v->c.limits || !strcmp(v->c.limits, "none"))
        return;
    double ratio = v->completions_per_s / none->completions_per_s;
    double dcpu = v->runner_cpu_us - none->runner_cpu_us;
    bool on = !strcmp(v->c.limits, "on");
    printf("%-8s %9" PRIu32 " -j %-3" PRIu32 "  limits %s/none %.3f", bench_shape_name(v->c.shape),
           v->c.jobs, v->c.workers, v->c.limits, ratio);
    if (on)
        printf(" (target >= 0.90: %s)", ratio >= 0.90 ? "met" : "SHORT of it");
    printf(", runner CPU %+.1f us/job", dcpu);
    if (on)
        printf(" (target <= +10: %s)", dcpu <= 10.0 ? "met" : "OVER it");
    putchar('\n');
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

void bench_print_process(const struct bench_row *rows, size_t n, uint32_t reps)
{
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= !strcmp(rows[i].c.mode, "process");
    if (!any)
        return;
    printf("process mode: /bin/true jobs, K in flight; wall from start to exit, median of %" PRIu32
           "\n",
           reps);
    printf("%-8s %9s %4s  %-12s %9s %9s %14s  %s\n", "shape", "jobs", "K", "runner", "wall_s",
           "best_s", "completions/s", "verified");
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
        if (strcmp(r->c.mode, "process") != 0)
            continue;
        double best = r->walls[0];
        for (uint32_t k = 1; k < r->nreps; k++)
            best = r->walls[k] < best ? r->walls[k] : best;
        char label[32];
        printf("%-8s %9" PRIu32 " %4" PRIu32 "  %-12s %9.3f %9.3f %14.0f  %s",
               bench_shape_name(r->c.shape), r->c.jobs, r->c.workers,
               runner_label(&r->c, label, sizeof label), r->wall_s, best, r->completions_per_s,
               r->verified ? "yes" : "NO");
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
        if (strcmp(v->c.mode, "process") != 0 || strcmp(v->c.runner, "volley") != 0 ||
            (v->c.limits && strcmp(v->c.limits, "on") != 0))
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
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].c.mode, "process") && !strcmp(rows[i].c.runner, "volley") &&
            rows[i].verified)
            print_limits(rows, n, &rows[i]);
}

int bench_print_json(const struct bench_row *rows, size_t n, const struct bench_skip *skips,
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
        if (r->c.limits)
            json_kv_str(&j, "limits", r->c.limits);
        json_kv_str(&j, "shape", bench_shape_name(r->c.shape));
        json_kv_str(&j, "mode", r->c.mode);
        json_kv_uint(&j, "jobs", r->c.jobs);
        json_kv_uint(&j, "workers", r->c.workers);
        json_kv_double(&j, "wall_s", r->wall_s);
        json_kv_double(&j, "completions_per_s", r->completions_per_s);
        json_kv_double(&j, "bytes_per_job", r->bytes_per_job);
        json_kv_bool(&j, "verified", r->verified);
        if (r->ordered) {
            json_key(&j, "order_displacement");
            json_obj_begin(&j);
            json_kv_double(&j, "mean", r->order.mean);
            json_kv_uint(&j, "p50", r->order.p50);
            json_kv_uint(&j, "p99", r->order.p99);
            json_kv_uint(&j, "max", r->order.max);
            json_obj_end(&j);
        }
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

int bench_write_csv(const char *path, const struct bench_row *rows, size_t n)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    fprintf(f, "runner,mode,shape,jobs,workers,wall_s,completions_per_s,verified,reps,"
               "jobs_span_s,limits,runner_cpu_us_per_job\n");
    for (size_t i = 0; i < n; i++) {
        const struct bench_row *r = &rows[i];
        fprintf(f, "%s,%s,%s,%" PRIu32 ",%" PRIu32 ",%.6f,%.1f,%s,%" PRIu32 ",%.6f,%s,%.2f\n",
                r->c.runner, r->c.mode, bench_shape_name(r->c.shape), r->c.jobs, r->c.workers,
                r->wall_s, r->completions_per_s, r->verified ? "true" : "false", r->nreps,
                r->span_s, r->c.limits ? r->c.limits : "", r->runner_cpu_us);
    }
    bool bad = ferror(f) != 0;
    return fclose(f) != 0 || bad ? -EIO : 0;
}

/* The plot (bench_print.h); gnuplot reads inline data blocks. */
int bench_write_plot(const char *path, const struct bench_row *rows, size_t n)
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

/*
 * cmd_report.c - `volley report DIR [-o FILE] [--open]` and `volley report
 * DIR --resources [--json]` (docs/report.md).
 *
 * The page: persist/report.h reads the run (a snapshot if it is live),
 * report_html.c writes one self-contained HTML file, by default
 * DIR/report.html, through a temporary file renamed into place, so a
 * reader never sees half a page. --open hands it to xdg-open.
 *
 * --resources: the resource classes with their verdicts (over, under, ok,
 * or unknown without usage) and the values to put in the workflow, as a
 * table, or with --json exactly
 *   {"classes":[{"name","jobs","memory_bytes","max_rss_bytes_max",
 *     "max_rss_bytes_p95","num_cpus","cpu_efficiency","verdict",
 *     "suggested_memory_bytes"}]}
 * (null where a figure is unknown or nothing was requested).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "persist/report.h"
#include "cli.h"
#include "commands.h"
#include "runpick.h"
#include "json.h"
#include "report_html.h"

extern char **environ;

/* "2g", "512m": a size the workflow file takes (a whole number of MiB). */
static const char *size_word(uint64_t bytes, char *buf, size_t len)
{
    uint64_t mib = bytes / (1024 * 1024);
    if (bytes % (1024 * 1024))
        mib++;
    if (mib && mib % 1024 == 0)
        snprintf(buf, len, "%" PRIu64 "g", mib / 1024);
    else
        snprintf(buf, len, "%" PRIu64 "m", mib);
    return buf;
}

/* "PT1H30M" for a runtime in ms (whole minutes). */
static const char *iso_minutes(uint64_t ms, char *buf, size_t len)
{
    uint64_t m = (ms + 59999) / 60000;
    if (m >= 60 && m % 60)
        snprintf(buf, len, "PT%" PRIu64 "H%" PRIu64 "M", m / 60, m % 60);
    else if (m >= 60)
        snprintf(buf, len, "PT%" PRIu64 "H", m / 60);
    else
        snprintf(buf, len, "PT%" PRIu64 "M", m);
    return buf;
}

static int print_resources(const struct report *r, bool as_json)
{
    if (as_json) {
        struct json j;
        json_init(&j, stdout, true);
        json_obj_begin(&j);
        json_key(&j, "classes");
        json_arr_begin(&j);
        for (uint32_t i = 0; i < r->nclasses; i++)
            report_json_class(&j, &r->classes[i], false);
        json_arr_end(&j);
        json_obj_end(&j);
        return json_finish(&j);
    }
    printf("%-16s %8s %9s %5s %11s %11s %8s %9s  %s\n", "class", "jobs", "memory", "CPUs",
           "peak p95", "peak max", "CPU use", "longest", "verdict");
    for (uint32_t i = 0; i < r->nclasses; i++) {
        const struct report_class *c = &r->classes[i];
        char mem[32] = "-", p95[32] = "-", pmax[32] = "-", eff[16] = "-", lng[32] = "-";
        if (c->memory_bytes)
            vl_fmt_bytes(c->memory_bytes, mem, sizeof mem);
        if (c->with_usage) {
            vl_fmt_bytes(c->max_rss_p95, p95, sizeof p95);
            vl_fmt_bytes(c->max_rss_max, pmax, sizeof pmax);
        }
        if (c->cpu_efficiency >= 0)
            snprintf(eff, sizeof eff, "%.0f%%", c->cpu_efficiency * 100);
        if (c->longest_s >= 0)
            snprintf(lng, sizeof lng, "%.1fs", c->longest_s);
        char cpus[16] = "-";
        if (c->num_cpus)
            snprintf(cpus, sizeof cpus, "%u", c->num_cpus);
        printf("%-16s %8" PRIu64 " %9s %5s %11s %11s %8s %9s  %s\n", c->name, c->jobs, mem, cpus,
               p95, pmax, eff, lng, report_verdict_name(c->verdict));
    }
    bool said = false;
    for (uint32_t i = 0; i < r->nclasses; i++) {
        const struct report_class *c = &r->classes[i];
        char a[32], b[32], c3[32];
        char why[160] = "";
        size_t at = 0;
        if (c->oom_killed)
            at += (size_t)snprintf(why + at, sizeof why - at, "%s%" PRIu64 " OOM-killed",
                                   at ? ", " : "", c->oom_killed);
        if (c->terminated && at < sizeof why)
            at += (size_t)snprintf(why + at, sizeof why - at, "%s%" PRIu64 " past the runtime",
                                   at ? ", " : "", c->terminated);
        if (c->near_memory && at < sizeof why)
            at += (size_t)snprintf(why + at, sizeof why - at,
                                   "%s%" PRIu64 " within 10%% of the memory", at ? ", " : "",
                                   c->near_memory);
        if (c->near_runtime && at < sizeof why)
            snprintf(why + at, sizeof why - at, "%s%" PRIu64 " within 10%% of the runtime",
                     at ? ", " : "", c->near_runtime);
        if (c->verdict == REPORT_OVER) {
            printf("%s%s: over (%s):", said ? "" : "\n", c->name, why);
            if (c->suggested_memory && c->suggested_memory != c->memory_bytes)
                printf(" memory: %s", size_word(c->suggested_memory, a, sizeof a));
            if (c->suggested_runtime_ms)
                printf(" runtime: %s", iso_minutes(c->suggested_runtime_ms, b, sizeof b));
            printf("\n");
            said = true;
        } else if (c->verdict == REPORT_UNDER) {
            printf("%s%s: under (p95 peak %s of %s requested): memory: %s\n", said ? "" : "\n",
                   c->name, vl_fmt_bytes(c->max_rss_p95, a, sizeof a),
                   vl_fmt_bytes(c->memory_bytes, b, sizeof b),
                   size_word(c->suggested_memory, c3, sizeof c3));
            said = true;
        }
    }
    if (!r->have_usage)
        printf("\nno usage recorded in this run: peak memory and CPU are unknown; a verdict comes "
               "only from killed jobs\n");
    return 0;
}

/* DIR/report.html, or path, through path.tmp renamed into place. */
static int write_page(const struct report *r, const char *path, struct vl_err *err)
{
    char tmp[PATH_MAX + 8];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return vl_err_set(err, -ENAMETOOLONG, "cannot write %s: the path is too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return vl_err_sys(err, -errno, "cannot write the report %s", tmp);
    int rc = report_html_write(f, r, err);
    errno = 0;
    bool bad = fflush(f) != 0 || ferror(f);
    int e = errno ? errno : EIO;
    if (fclose(f) != 0 && !bad) {
        bad = true;
        e = errno ? errno : EIO;
    }
    if (rc == 0 && bad)
        rc = vl_err_sys(err, -e, "cannot write the report %s", tmp);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = vl_err_sys(err, -errno, "cannot rename %s to %s", tmp, path);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

static void open_page(const char *path)
{
    char *argv[] = {"xdg-open", (char *)path, NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "xdg-open", NULL, NULL, argv, environ) != 0) {
        fprintf(stderr, "volley: cannot open a browser here (no xdg-open): open %s yourself\n",
                path);
        return;
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "volley: xdg-open could not open %s: open it yourself\n", path);
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                         {"open", no_argument, NULL, 'O'},
                                         {"resources", no_argument, NULL, 'R'},
                                         {"json", no_argument, NULL, 'J'},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    bool open_it = false, resources = false, as_json = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'O':
            open_it = true;
            break;
        case 'R':
            resources = true;
            break;
        case 'J':
            as_json = true;
            break;
        case ':':
            return cli_usage_error("report", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("report", "unknown option '%s'", cli_bad_opt(argv));
        }
    }
    if (optind + 1 < argc)
        return cli_usage_error("report", "unexpected argument '%s'", argv[optind + 1]);
    if (as_json && !resources)
        return cli_usage_error("report", "--json goes with --resources (the page is HTML)");
    if (resources && (out || open_it))
        return cli_usage_error("report", "--resources prints to stdout: no -o or --open");

    char dir[PATH_MAX];
    int prc = runpick_dir("report", optind < argc ? argv[optind] : NULL, dir, sizeof dir);
    if (prc != 0)
        return prc;
    struct vl_err err = {0};
    struct report *r = vl_xcalloc(1, sizeof *r);
    int rc = report_open(r, dir, &err);
    if (rc < 0) {
        report_fini(r);
        free(r);
        return cli_print_err(&err);
    }
    if (resources) {
        rc = cli_stdout_check(&err, print_resources(r, as_json));
        report_fini(r);
        free(r);
        return rc < 0 ? cli_print_err(&err) : VL_EXIT_OK;
    }
    char path[PATH_MAX];
    if (out)
        snprintf(path, sizeof path, "%s", out);
    else if (snprintf(path, sizeof path, "%s/report.html", r->dir) >= (int)sizeof path)
        rc = vl_err_set(&err, -ENAMETOOLONG, "%s: the path is too long", r->dir);
    if (rc == 0)
        rc = write_page(r, path, &err);
    if (rc == 0) {
        struct stat st;
        double kb = stat(path, &st) == 0 ? (double)st.st_size / 1024 : 0;
        fprintf(stderr, "volley: report of %s%s: %s (%.0f KiB)\n", r->dir,
                r->live ? " (a snapshot: the run is live)" : "", path, kb);
    }
    report_fini(r);
    free(r);
    if (rc < 0)
        return cli_print_err(&err);
    if (open_it)
        open_page(path);
    return VL_EXIT_OK;
}

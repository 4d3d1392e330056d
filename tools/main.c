/*
 * main.c - `volley`: dispatch to a command, global --help and --version.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "help.h"
#include "core/supervisor.h" /* SUPERVISOR_WORKER_CMD */

const struct cli_cmd cli_cmds[] = {
    {"validate", "check a workflow file and summarize it", cli_help_validate, cmd_validate},
    {"graph", "print the expanded DAG", cli_help_graph, cmd_graph},
    {"run", "run a workflow", cli_help_run, cmd_run},
    {"resume", "continue a run that stopped, crashed or finished (--reload: edited)",
     cli_help_resume, cmd_resume},
    {"runs", "list the runs in ./volley-runs", cli_help_runs, cmd_runs},
    {"status", "counts by state, rate, elapsed, ETA", cli_help_status, cmd_status},
    {"jobs", "one line per job", cli_help_jobs, cmd_jobs},
    {"logs", "print what a job wrote", cli_help_logs, cmd_logs},
    {"cancel", "stop a run (or jobs), keep it resumable", cli_help_cancel, cmd_cancel},
    {"reset", "put jobs back to ready, for resume to run them again", cli_help_reset, cmd_reset},
    {"events", "job state changes as JSON lines", cli_help_events, cmd_events},
    {"report", "an HTML page of a run; resource verdicts", cli_help_report, cmd_report},
    {"bench", "measure completions per second", cli_help_bench, cmd_bench},
    /* hidden: the worker processes of a run (core/supervisor.c starts them) */
    {SUPERVISOR_WORKER_CMD, "", "usage: volley __worker FD INDEX (started by volley run)\n",
     cmd_worker},
    /* hidden: a run's cgroups, for the tests (tests/run/lib.sh) */
    {"__cgroups", "", "usage: volley __cgroups DIR [--sweep]\n", cmd_cgroups},
    {NULL, NULL, NULL, NULL},
};

const struct cli_cmd *cli_find(const char *name)
{
    for (const struct cli_cmd *c = cli_cmds; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

static void print_usage_line(FILE *f, const struct cli_cmd *c)
{
    /* the usage block is the text up to the first empty line */
    const char *end = strstr(c->usage, "\n\n");
    size_t n = end ? (size_t)(end - c->usage) + 1 : strlen(c->usage);
    fwrite(c->usage, 1, n, f);
}

int cli_stdout_check(struct vl_err *err, int prior)
{
    if (prior < 0)
        return vl_err_sys(err, prior, "cannot write to stdout");
    errno = 0;
    int f = fflush(stdout);
    if (f == 0 && !ferror(stdout))
        return 0;
    return vl_err_sys(err, -(f != 0 && errno ? errno : EIO), "cannot write to stdout");
}

const char *cli_bad_opt(char **argv)
{
    const char *prev = optind > 0 ? argv[optind - 1] : NULL;
    /* a short option inside a cluster: the word is still argv[optind],
     * unless the refused letter was its last (then getopt moved on) */
    if (optopt && (!prev || prev[0] != '-' || prev[1] == '-' || !strchr(prev + 1, optopt)) &&
        argv[optind])
        return argv[optind];
    return prev ? prev : "?";
}

int cli_json_word(const char *cmd, int argc, char **argv, const struct option *opts, bool *as_json,
                  const char **word)
{
    *as_json = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'J')
            *as_json = true;
        else
            return cli_usage_error(cmd, "unknown option '%s'", cli_bad_opt(argv));
    }
    if (optind + 1 < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    *word = optind < argc ? argv[optind] : NULL;
    return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "volley %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    const struct cli_cmd *c = cli_find(cmd);
    if (c)
        print_usage_line(stderr, c);
    return VL_EXIT_USAGE;
}

int cli_help(const char *cmd)
{
    const struct cli_cmd *c = cli_find(cmd);
    if (c)
        fputs(c->usage, stdout);
    return VL_EXIT_OK;
}

int cli_print_err(const struct vl_err *err)
{
    fprintf(stderr, "volley: %s\n", err->msg[0] ? err->msg : vl_strerror(err->code));
    return vl_exit_for(err->code);
}

static void warn_print(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "volley: %s\n", msg);
}

const struct vl_warn cli_warn = {.fn = warn_print};

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return false;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    }
    return false;
}

bool cli_check_u64(const char *opt, const char *val, uint64_t min, uint64_t max, uint64_t *out,
                   struct vl_err *err)
{
    uint64_t v;
    int rc = vl_parse_u64(val, max, &v);
    if (rc == 0 && v >= min) {
        *out = v;
        return true;
    }
    if (rc == -EINVAL)
        vl_err_set(err, -EINVAL, "%s needs a whole number, not '%s'", opt, val);
    else
        vl_err_set(err, -EINVAL, "%s must be between %llu and %llu, not '%s'", opt,
                   (unsigned long long)min, (unsigned long long)max, val);
    return false;
}

bool cli_check_u32(const char *opt, const char *val, uint32_t min, uint32_t max, uint32_t *out,
                   struct vl_err *err)
{
    uint64_t v;
    if (!cli_check_u64(opt, val, min, max, &v, err))
        return false;
    *out = (uint32_t)v;
    return true;
}

bool cli_check_double(const char *opt, const char *val, double min, double max, double *out,
                      struct vl_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (end == val || *end || errno || !isfinite(v)) {
        vl_err_set(err, -EINVAL, "%s needs a number, not '%s'", opt, val);
        return false;
    }
    if (v < min || v > max) {
        vl_err_set(err, -EINVAL, "%s must be between %g and %g, not '%s'", opt, min, max, val);
        return false;
    }
    *out = v;
    return true;
}

/* ok, or err's message printed as a usage error of cmd */
static bool usage_unless(const char *cmd, bool ok, const struct vl_err *err)
{
    if (!ok)
        cli_usage_error(cmd, "%s", err->msg);
    return ok;
}

bool cli_parse_u64(const char *cmd, const char *opt, const char *val, uint64_t min, uint64_t max,
                   uint64_t *out)
{
    struct vl_err err = {0};
    return usage_unless(cmd, cli_check_u64(opt, val, min, max, out, &err), &err);
}

bool cli_parse_u32(const char *cmd, const char *opt, const char *val, uint32_t min, uint32_t max,
                   uint32_t *out)
{
    struct vl_err err = {0};
    return usage_unless(cmd, cli_check_u32(opt, val, min, max, out, &err), &err);
}

bool cli_parse_double(const char *cmd, const char *opt, const char *val, double min, double max,
                      double *out)
{
    struct vl_err err = {0};
    return usage_unless(cmd, cli_check_double(opt, val, min, max, out, &err), &err);
}

int cli_not_built(const char *cmd, int issue)
{
    fprintf(stderr,
            "volley %s: NOT BUILT YET. This command is issue #%d, which has not landed;\n"
            "this build of volley cannot do it.\n",
            cmd, issue);
    return VL_EXIT_ENV;
}

static void usage_all(FILE *f)
{
    fprintf(f, "usage: volley COMMAND [ARGS...]\n\ncommands:\n");
    for (const struct cli_cmd *c = cli_cmds; c->name; c++)
        if (c->name[0] != '_')
            fprintf(f, "  %-9s %s\n", c->name, c->summary);
    fprintf(f, "\n`volley COMMAND --help` tells more (every option, with its default); `man "
               "volley` has it all;\n`volley --version` the version. A command that takes a "
               "run directory takes the latest\nrun in ./volley-runs when given none.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "volley: missing command\n");
        usage_all(stderr);
        return VL_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        if (argc > 2 && cli_find(argv[2]))
            return cli_help(argv[2]);
        usage_all(stdout);
        return VL_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("volley %s\n", VL_VERSION);
        return VL_EXIT_OK;
    }
    const struct cli_cmd *c = cli_find(name);
    if (!c) {
        fprintf(stderr, "volley: unknown command '%s'\n", name);
        usage_all(stderr);
        return VL_EXIT_USAGE;
    }
    if (cli_wants_help(argc - 1, argv + 1))
        return cli_help(name);
    return c->fn(argc - 1, argv + 1);
}

/*
 * cli.h - what every `volley CMD` shares: the command table, usage errors
 * (one line plus usage, exit 2), printing a struct vl_err, and option
 * parsing helpers. Each command lives in tools/cmd_<name>.c and parses its
 * own options with getopt_long (argv[0] is the command name).
 */
#ifndef VOLLEY_TOOLS_CLI_H
#define VOLLEY_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

struct cli_cmd {
    const char *name;    /* "validate" */
    const char *summary; /* one line for `volley --help` */
    const char *usage;   /* "volley validate WF [--json]\n..." full help text */
    int (*fn)(int argc, char **argv);
};

/* The command table (tools/main.c). */
extern const struct cli_cmd cli_cmds[];
const struct cli_cmd *cli_find(const char *name);

/* Prints "volley CMD: <message>" and the command's usage line(s) to stderr;
 * returns VL_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) VL_PRINTF(2, 3);
/* The word getopt_long just refused as an unknown option: "--nope", "-x",
 * and "-ab" (or "-file.yaml") for its unknown 'a', where getopt stays on
 * the word (optind not advanced) and argv[optind - 1] is the word before. */
const char *cli_bad_opt(char **argv);
struct option;
/* The command line of a command that takes --json and at most one word
 * (status, runs): opts is its getopt table, "json" ('J') alone (kept in
 * the command's own file, where tests/cli/options.sh reads it). 0 with
 * *as_json and *word (NULL if none given), or a usage error's exit code,
 * said. */
int cli_json_word(const char *cmd, int argc, char **argv, const struct option *opts, bool *as_json,
                  const char **word);
/* Flushes stdout: 0, or err "cannot write to stdout: <cause>" (the flush's
 * errno, else EIO for an error stdio saw earlier) and its negative code.
 * prior: a write's result already known (json_finish's): if negative, that
 * is the cause. */
int cli_stdout_check(struct vl_err *err, int prior);
/* Prints the command's full help to stdout; returns 0. */
int cli_help(const char *cmd);
/* Prints "volley: <err->msg>" to stderr; returns vl_exit_for(err->code). */
int cli_print_err(const struct vl_err *err);
/* A module's warnings (base/err.h), printed as "volley: <msg>" on stderr. */
extern const struct vl_warn cli_warn;
/* True if argv holds -h/--help before any "--". */
bool cli_wants_help(int argc, char **argv);

/* Option values: parse, or fill err with "-j needs a whole number, not 'x'"
 * (code -EINVAL) and return false; nothing is printed. */
bool cli_check_u64(const char *opt, const char *val, uint64_t min, uint64_t max, uint64_t *out,
                   struct vl_err *err);
bool cli_check_u32(const char *opt, const char *val, uint32_t min, uint32_t max, uint32_t *out,
                   struct vl_err *err);
bool cli_check_double(const char *opt, const char *val, double min, double max, double *out,
                      struct vl_err *err);
/* The same, printing the message as a usage error of cmd (false). */
bool cli_parse_u32(const char *cmd, const char *opt, const char *val, uint32_t min, uint32_t max,
                   uint32_t *out);
bool cli_parse_u64(const char *cmd, const char *opt, const char *val, uint64_t min, uint64_t max,
                   uint64_t *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *val, double min, double max,
                      double *out);

#endif /* VOLLEY_TOOLS_CLI_H */

/*
 * cmdline.h - when a job's command may skip /bin/sh, and the words to exec.
 *
 * A command means exactly what `/bin/sh -c COMMAND` means (SPEC.md section
 * 2). Starting the shell costs a second exec (sh -c true runs at ~200/s on
 * this VM against ~550/s for /bin/true), so the engine execs the program
 * itself when that provably changes nothing:
 *
 *   - every byte is a plain word character: [A-Za-z0-9] and _ - . / , : @ %
 *     + =, separated by spaces or tabs. So no quoting, expansion ($ ` ~ and
 *     globs * ? [), redirection, pipes, lists, comments, subshells,
 *     newlines, and no byte above 0x7e: nothing the shell would transform;
 *   - the first word has no '=' (an assignment) and is not a builtin or
 *     reserved word of dash, bash or POSIX (cmdline_is_builtin), except
 *     `true` and `false` standing alone, whose PATH programs behave exactly
 *     like the builtins without arguments;
 *   - a first word without '/' resolves, through PATH, to a regular
 *     executable file, found in an absolute PATH directory before any
 *     relative one (cmdpath_lookup; cached once per distinct name, like
 *     the shell's own hash, but for the whole run). Not found: the shell
 *     runs it and prints its own "not found" message.
 *
 * If execve of the resolved program still fails (deleted since, ENOEXEC,
 * EACCES), the child execs /bin/sh -c COMMAND instead, which fails or
 * succeeds exactly as it would have (spawn.h, sh_argv).
 *
 * What still differs: dash rebuilds the environment it passes on, in its
 * own hash order. The engine gives direct commands the same set (it drops
 * names that are not shell identifiers and sets PWD as dash does), but not
 * the same order; a program that prints its environment unsorted sees
 * another order. docs/execution.md lists this.
 */
#ifndef VOLLEY_CORE_CMDLINE_H
#define VOLLEY_CORE_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * If cmd may run without the shell, splits it: buf (at least strlen(cmd) + 1
 * bytes) receives the words, NUL-terminated, and argv[0..n) points at them,
 * argv[n] = NULL. Returns n >= 1; 0 when the shell is needed (shell syntax,
 * a builtin, an assignment, an empty command); -E2BIG when it has more than
 * maxargs words (the caller grows argv and retries). Does not look at PATH.
 */
int cmdline_split(const char *cmd, char *buf, char **argv, size_t maxargs);

/* True for the builtins and reserved words of dash, bash and POSIX sh. */
bool cmdline_is_builtin(const char *word);

/* PATH lookups, cached per name for the life of the cache. */
struct cmdpath;

/* path_env: the PATH value jobs see (NULL: PATH unset, so nothing resolves
 * and every command goes through the shell). Never fails (aborts on OOM). */
struct cmdpath *cmdpath_new(const char *path_env);
/* The program name (no '/') resolves to, or NULL: not found, or found only
 * after a relative PATH entry. The string lives as long as the cache. */
const char *cmdpath_lookup(struct cmdpath *c, const char *name);
/* Distinct names looked up so far (for stats). */
size_t cmdpath_size(const struct cmdpath *c);
void cmdpath_free(struct cmdpath *c);

#endif /* VOLLEY_CORE_CMDLINE_H */

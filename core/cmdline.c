/*
 * cmdline.c - see cmdline.h. The split is one pass over the command; the
 * PATH cache is an open-addressing table keyed by program name (a workflow
 * has a handful of distinct programs, so a lookup is one hash and one
 * compare after the first).
 */
#include "cmdline.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

/* Bytes that can appear in a word the shell leaves untouched. */
static bool plain_byte(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '_':
    case '-':
    case '.':
    case '/':
    case ',':
    case ':':
    case '@':
    case '%':
    case '+':
    case '=':
        return true;
    default:
        return false;
    }
}

/* dash (Debian's /bin/sh), bash and POSIX: builtins and reserved words. A
 * word here always goes through the shell. */
static const char *const shell_words[] = {
    /* reserved words */
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if",
    "in", "select", "then", "time", "until", "while", "[[", "]]", "coproc",
    /* POSIX special builtins */
    ".", ":", "break", "continue", "eval", "exec", "exit", "export", "readonly", "return", "set",
    "shift", "times", "trap", "unset",
    /* POSIX regular builtins */
    "alias", "bg", "cd", "command", "false", "fc", "fg", "getopts", "hash", "jobs", "kill",
    "newgrp", "pwd", "read", "true", "type", "ulimit", "umask", "unalias", "wait",
    /* dash */
    "echo", "printf", "test", "[", "local", "chdir",
    /* bash */
    "bind", "builtin", "caller", "compgen", "complete", "compopt", "declare", "dirs", "disown",
    "enable", "help", "history", "let", "logout", "mapfile", "popd", "pushd", "readarray", "shopt",
    "source", "suspend", "typeset"};

bool cmdline_is_builtin(const char *word)
{
    for (size_t i = 0; i < VL_ARRAY_LEN(shell_words); i++)
        if (strcmp(word, shell_words[i]) == 0)
            return true;
    return false;
}

int cmdline_split(const char *cmd, char *buf, char **argv, size_t maxargs)
{
    size_t n = 0;
    char *out = buf;
    const unsigned char *p = (const unsigned char *)cmd;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == maxargs)
            return -E2BIG;
        argv[n++] = out;
        while (*p && *p != ' ' && *p != '\t') {
            if (!plain_byte(*p))
                return 0;
            *out++ = (char)*p++;
        }
        *out++ = '\0';
    }
    if (n == 0)
        return 0; /* empty: sh -c '' is a no-op with its own rules */
    argv[n] = NULL;
    if (strchr(argv[0], '='))
        return 0; /* NAME=value: an assignment */
    if (cmdline_is_builtin(argv[0])) {
        /* true and false alone: the PATH programs do exactly what the
         * builtins do (exit 0 / 1, no output); with arguments they differ
         * (coreutils' true --help prints), so those stay with the shell. */
        if (n == 1 && (strcmp(argv[0], "true") == 0 || strcmp(argv[0], "false") == 0))
            return 1;
        return 0;
    }
    return (int)n;
}

/* ---- PATH cache ---- */

struct cmdpath_ent {
    char *name; /* NULL: empty slot */
    char *path; /* resolved absolute path, or NULL: use the shell */
};

struct cmdpath {
    char *path_env; /* copy of PATH, or NULL when unset */
    struct cmdpath_ent *ents;
    size_t cap; /* power of two */
    size_t n;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

struct cmdpath *cmdpath_new(const char *path_env)
{
    struct cmdpath *c = vl_xcalloc(1, sizeof *c);
    c->path_env = path_env ? vl_xstrdup(path_env) : NULL;
    c->cap = 16;
    c->ents = vl_xcalloc(c->cap, sizeof *c->ents);
    return c;
}

void cmdpath_free(struct cmdpath *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++) {
        free(c->ents[i].name);
        free(c->ents[i].path);
    }
    free(c->ents);
    free(c->path_env);
    free(c);
}

size_t cmdpath_size(const struct cmdpath *c)
{
    return c->n;
}

/* The shell's search: PATH entries in order, an empty entry meaning ".".
 * The first regular file with an execute bit that we may execute wins. A
 * relative entry before it makes the answer depend on the cwd: not cached
 * as resolved, the shell decides. */
static char *resolve(const char *path_env, const char *name)
{
    if (!path_env)
        return NULL;
    size_t nlen = strlen(name);
    const char *p = path_env;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
        if (dlen == 0 || p[0] != '/' || memchr(p, '%', dlen))
            return NULL; /* relative entry ("" = cwd), or dash's "dir%builtin" */
        char *cand = vl_xmalloc(dlen + nlen + 2);
        memcpy(cand, p, dlen);
        cand[dlen] = '/';
        memcpy(cand + dlen + 1, name, nlen + 1);
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
            return cand;
        free(cand);
        if (!colon)
            return NULL;
        p = colon + 1;
    }
}

static void grow(struct cmdpath *c)
{
    size_t ncap = c->cap * 2;
    struct cmdpath_ent *ne = vl_xcalloc(ncap, sizeof *ne);
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->ents[i].name)
            continue;
        size_t j = hash_str(c->ents[i].name) & (ncap - 1);
        while (ne[j].name)
            j = (j + 1) & (ncap - 1);
        ne[j] = c->ents[i];
    }
    free(c->ents);
    c->ents = ne;
    c->cap = ncap;
}

const char *cmdpath_lookup(struct cmdpath *c, const char *name)
{
    size_t i = hash_str(name) & (c->cap - 1);
    while (c->ents[i].name) {
        if (strcmp(c->ents[i].name, name) == 0)
            return c->ents[i].path;
        i = (i + 1) & (c->cap - 1);
    }
    if ((c->n + 1) * 2 > c->cap) {
        grow(c);
        i = hash_str(name) & (c->cap - 1);
        while (c->ents[i].name)
            i = (i + 1) & (c->cap - 1);
    }
    c->ents[i].name = vl_xstrdup(name);
    c->ents[i].path = resolve(c->path_env, name);
    c->n++;
    return c->ents[i].path;
}

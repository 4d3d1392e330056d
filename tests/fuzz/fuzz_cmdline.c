/*
 * fuzz_cmdline.c - libFuzzer target for the job-command splitter and the
 * PATH cache (core/cmdline.c), which decide whether a command from the
 * workflow file runs without /bin/sh. Input: one byte giving the argv room
 * (1 + b % 8 words), then the command up to the first NUL byte, then (if
 * there was a NUL) the PATH value.
 *
 * The split is checked against the rule in cmdline.h, computed here on its
 * own: a command runs directly only if every byte is a plain word byte or
 * a blank, there is a word, the first word has no '=' and is no builtin or
 * reserved word (but `true` or `false` alone); then the words are exactly
 * the blank-separated fields of the command. -E2BIG only when there are
 * more words than room, and with room enough the same command splits. A
 * PATH lookup of the first word gives NULL or an absolute path to an
 * executable regular file named like it; the same lookup twice gives the
 * same answer. Seeds: tests/fuzz/corpus/fuzz_cmdline/.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROOM 8

static bool plain(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("_-./,:@%+=", c) != NULL);
}

static bool blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* The blank-separated fields of cmd: their count, and the start and length
 * of each (starts[], lens[] hold nmax entries). */
static size_t fields(const char *cmd, size_t *starts, size_t *lens, size_t nmax)
{
    size_t n = 0, i = 0;
    while (cmd[i]) {
        while (blank((unsigned char)cmd[i]))
            i++;
        if (!cmd[i])
            break;
        size_t s = i;
        while (cmd[i] && !blank((unsigned char)cmd[i]))
            i++;
        if (n < nmax) {
            starts[n] = s;
            lens[n] = i - s;
        }
        n++;
    }
    return n;
}

static void check_split(const char *cmd, size_t room)
{
    size_t len = strlen(cmd);
    char *buf = malloc(len + 1);
    /* as many words as there can be, plus the NULL */
    size_t cap = len / 2 + 2;
    char **argv = malloc((cap + 1) * sizeof *argv);
    size_t *starts = malloc(cap * sizeof *starts);
    size_t *lens = malloc(cap * sizeof *lens);
    if (!buf || !argv || !starts || !lens)
        abort();

    size_t nf = fields(cmd, starts, lens, cap);
    bool all_plain = true;
    for (size_t i = 0; i < len; i++)
        if (!plain((unsigned char)cmd[i]) && !blank((unsigned char)cmd[i]))
            all_plain = false;
    bool direct = all_plain && nf > 0;
    if (direct) {
        char first[64];
        size_t fl = lens[0] < sizeof first - 1 ? lens[0] : sizeof first - 1;
        memcpy(first, cmd + starts[0], fl);
        first[fl] = '\0';
        if (memchr(cmd + starts[0], '=', lens[0]))
            direct = false;
        else if (lens[0] < sizeof first - 1 && cmdline_is_builtin(first))
            direct = nf == 1 && (!strcmp(first, "true") || !strcmp(first, "false"));
    }

    int n = cmdline_split(cmd, buf, argv, room);
    if (n == -E2BIG) {
        /* only with more words than room; with room for all, split again */
        if (nf <= room)
            abort();
        n = cmdline_split(cmd, buf, argv, cap);
    }
    if (n < 0)
        abort();
    if ((n > 0) != direct)
        abort();
    if (direct) {
        if ((size_t)n != nf || argv[n] != NULL)
            abort();
        for (size_t i = 0; i < nf; i++)
            if (strlen(argv[i]) != lens[i] || memcmp(argv[i], cmd + starts[i], lens[i]) != 0)
                abort();
    }
    free(buf);
    free(argv);
    free(starts);
    free(lens);
}

static void check_lookup(const char *cmd, const char *path_env)
{
    /* the first field, if it has no '/' (a name PATH is searched for) */
    size_t s = 0;
    while (blank((unsigned char)cmd[s]))
        s++;
    size_t e = s;
    while (cmd[e] && !blank((unsigned char)cmd[e]))
        e++;
    if (e == s || memchr(cmd + s, '/', e - s))
        return;
    char *name = strndup(cmd + s, e - s);
    if (!name)
        abort();
    struct cmdpath *c = cmdpath_new(path_env);
    const char *p = cmdpath_lookup(c, name);
    if (p) {
        size_t pl = strlen(p), nl = strlen(name);
        struct stat st;
        if (p[0] != '/' || pl <= nl || p[pl - nl - 1] != '/' || strcmp(p + pl - nl, name) != 0)
            abort();
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) || access(p, X_OK) != 0)
            abort();
    }
    const char *again = cmdpath_lookup(c, name);
    if ((p == NULL) != (again == NULL) || (p && strcmp(p, again) != 0))
        abort();
    if (cmdpath_size(c) != 1)
        abort();
    cmdpath_free(c);
    free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t room = 1 + data[0] % MAX_ROOM;
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    const uint8_t *nul = memchr(rest, 0, n);
    size_t cmd_len = nul ? (size_t)(nul - rest) : n;
    char *cmd = strndup((const char *)rest, cmd_len);
    char *path_env = nul ? strndup((const char *)nul + 1, n - cmd_len - 1) : NULL;
    if (!cmd || (nul && !path_env))
        abort();
    check_split(cmd, room);
    check_lookup(cmd, path_env);
    free(cmd);
    free(path_env);
    return 0;
}

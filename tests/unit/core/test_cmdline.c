/*
 * test_cmdline.c - direct exec must mean exactly what /bin/sh -c means.
 * The split and the PATH cache are checked on their own; then a corpus of
 * commands (quotes, globs, redirections, variables, builtins, reserved
 * words, exit codes, missing programs, paths with slashes, scripts without
 * a #! line or an execute bit, odd spacing, ...) runs through the engine
 * twice, once always through /bin/sh and once with direct exec allowed,
 * and stdout, stderr and the exit status must match. Commands that print
 * the environment are compared sorted: dash reorders it (cmdline.h).
 */
#include <sys/stat.h>

#include "core/cmdline.h"
#include "exec_testlib.h"

static void test_split(void)
{
    char buf[256];
    char *argv[8];
    CHECK_EQ(cmdline_split("ls -l /tmp", buf, argv, 7), 3);
    CHECK_STR(argv[0], "ls");
    CHECK_STR(argv[2], "/tmp");
    CHECK(argv[3] == NULL);
    CHECK_EQ(cmdline_split(" \t ls\t\t-1   ", buf, argv, 7), 2);
    CHECK_STR(argv[1], "-1");
    CHECK_EQ(cmdline_split("true", buf, argv, 7), 1);
    CHECK_EQ(cmdline_split("false", buf, argv, 7), 1);
    CHECK_EQ(cmdline_split("true x", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("echo hi", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("[ -e x ]", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("if", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("A=1 env", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("env A=1", buf, argv, 7), 2);
    CHECK_EQ(cmdline_split("ls *.c", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("ls 'a'", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("ls $HOME", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("ls ~", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("ls > x", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("ls\nls", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("ls #x", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("ls \xc3\xa9", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("   ", buf, argv, 7), 0);
    CHECK_EQ(cmdline_split("date -d @0 +%s a,b:c", buf, argv, 7), 5);
    CHECK_EQ(cmdline_split("a b c d e f g h", buf, argv, 7), -E2BIG);
    CHECK(cmdline_is_builtin("cd") && cmdline_is_builtin("[[") && !cmdline_is_builtin("ls"));
}

static void test_cmdpath(const char *dir)
{
    char p[512], path_env[1200];
    snprintf(p, sizeof p, "%s/bin1", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/bin2", dir);
    mkdir(p, 0755);
    /* bin1/prog is not executable, bin2/prog is; bin1/data is a directory */
    snprintf(p, sizeof p, "%s/bin1/prog", dir);
    FILE *f = fopen(p, "w");
    fputs("#!/bin/sh\n", f);
    fclose(f);
    chmod(p, 0644);
    snprintf(p, sizeof p, "%s/bin2/prog", dir);
    f = fopen(p, "w");
    fputs("#!/bin/sh\n", f);
    fclose(f);
    chmod(p, 0755);
    snprintf(p, sizeof p, "%s/bin1/data", dir);
    mkdir(p, 0755);
    snprintf(path_env, sizeof path_env, "%s/bin1:%s/bin2", dir, dir);
    struct cmdpath *c = cmdpath_new(path_env);
    snprintf(p, sizeof p, "%s/bin2/prog", dir);
    CHECK_STR(cmdpath_lookup(c, "prog"), p);
    CHECK_STR(cmdpath_lookup(c, "prog"), p); /* cached */
    CHECK(cmdpath_lookup(c, "data") == NULL);
    CHECK(cmdpath_lookup(c, "volley-none") == NULL);
    CHECK_EQ(cmdpath_size(c), 3);
    for (int i = 0; i < 100; i++) { /* the table grows */
        char name[32];
        snprintf(name, sizeof name, "n%d", i);
        CHECK(cmdpath_lookup(c, name) == NULL);
    }
    CHECK_STR(cmdpath_lookup(c, "prog"), p);
    cmdpath_free(c);
    /* a relative entry before the match: the shell decides */
    snprintf(path_env, sizeof path_env, "bin:%s/bin2", dir);
    c = cmdpath_new(path_env);
    CHECK(cmdpath_lookup(c, "prog") == NULL);
    cmdpath_free(c);
    snprintf(path_env, sizeof path_env, ":%s/bin2", dir);
    c = cmdpath_new(path_env);
    CHECK(cmdpath_lookup(c, "prog") == NULL);
    cmdpath_free(c);
    c = cmdpath_new(NULL);
    CHECK(cmdpath_lookup(c, "ls") == NULL);
    cmdpath_free(c);
}

struct corpus_ent {
    const char *cmd;
    int direct; /* 1: must run without the shell; 0: must not; -1: either */
    bool sorted;
};

static const struct corpus_ent corpus[] = {
    {"true", 1, false},
    {"false", 1, false},
    {"true x", 0, false},
    {"false --help", 0, false},
    {"true --version", 0, false},
    {"ls", 1, false},
    {"ls -1 .", 1, false},
    {"  ls   -1  ", 1, false},
    {"\tls\t-a", 1, false},
    {"ls *.txt", 0, false},
    {"ls 'a b'", 0, false},
    {"ls \"a b\"", 0, false},
    {"ls a\\ b", 0, false},
    {"ls nosuchfile", 1, false},
    {"ls -d */", 0, false},
    {"ls ~", 0, false},
    {"echo hi", 0, false},
    {"/bin/echo hi", 1, false},
    {"printf %s x", 0, false},
    {"/usr/bin/printf %s,%s a b", 1, false},
    {"cat a.txt", 1, false},
    {"cat < a.txt", 0, false},
    {"cat a.txt > out1; cat out1", 0, false},
    {"cat a.txt 2>&1 1>/dev/null", 0, false},
    {"cat nosuch 2>&1", 0, false},
    {"cat nosuch", 1, false},
    {"echo $HOME", 0, false},
    {"echo ${VOLLEY_JOB_NAME}", 0, false},
    {"echo `echo sub`", 0, false},
    {"echo $(echo sub)", 0, false},
    {"X=1 env", 0, true},
    {"env", 1, true},
    {"printenv PWD", 1, false},
    {"printenv VOLLEY_JOB_NAME", 1, false},
    {"printenv SHLVL", 1, false},
    {"exit 3", 0, false},
    {"exit", 0, false},
    {"sh -c 'exit 4'", 0, false},
    {"sh -c exit\\ 5", 0, false},
    {"if true; then echo y; fi", 0, false},
    {"for i in 1 2; do echo $i; done", 0, false},
    {"while false; do :; done", 0, false},
    {"case x in x) echo c;; esac", 0, false},
    {"{ echo g; }", 0, false},
    {"! false", 0, false},
    {"nosuch_cmd_q", 0, false},
    {"nosuch_cmd_q arg", 0, false},
    {"./nosuch", 1, false},
    {"/nonexistent/x", 1, false},
    {"/tmp", 1, false},
    {".", 0, false},
    {"..", 0, false},
    {"./script_noshebang", 1, false},
    {"./script_noshebang arg", 1, false},
    {"./script_noexec", 1, false},
    {"./script.sh one", 1, false},
    {"cd /tmp", 0, false},
    {"pwd", 0, false},
    {"/bin/pwd", 1, false},
    {"head -c 100 /dev/zero", 1, false},
    {"seq 1 5", 1, false},
    {"sleep 0", 1, false},
    {"date -u -d @0 +%s", 1, false},
    {"basename /a/b.c .c", 1, false},
    {"expr 1 + 2", 1, false},
    {"expr 1 / 0", 1, false},
    {"test -e a.txt", 0, false},
    {"[ -e a.txt ]", 0, false},
    {"wc -c a.txt", 1, false},
    {"echo a#b", 0, false},
    {"echo #c", 0, false},
    {"ls a.txt#", 0, false},
    {"tr a-z A-Z < a.txt", 0, false},
    {"echo a;nosuch_cmd_q", 0, false},
    {"echo a && echo b", 0, false},
    {"echo a | cat", 0, false},
    {"kill -0 $$", 0, false},
    {"umask", 0, false},
    {"ulimit -n", 0, false},
    {"times >/dev/null", 0, false},
    {"exec ls", 0, false},
    {"command -v ls", 0, false},
    {"type ls", 0, false},
    {"stat -c %s a.txt", 1, false},
    {"a=b", 0, false},
    {"A=1 B=2", 0, false},
    {"env A=1 printenv A", 1, false},
    {"", 0, false},
    {"   ", 0, false},
    {"echo \xc3\xa9", 0, false},
    {"ls \xc3\xa9", 0, false},
    {"ls a.txt b.txt", 1, false},
    {"ls -l a.txt | cut -c1-10", 0, false},
    {"id -u", 1, false},
    {"uname -s", 1, false},
    {"dirname a/b/c", 1, false},
    {"grep -c alpha a.txt b.txt", 1, false},
    {"grep -q nothing a.txt", 1, false},
    {"sort -r a.txt", 1, false},
    {"cmp a.txt b.txt", 1, false},
    {"diff a.txt a.txt", 1, false},
    {"yes | head -3", 0, false},
    {"sh -c 'kill -TERM $$'", 0, false},
};

#define NCORPUS (sizeof corpus / sizeof corpus[0])

static void write_text(const char *dir, const char *name, const char *text, mode_t mode)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    chmod(p, mode);
}

static int cmp_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The text with its lines sorted (environment dumps). */
static char *sort_lines(const char *t)
{
    char *copy = strdup(t);
    char *lines[512];
    int n = 0;
    for (char *s = strtok(copy, "\n"); s && n < 512; s = strtok(NULL, "\n"))
        lines[n++] = s;
    qsort(lines, (size_t)n, sizeof *lines, cmp_lines);
    size_t len = strlen(t) + 2;
    char *out = calloc(1, len);
    for (int i = 0; i < n; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
    }
    free(copy);
    return out;
}

static const char *g_wd;
static bool g_no_direct;

static void tweak(struct exec_config *c)
{
    c->workdir = g_wd;
    c->run_dir = g_wd; /* the same VOLLEY_RUN_DIR for both runs */
    c->no_direct = g_no_direct;
}

static void run_corpus(const char *wd, const char *logdir, bool no_direct, struct tl_src *ts)
{
    g_wd = wd;
    g_no_direct = no_direct;
    struct exec_engine *e = tl_open(logdir, 4, tweak);
    tl_src_init(ts, TL_FLAT, 0);
    for (size_t i = 0; i < NCORPUS; i++)
        tl_add(ts, "corpus", corpus[i].cmd);
    CHECK_EQ(tl_run(e, ts), 0);
    exec_engine_close(e);
}

static void test_corpus(const char *dir)
{
    char wd[512], lsh[512], ldir[512];
    snprintf(wd, sizeof wd, "%s/wd", dir);
    snprintf(lsh, sizeof lsh, "%s/logs-sh", dir);
    snprintf(ldir, sizeof ldir, "%s/logs-direct", dir);
    mkdir(wd, 0755);
    mkdir(lsh, 0755);
    mkdir(ldir, 0755);
    write_text(wd, "a.txt", "alpha\nbeta\n", 0644);
    write_text(wd, "b.txt", "gamma\nalpha\n", 0644);
    write_text(wd, "a b", "spaced\n", 0644);
    write_text(wd, "script_noshebang", "echo from script \"$@\"\nexit 6\n", 0755);
    write_text(wd, "script_noexec", "#!/bin/sh\necho never\n", 0644);
    write_text(wd, "script.sh", "#!/bin/sh\necho sh script $1 $0\n", 0755);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/subdir", wd);
    mkdir(sub, 0755);

    static struct tl_src sh, direct;
    run_corpus(wd, lsh, true, &sh);
    /* out1 from the first run must not change the second */
    char p[600];
    snprintf(p, sizeof p, "%s/out1", wd);
    unlink(p);
    run_corpus(wd, ldir, false, &direct);
    int ndirect = 0;
    for (uint32_t i = 0; i < NCORPUS; i++) {
        const struct exec_result *a = tl_final(&sh, i), *b = tl_final(&direct, i);
        CHECK(a && b);
        if (!a || !b)
            continue;
        bool is_direct = b->flags & EXEC_RES_DIRECT;
        ndirect += is_direct;
        CHECK(!(a->flags & EXEC_RES_DIRECT));
        if (corpus[i].direct >= 0 && is_direct != (corpus[i].direct == 1)) {
            fprintf(stderr, "corpus %u [%s]: direct=%d, expected %d\n", i, corpus[i].cmd, is_direct,
                    corpus[i].direct);
            CHECK(0);
        }
        if (a->status != b->status || a->term_sig != b->term_sig) {
            fprintf(stderr, "corpus %u [%s]: status %d/%d vs %d/%d\n", i, corpus[i].cmd, a->status,
                    a->term_sig, b->status, b->term_sig);
            CHECK(0);
        }
        for (unsigned st = LOG_STDOUT; st <= LOG_STDERR; st++) {
            struct tl_log la = tl_read_log(lsh, i, 1, st, &a->log);
            struct tl_log lb = tl_read_log(ldir, i, 1, st, &b->log);
            CHECK_EQ(la.rc, 0);
            CHECK_EQ(lb.rc, 0);
            char *ta = corpus[i].sorted ? sort_lines(la.p) : strdup(la.p);
            char *tb = corpus[i].sorted ? sort_lines(lb.p) : strdup(lb.p);
            if (la.len != lb.len || strcmp(ta, tb) != 0) {
                fprintf(stderr, "corpus %u [%s] %s differs:\n--- sh\n%s--- direct\n%s---\n", i,
                        corpus[i].cmd, st == LOG_STDOUT ? "stdout" : "stderr", la.p, lb.p);
                CHECK(0);
            }
            free(ta);
            free(tb);
            free(la.p);
            free(lb.p);
        }
    }
    fprintf(stderr, "corpus: %zu commands, %d ran directly\n", NCORPUS, ndirect);
    CHECK(ndirect >= 30);
    /* a few exact expectations, so that "both equally wrong" cannot pass */
    const struct exec_result *r = tl_final(&direct, 11); /* ls "a b" */
    CHECK(r && r->status == 0);
    struct tl_log l = tl_read_log(ldir, 11, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "a b\n");
    free(l.p);
    l = tl_read_log(ldir, 45, 1, LOG_STDERR, NULL); /* nosuch_cmd_q */
    CHECK_STR(l.p, "sh: 1: nosuch_cmd_q: not found\n");
    free(l.p);
    r = tl_final(&direct, 52); /* ./script_noshebang */
    CHECK(r && r->status == 6);
    r = tl_final(&direct, 54); /* ./script_noexec */
    CHECK(r && r->status == 126);
    tl_check_clean("corpus");
}

int main(void)
{
    test_split();
    const char *dir = tl_mkdir();
    test_cmdpath(dir);
    test_corpus(dir);
    tl_rmdir(dir);
    return check_done();
}

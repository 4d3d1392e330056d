/*
 * test_exec.c - the engine end to end with real processes: exit codes,
 * retries and recovery scripts, timeouts, SIGTERM-ignoring jobs, command
 * not found, byte-exact logs (binary, large, many concurrent jobs), a
 * background grandchild holding stdout, a 100 MB writer next to small
 * jobs, stop and cancel, a death from outside held until a stop, the
 * source's futex word, what a job sees (fds, signals, environment,
 * process group, cwd), spawn failures, and the
 * fallback paths (vfork spawning, no WAITID / multishot / INC / futex).
 * After every test no child and no process of a job's group may remain.
 */
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <linux/futex.h>

#include "exec_testlib.h"
#include "proc.h"

static uint32_t g_disable;
static enum spawn_mode g_mode = SPAWN_ASYNC;

static void tweak_mode(struct exec_config *c)
{
    c->disable = g_disable;
    c->spawn_mode = g_mode;
}

/* ---- basics ---- */

static void test_basic(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "a", "echo hello; echo err >&2; exit 3");
    tl_add(&ts, "b", "true");
    tl_add(&ts, "c", "false");
    tl_add(&ts, "d", "printf 'x\\ny'");
    tl_add(&ts, "e", "kill -9 $$");
    CHECK_EQ(tl_run(e, &ts), 0);
    const struct exec_result *r = tl_final(&ts, 0);
    CHECK(r != NULL);
    if (r) {
        CHECK_EQ(r->outcome, EXEC_FAILED);
        CHECK_EQ(r->status, 3);
        CHECK_EQ(r->tag, 1000);
        CHECK(!(r->flags & EXEC_RES_DIRECT));
        CHECK(r->end_mono_ns >= r->exit_mono_ns && r->exit_mono_ns >= r->spawn_mono_ns);
        struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDOUT, &r->log);
        CHECK_EQ(l.rc, 0);
        CHECK_STR(l.p, "hello\n");
        CHECK(l.info.ended && !l.info.cut);
        free(l.p);
        l = tl_read_log(dir, 0, 1, LOG_STDERR, NULL);
        CHECK_STR(l.p, "err\n");
        free(l.p);
    }
    r = tl_final(&ts, 1);
    CHECK(r && r->outcome == EXEC_COMPLETED && r->status == 0 && (r->flags & EXEC_RES_DIRECT));
    r = tl_final(&ts, 2);
    CHECK(r && r->outcome == EXEC_FAILED && r->status == 1 && (r->flags & EXEC_RES_DIRECT));
    r = tl_final(&ts, 3);
    CHECK(r && r->outcome == EXEC_COMPLETED);
    struct tl_log l = tl_read_log(dir, 3, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "x\ny");
    free(l.p);
    r = tl_final(&ts, 4);
    CHECK(r && r->outcome == EXEC_FAILED && r->term_sig == SIGKILL && r->status == 137);
    struct exec_stats st;
    exec_engine_stats(e, &st);
    CHECK_EQ(st.spawned, 5);
    CHECK_EQ(st.direct, 2);
    CHECK_EQ(st.attempts, 5);
    exec_engine_close(e);
    tl_check_clean("basic");
    tl_rmdir(dir);
}

/* What a job sees: fds 0-2 only (stdin /dev/null), no blocked or ignored
 * signals, its own process group, the VOLLEY_* environment, the cwd. */
static void sigusr1_handler(int s)
{
    (void)s;
}

static void test_job_view(void)
{
    const char *dir = tl_mkdir();
    /* Things a careless runner would pass on: an ignored SIGPIPE, a handled
     * SIGUSR1, a blocked SIGTERM, an fd without O_CLOEXEC. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR1, sigusr1_handler);
    sigset_t blk, old;
    sigemptyset(&blk);
    sigaddset(&blk, SIGTERM);
    sigprocmask(SIG_BLOCK, &blk, &old);
    int leak = open("/dev/null", O_RDONLY);
    struct exec_engine *e = tl_open(dir, 1, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "fds", "ls /proc/self/fd");
    tl_add(&ts, "sig", "grep -E '^Sig(Blk|Ign)' /proc/self/status");
    tl_add(&ts, "env", "echo $VOLLEY_JOB_ID $VOLLEY_JOB_NAME $VOLLEY_ATTEMPT $VOLLEY_RUN_DIR");
    tl_add(&ts, "stdin", "cat; echo eof");
    tl_add(&ts, "pgrp", "cat /proc/self/stat");
    tl_add(&ts, "cwd", "pwd");
    CHECK_EQ(tl_run(e, &ts), 0);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "0\n1\n2\n3\n"); /* 3: ls's own directory fd */
    free(l.p);
    l = tl_read_log(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    free(l.p);
    l = tl_read_log(dir, 2, 1, LOG_STDOUT, NULL);
    char want[600];
    snprintf(want, sizeof want, "2 env 1 %s\n", dir);
    CHECK_STR(l.p, want);
    free(l.p);
    l = tl_read_log(dir, 3, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "eof\n");
    free(l.p);
    l = tl_read_log(dir, 4, 1, LOG_STDOUT, NULL);
    const struct exec_result *r = tl_final(&ts, 4);
    int pid = 0, pgrp = 0;
    char *rp = strrchr(l.p, ')');
    CHECK(rp && sscanf(l.p, "%d", &pid) == 1 && sscanf(rp + 2, "%*c %*d %d", &pgrp) == 1);
    CHECK(r && pid == r->pid && pgrp == r->pid);
    free(l.p);
    l = tl_read_log(dir, 5, 1, LOG_STDOUT, NULL);
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    strcat(cwd, "\n");
    CHECK_STR(l.p, cwd);
    free(l.p);
    exec_engine_close(e);
    close(leak);
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    tl_check_clean("job_view");
    tl_rmdir(dir);
}

/* ---- exit codes, retries, recovery ---- */

static struct spec_rule g_rules[3];
static int32_t g_codes[4] = {12, 75, 99, 3};
static char g_pool[512];
static struct failpol g_fh;

/* rules: [0] codes {12, 75}, 3 retries, recovery script at pool offset
 * script_off (or none); [1] match-all, 1 retry, no script. */
static void set_handler(const char *script)
{
    memset(g_rules, 0, sizeof g_rules);
    g_rules[0] = (struct spec_rule){
        .code_first = 0, .ncodes = 2, .max_retries = 3, .script_off = SPEC_NO_STR};
    g_rules[1] = (struct spec_rule){
        .max_retries = 1, .flags = SPEC_RULE_MATCH_ALL, .script_off = SPEC_NO_STR};
    memset(g_pool, 0, sizeof g_pool);
    if (script) {
        snprintf(g_pool + 1, sizeof g_pool - 1, "%s", script);
        g_rules[0].script_off = 1;
    }
    g_fh = (struct failpol){.rules = g_rules,
                            .nrules = 2,
                            .codes = g_codes,
                            .ncodes = 4,
                            .pool = g_pool,
                            .pool_len = sizeof g_pool};
}

static void test_retries(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct tl_src ts;
    static char c0[600], c2[600];
    tl_src_init(&ts, TL_FLAT, 0);
    set_handler(NULL);
    /* fails twice with a handled code (12), then succeeds */
    snprintf(c0, sizeof c0,
             "echo attempt $VOLLEY_ATTEMPT; echo e$VOLLEY_ATTEMPT >&2; "
             "n=$(cat %s/n0 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s/n0; "
             "[ $n -ge 3 ] || exit 12",
             dir, dir);
    tl_add(&ts, "flaky", c0)->fh = &g_fh;
    /* always 75: 1 run + 3 retries, then final failure */
    tl_add(&ts, "always", "echo a$VOLLEY_ATTEMPT; exit 75")->fh = &g_fh;
    /* code 5 is not listed: the match-all rule gives one retry */
    snprintf(c2, sizeof c2, "exit 5");
    tl_add(&ts, "other", c2)->fh = &g_fh;
    /* no handler: no retry */
    tl_add(&ts, "plain", "exit 12");
    /* a start at attempt 4 (a resume) counts from there: exhausted at once */
    struct exec_job *j = tl_add(&ts, "late", "exit 12");
    j->fh = &g_fh;
    j->attempt = 4;
    CHECK_EQ(tl_run(e, &ts), 0);

    const struct exec_result *r;
    for (uint32_t a = 1; a <= 3; a++) {
        r = tl_attempt(&ts, 0, a);
        CHECK(r != NULL);
        if (!r)
            continue;
        CHECK_EQ(r->final, a == 3);
        CHECK_EQ(r->outcome, a == 3 ? EXEC_COMPLETED : EXEC_FAILED);
        CHECK_EQ(r->status, a == 3 ? 0 : 12);
        CHECK_EQ(!!(r->flags & EXEC_RES_RETRY), a < 3);
        char want[32];
        snprintf(want, sizeof want, "attempt %u\n", a);
        struct tl_log l = tl_read_log(dir, 0, a, LOG_STDOUT, &r->log);
        CHECK_STR(l.p, want);
        free(l.p);
        snprintf(want, sizeof want, "e%u\n", a);
        l = tl_read_log(dir, 0, a, LOG_STDERR, NULL);
        CHECK_STR(l.p, want);
        free(l.p);
    }
    CHECK(tl_attempt(&ts, 0, 4) == NULL);
    uint32_t last = 0;
    struct vl_err err;
    CHECK_EQ(logread_last_attempt(dir, 0, &last, &err), 0);
    CHECK_EQ(last, 3);

    r = tl_final(&ts, 1);
    CHECK(r && r->attempt == 4 && r->outcome == EXEC_FAILED && r->status == 75);
    CHECK(tl_attempt(&ts, 1, 5) == NULL);
    struct tl_log l = tl_read_log(dir, 1, 2, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "a2\n");
    free(l.p);
    r = tl_final(&ts, 2);
    CHECK(r && r->attempt == 2 && r->status == 5);
    r = tl_final(&ts, 3);
    CHECK(r && r->attempt == 1 && r->status == 12);
    r = tl_final(&ts, 4);
    CHECK(r && r->attempt == 4 && r->status == 12 && !(r->flags & EXEC_RES_RETRY));
    exec_engine_close(e);
    tl_check_clean("retries");
    tl_rmdir(dir);
}

static void test_recovery(void)
{
    const char *dir = tl_mkdir();
    static char script[600], c0[600];
    snprintf(script, sizeof script,
             "echo recover $VOLLEY_JOB_NAME $VOLLEY_ATTEMPT $VOLLEY_RETURN_CODE; "
             "echo rerr >&2; touch %s/fixed; exit $(cat %s/rc 2>/dev/null || echo 0)",
             dir, dir);
    set_handler(script);
    struct exec_engine *e = tl_open(dir, 1, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    /* succeeds once the recovery script made the file */
    snprintf(c0, sizeof c0, "test -e %s/fixed || exit 12", dir);
    tl_add(&ts, "needsfix", c0)->fh = &g_fh;
    CHECK_EQ(tl_run(e, &ts), 0);
    const struct exec_result *r = tl_attempt(&ts, 0, 1);
    CHECK(r && !r->final && r->status == 12 && (r->flags & EXEC_RES_RECOVERY_RAN) &&
          (r->flags & EXEC_RES_RETRY));
    r = tl_attempt(&ts, 0, 2);
    CHECK(r && r->final && r->outcome == EXEC_COMPLETED);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_RECOVERY_OUT, NULL);
    CHECK_STR(l.p, "recover needsfix 1 12\n");
    free(l.p);
    l = tl_read_log(dir, 0, 1, LOG_RECOVERY_ERR, NULL);
    CHECK_STR(l.p, "rerr\n");
    free(l.p);
    l = tl_read_log(dir, 0, 1, LOG_NOTE, NULL);
    CHECK_HAS(l.p, "running the recovery script before attempt 2");
    CHECK_HAS(l.p, "the recovery script exited with 0");
    free(l.p);
    exec_engine_close(e);

    /* a failing recovery script fails the job */
    char p[600];
    snprintf(p, sizeof p, "%s/fixed", dir);
    unlink(p);
    snprintf(p, sizeof p, "echo 7 > %s/rc", dir);
    CHECK_EQ(system(p), 0);
    e = tl_open(dir, 1, tweak_mode);
    tl_src_init(&ts, TL_FLAT, 0);
    snprintf(c0, sizeof c0, "exit 75");
    tl_add(&ts, "hopeless", c0)->fh = &g_fh;
    CHECK_EQ(tl_run(e, &ts), 0);
    r = tl_final(&ts, 0);
    CHECK(r && r->attempt == 1 && r->outcome == EXEC_FAILED && r->status == 75 &&
          (r->flags & EXEC_RES_RECOVERY_FAILED));
    CHECK_EQ(ts.nres, 1);
    l = tl_read_log(dir, 0, 1, LOG_NOTE, NULL);
    CHECK_HAS(l.p, "the recovery script exited with 7: no retry, the job fails");
    free(l.p);
    exec_engine_close(e);
    tl_check_clean("recovery");
    tl_rmdir(dir);
}

/* ---- timeouts ---- */

static void test_timeouts(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 3, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "sleeper", "sleep 30")->runtime_ms = 200;
    /* ignores SIGTERM (and so does its sleep): SIGKILL after the grace.
     * Its limit must come after the shell ran `trap`: at most 86 ms after
     * the spawn here with two CPU burners running (300 tries); 1000 ms is
     * 10x that. */
    tl_add(&ts, "stubborn", "trap '' TERM; sleep 30; echo never")->runtime_ms = 1000;
    /* finishes well inside its limit */
    tl_add(&ts, "quick", "true")->runtime_ms = 60000;
    uint64_t t0 = tl_now_ms();
    CHECK_EQ(tl_run(e, &ts), 0);
    uint64_t took = tl_now_ms() - t0;
    const struct exec_result *r = tl_final(&ts, 0);
    CHECK(r && r->outcome == EXEC_TERMINATED && r->term_sig == SIGTERM &&
          !(r->flags & EXEC_RES_KILLED));
    r = tl_final(&ts, 1);
    CHECK(r && r->outcome == EXEC_TERMINATED && r->term_sig == SIGKILL &&
          (r->flags & EXEC_RES_KILLED));
    if (r) {
        uint64_t ms = (r->end_mono_ns - r->spawn_mono_ns) / 1000000;
        /* runtime 1000 + grace 300 at least (an ordering); at most 10x
         * that, far below sleep 30 */
        if (ms < 1300 || ms >= 13000)
            fprintf(stderr, "timeouts: the stubborn job ran %" PRIu64 " ms\n", ms);
        CHECK(ms >= 1300 && ms < 13000);
    }
    struct tl_log l = tl_read_log(dir, 1, 1, LOG_NOTE, NULL);
    CHECK_HAS(l.p, "runtime of 1000 ms exceeded");
    CHECK_HAS(l.p, "SIGKILL");
    free(l.p);
    l = tl_read_log(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "");
    free(l.p);
    r = tl_final(&ts, 2);
    CHECK(r && r->outcome == EXEC_COMPLETED);
    CHECK(took < 20000); /* 1.3 s expected: 15x; not the jobs' 30 s */
    exec_engine_close(e);
    tl_check_clean("timeouts");
    tl_rmdir(dir);
}

/* A job killed at its runtime is seen by its failure handler as exit code
 * 152 (FAILPOL_TIMEOUT_CODE, torc's timeout_exit_code): a rule listing 152
 * retries it, and its recovery script gets VOLLEY_RETURN_CODE=152; a rule
 * listing the signal's code (143) does not match. */
static void test_timeout_retries(void)
{
    const char *dir = tl_mkdir();
    static struct spec_rule rules[2];
    static int32_t codes[2] = {FAILPOL_TIMEOUT_CODE, 128 + SIGTERM};
    static char pool[256];
    snprintf(pool + 1, sizeof pool - 1, "echo seen $VOLLEY_RETURN_CODE");
    rules[0] = (struct spec_rule){.code_first = 0, .ncodes = 1, .max_retries = 1, .script_off = 1};
    rules[1] = (struct spec_rule){
        .code_first = 1, .ncodes = 1, .max_retries = 5, .script_off = SPEC_NO_STR};
    static struct failpol on152, on143;
    on152 = (struct failpol){
        .rules = rules, .nrules = 1, .codes = codes, .ncodes = 2, .pool = pool, .pool_len = 256};
    on143 = on152;
    on143.rules = rules + 1;
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    struct exec_job *j = tl_add(&ts, "slow", "sleep 30");
    j->runtime_ms = 100;
    j->fh = &on152;
    j = tl_add(&ts, "slow143", "sleep 30");
    j->runtime_ms = 100;
    j->fh = &on143;
    CHECK_EQ(tl_run(e, &ts), 0);
    const struct exec_result *r = tl_attempt(&ts, 0, 1);
    CHECK(r && !r->final && r->outcome == EXEC_TERMINATED && (r->flags & EXEC_RES_RETRY) &&
          (r->flags & EXEC_RES_RECOVERY_RAN));
    r = tl_final(&ts, 0);
    CHECK(r && r->attempt == 2 && r->outcome == EXEC_TERMINATED && r->status == 128 + SIGTERM);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_RECOVERY_OUT, NULL);
    CHECK_STR(l.p, "seen 152\n");
    free(l.p);
    l = tl_read_log(dir, 0, 1, LOG_NOTE, NULL);
    CHECK_HAS(l.p, "exit code 152: running the recovery script before attempt 2");
    free(l.p);
    r = tl_final(&ts, 1);
    CHECK(r && r->attempt == 1 && r->outcome == EXEC_TERMINATED);
    CHECK(tl_attempt(&ts, 1, 2) == NULL);
    exec_engine_close(e);
    tl_check_clean("timeout retries");
    tl_rmdir(dir);
}

/* ---- command not found ---- */

static void test_not_found(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "missing", "volley_no_such_program_xyz --flag");
    tl_add(&ts, "missing_path", "/nonexistent/volley_prog");
    tl_add(&ts, "dir", "/tmp");
    CHECK_EQ(tl_run(e, &ts), 0);
    const struct exec_result *r = tl_final(&ts, 0);
    CHECK(r && r->outcome == EXEC_FAILED && r->status == 127 && !(r->flags & EXEC_RES_DIRECT));
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDERR, NULL);
    CHECK_STR(l.p, "sh: 1: volley_no_such_program_xyz: not found\n");
    free(l.p);
    r = tl_final(&ts, 1);
    CHECK(r && r->status == 127 && (r->flags & EXEC_RES_DIRECT));
    l = tl_read_log(dir, 1, 1, LOG_STDERR, NULL);
    CHECK_STR(l.p, "sh: 1: /nonexistent/volley_prog: not found\n");
    free(l.p);
    r = tl_final(&ts, 2);
    CHECK(r && r->status == 126);
    l = tl_read_log(dir, 2, 1, LOG_STDERR, NULL);
    CHECK_STR(l.p, "sh: 1: /tmp: Permission denied\n");
    free(l.p);
    exec_engine_close(e);
    tl_check_clean("not_found");
    tl_rmdir(dir);
}

/* ---- logs ---- */

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, p, n) == (ssize_t)n);
    close(fd);
}

static uint64_t g_rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static void test_binary_logs(void)
{
    const char *dir = tl_mkdir();
    /* every byte value, 300 times over, then a 3 MB random file */
    static uint8_t bytes[256 * 300];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(i % 256);
    size_t big_n = 3u << 20;
    uint8_t *big = malloc(big_n);
    for (size_t i = 0; i < big_n; i++)
        big[i] = (uint8_t)rnd();
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, "%s/all256", dir);
    snprintf(p2, sizeof p2, "%s/big", dir);
    write_file(p1, bytes, sizeof bytes);
    write_file(p2, big, big_n);
    static char c0[1200], c1[1200];
    snprintf(c0, sizeof c0, "cat %s", p1);
    snprintf(c1, sizeof c1, "cat %s >&2; cat %s", p2, p1);
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "bin", c0);
    tl_add(&ts, "big", c1);
    CHECK_EQ(tl_run(e, &ts), 0);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDOUT, NULL);
    CHECK_EQ(l.len, sizeof bytes);
    CHECK(l.len == sizeof bytes && memcmp(l.p, bytes, l.len) == 0);
    free(l.p);
    l = tl_read_log(dir, 1, 1, LOG_STDERR, NULL);
    CHECK_EQ(l.len, big_n);
    CHECK(l.len == big_n && memcmp(l.p, big, big_n) == 0);
    free(l.p);
    l = tl_read_log(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK(l.len == sizeof bytes && memcmp(l.p, bytes, l.len) == 0);
    free(l.p);
    free(big);
    exec_engine_close(e);
    tl_check_clean("binary_logs");
    tl_rmdir(dir);
}

/* Many jobs at once, each writing its own random content in several
 * writes to both streams: every job's logs come back exactly. */
static void test_concurrent_logs(void)
{
    const char *dir = tl_mkdir();
    enum { N = 96 };
    static char cmds[N][1400];
    static size_t sizes[N];
    struct exec_engine *e = tl_open(dir, 8, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    for (int j = 0; j < N; j++) {
        sizes[j] = (j % 7 == 0) ? 0 : (size_t)(rnd() % 150000);
        uint8_t *b = malloc(sizes[j] + 1);
        for (size_t i = 0; i < sizes[j]; i++)
            b[i] = (uint8_t)rnd();
        char p[512];
        snprintf(p, sizeof p, "%s/in%d", dir, j);
        write_file(p, b, sizes[j]);
        free(b);
        snprintf(cmds[j], sizeof cmds[j],
                 "echo begin %d; dd if=%s bs=4096 status=none; echo mid %d >&2; "
                 "cat %s >&2; echo end %d",
                 j, p, j, p, j);
        tl_add(&ts, "conc", cmds[j]);
    }
    CHECK_EQ(tl_run(e, &ts), 0);
    int bad = 0;
    for (int j = 0; j < N; j++) {
        char p[512];
        snprintf(p, sizeof p, "%s/in%d", dir, j);
        uint8_t *want = malloc(sizes[j] + 64);
        int fd = open(p, O_RDONLY);
        CHECK(read(fd, want, sizes[j]) == (ssize_t)sizes[j] || sizes[j] == 0);
        close(fd);
        const struct exec_result *r = tl_final(&ts, (uint32_t)j);
        CHECK(r && r->outcome == EXEC_COMPLETED);
        struct tl_log o = tl_read_log(dir, (uint32_t)j, 1, LOG_STDOUT, r ? &r->log : NULL);
        char head[64], tail[64];
        int hn = snprintf(head, sizeof head, "begin %d\n", j);
        int tn = snprintf(tail, sizeof tail, "end %d\n", j);
        if (o.len != (size_t)hn + sizes[j] + (size_t)tn || memcmp(o.p, head, (size_t)hn) ||
            memcmp(o.p + hn, want, sizes[j]) || memcmp(o.p + hn + sizes[j], tail, (size_t)tn))
            bad++;
        struct tl_log er = tl_read_log(dir, (uint32_t)j, 1, LOG_STDERR, NULL);
        hn = snprintf(head, sizeof head, "mid %d\n", j);
        if (er.len != (size_t)hn + sizes[j] || memcmp(er.p, head, (size_t)hn) ||
            memcmp(er.p + hn, want, sizes[j]))
            bad++;
        free(o.p);
        free(er.p);
        free(want);
    }
    CHECK_EQ(bad, 0);
    exec_engine_close(e);
    tl_check_clean("concurrent_logs");
    tl_rmdir(dir);
}

/* Two provided buffers for eight chatty jobs: reads run out of buffers
 * (-ENOBUFS ends a multishot read), are re-armed, and nothing is lost. */
static void tweak_bufs(struct exec_config *c)
{
    tweak_mode(c);
    c->log_bufs = 2;
}

static void test_enobufs(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 8, tweak_bufs);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    for (int j = 0; j < 16; j++)
        tl_add(&ts, "chatty", "seq 1 20000; seq 1 5000 >&2");
    CHECK_EQ(tl_run(e, &ts), 0);
    struct exec_stats st;
    exec_engine_stats(e, &st);
    CHECK(st.rearms > 0);
    /* seq 1 20000 is 108894 bytes, seq 1 5000 23893 */
    int bad = 0;
    for (uint32_t j = 0; j < 16; j++) {
        struct tl_log o = tl_read_log(dir, j, 1, LOG_STDOUT, NULL);
        struct tl_log r = tl_read_log(dir, j, 1, LOG_STDERR, NULL);
        if (o.len != 108894 || r.len != 23893 || strncmp(o.p, "1\n2\n3\n", 6) ||
            strcmp(o.p + o.len - 6, "20000\n") || strcmp(r.p + r.len - 5, "5000\n"))
            bad++;
        free(o.p);
        free(r.p);
    }
    CHECK_EQ(bad, 0);
    exec_engine_close(e);
    tl_check_clean("enobufs");
    tl_rmdir(dir);
}

/* The old way, kept behind keep_leftovers: a background grandchild keeps
 * stdout open, the job ends after the bounded wait, its stdout cut and a
 * note saying so. */
static void tweak_keep(struct exec_config *c)
{
    tweak_mode(c);
    c->keep_leftovers = true;
}

static void test_grandchild(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_keep);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "bg", "sleep 30 & echo started");
    tl_add(&ts, "fine", "echo ok");
    uint64_t t0 = tl_now_ms();
    CHECK_EQ(tl_run(e, &ts), 0);
    uint64_t took = tl_now_ms() - t0;
    const struct exec_result *r = tl_final(&ts, 0);
    CHECK(r && r->outcome == EXEC_COMPLETED && (r->flags & EXEC_RES_CUT_STDOUT) &&
          (r->flags & EXEC_RES_CUT_STDERR) && r->leftovers == 0);
    CHECK(took < 10000); /* the 0.3 s wait for EOF: 30x; not the sleep's 30 s */
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "started\n");
    CHECK(l.info.ended && l.info.cut);
    free(l.p);
    l = tl_read_log(dir, 0, 1, LOG_NOTE, NULL);
    CHECK_HAS(l.p, "volley: stopped reading stdout 0.3 s after the job exited");
    free(l.p);
    r = tl_final(&ts, 1);
    CHECK(r && r->outcome == EXEC_COMPLETED && !(r->flags & EXEC_RES_CUT_STDOUT));
    /* the sleep is still there, in the job's group: ours to kill */
    const struct exec_result *bg = tl_final(&ts, 0);
    if (bg)
        kill(-bg->pid, SIGKILL);
    exec_engine_close(e);
    tl_check_clean("grandchild");
    tl_rmdir(dir);
}

/* True once pid is gone or a zombie (its new parent reaps it when it will).
 * A wait for that event, with the suite's hang limit (60 s, docs/testing.md):
 * a SIGKILLed process dies in milliseconds, but it failed at 5 s twice on a
 * machine at load 60. */
static bool pid_gone(long pid)
{
    return proc_gone_within(pid, 6000);
}

/* Without a cgroup, what a job leaves in its process group is killed when
 * its main process ends (docs/limits.md): no EOF wait, no cut, a note,
 * and the process is gone (by its pid). With the pidfd group signal off
 * (a kernel before 6.9), after the reap the group cannot be signalled
 * safely: the old behaviour. */
static void test_leftovers(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "bg", "sleep 300 & echo $!");
    tl_add(&ts, "two", "sleep 300 & sleep 300 & echo ok");
    tl_add(&ts, "fine", "echo ok");
    CHECK_EQ(tl_run(e, &ts), 0);
    bool can = !(g_disable & EXEC_DISABLE_PGRP_SIGNAL);
    const struct exec_result *r = tl_final(&ts, 0);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDOUT, NULL);
    long pid = l.p ? strtol(l.p, NULL, 10) : 0;
    free(l.p);
    CHECK(pid > 0);
    if (can) {
        CHECK(r && r->outcome == EXEC_COMPLETED && r->leftovers == 1 &&
              !(r->flags & EXEC_RES_CUT_STDOUT));
        l = tl_read_log(dir, 0, 1, LOG_NOTE, NULL);
        CHECK_HAS(l.p, "volley: killed 1 leftover process");
        free(l.p);
        CHECK(pid > 0 && pid_gone(pid));
        r = tl_final(&ts, 1);
        CHECK(r && r->leftovers == 2);
        l = tl_read_log(dir, 1, 1, LOG_NOTE, NULL);
        CHECK_HAS(l.p, "volley: killed 2 leftover processes");
        free(l.p);
    } else {
        CHECK(r && r->leftovers == 0 && (r->flags & EXEC_RES_CUT_STDOUT));
        for (uint32_t j = 0; j < 2; j++)
            if ((r = tl_final(&ts, j)) != NULL)
                kill(-r->pid, SIGKILL);
    }
    r = tl_final(&ts, 2);
    CHECK(r && r->leftovers == 0);
    exec_engine_close(e);
    tl_check_clean("leftovers");
    tl_rmdir(dir);
}

/* A job with CPUs gets VOLLEY_NUM_CPUS and OMP_NUM_THREADS, one without
 * neither; an attempt's usage comes from its rusage without a cgroup: the
 * shell's loop shows up as user CPU time, and as a peak of some memory. */
static void test_env_usage(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "cpus", "echo \"$VOLLEY_NUM_CPUS $OMP_NUM_THREADS\"")->num_cpus = 3;
    tl_add(&ts, "none", "echo \"${VOLLEY_NUM_CPUS-unset} ${OMP_NUM_THREADS-unset}\"");
    tl_add(&ts, "burn", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done");
    CHECK_EQ(tl_run(e, &ts), 0);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "3 3\n");
    free(l.p);
    l = tl_read_log(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "unset unset\n");
    free(l.p);
    const struct exec_result *r = tl_final(&ts, 2);
    CHECK(r && r->outcome == EXEC_COMPLETED);
    CHECK(r && r->usage.cpu_user_us > 0 && r->usage.max_rss_bytes > 0);
    exec_engine_close(e);
    tl_check_clean("env_usage");
    tl_rmdir(dir);
}

/* One job streams output until a chain of small jobs is done; the chain
 * is released only after the writer has streamed 100 MB, so it must run
 * while the writer keeps writing: an engine that stalled on the big
 * stream would never end this test (the writer stops only when the last
 * small job made the file it waits for). Every byte comes back. */
static struct tl_src g_big;
static struct exec_engine *g_big_engine;

static enum exec_next big_next(void *ctx, struct exec_job *job)
{
    struct tl_src *ts = ctx;
    if (ts->next >= ts->njobs)
        return EXEC_NEXT_DONE;
    if (ts->next == 0)
        return tl_next(ctx, job);
    struct exec_stats st;
    exec_engine_stats(g_big_engine, &st);
    if (st.log_bytes >= 100000000u && ts->next <= ts->finals + 1)
        return tl_next(ctx, job);
    return EXEC_NEXT_EMPTY;
}

static void test_big_writer(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 3, tweak_mode);
    g_big_engine = e;
    tl_src_init(&g_big, TL_FLAT, 0);
    static char writer[600], last[600];
    snprintf(writer, sizeof writer,
             "n=0; while [ ! -e %s/go ]; do head -c 1048576 /dev/zero; n=$((n+1)); done; "
             "echo $n >&2",
             dir);
    snprintf(last, sizeof last, "touch %s/go", dir);
    tl_add(&g_big, "writer", writer);
    for (int i = 0; i < 9; i++)
        tl_add(&g_big, "small", "echo small");
    tl_add(&g_big, "last", last);
    struct exec_source src = tl_source(&g_big);
    src.next = big_next;
    /* the engine's progress is the source's "word": poll it */
    static uint32_t never;
    src.word = &never;
    struct vl_err err;
    CHECK_EQ(exec_engine_run(e, &src, &err), 0);
    const struct exec_result *w = tl_final(&g_big, 0);
    CHECK(w && w->outcome == EXEC_COMPLETED);
    for (uint32_t j = 1; j < g_big.njobs; j++) {
        const struct exec_result *r = tl_final(&g_big, j);
        CHECK(r && r->outcome == EXEC_COMPLETED);
        /* the last one's file lets the writer stop: it may end either way */
        if (j + 1 < g_big.njobs)
            CHECK(r && w && r->end_mono_ns < w->end_mono_ns);
    }
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDERR, NULL);
    unsigned long mib = strtoul(l.p, NULL, 10);
    free(l.p);
    CHECK(mib >= 95); /* 100 MB = 95.4 MiB, streamed before the chain began */
    /* every byte, checked in a file rather than memory */
    char p[512];
    snprintf(p, sizeof p, "%s/out", dir);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct logread_info info;
    CHECK_EQ(logread_copy(dir, 0, 1, LOG_STDOUT, w ? &w->log : NULL, fd, &info, &err), 0);
    CHECK_U64(info.bytes, (uint64_t)mib << 20);
    uint8_t buf[65536];
    ssize_t n;
    uint64_t total = 0, nonzero = 0;
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            nonzero += buf[i] != 0;
        total += (uint64_t)n;
    }
    close(fd);
    unlink(p);
    CHECK_U64(total, (uint64_t)mib << 20);
    CHECK_U64(nonzero, 0);
    exec_engine_close(e);
    tl_check_clean("big_writer");
    tl_rmdir(dir);
}

/* ---- stop and cancel ---- */

static struct exec_engine *g_stop_engine;
static char g_up[4][300];               /* each running job's marker, made once it is set up */
static volatile sig_atomic_t g_stopped; /* the stop was sent */

/* Every 20 ms from the 4th job's start: once all four have made their
 * marker (the stubborn ones after `trap '' TERM`), the engine is stopped,
 * from this signal handler (access() is async-signal-safe). So the stop
 * lands with all four running and set up, however slow the machine is. */
static void on_alarm(int s)
{
    (void)s;
    if (g_stopped)
        return;
    for (int i = 0; i < 4; i++)
        if (access(g_up[i], F_OK) != 0)
            return;
    g_stopped = 1;
    exec_engine_stop(g_stop_engine);
}

/* Arms the timer once the 4th job has been handed out. */
static enum exec_next stop_next(void *ctx, struct exec_job *job)
{
    struct tl_src *ts = ctx;
    enum exec_next r = tl_next(ctx, job);
    if (r == EXEC_NEXT_JOB && ts->next == 4) {
        struct itimerval it = {.it_value = {.tv_usec = 20000}, .it_interval = {.tv_usec = 20000}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    return r;
}

static void test_stop(bool stubborn)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 4, tweak_mode);
    g_stop_engine = e;
    static struct tl_src ts;
    static char cmds[40][400];
    tl_src_init(&ts, TL_FLAT, 0);
    for (int i = 0; i < 40; i++) {
        snprintf(g_up[i % 4], sizeof g_up[0], "%s/up.%d", dir, i % 4);
        snprintf(cmds[i], sizeof cmds[i], "%stouch %s/up.%d; sleep 30",
                 stubborn ? "trap '' TERM; " : "", dir, i);
        tl_add(&ts, "long", cmds[i]);
    }
    g_stopped = 0;
    signal(SIGALRM, on_alarm);
    struct exec_source src = tl_source(&ts);
    src.next = stop_next;
    struct vl_err err;
    uint64_t t0 = tl_now_ms();
    CHECK_EQ(exec_engine_run(e, &src, &err), 1);
    uint64_t took = tl_now_ms() - t0;
    setitimer(ITIMER_REAL, &(struct itimerval){0}, NULL); /* before SIG_DFL: it would kill us */
    signal(SIGALRM, SIG_DFL);
    CHECK_EQ(ts.next, 4); /* nothing started after the stop */
    CHECK_EQ(ts.nres, 4);
    for (uint32_t i = 0; i < ts.nres; i++) {
        const struct exec_result *r = &ts.res[i].r;
        CHECK_EQ(r->outcome, EXEC_STOPPED);
        CHECK(r->final);
        CHECK_EQ(r->term_sig, stubborn ? SIGKILL : SIGTERM);
    }
    CHECK(took < 20000); /* the stop and the 0.3 s grace: 50x; not the jobs' 30 s */
    /* the engine runs again after a stop */
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "after", "echo again");
    CHECK_EQ(tl_run(e, &ts), 0);
    CHECK(tl_final(&ts, 0) && tl_final(&ts, 0)->outcome == EXEC_COMPLETED);
    exec_engine_close(e);
    tl_check_clean(stubborn ? "stop_stubborn" : "stop");
    tl_rmdir(dir);
}

static void cancel_on_done(struct tl_src *ts, const struct exec_result *r)
{
    if (r->jid == 1)
        CHECK_EQ(exec_engine_cancel(ts->e, 0), 0);
    if (r->jid == 0)
        CHECK_EQ(exec_engine_cancel(ts->e, 0), -ESRCH);
}

static void test_cancel(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "victim", "sleep 30")->fh = NULL;
    tl_add(&ts, "trigger", "sleep 0.2");
    ts.on_done = cancel_on_done;
    CHECK_EQ(tl_run(e, &ts), 0);
    const struct exec_result *r = tl_final(&ts, 0);
    CHECK(r && r->outcome == EXEC_CANCELED && r->term_sig == SIGTERM);
    CHECK(tl_final(&ts, 1) && tl_final(&ts, 1)->outcome == EXEC_COMPLETED);
    exec_engine_close(e);
    tl_check_clean("cancel");
    tl_rmdir(dir);
}

/* A cancel right after the spawn, maybe before the child's own setpgid:
 * the group signal must go to the job's group (the group whose id is the
 * job's pid, empty until then), never to the group the child is still in,
 * the runner's. The loop runs in a child of ours that leads its own
 * process group (so a stray group signal cannot hit the test runner) and
 * counts the SIGTERMs it gets. */
static volatile sig_atomic_t g_stray_terms;

static void on_stray_term(int sig)
{
    (void)sig;
    g_stray_terms++;
}

static enum exec_next cancel_at_once_next(void *ctx, struct exec_job *job)
{
    struct tl_src *ts = ctx;
    if (ts->next == 0)
        return tl_next(ctx, job);
    if (ts->next == 1) {
        ts->next = 2;
        exec_engine_cancel(ts->e, 0);
    }
    return EXEC_NEXT_DONE;
}

static void test_cancel_at_spawn(void)
{
    const char *dir = tl_mkdir();
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGTERM, on_stray_term);
        int bad = 0;
        for (int i = 0; i < 100 && !g_stray_terms; i++) {
            struct exec_engine *e = tl_open(dir, 2, tweak_mode);
            static struct tl_src ts;
            tl_src_init(&ts, TL_FLAT, 0);
            tl_add(&ts, "victim", "sleep 5");
            struct exec_source src = tl_source(&ts);
            src.next = cancel_at_once_next;
            ts.e = e;
            struct vl_err err = {0};
            if (exec_engine_run(e, &src, &err) != 0)
                bad++;
            const struct exec_result *r = tl_final(&ts, 0);
            if (!r || r->outcome != EXEC_CANCELED)
                bad++;
            exec_engine_close(e);
        }
        _exit(g_stray_terms ? 100 + (g_stray_terms > 50 ? 50 : (int)g_stray_terms) : bad ? 1 : 0);
    }
    CHECK(pid > 0);
    tl_note_pgid(pid); /* its own group: an interrupted test ends it too */
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr,
                "cancel_at_spawn: status %#x (100+N: N SIGTERMs reached the runner's "
                "group; 1: a run or an outcome was wrong)\n",
                (unsigned)st);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    tl_check_clean("cancel_at_spawn");
    tl_rmdir(dir);
}

/* ---- a death from outside, before a stop ---- */

static void tweak_long_grace(struct exec_config *c)
{
    tweak_mode(c);
    c->kill_grace_ms = 60000;
}

static void stop_on_done(struct tl_src *ts, const struct exec_result *r)
{
    if (r->jid == 1)
        exec_engine_stop(ts->e);
}

/*
 * A stop from outside reaches every process in no order (a batch
 * scheduler's scancel or time limit, systemd): job 0 dies of SIGTERM that
 * volley did not send; job 1 waits until the engine has reaped it, then
 * ends, and its end stops the engine. Job 0's end was held (a grace of
 * 60 s), so it is stopped, not failed, and the stop does not wait for the
 * grace. Then, with nothing stopping: a SIGTERM death (and a shell's 143)
 * fails once the grace ran out, with a note; a SIGUSR2 death fails at
 * once, no note.
 */
static void test_outside_death(void)
{
    const char *dir = tl_mkdir();
    char pidf[512], cmd0[700], cmd1[1200];
    snprintf(pidf, sizeof pidf, "%s/pid0", dir);
    snprintf(cmd0, sizeof cmd0, "echo $$ > %s; kill -TERM $$; sleep 30", pidf);
    snprintf(cmd1, sizeof cmd1,
             "until [ -s %s ]; do sleep 0.01; done; while [ -e /proc/$(cat %s) ]; do sleep 0.01; "
             "done",
             pidf, pidf);
    struct exec_engine *e = tl_open(dir, 2, tweak_long_grace);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "victim", cmd0);
    tl_add(&ts, "watcher", cmd1);
    ts.on_done = stop_on_done;
    uint64_t t0 = tl_now_ms();
    CHECK_EQ(tl_run(e, &ts), 1);
    CHECK(tl_now_ms() - t0 < 30000); /* the stop ended the hold: not the 60 s grace */
    const struct exec_result *r = tl_final(&ts, 0);
    CHECK(r && r->outcome == EXEC_STOPPED && r->term_sig == SIGTERM);
    r = tl_final(&ts, 1);
    CHECK(r && r->outcome == EXEC_COMPLETED);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_NOTE, NULL);
    CHECK(strstr(l.p, "killed by signal 15") && strstr(l.p, "held 60000 ms") &&
          strstr(l.p, "as the run stops: the attempt is stopped, not failed"));
    free(l.p);
    exec_engine_close(e);

    e = tl_open(dir, 3, tweak_mode); /* grace 300 ms */
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "term", "kill -TERM $$; sleep 30");
    tl_add(&ts, "sh143", "sh -c 'kill -TERM $$; sleep 30'; exit $?");
    tl_add(&ts, "usr2", "kill -USR2 $$; sleep 30");
    CHECK_EQ(tl_run(e, &ts), 0);
    r = tl_final(&ts, 0);
    CHECK(r && r->outcome == EXEC_FAILED && r->term_sig == SIGTERM && r->status == 143);
    r = tl_final(&ts, 1);
    CHECK(r && r->outcome == EXEC_FAILED && r->term_sig == 0 && r->status == 143);
    r = tl_final(&ts, 2);
    CHECK(r && r->outcome == EXEC_FAILED && r->term_sig == SIGUSR2);
    l = tl_read_log(dir, 0, 1, LOG_NOTE, NULL);
    CHECK(strstr(l.p, "killed by signal 15") && strstr(l.p, "held 300 ms"));
    free(l.p);
    l = tl_read_log(dir, 1, 1, LOG_NOTE, NULL);
    CHECK(strstr(l.p, "exited with 143, a death by signal 15") && strstr(l.p, "held 300 ms"));
    free(l.p);
    l = tl_read_log(dir, 2, 1, LOG_NOTE, NULL);
    CHECK_EQ(l.len, 0);
    free(l.p);
    exec_engine_close(e);
    tl_check_clean("outside_death");
    tl_rmdir(dir);
}

/* ---- a job that ended on its own just before a kill was begun ---- */

static struct tl_src *g_zombie_ts;
static int g_zombie_pid[2];

static void note_pid(void *ctx, uint32_t jid, int pid, uint64_t start_ns)
{
    tl_note_pgid(pid);
    if (jid < 2)
        g_zombie_pid[jid] = pid;
}

/* The end of job 0: job 1 exits meanwhile, its end not yet read by the
 * engine (its thread is here); then job 1 is cancelled. */
static void cancel_after_exit(void *ctx, const struct exec_result *r)
{
    tl_done(ctx, r);
    if (r->jid == 0 && r->final) {
        CHECK(pid_gone(g_zombie_pid[1])); /* a zombie: we, its parent's thread, are here */
        CHECK_EQ(exec_engine_cancel(g_zombie_ts->e, 1), 0);
    }
}

/*
 * A kill begun after the job's process had exited by itself (its end
 * still unread in the ring) is not what ended it: the job's own exit
 * decides. Slurm's scancel signals every process of the step in no order:
 * a job's `sleep` died first, its shell went on to exit 0, and the stop
 * that reached its worker a moment later recorded it stopped, so resume
 * ran a finished job again (slurm_volley, j5). The stop, a cancel and a
 * timeout all begin their kill in exec__begin_kill; a cancel from a
 * callback is the way to begin one at a chosen moment.
 */
static void test_exit_before_kill(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "first", "true");
    tl_add(&ts, "second", "sleep 0.3; echo done");
    g_zombie_ts = &ts;
    struct exec_source src = tl_source(&ts);
    src.started = note_pid;
    src.done = cancel_after_exit;
    ts.e = e;
    struct vl_err err = {0};
    CHECK_EQ(exec_engine_run(e, &src, &err), 0);
    const struct exec_result *r = tl_final(&ts, 1);
    CHECK(r && r->outcome == EXEC_COMPLETED && r->status == 0 && r->term_sig == 0);
    struct tl_log l = tl_read_log(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "done\n");
    free(l.p);
    exec_engine_close(e);
    tl_check_clean("exit_before_kill");
    tl_rmdir(dir);
}

/* ---- a worker killed right after a clone ---- */

static int g_started_fd = -1;

/* The `started` callback of a worker that dies at once: the job's pid is
 * told to the test (the pipe) and to nobody else. */
static void die_at_start(void *ctx, uint32_t jid, int pid, uint64_t start_ns)
{
    if (write(g_started_fd, &pid, sizeof pid) != (ssize_t)sizeof pid)
        _exit(2);
    raise(SIGKILL);
}

/*
 * A worker SIGKILLed between a clone and the store of the job's pid (the
 * `started` callback, where volley's arena gets it) must not leave the job
 * running where nobody can find it: it gets SIGKILL with its worker (or,
 * if the worker died before the child set that up, exits before exec).
 * We are a subreaper for the duration, so the orphan comes back to us.
 */
static void test_killed_at_spawn(void)
{
    const char *dir = tl_mkdir();
    CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
    pid_t w = fork();
    if (w == 0) {
        close(p[0]);
        g_started_fd = p[1];
        struct exec_engine *e = tl_open(dir, 1, tweak_mode);
        static struct tl_src ts;
        tl_src_init(&ts, TL_FLAT, 0);
        tl_add(&ts, "victim", "sleep 30");
        struct exec_source src = tl_source(&ts);
        src.started = die_at_start;
        ts.e = e;
        struct vl_err err = {0};
        exec_engine_run(e, &src, &err);
        _exit(3);
    }
    CHECK(w > 0);
    close(p[1]);
    int pid = -1;
    CHECK_EQ(read(p[0], &pid, sizeof pid), (ssize_t)sizeof pid);
    close(p[0]);
    tl_note_pgid(pid);
    int st = 0;
    CHECK_EQ(waitpid(w, &st, 0), w);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* it dies at once (SIGKILL); up to 30 s is a hang */
    pid_t got = 0;
    for (int i = 0; pid > 0 && i < 3000 && got == 0; i++) {
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        got = waitpid(pid, &st, WNOHANG);
    }
    CHECK_EQ(got, pid);
    CHECK(got == pid && ((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
                         (WIFEXITED(st) && WEXITSTATUS(st) == 127)));
    if (pid > 0 && got == 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
    tl_check_clean("killed_at_spawn");
    tl_rmdir(dir);
}

/* ---- the source's word ---- */

struct word_src {
    struct tl_src ts;
    _Atomic uint32_t word;    /* shared (non-private) futex */
    _Atomic uint32_t avail;   /* jobs published by the producer thread */
    _Atomic uint32_t empties; /* times next() found nothing to hand out */
    int notified;
};

static enum exec_next word_next(void *ctx, struct exec_job *job)
{
    struct word_src *ws = ctx;
    if (ws->ts.next >= ws->ts.njobs)
        return EXEC_NEXT_DONE;
    if (ws->ts.next >= atomic_load(&ws->avail)) {
        atomic_fetch_add(&ws->empties, 1);
        return EXEC_NEXT_EMPTY;
    }
    *job = ws->ts.jobs[ws->ts.next++];
    return EXEC_NEXT_JOB;
}

static void word_done(void *ctx, const struct exec_result *r)
{
    struct word_src *ws = ctx;
    tl_done(&ws->ts, r);
}

static void word_notify(void *ctx)
{
    struct word_src *ws = ctx;
    ws->notified++;
}

/* Publishes job i once the engine has found nothing i + 1 times: it
 * waited on the word (or is about to: it read the word before asking)
 * for each job, however fast or slow either side is. */
static void *producer(void *arg)
{
    struct word_src *ws = arg;
    for (uint32_t i = 0; i < ws->ts.njobs; i++) {
        while (atomic_load(&ws->empties) <= i)
            usleep(1000);
        atomic_fetch_add(&ws->avail, 1);
        atomic_fetch_add(&ws->word, 1);
        syscall(SYS_futex, &ws->word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
    }
    return NULL;
}

static void test_word(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct word_src ws;
    memset(&ws, 0, sizeof ws);
    tl_src_init(&ws.ts, TL_FLAT, 0);
    for (int i = 0; i < 6; i++)
        tl_add(&ws.ts, "pub", "echo published");
    struct exec_source src = {.ctx = &ws,
                              .next = word_next,
                              .started = tl_started,
                              .done = word_done,
                              .word = (const uint32_t *)&ws.word,
                              .word_private = false,
                              .notify = word_notify};
    pthread_t th;
    pthread_create(&th, NULL, producer, &ws);
    struct vl_err err;
    CHECK_EQ(exec_engine_run(e, &src, &err), 0);
    pthread_join(th, NULL);
    CHECK_EQ(ws.ts.finals, 6);
    CHECK(ws.notified >= 1);
    exec_engine_close(e);

    /* no word, nothing running, nothing to run: an error, not a hang */
    e = tl_open(dir, 1, tweak_mode);
    memset(&ws, 0, sizeof ws);
    tl_src_init(&ws.ts, TL_FLAT, 0);
    tl_add(&ws.ts, "never", "true");
    src.word = NULL;
    src.notify = NULL;
    CHECK_EQ(exec_engine_run(e, &src, &err), -EDEADLK);
    CHECK_HAS(err.msg, "the job source has nothing to run, no job is running");
    exec_engine_close(e);
    tl_check_clean("word");
    tl_rmdir(dir);
}

/* ---- chains and rounds ---- */

static void test_chain_rounds(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_CHAIN, 0);
    for (int i = 0; i < 20; i++)
        tl_add(&ts, "link", "true");
    CHECK_EQ(tl_run(e, &ts), 0);
    CHECK_EQ(ts.finals, 20);
    int order_ok = 1;
    for (uint32_t i = 1; i < 20; i++) {
        const struct exec_result *a = tl_final(&ts, i - 1), *b = tl_final(&ts, i);
        if (!a || !b || b->spawn_mono_ns < a->end_mono_ns)
            order_ok = 0;
    }
    CHECK(order_ok);
    tl_src_init(&ts, TL_ROUNDS, 5);
    for (int i = 0; i < 20; i++)
        tl_add(&ts, "round", "true");
    CHECK_EQ(tl_run(e, &ts), 0);
    CHECK_EQ(ts.finals, 20);
    exec_engine_close(e);
    tl_check_clean("chain_rounds");
    tl_rmdir(dir);
}

/* ---- failures of the engine's own setup ---- */

static void test_spawn_failure(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 1, tweak_mode);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "nofd", "true");
    /* no fd left for the pipes */
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    int lowest_free = 0;
    while (fcntl(lowest_free, F_GETFD) >= 0)
        lowest_free++;
    low = old;
    low.rlim_cur = (rlim_t)lowest_free;
    setrlimit(RLIMIT_NOFILE, &low);
    int rc = tl_run(e, &ts);
    setrlimit(RLIMIT_NOFILE, &old);
    CHECK_EQ(rc, 0);
    const struct exec_result *r = tl_final(&ts, 0);
    CHECK(r && r->outcome == EXEC_FAILED && r->spawn_err == -EMFILE && r->status == -1);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_NOTE, NULL);
    CHECK_HAS(l.p, "volley: cannot start the job: pipe: Too many open files");
    free(l.p);
    exec_engine_close(e);

    /* SIGCHLD ignored: refused with a sentence */
    e = tl_open(dir, 1, tweak_mode);
    signal(SIGCHLD, SIG_IGN);
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "x", "true");
    struct exec_source src = tl_source(&ts);
    struct vl_err err;
    rc = exec_engine_run(e, &src, &err);
    signal(SIGCHLD, SIG_DFL);
    CHECK_EQ(rc, -ECHILD);
    CHECK_HAS(err.msg, "SIGCHLD is ignored in this process");
    exec_engine_close(e);

    /* bad configuration */
    struct exec_config cfg;
    exec_config_defaults(&cfg);
    cfg.log_dir = dir;
    cfg.max_running = 0;
    CHECK(exec_engine_open(&cfg, &err) == NULL);
    CHECK_HAS(err.msg, "jobs at once must be between 1 and");
    cfg.max_running = 1;
    cfg.log_dir = "/nonexistent/volley/logs";
    CHECK(exec_engine_open(&cfg, &err) == NULL);
    CHECK_HAS(err.msg, "cannot open log index /nonexistent/volley/logs/seg-0000.idx");
    cfg.log_dir = dir;
    cfg.workdir = "/nonexistent/volley/wd";
    CHECK(exec_engine_open(&cfg, &err) == NULL);
    CHECK_HAS(err.msg, "cannot open the jobs' working directory /nonexistent/volley/wd");
    tl_check_clean("spawn_failure");
    tl_rmdir(dir);
}

/* The configured working directory and environment reach the job. */
static void test_workdir_env(void)
{
    const char *dir = tl_mkdir();
    static char *env[] = {
        "PATH=/usr/bin:/bin",     "KEEP=1",           "BAD-NAME=2", "KEEP=3", "VOLLEY_JOB_ID=spoof",
        "CUDA_VISIBLE_DEVICES=9", "PWD=/nonexistent", NULL};
    struct exec_config cfg;
    exec_config_defaults(&cfg);
    cfg.max_running = 1;
    cfg.log_dir = dir;
    cfg.workdir = dir;
    cfg.environ = env;
    cfg.run_dir = "/run/dir";
    cfg.disable = g_disable;
    cfg.spawn_mode = g_mode;
    struct vl_err err;
    struct exec_engine *e = exec_engine_open(&cfg, &err);
    CHECK(e != NULL);
    if (!e)
        return;
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "env", "env");
    tl_add(&ts, "gpu", "echo $CUDA_VISIBLE_DEVICES; pwd")->cuda_devices = "0,2";
    CHECK_EQ(tl_run(e, &ts), 0);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDOUT, NULL);
    CHECK_HAS(l.p, "KEEP=3\n");
    CHECK(!strstr(l.p, "KEEP=1\n") && !strstr(l.p, "BAD-NAME") && !strstr(l.p, "spoof"));
    CHECK_HAS(l.p, "VOLLEY_JOB_ID=0\n");
    CHECK_HAS(l.p, "VOLLEY_RUN_DIR=/run/dir\n");
    CHECK_HAS(l.p, "CUDA_VISIBLE_DEVICES=9\n");
    char want[600];
    char *real = realpath(dir, NULL);
    snprintf(want, sizeof want, "PWD=%s\n", real);
    CHECK_HAS(l.p, want);
    free(l.p);
    l = tl_read_log(dir, 1, 1, LOG_STDOUT, NULL);
    snprintf(want, sizeof want, "0,2\n%s\n", real);
    CHECK_STR(l.p, want);
    free(l.p);
    free(real);
    exec_engine_close(e);
    tl_check_clean("workdir_env");
    tl_rmdir(dir);
}

static void run_all(const char *label)
{
    fprintf(stderr, "== %s\n", label);
    test_basic();
    test_job_view();
    test_retries();
    test_recovery();
    test_timeouts();
    test_timeout_retries();
    test_not_found();
    test_binary_logs();
    test_concurrent_logs();
    test_enobufs();
    test_grandchild();
    test_leftovers();
    test_env_usage();
    test_stop(false);
    test_stop(true);
    test_cancel();
    test_cancel_at_spawn();
    test_outside_death();
    test_exit_before_kill();
    test_killed_at_spawn();
    test_word();
    test_chain_rounds();
    test_workdir_env();
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    run_all("async spawn, every io_uring feature");
    test_big_writer();
    test_spawn_failure();
    g_mode = SPAWN_VFORK;
    run_all("vfork spawn");
    g_mode = SPAWN_ASYNC;
    g_disable = EXEC_DISABLE_WAITID | EXEC_DISABLE_MULTISHOT | EXEC_DISABLE_PBUF_INC |
                EXEC_DISABLE_FUTEX | EXEC_DISABLE_PGRP_SIGNAL;
    run_all("fallbacks: poll+waitid, one-shot reads, whole buffers, no futex, kill(-pgid)");
    test_big_writer();
    return check_done();
}

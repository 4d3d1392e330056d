/*
 * test_exec_io.c - what the engine gives a job beside its command (issue
 * 21): its env (over the inherited environment, under what volley sets,
 * and to its recovery script), the TORC_* aliases, an action's command
 * without job ids; the stdio modes (what is captured, what goes to
 * /dev/null, that `none` makes no pipe); delete_on_success (a completed
 * job's output is zeros afterwards and its blocks are freed; a failed
 * one's and a neighbour's are kept); termination_signal; and SIGCHLD kept
 * blocked for a supervisor's thread.
 */
#include <pthread.h>

#include "core/logseg.h"
#include "exec_testlib.h"

static char *g_env[] = {"PATH=/usr/bin:/bin", "SHARED=inherited", "ONLY_BASE=b",
                        "CUDA_VISIBLE_DEVICES=7", NULL};

static void tweak_env(struct exec_config *c)
{
    c->environ = g_env;
    c->run_dir = "/the/run";
    c->max_env = 4;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p += n)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void test_env(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 2, tweak_env);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    static const char *const env0[] = {"SHARED=job", "MINE=1 2 3", "VOLLEY_JOB_ID=spoof",
                                       "TORC_JOB_NAME=spoof", "CUDA_VISIBLE_DEVICES=3"};
    struct exec_job *j = tl_add(&ts, "with_env", "env");
    j->env = env0;
    j->nenv = 5;
    tl_add(&ts, "without", "env");
    /* its own PATH: the shell looks the program up there, not volley */
    static char bindir[300];
    snprintf(bindir, sizeof bindir, "%s/bin", dir);
    mkdir(bindir, 0755);
    char prog[400];
    snprintf(prog, sizeof prog, "%s/only_here", bindir);
    FILE *f = fopen(prog, "w");
    fputs("#!/bin/sh\necho found me\n", f);
    fclose(f);
    chmod(prog, 0755);
    static char pathv[400];
    snprintf(pathv, sizeof pathv, "PATH=%s:/usr/bin:/bin", bindir);
    static const char *env2[1];
    env2[0] = pathv;
    j = tl_add(&ts, "own_path", "only_here");
    j->env = env2;
    j->nenv = 1;
    /* more entries than max_env: grown, all there */
    static const char *const env3[] = {"A1=1", "A2=2", "A3=3", "A4=4", "A5=5", "A6=6"};
    j = tl_add(&ts, "many", "env");
    j->env = env3;
    j->nenv = 6;
    /* GPUs of its own: volley's CUDA_VISIBLE_DEVICES wins over the job's */
    j = tl_add(&ts, "gpu", "echo $CUDA_VISIBLE_DEVICES");
    j->env = env0;
    j->nenv = 5;
    j->cuda_devices = "0";
    /* an action's command: no job ids, but the run directory and its env */
    j = tl_add(&ts, "action", "env");
    j->no_ids = true;
    j->env = env0 + 1;
    j->nenv = 1;
    CHECK_EQ(tl_run(e, &ts), 0);

    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDOUT, NULL);
    CHECK(has_line(l.p, "SHARED=job"));
    CHECK(!has_line(l.p, "SHARED=inherited"));
    CHECK(has_line(l.p, "MINE=1 2 3"));
    CHECK(has_line(l.p, "ONLY_BASE=b"));
    CHECK(has_line(l.p, "VOLLEY_JOB_ID=0"));
    CHECK(has_line(l.p, "TORC_JOB_ID=0"));
    CHECK(has_line(l.p, "VOLLEY_JOB_NAME=with_env"));
    CHECK(has_line(l.p, "TORC_JOB_NAME=with_env"));
    CHECK(has_line(l.p, "VOLLEY_ATTEMPT=1"));
    CHECK(has_line(l.p, "TORC_ATTEMPT_ID=1"));
    CHECK(has_line(l.p, "VOLLEY_RUN_DIR=/the/run"));
    CHECK(has_line(l.p, "TORC_OUTPUT_DIR=/the/run"));
    CHECK(has_line(l.p, "CUDA_VISIBLE_DEVICES=3")); /* the job's over the inherited */
    CHECK(!strstr(l.p, "spoof"));
    CHECK(!has_line(l.p, "CUDA_VISIBLE_DEVICES=7"));
    free(l.p);
    l = tl_read_log(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK(has_line(l.p, "SHARED=inherited"));
    CHECK(has_line(l.p, "CUDA_VISIBLE_DEVICES=7"));
    CHECK(has_line(l.p, "TORC_JOB_NAME=without"));
    CHECK(!strstr(l.p, "MINE="));
    free(l.p);
    const struct exec_result *r = tl_final(&ts, 2);
    CHECK(r && r->outcome == EXEC_COMPLETED && !(r->flags & EXEC_RES_DIRECT));
    l = tl_read_log(dir, 2, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "found me\n");
    free(l.p);
    l = tl_read_log(dir, 3, 1, LOG_STDOUT, NULL);
    for (int i = 1; i <= 6; i++) {
        char want[16];
        snprintf(want, sizeof want, "A%d=%d", i, i);
        CHECK(has_line(l.p, want));
    }
    free(l.p);
    l = tl_read_log(dir, 4, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "0\n");
    free(l.p);
    l = tl_read_log(dir, 5, 1, LOG_STDOUT, NULL);
    CHECK(!strstr(l.p, "VOLLEY_JOB_ID") && !strstr(l.p, "TORC_JOB_NAME") &&
          !strstr(l.p, "VOLLEY_ATTEMPT"));
    CHECK(has_line(l.p, "MINE=1 2 3"));
    CHECK(has_line(l.p, "VOLLEY_RUN_DIR=/the/run"));
    free(l.p);
    exec_engine_close(e);
    tl_check_clean("env");
    tl_rmdir(dir);
}

/* The recovery script gets the job's env, the return code under both
 * names. */
static void test_recovery_env(void)
{
    const char *dir = tl_mkdir();
    static struct spec_rule rules[1];
    static int32_t codes[1] = {3};
    static char pool[256];
    snprintf(pool + 1, sizeof pool - 1,
             "echo \"$MINE $VOLLEY_RETURN_CODE $TORC_RETURN_CODE $TORC_JOB_NAME\"");
    rules[0] = (struct spec_rule){.code_first = 0, .ncodes = 1, .max_retries = 1, .script_off = 1};
    static struct failpol fh;
    fh = (struct failpol){
        .rules = rules, .nrules = 1, .codes = codes, .ncodes = 1, .pool = pool, .pool_len = 256};
    struct exec_engine *e = tl_open(dir, 1, tweak_env);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    static const char *const env[] = {"MINE=mine"};
    struct exec_job *j = tl_add(&ts, "rec", "exit 3");
    j->env = env;
    j->nenv = 1;
    j->fh = &fh;
    CHECK_EQ(tl_run(e, &ts), 0);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_RECOVERY_OUT, NULL);
    CHECK_STR(l.p, "mine 3 3 rec\n");
    free(l.p);
    exec_engine_close(e);
    tl_check_clean("recovery_env");
    tl_rmdir(dir);
}

/* Whether a job of stdio mode m has stream i (0 out, 1 err) in a pipe of
 * its own (torc's meaning, written out). */
static bool captured(uint8_t m, int i)
{
    switch (m) {
    case SPEC_STDIO_SEPARATE:
        return true;
    case SPEC_STDIO_COMBINED:
    case SPEC_STDIO_NO_STDERR:
        return i == 0;
    case SPEC_STDIO_NO_STDOUT:
        return i == 1;
    default:
        return false;
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *b = vl_xcalloc(1, 4096);
    size_t n = fread(b, 1, 4095, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

/* Each stdio mode: what the log holds, and where fds 1 and 2 point. */
static void test_stdio(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 3, NULL);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    /* prints the targets of its fds 1 and 2 (on stderr too), in order */
    static const char cmd[] =
        "echo out1; echo err1 >&2; echo out2; "
        "echo \"fd1=$(readlink /proc/$$/fd/1) fd2=$(readlink /proc/$$/fd/2)\" > fds.$VOLLEY_JOB_ID";
    static const uint8_t modes[] = {SPEC_STDIO_SEPARATE, SPEC_STDIO_COMBINED, SPEC_STDIO_NO_STDOUT,
                                    SPEC_STDIO_NO_STDERR, SPEC_STDIO_NONE};
    static const char *const names[] = {"separate", "combined", "no_stdout", "no_stderr", "none"};
    for (int i = 0; i < 5; i++)
        tl_add(&ts, names[i], cmd)->stdio = modes[i];
    /* none: a job whose output nobody reads ends at its exit */
    tl_add(&ts, "none_bg", "sleep 30 & echo started")->stdio = SPEC_STDIO_NONE;
    char *old = getcwd(NULL, 0);
    CHECK_EQ(chdir(dir), 0); /* fds.N land in dir */
    uint64_t t0 = tl_now_ms();
    CHECK_EQ(tl_run(e, &ts), 0);
    uint64_t took = tl_now_ms() - t0;
    CHECK_EQ(chdir(old), 0);
    free(old);
    static const char *const want_out[] = {"out1\nout2\n", "out1\nerr1\nout2\n", "", "out1\nout2\n",
                                           ""};
    static const char *const want_err[] = {"err1\n", "", "err1\n", "", ""};
    for (uint32_t i = 0; i < 5; i++) {
        const struct exec_result *r = tl_final(&ts, i);
        CHECK(r && r->outcome == EXEC_COMPLETED);
        struct tl_log l = tl_read_log(dir, i, 1, LOG_STDOUT, NULL);
        if (strcmp(l.p, want_out[i]))
            fprintf(stderr, "stdio %s: stdout '%s'\n", names[i], l.p);
        CHECK_STR(l.p, want_out[i]);
        /* a stream that is not captured has no end record: nothing ran into it */
        CHECK_EQ(l.info.ended, captured(modes[i], 0));
        free(l.p);
        l = tl_read_log(dir, i, 1, LOG_STDERR, NULL);
        CHECK_STR(l.p, want_err[i]);
        CHECK_EQ(l.info.ended, captured(modes[i], 1));
        free(l.p);
        char p[400];
        snprintf(p, sizeof p, "%s/fds.%u", dir, i);
        char *fds = read_file(p);
        CHECK(fds != NULL);
        if (fds) {
            bool out_null = strstr(fds, "fd1=/dev/null ") != NULL;
            bool err_null = strstr(fds, "fd2=/dev/null\n") != NULL;
            CHECK_EQ(out_null, !captured(modes[i], 0));
            CHECK_EQ(err_null, !captured(modes[i], 1) && modes[i] != SPEC_STDIO_COMBINED);
            if (modes[i] == SPEC_STDIO_COMBINED) { /* one pipe for both */
                char a[128] = "", b[128] = "";
                sscanf(fds, "fd1=%127s fd2=%127s", a, b);
                CHECK(strncmp(a, "pipe:", 5) == 0);
                CHECK_STR(a, b);
            }
            free(fds);
        }
    }
    const struct exec_result *r = tl_final(&ts, 5);
    CHECK(r && r->outcome == EXEC_COMPLETED && !(r->flags & EXEC_RES_CUT_STDOUT));
    /* it did not wait for the background sleep's pipe (EOF wait is 300 ms
       here; a pipe held open would cut it after that, not end at exit) */
    CHECK(took < 20000);
    exec_engine_close(e);
    /* the background sleep is in the job's group: killed by the check */
    tl_kill_all();
    tl_npgids = 0;
    tl_rmdir(dir);
}

static uint64_t blocks_of(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
}

/* delete_on_success: a completed job's output reads as zeros and its
 * blocks are freed; a failed job's output and a concurrent job's stay. */
static void test_delete_on_success(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 3, NULL);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    /* 4 MiB in 64 KiB writes, interleaved with a neighbour's */
    static const char big[] = "head -c 4194304 /dev/zero | tr '\\0' x; echo; echo end >&2";
    tl_add(&ts, "deleted", big)->delete_on_success = true;
    tl_add(&ts, "neighbour", "for i in $(seq 200); do echo line $i; done");
    struct exec_job *j = tl_add(&ts, "failed", "echo kept; exit 1");
    j->delete_on_success = true;
    CHECK_EQ(tl_run(e, &ts), 0);
    char seg[512];
    logseg_path(seg, sizeof seg, dir, 0, false);
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDOUT, NULL);
    CHECK_U64(l.len, 4194305);
    bool zeros = true;
    for (size_t i = 0; i < l.len; i++)
        zeros = zeros && l.p[i] == 0;
    CHECK(zeros);
    free(l.p);
    l = tl_read_log(dir, 0, 1, LOG_NOTE, NULL);
    CHECK_HAS(l.p, "its output (4194309 bytes) is deleted (stdio delete_on_success)");
    free(l.p);
    /* the file keeps its size, but not the blocks of 4 MiB */
    struct stat sb;
    CHECK_EQ(stat(seg, &sb), 0);
    CHECK((uint64_t)sb.st_size > 4194304);
    CHECK(blocks_of(seg) < 1024 * 1024);
    l = tl_read_log(dir, 1, 1, LOG_STDOUT, NULL);
    CHECK_HAS(l.p, "line 1\nline 2\n");
    CHECK_HAS(l.p, "line 200\n");
    free(l.p);
    l = tl_read_log(dir, 2, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "kept\n");
    free(l.p);
    exec_engine_close(e);
    tl_check_clean("delete_on_success");
    tl_rmdir(dir);
}

static void tweak_usr1(struct exec_config *c)
{
    c->term_signal = SIGUSR1;
}

/* termination_signal: the first signal of a timeout is the configured one. */
static void test_term_signal(void)
{
    const char *dir = tl_mkdir();
    struct exec_engine *e = tl_open(dir, 1, tweak_usr1);
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    /* Its limit must come after the shell ran `trap` (SIGUSR1 would end it
     * before): at most 86 ms after the spawn with two CPU burners (as for
     * test_exec's stubborn job); 1000 ms is 10x that (was 300 ms). */
    tl_add(&ts, "usr1", "trap 'echo got usr1; exit 0' USR1; echo ready; sleep 30 & wait")
        ->runtime_ms = 1000;
    CHECK_EQ(tl_run(e, &ts), 0);
    const struct exec_result *r = tl_final(&ts, 0);
    CHECK(r && r->outcome == EXEC_TERMINATED && !(r->flags & EXEC_RES_KILLED));
    struct tl_log l = tl_read_log(dir, 0, 1, LOG_STDOUT, NULL);
    CHECK_STR(l.p, "ready\ngot usr1\n");
    free(l.p);
    l = tl_read_log(dir, 0, 1, LOG_NOTE, NULL);
    CHECK_HAS(l.p, "runtime of 1000 ms exceeded: SIGUSR1 to the job's process group");
    free(l.p);
    exec_engine_close(e);
    tl_kill_all(); /* the orphaned sleep of its group */
    tl_npgids = 0;
    tl_rmdir(dir);
}

static void tweak_blocked(struct exec_config *c)
{
    c->sigchld_blocked = true;
}

struct thr {
    const char *dir;
    struct tl_src *ts;
    int rc;
};

/* The ring is SINGLE_ISSUER: opened, run and closed on the thread. */
static void *engine_thread(void *arg)
{
    struct thr *t = arg;
    struct exec_engine *e = tl_open(t->dir, 2, tweak_blocked);
    t->rc = tl_run(e, t->ts);
    exec_engine_close(e);
    return NULL;
}

/* sigchld_blocked: an engine on a thread whose process waits for SIGCHLD
 * elsewhere (the supervisor's actions) reaps its jobs and leaves their
 * SIGCHLD pending for that other thread. */
static void test_sigchld_blocked(void)
{
    const char *dir = tl_mkdir();
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, &old);
    struct timespec zero = {0};
    while (sigtimedwait(&chld, NULL, &zero) > 0)
        ;
    static struct tl_src ts;
    tl_src_init(&ts, TL_FLAT, 0);
    tl_add(&ts, "a", "true");
    tl_add(&ts, "b", "exit 4");
    struct thr t = {.dir = dir, .ts = &ts};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, engine_thread, &t), 0);
    pthread_join(th, NULL);
    CHECK_EQ(t.rc, 0);
    const struct exec_result *r = tl_final(&ts, 1);
    CHECK(r && r->status == 4);
    CHECK_EQ(sigtimedwait(&chld, NULL, &zero), SIGCHLD); /* left for this thread */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    tl_check_clean("sigchld_blocked");
    tl_rmdir(dir);
}

int main(void)
{
    test_env();
    test_recovery_env();
    test_stdio();
    test_delete_on_success();
    test_term_signal();
    test_sigchld_blocked();
    return check_done();
}

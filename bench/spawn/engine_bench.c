/*
 * engine_bench.c - drives the execution engine (core/exec.h) with N jobs
 * of one command (default `true`) and reports jobs/s and the runner's CPU
 * per job, in the key=value form of spawn_probe, so that run_bench.sh can
 * put both, and make -jK, side by side in the same run.
 *
 * Shapes (-s):
 *   flat    N independent jobs
 *   rounds  R rounds (-r, default 4) of N/R jobs; a round is released when
 *           every job of the previous one has ended (a barrier)
 *   chain   each job released when the previous one ended; also reports
 *           the latency from a reaped exit (the WAITID completion) to the
 *           next job's spawn (just before clone), p50 / p99 / max, and
 *           from the end (exit and both EOFs) to the next spawn
 *
 * runner_us = getrusage(RUSAGE_SELF) user + system around exec_engine_run,
 * per job: the engine's process, not the jobs. foreign_cpu_s = CPU time the
 * rest of the machine used meanwhile (contention on a shared VM).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/exec.h"
#include "tests/lib/scratch.h"

struct bsrc {
    uint32_t n, next, ended, released, round;
    int shape; /* 0 flat, 1 rounds, 2 chain */
    const char *cmd;
    const char *const *env; /* -E: each job's own env entries */
    uint32_t nenv;
    uint8_t stdio; /* -o: enum spec_stdio */
    uint64_t *spawn_ns, *exit_ns, *end_ns;
    uint32_t failed;
};

static enum exec_next b_next(void *ctx, struct exec_job *job)
{
    struct bsrc *b = ctx;
    if (b->next >= b->n)
        return EXEC_NEXT_DONE;
    if (b->shape && b->next >= b->released)
        return EXEC_NEXT_EMPTY;
    job->jid = b->next++;
    job->attempt = 1;
    job->name = "bench";
    job->cmd = b->cmd;
    job->env = b->env;
    job->nenv = b->nenv;
    job->stdio = b->stdio;
    return EXEC_NEXT_JOB;
}

static void b_done(void *ctx, const struct exec_result *r)
{
    struct bsrc *b = ctx;
    b->spawn_ns[r->jid] = r->spawn_mono_ns;
    b->exit_ns[r->jid] = r->exit_mono_ns;
    b->end_ns[r->jid] = r->end_mono_ns;
    if (r->outcome != EXEC_COMPLETED)
        b->failed++;
    b->ended++;
    if (b->shape == 2)
        b->released = b->ended + 1;
    else if (b->shape == 1 && b->ended % b->round == 0)
        b->released = b->ended + b->round;
}

static double busy_s(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    int r = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (r < 8)
        return 0;
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double tv(struct timeval t)
{
    return (double)t.tv_sec + (double)t.tv_usec * 1e-6;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: engine_bench [-s flat|rounds|chain] [-n N] [-k K] [-r ROUNDS] "
                    "[-c CMD] [-p CPU] [-m async|vfork] [-S] [-N] [-E N] "
                    "[-o separate|combined|no_stdout|no_stderr|none] [-t TAG]\n"
                    "  -S  always through /bin/sh -c (no direct exec)\n"
                    "  -N  leave the engine thread SCHED_OTHER (not SCHED_BATCH)\n"
                    "  -E  give each job N env entries of its own (a workflow's env)\n"
                    "  -o  the jobs' stdio mode (default separate)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct bsrc b = {.n = 20000, .cmd = "true"};
    uint32_t k = 1, rounds = 4;
    int pin = -1, opt, no_direct = 0, normal_sched = 0;
    enum spawn_mode mode = SPAWN_ASYNC;
    const char *tag = "-", *shape_name = "flat", *stdio_name = "separate";
    static const char *const stdio_names[] = {"separate", "combined", "no_stdout", "no_stderr",
                                              "none"};
    while ((opt = getopt(argc, argv, "s:n:k:r:c:p:m:SNt:E:o:")) != -1) {
        switch (opt) {
        case 's':
            shape_name = optarg;
            if (!strcmp(optarg, "flat"))
                b.shape = 0;
            else if (!strcmp(optarg, "rounds"))
                b.shape = 1;
            else if (!strcmp(optarg, "chain"))
                b.shape = 2;
            else
                usage();
            break;
        case 'n':
            b.n = (uint32_t)atol(optarg);
            break;
        case 'k':
            k = (uint32_t)atol(optarg);
            break;
        case 'r':
            rounds = (uint32_t)atol(optarg);
            break;
        case 'c':
            b.cmd = optarg;
            break;
        case 'p':
            pin = atoi(optarg);
            break;
        case 'm':
            if (!strcmp(optarg, "async"))
                mode = SPAWN_ASYNC;
            else if (!strcmp(optarg, "vfork"))
                mode = SPAWN_VFORK;
            else
                usage();
            break;
        case 'S':
            no_direct = 1;
            break;
        case 'N':
            normal_sched = 1;
            break;
        case 't':
            tag = optarg;
            break;
        case 'E': {
            b.nenv = (uint32_t)atol(optarg);
            char **env = calloc(b.nenv + 1, sizeof *env);
            for (uint32_t i = 0; i < b.nenv; i++)
                if (asprintf(&env[i], "BENCH_VAR_%u=value number %u", i, i) < 0)
                    return 2;
            b.env = (const char *const *)env;
            break;
        }
        case 'o': {
            uint32_t m = 0;
            while (m < 5 && strcmp(optarg, stdio_names[m]))
                m++;
            if (m == 5)
                usage();
            b.stdio = (uint8_t)m;
            stdio_name = stdio_names[m];
            break;
        }
        default:
            usage();
        }
    }
    if (b.n < 2 || k < 1 || rounds < 1 || b.n % rounds)
        usage();
    b.round = b.shape == 1 ? b.n / rounds : 1;
    b.released = b.shape == 1 ? b.round : 1;
    b.spawn_ns = calloc(b.n, sizeof(uint64_t));
    b.exit_ns = calloc(b.n, sizeof(uint64_t));
    b.end_ns = calloc(b.n, sizeof(uint64_t));

    char dir[] = "/tmp/volley-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    scratch_guard(dir); /* removed at exit, an error's too, and on signals */
    struct exec_config cfg;
    exec_config_defaults(&cfg);
    cfg.max_running = k;
    cfg.log_dir = dir;
    cfg.pin_cpu = pin;
    cfg.spawn_mode = mode;
    cfg.no_direct = no_direct;
    cfg.normal_sched = normal_sched;
    cfg.max_env = b.nenv;
    struct vl_err err;
    struct exec_engine *e = exec_engine_open(&cfg, &err);
    if (!e) {
        fprintf(stderr, "engine_bench: %s\n", err.msg);
        return 2;
    }
    struct exec_source src = {.ctx = &b, .next = b_next, .done = b_done};
    struct rusage r0, r1;
    double b0 = busy_s();
    struct rusage c0, c1;
    getrusage(RUSAGE_CHILDREN, &c0);
    getrusage(RUSAGE_SELF, &r0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = exec_engine_run(e, &src, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    getrusage(RUSAGE_SELF, &r1);
    getrusage(RUSAGE_CHILDREN, &c1);
    double b1 = busy_s();
    if (rc < 0) {
        fprintf(stderr, "engine_bench: %s\n", err.msg);
        return 1;
    }
    struct exec_stats st;
    exec_engine_stats(e, &st);
    exec_engine_close(e);
    scratch_guard_cleanup();

    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    double self_s = tv(r1.ru_utime) - tv(r0.ru_utime) + tv(r1.ru_stime) - tv(r0.ru_stime);
    double kids_s = tv(c1.ru_utime) - tv(c0.ru_utime) + tv(c1.ru_stime) - tv(c0.ru_stime);
    printf(
        "tag=%s engine=volley shape=%s mode=%s sched=%s stdio=%s env=%u k=%u n=%u pin=%d "
        "direct=%d cmd=%s wall_s=%.3f "
        "rate=%.1f runner_us=%.1f user_us=%.1f sys_us=%.1f cqes_per_job=%.2f "
        "waits_per_job=%.2f vcsw_per_job=%.2f ivcsw_per_job=%.2f child_cpu_s=%.2f "
        "foreign_cpu_s=%.2f failed=%u",
        tag, shape_name, mode == SPAWN_ASYNC ? "async" : "vfork", normal_sched ? "other" : "batch",
        stdio_name, b.nenv, k, b.n, pin, !no_direct, b.cmd[0] ? "x" : "-", wall, (double)b.n / wall,
        self_s / b.n * 1e6, (tv(r1.ru_utime) - tv(r0.ru_utime)) / b.n * 1e6,
        (tv(r1.ru_stime) - tv(r0.ru_stime)) / b.n * 1e6, (double)st.cqes / b.n,
        (double)st.waits / b.n, (double)(r1.ru_nvcsw - r0.ru_nvcsw) / b.n,
        (double)(r1.ru_nivcsw - r0.ru_nivcsw) / b.n, kids_s, b1 - b0 - self_s - kids_s, b.failed);
    if (b.shape == 2) {
        uint64_t *lat = calloc(b.n, sizeof *lat), *lat2 = calloc(b.n, sizeof *lat2);
        uint32_t m = 0;
        for (uint32_t j = 1; j < b.n; j++, m++) {
            lat[m] = b.spawn_ns[j] - b.exit_ns[j - 1];
            lat2[m] = b.spawn_ns[j] - b.end_ns[j - 1];
        }
        qsort(lat, m, sizeof *lat, cmp_u64);
        qsort(lat2, m, sizeof *lat2, cmp_u64);
        printf(" exit_to_spawn_p50_us=%.1f exit_to_spawn_p99_us=%.1f exit_to_spawn_max_us=%.1f "
               "end_to_spawn_p50_us=%.1f end_to_spawn_p99_us=%.1f",
               lat[m / 2] / 1e3, lat[(size_t)(m * 0.99)] / 1e3, lat[m - 1] / 1e3, lat2[m / 2] / 1e3,
               lat2[(size_t)(m * 0.99)] / 1e3);
        free(lat);
        free(lat2);
    }
    printf("\n");
    return b.failed ? 1 : 0;
}

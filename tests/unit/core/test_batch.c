/*
 * test_batch.c - what volley was given (capacity.h) and the batch job it
 * runs in (batch.h), against trees and programs of the test's own: cgroup
 * v1 and v2 memory limits and CPU quotas (a limit on an ancestor binds, a
 * larger one or none does not), SLURM_CPUS_ON_NODE, SLURM_MEM_PER_NODE,
 * SLURM_JOB_GPUS and CUDA_VISIBLE_DEVICES, the CPU affinity (narrowed to
 * one CPU); the Slurm job's facts from the environment and its end from a
 * stand-in scontrol (EndTime, Unknown, a failure, no answer, missing).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/batch.h"
#include "core/capacity.h"
#include "scratch.h"

static char g_root[4096];

static void put(const char *rel, const char *text)
{
    char p[8192];
    snprintf(p, sizeof p, "%s%s", g_root, rel);
    for (char *s = p + strlen(g_root) + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);
            *s = '/';
        }
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void clear_env(void)
{
    unsetenv("SLURM_CPUS_ON_NODE");
    unsetenv("SLURM_MEM_PER_NODE");
    unsetenv("SLURM_JOB_GPUS");
    unsetenv("CUDA_VISIBLE_DEVICES");
    unsetenv("SLURM_JOB_ID");
    unsetenv("SLURMD_NODENAME");
    unsetenv("SLURM_RESTART_COUNT");
}

static void fresh_root(const char *base, const char *name)
{
    snprintf(g_root, sizeof g_root, "%s/%s", base, name);
    mkdir(g_root, 0755);
}

static void test_capacity(const char *base)
{
    clear_env();
    struct capacity real;
    capacity_detect(&real, NULL);
    struct res_amount m;
    res_detect(&m);
    CHECK(real.cap.cpus >= 1 && real.cap.cpus <= m.cpus);
    CHECK(real.cap.memory_bytes >= 1 && real.cap.memory_bytes <= m.memory_bytes);

    /* v1: the memory cgroup's hierarchical limit (512 MiB), a quota of 1.5
     * CPUs on an ancestor of the cpu cgroup (2 CPUs, rounded up) */
    fresh_root(base, "v1");
    put("/proc/self/cgroup", "9:pids:/\n4:memory:/process_api/x1\n2:cpu,cpuacct:/a/b\n0::/\n");
    put("/sys/fs/cgroup/memory/process_api/x1/memory.stat",
        "cache 0\nhierarchical_memory_limit 536870912\nhierarchical_memsw_limit "
        "9223372036854771712\n");
    put("/sys/fs/cgroup/memory/process_api/x1/memory.limit_in_bytes", "9223372036854771712\n");
    put("/sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_quota_us", "-1\n");
    put("/sys/fs/cgroup/cpu,cpuacct/a/b/cpu.cfs_period_us", "100000\n");
    put("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_quota_us", "150000\n");
    put("/sys/fs/cgroup/cpu,cpuacct/a/cpu.cfs_period_us", "100000\n");
    struct capacity c;
    capacity_detect(&c, g_root);
    CHECK_U64(c.cap.memory_bytes, 512ull << 20);
    CHECK_STR(c.memory_from, "cgroup memory.limit_in_bytes");
    if (m.cpus > 2 || real.cap.cpus == m.cpus) {
        uint32_t want = m.cpus < 2 ? m.cpus : 2;
        CHECK_EQ(c.cap.cpus, want);
        if (m.cpus > 2)
            CHECK_STR(c.cpus_from, "cgroup cpu.cfs_quota_us");
    }
    /* without memory.stat, each level's limit: the parent's binds */
    fresh_root(base, "v1b");
    put("/proc/self/cgroup", "4:memory:/p/q\n");
    put("/sys/fs/cgroup/memory/p/q/memory.limit_in_bytes", "9223372036854771712\n");
    put("/sys/fs/cgroup/memory/p/memory.limit_in_bytes", "268435456\n");
    capacity_detect(&c, g_root);
    CHECK_U64(c.cap.memory_bytes, 256ull << 20);

    /* v2: memory.max on the cgroup (300 MiB) below a larger one; cpu.max
     * on the parent; "max" is no limit */
    fresh_root(base, "v2");
    put("/proc/self/cgroup", "0::/user.slice/job\n");
    put("/sys/fs/cgroup/user.slice/job/memory.max", "314572800\n");
    put("/sys/fs/cgroup/user.slice/memory.max", "1073741824\n");
    put("/sys/fs/cgroup/user.slice/job/cpu.max", "max 100000\n");
    put("/sys/fs/cgroup/user.slice/cpu.max", "100000 100000\n");
    capacity_detect(&c, g_root);
    CHECK_U64(c.cap.memory_bytes, 300ull << 20);
    CHECK_STR(c.memory_from, "cgroup memory.max");
    CHECK_EQ(c.cap.cpus, 1);
    if (m.cpus > 1 && real.cap.cpus > 1)
        CHECK_STR(c.cpus_from, "cgroup cpu.max");
    /* a limit above the machine's memory, or "max", is not a limit */
    fresh_root(base, "v2max");
    put("/proc/self/cgroup", "0::/\n");
    put("/sys/fs/cgroup/memory.max", "max\n");
    capacity_detect(&c, g_root);
    CHECK_U64(c.cap.memory_bytes, real.cap.memory_bytes);

    /* Slurm's figures win where they are the smallest */
    setenv("SLURM_CPUS_ON_NODE", "1", 1);
    setenv("SLURM_MEM_PER_NODE", "100", 1);
    setenv("SLURM_JOB_GPUS", "2,3", 1);
    capacity_detect(&c, g_root);
    CHECK_EQ(c.cap.cpus, 1);
    CHECK_STR(c.cpus_from, "SLURM_CPUS_ON_NODE");
    CHECK_U64(c.cap.memory_bytes, 100ull << 20);
    CHECK_STR(c.memory_from, "SLURM_MEM_PER_NODE");
    CHECK_EQ(c.cap.gpus, 2);
    CHECK_STR(c.gpus_from, "SLURM_JOB_GPUS");
    CHECK(c.slurm_gpus && !strcmp(c.slurm_gpus, "2,3"));
    setenv("CUDA_VISIBLE_DEVICES", "GPU-a,GPU-b,GPU-c", 1);
    capacity_detect(&c, g_root);
    CHECK_EQ(c.cap.gpus, 3);
    CHECK_STR(c.gpus_from, "CUDA_VISIBLE_DEVICES");
    CHECK(c.slurm_gpus == NULL);
    setenv("SLURM_MEM_PER_NODE", "not a number", 1);
    capacity_detect(&c, g_root);
    CHECK_STR(c.memory_from, "MemTotal");
    clear_env();

    /* the affinity: one CPU */
    cpu_set_t old, one;
    CHECK_EQ(sched_getaffinity(0, sizeof old, &old), 0);
    int cpu = -1;
    for (int i = 0; i < CPU_SETSIZE && cpu < 0; i++)
        if (CPU_ISSET(i, &old))
            cpu = i;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    CHECK_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    capacity_detect(&c, NULL);
    CHECK_EQ(c.cap.cpus, 1);
    if (m.cpus > 1)
        CHECK_STR(c.cpus_from, "CPU affinity");
    sched_setaffinity(0, sizeof old, &old);
}

/* A stand-in scontrol: prints what the test put in its file. */
static char g_fake[4096];
static void fake_scontrol(const char *base, const char *body)
{
    snprintf(g_fake, sizeof g_fake, "%s/scontrol", base);
    FILE *f = fopen(g_fake, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(g_fake, 0755);
}

static void test_batch(const char *base)
{
    clear_env();
    struct batch_job b;
    batch_detect(&b);
    CHECK(!b.in_slurm && b.job_id[0] == 0 && b.restart == -1 && b.node[0]);
    struct vl_err e = {0};
    uint64_t end = 1;
    CHECK_EQ(batch_end_time(&b, NULL, &end, &e), -ENOENT);
    CHECK_U64(end, 0);

    setenv("SLURM_JOB_ID", "77", 1);
    setenv("SLURMD_NODENAME", "n7", 1);
    setenv("SLURM_RESTART_COUNT", "2", 1);
    batch_detect(&b);
    CHECK(b.in_slurm && !strcmp(b.job_id, "77") && !strcmp(b.node, "n7") && b.restart == 2);

    /* scontrol's one-line answer; the end is local time */
    fake_scontrol(base, "[ \"$1 $2 $3 $4\" = 'show job -o 77' ] || exit 9\n"
                        "echo 'JobId=77 JobName=x UserId=u(0) RunTime=00:00:05 "
                        "TimeLimit=00:02:00 StartTime=2030-01-02T03:02:00 "
                        "EndTime=2030-01-02T03:04:05 Deadline=N/A'");
    CHECK_EQ(batch_end_time(&b, g_fake, &end, &e), 0);
    struct tm tm = {.tm_year = 130,
                    .tm_mon = 0,
                    .tm_mday = 2,
                    .tm_hour = 3,
                    .tm_min = 4,
                    .tm_sec = 5,
                    .tm_isdst = -1};
    CHECK_U64(end, (uint64_t)mktime(&tm) * 1000000000ull);
    fake_scontrol(base, "echo 'JobId=77 TimeLimit=UNLIMITED EndTime=Unknown Deadline=N/A'");
    CHECK_EQ(batch_end_time(&b, g_fake, &end, &e), -ENOENT);
    CHECK_HAS(e.msg, "has no time limit");
    fake_scontrol(base, "echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1");
    CHECK_EQ(batch_end_time(&b, g_fake, &end, &e), -EPROTO);
    CHECK_HAS(e.msg, "Invalid job id specified");
    fake_scontrol(base, "echo 'JobId=77 NotEndTime=2030-01-02T03:04:05'");
    CHECK_EQ(batch_end_time(&b, g_fake, &end, &e), -EPROTO);
    CHECK_HAS(e.msg, "no EndTime");
    fake_scontrol(base, "echo 'JobId=77 EndTime=soon'");
    CHECK_EQ(batch_end_time(&b, g_fake, &end, &e), -EPROTO);
    CHECK_HAS(e.msg, "is not a time");
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no-such-scontrol", base);
    CHECK_EQ(batch_end_time(&b, missing, &end, &e), -ENOEXEC);
    CHECK_HAS(e.msg, "is not installed");
    clear_env();
}

int main(void)
{
    char base[] = "/tmp/volley-test-batch.XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    scratch_guard(base);
    test_capacity(base);
    test_batch(base);
    scratch_guard_cleanup();
    return check_done();
}

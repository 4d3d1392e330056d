/*
 * capacity.c - what volley was given (capacity.h).
 *
 * The cgroup of this process is read from /proc/self/cgroup: "0::/path"
 * is the v2 one, "N:memory:/path" and "N:cpu,cpuacct:/path" the v1 ones.
 * Inside a cgroup namespace (a container) the paths are relative to its
 * root, which is also what is mounted at /sys/fs/cgroup, so the same walk
 * works. A limit anywhere on the way up binds, so each level's file is
 * read up to the mount's root and the smallest value kept. v1 reports no
 * limit as 2^63 rounded down to a page; anything from 2^62 up is none.
 * Hybrid systems mount v2 at /sys/fs/cgroup/unified: looked at too.
 */
#include "capacity.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NO_LIMIT (1ull << 62)

/* The first len - 1 bytes of the file at root + path, NUL-terminated; the
 * length, or -1. */
static ssize_t read_small(const char *root, const char *path, char *buf, size_t len)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s%s", root, path) >= (int)sizeof p)
        return -1;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return n;
}

/* A whole number at the start of s (after blanks); false if none. */
static bool parse_u64(const char *s, uint64_t *v)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno)
        return false;
    *v = x;
    return true;
}

struct cgpaths {
    char v2[1024];   /* "/path" of the v2 cgroup, "" if none */
    char mem[1024];  /* v1 memory cgroup */
    char cpu[1024];  /* v1 cpu cgroup */
    char cpudir[64]; /* its hierarchy's directory: "cpu,cpuacct" */
    bool has_v2, has_mem, has_cpu;
};

/* True if the comma-separated list has the controller c. */
static bool has_controller(const char *list, size_t len, const char *c)
{
    size_t cl = strlen(c);
    for (size_t i = 0; i < len;) {
        size_t n = 0;
        while (i + n < len && list[i + n] != ',')
            n++;
        if (n == cl && !memcmp(list + i, c, cl))
            return true;
        i += n + 1;
    }
    return false;
}

static void read_cgroups(const char *root, struct cgpaths *g)
{
    memset(g, 0, sizeof *g);
    char buf[8192];
    if (read_small(root, "/proc/self/cgroup", buf, sizeof buf) < 0)
        return;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c2[1] != '/')
            continue;
        const char *ctl = c1 + 1, *path = c2 + 1;
        size_t ctl_len = (size_t)(c2 - ctl);
        if (ctl_len == 0 && !strncmp(line, "0:", 2)) {
            snprintf(g->v2, sizeof g->v2, "%s", path);
            g->has_v2 = true;
        } else if (has_controller(ctl, ctl_len, "memory")) {
            snprintf(g->mem, sizeof g->mem, "%s", path);
            g->has_mem = true;
        } else if (has_controller(ctl, ctl_len, "cpu") && ctl_len < sizeof g->cpudir) {
            snprintf(g->cpu, sizeof g->cpu, "%s", path);
            memcpy(g->cpudir, ctl, ctl_len);
            g->cpudir[ctl_len] = 0;
            g->has_cpu = true;
        }
    }
}

/* What a limit file of one cgroup level says: the level's directory
 * (base + level) and the reader's argument; UINT64_MAX for no limit. */
typedef uint64_t (*level_fn)(const char *root, const char *dir, const void *arg);

/* Calls fn for base + path and every level above it, up to base itself;
 * returns the smallest value it gave (UINT64_MAX if none). */
static uint64_t walk_up(const char *root, const char *base, const char *path, level_fn fn,
                        const void *arg)
{
    char p[2048];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
        return UINT64_MAX;
    uint64_t best = UINT64_MAX;
    for (;;) {
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
            p[--n] = 0;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s%s", base, strcmp(p, "/") ? p : "");
        uint64_t v = fn(root, dir, arg);
        if (v < best)
            best = v;
        if (!strcmp(p, "/") || !*p)
            break;
        char *slash = strrchr(p, '/');
        if (slash == p)
            p[1] = 0;
        else if (slash)
            *slash = 0;
        else
            break;
    }
    return best;
}

/* One file of a level, its text turned into a value by parse. */
struct level_file {
    const char *file;
    uint64_t (*parse)(const char *text);
};

static uint64_t read_level_file(const char *root, const char *dir, const void *arg)
{
    const struct level_file *lf = arg;
    char f[4352], text[256];
    snprintf(f, sizeof f, "%s/%s", dir, lf->file);
    return read_small(root, f, text, sizeof text) > 0 ? lf->parse(text) : UINT64_MAX;
}

static uint64_t mem_value(const char *text)
{
    uint64_t v;
    return parse_u64(text, &v) && v < NO_LIMIT ? v : UINT64_MAX; /* "max": none */
}

/* v2 cpu.max: "QUOTA PERIOD" or "max PERIOD" -> CPUs, rounded up. */
static uint64_t cpu_max_value(const char *text)
{
    uint64_t q, per;
    const char *sp = strchr(text, ' ');
    if (!parse_u64(text, &q) || !sp || !parse_u64(sp, &per) || per == 0 || q == 0)
        return UINT64_MAX;
    return (q + per - 1) / per;
}

static const struct level_file mem_max = {"memory.max", mem_value};
static const struct level_file cpu_max = {"cpu.max", cpu_max_value};

/* v1 cpu.cfs_quota_us: microseconds per period, -1 for none. */
static uint64_t v1_quota_value(const char *text)
{
    uint64_t q;
    if (text[0] == '-' || !parse_u64(text, &q) || q == 0)
        return UINT64_MAX;
    return q;
}

/* One level's v1 CPU quota in CPUs (its quota over its period, rounded
 * up); UINT64_MAX if none. */
static uint64_t v1_level_quota(const char *root, const char *dir, const void *arg)
{
    (void)arg;
    char f[4352], text[64];
    uint64_t q = UINT64_MAX, per = 0;
    snprintf(f, sizeof f, "%s/cpu.cfs_quota_us", dir);
    if (read_small(root, f, text, sizeof text) > 0)
        q = v1_quota_value(text);
    snprintf(f, sizeof f, "%s/cpu.cfs_period_us", dir);
    if (q == UINT64_MAX || read_small(root, f, text, sizeof text) <= 0 || !parse_u64(text, &per) ||
        per == 0)
        return UINT64_MAX;
    return (q + per - 1) / per;
}

/* v1 memory: memory.stat's hierarchical_memory_limit is the limit of the
 * cgroup and its ancestors at once; without it, each level's file. */
static uint64_t v1_mem_limit(const char *root, const char *path)
{
    char f[4096], text[4096];
    snprintf(f, sizeof f, "/sys/fs/cgroup/memory%s/memory.stat", strcmp(path, "/") ? path : "");
    if (read_small(root, f, text, sizeof text) > 0) {
        const char *k = strstr(text, "hierarchical_memory_limit ");
        uint64_t v;
        if (k && (k == text || k[-1] == '\n') &&
            parse_u64(k + strlen("hierarchical_memory_limit "), &v))
            return v < NO_LIMIT ? v : UINT64_MAX;
    }
    static const struct level_file lf = {"memory.limit_in_bytes", mem_value};
    return walk_up(root, "/sys/fs/cgroup/memory", path, read_level_file, &lf);
}

/* A v2 limit file at the cgroup g.v2 and above: in the v2 root mounted at
 * /sys/fs/cgroup, else at /sys/fs/cgroup/unified (a hybrid host). */
static uint64_t v2_limit(const char *root, const struct cgpaths *g, const struct level_file *lf)
{
    uint64_t v = walk_up(root, "/sys/fs/cgroup", g->v2, read_level_file, lf);
    if (v == UINT64_MAX)
        v = walk_up(root, "/sys/fs/cgroup/unified", g->v2, read_level_file, lf);
    return v;
}

static uint32_t affinity_cpus(void)
{
    for (size_t n = 1024; n <= (1u << 20); n *= 4) {
        cpu_set_t *set = CPU_ALLOC(n);
        if (!set)
            return 0;
        size_t sz = CPU_ALLOC_SIZE(n);
        if (sched_getaffinity(0, sz, set) == 0) {
            int c = CPU_COUNT_S(sz, set);
            CPU_FREE(set);
            return c > 0 ? (uint32_t)c : 0;
        }
        CPU_FREE(set);
        if (errno != EINVAL)
            return 0;
    }
    return 0;
}

/* A positive whole number from the environment variable name, or 0. */
static uint64_t env_u64(const char *name)
{
    const char *s = getenv(name);
    uint64_t v;
    if (!s || vl_parse_u64(s, UINT64_MAX, &v) < 0)
        return 0;
    return v;
}

static void set_from(char *dst, const char *src)
{
    snprintf(dst, CAPACITY_FROM, "%s", src);
}

void capacity_detect(struct capacity *c, const char *root)
{
    memset(c, 0, sizeof *c);
    if (!root)
        root = "";
    struct res_amount machine;
    res_detect(&machine);
    struct cgpaths g;
    read_cgroups(root, &g);

    /* CPUs: SLURM_CPUS_ON_NODE first on a tie (it says why), then the
     * affinity and the quota only where they are below the machine */
    c->cap.cpus = machine.cpus;
    set_from(c->cpus_from, "online CPUs");
    uint64_t quota = UINT64_MAX;
    const char *quota_from = NULL;
    if (g.has_v2) {
        quota = v2_limit(root, &g, &cpu_max);
        quota_from = "cgroup cpu.max";
    }
    if (quota == UINT64_MAX && g.has_cpu) {
        char base[128];
        snprintf(base, sizeof base, "/sys/fs/cgroup/%s", g.cpudir);
        quota = walk_up(root, base, g.cpu, v1_level_quota, NULL);
        quota_from = "cgroup cpu.cfs_quota_us";
    }
    if (quota < c->cap.cpus) {
        c->cap.cpus = (uint32_t)quota;
        set_from(c->cpus_from, quota_from);
    }
    uint32_t aff = affinity_cpus();
    if (aff && aff < c->cap.cpus) {
        c->cap.cpus = aff;
        set_from(c->cpus_from, "CPU affinity");
    }
    uint64_t scpus = env_u64("SLURM_CPUS_ON_NODE");
    if (scpus && scpus <= c->cap.cpus) {
        c->cap.cpus = (uint32_t)scpus;
        set_from(c->cpus_from, "SLURM_CPUS_ON_NODE");
    }

    /* memory */
    c->cap.memory_bytes = machine.memory_bytes;
    set_from(c->memory_from, "MemTotal");
    uint64_t lim = UINT64_MAX;
    const char *lim_from = NULL;
    if (g.has_v2) {
        lim = v2_limit(root, &g, &mem_max);
        lim_from = "cgroup memory.max";
    }
    if (lim == UINT64_MAX && g.has_mem) {
        lim = v1_mem_limit(root, g.mem);
        lim_from = "cgroup memory.limit_in_bytes";
    }
    if (lim < c->cap.memory_bytes) {
        c->cap.memory_bytes = lim;
        set_from(c->memory_from, lim_from);
    }
    uint64_t smb = env_u64("SLURM_MEM_PER_NODE");
    if (smb && smb < (UINT64_MAX >> 20) && (smb << 20) <= c->cap.memory_bytes) {
        c->cap.memory_bytes = smb << 20;
        set_from(c->memory_from, "SLURM_MEM_PER_NODE");
    }

    /* GPUs */
    const char *sg = getenv("SLURM_JOB_GPUS");
    if (getenv("CUDA_VISIBLE_DEVICES")) {
        c->cap.gpus = machine.gpus; /* res_detect counts its entries */
        set_from(c->gpus_from, "CUDA_VISIBLE_DEVICES");
    } else if (sg && *sg) {
        c->cap.gpus = res_gpu_count(sg);
        c->slurm_gpus = sg;
        set_from(c->gpus_from, "SLURM_JOB_GPUS");
    } else {
        c->cap.gpus = machine.gpus;
        set_from(c->gpus_from, machine.gpus ? "/dev/nvidia*" : "none found");
    }
}

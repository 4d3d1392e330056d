/*
 * runopts.c - the options of run and resume (runopts.h).
 */
#include "runopts.h"

#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/batch.h"
#include "core/runctl.h"

#include "cli.h"

void runopts_default(struct runopts *o)
{
    memset(o, 0, sizeof *o);
    supervisor_opts_default(&o->sup);
    o->progress = -1;
    o->limits_want = CGROUP_AUTO;
    capacity_detect(&o->given, NULL);
}

/* "+1h30m", "+90m", "+600" (seconds) -> seconds; -1 if not that. */
static int64_t parse_span(const char *s)
{
    if (!*s)
        return -1;
    int64_t total = 0;
    while (*s) {
        if (*s < '0' || *s > '9')
            return -1;
        int64_t v = 0;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (*s++ - '0');
            if (v > 100000000)
                return -1;
        }
        int64_t unit = 1;
        switch (*s) {
        case 'd':
            unit = 86400;
            s++;
            break;
        case 'h':
            unit = 3600;
            s++;
            break;
        case 'm':
            unit = 60;
            s++;
            break;
        case 's':
            s++;
            break;
        case 0:
            break;
        default:
            return -1;
        }
        total += v * unit;
    }
    return total;
}

int runopts_parse_deadline(const char *s, uint64_t now_ns, uint64_t *wall_ns, struct vl_err *err)
{
    uint64_t at = 0;
    const char *forms = "give +DURATION (+90m, +1h30m), HH:MM[:SS], YYYY-MM-DDTHH:MM[:SS] or "
                        "@EPOCH";
    if (s[0] == '+') {
        int64_t secs = parse_span(s + 1);
        if (secs <= 0)
            return vl_err_set(err, -EINVAL, "--deadline: '%s' is not a duration: %s", s, forms);
        at = now_ns + (uint64_t)secs * 1000000000ull;
    } else if (s[0] == '@') {
        uint64_t e;
        if (vl_parse_u64(s + 1, UINT32_MAX * 4ull, &e) < 0)
            return vl_err_set(err, -EINVAL, "--deadline: '%s' is not a time: %s", s, forms);
        at = e * 1000000000ull;
    } else if (vl_parse_local_time(s, &at) < 0) {
        /* HH:MM[:SS] today, or tomorrow once it has passed */
        struct tm tm;
        time_t now = (time_t)(now_ns / 1000000000ull);
        localtime_r(&now, &tm);
        int h, m, sec = 0, used = 0;
        if ((sscanf(s, "%2d:%2d:%2d%n", &h, &m, &sec, &used) != 3 || s[used]) &&
            (sec = 0, used = 0, sscanf(s, "%2d:%2d%n", &h, &m, &used) != 2 || s[used]))
            return vl_err_set(err, -EINVAL, "--deadline: '%s' is not a time: %s", s, forms);
        if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59)
            return vl_err_set(err, -EINVAL, "--deadline: '%s' is not a time of day", s);
        tm.tm_hour = h;
        tm.tm_min = m;
        tm.tm_sec = sec;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t <= now) {
            tm.tm_mday++;
            tm.tm_isdst = -1;
            t = mktime(&tm);
        }
        at = (uint64_t)t * 1000000000ull;
    }
    if (at <= now_ns)
        return vl_err_set(err, -ERANGE, "--deadline: '%s' has passed", s);
    *wall_ns = at;
    return 0;
}

/* Applies option c with its value arg to o: 1, 0 if c is not one of
 * RUNOPTS_LONGOPTS, or -EINVAL with err filled. */
static int set_opt(int c, const char *arg, struct runopts *o, struct vl_err *err)
{
    double d;
    uint64_t u;
    switch (c) {
    case 'j':
        return cli_check_u32("-j", arg, 1, 1u << 20, &o->sup.max_running, err) ? 1 : -EINVAL;
    case 1000:
        return cli_check_u32("--workers", arg, 1, SUPERVISOR_MAX_WORKERS, &o->sup.workers, err)
                   ? 1
                   : -EINVAL;
    case 1001:
        o->cpus_given = true;
        return cli_check_u32("--cpus", arg, 1, 1u << 20, &o->sup.cap.cpus, err) ? 1 : -EINVAL;
    case 1002:
        if (vl_parse_size(arg, &u) < 0 || u == 0)
            return vl_err_set(err, -EINVAL, "--memory: '%s' is not a size (like 64g, 512m)", arg);
        o->sup.cap.memory_bytes = u;
        o->memory_given = true;
        return 1;
    case 1003:
        o->gpus_given = true;
        return cli_check_u32("--gpus", arg, 0, RES_MAX_GPUS, &o->sup.cap.gpus, err) ? 1 : -EINVAL;
    case 1004:
        if (!cli_check_double("--checkpoint-interval", arg, 0.01, 3600, &d, err))
            return -EINVAL;
        o->sup.ckpt_ms = (uint32_t)(d * 1000);
        return 1;
    case 1005:
        if (!cli_check_double("--kill-grace", arg, 0, 3600, &d, err))
            return -EINVAL;
        o->sup.kill_grace_ms = (uint32_t)(d * 1000);
        o->sup.kill_grace_given = true; /* over the workflow's sigterm_lead_seconds */
        return 1;
    case 1006:
        o->progress = 0;
        return 1;
    case 1007:
        o->progress = 1;
        return 1;
    case 1008:
        if (o->sup.max_failures > 1)
            return vl_err_set(err, -EINVAL, "--halt-on-failure and --max-failures: give one");
        o->sup.max_failures = 1;
        o->halt_given = true;
        return 1;
    case 1009:
        if (o->halt_given)
            return vl_err_set(err, -EINVAL, "--halt-on-failure and --max-failures: give one");
        return cli_check_u32("--max-failures", arg, 1, UINT32_MAX, &o->sup.max_failures, err)
                   ? 1
                   : -EINVAL;
    case 1010:
        return cli_check_u32("--max-pids", arg, 1, 1u << 22, &o->sup.max_pids, err) ? 1 : -EINVAL;
    case 1011:
        o->sup.bind_cpus = true;
        return 1;
    case 1012:
        o->sup.no_limits = true;
        return 1;
    case 1013: {
        bool ok;
        int m = cgroup_mode_parse(arg, &ok);
        if (!ok)
            return vl_err_set(err, -EINVAL,
                              "--limits-backend: '%s' is not one of auto, cgroup2, cgroup1, none",
                              arg);
        o->limits_want = m;
        o->sup.limits_forced = m != CGROUP_AUTO;
        return 1;
    }
    case 1014:
        if (runopts_parse_deadline(arg, vl_wall_ns(), &o->sup.deadline_ns, err) < 0)
            return -EINVAL;
        o->deadline_given = true;
        return 1;
    default:
        return 0;
    }
}

int runopts_parse(const char *cmd, int c, const char *arg, struct runopts *o)
{
    struct vl_err err = {0};
    int r = set_opt(c, arg, o, &err);
    return r < 0 ? cli_usage_error(cmd, "%s", err.msg) : r;
}

/* The options a run keeps, in the order a resume names them. */
static const int kept_codes[RUNOPTS_NKEPT] = {'j',  1000, 1001, 1002, 1003, 1004,
                                              1005, 1010, 1011, 1012, 1013};
static const struct option longopts[] = {RUNOPTS_LONGOPTS, {NULL, 0, NULL, 0}};

/* The long name of option c ("jobs" for -j). */
static const char *opt_name(int c)
{
    for (const struct option *l = longopts; l->name; l++)
        if (l->val == c)
            return l->name;
    return "?";
}

void runopts_kept_note(struct runopts_kept *k, int c, const char *arg)
{
    uint32_t i = 0;
    while (i < RUNOPTS_NKEPT && kept_codes[i] != c)
        i++;
    const char *name = opt_name(c);
    if (!arg) /* a flag (--bind-cpus, --no-limits) */
        arg = "yes";
    if (i == RUNOPTS_NKEPT || !snap_opt_check(name, arg))
        return; /* --quiet, --progress: this invocation's; a value volley.db cannot hold */
    uint32_t at = 0;
    while (at < k->n && strcmp(k->opt[at].name, name))
        at++;
    if (at == k->n)
        k->n++;
    k->opt[at] = (struct snap_opt){.name = name, .value = arg};
}

int runopts_apply_kept(struct runopts *o, const struct snap_opt *opts, uint32_t n,
                       const struct runopts_kept *given, const char *db_path, char *shown,
                       size_t len, struct vl_err *err)
{
    size_t at = 0;
    if (len)
        shown[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = 0;
        while (k < RUNOPTS_NKEPT && strcmp(opts[i].name, opt_name(kept_codes[k])))
            k++;
        if (k == RUNOPTS_NKEPT)
            return vl_err_set(err, VL_ECORRUPT,
                              "%s: the stored run option '%s' is not one this volley knows; the "
                              "file is damaged and this run cannot be resumed from it",
                              db_path, opts[i].name);
    }
    for (uint32_t k = 0; k < RUNOPTS_NKEPT; k++) {
        const char *name = opt_name(kept_codes[k]);
        const struct snap_opt *so = NULL;
        for (uint32_t i = 0; i < n && !so; i++)
            if (!strcmp(opts[i].name, name))
                so = &opts[i];
        bool again = false;
        for (uint32_t i = 0; given && i < given->n && !again; i++)
            again = !strcmp(given->opt[i].name, name);
        if (!so || again)
            continue; /* not stored, or replaced on this command line */
        char flag[48];
        snprintf(flag, sizeof flag, kept_codes[k] == 'j' ? "-j" : "--%s", name);
        struct vl_err e = {0};
        if (set_opt(kept_codes[k], so->value, o, &e) < 0)
            return vl_err_set(err, VL_ECORRUPT,
                              "%s: the stored run option %s '%s' does not parse (%s); the file "
                              "is damaged: give %s to `volley resume` to replace it",
                              db_path, flag, so->value, e.msg, flag);
        if (at < len)
            at += (size_t)snprintf(shown + at, len - at, "%s%s %s", at ? " " : "", flag, so->value);
    }
    return 0;
}

int runopts_limits(const char *cmd, struct runopts *o)
{
    struct vl_err err = {0};
    if (cgroup_detect(o->limits_want, &o->limits, &err) < 0)
        return cli_usage_error(cmd, "%s", err.msg);
    o->sup.limits = &o->limits;
    if (o->sup.bind_cpus) {
        cpu_set_t mine;
        uint32_t n = 0;
        if (sched_getaffinity(0, sizeof mine, &mine) == 0)
            n = (uint32_t)CPU_COUNT(&mine);
        if (n > RUNCTL_MAX_CPUS)
            n = RUNCTL_MAX_CPUS;
        if (o->sup.cap.cpus > n)
            return cli_usage_error(cmd,
                                   "--bind-cpus: %u CPUs to hand out (--cpus), but volley may "
                                   "run on %u",
                                   o->sup.cap.cpus, n);
    }
    return 0;
}

/* "13:45:07" today, else "2026-12-07 13:45:07" (local time). */
static const char *fmt_when(uint64_t wall_ns, char *buf, size_t len)
{
    time_t t = (time_t)(wall_ns / 1000000000ull), now = time(NULL);
    struct tm tm, tn;
    localtime_r(&t, &tm);
    localtime_r(&now, &tn);
    strftime(buf, len,
             tm.tm_year == tn.tm_year && tm.tm_yday == tn.tm_yday ? "%H:%M:%S"
                                                                  : "%Y-%m-%d %H:%M:%S",
             &tm);
    return buf;
}

void runopts_settle(struct runopts *o, const char *dir)
{
    struct batch_job b;
    batch_detect(&b);
    o->alloc = (struct snap_alloc){.restart = b.restart};
    snprintf(o->alloc.job_id, sizeof o->alloc.job_id, "%s", b.job_id);
    snprintf(o->alloc.node, sizeof o->alloc.node, "%s", b.node);
    o->sup.alloc = &o->alloc;
    /* SLURM_JOB_GPUS without CUDA_VISIBLE_DEVICES: the jobs' GPU entries
     * are the allocation's devices, as Slurm's own CUDA_VISIBLE_DEVICES
     * would name them */
    if (o->given.slurm_gpus && !getenv("CUDA_VISIBLE_DEVICES"))
        setenv("CUDA_VISIBLE_DEVICES", o->given.slurm_gpus, 1);

    const struct res_amount *c = &o->sup.cap;
    char mem[32];
    vl_fmt_bytes(c->memory_bytes, mem, sizeof mem);
    uint32_t j = o->sup.max_running ? o->sup.max_running : o->sup.cpus_allowed;
    fprintf(stderr, "volley: capacity %u CPU%s (%s), %s of memory (%s), %u GPU%s (%s); -j %u%s\n",
            c->cpus, c->cpus == 1 ? "" : "s", o->cpus_given ? "--cpus" : o->given.cpus_from, mem,
            o->memory_given ? "--memory" : o->given.memory_from, c->gpus, c->gpus == 1 ? "" : "s",
            o->gpus_given ? "--gpus" : o->given.gpus_from, j,
            o->sup.max_running ? "" : " (the CPUs)");

    char when[64];
    if (!o->deadline_given && b.in_slurm) {
        struct vl_err err = {0};
        uint64_t end;
        if (batch_end_time(&b, NULL, &end, &err) == 0) {
            o->sup.deadline_ns = end;
            fprintf(stderr, "volley: deadline %s (the end of Slurm job %s)\n",
                    fmt_when(end, when, sizeof when), b.job_id);
        } else {
            fprintf(stderr, "volley: no deadline: %s\n", err.msg);
        }
    } else if (o->deadline_given) {
        fprintf(stderr, "volley: deadline %s (--deadline)\n",
                fmt_when(o->sup.deadline_ns, when, sizeof when));
    }
    char fs[32];
    if (snap_fs_network(dir, fs, sizeof fs))
        fprintf(stderr,
                "volley: the run directory is on %s: volley.db keeps a rollback journal, not "
                "WAL (whose shared memory hosts cannot share); the arena stays in /dev/shm\n",
                fs);
}

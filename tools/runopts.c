/*
 * runopts.c - the options of run and resume (runopts.h).
 */
#include "runopts.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "core/runctl.h"

#include "cli.h"

void runopts_default(struct runopts *o)
{
    supervisor_opts_default(&o->sup);
    o->progress = -1;
    o->limits_want = CGROUP_AUTO;
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
        return cli_check_u32("--cpus", arg, 1, 1u << 20, &o->sup.cap.cpus, err) ? 1 : -EINVAL;
    case 1002:
        if (vl_parse_size(arg, &u) < 0 || u == 0)
            return vl_err_set(err, -EINVAL, "--memory: '%s' is not a size (like 64g, 512m)", arg);
        o->sup.cap.memory_bytes = u;
        return 1;
    case 1003:
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

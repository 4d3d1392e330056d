/*
 * report_fixture.c - a finished run directory made without running
 * anything, for `volley report`'s benchmark and tests: a workflow file is
 * loaded, its jobs are scheduled on L lanes as a runner at -j L would
 * (topological order, each job on the lane that frees first, no earlier
 * than its last parent's end), and the records go into volley.db through
 * persist/'s API (snap_create with the records, snap_finish). A real run of
 * 1M `true` jobs takes ~10 minutes here (~2,000 jobs/s); this takes
 * seconds, and the numbers are known in advance, so a test can check the
 * report's arithmetic.
 *
 *   report_fixture WF DIR [--lanes L] [--dur LO:HI] [--fail-every N]
 *                  [--class NAME:RSS_LO:RSS_HI:CPU_FRAC[:OOM[:TERM]]]...
 *
 * Durations: job j runs LO + (HI - LO) * ((j * 7919) % 1000) / 999
 * seconds (default 0.01:0.05). --fail-every N: every Nth job (jid % N ==
 * N - 1) fails with exit 1, and its descendants are canceled. --class:
 * the jobs of class NAME get usage: the k-th of its n jobs a peak of
 * RSS_LO + (RSS_HI - RSS_LO) * k / (n - 1) (sizes as 100m, 1g), CPU
 * CPU_FRAC x runtime x the class's CPUs (90% user, 10% system); its first
 * OOM jobs fail with exit 137, the next TERM are terminated at the
 * class's runtime. Jobs of other classes have no usage recorded.
 *
 * Exit 0, or 2 with a message.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader/load.h"
#include "persist/snap.h"

#define MAX_CLASSES 16

struct cls {
    char name[64];
    uint64_t lo, hi;
    double cpu_frac;
    uint32_t oom, term;
    uint32_t seen; /* jobs of it handled so far */
    uint32_t n;    /* jobs of it */
    int rr;        /* its index in the spec, -1 if unknown */
};

static int usage(const char *msg)
{
    fprintf(stderr,
            "report_fixture: %s\n"
            "usage: report_fixture WF DIR [--lanes L] [--dur LO:HI] [--fail-every N]\n"
            "                      [--class NAME:RSS_LO:RSS_HI:CPU_FRAC[:OOM[:TERM]]]...\n",
            msg);
    return 2;
}

static bool parse_class(char *arg, struct cls *c)
{
    char *f[6] = {0};
    int n = 0;
    for (char *p = strtok(arg, ":"); p && n < 6; p = strtok(NULL, ":"))
        f[n++] = p;
    if (n < 4)
        return false;
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", f[0]);
    c->rr = -1;
    char *end;
    c->cpu_frac = strtod(f[3], &end);
    if (vl_parse_size(f[1], &c->lo) < 0 || vl_parse_size(f[2], &c->hi) < 0 || *end || c->hi < c->lo)
        return false;
    c->oom = n > 4 ? (uint32_t)strtoul(f[4], NULL, 10) : 0;
    c->term = n > 5 ? (uint32_t)strtoul(f[5], NULL, 10) : 0;
    return true;
}

/* the lane that frees first: a linear scan (L is small in fixtures) */
static uint32_t first_free(const uint64_t *free_at, uint32_t lanes)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < lanes; i++)
        if (free_at[i] < free_at[best])
            best = i;
    return best;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"lanes", required_argument, NULL, 'l'},
                                         {"dur", required_argument, NULL, 'd'},
                                         {"fail-every", required_argument, NULL, 'f'},
                                         {"class", required_argument, NULL, 'c'},
                                         {NULL, 0, NULL, 0}};
    uint32_t lanes = 4, fail_every = 0;
    double dlo = 0.01, dhi = 0.05;
    struct cls cls[MAX_CLASSES];
    uint32_t ncls = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            lanes = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            if (sscanf(optarg, "%lf:%lf", &dlo, &dhi) != 2 || dlo < 0 || dhi < dlo)
                return usage("--dur needs LO:HI seconds");
            break;
        case 'f':
            fail_every = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            if (ncls == MAX_CLASSES || !parse_class(optarg, &cls[ncls]))
                return usage("--class needs NAME:RSS_LO:RSS_HI:CPU_FRAC[:OOM[:TERM]]");
            ncls++;
            break;
        default:
            return usage("unknown option");
        }
    }
    if (optind + 2 != argc || lanes < 1 || lanes > 65536)
        return usage("needs WF and DIR, and 1 <= L <= 65536");
    const char *wf = argv[optind], *dir = argv[optind + 1];

    struct spec s;
    struct spec_diags d = {0};
    if (spec_load_file(wf, &s, &d) < 0) {
        fprintf(stderr, "report_fixture: %s does not load\n", wf);
        spec_diags_free(&d);
        return 2;
    }
    spec_diags_free(&d);
    uint32_t n = s.njobs;
    for (uint32_t k = 0; k < ncls; k++)
        for (uint32_t r = 0; r < s.nrr; r++)
            if (!strcmp(spec_str(&s, s.rrs[r].name_off), cls[k].name))
                cls[k].rr = (int)r;
    for (uint32_t j = 0; j < n; j++)
        for (uint32_t k = 0; k < ncls; k++)
            cls[k].n += cls[k].rr >= 0 && s.rr[j] == (uint32_t)cls[k].rr;

    /* topological order (Kahn, FIFO) */
    uint32_t *order = calloc(n, sizeof *order), *left = calloc(n, sizeof *left);
    uint64_t *ready = calloc(n, sizeof *ready), *free_at = calloc(lanes, sizeof *free_at);
    uint8_t *bad_parent = calloc(n, 1);
    struct snap_job *rec = calloc(n, sizeof *rec);
    if (!order || !left || !ready || !free_at || !bad_parent || !rec) {
        fprintf(stderr, "report_fixture: out of memory\n");
        return 2;
    }
    uint32_t head = 0, tail = 0;
    for (uint32_t j = 0; j < n; j++) {
        left[j] = s.npar[j];
        if (!left[j])
            order[tail++] = j;
    }
    /* times from 0; shifted to the wall clock at the end */
    uint64_t makespan = 0;
    while (head < tail) {
        uint32_t j = order[head++];
        struct snap_job *r = &rec[j];
        snap_job_init(&s, j, r);
        if (bad_parent[j]) {
            r->state = SNAP_STATE_CANCELED; /* never ran: no attempt, no times */
            r->end_ns = ready[j] + 1;
        } else {
            double secs = dlo + (dhi - dlo) * (double)((uint64_t)j * 7919 % 1000) / 999.0;
            struct cls *k = NULL;
            for (uint32_t i = 0; i < ncls; i++)
                if (cls[i].rr >= 0 && s.rr[j] == (uint32_t)cls[i].rr)
                    k = &cls[i];
            r->state = SNAP_STATE_COMPLETED;
            if (fail_every && j % fail_every == fail_every - 1) {
                r->state = SNAP_STATE_FAILED;
                r->exit_code = 1;
            }
            if (k) {
                uint32_t at = k->seen++;
                uint64_t rt = s.rrs[k->rr].runtime_ms;
                if (at < k->oom) {
                    r->state = SNAP_STATE_FAILED;
                    r->exit_code = 137;
                } else if (at < k->oom + k->term && rt) {
                    r->state = SNAP_STATE_TERMINATED;
                    r->exit_code = 152;
                    secs = (double)rt / 1000.0;
                }
                r->max_rss_bytes =
                    k->n > 1 ? k->lo + (uint64_t)((double)(k->hi - k->lo) * at / (k->n - 1))
                             : k->hi;
                if (!r->max_rss_bytes)
                    r->max_rss_bytes = 1;
                uint32_t cpus = s.rrs[k->rr].num_cpus ? s.rrs[k->rr].num_cpus : 1;
                double cpu = k->cpu_frac * secs * cpus;
                r->cpu_user_s = cpu * 0.9;
                r->cpu_sys_s = cpu * 0.1;
            }
            uint32_t lane = first_free(free_at, lanes);
            uint64_t start = free_at[lane] > ready[j] ? free_at[lane] : ready[j];
            start += 20000; /* a spawn's ~20 us */
            r->attempt = 1;
            r->start_ns = start;
            r->end_ns = start + (uint64_t)(secs * 1e9);
            r->log_ref = SNAP_NO_LOG;
            free_at[lane] = r->end_ns;
        }
        if (r->end_ns > makespan)
            makespan = r->end_ns;
        for (uint64_t e = s.kid_off[j]; e < s.kid_off[j + 1]; e++) {
            uint32_t kid = s.kids[e];
            if (ready[kid] < r->end_ns)
                ready[kid] = r->end_ns;
            if (r->state != SNAP_STATE_COMPLETED && (s.flags[kid] & SPEC_JOB_CANCEL_ON_BLOCK))
                bad_parent[kid] = 1;
            if (--left[kid] == 0)
                order[tail++] = kid;
        }
    }
    if (tail != n) {
        fprintf(stderr, "report_fixture: the workflow has a cycle\n");
        return 2;
    }
    uint64_t base = vl_wall_ns() - makespan - 1000000;
    for (uint32_t j = 0; j < n; j++) {
        if (rec[j].start_ns)
            rec[j].start_ns += base;
        if (rec[j].end_ns)
            rec[j].end_ns += base;
    }
    mkdir(dir, 0755);
    char lanes_s[16];
    snprintf(lanes_s, sizeof lanes_s, "%u", lanes);
    struct snap_opt opt = {.name = "jobs", .value = lanes_s};
    struct snap_meta m = {.created_ns = base, .cwd = "/", .opts = &opt, .nopts = 1};
    if (getrandom(m.run_id, sizeof m.run_id, 0) != (ssize_t)sizeof m.run_id) {
        fprintf(stderr, "report_fixture: no random bytes for the run id\n");
        return 2;
    }
    vl_boot_id(m.boot_id);
    struct vl_err err = {0};
    struct snap *db = NULL;
    if (snap_create(&db, dir, &s, &m, rec, 0, &err) < 0 || snap_finish(db, &err) < 0) {
        fprintf(stderr, "report_fixture: %s\n", err.msg);
        return 2;
    }
    snap_close(db);
    printf("%s: %u jobs on %u lanes, %.3f s\n", dir, n, lanes, (double)makespan / 1e9);
    free(order);
    free(left);
    free(ready);
    free(free_at);
    free(bad_parent);
    free(rec);
    spec_free(&s);
    return 0;
}

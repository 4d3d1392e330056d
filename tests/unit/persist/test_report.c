/*
 * test_report.c - persist/report.h on run directories written through
 * snap_create with records made by hand, so every number is known: the
 * lanes (interval partitioning), the spans of running and interrupted
 * jobs, the counts with "interrupted" apart, the series (completions per
 * bin, running and ready averaged), the binned timeline, the barriers, the
 * failures by end time, the slowest jobs, and the resource classes with
 * their verdicts (over by OOM, by runtime and by nearness, under, ok,
 * unknown without usage) and suggested values.
 */
#include "persist/report.h"

#include <math.h>

#include "loader/load.h"
#include "persist_test.h"

#define S 1000000000ull /* ns per s */
#define MIB (1024ull * 1024)
#define T0 1700000000000000000ull

static const char wf[] = "name: rep\n"
                         "resource_requirements:\n"
                         "  - {name: tight, num_cpus: 1, memory: 100m, runtime: PT10S}\n"
                         "  - {name: roomy, num_cpus: 2, memory: 1g}\n"
                         "  - {name: fit, num_cpus: 1, memory: 200m}\n"
                         "  - {name: unused, num_cpus: 1, memory: 1m}\n"
                         "jobs:\n"
                         "  - {name: a, command: 'true', resource_requirements: tight}\n"
                         "  - {name: b, command: 'true', resource_requirements: roomy}\n"
                         "  - {name: c, command: 'true', resource_requirements: roomy}\n"
                         "  - {name: d, command: 'true', resource_requirements: fit}\n"
                         "  - {name: e, command: 'true', resource_requirements: fit}\n"
                         "  - {name: f, command: 'true'}\n"
                         "  - {name: g, command: 'true', depends_on: [f]}\n";

static void load(struct spec *s)
{
    struct spec_diags d = {0};
    int rc = spec_load_buffer(wf, sizeof wf - 1, "rep.yaml", s, &d);
    CHECK_EQ(rc, 0);
    spec_diags_free(&d);
}

static struct snap_job done(const struct spec *s, uint32_t jid, uint8_t state, double from,
                            double to)
{
    struct snap_job r;
    snap_job_init(s, jid, &r);
    r.state = state;
    r.attempt = 1;
    r.start_ns = T0 + (uint64_t)(from * S);
    r.end_ns = T0 + (uint64_t)(to * S);
    return r;
}

static void usage_of(struct snap_job *r, uint64_t rss, double cpu)
{
    r->max_rss_bytes = rss;
    r->cpu_user_s = cpu * 0.75;
    r->cpu_sys_s = cpu * 0.25;
}

/* a: [0,10) b: [0,5) c: [5,12) d: [10,20) e: [12,15) f: [15,16) g: [16,20):
 * at most two at once. */
static void make_run(const char *dir, struct spec *s, bool finished)
{
    load(s);
    struct snap_job r[7];
    r[0] = done(s, 0, SNAP_STATE_FAILED, 0, 10); /* tight: OOM-killed */
    r[0].exit_code = 137;
    usage_of(&r[0], 100 * MIB, 5);
    r[1] = done(s, 1, SNAP_STATE_COMPLETED, 0, 5); /* roomy: 100 MiB of 1 GiB */
    usage_of(&r[1], 100 * MIB, 4);                 /* 4 of 2 x 5 CPU-s */
    r[2] = done(s, 2, SNAP_STATE_COMPLETED, 5, 12);
    usage_of(&r[2], 200 * MIB, 7);                   /* 7 of 2 x 7 */
    r[3] = done(s, 3, SNAP_STATE_COMPLETED, 10, 20); /* fit: 150, 160 of 200 */
    usage_of(&r[3], 150 * MIB, 10);
    r[4] = done(s, 4, SNAP_STATE_TERMINATED, 12, 15);
    r[4].exit_code = 152;
    usage_of(&r[4], 160 * MIB, 3);
    r[5] = done(s, 5, SNAP_STATE_FAILED, 15, 16); /* no class, no usage */
    r[5].exit_code = 2;
    r[6] = done(s, 6, SNAP_STATE_COMPLETED, 16, 20);
    if (!finished) {
        r[6].state = SNAP_STATE_RUNNING; /* stopped while it ran */
        r[6].end_ns = 0;
    }
    struct snap_meta m = {.created_ns = T0, .cwd = "/"};
    m.run_id[0] = finished;
    struct snap *db = NULL;
    struct vl_err e = {0};
    CHECK_EQ(snap_create(&db, dir, s, &m, r, 0, &e), 0);
    CHECK_EQ(snap_finish(db, &e), 0);
    snap_close(db);
}

static const struct report_class *cls(const struct report *r, const char *name)
{
    for (uint32_t i = 0; i < r->nclasses; i++)
        if (!strcmp(r->classes[i].name, name))
            return &r->classes[i];
    return NULL;
}

static void test_finished(const char *base)
{
    char *dir = pt_subdir(base, "fin");
    struct spec s;
    make_run(dir, &s, true);
    struct report r;
    struct vl_err e = {0};
    int rc = report_open(&r, dir, &e);
    if (rc)
        fprintf(stderr, "report_open: %s\n", e.msg);
    CHECK_EQ(rc, 0);
    CHECK(!r.live && !r.from_arena);
    CHECK_STR(r.phase, "finished");
    CHECK_U64(r.done, 7);
    CHECK_U64(r.counts[SNAP_STATE_COMPLETED], 4);
    CHECK_U64(r.counts[SNAP_STATE_FAILED], 2);
    CHECK_U64(r.counts[SNAP_STATE_TERMINATED], 1);
    CHECK_U64(r.counts[WATCH_INTERRUPTED], 0);
    CHECK(r.have_usage);
    CHECK(fabs(r.cpu_s - 29) < 1e-9);

    /* lanes: a 0, b 1, c 1 (b ended at its start), d 0, e 1, f 1, g 1 */
    CHECK_EQ(r.nlanes, 2);
    CHECK_EQ(r.nspans, 7);
    static const uint32_t want_lane[7] = {0, 1, 1, 0, 1, 1, 1};
    for (uint32_t i = 0; i < r.nspans; i++) {
        CHECK_EQ(r.spans[i].lane, want_lane[r.spans[i].jid]);
        if (i)
            CHECK(r.spans[i - 1].start_ns <= r.spans[i].start_ns);
    }
    CHECK_U64(r.t0_ns, T0);
    CHECK_U64(r.t1_ns, T0 + 20 * S);

    /* series: 4 bins of 5 s */
    struct report_series se;
    report_series(&r, 4, &se);
    CHECK_U64(se.bin_ns, 5 * S);
    CHECK_EQ(se.completed[0] + se.completed[1] + se.completed[2] + se.completed[3], 4);
    CHECK_EQ(se.completed[1], 1); /* b at 5 s: the second bin */
    CHECK_EQ(se.failed[2], 1);    /* a at 10 s */
    CHECK_EQ(se.failed[3], 2);    /* e at 15, f at 16 */
    CHECK_EQ(se.completed[3], 2); /* c at 12 is bin 2; d and g at 20: the last bin */
    /* running: a and b in [0,5): 2; a and c: 2; d, c then e: 2; d, f then g: 2 */
    for (int i = 0; i < 4; i++)
        CHECK(fabs(se.running[i] - 2.0) < 1e-6);
    /* ready: g waits from f's end (16) to its start (16): nothing; roots
     * from creation (T0) to their start: c 5 s, d 10, e 12, f 15 -> 42 s
     * over bins of 5 s: [0,5) has c, d, e, f: 4; [5,10): d, e, f: 3;
     * [10,15): e 2 s, f 5 s: 1.4; [15,20): 0 */
    CHECK(fabs(se.ready[0] - 4.0) < 1e-6);
    CHECK(fabs(se.ready[1] - 3.0) < 1e-6);
    CHECK(fabs(se.ready[2] - 1.4) < 1e-6);
    CHECK(fabs(se.ready[3]) < 1e-6);
    report_series_fini(&se);

    /* binned: 2 rows of 4 bins; row 0 (a, d) busy [0,10) and [10,20) */
    struct report_bins b;
    report_bins(&r, 4, &b);
    CHECK_EQ(b.rows, 2);
    CHECK_EQ(b.lanes_per_row, 1);
    for (int i = 0; i < 4; i++)
        CHECK(fabs(b.busy[i] - 1.0) < 1e-6);
    CHECK(fabs(b.busy[4 + 3] - 1.0) < 1e-6); /* row 1 in [15,20): f then g */
    CHECK_EQ(b.fail[0 * 4 + 2], 1);          /* a ended failed at 10 s, lane 0 */
    CHECK_EQ(b.fail[1 * 4 + 3], 2);          /* e (15 s) and f (16 s), lane 1 */
    report_bins_fini(&b);

    /* failures by end time: a (10), e (15), f (16) */
    uint32_t f[2];
    CHECK_U64(report_failures(&r, f, 2), 3);
    CHECK_EQ(f[0], 0);
    CHECK_EQ(f[1], 4);
    /* slowest: a 10, d 10, c 7 (ties in jid order) */
    uint32_t sl[3];
    CHECK_EQ(report_slowest(&r, sl, 3), 3);
    CHECK_EQ(sl[0], 0);
    CHECK_EQ(sl[1], 3);
    CHECK_EQ(sl[2], 2);

    /* classes: spec order, none without jobs, then (none) */
    CHECK_EQ(r.nclasses, 4);
    const struct report_class *t = cls(&r, "tight"), *ro = cls(&r, "roomy"), *fi = cls(&r, "fit"),
                              *no = cls(&r, "(none)");
    CHECK(t && ro && fi && no && !cls(&r, "unused"));
    if (t && ro && fi && no) {
        CHECK_EQ(t->verdict, REPORT_OVER); /* OOM-killed, and 100 of 100 MiB */
        CHECK_U64(t->oom_killed, 1);
        CHECK_U64(t->near_memory, 1);
        CHECK_U64(t->suggested_memory, 200 * MIB); /* twice the request: a kill */
        CHECK_U64(t->near_runtime, 1);             /* 10 s of PT10S */
        CHECK_U64(t->suggested_runtime_ms, 60000); /* 1.5 x 10 s, up to a minute */
        CHECK_EQ(ro->verdict, REPORT_UNDER);       /* p95 200 MiB of 1 GiB */
        CHECK_U64(ro->max_rss_p95, 200 * MIB);
        CHECK_U64(ro->max_rss_max, 200 * MIB);
        CHECK_U64(ro->suggested_memory, 240 * MIB);
        CHECK(fabs(ro->cpu_efficiency - 11.0 / 24.0) < 1e-9);
        CHECK(fabs(ro->longest_s - 7) < 1e-9);
        CHECK_EQ(fi->verdict, REPORT_OVER); /* e was terminated */
        CHECK_U64(fi->terminated, 1);
        CHECK_U64(fi->suggested_memory, 192 * MIB); /* 160 x 1.2 */
        CHECK_EQ(no->verdict, REPORT_UNKNOWN);      /* f failed, exit 2: no usage */
        CHECK_U64(no->jobs, 2);
        CHECK(no->cpu_efficiency < 0);
        CHECK_U64(no->suggested_memory, 0);
        CHECK_STR(report_verdict_name(no->verdict), "unknown");
    }
    report_fini(&r);
    spec_free(&s);
    free(dir);
}

/* The same run stopped while g ran: g is interrupted, its span ends at the
 * stop (the finish), the phase is stopped. */
static void test_stopped(const char *base)
{
    char *dir = pt_subdir(base, "stop");
    struct spec s;
    make_run(dir, &s, false);
    struct report r;
    struct vl_err e = {0};
    CHECK_EQ(report_open(&r, dir, &e), 0);
    CHECK_STR(r.phase, "stopped");
    CHECK_U64(r.counts[SNAP_STATE_RUNNING], 0);
    CHECK_U64(r.counts[WATCH_INTERRUPTED], 1);
    CHECK_EQ(report_job_state(&r, 6), WATCH_INTERRUPTED);
    CHECK_STR(watch_state_name(WATCH_INTERRUPTED), "interrupted");
    bool seen = false;
    for (uint32_t i = 0; i < r.nspans; i++)
        if (r.spans[i].jid == 6) {
            seen = true;
            CHECK_U64(r.spans[i].end_ns, r.info.finished_ns);
        }
    CHECK(seen);
    CHECK_U64(r.t1_ns, r.info.finished_ns);
    report_fini(&r);
    spec_free(&s);
    free(dir);
}

/* Verdicts at the edges: ok when p95 is half the request exactly, under
 * just below; near the runtime; a run without any usage. */
static void test_edges(const char *base)
{
    static const char wf2[] = "name: edges\n"
                              "resource_requirements:\n"
                              "  - {name: half, num_cpus: 1, memory: 200m}\n"
                              "  - {name: below, num_cpus: 1, memory: 200m}\n"
                              "  - {name: slow, num_cpus: 1, memory: 1g, runtime: PT10S}\n"
                              "jobs:\n"
                              "  - {name: h, command: 'true', resource_requirements: half}\n"
                              "  - {name: b, command: 'true', resource_requirements: below}\n"
                              "  - {name: s, command: 'true', resource_requirements: slow}\n";
    char *dir = pt_subdir(base, "edges");
    struct spec s;
    struct spec_diags d = {0};
    CHECK_EQ(spec_load_buffer(wf2, sizeof wf2 - 1, "edges.yaml", &s, &d), 0);
    spec_diags_free(&d);
    struct snap_job r[3];
    r[0] = done(&s, 0, SNAP_STATE_COMPLETED, 0, 1);
    usage_of(&r[0], 100 * MIB, 1);
    r[1] = done(&s, 1, SNAP_STATE_COMPLETED, 0, 1);
    usage_of(&r[1], 100 * MIB - 1, 1);
    r[2] = done(&s, 2, SNAP_STATE_COMPLETED, 0, 9.5); /* 95% of PT10S */
    usage_of(&r[2], 700 * MIB, 9.5);
    struct snap_meta m = {.created_ns = T0, .cwd = "/"};
    struct snap *db = NULL;
    struct vl_err e = {0};
    CHECK_EQ(snap_create(&db, dir, &s, &m, r, 0, &e), 0);
    snap_close(db);
    struct report rep;
    CHECK_EQ(report_open(&rep, dir, &e), 0);
    CHECK_STR(rep.phase, "finished");
    const struct report_class *h = cls(&rep, "half"), *b = cls(&rep, "below"),
                              *sl = cls(&rep, "slow");
    CHECK(h && b && sl);
    if (h && b && sl) {
        CHECK_EQ(h->verdict, REPORT_OK);
        CHECK_U64(h->suggested_memory, 200 * MIB); /* keep it */
        CHECK_EQ(b->verdict, REPORT_UNDER);
        CHECK_U64(b->suggested_memory, 120 * MIB);
        CHECK_EQ(sl->verdict, REPORT_OVER);
        CHECK_U64(sl->near_runtime, 1);
        CHECK_U64(sl->suggested_runtime_ms, 60000); /* 9.5 x 1.5 s, up to a minute */
        CHECK(fabs(sl->cpu_efficiency - 1.0) < 1e-9);
    }
    report_fini(&rep);
    spec_free(&s);
    free(dir);

    /* no usage anywhere: unknown, nothing suggested */
    dir = pt_subdir(base, "nousage");
    CHECK_EQ(spec_load_buffer(wf2, sizeof wf2 - 1, "edges.yaml", &s, &d), 0);
    spec_diags_free(&d);
    for (uint32_t j = 0; j < 3; j++)
        r[j] = done(&s, j, SNAP_STATE_COMPLETED, 0, 1);
    CHECK_EQ(snap_create(&db, dir, &s, &m, r, 0, &e), 0);
    snap_close(db);
    CHECK_EQ(report_open(&rep, dir, &e), 0);
    CHECK(!rep.have_usage);
    for (uint32_t i = 0; i < rep.nclasses; i++) {
        CHECK_EQ(rep.classes[i].verdict, REPORT_UNKNOWN);
        CHECK_U64(rep.classes[i].with_usage, 0);
        CHECK_U64(rep.classes[i].suggested_memory, 0);
    }
    report_fini(&rep);
    spec_free(&s);
    free(dir);
}

/* Not a run directory: VL_ENOTRUN and a sentence. */
static void test_not_a_run(const char *base)
{
    struct report r;
    struct vl_err e = {0};
    CHECK_EQ(report_open(&r, base, &e), VL_ENOTRUN);
    CHECK_HAS(e.msg, "no volley.db");
    report_fini(&r);
}

int main(void)
{
    char *base = pt_tmpdir();
    test_finished(base);
    test_stopped(base);
    test_edges(base);
    test_not_a_run(base);
    pt_rmrf(base);
    free(base);
    return check_done();
}

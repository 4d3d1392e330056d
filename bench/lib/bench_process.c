/*
 * bench_process.c - the process-mode runners of `volley bench`: volley run
 * end to end, the spawn-rate limit, make and ninja on the same shape (see
 * bench_process.h for what each runs and how it is verified).
 *
 * Every runner is timed from its start to its exit, so each pays for
 * reading its own file: that is what a user waits for. volley's span from
 * the first job's start to the last job's end (from volley.db) is reported
 * beside it, the part that is the executor alone.
 *
 * The same job everywhere: /bin/true, which volley and make exec directly
 * (no shell: a path, no shell syntax), the probe execs itself, and ninja
 * can only start through /bin/sh -c (dash then execs it, one more exec).
 */
#include "bench/lib/bench_process.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "persist/rundir.h"
#include "persist/runstats.h"
#include "persist/snap.h"

extern char **environ;

#define JOB_CMD "/bin/true"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The parents of every job: CSR inverted from the spec's children. */
struct parents {
    uint64_t *off; /* [njobs + 1] */
    uint32_t *par; /* [nedges] */
};

static void parents_build(const struct spec *s, struct parents *p)
{
    p->off = vl_xcalloc((size_t)s->njobs + 1, sizeof *p->off);
    p->par = vl_xcalloc(s->nedges ? s->nedges : 1, sizeof *p->par);
    for (uint32_t j = 0; j < s->njobs; j++)
        p->off[j + 1] = p->off[j] + s->npar[j];
    uint64_t *fill = vl_xcalloc(s->njobs ? s->njobs : 1, sizeof *fill);
    for (uint32_t j = 0; j < s->njobs; j++)
        for (uint64_t e = s->kid_off[j]; e < s->kid_off[j + 1]; e++) {
            uint32_t k = s->kids[e];
            p->par[p->off[k] + fill[k]++] = j; /* j ascending: parents sorted */
        }
    free(fill);
}

static FILE *open_out(const char *dir, const char *name, struct vl_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    if (!f)
        vl_err_sys(err, -errno, "cannot create %s", path);
    return f;
}

static int close_out(FILE *f, const char *dir, const char *name, struct vl_err *err)
{
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return vl_err_set(err, -EIO, "cannot write %s/%s", dir, name);
    return 0;
}

/* limited: every job in a class with a memory limit (the limits axis) */
static void write_yaml(FILE *f, const struct spec *s, const struct parents *p, const char *shape,
                       bool limited)
{
    fprintf(f, "# volley bench: the %s shape, %" PRIu32 " jobs\nname: bench_%s\n", shape, s->njobs,
            shape);
    if (limited)
        fputs("resource_requirements:\n  - {name: lim, memory: 1g}\n", f);
    fputs("jobs:\n", f);
    for (uint32_t j = 0; j < s->njobs; j++) {
        fprintf(f, "  - {name: j%" PRIu32 ", command: " JOB_CMD "%s", j,
                limited ? ", resource_requirements: lim" : "");
        if (p->off[j + 1] > p->off[j]) {
            fputs(", depends_on: [", f);
            for (uint64_t e = p->off[j]; e < p->off[j + 1]; e++)
                fprintf(f, "%sj%" PRIu32, e > p->off[j] ? ", " : "", p->par[e]);
            fputc(']', f);
        }
        fputs("}\n", f);
    }
}

static void write_make(FILE *f, const struct spec *s, const struct parents *p)
{
    fputs("# volley bench: make execs /bin/true without a shell; $(info) names the job\n"
          "all:",
          f);
    for (uint32_t j = 0; j < s->njobs; j++)
        fprintf(f, " j%" PRIu32, j);
    fputs("\n.PHONY: all", f);
    for (uint32_t j = 0; j < s->njobs; j++)
        fprintf(f, " j%" PRIu32, j);
    fputc('\n', f);
    for (uint32_t j = 0; j < s->njobs; j++) {
        fprintf(f, "j%" PRIu32 ":", j);
        for (uint64_t e = p->off[j]; e < p->off[j + 1]; e++)
            fprintf(f, " j%" PRIu32, p->par[e]);
        fprintf(f, "\n\t$(info j%" PRIu32 ")" JOB_CMD "\n", j);
    }
}

static void write_ninja(FILE *f, const struct spec *s, const struct parents *p)
{
    fputs("# volley bench: outputs are never created, so every edge runs\n"
          "rule t\n  command = " JOB_CMD "\n",
          f);
    for (uint32_t j = 0; j < s->njobs; j++) {
        fprintf(f, "build j%" PRIu32 ": t", j);
        if (p->off[j + 1] > p->off[j]) {
            fputs(" ||", f);
            for (uint64_t e = p->off[j]; e < p->off[j + 1]; e++)
                fprintf(f, " j%" PRIu32, p->par[e]);
        }
        fputc('\n', f);
    }
}

int bproc_prepare(const char *dir, enum bench_shape shape, uint32_t njobs,
                  const struct bench_shape_opts *o, struct vl_err *err)
{
    struct spec s;
    int rc = bench_shape_gen(shape, njobs, o, &s, err);
    if (rc)
        return rc;
    struct parents p;
    parents_build(&s, &p);
    static const char *names[] = {"wf.yaml", "wf.mk", "build.ninja", "wf-limits.yaml"};
    for (int i = 0; i < 4 && rc == 0; i++) {
        FILE *f = open_out(dir, names[i], err);
        if (!f) {
            rc = err->code;
            break;
        }
        if (i == 0 || i == 3)
            write_yaml(f, &s, &p, bench_shape_name(shape), i == 3);
        else if (i == 1)
            write_make(f, &s, &p);
        else
            write_ninja(f, &s, &p);
        rc = close_out(f, dir, names[i], err);
    }
    free(p.off);
    free(p.par);
    spec_free(&s);
    return rc;
}

/* The directory of the running volley binary. */
static int self_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -errno;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, len, "%s", exe);
    return 0;
}

static bool probe_path(char *out, size_t len)
{
    char dir[PATH_MAX];
    if (self_dir(dir, sizeof dir) != 0)
        return false;
    snprintf(out, len, "%.3900s/bench/spawn/spawn_probe", dir);
    return access(out, X_OK) == 0;
}

bool bproc_in_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    char *copy = vl_xstrdup(path), *save = NULL;
    bool found = false;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char full[PATH_MAX];
        snprintf(full, sizeof full, "%s/%s", *d ? d : ".", prog);
        found = access(full, X_OK) == 0;
    }
    free(copy);
    return found;
}

const char *bproc_unavailable(enum bproc_runner r)
{
    char path[PATH_MAX];
    switch (r) {
    case BPROC_VOLLEY:
        return NULL;
    case BPROC_LIMIT:
        return probe_path(path, sizeof path)
                   ? NULL
                   : "the spawn probe (bench/spawn/spawn_probe next to volley) is not built";
    case BPROC_MAKE:
        return bproc_in_path("make") ? NULL : "make is not installed";
    case BPROC_NINJA:
        return bproc_in_path("ninja") ? NULL : "ninja is not installed";
    }
    return "unknown runner";
}

/*
 * Starts argv (PATH searched) in cwd with stdout and stderr to files
 * (NULL: /dev/null), waits for it. *status is the wait status; *wall the
 * seconds from the spawn to the reap.
 */
static int run_wait(char *const argv[], const char *cwd, const char *out, const char *errf,
                    int *status, double *wall, struct vl_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&fa, 2, errf ? errf : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    pid_t pid;
    double t0 = now_s();
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return vl_err_set(err, -rc, "cannot start %s: %s", argv[0], strerror(rc));
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return vl_err_sys(err, -errno, "waiting for %s", argv[0]);
    *wall = now_s() - t0;
    return 0;
}

static void describe_status(int st, char *buf, size_t len)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exit %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, len, "status %#x", (unsigned)st);
}

/* The last line of a file, for a failure message. */
static void last_line(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "re");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (line[0] != '\n')
            snprintf(buf, len, "%.*s", (int)strcspn(line, "\n"), line);
    if (f)
        fclose(f);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int bproc_rmtree(const char *path)
{
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/*
 * Counts the job names "jI" that start the lines of a file (make: the whole
 * line; ninja's log: the 4th tab-separated field). seen[] is a bitmap of
 * njobs bits; a name seen twice or out of range makes it false.
 */
static bool count_names(const char *path, int field, uint32_t njobs, uint64_t *distinct, char *why,
                        size_t whylen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(why, whylen, "cannot read %s: %s", path, strerror(errno));
        return false;
    }
    uint64_t *seen = vl_xcalloc((size_t)njobs / 64 + 1, sizeof *seen);
    char line[1024];
    bool ok = true;
    *distinct = 0;
    while (ok && fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        char *p = line;
        for (int i = 0; i < field && p; i++) {
            p = strchr(p, '\t');
            if (p)
                p++;
        }
        char *end;
        if (!p || p[0] != 'j' || p[1] < '0' || p[1] > '9')
            continue;
        unsigned long id = strtoul(p + 1, &end, 10);
        if (id >= njobs) {
            snprintf(why, whylen, "%s names job j%lu of %" PRIu32, path, id, njobs);
            ok = false;
        } else if (seen[id / 64] >> (id % 64) & 1) {
            snprintf(why, whylen, "job j%lu ran twice", id);
            ok = false;
        } else {
            seen[id / 64] |= 1ull << (id % 64);
            (*distinct)++;
        }
    }
    fclose(f);
    free(seen);
    if (ok && *distinct != njobs) {
        snprintf(why, whylen, "%" PRIu64 " of %" PRIu32 " jobs ran", *distinct, njobs);
        ok = false;
    }
    return ok;
}

/* volley.db of a finished run (through persist/'s reader, snap.h): njobs
 * jobs, each completed in attempt 1, and the run's arena gone from
 * /dev/shm (one left behind is removed, and the run is not verified). */
static void verify_volley_db(const char *rundir, uint32_t njobs, struct bproc_result *res)
{
    struct snap_info info;
    struct snap_iter *it = NULL;
    struct vl_err err = {0};
    if (snap_info_read(rundir, &info, &err) < 0) {
        snprintf(res->why, sizeof res->why, "%.240s", err.msg);
        return;
    }
    char shm[256];
    rundir_arena_path(info.run_id, shm, sizeof shm);
    snap_info_fini(&info);
    bool left = unlink(shm) == 0;
    /* rows: jobs that left their initial record (a job that never ran has none) */
    int64_t n = 0, ok = 0, t0 = INT64_MAX, t1 = 0;
    int rc = snap_iter_open(&it, rundir, &err);
    struct snap_job r;
    const char *name;
    while (rc >= 0 && (rc = snap_iter_next(it, &r, &name, &err)) == 1) {
        if (r.state <= SNAP_STATE_READY && r.attempt == 0 && r.start_ns == 0 && r.end_ns == 0)
            continue;
        n++;
        ok += r.state == SNAP_STATE_COMPLETED && r.attempt == 1;
        t0 = (int64_t)r.start_ns < t0 ? (int64_t)r.start_ns : t0;
        t1 = (int64_t)r.end_ns > t1 ? (int64_t)r.end_ns : t1;
    }
    snap_iter_close(it);
    if (rc < 0) {
        snprintf(res->why, sizeof res->why, "%.240s", err.msg);
        return;
    }
    res->span_s = n && t1 > t0 ? (double)(t1 - t0) * 1e-9 : 0;
    if (n != njobs)
        snprintf(res->why, sizeof res->why, "volley.db has %" PRId64 " jobs, not %" PRIu32, n,
                 njobs);
    else if (ok != njobs)
        snprintf(res->why, sizeof res->why,
                 "%" PRId64 " of %" PRIu32 " jobs completed in attempt 1", ok, njobs);
    else if (left)
        snprintf(res->why, sizeof res->why, "the run left its arena in /dev/shm");
    else
        res->verified = true;
}

static int run_volley(const char *dir, uint32_t njobs, uint32_t k, const char *limits,
                      struct bproc_result *res, struct vl_err *err)
{
    static unsigned seq;
    char wf[PATH_MAX], rundir[PATH_MAX], errf[PATH_MAX], kbuf[16];
    snprintf(wf, sizeof wf, "%s/%s", dir, limits ? "wf-limits.yaml" : "wf.yaml");
    snprintf(rundir, sizeof rundir, "%s/run-%u", dir, seq++);
    snprintf(errf, sizeof errf, "%s/volley.err", dir);
    snprintf(kbuf, sizeof kbuf, "%" PRIu32, k);
    /* K workers for K in flight: the setup of a node with K CPUs */
    char *argv[14] = {"/proc/self/exe", "run", wf,        "-j",        kbuf,
                      "--workers",      kbuf,  "--quiet", "--run-dir", rundir};
    int a = 10;
    if (limits && !strcmp(limits, "none")) {
        argv[a++] = "--limits-backend";
        argv[a++] = "none";
    } else if (limits && !strcmp(limits, "track")) {
        argv[a++] = "--no-limits";
    } else if (limits) {
        argv[a++] = "--max-pids";
        argv[a++] = "1000";
    }
    argv[a] = NULL;
    int st;
    int rc = run_wait(argv, NULL, NULL, errf, &st, &res->wall_s, err);
    if (rc)
        return rc;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char how[64], tail[160];
        describe_status(st, how, sizeof how);
        last_line(errf, tail, sizeof tail);
        snprintf(res->why, sizeof res->why, "volley run: %s: %s", how, tail);
    }
    struct bproc_result db = {0};
    verify_volley_db(rundir, njobs, &db);
    res->span_s = db.span_s;
    if (!res->why[0]) {
        res->verified = db.verified;
        snprintf(res->why, sizeof res->why, "%s", db.why);
    }
    /* the runner's own CPU (not the jobs'), written by the run */
    double cpu = runstats_cpu_us_per_job(rundir);
    if (cpu >= 0)
        res->runner_cpu_us = cpu;
    bproc_rmtree(rundir);
    return 0;
}

/* The placements of bench/spawn/run_bench.sh; the limit is the best. */
static int run_limit(const char *dir, uint32_t njobs, uint32_t k, struct bproc_result *res,
                     struct vl_err *err)
{
    /* The second one keeps the children on CPU 0 too, which a runner of
     * real jobs may not do: it counts for the limit, not for free_wall_s. */
    static const char *const place[][4] = {
        {"vfork", NULL, NULL, NULL},
        {"vfork", "-c", "0", NULL},
        {"async", NULL, NULL, NULL},
        {"async", "-c", "0", "-R"},
    };
    static const bool confined[] = {false, true, false, false};
    char probe[PATH_MAX], nbuf[16], kbuf[16], out[PATH_MAX];
    if (!probe_path(probe, sizeof probe))
        return vl_err_set(err, -ENOENT, "%s", bproc_unavailable(BPROC_LIMIT));
    snprintf(nbuf, sizeof nbuf, "%" PRIu32, njobs);
    snprintf(kbuf, sizeof kbuf, "%" PRIu32, k);
    snprintf(out, sizeof out, "%s/limit.out", dir);
    res->verified = true;
    double best = 0;
    for (size_t i = 0; i < VL_ARRAY_LEN(place); i++) {
        char *argv[12];
        int a = 0;
        argv[a++] = probe;
        argv[a++] = "-m";
        argv[a++] = (char *)place[i][0];
        argv[a++] = "-n";
        argv[a++] = nbuf;
        argv[a++] = "-k";
        argv[a++] = kbuf;
        for (int j = 1; j < 4 && place[i][j]; j++)
            argv[a++] = (char *)place[i][j];
        argv[a] = NULL;
        int st;
        double wall;
        int rc = run_wait(argv, NULL, out, NULL, &st, &wall, err);
        if (rc)
            return rc;
        char line[512];
        last_line(out, line, sizeof line);
        const char *w = strstr(line, " wall_s="), *f = strstr(line, " failed="),
                   *n = strstr(line, " n=");
        char how[64];
        describe_status(st, how, sizeof how);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !w || !f || !n || atol(f + 8) != 0 ||
            strtoul(n + 3, NULL, 10) != njobs) {
            snprintf(res->why, sizeof res->why, "spawn_probe -m %s: %s: %.150s", place[i][0], how,
                     line);
            res->verified = false;
            continue;
        }
        double pw = strtod(w + 8, NULL);
        if (pw > 0 && !confined[i] && (res->free_wall_s == 0 || pw < res->free_wall_s))
            res->free_wall_s = pw;
        if (pw > 0 && (best == 0 || pw < best)) {
            best = pw;
            snprintf(res->note, sizeof res->note, "%s%s%s", place[i][0],
                     place[i][1] ? " pinned to CPU 0" : "", place[i][3] ? ", children reset" : "");
        }
    }
    res->wall_s = best;
    if (best == 0)
        res->verified = false;
    return 0;
}

static int run_make(const char *dir, uint32_t njobs, uint32_t k, struct bproc_result *res,
                    struct vl_err *err)
{
    char mk[PATH_MAX], out[PATH_MAX], errf[PATH_MAX], kbuf[24];
    snprintf(mk, sizeof mk, "%s/wf.mk", dir);
    snprintf(out, sizeof out, "%s/make.out", dir);
    snprintf(errf, sizeof errf, "%s/make.err", dir);
    snprintf(kbuf, sizeof kbuf, "-j%" PRIu32, k);
    char *argv[] = {"make", "-r", "-s", kbuf, "-f", mk, NULL};
    int st;
    int rc = run_wait(argv, dir, out, errf, &st, &res->wall_s, err);
    if (rc)
        return rc;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char how[64], tail[160];
        describe_status(st, how, sizeof how);
        last_line(errf, tail, sizeof tail);
        snprintf(res->why, sizeof res->why, "make: %s: %s", how, tail);
        return 0;
    }
    uint64_t n;
    res->verified = count_names(out, 0, njobs, &n, res->why, sizeof res->why);
    return 0;
}

static int run_ninja(const char *dir, uint32_t njobs, uint32_t k, struct bproc_result *res,
                     struct vl_err *err)
{
    char log[PATH_MAX], deps[PATH_MAX], errf[PATH_MAX], kbuf[24];
    snprintf(log, sizeof log, "%s/.ninja_log", dir);
    snprintf(deps, sizeof deps, "%s/.ninja_deps", dir);
    snprintf(errf, sizeof errf, "%s/ninja.err", dir);
    snprintf(kbuf, sizeof kbuf, "-j%" PRIu32, k);
    unlink(log);
    unlink(deps);
    char *argv[] = {"ninja", kbuf, NULL};
    int st;
    int rc = run_wait(argv, dir, NULL, errf, &st, &res->wall_s, err);
    if (rc)
        return rc;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char how[64], tail[160];
        describe_status(st, how, sizeof how);
        last_line(errf, tail, sizeof tail);
        snprintf(res->why, sizeof res->why, "ninja: %s: %s", how, tail);
        return 0;
    }
    uint64_t n;
    res->verified = count_names(log, 3, njobs, &n, res->why, sizeof res->why);
    return 0;
}

int bproc_run(enum bproc_runner r, const char *dir, uint32_t njobs, uint32_t k, const char *limits,
              struct bproc_result *res, struct vl_err *err)
{
    *res = (struct bproc_result){0};
    /* a make above us (make bench) must not hand its jobserver to ours */
    unsetenv("MAKEFLAGS");
    unsetenv("MFLAGS");
    unsetenv("MAKELEVEL");
    switch (r) {
    case BPROC_VOLLEY:
        return run_volley(dir, njobs, k, limits, res, err);
    case BPROC_LIMIT:
        return run_limit(dir, njobs, k, res, err);
    case BPROC_MAKE:
        return run_make(dir, njobs, k, res, err);
    case BPROC_NINJA:
        return run_ninja(dir, njobs, k, res, err);
    }
    return vl_err_set(err, -EINVAL, "unknown runner");
}

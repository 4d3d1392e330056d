/*
 * watchlog.c - joblog.tsv, events.jsonl and rate.bin, written by the
 * supervisor (watchlog.h).
 *
 * Cost: one byte compare per changed record, and a formatted line per
 * state change (fprintf into a 1 MiB stdio buffer); measured on a 1M-job
 * run of `true` jobs in docs/watching.md. The supervisor is not on the
 * workers' path, so this never slows job starts directly.
 */
#include "persist/watchlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct watchlog {
    const struct arena *a;
    const _Atomic uint32_t *started;
    char dir[PATH_MAX];
    uint8_t *last; /* [njobs] the state each job had at the last note */
    FILE *joblog, *events;
    const struct vl_warn *warn;
    int rate_fd;
    struct watchlog_rate rate;
};

uint64_t watchlog_rate_sum(const struct watchlog_rate *r)
{
    /* FNV-1a over the bytes before sum */
    const uint8_t *p = (const uint8_t *)r;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < offsetof(struct watchlog_rate, sum); i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

bool watchlog_rate_load(const char *dir, struct watchlog_rate *r)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, RUNDIR_RATE) >= sizeof path)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = false;
    for (int tries = 0; tries < 3 && !ok; tries++)
        ok = pread(fd, r, sizeof *r, 0) == (ssize_t)sizeof *r && r->magic == WATCHLOG_RATE_MAGIC &&
             r->sum == watchlog_rate_sum(r) && r->next < WATCHLOG_RATE_N;
    close(fd);
    return ok;
}

double watchlog_rate_of(const struct watchlog_rate *r, uint64_t now_ns, uint64_t done_now,
                        uint64_t window_ns)
{
    if (r->count == 0)
        return -1;
    uint32_t n = r->count < WATCHLOG_RATE_N ? (uint32_t)r->count : WATCHLOG_RATE_N;
    /* newest first: the first sample at least window_ns old, else the oldest */
    int best = -1;
    for (uint32_t k = 1; k <= n; k++) {
        uint32_t i = (r->next + WATCHLOG_RATE_N - k) % WATCHLOG_RATE_N;
        if (r->s[i].wall_ns >= now_ns)
            continue;
        best = (int)i;
        if (now_ns - r->s[i].wall_ns >= window_ns)
            break;
    }
    if (best < 0 || done_now < r->s[best].done)
        return -1;
    return (double)(done_now - r->s[best].done) / ((double)(now_ns - r->s[best].wall_ns) / 1e9);
}

double watchlog_rate_read(const char *dir, uint64_t now_ns, uint64_t done_now, uint64_t window_ns)
{
    struct watchlog_rate r;
    return watchlog_rate_load(dir, &r) ? watchlog_rate_of(&r, now_ns, done_now, window_ns) : -1;
}

static FILE *open_append(const char *dir, const char *name, bool *fresh)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return NULL;
    struct stat st;
    *fresh = fstat(fd, &st) == 0 && st.st_size == 0;
    FILE *f = fdopen(fd, "a");
    if (!f) {
        close(fd);
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    return f;
}

/* joblog.tsv (with its header if new) and events.jsonl, for appending. */
static bool open_lines(struct watchlog *wl)
{
    bool fresh = false;
    if (!(wl->joblog = open_append(wl->dir, RUNDIR_JOBLOG, &fresh)))
        return false;
    if (fresh)
        fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n",
              wl->joblog);
    return (wl->events = open_append(wl->dir, RUNDIR_EVENTS, &fresh)) != NULL;
}

struct watchlog *watchlog_open(const char *run_dir, const struct arena *a,
                               const _Atomic uint32_t *started, const uint8_t *prev,
                               const struct vl_warn *warn)
{
    struct watchlog *wl = vl_xcalloc(1, sizeof *wl);
    wl->a = a;
    wl->warn = warn;
    wl->started = started;
    wl->rate_fd = -1;
    snprintf(wl->dir, sizeof wl->dir, "%s", run_dir);
    wl->last = malloc(a->njobs ? a->njobs : 1);
    if (!wl->last)
        goto fail;
    for (uint32_t j = 0; j < a->njobs; j++)
        wl->last[j] = prev ? prev[j] : (uint8_t)arena_job_state(a, j);
    if (!open_lines(wl))
        goto fail;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.*s/%s", PATH_MAX - 16, run_dir, RUNDIR_RATE);
    wl->rate_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (wl->rate_fd < 0)
        goto fail;
    wl->rate.magic = WATCHLOG_RATE_MAGIC;
    watchlog_flush(wl); /* the first sample: where this process started */
    return wl;
fail:
    vl_warnf(warn, "cannot write %s/%s: %s; the run goes on without them", run_dir,
             RUNDIR_JOBLOG " and " RUNDIR_EVENTS, strerror(errno));
    watchlog_close(wl);
    return NULL;
}

/* Line assembly without stdio's format parser: fprintf was 80% of the
 * cost of a line (callgrind, 20k jobs: 7,300 instructions per job). */
struct line {
    char *p;
    char b[1024];
};

static void put_s(struct line *l, const char *s)
{
    size_t n = strlen(s);
    memcpy(l->p, s, n);
    l->p += n;
}

static void put_u(struct line *l, uint64_t v)
{
    char t[24];
    int n = 0;
    do
        t[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *l->p++ = t[--n];
}

static void put_i(struct line *l, int64_t v)
{
    if (v < 0) {
        *l->p++ = '-';
        put_u(l, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u(l, (uint64_t)v);
    }
}

/* seconds.fraction of a time in ns, with digits decimals (3 or 6) */
static void put_secs(struct line *l, uint64_t ns, int digits)
{
    put_u(l, ns / 1000000000u);
    *l->p++ = '.';
    uint64_t frac = ns % 1000000000u;
    for (int d = 0; d < 9 - digits; d++)
        frac /= 10;
    for (int d = digits - 1; d >= 0; d--) {
        l->p[d] = (char)('0' + frac % 10);
        frac /= 10;
    }
    l->p += digits;
}

static void job_line(struct watchlog *wl, uint32_t jid, const struct snap_job *r)
{
    /* The record keeps the shell's exit value only (128 + N for a job
     * killed by signal N, -1 for one that could not be started), so
     * Signal is always 0 (docs/watching.md). */
    int code = r->exit_code;
    uint64_t run_ns = r->end_ns > r->start_ns ? r->end_ns - r->start_ns : 0;
    struct line l;
    l.p = l.b;
    put_u(&l, (uint64_t)jid + 1);
    put_s(&l, "\t:\t");
    put_secs(&l, r->start_ns, 3);
    *l.p++ = '\t';
    put_secs(&l, run_ns, 3);
    put_s(&l, "\t0\t0\t");
    put_i(&l, code);
    put_s(&l, "\t0\t");
    fwrite(l.b, 1, (size_t)(l.p - l.b), wl->joblog);
    /* one line per job: tabs and line breaks in a command become spaces */
    const char *cmd = arena_job_cmd(wl->a, jid);
    size_t n = strcspn(cmd, "\t\n\r");
    if (!cmd[n]) {
        fwrite(cmd, 1, n, wl->joblog);
    } else {
        for (const char *p = cmd; *p; p++)
            fputc(*p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p, wl->joblog);
    }
    fputc('\n', wl->joblog);
}

/* From the record volley.db gets, so that attempt (runs started) and
 * exit_code (only for a job that ran and ended) read as in `volley jobs`. */
static void event_line(struct watchlog *wl, uint32_t jid, unsigned from, const struct snap_job *r)
{
    bool ended = r->state >= SNAP_STATE_COMPLETED;
    uint64_t t = ended && r->end_ns                              ? r->end_ns
                 : r->state == SNAP_STATE_RUNNING && r->start_ns ? r->start_ns
                                                                 : vl_wall_ns();
    FILE *f = wl->events;
    struct line l;
    l.p = l.b;
    put_s(&l, "{\"t\":");
    put_secs(&l, t, 6);
    put_s(&l, ",\"job\":");
    fwrite(l.b, 1, (size_t)(l.p - l.b), f);
    const char *name = arena_job_name(wl->a, jid);
    vl_json_quote(f, name, strlen(name));
    l.p = l.b;
    put_s(&l, ",\"from\":\"");
    put_s(&l, snap_state_name(from));
    put_s(&l, "\",\"to\":\"");
    put_s(&l, snap_state_name(r->state));
    put_s(&l, "\",\"attempt\":");
    put_u(&l, r->attempt);
    if (ended && r->start_ns) {
        put_s(&l, ",\"exit_code\":");
        put_i(&l, r->exit_code);
    }
    put_s(&l, "}\n");
    fwrite(l.b, 1, (size_t)(l.p - l.b), f);
}

void watchlog_note(struct watchlog *wl, uint32_t jid, const struct snap_job *r)
{
    if (!wl || jid >= wl->a->njobs || r->state >= SNAP_NSTATES)
        return;
    unsigned from = wl->last[jid];
    if (from == r->state)
        return;
    wl->last[jid] = (uint8_t)r->state;
    if (wl->events)
        event_line(wl, jid, from, r);
    if (wl->joblog && r->state >= SNAP_STATE_COMPLETED && r->start_ns)
        job_line(wl, jid, r);
}

static void flush_file(struct watchlog *wl, FILE **f, const char *name)
{
    if (*f && (fflush(*f) != 0 || ferror(*f))) {
        vl_warnf(wl->warn, "cannot write %s/%s: %s; it stops here", wl->dir, name, strerror(errno));
        fclose(*f);
        *f = NULL;
    }
}

void watchlog_flush(struct watchlog *wl)
{
    if (!wl)
        return;
    flush_file(wl, &wl->joblog, RUNDIR_JOBLOG);
    flush_file(wl, &wl->events, RUNDIR_EVENTS);
    if (wl->rate_fd >= 0) {
        uint64_t c[ARENA_NSTATES];
        arena_counts(wl->a, c);
        struct watchlog_rate *r = &wl->rate;
        r->s[r->next].wall_ns = vl_wall_ns();
        r->s[r->next].done = arena_counts_finished(c);
        /* two reads, not one snapshot: a job that ends between them may
         * count as waiting in this sample; the next one corrects it */
        uint64_t started = wl->started ? atomic_load(wl->started) : c[ARENA_RUNNING];
        r->waiting = watchlog_waiting(c[ARENA_RUNNING], started);
        r->next = (r->next + 1) % WATCHLOG_RATE_N;
        r->count++;
        r->sum = watchlog_rate_sum(r);
        if (pwrite(wl->rate_fd, r, sizeof *r, 0) != (ssize_t)sizeof *r) {
            close(wl->rate_fd);
            wl->rate_fd = -1;
        }
    }
}

/* Flushes (a write error is its warning) and closes the two files. */
static void close_lines(struct watchlog *wl)
{
    flush_file(wl, &wl->joblog, RUNDIR_JOBLOG);
    flush_file(wl, &wl->events, RUNDIR_EVENTS);
    if (wl->joblog)
        fclose(wl->joblog);
    if (wl->events)
        fclose(wl->events);
    wl->joblog = wl->events = NULL;
}

void watchlog_close(struct watchlog *wl)
{
    if (!wl)
        return;
    if (wl->last)
        watchlog_flush(wl); /* with the last rate sample */
    close_lines(wl);
    if (wl->rate_fd >= 0)
        close(wl->rate_fd);
    free(wl->last);
    free(wl);
}

void watchlog_catchup(const char *run_dir, const struct arena *a, uint8_t *prev,
                      const struct snap_job *recs, size_t n, const struct vl_warn *warn)
{
    /* last: the caller's */
    struct watchlog wl = {.a = a, .rate_fd = -1, .last = prev, .warn = warn};
    snprintf(wl.dir, sizeof wl.dir, "%s", run_dir);
    if (!open_lines(&wl)) {
        vl_warnf(warn, "cannot write %s/%s: %s; they miss what the stopped run did", run_dir,
                 RUNDIR_JOBLOG " and " RUNDIR_EVENTS, strerror(errno));
    } else {
        for (size_t i = 0; i < n; i++)
            watchlog_note(&wl, recs[i].jid, &recs[i]);
    }
    close_lines(&wl);
}

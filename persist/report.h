/*
 * report.h - what `volley report` shows of a run, read from its run
 * directory (docs/report.md): the summary, the timeline (a lane per
 * running slot), completions and running/ready over time, the resource
 * classes with their verdicts, the failures and the slowest jobs. tools/
 * turns it into the HTML page (tools/report_html.c) and the --resources
 * table or JSON (tools/cmd_report.c); everything here is numbers.
 *
 * Sources: volley.db read-only (snap_read: the spec, for resource classes
 * and edges, and the records as of the last checkpoint); while the run's
 * arena is there (a live run, or a crashed runner's) its records replace
 * the checkpoint's, as watch.h does, so a report of a live run is a
 * snapshot of now. Nothing is written; no lock is taken.
 *
 * Usage (max_rss_bytes, cpu_user_s, cpu_sys_s of each job's last attempt,
 * snap_job_has_usage) is read where recorded; where none is, every figure
 * that needs it is "unknown" (a flag or a negative value below), never a
 * zero.
 *
 * Cost, measured on a 1M-job run (bench/report/, docs/report.md): reading
 * is snap_read (~1 s); lanes sort the started jobs once (O(n log n)); the
 * series and the binned timeline add each interval to difference arrays
 * in O(1), so the whole is O(n log n + bins x lanes), whatever the
 * durations.
 */
#ifndef VOLLEY_PERSIST_REPORT_H
#define VOLLEY_PERSIST_REPORT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "loader/spec.h"
#include "persist/snap.h"
#include "persist/watch.h" /* the states shown: WATCH_INTERRUPTED */

#define REPORT_NO_LANE UINT32_MAX
#define REPORT_NO_CLASS UINT32_MAX

/* The verdict on a resource class (`volley report --resources`). */
enum report_verdict {
    REPORT_UNKNOWN = 0, /* no usage recorded, nothing was killed */
    REPORT_OK = 1,
    REPORT_UNDER = 2, /* p95 of peak memory below half the request */
    REPORT_OVER = 3,  /* jobs were OOM-killed or ran past their runtime, or came within
                         10% of the memory or runtime limit */
};
const char *report_verdict_name(enum report_verdict v); /* "unknown", "ok", "under", "over" */

/* One resource class, or the jobs with none (rr REPORT_NO_CLASS). */
struct report_class {
    const char *name;      /* the class's, or "(none)"; points into the spec */
    uint32_t rr;           /* index in spec.rrs, or REPORT_NO_CLASS */
    uint32_t num_cpus;     /* requested (0: none) */
    uint32_t num_gpus;     /* requested */
    uint32_t pad;          /* zero */
    uint64_t memory_bytes; /* requested (0: none) */
    uint64_t runtime_ms;   /* requested (0: none) */
    uint64_t jobs;         /* jobs of this class */
    uint64_t ran;          /* ... that ran (an attempt began) */
    uint64_t with_usage;   /* ... with usage recorded */
    uint64_t max_rss_max;  /* peak memory, the largest (valid if with_usage) */
    uint64_t max_rss_p95;  /* its 95th percentile (nearest rank; valid if with_usage) */
    double cpu_s;          /* user + system CPU of the jobs with usage */
    double cpu_efficiency; /* cpu_s over (runtime x requested CPUs, 1 if none) of the
                              jobs with usage; < 0: unknown */
    double longest_s;      /* the longest last attempt of a finished job; < 0: none */
    uint64_t oom_killed;   /* failed with exit 137 (SIGKILL: the memory limit) */
    uint64_t terminated;   /* ran past the runtime */
    uint64_t near_memory;  /* peak memory at 90% of the request or more */
    uint64_t near_runtime; /* ran 90% of the runtime or more */
    enum report_verdict verdict;
    uint32_t pad2;                 /* zero */
    uint64_t suggested_memory;     /* what to request: bytes (MiB multiple); 0: none to give */
    uint64_t suggested_runtime_ms; /* what to request for runtime; 0: keep it */
};

/* A finished (or, live, running) job's place on the timeline. */
struct report_span {
    uint64_t start_ns, end_ns; /* wall clock; end: now if running, the stop if interrupted */
    uint32_t jid;
    uint32_t lane;
};

/* Per time bin of [t0_ns, t1_ns) (report_series). */
struct report_series {
    uint32_t nbins;
    uint32_t pad;
    uint64_t t0_ns, bin_ns;
    uint32_t *completed; /* [nbins] jobs that ended completed in the bin */
    uint32_t *failed;    /* [nbins] ... failed or terminated */
    float *running;      /* [nbins] jobs running, averaged over the bin */
    float *ready;        /* [nbins] jobs ready (parents done, not started), averaged */
};

/* The timeline, binned (above REPORT_MAX_BARS jobs): rows x bins cells. */
struct report_bins {
    uint32_t rows; /* lanes, or groups of lanes_per_row lanes if more than 256 */
    uint32_t lanes_per_row;
    uint32_t nbins;
    uint32_t pad;
    uint64_t t0_ns, bin_ns;
    float *busy;    /* [rows * nbins] fraction of the cell's time its lanes ran a job */
    uint32_t *fail; /* [rows * nbins] jobs that ended failed or terminated there */
};

#define REPORT_MAX_BARS 5000 /* up to this many spans, the page draws each job */
#define REPORT_MAX_ROWS 256  /* rows of the binned timeline at most */
#define REPORT_MAX_BARRIERS 100

struct report {
    char dir[PATH_MAX];    /* the run directory, absolute */
    struct snap_info info; /* metadata, options, the last checkpoint's counts */
    struct spec spec;
    struct snap_job *jobs; /* [njobs] current records */
    bool live;             /* its runner is alive: this is a snapshot */
    bool from_arena;       /* the records are the arena's (else the last checkpoint's) */
    bool have_usage;       /* some job has usage recorded */
    uint8_t pad[5];
    uint64_t now_ns;  /* wall clock when it was read */
    uint64_t stop_ns; /* when a stopped run stopped (its last checkpoint or its finish) */
    uint64_t counts[WATCH_NSTATES]; /* jobs per state, interrupted apart */
    uint64_t done;                  /* completed + failed + terminated + canceled */
    double elapsed_s;               /* created to now (live), else to the finish / last
                                       checkpoint: as `volley status` */
    const char *phase;              /* "running", "finished", "stopped": as `volley status` */
    double cpu_s;                   /* user + system CPU of the jobs with usage */
    /* the timeline */
    struct report_span *spans; /* [nspans] sorted by start */
    uint32_t nspans;
    uint32_t nlanes; /* lanes: the most jobs that ran at once */
    uint64_t t0_ns, t1_ns;
    uint32_t barriers[REPORT_MAX_BARRIERS]; /* barrier jobs that ended, by end */
    uint32_t nbarriers;
    /* resource classes, in spec order, then "(none)" if some job has none */
    struct report_class *classes;
    uint32_t nclasses;
};

/*
 * Reads run directory dir into r and computes the timeline's spans and
 * lanes, the barriers and the classes: 0, or a negative code with err set
 * (VL_ENOTRUN: not a run directory; VL_ECORRUPT, VL_EVERSION as
 * snap_read). r is the caller's: report_fini, also after a failure.
 */
int report_open(struct report *r, const char *dir, struct vl_err *err);
void report_fini(struct report *r);

/* The state a report shows for job jid: watch_state of its record. */
unsigned report_job_state(const struct report *r, uint32_t jid);

/* Completions, failures, running and ready over [t0_ns, t1_ns] in nbins
 * bins (>= 1). report_series_fini frees. */
void report_series(const struct report *r, uint32_t nbins, struct report_series *out);
void report_series_fini(struct report_series *s);

/* The binned timeline: nbins bins (>= 1) per row. report_bins_fini frees. */
void report_bins(const struct report *r, uint32_t nbins, struct report_bins *out);
void report_bins_fini(struct report_bins *b);

/* The jobs that ended failed or terminated, by end time: up to max jids
 * into out (caller's); returns how many there are in all. */
uint64_t report_failures(const struct report *r, uint32_t *out, uint32_t max);

/* The max longest-running finished jobs, longest first, into out; returns
 * how many were written. */
uint32_t report_slowest(const struct report *r, uint32_t *out, uint32_t max);

#endif /* VOLLEY_PERSIST_REPORT_H */

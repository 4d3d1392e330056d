/*
 * exec.h - the process-execution engine: runs jobs handed to it by a job
 * source, at most K at a time, on one io_uring; spawns, reaps, captures
 * logs, enforces runtimes, retries per failure handler, and stops or
 * cancels on request. One engine per worker thread (or process); the
 * caller opens it, runs it against a source, closes it.
 *
 * The engine knows nothing about the arena: a source (struct exec_source)
 * gives it jobs (next) and takes back the end of every attempt (done). When
 * the source has nothing now, the engine sleeps in the ring until an
 * attempt ends or the source's 32-bit word changes (IORING_OP_FUTEX_WAIT:
 * the arena bumps and FUTEX_WAKEs a word when it publishes work).
 *
 * The path of a job (docs/execution.md has the numbers):
 *   next() -> command split (direct exec or /bin/sh -c) -> two pipes ->
 *   clone(CLONE_VM|CLONE_PIDFD) + execve (spawn.h) -> WAITID on the pidfd,
 *   a multishot read per pipe into a provided-buffer ring, a TIMEOUT when
 *   the job has a runtime -> exit (what else the job started is killed:
 *   its group, cgroup.h, or its process group) + both EOFs (or the bounded
 *   EOF wait) + its group empty -> usage read -> logs flushed -> failure
 *   policy (retry / recovery script) -> done().
 *
 * Threads: open, run, cancel and close on one thread (the ring is
 * SINGLE_ISSUER); exec_engine_stop from anywhere, signal handlers included.
 * The callbacks run on that thread, inside exec_engine_run; they may call
 * exec_engine_cancel but not exec_engine_run.
 */
#ifndef VOLLEY_CORE_EXEC_H
#define VOLLEY_CORE_EXEC_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "core/cgroup.h"
#include "failpol.h"
#include "logread.h"
#include "spawn.h"
#include "uring_compat.h"

/* A job to start, filled by the source's next(). The pointers must stay
 * valid until the job's final done() (final == true). */
struct exec_job {
    uint32_t jid;             /* job id, the index in the workflow */
    uint32_t attempt;         /* its first attempt number here (1, or more on resume) */
    uint32_t lost;            /* of the attempts before, those cut short (a stop, a crash):
                                 not failures, so the failure handler does not count them */
    const char *name;         /* VOLLEY_JOB_NAME */
    const char *cmd;          /* the command, /bin/sh -c semantics */
    uint64_t runtime_ms;      /* 0: no limit; else SIGTERM after it, SIGKILL after the grace */
    const char *cuda_devices; /* CUDA_VISIBLE_DEVICES for it ("0,2"), or NULL: environment's */
    const struct failpol *fh; /* failure handler, or NULL: a failed attempt is final */
    uint64_t tag;             /* the source's own value, returned in every result */
    const char *const *env;   /* its own environment: nenv "KEY=VALUE" entries with distinct
                                 keys (the job's env merged with the workflow's); each
                                 replaces the inherited variable of its name, none replaces
                                 one volley sets (VOLLEY_*, TORC_* aliases). NULL: none */
    uint32_t nenv;
    uint8_t stdio;          /* enum spec_stdio: what of stdout and stderr is captured (0:
                               both, apart); the same for its recovery script */
    bool delete_on_success; /* once it completed, the segment space of its captured output
                               is given back (logseg_punch) */
    bool no_ids;            /* not a job (an action's command): no VOLLEY_JOB_ID, _NAME,
                               _ATTEMPT nor their TORC_ aliases */
    /* governance (docs/limits.md) */
    struct cgroup_slot *cg;   /* the group every process of the job runs in, held by the
                                 source until the final done(); NULL: none (what the job
                                 leaves is found by its process group, usage by rusage) */
    uint64_t mem_limit_bytes; /* memory limit (swap included), 0: none; with cg */
    uint32_t max_pids;        /* process limit, 0: none; with cg */
    uint32_t num_cpus;        /* VOLLEY_NUM_CPUS, and OMP_NUM_THREADS unless the environment
                                 has it; 0: neither is set */
    const cpu_set_t *cpus;    /* the CPUs it may run on (--bind-cpus), or NULL */
};

enum exec_next {
    EXEC_NEXT_JOB = 0,   /* *job is filled: start it */
    EXEC_NEXT_EMPTY = 1, /* nothing now: ask again after an attempt ends or the word changes */
    EXEC_NEXT_DONE = 2,  /* nothing ever again: run returns once running jobs are done */
};

enum exec_outcome {
    EXEC_COMPLETED = 0,  /* exit status 0 */
    EXEC_FAILED = 1,     /* nonzero exit, a signal we did not send, or not startable */
    EXEC_TERMINATED = 2, /* ran past runtime_ms: SIGTERM, then SIGKILL after the grace */
    EXEC_CANCELED = 3,   /* exec_engine_cancel */
    EXEC_STOPPED = 4,    /* exec_engine_stop: interrupted; run it again on resume */
};

/* flags of a result */
#define EXEC_RES_DIRECT (1u << 0)          /* ran without /bin/sh */
#define EXEC_RES_CUT_STDOUT (1u << 1)      /* stopped reading stdout after the EOF wait */
#define EXEC_RES_CUT_STDERR (1u << 2)      /* same for stderr */
#define EXEC_RES_RETRY (1u << 3)           /* another attempt follows (final is false) */
#define EXEC_RES_RECOVERY_RAN (1u << 4)    /* the recovery script ran after this attempt */
#define EXEC_RES_RECOVERY_FAILED (1u << 5) /* ... and failed, so the job failed */
#define EXEC_RES_KILLED (1u << 6)          /* SIGKILL was needed after the grace */
#define EXEC_RES_OOM (1u << 7)             /* the OOM killer ended a process of the job */

/* What an attempt used (docs/limits.md): from the job's group where it
 * has the counter, else from the reaped process's rusage (the process and
 * the children it waited for). */
struct exec_usage {
    uint64_t max_rss_bytes; /* peak memory */
    uint64_t cpu_user_us;   /* CPU time in user mode */
    uint64_t cpu_sys_us;    /* CPU time in the kernel */
};

/* The end of one attempt, passed to done(). */
struct exec_result {
    uint32_t jid, attempt;
    uint64_t tag;
    enum exec_outcome outcome;
    int status;                /* exit code, or 128 + signal; -1: never started */
    int term_sig;              /* the signal that ended it, or 0 */
    int spawn_err;             /* negative errno when it could not be started, else 0 */
    int pid;                   /* its process (and process group) id; 0 if never started */
    uint32_t flags;            /* EXEC_RES_* */
    bool final;                /* no further attempt of this job follows from the engine */
    uint64_t start_ns, end_ns; /* wall clock: spawn, and the end (exit and EOFs) */
    uint64_t spawn_mono_ns;    /* CLOCK_MONOTONIC just before clone */
    uint64_t exit_mono_ns;     /* when the exit was reaped (0: never started) */
    uint64_t end_mono_ns;      /* when the attempt ended (exit and both pipes) */
    struct logread_ref log;    /* where its logs begin: logread_copy's hint */
    struct exec_usage usage;   /* zero if it never started */
    uint32_t leftovers;        /* processes killed when its main process had ended */
    uint32_t oom_kills;        /* processes of it the OOM killer ended (EXEC_RES_OOM) */
};

struct exec_source {
    void *ctx;
    /* The next job to start; called while fewer than K run. */
    enum exec_next (*next)(void *ctx, struct exec_job *job);
    /* Optional: a process of job jid was cloned, pid leading its own
     * process group, for the attempt that began at start_ns (wall clock);
     * called for every attempt and recovery script, before anything else
     * can happen to it, so that another process can end the group should
     * this one die. */
    void (*started)(void *ctx, uint32_t jid, int pid, uint64_t start_ns);
    /* An attempt ended (every attempt, final or not). */
    void (*done)(void *ctx, const struct exec_result *res);
    /* Optional: a word that changes, with a FUTEX_WAKE, when work is
     * published. Read before next(); slept on while next() says EMPTY. */
    const uint32_t *word;
    bool word_private;  /* the word is in process-private memory */
    uint32_t word_mask; /* the FUTEX bitset of the wait: wakes aimed at other bits
                           pass it by (0: every bit) */
    /* Optional: called after the word changed (even while K jobs run), to
     * look for cancel requests; may call exec_engine_cancel. */
    void (*notify)(void *ctx);
};

/* Force fallbacks (tests, or a kernel that lies): EXEC_DISABLE_* */
#define EXEC_DISABLE_WAITID (1u << 0)      /* poll on the pidfd + waitid(P_PIDFD) */
#define EXEC_DISABLE_MULTISHOT (1u << 1)   /* one-shot reads */
#define EXEC_DISABLE_PBUF_INC (1u << 2)    /* whole-buffer consumption */
#define EXEC_DISABLE_FUTEX (1u << 3)       /* poll the source word every 5 ms */
#define EXEC_DISABLE_PGRP_SIGNAL (1u << 4) /* kill(-pgid) instead of pidfd to the group */

struct exec_config {
    uint32_t max_running;   /* K: jobs running at once (>= 1) */
    const char *log_dir;    /* existing directory for seg-NNNN.log/.idx */
    uint32_t log_id;        /* this engine's files: seg-<log_id> */
    const char *run_dir;    /* VOLLEY_RUN_DIR (NULL: log_dir) */
    const char *workdir;    /* jobs' working directory; NULL: the cwd at open */
    char *const *environ;   /* jobs' base environment; NULL: this process's */
    uint32_t kill_grace_ms; /* SIGTERM -> SIGKILL (default 5000) */
    uint32_t eof_wait_ms;   /* after exit, wait this long for the pipes' EOF (default 2000) */
    int pin_cpu;            /* >= 0: pin the engine's thread there; jobs get the original mask */
    enum spawn_mode spawn_mode; /* default SPAWN_ASYNC (docs/execution.md) */
    bool no_direct;             /* always /bin/sh -c */
    bool normal_sched;          /* keep the thread's policy; default: SCHED_BATCH during a run
                                   (docs/execution.md); the jobs reset to normal */
    uint32_t disable;           /* EXEC_DISABLE_* */
    uint32_t log_bufs;          /* provided 32 KiB buffers for pipe reads, rounded up to a
                                   power of two, at most 32768; 0: about two per running
                                   job, 16 to 1024 */
    int32_t timeout_code;       /* the exit code a failure handler (and its recovery
                                   script's VOLLEY_RETURN_CODE) sees for an attempt killed
                                   at its runtime (default FAILPOL_TIMEOUT_CODE, 152) */
    int term_signal;            /* sent first to stop, cancel or time out a job (default
                                   SIGTERM: execution_config.termination_signal);
                                   SIGKILL follows after kill_grace_ms */
    uint32_t max_env;           /* the most entries a job's env has (exec_job.nenv): room
                                   made per slot at open; 0: grown when a job needs it */
    bool sigchld_blocked;       /* keep SIGCHLD blocked during a run: another thread of
                                   this process waits for it (the supervisor, whose
                                   actions run on an engine); reaping does not need it */
    int32_t oom_code;           /* the exit code of an attempt the kernel killed in its
                                   cgroup for its memory (execution_config.oom_exit_code;
                                   default 137: 128 + SIGKILL) */
    bool keep_leftovers;        /* leave what a job started running when its main process
                                   ends (without a group: its process group); default: kill */
};

/* Sets the defaults above (K = 1, log_id 0, pin_cpu -1, SIGTERM). */
void exec_config_defaults(struct exec_config *cfg);

/* Counters since open, for benchmarks and the run summary. */
struct exec_stats {
    uint64_t spawned;      /* processes started (jobs, retries, recovery scripts) */
    uint64_t direct;       /* ... of them without /bin/sh */
    uint64_t spawn_errors; /* clone or pipe failures */
    uint64_t attempts;     /* attempts ended (done() calls) */
    uint64_t cqes;         /* completions handled */
    uint64_t waits;        /* io_uring_enter calls that waited */
    uint64_t log_bytes;    /* job output bytes captured */
    uint64_t log_flushes;  /* flushes that wrote */
    uint64_t rearms;       /* multishot reads re-armed (-ENOBUFS etc.) */
    uint64_t cuts;         /* streams cut after the EOF wait */
    uint64_t leftovers;    /* processes killed after their job's main process ended */
};

struct exec_engine;

/*
 * Sets up the ring (probing what the kernel offers), the buffer ring, the
 * log segment, the child stacks, the jobs' base environment. Returns NULL
 * with err set on failure (nothing left behind).
 */
struct exec_engine *exec_engine_open(const struct exec_config *cfg, struct vl_err *err);

/*
 * Runs jobs from src until it says DONE and every job ended (returns 0), or
 * until a stop request and every running job ended (returns 1). Each
 * attempt's end is reported to src->done once its logs are written.
 * Returns a negative code with err set when the engine cannot go on (the
 * ring failed; SIGCHLD is ignored; the source has nothing, nothing runs and
 * there is no word to wait on) or when log writes failed (after draining).
 * May be called again after it returned.
 */
int exec_engine_run(struct exec_engine *e, const struct exec_source *src, struct vl_err *err);

/* Asks a running exec_engine_run to stop: no new jobs, SIGTERM to every
 * running job's process group, SIGKILL after the grace, drain. Async-signal
 * safe, any thread. A stop requested before run starts makes run stop at
 * once. exec_engine_run clears the request when it returns. */
void exec_engine_stop(struct exec_engine *e);

/* Cancels the running job jid (SIGTERM to its group, SIGKILL after the
 * grace; outcome EXEC_CANCELED, no retry). 0, or -ESRCH if no process of
 * it runs here (also while the end of one of its attempts is being
 * reported: a cancel from done() does not stop a retry). Engine thread only
 * (from a callback). */
int exec_engine_cancel(struct exec_engine *e, uint32_t jid);

/* What the probe found (uring_compat.h), after the config's disables. */
void exec_engine_caps(const struct exec_engine *e, struct uring_caps *caps);
void exec_engine_stats(const struct exec_engine *e, struct exec_stats *st);

/* Closes everything (flushes the logs). No job may be running: call it
 * after exec_engine_run returned. NULL ok. */
void exec_engine_close(struct exec_engine *e);

/* "completed", "failed", ... */
const char *exec_outcome_name(enum exec_outcome o);

#endif /* VOLLEY_CORE_EXEC_H */

/*
 * cgroup.h - governing jobs (issue #18, docs/limits.md): each running slot
 * of a run owns a control group, made once when the run starts and reused
 * by job after job, that enforces the job's memory and process limits,
 * finds and kills what the job left behind, and counts what it used.
 *
 * Three backends, chosen once per run (cgroup_detect) and named in
 * `volley run`'s output and `status --json`:
 *
 *   cgroup2  a v2 subtree volley may write (root, or a delegated one:
 *            `systemd-run --user --scope -p Delegate=yes volley run ...`):
 *            the job is cloned into its slot (clone3 CLONE_INTO_CGROUP, no
 *            migration), memory.max + memory.swap.max 0, pids.max,
 *            cgroup.kill, cpu.stat, memory.peak, memory.events' oom_kill.
 *            Which controllers it has is what the subtree offers: without
 *            memory or pids it still tracks, kills and counts CPU.
 *   cgroup1  the v1 memory hierarchy (limit_in_bytes and memsw, the peak,
 *            oom_control's counter) and pids (pids.max), joined by the
 *            child before exec (a write of "0" to the slot's `tasks`: the
 *            child alone moves, without the kernel's global threadgroup
 *            lock; a job joins pids only when it has a process limit).
 *            Tracking and the kill of leftovers: a v2 slot beside it when
 *            a v2 mount is writable (the child joins it too, through its
 *            cgroup.procs: v2 moves no thread alone across groups; and
 *            cpu.stat for the CPU time: the
 *            v2 mount of the development machines has no controller, yet
 *            every v2 group keeps cgroup.procs, cgroup.kill, cgroup.events
 *            and cpu.stat's usage), else the v1 freezer (freeze, kill
 *            every pid, thaw), else a kill loop over the memory group.
 *   none     no group: the job's process group is killed when it ends,
 *            usage comes from the reaped child's rusage, and nothing is
 *            enforced (docs/limits.md says why no RLIMIT stands in).
 *
 * Every group lives under the process's own group in its hierarchy (so a
 * limit set above volley, a sandbox's or Slurm's, still applies), as
 * <own>/volley-<run id>/s<N>, one per running slot: N < -j. A resume finds
 * a dead run's groups by its run id (cgroup_sweep), kills what is left in
 * them and removes them.
 *
 * Who calls what: tools/ detects (before anything starts: a forced
 * backend that is not available is a usage error); the supervisor makes
 * and removes the tree and, when a worker dies, empties its slots; resume
 * sweeps; a worker opens the slots it uses, and the engine (exec.c) runs
 * each job through one. Nothing here prints.
 */
#ifndef VOLLEY_CORE_CGROUP_H
#define VOLLEY_CORE_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

enum cgroup_mode {
    CGROUP_NONE = 0,
    CGROUP_V1 = 1,
    CGROUP_V2 = 2,
};
#define CGROUP_AUTO (-1) /* cgroup_detect: the best there is */

/* The hierarchies a run's tree may use: the v1 ones, and a v2 mount. */
enum cgroup_hier {
    CGROUP_H_MEMORY = 0,  /* v1 memory */
    CGROUP_H_PIDS = 1,    /* v1 pids */
    CGROUP_H_FREEZER = 2, /* v1 freezer: tracking when there is no v2 */
    CGROUP_H_UNIFIED = 3, /* v2: everything in cgroup2 mode, tracking in cgroup1 mode */
    CGROUP_NHIER = 4,
};

/* What a backend does here (cgroup_env.can, cgroup_tree.can). */
#define CGROUP_CAN_MEMORY (1u << 0) /* memory limit, peak and OOM count from the group */
#define CGROUP_CAN_PIDS (1u << 1)   /* process limit */
#define CGROUP_CAN_TRACK (1u << 2)  /* leftovers found and killed through the group */
#define CGROUP_CAN_CPU (1u << 3)    /* CPU time from the group (v2 cpu.stat) */
#define CGROUP_CAN_INTO                                                                            \
    (1u << 4) /* jobs are cloned into the v2 slot (CLONE_INTO_CGROUP:                              \
                 cgroup2 mode; in cgroup1 mode the child joins it) */
#define CGROUP_CAN_KILLFILE                                                                        \
    (1u << 5) /* v2 cgroup.kill may be used on a slot: it is there                                 \
                 (5.14) and a CLONE_INTO_CGROUP child cloned into the                              \
                 group after a kill lives (on Linux 6.18 here it gets                              \
                 SIGKILL at birth, forever: docs/limits.md); else a                                \
                 slot is frozen, its pids killed, and thawed */

#define CGROUP_PATH 1024u /* bytes of a group's path */
#define CGROUP_WHY 256u   /* bytes of a reason */

/* "none", "cgroup1", "cgroup2". */
const char *cgroup_mode_name(int mode);
/* "auto" -> CGROUP_AUTO, else the mode named; -1 with *ok false if none. */
int cgroup_mode_parse(const char *s, bool *ok);

/* What the machine offers this process, found by cgroup_detect. */
struct cgroup_env {
    int mode;                             /* enum cgroup_mode chosen */
    uint32_t can;                         /* CGROUP_CAN_* */
    char base[CGROUP_NHIER][CGROUP_PATH]; /* this process's own group per hierarchy the
                                             mode uses ("" if not used) */
    char why[CGROUP_WHY];                 /* none: why nothing is enforced; else what is
                                             not ("" when everything is) */
};

/*
 * Finds the hierarchies (/proc/self/cgroup, /proc/self/mountinfo) and
 * what this process may write, and picks a backend: want CGROUP_AUTO
 * takes cgroup2 if its subtree has the memory and pids controllers, else
 * cgroup1 if the v1 memory hierarchy is writable, else cgroup2 for
 * tracking alone if a v2 mount is writable, else none (env->why says why).
 * A forced want that is not available here: VL_EUSAGE with err saying
 * why. Makes no group (cgroup_tree_create does).
 */
int cgroup_detect(int want, struct cgroup_env *env, struct vl_err *err);

/* The groups of one run: what the supervisor made and the workers open.
 * Plain data, fixed size: it travels in the control page (runctl.h). */
struct cgroup_tree {
    int32_t mode;    /* enum cgroup_mode */
    uint32_t can;    /* CGROUP_CAN_* that held when the tree was made */
    uint32_t nslots; /* groups s0 .. s<nslots-1> under each dir */
    uint32_t pad;
    char dir[CGROUP_NHIER][CGROUP_PATH]; /* <base>/volley-<run id>, "" where unused */
};

/*
 * Makes the run's tree: <base>/volley-<run_hex> and nslots slot groups in
 * each hierarchy env uses (cgroup2: the controllers it has are enabled for
 * the slots). With cgroup2's CLONE_INTO_CGROUP a probe child checks that
 * the kernel takes it. On failure nothing is left and err says why (the
 * caller may fall back to none). run_hex: the run id's 32 hex digits.
 */
int cgroup_tree_create(const struct cgroup_env *env, const char *run_hex, uint32_t nslots,
                       struct cgroup_tree *t, struct vl_err *err);

/* Kills what is left in every slot (each slot waited for, 2 s at most)
 * and removes the tree; *killed (may be NULL) gets the processes killed.
 * 0, or -EBUSY if a group could not be removed (a process would not die). */
int cgroup_tree_remove(const struct cgroup_tree *t, uint32_t *killed);

/* Kills what is in slot i and waits (2 s at most) until it is empty: a
 * dead worker's slot, before another job may use it. The number killed. */
uint32_t cgroup_tree_empty_slot(const struct cgroup_tree *t, uint32_t i);

/*
 * Resume: finds the groups of run run_hex under this process's own group
 * in every mounted hierarchy (whatever backend the new run uses), kills
 * what they hold and removes them. *found: directories removed; *killed:
 * processes killed (either may be NULL). 0, or -EBUSY as above.
 */
int cgroup_sweep(const char *run_hex, uint32_t *found, uint32_t *killed);

/* The directories of run run_hex's groups that exist now, as cgroup_sweep
 * would find them: up to max into out; returns how many there are. */
uint32_t cgroup_find(const char *run_hex, char (*out)[CGROUP_PATH], uint32_t max);

/* ---- the job side: one slot, opened by a worker, used by its engine ---- */

/*
 * A slot's state that outlives one job, and one worker: the slot passes
 * from worker to worker, so it lives in the control page (runctl.h), and
 * only the holder of the slot reads or writes it (the runctl pool entry's
 * owner word orders the hand-over). Fixed width, no holes.
 */
struct cgroup_shared {
    uint64_t mem_limit;  /* memory limit in force, 0: none */
    uint64_t cpu_usec;   /* v2 cpu.stat usage_usec when the last job ended */
    uint64_t user_usec;  /* ... user_usec */
    uint64_t sys_usec;   /* ... system_usec */
    uint64_t oom_kills;  /* the OOM-kill counter when the last job ended */
    uint64_t base_bytes; /* v1: memory charged to the empty group after the last job (page
                            cache it left), subtracted from the next peak */
    uint32_t pids_max;   /* process limit in force, 0: none */
    uint32_t flags;      /* CGROUP_SH_*: what was set up */
};
#define CGROUP_SH_READY (1u << 0) /* limits and counters were read or set once */

/* A job's limits (0: none). */
struct cgroup_limits {
    uint64_t mem_bytes; /* memory, swap included */
    uint32_t pids;      /* processes (and threads) at once */
    uint32_t pad;
};

/* What a job used, read when it ended. */
struct cgroup_usage {
    uint64_t peak_bytes; /* peak memory (v1: the group's peak less what an earlier job left) */
    uint64_t user_usec, sys_usec;
    uint32_t oom_kills; /* processes the OOM killer ended in the group during the job */
    bool have_mem;      /* peak_bytes is the group's */
    bool have_oom;      /* oom_kills is the group's */
    bool have_cpu;      /* user and sys are the group's */
};

#define CGROUP_MAX_JOIN                                                                            \
    4 /* groups a child joins before exec at most (v1 memory, pids,                                \
         freezer; the v2 group beside them in cgroup1 mode) */

/* What the child is given at its clone. */
struct cgroup_spawn {
    int into_fd;               /* v2 directory for CLONE_INTO_CGROUP, or -1 */
    int join[CGROUP_MAX_JOIN]; /* v1 tasks, v2 cgroup.procs: "0" written before exec */
    uint32_t njoin;
    uint32_t pad;
};

/* One slot as a worker holds it: the open files of <dir>/s<i>. */
struct cgroup_slot {
    const struct cgroup_tree *t;
    struct cgroup_shared *sh;
    uint32_t idx;
    bool open;
    int dir_fd;       /* v2: the slot directory (O_PATH) */
    int events_fd;    /* v2: cgroup.events, polled for "populated 0" */
    int kill_fd;      /* v2: cgroup.kill */
    int cpu_fd;       /* v2: cpu.stat */
    int track_fd;     /* cgroup.procs of the tracking group (v2, freezer or memory) */
    int freeze_fd;    /* v1: freezer.state */
    int v2_freeze_fd; /* v2: cgroup.freeze (the kill without CGROUP_CAN_KILLFILE) */
    int v2_procs_fd;  /* cgroup1 mode: the v2 group's cgroup.procs, which the child joins */
    int v1_tasks[3];  /* v1: tasks of memory, pids, freezer (the child's joins) */
    int mem_max_fd;   /* memory.limit_in_bytes / memory.max */
    int memsw_fd;     /* v1: memory.memsw.limit_in_bytes; v2: memory.swap.max */
    int peak_fd;      /* memory.max_usage_in_bytes / memory.peak */
    int usage_fd;     /* v1: memory.usage_in_bytes */
    int oom_fd;       /* memory.oom_control / memory.events */
    int pids_max_fd;  /* pids.max */
};

/* Opens slot i of tree t; sh is its shared state. 0, or a negative errno
 * with err naming the file. Nothing is left open on failure. */
int cgroup_slot_open(struct cgroup_slot *s, const struct cgroup_tree *t, uint32_t i,
                     struct cgroup_shared *sh, struct vl_err *err);
void cgroup_slot_close(struct cgroup_slot *s); /* NULL or closed ok */

/*
 * Before a job's process starts in the slot (the slot is empty): sets lim
 * where it differs from what is in force (a write or two; none when it is
 * the same, the usual case) and fills sp. 0, or a negative errno with err
 * (the limit could not be set: the attempt must not start).
 */
int cgroup_slot_begin(struct cgroup_slot *s, const struct cgroup_limits *lim,
                      struct cgroup_spawn *sp, struct vl_err *err);

/*
 * The job's main process was reaped: kills whatever else is in the slot.
 * Returns how many processes it found (0: the slot is empty, the usual
 * case: one read), or a negative errno. When it found some, the slot is
 * empty only once cgroup_slot_empty says so (v2: cgroup.events changes,
 * poll events_fd for POLLPRI; v1: look again after a moment).
 */
int cgroup_slot_reap(struct cgroup_slot *s);
/* True if no process is left in the slot (v1 freezer: kills again what
 * it finds). */
bool cgroup_slot_empty(struct cgroup_slot *s);
/* SIGKILL to every process in the slot now (a job's kill after the
 * grace: also what left its process group). 0 or a negative errno. */
int cgroup_slot_kill(struct cgroup_slot *s);

/*
 * The attempt is over and the slot empty: what the job used (u), and the
 * slot made ready for the next (peak reset, what the job left in the page
 * cache dropped when it is large). mem_limit: the job's, to tell whether
 * an OOM count needs reading (it is read when failed, or when the peak
 * came near the limit).
 */
void cgroup_slot_end(struct cgroup_slot *s, bool failed, uint64_t mem_limit,
                     struct cgroup_usage *u);

#endif /* VOLLEY_CORE_CGROUP_H */

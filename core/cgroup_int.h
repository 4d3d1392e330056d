/*
 * cgroup_int.h - inside core/'s cgroup module (cgroup.h): what its three
 * files share.
 *
 *   cgroup.c     finding the hierarchies, picking a backend, the run's
 *                tree (make, remove, sweep), a slot's files, and the slot
 *                operations, which call the backend files below
 *   cgroup_v1.c  the v1 memory, pids and freezer hierarchies
 *   cgroup_v2.c  a v2 hierarchy: its controllers, and tracking (cgroup.kill,
 *                cgroup.events, cpu.stat), which cgroup1 mode uses too
 *
 * Every file of a group is read and written whole, at offset 0 (pread,
 * pwrite), through descriptors opened once per slot: a read here costs
 * 1-3 us (docs/limits.md has the table).
 */
#ifndef VOLLEY_CORE_CGROUP_INT_H
#define VOLLEY_CORE_CGROUP_INT_H

#include "core/cgroup.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP__RUN_PREFIX "volley-" /* <base>/volley-<run id> */
#define CGROUP__WAIT_MS 2000u        /* how long a kill is waited for outside the engine */

/* pwrite of the string s at offset 0: 0 or -errno. */
int cgroup__put(int fd, const char *s);
/* pread at offset 0 into buf (NUL-terminated): bytes read, or -errno. */
ssize_t cgroup__get(int fd, char *buf, size_t len);
/* dir/file opened with flags (O_CLOEXEC added): the fd or -errno. */
int cgroup__open(const char *dir, const char *file, int flags);
/* The slot's pids.max to want (0: "max") where it differs from the limit
 * in force (s->sh->pids_max) and the file is open: 0, or -errno with err
 * naming the slot. v1 and v2 write it alike. */
struct cgroup_slot;
struct vl_err;
int cgroup__set_pids(struct cgroup_slot *s, uint32_t want, struct vl_err *err);
/* Writes s into dir/file: 0 or -errno. */
int cgroup__put_path(const char *dir, const char *file, const char *s);
/* Reads dir/file into buf: bytes or -errno. */
ssize_t cgroup__get_path(const char *dir, const char *file, char *buf, size_t len);
/* The value after "key " on a line of buf ("oom_kill 3"), or 0. */
uint64_t cgroup__key(const char *buf, const char *key);
/* "dir/s<i>" into out (len bytes): 0 or -ENAMETOOLONG. */
int cgroup__slot_dir(char *out, size_t len, const char *dir, uint32_t i);
/* The slot's tracking group's cgroup.procs into buf: bytes or -errno.
 * v2: through the open descriptor. v1: opened afresh, because a v1
 * cgroup.procs keeps the list it made at the first read of a descriptor
 * for a second (the pidlist cache): a second read through the same one
 * missed a process started since. */
ssize_t cgroup__track(struct cgroup_slot *s, char *buf, size_t len);
/* Pids in a cgroup.procs text: how many lines. */
uint32_t cgroup__count_lines(const char *buf, ssize_t n);
/* SIGKILL to every pid in a cgroup.procs text of n bytes (NUL-ended);
 * the number signalled. */
uint32_t cgroup__kill_pids(const char *buf, ssize_t n);
/* SIGKILL to every pid listed in dir/cgroup.procs; the number signalled. */
uint32_t cgroup__kill_listed(const char *dir);
/* The memory part of a job's end, v1 and v2 alike: the group's peak less
 * what an earlier job left in it (sh->base_bytes); the OOM kills since the
 * last end, read when the job failed, its peak came within 1/16 of its
 * limit, or (oom_without_peak) there is no peak to look at; then the peak
 * reset by writing reset to it and the base read again where it can
 * matter (above CGROUP__BASE_READ_BYTES, or a fresh slot). Without a peak
 * file (v2 before Linux 6.12) only the OOM kills. */
void cgroup__mem_end(struct cgroup_slot *s, bool failed, uint64_t mem_limit, bool oom_without_peak,
                     const char *reset, struct cgroup_usage *u);
#define CGROUP__BASE_READ_BYTES (1u << 20) /* read what a job left only above this peak */
/* Removes dir after killing what it holds (slots first for a run dir):
 * waits up to CGROUP__WAIT_MS for it to empty. *killed += processes. 0 or
 * -errno of the rmdir. */
int cgroup__empty_and_remove(const char *dir, bool v2, uint32_t *killed);

/* ---- v1 (cgroup_v1.c) ---- */

/* Opens slot dir d's v1 files into s for hierarchy h. */
int cgroup_v1__open(struct cgroup_slot *s, int h, const char *d, struct vl_err *err);
/* Sets the memory / process limits where they differ from s->sh. */
int cgroup_v1__limits(struct cgroup_slot *s, const struct cgroup_limits *lim, struct vl_err *err);
/* Freezer tracking: freeze, kill every pid, thaw: the number killed. */
int cgroup_v1__freeze_kill(struct cgroup_slot *s);
/* Memory usage of the ended job, and the slot's reset. */
void cgroup_v1__end(struct cgroup_slot *s, bool failed, uint64_t mem_limit, struct cgroup_usage *u);
/* A v1 group dir holding nothing: kill loop on its cgroup.procs (frozen
 * first when it is a freezer group) until empty or the wait ran out. */
uint32_t cgroup_v1__drain(const char *dir, bool freezer);

/* ---- v2 (cgroup_v2.c) ---- */

/* Opens slot dir d's v2 files into s (tracking always, the controllers'
 * files when the tree has them). */
int cgroup_v2__open(struct cgroup_slot *s, const char *d, struct vl_err *err);
/* Sets memory.max, memory.swap.max, pids.max where they differ. */
int cgroup_v2__limits(struct cgroup_slot *s, const struct cgroup_limits *lim, struct vl_err *err);
/* CPU (cpu.stat) and, with the memory controller, peak and OOM count. */
void cgroup_v2__end(struct cgroup_slot *s, bool failed, uint64_t mem_limit, struct cgroup_usage *u);
/* "populated 0" in the slot's cgroup.events. */
bool cgroup_v2__empty(int events_fd);
/* Enables the controllers of can (memory, pids) in dir's subtree_control;
 * with move_self, first moves this process into dir/runner when dir holds
 * processes (the "no internal processes" rule of a delegated v2 scope). */
int cgroup_v2__enable(const char *base, const char *run_dir, uint32_t can, struct vl_err *err);
/* Undoes cgroup_v2__enable before the run dir is removed. */
void cgroup_v2__disable(const char *base, const char *run_dir);
/* The controllers available in dir (cgroup.controllers): CGROUP_CAN_MEMORY
 * and CGROUP_CAN_PIDS bits. */
uint32_t cgroup_v2__controllers(const char *dir);
/* A child cloned into the v2 group dir_fd (CLONE_INTO_CGROUP) exits at
 * once: 0 if the kernel took it and it exited 0, else -errno. */
int cgroup_v2__probe_into(int dir_fd);
/* Whether cgroup.kill may be used on groups that take CLONE_INTO_CGROUP
 * children (CGROUP_CAN_KILLFILE): a probe group under run_dir is killed,
 * then a child is cloned into it. */
bool cgroup_v2__killfile_ok(const char *run_dir);
/* Freezes the v2 group dir, kills every process listed, thaws it: the
 * number signalled (the kill where cgroup.kill may not be used). */
uint32_t cgroup_v2__freeze_kill_path(const char *dir);
/* The same through a slot's open files. */
uint32_t cgroup_v2__freeze_kill(struct cgroup_slot *s);

#endif /* VOLLEY_CORE_CGROUP_INT_H */

/*
 * capacity.h - what volley was given to run jobs on: the CPUs, memory and
 * GPUs of this process's share of the node, and where each figure came
 * from (docs/running.md, "Capacity"; docs/slurm.md). Inside a batch
 * allocation, a container or under `taskset`, that is less than the
 * machine: a run that took the whole machine would start more jobs than
 * it has CPUs for, and be killed by its allocation's memory limit.
 *
 *   CPUs    the fewest of: SLURM_CPUS_ON_NODE (inside Slurm), the CPU
 *           affinity (sched_getaffinity: taskset, a cpuset, Slurm's task
 *           binding), the CPU quota of this process's cgroup (v2 cpu.max,
 *           v1 cpu.cfs_quota_us / cpu.cfs_period_us, rounded up), and the
 *           online CPUs.
 *   memory  the least of: SLURM_MEM_PER_NODE (MB), the memory limit of
 *           this process's cgroup and its ancestors (v2 memory.max, v1
 *           memory.limit_in_bytes or memory.stat's
 *           hierarchical_memory_limit), and MemTotal.
 *   GPUs    CUDA_VISIBLE_DEVICES when set (as a scheduler sets it), else
 *           SLURM_JOB_GPUS, else /dev/nvidiaN.
 *
 * A figure names its source only where that source is what limits it: an
 * affinity mask or cgroup quota as large as the machine is not named.
 * Reading costs a few small files (/proc/self/cgroup, a cgroup file per
 * level of the path): well under a millisecond.
 *
 * Not here: admitting jobs against the capacity (resources.h), and the
 * command line's --cpus, --memory, --gpus, which replace these figures
 * (tools/runopts.c).
 */
#ifndef VOLLEY_CORE_CAPACITY_H
#define VOLLEY_CORE_CAPACITY_H

#include <stdint.h>

#include "core/resources.h"

#define CAPACITY_FROM 48 /* bytes of a source's name */

struct capacity {
    struct res_amount cap;           /* the figures */
    char cpus_from[CAPACITY_FROM];   /* "SLURM_CPUS_ON_NODE", "CPU affinity", "cgroup cpu.max",
                                        "cgroup cpu.cfs_quota_us", "online CPUs" */
    char memory_from[CAPACITY_FROM]; /* "SLURM_MEM_PER_NODE", "cgroup memory.max",
                                        "cgroup memory.limit_in_bytes", "MemTotal" */
    char gpus_from[CAPACITY_FROM];   /* "CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS",
                                        "/dev/nvidia*", "none found" */
    const char *slurm_gpus;          /* SLURM_JOB_GPUS (environ) when it gave the GPUs
                                        without CUDA_VISIBLE_DEVICES: the list the jobs'
                                        CUDA_VISIBLE_DEVICES entries are taken from */
};

/*
 * Fills c for this process. root: "" or NULL for the real /proc and /sys;
 * a test passes a directory holding its own proc/self/cgroup and
 * sys/fs/cgroup/... tree (the environment and the affinity are always
 * this process's). Never fails: a source that cannot be read is left out.
 */
void capacity_detect(struct capacity *c, const char *root);

#endif /* VOLLEY_CORE_CAPACITY_H */

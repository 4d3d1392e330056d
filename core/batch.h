/*
 * batch.h - the batch job a run goes on in (Slurm; docs/slurm.md): which
 * job, on which node, how often it was requeued, and when it ends. What
 * a run records of each allocation (persist/snap.h struct snap_alloc) and
 * the deadline it takes by default come from here.
 *
 * batch_detect reads the environment only (SLURM_JOB_ID, SLURMD_NODENAME,
 * SLURM_RESTART_COUNT): free. batch_end_time asks Slurm: it runs
 * `scontrol show job -o ID` and reads EndTime, one process and one RPC to
 * slurmctld (~20-50 ms on the single-host cluster of the tests), once per
 * run or resume. Slurm does not put the end in the environment; squeue
 * would cost the same.
 *
 * Prints nothing; the caller (tools/) says what it found.
 */
#ifndef VOLLEY_CORE_BATCH_H
#define VOLLEY_CORE_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"

#define BATCH_ID_MAX 64    /* bytes of a job id, NUL included */
#define BATCH_NODE_MAX 256 /* bytes of a node name, NUL included */
#define BATCH_ASK_MS 10000 /* scontrol gets this long to answer */

struct batch_job {
    bool in_slurm;             /* SLURM_JOB_ID is set */
    char job_id[BATCH_ID_MAX]; /* SLURM_JOB_ID, "" outside Slurm */
    char node[BATCH_NODE_MAX]; /* SLURMD_NODENAME, else this host's name */
    int64_t restart;           /* SLURM_RESTART_COUNT (0 on the first start of a job
                                  that may be requeued, 1 on its first requeue ...);
                                  -1 when not set */
};

/* Fills b from the environment (and the host name). */
void batch_detect(struct batch_job *b);

/*
 * The end of Slurm job b (its EndTime: the start plus its time limit) as
 * wall-clock ns. 0 with *end_ns; or a negative code with err saying why:
 * -ENOENT not in Slurm, or the job has no time limit (EndTime=Unknown);
 * -ENOEXEC scontrol is not installed; -ETIMEDOUT no answer within
 * BATCH_ASK_MS (the scontrol process is killed, by its pid); -EPROTO an
 * answer without EndTime, or scontrol failed (its first line of output).
 * scontrol: the program to run, NULL for "scontrol" on PATH (a test
 * passes a script of its own).
 */
int batch_end_time(const struct batch_job *b, const char *scontrol, uint64_t *end_ns,
                   struct vl_err *err);

#endif /* VOLLEY_CORE_BATCH_H */

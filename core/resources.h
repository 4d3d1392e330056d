/*
 * resources.h - admitting jobs against the node's capacity: num_cpus,
 * memory and num_gpus (SPEC.md section 1, "Resources"), GPUs assigned by
 * index for CUDA_VISIBLE_DEVICES.
 *
 * The counters are the caller's (struct res_counters): in a run, words of
 * the control page (runctl.h) shared by every worker. So admission is
 * lock-free: a compare-and-swap loop per resource, taken in a fixed order
 * (CPUs, memory, GPUs) and given back in reverse when a later one does not
 * fit. Two workers can momentarily hold parts of what neither can finish
 * taking; each backs off at once, so nothing waits and the capacity is
 * never exceeded. GPUs are a 64-bit mask: at most 64 per node.
 *
 * A job that can never fit (needs more than the whole capacity) is an error
 * before anything starts: res_check_spec names the first one.
 */
#ifndef VOLLEY_CORE_RESOURCES_H
#define VOLLEY_CORE_RESOURCES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "loader/spec.h"

#define RES_MAX_GPUS 64

/* What a job needs, or what the node has. */
struct res_amount {
    uint32_t cpus;         /* CPUs */
    uint32_t gpus;         /* GPUs (<= RES_MAX_GPUS) */
    uint64_t memory_bytes; /* memory */
};

/* The caller's counters of what is in use; zero-initialized = all free.
 * In a run they sit in the control page (runctl.h), shared by every
 * worker: fixed-width fields, no hidden hole (48 bytes, pinned there).
 * Writers and readers: every admitter (res_admit, res_release,
 * res_unreserve) and the supervisor, for a dead worker's share. The used
 * words change by CAS or RMW (acq_rel); the reservation's sizes are
 * relaxed stores made by the one process that owns resv_owner (acq_rel
 * CAS), read after an acquire load of it. */
struct res_counters {
    _Atomic uint32_t cpus_used;
    uint32_t pad0; /* zero */
    _Atomic uint64_t mem_used;
    _Atomic uint64_t gpus_used; /* bit i: GPU i is assigned */
    /* One reservation: the first admitter (by id) that found the capacity
     * short keeps what its job needs from every other admitter until that
     * job is admitted, so small jobs cannot starve a big one by taking each
     * CPU as it frees up. Others get only what is left beside it. */
    _Atomic uint32_t resv_owner; /* 0: none; else the owner's id */
    _Atomic uint32_t resv_cpus;
    _Atomic uint32_t resv_gpus;
    uint32_t resv_pad;
    _Atomic uint64_t resv_mem;
};

/* This machine: online CPUs, MemTotal, NVIDIA GPUs (/dev/nvidiaN). */
void res_detect(struct res_amount *cap);

/* 0 if need fits in cap at all; else VL_ESPEC with err naming job (and
 * class, if not NULL) and the resource: "job 'x' needs 8 CPUs (resource
 * class 'big'), the node has 2". */
int res_check_fit(const struct res_amount *cap, const struct res_amount *need, const char *job,
                  const char *rclass, struct vl_err *err);

/* What a spec job needs (its resource class; none: nothing). */
void res_need_of(const struct spec *s, uint32_t jid, struct res_amount *need);

/* res_check_fit for every job of s; reports the first that can never fit. */
int res_check_spec(const struct spec *s, const struct res_amount *cap, struct vl_err *err);
/* The same for the jobs j with !done[j] (a resume: finished jobs never run
 * again); done NULL: every job. */
int res_check_left(const struct spec *s, const uint8_t *done, const struct res_amount *cap,
                   struct vl_err *err);

/*
 * Takes need from the counters against cap, all or nothing (lock-free, any
 * number of processes). who: the admitter's id; 0 never reserves, but
 * still leaves room for a reservation another admitter holds. When need
 * does not fit and nobody holds the reservation, who takes it (with need);
 * when who holds it and need fits, it is admitted against the whole
 * capacity and the reservation ends. *gpus: the GPUs assigned (bit i:
 * GPU i).
 */
bool res_admit(struct res_counters *c, const struct res_amount *cap, const struct res_amount *need,
               uint32_t who, uint64_t *gpus);

/* Ends who's reservation, if it holds one (its job went away: canceled,
 * stopped, its worker died). True if there was one: wake the waiters. */
bool res_unreserve(struct res_counters *c, uint32_t who);
/* Gives back what res_admit took (need and the mask it returned). */
void res_release(struct res_counters *c, const struct res_amount *need, uint64_t gpus);

/* The GPUs of a batch allocation: when this process has
 * CUDA_VISIBLE_DEVICES (as a scheduler sets it, "5,7" or device UUIDs),
 * the node's GPUs are the devices it lists, GPU i its i-th entry.
 * res_gpu_count: the entries of such a list (at most RES_MAX_GPUS) up to
 * the first negative index, which hides itself and the rest (CUDA's
 * reading: "-1" means none). */
uint32_t res_gpu_count(const char *visible);
/* The CUDA_VISIBLE_DEVICES of a job given the GPUs of mask gpus: the
 * entries of visible they stand for ("5,7"), or, with visible NULL, their
 * indices ("0,2,3" for 0b1101). Into buf; returns buf ("" for 0). A list
 * of entries of visible is never longer than visible itself. */
const char *res_gpu_list(uint64_t gpus, const char *visible, char *buf, size_t len);

#endif /* VOLLEY_CORE_RESOURCES_H */

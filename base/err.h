/*
 * err.h - volley's error codes, exit codes and struct vl_err.
 *
 * Functions return 0 or a negative code. A code above -4096 is a negative
 * errno (strerror(-rc) works); volley's own codes sit below it (VL_ECORRUPT
 * ...), and vl_strerror() knows both. Where the context is known, a module
 * also fills a struct vl_err with a sentence a user can act on; only tools/
 * prints it.
 */
#ifndef VOLLEY_BASE_ERR_H
#define VOLLEY_BASE_ERR_H

#include "base/defs.h"

/* volley's own error codes, outside errno's range. */
enum {
    VL_ECORRUPT = -4097, /* data on disk or in shared memory is damaged */
    VL_EVERSION = -4098, /* written by another layout/schema version */
    VL_ESPEC = -4099,    /* the workflow file has errors (see diagnostics) */
    VL_EUSAGE = -4100,   /* bad command-line usage */
    VL_ENOTRUN = -4101,  /* a directory that is not a volley run */
    VL_ELOCKED = -4102,  /* the run directory is locked by a live runner */
    VL_ETOOBIG = -4103,  /* does not fit in memory or in 32-bit job ids */
    VL_EMISMATCH = -4104 /* belongs to another run or workflow */
};

/* Process exit codes of the volley binary (SPEC.md section 2). */
enum vl_exit {
    VL_EXIT_OK = 0,     /* every job completed */
    VL_EXIT_FAIL = 1,   /* finished with failed, terminated or canceled jobs */
    VL_EXIT_USAGE = 2,  /* usage or workflow-file error, nothing ran */
    VL_EXIT_ENV = 3,    /* environment: run dir, disk, shared memory */
    VL_EXIT_AGAIN = 75, /* stopped for the allocation's end (deadline, SIGUSR1); resumable:
                           EX_TEMPFAIL, "try again" (docs/slurm.md) */
    VL_EXIT_INTR = 130  /* interrupted; resumable */
};

#define VL_ERR_MSG 1024

/* An error a user can act on: the code plus one sentence. */
struct vl_err {
    int code;             /* 0 or a negative code as above */
    char msg[VL_ERR_MSG]; /* "cannot create arena /dev/shm/x (4 GiB): ..." */
};

/* Sets err (if not NULL) and returns code. */
int vl_err_set(struct vl_err *err, int code, const char *fmt, ...) VL_PRINTF(3, 4);
/* Like vl_err_set, appending ": <text of code>" (errno or volley code). */
int vl_err_sys(struct vl_err *err, int code, const char *fmt, ...) VL_PRINTF(3, 4);
/* Text of a negative errno or a VL_E* code; never NULL. */
const char *vl_strerror(int code);
/* Exit code that tools/ uses for an error code (2 usage/spec, 3 otherwise). */
int vl_exit_for(int code);

/*
 * Where a module sends what it cannot return: a warning while work goes on
 * (a side file that stopped being written, an arena resume had to ignore).
 * fn gets one sentence, no newline, no "volley: "; tools/ prints it. A NULL
 * struct or fn drops it.
 */
struct vl_warn {
    void (*fn)(void *ctx, const char *msg);
    void *ctx;
};
/* Formats and hands one warning to w. */
void vl_warnf(const struct vl_warn *w, const char *fmt, ...) VL_PRINTF(2, 3);

#endif /* VOLLEY_BASE_ERR_H */

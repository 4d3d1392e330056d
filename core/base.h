/*
 * base.h - errors, allocation, time, sizes and logging: the leaf that every
 * volley module may include (STYLE.md section 1).
 *
 * Errors: functions return 0 or a negative code. A code above -4096 is a
 * negative errno (strerror(-rc) works); volley's own codes sit below it
 * (VL_ECORRUPT ...), and vl_strerror() knows both. Where the context is
 * known, a module also fills a struct vl_err with a sentence a user can act
 * on; only tools/ prints it.
 *
 * Allocation: vl_x*() are for small fixed sizes and abort with the size on
 * failure. Allocations that grow with the workflow go through
 * vl_alloc_array(), which checks the multiplication and turns a failure into
 * a user error ("workflow needs 14.2 GiB for edges").
 *
 * Not here: anything about YAML, shared memory, processes or SQLite.
 */
#ifndef VOLLEY_CORE_BASE_H
#define VOLLEY_CORE_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    VL_EXIT_OK = 0,    /* every job completed */
    VL_EXIT_FAIL = 1,  /* finished with failed, terminated or canceled jobs */
    VL_EXIT_USAGE = 2, /* usage or workflow-file error, nothing ran */
    VL_EXIT_ENV = 3,   /* environment: run dir, disk, shared memory */
    VL_EXIT_INTR = 130 /* interrupted; resumable */
};

#define VL_ERR_MSG 1024

/* An error a user can act on: the code plus one sentence. */
struct vl_err {
    int code;             /* 0 or a negative code as above */
    char msg[VL_ERR_MSG]; /* "cannot create arena /dev/shm/x (4 GiB): ..." */
};

#define VL_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Sets err (if not NULL) and returns code. */
int vl_err_set(struct vl_err *err, int code, const char *fmt, ...) VL_PRINTF(3, 4);
/* Like vl_err_set, appending ": <text of code>" (errno or volley code). */
int vl_err_sys(struct vl_err *err, int code, const char *fmt, ...) VL_PRINTF(3, 4);
/* Text of a negative errno or a VL_E* code; never NULL. */
const char *vl_strerror(int code);
/* Exit code that tools/ uses for an error code (2 usage/spec, 3 otherwise). */
int vl_exit_for(int code);

/* Small fixed-size allocations: abort with the size on failure. */
void *vl_xmalloc(size_t bytes);
void *vl_xcalloc(size_t n, size_t size);
void *vl_xrealloc(void *p, size_t bytes);
char *vl_xstrdup(const char *s);
char *vl_xasprintf(const char *fmt, ...) VL_PRINTF(1, 2);

/*
 * Workflow-sized allocations: n * size bytes (zeroed if zero is true),
 * overflow-checked. On failure returns NULL and fills err with
 * "workflow needs <size> for <what>" (VL_ETOOBIG).
 */
void *vl_alloc_array(size_t n, size_t size, bool zero, const char *what, struct vl_err *err);
void *vl_realloc_array(void *p, size_t n, size_t size, const char *what, struct vl_err *err);

/* A growable byte buffer (string pools, output assembly). */
struct vl_buf {
    char *p;    /* NUL-terminated when len > 0 and vl_buf_str was used */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
};
void vl_buf_reserve(struct vl_buf *b, size_t extra); /* aborts on ENOMEM */
void vl_buf_add(struct vl_buf *b, const void *data, size_t len);
void vl_buf_addc(struct vl_buf *b, char c);
void vl_buf_adds(struct vl_buf *b, const char *s);
void vl_buf_printf(struct vl_buf *b, const char *fmt, ...) VL_PRINTF(2, 3);
const char *vl_buf_str(struct vl_buf *b); /* terminates and returns p ("" if empty) */
void vl_buf_free(struct vl_buf *b);

/* Clocks in nanoseconds. */
uint64_t vl_now_ns(void);  /* CLOCK_MONOTONIC */
uint64_t vl_wall_ns(void); /* CLOCK_REALTIME, since the epoch */
uint64_t vl_cpu_ns(void);  /* this process's CPU time, user + system, every thread */

/*
 * Sizes: "512k", "100m", "2g", "1t", "4096" (bytes), case-insensitive, an
 * optional trailing "b"/"ib" ("2GiB", "100MB": powers of 1024 either way).
 * Returns 0, or -EINVAL (not a size) / -ERANGE (above 2^64-1).
 */
int vl_parse_size(const char *s, uint64_t *bytes);
/* "14.2 GiB", "512 B"; writes into buf (at least 32 bytes) and returns it. */
const char *vl_fmt_bytes(uint64_t bytes, char *buf, size_t buflen);
/* Whole decimal number, no sign, no junk: 0, -EINVAL or -ERANGE (> max). */
int vl_parse_u64(const char *s, uint64_t max, uint64_t *out);

/*
 * Logging for processes without a terminal (workers, supervisor): one line
 * per event, "2026-11-23T08:30:00.123Z pid 1234: text", appended with one
 * write(2) to the file opened by vl_log_open (O_APPEND|O_CLOEXEC). Before
 * vl_log_open, or after vl_log_close, lines go to stderr.
 */
int vl_log_open(const char *path, struct vl_err *err);
void vl_log(const char *fmt, ...) VL_PRINTF(1, 2);
void vl_log_close(void);

/* Start time of a process in clock ticks since boot (/proc/PID/stat field
 * 22): with the pid, it names a process across pid reuse. 0 if gone. */
uint64_t vl_proc_start(int pid);
/* True if pid is alive and started at start_ticks (0: any start time). */
bool vl_proc_alive(int pid, uint64_t start_ticks);
/* Boot id from /proc/sys/kernel/random/boot_id (36 chars + NUL). */
int vl_boot_id(char out[37]);
/* Whether volley stops on sig (SIGINT, SIGTERM or SIGHUP) in this process:
 * SIGTERM always; SIGINT and SIGHUP unless they are ignored now (nohup, a
 * script's background job), as make leaves them. The supervisor, its
 * workers and the setup's handler (tools/intr.h) all ask this. */
bool vl_stop_signal_taken(int sig);

#define VL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define VL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define VL_LIKELY(x) __builtin_expect(!!(x), 1)

#endif /* VOLLEY_CORE_BASE_H */

/*
 * base.c - see base.h. Nothing here is on a hot path except vl_now_ns.
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int vl_err_set(struct vl_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int vl_err_sys(struct vl_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof err->msg)
            snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", vl_strerror(code));
        err->code = code;
    }
    return code;
}

const char *vl_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case VL_ECORRUPT:
        return "data is corrupt";
    case VL_EVERSION:
        return "written by an unknown version of volley";
    case VL_ESPEC:
        return "the workflow file has errors";
    case VL_EUSAGE:
        return "bad usage";
    case VL_ENOTRUN:
        return "not a volley run directory";
    case VL_ELOCKED:
        return "locked by a running volley";
    case VL_ETOOBIG:
        return "too big for this machine";
    case VL_EMISMATCH:
        return "belongs to another run";
    default:
        break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

int vl_exit_for(int code)
{
    if (code == VL_ESPEC || code == VL_EUSAGE)
        return VL_EXIT_USAGE;
    return code == 0 ? VL_EXIT_OK : VL_EXIT_ENV;
}

static void oom(size_t bytes)
{
    char b[32];
    fprintf(stderr, "volley: out of memory allocating %s\n", vl_fmt_bytes(bytes, b, sizeof b));
    abort();
}

void *vl_xmalloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        oom(bytes);
    return p;
}

void *vl_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *vl_xrealloc(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q)
        oom(bytes);
    return q;
}

char *vl_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(vl_xmalloc(n), s, n);
}

char *vl_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(strlen(fmt));
    return s;
}

static int too_big(size_t n, size_t size, const char *what, struct vl_err *err)
{
    char b[32];
    long double total = (long double)n * (long double)size;
    uint64_t bytes = total > (long double)UINT64_MAX ? UINT64_MAX : (uint64_t)total;
    return vl_err_set(err, VL_ETOOBIG, "workflow needs %s for %s, more than this machine can give",
                      vl_fmt_bytes(bytes, b, sizeof b), what);
}

void *vl_alloc_array(size_t n, size_t size, bool zero, const char *what, struct vl_err *err)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        too_big(n, size, what, err);
        return NULL;
    }
    void *p = zero ? calloc(bytes ? bytes : 1, 1) : malloc(bytes ? bytes : 1);
    if (!p)
        too_big(n, size, what, err);
    return p;
}

void *vl_realloc_array(void *p, size_t n, size_t size, const char *what, struct vl_err *err)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        too_big(n, size, what, err);
        return NULL;
    }
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q)
        too_big(n, size, what, err);
    return q;
}

void vl_buf_reserve(struct vl_buf *b, size_t extra)
{
    size_t need;
    if (__builtin_add_overflow(b->len, extra + 1, &need))
        oom(SIZE_MAX);
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->p = vl_xrealloc(b->p, cap);
    b->cap = cap;
}

void vl_buf_add(struct vl_buf *b, const void *data, size_t len)
{
    vl_buf_reserve(b, len);
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void vl_buf_addc(struct vl_buf *b, char c)
{
    vl_buf_add(b, &c, 1);
}

void vl_buf_adds(struct vl_buf *b, const char *s)
{
    vl_buf_add(b, s, strlen(s));
}

void vl_buf_printf(struct vl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof tmp) {
        vl_buf_add(b, tmp, (size_t)n);
    } else {
        vl_buf_reserve(b, (size_t)n);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

const char *vl_buf_str(struct vl_buf *b)
{
    if (!b->p)
        return "";
    return b->p;
}

void vl_buf_free(struct vl_buf *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

uint64_t vl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vl_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vl_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int vl_parse_size(const char *s, uint64_t *bytes)
{
    const char *p = s;
    if (!p || *p < '0' || *p > '9')
        return -EINVAL;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    unsigned shift = 0;
    switch (*p | 0x20) {
    case 'k':
        shift = 10;
        break;
    case 'm':
        shift = 20;
        break;
    case 'g':
        shift = 30;
        break;
    case 't':
        shift = 40;
        break;
    case 'b':
        break;
    default:
        if (*p)
            return -EINVAL;
    }
    if (shift) {
        p++;
        if ((*p | 0x20) == 'i')
            p++;
    }
    if ((*p | 0x20) == 'b')
        p++;
    if (*p)
        return -EINVAL;
    if (shift && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *bytes = v << shift;
    return 0;
}

const char *vl_fmt_bytes(uint64_t bytes, char *buf, size_t buflen)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, buflen, "%" PRIu64 " B", bytes);
        return buf;
    }
    double v = (double)bytes;
    unsigned u = 0;
    while (v >= 1024.0 && u + 1 < VL_ARRAY_LEN(unit)) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, buflen, "%.1f %s", v, unit[u]);
    return buf;
}

int vl_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

static int log_fd = -1;

int vl_log_open(const char *path, struct vl_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return vl_err_sys(err, -errno, "cannot open log %s", path);
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    return 0;
}

void vl_log(const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n =
        snprintf(line, sizeof line,
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ pid %d: ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : VL_MIN((size_t)m, sizeof line - (size_t)n - 2));
    line[len++] = '\n';
    ssize_t w = write(log_fd >= 0 ? log_fd : 2, line, len);
    (void)w; /* nowhere left to report a failed log write */
}

void vl_log_close(void)
{
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
}

uint64_t vl_proc_start(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* comm may hold spaces and parentheses: fields start after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    /* after ')': field 3 (state) ... field 22 (starttime) = 20th token */
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return 0;
    }
    return strtoull(p + 1, NULL, 10);
}

bool vl_proc_alive(int pid, uint64_t start_ticks)
{
    if (pid <= 0)
        return false;
    uint64_t st = vl_proc_start(pid);
    if (st == 0)
        return false;
    return start_ticks == 0 || st == start_ticks;
}

int vl_boot_id(char out[37])
{
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, out, 36);
    close(fd);
    if (n != 36)
        return -EIO;
    out[36] = '\0';
    return 0;
}

bool vl_stop_signal_taken(int sig)
{
    struct sigaction cur;
    return sig == SIGTERM || (sigaction(sig, NULL, &cur) == 0 && cur.sa_handler != SIG_IGN);
}

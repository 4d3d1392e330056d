/*
 * logtail.c - see logtail.h. The stream is copied into a memfd by
 * logread_copy (it finds the attempt through the log reference, or by
 * scanning), and only its end is read back.
 */
#include "logtail.h"

#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/logread.h"
#include "core/worker.h"
#include "persist/rundir.h"

size_t logtail_read(const char *run_dir, uint32_t jid, uint32_t attempt, unsigned stream,
                    uint64_t log_ref, unsigned max_lines, char *buf, size_t cap)
{
    if (cap < 2)
        return 0;
    buf[0] = 0;
    char logs[PATH_MAX];
    if (rundir_path(logs, sizeof logs, run_dir, RUNDIR_LOGS) < 0)
        return 0;
    int fd = memfd_create("tail", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    struct logread_ref hint = {.log_id = worker_log_ref_id(log_ref),
                               .rec = worker_log_ref_rec(log_ref)};
    bool have_ref = log_ref && log_ref != UINT64_MAX;
    struct logread_info info;
    struct vl_err err = {0};
    int rc = logread_copy(logs, jid, attempt, stream, have_ref ? &hint : NULL, fd, &info, &err);
    off_t len = lseek(fd, 0, SEEK_END);
    size_t want = len > (off_t)(cap - 1) ? cap - 1 : (size_t)(len > 0 ? len : 0);
    ssize_t got = rc == 0 && want ? pread(fd, buf, want, len - (off_t)want) : -1;
    close(fd);
    if (got <= 0) {
        buf[0] = 0;
        return 0;
    }
    size_t n = (size_t)got;
    while (n && buf[n - 1] == '\n')
        n--;
    buf[n] = 0;
    /* from the end back over max_lines line breaks */
    size_t at = n;
    unsigned lines = 0;
    while (at > 0) {
        if (buf[at - 1] == '\n' && ++lines == max_lines)
            break;
        at--;
    }
    memmove(buf, buf + at, n - at + 1);
    return n - at;
}

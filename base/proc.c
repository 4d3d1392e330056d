/* proc.c - see proc.h. */
#include "base/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* proc.c - see proc.h. */
#include "base/proc.h"

#include <dirent.h>
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

uint32_t vl_proc_count_pgrp(int pgid)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    uint32_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%.255s/stat", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = '\0';
        /* after the last ')': state ppid pgrp */
        char *p = strrchr(buf, ')');
        int ppid, pgrp;
        char state;
        if (p && sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z')
            n++;
    }
    closedir(d);
    return n;
}

/*
 * proc.h - what a test reads of a process in /proc.
 */
#ifndef VOLLEY_TESTS_PROC_H
#define VOLLEY_TESTS_PROC_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* True once pid is gone or a zombie (its parent reaps it when it will),
 * looking every 10 ms, tries times at most: false if it never was. */
static inline __attribute__((unused)) bool proc_gone_within(long pid, int tries)
{
    for (int i = 0; i < tries; i++) {
        char path[64], buf[256];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            return true;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] == 'Z')
            return true;
        usleep(10000);
    }
    return false;
}

#endif /* VOLLEY_TESTS_PROC_H */

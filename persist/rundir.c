/*
 * rundir.c - see rundir.h.
 */
#include "persist/rundir.h"

#include <errno.h>
#include <stdio.h>

int rundir_path(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void rundir_arena_path(const uint8_t run_id[16], char *out, size_t len)
{
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", run_id[i]);
    snprintf(out, len, "%s%s", RUNDIR_ARENA_PREFIX, hex);
}

int rundir_log_dir(char *out, size_t len, const char *dir, uint32_t gen)
{
    int n = gen ? snprintf(out, len, "%s/%s/%s%u", dir, RUNDIR_LOGS, RUNDIR_LOGS_GEN, gen)
                : snprintf(out, len, "%s/%s", dir, RUNDIR_LOGS);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

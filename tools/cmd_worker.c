/*
 * cmd_worker.c - the hidden `volley __worker FD INDEX` command: a worker
 * process of a run, started by the supervisor (core/supervisor.h) with the
 * run's control page as descriptor FD. Not for people: it says so.
 */
#include <stdint.h>
#include <stdio.h>

#include "core/supervisor.h"
#include "core/worker.h"
#include "commands.h"

int cmd_worker(int argc, char **argv)
{
    uint64_t fd, idx;
    if (argc != 3 || vl_parse_u64(argv[1], INT32_MAX, &fd) < 0 ||
        vl_parse_u64(argv[2], SUPERVISOR_MAX_WORKERS - 1, &idx) < 0) {
        fprintf(stderr, "volley __worker: internal command; volley run starts it\n");
        return VL_EXIT_USAGE;
    }
    return worker_main((int)fd, (uint32_t)idx);
}

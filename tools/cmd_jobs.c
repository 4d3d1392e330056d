/*
 * cmd_jobs.c - `volley jobs`: not built yet; issue #7 builds it.
 */
#include "cli.h"
#include "commands.h"

int cmd_jobs(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_built("jobs", 7);
}

/*
 * cmd_logs.c - `volley logs`: not built yet; issue #5 builds it.
 */
#include "cli.h"
#include "commands.h"

int cmd_logs(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_built("logs", 5);
}

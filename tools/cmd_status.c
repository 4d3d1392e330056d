/*
 * cmd_status.c - `volley status`: not built yet; issue #7 builds it.
 */
#include "cli.h"
#include "commands.h"

int cmd_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_built("status", 7);
}

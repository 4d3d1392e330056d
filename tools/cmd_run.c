/*
 * cmd_run.c - `volley run`: not built yet; issue #5 builds it.
 */
#include "cli.h"
#include "commands.h"

int cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_built("run", 5);
}

/*
 * cmd_bench.c - `volley bench`: not built yet; issue #4 builds it.
 */
#include "cli.h"
#include "commands.h"

int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_built("bench", 4);
}

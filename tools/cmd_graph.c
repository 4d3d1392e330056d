/*
 * cmd_graph.c - `volley graph`: not built yet; issue #3 builds it.
 */
#include "cli.h"
#include "commands.h"

int cmd_graph(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_built("graph", 3);
}

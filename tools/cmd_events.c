/*
 * cmd_events.c - `volley events`: not built yet; issue #7 builds it.
 */
#include "cli.h"
#include "commands.h"

int cmd_events(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_built("events", 7);
}

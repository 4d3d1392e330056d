/*
 * cmd_cancel.c - `volley cancel`: not built yet; issue #7 builds it.
 */
#include "cli.h"
#include "commands.h"

int cmd_cancel(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_built("cancel", 7);
}

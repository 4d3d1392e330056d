/*
 * cmd_validate.c - `volley validate`: not built yet; issue #3 builds it.
 */
#include "cli.h"
#include "commands.h"

int cmd_validate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_built("validate", 3);
}

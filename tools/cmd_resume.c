/*
 * cmd_resume.c - `volley resume`: not built yet; issue #6 builds it.
 */
#include "cli.h"
#include "commands.h"

int cmd_resume(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_not_built("resume", 6);
}

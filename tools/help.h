/*
 * help.h - every command's --help text (tools/help.c), used by the command
 * table (tools/main.c).
 */
#ifndef VOLLEY_TOOLS_HELP_H
#define VOLLEY_TOOLS_HELP_H

extern const char cli_help_validate[], cli_help_graph[], cli_help_run[], cli_help_resume[],
    cli_help_runs[], cli_help_status[], cli_help_jobs[], cli_help_logs[], cli_help_cancel[],
    cli_help_reset[], cli_help_events[], cli_help_bench[], cli_help_report[];

#endif /* VOLLEY_TOOLS_HELP_H */

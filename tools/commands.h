/*
 * commands.h - the entry point of every `volley CMD`, one file each
 * (tools/cmd_<name>.c). Each returns the process exit code of SPEC.md.
 */
#ifndef VOLLEY_TOOLS_COMMANDS_H
#define VOLLEY_TOOLS_COMMANDS_H

int cmd_validate(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_worker(int argc, char **argv);  /* hidden: `volley __worker FD INDEX` */
int cmd_cgroups(int argc, char **argv); /* hidden: `volley __cgroups DIR [--sweep]` (tests) */

/* For commands whose issue has not landed: says so on stderr, exit 3. */
int cli_not_built(const char *cmd, int issue);

#endif /* VOLLEY_TOOLS_COMMANDS_H */

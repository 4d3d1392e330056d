/*
 * help.c - what `volley CMD --help` prints: the usage line(s), what the
 * command does, and every option on one line with its default. The usage
 * block (up to the first empty line) is also what a usage error prints.
 *
 * The same options are in the man page (dist/volley.1) and the shell
 * completions (dist/volley.bash, dist/_volley); tests/cli/options.sh
 * compares all four with the options each command's getopt table accepts
 * (one line per option, a default each, at most 100 columns), so none of
 * them can drift from the code. run and resume share their options'
 * lines (runopts.h); resume's defaults are the run's own.
 */
#include "help.h"

const char cli_help_validate[] =
    "usage: volley validate WF [--json]\n"
    "\n"
    "Loads the workflow file WF (YAML, JSON or JSON5), expands parameters and\n"
    "dependencies, and reports every error and warning at once, as\n"
    "file:line:col. Exit 0 if valid, 2 if not.\n"
    "\n"
    "options:\n"
    "  --json  one JSON object instead of the summary (default: the summary)\n";

const char cli_help_graph[] = "usage: volley graph WF [--format dot|json]\n"
                              "\n"
                              "Prints the expanded jobs of WF and their dependencies.\n"
                              "\n"
                              "options:\n"
                              "  --format F  dot (Graphviz) or json (default: dot)\n";

const char cli_help_run[] =
    "usage: volley run WF [--run-dir DIR] [--resume] [-j N] [--workers W] [--cpus N]\n"
    "                  [--memory SIZE] [--gpus N] [--checkpoint-interval SEC]\n"
    "                  [--kill-grace SEC] [--halt-on-failure | --max-failures N]\n"
    "                  [--quiet|--progress] [--max-pids N] [--bind-cpus] [--no-limits]\n"
    "                  [--limits-backend auto|cgroup2|cgroup1|none]\n"
    "\n"
    "Runs the workflow WF in a new run directory, printed at the start. Ctrl-C\n"
    "stops it with its state kept: `volley resume` goes on. An unfinished run\n"
    "of WF in ./volley-runs is named at the start (--resume continues it).\n"
    "Exit 0 if every job completed, 1 if some did not, 2 for a bad workflow\n"
    "or usage, 3 for an environment error, 130 if interrupted. Each job runs in\n"
    "a cgroup where the machine allows: its class's memory is a hard limit, and\n"
    "what it leaves is killed (docs/limits.md).\n"
    "\n"
    "options:\n"
    "  --run-dir DIR              the run directory (default: ./volley-runs/NAME-TIME)\n"
    "  --resume                   continue WF's latest unfinished run instead (default: off)\n"
    "  -j, --jobs N               jobs running at once (default: the CPUs)\n"
    "  --workers W                worker processes, at most -j (default: the CPUs)\n"
    "  --cpus N                   CPUs the jobs may take (default: all here)\n"
    "  --memory SIZE              memory the jobs may take, like 64g (default: all here)\n"
    "  --gpus N                   GPUs the jobs may take (default: all found here)\n"
    "  --checkpoint-interval SEC  how often volley.db gets the changes (default: 1)\n"
    "  --kill-grace SEC           SIGTERM to SIGKILL when jobs are stopped (default: 5)\n"
    "  --quiet                    no progress line, only the summary (default: a line on a TTY)\n"
    "  --progress                 the progress line also when stderr is no TTY (default: off)\n"
    "  --halt-on-failure          start no new job once one failed (default: off)\n"
    "  --max-failures N           start no new job once N failed (default: no limit)\n"
    "  --max-pids N               processes a job may have at once (default: no limit)\n"
    "  --bind-cpus                pin each job to its num_cpus CPUs (default: off)\n"
    "  --no-limits                cgroups track and count, enforce nothing (default: off)\n"
    "  --limits-backend B         auto, cgroup2, cgroup1 or none (default: auto)\n";

const char cli_help_resume[] =
    "usage: volley resume [DIR] [--retry-failed] [--from-snapshot] [--reload [--dry-run]]\n"
    "                     [-j N] [--workers W] [--cpus N] [--memory SIZE] [--gpus N]\n"
    "                     [--checkpoint-interval SEC] [--kill-grace SEC]\n"
    "                     [--halt-on-failure | --max-failures N] [--quiet|--progress]\n"
    "                     [--max-pids N] [--bind-cpus] [--no-limits]\n"
    "                     [--limits-backend auto|cgroup2|cgroup1|none]\n"
    "\n"
    "Continues a run that stopped (Ctrl-C, volley cancel), crashed or finished:\n"
    "finished jobs stay finished, jobs that were running run again. If the\n"
    "workflow file changed since the run stored it, resume says so and goes on\n"
    "with the stored workflow; --reload applies the file: jobs whose definition\n"
    "did not change keep their state, changed and new ones run, and so does\n"
    "everything downstream of them. The options given to `volley run` from -j\n"
    "to --kill-grace apply again; one given here replaces the run's, for this\n"
    "resume and the next.\n"
    "DIR: a run directory (default: the latest run in ./volley-runs).\n"
    "\n"
    "options:\n"
    "  --retry-failed             run failed, terminated, canceled jobs again (default: off)\n"
    "  --from-snapshot            go on from volley.db, not a surviving arena (default: off)\n"
    "  --reload                   apply the workflow file as it is now (default: off)\n"
    "  --dry-run                  with --reload: say what would run, and why (default: off)\n"
    "  -j, --jobs N               jobs running at once (default: the run's, else the CPUs)\n"
    "  --workers W                worker processes, at most -j (default: the run's, else the "
    "CPUs)\n"
    "  --cpus N                   CPUs the jobs may take (default: the run's, else all here)\n"
    "  --memory SIZE              memory the jobs may take, like 64g (default: the run's, else all "
    "here)\n"
    "  --gpus N                   GPUs the jobs may take (default: the run's, else all found "
    "here)\n"
    "  --checkpoint-interval SEC  how often volley.db gets the changes (default: the run's, else "
    "1)\n"
    "  --kill-grace SEC           SIGTERM to SIGKILL when jobs are stopped (default: the run's, "
    "else 5)\n"
    "  --quiet                    no progress line, only the summary (default: a line on a TTY)\n"
    "  --progress                 the progress line also when stderr is no TTY (default: off)\n"
    "  --halt-on-failure          start no new job once one failed (default: off)\n"
    "  --max-failures N           start no new job once N failed (default: no limit)\n"
    "  --max-pids N               processes a job may have at once (default: the run's, else "
    "none)\n"
    "  --bind-cpus                pin each job to its num_cpus CPUs (default: the run's)\n"
    "  --no-limits                cgroups track and count, enforce nothing (default: the run's)\n"
    "  --limits-backend B         auto, cgroup2, cgroup1 or none (default: the run's, else "
    "auto)\n";

const char cli_help_runs[] =
    "usage: volley runs [FOLDER] [--json]\n"
    "\n"
    "Lists the runs in FOLDER (default: ./volley-runs), oldest first:\n"
    "directory, state (live, stopped, finished, crashed), jobs done of all,\n"
    "failed, start, wall time. The last one is the run every command takes\n"
    "when given no run directory.\n"
    "\n"
    "options:\n"
    "  --json  one JSON array, an object per run (default: a table)\n";

const char cli_help_status[] =
    "usage: volley status [DIR] [--json]\n"
    "\n"
    "Counts by state, rate, elapsed time and ETA of a run, live or not, and\n"
    "its first failed jobs. DIR: a run directory (default: the latest run\n"
    "in ./volley-runs).\n"
    "\n"
    "options:\n"
    "  --json  one JSON object instead of the lines (default: the lines)\n";

const char cli_help_jobs[] =
    "usage: volley jobs [DIR] [--state S] [--name REGEX] [--json]\n"
    "\n"
    "One line per job: name, state, attempt, exit code, start, duration.\n"
    "DIR: a run directory (default: the latest run in ./volley-runs).\n"
    "\n"
    "options:\n"
    "  --state S     only jobs in state S, like failed (default: every state)\n"
    "  --name REGEX  only jobs whose name matches REGEX (default: every job)\n"
    "  --json        one JSON array, an object per job (default: tab-separated lines)\n"
    "\n"
    "States: blocked, ready, running, completed, failed, terminated, canceled.\n"
    "REGEX: Perl syntax (\\d, \\w, (?:...)), matched anywhere: ^ and $ anchor it.\n";

const char cli_help_logs[] =
    "usage: volley logs [DIR] JOB [--stderr] [--recovery | --notes] [--attempt N] [--follow]\n"
    "       volley logs [DIR] --action N [--stderr | --notes]\n"
    "\n"
    "Prints exactly what job JOB wrote to its stdout in its last attempt.\n"
    "DIR: a run directory (default: the latest run in ./volley-runs).\n"
    "\n"
    "options:\n"
    "  --stderr      its stderr instead (default: stdout)\n"
    "  --recovery    what its failure handler's recovery script wrote (default: off)\n"
    "  --notes       volley's notes: timeouts, signals, the recovery's end (default: off)\n"
    "  --attempt N   that attempt, 1 for the first (default: the last)\n"
    "  -f, --follow  keep printing until the attempt ends (default: off)\n"
    "  --action N    what the workflow's action N (from 0) printed (default: a job's)\n";

const char cli_help_cancel[] =
    "usage: volley cancel [DIR] [JOB...]\n"
    "\n"
    "Without JOB: stops the live run, its state kept (`volley resume` goes on).\n"
    "With JOBs: cancels them and what depends on them; the run goes on. DIR:\n"
    "a run directory (default: the latest run in ./volley-runs); a first\n"
    "argument that is a run directory is DIR.\n"
    "\n"
    "options: none\n";

const char cli_help_reset[] =
    "usage: volley reset [DIR] JOB... [--downstream] [--name REGEX]\n"
    "       volley reset [DIR] --failed\n"
    "\n"
    "Puts jobs of a stopped or finished run back to ready (or blocked behind\n"
    "their parents), so that `volley resume` runs them again; what was\n"
    "canceled because of them goes back too. A live run is refused. DIR: a\n"
    "run directory (default: the latest run in ./volley-runs); a first\n"
    "argument that is a run directory is DIR.\n"
    "\n"
    "options:\n"
    "  --downstream  also every job downstream of those (default: the canceled ones)\n"
    "  --name REGEX  the jobs whose name matches REGEX, anywhere (default: none)\n"
    "  --failed      every failed, terminated and canceled job (default: off)\n";

const char cli_help_events[] =
    "usage: volley events [DIR] [--follow]\n"
    "\n"
    "Every job state change of a run as JSON lines (DIR/events.jsonl). DIR: a\n"
    "run directory (default: the latest run in ./volley-runs).\n"
    "\n"
    "options:\n"
    "  -f, --follow  keep printing new ones while the run is live (default: off)\n";

const char cli_help_bench[] =
    "usage: volley bench [--mode noexec|process[,...]] [--shape S[,S...]]\n"
    "                    [--jobs N[,N...]] [--workers W[,W...]] [--reps R]\n"
    "                    [--runners volley,limit,make,ninja] [--fanout K] [--seed S]\n"
    "                    [--limits none,track,on]\n"
    "                    [--json] [--csv FILE] [--plot FILE.png] [--quick|--full]\n"
    "                    [--order]\n"
    "\n"
    "Runs every cell (mode x shape x jobs x workers) with every runner of its\n"
    "mode, verifies that each job ran exactly once, and prints completions/s\n"
    "with ratios against the spawn limit, make and ninja. In process mode,\n"
    "workers means the jobs in flight (-j). docs/benchmarks.md has the details.\n"
    "\n"
    "options:\n"
    "  --mode M     noexec (no processes) and/or process (default: noexec)\n"
    "  --shape S    flat, barrier, chain, tree, random (default: flat)\n"
    "  --jobs N     jobs per cell (default: 1000000 noexec, 20000 process)\n"
    "  --workers W  workers, or jobs in flight in process mode (default: the CPUs)\n"
    "  --reps R     repetitions of each cell, the median kept (default: 1)\n"
    "  --runners L  the runners of process mode (default: volley,limit,make,ninja)\n"
    "  --fanout K   children per job of the tree and random shapes (default: 4)\n"
    "  --seed S     the random shape's seed (default: 1)\n"
    "  --limits L   volley once per value: none, track, on (default: once, as a user's)\n"
    "  --json       one JSON document instead of the tables (default: tables)\n"
    "  --csv FILE   also write the rows as CSV to FILE (default: none)\n"
    "  --plot FILE  also draw completions/s with gnuplot into FILE (default: none)\n"
    "  --quick      what `make bench` runs: both modes, every shape (default: off)\n"
    "  --full       the issue-size cells; hours on a small machine (default: off)\n"
    "  --order      also the rank displacement of start vs ready order (default: off)\n"
    "\n"
    "--quick: 1M jobs without processes on 2, 16, 64 and 256 workers and the\n"
    "random shape's order; flat and barrier at 2000 processes at -j 1, 2 and 64.\n"
    "--full: 10M jobs without processes, flat and barrier at 20k and 100k\n"
    "processes. --order runs each noexec cell once more, timing each job.\n"
    "--mode, --shape, --jobs and --workers take several values, comma-separated\n"
    "(--jobs 1000,10000); --quick and --full set the ones not given.\n";

const char cli_help_report[] =
    "usage: volley report [DIR] [-o FILE] [--open]\n"
    "       volley report [DIR] --resources [--json]\n"
    "\n"
    "Writes one self-contained HTML page of the run (a snapshot while the run is\n"
    "live): summary, timeline, completions and running/ready over time,\n"
    "resources per class, failures, slowest jobs. --resources prints per\n"
    "resource class the requested and observed memory and CPU, a verdict (over,\n"
    "under, ok) and the values to request instead. DIR: a run directory\n"
    "(default: the latest run in ./volley-runs). docs/report.md has the details.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  write the page to FILE (default: DIR/report.html)\n"
    "  --open             open the page with xdg-open (default: off)\n"
    "  --resources        per resource class: verdict and what to request (default: off)\n"
    "  --json             with --resources: one JSON document (default: a table)\n";

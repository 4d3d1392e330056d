#!/usr/bin/env bash
# reload.sh VOLLEY [N] - how long `volley resume --reload` takes on a run
# of N jobs (default 1M): from the command to "resuming" (the workflow file
# read and loaded, the stored run read and verified, the job-by-job
# comparison, the new generation's volley.db written and renamed, the arena
# restored). The run: a gate job that fails and N jobs behind it (canceled:
# every job has a record, as after a real run, in a second), and one job
# `last` on its own. Two edits: `last`'s command (one job changed, N kept),
# and the gate's (N downstream of it start over). Each also as --dry-run.
# The resumed run is stopped (SIGTERM) as soon as it started. Wall and CPU
# time: on a shared machine the wall time also waits for a CPU. Cleans up
# after itself.
set -u
V=$(realpath "${1:?usage: reload.sh VOLLEY [N]}")
n=${2:-1000000}
. "$(dirname "$0")/../lib/scratch.sh"
bench_scratch reload
wf() { # wf GATE_CMD LAST_CMD
    printf 'name: rl\njobs:\n  - {name: gate, command: "%s"}\n  - {name: "j{i}", command: "true", parameters: {i: "1:%s"}, depends_on: [gate]}\n  - {name: last, command: "%s"}\n' "$1" "$n" "$2" > wf.yaml
}
# CPU time (user + system) of process $1 so far, in ms: on a shared
# machine the wall time waits for the CPU too
cpu_ms() { awk -v t="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / t)}' "/proc/$1/stat"; }
wf "exit 1" "echo v1"
"$V" run wf.yaml --run-dir r --quiet 2> run.err
[ "$(sqlite3 r/volley.db "select count(*) from job where state = 6")" = "$n" ] ||
    { echo "reload.sh: the run did not cancel $n jobs"; cat run.err; exit 1; }
reload() { # reload LABEL: --dry-run, then the real one up to "resuming"
    local s
    s=$(date +%s%N)
    /usr/bin/time -f "%U %S" -o dry.cpu "$V" resume r --reload --dry-run > dry.out 2> dry.err ||
        { echo "dry run failed"; cat dry.err; exit 1; }
    echo "$1, --dry-run: $(ms "$s" "$(date +%s%N)") ms wall, $(awk '{print int(($1 + $2) * 1000)}' dry.cpu) ms CPU ($(sed -n 2p dry.out))"
    s=$(date +%s%N)
    "$V" resume r --reload --quiet 2> rl.err & pid=$!
    waitfor "resuming" rl.err || { echo "reload did not start"; cat rl.err; exit 1; }
    echo "$1, to resuming: $(ms "$s" "$(date +%s%N)") ms wall, $(cpu_ms "$pid") ms CPU"
    kill -TERM "$pid"; wait "$pid"; pid=
}
wf "exit 1" "echo v2"
reload "reload of $n jobs, 1 changed"
wf "exit 2" "echo v2"
reload "reload of $n jobs, $n downstream of a change"

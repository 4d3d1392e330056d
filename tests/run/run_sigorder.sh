#!/bin/bash
# run_sigorder.sh - a stop that reaches the jobs before volley loses no
# work. A batch scheduler (Slurm's scancel, its time limit), systemd or a
# `kill` to a whole session sends SIGTERM to every process, in no order
# volley controls: a job that dies of it a moment before volley is told to
# stop is stopped (interrupted, run again by resume, its attempt not a
# failure), not failed with 143. A job killed by a signal while nothing
# stops the run stays failed, as before.
. "$(dirname "$0")/lib.sh"
cd "$T"

# two jobs that run until they are killed (until the file go exists), each
# writing its pid first
cat > two.yaml <<YAML
name: two
jobs:
  - name: "s{i}"
    command: 'echo \$\$ > pid_{i}; [ -e go ] || exec sleep 60; : $TOKEN'
    parameters: {i: "1:2"}
  - {name: after, command: 'true; : $TOKEN', depends_on_regexes: ['^s\d\$']}
YAML
wait_file() { # until file $1 is non-empty (at most ~30 s)
    for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.05; done
    return 1
}
# volley's own processes: the runner and its workers (the jobs are the
# workers' children, not the runner's)
volley_pids() { echo "$1 $(ps -o pid= --ppid "$1" | tr '\n' ' ')"; }
# until job NAME of run DIR is no longer running as volley sees it: its
# death was taken (failed, or a note that it is held), or ~30 s
wait_seen() { # dir name
    for _ in $(seq 600); do
        [ "$("$VOLLEY" jobs "$1" --name "^$2\$" --json 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])' 2>/dev/null)" = failed ] &&
            return 0
        "$VOLLEY" logs "$1" "$2" --notes 2>/dev/null | grep -q "killed by signal" && return 0
        sleep 0.05
    done
    return 1
}
# the run: started, both jobs running; PID is the runner
start_two() { # dir
    rm -f pid_1 pid_2
    "$VOLLEY" run two.yaml --run-dir "$1" -j 2 --checkpoint-interval 0.1 2> "$1.err" &
    PID=$!; STARTED+=("$PID")
    wait_file pid_1 && wait_file pid_2 || fail "$1: the jobs never started"
    track_groups pid_1 pid_2
}
# the run ended: exit code, states, and a resume that completes it
check_stopped() { # dir rc
    local d=$1 rc=$2 nf
    check "$d: exit 130 (got $rc)" [ "$rc" = 130 ]
    nf=$(sqlite3 "$d/volley.db" "select count(*) from jobs where state in ('failed', 'terminated')")
    check "$d: no job failed ($nf)" [ "$nf" = 0 ]
    check "$d: both interrupted" [ "$("$VOLLEY" jobs "$d" --state interrupted | wc -l)" = 2 ]
    # resume runs both again (they now end at once)
    touch go
    "$VOLLEY" resume "$d" --quiet 2> "$d.resume.err"; rc=$?
    rm go
    check "$d: resume completes it (exit $rc)" [ "$rc" = 0 ]
    check "$d: their lost attempt is not counted as a failure" \
        [ "$(sqlite3 "$d/volley.db" "select group_concat(lost) from job where name like 's%'")" = "1,1" ]
}

# --- ordered by events: SIGTERM to one job, volley takes its death, then
# SIGTERM to volley's processes (the runner and the workers).
start_two r_seen
kill -TERM "$(cat pid_1)"
wait_seen r_seen s1 || fail "r_seen: volley never took the death of s1"
kill -TERM $(volley_pids "$PID") 2>/dev/null
wait "$PID"; rc=$?
check_stopped r_seen "$rc"

# --- the repro: SIGTERM to the jobs, then 0, 2 or 50 ms later to volley
# (every delay far inside the 5 s kill grace)
for d in 0 0.002 0.05; do
    start_two "r_$d"
    kill -TERM "$(cat pid_1)" "$(cat pid_2)"
    sleep "$d"
    kill -TERM $(volley_pids "$PID") 2>/dev/null
    wait "$PID"; rc=$?
    check_stopped "r_$d" "$rc"
done

# --- the runner first: the same (it always was)
start_two r_sup
kill -TERM $(volley_pids "$PID") 2>/dev/null
kill -TERM "$(cat pid_1)" "$(cat pid_2)" 2>/dev/null
wait "$PID"; rc=$?
check_stopped r_sup "$rc"

# --- nothing stops the run: a job killed by SIGTERM fails (exit 143),
# once the kill grace has passed without a stop; the rest goes on
cat > one.yaml <<YAML
name: one
jobs:
  - {name: victim, command: 'echo \$\$ > pid_v; exec sleep 60; : $TOKEN'}
  - {name: other, command: 'true; : $TOKEN'}
YAML
rm -f pid_v
"$VOLLEY" run one.yaml --run-dir r_fail -j 2 --kill-grace 0.5 2> r_fail.err &
PID=$!; STARTED+=("$PID")
wait_file pid_v || fail "r_fail: the job never started"
kill -TERM "$(cat pid_v)"
wait "$PID"; rc=$?
check "r_fail: exit 1 (got $rc)" [ "$rc" = 1 ]
check "r_fail: the job failed" [ "$(state_of r_fail victim)" = failed ]
check "r_fail: exit code 143" [ "$(sqlite3 r_fail/volley.db "select exit_code from jobs where name='victim'")" = 143 ]
check "r_fail: the rest completed" [ "$(state_of r_fail other)" = completed ]
check "r_fail: its notes say it was held" grep -q held <("$VOLLEY" logs r_fail victim --notes)

# --- a failure that is not one of the four signals is not held: a job
# killed by SIGUSR2 fails at once, the run not waiting for the grace of 60 s
cat > usr.yaml <<YAML
name: usr
jobs:
  - {name: victim, command: 'echo \$\$ > pid_u; exec sleep 60; : $TOKEN'}
YAML
rm -f pid_u
"$VOLLEY" run usr.yaml --run-dir r_usr --kill-grace 60 2> r_usr.err &
PID=$!; STARTED+=("$PID")
wait_file pid_u || fail "r_usr: the job never started"
kill -USR2 "$(cat pid_u)"
wait "$PID"; rc=$?
check "r_usr: exit 1 (got $rc)" [ "$rc" = 1 ]
check "r_usr: failed with 140" [ "$(sqlite3 r_usr/volley.db "select state || ' ' || exit_code from jobs")" = "failed 140" ]
check "r_usr: not held" [ -z "$("$VOLLEY" logs r_usr victim --notes | grep held)" ]
finish

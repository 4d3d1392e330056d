#!/bin/bash
# run_halt.sh - --halt-on-failure and --max-failures end to end: no job
# starts after the Nth failure, running ones finish, exit 1, the run is
# resumable (status says so, resume runs the rest); a Ctrl-C while a halted
# run waits for its running jobs stops them (exit 130, interrupted); bad
# values; and the failures announced as they end without a terminal.
. "$(dirname "$0")/lib.sh"
cd "$T"

# five failing jobs, -j 1: --max-failures 2 runs two of them
cat > fail5.yaml <<YAML
name: fail5
jobs:
  - name: "f{i}"
    command: 'echo "broke {i}" >&2; exit 3; : $TOKEN'
    parameters: {i: "1:5"}
  - {name: fine, command: 'true; : $TOKEN'}
YAML
"$VOLLEY" run fail5.yaml --run-dir r_max -j 1 --max-failures 2 2> max.err; rc=$?
check "--max-failures 2: exit 1 (got $rc)" [ "$rc" = 1 ]
nf=$(sqlite3 -readonly r_max/volley.db "select count(*) from jobs where state = 'failed'")
check "two jobs failed ($nf)" [ "$nf" = 2 ]
nr=$("$VOLLEY" jobs r_max --state ready | wc -l)
check "four never started, ready ($nr)" [ "$nr" = 4 ]
check "the halt is said" grep -q "^volley: 2 jobs failed (--max-failures 2): no more jobs start" max.err
check "each failure announced with its stderr (not a TTY)" \
    [ "$(grep -c "^volley: job 'f[0-9]' failed, exit 3, attempt 1$" max.err)" = 2 ]
check "... and its last line" [ "$(grep -c '^  | broke [0-9]$' max.err)" = 2 ]
check "the summary says halted and how to go on" \
    grep -q "^volley: the jobs not started are kept; continue with: volley resume $T/r_max$" max.err
"$VOLLEY" status r_max --json > st.json
check "status: stopped, continue with resume" [ "$(python3 -c 'import json; d=json.load(open("st.json")); print(d["phase"], d["continue_with"])')" = "stopped volley resume $T/r_max" ]
"$VOLLEY" resume r_max --quiet 2> resume.err; rc=$?
check "resume without the option runs the rest: exit 1 (got $rc)" [ "$rc" = 1 ]
check "... every job finished" [ "$(sqlite3 -readonly r_max/volley.db "select count(*) from jobs where state in ('failed', 'completed')")" = 6 ]
check "... the two failed ones not run again" [ "$(sqlite3 -readonly r_max/volley.db "select sum(attempt) from jobs")" = 6 ]

# --halt-on-failure while a job runs: it finishes; the children of it do not start
cat > drain.yaml <<YAML
name: drain
jobs:
  - name: slow
    command: 'touch started; until grep -q failed events.jsonl; do sleep 0.02; done; : $TOKEN'
  - {name: bad, command: 'while [ ! -e started ]; do sleep 0.02; done; exit 4; : $TOKEN'}
  - {name: child, command: 'true; : $TOKEN', depends_on: [slow]}
YAML
mkdir r_drain
(cd r_drain && "$VOLLEY" run ../drain.yaml --run-dir . -j 2 --halt-on-failure 2> ../drain.err); rc=$?
check "--halt-on-failure: exit 1 (got $rc)" [ "$rc" = 1 ]
check "the running job finished" [ "$(state_of r_drain slow)" = completed ]
check "its child never started" [ "$(state_of r_drain child)" = ready ]
check "the halt names the option" grep -q "a job failed (--halt-on-failure): no more jobs start; 1 running will finish (Ctrl-C stops them)" drain.err

# a halted run waiting for its running job: Ctrl-C stops it
cat > stuck.yaml <<YAML
name: stuck
jobs:
  - {name: long, command: 'touch started; sleep 60; : $TOKEN'}
  - {name: bad, command: 'while [ ! -e started ]; do sleep 0.02; done; exit 4; : $TOKEN'}
YAML
mkdir r_stuck
cd r_stuck
start_int ../stuck.err "$VOLLEY" run ../stuck.yaml --run-dir . -j 2 --halt-on-failure
wait_until "the halt of r_stuck" has_line ../stuck.err "no more jobs start"
check "halted while long runs" grep -q "no more jobs start" ../stuck.err
kill -INT "$IPID"
wait "$IPID"; rc=$?
cd "$T"
check "Ctrl-C: exit 130 (got $rc)" [ "$rc" = 130 ]
check "the running job was stopped: interrupted" [ "$("$VOLLEY" jobs r_stuck --state interrupted | cut -f1)" = long ]

# bad values
"$VOLLEY" run fail5.yaml --run-dir r_bad --max-failures 0 2> bad.err; rc=$?
check "--max-failures 0: exit 2 (got $rc)" [ "$rc" = 2 ]
check "... says why" grep -q "^volley run: --max-failures must be between 1 and" bad.err
"$VOLLEY" run fail5.yaml --run-dir r_bad --halt-on-failure --max-failures 3 2> bad.err; rc=$?
check "both: exit 2 (got $rc)" [ "$rc" = 2 ]
check "... says give one" grep -q "give one" bad.err
check "nothing was made" [ ! -e r_bad ]
finish

#!/usr/bin/env bash
# watch_cancel.sh - volley cancel: named jobs and their dependents on a live
# run (the running one is stopped, the rest goes on), the whole run (exit
# 130, then volley resume finishes it), and a run that is not live. -j 2
# is given: two jobs run at once also where volley is given one CPU
# (taskset -c 0 make test).
. "$(dirname "$0")/watch_lib.sh"
cd "$tmp"
cat > wf.yaml << 'YAML'
name: cancel
jobs:
  - name: long
    command: "while [ ! -e never ]; do sleep 0.05; done"
  - {name: after, command: "echo after", depends_on: [long]}
  - name: other
    command: "while [ ! -e go ]; do sleep 0.05; done"
YAML
start_run r wf.yaml --kill-grace 1 -j 2
running() { [ "$("$bin" jobs r --state running 2> /dev/null | wc -l)" = 2 ]; }
wait_for running
"$bin" cancel r lnog > out 2> err
check unknown_exit 2 "$?"
check unknown_msg "volley: no job 'lnog' in run $tmp/r (did you mean 'long'?)" "$(cat err)"
"$bin" cancel r lnog long othr > out 2> err
check unknown_all_exit 2 "$?"
check unknown_all_msg "volley: no job 'lnog' in run $tmp/r (did you mean 'long'?)
volley: no job 'othr' in run $tmp/r (did you mean 'other'?)" "$(cat err)"
"$bin" cancel r long > out 2> err
check cancel_exit 0 "$?"
check cancel_out "long: 1 jobs canceled now, 1 running ones being stopped" "$(cat out)"
gone() { [ "$("$bin" jobs r --state canceled 2> /dev/null | cut -f1 | tr '\n' ' ')" = "long after " ]; }
wait_for gone
check canceled "long after " "$("$bin" jobs r --state canceled | cut -f1 | tr '\n' ' ')"
check other_running "other" "$("$bin" jobs r --state running | cut -f1)"
touch go
wait "$last_pid"
check run_exit 1 "$?"
"$bin" cancel r > out 2> err
check notlive_exit 3 "$?"
check notlive_msg "volley cancel: run $tmp/r is not running (it finished); nothing to cancel" "$(cat err)"

# the whole run
rm go
start_run r2 wf.yaml --kill-grace 1 -j 2
pid2=$last_pid
running2() { [ "$("$bin" jobs r2 --state running 2> /dev/null | wc -l)" = 2 ]; }
wait_for running2
"$bin" cancel r2 > out 2> err
check whole_exit 0 "$?"
check whole_msg "volley cancel: stopped; continue with: volley resume $tmp/r2" "$(tail -1 err)"
wait "$pid2"
check whole_run_exit 130 "$?"
"$bin" status r2 --json > st.json
# its two running jobs were interrupted: nothing runs them, resume will
check whole_status "False stopped 0 2 1 volley resume $tmp/r2" "$(python3 -c 'import json; d=json.load(open("st.json")); print(d["live"], d["phase"], d["states"]["running"], d["states"]["interrupted"], d["states"]["blocked"], d["continue_with"])')"
check whole_status_human "  stopped (its interrupted jobs run again): continue with: volley resume $tmp/r2" "$("$bin" status r2 | grep '^  stopped')"
check whole_status_states 1 "$("$bin" status r2 | grep -c ', 0 running, .*, 2 interrupted$')"
check whole_interrupted 2 "$("$bin" jobs r2 --state interrupted | grep -c '	interrupted	')"
check whole_none_running "" "$("$bin" jobs r2 --state running)"
"$bin" cancel r2 > out 2> err
check stopped_cancel_exit 3 "$?"
check stopped_cancel_msg "volley cancel: run $tmp/r2 is not running (it stopped: volley resume continues it); nothing to cancel" "$(cat err)"
touch go never
"$bin" resume r2 --quiet 2> /dev/null
check resume_exit 0 "$?"
check resumed "3" "$("$bin" jobs r2 --state completed | wc -l)"

# a crashed runner: its arena stays; status reads it, cancel refuses
rm -f go never
start_run r3 wf.yaml --kill-grace 1 -j 2
pid3=$last_pid
running3() { [ "$("$bin" jobs r3 --state running 2> /dev/null | wc -l)" = 2 ]; }
wait_for running3
kill -KILL "$pid3"
wait "$pid3" 2> /dev/null
"$bin" status r3 --json > st.json
check crashed_status "False stopped arena 2" "$(python3 -c 'import json; d=json.load(open("st.json")); print(d["live"], d["phase"], d["source"], d["states"]["interrupted"])')"
"$bin" cancel r3 > out 2> err
check crashed_cancel_exit 3 "$?"
check crashed_cancel_msg "volley cancel: run $tmp/r3 is not running (its runner is gone: volley resume continues it); nothing to cancel" "$(cat err)"
"$bin" cancel --nope > out 2> err
check usage_exit 2 "$?"
# no DIR: the latest run in ./volley-runs; here there is none
"$bin" cancel > out 2> err
check nodir_exit 3 "$?"
check nodir_msg 1 "$(grep -c 'no run directory given' err)"
"$bin" cancel "$tmp" > out 2> err
check notrun_exit 3 "$?"
finish

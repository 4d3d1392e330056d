#!/usr/bin/env bash
# runs.sh - find your runs and pick jobs back up: `volley runs` (each state:
# live, stopped, finished, crashed, unreadable; --json), every command
# without DIR taking the latest run in ./volley-runs and naming it, and
# `volley reset` (names, --name, --failed, --downstream; an unknown job:
# did-you-mean, exit 2, nothing changed).
. "$(dirname "$0")/watch_lib.sh"
cd "$tmp" || exit 1
py() { python3 -c "$@"; }

# no runs yet
"$bin" runs > out.txt 2> err.txt
check empty_exit 0 $?
check empty_says 1 "$(grep -c 'no runs in volley-runs' err.txt)"
check empty_json "[]" "$("$bin" runs --json)"
"$bin" status > out.txt 2> err.txt
check nodir_none_exit 3 $?
check nodir_none_says 1 "$(grep -c 'no run directory given, and .*volley-runs holds no run' err.txt)"

cat > fin.yaml << 'YAML'
name: fin
jobs:
  - {name: "ok{i}", command: "echo ok{i}", parameters: {i: "1:3"}}
  - {name: bad, command: "echo bad; exit 3"}
  - {name: after_bad, command: "echo after", depends_on: [bad]}
  - {name: after_ok, command: "echo after", depends_on: [ok1]}
YAML
cat > slow.yaml << 'YAML'
name: slow
jobs:
  - {name: first, command: "echo first"}
  - {name: gate, command: "while [ ! -e go ]; do sleep 0.05; done", depends_on: [first]}
YAML
# finished (with a failure), in ./volley-runs
"$bin" run fin.yaml --quiet 2> /dev/null
check finished_exit 1 $?
fin_dir=$(ls -d volley-runs/fin-*)
run_dirs+=("$tmp/$fin_dir")
# stopped: canceled while the gate waits
mkdir -p volley-runs
start_run volley-runs/stopped slow.yaml --checkpoint-interval 0.1
settled() { "$bin" status volley-runs/stopped --json 2> /dev/null | grep -q '"completed": 1'; }
wait_for settled
"$bin" cancel volley-runs/stopped > /dev/null 2>&1
wait "$last_pid"
# crashed: the runner killed, its arena left
start_run volley-runs/crashed slow.yaml --checkpoint-interval 0.1
crash_pid=$last_pid
wait_for bash -c "'$bin' status volley-runs/crashed --json 2> /dev/null | grep -q '\"completed\": 1'"
kill -KILL "$crash_pid"
wait "$crash_pid" 2> /dev/null
# unreadable: not a database
mkdir -p volley-runs/broken
echo garbage > volley-runs/broken/volley.db
# live: the latest
sleep 1.1 # a later start second than the others
start_run volley-runs/live slow.yaml --checkpoint-interval 0.1
live_pid=$last_pid
wait_for bash -c "'$bin' status volley-runs/live --json 2> /dev/null | grep -q '\"live\": true'"

"$bin" runs > runs.txt
check runs_exit 0 $?
state_of() { awk -v r="volley-runs/$1" '$1 == r {print $2}' runs.txt; }
check runs_finished finished "$(state_of "$(basename "$fin_dir")")"
check runs_stopped stopped "$(state_of stopped)"
check runs_crashed crashed "$(state_of crashed)"
check runs_live live "$(state_of live)"
check runs_unreadable unreadable "$(state_of broken)"
check runs_last_is_latest "volley-runs/live" "$(tail -1 runs.txt | cut -d' ' -f1)"
check runs_header "RUN STATE DONE/TOTAL FAILED STARTED WALL" "$(head -1 runs.txt | tr -s ' ')"
check runs_fin_counts "6/6 1" "$(awk -v r="$fin_dir" '$1 == r {print $3, $4}' runs.txt)"
"$bin" runs --json > runs.json
check runs_json "broken:unreadable fin:finished:6:6:1 stopped:stopped:1:2:0 crashed:crashed:1:2:0 live:live:1:2:0:pid" \
  "$(py 'import json
out = []
for r in json.load(open("runs.json")):
    n = r["name"].split("-")[0]
    if r["state"] == "unreadable":
        out.append(n + ":unreadable"); continue
    s = "%s:%s:%d:%d:%d" % (n, r["state"], r["done"], r["total"], r["failed"])
    if r["pid"]: s += ":pid"
    out.append(s)
print(" ".join(out))')"
check runs_json_keys ok "$(py 'import json
r = [x for x in json.load(open("runs.json")) if x["state"] == "finished"][0]
need = {"name", "dir", "state", "done", "total", "failed", "started", "wall_s", "workflow_file"}
print("ok" if need <= set(r) and r["dir"].startswith("/") and r["wall_s"] >= 0 else r)')"
"$bin" runs "$tmp/volley-runs" > /dev/null
check runs_folder_arg 0 $?

# no DIR: the latest run, named on stderr
"$bin" status --json > st.json 2> st.err
check nodir_status_exit 0 $?
check nodir_status_names 1 "$(grep -c 'volley status: the latest run: volley-runs/live (live)' st.err)"
check nodir_status_is_live True "$(py 'import json; print(json.load(open("st.json"))["live"])')"
check nodir_jobs "first gate" "$("$bin" jobs 2> /dev/null | cut -f1 | tr '\n' ' ' | sed 's/ $//')"
check nodir_logs first "$("$bin" logs first 2> /dev/null)"
check nodir_logs_dir_job first "$("$bin" logs volley-runs/live first 2> /dev/null)"
# a collection may see first running (then two lines: ready->running,
# running->completed, as on a loaded machine under ASan); it completed once
check nodir_events 1 "$("$bin" events 2> /dev/null | grep -c '"job":"first".*"to":"completed"')"
# cancel JOB (no DIR): the gate of the live run, which then ends
"$bin" cancel gate > c.out 2> c.err
check nodir_cancel_job 0 $?
check nodir_cancel_names 1 "$(grep -c 'volley cancel: the latest run: volley-runs/live' c.err)"
wait "$live_pid"
check nodir_cancel_ended canceled "$("$bin" jobs volley-runs/live --json 2> /dev/null |
  py 'import json,sys; print([j["state"] for j in json.load(sys.stdin) if j["name"] == "gate"][0])')"

# --- reset
sum() { md5sum "$1/volley.db" | cut -d' ' -f1; }
before=$(sum "$fin_dir")
"$bin" reset "$fin_dir" bda > r.out 2> r.err
check reset_unknown_exit 2 $?
check reset_unknown_dym 1 "$(grep -c "no job 'bda' in run .* (did you mean 'bad'?)" r.err)"
check reset_unknown_untouched "$before" "$(sum "$fin_dir")"
"$bin" reset "$fin_dir" zzzzzzzz > r.out 2> r.err
check reset_far_exit 2 $?
check reset_far_says 1 "$(grep -c "no job 'zzzzzzzz' in run .*volley jobs" r.err)"
"$bin" reset "$fin_dir" --name '(' > r.out 2> r.err
check reset_bad_regex 2 $?
"$bin" reset "$fin_dir" --name '^nomatch$' > r.out 2> r.err
check reset_regex_none 2 $?
check reset_regex_none_says 1 "$(grep -c "matches no job" r.err)"
"$bin" reset "$fin_dir" > r.out 2> r.err
check reset_nothing_chosen 2 $?
check reset_untouched_after_errors "$before" "$(sum "$fin_dir")"
js() { "$bin" jobs "$fin_dir" --json | py 'import json,sys; print(" ".join("%s=%s" % (j["name"], j["state"]) for j in json.load(sys.stdin)))'; }
# bad failed, after_bad canceled: --failed puts both back
"$bin" reset "$fin_dir" --failed > r.out
check reset_failed_exit 0 $?
check reset_failed_says 1 "$(grep -c "reset 2 jobs of .*: bad after_bad" r.out)"
check reset_failed_states "ok1=completed ok2=completed ok3=completed bad=ready after_bad=blocked after_ok=completed" "$(js)"
check runs_after_reset stopped "$("$bin" runs --json | py 'import json,sys
print([r["state"] for r in json.load(sys.stdin) if r["name"].startswith("fin")][0])')"
# a job alone: its completed child stays completed
"$bin" reset "$fin_dir" ok1 > r.out
check reset_one "ok1=ready after_ok=completed" "$(js | tr ' ' '\n' | grep -e '^ok1=' -e '^after_ok=' | tr '\n' ' ' | sed 's/ $//')"
# --downstream: the child too
"$bin" reset "$fin_dir" ok2 --name '^ok1$' --downstream > r.out
check reset_downstream_says 1 "$(grep -c "reset 2 jobs of .*: ok2 after_ok" r.out)"
check reset_downstream "ok1=ready ok2=ready after_ok=blocked" "$(js | tr ' ' '\n' | grep -e '^ok[12]=' -e '^after_ok=' | tr '\n' ' ' | sed 's/ $//')"
# resume runs them: attempts counted on
"$bin" resume "$fin_dir" --quiet 2> /dev/null
check reset_resume_exit 1 $?
check reset_resume_attempts "ok1:2 ok2:2 ok3:1 bad:2 after_bad:0 after_ok:2" "$("$bin" jobs "$fin_dir" --json |
  py 'import json,sys; print(" ".join("%s:%d" % (j["name"], j["attempt"]) for j in json.load(sys.stdin)))')"
check reset_logs_of_first_attempt ok1 "$("$bin" logs "$fin_dir" ok1 --attempt 1)"

kill -KILL "${bg_pids[@]}" 2> /dev/null
finish

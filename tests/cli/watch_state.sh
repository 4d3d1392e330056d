#!/usr/bin/env bash
# watch_state.sh - volley status, jobs, events and DIR/joblog.tsv on a live
# run (one job waits for a file) and on the same run once finished; JSON
# checked with python3; bad input (not a run, unknown state, bad regex).
. "$(dirname "$0")/watch_lib.sh"
cd "$tmp"
cat > wf.yaml << 'YAML'
name: state
jobs:
  - {name: ok1, command: "echo ok"}
  - {name: ok2, command: "echo ok"}
  - {name: bad, command: "exit 3"}
  - name: gate
    command: "while [ ! -e go ]; do sleep 0.05; done"
  - {name: after, command: "echo after", depends_on: [gate]}
YAML
py() { python3 -c "$@"; }
start_run r wf.yaml --checkpoint-interval 0.1
settled() {
  "$bin" status r --json > st.json 2> /dev/null &&
    py 'import json; d=json.load(open("st.json")); s=d["states"]; exit(0 if (s["running"],s["completed"],s["failed"])==(1,2,1) else 1)'
}
wait_for settled
check live_status "5 True running ['bad'] 1 1 8 0 arena" "$(py 'import json; d=json.load(open("st.json"))
print(d["total"], d["live"], d["phase"], d["failed_jobs"], d["running"], d["states"]["blocked"], len(d["states"]), d["states"]["canceled"], d["source"])')"
check live_status_keys ok "$(py 'import json; d=json.load(open("st.json"))
need={"total","states","running","rate_per_s","elapsed_s","eta_s","live","failed_jobs","limits","cpu_s"}
print("ok" if need <= set(d) and d["limits"] in ("cgroup2","cgroup1","none") and d["cpu_s"] >= 0 and d["elapsed_s"] > 0 and d["rate_per_s"] > 0 and d["eta_s"] > 0 else d)')"
"$bin" status r > st.txt
check live_status_human 1 "$(grep -c '^  failed: bad$' st.txt)"
"$bin" jobs r --json > jobs.json
check live_jobs "ok1 completed 1 0|ok2 completed 1 0|bad failed 1 3|gate running 1 None|after blocked 0 None" \
  "$(py 'import json; print("|".join("%s %s %s %s" % (j["name"], j["state"], j["attempt"], j["exit_code"]) for j in json.load(open("jobs.json"))))')"
check live_jobs_keys ok "$(py 'import json; print("ok" if all(list(j)==["name","state","attempt","exit_code","start","duration_s","max_rss_bytes","cpu_user_s","cpu_sys_s"] for j in json.load(open("jobs.json"))) else "bad")')"
check live_running_start ok "$(py 'import json; g=[j for j in json.load(open("jobs.json")) if j["name"]=="gate"][0]
print("ok" if g["start"] and g["start"].endswith("Z") else g)')"
check live_state_filter "after" "$("$bin" jobs r --state blocked | cut -f1)"
check live_name_filter "ok1 ok2" "$("$bin" jobs r --name '^ok\d$' | cut -f1 | tr '\n' ' ' | sed 's/ $//')"
check live_both_filters "" "$("$bin" jobs r --name '^ok' --state failed)"
wait_for grep -q '"job":"bad"' r/events.jsonl
check live_events_bad 1 "$("$bin" events r | grep -c '"job":"bad","from":"[a-z]*","to":"failed","attempt":1,"exit_code":3}')"
"$bin" events r --follow > follow.jsonl &
fpid=$!
touch go
wait "$last_pid"
check run_exit 1 "$?"
wait "$fpid"
check follow_exit 0 "$?"
check follow_after 1 "$(grep -c '"job":"after",.*"to":"completed"' follow.jsonl)"
check follow_parses 5 "$(py 'import json,sys
ends=[json.loads(l) for l in open("follow.jsonl")]
print(len({e["job"] for e in ends if e["to"] in ("completed","failed")}))')"

# finished
"$bin" status r --json > st.json
check done_status "False finished 4 1 0 0 0 ['bad']" "$(py 'import json; d=json.load(open("st.json")); s=d["states"]
print(d["live"], d["phase"], s["completed"], s["failed"], s["running"], d["eta_s"], d["rate_per_s"], d["failed_jobs"])')"
"$bin" jobs r --json > jobs.json
check done_jobs "ok1 completed 0|ok2 completed 0|bad failed 3|gate completed 0|after completed 0" \
  "$(py 'import json; print("|".join("%s %s %s" % (j["name"], j["state"], j["exit_code"]) for j in json.load(open("jobs.json"))))')"
check done_jobs_times ok "$(py 'import json; print("ok" if all(j["start"].endswith("Z") and j["duration_s"] >= 0 for j in json.load(open("jobs.json"))) else "bad")')"
check done_jobs_text "bad	failed	1	3" "$("$bin" jobs r --state failed | cut -f1-4)"
check joblog_header "Seq	Host	Starttime	JobRuntime	Send	Receive	Exitval	Signal	Command" "$(head -1 r/joblog.tsv)"
check joblog_rows "1:0:echo ok 2:0:echo ok 3:3:exit 3 4:0:while [ ! -e go ]; do sleep 0.05; done 5:0:echo after" \
  "$(py 'import csv; r=list(csv.DictReader(open("r/joblog.tsv"), delimiter="\t"))
print(" ".join("%s:%s:%s" % (x["Seq"], x["Exitval"], x["Command"]) for x in sorted(r, key=lambda x: int(x["Seq"]))))')"
check joblog_times ok "$(py 'import csv; r=list(csv.DictReader(open("r/joblog.tsv"), delimiter="\t"))
print("ok" if all(float(x["Starttime"]) > 1.7e9 and float(x["JobRuntime"]) >= 0 and x["Host"] == ":" for x in r) else r)')"

# events agree with `volley jobs`: a job canceled before it ran has run 0
# times and no exit code
cat > wf2.yaml << 'YAML'
name: cancel
jobs:
  - {name: fails, command: "exit 4"}
  - {name: child, command: "echo never", depends_on: [fails]}
YAML
"$bin" run wf2.yaml --run-dir r2 2> /dev/null
check canceled_event '{"job":"child","from":"blocked","to":"canceled","attempt":0}' \
  "$(grep '"job":"child"' r2/events.jsonl | sed 's/^{"t":[0-9.]*,/{/')"
check canceled_jobs "child	canceled	0	-" "$("$bin" jobs r2 --state canceled | cut -f1-4)"

# jobs a worker claimed that wait for capacity are running in the arena,
# not started: status tells them apart (waiting), and running + waiting is
# the state count; one CPU for three one-CPU jobs on two workers
cat > wf3.yaml << 'YAML'
name: capacity
resource_requirements:
  - {name: one, num_cpus: 1}
jobs:
  - {name: c1, resource_requirements: one, command: "while [ ! -e go3 ]; do sleep 0.05; done"}
  - {name: c2, resource_requirements: one, command: "while [ ! -e go3 ]; do sleep 0.05; done"}
  - {name: c3, resource_requirements: one, command: "while [ ! -e go3 ]; do sleep 0.05; done"}
YAML
start_run r3 wf3.yaml --cpus 1 -j 3 --workers 2 --checkpoint-interval 0.1
waits() {
  "$bin" status r3 --json > st3.json 2> /dev/null &&
    py 'import json; d=json.load(open("st3.json")); exit(0 if d["running"] == 1 and d["waiting"] >= 1 else 1)'
}
wait_for waits
check waiting_status ok "$(py 'import json; d=json.load(open("st3.json"))
print("ok" if d["running"] + d["waiting"] == d["states"]["running"] else d)')"
"$bin" status r3 > st3.txt
check waiting_human 1 "$(grep -c '^  waiting for capacity (-j, --cpus, --memory, --gpus): [12] of the [23] running, not started yet$' st3.txt)"
touch go3
wait "$last_pid"
check waiting_run_exit 0 "$?"
"$bin" status r3 --json > st3.json
check waiting_done "0 0 3" "$(py 'import json; d=json.load(open("st3.json")); print(d["running"], d["waiting"], d["states"]["completed"])')"

# bad input
mkdir notrun
for c in status jobs events; do
  "$bin" $c notrun > out 2> err
  check "${c}_notrun_exit" 3 "$?"
  check "${c}_notrun_msg" 1 "$(grep -c 'is not a volley run directory' err)"
done
"$bin" jobs r --state done > out 2> err
check bad_state_exit 2 "$?"
check bad_state_msg "volley jobs: --state: unknown state 'done' (blocked, ready, running, completed, failed, terminated, canceled, interrupted)" "$(head -1 err)"
"$bin" jobs r --name '(' > out 2> err
check bad_regex_exit 2 "$?"
check bad_regex_msg "volley jobs: --name: bad regex at offset 1: missing closing parenthesis" "$(head -1 err)"
"$bin" status extra1 extra2 > out 2> err
check status_usage 2 "$?"
# no DIR: the latest run in ./volley-runs; here there is none
"$bin" status > out 2> err
check status_nodir 3 "$?"
# output that cannot be written is an environment error (exit 3) with its
# cause, also for a few lines (events used to exit 0: a failed last flush)
for c in status "status --json" jobs "jobs --json" events; do
  "$bin" $c r > /dev/full 2> err
  check "${c}_full_exit" 3 "$?"
  check "${c}_full_msg" "volley: cannot write to stdout: No space left on device" "$(cat err)"
done
finish

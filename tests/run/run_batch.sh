#!/bin/bash
# run_batch.sh - a good citizen inside an allocation, without Slurm
# (tests/slurm/ has the real one): the capacity from what volley was given
# (taskset: -j 1, no two jobs at once), the deadline (jobs that cannot end
# before it do not start; exit 75; the resume completes; each job ran once),
# SIGUSR1 (no new job starts, the running one finishes, exit 75), the stop
# at the deadline less the kill grace, a Slurm job's facts from the
# environment and scontrol (here a stand-in), and the allocations volley.db
# records.
. "$(dirname "$0")/lib.sh"
cd "$T"

# every job appends "start NAME" and "end NAME" to the ledger
ledger_check() { # what: no start without its end, and each job's end once
    python3 - "$@" <<'PY'
import sys
lines = [l.split() for l in open("ledger")]
starts = [n for k, n in lines if k == "start"]
ends = [n for k, n in lines if k == "end"]
bad = []
for n in set(starts):
    if starts.count(n) != ends.count(n):
        bad.append("%s: %d starts, %d ends" % (n, starts.count(n), ends.count(n)))
for n in set(ends):
    if ends.count(n) != 1:
        bad.append("%s ended %d times" % (n, ends.count(n)))
print("; ".join(sorted(bad)))
PY
}
started() { grep -c "^start $1\$" ledger; }

# --- taskset: one CPU given, so -j 1, and never two jobs at once
cat > six.yaml <<YAML
name: six
jobs:
  - name: "j{i}"
    command: 'sleep 0.2; : $TOKEN'
    parameters: {i: "1:6"}
YAML
if [ "$(nproc --all)" -lt 2 ]; then
    echo "skip part: one CPU, taskset cannot narrow it"
else
    taskset -c 0 "$VOLLEY" run six.yaml --run-dir r_task 2> task.err; rc=$?
    check "taskset -c 0: exit 0 (got $rc)" [ "$rc" = 0 ]
    check "says 1 CPU from the affinity, -j 1" grep -q "capacity 1 CPU (CPU affinity), .*; -j 1 (the CPUs)$" task.err
    over=$(sqlite3 r_task/volley.db "select count(*) from job a join job b on a.jid < b.jid
        where a.start_ns < b.end_ns and b.start_ns < a.end_ns")
    check "no two jobs overlapped ($over pairs did)" [ "$over" = 0 ]
    check "... and all six ran" [ "$(sqlite3 r_task/volley.db "select count(*) from jobs where state='completed'")" = 6 ]
fi
"$VOLLEY" run six.yaml --run-dir r_flags --cpus 3 -j 2 --memory 1g 2> flags.err; rc=$?
check "flags override: said so (exit $rc)" grep -q "capacity 3 CPUs (--cpus), 1.0 GiB of memory (--memory), .*; -j 2$" flags.err

# --- a deadline: jobs whose runtime ends after it do not start, nor (as it
# is near) jobs without a runtime; the run ends at once with exit 75
cat > dl.yaml <<YAML
name: dl
resource_requirements:
  - {name: short, runtime: PT2S}
  - {name: long, runtime: PT1M}
jobs:
  - name: "s{i}"
    command: 'echo start \$VOLLEY_JOB_NAME >> ledger; sleep 0.1; echo end \$VOLLEY_JOB_NAME >> ledger; : $TOKEN'
    parameters: {i: "1:4"}
    resource_requirements: short
  - name: "l{i}"
    command: 'echo start \$VOLLEY_JOB_NAME >> ledger; sleep 0.1; echo end \$VOLLEY_JOB_NAME >> ledger; : $TOKEN'
    parameters: {i: "1:2"}
    resource_requirements: long
  - name: n1
    command: 'echo start \$VOLLEY_JOB_NAME >> ledger; echo end \$VOLLEY_JOB_NAME >> ledger; : $TOKEN'
  - name: after
    command: 'echo start \$VOLLEY_JOB_NAME >> ledger; echo end \$VOLLEY_JOB_NAME >> ledger; : $TOKEN'
    depends_on: [s1, l1]
    resource_requirements: short
YAML
rm -f ledger
"$VOLLEY" run dl.yaml --run-dir r_dl -j 2 --deadline +30s --kill-grace 1 2> dl.err; rc=$?
check "deadline: exit 75 (got $rc)" [ "$rc" = 75 ]
check "... said so" grep -q "^volley: deadline .* (--deadline)$" dl.err
check "... every short job ran" [ "$(grep -c '^end s' ledger)" = 4 ]
check "... no long job started" [ "$(grep -c '^start l' ledger)" = 0 ]
check "... nor the job without a runtime" [ "$(started n1)" = 0 ]
check "... no job started that did not end ($(ledger_check))" [ -z "$(ledger_check)" ]
rstat() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1]+"/run-stats.json")); d=s["drain"]; t=s["stop"]; print(d and d["why"], d and d["wall_ns"] > 0, t and t["signal"], t and t["deadline"], t and t["wall_ns"] >= (d["wall_ns"] if d else 0))' "$1" 2>&1; }
check "... run-stats.json: drained for the deadline, no stop before it ($(rstat r_dl))" [ "$(rstat r_dl)" = "the deadline is near True None None None" ]
check "... the not-started ones are ready" [ "$("$VOLLEY" jobs r_dl --state ready | wc -l)" = 3 ]
check "... the summary says how to go on" grep -q "exit 75: continue in the next allocation with: volley resume" dl.err
"$VOLLEY" status r_dl > st.txt
check "status: the allocation, exit 75" grep -q "#1 on .*: stopped for the allocation's end (exit 75)" st.txt
"$VOLLEY" resume r_dl 2> dl2.err; rc=$?
check "resume without a deadline: exit 0 (got $rc)" [ "$rc" = 0 ]
check "... every job ran once, to its end ($(ledger_check))" [ -z "$(ledger_check)" ]
check "... all 8 ended" [ "$(grep -c '^end' ledger)" = 8 ]
"$VOLLEY" status r_dl --json > st.json
check "status --json: two allocations, 75 then 0" [ "$(python3 -c 'import json; print([a["exit_code"] for a in json.load(open("st.json"))["allocations"]])')" = "[75, 0]" ]
# a reload rewrites volley.db: the allocations are carried over
cat >> dl.yaml <<YAML
  - {name: added, command: 'echo start added >> ledger; echo end added >> ledger; : $TOKEN'}
YAML
"$VOLLEY" resume r_dl --reload --quiet 2> reload.err; rc=$?
check "a reload (exit $rc): the earlier allocations kept, its own added" \
    [ "$("$VOLLEY" status r_dl --json | python3 -c 'import json,sys; print([a["exit_code"] for a in json.load(sys.stdin)["allocations"]])')" = "[75, 0, 0]" ]

# --- SIGUSR1 (sbatch --signal=B:USR1@N), no deadline known: nothing new
# starts, the running job finishes, exit 75
cat > usr1.yaml <<YAML
name: usr1
jobs:
  - name: w
    command: 'echo start w >> ledger; until [ -e release ]; do sleep 0.05; done; echo end w >> ledger; : $TOKEN'
  - name: "o{i}"
    command: 'echo start \$VOLLEY_JOB_NAME >> ledger; echo end \$VOLLEY_JOB_NAME >> ledger; : $TOKEN'
    parameters: {i: "1:3"}
    depends_on: [w]
YAML
rm -f ledger release
"$VOLLEY" run usr1.yaml --run-dir r_usr1 -j 2 2> usr1.err &
pid=$!; STARTED+=("$pid")
for _ in $(seq 600); do grep -q "^start w" ledger 2>/dev/null && break; sleep 0.05; done
kill -USR1 "$pid"
for _ in $(seq 600); do grep -q "SIGUSR1: the allocation ends soon" usr1.err && break; sleep 0.05; done
check "SIGUSR1: said" grep -q "SIGUSR1: the allocation ends soon: no more jobs start, running ones finish" usr1.err
touch release
wait "$pid"; rc=$?
check "SIGUSR1: exit 75 (got $rc)" [ "$rc" = 75 ]
check "... the running job finished" [ "$(state_of r_usr1 w)" = completed ]
check "... run-stats.json: drained for SIGUSR1 ($(rstat r_usr1))" [ "$(rstat r_usr1)" = "SIGUSR1 True None None None" ]
check "... none of its children started" [ "$(grep -c '^start o' ledger)" = 0 ]
"$VOLLEY" resume r_usr1 --quiet 2> /dev/null; rc=$?
check "... the resume completes it (exit $rc)" [ "$rc" = 0 ]
check "... each job once ($(ledger_check))" [ -z "$(ledger_check)" ]

# --- SIGUSR1 while the run is set up (loading 300k jobs, ~0.1 s here):
# kept until the supervisor waits for it, not the signal's default action
# (death, exit 138), but a drain: exit 75. The setup is where volley's
# interrupt handler has SIGTERM caught (SigCgt) and SIGUSR1 is not yet
# blocked (SigBlk) for the supervisor; volley is held there by SIGSTOP, so
# the signal lands in the setup whatever the machine's speed.
cat > big.yaml <<YAML
name: big
jobs:
  - name: b{i}
    command: /bin/true $TOKEN
    parameters: {i: "1:300000"}
YAML
in_setup() { # pid
    local k v cgt="" blk=""
    while read -r k v; do
        case $k in SigBlk:) blk=$v ;; SigCgt:) cgt=$v ;; esac
    done < "/proc/$1/status" 2> /dev/null
    [ -n "$cgt" ] && [ -n "$blk" ] && (((16#$cgt >> 14) & 1)) && ((!((16#$blk >> 9) & 1)))
}
"$VOLLEY" run big.yaml --run-dir r_big -j 2 --quiet 2> big.err &
pid=$!; STARTED+=("$pid")
for _ in $(seq 100000); do in_setup "$pid" && break; done
kill -STOP "$pid"
for _ in $(seq 600); do [ "$(cut -d' ' -f3 "/proc/$pid/stat")" = T ] && break; sleep 0.05; done
held=no; in_setup "$pid" && held=yes
kill -USR1 "$pid"
kill -CONT "$pid"
wait "$pid"; rc=$?
check "SIGUSR1: volley held in its setup when it was sent ($held)" [ "$held" = yes ]
check "SIGUSR1 during the setup: exit 75, not death (got $rc)" [ "$rc" = 75 ]
check "... said" grep -q "SIGUSR1: the allocation ends soon" big.err
check "... most jobs left for the next allocation" \
    [ "$(sqlite3 r_big/volley.db "select jobs from state_count where name = 'completed'")" -lt 299000 ]

# --- the deadline less the kill grace: the job still running is stopped
# (interrupted, not failed), exit 75; the resume completes it. Jobs
# without a runtime start only until the drain, 60 s before the stop: so
# this part takes a minute.
cat > stop.yaml <<YAML
name: stop
jobs:
  - name: f
    command: 'echo start f >> ledger; [ -e go ] || exec sleep 1000; echo end f >> ledger; : $TOKEN'
YAML
rm -f ledger go
"$VOLLEY" run stop.yaml --run-dir r_stop --deadline +64s --kill-grace 2 2> stop.err; rc=$?
check "deadline stop: exit 75 (got $rc)" [ "$rc" = 75 ]
check "... said" grep -q "the deadline less the kill grace: running jobs get SIGTERM" stop.err
check "... run-stats.json: stopped by the deadline, after the drain ($(rstat r_stop))" [ "$(rstat r_stop)" = "the deadline is near True None True True" ]
check "... the job is interrupted, not failed" [ "$("$VOLLEY" jobs r_stop --state interrupted | cut -f1)" = f ]
touch go
"$VOLLEY" resume r_stop --quiet 2> /dev/null; rc=$?
check "... resume completes it (exit $rc)" [ "$rc" = 0 ]
check "... it ran twice, ended once" [ "$(grep -c '^start f' ledger) $(grep -c '^end f' ledger)" = "2 1" ]

# --- inside Slurm (its environment, and a stand-in scontrol): the job's
# facts recorded, its CPUs and end taken; an scontrol that fails: no
# deadline, said, the run goes on
mkdir -p bin
end=$(date -d '+40 seconds' +%Y-%m-%dT%H:%M:%S)
cat > bin/scontrol <<SH
#!/bin/sh
[ "\$4" = 4711 ] || { echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1; }
echo "JobId=4711 JobName=t TimeLimit=00:01:00 EndTime=$end Partition=debug"
SH
chmod +x bin/scontrol
rm -f ledger
PATH="$T/bin:$PATH" SLURM_JOB_ID=4711 SLURMD_NODENAME=node7 SLURM_RESTART_COUNT=3 SLURM_CPUS_ON_NODE=1 \
    "$VOLLEY" run dl.yaml --run-dir r_slurm --kill-grace 1 2> slurm.err; rc=$?
check "Slurm: exit 75 (got $rc)" [ "$rc" = 75 ]
check "... the CPUs from SLURM_CPUS_ON_NODE, -j 1" grep -q "capacity 1 CPU (SLURM_CPUS_ON_NODE), .*; -j 1 (the CPUs)$" slurm.err
check "... the job's end as the deadline" grep -q "^volley: deadline .* (the end of Slurm job 4711)$" slurm.err
check "... recorded: job, node, restart" [ "$(sqlite3 r_slurm/volley.db "select job_id, node, restart, exit_code from allocation")" = "4711|node7|3|75" ]
PATH="$T/bin:$PATH" SLURM_JOB_ID=99 "$VOLLEY" resume r_slurm 2> slurm2.err; rc=$?
check "scontrol fails: the run goes on without a deadline (exit $rc)" [ "$rc" = 0 ]
check "... said why" grep -q "^volley: no deadline: scontrol show job 99 failed: slurm_load_jobs error: Invalid job id specified$" slurm2.err
"$VOLLEY" status r_slurm > st2.txt
check "status: both allocations" grep -q "#2 Slurm job 99 on" st2.txt
check "... the first with its restart count" grep -q "#1 Slurm job 4711 (restart 3) on node7" st2.txt
# seen from a login node: the last allocation has not ended and ran elsewhere
sqlite3 r_slurm/volley.db "insert into allocation(job_id, node, restart, start_ns, end_ns, deadline_ns, exit_code) values ('4712', 'far-node', 0, 1, 0, 0, -1)"
"$VOLLEY" status r_slurm > st3.txt
check "status: a run that may be live on another node is said so" \
    grep -q "allocation #3 (Slurm job 4712) on far-node has not ended: the run may be live there" st3.txt
check "... and in --json" [ "$("$VOLLEY" status r_slurm --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["elsewhere"])')" = far-node ]

# --- bad --deadline values: exit 2, nothing made
"$VOLLEY" run six.yaml --run-dir r_bad --deadline yesterday 2> bad.err; rc=$?
check "--deadline yesterday: exit 2 (got $rc)" [ "$rc" = 2 ]
check "... says the forms" grep -q "is not a time: give +DURATION" bad.err
"$VOLLEY" run six.yaml --run-dir r_bad --deadline @1000 2> bad.err; rc=$?
check "--deadline in the past: exit 2 (got $rc)" [ "$rc" = 2 ]
check "... says so" grep -q "has passed" bad.err
check "nothing was made" [ ! -e r_bad ]
finish

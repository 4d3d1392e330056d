#!/bin/bash
# slurm_volley.sh - volley inside a real Slurm (Debian's slurm-wlm, a
# single-host cluster this test starts in a temporary folder of its own:
# slurm_lib.sh), submitted with the template users get
# (examples/volley.sbatch):
#   scancel   a run canceled mid-way and submitted again: every job ran
#             to completion exactly once (a ledger each job appends to),
#             none failed, though Slurm's SIGTERM reached the jobs and
#             volley in no order;
#   deadline  --time=1: the job's end (scontrol) is the deadline: no job
#             started that could not finish before it, exit 75, the script
#             requeues itself, the requeued allocation completes the run;
#   USR1      SIGUSR1 to the batch shell (what --signal=B:USR1@N sends):
#             the template passes it on to volley, which starts nothing
#             new; exit 75, requeued, completed;
#   -c 1      one CPU given: -j 1, no two jobs of the run at once.
# Exits 77 (skipped) with the reason where the cluster cannot run (not
# root, Slurm not installed). Wall time about 3 minutes: Slurm's time
# limits count in minutes and it checks them every 30 s or so.
. "$(dirname "$0")/../run/lib.sh"
. "$(dirname "$0")/slurm_lib.sh"
trap 'slurm_stop; cleanup' EXIT
cd "$T"
slurm_start
echo "cluster up: $SL"
SBATCH_T="$VOLLEY_SRC/examples/volley.sbatch"
export PATH="$(dirname "$VOLLEY"):$PATH"
chmod 755 "$T"

# sub NAME ARGS...: sbatch the template for workflow NAME.yaml into run
# directory r_NAME, output to NAME.out; prints the job id
sub() {
    local n=$1
    shift
    sbatch --parsable --chdir="$T" -o "$T/$n.out" --open-mode=append \
        --export="ALL,VOLLEY_WF=$n.yaml,VOLLEY_DIR=r_$n" "$@" "$SBATCH_T"
}
# each job appends "start NAME" and "end NAME" to ledger_NAME
ledger() { # wf: no start without its end, each end once
    python3 - "$1" <<'PY'
import sys
lines = [l.split() for l in open(sys.argv[1])]
starts = [n for k, n in lines if k == "start"]
ends = [n for k, n in lines if k == "end"]
bad = []
for n in sorted(set(starts) | set(ends)):
    if ends.count(n) != 1:
        bad.append("%s ended %d times" % (n, ends.count(n)))
print("; ".join(bad))
PY
}
wait_lines() { # file pattern n [seconds]: until file has n lines matching
    local i
    for i in $(seq $((${4:-120} * 10))); do
        local n
        n=$(grep -c "$2" "$1" 2> /dev/null)
        [ "${n:-0}" -ge "$3" ] && return 0
        sleep 0.1
    done
    return 1
}
allocs() { # run dir: "exit_code restart" of each allocation
    sqlite3 "$1/volley.db" "select exit_code || ' ' || restart from allocation order by seq" | tr '\n' ',' | sed 's/,$//'
}
job_cmd() { # LEDGER SECONDS: a job's command that marks the ledger and runs that long
    echo "'echo start \$VOLLEY_JOB_NAME >> $1; sleep $2; echo end \$VOLLEY_JOB_NAME >> $1; : $TOKEN'"
}

# --- scancel mid-run, then submitted again
cat > cancel.yaml <<YAML
name: cancel
jobs:
  - name: "j{i}"
    command: $(job_cmd ledger_cancel 2)
    parameters: {i: "1:12"}
YAML
id1=$(sub cancel -c 2 --time=5)
wait_lines ledger_cancel '^end' 3 || fail "scancel: the first jobs never ended ($(tail -3 cancel.out))"
# two running now (-j 2): the cancel reaches them and volley in any order
wait_lines ledger_cancel '^start' 5
scancel "$id1"
slurm_wait_job "$id1" 60 || fail "scancel: job $id1 did not end"
nf=$(sqlite3 r_cancel/volley.db "select count(*) from jobs where state in ('failed', 'terminated', 'canceled')")
check "scancel: no job failed ($nf)" [ "$nf" = 0 ]
# what the first allocation finished, as volley recorded it (its final
# checkpoint, written as it stopped)
done1=$(sqlite3 r_cancel/volley.db "select name from jobs where state = 'completed' order by name" | tr '\n' ' ')
check "scancel: the cancel cut the run: jobs left for the next allocation (done: $done1)" \
    [ "$(echo $done1 | wc -w)" -lt 12 ]
id2=$(sub cancel -c 2 --time=5)
slurm_wait_job "$id2" 120 || fail "scancel: the second job did not end"
check "scancel: resubmitted, every job completed" [ "$(sqlite3 r_cancel/volley.db "select count(*) from jobs where state = 'completed'")" = 12 ]
# Slurm's SIGTERM reaches each process in no order: a job's `sleep` may
# die first and its shell write "end" and be killed a moment later: it
# did not complete and runs again (at least once, as any interrupted
# job). What must hold: a job recorded finished never starts again, and
# nothing ran that volley did not count.
again=$(for n in $done1; do [ "$(grep -c "^start $n\$" ledger_cancel)" = 1 ] || echo "$n"; done)
check "scancel: no job the first allocation finished started again (${again:-none})" [ -z "$again" ]
uncounted=$(sqlite3 r_cancel/volley.db "select name || ' ' || attempt from jobs" | while read -r n a; do
    [ "$(grep -c "^start $n\$" ledger_cancel)" -le "$a" ] && [ "$(grep -c "^end $n\$" ledger_cancel)" -ge 1 ] || echo "$n"
done)
check "scancel: each job ended, and started no more often than volley counted (${uncounted:-all})" [ -z "$uncounted" ]
check "scancel: both allocations recorded, 130 then 0 ($(allocs r_cancel))" \
    [ "$(sqlite3 r_cancel/volley.db "select group_concat(job_id || ':' || exit_code) from allocation")" = "$id1:130,$id2:0" ]
"$VOLLEY" status r_cancel > st_cancel.txt
check "scancel: status names both Slurm jobs" grep -q "#2 Slurm job $id2" st_cancel.txt

# --- the time limit: jobs of runtime 30 s, 10 s each, two at a time, in an
# allocation of 60 s: those that start after ~25 s could not end before
# the end less the grace, so they do not; exit 75; requeued; completed.
# Where volley is given one CPU (taskset -c 0 make test) they run one at a
# time and it takes more allocations: each but the last exits 75
cat > limit.yaml <<YAML
name: limit
resource_requirements:
  - {name: thirty, runtime: PT30S}
jobs:
  - name: "t{i}"
    command: $(job_cmd ledger_limit 10)
    parameters: {i: "1:10"}
    resource_requirements: thirty
YAML
id=$(sub limit -c 2 --time=1)
slurm_wait_job "$id" 400 || fail "time limit: job $id did not end"
check "time limit: the deadline came from scontrol" grep -q "^volley: deadline .* (the end of Slurm job $id)$" limit.out
limit_allocs=$(allocs r_limit)
requeued_then_done() { [[ $1 =~ ^75\ -1(,75\ [0-9]+)*,0\ [0-9]+$ ]]; }
check "time limit: the first allocation exited 75, the requeued ones 75 until the last, 0 ($limit_allocs)" \
    requeued_then_done "$limit_allocs"
check "time limit: the script requeued it" grep -q "volley exited 75 (allocation of job $id, restart 0)" limit.out
check "time limit: every job completed" [ "$(sqlite3 r_limit/volley.db "select count(*) from jobs where state = 'completed'")" = 10 ]
check "time limit: no job started that could not finish; each ended once ($(ledger ledger_limit))" \
    [ -z "$(ledger ledger_limit)" ] && [ "$(grep -c '^start' ledger_limit)" = 10 ]
check "time limit: Slurm ended the job completed, not timed out" \
    [ "$(slurm_job_state "$id")" = COMPLETED ]

# --- SIGUSR1: what sbatch --signal=B:USR1@N does at its time (SIGUSR1 to
# the batch shell only), sent by the test once the first job runs
# (scancel --batch --signal=USR1), not left to Slurm's clock: its warning
# is checked on slurmctld's periodic timer, and on a CI machine it had not
# come 160 s after a due time 10 s in. --time=3 keeps volley's own drain
# (60 s before the end) out of the way. The template passes the signal on;
# the running job finishes, its children wait for the requeued allocation
cat > usr1.yaml <<YAML
name: usr1
jobs:
  - name: w
    command: 'echo start w >> ledger_usr1; until [ -e release ]; do sleep 0.1; done; echo end w >> ledger_usr1; : $TOKEN'
  - name: "o{i}"
    command: $(job_cmd ledger_usr1 0)
    parameters: {i: "1:3"}
    depends_on: [w]
YAML
rm -f release
id=$(sub usr1 -c 2 --time=3)
wait_lines ledger_usr1 '^start w' 1 90 || fail "USR1: the first job never started ($(tail -3 usr1.out))"
scancel --batch --signal=USR1 "$id"
wait_lines usr1.out "SIGUSR1: the allocation ends soon" 1 60 || fail "USR1: volley never said it got SIGUSR1 ($(tail -5 usr1.out))"
touch release
slurm_wait_job "$id" 210 || fail "USR1: job $id did not end"
check "USR1: exit 75, then the requeued allocation completed it ($(allocs r_usr1))" [ "$(allocs r_usr1)" = "75 -1,0 1" ]
check "USR1: its children started only in the second allocation" \
    [ "$(sqlite3 r_usr1/volley.db "select count(*) from job where name like 'o%' and start_ns < (select start_ns from allocation where seq = 2)")" = 0 ]
check "USR1: every job once ($(ledger ledger_usr1))" [ -z "$(ledger ledger_usr1)" ] && [ "$(grep -c '^end' ledger_usr1)" = 4 ]

# --- -c 1: one CPU given, one job at a time
cat > one.yaml <<YAML
name: one
jobs:
  - name: "k{i}"
    command: $(job_cmd ledger_one 0.3)
    parameters: {i: "1:6"}
YAML
id=$(sub one -c 1 --time=5)
slurm_wait_job "$id" 120 || fail "-c 1: job $id did not end"
check "-c 1: -j 1 from SLURM_CPUS_ON_NODE" grep -q "capacity 1 CPU (SLURM_CPUS_ON_NODE), .*; -j 1 (the CPUs)$" one.out
over=$(sqlite3 r_one/volley.db "select count(*) from job a join job b on a.jid < b.jid
    where a.start_ns < b.end_ns and b.start_ns < a.end_ns")
check "-c 1: no two jobs at once ($over pairs overlapped)" [ "$over" = 0 ]
check "-c 1: all six completed" [ "$(sqlite3 r_one/volley.db "select count(*) from jobs where state = 'completed'")" = 6 ]
[ "$FAILS" = 0 ] || { echo "--- outputs"; tail -n 15 "$T"/*.out; }
finish

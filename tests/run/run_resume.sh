#!/bin/bash
# run_resume.sh - a crash loses nothing: Ctrl-C, a killed runner (with and
# without its arena, as after a reboot), a killed worker, resume of a
# finished run, --retry-failed, and the run lock.
. "$(dirname "$0")/lib.sh"
cd "$T"

# 24 jobs of 0.4 s, 4 at a time: each appends its name to marks when done.
cat > sl.yaml <<YAML
name: sl
jobs:
  - name: "s{i}"
    command: 'sleep 0.4; echo \$VOLLEY_JOB_NAME >> marks; : $TOKEN'
    parameters: {i: "1:24"}
  - {name: fin, command: 'echo fin >> marks', depends_on_regexes: ['^s\d+\$']}
YAML
completed() { sqlite3 "$1/volley.db" "select name from jobs where state='completed' order by name"; }
# every job marked at least once; a job marked twice must have run twice
check_marks() { # dir
    local d=$1 dup n
    n=$(sort -u marks | wc -l)
    check "$d: all 25 jobs ran ($n)" [ "$n" = 25 ]
    for dup in $(sort marks | uniq -d); do
        [ "$(attempt_of "$d" "$dup")" -ge 2 ] || fail "$d: $dup ran twice but its record says 1 attempt"
    done
    check "$d: all completed" [ "$(completed "$d" | wc -l)" = 25 ]
}
wait_marks() { # n: until marks has n lines (at most 20 s)
    for _ in $(seq 200); do [ "$(cat marks 2>/dev/null | wc -l)" -ge "$1" ] && return; sleep 0.1; done
}
# joblog.tsv and events.jsonl lose nothing either: one line per job that
# ran in joblog.tsv, and each job's events chained (from = the previous to)
# up to completed, through a stop or a crash (what the arena knew and the
# dead supervisor never collected is written by the resume)
check_watch_files() { # dir
    local d=$1 out
    out=$(python3 - "$d" <<'PY'
import csv, json, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(d + "/joblog.tsv"), delimiter="\t"))
seqs = [r["Seq"] for r in rows]
bad = []
if sorted(set(seqs)) != sorted(seqs) or len(seqs) != 25:
    bad.append("joblog: %d lines, %d jobs" % (len(seqs), len(set(seqs))))
last = {}
for line in open(d + "/events.jsonl"):
    e = json.loads(line)
    prev = last.get(e["job"])
    if prev is not None and e["from"] != prev:
        bad.append("%s: %s then from %s" % (e["job"], prev, e["from"]))
    last[e["job"]] = e["to"]
ends = sorted(j for j, t in last.items() if t == "completed")
if len(ends) != 25:
    bad.append("events: %d jobs end completed" % len(ends))
print("; ".join(bad[:5]))
PY
)
    check "$d: one joblog line per job, every job's events chained to completed ($out)" [ -z "$out" ]
}

# --- Ctrl-C (SIGINT to the whole process group, as a terminal does).
# A background job of this script has SIGINT ignored, which volley keeps
# (see nohup below): every run interrupted here gets it at its default.
rm -f marks
setsid env --default-signal=INT "$VOLLEY" run sl.yaml --run-dir r_int -j 4 --checkpoint-interval 0.2 2> int.err &
pid=$!; STARTED+=("$pid")
wait_marks 6
kill -INT -- -"$pid"
wait "$pid"; rc=$?
check "Ctrl-C: exit 130 (got $rc)" [ "$rc" = 130 ]
check "Ctrl-C: says how to resume" grep -q "volley resume" int.err
before=$(completed r_int)
check "Ctrl-C: some jobs finished ($(echo "$before" | wc -l))" [ "$(echo "$before" | wc -l)" -ge 4 ]
check "Ctrl-C: arena removed" [ -z "$(ls /dev/shm | grep "volley-$(sqlite3 r_int/volley.db 'select lower(hex(run_id)) from run')")" ]
no_strays
"$VOLLEY" resume r_int 2> int2.err; rc=$?
check "resume after Ctrl-C: exit 0 (got $rc)" [ "$rc" = 0 ]
for j in $before; do
    [ "$(grep -cx "$j" marks)" = 1 ] || fail "Ctrl-C: $j had finished, ran again"
done
check_marks r_int
check_watch_files r_int

# --- Ctrl-C while the workers are still starting: exit 130 all the same
# (a worker stopped before it ran was taken for one that could not run:
# exit 3). The delays sweep the start; SIGINT at its default, as a shell's
# background job would have it ignored. Each delay counts from volley's
# exec, not env's start: before env has reset SIGINT it is still ignored.
cat > early.yaml <<YAML
name: early
jobs:
  - {name: e, command: 'sleep 30; : $TOKEN'}
YAML
bad=""
for d in 0.005 0.01 0.015 0.02 0.025 0.03 0.04 0.06; do
    interrupt_at "$d" early.err "$VOLLEY" run early.yaml --run-dir "r_early$d" --workers 8 \
        || bad="$bad $d:never-exec"
    rc=$IRC
    [ "$rc" = 130 ] || bad="$bad $d:$rc($(grep -v 'run directory' early.err | head -1))"
done
check "Ctrl-C at any point of the start: exit 130 (not:$bad)" [ -z "$bad" ]

# --- and taken at once: before 2026-12-02 the supervisor spawned every
# worker first, so with --workers 32 a Ctrl-C in the first milliseconds
# was taken only after the last spawn, while the first workers ran jobs
# (52-66 of these here). Taken at once: none, or a few.
cat > wstart.yaml <<YAML
name: wstart
jobs:
  - {name: "w{i}", command: 'echo \$PPID >> wmarks; : $TOKEN', parameters: {i: "1:400"}}
YAML
rm -f wmarks
interrupt_at 0.02 wstart.err "$VOLLEY" run wstart.yaml --run-dir r_wstart --workers 32 -j 32 --quiet
rc=$IRC
nj=$(cat wmarks 2>/dev/null | wc -l)
check "Ctrl-C while 32 workers start: exit 130, taken before jobs run on (got $rc, $nj jobs ran)" \
    [ "$rc/$((nj < 20))" = 130/1 ]

# --- Ctrl-C while the run is being set up (the run directory, volley.db,
# the arena: ~0.3 s for 300k jobs here). Before 2026-12-02 volley died of
# the signal's default action there, silently, leaving a directory with a
# half-written volley.db.tmp and the lock that neither resume nor status
# could use. Now: exit 130, and the directory is either gone (nothing ran:
# what volley made is removed) or holds volley.db that status reads and
# resume continues; no arena stays in /dev/shm.
cat > setup.yaml <<YAML
name: setup
jobs:
  - name: s{i}
    command: /bin/true $TOKEN
    parameters: {i: "1:300000"}
YAML
setup_delays "run directory" "$VOLLEY" run setup.yaml --run-dir r_setup --quiet
echo "setup sweep delays (s):$DELAYS"
bad=""; hits=0
for d in $DELAYS; do
    rm -rf r_setup
    interrupt_at "$d" setup.err "$VOLLEY" run setup.yaml --run-dir r_setup --quiet \
        || bad="$bad $d:never-exec"
    rc=$IRC
    grep -q "interrupted while setting up the run: no job ran; removed r_setup\|interrupted before any job started; state saved" setup.err && hits=$((hits + 1))
    if [ "$rc" != 130 ]; then
        bad="$bad $d:exit-$rc"
    elif [ -e r_setup ]; then
        if [ ! -f r_setup/volley.db ]; then
            bad="$bad $d:no-volley.db($(ls r_setup | tr '\n' ' '))"
        elif ! "$VOLLEY" status r_setup > /dev/null 2>&1; then
            bad="$bad $d:status-fails"
        else
            id=$(sqlite3 r_setup/volley.db 'select lower(hex(run_id)) from run')
            [ -e "/dev/shm/volley-$id" ] && bad="$bad $d:arena-left"
        fi
    fi
done
check "Ctrl-C during the setup: exit 130, nothing half made (not:$bad)" [ -z "$bad" ]
check "Ctrl-C during the setup: some interrupts hit it ($hits of 16)" [ "$hits" -ge 1 ]
rm -rf r_setup

# --- the same for `volley resume`'s setup (volley.db read, the old
# arena's state saved, a new arena linked): exit 130, the run still
# readable and resumable, no arena left in /dev/shm.
start_int rsetup.err "$VOLLEY" run setup.yaml --run-dir r_rsetup --quiet
pid=$IPID
for _ in $(seq 200); do [ -f r_rsetup/events.jsonl ] && break; sleep 0.05; done
sleep 0.3
kill -INT "$pid"
wait "$pid"; rc=$?
check "resume setup: the run to resume was interrupted (got $rc)" [ "$rc" = 130 ]
id=$(sqlite3 r_rsetup/volley.db 'select lower(hex(run_id)) from run')
setup_delays "resuming" "$VOLLEY" resume r_rsetup --quiet
echo "resume setup sweep delays (s):$DELAYS"
[ -e "/dev/shm/volley-$id" ] && fail "resume setup: the timing resume left its arena"
bad=""; hits=0
for d in $DELAYS; do
    interrupt_at "$d" rsetup.err "$VOLLEY" resume r_rsetup --quiet || bad="$bad $d:never-exec"
    rc=$IRC
    grep -q "interrupted while loading the workflow\|interrupted before any job started; state saved; continue with: volley resume" rsetup.err && hits=$((hits + 1))
    [ "$rc" = 130 ] || bad="$bad $d:exit-$rc($(head -c 200 rsetup.err))"
    "$VOLLEY" status r_rsetup > /dev/null 2>&1 || bad="$bad $d:status-fails"
    [ -e "/dev/shm/volley-$id" ] && bad="$bad $d:arena-left"
done
check "Ctrl-C during resume's setup: exit 130, the run kept, no arena (not:$bad)" [ -z "$bad" ]
check "Ctrl-C during resume's setup: some interrupts hit it ($hits of 16)" [ "$hits" -ge 1 ]
rm -rf r_rsetup

# --- SIGHUP and SIGINT ignored when volley starts stay ignored, as make
# and the shell leave them: `nohup volley run ... &` survives the hangup
# the shell sends to its jobs, and a script's background run a Ctrl-C.
# Both to the whole group (runner and workers), as the shell sends them.
# (Until 2026-12-02 the run stopped: exit 130.)
cat > nohup.yaml <<YAML
name: nohup
jobs:
  - name: "n{i}"
    command: 'sleep 0.3; echo \$VOLLEY_JOB_NAME >> nmarks; : $TOKEN'
    parameters: {i: "1:6"}
YAML
rm -f nmarks
setsid sh -c 'trap "" HUP INT; exec "$0" run nohup.yaml --run-dir r_nohup -j 2 2> nohup.err' "$VOLLEY" &
pid=$!; STARTED+=("$pid")
for _ in $(seq 100); do [ -s nmarks ] && break; sleep 0.05; done
kill -HUP -- -"$pid"
sleep 0.2
kill -INT -- -"$pid"
wait "$pid"; rc=$?
check "nohup: SIGHUP and SIGINT ignored, the run goes on: exit 0 (got $rc)" [ "$rc" = 0 ]
check "nohup: all 6 completed" [ "$(completed r_nohup | wc -l)" = 6 ]
check "nohup: each ran once" [ "$(sort nmarks | uniq | wc -l) $(wc -l < nmarks)" = "6 6" ]
no_strays

# --- the runner killed (SIGKILL): resume from the surviving arena
rm -f marks
"$VOLLEY" run sl.yaml --run-dir r_kill -j 4 --checkpoint-interval 5 2> kill.err &
pid=$!; STARTED+=("$pid")
wait_marks 6
kill -9 "$pid"; wait "$pid" 2>/dev/null
snap_done=$(completed r_kill | wc -l)
"$VOLLEY" resume r_kill 2> kill2.err; rc=$?
check "resume after kill -9: exit 0 (got $rc)" [ "$rc" = 0 ]
check "resumed from the surviving arena" grep -q "from the surviving arena" kill2.err
check_marks r_kill
echo "  (the last checkpoint had $snap_done completed; the arena knew more)"
check_watch_files r_kill

# --- the runner killed and its arena gone (a reboot): from the snapshot
rm -f marks
"$VOLLEY" run sl.yaml --run-dir r_boot -j 4 --checkpoint-interval 0.1 2> boot.err &
pid=$!; STARTED+=("$pid")
wait_marks 8
kill -9 "$pid"; wait "$pid" 2>/dev/null
sleep 0.3
before=$(completed r_boot)
rm -f "/dev/shm/volley-$(sqlite3 r_boot/volley.db 'select lower(hex(run_id)) from run')"
"$VOLLEY" resume r_boot 2> boot2.err; rc=$?
check "resume from the snapshot: exit 0 (got $rc)" [ "$rc" = 0 ]
check "resumed from volley.db" grep -q "from volley.db" boot2.err
for j in $before; do
    [ "$(grep -cx "$j" marks)" = 1 ] || fail "snapshot: $j was completed in volley.db, ran again"
done
check_marks r_boot

# --- a worker killed: the run repairs, starts another, finishes
rm -f marks
"$VOLLEY" run sl.yaml --run-dir r_wk -j 4 --workers 2 2> wk.err &
pid=$!; STARTED+=("$pid")
wait_marks 4
w=$(ps --ppid "$pid" -o pid= | head -1)
[ -n "$w" ] && kill -9 $w
wait "$pid"; rc=$?
check "worker killed: the run still exits 0 (got $rc)" [ "$rc" = 0 ]
check "worker killed: reported" grep -q "killed by signal 9" wk.err
check_marks r_wk

# --- the jobs of a dead worker die with it, before their re-runs start.
# Each job writes its shell's pid (the leader of its process group) and
# marks its end after 2 s; attempt 1 of the killed worker's jobs must not
# reach that end. Groups whose leader wrote its pid are ended at cleanup.
cat > orphan.yaml <<YAML
name: orphan
jobs:
  - name: "o{i}"
    command: 'echo \$\$ > pid.\$VOLLEY_JOB_NAME.\$VOLLEY_ATTEMPT; sleep 2; echo \$VOLLEY_JOB_NAME >> omarks; : $TOKEN'
    parameters: {i: "1:4"}
YAML
rm -f omarks pid.o*
"$VOLLEY" run orphan.yaml --run-dir r_orph -j 4 --workers 2 2> orph.err &
pid=$!; STARTED+=("$pid")
for _ in $(seq 100); do [ "$(ls pid.o*.1 2>/dev/null | wc -l)" = 4 ] && break; sleep 0.05; done
track_groups pid.o*.1
w=$(ps -o ppid= -p "$(cat pid.o1.1)") # the worker running o1
[ -n "$w" ] && [ "$w" != "$pid" ] && kill -9 $w
wait "$pid"; rc=$?
track_groups pid.o*.2
twice=$(sort omarks | uniq -d | tr '\n' ' ')
check "orphans: the run exits 0 (got $rc)" [ "$rc" = 0 ]
check "orphans: jobs ran again" [ "$(ls pid.o*.2 2>/dev/null | wc -l)" -ge 1 ]
check "orphans: every job ended" [ "$(sort -u omarks | wc -l)" = 4 ]
check "orphans: no job ended twice ($twice)" [ -z "$twice" ]

# --- a second Ctrl-C kills the running jobs at once, also one that
# ignores SIGTERM (the arena knows its pid while it runs)
cat > deaf.yaml <<YAML
name: deaf
jobs:
  - {name: d, command: 'trap "" TERM; echo \$\$ > deaf.pid; sleep 30; : $TOKEN'}
YAML
rm -f deaf.pid
start_int deaf.err "$VOLLEY" run deaf.yaml --run-dir r_deaf --kill-grace 60
pid=$IPID
for _ in $(seq 100); do [ -s deaf.pid ] && break; sleep 0.05; done
track_groups deaf.pid
kill -INT "$pid"
sleep 0.3
kill -INT "$pid"
t0=$SECONDS
wait "$pid"; rc=$?
took=$((SECONDS - t0))
check "second Ctrl-C: exit 130 (got $rc)" [ "$rc" = 130 ]
check "second Ctrl-C: the run ended at once, not after the 30 s job or the 60 s grace ($took s)" \
    [ "$took" -lt 10 ]
check "second Ctrl-C: the job is gone" eval '! alive "$(cat deaf.pid)"'

# --- runner and workers SIGKILLed together (as an OOM kill of their
# cgroup would): resume ends the jobs the old run left running
cat > allk.yaml <<YAML
name: allk
jobs:
  - name: "a{i}"
    command: '[ -e again ] && exit 0; echo \$\$ > apid.\$VOLLEY_JOB_NAME; sleep 30; : $TOKEN'
    parameters: {i: "1:2"}
YAML
rm -f again apid.*
"$VOLLEY" run allk.yaml --run-dir r_allk -j 2 --workers 2 2> allk.err &
pid=$!; STARTED+=("$pid")
for _ in $(seq 100); do [ "$(ls apid.* 2>/dev/null | wc -l)" = 2 ] && break; sleep 0.05; done
track_groups apid.*
# shellcheck disable=SC2046
kill -9 "$pid" $(ps --ppid "$pid" -o pid=)
wait "$pid" 2>/dev/null
touch again
"$VOLLEY" resume r_allk 2> allk2.err; rc=$?
left=""
for f in apid.*; do alive "$(cat "$f")" && left="$left $(cat "$f")"; done
check "all killed: resume exits 0 (got $rc)" [ "$rc" = 0 ]
check "all killed: resume ended the old run's jobs (alive:$left)" [ -z "$left" ]

# --- an attempt cut short by Ctrl-C or a crash is not a failure: it does
# not use up a retry. The job fails its first full attempt and succeeds on
# its one retry (max_retries: 1), after a first attempt that Ctrl-C stops,
# and after another that kill -9 of the runner stops. Before 2026-12-02
# both cut attempts counted, and the job failed with no retry left.
cat > flaky.yaml <<YAML
name: flaky
failure_handlers:
  - {name: once, rules: [{match_all_exit_codes: true, max_retries: 1}]}
jobs:
  - name: flaky
    failure_handler: once
    command: 'echo \$\$ >> fstart; sleep 1; [ -e fgo ] || exit 0; if [ -e fmark ]; then echo ok; else touch fmark; exit 1; fi; : $TOKEN'
YAML
rm -f fstart fgo fmark
interrupt_at 0.4 flaky.err "$VOLLEY" run flaky.yaml --run-dir r_flaky --quiet
rc1=$IRC
"$VOLLEY" resume r_flaky --quiet 2> flaky2.err &
pid=$!; STARTED+=("$pid")
for _ in $(seq 100); do [ "$(cat fstart 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.05; done
kill -9 "$pid"; wait "$pid" 2>/dev/null
touch fgo
"$VOLLEY" resume r_flaky --quiet 2> flaky3.err; rc=$?
check "cut attempts use no retry: Ctrl-C, kill -9, a failure, a retry that completes (got $rc1 then $rc, $(state_of r_flaky flaky), attempt $(attempt_of r_flaky flaky))" \
    [ "$rc1 $rc $(state_of r_flaky flaky) $(attempt_of r_flaky flaky)" = "130 0 completed 4" ]

# --- a cancel that was stopping a running job when the runner and its
# workers were SIGKILLed: the arena holds the request, so resume keeps the
# job canceled (its process is ended) instead of running it again
cat > cank.yaml <<YAML
name: cank
jobs:
  - {name: a, command: 'echo \$\$ >> cmarks; trap "" TERM; sleep 30; : $TOKEN'}
  - {name: b, command: 'echo b >> cmarks', depends_on: [a]}
YAML
rm -f cmarks
"$VOLLEY" run cank.yaml --run-dir r_cank --kill-grace 30 2> cank.err &
pid=$!; STARTED+=("$pid")
for _ in $(seq 100); do [ -s cmarks ] && break; sleep 0.05; done
"$VOLLEY" cancel r_cank a > cank.out 2>&1
# shellcheck disable=SC2046
kill -9 "$pid" $(ps --ppid "$pid" -o pid=)
wait "$pid" 2>/dev/null
"$VOLLEY" resume r_cank 2> cank2.err; rc=$?
check "cancel, then all killed: resume keeps a and b canceled, a ran once (got $rc, $(state_of r_cank a) $(state_of r_cank b), $(wc -l < cmarks) runs)" \
    [ "$rc $(state_of r_cank a) $(state_of r_cank b) $(wc -l < cmarks)" = "1 canceled canceled 1" ]
check "cancel, then all killed: a's process is gone" eval '! alive "$(head -1 cmarks)"'

# --- the disk fills up (a file size limit of 1 MiB: the same write error
# as ENOSPC, without a mount): the run stops at once with exit 3 naming the
# file; every job recorded completed has its whole output in the logs; the
# jobs whose output was lost run again on resume, and then all are exact.
cat > fill.yaml <<YAML
name: fill
jobs:
  - name: "f{i}"
    command: 'head -c 100000 /dev/zero; : $TOKEN'
    parameters: {i: "1:30"}
YAML
(ulimit -f 1024; exec "$VOLLEY" run fill.yaml --run-dir r_fill -j 2 --workers 2 2> fill.err); rc=$?
ndone=$(sqlite3 r_fill/volley.db "select count(*) from jobs where state='completed'")
check "disk full: exit 3 (got $rc)" [ "$rc" = 3 ]
check "disk full: names the log file and the cause" grep -q "job logs could not be written to $T/r_fill/logs/.*File too large" fill.err
check "disk full: says how to continue" grep -q "volley resume $T/r_fill" fill.err
check "disk full: stopped early ($ndone of 30 completed)" [ "$ndone" -lt 30 ]
short=0
for n in $(sqlite3 r_fill/volley.db "select name from jobs where state='completed'"); do
    [ "$("$VOLLEY" logs r_fill "$n" | wc -c)" = 100000 ] || short=$((short + 1))
done
check "disk full: every completed job's log is whole ($short short)" [ "$short" = 0 ]
"$VOLLEY" resume r_fill 2> fill2.err; rc=$?
check "disk full, then space: resume exits 0 (got $rc)" [ "$rc" = 0 ]
short=0
for i in $(seq 30); do
    [ "$("$VOLLEY" logs r_fill "f$i" | wc -c)" = 100000 ] || short=$((short + 1))
done
check "after resume: all 30 logs whole ($short short)" [ "$short" = 0 ]

# --- jobs that wait for capacity when the run is interrupted have not
# run: for the record they are ready, and resume starts their attempt 1
cat > held.yaml <<YAML
name: held
resource_requirements:
  - {name: two, num_cpus: 2}
jobs:
  - name: "h{i}"
    command: 'echo \$VOLLEY_ATTEMPT >> hatt.\$VOLLEY_JOB_NAME; sleep 1; : $TOKEN'
    resource_requirements: two
    parameters: {i: "1:3"}
YAML
rm -f hatt.*
start_int held.err "$VOLLEY" run held.yaml --run-dir r_held --cpus 2 -j 3 --workers 2 \
    --checkpoint-interval 0.1
pid=$IPID
for _ in $(seq 100); do ls hatt.* > /dev/null 2>&1 && break; sleep 0.05; done
sleep 0.3
kill -INT "$pid"
wait "$pid"; rc=$?
ran=$(ls hatt.* 2>/dev/null | wc -l)
check "held: interrupted, exit 130, one job ran (got $rc, $ran)" [ "$rc/$ran" = 130/1 ]
inrun=$(sqlite3 r_held/volley.db "select count(*) from jobs where state='running'")
check "held: volley.db has only the job that ran as running, not the two that waited ($inrun)" [ "$inrun" = 1 ]
"$VOLLEY" resume r_held 2> held2.err; rc=$?
check "held: resume exits 0 (got $rc)" [ "$rc" = 0 ]
atts=$(for i in 1 2 3; do tr '\n' , < "hatt.h$i"; echo; done | sort | tr '\n' ' ')
check "held: the job that ran went on with attempt 2, the others began at 1 ($atts)" \
    [ "$atts" = "1, 1, 1,2, " ]

# --- resume of a finished run: nothing to do
"$VOLLEY" resume r_wk 2> fin.err; rc=$?
check "finished run: exit 0 (got $rc)" [ "$rc" = 0 ]
check "says nothing to run" grep -q "nothing to run" fin.err

# --- --retry-failed
cat > rf.yaml <<YAML
name: rf
jobs:
  - {name: once, command: 'if [ -e ok.flag ]; then echo fixed; else touch ok.flag; exit 9; fi'}
  - {name: child, command: 'echo child > child.out', depends_on: [once]}
YAML
rm -f ok.flag
"$VOLLEY" run rf.yaml --run-dir r_rf 2>/dev/null; rc=$?
check "retry-failed: first run exit 1 (got $rc)" [ "$rc" = 1 ]
"$VOLLEY" resume r_rf 2> rf1.err; rc=$?
check "resume without --retry-failed: still 1, nothing run (got $rc)" [ "$rc" = 1 ]
"$VOLLEY" resume r_rf --retry-failed 2>/dev/null; rc=$?
check "resume --retry-failed: exit 0 (got $rc)" [ "$rc" = 0 ]
check "the canceled child ran" [ -e child.out ]
check "once: attempt 2" [ "$(attempt_of r_rf once)" = 2 ]
# a job with a failure handler gets its retries again: it failed its first
# run and its one retry; --retry-failed runs it with one retry again
cat > rf2.yaml <<YAML
name: rf2
failure_handlers:
  - {name: h, rules: [{match_all_exit_codes: true, max_retries: 1}]}
jobs:
  - {name: twice, failure_handler: h, command: 'echo x >> rf2.n; [ "\$(wc -l < rf2.n)" -ge 4 ]'}
YAML
rm -f rf2.n
"$VOLLEY" run rf2.yaml --run-dir r_rf2 2>/dev/null; rc1=$?
"$VOLLEY" resume r_rf2 --retry-failed 2>/dev/null; rc=$?
check "retry-failed: the handler's retries again (exit $rc1 then $rc, $(wc -l < rf2.n) runs, attempt $(attempt_of r_rf2 twice))" \
    [ "$rc1 $rc $(wc -l < rf2.n) $(attempt_of r_rf2 twice)" = "1 0 4 4" ]

# --- the run lock: a second runner on a live run dir refuses
cat > long.yaml <<YAML
name: long
jobs:
  - {name: l, command: 'sleep 3; : $TOKEN'}
YAML
"$VOLLEY" run long.yaml --run-dir r_lock 2>/dev/null &
pid=$!; STARTED+=("$pid")
for _ in $(seq 50); do [ -e r_lock/volley.db ] && break; sleep 0.1; done
sleep 0.2
"$VOLLEY" resume r_lock 2> lock.err; rc=$?
check "resume of a live run: exit 3 (got $rc)" [ "$rc" = 3 ]
check "names the live runner" grep -qi "pid $pid" lock.err
kill -TERM "$pid"; wait "$pid"; rc=$?
check "SIGTERM: exit 130 (got $rc)" [ "$rc" = 130 ]
"$VOLLEY" resume /nonexistent 2>/dev/null; rc=$?
check "not a run dir: exit 3 (got $rc)" [ "$rc" = 3 ]

# --- the run's options (-j, --gpus, ...) hold after a resume (until
# 2026-11-24 resume started from this machine's defaults: -j 1 became -j
# CPUs, and a --gpus 1 run on a node without GPUs never ended)
# 4 jobs of 0.5 s; each marks its start (+) and end (-) in jmarks.
cat > jj.yaml <<YAML
name: jj
jobs:
  - name: "j{i}"
    command: 'echo + >> jmarks; sleep 0.5; echo - >> jmarks; : $TOKEN'
    parameters: {i: "1:4"}
YAML
# the most jobs running at once, from jmarks
overlap() { awk '$1 == "+" {c++; if (c > m) m = c} $1 == "-" {c--} END {print m + 0}' jmarks; }
stat_max() { sed -n 's/.*"max_running": \([0-9]*\).*/\1/p' "$1/run-stats.json"; }
# interrupt_after DIR N ARGS...: volley run ARGS --run-dir DIR, Ctrl-C once
# N lines are in jmarks; waits for the exit (130)
interrupt_after() {
    local d=$1 n=$2; shift 2
    rm -f jmarks
    start_int "$d.err" "$VOLLEY" run "$@" --run-dir "$d"
    local p=$IPID
    for _ in $(seq 200); do [ "$(cat jmarks 2>/dev/null | wc -l)" -ge "$n" ] && break; sleep 0.05; done
    kill -INT "$p"
    wait "$p"; local rc=$?
    check "$d: interrupted (exit $rc)" [ "$rc" = 130 ]
    rm -f jmarks
}
interrupt_after r_j1 2 jj.yaml -j 1 --kill-grace 2
timeout 30 "$VOLLEY" resume r_j1 2> j1.err; rc=$?
check "-j 1 kept: resume exit 0 (got $rc)" [ "$rc" = 0 ]
check "-j 1 kept: the runner's cap is 1 ($(stat_max r_j1))" [ "$(stat_max r_j1)" = 1 ]
check "-j 1 kept: never two jobs at once ($(overlap))" [ "$(overlap)" = 1 ]
check "-j 1 kept: says so" grep -q "resuming with the run's options: -j 1 --kill-grace 2$" j1.err

# an option given to resume wins over the stored one
interrupt_after r_j2 2 jj.yaml -j 1
timeout 30 "$VOLLEY" resume r_j2 -j 2 2> j2.err; rc=$?
check "-j 2 on resume: exit 0 (got $rc)" [ "$rc" = 0 ]
check "-j 2 on resume: the runner's cap is 2 ($(stat_max r_j2))" [ "$(stat_max r_j2)" = 2 ]
check "-j 2 on resume: no stored option applied" eval '! grep -q "the run.s options" j2.err'
# ... and becomes the run's, for a later resume (until 2026-12-02 the next
# resume went back to -j 1)
check "-j 2 on resume: stored as the run's ($(sqlite3 r_j2/volley.db "SELECT group_concat(name || '=' || value) FROM run_option"))" \
    [ "$(sqlite3 r_j2/volley.db "SELECT group_concat(name || '=' || value) FROM run_option")" = "jobs=2" ]

# a volley.db of schema 1 (before run options were stored) still resumes,
# with this machine's defaults and those given (which it cannot store)
interrupt_after r_s1 2 jj.yaml -j 1
sqlite3 r_s1/volley.db "DROP TABLE IF EXISTS run_option; PRAGMA user_version = 1"
timeout 30 "$VOLLEY" resume r_s1 -j 1 2> s1.err; rc=$?
check "schema 1: resume exit 0 (got $rc)" [ "$rc" = 0 ]
check "schema 1: all 4 completed" [ "$(completed r_s1 | wc -l)" = 4 ]

# a stored value that does not parse is damage: exit 3, naming the option
interrupt_after r_bad 2 jj.yaml -j 1
sqlite3 r_bad/volley.db "UPDATE run_option SET value = 'lots' WHERE name = 'jobs'"
timeout 30 "$VOLLEY" resume r_bad 2> bad.err; rc=$?
check "damaged option: exit 3 (got $rc)" [ "$rc" = 3 ]
check "damaged option: names the file and the option" \
    grep -q "r_bad/volley.db: the stored run option -j 'lots'" bad.err

# --gpus 1 on a node without GPUs: resume keeps it and finishes; a resume
# whose capacity cannot fit a job refuses before anything starts
cat > gpu2.yaml <<YAML
name: gpu2
resource_requirements:
  - {name: onegpu, num_cpus: 1, num_gpus: 1}
jobs:
  - name: "g{i}"
    command: 'echo + >> jmarks; echo CUDA=\$CUDA_VISIBLE_DEVICES; sleep 0.5; echo - >> jmarks; : $TOKEN'
    resource_requirements: onegpu
    parameters: {i: "1:4"}
YAML
interrupt_after r_gpu 2 gpu2.yaml --gpus 1 -j 1
sum0=$(md5sum < r_gpu/volley.db)
timeout 30 "$VOLLEY" resume r_gpu --gpus 0 2> gpu0.err; rc=$?
check "--gpus 0 on resume: exit 2 (got $rc)" [ "$rc" = 2 ]
check "--gpus 0 on resume: names the job and the need" \
    grep -q "job 'g[1-4]' needs 1 GPUs (resource class 'onegpu'), the node has 0" gpu0.err
check "--gpus 0 on resume: says nothing started and how to change it" \
    grep -q "nothing started.*--gpus" gpu0.err
check "--gpus 0 on resume: no job ran" [ ! -e jmarks ]
check "--gpus 0 on resume: volley.db unchanged" [ "$(md5sum < r_gpu/volley.db)" = "$sum0" ]
timeout 30 "$VOLLEY" resume r_gpu 2> gpu.err; rc=$?
check "--gpus 1 kept: resume exit 0 (got $rc)" [ "$rc" = 0 ]
check "--gpus 1 kept: all 4 completed" [ "$(completed r_gpu | wc -l)" = 4 ]
check "--gpus 1 kept: says so" grep -q "resuming with the run's options: -j 1 --gpus 1$" gpu.err
for g in g1 g2 g3 g4; do
    "$VOLLEY" logs r_gpu "$g" 2>/dev/null | grep -qx "CUDA=0" || fail "--gpus 1 kept: $g did not see CUDA_VISIBLE_DEVICES=0"
done
# only the jobs left must fit: a 4-CPU job that completed does not stop a
# resume with --cpus 2 (it was refused: exit 2 naming the finished job)
cat > cpu4.yaml <<YAML
name: cpu4
resource_requirements:
  - {name: four, num_cpus: 4}
jobs:
  - {name: big, command: 'true', resource_requirements: four}
  - name: "s{i}"
    command: 'echo + >> jmarks; sleep 0.5; echo - >> jmarks; : $TOKEN'
    depends_on: [big]
    parameters: {i: "1:4"}
YAML
interrupt_after r_cpu4 2 cpu4.yaml --cpus 4 -j 1
timeout 30 "$VOLLEY" resume r_cpu4 --cpus 2 2> cpu4.err; rc=$?
check "--cpus 2 on resume, the 4-CPU job done: exit 0, all 5 completed (got $rc, $(completed r_cpu4 | wc -l); $(head -1 cpu4.err))" \
    [ "$rc $(completed r_cpu4 | wc -l)" = "0 5" ]

# the refusal comes before the old run is touched: after kill -9 of the
# runner its arena survives a refused resume, and the next resume uses it
rm -f jmarks
"$VOLLEY" run gpu2.yaml --run-dir r_gk --gpus 1 -j 1 --checkpoint-interval 5 2> gk.err &
pid=$!; STARTED+=("$pid")
for _ in $(seq 200); do [ "$(cat jmarks 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.05; done
kill -9 "$pid"; wait "$pid" 2>/dev/null
arena=/dev/shm/volley-$(sqlite3 r_gk/volley.db 'select lower(hex(run_id)) from run')
timeout 30 "$VOLLEY" resume r_gk --gpus 0 2> gk0.err; rc=$?
check "kill -9, --gpus 0 on resume: exit 2 (got $rc)" [ "$rc" = 2 ]
check "kill -9, --gpus 0 on resume: the arena is kept" [ -e "$arena" ]
timeout 30 "$VOLLEY" resume r_gk 2> gk2.err; rc=$?
check "kill -9, then resume: exit 0 (got $rc)" [ "$rc" = 0 ]
check "kill -9, then resume: from the surviving arena" grep -q "from the surviving arena" gk2.err
check "kill -9, then resume: all 4 completed" [ "$(completed r_gk | wc -l)" = 4 ]

finish

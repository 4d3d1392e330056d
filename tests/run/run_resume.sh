#!/bin/bash
# run_resume.sh - a crash loses nothing: Ctrl-C, a killed runner (with and
# without its arena, as after a reboot), a killed worker, resume of a
# finished run, --retry-failed, and the run lock.
. "$(dirname "$0")/lib.sh"
cd "$T"

# 24 jobs, 4 at a time: each appends its name to marks; one that finds
# more than 8 there then waits for the file slgo, so a run cannot end
# before the test has done what it does to it: it settles with 4 jobs
# waiting and 9 to 12 marks (4 that append at once all count up to 9).
# The test touches slgo before the run or resume that is to end.
cat > sl.yaml <<YAML
name: sl
jobs:
  - name: "s{i}"
    command: 'echo \$VOLLEY_JOB_NAME >> marks; [ \$(wc -l < marks) -le 8 ] || while [ ! -e slgo ]; do sleep 0.02; done; : $TOKEN'
    parameters: {i: "1:24"}
  - {name: fin, command: 'echo fin >> marks', depends_on_regexes: ['^s\d+\$']}
YAML
completed() { sqlite3 -readonly "$1/volley.db" "select name from jobs where state='completed' order by name"; }
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
wait_marks() { wait_until "$1 lines in marks" lines marks "$1"; }
# completed_live DIR N: the live run in DIR has completed N jobs (from its
# arena: volley.db only has them at the next checkpoint)
completed_live() {
    local n
    n=$("$VOLLEY" status "$1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["states"]["completed"])' 2>/dev/null)
    [ "${n:-0}" -ge "$2" ]
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
rm -f marks slgo
setsid env --default-signal=INT "$VOLLEY" run sl.yaml --run-dir r_int -j 4 --checkpoint-interval 0.2 2> int.err &
pid=$!; STARTED+=("$pid")
# 4 completed in the arena: the stop's last checkpoint records them
wait_until "4 jobs completed in r_int" completed_live r_int 4
kill -INT -- -"$pid"
wait "$pid"; rc=$?
check "Ctrl-C: exit 130 (got $rc)" [ "$rc" = 130 ]
check "Ctrl-C: says how to resume" grep -q "volley resume" int.err
before=$(completed r_int)
check "Ctrl-C: some jobs finished ($(echo "$before" | wc -l))" [ "$(echo "$before" | wc -l)" -ge 4 ]
check "Ctrl-C: arena removed" [ -z "$(ls /dev/shm | grep "volley-$(sqlite3 -readonly r_int/volley.db 'select lower(hex(run_id)) from run')")" ]
no_strays
touch slgo
"$VOLLEY" resume r_int 2> int2.err; rc=$?
check "resume after Ctrl-C: exit 0 (got $rc)" [ "$rc" = 0 ]
for j in $before; do
    [ "$(grep -cx "$j" marks)" = 1 ] || fail "Ctrl-C: $j had finished, ran again"
done
check_marks r_int
check_watch_files r_int

# --- Ctrl-C while the workers are still starting: exit 130 all the same
# (a worker stopped before it ran was taken for one that could not run:
# exit 3). The run is frozen (SIGSTOP) at each point of its start, found by
# what it has done, not by a delay: right after its exec, once it has 1, 2,
# 4 and all 8 workers, and once its job runs; then SIGINT (at its default:
# a shell's background job has it ignored) and SIGCONT.
cat > early.yaml <<YAML
name: early
jobs:
  - {name: e, command: 'touch emark; sleep 30; : $TOKEN'}
YAML
bad=""
early_point() { # WHAT CMD...: a run of early.yaml, interrupted once CMD holds
    local what=$1
    shift
    rm -rf r_early emark
    start_int early.err "$VOLLEY" run early.yaml --run-dir r_early --workers 8 -j 8 || bad="$bad $what:never-exec"
    [ $# -eq 0 ] || fast_wait "$@" || bad="$bad $what:never-came"
    freeze "$IPID" || bad="$bad $what:ended-before"
    children "$IPID"
    interrupt_frozen
    [ "$IRC" = 130 ] || bad="$bad $what($NCHILD workers):exit-$IRC($(grep -v 'run directory' early.err | head -1))"
}
early_point exec
for k in 1 2 4 8; do early_point "$k-workers" ipid_children "$k"; done
early_point job-running test -e emark
check "Ctrl-C at any point of the start: exit 130 (not:$bad)" [ -z "$bad" ]

# --- and taken before the next spawn: until 2026-12-02 the supervisor
# spawned every worker first, so a Ctrl-C while it started 32 of them was
# taken only after the last spawn, while the first workers ran jobs (52-118
# of these here). The run is frozen while it starts its workers (it has at
# least one, fewer than all): K0 workers when the signal comes. Its
# run-stats.json says when the stop was taken (wall_ns, the clock of a
# job's start_ns) and how many workers ran then (K1). Taken before the next
# spawn: K1 <= K0 + 1 (the spawn in flight when it was frozen); and after
# the stop no job started but those being spawned then, one per worker at
# most. Both are counts, the same on any machine. A freeze that comes after
# the last spawn (the test shell was not scheduled in time) says nothing
# of this: it is tried again, up to 12 times, with twice the workers each
# time from the fourth (more workers, a longer window).
cat > wstart.yaml <<YAML
name: wstart
jobs:
  - {name: "w{i}", command: 'echo \$PPID >> wmarks; : $TOKEN', parameters: {i: "1:5000"}}
YAML
W=32; tries=0; k0=""
while ((tries < 12)); do
    tries=$((tries + 1))
    ((tries > 3 && W < 256)) && W=$((W * 2))
    rm -rf r_wstart wmarks
    start_int wstart.err "$VOLLEY" run wstart.yaml --run-dir r_wstart --workers "$W" -j "$W" --quiet
    fast_wait ipid_children 1
    freeze "$IPID"
    children "$IPID"; k0=$NCHILD
    interrupt_frozen
    ((k0 < W - 1)) && break
done
echo "  (frozen with $k0 of $W workers started, try $tries)"
stop=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["stop"]; print(s["wall_ns"], s["workers_running"], s["signal"])' r_wstart/run-stats.json 2>/dev/null)
read -r stop_ns k1 stop_sig <<< "${stop:-0 none none}"
late=$(sqlite3 -readonly r_wstart/volley.db "select count(*) from job where start_ns > $stop_ns")
ran=$(cat wmarks 2>/dev/null | wc -l)
check "Ctrl-C while $W workers start: exit 130 (got $IRC)" [ "$IRC" = 130 ]
check "... frozen while it started its workers ($k0 of $W started, after $tries tries)" [ "$k0" -lt $((W - 1)) ]
check "... run-stats.json records the stop: SIGINT (got $stop_sig)" [ "$stop_sig" = SIGINT ]
check "... taken before the next spawn: $k0 workers when it came, at most one more when taken (got $k1)" \
    [ "$k1" -le $((k0 + 1)) ]
check "... no job started after it was taken but one per worker in flight ($late of $ran that ran, $k1 workers)" \
    [ "$late" -le "$k1" ]

# --- Ctrl-C while the run is being set up (the run directory, volley.db,
# the arena: ~0.1 s for 200k jobs here). Before 2026-12-02 volley died of
# the signal's default action there, silently, leaving a directory with a
# half-written volley.db.tmp and the lock that neither resume nor status
# could use. Now: exit 130, and the directory is either gone (nothing ran:
# what volley made is removed) or holds volley.db that status reads and
# resume continues; no arena stays in /dev/shm.
#
# Each interrupt freezes the run first, reads where it is (phase_of:
# loading, creating, kept, runner) and checks what that phase must do.
# Each phase is reached once by its event (the exec; the run directory;
# volley.db; SIGINT blocked), tried again when the freeze came too late
# for it; then a sweep of 6 delays over the setup's time on this machine
# adds points anywhere in it, each checked by its phase (no count of them
# has to land anywhere).
cat > setup.yaml <<YAML
name: setup
jobs:
  - name: s{i}
    command: /bin/true $TOKEN
    parameters: {i: "1:200000"}
YAML
# setup_point WHAT [CMD...]: a run of setup.yaml, frozen once CMD holds
# (at once without CMD), interrupted; its outcome checked by its PHASE
setup_point() {
    local what=$1 id got
    shift
    rm -rf r_setup
    start_int setup.err "$VOLLEY" run setup.yaml --run-dir r_setup --quiet || bad="$bad $what:never-exec"
    [ $# -eq 0 ] || "$@"
    freeze "$IPID"
    phase_of "$IPID" r_setup
    interrupt_frozen
    got="$what@$PHASE"
    SEEN="$SEEN $PHASE"
    if [ "$IRC" != 130 ]; then
        bad="$bad $got:exit-$IRC($(grep -v '^$' setup.err | head -1))"
        return
    fi
    case $PHASE in
    loading | creating)
        # nothing ran: what volley made is removed (interrupted between
        # naming the directory and making it: it says what it removed;
        # between taking the lock and noting it, until 2026-12-06, it left
        # the directory with volley.lock: 1 in ~50 runs of this sweep)
        [ -e r_setup ] && bad="$bad $got:left($(ls r_setup | tr '\n' ' '))"
        if [ "$PHASE" = loading ]; then
            # (nothing at all: the signal's default action, before
            # volley's handler was set, the instant after the exec)
            [ ! -s setup.err ] ||
                has_line setup.err "interrupted while loading the workflow: nothing was made, no job ran\|interrupted while setting up the run: no job ran; [a-z ]*r_setup$"
        else
            has_line setup.err "interrupted while setting up the run: no job ran; removed r_setup$"
        fi || bad="$bad $got:said($(grep -v '^$' setup.err | head -1))"
        ;;
    kept | runner)
        if [ ! -f r_setup/volley.db ]; then
            bad="$bad $got:no-volley.db($(ls r_setup 2>&1 | tr '\n' ' '))"
            return
        fi
        "$VOLLEY" status r_setup > /dev/null 2>&1 || bad="$bad $got:status-fails"
        id=$(sqlite3 -readonly r_setup/volley.db 'select lower(hex(run_id)) from run')
        [ -e "/dev/shm/volley-$id" ] && bad="$bad $got:arena-left"
        # kept: the setup handler says so (also frozen between volley.db's
        # rename and its intr_kept: until 2026-12-06 it said it removed
        # what it wrote, and removed the lock); runner: its summary
        if [ "$PHASE" = kept ]; then
            has_line setup.err "interrupted before any job started; state saved; continue with: volley resume $T/r_setup$"
        else
            has_line setup.err "state saved; continue with: volley resume $T/r_setup$"
        fi || bad="$bad $got:said($(grep -v '^$' setup.err | head -1))"
        ;;
    esac
}
# phase_point POINT PHASE CMD...: POINT (setup_point, resume_point) once
# CMD holds, again (up to 10 times) until the freeze lands in PHASE; TRIES
# says how many it took
phase_point() {
    local point=$1 want=$2
    shift 2
    for ((TRIES = 1; TRIES <= 10; TRIES++)); do
        "$point" "$want" "$@"
        [ "$PHASE" = "$want" ] && return 0
    done
    return 1
}
bad=""; SEEN=""; missed=""
phase_point setup_point loading || missed="$missed loading"
phase_point setup_point creating fast_wait test -d r_setup || missed="$missed creating"
phase_point setup_point kept fast_wait test -e r_setup/volley.db || missed="$missed kept"
phase_point setup_point runner fast_wait ipid_blocks_int || missed="$missed runner"
rm -rf r_setup
setup_time "run directory" "$VOLLEY" run setup.yaml --run-dir r_setup --quiet
delays_over "$SETUP_MS" 6
echo "  setup: $SETUP_MS ms; sweep delays (s):$DELAYS"
for d in $DELAYS; do setup_point "$d" sleep "$d"; done
echo "  phases the interrupts landed in:$SEEN"
check "Ctrl-C during the setup: exit 130, nothing half made, said what it did (not:$bad)" [ -z "$bad" ]
check "Ctrl-C during the setup: each phase reached by its event (missed:$missed)" [ -z "$missed" ]
rm -rf r_setup

# --- the same for `volley resume`'s setup (volley.db read, the old
# arena's state saved, a new arena linked): exit 130, the run still
# readable and resumable, no arena left in /dev/shm. Phases: setup (SIGINT
# not blocked yet: volley.db being read, or kept, and, once an arena is
# being built or linked in /dev/shm, kept: it must be removed) and runner.
start_int rsetup.err "$VOLLEY" run setup.yaml --run-dir r_rsetup --quiet
wait_until "the run to resume to block SIGINT" blocks_int "$IPID"
kill -INT "$IPID"
wait "$IPID"; rc=$?
check "resume setup: the run to resume was interrupted (got $rc)" [ "$rc" = 130 ]
check "resume setup: the run to resume has its volley.db" [ -f r_rsetup/volley.db ]
id=$(sqlite3 -readonly r_rsetup/volley.db 'select lower(hex(run_id)) from run')
# shm_fd PID: PID has a file of /dev/shm open (the arena it builds, an
# O_TMPFILE until it is linked, or the linked one)
shm_fd() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q ' /dev/shm/'; }
ipid_shm_fd() { shm_fd "$IPID" || { alive "$IPID" || return 2; return 1; }; }
resume_point() { # WHAT [CMD...]: as setup_point, for resume
    local what=$1 arena=no got
    shift
    start_int rsetup.err "$VOLLEY" resume r_rsetup --quiet || bad="$bad $what:never-exec"
    [ $# -eq 0 ] || "$@"
    freeze "$IPID"
    if blocks_int "$IPID"; then PHASE=runner; else PHASE=setup; fi
    shm_fd "$IPID" && arena=yes
    [ "$PHASE" = setup ] && [ "$arena" = yes ] && PHASE=arena
    interrupt_frozen
    got="$what@$PHASE"
    SEEN="$SEEN $PHASE"
    [ "$IRC" = 130 ] || bad="$bad $got:exit-$IRC($(head -c 200 rsetup.err))"
    "$VOLLEY" status r_rsetup > /dev/null 2>&1 || bad="$bad $got:status-fails"
    [ -e "/dev/shm/volley-$id" ] && bad="$bad $got:arena-left"
    case $PHASE in
    setup) [ ! -s rsetup.err ] || has_line rsetup.err "interrupted while loading the workflow: nothing was made, no job ran\|interrupted before any job started; state saved; continue with: volley resume $T/r_rsetup$" ;;
    arena) has_line rsetup.err "interrupted before any job started; state saved; continue with: volley resume $T/r_rsetup$" ;;
    runner) has_line rsetup.err "state saved; continue with: volley resume $T/r_rsetup$" ;;
    esac || bad="$bad $got:said($(grep -v '^$' rsetup.err | head -1))"
}
bad=""; SEEN=""; missed=""
phase_point resume_point setup || missed="$missed setup"
phase_point resume_point arena fast_wait ipid_shm_fd || missed="$missed arena"
phase_point resume_point runner fast_wait ipid_blocks_int || missed="$missed runner"
setup_time "resuming" "$VOLLEY" resume r_rsetup --quiet
[ -e "/dev/shm/volley-$id" ] && fail "resume setup: the timing resume left its arena"
delays_over "$SETUP_MS" 6
echo "  resume setup: $SETUP_MS ms; sweep delays (s):$DELAYS"
for d in $DELAYS; do resume_point "$d" sleep "$d"; done
echo "  phases the interrupts landed in:$SEEN"
check "Ctrl-C during resume's setup: exit 130, the run kept, no arena, said what it did (not:$bad)" [ -z "$bad" ]
check "Ctrl-C during resume's setup: each phase reached by its event (missed:$missed)" [ -z "$missed" ]
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
    command: 'echo \$VOLLEY_JOB_NAME >> nmarks; while [ ! -e ngo ]; do sleep 0.02; done; : $TOKEN'
    parameters: {i: "1:6"}
YAML
rm -f nmarks ngo
setsid sh -c 'trap "" HUP INT; exec "$0" run nohup.yaml --run-dir r_nohup -j 2 2> nohup.err' "$VOLLEY" &
pid=$!; STARTED+=("$pid")
wait_until "the first job of r_nohup" test -s nmarks
# ignored: dropped when sent (a blocked signal would be queued), so
# nothing to wait for between them
kill -HUP -- -"$pid"
kill -INT -- -"$pid"
touch ngo # its jobs wait for it: the run was live when the signals came
wait "$pid"; rc=$?
check "nohup: SIGHUP and SIGINT ignored, the run goes on: exit 0 (got $rc)" [ "$rc" = 0 ]
check "nohup: all 6 completed" [ "$(completed r_nohup | wc -l)" = 6 ]
check "nohup: each ran once" [ "$(sort nmarks | uniq | wc -l) $(wc -l < nmarks)" = "6 6" ]
no_strays

# --- the runner killed (SIGKILL): resume from the surviving arena
rm -f marks slgo
"$VOLLEY" run sl.yaml --run-dir r_kill -j 4 --checkpoint-interval 5 2> kill.err &
pid=$!; STARTED+=("$pid")
wait_marks 9
kill -9 "$pid"; wait "$pid" 2>/dev/null
snap_done=$(completed r_kill | wc -l)
wait_until "the jobs of the killed r_kill to end" quiet
touch slgo
"$VOLLEY" resume r_kill 2> kill2.err; rc=$?
check "resume after kill -9: exit 0 (got $rc)" [ "$rc" = 0 ]
check "resumed from the surviving arena" grep -q "from the surviving arena" kill2.err
check_marks r_kill
echo "  (the last checkpoint had $snap_done completed; the arena knew more)"
check_watch_files r_kill

# --- the runner killed and its arena gone (a reboot): from the snapshot
rm -f marks slgo
"$VOLLEY" run sl.yaml --run-dir r_boot -j 4 --checkpoint-interval 0.1 2> boot.err &
pid=$!; STARTED+=("$pid")
# killed once volley.db (a checkpoint) holds every job that marked: the 4
# that wait for slgo running (no other can start: -j 4), the rest done. A
# job that started after the last checkpoint would run again as attempt
# 1, with two marks: right after a reboot, but not what check_marks reads.
in_db() {
    [ "$(sqlite3 -readonly r_boot/volley.db "select count(*) from job where start_ns > 0" 2>/dev/null)/$(sqlite3 -readonly r_boot/volley.db "select count(*) from jobs where state = 'running'" 2>/dev/null)" = "$(cat marks 2>/dev/null | wc -l)/4" ]
}
wait_until "r_boot/volley.db to hold every job that marked" in_db
kill -9 "$pid"; wait "$pid" 2>/dev/null
# its workers stop their jobs when it dies: once they are gone, nothing
# writes to marks any more
wait_until "the jobs of the killed r_boot to end" quiet
before=$(completed r_boot)
touch slgo
rm -f "/dev/shm/volley-$(sqlite3 -readonly r_boot/volley.db 'select lower(hex(run_id)) from run')"
"$VOLLEY" resume r_boot 2> boot2.err; rc=$?
check "resume from the snapshot: exit 0 (got $rc)" [ "$rc" = 0 ]
check "resumed from volley.db" grep -q "from volley.db" boot2.err
for j in $before; do
    [ "$(grep -cx "$j" marks)" = 1 ] || fail "snapshot: $j was completed in volley.db, ran again"
done
check_marks r_boot

# --- a worker killed: the run repairs, starts another, finishes
rm -f marks slgo
"$VOLLEY" run sl.yaml --run-dir r_wk -j 4 --workers 2 2> wk.err &
pid=$!; STARTED+=("$pid")
wait_marks 9
w=$(ps --ppid "$pid" -o pid= | head -1)
[ -n "$w" ] && kill -9 $w
touch slgo
wait "$pid"; rc=$?
check "worker killed: the run still exits 0 (got $rc)" [ "$rc" = 0 ]
check "worker killed: reported" grep -q "killed by signal 9" wk.err
check_marks r_wk

# --- the jobs of a dead worker die with it, before their re-runs start.
# Each job writes its shell's pid (the leader of its process group), waits
# for the file ogo and marks its end; attempt 1 of the killed worker's jobs
# must not reach that end. ogo comes once o1's re-run has started: by then
# the dead worker's jobs are to be gone, and one that is not would mark its
# end too. Groups whose leader wrote its pid are ended at cleanup.
cat > orphan.yaml <<YAML
name: orphan
jobs:
  - name: "o{i}"
    command: 'echo \$\$ > pid.\$VOLLEY_JOB_NAME.\$VOLLEY_ATTEMPT; while [ ! -e ogo ]; do sleep 0.02; done; echo \$VOLLEY_JOB_NAME >> omarks; : $TOKEN'
    parameters: {i: "1:4"}
YAML
rm -f omarks pid.o* ogo
"$VOLLEY" run orphan.yaml --run-dir r_orph -j 4 --workers 2 2> orph.err &
pid=$!; STARTED+=("$pid")
wait_until "4 jobs of r_orph running" files 4 "pid.o*.1"
track_groups pid.o*.1
w=$(ps -o ppid= -p "$(cat pid.o1.1)") # the worker running o1
[ -n "$w" ] && [ "$w" != "$pid" ] && kill -9 $w
wait_until "o1 to run again" test -s pid.o1.2
touch ogo
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
wait_until "the job of r_deaf" test -s deaf.pid
track_groups deaf.pid
kill -INT "$pid"
# two signals before the first is taken are one: the second goes once the
# runner said it is stopping
wait_until "r_deaf to take the first Ctrl-C" has_line deaf.err "volley: stopping"
kill -INT "$pid"
t0=$SECONDS
wait "$pid"; rc=$?
took=$((SECONDS - t0))
check "second Ctrl-C: exit 130 (got $rc)" [ "$rc" = 130 ]
# at once: well under a second; 20 s is a 10x margin over a loaded machine
# and still below the job's 30 s and the 60 s grace
check "second Ctrl-C: the run ended at once, not after the 30 s job or the 60 s grace ($took s)" \
    [ "$took" -lt 20 ]
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
wait_until "2 jobs of r_allk running" files 2 "apid.*"
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
# both cut attempts counted, and the job failed with no retry left. An
# attempt waits for the file fgo, which comes once the two cut ones are
# over: each is cut while it runs, however long that took to come.
cat > flaky.yaml <<YAML
name: flaky
failure_handlers:
  - {name: once, rules: [{match_all_exit_codes: true, max_retries: 1}]}
jobs:
  - name: flaky
    failure_handler: once
    command: 'echo \$\$ >> fstart; while [ ! -e fgo ]; do sleep 0.02; done; if [ -e fmark ]; then echo ok; else touch fmark; exit 1; fi; : $TOKEN'
YAML
rm -f fstart fgo fmark
start_int flaky.err "$VOLLEY" run flaky.yaml --run-dir r_flaky --quiet
wait_until "attempt 1 of flaky" lines fstart 1
kill -INT "$IPID"; wait "$IPID"; rc1=$?
"$VOLLEY" resume r_flaky --quiet 2> flaky2.err &
pid=$!; STARTED+=("$pid")
wait_until "attempt 2 of flaky" lines fstart 2
kill -9 "$pid"; wait "$pid" 2>/dev/null
# its worker stops it when the runner is gone: then it cannot go on
wait_until "attempt 2 of flaky to end with its runner" gone "$(sed -n 2p fstart)"
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
  - {name: a, command: 'trap "" TERM; echo \$\$ >> cmarks; sleep 30; : $TOKEN'}
  - {name: b, command: 'echo b >> cmarks', depends_on: [a]}
YAML
rm -f cmarks
"$VOLLEY" run cank.yaml --run-dir r_cank --kill-grace 30 2> cank.err &
pid=$!; STARTED+=("$pid")
wait_until "job a of r_cank" test -s cmarks
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
ndone=$(sqlite3 -readonly r_fill/volley.db "select count(*) from jobs where state='completed'")
check "disk full: exit 3 (got $rc)" [ "$rc" = 3 ]
check "disk full: names the log file and the cause" grep -q "job logs could not be written to $T/r_fill/logs/.*File too large" fill.err
check "disk full: says how to continue" grep -q "volley resume $T/r_fill" fill.err
check "disk full: stopped early ($ndone of 30 completed)" [ "$ndone" -lt 30 ]
short=0
for n in $(sqlite3 -readonly r_fill/volley.db "select name from jobs where state='completed'"); do
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
# run: for the record they are ready, and resume starts their attempt 1.
# Each job runs until the file hgo is there; the Ctrl-C comes once one
# runs and another waits for the capacity (volley status says so).
cat > held.yaml <<YAML
name: held
resource_requirements:
  - {name: two, num_cpus: 2}
jobs:
  - name: "h{i}"
    command: 'echo \$VOLLEY_ATTEMPT >> hatt.\$VOLLEY_JOB_NAME; while [ ! -e hgo ]; do sleep 0.02; done; : $TOKEN'
    resource_requirements: two
    parameters: {i: "1:3"}
YAML
rm -f hatt.* hgo
start_int held.err "$VOLLEY" run held.yaml --run-dir r_held --cpus 2 -j 3 --workers 2 \
    --checkpoint-interval 0.1
pid=$IPID
# waiting_live DIR N: N jobs of the live run wait for the capacity
waiting_live() {
    local n
    n=$("$VOLLEY" status "$1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["waiting"])' 2>/dev/null)
    [ "${n:-0}" -ge "$2" ]
}
wait_until "a job of r_held to run" files 1 "hatt.*"
wait_until "a job of r_held to wait for the capacity" waiting_live r_held 1
kill -INT "$pid"
wait "$pid"; rc=$?
touch hgo
ran=$(ls hatt.* 2>/dev/null | wc -l)
check "held: interrupted, exit 130, one job ran (got $rc, $ran)" [ "$rc/$ran" = 130/1 ]
inrun=$(sqlite3 -readonly r_held/volley.db "select count(*) from jobs where state='running'")
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
  - {name: l, command: 'while [ ! -e never ]; do sleep 0.05; done; : $TOKEN'}
YAML
"$VOLLEY" run long.yaml --run-dir r_lock 2>/dev/null &
pid=$!; STARTED+=("$pid")
# the lock is taken before volley.db is made, and held until SIGTERM
wait_until "r_lock/volley.db" test -e r_lock/volley.db
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
# 4 jobs of 0.5 s; each marks its start (+) and end (-) in jmarks, and
# waits for the file jgo first (so the run to resume is interrupted while
# its first job runs, however long it took to get there).
cat > jj.yaml <<YAML
name: jj
jobs:
  - name: "j{i}"
    command: 'echo + >> jmarks; while [ ! -e jgo ]; do sleep 0.02; done; sleep 0.5; echo - >> jmarks; : $TOKEN'
    parameters: {i: "1:4"}
YAML
# the most jobs running at once, from jmarks
overlap() { awk '$1 == "+" {c++; if (c > m) m = c} $1 == "-" {c--} END {print m + 0}' jmarks; }
stat_max() { sed -n 's/.*"max_running": \([0-9]*\).*/\1/p' "$1/run-stats.json"; }
# interrupt_after DIR N ARGS...: volley run ARGS --run-dir DIR, Ctrl-C once
# N lines are in jmarks (the jobs wait for jgo: it comes after); waits for
# the exit (130)
interrupt_after() {
    local d=$1 n=$2; shift 2
    rm -f jmarks jgo
    start_int "$d.err" "$VOLLEY" run "$@" --run-dir "$d"
    local p=$IPID
    wait_until "$n lines in jmarks from $d" lines jmarks "$n"
    kill -INT "$p"
    wait "$p"; local rc=$?
    check "$d: interrupted (exit $rc)" [ "$rc" = 130 ]
    rm -f jmarks
    touch jgo
}
interrupt_after r_j1 1 jj.yaml -j 1 --kill-grace 2
timeout "$HANG" "$VOLLEY" resume r_j1 2> j1.err; rc=$?
check "-j 1 kept: resume exit 0 (got $rc)" [ "$rc" = 0 ]
check "-j 1 kept: the runner's cap is 1 ($(stat_max r_j1))" [ "$(stat_max r_j1)" = 1 ]
check "-j 1 kept: never two jobs at once ($(overlap))" [ "$(overlap)" = 1 ]
check "-j 1 kept: says so" grep -q "resuming with the run's options: -j 1 --kill-grace 2$" j1.err

# an option given to resume wins over the stored one
interrupt_after r_j2 1 jj.yaml -j 1
timeout "$HANG" "$VOLLEY" resume r_j2 -j 2 2> j2.err; rc=$?
check "-j 2 on resume: exit 0 (got $rc)" [ "$rc" = 0 ]
check "-j 2 on resume: the runner's cap is 2 ($(stat_max r_j2))" [ "$(stat_max r_j2)" = 2 ]
check "-j 2 on resume: no stored option applied" eval '! grep -q "the run.s options" j2.err'
# ... and becomes the run's, for a later resume (until 2026-12-02 the next
# resume went back to -j 1)
check "-j 2 on resume: stored as the run's ($(sqlite3 -readonly r_j2/volley.db "SELECT group_concat(name || '=' || value) FROM run_option"))" \
    [ "$(sqlite3 -readonly r_j2/volley.db "SELECT group_concat(name || '=' || value) FROM run_option")" = "jobs=2" ]

# a volley.db of schema 1 (before run options were stored) still resumes,
# with this machine's defaults and those given (which it cannot store)
interrupt_after r_s1 1 jj.yaml -j 1
sqlite3 r_s1/volley.db "DROP TABLE IF EXISTS run_option; PRAGMA user_version = 1"
timeout "$HANG" "$VOLLEY" resume r_s1 -j 1 2> s1.err; rc=$?
check "schema 1: resume exit 0 (got $rc)" [ "$rc" = 0 ]
check "schema 1: all 4 completed" [ "$(completed r_s1 | wc -l)" = 4 ]

# a stored value that does not parse is damage: exit 3, naming the option
interrupt_after r_bad 1 jj.yaml -j 1
sqlite3 r_bad/volley.db "UPDATE run_option SET value = 'lots' WHERE name = 'jobs'"
timeout "$HANG" "$VOLLEY" resume r_bad 2> bad.err; rc=$?
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
    command: 'echo + >> jmarks; echo CUDA=\$CUDA_VISIBLE_DEVICES; while [ ! -e jgo ]; do sleep 0.02; done; sleep 0.5; echo - >> jmarks; : $TOKEN'
    resource_requirements: onegpu
    parameters: {i: "1:4"}
YAML
interrupt_after r_gpu 1 gpu2.yaml --gpus 1 -j 1
sum0=$(md5sum < r_gpu/volley.db)
timeout "$HANG" "$VOLLEY" resume r_gpu --gpus 0 2> gpu0.err; rc=$?
check "--gpus 0 on resume: exit 2 (got $rc)" [ "$rc" = 2 ]
check "--gpus 0 on resume: names the job and the need" \
    grep -q "job 'g[1-4]' needs 1 GPUs (resource class 'onegpu'), the node has 0" gpu0.err
check "--gpus 0 on resume: says nothing started and how to change it" \
    grep -q "nothing started.*--gpus" gpu0.err
check "--gpus 0 on resume: no job ran" [ ! -e jmarks ]
check "--gpus 0 on resume: volley.db unchanged" [ "$(md5sum < r_gpu/volley.db)" = "$sum0" ]
timeout "$HANG" "$VOLLEY" resume r_gpu 2> gpu.err; rc=$?
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
    command: 'echo + >> jmarks; while [ ! -e jgo ]; do sleep 0.02; done; sleep 0.5; echo - >> jmarks; : $TOKEN'
    depends_on: [big]
    parameters: {i: "1:4"}
YAML
interrupt_after r_cpu4 1 cpu4.yaml --cpus 4 -j 1
timeout "$HANG" "$VOLLEY" resume r_cpu4 --cpus 2 2> cpu4.err; rc=$?
check "--cpus 2 on resume, the 4-CPU job done: exit 0, all 5 completed (got $rc, $(completed r_cpu4 | wc -l); $(head -1 cpu4.err))" \
    [ "$rc $(completed r_cpu4 | wc -l)" = "0 5" ]

# the refusal comes before the old run is touched: after kill -9 of the
# runner its arena survives a refused resume, and the next resume uses it
rm -f jmarks jgo
"$VOLLEY" run gpu2.yaml --run-dir r_gk --gpus 1 -j 1 --checkpoint-interval 5 2> gk.err &
pid=$!; STARTED+=("$pid")
wait_until "a job of r_gk to run" lines jmarks 1
kill -9 "$pid"; wait "$pid" 2>/dev/null
wait_until "the jobs of the killed r_gk to end" quiet
touch jgo
arena=/dev/shm/volley-$(sqlite3 -readonly r_gk/volley.db 'select lower(hex(run_id)) from run')
timeout "$HANG" "$VOLLEY" resume r_gk --gpus 0 2> gk0.err; rc=$?
check "kill -9, --gpus 0 on resume: exit 2 (got $rc)" [ "$rc" = 2 ]
check "kill -9, --gpus 0 on resume: the arena is kept" [ -e "$arena" ]
timeout "$HANG" "$VOLLEY" resume r_gk 2> gk2.err; rc=$?
check "kill -9, then resume: exit 0 (got $rc)" [ "$rc" = 0 ]
check "kill -9, then resume: from the surviving arena" grep -q "from the surviving arena" gk2.err
check "kill -9, then resume: all 4 completed" [ "$(completed r_gk | wc -l)" = 4 ]

finish

#!/bin/bash
# run_limits.sh - governing jobs end to end (issue #18, docs/limits.md),
# with each backend forced in turn (cgroup1, cgroup2, none) for what it
# can do on this machine; what it cannot is skipped with the reason:
#   - a memory hog over its class's memory ends failed/137 with the note
#     "out of memory: limit 64 MiB, peak 64 MiB", and a failure handler
#     matching 137 retries it; with oom_exit_code: 99 it ends with 99, and
#     with limit_resources: false it completes; a stop right after the
#     kill leaves it failed (not held as a death from outside, issue #23);
#   - a fork bomb (bounded: it starts at most 100 sleepers, 10x the cap)
#     is held at --max-pids, and at a class's max_pids;
#   - `sleep 300 &` is gone (by its pid) when its job ends, after a
#     timeout, a cancel and a Ctrl-C;
#   - a job that touches 200 MiB reports max_rss_bytes in [200, 260] MiB,
#     one that burns 1 s of CPU cpu_user_s in [0.8, 1.5];
# and once: kill -9 of the runner, then resume (no group, no process
# left), VOLLEY_NUM_CPUS and OMP_NUM_THREADS, --bind-cpus, the cgroup1
# paths without a v2 mount (the freezer), and bad input (exit 2, before
# anything starts). Every run's groups must be gone at the end (lib.sh).
. "$(dirname "$0")/lib.sh"
cd "$T"

PY=python3
command -v $PY > /dev/null || { echo "skip: python3 is not installed (make deps)"; exit 77; }

# pids of jobs' background processes: killed by cleanup should a check fail
track_pids() {
    local f p
    for f in "$@"; do
        [ -s "$f" ] || continue
        while read -r p; do [ -n "$p" ] && STARTED+=("$p"); done < "$f"
    done
    return 0
}
# every pid in the files is gone (or a zombie its new parent will reap)
all_gone() {
    local f p
    for f in "$@"; do
        [ -s "$f" ] || return 1
        while read -r p; do
            for _ in $(seq 100); do alive "$p" || break; sleep 0.05; done
            alive "$p" && return 1
        done < "$f"
    done
    return 0
}
wait_file() { for _ in $(seq 400); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
field() { # field DIR JOB KEY: a key of `volley jobs --json` for one job
    "$VOLLEY" jobs "$1" --json | $PY -c "import json,sys
for j in json.load(sys.stdin):
    if j['name'] == '$2': print(j['$3'])"
}

cat > probe.yaml <<YAML
name: probe
jobs:
  - {name: p, command: 'true; : $TOKEN'}
YAML

for B in cgroup1 cgroup2 none; do
    echo "== backend $B"
    "$VOLLEY" run probe.yaml --run-dir "r_probe_$B" --limits-backend "$B" 2> "probe_$B.err"
    rc=$?
    if [ "$rc" != 0 ]; then
        echo "skip: $B is not available here: $(grep -v 'run directory' "probe_$B.err" | head -1)"
        continue
    fi
    line=$(grep "volley: limits:" "probe_$B.err")
    check "$B: one line names the backend ($line)" grep -q "^volley: limits: $B" "probe_$B.err"
    mem=0 pids=0
    case $line in *"enforces memory"*) mem=1 ;; esac
    case $line in *"enforces memory and processes"* | *"enforces processes"*) pids=1 ;; esac
    check "$B: status --json names it" [ "$("$VOLLEY" status "r_probe_$B" --json |
        $PY -c 'import json,sys; print(json.load(sys.stdin)["limits"])')" = "$B" ]

    # --- usage: peak memory and CPU time of one attempt
    cat > use.yaml <<YAML
name: use
jobs:
  - {name: touch200, command: ": $TOKEN; $PY -c \"x = b'a' * (200 << 20)\""}
  - name: burn1
    command: ": $TOKEN; $PY -c \"import time\nwhile time.process_time() < 1.0: sum(range(20000))\""
YAML
    "$VOLLEY" run use.yaml --run-dir "r_use_$B" -j 1 --limits-backend "$B" 2> "use_$B.err"; rc=$?
    check "$B usage: exit 0 (got $rc)" [ "$rc" = 0 ]
    rss=$(field "r_use_$B" touch200 max_rss_bytes)
    check "$B usage: 200 MiB touched, max_rss_bytes $rss in [200, 260] MiB" \
        $PY -c "import sys; sys.exit(not 200 << 20 <= int('$rss') <= 260 << 20)"
    cpu=$(field "r_use_$B" burn1 cpu_user_s)
    check "$B usage: 1 s of CPU burnt, cpu_user_s $cpu in [0.8, 1.5]" \
        $PY -c "import sys; sys.exit(not 0.8 <= float('$cpu') <= 1.5)"
    total=$("$VOLLEY" status "r_use_$B" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["cpu_s"])')
    check "$B usage: status --json sums the CPU ($total s)" \
        $PY -c "import sys; sys.exit(not 0.8 <= float('$total') <= 3.0)"

    # --- memory: the hog is killed in its own group, 137, retried once
    cat > hog.yaml <<YAML
name: hog
resource_requirements:
  - {name: small, memory: 64m}
failure_handlers:
  - name: oom
    rules:
      - {exit_codes: [137], max_retries: 1}
jobs:
  - {name: hog, command: ": $TOKEN; $PY -c \"x = b'a' * (300 << 20)\"", resource_requirements: small, failure_handler: oom}
  - {name: fits, command: ": $TOKEN; $PY -c \"x = b'a' * (16 << 20)\"", resource_requirements: small}
YAML
    "$VOLLEY" run hog.yaml --run-dir "r_hog_$B" -j 2 --limits-backend "$B" 2> "hog_$B.err"; rc=$?
    if [ "$mem" = 1 ]; then
        check "$B memory: the run exits 1 (got $rc)" [ "$rc" = 1 ]
        check "$B memory: the hog failed with 137 after its retry ($(state_of "r_hog_$B" hog) $(attempt_of "r_hog_$B" hog))" \
            [ "$(state_of "r_hog_$B" hog)/$(attempt_of "r_hog_$B" hog)/$(field "r_hog_$B" hog exit_code)" = "failed/2/137" ]
        for a in 1 2; do
            "$VOLLEY" logs "r_hog_$B" hog --notes --attempt $a > "hog_notes_$a" 2>&1
            check "$B memory: attempt $a's note" grep -q "out of memory: limit 64 MiB, peak 64 MiB" "hog_notes_$a"
        done
        check "$B memory: the job that fits completed" [ "$(state_of "r_hog_$B" fits)" = completed ]

        # an OOM kill is the job's own failure, not a stop that reached it
        # before volley (issue #23, docs/execution.md): a stop right after
        # it leaves it failed. Were it held as a death from outside, the
        # stop would come well inside the 30 s hold and make it stopped.
        cat > hogstop.yaml <<YAML
name: hogstop
resource_requirements:
  - {name: small, memory: 64m}
jobs:
  - {name: hog, command: ": $TOKEN; $PY -c \"x = b'a' * (300 << 20)\"", resource_requirements: small}
  - {name: sleeper, command: ": $TOKEN; sleep 60"}
YAML
        "$VOLLEY" run hogstop.yaml --run-dir "r_hogstop_$B" -j 2 --kill-grace 30 \
            --limits-backend "$B" 2> "hogstop_$B.err" &
        vpid=$!; STARTED+=("$vpid")
        for _ in $(seq 400); do
            "$VOLLEY" logs "r_hogstop_$B" hog --notes 2> /dev/null | grep -q "out of memory" && break
            sleep 0.05
        done
        kill -TERM "$vpid"; wait "$vpid"; rc=$?
        check "$B memory: stopped after the OOM kill, the run exits 130 (got $rc)" [ "$rc" = 130 ]
        check "$B memory: the OOM-killed job stays failed/137 ($(state_of "r_hogstop_$B" hog) $(field "r_hogstop_$B" hog exit_code))" \
            [ "$(state_of "r_hogstop_$B" hog)/$(field "r_hogstop_$B" hog exit_code)" = "failed/137" ]
        check "$B memory: the sleeper was stopped, not failed ($(state_of "r_hogstop_$B" sleeper))" \
            [ "$(state_of "r_hogstop_$B" sleeper)" != failed ]
    else
        echo "skip: $B does not enforce memory here ($line)"
        check "$B memory: not enforced, the hog completed ($(state_of "r_hog_$B" hog) $(field "r_hog_$B" hog exit_code))" \
            [ "$(state_of "r_hog_$B" hog)" = completed ]
        [ "$(state_of "r_hog_$B" hog)" = completed ] || { cat "hog_$B.err"; "$VOLLEY" jobs "r_hog_$B"; "$VOLLEY" logs "r_hog_$B" hog --notes; "$VOLLEY" logs "r_hog_$B" hog --stderr | tail -3; dmesg | tail -5; cat /proc/self/cgroup; }
    fi

    # --- torc's execution_config: oom_exit_code is the memory kill's exit
    # code; limit_resources: false enforces nothing (as --no-limits)
    cat > hogx.yaml <<YAML
name: hogx
execution_config: {oom_exit_code: 99}
resource_requirements:
  - {name: small, memory: 64m}
jobs:
  - {name: hog, command: ": $TOKEN; $PY -c \"x = b'a' * (300 << 20)\"", resource_requirements: small}
YAML
    sed 's/oom_exit_code: 99/limit_resources: false/; s/^name: hogx/name: hogn/' hogx.yaml > hogn.yaml
    "$VOLLEY" run hogx.yaml --run-dir "r_hogx_$B" --limits-backend "$B" 2> "hogx_$B.err"
    if [ "$mem" = 1 ]; then
        check "$B oom_exit_code 99: the hog failed with 99 ($(state_of "r_hogx_$B" hog) $(field "r_hogx_$B" hog exit_code))" \
            [ "$(state_of "r_hogx_$B" hog)/$(field "r_hogx_$B" hog exit_code)" = failed/99 ]
        "$VOLLEY" logs "r_hogx_$B" hog --notes > "hogx_notes" 2>&1
        check "$B oom_exit_code 99: the note" grep -q "out of memory: limit 64 MiB, peak 64 MiB" hogx_notes
    fi
    "$VOLLEY" run hogn.yaml --run-dir "r_hogn_$B" --limits-backend "$B" 2> "hogn_$B.err"; rc=$?
    check "$B limit_resources: false: the hog completed (exit $rc, $(state_of "r_hogn_$B" hog))" \
        [ "$rc/$(state_of "r_hogn_$B" hog)" = 0/completed ]
    if [ "$B" != none ]; then
        check "$B limit_resources: false: said in the limits line" \
            grep -q "^volley: limits: $B, not enforced (the workflow's limit_resources: false)" "hogn_$B.err"
    fi

    # --- processes: a bounded fork bomb against --max-pids 10 and a class's 5
    if [ "$pids" = 1 ]; then
        cat > bomb.yaml <<YAML
name: bomb
resource_requirements:
  - {name: five, max_pids: 5}
jobs:
  - {name: bomb, command: ': $TOKEN; i=0; while [ \$i -lt 100 ]; do sleep 300 & echo \$! >> bomb.pids; i=\$((i+1)); done'}
  - {name: bomb5, command: ': $TOKEN; i=0; while [ \$i -lt 100 ]; do sleep 300 & echo \$! >> bomb5.pids; i=\$((i+1)); done', resource_requirements: five}
YAML
        rm -f bomb.pids bomb5.pids
        "$VOLLEY" run bomb.yaml --run-dir "r_bomb_$B" -j 2 --max-pids 10 --limits-backend "$B" 2> "bomb_$B.err"; rc=$?
        track_pids bomb.pids bomb5.pids
        n=$(wc -l < bomb.pids 2>/dev/null || echo 0)
        n5=$(wc -l < bomb5.pids 2>/dev/null || echo 0)
        check "$B processes: --max-pids 10 held the bomb ($n sleepers started of 100)" [ "$n" -ge 1 -a "$n" -le 9 ]
        check "$B processes: a class's max_pids 5 held it ($n5 started)" [ "$n5" -ge 1 -a "$n5" -le 4 ]
        check "$B processes: the bombs failed" [ "$(state_of "r_bomb_$B" bomb)/$(state_of "r_bomb_$B" bomb5)" = failed/failed ]
        check "$B processes: every sleeper is gone" all_gone bomb.pids bomb5.pids
    else
        echo "skip: $B does not limit processes here ($line): no fork bomb without a limit"
    fi

    # --- leftovers: when the job ends, and after a timeout
    cat > left.yaml <<YAML
name: left
resource_requirements:
  - {name: short, runtime: PT1S}
jobs:
  - {name: bg, command: 'sleep 300 & echo \$! > bg.pid; : $TOKEN'}
  - {name: slow, command: 'sleep 300 & echo \$! > to.pid; sleep 300; : $TOKEN', resource_requirements: short}
YAML
    rm -f bg.pid to.pid
    "$VOLLEY" run left.yaml --run-dir "r_left_$B" -j 2 --kill-grace 1 --limits-backend "$B" 2> "left_$B.err"; rc=$?
    track_pids bg.pid to.pid
    check "$B leftovers: the job completed, the timed out one terminated" \
        [ "$(state_of "r_left_$B" bg)/$(state_of "r_left_$B" slow)" = completed/terminated ]
    check "$B leftovers: sleep 300 & is gone when its job ended" all_gone bg.pid
    check "$B leftovers: ... and after a timeout" all_gone to.pid
    "$VOLLEY" logs "r_left_$B" bg --notes > "left_notes_$B" 2>&1
    check "$B leftovers: noted" grep -q "killed 1 leftover process" "left_notes_$B"

    # --- ... after a cancel, and after Ctrl-C
    cat > hold.yaml <<YAML
name: hold
jobs:
  - {name: h, command: 'sleep 300 & echo \$! > \$VOLLEY_JOB_NAME.\$VOLLEY_ATTEMPT.pid; sleep 300; : $TOKEN'}
YAML
    rm -f h.*.pid
    "$VOLLEY" run hold.yaml --run-dir "r_cancel_$B" --limits-backend "$B" 2> "cancel_$B.err" &
    pid=$!; STARTED+=("$pid")
    wait_file h.1.pid
    "$VOLLEY" cancel "r_cancel_$B" h > /dev/null 2>&1
    wait "$pid"; rc=$?
    track_pids h.1.pid
    check "$B cancel: the job is canceled (exit $rc)" [ "$(state_of "r_cancel_$B" h)" = canceled ]
    check "$B cancel: sleep 300 & is gone" all_gone h.1.pid
    rm -f h.*.pid
    start_int "int_$B.err" "$VOLLEY" run hold.yaml --run-dir "r_int_$B" --kill-grace 1 --limits-backend "$B"
    wait_file h.1.pid
    kill -INT "$IPID"
    wait "$IPID"; rc=$?
    track_pids h.1.pid
    check "$B Ctrl-C: exit 130 (got $rc)" [ "$rc" = 130 ]
    check "$B Ctrl-C: sleep 300 & is gone" all_gone h.1.pid
    check "$B: no group of these runs is left" [ -z "$(cgroups_of r_*_"$B")" ]
done

# --- kill -9 of the runner (supervisor and workers): the job's main
# process dies with its worker; its background sleeper, in a session of
# its own (out of the job's process group), stays in the run's group;
# resume kills it and removes every group
cat > k9.yaml <<YAML
name: k9
jobs:
  - {name: k, command: 'if [ \$VOLLEY_ATTEMPT = 1 ]; then setsid sleep 300 & echo \$! > k9.pid; sleep 300; fi; : $TOKEN'}
YAML
rm -f k9.pid
"$VOLLEY" run k9.yaml --run-dir r_k9 2> k9.err &
pid=$!; STARTED+=("$pid")
wait_file k9.pid
track_pids k9.pid
# stopped first, so that no worker outlives the supervisor long enough to
# stop its jobs itself
procs="$pid $(ps --ppid "$pid" -o pid= | tr '\n' ' ')"
kill -STOP $procs
kill -9 $procs
wait "$pid" 2> /dev/null
if grep -q "limits: none" k9.err; then
    echo "skip: kill -9 and resume with groups: no cgroup backend here"
    kill -9 "$(cat k9.pid)" 2> /dev/null
else
    check "kill -9: the run's groups are still there" [ -n "$(cgroups_of r_k9)" ]
    check "kill -9: the sleeper outlived its runner ($(ps -o pid=,ppid=,stat=,args= -p "$(cat k9.pid)"))" alive "$(cat k9.pid)"
    timeout 60 "$VOLLEY" resume r_k9 2> k9r.err; rc=$?
    check "kill -9, resume: exit 0 (got $rc)" [ "$rc" = 0 ]
    check "kill -9, resume: says it removed the groups" grep -q "removed the stopped run's cgroups" k9r.err
    check "kill -9, resume: the sleeper is gone" all_gone k9.pid
    check "kill -9, resume: no group left" [ -z "$(cgroups_of r_k9)" ]
fi

# --- what a job with CPUs sees
cat > cpus.yaml <<YAML
name: cpus
resource_requirements:
  - {name: two, num_cpus: 2}
jobs:
  - {name: c, command: 'echo "\$VOLLEY_NUM_CPUS \$OMP_NUM_THREADS" > c.out; : $TOKEN', resource_requirements: two}
  - {name: n, command: 'echo "\${VOLLEY_NUM_CPUS-unset}" > n.out; : $TOKEN'}
YAML
"$VOLLEY" run cpus.yaml --run-dir r_cpus --cpus 2 2> cpus.err
check "VOLLEY_NUM_CPUS and OMP_NUM_THREADS = num_cpus ($(cat c.out))" [ "$(cat c.out)" = "2 2" ]
check "no num_cpus, no VOLLEY_NUM_CPUS ($(cat n.out))" [ "$(cat n.out)" = unset ]
OMP_NUM_THREADS=5 "$VOLLEY" run cpus.yaml --run-dir r_cpus_omp --cpus 2 2> cpus2.err
check "OMP_NUM_THREADS the environment sets is kept ($(cat c.out))" [ "$(cat c.out)" = "2 5" ]

# --- --bind-cpus: two one-CPU jobs at once get one CPU each, not the same
if [ "$(nproc)" -ge 2 ]; then
    cat > bind.yaml <<YAML
name: bind
resource_requirements:
  - {name: one, num_cpus: 1}
jobs:
  - name: "b{i}"
    command: 'grep Cpus_allowed_list /proc/self/status | cut -f2 > \$VOLLEY_JOB_NAME.cpu; sleep 0.5; : $TOKEN'
    resource_requirements: one
    parameters: {i: "1:2"}
YAML
    "$VOLLEY" run bind.yaml --run-dir r_bind -j 2 --cpus 2 --bind-cpus 2> bind.err; rc=$?
    c1=$(cat b1.cpu 2> /dev/null) c2=$(cat b2.cpu 2> /dev/null)
    check "--bind-cpus: exit 0 (got $rc)" [ "$rc" = 0 ]
    check "--bind-cpus: one CPU each, not the same ($c1, $c2)" \
        [ -n "$c1" -a -n "$c2" -a "$c1" != "$c2" -a "${c1//[0-9]/}" = "" -a "${c2//[0-9]/}" = "" ]
else
    echo "skip: --bind-cpus needs 2 CPUs"
fi

# --- cgroup1 without a v2 mount: the freezer tracks, rusage counts CPU
if "$VOLLEY" run probe.yaml --run-dir r_probe_frz --limits-backend cgroup1 2> /dev/null &&
    [ -n "$(ls /sys/fs/cgroup/freezer 2> /dev/null)" ]; then
    rm -f bg.pid to.pid bomb.pids bomb5.pids
    VOLLEY_CGROUP1_NO_V2=1 "$VOLLEY" run left.yaml --run-dir r_left_frz -j 2 --kill-grace 1 \
        --limits-backend cgroup1 2> left_frz.err
    track_pids bg.pid to.pid
    check "cgroup1 with the freezer: leftovers gone" all_gone bg.pid to.pid
    VOLLEY_CGROUP1_NO_V2=1 "$VOLLEY" run bomb.yaml --run-dir r_bomb_frz -j 2 --max-pids 10 \
        --limits-backend cgroup1 2> bomb_frz.err
    track_pids bomb.pids bomb5.pids
    n=$(wc -l < bomb.pids 2>/dev/null || echo 0)
    check "cgroup1 with the freezer: the bomb held ($n)" [ "$n" -ge 1 -a "$n" -le 9 ]
    check "cgroup1 with the freezer: every sleeper gone" all_gone bomb.pids bomb5.pids
    VOLLEY_CGROUP1_NO_V2=1 "$VOLLEY" run use.yaml --run-dir r_use_frz -j 1 --limits-backend cgroup1 2> use_frz.err
    cpu=$(field r_use_frz burn1 cpu_user_s)
    check "cgroup1 with the freezer: cpu_user_s from rusage ($cpu)" \
        $PY -c "import sys; sys.exit(not 0.8 <= float('$cpu') <= 1.5)"
else
    echo "skip: no v1 freezer hierarchy here"
fi

# --- bad input: exit 2 with the reason, before anything starts
"$VOLLEY" run probe.yaml --run-dir r_bad1 --max-pids 0 2> bad1.err; rc=$?
check "--max-pids 0: exit 2 (got $rc), nothing made" [ "$rc" = 2 -a ! -e r_bad1 ]
check "--max-pids 0: says why" grep -q -- "--max-pids" bad1.err
"$VOLLEY" run probe.yaml --run-dir r_bad2 --limits-backend cgroup3 2> bad2.err; rc=$?
check "--limits-backend cgroup3: exit 2 (got $rc)" [ "$rc" = 2 ]
check "--limits-backend cgroup3: says why" grep -q "not one of auto, cgroup2, cgroup1, none" bad2.err
"$VOLLEY" run probe.yaml --run-dir r_bad3 --memory -1g 2> bad3.err; rc=$?
check "--memory -1g: exit 2 (got $rc)" [ "$rc" = 2 ]
cat > badpids.yaml <<YAML
name: badpids
resource_requirements:
  - {name: none, max_pids: 0}
  - {name: neg, memory: -64m}
jobs:
  - {name: a, command: 'true', resource_requirements: none}
YAML
"$VOLLEY" run badpids.yaml --run-dir r_bad4 2> bad4.err; rc=$?
check "max_pids 0 and memory -64m in a class: exit 2 (got $rc)" [ "$rc" = 2 ]
check "max_pids 0: says why" grep -q "max_pids is 0" bad4.err
check "memory -64m: says why" grep -q "memory '-64m' is not a size" bad4.err
# a forced backend the machine does not have: a mount namespace without
# the v1 memory hierarchy
if unshare -m true 2> /dev/null && [ -d /sys/fs/cgroup/memory ]; then
    unshare -m sh -c "umount -l /sys/fs/cgroup/memory && exec '$VOLLEY' run probe.yaml --run-dir r_bad5 --limits-backend cgroup1" 2> bad5.err
    rc=$?
    check "cgroup1 forced without a memory hierarchy: exit 2, nothing made (got $rc: $(tail -1 bad5.err))" \
        [ "$rc" = 2 -a ! -e r_bad5 ]
    check "cgroup1 forced without a memory hierarchy: says why" grep -q "cgroup1 is not available here" bad5.err
else
    echo "skip: cannot make a mount namespace without the v1 memory hierarchy"
fi

finish

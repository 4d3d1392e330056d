# tests/run/lib.sh - shared by the run tests: a scratch directory, a unique
# token that every job command of a test carries (so leftover processes can
# be found), and cleanup that ends only what this test started, by pid.
#
# Timing (docs/testing.md): nothing here waits for a guessed time. A test
# waits for an event (a file, a line, a process state, a signal mask) with
# wait_until, whose only limit, HANG seconds, is a hang guard: at least 10x
# what the slowest machine the suite knows (the ASan build on one CPU
# shared with two CPU burners) needs for any wait here. To interrupt a run
# at a chosen point, a test freezes it there (SIGSTOP), looks where it is
# (phase_of), sends the signal and lets it go on: what it must do then
# follows from where it was, not from how long it had run.
#
# A failed check prints what it checked, with the values it saw; this
# test's directory (run directories, each volley's stderr) is then kept and
# named. Processes and arenas in /dev/shm are cleaned up either way.
set -u
VOLLEY=${VOLLEY_BIN:?VOLLEY_BIN is not set}
T=$(mktemp -d /tmp/volley-test.XXXXXX)
TOKEN="vt$$x$RANDOM"
STARTED=()
FAILS=0
HANG=${VOLLEY_TEST_HANG:-60}

# pids of this test's processes (not this shell): the token or $T in the
# arguments, or a working directory inside $T. That also finds a runner
# started in the foreground (not in STARTED: relative arguments) and its
# workers, still running when the test is interrupted. Call it from
# outside $T (cleanup does cd /), or the pipeline would find itself.
ours() {
    {
        ps -eo pid=,args= | awk -v t="$TOKEN" -v d="$T" '(index($0, t) || index($0, d)) && !/awk/ {print $1}'
        find /proc -mindepth 2 -maxdepth 2 -name cwd -printf '%h %l\n' 2>/dev/null |
            awk -v d="$T" '$2 == d || index($2, d "/") == 1 {sub("/proc/", "", $1); print $1}'
    } | sort -u | grep -vx -e "$$" -e "$BASHPID"
}

cleanup() {
    local i pids f id
    cd / || true
    # TERM first: a runner stops its jobs and removes its arena. One that
    # a test froze (SIGSTOP) must go on to act on it.
    pids=$(ours)
    if [ -n "$pids" ]; then
        kill -CONT $pids 2>/dev/null
        kill -TERM $pids 2>/dev/null
        for ((i = 0; i < 100; i++)); do # up to 10 s for them to go
            [ -n "$(ours)" ] || break
            sleep 0.1
        done
    fi
    for p in "${STARTED[@]}"; do kill -9 "$p" 2>/dev/null; done
    # then KILL what is left, until nothing is (a few rounds: a dying
    # runner or job may still fork) and before rm -rf, which would race them
    for i in 1 2 3 4 5; do
        pids=$(ours)
        [ -n "$pids" ] || break
        kill -9 $pids 2>/dev/null
        sleep 0.1
    done
    for f in "$T"/*/volley.db; do
        [ -e "$f" ] || continue
        id=$(sqlite3 -readonly "$f" "select hex(run_id) from run" 2>/dev/null | tr A-F a-f)
        [ -n "$id" ] && rm -f "/dev/shm/volley-$id"
        # the run's cgroups (docs/limits.md), should a run have been left
        # crashed: what is in them is killed, they are removed
        "$VOLLEY" __cgroups "${f%/volley.db}" --sweep > /dev/null 2>&1
    done
    if [ "$FAILS" -ne 0 ]; then
        echo "this test's files (run directories, each volley's stderr) are kept in $T"
    else
        rm -rf "$T"
    fi
}
# The cgroups of the runs in the given directories that exist now (none
# once a run ended, whatever ended it, or once its resume did).
cgroups_of() {
    local d
    for d in "$@"; do "$VOLLEY" __cgroups "$d" 2> /dev/null; done
}
no_cgroups_left() {
    local d left=""
    for d in "$T"/*/; do
        [ -n "$(cgroups_of "$d")" ] && left="$left ${d%/}"
    done
    if [ -n "$left" ]; then fail "cgroups left behind by the runs in:$left"; else ok "no cgroup left behind"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

fail() {
    echo "FAIL: $*"
    [ "$FAILS" -eq 0 ] && echo "  (the run directories of this test are in $T; kept after a failure)"
    FAILS=$((FAILS + 1))
}
ok() { echo "ok: $*"; }
# check "what" CMD...: CMD is the condition; when it fails, the command
# is printed as it ran, with the values it compared ([ "got" = want ]),
# and, when its last word is a file, the first lines of that file
check() {
    local what=$1; shift
    if "$@"; then
        ok "$what"
    else
        fail "$what"
        echo "  checked: $*"
        local last=${*: -1}
        if [ -f "$last" ]; then
            echo "  $last begins:"
            head -5 "$last" | sed 's/^/  | /'
        fi
    fi
}
# state of job NAME in run dir DIR, from volley.db
state_of() { sqlite3 -readonly "$1/volley.db" "select state from jobs where name='$2'"; }
attempt_of() { sqlite3 -readonly "$1/volley.db" "select attempt from jobs where name='$2'"; }
# processes still carrying the token
strays() { ps -eo pid=,stat=,args= | awk -v t="$TOKEN" 'index($0, t) && !/awk/'; }
# files holding the pids of this test's jobs, each the leader of its own
# process group: cleanup ends those groups too (a job's children do not
# carry the token in their arguments)
track_groups() {
    local f
    for f in "$@"; do [ -s "$f" ] && STARTED+=("-$(cat "$f")"); done
    return 0
}

# --- waiting for events -------------------------------------------------

# wait_until WHAT CMD...: runs CMD every 20 ms until it succeeds. After
# HANG s (a hang, not a slow machine) the test fails, naming WHAT, and
# wait_until returns 1.
wait_until() {
    local what=$1 end=$((SECONDS + HANG))
    shift
    until "$@"; do
        if (($? == 2)); then
            fail "waited for $what; the process ended first"
            return 1
        fi
        if ((SECONDS >= end)); then
            fail "waited ${HANG} s for $what; it did not come"
            return 1
        fi
        sleep 0.02
    done
}
# lines FILE N: FILE has at least N lines
lines() { [ "$(cat "$1" 2>/dev/null | wc -l)" -ge "$2" ]; }
# has_line FILE PATTERN: a line of FILE matches (grep) PATTERN
has_line() { grep -q -- "$2" "$1" 2>/dev/null; }
# files N GLOB: at least N files match GLOB
files() {
    local n=$1 f c=0
    shift
    for f in $1; do [ -e "$f" ] && c=$((c + 1)); done
    [ "$c" -ge "$n" ]
}
# gone PID: the process has ended (or is a zombie)
gone() { ! alive "$1"; }
# quiet: no process of this test left but this shell's own jobs in STARTED
# that still run (after a runner was killed: its workers and jobs end)
quiet() { [ -z "$(strays)" ]; }

# fast_wait CMD...: wait_until for short windows: CMD (builtins only, so
# no fork per try) is tried back to back, with a 10 ms pause every 1000
# tries; it fails the test after HANG s, as wait_until.
fast_wait() {
    local i rc end=$((SECONDS + HANG))
    for ((i = 1; ; i++)); do
        "$@" && return 0
        rc=$?
        if ((rc == 2)); then
            fail "waited for: $*; the process ended first"
            return 1
        fi
        if ((i % 1000 == 0)); then
            if ((SECONDS >= end)); then
                fail "waited ${HANG} s for: $*"
                return 1
            fi
            sleep 0.01
        fi
    done
}

# --- processes ---------------------------------------------------------

# pstate PID: sets PSTATE to the state letter of /proc/PID/stat (R, S, D,
# T, Z...), "" if there is no such process; builtins only.
pstate() {
    local l=""
    PSTATE=""
    read -r l 2>/dev/null < "/proc/$1/stat" || return 1
    l=${l##*) }
    PSTATE=${l%% *}
}
# pid runs and is not a zombie (an orphan's zombie may wait for init)
alive() { pstate "$1" && [ "$PSTATE" != Z ] && [ "$PSTATE" != X ]; }
# runs_volley PID: PID has exec'd the volley binary (its comm is volley)
runs_volley() {
    local c=""
    read -r c 2>/dev/null < "/proc/$1/comm" && [ "$c" = volley ]
}
# children PID: sets NCHILD to the number of PID's children (a runner's
# children are its workers); builtins only where the kernel lists them
children() {
    local c=""
    if [ -r "/proc/$1/task/$1/children" ]; then
        read -r c < "/proc/$1/task/$1/children"
        set -- $c
        NCHILD=$#
    else # a kernel without CONFIG_PROC_CHILDREN
        NCHILD=$(ps --ppid "$1" -o pid= | wc -l)
    fi
}
has_children() { children "$1" && [ "$NCHILD" -ge "$2" ]; }
# int_taker PID: sets TAKER to what would take a SIGINT sent to volley's
# PID now:
# - "runner": the supervisor (core/supervisor.c) blocked the stop
#   signals; its sigtimedwait takes one, pending or to come. Seen as:
#   blocked with no handler (the setup's handler reset, intr_disarm);
#   no handler, not blocked, and its control memfd volley-runctl open
#   (sigtimedwait unblocks what it waits for while the thread sleeps
#   there); or blocked with the setup's handler still set and the arena
#   mapped (the instant between the supervisor's block and its
#   intr_disarm: the lock-taking hold below comes before any arena).
#   Until 2026-12-06 "blocked, no handler, no memfd yet" (the supervisor
#   making its cgroups) read as "default": a freeze there (1 in ~100
#   sweeps, reproduced by stopping volley in gdb at cgroup_tree_create)
#   expected the setup handler's line and got the runner's.
# - "handler": the setup's handler, tools/intr.c, is set: SigCgt (blocked
#   for a moment around taking the run lock: it takes it after);
# - "default": no handler yet, the instant after the exec: the signal's
#   default action.
# 1 if PID is gone.
int_taker() {
    local k v blk=0 cgt=0
    [ -r "/proc/$1/status" ] || return 1
    while read -r k v; do
        case $k in
        SigBlk:) blk=$(((16#$v >> 1) & 1)) ;;
        SigCgt:) cgt=$(((16#$v >> 1) & 1)) ;;
        esac
    done 2>/dev/null < "/proc/$1/status"
    if ((blk && !cgt)); then
        TAKER=runner
    elif ((!cgt)) && ls -l "/proc/$1/fd" 2>/dev/null | grep -q 'memfd:volley-runctl'; then
        TAKER=runner
    elif ((blk && cgt)) && grep -q ' /dev/shm/' "/proc/$1/maps" 2>/dev/null; then
        TAKER=runner
    elif ((cgt)); then
        TAKER=handler
    else
        TAKER=default
    fi
}
blocks_int() { int_taker "$1" && [ "$TAKER" = runner ]; }
# the same of the run start_int started last (IPID), for fast_wait; 2
# once it is gone (the wait gives up)
ipid_children() { has_children "$IPID" "$1" || { alive "$IPID" || return 2; return 1; }; }
ipid_blocks_int() { blocks_int "$IPID" || { alive "$IPID" || return 2; return 1; }; }
# freeze PID: SIGSTOP, then waits until PID is stopped (what it did is
# then done; nothing more happens until thaw). 1 if it ended instead.
freeze() {
    kill -STOP "$1" 2>/dev/null || return 1
    fast_wait stopped_or_gone "$1" || return 1
    [ "$PSTATE" = T ] || [ "$PSTATE" = t ]
}
stopped_or_gone() { ! pstate "$1" || [ "$PSTATE" = T ] || [ "$PSTATE" = t ] || [ "$PSTATE" = Z ]; }
thaw() { kill -CONT "$1" 2>/dev/null; }

# start_int ERR CMD...: starts CMD (a volley run or resume) in the
# background with SIGINT at its default and stderr to ERR, as a job this
# script can end (IPID); waits for its exec (a run started as `env
# --default-signal=INT volley ... &` has SIGINT ignored until env resets it
# and execs: a Ctrl-C sent before that is lost). 1 if it never came.
start_int() {
    local err=$1; shift
    env --default-signal=INT "$@" 2> "$err" &
    IPID=$!; STARTED+=("$IPID")
    fast_wait runs_volley "$IPID"
}
# interrupt_frozen: SIGINT to the frozen IPID, then lets it go on; IRC is
# its exit code
interrupt_frozen() {
    kill -INT "$IPID"
    thaw "$IPID"
    wait "$IPID"; IRC=$?
}
# phase_of PID DIR: sets PHASE to where a frozen `volley run|resume` that
# makes or continues the run in DIR is: loading (DIR not there yet),
# creating (DIR, no volley.db in it), kept (volley.db in place; the setup
# handler still takes a stop signal) or runner (the runner blocks them).
# For resume, DIR exists from the start: loading and kept are one.
phase_of() {
    if blocks_int "$1"; then PHASE=runner
    elif [ ! -d "$2" ]; then PHASE=loading
    elif [ ! -e "$2/volley.db" ]; then PHASE=creating
    else PHASE=kept
    fi
}
# setup_time LINE CMD...: start_int CMD, time it from its exec to the first
# stderr line matching LINE (the setup done), interrupt it; SETUP_MS is
# the time, for a sweep of interrupts over this build's setup on this
# machine (ASan's is several times gcc's). The sweep's points are checked
# by the phase they land in (phase_of): no count of hits is required of it.
setup_time() {
    local line=$1 t0 t1
    shift
    start_int delays.err "$@"
    t0=$(date +%s%N)
    wait_until "'$line' from $*" has_line delays.err "$line"
    t1=$(date +%s%N)
    kill -INT "$IPID"; wait "$IPID"
    SETUP_MS=$(((t1 - t0) / 1000000))
}
# delays_over MS N: sets DELAYS to N delays (seconds) spread from 5% to
# 130% of MS
delays_over() {
    local ms=$1 n=$2 k f
    DELAYS=""
    for ((k = 0; k < n; k++)); do
        f=$((5 + k * 125 / (n - 1)))
        DELAYS="$DELAYS $(printf '%d.%03d' $((ms * f / 100 / 1000)) $((ms * f / 100 % 1000)))"
    done
}
no_strays() {
    local s; s=$(strays)
    if [ -n "$s" ]; then fail "stray processes: $s"; else ok "no stray processes"; fi
}
finish() {
    no_strays
    no_cgroups_left
    # a sanitizer report from the runner or a worker (they share stderr)
    if grep -l "Sanitizer\|runtime error:" "$T"/*.err 2>/dev/null; then
        fail "sanitizer reports above"
        grep -h -A5 "Sanitizer\|runtime error:" "$T"/*.err | head -40
    fi
    if [ "$FAILS" -ne 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi
    echo "all passed"
}

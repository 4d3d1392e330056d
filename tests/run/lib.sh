# tests/run/lib.sh - shared by the run tests: a scratch directory, a unique
# token that every job command of a test carries (so leftover processes can
# be found), and cleanup that ends only what this test started, by pid.
set -u
VOLLEY=${VOLLEY_BIN:?VOLLEY_BIN is not set}
T=$(mktemp -d /tmp/volley-test.XXXXXX)
TOKEN="vt$$x$RANDOM"
STARTED=()
FAILS=0

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
    cd / || true
    # TERM first: a runner stops its jobs and removes its arena
    kill -TERM $(ours) 2>/dev/null && sleep 0.5
    for p in "${STARTED[@]}"; do kill -9 "$p" 2>/dev/null; done
    # then KILL what is left, until nothing is (a few rounds: a dying
    # runner or job may still fork) and before rm -rf, which would race them
    local i pids
    for i in 1 2 3 4 5; do
        pids=$(ours)
        [ -n "$pids" ] || break
        kill -9 $pids 2>/dev/null
        sleep 0.1
    done
    for f in "$T"/*/volley.db; do
        [ -e "$f" ] || continue
        id=$(sqlite3 "$f" "select hex(run_id) from run" 2>/dev/null | tr A-F a-f)
        [ -n "$id" ] && rm -f "/dev/shm/volley-$id"
        # the run's cgroups (docs/limits.md), should a run have been left
        # crashed: what is in them is killed, they are removed
        "$VOLLEY" __cgroups "${f%/volley.db}" --sweep > /dev/null 2>&1
    done
    rm -rf "$T"
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

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
check() { # check "what" cond...
    local what=$1; shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
# state of job NAME in run dir DIR, from volley.db
state_of() { sqlite3 "$1/volley.db" "select state from jobs where name='$2'"; }
attempt_of() { sqlite3 "$1/volley.db" "select attempt from jobs where name='$2'"; }
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
# waits (up to ~10 s) until process pid runs the volley binary: a run
# started as `env --default-signal=INT volley ... &` has SIGINT ignored
# until env resets it and execs, so a Ctrl-C sent before that is lost (on
# a loaded machine env took over 5 ms). Builtin reads only: no fork per poll.
wait_exec() {
    local c="" i
    for ((i = 0; i < 200000; i++)); do
        read -r c < "/proc/$1/comm" 2>/dev/null || return 1
        [ "$c" = volley ] && return 0
        ((i % 1000 == 999)) && sleep 0.05
    done
    return 1
}
# start_int ERR CMD...: starts CMD (a volley run or resume) in the
# background with SIGINT at its default and stderr to ERR, as a job this
# script can end (IPID); waits for its exec (1 if it never came).
start_int() {
    local err=$1; shift
    env --default-signal=INT "$@" 2> "$err" &
    IPID=$!; STARTED+=("$IPID")
    wait_exec "$IPID"
}
# interrupt_at DELAY ERR CMD...: start_int, then SIGINT DELAY s after the
# exec; IRC is CMD's exit code. 1 if the exec never came (the SIGINT is
# sent all the same).
interrupt_at() {
    local d=$1 ok=0; shift
    start_int "$@" || ok=1
    sleep "$d"
    kill -INT "$IPID"
    wait "$IPID"; IRC=$?
    return $ok
}
# setup_delays LINE CMD...: start_int CMD, time it from its exec to the
# first stderr line matching LINE (the setup done), interrupt it, and set
# DELAYS to 16 delays spread over that time (5% to 130% of it, in
# seconds, denser from 70% to 100%, where the setup ends: loading comes
# first, and a CI run of the ASan build once put all of 12 delays in it):
# a sweep of interrupts over the setup of this build on this machine
# (ASan's is several times gcc's).
setup_delays() {
    local line=$1; shift
    local t0 t1 ms f
    start_int delays.err "$@"
    t0=$(date +%s%N)
    for _ in $(seq 1200); do grep -q "$line" delays.err && break; sleep 0.01; done
    t1=$(date +%s%N)
    kill -INT "$IPID"; wait "$IPID"
    ms=$(((t1 - t0) / 1000000))
    DELAYS=""
    for f in 5 15 30 45 60 70 75 80 85 90 93 95 97 100 110 130; do
        DELAYS="$DELAYS $(printf '%d.%03d' $((ms * f / 100 / 1000)) $((ms * f / 100 % 1000)))"
    done
}
# pid runs and is not a zombie (an orphan's zombie may wait for init)
alive() {
    local s
    s=$(ps -o stat= -p "$1" 2>/dev/null)
    [ -n "$s" ] && [ "${s#Z}" = "$s" ]
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

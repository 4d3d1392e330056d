# watch_lib.sh - shared by the watch_*.sh tests (volley status, jobs, logs,
# cancel, events): a temporary directory, check(), and runs started in the
# background in their own process group, which the EXIT trap ends (SIGTERM,
# then SIGKILL) and whose arena and cgroups it removes, also when a test
# fails. A failed check prints what it expected and what it got; the
# directory (run directories, outputs) is then kept and named. Waits are
# for events, with a hang limit only (wait_for; docs/testing.md).
set -u
bin=${VOLLEY_BIN:?VOLLEY_BIN must name the volley binary}
tmp=$(mktemp -d /tmp/volley-test-watch.XXXXXX)
pass=0
fail=0
HANG=${VOLLEY_TEST_HANG:-60}
bg_pids=()
run_dirs=()
cleanup() {
  local p d id i
  # a runner whose pid never reached bg_pids (the test was ended between
  # its start and the assignment; seen once under `timeout`): a run
  # directory whose lock is held names its runner, which leads its group
  for d in "${run_dirs[@]}"; do
    [ -e "$d/volley.lock" ] && ! flock -n "$d/volley.lock" true 2> /dev/null &&
      p=$(cut -d' ' -f1 "$d/volley.lock") && [ -n "$p" ] && bg_pids+=("$p")
  done
  for p in "${bg_pids[@]}"; do kill -TERM -- "-$p" 2> /dev/null; done
  for p in "${bg_pids[@]}"; do
    for i in $(seq 50); do kill -0 -- "-$p" 2> /dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2> /dev/null
  done
  for d in "${run_dirs[@]}"; do
    id=$(python3 -c 'import sqlite3,sys
c=sqlite3.connect("file:"+sys.argv[1]+"/volley.db?mode=ro",uri=True)
print(c.execute("select hex(run_id) from run").fetchone()[0].lower())' "$d" 2> /dev/null)
    [ -n "$id" ] && rm -f "/dev/shm/volley-$id"
  done
  # the cgroups of every run here that was killed, or left by a failure
  # (docs/limits.md): what is in them is killed, they are removed
  for d in "${run_dirs[@]}" "$tmp"/*/ "$tmp"/*/*/; do
    [ -e "$d/volley.db" ] && "$bin" __cgroups "$d" --sweep > /dev/null 2>&1
  done
  if [ "$fail" != 0 ]; then
    echo "this test's files (run directories, outputs) are kept in $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    pass=$((pass + 1))
  else
    echo "FAIL: $1: expected [$2], got [$3] (run directories in $tmp)"
    fail=$((fail + 1))
  fi
}
# start_run DIR ARGS...: volley run ARGS --run-dir DIR in the background,
# in its own session (so its workers and jobs are one process group).
start_run() {
  local d=$1
  shift
  run_dirs+=("$tmp/$d")
  setsid "$bin" run "$@" --run-dir "$tmp/$d" --quiet > "$tmp/$d.out" 2> "$tmp/$d.err" &
  bg_pids+=($!)
  last_pid=$!
}
# wait_for CMD...: polls CMD every 0.05 s until it succeeds. The only
# limit is HANG s of wall time (a hang, not a slow machine: 10x and more
# what any wait here takes on a loaded machine); then the test fails,
# naming CMD, and wait_for returns 1.
wait_for() {
  local end=$((SECONDS + HANG))
  while [ $SECONDS -lt $end ]; do
    "$@" && return 0
    sleep 0.05
  done
  echo "FAIL: waited $HANG s for: $* (run directories in $tmp)"
  fail=$((fail + 1))
  return 1
}
finish() {
  echo "$(basename "$0"): $pass passed, $fail failed"
  [ "$fail" = 0 ]
}

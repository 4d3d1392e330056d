# watch_lib.sh - shared by the watch_*.sh tests (volley status, jobs, logs,
# cancel, events): a temporary directory, check(), and runs started in the
# background in their own process group, which the EXIT trap ends (SIGTERM,
# then SIGKILL) and whose arena and cgroups it removes, also when a test
# fails.
set -u
bin=${VOLLEY_BIN:?VOLLEY_BIN must name the volley binary}
tmp=$(mktemp -d)
pass=0
fail=0
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
  rm -rf "$tmp"
}
trap cleanup EXIT
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    pass=$((pass + 1))
  else
    echo "FAIL: $1: expected [$2], got [$3]"
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
# wait_for SECONDS CMD...: polls CMD every 0.05 s until it succeeds, for
# SECONDS of wall time (a slow CMD gets fewer polls, not more time).
wait_for() {
  local end=$((SECONDS + $1))
  shift
  while [ $SECONDS -lt $end ]; do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}
finish() {
  echo "$(basename "$0"): $pass passed, $fail failed"
  [ "$fail" = 0 ]
}

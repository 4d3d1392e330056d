#!/usr/bin/env bash
# watch_bench.sh [JOBS] - what `volley status` and `volley jobs --json`
# cost on a big run (docs/watching.md "Numbers"): a live run of JOBS
# (default 1,000,000) `sleep 600` jobs at -j 2, then the same run stopped
# by `volley cancel` (read from volley.db). Prints median and best of n
# runs next to `volley --help` (process start) measured in the same session.
# Runs once at a time (a 1M-job arena is ~110 MB of /dev/shm); cleans up
# the run, its processes and its arena, also on failure.
set -eu
bin=${VOLLEY_BIN:-$(dirname "$0")/../../build/volley}
bin=$(realpath "$bin")
n=${1:-1000000}
tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM -- "-$pid" 2> /dev/null || true
    sleep 1
    kill -KILL -- "-$pid" 2> /dev/null || true
  fi
  id=$("$bin" status "$tmp/r" --json 2> /dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])' 2> /dev/null || true)
  [ -n "$id" ] && rm -f "/dev/shm/volley-$id"
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
cat > big.yaml << YAML
name: big
jobs:
  - name: "job_{i:07d}"
    command: "sleep 600"
    parameters: {i: "0:$((n - 1))"}
YAML
tm() { # tm N CMD...: median and best wall time of N runs
  python3 - "$@" << 'PY'
import subprocess, sys, time, statistics
n = int(sys.argv[1]); cmd = sys.argv[2:]
ts = []
for _ in range(n):
    t = time.perf_counter(); subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False); ts.append(time.perf_counter() - t)
print("%-40s median %7.1f ms  best %7.1f ms  (n=%d)" % (" ".join(cmd[1:]), statistics.median(ts)*1e3, min(ts)*1e3, n))
PY
}
setsid "$bin" run big.yaml --run-dir r -j 2 --workers 1 --quiet > run.out 2>&1 &
pid=$!
for _ in $(seq 600); do
  "$bin" status r --json 2> /dev/null | grep -q '"running": 2' && break
  sleep 0.2
done
echo "live run of $n jobs:"
tm 21 "$bin" --help
tm 21 "$bin" status r --json
tm 5 "$bin" jobs r --json
"$bin" cancel r 2> /dev/null
wait "$pid" || true
pid=
echo "stopped (volley.db):"
tm 21 "$bin" --help
tm 21 "$bin" status r --json
tm 5 "$bin" jobs r --json

#!/usr/bin/env bash
# resume_time.sh VOLLEY [N] - how long a run of N jobs (default 1M) takes
# to start (load, volley.db, arena, workers), and to resume after kill -9:
# from the surviving arena, then from volley.db. Jobs are `sleep 600` at
# -j 2, so the timings are setup only. Cleans up after itself.
set -u
V=$(realpath "${1:?usage: resume_time.sh VOLLEY [N]}")
n=${2:-1000000}
. "$(dirname "$0")/../lib/scratch.sh"
bench_scratch resume
printf 'name: rt\njobs:\n  - {name: "j{i}", command: "sleep 600", parameters: {i: "1:%s"}}\n' "$n" > wf.yaml
s=$(date +%s%N); "$V" run wf.yaml --run-dir r -j 2 --quiet 2> run.err & pid=$!
waitfor "run directory" run.err || { echo "run did not start"; cat run.err; exit 1; }
echo "run, $n jobs: workers start after $(ms "$s" "$(date +%s%N)") ms"
sleep 3; kill -9 "$pid"; wait "$pid" 2>/dev/null; sleep 1
s=$(date +%s%N); "$V" resume r --quiet 2> r1.err & pid=$!
waitfor "resuming" r1.err || { echo "resume did not start"; cat r1.err; exit 1; }
echo "resume from the surviving arena: $(ms "$s" "$(date +%s%N)") ms"
sleep 2; kill -TERM "$pid"; wait "$pid"
s=$(date +%s%N); "$V" resume r --quiet 2> r2.err & pid=$!
waitfor "resuming" r2.err || { echo "resume did not start"; cat r2.err; exit 1; }
echo "resume from volley.db: $(ms "$s" "$(date +%s%N)") ms"
sleep 2; kill -TERM "$pid"; wait "$pid"; pid=

#!/usr/bin/env bash
# run.sh [BUILD] [N] - the figures of the earlier issues in one place:
# load time, unblock latency, checkpoint cost and resume time, each from the
# benchmark that owns it, with its target (issue #8). N jobs for load,
# checkpoint and resume (default 1M). `volley bench` is the throughput
# matrix; this is the rest. ~3 minutes at 1M on the 2-vCPU VM.
set -u
build=$(realpath "${1:-build}")
n=${2:-1000000}
v=$build/volley
[ -x "$v" ] && [ -x "$build/bench/spawn/engine_bench" ] && [ -x "$build/bench/persist/bench_persist" ] ||
    { echo "run.sh: build $build first (make build)" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
w=$(mktemp -d /tmp/volley-suite.XXXXXX)
trap 'rm -rf "$w"' EXIT
printf '%-34s %-28s %s\n' "measure" "result" "target"

# load: a two-stage sweep with a regex barrier, validated (load + expand + checks)
python3 "$here/load/gen_sweep.py" "$n" "$w" >/dev/null || { echo "gen_sweep.py failed"; exit 1; }
best=
for _ in 1 2 3; do
    s=$(date +%s%N); "$v" validate "$w/sweep.yaml" >/dev/null || { echo "validate failed"; exit 1; }
    t=$(( ($(date +%s%N) - s) / 1000000 )); [ -z "$best" ] || [ "$t" -lt "$best" ] && best=$t
done
printf '%-34s %-28s %s\n' "load $n jobs (best of 3)" "$best ms" "10M <= 10 s"

# unblock latency: a 10k chain, exit of a parent to spawn of its child
line=$("$build/bench/spawn/engine_bench" -s chain -n 10000 -k 1 2>/dev/null | grep exit_to_spawn)
p50=$(sed -n 's/.*exit_to_spawn_p50_us=\([0-9.]*\).*/\1/p' <<<"$line")
p99=$(sed -n 's/.*exit_to_spawn_p99_us=\([0-9.]*\).*/\1/p' <<<"$line")
printf '%-34s %-28s %s\n' "unblock, 10k chain: p50 / p99" "$p50 / $p99 us" "p99 <= 100 us"

# checkpoint cost: the initial snapshot and per changed record
out=$("$build/bench/persist/bench_persist" --jobs "$n" --reps 1 --dir "$w" --no-reference 2>/dev/null)
init=$(grep "initial snapshot" <<<"$out" | awk '{print $5, $6}')
rec=$(grep "checkpoint .* new rows" <<<"$out" | tail -1 | awk '{print $(NF-1), $NF}')
printf '%-34s %-28s %s\n' "initial snapshot, $n jobs" "$init" "-"
printf '%-34s %-28s %s\n' "checkpoint, per changed job" "$rec" "workers never wait"

# resume: a run of N jobs killed with SIGKILL, resumed from the arena, then from volley.db
bash "$here/persist/resume_time.sh" "$v" "$n" | while read -r l; do
    printf '%-34s %-28s %s\n' "${l%%:*}" "${l##*: }" "-"
done

# reload: `volley resume --reload` of an N-job run, one job changed and all
bash "$here/suite/reload.sh" "$v" "$n" | while read -r l; do
    printf '%-34s %-28s %s\n' "${l%%:*}" "${l##*: }" "1M <= 3 s"
done

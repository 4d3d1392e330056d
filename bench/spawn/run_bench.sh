#!/usr/bin/env bash
# run_bench.sh BUILD_DIR [N] [REPS] [KS] - the engine against the spawn
# limit and GNU make, in the same run.
#
# For every repetition and every K in KS (default "1 2"), in this order:
#   spawn_probe  /bin/true, K in flight: vfork unpinned, vfork pinned to
#                CPU 0 (children too), async unpinned, async pinned with the
#                children's affinity reset. The limit at K is the best of
#                these (research: one CPU beats two here). Also the spawner-thread
#                placement (vfork from a thread, the main thread reaps).
#   engine       N `true` jobs, flat and 4 rounds behind barriers, with the
#                default placement and pinned to CPU 0; and a chain (the
#                exit-to-spawn latency; CHAIN_N jobs, default 10000).
#   make -jK     an equivalent generated Makefile: N phony targets whose
#                recipe is `true` (make execs it without a shell, as the
#                engine does), flat and in 4 rounds behind barrier targets.
# Each line goes to RESULTS (key=value); a summary with medians, bests and
# ratios follows. The machine is shared: before each measurement it waits
# (up to QUIET_WAIT s, default 60) for the CPUs to be at least 80% idle, and every line carries
# foreign_cpu_s (others' CPU time meanwhile).
set -euo pipefail
build=${1:?usage: run_bench.sh BUILD_DIR [N] [REPS] [KS]}
n=${2:-20000}
reps=${3:-3}
ks=${4:-"1 2"}
chain_n=${CHAIN_N:-10000} # the chain: issue #5 measures 10k jobs
quiet_wait=${QUIET_WAIT:-60} # seconds to wait for a quiet machine before each line
lean=${LEAN:-0} # 1: only the vfork probes (unpinned, pinned), the default engine placement,
                # one chain per repetition: ~13 lines of N spawns per repetition instead of 24
probe=$build/bench/spawn/spawn_probe
eng=$build/bench/spawn/engine_bench
[ -x "$probe" ] && [ -x "$eng" ] || { echo "run_bench.sh: build $build first" >&2; exit 2; }
work=$(mktemp -d /tmp/volley-spawnbench-XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
results=${RESULTS:-$work/results.txt}
: > "$results"

# Makefiles: flat, and 4 rounds behind barriers.
{
  printf 'all:'; for ((i = 0; i < n; i++)); do printf ' t%d' "$i"; done; printf '\n'
  printf '.PHONY: all'; for ((i = 0; i < n; i++)); do printf ' t%d' "$i"; done; printf '\n'
  for ((i = 0; i < n; i++)); do printf 't%d:\n\ttrue\n' "$i"; done
} > "$work/flat.mk"
per=$((n / 4))
{
  printf 'all: b3\n'
  for r in 0 1 2 3; do
    printf 'b%d:' "$r"; for ((i = 0; i < per; i++)); do printf ' r%d_%d' "$r" "$i"; done; printf '\n'
    for ((i = 0; i < per; i++)); do
      if [ "$r" -eq 0 ]; then printf 'r0_%d:\n\ttrue\n' "$i"
      else printf 'r%d_%d: b%d\n\ttrue\n' "$r" "$i" $((r - 1)); fi
    done
  done
  printf '.PHONY: all b0 b1 b2 b3'
  for r in 0 1 2 3; do for ((i = 0; i < per; i++)); do printf ' r%d_%d' "$r" "$i"; done; done
  printf '\n'
} > "$work/rounds.mk"

busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
wait_quiet() {
  local t0; t0=$(date +%s)
  while :; do
    read -r b0 a0 < <(busy); sleep 1; read -r b1 a1 < <(busy)
    local idle=$(( 100 - 100 * (b1 - b0) / (a1 - a0 + 1) ))
    [ "$idle" -ge 80 ] && return 0
    [ $(( $(date +%s) - t0 )) -ge "$quiet_wait" ] && { echo "(not quiet: ${idle}% idle)" >&2; return 0; }
  done
}

run_make() { # tag shape k
  local mk=$work/$2.mk t0 t1 b0 a0 b1 a1
  read -r b0 a0 < <(busy)
  t0=$(date +%s.%N)
  make -s -j"$3" -f "$mk" >/dev/null
  t1=$(date +%s.%N)
  read -r b1 a1 < <(busy)
  awk -v tag="$1" -v shape="$2" -v k="$3" -v n="$n" -v t0="$t0" -v t1="$t1" \
      -v cpu="$(( b1 - b0 ))" -v hz="$(getconf CLK_TCK)" \
      'BEGIN{w=t1-t0; printf "tag=%s engine=make shape=%s k=%s n=%s wall_s=%.3f rate=%.1f machine_cpu_s=%.2f\n", tag, shape, k, n, w, n/w, cpu/hz}'
}

for ((rep = 1; rep <= reps; rep++)); do
  first=1
  for k in $ks; do
    t="rep$rep"
    wait_quiet; "$probe" -m vfork -n "$n" -k "$k" -t "$t" | tee -a "$results"
    wait_quiet; "$probe" -m vfork -n "$n" -k "$k" -c 0 -t "$t" | tee -a "$results"
    if [ "$lean" = 0 ]; then
      wait_quiet; "$probe" -m async -n "$n" -k "$k" -t "$t" | tee -a "$results"
      wait_quiet; "$probe" -m async -n "$n" -k "$k" -c 0 -R -t "$t" | tee -a "$results"
      wait_quiet; "$probe" -m thread -n "$n" -k "$k" -t "$t" | tee -a "$results"
    fi
    wait_quiet; "$eng" -s flat -n "$n" -k "$k" -t "$t" | tee -a "$results"
    [ "$lean" = 0 ] && { wait_quiet; "$eng" -s flat -n "$n" -k "$k" -p 0 -t "$t" | tee -a "$results"; }
    wait_quiet; "$eng" -s rounds -n "$n" -k "$k" -t "$t" | tee -a "$results"
    [ "$lean" = 0 ] && { wait_quiet; "$eng" -s rounds -n "$n" -k "$k" -p 0 -t "$t" | tee -a "$results"; }
    wait_quiet; run_make "$t" flat "$k" | tee -a "$results"
    wait_quiet; run_make "$t" rounds "$k" | tee -a "$results"
    # a chain has one job in flight whatever K is: LEAN runs it once per repetition
    if [ "$lean" = 0 ] || [ "$first" = 1 ]; then
      wait_quiet; "$eng" -s chain -n "$chain_n" -k "$k" -t "$t" | tee -a "$results"
    fi
    first=0
  done
done

python3 "$(dirname "$0")/summarize.py" "$results"

#!/usr/bin/env bash
# report_bench.sh - what `volley report` costs on a big run (issue 19: a
# 1M-job run's report in <= 5 s and <= 10 MB, rendered in a browser in
# under 2 s). The run directory is written by report_fixture (through
# persist/'s API: a real run of 1M `true` jobs takes ~10 minutes here),
# as 4 rounds of N/4 jobs behind barrier jobs, at -j LANES, 1 job in 997
# failing, usage recorded.
#
#   bench/report/report_bench.sh [BUILD] [N] [LANES]     (default build 1000000 64)
#
# Prints: the fixture's time, the report's wall and CPU time and peak
# memory (/usr/bin/time, else bash's time), the page's size, and, with
# chromium installed, the page's own render time (performance.now() when
# its script ended: parse, JSON, drawing) and chromium's wall time.
set -eu
build=${1:-build}
n=${2:-1000000}
lanes=${3:-64}
volley=$(realpath "$build/volley")
fixture=$(realpath "$build/bench/report/report_fixture")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
q=$((n / 4))
cat > "$tmp/wf.yaml" << YAML
name: bench_report
resource_requirements:
  - {name: minimal, num_cpus: 1, memory: 100m, runtime: PT1M}
jobs:
  - name: "stage1_{i:07d}"
    command: "true"
    parameters: {i: "0:$((q - 1))"}
    resource_requirements: minimal
  - name: "gate{r}"
    command: "true"
    parameters: {r: "[2,3,4]", prev: "[1,2,3]"}
    parameter_mode: zip
    depends_on_regexes: ["^stage{prev}_\\\\d+\$"]
    cancel_on_blocking_job_failure: false
  - name: "stage{r}_{i:07d}"
    command: "true"
    parameters: {r: "2:4", i: "0:$((q - 1))"}
    depends_on: ["gate{r}"]
    resource_requirements: minimal
YAML
t0=$(date +%s.%N)
"$fixture" "$tmp/wf.yaml" "$tmp/run" --lanes "$lanes" --dur 0.001:0.004 --fail-every 997 \
  --class minimal:20m:90m:0.7
t1=$(date +%s.%N)
echo "fixture: $(echo "$t1 - $t0" | bc) s"
sync
for rep in 1 2 3; do
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "report: %e s wall, %U s user, %S s sys, %M KiB peak" \
      "$volley" report "$tmp/run" -o "$tmp/report.html" 2>&1 | grep -v '^volley:'
  else
    TIMEFORMAT="report: %R s wall, %U s user, %S s sys"
    time "$volley" report "$tmp/run" -o "$tmp/report.html" 2> /dev/null
  fi
done
echo "page: $(stat -c %s "$tmp/report.html") bytes"
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "browser: chromium is not installed (make deps): render time not measured"
  exit 0
fi
for rep in 1 2 3; do
  prof=$(mktemp -d -p "$tmp")
  c0=$(date +%s.%N)
  dom=$(timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$prof" --window-size=1300,2200 --dump-dom "file://$tmp/report.html" \
    2> /dev/null)
  c1=$(date +%s.%N)
  ms=$(grep -o '"render_ms":[0-9]*' <<< "$dom" | cut -d: -f2)
  errs=$(grep -o '"errors":\[[^]]*\]' <<< "$dom")
  echo "browser: page rendered in ${ms:-?} ms ($errs); chromium $(echo "$c1 - $c0" | bc) s in all"
done

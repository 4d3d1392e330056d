#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS - runs every libFuzzer target built in
# BUILD_DIR/tests/fuzz for SECONDS each, starting from its seed corpus
# tests/fuzz/corpus/<target>/ (new inputs go to a scratch copy, so the
# checked-in corpus only changes by hand). A crash fails the run and leaves
# the reproducer in BUILD_DIR/fuzz-artifacts/.
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS}
secs=${2:-10}
src=$(cd "$(dirname "$0")" && pwd)
shopt -s nullglob
targets=("$build"/tests/fuzz/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
  # Only true until the first parser lands; a target that fails to build
  # fails the cmake build before this script runs.
  echo "run.sh: NO FUZZ TARGETS exist yet in $build/tests/fuzz: nothing fuzzed" >&2
  exit 0
fi
mkdir -p "$build/fuzz-artifacts"
# undefined behaviour must stop the run and leave its reproducer
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
for t in "${targets[@]}"; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  work="$build/fuzz-work/$name"
  mkdir -p "$work"
  seeds="$src/corpus/$name"
  echo "== $name: ${secs}s"
  "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/fuzz-artifacts/$name-" "$work" ${seeds:+$( [ -d "$seeds" ] && echo "$seeds")} \
       2>&1 | tail -n 12
done

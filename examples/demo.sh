#!/usr/bin/env bash
# demo.sh VOLLEY - what `make demo` shows: validate, graph, and run the
# example workflow in a scratch directory (so demo-out/ lands there).
set -uo pipefail
volley=$(realpath "${1:-build/volley}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/volley-demo.XXXXXX")
cd "$work"
cp "$here/demo.yaml" .
step() { printf '\n$ %s\n' "$*"; "$@"; }
rc=0
step "$volley" --version || rc=1
step "$volley" validate demo.yaml || rc=1
step "$volley" graph demo.yaml --format dot || rc=1
printf '\n$ %s\n' "$volley run demo.yaml"
out=$("$volley" run demo.yaml 2>&1)
run_rc=$?
printf '%s\n' "$out"
[ $run_rc -eq 0 ] || rc=1
dir=$(sed -n 's/^volley: run directory \(.*\) ([0-9]* jobs)$/\1/p' <<<"$out")
if [ -n "$dir" ]; then
  step "$volley" status "$dir" || rc=1
  step "$volley" jobs "$dir" --name '^train_0.1' || rc=1
  step "$volley" logs "$dir" aggregate || rc=1
fi
if [ -f demo-out/summary.txt ]; then
  printf '\n$ cat demo-out/summary.txt\n'
  cat demo-out/summary.txt
fi
printf '\n(demo ran in %s)\n' "$work"
exit $rc

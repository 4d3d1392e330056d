#!/usr/bin/env bash
# run.sh - golden tests of volley's command line: for each
# cases/NAME.expect, runs `volley ARGS` (ARGS from cases/NAME.args, else
# "validate cases/NAME.yaml") in tests/cli/ and compares the exit code,
# stdout and stderr with the file, exactly. UPDATE=1 rewrites the .expect
# files from what volley prints now (then read the diff before committing).
set -u
bin=${VOLLEY_BIN:?VOLLEY_BIN must name the volley binary}
cd "$(dirname "$0")"
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for exp in cases/*.expect; do
  name=${exp%.expect}
  if [ -f "$name.args" ]; then
    read -r -a args < "$name.args"
  else
    args=(validate "$name.yaml")
  fi
  "$bin" "${args[@]}" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  { echo "exit $rc"; echo "--- stdout"; cat "$tmp/out"; echo "--- stderr"; cat "$tmp/err"; } > "$tmp/actual"
  if [ "${UPDATE:-0}" = 1 ]; then
    cp "$tmp/actual" "$exp"
  fi
  if diff -u "$exp" "$tmp/actual" > "$tmp/diff"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $name"
    cat "$tmp/diff"
  fi
done
echo "cli golden: $pass passed, $fail failed"
[ "$fail" = 0 ]

#!/usr/bin/env bash
# outputs.sh - volley validate --json and volley graph on the example
# workflows (torc-style: a sweep with files, 4 rounds of 25,000 jobs behind
# regex barriers, JSON input): the counts, and that the JSON parses and the
# dot and JSON graphs agree with validate.
set -euo pipefail
bin=${VOLLEY_BIN:?}
src=${VOLLEY_SRC:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
pass=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); else echo "FAIL: $1: expected $2, got $3"; fail=$((fail + 1)); fi
}
counts() { # the validate --json counts of a file, as one line
  "$bin" validate "$1" --json > "$tmp/v.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["valid"], d["jobs"], d["edges"], d["files"], d["input_files"], d["user_data"], d["resource_classes"], len(d["warnings"]), len(d["errors"]))' "$tmp/v.json"
}
graph_counts() { # jobs and edges from graph --format json, and edges from dot
  "$bin" graph "$1" --format json > "$tmp/g.json"
  "$bin" graph "$1" --format dot > "$tmp/g.dot"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["jobs"]), len(d["edges"]), len({tuple(e) for e in d["edges"]}))' "$tmp/g.json"
  grep -c -- ' -> ' "$tmp/g.dot" || true
}
check demo "True 14 24 14 0 0 1 0 0" "$(counts "$src/examples/demo.yaml")"
check sweep_files "True 14 18 15 1 0 2 0 0" "$(counts "$src/examples/sweep_files.yaml")"
check rounds "True 100003 150000 0 0 0 1 0 0" "$(counts "$src/examples/rounds.yaml")"
check pipeline.json "True 5 4 0 0 1 0 0 0" "$(counts "$src/examples/pipeline.json")"
check rounds_graph "$(printf '100003 150000 150000\n150000')" "$(graph_counts "$src/examples/rounds.yaml")"
check demo_graph "$(printf '14 24 24\n24')" "$(graph_counts "$src/examples/demo.yaml")"
# an invalid file: exit 2, one JSON object on stdout, nothing on stderr
set +e
"$bin" validate "$src/tests/cli/cases/cycle.yaml" --json > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
check invalid_exit 2 "$rc"
check invalid_stderr 0 "$(wc -c < "$tmp/err")"
check invalid_json "False 1 dependency cycle: prepare -> train -> prepare" \
  "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); e=d["errors"]; print(d["valid"], len(e), e[0]["message"])' "$tmp/out")"
# graph of an invalid file: nothing on stdout, the errors on stderr, exit 2
set +e
"$bin" graph "$src/tests/cli/cases/cycle.yaml" > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
check graph_invalid_exit 2 "$rc"
check graph_invalid_stdout 0 "$(wc -c < "$tmp/out")"
check graph_invalid_stderr 1 "$(grep -c 'error: dependency cycle' "$tmp/err")"
# a summary that cannot be written: exit 3 with the cause (validate said
# nothing and exited 0, or 2 with --json as if the workflow were bad)
set +e
for a in "" --json; do
  "$bin" validate "$src/examples/demo.yaml" $a > /dev/full 2> "$tmp/err"
  rc=$?
  check "validate${a}_full_exit" 3 "$rc"
  check "validate${a}_full_msg" "volley: cannot write to stdout: No space left on device" "$(cat "$tmp/err")"
done
set -e
echo "cli outputs: $pass passed, $fail failed"
[ "$fail" = 0 ]

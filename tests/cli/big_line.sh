#!/usr/bin/env bash
# big_line.sh - a 100 MB single-line workflow (generated here, never
# committed): volley must not crash, must report the mistake at the right
# column, and must show a short excerpt of the line, not 100 MB of it.
set -euo pipefail
bin=${VOLLEY_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {
  if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: expected '$2', got '$3'"; fail=1; fi
}
n=100000000
# JSON on one line: a 100 MB description, then an unknown key
python3 - "$tmp/big.json" "$n" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write('{"name": "big", "description": "')
    f.write("x" * n)
    f.write('", "jobs": [{"name": "a", "command": "echo"}], "bogus": 1}')
PY
set +e
"$bin" validate "$tmp/big.json" > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
check exit 2 "$rc"
# 32 characters, the x's, 47 more, then the key's opening quote: the
# column is that of its first character, b
col=$((32 + n + 47 + 2))
check message "$tmp/big.json:1:$col: error: unknown key 'bogus' in the workflow" "$(sed -n 1p "$tmp/err")"
check excerpt_is_short 1 "$(sed -n 2p "$tmp/err" | awk '{ print (length($0) < 200) }')"
check excerpt_has_key 1 "$(sed -n 2p "$tmp/err" | grep -c '"bogus"')"
# the caret sits under the key's first character
caret=$(sed -n 3p "$tmp/err" | awk '{ print index($0, "^") }')
key=$(sed -n 2p "$tmp/err" | awk '{ print index($0, "bogus") }')
check caret_under_key "$key" "$caret"

# one 100 MB line that is a plain scalar: not a workflow
python3 -c 'import sys; open(sys.argv[1], "w").write("x" * int(sys.argv[2]))' "$tmp/scalar.yaml" "$n"
set +e
"$bin" validate "$tmp/scalar.yaml" > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
check scalar_exit 2 "$rc"
check scalar_message "$tmp/scalar.yaml:1:1: error: the workflow must be a mapping (key: value), not a scalar" "$(sed -n 1p "$tmp/err")"
check scalar_excerpt_short 1 "$(sed -n 2p "$tmp/err" | awk '{ print (length($0) < 200) }')"

# the same 100 MB line as JSON5 (json5.c, not libyaml): the same column
cp "$tmp/big.json" "$tmp/big.json5"
set +e
"$bin" validate "$tmp/big.json5" > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
check json5_exit 2 "$rc"
check json5_message "$tmp/big.json5:1:$col: error: unknown key 'bogus' in the workflow" "$(sed -n 1p "$tmp/err")"
check json5_excerpt_is_short 1 "$(sed -n 2p "$tmp/err" | awk '{ print (length($0) < 200) }')"

# a command longer than the kernel takes in one argument: refused when the
# file is loaded (it used to fail at run time with "errno 7", E2BIG)
limit=$((32 * $(getconf PAGESIZE)))
python3 - "$tmp/long.yaml" "$limit" <<'PY'
import sys
path, limit = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("name: long\njobs:\n  - name: a\n    command: \"echo " + "x" * limit + "\"\n")
PY
set +e
"$bin" validate "$tmp/long.yaml" > "$tmp/out" 2> "$tmp/err"
rc=$?
set -e
check long_exit 2 "$rc"
check long_message "$tmp/long.yaml:4:15: error: the command of 'a' is $((limit + 5)) bytes: more than the kernel takes in one argument (MAX_ARG_STRLEN, $limit bytes with its NUL), and volley runs it as sh -c COMMAND; put it in a script" "$(sed -n 1p "$tmp/err")"
[ "$fail" = 0 ] && echo "big line: all passed"
[ "$fail" = 0 ]

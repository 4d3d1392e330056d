#!/usr/bin/env bash
# test_bench_cli.sh - `volley bench`: every bad argument is one clear line
# and exit 2 (before anything is allocated); --json is exactly the issue's
# document with verified computed. Process mode: test_bench_process.sh.
set -uo pipefail
volley=${VOLLEY_BIN:?}
fail=0
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# expect CODE STDERR-LINE ARGS...: exit code and first stderr line
expect() {
  local code=$1 line=$2
  shift 2
  "$volley" bench "$@" >"$out" 2>"$err"
  local rc=$? first
  first=$(head -n 1 "$err")
  if [ "$rc" != "$code" ] || [ "$first" != "$line" ]; then
    echo "FAIL: volley bench $*"
    echo "  exit $rc (want $code), first stderr line:"
    echo "  got:  $first"
    echo "  want: $line"
    fail=1
  fi
}

expect 2 "volley bench: unknown shape 'nope' (shapes: flat, barrier, chain, tree, random)" --shape nope
expect 2 "volley bench: unknown mode 'exec' (modes: noexec, process)" --mode exec
expect 2 "volley bench: --jobs must be between 1 and 4294967294, not '0'" --jobs 0
expect 2 "volley bench: --jobs needs a whole number, not '-5'" --jobs -5
expect 2 "volley bench: --jobs must be between 1 and 4294967294, not '4294967295'" --jobs 4294967295
expect 2 "volley bench: --workers must be between 1 and 1024, not '0'" --workers 0
expect 2 "volley bench: --workers needs a whole number, not 'two'" --workers two
expect 2 "volley bench: the barrier shape needs at least 7 jobs, not 5" --shape barrier --jobs 5
expect 2 "volley bench: unknown option '--bogus'" --bogus
expect 2 "volley bench: --jobs needs a value" --jobs
expect 2 "volley bench: unexpected argument 'extra'" extra
expect 2 "volley bench: unknown shape 'nope' (shapes: flat, barrier, chain, tree, random)" --shape flat,nope
expect 2 "volley bench: unknown mode 'noexec,exec' (modes: noexec, process)" --mode noexec,exec
expect 2 "volley bench: --jobs must be between 1 and 4294967294, not '0'" --jobs 100,0
expect 2 "volley bench: --workers must be between 1 and 1024, not '0'" --mode process --workers 1,0
expect 2 "volley bench: --reps must be between 1 and 99, not '0'" --reps 0
expect 2 "volley bench: --plot /nonexistent-dir/x.png: the directory /nonexistent-dir does not exist" --plot /nonexistent-dir/x.png
expect 2 "volley bench: --csv /nonexistent-dir/x.csv: the directory /nonexistent-dir does not exist" --csv /nonexistent-dir/x.csv
expect 2 "volley bench: the barrier shape needs at least 7 jobs, not 6" --mode process --shape barrier --jobs 6
expect 2 "volley bench: --quick and --full are two presets: choose one" --quick --full

# a count that cannot fit: refused up front, exit 2, nothing allocated
"$volley" bench --jobs 4000000000 >"$out" 2>"$err"
rc=$?
if [ $rc != 2 ] || ! grep -Eq "^volley bench: --jobs 4000000000 needs (a .* arena but /dev/shm has .* free|.* of memory \(arena .*\) but .* is available)$" "$err"; then
  echo "FAIL: --jobs 4000000000: exit $rc"; cat "$err"; fail=1
fi
if ls /dev/shm | grep -q volley-bench; then
  echo "FAIL: a segment was left in /dev/shm"; fail=1
fi

# JSON: exactly the keys of the issue, verified computed
"$volley" bench --shape random --jobs 20000 --workers 2 --json >"$out" 2>"$err"
rc=$?
if [ $rc != 0 ]; then echo "FAIL: json run exit $rc"; cat "$err"; fail=1; fi
python3 - "$out" <<'EOF' || fail=1
import json, sys
doc = json.load(open(sys.argv[1]))
assert list(doc) == ["results"], doc
(r,) = doc["results"]
assert list(r) == ["runner", "shape", "mode", "jobs", "workers", "wall_s",
                   "completions_per_s", "bytes_per_job", "verified"], list(r)
assert r["runner"] == "volley" and r["shape"] == "random" and r["mode"] == "noexec", r
assert r["jobs"] == 20000 and r["workers"] == 2, r
assert r["verified"] is True, r
assert r["wall_s"] > 0 and r["completions_per_s"] > 0, r
assert abs(r["completions_per_s"] * r["wall_s"] - 20000) < 1, r
assert 50 < r["bytes_per_job"] < 200, r
EOF

# --quick: every shape, one row each
"$volley" bench --quick --mode noexec --jobs 3000 --workers 2 --json >"$out" 2>"$err" || { echo "FAIL: --quick"; cat "$err"; fail=1; }
python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
assert [r["shape"] for r in rows] == ["flat", "barrier", "chain", "tree", "random"], rows
assert all(r["verified"] and r["jobs"] == 3000 for r in rows), rows
' "$out" || fail=1

# --quick's noexec axes: every shape on 2, 16, 64 and 256 workers; the
# random shape's rows carry the order check
"$volley" bench --quick --mode noexec --jobs 3000 --json >"$out" 2>"$err" || { echo "FAIL: --quick workers"; cat "$err"; fail=1; }
python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))["results"]
assert [(r["shape"], r["workers"]) for r in rows] == [
    (s, w) for s in ["flat", "barrier", "chain", "tree", "random"] for w in [2, 16, 64, 256]], rows
assert all(r["verified"] for r in rows), rows
assert all(("order_displacement" in r) == (r["shape"] == "random") for r in rows), rows
' "$out" || fail=1

# --order: the displacement, in JSON and on the terminal
"$volley" bench --shape random --jobs 20000 --workers 2 --order --json >"$out" 2>"$err" || { echo "FAIL: --order"; cat "$err"; fail=1; }
python3 -c '
import json, sys
(r,) = json.load(open(sys.argv[1]))["results"]
o = r["order_displacement"]
assert list(o) == ["mean", "p50", "p99", "max"], o
assert 0 <= o["p50"] <= o["p99"] <= o["max"] < 20000 and 0 <= o["mean"] <= o["max"], o
' "$out" || fail=1
"$volley" bench --shape chain --jobs 5000 --workers 2 --order >"$out" 2>"$err"
if ! grep -Eq "^  order: rank displacement from first-ready-first-run mean 0.0, median 0, p99 0, max 0 jobs \(of 5000; 0.0000 %\)$" "$out"; then
  echo "FAIL: --order human output (a chain has one order)"; cat "$out" "$err"; fail=1
fi

# human output
"$volley" bench --shape tree --jobs 5000 --workers 1 >"$out" 2>"$err"
if ! grep -Eq "^volley tree noexec: 5000 jobs, 1 worker: [0-9.]+ M completions/s \([0-9.]+ s\), verified$" "$out"; then
  echo "FAIL: human output"; cat "$out" "$err"; fail=1
fi
if ! grep -Eq "^  worker CPU [0-9.]+ ns/job; arena .*: [0-9.]+ B/job \(hot [0-9.]+ B/job\)" "$out"; then
  echo "FAIL: human output, second line"; cat "$out"; fail=1
fi

[ $fail = 0 ] && echo "test_bench_cli: all passed"
exit $fail

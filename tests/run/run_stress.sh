#!/bin/bash
# run_stress.sh - many worker processes on a random DAG: every job checks
# that all its parents finished before it started (their marker files
# exist) and leaves its own; each must run exactly once, in order.
. "$(dirname "$0")/lib.sh"
cd "$T"
python3 - "$TOKEN" > dag.yaml <<'PY'
import random, sys
tok = sys.argv[1]
random.seed(7)
n = 400
print("name: dag\njobs:")
for i in range(n):
    ps = sorted(random.sample(range(i), min(i, random.randint(0, 4)))) if i else []
    chk = "".join(f"test -e m/{p} || exit 9; " for p in ps)
    cmd = f"{chk}test ! -e m/{i} || exit 8; touch m/{i}; : {tok}"
    dep = f", depends_on: [{', '.join(f'j{p}' for p in ps)}]" if ps else ""
    print(f"  - {{name: j{i}, command: '{cmd}'{dep}}}")
PY
mkdir m
for round in 1 2; do
    rm -rf m/* "r$round"
    "$VOLLEY" run dag.yaml --run-dir "r$round" --workers 6 -j 12 2> "run$round.err"; rc=$?
    check "round $round: exit 0 (got $rc)" [ "$rc" = 0 ]
    check "round $round: 400 jobs completed once" \
        [ "$(sqlite3 -readonly "r$round/volley.db" "select count(*) from jobs where state='completed' and attempt=1")" = 400 ]
    check "round $round: 400 markers" [ "$(ls m | wc -l)" = 400 ]
done
finish

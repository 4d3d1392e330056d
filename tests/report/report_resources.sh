#!/usr/bin/env bash
# report_resources.sh - `volley report DIR --resources [--json]` on a run
# made to be over, under and ok (bench/report/report_fixture writes it
# through persist/'s API with known usage): the verdict of every class,
# its peaks (max, p95 by nearest rank), CPU efficiency and suggested
# memory, exactly as docs/report.md's rules give them; the table; a run
# without usage ("no usage recorded", nulls, never zeros); a real run's
# usage; bad usage.
set -u
bin=${VOLLEY_BIN:?VOLLEY_BIN must name the volley binary}
fixture=${REPORT_FIXTURE:?REPORT_FIXTURE must name bench/report/report_fixture}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    pass=$((pass + 1))
  else
    printf 'FAIL: %s:\n  expected [%s]\n  got      [%s]\n' "$1" "$2" "$3"
    fail=$((fail + 1))
  fi
}
cd "$tmp"
cat > wf.yaml << 'YAML'
name: sizing
resource_requirements:
  - {name: over_mem, num_cpus: 1, memory: 100m}
  - {name: oom, num_cpus: 1, memory: 200m}
  - {name: under, num_cpus: 2, memory: 1g}
  - {name: fine, num_cpus: 1, memory: 200m}
  - {name: slow, num_cpus: 1, memory: 1g, runtime: PT1S}
  - {name: idle, num_cpus: 1, memory: 1g}
jobs:
  - {name: "a_{i}", command: "true", parameters: {i: "1:10"}, resource_requirements: over_mem}
  - {name: "b_{i}", command: "true", parameters: {i: "1:10"}, resource_requirements: oom}
  - {name: "c_{i}", command: "true", parameters: {i: "1:20"}, resource_requirements: under}
  - {name: "d_{i}", command: "true", parameters: {i: "1:10"}, resource_requirements: fine}
  - {name: "e_{i}", command: "true", parameters: {i: "1:5"}, resource_requirements: slow}
  - {name: "f_{i}", command: "true", parameters: {i: "1:3"}}
YAML
"$fixture" wf.yaml run --lanes 4 --dur 0.1:0.5 --class over_mem:50m:95m:0.5 \
  --class oom:100m:150m:0.9:1 --class under:100m:300m:0.25 --class fine:120m:150m:1.0 \
  --class slow:10m:20m:0.5:0:1 > /dev/null
check fixture_exit 0 "$?"

"$bin" report run --resources --json > res.json
check json_exit 0 "$?"
# the expectation, from the rules (docs/report.md) and the fixture's usage:
# job k of n in a class peaks at lo + int((hi - lo) * k / (n - 1))
python3 - res.json << 'PY' > verdicts.txt
import json, math, sys
MIB = 1 << 20
d = json.load(open(sys.argv[1]))
classes = d["classes"]
assert list(d) == ["classes"], list(d)
keys = ["name", "jobs", "memory_bytes", "max_rss_bytes_max", "max_rss_bytes_p95", "num_cpus",
        "cpu_efficiency", "verdict", "suggested_memory_bytes"]
bad = [c["name"] for c in classes if list(c) != keys]
print("keys", "ok" if not bad else bad)

def peaks(lo, hi, n):
    return sorted(lo * MIB + int(float((hi - lo) * MIB) * k / (n - 1)) for k in range(n))

def up(v):  # up to a whole MiB
    return math.ceil(v / MIB) * MIB

want = {}
for name, n, mem, cpus, lo, hi, frac in [("over_mem", 10, 100, 1, 50, 95, 0.5),
                                         ("oom", 10, 200, 1, 100, 150, 0.9),
                                         ("under", 20, 1024, 2, 100, 300, 0.25),
                                         ("fine", 10, 200, 1, 120, 150, 1.0),
                                         ("slow", 5, 1024, 1, 10, 20, 0.5)]:
    p = peaks(lo, hi, n)
    want[name] = dict(jobs=n, memory_bytes=mem * MIB, max=p[-1], p95=p[math.ceil(0.95 * n) - 1],
                      num_cpus=cpus, eff=frac, sugg=up(p[-1] * 1.2))
want["over_mem"]["verdict"] = "over"             # 95 of 100 MiB: within 10%
want["oom"]["verdict"] = "over"                  # one OOM-killed
want["oom"]["sugg"] = 2 * 200 * MIB              # twice the request after a kill
want["under"]["verdict"] = "under"               # p95 ~290 MiB of 1 GiB
want["fine"]["verdict"] = "ok"                   # p95 ~148 of 200 MiB
want["fine"]["sugg"] = 200 * MIB                 # keep the request
want["slow"]["verdict"] = "over"                 # one terminated at PT1S
for c in classes:
    w = want.get(c["name"])
    if w is None:
        continue
    got = (c["jobs"], c["memory_bytes"], c["max_rss_bytes_max"], c["max_rss_bytes_p95"],
           c["num_cpus"], c["verdict"], c["suggested_memory_bytes"])
    exp = (w["jobs"], w["memory_bytes"], w["max"], w["p95"], w["num_cpus"], w["verdict"],
           w["sugg"])
    eff = abs(c["cpu_efficiency"] - w["eff"]) < 1e-6  # ns-truncated runtimes
    print(c["name"], "ok" if got == exp and eff else "got %s want %s eff %s" % (got, exp,
                                                                              c["cpu_efficiency"]))
none = [c for c in classes if c["name"] == "(none)"]
print("(none)", "ok" if none and none[0] == {"name": "(none)", "jobs": 3, "memory_bytes": None,
      "max_rss_bytes_max": None, "max_rss_bytes_p95": None, "num_cpus": None,
      "cpu_efficiency": None, "verdict": "unknown", "suggested_memory_bytes": None} else none)
print("order", " ".join(c["name"] for c in classes))
PY
check verdicts "keys ok
over_mem ok
oom ok
under ok
fine ok
slow ok
(none) ok
order over_mem oom under fine slow (none)" "$(cat verdicts.txt)"

# the table and the advice
"$bin" report run --resources > res.txt
check table_exit 0 "$?"
check table_header "class                jobs    memory  CPUs    peak p95    peak max  CPU use   longest  verdict" "$(head -1 res.txt)"
check table_under 1 "$(grep -c '^under  *20  *1.0 GiB  *2  *289.5 MiB  *300.0 MiB  *25% .* under$' res.txt)"
check advice_under "under: under (p95 peak 289.5 MiB of 1.0 GiB requested): memory: 360m" "$(grep '^under:' res.txt)"
check advice_oom "oom: over (1 OOM-killed): memory: 400m" "$(grep '^oom:' res.txt)"
check advice_over "over_mem: over (2 within 10% of the memory): memory: 114m" "$(grep '^over_mem:' res.txt)"
check advice_slow "slow: over (1 past the runtime): memory: 24m runtime: PT1M" "$(grep '^slow:' res.txt)"
check no_fine_advice 0 "$(grep -c '^fine:' res.txt)"
check usage_said 0 "$(grep -c 'no usage recorded' res.txt)"

# a run without usage (the fixture gives none to a class it is not told
# of, as a volley.db before governance): nulls and a sentence, never 0
cat > real.yaml << 'YAML'
name: real
resource_requirements:
  - {name: small, num_cpus: 1, memory: 50m}
jobs:
  - {name: "r_{i}", command: "true", parameters: {i: "1:3"}, resource_requirements: small}
YAML
"$fixture" real.yaml bare > /dev/null
check bare_fixture 0 "$?"
"$bin" report bare --resources --json > bare.json
check bare_json '[{"name": "small", "jobs": 3, "memory_bytes": 52428800, "max_rss_bytes_max": null, "max_rss_bytes_p95": null, "num_cpus": 1, "cpu_efficiency": null, "verdict": "unknown", "suggested_memory_bytes": null}]' \
  "$(python3 -c 'import json,sys; print(json.dumps(json.load(open("bare.json"))["classes"]))')"
check bare_text 1 "$("$bin" report bare --resources | grep -c '^no usage recorded in this run')"

# a real run records each job's usage (docs/limits.md): a peak above 0, a
# verdict, no sentence
"$bin" run real.yaml --run-dir real --quiet 2> /dev/null
check real_run 0 "$?"
"$bin" report real --resources --json > real.json
check real_json 'peak>0 verdict' \
  "$(python3 -c 'import json; c = json.load(open("real.json"))["classes"][0]
print("peak>0" if isinstance(c["max_rss_bytes_max"], int) and c["max_rss_bytes_max"] > 0 else c,
      "verdict" if c["verdict"] in ("over", "under", "ok") else c["verdict"])')"
check real_text 0 "$("$bin" report real --resources | grep -c '^no usage recorded in this run')"

# usage errors and damage
"$bin" report run --json > out 2> err
check json_alone_exit 2 "$?"
check json_alone_msg "volley report: --json goes with --resources (the page is HTML)" "$(head -1 err)"
"$bin" report run --resources -o x.html > out 2> err
check resources_o_exit 2 "$?"
"$bin" report "$tmp/nope" --resources > out 2> err
check notrun_exit 3 "$?"
sqlite3 run/volley.db "update job set max_rss_bytes = -5 where jid = 0"
"$bin" report run --resources > out 2> err
check damaged_exit 3 "$?"
check damaged_msg 1 "$(grep -c "recorded usage is out of range" err)"
echo "$(basename "$0"): $pass passed, $fail failed"
[ "$fail" = 0 ]

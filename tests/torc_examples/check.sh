#!/usr/bin/env bash
# check.sh - workflows in torc's format, written for volley (yaml/ and
# json/, see README.md), validate with the job, edge and warning counts
# written at the top of each YAML file (counted by hand from the files);
# each JSON/JSON5 file reads exactly like its YAML twin (the same counts,
# and the same graph: jobs, commands, edges); variables are substituted.
#
# With TORC_EXAMPLES set to a directory holding torc's own examples (a
# checkout's examples/, with json/ and yaml/ in it), it also validates every
# .yaml, .yml, .json and .json5 file there and compares the twins by name;
# without it, that part is skipped (it is never committed: README.md).
set -euo pipefail
bin=${VOLLEY_BIN:?}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
counts() { # "valid jobs edges warnings errors" of validate --json
  "$bin" validate "$1" --json > "$tmp/v.json" 2> /dev/null || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["valid"], d["jobs"], d["edges"], len(d["warnings"]), len(d["errors"]))' "$tmp/v.json"
}
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); else echo "FAIL: $1: expected '$2', got '$3'"; fail=$((fail + 1)); fi
}
same_graph() { # NAME A B: the two files give the same graph
  "$bin" graph "$2" --format json > "$tmp/a.json" 2> /dev/null || true
  "$bin" graph "$3" --format json > "$tmp/b.json" 2> /dev/null || true
  check "$1 graph" "$(cat "$tmp/a.json")" "$(cat "$tmp/b.json")"
}

# ours: every file valid, with its counts
while read -r file jobs edges warnings; do
  check "$file" "True $jobs $edges $warnings 0" "$(counts "$here/$file")"
done <<'LIST'
yaml/grid_search.yaml 20 27 0
json/grid_search.json5 20 27 0
yaml/zip_scenarios.yaml 6 8 0
json/zip_scenarios.json5 6 8 0
yaml/retry_on_timeout.yaml 7 6 0
json/retry_on_timeout.json 7 6 0
yaml/staged_with_actions.yaml 7 9 5
json/staged_with_actions.json5 7 9 5
yaml/env_and_outputs.yaml 6 7 0
json/env_and_outputs.json5 6 7 0
yaml/monitored_pipeline.yaml 5 4 3
json/monitored_pipeline.json5 5 4 3
LIST
# twins: every YAML file has its JSON or JSON5 form, which reads the same
for y in "$here"/yaml/*.yaml; do
  base=$(basename "$y" .yaml)
  j="$here/json/$base.json5"
  [ -f "$j" ] || j="$here/json/$base.json"
  check "twin $base exists" 1 "$([ -f "$j" ] && echo 1 || echo 0)"
  [ -f "$j" ] || continue
  check "twin $base" "$(counts "$y")" "$(counts "$j")"
  same_graph "twin $base" "$y" "$j"
done
# variables: substituted in the workflow's name and the commands
"$bin" graph "$here/json/env_and_outputs.json5" --format json > "$tmp/g.json"
check "variables substituted" "atlas_env_and_outputs 6" \
  "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["name"], sum("tool-3.1 " in j["command"] for j in d["jobs"]))' "$tmp/g.json")"
echo "volley's torc-format workflows: $pass passed, $fail failed"

# torc's own examples, when a checkout is given
if [ -n "${TORC_EXAMPLES:-}" ]; then
  if [ ! -d "$TORC_EXAMPLES" ]; then
    echo "FAIL: TORC_EXAMPLES=$TORC_EXAMPLES is not a directory"
    exit 1
  fi
  # torc keeps these apart (its YAML forms have more jobs): counted, not compared
  not_twins=" ${TORC_NOT_TWINS-workflow_actions_simple_slurm zip_parameter_mode} "
  ok=0 bad=0 refused=0 yaml=0 json=0
  for f in "$TORC_EXAMPLES"/yaml/*.y*ml "$TORC_EXAMPLES"/json/*.json "$TORC_EXAMPLES"/json/*.json5; do
    [ -f "$f" ] || continue
    case $f in */yaml/*) yaml=$((yaml + 1)) ;; *) json=$((json + 1)) ;; esac
    c=$(counts "$f")
    if [ "${c%% *}" = True ]; then
      ok=$((ok + 1))
    elif python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["errors"]; sys.exit(0 if e and all(" is not supported: " in x["message"] for x in e) else 1)' "$tmp/v.json"; then
      refused=$((refused + 1)) # a key volley refuses on purpose (datasets, parameter tables)
      echo "torc example refused as documented: ${f#"$TORC_EXAMPLES"/}"
    else
      bad=$((bad + 1))
      echo "FAIL: torc example ${f#"$TORC_EXAMPLES"/}: $c"
      python3 -c 'import json,sys; [print("  ", x["line"], x["message"]) for x in json.load(open(sys.argv[1]))["errors"][:5]]' "$tmp/v.json"
    fi
  done
  twins=0
  for y in "$TORC_EXAMPLES"/yaml/*.yaml; do
    base=$(basename "$y" .yaml)
    j="$TORC_EXAMPLES/json/$base.json5"
    [ -f "$j" ] || j="$TORC_EXAMPLES/json/$base.json"
    [ -f "$j" ] && [[ $not_twins != *" $base "* ]] || continue
    twins=$((twins + 1))
    cy=$(counts "$y")
    cj=$(counts "$j")
    if [ "${cy% *}" = "${cj% *}" ]; then ok_twin=1; else ok_twin=0; fi
    check "torc twin $base" 1 "$ok_twin"
    [ "$ok_twin" = 1 ] || echo "  yaml: $cy; json: $cj"
  done
  echo "torc's examples in $TORC_EXAMPLES: $yaml YAML and $json JSON/JSON5 files:" \
       "$ok valid, $refused refused as documented, $bad failed; $twins twins compared"
  [ "$bad" = 0 ] || fail=$((fail + bad))
else
  echo "torc's own examples: skipped (set TORC_EXAMPLES to a checkout's examples/ to check them)"
fi
[ "$fail" = 0 ]

#!/usr/bin/env bash
# check.sh - torc's own example workflows (copied in json/ and yaml/, see
# README.md) validate with volley, with the job and dependency counts
# written below (counted by hand from the files), and each JSON/JSON5 file
# gives the same counts as its YAML twin where torc keeps them twins.
set -euo pipefail
bin=${VOLLEY_BIN:?}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
counts() { # "valid jobs edges errors" of validate --json
  "$bin" validate "$1" --json > "$tmp/v.json" || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["valid"], d["jobs"], d["edges"], len(d["errors"]))' "$tmp/v.json"
}
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); else echo "FAIL: $1: expected '$2', got '$3'"; fail=$((fail + 1)); fi
}
# every file: valid, and its counts
while read -r file jobs edges; do
  check "$file" "True $jobs $edges 0" "$(counts "$here/$file")"
done <<'LIST'
json/data_pipeline_parameterized.json5 36 40
json/failure_handler_simulation.json 18 9
json/hyperparameter_sweep.json5 38 54
json/hyperparameter_sweep_shared_params.json5 38 54
json/sample_workflow.json5 3 2
json/simulation_sweep.json5 49 48
json/slurm_staged_pipeline.json5 12 20
json/variables_demo.json 6 8
json/variables_demo.json5 6 8
json/workflow_actions_data_pipeline.json5 14 13
json/workflow_actions_ml_training.json5 10 16
json/workflow_actions_simple_slurm.json5 3 2
json/zip_parameter_mode.json5 6 3
yaml/data_pipeline_parameterized.yaml 36 40
yaml/direct_mode_checkpointing.yaml 5 6
yaml/failure_handler_simulation.yaml 18 9
yaml/fan_in_with_regexes.yaml 30 52
yaml/hyperparameter_sweep.yaml 38 54
yaml/hyperparameter_sweep_shared_params.yaml 38 54
yaml/resource_monitoring_demo.yaml 3 0
yaml/simulation_sweep.yaml 49 48
yaml/variables_demo.yaml 6 8
yaml/workflow_actions_data_pipeline.yaml 14 13
yaml/workflow_actions_ml_training.yaml 10 16
yaml/workflow_actions_simple_slurm.yaml 5 6
yaml/zip_parameter_mode.yaml 8 9
LIST
# twins: the JSON form and the YAML form of one workflow. torc's
# workflow_actions_simple_slurm and zip_parameter_mode are not twins in
# torc itself (the YAML files have more jobs), so they are not compared.
for base in data_pipeline_parameterized failure_handler_simulation hyperparameter_sweep \
            hyperparameter_sweep_shared_params simulation_sweep variables_demo \
            workflow_actions_data_pipeline workflow_actions_ml_training; do
  j="$here/json/$base.json5"
  [ -f "$j" ] || j="$here/json/$base.json"
  check "twin $base" "$(counts "$here/yaml/$base.yaml")" "$(counts "$j")"
done
# the two forms of variables_demo give the same jobs, commands and edges
"$bin" graph "$here/json/variables_demo.json5" --format json > "$tmp/a.json" 2> /dev/null
"$bin" graph "$here/yaml/variables_demo.yaml" --format json > "$tmp/b.json" 2> /dev/null
check "variables_demo graph" "$(cat "$tmp/b.json")" "$(cat "$tmp/a.json")"
check "variables_demo substituted" 1 "$(grep -c 'python prepare.py --in /scratch/proj42/raw --out /scratch/proj42/clean' "$tmp/a.json")"
echo "torc examples: $pass passed, $fail failed"
[ "$fail" = 0 ]

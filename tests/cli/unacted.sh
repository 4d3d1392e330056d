#!/usr/bin/env bash
# unacted.sh - `volley run` of a workflow that uses every torc key the
# engine acts on (env, stdio, actions, every execution_config setting:
# oom_exit_code and limit_resources since the jobs' cgroups, issue 18)
# gets no "not acted on" line and runs its jobs. run_limits.sh checks
# what oom_exit_code and limit_resources do.
set -euo pipefail
bin=${VOLLEY_BIN:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
check() {
  if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: expected '$2', got '$3'"; fail=1; fi
}
cat > uses.yaml <<'Y'
name: uses
env: {A: "1"}
execution_config:
  stdio: {mode: none, delete_on_success: true}
  termination_signal: SIGINT
  sigterm_lead_seconds: 5
  limit_resources: false
  oom_exit_code: 137
  timeout_exit_code: 124
jobs:
  - {name: a, command: "true"}
actions:
  - {trigger_type: on_workflow_start, action_type: run_commands, commands: ["true"]}
Y
printf 'name: plain\njobs:\n  - {name: a, command: "true"}\n' > plain.yaml
rc=0
"$bin" run uses.yaml --run-dir r1 --quiet > out 2> err || rc=$?
check exit 0 "$rc"
check lines 0 "$(grep -c "is read but not acted on" err || true)"
for k in execution_config.oom_exit_code execution_config.limit_resources env stdio stdio.delete_on_success actions execution_config.termination_signal \
         execution_config.sigterm_lead_seconds execution_config.timeout_exit_code; do
  check "$k acted on" 0 "$(grep -c "'$k' is read but not acted on" err || true)"
done
rc=0
"$bin" run plain.yaml --run-dir r2 --quiet > out 2> err || rc=$?
check plain_exit 0 "$rc"
check plain_lines 0 "$(grep -c 'not acted on yet' err || true)"
exit $fail

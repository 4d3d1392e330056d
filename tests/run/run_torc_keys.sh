#!/bin/bash
# run_torc_keys.sh - a workflow with torc's keys (issue 21) runs with the
# documented effect of each: variables, env (job over workflow over the
# inherited environment, under VOLLEY_*, with the TORC_* aliases, also in
# the recovery script), every stdio mode and delete_on_success (what
# `volley logs` prints, and its fixed messages), execution_config
# (termination_signal, sigterm_lead_seconds, timeout_exit_code), actions
# (each trigger, once, in order; their logs); and resume keeps all of it:
# after a kill -9 of the runner, the jobs run after the resume get their
# env and stdio, actions that ran do not run again, an action cut short
# runs again, and --retry-failed re-arms on_workflow_complete.
. "$(dirname "$0")/lib.sh"
cd "$T"

# golden: a command's stderr against the expected text, DIR substituted
golden() { # what expected_file actual_file
    if diff -u "$2" "$3" > diff.out; then ok "$1"; else fail "$1: $(cat diff.out)"; fi
}
logs() { "$VOLLEY" logs "$@"; }

# --- the effects, in one run. slow's runtime (PT1S) must end after its
# shell ran `trap ... USR1` (SIGUSR1 would end it before): at most 86 ms
# after the spawn with two CPU burners (test_exec's stubborn job), 10x.
cat > keys.yaml <<YAML
name: keys
variables: {root: out, greet: hello}
env: {GREETING: "{greet}", SHARED: wf}
execution_config:
  stdio: {mode: combined}
  termination_signal: SIGUSR1
  sigterm_lead_seconds: 1
  timeout_exit_code: 124
resource_requirements:
  - {name: short, runtime: PT1S}
failure_handlers:
  - name: again
    rules:
      - {exit_codes: [124], max_retries: 1,
         recovery_script: 'echo "\$TORC_JOB_NAME \$TORC_RETURN_CODE \$VOLLEY_RETURN_CODE \$SHARED" >> {root}/recovery'}
jobs:
  - name: env_job
    command: 'echo "\$GREETING \$SHARED \$ONLY \$TORC_JOB_NAME \$VOLLEY_JOB_NAME \$TORC_ATTEMPT_ID" > {root}/env_job; : $TOKEN'
    env: {SHARED: job, ONLY: "{greet}!"}
  - {name: "p{i}", command: 'echo "seed=\$SEED"; : $TOKEN', parameters: {i: "1:2"}, env: {SEED: "{i}"}}
  - {name: sep, command: 'echo o; echo e >&2; : $TOKEN', stdio: separate}
  - {name: comb, command: 'echo o1; echo e1 >&2; echo o2; : $TOKEN'}
  - {name: nout, command: 'echo o; echo e >&2; : $TOKEN', stdio: no_stdout}
  - {name: nerr, command: 'echo o; echo e >&2; : $TOKEN', stdio: no_stderr}
  - {name: none, command: 'echo o; echo e >&2; echo \$(readlink /proc/\$\$/fd/1) > {root}/none_fd1; : $TOKEN', stdio: none}
  - {name: gone, command: 'echo secret; : $TOKEN', stdio: {mode: separate, delete_on_success: true}}
  - {name: kept, command: 'echo kept; exit 1; : $TOKEN', stdio: {mode: separate, delete_on_success: true}}
  - name: slow
    command: 'trap "echo got-usr1; exit 0" USR1; sleep 30 & wait; : $TOKEN'
    resource_requirements: short
    failure_handler: again
    stdio: separate
actions:
  - trigger_type: on_workflow_start
    action_type: run_commands
    commands: ["mkdir -p {root}", "echo start \$GREETING \$VOLLEY_ACTION_TRIGGER >> {root}/actions"]
  - {trigger_type: on_jobs_complete, action_type: run_commands, jobs: [p1, p2],
     commands: ["echo ps-done >> {root}/actions"]}
  - {trigger_type: on_jobs_ready, action_type: run_commands, job_name_regexes: ["^sl"],
     commands: ["echo slow-ready >> {root}/actions"]}
  - {trigger_type: on_workflow_complete, action_type: run_commands,
     commands: ["echo complete >> {root}/actions", "echo to-stdout", "echo to-stderr >&2"]}
YAML
"$VOLLEY" run keys.yaml --run-dir rk -j 4 --quiet 2> keys.err; rc=$?
check "keys: exit 1 (a failed and a terminated job) (got $rc)" [ "$rc" = 1 ]
check "keys: no 'not acted on' warning" [ "$(grep -c 'not acted on' keys.err)" = 0 ]
check "env: job over workflow, variables, TORC_ aliases" \
    [ "$(cat out/env_job)" = "hello job hello! env_job env_job 1" ]
check "env: per-job parameter values" [ "$(logs rk p1)/$(logs rk p2)" = "seed=1/seed=2" ]
check "stdio separate" [ "$(logs rk sep)/$(logs rk sep --stderr)" = "o/e" ]
check "stdio combined (the workflow's default): one stream in order" \
    [ "$(logs rk comb | tr '\n' ' ')" = "o1 e1 o2 " ]
check "stdio no_stdout: stderr kept" [ "$(logs rk nout --stderr)" = "e" ]
check "stdio no_stderr: stdout kept" [ "$(logs rk nerr)" = "o" ]
check "stdio none: stdout was /dev/null" [ "$(cat out/none_fd1)" = /dev/null ]
check "delete_on_success: a failed job keeps its output" [ "$(logs rk kept)" = kept ]

logs rk gone --notes | grep -q "its output (7 bytes) is deleted" || fail "gone: no deletion note"
D=$(cd rk && pwd)
for c in "comb --stderr" "nout" "nerr --stderr" "none" "none --stderr" "gone" "gone --stderr"; do
    logs rk $c > /dev/null 2>> logs.err
    r=$?
    [ "$r" = 1 ] || fail "volley logs rk $c: exit $r, not 1"
done
cat > logs.expect <<EOF
volley logs: job 'comb' runs with stdio combined: its stderr is in its stdout (volley logs $D comb)
volley logs: job 'nout' runs with stdio no_stdout: its stdout is not captured
volley logs: job 'nerr' runs with stdio no_stderr: its stderr is not captured
volley logs: job 'none' runs with stdio none: its stdout is not captured
volley logs: job 'none' runs with stdio none: its stderr is not captured
volley logs: job 'gone' completed and its output was deleted (stdio delete_on_success); volley logs $D gone --notes has volley's notes
volley logs: job 'gone' completed and its output was deleted (stdio delete_on_success); volley logs $D gone --notes has volley's notes
EOF
golden "volley logs: why a stream has nothing (golden)" logs.expect logs.err
# execution_config: SIGUSR1 first, a timeout seen and recorded as 124
check "slow: terminated, exit 124, retried once" \
    [ "$(sqlite3 rk/volley.db "select state, exit_code, attempt from jobs where name = 'slow'")" = "terminated|124|2" ]
check "slow: SIGUSR1 reached it" [ "$(logs rk slow)" = got-usr1 ]
logs rk slow --notes | grep -q "runtime of 1000 ms exceeded: SIGUSR1 to the job's process group" ||
    fail "slow: the note names SIGUSR1"
check "recovery script: TORC_ aliases, the workflow's env, code 124" \
    [ "$(cat out/recovery)" = "slow 124 124 wf" ]
"$VOLLEY" jobs rk --json > jobs.json
check "volley jobs shows 124" \
    [ "$(python3 -c 'import json; print([j["exit_code"] for j in json.load(open("jobs.json")) if j["name"] == "slow"][0])')" = 124 ]
# actions: start first, once each, complete last; their logs
check "actions: start first, before any job ($(head -1 out/actions))" \
    [ "$(head -1 out/actions)" = "start hello on_workflow_start" ]
check "actions: each once, complete last" \
    [ "$(sort out/actions | tr '\n' ' ')/$(tail -1 out/actions)" = "complete ps-done slow-ready start hello on_workflow_start /complete" ]
check "volley logs --action 3: its commands' stdout" [ "$(logs rk --action 3)" = to-stdout ]
check "volley logs --action 3 --stderr" [ "$(logs rk --action 3 --stderr)" = to-stderr ]
check "action records: all completed, run once" \
    [ "$(sqlite3 rk/volley.db "select group_concat(state || runs, ' ') from action_state")" = "completed1 completed1 completed1 completed1" ]
logs rk --action 7 2> a.err; r1=$?
check "volley logs --action 7: exit 2" [ "$r1" = 2 ]
golden "volley logs --action out of range (golden)" <(echo "volley logs: run $D has actions 0 to 3, not 7") a.err

# --- kill -9 of the runner mid-run, then resume: env and stdio still
# apply, actions that ran do not run again. A job that starts once 4 are
# marked waits for crashgo, made after the kill: the kill comes mid-run
# however late the test shell gets to it.
cat > crash.yaml <<YAML
name: crash
env: {MARK: m}
jobs:
  - {name: "w{i}", command: '[ "\$(cat marks 2> /dev/null | wc -l)" -lt 4 ] || while [ ! -e crashgo ]; do sleep 0.02; done; sleep 0.3; echo "\$MARK {i}" >> marks; : $TOKEN',
     parameters: {i: "1:16"}, stdio: none}
  - {name: last, command: 'echo "\$MARK last"; echo err >&2; : $TOKEN',
     depends_on_regexes: ['^w'], stdio: combined}
actions:
  - {trigger_type: on_workflow_start, action_type: run_commands, commands: ["echo start >> acts"]}
  - {trigger_type: on_jobs_complete, action_type: run_commands, jobs: [w1], commands: ["echo w1 >> acts"]}
  - {trigger_type: on_workflow_complete, action_type: run_commands, commands: ["echo complete >> acts"]}
YAML
wait_lines() { wait_until "$2 lines in $1" lines "$1" "$2"; } # file n
"$VOLLEY" run crash.yaml --run-dir rc -j 2 --checkpoint-interval 0.2 --quiet 2> crash.err &
pid=$!; STARTED+=("$pid")
wait_lines marks 4
kill -9 "$pid"; wait "$pid" 2> /dev/null
touch crashgo
n=$(wc -l < marks)
check "crash: killed mid-run ($n of 16 marked)" [ "$n" -lt 16 ]
check "crash: start ran, complete did not yet" [ "$(grep -c start acts)/$(grep -c complete acts)" = 1/0 ]
"$VOLLEY" resume rc --quiet 2> crash2.err; rc=$?
check "resume: exit 0 (got $rc)" [ "$rc" = 0 ]
check "resume: every job marked, with its env" [ "$(cut -d' ' -f1 marks | sort -u)/$(cut -d' ' -f2 marks | sort -u | wc -l)" = "m/16" ]
check "resume: stdio still applies (combined)" [ "$(logs rc last | tr '\n' ' ')" = "m last err " ]
logs rc last --stderr 2> /dev/null; r=$?
check "resume: stdio still applies (no stderr of its own)" [ "$r" = 1 ]
check "resume: start and w1 not run again, complete once" \
    [ "$(grep -c start acts)/$(grep -c w1 acts)/$(grep -c complete acts)" = 1/1/1 ]

# --- an action running when the runner died runs again on resume, even
# with every job finished; an action that ran does not
cat > cut.yaml <<YAML
name: cut
jobs:
  - {name: a, command: 'true; : $TOKEN'}
actions:
  - {trigger_type: on_workflow_start, action_type: run_commands, commands: ["echo start >> acts2"]}
  - {trigger_type: on_workflow_complete, action_type: run_commands,
     commands: ["echo begin >> acts2; while [ ! -e second ]; do sleep 0.02; done; echo end >> acts2; : $TOKEN"]}
YAML
"$VOLLEY" run cut.yaml --run-dir rcut --quiet 2> cut.err &
pid=$!; STARTED+=("$pid")
wait_lines acts2 2
kill -9 "$pid"; wait "$pid" 2> /dev/null
check "cut: the final action was running" [ "$(tr '\n' ' ' < acts2)" = "start begin " ]
check "cut: recorded running" [ "$(sqlite3 rcut/volley.db "select state from action_state where id = 1")" = running ]
touch second
"$VOLLEY" resume rcut --quiet 2> cut2.err; rc=$?
check "cut: resume goes on for the action (exit $rc)" [ "$rc" = 0 ]
check "cut: it ran again, start did not" [ "$(tr '\n' ' ' < acts2)" = "start begin begin end " ]
check "cut: completed, second run" [ "$(sqlite3 rcut/volley.db "select state, runs from action_state where id = 1")" = "completed|2" ]
"$VOLLEY" resume rcut 2> cut3.err; rc=$?
check "cut: another resume has nothing to run (exit $rc)" [ "$rc" = 0 ] && grep -q "nothing to run" cut3.err

# --- resume --retry-failed re-arms on_workflow_complete, not on_workflow_start
cat > retry.yaml <<YAML
name: retry
jobs:
  - {name: f, command: 'exit 1; : $TOKEN'}
actions:
  - {trigger_type: on_workflow_start, action_type: run_commands, commands: ["echo start >> acts3"]}
  - {trigger_type: on_workflow_complete, action_type: run_commands, commands: ["echo complete >> acts3"]}
YAML
"$VOLLEY" run retry.yaml --run-dir rr --quiet 2> /dev/null
"$VOLLEY" resume rr --quiet 2> /dev/null
check "retry: a plain resume runs no action" [ "$(tr '\n' ' ' < acts3)" = "start complete " ]
"$VOLLEY" resume rr --retry-failed --quiet 2> /dev/null
check "retry: --retry-failed runs complete again, not start" [ "$(tr '\n' ' ' < acts3)" = "start complete complete " ]

# --- resume --reload: an unchanged action keeps its record (start is not
# run again), on_workflow_complete is re-armed when a job runs again, an
# edited action runs as a new one; the logs of each run stay readable
cat > rl.yaml <<YAML
name: rl
jobs:
  - {name: a, command: 'echo a1 >> acts4; : $TOKEN'}
actions:
  - {trigger_type: on_workflow_start, action_type: run_commands, commands: ["echo start >> acts4; echo s-out"]}
  - {trigger_type: on_jobs_complete, action_type: run_commands, jobs: [a], commands: ["echo a-done >> acts4"]}
  - {trigger_type: on_workflow_complete, action_type: run_commands, commands: ["echo complete >> acts4"]}
YAML
"$VOLLEY" run rl.yaml --run-dir rl --quiet 2> /dev/null
check "reload: first run (start a1 a-done complete)" [ "$(tr '\n' ' ' < acts4)" = "start a1 a-done complete " ]
sed -i "s/echo a1/echo a2/; s/echo a-done/echo a-done2/" rl.yaml
"$VOLLEY" resume rl --reload --quiet 2> rl.err; rc=$?
check "reload: exit 0 (got $rc)" [ "$rc" = 0 ]
check "reload: a reruns; start kept; the edited action and complete run ($(tr "\n" " " < acts4))" \
    [ "$(tr '\n' ' ' < acts4)" = "start a1 a-done complete a2 a-done2 complete " ]
check "reload: the start action's log, from the generation that ran it" [ "$(logs rl --action 0)" = s-out ]
check "reload: records (start completed once, complete twice)" \
    [ "$(sqlite3 rl/volley.db "select group_concat(id || state || runs, ' ') from action_state")" = "0completed1 1completed1 2completed2" ]

finish

#!/usr/bin/env bash
# watch_logs.sh - volley logs: exact bytes (NUL, 0xff, no final newline,
# 300 kB of random data), stderr, attempts, a recovery script's output and
# volley's notes, did-you-mean, not a run directory; on a finished run and
# a live one (--follow until the job ends).
. "$(dirname "$0")/watch_lib.sh"
cd "$tmp"
cat > wf.yaml << 'YAML'
name: logs
failure_handlers:
  - name: again
    rules:
      - {exit_codes: [75], max_retries: 2}
jobs:
  - name: bin
    command: "printf 'a\\000b\\377c'; printf 'to err\\n' >&2"
  - name: big
    command: "head -c 300000 /dev/urandom > big.data; cat big.data"
  - name: flaky
    failure_handler: again
    command: "n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; echo try $VOLLEY_ATTEMPT; [ $n -ge 1 ]|| exit 75"
YAML
"$bin" run wf.yaml --run-dir "$tmp/done" --quiet 2> /dev/null
check run_exit 0 "$?"
run_dirs+=("$tmp/done")
printf 'a\000b\377c' > want.bin
"$bin" logs done bin > got.bin
check bin_exit 0 "$?"
check bin_bytes ok "$(cmp -s want.bin got.bin && echo ok)"
check bin_stderr "to err" "$("$bin" logs done bin --stderr)"
"$bin" logs done big > got.big
check big_bytes ok "$(cmp -s big.data got.big && echo ok)"
check flaky_last "try 2" "$("$bin" logs done flaky)"
check flaky_first "try 1" "$("$bin" logs done flaky --attempt 1)"
"$bin" logs done flaky --attempt 3 > out 2> err
check attempt3_exit 1 "$?"
check attempt3_msg "volley logs: job 'flaky' has no attempt 3 (it ran 2)" "$(cat err)"
# a finished job whose logs are gone: the directory is damaged (exit 3),
# not "has not started yet (completed)"
cp -r done damaged
rm -r damaged/logs/*
"$bin" logs damaged bin > out 2> err
check gone_exit 3 "$?"
check gone_msg "volley logs: job 'bin' ran (attempt 1, completed), but $tmp/damaged/logs has no log of it: the run directory is damaged" "$(cat err)"
"$bin" logs done bim > out 2> err
check unknown_exit 2 "$?"
check unknown_msg "volley: no job 'bim' in run $tmp/done (did you mean 'bin'?)" "$(cat err)"
check unknown_stdout 0 "$(wc -c < out)"
"$bin" logs done zzzzzzzz 2> err
check nothing_close_msg "volley: no job 'zzzzzzzz' in run $tmp/done (volley jobs $tmp/done lists them)" "$(cat err)"
mkdir empty
"$bin" logs empty bin > out 2> err
check notrun_exit 3 "$?"
check notrun_msg 1 "$(grep -c 'is not a volley run directory' err)"
"$bin" logs nowhere bin 2> err
check missing_exit 3 "$?"
check missing_msg "volley: nowhere is not a run directory (No such file or directory)" "$(cat err)"
"$bin" logs 2> err
check usage_exit 2 "$?"
# one argument is a job of the latest run in ./volley-runs: here, none
"$bin" logs done 2> err
check nodir_exit 3 "$?"
check nodir_msg 1 "$(grep -c 'no run directory given, and .*volley-runs holds no run' err)"
"$bin" logs done bin --attempt 0 2> err
check attempt0_exit 2 "$?"

# a recovery script that fails: its output (--recovery) and volley's
# notes (--notes) are there to read, and the run's summary shows both
cat > rec.yaml << 'YAML'
name: rec
failure_handlers:
  - name: fix
    rules:
      - {exit_codes: [12], max_retries: 2, recovery_script: "echo fixing; echo cannot fix >&2; exit 5"}
jobs:
  - {name: flaky, failure_handler: fix, command: "echo out; exit 12"}
YAML
"$bin" run rec.yaml --run-dir "$tmp/rec" --quiet 2> rec.err
check rec_exit 1 "$?"
run_dirs+=("$tmp/rec")
check rec_stdout "out" "$("$bin" logs rec flaky)"
check rec_recovery "fixing" "$("$bin" logs rec flaky --recovery)"
check rec_recovery_err "cannot fix" "$("$bin" logs rec flaky --recovery --stderr)"
check rec_notes "volley: exit code 12: running the recovery script before attempt 2
volley: the recovery script exited with 5: no retry, the job fails" "$("$bin" logs rec flaky --notes)"
check rec_notes_follow "2" "$(timeout "$HANG" "$bin" logs rec flaky --notes --follow | wc -l)"
check rec_summary "volley: job 'flaky' failed, exit 12, attempt 1
  last lines of its stdout:
  | out
  last lines of its recovery script's stderr:
  | cannot fix
  volley's notes on this attempt:
  | volley: exit code 12: running the recovery script before attempt 2
  | volley: the recovery script exited with 5: no retry, the job fails
  (all of it: volley logs $tmp/rec flaky [--stderr] [--recovery] [--notes])" "$(sed -n '/^volley: job/,$p' rec.err)"
check bin_no_notes "" "$("$bin" logs done bin --notes)"
"$bin" logs rec flaky --notes --stderr > out 2> err
check notes_stderr_exit 2 "$?"
check notes_stderr_msg "volley logs: --notes is a stream of its own: not with --stderr" "$(head -1 err)"

# live: a job that writes, waits for a file, writes again
cat > live.yaml << 'YAML'
name: live
jobs:
  - name: first
    command: "printf 'one\\n'; while [ ! -e go ]; do sleep 0.05; done; printf 'two\\n'"
  - name: later
    command: "echo later"
    depends_on: [first]
YAML
start_run live live.yaml
has_one() { "$bin" logs live first 2> /dev/null | grep -q one; }
wait_for has_one
check live_partial "one" "$("$bin" logs live first)"
"$bin" logs live later > out 2> err
check live_notstarted_exit 1 "$?"
check live_notstarted_msg "volley logs: job 'later' has not started yet (blocked)" "$(cat err)"
"$bin" logs live first --follow > follow.out &
fpid=$!
"$bin" logs live later --follow > later.out &
lpid=$!
# the follower has read what there is ('one'); 'two' comes after go, so
# 'one two' at its end shows it read on after the end it had reached
follow_has_one() { grep -q one follow.out; }
wait_for follow_has_one
check follow_waiting yes "$(kill -0 $fpid 2> /dev/null && echo yes)"
touch go
wait $fpid
check follow_exit 0 "$?"
check follow_out "$(printf 'one\ntwo')" "$(cat follow.out)"
wait $lpid
check follow_later "later" "$(cat later.out)"
wait "$last_pid"
check live_run_exit 0 "$?"
finish

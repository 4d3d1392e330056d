#!/bin/bash
# run_reload.sh - fix and rerun: `volley resume --reload [--dry-run]` on a
# stopped, a finished and a crashed run (unchanged jobs keep their state and
# never run again; changed, new and downstream ones run; removed ones are
# dropped, their logs kept); the notice of an edited file; a workflow that
# no longer loads (exit 2, the run untouched); two resumes at once; a
# reload killed at any point leaves the old run or the new one, never a
# mix; `volley run WF --resume`.
. "$(dirname "$0")/lib.sh"
cd "$T"

# Each job appends "name:version" to marks when it runs.
wf() { # wf B_CMD C_DEPS [EXTRA_JOBS]: the workflow, b's command and c's parents varying
    cat > wf.yaml <<YAML
name: rl
jobs:
  - name: "a{i}"
    command: 'echo out-\$VOLLEY_JOB_NAME; echo \$VOLLEY_JOB_NAME:1 >> marks; : $TOKEN'
    parameters: {i: "1:3"}
  - {name: b, command: '$1; echo b >> marks; : $TOKEN', depends_on: [a1]}
  - {name: c, command: 'echo c >> marks; : $TOKEN', depends_on: [$2]}
  - {name: d, command: 'echo d >> marks; : $TOKEN', depends_on: [a2]}
$3
YAML
}
ran() { sort marks 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }
dbsum() { md5sum "$1/volley.db" | cut -d' ' -f1; }

# --- a finished run with a failure; b fixed, c's deps unchanged, "gone"
# removed, "new" added behind c
wf 'echo b1; exit 3' b '  - {name: gone, command: "echo gone >> marks; : '$TOKEN'"}'
"$VOLLEY" run wf.yaml --run-dir r1 -j 2 --quiet 2> r1.err
check "first run: exit 1 (b fails)" [ $? = 1 ]
check "first run: a1 a2 a3 d gone ran ($(ran))" [ "$(ran)" = "a1:1 a2:1 a3:1 d gone" ]
wf 'echo b2' b '  - {name: new, command: "echo new >> marks; : '$TOKEN'", depends_on: [c]}'
: > marks
"$VOLLEY" resume r1 --quiet > res.out 2> res.err
check "plain resume of an edited run: names the change and --reload" \
    grep -q "wf.yaml changed since this run stored it.*--reload" res.err
check "plain resume: nothing ran ($(ran))" [ -z "$(ran)" ]
sum=$(dbsum r1)
"$VOLLEY" resume r1 --reload --dry-run > dry.out 2> dry.err
check "dry run: exit 0" [ $? = 0 ]
check "dry run: b command changed" grep -qP '^  b\tcommand changed$' dry.out
check "dry run: c downstream of b" grep -qP '^  c\tdownstream of b$' dry.out
check "dry run: new is new" grep -qP '^  new\tnew$' dry.out
check "dry run: 3 would run" grep -q '^would run 3 of 7 jobs' dry.out
check "dry run: gone dropped" grep -q 'would drop 1 job .*: gone$' dry.out
check "dry run: volley.db untouched" [ "$(dbsum r1)" = "$sum" ]
check "dry run: nothing ran" [ -z "$(ran)" ]
"$VOLLEY" resume r1 --reload --quiet 2> rl.err
check "reload: exit 0 ($(tail -1 rl.err))" [ $? = 0 ]
check "reload: only b, c and new ran ($(ran))" [ "$(ran)" = "b c new" ]
check "reload: says what changed" grep -q "1 changed, 1 new, 1 downstream of them, 1 removed" rl.err
check "reload: every job completed" [ "$(sqlite3 r1/volley.db "select count(*) from jobs where state='completed'")" = 7 ]
check "reload: gone is not a job of the run" [ -z "$(sqlite3 r1/volley.db "select name from jobs where name='gone'")" ]
check "reload: b's attempts counted on (2)" [ "$(attempt_of r1 b)" = 2 ]
check "logs of b's first attempt (the old command)" [ "$("$VOLLEY" logs r1 b --attempt 1)" = b1 ]
check "logs of b's second attempt" [ "$("$VOLLEY" logs r1 b)" = b2 ]
check "logs of a1, kept from before the reload" [ "$("$VOLLEY" logs r1 a1)" = out-a1 ]
check "the dropped job's logs stay on disk" [ -s r1/logs/seg-0000.log ]
check "events: b failed -> ready at the reload" \
    grep -q '"job":"b","from":"failed","to":"ready"' r1/events.jsonl
: > marks
"$VOLLEY" resume r1 --reload --quiet 2> rl2.err
check "a second reload of the same file: nothing to reload" grep -q "defines the same jobs" rl2.err
check "a second reload: nothing ran ($(ran))" [ -z "$(ran)" ]

# --- a changed dependency and the downstream of a change on a stopped run
# (stopped while b waits for go2: the jobs before it have completed, by
# volley.db's record, the ones after it have not run)
bgate2="touch $T/b2started; while [ ! -e $T/go2 ]; do sleep 0.02; done"
wf "$bgate2" b ''
: > marks
start_int stop.err "$VOLLEY" run wf.yaml --run-dir r2 -j 1 --quiet
wait_until "r2's job b running" test -e b2started
kill -INT "$IPID"; wait "$IPID"
rc=$?
check "stopped run: the Ctrl-C stopped it (exit 130, got $rc)" [ "$rc" = 130 ]
touch go2
before=$(sqlite3 -readonly r2/volley.db "select name from jobs where state='completed'")
wf "$bgate2" 'b, d' ''
: > marks
"$VOLLEY" resume r2 --reload --dry-run > dry2.out 2>&1
check "stopped run dry run: c dependencies changed" grep -qP '^  c\tdependencies changed$' dry2.out
"$VOLLEY" resume r2 --reload --quiet 2> rl3.err
check "stopped run reload: exit 0" [ $? = 0 ]
for j in $before; do
    [ "$j" = c ] && continue # its dependencies changed: it runs again
    grep -qx "$j\(:1\)\?" marks && fail "stopped run: $j had completed before, ran again"
done
check "stopped run: all 6 completed" [ "$(sqlite3 r2/volley.db "select count(*) from jobs where state='completed'")" = 6 ]

# --- a crashed run (runner killed, its arena left): the arena's state is
# the one kept
bgate3="touch $T/b3started; while [ ! -e $T/go3 ]; do sleep 0.02; done"
wf "$bgate3" b ''
: > marks
"$VOLLEY" run wf.yaml --run-dir r3 -j 1 --checkpoint-interval 30 --quiet 2> crash.err &
pid=$!; STARTED+=("$pid")
# a1 done, then b (released by it) waits for go3: the runner dies then
wait_until "r3's job b running" test -e b3started
kill -9 "$pid"; wait "$pid" 2> /dev/null
touch go3
id=$(sqlite3 r3/volley.db 'select lower(hex(run_id)) from run')
check "crashed run: the arena survived" [ -e "/dev/shm/volley-$id" ]
check "crashed run: runs says crashed" grep -q "/r3 *crashed" <("$VOLLEY" runs "$T")
before=$(ran)
wf "$bgate3; echo changed" b ''
: > marks
"$VOLLEY" resume r3 --reload --quiet 2> rl4.err
check "crashed run reload: exit 0 ($(tail -1 rl4.err))" [ $? = 0 ]
for j in $before; do
    case $j in a*) grep -qx "$j" marks && fail "crashed run: ${j%:1} completed in the arena, ran again" ;; esac
done
check "crashed run: b ran ($(ran))" grep -qx b marks
check "crashed run: the old arena is gone" [ ! -e "/dev/shm/volley-$id" ] || [ "$(sqlite3 r3/volley.db 'select lower(hex(run_id)) from run')" = "$id" ]

# --- bad input: a workflow that no longer loads; the run untouched
echo "  - {name: bad, command: x, depends_on: [nosuchjob]}" >> wf.yaml
sum=$(dbsum r3)
ls -l --time-style=+%s.%N r3 | grep -v volley.lock > ls.before
"$VOLLEY" resume r3 --reload > bad.out 2> bad.err
rc=$?
check "reload of a broken workflow: exit 2 (got $rc)" [ "$rc" = 2 ]
check "reload of a broken workflow: the error with file:line" grep -q "wf.yaml:[0-9]*:[0-9]*: error: .*nosuchjob" bad.err
check "reload of a broken workflow: says the run is as it was" grep -q "the run is as it was" bad.err
check "reload of a broken workflow: volley.db untouched" [ "$(dbsum r3)" = "$sum" ]
# (volley.lock names its last holder: each resume writes it)
check "reload of a broken workflow: the run directory untouched" \
    diff <(ls -l --time-style=+%s.%N r3 | grep -v volley.lock) ls.before
"$VOLLEY" resume r3 --reload --dry-run > /dev/null 2> bad2.err
check "dry run of a broken workflow: exit 2" [ $? = 2 ]

# --- two resumes at once: the second is refused and names the first
cat > hold.yaml <<YAML
name: hold
jobs:
  - {name: first, command: 'true'}
  - {name: wait, command: 'while [ ! -e $T/go ]; do sleep 0.05; done; : $TOKEN', depends_on: [first]}
YAML
"$VOLLEY" run hold.yaml --run-dir r4 --quiet 2> /dev/null &
pid=$!; STARTED+=("$pid")
first_done() { [ -f r4/volley.db ] && [ "$(state_of r4 first 2> /dev/null)" = completed ]; }
wait_until "r4's first job completed in volley.db" first_done
"$VOLLEY" cancel r4 > /dev/null 2>&1; wait "$pid"
start_int res1.err "$VOLLEY" resume r4 --quiet
wait_until "the first resume of r4 to say 'resuming'" has_line res1.err resuming
"$VOLLEY" resume r4 > res2.out 2> res2.err
rc=$?
check "second resume at once: exit 3 (got $rc)" [ "$rc" = 3 ]
check "second resume: names the first ($(cat res2.err))" grep -q "in use by volley pid $IPID (\`volley resume r4" res2.err
"$VOLLEY" reset r4 wait > reset.out 2> reset.err
check "reset of a live run: exit 3" [ $? = 3 ]
check "reset of a live run: names the runner" grep -q "in use by volley pid $IPID" reset.err
touch go; wait "$IPID"
check "the first resume finished (exit 0)" [ $? = 0 ]

# --- a reload killed at any point: the run is the old one or the new one
# (its volley.db opens with one of the two workflows), and a resume after
# it finishes the job. 100k jobs canceled behind a failed gate (a run
# that ends at once), and one job whose command the edit changes.
cat > big.yaml <<YAML
name: big
jobs:
  - {name: gate, command: 'exit 1'}
  - {name: "j{i}", command: '/bin/true $TOKEN', parameters: {i: "1:100000"}, depends_on: [gate]}
  - {name: last, command: 'echo v1'}
YAML
"$VOLLEY" run big.yaml --run-dir r5 --quiet 2> /dev/null
old=$(sqlite3 r5/volley.db 'select spec_hash from run')
sed -i 's/echo v1/echo v2/' big.yaml
unlocked() { # the run's lock is free (a killed runner's workers may hold it a moment)
    wait_until "r5's lock to be free" flock -n r5/volley.lock true
}
cp -a r5 r5t
t0=$(date +%s%N)
"$VOLLEY" resume r5t --reload --quiet > /dev/null 2>&1
ms=$((($(date +%s%N) - t0) / 1000000))
echo "a whole reload of r5 (a copy): $ms ms"
bad=""; seen=""
for f in 5 15 25 35 45 55 65 75 85 95 110; do
    d=$(printf '%d.%03d' $((ms * f / 100 / 1000)) $((ms * f / 100 % 1000)))
    unlocked
    "$VOLLEY" resume r5 --reload --quiet > /dev/null 2>&1 &
    p=$!; STARTED+=("$p")
    sleep "$d"
    kill -9 "$p" 2> /dev/null; wait "$p" 2> /dev/null
    unlocked
    h=$(sqlite3 r5/volley.db 'select spec_hash from run' 2>&1)
    if [ "$h" = "$old" ]; then seen="${seen}o"; else seen="${seen}n"; fi
    "$VOLLEY" status r5 > /dev/null 2>&1 || bad="$bad $d:status"
    "$VOLLEY" jobs r5 --state completed > /dev/null 2>&1 || bad="$bad $d:jobs($h)"
done
echo "killed reloads, old (o) or new (n) run after each: $seen"
unlocked
"$VOLLEY" resume r5 --reload --quiet 2> /dev/null
rc=$?
check "killed reloads: every one left a readable run (not:$bad)" [ -z "$bad" ]
check "killed reloads: a resume after them finishes (exit $rc: the gate failed)" [ "$rc" = 1 ]
check "killed reloads: last ran the new command" [ "$("$VOLLEY" logs r5 last)" = v2 ]
check "killed reloads: the gate failed, 100000 canceled, last completed" \
    [ "$(sqlite3 r5/volley.db "select group_concat(n, ' ') from (select state || '=' || count(*) as n from jobs group by state order by state)")" = "canceled=100000 completed=1 failed=1" ]

# --- volley run WF --resume continues the latest unfinished run of WF
mkdir -p p && cd p || exit 1
cat > s.yaml <<YAML
name: s
jobs:
  - name: "s{i}"
    command: '[ "\$(cat marks 2> /dev/null | wc -l)" -lt 2 ] || { touch blocked; while [ ! -e go ]; do sleep 0.02; done; }; echo \$VOLLEY_JOB_NAME >> marks; : $TOKEN'
    parameters: {i: "1:6"}
YAML
# the third job (-j 1: the first two have completed) waits for go: stopped then
start_int p.err "$VOLLEY" run s.yaml -j 1 --quiet
wait_until "the third job of s.yaml to wait" test -e blocked
kill -INT "$IPID"; wait "$IPID"
rc=$?
check "run WF: the Ctrl-C stopped it (exit 130, got $rc)" [ "$rc" = 130 ]
touch go
n1=$(wc -l < marks)
"$VOLLEY" run s.yaml --quiet -j 1 > /dev/null 2> p2.err
check "run WF with an unfinished run: names it and --resume" grep -q "s.yaml has an unfinished run, volley-runs/s-.*(stopped, .*volley run s.yaml --resume" p2.err
check "run WF: started a new run all the same" [ "$(ls volley-runs | wc -l)" = 2 ]
"$VOLLEY" run s.yaml --resume --quiet 2> p3.err
check "run WF --resume: exit 0" [ $? = 0 ]
check "run WF --resume: continued the stopped one" grep -q "continuing .*volley-runs/s-" p3.err
check "run WF --resume: ran only what was left (12 marks: $(wc -l < marks))" [ "$(wc -l < marks)" = 12 ]
check "no unfinished run left" [ -z "$("$VOLLEY" runs --json | python3 -c 'import json,sys; print([r for r in json.load(sys.stdin) if r["state"] != "finished"] or "")')" ]
cd "$T" || exit 1

finish

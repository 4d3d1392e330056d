#!/usr/bin/env bash
# readonly.sh - a finished or stopped run read by someone who cannot write
# it: status, jobs, logs, events and report work (SQLite opens volley.db read-only,
# immutable when it cannot keep its -shm); resume and reset need write
# access and say so. Two ways to lose write access: another user (setpriv
# to nobody) and a read-only bind mount (root ignores file modes, not a
# read-only mount). Each is skipped where this machine cannot do it; the
# test is skipped (77) if neither can.
. "$(dirname "$0")/watch_lib.sh"
chmod 755 "$tmp"
mkdir -m 777 "$tmp/pages" # where a reader may write its report
# a directory name SQLite's URI syntax must escape
sub="ro dir?#%"
base="$tmp/$sub"
mkdir -p "$base"
cd "$base" || exit 1
cat > wf.yaml << 'YAML'
name: ro
jobs:
  - {name: "a{i}", command: "echo out{i}; echo err{i} >&2", parameters: {i: "1:3"}}
  - {name: bad, command: "echo bad; exit 3", depends_on: [a1]}
YAML
"$bin" run wf.yaml --run-dir fin --quiet 2> fin.err
check finished_run_exit 1 $?
run_dirs+=("$base/fin")
# a stopped run: its one job waits for a file that never comes
cat > stop.yaml << 'YAML'
name: stop
jobs:
  - {name: first, command: "echo first"}
  - {name: wait, command: "while [ ! -e never ]; do sleep 0.05; done", depends_on: [first]}
YAML
start_run "$sub/stop" stop.yaml --checkpoint-interval 0.1

# What a writer sees, to compare with.
want() { # want DIR: the outputs a reader must reproduce
  "$bin" jobs "$1" --json | python3 -c 'import json,sys
print([(j["name"], j["state"], j["exit_code"]) for j in json.load(sys.stdin)])'
  "$bin" status "$1" --json | python3 -c 'import json,sys; d=json.load(sys.stdin)
print(d["phase"], d["states"], d["failed_jobs"])'
}
expect_fin=$(want fin)
# the stopped run: wait until its first job is done, then stop it
settled() { "$bin" status stop --json 2> /dev/null | grep -q '"completed": 1'; }
wait_for settled
"$bin" cancel stop > /dev/null 2>&1
wait "$last_pid" 2> /dev/null
chmod -R a+rX "$tmp"
expect_stop=$(want stop)
ls stop/volley.db-wal > /dev/null 2>&1 && [ -s stop/volley.db-wal ] &&
  echo "note: the stopped run kept a non-empty WAL"

# fin without -wal and -shm (what a copied or archived run looks like):
# the reader must open it immutable; stop keeps the (empty) files a reader
# left, which SQLite then uses read-only
[ -s fin/volley.db-wal ] || rm -f fin/volley.db-wal fin/volley.db-shm
listing=$(cd "$base" && ls -lR --time-style=+%s.%N fin stop)
# reader: the prefix that runs a command without write access
readers=0
check_reader() { # check_reader LABEL PREFIX...
  local label=$1
  shift
  readers=$((readers + 1))
  local d
  for d in fin stop; do
    local exp=$expect_fin
    [ $d = stop ] && exp=$expect_stop
    check "$label $d: jobs and status" "$exp" "$("$@" bash -c '
      "$0" jobs "$1" --json | python3 -c "import json,sys
print([(j[\"name\"], j[\"state\"], j[\"exit_code\"]) for j in json.load(sys.stdin)])"
      "$0" status "$1" --json | python3 -c "import json,sys; d=json.load(sys.stdin)
print(d[\"phase\"], d[\"states\"], d[\"failed_jobs\"])"' "$bin" "$base/$d" 2>&1)"
  done
  check "$label: logs stdout" "out2" "$("$@" "$bin" logs "$base/fin" a2 2>&1)"
  check "$label: logs stderr" "err2" "$("$@" "$bin" logs "$base/fin" a2 --stderr 2>&1)"
  check "$label: events" 4 "$("$@" "$bin" events "$base/fin" 2> /dev/null | wc -l)"
  check "$label: human status" 0 "$("$@" "$bin" status "$base/fin" > /dev/null 2>&1; echo $?)"
  check "$label: report --resources" 0 "$("$@" "$bin" report "$base/fin" --resources > /dev/null 2>&1; echo $?)"
  check "$label: report -o elsewhere" 0 "$("$@" "$bin" report "$base/fin" -o "$tmp/pages/$label.html" > /dev/null 2>&1; echo $?)"
  # writers refuse, saying the directory must be writable
  "$@" "$bin" resume "$base/stop" > "$tmp/res.out" 2>&1
  check "$label: resume exit" 3 $?
  check "$label: resume says why" 1 "$(grep -c 'must be writable' "$tmp/res.out")"
  "$@" "$bin" reset "$base/fin" --failed > "$tmp/res.out" 2>&1
  check "$label: reset exit" 3 $?
  check "$label: reset says why" 1 "$(grep -c 'must be writable' "$tmp/res.out")"
  # nothing was written by any of them
  check "$label: nothing written" "$listing" "$(cd "$base" && ls -lR --time-style=+%s.%N fin stop)"
}

# 1. another user, with read access only; also a live run of ours, whose
# arena (mode 0600) that user cannot read: still seen as live, and cancel
# says who can stop it
if [ "$(id -u)" = 0 ] && setpriv --reuid=nobody --regid=nogroup --clear-groups true 2> /dev/null; then
  check_reader nobody setpriv --reuid=nobody --regid=nogroup --clear-groups
  start_run "$sub/live" stop.yaml --checkpoint-interval 0.1
  live_pid=$last_pid
  wait_for bash -c "'$bin' status '$base/live' --json 2> /dev/null | grep -q '\"completed\": 1'"
  chmod -R a+rX "$tmp"
  as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
  check "nobody: a live run's phase" running "$(as_nobody "$bin" status "$base/live" --json 2> /dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["phase"])')"
  as_nobody "$bin" cancel "$base/live" > "$tmp/c.out" 2>&1
  check "nobody: cancel of a live run: exit 3" 3 $?
  check "nobody: cancel says who can" 1 "$(grep -c 'only the user who started it' "$tmp/c.out")"
  "$bin" cancel "$base/live" > /dev/null 2>&1
  wait "$live_pid" 2> /dev/null
else
  echo "skip: cannot run as another user here"
fi

# 2. a read-only bind mount of the directory (root: file modes do not stop it)
mnt="$tmp/mnt"
mkdir -p "$mnt"
if mount --bind "$base" "$mnt" 2> /dev/null; then
  trap 'umount "$mnt" 2> /dev/null; cleanup' EXIT
  if mount -o remount,bind,ro "$mnt" 2> /dev/null && ! touch "$mnt/x" 2> /dev/null; then
    base_rw=$base
    base=$mnt
    check_reader ro_mount env
    base=$base_rw
  else
    echo "skip: cannot remount read-only here"
  fi
  umount "$mnt"
else
  echo "skip: cannot bind-mount here"
fi
[ $readers = 0 ] && exit 77
finish

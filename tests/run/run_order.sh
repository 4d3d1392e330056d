#!/bin/bash
# run_order.sh - the order in which `volley run -j 1` starts ready jobs:
# a higher priority first; within one priority, first ready first run
# (exactly, with one job at a time: one worker); and the priorities survive
# a resume from volley.db (the arena gone, as after a reboot).
. "$(dirname "$0")/lib.sh"
cd "$T"

# b (5) first; then the roots of priority 0 in file order, a then c; a
# releases d (5) and f (0): d before c; c releases e (9); then f; g (-1)
# last, after everything of priority 0.
cat > prio.yaml <<YAML
name: prio
jobs:
  - {name: a, command: 'echo a >> order; : $TOKEN'}
  - {name: b, command: 'echo b >> order; : $TOKEN', priority: 5}
  - {name: c, command: 'echo c >> order; : $TOKEN', priority: 0}
  - {name: d, command: 'echo d >> order; : $TOKEN', priority: 5, depends_on: [a]}
  - {name: e, command: 'echo e >> order; : $TOKEN', priority: 9, depends_on: [c]}
  - {name: f, command: 'echo f >> order; : $TOKEN', depends_on: [a]}
  - {name: g, command: 'echo g >> order; : $TOKEN', priority: -1}
YAML
rm -f order
"$VOLLEY" run prio.yaml --run-dir r_prio -j 1 --quiet 2> prio.err; rc=$?
check "priorities: exit 0 (got $rc)" [ "$rc" = 0 ]
got=$(tr '\n' ' ' < order)
check "priorities: b a d c e f g (got $got)" [ "$got" = "b a d c e f g " ]
check "priorities: no warning about priority" bash -c "! grep -q priority prio.err"

# first ready, first run: five roots, each with a child (depth-first, the
# order before priorities, ran x1 y1 x2 y2 ...)
cat > fifo.yaml <<YAML
name: fifo
jobs:
  - {name: "x{i}", command: 'echo x{i} >> order; : $TOKEN', parameters: {i: "1:5"}}
  - name: "y{i}"
    command: 'echo y{i} >> order; : $TOKEN'
    parameters: {i: "1:5"}
    depends_on: ["x{i}"]
YAML
rm -f order
"$VOLLEY" run fifo.yaml --run-dir r_fifo -j 1 --quiet 2> fifo.err; rc=$?
check "fifo: exit 0 (got $rc)" [ "$rc" = 0 ]
got=$(tr '\n' ' ' < order)
check "fifo: roots first, then their children as they became ready (got $got)" \
    [ "$got" = "x1 x2 x3 x4 x5 y1 y2 y3 y4 y5 " ]

# a resume from volley.db: k (10) runs first and the runner is killed
# while it runs; its arena is removed (a reboot); the resume runs k
# again, then p2 (3), p3 (2), p1 (1). Priorities lost would give p1 p2 p3.
cat > boot.yaml <<YAML
name: boot
jobs:
  - {name: k, command: 'echo k >> order; [ -e k.once ] && exit 0; touch k.once; sleep 30; : $TOKEN', priority: 10}
  - {name: p1, command: 'echo p1 >> order; : $TOKEN', priority: 1}
  - {name: p2, command: 'echo p2 >> order; : $TOKEN', priority: 3}
  - {name: p3, command: 'echo p3 >> order; : $TOKEN', priority: 2}
YAML
rm -f order k.once
"$VOLLEY" run boot.yaml --run-dir r_boot -j 1 --checkpoint-interval 0.1 2> boot.err &
pid=$!; STARTED+=("$pid")
k_recorded() { [ "$(state_of "$1" k 2> /dev/null)" = running ]; } # a checkpoint after k started
wait_until "r_boot's k running in volley.db" k_recorded r_boot
kill -9 "$pid"; wait "$pid" 2>/dev/null
rm -f "/dev/shm/volley-$(sqlite3 r_boot/volley.db 'select lower(hex(run_id)) from run')"
"$VOLLEY" resume r_boot --quiet 2> boot2.err; rc=$?
check "resume from volley.db: exit 0 (got $rc)" [ "$rc" = 0 ]
check "... from volley.db" grep -q "from volley.db" boot2.err
got=$(tr '\n' ' ' < order)
check "... in priority order (got $got)" [ "$got" = "k k p2 p3 p1 " ]

# a reload that changes priorities only: nothing runs again for it, and
# the edited priorities order what is left (p1 now 5: p1 p2 p3; the
# stored ones would give p2 p3 p1)
sed 's/name: boot/name: rel/' boot.yaml > rel.yaml
rm -f order k.once
"$VOLLEY" run rel.yaml --run-dir r_rel -j 1 --checkpoint-interval 0.1 2> rel.err &
pid=$!; STARTED+=("$pid")
wait_until "r_rel's k running in volley.db" k_recorded r_rel
kill -9 "$pid"; wait "$pid" 2>/dev/null
sed -i '/name: p1,/s/priority: 1}/priority: 5}/' rel.yaml
check "reload: the edit took" grep -q "name: p1,.*priority: 5}" rel.yaml
"$VOLLEY" resume r_rel --reload --quiet 2> rel2.err; rc=$?
check "reload: exit 0 (got $rc)" [ "$rc" = 0 ]
check "... 0 changed" grep -q "reloaded .*: 0 changed, 0 new, 0 downstream" rel2.err
got=$(tr '\n' ' ' < order)
check "... in the edited priority order (got $got)" [ "$got" = "k k p1 p2 p3 " ]

finish

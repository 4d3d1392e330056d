#!/usr/bin/env bash
# quiet.sh [IDLE%] [MAX_S] - waits until the machine was at least IDLE%
# idle (default 80) over one second, at most MAX_S seconds (default 60);
# exit 1 if it never was. Run before a measurement on a shared machine.
want=${1:-80} max=${2:-60}
for ((i = 0; i < max; i++)); do
  read -r _ u1 n1 s1 i1 w1 x1 y1 z1 _ </proc/stat
  sleep 1
  read -r _ u2 n2 s2 i2 w2 x2 y2 z2 _ </proc/stat
  busy=$(((u2 + n2 + s2 + x2 + y2 + z2) - (u1 + n1 + s1 + x1 + y1 + z1)))
  idle=$(((i2 + w2) - (i1 + w1)))
  total=$((busy + idle))
  ((total > 0 && idle * 100 / total >= want)) && exit 0
done
echo "quiet.sh: the machine was never ${want}% idle in ${max} s" >&2
exit 1

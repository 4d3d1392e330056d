#!/bin/bash
# sched_numbers.sh VOLLEY [PROBE_C] - the scheduling figures of
# docs/arena.md ("Numbers") in one invocation, so that their ratios come
# from the same machine state:
#   1. noexec, every shape at 2M jobs on 2, 16 and 64 workers, 3 reps
#      (median): the rates and worker CPU per job, many workers against 2;
#      random and barrier on 256 workers too;
#   2. the order check on a 1M-job random DAG at 2, 16 and 64 workers;
#   3. if PROBE_C (a copy of the worker-local LIFO probe, p5_arena.c) is
#      given: it and volley's random 2M-job cell at 2 workers, alternately,
#      3 times each (the probe prints its rate on its "local LIFO" line);
#   4. process mode, flat 2000 /bin/true jobs, volley at -j/--workers 2
#      and 64, 3 reps.
# Prints the raw outputs with the load average between the parts.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 VOLLEY [PROBE_C]" >&2
    exit 2
fi
V=$1
PROBE_C=${2:-}
tmp=$(mktemp -d /tmp/volley-sched-numbers-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

part() {
    echo
    echo "== $1 ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
}

part "noexec, 2M jobs, 2/16/64 workers"
"$V" bench --mode noexec --shape flat,chain,tree,random,barrier --jobs 2000000 \
    --workers 2,16,64 --reps 3
"$V" bench --mode noexec --shape random,barrier --jobs 2000000 --workers 256 --reps 3

part "order, random, 1M jobs"
"$V" bench --mode noexec --shape random --jobs 1000000 --workers 2,16,64 --order

if [ -n "$PROBE_C" ]; then
    part "probe against volley, random, 2M jobs, 2 workers"
    gcc -O2 -o "$tmp/probe" "$PROBE_C" -lpthread
    for _ in 1 2 3; do
        "$tmp/probe" 2000000 2 | sed -n "/local LIFO/p"
        "$V" bench --mode noexec --shape random --jobs 2000000 --workers 2 | sed -n 1,2p
    done
fi

part "process mode, flat, 2000 jobs, -j 2 and 64"
"$V" bench --mode process --shape flat --jobs 2000 --workers 2,64 --runners volley --reps 3

part "end"

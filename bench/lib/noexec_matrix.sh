#!/usr/bin/env bash
# noexec_matrix.sh VOLLEY REPS "SHAPE:JOBS:WORKERS" ... - runs each
# configuration of `volley bench --mode noexec` REPS times, one run at a
# time, each after quiet.sh (>= 80 % idle, at most QUIET_MAX_S, default 30 s; a run on a busy
# machine is marked busy), and prints per configuration the median and best
# wall-clock rate and worker CPU per job (the stable measure on a shared
# machine) and the hot bytes per job.
set -euo pipefail
volley=${1:?usage: noexec_matrix.sh VOLLEY REPS SHAPE:JOBS:WORKERS...}
reps=${2:?}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
med() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for cfg in "$@"; do
  IFS=: read -r shape jobs workers <<<"$cfg"
  rates=() cpus=() busy=0 hot=
  for ((i = 0; i < reps; i++)); do
    bash "$here/quiet.sh" 80 "${QUIET_MAX_S:-30}" 2>/dev/null || busy=$((busy + 1))
    out=$("$volley" bench --mode noexec --shape "$shape" --jobs "$jobs" --workers "$workers")
    grep -q ', verified$' <<<"$out" || { echo "not verified: $out" >&2; exit 1; }
    rates+=("$(sed -n 's/.*: \([0-9.]*\) M completions\/s.*/\1/p' <<<"$out")")
    cpus+=("$(sed -n 's/.*worker CPU \([0-9.]*\) ns\/job.*/\1/p' <<<"$out")")
    hot=$(sed -n 's/.*(hot \([0-9.]*\) B\/job).*/\1/p' <<<"$out")
  done
  printf '%-8s %9s jobs %s workers: M/s median %s best %s | CPU ns/job median %s best %s | hot %s B/job | %d/%d runs busy\n' \
    "$shape" "$jobs" "$workers" \
    "$(printf '%s\n' "${rates[@]}" | med)" "$(printf '%s\n' "${rates[@]}" | sort -g | tail -1)" \
    "$(printf '%s\n' "${cpus[@]}" | med)" "$(printf '%s\n' "${cpus[@]}" | sort -g | head -1)" \
    "$hot" "$busy" "$reps"
done

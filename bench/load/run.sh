#!/usr/bin/env bash
# run.sh [BUILD] [--big] [--runs R] - the load benchmark of issue #3.
#
# For N = 1M (and 10M with --big) it generates a sweep workflow and the
# equivalent build.ninja (gen_sweep.py), then measures in the same run:
#   - `volley validate sweep.yaml`: wall and CPU time of load + expand +
#     resolve + cycle check (the whole process), peak RSS;
#   - `ninja -t targets all` on build.ninja: wall time, peak RSS;
# and prints per job: volley's bytes ((peak RSS - string bytes) / jobs, also
# after subtracting the RSS of validating a 1-job file) and the per-job
# parse-speed ratio ninja_time / volley_time. Median and best of R runs.
# Targets on the 2-vCPU VM: 1M <= 1 s, 10M <= 10 s, <= 128 B/job plus
# strings, ratio >= 5. The 10M case needs ~1 GB (volley) and ~8 GB (ninja):
# run it alone. Generated files go to a scratch directory that is removed.
set -euo pipefail
build=${1:-build}
shift || true
big=0
runs=3
while [ $# -gt 0 ]; do
  case $1 in
    --big) big=1 ;;
    --runs) runs=$2; shift ;;
    *) echo "usage: run.sh [BUILD] [--big] [--runs R]" >&2; exit 2 ;;
  esac
  shift
done
volley=$(realpath "$build/volley")
here=$(cd "$(dirname "$0")" && pwd)
command -v ninja >/dev/null || { echo "run.sh: ninja is not installed" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/volley-bench-load.XXXXXX")
trap 'rm -rf "$work"' EXIT

# a 1-job file: the process's own RSS, to show per-job bytes without it
printf 'name: one\njobs:\n  - {name: a, command: x}\n' > "$work/one.yaml"
/usr/bin/time -f "%M" -o "$work/t" "$volley" validate "$work/one.yaml" > /dev/null
base_kb=$(cat "$work/t")

stats() { # median and best of the numbers on stdin
  sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s\n", m, v[1] }'
}

sizes=(1000000)
[ "$big" = 1 ] && sizes+=(10000000)
printf '%-9s %-22s %-22s %-9s %-10s %-10s %-22s %-9s\n' jobs "volley s (med best)" "cpu s (med best)" "rss MiB" "str MiB" "B/job" "ninja s (med best)" "ratio"
for n in "${sizes[@]}"; do
  dir="$work/n$n"
  python3 "$here/gen_sweep.py" "$n" "$dir"
  "$volley" validate "$dir/sweep.yaml" --json > "$dir/v.json"
  read -r jobs edges strbytes < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["jobs"], d["edges"], d["string_bytes"])' "$dir/v.json")
  : > "$dir/vt"
  : > "$dir/vc"
  : > "$dir/vr"
  : > "$dir/nt"
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$volley" validate "$dir/sweep.yaml" > /dev/null
    read -r e u s m < "$work/t"
    echo "$e" >> "$dir/vt"
    echo "$u + $s" | bc >> "$dir/vc"
    echo "$m" >> "$dir/vr"
    (cd "$dir" && /usr/bin/time -f "%e %M" -o "$work/t" ninja -t targets all > /dev/null)
    read -r e m < "$work/t"
    echo "$e" >> "$dir/nt"
    echo "$m" > "$dir/nr"
  done
  read -r vmed vbest < <(stats < "$dir/vt")
  read -r cmed cbest < <(stats < "$dir/vc")
  read -r nmed nbest < <(stats < "$dir/nt")
  rss_kb=$(sort -g "$dir/vr" | tail -1)
  bpj=$(echo "($rss_kb * 1024 - $strbytes) / $jobs" | bc)
  bpj0=$(echo "(($rss_kb - $base_kb) * 1024 - $strbytes) / $jobs" | bc)
  ratio=$(echo "scale=1; $nmed / $vmed" | bc)
  printf '%-9s %-22s %-22s %-9s %-10s %-10s %-22s %-9s\n' "$jobs" "$vmed $vbest" "$cmed $cbest" \
    "$((rss_kb / 1024))" "$((strbytes / 1048576))" "$bpj ($bpj0)" "$nmed $nbest" "${ratio}x"
  echo "  ($edges dependencies; ninja peak RSS $(( $(cat "$dir/nr") / 1024 )) MiB; volley RSS of a 1-job file $((base_kb / 1024)) MiB; B/job in parentheses without it)"
  rm -rf "$dir"
done

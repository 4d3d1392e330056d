# bench/lib/scratch.sh - sourced by the bench scripts that run volley in a
# scratch folder of their own (bench/suite/reload.sh,
# bench/persist/resume_time.sh):
#   bench_scratch NAME  makes /tmp/volley-NAME-bench.XXXXXX ($w) and goes
#                       there; at exit the run started last ($pid) gets
#                       kill -9, the arena of the run in $w/r is removed,
#                       and so is the folder;
#   ms T0 T1            nanoseconds (date +%s%N) to milliseconds between;
#   waitfor PATTERN FILE  until a line of FILE matches (up to 60 s): 0,
#                       else 1.
bench_cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2> /dev/null
    local id
    id=$(sqlite3 "$w/r/volley.db" 'select lower(hex(run_id)) from run' 2> /dev/null)
    [ -n "$id" ] && rm -f "/dev/shm/volley-$id"
    rm -rf "$w"
}
bench_scratch() {
    w=$(mktemp -d "/tmp/volley-$1-bench.XXXXXX") || exit 1
    pid=
    trap bench_cleanup EXIT
    cd "$w" || exit 1
}
ms() { echo $((($2 - $1) / 1000000)); }
waitfor() {
    local i
    for i in $(seq 6000); do
        grep -q "$1" "$2" && return 0
        sleep 0.01
    done
    return 1
}

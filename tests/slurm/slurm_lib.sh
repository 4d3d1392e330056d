# tests/slurm/slurm_lib.sh - a single-host Slurm cluster of Debian's
# slurm-wlm, started by the test itself in its own temporary folder
# (research: ../shared/research/slurm.md): munged with its own socket, key,
# pid, log and seed files; slurmctld and one slurmd with their own ports,
# state, spool, pid and log files, and a slurm.conf that SLURM_CONF names.
# Nothing of the machine's own Slurm or munge is read or touched. Every
# daemon is started in the foreground of a background job, so its pid is
# ours, and stopped by that pid (never by name).
#
# Source it, then: slurm_start (exits 77 with the reason where a cluster
# cannot run here), slurm_wait_job ID, slurm_stop (also from EXIT traps).
# Variables: SL (the folder), SLURM_CONF (exported), SL_NODE.
set -u

SL_PIDS=()
SL_NODE=vn1

sl_skip() {
    echo "SKIP: $*"
    exit 77
}

# a free TCP port on 127.0.0.1
sl_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

slurm_start() {
    local b
    for b in munged slurmctld slurmd sbatch scontrol squeue scancel sinfo; do
        command -v "$b" > /dev/null || [ -x "/usr/sbin/$b" ] ||
            sl_skip "$b is not installed (make deps installs Debian's slurm-wlm and munge)"
    done
    [ "$(id -u)" = 0 ] || sl_skip "slurmd must run as root to start batch jobs (this test starts its own cluster)"
    id munge > /dev/null 2>&1 || sl_skip "no munge user (the munge package creates it)"
    export PATH="$PATH:/usr/sbin"
    SL=$(mktemp -d /tmp/volley-slurm.XXXXXX)
    chmod 711 "$SL"
    mkdir -p "$SL/munge" "$SL/state" "$SL/spool" "$SL/log"
    chown munge:munge "$SL/munge"
    chmod 711 "$SL/munge"
    # a key of our own, as munged wants it: the munge user's, mode 0400
    dd if=/dev/urandom of="$SL/munge/key" bs=1024 count=1 status=none
    chown munge:munge "$SL/munge/key"
    chmod 400 "$SL/munge/key"
    runuser -u munge -- munged -F --socket="$SL/munge/sock" --key-file="$SL/munge/key" \
        --pid-file="$SL/munge/pid" --log-file="$SL/munge/log" --seed-file="$SL/munge/seed" \
        --num-threads=2 > "$SL/log/munged.out" 2>&1 &
    SL_PIDS+=($!)
    local i
    for i in $(seq 100); do [ -S "$SL/munge/sock" ] && break; sleep 0.05; done
    [ -S "$SL/munge/sock" ] || { cat "$SL/log/munged.out" "$SL/munge/log" 2>/dev/null; slurm_stop; sl_skip "munged did not start"; }
    local cport dport
    cport=$(sl_free_port); dport=$(sl_free_port)
    while [ "$dport" = "$cport" ]; do dport=$(sl_free_port); done
    local cpus
    cpus=$(nproc --all)
    cat > "$SL/slurm.conf" <<CONF
ClusterName=volleytest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SL/munge/sock,cred_expire=10
StateSaveLocation=$SL/state
SlurmdSpoolDir=$SL/spool/%n
SlurmctldPidFile=$SL/slurmctld.pid
SlurmdPidFile=$SL/slurmd-%n.pid
SlurmctldLogFile=$SL/log/slurmctld.log
SlurmdLogFile=$SL/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1
SchedulerType=sched/builtin
KillWait=15
MinJobAge=300
InactiveLimit=0
OverTimeLimit=0
JobRequeue=1
NodeName=$SL_NODE NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$SL_NODE Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$SL/slurm.conf"
    mkdir -p "$SL/spool/$SL_NODE"
    slurmctld -D -i > "$SL/log/slurmctld.out" 2>&1 &
    SL_PIDS+=($!)
    slurmd -D -N "$SL_NODE" > "$SL/log/slurmd.out" 2>&1 &
    SL_PIDS+=($!)
    local st=""
    for i in $(seq 300); do
        st=$(sinfo -h -n "$SL_NODE" -o %t 2> /dev/null)
        [ "$st" = idle ] && return 0
        sleep 0.1
    done
    echo "--- the cluster did not come up (node state '$st')"
    tail -20 "$SL/log/slurmctld.log" "$SL/log/slurmd-$SL_NODE.log" "$SL/log/"*.out 2>/dev/null
    slurm_stop
    sl_skip "the single-host Slurm cluster did not come up here (logs above)"
}

# the state of job $1 as scontrol says it (COMPLETING until its processes
# are gone). A busy slurmctld may not answer (scontrol gives up after
# MessageTimeout, 10 s: seen on this machine under load, when the old
# version took the silence for "ended" and the checks read a run still
# going): asked again, for at most $2 s (default 60); "" if it never answers.
slurm_job_state() {
    local end=$((SECONDS + ${2:-60})) st
    while :; do
        st=$(scontrol show job -o "$1" 2> /dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2)
        [ -n "$st" ] && { echo "$st"; return 0; }
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.5
    done
}

# until job $1 has ended, its processes too (at most $2 s, default 300);
# says what it last saw when it gives up
slurm_wait_job() {
    local end=$((SECONDS + ${2:-300})) st=""
    while [ "$SECONDS" -lt "$end" ]; do
        st=$(slurm_job_state "$1" $((end - SECONDS)))
        case $st in
        "" | PENDING | RUNNING | CONFIGURING | COMPLETING | REQUEUED | RESIZING | SUSPENDED) ;;
        *)
            # an end must still be one 2 s later: a job between two
            # allocations (a requeue) was once taken for ended, by a state
            # this list does not name
            sleep 2
            local again
            again=$(slurm_job_state "$1" $((end - SECONDS)))
            if [ "$again" != "$st" ]; then
                echo "slurm_wait_job: job $1 was $st, then $again: not ended"
                continue
            fi
            echo "slurm_wait_job: job $1 ended $st after $((${2:-300} - (end - SECONDS))) s"
            return 0
            ;;
        esac
        sleep 0.1
    done
    echo "slurm_wait_job: job $1 still '${st:-no answer from slurmctld}' after ${2:-300} s"
    return 1
}

# cancels this cluster's jobs and waits for them to end, then stops the
# daemons by their pids (TERM, then KILL), and removes the folder
slurm_stop() {
    local p i
    if [ ${#SL_PIDS[@]} -gt 0 ] && [ -n "${SLURM_CONF:-}" ]; then
        scancel --quiet --user=root 2> /dev/null
        for i in $(seq 300); do
            [ -z "$(squeue -h -o %i 2> /dev/null)" ] && break
            sleep 0.1
        done
    fi
    for ((i = ${#SL_PIDS[@]} - 1; i >= 0; i--)); do
        p=${SL_PIDS[$i]}
        kill -TERM "$p" 2> /dev/null
    done
    for i in $(seq 50); do
        local alive=0
        for p in "${SL_PIDS[@]}"; do kill -0 "$p" 2> /dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${SL_PIDS[@]}"; do kill -KILL "$p" 2> /dev/null; done
    for p in "${SL_PIDS[@]}"; do wait "$p" 2> /dev/null; done
    SL_PIDS=()
    [ -n "${SL:-}" ] && [ -d "$SL" ] && rm -rf "$SL"
}

#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for trying `hydra/launcher=slurm` and for CI's cluster tests.
#
#   bash scripts/local-slurm.sh up       install (apt-get) what is missing, start munge, slurmctld, slurmd; wait until idle
#   bash scripts/local-slurm.sh status   the node as sinfo sees it (exit 0 when the cluster answers, 3 when not)
#   bash scripts/local-slurm.sh down     stop slurmctld, slurmd and munge
#
# Made for a Debian/Ubuntu machine without systemd where we are root (a container, a CI runner). Everything the
# daemons keep (state, spool, pid and log files) lives in one folder, $RNN_SWEEP_SLURM_DIR (default
# /tmp/rnn-sweep-slurm); the config is /etc/slurm/slurm.conf, where sbatch and sinfo look for it. A slurm.conf
# this script did not write (a real cluster's) is never touched.
set -euo pipefail

ROOT="${RNN_SWEEP_SLURM_DIR:-/tmp/rnn-sweep-slurm}"
CONF=/etc/slurm/slurm.conf
MARK="# Written by rnn-sweep's scripts/local-slurm.sh: a one-node cluster for trying the slurm launcher."
NODE="$(hostname -s)"
PARTITION=debug
UP_TIMEOUT_S=60

say() { echo "local-slurm: $*"; }
die() { echo "local-slurm: $*" >&2; exit 1; }

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v munged >/dev/null || missing+=(munge)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    ((${#missing[@]} == 0)) && return
    [[ $(id -u) == 0 ]] || die "needs root to install ${missing[*]} (or install them yourself and run again)"
    say "installing ${missing[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# MemTotal less 10% for the system, in MB: slurmd drains a node whose RealMemory is more than it finds.
real_memory_mb() { awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo; }

write_conf() {
    if [[ -e $CONF ]] && ! grep -qxF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script (a real cluster's config?); leaving it alone"
    fi
    mkdir -p "$(dirname "$CONF")" "$ROOT/state" "$ROOT/spool"
    local cpus memory
    cpus="$(nproc --all)"
    memory="$(real_memory_mb)"
    cat >"$CONF.tmp" <<EOF
$MARK
ClusterName=rnnsweep
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$ROOT/slurmctld.pid
SlurmdPidFile=$ROOT/slurmd.pid
SlurmctldLogFile=$ROOT/slurmctld.log
SlurmdLogFile=$ROOT/slurmd.log
# No cgroups: processes are tracked through /proc, and tasks are not bound to cores.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Cores and memory are what jobs ask for (cpus_per_task, mem_gb); a job that asks for no memory gets its share.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((memory / cpus))
# Memory use is sampled every 2 s and a step over its --mem is killed: the job ends OUT_OF_MEMORY.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=2
JobAcctGatherParams=OverMemoryKill
# No accounting storage (no slurmdbd): job states are read from slurmctld (squeue) while it remembers them.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
ReturnToService=2
# A job past its time limit is killed 5 s after SIGTERM (default 30 s).
KillWait=5
NodeName=$NODE NodeHostname=$(hostname) NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

running() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return
    fi
    # munged refuses to run as root: it runs as the munge user, with its socket and pid file in /run/munge.
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        install -d -o munge -g munge -m 0700 /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    runuser -u munge -- /usr/sbin/munged
}

node_state() { sinfo --noheader --nodes="$NODE" --format=%T 2>/dev/null | head -1; }

start_slurm() {
    # -i: start even when the saved state is unreadable (a machine that was reset while the cluster ran).
    # The state is kept between runs so job ids keep growing: submitit names its files after them.
    running "$ROOT/slurmctld.pid" || slurmctld -i
    running "$ROOT/slurmd.pid" || slurmd -N "$NODE"
    local waited=0 state=""
    while ((waited < UP_TIMEOUT_S)); do
        state="$(node_state)"
        case "$state" in
            idle | mixed | allocated) return ;;
            drain* | down*) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        sleep 1
        waited=$((waited + 1))
    done
    die "the node $NODE is still '${state:-unknown}' after ${UP_TIMEOUT_S}s; see $ROOT/slurmctld.log and $ROOT/slurmd.log"
}

up() {
    install_packages
    write_conf
    start_munge
    start_slurm
    say "up: partition $PARTITION, node $NODE ($(nproc --all) CPUs, $(real_memory_mb) MB); files in $ROOT"
    sinfo
}

down() {
    if scontrol ping >/dev/null 2>&1; then
        scontrol shutdown >/dev/null
    fi
    local pidfile waited
    for pidfile in "$ROOT/slurmctld.pid" "$ROOT/slurmd.pid" /run/munge/munged.pid; do
        if [[ $pidfile == */munged.pid ]] && running "$pidfile"; then
            kill "$(cat "$pidfile")"
        fi
        waited=0
        while running "$pidfile" && ((waited < 30)); do
            sleep 1
            waited=$((waited + 1))
        done
        if running "$pidfile"; then die "$(basename "$pidfile" .pid) did not stop"; fi
    done
    say "down"
}

status() {
    if ! command -v sinfo >/dev/null; then
        say "SLURM is not installed (no sinfo); start it with: bash scripts/local-slurm.sh up"
        exit 3
    fi
    if ! sinfo --noheader >/dev/null 2>&1; then
        say "the cluster does not answer; start it with: bash scripts/local-slurm.sh up"
        exit 3
    fi
    sinfo
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) die "usage: $0 up|down|status" ;;
esac

#!/usr/bin/env bash
# A single-node SLURM cluster for the tests (Debian's slurm-wlm and munge), on a machine whose PID 1
# need not be systemd. Run as root.
#
#   eval "$(.ci/slurm.sh start)"   # installs if needed, starts munged, slurmctld, slurmd; prints
#                                  # `export SLURM_CONF=...` (config and state in a fresh temporary folder)
#   .ci/slurm.sh stop              # stops the daemons of $SLURM_CONF's folder (by pid file), removes it
#
# Clusters started at the same time on one machine (two engineers, a test and CI) are independent:
# each has its own free ports, its own state folder and its own munged (its own socket, named in
# slurm.conf's AuthInfo); only the shared installation and munge key are made under a lock.
set -euo pipefail

log() { echo "slurm.sh: $*" >&2; }

stop() {
    [ -n "${SLURM_CONF:-}" ] || { log "SLURM_CONF is not set: nothing to stop"; return 0; }
    STATE="$(dirname "$SLURM_CONF")"
    [ -d "$STATE" ] || return 0
    for name in slurmd slurmctld munged; do
        pidfile="$STATE/$name.pid"
        [ -f "$pidfile" ] || continue
        pid="$(cat "$pidfile")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do  # a dead daemon may linger as a zombie: wait for it, then move on
            state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)"
            case "$state" in gone|Z|X) break ;; esac
            sleep 0.1
        done
        rm -f "$pidfile"
    done
    rm -rf "$STATE"
    log "stopped"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start() {
    exec 9>"${SLIDE_BENCH_SLURM_LOCK:-/run/lock/slide-bench-slurm.lock}"
    flock 9  # one installation and one key creation at a time
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
        log "installing slurm-wlm and munge"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) >&2
    fi
    [ -f /etc/munge/munge.key ] || runuser -u munge -- mungekey --create >&2
    exec 9>&-
    STATE="$(mktemp -d /tmp/slide-bench-slurm.XXXXXX)"
    chmod 755 "$STATE"  # munged (user munge) must reach its socket folder
    mkdir -p "$STATE"/{spool,state,log,munge}
    chown munge:munge "$STATE/munge" && chmod 711 "$STATE/munge"
    SOCKET="$STATE/munge/munge.socket"
    runuser -u munge -- munged --socket="$SOCKET" --pid-file="$STATE/munge/munged.pid" \
        --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed" >&2
    cp "$STATE/munge/munged.pid" "$STATE/munged.pid"
    cpus="$(nproc)"
    mem_mb="$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)"
    cat > "$STATE/slurm.conf" <<EOF
ClusterName=slidebench
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
    export SLURM_CONF="$STATE/slurm.conf"
    slurmctld -i >&2
    slurmd -N localhost >&2
    for _ in $(seq 100); do
        if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
            log "node idle ($cpus CPUs, $mem_mb MB)"
            echo "export SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.2
    done
    log "the node did not come up; logs:"
    tail -n 20 "$STATE"/log/*.log >&2 || true
    return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the tests of `reproduce --executor slurm` and for
# developers who want to try it: Debian's slurmctld + slurmd, munge for authentication, and real
# accounting (slurmdbd + MariaDB) so that `sacct` answers - without it submitit cannot see a
# cancelled job's state and waits forever.
#
#   .ci/slurm-cluster.sh install   install what is missing (apt, needs root and the package mirror)
#   .ci/slurm-cluster.sh start     install what is missing, configure, start, wait for the node
#   .ci/slurm-cluster.sh status    exit 0 when the node answers
#   .ci/slurm-cluster.sh stop      stop every daemon this script started
#   eval "$(.ci/slurm-cluster.sh env)"   point sinfo/sbatch/squeue/sacct at this cluster
#
# Everything lives in $SAM_BENCH_SLURM_DIR (default /tmp/sam-bench-slurm): slurm.conf, logs, state, the
# database, pid files. Containers without systemd or a cgroup freezer need proctrack/linuxproc and
# task/none. Daemons are told to bind to loopback (CommunicationParameters=NoInAddrAny, MariaDB on
# 127.0.0.1): slurmd, slurmdbd and MariaDB listen on 127.0.0.1 only; Debian 12's slurmctld still listens
# on every address (port 6817), so run this where that port is not reachable from outside: `.ci/run`
# runs it in a network namespace whose only interface is loopback. Only munged uses the system paths
# (/etc/munge/munge.key, /run/munge), as slurm expects.
set -Eeuo pipefail

STATE=${SAM_BENCH_SLURM_DIR:-/tmp/sam-bench-slurm}
CONF=$STATE/slurm.conf
NODE=$(hostname -s)
DB_PORT=${SAM_BENCH_SLURM_DB_PORT:-3316}
export SLURM_CONF=$CONF

log() { echo "slurm-cluster: $*" >&2; }

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    [ ${#missing[@]} -eq 0 ] && return
    log "installing ${missing[*]}"
    apt-get update -qq
    # policy-rc.d-less containers would try to start the services: the packages' own start is not wanted
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

write_configs() {
    mkdir -p "$STATE"/{log,ctld,spool,db,run}
    local cpus mem_mb
    cpus=$(nproc)
    mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    cat > "$CONF" <<EOF
ClusterName=sambench
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CommunicationParameters=NoInAddrAny
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    # slurmdbd reads slurmdbd.conf from SLURM_CONF's folder; it refuses one others can read
    cat > "$STATE/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
CommunicationParameters=NoInAddrAny
SlurmUser=root
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$STATE/slurmdbd.conf"
}

start_munge() {
    if pgrep -x munged >/dev/null; then return; fi
    [ -f /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    runuser -u munge -- munged
    echo started > "$STATE/run/munged.ours"
}

start_mariadb() {
    local sock=$STATE/run/mysqld.sock
    if [ ! -d "$STATE/db/mysql" ]; then
        mariadb-install-db --user=root --datadir="$STATE/db" --auth-root-authentication-method=socket >"$STATE/log/mariadb-install.log" 2>&1
    fi
    mariadbd --user=root --datadir="$STATE/db" --socket="$sock" --bind-address=127.0.0.1 --port="$DB_PORT" \
        --pid-file="$STATE/run/mariadb.pid" --log-error="$STATE/log/mariadb.log" >/dev/null 2>&1 &
    for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.2; done
    mariadb --socket="$sock" -uroot <<EOF
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2; shift 2
    local deadline=$((SECONDS + seconds))  # a deadline, not a count of tries: one try can take 10 s
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then log "timed out after $seconds s waiting for $what"; return 1; fi
        sleep 0.2
    done
}

show_logs() {  # a start that failed says why: the end of every daemon's log (CI keeps only the output)
    local f
    for f in "$STATE"/log/*.log; do
        [ -s "$f" ] || continue
        log "--- the end of $f"
        tail -n 15 "$f" >&2
    done
}

clear_stale() {  # pid files and sockets left by daemons that are gone (a stop that never ran) mislead a start
    local f
    for f in "$STATE"/run/*.pid; do
        [ -f "$f" ] || continue
        kill -0 "$(cat "$f")" 2>/dev/null || { log "removing stale $f"; rm -f "$f"; }
    done
    if [ -S "$STATE/run/mysqld.sock" ] && [ ! -f "$STATE/run/mariadb.pid" ]; then rm -f "$STATE/run/mysqld.sock"; fi
    if [ -f "$STATE/run/munged.ours" ] && ! pgrep -x munged >/dev/null; then rm -f "$STATE/run/munged.ours"; fi
}

# each query has its own limit: a client whose daemon is half up can wait forever
node_idle() { timeout 10 sinfo -h -n "$NODE" -o %T 2>/dev/null | grep -qx idle; }
accounting_up() { timeout 10 sacctmgr -n list cluster format=cluster 2>/dev/null | grep -q sambench; }

start() {
    if status >/dev/null 2>&1; then log "already running"; return; fi
    install_packages
    write_configs
    clear_stale
    # slurmdbd and slurmctld resolve the node's name: a container whose name is in no hosts file fails there
    getent hosts "$NODE" >/dev/null || { log "adding $NODE to /etc/hosts"; echo "127.0.0.1 $NODE" >> /etc/hosts; }
    trap 'show_logs' ERR
    start_munge
    start_mariadb
    slurmdbd
    wait_for 30 slurmdbd timeout 10 sacctmgr -n list cluster
    slurmctld
    wait_for 30 "the cluster's registration" accounting_up
    slurmd
    wait_for 60 "node $NODE to be idle" node_idle
    trap - ERR
    log "node $NODE idle ($(nproc) CPUs); SLURM_CONF=$CONF"
}

stop_pid() {  # stop_pid NAME PIDFILE: TERM, then KILL after 10 s
    local name=$1 pidfile=$2 pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && { log "$name did not stop; killing it"; kill -9 "$pid"; }
    fi
    rm -f "$pidfile"
}

stop() {
    stop_pid slurmd "$STATE/run/slurmd.pid"
    stop_pid slurmctld "$STATE/run/slurmctld.pid"
    stop_pid slurmdbd "$STATE/run/slurmdbd.pid"
    stop_pid mariadb "$STATE/run/mariadb.pid"
    if [ -f "$STATE/run/munged.ours" ]; then
        stop_pid munged /run/munge/munged.pid
        rm -f "$STATE/run/munged.ours"
    fi
    log "stopped"
}

status() { [ -f "$CONF" ] && node_idle_or_busy; }
node_idle_or_busy() { timeout 10 sinfo -h -n "$NODE" -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

case "${1:-}" in
    install) install_packages ;;
    start) start ;;
    stop) stop ;;
    status) if status; then echo "up (SLURM_CONF=$CONF)"; else echo "down"; exit 1; fi ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac

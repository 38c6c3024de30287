#!/usr/bin/env bash
# Stands up (or tears down) a throw-away single-node SLURM cluster on this
# Debian 12 machine, as root, without systemd, for tests and trials of the
# batch scripts beside this file.
#
#   cluster.sh up     [SCRATCH]   munged, slurmctld, slurmd; waits for the node to be idle
#   cluster.sh down   [SCRATCH]   scancel all, wait for an empty queue, stop daemons, wipe SCRATCH
#   cluster.sh status [SCRATCH]   daemons, sinfo, squeue; exit 0 only when the cluster is up
#   cluster.sh env    [SCRATCH]   prints 'export SLURM_CONF=...' for eval
#
# SCRATCH (default $GRPO_SLURM_SCRATCH or /tmp/grpo-slurm) holds everything:
# slurm.conf, munge socket/pid/log/seed, slurmctld state, slurmd spool, pid
# files, logs and the job-completion file. Nothing is written to /etc, /run or
# /var. Client commands find the cluster through SLURM_CONF=SCRATCH/slurm.conf
# (`eval "$(cluster.sh env)"`).
#
# Layout choices (see shared/SLURM-NOTES.md): no cgroups (proctrack/linuxproc,
# task/none, jobacct_gather/none); NodeName = `hostname -s` at 127.0.0.1 so no
# DNS is involved; CPUs=4 with SlurmdParameters=config_overrides so 3-4 rank
# jobs fit on a 2-core machine; MpiDefault=pmix (Debian's Open MPI only speaks
# PMIx); jobcomp/filetxt so `sacct -c` reports finished jobs without slurmdbd.
# Ports: SLURM_CTLD_PORT (6817) and SLURM_SLURMD_PORT (6818) may override.
#
# Packages: slurmctld slurmd slurm-client munge (WITH_SLURM=1 bash deploy/install-deps.sh).
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*"; }

cmd=${1:-}
scratch=${2:-${GRPO_SLURM_SCRATCH:-/tmp/grpo-slurm}}
case "$cmd" in up|down|status|env) ;; *)
  echo "usage: $0 {up|down|status|env} [SCRATCH_DIR]" >&2; exit 2 ;;
esac
[[ "$scratch" = /* ]] || scratch="$PWD/$scratch"
scratch=${scratch%/}
if [ -z "$scratch" ] || [ "$scratch" = / ]; then die "refusing scratch dir '/'"; fi

conf="$scratch/slurm.conf"
marker="$scratch/.grpo-slurm-scratch"   # only a folder with this file is ever wiped
ctld_port=${SLURM_CTLD_PORT:-6817}
slurmd_port=${SLURM_SLURMD_PORT:-6818}
node=$(hostname -s)
export SLURM_CONF="$conf"

if [ "$cmd" = env ]; then echo "export SLURM_CONF=$conf"; exit 0; fi

# pid_alive FILE NAME: the pid in FILE is running (not a zombie waiting to be
# reaped) and its command is NAME (guards against a recycled pid).
pid_alive() {
  local f=$1 name=$2 pid stat
  [ -s "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
munged_pid="$scratch/munge/munged.pid"
ctld_pid="$scratch/run/slurmctld.pid"
slurmd_pid="$scratch/run/slurmd.pid"

# stop_daemon FILE NAME: SIGTERM, wait up to 15 s, then SIGKILL.
stop_daemon() {
  local f=$1 name=$2 pid
  pid_alive "$f" "$name" || return 0
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    pid_alive "$f" "$name" || { say "stopped $name (pid $pid)"; return 0; }
    sleep 0.1
  done
  say "$name (pid $pid) ignored SIGTERM for 15 s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

show_logs() {
  local l
  for l in "$scratch"/log/slurmctld.log "$scratch"/log/slurmd.log "$scratch"/munge/munged.log; do
    [ -f "$l" ] || continue
    echo "----- last lines of $l" >&2
    tail -n 15 "$l" >&2
  done
}

need_root_and_packages() {
  [ "$(id -u)" = 0 ] || die "must run as root (munged, slurmd and SlurmUser=root need it)"
  local b missing=()
  for b in munged slurmctld slurmd sinfo squeue scancel sbatch; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing+=("$b")
  done
  [ ${#missing[@]} -eq 0 ] ||
    die "missing ${missing[*]}: install with 'WITH_SLURM=1 bash deploy/install-deps.sh'"
  id munge >/dev/null 2>&1 || die "no 'munge' user: is the munge package installed?"
  [ -r /etc/munge/munge.key ] || die "no /etc/munge/munge.key: reinstall the munge package"
}

write_conf() {
  cat > "$conf" <<EOF
# Written by deploy/slurm/cluster.sh: a throw-away single-node cluster.
ClusterName=grpotest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CryptoType=crypto/munge
AuthInfo=socket=$scratch/munge/munge.socket
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool/slurmd
SlurmctldPidFile=$ctld_pid
SlurmdPidFile=$slurmd_pid
SlurmctldLogFile=$scratch/log/slurmctld.log
SlurmdLogFile=$scratch/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$scratch/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
MailProg=/bin/true
ReturnToService=2
MinJobAge=60
JobRequeue=1
SlurmdParameters=config_overrides
EnforcePartLimits=ALL
NodeName=$node NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

cluster_up() {
  need_root_and_packages
  if pid_alive "$munged_pid" munged && pid_alive "$ctld_pid" slurmctld && pid_alive "$slurmd_pid" slurmd; then
    say "already up in $scratch"
    wait_idle
    echo "export SLURM_CONF=$conf"
    return 0
  fi
  if [ -e "$scratch" ] && [ ! -f "$marker" ] && [ -n "$(ls -A "$scratch" 2>/dev/null)" ]; then
    die "$scratch exists, is not empty and was not made by cluster.sh: pick another scratch dir"
  fi
  # a half-started cluster from an earlier failure: stop its leftovers first
  stop_daemon "$slurmd_pid" slurmd
  stop_daemon "$ctld_pid" slurmctld
  stop_daemon "$munged_pid" munged
  local p
  for p in "$ctld_port" "$slurmd_port"; do
    port_busy "$p" && die "TCP port $p is in use (another slurmctld/slurmd?): stop it, or set SLURM_CTLD_PORT / SLURM_SLURMD_PORT"
  done

  # fresh state every time: job ids restart at 1 and nothing old is replayed
  rm -rf "$scratch"/{state,spool,run,log,munge}
  mkdir -p "$scratch"/{state,spool/slurmd,run,log,munge}
  touch "$marker"
  chmod 0755 "$scratch"
  chown munge:munge "$scratch/munge"
  chmod 0755 "$scratch/munge"   # munged requires the socket dir be world-executable
  write_conf

  # munged as the munge user; its socket, pid, log and seed live in SCRATCH/munge
  runuser -u munge -- /usr/sbin/munged \
    --socket="$scratch/munge/munge.socket" --pid-file="$munged_pid" \
    --log-file="$scratch/munge/munged.log" --seed-file="$scratch/munge/munged.seed" ||
    { show_logs; die "munged failed to start"; }
  wait_for 10 "munged socket" test -S "$scratch/munge/munge.socket"

  slurmctld -f "$conf" || { show_logs; cluster_stop_daemons; die "slurmctld failed to start"; }
  slurmd -f "$conf" || { show_logs; cluster_stop_daemons; die "slurmd failed to start"; }
  wait_idle
  say "up: node $node idle, 4 CPUs, partition debug, scratch $scratch"
  echo "export SLURM_CONF=$conf"
}

# wait_for SECONDS WHAT CMD...: polls CMD every 0.2 s until it succeeds.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      show_logs
      cluster_stop_daemons
      die "timed out after ${secs}s waiting for $what (logs above; scratch kept in $scratch)"
    fi
    sleep 0.2
  done
}

node_idle() { [ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ]; }
wait_idle() { wait_for "${CLUSTER_UP_TIMEOUT:-30}" "node $node to be idle (sinfo)" node_idle; }

cluster_stop_daemons() {
  stop_daemon "$slurmd_pid" slurmd
  stop_daemon "$ctld_pid" slurmctld
  stop_daemon "$munged_pid" munged
}

cluster_down() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  if [ -e "$scratch" ] && [ ! -f "$marker" ]; then
    die "$scratch was not made by cluster.sh: not touching it"
  fi
  if pid_alive "$ctld_pid" slurmctld; then
    local ids
    ids=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ')
    if [ -n "${ids// /}" ]; then
      say "cancelling jobs: $ids"
      # shellcheck disable=SC2086
      scancel $ids 2>/dev/null || true
    fi
    # running jobs must end before slurmd goes: stopping slurmd does not kill them
    local deadline=$((SECONDS + ${CLUSTER_DOWN_TIMEOUT:-60}))
    while [ -n "$(squeue -h -o %A 2>/dev/null)" ]; do
      if [ $SECONDS -ge $deadline ]; then
        say "queue still not empty after ${CLUSTER_DOWN_TIMEOUT:-60}s:"; squeue >&2 || true
        break
      fi
      sleep 0.5
    done
  elif pid_alive "$slurmd_pid" slurmd; then
    say "warning: slurmctld is not running, so jobs cannot be cancelled; any job" \
        "processes (slurmstepd and its tasks) left running must be stopped by hand"
  fi
  cluster_stop_daemons
  if [ -f "$marker" ]; then rm -rf "$scratch"; say "wiped $scratch"; fi
  say "down"
}

cluster_status() {
  local ok=0 d f
  for d in munged:$munged_pid slurmctld:$ctld_pid slurmd:$slurmd_pid; do
    f=${d#*:}; d=${d%%:*}
    if pid_alive "$f" "$d"; then echo "$d: running (pid $(cat "$f"))"; else echo "$d: not running"; ok=1; fi
  done
  if [ $ok = 0 ]; then
    echo "SLURM_CONF=$conf"
    sinfo || ok=1
    squeue || ok=1
  fi
  return $ok
}

case "$cmd" in
  up) cluster_up ;;
  down) cluster_down ;;
  status) cluster_status ;;
esac

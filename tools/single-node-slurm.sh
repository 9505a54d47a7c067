#!/usr/bin/env bash
# A real single-node Slurm (Debian 12's slurm-wlm 22.05) on localhost, without systemd.
# Used by tests/runners/test_slurm_e2e.py and CI; also handy to try `fairhep submit` on a laptop.
#
#   tools/single-node-slurm.sh start   # prints `export SLURM_CONF=...`
#   tools/single-node-slurm.sh stop    # stops the daemons it started (by their pid files)
#                                      # and ends any job step of this Slurm left running
#
# Environment: SLURM_ROOT (state, logs, config; default /tmp/fairhep-slurm),
# SLURMCTLD_PORT / SLURMD_PORT (default 6817 / 6818: choose others to run beside another
# Slurm), SLURM_MAX_ARRAY_SIZE (MaxArraySize; unset = Slurm's default of 1001; the tests make
# it tiny so that fairhep has to split arrays). Installs slurmctld, slurmd, slurm-client and munge with apt-get if missing (root).
set -euo pipefail
ROOT=${SLURM_ROOT:-/tmp/fairhep-slurm}
CTLD_PORT=${SLURMCTLD_PORT:-6817}
D_PORT=${SLURMD_PORT:-6818}
export SLURM_CONF="$ROOT/etc/slurm.conf"

# A process that runs (a zombie does not: where nothing reaps the daemons, kill -0 says yes).
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${state:0:1}" != Z ]
}

stop() {
  # Cancel what is still queued first: slurmstepd outlives slurmd and would keep jobs running.
  # A loaded controller may fail a call: cancel again until squeue *succeeds* with an empty
  # queue (a failed squeue prints nothing too), for 15 s at most; kill_steps does the rest.
  local q end=$((SECONDS + 15))
  if [ -s "$ROOT/run/slurmctld.pid" ] && alive "$(cat "$ROOT/run/slurmctld.pid")"; then
    while [ "$SECONDS" -lt "$end" ]; do
      timeout 5 scancel --user "$(id -un)" 2>/dev/null || true
      q=$(timeout 5 squeue --noheader --user "$(id -un)" 2>/dev/null) && [ -z "$q" ] && break
      sleep 0.5
    done
  fi
  for name in slurmd slurmctld; do
    pidfile="$ROOT/run/$name.pid"
    if [ -s "$pidfile" ]; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
  # munged only if this script started it (it shares one daemon with other users otherwise)
  if [ -s "$ROOT/run/munged.started" ]; then
    kill "$(cat "$ROOT/run/munged.started")" 2>/dev/null || true
    rm -f "$ROOT/run/munged.started"
  fi
  kill_steps
}

# The slurmstepd processes of this Slurm's jobs: each keeps slurmd's log ($ROOT/log) as its
# working directory. Other Slurms' steps on this machine (another SLURM_ROOT) are left alone.
our_steps() {
  local pid
  for pid in $(pgrep -x slurmstepd 2>/dev/null); do
    [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$ROOT/log" ] && echo "$pid"
  done
  return 0
}

# slurmstepd outlives slurmd: when scancel could not reach a loaded controller, or a failed
# test stopped early, a job's step would run on as an orphan. Each step runs in a session of
# its own with its job's processes: end the whole session, TERM then KILL.
kill_steps() {
  local steps pid sid mine
  steps=$(our_steps)
  [ -z "$steps" ] && return 0
  mine=$(ps -o sid= -p $$ | tr -d ' ')
  for sig in TERM KILL; do
    for pid in $steps; do
      sid=$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')
      if [ -n "$sid" ] && [ "$sid" != 0 ] && [ "$sid" != "$mine" ]; then
        pkill "-$sig" -s "$sid" 2>/dev/null || true
      fi
    done
    for _ in $(seq 50); do [ -z "$(our_steps)" ] && return 0; sleep 0.1; done
  done
  echo "single-node-slurm: slurmstepd still running: $(our_steps | tr '\n' ' ')" >&2
  return 6
}

start() {
  export DEBIAN_FRONTEND=noninteractive
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
      || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      echo "single-node-slurm: Slurm is not installed and cannot be (needs root and apt-get)" >&2
      exit 3
    fi
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
             slurmctld slurmd slurm-client munge >/dev/null; }
  fi
  mkdir -p "$ROOT"/{etc,state/ctld,state/d,run,log}
  NCPU=$(nproc)
  MEM_MB=$(( $(awk '/MemAvailable/{print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
  cat > "$SLURM_CONF" <<CONF
ClusterName=ci
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$D_PORT
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$ROOT/log/jobcomp.txt
StateSaveLocation=$ROOT/state/ctld
SlurmdSpoolDir=$ROOT/state/d
SlurmctldPidFile=$ROOT/run/slurmctld.pid
SlurmdPidFile=$ROOT/run/slurmd.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
ReturnToService=2
MinJobAge=3600
KillWait=5
${SLURM_MAX_ARRAY_SIZE:+MaxArraySize=$SLURM_MAX_ARRAY_SIZE}
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  # munge: the Debian postinst generates a key; create one if missing
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  if ! munge -n >/dev/null 2>&1; then  # `munge -n`, not pgrep: a stale daemon may linger
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
    cat /run/munge/munged.pid > "$ROOT/run/munged.started" 2>/dev/null || true
  fi
  munge -n >/dev/null 2>&1 || { echo "single-node-slurm: munged does not answer" >&2; exit 4; }
  slurmctld            # daemonizes; pid in $ROOT/run/slurmctld.pid
  slurmd -N localhost  # -N: node name independent of `hostname`
  for _ in $(seq 150); do
    sinfo -h -o %t 2>/dev/null | grep -qx idle && break
    sleep 0.2
  done
  if ! sinfo -h -o %t 2>/dev/null | grep -qx idle; then
    echo "single-node-slurm: the node did not become idle; see $ROOT/log/" >&2
    exit 5
  fi
  echo "export SLURM_CONF=$SLURM_CONF"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Starts (or stops) a one-node Slurm cluster on localhost with all state under a directory:
#   testdata/slurm/cluster.sh start DIR   -> prints "export SLURM_CONF=..." on success
#   testdata/slurm/cluster.sh stop DIR
# Needs root (munged and slurmd run as root here) and Debian's slurmctld, slurmd, munge.
set -euo pipefail
cmd=$1 W=$2
case "$cmd" in
stop)
  for p in slurmd slurmctld munged; do
    if [ -f "$W/$p.pid" ]; then kill "$(cat "$W/$p.pid")" 2>/dev/null || true; fi
  done
  sleep 1
  for p in slurmd slurmctld munged; do
    if [ -f "$W/$p.pid" ]; then kill -9 "$(cat "$W/$p.pid")" 2>/dev/null || true; rm -f "$W/$p.pid"; fi
  done
  exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
mkdir -p "$W/state" "$W/spool" "$W/munge"
chmod 700 "$W/munge"
host=$(hostname -s)
# free ports: slurm's defaults may be taken by another test run
port=$((20000 + RANDOM % 20000))
dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$W/munge/munge.key"
munged --force --key-file="$W/munge/munge.key" --socket="$W/munge/munge.sock" \
  --pid-file="$W/munged.pid" --log-file="$W/munged.log" --seed-file="$W/munge/seed"
cpus=$(nproc)
cat > "$W/slurm.conf" <<CONF
ClusterName=omnitui
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$W/munge/munge.sock
CredType=cred/munge
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=sched_interval=1
ReturnToService=2
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=omnitui Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF="$W/slurm.conf"
slurmctld -f "$W/slurm.conf"
slurmd -f "$W/slurm.conf"
for _ in $(seq 1 30); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "export SLURM_CONF=$W/slurm.conf"
    exit 0
  fi
  sleep 1
done
echo "slurm did not come up; logs:" >&2
tail -20 "$W/slurmctld.log" "$W/slurmd.log" "$W/munged.log" >&2 || true
"$0" stop "$W"
exit 1

#!/usr/bin/env bash
# A private single-node Slurm cluster on this machine, to try scripts/grade_array.sbatch
# (tests/test_instructor_shards.py runs the array on it when Slurm is installed).
# Needs root and Debian's packages: apt-get install slurm-wlm munge
#
#   eval "$(scripts/slurm_single_node.sh start /tmp/slurm)"  # exports SLURM_CONF
#   sbatch ...; squeue; sinfo
#   scripts/slurm_single_node.sh stop /tmp/slurm
#
# Everything lives in the folder given: its own munge key and socket, state, logs, and ports
# 16817/16818, so a system Slurm or munge is neither used nor disturbed.
set -euo pipefail
cmd="${1:?start DIR | stop DIR}"
dir="$(realpath -m "${2:?start DIR | stop DIR}")"

stop() {
    for name in slurmd slurmctld munged; do
        if [ -f "$dir/$name.pid" ]; then
            kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
            rm -f "$dir/$name.pid"
        fi
    done
}

if [ "$cmd" = stop ]; then
    stop
    exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
for tool in munged slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null || { echo "$0: $tool missing: apt-get install slurm-wlm munge" >&2; exit 1; }
done
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
chmod 700 "$dir"
head -c 1024 /dev/urandom >"$dir/munge.key"
chmod 600 "$dir/munge.key"
munged --force --key-file="$dir/munge.key" --socket="$dir/munge.sock" \
    --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munged.seed"
host="$(hostname -s)"
cpus="$(nproc)"
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))  # MB, half the machine
cat >"$dir/slurm.conf" <<CONF
ClusterName=single
SlurmctldHost=$host
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$dir/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerParameters=kill_invalid_depend
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld
slurmd
for _ in $(seq 60); do
    if [ "$(sinfo -h -o %t 2>/dev/null)" = idle ]; then
        echo "export SLURM_CONF=$dir/slurm.conf"
        exit 0
    fi
    sleep 0.5
done
echo "$0: the node did not come up; logs in $dir/log" >&2
stop
exit 1

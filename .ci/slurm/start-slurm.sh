#!/usr/bin/env bash
# Start a single-node SLURM cluster on localhost: munged, (mariadb + slurmdbd), slurmctld, slurmd.
# Verified recipe: ../../../shared/notes/slurm-in-ci.md (Debian 12, SLURM 22.05, as root, no systemd/cgroups).
#
# Environment:
#   SLURM_TEST_DIR    state, spool, logs, pid files and generated configs (default /tmp/slurm)
#   SLURM_ACCOUNTING  1 = mariadb + slurmdbd, so `sacct` works (the plugin's default status command, as on
#                     real clusters; default 1); 0 = no accounting (then use slurm-status-command: squeue)
#   SLURM_FAKE_GPUS   1 = advertise 3 fake GPUs (gpu:h100:2, gpu:a100:1) backed by dummy char devices, so
#                     jobs requesting --gpus/--gres schedule and run (default 1)
# Always pair with stop-slurm.sh (e.g. `trap .ci/slurm/stop-slurm.sh EXIT`); it stops daemons by PID.
set -euo pipefail
S=${SLURM_TEST_DIR:-/tmp/slurm}
ACCOUNTING=${SLURM_ACCOUNTING:-1}
FAKE_GPUS=${SLURM_FAKE_GPUS:-1}
mkdir -p "$S"/{state,spool,log,etc} /etc/slurm

# --- munge: authentication between the daemons and the client commands --------------------------------
mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
chmod 0755 /run/munge   # munged (user munge) cannot write its pid file into a root-owned dir
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
runuser -u munge -- /usr/sbin/munged   # forks; pid in /run/munge/munged.pid
for _ in $(seq 50); do munge -n </dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done

# --- slurm.conf pieces -------------------------------------------------------------------------------
if [ "$ACCOUNTING" = 1 ]; then
  ACCT_CONF="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux"
else
  # Without slurmdbd, sacct fails (rc=1) and the plugin would poll forever: use squeue in the profile.
  ACCT_CONF="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$S/log/jobcomp.txt"
fi
NODECONF=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //')   # the real CPUs=.. RealMemory=..
GRES_CONF=""
rm -f /etc/slurm/gres.conf
if [ "$FAKE_GPUS" = 1 ]; then
  # slurmd drops GPUs without File=, and rejects regular files: dummy char devices (major 195 = nvidia).
  mkdir -p "$S/fakedev"
  for i in 0 1 2; do [ -e "$S/fakedev/gpu$i" ] || mknod "$S/fakedev/gpu$i" c 195 "$i"; done
  GRES_CONF="GresTypes=gpu"
  # AccountingStorageTRES=gres/gpu without slurmdbd is fatal in slurmctld.
  [ "$ACCOUNTING" = 1 ] && GRES_CONF="$GRES_CONF
AccountingStorageTRES=gres/gpu,gres/gpu:h100,gres/gpu:a100"
  NODECONF="$NODECONF Gres=gpu:h100:2,gpu:a100:1"
  printf '%s\n' "AutoDetect=off" \
    "NodeName=localhost Name=gpu Type=h100 File=$S/fakedev/gpu[0-1]" \
    "NodeName=localhost Name=gpu Type=a100 File=$S/fakedev/gpu2" >"$S/etc/gres.conf"
  ln -sfn "$S/etc/gres.conf" /etc/slurm/gres.conf
fi
cat >"$S/etc/slurm.conf" <<CONF
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
$ACCT_CONF
$GRES_CONF
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
MinJobAge=300
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 $NODECONF State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# REQUIRED at this fixed path: the jobstep plugin drops SLURM_CONF before its inner srun.
ln -sfn "$S/etc/slurm.conf" /etc/slurm/slurm.conf
export SLURM_CONF=/etc/slurm/slurm.conf

# --- accounting: mariadb + slurmdbd, cluster/account/user "ci" -----------------------------------------
if [ "$ACCOUNTING" = 1 ]; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
  /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
    --pid-file=/run/mysqld/mariadbd.pid >"$S/log/mariadb.log" 2>&1 &
  for _ in $(seq 150); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.2; done
  mariadb -e "DROP DATABASE IF EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmci';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  printf '%s\n' AuthType=auth/munge DbdHost=localhost SlurmUser=root \
    StorageType=accounting_storage/mysql StorageHost=localhost StorageUser=slurm \
    StoragePass=slurmci StorageLoc=slurm_acct_db "PidFile=$S/slurmdbd.pid" \
    "LogFile=$S/log/slurmdbd.log" >"$S/etc/slurmdbd.conf"
  chmod 600 "$S/etc/slurmdbd.conf"
  ln -sfn "$S/etc/slurmdbd.conf" /etc/slurm/slurmdbd.conf
  /usr/sbin/slurmdbd
  for _ in $(seq 150); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
  sacctmgr -i add cluster ci >/dev/null 2>&1 || true
  sacctmgr -i add account ci Description=ci Organization=ci >/dev/null 2>&1 || true
  sacctmgr -i add user root Account=ci DefaultAccount=ci >/dev/null 2>&1 || true
fi

# --- controller and node daemon ----------------------------------------------------------------------
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF" -N localhost   # -N pins the node name whatever the hostname is
for _ in $(seq 150); do
  # sinfo blocks for minutes when slurmctld is dead, so bound it and check the pid.
  timeout 5 sinfo -h -o '%t' 2>/dev/null | grep -qx idle && break
  kill -0 "$(cat "$S/slurmctld.pid" 2>/dev/null || echo 0)" 2>/dev/null ||
    { tail -5 "$S/log/slurmctld.log"; exit 1; }   # e.g. "fatal: ..." config errors
  sleep 0.2
done
timeout 5 sinfo | grep -q ' idle ' || { tail -5 "$S"/log/slurm*.log; exit 1; }
sinfo   # expect: debug*  up  infinite  1  idle  localhost

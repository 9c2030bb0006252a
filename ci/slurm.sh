#!/usr/bin/env bash
# A real one-node Slurm cluster for CI: munge, MariaDB, slurmdbd, slurmctld and slurmd from Debian's
# packages, started as root without systemd, with fake GPUs declared through gres.
#
#   ci/slurm.sh start    install what is missing, write a minimal config, start the daemons
#   ci/slurm.sh stop     stop them again
#   ci/slurm.sh status   exit 0 when the cluster answers
#
# Environment: SLURM_FAKE_GPUS (default 4), SLURM_ACCOUNTING=0 to run without slurmdbd/MariaDB.
set -euo pipefail

NGPU=${SLURM_FAKE_GPUS:-4}
ACCOUNTING=${SLURM_ACCOUNTING:-1}
CONF=/etc/slurm
FAKEDEV=/var/lib/slurm-fakegpu
LOGDIR=/var/log/slurm

say() { printf 'slurm.sh: %s\n' "$*" >&2; }

# Poll a command until it succeeds, at most $1 seconds.
wait_for() {
  local limit=$1
  shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      say "timed out after ${limit}s waiting for: $*"
      return 1
    fi
    sleep 0.2
  done
}

is_up() { sinfo -h -o %t 2>/dev/null | grep -Eq 'idle|mix|alloc'; }

install_packages() {
  local pkgs="slurmctld slurmd slurm-client munge"
  [ "$ACCOUNTING" = 1 ] && pkgs="$pkgs slurmdbd mariadb-server"
  # shellcheck disable=SC2086
  if ! dpkg -s $pkgs >/dev/null 2>&1; then
    say "installing $pkgs"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  fi
}

start_munge() {
  mkdir -p /run/munge
  chown munge:munge /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    head -c 1024 /dev/urandom >/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
  wait_for 10 sh -c 'munge -n | unmunge'
}

# Slurm only checks that the gres device files exist: character devices with NVIDIA's major number.
make_fake_gpus() {
  mkdir -p "$FAKEDEV"
  for i in $(seq 0 $((NGPU - 1))); do
    [ -e "$FAKEDEV/nvidia$i" ] || mknod "$FAKEDEV/nvidia$i" c 195 "$i"
  done
}

write_config() {
  local accounting="AccountingStorageType=accounting_storage/none"
  if [ "$ACCOUNTING" = 1 ]; then
    accounting=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost'
  fi
  mkdir -p "$CONF" /run/slurm /var/spool/slurmctld /var/spool/slurmd "$LOGDIR"
  # RealMemory stays small so that the node registers on a small CI machine; jobs ask for less.
  cat >"$CONF/slurm.conf" <<EOF
ClusterName=langprune-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SchedulerType=sched/backfill
SchedulerParameters=sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
$accounting
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
MinJobAge=300
KillWait=5
Waittime=0
NodeName=localhost NodeHostname=$(hostname) CPUs=8 RealMemory=16000 Gres=gpu:$NGPU State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  echo "NodeName=localhost Name=gpu File=$FAKEDEV/nvidia[0-$((NGPU - 1))]" >"$CONF/gres.conf"
}

start_accounting() {
  mkdir -p /run/mysqld
  chown mysql:mysql /run/mysqld
  if ! mysqladmin ping >/dev/null 2>&1; then
    (mysqld_safe --user=mysql >"$LOGDIR/mysqld.log" 2>&1 &)
  fi
  wait_for 30 mysqladmin ping
  mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm-ci';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  cat >"$CONF/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=$LOGDIR/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm-ci
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$CONF/slurmdbd.conf"
  pgrep -x slurmdbd >/dev/null || slurmdbd
  wait_for 30 sacctmgr -n -P show cluster
  sacctmgr -i add cluster langprune-ci >/dev/null 2>&1 || true
}

start() {
  if [ "$(id -u)" != 0 ]; then
    say "needs root (apt-get, munge, daemons); not starting"
    return 1
  fi
  if pgrep -x slurmctld >/dev/null && is_up; then
    say "already running"
    return 0
  fi
  local t0=$SECONDS
  install_packages
  start_munge
  make_fake_gpus
  write_config
  [ "$ACCOUNTING" = 1 ] && start_accounting
  pgrep -x slurmctld >/dev/null || slurmctld
  pgrep -x slurmd >/dev/null || slurmd -N localhost
  wait_for 30 is_up
  # A node left DOWN by an earlier unclean stop must be resumed.
  scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
  sinfo -h -o "%P %N cpus=%c gres=%G %t" >&2
  say "up in $((SECONDS - t0))s"
}

# Stop a daemon through its pid file and wait (up to 10 s) until it has exited.
stop_pidfile() {
  local file=$1 pid
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  say "pid $pid ($file) did not exit"
}

stop() {
  scontrol shutdown >/dev/null 2>&1 || true
  stop_pidfile /run/slurm/slurmctld.pid
  stop_pidfile /run/slurm/slurmd.pid
  stop_pidfile /run/slurm/slurmdbd.pid
  mysqladmin shutdown >/dev/null 2>&1 || true
  stop_pidfile /run/mysqld/mysqld.pid
  stop_pidfile /run/munge/munged.pid
  say "stopped"
}

status() { is_up; }

case "${1:-}" in
start | stop | status) "$1" ;;
*)
  echo "usage: $0 start|stop|status" >&2
  exit 2
  ;;
esac

#!/usr/bin/env bash
# Stop every daemon start-slurm.sh started, by the PID in its pid file (never by name), then remove the
# config links it made. Safe to run twice, or when nothing is running. Use from `trap ... EXIT`.
S=${SLURM_TEST_DIR:-/tmp/slurm}
# A killed daemon is re-parented to PID 1, which may reap it late: `kill -0` succeeds on a zombie, so a
# process in state Z counts as stopped.
alive() { [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
for f in "$S/slurmd.pid" "$S/slurmctld.pid" "$S/slurmdbd.pid" /run/mysqld/mariadbd.pid /run/munge/munged.pid; do
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || { rm -f "$f"; continue; }
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && kill -9 "$pid"
  rm -f "$f"
done
rm -f /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf /etc/slurm/gres.conf
exit 0

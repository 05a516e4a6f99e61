#!/usr/bin/env bash
# Install a single-node SLURM (with accounting) from Debian's packages, for CI and for tests/test_slurm.py.
# Idempotent: packages already installed are left alone, so a second run costs ~0 s.
# Must run as root. Verified on Debian 12 (SLURM 22.05); see ../../../shared/notes/slurm-in-ci.md.
set -euo pipefail

PKGS=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)

missing=()
for p in "${PKGS[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package.
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "slurm packages already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: must run as root to install: ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# --no-install-recommends keeps it to ~26 small packages (no mail server, no docs).
# policy-rc.d stops the packages' postinst from trying to start services (there is no init system in CI
# containers; start-slurm.sh starts the daemons itself).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y --no-install-recommends "${missing[@]}"
echo "installed: ${missing[*]}"

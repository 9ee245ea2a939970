#!/usr/bin/env bash
# Installs Debian's Slurm (controller, node daemon, commands) and MUNGE for the cluster tests (make test-cluster).
# Never fails the build: when it cannot install, it says why and the Slurm tests skip with that reason.
# The packages' own services are not used: tests/cluster_engines.py starts a private single-node Slurm.
if command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 && command -v munged >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_slurm: Slurm is missing and this user cannot apt-get it; the Slurm tests will be skipped." >&2
  exit 0
fi
echo "install_slurm: installing Debian's slurm-wlm and munge for the cluster tests (a minute or two)..."
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d 101: the packages must not start their own daemons on this machine.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=1
fi
if ! (apt-get update -qq && apt-get install -y -qq slurm-wlm munge) >/tmp/treerisk-apt-slurm.log 2>&1; then
  echo "install_slurm: apt-get could not install slurm-wlm and munge (see /tmp/treerisk-apt-slurm.log); the Slurm tests will be skipped." >&2
fi
[ "$made_policy" = 1 ] && rm -f "$policy"
exit 0

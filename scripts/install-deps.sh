#!/usr/bin/env bash
# Installs what pollmsgr's build, tests and demo need on a fresh Debian 12 machine.
# Idempotent: installs only the packages that are missing. Needs root.
set -euo pipefail
pkgs=(ceph-mon ceph-osd ceph-common libdpdk-dev dpdk libclang-dev clang pkg-config iproute2 ethtool)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root (apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"

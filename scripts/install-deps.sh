#!/usr/bin/env bash
# Installs the system packages pollmsgr's build, tests and demo need on Debian 12.
# Idempotent: checks each package with dpkg and runs `apt-get update` + `apt-get install`
# only when something is missing (so a ready machine makes no network calls). Needs root
# only when it has something to install.
#
#   ceph-mon ceph-osd ceph-common   real Ceph 16.2 daemons + CLI for the interop tests
#                                   (scripts/ceph-cluster.sh); python3 comes with them
#   libdpdk-dev dpdk                DPDK for dpdk-env (pkg-config libdpdk)
#   libclang-dev clang pkg-config   bindgen for dpdk-sys
#   build-essential                 the C linker rustc needs
#   iproute2 ethtool                network namespaces / TAP devices in transport tests
#   curl ca-certificates            rustup, when scripts/test-all finds no cargo
set -euo pipefail
pkgs=(
  ceph-mon ceph-osd ceph-common python3
  libdpdk-dev dpdk
  libclang-dev clang pkg-config build-essential
  iproute2 ethtool
  curl ca-certificates
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root (apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# What the tests call must really be there now.
for b in ceph-mon ceph-osd ceph ceph-authtool monmaptool python3 pkg-config ip; do
  command -v "$b" >/dev/null || {
    echo "install-deps: '$b' still not found after installing packages" >&2
    exit 1
  }
done
if ! ceph --version | grep -q ' 16\.2\.'; then
  echo "install-deps: warning: expected Ceph 16.2 (pacific), found: $(ceph --version)" >&2
fi

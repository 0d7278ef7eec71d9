#!/usr/bin/env bash
# Reserve, check or release hugepages for DPDK (pollmsgr).
#
#   ./hugepages.sh reserve [MiB]   reserve MiB (default 1024) of 2 MiB pages, mount hugetlbfs
#   ./hugepages.sh check           print what is reserved/free; exit 1 if none free
#   ./hugepages.sh release         release every 2 MiB page (fails if a process holds them)
#
# Idempotent: reserving what is already reserved, or releasing nothing, changes nothing.
# DPDK tests do not need this: the EAL falls back to --no-huge when no pages are free.
set -euo pipefail

SIZE_KB=2048
SYS=/sys/kernel/mm/hugepages/hugepages-${SIZE_KB}kB
MNT=/dev/hugepages

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "hugepages.sh: '$1' needs root (it writes $SYS/nr_hugepages); run: sudo $0 $1" >&2
    exit 1
  fi
}

read_nr() { cat "$SYS/$1"; }

show() {
  local nr free
  nr=$(read_nr nr_hugepages); free=$(read_nr free_hugepages)
  echo "hugepages.sh: 2 MiB pages: total $nr ($((nr * 2)) MiB), free $free ($((free * 2)) MiB)"
  if mountpoint -q "$MNT" 2>/dev/null; then
    echo "hugepages.sh: hugetlbfs mounted at $MNT"
  else
    echo "hugepages.sh: hugetlbfs not mounted at $MNT"
  fi
}

[ -d "$SYS" ] || { echo "hugepages.sh: kernel has no 2 MiB hugepage support ($SYS missing)" >&2; exit 1; }

cmd=${1:-check}
case "$cmd" in
  reserve)
    need_root reserve
    mib=${2:-1024}
    [[ "$mib" =~ ^[0-9]+$ ]] || { echo "hugepages.sh: size must be MiB, got '$mib'" >&2; exit 2; }
    want=$(( (mib + 1) / 2 ))
    have=$(read_nr nr_hugepages)
    if [ "$have" -ge "$want" ]; then
      echo "hugepages.sh: already $have pages reserved (>= $want wanted); nothing to do"
    else
      echo "$want" > "$SYS/nr_hugepages"
      got=$(read_nr nr_hugepages)
      echo "hugepages.sh: reserved $got pages of 2 MiB (asked $want, had $have)"
      if [ "$got" -lt "$want" ]; then
        echo "hugepages.sh: warning: kernel gave only $got pages (memory fragmented?)" >&2
      fi
    fi
    if ! mountpoint -q "$MNT" 2>/dev/null; then
      mkdir -p "$MNT"
      mount -t hugetlbfs -o pagesize=2M nodev "$MNT"
      echo "hugepages.sh: mounted hugetlbfs at $MNT"
    fi
    show
    ;;
  check)
    show
    [ "$(read_nr free_hugepages)" -gt 0 ] || { echo "hugepages.sh: no free hugepages (DPDK will use --no-huge); run: $0 reserve"; exit 1; }
    ;;
  release)
    need_root release
    have=$(read_nr nr_hugepages)
    if [ "$have" -eq 0 ]; then
      echo "hugepages.sh: no pages reserved; nothing to do"
    else
      echo 0 > "$SYS/nr_hugepages"
      left=$(read_nr nr_hugepages)
      echo "hugepages.sh: released $((have - left)) pages ($left still in use by running processes)"
    fi
    show
    ;;
  -h|--help|help) usage ;;
  *) echo "hugepages.sh: unknown command '$cmd'" >&2; usage ;;
esac

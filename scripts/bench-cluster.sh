#!/usr/bin/env bash
# A throwaway mon-only cephx cluster for benchmarks and demos of msgr2 secure mode
# between two pollmsgr processes (keys and tickets from a real ceph-mon).
#
#   bench-cluster.sh start DIR [OSD_ID]   mon on a unique 127.x.y.z + OSD identity osd.OSD_ID
#   bench-cluster.sh stop  DIR            stops the mon (by its pid file) and nothing else
#
# start uses scripts/ceph-cluster.sh start-mon (cephx), then registers an OSD identity in
# the mon (`ceph auth get-or-create osd.ID mon 'allow profile osd' osd 'allow *'`) into
# DIR/osd.ID.keyring, and appends to DIR/env.sh (also printed):
#   MON_V2_ADDR     v2:IP:PORT of the mon
#   ADMIN_KEYRING   keyring with client.admin (for `pollmsgr bench --keyring`)
#   OSD_ENTITY      osd.ID (for `pollmsgr serve --entity`)
#   OSD_KEYRING     keyring with osd.ID (for `pollmsgr serve --keyring`)
#   BENCH_IP        the loopback IP (for `pollmsgr serve --listen v2:$BENCH_IP:PORT/NONCE`)
#
# Environment: BENCH_IP to choose the address (default: 127.77.X.Y from our pid),
# MON_PORT (default 3300). The cluster has no owner watcher: it runs until `stop`.
#
# Example:
#   scripts/bench-cluster.sh start /tmp/bc && . /tmp/bc/env.sh
#   pollmsgr serve --entity $OSD_ENTITY --osds 4 --listen v2:$BENCH_IP:0/1000 \
#       --auth cephx --mon $MON_V2_ADDR --keyring $OSD_KEYRING --mode prefer-crc --cores 0
#   pollmsgr bench --connect ENDPOINTS --auth cephx --mon $MON_V2_ADDR \
#       --keyring $ADMIN_KEYRING --mode secure --cores 1
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() {
  echo "usage: $0 start DIR [OSD_ID]  |  $0 stop DIR" >&2
  exit 2
}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || usage

case "$cmd" in
stop)
  exec "$here/ceph-cluster.sh" stop "$dir"
  ;;
start) ;;
*) usage ;;
esac

osd_id=${3:-0}
case "$osd_id" in '' | *[!0-9]*) echo "bench-cluster: OSD_ID must be a number, got '$osd_id'" >&2; exit 2 ;; esac
port=${MON_PORT:-3300}
if [ -n "${BENCH_IP:-}" ]; then
  ip=$BENCH_IP
else
  # A loopback address of our own, derived from our pid (127.77.0.0/16; all of
  # 127.0.0.0/8 is loopback on Linux). Skip addresses where the mon port is taken.
  ip=
  for try in 0 1 2 3 4 5 6 7; do
    n=$((($$ + try * 7919) % 65024 + 256))
    cand="127.77.$((n / 256)).$((n % 256))"
    if ! (exec 3<>"/dev/tcp/$cand/$port") 2>/dev/null; then
      ip=$cand
      break
    fi
  done
  [ -n "$ip" ] || { echo "bench-cluster: no free loopback address found" >&2; exit 1; }
fi
case "$ip" in 127.*) ;; *)
  echo "bench-cluster: refusing $ip: loopback (127.0.0.0/8) only" >&2
  exit 2
  ;;
esac

"$here/ceph-cluster.sh" start-mon "$dir" cephx "$ip" "$port" >/dev/null
dir=$(cd "$dir" && pwd)
# shellcheck disable=SC1091
. "$dir/env.sh"

who="osd.$osd_id"
osd_keyring="$dir/$who.keyring"
if ! ceph -c "$CEPH_CONF" --connect-timeout 30 auth get-or-create "$who" \
  mon 'allow profile osd' osd 'allow *' -o "$osd_keyring" 2>"$dir/log/auth-get-or-create.err"; then
  echo "bench-cluster: ceph auth get-or-create $who failed:" >&2
  cat "$dir/log/auth-get-or-create.err" >&2
  "$here/ceph-cluster.sh" stop "$dir"
  exit 1
fi
chmod 600 "$osd_keyring" "$dir/keyring"

cat >>"$dir/env.sh" <<ENV
export BENCH_IP=$ip
export ADMIN_KEYRING=$dir/keyring
export OSD_ENTITY=$who
export OSD_KEYRING=$osd_keyring
ENV
echo "bench-cluster: mon $MON_V2_ADDR (cephx), $who registered; . $dir/env.sh" >&2
cat "$dir/env.sh"

#!/usr/bin/env bash
# Throwaway single-host Ceph 16.2 ("pacific") cluster for pollmsgr's interop tests.
#
#   ceph-cluster.sh start     DIR [cephx|none] [IP] [MON_PORT]   one ceph-mon + one memstore ceph-osd
#   ceph-cluster.sh start-mon DIR [cephx|none] [IP] [MON_PORT]   the mon only (faster)
#   ceph-cluster.sh stop      DIR                                stops what DIR's start started
#   ceph-cluster.sh restart-mon DIR [ID]                         SIGKILLs mon.ID (default a; by its pid
#                                                                file) and starts it again on the same address
#   ceph-cluster.sh kill-mon DIR ID                              SIGKILLs mon.ID (restart-mon brings it back)
#
# Defaults: cephx, IP 127.0.0.1, MON_PORT 3300. Every daemon is msgr2-only
# (ms_bind_msgr1 = false, mon host = v2:IP:PORT) and binds only IP, so each test can use
# its own 127.x.y.z (all of 127.0.0.0/8 is loopback on Linux) or a link-local 169.254.x address inside a
# network namespace it created (run the script inside that namespace).
#
# Environment (optional):
#   OSD_PORT_MIN   first port of the OSD's bind range (default 6800; 100 ports)
#   CEPH_OWNER_PID start a watcher that stops the cluster when this pid exits, so daemons
#                  never outlive a test process that was killed before it could clean up
#   CEPH_TIMEOUT   seconds to wait for each daemon to come up (default 30)
#   CEPH_EXTRA_CONF  lines added to [global] (e.g. short report timeouts for a test)
#   CEPH_MONS      how many mons (1-5, default 1): mon.a on MON_PORT, mon.b on MON_PORT+1...;
#                  start returns once all of them are in quorum
#
# After start, DIR holds ceph.conf, keyring, log/ (debug ms = 1), pids/ (our pid files:
# the only thing stop acts on) and env.sh exporting:
#   CEPH_CONF, MON_V2_ADDR (v2:IP:PORT of mon.a), MON_V2_ADDRS (every mon, comma-separated),
#   FSID, CLIENT_ADMIN_KEY (empty with auth none),
#   and with an OSD: OSD0_V2_ADDR (v2:IP:PORT/NONCE, from the osdmap), OSD0_KEY
#   (empty with auth none).
# Needs: apt-get install -y ceph-mon ceph-osd ceph-common   (scripts/install-deps.sh)
set -euo pipefail

usage() {
  echo "usage: $0 start|start-mon DIR [cephx|none] [IP] [MON_PORT]  |  $0 stop DIR  |  $0 restart-mon DIR [ID]  |  $0 kill-mon DIR ID" >&2
  exit 2
}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || usage

now_ms() { date +%s%3N; }
t0=$(now_ms)
log() { echo "ceph-cluster: [$(($(now_ms) - t0)) ms] $*" >&2; }

# Is $1 a live process that belongs to cluster DIR? (guards against pid reuse; a zombie
# has an empty cmdline, so it counts as gone)
ours() {
  { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- "$dir/"
}

# kill_wait SIGNAL SECONDS PID... : signal the pids, wait until they are gone.
kill_wait() {
  local sig=$1 secs=$2 p i
  shift 2
  kill "-$sig" "$@" 2>/dev/null || true
  for i in $(seq $((secs * 50))); do
    left=()
    for p in "$@"; do ours "$p" && left+=("$p"); done
    [ ${#left[@]} -eq 0 ] && return 0
    sleep 0.02
  done
  return 1
}

# Stops DIR's daemons: OSDs first (a stopping OSD tells the mon), then the mon, SIGKILL
# for whatever is still there after a few seconds; the watcher last.
stop_cluster() {
  [ -d "$dir/pids" ] || return 0
  local f p osds=() mons=() left=()
  for f in "$dir"/pids/*; do
    [ -e "$f" ] || continue
    p=$(cat "$f" 2>/dev/null || true)
    [ -n "$p" ] && ours "$p" || continue
    case "${f##*/}" in
    osd.*) osds+=("$p") ;;
    watcher) ;;
    *) mons+=("$p") ;;
    esac
  done
  if [ ${#osds[@]} -gt 0 ] && ! kill_wait TERM 3 "${osds[@]}"; then kill_wait KILL 2 "${left[@]}" || true; fi
  if [ ${#mons[@]} -gt 0 ] && ! kill_wait TERM 3 "${mons[@]}"; then kill_wait KILL 2 "${left[@]}" || true; fi
  # The watcher last: stop may be running inside the watcher.
  if [ -e "$dir/pids/watcher" ]; then
    p=$(cat "$dir/pids/watcher" 2>/dev/null || true)
    if [ -n "$p" ] && [ "$p" != "${WATCHER_SELF:-}" ] && ours "$p"; then
      kill -TERM "$p" 2>/dev/null || true
    fi
  fi
  rm -f "$dir"/pids/*
}

case "$cmd" in
restart-mon | kill-mon)
  dir=$(cd "$dir" 2>/dev/null && pwd) || { echo "ceph-cluster: no directory $2" >&2; exit 1; }
  timeout=${CEPH_TIMEOUT:-30}
  id=${3:-a}
  [ "$cmd" = restart-mon ] || [ -n "${3:-}" ] || usage
  case "$id" in [a-e]) ;; *) echo "ceph-cluster: mon id must be a-e, not '$id'" >&2; exit 2 ;; esac
  p=$(cat "$dir/pids/mon.$id" 2>/dev/null || true)
  if [ -n "$p" ] && ours "$p"; then kill_wait KILL 5 "$p" || { echo "ceph-cluster: mon.$id ($p) did not die" >&2; exit 1; }; fi
  rm -f "$dir/pids/mon.$id"
  if [ "$cmd" = kill-mon ]; then log "mon.$id killed"; exit 0; fi
  addr=$(cat "$dir/mon.$id.addr" 2>/dev/null) || { echo "ceph-cluster: no mon.$id in $dir" >&2; exit 1; }
  ceph-mon -c "$dir/ceph.conf" -i "$id" -f >>"$dir/log/mon.$id.out" 2>&1 </dev/null &
  echo $! >"$dir/pids/mon.$id"
  mon_pid=$!
  deadline=$(($(now_ms) + timeout * 1000))
  while ! (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null; do
    kill -0 "$mon_pid" 2>/dev/null || { echo "ceph-cluster: mon.$id exited on restart" >&2; tail -n 40 "$dir/log/mon.$id.log" >&2; exit 1; }
    [ "$(now_ms)" -lt "$deadline" ] || { echo "ceph-cluster: mon.$id not listening on $addr after ${timeout}s" >&2; exit 1; }
    sleep 0.02
  done
  log "mon.$id restarted (pid $mon_pid) on v2:$addr"
  exit 0
  ;;
stop)
  dir=$(cd "$dir" 2>/dev/null && pwd) || exit 0
  stop_cluster
  exit 0
  ;;
watch) # internal: watch DIR/ OWNER_PID (DIR/ in our cmdline lets stop recognise us)
  dir=${dir%/}
  owner=${3:?owner pid}
  while kill -0 "$owner" 2>/dev/null && [ -d "$dir/pids" ]; do sleep 0.5; done
  WATCHER_SELF=$$ stop_cluster
  exit 0
  ;;
start) with_osd=1 ;;
start-mon) with_osd=0 ;;
*) usage ;;
esac

auth=${3:-cephx}
ip=${4:-127.0.0.1}
port=${5:-3300}
osd_min=${OSD_PORT_MIN:-6800}
timeout=${CEPH_TIMEOUT:-30}
mons=${CEPH_MONS:-1}
case "$mons" in [1-5]) ;; *) echo "ceph-cluster: CEPH_MONS must be 1-5, not '$mons'" >&2; exit 2 ;; esac
mon_ids=(a b c d e)
mon_ids=("${mon_ids[@]:0:$mons}")
case "$auth" in cephx | none) ;; *) usage ;; esac
# Loopback, or a link-local address inside a network namespace the caller made
# (run the script in it); never a private-range or public address.
case "$ip" in 127.* | 169.254.*) ;; *)
  echo "ceph-cluster: refusing IP $ip: loopback (127.x) or a link-local test-namespace address (169.254.x) only" >&2
  exit 2
  ;;
esac
for b in ceph-mon ceph-osd ceph ceph-authtool monmaptool python3; do
  command -v "$b" >/dev/null || {
    echo "ceph-cluster: '$b' not found: run scripts/install-deps.sh (apt-get install -y ceph-mon ceph-osd ceph-common)" >&2
    exit 1
  }
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -d "$dir/pids" ] && [ -n "$(ls -A "$dir/pids")" ]; then stop_cluster; fi
rm -rf "${dir:?}"/*
mkdir -p "$dir/pids" "$dir/run" "$dir/log"

# Started daemons are stopped again if start fails half-way.
ok=0
on_exit() { [ "$ok" = 1 ] || stop_cluster; }
trap on_exit EXIT

die() {
  local what=$1 logf=${2:-}
  echo "ceph-cluster: FAILED: $what (dir $dir)" >&2
  if [ -n "$logf" ] && [ -f "$logf" ]; then
    echo "---- last lines of $logf ----" >&2
    tail -n 40 "$logf" >&2
    echo "----" >&2
  fi
  exit 1
}

# Someone already listening on a mon's IP:PORT would be mistaken for our mon.
mon_host=
for i in "${!mon_ids[@]}"; do
  p=$((port + i))
  if (exec 3<>"/dev/tcp/$ip/$p") 2>/dev/null; then
    die "$ip:$p is already in use (pick another IP or MON_PORT)"
  fi
  echo "$ip:$p" >"$dir/mon.${mon_ids[$i]}.addr"
  mon_host=${mon_host:+$mon_host,}v2:$ip:$p
done

fsid=$(cat /proc/sys/kernel/random/uuid)
cat >"$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = $mon_host
mon initial members = $(IFS=,; echo "${mon_ids[*]}")
public addr = $ip
auth cluster required = $auth
auth service required = $auth
auth client required = $auth
auth allow insecure global id reclaim = false
ms bind msgr1 = false
ms bind msgr2 = true
ms bind ipv6 = false
ms bind port min = $osd_min
ms bind port max = $((osd_min + 99))
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 268435456
osd data = $dir/osd.\$id
mon data = $dir/mon.\$id
run dir = $dir/run
admin socket = $dir/run/\$name.asok
pid file =
log file = $dir/log/\$name.log
keyring = $dir/keyring
# faster paxos rounds, so the OSD is created and marked up sooner
paxos propose interval = 0.05
paxos min wait = 0.01
osd mon shutdown timeout = 1
${CEPH_EXTRA_CONF:-}
[mon]
debug ms = 1
[osd]
debug ms = 1
[client]
log file = /dev/null
admin socket =
CONF

ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$dir/keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
monmap_args=()
for i in "${!mon_ids[@]}"; do monmap_args+=(--addv "${mon_ids[$i]}" "[v2:$ip:$((port + i))]"); done
monmaptool --create --fsid "$fsid" "${monmap_args[@]}" "$dir/monmap" >/dev/null
# -f: stay in the foreground so $! is the daemon's pid (ceph's own pid file is off);
# stdio to a file so no daemon holds the caller's pipes open.
mon_pids=()
for id in "${mon_ids[@]}"; do
  ceph-mon -c "$dir/ceph.conf" --mkfs -i "$id" --monmap "$dir/monmap" --keyring "$dir/keyring" \
    >"$dir/log/mon.$id.mkfs.out" 2>&1 || die "ceph-mon --mkfs (mon.$id)" "$dir/log/mon.$id.mkfs.out"
  ceph-mon -c "$dir/ceph.conf" -i "$id" -f >"$dir/log/mon.$id.out" 2>&1 </dev/null &
  echo $! >"$dir/pids/mon.$id"
  mon_pids+=($!)
done
mon_pid=${mon_pids[0]}

# Our own watcher: stops the cluster if the owner (the test process) dies.
if [ -n "${CEPH_OWNER_PID:-}" ]; then
  "$0" watch "$dir/" "$CEPH_OWNER_PID" </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/pids/watcher"
fi

# Wait for the mon to accept TCP and speak msgr2 (reads the 8-byte "ceph v2\n" banner).
wait_port() { # ip port pid logfile what
  local deadline=$(($(now_ms) + timeout * 1000))
  while :; do
    kill -0 "$3" 2>/dev/null || die "$5 exited during startup" "$4"
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    [ "$(now_ms)" -lt "$deadline" ] || die "$5 not listening on $1:$2 after ${timeout}s" "$4"
    sleep 0.02
  done
}
for i in "${!mon_ids[@]}"; do
  wait_port "$ip" "$((port + i))" "${mon_pids[$i]}" "$dir/log/mon.${mon_ids[$i]}.log" "ceph-mon (mon.${mon_ids[$i]})"
done
log "mon listening on $mon_host"

C=(ceph -c "$dir/ceph.conf" --connect-timeout "$timeout")
admin_key=
[ "$auth" = cephx ] && admin_key=$(ceph-authtool "$dir/keyring" -n client.admin -p)

if [ "$mons" -gt 1 ]; then
  # Every mon in quorum before anyone uses the cluster (tests kill one of them).
  deadline=$(($(now_ms) + timeout * 1000))
  until "${C[@]}" quorum_status -f json 2>/dev/null |
    python3 -c 'import json,sys; sys.exit(0 if len(json.load(sys.stdin)["quorum_names"]) == int(sys.argv[1]) else 1)' "$mons"; do
    [ "$(now_ms)" -lt "$deadline" ] || die "not all $mons mons in quorum after ${timeout}s" "$dir/log/mon.a.log"
    sleep 0.2
  done
  log "all $mons mons in quorum"
fi

osd_addr=
osd_key=
if [ "$with_osd" = 0 ]; then
  # A listening mon may not be in quorum yet (clients then see the connection closed
  # after AUTH_REQUEST): one real client round trip proves it serves requests.
  "${C[@]}" mon stat >"$dir/log/mon-stat.out" 2>&1 || die "ceph mon stat" "$dir/log/mon-stat.out"
  log "mon in quorum"
else
  uuid=$(cat /proc/sys/kernel/random/uuid)
  mkdir -p "$dir/osd.0"
  if [ "$auth" = cephx ]; then
    # The key must exist in the mon before ceph-osd --mkfs (it fetches mon config).
    osd_key=$(ceph-authtool --gen-print-key)
    printf '{"cephx_secret": "%s"}\n' "$osd_key" >"$dir/osd.0/secret.json"
    id=$("${C[@]}" osd new "$uuid" -i "$dir/osd.0/secret.json" 2>"$dir/log/osd-new.err") ||
      die "ceph osd new" "$dir/log/osd-new.err"
    printf '[osd.0]\n\tkey = %s\n' "$osd_key" >"$dir/osd.0/keyring"
  else
    id=$("${C[@]}" osd new "$uuid" 2>"$dir/log/osd-new.err") || die "ceph osd new" "$dir/log/osd-new.err"
    : >"$dir/osd.0/keyring"
  fi
  [ "$id" = 0 ] || die "expected osd id 0, mon gave '$id'"
  log "osd.0 created in the osdmap"
  ceph-osd -c "$dir/ceph.conf" -i 0 --mkfs --osd-uuid "$uuid" --no-mon-config \
    --keyring "$dir/osd.0/keyring" >"$dir/log/osd.0.mkfs.out" 2>&1 ||
    die "ceph-osd --mkfs" "$dir/log/osd.0.mkfs.out"
  log "osd.0 mkfs done"
  ceph-osd -c "$dir/ceph.conf" -i 0 -f --keyring "$dir/osd.0/keyring" \
    >"$dir/log/osd.0.out" 2>&1 </dev/null &
  echo $! >"$dir/pids/osd.0"
  osd_pid=$!

  # The OSD logs "state: booting -> active" once it sees itself up in the osdmap.
  deadline=$(($(now_ms) + timeout * 1000))
  while ! grep -q 'state: booting -> active' "$dir/log/osd.0.log" 2>/dev/null; do
    kill -0 "$osd_pid" 2>/dev/null || die "ceph-osd exited during startup" "$dir/log/osd.0.log"
    [ "$(now_ms)" -lt "$deadline" ] || die "osd.0 not up after ${timeout}s" "$dir/log/osd.0.log"
    sleep 0.02
  done
  log "osd.0 active"
  "${C[@]}" osd dump -f json >"$dir/osdmap.json" 2>"$dir/log/osd-dump.err" ||
    die "ceph osd dump" "$dir/log/osd-dump.err"
  osd_addr=$(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
for o in m["osds"]:
    if o["osd"] == 0 and o["up"] == 1:
        for a in o["public_addrs"]["addrvec"]:
            if a["type"] == "v2":
                print("v2:%s/%d" % (a["addr"], a["nonce"]))
                break
' "$dir/osdmap.json")
  [ -n "$osd_addr" ] || die "osd.0 has no v2 address in the osdmap ($dir/osdmap.json)"
fi

cat >"$dir/env.sh" <<ENV
export CEPH_CONF=$dir/ceph.conf
export MON_V2_ADDR=v2:$ip:$port
export MON_V2_ADDRS=$mon_host
export FSID=$fsid
export CLIENT_ADMIN_KEY=$admin_key
export OSD0_V2_ADDR=$osd_addr
export OSD0_KEY=$osd_key
ENV
ok=1
log "cluster up (auth $auth, osd $with_osd)"
cat "$dir/env.sh"

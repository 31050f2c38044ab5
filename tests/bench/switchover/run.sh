#!/bin/bash
#
# run.sh - switchover benchmark (issue 4, "Benchmark"): what the replay in
# the paused window buys a real guest on the real two-host testbed.
#
# The world is test-carry.sh's (tests/integration/lib/{migrate,carry}.sh):
# two libvirtd hosts, vsimigd on both with [peer]/[replay], the switch br-sw
# (snooping, IGMPv3/MLDv2 querier, dnsmasq, a `mcjoin send` stream to two
# groups), a real Linux guest g1 (udhcpc lease with a client-id,
# IGMPv3/MLDv2 joins, counting the stream), captures on the switch ports,
# a `bridge monitor mdb` of the switch, `virsh event` on both hosts.
#
# One guest, booted once on A, migrated (virsh migrate --live):
#   mode on:  K times A -> B and K times B -> A, vsimigd running on both;
#   mode off: the same, with vsimigd stopped (SIGTERM by PID) on both.
# After each migration the bench waits SETTLE s, reads the destination's
# (and source's) `vsimigctl --json show g1`, and then ages the guest's
# groups out of the OLD switch port (`bridge mdb del`, what the switch
# would do by itself after its 260 s membership interval): otherwise the
# next migration back would find a stale membership there and the stream
# would reach the guest without anybody re-reporting.
#
# A poller in the switch namespace asks the guest's mcjoin for its counters
# every POLL_MS ms (UDP control port): "the guest receives multicast
# again" = the first answer after RESUMED whose last datagram (per group)
# was sent after the source's SUSPENDED (send times from a capture of the
# stream on br-sw), i.e. a datagram the guest can only have received on
# the destination.  Resolution: POLL_MS plus the answer's way back.
#
# Times (one CLOCK_REALTIME in every namespace):
#   SUSPENDED = the earliest of the source's `virsh event` and its vsimigd
#               timeline entry (on) for Suspended Migrated;
#   RESUMED   = the earliest of the destination's `virsh event`, its
#               vsimigd timeline entry (on) and QEMU's first RARP on the
#               destination's switch port (as test-carry.sh).
# The table: per mode, the share of replays finished before RESUMED (the
# daemon's carry fields, cross-checked on the wire: every replayed DHCP /
# report / GARP / NA frame of the destination's timeline on the switch port
# in [SUSPENDED, RESUMED)), SUSPENDED -> last replay frame, RESUMED ->
# multicast at the guest, -> switch mdb lists every group on the new port,
# -> dnsmasq's ACK crosses to the new port, datagrams lost, paused window.
# Targets are printed, not asserted: the bench fails only when the run
# itself breaks (testbed, boot, a migration).
#
# Environment:
#   K        migrations each way per mode (10; 2 for a quick check)
#   SETTLE   s to watch after each migration (3)
#   GAP      s between migrations after the settle (1)
#   POLL_MS  guest counter poll period (20)
#   CT_RATE  datagrams/s per group (100)
#   OUT      result directory (/var/tmp/switchover-<date>); keeps the
#            captures, logs, show dumps and summary.txt
#   MODES    "on off" (default) or a subset
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
export LT_QEMU_CAPS_CACHE=${LT_QEMU_CAPS_CACHE:-$VSM_BUILD_ROOT/lt-qemu-caps}
LIB=$VSM_SOURCE_ROOT/tests/integration/lib
. "$LIB/testbed.sh"
. "$LIB/libvirt-testbed.sh"
. "$LIB/vsimigd.sh"
. "$LIB/migrate.sh"
. "$LIB/guest/guest.sh"
. "$LIB/carry.sh"
SO_PY=$here/switchover.py

K=${K:-10}
SETTLE=${SETTLE:-3}
GAP=${GAP:-1}
POLL_MS=${POLL_MS:-20}
read -r -a MODES <<<"${MODES:-on off}"
OUT=${OUT:-/var/tmp/switchover-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
[[ $K =~ ^[1-9][0-9]*$ ]] || { echo "K must be a positive integer" >&2; exit 2; }

T_ALL=$(date +%s%N)
say() { printf '[switchover %4ss] %s\n' "$(( ($(date +%s%N) - T_ALL) / 1000000000 ))" "$*" >&2; }

G1=g1 MAC1=02:76:73:6d:20:01
MGROUPS=("$LG_GROUP4" "$LG_GROUP6")
PEER_PORT=7788

tb_init
for tool in dnsmasq bridge python3; do
  command -v "$tool" >/dev/null || tb_skip_or_fail "missing tool: $tool (tests/deps.sh)"
done
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
lg_build ""

ct_check_peer_conf ||
  tb_fail "this vsimigd does not accept [peer]/[replay]: $(tr '\n' ' ' <"$TB_DIR/probe.out")"
ct_peer_conf_both "$PEER_PORT"

# ---- the world (as test-carry.sh)
mt_setup
SW=$LT_NS_SW
ct_switch_setup
ct_dnsmasq_start
ct_capture_start sw-a "$OUT/c-sw-a.pcap"
ct_capture_start sw-b "$OUT/c-sw-b.pcap"
# The stream as it leaves the sender: seq -> send time.
tb_capture_start "$SW" br-sw "$OUT/stream.pcap" "udp dst port $LG_PORT"
ct_mdb_monitor_start "$SW" "$OUT/mdb-sw.log"
lt_events_start A "$OUT/events-A.log"
lt_events_start B "$OUT/events-B.log"
say "testbed ready (vsimigd A+B with [peer]/[replay], dnsmasq, captures in $OUT)"

ct_boot_linux_guest A "$G1" "$MAC1"
IP1=$CT_GUEST_IP4 LL1=$CT_GUEST_LL6
[[ $IP1 == 10.77.1.1[0-9][0-9] ]] || tb_fail "g1's lease $IP1 not in 10.77.1.100-199"
ct_wait_mdb "$SW" br-sw sw-a 5 "${MGROUPS[@]}" || true
[[ $(ct_mdb_ports "$SW" br-sw "$LG_GROUP6") == *sw-a* ]] || tb_fail "switch mdb lacks $LG_GROUP6 on sw-a"
# Unicast both ways, so the learner sees both addresses (ARP / NA).
ct_ping_guest "$IP1" "$LL1" g1
ct_stream_to_guest A "$G1"
ip netns exec "$SW" python3 "$SO_PY" poll "$IP1" "$LG_CTL_PORT" "$POLL_MS" "$OUT/poll.log" \
  </dev/null >"$OUT/poll.out" 2>&1 &
POLL_PID=$!
tb_track_pid "$POLL_PID" poller
say "g1 lease $IP1 ($LL1), joined ${MGROUPS[*]}, stream $CT_RATE/s per group, poller pid $POLL_PID every $POLL_MS ms"
sleep 1

# ---- the migrations
: >"$OUT/runs.jsonl"
N=0
HERE_NOW=A
migrate_one() { # MODE SRC DST
  local mode=$1 src=$2 dst=$3 t0 t_end rc=0 tap extra=""
  N=$((N + 1))
  t0=$(date +%s.%N)
  lt_migrate "$src" "$dst" "$G1" >/dev/null || rc=$?
  ((rc == 0)) || tb_fail "[$mode #$N] virsh migrate --live $src -> $dst failed (rc $rc)"
  lt_wait_domstate "$dst" "$G1" running 10
  sleep "$SETTLE"
  t_end=$(date +%s.%N)
  if [[ $mode == on ]]; then
    hctl "$dst" --json show "$G1" >"$OUT/show-$N-dst.json" 2>/dev/null || : >"$OUT/show-$N-dst.json"
    hctl "$src" --json show "$G1" >"$OUT/show-$N-src.json" 2>/dev/null || : >"$OUT/show-$N-src.json"
    extra=$(python3 -c 'import json,sys
try: c = json.load(open(sys.argv[1])).get("carry") or {}
except ValueError: c = {}
print("replayed=%s late=%s frames=%s susp->last=%s ms last-before-RESUMED=%s ms" % (c.get("replayed"), c.get("replay_late"), c.get("replay_frames"), c.get("suspended_to_last_frame_ms"), c.get("last_frame_before_resumed_ms")))' "$OUT/show-$N-dst.json")
  fi
  tap=$(ct_tap_of "$dst" "$G1" "$MAC1")
  ct_mdb_list "$SW" br-sw >"$OUT/mdb-after-$N.txt"
  printf '{"n": %d, "mode": "%s", "src": "%s", "dst": "%s", "t0": %s, "t_end": %s, "migrate_ms": %s, "tap": "%s"}\n' \
    "$N" "$mode" "$src" "$dst" "$t0" "$t_end" "$LT_MIGRATE_MS" "$tap" >>"$OUT/runs.jsonl"
  say "[$mode #$N] $src -> $dst in $LT_MIGRATE_MS ms ${extra}"
  # Age the guest's groups out of the old port (see the header).
  local g
  for g in "${MGROUPS[@]}"; do
    bridge -n "$SW" mdb del dev br-sw port "sw-${src,,}" grp "$g" 2>/dev/null || true
  done
  HERE_NOW=$dst
  sleep "$GAP"
}

for mode in "${MODES[@]}"; do
  case $mode in
    on) ;;
    off)
      mt_vsimigd_stop A
      mt_vsimigd_stop B
      say "vsimigd stopped on both hosts"
      sleep 1
      ;;
    *) tb_fail "unknown mode $mode" ;;
  esac
  for ((k = 1; k <= 2 * K; k++)); do
    if [[ $HERE_NOW == A ]]; then migrate_one "$mode" A B; else migrate_one "$mode" B A; fi
  done
done

# ---- the report
kill -TERM "$POLL_PID" 2>/dev/null || true
wait "$POLL_PID" 2>/dev/null || true
tb__untrack_pid "$POLL_PID"
ct_senders_stop
lt_events_stop
tb_capture_stop
cp "$CT_DNSMASQ_LEASES" "$TB_DIR/dnsmasq.log" "$OUT/" 2>/dev/null || true
cp "$TB_DIR"/vsimigd-*.log "$OUT/" 2>/dev/null || true
printf '{"mac": "%s", "ip4": "%s", "ip6": "%s", "groups": ["%s", "%s"], "rate": %s, "poll_ms": %s, "settle": %s, "k": %s}\n' \
  "$MAC1" "$IP1" "$LL1" "${MGROUPS[0]}" "${MGROUPS[1]}" "$CT_RATE" "$POLL_MS" "$SETTLE" "$K" >"$OUT/meta.json"
python3 "$SO_PY" report "$OUT" | tee "$OUT/summary.txt"
say "total $(( ($(date +%s%N) - T_ALL) / 1000000000 )) s; data in $OUT"

#!/bin/bash
# vsimig demo: one live migration of a real Linux guest between two
# self-made libvirt hosts, with vsimigd on both carrying its network state
# (DHCP lease, IGMPv3/MLDv2 memberships, addresses) and speaking VDP to the
# top-of-rack switch.
#
#   switch netns: kernel bridge br-sw (STP, IGMP/MLD snooping with a
#                 querier), lldpad in the IEEE 802.1Qbg bridge role on both
#                 host ports, dnsmasq (10.77.1.100-199), a multicast sender
#   host A, host B: netns + mount + UTS namespaces, each with its own
#                 libvirtd 9.0 (TCG QEMU), vsimig's hook, and vsimigd with
#                 [peer] listen and [replay] on
#
# The guest (Debian kernel + busybox, tests/integration/lib/guest) boots on
# A, gets a lease from dnsmasq, joins 239.77.1.1 and ff15::77:1 and counts
# the stream.  Printed: what A's vsimigd learned, then `virsh migrate
# --live` to B, B's timeline (hooks, events, VDP, replay; ms offsets), what
# the switch saw on B's port around the switchover (ms vs RESUMED), that
# host A sent nothing as the guest on its port after B's RESUMED (it fails
# otherwise) and that its leaves pruned the old port from the switch mdb,
# the guest's multicast loss, and the VDP frames on both ports.  Everything is
# torn down at the end.  Run as root on Debian 12; it installs its own
# dependencies and builds first (tests/deps.sh).  The libraries are the
# state-carry test's (tests/integration/test-carry.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== installing dependencies and building (tests/deps.sh)"
bash tests/deps.sh
export VSM_BUILD_ROOT=$PWD/build VSM_SOURCE_ROOT=$PWD
export LT_QEMU_CAPS_CACHE=$VSM_BUILD_ROOT/lt-qemu-caps
. tests/integration/lib/testbed.sh
. tests/integration/lib/libvirt-testbed.sh
. tests/integration/lib/vsimigd.sh
. tests/integration/lib/migrate.sh
. tests/integration/lib/guest/guest.sh
. tests/integration/lib/carry.sh
CARRY_PY=$PWD/tests/integration/lib/carry.py

T_START=$(date +%s%N)
G=$MT_GUEST MAC=02:76:73:6d:20:01
MGROUPS=("$LG_GROUP4" "$LG_GROUP6")
SETTLE=${DEMO_SETTLE:-2}   # s to watch after the migration

tb_init
# demo_diag: if the demo stops early, what the hosts said (runs in
# tb_cleanup; the logs stay until $TB_DIR goes).
demo_diag() {
  [[ ${DEMO_DONE:-0} == 1 || -z ${LT_DIR_B:-} ]] && return 0
  local h f
  for h in A B; do
    for f in "$(lt_host_path "$h" "/var/log/libvirt/qemu/$G.log" 2>/dev/null)" \
             "$(lg_serial_path "$h" "$G" 2>/dev/null)" "$TB_DIR/vsimigd-$h.log"; do
      [[ -s $f ]] || continue
      echo "--- host $h: $f (last 8 lines)"
      tr -d '\r' <"$f" | grep -v '^$' | tail -n 8
    done
  done >&2
}
tb_defer demo_diag
echo "== the guest: Debian kernel + busybox initramfs (tests/integration/lib/guest)"
lg_build ""
echo "   $LG_GUEST_DIR ($( ((LG_BUILD_CACHED)) && echo cached || echo "built in $LG_BUILD_MS ms"))"

echo "== building the testbed: switch (snooping + querier, lldpad bridge, dnsmasq), hosts A and B with libvirtd and vsimigd"
# shellcheck disable=SC2119 # no PORT: the default (7788)
ct_peer_conf_both
mt_setup
ct_switch_setup
ct_dnsmasq_start
ct_capture_start sw-b "$TB_DIR/carry-sw-b.pcap"
ct_capture_in_start sw-a "$TB_DIR/in-sw-a.pcap"   # all host A sends to the switch
ct_mdb_monitor_start "$LT_NS_SW" "$TB_DIR/mdb-sw.log"
lt_events_start A "$TB_DIR/events-A.log"
lt_events_start B "$TB_DIR/events-B.log"

echo "== booting the Linux guest $G ($MAC, TCG) on host A"
ct_boot_linux_guest A "$G" "$MAC"
IP=$CT_GUEST_IP4 LL=$CT_GUEST_LL6
echo "   DHCP lease $IP from dnsmasq after $CT_GUEST_LEASE_MS ms; IPv6 $LL"
grep " $MAC " "$CT_DNSMASQ_LEASES" | awk '{print "   dnsmasq lease file: " $0}'
ct_wait_mdb "$LT_NS_SW" br-sw sw-a 10 "${MGROUPS[@]}" ||
  tb_fail "the switch's mdb lacks ${MGROUPS[*]} on sw-a (host A's port)"
echo "   joined ${MGROUPS[*]} (IGMPv3 / MLDv2); switch mdb: both on sw-a"
ct_ping_guest "$IP" "$LL"
ct_stream_to_guest A "$G"
echo "   multicast stream from the switch: $CT_RATE datagrams/s per group, reaching the guest"
mt_wait A "any(n.get('lease') and len(n.get('groups') or []) >= 2 and n.get('ip4') and n.get('ip6')
               for n in (d.get('carry') or {}).get('learned') or [])" 20 show "$G"
mt_wait A "any(v['mac'] == '$MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
echo
echo "== host A: what vsimigd learned from the guest's tap (vsimigctl show $G)"
hctl A show "$G" | sed -n '/^network state/,$p'

echo
echo "== virsh migrate --live $G qemu+tcp://hostb/system"
ct_guest_stats "$IP" >"$TB_DIR/stats0"
T0=$(date +%s.%N)
lt_migrate A B "$G" >/dev/null
lt_wait_domstate B "$G" running 10
mt_wait B "any(v['mac'] == '$MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
mt_wait A "all(v['state'] == 'none' for v in d['vsis'] if v['mac'] == '$MAC')" 20
sleep "$SETTLE"
T_END=$(date +%s.%N)
sleep 1   # the guest counts a gap once the next datagram arrives
ct_guest_stats "$IP" >"$TB_DIR/stats1"
T_RES_EV=$(python3 "$CARRY_PY" event-time "$TB_DIR/events-B.log" "$G" "Resumed Migrated" "$T0") ||
  tb_fail "no RESUMED_MIGRATED event for $G on B ($TB_DIR/events-B.log)"
T_SUSP_EV=$(python3 "$CARRY_PY" event-time "$TB_DIR/events-A.log" "$G" "Suspended Migrated" "$T0") ||
  tb_fail "no SUSPENDED_MIGRATED event for $G on A ($TB_DIR/events-A.log)"
T_RES_TL=$(hctl B --json show "$G" | python3 "$CARRY_PY" timeline-time "$T0" resumed) ||
  tb_fail "B's vsimigd timeline for $G has no RESUMED entry"
echo "   took $LT_MIGRATE_MS ms; paused window (A's SUSPENDED to B's RESUMED, virsh events): $(
  python3 -c "print(round(($T_RES_EV - $T_SUSP_EV) * 1000))") ms"

echo
echo "== host B (destination): vsimigctl show $G"
hctl B show "$G"

echo
echo "== what the switch saw on host B's port (sw-b) around the switchover, ms vs B's RESUMED"
SW_MAC=$(ip -n "$LT_NS_SW" -br link show br-sw | awk '{print $3}')
python3 - "$TB_DIR/switchover.json" <<PY
import json, sys
json.dump({"pcap_dst": "$TB_DIR/carry-sw-b.pcap", "vdp_pcap": "$MT_PCAP_B", "port_dst": "sw-b",
           "mac": "$MAC", "station": "$LT_MAC_UP_B", "groups": "${MGROUPS[*]}".split(),
           "t0": $T0, "t_end": $T_END, "t_resumed": [float(x) for x in "$T_RES_EV $T_RES_TL".split()],
           "mdb_log": "$TB_DIR/mdb-sw.log", "mdb_ports": ["sw-a", "sw-b"], "after": 0.2,
           "ip4": "$IP", "ip6": ["$LL"], "pcap_old_in": "$TB_DIR/in-sw-a.pcap", "port_old": "sw-a",
           "names": {"$MAC": "guest $G", "$LT_MAC_UP_B": "vsimigd B", "$SW_MAC": "dnsmasq"}},
          open(sys.argv[1], "w"))
PY
python3 "$CARRY_PY" switchover "$TB_DIR/switchover.json"

echo
echo "== host A, the old host, after B's RESUMED: nothing on its switch port as the guest, and its groups pruned there"
rc=0
python3 "$CARRY_PY" oldport "$TB_DIR/switchover.json" >"$TB_DIR/oldport.txt" || rc=$?
sed 's/^/   /' "$TB_DIR/oldport.txt"
((rc == 0)) || tb_fail "host A spoke as the guest on sw-a after B's RESUMED (see above)"
if lt=$(hctl A --json show "$G" 2>/dev/null | python3 "$CARRY_PY" timeline "$T0" 'old port'); then
  printf '%s\n' "$lt" | sed 's/^/   host A timeline:/'
fi
# A's leaves (from its uplink's own MAC) make the switch prune sw-a after
# its last-member queries (2 s), not the 260 s membership interval.
ct_wait_mdb_gone() { # ct_wait_mdb_gone PORT TIMEOUT_S GROUP...
  local port=$1 tmo=$2 i g left
  shift 2
  for ((i = 0; i <= tmo * 10; i++)); do
    left=0
    for g in "$@"; do [[ " $(ct_mdb_ports "$LT_NS_SW" br-sw "$g") " == *" $port "* ]] && left=1; done
    ((left)) || return 0
    sleep 0.1
  done
  return 1
}
ct_wait_mdb_gone sw-a 10 "${MGROUPS[@]}" ||
  tb_fail "the switch still forwards the guest's groups to the old port sw-a 10 s after the migration"
for g in "${MGROUPS[@]}"; do
  printf '   switch mdb now: %-11s on %s\n' "$g" "$(ct_mdb_ports "$LT_NS_SW" br-sw "$g")"
done

echo
echo "== the guest's multicast stream across the migration ($CT_RATE datagrams/s per group)"
for g in "${MGROUPS[@]}"; do
  read -r c0 l0 < <(awk -v g="$g" '$1 == g { print $2, $3 } END { print 0, 0 }' "$TB_DIR/stats0")
  read -r c1 l1 < <(awk -v g="$g" '$1 == g { print $2, $3 } END { print 0, 0 }' "$TB_DIR/stats1")
  printf '   %-11s received %5d, lost %3d (%.2f s of stream)\n' "$g" $((c1 - c0)) $((l1 - l0)) \
    "$(python3 -c "print(($l1 - $l0) / $CT_RATE)")"
done

ct_senders_stop
tb_capture_stop
echo
echo "== VDP: host B's vsimigctl vdp list"
hctl B vdp list
echo
# vdp_table PCAP STATION_MAC: vsmtest.py's table, the periodic LLDP after
# the first EVB exchange left out.
vdp_table() {
  python3 "$VSMTEST" table "$1" "$2" | awk '$3 != "LLDP" || !seen[$2]++'
}
echo "== every ECP/VDP frame the switch saw on host A's port (sw-a; ms since the first LLDP; periodic LLDP left out)"
vdp_table "$MT_PCAP_A" "$LT_MAC_UP_A"
echo
echo "== every ECP/VDP frame the switch saw on host B's port (sw-b; ms since the first LLDP; periodic LLDP left out)"
vdp_table "$MT_PCAP_B" "$LT_MAC_UP_B"
DEMO_DONE=1
echo
echo "== done in $(( ($(date +%s%N) - T_START) / 1000000000 )) s after the build; tearing the testbed down"

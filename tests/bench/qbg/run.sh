#!/bin/bash
#
# run.sh - 802.1Qbg macvtap benchmark (issue 9): K live migrations of the
# Linux test guest each way (A -> B, B -> A, ... 2K in all), on the
# macvtap test bed (tests/integration/lib/qbg-testbed.sh: two libvirtd
# hosts, VXLAN uplinks, lldpad's bridge role on the ToR), once per variant,
# in one run, against the same ToR lldpad:
#   lldpad   libvirt + lldpad in the station role on both hosts (the
#            baseline: what hosts run today)
#   vsimigd  libvirt + vsimigd as the agent ([qbg] serve-libvirt = true,
#            lldpad not running on the hosts), [peer] and [replay] on
# Each variant gets fresh libvirtds, a freshly booted guest (its own
# instanceid) and its own captures on the ToR ports.
#
# Prints side by side (tests/integration/lib/qbg.py table):
#   - the paused window, source SUSPENDED (virsh event) -> QEMU's first
#     RARP on the destination's ToR port, median and p95;
#   - libvirt's Finish port-profile step ("migrate in finish" ->
#     "Port profile Associate succeeded" in libvirtd's debug log) and its
#     SETLINK -> SUCCESS part;
#   - whether each SUCCESS handed to libvirt came after the bridge's answer
#     to that request on the wire (libvirt's log is ms-truncated: a SUCCESS
#     logged in the same ms as the answer counts as "within 1 ms");
#   - domain start (`virsh start` wall time) and its SETLINK -> SUCCESS,
#     and Prepare's SETLINK -> SUCCESS (lldpad's 125 ms poll);
#   - the VDP requests with M / S on the wire, and per migration whether
#     the hints were right (PRE-ASSOCIATE+M and ASSOCIATE+M from the
#     destination, the S-bit from the source while suspended);
#   - the replay (DHCP request, IGMP/MLD report, GARP of the VM) on the
#     destination's ToR port before RESUMED;
#   - libvirtd.log port-profile errors ("Re-send 802.1qbg associate", ...).
# Goals printed beside them: every SUCCESS the bridge's real answer (lldpad:
# stale at Finish, 22/22 in research/qbg-testbed-facts.md); paused window
# <= lldpad's; start and Prepare not paying the 125 ms poll; 100 % hints.
#
# Environment: K (migrations each way, default 6), VARIANTS (default
# "lldpad vsimigd"), OUT (default /var/tmp/qbg-bench-DATE), SLEEP_S
# between migrations (default 3).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
export LT_QEMU_CAPS_CACHE=${LT_QEMU_CAPS_CACHE:-$VSM_BUILD_ROOT/lt-qemu-caps}
lib=$VSM_SOURCE_ROOT/tests/integration/lib
. "$lib/testbed.sh"
. "$lib/libvirt-testbed.sh"
. "$lib/vsimigd.sh"
. "$lib/migrate.sh"
. "$lib/guest/guest.sh"
. "$lib/carry.sh"
. "$lib/qbg-testbed.sh"

K=${K:-6}
VARIANTS=${VARIANTS:-lldpad vsimigd}
SLEEP_S=${SLEEP_S:-3}
OUT=${OUT:-/var/tmp/qbg-bench-$(date +%Y%m%d-%H%M%S)}
MAC=52:54:00:77:91:01
mkdir -p "$OUT"
say() { printf '[qbg-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

tb_init
lg_build ""
export LG_GUEST_MEM_MIB=${LG_GUEST_MEM_MIB:-128}
export LT_LIBVIRTD_LOG=1
export LT_LIBVIRTD_LOG_FILTERS="1:util.netdevvportprofile 1:util.netdevmacvlan 1:util.netlink 1:qemu.qemu_migration 3:object 3:json 3:event 3:util 3:rpc 3:conf 3:security 3:access 3:qemu 3:cpu 3:node_device 3:storage 3:libvirt 3:remote 3:daemon 3:locking 3:network 3:nwfilter 3:secret 3:interface 3:logging 3:hypervisor"
HOOK=$TB_DIR/vsimig-hook
sed -e "s|@BINDIR@|$VSM_BUILD_ROOT/src/ctl|" \
    -e "s|@SYSCONFDIR@/vsimig/vsimigd.conf|/run/vsimig/vsimigd.conf|" \
    "$VSM_SOURCE_ROOT/hooks/qemu.d/vsimig" >"$HOOK"
chmod 0755 "$HOOK"

qb_setup
ct_switch_setup
ct_dnsmasq_start
FILTER="ether proto 0x8940 or ether proto 0x88cc or rarp or arp or igmp or (udp and (port 67 or port 68)) or (ip6 and not udp)"

# variant_run V: agents, libvirtds, boot, 2K migrations, destroy; evidence in $OUT/V.
variant_run() {
  local v=$1 d=$OUT/$1 g=q$1 iid k src=A dst=B tmp
  mkdir -p "$d"
  case $v in
  lldpad)
    qb_station_start A
    qb_station_start B
    tb_lldpad_wait_evb stA 20
    tb_lldpad_wait_evb stB 20
    lt_libvirtd_start A B
    ;;
  vsimigd)
    qb_hook_install A "$HOOK"
    qb_hook_install B "$HOOK"
    qb_vsimigd_start A
    qb_vsimigd_start B
    lt_libvirtd_start A B
    qb_vsimigd_wait A
    qb_vsimigd_wait B
    ;;
  *) tb_fail "unknown variant '$v'" ;;
  esac
  qb_check_nlports A B
  iid=$(cat /proc/sys/kernel/random/uuid)
  echo "$iid" >"$d/instanceid"
  tb_capture_start "$LT_NS_SW" "$QB_PORT_A" "$d/tp-a.pcap" "$FILTER"
  tb_capture_start "$LT_NS_SW" "$QB_PORT_B" "$d/tp-b.pcap" "$FILTER"
  lt_events_start A "$d/events-A.txt"
  lt_events_start B "$d/events-B.txt"
  : >"$d/steps.txt"
  echo "boot $(date +%s%N)" >>"$d/steps.txt"
  qb_define_guest A "$g" "$MAC" "$iid" >/dev/null
  cp "$LT_DIR/$g.start_ms" "$d/start_ms"
  ct_wait_linux_guest A "$g"
  say "$v: $g up on A (virsh start $(cat "$d/start_ms") ms, lease ${CT_GUEST_IP4:-?} after ${CT_GUEST_LEASE_MS:-?} ms)"
  sleep "$SLEEP_S"
  for ((k = 1; k <= 2 * K; k++)); do
    echo "mig-$k $(date +%s%N)" >>"$d/steps.txt"
    lt_migrate "$src" "$dst" "$g" >/dev/null || tb_fail "$v: migration $k $src -> $dst failed"
    lt_wait_domstate "$dst" "$g" running 20
    ((k == 1)) && lt_virsh A undefine "$g" >/dev/null
    say "$v: migration $k $src -> $dst: $LT_MIGRATE_MS ms"
    tmp=$src src=$dst dst=$tmp
    sleep "$SLEEP_S"
  done
  echo "destroy $(date +%s%N)" >>"$d/steps.txt"
  lt_virsh "$src" destroy "$g" >/dev/null || tb_fail "$v: destroy failed"
  sleep 1.5
  echo "end $(date +%s%N)" >>"$d/steps.txt"
  tb_capture_stop "$d/tp-a.pcap"
  tb_capture_stop "$d/tp-b.pcap"
  lt_events_stop "$d/events-A.txt"
  lt_events_stop "$d/events-B.txt"
  lt_libvirtd_stop A B
  cp "$(lt_host_path A /var/log/libvirt/libvirtd.log)" "$d/libvirtd-A.log"
  cp "$(lt_host_path B /var/log/libvirt/libvirtd.log)" "$d/libvirtd-B.log"
  : >"$(lt_host_path A /var/log/libvirt/libvirtd.log)"
  : >"$(lt_host_path B /var/log/libvirt/libvirtd.log)"
  case $v in
  lldpad)
    qb_station_stop A
    qb_station_stop B
    ;;
  vsimigd)
    mt_vsimigd_stop A
    mt_vsimigd_stop B
    cp "$TB_DIR/vsimigd-A.log" "$TB_DIR/vsimigd-B.log" "$d/" 2>/dev/null || true
    qb_hook_remove A
    qb_hook_remove B
    ;;
  esac
  python3 "$lib/qbg.py" bench --variant "$v" --dir "$d" --instanceid "$iid" \
    --station-a "$LT_MAC_UP_A" --station-b "$LT_MAC_UP_B" --vm-mac "$MAC" >"$d/summary.json"
}

sums=()
for v in $VARIANTS; do
  variant_run "$v"
  sums+=("$OUT/$v/summary.json")
done
{
  echo "802.1Qbg macvtap benchmark: K=$K migrations each way per variant, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 "$lib/qbg.py" table "${sums[@]}"
  cat <<'EOF'
Goals (issue 9): every SUCCESS is the bridge's real answer to that request (lldpad: stale at Finish, 22/22
measured); paused window <= lldpad's; start and Prepare do not pay lldpad's 125 ms GETLINK poll; 100 % of the
migrations carry the right hints (PRE-ASSOCIATE+M, ASSOCIATE+M, S-bit while suspended); replay before RESUMED.
EOF
} | tee "$OUT/summary.txt"
say "evidence in $OUT"

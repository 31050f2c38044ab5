#!/bin/bash
# Integration: 802.1Qbg macvtap guests on two real libvirtd hosts, against
# lldpad's bridge role on the ToR (issue 9, DESIGN.md §8,
# research/qbg-testbed-facts.md; the world: lib/qbg-testbed.sh).
#
# Phase "lldpad" (the BASELINE): lldpad in the station role on both hosts
# is libvirt's VDP agent (libvirt -> netlink -> lldpad -> ECP22/VDP22).
# Phase "vsimigd": vsimigd is the agent on both hosts
# ([qbg] serve-libvirt = true, lldpad not running there), with [peer] and
# [replay] on.
#
# Each phase, on a fresh pair of libvirtds, with the Linux test guest g1
# (lease from dnsmasq on the ToR, IGMP/MLD groups):
#   boot on A; live migration A -> B; live migration B -> A; a migration
#   A -> B aborted with `virsh domjobabort` once it runs; `virsh destroy`
#   on A.
# Evidence: the VDP frames on the ToR ports tp-a / tp-b (decoded by
# vsmtest.py), libvirtd's debug log and `virsh event` on both hosts,
# vsimigd's log; analysed by lib/qbg.py, which prints every sequence.
#
# Asserted in both phases: libvirt's view (start, migrations, abort and
# destroy succeed with the domain where it should be), and the request
# sequence per step (boot: ASSOCIATE from A; migration: PRE-ASSOCIATE from
# the destination, ASSOCIATE from the destination, DE-ASSOCIATE from the
# source; abort: PRE-ASSOCIATE then DE-ASSOCIATE from the would-be
# destination, nothing from the source (it never suspended); destroy:
# DE-ASSOCIATE), each answered by the bridge; every request with Manager ID
# 11 + 15 zeros, type 1193047 v2, VSIID = instanceid, filter MAC/VID 0; no
# second VSI for the VM's MAC.
# Baseline: NO request carries the M- or S-bit.  vsimigd: boot ASSOCIATE
# without hints, PRE-ASSOCIATE+M, ASSOCIATE+M from the destination, the
# S-bit ASSOCIATE from the source while suspended, DE-ASSOCIATE from the
# source; no "Re-send 802.1qbg associate" / port-profile errors in
# libvirtd.log; every SUCCESS libvirt logs came after the bridge's answer
# to that request (libvirt logs in ms: within the same ms, vsimigd's own
# log line for that request decides); the carry's DHCP request, IGMP/MLD
# reports and GARP on the new port before RESUMED (QEMU's first RARP).
# The baseline prints the same figures (stale SUCCESS at Finish, lldpad's
# re-send errors) without asserting them.
#
# Env: QBG_PHASES (default "lldpad vsimigd").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/libvirt-testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/guest/guest.sh"
. "$HERE/lib/carry.sh"
. "$HERE/lib/migrate.sh"
. "$HERE/lib/qbg-testbed.sh"
QBG_PY=$HERE/lib/qbg.py

T_ALL=$(date +%s%N)
say() { printf '[qbg %4ss] %s\n' "$(( ($(date +%s%N) - T_ALL) / 1000000000 ))" "$*"; }
PHASES=${QBG_PHASES:-lldpad vsimigd}
G=g1
# One MAC per phase: the ToR's lldpad may still act on the previous
# phase's VSI (its own DE-ASSOCIATE, later), which must not match this one.
declare -A PHASE_MAC=([lldpad]=52:54:00:77:90:01 [vsimigd]=52:54:00:77:90:02)

tb_init
for tool in dnsmasq bridge python3; do
  command -v "$tool" >/dev/null || tb_skip_or_fail "missing tool: $tool (tests/deps.sh)"
done
lg_build ""
say "guest: $LG_GUEST_DIR ($( ((LG_BUILD_CACHED)) && echo cached || echo built) in $LG_BUILD_MS ms)"
export LG_GUEST_MEM_MIB=${LG_GUEST_MEM_MIB:-128}

# libvirtd's debug log for the port-profile, macvtap, netlink and migration
# code (the Finish step and every SUCCESS come from there); the rest muted.
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
say "world up: ToR $LT_NS_SW (lldpad bridge on $QB_PORT_A,$QB_PORT_B), hosts $LT_NS_A $LT_NS_B"

# phase_run NAME: one boot / migrate / abort / migrate / destroy round.
phase_run() {
  local ph=$1 iid out pa pb ev_a ev_b rc pid i MAC=${PHASE_MAC[$1]}
  local pd=$TB_DIR/$ph
  mkdir -p "$pd"
  iid=$(cat /proc/sys/kernel/random/uuid)
  echo "$iid" >"$pd/instanceid"
  pa=$pd/tp-a.pcap pb=$pd/tp-b.pcap
  tb_capture_start "$LT_NS_SW" "$QB_PORT_A" "$pa" "ether proto 0x8940 or ether proto 0x88cc or rarp or arp or igmp or (udp and (port 67 or port 68)) or (ip6 and not udp)"
  tb_capture_start "$LT_NS_SW" "$QB_PORT_B" "$pb" "ether proto 0x8940 or ether proto 0x88cc or rarp or arp or igmp or (udp and (port 67 or port 68)) or (ip6 and not udp)"
  ev_a=$pd/events-A.txt ev_b=$pd/events-B.txt
  lt_events_start A "$ev_a"
  lt_events_start B "$ev_b"
  : >"$pd/steps.txt"
  step() { echo "$1 $(date +%s%N)" >>"$pd/steps.txt"; }

  step boot
  qb_define_guest A "$G" "$MAC" "$iid" >/dev/null
  say "$ph: g1 started on A in $(cat "$LT_DIR/$G.start_ms") ms (macvtap $(qb_macvtap_of A "$G"))"
  ct_wait_linux_guest A "$G"
  say "$ph: g1 lease $CT_GUEST_IP4 via VEPA and the ToR"
  sleep 1

  step migrate-AB
  lt_migrate A B "$G" >/dev/null || tb_fail "$ph: migration A -> B failed (rc $LT_MIGRATE_RC)"
  lt_wait_domstate B "$G" running 10
  lt_wait_domstate A "$G" "shut off" 10
  # The guest is transient on B (no --persistent): drop A's definition, so
  # that after the migration back it is transient on A too.
  lt_virsh A undefine "$G" >/dev/null || tb_fail "$ph: virsh undefine on A failed"
  say "$ph: A -> B in $LT_MIGRATE_MS ms"
  sleep 2

  step migrate-BA
  lt_migrate B A "$G" >/dev/null || tb_fail "$ph: migration B -> A failed (rc $LT_MIGRATE_RC)"
  lt_wait_domstate A "$G" running 10
  say "$ph: B -> A in $LT_MIGRATE_MS ms"
  sleep 2

  step abort-AB
  # Slow enough to abort: 1 MiB/s for 128 MiB.
  lt_virsh A migrate --live --bandwidth 1 "$G" "qemu+tcp://$LT_HOSTNAME_B/system" \
    >"$pd/abort.out" 2>&1 &
  pid=$!
  tb_track_pid "$pid" virsh-migrate-abort
  for ((i = 0; i < 100; i++)); do
    out=$(lt_virsh A domjobinfo "$G" 2>/dev/null | awk '/^Job type:/ { print $3 }') || out=
    [[ $out == Unbounded ]] && break
    sleep 0.1
  done
  [[ $out == Unbounded ]] || tb_fail "$ph: the migration A -> B never became an active job"
  sleep 1
  lt_virsh A domjobabort "$G" >/dev/null || tb_fail "$ph: domjobabort failed"
  rc=0
  wait "$pid" || rc=$?
  tb__untrack_pid "$pid"
  ((rc != 0)) || tb_fail "$ph: the aborted migration returned 0"
  lt_wait_domstate A "$G" running 10
  lt_wait_domstate B "$G" absent 10
  say "$ph: A -> B aborted ($(tr '\n' ' ' <"$pd/abort.out"))"
  sleep 2

  step destroy
  lt_virsh A destroy "$G" >/dev/null || tb_fail "$ph: virsh destroy failed"
  lt_wait_domstate A "$G" absent 10
  sleep 1.5
  step end
  tb_capture_stop "$pa"
  tb_capture_stop "$pb"
  lt_events_stop "$ev_a"
  lt_events_stop "$ev_b"
  local h
  for h in A B; do
    # libvirtd appends to its log across restarts: each phase starts empty.
    cp "$(lt_host_path "$h" /var/log/libvirt/libvirtd.log)" "$pd/libvirtd-$h.log"
    : >"$(lt_host_path "$h" /var/log/libvirt/libvirtd.log)"
  done
}

# phase_check NAME: analyse and assert (lib/qbg.py exits 1 on any failure,
# after printing every sequence and every failed check).
phase_check() {
  local ph=$1 pd=$TB_DIR/$1 MAC=${PHASE_MAC[$1]}
  python3 "$QBG_PY" check --phase "$ph" --dir "$pd" --instanceid "$(cat "$pd/instanceid")" \
    --station-a "$LT_MAC_UP_A" --station-b "$LT_MAC_UP_B" --vm-mac "$MAC" \
    --mgrid "$QB_MGRID" --typeid "$QB_TYPEID" --typever "$QB_TYPEVER" ||
    tb_fail "$ph: checks failed (evidence above; TB_KEEP=1 keeps $pd)"
}

for ph in $PHASES; do
  case $ph in
  lldpad)
    qb_station_start A
    qb_station_start B
    tb_lldpad_wait_evb stA 20
    tb_lldpad_wait_evb stB 20
    lt_libvirtd_start A B
    qb_check_nlports A B
    say "lldpad: stations up, EVB negotiated, libvirtds up (netlink ports < 2^31)"
    phase_run lldpad
    lt_libvirtd_stop A B
    qb_station_stop A
    qb_station_stop B
    phase_check lldpad
    ;;
  vsimigd)
    qb_hook_install A "$HOOK"
    qb_hook_install B "$HOOK"
    qb_vsimigd_start A
    qb_vsimigd_start B
    lt_libvirtd_start A B
    qb_check_nlports A B
    qb_vsimigd_wait A
    qb_vsimigd_wait B
    say "vsimigd: agents up on both hosts (no lldpad there), EVB with the ToR, libvirtds up"
    phase_run vsimigd
    lt_libvirtd_stop A B
    mt_vsimigd_stop A
    mt_vsimigd_stop B
    qb_hook_remove A
    qb_hook_remove B
    cp "$TB_DIR/vsimigd-A.log" "$TB_DIR/vsimigd-B.log" "$TB_DIR/vsimigd/"
    phase_check vsimigd
    ;;
  *) tb_fail "unknown phase '$ph'" ;;
  esac
done
say "PASS ($PHASES)"

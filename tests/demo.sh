#!/bin/bash
# vsimig demo: one live migration between two self-made libvirt hosts, with
# vsimigd on both following it and speaking VDP to the top-of-rack switch.
#
#   switch netns: kernel bridge (STP, IGMP snooping) + lldpad in the
#                 IEEE 802.1Qbg bridge role on both host ports
#   host A, host B: netns + mount + UTS namespaces, each with its own
#                 libvirtd 9.0 (TCG QEMU), vsimig's hook, and vsimigd
#
# A guest boots on A, then `virsh migrate --live` moves it to B.  Printed:
# both hosts' `vsimigctl show` timelines (hooks, events, VDP requests and
# answers, ms offsets) and every LLDP/ECP/VDP frame the switch saw on each
# port.  Everything is torn down at the end.  Run as root on Debian 12; it
# installs its own dependencies and builds first (tests/deps.sh).
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

tb_init
echo "== building the testbed: switch + lldpad bridge, hosts A and B with libvirtd and vsimigd"
mt_setup
echo "== booting guest $MT_GUEST (TCG, no disk) on host A"
lt_define_guest A "$MT_GUEST" "$MT_GUEST_MAC" >/dev/null
mt_wait A "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
hctl A domains
echo
echo "== virsh migrate --live $MT_GUEST qemu+tcp://hostb/system"
lt_migrate A B "$MT_GUEST" >/dev/null
echo "   took $LT_MIGRATE_MS ms"
mt_wait B "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
mt_wait A "all(v['state'] == 'none' for v in d['vsis'] if v['mac'] == '$MT_GUEST_MAC')" 20
sleep 0.5
echo
echo "== host A (source): vsimigctl show $MT_GUEST"
hctl A show "$MT_GUEST"
echo
echo "== host B (destination): vsimigctl show $MT_GUEST"
hctl B show "$MT_GUEST"
echo
echo "== host B: vsimigctl vdp list"
hctl B vdp list
tb_capture_stop
echo
echo "== what the switch saw on host A's port (sw-a)"
python3 "$VSMTEST" table "$MT_PCAP_A" "$LT_MAC_UP_A"
echo
echo "== what the switch saw on host B's port (sw-b)"
python3 "$VSMTEST" table "$MT_PCAP_B" "$LT_MAC_UP_B"
echo
echo "== done; tearing the testbed down"

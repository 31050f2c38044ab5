#!/bin/bash
# vsimig demo: the VDP exchange of a live migration, played by vsimigd (the
# station, in one network namespace) against lldpad in the IEEE 802.1Qbg
# bridge role (the real peer, in another), then torn down.
#
#   destination: PRE-ASSOCIATE with the M-bit  (before the switchover)
#   source:      ASSOCIATE with the S-bit      (VM suspended, leaving)
#   destination: ASSOCIATE with the M-bit      (switchover)
#   source:      DE-ASSOCIATE                  (migration done)
#
# One uplink plays both hosts here; the follow-up work drives the same
# requests from real libvirt migrations on two hosts.  Run as root on
# Debian 12; installs its own dependencies and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== installing dependencies and building (tests/deps.sh)"
bash tests/deps.sh
export VSM_BUILD_ROOT=$PWD/build VSM_SOURCE_ROOT=$PWD
. tests/integration/lib/testbed.sh
. tests/integration/lib/vsimigd.sh

tb_init
tb_netns_pair
PCAP=$TB_DIR/bridge.pcap
tb_capture_start "$TB_NS_BR" "$TB_IF_BR" "$PCAP"
echo "== vsimigd (station) on $TB_IF_ST in netns $TB_NS_ST"
vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST"
echo "== lldpad (bridge role) on $TB_IF_BR in netns $TB_NS_BR"
tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR" bridge
vsm_wait_bridge 30
vsm_ctl status
echo

VM=(--uplink "$TB_IF_ST" --mac 52:54:00:77:10:01 --type-id 4711 --type-version 1
    --instance 9a7c1e2d-3b4f-4a5e-8d6c-7b8a9c0d1e2f)
step() { echo "-- $1"; shift; vsm_ctl vdp "$@" "${VM[@]}"; }
step "destination, before the switchover" pre-associate --migrated-to
step "source, VM suspended"                associate --suspended
step "destination, switchover"             associate --migrated-to
echo "-- the VSI is kept associated by keep-alives; waiting 7 s for one"
sleep 7
vsm_ctl vdp list
step "source, after the migration"         de-associate
echo
tb_capture_stop

echo "== what lldpad's bridge port saw (decoded by tests/integration/lib/vsmtest.py)"
python3 "$VSMTEST" table "$PCAP" "$TB_MAC_ST"
echo
echo "== done; tearing the testbed down"

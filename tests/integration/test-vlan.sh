#!/bin/bash
# Integration: VLAN-correct replay and VDP with an explicit VID from the
# configuration ([replay] vlan = br0:N, for a trunk the host cannot
# describe).  This kernel has neither 8021q nor bridge VLAN filtering
# (research/qbg-testbed-facts.md), so the VID cannot come from the host
# here: the derivation from VLAN devices and bridge VLAN info is covered by
# tests/unit/test-proto-rtlink.c; this test proves what goes on the wire.
#
# The world (network namespaces of this run, addresses in 10.77.0.0/16),
# as in test-switchover-changes.sh: vsimigd in <id>-h on br0 <- up0, t0
# (t0 = the vNIC's tap), [libvirt] enabled = false (the domain exists only
# as the hook calls libvirt would make), a keyed source in <id>-src that
# sends the STATE and the SWITCHOVER, and the uplink's far end sw0 in
# <id>-sw, captured there with tcpdump (a plain switch port: it forwards
# and records tagged frames as they are; lldpad runs the bridge role of
# VDP on it; the capture is read by an independent decoder, lib/carry.py
# and lib/vsmtest.py).  What this does not prove: that a DHCP server in
# VLAN N answers (no 8021q here to put one in VLAN N).
#
# The carried vNIC state has a DHCP lease (client-id: none), IGMPv3 groups
# and two addresses.  Checks:
#   1. the replay is on sw0: a DHCP REQUEST (INIT-REBOOT), the IGMPv3
#      report(s) with every group, a gratuitous ARP per address, each with
#      an 802.1Q tag (TPID 0x8100) of VID N and PCP 0;
#   2. nothing from the VM's MAC reaches sw0 untagged or in another VLAN;
#   3. every VDP request vsimigd sends for the vNIC (PRE-ASSOCIATE at the
#      start hook, ASSOCIATE at the SWITCHOVER) carries filter VID N (the
#      ECP/VDP frames on sw0, decoded by lib/vsmtest.py), and lldpad in the
#      bridge role on sw0 answers them without error, with filter VID N;
#   4. the timeline says "... vid N (config)" and `vsimigctl --json show`
#      lists the vNIC as kind bridge, uplink up0, vid N from config.
# Every assertion is evaluated; failures are listed at the end (exit 1).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/hookbed.sh"
hb_init vlan
NAME=vlan1 UUID=73770000-0000-4000-8000-5d0000000001 VID=173
MAC=02:76:73:6d:33:01 IP1=10.77.33.11 IP2=10.77.33.12 SERVER=10.77.33.1
G0=239.77.33.1 G1=239.77.33.2 G2=239.77.33.3
DST_IP=10.77.253.1 SRC_IP=10.77.253.2 PEER_PORT=7790 SRC_PORT=7791

hb_world 02:76:73:6d:33
hb_attach bridge

# ---- vsimigd, the source, the capture -------------------------------------------------
hb_daemon bridge false "vlan = br0:$VID"
# The switch port answers VDP as lldpad's bridge role does (EVB on sw0).
tb_lldpad_start "$NS_SW" sw0 bridge
vsm_wait_bridge 30
hb_token
hb_source_start "$(hb_nic "$SERVER" "$IP1" -- "$G0" "$G1")" "$(hb_nic "$SERVER" "$IP1" "$IP2" -- "$G0" "$G1" "$G2")"
PCAP=$TB_DIR/sw0.pcap
tb_capture_start "$NS_SW" sw0 "$PCAP" "ether src $MAC or ether proto $TB_ETH_ECP or (vlan and ether src $MAC)"
say "world, vsimigd (pid $VSM_PID), the keyed source at $SRC_IP:$SRC_PORT, capture on sw0"

# ---- the hooks: migrate, prepare, start ------------------------------------------------
cat >"$TB_DIR/dom.xml" <<XML
<domain type='kvm'><name>$NAME</name><uuid>$UUID</uuid><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<metadata><vsimig:state xmlns:vsimig="https://vsimig.dev/xmlns/metadata/1" version="1" origin="$SRC_IP:$SRC_PORT" token="$TOKEN" generation="1"><vsimig:nic mac="$MAC"><vsimig:client-id state="none"/><vsimig:group address="$G0" version="igmpv3" mode="exclude"/><vsimig:ip address="$IP1"/></vsimig:nic></vsimig:state></metadata>
<os><type arch='x86_64'>hvm</type></os><devices><interface type='bridge'><mac address='$MAC'/><source bridge='br0'/><target dev='t0'/><model type='virtio'/></interface></devices></domain>
XML
hb_hooks_state

# ---- the SWITCHOVER -------------------------------------------------------------------
hb_switchover "^replay.*frame\\(s\\)"

# ---- the checks ------------------------------------------------------------------------
out=$(python3 - "$HERE/lib" "$PCAP" "$TB_DIR/show.json" "$MAC" "$VID" "$G0 $G1 $G2" "$IP1 $IP2" <<'PY'
import importlib.util, json, re, sys
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location("carry", sys.argv[1] + "/carry.py")
carry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(carry)
import vsmtest
pcap, show, mac, vid = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
groups, addrs = sys.argv[6].split(), sys.argv[7].split()
fails = []
import vlanwire
# 1, 2: the VM's frames, tagged; 3: VDP filter VIDs (lib/vlanwire.py).
vlanwire.tagged_replay(carry, pcap, mac, vid, groups, addrs, fails)
n_vdp = vlanwire.vdp_filters(pcap, mac, vid, fails)
# lldpad's bridge decoded the filter and answered with it, without error.
ok_answers = [(tl["tlv"], flt["vid"]) for e in vsmtest.frames(pcap) for tl in e.get("tlvs") or []
              if isinstance(tl, dict) and tl.get("response") and not tl.get("reason")
              for flt in tl.get("filters") or [] if flt.get("mac") == mac]
for a in sorted(set(ok_answers)):
    print(f"info: lldpad's bridge answered {a[0]} for {mac} with filter VID {a[1]}, no error")
if not any(v == vid for _, v in ok_answers):
    fails.append(f"no answer without error from lldpad's bridge with filter VID {vid}: {sorted(set(ok_answers))}")
if any(v != vid for _, v in ok_answers):
    fails.append(f"lldpad's bridge answered with another filter VID: {sorted(set(ok_answers))}")
if n_vdp < 2:
    fails.append(f"{n_vdp} VDP request(s) for {mac} on sw0, want the PRE-ASSOCIATE and the ASSOCIATE")
# 4: timeline and show.
try:
    d = json.load(open(show))
except ValueError:
    d = {}
notes = [e["text"] for t in d.get("timelines", []) for e in t["entries"]]
if not any(re.search(rf"^replay vNIC {mac}: \d+ frame\(s\) on up0, vid {vid} \(config\)", n) for n in notes):
    fails.append(f"no timeline note 'replay vNIC {mac}: N frame(s) on up0, vid {vid} (config)': {notes}")
nics = d.get("nics") or [{}]
n0 = nics[0]
want = {"kind": "bridge", "uplink": "up0", "vid": vid, "vid_source": "config", "vid_state": "tagged"}
for k, v in want.items():
    if n0.get(k) != v:
        fails.append(f"vsimigctl --json show: nics[0].{k} = {n0.get(k)!r}, want {v!r}")
for f in fails:
    print("FAIL: " + f)
PY
) || nfail "the check itself failed: $out"
hb_report "$out"
hb_finish

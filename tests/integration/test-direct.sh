#!/bin/bash
# Integration: a direct (macvtap) NIC followed and replayed without libvirt
# (the hook calls libvirt would make), on the uplink under its macvtap, in
# its VLAN.  The world (network namespaces of this run, 10.77.0.0/16):
#
#   <id>-src   mg1                 a keyed source (lib/peerauth.py) that
#               |                  sends the STATE and the SWITCHOVER
#   <id>-h     mg0, up0, mvt0      vsimigd; mvt0 = macvtap (vepa) over up0,
#               |                  the vNIC's <target dev>; up0 is a veth
#               |                  whose IFLA_LINK points into <id>-sw (the
#               |                  walk stops there: up0 is the root)
#   <id>-sw    sw0                 the uplink's far end, captured
#
# [replay] vlan = up0:N (a direct NIC's key is its source device) and
# mdb = true.  Checks:
#   1. the replay (DHCP REQUEST, IGMPv3 report, GARPs) leaves on up0 (seen
#      on sw0), each tagged with VID N, nothing of the VM untagged;
#   2. the VDP PRE-ASSOCIATE and ASSOCIATE for the vNIC go out on up0 with
#      filter VID N;
#   3. no mdb step (a macvtap has no local bridge): no "mdb:" note;
#   4. `vsimigctl --json show`: kind direct, source_dev up0, mode vepa,
#      uplink up0, vid N from config; the timeline's replay note names up0.
# What it does not cover: learning on the macvtap (tests/unit/
# test-io-sniffer.c /io-sniffer/macvtap), libvirt itself (the macvtap
# two-host testbed).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/hookbed.sh"
hb_init direct
NAME=direct1 UUID=73770000-0000-4000-8000-5e0000000001 VID=174
MAC=02:76:73:6d:34:01 IP1=10.77.34.11 IP2=10.77.34.12 SERVER=10.77.34.1
G0=239.77.34.1 G1=239.77.34.2 G2=239.77.34.3
DST_IP=10.77.252.1 SRC_IP=10.77.252.2 PEER_PORT=7792 SRC_PORT=7793

hb_world 02:76:73:6d:34
hb_attach direct

# ---- vsimigd, the source, the capture -------------------------------------------------
hb_daemon direct true "vlan = up0:$VID"
hb_token
hb_source_start "$(hb_nic "$SERVER" "$IP1" -- "$G0" "$G1")" "$(hb_nic "$SERVER" "$IP1" "$IP2" -- "$G0" "$G1" "$G2")"
PCAP=$TB_DIR/sw0.pcap
tb_capture_start "$NS_SW" sw0 "$PCAP" "ether src $MAC or ether proto $TB_ETH_ECP or (vlan and ether src $MAC)"
say "world, vsimigd (pid $VSM_PID), the keyed source at $SRC_IP:$SRC_PORT, capture on sw0"

# ---- the hooks: migrate, prepare, start ------------------------------------------------
cat >"$TB_DIR/dom.xml" <<XML
<domain type='kvm'><name>$NAME</name><uuid>$UUID</uuid><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<metadata><vsimig:state xmlns:vsimig="https://vsimig.dev/xmlns/metadata/1" version="1" origin="$SRC_IP:$SRC_PORT" token="$TOKEN" generation="1"><vsimig:nic mac="$MAC"><vsimig:client-id state="none"/><vsimig:group address="$G0" version="igmpv3" mode="exclude"/><vsimig:ip address="$IP1"/></vsimig:nic></vsimig:state></metadata>
<os><type arch='x86_64'>hvm</type></os><devices><interface type='direct'><mac address='$MAC'/><source dev='up0' mode='vepa'/><target dev='mvt0'/><model type='virtio'/></interface></devices></domain>
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
want = {"kind": "direct", "source_dev": "up0", "mode": "vepa", "uplink": "up0", "vid": vid,
        "vid_source": "config", "vid_state": "tagged"}
mdb = [n for n in notes if n.startswith("mdb")]
if mdb:
    fails.append(f"an mdb step for a direct NIC: {mdb}")
for k, v in want.items():
    if n0.get(k) != v:
        fails.append(f"vsimigctl --json show: nics[0].{k} = {n0.get(k)!r}, want {v!r}")
for f in fails:
    print("FAIL: " + f)
PY
) || nfail "the check itself failed: $out"
hb_report "$out"
hb_finish

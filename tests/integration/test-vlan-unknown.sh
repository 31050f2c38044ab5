#!/bin/bash
# Integration: a vNIC whose VID cannot be known gets no replay, and the
# timeline says why: never an untagged guess.  The world is that of
# test-direct.sh (a direct NIC, macvtap mvt0 over up0, the hooks, a keyed
# source, sw0 captured), but libvirt's <vlan><tag id='42'/> and
# [replay] vlan = up0:none disagree.  Checks:
#   1. nothing from the VM's MAC reaches sw0 (no replay at all, tagged or
#      not), although the carried state has a lease, groups and addresses;
#   2. the timeline says "replay vNIC MAC: no replay: VID unknown:
#      conflict: libvirt says 42, config says none";
#   3. `vsimigctl --json show`: vid null, vid_state unknown, vid_why the
#      conflict;
#   4. the VDP requests still go out (the VSI keeps libvirt's VID 42 in its
#      filter) and the timeline notes that the VID is unknown.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/hookbed.sh"
hb_init vlan-unknown
NAME=vlanunk1 UUID=73770000-0000-4000-8000-5f0000000001 VID=42
MAC=02:76:73:6d:35:01 IP1=10.77.35.11 IP2=10.77.35.12 SERVER=10.77.35.1
G0=239.77.35.1 G1=239.77.35.2 G2=239.77.35.3
DST_IP=10.77.251.1 SRC_IP=10.77.251.2 PEER_PORT=7794 SRC_PORT=7795

hb_world 02:76:73:6d:35
hb_attach direct

# ---- vsimigd, the source, the capture -------------------------------------------------
hb_daemon direct true "vlan = up0:none"
hb_token
hb_source_start "$(hb_nic "$SERVER" "$IP1" -- "$G0" "$G1")" "$(hb_nic "$SERVER" "$IP1" "$IP2" -- "$G0" "$G1" "$G2")"
PCAP=$TB_DIR/sw0.pcap
tb_capture_start "$NS_SW" sw0 "$PCAP" "ether src $MAC or ether proto $TB_ETH_ECP or (vlan and ether src $MAC)"
say "world, vsimigd (pid $VSM_PID), the keyed source at $SRC_IP:$SRC_PORT, capture on sw0"

# ---- the hooks: migrate, prepare, start ------------------------------------------------
cat >"$TB_DIR/dom.xml" <<XML
<domain type='kvm'><name>$NAME</name><uuid>$UUID</uuid><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<metadata><vsimig:state xmlns:vsimig="https://vsimig.dev/xmlns/metadata/1" version="1" origin="$SRC_IP:$SRC_PORT" token="$TOKEN" generation="1"><vsimig:nic mac="$MAC"><vsimig:client-id state="none"/><vsimig:group address="$G0" version="igmpv3" mode="exclude"/><vsimig:ip address="$IP1"/></vsimig:nic></vsimig:state></metadata>
<os><type arch='x86_64'>hvm</type></os><devices><interface type='direct'><mac address='$MAC'/><source dev='up0' mode='vepa'/><vlan><tag id='$VID'/></vlan><target dev='mvt0'/><model type='virtio'/></interface></devices></domain>
XML
hb_hooks_state

# ---- the SWITCHOVER -------------------------------------------------------------------
hb_switchover "^replay vNIC .*: no replay"

# ---- the checks ------------------------------------------------------------------------
out=$(python3 - "$HERE/lib" "$PCAP" "$TB_DIR/show.json" "$MAC" "$VID" <<'PY'
import json, re, sys
sys.path.insert(0, sys.argv[1])
import vsmtest
pcap, show, mac, vid = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
fails = []
raw = [f for t, f in vsmtest.read_pcap(pcap) if vsmtest.mac(f[6:12]) == mac]
for f in raw:
    fails.append(f"a frame from {mac} on sw0 although its VID is unknown: {f[:24].hex()}")
print(f"info: {len(raw)} frame(s) from {mac} on sw0")
try:
    d = json.load(open(show))
except ValueError:
    d = {}
notes = [e["text"] for t in d.get("timelines", []) for e in t["entries"]]
want = f"replay vNIC {mac}: no replay: VID unknown: conflict: libvirt says {vid}, config says none"
if want not in notes:
    fails.append(f"no timeline note '{want}': {notes}")
if not any(n.startswith(f"vNIC {mac}: VID unknown (conflict") for n in notes):
    fails.append(f"no timeline note that the VDP filter keeps libvirt's VID: {notes}")
n0 = (d.get("nics") or [{}])[0]
for k, v in (("vid", None), ("vid_state", "unknown"), ("kind", "direct"), ("uplink", "up0")):
    if n0.get(k, "missing") != v:
        fails.append(f"vsimigctl --json show: nics[0].{k} = {n0.get(k, 'missing')!r}, want {v!r}")
if "conflict" not in (n0.get("vid_why") or ""):
    fails.append(f"vsimigctl --json show: nics[0].vid_why = {n0.get('vid_why')!r}")
vdp = {(tl["tlv"], flt["vid"]) for e in vsmtest.frames(pcap) for tl in e.get("tlvs") or []
       if isinstance(tl, dict) and tl.get("response") is False
       for flt in tl.get("filters") or [] if flt.get("mac") == mac}
print(f"info: VDP requests (type, filter VID): {sorted(vdp)}")
if not vdp or any(v != vid for _, v in vdp):
    fails.append(f"VDP requests for {mac}: {sorted(vdp)}, want some, all with libvirt's VID {vid}")
for f in fails:
    print("FAIL: " + f)
PY
) || nfail "the check itself failed: $out"
hb_report "$out"
hb_finish

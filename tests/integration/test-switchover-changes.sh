#!/bin/bash
# Integration: the on-time replay on a destination uses the vNIC states the
# source's SWITCHOVER itself carries (src/daemon/carry.c
# domain_forward_switchover: merged BEFORE host->switchover runs the
# replay), and its timeline note gives the time from the source's
# SUSPENDED to the last frame.
#
# A SWITCHOVER carries only the vNICs changed since the last STATE, so a
# replay that ran before those changes were merged would still send
# everything the snapshot and the STATEs had: only the final changes would
# be missing.  This test makes exactly those changes the evidence.
#
# The world (network namespaces of this run, addresses in 10.77.0.0/16):
#
#   <id>-src   mg1 10.77.254.2/30  a source that holds the [peer] key and the
#               |                  token (lib/peerauth.py keyed-source)
#   <id>-h     mg0 10.77.254.1/30  vsimigd, [libvirt] enabled = false (the
#              br0 <- up0, t0      domain exists only as the hook calls a
#               |                  libvirt would make); t0 = the vNIC's tap
#   <id>-sw    sw0                 the uplink's far end: tcpdump
#
# Sequence: hooks "migrate begin" (domain XML whose <metadata> snapshot
# names the source and has the vNIC with group G0 and address IP1),
# "prepare begin", "start begin"; vsimigd connects to the source, which
# sends a STATE (groups G0 G1, address IP1), then a SWITCHOVER whose only
# vNIC state adds group G2 and address IP2.  Checks:
#   1. the IGMPv3 report(s) on sw0 from the vNIC's MAC carry G0, G1 AND G2
#      (G2 only the SWITCHOVER had), each as a record, before any RESUMED
#      (there is none: no libvirt, so this is the on-time replay);
#   2. a gratuitous ARP for IP2 (only the SWITCHOVER had it) and for IP1;
#   3. the timeline note "replay: N frame(s), last X ms after the source's
#      SUSPENDED", not late, with N = the frames seen on sw0 from the MAC
#      and X = the last of them minus the suspended_at the source sent
#      (within 100 ms: the daemon stamps the frame after it wrote it);
#   4. `vsimigctl --json show`: switchover received, replayed, not late,
#      replay_frames N, suspended_to_last_frame_ms = X; the daemon counts
#      one SWITCHOVER received, none refused.
# Every assertion is evaluated; failures are listed at the end (exit 1).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/hookbed.sh"
hb_init switchover-changes
NAME=swch1 UUID=73770000-0000-4000-8000-5c0000000001
MAC=02:76:73:6d:32:01 IP1=10.77.32.11 IP2=10.77.32.12
G0=239.77.32.1 G1=239.77.32.2 G2=239.77.32.3
DST_IP=10.77.254.1 SRC_IP=10.77.254.2 PEER_PORT=7788 SRC_PORT=7789

hb_world 02:76:73:6d:32
hb_attach bridge

# ---- vsimigd, the source, the capture -------------------------------------------------
hb_daemon bridge false
hb_token
hb_source_start "$(hb_nic - "$IP1" -- "$G0" "$G1")" "$(hb_nic - "$IP1" "$IP2" -- "$G0" "$G1" "$G2")"
PCAP=$TB_DIR/sw0.pcap
tb_capture_start "$NS_SW" sw0 "$PCAP" "ether src $MAC"
say "world, vsimigd (pid $VSM_PID), the keyed source at $SRC_IP:$SRC_PORT, capture on sw0"

# ---- the hooks: migrate, prepare, start ------------------------------------------------
cat >"$TB_DIR/dom.xml" <<XML
<domain type='kvm'><name>$NAME</name><uuid>$UUID</uuid><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<metadata><vsimig:state xmlns:vsimig="https://vsimig.dev/xmlns/metadata/1" version="1" origin="$SRC_IP:$SRC_PORT" token="$TOKEN" generation="1"><vsimig:nic mac="$MAC"><vsimig:client-id state="unknown"/><vsimig:group address="$G0" version="igmpv3" mode="exclude"/><vsimig:ip address="$IP1"/></vsimig:nic></vsimig:state></metadata>
<os><type arch='x86_64'>hvm</type></os><devices><interface type='bridge'><mac address='$MAC'/><source bridge='br0'/><target dev='t0'/><model type='virtio'/></interface></devices></domain>
XML
hb_hooks_state

# ---- the SWITCHOVER -------------------------------------------------------------------
hb_switchover "^replay.*frame\\(s\\)"

# ---- the checks ------------------------------------------------------------------------
out=$(python3 - "$CARRY_PY" "$PCAP" "$TB_DIR/show.json" "$TB_DIR/status.json" "$MAC" "$SUSP" \
  "$G0 $G1 $G2" "$IP1 $IP2" "$G2" "$IP2" <<'PY'
import importlib.util, json, re, sys
spec = importlib.util.spec_from_file_location("carry", sys.argv[1])
carry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(carry)
pcap, show, status, mac, susp = sys.argv[2:7]
groups, addrs, only_g, only_ip = sys.argv[7].split(), sys.argv[8].split(), sys.argv[9], sys.argv[10]
susp = int(susp) / 1e6
fails = []
fr = [f for f in carry.frames(pcap) if f["src"] == mac]
for f in fr:
    print(f"info: {(f['t'] - susp) * 1000:8.2f} ms after SUSPENDED: {carry.describe(f)}")
recs = [g for f in fr if f.get("kind") == "igmp-report" and f.get("version") == 3 for g in f["groups"]]
for g in groups:
    n = recs.count(g)
    if n != 1:
        fails.append(f"group {g}: {n} IGMPv3 record(s) on sw0, want 1"
                     + (" (only the SWITCHOVER carried it: its vNIC state was not used by the replay)" if g == only_g else ""))
garps = [f["spa"] for f in fr if f.get("kind") == "arp" and f.get("gratuitous")]
for a in addrs:
    if a not in garps:
        fails.append(f"no gratuitous ARP for {a} on sw0"
                     + (" (only the SWITCHOVER carried it: its vNIC state was not used by the replay)" if a == only_ip else ""))
try:
    d = json.load(open(show))
except ValueError:
    d = {}
notes = [e["text"] for t in d.get("timelines", []) for e in t["entries"] if re.match(r"replay", e["text"])]
m = None
for n in notes:
    m = re.fullmatch(r"replay: (\d+) frame\(s\), last (-?[0-9.]+) ms after the source's SUSPENDED", n) or m
if not m:
    fails.append(f"no on-time replay note \"replay: N frame(s), last X ms after the source's SUSPENDED\": {notes}")
else:
    n_note, x = int(m.group(1)), float(m.group(2))
    print(f"info: note: {n_note} frame(s), last {x:.2f} ms after the source's SUSPENDED")
    if n_note != len(fr):
        fails.append(f"the note counts {n_note} frame(s), sw0 saw {len(fr)} from {mac}")
    if fr:
        wire = (fr[-1]["t"] - susp) * 1000
        print(f"info: on sw0 the last frame came {wire:.2f} ms after the source's SUSPENDED")
        if not (0 <= x and abs(x - wire) <= 100):
            fails.append(f"the note's {x:.2f} ms is not the wire's {wire:.2f} ms (+-100) after SUSPENDED")
c = d.get("carry") or {}
for k, want in (("switchover_received", True), ("replayed", True), ("replay_late", False)):
    if c.get(k, None if want else False) != want:
        fails.append(f"vsimigctl --json show: {k} = {c.get(k)!r}, want {want!r}")
if c.get("replay_frames") != len(fr):
    fails.append(f"vsimigctl --json show: replay_frames = {c.get('replay_frames')!r}, sw0 saw {len(fr)}")
if m and abs(float(c.get("suspended_to_last_frame_ms", -1e9)) - float(m.group(2))) > 0.01:
    fails.append(f"vsimigctl --json show: suspended_to_last_frame_ms = {c.get('suspended_to_last_frame_ms')!r}, "
                 f"the note says {m.group(2)}")
try:
    k = json.load(open(status))["libvirt"]["carry"]
except (ValueError, KeyError):
    k = {}
if k.get("switchovers_received") != 1 or k.get("switchovers_refused") != 0:
    fails.append(f"vsimigctl --json status: switchovers_received {k.get('switchovers_received')!r}, "
                 f"switchovers_refused {k.get('switchovers_refused')!r}; want 1, 0")
for f in fails:
    print("FAIL: " + f)
PY
) || nfail "the check itself failed: $out"
hb_report "$out"
hb_finish

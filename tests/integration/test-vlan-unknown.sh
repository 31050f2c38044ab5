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
PA_PY=$HERE/lib/peerauth.py
CARRY_PY=$HERE/lib/carry.py

T_ALL=$(date +%s%N)
say() { printf '[vlan-unknown %4ss] %s\n' "$(( ($(date +%s%N) - T_ALL) / 1000000000 ))" "$*"; }
FAILS=()
nfail() {
  FAILS+=("$*")
  say "FAIL: $*"
}
NAME=vlanunk1 UUID=73770000-0000-4000-8000-5f0000000001 VID=42
MAC=02:76:73:6d:35:01 IP1=10.77.35.11 IP2=10.77.35.12 SERVER=10.77.35.1
G0=239.77.35.1 G1=239.77.35.2 G2=239.77.35.3
DST_IP=10.77.251.1 SRC_IP=10.77.251.2 PEER_PORT=7794 SRC_PORT=7795

tb_init
command -v python3 >/dev/null || tb_skip_or_fail "missing tool: python3 (tests/deps.sh)"
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
NS_H=$TB_ID-h NS_SW=$TB_ID-sw NS_SRC=$TB_ID-src

# ---- the world ---------------------------------------------------------------------
for ns in "$NS_H" "$NS_SW" "$NS_SRC"; do
  ip netns add "$ns" || tb_fail "cannot create netns $ns"
  TB__NETNS+=("$ns")
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NS_H" link add up0 address 02:76:73:6d:35:10 type veth peer name sw0 address 02:76:73:6d:35:11 netns "$NS_SW"
ip -n "$NS_H" link add mg0 type veth peer name mg1 netns "$NS_SRC"
ip -n "$NS_H" addr add "$DST_IP/30" dev mg0
ip -n "$NS_SRC" addr add "$SRC_IP/30" dev mg1
ip -n "$NS_H" link add link up0 name mvt0 address "$MAC" type macvtap mode vepa
for l in mg0 up0 mvt0; do ip -n "$NS_H" link set "$l" up; done
ip -n "$NS_SRC" link set mg1 up
ip -n "$NS_SW" link set sw0 up
tb_wait_link_up "$NS_SW" sw0
tb_wait_link_up "$NS_SRC" mg1
tb_wait_link_up "$NS_H" up0

# ---- vsimigd, the source, the capture -------------------------------------------------
KEY=$TB_DIR/peer.key
(umask 077 && head -c 32 /dev/urandom >"$KEY") || tb_fail "cannot write $KEY"
vsm_daemon_start "$NS_H" up0 "[libvirt]
enabled = false
[peer]
listen = $DST_IP:$PEER_PORT
key-file = $KEY
[replay]
enabled = true
mdb = true
query-after-resume = false
vlan = up0:none"
TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
nic() { # nic IP... -- GROUP...: a vNIC state (peer JSON) with those addresses and groups
  python3 -c '
import json, sys, time
a = sys.argv[3:]
i = a.index("--")
print(json.dumps({"mac": sys.argv[1], "client_id": {"state": "none"}, "ip4": a[:i], "ip6": [],
                  "lease": {"address": a[0], "server_id": sys.argv[2], "lease_time": 3600,
                            "ack_time": int(time.time() * 1e6)},
                  "groups": [{"address": g, "version": "igmpv3", "mode": "exclude", "sources": []} for g in a[i + 1:]]}))
' "$MAC" "$SERVER" "$@"
}
GO=$TB_DIR/go SRC_LOG=$TB_DIR/source.log
ip netns exec "$NS_SRC" python3 "$PA_PY" keyed-source "$SRC_IP" "$SRC_PORT" "$KEY" "$TOKEN" "$SRC_LOG" \
  "$(nic "$IP1" -- "$G0" "$G1")" "$(nic "$IP1" "$IP2" -- "$G0" "$G1" "$G2")" "$GO" &
SRC_PID=$!
tb_track_pid "$SRC_PID" keyed-source
for ((i = 0; i < 50; i++)); do grep -q '^listening' "$SRC_LOG" 2>/dev/null && break; sleep 0.1; done
grep -q '^listening' "$SRC_LOG" || tb_fail "the keyed source does not listen: $(cat "$SRC_LOG" 2>/dev/null)"
PCAP=$TB_DIR/sw0.pcap
tb_capture_start "$NS_SW" sw0 "$PCAP" "ether src $MAC or ether proto $TB_ETH_ECP or (vlan and ether src $MAC)"
say "world, vsimigd (pid $VSM_PID), the keyed source at $SRC_IP:$SRC_PORT, capture on sw0"

# ---- the hooks: migrate, prepare, start ------------------------------------------------
cat >"$TB_DIR/dom.xml" <<XML
<domain type='kvm'><name>$NAME</name><uuid>$UUID</uuid><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<metadata><vsimig:state xmlns:vsimig="https://vsimig.dev/xmlns/metadata/1" version="1" origin="$SRC_IP:$SRC_PORT" token="$TOKEN" generation="1"><vsimig:nic mac="$MAC"><vsimig:client-id state="none"/><vsimig:group address="$G0" version="igmpv3" mode="exclude"/><vsimig:ip address="$IP1"/></vsimig:nic></vsimig:state></metadata>
<os><type arch='x86_64'>hvm</type></os><devices><interface type='direct'><mac address='$MAC'/><source dev='up0' mode='vepa'/><vlan><tag id='$VID'/></vlan><target dev='mvt0'/><model type='virtio'/></interface></devices></domain>
XML
printf '[control]\nsocket = %s\n' "$VSM_SOCK" >"$TB_DIR/ctl.conf"
for op in migrate prepare start; do
  "$VSIMIGCTL" --config "$TB_DIR/ctl.conf" hook "$NAME" "$op" begin - <"$TB_DIR/dom.xml" >"$TB_DIR/hook-$op.out" 2>&1 ||
    tb_fail "hook $op begin refused: $(cat "$TB_DIR/hook-$op.out")"
done
show() { vsm_ctl --json show "$NAME" 2>/dev/null; }
for ((i = 0; i < 100; i++)); do
  show | python3 "$CARRY_PY" timeline 0 '^peer: state of 1 vNIC' >/dev/null && break
  sleep 0.1
done
show | python3 "$CARRY_PY" timeline 0 '^peer: state of 1 vNIC' >/dev/null ||
  tb_fail "vsimigd did not take the source's STATE within 10 s; source: $(tr '\n' ' ' <"$SRC_LOG")"
say "hooks done, STATE taken; the source sends the SWITCHOVER"

# ---- the SWITCHOVER -------------------------------------------------------------------
T0=$(date +%s.%N)
: >"$GO"
NOTE_RE="^replay vNIC .*: no replay"
for ((i = 0; i < 100; i++)); do
  show | python3 "$CARRY_PY" timeline "$T0" "$NOTE_RE" >/dev/null && break
  sleep 0.1
done
sleep 0.5 # frames still on their way to the capture
tb_capture_stop "$PCAP"
say "timeline since the SWITCHOVER:"
show | python3 "$CARRY_PY" timeline "$T0" | sed 's/^/  /' || true
show >"$TB_DIR/show.json" || true
vsm_ctl --json status >"$TB_DIR/status.json" 2>/dev/null || true
SUSP=$(sed -n 's/^switchover sent at \([0-9]*\)$/\1/p' "$SRC_LOG")
[[ -n $SUSP ]] || tb_fail "the source did not send the SWITCHOVER: $(tr '\n' ' ' <"$SRC_LOG")"

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
while IFS= read -r line; do
  case $line in
  FAIL:*) nfail "${line#FAIL: }" ;;
  *) say "${line#info: }" ;;
  esac
done <<<"$out"
kill -0 "$VSM_PID" 2>/dev/null || nfail "vsimigd died; log tail: $(tail -5 "$VSM_LOG")"
tb__kill_pid "$VSM_PID" TERM 5
tb__untrack_pid "$VSM_PID"
grep -E 'Sanitizer|runtime error:' "$VSM_LOG" && nfail "sanitizer report in vsimigd's log"

say "done in $(( ($(date +%s%N) - T_ALL) / 1000000 )) ms"
if ((${#FAILS[@]})); then
  printf 'FAILED (%d):\n' "${#FAILS[@]}"
  printf '  - %s\n' "${FAILS[@]}"
  exit 1
fi
echo "PASS"

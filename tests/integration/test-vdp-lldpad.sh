#!/bin/bash
# Integration: vsimigd as the VDP22 station against lldpad in the bridge
# role (real peer), in two network namespaces joined by a veth.
#  1. every request type, with and without the M-bit and the S-bit, answered
#     ok by lldpad; checked in vsimigctl --json and on the wire (capture on
#     the bridge side, decoded by our independent decoder, and the M/S flags
#     cross-checked with tshark's vdp21 dissector);
#  2. a 20 s hold: the associated VSI is never de-associated by the bridge
#     (EVB TLV and keep-alives work), keep-alives are seen on the wire, and
#     lldpad's own late DE-ASSOCIATE for a VSI we de-associated is tolerated.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"

tb_init
tb_netns_pair
PCAP=$TB_DIR/bridge.pcap
tb_capture_start "$TB_NS_BR" "$TB_IF_BR" "$PCAP"
# The daemon first: lldpad's bridge sends its first LLDPDU ~1.2 s after it
# starts and then only every 30 s.
vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST"
tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR" bridge
vsm_wait_bridge 30

MAC=52:54:00:77:00:01
A=6f0e3a52-1c7d-4b8e-9f10-a1b2c3d4e5f6   # walks through every request
B=0d9c8b7a-6e5f-4d3c-8b2a-19f8e7d6c5b4   # held associated for 20 s

n=0
req() { # req EXPECT_FLAGS INSTANCE REQUEST [vsimigctl flags]
  local want_flags=$1 inst=$2 r=$3; shift 3
  local out
  out=$(vsm_ctl --json vdp "$r" --uplink "$TB_IF_ST" --mac "$MAC" --vlan 0 --type-id 4711 \
        --type-version 1 --instance "$inst" "$@") || { echo "$out"; tb_fail "vdp $r $* failed"; }
  echo "$out" | vsm_json '(d["request"], d["instance"], d["result"], d["error"], d["flags"], d["rtt_us"] > 0)' \
    > "$TB_DIR/check"
  local want="('$r', '$inst', 'ok', 0, $want_flags, True)"
  [ "$(cat "$TB_DIR/check")" = "$want" ] || { echo "$out"; tb_fail "vdp $r $*: got $(cat "$TB_DIR/check"), want $want"; }
  echo "ok: $r $* ($(echo "$out" | vsm_json 'd["rtt_us"]') us)"
  n=$((n + 1))
}

req "[]" "$A" pre-associate
req "['migrated-to']" "$A" pre-associate --migrated-to
req "[]" "$A" pre-associate-rr
req "['migrated-to']" "$A" pre-associate-rr --migrated-to
req "['migrated-to']" "$A" associate --migrated-to
req "['suspended']" "$A" associate --suspended
req "[]" "$A" associate
req "['suspended']" "$A" de-associate --suspended
req "[]" "$A" de-associate
[ "$n" -eq 9 ] || tb_fail "not all requests ran"

# --- the 20 s hold ---------------------------------------------------------
req "['migrated-to']" "$B" associate --migrated-to
T_HOLD=$(date +%s.%N)
sleep 20
state=$(vsm_ctl --json vdp list | vsm_json "[v['state'] for v in d['vsis'] if v['instance']=='$B'][0]")
[ "$state" = associated ] || tb_fail "VSI $B is '$state' after the 20 s hold"
if grep -q "bridge de-associated VSI $B" "$VSM_LOG"; then
  tb_fail "the bridge de-associated $B during the hold"
fi
vsm_alive
tb_capture_stop

# --- what the bridge saw ----------------------------------------------------
python3 "$VSMTEST" frames "$PCAP" > "$TB_DIR/frames.jsonl"
python3 - "$TB_DIR/frames.jsonl" "$TB_MAC_ST" "$MAC" "$A" "$B" "$T_HOLD" <<'PY'
import json, sys
path, st_mac, vm_mac, A, B, t_hold = sys.argv[1:7]
t_hold = float(t_hold)
frames = [json.loads(l) for l in open(path)]
st = [f for f in frames if f["src"] == st_mac]
br = [f for f in frames if f["src"] != st_mac]

def fail(msg):
    print("FAIL:", msg); sys.exit(1)

# LLDP with the EVB TLV (station mode) went out before the first VDP request
first_lldp = next((f for f in st if f["proto"] == "lldp" and "evb" in f), None)
first_vdp = next((f for f in st if f["proto"] == "ecp" and f["op"] == "request"), None)
if not first_lldp or first_lldp["evb"]["mode"] != "station":
    fail("no station LLDP with EVB TLV")
if first_vdp is None or first_lldp["t"] > first_vdp["t"]:
    fail("VDP before LLDP/EVB")

reqs = []
for f in st:
    if f["proto"] != "ecp" or f["op"] != "request":
        continue
    if f["version"] != 1 or f["subtype"] != 1:
        fail(f"bad ECP header {f}")
    tl = f["tlvs"]
    if len(tl) != 2 or tl[0]["tlv"] != "manager-id" or tl[0]["value"] != "vsimig":
        fail(f"ULPDU is not Manager-ID + VSI: {tl}")
    v = tl[1]
    if v.get("error") or v["response"] or v["vsiid_format"] != 5 or v["filter_format"] != 2 \
            or v["n_filters"] != 1 or v["filters"][0]["mac"] != vm_mac or v["filters"][0]["vid"] != 0 \
            or v["type_id"] != 4711 or v["type_version"] != 1 or v["len"] != 33:
        fail(f"bad VSI TLV {v}")
    reqs.append((f["t"], f["seq"], v["tlv"], v["vsiid"], v["m"], v["s"]))

# each distinct request once (ECP retries share a seq), in order, with M/S
seen, uniq = set(), []
for r in reqs:
    if r[1] not in seen:
        seen.add(r[1]); uniq.append(r)
want = [("pre-associate", A, False, False), ("pre-associate", A, True, False),
        ("pre-associate-rr", A, False, False), ("pre-associate-rr", A, True, False),
        ("associate", A, True, False), ("associate", A, False, True), ("associate", A, False, False),
        ("de-associate", A, False, True), ("de-associate", A, False, False),
        ("associate", B, True, False)]
got = [(r[2], r[3], r[4], r[5]) for r in uniq[:len(want)]]
if got != want:
    fail(f"request sequence on the wire:\n got  {got}\n want {want}")

# every request was acked and answered with status ok by the bridge
acks = {f["seq"] for f in br if f["proto"] == "ecp" and f["op"] == "ack"}
for r in uniq:
    if r[1] not in acks:
        fail(f"seq {r[1]} not acked by the bridge")
resp = [f for f in br if f["proto"] == "ecp" and f["op"] == "request"]
answers = [t for f in resp for t in f["tlvs"] if isinstance(t.get("tlv"), str) and t["tlv"] != "manager-id"]
ok_answers = [t for t in answers if t["response"] and t["reason"] == 0 and not t["hard_error"]]
if len(ok_answers) < len(want):
    fail(f"{len(ok_answers)} ok answers from the bridge, want >= {len(want)}")

# keep-alives for B during the hold: plain ASSOCIATEs, about every 6.3 s
ka = [r for r in uniq if r[3] == B and r[0] > t_hold and r[2] == "associate" and not r[4] and not r[5]]
if len(ka) < 2:
    fail(f"only {len(ka)} keep-alive resends for B in the 20 s hold")
gaps = [b[0] - a[0] for a, b in zip(ka, ka[1:])]
# no de-associate for B from the bridge
for t in answers:
    if t["vsiid"] == B and t["tlv"] == "de-associate" and not t["response"]:
        fail("bridge de-associated B")
# An unsolicited DE-ASSOCIATE within seconds of an answer means the bridge's
# VDP timers are zero, i.e. it never took our EVB TLV.  lldpad's normal one
# comes ~15.8 s after it acknowledged a DE-ASSOCIATE.
unsol = [(f["t"], t["vsiid"]) for f in resp for t in f["tlvs"]
         if t.get("tlv") == "de-associate" and not t.get("response")]
for t_un, v in unsol:
    before = [r[0] for r in uniq if r[3] == v and r[0] < t_un]
    if before and t_un - max(before) < 5.0:
        fail(f"bridge de-associated {v} {t_un - max(before):.3f} s after our last request: "
             "its VDP timers are zero (EVB TLV not taken)")
late = [t for t in answers if t["vsiid"] == A and t["tlv"] == "de-associate" and not t["response"]]
print(f"wire: {len(uniq)} requests, {len(ok_answers)} ok answers, {len(ka)} keep-alives "
      f"(gaps {', '.join(f'{g:.2f}' for g in gaps)} s), lldpad's late DE-ASSOCIATE of A seen: {bool(late)}")
PY

# tshark cross-check of the M and S flags on the station's requests.  tshark
# 4.0 decodes the flags of ASSOCIATE and DE-ASSOCIATE TLVs only (not of
# PRE-ASSOCIATE bodies), so it must see exactly the two M-bit ASSOCIATEs (A,
# B) and the S-bit ASSOCIATE and DE-ASSOCIATE of A; keep-alives carry neither.
tshark -r "$PCAP" -Y "ecp21 && eth.src == $TB_MAC_ST && vdp21.assoc.flags.mbit" \
  -T fields -e ecp.seqno -e vdp21.assoc.flags.mbit -e vdp21.assoc.flags.sbit 2>/dev/null \
  | sort -un > "$TB_DIR/tshark.txt" || true
m=$(awk '$2 == "1" || $2 == "True"' "$TB_DIR/tshark.txt" | wc -l)
s=$(awk '$3 == "1" || $3 == "True"' "$TB_DIR/tshark.txt" | wc -l)
echo "tshark: $m requests with the M-bit, $s with the S-bit"
[ "$m" -eq 2 ] || { cat "$TB_DIR/tshark.txt"; tb_fail "tshark sees $m M-bit requests, want 2"; }
[ "$s" -eq 2 ] || { cat "$TB_DIR/tshark.txt"; tb_fail "tshark sees $s S-bit requests, want 2"; }

[ "$(vsm_counter rx_bad)" = 0 ] || tb_fail "daemon counted bad frames from lldpad"
echo "PASS: all request types ok against lldpad's bridge; VSI held 20 s"

#!/bin/bash
# Integration: vsimigd as the VDP22 station against lldpad in the bridge
# role (real peer), in two network namespaces joined by a veth.
#  1. every request type, with and without the M-bit and the S-bit, answered
#     ok by lldpad; checked in vsimigctl --json and on the wire (capture on
#     the bridge side, decoded by our independent decoder, and the M/S flags
#     cross-checked with tshark's vdp21 dissector);
#  2. a 20 s hold: the associated VSI is never de-associated by the bridge
#     (EVB TLV and keep-alives work), keep-alives are seen on the wire and
#     keep the request's M-bit (as lldpad's station's do), and lldpad's own
#     late DE-ASSOCIATE for a VSI we de-associated is tolerated;
#  3. A->B->A as seen from A, within the bridge's keep-alive window: a VSI
#     associated (M), de-associated and associated (M) again 1 s later
#     ends associated once lldpad's late DE-ASSOCIATE for the first hop is
#     due (it is waited out during the hold);
#  4. repair: the daemon is stopped (SIGSTOP) past lldpad's keep-alive
#     timeout, so lldpad de-associates its VSIs; resumed, the daemon reads
#     the DE-ASSOCIATEs and re-associates each VSI (same M hint) 1 s later:
#     counted in status --json, logged, and both end associated.
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
C=5b2e8f1a-3c4d-4e6f-8a9b-7c0d1e2f3a4b   # A->B->A: assoc M, de-assoc, assoc M

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

vsi_state() { # vsi_state INSTANCE
  vsm_ctl --json vdp list | vsm_json "[v['state'] for v in d['vsis'] if v['instance']=='$1'][0]"
}

# --- the 20 s hold, and A->B->A for C within it ------------------------------
req "['migrated-to']" "$B" associate --migrated-to
T_HOLD=$(date +%s.%N)
req "['migrated-to']" "$C" associate --migrated-to
req "[]" "$C" de-associate
T_C_DEASSOC=$(date +%s.%N)
sleep 1
req "['migrated-to']" "$C" associate --migrated-to
sleep 20
# lldpad's late DE-ASSOCIATE for C's first hop was due 15.8 s after it
# answered our DE-ASSOCIATE: more than that has passed.
python3 -c "import sys, time; sys.exit(time.time() - $T_C_DEASSOC < 17)" || tb_fail "hold too short"
state=$(vsi_state "$B")
[ "$state" = associated ] || tb_fail "VSI $B is '$state' after the 20 s hold"
state=$(vsi_state "$C")
[ "$state" = associated ] || tb_fail "VSI $C (A->B->A) is '$state' after lldpad's keep-alive window"
if grep -q "bridge de-associated VSI $B" "$VSM_LOG"; then
  tb_fail "the bridge de-associated $B during the hold"
fi
vsm_alive

# --- repair: lldpad de-associates while the daemon is stopped ----------------
[ "$(vsm_counter vdp_repairs)" = 0 ] || tb_fail "repairs before the bridge de-associated anything"
T_STOP=$(date +%s.%N)
kill -STOP "$VSM_PID"
# lldpad drops a VSI 15.76 s after the last request it saw for it.
sleep 17.5
kill -CONT "$VSM_PID"
T_CONT=$(date +%s.%N)
# the repairs are due 1 s after the resume; give them 6 s
until [ "$(vsm_counter vdp_repaired)" -ge 2 ] ||
      python3 -c "import sys, time; sys.exit(time.time() - $T_CONT < 6)"; do
  sleep 0.2
done
state="$(vsi_state "$B")/$(vsi_state "$C")"
[ "$state" = associated/associated ] || { tail -20 "$VSM_LOG"; tb_fail "after lldpad's DE-ASSOCIATEs B/C are $state"; }
vsm_ctl --json status > "$TB_DIR/status.json"
python3 - "$TB_DIR/status.json" <<'PY' || tb_fail "repair counters"
import json, sys
n = json.load(open(sys.argv[1]))["uplinks"][0]["counters"]
print("counters:", {k: n[k] for k in ("vdp_bridge_deassoc", "vdp_repairs", "vdp_repaired")})
sys.exit(not (n["vdp_bridge_deassoc"] == 2 and n["vdp_repaired"] == 2 and n["vdp_repairs"] >= 2))
PY
for v in "$B" "$C"; do
  grep -q "bridge de-associated VSI $v (status 0x00), which runs here: re-associating in 1 s" "$VSM_LOG" \
    || tb_fail "no repair logged for $v"
  grep -q "VSI $v re-associated (migrated-to) after the bridge de-associated it: ok" "$VSM_LOG" \
    || tb_fail "no successful repair logged for $v"
done
sleep 1.5
vsm_alive
tb_capture_stop

# --- what the bridge saw ----------------------------------------------------
python3 "$VSMTEST" frames "$PCAP" > "$TB_DIR/frames.jsonl"
python3 - "$TB_DIR/frames.jsonl" "$TB_MAC_ST" "$MAC" "$A" "$B" "$T_HOLD" "$C" "$T_STOP" "$T_CONT" <<'PY'
import json, sys
path, st_mac, vm_mac, A, B, t_hold, C, t_stop, t_cont = sys.argv[1:10]
t_hold, t_stop, t_cont = float(t_hold), float(t_stop), float(t_cont)
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
    # Manager ID, then VSI TLVs (repairs due in one loop turn share a ULPDU)
    if len(tl) < 2 or tl[0]["tlv"] != "manager-id" or tl[0]["value"] != "vsimig":
        fail(f"ULPDU is not Manager-ID + VSI: {tl}")
    for v in tl[1:]:
        if v.get("error") or v["response"] or v["vsiid_format"] != 5 or v["filter_format"] != 2 \
                or v["n_filters"] != 1 or v["filters"][0]["mac"] != vm_mac or v["filters"][0]["vid"] != 0 \
                or v["type_id"] != 4711 or v["type_version"] != 1 or v["len"] != 33:
            fail(f"bad VSI TLV {v}")
        if len(tl) > 2 and f["t"] < t_cont:
            fail(f"several VSI TLVs in one ULPDU before the repairs: {tl}")
        reqs.append((f["t"], f["seq"], v["tlv"], v["vsiid"], v["m"], v["s"]))

# each distinct request once (ECP retries share a seq), in order, with M/S
seen, uniq = set(), []
for r in reqs:
    if (r[1], r[3]) not in seen:
        seen.add((r[1], r[3])); uniq.append(r)
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

# keep-alives for B during the hold: ASSOCIATEs about every 6.3 s that keep
# the M-bit of B's ASSOCIATE (M), as lldpad's station's do
hold = [r for r in uniq if r[3] == B and t_hold < r[0] < t_stop]
ka = [r for r in hold if r[2] == "associate" and r[4] and not r[5]]
if len(ka) < 2 or len(ka) != len(hold):
    fail(f"B's keep-alives in the 20 s hold: {len(ka)} ASSOCIATE (M) of {hold}")
gaps = [b[0] - a[0] for a, b in zip(ka, ka[1:])]
# C: ASSOCIATE (M), DE-ASSOCIATE, ASSOCIATE (M), then keep-alives with M
c = [(r[2], r[4], r[5]) for r in uniq if r[3] == C and r[0] < t_stop]
if c[:3] != [("associate", True, False), ("de-associate", False, False), ("associate", True, False)] \
        or any(x != ("associate", True, False) for x in c[3:]) or len(c) < 4:
    fail(f"C's requests: {c}")
late_c = [f["t"] for f in resp for t in f["tlvs"]
          if t.get("tlv") == "de-associate" and not t.get("response") and t["vsiid"] == C and f["t"] < t_stop]
# repair: after the stop, lldpad de-associated B and C, and the station
# re-associated each, with the M-bit, in the second after it resumed
for v in (B, C):
    if not any(t.get("tlv") == "de-associate" and not t.get("response") and t["vsiid"] == v
               for f in resp if t_stop < f["t"] < t_cont for t in f["tlvs"]):
        fail(f"lldpad did not de-associate {v} while the daemon was stopped")
    rep = [r for r in uniq if r[3] == v and r[0] > t_cont and r[2] == "associate"]
    if not rep or not rep[0][4] or rep[0][5]:
        fail(f"no ASSOCIATE (M) repair of {v} after the resume: {rep}")
    if not 0.9 < rep[0][0] - t_cont < 2.5:
        fail(f"repair of {v} {rep[0][0] - t_cont:.2f} s after the resume, want ~1 s")
# no de-associate for B from the bridge (before we stopped the daemon)
for f in resp:
    for t in f["tlvs"]:
        if t.get("vsiid") == B and t.get("tlv") == "de-associate" and not t.get("response") and f["t"] < t_stop:
            fail("bridge de-associated B")
# An unsolicited DE-ASSOCIATE within seconds of an answer means the bridge's
# VDP timers are zero, i.e. it never took our EVB TLV.  lldpad's normal one
# comes ~15.8 s after it acknowledged a DE-ASSOCIATE (or the last refresh).
unsol = [(f["t"], t["vsiid"]) for f in resp for t in f["tlvs"]
         if t.get("tlv") == "de-associate" and not t.get("response")]
for t_un, v in unsol:
    before = [r[0] for r in uniq if r[3] == v and r[0] < t_un]
    if before and t_un - max(before) < 5.0:
        fail(f"bridge de-associated {v} {t_un - max(before):.3f} s after our last request: "
             "its VDP timers are zero (EVB TLV not taken)")
late = [t for t in answers if t["vsiid"] == A and t["tlv"] == "de-associate" and not t["response"]]
print(f"wire: {len(uniq)} requests, {len(ok_answers)} ok answers, {len(ka)} keep-alives (M) of B "
      f"(gaps {', '.join(f'{g:.2f}' for g in gaps)} s), lldpad's late DE-ASSOCIATE of A seen: {bool(late)}, "
      f"of C (A->B->A) seen: {len(late_c)}; repairs {rep[0][0] - t_cont:.2f} s after the resume")
PY

# tshark cross-check of the M and S flags on the station's requests: for
# every single-TLV ASSOCIATE or DE-ASSOCIATE (tshark 4.0 decodes the flags
# of those only, not of PRE-ASSOCIATE bodies) tshark must read the M and S
# bits our decoder read, keep-alives (M) of B and C included.
tshark -r "$PCAP" -Y "ecp21 && eth.src == $TB_MAC_ST && vdp21.assoc.flags.mbit" \
  -T fields -e ecp.seqno -e vdp21.assoc.flags.mbit -e vdp21.assoc.flags.sbit 2>/dev/null \
  | sort -u > "$TB_DIR/tshark.txt"
python3 - "$TB_DIR/frames.jsonl" "$TB_DIR/tshark.txt" "$TB_MAC_ST" <<'PY' || tb_fail "tshark disagrees on M/S"
import json, sys
frames = [json.loads(l) for l in open(sys.argv[1])]
flag = lambda x: x in ("1", "True")
ts = {}
for line in open(sys.argv[2]):
    p = line.split()
    if len(p) == 3 and "," not in p[1]:
        ts[int(p[0])] = (flag(p[1]), flag(p[2]))
ours = {}
for f in frames:
    if f["src"] != sys.argv[3] or f["proto"] != "ecp" or f["op"] != "request" or len(f["tlvs"]) != 2:
        continue
    v = f["tlvs"][1]
    if v.get("tlv") in ("associate", "de-associate"):
        ours[f["seq"]] = (v["m"], v["s"])
if ts != ours:
    print("tshark:", sorted(ts.items()), "\nours:  ", sorted(ours.items()))
    sys.exit(1)
m = sum(1 for x in ts.values() if x[0])
s = sum(1 for x in ts.values() if x[1])
print(f"tshark: {len(ts)} (DE-)ASSOCIATEs decoded alike, {m} with the M-bit, {s} with the S-bit")
sys.exit(not (m >= 6 and s == 2))
PY

[ "$(vsm_counter rx_bad)" = 0 ] || tb_fail "daemon counted bad frames from lldpad"
echo "PASS: all request types ok against lldpad's bridge; VSI held 20 s with M kept in keep-alives;" \
  "A->B->A ends associated; lldpad's DE-ASSOCIATEs repaired"

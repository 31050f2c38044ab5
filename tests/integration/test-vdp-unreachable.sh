#!/bin/bash
# Integration: the bridge is unreachable (no lldpad on the other end).
# A request is sent 1 + R times with the same ECP sequence number, RTE apart;
# when ECP gives up the VDP request is sent twice more (new sequence
# numbers), then it fails with result "timeout" and exit status 1; the
# daemon stays healthy, and once lldpad's bridge comes up the VSI associates.
# First, SIGTERM with VDP requests in flight (one from a hook, one from
# vsimigctl): the daemon exits 0, answers "cancelled", and under the ASan
# build reports nothing (the follower's waits used to outlive it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"

tb_init
tb_netns_pair

# ---- SIGTERM with requests in flight ----
# ECP retries 2.6 s apart (RTE 18): the requests stay in flight for seconds.
vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST" "[vdp]
ecp-rte = 18
[bridges]
br-unreach = $TB_IF_ST
[libvirt]
enabled = false"
cat > "$TB_DIR/vm.xml" <<'XML'
<domain type='kvm'>
  <name>unreach-vm</name>
  <uuid>6f0c2d1e-5b4a-4c3d-9e8f-7a6b5c4d3e2f</uuid>
  <devices>
    <interface type='bridge'>
      <mac address='52:54:00:77:00:09'/>
      <source bridge='br-unreach'/>
    </interface>
  </devices>
</domain>
XML
vsm_hook() { "$VSIMIGCTL" --config "$VSM_CONF" hook unreach-vm "$@" < "$TB_DIR/vm.xml"; }
U0=0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9
vsm_ctl --json vdp associate --uplink "$TB_IF_ST" --mac 52:54:00:77:00:0a --type-id 7 --instance "$U0" \
  > "$TB_DIR/cancelled.json" 2>&1 &
CTL_PID=$!
vsm_hook migrate begin -
vsm_hook start begin -
# Both requests are still waiting for the bridge.
pending=$(vsm_ctl --json vdp list | vsm_json 'sum(1 for v in d["vsis"] if v.get("pending"))')
[ "$pending" = 2 ] || { vsm_ctl --json vdp list; tb_fail "want 2 requests in flight, got $pending"; }
kill -TERM "$VSM_PID"
set +e
wait "$VSM_PID"
rc=$?
wait "$CTL_PID"
set -e
if grep -q -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$VSM_LOG" || [ "$rc" -ne 0 ]; then
  cat "$VSM_LOG" >&2
  tb_fail "SIGTERM with requests in flight: exit status $rc"
fi
grep -q "pre-associate M 52:54:00:77:00:09 on $TB_IF_ST: cancelled" "$VSM_LOG" ||
  { cat "$VSM_LOG" >&2; tb_fail "the hook's request was not cancelled"; }
[ "$(vsm_json 'd["result"]' < "$TB_DIR/cancelled.json")" = cancelled ] ||
  { cat "$TB_DIR/cancelled.json"; tb_fail "vsimigctl's request was not answered cancelled"; }
echo "ok: SIGTERM with 2 requests in flight: exit 0, both cancelled"

# ---- the unreachable bridge ----
PCAP=$TB_DIR/bridge.pcap
tb_capture_start "$TB_NS_BR" "$TB_IF_BR" "$PCAP"
vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST"

U=3e1d5c7b-2a4f-4e6d-8c0b-9a8f7e6d5c4b
args=(--uplink "$TB_IF_ST" --mac 52:54:00:77:00:02 --type-id 7 --instance "$U")

set +e
out=$(vsm_ctl --json vdp associate "${args[@]}" --migrated-to)
rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "$out"; tb_fail "exit status $rc, want 1"; }
got=$(echo "$out" | vsm_json '(d["result"], d["error"], d["rtt_us"], d["flags"], d["state"])')
[ "$got" = "('timeout', None, None, ['migrated-to'], 'none')" ] || tb_fail "unexpected result $got"
echo "ok: associate without a bridge -> timeout"

set +e
vsm_ctl vdp de-associate "${args[@]}" > "$TB_DIR/human.txt"
rc=$?
set -e
[ "$rc" -eq 1 ] || tb_fail "de-associate exit status $rc, want 1"
grep -q "timeout (no answer from the bridge)" "$TB_DIR/human.txt" || { cat "$TB_DIR/human.txt"; tb_fail "human output"; }

vsm_alive
[ "$(vsm_counter tx_ecp_failures)" = 6 ] || tb_fail "tx_ecp_failures != 6 (2 requests x 3 rounds)"
[ "$(vsm_counter tx_ecp_retries)" = 18 ] || tb_fail "tx_ecp_retries != 18"
grep -q "ECP request not acknowledged after 4 tries" "$VSM_LOG" || tb_fail "no log line for the give-up"

# Now the bridge appears: the daemon recovers without a restart.
tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR" bridge
vsm_wait_bridge 30
out=$(vsm_ctl --json vdp associate "${args[@]}" --migrated-to) || { echo "$out"; tb_fail "associate after recovery"; }
[ "$(echo "$out" | vsm_json 'd["result"]')" = ok ] || tb_fail "associate after recovery not ok"
echo "ok: associate once lldpad's bridge is up"
tb_capture_stop

python3 "$VSMTEST" frames "$PCAP" > "$TB_DIR/frames.jsonl"
python3 - "$TB_DIR/frames.jsonl" "$TB_MAC_ST" <<'PY'
import json, sys
frames = [json.loads(l) for l in open(sys.argv[1])]
st = [f for f in frames if f["src"] == sys.argv[2] and f["proto"] == "ecp" and f["op"] == "request"]
by_seq = {}
for f in st:
    by_seq.setdefault(f["seq"], []).append(f["t"])
seqs = sorted(by_seq, key=lambda s: by_seq[s][0])
# 2 requests x 3 rounds unanswered, then the one after recovery
if len(seqs) != 7:
    print("FAIL: want 7 distinct ECP sequence numbers, got", seqs); sys.exit(1)
for s in seqs[:6]:
    ts = by_seq[s]
    if len(ts) != 4:
        print(f"FAIL: seq {s} sent {len(ts)} times, want 4 (1 + R=3)"); sys.exit(1)
    gaps = [(b - a) * 1000 for a, b in zip(ts, ts[1:])]
    # RTE 8 = 2.56 ms; a retry never comes earlier than that
    if min(gaps) < 2.4:
        print(f"FAIL: seq {s} retried after {min(gaps):.2f} ms"); sys.exit(1)
    print(f"seq {s}: 4 transmissions, gaps " + ", ".join(f"{g:.2f}" for g in gaps) + " ms")
if len(by_seq[seqs[6]]) != 1:
    print("FAIL: the request after recovery needed retries"); sys.exit(1)
PY
echo "PASS: unreachable bridge -> timeout after ECP retries; daemon healthy; recovers"

#!/bin/bash
# Integration: vsimigd restarted on both hosts while a migration holds the
# guest paused on both ends (issue 8, item 6).  Both the source and the
# destination show the domain "paused (migrating)"; a restarted vsimigd
# tells them apart by the job's operation (virDomainGetJobStats, in a
# worker thread).  The source must not PRE-ASSOCIATE with M (it would tell
# the bridge the VM arrived where it is leaving): it associates with S; the
# destination pre-associates with M.  Then the migration completes and ends
# associated on the destination, de-associated on the source.
# A non-live migration (the source stays paused for all of it) over a
# throttled link makes the paused window seconds long.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/libvirt-testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/migrate.sh"

tb_init
mt_setup
lt_define_guest A "$MT_GUEST" "$MT_GUEST_MAC" >/dev/null
mt_wait A "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
echo "ok: g1 runs on A, associated"

lt_exec A tc qdisc add dev mig0 root tbf rate 100kbit burst 32kbit latency 2s
tb_defer "lt_exec A tc qdisc del dev mig0 root 2>/dev/null || true"
( lt_virsh A migrate "$MT_GUEST" "qemu+tcp://$LT_HOSTNAME_B/system" >"$TB_DIR/migrate.out" 2>&1 ) &
mig_pid=$!
lt_wait_domstate A "$MT_GUEST" "paused (migrating)" 30 || tb_fail "source not paused for the migration"
lt_wait_domstate B "$MT_GUEST" "paused (migrating)" 30 || tb_fail "destination not paused for the migration"

# Both daemons restart inside the paused window.
mt_vsimigd_stop A
mt_vsimigd_stop B
t0=$(date +%s.%N)
mt_vsimigd_start A
mt_vsimigd_start B
for h in A B; do
  mt_wait "$h" 'd["libvirt"]["connected"] and d["uplinks"][0]["bridge"] is not None' 40 status
done
mt_wait A "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
mt_wait B "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'pre-associated' for v in d['vsis'])" 20
[[ $(lt_domstate A "$MT_GUEST") == "paused (migrating)"* ]] || tb_fail "the migration ended before the checks"
hctl A --json show "$MT_GUEST" | vsm_json '"\n".join(e["text"] for t in d["timelines"] for e in t["entries"])' \
  >"$TB_DIR/tl-A.txt"
hctl B --json show "$MT_GUEST" | vsm_json '"\n".join(e["text"] for t in d["timelines"] for e in t["entries"])' \
  >"$TB_DIR/tl-B.txt"
sed 's/^/A timeline: /' "$TB_DIR/tl-A.txt"
sed 's/^/B timeline: /' "$TB_DIR/tl-B.txt"
grep -q "job migration-out" "$TB_DIR/tl-A.txt" || tb_fail "A did not see an outgoing job"
grep -q "job migration-in" "$TB_DIR/tl-B.txt" || tb_fail "B did not see an incoming job"

# Let the migration finish.
lt_exec A tc qdisc del dev mig0 root
wait "$mig_pid" || { cat "$TB_DIR/migrate.out"; tb_fail "virsh migrate A -> B failed"; }
lt_wait_domstate B "$MT_GUEST" running 30 || tb_fail "g1 not running on B"
mt_wait B "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
mt_wait A "all(v['state'] == 'none' for v in d['vsis'] if v['mac'] == '$MT_GUEST_MAC')" 20
sleep 0.3

# On the switch, since the restart: from A (sw-a) no PRE-ASSOCIATE and no
# M bit at all, an ASSOCIATE with S, then the DE-ASSOCIATE; from B (sw-b)
# the PRE-ASSOCIATE with M, then the ASSOCIATE with M.
python3 - "$MT_PCAP_A" "$MT_PCAP_B" "$t0" "$MT_GUEST_MAC" "$VSMTEST" <<'PY'
import json, subprocess, sys
pa, pb, t0, mac, vsmtest = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
def requests(pcap):
    out = subprocess.run([sys.executable, vsmtest, "frames", pcap], check=True, capture_output=True, text=True).stdout
    seq = []
    for f in map(json.loads, out.splitlines()):
        if f["proto"] != "ecp" or f["op"] != "request" or f["t"] < t0:
            continue
        for t in f["tlvs"]:
            if "status" in t and not t["response"] and t.get("filters") and t["filters"][0]["mac"] == mac:
                k = (t["tlv"], "M" if t["m"] else "", "S" if t["s"] else "")
                if not seq or seq[-1] != k:     # keep-alives and resends repeat
                    seq.append(k)
    return seq
a, b = requests(pa), requests(pb)
print("source A since the restart:", a)
print("destination B since the restart:", b)
fail = []
if any(k[0] == "pre-associate" or k[1] for k in a):
    fail.append("the source sent a PRE-ASSOCIATE or an M bit")
if ("associate", "", "S") not in a:
    fail.append("the source did not associate with S")
if ("de-associate", "", "") not in a:
    fail.append("the source did not de-associate after the migration")
if ("pre-associate", "M", "") not in b or ("associate", "M", "") not in b or \
        b.index(("pre-associate", "M", "")) > b.index(("associate", "M", "")):
    fail.append("the destination did not PRE-ASSOCIATE (M) then ASSOCIATE (M)")
for m in fail:
    print("FAIL:", m)
sys.exit(1 if fail else 0)
PY
echo "PASS: restart in the paused window: the source associated with S (no M), the destination pre-associated with M"

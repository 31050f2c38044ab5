#!/bin/bash
#
# run.sh - migration timeline benchmark: K (default 10) live migrations back
# and forth between the two testbed hosts (tests/integration/lib/migrate.sh:
# real libvirtd + TCG guest, vsimigd on both, lldpad bridge on the switch).
# For each migration prints the offsets, in ms from `virsh migrate` start,
# of:
#   dst PRE-ASSOC   the destination's PRE-ASSOCIATE (M) on the switch port
#   src SUSPENDED   the source's SUSPENDED_MIGRATED event (vsimigd timeline)
#   src ASSOC-S     the source's S-bit ASSOCIATE on the switch port
#   dst ASSOC-M     the destination's M-bit ASSOCIATE on the switch port
#   dst RESUMED     the destination's RESUMED_MIGRATED event (vsimigd timeline)
# then the medians.  Wire times are capture time stamps at the switch;
# event times are when vsimigd handled the event; one clock.
#
# Environment: K, FLAGS (extra virsh migrate flags, e.g. --p2p), OUT.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
export LT_QEMU_CAPS_CACHE=${LT_QEMU_CAPS_CACHE:-$VSM_BUILD_ROOT/lt-qemu-caps}
. "$VSM_SOURCE_ROOT/tests/integration/lib/testbed.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/libvirt-testbed.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/vsimigd.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/migrate.sh"

K=${K:-10}
OUT=${OUT:-/var/tmp/migration-timeline-$(date +%Y%m%d-%H%M%S)}
read -r -a FLAGS <<<"${FLAGS:-}"
mkdir -p "$OUT"
tb_init
mt_setup
lt_define_guest A "$MT_GUEST" "$MT_GUEST_MAC" >/dev/null
mt_wait A "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20

: >"$OUT/runs.txt"
src=A dst=B
for ((k = 1; k <= K; k++)); do
  lt_migrate "$src" "$dst" "$MT_GUEST" "${FLAGS[@]}" >/dev/null || tb_fail "migration $k failed"
  mt_wait "$dst" "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
  mt_wait "$src" "all(v['state'] == 'none' for v in d['vsis'] if v['mac'] == '$MT_GUEST_MAC')" 20
  hctl "$src" --json show "$MT_GUEST" >"$OUT/show-$k-src.json"
  hctl "$dst" --json show "$MT_GUEST" >"$OUT/show-$k-dst.json"
  echo "$k $src $dst $LT_MIGRATE_T0_NS $LT_MIGRATE_T1_NS $LT_MIGRATE_MS" >>"$OUT/runs.txt"
  tmp=$src src=$dst dst=$tmp
  sleep 1
done
tb_capture_stop
python3 "$VSMTEST" frames "$MT_PCAP_A" >"$OUT/sw-a.jsonl"
python3 "$VSMTEST" frames "$MT_PCAP_B" >"$OUT/sw-b.jsonl"

python3 - "$OUT" "$MT_GUEST_MAC" <<'PY' | tee "$OUT/summary.txt"
import json, os, statistics, sys
out, mac = sys.argv[1], sys.argv[2]
wire = {"A": [json.loads(l) for l in open(os.path.join(out, "sw-a.jsonl"))],
        "B": [json.loads(l) for l in open(os.path.join(out, "sw-b.jsonl"))]}
def first_wire(host, t0, t1, tlv, m=None, s=None):
    for f in wire[host]:
        if f["proto"] != "ecp" or f["op"] != "request" or not (t0 <= f["t"] <= t1):
            continue
        for t in f["tlvs"]:
            if t.get("tlv") == tlv and not t.get("response") and t.get("filters") and t["filters"][0]["mac"] == mac \
                    and (m is None or t["m"] == m) and (s is None or t["s"] == s):
                return f["t"]
    return None
def event_time(show, name, t0):
    d = json.load(open(show))
    for tl in d["timelines"]:
        for e in tl["entries"]:
            if e["time"] >= t0 - 0.5 and f"event {name}" in e["text"]:
                return e["time"]
    return None
cols = ["dst PRE-ASSOC", "src SUSPENDED", "src ASSOC-S", "dst ASSOC-M", "dst RESUMED", "migrate"]
rows = []
print(f"{'k':>2} {'dir':5} " + " ".join(f"{c:>13}" for c in cols) + "   (ms from virsh migrate start)")
for line in open(os.path.join(out, "runs.txt")):
    k, src, dst, t0, t1, ms = line.split()
    t0, t1 = int(t0) / 1e9, int(t1) / 1e9 + 2
    vals = [first_wire(dst, t0, t1, "pre-associate", m=True),
            event_time(os.path.join(out, f"show-{k}-src.json"), "suspended-migrated", t0),
            first_wire(src, t0, t1, "associate", s=True),
            first_wire(dst, t0, t1, "associate", m=True),
            event_time(os.path.join(out, f"show-{k}-dst.json"), "resumed-migrated", t0)]
    vals = [None if v is None else (v - t0) * 1000 for v in vals] + [float(ms)]
    rows.append(vals)
    print(f"{k:>2} {src}->{dst} " + " ".join(f"{v:13.1f}" if v is not None else f"{'-':>13}" for v in vals))
med = []
for i in range(len(cols)):
    vs = [r[i] for r in rows if r[i] is not None]
    med.append(statistics.median(vs) if vs else None)
print(f"{'median':8} " + " ".join(f"{v:13.1f}" if v is not None else f"{'-':>13}" for v in med))
pw = [r[4] - r[1] for r in rows if r[1] is not None and r[4] is not None]
sa = [r[2] - r[1] for r in rows if r[1] is not None and r[2] is not None]
ma = [r[3] - r[1] for r in rows if r[1] is not None and r[3] is not None]
ok = [r for r in rows if None not in r[:5] and r[0] < r[1] and r[3] <= r[4] + 1000]
print(f"paused window (src SUSPENDED -> dst RESUMED): median {statistics.median(pw):.1f} ms" if pw else "")
print(f"src SUSPENDED -> S-bit ASSOC on the wire: median {statistics.median(sa):.1f} ms" if sa else "")
print(f"src SUSPENDED -> M-bit ASSOC on the wire: median {statistics.median(ma):.1f} ms" if ma else "")
print(f"PRE-ASSOC before SUSPENDED in {sum(1 for r in rows if r[0] is not None and r[1] is not None and r[0] < r[1])}/{len(rows)} migrations")
PY
echo "migration-timeline: data in $OUT" >&2

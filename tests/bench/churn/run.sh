#!/bin/bash
#
# run.sh - guest churn benchmark (issue 8, item 6): does a guest that flaps
# its multicast joins as fast as it can delay the OTHER domains'
# switchovers on the same source host?
#
# The two-host testbed (tests/integration/lib/migrate.sh: real libvirtd +
# TCG QEMU, vsimigd on both with [peer], lldpad bridge on the switch).  On
# host A two guests (no OS): g1, quiet, and "churn", whose vNIC is a
# multi-queue tap created beforehand (<interface type='ethernet'>, managed
# 'no', 2 queues): the bench opens a third queue of that tap and writes
# into it, as the guest would, IGMPv2 reports and leaves for one group,
# alternating, as fast as it can.  vsimigd's tap sniffer sees them "from
# the guest", like any frame the guest sends.  g1 migrates A -> B and back
# K times with the churn off, then K times with it on.  For each A -> B
# migration the bench takes, on one clock, A's SUSPENDED_MIGRATED (A's
# timeline) and the SWITCHOVER's arrival at B (B's timeline): the
# switchover delay.  It also reads A's learner counters (frames learned,
# frames the per-tap rate limit dropped, state changes, STATE messages)
# and the flooder's frame count.
#
# Prints one line per migration and the medians, "quiet" vs "churn".
# Nothing is asserted: exit 0 when the run worked, 1 when it broke.
#
# Environment: K (default 5), OUT (default /var/tmp/churn-<date>).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
export LT_QEMU_CAPS_CACHE=${LT_QEMU_CAPS_CACHE:-$VSM_BUILD_ROOT/lt-qemu-caps}
. "$VSM_SOURCE_ROOT/tests/integration/lib/testbed.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/libvirt-testbed.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/vsimigd.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/migrate.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/carry.sh"
CARRY_PY=$VSM_SOURCE_ROOT/tests/integration/lib/carry.py

K=${K:-5}
OUT=${OUT:-/var/tmp/churn-$(date +%Y%m%d-%H%M%S)}
CHURN=churn CHURN_MAC=02:76:73:6d:30:01 CHURN_TAP=tchurn
mkdir -p "$OUT"

tb_init
ct_peer_conf_both 7788
mt_setup
# The churning guest: its tap made here, multi-queue, in A's br0.
lt_exec A ip tuntap add dev "$CHURN_TAP" mode tap multi_queue
lt_exec A ip link set "$CHURN_TAP" master br0 up
lt_guest_xml "$CHURN" "$CHURN_MAC" | python3 -c '
import re, sys
x = sys.stdin.read()
x = re.sub(r"<interface type=.bridge.>.*?</interface>", """<interface type="ethernet">
      <target dev="'"$CHURN_TAP"'" managed="no"/>
      <mac address="'"$CHURN_MAC"'"/>
      <model type="virtio"/>
      <driver queues="2"/>
      <rom enabled="no"/>
    </interface>""", x, flags=re.S)
print(x)' >"$LT_DIR/$CHURN.xml"
lt_virsh A create "$LT_DIR/$CHURN.xml" >/dev/null || tb_fail "virsh create $CHURN failed"
lt_define_guest A "$MT_GUEST" "$MT_GUEST_MAC" >/dev/null
mt_wait A "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
mt_wait A "any(v['mac'] == '$CHURN_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
mt_wait A "(d.get('carry') or {}).get('metadata_writes', 0) >= 1" 30 show "$MT_GUEST"
echo "churn: guests up on A (churn on $CHURN_TAP, quiet $MT_GUEST)"

# The churn (lib/tapwrite.py): IGMPv2 report / leave for 239.77.30.1 from the guest's MAC and
# 10.77.1.70, written into a queue of the guest's tap, unpaced.
churn_start() {
  # nsenter execs python3 (lt_exec, a function, would leave a subshell in $!).
  nsenter -t "$LT_HOLDER_A" -n -m -u -- python3 "$VSM_SOURCE_ROOT/tests/integration/lib/tapwrite.py" churn "$CHURN_TAP" "$CHURN_MAC" 3600 "$OUT/churn.count" \
    >"$OUT/churn.out" 2>&1 &
  CHURN_PID=$!
  tb_track_pid "$CHURN_PID" churn
}
churn_stop() {
  kill "$CHURN_PID" 2>/dev/null || true
  wait "$CHURN_PID" 2>/dev/null || true
}
counters() { # counters HOST: learned_frames rate_dropped_frames changes state_messages of HOST
  hctl "$1" --json status | vsm_json \
    '" ".join(str(d["libvirt"]["carry"].get(k, "-")) for k in ("learned_frames", "rate_dropped_frames", "changes", "state_messages"))'
}
# delay T0: ms from A's SUSPENDED_MIGRATED to B's SWITCHOVER for the last g1 migration
delay() {
  local ts tr
  ts=$(hctl A --json show "$MT_GUEST" | python3 "$CARRY_PY" timeline-time "$1" 'suspended-migrated') || { echo -; return; }
  tr=$(hctl B --json show "$MT_GUEST" | python3 "$CARRY_PY" timeline-time "$1" 'peer: SWITCHOVER') || { echo -; return; }
  python3 -c "print(round(($tr - $ts) * 1000, 1))"
}

run_series() { # run_series LABEL
  local label=$1 k t0 c0 c1 d
  for ((k = 1; k <= K; k++)); do
    c0=$(counters A)
    t0=$(date +%s.%N)
    lt_migrate A B "$MT_GUEST" >/dev/null || tb_fail "$label migration $k A -> B failed"
    mt_wait B "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
    c1=$(counters A)
    d=$(delay "$t0")
    hctl A --json show "$MT_GUEST" >"$OUT/show-$label-$k-A.json"
    hctl B --json show "$MT_GUEST" >"$OUT/show-$label-$k-B.json"
    printf '%-6s %2d  A SUSPENDED -> B SWITCHOVER %8s ms   A learned/rate-dropped/changes/STATE: %s -> %s  (%s ms)\n' \
      "$label" "$k" "$d" "$c0" "$c1" "$LT_MIGRATE_MS" | tee -a "$OUT/lines.txt"
    echo "$label $d" >>"$OUT/delays.txt"
    lt_migrate B A "$MT_GUEST" >/dev/null || tb_fail "$label migration $k B -> A failed"
    mt_wait A "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
    sleep 1
  done
}

: >"$OUT/delays.txt"
run_series quiet
churn_start
sleep 2
c0=$(counters A) n0=$(cat "$OUT/churn.count" 2>/dev/null || echo 0)
sleep 5
c1=$(counters A) n1=$(cat "$OUT/churn.count" 2>/dev/null || echo 0)
echo "churn: over 5 s the guest's tap took $((n1 - n0)) frames; A's learner (learned/rate-dropped/changes/STATE): $c0 -> $c1" |
  tee -a "$OUT/lines.txt"
kill -0 "$CHURN_PID" 2>/dev/null || { cat "$OUT/churn.out"; tb_fail "the churn writer died"; }
run_series churn
churn_stop
hctl A --json status >"$OUT/status-A.json"
python3 - "$OUT/delays.txt" <<'PY' | tee -a "$OUT/lines.txt"
import statistics, sys
by = {}
for line in open(sys.argv[1]):
    label, d = line.split()
    if d != "-":
        by.setdefault(label, []).append(float(d))
for label in ("quiet", "churn"):
    v = by.get(label, [])
    if v:
        print(f"{label}: A SUSPENDED -> B SWITCHOVER median {statistics.median(v):.1f} ms, max {max(v):.1f} ms over {len(v)} migrations")
    else:
        print(f"{label}: no measurement")
PY
echo "churn bench: results in $OUT"

#!/bin/bash
# Integration: back-to-back migrations (issue 8, item 6).  g1 migrates
# A -> B and, as soon as virsh returns, B -> A again: before B's periodic
# <metadata> write ([learn] metadata-interval-ms, set long here) could
# have run (5 s here).  B writes its snapshot at the takeover (RESUMED), so the second
# migration's destination (A) finds B as the origin, reaches B's peer
# listener with B's token, and switches over from SWITCHOVER, not late.
# Two real libvirtd hosts, a TCG guest, vsimigd on both with [peer].
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/libvirt-testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/migrate.sh"
. "$HERE/lib/carry.sh"
CARRY_PY=$HERE/lib/carry.py
PEER_PORT=7788

tb_init
ct_peer_conf_both "$PEER_PORT"
# Only the takeover write can put B's origin into the XML in time.
MT_EXTRA_CONF="[learn]
metadata-interval-ms = 5000"
mt_setup
lt_define_guest A "$MT_GUEST" "$MT_GUEST_MAC" >/dev/null
mt_wait A "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
# A's first snapshot (origin A) is in the XML before the first migration.
mt_wait A "(d.get('carry') or {}).get('metadata_writes', 0) >= 1" 30 show "$MT_GUEST"
echo "ok: g1 runs on A, A's snapshot written"

# timeline HOST T0 REGEX: HOST's timeline entries for g1 since T0 matching REGEX.
timeline() { hctl "$1" --json show "$MT_GUEST" | python3 "$CARRY_PY" timeline "$2" "$3"; }

t1=$(date +%s.%N)
lt_migrate A B "$MT_GUEST" >/dev/null || tb_fail "virsh migrate A -> B failed"
t2=$(date +%s.%N)
lt_migrate B A "$MT_GUEST" >/dev/null || tb_fail "virsh migrate B -> A (right after A -> B) failed"
lt_wait_domstate A "$MT_GUEST" running 10
sleep 2
echo "B's timeline from the first migration:"
timeline B "$t1" 'snapshot|takeover|taken over|origin' || true
echo "A's timeline from the second migration:"
timeline A "$t2" 'snapshot|peer|switchover|replay|origin' || true

# The second migration's destination (A) found B as the origin ...
timeline A "$t2" "snapshot: .*origin $LT_IP_B:$PEER_PORT" >/dev/null ||
  tb_fail "A did not find B ($LT_IP_B:$PEER_PORT) as the origin of the second migration"
# ... reached it with the right token, and switched over in time.
timeline A "$t2" "peer channel to $LT_IP_B:$PEER_PORT: connected" >/dev/null ||
  tb_fail "A's peer channel to B did not connect"
show=$(hctl A --json show "$MT_GUEST")
[ "$(vsm_json 'd["carry"]["replay_late"]' <<<"$show")" = False ] ||
  tb_fail "A replayed late: no SWITCHOVER from B"
if grep -q "a hello with a wrong token was refused" "$TB_DIR/vsimigd-B.log"; then
  tb_fail "B refused A's hello (wrong token)"
fi
echo "PASS: back-to-back A -> B -> A: the second destination reached B with B's token"

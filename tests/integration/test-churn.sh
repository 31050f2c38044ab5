#!/bin/bash
# Integration: a guest's burst of changes reaches the destination as few
# STATE messages, not one per frame (issue 8, item 6, guest churn).  The
# guest "churn" (no OS) has a multi-queue tap made beforehand on both hosts
# (<interface type='ethernet'>, managed 'no', 2 queues); the test opens a
# third queue of A's tap and writes, as the guest would, IGMPv2 reports for
# 40 groups back to back while the guest migrates A -> B (precopy held
# long by a throttled migration link) and B's peer channel to A is up.
# vsimigd on A coalesces a domain's changes of 10 ms into one STATE: B
# must count far fewer peer messages than the 40 changes A learned, and
# have all 40 groups.  Then the migration completes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/libvirt-testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/migrate.sh"
. "$HERE/lib/carry.sh"

G=churn MAC=02:76:73:6d:31:01 TAP=tchurn N_GROUPS=40
tb_init
ct_peer_conf_both 7788
mt_setup
for h in A B; do
  lt_exec "$h" ip tuntap add dev "$TAP" mode tap multi_queue
  lt_exec "$h" ip link set "$TAP" master br0 up
done
lt_guest_xml "$G" "$MAC" | python3 -c '
import re, sys
x = sys.stdin.read()
x = re.sub(r"<interface type=.bridge.>.*?</interface>", """<interface type="ethernet">
      <target dev="'"$TAP"'" managed="no"/>
      <mac address="'"$MAC"'"/>
      <model type="virtio"/>
      <driver queues="2"/>
      <rom enabled="no"/>
    </interface>""", x, flags=re.S)
print(x)' >"$LT_DIR/$G.xml"
lt_virsh A create "$LT_DIR/$G.xml" >/dev/null || tb_fail "virsh create $G failed"
mt_wait A "any(v['mac'] == '$MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
mt_wait A "(d.get('carry') or {}).get('metadata_writes', 0) >= 1" 30 show "$G"
echo "ok: $G runs on A with its own tap"

lt_exec A tc qdisc add dev mig0 root tbf rate 50kbit burst 32kbit latency 5s
tb_defer "lt_exec A tc qdisc del dev mig0 root 2>/dev/null || true"
( lt_migrate A B "$G" >"$TB_DIR/migrate.out" 2>&1 ) &
mig_pid=$!
mt_wait B "(d.get('carry') or {}).get('peer') == 'connected'" 30 show "$G"
show() { hctl "$1" --json show "$G"; }
m0=$(show B | vsm_json 'd["carry"]["peer_messages"]')
c0=$(hctl A --json status | vsm_json 'd["libvirt"]["carry"]["changes"]')
nsenter -t "$LT_HOLDER_A" -n -m -u -- python3 "$HERE/lib/tapwrite.py" burst "$TAP" "$MAC" "$N_GROUPS" >/dev/null ||
  tb_fail "the burst writer failed"
mt_wait B "sum(len(n.get('groups', [])) for n in d['carry']['incoming']['nics']) >= $N_GROUPS" 10 show "$G"
sleep 0.5
show B >"$TB_DIR/show-B.json"
m1=$(vsm_json 'd["carry"]["peer_messages"]' <"$TB_DIR/show-B.json")
c1=$(hctl A --json status | vsm_json 'd["libvirt"]["carry"]["changes"]')
# Still in precopy: every message counted is a STATE.
[ "$(vsm_json 'd["carry"]["switchover_received"]' <"$TB_DIR/show-B.json")" = False ] ||
  tb_fail "the switchover came before the check (precopy too short)"
echo "A learned $((c1 - c0)) changes; B got $((m1 - m0)) peer message(s) for them"
((c1 - c0 >= N_GROUPS)) || tb_fail "A learned $((c1 - c0)) changes, want >= $N_GROUPS"
((m1 - m0 >= 1 && m1 - m0 <= 5)) || tb_fail "B got $((m1 - m0)) STATE messages for $N_GROUPS changes, want 1-5"

lt_exec A tc qdisc del dev mig0 root
wait "$mig_pid" || { cat "$TB_DIR/migrate.out"; tb_fail "virsh migrate A -> B failed"; }
lt_wait_domstate B "$G" running 30 || tb_fail "$G not running on B"
echo "PASS: $N_GROUPS changes in one burst reached the destination as $((m1 - m0)) STATE message(s)"

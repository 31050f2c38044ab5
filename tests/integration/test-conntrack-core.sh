#!/bin/bash
# Integration: the conntrack carry end to end inside vsimigd (issue 11,
# part A; vsimigd(8) CONNTRACK).  Two real libvirtd hosts, the Linux test
# guest g1 (a DHCP lease from dnsmasq, pinged from the switch so A's
# learner owns its address), vsimigd on both with [peer].
#
# The firewalls and the guest's real flows are test-conntrack.sh's; here the
# entries are made with conntrack(8) in host A's namespace, so every kind
# the carry must handle is there and counted exactly:
#   - 40 TCP ESTABLISHED [ASSURED] entries the VM opened (mark 7), one it
#     accepted (to its port 22), one UNREPLIED UDP entry;
#   - one whose reply tuple does not mirror (SNAT to 10.77.200.1): skipped
#     as nat;
#   - one ICMP entry: skipped as protocol;
#   - another address's entry: not the VM's, never looked at;
#   - while the migration runs (after the pre-stage), UDP entries made one
#     by one: only events and the SWITCHOVER delta can carry them.
# Checks after A -> B:
#   1. B holds the 42 + 1 entries (state, ASSURED, mark, UNREPLIED kept,
#      timeout no longer than on A), not the NAT or ICMP ones;
#   2. B holds every UDP entry made during the migration up to the
#      pre-stage's end, and the delta carried at least one;
#   3. A holds none of the VM's entries any more (deleted after it left),
#      the other address's entry is untouched;
#   4. `vsimigctl --json show` on B: installed >= 43, failed 0,
#      prestage_entries >= 43, delta_us >= 0; on A: skipped nat 1,
#      protocol 1, deleted >= 43; each host's timeline has its conntrack
#      lines.
# Every assertion is evaluated; failures are listed at the end (exit 1).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/libvirt-testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/migrate.sh"
. "$HERE/lib/guest/guest.sh"
. "$HERE/lib/carry.sh"
CARRY_PY=$HERE/lib/carry.py
. "$HERE/lib/fails.sh"
fails_init ct-core
PEER_PORT=7788
G1=g1 MAC1=02:76:73:6d:41:01
PEER=10.77.1.1 NATADDR=10.77.200.1 OTHER=10.77.1.222
N_TCP=40

tb_init
for tool in dnsmasq conntrack python3; do
  command -v "$tool" >/dev/null || tb_skip_or_fail "missing tool: $tool (tests/deps.sh)"
done
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
lg_build ""
ct_peer_conf_both "$PEER_PORT"
MT_EXTRA_CONF="[conntrack]
enabled = true"
mt_setup
ct_switch_setup
ct_dnsmasq_start
lt_events_start B "$TB_DIR/events-B.log"
lg_define_linux_guest A "$G1" "$MAC1" "" >/dev/null
ct_wait_linux_guest A "$G1"
IP1=$CT_GUEST_IP4
ct_ping_guest "$IP1" "" g1
mt_wait A "any('$IP1' in n.get('ip4', []) for n in (d.get('carry') or {}).get('learned', []))" 20 show "$G1"
say "g1 on A: lease $IP1, learned as owned"

cta() { lt_exec A conntrack "$@"; }
ctb() { lt_exec B conntrack "$@"; }
count() { # count HOST ARGS...: entries conntrack -L lists with ARGS
  local out
  out=$(lt_exec "$1" conntrack -L "${@:2}" 2>/dev/null) || true
  grep -c . <<<"$out" || true
}
for ((i = 0; i < N_TCP; i++)); do
  cta -I -p tcp -s "$IP1" -d "$PEER" --sport $((30000 + i)) --dport 80 --state ESTABLISHED \
    -u SEEN_REPLY,ASSURED -t 3000 -m 7 >/dev/null 2>&1 || tb_fail "conntrack -I on A failed"
done
cta -I -p tcp -s "$PEER" -d "$IP1" --sport 50000 --dport 22 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 3000 \
  >/dev/null 2>&1 || tb_fail "conntrack -I (inbound) on A failed"
cta -I -p udp -s "$IP1" -d "$PEER" --sport 5000 --dport 5001 -t 30 >/dev/null 2>&1 ||
  tb_fail "conntrack -I (udp) on A failed"
cta -I -p tcp -s "$IP1" -d "$PEER" --sport 40000 --dport 443 -r "$PEER" -q "$NATADDR" --reply-port-src 443 \
  --reply-port-dst 40000 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 3000 >/dev/null 2>&1 ||
  tb_fail "conntrack -I (nat) on A failed"
cta -I -p icmp -s "$IP1" -d "$PEER" --icmp-type 8 --icmp-code 0 --icmp-id 77 -t 30 >/dev/null 2>&1 ||
  tb_fail "conntrack -I (icmp) on A failed"
cta -I -p tcp -s "$OTHER" -d "$PEER" --sport 40001 --dport 80 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 3000 \
  >/dev/null 2>&1 || tb_fail "conntrack -I (other) on A failed"
say "A: $(count A -s "$IP1") + $(count A -d "$IP1") entries of g1, $(count A -s "$OTHER") of $OTHER"

# UDP entries one by one while the migration runs; each line: sport.
DURING=$TB_DIR/during.txt
: >"$DURING"
(
  for ((i = 0; i < 400; i++)); do
    [[ -e $TB_DIR/stop-during ]] && break
    lt_exec A conntrack -I -p udp -s "$IP1" -d "$PEER" --sport $((20000 + i)) --dport 9 -t 300 >/dev/null 2>&1 &&
      echo $((20000 + i)) >>"$DURING"
    sleep 0.02
  done
) &
DURING_PID=$!
tb_track_pid "$DURING_PID" during-loop
t0=$(date +%s.%N)
lt_migrate A B "$G1" >/dev/null || tb_fail "virsh migrate A -> B failed (rc $LT_MIGRATE_RC)"
touch "$TB_DIR/stop-during"
wait "$DURING_PID" || true
tb__untrack_pid "$DURING_PID"
lt_wait_domstate B "$G1" running 10
sleep 2
say "g1 A -> B in $LT_MIGRATE_MS ms; $(grep -c . "$DURING") UDP entries made during it"
echo "A's timeline:"
hctl A --json show "$G1" | python3 "$CARRY_PY" timeline "$t0" 'conntrack' || true
echo "B's timeline:"
hctl B --json show "$G1" | python3 "$CARRY_PY" timeline "$t0" 'conntrack' || true

# 1. B holds the carried entries, not the skipped ones.
n=$(count B -p tcp -s "$IP1" -d "$PEER" --dport 80)
[[ $n -eq $N_TCP ]] || nfail "B holds $n of the $N_TCP TCP entries g1 opened"
line=$(ctb -L -p tcp -s "$IP1" --sport 30000 2>/dev/null || true)
[[ $line == *ESTABLISHED* && $line == *ASSURED* && $line == *mark=7* ]] ||
  nfail "B's entry lost its state, ASSURED or mark: $line"
t=$(awk '{print $3}' <<<"$line")
[[ -n $t && $t -le 3000 ]] || nfail "B's entry has timeout ${t:-?} (A's was at most 3000 s)"
[[ $(count B -p tcp -s "$PEER" -d "$IP1" --dport 22) -eq 1 ]] || nfail "B does not hold the inbound entry to g1:22"
line=$(ctb -L -p udp -s "$IP1" --sport 5000 2>/dev/null || true)
[[ $line == *UNREPLIED* ]] || nfail "B's UDP entry is not UNREPLIED (or absent): $line"
[[ $(count B -p tcp --sport 40000) -eq 0 ]] || nfail "B holds the NAT entry (nat = skip)"
[[ $(count B -p icmp) -eq 0 ]] || nfail "B holds the ICMP entry"
[[ $(count B -s "$OTHER") -eq 0 ]] || nfail "B holds $OTHER's entry"

# 2. The ones made during the migration: the delta carried them.
show_b=$(hctl B --json show "$G1")
show_a=$(hctl A --json show "$G1")
echo "B: $(vsm_json 'd["conntrack"]' <<<"$show_b")"
echo "A: $(vsm_json 'd["conntrack"]' <<<"$show_a")"
missing=0 early=0
prestage_ms=$(vsm_json 'd["conntrack"]["prestage_ms"]' <<<"$show_a")
while read -r sp; do
  early=$((early + 1))
  [[ $(count B -p udp -s "$IP1" --sport "$sp") -eq 1 ]] || missing=$((missing + 1))
done < <(head -n 5 "$DURING")
[[ $early -gt 0 ]] || nfail "no UDP entry could be made during the migration"
[[ $missing -eq 0 ]] || nfail "B lacks $missing of the first $early UDP entries made during the migration"
d_b=$(vsm_json 'd["conntrack"]["delta_entries"]' <<<"$show_b")
[[ $d_b -ge 1 ]] || nfail "B's delta had $d_b entries (entries were made during the migration)"

# 3. A holds none of g1's entries any more; the other one stays.  The
#    loop's entries made after the SWITCHOVER (the VM paused, so not its
#    flows: B has none of them) may be made after the delete: not counted.
sleep 1
maxb=$(ctb -L -p udp -s "$IP1" --dport 9 2>/dev/null |
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^sport=/) { print substr($i, 7); break } }' | sort -n | tail -1)
late=0
while read -r sp; do
  [[ -n $maxb && $sp -gt $maxb ]] && late=$((late + $(count A -p udp -s "$IP1" --sport "$sp")))
done <"$DURING"
left=$(( $(count A -s "$IP1") + $(count A -d "$IP1") - late ))
[[ $left -eq 0 ]] || nfail "A still holds $left of g1's entries after it left (besides $late made after the SWITCHOVER; B's last loop sport $maxb): $(cta -L -s "$IP1" 2>/dev/null | tail -5 | tr '\n' ';') $(cta -L -d "$IP1" 2>/dev/null | tr '\n' ';')"
[[ $(count A -p tcp -s "$IP1") -eq 0 ]] || nfail "A still holds g1's TCP entries"
[[ $(count A -s "$OTHER") -eq 1 ]] || nfail "A lost $OTHER's entry"

# 4. The counters.
chk() { # chk JSON EXPR WHAT
  [[ $(vsm_json "$2" <<<"$1") == True ]] || nfail "$3: $(vsm_json 'd["conntrack"]' <<<"$1")"
}
chk "$show_b" 'd["conntrack"]["installed"] >= 43 and d["conntrack"]["failed"] == 0' "B installed too few or some failed"
chk "$show_b" 'd["conntrack"]["prestage_entries"] >= 43 and d["conntrack"]["delta_us"] >= 0' "B's pre-stage/delta figures"
chk "$show_a" 'd["conntrack"]["skipped"]["nat"] == 1 and d["conntrack"]["skipped"]["protocol"] == 1' \
  "A did not count the NAT and ICMP entries as skipped"
chk "$show_a" 'd["conntrack"]["deleted"] >= 43' "A's deleted count"
for h in A B; do
  n=$(hctl "$h" --json show "$G1" | python3 "$CARRY_PY" timeline "$t0" 'conntrack' | grep -c . || true)
  [[ $n -ge 2 ]] || nfail "$h's timeline has $n conntrack line(s)"
done
say "prestage on A: $prestage_ms ms (dump + stream); B: $(vsm_json '"%s entries installed, pre-stage %.1f ms, delta %s entries in %s us" % (d["conntrack"]["installed"], d["conntrack"]["prestage_ms"], d["conntrack"]["delta_entries"], d["conntrack"]["delta_us"])' <<<"$show_b")"

for h in A B; do
  mt_vsimigd_stop "$h"
  grep -E 'Sanitizer|runtime error:' "$TB_DIR/vsimigd-$h.log" && nfail "sanitizer report in vsimigd-$h's log"
done

if [[ ${#FAILS[@]} -gt 0 ]]; then
  say "${#FAILS[@]} failure(s):"
  printf '  - %s\n' "${FAILS[@]}"
  exit 1
fi
say "PASS: the VM's entries pre-staged, delta'd, installed on B, deleted on A"

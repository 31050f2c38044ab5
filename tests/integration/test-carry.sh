#!/bin/bash
# Integration: the VM's network state carried across a real live migration
# and replayed upstream in the paused window (issue 4, DESIGN.md §2, §4, §6).
# Real peers only: two libvirtd 9.0 hosts, a real Linux guest (TCG, Debian
# kernel + busybox initramfs, udhcpc lease with a client-id, IGMPv3/MLDv2
# joins by mcjoin), the switch br-sw with snooping and a querier, dnsmasq
# (and once isc-dhcpd) as the DHCP server, a multicast sender on the switch,
# vsimigd on both hosts with [peer] and [replay] configured.
#
# One guest g1 is booted once and migrated back and forth; g2 shares g1's
# IPv4 group and stays on A during 1:
#   1. g1 A -> B (dnsmasq): before the destination's RESUMED the switch port
#      sw-b sees the replayed INIT-REBOOT REQUEST (VM MAC, ciaddr 0, opt 50 =
#      its IP, its client-id) and dnsmasq's ACK crossing to sw-b; the switch
#      mdb has every group on sw-b; GARP and unsolicited NA for its
#      addresses.  B's br0 mdb has the groups on the new tap.  Likewise
#      for a group only A's br0 mdb holds for g1's tap (added by hand, never
#      reported by the guest: a join from before vsimigd watched), which A
#      knows from its mdb notification cache and streams before SWITCHOVER
#      (its timeline's SWITCHOVER note says how many vNIC states were still
#      unstreamed; informational).  The stream
#      still reaches the guest and it loses at most the datagrams sent while
#      it was paused, +1 per group (the sender's rate, from its sequence
#      numbers, x the source's SUSPENDED -> the destination's RESUMED).
#      The source's leaves (from its uplink's MAC) prune g1's IPv6 group
#      from the old port sw-a; its IPv4 group stays there for g2, and A
#      sent no leave for it (in 3 both groups are pruned from sw-b).
#   0. then g2, a guest WITHOUT a lease (vsm.dhcp=0, static 10.77.1.50),
#      migrates A -> B: no DHCP message from its MAC appears; its groups
#      are pruned from sw-a.
#   2. a client with a wrong token on B's peer listener: error or close; B
#      is fine and the next migration works.
#   3. g1 B -> A with isc-dhcpd instead of dnsmasq (seeded with the same
#      binding): the replay is ACKed; no DHCPNAK anywhere, ever; the loss
#      bound of step 1 again.
#   4. g1 A -> B with TCP 7788 dropped on host A (the source): the replay
#      still happens, at RESUMED, and B's timeline marks it late.
#   6. g1 B -> A after A's libvirtd was restarted without the hook: A's
#      vsimigd sees no hook call, reads the snapshot from the live
#      <metadata> at STARTED_MIGRATED and still replays at SWITCHOVER;
#      "no hook seen" in A's show and status.
#   7. g1 A -> B while B's libvirtd is stopped (SIGSTOP, 5 s) with B's
#      vsimigd reconnecting to it: B's replay still happens at SWITCHOVER,
#      before libvirtd continues; B answers status during the stall.
#   8. vsimigd restarted on B, where g1 runs: its own snapshot, taken
#      back from the <metadata>, is not written again (unchanged).
#   5. g1 B -> A with vsimigd stopped on both hosts: the loss without
#      vsimigd, for the record.
# In every migration but 5, nothing the old host sends on its switch port
# after RESUMED has the VM's MAC as source, or its addresses as IP / ARP
# sender (every frame each port receives is captured).
# Every assertion is evaluated; failures are collected and listed at the
# end (exit 1), each with its evidence (times relative to RESUMED).
#
# RESUMED = the earliest of: the destination's `virsh event` time, the
# destination vsimigd's timeline entry, QEMU's first RARP on the switch
# port (QEMU announces before it starts the vCPUs).  All namespaces share
# CLOCK_REALTIME: pcap times, bridge monitor times and date(1) compare.
#
# Env: CT_RATE (datagrams/s per group, 100), CT_SETTLE (s to watch after
# each migration, 3).
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
fails_init carry
SETTLE=${CT_SETTLE:-3}
G1=g1 MAC1=02:76:73:6d:20:01
G2=g2 MAC2=02:76:73:6d:20:02 IP2=10.77.1.50
# g2 shares g1's IPv4 group: while g2 stays on A, A must not prune it.
G2_GROUPS=(239.77.2.1 ff15::77:2 "$LG_GROUP4")
MGROUPS=("$LG_GROUP4" "$LG_GROUP6")
MDB_ONLY=239.77.9.9                 # in A's br0 mdb only (step 1)
EXTRA_GROUPS=()                     # checked like the guest's groups, not streamed to it
PEER_PORT=7788

tb_init
for tool in dnsmasq bridge python3 nft; do
  command -v "$tool" >/dev/null || tb_skip_or_fail "missing tool: $tool (tests/deps.sh)"
done
[[ -x /usr/sbin/dhcpd ]] || tb_skip_or_fail "missing tool: dhcpd (isc-dhcp-server, tests/deps.sh)"
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
lg_build ""
say "guest: $LG_GUEST_DIR ($( ((LG_BUILD_CACHED)) && echo cached || echo built) in $LG_BUILD_MS ms)"

# ---- does this vsimigd know [peer] / [replay]?
if ct_check_peer_conf; then
  # Read by mt_setup (migrate.sh): each host listens on its own mig0.
  ct_peer_conf_both "$PEER_PORT"
  say "vsimigd accepts [peer]/[replay]: configured on both hosts (listen $LT_IP_A/${LT_IP_B##*.}:$PEER_PORT)"
else
  nfail "this vsimigd does not accept the [peer]/[replay] config ($(tr '\n' ' ' <"$TB_DIR/probe.out")); running without them, the replay assertions below will fail"
fi

# ---- the world
mt_setup
SW=$LT_NS_SW
ct_switch_setup
ct_dnsmasq_start
ct_capture_start sw-a "$TB_DIR/c-sw-a.pcap"
ct_capture_start sw-b "$TB_DIR/c-sw-b.pcap"
# What each host sends to the switch, every frame: after the destination
# resumed, nothing from the old host may be spoken as the VM.
ct_capture_in_start sw-a "$TB_DIR/in-sw-a.pcap"
ct_capture_in_start sw-b "$TB_DIR/in-sw-b.pcap"
ct_mdb_monitor_start "$SW" "$TB_DIR/mdb-sw.log"
ct_mdb_monitor_start "$LT_NS_A" "$TB_DIR/mdb-A.log"
ct_mdb_monitor_start "$LT_NS_B" "$TB_DIR/mdb-B.log"
lt_events_start A "$TB_DIR/events-A.log"
lt_events_start B "$TB_DIR/events-B.log"
say "testbed, vsimigd A+B, lldpad, dnsmasq, captures ready"

# ---- boot g1 (lease, groups) and g2 (no lease) together on A
lg_define_linux_guest A "$G1" "$MAC1" >/dev/null
UUID1=$(lt_virsh A domuuid "$G1" | sed '/^$/d')
lg_define_linux_guest A "$G2" "$MAC2" "vsm.dhcp=0 vsm.ip=$IP2/24 vsm.groups=$(IFS=,; echo "${G2_GROUPS[*]}")" >/dev/null
ct_wait_linux_guest A "$G1"
IP1=$CT_GUEST_IP4 LL1=$CT_GUEST_LL6
CID1=$(lg_client_id "$MAC1")
say "g1 ($UUID1) lease $IP1 after $CT_GUEST_LEASE_MS ms, client-id $CID1"
[[ $IP1 == 10.77.1.1[0-9][0-9] ]] || tb_fail "g1's lease $IP1 not in 10.77.1.100-199"
for ((i = 0; i < 20; i++)); do grep -q " $MAC1 $IP1 " "$CT_DNSMASQ_LEASES" && break; sleep 0.1; done
lease=$(grep " $MAC1 " "$CT_DNSMASQ_LEASES" || true)
[[ $(awk '{print $5}' <<<"$lease") == "$CID1" ]] || tb_fail "dnsmasq's lease for g1 '$lease' lacks client-id $CID1"
lg_wait_console A "$G2" 'VSMGUEST: mcjoin ready' 60 >/dev/null
lg_wait_console A "$G2" 'VSMGUEST: dhcp off' 1 >/dev/null
say "g1 joined ${MGROUPS[*]}, ipv6 $LL1; g2 (no DHCP, $IP2) joined ${G2_GROUPS[*]}"
ct_wait_mdb "$SW" br-sw sw-a 5 "${MGROUPS[@]}" ||
  tb_fail "switch mdb lacks g1's groups on sw-a before any migration: $(ct_mdb_list "$SW" br-sw | xargs)"
[[ $(ct_mdb_ports "$SW" br-sw "$LG_GROUP6") == *sw-a* ]] || tb_fail "switch mdb lacks $LG_GROUP6 on sw-a before any migration"
# Unicast traffic so both addresses are the IP source of the guest's own
# packets (its echo replies: what the learner owns): the switch pings the
# guest over IPv4 and IPv6.
ct_ping_guest "$IP1" "$LL1" g1
ct_stream_to_guest A "$G1"
say "stream $CT_RATE/s per group flowing to g1"

# ---- helpers -------------------------------------------------------------------
# lost_total: g1's datagrams lost so far (both groups), via its control port.
lost_total() {
  local out
  out=$(lg_ctl "$SW" "$IP1" stats 2>/dev/null) || { echo -1; return; }
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^lost=/) { sub(/lost=/, "", $i); s += $i } } END { print s + 0 }' <<<"$out"
}
# grp_stats: "GROUP COUNT LOST LAST_SEQ" per group of g1, then "time EPOCH_S"
# (when the numbers were read).
grp_stats() {
  lg_ctl "$SW" "$IP1" stats 2>/dev/null | awk 'NR > 1 { c = l = q = 0
    for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "count") c = kv[2]; if (kv[1] == "lost") l = kv[2]; if (kv[1] == "last") q = kv[2] }
    print $1, c, l, q }'
  echo "time $(date +%s.%N)"
}
# loss_bound STATS0 STATS1 T_SUSPENDED T_RESUMED: "BOUND EXPLANATION": the
# datagrams the sender sent during the paused window, plus 1 per group.
# The sender's rate per group comes from its own sequence numbers (the
# last one the guest saw at STATS0 and at STATS1) over the time between
# the two readings; the paused window from the source's SUSPENDED_MIGRATED
# to the destination's RESUMED_MIGRATED (virsh event times).
loss_bound() {
  python3 - "$@" <<'PY'
import math, sys
def rd(p):
    g, t = {}, None
    for l in open(p):
        w = l.split()
        if w[0] == "time":
            t = float(w[1])
        elif len(w) >= 4:
            g[w[0]] = int(w[3])
    return g, t
(g0, t0), (g1, t1) = rd(sys.argv[1]), rd(sys.argv[2])
pause = float(sys.argv[4]) - float(sys.argv[3])
total, why = 0, []
for k in sorted(g0):
    rate = (g1.get(k, 0) - g0[k]) / (t1 - t0)
    b = math.ceil(rate * pause) + 1
    total += b
    why.append(f"{k}: {rate:.1f}/s x {pause * 1000:.0f} ms + 1 = {b}")
print(total, "; ".join(why))
PY
}
rx_total() {
  lg_ctl "$SW" "$IP1" stats 2>/dev/null |
    awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^count=/) { sub(/count=/, "", $i); s += $i } } END { print s + 0 }'
}
# ev_time FILE DOMAIN TEXT T0: epoch s of the first `virsh event` line for
# DOMAIN ending in TEXT at or after T0 (empty if none).
ev_time() {
  python3 "$CARRY_PY" event-time "$@" || true
}
# tl_time HOST DOMAIN REGEX T0: time of the first entry of HOST's vsimigd
# timeline matching REGEX at or after T0; also saves the timeline.
tl_time() {
  local h=$1 dom=$2 re=$3 t0=$4
  hctl "$h" --json show "$dom" >"$TB_DIR/tl.json" 2>/dev/null || return 0
  python3 "$CARRY_PY" timeline-time "$t0" "$re" <"$TB_DIR/tl.json" || true
}
# timeline_dump HOST DOMAIN T0 [REGEX]: HOST's timeline entries since T0,
# "+ms text" (only those matching REGEX; then rc 1 if none).
timeline_dump() {
  hctl "$1" --json show "$2" 2>/dev/null | python3 "$CARRY_PY" timeline "$3" ${4:+"$4"}
}
json_list() { python3 -c 'import json, sys; print(json.dumps([l.strip() for l in sys.stdin if l.strip()]))'; }

# migrate DOM SRC DST TAG CHECKS: migrate, settle, then run carry.py check
# with CHECKS (comma list, see carry.py); prints the evidence; failed
# assertions are collected.  Sets T0 (migration start) and LOST_DELTA.
migrate() {
  local dom=$1 src=$2 dst=$3 tag=$4 checks=$5 mac ip4 ip6 cid groups
  local t0 t_ev t_tl t_susp t_end lost0 lost1 rx0 rx1 tap rc=0 g c0 c1
  if [[ $dom == "$G1" ]]; then
    mac=$MAC1 ip4=$IP1 ip6=$LL1 cid=${CID1//:/} groups=("${MGROUPS[@]}")
  else
    mac=$MAC2 ip4=$IP2 ip6='' cid='' groups=("${G2_GROUPS[@]}")
  fi
  [[ $dom == "$G1" ]] && { lost0=$(lost_total); rx0=$(rx_total); grp_stats >"$TB_DIR/stats0"; }
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086 # MIGRATE_FLAGS: word list
  lt_migrate "$src" "$dst" "$dom" ${MIGRATE_FLAGS:-} >/dev/null || tb_fail "[$tag] virsh migrate --live $src -> $dst failed (rc $LT_MIGRATE_RC)"
  lt_wait_domstate "$dst" "$dom" running 10
  sleep "$SETTLE"
  t_end=$(date +%s.%N)
  t_ev=$(ev_time "${EVENTS_A:-$TB_DIR/events-A.log}" "$dom" "Resumed Migrated" "$t0")
  [[ $dst == B ]] && t_ev=$(ev_time "$TB_DIR/events-B.log" "$dom" "Resumed Migrated" "$t0")
  t_susp=$(ev_time "${EVENTS_A:-$TB_DIR/events-A.log}" "$dom" "Suspended Migrated" "$t0")
  [[ $src == B ]] && t_susp=$(ev_time "$TB_DIR/events-B.log" "$dom" "Suspended Migrated" "$t0")
  t_tl=$(tl_time "$dst" "$dom" 'resumed' "$t0")
  tap=$(ct_tap_of "$dst" "$dom" "$mac")
  say "[$tag] $dom $src -> $dst in $LT_MIGRATE_MS ms; RESUMED: virsh event ${t_ev:-none}, vsimigd timeline ${t_tl:-none}; source SUSPENDED ${t_susp:-none}; new tap $tap"
  if [[ -n $t_ev && -n $t_susp ]]; then
    say "[$tag] paused window (src SUSPENDED event -> dst RESUMED event): $(python3 -c "print(round(($t_ev - $t_susp) * 1000, 1))") ms"
  fi
  say "[$tag] destination $dst vsimigd timeline (ms after virsh migrate started):"
  timeline_dump "$dst" "$dom" "$t0" || true
  ct_mdb_list "$SW" br-sw | json_list >"$TB_DIR/mdb-final.json"
  local nsv="LT_NS_$dst"
  ct_mdb_list "${!nsv}" br0 | json_list >"$TB_DIR/host-mdb.json"
  python3 - "$TB_DIR/spec.json" <<PY
import json, sys
tr = [float(x) for x in "${t_ev} ${t_tl}".split()]
json.dump({"pcap_dst": "$TB_DIR/c-sw-${dst,,}.pcap", "port_dst": "sw-${dst,,}", "mac": "$mac",
           "ip4": "$ip4", "ip6": [x for x in "$ip6".split() if x], "cid": "$cid",
           "groups": "${groups[*]} ${EXTRA_GROUPS[*]}".split(), "t0": $t0, "t_resumed": tr, "t_end": $t_end,
           "mdb_log": "$TB_DIR/mdb-sw.log", "mdb_final": json.load(open("$TB_DIR/mdb-final.json")),
           "host_mdb": json.load(open("$TB_DIR/host-mdb.json")), "host_mdb_log": "$TB_DIR/mdb-$dst.log",
           "tap": "$tap", "checks": "$checks".split(","),
           "pcap_old_in": "$TB_DIR/in-sw-${src,,}.pcap", "port_old": "sw-${src,,}"}, open(sys.argv[1], "w"))
PY
  cp "$TB_DIR/spec.json" "$TB_DIR/spec-$tag.json"
  python3 "$CARRY_PY" check "$TB_DIR/spec.json" >"$TB_DIR/check-$tag.txt" 2>&1 || rc=$?
  sed "s/^/[$tag] /" "$TB_DIR/check-$tag.txt"
  while IFS= read -r l; do FAILS+=("[$tag] ${l#FAIL: }"); done < <(grep '^FAIL: ' "$TB_DIR/check-$tag.txt" || true)
  grep -q '^Traceback' "$TB_DIR/check-$tag.txt" && nfail "[$tag] carry.py check crashed"
  T0=$t0
  if [[ $dom == "$G1" ]]; then
    sleep 1
    lost1=$(lost_total)
    rx1=$(rx_total)
    LOST_DELTA=$((lost1 - lost0))
    say "[$tag] multicast: guest received $((rx1 - rx0)) datagrams across the migration, lost $LOST_DELTA (both groups, $CT_RATE/s each)"
    ((rx1 > rx0)) || nfail "[$tag] the stream did not reach g1 on $dst after resume (rx $rx0 -> $rx1)"
    grp_stats >"$TB_DIR/stats1"
    LOSS_BOUND='' LOSS_WHY='no paused window measured (no SUSPENDED or RESUMED event)'
    if [[ -n $t_ev && -n $t_susp ]]; then
      read -r LOSS_BOUND LOSS_WHY < <(loss_bound "$TB_DIR/stats0" "$TB_DIR/stats1" "$t_susp" "$t_ev")
      say "[$tag] datagrams sent during the paused window, +1 per group: $LOSS_BOUND ($LOSS_WHY)"
    fi
    for g in "${groups[@]}"; do
      c0=$(awk -v g="$g" '$1 == g { print $2 }' "$TB_DIR/stats0")
      c1=$(awk -v g="$g" '$1 == g { print $2 }' "$TB_DIR/stats1")
      say "[$tag]   $g: received $((${c1:-0} - ${c0:-0})), lost $(( $(awk -v g="$g" '$1 == g { print $3 }' "$TB_DIR/stats1") - $(awk -v g="$g" '$1 == g { print $3 }' "$TB_DIR/stats0") ))"
      ((${c1:-0} > ${c0:-0})) || nfail "[$tag] g1 on $dst received nothing for $g after resume (count ${c0:-?} -> ${c1:-?})"
    done
  fi
}

# ---- 1. g1 A -> B, dnsmasq ---------------------------------------------------------
tap_a=$(ct_tap_of A "$G1" "$MAC1")
ip netns exec "$LT_NS_A" bridge mdb add dev br0 port "$tap_a" grp "$MDB_ONLY" permanent ||
  tb_fail "cannot add $MDB_ONLY to A's br0 mdb on $tap_a"
say "[dnsmasq] $MDB_ONLY added to A's br0 mdb on g1's tap $tap_a (never reported by g1)"
EXTRA_GROUPS=("$MDB_ONLY")
migrate "$G1" A B dnsmasq dhcp,mdb,host_mdb,garp,na,oldport
EXTRA_GROUPS=()
if lt=$(timeline_dump A "$G1" "$T0" 'SWITCHOVER sent'); then
  printf '%s\n' "$lt" | sed 's/^/[dnsmasq] source timeline: /'
fi
LOSS_ON=$LOST_DELTA
# With the replay before RESUMED, g1 loses at most what was sent while it
# was paused (+1 per group for a datagram straddling either edge).
check_loss() { # check_loss TAG
  if [[ -z $LOSS_BOUND ]]; then
    nfail "[$1] cannot bound the loss: $LOSS_WHY"
  elif ((LOST_DELTA < 0 || LOST_DELTA > LOSS_BOUND)); then
    nfail "[$1] with vsimigd g1 lost $LOST_DELTA datagrams, more than were sent while it was paused + 1 per group ($LOSS_BOUND: $LOSS_WHY)"
  else
    say "[$1] ok: g1 lost $LOST_DELTA datagrams, at most the $LOSS_BOUND sent while it was paused (+1 per group)"
  fi
}
check_loss dnsmasq
# The destination's timeline records the replay, at SWITCHOVER (not late).
if lt=$(timeline_dump B "$G1" "$T0" 'replay|switchover'); then
  printf '%s\n' "$lt" | sed 's/^/[dnsmasq] timeline: /'
  if grep -qiE 'replay.*late|late.*replay' <<<"$lt"; then
    nfail "[dnsmasq] B's timeline marks the replay late although the peer channel was up"
  fi
else
  nfail "[dnsmasq] B's timeline has no replay/switchover entry"
fi
# After RESUMED the destination sent one IGMP and one MLD general query
# into g1's new tap ([replay] query-after-resume, on by default).
if lt=$(timeline_dump B "$G1" "$T0" 'post-resume'); then
  printf '%s\n' "$lt" | sed 's/^/[dnsmasq] timeline: /'
  grep -q 'igmpv3-query.*: sent' <<<"$lt" || nfail "[dnsmasq] no IGMPv3 general query sent into g1's tap after RESUMED"
  grep -q 'mldv2-query.*: sent' <<<"$lt" || nfail "[dnsmasq] no MLDv2 general query sent into g1's tap after RESUMED"
else
  nfail "[dnsmasq] B's timeline has no post-resume query entry"
fi

# The source sent leaves for g1's groups on its uplink once g1 had left
# ([replay] leave-old-port), from the uplink's own MAC: the switch prunes
# the old port within its last-member query time instead of the 260 s
# membership interval.
# check_pruned TAG SRC DOMAIN GROUP...: the GROUPs leave the old port
# sw-<SRC> within 10 s.
check_pruned() {
  local tag=$1 src=$2 port=sw-${2,,} dom=$3 g i pruned lt
  shift 3
  for g in "$@"; do
    pruned=0
    for ((i = 0; i < 100; i++)); do
      [[ " $(ct_mdb_ports "$SW" br-sw "$g") " == *" $port "* ]] || { pruned=1; break; }
      sleep 0.1
    done
    if ((pruned)); then
      say "[$tag] ok: the switch no longer forwards $g to the old port $port"
    else
      nfail "[$tag] $g still on the old port $port 10 s after the migration (ports: $(ct_mdb_ports "$SW" br-sw "$g"))"
    fi
  done
  if lt=$(timeline_dump "$src" "$dom" "$T0" 'old port'); then
    printf '%s\n' "$lt" | sed "s/^/[$tag] source timeline: /"
  fi
}
# leaves_for PCAP T0 GROUP: the IGMP/MLD leaves for GROUP in PCAP since T0
# (v2 Leave, MLDv1 Done, a v3/MLDv2 TO_IN{} record), one line each.
leaves_for() {
  python3 "$CARRY_PY" frames "$1" | python3 -c '
import json, sys
t0, g = float(sys.argv[1]), sys.argv[2]
for l in sys.stdin:
    f = json.loads(l)
    if f["t"] < t0 or g not in f.get("groups", []):
        continue
    rt = f.get("rtypes") or []
    if f["kind"] in ("igmp-leave", "mld-leave") or (rt and rt[f["groups"].index(g)] == 3):
        print("%.3f s %s from %s %s" % (f["t"] - t0, f["kind"], f["src"], f.get("ipsrc")))
' "$2" "$3"
}
# g1's IPv6 group is pruned from sw-a; its IPv4 group is g2's too, and g2
# still runs on A: A sends no leave for it and sw-a keeps it.
check_pruned dnsmasq A "$G1" "$LG_GROUP6"
sleep 1
l=$(leaves_for "$TB_DIR/in-sw-a.pcap" "$T0" "$LG_GROUP4")
[[ -z $l ]] || nfail "[dnsmasq] A sent a leave for $LG_GROUP4 on sw-a although g2 still listens there: $l"
[[ -n $l ]] || say "[dnsmasq] ok: A sent no leave for $LG_GROUP4, which g2 on A still holds"
if [[ " $(ct_mdb_ports "$SW" br-sw "$LG_GROUP4") " == *" sw-a "* ]]; then
  say "[dnsmasq] ok: the switch still forwards $LG_GROUP4 to sw-a for g2"
else
  nfail "[dnsmasq] the switch pruned $LG_GROUP4 from sw-a although g2 on A still listens (ports: $(ct_mdb_ports "$SW" br-sw "$LG_GROUP4"))"
fi

# ---- 0. (after 1) the lease-less guest g2 A -> B ----------------------------------------------------
migrate "$G2" A B nolease nodhcp,oldport
lt_virsh B destroy "$G2" >/dev/null || nfail "[nolease] virsh destroy g2 on B failed"
say "[nolease] g2 destroyed"
# g2 gone from A: its groups leave sw-a (g1's IPv4 group with them).
check_pruned nolease A "$G2" "${G2_GROUPS[@]}"


# ---- 2. a wrong token on B's peer listener ---------------------------------------
tok=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
ans=$(lt_exec A python3 "$CARRY_PY" peer-hello 10.77.9.2 "$PEER_PORT" "$UUID1" "$tok" 2>&1) || true
say "[token] hello with a bogus token for $UUID1 -> $(tr '\n' ' ' <<<"$ans")"
case $ans in
  reply*'"error"'*) say "[token] ok: rejected with an error message" ;;
  closed*) say "[token] ok: connection closed without a reply" ;;
  *) nfail "[token] a bogus token was not rejected by B's peer listener: $ans" ;;
esac
if [[ $ans == *still-open* ]]; then nfail "[token] B kept the connection open after rejecting the token"; fi
hctl B --json status >"$TB_DIR/status-B.json" 2>&1 || nfail "[token] vsimigd B does not answer status after the bogus hello"
grep -iE 'token|reject|peer' "$TB_DIR/vsimigd-B.log" | tail -n 3 | sed 's/^/[token] B log: /' || true
[[ $(lt_domstate B "$G1") == running* ]] || nfail "[token] g1 not running on B after the bogus hello"

# ---- 3. g1 B -> A, isc-dhcpd ------------------------------------------------------
ct_dnsmasq_stop
ct_dhcpd_start "$(ct_dhcpd_lease "$IP1" "$MAC1" "$CID1" "$G1")"
say "[dhcpd] dnsmasq stopped; isc-dhcpd pid $CT_DHCPD_PID seeded with g1's binding ($IP1, uid $CID1)"
migrate "$G1" B A dhcpd dhcp,garp,na,oldport
check_loss dhcpd
check_pruned dhcpd B "$G1" "${MGROUPS[@]}"
grep -E 'DHCP(REQUEST|ACK|NAK)' "$TB_DIR/dhcpd.log" | sed 's/^/[dhcpd] log: /' || true
grep -q DHCPNAK "$TB_DIR/dhcpd.log" && nfail "[dhcpd] isc-dhcpd logged a DHCPNAK: $(grep DHCPNAK "$TB_DIR/dhcpd.log" | head -n 2 | tr '\n' ' ')"
ct_dhcpd_stop
ct_dnsmasq_start

# ---- 4. peer channel unreachable: TCP 7788 dropped on the source host A ----------
lt_exec A nft -f - <<EOF
table inet vsmtest {
  chain input { type filter hook input priority 0; tcp dport $PEER_PORT drop; }
}
EOF
tb_defer "lt_exec A nft delete table inet vsmtest 2>/dev/null || true"
say "[late] nft on A drops TCP $PEER_PORT"
migrate "$G1" A B late dhcp_any,oldport
lt_exec A nft delete table inet vsmtest || nfail "[late] could not remove the nft table on A"
if lt=$(timeline_dump B "$G1" "$T0" 'replay.*late|late.*replay'); then
  printf '%s\n' "$lt" | sed 's/^/[late] timeline: /'
  say "[late] ok: B's timeline marks the replay late"
else
  nfail "[late] B's timeline has no entry marking the replay late (/replay.*late|late.*replay/; see the timeline above)"
fi

# ---- 6. g1 B -> A to a host whose libvirtd runs without the hook ---------------------
# As a new user installs it: the hook file is there, but libvirtd read its
# hooks before (libvirt reads them only at start).  A's vsimigd sees no hook
# call, only STARTED_MIGRATED: it reads the snapshot from the live
# <metadata> through its libvirt worker, connects to the origin B, and
# replays at SWITCHOVER (before RESUMED), as with the hook.
rm -f "$(lt_host_path A /etc/libvirt/hooks/qemu.d/vsimig)"
rc0=$(hctl A --json status | vsm_json 'd["libvirt"]["reconnects"]')
lt_libvirtd_restart A
mt_wait A "d['libvirt']['connected'] and d['libvirt']['reconnects'] > $rc0" 40 status
# The event watcher lost its libvirtd: a new one (steps 6 and 7 read A's
# SUSPENDED from it).
lt_events_start A "$TB_DIR/events-A2.log"
EVENTS_A=$TB_DIR/events-A2.log
say "[nohook] A's libvirtd restarted without the hook; A's vsimigd reconnected"
migrate "$G1" B A nohook dhcp,garp,na,oldport
if lt=$(timeline_dump A "$G1" "$T0" 'no hook seen'); then
  printf '%s\n' "$lt" | sed 's/^/[nohook] timeline: /'
else
  nfail "[nohook] A's timeline does not say 'no hook seen'"
fi
if lt=$(timeline_dump A "$G1" "$T0" 'replay|switchover'); then
  printf '%s\n' "$lt" | sed 's/^/[nohook] timeline: /'
  grep -qiE 'replay.*late|late.*replay' <<<"$lt" && nfail "[nohook] A's replay was late (at RESUMED), not at SWITCHOVER"
else
  nfail "[nohook] A's timeline has no replay/switchover entry"
fi
n=$(hctl A --json status | vsm_json 'd["libvirt"]["carry"]["incoming_no_hook"]')
((n >= 1)) && say "[nohook] ok: status counts $n incoming migration(s) without a hook" ||
  nfail "[nohook] A's status counts no incoming migration without a hook ($n)"
out=$(hctl A show "$G1" 2>&1) || true
grep -q 'no hook seen' <<<"$out" || nfail "[nohook] vsimigctl show on A does not say 'no hook seen'"

# ---- 7. g1 A -> B while B's libvirtd is stopped (SIGSTOP) for 5 s --------------------
# B's vsimigd has libvirt work in flight the whole time: its connection is
# cut (virt-admin client-disconnect) right before the SIGSTOP, so its
# reconnect (virConnectOpen, then the event registrations and the
# reconcile's list) hangs on the stopped daemon.  The migration runs at
# 1 MiB/s until then, and at full speed once the stall is in place: A's
# SUSPENDED, the SWITCHOVER to B and B's replay all fall inside the stall
# (5 s, longer if needed until A's SUSPENDED is 1 s old; at most 15 s).
# With every libvirt RPC in the worker, B's main loop stays free: B still
# answers `status` (connected false, its rpc worker busy), and its replay
# reaches the switch port before the stalled libvirtd continues.  (A
# blocking virConnectOpen on B's main loop holds all of that until SIGCONT.)
stall_orchestrate() { # runs in the background during the migration
  local t0=$1 dpid i ids id info st
  for ((i = 0; i < 600; i++)); do
    [[ -n $(ev_time "$TB_DIR/events-B.log" "$G1" "Started Migrated" "$t0") ]] && break
    sleep 0.05
  done
  dpid=$(lt__daemon_pid B)
  ids=$(lt_exec B virt-admin srv-clients-list libvirtd 2>/dev/null | awk '$1 ~ /^[0-9]+$/ { print $1 }')
  for id in $ids; do
    info=$(lt_exec B virt-admin client-info libvirtd "$id" 2>/dev/null) || continue
    if [[ $(awk -F: '$1 ~ /unix_process_id/ { gsub(/ /, "", $2); print $2 }' <<<"$info") == "$MT_VSIMIGD_PID_B" ]]; then
      lt_exec B virt-admin client-disconnect libvirtd "$id" >/dev/null 2>&1 && echo "$id" >"$TB_DIR/stall-client"
    fi
  done
  kill -STOP "$dpid"
  date +%s.%N >"$TB_DIR/stall-t-stop"
  # B's vsimigd retries its connection after 1 s: wait until that is in
  # flight (its status says so; a blocked main loop answers nothing), for
  # at most 3.5 s of the 5 s stall.
  local deadline=$(($(date +%s%N) + 3000000000))
  while (($(date +%s%N) < deadline)); do
    st=$(hctl B --timeout 1 --json status 2>/dev/null) || st=''
    if [[ -n $st ]] && vsm_json 'not d["libvirt"]["connected"] and d["libvirt"]["workers"]["rpc"]["busy_ms"] > 0' <<<"$st" 2>/dev/null | grep -q True; then
      printf '%s\n' "$st" >"$TB_DIR/stall-status.json"
      break
    fi
    sleep 0.1
  done
  date +%s.%N >"$TB_DIR/stall-t-busy"
  lt_virsh A migrate-setspeed "$G1" --bandwidth 8192 >/dev/null 2>&1 || echo "setspeed failed" >"$TB_DIR/stall-setspeed"
  # Continue 5 s after the stop, but not before A's SUSPENDED (the
  # switchover) is 1 s old; at most 15 s (virsh's keepalive to B gives up
  # after 30 s).
  local t_stop_ns t_end_ns t_s
  t_stop_ns=$(python3 -c "print(int(float(open('$TB_DIR/stall-t-stop').read()) * 1e9))")
  t_end_ns=$((t_stop_ns + 5000000000))
  while (($(date +%s%N) < t_stop_ns + 15000000000)); do
    t_s=$(ev_time "$EVENTS_A" "$G1" "Suspended Migrated" "$t0")
    [[ -n $t_s ]] && t_end_ns=$(python3 -c "print(max($t_end_ns, int(($t_s + 1) * 1e9)))")
    [[ -n $t_s ]] && (($(date +%s%N) >= t_end_ns)) && break
    sleep 0.1
  done
  date +%s.%N >"$TB_DIR/stall-t-cont"
  kill -CONT "$dpid"
}
hctl B loop-reset >/dev/null || nfail "[stall] vsimigctl loop-reset on B failed"
tb_defer "kill -CONT $(lt__daemon_pid B) 2>/dev/null || true"
rm -f "$TB_DIR"/stall-*
stall_orchestrate "$(date +%s.%N)" &
STALL_PID=$!
tb_track_pid "$STALL_PID" stall-orchestrator
MIGRATE_FLAGS="--bandwidth 1" migrate "$G1" A B stall dhcp_any,oldport
wait "$STALL_PID" || true
tb__untrack_pid "$STALL_PID"
T_STOP=$(cat "$TB_DIR/stall-t-stop" 2>/dev/null || true)
T_CONT=$(cat "$TB_DIR/stall-t-cont" 2>/dev/null || true)
[[ -n $T_STOP && -n $T_CONT ]] || tb_fail "[stall] the orchestrator did not stop/continue B's libvirtd"
[[ -s $TB_DIR/stall-client ]] || nfail "[stall] B's vsimigd's libvirt connection was not found/cut (virt-admin)"
rel() { python3 -c "print('%+.0f ms' % (($1 - $T_STOP) * 1000))"; }
say "[stall] B's libvirtd stopped at $T_STOP, continued $(rel "$T_CONT") later"
if [[ -s $TB_DIR/stall-status.json ]]; then
  say "[stall] ok: B answered status during the stall with libvirt disconnected and its rpc worker busy: $(vsm_json 'd["libvirt"]["workers"]' <"$TB_DIR/stall-status.json")"
else
  nfail "[stall] B's vsimigd did not answer status with its libvirt reconnect in flight during the stall (main loop blocked?)"
fi
t_susp=$(ev_time "$EVENTS_A" "$G1" "Suspended Migrated" "$T0")
if [[ -n $t_susp ]] && python3 -c "import sys; sys.exit(0 if $T_STOP < $t_susp < $T_CONT else 1)"; then
  say "[stall] A's SUSPENDED at $(rel "$t_susp"), inside B's stall"
else
  nfail "[stall] A's SUSPENDED (${t_susp:-not seen}) was not inside B's stall: the test proves nothing"
fi
t_rep=$(tl_time B "$G1" 'replay' "$T0")
if [[ -n $t_rep ]] && python3 -c "import sys; sys.exit(0 if $t_rep < $T_CONT else 1)"; then
  say "[stall] ok: B's timeline replay entry at $(rel "$t_rep"), before libvirtd continued"
else
  nfail "[stall] B's replay (timeline ${t_rep:-none}) not before the stalled libvirtd continued ($T_CONT)"
fi
t_frame=$(python3 "$CARRY_PY" frames "$TB_DIR/c-sw-b.pcap" | python3 -c '
import json, sys
t0, mac = float(sys.argv[1]), sys.argv[2]
ts = [f["t"] for f in map(json.loads, sys.stdin) if f["t"] >= t0 and f.get("src") == mac and f["kind"] == "dhcp"]
print(min(ts) if ts else "")' "$T_STOP" "$MAC1")
if [[ -n $t_frame ]] && python3 -c "import sys; sys.exit(0 if $t_frame < $T_CONT else 1)"; then
  say "[stall] ok: the replayed DHCP REQUEST reached sw-b at $(rel "$t_frame"), before libvirtd continued"
else
  nfail "[stall] no replayed DHCP frame from g1 on sw-b before the stalled libvirtd continued (first: ${t_frame:-none})"
fi
lmax=$(hctl B --json status | vsm_json 'd["loop_max_dispatch_since_reset_us"]')
say "[stall] B's longest main-loop dispatch since the reset before the stall: $lmax us"
# Not a timing goal: a dispatch as long as half the stall means the loop
# waited for libvirt.
((lmax < 2500000)) || nfail "[stall] B's main loop was blocked for $lmax us during the 5 s libvirtd stall"
[[ ! -e $TB_DIR/stall-setspeed ]] || nfail "[stall] virsh migrate-setspeed on A failed"

# ---- 5. g1 B -> A with vsimigd off on both hosts ------------------------------------
mt_vsimigd_stop A
mt_vsimigd_stop B
migrate "$G1" B A off none
LOSS_OFF=$LOST_DELTA
# For the record only: without vsimigd the switch keeps the groups on the
# old port until the guest reports again after it resumed.
say "[loss] datagrams lost across the migration: with vsimigd $LOSS_ON, without $LOSS_OFF (sent while paused without: ${LOSS_BOUND:-?})"
((LOSS_ON >= 0 && LOSS_OFF >= 0)) || nfail "[loss] could not read the guest's counters ($LOSS_ON / $LOSS_OFF)"

# ---- never a NAK -------------------------------------------------------------------
tb_capture_stop "$TB_DIR/c-sw-a.pcap"
tb_capture_stop "$TB_DIR/c-sw-b.pcap"
if naks=$(python3 "$CARRY_PY" naks "$TB_DIR/c-sw-a.pcap" "$TB_DIR/c-sw-b.pcap"); then
  say "[nak] ok: no DHCPNAK in the switch captures ($(python3 "$CARRY_PY" frames "$TB_DIR/c-sw-b.pcap" | grep -c '"kind": "dhcp"') DHCP frames on sw-b, $(python3 "$CARRY_PY" frames "$TB_DIR/c-sw-a.pcap" | grep -c '"kind": "dhcp"') on sw-a)"
else
  nfail "[nak] DHCPNAK in the captures: $naks"
fi

ct_senders_stop
say "total $(( ($(date +%s%N) - T_ALL) / 1000000 )) ms"
if ((${#FAILS[@]})); then
  say "${#FAILS[@]} assertion(s) failed:"
  for f in "${FAILS[@]}"; do printf '  - %s\n' "$f"; done
  exit 1
fi
say "PASS"

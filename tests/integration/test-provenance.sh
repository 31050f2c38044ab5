#!/bin/bash
# Integration: the destination announces only addresses the VM owns
# (issue 8 item 1; DESIGN.md §7 "Address provenance"; the ownership rule at
# the top of src/sm/learn.c and in vsimigd(8)).  Real peers only: two
# libvirtd hosts, real Linux guests (TCG, busybox initramfs), the switch
# br-sw, dnsmasq, vsimigd on both hosts with [peer] and [replay].
#
#   1. A hostile guest g1 (one NIC, DHCP lease) ARP-announces the switch's
#      (gateway's) address 10.77.1.1 and NA-announces fe80::1 (vsmspoof in
#      the guest, vsm.spoof=...; source of the NA = fe80::1), stops, then
#      migrates A -> B.  On B's switch port sw-b: no ARP from g1's MAC with
#      sender 10.77.1.1 and no NA from it for fe80::1, ever; the replay
#      (before RESUMED) still has the GARP of its lease and the NA of its
#      link-local address, and no report for a link-local group (its
#      solicited-node groups are in A's bridge mdb and its reports).
#   2. A guest g2 with two NICs on br0 (eth0: DHCP lease; eth1: static
#      10.77.1.60, arp_announce=0) whose eth1 announces eth0's address
#      (what arp_announce=0 lets it do), then pings from eth1, then migrates
#      A -> B.  On sw-b: no GARP of eth0's address from eth1's MAC, ever;
#      the replay still has it from eth0's MAC, and eth1's own address from
#      eth1's MAC.  eth1 has IPv6 addresses but only link-local groups
#      (never replayed): B still sends an MLDv2 query into its tap after
#      RESUMED, so the guest reports its solicited-node groups there.
# The guests' claims end before the migration starts ("spoof done" on the
# console), so a claim seen on sw-b afterwards can only be a replay.
# RESUMED = the earliest of the destination's `virsh event` and QEMU's
# first RARP for the MAC on sw-b.  Failures are collected and listed at
# the end (exit 1).  Env: CT_SETTLE (s to watch after each migration, 3).
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
fails_init prov
SETTLE=${CT_SETTLE:-3}
PEER_PORT=7788
GW=$CT_SW_IP
G1=g1 MAC1=02:76:73:6d:30:01
G2=g2 MAC2A=02:76:73:6d:30:02 MAC2B=02:76:73:6d:30:03 IP2B=10.77.1.60

tb_init
for tool in dnsmasq bridge python3; do
  command -v "$tool" >/dev/null || tb_skip_or_fail "missing tool: $tool (tests/deps.sh)"
done
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
lg_build ""
say "guest: $LG_GUEST_DIR ($( ((LG_BUILD_CACHED)) && echo cached || echo built) in $LG_BUILD_MS ms)"
ct_check_peer_conf || tb_fail "vsimigd does not accept the [peer]/[replay] config: $(tr '\n' ' ' <"$TB_DIR/probe.out")"
ct_peer_conf_both "$PEER_PORT"

mt_setup
ct_switch_setup
ct_dnsmasq_start
ct_capture_start sw-b "$TB_DIR/p-sw-b.pcap"
lt_events_start B "$TB_DIR/events-B.log"
say "testbed, vsimigd A+B, dnsmasq, capture on sw-b ready"

# ---- both guests on A, booted together
lg_define_linux_guest A "$G1" "$MAC1" "vsm.spoof=eth0/$GW,eth0/fe80::1" >/dev/null
LG_GUEST_NIC2_MAC=$MAC2B lg_define_linux_guest A "$G2" "$MAC2A" \
  "vsm.ip1=$IP2B/24 vsm.spoof=eth1/lease vsm.ping1=$GW" >/dev/null
ct_wait_linux_guest A "$G1"
IP1=$CT_GUEST_IP4 LL1=$CT_GUEST_LL6
ct_wait_linux_guest A "$G2"
IP2A=$CT_GUEST_IP4
say "g1: lease $IP1, $LL1; g2: eth0 lease $IP2A ($MAC2A), eth1 $IP2B ($MAC2B)"
# The guests' own traffic: the switch pings g1 (both families).
ct_ping_guest "$IP1" "$LL1" g1
lg_wait_console A "$G1" 'VSMGUEST: spoof done' 60 >/dev/null
lg_wait_console A "$G2" 'VSMGUEST: spoof done' 60 >/dev/null
line=$(lg_wait_console A "$G2" 'VSMGUEST: ping1 done' 30)
[[ $line == *'rc 0 '* ]] || nfail "g2 could not ping $GW from eth1: $line"
say "g1 claimed $GW and fe80::1; g2's eth1 claimed $IP2A; both stopped"
# A's learners took none of it, and say why (show --json: provenance).
for dom in "$G1" "$G2"; do
  hctl A --json show "$dom" >"$TB_DIR/show-A-$dom.json" 2>&1 || nfail "vsimigctl show $dom on A failed"
  res=$(python3 - "$TB_DIR/show-A-$dom.json" "$GW" "$IP2A" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for n in (d.get("carry") or {}).get("learned", []):
    p = n.get("provenance", {})
    bad = [a for a in n.get("ip4", []) + n.get("ip6", []) if a in (sys.argv[2], "fe80::1")]
    print(n["mac"], "ip4=" + ",".join(n.get("ip4", [])), "ip6=" + ",".join(n.get("ip6", [])),
          "claims_ignored=%d" % p.get("claims_ignored", -1), "contradicted=%d" % p.get("contradicted", -1),
          "BAD" if bad else "")
PY
  ) || true
  printf '%s\n' "$res" | sed "s/^/[A $dom] learned: /"
  [[ -n $res ]] || nfail "A's show --json $dom has no learned vNIC"
  grep -q 'BAD' <<<"$res" && nfail "A learned a claimed address for $dom: $res"
  grep -q 'claims_ignored=[1-9]' <<<"$res" || nfail "A counted none of $dom's claims as ignored: $res"
done
line=$(grep -i "$MAC2B" <<<"$(python3 -c 'import json,sys; [print(n["mac"], ",".join(n.get("ip4", []))) for n in (json.load(open(sys.argv[1])).get("carry") or {}).get("learned", [])]' "$TB_DIR/show-A-$G2.json")" || true)
[[ $line != *"$IP2A"* ]] || nfail "A learned eth0's $IP2A on eth1 ($MAC2B): $line"

# migrate DOM: A -> B; sets T0_<DOM> (start) and TR_<DOM> (virsh RESUMED).
T0_g1='' TR_g1='' T0_g2='' TR_g2=''
migrate() {
  local dom=$1 t0 tr
  t0=$(date +%s.%N)
  lt_migrate A B "$dom" >/dev/null || tb_fail "virsh migrate --live A -> B $dom failed (rc $LT_MIGRATE_RC)"
  lt_wait_domstate B "$dom" running 10
  sleep "$SETTLE"
  tr=$(python3 "$CARRY_PY" event-time "$TB_DIR/events-B.log" "$dom" "Resumed Migrated" "$t0" || true)
  printf -v "T0_$dom" '%s' "$t0"
  printf -v "TR_$dom" '%s' "${tr:-0}"
  say "$dom A -> B in $LT_MIGRATE_MS ms; B's timeline:"
  hctl B --json show "$dom" 2>/dev/null | python3 "$CARRY_PY" timeline "$t0" 'replay' || true
}
migrate "$G1"
migrate "$G2"
tb_capture_stop "$TB_DIR/p-sw-b.pcap"

# eth1 of g2 has IPv6 addresses but only link-local groups, which are never
# replayed: B still queries it after RESUMED, so it reports its
# solicited-node groups on the new port.
tap2b=$(ct_tap_of B "$G2" "$MAC2B")
if lt=$(hctl B --json show "$G2" 2>/dev/null | python3 "$CARRY_PY" timeline "$T0_g2" "post-resume mldv2-query .* into $tap2b: sent"); then
  say "ok: B queried eth1's tap $tap2b after RESUMED: $(tr -s ' ' <<<"$lt")"
else
  nfail "B sent no MLDv2 query into eth1's tap ${tap2b:-?} after RESUMED (no IPv6 group but link-local ones)"
fi

# ---- the evidence: sw-b's capture
python3 "$CARRY_PY" frames "$TB_DIR/p-sw-b.pcap" sw-b >"$TB_DIR/p-sw-b.jsonl"
out=$(python3 - "$TB_DIR/p-sw-b.jsonl" <<PY
import json, sys
fr = [json.loads(l) for l in open(sys.argv[1])]

def resumed(mac, t0, tr):
    c = [f["t"] for f in fr if f["kind"] == "rarp" and f["src"] == mac and f["t"] >= t0]
    c = c[:1] + ([tr] if tr > 0 else [])
    return min(c) if c else None

def arp(f, mac, ip):
    return f["kind"] == "arp" and f["src"] == mac and f["spa"] == ip

def na(f, mac, ip):
    return f["kind"] == "na" and f["src"] == mac and f["target"] == ip

cases = [
    # (name, mac, t0, tr, never [(pred, mac, addr, what)], replayed [(pred, mac, addr, what)])
    ("g1", "$MAC1", $T0_g1, $TR_g1,
     [(arp, "$MAC1", "$GW", "ARP for the gateway's $GW"), (na, "$MAC1", "fe80::1", "NA for fe80::1")],
     [(arp, "$MAC1", "$IP1", "GARP of its lease $IP1"), (na, "$MAC1", "$LL1", "NA of its link-local $LL1")]),
    ("g2", "$MAC2A", $T0_g2, $TR_g2,
     [(arp, "$MAC2B", "$IP2A", "GARP of eth0's $IP2A from eth1's MAC $MAC2B")],
     [(arp, "$MAC2A", "$IP2A", "GARP of eth0's lease $IP2A from eth0's MAC"),
      (arp, "$MAC2B", "$IP2B", "GARP of eth1's own $IP2B from eth1's MAC")]),
]
for name, mac, t0, tr, never, replayed in cases:
    t_res = resumed(mac, t0, tr)
    if t_res is None:
        print(f"FAIL: [{name}] no RESUMED time (no virsh event, no RARP on sw-b)")
        continue
    print(f"info: [{name}] RESUMED at {t_res:.6f}; {sum(1 for f in fr if f['t'] >= t0 and f['src'] in ('$MAC1', '$MAC2A', '$MAC2B'))} frames from the guests on sw-b since the migration began")
    for pred, m, a, what in never:
        bad = [f for f in fr if f["t"] >= t0 and pred(f, m, a)]
        if bad:
            print(f"FAIL: [{name}] {what} on sw-b, {len(bad)} time(s), first {(bad[0]['t'] - t_res) * 1000:+.1f} ms after RESUMED")
        else:
            print(f"ok: [{name}] never {what} on sw-b")
    # Link-local groups are never reported for the VM (DESIGN.md 4): no
    # replayed report (before RESUMED) names one.
    macs = ("$MAC1",) if name == "g1" else ("$MAC2A", "$MAC2B")
    ll = sorted({g for f in fr if t0 <= f["t"] < t_res and f["src"] in macs
                 and f["kind"] in ("igmp-report", "mld-report")
                 for g in f["groups"] if g.startswith("ff02:") or g.startswith("224.0.0.")})
    if ll:
        print(f"FAIL: [{name}] replayed reports for link-local groups: {' '.join(ll)}")
    else:
        print(f"ok: [{name}] no replayed report for a link-local group")
    for pred, m, a, what in replayed:
        good = [f for f in fr if t0 <= f["t"] < t_res and pred(f, m, a)]
        if good:
            print(f"ok: [{name}] replayed {what}, {(good[0]['t'] - t_res) * 1000:+.1f} ms before RESUMED")
        else:
            print(f"FAIL: [{name}] {what} not replayed before RESUMED")
PY
)
printf '%s\n' "$out" | sed 's/^/  /'
while IFS= read -r l; do nfail "${l#FAIL: }"; done < <(grep '^FAIL: ' <<<"$out" || true)
grep -q '^ok: ' <<<"$out" || nfail "the capture check printed nothing"

say "total $(( ($(date +%s%N) - T_ALL) / 1000000 )) ms"
if ((${#FAILS[@]})); then
  say "${#FAILS[@]} assertion(s) failed:"
  for f in "${FAILS[@]}"; do printf '  - %s\n' "$f"; done
  exit 1
fi
say "PASS"

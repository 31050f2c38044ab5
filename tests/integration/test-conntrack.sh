#!/bin/bash
# Integration: the VM's connection-tracking state carried across a real
# live migration through a real stateful firewall (issue 11, DESIGN.md §4
# "Conntrack", §6).  Real peers only: two libvirtd hosts, the Linux test
# guest (TCG) with ctflows (guest/ctflows.c) keeping real flows open, a
# security-group firewall (nftables, inet forward hook over br_netfilter)
# on both hosts, the switch-side server ctflows.py, vsimigd on both hosts
# with [peer] and [conntrack].  Judged from the switch's capture (br-sw,
# where the server lives) and the server's log, never from the guest.
#
# Flows (TAG/kind; ports in lib/ctflows.py):
#   down    1: TCP the guest opened to the switch, the switch streams to it
#   stream  2: TCP from the switch to the guest's allowed port, both ways
#   udp     3: UDP the guest subscribed to once; the switch pushes every
#              10 ms; the guest reports each datagram on ANOTHER 5-tuple
#   flow 4: down + udp again, opened DURING a throttled migration (after the
#   pre-stage reached the destination), so only the SWITCHOVER delta can
#   carry them.  Plus two one-shot UDP probes: one never answered
#   (UNREPLIED), one SNATed on the source host (the NAT case).
#
# Migrations (the guest g1 boots once on A):
#   base   A -> B  no firewall anywhere: each flow's stall (RESUMED -> first
#                  delivery, see ctflows.py) is the baseline
#   abort  B -> A  firewall on both (loose=0), throttled, aborted with
#                  domjobabort once A holds the pre-staged entries: A then
#                  holds none of the VM's entries
#   carry0 B -> A  loose=0, carry: flows c (open since before) and d (flow
#                  4) continue, delivered and acknowledged within 1 s of
#                  RESUMED, no RST, stall <= baseline + 50 ms; the NAT probe
#                  is skipped and reported, not installed; the UNREPLIED
#                  probe is installed; B holds none of the VM's entries
#   carry1 A -> B  loose=1, carry: the same for c and d
#   off0   B -> A  [conntrack] enabled = false, loose=0: every TCP flow and
#                  the pushed UDP stall (no delivery until the end of the
#                  window, >= 2.5 s after RESUMED)
#   off1   A -> B  enabled = false, loose=1, fresh flows e: the
#                  receive-only TCP flow (its download paused over the
#                  switchover, so the guest owes no ACK) and the pushed UDP
#                  stall; the flow streaming both ways heals (reported,
#                  not asserted)
# Before each migration but the first two the destination's leftover
# entries for the VM are flushed (conntrack -D), so the firewall meets the
# flows as a fresh host would and only the carry can help them.
#
# Timing: the 1 s and "baseline + 50 ms" bounds are the issue's functional
# criteria.  The machine is shared and TCG is slow: in the generous mode
# (CT_GENEROUS=1, or automatically when the 1-min load average exceeds the
# number of CPUs when a migration is judged) the bounds are 3 s and
# baseline + 500 ms; the mode used is printed with every figure.  The
# switch's TCP uses rto_min 10 ms (ip route), so a flow's recovery after
# the pause is not quantized by a 200 ms minimum RTO in either run.
#
# Env: CT_SETTLE (s watched after each migration, 3), CT_GENEROUS.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/libvirt-testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/migrate.sh"
. "$HERE/lib/guest/guest.sh"
. "$HERE/lib/carry.sh"
. "$HERE/lib/ctfw.sh"
CARRY_PY=$HERE/lib/carry.py
. "$HERE/lib/fails.sh"
fails_init conntrack
SETTLE=${CT_SETTLE:-3}
G1=g1 MAC1=02:76:73:6d:20:01
PEER_PORT=7788

tb_init
for tool in dnsmasq python3 nft conntrack tcpdump; do
  command -v "$tool" >/dev/null || tb_skip_or_fail "missing tool: $tool (tests/deps.sh)"
done
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
lg_build ""
say "guest: $LG_GUEST_DIR ($( ((LG_BUILD_CACHED)) && echo cached || echo built) in $LG_BUILD_MS ms)"

# ---- vsimigd config: [peer] + [conntrack] enabled = true on both hosts
ct_check_peer_conf || tb_fail "this vsimigd does not accept [peer]/[replay]: $(cat "$TB_DIR/probe.out")"
ct_peer_conf_both "$PEER_PORT"
CT_SECTION=$'[conntrack]\nenabled = true'
printf '%s\n%s\n' "$(cat "$TB_DIR/probe.conf")" "$CT_SECTION" >"$TB_DIR/probe-ct.conf"
if "$VSIMIGD" --check-config -c "$TB_DIR/probe-ct.conf" >"$TB_DIR/probe-ct.out" 2>&1; then
  HAVE_CT_CONF=1
  MT_EXTRA_CONF_A+=$'\n'$CT_SECTION
  MT_EXTRA_CONF_B+=$'\n'$CT_SECTION
  say "vsimigd accepts [conntrack]: enabled = true on both hosts"
else
  HAVE_CT_CONF=0
  nfail "this vsimigd does not accept [conntrack] ($(tr '\n' ' ' <"$TB_DIR/probe-ct.out")): running without it; the carry assertions below will fail"
fi

# ---- the world
mt_setup
SW=$LT_NS_SW
ct_switch_setup
# The switch's TCP retransmits after 10 ms at least, not 200 ms.
ip -n "$SW" route change 10.77.1.0/24 dev br-sw proto kernel scope link src "$CT_SW_IP" rto_min 10ms ||
  tb_fail "cannot set rto_min on the switch's route"
ct_dnsmasq_start
cf_server_start
PCAP=$TB_DIR/sw-flows.pcap
tb_capture_start "$SW" br-sw "$PCAP" "rarp or (ip and (tcp or udp) and not port 67 and not port 68)"
lt_events_start A "$TB_DIR/events-A.log"
lt_events_start B "$TB_DIR/events-B.log"
say "testbed, vsimigd A+B, dnsmasq, ctflows server, capture ready"

lg_define_linux_guest A "$G1" "$MAC1" "vsm.groups=none vsm.ctflows=$CF_ALLOWED" >/dev/null
line=$(lg_wait_console A "$G1" 'VSMGUEST: lease ' 120)
GIP=$(awk '{print $3}' <<<"$line")
lg_wait_console A "$G1" 'VSMGUEST: ctflows listening' 30 >/dev/null
[[ $GIP == 10.77.1.1[0-9][0-9] ]] || tb_fail "g1's lease $GIP not in 10.77.1.100-199"
say "g1 lease $GIP, ctflows listening on $CF_ALLOWED"

# ---- helpers -------------------------------------------------------------------------------------
generous() { # generous: 0/1, and why (CT_GENEROUS or the load)
  if [[ ${CT_GENEROUS:-} == 1 ]]; then echo "1 CT_GENEROUS=1"; return; fi
  python3 -c 'import os; l = os.getloadavg()[0]; n = os.cpu_count(); print(int(l > n), "load %.2f on %d CPUs" % (l, n))'
}
ev_time() { python3 "$CARRY_PY" event-time "$@" || true; }
# ct_json HOST: the last "conntrack" object in HOST's `show g1 --json` ({} if none).
ct_json() {
  hctl "$1" --json show "$G1" 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    d = {}
found = []
def walk(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "conntrack" and isinstance(v, dict):
                found.append(v)
            else:
                walk(v)
    elif isinstance(x, list):
        for v in x:
            walk(v)
walk(d)
print(json.dumps(found[-1] if found else {}, sort_keys=True))'
}
ct_timeline() { # ct_timeline HOST T0: HOST's timeline lines mentioning conntrack since T0
  hctl "$1" --json show "$G1" 2>/dev/null | python3 "$CARRY_PY" timeline "$2" conntrack || true
}
# migrate_bg SRC DST FLAGS...: virsh migrate in the background; MIG_PID, MIG_OUT.
migrate_bg() {
  local src=$1 dst=$2
  shift 2
  MIG_OUT=$TB_DIR/mig-$src$dst.out
  lt_migrate "$src" "$dst" "$G1" "$@" >"$MIG_OUT" 2>&1 &
  MIG_PID=$!
}
# unthrottle SRC: lift the bandwidth cap of the migration in the
# background (MIG_PID) until it ends.  libvirt sets --bandwidth again when
# its Perform phase starts QEMU's migration, so one migrate-setspeed issued
# before that is overwritten: the migration then crawled at 1 MiB/s for
# 85 s, and in those runs the TCG guest came out with a corrupted virtio
# ring or hrtimer and panicked.  Repeat until the migration is over.
unthrottle() {
  local i
  for ((i = 0; i < 240; i++)); do
    tb__pid_gone "$MIG_PID" && return 0
    lt_virsh "$1" migrate-setspeed "$G1" --bandwidth 100000 >/dev/null 2>&1 || true
    sleep 0.25
  done
}
wait_job() { # wait_job HOST: the migration job runs on HOST (source)
  local i
  for ((i = 0; i < 100; i++)); do
    lt_virsh "$1" domjobinfo "$G1" 2>/dev/null | grep -q 'Job type: *Unbounded' && return 0
    sleep 0.1
  done
  return 1
}
# judge TAG SRC DST T0 KINDS_JSON: analyze the window of the migration that
# started at T0; the result JSON in $TB_DIR/an-TAG.json; printed.
judge() {
  local tag=$1 src=$2 dst=$3 t0=$4 kinds=$5 t_end t_ev
  t_end=$(date +%s.%N)
  t_ev=$(ev_time "$TB_DIR/events-$dst.log" "$G1" "Resumed Migrated" "$t0")
  python3 - "$TB_DIR/spec-$tag.json" <<PY
import json, sys
json.dump({"pcap": "$PCAP", "log": "$CF_LOG", "guest_ip": "$GIP", "mac": "$MAC1",
           "base": $CF_BASE, "allowed": $CF_ALLOWED, "t0": $t0, "t_end": $t_end,
           "t_resumed": [x for x in "${t_ev}".split() if x], "tags": json.loads('$kinds')},
          open(sys.argv[1], "w"))
PY
  python3 "$CF_PY" analyze "$TB_DIR/spec-$tag.json" >"$TB_DIR/an-$tag.json" || nfail "[$tag] no RESUMED time (virsh event ${t_ev:-none}, no RARP from $MAC1 on br-sw)"
  python3 - "$TB_DIR/an-$tag.json" "$tag" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("[%s] RESUMED %.3f (%s); per flow: stall ms after RESUMED (first delivery), RSTs, packets from the guest after RESUMED" % (sys.argv[2], d.get("resumed") or 0, d.get("resumed_from")))
for k, r in sorted(d["flows"].items()):
    print("[%s]   %-10s stall %s ms  rst %d  pkts_after %d  last before RESUMED %s ms%s" % (
        sys.argv[2], k, r["stall_ms"], r["rst"], r["pkts_after"], r["last_before_ms"],
        "  (%s)" % r["error"] if "error" in r else ""))
PY
}
stall_of() { # stall_of TAG FLOW: the stall in ms, or "none"
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["flows"].get(sys.argv[2], {}); s = r.get("stall_ms"); print("none" if s is None else s)' "$TB_DIR/an-$1.json" "$2"
}
rst_of() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["flows"].get(sys.argv[2], {}).get("rst", 0))' "$TB_DIR/an-$1.json" "$2"
}
# check_carried TAG FLOW BASEFLOW: delivered within the bound, no RST,
# stall <= the baseline's + slack.
check_carried() {
  local tag=$1 f=$2 bf=$3 s b r g why lim slack
  read -r g why < <(generous)
  if ((g)); then lim=3000 slack=500; else lim=1000 slack=50; fi
  s=$(stall_of "$tag" "$f")
  b=$(stall_of base "$bf")
  r=$(rst_of "$tag" "$f")
  ((r == 0)) || nfail "[$tag] $f: $r RST(s) on the flow since the migration started"
  if [[ $s == none ]]; then
    nfail "[$tag] $f: nothing delivered/acknowledged after RESUMED (through $SETTLE s)"
    return
  fi
  if python3 -c "import sys; sys.exit(0 if $s <= $lim else 1)"; then
    say "[$tag] ok: $f delivered and acknowledged $s ms after RESUMED (bound $lim ms; $( ((g)) && echo generous || echo strict) mode: $why)"
  else
    nfail "[$tag] $f: first delivery $s ms after RESUMED, over $lim ms ($why)"
  fi
  if [[ $b == none ]]; then
    nfail "[$tag] $f: no baseline stall for $bf (the no-firewall run failed)"
  elif python3 -c "import sys; sys.exit(0 if $s <= $b + $slack else 1)"; then
    say "[$tag] ok: $f stall $s ms <= no-firewall $bf $b ms + $slack ms"
  else
    nfail "[$tag] $f: stall $s ms > no-firewall $bf $b ms + $slack ms ($why)"
  fi
}
check_stalled() { # check_stalled TAG FLOW
  local s
  s=$(stall_of "$1" "$2")
  if [[ $s == none ]]; then
    say "[$1] ok: $2 stalled (no delivery through the $SETTLE s window) without the carry"
  else
    nfail "[$1] $2 was delivered $s ms after RESUMED although the firewall had no entry for it: the firewall does not bite"
  fi
}
# set_ct_enabled VALUE: rewrite [conntrack] enabled on both hosts and
# restart both vsimigds.
set_ct_enabled() {
  local h f
  for h in A B; do
    f=$(lt_host_path "$h" /run/vsimig/vsimigd.conf)
    if ((HAVE_CT_CONF)); then
      awk -v v="$1" '/^\[/ { sec = $0 } sec == "[conntrack]" && /^enabled *=/ { $0 = "enabled = " v } { print }' "$f" >"$f.new"
      mv "$f.new" "$f"
      grep -A3 '^\[conntrack\]' "$f" | grep -q "^enabled = $1\$" || tb_fail "cannot set [conntrack] enabled = $1 in $f"
    fi
    mt_vsimigd_stop "$h"
    mt_vsimigd_start "$h"
  done
  for h in A B; do
    mt_wait "$h" 'd["libvirt"]["connected"]' 20 status
  done
}
entries_line() { cf_entries "$1" "$GIP" | sed "s/^/[$2] $1: /"; }
# running_on HOST TAG: g1 runs on HOST (10 s), else fail, naming a guest
# kernel panic as such: TCG guests here have panicked after some live
# migrations with a stale page in the migrated RAM (an hrtimer's function
# pointer), which is QEMU's doing, not the carry's.
running_on() {
  local i st f
  for ((i = 0; i < 100; i++)); do
    st=$(lt_domstate "$1" "$G1")
    [[ $st == running* ]] && return 0
    sleep 0.1
  done
  f=$(lg_serial_path "$1" "$G1")
  if grep -q 'Kernel panic' "$f" 2>/dev/null; then
    grep -E 'Kernel panic|RIP:|general protection|BUG:' "$f" | head -n 4 | sed "s/^/[$2] g1 console on $1: /"
    tb_fail "[$2] g1's kernel panicked on $1 after the migration (guest memory corrupted by the TCG live migration, not a carry failure): state '$st'"
  fi
  tb_fail "[$2] g1 is '$st' on $1 after the migration, not running"
}

# ---- base: A -> B, no firewall ------------------------------------------------------------------
cf_open "$GIP" b down,udp,stream
cf_wait_flowing b down,stream,udp 10 || tb_fail "flows b not running: $(tail -n 5 "$CF_LOG" | tr '\n' ' ')"
say "[base] flows b running (down, stream, udp); no firewall"
t0=$(date +%s.%N)
lt_migrate A B "$G1" >/dev/null || tb_fail "[base] virsh migrate A -> B failed"
running_on B base
sleep "$SETTLE"
judge base A B "$t0" '{"b": ["down", "stream", "udp"]}'
for f in b/down b/stream b/udp; do
  [[ $(stall_of base "$f") != none ]] || nfail "[base] $f did not continue even without a firewall"
done
cf_close "$GIP" b

# ---- the firewall on both hosts, loose = 0 ------------------------------------------------------
for h in A B; do cf_fw_on "$h"; cf_loose "$h" 0; done
cf_snat_on B
say "firewall on A and B (nf_conntrack_tcp_loose = 0); B SNATs the guest's UDP to $((CF_BASE + 8))"
cf_open "$GIP" c down,udp,stream
cf_wait_flowing c down,stream,udp 10 || tb_fail "flows c not running through B's firewall: $(tail -n 5 "$CF_LOG" | tr '\n' ' ')"
sleep 0.5
say "[abort] flows c running on B; B's entries for $GIP:"
entries_line B abort

# ---- abort: B -> A throttled, domjobabort once A holds the pre-staged entries ----------------------
migrate_bg B A --bandwidth 1
wait_job B || nfail "[abort] no migration job on B"
if cf_wait_entries A "$GIP" 3 10; then
  say "[abort] A holds pre-staged entries for $GIP: $(cf_entries A "$GIP" | wc -l)"
else
  nfail "[abort] A holds no pre-staged entries for $GIP 10 s into the migration (the pre-stage did not install)"
fi
# The domain's metadata (the snapshot with this migration's token) now.
md_sum() { lt_virsh B dumpxml "$G1" | sed -n '/<metadata>/,/<\/metadata>/p' | md5sum; }
md0=$(md_sum)
lt_virsh B domjobabort "$G1" >/dev/null || nfail "[abort] virsh domjobabort failed"
if wait "$MIG_PID"; then nfail "[abort] the aborted migration succeeded"; fi
running_on B abort
if cf_wait_entries A "$GIP" 0 5; then
  say "[abort] ok: A holds none of the VM's entries after the failed migration"
else
  nfail "[abort] A still holds the VM's entries 5 s after the failed migration: $(cf_entries A "$GIP" | tr '\n' ' ')"
fi
say "[abort] A's conntrack report: $(ct_json A)"
# The source mints the next migration's token after the failure and
# writes it into the domain's metadata only later (up to 5 s: sm/carry.c
# VSM_CARRY_WRITE_RETRY_USEC).  A migration begun before that reaches A
# with the voided token: "the origin failed authentication", no pre-stage,
# no SWITCHOVER (seen 2 s after the abort; reported as a daemon issue).
# Wait until the metadata changed.
for ((i = 0; i < 150; i++)); do
  [[ $(md_sum) != "$md0" ]] && break
  sleep 0.1
done
say "[abort] B rewrote the domain's metadata (the next migration's token) after $((i / 10)).$((i % 10)) s"

# ---- carry0: B -> A, loose = 0, flow 4 (d) opened during the migration ---------------------------
# The probes (UDP, 30 s timeout): one never answered, one SNATed by B.
cf_flush A "$GIP"
cf_open "$GIP" p probe
for ((i = 0; i < 20; i++)); do grep -q " natprobe p " "$CF_LOG" && break; sleep 0.1; done
grep -q " natprobe p $CF_SNAT_TO:" "$CF_LOG" || nfail "[nat] the NAT probe did not reach the switch SNATed to $CF_SNAT_TO (server log: $(grep probe "$CF_LOG" | tr '\n' ' '))"
t0=$(date +%s.%N)
migrate_bg B A --bandwidth 1
wait_job B || nfail "[carry0] no migration job on B"
cf_wait_entries A "$GIP" 3 10 || nfail "[carry0] A holds no pre-staged entries for $GIP 10 s into the migration"
cf_open "$GIP" d down,udp
cf_wait_flowing d down,udp 10 || nfail "[carry0] flows d not running on B during the migration"
say "[carry0] flows d opened during the migration; B's entries now:"
entries_line B carry0
# What the carry must handle is there: d's pushed UDP is younger than 2 s
# (not ASSURED), the probe is UNREPLIED, a busy TCP entry reads ~300 s.
cf_entries B "$GIP" | grep "dport=$((CF_BASE + 2)) " | grep -qv ASSURED ||
  nfail "[carry0] no non-ASSURED UDP entry on B while flow 4 is young (the case is not covered)"
cf_entries B "$GIP" | grep -q "dport=$((CF_BASE + 6)) .*UNREPLIED" ||
  nfail "[carry0] no UNREPLIED probe entry on B (the case is not covered)"
say "[carry0] A's entries for flow 4 before SWITCHOVER (the pre-stage did not carry them): $(cf_entries A "$GIP" | grep -c -e "dport=$CF_BASE " -e "dport=$((CF_BASE + 2)) " || true) of the c+d down/udp ones"
unthrottle B
wait "$MIG_PID" || tb_fail "[carry0] virsh migrate B -> A failed: $(cat "$MIG_OUT")"
running_on A carry0
say "[carry0] A's entries for $GIP right after the migration:"
entries_line A carry0
# The UNREPLIED probe is installed; the SNATed one is not.
if cf_entries A "$GIP" | grep -q "dport=$((CF_BASE + 6)) .*UNREPLIED"; then
  say "[carry0] ok: the UNREPLIED probe's entry was installed on A"
else
  nfail "[carry0] A has no UNREPLIED entry for the probe to $((CF_BASE + 6))"
fi
if cf_entries A "$GIP" | grep -q "dport=$((CF_BASE + 8)) "; then
  nfail "[nat] A holds an entry for the SNATed flow to $((CF_BASE + 8)): $(cf_entries A "$GIP" | grep "dport=$((CF_BASE + 8)) ")"
else
  say "[nat] ok: the SNATed flow was not installed on A"
fi
sleep "$SETTLE"
judge carry0 B A "$t0" '{"c": ["down", "stream", "udp"], "d": ["down", "udp"]}'
check_carried carry0 c/down b/down
check_carried carry0 c/stream b/stream
check_carried carry0 c/udp b/udp
check_carried carry0 d/down b/down
check_carried carry0 d/udp b/udp
ja=$(ct_json A) jb=$(ct_json B)
say "[carry0] conntrack report: A (destination) $ja; B (source) $jb"
n=$(python3 -c 'import json, sys; print(sum((json.loads(a).get("skipped") or {}).get("nat", 0) for a in sys.argv[1:]))' "$ja" "$jb")
if ((n >= 1)); then say "[nat] ok: skipped.nat = $n"; else nfail "[nat] the SNATed entry is not reported as skipped (skipped.nat = $n)"; fi
n=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get("installed", 0))' "$ja")
if ((n >= 5)); then say "[carry0] ok: A installed $n entries"; else nfail "[carry0] A reports $n entries installed (want >= 5: c, d, the probe)"; fi
tl=$(ct_timeline A "$t0")
if [[ -n $tl ]]; then printf '%s\n' "$tl" | sed 's/^/[carry0] A timeline: /'; else nfail "[carry0] A's timeline has no conntrack line"; fi
if cf_wait_entries B "$GIP" 0 5; then
  say "[carry0] ok: B (the source) holds none of the VM's entries after the migration"
else
  nfail "[carry0] B (the source) still holds the VM's entries 5 s after the migration: $(cf_entries B "$GIP" | tr '\n' ' ')"
fi
cf_snat_off B

# ---- carry1: A -> B, loose = 1 ---------------------------------------------------------------------
for h in A B; do cf_loose "$h" 1; done
# Whatever B kept from carry0 (checked above) must not help: only the carry may.
cf_flush B "$GIP"
t0=$(date +%s.%N)
lt_migrate A B "$G1" >/dev/null || tb_fail "[carry1] virsh migrate A -> B failed"
running_on B carry1
sleep "$SETTLE"
judge carry1 A B "$t0" '{"c": ["down", "stream", "udp"], "d": ["down", "udp"]}'
for f in c/down c/stream c/udp d/down d/udp; do
  check_carried carry1 "$f" "b/${f#*/}"
done
if cf_wait_entries A "$GIP" 0 5; then
  say "[carry1] ok: A (the source) holds none of the VM's entries after the migration"
else
  nfail "[carry1] A (the source) still holds the VM's entries 5 s after the migration: $(cf_entries A "$GIP" | tr '\n' ' ')"
fi

# ---- off0: B -> A, [conntrack] enabled = false, loose = 0 -------------------------------------------
set_ct_enabled false
for h in A B; do cf_loose "$h" 0; done
cf_flush A "$GIP"
say "[off0] [conntrack] enabled = false on both hosts (vsimigd restarted), loose = 0"
t0=$(date +%s.%N)
lt_migrate B A "$G1" >/dev/null || tb_fail "[off0] virsh migrate B -> A failed"
running_on A off0
sleep "$SETTLE"
judge off0 B A "$t0" '{"c": ["down", "stream", "udp"], "d": ["down", "udp"]}'
for f in c/down c/stream c/udp d/down d/udp; do check_stalled off0 "$f"; done
say "[off0] A's firewall counters: $(cf_fw_counters A)"
cf_close "$GIP" c
cf_close "$GIP" d

# ---- off1: A -> B, enabled = false, loose = 1, fresh flows e ----------------------------------------
for h in A B; do cf_loose "$h" 1; done
cf_open "$GIP" e down,udp,stream
cf_wait_flowing e down,stream,udp 10 || tb_fail "flows e not running on A: $(tail -n 5 "$CF_LOG" | tr '\n' ' ')"
cf_flush B "$GIP"
# The download pauses over the switchover: a guest that still owes an ACK
# when it is paused sends it after RESUMED, and with loose=1 that ACK is
# NEW outward and heals the flow (seen once in 5 runs with a continuous
# stream).  With nothing left to acknowledge, the guest stays silent and
# only the switch's next data (NEW toward it, dropped) can revive it.
python3 "$CF_PY" cmd "$CF_SOCK" pause e >/dev/null || nfail "[off1] cannot pause e's download"
sleep 1.5
t0=$(date +%s.%N)
lt_migrate A B "$G1" >/dev/null || tb_fail "[off1] virsh migrate A -> B failed"
running_on B off1
python3 "$CF_PY" cmd "$CF_SOCK" resume e >/dev/null || nfail "[off1] cannot resume e's download"
sleep "$SETTLE"
judge off1 A B "$t0" '{"e": ["down", "stream", "udp"]}'
check_stalled off1 e/down
check_stalled off1 e/udp
say "[off1] e/stream (the guest sends: loose=1 picks it up as NEW outward): stall $(stall_of off1 e/stream) ms, for the record"
say "[off1] B's firewall counters: $(cf_fw_counters B)"

tb_capture_stop "$PCAP"
say "total $(( ($(date +%s%N) - T_ALL) / 1000000 )) ms"
if ((${#FAILS[@]})); then
  say "${#FAILS[@]} assertion(s) failed:"
  for f in "${FAILS[@]}"; do printf '  - %s\n' "$f"; done
  exit 1
fi
say "PASS"

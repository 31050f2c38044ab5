#!/bin/bash
#
# run.sh - the conntrack carry benchmark (issue 11, "Benchmark"), in one run.
#
# On the two-host libvirt testbed (tests/integration/lib/migrate.sh) with
# vsimigd on both hosts ([peer], [conntrack] enabled = true), a stateful
# firewall table on both (so conntrack runs there, lib/ctfw.sh) and the
# Linux test guest g1 (DHCP lease, one real TCP flow so its address is its
# own):
#   1. N (100 k) synthetic TCP entries for g1 in host A's table: original
#      source = g1's address, ESTABLISHED, SEEN_REPLY|ASSURED, 1 h timeout
#      (`conntrack -R`, a file of -I lines: ~1.7 s for 100 k here).
#   2. g1 A -> B throttled (--bandwidth 1 MiB/s).  The pre-stage: from
#      `virsh migrate` to B's table holding the N entries (B's
#      /proc/sys/net/netfilter/nf_conntrack_count polled every 20 ms), next
#      to vsimigd's own prestage_entries / prestage_ms (vsimigctl show).
#   3. Once pre-staged, D (1 k) more entries for g1 on A (the "changed
#      since" set), then migrate-setspeed: the migration converges and
#      SWITCHOVER carries the delta: vsimigd's delta_entries / delta_us
#      (SWITCHOVER to installed, on B).
#      Then the time the source takes to delete the VM's entries.
#   4. The main loop's longest dispatch on A and B during 2, then during 3
#      (loop_max_dispatch_since_reset_us after `vsimigctl loop-reset`,
#      when this vsimigd has it; else n/a).
#   5. The reference: conntrackd (conntrack-tools, FTFW over UDP) between
#      two fresh netns; the primary's table holds the same N entries; the
#      backup resyncs them into its external cache, then commits them to its
#      kernel table (`conntrackd -c`): the wall time of the commit and
#      conntrackd's own "commit has taken" figure give its install rate.
# Prints the figures next to the goals (100 k pre-staged <= 2 s; the 1 k
# delta installed <= 10 ms after SWITCHOVER; our install rate >= conntrackd's).
# Goals are NOT asserted: exit 0 when the run worked, 1 when it broke.
#
# Env: N (100000), D (1000), REF_ONLY=1 (conntrackd's part alone, no
# testbed), VSM_BUILD_ROOT (./build), TB_KEEP=1.  Root.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
export LT_QEMU_CAPS_CACHE=${LT_QEMU_CAPS_CACHE:-$VSM_BUILD_ROOT/lt-qemu-caps}
L=$VSM_SOURCE_ROOT/tests/integration/lib
. "$L/testbed.sh"
. "$L/libvirt-testbed.sh"
. "$L/vsimigd.sh"
. "$L/migrate.sh"
. "$L/guest/guest.sh"
. "$L/carry.sh"
. "$L/ctfw.sh"

N=${N:-100000}
D=${D:-1000}
if ! [[ $N =~ ^[0-9]+$ && $D =~ ^[0-9]+$ ]] || ((N < 1 || N > 200000 || D < 1 || D > 50000)); then
  echo "N must be 1..200000, D 1..50000" >&2
  exit 2
fi
G1=g1 MAC1=02:76:73:6d:20:01
T_ALL=$(date +%s%N)
say() { printf '[ct-bench %4ss] %s\n' "$(( ($(date +%s%N) - T_ALL) / 1000000000 ))" "$*"; }
now() { date +%s.%N; }
ms() { python3 -c "import sys; print(round((float(sys.argv[2]) - float(sys.argv[1])) * 1000, 1))" "$1" "$2"; }

tb_init
for tool in conntrack conntrackd nft python3 dnsmasq; do
  command -v "$tool" >/dev/null || tb_fail "missing tool: $tool (tests/deps.sh)"
done
REF_ONLY=${REF_ONLY:-0}
if ((!REF_ONLY)); then
lg_build ""
ct_check_peer_conf || tb_fail "vsimigd does not accept [peer]: $(cat "$TB_DIR/probe.out")"
ct_peer_conf_both 7788
printf '%s\n[conntrack]\nenabled = true\n' "$(cat "$TB_DIR/probe.conf")" >"$TB_DIR/probe-ct.conf"
"$VSIMIGD" --check-config -c "$TB_DIR/probe-ct.conf" >"$TB_DIR/probe-ct.out" 2>&1 ||
  tb_fail "this vsimigd has no [conntrack]: $(cat "$TB_DIR/probe-ct.out")"
MT_EXTRA_CONF_A+=$'\n[conntrack]\nenabled = true'
MT_EXTRA_CONF_B+=$'\n[conntrack]\nenabled = true'
mt_setup
ct_switch_setup
ct_dnsmasq_start
cf_server_start
for h in A B; do cf_fw_on "$h"; done
lg_define_linux_guest A "$G1" "$MAC1" "vsm.groups=none vsm.ctflows=$CF_ALLOWED" >/dev/null
GIP=$(lg_wait_console A "$G1" 'VSMGUEST: lease ' 120 | awk '{print $3}')
lg_wait_console A "$G1" 'VSMGUEST: ctflows listening' 30 >/dev/null
cf_open "$GIP" x down
cf_wait_flowing x down 10 || tb_fail "g1's TCP flow did not start"
say "testbed up; g1 $GIP on A with one real TCP flow"
else
  GIP=10.77.1.150
  say "REF_ONLY=1: conntrackd's reference alone (entries for $GIP)"
fi

# ---- 1. N synthetic entries on A
fill() { # fill FILE COUNT THIRD_OCTET_BASE: -I lines for g1, 60000 per /24
  python3 - "$@" "$GIP" <<'PY'
import sys
f, n, b, ip = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(f, "w") as o:
    for i in range(n):
        o.write("-I -s %s -d 10.77.%d.%d -p tcp --sport %d --dport 443 --state ESTABLISHED "
                "-u SEEN_REPLY,ASSURED -t 3600\n" % (ip, b + i // 15000000, 1 + (i // 60000) % 250, 1024 + i % 60000))
PY
}
fill "$TB_DIR/fill-n.txt" "$N" 200
fill "$TB_DIR/fill-d.txt" "$D" 210
JA='{}' JB='{}' LOOP_A=n/a LOOP_B=n/a LOOP_PRE_A=n/a LOOP_PRE_B=n/a PRE_MS=n/a FILL_MS=n/a DEL_MS=n/a
if ((!REF_ONLY)); then
t=$(now)
ip netns exec "$LT_NS_A" conntrack -R "$TB_DIR/fill-n.txt" >/dev/null 2>"$TB_DIR/fill-n.err" ||
  tb_fail "conntrack -R on A: $(tail -n 3 "$TB_DIR/fill-n.err")"
FILL_MS=$(ms "$t" "$(now)")
count() { ip netns exec "$(cf__ns "$1")" cat /proc/sys/net/netfilter/nf_conntrack_count; }
say "A: $N entries inserted by conntrack -R in $FILL_MS ms (A's table: $(count A), B's: $(count B))"

HAVE_LOOP=1
for h in A B; do
  hctl "$h" loop-reset >/dev/null 2>&1 || HAVE_LOOP=0
done
loopmax() {
  ((HAVE_LOOP)) || { echo "n/a (this vsimigd has no loop-reset / loop_max_dispatch_us: the loop branch not merged)"; return; }
  hctl "$1" --json status | python3 -c 'import json, sys; d = json.load(sys.stdin); print("%s, CPU max %s" % (d.get("loop_max_dispatch_since_reset_us", "n/a"), d.get("loop_max_dispatch_cpu_since_reset_us", "n/a")))'
}

# ---- 2. the pre-stage
B0=$(count B)
t0=$(now)
lt_migrate A B "$G1" --bandwidth 1 >"$TB_DIR/mig.out" 2>&1 &
MIG_PID=$!
T_PRE='' PRE_SEEN=0
for ((i = 0; i < 3000; i++)); do
  c=$(count B)
  ((c - B0 > PRE_SEEN)) && PRE_SEEN=$((c - B0))
  if ((c - B0 >= N)); then T_PRE=$(now); break; fi
  tb__pid_gone "$MIG_PID" && break
  sleep 0.02
done
if [[ -n $T_PRE ]]; then
  PRE_MS=$(ms "$t0" "$T_PRE")
  say "B holds the $N entries $PRE_MS ms after virsh migrate started"
else
  PRE_MS=n/a
  say "B never held the $N entries (saw $PRE_SEEN more) before the migration ended"
fi
# The pre-stage's own longest dispatch (2 alone), then again for 3.
LOOP_PRE_A=$(loopmax A) LOOP_PRE_B=$(loopmax B)
if ((HAVE_LOOP)); then for h in A B; do hctl "$h" loop-reset >/dev/null 2>&1 || true; done; fi

# ---- 3. the delta, then converge
t=$(now)
ip netns exec "$LT_NS_A" conntrack -R "$TB_DIR/fill-d.txt" >/dev/null 2>"$TB_DIR/fill-d.err" ||
  tb_fail "conntrack -R (delta) on A: $(tail -n 3 "$TB_DIR/fill-d.err")"
say "A: $D more entries in $(ms "$t" "$(now)") ms; converging"
sleep 0.5
# Repeated: libvirt sets --bandwidth again when QEMU's migration starts.
for ((i = 0; i < 240; i++)); do
  tb__pid_gone "$MIG_PID" && break
  lt_virsh A migrate-setspeed "$G1" --bandwidth 100000 >/dev/null 2>&1 || true
  sleep 0.25
done
MIG_RC=0
wait "$MIG_PID" || MIG_RC=$?
((MIG_RC == 0)) || { cat "$TB_DIR/mig.out" >&2; tb_fail "virsh migrate A -> B failed"; }
T_MIG=$(now)
say "migrated; B's table: $(count B), A's: $(count A)"
# The source deletes the VM's entries once it left.
DEL_MS=n/a
for ((i = 0; i < 1500; i++)); do
  if (($(count A) < 100)); then DEL_MS=$(ms "$T_MIG" "$(now)"); break; fi
  sleep 0.02
done
say "A (the source) deleted the VM's entries $DEL_MS ms after virsh migrate returned"
say "vsimigd's own lines: $(grep -h 'conntrack:' "$TB_DIR/vsimigd-A.log" "$TB_DIR/vsimigd-B.log" | sed 's/^vsimigd: [a-z]*: //; s/ \[domain=[^]]*\]$//' | tr '\n' '|')"
JA=$(hctl A --json show "$G1" 2>/dev/null || echo '{}')
JB=$(hctl B --json show "$G1" 2>/dev/null || echo '{}')
LOOP_A=$(loopmax A) LOOP_B=$(loopmax B)
fi

# ---- 5. conntrackd, the reference
P=${TB_ID}-cdp Q=${TB_ID}-cdq
for ns in "$P" "$Q"; do
  ip netns add "$ns"
  TB__NETNS+=("$ns")
  ip -n "$ns" link set lo up
done
ip -n "$P" link add ctsync0 type veth peer name ctsync0 netns "$Q"
ip -n "$P" addr add 10.77.250.1/30 dev ctsync0
ip -n "$Q" addr add 10.77.250.2/30 dev ctsync0
ip -n "$P" link set ctsync0 up
ip -n "$Q" link set ctsync0 up
tb_wait_link_up "$P" ctsync0
tb_wait_link_up "$Q" ctsync0
cdconf() { # cdconf NAME LOCAL PEER
  cat <<EOF
Sync {
	Mode FTFW {
		DisableExternalCache Off
	}
	UDP {
		IPv4_address $2
		IPv4_Destination_Address $3
		Port 3780
		Interface ctsync0
		SndSocketBuffer 24985600
		RcvSocketBuffer 24985600
		Checksum on
	}
}
General {
	HashSize 262144
	HashLimit 524288
	LogFile $TB_DIR/conntrackd-$1.log
	Syslog off
	LockFile $TB_DIR/conntrackd-$1.lock
	UNIX {
		Path $TB_DIR/conntrackd-$1.sock
	}
	NetlinkBufferSize 8388608
	NetlinkBufferSizeMaxGrowth 67108864
	NetlinkOverrunResync On
}
EOF
}
cdconf P 10.77.250.1 10.77.250.2 >"$TB_DIR/conntrackd-P.conf"
cdconf Q 10.77.250.2 10.77.250.1 >"$TB_DIR/conntrackd-Q.conf"
ip netns exec "$P" conntrack -R "$TB_DIR/fill-n.txt" >/dev/null 2>&1 || tb_fail "conntrack -R in the conntrackd primary"
CD_PIDS=()
for n in P Q; do
  ns=$P
  [[ $n == Q ]] && ns=$Q
  ip netns exec "$ns" conntrackd -C "$TB_DIR/conntrackd-$n.conf" </dev/null >>"$TB_DIR/conntrackd-$n.out" 2>&1 &
  tb_track_pid "$!" "conntrackd-$n"
  CD_PIDS+=("$!")
done
cd_alive() {
  local p
  for p in "${CD_PIDS[@]}"; do
    tb__pid_gone "$p" && { cat "$TB_DIR"/conntrackd-*.out "$TB_DIR"/conntrackd-*.log >&2 2>/dev/null; tb_fail "conntrackd (pid $p) died"; }
  done
  return 0
}
cdctl() { local n=$1 ns=$P; shift; [[ $n == Q ]] && ns=$Q; ip netns exec "$ns" conntrackd -C "$TB_DIR/conntrackd-$n.conf" "$@"; }
for ((i = 0; i < 100; i++)); do
  [[ -S $TB_DIR/conntrackd-P.sock && -S $TB_DIR/conntrackd-Q.sock ]] && break
  sleep 0.1
done
ext() { cdctl Q -s 2>/dev/null | awk '/cache external/ { f = 1 } f && /current active connections/ { print $NF; exit }'; }
CD_EXT=0
for ((i = 0; i < 600; i++)); do
  # The primary's internal cache, from its start-up dump of the table.
  cd_alive
  if ((i % 20 == 0)); then cdctl Q -n >/dev/null 2>&1 || true; fi
  CD_EXT=$(ext || echo 0)
  ((${CD_EXT:-0} >= N)) && break
  sleep 0.1
done
say "conntrackd: the backup's external cache holds ${CD_EXT:-0} entries"
Q0=$(ip netns exec "$Q" cat /proc/sys/net/netfilter/nf_conntrack_count)
t=$(now)
cdctl Q -c >"$TB_DIR/conntrackd-commit.out" 2>&1 || say "conntrackd -c: $(cat "$TB_DIR/conntrackd-commit.out")"
t1=$(now)
for ((i = 0; i < 1500; i++)); do
  (($(ip netns exec "$Q" cat /proc/sys/net/netfilter/nf_conntrack_count) - Q0 >= CD_EXT)) && break
  sleep 0.02
done
t2=$(now)
CD_CLIENT_MS=$(ms "$t" "$t1")
CD_TABLE_MS=$(ms "$t" "$t2")
CD_LOG=$(grep -h 'commit has taken' "$TB_DIR/conntrackd-Q.log" | tail -n 1 || true)
CD_COMMITTED=$(($(ip netns exec "$Q" cat /proc/sys/net/netfilter/nf_conntrack_count) - Q0))
say "conntrackd: committed $CD_COMMITTED entries; conntrackd -c returned after $CD_CLIENT_MS ms, the table was full after $CD_TABLE_MS ms; log: ${CD_LOG:-none}"

# ---- the table
python3 - "$JA" "$JB" <<PY
import json, sys
def ct(doc):
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
    try:
        walk(json.loads(doc))
    except ValueError:
        pass
    return found[-1] if found else {}
a, b = ct(sys.argv[1]), ct(sys.argv[2])
N, D = $N, $D
pre_ms = b.get("prestage_ms", a.get("prestage_ms"))
pre_n = b.get("prestage_entries", a.get("prestage_entries"))
d_us = b.get("delta_us", a.get("delta_us"))
d_n = b.get("delta_entries", a.get("delta_entries"))
cd_ms = float("$CD_TABLE_MS")
cd_n = $CD_COMMITTED
cd_rate = cd_n / (cd_ms / 1000) if cd_ms > 0 and cd_n > 0 else None
our_rate = pre_n / (pre_ms / 1000) if pre_ms and pre_n else None
busy = b.get("install_busy_ms")
inst = b.get("installed")
dest_rate = inst / (busy / 1000) if busy and inst else None
dump_ms = a.get("dump_ms")
dump_rate = pre_n / (dump_ms / 1000) if dump_ms and pre_n else None
def f(x, unit=""):
    return "n/a" if x is None else ("%s%s" % (round(x, 1) if isinstance(x, float) else x, unit))
print()
print("conntrack carry benchmark: %d synthetic TCP entries + a %d-entry delta, one VM (g1 $GIP)" % (N, D))
print("%-58s %-24s %s" % ("figure", "measured", "goal"))
print("%-58s %-24s %s" % ("pre-stage, vsimigd (prestage_ms, prestage_entries)", "%s ms, %s" % (f(pre_ms), f(pre_n)), "100 k <= 2000 ms"))
print("%-58s %-24s %s" % ("pre-stage, virsh migrate -> B's table +N (wall)", "$PRE_MS ms", "(includes libvirt's begin/prepare)"))
print("%-58s %-24s %s" % ("delta, SWITCHOVER -> installed (delta_us, delta_entries)", "%s us, %s" % (f(d_us), f(d_n)), "1 k <= 10000 us"))
print("%-58s %-24s %s" % ("our install rate (prestage_entries / prestage_ms)", f(our_rate, " /s"), ">= conntrackd's"))
print("%-58s %-24s %s" % ("conntrackd -c rate (%d entries, to the table full)" % cd_n, f(cd_rate, " /s"), "reference"))
print("%-58s %-24s %s" % ("  where it goes: B's worker installing (installed / busy)", f(dest_rate, " /s"), "%s ms busy" % f(busy)))
print("%-58s %-24s %s" % ("  where it goes: A's worker dumping (entries / dump_ms)", f(dump_rate, " /s"), "%s ms" % f(dump_ms)))
print("%-58s %-24s %s" % ("conntrackd -c client wall / log", "$CD_CLIENT_MS ms", "${CD_LOG:-no log line}"))
print("%-58s %-24s %s" % ("loop_max_dispatch_us during the pre-stage (2), A (source)", "$LOOP_PRE_A us", "<= ~2000 us"))
print("%-58s %-24s %s" % ("loop_max_dispatch_us during the pre-stage (2), B (dest.)", "$LOOP_PRE_B us", "<= ~2000 us"))
print("%-58s %-24s %s" % ("  the carry's longest slice of it, A: wall / thread CPU", "%s / %s us" % (f(a.get("loop_slice_max_us")), f(a.get("loop_slice_max_cpu_us"))), "<= ~1000 us CPU"))
print("%-58s %-24s %s" % ("  the carry's longest slice of it, B: wall / thread CPU", "%s / %s us" % (f(b.get("loop_slice_max_us")), f(b.get("loop_slice_max_cpu_us"))), "<= ~1000 us CPU"))
print("%-58s %-24s %s" % ("main loop longest dispatch, A (source), during 3", "$LOOP_A us", "must not delay VDP/replay"))
print("%-58s %-24s %s" % ("main loop longest dispatch, B (destination), during 3", "$LOOP_B us", ""))
print("%-58s %-24s %s" % ("source deletes the VM's entries, after virsh returned", "$DEL_MS ms", "none left behind"))
print("%-58s %-24s %s" % ("conntrack -R of the same %d entries (a CLI baseline)" % N, "$FILL_MS ms", ""))
print()
print("vsimigd's conntrack report: A (source) %s" % json.dumps(a, sort_keys=True))
print("                            B (destination) %s" % json.dumps(b, sort_keys=True))
PY
say "done in $(( ($(date +%s%N) - T_ALL) / 1000000 )) ms"

#!/bin/bash
#
# run.sh - the synthetic switchover benchmark (issue 4, "Benchmark", the
# second one): ONE vsimigd as the destination of D (default 125) incoming
# migrations at once, each domain with N (4) vNICs that carry G (50)
# IGMPv3 groups, a DHCP lease with a client-id and two IPv4 addresses.
# No libvirt ([libvirt] enabled = false): the domains exist only as the
# hook calls a libvirt would make, and the source vsimigd is a fake one
# (fake-source.py) speaking the peer protocol (src/daemon/peer.h).
#
# The world, in network namespaces of this run (addresses in 10.77.0.0/16):
#
#   <id>-src    mg1 10.77.255.2/30   the fake source's peer listener (:7789)
#                |
#   <id>-host   mg0 10.77.255.1/30   vsimigd: [peer] listen 10.77.255.1:7788
#               br0 (mcast_snooping 1) <- up0 (the uplink), t0..t<D*N-1>
#               (the "taps": veth ends in br0, their peers p<k> up, carrier)
#                |
#   <id>-switch sw0                  the uplink's far end: capture
#
# Sequence: every domain gets the hooks "migrate begin" (domain XML with the
# <metadata> snapshot naming the fake source and a token), "prepare begin"
# and "start begin"; vsimigd connects one peer client per domain to the
# fake source, which checks each hello and sends a "state".  Once all are
# connected and the PRE-ASSOCIATE burst of the start hooks is over, the
# fake source writes all D SWITCHOVERs at once (T0) and the capture on sw0
# waits for the replay frames, per vNIC: a DHCP INIT-REBOOT REQUEST, the
# IGMPv3 report(s) carrying its G groups as MODE_IS_EXCLUDE records
# (vsimigd packs them into as few reports as fit the MTU and the codec's
# 64-record cap: one report for G <= 64) and 2 gratuitous ARPs.  The check
# is per item: every vNIC's DHCP REQUEST, each of its groups as a record
# (exactly once, whichever report carries it; TTL 1, Router Alert, to
# 224.0.0.22, checksums) and each GARP, with the right content; the frame
# count is reported next to it.  The VDP ASSOCIATEs (M) go
# out too, but there is no EVB bridge on the link: ECP is never acked and
# the requests time out.  That is expected here; they are counted, not
# waited for.
#
# Prints a table: T0 -> first / last replay frame on the wire, the per-domain
# SUSPENDED -> last frame the daemon reports (vsimigctl show), replay frames
# seen vs expected (per kind), group records seen vs expected, DHCP
# REQUESTs and GARPs seen vs expected, vsimigd's peak RSS (VmHWM), its
# anonymous (RssAnon) and file-backed (RssFile: the libraries' pages)
# resident memory, the main loop's longest dispatch (loop_max_dispatch_us,
# statistics reset just before T0 with loop.reset; also the setup's) and
# CPU (utime+stime) during the switchover and in total, with the goals
# (issue 10: <= 20 ms T0 -> last frame, <= 8 MiB RssAnon, <= 2 ms loop
# dispatch; issue 4: <= 16 MiB peak RSS) next to them.  Targets are NOT asserted: the
# exit status is 0 when the run itself worked, 1 when it broke (hooks
# refused, peers missing, items missing or wrong, the daemon died or did
# not exit cleanly), 2 on bad parameters.  Then the daemon's carry counters
# (vsimigctl --json status).
#
# Environment: SWITCHOVER_NICS=changed|all (what each SWITCHOVER carries:
# the vNIC states changed since the last "state", none here, as vsimigd's
# source sends; or all of them), D, N, G (sizes; D*N <= 31500, G <= 64, N <= 64), MCAST
# (distinct: every vNIC its own groups, D*N*G mdb groups in br0, default;
# shared: all vNICs join the same G groups), MDB (true: [replay] mdb, the
# default; false to see the cost of the RTM_NEWMDB part), TIMEOUT (s to
# wait for the frames, 60), OUT (default /var/tmp/switchover-synthetic-<date>),
# VERBOSE=1 (vsimigd --verbose: debug lines per frame, slows it down),
# PERF=1 (perf record -g of vsimigd from just before T0 until it is idle,
# sample times on CLOCK_REALTIME, into $OUT/perf.data, with flat profiles
# of T0 -> last replay frame in $OUT/perf-last.txt (= perf.txt) and of
# T0 -> idle in $OUT/perf-idle.txt; PERF=dwarf: with DWARF call graphs,
# for `perf report --children` and call chains through libraries built
# without frame pointers; PERF_FREQ: sampling Hz, 2000 (dwarf 500)),
# VSIMIGD_WRAP (a command vsimigd runs under, in the same process, e.g.
# "valgrind --tool=massif --massif-out-file=/tmp/m.out": for analysing
# memory only, the timings are then meaningless), VSM_BUILD_ROOT (default
# ./build).  Root.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
# shellcheck source=../../integration/lib/testbed.sh
. "$VSM_SOURCE_ROOT/tests/integration/lib/testbed.sh"

D=${D:-125}
N=${N:-4}
G=${G:-50}
MCAST=${MCAST:-distinct}
MDB=${MDB:-true}
TIMEOUT=${TIMEOUT:-60}
OUT=${OUT:-/var/tmp/switchover-synthetic-$(date +%Y%m%d-%H%M%S)}
VSIMIGD=$VSM_BUILD_ROOT/src/daemon/vsimigd
VSIMIGCTL=$VSM_BUILD_ROOT/src/ctl/vsimigctl

usage() { echo "switchover-synthetic: $*" >&2; exit 2; }
for v in D N G TIMEOUT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || usage "$v must be a positive integer"
done
((D * N <= 31500)) || usage "D*N must be at most 31500 (addresses, interface names)"
((N <= 64)) || usage "N must be at most 64 (VSM_NETSTATE_NICS_MAX)"
((G <= 64)) || usage "G must be at most 64 (VSM_LEARN_GROUPS_MAX)"
[[ $MCAST == distinct || $MCAST == shared ]] || usage "MCAST must be distinct or shared"
[[ $MCAST == shared ]] || ((D * N * G <= 65536)) || usage "MCAST=distinct needs D*N*G <= 65536"
[[ $MDB == true || $MDB == false ]] || usage "MDB must be true or false"
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || usage "no build at $VSM_BUILD_ROOT (set VSM_BUILD_ROOT)"
command -v python3 >/dev/null || usage "needs python3"
mkdir -p "$OUT"

tb_init
NS_HOST=$TB_ID-host NS_SW=$TB_ID-switch NS_SRC=$TB_ID-src
VSM_PID=
MY_NETNS=()

# sw_daemon_stop: SIGTERM to our vsimigd (by PID, only if it is still ours),
# wait up to 5 s, then SIGKILL.  Sets VSM_RC to its exit status.
sw_daemon_stop() {
	local i
	[[ -n $VSM_PID ]] || return 0
	if [[ $(cat "/proc/$VSM_PID/comm" 2>/dev/null) == vsimigd* ]]; then
		kill -TERM "$VSM_PID" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			[[ $(awk '{print $3}' "/proc/$VSM_PID/stat" 2>/dev/null) =~ ^(Z|)$ ]] && break
			sleep 0.05
		done
		if ! [[ $(awk '{print $3}' "/proc/$VSM_PID/stat" 2>/dev/null) =~ ^(Z|)$ ]]; then
			echo "RUN BROKEN: vsimigd did not exit within 5 s of SIGTERM: SIGKILL"
			kill -KILL "$VSM_PID" 2>/dev/null || true
		fi
	fi
	VSM_RC=0
	wait "$VSM_PID" 2>/dev/null || VSM_RC=$?
	VSM_PID=
}

# sw_cleanup: the daemon, then our netns (anything left in them is ours).
# shellcheck disable=SC2317  # called from tb_cleanup through tb_defer
sw_cleanup() {
	local ns pid
	sw_daemon_stop >/dev/null
	for ns in "${MY_NETNS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			tb_warn "killing leftover pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) in netns $ns"
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || tb_warn "could not delete netns $ns"
	done
	MY_NETNS=()
}
tb_defer sw_cleanup
PEER_LISTEN=10.77.255.1:7788
SRC_LISTEN=10.77.255.2:7789
VNICS=$((D * N))
t_setup=$(date +%s.%N)

# --- the world -------------------------------------------------------------
for ns in "$NS_HOST" "$NS_SW" "$NS_SRC"; do
	ip netns add "$ns" || tb_fail "cannot create netns $ns"
	MY_NETNS+=("$ns")
	ip -n "$ns" link set lo up
	# No IPv6 autoconf / MLD / DAD chatter from a thousand interfaces.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NS_HOST" link add up0 address 02:76:73:6d:10:01 type veth peer name sw0 address 02:76:73:6d:10:02 netns "$NS_SW"
ip -n "$NS_HOST" link add mg0 mtu 9000 type veth peer name mg1 mtu 9000 netns "$NS_SRC"
ip -n "$NS_HOST" addr add 10.77.255.1/30 dev mg0
ip -n "$NS_SRC" addr add 10.77.255.2/30 dev mg1
ip -n "$NS_HOST" link set mg0 up
ip -n "$NS_SRC" link set mg1 up
ip -n "$NS_SW" link set sw0 up
hash_max=4096
while ((hash_max < 2 * D * N * G)); do hash_max=$((hash_max * 2)); done
# mcast_hash_max: reaching it turns snooping off (and refuses the entries).
ip -n "$NS_HOST" link add br0 type bridge mcast_snooping 1 mcast_hash_max "$hash_max"
ip -n "$NS_HOST" link set up0 master br0
ip -n "$NS_HOST" link set up0 up
ip -n "$NS_HOST" link set br0 up
batch=$TB_DIR/taps.batch
: >"$batch"
for ((k = 0; k < VNICS; k++)); do
	printf 'link add t%d type veth peer name p%d\nlink set t%d master br0\nlink set t%d up\nlink set p%d up\n' \
		"$k" "$k" "$k" "$k" "$k" >>"$batch"
done
echo "switchover-synthetic: creating $VNICS bridge ports ..." >&2
ip -n "$NS_HOST" -batch "$batch" || tb_fail "creating the taps failed"
for ((i = 0; i < 600; i++)); do
	up=$(ip -n "$NS_HOST" -o link show master br0 up | grep -c 'state UP' || true)
	((up >= VNICS + 1)) && break
	sleep 0.1
done
((up >= VNICS + 1)) || tb_fail "only $up of $((VNICS + 1)) ports of br0 came up"
tb_wait_link_up "$NS_SW" sw0
tb_wait_link_up "$NS_SRC" mg1
t_world=$(date +%s.%N)

# --- vsimigd ---------------------------------------------------------------
CONF=$TB_DIR/vsimigd.conf SOCK=$TB_DIR/vsimigd.sock LOG=$OUT/vsimigd.log KEY=$TB_DIR/peer.key
# The cluster secret the fake source shares with vsimigd (root, 0600).
(umask 077 && head -c 32 /dev/urandom >"$KEY") || tb_fail "cannot write $KEY"
max_vsis=$((2 * VNICS > 1024 ? 2 * VNICS : 1024))
cat >"$CONF" <<CONF
[vdp]
uplinks = up0
manager-id = vsimig
max-vsis = $max_vsis
[bridges]
br0 = up0
[libvirt]
enabled = false
max-domains = $((D + 64 > 1024 ? D + 64 : 1024))
[peer]
listen = $PEER_LISTEN
key-file = $KEY
[replay]
enabled = true
mdb = $MDB
query-after-resume = false
[control]
socket = $SOCK
CONF
cp "$CONF" "$OUT/vsimigd.conf"
verbose=()
[[ ${VERBOSE:-0} == 1 ]] && verbose=(--verbose)
read -r -a wrap <<<"${VSIMIGD_WRAP:-}"
ip netns exec "$NS_HOST" "${wrap[@]}" "$VSIMIGD" --config "$CONF" "${verbose[@]}" >"$LOG" 2>&1 &
VSM_PID=$!
echo "$VSM_PID" >"$OUT/vsimigd.pid"
for ((i = 0; i < 600; i++)); do
	[[ -S $SOCK ]] && break
	kill -0 "$VSM_PID" 2>/dev/null || { cat "$LOG" >&2; tb_fail "vsimigd exited at start"; }
	sleep 0.05
done
[[ -S $SOCK ]] || tb_fail "vsimigd's control socket did not appear"

# --- the run ----------------------------------------------------------------
rc=0
perf=()
[[ ${PERF:-0} == 1 || ${PERF:-0} == dwarf ]] && perf=(--perf "$OUT/perf.data")
[[ ${PERF:-0} == dwarf ]] && perf+=(--perf-dwarf)
[[ -n ${PERF_FREQ:-} && ${#perf[@]} -gt 0 ]] && perf+=(--perf-freq "$PERF_FREQ")
python3 "$here/fake-source.py" run "${perf[@]}" --pid "$VSM_PID" --control "$SOCK" --listen "$SRC_LISTEN" --key-file "$KEY" \
	--src-netns "$NS_SRC" --cap-netns "$NS_SW" --cap-if sw0 \
	--domains "$D" --nics "$N" --groups "$G" --mcast "$MCAST" --timeout "$TIMEOUT" --out "$OUT" \
	--switchover-nics "${SWITCHOVER_NICS:-changed}" |
	tee "$OUT/table.txt" || rc=1

if [[ -s $OUT/perf.data ]]; then
	# The window T0 -> last replay frame (sample times are CLOCK_REALTIME,
	# like T0 and the frames' stamps), and T0 -> idle (the mdb work, VDP).
	read -r win_last win_idle < <(python3 -c '
import json, sys
w = json.load(open(sys.argv[1])).get("perf_window") or {}
print(w.get("t0_to_last_frame", "-"), w.get("t0_to_idle", "-"))' "$OUT/result.json" 2>/dev/null || echo "- -")
	for w in last idle; do
		win=win_$w
		tw=()
		[[ ${!win} != - ]] && tw=(--time "${!win}")
		{
			echo "# vsimigd, perf report --no-children, samples in T0 -> ${w/last/last replay frame} (${!win})"
			perf report -i "$OUT/perf.data" "${tw[@]}" --no-children -g none --sort dso,symbol --stdio 2>/dev/null |
				grep -E '^# (Samples|Event count)|^ +[0-9]' | head -60
		} >"$OUT/perf-$w.txt" || true
	done
	cp "$OUT/perf-last.txt" "$OUT/perf.txt"
	echo "perf: flat profiles of the switchover in $OUT/perf-last.txt (T0 -> last replay frame, also perf.txt)" \
		"and $OUT/perf-idle.txt (T0 -> idle); perf report -i $OUT/perf.data --time ${win_last} for more"
fi

# --- afterwards: the daemon's view, its mdb, its exit -----------------------
if kill -0 "$VSM_PID" 2>/dev/null; then
	"$VSIMIGCTL" --socket "$SOCK" --json status >"$OUT/status-end.json" || true
	python3 - "$OUT/status-end.json" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
c = d["libvirt"]["carry"]
peer = c.pop("peer", None)
print("vsimigd carry counters (vsimigctl --json status): " +
      ", ".join(f"{k} {v}" for k, v in c.items() if not isinstance(v, (dict, list))))
for u in d.get("uplinks", []):
    k = u.get("counters", {})
    print(f"uplink {u.get('name')}: " + ", ".join(f"{n} {v}" for n, v in k.items()))
PY
fi
if [[ $MDB == true ]]; then
	mdb_n=$(bridge -n "$NS_HOST" mdb show dev br0 | grep -c ' port t' || true)
	expect=$((VNICS * G))
	echo "br0 mdb: $mdb_n port-group entries on the taps (expected $expect)"
	((mdb_n == expect)) || echo "note: br0 mdb has $mdb_n entries on the taps, expected $expect"
fi
warn=$(grep -c -E ': (warning|critical|error):' "$LOG" || true)
echo "vsimigd log: $(wc -l <"$LOG") lines, $warn warning/critical/error; in $LOG"
if [[ $warn -gt 0 ]]; then
	grep -E ': (warning|critical|error):' "$LOG" | sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f-]{14,}/<uuid>/g' |
		sort | uniq -c | sort -rn | head -8 | sed 's/^/  /'
fi
if kill -0 "$VSM_PID" 2>/dev/null; then
	sw_daemon_stop
	((VSM_RC == 0)) || { echo "RUN BROKEN: vsimigd exited with status $VSM_RC on SIGTERM"; rc=1; }
else
	sw_daemon_stop
	echo "RUN BROKEN: vsimigd is gone (exit status $VSM_RC); last log lines:"
	tail -20 "$LOG" | sed 's/^/  /'
	rc=1
fi
awk -v a="$t_setup" -v b="$t_world" -v o="$OUT" 'BEGIN { printf "setup: world %.1f s; data in %s\n", b - a, o }' >&2
exit "$rc"

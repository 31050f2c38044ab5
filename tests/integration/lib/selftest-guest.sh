#!/bin/bash
#
# selftest-guest.sh - check the Linux test guest (lib/guest/) on the
# two-host libvirt testbed (DESIGN.md §4, §6):
#
#   1. build the guest (build-guest.sh, cached: built once, then reused);
#   2. two libvirt hosts, dnsmasq on the switch (br-sw 10.77.1.1/24,
#      range 10.77.1.100-199, no DNS, leases and pid file in $TB_DIR);
#   3. boot the guest on host A: it gets a lease; dnsmasq's leases file
#      has its MAC and its client-id (lg_client_id);
#   4. it joins 239.77.1.1 (IGMPv3) and ff15::77:1 (MLDv2): the switch's
#      mdb has both on sw-a;
#   5. `mcjoin send` from the switch to both groups: the guest counts them;
#   6. `virsh migrate --live` A->B: the guest still receives on B; loss
#      and the longest gap counted by the guest are printed;
#   7. the switch's mdb (sampled every 0.2 s and `bridge monitor mdb`)
#      shows when the groups appear on sw-b / leave sw-a;
#   8. the guest's control port (unicast from the switch) answers on B;
#   9. the guest leaves 239.77.1.1 (control port): sw-b's mdb entry goes
#      (sw-a's stale one stays until it ages out); it re-joins.
# Prints timings: build (first and cached), boot-to-lease, migration,
# downtime (QEMU's) and the receive gap (the guest's).
#
# Usage: selftest-guest.sh [-v] [-f]   (-v: TB_VERBOSE=1, -f: force rebuild)
# Env: LG_GUEST_DIR (artefact cache, see guest.sh), SG_RATE (datagrams/s
#      per group, default 100), SG_MDB_WAIT (s to wait for the mdb to move
#      after the migration, default 20).
# Exit: 0 ok, 1 failure, 77 cannot run here (1 under CI=true).

set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testbed.sh
. "$here/testbed.sh"
# shellcheck source-path=SCRIPTDIR source=libvirt-testbed.sh
. "$here/libvirt-testbed.sh"
# shellcheck source-path=SCRIPTDIR source=guest/guest.sh
. "$here/guest/guest.sh"
# shellcheck source-path=SCRIPTDIR source=carry.sh
. "$here/carry.sh"

force=0
for a in "$@"; do
	case $a in
	-v) export TB_VERBOSE=1 ;;
	-f) force=1 ;;
	-h | --help) sed -n '3,30p' "$0"; exit 0 ;;
	*) echo "unknown argument: $a" >&2; exit 2 ;;
	esac
done

say() { printf '[selftest-guest] %s\n' "$*"; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
T_ALL=$(date +%s%N)
RATE=${SG_RATE:-100}
MDB_WAIT=${SG_MDB_WAIT:-20}
MAC=02:76:73:6d:20:01
G4=$LG_GROUP4
G6=$LG_GROUP6

tb_init
for tool in dnsmasq bridge; do
	command -v "$tool" >/dev/null || tb_skip_or_fail "missing tool: $tool (apt-get install dnsmasq-base iproute2)"
done

# ---- 1. build
if ((force)); then
	dir=${LG_GUEST_DIR:-${VSM_BUILD_ROOT:+$VSM_BUILD_ROOT/lg-guest}}
	dir=${dir:-/var/tmp/vsimig-guest}
	rm -f "$dir/manifest"
fi
lg_build ""
T_BUILD1=$LG_BUILD_MS C1=$LG_BUILD_CACHED
lg_build ""
T_BUILD2=$LG_BUILD_MS
say "build: $( ((C1)) && echo cached || echo built) in ${T_BUILD1} ms, then cached in ${T_BUILD2} ms ($LG_GUEST_DIR: $(sed -n 's/^kernel_release=//p' "$LG_GUEST_DIR/manifest"), initrd $(stat -c %s "$LG_INITRD") bytes)"
say "modules: $(sed -n 's/^modules=//p' "$LG_GUEST_DIR/manifest")"

# ---- 2. testbed + dnsmasq
t=$(date +%s%N)
# shellcheck disable=SC2119
lt_setup
lt_libvirtd_start A B
say "testbed + libvirtd A, B ready in $(ms_since "$t") ms"

SW=$LT_NS_SW
# br-sw 10.77.1.1/24 with an IGMPv3/MLDv2 querier (restarted once its
# link-local address is usable) and dnsmasq: carry.sh.
ct_switch_setup
ct_dnsmasq_start
LEASES=$CT_DNSMASQ_LEASES
DNSMASQ_PID=$CT_DNSMASQ_PID
say "dnsmasq pid $DNSMASQ_PID on $SW:br-sw 10.77.1.1/24"

# ---- 3. boot, lease
uuid=$(lg_define_linux_guest A g1 "$MAC")
say "g1 ($uuid) started on A"
line=$(lg_wait_console A g1 'VSMGUEST: lease ' 120)
T_LEASE=$(ms_since "$(lg_start_ns g1)")
IP=$(awk '{print $3}' <<<"$line")
up=$(sed -n 's/.* up=\([0-9.]*\).*/\1/p' <<<"$line")
say "boot-to-lease ${T_LEASE} ms wall (guest uptime ${up} s): $line"
[[ $IP == 10.77.1.1[0-9][0-9] ]] || tb_fail "lease $IP not in 10.77.1.100-199"

CID=$(lg_client_id "$MAC")
for ((i = 0; i < 20; i++)); do
	grep -q " $MAC $IP " "$LEASES" && break
	sleep 0.1
done
lease=$(grep " $MAC " "$LEASES" || true)
say "dnsmasq lease: $lease"
[[ -n $lease ]] || tb_fail "no lease for $MAC in $LEASES"
[[ $(awk '{print $3}' <<<"$lease") == "$IP" ]] || tb_fail "leases file IP differs from the guest's $IP"
[[ $(awk '{print $5}' <<<"$lease") == "$CID" ]] || tb_fail "client-id in leases file is not $CID"
[[ $(awk '{print $4}' <<<"$lease") == g1 ]] || tb_fail "hostname in leases file is not g1"

# ---- 4. joins, mdb on sw-a
lg_wait_console A g1 "VSMGUEST: joined $G4 eth0" 60 >/dev/null
lg_wait_console A g1 "VSMGUEST: joined $G6 eth0" 30 >/dev/null
lg_wait_console A g1 'VSMGUEST: mcjoin ready' 30 >/dev/null

# mdb_ports GROUP: the switch ports whose mdb has GROUP, e.g. "sw-a".
mdb_ports() {
	bridge -n "$SW" mdb show 2>/dev/null |
		awk -v g="$1" '$1 == "dev" && $2 == "br-sw" && $3 == "port" && $5 == "grp" && $6 == g { print $4 }' | sort -u | xargs
}
for ((i = 0; i < 50; i++)); do
	[[ $(mdb_ports "$G4") == *sw-a* && $(mdb_ports "$G6") == *sw-a* ]] && break
	sleep 0.1
done
say "mdb before migration:"
bridge -n "$SW" mdb show | sed 's/^/    /'
[[ $(mdb_ports "$G4") == *sw-a* ]] || tb_fail "switch mdb has no $G4 on sw-a"
[[ $(mdb_ports "$G6") == *sw-a* ]] || tb_fail "switch mdb has no $G6 on sw-a"

# ---- 5. stream
CT_RATE=$RATE
ct_sender_start "$G4" "$G6"
lg_wait_console A g1 "VSMGUEST: rx $G4 " 30 >/dev/null
lg_wait_console A g1 "VSMGUEST: rx ${G6//./\\.} " 30 >/dev/null
sleep 2
say "on A: $(lg_last_rx A g1 "$G4")"
say "on A: $(lg_last_rx A g1 "$G6")"
lg_ctl "$SW" "$IP" ping >/dev/null || tb_fail "guest control port does not answer on A"

# ---- 6. migrate, watching the mdb and the control frames on both ports
CAPF='igmp or arp or rarp or (ip6 and not udp) or (udp and (port 67 or port 68))'
# SG_CAPTURE_DATA=1: the multicast stream too (for debugging loss).
[[ ${SG_CAPTURE_DATA:-0} == 1 ]] && CAPF="$CAPF or (udp port $LG_PORT)"
tb_capture_start "$SW" sw-a "$TB_DIR/sw-a.pcap" "$CAPF"
tb_capture_start "$SW" sw-b "$TB_DIR/sw-b.pcap" "$CAPF"
ip netns exec "$SW" stdbuf -oL bridge -timestamp monitor mdb </dev/null >"$TB_DIR/mdb-monitor.log" 2>&1 &
MON_PID=$!
tb_track_pid "$MON_PID" bridge-monitor
# mdb_sample: every 0.2 s "<ms since T_MIG0> <ports of G4> | <ports of G6>".
T_MIG0=$(date +%s%N)
(
	while [[ ! -e $TB_DIR/mdb-sampler.stop ]]; do
		echo "$(ms_since "$T_MIG0") $(mdb_ports "$G4") | $(mdb_ports "$G6")"
		sleep 0.2
	done
) >"$TB_DIR/mdb-samples.log" 2>&1 &
SAMPLER_PID=$!
tb_track_pid "$SAMPLER_PID" mdb-sampler

T_MIG=$(lt_migrate A B g1) || tb_fail "virsh migrate --live A->B failed (rc $LT_MIGRATE_RC)"
lt_wait_domstate B g1 running 10
jobinfo() { lt_virsh "$1" domjobinfo --completed g1 2>/dev/null | sed -n 's/^Total downtime: *\([0-9]*\).*/\1 ms/p'; }
downtime=$(jobinfo B)
[[ -n $downtime ]] || downtime=$(jobinfo A)
say "migration A->B ${T_MIG} ms, QEMU downtime ${downtime:-?}"

lg_wait_console B g1 "VSMGUEST: rx $G4 " 30 >/dev/null
lg_wait_console B g1 "VSMGUEST: rx ${G6//./\\.} " 30 >/dev/null
sleep 3
r4=$(lg_last_rx B g1 "$G4")
r6=$(lg_last_rx B g1 "$G6")
say "on B: $r4"
say "on B: $r6"
lg_ctl "$SW" "$IP" ping >/dev/null || tb_fail "guest control port does not answer on B"
lg_ctl "$SW" "$IP" stats | sed 's/^/    ctl stats: /'

# ---- 7. the mdb after the migration
t0=$SECONDS
while ((SECONDS - t0 < MDB_WAIT)); do
	[[ $(mdb_ports "$G4") == *sw-b* && $(mdb_ports "$G6") == *sw-b* ]] && break
	sleep 0.2
done
sleep 0.5
touch "$TB_DIR/mdb-sampler.stop"
wait "$SAMPLER_PID" 2>/dev/null || true
tb__untrack_pid "$SAMPLER_PID"
say "mdb after migration (+$(ms_since "$T_MIG0") ms):"
bridge -n "$SW" mdb show | sed 's/^/    /'
# first_sample FIELD ERE: ms of the first sample whose FIELD (1 = G4's
# ports, 2 = G6's) matches ERE.
first_sample() {
	awk -F'|' -v f="$1" -v re="$2" '/^[0-9]+ / {
		t = $1; sub(/ .*/, "", t); p = $1; sub(/^[0-9]+ ?/, "", p)
		if ((f == 1 ? p : $2) ~ re) { print t; exit } }' "$TB_DIR/mdb-samples.log"
}
first_b4=$(first_sample 1 'sw-b')
first_b6=$(first_sample 2 'sw-b')
gone_a4=$(first_sample 1 '^[^a]*$')
gone_a6=$(first_sample 2 '^[^a]*$')
say "mdb timeline (ms after virsh migrate started; migration took $T_MIG ms):"
say "  $G4 on sw-b from ${first_b4:-never} ms; sw-a entry ${gone_a4:+gone at $gone_a4 ms}${gone_a4:-still there}"
say "  $G6 on sw-b from ${first_b6:-never} ms; sw-a entry ${gone_a6:+gone at $gone_a6 ms}${gone_a6:-still there}"
awk 'prev != substr($0, index($0, " ")) { print "    " $0; prev = substr($0, index($0, " ")) }' \
	"$TB_DIR/mdb-samples.log"
say "bridge monitor mdb (ms after virsh migrate started):"
t0s=${T_MIG0:0:10} t0ms=${T_MIG0:10:3}
while read -r l; do
	if [[ $l =~ ^Timestamp:\ (.*)\ ([0-9]+)\ usec$ ]]; then
		ts=$(date -d "${BASH_REMATCH[1]}" +%s)
		us=${BASH_REMATCH[2]}
		ms=$(((ts - t0s) * 1000 + 10#$us / 1000 - 10#$t0ms))
	else
		printf '    %7s %s\n' "${ms:-?}" "$l"
	fi
done <"$TB_DIR/mdb-monitor.log" | uniq
tb_capture_stop
for port in sw-a sw-b; do
	say "frames on $port, both directions (ms after virsh migrate started):"
	tshark -r "$TB_DIR/$port.pcap" -T fields -E separator='|' \
		-e frame.time_epoch -e eth.src -e _ws.col.Protocol -e _ws.col.Info 2>/dev/null |
		awk -F'|' -v t0="$T_MIG0" '{
			split($1, e, "."); ms = (e[1] - substr(t0, 1, 10)) * 1000 + (substr(e[2] "000", 1, 3) - substr(t0, 11, 3))
			printf "    %7d %s %-6s %s\n", ms, $2, $3, $4 }' | grep -v ' UDP ' | head -n 40 || true
done

# ---- checks on the stream
stats() { # LINE -> "count last lost maxgap"
	awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print $4, $5, v["lost"], v["maxgap_ms"] }' <<<"$1"
}
read -r c4 _ lost4 gap4 <<<"$(stats "$r4")"
read -r c6 _ lost6 gap6 <<<"$(stats "$r6")"
[[ $c4 =~ ^[0-9]+$ && $c6 =~ ^[0-9]+$ ]] || tb_fail "cannot parse the rx lines"
((c4 > 0 && c6 > 0)) || tb_fail "guest received nothing on B"

ct_senders_stop
tb__kill_pid "$MON_PID" TERM 3
tb__untrack_pid "$MON_PID"
say "senders: $(tr '\n' ';' <"$TB_DIR/send.log")"
say "loss: $G4 lost $lost4 of $((c4 + lost4)) (longest gap ${gap4} ms), $G6 lost $lost6 of $((c6 + lost6)) (longest gap ${gap6} ms) at $RATE/s"
[[ $(mdb_ports "$G4") == *sw-b* ]] || tb_warn "switch mdb has no $G4 on sw-b after ${MDB_WAIT} s"
dup4=$(sed -n 's/.* dup=\([0-9]*\).*/\1/p' <<<"$r4")
dup6=$(sed -n 's/.* dup=\([0-9]*\).*/\1/p' <<<"$r6")
# dup > 0 = stale datagrams: the switch flooded the group to host B, whose
# tap queued them until the guest resumed there.
((dup4 == 0 && dup6 == 0)) || tb_warn "guest saw repeated/late datagrams (dup $dup4/$dup6): the switch flooded"

# ---- 9. leave on B: the switch drops sw-b's entry (sw-a's stale one stays)
lg_ctl "$SW" "$IP" leave "$G4" >/dev/null || tb_fail "leave $G4 via the control port failed"
lg_wait_console B g1 "VSMGUEST: left $G4 eth0" 10 >/dev/null
t=$(date +%s%N)
while [[ $(mdb_ports "$G4") == *sw-b* ]] && (($(ms_since "$t") < 15000)); do
	sleep 0.1
done
T_LEAVE=$(ms_since "$t")
[[ $(mdb_ports "$G4") != *sw-b* ]] || tb_fail "sw-b still in the mdb for $G4 15 s after the guest left"
say "leave $G4: sw-b entry gone after ${T_LEAVE} ms; $G4 now on: '$(mdb_ports "$G4")'"
lg_ctl "$SW" "$IP" join "$G4" >/dev/null || tb_fail "re-join $G4 failed"
t=$(date +%s%N)
while [[ $(mdb_ports "$G4") != *sw-b* ]] && (($(ms_since "$t") < 10000)); do
	sleep 0.1
done
[[ $(mdb_ports "$G4") == *sw-b* ]] || tb_fail "sw-b not back in the mdb for $G4 after the re-join"
say "re-join $G4: on sw-b again after $(ms_since "$t") ms"

say "timings: build ${T_BUILD1} ms ($( ((C1)) && echo cached || echo first)), cached ${T_BUILD2} ms;" \
	"boot-to-lease ${T_LEASE} ms; migration ${T_MIG} ms; QEMU downtime ${downtime:-?};" \
	"rx gap ${gap4}/${gap6} ms; total $(ms_since "$T_ALL") ms"
say PASS

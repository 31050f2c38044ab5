#!/bin/bash
#
# run.sh - the VDP round-trip benchmark: lldpad's station (vdptool -c
# hints=to) and vsimigd (vsimigctl vdp associate --migrated-to) side by
# side against ONE lldpad bridge, each on its own port of it, N (default
# 200) ASSOCIATEs with the M-bit each, interleaved in alternating blocks of
# BLOCK (default 20) requests: lldpad, vsimigd, vsimigd, lldpad, ... (the
# order flips every pair, so neither always goes first).  Both stations'
# earlier VSIs stay associated, so the bridge carries both stations'
# keep-alives throughout and its load hits both alike.  Everything is timed
# on the wire (both ends of each link captured); see lib.sh for the sample
# format.
#
# Then both hold their N VSIs for HOLD_S (default 63) seconds with no new
# request, and the keep-alives each station sends in that window are
# counted: ECP request frames (first transmissions) and VSI TLVs, per VSI
# per minute.
#
# Prints, per station: median and p95 of request -> response at the
# station, the bridge's own floor (request in -> response out), and the
# ratios vsimigd/lldpad and vsimigd/floor; vsimigd's own rtt_us as it
# reports it and its longest main-loop dispatch (loop_max_dispatch_us,
# when the daemon reports it).  Goals: ours <= lldpad's station; within 5%
# of the floor.
#
# Environment: N, BLOCK, HOLD_S, SWAP_PORTS, OUT (default
# /var/tmp/vdp-rtt-<date>).
# Needs a build (VSM_BUILD_ROOT, default ./build).  Root.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
. "$VSM_SOURCE_ROOT/tests/integration/lib/vsimigd.sh"

N=${N:-200}
BLOCK=${BLOCK:-20}
HOLD_S=${HOLD_S:-63}
OUT=${OUT:-/var/tmp/vdp-rtt-$(date +%Y%m%d-%H%M%S)}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive integer" >&2; exit 2; }
[[ $BLOCK =~ ^[1-9][0-9]*$ ]] || { echo "BLOCK must be a positive integer" >&2; exit 2; }
[[ $HOLD_S =~ ^[1-9][0-9]*$ ]] || { echo "HOLD_S must be a positive integer" >&2; exit 2; }
mkdir -p "$OUT"

# Topology: lldpad's station on $TB_NS_ST:up0 <-> sw0, vsimigd on
# $NS_V:up1 <-> sw1, one lldpad bridge serving sw0 and sw1 in $TB_NS_BR.
tb_init
tb_netns_pair
NS_V="${TB_ID}-sv"
IF_V=up1 IF_VB=sw1 MAC_V=02:76:73:6d:00:03 MAC_VB=02:76:73:6d:00:04
ip netns add "$NS_V" || tb_fail "cannot create netns $NS_V"
TB__NETNS+=("$NS_V")
ip -n "$NS_V" link set lo up
ip -n "$NS_V" link add "$IF_V" address "$MAC_V" type veth peer name "$IF_VB" address "$MAC_VB" netns "$TB_NS_BR"
ip -n "$NS_V" link set "$IF_V" up
ip -n "$TB_NS_BR" link set "$IF_VB" up
tb_wait_link_up "$NS_V" "$IF_V"
tb_wait_link_up "$TB_NS_BR" "$IF_VB"

L_ST=$TB_DIR/l.station.pcap L_BR=$TB_DIR/l.bridge.pcap
V_ST=$TB_DIR/v.station.pcap V_BR=$TB_DIR/v.bridge.pcap
tb_capture_start "$TB_NS_ST" "$TB_IF_ST" "$L_ST"
tb_capture_start "$TB_NS_BR" "$TB_IF_BR" "$L_BR"
tb_capture_start "$NS_V" "$IF_V" "$V_ST"
tb_capture_start "$TB_NS_BR" "$IF_VB" "$V_BR"

vsm_daemon_start "$NS_V" "$IF_V" "[libvirt]
enabled = false"
# SWAP_PORTS=1: vsimigd's port first in the bridge's configuration (to see
# whether lldpad's port order favours one station).
if [[ ${SWAP_PORTS:-0} == 1 ]]; then
	tb_lldpad_start "$TB_NS_BR" "$IF_VB,$TB_IF_BR" bridge
else
	tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR,$IF_VB" bridge
fi
tb_lldpad_start "$TB_NS_ST" "$TB_IF_ST" station
tb_lldpad_wait_evb station 30
vsm_wait_bridge 40
# The bridge has taken both stations' EVB TLVs.
for port in "$TB_IF_BR" "$IF_VB"; do
	for ((i = 0; i < 300; i++)); do
		out=$(tb_lldpad_exec bridge lldptool -t -n -i "$port" -g ncb -V evb 2>&1) || true
		[[ $out == *"EVB Configuration TLV"* ]] && break
		sleep 0.1
	done
	[[ $out == *"EVB Configuration TLV"* ]] || tb_fail "bridge: no EVB TLV on $port"
done
pid_st=$(tb_lldpad_pid station)
vsm_ctl loop-reset >/dev/null 2>&1 || true

l_block() { # l_block FIRST LAST
	local i uuid mac
	for ((i = $1; i <= $2; i++)); do
		uuid=$(printf '5e7a0000-0000-4000-8000-%012x' "$i")
		mac=$(printf '52:54:00:%02x:%02x:%02x' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))
		nsenter -t "$pid_st" -n -m -- vdptool -i "$TB_IF_ST" -T -V assoc \
			-c mode=assoc -c mgrid2=vsimig -c typeid=4660 -c typeidver=1 \
			-c uuid="$uuid" -c hints=to -c filter="0-$mac" >/dev/null || {
			l_failed=$((l_failed + 1)); echo "vdp-rtt: vdptool request $i failed" >&2; }
	done
}
v_block() { # v_block FIRST LAST
	local i uuid mac out
	for ((i = $1; i <= $2; i++)); do
		uuid=$(printf '6e7a0000-0000-4000-8000-%012x' "$i")
		mac=$(printf '52:54:01:%02x:%02x:%02x' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))
		out=$(vsm_ctl --json vdp associate --uplink "$IF_V" --mac "$mac" --type-id 4660 --type-version 1 \
			--instance "$uuid" --migrated-to) || {
			v_failed=$((v_failed + 1)); echo "vdp-rtt: vsimigctl request $i failed: $out" >&2; continue; }
		echo "$out" | vsm_json 'd["rtt_us"]' >>"$OUT/vsimigd.rtt_us"
	done
}

: >"$OUT/vsimigd.rtt_us"
l_failed=0 v_failed=0
echo "vdp-rtt: $N x ASSOCIATE (M) from each station, interleaved in blocks of $BLOCK" >&2
t_start=$(date +%s.%N)
pair=0
for ((first = 1; first <= N; first += BLOCK)); do
	last=$((first + BLOCK - 1))
	((last > N)) && last=$N
	if ((pair % 2 == 0)); then
		l_block "$first" "$last"; v_block "$first" "$last"
	else
		v_block "$first" "$last"; l_block "$first" "$last"
	fi
	pair=$((pair + 1))
done
t_end=$(date +%s.%N)
filt_l="eth.src == $TB_MAC_BR && vdp21.assoc.flags.req_rsp == 1"
filt_v="eth.src == $MAC_VB && vdp21.assoc.flags.req_rsp == 1"
tb_capture_wait "$L_BR" "$filt_l" $((N - l_failed)) 30
tb_capture_wait "$V_BR" "$filt_v" $((N - v_failed)) 30
# loop_summary: the daemon's longest main-loop dispatch, and how many
# dispatches took 1 ms or more (wall time: on a loaded host this includes
# time the process was not scheduled), and the most CPU time one dispatch
# used (loop_max_dispatch_cpu_us: far below the wall time means it waited).
loop_summary() {
	vsm_ctl --json status | vsm_json '"%s us, CPU max %s us (%s dispatches, %d >= 1 ms, %d >= 8 ms)" % (d["loop_max_dispatch_us"], d.get("loop_max_dispatch_cpu_us", "n/a"), d["loop"]["dispatches"], sum(h["count"] for h in d["loop"]["histogram"] if h.get("lt_us", 1 << 30) > 1024), sum(h["count"] for h in d["loop"]["histogram"] if h.get("lt_us", 1 << 30) > 8192)) if "loop" in d else "NA (not reported by this vsimigd)"'
}
loop_us=$(loop_summary)

# --- keep-alives: both hold their N VSIs, no new request ---------------------
echo "vdp-rtt: holding both stations' $N VSIs for $HOLD_S s (keep-alives)" >&2
sleep 1
h_start=$(date +%s.%N)
sleep "$HOLD_S"
h_end=$(date +%s.%N)
loop_hold_us=$(loop_summary)
deassoc=$(vsm_counter vdp_bridge_deassoc)
ka_resends=$(vsm_counter vdp_keepalive_resends 2>/dev/null || echo NA)
sleep 0.2
tb_capture_stop

# keepalives PCAP STATION_MAC: "frames tlvs" the station sent in the hold
# window (ECP request frames by first transmission, and their VSI TLVs).
keepalives() {
	tb_vdp_frames "$1" | awk -v s="$2" -v a="$h_start" -v b="$h_end" '
	$2 == s && $1 + 0 >= a + 0 && $1 + 0 < b + 0 { tlv++; if (!($3 in seen)) { seen[$3] = 1; fr++ } }
	END { printf "%d %d\n", fr, tlv }'
}
read -r l_fr l_tlv < <(keepalives "$L_ST" "$TB_MAC_ST")
read -r v_fr v_tlv < <(keepalives "$V_ST" "$MAC_V")

vdp_rtt_from_capture "$L_ST" "$L_BR" "$TB_MAC_ST" "$TB_MAC_BR" |
	awk '/^#/ || !seen[$3 " " $4]++' | awk -v a="$t_start" -v b="$t_end" '/^#/ || ($6 + 0 >= a + 0 && $6 + 0 <= b + 0 + 5)' \
	>"$OUT/lldpad.samples"
vdp_rtt_from_capture "$V_ST" "$V_BR" "$MAC_V" "$MAC_VB" |
	awk '/^#/ || !seen[$3 " " $4]++' | awk -v a="$t_start" -v b="$t_end" '/^#/ || ($6 + 0 >= a + 0 && $6 + 0 <= b + 0 + 5)' \
	>"$OUT/vsimigd.samples"

# --- the table ------------------------------------------------------------------
{
	echo "# vdp-rtt: N=$N ASSOCIATE (M-bit) per station, interleaved blocks of $BLOCK, one lldpad $(dpkg-query -W -f='${Version}' lldpad) bridge (two ports), veth, $(uname -r), $(nproc) cores"
	vdp_rtt_table lldpad="$OUT/lldpad.samples" vsimigd="$OUT/vsimigd.samples"
	read -r _ lmed lp95 _ < <(vdp_rtt_stats "$OUT/lldpad.samples" 7)
	read -r _ vmed vp95 _ < <(vdp_rtt_stats "$OUT/vsimigd.samples" 7)
	read -r _ fmed fp95 _ < <(vdp_rtt_stats "$OUT/vsimigd.samples" 8)
	read -r _ dmed dp95 _ < <(sort -g "$OUT/vsimigd.rtt_us" | awk '{ v[++n] = $1 } END {
		r = int(0.95 * n); if (r < 0.95 * n) r++
		printf "%d %.1f %.1f\n", n, (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2, v[r] }')
	echo
	printf 'vsimigd rtt_us as reported (daemon: request -> response handled): median %s p95 %s\n' "$dmed" "$dp95"
	awk -v lm="$lmed" -v lp="$lp95" -v vm="$vmed" -v vp="$vp95" -v fm="$fmed" -v fp="$fp95" 'BEGIN {
		printf "ratio vsimigd/lldpad station (wire):  median %.3f  p95 %.3f   (goal <= 1)\n", vm / lm, vp / lp
		printf "ratio vsimigd/bridge floor (wire):    median %.3f  p95 %.3f   (goal <= 1.05)\n", vm / fm, vp / fp
	}'
	echo
	awk -v n="$N" -v a="$h_start" -v b="$h_end" -v lf="$l_fr" -v lt="$l_tlv" -v vf="$v_fr" -v vt="$v_tlv" 'BEGIN {
		m = (b - a) / 60
		printf "keep-alives in a %.1f s hold of %d VSIs each (per VSI per minute):\n", b - a, n
		printf "  lldpad station: %6d frames %6d VSI TLVs  = %.2f frames, %.2f TLVs /VSI/min\n", lf, lt, lf / n / m, lt / n / m
		printf "  vsimigd:        %6d frames %6d VSI TLVs  = %.2f frames, %.2f TLVs /VSI/min\n", vf, vt, vf / n / m, vt / n / m
		printf "  (one refresh per RKA time, 10.49 s, is %.2f /VSI/min)\n", 60 / 10.48576
	}'
	echo "failed requests (no sample): lldpad station (vdptool) $l_failed, vsimigd $v_failed"
	echo "vsimigd bridge de-associations during the run: $deassoc; keep-alives sent again unanswered: $ka_resends"
	echo "vsimigd loop_max_dispatch_us after the requests: $loop_us"
	echo "vsimigd loop_max_dispatch_us after the hold:     $loop_hold_us"
	echo "host load average: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/summary.txt"
echo "vdp-rtt: samples and captures in $OUT" >&2
cp "$L_ST" "$L_BR" "$V_ST" "$V_BR" "$OUT/" 2>/dev/null || true

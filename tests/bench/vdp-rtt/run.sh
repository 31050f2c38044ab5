#!/bin/bash
#
# run.sh - the VDP round-trip benchmark: N (default 200) ASSOCIATEs with
# the M-bit against ONE lldpad bridge, first from lldpad's own station
# (vdptool -c hints=to), then from vsimigd (vsimigctl vdp associate
# --migrated-to), on the same link in the same run.  Everything is timed
# on the wire (both ends captured); see lib.sh for the sample format.
#
# Prints, per station: median and p95 of request -> response at the
# station, the bridge's own floor (request in -> response out), and the
# ratios vsimigd/lldpad and vsimigd/floor.  Also vsimigd's own rtt_us as
# it reports it.  Goals: ours <= lldpad's station; within 5% of the floor.
#
# Environment: N, OUT (default /var/tmp/vdp-rtt-<date>).  Needs a build
# (VSM_BUILD_ROOT, default ./build).  Root.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
. "$VSM_SOURCE_ROOT/tests/integration/lib/vsimigd.sh"

N=${N:-200}
OUT=${OUT:-/var/tmp/vdp-rtt-$(date +%Y%m%d-%H%M%S)}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive integer" >&2; exit 2; }
mkdir -p "$OUT"

tb_init
tb_netns_pair
tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR" bridge

# --- 1. lldpad's station (vdptool) ------------------------------------------
ST_CAP=$TB_DIR/l.station.pcap BR_CAP=$TB_DIR/l.bridge.pcap
tb_capture_start "$TB_NS_ST" "$TB_IF_ST" "$ST_CAP"
tb_capture_start "$TB_NS_BR" "$TB_IF_BR" "$BR_CAP"
tb_lldpad_start "$TB_NS_ST" "$TB_IF_ST" station
tb_lldpad_wait_evb station
tb_lldpad_wait_evb bridge
pid_st=$(tb_lldpad_pid station)
echo "vdp-rtt: $N x ASSOCIATE (M) from lldpad's station" >&2
for ((i = 1; i <= N; i++)); do
	uuid=$(printf '5e7a0000-0000-4000-8000-%012x' "$i")
	mac=$(printf '52:54:00:%02x:%02x:%02x' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))
	nsenter -t "$pid_st" -n -m -- vdptool -i "$TB_IF_ST" -T -V assoc \
		-c mode=assoc -c mgrid2=vsimig -c typeid=4660 -c typeidver=1 \
		-c uuid="$uuid" -c hints=to -c filter="0-$mac" >/dev/null || tb_fail "vdptool request $i failed"
done
tb_capture_wait "$BR_CAP" "eth.src == $TB_MAC_BR && vdp21.assoc.flags.req_rsp == 1" "$N" 30
sleep 0.2
tb_capture_stop
tb_lldpad_stop station
# lldpad's bridge de-associates each of the station's VSIs on its own once
# their keep-alive lapses (15.76 s); let that burst pass so it does not land
# in vsimigd's measurement.
echo "vdp-rtt: waiting 17 s for lldpad's bridge to drop the station's $N VSIs" >&2
sleep 17
vdp_rtt_from_capture "$ST_CAP" "$BR_CAP" "$TB_MAC_ST" "$TB_MAC_BR" |
	awk '/^#/ || !seen[$3 " " $4]++' >"$OUT/lldpad.samples"

# --- 2. vsimigd on the same port, same bridge ---------------------------------
ST_CAP=$TB_DIR/v.station.pcap BR_CAP=$TB_DIR/v.bridge.pcap
tb_capture_start "$TB_NS_ST" "$TB_IF_ST" "$ST_CAP"
tb_capture_start "$TB_NS_BR" "$TB_IF_BR" "$BR_CAP"
vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST" "[libvirt]
enabled = false"
vsm_wait_bridge 40
: >"$OUT/vsimigd.rtt_us"
echo "vdp-rtt: $N x ASSOCIATE (M) from vsimigd" >&2
for ((i = 1; i <= N; i++)); do
	uuid=$(printf '6e7a0000-0000-4000-8000-%012x' "$i")
	mac=$(printf '52:54:01:%02x:%02x:%02x' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))
	vsm_ctl --json vdp associate --uplink "$TB_IF_ST" --mac "$mac" --type-id 4660 --type-version 1 \
		--instance "$uuid" --migrated-to | vsm_json 'd["rtt_us"]' >>"$OUT/vsimigd.rtt_us" ||
		tb_fail "vsimigctl request $i failed"
done
tb_capture_wait "$BR_CAP" "eth.src == $TB_MAC_BR && vdp21.assoc.flags.req_rsp == 1" "$N" 30
sleep 0.2
tb_capture_stop
vdp_rtt_from_capture "$ST_CAP" "$BR_CAP" "$TB_MAC_ST" "$TB_MAC_BR" |
	awk '/^#/ || !seen[$3 " " $4]++' >"$OUT/vsimigd.samples"

# --- the table ------------------------------------------------------------------
{
	echo "# vdp-rtt: N=$N ASSOCIATE (M-bit) against lldpad $(dpkg-query -W -f='${Version}' lldpad) (bridge role), veth, $(uname -r), $(nproc) cores"
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
} | tee "$OUT/summary.txt"
echo "vdp-rtt: samples and captures in $OUT" >&2

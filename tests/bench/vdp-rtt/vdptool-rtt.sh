#!/bin/bash
#
# vdptool-rtt.sh - VDP22 ASSOCIATE round trip, lldpad station (vdptool) vs
# lldpad bridge, measured on the wire (IEEE 802.1Qbg-2012 clause 41/43).
#
# N (default 200) ASSOCIATE requests with the M-bit (vdptool -c hints=to),
# one fresh VSI each, from lldpad in the station role to lldpad in the
# bridge role, captured on both the station and the bridge interface.
# Prints median and p95 of
#   - station side: request out -> bridge's VDP response in,
#   - bridge floor: request in -> VDP response out (bridge-side capture),
#   - station side: request out -> ECP ACK in,
#   - station side: bridge's response in -> the station's ECP ACK of it out,
# and keeps the per-sample numbers (tests/bench/vdp-rtt/lib.sh format) so
# another run (vsimigd as the station) can be put side by side with
#   . tests/bench/vdp-rtt/lib.sh; vdp_rtt_table lldpad=A vsimigd=B
#
# Files in OUT: lldpad-station.samples (one line per request made here),
# lldpad-station.all.samples (plus lldpad's own keep-alive re-sends, if
# the run outlasts 10.49 s), lldpad-station.{station,bridge}.pcap,
# summary.txt.
#
# Environment: N (requests), OUT (result dir, default
# /var/tmp/vdp-rtt-<date>), PACE_MS (extra pause between requests, default
# 0: each vdptool run already takes ~10 ms, several times the ~2.5 ms
# exchange, so requests never queue behind each other in ECP).
#
# Exit: 0 ok, 1 failure, 77 cannot run here (1 under CI=true).

set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

N=${N:-200}
PACE_MS=${PACE_MS:-0}
OUT=${OUT:-/var/tmp/vdp-rtt-$(date +%Y%m%d-%H%M%S)}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive integer" >&2; exit 2; }

tb_init
mkdir -p "$OUT"
tb_netns_pair
ST_CAP="$TB_DIR/station.pcap"
BR_CAP="$TB_DIR/bridge.pcap"
tb_capture_start "$TB_NS_ST" "$TB_IF_ST" "$ST_CAP"
tb_capture_start "$TB_NS_BR" "$TB_IF_BR" "$BR_CAP"
tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR" bridge
tb_lldpad_start "$TB_NS_ST" "$TB_IF_ST" station
tb_lldpad_wait_evb station
tb_lldpad_wait_evb bridge

echo "vdp-rtt: $N x ASSOCIATE (hints=to, M-bit), lldpad station -> lldpad bridge" >&2
pid_st=$(tb_lldpad_pid station)
t0=$SECONDS
for ((i = 1; i <= N; i++)); do
	# Fresh VSI per request: lldpad's station only sets the M-bit on a
	# VSI it creates.  nsenter directly (tb_lldpad_exec checks the pid
	# every time; one check before the loop is enough).
	uuid=$(printf '5e7a0000-0000-4000-8000-%012x' "$i")
	mac=$(printf '52:54:00:%02x:%02x:%02x' $((i >> 16 & 255)) $((i >> 8 & 255)) $((i & 255)))
	nsenter -t "$pid_st" -n -m -- vdptool -i "$TB_IF_ST" -T -V assoc \
		-c mode=assoc -c mgrid2=vsimig -c typeid=4660 -c typeidver=1 \
		-c uuid="$uuid" -c hints=to -c filter="10-$mac" >/dev/null ||
		tb_fail "vdptool request $i failed"
	if ((PACE_MS > 0)); then sleep "$(awk -v m="$PACE_MS" 'BEGIN { printf "%.3f", m / 1000 }')"; fi
done
echo "vdp-rtt: $N requests issued in $((SECONDS - t0)) s, waiting for the answers" >&2
tb_capture_wait "$BR_CAP" "eth.src == $TB_MAC_BR && vdp21.assoc.flags.req_rsp == 1" "$N" 30
sleep 0.2 # let the station's ECP ACK of the last response land
tb_capture_stop

cp "$ST_CAP" "$OUT/lldpad-station.station.pcap"
cp "$BR_CAP" "$OUT/lldpad-station.bridge.pcap"
vdp_rtt_from_capture "$OUT/lldpad-station.station.pcap" "$OUT/lldpad-station.bridge.pcap" \
	"$TB_MAC_ST" "$TB_MAC_BR" >"$OUT/lldpad-station.all.samples"
# Only the requests this script made: lldpad's keep-alives (same mode and
# VSIID again, every 10.49 s) show up when a run lasts longer than that.
awk '/^#/ || !seen[$3 " " $4]++' "$OUT/lldpad-station.all.samples" >"$OUT/lldpad-station.samples"
got=$(grep -vc '^#' "$OUT/lldpad-station.samples" || true)
missing=$(awk '!/^#/ && ($7 == "NA" || $8 == "NA")' "$OUT/lldpad-station.samples" | wc -l)
[[ $got -ge $N ]] || tb_fail "only $got samples for $N requests"
[[ $missing == 0 ]] || tb_warn "$missing samples without a response"
{
	echo "# vdp-rtt: N=$N ASSOCIATE (M-bit), lldpad $(dpkg-query -W -f='${Version}' lldpad 2>/dev/null || echo '?') station and bridge, veth, $(uname -r)"
	vdp_rtt_table lldpad="$OUT/lldpad-station.samples"
} | tee "$OUT/summary.txt"
echo "vdp-rtt: samples and captures in $OUT" >&2

# shellcheck shell=bash
#
# lib.sh - VDP22 request -> response timing from packet captures
# (IEEE 802.1Qbg-2012 clause 41 VDP over clause 43 ECP, ethertype 0x8940).
#
# Works on any pair of captures of one station <-> bridge link, whoever the
# station is (lldpad + vdptool, or vsimigd): everything is measured on the
# wire, from pcap time stamps, with tshark + awk only.
#
#   . tests/bench/vdp-rtt/lib.sh
#   vdp_rtt_from_capture station.pcap bridge.pcap >lldpad.samples
#   vdp_rtt_table lldpad=lldpad.samples vsimigd=vsimigd.samples
#
# Sample lines (one per VSI TLV in a station request; "#" lines are
# comments; times in microseconds, NA when the frame was not seen):
#   k seq mode uuid flags t_req st_rtt_us br_floor_us st_ack_us br_ack_us
#     st_ackout_us
#     k           n-th distinct station request frame (1-based), ECP
#                 retransmissions (same sequence number, consecutive) are
#                 not new requests: times are from the first transmission
#     seq         the station's ECP sequence number
#     mode        preassoc | preassoc-rr | assoc | deassoc
#     uuid        VSIID (32 hex digits)
#     flags       M, S, MS or - (request M/S bits)
#     t_req       epoch of the request in the station-side capture
#     st_rtt_us   station side: request out -> the bridge's VDP response
#                 (same mode and VSIID, response bit set) in
#     br_floor_us bridge side: request in -> VDP response out (the bridge's
#                 own processing; lldpad adds a deliberate 2 ms)
#     st_ack_us   station side: request out -> the bridge's ECP ACK in
#     br_ack_us   bridge side: request in -> ECP ACK out
#     st_ackout_us station side: the bridge's response in -> the station's ECP
#                 ACK of it out (lldpad's bridge re-sends after ~2.7 ms)
# The two captures are joined on (station ECP sequence, mode, VSIID,
# occurrence), so they need not start at the same moment.

VDP_RTT_LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../../integration/lib/testbed.sh
. "$VDP_RTT_LIB_DIR/../../integration/lib/testbed.sh"

# vdp__rtt_one CAPTURE_TAG PCAP [ST_MAC] [BR_MAC]: per-capture pass.
# Prints "TAG seq mode uuid flags occ t_req t_ack t_rsp t_rack" per request
# TLV (t_rack: the station's ECP ACK of the bridge's response).
vdp__rtt_one() {
	local tag=$1 pcap=$2 st=${3:-} br=${4:-}
	tb_ecp_frames "$pcap" | awk -v tag="$tag" -v st="$st" -v br="$br" "$TB_AWK_VDP"'
	{ t[NR] = $1; src[NR] = $2; op[NR] = $3; seq[NR] = $4; pl[NR] = $5 }
	END {
		# Infer the MACs when not given: the bridge sends VSI TLVs with
		# the response bit set, the station sends them without.
		for (f = 1; f <= NR && (br == "" || st == ""); f++) {
			if (op[f] != "req") continue
			vdp_parse(pl[f])
			for (i = 1; i <= V_n; i++) {
				if (int(V_status[i] / 64) % 2) { if (br == "") br = src[f] }
				else if (V_mode[i] != "deassoc" && st == "") st = src[f]
			}
		}
		if (st == "" || br == "") { printf "%s: cannot tell station and bridge apart\n", FILENAME > "/dev/stderr"; exit 1 }
		n = 0; lastst = -1; lastbr = -1
		for (f = 1; f <= NR; f++) {
			if (src[f] == st && op[f] == "req") {
				if (seq[f] == lastst) continue	# ECP retransmission
				lastst = seq[f]
				vdp_parse(pl[f])
				for (i = 1; i <= V_n; i++) {
					key = V_mode[i] " " V_uuid[i]
					n++
					s_seq[n] = seq[f]; s_key[n] = key; s_t[n] = t[f]
					s_fl[n] = (int(V_status[i] / 16) % 2 ? "M" : "") (int(V_status[i] / 32) % 2 ? "S" : "")
					if (s_fl[n] == "") s_fl[n] = "-"
					s_occ[n] = ++occ[seq[f] " " key]
					s_ack[n] = "NA"; s_rsp[n] = "NA"; s_rseq[n] = -1; s_rack[n] = "NA"
				}
			} else if (src[f] == st && op[f] == "ack") {
				for (j = n; j >= 1 && j > n - 8; j--)
					if (s_rseq[j] == seq[f] && s_rack[j] == "NA" && s_rsp[j] + 0 <= t[f] + 0) { s_rack[j] = t[f]; break }
			} else if (src[f] == br && op[f] == "ack") {
				for (j = n; j >= 1 && j > n - 8; j--)
					if (s_seq[j] == seq[f] && s_ack[j] == "NA" && s_t[j] + 0 <= t[f] + 0) { s_ack[j] = t[f]; break }
			} else if (src[f] == br && op[f] == "req") {
				if (seq[f] == lastbr) continue	# ECP retransmission
				lastbr = seq[f]
				vdp_parse(pl[f])
				for (i = 1; i <= V_n; i++) {
					if (!(int(V_status[i] / 64) % 2)) continue	# bridge-initiated
					key = V_mode[i] " " V_uuid[i]
					for (j = 1; j <= n; j++)
						if (s_rsp[j] == "NA" && s_key[j] == key && s_t[j] + 0 <= t[f] + 0) { s_rsp[j] = t[f]; s_rseq[j] = seq[f]; break }
				}
			}
		}
		for (j = 1; j <= n; j++)
			print tag, s_seq[j], s_key[j], s_fl[j], s_occ[j], s_t[j], s_ack[j], s_rsp[j], s_rack[j]
	}'
}

# vdp_rtt_from_capture ST_PCAP BR_PCAP [ST_MAC] [BR_MAC]: print the
# samples (format above) for every station request in ST_PCAP, with the
# bridge-side times from BR_PCAP.  BR_PCAP may be "-" (no bridge-side
# capture: br_* columns are NA).
vdp_rtt_from_capture() {
	local stp=$1 brp=${2:--} stmac=${3:-} brmac=${4:-}
	[[ -s $stp ]] || { echo "vdp_rtt_from_capture: no capture $stp" >&2; return 1; }
	{
		vdp__rtt_one S "$stp" "$stmac" "$brmac"
		if [[ $brp != - ]]; then
			vdp__rtt_one B "$brp" "$stmac" "$brmac"
		fi
	} | awk -v stp="$stp" -v brp="$brp" '
	# b - a in microseconds, exact to the nanosecond (no 1.8e9 s doubles)
	function us(a, b,   x, y) {
		if (a == "NA" || b == "NA") return "NA"
		split(a, x, "."); split(b, y, ".")
		return sprintf("%.1f", (y[1] - x[1]) * 1e6 + (substr(y[2] "000000000", 1, 9) - substr(x[2] "000000000", 1, 9)) / 1000)
	}
	# TAG seq mode uuid flags occ t_req t_ack t_rsp t_rack
	$1 == "S" { n++; id = $2 " " $3 " " $4 " " $6; order[n] = id; S[id] = $0 }
	$1 == "B" { id = $2 " " $3 " " $4 " " $6; B[id] = $0 }
	END {
		print "# vdp-rtt samples: station capture " stp ", bridge capture " brp
		print "# k seq mode uuid flags t_req st_rtt_us br_floor_us st_ack_us br_ack_us st_ackout_us"
		for (k = 1; k <= n; k++) {
			split(S[order[k]], s, " ")
			brf = "NA"; bra = "NA"
			if (order[k] in B) {
				split(B[order[k]], b, " ")
				brf = us(b[7], b[9]); bra = us(b[7], b[8])
			}
			print k, s[2], s[3], s[4], s[5], s[7], us(s[7], s[9]), brf, us(s[7], s[8]), bra, us(s[9], s[10])
		}
	}'
}

# vdp_rtt_stats SAMPLES COLUMN: print "n median p95 min max" (microseconds,
# nearest-rank p95) of COLUMN (7 st_rtt_us, 8 br_floor_us, 9 st_ack_us,
# 10 br_ack_us, 11 st_ackout_us) over the non-NA samples in file SAMPLES.
vdp_rtt_stats() {
	local file=$1 col=$2
	awk -v c="$col" '!/^#/ && $c != "NA" { print $c }' "$file" | sort -g | awk '
	{ v[++n] = $1 }
	END {
		if (!n) { print 0, "NA", "NA", "NA", "NA"; exit }
		med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		r = int(0.95 * n); if (r < 0.95 * n) r++
		printf "%d %.1f %.1f %.1f %.1f\n", n, med, v[r], v[1], v[n]
	}'
}

# vdp_rtt_table LABEL=SAMPLES...: print the median/p95 table for one or
# more sample files side by side (e.g. lldpad=a.samples vsimigd=b.samples).
vdp_rtt_table() {
	local arg label file col name
	printf '%-10s %-30s %6s %10s %10s %10s %10s\n' station metric n median_us p95_us min_us max_us
	for arg in "$@"; do
		label=${arg%%=*}
		file=${arg#*=}
		for col in 7 8 9 11; do
			case $col in
			7) name='station req -> resp (wire)' ;;
			8) name='bridge floor (req in -> resp)' ;;
			9) name='station req -> ECP ack' ;;
			11) name='station resp in -> its ECP ack' ;;
			esac
			# shellcheck disable=SC2046,SC2183
			printf '%-10s %-30s %6s %10s %10s %10s %10s\n' "$label" "$name" $(vdp_rtt_stats "$file" "$col")
		done
	done
}

#!/bin/bash
#
# selftest-vdptool.sh - check testbed.sh against two real lldpad peers:
# lldpad in the IEEE 802.1Qbg-2012 bridge role on $TB_IF_BR, lldpad in the
# station role on $TB_IF_ST driven by vdptool, VDP22 over ECP22 (clause 41,
# 43).  Asserts that the bridge answers PRE-ASSOCIATE, ASSOCIATE (plain,
# M-bit via hints=to, S-bit via hints=from) and DE-ASSOCIATE with the
# response bit (0x40) and error 0, and (unless --quick) that lldpad's
# bridge sends its own DE-ASSOCIATE ~15.8 s after acknowledging one.
#
# Usage: selftest-vdptool.sh [--quick] [--record DIR]
#   --quick       skip the ~16 s wait for the unsolicited DE-ASSOCIATE
#   --record DIR  write the frames seen on the wire as hex test vectors
#                 (tests/data/lldpad/ layout, see its README.md) into DIR
#
# Exit: 0 ok, 1 failure, 77 cannot run here (1 under CI=true).

set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testbed.sh
. "$here/testbed.sh"

quick=0
record=
while (($#)); do
	case $1 in
	--quick) quick=1 ;;
	--record)
		record=${2:?--record needs a directory}
		shift
		;;
	-h | --help)
		sed -n '3,20p' "$0"
		exit 0
		;;
	*)
		echo "unknown argument: $1" >&2
		exit 2
		;;
	esac
	shift
done
[[ -z $record || $quick == 0 ]] || { echo "--record needs the full run (no --quick)" >&2; exit 2; }

say() { printf '[selftest] %s\n' "$*"; }

tb_init
tb_netns_pair
BR_CAP="$TB_DIR/bridge.pcap"
ST_CAP="$TB_DIR/station.pcap"
tb_capture_start "$TB_NS_BR" "$TB_IF_BR" "$BR_CAP"
tb_capture_start "$TB_NS_ST" "$TB_IF_ST" "$ST_CAP"

tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR" bridge
tb_lldpad_start "$TB_NS_ST" "$TB_IF_ST" station
tb_lldpad_wait_evb station
tb_lldpad_wait_evb bridge
say "lldpad bridge pid $(tb_lldpad_pid bridge), station pid $(tb_lldpad_pid station), EVB TLVs exchanged"

# VSIs.  lldpad's station takes the M/S hint only when it creates a VSI:
# a later vdptool call on the same VSI changes the mode but keeps the
# hints it was created with (and every keep-alive re-sends them).  Hence
# one fresh VSI per flag.
MGR=vsimig
TYPEID=4660 # 0x001234
TYPEVER=1
U1=4e1c3a52-7b9d-4f0e-9a21-5c6d7e8f9001 # plain: preassoc -> assoc -> deassoc
U2=4e1c3a52-7b9d-4f0e-9a21-5c6d7e8f9002 # assoc, hints=to (M)
U3=4e1c3a52-7b9d-4f0e-9a21-5c6d7e8f9003 # assoc, hints=from (S)
MAC1=52:54:00:00:00:01
MAC2=52:54:00:00:00:02
MAC3=52:54:00:00:00:03
VID=10

# vsi MODE UUID HINTS MAC: one vdptool request from the station lldpad.
# filter=VID-MAC is filter info format 2 (MAC/VID); VID 0 would ask the
# bridge to pick one ("0-MAC"), lldpad's bridge echoes 0 back.
vsi() {
	local mode=$1 uuid=$2 hints=$3 mac=$4
	tb_lldpad_exec station vdptool -i "$TB_IF_ST" -T -V "$mode" \
		-c mode="$mode" -c mgrid2="$MGR" -c typeid="$TYPEID" \
		-c typeidver="$TYPEVER" -c uuid="$uuid" -c hints="$hints" \
		-c filter="$VID-$mac" >/dev/null ||
		tb_fail "vdptool $mode $uuid hints=$hints failed"
}

# exchange MODE UUID HINTS MAC WANT_M WANT_S: send one request, check the
# request on the wire and the bridge's answer.  Sets REQ_LINE / RSP_LINE.
exchange() {
	local mode=$1 uuid=$2 hints=$3 mac=$4 want_m=$5 want_s=$6
	vsi "$mode" "$uuid" "$hints" "$mac"
	REQ_LINE=$(tb_vdp_wait "$BR_CAP" "$TB_MAC_ST" "$mode" "$uuid" 0)
	RSP_LINE=$(tb_vdp_wait "$BR_CAP" "$TB_MAC_BR" "$mode" "$uuid" 1)
	[[ " $REQ_LINE " == *" m=$want_m s=$want_s "* ]] ||
		tb_fail "$mode $uuid: request flags, want m=$want_m s=$want_s: $REQ_LINE"
	[[ " $REQ_LINE " == *" status=0x00 "* || $want_m$want_s != 00 ]] ||
		tb_fail "$mode $uuid: request status not 0: $REQ_LINE"
	[[ " $RSP_LINE " == *" status=0x40 "* ]] ||
		tb_fail "$mode $uuid: bridge status is not 0x40 (response, error 0): $RSP_LINE"
	local fwant
	fwant=$(printf '%s%04x' "${mac//:/}" "$VID")
	[[ " $RSP_LINE " == *" f=$fwant "* ]] ||
		tb_fail "$mode $uuid: filter not echoed ($fwant): $RSP_LINE"
	say "$mode $uuid hints=$hints: request m=$want_m s=$want_s, bridge answered status 0x40"
}

exchange preassoc "$U1" none "$MAC1" 0 0
exchange assoc "$U1" none "$MAC1" 0 0
exchange assoc "$U2" to "$MAC2" 1 0
exchange assoc "$U3" from "$MAC3" 0 1
exchange deassoc "$U1" none "$MAC1" 0 0
T_DEASSOC_RSP=${RSP_LINE%% *}

# Cross-check the flags with tshark's vdp21 dissector (flags only: tshark
# 4.0 misdecodes filter info and PRE-ASSOCIATE bodies).
n_m=$(tb_capture_count "$BR_CAP" "eth.src == $TB_MAC_ST && vdp21.assoc.flags.mbit == 1")
n_s=$(tb_capture_count "$BR_CAP" "eth.src == $TB_MAC_ST && vdp21.assoc.flags.sbit == 1")
((n_m >= 1 && n_s >= 1)) || tb_fail "tshark sees $n_m M-bit and $n_s S-bit requests"
say "tshark vdp21: $n_m request(s) with M-bit, $n_s with S-bit"

# Every station request must be ECP-acked by the bridge (same sequence).
acked=$(tb_ecp_frames "$BR_CAP" | awk -v st="$TB_MAC_ST" -v br="$TB_MAC_BR" '
	$2 == st && $3 == "req" { want[$4] = 1 }
	$2 == br && $3 == "ack" { got[$4] = 1 }
	END { n = 0; for (s in want) if (!(s in got)) n++; print n }')
[[ $acked == 0 ]] || tb_fail "$acked station ECP requests not acked by the bridge"

if [[ $quick == 0 ]]; then
	say "waiting for lldpad's unsolicited DE-ASSOCIATE of $U1 (~15.8 s)"
	sleep 14
	line=$(tb_vdp_wait "$BR_CAP" "$TB_MAC_BR" deassoc "$U1" 0 10)
	[[ " $line " == *" status=0x00 "* ]] || tb_fail "unsolicited de-associate status: $line"
	dt=$(awk -v a="$T_DEASSOC_RSP" -v b="${line%% *}" 'BEGIN { printf "%.3f", b - a }')
	say "bridge sent its own DE-ASSOCIATE (status 0x00) ${dt} s after answering the station's"
	# U2/U3 were kept alive by the station (every 10.49 s): no de-assoc.
	if tb_vdp_frames "$BR_CAP" | awk -v br="$TB_MAC_BR" -v a="${U2//-/}" -v b="${U3//-/}" \
		'$2 == br && $4 == "deassoc" && ($13 == "uuid=" a || $13 == "uuid=" b) { f = 1 } END { exit !f }'; then
		tb_fail "bridge de-associated a VSI the station kept alive"
	fi
fi

tb_capture_stop

if [[ -n $record ]]; then
	mkdir -p "$record"
	# One row per frame: "<epoch> <src> <hex> <kind> <decoded...>", kind is
	# lldp, ack or vdp; for vdp the tb_vdp_tlvs fields follow, so $5 is the
	# mode, $7 resp=, $8 m=, $9 s=, $14 uuid=.
	table="$TB_DIR/frames.txt"
	tb_frames_hex "$BR_CAP" | while read -r t src h; do
		case ${h:24:4} in
		88cc) kind=lldp ;;
		8940)
			if ((${#h} <= 36)); then
				kind=ack
			else
				kind="vdp $(tb_vdp_tlvs "${h:36}" | awk '$1 != "mgrid"' | tr '\n' ' ')"
			fi
			;;
		*) kind=other ;;
		esac
		printf '%s %s %s %s\n' "$t" "$src" "$h" "$kind"
	done >"$table"
	# pick NAME AWK_CONDITION: save the first matching frame as NAME.hex
	pick() {
		local name=$1 cond=$2 hex
		hex=$(awk "$cond { print \$3; exit }" "$table")
		[[ -n $hex ]] || tb_fail "record: no frame for $name"
		printf '%s\n' "$hex" >"$record/$name.hex"
		say "recorded $name.hex ($((${#hex} / 2)) octets)"
	}
	st="\$2 == \"$TB_MAC_ST\"" br="\$2 == \"$TB_MAC_BR\""
	u1="\$14 == \"uuid=${U1//-/}\"" u2="\$14 == \"uuid=${U2//-/}\"" u3="\$14 == \"uuid=${U3//-/}\""
	lldp='$4 == "lldp"' ack='$4 == "ack"' req='$7 == "resp=0"' rsp='$7 == "resp=1"'
	pick station-lldp-initial "$st && $lldp"
	pick bridge-lldp-initial "$br && $lldp"
	pick station-lldp "$st && $lldp && \$3 ~ /fe090080c20d030568b434/"
	pick bridge-lldp "$br && $lldp && \$3 ~ /fe090080c20d0305687434/"
	pick station-preassoc "$st && \$5 == \"preassoc\" && $u1"
	pick bridge-preassoc-resp "$br && \$5 == \"preassoc\" && $u1"
	pick station-assoc "$st && \$5 == \"assoc\" && $u1"
	pick bridge-assoc-plain-resp "$br && \$5 == \"assoc\" && $u1"
	pick station-assoc-m "$st && \$5 == \"assoc\" && $u2"
	pick bridge-assoc-resp "$br && \$5 == \"assoc\" && $u2"
	pick station-assoc-s "$st && \$5 == \"assoc\" && $u3"
	pick bridge-assoc-s-resp "$br && \$5 == \"assoc\" && $u3"
	pick station-deassoc "$st && \$5 == \"deassoc\" && $u1"
	pick bridge-deassoc-resp "$br && \$5 == \"deassoc\" && $rsp && $u1"
	pick bridge-unsolicited-deassoc "$br && \$5 == \"deassoc\" && $req && $u1"
	pick station-keepalive-m "$st && \$5 == \"assoc\" && $u2 && \$1 > $T_DEASSOC_RSP"
	pick ecp-ack "$br && $ack"
	pick station-ecp-ack "$st && $ack"
fi

say "PASS"

#!/bin/bash
# Integration: hostile input against a running vsimigd that holds a VSI
# associated with lldpad's bridge.  Malformed ECP/VDP/LLDP frames are
# injected on the wire from the bridge's namespace, and garbage is written
# to the control socket.  Each gets a log line or an error reply; the
# daemon does not crash, and the association and the bridge exchange are
# undisturbed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"

tb_init
tb_netns_pair
# The daemon first: lldpad's bridge sends its first LLDPDU ~1.2 s after it
# starts and then only every 30 s.
vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST"
tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR" bridge
vsm_wait_bridge 30

V=5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d
args=(--uplink "$TB_IF_ST" --mac 52:54:00:77:00:03 --type-id 9 --instance "$V")
vsm_ctl vdp associate "${args[@]}" >/dev/null || tb_fail "initial associate"

# --- malformed frames on the wire --------------------------------------------
DST=${TB_MAC_ST//:/}
SRC=${TB_MAC_BR//:/}                    # as if from the bridge: foreign sources are ignored
E="$DST$SRC"8940                       # unicast to the station, ECP
L="0180c200000e$SRC"88cc               # LLDP
MGR=0a107673696d696700000000000000000000
VSIID=${V//-/}
declare -A bad=(
  [ecp-truncated]="${E}10"
  [ecp-version-2]="${E}20010005"
  [ecp-reserved-op]="${E}1801ea61"
  [tlv-past-frame]="${E}1001ea6206ff4000000101"
  [tlv-header-cut]="${E}1001ea6306"
  [unknown-tlv-type]="${E}1001ea641404deadbeef"
  # VSI TLV body: status(1) typeid(3) version(1) VSIID format(1) VSIID(16)
  #               filter format(1) count(2) entries (MAC(6) + PS/PCP/VID(2))
  [wrong-vsiid-format]="${E}1001ea65${MGR}0621""40""000009""00""03""${VSIID}""02""0001""525400770003""0000"
  [filter-count-too-large]="${E}1001ea66${MGR}0621""40""000009""00""05""${VSIID}""02""ffff""525400770003""0000"
  [filter-len-mismatch]="${E}1001ea67${MGR}061f""40""000009""00""05""${VSIID}""02""0001""525400770003"
  [lldp-no-mandatory]="${L}0207040102030405"
  [lldp-tlv-past-end]="${L}0207040102030405060204ff"
)
big="${E}1001ea68"$(head -c 1490 /dev/zero | od -An -v -tx1 | tr -d ' \n' | sed 's/00/fe/g')
before=$(vsm_counter rx_bad)
for k in "${!bad[@]}"; do
  ip netns exec "$TB_NS_BR" python3 "$VSMTEST" inject "$TB_IF_BR" "${bad[$k]}"
done
ip netns exec "$TB_NS_BR" python3 "$VSMTEST" inject "$TB_IF_BR" "$big"
# a duplicate sequence number: the same de-associate (of an unknown VSI) twice
dup="${E}1001f00d${MGR}0821""00""000009""00""05""0123456789abcdef0123456789abcdef""02""0001""525400770099""0000"
ip netns exec "$TB_NS_BR" python3 "$VSMTEST" inject "$TB_IF_BR" "$dup" "$dup"
sleep 0.5
vsm_alive
after=$(vsm_counter rx_bad)
echo "rx_bad: $before -> $after"
[ $((after - before)) -ge 11 ] || tb_fail "only $((after - before)) bad frames counted, want >= 11"
[ "$(vsm_counter rx_ecp_duplicates)" -ge 1 ] || tb_fail "duplicate seq not detected"
grep -q "dropped frame" "$VSM_LOG" || tb_fail "no log line for bad frames"

# --- garbage on the control socket -------------------------------------------
deep=$(printf '%.0s[' $(seq 1 40))
python3 "$VSMTEST" control "$VSM_SOCK" \
  'not json' '{' '[]' '{"id":1,"method":"nope"}' \
  '{"id":2,"method":"vdp.request","params":{"uplink":"x"}}' \
  '{"id":3,"method":"vdp.request","params":{"uplink":"nosuch0","request":"associate","mac":"52:54:00:00:00:01","type_id":1,"instance":"'"$V"'"}}' \
  "$deep" '{"id":"x","method":"status"}' '@repeat:x:5000000' '{"id":4,"method":"status"}' > "$TB_DIR/replies.txt"
codes=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(d["error"]["code"] if "error" in d else "result")' "$TB_DIR/replies.txt" | tr '\n' ' ')
want="parse-error parse-error parse-error unknown-method invalid-params no-such-uplink parse-error invalid-request too-large result "
[ "$codes" = "$want" ] || { cat "$TB_DIR/replies.txt"; tb_fail "control replies: got '$codes' want '$want'"; }
echo "ok: control socket replies: $codes"

# --- nothing else disturbed ----------------------------------------------------
vsm_alive
state=$(vsm_ctl --json vdp list | vsm_json "[v['state'] for v in d['vsis'] if v['instance']=='$V'][0]")
[ "$state" = associated ] || tb_fail "VSI is '$state' after the bad input"
out=$(vsm_ctl --json vdp associate "${args[@]}" --migrated-to) || tb_fail "associate after bad input"
[ "$(echo "$out" | vsm_json 'd["result"]')" = ok ] || tb_fail "associate after bad input not ok"
echo "PASS: malformed frames and control garbage rejected; daemon and association intact"

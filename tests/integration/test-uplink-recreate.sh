#!/bin/bash
# Integration: an uplink whose interface is deleted and re-created under a
# running vsimigd, against lldpad in the bridge role (real peer).
#  1. VSI A associated (M), VSI B pre-associated, VSI C associated and then
#     de-associated: the bridge has A and B.
#  2. The uplink veth is deleted (its bridge-side end goes with it): status
#     says down ("interface deleted") at once, counted; a VDP request fails
#     fast with error uplink-down and says why; A and B are kept.
#  3. The veth is re-created (same names and MACs, new ifindex): the daemon
#     re-opens it from the link notification, LLDP with the EVB TLV goes out,
#     and once lldpad's bridge is seen again A (ASSOCIATE, M kept) and B
#     (PRE-ASSOCIATE) are sent again and answered ok by the bridge, on the
#     wire, before the bridge's keep-alive timer drops them (lldpad keeps
#     the port's VSIs across the re-creation); C is not.  Status says up,
#     counted, and the VSIs' states.
#  4. Carrier: the bridge end set down: status says down ("no carrier"),
#     back up: A and B are sent again.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"

tb_init
tb_netns_pair
vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST"
tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR" bridge
vsm_wait_bridge 30

MAC=52:54:00:78:00:01
A=1a2b3c4d-0000-4000-8000-0000000000a1
B=1a2b3c4d-0000-4000-8000-0000000000b2
C=1a2b3c4d-0000-4000-8000-0000000000c3
D=1a2b3c4d-0000-4000-8000-0000000000d4

vdp() { # vdp REQUEST INSTANCE [flags]: vsimigctl vdp, JSON on stdout
  local r=$1 inst=$2; shift 2
  vsm_ctl --json vdp "$r" --uplink "$TB_IF_ST" --mac "$MAC" --vlan 0 --type-id 4711 --type-version 1 \
    --instance "$inst" "$@"
}
ok() { # ok REQUEST INSTANCE [flags]
  local out
  out=$(vdp "$@") || { echo "$out"; tb_fail "vdp $* failed"; }
  [ "$(echo "$out" | vsm_json 'd["result"]')" = ok ] || { echo "$out"; tb_fail "vdp $*: not ok"; }
}
up_field() { vsm_ctl --json status | vsm_json "d['uplinks'][0]$1"; }
vsi_state() { vsm_ctl --json vdp list | vsm_json "[v['state'] for v in d['vsis'] if v['instance'] == '$1'][0]"; }
wait_status() { # wait_status PY_EXPR_OVER_UPLINK WANT TIMEOUT_S
  local i got
  for i in $(seq 1 $(($3 * 10))); do
    got=$(up_field "$1")
    [ "$got" = "$2" ] && return 0
    sleep 0.1
  done
  vsm_ctl status >&2 || true
  tb_fail "status: $1 is '$got', want '$2' after $3 s"
}

# --- 1. the VSIs ----------------------------------------------------------------
ok associate "$A" --migrated-to
ok pre-associate "$B"
ok associate "$C"
ok de-associate "$C"
[ "$(up_field "['up']")" = True ] || tb_fail "uplink not up before the test"
vsm_ctl --json vdp list | vsm_json 'd["vsis"]' >/dev/null || tb_fail "vdp list --json failed"
IFINDEX0=$(up_field "['ifindex']")

# --- 2. delete ------------------------------------------------------------------
ip -n "$TB_NS_ST" link del "$TB_IF_ST"
wait_status "['up']" False 5
reason=$(up_field "['down_reason']")
case $reason in *"interface deleted"*) ;; *) tb_fail "down_reason '$reason' does not say the interface was deleted" ;; esac
[ "$(up_field "['counters']['link_deleted']")" = 1 ] || tb_fail "link_deleted not counted"
human=$(vsm_ctl status)
echo "$human" | grep -q "DOWN (interface deleted" || { echo "$human"; tb_fail "vsimigctl status does not say DOWN"; }
echo "ok: status says down: $reason"

# A request now fails at once, with the reason.
if out=$(vdp associate "$D" 2>&1); then
  echo "$out"; tb_fail "a VDP request on the deleted uplink succeeded"
fi
case $out in *uplink-down*"is down (interface deleted"*) ;; *) echo "$out"; tb_fail "the request's error does not say the uplink is down" ;; esac
echo "ok: request fails fast: $(echo "$out" | grep -m1 -o 'uplink .* is down[^"]*')"
[ "$(vsi_state "$A")" = associated ] || tb_fail "A not kept while the uplink is gone"
[ "$(vsi_state "$B")" = pre-associated ] || tb_fail "B not kept while the uplink is gone"
sleep 1
[ "$(up_field "['up']")" = False ] || tb_fail "status says up while the interface is gone"

# --- 3. re-create -----------------------------------------------------------------
ip -n "$TB_NS_ST" link add "$TB_IF_ST" address "$TB_MAC_ST" type veth \
  peer name "$TB_IF_BR" address "$TB_MAC_BR" netns "$TB_NS_BR"
PCAP=$TB_DIR/bridge-after.pcap
ip -n "$TB_NS_BR" link set "$TB_IF_BR" up
tb_capture_start "$TB_NS_BR" "$TB_IF_BR" "$PCAP"
ip -n "$TB_NS_ST" link set "$TB_IF_ST" up
wait_status "['up']" True 10
[ "$(up_field "['ifindex']")" != "$IFINDEX0" ] || tb_fail "ifindex unchanged: not re-opened"
[ "$(up_field "['counters']['link_reopened']")" = 1 ] || tb_fail "link_reopened not counted"
echo "ok: re-opened (ifindex $IFINDEX0 -> $(up_field "['ifindex']"))"

# The bridge answers A's ASSOCIATE (M) and B's PRE-ASSOCIATE, on the wire.
line=$(tb_vdp_wait "$PCAP" "$TB_MAC_ST" assoc "$A" 0 40)
case $line in *" m=1 "*) ;; *) tb_fail "A re-sent without its M-bit: $line" ;; esac
line=$(tb_vdp_wait "$PCAP" "$TB_MAC_BR" assoc "$A" 1 10)
case $line in *" err=0 "*) ;; *) tb_fail "bridge did not accept A again: $line" ;; esac
line=$(tb_vdp_wait "$PCAP" "$TB_MAC_BR" preassoc "$B" 1 10)
case $line in *" err=0 "*) ;; *) tb_fail "bridge did not accept B again: $line" ;; esac
wait_status "['counters']['vsis_resent']" 2 5
# Sent again as soon as the bridge was seen, not repaired after lldpad's
# bridge dropped them (it keeps a port's VSIs across the re-creation and
# de-associates them 15.76 s after the last keep-alive).
[ "$(up_field "['counters']['vdp_bridge_deassoc']")" = 0 ] ||
  tb_fail "the bridge de-associated a VSI: it was not sent again in time"
[ "$(vsi_state "$A")" = associated ] || tb_fail "A not associated after re-creation"
[ "$(vsi_state "$B")" = pre-associated ] || tb_fail "B not pre-associated after re-creation"
[ "$(vsi_state "$C")" = none ] || tb_fail "C (de-associated) changed state"
sleep 1
if tb_vdp_frames "$PCAP" | awk -v s="$TB_MAC_ST" '$2 == s' | grep -q "uuid=${C//-/}"; then
  tb_fail "C, de-associated before the link went away, was sent again"
fi
grep -q "uplink up (ifindex .*): re-opened" "$VSM_LOG" || tb_fail "no log line for the re-opened uplink"
echo "ok: A and B associated again on the bridge, C left alone"

# --- 4. carrier ----------------------------------------------------------------------
resent=$(up_field "['counters']['vsis_resent']")
lost=$(up_field "['counters']['carrier_lost']")
ip -n "$TB_NS_BR" link set "$TB_IF_BR" down
wait_status "['up']" False 5
reason=$(up_field "['down_reason']")
[ "$reason" = "no carrier" ] || tb_fail "down_reason '$reason', want 'no carrier'"
[ "$(up_field "['counters']['carrier_lost']")" = $((lost + 1)) ] || tb_fail "carrier_lost not counted"
ip -n "$TB_NS_BR" link set "$TB_IF_BR" up
wait_status "['up']" True 5
wait_status "['counters']['vsis_resent']" $((resent + 2)) 20
[ "$(vsi_state "$A")" = associated ] || tb_fail "A not associated after the carrier came back"
echo "ok: carrier down and up followed"

vsm_alive
tb_capture_stop
echo "PASS"

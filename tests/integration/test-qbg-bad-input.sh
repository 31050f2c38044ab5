#!/bin/bash
# Integration: vsimigd as libvirt's 802.1Qbg agent ([qbg] serve-libvirt),
# against lldpad's bridge role, with hostile netlink input.  A libvirt-like
# client (lib/qbgnl.py, the messages of virnetdevvportprofile.c) sends:
# - a SETLINK before EVB is negotiated (-EPROTONOSUPPORT);
# - malformed, truncated and oversized requests, requests naming no uplink,
#   a second VSI for a MAC that has one, a GETLINK for a foreign interface;
# - requests from a non-root sender (-EPERM);
# each gets its error, the daemon keeps serving, and a good ASSOCIATE /
# DISASSOCIATE afterwards is answered with the bridge's real answer.  Also:
# the pid file holds our pid (= the bound netlink port), is re-asserted
# when overwritten and removed at exit; vsimigd refuses to start when the
# pid file names another live process.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"
QBGNL=$HERE/lib/qbgnl.py
# The non-root sender cannot use a python3 shim under /root.
PY_SYS=/usr/bin/python3
[ -x "$PY_SYS" ] || PY_SYS=$(command -v python3)

tb_init
tb_netns_pair
PIDFILE=$TB_DIR/lldpad.pid

# --- refused while "lldpad" (here: this shell) holds the pid file ------------
echo "$$" > "$PIDFILE"
cat > "$TB_DIR/refuse.conf" <<CONF
[vdp]
uplinks = $TB_IF_ST
[control]
socket = $TB_DIR/refuse.sock
[libvirt]
enabled = false
[qbg]
serve-libvirt = true
pid-file = $PIDFILE
CONF
rc=0
out=$(ip netns exec "$TB_NS_ST" "$VSIMIGD" --config "$TB_DIR/refuse.conf" 2>&1) || rc=$?
[ "$rc" = 1 ] || tb_fail "vsimigd started (rc $rc) although $PIDFILE names live pid $$"
echo "$out" | grep -q "names a running process, $$" || tb_fail "no clear refusal: $out"
echo "$out" | grep -q "lldpad.socket" || tb_fail "the refusal does not say how to keep lldpad: $out"
[ "$(cat "$PIDFILE")" = "$$" ] || tb_fail "the refused vsimigd touched the pid file"
echo "ok: refused to start beside a live pid-file owner"
rm -f "$PIDFILE"
# lldpad's client socket bound in this netns (lldpad.socket would start it)
ip netns exec "$TB_NS_ST" python3 -c '
import socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0/com/intel/lldpad")
print("bound", flush=True)
time.sleep(30)' > "$TB_DIR/abstract.txt" &
APID=$!
tb_track_pid "$APID" lldpad-socket-holder
for i in $(seq 1 50); do grep -q bound "$TB_DIR/abstract.txt" 2>/dev/null && break; sleep 0.1; done
rc=0
out=$(ip netns exec "$TB_NS_ST" "$VSIMIGD" --config "$TB_DIR/refuse.conf" 2>&1) || rc=$?
[ "$rc" = 1 ] || tb_fail "vsimigd started (rc $rc) although @/com/intel/lldpad is bound"
echo "$out" | grep -q "lldpad's socket @/com/intel/lldpad is bound" || tb_fail "no clear refusal: $out"
[ ! -e "$PIDFILE" ] || tb_fail "the refused vsimigd wrote the pid file"
kill "$APID"; wait "$APID" 2>/dev/null || true
echo "ok: refused to start while lldpad's socket is bound"

vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST" "[libvirt]
enabled = false
[qbg]
serve-libvirt = true
pid-file = $PIDFILE"
# written once the agent serves, just after the control socket appears
for i in $(seq 1 100); do [ -s "$PIDFILE" ] && break; sleep 0.05; done
PORT=$(cat "$PIDFILE")
[ "$PORT" = "$VSM_PID" ] || tb_fail "pid file holds '$PORT', vsimigd is $VSM_PID"
grep -q "netlink port $VSM_PID" "$VSM_LOG" || tb_fail "agent did not bind port $VSM_PID"

V=6c0e1a7d-2b3c-4d5e-8f90-0a6107004201
MAC=52:54:00:61:07:42
nl() { ip netns exec "$TB_NS_ST" python3 "$QBGNL" "$@"; }
expect() {   # expect WHAT WANT OUTPUT
  [ "$3" = "$2" ] || tb_fail "$1: got '$3', want '$2'"
  echo "ok: $1 -> $3"
}

# Before the bridge's EVB TLV: lldpad answers -EPROTONOSUPPORT.
expect "associate before EVB" "error -93" "$(nl setlink "$PORT" "$TB_IF_ST" associate "$MAC" 0 "$V")"

tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR" bridge
vsm_wait_bridge 30

# --- bad input ------------------------------------------------------------------
IFX=$(ip netns exec "$TB_NS_ST" cat "/sys/class/net/$TB_IF_ST/ifindex")
hex() { python3 -c "import sys; sys.path.insert(0, '$HERE/lib'); import qbgnl; $1"; }
good=$(hex "print(qbgnl.setlink_msg('$TB_IF_ST', 2, '$MAC', '0', '$V', ifindex=$IFX).hex())")
# nlmsg_len (first 4 octets, host order) larger than the datagram
long_len=$(hex "import struct; m=bytes.fromhex('$good'); print((struct.pack('=I', len(m)+40)+m[4:]).hex())")
# the datagram cut in the middle of an attribute
truncated=${good:0:100}
# an attribute whose length runs past the message (IFLA_IFNAME at offset 32)
bad_nla=$(hex "import struct; m=bytearray.fromhex('$good'); struct.pack_into('=H', m, 32, 2000); print(m.hex())")
oversized=$(hex "import struct; m=bytes.fromhex('$good')+bytes(5000); print((struct.pack('=I', len(m))+m[4:]).hex())")
newlink=$(hex "import struct; m=bytearray.fromhex('$good'); struct.pack_into('=H', m, 4, 16); print(m.hex())")
ten_ports=$(hex "
import struct
q = qbgnl
p = q.nest(q.IFLA_VF_PORT, q.nla(q.IFLA_PORT_REQUEST, b'\x02'))
body = q.ifinfo($IFX) + q.nla(q.IFLA_IFNAME, b'$TB_IF_ST\0') + q.nest(q.IFLA_VF_PORTS, *([p] * 10))
print(q.nlmsg(q.RTM_SETLINK, 1, 9, 0, body).hex())")
expect "header only, 8 octets" "noreply" "$(nl raw "$PORT" "${good:0:16}")"
expect "nlmsg_len past datagram" "error -22" "$(nl raw "$PORT" "$long_len")"
expect "truncated attribute" "error -22" "$(nl raw "$PORT" "$truncated")"
expect "attribute length past end" "error -22" "$(nl raw "$PORT" "$bad_nla")"
expect "oversized request" "error -90" "$(nl raw "$PORT" "$oversized")"
expect "RTM_NEWLINK" "error -95" "$(nl raw "$PORT" "$newlink")"
expect "ten IFLA_VF_PORTs" "error -22" "$(nl raw "$PORT" "$ten_ports")"
expect "VID 5000" "error -22" "$(nl setlink "$PORT" "$TB_IF_ST" associate "$MAC" 5000 "$V")"
expect "MAC without VID" "error -22" "$(nl setlink "$PORT" "$TB_IF_ST" associate "$MAC" - "$V")"
expect "request 7" "error -22" "$(nl setlink "$PORT" "$TB_IF_ST" 7 "$MAC" 0 "$V")"
expect "not an uplink (lo)" "error -19" "$(nl setlink "$PORT" lo associate "$MAC" 0 "$V")"
expect "GETLINK of lo" "error -19" "$(nl getlink "$PORT" 1)"
# A non-root sender.  Without CAP_NET_ADMIN the kernel itself refuses a
# unicast to our port (netlink_sendmsg: no NL_CFG_F_NONROOT_SEND for
# NETLINK_ROUTE); with it (a service running as a user with the capability)
# the message arrives and the agent refuses uid != 0.  A copy of the client
# the user can read:
install -m 0644 "$QBGNL" "$TB_DIR/qbgnl.py"
asuser() { ip netns exec "$TB_NS_ST" setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
capuser() { asuser --inh-caps=+net_admin --ambient-caps=+net_admin "$@"; }
asuser "$PY_SYS" "$TB_DIR/qbgnl.py" setlink "$PORT" "$TB_IF_ST" associate "$MAC" 0 "$V" 2>"$TB_DIR/eperm.txt" &&
  tb_fail "an unprivileged sender reached the agent"
grep -q "Operation not permitted" "$TB_DIR/eperm.txt" || tb_fail "unprivileged send: $(cat "$TB_DIR/eperm.txt")"
echo "ok: unprivileged sender refused by the kernel"
expect "non-root SETLINK (CAP_NET_ADMIN)" "error -1" \
  "$(capuser "$PY_SYS" "$TB_DIR/qbgnl.py" setlink "$PORT" "$TB_IF_ST" associate "$MAC" 0 "$V")"
expect "non-root GETLINK (CAP_NET_ADMIN)" "error -1" \
  "$(capuser "$PY_SYS" "$TB_DIR/qbgnl.py" getlink "$PORT" "$IFX")"
vsm_alive

# --- good requests still work: libvirt's boot ASSOCIATE --------------------------
# The first poll (right after the SETLINK, as libvirt does) is held until
# the bridge has answered: no 125 ms poll.
out=$(nl poll "$PORT" "$TB_IF_ST" associate "$MAC" 0 "$V")
case $out in "response 0 polls 1 "*) echo "ok: associate after the bad input: $out" ;;
  *) tb_fail "associate after the bad input: $out" ;; esac
grep -q "libvirt ASSOCIATE of VSI $V: success, the bridge's answer" "$VSM_LOG" ||
  tb_fail "the SUCCESS was not the bridge's answer"
vsi_field() { vsm_ctl --json vdp list | vsm_json "[v['$2'] for v in d['vsis'] if v['instance']=='$1'][0]"; }
state=$(vsi_field "$V" state)
[ "$state" = associated ] || tb_fail "VSI is '$state' after libvirt's ASSOCIATE"
# a boot ASSOCIATE carries no hint
[ "$(vsi_field "$V" flags)" = "[]" ] || tb_fail "boot ASSOCIATE sent with hints $(vsi_field "$V" flags)"
# the same again: idempotent, answered at once
expect "repeated ASSOCIATE" "response 0 polls 1" "$(nl poll "$PORT" "$TB_IF_ST" associate "$MAC" 0 "$V" | cut -d' ' -f1-4)"
# a second VSI for the same NIC (MAC) is refused
expect "second VSI for $MAC" "error -17" \
  "$(nl setlink "$PORT" "$TB_IF_ST" associate "$MAC" 0 7d1f2b8e-3c4d-4e5f-9a01-1b7218115312)"
# An incoming migration: libvirt's Prepare PRE-ASSOCIATE goes with the M-bit,
# and so does its Finish ASSOCIATE.
W=9f314da0-5e6f-4a71-bc23-3d943a337534
out=$(nl poll "$PORT" "$TB_IF_ST" preassociate 52:54:00:61:07:43 0 "$W")
case $out in "response 0 polls 1 "*) ;; *) tb_fail "preassociate: $out" ;; esac
[ "$(vsi_field "$W" state)/$(vsi_field "$W" flags)" = "pre-associated/['migrated-to']" ] ||
  tb_fail "after PREASSOCIATE: $(vsi_field "$W" state)/$(vsi_field "$W" flags)"
out=$(nl poll "$PORT" "$TB_IF_ST" associate 52:54:00:61:07:43 0 "$W")
case $out in "response 0 polls 1 "*) ;; *) tb_fail "finish associate: $out" ;; esac
[ "$(vsi_field "$W" state)/$(vsi_field "$W" flags)" = "associated/['migrated-to']" ] ||
  tb_fail "after Finish ASSOCIATE: $(vsi_field "$W" state)/$(vsi_field "$W" flags)"
echo "ok: PRE-ASSOCIATE and the Finish ASSOCIATE went with the M-bit"

# vsimigd's own ASSOCIATE (M) at SWITCHOVER comes before libvirt's Finish
# ASSOCIATE (here sent through the control socket, as the follower does,
# with lldpad's Manager ID encoding): the Finish then gets the bridge's
# answer to that request at once, and nothing more goes on the wire.
X=a0425eb1-6f70-4b82-8d34-4ea54b448645
out=$(nl poll "$PORT" "$TB_IF_ST" preassociate 52:54:00:61:07:44 0 "$X")
case $out in "response 0 polls 1 "*) ;; *) tb_fail "preassociate X: $out" ;; esac
python3 "$VSMTEST" control "$VSM_SOCK" '{"id":1,"method":"vdp.request","params":{"uplink":"'"$TB_IF_ST"'",'\
'"request":"associate","mac":"52:54:00:61:07:44","type_id":1193047,"type_version":2,"instance":"'"$X"'",'\
'"manager":"\u000b","flags":["migrated-to"]}}' | grep -q '"result":"ok"' || tb_fail "switchover ASSOCIATE (M) failed"
tx0=$(vsm_counter tx_ecp_requests)
at0=$(vsm_ctl --json status | vsm_json "d['qbg_agent']['counters']['answered_at_once']")
out=$(nl poll "$PORT" "$TB_IF_ST" associate 52:54:00:61:07:44 0 "$X")
case $out in "response 0 polls 1 "*) ;; *) tb_fail "finish associate X: $out" ;; esac
sleep 0.2
[ "$(vsm_counter tx_ecp_requests)" = "$tx0" ] || tb_fail "libvirt's Finish ASSOCIATE went on the wire again"
[ "$(vsm_ctl --json status | vsm_json "d['qbg_agent']['counters']['answered_at_once']")" = $((at0 + 1)) ] ||
  tb_fail "the Finish ASSOCIATE was not answered from the switchover's answer"
grep -q "libvirt ASSOCIATE of VSI $X: success, answered by the bridge before" "$VSM_LOG" ||
  tb_fail "no log line for the Finish answered from the switchover"
echo "ok: the Finish ASSOCIATE got the bridge's answer to the switchover's ASSOCIATE (M), nothing re-sent"
# a VSI we don't manage: DISASSOCIATE is passed to the bridge and answered
out=$(nl poll "$PORT" "$TB_IF_ST" disassociate 52:54:00:61:07:99 0 8e203c9f-4d5e-4f60-ab12-2c8329226423)
case $out in "response 0 polls 1 "*) echo "ok: disassociate of an unknown VSI: $out" ;;
  *) tb_fail "disassociate of an unknown VSI: $out" ;; esac

st=$(vsm_ctl --json status)
c() { echo "$st" | vsm_json "d['qbg_agent']['counters']['$1']"; }
[ "$(c err_malformed)" -ge 8 ] || tb_fail "err_malformed $(c err_malformed) < 8"
[ "$(c err_invalid)" -ge 3 ] || tb_fail "err_invalid $(c err_invalid) < 3"
[ "$(c err_not_root)" = 2 ] || tb_fail "err_not_root $(c err_not_root) != 2"
[ "$(c err_no_such_uplink)" -ge 2 ] || tb_fail "err_no_such_uplink $(c err_no_such_uplink) < 2"
[ "$(c err_evb_not_negotiated)" = 1 ] || tb_fail "err_evb_not_negotiated $(c err_evb_not_negotiated) != 1"
[ "$(echo "$st" | vsm_json "d['qbg_agent']['pid_file_ok']")" = True ] || tb_fail "status: pid file not ok"
echo "ok: counters $(echo "$st" | vsm_json "d['qbg_agent']['counters']")"
vsm_ctl status | grep -q "^802.1Qbg agent for libvirt: netlink port $VSM_PID bound, pid file $PIDFILE ok" ||
  { vsm_ctl status; tb_fail "vsimigctl status does not show the agent"; }
vsm_ctl status | grep -q "refused: 8 malformed, 3 invalid, 2 not root" || tb_fail "status: no refusal counts"

# --- the bridge de-associates: libvirt's event port hears of it --------------
# W was associated through netlink with event port EVPORT.  A DE-ASSOCIATE
# from the bridge (injected from its side, its MAC) makes the agent send
# lldpad's notice (RTM_SETLINK, request 3, header pid = ours) to EVPORT.
EVPORT=$((0x21000000 + $$))
export QBGNL_EVPORT=$EVPORT
out=$(nl poll "$PORT" "$TB_IF_ST" associate 52:54:00:61:07:43 0 "$W")
case $out in "response 0 polls 1 "*) ;; *) tb_fail "re-associate with the event port: $out" ;; esac
bridge_deassoc() {   # bridge_deassoc UUID MAC SEQ: the bridge's own DE-ASSOCIATE TLV
  local vsiid=${1//-/} mac=${2//:/}
  echo "${TB_MAC_ST//:/}${TB_MAC_BR//:/}8940""1001$3""0a10""0b000000000000000000000000000000"\
"0821""00""123457""02""05""$vsiid""02""0001""$mac""0000"
}
nl listen "$EVPORT" 3 > "$TB_DIR/notices.txt" &
LPID=$!
tb_track_pid "$LPID" listener
for i in $(seq 1 30); do grep -q listening "$TB_DIR/notices.txt" 2>/dev/null && break; sleep 0.1; done
ip netns exec "$TB_NS_BR" python3 "$VSMTEST" inject "$TB_IF_BR" "$(bridge_deassoc "$W" 52:54:00:61:07:43 be01)"
# libvirt asked for V's DE-ASSOCIATE itself: a bridge DE-ASSOCIATE after it
# must not be passed on (no spurious notices).
out=$(nl poll "$PORT" "$TB_IF_ST" disassociate "$MAC" 0 "$V")
case $out in "response 0 "*) echo "ok: disassociate: $out" ;; *) tb_fail "disassociate: $out" ;; esac
ip netns exec "$TB_NS_BR" python3 "$VSMTEST" inject "$TB_IF_BR" "$(bridge_deassoc "$V" "$MAC" be02)"
wait "$LPID" || true
cat "$TB_DIR/notices.txt"
grep -q "^notice from $VSM_PID request 3 mac 52:54:00:61:07:43 uuid $W\$" "$TB_DIR/notices.txt" ||
  tb_fail "no DE-ASSOCIATE notice for $W at libvirt's event port"
[ "$(grep -c '^notice' "$TB_DIR/notices.txt")" = 1 ] || tb_fail "spurious notices"
grep -q "bridge de-associated VSI $W: told libvirt (port $EVPORT)" "$VSM_LOG" || tb_fail "no log line for the notice"
echo "ok: bridge DE-ASSOCIATE passed on to libvirt's event port, none for libvirt's own"
unset QBGNL_EVPORT

# --- the pid file: re-asserted, removed at exit -------------------------------
echo 1 > "$PIDFILE"
for i in $(seq 1 80); do [ "$(cat "$PIDFILE" 2>/dev/null)" = "$VSM_PID" ] && break; sleep 0.1; done
[ "$(cat "$PIDFILE")" = "$VSM_PID" ] || tb_fail "pid file not re-asserted"
grep -q "changed (it held 1): writing our pid" "$VSM_LOG" || tb_fail "no log line for the re-assertion"
vsm_alive
kill -TERM "$VSM_PID"
for i in $(seq 1 50); do kill -0 "$VSM_PID" 2>/dev/null || break; sleep 0.1; done
[ ! -e "$PIDFILE" ] || tb_fail "pid file left behind at exit"
echo "PASS: the 802.1Qbg agent refuses bad netlink input clearly and keeps serving"

# shellcheck shell=bash
# The hook-fed testbed without libvirt (hb_world, hb_attach, hb_daemon build it) shared by test-direct.sh, test-vlan.sh,
# test-vlan-unknown.sh, test-switchover-changes.sh and test-conntrack-dest.sh:
# vsimigd in <id>-h with [libvirt] enabled = false (the domain exists only as
# the hook calls libvirt would make), a keyed source (lib/peerauth.py
# keyed-source) in <id>-src on mg1 <-> mg0, optionally the uplink's far end
# sw0 in <id>-sw.  Source after lib/testbed.sh and lib/vsimigd.sh.
#
# The test sets, before calling these: NAME, MAC, DST_IP, SRC_IP, SRC_PORT;
# after hb_init: NS_H, NS_SRC (and NS_SW) are set.  Failures are collected
# with nfail and reported by hb_finish (every assertion is evaluated).
HB__LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PA_PY=$HB__LIB/peerauth.py
CARRY_PY=$HB__LIB/carry.py

# shellcheck source-path=SCRIPTDIR source=fails.sh
. "$HB__LIB/fails.sh"

# hb_init TAG: the say/nfail helpers tagged TAG, T_ALL, FAILS (lib/fails.sh).
hb_init() { fails_init "$1"; }

# hb_netns NS...: create each network namespace (lo up, no IPv6), cleaned up by testbed.sh.
hb_netns() {
  local ns
  for ns in "$@"; do
    ip netns add "$ns" || tb_fail "cannot create netns $ns"
    TB__NETNS+=("$ns")
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
}

# hb_mgmt: the migration link mg0 ($DST_IP/30 in $NS_H) <-> mg1 ($SRC_IP/30 in $NS_SRC), not yet up.
hb_mgmt() {
  ip -n "$NS_H" link add mg0 type veth peer name mg1 netns "$NS_SRC"
  ip -n "$NS_H" addr add "$DST_IP/30" dev mg0
  ip -n "$NS_SRC" addr add "$SRC_IP/30" dev mg1
}

# hb_key: KEY, the [peer] key-file (32 random bytes).
hb_key() {
  KEY=$TB_DIR/peer.key
  (umask 077 && head -c 32 /dev/urandom >"$KEY") || tb_fail "cannot write $KEY"
}

# hb_source_start STATE_JSON SWITCHOVER_JSON: the keyed source in $NS_SRC with a
# fresh TOKEN (set before), sending the STATE, then the SWITCHOVER once $GO exists.
hb_source_start() {
  local i
  GO=$TB_DIR/go SRC_LOG=$TB_DIR/source.log
  ip netns exec "$NS_SRC" python3 "$PA_PY" keyed-source "$SRC_IP" "$SRC_PORT" "$KEY" "$TOKEN" "$SRC_LOG" \
    "$1" "$2" "$GO" &
  SRC_PID=$!
  tb_track_pid "$SRC_PID" keyed-source
  for ((i = 0; i < 50; i++)); do grep -q '^listening' "$SRC_LOG" 2>/dev/null && break; sleep 0.1; done
  grep -q '^listening' "$SRC_LOG" || tb_fail "the keyed source does not listen: $(cat "$SRC_LOG" 2>/dev/null)"
}

# hb_token: TOKEN, the migration token the source and the metadata share.
hb_token() { TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'); }

# hb_ctl_conf: $TB_DIR/ctl.conf pointing vsimigctl at the daemon's socket.
hb_ctl_conf() { printf '[control]\nsocket = %s\n' "$VSM_SOCK" >"$TB_DIR/ctl.conf"; }

# hook OP PHASE: vsimigctl hook $NAME OP PHASE with $TB_DIR/dom.xml; refused = test failure.
hook() {
  "$VSIMIGCTL" --config "$TB_DIR/ctl.conf" hook "$NAME" "$1" "$2" - <"$TB_DIR/dom.xml" >"$TB_DIR/hook-$1.out" 2>&1 ||
    tb_fail "hook $1 $2 refused: $(cat "$TB_DIR/hook-$1.out")"
}
show() { vsm_ctl --json show "$NAME" 2>/dev/null; }

# hb_hooks_state: the hooks migrate, prepare, start (begin), then wait (10 s) for the source's STATE.
hb_hooks_state() {
  local op i
  hb_ctl_conf
  for op in migrate prepare start; do hook "$op" begin; done
  for ((i = 0; i < 100; i++)); do
    show | python3 "$CARRY_PY" timeline 0 '^peer: state of 1 vNIC' >/dev/null && break
    sleep 0.1
  done
  show | python3 "$CARRY_PY" timeline 0 '^peer: state of 1 vNIC' >/dev/null ||
    tb_fail "vsimigd did not take the source's STATE within 10 s; source: $(tr '\n' ' ' <"$SRC_LOG")"
  say "hooks done, STATE taken; the source sends the SWITCHOVER"
}

# hb_switchover NOTE_RE: let the source send the SWITCHOVER, wait (10 s) for a timeline
# note NOTE_RE, stop the capture $PCAP; leaves T0, $TB_DIR/show.json, status.json, SUSP.
hb_switchover() {
  local i
  T0=$(date +%s.%N)
  : >"$GO"
  for ((i = 0; i < 100; i++)); do
    show | python3 "$CARRY_PY" timeline "$T0" "$1" >/dev/null && break
    sleep 0.1
  done
  sleep 0.5 # frames still on their way to the capture
  tb_capture_stop "$PCAP"
  say "timeline since the SWITCHOVER:"
  show | python3 "$CARRY_PY" timeline "$T0" | sed 's/^/  /' || true
  show >"$TB_DIR/show.json" || true
  vsm_ctl --json status >"$TB_DIR/status.json" 2>/dev/null || true
  SUSP=$(sed -n 's/^switchover sent at \([0-9]*\)$/\1/p' "$SRC_LOG")
  [[ -n $SUSP ]] || tb_fail "the source did not send the SWITCHOVER: $(tr '\n' ' ' <"$SRC_LOG")"
}

# hb_report OUT: the lines of a checker's output: "FAIL: x" -> nfail x, others said.
hb_report() {
  local line
  while IFS= read -r line; do
    case $line in
    FAIL:*) nfail "${line#FAIL: }" ;;
    *) say "${line#info: }" ;;
    esac
  done <<<"$1"
}

# hb_finish: vsimigd still alive, stopped, no sanitizer report; the failures listed (exit 1) or PASS.
hb_finish() {
  kill -0 "$VSM_PID" 2>/dev/null || nfail "vsimigd died; log tail: $(tail -5 "$VSM_LOG")"
  tb__kill_pid "$VSM_PID" TERM 5
  tb__untrack_pid "$VSM_PID"
  grep -E 'Sanitizer|runtime error:' "$VSM_LOG" && nfail "sanitizer report in vsimigd's log"

  say "done in $(( ($(date +%s%N) - T_ALL) / 1000000 )) ms"
  if ((${#FAILS[@]})); then
    printf 'FAILED (%d):\n' "${#FAILS[@]}"
    printf '  - %s\n' "${FAILS[@]}"
    exit 1
  fi
  echo "PASS"
}

# hb_uplink UP0_MAC SW0_MAC: up0 in $NS_H, a veth whose far end sw0 is in $NS_SW.
hb_uplink() {
  ip -n "$NS_H" link add up0 address "$1" type veth peer name sw0 address "$2" netns "$NS_SW"
}

# hb_nic SERVER IP... -- GROUP...: a vNIC state (peer JSON) of $MAC with those addresses
# and IGMPv3 groups; with SERVER a DHCP lease of the first address from SERVER
# (client-id: none), with SERVER "-" no lease (client-id: unknown).
hb_nic() {
  python3 -c '
import json, sys, time
srv, a = sys.argv[2], sys.argv[3:]
i = a.index("--")
d = {"mac": sys.argv[1], "client_id": {"state": "unknown" if srv == "-" else "none"}, "ip4": a[:i], "ip6": []}
if srv != "-":
    d["lease"] = {"address": a[0], "server_id": srv, "lease_time": 3600, "ack_time": int(time.time() * 1e6)}
d["groups"] = [{"address": g, "version": "igmpv3", "mode": "exclude", "sources": []} for g in a[i + 1:]]
print(json.dumps(d))
' "$MAC" "$@"
}

# hb_world MAC_PREFIX: tb_init, the tool checks, NS_H/NS_SW/NS_SRC, their
# namespaces, the uplink up0 <-> sw0 (MAC_PREFIX:10, MAC_PREFIX:11) and the
# migration link (not yet up).
hb_world() {
  tb_init
  command -v python3 >/dev/null || tb_skip_or_fail "missing tool: python3 (tests/deps.sh)"
  [[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
  NS_H=$TB_ID-h NS_SW=$TB_ID-sw NS_SRC=$TB_ID-src
  hb_netns "$NS_H" "$NS_SW" "$NS_SRC"
  hb_uplink "$1:10" "$1:11"
  hb_mgmt
}

# hb_attach direct|bridge: the vNIC's way out in $NS_H, every link up:
# direct: the macvtap mvt0 ($MAC, vepa) on up0; bridge: br0 (snooping) with
# up0 and the tap stand-in t0 (veth t0 <-> p0).
hb_attach() {
  local l links
  if [[ $1 == direct ]]; then
    ip -n "$NS_H" link add link up0 name mvt0 address "$MAC" type macvtap mode vepa
    links="mg0 up0 mvt0"
  else
    ip -n "$NS_H" link add br0 type bridge mcast_snooping 1
    ip -n "$NS_H" link add t0 type veth peer name p0
    for l in up0 t0; do ip -n "$NS_H" link set "$l" master br0; done
    links="mg0 up0 t0 p0 br0"
  fi
  for l in $links; do ip -n "$NS_H" link set "$l" up; done
  ip -n "$NS_SRC" link set mg1 up
  ip -n "$NS_SW" link set sw0 up
  tb_wait_link_up "$NS_SW" sw0
  tb_wait_link_up "$NS_SRC" mg1
  if [[ $1 == direct ]]; then tb_wait_link_up "$NS_H" up0; else tb_wait_link_up "$NS_H" t0; fi
}

# hb_daemon direct|bridge MDB [REPLAY_LINE]: hb_key, then vsimigd on up0
# (without libvirt, the peer listener at $DST_IP:$PEER_PORT keyed by $KEY,
# replay on with mdb = MDB and no query after resume, plus REPLAY_LINE);
# bridge: [bridges] br0 = up0.
hb_daemon() {
  local conf=""
  hb_key
  [[ $1 == bridge ]] && conf="[bridges]
br0 = up0
"
  conf+="[libvirt]
enabled = false
[peer]
listen = $DST_IP:$PEER_PORT
key-file = $KEY
[replay]
enabled = true
mdb = $2
query-after-resume = false"
  [[ -n ${3:-} ]] && conf+="
$3"
  vsm_daemon_start "$NS_H" up0 "$conf"
}

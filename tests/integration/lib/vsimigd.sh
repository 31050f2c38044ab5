# shellcheck shell=bash
# vsimigd.sh - start vsimigd (the daemon under test) inside a testbed netns.
# Source after testbed.sh and tb_init.  Needs VSM_BUILD_ROOT (meson build dir).

VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/build}
VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
VSIMIGD=$VSM_BUILD_ROOT/src/daemon/vsimigd
VSIMIGCTL=$VSM_BUILD_ROOT/src/ctl/vsimigctl
VSMTEST=$VSM_SOURCE_ROOT/tests/integration/lib/vsmtest.py

# vsm_daemon_start NS UPLINK [EXTRA_CONF_SECTIONS]: write a config into $TB_DIR,
# start vsimigd in netns NS (verbose, log in $VSM_LOG) and wait for its
# control socket.  Exports VSM_PID, VSM_SOCK, VSM_LOG, VSM_CONF.
vsm_daemon_start() {
  local ns=$1 uplink=$2 extra=${3:-}
  [ -x "$VSIMIGD" ] || tb_fail "vsimigd not built at $VSIMIGD"
  VSM_SOCK=$TB_DIR/vsimigd.sock
  VSM_LOG=$TB_DIR/vsimigd.log
  VSM_CONF=$TB_DIR/vsimigd.conf
  cat > "$VSM_CONF" <<CONF
[vdp]
uplinks = $uplink
manager-id = vsimig
[control]
socket = $VSM_SOCK
${extra:-[libvirt]
enabled = false}
CONF
  ip netns exec "$ns" "$VSIMIGD" --config "$VSM_CONF" --verbose >"$VSM_LOG" 2>&1 &
  VSM_PID=$!
  tb_track_pid "$VSM_PID" vsimigd
  local i
  for i in $(seq 1 100); do
    [ -S "$VSM_SOCK" ] && return 0
    kill -0 "$VSM_PID" 2>/dev/null || { cat "$VSM_LOG" >&2; tb_fail "vsimigd exited at start"; }
    sleep 0.05
  done
  tb_fail "vsimigd control socket did not appear"
}

# vsm_ctl ARGS...: vsimigctl against the daemon under test.
vsm_ctl() {
  "$VSIMIGCTL" --socket "$VSM_SOCK" "$@"
}

# vsm_alive: fail unless the daemon process still runs and answers status.
vsm_alive() {
  kill -0 "$VSM_PID" 2>/dev/null || { cat "$VSM_LOG" >&2; tb_fail "vsimigd died"; }
  vsm_ctl status >/dev/null || tb_fail "vsimigd does not answer status"
}

# vsm_json EXPR: evaluate a Python expression over the JSON document on
# stdin (bound to `d`) and print the result.
vsm_json() {
  python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# vsm_wait_bridge [TIMEOUT_S]: wait until the daemon has seen the bridge's
# EVB TLV on its uplink.
vsm_wait_bridge() {
  local t=${1:-20} i
  for i in $(seq 1 $((t * 10))); do
    if [ "$(vsm_ctl --json status | vsm_json 'd["uplinks"][0]["bridge"] is not None')" = True ]; then
      return 0
    fi
    sleep 0.1
  done
  tb_fail "no EVB LLDP from the bridge within ${t}s"
}

# vsm_counter NAME: an uplink counter from status.
vsm_counter() {
  vsm_ctl --json status | vsm_json "d['uplinks'][0]['counters']['$1']"
}

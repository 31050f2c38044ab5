# shellcheck shell=bash
# migrate.sh - the two-host libvirt testbed with vsimigd on both hosts and
# lldpad in the bridge role on the top-of-rack switch.  Shared by the
# migration integration test, the demo and the migration benchmark.
# Source after testbed.sh, libvirt-testbed.sh and vsimigd.sh.

MT_GUEST=${MT_GUEST:-g1}
MT_GUEST_MAC=${MT_GUEST_MAC:-52:54:00:77:20:01}
MT_TYPE_ID=4711

# mt_setup: build the testbed, start (in this order) vsimigd on both hosts,
# lldpad (bridge role) serving both switch ports, the captures on both
# switch ports, and libvirtd on both hosts; wait until each vsimigd is
# connected to its libvirtd and has seen the bridge's EVB TLV.
mt_setup() {
  MT_HOOK=$TB_DIR/vsimig-hook
  # The shipped hook, pointed at this build and the hosts' test config.
  sed -e "s|@BINDIR@|$VSM_BUILD_ROOT/src/ctl|" \
      -e "s|@SYSCONFDIR@/vsimig/vsimigd.conf|/run/vsimig/vsimigd.conf|" \
      "$VSM_SOURCE_ROOT/hooks/qemu.d/vsimig" >"$MT_HOOK"
  chmod 0755 "$MT_HOOK"
  lt_setup "$MT_HOOK"
  # The switch runs STP, as a real one does: a Linux bridge without STP
  # floods 01:80:c2:00:00:00, so each host's VDP would reach the other
  # host's port (and confuse lldpad there).  Forward delay 2 s.
  ip -n "$LT_NS_SW" link set br-sw type bridge forward_delay 200 stp_state 1
  local h
  for h in A B; do
    lt_host_write "$h" /run/vsimig/vsimigd.conf "[vdp]
uplinks = up0
manager-id = vsimig
type-id = $MT_TYPE_ID
type-version = 1
[libvirt]
uri = qemu:///system
[control]
socket = /run/vsimig/vsimigd.sock
[hook]
timeout-ms = 2000
${MT_EXTRA_CONF:-}
$(mt__extra_conf_host "$h")"
    mt_vsimigd_start "$h"
  done
  MT_PCAP_A=$TB_DIR/sw-a.pcap
  MT_PCAP_B=$TB_DIR/sw-b.pcap
  tb_capture_start "$LT_NS_SW" sw-a "$MT_PCAP_A"
  tb_capture_start "$LT_NS_SW" sw-b "$MT_PCAP_B"
  tb_lldpad_start "$LT_NS_SW" sw-a,sw-b bridge tor
  lt_libvirtd_start A B
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(bridge -n "$LT_NS_SW" link show | grep -c "state forwarding") -ge 2 ]] && break
    sleep 0.1
  done
  for h in A B; do
    mt_wait "$h" 'd["libvirt"]["connected"] and d["uplinks"][0]["bridge"] is not None' 40 status
  done
}

# mt__extra_conf_host HOST: $MT_EXTRA_CONF_<HOST> (per-host config text,
# e.g. a [peer] listen address on that host's mig0), if set.
mt__extra_conf_host() {
  local v="MT_EXTRA_CONF_$1"
  printf '%s\n' "${!v:-}"
}

# mt_vsimigd_start HOST: start vsimigd inside HOST's namespaces.
mt_vsimigd_start() {
  local h=$1 pid
  local hv="LT_HOLDER_$h"
  # A plain command, not the lt_exec function: a backgrounded function is a
  # subshell and $! would not be vsimigd.  nsenter execs it.
  nsenter -t "${!hv}" -n -m -u -- "$VSIMIGD" --config /run/vsimig/vsimigd.conf --verbose \
    >>"$TB_DIR/vsimigd-$h.log" 2>&1 </dev/null &
  pid=$!
  tb_track_pid "$pid" "vsimigd-$h"
  printf -v "MT_VSIMIGD_PID_$h" %s "$pid"
  # Stopped with SIGTERM (a clean shutdown) before the testbed goes.
  tb_defer "mt_vsimigd_stop $h"
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == vsimigd ]] &&
      [[ -S $(lt_host_path "$h" /run/vsimig/vsimigd.sock) ]] && return 0
    sleep 0.05
  done
  cat "$TB_DIR/vsimigd-$h.log" >&2
  tb_fail "vsimigd on host $h did not start"
}

# mt_vsimigd_stop HOST: SIGTERM by PID, wait (no-op if already stopped).
mt_vsimigd_stop() {
  local pv="MT_VSIMIGD_PID_$1"
  [[ -n ${!pv:-} ]] || return 0
  kill -TERM "${!pv}" 2>/dev/null || true
  wait "${!pv}" 2>/dev/null || true
  tb__untrack_pid "${!pv}"
  unset "MT_VSIMIGD_PID_$1"
}

# hctl HOST ARGS...: vsimigctl against HOST's vsimigd.
hctl() {
  local h=$1
  shift
  lt_exec "$h" "$VSIMIGCTL" --socket /run/vsimig/vsimigd.sock "$@"
}

# mt_wait HOST PYEXPR TIMEOUT_S [CMD...]: wait until PYEXPR over the JSON
# of `vsimigctl --json CMD` (default: vdp list) on HOST is true.
mt_wait() {
  local h=$1 expr=$2 tmo=$3 i out
  shift 3
  local cmd=("$@")
  [[ ${#cmd[@]} -gt 0 ]] || cmd=(vdp list)
  for ((i = 0; i < tmo * 10; i++)); do
    out=$(hctl "$h" --json "${cmd[@]}" 2>/dev/null) || out=
    if [[ -n $out ]] && [[ $(vsm_json "bool($expr)" <<<"$out" 2>/dev/null) == True ]]; then
      return 0
    fi
    sleep 0.1
  done
  echo "$out" >&2
  tb_fail "host $h: '$expr' not true after ${tmo} s (vsimigctl ${cmd[*]})"
}

# mt_vsi_state HOST: the state of the guest's VSI on HOST ("absent" if none).
mt_vsi_state() {
  hctl "$1" --json vdp list | vsm_json "([v['state'] for v in d['vsis'] if v['mac'] == '$MT_GUEST_MAC'] or ['absent'])[0]"
}

#!/bin/bash
# Integration: `vsimigctl check`, the host doctor, against real peers.
# Every warn/fail path it is given here must print its line and its fix:
#   - a missing uplink (fail, "no such interface");
#   - an uplink whose peer runs no EVB bridge (fail) next to one whose
#     peer is lldpad in the bridge role (ok);
#   - [peer] insecure = true (warn), a key-file with group bits (fail);
#   - lldpad running EVB on one of our uplinks (fail);
#   - a bad frame counted by vsimigd (health warns);
#   - libvirt's socket probed by check itself while vsimigd is down;
#   - a real libvirtd started before the hook was installed (fail, "restart
#     libvirtd"), then restarted (ok), then a hook call arriving (ok);
#   - --json carries the same verdicts, and the exit status follows them.
# Then the bash completion: a sub-command prefix, an uplink and a domain
# name of a running vsimigd (a libvirt guest it follows).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/libvirt-testbed.sh"
. "$HERE/lib/vsimigd.sh"
COMPLETION=$VSM_SOURCE_ROOT/data/vsimigctl.bash-completion

T0=$(date +%s%N)
say() { printf '[check %4ss] %s\n' "$(( ($(date +%s%N) - T0) / 1000000000 ))" "$*"; }

# check_run NS CONF: run `vsimigctl check` in netns NS against the daemon
# under test; output in $OUT, exit status in $RC.
check_run() {
  local ns=$1 conf=$2
  RC=0
  OUT=$(ip netns exec "$ns" "$VSIMIGCTL" --socket "$VSM_SOCK" --timeout 5 check --config "$conf" 2>&1) || RC=$?
}

# expect LEVEL CHECK SUBJECT TEXT FIX: $OUT has the line "LEVEL CHECK
# SUBJECT: ...TEXT..." and, for warn/fail, the next line "fix: ...FIX...".
expect() {
  local level=$1 check=$2 subject=$3 text=$4 fix=${5:-}
  EXPECT_LEVEL=$level EXPECT_CHECK=$check EXPECT_SUBJECT=$subject EXPECT_TEXT=$text EXPECT_FIX=$fix \
    python3 -c '
import os, sys
lines = sys.stdin.read().splitlines()
e = os.environ
head = "%-4s  %-8s %s" % (e["EXPECT_LEVEL"], e["EXPECT_CHECK"], e["EXPECT_SUBJECT"] + ": " if e["EXPECT_SUBJECT"] else "")
for i, l in enumerate(lines):
    if l.startswith(head) and e["EXPECT_TEXT"] in l:
        if e["EXPECT_LEVEL"] == "ok":
            sys.exit(0)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if nxt.startswith("      fix: ") and e["EXPECT_FIX"] in nxt:
            sys.exit(0)
        print("line found, but its fix is %r" % nxt, file=sys.stderr)
        sys.exit(1)
sys.exit(1)' <<<"$OUT" || { printf '%s\n' "$OUT" >&2; tb_fail "check: no '$level $check ${subject:+$subject: }...$text...' ${fix:+with fix '...$fix...'}"; }
}

# absent CHECK SUBJECT: no warn/fail line for CHECK SUBJECT in $OUT.
absent() {
  if grep -E "^(warn|fail) +$1 +$2:" <<<"$OUT" >&2; then
    tb_fail "check reports a problem with $1 $2"
  fi
  return 0
}

tb_init
command -v python3 >/dev/null || tb_skip_or_fail "missing tool: python3"
[ -x "$VSIMIGCTL" ] || tb_fail "vsimigctl not built at $VSIMIGCTL"

# ---- part 1: uplinks, EVB, peer channel, lldpad ------------------------------------------
# up0 <-> sw0: lldpad bridge (EVB).  ck1 <-> cksw1: nothing on the far side.
tb_netns_pair
ip -n "$TB_NS_ST" link add ck1 type veth peer name cksw1 netns "$TB_NS_BR"
ip -n "$TB_NS_ST" link set ck1 up
ip -n "$TB_NS_BR" link set cksw1 up
tb_wait_link_up "$TB_NS_ST" ck1
KEY=$TB_DIR/peer.key
(umask 077 && head -c 32 /dev/urandom >"$KEY")
PORT=7793
tb_lldpad_start "$TB_NS_BR" "$TB_IF_BR" bridge
PEER_CONF="[libvirt]
enabled = false
[peer]
listen = 127.0.0.1:$PORT
key-file = $KEY"
vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST;ck1" "$PEER_CONF"
vsm_wait_bridge 40
vsm_alive

# The daemon's own config: both uplinks exist and are up; EVB seen on up0 only.
check_run "$TB_NS_ST" "$VSM_CONF"
expect ok config "$VSM_CONF" "parses; 2 uplinks"
expect ok daemon "$VSM_SOCK" "answers"
expect ok uplink "$TB_IF_ST" "exists, is up, vsimigd has it open"
expect ok evb "$TB_IF_ST" "EVB bridge"
expect ok uplink ck1 "exists, is up"
expect fail evb ck1 "no EVB bridge seen" "enable EVB (IEEE 802.1Qbg"
expect ok peer "$KEY" "key-file present, mode 0600"
expect ok peer "127.0.0.1:$PORT" "listener bound and reachable (key-file)"
expect ok lldpad "" "not running in this network namespace"
expect warn libvirt "" "[libvirt] enabled = false" "set [libvirt] enabled = true"
expect ok health "" "no error counted"
[ "$RC" = 1 ] || tb_fail "check exited $RC with a failure, want 1"
JSON=$(ip netns exec "$TB_NS_ST" "$VSIMIGCTL" --socket "$VSM_SOCK" --json check --config "$VSM_CONF") && jrc=0 || jrc=$?
[ "$jrc" = 1 ] || tb_fail "check --json exited $jrc, want 1"
[ "$(vsm_json '[c["level"] for c in d["checks"] if c["check"] == "evb" and c["subject"] == "ck1"]' <<<"$JSON")" = "['fail']" ] ||
  tb_fail "--json: evb ck1 is not fail: $JSON"
[ "$(vsm_json '[c["level"] for c in d["checks"] if c["check"] == "evb" and c["subject"] == "up0"]' <<<"$JSON")" = "['ok']" ] ||
  tb_fail "--json: evb up0 is not ok: $JSON"
[ "$(vsm_json 'd["status"], d["fail"] == len([c for c in d["checks"] if c["level"] == "fail"]), all(c["fix"] for c in d["checks"] if c["level"] != "ok")' <<<"$JSON")" = "fail True True" ] ||
  tb_fail "--json: status/counts/fixes wrong: $JSON"
say "ok: uplinks, EVB seen on $TB_IF_ST and not on ck1, the peer channel"

# A missing uplink and an unknown key, in a copy of the config.
C2=$TB_DIR/missing.conf
sed "s|^uplinks = .*|uplinks = $TB_IF_ST;ckmiss0|; s|^\[vdp\]|[vdp]\nuplink-typo = 1|" "$VSM_CONF" >"$C2"
check_run "$TB_NS_ST" "$C2"
expect fail uplink ckmiss0 "no such interface" "create ckmiss0, or correct [vdp] uplinks in $C2"
expect fail config "$C2" "unknown section or key (vsimigd refuses to start): [vdp] uplink-typo" "remove or correct them in $C2"
[ "$RC" = 1 ] || tb_fail "check exited $RC, want 1"
say "ok: a missing uplink and an unknown key are named, with their fixes"

# The peer channel: insecure = true warns; a key-file with group bits fails.
C3=$TB_DIR/insecure.conf
sed "/^key-file = /d; s|^\[peer\]|[peer]\ninsecure = true|" "$VSM_CONF" >"$C3"
check_run "$TB_NS_ST" "$C3"
expect warn peer "" "[peer] insecure = true: anyone who reaches 127.0.0.1:$PORT" "vsimigctl peer-key new"
chmod 0640 "$KEY"
check_run "$TB_NS_ST" "$VSM_CONF"
expect fail peer "$KEY" "group or other permissions (mode 0640)" "chmod 0600 $KEY"
chmod 0600 "$KEY"
check_run "$TB_NS_ST" "$VSM_CONF"
absent peer "$KEY"
say "ok: insecure warns, a group-readable key-file fails, each with its fix"

# lldpad with EVB on one of our uplinks (ck1; its own pid file and config
# live in its private mount namespace: check finds it by /proc).
tb_lldpad_start "$TB_NS_ST" ck1 station ckst
check_run "$TB_NS_ST" "$VSM_CONF"
expect fail lldpad ck1 "lldpad (pid $(tb_lldpad_pid ckst)) runs EVB/VDP (evbmode station) on this uplink" \
  "lldptool -T -i ck1 -V evb enableTx=no"
absent lldpad "$TB_IF_ST"
say "ok: lldpad running EVB on ck1 fails, with its fix"
# A malformed LLDPDU from the bridge's side: the health counters warn.
ip netns exec "$TB_NS_BR" python3 "$VSMTEST" inject "$TB_IF_BR" "0180c200000e${TB_MAC_BR//:/}88cc0207040102030405"
for ((i = 0; i < 50; i++)); do [ "$(vsm_counter rx_bad)" -ge 1 ] && break; sleep 0.1; done
check_run "$TB_NS_ST" "$VSM_CONF"
expect warn health "" "error counters are not zero: $TB_IF_ST.rx_bad=1" "journalctl -u vsimigd"
say "ok: a bad frame counted makes health warn, with its fix"
vsm_alive
kill -TERM "$VSM_PID"
wait "$VSM_PID" 2>/dev/null || true

# Without the daemon: the local checks still run, the daemon line fails.
check_run "$TB_NS_ST" "$VSM_CONF"
expect fail daemon "$VSM_SOCK" "vsimigd does not answer" "systemctl start vsimigd"
expect ok uplink ck1 "exists and is up"
[ "$RC" = 1 ] || tb_fail "check exited $RC without a daemon, want 1"

# ---- part 2: libvirtd started before the hook ---------------------------------------------
# The shipped hook, pointed at this build and host A's test config.
HOOK_SRC=$TB_DIR/vsimig-hook
sed -e "s|@BINDIR@|$VSM_BUILD_ROOT/src/ctl|" -e "s|@SYSCONFDIR@/vsimig/vsimigd.conf|/run/ck-vsimigd.conf|" \
  "$VSM_SOURCE_ROOT/hooks/qemu.d/vsimig" >"$HOOK_SRC"
lt_setup   # no hook yet
cat >"$(lt_host_path A /run/ck-vsimigd.conf)" <<CONF
[vdp]
uplinks = up0
[libvirt]
uri = qemu:///system
[control]
socket = /run/vsimig/vsimigd.sock
CONF
acheck() { RC=0; OUT=$(lt_exec A "$VSIMIGCTL" --timeout 5 check --config /run/ck-vsimigd.conf 2>&1) || RC=$?; }
# Neither vsimigd nor libvirtd: check probes libvirt's socket itself.
acheck
expect fail libvirt qemu:///system "libvirt is not reachable" "systemctl start libvirtd"
lt_libvirtd_start A
[ -f "$(lt_host_path A /run/libvirtd.pid)" ] || tb_fail "libvirtd wrote no /run/libvirtd.pid"
acheck
expect ok libvirt qemu:///system "/run/libvirt/libvirt-sock-ro accepts connections"
mkdir -p "$(lt_host_path A /run/vsimig)"
nsenter -t "$LT_HOLDER_A" -n -m -u -- "$VSIMIGD" --config /run/ck-vsimigd.conf --verbose \
  >"$TB_DIR/vsimigd-A.log" 2>&1 </dev/null &
VA_PID=$!
tb_track_pid "$VA_PID" vsimigd-A
for ((i = 0; i < 100; i++)); do
  [ -S "$(lt_host_path A /run/vsimig/vsimigd.sock)" ] && break
  sleep 0.05
done
actl() { lt_exec A "$VSIMIGCTL" --socket /run/vsimig/vsimigd.sock "$@"; }
for ((i = 0; i < 100; i++)); do
  [ "$(actl --json status 2>/dev/null | vsm_json 'd["libvirt"]["connected"]' 2>/dev/null)" = True ] && break
  sleep 0.1
done
[ "$(actl --json status | vsm_json 'd["libvirt"]["connected"]')" = True ] ||
  { cat "$TB_DIR/vsimigd-A.log" >&2; tb_fail "vsimigd on host A did not connect to libvirtd"; }
acheck
expect fail hook /etc/libvirt/hooks/qemu.d/vsimig "missing" "install the vsimig package"
expect ok libvirt qemu:///system "vsimigd is connected"
# Install the hook after libvirtd started (ctime 1 s+ later than its start:
# /proc start times are precise to the second).
sleep 2
lt_host_write A /etc/libvirt/hooks/qemu.d/vsimig "$(cat "$HOOK_SRC")"
acheck
expect fail hook /etc/libvirt/hooks/qemu.d/vsimig "after libvirt (pid $LT_LIBVIRTD_PID_A, /run/libvirtd.pid)" \
  "restart libvirtd"
# A hook libvirt may not run as root: group-writable fails too.
lt_exec A chmod 0775 /etc/libvirt/hooks/qemu.d/vsimig
acheck
expect fail hook /etc/libvirt/hooks/qemu.d/vsimig "mode 0775" "chmod go-w"
lt_exec A chmod 0755 /etc/libvirt/hooks/qemu.d/vsimig
sleep 2
lt_libvirtd_restart A
acheck
expect ok hook /etc/libvirt/hooks/qemu.d/vsimig "installed before libvirt (pid $LT_LIBVIRTD_PID_A) started"
say "ok: a libvirtd older than the hook fails with 'restart libvirtd'; restarted, ok"

# A guest: the hook calls arrive (the proof the time comparison stands in for).
lt_define_guest A ckg1 >/dev/null
for ((i = 0; i < 100; i++)); do
  [ "$(actl --json status | vsm_json 'd["libvirt"]["hooks"] > 0')" = True ] && break
  sleep 0.1
done
acheck
expect ok hook /etc/libvirt/hooks/qemu.d/vsimig "vsimigd has received"
say "ok: hook calls arrived"

# ---- the bash completion ----------------------------------------------------------------------
# complete_words WORD...: COMPREPLY for the command line WORD... (the
# last word is the one completed), vsimigctl run inside host A.
complete_words() {
  lt_exec A bash -c '
    . "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    _vsimigctl
    printf "%s\n" "${COMPREPLY[@]}"' complete "$COMPLETION" "$VSIMIGCTL" "$@"
}
[ "$(complete_words ch)" = check ] || tb_fail "completion of 'ch': '$(complete_words ch)'"
[ "$(complete_words --socket /run/vsimig/vsimigd.sock sh)" = show ] || tb_fail "completion of 'sh'"
got=$(complete_words --socket /run/vsimig/vsimigd.sock show ck)
[ "$got" = ckg1 ] || tb_fail "completion of a domain: '$got', want ckg1"
got=$(complete_words --socket /run/vsimig/vsimigd.sock vdp associate --uplink u)
[ "$got" = up0 ] || tb_fail "completion of an uplink: '$got', want up0"
got=$(complete_words --socket /run/vsimig/vsimigd.sock vdp a)
[ "$got" = associate ] || tb_fail "completion of 'vdp a': '$got'"
say "ok: completion of sub-commands, a domain name and an uplink"

kill -TERM "$VA_PID"
wait "$VA_PID" 2>/dev/null || true
say "PASS"

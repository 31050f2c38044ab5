#!/bin/bash
# Integration: a squatted [peer] listen port does not stop vsimigd
# (security review M3).  A local process binds the listen address first;
# vsimigd still starts (the control socket answers), logs a warning naming
# the address and the error, and status shows the listener "down" with the
# reason and the retry count.  Once the squatter exits, the retry (1 s
# doubling to 30 s) binds: status shows "up", and a version 2 hello on the
# port gets a challenge from vsimigd.  A listen address that does not
# parse or a missing key-file stays fatal.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"
PA_PY=$HERE/lib/peerauth.py

T0=$(date +%s%N)
say() { printf '[peer-bind-retry %4ss] %s\n' "$(( ($(date +%s%N) - T0) / 1000000000 ))" "$*"; }
ADDR=127.0.0.1 PORT=7788
UUID=73770000-0000-4000-8000-b1d000000001

tb_init
command -v python3 >/dev/null || tb_skip_or_fail "missing tool: python3"
tb_netns_pair
KEY=$TB_DIR/peer.key
(umask 077 && head -c 32 /dev/urandom >"$KEY") || tb_fail "cannot write $KEY"

# ---- a bad listen address is still fatal --------------------------------------------
cat > "$TB_DIR/bad.conf" <<CONF
[vdp]
uplinks = $TB_IF_ST
[control]
socket = $TB_DIR/bad.sock
[libvirt]
enabled = false
[peer]
listen = $ADDR-$PORT
key-file = $KEY
CONF
if ip netns exec "$TB_NS_ST" timeout 10 "$VSIMIGD" --config "$TB_DIR/bad.conf" >"$TB_DIR/bad.log" 2>&1; then
  tb_fail "vsimigd started with listen = $ADDR-$PORT"
fi
grep -q "is not ADDRESS:PORT" "$TB_DIR/bad.log" || tb_fail "no error for the bad address: $(cat "$TB_DIR/bad.log")"
sed -i "s|^listen = .*|listen = $ADDR:$PORT|; s|^key-file = .*|key-file = $TB_DIR/no-such.key|" "$TB_DIR/bad.conf"
if ip netns exec "$TB_NS_ST" timeout 10 "$VSIMIGD" --config "$TB_DIR/bad.conf" >"$TB_DIR/bad.log" 2>&1; then
  tb_fail "vsimigd started with a missing key-file"
fi
grep -q "no-such.key" "$TB_DIR/bad.log" || tb_fail "no error for the missing key-file: $(cat "$TB_DIR/bad.log")"
say "ok: a bad listen address and a missing key-file are fatal"

# ---- the squatter ------------------------------------------------------------------
ip netns exec "$TB_NS_ST" python3 -c '
import socket, sys, time
s = socket.socket()
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("bound", flush=True)
time.sleep(600)' "$ADDR" "$PORT" >"$TB_DIR/squatter.log" 2>&1 &
SQ_PID=$!
tb_track_pid "$SQ_PID" squatter
for ((i = 0; i < 50; i++)); do grep -q '^bound' "$TB_DIR/squatter.log" && break; sleep 0.1; done
grep -q '^bound' "$TB_DIR/squatter.log" || tb_fail "the squatter did not bind: $(cat "$TB_DIR/squatter.log")"

# ---- vsimigd starts anyway, listener down -----------------------------------------------
vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST" "[libvirt]
enabled = false
[peer]
listen = $ADDR:$PORT
key-file = $KEY"
sleep 0.3
vsm_alive
say "ok: vsimigd runs (pid $VSM_PID) with $ADDR:$PORT taken"
grep -q "peer listener on $ADDR:$PORT not bound: .*in use" "$VSM_LOG" ||
  { cat "$VSM_LOG" >&2; tb_fail "no warning naming the address and the error"; }
peer() { vsm_ctl --json status | vsm_json "d['libvirt']['carry']['peer']$1"; }
[ "$(peer "['listener']")" = down ] || tb_fail "listener is '$(peer "['listener']")', want down"
case "$(peer "['bind_error']")" in *"in use"*) ;; *) tb_fail "bind_error is '$(peer "['bind_error']")'" ;; esac
vsm_ctl status | grep -q "listener down" || { vsm_ctl status >&2; tb_fail "vsimigctl status does not say the listener is down"; }
# It retries: the count grows while the port stays taken.
for ((i = 0; i < 60; i++)); do [ "$(peer "['bind_retries']")" -ge 2 ] && break; sleep 0.1; done
n=$(peer "['bind_retries']")
[ "$n" -ge 2 ] || tb_fail "bind_retries is $n after 6 s, want >= 2"
[ "$(peer "['listener']")" = down ] || tb_fail "listener up while the port is taken"
say "ok: listener down, $n retries, reason: $(peer "['bind_error']")"

# ---- the squatter goes; the retry binds -----------------------------------------------
kill "$SQ_PID"
wait "$SQ_PID" 2>/dev/null || true
t_free=$(date +%s%N)
up=
for ((i = 0; i < 350; i++)); do
  [ "$(peer "['listener']")" = up ] && { up=1; break; }
  sleep 0.1
done
[ -n "$up" ] || tb_fail "listener not up 35 s after the port was freed"
say "ok: listener up $(( ($(date +%s%N) - t_free) / 1000000 )) ms after the port was freed"
[ "$(peer "['bind_error']")" = None ] || tb_fail "bind_error still set once up"
grep -q "peer listener on $ADDR:$PORT bound after" "$VSM_LOG" || tb_fail "no log line for the late bind"
out=$(ip netns exec "$TB_NS_ST" python3 "$PA_PY" client "$ADDR" "$PORT" "$UUID" 00 "$KEY")
echo "$out" | grep -q '^challenge' || tb_fail "a v2 hello got no challenge: $out"
[ "$(peer "['accepted']")" -ge 1 ] || tb_fail "vsimigd counted no accepted connection"
vsm_alive
say "PASS: a squatted peer port does not stop vsimigd; the listener binds once it is free"

#!/bin/bash
# Integration: who may use the control socket (vsimigd.conf(5) [control]).
# With [control] group set, the real daemon gives its members (by primary or
# only by supplementary group, SO_PEERGROUPS) the read-only methods and
# refuses them the ones that change state (vdp.request, hook) with
# "permission-denied"; anyone else is dropped at connect; root may do all.
# Clients are real processes with other credentials (setpriv).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"

command -v setpriv >/dev/null || tb_skip_or_fail "missing tool: setpriv"
# The unprivileged clients need an interpreter outside /root.
[ -x /usr/bin/python3 ] || tb_skip_or_fail "missing /usr/bin/python3"
GROUP=users
GID=$(getent group "$GROUP" | cut -d: -f3) || tb_skip_or_fail "no group '$GROUP' here"
OTHER=4343     # a gid that is not $GROUP

tb_init
tb_netns_pair
# The daemon is root; the clients are uid 65534 and must reach the socket.
chmod 0711 "$TB_DIR"
vsm_daemon_start "$TB_NS_ST" "$TB_IF_ST" "[control]
group = $GROUP
[libvirt]
enabled = false"

# The socket belongs to the group, mode 0660.
[ "$(stat -c '%g %a' "$VSM_SOCK")" = "$GID 660" ] || tb_fail "socket is $(stat -c '%g %a' "$VSM_SOCK"), want $GID 660"

# as_member/as_supplementary/as_other CMD...: run CMD as uid 65534 in $GROUP
# as primary group, in $GROUP only as a supplementary group, or outside it.
as_member() { setpriv --reuid=65534 --regid="$GID" --clear-groups "$@"; }
as_supplementary() { setpriv --reuid=65534 --regid=65534 --groups="$OTHER,$GID" "$@"; }
as_other() { setpriv --reuid=65534 --regid=65534 --groups="$OTHER" "$@"; }

# raw_request [AS] JSON: send one request line (as the wrapper AS, if
# given), print the first reply line.
cat > "$TB_DIR/request.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
try:
    s.sendall(sys.argv[2].encode() + b"\n")
except BrokenPipeError:
    pass
buf = b""
while b"\n" not in buf:
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(buf.split(b"\n")[0].decode())
PY
chmod 0644 "$TB_DIR/request.py"
raw_request() {
  if [ $# -eq 2 ]; then
    "$1" /usr/bin/python3 "$TB_DIR/request.py" "$VSM_SOCK" "$2"
  else
    python3 "$TB_DIR/request.py" "$VSM_SOCK" "$1"
  fi
}

error_code() { vsm_json 'd.get("error", {}).get("code", "none")'; }

U=3e1d5c7b-2a4f-4e6d-8c0b-9a8f7e6d5c4b
VDP='{"id":1,"method":"vdp.request","params":{"uplink":"'$TB_IF_ST'","request":"de-associate","mac":"52:54:00:77:00:02","type_id":7,"instance":"'$U'"}}'
HOOK='{"id":2,"method":"hook","params":{"domain":"vm1","op":"stopped","subop":"end"}}'

for who in as_member as_supplementary; do
  # Every read-only method answers.
  for m in status domains vdp.list monitor; do
    code=$(raw_request $who "{\"id\":3,\"method\":\"$m\"}" | error_code)
    [ "$code" = none ] || tb_fail "$who: $m refused ($code)"
  done
  out=$($who "$VSIMIGCTL" --socket "$VSM_SOCK" --json status) || tb_fail "$who: vsimigctl status failed"
  [ "$(echo "$out" | vsm_json 'd["pid"]')" = "$VSM_PID" ] || tb_fail "$who: status is not the daemon's"
  out=$($who "$VSIMIGCTL" --socket "$VSM_SOCK" vdp list) || tb_fail "$who: vsimigctl vdp list failed"
  # show is read-only: an unknown domain is "not-found", not a refusal.
  code=$(raw_request $who "{\"id\":4,\"method\":\"show\",\"params\":{\"domain\":\"nope\"}}" | error_code)
  [ "$code" = not-found ] || tb_fail "$who: show answered $code, want not-found"

  # State-changing methods: refused, with a message that says why.
  reply=$(raw_request $who "$VDP")
  [ "$(echo "$reply" | error_code)" = permission-denied ] || tb_fail "$who: vdp.request not refused: $reply"
  echo "$reply" | grep -q 'needs root' || tb_fail "$who: refusal does not say why: $reply"
  reply=$(raw_request $who "$HOOK")
  [ "$(echo "$reply" | error_code)" = permission-denied ] || tb_fail "$who: hook not refused: $reply"
  set +e
  $who "$VSIMIGCTL" --socket "$VSM_SOCK" vdp de-associate --uplink "$TB_IF_ST" --mac 52:54:00:77:00:02 \
    --type-id 7 --instance "$U" > "$TB_DIR/ctl.out" 2>&1
  rc=$?
  set -e
  [ "$rc" -eq 1 ] || tb_fail "$who: vsimigctl vdp de-associate exit status $rc, want 1"
  grep -q "needs root" "$TB_DIR/ctl.out" || { cat "$TB_DIR/ctl.out"; tb_fail "$who: vsimigctl does not say why"; }
  echo "ok: $who: read-only methods answer, vdp.request and hook refused"
done
# No VDP frame was sent for the refused requests.
[ "$(vsm_counter tx_ecp_retries)" = 0 ] && [ "$(vsm_counter tx_ecp_failures)" = 0 ] ||
  tb_fail "a refused request reached the uplink"

# Not a member: the file mode alone keeps it out ...
set +e
as_other "$VSIMIGCTL" --socket "$VSM_SOCK" status > "$TB_DIR/other.out" 2>&1
rc=$?
set -e
[ "$rc" -eq 3 ] || { cat "$TB_DIR/other.out"; tb_fail "non-member: vsimigctl status exit $rc, want 3"; }
# ... and with the file opened to all, the daemon drops it itself.
chmod 0666 "$VSM_SOCK"
reply=$(raw_request as_other "{\"id\":5,\"method\":\"status\"}")
[ "$(echo "$reply" | error_code)" = permission-denied ] || tb_fail "non-member got: $reply"
grep -q "control: refused peer pid [0-9]* uid 65534" "$VSM_LOG" || tb_fail "no log line for the refused peer"
echo "ok: a non-member is refused"

# Root may change state: the request runs (and times out: no bridge here).
reply=$(raw_request "$VDP")
[ "$(echo "$reply" | error_code)" = none ] || tb_fail "root: vdp.request refused: $reply"
[ "$(echo "$reply" | vsm_json 'd["result"]["result"]')" = timeout ] || tb_fail "root: vdp.request: $reply"
vsm_alive
echo "PASS: control socket: group members read, root writes, others are refused"

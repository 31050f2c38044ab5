#!/bin/bash
# tests/system/test-systemd.sh: vsimig's Debian package and vsimigd.service
# under a real systemd (PID 1 of a Debian 12 container booted with
# systemd-nspawn -b), with libvirtd (socket-activated) and a TCG guest.
#
# Builds the .deb from a clean copy of the tree (dpkg-buildpackage -us -uc
# -b) and runs lintian on it (errors fail), then a second build with a
# bumped version for the upgrade; boots the cached root of mkroot.sh
# (--volatile=overlay, private network, unified cgroup hierarchy) and
# asserts, in the container:
#   - dpkg -i works, the vsimig group exists, the unit is enabled;
#   - "systemctl start vsimigd" returns only after READY=1: the daemon logs
#     when it sent READY, and systemd's ActiveEnterTimestamp is not earlier;
#   - vsimigctl status answers through the socket as root and as a member
#     of group vsimig, and is refused for another user;
#   - libvirtd, started after the install, calls the installed hook
#     (the daemon's hook counter), and the guest's VSI is on the uplink;
#   - a steady run with the guest running survives a libvirtd restart and
#     a vsimigd restart (metadata writes, worker threads, mdb, taps) with
#     no restart of the unit and no seccomp kill (journal, kernel log);
#   - SIGHUP makes systemd go running -> reload -> running (RELOADING=1);
#   - the sandbox holds: in the daemon's own mount namespace /etc is
#     read-only and /run/vsimig writable;
#   - a SIGSTOP'd daemon is killed by the watchdog and restarted;
#   - dpkg -i of the newer build with the guest running restarts the
#     daemon, which reconciles (finds the guest's VSI again);
#   - a live migration of the guest to a second container (host B, its
#     own libvirtd and vsimigd, the same lldpad bridge), with B upgraded
#     by dpkg -i while the guest arrives: the guest runs on B, B's
#     restarted vsimigd has its VSI associated, A's de-associated it;
#   - dpkg --purge leaves nothing of the package behind.
# Needs root, systemd-nspawn, debhelper and lintian (tests/deps.sh).
set -euo pipefail

SRC=${VSM_SOURCE_ROOT:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}
CACHE=${VSM_ROOT_CACHE:-/var/cache/vsimig-test}
NAME=vsmsys$$
T0=$(date +%s%N)

say() { printf '[system %5.1fs] %s\n' "$(( ($(date +%s%N) - T0) / 1000000 ))e-3" "$*"; }
fail() {
	printf '[system] FAIL: %s\n' "$*" >&2
	if [[ -n ${L:-} ]] && kill -0 "$L" 2>/dev/null; then
		echo "--- journal (vsimigd, libvirtd, pid 1), last 60 lines" >&2
		nsenter -t "$L" -a journalctl --no-pager -o short-monotonic -n 60 >&2 || true
	fi
	exit 1
}
skip_or_fail() {
	if [[ ${CI:-} == true ]]; then
		printf '[system] FAIL (CI=true, not skipping): %s\n' "$*" >&2
		exit 1
	fi
	printf '[system] SKIP: %s\n' "$*" >&2
	exit 77
}

[[ $(id -u) == 0 ]] || skip_or_fail "needs root (systemd-nspawn)"
for t in systemd-nspawn dpkg-buildpackage dh lintian zstd nsenter; do
	command -v "$t" >/dev/null || skip_or_fail "missing tool: $t (tests/deps.sh installs it)"
done
bash "$SRC/tests/system/mkroot.sh" || fail "could not build the container root (tests/system/mkroot.sh)"
ROOT_TAR=$(ls "$CACHE"/root-bookworm-libvirt-v*.tar.zst 2>/dev/null | sort -V | tail -1)
[[ -s $ROOT_TAR ]] || fail "no cached root in $CACHE"

# tb_lldpad_conf only (no test bed: this test has its own cleanup).
# shellcheck source=../integration/lib/testbed.sh
. "$SRC/tests/integration/lib/testbed.sh"

W=$(mktemp -d /var/tmp/vsm-system.XXXXXX)
NSPID= L= LLDPAD= NSPIDB= LB=
BRNS=vsmsysbr$$
cleanup() {
	local rc=$? i
	set +e
	if [[ -n $LLDPAD ]]; then
		kill "$LLDPAD" 2>/dev/null
		wait "$LLDPAD" 2>/dev/null
	fi
	ip netns del "$BRNS" 2>/dev/null
	if [[ -n $NSPIDB ]] && kill -0 "$NSPIDB" 2>/dev/null; then
		[[ -n $LB ]] && kill -RTMIN+4 "$LB" 2>/dev/null
		for ((i = 0; i < 100; i++)); do kill -0 "$NSPIDB" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$NSPIDB" 2>/dev/null
		wait "$NSPIDB" 2>/dev/null
	fi
	if [[ -n $NSPID ]] && kill -0 "$NSPID" 2>/dev/null; then
		[[ -n $L ]] && kill -RTMIN+4 "$L" 2>/dev/null
		for ((i = 0; i < 100; i++)); do kill -0 "$NSPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$NSPID" 2>/dev/null
		wait "$NSPID" 2>/dev/null
	fi
	if [[ ${VSM_KEEP:-0} == 1 ]]; then
		echo "[system] kept $W" >&2
	else
		rm -rf "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# C CMD...: run CMD in the container (host capabilities: see
# ../shared/research/systemd-nspawn.md; systemd-run gives a true
# in-container context where that matters).
C() { nsenter -t "$L" -a "$@"; }
prop() { C systemctl show -P "$2" "$1"; }
mainpid() { prop vsimigd.service MainPID; }
status_json() { C vsimigctl status --json; }
jget() { python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v[int(k)] if isinstance(v,list) else v[k]
print(json.dumps(v) if isinstance(v,(dict,list,bool)) or v is None else v)' "$1"; }
# wait_for SECONDS DESC CMD...: poll CMD every 0.2 s.
wait_for() {
	local tmo=$1 desc=$2 i
	shift 2
	for ((i = 0; i < tmo * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "timed out after ${tmo}s waiting for: $desc"
}

# --------------------------------------------------------------------------
# the packages

if [[ -n ${VSM_REUSE_BUILD:-} ]]; then
	# Development only: the src/ of a run kept with VSM_KEEP=1.
	cp -a "$VSM_REUSE_BUILD/src" "$W/src"
	mkdir -p "$W/debs"
	V2=$(dpkg-parsechangelog -l "$W/src/vsimig/debian/changelog" -S Version)
	V1=${V2%+systest1}
	DEB1=$W/src/vsimig_${V1}_$(dpkg --print-architecture).deb
	cp "$DEB1" "$W/src/vsimig_${V2}_$(dpkg --print-architecture).deb" "$W/debs/"
	say "reusing the packages of $VSM_REUSE_BUILD"
else
say "building the .deb from a clean copy of the tree"
mkdir -p "$W/src/vsimig" "$W/debs"
(cd "$SRC" && git ls-files -co --exclude-standard | grep -v -e '^build' -e '^debian/\.debhelper' | tar -cf - -T -) |
	tar -xf - -C "$W/src/vsimig"
tb=$(date +%s)
(cd "$W/src/vsimig" && nice dpkg-buildpackage -us -uc -b >"$W/build.log" 2>&1) || {
	tail -30 "$W/build.log" >&2; fail "dpkg-buildpackage -us -uc -b failed"; }
V1=$(dpkg-parsechangelog -l "$W/src/vsimig/debian/changelog" -S Version)
DEB1=$W/src/vsimig_${V1}_$(dpkg --print-architecture).deb
[[ -s $DEB1 ]] || fail "no $DEB1"
say "built $(basename "$DEB1") in $(( $(date +%s) - tb )) s"

say "lintian"
lintian --fail-on error "$W/src/vsimig_${V1}_$(dpkg --print-architecture).changes" >"$W/lintian.log" 2>&1 || {
	cat "$W/lintian.log" >&2; fail "lintian reports errors"; }
sed 's/^/  lintian: /' "$W/lintian.log"

# The upgrade: the same tree with a bumped package version (an incremental
# rebuild in the same copy: no clean, no unit tests again).
V2="$V1+systest1"
sed -i "1s/(\([^)]*\))/($V2)/" "$W/src/vsimig/debian/changelog"
(cd "$W/src/vsimig" && DEB_BUILD_OPTIONS=nocheck nice dpkg-buildpackage -us -uc -b -nc >"$W/build2.log" 2>&1) || {
	tail -30 "$W/build2.log" >&2; fail "the upgrade build failed"; }
cp "$DEB1" "$W/src/vsimig_${V2}_$(dpkg --print-architecture).deb" "$W/debs/"
say "built the upgrade, version $V2"
fi

# --------------------------------------------------------------------------
# boot

mkdir "$W/root"
tar -C "$W/root" -I zstd -xf "$ROOT_TAR"
# The guest: no disk, no kernel (SeaBIOS idles), a virtio NIC on br0.
cat >"$W/debs/guest.xml" <<EOF
<domain type='qemu'>
  <name>vsmsys-guest</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><bios rebootTimeout='-1'/></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='02:76:73:6d:5a:01'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>
    <memballoon model='none'/>
  </devices>
</domain>
EOF

KMSG_START=$(dmesg 2>/dev/null | wc -l)
say "booting the container $NAME"
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 setsid systemd-nspawn -q -D "$W/root" -M "$NAME" -b \
	--register=no --keep-unit --console=pipe --private-network --volatile=overlay \
	--bind-ro="$W/debs:/mnt/pkg" >"$W/boot.log" 2>&1 </dev/null &
NSPID=$!
for ((i = 0; i < 200; i++)); do
	L=$(pgrep -P "$NSPID" -x systemd) && break
	sleep 0.05
done
[[ -n $L ]] || { cat "$W/boot.log" >&2; fail "systemd did not start in the container"; }
for ((i = 0; i < 300; i++)); do
	st=$(C systemctl is-system-running --wait 2>/dev/null) || true
	[[ $st == running || $st == degraded ]] && break
	sleep 0.1
done
[[ $st == running || $st == degraded ]] || fail "the container did not boot (state '$st')"
say "booted: $st, systemd $(C systemctl --version | head -1 | awk '{print $2}')"

# The uplink (a veth pair: this kernel has no dummy driver) enslaved to
# br0, the bridge the guest's NIC uses.  Its far end is in a host netns
# where lldpad plays the EVB bridge (the switch port), as in the
# integration tests.
ip netns add "$BRNS"
ip -n "$BRNS" link add vsmup0p type veth peer name vsmup0
ip -n "$BRNS" link set vsmup0 netns "$L"
ip -n "$BRNS" link set lo up
ip -n "$BRNS" link set vsmup0p up
# The second host's uplink, moved into it when it boots (the migration).
ip -n "$BRNS" link add vsmup1p type veth peer name vsmup1
ip -n "$BRNS" link set vsmup1p up
C ip link add br0 type bridge
C ip link set vsmup0 master br0
for l in vsmup0 br0; do C ip link set "$l" up; done
mkdir -p "$W/lldpad" /var/lib/lldpad
tb_lldpad_conf vsmup0p,vsmup1p bridge >"$W/lldpad/lldpad.conf"
# lldpad in a private mount namespace (its shm state, pid file and
# /var/lib/lldpad are tmpfs there), as tests/integration/lib/testbed.sh does.
ip netns exec "$BRNS" unshare --mount --propagation private -- /bin/sh -c '
	set -e
	mount --make-rprivate /
	mount -t tmpfs -o mode=1777 vsm-shm /dev/shm
	mount -t tmpfs -o mode=0755 vsm-run /run
	mount -t tmpfs -o mode=0755 vsm-lldpad /var/lib/lldpad
	exec lldpad -t -V 6 -f "$1"
' vsm-lldpad "$W/lldpad/lldpad.conf" >"$W/lldpad/lldpad.log" 2>&1 </dev/null &
LLDPAD=$!

# --------------------------------------------------------------------------
# install

# libvirt-daemon-system enables libvirtd.service: it runs from the boot
# on, before the hook exists, as on a compute node that gets vsimig later.
C systemctl is-active --quiet libvirtd.service || fail "libvirtd is not running after the boot"
# An operator's own /etc/libvirt/hooks/qemu script: the package's hook is
# a qemu.d/ drop-in and must never touch it (checked after the purge).
C mkdir -p /etc/libvirt/hooks
C sh -c 'printf "#!/bin/sh\n# the operator'"'"'s own hook\nexit 0\n" >/etc/libvirt/hooks/qemu && chmod 0755 /etc/libvirt/hooks/qemu'
own_hook=$(C sha256sum /etc/libvirt/hooks/qemu)
C dpkg -i "/mnt/pkg/$(basename "$DEB1")" >"$W/dpkg-i.log" 2>&1 || { cat "$W/dpkg-i.log" >&2; fail "dpkg -i failed"; }
grep -q "restart libvirtd" "$W/dpkg-i.log" || {
	cat "$W/dpkg-i.log" >&2; fail "postinst does not tell to restart the running libvirtd"; }
C getent group vsimig >/dev/null || fail "no vsimig group after the install (sysusers)"
[[ $(C systemctl is-enabled vsimigd.service) == enabled ]] || fail "vsimigd.service not enabled by the install"
wait_for 10 "vsimigd active after dpkg -i" C systemctl is-active --quiet vsimigd.service
say "installed $V1: vsimigd.service enabled and active"

# The operator's step 2: the uplink, the control group, and the peer
# channel (a listener on br0's address with a cluster key).
C ip addr add 10.77.212.1/24 dev br0
C vsimigctl peer-key new /etc/vsimig/peer.key >/dev/null
C sed -i -e 's/^#uplinks = .*/uplinks = vsmup0/' -e 's/^#group = .*/group = vsimig/' \
	-e 's/^#listen = .*/listen = 10.77.212.1:7788/' -e 's|^#key-file = .*|key-file = /etc/vsimig/peer.key|' \
	/etc/vsimig/vsimigd.conf
C grep -q '^uplinks = vsmup0' /etc/vsimig/vsimigd.conf || fail "could not set [vdp] uplinks"
C grep -q '^group = vsimig' /etc/vsimig/vsimigd.conf || fail "could not set [control] group"
C systemctl stop vsimigd.service || fail "systemctl stop vsimigd failed"

# --------------------------------------------------------------------------
# readiness

C systemctl start vsimigd.service || fail "systemctl start vsimigd failed: $(C systemctl show -P Result vsimigd.service)"
t_ret=$(C date +%s%6N)
# The READY line of this very start (its MainPID: the daemon of the
# install logged one too); journald may write it a moment later.
pid=$(mainpid)
ready=
for ((i = 0; i < 50; i++)); do
	ready=$(C journalctl _PID="$pid" -o cat --no-pager | grep 'READY=1 sent to systemd at' | tail -1) || true
	[[ -n $ready ]] && break
	sleep 0.1
done
[[ -n $ready ]] || fail "vsimigd (pid $pid) logged no READY=1"
[[ $ready =~ realtime\ ([0-9]+)\.([0-9]{6}),\ monotonic\ ([0-9]+)\.([0-9]{6}) ]] || fail "bad READY line: $ready"
ready_rt=$((10#${BASH_REMATCH[1]}${BASH_REMATCH[2]}))
ready_mono=$((10#${BASH_REMATCH[3]}${BASH_REMATCH[4]}))
active_mono=$(prop vsimigd.service ActiveEnterTimestampMonotonic)
((ready_rt <= t_ret)) || fail "systemctl start returned ${t_ret} us, before READY=1 (${ready_rt} us)"
((active_mono >= ready_mono)) || fail "systemd made the unit active at ${active_mono} us, before READY=1 (${ready_mono} us)"
[[ $(C systemctl is-active vsimigd.service) == active ]] || fail "vsimigd.service not active"
say "systemctl start returned $(( (t_ret - ready_rt) / 1000 )) ms after READY=1; active $(( (active_mono - ready_mono) / 1000 )) ms after it"
st=$(prop vsimigd.service StatusText)
[[ $st == *"uplinks 1/1 up"* && $st == *"hook calls"* ]] || fail "STATUS= line missing or wrong: '$st'"
say "StatusText: $st"

# systemd-analyze on the installed unit: verify (no unparsed syscall
# names: a bad SystemCallFilter line is only a warning) and the score.
C systemd-analyze verify --man=no vsimigd.service >"$W/verify.log" 2>&1 || {
	cat "$W/verify.log" >&2; fail "systemd-analyze verify vsimigd.service failed"; }
grep -i -e 'Failed to parse system call' -e 'vsimigd.service:[0-9]*:' "$W/verify.log" && fail "systemd-analyze verify warns about the unit"
score=$(C systemd-analyze security vsimigd.service | sed -n 's/.*Overall exposure level for vsimigd.service: \([0-9.]*\).*/\1/p')
[[ -n $score ]] || fail "no systemd-analyze security score"
say "systemd-analyze verify: clean; security: exposure $score"

# --------------------------------------------------------------------------
# the control socket: root, a member of group vsimig, another user

C vsimigctl status >/dev/null || fail "vsimigctl status (root) failed"
C useradd -M -N -g users -G vsimig vsmop
C useradd -M -N -g users vsmother
C setpriv --reuid vsmop --regid users --init-groups vsimigctl status >/dev/null 2>"$W/op.err" || {
	cat "$W/op.err" >&2; fail "vsimigctl status as a member of group vsimig failed"; }
if C setpriv --reuid vsmother --regid users --init-groups vsimigctl status >/dev/null 2>"$W/other.err"; then
	fail "vsimigctl status answered a user outside group vsimig"
fi
say "vsimigctl status: root ok, group vsimig ok, other user refused ($(head -1 "$W/other.err"))"

# --------------------------------------------------------------------------
# libvirtd restarted after the install (the operator's step 3), a guest

C systemctl restart libvirtd.service
C virsh -q define /mnt/pkg/guest.xml >/dev/null || fail "virsh define failed"
C virsh -q start vsmsys-guest >/dev/null || fail "virsh start failed"
hooks() { status_json | jget libvirt.hooks; }
hooks_seen() { (( $(hooks) > 0 )); }
wait_for 20 "the installed hook calls reach vsimigd" hooks_seen
vsis() { status_json | jget uplinks.0.vsis; }
vsi_seen() { (( $(vsis) >= 1 )); }
wait_for 30 "the guest's VSI on vsmup0" vsi_seen
say "libvirtd called the hook ($(hooks) calls); the guest's VSI is on vsmup0"

# vsimigctl check (the operator's step 4).  Every item must be ok, except
# the clock, which is the host kernel's (a warn when the host is not
# synchronised).
evb_seen() { [[ $(status_json | jget uplinks.0.bridge) != null ]]; }
wait_for 30 "vsimigd sees lldpad's EVB TLV on vsmup0" evb_seen
connected() { [[ $(status_json | jget libvirt.connected) == true ]]; }
wait_for 30 "vsimigd connected to libvirtd again" connected
C vsimigctl check --json >"$W/check.json" 2>"$W/check.err" || true
python3 - "$W/check.json" <<'PY' || fail "vsimigctl check: an item is not ok (above)"
import json, sys
r = json.load(open(sys.argv[1]))
bad = 0
for c in r["checks"]:
    allowed = c["check"] == "time" and c["level"] == "warn"
    print(f"  check: {c['level']:4} {c['check']:8} {c.get('subject') or '':24} {c['text']}" + ("" if c["level"] == "ok" else f"  (fix: {c.get('fix')})"))
    if c["level"] != "ok" and not allowed:
        bad += 1
sys.exit(1 if bad or not r["checks"] else 0)
PY
say "vsimigctl check: every item ok (the clock: the host's)"

# --------------------------------------------------------------------------
# steady run: libvirtd restart, vsimigd restart, with the guest running

n0=$(prop vsimigd.service NRestarts)
C systemctl restart libvirtd.service
sleep 3
pid_before=$(mainpid)
C systemctl restart vsimigd.service || fail "systemctl restart vsimigd failed: $(C systemctl show -P Result vsimigd.service)"
[[ $(mainpid) != "$pid_before" ]] || fail "systemctl restart did not restart vsimigd"
wait_for 30 "the guest's VSI after the vsimigd restart" vsi_seen
# The <metadata> snapshot is written after a 1 s debounce by a GLib worker.
sleep 4
[[ $(C systemctl is-active vsimigd.service) == active ]] || fail "vsimigd.service not active after the steady run"
[[ $(prop vsimigd.service NRestarts) == "$n0" ]] || fail "vsimigd was restarted by systemd during the steady run"
C journalctl --no-pager -o cat | grep -E 'status=31/SYS|code=killed' && fail "a process was killed (seccomp?) in the container"
dmesg 2>/dev/null | tail -n +"$((KMSG_START + 1))" | grep -E 'type=1326.*(vsimigd|comm="(gmain|gdbus|pool|vsimig))' &&
	fail "the kernel log shows a seccomp kill of vsimigd"
say "steady run: libvirtd and vsimigd restarted with the guest running; no restart, no SIGSYS"

# --------------------------------------------------------------------------
# SIGHUP: RELOADING=1 then READY=1

C systemctl log-level debug
pid=$(mainpid)
C kill -HUP "$pid"
reload_seen() { C journalctl --no-pager -o cat _PID=1 | grep -q 'vsimigd.service: Changed running -> reload'; }
wait_for 10 "systemd sees RELOADING=1 (running -> reload)" reload_seen
back_seen() { C journalctl --no-pager -o cat _PID=1 | grep -q 'vsimigd.service: Changed reload -> running'; }
wait_for 10 "systemd sees READY=1 after the reload (reload -> running)" back_seen
C systemctl log-level info
[[ $(mainpid) == "$pid" && $(C systemctl is-active vsimigd.service) == active ]] || fail "SIGHUP restarted or stopped vsimigd"
say "SIGHUP: systemd went running -> reload -> running"

# --------------------------------------------------------------------------
# the sandbox, seen from the daemon's own mount namespace

pid=$(mainpid)
if C nsenter -t "$pid" -m sh -c ': >/etc/vsimig/probe' 2>"$W/ro.err"; then
	fail "/etc is writable in vsimigd's mount namespace (ProtectSystem=strict)"
fi
grep -q 'Read-only file system' "$W/ro.err" || fail "writing /etc failed, but not with EROFS: $(cat "$W/ro.err")"
C nsenter -t "$pid" -m sh -c ': >/run/vsimig/probe && rm /run/vsimig/probe' || fail "/run/vsimig not writable for vsimigd"
[[ $(C stat -c %G /run/vsimig/vsimigd.sock) == vsimig ]] || fail "the control socket's group is not vsimig"
say "sandbox: /etc read-only (EROFS) and /run/vsimig writable in vsimigd's namespace; socket group vsimig"

# --------------------------------------------------------------------------
# the watchdog

n0=$(prop vsimigd.service NRestarts)
pid=$(mainpid)
C kill -STOP "$pid"
restarted() { (( $(prop vsimigd.service NRestarts) > n0 )) && C systemctl is-active --quiet vsimigd.service; }
wait_for 40 "the watchdog to restart the SIGSTOP'd vsimigd" restarted
[[ $(mainpid) != "$pid" ]] || fail "same MainPID after the watchdog restart"
C journalctl -u vsimigd.service --no-pager -o cat | grep -q 'Watchdog timeout' || fail "no watchdog timeout in the journal"
say "watchdog: SIGSTOP'd vsimigd killed and restarted (NRestarts $n0 -> $(prop vsimigd.service NRestarts))"

# --------------------------------------------------------------------------
# upgrade with the guest running

wait_for 30 "the guest's VSI before the upgrade" vsi_seen
pid=$(mainpid)
C dpkg -i "/mnt/pkg/vsimig_${V2}_$(dpkg --print-architecture).deb" >"$W/dpkg-u.log" 2>&1 || {
	cat "$W/dpkg-u.log" >&2; fail "dpkg -i of the upgrade failed"; }
[[ $(C dpkg-query -W -f '${Version}' vsimig) == "$V2" ]] || fail "vsimig is not at $V2 after the upgrade"
[[ $(mainpid) != "$pid" ]] || fail "the upgrade did not restart vsimigd"
C systemctl is-active --quiet vsimigd.service || fail "vsimigd not active after the upgrade"
C grep -q '^uplinks = vsmup0' /etc/vsimig/vsimigd.conf || fail "the upgrade replaced the edited conffile"
wait_for 30 "the upgraded vsimigd reconciles the running guest (its VSI)" vsi_seen
[[ $(status_json | jget libvirt.domains_active) -ge 1 ]] || fail "the upgraded vsimigd does not see the running guest"
say "upgrade to $V2 with the guest running: vsimigd restarted and found the guest again"

# --------------------------------------------------------------------------
# a live migration to a second host, upgraded while the guest arrives

# Host B: a second container from the same cached root, its uplink on the
# same lldpad bridge, a veth between the two for libvirt and QEMU.
mkdir "$W/rootb"
tar -C "$W/rootb" -I zstd -xf "$ROOT_TAR"
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 setsid systemd-nspawn -q -D "$W/rootb" -M "${NAME}b" -b \
	--register=no --keep-unit --console=pipe --private-network --volatile=overlay \
	--bind-ro="$W/debs:/mnt/pkg" >"$W/bootb.log" 2>&1 </dev/null &
NSPIDB=$!
for ((i = 0; i < 200; i++)); do
	LB=$(pgrep -P "$NSPIDB" -x systemd) && break
	sleep 0.05
done
[[ -n $LB ]] || { cat "$W/bootb.log" >&2; fail "systemd did not start in the second container"; }
B() { nsenter -t "$LB" -a "$@"; }
for ((i = 0; i < 300; i++)); do
	st=$(B systemctl is-system-running --wait 2>/dev/null) || true
	[[ $st == running || $st == degraded ]] && break
	sleep 0.1
done
[[ $st == running || $st == degraded ]] || fail "the second container did not boot (state '$st')"
ip -n "$BRNS" link set vsmup1 netns "$LB"
ip -n "$BRNS" link add vsmmiga type veth peer name vsmmigb
ip -n "$BRNS" link set vsmmiga netns "$L"
ip -n "$BRNS" link set vsmmigb netns "$LB"
C ip addr add 10.77.214.1/24 dev vsmmiga
B ip addr add 10.77.214.2/24 dev vsmmigb
B ip link add br0 type bridge
B ip link set vsmup1 master br0
for l in vsmup1 br0 vsmmigb lo; do B ip link set "$l" up; done
C ip link set vsmmiga up
# libvirt: distinct host names and UUIDs (one cached root), TCP without
# auth on the migration link (libvirtd-tcp.socket), QEMU's incoming
# migration on B's address.
C hostname vsmsysa
B hostname vsmsysb
for h in C B; do
	$h sh -c "printf 'host_uuid = \"%s\"\nauth_tcp = \"none\"\n' \$(cat /proc/sys/kernel/random/uuid) >>/etc/libvirt/libvirtd.conf"
done
B sh -c 'echo "migration_address = \"10.77.214.2\"" >>/etc/libvirt/qemu.conf'
B mkdir -p /etc/libvirt/hooks
B dpkg -i "/mnt/pkg/$(basename "$DEB1")" >"$W/dpkg-b.log" 2>&1 || { cat "$W/dpkg-b.log" >&2; fail "dpkg -i on B failed"; }
B sed -i -e 's/^#uplinks = .*/uplinks = vsmup1/' /etc/vsimig/vsimigd.conf
B systemctl restart vsimigd.service || fail "vsimigd on B did not start"
B systemctl stop libvirtd.service
B systemctl start libvirtd-tcp.socket libvirtd.service || fail "libvirtd with TCP on B did not start"
C systemctl restart libvirtd.service
wait_for 30 "vsimigd connected to A's libvirtd again" connected
status_b() { B vsimigctl status --json; }
vsis_b() { status_b | jget uplinks.0.vsis; }
say "host B booted, vsimig $V1 on it; migrating the guest A -> B (bandwidth 1 MiB/s) and upgrading B to $V2 meanwhile"

# The guest's RAM is mostly zero pages: 1 MiB/s stretches the copy of the
# rest (firmware, option ROM) over seconds.
C virsh migrate --live --bandwidth 1 vsmsys-guest qemu+tcp://10.77.214.2/system \
	--migrateuri tcp://10.77.214.2 >"$W/migrate.log" 2>&1 &
MIGPID=$!
migrating() { B virsh -q list --all | grep -q vsmsys-guest; }
wait_for 30 "the incoming guest on B" migrating
pid=$(B systemctl show -P MainPID vsimigd.service)
kill -0 "$MIGPID" 2>/dev/null && mig_at_upgrade=running || mig_at_upgrade=finished
B dpkg -i "/mnt/pkg/vsimig_${V2}_$(dpkg --print-architecture).deb" >"$W/dpkg-bu.log" 2>&1 || {
	cat "$W/dpkg-bu.log" >&2; fail "dpkg -i of the upgrade on B failed"; }
state_after=$(B virsh -q domstate vsmsys-guest 2>&1 || true)
[[ $(B systemctl show -P MainPID vsimigd.service) != "$pid" ]] || fail "the upgrade did not restart vsimigd on B"
wait "$MIGPID" || { cat "$W/migrate.log" >&2; fail "the live migration failed"; }
say "migration done: it was $mig_at_upgrade when dpkg -i began on B; B's guest was '$state_after' when dpkg -i had restarted vsimigd there"
[[ $(B virsh -q domstate vsmsys-guest) == running ]] || fail "the guest does not run on B"
[[ $(B dpkg-query -W -f '${Version}' vsimig) == "$V2" ]] || fail "vsimig on B is not at $V2"
vsi_b_assoc() { [[ $(B vsimigctl --json vdp list | jget vsis.0.state) == associated ]]; }
wait_for 30 "B's upgraded vsimigd has the migrated guest's VSI associated" vsi_b_assoc
vsi_a_off() { [[ $(C vsimigctl --json vdp list | jget vsis.0.state) == none ]]; }
wait_for 30 "A's vsimigd de-associated the guest's VSI" vsi_a_off
B systemctl is-active --quiet vsimigd.service || fail "vsimigd on B not active"
B journalctl -u vsimigd.service -o cat --no-pager | grep -E 'vsmsys-guest|reconcile' | sed 's/^/  B vsimigd: /' | tail -8
say "live migration across B's upgrade: the guest runs on B, associated by B's vsimigd $V2, de-associated by A's"
kill -RTMIN+4 "$LB" 2>/dev/null

# --------------------------------------------------------------------------
# purge

# The key is the operator's file, not the package's: a purge keeps
# /etc/vsimig while it is there (postrm says so).  Removed first here.
C rm /etc/vsimig/peer.key

C dpkg --purge vsimig >"$W/dpkg-p.log" 2>&1 || { cat "$W/dpkg-p.log" >&2; fail "dpkg --purge failed"; }
C dpkg -L vsimig >/dev/null 2>&1 && fail "dpkg -L vsimig still lists files after the purge"
for p in /etc/vsimig /run/vsimig /lib/systemd/system/vsimigd.service /etc/libvirt/hooks/qemu.d/vsimig \
	/etc/systemd/system/multi-user.target.wants/vsimigd.service /usr/sbin/vsimigd /usr/bin/vsimigctl \
	/usr/lib/sysusers.d/vsimig.conf /var/lib/systemd/deb-systemd-helper-enabled/vsimigd.service.dsh-also; do
	C test -e "$p" && fail "$p is left after the purge"
done
[[ $(prop vsimigd.service LoadState) == not-found ]] || fail "systemd still knows vsimigd.service after the purge"
C pgrep -x vsimigd >/dev/null && fail "vsimigd still runs after the purge"
[[ $(C sha256sum /etc/libvirt/hooks/qemu 2>/dev/null) == "$own_hook" ]] ||
	fail "the operator's /etc/libvirt/hooks/qemu changed or went away"
# Policy 9.2: the system group stays (files outside the package may carry it).
C getent group vsimig >/dev/null || fail "the purge removed the vsimig group (it should stay)"
say "purge: nothing left (the vsimig group stays, Debian policy); the operator's hooks/qemu untouched"

say "ok"

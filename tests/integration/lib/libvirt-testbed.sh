# shellcheck shell=bash
#
# libvirt-testbed.sh - two libvirt "hosts" with real `virsh migrate`.
#
# Builds, inside namespaces the test creates (DESIGN.md §6):
#
#            netns $LT_NS_SW: bridge br-sw (multicast_snooping 1, mcast_querier 1)
#                  sw-a                                   sw-b
#                   |                                      |
#   host A (netns $LT_NS_A + mnt + uts,        host B (netns $LT_NS_B + mnt + uts,
#           hostname hosta)                            hostname hostb)
#     up0 -> br0 <- vnetN (guest NICs)           up0 -> br0 <- vnetN
#     mig0 10.77.9.1/24 ------------------------ mig0 10.77.9.2/24
#     libvirtd --listen (tcp 16509, no auth)     libvirtd --listen
#
# Each host is a network namespace plus a mount and a UTS namespace, held
# open by a long-lived holder process ($LT_HOLDER_A / $LT_HOLDER_B); every
# later command enters exactly those three namespaces (lt_exec).  In the
# host's mount namespace, private bind mounts cover /run, /etc/libvirt,
# /etc/hosts, /etc/passwd, /etc/group (plus the libvirt-qemu user libvirtd
# insists on), /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt:
# the machine's own copies are never touched.  The bind sources live under
# $LT_DIR_A / $LT_DIR_B (inside $TB_DIR), so the test can read pid files,
# hook logs and QEMU logs from outside (lt_host_path).
#
# libvirtd (Debian 12: libvirt 9.0, monolithic daemon only) runs under the
# child-subreaper wrapper subreaper.c, which reaps the daemonized QEMU
# processes at once (this machine's PID 1 reaps slowly: without it
# `virsh destroy` takes 1.6-1.8 s instead of 0.35 s, and so does the
# source side of every migration).
# Guests are TCG QEMU guests without disk or kernel: SeaBIOS idles.
#
# Usage (bash, works under `set -euo pipefail`):
#
#   . tests/integration/lib/testbed.sh
#   . tests/integration/lib/libvirt-testbed.sh
#   tb_init
#   lt_setup "$hook"                  # hook file -> /etc/libvirt/hooks/qemu.d/vsimig
#   lt_libvirtd_start A B
#   uuid=$(lt_define_guest A g1)
#   lt_migrate A B g1                 # prints the elapsed ms; rc = virsh's
#   lt_virsh B domstate g1
#
# Everything is torn down by tb_cleanup (lt_cleanup is registered with
# tb_defer by lt_setup): QEMUs and libvirtds are killed by PID, the holders
# are killed (which drops every private mount), the netns are deleted.
#
# Functions (each documented where it is defined):
#   lt_setup [HOOK_SRC]             lt_exec HOST CMD...
#   lt_libvirtd_start HOST...       lt_libvirtd_stop HOST...
#   lt_libvirtd_restart HOST...     lt_virsh HOST ARGS...
#   lt_define_guest HOST NAME [MAC] lt_migrate SRC DST NAME [FLAGS...]
#   lt_domstate HOST NAME           lt_wait_domstate HOST NAME STATE [TMO_S]
#   lt_host_write HOST PATH CONTENT lt_host_path HOST PATH
#   lt_events_start HOST FILE       lt_events_stop [FILE]
#   lt_qemu_pids HOST               lt_cleanup
#
# Exported variables (after lt_setup):
#   LT_NS_SW, LT_NS_A, LT_NS_B      netns names (ip netns / ip -n usable)
#   LT_HOLDER_A, LT_HOLDER_B        holder pids (nsenter -t PID -n -m -u)
#   LT_DIR, LT_DIR_A, LT_DIR_B      work dirs ($TB_DIR/lt, .../A, .../B)
#   LT_IP_A, LT_IP_B                10.77.9.1, 10.77.9.2 (mig0)
#   LT_HOSTNAME_A, LT_HOSTNAME_B    hosta, hostb
#   LT_UUID_A, LT_UUID_B            libvirtd host_uuid of each host
#   LT_HOOK_LOG                     path *inside a host* that the selftest
#                                   hook writes (/run/vsimig-hook.log)
# After lt_libvirtd_start H: LT_LIBVIRTD_PID_H (the daemon), LT_SUBREAPER_PID_H.
# After lt_migrate: LT_MIGRATE_RC, LT_MIGRATE_MS, LT_MIGRATE_T0_NS,
#   LT_MIGRATE_T1_NS (epoch ns) - only when not called in a subshell.
#
# Environment knobs:
#   LT_HOOK_ENV         if set, written to /etc/libvirt/hooks/vsimig.env in
#                       both hosts by lt_setup (before libvirtd starts)
#   LT_LIBVIRTD_LOG     libvirtd log_level: "3" (default, warnings) .. "1"
#                       (debug; slow); LT_LIBVIRTD_LOG_FILTERS overrides
#                       the log_filters that mute the noisiest debug sources
#   LT_GUEST_MEM_MIB    guest RAM (default 64)
#   LT_GUEST_ROM=1      keep the virtio NIC's iPXE option ROM (default: no
#                       ROM, so the idle guest sends nothing on the wire)
#   LT_GUEST_METADATA   XML put inside the guest's <metadata> element
#   LT_GUEST_TRANSIENT=1  `virsh create` instead of define + start
#   LT_HOST_IPV6=1      keep IPv6 (link-local, ND, MLD) on the hosts' br0
#                       and up0 and the switch ports (default: disabled,
#                       so only guest and test frames cross the uplink;
#                       br-sw keeps IPv6: its MLD querier needs an address)
#   LT_LIBVIRTD_ENV     extra NAME=VALUE words for libvirtd's environment
#                       (not the subreaper's; e.g. LD_PRELOAD=...,
#                       qbg-testbed.sh sets it)
#   LT_QEMU_CAPS_CACHE  a directory: QEMU capabilities XML cached across
#                       runs (libvirtd start ~0.3 s instead of ~1.5 s; it
#                       re-probes by itself when the cache is stale)
#   VSM_BUILD_ROOT      meson build dir; its tests/integration/lib/subreaper
#                       is used when present, else subreaper.c is compiled
#                       into $LT_DIR

if [[ -n ${LT__SOURCED:-} ]]; then
	return 0
fi
LT__SOURCED=1

LT_LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
if [[ -z ${TB__SOURCED:-} ]]; then
	# shellcheck source-path=SCRIPTDIR source=testbed.sh
	. "$LT_LIB_DIR/testbed.sh"
fi

LT_IP_A=10.77.9.1
LT_IP_B=10.77.9.2
LT_HOSTNAME_A=hosta
LT_HOSTNAME_B=hostb
LT_HOOK_LOG=/run/vsimig-hook.log
LT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Locally administered MACs: 02:76:73:6d ("vsm") : 1x (libvirt testbed) : yy.
LT_MAC_UP_A=02:76:73:6d:10:01
LT_MAC_UP_B=02:76:73:6d:10:02
LT_MAC_SW_A=02:76:73:6d:10:11
LT_MAC_SW_B=02:76:73:6d:10:12
LT_MAC_MIG_A=02:76:73:6d:10:21
LT_MAC_MIG_B=02:76:73:6d:10:22
LT_MAC_GUEST_DEFAULT=02:76:73:6d:20:01
export LT_IP_A LT_IP_B LT_HOSTNAME_A LT_HOSTNAME_B LT_HOOK_LOG \
	LT_MAC_UP_A LT_MAC_UP_B LT_MAC_SW_A LT_MAC_SW_B LT_MAC_MIG_A LT_MAC_MIG_B

# --------------------------------------------------------------------------
# helpers

lt__now_ns() { date +%s%N; }

# lt__host_check HOST: HOST must be A or B and set up.
lt__host_check() {
	[[ $1 == A || $1 == B ]] || tb_fail "host must be A or B, not '$1'"
	local hv="LT_HOLDER_$1"
	[[ -n ${!hv:-} ]] || tb_fail "host $1 is not set up (call lt_setup)"
	tb__pid_gone "${!hv}" && tb_fail "host $1: holder pid ${!hv} is gone"
	return 0
}

# lt_exec HOST CMD...: run CMD in the network, mount and UTS namespaces of
# HOST (A or B), with the caller's environment.  CMD sees the host's
# private /run, /etc/libvirt, ..., its hostname and its interfaces.
lt_exec() {
	local h=$1
	shift
	lt__host_check "$h"
	local hv="LT_HOLDER_$h"
	nsenter -t "${!hv}" -n -m -u -- "$@"
}

# lt__env HOST: the clean environment every libvirt process (libvirtd,
# virsh) runs with, as words for the command line: env -i PATH HOME LC_ALL.
lt__env() {
	local dv="LT_DIR_$1"
	printf '%s\n' env -i "PATH=$LT_PATH" "HOME=${!dv}/home" LC_ALL=C
}

# lt_host_path HOST PATH: print where PATH inside HOST (under one of the
# private mounts: /run, /etc/libvirt, /var/{lib,log,cache}/libvirt,
# /etc/hosts) lives in the caller's view, e.g.
# `cat "$(lt_host_path B /run/vsimig-hook.log)"`.  Fails for other paths.
lt_host_path() {
	local h=$1 p=$2 dv="LT_DIR_$1"
	[[ $h == A || $h == B ]] || tb_fail "host must be A or B"
	local d=${!dv}
	case $p in
	/run | /run/*) printf '%s\n' "$d/run${p#/run}" ;;
	/var/run/*) printf '%s\n' "$d/run${p#/var/run}" ;;
	/etc/libvirt | /etc/libvirt/*) printf '%s\n' "$d/etc-libvirt${p#/etc/libvirt}" ;;
	/etc/hosts) printf '%s\n' "$d/hosts" ;;
	/var/lib/libvirt | /var/lib/libvirt/*) printf '%s\n' "$d/var-lib-libvirt${p#/var/lib/libvirt}" ;;
	/var/log/libvirt | /var/log/libvirt/*) printf '%s\n' "$d/var-log-libvirt${p#/var/log/libvirt}" ;;
	/var/cache/libvirt | /var/cache/libvirt/*) printf '%s\n' "$d/var-cache-libvirt${p#/var/cache/libvirt}" ;;
	*) tb_fail "lt_host_path: $p is not under a private mount of host $h" ;;
	esac
}

# lt_host_write HOST PATH CONTENT: write CONTENT (plus a newline) to PATH
# inside HOST's mount namespace (parents created; mode 0755 if CONTENT
# starts with "#!", else 0644).  E.g. lt_host_write A /etc/libvirt/hooks/vsimig.env "VSM_X=1".
# Write hook scripts before lt_libvirtd_start: libvirtd scans hooks at start.
lt_host_write() {
	local h=$1 p=$2 content=$3 mode=0644
	[[ $content == '#!'* ]] && mode=0755
	# shellcheck disable=SC2016
	lt_exec "$h" /bin/sh -c 'mkdir -p -- "$(dirname -- "$1")" && cat >"$1" && chmod "$2" "$1"' \
		lt-write "$p" "$mode" <<<"$content"
}

# --------------------------------------------------------------------------
# setup

# lt__conf_libvirtd HOST: print libvirtd.conf for HOST.
lt__conf_libvirtd() {
	local uv="LT_UUID_$1" lvl=${LT_LIBVIRTD_LOG:-3}
	cat <<EOF
# written by libvirt-testbed.sh for host $1
listen_tls = 0
listen_tcp = 1
tcp_port = "16509"
auth_tcp = "none"
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
host_uuid = "${!uv}"
log_level = $lvl
log_filters = "${LT_LIBVIRTD_LOG_FILTERS:-3:object 3:json 3:event 3:util.threadjob 3:rpc.keepalive}"
log_outputs = "$lvl:file:/var/log/libvirt/libvirtd.log"
# client connections (virsh, the p2p source) are probed every 5 s
keepalive_interval = 5
keepalive_count = 5
EOF
}

# lt__conf_qemu HOST: print qemu.conf for HOST.
lt__conf_qemu() {
	local iv="LT_IP_$1"
	cat <<EOF
# written by libvirt-testbed.sh for host $1
# QEMU logs go to /var/log/libvirt/qemu/NAME.log directly: no virtlogd.
stdio_handler = "file"
# No SELinux/AppArmor labelling; DAC as root:root, and no xattrs to
# remember file owners.
security_driver = "none"
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
# No private /dev per QEMU: needs mount namespace games that buy nothing here.
namespaces = [ ]
# No cgroups: no systemd/machined, and the host's cgroupfs must stay untouched
# (the host's mount namespace has a fresh sysfs without cgroup mounts anyway).
cgroup_controllers = [ ]
# The destination tells the source to send the migration stream here.
migration_host = "${!iv}"
migration_address = "${!iv}"
migration_port_min = 49152
migration_port_max = 49215
vnc_listen = "127.0.0.1"
vnc_auto_unix_socket = 0
spice_listen = "127.0.0.1"
# no virtlockd
lock_manager = "nop"
max_processes = 0
max_files = 0
set_process_name = 1
EOF
}

# lt__link_setup: switch, hosts, veths, bridges, addresses.
lt__link_setup() {
	local ns
	for ns in "$LT_NS_SW" "$LT_NS_A" "$LT_NS_B"; do
		ip netns add "$ns" 2>"$LT_DIR/netns.err" ||
			tb_skip_or_fail "cannot create netns $ns: $(cat "$LT_DIR/netns.err")"
		LT__NETNS+=("$ns")
		ip -n "$ns" link set lo up
	done

	# The switch: snooping + querier, so `bridge mdb show` is meaningful.
	ip -n "$LT_NS_SW" link add br-sw type bridge mcast_snooping 1 mcast_querier 1
	# br-sw keeps its IPv6 link-local (the MLD querier's source address) but
	# sends no router solicitations.
	ip netns exec "$LT_NS_SW" sh -c 'echo 0 >/proc/sys/net/ipv6/conf/br-sw/router_solicitations'
	ip -n "$LT_NS_SW" link set br-sw up

	local h sw mac_up mac_sw
	for h in A B; do
		ns="LT_NS_$h"
		ns=${!ns}
		sw="sw-${h,,}"
		mac_up="LT_MAC_UP_$h"
		mac_sw="LT_MAC_SW_$h"
		ip -n "$ns" link add up0 address "${!mac_up}" type veth \
			peer name "$sw" address "${!mac_sw}" netns "$LT_NS_SW"
		ip -n "$LT_NS_SW" link set "$sw" master br-sw up
		# br0 is the bridge the guests' taps are enslaved to (the "uplink
		# bridge" of a compute node); up0 is its uplink.
		ip -n "$ns" link add br0 type bridge
		# Quiet uplink: no IPv6 link-local (hence no ND/MLD/RS from the
		# host stack) on br0 and up0 unless LT_HOST_IPV6=1, so the frames
		# on the switch port are the guests' and the test's own.
		if [[ ${LT_HOST_IPV6:-0} != 1 ]]; then
			ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/up0/disable_ipv6 &&
				echo 1 >/proc/sys/net/ipv6/conf/br0/disable_ipv6'
			ip netns exec "$LT_NS_SW" sh -c "echo 1 >/proc/sys/net/ipv6/conf/$sw/disable_ipv6"
		fi
		ip -n "$ns" link set up0 master br0 up
		ip -n "$ns" link set br0 up
	done
	ip -n "$LT_NS_A" link add mig0 address "$LT_MAC_MIG_A" type veth \
		peer name mig0 address "$LT_MAC_MIG_B" netns "$LT_NS_B"
	ip -n "$LT_NS_A" addr add "$LT_IP_A/24" dev mig0
	ip -n "$LT_NS_B" addr add "$LT_IP_B/24" dev mig0
	ip -n "$LT_NS_A" link set mig0 up
	ip -n "$LT_NS_B" link set mig0 up
}

# lt__links_wait: wait for carrier on every link lt__link_setup made.  The
# kernel's linkwatch reports operstate (and attaches the qdisc that lets
# frames out) up to 1 s after the link is set up, so lt_setup waits once,
# at its end, after the host setup that runs meanwhile.
lt__links_wait() {
	local h ns
	for h in A B; do
		ns="LT_NS_$h"
		tb_wait_link_up "${!ns}" mig0
		tb_wait_link_up "${!ns}" up0
		tb_wait_link_up "${!ns}" br0
		tb_wait_link_up "$LT_NS_SW" "sw-${h,,}"
	done
	tb_wait_link_up "$LT_NS_SW" br-sw
}

# lt__host_setup HOST: start HOST's holder, mount its private dirs, write
# its configs.
lt__host_setup() {
	local h=$1 hook=${2:-} ns hn d pid i
	ns="LT_NS_$h"
	ns=${!ns}
	hn="LT_HOSTNAME_$h"
	hn=${!hn}
	d="$LT_DIR/$h"
	printf -v "LT_DIR_$h" %s "$d"
	printf -v "LT_UUID_$h" %s "$(cat /proc/sys/kernel/random/uuid)"
	export "LT_DIR_$h" "LT_UUID_$h"

	mkdir -p "$d"/{run,home,etc-libvirt,var-lib-libvirt,var-log-libvirt/qemu,var-cache-libvirt,ovl}
	chmod 0755 "$d"/run
	cp -a /etc/libvirt/. "$d/etc-libvirt/"
	mkdir -p "$d/etc-libvirt/hooks/qemu.d" "$d/etc-libvirt/qemu"
	lt__conf_libvirtd "$h" >"$d/etc-libvirt/libvirtd.conf"
	lt__conf_qemu "$h" >"$d/etc-libvirt/qemu.conf"
	# Both names resolve on both hosts; they are what `virsh migrate
	# qemu+tcp://hostb/system` and libvirt's own hostname checks use.
	cat >"$d/hosts" <<EOF
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
$LT_IP_A	$LT_HOSTNAME_A
$LT_IP_B	$LT_HOSTNAME_B
EOF
	# libvirt 9.0 looks up its build-time QEMU user and group (Debian:
	# libvirt-qemu) before it reads qemu.conf, and refuses to start when
	# they do not exist (libvirt-daemon-system normally creates them).
	# Private copies of /etc/passwd and /etc/group add them when missing.
	cp /etc/passwd "$d/passwd"
	cp /etc/group "$d/group"
	getent group libvirt-qemu >/dev/null || echo 'libvirt-qemu:x:64055:' >>"$d/group"
	getent group kvm >/dev/null || echo 'kvm:x:64056:' >>"$d/group"
	getent group libvirt >/dev/null || echo 'libvirt:x:64057:' >>"$d/group"
	getent passwd libvirt-qemu >/dev/null ||
		echo 'libvirt-qemu:x:64055:64055:Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin' >>"$d/passwd"
	if [[ -n $hook ]]; then
		install -m 0755 -- "$hook" "$d/etc-libvirt/hooks/qemu.d/vsimig"
	fi
	if [[ -n ${LT_HOOK_ENV:-} ]]; then
		printf '%s\n' "$LT_HOOK_ENV" >"$d/etc-libvirt/hooks/vsimig.env"
	fi
	if [[ -n ${LT_QEMU_CAPS_CACHE:-} && -d $LT_QEMU_CAPS_CACHE ]]; then
		mkdir -p "$d/var-cache-libvirt/qemu/capabilities"
		cp -a "$LT_QEMU_CAPS_CACHE/." "$d/var-cache-libvirt/qemu/capabilities/" 2>/dev/null || true
	fi

	# The holder: `ip netns exec` gives a new mount namespace with a sysfs
	# for this netns (so no cgroup mounts under /sys/fs/cgroup), unshare
	# adds the host's own mount + UTS namespaces.  Both exec: $! is sleep.
	ip netns exec "$ns" unshare --mount --uts --propagation private -- \
		sleep infinity </dev/null >/dev/null 2>&1 &
	pid=$!
	tb_track_pid "$pid" "lt-holder-$h"
	for ((i = 0; i < 100; i++)); do
		tb__pid_gone "$pid" && break
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == sleep &&
			$(readlink "/proc/$pid/ns/uts") != "$(readlink /proc/self/ns/uts)" ]] && break
		sleep 0.02
	done
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == sleep ]] || tb_fail "host $h: holder did not start"
	printf -v "LT_HOLDER_$h" %s "$pid"
	export "LT_HOLDER_$h"

	# Private mounts.  /var/{lib,log,cache}/libvirt need a mount point: if
	# the machine has none (no libvirt-daemon-system), an overlay over
	# /var/X provides it without touching the real /var/X; its upper and
	# work dirs are on a tmpfs that exists only in this mount namespace
	# (over $d/ovl), which works whatever filesystem $TB_DIR is on.
	# /run/netns is unmounted first so this mount namespace does not pin
	# other tests' network namespaces.
	# shellcheck disable=SC2016
	lt_exec "$h" /bin/sh -ec '
		h=$1 hn=$2 d=$3
		hostname "$hn"
		umount -R -l /run/netns 2>/dev/null || true
		mount --bind "$d/run" /run
		mount --bind "$d/etc-libvirt" /etc/libvirt
		mount --bind "$d/hosts" /etc/hosts
		mount --bind "$d/passwd" /etc/passwd
		mount --bind "$d/group" /etc/group
		mount -t tmpfs -o mode=0755 lt-ovl "$d/ovl"
		for x in lib log cache; do
			if [ ! -d "/var/$x/libvirt" ]; then
				mkdir -p "$d/ovl/$x/up" "$d/ovl/$x/work"
				mount -t overlay "lt-var-$x" \
					-o "lowerdir=/var/$x,upperdir=$d/ovl/$x/up,workdir=$d/ovl/$x/work" "/var/$x"
				mkdir "/var/$x/libvirt"
			fi
			mount --bind "$d/var-$x-libvirt" "/var/$x/libvirt"
		done
		mkdir -p /run/lock
	' lt-setup "$h" "$hn" "$d" || tb_fail "host $h: private mounts failed"
	tb_log "host $h: netns $ns holder $pid dir $d"
}

# lt_setup [HOOK_SRC]: build the switch and hosts A and B (see the file
# header).  HOOK_SRC, if given, is installed as
# /etc/libvirt/hooks/qemu.d/vsimig (0755) in both hosts; $LT_HOOK_ENV, if
# set, as /etc/libvirt/hooks/vsimig.env.  Does not start libvirtd.
# Registers lt_cleanup with tb_defer.  Call once, after tb_init.
lt_setup() {
	local hook=${1:-}
	[[ ${TB__INITED:-} == 1 ]] || tb_fail "lt_setup: call tb_init first"
	[[ -z ${LT__SETUP:-} ]] || tb_fail "lt_setup called twice"
	[[ -z $hook || -f $hook ]] || tb_fail "lt_setup: hook $hook is not a file"
	local tool
	for tool in libvirtd virsh qemu-system-x86_64 nsenter unshare cc; do
		command -v "$tool" >/dev/null 2>&1 || tb_skip_or_fail "missing tool: $tool"
	done
	[[ -c /dev/net/tun ]] || tb_skip_or_fail "no /dev/net/tun"
	# The hosts' private mounts would hide a $TB_DIR below one of them.
	case $TB_DIR/ in
	/run/* | /var/run/* | /etc/* | /var/lib/* | /var/log/* | /var/cache/*)
		tb_fail "lt_setup: TB_DIR=$TB_DIR is below a path the hosts mount over (set TMPDIR)" ;;
	esac
	LT__SETUP=1
	LT__NETNS=()
	LT__EVENTS=()     # "pid:file" of running `virsh event` processes
	LT__DAEMONS=()    # "host:subreaper-pid" of every libvirtd started
	tb_defer lt_cleanup

	LT_DIR="$TB_DIR/lt"
	mkdir -p "$LT_DIR"
	LT_NS_SW="${TB_ID}-ltsw"
	LT_NS_A="${TB_ID}-lta"
	LT_NS_B="${TB_ID}-ltb"
	export LT_DIR LT_NS_SW LT_NS_A LT_NS_B

	lt__link_setup
	lt__host_setup A "$hook"
	lt__host_setup B "$hook"
	lt__subreaper_bin >/dev/null
	lt__links_wait
}

# lt__subreaper_bin: print the subreaper binary (the meson-built one if
# present, else compile subreaper.c into $LT_DIR once).
lt__subreaper_bin() {
	local b=${VSM_BUILD_ROOT:-}/tests/integration/lib/subreaper
	if [[ -n ${VSM_BUILD_ROOT:-} && -x $b ]]; then
		printf '%s\n' "$b"
		return 0
	fi
	b="$LT_DIR/subreaper"
	if [[ ! -x $b ]]; then
		cc -O2 -Wall -o "$b" "$LT_LIB_DIR/subreaper.c" 2>"$LT_DIR/subreaper.cc.log" ||
			{ cat "$LT_DIR/subreaper.cc.log" >&2; tb_fail "cannot compile subreaper.c"; }
	fi
	printf '%s\n' "$b"
}

# --------------------------------------------------------------------------
# libvirtd

# lt_virsh HOST ARGS...: run `virsh -c qemu:///system ARGS...` inside HOST
# (clean environment, LC_ALL=C).  E.g. lt_virsh B domstate --reason g1.
lt_virsh() {
	local h=$1
	shift
	# shellcheck disable=SC2046
	lt_exec "$h" $(lt__env "$h") virsh -c qemu:///system "$@"
}

# lt__daemon_pid HOST: print the pid of HOST's current libvirtd, or nothing.
lt__daemon_pid() {
	local v="LT_LIBVIRTD_PID_$1"
	[[ -n ${!v:-} ]] && ! tb__pid_gone "${!v}" && printf '%s\n' "${!v}"
	return 0
}

# lt_libvirtd_start HOST...: start `libvirtd --listen` in each HOST, each
# under the subreaper, with `env -i` (PATH, HOME, LC_ALL only),
# stdout/stderr in $LT_DIR_H/libvirtd.out, its log in
# /var/log/libvirt/libvirtd.log of the host.  Returns when `virsh version`
# answers in every HOST.  Exports LT_LIBVIRTD_PID_H (libvirtd itself) and
# LT_SUBREAPER_PID_H.  With several HOSTs and no QEMU capabilities cache
# yet, the first HOST starts alone and seeds the others' caches; otherwise
# they start in parallel.  QEMUs left running by a previous libvirtd of
# that host are reconnected to by libvirtd itself (hook "reconnect begin").
lt_libvirtd_start() {
	# libvirtd probes every qemu-system-* binary at start (x86_64 and i386
	# here, ~1.5 s each under TCG, 2 cores) unless its capabilities cache in
	# /var/cache/libvirt/qemu/capabilities is valid.  Both hosts run the
	# same binaries, so when the first HOST has no cache yet, start it
	# alone and seed the others' caches from it (~0.3 s per later start).
	if (($# > 1)) && ! lt__caps_cached "$1"; then
		local first=$1 h
		lt__libvirtd_start_now "$first"
		shift
		for h in "$@"; do lt__caps_copy "$first" "$h"; done
	fi
	lt__libvirtd_start_now "$@"
}

# lt__caps_cached HOST: HOST's private QEMU capabilities cache is not empty.
lt__caps_cached() {
	local d="LT_DIR_$1"
	compgen -G "${!d}/var-cache-libvirt/qemu/capabilities/*.xml" >/dev/null
}

# lt__caps_copy FROM TO: seed TO's QEMU capabilities cache from FROM's
# (unless TO has one).  libvirt re-probes if the copy is stale.
lt__caps_copy() {
	local f="LT_DIR_$1" t="LT_DIR_$2"
	lt__caps_cached "$2" && return 0
	mkdir -p "${!t}/var-cache-libvirt/qemu/capabilities"
	cp -a "${!f}/var-cache-libvirt/qemu/capabilities/." "${!t}/var-cache-libvirt/qemu/capabilities/" 2>/dev/null || true
}

lt__libvirtd_start_now() {
	local h d sr pid dpid i t0 vout='' hv
	sr=$(lt__subreaper_bin)
	for h in "$@"; do
		lt__host_check "$h"
		[[ -z $(lt__daemon_pid "$h") ]] || tb_fail "libvirtd already runs in host $h"
		d="LT_DIR_$h"
		d=${!d}
		rm -f "$d/libvirtd.pid"
		# A simple command in the background: bash execs nsenter, which
		# execs env, which execs the subreaper: $! is the subreaper.
		hv="LT_HOLDER_$h"
		# LT_LIBVIRTD_ENV: NAME=VALUE words for libvirtd alone (env execs
		# it: the pid stays the subreaper's child's).
		# shellcheck disable=SC2046,SC2086
		nsenter -t "${!hv}" -n -m -u -- $(lt__env "$h") "$sr" -p "$d/libvirtd.pid" -- \
			${LT_LIBVIRTD_ENV:+env $LT_LIBVIRTD_ENV} libvirtd --listen </dev/null >>"$d/libvirtd.out" 2>&1 &
		pid=$!
		tb_track_pid "$pid" "lt-subreaper-$h"
		LT__DAEMONS+=("$h:$pid")
		printf -v "LT_SUBREAPER_PID_$h" %s "$pid"
		export "LT_SUBREAPER_PID_$h"
	done
	t0=$SECONDS
	for h in "$@"; do
		d="LT_DIR_$h"
		d=${!d}
		pid="LT_SUBREAPER_PID_$h"
		pid=${!pid}
		dpid=
		for ((i = 0; i < 600; i++)); do
			if tb__pid_gone "$pid"; then
				sed 's/^/  libvirtd: /' "$d/libvirtd.out" >&2
				tail -20 "$d/var-log-libvirt/libvirtd.log" 2>/dev/null | sed 's/^/  libvirtd.log: /' >&2
				tb_fail "libvirtd in host $h exited during start"
			fi
			[[ -z $dpid && -s $d/libvirtd.pid ]] && dpid=$(cat "$d/libvirtd.pid")
			if [[ -n $dpid ]] && vout=$(lt_virsh "$h" version 2>&1); then
				break
			fi
			sleep 0.05
		done
		[[ -n $dpid && $vout == *"Running hypervisor"* ]] ||
			tb_fail "libvirtd in host $h not answering after $((SECONDS - t0)) s: $vout"
		printf -v "LT_LIBVIRTD_PID_$h" %s "$dpid"
		export "LT_LIBVIRTD_PID_$h"
		tb_log "libvirtd host $h pid $dpid (subreaper $pid) ready"
	done
	if [[ -n ${LT_QEMU_CAPS_CACHE:-} ]]; then
		d="LT_DIR_$1"
		if mkdir -p "$LT_QEMU_CAPS_CACHE" 2>/dev/null; then
			cp -a "${!d}/var-cache-libvirt/qemu/capabilities/." \
				"$LT_QEMU_CAPS_CACHE/" 2>/dev/null || true
		fi
	fi
}

# lt_libvirtd_stop HOST...: SIGTERM HOST's libvirtd (via its subreaper,
# which forwards it) and wait until the daemon is gone (SIGKILL after
# 15 s).  Running QEMUs are left alone, as on a real host; the old
# subreaper lingers, reaping them, until they exit.
lt_libvirtd_stop() {
	local h dpid sr i
	for h in "$@"; do
		lt__host_check "$h"
		dpid=$(lt__daemon_pid "$h")
		sr="LT_SUBREAPER_PID_$h"
		sr=${!sr:-}
		if [[ -z $dpid ]]; then
			tb_warn "libvirtd in host $h is not running"
			continue
		fi
		kill -TERM "$dpid" 2>/dev/null || true
		for ((i = 0; i < 600; i++)); do
			tb__pid_gone "$dpid" && break
			sleep 0.025
		done
		if ! tb__pid_gone "$dpid"; then
			tb_warn "libvirtd $dpid in host $h ignored SIGTERM, sending SIGKILL"
			kill -KILL "$dpid" 2>/dev/null || true
			for ((i = 0; i < 100; i++)); do
				tb__pid_gone "$dpid" && break
				sleep 0.05
			done
		fi
		# The subreaper exits now unless it still has QEMU children (then
		# it lingers, reaping them, and tb_cleanup/lt_cleanup ends it).
		if [[ -z $(lt_qemu_pids "$h") ]]; then
			for ((i = 0; i < 40; i++)); do
				tb__pid_gone "$sr" && break
				sleep 0.025
			done
		fi
		if tb__pid_gone "$sr"; then
			wait "$sr" 2>/dev/null || true
			tb__untrack_pid "$sr"
		fi
		unset "LT_LIBVIRTD_PID_$h"
		tb_log "libvirtd host $h stopped"
	done
}

# lt_libvirtd_restart HOST...: lt_libvirtd_stop, then lt_libvirtd_start.
# Guests keep running across the restart.
lt_libvirtd_restart() {
	lt_libvirtd_stop "$@"
	lt_libvirtd_start "$@"
}

# --------------------------------------------------------------------------
# guests

# lt_guest_xml NAME MAC: print the domain XML lt_define_guest uses: a TCG
# ("qemu" type) x86_64 guest with ACPI (PCI hotplug needs it), LT_GUEST_MEM_MIB (64) MiB, no disk, no
# kernel (SeaBIOS finds nothing to boot and idles), one virtio NIC on br0
# (no option ROM unless LT_GUEST_ROM=1), serial to
# /var/log/libvirt/qemu/NAME-serial.log, no graphics, no balloon.
lt_guest_xml() {
	local name=$1 mac=$2 rom="<rom enabled='no'/>"
	[[ ${LT_GUEST_ROM:-0} == 1 ]] && rom=
	cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>${LT_GUEST_MEM_MIB:-64}</memory>
  <vcpu>1</vcpu>
  <metadata>${LT_GUEST_METADATA:-}</metadata>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <bios rebootTimeout='-1'/>
  </os>
  <features>
    <acpi/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='$mac'/>
      <model type='virtio'/>
      $rom
    </interface>
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$name-serial.log'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# lt_define_guest HOST NAME [MAC]: define and start guest NAME on HOST (or,
# with LT_GUEST_TRANSIENT=1, create it transient) from lt_guest_xml; MAC
# defaults to 02:76:73:6d:20:01.  Prints the domain's UUID.  The XML is
# kept in $LT_DIR/NAME.xml.
lt_define_guest() {
	local h=$1 name=$2 mac=${3:-$LT_MAC_GUEST_DEFAULT} d x
	lt__host_check "$h"
	d="LT_DIR_$h"
	d=${!d}
	x="$LT_DIR/$name.xml"
	lt_guest_xml "$name" "$mac" >"$x"
	# virsh reads the file inside the host: $LT_DIR is visible there.
	if [[ ${LT_GUEST_TRANSIENT:-0} == 1 ]]; then
		lt_virsh "$h" create "$x" >/dev/null || tb_fail "host $h: virsh create $name failed"
	else
		lt_virsh "$h" define "$x" >/dev/null || tb_fail "host $h: virsh define $name failed"
		lt_virsh "$h" start "$name" >/dev/null || {
			tail -5 "$d/var-log-libvirt/qemu/$name.log" >&2 2>/dev/null
			tb_fail "host $h: virsh start $name failed"
		}
	fi
	lt_virsh "$h" domuuid "$name" | sed '/^$/d'
}

# lt_domstate HOST NAME: print NAME's state on HOST ("running", "paused",
# "shut off", ...) followed by the reason, e.g. "paused (migrating)", or
# "absent" when HOST does not know NAME.
lt_domstate() {
	local out
	if out=$(lt_virsh "$1" domstate --reason "$2" 2>/dev/null); then
		printf '%s\n' "$(sed '/^$/d' <<<"$out")"
	else
		echo absent
	fi
}

# lt_wait_domstate HOST NAME STATE [TIMEOUT_S]: wait until lt_domstate
# starts with STATE (e.g. "running", "paused", "shut off", "absent");
# fail after TIMEOUT_S (default 10).
lt_wait_domstate() {
	local h=$1 name=$2 want=$3 tmo=${4:-10} st t0=$SECONDS
	while :; do
		st=$(lt_domstate "$h" "$name")
		[[ $st == "$want"* ]] && return 0
		((SECONDS - t0 >= tmo)) && break
		sleep 0.1
	done
	tb_fail "host $h: $name is '$st', not '$want' after ${tmo} s"
}

# lt_qemu_pids HOST: print the pids of HOST's QEMU processes, from the
# pid files in its private /run/libvirt/qemu.
lt_qemu_pids() {
	local dv="LT_DIR_$1" f p
	for f in "${!dv}"/run/libvirt/qemu/*.pid; do
		# driver.pid is the QEMU driver's lock file: libvirtd's own pid.
		[[ -f $f && ${f##*/} != driver.pid ]] || continue
		p=$(cat "$f" 2>/dev/null) || continue
		[[ $p =~ ^[0-9]+$ ]] && ! tb__pid_gone "$p" && printf '%s\n' "$p"
	done
	return 0
}

# --------------------------------------------------------------------------
# migration

# lt_migrate SRC DST NAME [FLAGS...]: run, from SRC's namespaces,
#   virsh -c qemu:///system migrate --live [FLAGS...] NAME qemu+tcp://<dst>/system
# (client-driven unless FLAGS has --p2p; FLAGS are virsh migrate options,
# e.g. --p2p, --suspend, --persistent --undefinesource).  Prints the elapsed
# ms on stdout; virsh's own output goes to stderr.  Returns virsh's exit
# status.  Also appends "<t0_ns> <t1_ns> <ms> <rc> SRC DST NAME FLAGS" to
# $LT_DIR/migrations.log and sets LT_MIGRATE_{RC,MS,T0_NS,T1_NS}.
lt_migrate() {
	local src=$1 dst=$2 name=$3 hv t0 t1 rc=0 out
	shift 3
	hv="LT_HOSTNAME_$dst"
	t0=$(lt__now_ns)
	out=$(lt_virsh "$src" migrate --live "$@" "$name" "qemu+tcp://${!hv}/system" 2>&1) || rc=$?
	t1=$(lt__now_ns)
	[[ -n $out ]] && printf '%s\n' "$out" >&2
	LT_MIGRATE_RC=$rc
	LT_MIGRATE_T0_NS=$t0
	LT_MIGRATE_T1_NS=$t1
	LT_MIGRATE_MS=$(((t1 - t0) / 1000000))
	export LT_MIGRATE_RC LT_MIGRATE_T0_NS LT_MIGRATE_T1_NS LT_MIGRATE_MS
	printf '%s %s %s %s %s %s %s %s\n' "$t0" "$t1" "$LT_MIGRATE_MS" "$rc" "$src" "$dst" "$name" "$*" \
		>>"$LT_DIR/migrations.log"
	printf '%s\n' "$LT_MIGRATE_MS"
	return "$rc"
}

# lt_events_start HOST FILE: run `virsh event --all --loop --timestamp` in
# HOST in the background, line-buffered into FILE; returns once virsh is
# connected (it holds a socket) plus 0.2 s, by when it has registered its
# callbacks (virsh prints nothing until the first event).  The timestamps
# are virsh's (the client's) time of receipt.  Lines look like
#   2026-11-25 14:40:01.123+0000: event 'lifecycle' for domain 'g1': Started Migrated
lt_events_start() {
	local h=$1 file=$2 pid i
	: >"$file"
	lt__host_check "$h"
	local hv="LT_HOLDER_$h"
	# shellcheck disable=SC2046
	nsenter -t "${!hv}" -n -m -u -- $(lt__env "$h") stdbuf -oL -eL \
		virsh -c qemu:///system event --all --loop --timestamp \
		</dev/null >"$file" 2>&1 &
	pid=$!
	tb_track_pid "$pid" "lt-events-$h"
	LT__EVENTS+=("$pid:$file")
	local ok=0 fd
	for ((i = 0; i < 200 && !ok; i++)); do
		tb__pid_gone "$pid" && { cat "$file" >&2; tb_fail "virsh event in host $h died"; }
		for fd in "/proc/$pid/fd/"*; do
			[[ $(readlink "$fd" 2>/dev/null) == socket:* ]] && { ok=1; break; }
		done
		((ok)) || sleep 0.025
	done
	((ok)) || tb_fail "virsh event in host $h did not connect"
	sleep 0.2
	tb_log "virsh event host $h -> $file (pid $pid)"
}

# lt_events_stop [FILE]: stop the `virsh event` writing FILE, or all.
# shellcheck disable=SC2120
lt_events_stop() {
	local want=${1:-} e pid file keep=()
	for e in "${LT__EVENTS[@]}"; do
		pid=${e%%:*}
		file=${e#*:}
		if [[ -n $want && $file != "$want" ]]; then
			keep+=("$e")
			continue
		fi
		tb__kill_pid "$pid" INT 3
		tb__untrack_pid "$pid"
	done
	LT__EVENTS=("${keep[@]}")
}

# --------------------------------------------------------------------------
# cleanup

# lt__ns_pids HOST: pids of every process in HOST's mount namespace (other
# than its holder): processes the test bed started there (nothing else can
# enter a mount namespace we created).
lt__ns_pids() {
	local hv="LT_HOLDER_$1" mnt p
	[[ -n ${!hv:-} ]] || return 0
	mnt=$(readlink "/proc/${!hv}/ns/mnt" 2>/dev/null) || return 0
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p == "${!hv}" ]] && continue
		[[ $(readlink "/proc/$p/ns/mnt" 2>/dev/null) == "$mnt" ]] && printf '%s\n' "$p"
	done
	return 0
}

# lt_cleanup: stop event watchers, libvirtds (SIGTERM by pid), QEMUs (by
# pid from the pid files, then anything else left in the hosts' mount
# namespaces), the holders (which releases every private mount), and delete
# the netns.  Registered with tb_defer by lt_setup; idempotent.
lt_cleanup() {
	[[ ${LT__SETUP:-} == 1 ]] || return 0
	[[ ${LT__CLEANED:-0} == 1 ]] && return 0
	LT__CLEANED=1
	local h e p hv
	# shellcheck disable=SC2119
	lt_events_stop 2>/dev/null
	for h in A B; do
		hv="LT_HOLDER_$h"
		[[ -n ${!hv:-} ]] || continue
		p=$(lt__daemon_pid "$h")
		[[ -n $p ]] && tb__kill_pid "$p" TERM 10
		for p in $(lt_qemu_pids "$h"); do
			tb__kill_pid "$p" TERM 3
		done
	done
	# Subreapers exit once their daemon and QEMUs are gone; SIGTERM ends a
	# lingering one, and is forwarded to a daemon that is still starting.
	for e in "${LT__DAEMONS[@]}"; do
		p=${e#*:}
		tb__kill_pid "$p" TERM 10
		tb__untrack_pid "$p"
	done
	for h in A B; do
		for p in $(lt__ns_pids "$h"); do
			tb_warn "killing leftover pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) in host $h"
			tb__kill_pid "$p" TERM 2
		done
		hv="LT_HOLDER_$h"
		if [[ -n ${!hv:-} ]]; then
			tb__kill_pid "${!hv}" TERM 3
			tb__untrack_pid "${!hv}"
		fi
	done
	for e in "${LT__NETNS[@]}"; do
		for p in $(ip netns pids "$e" 2>/dev/null); do
			# Processes the test started there itself (tb_track_pid) are
			# expected; anything else is a leak worth a warning.
			[[ " ${TB__PIDS[*]} " == *" $p:"* ]] ||
				tb_warn "killing leftover pid $p ($(cat "/proc/$p/comm" 2>/dev/null)) in netns $e"
			tb__kill_pid "$p" TERM 2
		done
		ip netns del "$e" 2>/dev/null || tb_warn "could not delete netns $e"
	done
	LT__NETNS=()
	return 0
}

# shellcheck shell=bash
#
# qbg-testbed.sh - the two-host libvirt testbed with macvtap guests and
# 802.1Qbg virtual ports (issue 9, DESIGN.md §8,
# research/qbg-testbed-facts.md).  Source after testbed.sh and
# libvirt-testbed.sh; it replaces that testbed's links and keeps the rest
# (hosts, private mounts, libvirtd, virsh, cleanup):
#
#                 netns $LT_NS_SW (the ToR): bridge br-sw, STP, 10.77.1.1/24
#                  tp-a (vxlan 6101, hairpin)      tp-b (vxlan 6102, hairpin)
#                  ul-a 10.77.81.1/24              ul-b 10.77.82.1/24
#                   |  lldpad bridge role on tp-a,tp-b  |
#   host A: ul0 10.77.81.2/24 (MTU 1600)   host B: ul0 10.77.82.2/24
#           up0 = vxlan 6101 (no IFLA_LINK)        up0 = vxlan 6102
#           macvtapN (libvirt, mode vepa) on up0   macvtapN on up0
#           mig0 10.77.9.1/24 --------------------- mig0 10.77.9.2/24
#
# Guests use <interface type='direct'><source dev='up0' mode='vepa'/> with
# <virtualport type='802.1Qbg'> (managerid 11, typeid 1193047, version 2,
# instanceid = a per-guest UUID).  VEPA sends guest-to-anything traffic to
# the ToR, which answers DHCP (dnsmasq on br-sw, carry.sh) and reflects
# frames back out of the same port (hairpin).
#
# The three measured pitfalls, and what this file does about them:
#   - /dev/tap<ifindex> is one global devtmpfs node: the hosts' ifindex
#     counters start at QB_IFX_A / QB_IFX_B (defaults 120 / 170) so their
#     macvtaps never share an index (also not with other tests' hosts,
#     which start at 2).  Made by creating that many bridges in one batch,
#     which are deleted again in the background (group 77).
#   - libvirt follows IFLA_LINK under the macvtap; a veth's points into the
#     ToR's netns.  up0 is a VXLAN device, which has none.
#   - libvirt 9.0 + libnl 3.7 fail every 802.1Qbg request when libvirtd's
#     netlink port is >= 2^31.  libvirtd runs with nlport-shim.c preloaded
#     (compiled here with cc), and qb_check_nlports verifies the ports.
#
# Usage:
#   . testbed.sh; . libvirt-testbed.sh; . guest/guest.sh; . carry.sh
#   . qbg-testbed.sh
#   tb_init
#   qb_setup [HOOK_SRC]          # lt_setup with the links above + the ToR lldpad
#   qb_station_start A           # lldpad station role in host A (libvirt's agent)
#   lt_libvirtd_start A B
#   qb_check_nlports A B
#   uuid=$(qb_define_guest A g1 52:54:00:77:90:01 "$instanceid")
#
# Functions:
#   qb_setup [HOOK_SRC]          qb_station_start HOST   qb_station_stop HOST
#   qb_check_nlports HOST...     qb_guest_xml NAME MAC INSTANCEID
#   qb_define_guest HOST NAME MAC INSTANCEID [CMDLINE_EXTRA]
#   qb_macvtap_of HOST NAME      qb_wait_stp
#   qb_hook_install HOST SRC     qb_hook_remove HOST
#   qb_vsimigd_start HOST        qb_vsimigd_wait HOST  (needs vsimigd.sh,
#                                migrate.sh and carry.sh sourced)
# Variables: QB_MGRID (11), QB_TYPEID (1193047), QB_TYPEVER (2), QB_SHIM
# (the shim .so), QB_PORT_A / QB_PORT_B (tp-a / tp-b: the ToR's ports).

if [[ -n ${QB__SOURCED:-} ]]; then
	return 0
fi
QB__SOURCED=1

QB_LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
QB_MGRID=11
QB_TYPEID=1193047
QB_TYPEVER=2
QB_PORT_A='tp-a'
QB_PORT_B='tp-b'
QB_IFX_A=${QB_IFX_A:-120}
QB_IFX_B=${QB_IFX_B:-170}
QB_VNI_A=6101
QB_VNI_B=6102
QB_UL_TOR_A=10.77.81.1
QB_UL_HOST_A=10.77.81.2
QB_UL_TOR_B=10.77.82.1
QB_UL_HOST_B=10.77.82.2
export QB_MGRID QB_TYPEID QB_TYPEVER QB_PORT_A QB_PORT_B QB_VNI_A QB_VNI_B \
	QB_UL_TOR_A QB_UL_HOST_A QB_UL_TOR_B QB_UL_HOST_B

# qb__ifindex_offset NS N: move NS's ifindex counter past N (bridges in
# one batch; deleted in the background, waited for in qb__links_wait).
qb__ifindex_offset() {
	local ns=$1 n=$2 i
	((n > 2)) || return 0
	for ((i = 1; i <= n - 2; i++)); do
		echo "link add qbx$i group 77 type bridge"
	done | ip -n "$ns" -batch - || tb_fail "cannot create the ifindex filler devices in $ns"
	ip -n "$ns" link del group 77 &
	QB__FILLER_PIDS+=("$!")
}

# Replaces libvirt-testbed.sh's lt__link_setup (called by lt_setup).
lt__link_setup() {
	local ns
	QB__FILLER_PIDS=()
	for ns in "$LT_NS_SW" "$LT_NS_A" "$LT_NS_B"; do
		ip netns add "$ns" 2>"$LT_DIR/netns.err" ||
			tb_skip_or_fail "cannot create netns $ns: $(cat "$LT_DIR/netns.err")"
		LT__NETNS+=("$ns")
		ip -n "$ns" link set lo up
	done
	qb__ifindex_offset "$LT_NS_A" "$QB_IFX_A"
	qb__ifindex_offset "$LT_NS_B" "$QB_IFX_B"

	# The ToR: STP as a real switch runs it (a Linux bridge without STP
	# floods 01:80:c2:00:00:00, so each host's VDP would reach the other
	# host's port).  Forward delay 2 s.
	ip -n "$LT_NS_SW" link add br-sw type bridge mcast_snooping 1 mcast_querier 1 \
		forward_delay 200 stp_state 1
	ip netns exec "$LT_NS_SW" sh -c 'echo 0 >/proc/sys/net/ipv6/conf/br-sw/router_solicitations'
	ip -n "$LT_NS_SW" link set br-sw up

	local h hns ul tor host vni tp mac_up mac_sw
	for h in A B; do
		hns="LT_NS_$h"
		hns=${!hns}
		ul="ul-${h,,}"
		tor="QB_UL_TOR_$h"
		host="QB_UL_HOST_$h"
		vni="QB_VNI_$h"
		tp="QB_PORT_$h"
		mac_up="LT_MAC_UP_$h"
		mac_sw="LT_MAC_SW_$h"
		# Underlay: a veth, MTU 1600 so the VXLAN devices keep 1500.
		ip -n "$hns" link add ul0 mtu 1600 type veth peer name "$ul" mtu 1600 netns "$LT_NS_SW"
		ip netns exec "$hns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/ul0/disable_ipv6'
		ip netns exec "$LT_NS_SW" sh -c "echo 1 >/proc/sys/net/ipv6/conf/$ul/disable_ipv6"
		ip -n "$hns" addr add "${!host}/24" dev ul0
		ip -n "$LT_NS_SW" addr add "${!tor}/24" dev "$ul"
		ip -n "$hns" link set ul0 up
		ip -n "$LT_NS_SW" link set "$ul" up
		# up0: the host's "physical NIC" (no IFLA_LINK: libvirt names it).
		ip -n "$hns" link add up0 address "${!mac_up}" type vxlan id "${!vni}" \
			local "${!host}" remote "${!tor}" dstport 4789 nolearning
		ip -n "$LT_NS_SW" link add "${!tp}" address "${!mac_sw}" type vxlan id "${!vni}" \
			local "${!tor}" remote "${!host}" dstport 4789 nolearning
		if [[ ${LT_HOST_IPV6:-0} != 1 ]]; then
			ip netns exec "$hns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/up0/disable_ipv6'
			ip netns exec "$LT_NS_SW" sh -c "echo 1 >/proc/sys/net/ipv6/conf/${!tp}/disable_ipv6"
		fi
		ip -n "$LT_NS_SW" link set "${!tp}" master br-sw
		# VEPA: the switch reflects VM-to-VM frames out of the port they came in.
		ip -n "$LT_NS_SW" link set "${!tp}" type bridge_slave hairpin on
		ip -n "$LT_NS_SW" link set "${!tp}" up
		ip -n "$hns" link set up0 up
	done
	ip -n "$LT_NS_A" link add mig0 address "$LT_MAC_MIG_A" type veth \
		peer name mig0 address "$LT_MAC_MIG_B" netns "$LT_NS_B"
	ip -n "$LT_NS_A" addr add "$LT_IP_A/24" dev mig0
	ip -n "$LT_NS_B" addr add "$LT_IP_B/24" dev mig0
	ip -n "$LT_NS_A" link set mig0 up
	ip -n "$LT_NS_B" link set mig0 up
}

# Replaces libvirt-testbed.sh's lt__links_wait.
lt__links_wait() {
	local h ns p
	for h in A B; do
		ns="LT_NS_$h"
		tb_wait_link_up "${!ns}" mig0
		tb_wait_link_up "${!ns}" ul0
		tb_wait_link_up "$LT_NS_SW" "ul-${h,,}"
	done
	for p in "${QB__FILLER_PIDS[@]}"; do
		wait "$p" || tb_fail "could not delete the ifindex filler devices"
	done
	QB__FILLER_PIDS=()
}

# qb_wait_stp [TIMEOUT_S]: wait until both ToR ports forward.
qb_wait_stp() {
	local tmo=${1:-10} i
	for ((i = 0; i < tmo * 10; i++)); do
		[[ $(bridge -n "$LT_NS_SW" link show | grep -c "state forwarding") -ge 2 ]] && return 0
		sleep 0.1
	done
	bridge -n "$LT_NS_SW" link show >&2
	tb_fail "ToR ports not forwarding after ${tmo} s"
}

# qb__shim: compile nlport-shim.c into $LT_DIR (once); print its path.
qb__shim() {
	local so="$LT_DIR/nlport-shim.so"
	if [[ ! -f $so ]]; then
		cc -shared -fPIC -O2 -Wall -o "$so" "$QB_LIB_DIR/nlport-shim.c" -ldl 2>"$LT_DIR/shim.cc.log" ||
			{ cat "$LT_DIR/shim.cc.log" >&2; tb_fail "cannot compile nlport-shim.c"; }
		# It must turn a bind to port 0x8xxxxxxx into 0x0xxxxxxx (a C
		# probe: a wrapper script, e.g. pyenv's python3, would lose the
		# LD_PRELOAD the shim removes from the environment at load).
		local got
		cat >"$LT_DIR/nlport-probe.c" <<'EOF'
#include <linux/netlink.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK };
	socklen_t l = sizeof(a);
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);

	a.nl_pid = 0x80000000u | (((unsigned) getpid() << 8) & 0x7fffffffu);
	if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *) &a, &l) < 0)
		return 1;
	printf("%u\n", a.nl_pid);
	return 0;
}
EOF
		cc -O2 -o "$LT_DIR/nlport-probe" "$LT_DIR/nlport-probe.c" 2>>"$LT_DIR/shim.cc.log" ||
			tb_fail "cannot compile the nlport probe"
		got=$(LD_PRELOAD=$so "$LT_DIR/nlport-probe") || tb_fail "nlport shim self-test failed to run"
		((got < 2147483648)) || tb_fail "nlport shim self-test: bound port $got >= 2^31"
	fi
	printf '%s\n' "$so"
}

# qb_setup [HOOK_SRC]: lt_setup with the links above, the ToR's lldpad in
# the bridge role on tp-a,tp-b (instance "tor"), libvirtd set to run with
# the netlink port shim and the debug log of the port-profile code.
qb_setup() {
	local tool
	for tool in bridge cc; do
		command -v "$tool" >/dev/null 2>&1 || tb_skip_or_fail "missing tool: $tool"
	done
	lt_setup "${1:-}"
	QB_SHIM=$(qb__shim)
	export QB_SHIM
	LT_LIBVIRTD_ENV="LD_PRELOAD=$QB_SHIM"
	export LT_LIBVIRTD_ENV
	tb_lldpad_start "$LT_NS_SW" "$QB_PORT_A,$QB_PORT_B" bridge tor
	qb_wait_stp 15
}

# qb_station_start HOST: lldpad in the station role on HOST's up0, as a
# compute node runs it for libvirt: in HOST's network AND mount namespace
# (its /var/run/lldpad.pid is the file libvirtd reads), with its own tmpfs
# over /dev/shm and /var/lib/lldpad.  Instance name "st<HOST>" for
# tb_lldpad_exec / tb_lldpad_wait_evb / qb_station_stop.
qb_station_start() {
	local h=$1 name="st$1" dir conf log pid i hv lvl=${TB_LLDPAD_LOGLEVEL:-6}
	lt__host_check "$h"
	hv="LT_HOLDER_$h"
	[[ -d /var/lib/lldpad ]] || mkdir -p /var/lib/lldpad
	dir="$TB_DIR/lldpad-$name"
	mkdir -p "$dir"
	conf="$dir/lldpad.conf"
	log="$dir/lldpad.log"
	tb_lldpad_conf up0 station >"$conf"
	# nsenter and unshare (no --fork) exec, and so do sh and stdbuf: $! is lldpad.
	# shellcheck disable=SC2016
	nsenter -t "${!hv}" -n -m -u -- unshare --mount --propagation private -- /bin/sh -c '
		set -e
		mount -t tmpfs -o mode=1777 qb-shm /dev/shm
		mount -t tmpfs -o mode=0755 qb-lldpad /var/lib/lldpad
		exec stdbuf -oL -eL lldpad -t -V "$2" -f "$1"
	' qb-lldpad "$conf" "$lvl" >"$log" 2>&1 </dev/null &
	pid=$!
	TB__PIDS+=("$pid:lldpad-$name")
	TB__LLDPADS+=("$name")
	printf -v "TB_LLDPAD_PID_$name" %s "$pid"
	printf -v "TB_LLDPAD_NS_$name" %s "host-$h"
	printf -v "TB_LLDPAD_IF_$name" %s up0
	printf -v "TB_LLDPAD_ROLE_$name" %s station
	printf -v "TB_LLDPAD_DIR_$name" %s "$dir"
	printf -v "TB_LLDPAD_LOG_$name" %s "$log"
	printf -v "TB_LLDPAD_CONF_$name" %s "$conf"
	export "TB_LLDPAD_PID_$name" "TB_LLDPAD_IF_$name" "TB_LLDPAD_LOG_$name"
	local pidf out='' ok=0
	pidf=$(lt_host_path "$h" /run/lldpad.pid)
	for ((i = 0; i < 200; i++)); do
		if tb__pid_gone "$pid"; then
			sed 's/^/  lldpad: /' "$log" >&2
			tb_fail "lldpad station in host $h died during start"
		fi
		if [[ $(cat /proc/"$pid"/comm 2>/dev/null) == lldpad && -s $pidf &&
			$(tr -d '\0[:space:]' <"$pidf") == "$pid" ]] &&
			out=$(tb_lldpad_exec "$name" vdptool -i up0 -t -V assoc 2>&1); then
			ok=1
			break
		fi
		sleep 0.05
	done
	((ok)) || tb_fail "lldpad station in host $h not ready after 10 s (pid file '$(cat "$pidf" 2>/dev/null)'): $out"
	tb_log "lldpad station host $h pid $pid ready"
}

# qb_station_stop HOST: stop HOST's lldpad station (SIGTERM by pid; lldpad
# removes its pid file).
qb_station_stop() {
	tb_lldpad_stop "st$1"
}

# qb_check_nlports HOST...: every NETLINK_ROUTE socket of HOST's libvirtd
# has a port below 2^31 (the shim works); fail otherwise.
qb_check_nlports() {
	local h pid bad
	for h in "$@"; do
		pid=$(lt__daemon_pid "$h")
		[[ -n $pid ]] || tb_fail "libvirtd not running in host $h"
		# /proc/net/netlink (only this netns): sk Eth(protocol) Pid(port)
		# ... Inode; libvirtd's own sockets are the inodes of its fds.
		local inodes
		inodes=$(for fd in /proc/"$pid"/fd/*; do readlink "$fd"; done 2>/dev/null |
			sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')
		local n
		# shellcheck disable=SC2016
		read -r n bad < <(lt_exec "$h" awk -v ino=" $inodes " 'NR > 1 && $2 == 0 && index(ino, " " $10 " ") {
			n++; if ($3 + 0 >= 2147483648) b = b " " $3 }
			END { print n + 0, b }' /proc/net/netlink)
		((n >= 1)) || tb_fail "host $h: libvirtd $pid has no NETLINK_ROUTE socket"
		[[ -z $bad ]] || tb_fail "host $h: NETLINK_ROUTE port(s) >= 2^31 in use ($bad): the nlport shim did not work"
		grep -qF "$QB_SHIM" "/proc/$pid/maps" ||
			tb_fail "host $h: libvirtd $pid runs without the nlport shim"
	done
}

# qb_guest_xml NAME MAC INSTANCEID [CMDLINE_EXTRA]: the Linux test guest's
# XML (lg_guest_xml) with its NIC made a macvtap on up0 in VEPA mode with an
# 802.1Qbg virtual port.
qb_guest_xml() {
	local name=$1 mac=$2 iid=$3 extra=${4:-}
	[[ -n ${LG_KERNEL:-} ]] || lg_build ""
	lg_guest_xml "$name" "$mac" "$LG_KERNEL" "$LG_INITRD" "$extra" |
		awk -v iid="$iid" -v mg="$QB_MGRID" -v ti="$QB_TYPEID" -v tv="$QB_TYPEVER" '
		/<interface type=.bridge.>/ { print "    <interface type=\x27direct\x27>"; n++; next }
		/<source bridge=.br0.\/>/ {
			print "      <source dev=\x27up0\x27 mode=\x27vepa\x27/>"
			print "      <virtualport type=\x27802.1Qbg\x27>"
			printf "        <parameters managerid=\x27%s\x27 typeid=\x27%s\x27 typeidversion=\x27%s\x27 instanceid=\x27%s\x27/>\n", mg, ti, tv, iid
			print "      </virtualport>"
			next
		}
		{ print }
		END { if (n != 1) exit 1 }' || tb_fail "qb_guest_xml: the guest XML has not exactly one bridge NIC"
}

# qb_define_guest HOST NAME MAC INSTANCEID [CMDLINE_EXTRA]: define and
# start the macvtap guest (XML in $LT_DIR/NAME.xml, start time in
# $LT_DIR/NAME.start_ns, `virsh start` wall ms in $LT_DIR/NAME.start_ms);
# print its domain UUID.
qb_define_guest() {
	local h=$1 name=$2 mac=$3 iid=$4 extra=${5:-} x d t0 t1
	lt__host_check "$h"
	x="$LT_DIR/$name.xml"
	qb_guest_xml "$name" "$mac" "$iid" "$extra" >"$x"
	lt_virsh "$h" define "$x" >/dev/null || tb_fail "host $h: virsh define $name failed"
	t0=$(date +%s%N)
	echo "$t0" >"$LT_DIR/$name.start_ns"
	lt_virsh "$h" start "$name" >/dev/null || {
		d="LT_DIR_$h"
		tail -5 "${!d}/var-log-libvirt/qemu/$name.log" >&2 2>/dev/null
		grep -E ' error : ' "${!d}/var-log-libvirt/libvirtd.log" | tail -5 >&2
		tb_fail "host $h: virsh start $name failed"
	}
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000)) >"$LT_DIR/$name.start_ms"
	lt_virsh "$h" domuuid "$name" | sed '/^$/d'
}

# qb_macvtap_of HOST NAME: the guest's macvtap device on HOST.
qb_macvtap_of() {
	lt_virsh "$1" domiflist "$2" | awk '$2 == "direct" { print $1 }'
}

# qb_hook_install HOST HOOK_SRC / qb_hook_remove HOST: vsimig's libvirt hook
# in HOST (read by libvirtd at its start: call while libvirtd is stopped).
# The lldpad runs have none, as on a host without vsimig.
qb_hook_install() {
	install -m 0755 -- "$2" "$(lt_host_path "$1" /etc/libvirt/hooks/qemu.d)/vsimig"
}
qb_hook_remove() {
	rm -f -- "$(lt_host_path "$1" /etc/libvirt/hooks/qemu.d)/vsimig"
}

# qb_vsimigd_start HOST: vsimigd as HOST's 802.1Qbg agent for libvirt
# ([qbg] serve-libvirt = true: it answers libvirt's netlink requests in
# lldpad's place and speaks VDP22 on up0), with [peer] on mig0 and
# [replay]; config /run/vsimig/vsimigd.conf, log $TB_DIR/vsimigd-HOST.log
# (migrate.sh's mt_vsimigd_start).  Start it before libvirtd.
qb_vsimigd_start() {
	local h=$1 ipv="LT_IP_$1"
	lt_host_write "$h" /run/vsimig/vsimigd.conf "[vdp]
uplinks = up0
[qbg]
serve-libvirt = true
[libvirt]
uri = qemu:///system
[control]
socket = /run/vsimig/vsimigd.sock
[hook]
timeout-ms = 2000
$(ct_peer_conf "${!ipv}")
${QB_EXTRA_CONF:-}"
	mt_vsimigd_start "$h"
}

# qb_vsimigd_wait HOST: vsimigd on HOST is connected to libvirtd and has
# the ToR's EVB TLV.
qb_vsimigd_wait() {
	mt_wait "$1" 'd["libvirt"]["connected"] and d["uplinks"][0]["bridge"] is not None' 40 status
}

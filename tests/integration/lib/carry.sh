# shellcheck shell=bash
# carry.sh - the real peers of the state-carry tests (issue 4, DESIGN.md §4,
# §6) on the two-host libvirt testbed: the top-of-rack switch br-sw as a
# snooping bridge with a working IGMPv3/MLDv2 querier, a DHCP server for
# the guests' subnet (dnsmasq, or isc-dhcpd as the alternative), and a
# multicast sender.  Source after testbed.sh, libvirt-testbed.sh and
# guest/guest.sh; call after lt_setup (or mt_setup).
#
#   ct_switch_setup                 br-sw 10.77.1.1/24, IGMPv3/MLDv2 querier
#                                   (restarted once br-sw's link-local is
#                                   usable: see the function)
#   ct_dnsmasq_start / ct_dnsmasq_stop
#                                   dnsmasq, range 10.77.1.100-199, leases in
#                                   $CT_DNSMASQ_LEASES
#   ct_dhcpd_start [LEASE_DECL...] / ct_dhcpd_stop
#                                   isc-dhcpd (-f, private conf/leases/pid in
#                                   $TB_DIR), optionally seeded with leases
#   ct_dhcpd_lease IP MAC CID_COLON_HEX [HOSTNAME]
#                                   print a dhcpd.leases declaration
#   ct_sender_start GROUP... / ct_senders_stop
#                                   `mcjoin send` on br-sw to each group
#   ct_mdb_ports NS BRIDGE GROUP    ports whose mdb has GROUP ("sw-a sw-b")
#   ct_mdb_list NS BRIDGE           "port group" per mdb entry
#   ct_mdb_monitor_start NS FILE    bridge -timestamp monitor mdb -> FILE
#   ct_peer_conf IP [PORT]          vsimigd config text: [peer] listen on
#                                   IP:PORT (7788) with key-file =
#                                   ct_peer_key, [replay] on
#   ct_peer_key                     the shared key file ($TB_DIR/peer.key)
#   ct_capture_start PORT FILE      capture the carried protocols
#                                   ($CT_CAPF) on a switch port
#   ct_capture_in_start PORT FILE   capture all a switch port receives
#   ct_boot_linux_guest HOST NAME MAC [CMDLINE_EXTRA]
#                                   start the Linux guest, wait for its
#                                   lease, joins and IPv6 link-local
#   ct_wait_mdb NS BRIDGE PORT TIMEOUT_S GROUP...
#                                   wait until the mdb has every GROUP on PORT
#   ct_ping_guest IP4 [LL6]         ping the guest from br-sw (so its
#                                   addresses show in ARP / NA)
#   ct_guest_stats IP               "GROUP COUNT LOST" per group the guest
#                                   counts (its mcjoin control port)
#   ct_wait_linux_guest HOST NAME [CMDLINE_EXTRA]
#                                   ct_boot_linux_guest's waits only
#   ct_stream_to_guest HOST NAME    stream to both groups, wait for rx
#   ct_tap_of HOST DOMAIN MAC       the domain's tap for MAC
#   ct_check_peer_conf              does vsimigd accept ct_peer_conf?
#   ct_peer_conf_both [PORT]        MT_EXTRA_CONF_A/B = ct_peer_conf
#
# Variables: CT_SW_IP (10.77.1.1), CT_RATE (datagrams/s per group, 100),
# CT_DNSMASQ_PID, CT_DHCPD_PID, CT_DNSMASQ_LEASES, CT_DHCPD_LEASES, CT_CAPF;
# after ct_boot_linux_guest: CT_GUEST_IP4, CT_GUEST_LL6, CT_GUEST_UUID,
# CT_GUEST_LEASE_MS.

CT_SW_IP=${CT_SW_IP:-10.77.1.1}
CT_RATE=${CT_RATE:-100}
CT_SENDERS=()

# ct_switch_setup: the switch's address on the guests' subnet and a querier
# that asks in the versions the guest speaks (the bridge's defaults are
# IGMPv2 / MLDv1).  The MLD querier: br-sw sent its first query when it came
# up, before its link-local address had passed DAD, so it had no source
# address; the kernel then treats the IPv6 querier as absent and FLOODS
# IPv6 multicast to every port until its next startup query ~31 s later.
# Restart the querier once the address is usable: it queries at once, with
# a source, and MLD snooping works from then on.
ct_switch_setup() {
	local sw=$LT_NS_SW i
	ip -n "$sw" addr add "$CT_SW_IP/24" dev br-sw
	ip -n "$sw" link set br-sw type bridge mcast_snooping 1 mcast_igmp_version 3 mcast_mld_version 2
	for ((i = 0; i < 50; i++)); do
		ip -n "$sw" -6 addr show dev br-sw scope link | grep -v tentative | grep -q inet6 && break
		sleep 0.1
	done
	ip -n "$sw" -6 addr show dev br-sw scope link | grep -v tentative | grep -q inet6 ||
		tb_fail "br-sw has no usable IPv6 link-local address (the MLD querier needs one)"
	ip -n "$sw" link set br-sw type bridge mcast_querier 0
	ip -n "$sw" link set br-sw type bridge mcast_querier 1
}

# ct__wait_pidfile PID FILE NAME LOG: wait until FILE holds PID.
ct__wait_pidfile() {
	local pid=$1 file=$2 name=$3 log=$4 i
	for ((i = 0; i < 100; i++)); do
		[[ -s $file && $(cat "$file" 2>/dev/null) == "$pid" ]] && return 0
		tb__pid_gone "$pid" && { cat "$log" >&2; tb_fail "$name died"; }
		sleep 0.05
	done
	cat "$log" >&2
	tb_fail "$name: pid file $file says '$(cat "$file" 2>/dev/null)', not $pid"
}

# ct__server_started PID NAME LOG: track the DHCP server NAME just started
# in the background and wait for its pid file $TB_DIR/NAME.pid.
ct__server_started() {
	tb_track_pid "$1" "$2"
	ct__wait_pidfile "$1" "$TB_DIR/$2.pid" "$2" "$3"
	tb_log "$2 pid $1 on $LT_NS_SW:br-sw"
}

# ct__server_stop VAR: stop the server whose pid is in the variable VAR
# (if any) and empty VAR.
ct__server_stop() {
	[[ -n ${!1:-} ]] || return 0
	tb__kill_pid "${!1}" TERM 3
	tb__untrack_pid "${!1}"
	printf -v "$1" '%s' ''
}

# ct_dnsmasq_start: dnsmasq as the DHCP server on br-sw (no DNS, no ping
# check, authoritative, 1 h leases).  The leases file survives a restart,
# so a stopped and restarted dnsmasq keeps its bindings.
ct_dnsmasq_start() {
	command -v dnsmasq >/dev/null || tb_skip_or_fail "missing tool: dnsmasq (apt-get install dnsmasq-base)"
	CT_DNSMASQ_LEASES=$TB_DIR/dnsmasq.leases
	[[ -e $CT_DNSMASQ_LEASES ]] || : >"$CT_DNSMASQ_LEASES"
	rm -f "$TB_DIR/dnsmasq.pid"
	ip netns exec "$LT_NS_SW" dnsmasq --keep-in-foreground --conf-file=/dev/null --port=0 \
		--user=root --group=root --interface=br-sw --bind-interfaces --except-interface=lo \
		--dhcp-range=10.77.1.100,10.77.1.199,255.255.255.0,1h --dhcp-authoritative --no-ping \
		--dhcp-leasefile="$CT_DNSMASQ_LEASES" --pid-file="$TB_DIR/dnsmasq.pid" \
		--log-dhcp --log-facility="$TB_DIR/dnsmasq.log" </dev/null >>"$TB_DIR/dnsmasq.out" 2>&1 &
	CT_DNSMASQ_PID=$!
	ct__server_started "$CT_DNSMASQ_PID" dnsmasq "$TB_DIR/dnsmasq.out"
}

ct_dnsmasq_stop() {
	ct__server_stop CT_DNSMASQ_PID
}

# ct_dhcpd_lease IP MAC CID [HOSTNAME]: a dhcpd.leases declaration of an
# active 1 h lease (CID: colon hex, e.g. lg_client_id's output; "" = none).
ct_dhcpd_lease() {
	local ip=$1 mac=$2 cid=$3 hn=${4:-} now end
	now=$(date -u +'%w %Y/%m/%d %H:%M:%S')
	end=$(date -u -d '+1 hour' +'%w %Y/%m/%d %H:%M:%S')
	printf 'lease %s {\n  starts %s;\n  ends %s;\n  cltt %s;\n  binding state active;\n  next binding state free;\n  hardware ethernet %s;\n' \
		"$ip" "$now" "$end" "$now" "$mac"
	[[ -n $cid ]] && printf '  uid %s;\n' "$cid"
	[[ -n $hn ]] && printf '  client-hostname "%s";\n' "$hn"
	printf '}\n'
}

# ct_dhcpd_start [LEASE_DECL...]: isc-dhcpd in the switch namespace,
# foreground (-f), private config, leases file and pid file in $TB_DIR,
# serving br-sw only; the leases file starts with LEASE_DECLs (e.g. the
# bindings dnsmasq handed out, so the guests' leases exist there too).
# Authoritative: it NAKs what it does not like (a wrong client-id).
ct_dhcpd_start() {
	local d
	d=$(command -v dhcpd || true)
	[[ -n $d ]] || d=/usr/sbin/dhcpd
	[[ -x $d ]] || tb_skip_or_fail "missing tool: dhcpd (apt-get install isc-dhcp-server)"
	CT_DHCPD_CONF=$TB_DIR/dhcpd.conf
	CT_DHCPD_LEASES=$TB_DIR/dhcpd.leases
	cat >"$CT_DHCPD_CONF" <<EOF
authoritative;
ping-check false;
default-lease-time 3600;
max-lease-time 7200;
log-facility local7;
subnet 10.77.1.0 netmask 255.255.255.0 {
  range 10.77.1.100 10.77.1.199;
}
EOF
	: >"$CT_DHCPD_LEASES"
	local l
	for l in "$@"; do
		printf '%s\n' "$l" >>"$CT_DHCPD_LEASES"
	done
	rm -f "$TB_DIR/dhcpd.pid"
	# -d: log to stderr (no syslog here); -f alone keeps it in the foreground.
	ip netns exec "$LT_NS_SW" "$d" -4 -f -d -cf "$CT_DHCPD_CONF" -lf "$CT_DHCPD_LEASES" \
		-pf "$TB_DIR/dhcpd.pid" br-sw </dev/null >>"$TB_DIR/dhcpd.log" 2>&1 &
	CT_DHCPD_PID=$!
	ct__server_started "$CT_DHCPD_PID" dhcpd "$TB_DIR/dhcpd.log"
}

ct_dhcpd_stop() {
	ct__server_stop CT_DHCPD_PID
}

# ct_sender_start GROUP...: one `mcjoin send` per group from br-sw at
# $CT_RATE datagrams/s to the guest's data port, forever (ct_senders_stop).
ct_sender_start() {
	local g
	[[ -n ${LG_MCJOIN:-} ]] || tb_fail "ct_sender_start: lg_build first"
	for g in "$@"; do
		ip netns exec "$LT_NS_SW" "$LG_MCJOIN" send -i br-sw "$g" "$LG_PORT" "$CT_RATE" 0 \
			</dev/null >>"$TB_DIR/send.log" 2>&1 &
		tb_track_pid "$!" "mcjoin-send-$g"
		CT_SENDERS+=("$!")
	done
}

ct_senders_stop() {
	local p
	for p in "${CT_SENDERS[@]}"; do
		tb__kill_pid "$p" TERM 3
		tb__untrack_pid "$p"
	done
	CT_SENDERS=()
}

# ct_mdb_list NS BRIDGE: "port group" per mdb entry of BRIDGE.
ct_mdb_list() {
	bridge -n "$1" mdb show dev "$2" 2>/dev/null |
		awk '$1 == "dev" && $3 == "port" && $5 == "grp" { print $4, $6 }' | sort -u
}

# ct_mdb_ports NS BRIDGE GROUP: the ports whose mdb has GROUP, one line.
ct_mdb_ports() {
	ct_mdb_list "$1" "$2" | awk -v g="$3" '$2 == g { print $1 }' | xargs
}

# ct_mdb_monitor_start NS FILE: `bridge -timestamp monitor mdb` in NS into
# FILE, line-buffered, until tb_cleanup.
ct_mdb_monitor_start() {
	ip netns exec "$1" stdbuf -oL bridge -timestamp monitor mdb </dev/null >"$2" 2>&1 &
	tb_track_pid "$!" "mdb-monitor-$1"
}

# ct_peer_conf IP [PORT]: the vsimigd config sections for state carry: the
# peer listener on IP:PORT (default 7788; the destination's vsimigd connects
# to the source's), authenticated by the key file all hosts share
# (ct_peer_key), and the replay with the post-resume queries.  Put it
# in MT_EXTRA_CONF_<HOST> before mt_setup.
ct_peer_conf() {
	ct_peer_key >/dev/null
	printf '[peer]\nlisten = %s:%s\nkey-file = %s\n[replay]\nenabled = true\nquery-after-resume = true\n' \
		"$1" "${2:-7788}" "$TB_DIR/peer.key"
}

# ct_peer_key: the cluster secret every host's ct_peer_conf names
# ($TB_DIR/peer.key, 32 random octets, root-owned, 0600), made once; prints
# its path.
ct_peer_key() {
	if [[ ! -s $TB_DIR/peer.key ]]; then
		(umask 077 && head -c 32 /dev/urandom >"$TB_DIR/peer.key.tmp" && mv "$TB_DIR/peer.key.tmp" "$TB_DIR/peer.key") ||
			tb_fail "cannot write $TB_DIR/peer.key"
	fi
	printf '%s\n' "$TB_DIR/peer.key"
}

# The frames the state-carry evidence is read from (carry.py decodes them):
# DHCP, IGMP, ARP/RARP, ICMPv6 (MLD, NS/NA).
CT_CAPF='igmp or arp or rarp or (ip6 and not udp) or (udp and (port 67 or port 68))'

# ct_capture_start PORT FILE: capture $CT_CAPF on the switch port PORT.
ct_capture_start() {
	tb_capture_start "$LT_NS_SW" "$1" "$2" "$CT_CAPF"
}

# ct_capture_in_start PORT FILE: capture every frame the switch port PORT
# receives from its host (what that host sends), for carry.py's "oldport".
ct_capture_in_start() {
	TB_CAPTURE_DIRECTION=in tb_capture_start "$LT_NS_SW" "$1" "$2" "len >= 14"
}

# ct_boot_linux_guest HOST NAME MAC [CMDLINE_EXTRA]: define and start the
# Linux guest (lg_define_linux_guest) and wait until it has its DHCP lease,
# its mcjoin is ready (groups joined) and it has an IPv6 link-local
# address.  Sets CT_GUEST_UUID, CT_GUEST_IP4 (empty with vsm.dhcp=0: then
# no lease is waited for), CT_GUEST_LL6 (without prefix length) and
# CT_GUEST_LEASE_MS (from `virsh start` to the lease line on the console).
# shellcheck disable=SC2034 # CT_GUEST_*: for the caller
ct_boot_linux_guest() {
	CT_GUEST_UUID=$(lg_define_linux_guest "$1" "$2" "$3" "${4:-}")
	ct_wait_linux_guest "$1" "$2" "${4:-}"
}

# ct_wait_linux_guest HOST NAME [CMDLINE_EXTRA]: the waits of
# ct_boot_linux_guest for a guest already started (lg_define_linux_guest),
# e.g. after starting several; sets CT_GUEST_IP4, CT_GUEST_LL6 and
# CT_GUEST_LEASE_MS as it does.
# shellcheck disable=SC2034 # CT_GUEST_*: for the caller
ct_wait_linux_guest() {
	local h=$1 name=$2 extra=${3:-} line
	CT_GUEST_IP4='' CT_GUEST_LL6='' CT_GUEST_LEASE_MS=''
	if [[ $extra != *vsm.dhcp=0* ]]; then
		line=$(lg_wait_console "$h" "$name" 'VSMGUEST: lease ' 120)
		CT_GUEST_IP4=$(awk '{print $3}' <<<"$line")
		CT_GUEST_LEASE_MS=$((($(date +%s%N) - $(lg_start_ns "$name")) / 1000000))
	fi
	lg_wait_console "$h" "$name" 'VSMGUEST: mcjoin ready' 60 >/dev/null
	line=$(lg_wait_console "$h" "$name" 'VSMGUEST: ipv6 fe80' 10)
	CT_GUEST_LL6=$(awk '{print $3}' <<<"$line")
	CT_GUEST_LL6=${CT_GUEST_LL6%/*}
}

# ct_wait_mdb NS BRIDGE PORT TIMEOUT_S GROUP...: wait until BRIDGE's mdb
# has every GROUP on PORT; rc 1 (no failure) if not within TIMEOUT_S.
ct_wait_mdb() {
	local ns=$1 br=$2 port=$3 tmo=$4 i g ok
	shift 4
	for ((i = 0; i <= tmo * 10; i++)); do
		ok=1
		for g in "$@"; do
			[[ " $(ct_mdb_ports "$ns" "$br" "$g") " == *" $port "* ]] || { ok=0; break; }
		done
		((ok)) && return 0
		sleep 0.1
	done
	return 1
}

# ct_ping_guest IP4 [LL6]: two pings from br-sw to the guest's IPv4 address
# and its IPv6 link-local one (busybox ping: no iputils needed), so both
# addresses are the IP source of the guest's echo replies (what the
# learner takes as owned, src/sm/learn.c).
# NAME (default "the guest") names it in the failure message.
ct_ping_guest() {
	local who=${3:-the guest}
	ip netns exec "$LT_NS_SW" busybox ping -c 2 -W 2 "$1" >/dev/null || tb_fail "switch cannot ping $who ($1)"
	[[ -z ${2:-} ]] && return 0
	ip netns exec "$LT_NS_SW" busybox ping6 -c 2 -W 2 -I br-sw "$2" >/dev/null ||
		tb_fail "switch cannot ping $who ($2)"
}

# ct_guest_stats IP: "GROUP COUNT LOST" per group the guest at IP counts
# (mcjoin's stats over its control port, from the switch).
ct_guest_stats() {
	lg_ctl "$LT_NS_SW" "$1" stats 2>/dev/null | awk 'NR > 1 { c = l = 0
		for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "count") c = kv[2]; if (kv[1] == "lost") l = kv[2] }
		print $1, c, l }'
}

# ct_stream_to_guest HOST NAME: start the multicast stream to the guest's
# two groups ($LG_GROUP4, $LG_GROUP6; ct_sender_start) and wait until the
# guest NAME on HOST reports receiving both.
ct_stream_to_guest() {
	ct_sender_start "$LG_GROUP4" "$LG_GROUP6"
	lg_wait_console "$1" "$2" "VSMGUEST: rx $LG_GROUP4 " 30 >/dev/null
	lg_wait_console "$1" "$2" "VSMGUEST: rx ${LG_GROUP6//./\\.} " 30 >/dev/null
}

# ct_tap_of HOST DOMAIN MAC: DOMAIN's tap on HOST for its interface MAC.
ct_tap_of() {
	lt_virsh "$1" domiflist "$2" | awk -v m="$3" 'tolower($5) == m { print $1 }'
}

# ct_check_peer_conf: does this vsimigd accept the ct_peer_conf sections?
# The rc of `vsimigd --check-config` on a probe config ($TB_DIR/probe.conf);
# its output in $TB_DIR/probe.out.
ct_check_peer_conf() {
	cat >"$TB_DIR/probe.conf" <<EOF
[vdp]
uplinks = up0
[libvirt]
uri = qemu:///system
$(ct_peer_conf "$LT_IP_A")
EOF
	"$VSIMIGD" --check-config -c "$TB_DIR/probe.conf" >"$TB_DIR/probe.out" 2>&1
}

# ct_peer_conf_both [PORT]: ct_peer_conf for host A ($LT_IP_A) and host B
# ($LT_IP_B) into MT_EXTRA_CONF_A / MT_EXTRA_CONF_B (exported), read by
# mt_setup: each host's peer listener on its own mig0.
ct_peer_conf_both() {
	MT_EXTRA_CONF_A=$(ct_peer_conf "$LT_IP_A" "${1:-}")
	MT_EXTRA_CONF_B=$(ct_peer_conf "$LT_IP_B" "${1:-}")
	export MT_EXTRA_CONF_A MT_EXTRA_CONF_B
}

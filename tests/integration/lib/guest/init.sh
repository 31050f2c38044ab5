#!/bin/busybox sh
# /init of the vsimig test guest (packed by build-guest.sh; busybox only).
#
# Mounts proc/sys/dev, loads the virtio modules listed in
# /lib/modules/modules.load (dependency order, from the kernel's
# modules.dep), brings up lo and eth0, gets a DHCP lease with udhcpc,
# waits for the IPv6 link-local address, then runs mcjoin (IGMPv3/MLDv2
# joins, receive counters, control port).  Every step prints a
# "VSMGUEST: ..." line on the console (ttyS0).
#
# Kernel command line parameters (all optional):
#   vsm.name=NAME       DHCP hostname (option 12)          [vsmguest]
#   vsm.cid=duid|mac|none|HEX
#                       DHCP client-id (option 61):
#                       duid = ff:00:00:00:01:00:03:00:01:<mac> (RFC 4361:
#                       IAID 1 + DUID-LL), mac = 01:<mac> (busybox's own
#                       default), none = no option 61, HEX = those bytes
#                       (hex digits, colons allowed)          [duid]
#   vsm.groups=G[@S],...  groups mcjoin joins (',' separated; "none")
#                                             [239.77.1.1,ff15::77:1]
#   vsm.port=N          UDP port mcjoin counts datagrams on   [5000]
#   vsm.ctl=N           mcjoin control port                   [5001]
#   vsm.igmp=N          force_igmp_version on eth0 (0 = kernel default) [3]
#   vsm.mld=N           force_mld_version on eth0 (0 = kernel default)  [2]
#   vsm.dhcpwait=S      how long to wait for the lease before starting
#                       mcjoin anyway                         [120]
#   vsm.dhcp=1|0        0: no DHCP client at all (no lease ever; the
#                       guest never sends a DHCP message)       [1]
#   vsm.ip=A.B.C.D/N    a static IPv4 address on eth0 (with vsm.dhcp=0:
#                       a guest that has an address but no lease) [none]
#   vsm.ip1=A.B.C.D/N   a static IPv4 address on eth1 (a second NIC),
#                       with the kernel's defaults arp_announce=0 and
#                       arp_ignore=0 (either NIC speaks for the other's
#                       addresses)                              [none]
#   vsm.spoof=IF/ADDR,...
#                       a hostile guest: once ready, vsmspoof claims each
#                       ADDR from IF (IPv4: ARP Announcement; IPv6:
#                       unsolicited NA with Override, source = ADDR);
#                       ADDR "lease" = eth0's DHCP address; then prints
#                       "spoof done"                            [none]
#   vsm.spoofn=N        how many rounds of claims, 500 ms apart  [10]
#   vsm.ctflows=PORT    run ctflows (ctflows.c) listening on TCP PORT once
#                       the lease is there: test-conntrack's flows   [none]
#   vsm.ping1=A.B.C.D   after the claims, ping it twice from eth1 (its
#                       address is then the IP source of eth1's
#                       traffic)                                [none]

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /run /tmp
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o mode=0755 run /run
exec </dev/console >/dev/console 2>&1

up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "VSMGUEST: $* up=$(up)"; }

say "init kernel $(uname -r)"

# ---- parameters
name=vsmguest cid=duid groups=239.77.1.1,ff15::77:1 port=5000 ctl=5001
igmp=3 mld=2 dhcpwait=120 dhcp=1 sip='' sip1='' spoof='' spoofn=10 ping1='' ctflows=''
# shellcheck disable=SC2013 # words, not lines
for arg in $(cat /proc/cmdline); do
	case $arg in
	vsm.name=*) name=${arg#*=} ;;
	vsm.cid=*) cid=${arg#*=} ;;
	vsm.groups=*) groups=${arg#*=} ;;
	vsm.port=*) port=${arg#*=} ;;
	vsm.ctl=*) ctl=${arg#*=} ;;
	vsm.igmp=*) igmp=${arg#*=} ;;
	vsm.mld=*) mld=${arg#*=} ;;
	vsm.dhcpwait=*) dhcpwait=${arg#*=} ;;
	vsm.dhcp=*) dhcp=${arg#*=} ;;
	vsm.ip=*) sip=${arg#*=} ;;
	vsm.ip1=*) sip1=${arg#*=} ;;
	vsm.spoof=*) spoof=${arg#*=} ;;
	vsm.spoofn=*) spoofn=${arg#*=} ;;
	vsm.ping1=*) ping1=${arg#*=} ;;
	vsm.ctflows=*) ctflows=${arg#*=} ;;
	esac
done
hostname "$name"

# ---- modules (order from modules.dep, resolved at build time)
kver=$(uname -r)
mods=
while read -r m; do
	[ -n "$m" ] || continue
	if insmod "/lib/modules/$kver/$m"; then
		b=${m##*/}
		mods="$mods ${b%.ko}"
	else
		say "insmod $m failed"
	fi
done </lib/modules/modules.load
say "modules$mods"

i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
if [ ! -e /sys/class/net/eth0 ]; then
	say "FATAL no eth0"
	exec sh
fi

# ---- links
ip link set lo up
echo 0 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6
[ "$igmp" != 0 ] && echo "$igmp" >/proc/sys/net/ipv4/conf/eth0/force_igmp_version
[ "$mld" != 0 ] && echo "$mld" >/proc/sys/net/ipv6/conf/eth0/force_mld_version
ip link set eth0 up
mac=$(cat /sys/class/net/eth0/address)
say "eth0 up mac $mac"
if [ -n "$sip1" ]; then
	i=0
	while [ ! -e /sys/class/net/eth1 ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	echo 0 >/proc/sys/net/ipv6/conf/eth1/disable_ipv6
	ip addr add "$sip1" dev eth1
	ip link set eth1 up
	say "eth1 up mac $(cat /sys/class/net/eth1/address) ip $sip1"
fi

# ---- DHCP
machex=$(echo "$mac" | tr -d ':')
case $cid in
duid) cidopt="-x 0x3d:ff0000000100030001$machex" ;;
mac) cidopt= ;;
none) cidopt=-C ;;
*) cidopt="-x 0x3d:$(echo "$cid" | tr -d ':')" ;;
esac
if [ -n "$sip" ]; then
	ip addr add "$sip" dev eth0
	say "static ip $sip"
fi
if [ "$dhcp" = 0 ]; then
	say "dhcp off"
else
	say "dhcp start cid $cid hostname $name"
	# shellcheck disable=SC2086
	udhcpc -f -i eth0 -s /etc/udhcpc.script -x "hostname:$name" $cidopt -t 1000000 -T 2 -A 2 \
		>/dev/console 2>&1 &

	i=0
	while [ ! -s /run/vsm-lease ] && [ $i -lt $((dhcpwait * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -s /run/vsm-lease ] || say "no lease after ${dhcpwait}s, going on"
fi

# ---- IPv6 link-local (DAD done)
i=0
ll=
while [ $i -lt 100 ]; do
	ll=$(ip -6 addr show dev eth0 scope link 2>/dev/null | grep -v tentative | sed -n 's/.*inet6 \([^ ]*\).*/\1/p' | head -n 1)
	[ -n "$ll" ] && break
	sleep 0.1
	i=$((i + 1))
done
say "ipv6 ${ll:-none}"

# ---- multicast
if [ "$groups" != none ]; then
	# shellcheck disable=SC2046 # one word per group
	mcjoin join -i eth0 -p "$port" -c "$ctl" -4 "$igmp" -6 "$mld" $(echo "$groups" | tr ',' ' ') &
fi
if [ -n "$ctflows" ]; then
	ctflows "$ctflows" &
fi
say "ready"

# ---- hostile claims (vsm.spoof), then eth1's own traffic (vsm.ping1)
if [ -n "$spoof" ]; then
	pids=
	for c in $(echo "$spoof" | tr ',' ' '); do
		a=${c#*/}
		[ "$a" = lease ] && a=$(cat /run/vsm-lease 2>/dev/null)
		vsmspoof "${c%%/*}" "$spoofn" 500 "$a" &
		pids="$pids $!"
	done
	# shellcheck disable=SC2086 # one word per pid (not mcjoin's)
	wait $pids
	say "spoof done"
fi
if [ -n "$ping1" ]; then
	ping -c 2 -W 2 -I eth1 "$ping1" >/dev/null 2>&1
	say "ping1 done rc $?"
fi

# PID 1 must not exit.
while :; do
	sleep 3600
done

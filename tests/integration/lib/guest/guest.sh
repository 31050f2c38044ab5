# shellcheck shell=bash
#
# guest.sh - the Linux test guest on the two-host libvirt testbed.
#
# A TCG guest booted straight from Debian's kernel and a busybox initramfs
# (build-guest.sh): it gets a DHCP lease with udhcpc (fixed client-id
# derived from its MAC), joins multicast groups with IGMPv3/MLDv2 and
# counts a `mcjoin send` stream (mcjoin.c), printing "VSMGUEST: ..." lines
# on its serial console, a file in the host's /var/log/libvirt/qemu.
#
# Usage (bash, after testbed.sh + libvirt-testbed.sh, lt_setup and
# lt_libvirtd_start):
#
#   . tests/integration/lib/guest/guest.sh
#   lg_build                          # LG_KERNEL LG_INITRD LG_MCJOIN LG_BUILD_MS LG_BUILD_CACHED
#   lg_define_linux_guest A g1 02:76:73:6d:20:01
#   lg_wait_console A g1 'VSMGUEST: lease ' 60     # prints the matching line
#   lg_wait_console A g1 'VSMGUEST: joined 239\.77\.1\.1 ' 30
#   ip netns exec "$LT_NS_SW" "$LG_MCJOIN" send -i br-sw 239.77.1.1 5000 50 0 &
#   lg_wait_console A g1 'VSMGUEST: rx 239\.77\.1\.1 ' 30
#   lt_migrate A B g1
#   lg_last_rx B g1 239.77.1.1        # "VSMGUEST: rx 239.77.1.1 <count> <seq> lost=.. ..."
#   lg_ctl "$LT_NS_SW" 10.77.1.123 leave 239.77.1.1
#
# Functions:
#   lg_build [OUTDIR]                 build (or reuse) the guest artefacts
#   lg_client_id MAC                  the client-id the guest sends (vsm.cid=duid)
#   lg_guest_xml NAME MAC KERNEL INITRD [CMDLINE_EXTRA]
#   lg_define_linux_guest HOST NAME [MAC] [CMDLINE_EXTRA]
#   lg_start_ns NAME                  epoch ns of its `virsh start`
#   lg_serial_path HOST NAME          serial log path (outside view)
#   lg_console_lines HOST NAME        number of lines in it now
#   lg_wait_console HOST NAME ERE [TIMEOUT_S] [AFTER_LINE]
#   lg_last_rx HOST NAME GROUP        last "rx GROUP" line of the console
#   lg_ctl NS ADDR COMMAND...         talk to the guest's mcjoin control port
#
# Guest kernel parameters (see init.sh): vsm.name vsm.cid vsm.groups
# vsm.port vsm.ctl vsm.igmp vsm.mld vsm.dhcpwait vsm.dhcp vsm.ip; pass them as
# CMDLINE_EXTRA or in LG_GUEST_CMDLINE.
#
# Environment knobs:
#   LG_GUEST_DIR       where lg_build puts the artefacts (default
#                      $VSM_BUILD_ROOT/lg-guest, else /var/tmp/vsimig-guest);
#                      must not be under /run, /etc, /var/{lib,log,cache}
#                      (the hosts mount over those)
#   LG_GUEST_MEM_MIB   guest RAM (default 192)
#   LG_GUEST_CMDLINE   extra kernel parameters for every guest
#   LG_GUEST_METADATA  XML inside <metadata>
#   LG_GUEST_NIC2_MAC  a second virtio NIC on br0 with this MAC (eth1)
#   LG_GUEST_MACHINE   QEMU machine type (default pc)
#   LG_GUEST_TCG_RAM_FIX  1 (default): give QEMU guest RAM whose size is
#                      not a multiple of 256 KiB (lg_tcg_ram_args), the
#                      workaround for QEMU 7.2's TCG migration losing guest
#                      writes; 0: libvirt's own pc.ram (for the soak's
#                      "before" figures, tests/bench/migrate-soak)

if [[ -n ${LG__SOURCED:-} ]]; then
	return 0
fi
LG__SOURCED=1

LG_LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
LG_PORT=5000        # mcjoin data port in the guest (vsm.port default)
LG_CTL_PORT=5001    # mcjoin control port (vsm.ctl default)
LG_GROUP4=239.77.1.1
LG_GROUP6=ff15::77:1
export LG_LIB_DIR LG_PORT LG_CTL_PORT LG_GROUP4 LG_GROUP6

# lg_build [OUTDIR]: run (OUTDIR empty or absent: the default)  build-guest.sh (cached) and set LG_KERNEL,
# LG_INITRD, LG_MCJOIN (a static mcjoin usable on the host),
# LG_GUEST_DIR, LG_BUILD_MS (wall time of this call), LG_BUILD_CACHED
# (1 when nothing was rebuilt).
lg_build() {
	local dir=${1:-${LG_GUEST_DIR:-}} t0 out
	if [[ -z $dir ]]; then
		if [[ -n ${VSM_BUILD_ROOT:-} ]]; then
			dir=$VSM_BUILD_ROOT/lg-guest
		else
			dir=/var/tmp/vsimig-guest
		fi
	fi
	case $dir/ in
	/run/* | /var/run/* | /etc/* | /var/lib/* | /var/log/* | /var/cache/*)
		tb_fail "lg_build: $dir is below a path the hosts mount over" ;;
	esac
	t0=$(date +%s%N)
	out=$("$LG_LIB_DIR/build-guest.sh" -q "$dir") || tb_fail "build-guest.sh $dir failed"
	LG_BUILD_MS=$((($(date +%s%N) - t0) / 1000000))
	LG_BUILD_CACHED=0
	[[ $out == *"guest: cached"* ]] && LG_BUILD_CACHED=1
	LG_GUEST_DIR=$(cd -- "$dir" && pwd)
	LG_KERNEL=$LG_GUEST_DIR/vmlinuz
	LG_INITRD=$LG_GUEST_DIR/initrd.gz
	LG_MCJOIN=$LG_GUEST_DIR/mcjoin
	export LG_GUEST_DIR LG_KERNEL LG_INITRD LG_MCJOIN LG_BUILD_MS LG_BUILD_CACHED
	tb_log "guest: $out"
}

# lg_client_id MAC: print the DHCP client-id (option 61) the guest sends
# by default (vsm.cid=duid), as dnsmasq writes it in its leases file:
# ff:00:00:00:01:00:03:00:01:<mac> - RFC 4361: type 255, IAID 1, DUID-LL
# (type 3, hardware type 1, MAC).
lg_client_id() {
	printf 'ff:00:00:00:01:00:03:00:01:%s\n' "${1,,}"
}

# lg_guest_xml NAME MAC KERNEL INITRD [CMDLINE_EXTRA]: print the domain
# XML: TCG ("qemu" type) x86_64 "pc", LG_GUEST_MEM_MIB (192) MiB, 1 vCPU,
# direct kernel boot (console=ttyS0, no_timer_check, vsm.name=NAME), RAM
# from lg_tcg_ram_args unless LG_GUEST_TCG_RAM_FIX=0, one virtio NIC on br0
# (no option ROM: nothing to PXE-boot), serial to
# /var/log/libvirt/qemu/NAME-serial.log, no disk, no graphics, no balloon.
# A guest that panics or reboots is destroyed (panic=-1 + on_reboot), so a
# failure shows as "shut off" instead of a reboot loop.
lg_guest_xml() {
	local name=$1 mac=$2 kernel=$3 initrd=$4 extra=${5:-} mib=${LG_GUEST_MEM_MIB:-192} qemuns='' args=''
	# no_timer_check: the kernel's IO-APIC timer check counts timer ticks
	# in a busy loop; a TCG vCPU on a loaded host misses it and the boot
	# panics in setup_IO_APIC ("IO-APIC + timer doesn't work").
	local cmdline="console=ttyS0 quiet panic=-1 mitigations=off no_timer_check vsm.name=$name"
	[[ -n ${LG_GUEST_CMDLINE:-} ]] && cmdline+=" $LG_GUEST_CMDLINE"
	[[ -n $extra ]] && cmdline+=" $extra"
	if [[ ${LG_GUEST_TCG_RAM_FIX:-1} == 1 ]]; then
		qemuns=" xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"
		args=$(lg_tcg_ram_args "$mib")
	fi
	cat <<EOF
<domain type='qemu'$qemuns>
  <name>$name</name>
  <memory unit='MiB'>$mib</memory>
  <vcpu>1</vcpu>
  <metadata>${LG_GUEST_METADATA:-}</metadata>
  <os>
    <type arch='x86_64' machine='${LG_GUEST_MACHINE:-pc}'>hvm</type>
    <kernel>$kernel</kernel>
    <initrd>$initrd</initrd>
    <cmdline>$cmdline</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='$mac'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>${LG_GUEST_NIC2_MAC:+
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='$LG_GUEST_NIC2_MAC'/>
      <model type='virtio'/>
      <rom enabled='no'/>
    </interface>}
    <serial type='file'>
      <source path='/var/log/libvirt/qemu/$name-serial.log'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>$args
</domain>
EOF
}

# lg_tcg_ram_args MIB: print the <qemu:commandline> (namespace
# http://libvirt.org/schemas/domain/qemu/1.0 on <domain>) that gives the
# guest MIB MiB + 8 KiB of RAM in its own backend "lg.ram" instead of
# libvirt's pc.ram (which then stays allocated but unused and untouched;
# it has no id in QEMU's RAM list, so it is not migrated).
#
# Why: QEMU 7.2 (Debian 12's 1:7.2+dfsg-7+deb12u*) syncs the migration
# dirty bitmap of a RAM block whose length is a multiple of 64 pages with
# a word-at-a-time fast path that clears the bits WITHOUT resetting the
# TCG vCPUs' TLB dirty tracking (the slow, per-page path does:
# tlb_reset_dirty_range_all).  The vCPU then keeps storing through TLB
# entries that no longer mark the page dirty; a page stored to after it
# was sent and not touched again through a fresh TLB entry before the
# switchover reaches the destination stale: hrtimers with garbage
# function pointers, list/slub corruption, a broken virtio ring after a
# live migration.  Fixed upstream in QEMU 9.0 ("physmem: Fix migration
# dirty bitmap coherency with TCG memory access"), not in 7.2.x.  libvirt
# rounds <memory> up to whole MiB, so only a size QEMU is given directly
# (-m and the backend, 8 KiB more: QEMU aligns -m to 8 KiB) takes the
# per-page path.  libvirt passes the override on to the destination with
# the domain XML.  tests/bench/migrate-soak counts panics with and without.
lg_tcg_ram_args() {
	local bytes=$((${1} * 1048576 + 8192))
	cat <<EOF

  <qemu:commandline>
    <qemu:arg value='-machine'/>
    <qemu:arg value='memory-backend=lg.ram'/>
    <qemu:arg value='-object'/>
    <qemu:arg value='memory-backend-ram,id=lg.ram,size=$bytes'/>
    <qemu:arg value='-m'/>
    <qemu:arg value='size=${bytes}b'/>
  </qemu:commandline>
EOF
}

# lg_define_linux_guest HOST NAME [MAC] [CMDLINE_EXTRA]: define and start
# the Linux guest NAME on HOST (lg_build first; it is called if LG_KERNEL
# is unset).  MAC defaults to 02:76:73:6d:20:01.  The XML is kept in
# $LT_DIR/NAME.xml.  Prints the domain's UUID.  The epoch ns just before
# `virsh start` goes to $LT_DIR/NAME.start_ns (lg_start_ns NAME), since
# callers usually run this in $(...).
lg_define_linux_guest() {
	local h=$1 name=$2 mac=${3:-02:76:73:6d:20:01} extra=${4:-} x d
	lt__host_check "$h"
	[[ -n ${LG_KERNEL:-} ]] || lg_build ""
	x="$LT_DIR/$name.xml"
	lg_guest_xml "$name" "$mac" "$LG_KERNEL" "$LG_INITRD" "$extra" >"$x"
	lt_virsh "$h" define "$x" >/dev/null || tb_fail "host $h: virsh define $name failed"
	date +%s%N >"$LT_DIR/$name.start_ns"
	lt_virsh "$h" start "$name" >/dev/null || {
		d="LT_DIR_$h"
		tail -5 "${!d}/var-log-libvirt/qemu/$name.log" >&2 2>/dev/null
		tb_fail "host $h: virsh start $name failed"
	}
	lt_virsh "$h" domuuid "$name" | sed '/^$/d'
}

# lg_start_ns NAME: epoch ns at which lg_define_linux_guest started NAME.
lg_start_ns() {
	cat "$LT_DIR/$1.start_ns"
}

# lg_serial_path HOST NAME: the guest's serial log on HOST, as seen from
# outside the host.  Each host has its own: after a migration the console
# goes on in the destination's file.
lg_serial_path() {
	lt_host_path "$1" "/var/log/libvirt/qemu/$2-serial.log"
}

# lg_console_lines HOST NAME: number of lines in NAME's serial log on HOST
# now (0 if none), to wait for something *after* this point.
lg_console_lines() {
	local f
	f=$(lg_serial_path "$1" "$2")
	if [[ -f $f ]]; then wc -l <"$f"; else echo 0; fi
}

# lg_wait_console HOST NAME ERE [TIMEOUT_S] [AFTER_LINE]: wait until the
# serial log of NAME on HOST has a line matching the extended regexp ERE
# (after line AFTER_LINE, default 0); print the first such line.  Fails
# (tb_fail, with the log's tail) after TIMEOUT_S (default 60), or as soon
# as the domain is no longer running on HOST.
lg_wait_console() {
	local h=$1 name=$2 re=$3 tmo=${4:-60} after=${5:-0} f line t0=$SECONDS n=0
	f=$(lg_serial_path "$h" "$name")
	while :; do
		# The ERE goes through the environment: awk -v would eat backslashes.
		if [[ -f $f ]] && line=$(LG__RE=$re awk -v after="$after" '
			NR > after { sub(/\r$/, ""); if ($0 ~ ENVIRON["LG__RE"]) { print; found = 1; exit } }
			END { exit !found }' "$f"); then
			printf '%s\n' "$line"
			return 0
		fi
		((SECONDS - t0 >= tmo)) && break
		# Every ~2 s: give up early when the guest is gone.
		if ((++n % 20 == 0)) && [[ $(lt_domstate "$h" "$name") != running* ]]; then
			break
		fi
		sleep 0.1
	done
	{
		echo "  --- $f (last 15 lines) ---"
		tail -n 15 "$f" 2>/dev/null | tr -d '\r' | sed 's/^/  /'
		echo "  --- domain: $(lt_domstate "$h" "$name")"
	} >&2
	if [[ -f $f ]] && grep -q 'Kernel panic' "$f"; then
		tb_fail "host $h: $name's kernel PANICKED (a guest/QEMU failure, not the daemon's: see lg_tcg_ram_args): $(tr -d '\r' <"$f" | grep -m 1 'Kernel panic')"
	fi
	tb_fail "host $h: '$re' not on $name's console after $((SECONDS - t0)) s"
}

# lg_last_rx HOST NAME GROUP: print the last "VSMGUEST: rx GROUP ..." line
# of NAME's console on HOST (nothing if none).  Fields: rx GROUP COUNT
# LAST_SEQ lost=N dup=N maxgap_ms=N first=SEQ
lg_last_rx() {
	local f
	f=$(lg_serial_path "$1" "$2")
	[[ -f $f ]] || return 0
	tr -d '\r' <"$f" | grep -F "VSMGUEST: rx $3 " | tail -n 1 || true
}

# lg_ctl NS ADDR COMMAND...: send COMMAND (join G[@S] | leave G[@S] |
# stats | ping) to the guest's mcjoin control port (LG_CTL_PORT) at ADDR,
# from netns NS; prints the answer, returns 0 on "ok".
lg_ctl() {
	local ns=$1 addr=$2
	shift 2
	ip netns exec "$ns" "$LG_MCJOIN" ctl "$addr" "$LG_CTL_PORT" "$@"
}

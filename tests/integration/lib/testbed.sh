# shellcheck shell=bash
#
# testbed.sh - network-namespace test bed with real lldpad peers.
#
# Stands up lldpad (Debian 12, lldpad 1.1+git20221028) in the IEEE
# 802.1Qbg-2012 *bridge* role as a VDP22-over-ECP22 peer (ethertype 0x8940,
# clause 41/43), optionally a second lldpad in the *station* role driven by
# vdptool, and records frames with tcpdump.  See DESIGN.md §3 and §6, and
# tests/data/lldpad/README.md for what lldpad puts on the wire.
#
# Usage (bash, works under `set -euo pipefail`):
#
#   . tests/integration/lib/testbed.sh
#   tb_init                                   # root check, $TB_DIR, EXIT trap
#   tb_netns_pair                             # $TB_NS_BR/$TB_IF_BR <-> $TB_NS_ST/$TB_IF_ST
#   tb_capture_start "$TB_NS_BR" "$TB_IF_BR" "$TB_DIR/br.pcap"
#   tb_lldpad_start  "$TB_NS_BR" "$TB_IF_BR" bridge
#   tb_lldpad_start  "$TB_NS_ST" "$TB_IF_ST" station
#   tb_lldpad_wait_evb station                # EVB TLV exchange done
#   tb_lldpad_exec station vdptool -i "$TB_IF_ST" -T -V assoc -c ...
#   tb_capture_wait "$TB_DIR/br.pcap" 'vdp21.assoc.flags.req_rsp == 1' 1
#   tb_capture_stop
#   tb_ecp_frames "$TB_DIR/br.pcap"
#
# Every process the library starts is recorded and killed by PID in
# tb_cleanup (installed as EXIT trap by tb_init); every netns is deleted.
# Do not install your own EXIT trap after tb_init: use tb_defer instead.
#
# Environment knobs:
#   CI=true                 tb_skip_or_fail exits 1 instead of 77
#   TB_KEEP=1               keep $TB_DIR (logs, configs, pcaps) after cleanup
#   TB_VERBOSE=1            log library actions to stderr
#   TB_LLDPAD_LOGLEVEL=N    lldpad -V level (default 6; 7 = debug, which
#                           hexdumps every frame and slows lldpad down)
#   TB_EVB_RETRIES, TB_EVB_RTE, TB_EVB_RWD, TB_EVB_RKA
#                           EVB TLV values in the lldpad configs (default
#                           3, 8, 20, 20 = lldpad's defaults)
#   TB_LLDPAD_EVB_EXTRA     extra libconfig lines for the tlvid0080c20d
#                           section (keys not set above, e.g. evbgpid)

# Guard against double sourcing.
if [[ -n ${TB__SOURCED:-} ]]; then
	return 0
fi
TB__SOURCED=1

TB_LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export TB_LIB_DIR

# Fixed, distinct, locally administered unicast MACs ("vsm" = 76:73:6d).
# Each lives in its own private netns, so concurrent runs do not clash.
TB_MAC_ST_DEFAULT=02:76:73:6d:00:01
TB_MAC_BR_DEFAULT=02:76:73:6d:00:02

# ECP22 / LLDP ethertypes and the nearest-customer-bridge group address.
TB_ETH_ECP=0x8940
TB_ETH_LLDP=0x88cc
export TB_MAC_NCB=01:80:c2:00:00:00

# --------------------------------------------------------------------------
# logging / errors

tb_log() {
	if [[ ${TB_VERBOSE:-0} == 1 ]]; then
		printf '[tb %s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2
	fi
	return 0
}

tb_warn() {
	printf '[tb] WARNING: %s\n' "$*" >&2
}

# tb_fail MSG: print MSG and exit 1 (the EXIT trap cleans up).
tb_fail() {
	printf '[tb] FAIL: %s\n' "$*" >&2
	exit 1
}

# tb_skip_or_fail MSG: the test cannot run here.  Exit 77 (meson/automake
# "skip") with MSG, except under CI=true, where real-peer tests must never
# be skipped: exit 1.
tb_skip_or_fail() {
	if [[ ${CI:-} == true ]]; then
		printf '[tb] FAIL (CI=true, not skipping): %s\n' "$*" >&2
		exit 1
	fi
	printf '[tb] SKIP: %s\n' "$*" >&2
	exit 77
}

# --------------------------------------------------------------------------
# init / cleanup

# tb_init: check prerequisites, create the run id $TB_ID (unique per
# process), the work dir $TB_DIR, and install the EXIT/INT/TERM traps that
# call tb_cleanup.  Idempotent within one shell (a child script that
# sources testbed.sh gets its own test bed, even though TB_ID and TB_DIR
# are exported).
tb_init() {
	if [[ ${TB__INITED:-} == 1 ]]; then
		return 0
	fi
	if [[ $(id -u) != 0 ]]; then
		tb_skip_or_fail "needs root (network namespaces, raw sockets)"
	fi
	local tool
	for tool in ip unshare nsenter mount lldpad lldptool vdptool tcpdump tshark awk stdbuf; do
		command -v "$tool" >/dev/null 2>&1 ||
			tb_skip_or_fail "missing tool: $tool"
	done

	# Unique id: pid based, bumped if a netns of that name already exists
	# (pid reuse, or a crashed earlier run).
	local id="vsm$$" n=0
	while [[ -e /run/netns/${id}-br || -e /run/netns/${id}-st ]]; do
		n=$((n + 1))
		id="vsm$$x$n"
	done
	TB_ID=$id
	TB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/${TB_ID}.XXXXXX")
	chmod 0755 "$TB_DIR"
	export TB_ID TB_DIR

	TB__PIDS=()         # "pid:label" of every process we started
	TB__NETNS=()        # netns we created
	TB__CAPS=()         # "pid:file" of running captures
	TB__LLDPADS=()      # instance names
	TB__DEFER=()        # commands for tb_cleanup, run LIFO
	TB__CLEANED=0
	TB__INITED=1
	# Per-instance variables exported by a parent test bed are not ours.
	local v
	for v in "${!TB_LLDPAD_@}"; do
		[[ $v == TB_LLDPAD_LOGLEVEL || $v == TB_LLDPAD_EVB_EXTRA ]] || unset "$v"
	done
	unset TB_NS_BR TB_NS_ST

	trap 'tb__on_exit' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	tb_log "init id=$TB_ID dir=$TB_DIR"
}

tb__on_exit() {
	local rc=$?
	tb_cleanup
	exit "$rc"
}

# tb_defer CMD...: run CMD (eval'd) in tb_cleanup, before the library's own
# teardown, last registered first.
tb_defer() {
	TB__DEFER+=("$*")
}

# tb_track_pid PID [LABEL]: have tb_cleanup kill PID (a process the test
# started itself, e.g. the daemon under test).
tb_track_pid() {
	TB__PIDS+=("$1:${2:-pid}")
}

tb__untrack_pid() {
	local pid=$1 e out=()
	for e in "${TB__PIDS[@]}"; do
		[[ ${e%%:*} == "$pid" ]] || out+=("$e")
	done
	TB__PIDS=("${out[@]}")
}

# tb__kill_pid PID SIG TIMEOUT_S: send SIG, wait up to TIMEOUT_S for the
# process to go, then SIGKILL.  Reaps it if it is our child.
tb__kill_pid() {
	local pid=$1 sig=$2 tmo=$3 i
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < tmo * 20; i++)); do
		tb__pid_gone "$pid" && break
		sleep 0.05
	done
	if ! tb__pid_gone "$pid"; then
		tb_warn "pid $pid ignored SIG$sig, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	return 0
}

# A process is gone when kill -0 fails or it is a zombie.
tb__pid_gone() {
	local st
	kill -0 "$1" 2>/dev/null || return 0
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
	[[ $st == Z || -z $st ]]
}

# tb_cleanup: stop captures (flushing them), run deferred commands, kill
# every process we started (by PID), kill anything left inside our netns
# (by PID: nothing else can be in a netns we created), delete the netns,
# remove $TB_DIR (unless TB_KEEP=1).  Idempotent; safe after a failure at
# any point.
tb_cleanup() {
	[[ ${TB__INITED:-} == 1 ]] || return 0
	[[ ${TB__CLEANED:-0} == 1 ]] && return 0
	TB__CLEANED=1
	local e i pid ns had_e=0
	[[ $- == *e* ]] && had_e=1
	set +e

	# shellcheck disable=SC2119
	tb_capture_stop >/dev/null 2>&1

	for ((i = ${#TB__DEFER[@]} - 1; i >= 0; i--)); do
		eval "${TB__DEFER[$i]}"
	done
	TB__DEFER=()

	for ((i = ${#TB__PIDS[@]} - 1; i >= 0; i--)); do
		e=${TB__PIDS[$i]}
		tb__kill_pid "${e%%:*}" TERM 3
	done
	TB__PIDS=()

	for ns in "${TB__NETNS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			tb_warn "killing leftover pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) in netns $ns"
			tb__kill_pid "$pid" TERM 2
		done
		ip netns del "$ns" 2>/dev/null || tb_warn "could not delete netns $ns"
	done
	TB__NETNS=()

	if [[ -n ${TB_DIR:-} && -d $TB_DIR ]]; then
		if [[ ${TB_KEEP:-0} == 1 ]]; then
			printf '[tb] kept %s\n' "$TB_DIR" >&2
		else
			rm -rf -- "$TB_DIR"
		fi
	fi
	if ((had_e)); then set -e; fi
	return 0
}

# --------------------------------------------------------------------------
# namespaces

# tb_netns_pair: create netns $TB_NS_BR (bridge / ToR switch side) and
# $TB_NS_ST (station / compute host side), joined by a veth:
#   $TB_NS_ST:$TB_IF_ST ($TB_MAC_ST) <-> $TB_NS_BR:$TB_IF_BR ($TB_MAC_BR)
# Both ends and lo are up; returns once both ends have carrier.
# TB_IF_ST/TB_IF_BR/TB_MAC_ST/TB_MAC_BR may be preset by the caller.
tb_netns_pair() {
	[[ -n ${TB_ID:-} ]] || tb_fail "tb_netns_pair: call tb_init first"
	TB_NS_BR="${TB_ID}-br"
	TB_NS_ST="${TB_ID}-st"
	TB_IF_ST=${TB_IF_ST:-up0}
	TB_IF_BR=${TB_IF_BR:-sw0}
	TB_MAC_ST=${TB_MAC_ST:-$TB_MAC_ST_DEFAULT}
	TB_MAC_BR=${TB_MAC_BR:-$TB_MAC_BR_DEFAULT}
	export TB_NS_BR TB_NS_ST TB_IF_ST TB_IF_BR TB_MAC_ST TB_MAC_BR

	local ns
	for ns in "$TB_NS_BR" "$TB_NS_ST"; do
		ip netns add "$ns" 2>"$TB_DIR/netns.err" ||
			tb_skip_or_fail "cannot create netns $ns: $(cat "$TB_DIR/netns.err")"
		TB__NETNS+=("$ns")
		ip -n "$ns" link set lo up
	done
	# Created directly inside the namespaces: no name ever appears in the
	# root namespace, so concurrent runs cannot collide on interface names.
	ip -n "$TB_NS_ST" link add "$TB_IF_ST" address "$TB_MAC_ST" type veth \
		peer name "$TB_IF_BR" address "$TB_MAC_BR" netns "$TB_NS_BR" ||
		tb_fail "cannot create veth pair"
	ip -n "$TB_NS_ST" link set "$TB_IF_ST" up
	ip -n "$TB_NS_BR" link set "$TB_IF_BR" up
	tb_wait_link_up "$TB_NS_ST" "$TB_IF_ST"
	tb_wait_link_up "$TB_NS_BR" "$TB_IF_BR"
	tb_log "netns $TB_NS_ST:$TB_IF_ST($TB_MAC_ST) <-> $TB_NS_BR:$TB_IF_BR($TB_MAC_BR)"
}

# tb_wait_link_up NS IF [TIMEOUT_S]: wait until IF has carrier (operstate UP).
tb_wait_link_up() {
	local ns=$1 ifn=$2 tmo=${3:-5} i
	for ((i = 0; i < tmo * 20; i++)); do
		if [[ $(ip netns exec "$ns" cat "/sys/class/net/$ifn/operstate" 2>/dev/null) == up ]]; then
			return 0
		fi
		sleep 0.05
	done
	tb_fail "link $ns:$ifn did not come up"
}

# tb_ns_exec NS CMD...: run CMD in netns NS.
tb_ns_exec() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# --------------------------------------------------------------------------
# lldpad

tb__check_name() {
	[[ $1 =~ ^[A-Za-z][A-Za-z0-9_]*$ ]] || tb_fail "bad lldpad instance name '$1'"
}

# tb_lldpad_conf IF ROLE: print the lldpad.conf (libconfig) for ROLE on IF.
#
# The only section lldpad needs is nearest_customer_bridge (the EVB TLV
# goes to 01:80:c2:00:00:00).  Role comes from evbmode and is read once, at
# ifup: it must be in the file before lldpad starts.  VDP22 needs no
# section of its own: lldpad's evb22 timer starts ECP22 and VDP22 on the
# port ~1 s after ifup (in the role evbmode says) whenever tlvid0080c20d
# has enableTx = true.  The bridge sets the reflective-relay control bit
# (rrctr) only if the station asks (evbrrreq) and the bridge can
# (evbrrcap); the values below are lldpad's defaults written out
# (RTE 8 = 2.56 ms, 3 retries, RWD/RKA 20 = 10.49 s); TB_EVB_RETRIES,
# TB_EVB_RTE, TB_EVB_RWD, TB_EVB_RKA override them (lldpad uses the larger
# of its own and its peer's value).
tb_lldpad_conf() {
	local ifns=$1 role=$2 rr ifn
	case $role in
	bridge) rr='evbrrcap = true;' ;;
	station) rr='evbrrreq = true;' ;;
	*) tb_fail "tb_lldpad_conf: role must be bridge or station, not '$role'" ;;
	esac
	echo "nearest_customer_bridge :"
	echo "{"
	# IF may be a comma-separated list: one lldpad serving several ports
	# (a switch with one port per host).
	for ifn in ${ifns//,/ }; do
		cat <<EOF
  $ifn :
  {
    adminStatus = 3;
    tlvid0080c20d :
    {
      enableTx = true;
      evbmode = "$role";
      $rr
      ecpretries = ${TB_EVB_RETRIES:-3};
      ecprte = ${TB_EVB_RTE:-8};
      vdprwd = ${TB_EVB_RWD:-20};
      vdprka = ${TB_EVB_RKA:-20};
      ${TB_LLDPAD_EVB_EXTRA:-}
    };
  };
EOF
	done
	echo "};"
}

# tb_lldpad_start NS IF ROLE [NAME]: start lldpad in netns NS on IF in
# ROLE (bridge|station).  IF may be a comma-separated list of ports; its
# first one is used for the readiness check.  NAME (default: ROLE) names the instance for
# tb_lldpad_exec / tb_lldpad_stop, so a test can run e.g. two bridges.
#
# lldpad runs in a private mount namespace (unshare -m, / made rprivate)
# with tmpfs over /dev/shm (its POSIX shm state "lldpad.state"), /run (pid
# file /var/run/lldpad.pid) and /var/lib/lldpad; its config file, written
# before start, and its log live in $TB_DIR/lldpad-NAME/.  Its client
# socket is an abstract unix socket, which is per netns.
#
# Returns when lldpad answers on its client socket and its VDP22 module
# exists on IF (vdptool works).  That does NOT mean the EVB TLV exchange
# has happened: use tb_lldpad_wait_evb for that.
#
# Sets and exports: TB_LLDPAD_PID_<NAME> (the lldpad process itself),
# TB_LLDPAD_NS_<NAME>, TB_LLDPAD_IF_<NAME>, TB_LLDPAD_ROLE_<NAME>,
# TB_LLDPAD_DIR_<NAME>, TB_LLDPAD_LOG_<NAME>, TB_LLDPAD_CONF_<NAME>.
tb_lldpad_start() {
	local ns=$1 ifn=$2 role=$3 name=${4:-$3}
	local dir conf log pid i lvl=${TB_LLDPAD_LOGLEVEL:-6}
	tb__check_name "$name"
	case $role in bridge | station) ;; *) tb_fail "role must be bridge or station" ;; esac
	local pv="TB_LLDPAD_PID_$name"
	if [[ -n ${!pv:-} ]]; then
		tb_fail "lldpad instance '$name' already running (pid ${!pv})"
	fi
	[[ -d /var/lib/lldpad ]] || mkdir -p /var/lib/lldpad

	dir="$TB_DIR/lldpad-$name"
	mkdir -p "$dir"
	conf="$dir/lldpad.conf"
	log="$dir/lldpad.log"
	tb_lldpad_conf "$ifn" "$role" >"$conf"
	cp "$conf" "$dir/lldpad.conf.orig" # lldpad rewrites $conf

	# ip netns exec and unshare (no --fork) both exec, and so do sh and
	# stdbuf: $! ends up being lldpad itself.  stdbuf: lldpad logs with
	# stdio to stdout/stderr when not daemonized; keep the log line-buffered.
	ip netns exec "$ns" unshare --mount --propagation private -- /bin/sh -c '
		set -e
		mount --make-rprivate /
		mount -t tmpfs -o mode=1777 tb-shm /dev/shm
		mount -t tmpfs -o mode=0755 tb-run /run
		mount -t tmpfs -o mode=0755 tb-lldpad /var/lib/lldpad
		exec stdbuf -oL -eL lldpad -t -V "$2" -f "$1"
	' tb-lldpad "$conf" "$lvl" >"$log" 2>&1 </dev/null &
	pid=$!
	TB__PIDS+=("$pid:lldpad-$name")
	TB__LLDPADS+=("$name")

	# Wait for the exec chain to reach lldpad.
	for ((i = 0; i < 100; i++)); do
		tb__pid_gone "$pid" && break
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == lldpad ]] && break
		sleep 0.05
	done
	if tb__pid_gone "$pid" || [[ $(cat "/proc/$pid/comm" 2>/dev/null) != lldpad ]]; then
		sed 's/^/  lldpad: /' "$log" >&2
		tb_fail "lldpad ($name) did not start"
	fi

	printf -v "TB_LLDPAD_PID_$name" %s "$pid"
	printf -v "TB_LLDPAD_NS_$name" %s "$ns"
	printf -v "TB_LLDPAD_IF_$name" %s "$ifn"
	printf -v "TB_LLDPAD_ROLE_$name" %s "$role"
	printf -v "TB_LLDPAD_DIR_$name" %s "$dir"
	printf -v "TB_LLDPAD_LOG_$name" %s "$log"
	printf -v "TB_LLDPAD_CONF_$name" %s "$conf"
	export "TB_LLDPAD_PID_$name" "TB_LLDPAD_NS_$name" "TB_LLDPAD_IF_$name" \
		"TB_LLDPAD_ROLE_$name" "TB_LLDPAD_DIR_$name" "TB_LLDPAD_LOG_$name" \
		"TB_LLDPAD_CONF_$name"

	# Ready = client socket answers, then VDP22 exists on the port (lldpad
	# creates it at its first evb22 timer tick, ~1 s after start).  Until
	# then vdptool -t fails with "Device not found or inactive"; after, the
	# station answers and the bridge says "Command not applicable" (vdptool
	# is station-only), which also means the module is up.
	local out ok=0
	for ((i = 0; i < 200; i++)); do
		if tb__pid_gone "$pid"; then
			sed 's/^/  lldpad: /' "$log" >&2
			tb_fail "lldpad ($name) died during start"
		fi
		if out=$(tb_lldpad_exec "$name" vdptool -i "${ifn%%,*}" -t -V assoc 2>&1); then
			ok=1
			break
		fi
		case $out in
		*"not applicable"*) [[ $role == bridge ]] && { ok=1; break; } ;;
		esac
		sleep 0.05
	done
	[[ $ok == 1 ]] || tb_fail "lldpad ($name) not ready after 10 s: $out"
	tb_log "lldpad $name ($role) pid $pid ready on $ns:$ifn"
}

# tb_lldpad_pid NAME: print the pid of lldpad instance NAME.
tb_lldpad_pid() {
	tb__check_name "$1"
	local pv="TB_LLDPAD_PID_$1"
	[[ -n ${!pv:-} ]] || tb_fail "no lldpad instance '$1'"
	printf '%s\n' "${!pv}"
}

# tb_lldpad_exec NAME CMD...: run CMD (lldptool, vdptool, ...) in the
# net and mount namespaces of lldpad instance NAME (nsenter on its pid).
# NAME may be the role when tb_lldpad_start was given no NAME.
tb_lldpad_exec() {
	local name=$1 pid
	shift
	pid=$(tb_lldpad_pid "$name")
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == lldpad ]] ||
		tb_fail "lldpad '$name' (pid $pid) is not running"
	nsenter -t "$pid" -n -m -- "$@"
}

# tb_lldpad_wait_evb NAME [TIMEOUT_S]: wait until instance NAME has
# received its peer's EVB TLV (an LLDPDU to the nearest customer bridge
# address carrying OUI 00-80-C2 subtype 0x0D): `lldptool -t -n -g ncb -V
# evb` (the neighbour's TLV) is empty until then.  Works for any peer,
# lldpad or not, whatever status bits it sends.  lldpad sends LLDPDUs every
# 1 s while the exchange settles (30 s after that), so with two lldpads
# this takes ~1 s after the later one started.
tb_lldpad_wait_evb() {
	local name=$1 tmo=${2:-15} i out='' ifn
	local iv="TB_LLDPAD_IF_$name"
	ifn=${!iv:-}
	[[ -n $ifn ]] || tb_fail "no lldpad instance '$name'"
	for ((i = 0; i < tmo * 10; i++)); do
		out=$(tb_lldpad_exec "$name" lldptool -t -n -i "$ifn" -g ncb -V evb 2>&1) || true
		[[ $out == *"EVB Configuration TLV"* ]] && return 0
		sleep 0.1
	done
	tb_fail "lldpad '$name': no EVB TLV from the peer after ${tmo} s: $out"
}

# tb_lldpad_stop NAME: stop instance NAME (SIGTERM, by pid) and forget it.
tb_lldpad_stop() {
	local name=$1 pid e out=()
	pid=$(tb_lldpad_pid "$name")
	tb__kill_pid "$pid" TERM 5
	tb__untrack_pid "$pid"
	for e in "${TB__LLDPADS[@]}"; do [[ $e == "$name" ]] || out+=("$e"); done
	TB__LLDPADS=("${out[@]}")
	unset "TB_LLDPAD_PID_$name"
}

# --------------------------------------------------------------------------
# raw frames (perl-base only: it is Essential on Debian)

# tb_send_hex NS IF HEX...: send each HEX string (a full Ethernet frame from
# the destination MAC on, no FCS) as one frame on IF in NS, via AF_PACKET.
# Frames shorter than 60 octets are sent as they are: the kernel does not
# pad on veth, a real NIC would.
tb_send_hex() {
	local ns=$1 ifn=$2
	shift 2
	ip netns exec "$ns" perl -e '
		use strict; use Socket;
		my $ifn = shift @ARGV;
		socket(my $s, 17, SOCK_RAW, 0) or die "socket: $!";  # AF_PACKET
		my $idx = do { open(my $f, "<", "/sys/class/net/$ifn/ifindex") or die "$ifn: $!"; <$f> + 0 };
		# struct sockaddr_ll: family, protocol(be), ifindex, hatype, pkttype, halen, addr[8]
		my $sll = pack("S n i S C C a8", 17, 0, $idx, 0, 0, 6, "");
		for my $h (@ARGV) {
			$h =~ s/[^0-9a-fA-F]//g;
			my $b = pack("H*", $h);
			defined(send($s, $b, 0, $sll)) or die "send: $!";
		}
	' "$ifn" "$@"
}

# --------------------------------------------------------------------------
# capture

# tb_capture_start NS IF FILE [PCAP_FILTER]: capture on IF in NS into FILE
# (pcap, nanosecond timestamps, written per packet).  Default filter: ECP
# (0x8940) and LLDP (0x88cc).  Returns once tcpdump has its filter
# installed and is listening.  Several captures may run at once.
tb_capture_start() {
	local ns=$1 ifn=$2 file=$3
	local filter=${4:-"ether proto $TB_ETH_ECP or ether proto $TB_ETH_LLDP"}
	local log="$file.log" pid i
	: >"$log"
	# -Z root: do not drop privileges (the file is in a 0700 tmp dir);
	# --immediate-mode: no TPACKET_V3 block buffering, so nothing is held
	# back when we stop it; -U: write each packet out as it arrives.
	# TB_CAPTURE_DIRECTION=in|out: only what IF receives / sends (-Q).
	ip netns exec "$ns" tcpdump -i "$ifn" ${TB_CAPTURE_DIRECTION:+-Q "$TB_CAPTURE_DIRECTION"} \
		-n -s 0 -U --immediate-mode -Z root \
		--time-stamp-precision=nano -w "$file" "$filter" >"$log" 2>&1 </dev/null &
	pid=$!
	TB__PIDS+=("$pid:tcpdump")
	TB__CAPS+=("$pid:$file")
	for ((i = 0; i < 200; i++)); do
		grep -q '^tcpdump: listening on' "$log" && break
		if tb__pid_gone "$pid"; then
			cat "$log" >&2
			tb_fail "tcpdump on $ns:$ifn died"
		fi
		sleep 0.025
	done
	grep -q '^tcpdump: listening on' "$log" || tb_fail "tcpdump on $ns:$ifn not listening after 5 s"
	tb_log "capture $ns:$ifn -> $file (pid $pid)"
}

# tb_capture_stop [FILE]: stop the capture writing FILE, or all captures;
# SIGINT by pid, then wait: tcpdump flushes and closes the file.
# shellcheck disable=SC2120
tb_capture_stop() {
	local want=${1:-} e pid file keep=()
	for e in "${TB__CAPS[@]}"; do
		pid=${e%%:*}
		file=${e#*:}
		if [[ -n $want && $file != "$want" ]]; then
			keep+=("$e")
			continue
		fi
		tb__kill_pid "$pid" INT 3
		tb__untrack_pid "$pid"
		tb_log "capture stopped: $file ($(grep -E 'packets? captured' "$file.log" 2>/dev/null || true))"
	done
	TB__CAPS=("${keep[@]}")
}

# tb_capture_count FILE DISPLAY_FILTER: number of frames in FILE (may be
# still being written) matching the tshark display filter.
tb_capture_count() {
	local file=$1 filter=$2
	[[ -s $file ]] || { echo 0; return 0; }
	tshark -r "$file" -Y "$filter" -T fields -e frame.number 2>/dev/null | wc -l
}

# tb_capture_wait FILE DISPLAY_FILTER N [TIMEOUT_S]: wait until FILE holds
# at least N frames matching DISPLAY_FILTER (e.g. 'ecp21 && eth.src ==
# 02:76:73:6d:00:02 && vdp21.assoc.flags.req_rsp == 1').
tb_capture_wait() {
	local file=$1 filter=$2 n=$3 tmo=${4:-10} c=0 t0
	t0=$SECONDS
	while ((SECONDS - t0 < tmo)); do
		c=$(tb_capture_count "$file" "$filter")
		((c >= n)) && return 0
		sleep 0.1
	done
	tb_fail "$file: $c of $n frames matching '$filter' after ${tmo} s"
}

# --------------------------------------------------------------------------
# decoding
#
# All decoders print one record per line, fields separated by one space,
# "-" for an empty field.  tshark (4.0) is used for the frame list, time
# stamps, source MACs and raw bytes; the ECP header and VDP TLVs are decoded
# from the raw bytes (tshark 4.0 misdecodes VDP filter info and PRE-ASSOC
# bodies), and tb_ecp_frames cross-checks the ECP header with ecp21.

# tb__tshark_hex FILE DISPLAY_FILTER FIELD...: print "FIELD... HEX" per
# frame, HEX = the whole frame from the destination MAC.
tb__tshark_hex() {
	local file=$1 filter=$2 err snap rc=0
	shift 2
	local -a ef=()
	local f
	for f in "$@"; do ef+=(-e "$f"); done
	err=$(mktemp)
	# Both passes must see the same frames: read a snapshot, the capture may
	# still be running.
	snap=$(mktemp)
	cp -- "$file" "$snap"
	{
		tshark -r "$snap" -Y "$filter" -T fields -E separator='|' "${ef[@]}" 2>"$err"
		echo '--HEX--'
		tshark -r "$snap" -Y "$filter" -x 2>>"$err"
	} | awk -v nfields="$#" '
		$0 == "--HEX--" { hex = 1; n = 0; cur = ""; next }
		!hex {
			nf++
			k = split($0, a, "|")
			line = ""
			for (i = 1; i <= nfields; i++) {
				v = (i <= k) ? a[i] : ""
				gsub(/ /, "", v)
				if (v == "") v = "-"
				line = line v " "
			}
			pre[nf] = line
			next
		}
		/^[0-9a-f][0-9a-f][0-9a-f][0-9a-f]  / {
			x = substr($0, 7, 48)
			gsub(/ /, "", x)
			cur = cur x
			next
		}
		/^$/ { if (cur != "") { h[++n] = cur; cur = "" } next }
		END {
			if (cur != "") h[++n] = cur
			if (n != nf) {
				printf "tb__tshark_hex: %d frames but %d hex dumps\n", nf, n > "/dev/stderr"
				exit 1
			}
			for (i = 1; i <= n; i++) print pre[i] h[i]
		}' || rc=$?
	if [[ $rc != 0 ]]; then grep -v 'Running as user' "$err" >&2 || true; fi
	rm -f "$err" "$snap"
	return "$rc"
}

# tb_frames_hex FILE [DISPLAY_FILTER]: print "<epoch> <src-mac> <hex>" per
# frame; hex = the whole frame from the destination MAC, lowercase, no
# spaces (the format of tests/data/lldpad/*.hex).
tb_frames_hex() {
	tb__tshark_hex "$1" "${2:-frame}" frame.time_epoch eth.src
}

# tb_ecp_frames FILE: one line per ECP22 frame (ethertype 0x8940) in FILE:
#   <epoch> <src-mac> <req|ack> <seq> <payload-hex|->
# payload = everything after the 4-octet ECP header (VDP TLVs, plus any
# padding up to 60 octets); "-" when empty (an ACK).  A VLAN tag, if any,
# is skipped.
tb_ecp_frames() {
	tb__tshark_hex "$1" 'eth.type == 0x8940 || (vlan && vlan.etype == 0x8940)' \
		frame.time_epoch eth.src ecp.op ecp.seqno |
		awk '
		function hv(s,   i, v) {
			v = 0
			for (i = 1; i <= length(s); i++)
				v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
			return v
		}
		{
			h = $5
			if (substr(h, 25, 4) == "8100") h = substr(h, 1, 24) substr(h, 33)
			vos = hv(substr(h, 29, 4))	# version:4 op:2 subtype:10
			op = int(vos / 1024) % 4
			seq = hv(substr(h, 33, 4))
			if ($3 != "-" && (hv(substr($3, 3)) != op || $4 + 0 != seq))
				printf "tb_ecp_frames: ecp21 says op %s seq %s at %s, raw bytes op %d seq %d\n",
					$3, $4, $1, op, seq > "/dev/stderr"
			pl = substr(h, 37)
			if (pl == "") pl = "-"
			print $1, $2, (op == 0 ? "req" : (op == 1 ? "ack" : "op" op)), seq, pl
		}'
}

# awk functions shared by the VDP decoders (also used by
# tests/bench/vdp-rtt/lib.sh): vdp_parse(payload_hex) fills
#   V_n            number of VSI TLVs (types 1-4)
#   V_mode[i]      preassoc | preassoc-rr | assoc | deassoc
#   V_status[i]    status octet (number)
#   V_uuid[i]      VSIID, 32 hex digits
#   V_line[i]      "mode status=0x.. resp= m= s= err= typeid= ver= idfmt=
#                   uuid= ffmt= n= f=entry,entry"
#   V_mgr[i]       Manager ID (32 hex digits) preceding VSI TLV i, or "-"
#   V_other        space-separated notes: "end", "pad=N", "oui=..",
#                  "tlvT=..", "trailing=..", "truncated"
TB_AWK_VDP='
function hv(s,   i, v) {
	v = 0
	s = tolower(s)
	for (i = 1; i <= length(s); i++)
		v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
	return v
}
function vdp_parse(h,   o, L, hdr, t, len, b, st, ff, n, el, f, i, mgr, rest, mn, fl) {
	split("preassoc preassoc-rr assoc deassoc", mn, " ")
	fl[1] = 2; fl[2] = 8; fl[3] = 6; fl[4] = 12
	V_n = 0; V_other = ""; mgr = "-"
	h = tolower(h); if (h == "-") h = ""
	o = 1; L = length(h)
	while (o + 3 <= L) {
		hdr = hv(substr(h, o, 4)); t = int(hdr / 512); len = hdr % 512
		b = substr(h, o + 4, len * 2)
		if (t == 0 && len == 0) {
			rest = substr(h, o + 4)
			if (rest ~ /^0*$/) {
				V_other = V_other " end"
				if (length(rest)) V_other = V_other " pad=" length(rest) / 2
			} else V_other = V_other " end trailing=" rest
			return
		}
		if (length(b) < len * 2) { V_other = V_other " truncated(tlv" t ",len=" len ")"; return }
		if (t == 5) mgr = b
		else if (t >= 1 && t <= 4) {
			st = hv(substr(b, 1, 2)); ff = hv(substr(b, 45, 2)); n = hv(substr(b, 47, 4))
			el = (ff in fl) ? fl[ff] : 0; f = ""
			for (i = 0; i < n && el; i++) f = f (i ? "," : "") substr(b, 51 + i * el * 2, el * 2)
			if (f == "") f = "-"
			V_n++
			V_mode[V_n] = mn[t]; V_status[V_n] = st; V_uuid[V_n] = substr(b, 13, 32); V_mgr[V_n] = mgr
			V_line[V_n] = sprintf("%s status=0x%02x resp=%d m=%d s=%d err=%d typeid=%d ver=%d idfmt=%d uuid=%s ffmt=%d n=%d f=%s",
				mn[t], st, int(st / 64) % 2, int(st / 16) % 2, int(st / 32) % 2, st % 16,
				hv(substr(b, 3, 6)), hv(substr(b, 9, 2)), hv(substr(b, 11, 2)), V_uuid[V_n], ff, n, f)
		}
		else if (t == 127) V_other = V_other " oui=" b
		else V_other = V_other " tlv" t "=" b
		o += 4 + len * 2
	}
	if (o <= L) V_other = V_other " trailing=" substr(h, o)
}
'

# tb_vdp_tlvs PAYLOAD_HEX: decode the VDP TLVs of one ECP payload (as
# printed by tb_ecp_frames), one line per TLV:
#   mgrid <32 hex digits>
#   <preassoc|preassoc-rr|assoc|deassoc> status=0xNN resp=0|1 m=0|1 s=0|1
#       err=N typeid=N ver=N idfmt=N uuid=<32 hex> ffmt=N n=N f=<entry>[,..]
#   then, if present: end, pad=N (octets after the end TLV), oui=, tlvT=,
#   trailing=, truncated(...)
# m/s are the request flags, meaningful only when resp=0; for a response
# the same bits are hard-error (0x10) and keep (0x20).
tb_vdp_tlvs() {
	awk -v h="$1" "$TB_AWK_VDP"'
	BEGIN {
		vdp_parse(h)
		last = "-"
		for (i = 1; i <= V_n; i++) {
			if (V_mgr[i] != last) { print "mgrid", V_mgr[i]; last = V_mgr[i] }
			print V_line[i]
		}
		n = split(V_other, a, " ")
		for (i = 1; i <= n; i++) print a[i]
	}'
}

# tb_vdp_frames FILE: one line per VSI TLV in the ECP22 requests in FILE
# (ECP ACKs are skipped; a VDP "response" is an ECP request too):
#   <epoch> <src-mac> <ecp-seq> <mode> status=0xNN resp= m= s= err= typeid=
#       ver= idfmt= uuid= ffmt= n= f=
tb_vdp_frames() {
	tb_ecp_frames "$1" | awk "$TB_AWK_VDP"'
	$3 == "req" {
		vdp_parse($5)
		for (i = 1; i <= V_n; i++) print $1, $2, $4, V_line[i]
	}'
}

# tb_vdp_wait FILE SRC_MAC MODE UUID RESP [TIMEOUT_S]: wait until FILE holds
# a VSI TLV from SRC_MAC with MODE, UUID (with or without dashes) and
# response bit RESP (0|1); print its tb_vdp_frames line (the first one).
tb_vdp_wait() {
	local file=$1 src=$2 mode=$3 uuid=${4//-/} resp=$5 tmo=${6:-10} t0 line
	uuid=${uuid,,}
	t0=$SECONDS
	while ((SECONDS - t0 < tmo)); do
		if [[ -s $file ]]; then
			line=$(tb_vdp_frames "$file" | awk -v s="$src" -v m="$mode" -v u="uuid=$uuid" -v r="resp=$resp" \
				'$2 == s && $4 == m && $13 == u && $6 == r { print; exit }')
			if [[ -n $line ]]; then
				printf '%s\n' "$line"
				return 0
			fi
		fi
		sleep 0.2
	done
	tb_fail "$file: no $mode (resp=$resp) for $uuid from $src after ${tmo} s"
}

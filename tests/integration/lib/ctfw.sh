# shellcheck shell=bash
# ctfw.sh - a real stateful firewall on the two-host libvirt testbed and
# the switch side of test-conntrack's flows (issue 11, DESIGN.md §4
# "Conntrack").  Source after testbed.sh, libvirt-testbed.sh, migrate.sh,
# guest/guest.sh and carry.sh; call after mt_setup.
#
# The firewall is a security group on the VM's bridged traffic: an `inet`
# table with a forward-hook chain (br_netfilter is built in and
# bridge-nf-call-iptables is 1 in every netns, so bridged IPv4 crosses it;
# this kernel has no nf_conntrack_bridge):
#   ct state established,related accept
#   ct state invalid drop
#   new from a guest (10.77.1.100-199, dnsmasq's range): accept
#   new toward a guest: only TCP to its allowed port ($CF_ALLOWED)
#   the DHCP server's 67 -> 68
#
#   cf_fw_on HOST / cf_fw_off HOST     the table vsmct on HOST
#   cf_loose HOST 0|1                  nf_conntrack_tcp_loose in HOST's netns
#   cf_snat_on HOST / cf_snat_off HOST SNAT of the guest's UDP to
#                                      $CF_BASE+8 (a source host's NAT)
#   cf_entries HOST IP                 HOST's conntrack entries with IP as
#                                      an address (conntrack -L lines)
#   cf_flush HOST IP                   delete them
#   cf_wait_entries HOST IP N TMO_S    wait until HOST has >= N (N=0: none)
#   cf_server_start                    ctflows.py serve in the switch netns
#   cf_open IP TAG WHAT                the guest opens flows (ctflows open);
#                                      "stream" in WHAT: the switch opens
#                                      flow 2 to the guest's allowed port
#   cf_close IP TAG                    both sides close TAG's flows
#   cf_wait_flowing TAG KINDS TMO_S    the server log shows TAG's flows
#                                      running (down, stream, udp)
#
# Variables: CF_BASE (7100), CF_ALLOWED (8022), CF_GUESTS (the guests'
# range), CF_LOG (server log), CF_SOCK (its control socket), CF_PY.

CF_BASE=${CF_BASE:-7100}
CF_ALLOWED=${CF_ALLOWED:-8022}
CF_GUESTS=10.77.1.100-10.77.1.199
CF_SNAT_TO=10.77.1.9
CF_PY=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/ctflows.py

cf__ns() {
  local v="LT_NS_$1"
  printf '%s\n' "${!v}"
}

cf_fw_on() {
  ip netns exec "$(cf__ns "$1")" nft -f - <<EOF || tb_fail "host $1: cannot load the firewall"
table inet vsmct {
  chain sg {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    ct state invalid counter drop
    ip saddr $CF_GUESTS ct state new accept
    ip daddr $CF_GUESTS tcp dport $CF_ALLOWED ct state new accept
    udp sport 67 udp dport 68 accept
    ip daddr $CF_GUESTS counter drop
  }
}
EOF
}

cf_fw_off() {
  ip netns exec "$(cf__ns "$1")" nft delete table inet vsmct 2>/dev/null || true
}

# cf_fw_counters HOST: the drop counters of HOST's firewall, one line.
cf_fw_counters() {
  ip netns exec "$(cf__ns "$1")" nft list table inet vsmct 2>/dev/null |
    awk '/counter/ { sub(/^[ \t]+/, ""); printf "%s; ", $0 }'
}

cf_loose() {
  ip netns exec "$(cf__ns "$1")" sysctl -qw "net.netfilter.nf_conntrack_tcp_loose=$2" ||
    tb_fail "host $1: cannot set nf_conntrack_tcp_loose=$2"
}

cf_snat_on() {
  ip netns exec "$(cf__ns "$1")" nft -f - <<EOF || tb_fail "host $1: cannot load the SNAT table"
table inet vsmctnat {
  chain post {
    type nat hook postrouting priority srcnat;
    ip saddr $CF_GUESTS udp dport $((CF_BASE + 8)) snat ip to $CF_SNAT_TO
  }
}
EOF
}

cf_snat_off() {
  ip netns exec "$(cf__ns "$1")" nft delete table inet vsmctnat 2>/dev/null || true
}

# cf_entries HOST IP: HOST's conntrack entries naming IP (any zone).
cf_entries() {
  ip netns exec "$(cf__ns "$1")" conntrack -L 2>/dev/null | grep -F -e "src=$2 " -e "dst=$2 " || true
}

cf_flush() {
  ip netns exec "$(cf__ns "$1")" conntrack -D -s "$2" >/dev/null 2>&1 || true
  ip netns exec "$(cf__ns "$1")" conntrack -D -d "$2" >/dev/null 2>&1 || true
}

# cf_wait_entries HOST IP N TMO_S: rc 0 once HOST holds >= N entries for
# IP (N = 0: once it holds none); rc 1 after TMO_S.
cf_wait_entries() {
  local h=$1 ip=$2 n=$3 tmo=$4 i c
  for ((i = 0; i <= tmo * 10; i++)); do
    c=$(cf_entries "$h" "$ip" | wc -l)
    if ((n == 0 ? c == 0 : c >= n)); then return 0; fi
    sleep 0.1
  done
  return 1
}

cf_server_start() {
  CF_LOG=$TB_DIR/ctflows-server.log
  CF_SOCK=$TB_DIR/ctflows.sock
  : >"$CF_LOG"
  ip netns exec "$LT_NS_SW" python3 "$CF_PY" serve "$CF_LOG" "$CF_BASE" "$CF_SOCK" \
    </dev/null >>"$TB_DIR/ctflows-server.out" 2>&1 &
  tb_track_pid "$!" ctflows-server
  CF_SERVER_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q ' listening ' "$CF_LOG" && [[ -S $CF_SOCK ]] && return 0
    tb__pid_gone "$CF_SERVER_PID" && break
    sleep 0.05
  done
  cat "$TB_DIR/ctflows-server.out" >&2
  tb_fail "ctflows.py serve did not start"
}

# cf_open IP TAG WHAT: WHAT is a comma list of down, udp, probe, stream.
cf_open() {
  local ip=$1 tag=$2 what=$3 g=() w
  for w in ${what//,/ }; do
    [[ $w == stream ]] || g+=("$w")
  done
  if ((${#g[@]})); then
    ip netns exec "$LT_NS_SW" python3 "$CF_PY" ctl "$ip" "$CF_ALLOWED" open "$tag" "$(IFS=,; echo "${g[*]}")" "$CF_BASE" >/dev/null ||
      tb_fail "the guest's ctflows did not open $tag: $what"
  fi
  if [[ ,$what, == *,stream,* ]]; then
    python3 "$CF_PY" cmd "$CF_SOCK" stream "$ip" "$CF_ALLOWED" "$tag" >/dev/null ||
      tb_fail "the switch could not open the stream $tag to $ip:$CF_ALLOWED"
  fi
}

cf_close() {
  ip netns exec "$LT_NS_SW" python3 "$CF_PY" ctl "$1" "$CF_ALLOWED" close "$2" >/dev/null || true
  python3 "$CF_PY" cmd "$CF_SOCK" close "$2" >/dev/null || true
}

# cf_wait_flowing TAG KINDS TMO_S: KINDS a comma list of down, stream,
# udp; the server log shows each running (udp: >= 10 reports from TAG).
cf_wait_flowing() {
  local tag=$1 kinds=$2 tmo=$3 i ok k
  for ((i = 0; i <= tmo * 10; i++)); do
    ok=1
    for k in ${kinds//,/ }; do
      case $k in
      down) grep -q " down-accept $tag " "$CF_LOG" || ok=0 ;;
      stream) grep -q " stream-connected $tag " "$CF_LOG" || ok=0 ;;
      udp) (($(grep -c " report $tag " "$CF_LOG") >= 10)) || ok=0 ;;
      esac
    done
    ((ok)) && return 0
    sleep 0.1
  done
  return 1
}

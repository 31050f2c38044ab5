#!/bin/bash
#
# run.sh - host evacuation benchmark (issue 10, benchmark 1): N real Linux
# test guests (default 8; each with a dnsmasq lease and 2 multicast groups
# of its own, streamed from the switch) on host A of the two-host libvirt
# testbed (tests/integration/lib: vsimigd with [peer] and [replay] on both
# hosts, lldpad bridge on the switch, snooping switch with a querier).
# Host A is drained to B with every `virsh migrate --live` started at once,
# then B back to A.  Per migration it prints (evac.py):
#   - the replay on the destination's switch port: how many of its items
#     (DHCP INIT-REBOOT REQUEST, a report for each group, GARP, unsolicited
#     NA) crossed before RESUMED, and the last replayed frame vs RESUMED;
#   - SUSPENDED (the source's) -> the last replayed frame;
#   - the guest's multicast loss (its mcjoin counters) and what the sender
#     sent while it was paused;
# and per phase: the share of replay items before RESUMED, the median and
# p95 of SUSPENDED -> last frame, how many migrations switched over within
# 100 ms of each other, and loop_max_dispatch_us of both vsimigds (their
# since-reset maximum over the phase, `vsimigctl loop-reset` before it;
# "n/a" where this vsimigd does not report it), with the goals beside them.
#
# RESUMED is the earliest of the destination's `virsh event`, and QEMU's
# first RARP for the guest on the destination port; SUSPENDED the earliest
# of the source's `virsh event` and its vsimigd timeline entry.  All
# namespaces share CLOCK_REALTIME.
#
# Usage: run.sh [--guests N] [--short]
#   --guests N   guests to boot (default 8)
#   --short      quick run: 2 guests (unless --guests), shorter settling
#   --sync       bunch the switchovers: every guest's maximum downtime is
#                set to EVAC_SYNC_DOWNTIME_MS (20000) first, so QEMU stops
#                the guest at its first convergence check (~100 ms into
#                the precopy) instead of after it converged; the paused
#                windows get long (the whole memory moves while paused),
#                the switchovers of the phase come closer together (on
#                the 2-core test machine still at most 3 of 8 within
#                100 ms: the destination QEMUs' start-up spreads them)
# Environment: EVAC_MEM_MIB (guest RAM, 192), CT_RATE (datagrams/s per
# group, 50), EVAC_SETTLE (s after a phase, 4), EVAC_REPLAY=off (a
# baseline: [replay] disabled on both hosts, the replay figures must drop
# to nothing), EVAC_PERF=1 (during each phase: perf record -g of each
# vsimigd's main thread and perf trace of its system calls >= 1 ms, into
# OUT/perf-PHASE-HOST.txt and OUT/trace-PHASE-HOST.txt), OUT (results
# directory), TB_KEEP=1 (keep the testbed's directory).
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
export LT_QEMU_CAPS_CACHE=${LT_QEMU_CAPS_CACHE:-$VSM_BUILD_ROOT/lt-qemu-caps}
N=8 SHORT=0 SYNC=0
while (($#)); do
  case $1 in
  --sync) SYNC=1; shift ;;
  --guests) N=${2:?--guests needs a number}; GUESTS_SET=1; shift 2 ;;
  --guests=*) N=${1#*=}; GUESTS_SET=1; shift ;;
  --short) SHORT=1; [[ ${GUESTS_SET:-0} == 1 ]] || N=2; shift ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "run.sh: unknown argument $1 (--guests N, --short, --sync)" >&2; exit 2 ;;
  esac
done
if ! [[ $N =~ ^[0-9]+$ ]] || ((N < 1 || N > 60)); then echo "run.sh: --guests must be 1..60" >&2; exit 2; fi
export CT_RATE=${CT_RATE:-50}
. "$VSM_SOURCE_ROOT/tests/integration/lib/testbed.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/libvirt-testbed.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/vsimigd.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/migrate.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/guest/guest.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/carry.sh"
EVAC_PY=$here/evac.py

export LG_GUEST_MEM_MIB=${EVAC_MEM_MIB:-192}
SETTLE=${EVAC_SETTLE:-4}
((SHORT)) && SETTLE=${EVAC_SETTLE:-2}
OUT=${OUT:-/var/tmp/evacuation-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
T_ALL=$(date +%s%N)
say() { printf '[evac %4ss] %s\n' "$(( ($(date +%s%N) - T_ALL) / 1000000000 ))" "$*" >&2; }

tb_init
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
lg_build ""
ct_check_peer_conf || tb_fail "this vsimigd does not accept [peer]/[replay]: $(tr '\n' ' ' <"$TB_DIR/probe.out")"
# shellcheck disable=SC2119 # no PORT: the default (7788)
ct_peer_conf_both
if [[ ${EVAC_REPLAY:-on} == off ]]; then
  MT_EXTRA_CONF_A=${MT_EXTRA_CONF_A/enabled = true/enabled = false}
  MT_EXTRA_CONF_B=${MT_EXTRA_CONF_B/enabled = true/enabled = false}
  [[ $MT_EXTRA_CONF_A == *"enabled = false"* && $MT_EXTRA_CONF_B == *"enabled = false"* ]] ||
    tb_fail "EVAC_REPLAY=off: no '[replay] enabled = true' in ct_peer_conf's output to turn off"
  say "EVAC_REPLAY=off: [replay] disabled on both hosts (baseline)"
fi
mt_setup
ct_switch_setup
ct_dnsmasq_start
# What each host sends to the switch (tcpdump -Q in): the replay comes in on
# the destination port; frames flooded from the other port do not count.
ct_capture_in_start sw-a "$TB_DIR/c-sw-a.pcap"
ct_capture_in_start sw-b "$TB_DIR/c-sw-b.pcap"
ct_mdb_monitor_start "$LT_NS_SW" "$TB_DIR/mdb-sw.log"
lt_events_start A "$TB_DIR/events-A.log"
lt_events_start B "$TB_DIR/events-B.log"
say "testbed up ($TB_DIR); $N guests, ${LG_GUEST_MEM_MIB} MiB each, $CT_RATE datagrams/s per group"

# ---- guests: booted one after the other (2 TCG cores), each waited for
# until it has its lease, its groups and its IPv6 link-local address.
ev_guest() { printf 'e%02d' "$1"; }
ev_mac() { printf '02:76:73:6d:30:%02x' "$1"; }
ev_groups() { printf '239.77.3.%d ff15::77:3:%x' "$1" "$1"; }
: >"$OUT/guests.txt"
for ((i = 1; i <= N; i++)); do
  g=$(ev_guest "$i") mac=$(ev_mac "$i")
  read -r g4 g6 <<<"$(ev_groups "$i")"
  t=$(date +%s%N)
  lg_define_linux_guest A "$g" "$mac" "vsm.groups=$g4,$g6" >/dev/null
  ct_wait_linux_guest A "$g" "vsm.groups=$g4,$g6"
  echo "$g $mac $CT_GUEST_IP4 $CT_GUEST_LL6 $g4 $g6" >>"$OUT/guests.txt"
  say "$g $mac booted in $((($(date +%s%N) - t) / 1000000)) ms: lease $CT_GUEST_IP4, $CT_GUEST_LL6, groups $g4 $g6"
done
# Unicast from both addresses (what the learner owns), the streams, and
# what A's vsimigd learned.
while read -r g mac ip4 ll6 g4 g6; do
  ct_ping_guest "$ip4" "$ll6" "$g"
  ct_sender_start "$g4" "$g6"
done <"$OUT/guests.txt"
while read -r g mac ip4 ll6 g4 g6; do
  lg_wait_console A "$g" "VSMGUEST: rx ${g4//./\\.} " 60 >/dev/null
  lg_wait_console A "$g" "VSMGUEST: rx ${g6//./\\.} " 60 >/dev/null
  mt_wait A "any(n.get('lease') and len(n.get('groups') or []) >= 2 and n.get('ip4') and n.get('ip6')
                 for n in (d.get('carry') or {}).get('learned') or [])" 60 show "$g"
  mt_wait A "any(v['mac'] == '$mac' and v['state'] == 'associated' for v in d['vsis'])" 30
done <"$OUT/guests.txt"
say "all $N guests receive their streams; A's vsimigd has learned each one's lease, groups and addresses"

# hstatus HOST FILE: `vsimigctl --json status` of HOST into FILE.
hstatus() { hctl "$1" --json status >"$2" 2>/dev/null || echo '{}' >"$2"; }
# stats FILE: "GUEST GROUP COUNT LOST" per guest and group, then "time EPOCH".
stats() {
  local g mac ip4 rest
  while read -r g mac ip4 rest; do
    # A guest that died answers nothing: no counters for it.
    ct_guest_stats "$ip4" | sed "s/^/$g /" || say "$g ($ip4): its counters did not answer"
  done <"$OUT/guests.txt" >"$1"
  echo "time $(date +%s.%N)" >>"$1"
}

# alive HOST: the guests of guests.txt running on HOST, one line each
# ("NAME MAC ...").
alive() {
  local running
  running=$(lt_virsh "$1" list --name 2>/dev/null) || running=
  while read -r g rest; do
    grep -qx "$g" <<<"$running" && printf '%s %s\n' "$g" "$rest"
  done <"$OUT/guests.txt"
  return 0
}

# wait_assoc HOST LIST TIMEOUT_S: wait (wall clock) until every guest of
# the file LIST has its VSI associated on HOST; say which have not.
wait_assoc() {
  local h=$1 list=$2 tmo=$3 t_end=$((SECONDS + $3)) missing
  while :; do
    missing=$(hctl "$h" --json vdp list 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
ok = {v["mac"].lower() for v in d["vsis"] if v["state"] == "associated"}
print(" ".join(l.split()[0] for l in open(sys.argv[1]) if l.split()[1].lower() not in ok))' "$list" 2>/dev/null) ||
      missing="(vdp list failed)"
    [[ -z $missing ]] && return 0
    ((SECONDS >= t_end)) && break
    sleep 0.5
  done
  say "VSIs not associated on $h after $tmo s: $missing"
}

# sched WHEN TAG: "WHEN CPU_NS RUNQUEUE_WAIT_NS SLICES" of each vsimigd's
# main thread (/proc/PID/task/PID/schedstat) into $OUT/sched-TAG-HOST.txt:
# on a loaded machine a dispatch also waits for a CPU.
sched() {
  local h p
  for h in A B; do
    p="MT_VSIMIGD_PID_$h"
    echo "$1 $(cat "/proc/${!p}/task/${!p}/schedstat" 2>/dev/null || echo '0 0 0')" >>"$OUT/sched-$2-$h.txt"
  done
}

# phase TAG SRC DST: every guest running on SRC -> DST at once.
phase() {
  local tag=$1 src=$2 dst=$3 g mac rest pids=() p rc=0 t0 t_end
  alive "$src" >"$OUT/moving-$tag.txt"
  if (($(wc -l <"$OUT/moving-$tag.txt") < N)); then
    say "[$tag] only $(wc -l <"$OUT/moving-$tag.txt") of $N guests run on $src: $(awk '{ printf "%s ", $1 }' "$OUT/moving-$tag.txt")"
  fi
  for h in A B; do
    hctl "$h" loop-reset >/dev/null 2>&1 || say "[$tag] host $h: vsimigctl loop-reset not supported by this build"
  done
  if ((SYNC)); then
    while read -r g rest; do
      lt_virsh "$src" migrate-setmaxdowntime "$g" "${EVAC_SYNC_DOWNTIME_MS:-20000}" >/dev/null ||
        tb_fail "[$tag] virsh migrate-setmaxdowntime $g failed"
    done <"$OUT/moving-$tag.txt"
    say "[$tag] --sync: max downtime ${EVAC_SYNC_DOWNTIME_MS:-20000} ms for every guest"
  fi
  stats "$OUT/stats0-$tag.txt"
  : >"$OUT/mig-$tag.txt"
  sched before "$tag"
  local perfs=()
  if [[ ${EVAC_PERF:-0} == 1 ]]; then
    # Where the main loop's time goes: its thread's CPU profile, and every
    # system call of it that took 1 ms or more (a blocking call).
    for h in A B; do
      p="MT_VSIMIGD_PID_$h"
      perf record -q -g --tid "${!p}" -o "$OUT/perf-$tag-$h.data" >"$OUT/perf-$tag-$h.out" 2>&1 &
      perfs+=($!)
      perf trace --duration 1 --tid "${!p}" -o "$OUT/trace-$tag-$h.txt" >"$OUT/trace-$tag-$h.out" 2>&1 &
      perfs+=($!)
    done
    sleep 1
  fi
  t0=$(date +%s.%N)
  say "[$tag] starting $(wc -l <"$OUT/moving-$tag.txt") virsh migrate --live $src -> $dst at once"
  while read -r g mac rest; do
    (
      lt_migrate "$src" "$dst" "$g" >/dev/null 2>"$OUT/migrate-$tag-$g.err" || true
      echo "$g $LT_MIGRATE_T0_NS $LT_MIGRATE_T1_NS $LT_MIGRATE_MS $LT_MIGRATE_RC" >>"$OUT/mig-$tag.txt"
    ) &
    pids+=($!)
  done <"$OUT/moving-$tag.txt"
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  ((rc == 0)) || tb_fail "[$tag] a migration subshell failed"
  awk '$5 != 0 { print }' "$OUT/mig-$tag.txt" | while read -r g rest; do
    say "[$tag] virsh migrate $g failed: $(tr '\n' ' ' <"$OUT/migrate-$tag-$g.err")"
  done
  say "[$tag] all virsh migrate returned after $(python3 -c "import time; print(round((time.time() - $t0) * 1000))") ms"
  wait_assoc "$dst" "$OUT/moving-$tag.txt" 30
  sleep "$SETTLE"
  t_end=$(date +%s.%N)
  hstatus A "$OUT/status-$tag-A.json"
  hstatus B "$OUT/status-$tag-B.json"
  while read -r g rest; do
    hctl "$src" --json show "$g" >"$OUT/show-$tag-$g-src.json" 2>/dev/null || echo '{}' >"$OUT/show-$tag-$g-src.json"
    hctl "$dst" --json show "$g" >"$OUT/show-$tag-$g-dst.json" 2>/dev/null || echo '{}' >"$OUT/show-$tag-$g-dst.json"
  done <"$OUT/moving-$tag.txt"
  # A guest that does not run on the destination afterwards: its state and
  # the last kernel message on its console (TCG guests have been seen to
  # panic after a migration under load).
  while read -r g rest; do
    st=$(lt_domstate "$dst" "$g")
    if [[ $st != running* ]]; then
      tr -d '\r' <"$(lg_serial_path "$dst" "$g")" >"$OUT/serial-$tag-$g.log" 2>/dev/null || :
      echo "$g $dst $st: $(grep -E 'Kernel panic|BUG:|Oops' "$OUT/serial-$tag-$g.log" | head -n 1) (console: $OUT/serial-$tag-$g.log)" >>"$OUT/dead-$tag.txt"
      say "[$tag] $g is '$st' on $dst after the migration"
    fi
  done <"$OUT/moving-$tag.txt"
  sched after "$tag"
  for p in "${perfs[@]}"; do kill -INT "$p" 2>/dev/null; wait "$p" || :; done
  for h in A B; do
    [[ -s $OUT/perf-$tag-$h.data ]] || continue
    perf report -i "$OUT/perf-$tag-$h.data" --stdio --no-children --sort dso,sym -g none --percent-limit 1 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -n 40 >"$OUT/perf-$tag-$h.txt" || :
    say "[$tag] host $h: main-thread profile $OUT/perf-$tag-$h.txt, its system calls of 1 ms or more $OUT/trace-$tag-$h.txt"
  done
  sleep 1 # the guest counts a gap once the next datagram arrives
  stats "$OUT/stats1-$tag.txt"
  echo "$tag $src $dst $t0 $t_end" >>"$OUT/phases.txt"
}

echo "$N guests of $LG_GUEST_MEM_MIB MiB, $CT_RATE datagrams/s per group, sync=$SYNC, replay=${EVAC_REPLAY:-on}, source $(git -C "$VSM_SOURCE_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$VSM_SOURCE_ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo '+dirty')" >"$OUT/mode.txt"
: >"$OUT/phases.txt"
phase drain A B
phase back B A
ct_senders_stop
tb_capture_stop "$TB_DIR/c-sw-a.pcap"
tb_capture_stop "$TB_DIR/c-sw-b.pcap"
cp "$TB_DIR/c-sw-a.pcap" "$TB_DIR/c-sw-b.pcap" "$TB_DIR/events-A.log" "$TB_DIR/events-B.log" \
  "$TB_DIR/vsimigd-A.log" "$TB_DIR/vsimigd-B.log" "$OUT/"
python3 "$EVAC_PY" "$OUT" "$CT_RATE" | tee "$OUT/summary.txt"
say "total $(( ($(date +%s%N) - T_ALL) / 1000000000 )) s; data in $OUT"

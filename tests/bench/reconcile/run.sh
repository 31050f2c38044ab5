#!/bin/bash
#
# run.sh - reconcile benchmark (issue 10, benchmark 3): vsimigd restarted
# against a libvirtd with many domains, while a real migration's
# switchover happens.  On the two-host libvirt testbed (vsimigd with
# [peer] and [replay] on both hosts, lldpad bridge on the switch):
#   - host A gets R_DEFINED (200) defined domains, diskless SeaBIOS TCG
#     guests of R_MEM_MIB (16) MiB with one vNIC each on br0; as many of
#     them are started as fit (up to R_RUNNING, 200; starting stops when
#     MemAvailable would drop below R_RESERVE_MIB, 3072, or a start
#     fails); their memory (PSS per QEMU) is printed;
#   - a real Linux guest m1 (dnsmasq lease, 2 groups, streamed) on B;
#   - round "dst": vsimigd on A is stopped and started again, and `virsh
#     migrate --live m1 B -> A` starts R_MIGRATE_DELAY_MS (0) after its
#     control socket appears (a negative delay: that long before the
#     restart): the destination reconciles while the switchover comes;
#   - round "src": the same with m1 A -> B: the source reconciles.
# Per round (reconcile.py report): ms from vsimigd's start to its control
# socket, its first answer, "connected to libvirt", "reconciled N", the
# first `domains` listing all running domains (the reconciled state) and
# all their VSIs associated; the control round trips meanwhile; where the
# migration's SUSPENDED / RESUMED / last replayed frame fell; the replay
# items before RESUMED; loop_max_dispatch_us of the restarted vsimigd
# (covers the reconcile: it is the daemon's maximum since its start), with
# the goals beside them.
#
# Usage: run.sh [--short]   (--short: 20 defined, 20 running)
# Environment: R_DEFINED, R_RUNNING, R_MEM_MIB, R_RESERVE_MIB,
# R_MIGRATE_DELAY_MS, R_TIMEOUT_S (300: wait for the reconciled state),
# R_ASSOC_WAIT_S (180: wait for the domains' VSIs before the rounds),
# R_PERF=1 (for R_PERF_S, 5, s from the restarted vsimigd's control
# socket on: perf record of its main thread, the top of perf report in
# OUT/perf-TAG.txt, and perf trace of its system calls of 1 ms or more in
# OUT/trace-TAG.txt),
# CT_RATE (datagrams/s per group, 50), OUT, TB_KEEP=1.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
export LT_QEMU_CAPS_CACHE=${LT_QEMU_CAPS_CACHE:-$VSM_BUILD_ROOT/lt-qemu-caps}
SHORT=0
case ${1:-} in
--short) SHORT=1 ;;
-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
'') ;;
*) echo "run.sh: unknown argument $1 (--short)" >&2; exit 2 ;;
esac
DEF_N=200
((SHORT)) && DEF_N=20
R_DEFINED=${R_DEFINED:-$DEF_N}
R_RUNNING=${R_RUNNING:-$R_DEFINED}
R_MEM_MIB=${R_MEM_MIB:-16}
R_RESERVE_MIB=${R_RESERVE_MIB:-3072}
R_MIGRATE_DELAY_MS=${R_MIGRATE_DELAY_MS:-0}
R_TIMEOUT_S=${R_TIMEOUT_S:-300}
((R_DEFINED >= 1 && R_DEFINED <= 999 && R_RUNNING <= R_DEFINED)) ||
  { echo "run.sh: need 1 <= R_RUNNING <= R_DEFINED <= 999" >&2; exit 2; }
export CT_RATE=${CT_RATE:-50}
. "$VSM_SOURCE_ROOT/tests/integration/lib/testbed.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/libvirt-testbed.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/vsimigd.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/migrate.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/guest/guest.sh"
. "$VSM_SOURCE_ROOT/tests/integration/lib/carry.sh"
RPY=$here/reconcile.py
OUT=${OUT:-/var/tmp/reconcile-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
T_ALL=$(date +%s%N)
say() { printf '[reconcile %4ss] %s\n' "$(( ($(date +%s%N) - T_ALL) / 1000000000 ))" "$*" >&2; }

tb_init
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
lg_build ""
ct_check_peer_conf || tb_fail "this vsimigd does not accept [peer]/[replay]: $(tr '\n' ' ' <"$TB_DIR/probe.out")"
# shellcheck disable=SC2119 # no PORT: the default (7788)
ct_peer_conf_both
mt_setup
ct_switch_setup
ct_dnsmasq_start
# What each host sends into its switch port: the replay comes in on the
# destination's.
ct_capture_in_start sw-a "$TB_DIR/c-sw-a.pcap"
ct_capture_in_start sw-b "$TB_DIR/c-sw-b.pcap"
lt_events_start A "$TB_DIR/events-A.log"
lt_events_start B "$TB_DIR/events-B.log"
say "testbed up ($TB_DIR)"

# ---- the migrating guest on B
G=m1 GMAC=02:76:73:6d:31:01 G4=239.77.4.1 G6=ff15::77:4:1
lg_define_linux_guest B "$G" "$GMAC" "vsm.groups=$G4,$G6" >/dev/null
ct_wait_linux_guest B "$G" "vsm.groups=$G4,$G6"
GIP=$CT_GUEST_IP4 GLL=$CT_GUEST_LL6
echo "$G $GMAC $GIP $GLL $G4 $G6" >"$OUT/guest.txt"
ct_ping_guest "$GIP" "$GLL" "$G"
ct_sender_start "$G4" "$G6"
lg_wait_console B "$G" "VSMGUEST: rx ${G4//./\\.} " 60 >/dev/null
lg_wait_console B "$G" "VSMGUEST: rx ${G6//./\\.} " 60 >/dev/null
mt_wait B "any(n.get('lease') and len(n.get('groups') or []) >= 2 and n.get('ip4') and n.get('ip6')
               for n in (d.get('carry') or {}).get('learned') or [])" 60 show "$G"
say "$G on B: lease $GIP, $GLL, groups $G4 $G6, streamed at $CT_RATE/s per group"

# ---- the many domains on A
r_name() { printf 'r%03d' "$1"; }
r_mac() { printf '02:76:73:6d:%02x:%02x' $((0x50 + $1 / 256)) $(($1 % 256)); }
mem_avail_mib() { awk '$1 == "MemAvailable:" { print int($2 / 1024) }' /proc/meminfo; }
export LT_GUEST_MEM_MIB=$R_MEM_MIB
cmds=()
for ((i = 1; i <= R_DEFINED; i++)); do
  lt_guest_xml "$(r_name "$i")" "$(r_mac "$i")" >"$LT_DIR/$(r_name "$i").xml"
  cmds+=("define $LT_DIR/$(r_name "$i").xml")
done
t=$(date +%s%N)
lt_virsh A "$(IFS=';'; echo "${cmds[*]}")" >/dev/null || tb_fail "virsh define of the $R_DEFINED domains failed"
say "$R_DEFINED domains defined on A in $((($(date +%s%N) - t) / 1000000)) ms"
MEM0=$(mem_avail_mib)
RUNNING=0 STOP_WHY="all $R_RUNNING requested started"
t=$(date +%s%N)
while ((RUNNING < R_RUNNING)); do
  if (($(mem_avail_mib) < R_RESERVE_MIB)); then
    STOP_WHY="MemAvailable $(mem_avail_mib) MiB < reserve $R_RESERVE_MIB MiB"
    break
  fi
  cmds=()
  for ((i = RUNNING + 1; i <= RUNNING + 10 && i <= R_RUNNING; i++)); do cmds+=("start $(r_name "$i")"); done
  if ! lt_virsh A "$(IFS=';'; echo "${cmds[*]}")" >"$OUT/start.out" 2>&1; then
    STOP_WHY="virsh start failed: $(tail -n 2 "$OUT/start.out" | tr '\n' ' ')"
    RUNNING=$(lt_virsh A list --name | grep -c '^r[0-9]' || true)
    break
  fi
  RUNNING=$((RUNNING + ${#cmds[@]}))
done
START_MS=$((($(date +%s%N) - t) / 1000000))
PSS_KIB=0 NQ=0
for p in $(lt_qemu_pids A); do
  [[ $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) == *"guest=r"[0-9]* ]] || continue
  k=$(awk '$1 == "Pss:" { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
  PSS_KIB=$((PSS_KIB + ${k:-0})) NQ=$((NQ + 1))
done
MEM1=$(mem_avail_mib)
FIT="$RUNNING of $R_DEFINED defined domains running ($STOP_WHY); started in $START_MS ms; PSS $((PSS_KIB / 1024)) MiB for $NQ QEMUs = $((NQ ? PSS_KIB / NQ / 1024 : 0)) MiB each (guest RAM $R_MEM_MIB MiB); MemAvailable $MEM0 -> $MEM1 MiB = $(( RUNNING ? (MEM0 - MEM1) / RUNNING : 0 )) MiB per domain"
say "$FIT"
# n_assoc: how many of the domains' VSIs A's vsimigd has associated.
n_assoc() {
  hctl A --json vdp list 2>/dev/null | python3 -c '
import json, sys
print(sum(1 for v in json.load(sys.stdin)["vsis"] if v["state"] == "associated" and v["mac"].startswith("02:76:73:6d:5")))' ||
    echo 0
}
# Wall clock: under load each vsimigctl call is slow.
t_end=$((SECONDS + ${R_ASSOC_WAIT_S:-180}))
while NASSOC=$(n_assoc) && ((NASSOC < RUNNING && SECONDS < t_end)); do sleep 2; done
if ((NASSOC < RUNNING)); then
  say "only $NASSOC of $RUNNING VSIs associated on A after ${R_ASSOC_WAIT_S:-180} s (see 'vsimigctl vdp list': timeouts?); the reconciled state counts $NASSOC"
  FIT+="; only $NASSOC of their VSIs associated before the rounds"
else
  say "A's vsimigd has all $RUNNING VSIs associated"
fi
echo "host A: $FIT; m1: Linux guest, ${LG_GUEST_MEM_MIB:-192} MiB, migration started ${R_MIGRATE_DELAY_MS} ms after the restart; source $(git -C "$VSM_SOURCE_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$VSM_SOURCE_ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo '+dirty')" >"$OUT/mode.txt"

stats() {
  ct_guest_stats "$GIP" | sed "s/^/$G /" >"$1" || say "$G ($GIP): its counters did not answer"
  echo "time $(date +%s.%N)" >>"$1"
}

# round TAG SRC DST: restart vsimigd on A, migrate m1 SRC -> DST meanwhile
# (R_MIGRATE_DELAY_MS after the restart; a negative delay starts the
# migration that long before it).
round() {
  local tag=$1 src=$2 dst=$3 stamper poller t_start t_sock mpid rc=0 t_end m0 mms mrc i p perf=''
  stats "$OUT/stats0-$tag.txt"
  python3 "$RPY" stamp "$TB_DIR/vsimigd-A.log" "$OUT/vsimigd-A-$tag.stamped" &
  stamper=$!
  tb_track_pid "$stamper" "stamper-$tag"
  for ((i = 0; i < 100; i++)); do
    grep -q 'stamper ready' "$OUT/vsimigd-A-$tag.stamped" 2>/dev/null && break
    sleep 0.05
  done
  if ((R_MIGRATE_DELAY_MS < 0)); then
    migrate_bg "$tag" "$src" "$dst"
    mpid=$!
    sleep "$(awk -v ms="$R_MIGRATE_DELAY_MS" 'BEGIN { printf "%.3f", -ms / 1000 }')"
  fi
  # The poller starts first and waits for the go file (the restart's time):
  # then it retries until the new daemon's socket answers.
  rm -f "$OUT/go-$tag"
  python3 "$RPY" poll "$(lt_host_path A /run/vsimig/vsimigd.sock)" "$OUT/go-$tag" r "$RUNNING" "$NASSOC" 02:76:73:6d:5 \
    "$OUT/poll-$tag.txt" "$R_TIMEOUT_S" &
  poller=$!
  tb_track_pid "$poller" "poller-$tag"
  sleep 1
  mt_vsimigd_stop A
  t_start=$(date +%s.%N)
  echo "$t_start" >"$OUT/go-$tag.tmp" && mv "$OUT/go-$tag.tmp" "$OUT/go-$tag"
  mt_vsimigd_start A
  t_sock=$(date +%s.%N)
  if [[ ${R_PERF:-0} == 1 ]]; then
    # The main thread's CPU profile, and its system calls of 1 ms or more.
    perf record -q -g --tid "$MT_VSIMIGD_PID_A" -o "$OUT/perf-$tag.data" -- sleep "${R_PERF_S:-5}" \
      >"$OUT/perf-$tag.out" 2>&1 &
    perf=$!
    timeout -s INT "${R_PERF_S:-5}" perf trace --duration 1 --tid "$MT_VSIMIGD_PID_A" -o "$OUT/trace-$tag.txt" \
      >"$OUT/trace-$tag.out" 2>&1 &
    perf+=" $!"
  fi
  if ((R_MIGRATE_DELAY_MS >= 0)); then
    sleep "$(awk -v ms="$R_MIGRATE_DELAY_MS" 'BEGIN { printf "%.3f", ms / 1000 }')"
    migrate_bg "$tag" "$src" "$dst"
    mpid=$!
  fi
  wait "$poller" || rc=$?
  tb__untrack_pid "$poller"
  ((rc == 0)) || say "[$tag] not reconciled within $R_TIMEOUT_S s"
  wait "$mpid" || true
  read -r m0 mms mrc <"$OUT/mig-$tag.txt"
  ((mrc == 0)) || say "[$tag] virsh migrate failed: $(tr '\n' ' ' <"$OUT/migrate-$tag.err")"
  (mt_wait "$dst" "any(v['mac'] == '$GMAC' and v['state'] == 'associated' for v in d['vsis'])" 30) ||
    say "[$tag] $G's VSI not associated on $dst after 30 s"
  sleep 3
  t_end=$(date +%s.%N)
  hctl A --json status >"$OUT/status-$tag-A.json" 2>/dev/null || echo '{}' >"$OUT/status-$tag-A.json"
  # The restarted daemon's main thread since its start: CPU time, time
  # runnable but waiting for a CPU, runs (a dispatch also waits for a CPU
  # on a loaded machine).
  cat "/proc/$MT_VSIMIGD_PID_A/task/$MT_VSIMIGD_PID_A/schedstat" >"$OUT/sched-$tag.txt" 2>/dev/null || :
  hctl "$src" --json show "$G" >"$OUT/show-$tag-src.json" 2>/dev/null || echo '{}' >"$OUT/show-$tag-src.json"
  hctl "$dst" --json show "$G" >"$OUT/show-$tag-dst.json" 2>/dev/null || echo '{}' >"$OUT/show-$tag-dst.json"
  sleep 1
  stats "$OUT/stats1-$tag.txt"
  tb__kill_pid "$stamper" TERM 2
  tb__untrack_pid "$stamper"
  if [[ -n $perf ]]; then
    for p in $perf; do wait "$p" || :; done
    perf report -i "$OUT/perf-$tag.data" --stdio --no-children --sort dso,sym -g none --percent-limit 1 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -n 40 >"$OUT/perf-$tag.txt" || :
    say "[$tag] vsimigd's main thread in its first ${R_PERF_S:-5} s: profile $OUT/perf-$tag.txt, system calls of 1 ms or more $OUT/trace-$tag.txt"
  fi
  echo "$tag A $src $dst $RUNNING $NASSOC $t_start $t_sock $(awk -v n="$m0" 'BEGIN { printf "%.6f", n / 1e9 }') $mms $mrc $t_end" >>"$OUT/rounds.txt"
  say "[$tag] done: $G $src -> $dst in $mms ms (rc $mrc)"
}

# migrate_bg TAG SRC DST: virsh migrate --live m1 SRC -> DST in the
# background ($! is it); "T0_NS MS RC" into $OUT/mig-TAG.txt.
migrate_bg() {
  ( lt_migrate "$2" "$3" "$G" >/dev/null 2>"$OUT/migrate-$1.err" || true
    echo "$LT_MIGRATE_T0_NS $LT_MIGRATE_MS $LT_MIGRATE_RC" >"$OUT/mig-$1.txt" ) &
}

: >"$OUT/rounds.txt"
round dst B A
round src A B
ct_senders_stop
tb_capture_stop "$TB_DIR/c-sw-a.pcap"
tb_capture_stop "$TB_DIR/c-sw-b.pcap"
cp "$TB_DIR/c-sw-a.pcap" "$TB_DIR/c-sw-b.pcap" "$TB_DIR/events-A.log" "$TB_DIR/events-B.log" \
  "$TB_DIR/vsimigd-A.log" "$TB_DIR/vsimigd-B.log" "$OUT/"
python3 "$RPY" report "$OUT" "$CT_RATE" | tee "$OUT/summary.txt"
say "total $(( ($(date +%s%N) - T_ALL) / 1000000000 )) s; data in $OUT"

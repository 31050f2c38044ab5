#!/bin/bash
#
# run.sh - count guest kernel panics per N live migrations of the Linux
# test guest (TCG) on the two-host libvirt testbed, with and without the
# TCG RAM workaround of lib/guest/guest.sh (LG_GUEST_TCG_RAM_FIX,
# lg_tcg_ram_args).
#
# The world is test-conntrack's without vsimigd or firewall: the switch
# with dnsmasq and the ctflows server (lib/ctfw.sh), the guest g1 with
# ctflows streaming TCP both ways and a pushed UDP flow (every 10 ms)
# through every migration: the strongest trigger seen so far.  For each
# mode in MODES ("0": libvirt's pc.ram, "1": the workaround) the guest is
# booted on A and migrated A -> B -> A ... N times (plain `virsh migrate
# --live`, as the tests do; BW=MiB/s adds --bandwidth BW, a throttled
# migration with many more dirty-bitmap syncs, as test-conntrack's).  After each migration: SETTLE s, then the
# destination's domain state and the new part of its serial console.  A
# migration counts as a panic when the guest is no longer running or its
# console shows "Kernel panic"; as an oops when the console shows BUG:,
# general protection, Oops, list_del/list_add corruption or WARNING: but
# the guest runs on.  After a panic the guest is booted again on A and the
# loop goes on.  Boot panics (before the first lease) are counted apart.
#
# LOAD=K adds K `nice -n 19` CPU hogs (by pid, stopped at the end) so the
# run also covers a loaded host.  The consoles of panicked boots are kept
# in $OUT (default ./migrate-soak-<date>), with a summary.tsv.
# Exit 0 when the run worked (whatever the counts), 1 when it broke.
#
# Env: N (20), MODES ("0 1"), SETTLE (3), LOAD (0), BW, OUT, VSM_BUILD_ROOT,
# TB_KEEP=1.  Root.
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
export VSM_SOURCE_ROOT=${VSM_SOURCE_ROOT:-$(cd "$here/../../.." && pwd)}
export VSM_BUILD_ROOT=${VSM_BUILD_ROOT:-$VSM_SOURCE_ROOT/build}
export LT_QEMU_CAPS_CACHE=${LT_QEMU_CAPS_CACHE:-$VSM_BUILD_ROOT/lt-qemu-caps}
LIB=$VSM_SOURCE_ROOT/tests/integration/lib
. "$LIB/testbed.sh"
. "$LIB/libvirt-testbed.sh"
. "$LIB/guest/guest.sh"
. "$LIB/carry.sh"
. "$LIB/ctfw.sh"

N=${N:-20}
MODES=${MODES:-"0 1"}
SETTLE=${SETTLE:-3}
LOAD=${LOAD:-0}
BW=${BW:-}
MIGFLAGS=()
[[ -n $BW ]] && MIGFLAGS=(--bandwidth "$BW")
OUT=${OUT:-$PWD/migrate-soak-$(date -u +%Y%m%d-%H%M%S)}
G=g1 MAC=02:76:73:6d:20:01
BAD_RE='Kernel panic|BUG:|general protection|Oops|list_(del|add) corruption|WARNING:'
T0=$(date +%s)
say() { printf '[soak %4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
mkdir -p "$OUT"

tb_init
lg_build ""
lt_setup
lt_libvirtd_start A B
ct_switch_setup
ct_dnsmasq_start
cf_server_start
HOGS=()
stop_hogs() {
  local p
  for p in "${HOGS[@]}"; do tb__kill_pid "$p" TERM 2; tb__untrack_pid "$p"; done
  HOGS=()
}
tb_defer stop_hogs
for ((i = 0; i < LOAD; i++)); do
  nice -n 19 sh -c 'while :; do :; done' &
  HOGS+=("$!")
  tb_track_pid "$!" "hog$i"
done
say "testbed ready; $LOAD CPU hog(s); migrate --live ${MIGFLAGS[*]}; load $(cut -d' ' -f1-3 /proc/loadavg); out $OUT"

BOOT=0
# boot HOST: start g1 (defined for the current mode) on HOST, wait for its
# lease and ctflows, open flows; 0 ok, 1 the boot failed (console kept).
boot() {
  local h=$1 line gip start
  BOOT=$((BOOT + 1))
  start=$(lg_console_lines "$h" "$G")
  lt_virsh "$h" start "$G" >/dev/null || tb_fail "virsh start $G on $h failed"
  if ! line=$( (lg_wait_console "$h" "$G" 'VSMGUEST: lease ' 240 "$start") 2>/dev/null) ||
     ! (lg_wait_console "$h" "$G" 'VSMGUEST: ctflows listening' 60 "$start" >/dev/null 2>&1); then
    tail -n +"$((start + 1))" "$(lg_serial_path "$h" "$G")" >"$OUT/boot-fail-m$MODE-$BOOT.log" 2>/dev/null || true
    lt_virsh "$h" destroy "$G" >/dev/null 2>&1 || true
    return 1
  fi
  gip=$(awk '{print $3}' <<<"$line")
  GIP=$gip
  cf_open "$GIP" "s$BOOT" down,udp,stream
  cf_wait_flowing "s$BOOT" down,stream,udp 20 || say "flows s$BOOT not all running (going on)"
  return 0
}

printf 'mode\tbw\tmigrations\tpanics\toopses\tboot_panics\tmigrate_failures\tload_start\tload_end\n' >"$OUT/summary.tsv"
for MODE in $MODES; do
  export LG_GUEST_TCG_RAM_FIX=$MODE
  lt_virsh A undefine "$G" >/dev/null 2>&1 || true
  lg_guest_xml "$G" "$MAC" "$LG_KERNEL" "$LG_INITRD" "vsm.groups=none vsm.ctflows=$CF_ALLOWED" >"$LT_DIR/$G-m$MODE.xml"
  lt_virsh A define "$LT_DIR/$G-m$MODE.xml" >/dev/null || tb_fail "define $G (mode $MODE)"
  load0=$(cut -d' ' -f1 /proc/loadavg)
  panics=0 oopses=0 bootp=0 migfail=0 done=0 src=A dst=B
  until boot A; do
    bootp=$((bootp + 1))
    say "mode $MODE: boot $BOOT failed (console in $OUT)"
    ((bootp < 5)) || tb_fail "mode $MODE: 5 boots failed"
  done
  while ((done < N)); do
    start=$(lg_console_lines "$dst" "$G")
    if ! ms=$(lt_migrate "$src" "$dst" "$G" "${MIGFLAGS[@]}" 2>"$TB_DIR/mig.err"); then
      migfail=$((migfail + 1))
      say "mode $MODE: migration $((done + 1)) $src -> $dst failed: $(tr '\n' ' ' <"$TB_DIR/mig.err")"
      ((migfail < 5)) || tb_fail "mode $MODE: 5 migrations failed"
      sleep 2
      continue
    fi
    done=$((done + 1))
    sleep "$SETTLE"
    f=$(lg_serial_path "$dst" "$G")
    st=$(lt_domstate "$dst" "$G")
    bad=$(tail -n +"$((start + 1))" "$f" 2>/dev/null | tr -d '\r' | grep -E "$BAD_RE" | head -n 3 | tr '\n' '|' || true)
    if [[ $st != running* ]] || grep -q 'Kernel panic' <<<"$bad"; then
      panics=$((panics + 1))
      tail -n +"$((start + 1))" "$f" >"$OUT/panic-m$MODE-$done.log" 2>/dev/null || true
      say "mode $MODE: migration $done $src -> $dst ($ms ms): PANIC (state '$st'): $bad"
      lt_virsh "$dst" destroy "$G" >/dev/null 2>&1 || true
      until boot A; do
        bootp=$((bootp + 1))
        ((bootp < 5)) || tb_fail "mode $MODE: 5 boots failed"
      done
      src=A dst=B
      continue
    fi
    if [[ -n $bad ]]; then
      oopses=$((oopses + 1))
      tail -n +"$((start + 1))" "$f" >"$OUT/oops-m$MODE-$done.log" 2>/dev/null || true
      say "mode $MODE: migration $done $src -> $dst ($ms ms): oops, still running: $bad"
    else
      say "mode $MODE: migration $done $src -> $dst ($ms ms): ok"
    fi
    t=$src src=$dst dst=$t
  done
  lt_virsh "$src" destroy "$G" >/dev/null 2>&1 || true
  load1=$(cut -d' ' -f1 /proc/loadavg)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$MODE" "${BW:--}" "$N" "$panics" "$oopses" "$bootp" "$migfail" "$load0" "$load1" >>"$OUT/summary.tsv"
  say "mode $MODE (LG_GUEST_TCG_RAM_FIX=$MODE): $panics panic(s), $oopses oops(es) in $N migrations; $bootp boot failure(s); load $load0 -> $load1"
done
column -t "$OUT/summary.tsv"

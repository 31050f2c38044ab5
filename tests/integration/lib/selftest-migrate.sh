#!/bin/bash
#
# selftest-migrate.sh - check libvirt-testbed.sh against two real libvirtd
# 9.0 daemons (DESIGN.md §2, §6): live migration of a TCG guest between
# host A and host B, and the hook calls and lifecycle events it causes.
#
# Steps (each asserted):
#   1. client-driven live migration A->B, then --p2p B->A;
#   2. --suspend migration A->B: the destination stays paused;
#   3. a migration B->A over a throttled link (tbf 1 mbit on the source's
#      mig0), aborted with `virsh domjobabort`: the guest keeps running on
#      the source, nothing on the destination;
#   4. libvirtd restart on B (the guest keeps running on B), then a
#      migration B->A still works;
#   5. the qemu hook (qemu.d/vsimig) is called for migrate / prepare /
#      start / started on the destination and stopped / release on the
#      source, with <metadata> in its XML.
# Prints the hook log and the `virsh event` lifecycle events of both hosts
# as one timeline per migration (ms from `virsh migrate` start), and the
# timings.
#
# Usage: selftest-migrate.sh [-v]   (-v: TB_VERBOSE=1)
# Exit: 0 ok, 1 failure, 77 cannot run here (1 under CI=true).

set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=testbed.sh
. "$here/testbed.sh"
# shellcheck source-path=SCRIPTDIR source=libvirt-testbed.sh
. "$here/libvirt-testbed.sh"

case ${1:-} in
-v) export TB_VERBOSE=1 ;;
-h | --help)
	sed -n '3,25p' "$0"
	exit 0
	;;
'') ;;
*)
	echo "unknown argument: $1" >&2
	exit 2
	;;
esac

say() { printf '[selftest] %s\n' "$*"; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
T_ALL=$(date +%s%N)

tb_init
command -v python3 >/dev/null || tb_skip_or_fail "missing tool: python3"

# The test hook: one line per call, "<epoch> <hostname> <args> ...", into
# the host's private /run.  It reads the XML libvirt passes on stdin and
# notes its size, the tap name and whether our <metadata> is in it; it
# sources /etc/libvirt/hooks/vsimig.env (LT_HOOK_ENV) to show that works.
HOOK="$TB_DIR/hook.sh"
cat >"$HOOK" <<'EOF'
#!/bin/sh
t=$(date +%s.%N)
xml=$(cat)
tag=-
[ -r /etc/libvirt/hooks/vsimig.env ] && . /etc/libvirt/hooks/vsimig.env && tag=${VSM_TEST_TAG:--}
tap=$(printf '%s\n' "$xml" | sed -n "s/.*<target dev='\([^']*\)'.*/\1/p" | head -n 1)
md=no
case $xml in *vsimig-selftest*) md=yes ;; esac
echo "$t $(hostname) $* xml=${#xml} tap=${tap:--} md=$md tag=$tag" >>/run/vsimig-hook.log
exit 0
EOF
export LT_HOOK_ENV='VSM_TEST_TAG=from-env'
export LT_GUEST_METADATA="<vsm:snap xmlns:vsm='urn:vsimig:selftest'>vsimig-selftest</vsm:snap>"

t=$(date +%s%N)
lt_setup "$HOOK"
T_SETUP=$(ms_since "$t")
t=$(date +%s%N)
lt_libvirtd_start A B
T_LIBVIRTD=$(ms_since "$t")
say "setup ${T_SETUP} ms, libvirtd A+B ready ${T_LIBVIRTD} ms (pids $LT_LIBVIRTD_PID_A, $LT_LIBVIRTD_PID_B)"

EV_A="$LT_DIR/events-A.log"
EV_B="$LT_DIR/events-B.log"
lt_events_start A "$EV_A"
lt_events_start B "$EV_B"
LINK_B="$LT_DIR/link-B.log"
ip -n "$LT_NS_B" -ts monitor link >"$LINK_B" 2>&1 &
tb_track_pid $! ip-monitor-B
LINK_A="$LT_DIR/link-A.log"
ip -n "$LT_NS_A" -ts monitor link >"$LINK_A" 2>&1 &
tb_track_pid $! ip-monitor-A

t=$(date +%s%N)
UUID=$(lt_define_guest A g1 02:76:73:6d:20:01)
T_START=$(ms_since "$t")
lt_wait_domstate A g1 running
say "guest g1 ($UUID) running on A after ${T_START} ms, qemu pid $(lt_qemu_pids A)"

# note TEXT: put TEXT into the timeline, now.
NOTES="$LT_DIR/notes.log"
note() { echo "$(date +%s%N) $*" >>"$NOTES"; }

# mark STEP: label both hook logs, so the log can be split by step.
mark() {
	local h
	for h in A B; do
		echo "=== $*" >>"$(lt_host_path "$h" "$LT_HOOK_LOG")"
	done
}

# timeline T0_NS: hook calls, lifecycle events and link changes of both
# hosts from T0_NS - 0.2 s to now, as "+ms host source text".
timeline() {
	python3 - "$1" "$EV_A" "$EV_B" "$(lt_host_path A "$LT_HOOK_LOG")" \
		"$(lt_host_path B "$LT_HOOK_LOG")" "$LINK_A" "$LINK_B" "$NOTES" <<'EOF'
import sys, re, datetime
t0 = int(sys.argv[1]) / 1e9
ev_a, ev_b, hk_a, hk_b, ln_a, ln_b, notes = sys.argv[2:9]
rows = []
def ts_iso(s):
    return datetime.datetime.fromisoformat(s).timestamp()
for host, f in (("A", ev_a), ("B", ev_b)):
    for line in open(f, errors="replace"):
        m = re.match(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d+)\+0000: (.*)", line)
        if m:
            t = ts_iso(m.group(1) + "T" + m.group(2) + "+00:00")
            rows.append((t, host, "event", m.group(3)))
for host, f in (("A", hk_a), ("B", hk_b)):
    try:
        for line in open(f, errors="replace"):
            p = line.split(" ", 2)
            if len(p) == 3 and re.match(r"^\d+\.\d+$", p[0]):
                rows.append((float(p[0]), host, "hook", p[2].strip()))
    except FileNotFoundError:
        pass
last = {}
for host, f in (("A", ln_a), ("B", ln_b)):
    for line in open(f, errors="replace"):
        # ip monitor prints each change up to three times (link, bridge
        # port, ...): keep "[Deleted] vnetN <FLAGS> [master X] state S"
        # once per change.
        m = re.match(r"\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\] (Deleted )?\d+: (vnet\d+|tap\S*): <([^>]*)>(.*)", line)
        if not m:
            continue
        t = datetime.datetime.fromisoformat(m.group(1)).timestamp()
        master = re.search(r" master (\S+)", m.group(5))
        state = re.search(r" state (\S+)", m.group(5))
        txt = "%s%s <%s>%s state %s" % (m.group(2) or "", m.group(3), m.group(4),
                                        " master " + master.group(1) if master else "",
                                        state.group(1) if state else "?")
        if last.get(host) == txt:
            continue
        last[host] = txt
        rows.append((t, host, "link", txt))
try:
    for line in open(notes, errors="replace"):
        p = line.rstrip("\n").split(" ", 1)
        rows.append((int(p[0]) / 1e9, "-", "note", p[1]))
except FileNotFoundError:
    pass
susp = res = None
for t, host, kind, txt in sorted(rows):
    if t >= t0 - 0.2:
        print("  %+7d ms  %s  %-5s %s" % (round((t - t0) * 1000), host, kind, txt))
        if kind == "event" and txt.endswith("Suspended Migrated") and susp is None:
            susp = (t, host)
        if kind == "event" and txt.endswith("Resumed Migrated") and susp and host != susp[1]:
            res = t
if susp and res:
    print("  paused window (src Suspended Migrated -> dst Resumed Migrated, as seen by virsh event): %d ms"
          % round((res - susp[0]) * 1000))
EOF
}

# hooks_since HOST MARK: the hook lines of HOST after "=== MARK", one per
# line, as "<object> <op> <subop>" (the args after the hostname).
hooks_since() {
	awk -v m="=== $2" '$0 == m { on = 1; next } /^===/ { on = 0 } on { print $3, $4, $5 }' \
		"$(lt_host_path "$1" "$LT_HOOK_LOG")"
}

# expect_hooks HOST MARK "op sub" ...: the hook calls of HOST in step MARK
# include each "op sub" (for domain g1), in this order.
expect_hooks() {
	local h=$1 m=$2 got
	shift 2
	got=$(hooks_since "$h" "$m" | awk '$1 == "g1" { print $2, $3 }' | tr '\n' ',')
	local want
	want=$(printf '%s,' "$@")
	# in-order subsequence check
	awk -v got="$got" -v want="$want" 'BEGIN {
		ng = split(got, g, ","); nw = split(want, w, ","); j = 1
		for (i = 1; i <= ng && j < nw; i++) if (g[i] == w[j]) j++
		exit (j == nw) ? 0 : 1 }' ||
		tb_fail "host $h, $m: hook calls '$got' do not include, in order, '$want'"
}

# not_on HOST NAME: NAME is not active on HOST.
not_on() {
	local st
	st=$(lt_domstate "$1" "$2")
	[[ $st == absent || $st == "shut off"* ]] || tb_fail "$2 still '$st' on host $1"
}

declare -a SUMMARY=()

# --- 1. client-driven A->B, then --p2p B->A ------------------------------
mark "step1 client A->B"
pid_a=$(lt_qemu_pids A)
lt_migrate A B g1 >/dev/null || tb_fail "client-driven migration A->B failed"
ms=$LT_MIGRATE_MS
t0_1=$LT_MIGRATE_T0_NS
[[ -z $(lt_qemu_pids A) ]] || true # re-checked below, once the source is reaped
lt_wait_domstate B g1 running 5
not_on A g1
say "1a. client-driven A->B: ${ms} ms, g1 on B: $(lt_domstate B g1), on A: $(lt_domstate A g1)"
SUMMARY+=("client-driven live A->B      ${ms} ms")
# The source QEMU must be gone (reaped by the subreaper) by now.
for ((i = 0; i < 20; i++)); do tb__pid_gone "$pid_a" && break; sleep 0.05; done
tb__pid_gone "$pid_a" || tb_fail "source QEMU $pid_a still there after the migration"
sleep 0.3 # late hooks/events of the source
say "timeline (ms from virsh migrate start):"
timeline "$t0_1"
expect_hooks B "step1 client A->B" "migrate begin" "prepare begin" "start begin" "started begin"
expect_hooks A "step1 client A->B" "stopped end" "release end"
say "hooks of step 1 as expected (B: migrate prepare start started; A: stopped release)"

mark "step1 p2p B->A"
lt_migrate B A g1 --p2p >/dev/null || tb_fail "--p2p migration B->A failed"
ms=$LT_MIGRATE_MS
t0=$LT_MIGRATE_T0_NS
lt_wait_domstate A g1 running 5
not_on B g1
SUMMARY+=("--p2p live B->A              ${ms} ms")
say "1b. --p2p B->A: ${ms} ms, g1 on A: $(lt_domstate A g1), on B: $(lt_domstate B g1)"
sleep 0.3
timeline "$t0"
expect_hooks A "step1 p2p B->A" "migrate begin" "prepare begin" "start begin" "started begin"
expect_hooks B "step1 p2p B->A" "stopped end" "release end"

# --- 2. --suspend ----------------------------------------------------------
mark "step2 suspend A->B"
lt_migrate A B g1 --suspend >/dev/null || tb_fail "--suspend migration A->B failed"
ms=$LT_MIGRATE_MS
t0=$LT_MIGRATE_T0_NS
sleep 0.5
st=$(lt_domstate B g1)
[[ $st == paused* ]] || tb_fail "--suspend: g1 on B is '$st', not paused"
not_on A g1
SUMMARY+=("--suspend live A->B          ${ms} ms (dst: $st)")
say "2. --suspend A->B: ${ms} ms, g1 on B: $st, on A: $(lt_domstate A g1)"
timeline "$t0"
lt_virsh B resume g1 >/dev/null
lt_wait_domstate B g1 running 5
say "   resumed on B: $(lt_domstate B g1)"

# --- 3. aborted migration over a throttled link -----------------------------
mark "step3 abort B->A"
lt_exec B tc qdisc add dev mig0 root tbf rate 1mbit burst 32kbit latency 400ms
pid_b=$(lt_qemu_pids B)
out="$LT_DIR/abort.out"
t0=$(date +%s%N)
lt_migrate B A g1 >"$out" 2>&1 &
mpid=$!
# Wait until the source has a migration job moving data, then abort it.
jobinfo=
for ((i = 0; i < 100; i++)); do
	jobinfo=$(lt_virsh B domjobinfo g1 2>/dev/null) || true
	if [[ $jobinfo == *"Job type:"*Unbounded* ]] && grep -q 'Data processed: *[1-9]' <<<"$jobinfo"; then
		break
	fi
	sleep 0.05
done
[[ $jobinfo == *Unbounded* ]] || tb_fail "no migration job on B: $jobinfo"
sleep 0.3
ta=$(date +%s%N)
note "virsh domjobabort g1 (on B) called"
lt_virsh B domjobabort g1 >/dev/null || tb_fail "domjobabort failed"
T_ABORT_CALL=$(ms_since "$ta")
note "virsh domjobabort returned"
rc=0
wait "$mpid" || rc=$?
T_ABORT=$(ms_since "$t0")
note "virsh migrate returned rc=$rc"
[[ $rc != 0 ]] || { cat "$out" >&2; tb_fail "migration B->A completed although aborted (link too fast?)"; }
lt_exec B tc qdisc del dev mig0 root
sleep 0.5
st=$(lt_domstate B g1)
[[ $st == running* ]] || tb_fail "after abort: g1 on B is '$st'"
[[ $(lt_qemu_pids B) == "$pid_b" ]] || tb_fail "after abort: the QEMU on B changed"
st_a=$(lt_domstate A g1)
[[ $st_a == absent || $st_a == "shut off"* ]] || tb_fail "after abort: g1 on A is '$st_a'"
[[ -z $(lt_qemu_pids A) ]] || tb_fail "after abort: a QEMU still runs on A"
say "3. aborted B->A: virsh migrate rc=$rc after ${T_ABORT} ms (domjobabort took ${T_ABORT_CALL} ms): $(grep -m1 error "$out" || true)"
say "   g1 on B: $st, on A: $st_a"
SUMMARY+=("aborted B->A (throttled)     rc=$rc after ${T_ABORT} ms")
timeline "$t0"

# --- 4. libvirtd restart -------------------------------------------------
mark "step4 restart B"
old=$LT_LIBVIRTD_PID_B
t=$(date +%s%N)
lt_libvirtd_stop B
T_STOP=$(ms_since "$t")
[[ $(lt_qemu_pids B) == "$pid_b" ]] || tb_fail "libvirtd stop: the QEMU on B did not survive"
t=$(date +%s%N)
lt_libvirtd_start B
T_RESTART=$(ms_since "$t")
st=$(lt_domstate B g1)
[[ $st == running* ]] || tb_fail "after libvirtd restart: g1 on B is '$st'"
[[ $(lt_qemu_pids B) == "$pid_b" ]] || tb_fail "after libvirtd restart: the QEMU on B changed"
say "4. libvirtd B stopped in ${T_STOP} ms, started again in ${T_RESTART} ms (pid $old -> $LT_LIBVIRTD_PID_B); g1 on B: $st, QEMU pid $pid_b kept"
# The event watcher on B lost its connection with the old daemon.
lt_events_stop "$EV_B"
mv "$EV_B" "$EV_B.1"
lt_events_start B "$EV_B"
mark "step4 client B->A"
lt_migrate B A g1 >/dev/null || tb_fail "migration B->A after the libvirtd restart failed"
ms=$LT_MIGRATE_MS
t0=$LT_MIGRATE_T0_NS
lt_wait_domstate A g1 running 5
not_on B g1
for ((i = 0; i < 20; i++)); do tb__pid_gone "$pid_b" && break; sleep 0.05; done
tb__pid_gone "$pid_b" || tb_fail "QEMU $pid_b on B still there after migrating away"
say "   client-driven B->A after restart: ${ms} ms; g1 on A: $(lt_domstate A g1), on B: $(lt_domstate B g1)"
SUMMARY+=("client-driven B->A (restart) ${ms} ms")
sleep 0.3
timeline "$t0"
expect_hooks A "step4 client B->A" "migrate begin" "prepare begin" "start begin" "started begin"
expect_hooks B "step4 client B->A" "stopped end" "release end"

# --- 5. hooks --------------------------------------------------------------
for h in A B; do
	grep -q ' md=yes ' "$(lt_host_path "$h" "$LT_HOOK_LOG")" ||
		tb_fail "host $h: no hook call saw our <metadata>"
	grep -q ' tag=from-env' "$(lt_host_path "$h" "$LT_HOOK_LOG")" ||
		tb_fail "host $h: the hook did not read vsimig.env"
done
say "5. hook log, host A (epoch hostname object op subop extra xml=bytes tap md tag):"
sed 's/^/     /' "$(lt_host_path A "$LT_HOOK_LOG")"
say "   hook log, host B:"
sed 's/^/     /' "$(lt_host_path B "$LT_HOOK_LOG")"

lt_events_stop
say "lifecycle events, host A:"
grep -h "event 'lifecycle'" "$EV_A" | sed 's/^/     /'
say "lifecycle events, host B (before / after the restart):"
grep -h "event 'lifecycle'" "$EV_B.1" "$EV_B" | sed 's/^/     /'

say "timings:"
say "  setup (netns, mounts, configs)  ${T_SETUP} ms"
say "  libvirtd A+B start             ${T_LIBVIRTD} ms"
say "  define + start guest            ${T_START} ms"
say "  libvirtd B stop (guest running)  ${T_STOP} ms"
say "  libvirtd B start (reconnect)    ${T_RESTART} ms"
for s in "${SUMMARY[@]}"; do say "  $s"; done
say "total $(ms_since "$T_ALL") ms before teardown"
say PASS

#!/bin/bash
# Integration: real live migrations between two libvirt hosts (two real
# libvirtd 9.0 daemons, a TCG QEMU guest), vsimigd on both, lldpad in the
# 802.1Qbg bridge role on the top-of-rack switch.  The VDP requests are
# checked on the switch ports (captures), in order, with their M/S bits and
# the bridge's answers, and in vsimigctl --json on both hosts:
#   1. live client-driven A -> B and --p2p B -> A: destination PRE-ASSOCIATE
#      (M) before the source's ASSOCIATE (S), then the destination's
#      ASSOCIATE (M), then the source's DE-ASSOCIATE; all answered ok;
#   2. --suspend A -> B: the paused destination associates (M), the source
#      de-associates; then the guest is resumed;
#   3. an aborted migration (domjobabort over a throttled link): the
#      destination de-associates what it pre-associated, the source keeps
#      its association;
#   4. libvirtd restarted on the destination: vsimigd reconnects,
#      reconciles, and follows the next migration;
#   5. vsimigd restarted: it rebuilds its state from libvirt and follows the
#      next migration;
#   6. a hot-plugged vNIC is associated (DEVICE_ADDED);
#   7. hostile hook calls: each answered at once, exit 0, daemon intact;
#      and a migration into a host whose vsimigd is down still works.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/libvirt-testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/migrate.sh"

tb_init
mt_setup
lt_define_guest A "$MT_GUEST" "$MT_GUEST_MAC" >/dev/null
mt_wait A "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
echo "ok: boot on A associated the guest's VSI"

# check_migration SRC DST T0 T1 [MODE]: assert the VDP sequence on the
# switch between T0 and T1 (epoch seconds).  MODE "live" (default) or
# "suspend".
check_migration() {
  local src=$1 dst=$2 t0=$3 t1=$4 mode=${5:-live}
  local sp=$TB_DIR/sw-${src,,}.pcap dp=$TB_DIR/sw-${dst,,}.pcap
  python3 "$VSMTEST" frames "$sp" >"$TB_DIR/src.jsonl"
  python3 "$VSMTEST" frames "$dp" >"$TB_DIR/dst.jsonl"
  python3 - "$TB_DIR/src.jsonl" "$TB_DIR/dst.jsonl" "$t0" "$t1" "$MT_GUEST_MAC" "$mode" <<'PY'
import json, sys
src, dst, t0, t1, mac, mode = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
def load(p):
    out = []
    for l in open(p):
        f = json.loads(l)
        if f["proto"] != "ecp" or f["op"] != "request" or not (t0 <= f["t"] <= t1):
            continue
        for t in f["tlvs"]:
            if "status" in t and t.get("filters") and t["filters"][0]["mac"] == mac:
                out.append((f["t"], f["seq"], f["src"], t))
    return out
def fail(m):
    print("FAIL:", m); sys.exit(1)
S, D = load(src), load(dst)
def first(frames, tlv, m=None, s=None, resp=False):
    for t, seq, who, v in frames:
        if v["tlv"] == tlv and v["response"] == resp and (m is None or v["m"] == m) and (s is None or v["s"] == s):
            return t, seq, v
    return None
def answered(frames, req):
    t, seq, v = req
    for t2, _, _, a in frames:
        if t2 >= t and a["response"] and a["tlv"] == v["tlv"] and a["vsiid"] == v["vsiid"]:
            return a
    return None
pre = first(D, "pre-associate", m=True)
s_assoc = first(S, "associate", s=True)
m_assoc = first(D, "associate", m=True)
deassoc = first(S, "de-associate")
names = {"destination PRE-ASSOCIATE (M)": pre, "destination ASSOCIATE (M)": m_assoc,
         "source DE-ASSOCIATE": deassoc}
if mode == "live":
    names["source ASSOCIATE (S)"] = s_assoc
for n, r in names.items():
    if r is None:
        fail(f"no {n} on the switch")
    a = answered(D if "destination" in n else S, r)
    if a is None or a["reason"] != 0 or a["hard_error"]:
        fail(f"{n} not answered ok by lldpad: {a}")
if not pre[0] < m_assoc[0]:
    fail("PRE-ASSOCIATE after ASSOCIATE")
if mode == "live":
    if not pre[0] < s_assoc[0]:
        fail(f"destination PRE-ASSOCIATE {pre[0]:.3f} not before the source's S-bit ASSOCIATE {s_assoc[0]:.3f}")
    if not s_assoc[0] <= m_assoc[0] + 0.05:
        fail("source S-bit ASSOCIATE long after the destination's M-bit ASSOCIATE")
    if not s_assoc[0] < deassoc[0]:
        fail("source DE-ASSOCIATE before its S-bit ASSOCIATE")
if pre[2]["vsiid"] != deassoc[2]["vsiid"]:
    fail("source and destination use different VSIIDs")
base = pre[0]
row = lambda n, r: f"{n} +{(r[0] - base) * 1000:.1f} ms"
print("wire: " + ", ".join(row(n, r) for n, r in
      [("dst PRE-ASSOC M", pre)] + ([("src ASSOC S", s_assoc)] if mode == "live" else []) +
      [("dst ASSOC M", m_assoc), ("src DE-ASSOC", deassoc)]))
PY
}

# migrate_and_check SRC DST [virsh flags]
migrate_and_check() {
  local src=$1 dst=$2 t0 t1
  shift 2
  t0=$(date +%s.%N)
  lt_migrate "$src" "$dst" "$MT_GUEST" "$@" >/dev/null || tb_fail "virsh migrate $src -> $dst $* failed"
  mt_wait "$dst" "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
  mt_wait "$src" "all(v['state'] == 'none' for v in d['vsis'] if v['mac'] == '$MT_GUEST_MAC')" 20
  sleep 0.3
  t1=$(date +%s.%N)
  check_migration "$src" "$dst" "$t0" "$t1" live
  echo "ok: migrate $src -> $dst $* ($LT_MIGRATE_MS ms)"
}

# --- 1. live, client-driven and p2p ----------------------------------------------
# `vsimigctl --json monitor` on the destination streams the same steps.
nsenter -t "$LT_HOLDER_B" -n -m -u -- "$VSIMIGCTL" --socket /run/vsimig/vsimigd.sock --json monitor \
  >"$TB_DIR/monitor-B.jsonl" 2>&1 </dev/null &
mon_pid=$!
tb_track_pid "$mon_pid" monitor-B
sleep 0.3
migrate_and_check A B
kill -TERM "$mon_pid"
wait "$mon_pid" 2>/dev/null || true
python3 - "$TB_DIR/monitor-B.jsonl" "$MT_GUEST" <<'PY2' || tb_fail "monitor stream"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
texts = [e["text"] for e in ev if e["domain"] == sys.argv[2]]
need = ["hook hook-migrate-begin", "vdp pre-associate M", "event resumed-migrated", "vdp associate M"]
missing = [n for n in need if not any(n in t for t in texts)]
if missing or any(e["role"] not in ("local", "destination", "source") for e in ev):
    print("monitor lacks", missing, texts); sys.exit(1)
print(f"monitor: {len(ev)} events streamed")
PY2
hctl B show "$MT_GUEST" | tee "$TB_DIR/show-B.txt" | head -30
grep -q "vdp pre-associate M" "$TB_DIR/show-B.txt" || tb_fail "B's timeline lacks the PRE-ASSOCIATE"
grep -q "vdp associate M .*: ok" "$TB_DIR/show-B.txt" || tb_fail "B's timeline lacks the answered ASSOCIATE M"
hctl A --json show "$MT_GUEST" > "$TB_DIR/show-A.json"
vsm_json '[e["text"] for t in d["timelines"] for e in t["entries"]]' < "$TB_DIR/show-A.json" | grep -q "associate S" ||
  tb_fail "A's timeline lacks the S-bit ASSOCIATE"
migrate_and_check B A --p2p

# --- 2. --suspend ---------------------------------------------------------------------
t0=$(date +%s.%N)
lt_migrate A B "$MT_GUEST" --suspend >/dev/null || tb_fail "migrate --suspend failed"
lt_wait_domstate B "$MT_GUEST" paused 10
mt_wait B "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
mt_wait A "all(v['state'] == 'none' for v in d['vsis'] if v['mac'] == '$MT_GUEST_MAC')" 20
sleep 0.3
check_migration A B "$t0" "$(date +%s.%N)" suspend
lt_virsh B resume "$MT_GUEST" >/dev/null
lt_wait_domstate B "$MT_GUEST" running 10
echo "ok: --suspend A -> B: paused destination associated, source de-associated"

# --- 3. aborted migration over a throttled link ----------------------------------------
lt_exec B tc qdisc add dev mig0 root tbf rate 1mbit burst 32kbit latency 400ms
t0=$(date +%s.%N)
( lt_migrate B A "$MT_GUEST" >/dev/null 2>&1 || true ) &
mig_pid=$!
mt_wait A "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'pre-associated' for v in d['vsis'])" 30
lt_virsh B domjobabort "$MT_GUEST" >/dev/null || tb_fail "domjobabort failed"
wait "$mig_pid" || true
lt_exec B tc qdisc del dev mig0 root
lt_wait_domstate B "$MT_GUEST" running 10
mt_wait A "all(v['state'] == 'none' for v in d['vsis'] if v['mac'] == '$MT_GUEST_MAC')" 20
[ "$(mt_vsi_state B)" = associated ] || tb_fail "source lost its association after the abort"
sleep 0.3
python3 "$VSMTEST" frames "$MT_PCAP_A" | python3 -c '
import json, sys
t0, mac = float(sys.argv[1]), sys.argv[2]
seq = [(f["t"], t["tlv"], t["m"]) for f in map(json.loads, sys.stdin) if f["proto"] == "ecp" and f["op"] == "request"
       and f["t"] >= t0 for t in f["tlvs"] if "status" in t and not t["response"] and t.get("filters") and t["filters"][0]["mac"] == mac]
kinds = [k for _, k, _ in seq]
if "pre-associate" not in kinds or "de-associate" not in kinds or kinds.index("de-associate") < kinds.index("pre-associate"):
    print("FAIL: destination did not PRE-ASSOCIATE then DE-ASSOCIATE:", seq); sys.exit(1)
if "associate" in kinds:
    print("FAIL: destination ASSOCIATEd during an aborted migration:", seq); sys.exit(1)
' "$t0" "$MT_GUEST_MAC"
echo "ok: aborted migration: destination de-associated, source kept its association"

# --- 4. libvirtd restarted on the destination -----------------------------------------
lt_libvirtd_restart A
mt_wait A 'd["libvirt"]["connected"] and d["libvirt"]["reconnects"] >= 1' 40 status
migrate_and_check B A
echo "ok: vsimigd on A reconnected after libvirtd's restart and followed the next migration"

# --- 5. vsimigd restarted between migrations -------------------------------------------
old_pid=$MT_VSIMIGD_PID_A
mt_vsimigd_stop A
! kill -0 "$old_pid" 2>/dev/null || tb_fail "vsimigd on A did not stop on SIGTERM"
grep -q "stopped" "$TB_DIR/vsimigd-A.log" || tb_fail "vsimigd on A did not log a clean stop"
mt_vsimigd_start A
mt_wait A 'd["libvirt"]["connected"] and d["uplinks"][0]["bridge"] is not None' 40 status
mt_wait A "any(v['mac'] == '$MT_GUEST_MAC' and v['state'] == 'associated' for v in d['vsis'])" 20
hctl A --json domains | vsm_json "[x['name'] for x in d['domains'] if x['active']]" | grep -q "$MT_GUEST" ||
  tb_fail "restarted vsimigd does not know the running guest"
migrate_and_check A B
echo "ok: restarted vsimigd rebuilt its state from libvirt"

# --- 6. NIC hotplug: DEVICE_ADDED associates the new vNIC ---------------------------
lt_virsh B attach-interface "$MT_GUEST" bridge br0 --mac 52:54:00:77:20:02 --model virtio --live >/dev/null ||
  tb_fail "attach-interface failed"
mt_wait B "any(v['mac'] == '52:54:00:77:20:02' and v['state'] == 'associated' for v in d['vsis'])" 20
echo "ok: hot-plugged vNIC associated on B"

# --- 7. hostile hook calls ----------------------------------------------------------------
hook() { # hook STDIN_FILE ARGS...: run the installed hook in host B, print "rc seconds"
  local in=$1 t0 rc=0
  shift
  t0=$(date +%s%N)
  lt_exec B /etc/libvirt/hooks/qemu.d/vsimig "$@" <"$in" >/dev/null 2>>"$TB_DIR/hook-stderr.txt" || rc=$?
  echo "$rc $(( ($(date +%s%N) - t0) / 1000000 ))"
}
printf 'not xml at all <<<' >"$TB_DIR/garbage.xml"
: >"$TB_DIR/empty.xml"
head -c 3000000 /dev/zero | tr '\0' 'x' >"$TB_DIR/huge.xml"
cat >"$TB_DIR/nomac.xml" <<X
<domain type='qemu'><name>$MT_GUEST</name><uuid>$(lt_virsh B domuuid "$MT_GUEST" | sed '/^$/d')</uuid>
<devices><interface type='bridge'><source bridge='br0'/></interface></devices></domain>
X
cat >"$TB_DIR/other.xml" <<X
<domain type='qemu'><name>stranger</name><uuid>0badc0de-0000-4000-8000-000000000001</uuid><devices/></domain>
X
before=$(hctl B --json status | vsm_json 'd["libvirt"]["hook_errors"]')
for c in "garbage.xml $MT_GUEST migrate begin -" "empty.xml unknown-domain migrate begin -" \
         "huge.xml $MT_GUEST migrate begin -" "nomac.xml $MT_GUEST prepare begin -" \
         "other.xml $MT_GUEST start begin -" "empty.xml $MT_GUEST frobnicate now -" \
         "empty.xml $MT_GUEST" "empty.xml $(head -c 300 /dev/zero | tr '\0' 'n') migrate begin -"; do
  set -- $c
  in=$TB_DIR/$1
  shift
  read -r rc ms < <(hook "$in" "$@")
  echo "hook $(printf "%.40s" "$*") -> exit $rc in $ms ms"
  [ "$rc" = 0 ] || tb_fail "hook $* exited $rc"
  [ "$ms" -lt 3500 ] || tb_fail "hook $* took $ms ms"
done
vsm_alive() { :; }
hctl B status >/dev/null || tb_fail "vsimigd B does not answer after the hostile hooks"
after=$(hctl B --json status | vsm_json 'd["libvirt"]["hook_errors"]')
[ "$after" -gt "$before" ] || tb_fail "hook errors not counted ($before -> $after)"
[ "$(mt_vsi_state B)" = associated ] || tb_fail "the guest's VSI on B was disturbed by hostile hooks"
lt_wait_domstate B "$MT_GUEST" running 5
echo "ok: hostile hook calls answered, exit 0, nothing disturbed (hook errors $before -> $after)"

# The daemon being down never blocks a migration: stop vsimigd on A, migrate B -> A.
mt_vsimigd_stop A
lt_migrate B A "$MT_GUEST" >/dev/null || tb_fail "migration failed while vsimigd on A was down"
# libvirtd (log level 3) does not log a hook's stderr when it exits 0, so
# ask the installed hook on A directly, as libvirtd runs it: it must exit 0
# at once and say that vsimigd is not reachable.
rc=0
t0=$(date +%s%N)
lt_exec A /etc/libvirt/hooks/qemu.d/vsimig "$MT_GUEST" migrate begin - <"$TB_DIR/empty.xml" \
  >/dev/null 2>"$TB_DIR/hook-down.txt" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$rc" = 0 ] || tb_fail "the hook on A exited $rc with vsimigd down: $(cat "$TB_DIR/hook-down.txt")"
[ "$ms" -lt 3500 ] || tb_fail "the hook on A took $ms ms with vsimigd down"
grep -q "vsimigd is not reachable" "$TB_DIR/hook-down.txt" ||
  tb_fail "the hook on A did not say vsimigd is not reachable: $(cat "$TB_DIR/hook-down.txt")"
echo "ok: migration B -> A with vsimigd down on A went through; A's hook exits 0 in $ms ms: $(head -n 1 "$TB_DIR/hook-down.txt")"
echo "PASS: migrations followed on both hosts"

#!/bin/bash
# Integration: the peer channel authenticated both ways (issue 8 item 2,
# src/daemon/peer.h), with real daemons: two libvirtd hosts, vsimigd on
# both with the shared [peer] key-file (ct_peer_conf), one Linux guest g1
# (static address, one IGMPv3 group), real live migrations.
#
#   n. secure by default, with a real vsimigd outside the testbed: a
#      listener with neither key-file nor tls does not start (and
#      --check-config says how to fix it); a destination with neither
#      opens no peer channel for an incoming domain (hook-fed), and says why.
#   d. the token read with `virsh -r dumpxml` alone: a client on the
#      migration network that has it but not the key is refused ("not
#      authorized"), cannot verify the source either, and a version 1
#      hello (token in clear) is refused.  The same client WITH the key,
#      while g1 runs on A and does not migrate: refused as for an unknown
#      domain (a random proof, "not authorized"; the same answer as for a
#      domain A does not know), the token not taken (review L1).  c then
#      shows a real migration still gets its SWITCHOVER on time.
#   c. g1 A -> B with the migration link captured (tcpdump, TCP 7788): B
#      switches over on SWITCHOVER (not late).  g1 B -> A.  The captured
#      hello + auth replayed to A: refused (fresh nonce), nothing sent.
#   a. A's vsimigd down and a fake source (python) at A's origin address
#      and port, answering with a random proof and a SWITCHOVER: g1 A -> B;
#      B refuses it, replays late at RESUMED, and `vsimigctl show` and
#      B's timeline say why; no SWITCHOVER counted.
#   b. a SWITCHOVER sent before the incoming domain is started: a source
#      that holds the key and the token (python) sends it right after the
#      handshake to B, which has seen only the "migrate begin" hook of that
#      domain (fed by hand): refused, counted, noted, channel closed, no
#      VDP ASSOCIATE, and the address only that SWITCHOVER carried is not
#      in the incoming state (it would be replayed late at RESUMED).
#      (c shows the same SWITCHOVER taken once started.)
#   e. 1000 connections (slowloris: 2 octets each) from another address
#      on the migration network against B's listener while g1 migrates
#      B -> A: A still gets the SWITCHOVER before RESUMED; B counts the
#      refusals.
# Every assertion is evaluated; failures are listed at the end (exit 1).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/libvirt-testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/migrate.sh"
. "$HERE/lib/guest/guest.sh"
. "$HERE/lib/carry.sh"
PA_PY=$HERE/lib/peerauth.py
CARRY_PY=$HERE/lib/carry.py

T_ALL=$(date +%s%N)
say() { printf '[peer-auth %4ss] %s\n' "$(( ($(date +%s%N) - T_ALL) / 1000000000 ))" "$*"; }
FAILS=()
nfail() {
  FAILS+=("$*")
  say "FAIL: $*"
}
G1=g1 MAC1=02:76:73:6d:30:01 IP1=10.77.1.60 GRP=239.77.3.1
PEER_PORT=7788
FLOOD_IP=10.77.9.3

tb_init
for tool in python3 tcpdump; do
  command -v "$tool" >/dev/null || tb_skip_or_fail "missing tool: $tool (tests/deps.sh)"
done
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
lg_build ""
# ---- n. secure by default -------------------------------------------------------------
printf '[vdp]\nuplinks = up0\n[libvirt]\nenabled = false\n[control]\nsocket = %s\n[peer]\nlisten = 127.0.0.1:7799\n' \
  "$TB_DIR/nokey.sock" >"$TB_DIR/nokey-listen.conf"
if out=$("$VSIMIGD" --check-config -c "$TB_DIR/nokey-listen.conf" 2>&1); then
  nfail "[nokey] --check-config accepted a listener without key-file or tls: $out"
else
  say "[nokey] --check-config refuses a listener without key-file/tls: $out"
  grep -q 'key-file' <<<"$out" || nfail "[nokey] the refusal does not say how to fix it: $out"
fi
rc=0
timeout 10 "$VSIMIGD" -c "$TB_DIR/nokey-listen.conf" >"$TB_DIR/nokey-listen.log" 2>&1 || rc=$?
((rc != 0 && rc != 124)) || nfail "[nokey] vsimigd started with a listener without key-file or tls (rc $rc)"
printf '[libvirt]\nenabled = false\n[control]\nsocket = %s\n' "$TB_DIR/nokey.sock" >"$TB_DIR/nokey-dest.conf"
"$VSIMIGD" -c "$TB_DIR/nokey-dest.conf" >"$TB_DIR/nokey-dest.log" 2>&1 &
NOKEY_PID=$!
tb_track_pid "$NOKEY_PID" vsimigd-nokey
for ((i = 0; i < 50; i++)); do [[ -S $TB_DIR/nokey.sock ]] && break; sleep 0.1; done
cat >"$TB_DIR/nokey.xml" <<XML
<domain type='kvm'><name>nokey</name><uuid>0d6f3a8e-1b2c-4d5e-8f90-a1b2c3d4e5f6</uuid><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<metadata><vsimig:state xmlns:vsimig="https://vsimig.dev/xmlns/metadata/1" version="1" origin="10.77.9.1:7799" token="0123456789abcdef0123456789abcdef" generation="1"><vsimig:nic mac="02:76:73:6d:30:0a"><vsimig:client-id state="unknown"/></vsimig:nic></vsimig:state></metadata>
<os><type arch='x86_64'>hvm</type></os><devices><interface type='bridge'><mac address='02:76:73:6d:30:0a'/><source bridge='br0'/><target dev='vnet-nokey'/></interface></devices></domain>
XML
printf '[control]\nsocket = %s\n' "$TB_DIR/nokey.sock" >"$TB_DIR/nokey-ctl.conf"
"$VSIMIGCTL" --config "$TB_DIR/nokey-ctl.conf" hook nokey migrate begin - <"$TB_DIR/nokey.xml" ||
  nfail "[nokey] the hook call to the key-less destination failed"
sleep 0.3
"$VSIMIGCTL" --socket "$TB_DIR/nokey.sock" show nokey >"$TB_DIR/nokey-show.txt" 2>&1 || true
grep 'peer channel' "$TB_DIR/nokey-show.txt" | sed 's/^/[nokey] /' || true
grep -q 'no peer channel: neither \[peer\] key-file nor tls' "$TB_DIR/nokey-show.txt" ||
  nfail "[nokey] the key-less destination's timeline does not say why it opened no peer channel"
[[ $("$VSIMIGCTL" --socket "$TB_DIR/nokey.sock" --json status | vsm_json 'd["libvirt"]["carry"]["peer_not_opened"]') == 1 ]] ||
  nfail "[nokey] the key-less destination does not count the peer channel it did not open"
tb__kill_pid "$NOKEY_PID" TERM 3
tb__untrack_pid "$NOKEY_PID"

ct_check_peer_conf || tb_fail "vsimigd refuses the [peer] config: $(tr '\n' ' ' <"$TB_DIR/probe.out")"
ct_peer_conf_both "$PEER_PORT"
KEY=$(ct_peer_key)
mt_setup
lt_events_start A "$TB_DIR/events-A.log"
lt_events_start B "$TB_DIR/events-B.log"
say "testbed, vsimigd A+B (key file $KEY), lldpad ready"

lg_define_linux_guest A "$G1" "$MAC1" "vsm.dhcp=0 vsm.ip=$IP1/24 vsm.groups=$GRP" >/dev/null
UUID1=$(lt_virsh A domuuid "$G1" | sed '/^$/d')
lg_wait_console A "$G1" 'VSMGUEST: mcjoin ready' 60 >/dev/null

# ---- helpers --------------------------------------------------------------------
# token HOST: the token in g1's <metadata>, as a libvirt read-only client reads it.
token() {
  lt_virsh "$1" -r dumpxml "$G1" 2>/dev/null | python3 -c '
import re, sys
m = re.search(r"<(?:\w+:)?state\b[^>]*\btoken=\"([0-9a-f]{32})\"", sys.stdin.read())
print(m.group(1) if m else "")'
}
# wait_token HOST OTHER_THAN TIMEOUT_S: a token other than OTHER_THAN ("" = any).
wait_token() {
  local h=$1 old=$2 tmo=$3 i t=
  for ((i = 0; i < tmo * 10; i++)); do
    t=$(token "$h")
    [[ -n $t && $t != "$old" ]] && break
    sleep 0.1
  done
  printf '%s\n' "$t"
}
# vstat HOST PYEXPR: PYEXPR over `vsimigctl --json status` of HOST (d = the JSON).
vstat() { hctl "$1" --json status 2>/dev/null | vsm_json "$2" 2>/dev/null || echo "?"; }
# timeline HOST T0 [REGEX]: HOST's timeline entries for g1 since T0.
timeline() { hctl "$1" --json show "$G1" 2>/dev/null | python3 "$CARRY_PY" timeline "$2" ${3:+"$3"}; }
# migrate SRC DST TAG: live migration, then g1 running on DST; sets T0.
migrate() {
  T0=$(date +%s.%N)
  lt_migrate "$1" "$2" "$G1" >/dev/null || tb_fail "[$3] virsh migrate --live $1 -> $2 failed (rc $LT_MIGRATE_RC)"
  lt_wait_domstate "$2" "$G1" running 10
  sleep 1
  say "[$3] g1 $1 -> $2 in $LT_MIGRATE_MS ms; $2's timeline:"
  timeline "$2" "$T0" | sed "s/^/[$3]   /" || true
}

TOK=$(wait_token A "" 15)
[[ -n $TOK ]] || tb_fail "no vsimig token in g1's <metadata> on A after 15 s"
say "g1 ($UUID1) runs on A; its token as virsh -r dumpxml shows it: $TOK"

# ---- d. the token alone is not enough ------------------------------------------------
ans=$(lt_exec B python3 "$PA_PY" client "$LT_IP_A" "$PEER_PORT" "$UUID1" "$TOK" 2>&1) || true
say "[token-only] client with the token, without the key -> $(tr '\n' ' ' <<<"$ans")"
grep -q '^challenge proof-bad' <<<"$ans" ||
  nfail "[token-only] the source's proof verified with the token alone (it must need the key): $ans"
grep -q '"reason": "not authorized"' <<<"$ans" ||
  nfail "[token-only] A did not answer \"not authorized\" to a proof made without the key: $ans"
grep -q '"type": "state"' <<<"$ans" && nfail "[token-only] A sent g1's state to a client without the key"
ans=$(lt_exec B python3 "$PA_PY" client-v1 "$LT_IP_A" "$PEER_PORT" "$UUID1" "$TOK" 2>&1) || true
say "[token-only] version 1 hello (token in clear) -> $(tr '\n' ' ' <<<"$ans")"
grep -q 'version 1' <<<"$ans" || nfail "[token-only] A did not refuse the version 1 hello: $ans"
grep -q '"type": "state"' <<<"$ans" && nfail "[token-only] A sent g1's state after a version 1 hello"
[[ $(vstat A 'd["libvirt"]["carry"]["peer"]["rejected_auth"] >= 1 and d["libvirt"]["carry"]["peer"]["rejected_v1"] >= 1') == True ]] ||
  nfail "[token-only] A's status does not count the refusals: $(vstat A 'd["libvirt"]["carry"]["peer"]')"
# ---- not-migrating: the key AND the token, while g1 does not migrate ------------------
# A answers for a domain only while it migrates out from here (its machine
# is SOURCE, or libvirt's job is an outgoing migration): a key holder with
# the token from `virsh -r dumpxml` cannot take g1's one authenticated
# slot while no migration runs.  The answer is an unknown domain's.
nrej0=$(vstat A 'd["libvirt"]["carry"]["peer"]["rejected_auth"]')
ans=$(lt_exec B python3 "$PA_PY" client "$LT_IP_A" "$PEER_PORT" "$UUID1" "$TOK" "$KEY" 2>&1) || true
say "[not-migrating] a client with the key and the token, g1 not migrating -> $(tr '\n' ' ' <<<"$ans" | cut -c1-200)"
grep -q '^challenge proof-bad' <<<"$ans" ||
  nfail "[not-migrating] A proved itself for g1 while g1 is not migrating: $ans"
grep -q '"reason": "not authorized"' <<<"$ans" ||
  nfail "[not-migrating] A did not answer \"not authorized\" while g1 is not migrating: $ans"
grep -q '"type": "state"' <<<"$ans" && nfail "[not-migrating] A sent g1's state while g1 is not migrating"
ans_unknown=$(lt_exec B python3 "$PA_PY" client "$LT_IP_A" "$PEER_PORT" 11111111-2222-3333-4444-555555555555 "$TOK" "$KEY" 2>&1) || true
[[ $(sed 's/[0-9a-f]\{16,\}/HEX/g' <<<"$ans") == "$(sed 's/[0-9a-f]\{16,\}/HEX/g' <<<"$ans_unknown")" ]] ||
  nfail "[not-migrating] the answer differs from an unknown domain's: '$ans' vs '$ans_unknown'"
[[ $(vstat A "d['libvirt']['carry']['peer']['rejected_auth'] == $nrej0 + 2 and d['libvirt']['carry']['peer']['authorized'] == 0") == True ]] ||
  nfail "[not-migrating] A's status does not count 2 refusals and 0 authorized: $(vstat A 'd["libvirt"]["carry"]["peer"]')"
# Nothing was taken: the token in <metadata> is still the same.
sleep 1
[[ $(token A) == "$TOK" ]] || nfail "[not-migrating] g1's token on A changed after refused probes: $(token A)"

# ---- c. a captured exchange replayed ------------------------------------------------
tb_capture_start "$LT_NS_A" mig0 "$TB_DIR/mig.pcap" "tcp port $PEER_PORT"
sw0=$(vstat B 'd["libvirt"]["carry"]["switchovers_received"]')
migrate A B captured
tb_capture_stop "$TB_DIR/mig.pcap"
[[ $(vstat B "d['libvirt']['carry']['switchovers_received'] == $sw0 + 1") == True ]] ||
  nfail "[captured] B did not take A's SWITCHOVER (switchovers_received $sw0 -> $(vstat B 'd["libvirt"]["carry"]["switchovers_received"]'))"
if timeline B "$T0" 'late' >/dev/null; then nfail "[captured] B's replay was late although the channel was up"; fi
migrate B A back
ans=$(lt_exec B python3 "$PA_PY" replay "$TB_DIR/mig.pcap" "$PEER_PORT" "$LT_IP_A" "$PEER_PORT" 2>&1) || true
say "[replay] captured exchange replayed to A -> $(tr '\n' ' ' <<<"$ans")"
grep -q '^captured hello auth' <<<"$ans" || nfail "[replay] the capture holds no hello + auth from B: $ans"
grep -q '"reason": "not authorized"' <<<"$ans" || nfail "[replay] the replayed auth was not refused: $ans"
grep -q '"type": "state"' <<<"$ans" && nfail "[replay] A sent g1's state to a replayed exchange"

# ---- a. a fake source at the origin --------------------------------------------------
TOK3=$(wait_token A "" 10)
mt_vsimigd_stop A
hv=LT_HOLDER_A
nsenter -t "${!hv}" -n -m -u -- python3 "$PA_PY" fake-origin "$LT_IP_A" "$PEER_PORT" "$TB_DIR/fake.log" \
  </dev/null >>"$TB_DIR/fake.out" 2>&1 &
FAKE_PID=$!
tb_track_pid "$FAKE_PID" fake-origin
for ((i = 0; i < 50; i++)); do grep -q listening "$TB_DIR/fake.log" 2>/dev/null && break; sleep 0.1; done
say "[fake] A's vsimigd stopped; a fake source listens at $LT_IP_A:$PEER_PORT (pid $FAKE_PID); g1's token $TOK3"
sw0=$(vstat B 'd["libvirt"]["carry"]["switchovers_received"]')
af0=$(vstat B 'd["libvirt"]["carry"]["peer_auth_failures"]')
migrate A B fake
sed 's/^/[fake] fake source: /' "$TB_DIR/fake.log"
grep -q 'sent challenge' "$TB_DIR/fake.log" || nfail "[fake] B never reached the fake source (see its log above)"
timeline B "$T0" 'failed authentication' >/dev/null ||
  nfail "[fake] B's timeline does not say the origin failed authentication"
timeline B "$T0" 'late' >/dev/null || nfail "[fake] B's timeline does not mark the replay late (at RESUMED)"
hctl B show "$G1" >"$TB_DIR/show-B.txt" 2>&1 || true
grep -q 'failed authentication' "$TB_DIR/show-B.txt" ||
  nfail "[fake] vsimigctl show on B does not say why: $(grep -i peer "$TB_DIR/show-B.txt" | head -3 | tr '\n' ' ')"
[[ $(vstat B "d['libvirt']['carry']['switchovers_received'] == $sw0") == True ]] ||
  nfail "[fake] B counted a SWITCHOVER from the fake source"
[[ $(vstat B "d['libvirt']['carry']['peer_auth_failures'] > $af0") == True ]] ||
  nfail "[fake] B's status does not count the failed authentication"
tb__kill_pid "$FAKE_PID" TERM 3
tb__untrack_pid "$FAKE_PID"
mt_vsimigd_start A

# ---- b. SWITCHOVER before the incoming domain is started ------------------------------
EARLY=early EARLY_UUID=5e1f0b57-7d8a-4c5e-9a11-0f6d2b3c4e5f EARLY_MAC=02:76:73:6d:30:09 EARLY_PORT=7790
EARLY_TOK=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
hv=LT_HOLDER_A
EARLY_SW_IP=10.77.1.62   # only in the early SWITCHOVER, not in <metadata>
nsenter -t "${!hv}" -n -m -u -- python3 "$PA_PY" keyed-origin "$LT_IP_A" "$EARLY_PORT" "$KEY" "$EARLY_TOK" \
  "$TB_DIR/early.log" "$EARLY_MAC" "$EARLY_SW_IP" </dev/null >>"$TB_DIR/early.out" 2>&1 &
EARLY_PID=$!
tb_track_pid "$EARLY_PID" keyed-origin
for ((i = 0; i < 50; i++)); do grep -q listening "$TB_DIR/early.log" 2>/dev/null && break; sleep 0.1; done
ref0=$(vstat B 'd["libvirt"]["carry"]["switchovers_refused"]')
cat >"$TB_DIR/early.xml" <<XML
<domain type='kvm'><name>$EARLY</name><uuid>$EARLY_UUID</uuid><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<metadata><vsimig:state xmlns:vsimig="https://vsimig.dev/xmlns/metadata/1" version="1" origin="$LT_IP_A:$EARLY_PORT" token="$EARLY_TOK" generation="1"><vsimig:nic mac="$EARLY_MAC"><vsimig:client-id state="unknown"/><vsimig:ip address="10.77.1.61"/></vsimig:nic></vsimig:state></metadata>
<os><type arch='x86_64'>hvm</type></os><devices><interface type='bridge'><mac address='$EARLY_MAC'/><source bridge='br0'/><target dev='vnet-early'/><model type='virtio'/></interface></devices></domain>
XML
lt_exec B "$VSIMIGCTL" --config /run/vsimig/vsimigd.conf hook "$EARLY" migrate begin - <"$TB_DIR/early.xml" ||
  nfail "[early] the migrate begin hook for $EARLY failed on B"
for ((i = 0; i < 50; i++)); do
  [[ $(vstat B "d['libvirt']['carry']['switchovers_refused'] > $ref0") == True ]] && break
  sleep 0.1
done
sed 's/^/[early] keyed source: /' "$TB_DIR/early.log"
grep -q '^auth ok' "$TB_DIR/early.log" || nfail "[early] B did not authenticate to the keyed source (its log above)"
grep -q 'sent state and switchover' "$TB_DIR/early.log" || nfail "[early] the keyed source never sent its SWITCHOVER"
[[ $(vstat B "d['libvirt']['carry']['switchovers_refused'] == $ref0 + 1") == True ]] ||
  nfail "[early] B did not count the early SWITCHOVER as refused (switchovers_refused $ref0 -> $(vstat B 'd["libvirt"]["carry"]["switchovers_refused"]'))"
hctl B show "$EARLY" >"$TB_DIR/show-early.txt" 2>&1 || true
sed 's/^/[early] B show: /' "$TB_DIR/show-early.txt" | grep -iE 'switchover|peer|associate' || true
grep -q 'SWITCHOVER refused' "$TB_DIR/show-early.txt" || nfail "[early] B's timeline for $EARLY does not say the SWITCHOVER was refused"
grep -qiE 'vdp associate' "$TB_DIR/show-early.txt" && nfail "[early] B sent a VDP ASSOCIATE for $EARLY on the early SWITCHOVER"
[[ $(hctl B --json vdp list | vsm_json "[v['state'] for v in d['vsis'] if v['mac'] == '$EARLY_MAC' and v['state'] == 'associated']") == "[]" ]] ||
  nfail "[early] $EARLY_MAC is associated on B after the early SWITCHOVER"
inc=$(hctl B --json show "$EARLY" | vsm_json "[a for n in d['carry']['incoming']['nics'] for a in n['ip4']]" 2>&1) || true
say "[early] B's incoming state for $EARLY after the refusal: ip4 $inc"
grep -q "10.77.1.61" <<<"$inc" || nfail "[early] B's incoming state for $EARLY lost the snapshot's address: $inc"
grep -q "$EARLY_SW_IP" <<<"$inc" &&
  nfail "[early] the refused SWITCHOVER's address $EARLY_SW_IP was merged into $EARLY's incoming state (replayed late)"
lt_exec B "$VSIMIGCTL" --config /run/vsimig/vsimigd.conf hook "$EARLY" release end - <"$TB_DIR/early.xml" || true
tb__kill_pid "$EARLY_PID" TERM 3
tb__untrack_pid "$EARLY_PID"

# ---- e. a flood from one address while g1 migrates -----------------------------------
TOK4=$(wait_token B "" 15)
[[ -n $TOK4 ]] || nfail "[flood] B wrote no token for g1 after taking it over"
lt_exec A ip addr add "$FLOOD_IP/24" dev mig0
lt_exec A python3 "$PA_PY" flood "$LT_IP_B" "$PEER_PORT" 1000 12 "$FLOOD_IP" >"$TB_DIR/flood.out" 2>&1 &
FLOOD_PID=$!
tb_track_pid "$FLOOD_PID" flood
sleep 3
say "[flood] 1000 slowloris connections from $FLOOD_IP to B over 12 s; B now: $(vstat B '{k: d["libvirt"]["carry"]["peer"][k] for k in ("connections", "rejected_per_address", "hello_timeouts")}')"
sw0=$(vstat A 'd["libvirt"]["carry"]["switchovers_received"]')
migrate B A flood
wait "$FLOOD_PID" || true
tb__untrack_pid "$FLOOD_PID"
say "[flood] flood: $(cat "$TB_DIR/flood.out"); B: $(vstat B '{k: d["libvirt"]["carry"]["peer"][k] for k in ("accepted", "authorized", "rejected_per_address", "over_capacity", "hello_timeouts")}')"
[[ $(vstat A "d['libvirt']['carry']['switchovers_received'] == $sw0 + 1") == True ]] ||
  nfail "[flood] A did not get B's SWITCHOVER during the flood"
if timeline A "$T0" 'late' >/dev/null; then nfail "[flood] A's replay was late during the flood"; fi
[[ $(vstat B 'd["libvirt"]["carry"]["peer"]["rejected_per_address"] >= 500') == True ]] ||
  nfail "[flood] B did not refuse the flood per address: $(vstat B 'd["libvirt"]["carry"]["peer"]')"
lt_exec A ip addr del "$FLOOD_IP/24" dev mig0 || true

say "total $(( ($(date +%s%N) - T_ALL) / 1000000 )) ms"
if ((${#FAILS[@]})); then
  say "${#FAILS[@]} assertion(s) failed:"
  for f in "${FAILS[@]}"; do printf '  - %s\n' "$f"; done
  exit 1
fi
say "PASS"

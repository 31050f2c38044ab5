#!/bin/bash
# Integration: the destination's side of the conntrack carry (issue 11)
# against a source it cannot trust with everything: a keyed source
# (lib/peerauth.py keyed-source, holding the [peer] key and the token, so
# vsimigd authenticates it) sends, after the vNIC's STATE (address IP1),
# a "conntrack" pre-stage batch and, just before the SWITCHOVER, a delta:
#   pre-stage: TCP IP1 -> PEER (ESTABLISHED, ASSURED, mark 7, zone 3,
#              timeout 1000), UDP PEER -> IP1 (UNREPLIED), TCP in zone 5;
#              and the hostile ones: an address the vNIC does not own
#              (10.77.33.99), an ICMP entry, a NAT one (reply tuple to
#              10.77.200.1), a TCP entry of another address in zone 9;
#   delta:     one new TCP entry (sport 41000), the first one destroyed,
#              and one of IP2 (sport 41001), an address learned after the
#              last STATE: only the SWITCHOVER's vNIC state (sent right
#              after the delta) has it.
# vsimigd runs with [libvirt] enabled = false ([conntrack] enabled = true,
# zone = br0:3): the domain exists only as its hooks, so it never resumes
# here; "release end" then ends the migration as failed.
# Checks:
#   1. after the pre-stage: the three owned entries installed in the
#      host's table (the zone-5 one mapped to 3 by [conntrack] zone), with
#      their state, ASSURED, mark, timeout <= 1000; none of the hostile ones;
#      `show --json`: installed 3, skipped not_owned 2, protocol 1, nat 1;
#   2. after the delta: the new entry installed, the destroyed one gone
#      (deleted 1), IP2's entry installed (checked against the
#      SWITCHOVER's states, not refused as not owned), delta_entries 3,
#      delta_us >= 0;
#   3. after "release end" (a failed migration): none of the entries it
#      installed is left;
#   4. each phase has its timeline line with "conntrack"; vsimigd alive,
#      no sanitizer report.
# Every assertion is evaluated; failures are listed at the end (exit 1).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/testbed.sh"
. "$HERE/lib/vsimigd.sh"
. "$HERE/lib/hookbed.sh"
hb_init ct-dest
NAME=ctd1 UUID=73770000-0000-4000-8000-c7d000000001
MAC=02:76:73:6d:33:01 IP1=10.77.33.10 IP2=10.77.33.11 PEER=10.77.33.1
DST_IP=10.77.254.5 SRC_IP=10.77.254.6 PEER_PORT=7788 SRC_PORT=7789

tb_init
for tool in python3 conntrack; do
  command -v "$tool" >/dev/null || tb_skip_or_fail "missing tool: $tool (tests/deps.sh)"
done
[[ -x $VSIMIGD && -x $VSIMIGCTL ]] || tb_fail "vsimigd/vsimigctl not built in $VSM_BUILD_ROOT"
NS_H=$TB_ID-h NS_SRC=$TB_ID-src

hb_netns "$NS_H" "$NS_SRC"
ip -n "$NS_H" link add up0 type veth peer name up1
hb_mgmt
ip -n "$NS_H" link add br0 type bridge
ip -n "$NS_H" link add t0 type veth peer name p0
for l in up0 t0; do ip -n "$NS_H" link set "$l" master br0; done
for l in mg0 up0 up1 t0 p0 br0; do ip -n "$NS_H" link set "$l" up; done
ip -n "$NS_SRC" link set mg1 up
tb_wait_link_up "$NS_SRC" mg1

hb_key
vsm_daemon_start "$NS_H" up0 "[bridges]
br0 = up0
[libvirt]
enabled = false
[peer]
listen = $DST_IP:$PEER_PORT
key-file = $KEY
[replay]
enabled = true
mdb = false
query-after-resume = false
[conntrack]
enabled = true
zone = br0:3"
hb_token
records() { # records SPEC...: base64 of conntrack records (proto/ct-record.h); SPEC
  # family,proto,flags,state,zone,status,mark,timeout,sport,dport,osrc,odst,rsrc,rdst
  python3 - "$@" <<'PY'
import base64, ipaddress, struct, sys
out = b""
for spec in sys.argv[1:]:
    f = spec.split(",")
    fam, proto, flags, st, zone, status, mark, tmo, sp, dp = map(int, f[:10])
    o_s, o_d, r_s, r_d = f[10:14]
    tcp = proto == 6
    out += struct.pack(">BBBBIIIIBBBBHHHH", fam, proto, flags, st, zone, status, mark, tmo,
                       7 if tcp else 0, 7 if tcp else 0, 0x03 if tcp else 0, 0x03 if tcp else 0, sp, dp, dp, sp)
    for a in (o_s, o_d, r_s, r_d):
        out += ipaddress.ip_address(a).packed
print(base64.b64encode(out).decode())
PY
}
# status 6 = SEEN_REPLY|ASSURED; state 3 = ESTABLISHED
PA_CT_PRESTAGE=$(records \
  "4,6,0,3,0,6,7,1000,40000,80,$IP1,$PEER,$PEER,$IP1" \
  "4,17,0,0,0,0,0,1000,5000,5001,$PEER,$IP1,$IP1,$PEER" \
  "4,6,0,3,5,6,0,1000,40002,80,$IP1,$PEER,$PEER,$IP1" \
  "4,6,0,3,0,6,0,1000,40003,80,10.77.33.99,$PEER,$PEER,10.77.33.99" \
  "4,1,0,0,0,0,0,30,77,2048,$IP1,$PEER,$PEER,$IP1" \
  "4,6,0,3,0,6,0,1000,40004,443,$IP1,$PEER,$PEER,10.77.200.1" \
  "4,6,0,3,9,6,0,1000,40005,80,10.77.33.98,$PEER,$PEER,10.77.33.98")
PA_CT_DELTA=$(records \
  "4,6,0,3,0,6,0,1000,41000,80,$IP1,$PEER,$PEER,$IP1" \
  "4,6,1,3,0,6,7,1000,40000,80,$IP1,$PEER,$PEER,$IP1" \
  "4,6,0,3,0,6,0,1000,41001,80,$IP2,$PEER,$PEER,$IP2")
export PA_CT_PRESTAGE PA_CT_DELTA
nic() { # nic ADDR...: the vNIC's state with these IPv4 addresses
  local a
  a=$(printf '"%s",' "$@")
  printf '{"mac": "%s", "client_id": {"state": "unknown"}, "ip4": [%s], "ip6": [], "groups": []}' "$MAC" "${a%,}"
}
hb_source_start "$(nic "$IP1")" "$(nic "$IP1" "$IP2")"

cat >"$TB_DIR/dom.xml" <<XML
<domain type='kvm'><name>$NAME</name><uuid>$UUID</uuid><memory unit='KiB'>65536</memory><vcpu>1</vcpu>
<metadata><vsimig:state xmlns:vsimig="https://vsimig.dev/xmlns/metadata/1" version="1" origin="$SRC_IP:$SRC_PORT" token="$TOKEN" generation="1"><vsimig:nic mac="$MAC"><vsimig:client-id state="unknown"/><vsimig:ip address="$IP1"/></vsimig:nic></vsimig:state></metadata>
<os><type arch='x86_64'>hvm</type></os><devices><interface type='bridge'><mac address='$MAC'/><source bridge='br0'/><target dev='t0'/><model type='virtio'/></interface></devices></domain>
XML
hb_ctl_conf
for op in migrate prepare start; do hook "$op" begin; done
wait_note() { # wait_note REGEX: until the timeline has it (10 s)
  local i
  for ((i = 0; i < 100; i++)); do
    show | python3 "$CARRY_PY" timeline 0 "$1" >/dev/null && return 0
    sleep 0.1
  done
  return 1
}
ct() { ip netns exec "$NS_H" conntrack "$@" 2>/dev/null || true; }
count() { ct -L "$@" | grep -c . || true; }
jget() { show | vsm_json "$1"; }

# 1. the pre-stage
wait_note '^conntrack: pre-stage installed' ||
  tb_fail "no pre-stage installed within 10 s; source: $(tr '\n' ' ' <"$SRC_LOG")"
say "pre-stage: $(show | python3 "$CARRY_PY" timeline 0 '^conntrack' | tr -s ' ')"
line=$(ct -L -p tcp --sport 40000)
[[ $line == *ESTABLISHED* && $line == *ASSURED* && $line == *mark=7* && $line == *zone=3* ]] ||
  nfail "the first entry is not installed as sent (zone 0 -> 3 by the map): $line"
t=$(awk '{print $3}' <<<"$line")
[[ -n $t && $t -le 1000 ]] || nfail "its timeout is ${t:-?}, want <= 1000"
[[ $(ct -L -p udp --sport 5000) == *UNREPLIED* ]] || nfail "the UDP entry is not installed UNREPLIED"
[[ $(ct -L -p tcp --sport 40002) == *zone=3* ]] || nfail "the zone-5 entry is not in zone 3 ([conntrack] zone = br0:3)"
for sp in 40003 40004 40005; do
  [[ $(count -p tcp --sport "$sp") -eq 0 ]] || nfail "a refused entry (sport $sp) was installed"
done
[[ $(count -p icmp) -eq 0 ]] || nfail "the ICMP entry was installed"
c=$(jget 'd["conntrack"]')
say "show: $c"
[[ $(jget 'd["conntrack"]["installed"] == 3 and d["conntrack"]["failed"] == 0') == True ]] ||
  nfail "installed/failed: $c"
[[ $(jget 'd["conntrack"]["skipped"]["not_owned"] == 2 and d["conntrack"]["skipped"]["protocol"] == 1 and d["conntrack"]["skipped"]["nat"] == 1') == True ]] ||
  nfail "the refused entries are not counted by reason: $c"

# 2. the delta, then the SWITCHOVER
: >"$GO"
wait_note '^conntrack: delta installed' || nfail "no delta installed within 10 s: $(tr '\n' ' ' <"$SRC_LOG")"
for ((i = 0; i < 20; i++)); do [[ $(jget 'd["conntrack"]["deleted"]') -ge 1 ]] && break; sleep 0.1; done
[[ $(count -p tcp --sport 41000) -eq 1 ]] || nfail "the delta's new entry is not installed"
[[ $(count -p tcp --sport 40000) -eq 0 ]] || nfail "the delta's destroyed entry is still there"
[[ $(count -p tcp --sport 41001) -eq 1 ]] ||
  nfail "the delta's entry of $IP2 (an address only the SWITCHOVER's state has) is not installed"
c=$(jget 'd["conntrack"]')
[[ $(jget 'd["conntrack"]["delta_entries"] == 3 and d["conntrack"]["delta_us"] >= 0 and d["conntrack"]["deleted"] == 1 and d["conntrack"]["installed"] == 5 and d["conntrack"]["skipped"]["not_owned"] == 2') == True ]] ||
  nfail "delta figures: $c"
say "delta: $(show | python3 "$CARRY_PY" timeline 0 '^conntrack: delta' | tr -s ' ')"

plain=$(vsm_ctl show "$NAME" 2>&1 || true)
grep -q '^conntrack: learned 0, carried 0, installed 5, failed 0, deleted 1$' <<<"$plain" ||
  nfail "plain show lacks the conntrack counters: $(grep -A3 '^conntrack' <<<"$plain" | tr '\n' ';')"

# 3. the migration fails here: nothing it installed stays
hook release end
for ((i = 0; i < 20; i++)); do
  [[ $(count -s "$IP1") -eq 0 && $(count -d "$IP1") -eq 0 && $(count -s "$IP2") -eq 0 ]] && break
  sleep 0.1
done
left=$(( $(count -s "$IP1") + $(count -d "$IP1") + $(count -s "$IP2") ))
[[ $left -eq 0 ]] || nfail "$left pre-staged entries left after the failed migration: $(ct -L | tr '\n' ';')"
wait_note '^conntrack: the migration failed: deleted 4 pre-staged' ||
  nfail "no timeline line for the undo: $(show | python3 "$CARRY_PY" timeline 0 '^conntrack' | tr -s ' ' | tr '\n' ';')"

# 4. the daemon
hb_finish

#!/usr/bin/env python3
"""Evidence for the state-carry integration test (test-carry.sh); standard
library only.  An independent reading of what crossed the switch ports:

  carry.py frames PCAP [PORT]        one JSON object per DHCP / ARP / RARP /
                                     IGMP / MLD / NS / NA frame
  carry.py check SPEC_JSON           the per-migration assertions; prints
                                     "ok: ...", "FAIL: ...", "info: ..."
                                     lines and exits with the number of
                                     failed assertions (capped at 100)
  carry.py naks PCAP...              every DHCPNAK in the captures
  carry.py peer-hello HOST PORT UUID TOKEN
                                     the wrong-token client: sends one
                                     length-prefixed JSON hello and prints
                                     what comes back ("reply {...}",
                                     "closed", "timeout", "refused ...")

  carry.py timeline T0 [REGEX] < `vsimigctl --json show DOMAIN`
                                     the timeline entries since T0 (+ms)
  carry.py timeline-time T0 REGEX < `vsimigctl --json show DOMAIN`
                                     epoch s of the first entry matching
                                     REGEX at or after T0 (exit 1 if none)
  carry.py event-time FILE DOMAIN TEXT T0
                                     epoch s of the first `virsh event
                                     --timestamp` line in FILE for DOMAIN
                                     ending in TEXT at or after T0
  carry.py switchover SPEC_JSON      a short table for people: what the
                                     switch saw on the destination port
                                     around the switchover, ms vs RESUMED
  carry.py oldport SPEC_JSON         the "oldport" check alone (RESUMED read
                                     as check does); exit 1 if it fails

SPEC_JSON (check) keys: pcap_dst, port_dst, mac, ip4, ip6 (list), cid (hex
without colons, "" = the guest sends none), groups (list), t0, t_resumed,
t_end (epoch s), mdb_log (bridge -timestamp monitor mdb of the switch),
mdb_final (list of "port group" after the migration), host_mdb (list of
"tap group" on the destination br0 after the migration), host_mdb_log,
tap, checks (list of: dhcp, mdb, host_mdb, garp, na; "nodhcp" = no DHCP
from the MAC at all in [t0, t_end]; "dhcp_any" = the replayed REQUEST at
any time in [t0, t_end], not only before RESUMED; "oldport" = nothing the
old host sent on its switch port after RESUMED (until t_end) has the VM's
MAC as Ethernet source or one of its addresses (ip4, ip6) as IP / ARP
sender, read from pcap_old_in, a capture of what came IN on port_old from
the old host (tcpdump -Q in, every frame); the IGMP/MLD leaves seen there
after RESUMED are listed as evidence).

SPEC_JSON (switchover): pcap_dst, port_dst, mac, groups, t0, t_resumed,
t_end, mdb_log as for check, plus vdp_pcap (the ECP/LLDP capture of the
same port, optional), station (the destination host's uplink MAC),
mdb_ports (switch ports whose mdb events to show; default [port_dst]),
after (s after RESUMED to show; default 1.0), names (optional {MAC: label}).
"""
import json
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, __import__("os").path.dirname(__file__))
from vsmtest import mac, read_pcap  # noqa: E402

DHCP_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}


def ip4(b):
    return socket.inet_ntop(socket.AF_INET, b)


def ip6(b):
    return socket.inet_ntop(socket.AF_INET6, b)


def dhcp(payload):
    if len(payload) < 240 or payload[236:240] != b"\x63\x82\x53\x63":
        return None
    op, _htype, hlen = payload[0], payload[1], payload[2]
    flags = struct.unpack("!H", payload[10:12])[0]
    d = {"op": op, "flags": flags, "ciaddr": ip4(payload[12:16]), "yiaddr": ip4(payload[16:20]),
         "chaddr": mac(payload[28:28 + min(hlen, 16)]), "opts": {}}
    i = 240
    while i < len(payload):
        code = payload[i]
        if code == 0:
            i += 1
            continue
        if code == 255 or i + 1 >= len(payload):
            break
        ln = payload[i + 1]
        d["opts"][code] = payload[i + 2:i + 2 + ln]
        i += 2 + ln
    o = d["opts"]
    d["type"] = DHCP_TYPES.get(o[53][0], str(o[53][0])) if 53 in o else "BOOTP"
    d["requested"] = ip4(o[50]) if 50 in o and len(o[50]) == 4 else None
    d["cid"] = o[61].hex() if 61 in o else None
    d["server"] = ip4(o[54]) if 54 in o and len(o[54]) == 4 else None
    del d["opts"]
    return d


def decode(t, fr):
    if len(fr) < 14:
        return None
    dst, src, et = mac(fr[0:6]), mac(fr[6:12]), struct.unpack("!H", fr[12:14])[0]
    p = fr[14:]
    r = {"t": t, "src": src, "dst": dst}
    if et == 0x8100 and len(p) >= 4:
        et = struct.unpack("!H", p[2:4])[0]
        p = p[4:]
    if et == 0x8035:
        r["kind"] = "rarp"
        return r
    if et == 0x0806 and len(p) >= 28:
        r.update(kind="arp", op=struct.unpack("!H", p[6:8])[0], sha=mac(p[8:14]), spa=ip4(p[14:18]),
                 tha=mac(p[18:24]), tpa=ip4(p[24:28]))
        r["gratuitous"] = r["spa"] == r["tpa"]
        return r
    if et == 0x0800 and len(p) >= 20:
        ihl = (p[0] & 15) * 4
        proto, ttl = p[9], p[8]
        s, d = ip4(p[12:16]), ip4(p[16:20])
        ra = b"\x94\x04" in p[20:ihl]
        body = p[ihl:]
        r.update(ipsrc=s, ipdst=d, ttl=ttl, ra=ra)
        if proto == 2 and body:
            ty = body[0]
            if ty == 0x11:
                r.update(kind="igmp-query", group=ip4(body[4:8]))
            elif ty in (0x12, 0x16):
                r.update(kind="igmp-report", version=1 if ty == 0x12 else 2, groups=[ip4(body[4:8])])
            elif ty == 0x17:
                r.update(kind="igmp-leave", version=2, groups=[ip4(body[4:8])])
            elif ty == 0x22 and len(body) >= 8:
                n = struct.unpack("!H", body[6:8])[0]
                i, gs, rt = 8, [], []
                for _ in range(n):
                    if i + 8 > len(body):
                        break
                    rtype, aux, ns = body[i], body[i + 1], struct.unpack("!H", body[i + 2:i + 4])[0]
                    gs.append(ip4(body[i + 4:i + 8]))
                    rt.append(rtype)
                    i += 8 + 4 * ns + 4 * aux
                r.update(kind="igmp-report", version=3, groups=gs, rtypes=rt)
            else:
                return None
            return r
        if proto == 17 and len(body) >= 8:
            sp, dp = struct.unpack("!HH", body[0:4])
            if {sp, dp} & {67, 68}:
                dd = dhcp(body[8:])
                if dd:
                    r.update(kind="dhcp", sport=sp, dport=dp, **dd)
                    return r
        return None
    if et == 0x86DD and len(p) >= 40:
        nh, hl = p[6], p[7]
        s, d = ip6(p[8:24]), ip6(p[24:40])
        q = p[40:]
        ra = False
        while nh in (0, 60, 43) and len(q) >= 8:
            ln = (q[1] + 1) * 8
            if nh == 0 and b"\x05\x02\x00\x00" in q[2:ln]:
                ra = True
            nh, q = q[0], q[ln:]
        if nh != 58 or not q:
            return None
        ty = q[0]
        r.update(ipsrc=s, ipdst=d, hlim=hl, ra=ra)
        if ty == 130:
            r.update(kind="mld-query", group=ip6(q[8:24]) if len(q) >= 24 else None)
        elif ty == 131 and len(q) >= 24:
            r.update(kind="mld-report", version=1, groups=[ip6(q[8:24])])
        elif ty == 132 and len(q) >= 24:
            r.update(kind="mld-leave", version=1, groups=[ip6(q[8:24])])
        elif ty == 143 and len(q) >= 8:
            n = struct.unpack("!H", q[6:8])[0]
            i, gs, rt = 8, [], []
            for _ in range(n):
                if i + 20 > len(q):
                    break
                rtype, aux, ns = q[i], q[i + 1], struct.unpack("!H", q[i + 2:i + 4])[0]
                gs.append(ip6(q[i + 4:i + 20]))
                rt.append(rtype)
                i += 20 + 16 * ns + 4 * aux
            r.update(kind="mld-report", version=2, groups=gs, rtypes=rt)
        elif ty == 135 and len(q) >= 24:
            r.update(kind="ns", target=ip6(q[8:24]))
        elif ty == 136 and len(q) >= 24:
            r.update(kind="na", target=ip6(q[8:24]), r_flag=bool(q[4] & 0x80), s_flag=bool(q[4] & 0x40),
                     o_flag=bool(q[4] & 0x20))
        else:
            return None
        return r
    return None


def frames(path, port=None):
    out = []
    try:
        for t, fr in read_pcap(path):
            r = decode(t, fr)
            if r:
                if port:
                    r["port"] = port
                out.append(r)
    except FileNotFoundError:
        pass
    return out


def mdb_events(path):
    """(t, op, port, group) from `bridge -timestamp monitor mdb`."""
    ev, t = [], None
    try:
        lines = open(path, errors="replace").read().splitlines()
    except FileNotFoundError:
        return ev
    for line in lines:
        line = line.strip()
        if line.startswith("Timestamp:"):
            # Timestamp: Wed Nov 25 16:40:10 2026 123456 usec
            w = line.split()
            try:
                t = time.mktime(time.strptime(" ".join(w[1:6]), "%a %b %d %H:%M:%S %Y")) + int(w[6]) / 1e6
            except (ValueError, IndexError):
                t = None
            continue
        w = line.split()
        op = "del" if w and w[0] == "Deleted" else "add"
        if op == "del":
            w = w[1:]
        if len(w) >= 6 and w[0] == "dev" and w[2] == "port" and w[4] == "grp" and t is not None:
            ev.append((t, op, w[3], w[5]))
    return ev


def sources(fr):
    """(Ethernet source, IP or ARP sender address or None, summary) of any
    frame, VLAN tags skipped."""
    if len(fr) < 14:
        return None, None, "runt"
    src, et, p = mac(fr[6:12]), struct.unpack("!H", fr[12:14])[0], fr[14:]
    while et in (0x8100, 0x88A8) and len(p) >= 4:
        et, p = struct.unpack("!H", p[2:4])[0], p[4:]
    if et == 0x0800 and len(p) >= 20:
        return src, ip4(p[12:16]), f"IPv4 proto {p[9]} {ip4(p[12:16])} -> {ip4(p[16:20])}"
    if et == 0x86DD and len(p) >= 40:
        return src, ip6(p[8:24]), f"IPv6 next {p[6]} {ip6(p[8:24])} -> {ip6(p[24:40])}"
    if et == 0x0806 and len(p) >= 28:
        return src, ip4(p[14:18]), f"ARP op {struct.unpack('!H', p[6:8])[0]} {ip4(p[14:18])} -> {ip4(p[24:28])}"
    return src, None, f"ethertype {et:#06x}"


def old_port(spec, tr, ok, fail, info):
    """The "oldport" check (see SPEC_JSON): after RESUMED the old host
    sends nothing as the VM on its switch port."""
    m, te, port = spec["mac"].lower(), spec["t_end"], spec["port_old"]
    addrs = {a for a in [spec.get("ip4")] + list(spec.get("ip6") or []) if a}
    try:
        raw = [(t, fr) for t, fr in read_pcap(spec["pcap_old_in"]) if tr < t <= te]
    except FileNotFoundError:
        fail(f"no capture of what came in on the old port {port} ({spec['pcap_old_in']})")
        return
    as_vm, leaves = [], []
    for t, fr in raw:
        src, a, what = sources(fr)
        if src == m or (a is not None and a in addrs):
            as_vm.append(f"{rel(t, tr)} from {src}: {what}")
        d = decode(t, fr)
        if d and (d["kind"] in ("igmp-leave", "mld-leave") or
                  (d["kind"] in ("igmp-report", "mld-report") and d.get("rtypes") and
                   all(x == 3 for x in d["rtypes"]))):
            leaves.append(f"{rel(t, tr)} {describe(d)}")
    info(f"{len(raw)} frame(s) came in on the old port {port} from RESUMED to +{(te - tr):.1f} s; "
         f"IGMP/MLD leaves among them: {len(leaves)}")
    for x in leaves[:8]:
        print(f"    {x}")
    if as_vm:
        fail(f"{len(as_vm)} frame(s) as the VM ({m}, {sorted(addrs)}) came in on the old port {port} "
             "after RESUMED: " + "; ".join(as_vm[:6]))
    else:
        ok(f"nothing with the VM's MAC {m} or its addresses {sorted(addrs)} as source came in on the old "
           f"port {port} after RESUMED ({len(raw)} frame(s) from the old host checked)")


def rel(t, t_res):
    return f"{(t - t_res) * 1000:+.1f} ms vs RESUMED"


def describe(f):
    k = f["kind"]
    if k == "dhcp":
        return (f"DHCP {f['type']} src {f['src']} dst {f['dst']} ciaddr {f['ciaddr']} yiaddr {f['yiaddr']} "
                f"chaddr {f['chaddr']} req {f['requested']} cid {f['cid']} flags {f['flags']:#x} srv {f['server']}")
    if k == "arp":
        return f"ARP op {f['op']} {f['sha']} {f['spa']} -> {f['tpa']}{' (gratuitous)' if f['gratuitous'] else ''}"
    if k == "na":
        return f"NA target {f['target']} from {f['src']} R{int(f['r_flag'])}S{int(f['s_flag'])}O{int(f['o_flag'])} -> {f['ipdst']}"
    if k in ("igmp-report", "mld-report", "igmp-leave", "mld-leave"):
        return f"{k} v{f['version']} {f['groups']} src {f['src']} {f['ipsrc']} ttl {f.get('ttl', f.get('hlim'))} ra {f['ra']}"
    return f"{k} src {f['src']}"


def check(spec):
    fails = []
    res = {}

    def ok(m):
        print("ok:", m)

    def fail(m):
        print("FAIL:", m)
        fails.append(m)

    def info(m):
        print("info:", m)

    fr = frames(spec["pcap_dst"], spec["port_dst"])
    m, t0, te = spec["mac"].lower(), spec["t0"], spec["t_end"]
    checks = spec["checks"]
    win = [f for f in fr if t0 <= f["t"] <= te]
    # RESUMED: the earliest of the destination's virsh event, its vsimigd
    # timeline entry and QEMU's first RARP on the port (QEMU announces the
    # VM just before it starts the vCPUs: no guest frame can precede it).
    cands = spec["t_resumed"] if isinstance(spec["t_resumed"], list) else [spec["t_resumed"]]
    rarp = [f for f in win if f["kind"] == "rarp" and f["src"] == m]
    if rarp:
        cands = cands + [rarp[0]["t"]]
    if not cands:
        fail("no RESUMED time (no virsh event, no timeline entry, no RARP)")
        return 1
    tr = min(cands)
    info(f"RESUMED = {tr:.6f} (virsh event / vsimigd timeline: "
         + ", ".join(f"{(c - tr) * 1000:+.1f} ms" for c in (spec["t_resumed"] or []))
         + (f"; QEMU's first RARP on {spec['port_dst']}: {(rarp[0]['t'] - tr) * 1000:+.1f} ms" if rarp else "; no RARP seen")
         + ")")
    # Everything about this MAC on the destination port, as evidence.
    mine = [f for f in win if f["src"] == m or f["dst"] == m or f.get("chaddr") == m]
    info(f"{len(mine)} frames from/to {m} on {spec['port_dst']} between migration start and +{(te - tr):.1f} s after RESUMED:")
    for f in mine[:60]:
        print(f"    {rel(f['t'], tr):>24}  {describe(f)}")

    if "dhcp" in checks or "dhcp_any" in checks:
        reqs = [f for f in mine if f["kind"] == "dhcp" and f["type"] == "REQUEST" and f["src"] == m]
        if not reqs:
            fail(f"no DHCP REQUEST from {m} on {spec['port_dst']} during the migration (replay missing)")
        else:
            q = reqs[0]
            bad = []
            if q["ciaddr"] != "0.0.0.0":
                bad.append(f"ciaddr {q['ciaddr']}")
            if q["requested"] != spec["ip4"]:
                bad.append(f"option 50 {q['requested']} != {spec['ip4']}")
            want_cid = spec["cid"] or None
            if q["cid"] != want_cid:
                bad.append(f"option 61 {q['cid']} != {want_cid}")
            if q["chaddr"] != m:
                bad.append(f"chaddr {q['chaddr']}")
            if q["flags"] != 0:
                bad.append(f"flags {q['flags']:#x}")
            if bad:
                fail("replayed DHCP REQUEST is not an exact INIT-REBOOT: " + ", ".join(bad))
            else:
                ok(f"DHCP INIT-REBOOT REQUEST from {m} (ciaddr 0, opt50 {q['requested']}, cid {q['cid']}) on {spec['port_dst']} at {rel(q['t'], tr)}")
            if "dhcp" in checks:
                if q["t"] < tr:
                    ok(f"DHCP REQUEST left before RESUMED ({rel(q['t'], tr)})")
                else:
                    fail(f"DHCP REQUEST only at {rel(q['t'], tr)} (not before RESUMED)")
            acks = [f for f in win if f["kind"] == "dhcp" and f["type"] in ("ACK", "NAK")
                    and f["chaddr"] == m and f["t"] >= q["t"]]
            if not acks:
                fail(f"no DHCP ACK for {m} crossed to {spec['port_dst']} after the REQUEST")
            elif acks[0]["type"] == "NAK":
                fail(f"the server NAKed the replay at {rel(acks[0]['t'], tr)}: {describe(acks[0])}")
            else:
                a = acks[0]
                res["ack"] = a["t"]
                msg = f"DHCP ACK (yiaddr {a['yiaddr']}, server {a['server']}, to {a['dst']}) crossed to {spec['port_dst']} at {rel(a['t'], tr)}, {(a['t'] - q['t']) * 1000:.1f} ms after the REQUEST"
                if "dhcp" in checks and a["t"] >= tr:
                    fail(msg + " - not before RESUMED")
                else:
                    ok(msg)
    if "nodhcp" in checks:
        d = [f for f in mine if f["kind"] == "dhcp" and f["src"] == m]
        if d:
            fail(f"DHCP from the lease-less guest {m} during the migration: " + "; ".join(
                f"{rel(f['t'], tr)} {describe(f)}" for f in d[:5]))
        else:
            ok(f"no DHCP message from the lease-less guest {m} on {spec['port_dst']} during the migration")

    if "mdb" in checks:
        ev = [e for e in mdb_events(spec["mdb_log"]) if t0 <= e[0] <= te and e[2] == spec["port_dst"]]
        final = set(spec.get("mdb_final", []))
        for g in spec["groups"]:
            adds = [e for e in ev if e[1] == "add" and e[3] == g]
            reps = [f for f in mine if f["kind"] in ("igmp-report", "mld-report") and f["src"] == m and g in f["groups"]]
            first_rep = reps[0]["t"] if reps else None
            ev_s = (f"mdb add at {rel(adds[0][0], tr)}" if adds else "no mdb add event") + \
                   (f", first report on the wire {rel(first_rep, tr)}" if first_rep else ", no report on the wire")
            if f"{spec['port_dst']} {g}" not in final:
                fail(f"switch mdb: {g} not on {spec['port_dst']} after the migration ({ev_s})")
            elif (adds and adds[0][0] < tr) or (first_rep is not None and first_rep < tr):
                ok(f"switch mdb: {g} on {spec['port_dst']} before RESUMED ({ev_s})")
            else:
                fail(f"switch mdb: {g} on {spec['port_dst']} only after RESUMED ({ev_s})")
    if "host_mdb" in checks:
        have = set(spec.get("host_mdb", []))
        hev = [e for e in mdb_events(spec.get("host_mdb_log", "")) if t0 <= e[0] <= te and e[2] == spec["tap"]]
        for g in spec["groups"]:
            adds = [e for e in hev if e[1] == "add" and e[3] == g]
            when = f"first add {rel(adds[0][0], tr)}" if adds else "no add event seen"
            if f"{spec['tap']} {g}" in have:
                ok(f"destination br0 mdb: {g} on {spec['tap']} ({when})")
                if adds and adds[0][0] >= tr:
                    info(f"destination br0 mdb entry for {g} on {spec['tap']} appeared after RESUMED")
            else:
                fail(f"destination br0 mdb: {g} not on the new tap {spec['tap']} ({when}); br0 mdb: {sorted(have)}")
    if "garp" in checks:
        g = [f for f in mine if f["kind"] == "arp" and f["src"] == m and f["spa"] == spec["ip4"] and f["gratuitous"]]
        pre = [f for f in g if f["t"] < tr]
        seen = ", ".join(rel(f["t"], tr) for f in g[:6]) or "none"
        if pre:
            ok(f"gratuitous ARP for {spec['ip4']} from {m} on {spec['port_dst']} before RESUMED (all: {seen})")
        else:
            fail(f"no gratuitous ARP for {spec['ip4']} from {m} on {spec['port_dst']} before RESUMED (seen: {seen}; "
                 "after RESUMED they may be the guest's own announce)")
    if "oldport" in checks:
        old_port(spec, tr, ok, fail, info)
    if "na" in checks:
        for a in spec["ip6"]:
            n = [f for f in mine if f["kind"] == "na" and f["src"] == m and f["target"] == a and not f["s_flag"]]
            pre = [f for f in n if f["t"] < tr]
            seen = ", ".join(rel(f["t"], tr) for f in n[:6]) or "none"
            if pre:
                ok(f"unsolicited NA for {a} from {m} on {spec['port_dst']} before RESUMED (all: {seen})")
            else:
                fail(f"no unsolicited NA for {a} from {m} on {spec['port_dst']} before RESUMED (seen: {seen})")
    return min(len(fails), 100)


def resumed_time(spec, win):
    """RESUMED as check() reads it: the earliest of spec["t_resumed"] and
    QEMU's first RARP from the MAC among the frames win.  (t, rarp_frames)
    or (None, rarp_frames)."""
    m = spec["mac"].lower()
    cands = spec["t_resumed"] if isinstance(spec["t_resumed"], list) else [spec["t_resumed"]]
    cands = [c for c in cands if c is not None]
    rarp = [f for f in win if f["kind"] == "rarp" and f["src"] == m]
    if rarp:
        cands = cands + [rarp[0]["t"]]
    return (min(cands) if cands else None), rarp


def short(f, m, tr, names):
    """(who, what) of a decoded frame, for the switchover table."""
    k = f["kind"]
    who = names.get(f["src"], f["src"])
    if f["src"] == m:
        who = "vsimigd (as VM)" if f["t"] < tr and k != "rarp" else names.get(m, "VM")
    if k == "dhcp":
        w = f"DHCP {f['type']}"
        if f["type"] == "REQUEST":
            w += (" INIT-REBOOT" if f["ciaddr"] == "0.0.0.0" and f["requested"] and not f["server"] else "")
            w += f" for {f['requested'] or f['ciaddr']}" + (f" cid {f['cid']}" if f["cid"] else " no cid")
        elif f["type"] in ("ACK", "OFFER"):
            w += f" {f['yiaddr']} to {f['chaddr']}"
        return who, w
    if k == "arp":
        if f["gratuitous"]:
            return who, f"gratuitous ARP {f['spa']} is-at {f['sha']}"
        return who, f"ARP {'request' if f['op'] == 1 else 'reply'} {f['spa']} -> {f['tpa']}"
    if k == "rarp":
        return "QEMU", "RARP announce"
    if k == "na":
        return who, (f"{'unsolicited ' if not f['s_flag'] else ''}NA {f['target']}"
                     + (" (override)" if f["o_flag"] else ""))
    if k == "ns":
        return who, f"NS {f['target']}"
    if k in ("igmp-report", "mld-report"):
        return who, f"{'IGMP' if k[0] == 'i' else 'MLD'}v{f['version']} report {' '.join(f['groups'])}"
    if k in ("igmp-leave", "mld-leave"):
        return who, f"{k} {' '.join(f['groups'])}"
    if k in ("igmp-query", "mld-query"):
        g = f.get("group")
        return who, f"{k} {'general' if g in (None, '0.0.0.0', '::') else g}"
    return who, k


def switchover(spec):
    """Print what the switch saw on the destination port around the
    switchover: the VM's VDP exchange, its DHCP, reports, GARP/NA (replayed
    by vsimigd before RESUMED, the guest's own after), QEMU's RARP, and
    the switch's mdb changes for the VM's groups; ms relative to RESUMED.
    Rows up to `after` s past RESUMED; what follows until t_end is counted
    on one line."""
    m, t0, te = spec["mac"].lower(), spec["t0"], spec["t_end"]
    names = {k.lower(): v for k, v in (spec.get("names") or {}).items()}
    fr = frames(spec["pcap_dst"], spec["port_dst"])
    win = [f for f in fr if t0 <= f["t"] <= te]
    tr, rarp = resumed_time(spec, win)
    if tr is None:
        print("  (no RESUMED time: no virsh event, no timeline entry, no RARP)")
        return 1
    srcs = [f"{(c - tr) * 1000:+.1f} ms" for c in (spec["t_resumed"] or [])]
    print(f"  RESUMED = {'QEMU' + chr(39) + 's first RARP on ' + spec['port_dst'] if rarp and rarp[0]['t'] == tr else 'the destination'} "
          f"(the destination's virsh event / vsimigd timeline entry: {', '.join(srcs) or 'none'})")
    t_hi = tr + float(spec.get("after", 1.0))
    rows, later = [], {}   # rows: (t, order, who, what, merge key or None)
    for f in win:
        if not (f["src"] == m or f["dst"] == m or f.get("chaddr") == m):
            continue
        who, what = short(f, m, tr, names)
        if f["t"] > t_hi:
            # Counted by kind: the words before the first address.
            w = what.split()
            k = " ".join(w[:next((i for i, x in enumerate(w) if "." in x or ":" in x), len(w))])
            k = k if who == names.get(m, "VM") else f"{k} ({who})"
            later[k] = later.get(k, 0) + 1
            continue
        rows.append((f["t"], 1, who, what, None))
    # The VDP exchange for the VM's VSI (requests from the station, the
    # bridge's responses), from the ECP capture of the same port; an ECP
    # retransmission (same sender and sequence number) is one row.
    if spec.get("vdp_pcap"):
        try:
            from vsmtest import frames as vdp_frames
            for f in vdp_frames(spec["vdp_pcap"]):
                if not (t0 <= f["t"] <= t_hi) or f.get("proto") != "ecp" or f["op"] != "request":
                    continue
                for t in f["tlvs"]:
                    if not isinstance(t["tlv"], str) or "status" not in t:
                        continue
                    if m not in [x.get("mac") for x in t.get("filters") or []]:
                        continue
                    fl = "".join(n for n, b in ((" M", t.get("m")), (" S", t.get("s"))) if b)
                    if t["response"]:
                        res = "ok" if not t["reason"] else f"error {t['reason']}"
                        who, what = "switch (lldpad)", f"VDP {t['tlv'].upper()} response: {res}"
                    else:
                        who = names.get(spec.get("station", "").lower(), "host")
                        what = f"VDP {t['tlv'].upper()}{fl} vsi {t['vsiid'][:8]}"
                    rows.append((f["t"], 1, who, what, ("ecp", f["src"], f["seq"], t["tlv"])))
        except FileNotFoundError:
            pass
    ports = spec.get("mdb_ports") or [spec["port_dst"]]
    groups = set(spec["groups"])
    last = {}
    for t, op, port, g in mdb_events(spec["mdb_log"]):
        if t0 <= t <= t_hi and port in ports and g in groups:
            # `bridge monitor` reports a new entry twice: one row.
            if last.get((port, g), (None, -1))[0] == op and t - last[(port, g)][1] < 0.05:
                continue
            last[(port, g)] = (op, t)
            rows.append((t, 1, "switch mdb", f"{g} {'added on' if op == 'add' else 'removed from'} {port}", None))
    rows.append((tr, 0, "", "=== RESUMED on the destination (the guest runs again) ===", None))
    rows.sort(key=lambda r: (r[0], r[1]))
    out, seen = [], {}
    for t, _o, who, what, key in rows:
        if key is not None and key in seen:
            seen[key][3] += 1
            continue
        if key is None and out and (out[-1][1], out[-1][2]) == (who, what) and out[-1][4] is None:
            out[-1][3] += 1   # runs of the same line (QEMU's RARPs)
            continue
        out.append([t, who, what, 1, key])
        if key is not None:
            seen[key] = out[-1]
    print(f"  {'ms':>9}  {'from':<16}  frame / event")
    for t, who, what, n, key in out:
        more = f"  (x{n}{', ECP retransmission' if key else ''})" if n > 1 else ""
        print(f"  {(t - tr) * 1000:+9.1f}  {who:<16}  {what}{more}")
    if later:
        print(f"  then until {(te - tr) * 1000:+.0f} ms: "
              + ", ".join(f"{n}x {k}" for k, n in sorted(later.items(), key=lambda kv: -kv[1])))
    return 0


def peer_hello(host, port, uuid, token):
    msg = json.dumps({"type": "hello", "version": 1, "domain": uuid, "token": token}).encode()
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
    except OSError as e:
        print(f"refused {e}")
        return 2
    s.settimeout(5)
    try:
        s.sendall(struct.pack("!I", len(msg)) + msg)
        hdr = b""
        while len(hdr) < 4:
            c = s.recv(4 - len(hdr))
            if not c:
                print("closed")
                return 0
            hdr += c
        n = struct.unpack("!I", hdr)[0]
        body = b""
        while len(body) < min(n, 65536):
            c = s.recv(min(n, 65536) - len(body))
            if not c:
                break
            body += c
        print("reply " + body.decode(errors="replace"))
        # After an error the peer should close.
        try:
            c = s.recv(1)
            print("closed-after-reply" if not c else "still-open")
        except socket.timeout:
            print("still-open")
        return 0
    except socket.timeout:
        print("timeout")
        return 1
    except OSError as e:
        print(f"closed ({e})")
        return 0


def main():
    a = sys.argv[1:]
    if a and a[0] == "frames":
        for f in frames(a[1], a[2] if len(a) > 2 else None):
            print(json.dumps(f))
        return 0
    if a and a[0] == "check":
        return check(json.load(open(a[1])))
    if a and a[0] == "naks":
        n = 0
        for p in a[1:]:
            for f in frames(p, p):
                if f["kind"] == "dhcp" and f["type"] == "NAK":
                    print(f"{f['t']:.6f} {p} {describe(f)}")
                    n += 1
        return 1 if n else 0
    if a and a[0] == "timeline":
        # timeline T0 [REGEX] < vsimigctl --json show DOMAIN: entries since
        # T0 ("+ms text"); with REGEX only matching ones, exit 1 if none.
        import re
        t0 = float(a[1])
        try:
            d = json.load(sys.stdin)
        except ValueError:
            print("    (no timeline: vsimigd not answering)")
            return 1
        n = 0
        for t in d.get("timelines", []):
            for e in t["entries"]:
                if e["time"] >= t0 - 0.05 and (len(a) < 3 or re.search(a[2], e["text"], re.I)):
                    print(f"    {(e['time'] - t0) * 1000:9.1f} ms  {e['text']}")
                    n += 1
        return 0 if n else 1
    if a and a[0] == "timeline-time":
        import re
        try:
            d = json.load(sys.stdin)
        except ValueError:
            return 1
        for t in d.get("timelines", []):
            for e in t["entries"]:
                if e["time"] >= float(a[1]) - 0.05 and re.search(a[2], e["text"]):
                    print(f"{e['time']:.6f}")
                    return 0
        return 1
    if a and a[0] == "event-time":
        import datetime
        f, dom, text, t0 = a[1], a[2], a[3], float(a[4])
        for line in open(f, errors="replace"):
            if f"domain '{dom}'" in line and line.rstrip().endswith(text):
                try:
                    t = datetime.datetime.strptime(line.split(": event", 1)[0], "%Y-%m-%d %H:%M:%S.%f%z").timestamp()
                except ValueError:
                    continue
                if t >= t0 - 0.05:
                    print(f"{t:.6f}")
                    return 0
        return 1
    if a and a[0] == "switchover":
        return switchover(json.load(open(a[1])))
    if a and a[0] == "oldport":
        spec = json.load(open(a[1]))
        win = [f for f in frames(spec["pcap_dst"], spec["port_dst"]) if spec["t0"] <= f["t"] <= spec["t_end"]]
        tr, _ = resumed_time(spec, win)
        failed = []
        if tr is None:
            print("FAIL: no RESUMED time")
            return 1
        old_port(spec, tr, lambda x: print("ok:", x), lambda x: (print("FAIL:", x), failed.append(x)),
                 lambda x: print("info:", x))
        return 1 if failed else 0
    if a and a[0] == "peer-hello":
        return peer_hello(*a[1:5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

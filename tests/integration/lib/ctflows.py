#!/usr/bin/env python3
"""ctflows.py - the switch side of test-conntrack's flows (issue 11).

  ctflows.py serve LOG BASE CTLSOCK
      The server on the switch (br-sw, 10.77.1.1), for the guest's ctflows
      (guest/ctflows.c).  Ports (BASE = 7100):
        BASE   TCP   flow 1: the guest connects, says "TAG down"; the server
                     streams 256 octets every 10 ms to it
        BASE+2 UDP   flow 3: the guest says "sub TAG" once; the server
                     pushes "TAG SEQ" to it every 10 ms
        BASE+4 UDP   the guest's reports "r TAG SEQ" (one per pushed
                     datagram it got)
        BASE+6 UDP   probes, never answered (UNREPLIED entries)
        BASE+8 UDP   probes the source host SNATs
      A unix socket CTLSOCK takes one command per connection:
        stream IP PORT TAG   flow 2: connect to the guest's allowed port,
                             say "stream TAG", stream 256 octets every
                             10 ms both ways
        close TAG            close TAG's TCP flows, stop pushing to it
        pause TAG / resume TAG
                             stop / restart sending on TAG's flow 1 (the
                             guest then has nothing left to acknowledge)
      LOG gets one line per event, "EPOCH_S EVENT TAG ...".
  ctflows.py ctl IP PORT LINE...
      one control line to the guest's ctflows; prints the answer; rc 0 on
      "ok".
  ctflows.py cmd CTLSOCK LINE...
      one command to the server; rc 0 on "ok".
  ctflows.py analyze SPEC_JSON
      per flow of the given tags, from the switch's capture (pcap of br-sw)
      and the server log: the first delivery after RESUMED and the RSTs.
      SPEC keys: pcap, log, guest_ip, mac, base, allowed, t0, t_end,
      t_resumed (list of candidate epoch s; the earliest wins, with the
      VM's first RARP on the capture after t0), tags {TAG: [kinds]} with
      kinds among down, stream, udp.  Prints JSON: {"resumed": T,
      "resumed_from": ..., "flows": {"TAG/KIND": {"stall_ms": ms or null,
      "rst": n, "pkts_after": n, "last_before_ms": ms}}}.

A flow's "delivery" (what the switch can see): something the switch sent
AFTER RESUMED reached the guest (so an ACK or a report the guest owed from
before the pause does not count):
  down    the guest's first ACK after RESUMED beyond every octet the switch
          had sent on the flow before RESUMED
  stream  the later of: that, and the guest's first segment after RESUMED
          carrying data beyond what it had sent before
  udp     the guest's first report after RESUMED of a datagram the switch
          pushed after RESUMED (seq beyond the last it pushed before)
"""
import json
import os
import selectors
import socket
import struct
import sys
import time

CHUNK = b"x" * 255 + b"\n"


def serve(logpath, base, ctlsock):
    log = open(logpath, "a", buffering=1)

    def note(*w):
        log.write("%.6f %s\n" % (time.time(), " ".join(str(x) for x in w)))

    sel = selectors.DefaultSelector()
    down_l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    down_l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    down_l.bind(("0.0.0.0", base))
    down_l.listen(64)
    down_l.setblocking(False)
    sel.register(down_l, selectors.EVENT_READ, ("down-listen", None))
    push = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    push.bind(("0.0.0.0", base + 2))
    push.setblocking(False)
    sel.register(push, selectors.EVENT_READ, ("push", None))
    udps = {}
    for off, name in ((4, "report"), (6, "probe"), (8, "natprobe")):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", base + off))
        u.setblocking(False)
        sel.register(u, selectors.EVENT_READ, (name, None))
        udps[name] = u
    try:
        os.unlink(ctlsock)
    except FileNotFoundError:
        pass
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ctl.bind(ctlsock)
    ctl.listen(8)
    ctl.setblocking(False)
    sel.register(ctl, selectors.EVENT_READ, ("ctl", None))
    tcp = {}  # sock -> {"tag", "kind", "buf", "ready"}
    subs = {}  # tag -> [addr, seq]
    note("listening", "-", base)
    tick = time.monotonic()
    while True:
        timeout = max(0.0, tick + 0.01 - time.monotonic())
        for key, _ in sel.select(timeout):
            kind, _ = key.data
            s = key.fileobj
            if kind == "down-listen":
                try:
                    c, peer = s.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                tcp[c] = {"tag": None, "kind": "down", "buf": b"", "peer": peer}
                sel.register(c, selectors.EVENT_READ, ("tcp", None))
            elif kind == "push":
                try:
                    data, addr = s.recvfrom(512)
                except BlockingIOError:
                    continue
                w = data.decode(errors="replace").split()
                if len(w) == 2 and w[0] == "sub" and len(w[1]) <= 16:
                    subs[w[1]] = [addr, subs.get(w[1], [None, 0])[1]]
                    note("sub", w[1], "%s:%d" % addr)
            elif kind in ("report", "probe", "natprobe"):
                try:
                    data, addr = s.recvfrom(512)
                except BlockingIOError:
                    continue
                w = data.decode(errors="replace").split()
                if kind == "report" and len(w) == 3 and w[0] == "r":
                    note("report", w[1], w[2], "%s:%d" % addr)
                elif kind != "report":
                    note(kind, w[1] if len(w) > 1 else "-", "%s:%d" % addr)
            elif kind == "ctl":
                try:
                    c, _ = s.accept()
                except BlockingIOError:
                    continue
                c.settimeout(2)
                try:
                    w = c.recv(512).decode(errors="replace").split()
                    ans = ctl_cmd(w, sel, tcp, subs, note)
                except OSError as e:
                    ans = "error %s" % e
                try:
                    c.sendall((ans + "\n").encode())
                except OSError:
                    pass
                c.close()
            elif kind == "tcp":
                st = tcp.get(s)
                if st is None:
                    continue
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    note("tcp-error", st["tag"] or "-", st["kind"], e.errno)
                    data = b""
                if not data:
                    note("tcp-eof", st["tag"] or "-", st["kind"])
                    sel.unregister(s)
                    s.close()
                    del tcp[s]
                    continue
                if st["tag"] is None:
                    st["buf"] += data
                    if b"\n" in st["buf"]:
                        w = st["buf"].split(b"\n", 1)[0].decode(errors="replace").split()
                        if len(w) == 2 and w[1] == "down" and len(w[0]) <= 16:
                            st["tag"] = w[0]
                            note("down-accept", w[0], "%s:%d" % st["peer"])
                        else:
                            sel.unregister(s)
                            s.close()
                            del tcp[s]
                    elif len(st["buf"]) > 256:
                        sel.unregister(s)
                        s.close()
                        del tcp[s]
        now = time.monotonic()
        if now >= tick + 0.01:
            tick = now if now > tick + 0.05 else tick + 0.01
            for s, st in list(tcp.items()):
                if st["tag"] is None or st.get("paused"):
                    continue
                try:
                    s.send(CHUNK)
                except BlockingIOError:
                    pass
                except OSError:
                    pass
            for tag, sub in subs.items():
                try:
                    push.sendto(("%s %d" % (tag, sub[1])).encode(), sub[0])
                    sub[1] += 1
                except OSError:
                    pass


def ctl_cmd(w, sel, tcp, subs, note):
    if len(w) == 4 and w[0] == "stream":
        c = socket.create_connection((w[1], int(w[2])), timeout=3)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(("stream %s\n" % w[3]).encode())
        c.setblocking(False)
        tcp[c] = {"tag": w[3], "kind": "stream", "buf": b"", "peer": (w[1], int(w[2]))}
        sel.register(c, selectors.EVENT_READ, ("tcp", None))
        note("stream-connected", w[3], c.getsockname()[1])
        return "ok"
    if len(w) == 2 and w[0] in ("pause", "resume"):
        n = 0
        for st in tcp.values():
            if st["tag"] == w[1] and st["kind"] == "down":
                st["paused"] = w[0] == "pause"
                n += 1
        note(w[0], w[1], n)
        return "ok" if n else "error no such flow"
    if len(w) == 2 and w[0] == "close":
        for s, st in list(tcp.items()):
            if st["tag"] == w[1]:
                sel.unregister(s)
                s.close()
                del tcp[s]
        subs.pop(w[1], None)
        note("closed", w[1])
        return "ok"
    return "error unknown command"


def oneshot(addr, line, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(addr)
    s.sendall((line + "\n").encode())
    ans = b""
    try:
        while b"\n" not in ans:
            d = s.recv(256)
            if not d:
                break
            ans += d
    finally:
        s.close()
    ans = ans.decode(errors="replace").strip()
    print(ans)
    return 0 if ans == "ok" else 1


# ---- pcap -------------------------------------------------------------------------------

def packets(path):
    """(t, kind, fields) for IPv4 TCP/UDP and RARP frames."""
    out = []
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return out
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic == 0xA1B2C3D4:
            e, div = "<", 1e6
        elif magic == 0xA1B23C4D:
            e, div = "<", 1e9
        elif magic == 0xD4C3B2A1:
            e, div = ">", 1e6
        elif magic == 0x4D3CB2A1:
            e, div = ">", 1e9
        else:
            return out
        while True:
            ph = f.read(16)
            if len(ph) < 16:
                break
            sec, frac, incl, _ = struct.unpack(e + "IIII", ph)
            fr = f.read(incl)
            if len(fr) < incl:
                break
            t = sec + frac / div
            if len(fr) < 14:
                continue
            et = struct.unpack("!H", fr[12:14])[0]
            src_mac = fr[6:12].hex(":")
            if et == 0x8035:
                out.append((t, "rarp", {"src_mac": src_mac}))
                continue
            if et != 0x0800 or len(fr) < 34:
                continue
            ip = fr[14:]
            ihl = (ip[0] & 15) * 4
            proto = ip[9]
            src = socket.inet_ntoa(ip[12:16])
            dst = socket.inet_ntoa(ip[16:20])
            tot = struct.unpack("!H", ip[2:4])[0]
            l4 = ip[ihl:]
            if proto == 6 and len(l4) >= 20:
                sp, dp, seq, ack, off, flags = struct.unpack("!HHIIBB", l4[:14])
                doff = (off >> 4) * 4
                plen = tot - ihl - doff
                out.append((t, "tcp", {"src": src, "dst": dst, "sp": sp, "dp": dp, "seq": seq,
                                       "ack": ack, "flags": flags, "len": plen}))
            elif proto == 17 and len(l4) >= 8:
                sp, dp = struct.unpack("!HH", l4[:4])
                out.append((t, "udp", {"src": src, "dst": dst, "sp": sp, "dp": dp,
                                       "data": l4[8:].decode(errors="replace")}))
    return out


def seq_after(a, b):
    """a after b in TCP sequence space."""
    return ((a - b) & 0xFFFFFFFF) != 0 and ((a - b) & 0xFFFFFFFF) < 0x80000000


def analyze(spec):
    pk = packets(spec["pcap"])
    gip, base, allowed = spec["guest_ip"], spec["base"], spec["allowed"]
    t0, t_end = spec["t0"], spec["t_end"]
    cands = [(float(x), "virsh event") for x in spec.get("t_resumed", []) if x]
    mac = spec["mac"].lower()
    for t, k, f in pk:
        if k == "rarp" and f["src_mac"] == mac and t >= t0:
            cands.append((t, "RARP"))
            break
    if not cands:
        print(json.dumps({"resumed": None, "flows": {}}))
        return 1
    tr, tr_from = min(cands)
    # The server log: which ports belong to which tag.
    gport_down, sport_stream = {}, {}
    for line in open(spec["log"], errors="replace"):
        w = line.split()
        if len(w) >= 4 and w[1] == "down-accept":
            gport_down[w[2]] = int(w[3].rsplit(":", 1)[1])
        elif len(w) >= 4 and w[1] == "stream-connected":
            sport_stream[w[2]] = int(w[3])
    res = {}
    for tag, kinds in spec["tags"].items():
        for kind in kinds:
            r = {"stall_ms": None, "rst": 0, "pkts_after": 0, "last_before_ms": None}
            if kind in ("down", "stream"):
                if kind == "down":
                    gp, sp = gport_down.get(tag), base
                else:
                    gp, sp = allowed, sport_stream.get(tag)
                if gp is None or sp is None:
                    r["error"] = "flow not in the server log"
                    res[tag + "/" + kind] = r
                    continue
                srv_end = pre_end = None
                t_ack = t_data = None
                for t, k, f in pk:
                    if k != "tcp" or t < t0 - 60 or t > t_end:
                        continue
                    mine_out = f["src"] == gip and f["sp"] == gp and f["dp"] == sp
                    mine_in = f["dst"] == gip and f["dp"] == gp and f["sp"] == sp
                    if not (mine_out or mine_in):
                        continue
                    if f["flags"] & 0x04 and t >= t0:
                        r["rst"] += 1
                    end = (f["seq"] + f["len"]) & 0xFFFFFFFF
                    if mine_in:
                        if t < tr and f["len"] > 0 and (srv_end is None or seq_after(end, srv_end)):
                            srv_end = end
                        continue
                    if t < tr:
                        r["last_before_ms"] = round((t - tr) * 1000, 1)
                        if f["len"] > 0 and (pre_end is None or seq_after(end, pre_end)):
                            pre_end = end
                        continue
                    r["pkts_after"] += 1
                    if t_ack is None and f["flags"] & 0x10 and srv_end is not None and seq_after(f["ack"], srv_end):
                        t_ack = t
                    if t_data is None and f["len"] > 0 and pre_end is not None and seq_after(end, pre_end):
                        t_data = t
                if kind == "down":
                    done = t_ack
                else:
                    done = max(t_ack, t_data) if t_ack is not None and t_data is not None else None
                if done is not None:
                    r["stall_ms"] = round((done - tr) * 1000, 1)
                r["ack_ms"] = None if t_ack is None else round((t_ack - tr) * 1000, 1)
                if kind == "stream":
                    r["data_ms"] = None if t_data is None else round((t_data - tr) * 1000, 1)
            elif kind == "udp":
                pushed = None
                for t, k, f in pk:
                    if k != "udp" or t > t_end:
                        continue
                    w = f["data"].split()
                    if f["dst"] == gip and f["sp"] == base + 2 and t < tr and len(w) == 2 and w[0] == tag and w[1].isdigit():
                        pushed = int(w[1]) if pushed is None else max(pushed, int(w[1]))
                        continue
                    if f["src"] != gip or f["dp"] != base + 4:
                        continue
                    if len(w) != 3 or w[0] != "r" or w[1] != tag or not w[2].isdigit():
                        continue
                    seq = int(w[2])
                    if t < tr:
                        r["last_before_ms"] = round((t - tr) * 1000, 1)
                        continue
                    r["pkts_after"] += 1
                    if r["stall_ms"] is None and pushed is not None and seq > pushed:
                        r["stall_ms"] = round((t - tr) * 1000, 1)
            res[tag + "/" + kind] = r
    print(json.dumps({"resumed": tr, "resumed_from": tr_from, "flows": res}, sort_keys=True))
    return 0


def main(a):
    if len(a) == 4 and a[0] == "serve":
        serve(a[1], int(a[2]), a[3])
        return 0
    if len(a) >= 4 and a[0] == "ctl":
        return oneshot((a[1], int(a[2])), " ".join(a[3:]))
    if len(a) >= 3 and a[0] == "cmd":
        return oneshot(a[1], " ".join(a[2:]), socket.AF_UNIX)
    if len(a) == 2 and a[0] == "analyze":
        return analyze(json.load(open(a[1])))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

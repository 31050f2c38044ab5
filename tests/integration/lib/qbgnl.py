#!/usr/bin/env python3
"""A small libvirt-like 802.1Qbg netlink client for tests: the messages
libvirt sends to lldpad (virnetdevvportprofile.c, layouts in
linux/if_link.h) on a fresh NETLINK_ROUTE socket, unicast to the agent's
port.

  qbgnl.py setlink PORT IFNAME REQUEST MAC VLAN UUID [MGR TYPEID TYPEVER] [--evport N]
      REQUEST: preassociate|associate|disassociate or a number; VLAN '-' = no IFLA_VF_VLAN
      prints "error N" (the NLMSG_ERROR's error)
  qbgnl.py getlink PORT IFINDEX      prints "UUID RESPONSE|none" per port, or "error N"
  qbgnl.py poll PORT IFNAME REQUEST MAC VLAN UUID [MGR TYPEID TYPEVER]
      SETLINK, then GETLINK every 125 ms for up to 10 s as libvirt does;
      prints "response R polls N ms T" or "error N" or "timeout"
  qbgnl.py raw PORT HEX              sends the bytes, prints the reply summary
  qbgnl.py listen PORT SECONDS       binds PORT, prints each RTM_SETLINK notice:
      "notice from PID request R mac M uuid U"
  Env QBGNL_EVPORT: the nlmsg_pid of SETLINKs (libvirt's event port), default 0.
"""
import os
import socket
import struct
import sys
import time
import uuid as uuidlib

RTM_GETLINK, RTM_SETLINK = 18, 19
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST = 1
IFLA_IFNAME, IFLA_VFINFO_LIST, IFLA_VF_PORTS, IFLA_EXT_MASK = 3, 22, 24, 29
IFLA_VF_INFO, IFLA_VF_MAC, IFLA_VF_VLAN = 1, 1, 2
IFLA_VF_PORT = 1
IFLA_PORT_VF, IFLA_PORT_VSI_TYPE, IFLA_PORT_INSTANCE_UUID = 1, 3, 4
IFLA_PORT_REQUEST, IFLA_PORT_RESPONSE = 6, 7
NLA_F_NESTED = 0x8000
REQUESTS = {"preassociate": 0, "preassociate_rr": 1, "associate": 2, "disassociate": 3}


def nla(t, payload):
    l = 4 + len(payload)
    return struct.pack("=HH", l, t) + payload + b"\0" * ((4 - l % 4) % 4)


def nest(t, *parts):
    return nla(t | NLA_F_NESTED, b"".join(parts))


def nlmsg(t, flags, seq, pid, body):
    return struct.pack("=IHHII", 16 + len(body), t, flags, seq, pid) + body


def ifinfo(ifindex):
    return struct.pack("=BxHiII", 0, 0, ifindex, 0, 0)


def setlink_msg(ifname, request, mac, vlan, uuid, mgr=11, typeid=1193047, typever=2, evport=None, ifindex=None,
                seq=1):
    if evport is None:
        evport = int(os.environ.get("QBGNL_EVPORT", "0"))
    if ifindex is None:
        try:
            ifindex = socket.if_nametoindex(ifname)
        except OSError:
            ifindex = 0
    macb = bytes(int(x, 16) for x in mac.split(":"))
    vfinfo = [nla(IFLA_VF_MAC, struct.pack("=I", 0xffffffff) + macb + b"\0" * 26)]
    if vlan != "-":
        vfinfo.append(nla(IFLA_VF_VLAN, struct.pack("=III", 0xffffffff, int(vlan), 0)))
    vsi = struct.pack("=B3sB3x", mgr, struct.pack("<I", typeid)[:3], typever)
    body = ifinfo(ifindex) + nla(IFLA_IFNAME, ifname.encode() + b"\0")
    body += nest(IFLA_VFINFO_LIST, nest(IFLA_VF_INFO, *vfinfo))
    body += nest(IFLA_VF_PORTS, nest(IFLA_VF_PORT,
                                     nla(IFLA_PORT_VSI_TYPE, vsi),
                                     nla(IFLA_PORT_INSTANCE_UUID, uuidlib.UUID(uuid).bytes),
                                     nla(IFLA_PORT_REQUEST, struct.pack("=B", request))))
    return nlmsg(RTM_SETLINK, NLM_F_REQUEST, seq, evport, body)


def getlink_msg(ifindex, seq=2):
    return nlmsg(RTM_GETLINK, NLM_F_REQUEST, seq, 0, ifinfo(ifindex) + nla(IFLA_EXT_MASK, struct.pack("=I", 1)))


def attrs(buf):
    off = 0
    while len(buf) - off >= 4:
        l, t = struct.unpack_from("=HH", buf, off)
        if l < 4 or l > len(buf) - off:
            raise ValueError("bad attribute")
        yield t & 0x3fff, buf[off + 4:off + l]
        off += (l + 3) & ~3


def parse_reply(data):
    """('error', N) or ('ports', [(uuid, response|None)]) or ('other', type)."""
    if len(data) < 16:
        return ("short", len(data))
    l, t = struct.unpack_from("=IH", data, 0)
    if t == NLMSG_ERROR:
        return ("error", struct.unpack_from("=i", data, 16)[0])
    if t in (NLMSG_DONE, 16):
        ports = []
        for at, av in attrs(data[32:l]):
            if at != IFLA_VF_PORTS:
                continue
            for pt, pv in attrs(av):
                if pt != IFLA_VF_PORT:
                    continue
                u, r, vf = None, None, None
                for a, v in attrs(pv):
                    if a == IFLA_PORT_INSTANCE_UUID:
                        u = str(uuidlib.UUID(bytes=v))
                    elif a == IFLA_PORT_RESPONSE:
                        r = struct.unpack("=H", v[:2])[0]
                    elif a == IFLA_PORT_VF:
                        vf = struct.unpack("=I", v[:4])[0]
                if vf != 0xffffffff:
                    raise ValueError("IFLA_PORT_VF is not -1")
                ports.append((u, r))
        return ("ports", ports)
    return ("other", t)


def transact(port, msg, timeout=2.0):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.bind((0, 0))
    s.settimeout(timeout)
    try:
        s.sendto(msg, (port, 0))
        data, addr = s.recvfrom(65536)
        return parse_reply(data)
    finally:
        s.close()


def req_num(s):
    return REQUESTS[s] if s in REQUESTS else int(s)


def main(argv):
    cmd = argv[1]
    if cmd == "setlink":
        port, ifname, request, mac, vlan, uu = argv[2:8]
        extra = [int(x) for x in argv[8:11]] if len(argv) > 8 else []
        kind, v = transact(int(port), setlink_msg(ifname, req_num(request), mac, vlan, uu, *extra))
        print(f"{kind} {v}")
    elif cmd == "getlink":
        kind, v = transact(int(argv[2]), getlink_msg(int(argv[3])))
        if kind == "ports":
            for u, r in v:
                print(f"{u} {'none' if r is None else r}")
        else:
            print(f"{kind} {v}")
    elif cmd == "poll":
        port, ifname, request, mac, vlan, uu = argv[2:8]
        extra = [int(x) for x in argv[8:11]] if len(argv) > 8 else []
        t0 = time.monotonic()
        kind, v = transact(int(port), setlink_msg(ifname, req_num(request), mac, vlan, uu, *extra))
        if kind != "error" or v != 0:
            print(f"{kind} {v}")
            return 0
        ifindex = socket.if_nametoindex(ifname)
        polls = 0
        while time.monotonic() - t0 < 10:
            polls += 1
            kind, v = transact(int(port), getlink_msg(ifindex))
            if kind != "ports":
                print(f"{kind} {v}")
                return 0
            match = [r for u, r in v if u == uu]
            if not match:
                print("no-matching-uuid")
                return 0
            if match[0] is not None and match[0] != 0x101:
                print(f"response {match[0]} polls {polls} ms {(time.monotonic() - t0) * 1000:.1f}")
                return 0
            time.sleep(0.125)
        print("timeout")
    elif cmd == "raw":
        try:
            kind, v = transact(int(argv[2]), bytes.fromhex(argv[3]), timeout=1.0)
            print(f"{kind} {v}")
        except socket.timeout:
            print("noreply")
    elif cmd == "listen":
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        s.bind((int(argv[2]), 0))
        end = time.monotonic() + float(argv[3])
        print("listening", flush=True)
        while time.monotonic() < end:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                data = s.recv(65536)
            except socket.timeout:
                break
            l, t, fl, seq, pid = struct.unpack_from("=IHHII", data, 0)
            if t != RTM_SETLINK:
                continue
            req, mac, uu = None, None, None
            for at, av in attrs(data[32:l]):
                if at == IFLA_VFINFO_LIST:
                    for _, info in attrs(av):
                        for a, v in attrs(info):
                            if a == IFLA_VF_MAC:
                                mac = ":".join(f"{b:02x}" for b in v[4:10])
                elif at == IFLA_VF_PORTS:
                    for _, p in attrs(av):
                        for a, v in attrs(p):
                            if a == IFLA_PORT_REQUEST:
                                req = v[0]
                            elif a == IFLA_PORT_INSTANCE_UUID:
                                uu = str(uuidlib.UUID(bytes=v))
            print(f"notice from {pid} request {req} mac {mac} uuid {uu}", flush=True)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

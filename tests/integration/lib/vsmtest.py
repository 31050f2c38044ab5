#!/usr/bin/env python3
"""Test helpers for the vsimig integration tests (standard library only).

An independent decoder for what crosses the wire, so the integration tests
check our C codecs against a second reading of IEEE 802.1Qbg-2012 rather
than against themselves:

  vsmtest.py frames PCAP            one JSON object per ECP/LLDP frame
  vsmtest.py table PCAP STATION_MAC the same as a table for people
  vsmtest.py inject IFACE HEX...    send raw Ethernet frames (AF_PACKET)
  vsmtest.py control SOCKET LINE... send raw lines to a control socket and
                                    print each reply line (one per input);
                                    a LINE "@repeat:C:N" is C repeated N times
"""
import json
import socket
import struct
import sys

ETH_P_ECP = 0x8940
ETH_P_LLDP = 0x88CC
VSI_TYPES = {1: "pre-associate", 2: "pre-associate-rr", 3: "associate", 4: "de-associate"}
FILTER_ENTRY = {1: 2, 2: 8, 3: 6, 4: 12}


def mac(b):
    return ":".join(f"{x:02x}" for x in b)


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        end = ">"
    else:
        raise SystemExit(f"{path}: not a pcap file (pcapng is not supported)")
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        yield sec + frac / (1e9 if nano else 1e6), frame


def decode_vsi(t, body):
    d = {"tlv": VSI_TYPES[t], "len": len(body)}
    if len(body) < 25:
        d["error"] = "short"
        return d
    st = body[0]
    d.update(status=st, response=bool(st & 0x40), reason=st & 0x0F)
    if st & 0x40:
        d.update(hard_error=bool(st & 0x10), keep=bool(st & 0x20), m=False, s=False)
    else:
        d.update(m=bool(st & 0x10), s=bool(st & 0x20))
    d["type_id"] = int.from_bytes(body[1:4], "big")
    d["type_version"] = body[4]
    d["vsiid_format"] = body[5]
    v = body[6:22]
    d["vsiid"] = f"{v[0:4].hex()}-{v[4:6].hex()}-{v[6:8].hex()}-{v[8:10].hex()}-{v[10:16].hex()}"
    ff = body[22]
    n = int.from_bytes(body[23:25], "big")
    d["filter_format"] = ff
    d["n_filters"] = n
    size = FILTER_ENTRY.get(ff)
    filters = []
    if size is None or len(body) != 25 + n * size:
        d["error"] = "filter length mismatch"
        return d
    p = 25
    for _ in range(n):
        e = body[p:p + size]
        p += size
        f = {}
        if ff in (3, 4):
            f["group_id"] = int.from_bytes(e[0:4], "big")
            e = e[4:]
        if ff in (2, 4):
            f["mac"] = mac(e[0:6])
            e = e[6:]
        w = int.from_bytes(e[0:2], "big")
        f.update(ps=bool(w & 0x8000), pcp=(w >> 12) & 7, vid=w & 0xFFF)
        filters.append(f)
    d["filters"] = filters
    return d


def decode_vdp(payload):
    tlvs = []
    p = 0
    while p + 2 <= len(payload):
        h = int.from_bytes(payload[p:p + 2], "big")
        t, n = h >> 9, h & 0x1FF
        body = payload[p + 2:p + 2 + n]
        p += 2 + n
        if len(body) < n:
            tlvs.append({"tlv": t, "error": "past end"})
            break
        if t == 0:
            break
        if t == 5:
            tlvs.append({"tlv": "manager-id", "value": body.rstrip(b"\0").decode("latin-1")})
        elif t in VSI_TYPES:
            tlvs.append(decode_vsi(t, body))
        else:
            tlvs.append({"tlv": t, "len": n})
    return tlvs


def decode_lldp(payload):
    d = {}
    p = 0
    while p + 2 <= len(payload):
        h = int.from_bytes(payload[p:p + 2], "big")
        t, n = h >> 9, h & 0x1FF
        body = payload[p + 2:p + 2 + n]
        p += 2 + n
        if t == 0:
            break
        if t == 127 and body[:4] == b"\x00\x80\xc2\x0d" and len(body) == 9:
            e = body[4:]
            d["evb"] = {
                "bridge_status": e[0], "station_status": e[1],
                "r": e[2] >> 5, "rte": e[2] & 0x1F,
                "mode": {1: "bridge", 2: "station"}.get(e[3] >> 6, e[3] >> 6),
                "rol_rwd": bool(e[3] & 0x20), "rwd": e[3] & 0x1F,
                "rol_rka": bool(e[4] & 0x20), "rka": e[4] & 0x1F,
            }
        elif t == 3 and n == 2:
            d["ttl"] = int.from_bytes(body, "big")
    return d


def frames(path):
    for ts, fr in read_pcap(path):
        if len(fr) < 14:
            continue
        et = int.from_bytes(fr[12:14], "big")
        out = {"t": round(ts, 6), "src": mac(fr[6:12]), "dst": mac(fr[0:6]), "len": len(fr)}
        if et == ETH_P_ECP and len(fr) >= 18:
            w = int.from_bytes(fr[14:16], "big")
            out.update(proto="ecp", version=w >> 12, op=["request", "ack", "r2", "r3"][(w >> 10) & 3],
                       subtype=w & 0x3FF, seq=int.from_bytes(fr[16:18], "big"))
            if out["op"] == "request":
                out["tlvs"] = decode_vdp(fr[18:])
        elif et == ETH_P_LLDP:
            out.update(proto="lldp", **decode_lldp(fr[14:]))
        else:
            continue
        yield out


def cmd_frames(path):
    for f in frames(path):
        print(json.dumps(f))


def cmd_table(path, station):
    rows = list(frames(path))
    t0 = rows[0]["t"] if rows else 0
    print(f"{'ms':>9}  {'from':7}  {'frame':26}  details")
    for f in rows:
        who = "station" if f["src"] == station else "bridge"
        ms = (f["t"] - t0) * 1000
        if f["proto"] == "lldp":
            e = f.get("evb")
            d = (f"EVB mode={e['mode']} R={e['r']} RTE={e['rte']} RWD={e['rwd']} RKA={e['rka']}"
                 if e else "no EVB TLV")
            print(f"{ms:9.2f}  {who:7}  {'LLDP':26}  {d}")
            continue
        if f["op"] != "request":
            print(f"{ms:9.2f}  {who:7}  {'ECP ' + f['op'] + ' seq ' + str(f['seq']):26}")
            continue
        for t in f["tlvs"]:
            if t["tlv"] == "manager-id":
                continue
            if not isinstance(t["tlv"], str) or "status" not in t:
                print(f"{ms:9.2f}  {who:7}  TLV {t['tlv']}")
                continue
            kind = t["tlv"] + (" response" if t["response"] else "")
            flags = " ".join(n for n, b in (("M", t.get("m")), ("S", t.get("s"))) if b) or "-"
            status = f"status 0x{t['status']:02x}" + (f" error {t['reason']}" if t["response"] else "")
            flt = (t.get("filters") or [{}])[0]
            print(f"{ms:9.2f}  {who:7}  {kind:26}  seq {f['seq']:<5} flags {flags:3} {status:20} "
                  f"vsi {t['vsiid'][:8]} mac {flt.get('mac')} vid {flt.get('vid')}")


def cmd_inject(iface, frames):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for h in frames:
        s.send(bytes.fromhex(h))
    s.close()


def cmd_control(path, lines):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    buf = b""
    for line in lines:
        if line.startswith("@repeat:"):
            _, ch, n = line.split(":", 2)
            line = ch * int(n)
        s.sendall(line.encode("latin-1", "replace") + b"\n")
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                print("CLOSED")
                return
            buf += chunk
        reply, buf = buf.split(b"\n", 1)
        print(reply.decode())
    s.close()


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    cmd = sys.argv[1]
    if cmd == "frames":
        cmd_frames(sys.argv[2])
    elif cmd == "table":
        cmd_table(sys.argv[2], sys.argv[3])
    elif cmd == "inject":
        cmd_inject(sys.argv[2], sys.argv[3:])
    elif cmd == "control":
        cmd_control(sys.argv[2], sys.argv[3:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()

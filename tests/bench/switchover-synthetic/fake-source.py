#!/usr/bin/env python3
"""The source side of the synthetic switchover benchmark (run.sh), standard
library only.  One process, three network namespaces (entered with setns(2)
only while a socket is created, so everything else runs where it started):

  * in the switch netns: two AF_PACKET sockets on the switch end of the
    uplink, with kernel time stamps (SO_TIMESTAMPNS) and a large receive
    buffer.  One takes the replay frames (a classic BPF filter passes only
    source MACs 52:54:00:77:xx:xx, i.e. our vNICs), the other ECP (VDP).
    While the switchover runs they are only polled for their packet count
    (PACKET_STATISTICS), never read: the frames wait in the socket with the
    time the kernel received them, so the capture costs the daemon no CPU.
  * in the source netns: the fake source vsimigd's peer listener (asyncio),
    speaking the peer protocol of src/daemon/peer.h (version 2): 4-octet
    big-endian length + JSON; answers each hello (known domain, version 2)
    with a challenge proving the cluster key (--key-file) and the domain's
    token, checks the destination's auth proof, sends a "state", and when
    everything is ready sends every "switchover" in one go; every frame
    after the challenge sealed under the session key (HMAC, per-direction
    sequence number).
  * the daemon's control socket (a path: no netns): the libvirt hooks
    "migrate begin" (with the domain XML carrying the <metadata> snapshot),
    "prepare begin" and "start begin" for every domain, and afterwards
    "show" / "status".

  fake-source.py run --pid PID --control SOCK --listen ADDR:PORT --key-file F
                     --src-netns NS --cap-netns NS --cap-if IF
                     --domains D --nics N --groups G --out DIR [...]

The replay is checked per vNIC and item: its DHCP INIT-REBOOT REQUEST, each
of its groups as an IGMPv3 MODE_IS_EXCLUDE record (exactly once, in
whichever report: vsimigd packs a vNIC's records into as few reports as
fit), its GARPs.  Frames are counted apart from the items.

Writes DIR/result.json and prints the table on stdout.  Exit status: 0 the
run worked (whatever the figures), 1 the run broke (hooks refused, peers
missing, items missing or wrong, the daemon died), 2 usage.
"""
import argparse
import asyncio
import ctypes
import hashlib
import hmac
import json
import math
import os
import secrets
import socket
import statistics
import signal
import struct
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
ETH_P_ALL = 0x0003
ETH_P_ECP = 0x8940
MAC_PREFIX = bytes.fromhex("52540077")       # our vNICs: 52:54:00:77:HH:LL
IGMPV3_ROUTERS = bytes([224, 0, 0, 22])
# How vsimigd packs a vNIC's IGMPv3 records (src/daemon/replay.c): reports of
# at most REPLAY_MTU 1500 octets of IP (24 of header with Router Alert, 8 of
# IGMPv3 report header, 8 per record without sources) and at most
# VSM_IGMP_RECORDS_MAX (src/proto/igmp.h) records.  Only the expected FRAME
# count depends on this; the check itself is per group record, wherever
# the records come.
IGMPV3_RECORDS_PER_REPORT = min(64, (1500 - 24 - 8) // 8)


def igmpv3_reports_for(n_groups):
    return -(-n_groups // IGMPV3_RECORDS_PER_REPORT) if n_groups else 0
NS_URI = "https://vsimig.dev/xmlns/metadata/1"
CAP_RCVBUF = 512 * 1024 * 1024

_libc = ctypes.CDLL(None, use_errno=True)


# ---------------------------------------------------------------- netns

class NetnsSwitch:
    """with NetnsSwitch(name): code creating sockets in netns name."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, f"setns({self.name}): {os.strerror(e)}")
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        try:
            if _libc.setns(self.home, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, f"setns(back): {os.strerror(e)}")
        finally:
            os.close(self.home)
        return False


# ---------------------------------------------------------------- the model

def mac_str(b):
    return ":".join(f"{x:02x}" for x in b)


def ip4_str(b):
    return socket.inet_ntop(socket.AF_INET, bytes(b))


class Nic:
    def __init__(self, k, dom, idx, groups_mode, n_groups, ack_usec):
        self.k = k
        self.dom = dom
        self.idx = idx
        self.mac = bytes([0x52, 0x54, 0x00, 0x77, k >> 8, k & 0xff])
        self.mac_s = mac_str(self.mac)
        self.tap = f"t{k}"
        self.lease = f"10.77.{1 + k // 250}.{1 + k % 250}"
        self.ip2 = f"10.77.{128 + k // 250}.{1 + k % 250}"
        self.client_id = bytes([1]) + self.mac            # htype 1 + MAC, as udhcpc/dhclient do
        self.hostname = f"sw{dom.index}n{idx}"
        self.ack_usec = ack_usec
        if groups_mode == "shared":
            self.groups = [f"239.78.{j // 250}.{1 + j % 250}" for j in range(n_groups)]
        else:
            self.groups = []
            for j in range(n_groups):
                gid = k * n_groups + j
                self.groups.append(f"239.77.{gid >> 8}.{gid & 0xff}")

    def json(self):
        return {
            "mac": self.mac_s,
            "client_id": {"state": "sent", "value": self.client_id.hex()},
            "hostname": self.hostname,
            "lease": {"address": self.lease, "server_id": "10.77.0.1", "lease_time": 3600,
                      "ack_time": self.ack_usec},
            "groups": [{"address": g, "version": "igmpv3", "mode": "exclude", "sources": []} for g in self.groups],
            "ip4": [self.lease, self.ip2],
            "ip6": [],
        }

    def xml(self):
        p = "vsimig:"
        out = [f'<{p}nic mac="{self.mac_s}">',
               f'<{p}client-id state="sent">{self.client_id.hex()}</{p}client-id>',
               f'<{p}hostname>{self.hostname}</{p}hostname>',
               f'<{p}lease address="{self.lease}" server-id="10.77.0.1" time="3600" ack="{self.ack_usec}"/>']
        out += [f'<{p}group address="{g}" version="igmpv3" mode="exclude"/>' for g in self.groups]
        out += [f'<{p}ip address="{self.lease}"/>', f'<{p}ip address="{self.ip2}"/>', f'</{p}nic>']
        return "".join(out)

    # What the replay must put on the wire for this vNIC, as items: the DHCP
    # INIT-REBOOT REQUEST, one IGMPv3 group record per carried group (in
    # whichever report it comes: vsimigd packs a vNIC's v3 records into as
    # few reports as fit, src/daemon/replay.c) and a gratuitous ARP per
    # IPv4 address.  Every item exactly once.
    def expected(self):
        e = {("dhcp", self.lease)}
        e |= {("igmp", g) for g in self.groups}
        e |= {("garp", self.lease), ("garp", self.ip2)}
        return e

    # The frames that carry them: 1 DHCP REQUEST, the IGMPv3 reports the
    # packing needs, 2 GARPs.
    def expected_frames(self):
        return {"dhcp": 1, "igmp": igmpv3_reports_for(len(self.groups)), "garp": 2}


class Domain:
    def __init__(self, index, n_nics, groups_mode, n_groups, origin, ack_usec):
        self.index = index
        self.name = f"swbench-{index:04d}"
        self.uuid = f"73770000-0000-4000-8000-{index:012x}"
        self.token = secrets.token_hex(16)
        self.origin = origin
        self.nics = [Nic(index * n_nics + i, self, i, groups_mode, n_groups, ack_usec) for i in range(n_nics)]
        self.writer = None           # the peer connection, once the hello was right
        self.hello_at = None
        self.sk = None               # the session key: every frame after the challenge is sealed
        self.seq = 0
        self.closed_at = None
        self.closed_why = None

    def domain_xml(self):
        ifaces = "".join(
            f"<interface type='bridge'><mac address='{n.mac_s}'/><source bridge='br0'/>"
            f"<target dev='{n.tap}'/><model type='virtio'/></interface>" for n in self.nics)
        meta = (f'<vsimig:state xmlns:vsimig="{NS_URI}" version="1" origin="{self.origin}" '
                f'token="{self.token}" generation="1">' + "".join(n.xml() for n in self.nics) + "</vsimig:state>")
        return (f"<domain type='kvm'><name>{self.name}</name><uuid>{self.uuid}</uuid>"
                f"<memory unit='KiB'>65536</memory><vcpu>1</vcpu><metadata>{meta}</metadata>"
                f"<os><type arch='x86_64'>hvm</type></os><devices>{ifaces}</devices></domain>")


def peer_proof(key, source, domain, token, nonce_d, nonce_s):
    """HMAC-SHA-256 of src/daemon/peer.c's vsm_peer_proof(): the label and
    the fixed-length fields, each followed by a NUL."""
    label = "vsimig-peer-v2 source" if source else "vsimig-peer-v2 destination"
    msg = b"".join(f.encode() + b"\0" for f in (label, domain, token, nonce_d, nonce_s))
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def session_key(key, domain, token, nonce_d, nonce_s):
    """vsm_peer_session_key(): the key that seals every frame after the
    handshake."""
    msg = b"".join(f.encode() + b"\0" for f in ("vsimig-peer-v2 session", domain, token, nonce_d, nonce_s))
    return hmac.new(key, msg, hashlib.sha256).digest()


def sealed(sk, seq, body):
    """vsm_peer_frame_seal() for the source's direction: length (of MAC and
    body), HMAC(sk, label NUL, 64-bit big-endian seq, body), body."""
    mac = hmac.new(sk, b"vsimig-peer-v2 source frame\0" + struct.pack(">Q", seq) + body,
                   hashlib.sha256).digest()
    return struct.pack(">I", len(mac) + len(body)) + mac + body


async def read_frame(reader, limit=65536, timeout=10):
    hdr = await asyncio.wait_for(reader.readexactly(4), timeout)
    ln = struct.unpack(">I", hdr)[0]
    if ln == 0 or ln > limit:
        raise ValueError(f"frame length {ln}")
    return json.loads(await asyncio.wait_for(reader.readexactly(ln), timeout))


def frame(obj):
    body = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", len(body)) + body


def body_of(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


# ---------------------------------------------------------------- /proc

def proc_cpu(pid):
    """(utime+stime in s from /proc/PID/stat, sum_exec_runtime of all
    threads in s from schedstat) or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()
        if fields[0] in ("Z", "X"):
            return None
        ticks = int(fields[11]) + int(fields[12])
        ns = 0
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    ns += int(f.read().split()[0])
            except OSError:
                pass
        return ticks / os.sysconf("SC_CLK_TCK"), ns / 1e9
    except (OSError, ValueError, IndexError):
        return None


def proc_mem(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def proc_rss_by_file(pid, top=6):
    """The largest resident mappings, by file (or [heap], [anon], ...), in KiB."""
    sums, name = {}, None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                parts = line.split()
                if not parts:
                    continue
                if not parts[0].endswith(":"):
                    name = os.path.basename(parts[5]) if len(parts) >= 6 else "[anon]"
                elif parts[0] == "Rss:" and name:
                    sums[name] = sums.get(name, 0) + int(parts[1])
    except OSError:
        return []
    return sorted(sums.items(), key=lambda kv: -kv[1])[:top]


def alive(pid):
    return proc_cpu(pid) is not None


# ---------------------------------------------------------------- capture

def bpf_prefix_filter(prefix4):
    """Accept frames whose source MAC starts with the 4 octets prefix4."""
    k = struct.unpack(">I", prefix4)[0]
    insns = [
        (0x20, 0, 0, 6),           # ld  [6]   (word: first 4 octets of the source MAC)
        (0x15, 0, 1, k),           # jeq #k, accept, drop
        (0x06, 0, 0, 0x40000),     # ret #262144
        (0x06, 0, 0, 0),           # ret #0
    ]
    return b"".join(struct.pack("HBBI", *i) for i in insns), len(insns)


class Capture:
    def __init__(self, ifname, proto, prefix=None):
        self.count = 0
        self.drops = 0
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, CAP_RCVBUF)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if prefix:
            code, n = bpf_prefix_filter(prefix)
            self._filter = ctypes.create_string_buffer(code)
            s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                         struct.pack("HL", n, ctypes.addressof(self._filter)))
        s.bind((ifname, proto))
        s.setblocking(False)
        self.sock = s

    def poll(self):
        """Frames (and drops) the kernel queued since the last poll."""
        p, d = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        self.count += p
        self.drops += d
        return self.count

    def drain(self):
        """Every queued frame as (epoch ns, bytes)."""
        out = []
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(4096, 64)
            except BlockingIOError:
                break
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            ts = None
            for lvl, typ, val in anc:
                if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", val[:16])
                    ts = sec * 1_000_000_000 + nsec
            out.append((ts if ts is not None else time.time_ns(), data))
        self.poll()
        return out


def inet_checksum(b):
    if len(b) % 2:
        b = bytes(b) + b"\0"
    t = sum(struct.unpack(f">{len(b) // 2}H", bytes(b)))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return t ^ 0xffff


def classify(data):
    """(kind, keys, problems) of a replay frame: kind dhcp/igmp/garp/other,
    keys the items it carries: [requested IP] for dhcp, [sender IP] for a
    GARP, the group of every record for an IGMPv3 report (a report may pack
    many records)."""
    problems = []
    if len(data) < 14:
        return "other", [], ["runt"]
    src = data[6:12]
    et = struct.unpack(">H", data[12:14])[0]
    if et == 0x0806 and len(data) >= 42:
        op = struct.unpack(">H", data[20:22])[0]
        sha, spa, tpa = data[22:28], data[28:32], data[38:42]
        if sha != src:
            problems.append("arp sha != source MAC")
        if spa != tpa:
            problems.append("arp spa != tpa (not gratuitous)")
        if op not in (1, 2):
            problems.append(f"arp op {op}")
        return "garp", [ip4_str(spa)], problems
    if et != 0x0800 or len(data) < 34:
        return "other", [], [f"ethertype 0x{et:04x}"]
    ihl = (data[14] & 0x0f) * 4
    tot = struct.unpack(">H", data[16:18])[0]
    ttl, proto = data[22], data[23]
    ip = data[14:14 + ihl]
    l4 = data[14 + ihl:14 + tot] if ihl <= tot <= len(data) - 14 else data[14 + ihl:]
    if proto == 2:
        if ttl != 1:
            problems.append(f"igmp ttl {ttl}")
        if ihl < 24 or ip[20:24] != b"\x94\x04\0\0":
            problems.append("igmp without router alert")
        if not ihl <= tot <= len(data) - 14:
            problems.append(f"igmp ip total length {tot} (frame {len(data)})")
        if inet_checksum(ip) != 0:
            problems.append("igmp ip header checksum")
        if not l4 or l4[0] != 0x22:
            return "igmp", [], problems + [f"igmp type 0x{l4[0] if l4 else 0:02x} (not a v3 report)"]
        if ip[16:20] != IGMPV3_ROUTERS:
            problems.append(f"igmpv3 report to {ip4_str(ip[16:20])}, not 224.0.0.22")
        if inet_checksum(l4) != 0:
            problems.append("igmpv3 checksum")
        if len(l4) < 8:
            return "igmp", [], problems + ["igmpv3 report truncated"]
        nrec = struct.unpack(">H", l4[6:8])[0]
        if nrec == 0:
            problems.append("igmpv3 report with no records")
        groups, q = [], 8
        for _ in range(nrec):
            if q + 8 > len(l4):
                problems.append("igmpv3 record past the end of the report")
                break
            rtype, aux, nsrc = l4[q], l4[q + 1], struct.unpack(">H", l4[q + 2:q + 4])[0]
            g = ip4_str(l4[q + 4:q + 8])
            if rtype != 2:
                problems.append(f"igmpv3 record type {rtype} (want MODE_IS_EXCLUDE)")
            if nsrc:
                problems.append(f"igmpv3 record with {nsrc} sources (want EXCLUDE {{}})")
            if aux:
                problems.append(f"igmpv3 record aux data len {aux}")
            if g in groups:
                problems.append("igmpv3 group twice in one report")
            groups.append(g)
            q += 8 + 4 * nsrc + 4 * aux
        if q < len(l4):
            problems.append(f"igmpv3 report: {len(l4) - q} octets after the records")
        return "igmp", groups, problems
    if proto == 17 and len(l4) >= 8 + 240:
        sport, dport = struct.unpack(">HH", l4[0:4])
        d = l4[8:]
        if (sport, dport) != (68, 67) or d[236:240] != b"\x63\x82\x53\x63":
            return "other", [], ["udp but not dhcp"]
        if d[0] != 1:
            problems.append("dhcp op != BOOTREQUEST")
        if d[12:16] != b"\0\0\0\0":
            problems.append("dhcp ciaddr != 0")
        if d[10:12] != b"\0\0":
            problems.append("dhcp flags != 0")
        if d[28:34] != src:
            problems.append("dhcp chaddr != source MAC")
        opts, i = {}, 240
        while i < len(d):
            c = d[i]
            if c == 0:
                i += 1
                continue
            if c == 255 or i + 1 >= len(d):
                break
            ln = d[i + 1]
            opts[c] = d[i + 2:i + 2 + ln]
            i += 2 + ln
        if opts.get(53) != b"\x03":
            problems.append("dhcp not a REQUEST")
        if 54 in opts:
            problems.append("dhcp INIT-REBOOT with a server id")
        if opts.get(61) != bytes([1]) + src:
            problems.append("dhcp client-id not the learned one")
        req = opts.get(50)
        return "dhcp", [ip4_str(req) if req and len(req) == 4 else None], problems
    return "other", [], [f"ip proto {proto}"]


def parse_ecp(data):
    """[(tlv type, status, mac)] of the VSI TLVs in an ECP request, or None."""
    if len(data) < 18 or struct.unpack(">H", data[12:14])[0] != ETH_P_ECP:
        return None
    hdr = struct.unpack(">H", data[14:16])[0]
    op = (hdr >> 10) & 0x3
    if op != 0:
        return None
    out, p = [], data[18:]
    while len(p) >= 2:
        th = struct.unpack(">H", p[0:2])[0]
        t, ln = th >> 9, th & 0x1ff
        body = p[2:2 + ln]
        p = p[2 + ln:]
        if t == 0:
            break
        if 1 <= t <= 4 and len(body) >= 26:
            status, ffmt = body[0], body[22]
            n = struct.unpack(">H", body[23:25])[0]
            q = body[25:]
            for _ in range(n):
                if ffmt in (3, 4):
                    q = q[4:]
                mac = None
                if ffmt in (2, 4):
                    mac, q = q[:6], q[6:]
                q = q[2:]
                out.append((t, status, mac_str(mac) if mac else None))
    return out


# ---------------------------------------------------------------- control socket

class Control:
    def __init__(self, path):
        self.path = path
        self.next_id = 1

    async def open(self):
        self.reader, self.writer = await asyncio.open_unix_connection(self.path, limit=64 * 1024 * 1024)

    async def call(self, method, params=None):
        i = self.next_id
        self.next_id += 1
        self.writer.write((json.dumps({"id": i, "method": method, "params": params or {}}) + "\n").encode())
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("control socket closed by vsimigd")
        r = json.loads(line)
        if r.get("id") != i:
            raise ConnectionError(f"reply id {r.get('id')} for request {i}")
        return r

    def close(self):
        self.writer.close()


# ---------------------------------------------------------------- the bench

def pct(vals, p):
    if not vals:
        return None
    v = sorted(vals)
    return v[min(len(v), max(1, math.ceil(p / 100 * len(v)))) - 1]     # nearest rank


class Bench:
    def __init__(self, a):
        self.a = a
        self.pid = a.pid
        host, port = a.listen.rsplit(":", 1)
        self.listen_host, self.listen_port = host, int(port)
        ack = time.time_ns() // 1000 - 60_000_000
        self.domains = [Domain(i, a.nics, a.mcast, a.groups, a.listen, ack) for i in range(a.domains)]
        self.by_uuid = {d.uuid: d for d in self.domains}
        self.by_mac = {n.mac: n for d in self.domains for n in d.nics}
        self.n_expected_items = sum(len(n.expected()) for d in self.domains for n in d.nics)
        self.want_frames = {"dhcp": 0, "igmp": 0, "garp": 0}
        for d in self.domains:
            for n in d.nics:
                for k, v in n.expected_frames().items():
                    self.want_frames[k] += v
        self.n_expected = sum(self.want_frames.values())          # frames
        self.n_min_frames = sum(2 + (1 if n.groups else 0) + 1 for d in self.domains for n in d.nics)
        self.errors = []          # the run broke
        self.notes = []           # worth saying, not fatal
        self.peer_bad = 0
        with open(a.key_file, "rb") as f:
            self.key = f.read()
        self.res = {"params": {"domains": a.domains, "nics": a.nics, "groups": a.groups, "mcast": a.mcast,
                               "vnics": a.domains * a.nics, "expected_frames": self.n_expected,
                               "expected_frames_by_kind": self.want_frames,
                               "expected_items": self.n_expected_items,
                               "expected_group_records": sum(len(n.groups) for d in self.domains
                                                             for n in d.nics),
                               "igmpv3_records_per_report": IGMPV3_RECORDS_PER_REPORT}}

    # ---- peer listener
    async def on_peer(self, reader, writer):
        d = None
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sk = None
        try:
            hello = await read_frame(reader)
            d = self.by_uuid.get(hello.get("domain"))
            why = None
            if hello.get("type") != "hello":
                why = f"first message is {hello.get('type')!r}, not hello"
            elif hello.get("version") != 2:
                why = f"hello version {hello.get('version')!r}"
            elif "token" in hello:
                why = "hello with the token in clear"
            elif d is None:
                why = f"hello for unknown domain {hello.get('domain')!r}"
            elif d.writer is not None:
                why = f"second connection for {d.name}"
            if not why:
                nonce_d = str(hello.get("nonce"))
                nonce_s = secrets.token_hex(16)
                writer.write(frame({"type": "challenge", "nonce": nonce_s,
                                    "proof": peer_proof(self.key, True, d.uuid, d.token, nonce_d, nonce_s)}))
                await writer.drain()
                # Everything after the challenge is sealed.
                sk = session_key(self.key, d.uuid, d.token, nonce_d, nonce_s)
                auth = await read_frame(reader)
                want = peer_proof(self.key, False, d.uuid, d.token, nonce_d, nonce_s)
                if auth.get("type") != "auth":
                    why = f"{d.name}: {auth.get('type')!r} instead of auth"
                elif not hmac.compare_digest(str(auth.get("proof")), want):
                    why = f"{d.name}: the destination's proof is wrong"
            if why:
                self.peer_bad += 1
                self.errors.append(f"peer: {why}")
                err = body_of({"type": "error", "reason": why})
                writer.write(sealed(sk, 0, err) if sk else struct.pack(">I", len(err)) + err)
                await writer.drain()
                writer.close()
                return
            d.hello_at = time.time_ns()
            d.sk, d.seq = sk, 1
            writer.write(sealed(sk, 0, body_of({"type": "state", "domain": d.uuid, "generation": 1,
                                                 "nics": [n.json() for n in d.nics]})))
            await writer.drain()
            d.writer = writer
            self.connected += 1
            if self.connected == len(self.domains):
                self.ev_connected.set()
            # The destination only ever sends hello and auth: anything else, or EOF, ends it.
            extra = await reader.read(1)
            d.closed_at = time.time_ns()
            d.closed_why = "closed by vsimigd" if not extra else "unexpected data from vsimigd"
        except asyncio.CancelledError:
            return                   # the run is over
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError, ConnectionError) as e:
            self.peer_bad += 1
            if d is not None:
                d.closed_at = time.time_ns()
                d.closed_why = f"error: {e!r}"
            self.notes.append(f"peer connection: {e!r}")

    # ---- hooks
    async def send_hooks(self):
        t0 = time.monotonic()
        for d in self.domains:
            xml = d.domain_xml()
            for op in ("migrate", "prepare", "start"):
                r = await self.ctl.call("hook", {"domain": d.name, "op": op, "subop": "begin", "extra": "-",
                                                 "xml": xml})
                if "error" in r:
                    self.errors.append(f"hook {d.name} {op} begin refused: {r['error']}")
                    return
                res = r["result"]
                if not res.get("followed") or res.get("role") != "destination":
                    self.errors.append(f"hook {d.name} {op} begin: {res}")
                    return
        self.res["hooks_s"] = time.monotonic() - t0

    async def wait_quiet_ecp(self, quiet_s, max_s):
        """Wait until no ECP frame arrived for quiet_s (the PRE-ASSOCIATE
        burst of the start hooks is over) and the daemon's CPU stands
        still; at most max_s."""
        t_end = time.monotonic() + max_s
        last_n, last_change = self.cap_ecp.poll(), time.monotonic()
        last_cpu = proc_cpu(self.pid)
        while time.monotonic() < t_end:
            await asyncio.sleep(0.1)
            n = self.cap_ecp.poll()
            cpu = proc_cpu(self.pid)
            if cpu is None:
                return False
            if n != last_n or cpu[1] - last_cpu[1] > 0.002:
                last_change = time.monotonic()
            last_n, last_cpu = n, cpu
            if time.monotonic() - last_change >= quiet_s:
                return True
        self.notes.append(f"the daemon did not go quiet within {max_s:.0f} s before the switchover "
                          f"(ECP frames keep coming: VDP retries); switching over anyway")
        return True

    async def wait_idle(self, max_s):
        """CPU of the daemon after the switchover until it stands still
        for 0.5 s (at most max_s): (cpu, epoch ns)."""
        t_end = time.monotonic() + max_s
        last = proc_cpu(self.pid)
        still_since = time.monotonic()
        while time.monotonic() < t_end:
            await asyncio.sleep(0.1)
            cur = proc_cpu(self.pid)
            if cur is None:
                return last, time.time_ns()
            if cur[1] - last[1] > 0.002:
                still_since = time.monotonic()
            last = cur
            if time.monotonic() - still_since >= 0.5:
                return last, time.time_ns()
        return last, time.time_ns()

    async def run(self):
        a = self.a
        self.connected = 0
        self.ev_connected = asyncio.Event()
        with NetnsSwitch(a.cap_netns):
            self.cap = Capture(a.cap_if, ETH_P_ALL, MAC_PREFIX)
            self.cap_ecp = Capture(a.cap_if, ETH_P_ECP)
        with NetnsSwitch(a.src_netns):
            lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.bind((self.listen_host, self.listen_port))
            lsock.listen(1024)
        server = await asyncio.start_server(self.on_peer, sock=lsock)
        self.ctl = Control(a.control)
        await self.ctl.open()
        self.res["start"] = {"cpu": proc_cpu(self.pid), "mem": proc_mem(self.pid)}

        print(f"switchover-synthetic: hooks for {len(self.domains)} domains "
              f"(migrate/prepare/start begin) ...", file=sys.stderr)
        await self.send_hooks()
        if self.errors:
            return await self.finish(server)
        try:
            await asyncio.wait_for(self.ev_connected.wait(), a.timeout)
        except asyncio.TimeoutError:
            self.errors.append(f"only {self.connected}/{len(self.domains)} peer connections with a good hello "
                               f"within {a.timeout} s")
            return await self.finish(server)
        self.res["connected_s"] = (max(d.hello_at for d in self.domains) - min(d.hello_at for d in self.domains)) / 1e9
        print(f"switchover-synthetic: {3 * len(self.domains)} hook calls in {self.res['hooks_s']:.2f} s, "
              f"{self.connected} peer connections up; waiting for the PRE-ASSOCIATE burst to end ...",
              file=sys.stderr)
        await self.wait_quiet_ecp(1.0, a.settle_max)
        if not alive(self.pid):
            self.errors.append("vsimigd died before the switchover")
            return await self.finish(server)
        gone = [d.name for d in self.domains if d.closed_at is not None]
        if gone:
            self.errors.append(f"{len(gone)} peer connection(s) closed before the switchover: {gone[:5]}")
            return await self.finish(server)
        early = self.cap.poll()
        if early:
            self.errors.append(f"{early} replay frame(s) on the uplink before the switchover")
        await asyncio.sleep(0)

        perf = None
        if a.perf:
            # Profile the daemon from just before T0 until it is idle again.
            # Sample times on CLOCK_REALTIME, the clock of T0 and of the
            # frames' kernel stamps: run.sh cuts the profile to the window
            # T0 -> last replay frame (result.json "perf_window").
            freq = str(a.perf_freq or (500 if a.perf_dwarf else 2000))
            cg = ["--call-graph", "dwarf,16384"] if a.perf_dwarf else ["-g"]
            perf = subprocess.Popen(["perf", "record", "-q", *cg, "-F", freq, "-k", "CLOCK_REALTIME",
                                     "-p", str(self.pid), "-o", a.perf],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            await asyncio.sleep(1.0)

        # ---- the switchover: every message prepared, then written in one go
        parts = []
        for d in self.domains:
            # vsimigd's source sends only the vNICs changed since the last
            # "state" (none here); --switchover-nics all sends every one.
            nics = [n.json() for n in d.nics] if a.switchover_nics == "all" else []
            head = json.dumps({"type": "switchover", "domain": d.uuid, "generation": 2,
                               "nics": nics}, separators=(",", ":"))
            assert head.endswith("}")
            parts.append((d, head[:-1].encode() + b',"suspended_at":', b"}"))
        # The main loop's longest dispatch from here on (the setup's hook
        # calls and peer handshakes are not the switchover's).
        r = await self.ctl.call("loop.reset")
        loop_setup_us = (r.get("result") or {}).get("loop_max_dispatch_since_reset_us")
        cpu0, mem0 = proc_cpu(self.pid), proc_mem(self.pid)
        load0 = os.getloadavg()
        t0 = time.time_ns()
        us = str(t0 // 1000).encode()
        for d, pre, post in parts:
            body = pre + us + post
            d.writer.write(sealed(d.sk, d.seq, body))
            d.seq += 1
        t_sent = time.time_ns()
        for d, _, _ in parts:
            await d.writer.drain()
        t_drained = time.time_ns()
        print(f"switchover-synthetic: {len(parts)} SWITCHOVERs sent; waiting for {self.n_expected} "
              f"replay frames on the uplink ({self.n_expected_items} items: DHCP REQUESTs, IGMPv3 group "
              f"records, GARPs) ...", file=sys.stderr)

        # ---- wait for the frames: poll the counters only.  The expected
        # frame count assumes vsimigd's packing of IGMPv3 records; should it
        # pack tighter (fewer reports), stop once at least the minimum (one
        # report per vNIC) arrived and nothing came for 1 s.  The analysis
        # afterwards checks the items, whatever the packing.
        t_limit = time.monotonic() + a.timeout
        t_done = cpu_done = None
        i = 0
        last_n, last_change = -1, time.monotonic()
        while time.monotonic() < t_limit:
            n = self.cap.poll()
            if n >= self.n_expected:
                t_done, cpu_done = time.time_ns(), proc_cpu(self.pid)
                break
            if n != last_n:
                last_n, last_change = n, time.monotonic()
            elif n >= self.n_min_frames and time.monotonic() - last_change >= 1.0:
                break
            i += 1
            if i % 25 == 0 and not alive(self.pid):
                break
            await asyncio.sleep(0.002)
        # Anything beyond the expected count (duplicates) still on its way.
        await asyncio.sleep(0.3)
        cpu_idle, t_idle = await self.wait_idle(a.idle_max)
        if perf:
            perf.send_signal(signal.SIGINT)
            try:
                perf.wait(30)
            except subprocess.TimeoutExpired:
                perf.kill()
                perf.wait()
        if not alive(self.pid):
            self.errors.append("vsimigd died during the switchover")
        mem1 = proc_mem(self.pid)

        frames = self.cap.drain()
        ecp = self.cap_ecp.drain()
        self.res["switchover"] = {
            "t0_ns": t0, "send_ms": (t_sent - t0) / 1e6, "drained_ms": (t_drained - t0) / 1e6,
            "done_detected_ms": (t_done - t0) / 1e6 if t_done else None,
            "cpu_before": cpu0, "cpu_done": cpu_done, "cpu_idle": cpu_idle,
            "idle_after_ms": (t_idle - t0) / 1e6, "mem_before": mem0, "mem_after": mem1,
            "capture_drops": self.cap.drops + self.cap_ecp.drops,
            "loadavg_before": load0, "loadavg_after": os.getloadavg(), "cpus": os.cpu_count(),
            "loop_max_dispatch_setup_us": loop_setup_us,
        }
        self.analyse(t0, frames, ecp)
        if perf and self.res["wire"].get("last_ms") is not None:
            t_last = t0 + int(self.res["wire"]["last_ms"] * 1e6)
            self.res["perf_window"] = {
                "t0_to_last_frame": f"{t0 // 10**9}.{t0 % 10**9 // 1000:06d},"
                                    f"{t_last // 10**9}.{t_last % 10**9 // 1000:06d}",
                "t0_to_idle": f"{t0 // 10**9}.{t0 % 10**9 // 1000:06d},"
                              f"{t_idle // 10**9}.{t_idle % 10**9 // 1000:06d}",
            }

        # ---- what the daemon says
        shows = {}
        for d in self.domains:
            r = await self.ctl.call("show", {"domain": d.uuid})
            shows[d.uuid] = r.get("result") or {"error": r.get("error")}
        status = (await self.ctl.call("status"))
        self.analyse_daemon(shows, status.get("result") or {})
        with open(os.path.join(a.out, "show.json"), "w") as f:
            json.dump(shows, f)
        with open(os.path.join(a.out, "status.json"), "w") as f:
            json.dump(status, f, indent=1)
        return await self.finish(server)

    async def finish(self, server):
        self.res["end"] = {"cpu": proc_cpu(self.pid), "mem": proc_mem(self.pid), "alive": alive(self.pid),
                           "rss_by_file": proc_rss_by_file(self.pid)}
        for d in self.domains:
            if d.writer is not None:
                d.writer.close()
        server.close()
        self.ctl.close()
        await asyncio.sleep(0.05)
        self.res["errors"] = self.errors
        self.res["notes"] = self.notes
        return not self.errors

    def analyse(self, t0, frames, ecp):
        """Frames and items.  An item (a vNIC's DHCP REQUEST, one of its
        groups as an IGMPv3 record, one of its GARPs) must be seen exactly
        once; a missing, wrong or unexpected item breaks the run, a
        duplicate is a note.  The frame count per kind is reported; a frame
        count off the expected one with every item right (another packing
        of the records) is a note, not breakage."""
        exp = {n.mac: n.expected() for d in self.domains for n in d.nics}
        seen = {m: set() for m in exp}
        kinds = {"dhcp": 0, "igmp": 0, "garp": 0, "other": 0}
        records = 0                  # IGMPv3 group records in the reports, all
        per_report = {}              # records per report -> reports
        dup = bad = unknown = 0
        dup_by_kind = {}
        problems = {}
        per_dom_last, per_dom_first = {}, {}
        per_nic_first = {}

        def problem(p):
            problems[p] = problems.get(p, 0) + 1

        for ts, data in frames:
            nic = self.by_mac.get(bytes(data[6:12]))
            kind, keys, probs = classify(data)
            kinds[kind] += 1
            if kind == "igmp":
                records += len(keys)
                per_report[len(keys)] = per_report.get(len(keys), 0) + 1
            for p in probs:
                problem(p)
            if probs:
                bad += 1
            if nic is None:
                unknown += 1
                continue
            frame_bad = False
            for key in keys:
                item = (kind, key)
                if item not in exp[nic.mac]:
                    problem(f"unexpected {kind} {key}")
                    frame_bad = True
                elif item in seen[nic.mac]:
                    dup += 1
                    dup_by_kind[kind] = dup_by_kind.get(kind, 0) + 1
                seen[nic.mac].add(item)
            if frame_bad and not probs:
                bad += 1
            du = nic.dom.uuid
            per_dom_last[du] = max(per_dom_last.get(du, 0), ts)
            per_dom_first[du] = min(per_dom_first.get(du, ts), ts)
            per_nic_first.setdefault(nic.mac, ts)
        missing_by_kind = {"dhcp": 0, "igmp": 0, "garp": 0}
        want = {"dhcp": 0, "igmp": 0, "garp": 0}        # items
        got_by_kind = {"dhcp": 0, "igmp": 0, "garp": 0}
        nics_complete = 0
        for m in exp:
            for k, _ in exp[m]:
                want[k] += 1
            for k, _ in exp[m] - seen[m]:
                missing_by_kind[k] += 1
            for k, _ in exp[m] & seen[m]:
                got_by_kind[k] += 1
            nics_complete += exp[m] <= seen[m]
        missing = sum(missing_by_kind.values())
        got = sum(got_by_kind.values())
        ts_all = [ts for ts, _ in frames]
        r = {
            "frames": len(frames), "expected": self.n_expected, "frames_by_kind": kinds,
            "want_frames_by_kind": self.want_frames, "igmp_records": records,
            "igmp_records_per_report": {str(k): v for k, v in sorted(per_report.items())},
            "items_expected": self.n_expected_items, "items_seen": got, "missing": missing,
            "items_by_kind": got_by_kind, "want_items_by_kind": want, "missing_by_kind": missing_by_kind,
            "vnics_complete": nics_complete,
            "duplicates": dup, "duplicates_by_kind": dup_by_kind, "bad": bad, "unknown_source": unknown,
            "problems": problems,
            "first_ms": (min(ts_all) - t0) / 1e6 if ts_all else None,
            "last_ms": (max(ts_all) - t0) / 1e6 if ts_all else None,
            "per_domain_last_ms": sorted((v - t0) / 1e6 for v in per_dom_last.values()),
            "per_domain_span_ms": sorted((per_dom_last[u] - per_dom_first[u]) / 1e6 for u in per_dom_last),
            "before_t0": sum(1 for t in ts_all if t < t0),
        }
        if ts_all:
            srt = sorted(ts_all)
            r["p50_frame_ms"] = (srt[len(srt) // 2] - t0) / 1e6
        # VDP: which vNICs got their ASSOCIATE (M) on the wire after T0, and
        # whether it came before that vNIC's first replay frame.
        assoc_first = {}
        n_ecp_req = n_ecp_after = 0
        for ts, data in ecp:
            tl = parse_ecp(data)
            if tl is None:
                continue
            n_ecp_req += 1
            if ts < t0:
                continue
            n_ecp_after += 1
            for t, status, mac in tl:
                if t == 3 and status & 0x10 and mac:
                    assoc_first.setdefault(mac, ts)
        nic_by_s = {n.mac_s: n for d in self.domains for n in d.nics}
        before = sum(1 for m, ts in assoc_first.items()
                     if m in nic_by_s and nic_by_s[m].mac in per_nic_first and ts <= per_nic_first[nic_by_s[m].mac])
        r["vdp"] = {
            "ecp_requests_total": n_ecp_req, "ecp_requests_after_t0": n_ecp_after,
            "assoc_m_vnics": len(assoc_first), "assoc_m_before_first_replay_frame": before,
            "first_assoc_ms": (min(assoc_first.values()) - t0) / 1e6 if assoc_first else None,
            "last_assoc_ms": (max(assoc_first.values()) - t0) / 1e6 if assoc_first else None,
        }
        self.res["wire"] = r
        if missing:
            self.errors.append(f"{missing} of {self.n_expected_items} expected replay items not seen on the uplink "
                               f"(DHCP REQUEST {missing_by_kind['dhcp']}, IGMPv3 group record "
                               f"{missing_by_kind['igmp']}, GARP {missing_by_kind['garp']}; "
                               f"{len(exp) - nics_complete} of {len(exp)} vNICs incomplete)")
        if bad:
            self.errors.append(f"{bad} replay frame(s) wrong or unexpected: {problems}")
        if unknown:
            self.notes.append(f"{unknown} frame(s) from 52:54:00:77:* MACs that are not our vNICs")
        if not missing and not bad:
            off = {k: (kinds[k], self.want_frames[k]) for k in self.want_frames if kinds[k] != self.want_frames[k]}
            if off:
                self.notes.append("frame counts differ from the expected packing, every item right: " +
                                  ", ".join(f"{k} {g} (expected {w})" for k, (g, w) in off.items()))
        if self.res["switchover"]["capture_drops"]:
            self.errors.append(f"the capture dropped {self.res['switchover']['capture_drops']} frame(s)")
        if dup:
            self.notes.append(f"{dup} duplicate replay item(s) (seen more than once): {dup_by_kind}")

    def analyse_daemon(self, shows, status):
        s2l, late, not_replayed, no_sw, frames = [], 0, [], [], 0
        peers = {}
        for u, sh in shows.items():
            c = (sh or {}).get("carry") or {}
            if "suspended_to_last_frame_ms" in c:
                s2l.append(c["suspended_to_last_frame_ms"])
            if c.get("replay_late"):
                late += 1
            if not c.get("replayed"):
                not_replayed.append(self.by_uuid[u].name)
            if not c.get("switchover_received"):
                no_sw.append(self.by_uuid[u].name)
            frames += c.get("replay_frames", 0) or 0
            p = str(c.get("peer"))
            p = p if len(p) < 60 else p[:57] + "..."
            peers[p] = peers.get(p, 0) + 1
        self.res["daemon"] = {
            "suspended_to_last_frame_ms": sorted(s2l), "replay_late": late, "not_replayed": not_replayed,
            "no_switchover": no_sw, "replay_frames": frames, "peer_states": peers,
            "carry": (status.get("libvirt") or {}).get("carry"),
            "loop_max_dispatch_us": status.get("loop_max_dispatch_us"),
            "loop_max_dispatch_since_reset_us": status.get("loop_max_dispatch_since_reset_us"),
            "loop": status.get("loop"),
            "uplinks": [{"name": u.get("name"), "counters": u.get("counters")} for u in status.get("uplinks", [])],
        }
        if not_replayed:
            self.errors.append(f"{len(not_replayed)} domain(s) not replayed by the daemon: {not_replayed[:5]}")


# ---------------------------------------------------------------- table

def table(res, targets):
    p = res["params"]
    w = res.get("wire") or {}
    sw = res.get("switchover") or {}
    dm = res.get("daemon") or {}
    rows = []

    def ms(v):
        return "-" if v is None else f"{v:.1f} ms"

    def row(name, val, target=""):
        rows.append((name, val, target))

    if res.get("hooks_s"):
        row("setup: hook calls (migrate/prepare/start begin)",
            f"{3 * p['domains']} in {res['hooks_s']:.2f} s ({res['hooks_s'] * 1000 / (3 * p['domains']):.1f} ms each)")
    row("SWITCHOVERs written (T0 -> last write)", ms(sw.get("send_ms")))
    row("T0 -> first replay frame on the uplink", ms(w.get("first_ms")))
    row("T0 -> median replay frame", ms(w.get("p50_frame_ms")))
    row("T0 -> last replay frame on the uplink", ms(w.get("last_ms")), f"<= {targets['last_ms']:.0f} ms")
    pd = w.get("per_domain_last_ms") or []
    row("per domain T0 -> its last frame (wire) median / p95",
        f"{ms(statistics.median(pd))} / {ms(pct(pd, 95))}" if pd else "-")
    s2l = dm.get("suspended_to_last_frame_ms") or []
    row("per domain SUSPENDED -> last frame (vsimigctl show) median / p95",
        f"{ms(statistics.median(s2l))} / {ms(pct(s2l, 95))}  (n={len(s2l)})" if s2l else "- (not reported)")
    sp = w.get("per_domain_span_ms") or []
    row("per domain first -> last frame (wire) median / max",
        f"{ms(statistics.median(sp))} / {ms(max(sp))}" if sp else "-")
    wf, bk = w.get("want_frames_by_kind") or {}, w.get("frames_by_kind") or {}
    row("replay frames seen / expected",
        f"{w.get('frames', 0) - bk.get('other', 0)} / {p['expected_frames']}"
        f"  (bad {w.get('bad', '-')}, other {bk.get('other', 0)})", "all")
    row("  dhcp / igmpv3 reports / garp frames seen (expected)",
        " / ".join(f"{bk.get(k, 0)} ({wf.get(k, 0)})" for k in ("dhcp", "igmp", "garp")))
    rpr = w.get("igmp_records_per_report") or {}
    if rpr:
        row("  records per IGMPv3 report: reports",
            ", ".join(f"{k}: {v}" for k, v in sorted(rpr.items(), key=lambda kv: int(kv[0]))))
    ib, wi, mk = w.get("items_by_kind") or {}, w.get("want_items_by_kind") or {}, w.get("missing_by_kind") or {}
    dk = w.get("duplicates_by_kind") or {}
    row("group records seen / expected",
        f"{ib.get('igmp', 0)} / {wi.get('igmp', p.get('expected_group_records', 0))}"
        f"  (missing {mk.get('igmp', '-')}, dup {dk.get('igmp', 0)}; {w.get('igmp_records', 0)} records in all)",
        "all")
    row("DHCP REQUESTs / GARPs seen / expected",
        f"{ib.get('dhcp', 0)} / {wi.get('dhcp', 0)}, {ib.get('garp', 0)} / {wi.get('garp', 0)}"
        f"  (missing {mk.get('dhcp', '-')} / {mk.get('garp', '-')}, dup {dk.get('dhcp', 0)} / {dk.get('garp', 0)})",
        "all")
    row("vNICs with everything (DHCP, every group, GARPs)", f"{w.get('vnics_complete', 0)} / {p['vnics']}", "all")
    v = w.get("vdp") or {}
    row("VDP ASSOCIATE (M) on the wire, vNICs (first / last)",
        f"{v.get('assoc_m_vnics', 0)} / {p['vnics']}  ({ms(v.get('first_assoc_ms'))} / {ms(v.get('last_assoc_ms'))})",
        "no EVB bridge: unacked")
    row("  ... of them before the vNIC's first replay frame", f"{v.get('assoc_m_before_first_replay_frame', 0)}")
    mb, ma = sw.get("mem_before") or {}, (res.get("end") or {}).get("mem") or {}
    hwm = ma.get("VmHWM") or (sw.get("mem_after") or {}).get("VmHWM")
    row("vsimigd peak RSS (VmHWM)", f"{hwm / 1024:.1f} MiB" if hwm else "-", f"<= {targets['rss_mib']:.0f} MiB")
    ms0 = (res.get("start") or {}).get("mem") or {}
    row("  VmRSS at start / before the switchover / at the end",
        " / ".join(f"{(m.get('VmRSS') or 0) / 1024:.1f}" for m in (ms0, mb, ma)) + " MiB")
    anon = [m.get("RssAnon") for m in (ms0, mb, (sw.get("mem_after") or {}), ma) if m.get("RssAnon")]
    row("vsimigd anonymous RSS (RssAnon), largest sample",
        f"{max(anon) / 1024:.1f} MiB" if anon else "-", f"<= {targets.get('anon_mib', 8):.0f} MiB")
    row("  RssAnon at start / before the switchover / at the end",
        " / ".join(f"{(m.get('RssAnon') or 0) / 1024:.1f}" for m in (ms0, mb, ma)) + " MiB")
    row("  RssFile (file-backed: libraries' pages) start / before / end",
        " / ".join(f"{(m.get('RssFile') or 0) / 1024:.1f}" for m in (ms0, mb, ma)) + " MiB", "not ours")
    lr = dm.get("loop_max_dispatch_since_reset_us")
    row("vsimigd loop_max_dispatch_us, T0 -> end of the run",
        f"{lr / 1000:.2f} ms" if lr is not None else "- (no loop.reset)", "<= 2 ms (issue 10)")
    la, ls = dm.get("loop_max_dispatch_us"), sw.get("loop_max_dispatch_setup_us")
    row("  ... since start (setup: hooks, peer handshakes) / setup alone",
        f"{la / 1000:.2f} ms / {ls / 1000:.2f} ms" if la is not None and ls is not None else "-")
    mc = (dm.get("carry") or {}).get("mdb_cache")
    if isinstance(mc, dict):
        row("vsimigd mdb cache: entries / notifications / dumps / resyncs / overflow",
            f"{mc.get('entries')} / {mc.get('notifications')} / {mc.get('dumps')} / {mc.get('resyncs')}"
            f" / {mc.get('overflow')}")
    top = (res.get("end") or {}).get("rss_by_file") or []
    if top:
        row("  largest resident mappings at the end (MiB)",
            ", ".join(f"{n.split('.so')[0]} {k / 1024:.1f}" for n, k in top[:4]))
    c0, cd, ci = sw.get("cpu_before"), sw.get("cpu_done"), sw.get("cpu_idle")
    if c0 and cd:
        row("vsimigd CPU T0 -> all frames seen (utime+stime; exact)",
            f"{(cd[0] - c0[0]) * 1000:.0f} ms; {(cd[1] - c0[1]) * 1000:.1f} ms")
    if c0 and ci:
        row(f"vsimigd CPU T0 -> idle ({sw.get('idle_after_ms', 0) / 1000:.1f} s)",
            f"{(ci[0] - c0[0]) * 1000:.0f} ms; {(ci[1] - c0[1]) * 1000:.1f} ms")
    ce = (res.get("end") or {}).get("cpu")
    if ce:
        row("vsimigd CPU total, start -> end of the run", f"{ce[0] * 1000:.0f} ms; {ce[1] * 1000:.1f} ms")
    nw = max(len(r[0]) for r in rows)
    vw = max(len(r[1]) for r in rows)
    out = [f"switchover-synthetic: D={p['domains']} domains x N={p['nics']} vNICs x G={p['groups']} groups "
           f"({p['mcast']} groups), {p['vnics']} vNICs, {p['expected_frames']} replay frames expected "
           f"(per vNIC: DHCP REQUEST, IGMPv3 report(s) with its {p['groups']} records, 2 GARPs)",
           f"{'':{nw}}  {'measured':{vw}}  target", "-" * (nw + vw + 26)]
    out += [f"{n:{nw}}  {v:{vw}}  {t}" for n, v, t in rows]
    la, lb = sw.get("loadavg_before"), sw.get("loadavg_after")
    if la:
        out.append(f"host: {sw.get('cpus')} CPUs; load average (1 min) {la[0]:.2f} before T0, {lb[0]:.2f} after "
                   f"(other load on the host distorts the wall-clock figures; CPU figures less so)")
    out.append("T0 = just before the first SWITCHOVER write (also its suspended_at); frame times are kernel "
               "receive stamps on the switch end of the uplink, same clock.")
    out.append("CPU: utime+stime from /proc/PID/stat (10 ms ticks); exact = sum of the threads' "
               "schedstat run time.  Targets are printed, not asserted.")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--control", required=True)
    r.add_argument("--listen", required=True)
    r.add_argument("--key-file", required=True, help="the [peer] key-file vsimigd was given")
    r.add_argument("--src-netns", required=True)
    r.add_argument("--cap-netns", required=True)
    r.add_argument("--cap-if", required=True)
    r.add_argument("--domains", type=int, required=True)
    r.add_argument("--nics", type=int, required=True)
    r.add_argument("--groups", type=int, required=True)
    r.add_argument("--mcast", choices=("distinct", "shared"), default="distinct")
    r.add_argument("--switchover-nics", choices=("changed", "all"), default="changed",
                   help="SWITCHOVER carries the changed vNIC states (none: like vsimigd's source) or all of them")
    r.add_argument("--timeout", type=float, default=60)
    r.add_argument("--settle-max", type=float, default=30)
    r.add_argument("--idle-max", type=float, default=15)
    r.add_argument("--target-ms", type=float, default=20)
    r.add_argument("--target-rss-mib", type=float, default=16)
    r.add_argument("--target-anon-mib", type=float, default=8)
    r.add_argument("--out", required=True)
    r.add_argument("--perf", help="perf record the daemon from just before T0 until idle, into this file")
    r.add_argument("--perf-dwarf", action="store_true", help="with --perf: DWARF call graphs")
    r.add_argument("--perf-freq", type=int, help="with --perf: sampling frequency (2000 Hz, DWARF 500 Hz)")
    t = sub.add_parser("table")
    t.add_argument("result")
    a = ap.parse_args()
    targets = None
    if a.cmd == "table":
        res = json.load(open(a.result))
        print(table(res, res["targets"]))
        return 0
    targets = {"last_ms": a.target_ms, "rss_mib": a.target_rss_mib, "anon_mib": a.target_anon_mib}
    b = Bench(a)
    try:
        ok = asyncio.run(b.run())
    except (OSError, ConnectionError) as e:
        b.errors.append(f"{type(e).__name__}: {e}")
        b.res["errors"] = b.errors
        ok = False
    b.res["targets"] = targets
    with open(os.path.join(a.out, "result.json"), "w") as f:
        json.dump(b.res, f, indent=1)
    if "wire" in b.res:
        print(table(b.res, targets))
    for n in b.res.get("notes", []):
        print(f"note: {n}")
    for e in b.res.get("errors", []):
        print(f"RUN BROKEN: {e}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

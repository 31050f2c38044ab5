#!/usr/bin/env python3
"""Hostile and honest clients of vsimigd's peer channel (protocol version
2, src/daemon/peer.h), for tests/integration/test-peer-auth.sh.  Standard
library only.

  peerauth.py client HOST PORT UUID TOKEN [KEYFILE]
        a destination by hand: hello (fresh nonce), then the source's
        challenge, checked with KEYFILE (or, without one, keyed by the
        token alone, which is all a libvirt read-only client has), then
        auth with the same key.  Prints one line per step:
          "challenge proof-ok" / "challenge proof-bad"
          "reply {json}" for every message that follows (frames after
          the challenge are sealed: "reply (MAC not verified) {json}"
          when the MAC does not check out under our session key)
          "closed" / "still-open" / "timeout" / "refused ERR"
  peerauth.py client-v1 HOST PORT UUID TOKEN
        the version 1 hello (token in clear); prints the reply likewise
  peerauth.py fake-origin ADDR PORT LOG
        a fake source at ADDR:PORT until killed: to every hello it answers
        a challenge with a random proof, then a SWITCHOVER for the domain
        (what an attacker answering at the origin would like the
        destination to act on); one line per event in LOG
  peerauth.py keyed-origin ADDR PORT KEYFILE TOKEN LOG [MAC IP]
        a source that holds the key and the token (so the destination
        authenticates it) but sends the SWITCHOVER at once, right after
        the handshake, whatever the destination's domain is doing (with
        MAC IP: one vNIC MAC with the address IP, which only the
        SWITCHOVER carries); frames sealed as a real source seals them;
        one line per event in LOG; runs until killed
  peerauth.py keyed-source ADDR PORT KEYFILE TOKEN LOG STATE_NIC SW_NIC GO
        a source that holds the key and the token and behaves like a real
        one, for one connection: after the handshake a STATE with the vNIC
        state STATE_NIC (JSON), then, once the file GO exists (at most
        30 s), a SWITCHOVER carrying only SW_NIC (JSON: the vNIC's final
        changes) and suspended_at = now; then waits until the destination
        closes; one line per event in LOG ("switchover sent at USEC");
        with PA_CT_PRESTAGE / PA_CT_DELTA in the environment (base64
        conntrack records), a "conntrack" pre-stage batch after the STATE
        and a delta batch just before the SWITCHOVER
  peerauth.py replay PCAP SERVER_PORT HOST PORT
        the destination's octets of the first connection to SERVER_PORT in
        PCAP (hello and auth of an earlier, real exchange), sent verbatim to
        HOST:PORT; prints what comes back as for client
  peerauth.py flood HOST PORT N SECONDS [SRC]
        N connections from one address (SRC, or the default), spread over
        SECONDS, each sending 2 octets of a length prefix and nothing more
        (slowloris); prints "opened A refused R reset E closed-by-server C"
"""
import hashlib
import hmac
import json
import os
import resource
import secrets
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vsmtest import read_pcap  # noqa: E402


def proof(key, source, domain, token, nd, ns):
    label = "vsimig-peer-v2 source" if source else "vsimig-peer-v2 destination"
    msg = b"".join(f.encode() + b"\0" for f in (label, domain, token, nd, ns))
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def frame(obj):
    b = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", len(b)) + b


def session_key(key, domain, token, nd, ns):
    msg = b"".join(f.encode() + b"\0" for f in ("vsimig-peer-v2 session", domain, token, nd, ns))
    return hmac.new(key, msg, hashlib.sha256).digest()


def frame_mac(sk, from_source, seq, body):
    label = b"vsimig-peer-v2 source frame\0" if from_source else b"vsimig-peer-v2 destination frame\0"
    return hmac.new(sk, label + struct.pack(">Q", seq) + body, hashlib.sha256).digest()


def sealed(sk, seq, obj):
    """A frame after the handshake, from the source (src/daemon/peer.h)."""
    b = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", 32 + len(b)) + frame_mac(sk, True, seq, b) + b


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b


def recv_frame(s):
    hdr = recv_exact(s, 4)
    if hdr is None:
        return None
    n = struct.unpack(">I", hdr)[0]
    if n == 0 or n > 1 << 20:
        raise ValueError(f"length {n}")
    return recv_exact(s, n)


def recv_msg(s):
    body = recv_frame(s)
    return None if body is None else json.loads(body)


def print_rest(s, limit=4, sealed_from=None, sk=None):
    """Every message until the peer closes (or is quiet for 3 s).  Frames
    after a challenge (or all, with sealed_from=0) are sealed: their MAC
    is checked with sk (sequence from sealed_from) when we have one."""
    seq = sealed_from
    try:
        for _ in range(limit):
            raw = recv_frame(s)
            if raw is None:
                print("closed")
                return
            if seq is None:
                m = json.loads(raw)
                print("reply " + json.dumps(m))
                if m.get("type") == "challenge":
                    seq = 0
                continue
            mac, body = raw[:32], raw[32:]
            ok = sk is not None and hmac.compare_digest(mac, frame_mac(sk, True, seq, body))
            seq += 1
            print("reply " + ("" if ok else "(MAC not verified) ") + json.dumps(json.loads(body)))
        print("still-open")
    except socket.timeout:
        print("still-open")
    except (OSError, ValueError) as e:
        print(f"closed ({e})")


def connect(host, port):
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
    except OSError as e:
        print(f"refused {e}")
        sys.exit(0)
    s.settimeout(3)
    return s


def client(host, port, uuid, token, keyfile=None):
    key = open(keyfile, "rb").read() if keyfile else token.encode()
    s = connect(host, port)
    nd = secrets.token_hex(16)
    s.sendall(frame({"type": "hello", "version": 2, "domain": uuid, "nonce": nd}))
    try:
        ch = recv_msg(s)
    except socket.timeout:
        print("timeout")
        return 0
    if ch is None:
        print("closed")
        return 0
    if ch.get("type") != "challenge":
        print("reply " + json.dumps(ch))
        print_rest(s)
        return 0
    ok = hmac.compare_digest(ch["proof"], proof(key, True, uuid, token, nd, ch["nonce"]))
    print("challenge " + ("proof-ok" if ok else "proof-bad"))
    # Go on anyway: the test wants the source's answer to our proof.
    s.sendall(frame({"type": "auth", "proof": proof(key, False, uuid, token, nd, ch["nonce"])}))
    print_rest(s, sealed_from=0, sk=session_key(key, uuid, token, nd, ch["nonce"]))
    return 0


def client_v1(host, port, uuid, token):
    s = connect(host, port)
    s.sendall(frame({"type": "hello", "version": 1, "domain": uuid, "token": token}))
    print_rest(s)
    return 0


def fake_origin(addr, port, log):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, int(port)))
    ls.listen(16)
    out = open(log, "a", buffering=1)
    out.write(f"listening {addr}:{port}\n")
    while True:
        c, peer = ls.accept()
        c.settimeout(5)
        try:
            hello = recv_msg(c)
            out.write(f"hello from {peer[0]}: {json.dumps(hello)}\n")
            if not hello or hello.get("type") != "hello":
                continue
            dom = hello.get("domain", "")
            c.sendall(frame({"type": "challenge", "nonce": secrets.token_hex(16), "proof": secrets.token_hex(32)}))
            c.sendall(frame({"type": "switchover", "domain": dom, "generation": 99, "nics": [],
                             "suspended_at": time.time_ns() // 1000}))
            out.write("sent challenge (random proof) and switchover\n")
            m = recv_msg(c)
            out.write(f"then: {json.dumps(m) if m is not None else 'closed by the destination'}\n")
        except (OSError, ValueError) as e:
            out.write(f"connection: {e!r}\n")
        finally:
            c.close()


def keyed_origin(addr, port, keyfile, token, log, mac=None, ip=None):
    key = open(keyfile, "rb").read()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, int(port)))
    ls.listen(16)
    out = open(log, "a", buffering=1)
    out.write(f"listening {addr}:{port}\n")
    while True:
        c, peer = ls.accept()
        c.settimeout(5)
        try:
            hello = recv_msg(c)
            out.write(f"hello from {peer[0]}: {json.dumps(hello)}\n")
            if not hello or hello.get("type") != "hello":
                continue
            dom, nd, ns = hello.get("domain", ""), hello.get("nonce", ""), secrets.token_hex(16)
            c.sendall(frame({"type": "challenge", "nonce": ns, "proof": proof(key, True, dom, token, nd, ns)}))
            auth = recv_msg(c)
            ok = auth is not None and hmac.compare_digest(str(auth.get("proof")),
                                                          proof(key, False, dom, token, nd, ns))
            out.write(f"auth {'ok' if ok else 'bad'}: {json.dumps(auth)}\n")
            sk = session_key(key, dom, token, nd, ns)
            nics = [{"mac": mac, "client_id": {"state": "unknown"}, "groups": [], "ip4": [ip], "ip6": []}] if mac else []
            c.sendall(sealed(sk, 0, {"type": "state", "domain": dom, "generation": 1, "nics": []}))
            c.sendall(sealed(sk, 1, {"type": "switchover", "domain": dom, "generation": 2, "nics": nics,
                                     "suspended_at": time.time_ns() // 1000}))
            out.write("sent state and switchover\n")
            m = recv_msg(c)
            out.write(f"then: {json.dumps(m) if m is not None else 'closed by the destination'}\n")
        except (OSError, ValueError) as e:
            out.write(f"connection: {e!r}\n")
        finally:
            c.close()


def keyed_source(addr, port, keyfile, token, log, state_nic, sw_nic, go):
    key = open(keyfile, "rb").read()
    state_nic, sw_nic = json.loads(state_nic), json.loads(sw_nic)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, int(port)))
    ls.listen(4)
    out = open(log, "a", buffering=1)
    out.write(f"listening {addr}:{port}\n")
    c, peer = ls.accept()
    c.settimeout(10)
    try:
        hello = recv_msg(c)
        out.write(f"hello from {peer[0]}: {json.dumps(hello)}\n")
        if not hello or hello.get("type") != "hello":
            return 1
        dom, nd, ns = hello.get("domain", ""), hello.get("nonce", ""), secrets.token_hex(16)
        c.sendall(frame({"type": "challenge", "nonce": ns, "proof": proof(key, True, dom, token, nd, ns)}))
        auth = recv_msg(c)
        ok = auth is not None and hmac.compare_digest(str(auth.get("proof")), proof(key, False, dom, token, nd, ns))
        out.write(f"auth {'ok' if ok else 'bad'}\n")
        if not ok:
            return 1
        sk = session_key(key, dom, token, nd, ns)
        c.sendall(sealed(sk, 0, {"type": "state", "domain": dom, "generation": 2, "nics": [state_nic]}))
        out.write("state sent\n")
        seq = 1
        # PA_CT_PRESTAGE / PA_CT_DELTA (base64 conntrack records, issue 11):
        # a "conntrack" pre-stage batch after the state, a delta batch
        # just before the switchover.
        if os.environ.get("PA_CT_PRESTAGE") is not None:
            c.sendall(sealed(sk, seq, {"type": "conntrack", "domain": dom, "phase": "prestage", "seq": 0,
                                       "last": True, "entries": os.environ["PA_CT_PRESTAGE"]}))
            seq += 1
            out.write("conntrack prestage sent\n")
        for _ in range(300):
            if os.path.exists(go):
                break
            time.sleep(0.1)
        else:
            out.write("no go file after 30 s\n")
            return 1
        if os.environ.get("PA_CT_DELTA") is not None:
            c.sendall(sealed(sk, seq, {"type": "conntrack", "domain": dom, "phase": "delta", "seq": 1,
                                       "last": True, "entries": os.environ["PA_CT_DELTA"]}))
            seq += 1
            out.write("conntrack delta sent\n")
        now = time.time_ns() // 1000
        c.sendall(sealed(sk, seq, {"type": "switchover", "domain": dom, "generation": 3, "nics": [sw_nic],
                                   "suspended_at": now}))
        out.write(f"switchover sent at {now}\n")
        c.settimeout(30)
        m = recv_frame(c)
        out.write(f"then: {'closed by the destination' if m is None else 'data'}\n")
    except (OSError, ValueError) as e:
        out.write(f"connection: {e!r}\n")
        return 1
    finally:
        c.close()
        ls.close()
    return 0


def tcp_payloads(path, server_port):
    """The client->server payload of the first TCP connection to
    server_port in the pcap (IPv4 over Ethernet), in sequence order."""
    first = None
    segs = {}
    for _t, fr in read_pcap(path):
        if len(fr) < 14 + 20 or fr[12:14] != b"\x08\x00":
            continue
        ip = fr[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 6:
            continue
        tot = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:tot]
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        off = (tcp[12] >> 4) * 4
        data = bytes(tcp[off:])
        if dport != server_port:
            continue
        conn = (bytes(ip[12:16]), sport)
        if first is None and tcp[13] & 0x02:           # SYN
            first = conn
        if conn == first and data:
            segs[seq] = data
    return b"".join(segs[k] for k in sorted(segs))


def replay(pcap, server_port, host, port):
    data = tcp_payloads(pcap, int(server_port))
    if not data:
        print("nothing captured")
        return 1
    msgs = []
    p = data
    while len(p) >= 4:
        n = struct.unpack(">I", p[:4])[0]
        msgs.append(json.loads(p[4:4 + n]))
        p = p[4 + n:]
    print("captured " + " ".join(m.get("type", "?") for m in msgs))
    s = connect(host, port)
    s.sendall(data)
    print_rest(s)
    return 0


def flood(host, port, n, secs, src=None):
    """n connections spread over secs seconds, each with 2 octets of a
    length prefix and then silence (slowloris), kept until the end."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, int(n) + 64)), hard))
    socks = []
    refused = reset = 0
    n, secs = int(n), float(secs)
    t0 = time.monotonic()
    for i in range(n):
        pause = t0 + secs * i / n - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(2)
            if src:
                s.bind((src, 0))
            s.connect((host, int(port)))
            s.sendall(b"\x00\x00")
            socks.append(s)
        except ConnectionRefusedError:
            refused += 1
        except OSError:
            reset += 1
    closed = 0
    for s in socks:
        try:
            s.setblocking(False)
            closed += s.recv(64) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    print(f"opened {len(socks)} refused {refused} reset {reset} closed-by-server {closed}")
    return 0


def main():
    a = sys.argv[1:]
    if len(a) in (5, 6) and a[0] == "client":
        return client(*a[1:])
    if len(a) == 5 and a[0] == "client-v1":
        return client_v1(*a[1:])
    if len(a) == 4 and a[0] == "fake-origin":
        return fake_origin(*a[1:])
    if len(a) in (6, 8) and a[0] == "keyed-origin":
        return keyed_origin(*a[1:])
    if len(a) == 9 and a[0] == "keyed-source":
        return keyed_source(*a[1:])
    if len(a) == 5 and a[0] == "replay":
        return replay(*a[1:])
    if len(a) in (5, 6) and a[0] == "flood":
        return flood(*a[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

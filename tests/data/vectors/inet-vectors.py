#!/usr/bin/env python3
# Builds the Python-made vectors listed in README-inet.md:
#   python3 inet-vectors.py tests/data/vectors
# Independent (Python) construction of the parse vectors; checksums here
# are computed without the C code under test.
import struct, sys, os
OUT = sys.argv[1]
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def ip4(a): return bytes(int(x) for x in a.split('.'))
import ipaddress
def ip6(a): return ipaddress.IPv6Address(a).packed
def mac(a): return bytes.fromhex(a.replace(':',''))
VM = mac('52:54:00:12:34:56'); SRV = mac('02:00:00:00:00:01'); BC = b'\xff'*6
def eth(dst, src, et, payload):
    f = dst + src + struct.pack('!H', et) + payload
    return f + b'\0' * max(0, 60 - len(f))
def ipv4(src, dst, proto, payload, ttl=64, opts=b'', tos=0, frag=0):
    hl = 20 + len(opts)
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | hl//4, tos, hl+len(payload), 0, frag, ttl, proto, 0, src, dst) + opts
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + payload
def udp4(src, dst, sp, dp, data, bad=None):
    u = struct.pack('!HHHH', sp, dp, 8+len(data), 0) + data
    c = csum(src + dst + struct.pack('!BBH', 0, 17, len(u)) + u)
    if c == 0: c = 0xffff
    if bad is not None: c = bad
    return u[:6] + struct.pack('!H', c) + u[8:]
def ipv6(src, dst, nh, payload, hlim=1, ext=b''):
    return struct.pack('!IHBB16s16s', 6 << 28, len(ext)+len(payload), nh, hlim, src, dst) + ext + payload
def icmp6(src, dst, msg):
    c = csum(src + dst + struct.pack('!IxxxB', len(msg), 58) + msg)
    return msg[:2] + struct.pack('!H', c) + msg[4:]
def opt(code, data): return bytes([code, len(data)]) + data
def bootp(op, xid, ciaddr, yiaddr, siaddr, giaddr, chaddr, opts, flags=0, sname=b'', file=b'', pad_to=300):
    m = struct.pack('!BBBBIHH4s4s4s4s16s64s128sI', op, 1, 6, 0, xid, 0, flags, ciaddr, yiaddr, siaddr, giaddr,
                    chaddr.ljust(16, b'\0'), sname.ljust(64, b'\0'), file.ljust(128, b'\0'), 0x63825363) + opts
    return m + b'\0' * max(0, pad_to - len(m))
Z = ip4('0.0.0.0'); B = ip4('255.255.255.255'); VMIP = ip4('192.0.2.10'); SRVIP = ip4('192.0.2.1')
CID = b'\x01' + VM
def w(name, frame):
    with open(os.path.join(OUT, name + '.hex'), 'w') as f:
        h = frame.hex()
        f.write('\n'.join(h[i:i+32] for i in range(0, len(h), 32)) + '\n')

# DHCPDISCOVER from the VM: 53, 61, 12 "vm1", 55, 57 (skipped), END.
d = bootp(1, 0x11223344, Z, Z, Z, Z, VM, opt(53, b'\x01') + opt(61, CID) + opt(12, b'vm1') + opt(55, bytes([1,3,6,15])) + opt(57, b'\x05\xdc') + b'\xff')
w('dhcp-discover', eth(BC, VM, 0x800, ipv4(Z, B, 17, udp4(Z, B, 68, 67, d))))
# DHCPACK from the server, unicast to the VM.
d = bootp(2, 0x11223344, Z, VMIP, SRVIP, Z, VM, opt(53, b'\x05') + opt(54, SRVIP) + opt(51, struct.pack('!I', 3600)) +
          opt(58, struct.pack('!I', 1800)) + opt(59, struct.pack('!I', 3150)) + opt(1, ip4('255.255.255.0')) +
          opt(3, SRVIP) + opt(61, CID) + b'\xff')
w('dhcp-ack', eth(VM, SRV, 0x800, ipv4(SRVIP, VMIP, 17, udp4(SRVIP, VMIP, 67, 68, d))))
# DHCPREQUEST using option overload 3; client-id split in two instances
# (options field and file, RFC 3396), requested IP in file, host name in sname.
d = bootp(1, 0x55667788, Z, Z, Z, Z, VM, opt(53, b'\x03') + opt(52, b'\x03') + opt(61, CID[:3]) + b'\xff',
          file=opt(61, CID[3:]) + opt(50, VMIP) + b'\xff', sname=opt(12, b'vm-overload') + b'\xff')
w('dhcp-request-overload', eth(BC, VM, 0x800, ipv4(Z, B, 17, udp4(Z, B, 68, 67, d))))
# DHCPREQUEST (renewing, ciaddr set) as a tap sees it from a guest with UDP
# checksum offload: the checksum field holds only the pseudo-header sum.
d = bootp(1, 0x99aabbcc, VMIP, Z, Z, Z, VM, opt(53, b'\x03') + opt(61, CID) + b'\xff')
u_len = 8 + len(d)
partial = (~csum(VMIP + SRVIP + struct.pack('!BBH', 0, 17, u_len))) & 0xffff
w('dhcp-request-partial-csum', eth(SRV, VM, 0x800, ipv4(VMIP, SRVIP, 17, udp4(VMIP, SRVIP, 68, 67, d, bad=partial))))
# BOOTP reply without option 53 and a DHCPINFORM without client-id:
d = bootp(1, 0x01020304, VMIP, Z, Z, Z, VM, opt(53, b'\x08') + b'\xff')
w('dhcp-inform-no-cid', eth(BC, VM, 0x800, ipv4(VMIP, B, 17, udp4(VMIP, B, 68, 67, d))))
# Client-id present but empty (distinct from absent).
d = bootp(1, 0x0a0b0c0d, Z, Z, Z, Z, VM, opt(53, b'\x03') + opt(61, b'') + opt(50, VMIP) + b'\xff')
w('dhcp-request-empty-cid', eth(BC, VM, 0x800, ipv4(Z, B, 17, udp4(Z, B, 68, 67, d))))

RA4 = b'\x94\x04\x00\x00'
G = ip4('239.1.2.3')
def igmp(msg): return msg[:2] + struct.pack('!H', csum(msg)) + msg[4:]
def mcmac4(a): return b'\x01\x00\x5e' + bytes([a[1] & 0x7f, a[2], a[3]])
# IGMPv1 report: TTL 1, no Router Alert.
w('igmp-v1-report', eth(mcmac4(G), VM, 0x800, ipv4(VMIP, G, 2, igmp(struct.pack('!BBH4s', 0x12, 0, 0, G)), ttl=1)))
# IGMPv3 report: type 4 with 1 word of aux data, unknown type 9 with a
# source (ignored), type 6 with one source.
recs = struct.pack('!BBH4s', 4, 1, 0, G) + b'\xde\xad\xbe\xef' + \
       struct.pack('!BBH4s', 9, 0, 1, ip4('239.9.9.9')) + ip4('192.0.2.99') + \
       struct.pack('!BBH4s', 6, 0, 1, ip4('232.1.1.1')) + ip4('192.0.2.1')
msg = igmp(struct.pack('!BBHHH', 0x22, 0, 0, 0, 3) + recs)
D22 = ip4('224.0.0.22')
w('igmp-v3-report-aux', eth(mcmac4(D22), VM, 0x800, ipv4(VMIP, D22, 2, msg, ttl=1, opts=RA4, tos=0xc0)))
# IGMPv1 query (max resp 0, 8 octets) from a querier.
A1 = ip4('224.0.0.1')
w('igmp-v1-query', eth(mcmac4(A1), SRV, 0x800, ipv4(SRVIP, A1, 2, igmp(struct.pack('!BBH4s', 0x11, 0, 0, Z)), ttl=1)))

LL = ip6('fe80::5054:ff:fe12:3456')
# MLDv2 report behind hop-by-hop (Pad1 x2, Router Alert, nothing else) and a
# destination options header (PadN 4): two extension headers to walk.
hbh = bytes([60, 0]) + b'\x00\x00' + b'\x05\x02\x00\x00'
dst = bytes([58, 0]) + b'\x01\x04\x00\x00\x00\x00'
G6 = ip6('ff05::1:3')
m = struct.pack('!BBHHH', 143, 0, 0, 0, 1) + struct.pack('!BBH16s', 5, 0, 1, G6) + ip6('2001:db8::1')
D16 = ip6('ff02::16')
p6 = ipv6(LL, D16, 0, icmp6(LL, D16, m), ext=hbh + dst)
w('mld-v2-report-ext', eth(b'\x33\x33' + D16[12:], VM, 0x86dd, p6))
# NS for the VM's address from a router: source LLA and a nonce option (14).
T = ip6('2001:db8::10'); SN = ip6('ff02::1:ff00:10'); RL = ip6('fe80::1')
m = struct.pack('!BBHI16s', 135, 0, 0, 0, T) + bytes([1, 1]) + SRV + bytes([14, 1]) + b'\x01\x02\x03\x04\x05\x06'
w('ndisc-ns', eth(b'\x33\x33' + SN[12:], SRV, 0x86dd, ipv6(RL, SN, 58, icmp6(RL, SN, m), hlim=255)))
# Solicited NA answering it: R clear, S and O set, target LLA.
m = struct.pack('!BBHI16s', 136, 0, 0, 0x60000000, T) + bytes([2, 1]) + VM
w('ndisc-na-solicited', eth(SRV, VM, 0x86dd, ipv6(T, RL, 58, icmp6(T, RL, m), hlim=255)))
# ARP reply from the server to the VM.
w('arp-reply', eth(VM, SRV, 0x806, struct.pack('!HHBBH6s4s6s4s', 1, 0x800, 6, 4, 2, SRV, SRVIP, VM, VMIP)))

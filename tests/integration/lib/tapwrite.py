#!/usr/bin/env python3
"""Writes IGMPv2 frames into a queue of a VM's tap, as the guest would.

  tapwrite.py burst TAP MAC N             N reports (239.77.40.1..N) from
                                          10.77.1.80, back to back; prints N
  tapwrite.py churn TAP MAC SECS COUNT    report/leave of 239.77.30.1 from
                                          10.77.1.70, unpaced, for SECS;
                                          the frames written so far go to
                                          the file COUNT every 4096

The queue is opened with the flags QEMU's queues have (a queue attached
with others would change them for all), so every frame starts with a
zeroed virtio-net header.  Used by tests/integration/test-churn.sh and
tests/bench/churn/run.sh.
"""
import fcntl
import os
import struct
import sys
import time

TUNSETIFF, TUNGETVNETHDRSZ = 0x400454CA, 0x800454D7
IFF_TAP, IFF_NO_PI, IFF_MULTI_QUEUE, IFF_VNET_HDR = 0x0002, 0x1000, 0x0100, 0x4000


def open_queue(tap):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_VNET_HDR
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), flags))
    hdr_len = struct.unpack("i", fcntl.ioctl(fd, TUNGETVNETHDRSZ, struct.pack("i", 0)))[0]
    return fd, bytes(hdr_len)


def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def igmp(mac, src, kind, group, dst):
    """An IGMPv2 message (TTL 1, Router Alert) from mac/src to dst."""
    body = struct.pack("!BBH4s", kind, 0, 0, group)
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x46, 0xC0, 24 + len(body), 0, 0, 1, 2, 0, src, dst) + bytes([0x94, 4, 0, 0])
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    dmac = bytes([1, 0, 0x5E, dst[1] & 0x7F, dst[2], dst[3]])
    return dmac + mac + b"\x08\x00" + ip + body


def main():
    mode, tap, mac = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3].replace(":", ""))
    fd, hdr = open_queue(tap)
    if mode == "burst":
        n = int(sys.argv[4])
        src = bytes([10, 77, 1, 80])
        frames = [hdr + igmp(mac, src, 0x16, g, g) for g in (bytes([239, 77, 40, 1 + i]) for i in range(n))]
        for f in frames:
            os.write(fd, f)
        print(len(frames))
    elif mode == "churn":
        secs, count_file = float(sys.argv[4]), sys.argv[5]
        src, g = bytes([10, 77, 1, 70]), bytes([239, 77, 30, 1])
        frames = [hdr + igmp(mac, src, 0x16, g, g), hdr + igmp(mac, src, 0x17, g, bytes([224, 0, 0, 2]))]
        end, n = time.monotonic() + secs, 0
        while time.monotonic() < end:
            try:
                os.write(fd, frames[n & 1])
                n += 1
            except BlockingIOError:
                pass
            if n % 4096 == 0:
                with open(count_file, "w") as f:
                    f.write(f"{n}\n")
    else:
        sys.exit(f"tapwrite.py: unknown mode {mode!r}")


if __name__ == "__main__":
    main()

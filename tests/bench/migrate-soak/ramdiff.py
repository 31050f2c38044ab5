#!/usr/bin/env python3
"""ramdiff.py - measure lost guest writes in QEMU TCG live migration directly.

Runs the Linux test guest (build-guest.sh's vmlinuz + initrd.gz) in a plain
QEMU (TCG, virtio-net on -netdev user, the same memory backend layout
libvirt gives it) and live-migrates it N times over TCP on 127.0.0.1
between two QEMU processes.  The destination starts with -S and stays
paused after the migration; the source stays paused too (postmigrate).
Both then hold what should be the very same guest RAM: it is dumped on
both sides (QMP pmemsave) and compared page by page.  Every differing
4 KiB page is a guest write the migration lost.  The destination is
then resumed and becomes the next source.

  ramdiff.py [--fix 0|1] [-n N] [--mib MIB] [--bw MIBPS] [--pps P] [--busy] GUESTDIR WORKDIR

--pps P sends P UDP datagrams/s from the host to the guest's port 5000
(hostfwd: each QEMU forwards its own port; the sender follows the
running guest).
--busy boots the guest with a busy-looping shell as its only process
instead of init.sh (few context switches: the TLB entries live long).
--fix 1 gives the RAM block MIB MiB + 8 KiB (lib/guest/guest.sh,
lg_tcg_ram_args), --fix 0 exactly MIB MiB as libvirt does.  --bw caps the
migration bandwidth (MiB/s; more iterations, more dirty-bitmap syncs).
Prints one line per migration and a summary line:
  ramdiff fix=F migrations=N with_lost_pages=K lost_pages_total=P
Exit 0 when the run worked (whatever the counts), 1 when it broke.
Root not needed.  Only the processes it starts are stopped (by pid).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

PAGE = 4096


class Qmp:
    def __init__(self, path, tmo=60):
        t0 = time.time()
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() - t0 > tmo:
                    raise
                time.sleep(0.1)
        self.f = self.s.makefile("rwb")
        self._read()
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("QMP closed")
            d = json.loads(line)
            if "event" not in d:
                return d

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        self.f.flush()
        d = self._read()
        if "error" in d:
            raise RuntimeError("%s: %s" % (name, d["error"]))
        return d.get("return")


BOOTED = b"VSMGUEST: ctflows listening"
APPEND = "console=ttyS0 quiet panic=-1 mitigations=off no_timer_check vsm.name=rd vsm.groups=none vsm.ctflows=8022"
# --busy: the guest's only process is a shell busy-looping on its own
# memory (no context switch, so the vCPU's TLB is hardly ever flushed).
BUSY_BOOTED = b"BUSY-START"
BUSY_APPEND = 'console=ttyS0 quiet panic=-1 mitigations=off no_timer_check rdinit=/bin/sh -- -c "echo BUSY-START; i=0; while :; do i=$((i+1)); done"'


def qemu(work, tag, guest, mib, fix, incoming=None, fwd=0):
    size = mib * 1048576 + (8192 if fix else 0)
    qmp = os.path.join(work, "qmp-%s.sock" % tag)
    if os.path.exists(qmp):
        os.unlink(qmp)
    args = ["qemu-system-x86_64", "-machine", "pc-i440fx-7.2,memory-backend=ram0", "-accel", "tcg",
            "-object", "memory-backend-ram,id=ram0,size=%d" % size, "-m", "size=%db" % size,
            "-smp", "1", "-display", "none", "-nodefaults", "-no-user-config",
            "-netdev", "user,id=n0" + (",hostfwd=udp:127.0.0.1:%d-:5000" % fwd if fwd else ""), "-device", "virtio-net-pci,netdev=n0,romfile=",
            "-serial", "file:" + os.path.join(work, "serial-%s.log" % tag),
            "-qmp", "unix:%s,server=on,wait=off" % qmp,
            "-kernel", os.path.join(guest, "vmlinuz"), "-initrd", os.path.join(guest, "initrd.gz"),
            "-append", APPEND]
    if incoming:
        args += ["-S", "-incoming", incoming]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=open(os.path.join(work, "qemu-%s.out" % tag), "ab"),
                         stderr=subprocess.STDOUT)
    return p, Qmp(qmp), size


def free_port(kind):
    """A port nobody holds on 127.0.0.1 right now (runs side by side must not collide)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_serial(path, text, tmo):
    t0 = time.time()
    while time.time() - t0 < tmo:
        try:
            if text in open(path, "rb").read():
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fix", type=int, default=0)
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--mib", type=int, default=192)
    ap.add_argument("--bw", type=int, default=0)
    ap.add_argument("--pps", type=int, default=0)
    ap.add_argument("--busy", action="store_true")
    ap.add_argument("guest")
    ap.add_argument("work")
    a = ap.parse_args()
    global APPEND, BOOTED
    if a.busy:
        APPEND, BOOTED = BUSY_APPEND, BUSY_BOOTED
    os.makedirs(a.work, exist_ok=True)
    procs = []
    fwd = free_port(socket.SOCK_DGRAM) if a.pps else 0
    cur = [fwd]  # the running guest's forwarded port
    stop = []
    if a.pps:
        def blast():
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            n = 0
            while not stop:
                for _ in range(max(1, a.pps // 100)):
                    try:
                        u.sendto(b"x" * 200 + str(n).encode(), ("127.0.0.1", cur[0]))
                    except OSError:
                        pass
                    n += 1
                time.sleep(0.01)
        threading.Thread(target=blast, daemon=True).start()
    try:
        src, sq, size = qemu(a.work, "0", a.guest, a.mib, a.fix, fwd=fwd)
        procs.append(src)
        if not wait_serial(os.path.join(a.work, "serial-0.log"), BOOTED, 300):
            print("ramdiff: the guest did not boot (serial-0.log)", file=sys.stderr)
            return 1
        time.sleep(2)
        bad = total = 0
        for i in range(1, a.n + 1):
            uri = "tcp:127.0.0.1:%d" % free_port(socket.SOCK_STREAM)
            nfwd = free_port(socket.SOCK_DGRAM) if fwd else 0
            dst, dq, _ = qemu(a.work, str(i), a.guest, a.mib, a.fix, incoming=uri, fwd=nfwd)
            procs.append(dst)
            time.sleep(0.5)
            if a.bw:
                sq.cmd("migrate-set-parameters", **{"max-bandwidth": a.bw * 1048576})
            t0 = time.time()
            for k in range(100):
                try:
                    sq.cmd("migrate", uri=uri)
                    break
                except RuntimeError:
                    time.sleep(0.2)
            while True:
                st = sq.cmd("query-migrate")
                if st.get("status") in ("completed", "failed", "cancelled"):
                    break
                time.sleep(0.1)
            ms = int((time.time() - t0) * 1000)
            if st["status"] != "completed":
                print("ramdiff: migration %d %s" % (i, st), file=sys.stderr)
                return 1
            # the destination has everything once its state is "paused"/"postmigrate"-equivalent
            for k in range(300):
                if dq.cmd("query-status")["status"] in ("paused", "prelaunch") and \
                        dq.cmd("query-migrate").get("status") in ("completed", None):
                    break
                time.sleep(0.1)
            fs, fd = os.path.join(a.work, "mem-src.bin"), os.path.join(a.work, "mem-dst.bin")
            sq.cmd("pmemsave", val=0, size=size, filename=fs)
            dq.cmd("pmemsave", val=0, size=size, filename=fd)
            ms_ = open(fs, "rb").read()
            md = open(fd, "rb").read()
            diff = [p for p in range(0, size, PAGE) if ms_[p:p + PAGE] != md[p:p + PAGE]]
            os.unlink(fs)
            os.unlink(fd)
            total += len(diff)
            bad += bool(diff)
            ram = st.get("ram", {})
            print("ramdiff fix=%d migration %d: %d ms, %s dirty-sync(s), %d lost page(s)%s" % (
                a.fix, i, ms, ram.get("dirty-sync-count", "?"), len(diff),
                (" first at 0x%x" % diff[0]) if diff else ""), flush=True)
            sq.cmd("quit")
            src.wait(30)
            time.sleep(0.3)
            procs.remove(src)
            dq.cmd("cont")
            if fwd:
                cur[0] = nfwd
            src, sq = dst, dq
            time.sleep(2)
        print("ramdiff fix=%d migrations=%d with_lost_pages=%d lost_pages_total=%d bw=%s mib=%d" % (
            a.fix, a.n, bad, total, a.bw or "-", a.mib), flush=True)
        return 0
    finally:
        stop.append(1)
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    sys.exit(main())

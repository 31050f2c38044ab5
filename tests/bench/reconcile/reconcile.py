#!/usr/bin/env python3
"""Helpers of the reconcile benchmark (run.sh); standard library only.

  reconcile.py stamp LOG OUT
      follow LOG from its current end; append "EPOCH LINE" to OUT for every
      new line (read every 5 ms) until killed: vsimigd's log has no time
      stamps of its own.  Its first line is "EPOCH --- stamper ready".
  reconcile.py poll SOCKET GOFILE PREFIX N NV MACPREFIX OUT TIMEOUT_S
      wait (5 ms steps) until GOFILE holds the restart's epoch T_START
      (started early, so its own start-up is not measured), then ask
      vsimigd's control socket for `domains` and `vdp list` every 50 ms
      (one connection per request, as vsimigctl does) until it lists N
      active domains named PREFIX* and N associated VSIs whose MAC starts
      with MACPREFIX, or TIMEOUT_S passed; one line per request to OUT:
      "EPOCH METHOD RTT_MS COUNT" (COUNT -1: no answer; RTT_MS of an
      unanswered connect is the time until it failed).  Exit 0 when
      reached, 1 on timeout.
  reconcile.py report OUT RATE
      the tables, from what run.sh wrote into OUT (rounds.txt, ...).
"""
import json
import os
import socket
import statistics
import sys
import time

sys.dont_write_bytecode = True
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "../../integration/lib"))
sys.path.insert(0, os.path.join(here, "../evacuation"))

GOAL_LOOP_US = 2000


def stamp(log, out):
    pos = os.path.getsize(log) if os.path.exists(log) else 0
    buf = b""
    with open(out, "a", buffering=1) as o:
        o.write(f"{time.time():.6f} --- stamper ready\n")
        while True:
            try:
                with open(log, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            if chunk:
                now = time.time()
                pos += len(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for ln in lines:
                    o.write(f"{now:.6f} {ln.decode(errors='replace')}\n")
            time.sleep(0.005)


def request(path, method, timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(json.dumps({"id": 1, "method": method}).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            c = s.recv(1 << 20)
            if not c:
                return None
            buf += c
        return json.loads(buf.split(b"\n", 1)[0]).get("result")
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def poll(path, gofile, prefix, n, nv, macprefix, out, tmo):
    while True:
        try:
            t_start = float(open(gofile).read().strip())
            break
        except (OSError, ValueError):
            time.sleep(0.005)
    t_end = t_start + float(tmo)
    n, nv, macprefix = int(n), int(nv), macprefix.lower()
    have_d = have_v = False
    with open(out, "a", buffering=1) as o:
        while time.time() < t_end:
            for method in ("domains", "vdp.list"):
                t0 = time.time()
                r = request(path, method)
                rtt = (time.time() - t0) * 1000
                if r is None:
                    cnt = -1
                elif method == "domains":
                    cnt = sum(1 for d in r.get("domains") or [] if d.get("active") and d.get("name", "").startswith(prefix))
                    have_d = have_d or cnt >= n
                else:
                    cnt = sum(1 for v in r.get("vsis") or []
                              if v.get("state") == "associated" and (v.get("mac") or "").lower().startswith(macprefix))
                    have_v = have_v or cnt >= nv
                o.write(f"{t0:.6f} {method} {rtt:.2f} {cnt}\n")
            if have_d and have_v:
                return 0
            time.sleep(0.05)
    return 1


def first_log(stamped, needle, t0):
    try:
        for line in open(stamped, errors="replace"):
            t, _, text = line.partition(" ")
            if float(t) >= t0 and needle in text:
                return float(t)
    except FileNotFoundError:
        pass
    return None


def report(out, rate):
    from evac import events, loop_cpu_text, loop_figures, migration, read_stats
    from carry import frames
    try:
        print("reconcile benchmark: " + open(os.path.join(out, "mode.txt")).read().strip())
    except FileNotFoundError:
        pass
    g, mac, ip4, ll6, g4, g6 = open(os.path.join(out, "guest.txt")).read().split()
    gi = {"mac": mac.lower(), "ip4": ip4, "ll6": ll6, "groups": [g4, g6]}
    caps = {h: frames(os.path.join(out, f"c-sw-{h.lower()}.pcap"), f"sw-{h.lower()}") for h in "AB"}
    evs = {h: events(os.path.join(out, f"events-{h}.log")) for h in "AB"}
    ok_all = True
    for line in open(os.path.join(out, "rounds.txt")):
        tag, host, src, dst, n, nv, t_start, t_sock, t_mig0, mig_ms, mig_rc, t_end = line.split()
        n, nv, t_start = int(n), int(nv), float(t_start)
        rel = lambda t: f"{(t - t_start) * 1000:9.1f} ms" if t is not None else f"{'-':>9}   "  # noqa: E731
        samples = []
        for s in open(os.path.join(out, f"poll-{tag}.txt")):
            t, meth, rtt, cnt = s.split()
            samples.append((float(t), meth, float(rtt), int(cnt)))
        t_dom = next((t for t, m, _, c in samples if m == "domains" and c >= n), None)
        t_vsi = next((t for t, m, _, c in samples if m == "vdp.list" and c >= nv), None)
        t_ans = next((t for t, m, _, c in samples if c >= 0), None)
        stamped = os.path.join(out, f"vsimigd-{host}-{tag}.stamped")
        t_conn = first_log(stamped, "connected to libvirt", t_start)
        t_rec = first_log(stamped, "reconciled ", t_start)
        r = migration(gi, g, caps[dst], evs[src], evs[dst], float(t_mig0), float(t_end),
                      os.path.join(out, f"show-{tag}-src.json"), rate)
        st0, _ = read_stats(os.path.join(out, f"stats0-{tag}.txt"))
        st1, _ = read_stats(os.path.join(out, f"stats1-{tag}.txt"))
        lost = sum(st1.get((g, x), (0, 0))[1] - st0.get((g, x), (0, 0))[1] for x in gi["groups"])
        t_done = max([t for t in (t_dom, t_vsi) if t is not None], default=None)
        during = [rtt for t, _, rtt, c in samples if c >= 0 and (t_done is None or t <= t_done)]
        print(f"\n== {tag}: vsimigd on host {host} restarted against its libvirtd with {n} running domains "
              f"(and the defined ones); {g} migrates {src} -> {dst} meanwhile")
        print(f"   ms after vsimigd's start:")
        print(f"     control socket up          {rel(float(t_sock))}")
        print(f"     first control answer       {rel(t_ans)}")
        print(f"     'connected to libvirt'     {rel(t_conn)}")
        print(f"     'reconciled N active'      {rel(t_rec)}")
        print(f"     domains lists all {n:<4}     {rel(t_dom)}   <- reconciled (time to a reconciled state)")
        print(f"     {nv} VSIs associated       {rel(t_vsi)}   (as many as before the restart)")
        print(f"     virsh migrate {g} started {rel(float(t_mig0))}  (took {mig_ms} ms, rc {mig_rc})")
        print(f"     {src} SUSPENDED              {rel(r['ts'])}")
        print(f"     {dst} RESUMED                {rel(r['tr'])}")
        if r["last"] is not None:
            print(f"     last replayed frame        {rel(r['last'])}")
        inside = r["ts"] is not None and t_done is not None and r["ts"] <= t_done
        print(f"   the switchover fell {'INSIDE' if inside else 'after'} the reconcile "
              f"(SUSPENDED {'before' if inside else 'after'} the reconciled state)")
        share = 100.0 * r["n_before"] / r["n"]
        print(f"   replay before RESUMED: {r['n_before']}/{r['n']} items ({share:.0f} %)"
              f"{'; missing: ' + ' '.join(r['missing']) if r['missing'] else ''}   "
              f"[goal 100 %: {'met' if share >= 100 else 'NOT met'}]")
        if r["last"] is not None and r["tr"] is not None and r["ts"] is not None:
            print(f"   last replayed frame: {(r['last'] - r['tr']) * 1000:+.1f} ms vs RESUMED, "
                  f"{(r['last'] - r['ts']) * 1000:.1f} ms after SUSPENDED; paused window "
                  f"{(r['paused'] or 0) * 1000:.1f} ms; multicast loss {lost} (sent while paused +1/group: {r['bound']})")
        if during:
            print(f"   control requests until reconciled: {len(during)}, round trip median "
                  f"{statistics.median(during):.1f} ms, max {max(during):.1f} ms")
        lf = loop_figures(os.path.join(out, f"status-{tag}-{host}.json"))
        if lf is None:
            print(f"   host {host}: loop_max_dispatch_us n/a (this vsimigd does not report it)   "
                  f"[goal <= {GOAL_LOOP_US} us: unknown]")
            ok_all = False
        else:
            v, how, hs = lf
            print(f"   host {host}: loop_max_dispatch_us {v} ({how}, the daemon was restarted: covers the reconcile)"
                  f"{loop_cpu_text(os.path.join(out, f'status-{tag}-{host}.json'))}{'; histogram ' + hs if hs else ''}   [goal <= {GOAL_LOOP_US} us: {'met' if v <= GOAL_LOOP_US else 'NOT met'}]")
            ok_all = ok_all and v <= GOAL_LOOP_US
        try:
            cpu, wait, runs = (int(x) for x in open(os.path.join(out, f"sched-{tag}.txt")).read().split()[:3])
            print(f"           its main thread since its start: {cpu / 1e6:.1f} ms on a CPU, {wait / 1e6:.1f} ms "
                  f"runnable but waiting for one ({wait / runs / 1e6 if runs else 0:.2f} ms per run)")
        except (OSError, ValueError):
            pass
        ok_all = ok_all and share >= 100 and t_dom is not None
    print(f"\nreconcile: {'all goals met' if ok_all else 'goals NOT all met'}")
    return 0


def main():
    a = sys.argv[1:]
    if a[:1] == ["stamp"] and len(a) == 3:
        stamp(a[1], a[2])
        return 0
    if a[:1] == ["poll"] and len(a) == 9:
        return poll(*a[1:])
    if a[:1] == ["report"] and len(a) == 3:
        return report(a[1], float(a[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

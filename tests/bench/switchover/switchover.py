#!/usr/bin/env python3
"""The switchover benchmark's helpers (run.sh); standard library only.

  switchover.py poll ADDR PORT INTERVAL_MS FILE
      ask the guest's mcjoin (control port) for "stats" every INTERVAL_MS
      and append one line per answer to FILE:
        <epoch s of receipt> <group> <count> <last-seq> <lost> ...
      (one group triple per group of the answer); runs until killed.

  switchover.py report OUTDIR
      read run.sh's OUTDIR (runs.jsonl, meta.json, the captures, the mdb
      monitor, the `virsh event` logs, the vsimigctl show dumps, poll.log)
      and print the per-migration details and the summary table.
"""
import json
import math
import os
import re
import select
import socket
import statistics
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "integration", "lib")
sys.path.insert(0, LIB)
import carry  # noqa: E402
from vsmtest import read_pcap  # noqa: E402


# ---------------------------------------------------------------- poll
def poll(addr, port, interval_ms, path):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setblocking(False)
    iv = float(interval_ms) / 1000.0
    nxt = time.monotonic()
    with open(path, "a", buffering=1) as f:
        while True:
            now = time.monotonic()
            if now >= nxt:
                try:
                    s.sendto(b"stats", (addr, int(port)))
                except OSError:
                    pass
                nxt += iv
                if nxt < now:
                    nxt = now + iv
            r, _, _ = select.select([s], [], [], max(0.0, nxt - time.monotonic()))
            if not r:
                continue
            while True:
                try:
                    data = s.recv(4096)
                except (BlockingIOError, OSError):
                    break
                t = time.time()
                lines = data.decode(errors="replace").splitlines()
                if not lines or not lines[0].startswith("ok"):
                    continue
                out = [f"{t:.6f}"]
                for ln in lines[1:]:
                    w = ln.split()
                    if not w:
                        continue
                    kv = dict(x.split("=", 1) for x in w[1:] if "=" in x)
                    out += [w[0], kv.get("count", "0"), kv.get("last", "0"), kv.get("lost", "0")]
                f.write(" ".join(out) + "\n")


# ---------------------------------------------------------------- inputs
def events(path):
    """(t, domain, text) of `virsh event --timestamp` lines."""
    import datetime
    ev = []
    try:
        lines = open(path, errors="replace").read().splitlines()
    except FileNotFoundError:
        return ev
    for ln in lines:
        m = re.match(r"(\S+ \S+): event '(\w+)' for domain '([^']+)': (.*)$", ln.strip())
        if not m:
            continue
        try:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f%z").timestamp()
        except ValueError:
            continue
        ev.append((t, m.group(3), m.group(4)))
    return ev


def first_event(ev, dom, text, t0, t1):
    for t, d, x in ev:
        if d == dom and x.rstrip().endswith(text) and t0 - 0.05 <= t <= t1:
            return t
    return None


def timeline(show):
    out = []
    for tl in (show or {}).get("timelines", []) or []:
        for e in tl.get("entries", []):
            out.append((e["time"], e["text"]))
    out.sort()
    return out


def first_tl(tl, regex, t0, t1):
    for t, x in tl:
        if t0 - 0.05 <= t <= t1 and re.search(regex, x, re.I):
            return t
    return None


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return None


def stream_map(path):
    """{group: ([seq...], [t...]) sorted by seq} from the br-sw capture."""
    per = {}
    try:
        it = read_pcap(path)
        for t, fr in it:
            if len(fr) < 14:
                continue
            et = struct.unpack("!H", fr[12:14])[0]
            p = fr[14:]
            if et == 0x8100 and len(p) >= 4:
                et, p = struct.unpack("!H", p[2:4])[0], p[4:]
            if et == 0x0800 and len(p) >= 20 and p[9] == 17:
                g = carry.ip4(p[16:20])
                body = p[(p[0] & 15) * 4 + 8:]
            elif et == 0x86DD and len(p) >= 48 and p[6] == 17:
                g = carry.ip6(p[24:40])
                body = p[48:]
            else:
                continue
            if len(body) < 24 or body[:4] != b"VSMC":
                continue
            seq = struct.unpack("!Q", body[8:16])[0]
            per.setdefault(g, {})[seq] = t
    except FileNotFoundError:
        pass
    out = {}
    for g, d in per.items():
        ks = sorted(d)
        out[g] = (ks, [d[k] for k in ks])
    return out


def send_time(smap, group, seq, rate):
    if group not in smap:
        return None
    ks, ts = smap[group]
    if not ks:
        return None
    import bisect
    i = bisect.bisect_right(ks, seq) - 1
    if i >= 0 and ks[i] == seq:
        return ts[i]
    if i < 0:
        return ts[0] - (ks[0] - seq) / rate
    return ts[i] + (seq - ks[i]) / rate


def poll_log(path):
    out = []
    try:
        for ln in open(path, errors="replace"):
            w = ln.split()
            if len(w) < 5:
                continue
            t = float(w[0])
            gs = {}
            for i in range(1, len(w) - 3, 4):
                gs[w[i]] = (int(w[i + 1]), int(w[i + 2]), int(w[i + 3]))
            out.append((t, gs))
    except FileNotFoundError:
        pass
    return out


# ---------------------------------------------------------------- report
def pct(vs, p):
    """Nearest-rank percentile."""
    if not vs:
        return None
    s = sorted(vs)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def fmt(v, nd=1):
    return "-" if v is None else f"{v:.{nd}f}"


WIRE_KINDS = re.compile(r"^replay (dhcp-request|\S+-report|garp|unsolicited-na)\b.* on \S+$")


def analyse(out):
    meta = load_json(os.path.join(out, "meta.json"))
    runs = [json.loads(ln) for ln in open(os.path.join(out, "runs.jsonl")) if ln.strip()]
    mac, groups, rate = meta["mac"].lower(), meta["groups"], float(meta["rate"])
    ev = {h: events(os.path.join(out, f"events-{h}.log")) for h in ("A", "B")}
    fr = {p: carry.frames(os.path.join(out, f"c-{p}.pcap"), p) for p in ("sw-a", "sw-b")}
    mdb = carry.mdb_events(os.path.join(out, "mdb-sw.log"))
    smap = stream_map(os.path.join(out, "stream.pcap"))
    polls = poll_log(os.path.join(out, "poll.log"))
    res = []
    for r in runs:
        n, mode, src, dst, t0, te = r["n"], r["mode"], r["src"], r["dst"], r["t0"], r["t_end"]
        port = "sw-" + dst.lower()
        sd = load_json(os.path.join(out, f"show-{n}-dst.json")) if mode == "on" else None
        ss = load_json(os.path.join(out, f"show-{n}-src.json")) if mode == "on" else None
        tld, tls = timeline(sd), timeline(ss)
        x = {"n": n, "mode": mode, "dir": f"{src}->{dst}", "migrate_ms": r["migrate_ms"], "notes": []}
        # SUSPENDED / RESUMED
        s_ev = first_event(ev[src], "g1", "Suspended Migrated", t0, te)
        s_tl = first_tl(tls, r"event suspended-migrated", t0, te)
        ts = min([v for v in (s_ev, s_tl) if v is not None], default=None)
        r_ev = first_event(ev[dst], "g1", "Resumed Migrated", t0, te)
        r_tl = first_tl(tld, r"event resumed-migrated", t0, te)
        win = [f for f in fr[port] if t0 <= f["t"] <= te]
        rarp = [f["t"] for f in win if f["kind"] == "rarp" and f["src"] == mac]
        tr = min([v for v in (r_ev, r_tl, rarp[0] if rarp else None) if v is not None], default=None)
        x.update(ts=ts, tr=tr, res_src={"event": r_ev, "timeline": r_tl, "rarp": rarp[0] if rarp else None})
        if ts is None or tr is None:
            x["notes"].append("no SUSPENDED or RESUMED time")
            res.append(x)
            continue
        x["pause"] = (tr - ts) * 1000
        # the replay: the daemon's view
        # The carry fields of `vsimigctl --json show` describe the incoming
        # migration only until the destination takes the state over (right
        # after RESUMED): read after the settle they are gone, and the same
        # figures come from the timeline entries the daemon writes with them.
        c = dict((sd or {}).get("carry") or {})
        if mode == "on" and "replayed" not in c:
            for t, txt in tld:
                if not t0 - 0.05 <= t <= te:
                    continue
                m = re.match(r"replay( \(late[^)]*\))?: (\d+) frame\(s\)(, last ([\d.]+) ms after the source's SUSPENDED)?", txt)
                if m:
                    c["replayed"] = True
                    c["replay_late"] = bool(m.group(1))
                    c["replay_frames"] = int(m.group(2))
                    if m.group(4):
                        c["suspended_to_last_frame_ms"] = float(m.group(4))
                m = re.match(r"RESUMED: all (\d+) replayed frame\(s\) left before it \(last ([\d.]+) ms earlier\)", txt)
                if m:
                    c["last_frame_before_resumed_ms"] = float(m.group(2))
                if txt.startswith("RESUMED: the replay was late"):
                    c["replay_late"] = True
            c["source"] = "timeline"
        x["replayed"] = c.get("replayed")
        x["late"] = c.get("replay_late")
        x["frames"] = c.get("replay_frames")
        x["d_susp_last"] = c.get("suspended_to_last_frame_ms")
        x["d_last_before"] = c.get("last_frame_before_resumed_ms")
        swo = first_tl(tld, r"^peer: SWITCHOVER with", t0, te)
        x["swo"] = (swo - ts) * 1000 if swo is not None else None
        if mode == "on":
            x["d_before"] = bool(c.get("replayed") and not c.get("replay_late")
                                 and (c.get("last_frame_before_resumed_ms") or -1) > 0)
            if c.get("replay_late"):
                x["notes"].append("replay late")
            if not c.get("replayed"):
                x["notes"].append("no replay")
        # ... and the wire's: the replayable frames of the VM's MAC on the
        # new port while the VM is paused (it cannot send any itself).
        want = [t for t, txt in tld if t0 - 0.05 <= t <= te and WIRE_KINDS.match(txt)]
        def replay_kind(f):
            k = f["kind"]
            if f["src"] != mac:
                return False
            if k == "dhcp":
                return f["type"] == "REQUEST"
            if k == "arp":
                return f["gratuitous"]
            if k == "na":
                return not f["s_flag"]
            return k in ("igmp-report", "mld-report")
        wire = [f for f in win if ts - 0.001 <= f["t"] < tr and replay_kind(f)]
        x["w_frames"] = len(wire)
        x["w_want"] = len(want)
        if wire:
            x["w_susp_last"] = (max(f["t"] for f in wire) - ts) * 1000
            x["w_last_before"] = (tr - max(f["t"] for f in wire)) * 1000
        if mode == "on":
            x["w_before"] = bool(want) and len(wire) >= len(want)
            if want and len(wire) < len(want):
                x["notes"].append(f"wire: {len(wire)}/{len(want)} replayed frames before RESUMED")
        # mdb on the new port
        tl_g = []
        for g in groups:
            adds = [e[0] for e in mdb if e[1] == "add" and e[2] == port and e[3] == g and t0 <= e[0] <= te]
            if adds:
                tl_g.append(adds[0])
            else:
                tl_g.append(None)
                have = open(os.path.join(out, f"mdb-after-{n}.txt")).read().split("\n")
                x["notes"].append(f"mdb: {g} " + ("already on " + port if f"{port} {g}" in have else "never on " + port))
        x["mdb"] = (max(tl_g) - tr) * 1000 if all(v is not None for v in tl_g) else None
        # dnsmasq's ACK crossing to the new port
        acks = [f for f in win if f["kind"] == "dhcp" and f["type"] in ("ACK", "NAK") and f["chaddr"] == mac]
        if acks:
            x["ack"] = (acks[0]["t"] - tr) * 1000
            if acks[0]["type"] == "NAK":
                x["notes"].append("DHCP NAK")
        # multicast at the guest, loss
        before = [p for p in polls if p[0] < t0]
        after = [p for p in polls if tr < p[0] <= te]
        upto = [p for p in polls if p[0] <= te]
        mc = None
        prev = before[-1][0] if before else None
        for t, gs in after:
            for g, (cnt, last, _lost) in gs.items():
                st = send_time(smap, g, last, rate)
                if st is not None and st > ts:
                    mc = t
                    break
            if mc is not None:
                break
            prev = t
        x["mc"] = (mc - tr) * 1000 if mc is not None else None
        x["back"] = (after[0][0] - tr) * 1000 if after else None  # the guest's first answer at all
        if mc is None:
            x["notes"].append("no multicast at the guest within the settle time")
        if before and upto:
            l0 = sum(v[2] for v in before[-1][1].values())
            l1 = sum(v[2] for v in upto[-1][1].values())
            x["lost"] = l1 - l0
            x["pause_dg"] = x["pause"] / 1000 * rate * len(groups)
            x["beyond"] = x["lost"] - x["pause_dg"]
        res.append(x)
    return meta, res


def row(x):
    rp = "-"
    if x["mode"] == "on":
        rp = "late" if x.get("late") else ("ok" if x.get("d_before") else ("none" if not x.get("replayed") else "after"))
    wire = f"{x.get('w_frames', 0)}/{x.get('w_want', 0)}" if x["mode"] == "on" else str(x.get("w_frames", 0))
    frames = fmt(x.get("frames"), 0) if x.get("frames") is not None else "-"
    return (f"{x['n']:>3} {x['mode']:4} {x['dir']:5} {x['migrate_ms']:>6} {fmt(x.get('pause')):>6} {rp:>7} "
            f"{frames:>6} {wire:>5} "
            f"{fmt(x.get('swo')):>6} {fmt(x.get('d_susp_last'), 2):>8} {fmt(x.get('w_susp_last'), 2):>8} "
            f"{fmt(x.get('d_last_before'), 1):>7} "
            f"{fmt(x.get('back')):>7} {fmt(x.get('mc')):>8} {fmt(x.get('mdb')):>8} {fmt(x.get('ack')):>8} "
            f"{fmt(x.get('lost'), 0):>5} {fmt(x.get('pause_dg'), 0):>7}  {'; '.join(x['notes'])}")


def report(out):
    meta, res = analyse(out)
    poll_ms = meta["poll_ms"]
    print(f"switchover bench: K={meta['k']} each way per mode, {meta['rate']:g} datagrams/s per group "
          f"x {len(meta['groups'])} groups, settle {meta['settle']} s, guest polled every {poll_ms} ms")
    print("per migration (ms; RESUMED-relative columns: negative = before RESUMED):")
    hdr = (f"{'#':>3} {'mode':4} {'dir':5} {'migr':>6} {'pause':>6} {'replay':>7} {'frames':>6} {'wire':>5} "
           f"{'S->SWO':>6} {'S->last':>8} {'S->lastW':>8} {'last<R':>7} {'answer':>7} {'mc@guest':>8} {'mdb':>8} {'ACK':>8} {'lost':>5} {'pauseDG':>7}  notes")
    print(hdr)
    for x in res:
        print(row(x))
    legend = ("  migr: virsh migrate; pause: SUSPENDED -> RESUMED; replay: ok = all frames before RESUMED (daemon); "
              "frames: replayed (daemon, incl. VDP); wire: replayed DHCP/report/GARP/NA frames on the new port in "
              "[SUSPENDED, RESUMED) / expected from the timeline; S->SWO: SUSPENDED -> SWITCHOVER received; "
              "S->last: SUSPENDED -> last replay frame (daemon), S->lastW (wire); last<R: last frame before RESUMED "
              "(daemon); answer: the guest's first poll answer after RESUMED; mc@guest: first answer showing a "
              "datagram sent after SUSPENDED; mdb: last group listed on the new port; ACK: first DHCP ACK on the "
              "new port; lost: datagrams, both groups; pauseDG: datagrams sent while paused")
    print(legend)
    print()

    def mp(vs, nd=1):
        vs = [v for v in vs if v is not None]
        if not vs:
            return "-"
        return f"{statistics.median(vs):.{nd}f} / {pct(vs, 95):.{nd}f}"

    rows = []
    for mode in ("on", "off"):
        xs = [x for x in res if x["mode"] == mode]
        if not xs:
            continue
        n = len(xs)
        if mode == "on":
            db = sum(1 for x in xs if x.get("d_before"))
            wb = sum(1 for x in xs if x.get("w_before"))
            share = f"{100.0 * db / n:.0f}% ({db}/{n}; wire {wb}/{n})"
            susp = mp([x.get("d_susp_last") for x in xs], 2)
            suspw = mp([x.get("w_susp_last") for x in xs], 2)
        else:
            share = susp = suspw = "-"
        acks = [x.get("ack") for x in xs if x.get("ack") is not None]
        ack = mp(acks) + (f" ({len(acks)}/{n})" if 0 < len(acks) < n else "") if acks else "-"
        mcs = [x.get("mc") for x in xs]
        mdbs = [x.get("mdb") for x in xs]
        miss = lambda vs: f" ({sum(1 for v in vs if v is not None)}/{n})" if any(v is None for v in vs) else ""
        rows.append([mode, str(n), share, susp, suspw, mp(mcs) + miss(mcs), mp([x.get("back") for x in xs]),
                     mp(mdbs) + miss(mdbs), ack,
                     mp([x.get("lost") for x in xs], 0),
                     mp([x.get("beyond") for x in xs], 0),
                     fmt(statistics.median([x["pause"] for x in xs if x.get("pause") is not None]) if any(x.get("pause") is not None for x in xs) else None)])
    cols = ["mode", "n", "replay before RESUMED", "SUSP->last frame", "(wire)", "RESUMED->mc at guest",
            "(guest answers)", "RESUMED->switch mdb", "RESUMED->DHCP ACK", "lost/migr", "lost-pauseDG", "paused"]
    units = ["", "", "share", "med / p95 ms", "med / p95 ms", "med / p95 ms", "med / p95 ms", "med / p95 ms",
             "med / p95 ms", "med / p95", "med / p95", "med ms"]
    targets = ["target", "", ">= 95%", "med <= 10 ms", "", "", "", "", "", "", "<= 0 (no loss", "beyond pause)"]
    w = [max(len(c), len(u), len(t), *(len(rw[i]) for rw in rows)) for i, (c, u, t) in enumerate(zip(cols, units, targets))]
    line = lambda vals: "  ".join(v.ljust(w[i]) if i < 3 else v.rjust(w[i]) for i, v in enumerate(vals))
    print(line(cols))
    print(line(units))
    for rw in rows:
        print(line(rw))
    print(line(targets))
    print(f"(RESUMED = earliest of the destination's virsh event, vsimigd timeline, QEMU's first RARP; "
          f"mc at guest: first poll answer showing a datagram sent after SUSPENDED, resolution ~{poll_ms} ms; "
          f"pauseDG = datagrams sent while paused, both groups)")
    # the targets, in words
    on = [x for x in res if x["mode"] == "on"]
    if on:
        db = sum(1 for x in on if x.get("d_before"))
        ds = [x["d_susp_last"] for x in on if x.get("d_susp_last") is not None]
        bl = [x["beyond"] for x in on if x.get("beyond") is not None]
        print(f"targets (on): replays before RESUMED {100.0 * db / len(on):.0f}% "
              f"[{'met' if db >= 0.95 * len(on) else 'MISSED'}]; "
              f"median SUSPENDED->last frame {fmt(statistics.median(ds) if ds else None, 2)} ms "
              f"[{'met' if ds and statistics.median(ds) <= 10 else 'MISSED'}]; "
              f"loss beyond the paused window: {sum(1 for v in bl if v > len(meta['groups']))}/{len(bl)} migrations "
              f"lost more than the pause's datagrams (+1 per group) "
              f"[{'met' if bl and all(v <= len(meta['groups']) for v in bl) else 'MISSED'}]")


def main():
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "poll":
        try:
            poll(*a[1:5])
        except KeyboardInterrupt:
            pass
        return 0
    if len(a) == 2 and a[0] == "report":
        report(a[1])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

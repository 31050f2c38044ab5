#!/usr/bin/env python3
"""The evacuation benchmark's tables (run.sh writes the inputs into OUT).

  evac.py OUT RATE

OUT holds guests.txt ("NAME MAC IP4 LL6 GROUP4 GROUP6"), phases.txt ("TAG
SRC DST T0 T_END"), mig-TAG.txt ("NAME T0_NS T1_NS MS RC"), what each host
sent into its switch port, c-sw-a.pcap / c-sw-b.pcap (tcpdump -Q in), the `virsh
event --timestamp` logs events-A.log / events-B.log, show-TAG-NAME-src.json
and -dst.json (vsimigctl --json show), status-TAG-A.json / -B.json
(vsimigctl --json status after the phase) and stats0/1-TAG.txt ("NAME
GROUP COUNT LOST" lines and "time EPOCH").  RATE: datagrams/s per group.
Standard library only; frames are decoded by carry.py.
"""
import datetime
import json
import math
import os
import statistics
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../integration/lib"))
from carry import frames  # noqa: E402

GOAL_SHARE = 100.0      # % of replay items before RESUMED
GOAL_MEDIAN_MS = 5.0    # median SUSPENDED -> last replayed frame
GOAL_LOOP_US = 2000     # longest main-loop dispatch on either host


def events(path):
    """[(t, domain, text)] of a `virsh event --loop --timestamp` log."""
    out = []
    try:
        lines = open(path, errors="replace").read().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        if ": event " not in line or "for domain '" not in line:
            continue
        try:
            t = datetime.datetime.strptime(line.split(": event", 1)[0], "%Y-%m-%d %H:%M:%S.%f%z").timestamp()
        except ValueError:
            continue
        dom = line.split("for domain '", 1)[1].split("'", 1)[0]
        out.append((t, dom, line.rsplit(":", 1)[1].strip()))
    return out


def first_event(evs, dom, text, t0):
    for t, d, x in evs:
        if d == dom and x == text and t >= t0 - 0.05:
            return t
    return None


def timeline_time(path, needle, t0):
    try:
        d = json.load(open(path))
    except (OSError, ValueError):
        return None
    best = None
    for tl in d.get("timelines") or []:
        for e in tl.get("entries") or []:
            if e.get("time", 0) >= t0 - 0.05 and needle in e.get("text", ""):
                if best is None or e["time"] < best:
                    best = e["time"]
    return best


def pct(vs, p):
    """Nearest-rank percentile."""
    if not vs:
        return None
    s = sorted(vs)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def max_within(ts, w):
    """The most time stamps within any window of w seconds."""
    ts = sorted(ts)
    best, j = 0, 0
    for i in range(len(ts)):
        while ts[i] - ts[j] > w:
            j += 1
        best = max(best, i - j + 1)
    return best


def read_stats(path):
    st, t = {}, None
    try:
        for line in open(path):
            w = line.split()
            if len(w) == 2 and w[0] == "time":
                t = float(w[1])
            elif len(w) >= 4:
                st[(w[0], w[1])] = (int(w[2]), int(w[3]))
    except FileNotFoundError:
        pass
    return st, t


def loop_figures(path):
    """(max us since the reset before the phase, or the all-time max, label,
    histogram text) from a status JSON; None when not reported."""
    try:
        d = json.load(open(path))
    except (OSError, ValueError):
        return None
    lp = d.get("loop") if isinstance(d.get("loop"), dict) else {}
    if "loop_max_dispatch_since_reset_us" in d:
        v, how = d["loop_max_dispatch_since_reset_us"], "since reset"
    elif "loop_max_dispatch_us" in d:
        v, how = d["loop_max_dispatch_us"], "since start"
    else:
        return None
    hist = (lp.get("since_reset") or {}).get("histogram") or lp.get("histogram") or []
    hs = " ".join((f"<{b['lt_us']}" if "lt_us" in b else f">={b.get('ge_us')}") + f":{b['count']}"
                  for b in hist if isinstance(b, dict) and b.get("count"))
    return v, how, hs


def loop_cpu_text(path):
    """'; CPU max N us' beside loop_max_dispatch_us: the most CPU one dispatch
    used (loop_max_dispatch_cpu_us, since the reset when there was one), so
    that a long dispatch that waited (little CPU) can be told from one that
    computed; '' when not reported."""
    try:
        d = json.load(open(path))
    except (OSError, ValueError):
        return ""
    for k, how in (("loop_max_dispatch_cpu_since_reset_us", "since reset"), ("loop_max_dispatch_cpu_us", "since start")):
        if k in d:
            return f"; loop_max_dispatch_cpu_us {d[k]} ({how})"
    return "; loop_max_dispatch_cpu_us n/a"


def migration(gi, g, cap_dst, ev_src, ev_dst, t0, t_end, show_src, rate):
    """The replay figures of one migration of guest g (gi: its mac, ip4, ll6,
    groups) started at t0: RESUMED (tr), SUSPENDED (ts), the last replayed
    frame (last), the replay items seen before RESUMED (n_before of n, and
    the missing ones), the paused window and what was sent meanwhile."""
    m = gi["mac"]
    win = [f for f in cap_dst if t0 <= f["t"] <= t_end]
    ev_res = first_event(ev_dst, g, "Resumed Migrated", t0)
    rarp = [f["t"] for f in win if f["kind"] == "rarp" and f["src"] == m]
    cands = [c for c in [ev_res] + rarp[:1] if c is not None]
    tr = min(cands) if cands else None
    susp = [c for c in [first_event(ev_src, g, "Suspended Migrated", t0),
                        timeline_time(show_src, "event suspended-migrated", t0)] if c is not None]
    ts = min(susp) if susp else None
    # What the destination host sent as the guest before RESUMED can only
    # be vsimigd's replay (the guest still runs on the source).
    mine = [f for f in win if f["src"] == m and f["kind"] != "rarp"]
    items = {"dhcp": [f["t"] for f in mine if f["kind"] == "dhcp" and f.get("type") == "REQUEST"],
             "garp": [f["t"] for f in mine if f["kind"] == "arp" and f.get("gratuitous") and f.get("spa") == gi["ip4"]],
             "na": [f["t"] for f in mine if f["kind"] == "na" and not f.get("s_flag") and f.get("target") == gi["ll6"]]}
    for grp in gi["groups"]:
        items[grp] = [f["t"] for f in mine if f["kind"] in ("igmp-report", "mld-report") and grp in f.get("groups", [])]
    before = {k: [t for t in v if tr is not None and t < tr] for k, v in items.items()}
    pre = [t for v in before.values() for t in v]
    last = max(pre) if pre else None
    if last is None:   # nothing before RESUMED: the first replay item after it
        late = [min(v) for v in items.values() if v]
        last = max(late) if late else None
    paused = (tr - ts) if tr is not None and ts is not None else None
    ng = len(gi["groups"])
    return {"g": g, "tr": tr, "ts": ts, "last": last, "n": len(items),
            "n_before": sum(1 for v in before.values() if v), "missing": [k for k, v in before.items() if not v],
            "paused": paused, "bound": None if paused is None else math.ceil(rate * paused) * ng + ng}


def sched_text(path):
    """The main thread's CPU time and run-queue wait over a phase, from
    "before/after CPU_NS WAIT_NS SLICES" lines; None if not there."""
    try:
        v = {w[0]: [int(x) for x in w[1:4]] for w in (ln.split() for ln in open(path)) if len(w) >= 4}
    except (OSError, ValueError):
        return None
    if "before" not in v or "after" not in v:
        return None
    cpu, wait, n = (v["after"][i] - v["before"][i] for i in range(3))
    return (f"main thread: {cpu / 1e6:.1f} ms on a CPU, {wait / 1e6:.1f} ms runnable but waiting for one "
            f"({wait / n / 1e6 if n else 0:.2f} ms per run)")


def main():
    out, rate = sys.argv[1], float(sys.argv[2])
    guests = {}
    for line in open(os.path.join(out, "guests.txt")):
        g, m, ip4, ll6, g4, g6 = line.split()
        guests[g] = {"mac": m.lower(), "ip4": ip4, "ll6": ll6, "groups": [g4, g6]}
    caps = {h: frames(os.path.join(out, f"c-sw-{h.lower()}.pcap"), f"sw-{h.lower()}") for h in "AB"}
    evs = {h: events(os.path.join(out, f"events-{h}.log")) for h in "AB"}
    all_goals = []
    try:
        print("evacuation benchmark: " + open(os.path.join(out, "mode.txt")).read().strip())
    except FileNotFoundError:
        pass
    for pl in open(os.path.join(out, "phases.txt")):
        tag, src, dst, t0p, t_end = pl.split()
        t0p, t_end = float(t0p), float(t_end)
        st0, _ = read_stats(os.path.join(out, f"stats0-{tag}.txt"))
        st1, _ = read_stats(os.path.join(out, f"stats1-{tag}.txt"))
        rows = []
        try:
            dead = {dl.split()[0]: dl.strip() for dl in open(os.path.join(out, f"dead-{tag}.txt")) if dl.strip()}
        except FileNotFoundError:
            dead = {}
        for ml in open(os.path.join(out, f"mig-{tag}.txt")):
            g, a0, a1, ms, rc = ml.split()
            r = migration(guests[g], g, caps[dst], evs[src], evs[dst], int(a0) / 1e9, t_end,
                          os.path.join(out, f"show-{tag}-{g}-src.json"), rate)
            lost = sum(st1.get((g, grp), (0, 0))[1] - st0.get((g, grp), (0, 0))[1] for grp in guests[g]["groups"])
            rx = sum(st1.get((g, grp), (0, 0))[0] - st0.get((g, grp), (0, 0))[0] for grp in guests[g]["groups"])
            r.update(ms=int(ms), rc=int(rc), lost=lost, rx=rx, dead=g in dead)
            rows.append(r)
        rows.sort(key=lambda r: r["ts"] if r["ts"] is not None else 1e18)
        print(f"\n== {tag}: {len(rows)} guests {src} -> {dst}, every virsh migrate --live started at once")
        print("   times in ms; SUSP = source's SUSPENDED, RES = destination's RESUMED, last = last replayed frame "
              "on the destination's switch port")
        print(f"   {'guest':6} {'rc':>2} {'migrate':>8} {'SUSP-t0':>8} {'paused':>7} {'replay<RES':>10} "
              f"{'last-RES':>9} {'SUSP->last':>10} {'rx':>5} {'lost':>5} {'sent paused':>11}  missing before RES")
        tmin = min((r["ts"] for r in rows if r["ts"] is not None), default=t0p)
        f = lambda v, w, d=1: f"{v:{w}.{d}f}" if v is not None else f"{'-':>{w}}"  # noqa: E731
        for r in rows:
            print(f"   {r['g']:6} {r['rc']:>2} {r['ms']:>8} "
                  f"{f(None if r['ts'] is None else (r['ts'] - tmin) * 1000, 8)} "
                  f"{f(None if r['paused'] is None else r['paused'] * 1000, 7)} "
                  f"{str(r['n_before']) + '/' + str(r['n']):>10} "
                  f"{f(None if r['last'] is None or r['tr'] is None else (r['last'] - r['tr']) * 1000, 9, 2)} "
                  f"{f(None if r['last'] is None or r['ts'] is None else (r['last'] - r['ts']) * 1000, 10, 2)} "
                  f"{'-' if r['dead'] else r['rx']:>5} {'-' if r['dead'] else r['lost']:>5} "
                  f"{r['bound'] if r['bound'] is not None else '-':>11}  "
                  f"{' '.join(r['missing']) or '-'}")
        print(f"   (SUSP-t0: ms after the first SUSPENDED of the phase; sent paused: datagrams sent to the "
              f"guest's 2 groups while it was paused, +1 per group)")
        items = sum(r["n"] for r in rows)
        items_before = sum(r["n_before"] for r in rows)
        share = 100.0 * items_before / items if items else 0.0
        full = sum(1 for r in rows if r["n_before"] == r["n"])
        sl = [(r["last"] - r["ts"]) * 1000 for r in rows if r["last"] is not None and r["ts"] is not None]
        lr = [(r["last"] - r["tr"]) * 1000 for r in rows if r["last"] is not None and r["tr"] is not None]
        pw = [r["paused"] * 1000 for r in rows if r["paused"] is not None]
        within = max_within([r["ts"] for r in rows if r["ts"] is not None], 0.1)
        med = statistics.median(sl) if sl else None
        print(f"   replay before RESUMED: {items_before}/{items} items ({share:.1f} %), complete for {full}/{len(rows)} "
              f"migrations   [goal {GOAL_SHARE:.0f} %: {'met' if share >= GOAL_SHARE else 'NOT met'}]")
        if lr:
            print(f"   last replayed frame vs RESUMED: median {statistics.median(lr):+.2f} ms, "
                  f"latest {max(lr):+.2f} ms")
        if sl:
            print(f"   SUSPENDED -> last replayed frame: median {med:.2f} ms, p95 {pct(sl, 95):.2f} ms, "
                  f"max {max(sl):.2f} ms   [goal median <= {GOAL_MEDIAN_MS:.0f} ms: "
                  f"{'met' if med <= GOAL_MEDIAN_MS else 'NOT met'}]")
        else:
            print("   SUSPENDED -> last replayed frame: no data   [goal NOT met]")
        print(f"   switched over within 100 ms of each other: at most {within} of {len(rows)} "
              f"(SUSPENDED times; the goal asks for the median with 8 within 100 ms)")
        if pw:
            print(f"   paused window (SUSPENDED -> RESUMED): median {statistics.median(pw):.1f} ms, "
                  f"max {max(pw):.1f} ms")
        alive = [r for r in rows if not r["dead"]]
        print(f"   multicast loss per guest: {' '.join('-' if r['dead'] else str(r['lost']) for r in rows)} "
              f"(total {sum(r['lost'] for r in alive)}; sent while paused, +1/group: "
              f"{sum(r['bound'] or 0 for r in alive)}; '-': the guest died after the migration)")
        goals = [share >= GOAL_SHARE, med is not None and med <= GOAL_MEDIAN_MS]
        for h in "AB":
            lf = loop_figures(os.path.join(out, f"status-{tag}-{h}.json"))
            if lf is None:
                print(f"   host {h}: loop_max_dispatch_us n/a (this vsimigd does not report it)   [goal <= {GOAL_LOOP_US} us: unknown]")
                goals.append(False)
            else:
                v, how, hs = lf
                print(f"   host {h}: loop_max_dispatch_us {v} ({how})"
                      f"{loop_cpu_text(os.path.join(out, f'status-{tag}-{h}.json'))}{'; histogram ' + hs if hs else ''}   "
                      f"[goal <= {GOAL_LOOP_US} us: {'met' if v <= GOAL_LOOP_US else 'NOT met'}]")
                goals.append(v <= GOAL_LOOP_US)
            st = sched_text(os.path.join(out, f"sched-{tag}-{h}.txt"))
            if st:
                print(f"           {st}")
        for dl in dead.values():
            print(f"   NOT RUNNING after the migration: {dl}")
        bad = [r["g"] for r in rows if r["rc"] != 0]
        if bad:
            print(f"   virsh migrate failed for: {' '.join(bad)}")
            goals.append(False)
        all_goals += goals
    print(f"\nevacuation: {'all goals met' if all(all_goals) else 'goals NOT all met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Evidence of the 802.1Qbg macvtap test bed (test-qbg.sh, tests/bench/qbg).

Reads one run directory: tp-a.pcap / tp-b.pcap (the ToR's ports), the
hosts' libvirtd debug logs (libvirtd-A.log, libvirtd-B.log), `virsh event
--timestamp` output (events-A.txt, events-B.txt) and steps.txt ("STEP
EPOCH_NS" lines: when each step began).  Standard library only; frames are
decoded by vsmtest.py (an independent VDP decoder).

  qbg.py check --phase lldpad|vsimigd --dir D --instanceid U ...
      prints every VDP sequence, libvirt's port-profile operations with the
      time of libvirt's SUCCESS against the bridge's answer, the paused
      windows and the replay; exits 1 if a check fails.
  qbg.py bench --dir D ...  (used by tests/bench/qbg/run.sh)
      one JSON object per migration with the figures the benchmark prints.

Times: pcap time stamps (kernel, µs), libvirtd log (ms, truncated), virsh
event receive times (ms): all CLOCK_REALTIME of one machine.
"""
import argparse
import datetime
import json
import os
import re
import statistics
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vsmtest  # noqa: E402

MODES = {"pre-associate": "preassoc", "pre-associate-rr": "preassoc-rr",
         "associate": "assoc", "de-associate": "deassoc"}
LV_OPS = {"PREASSOCIATE": "preassoc", "ASSOCIATE": "assoc", "DISASSOCIATE": "deassoc"}
TS_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\+0000: ")


def ts(s):
    d = datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp()


def fmt_ms(x):
    return "-" if x is None else f"{x * 1000:+.1f}"


# ---------------------------------------------------------------- wire

def vdp_records(path, port, uuid):
    """VSI TLVs for uuid in the ECP requests of one capture."""
    out = []
    if not os.path.exists(path):
        return out
    for f in vsmtest.frames(path):
        if f.get("proto") != "ecp" or f.get("op") != "request":
            continue
        mgr = None
        for t in f.get("tlvs", []):
            if t.get("tlv") == "manager-id":
                mgr = t["value"]
                continue
            if t.get("vsiid") != uuid:
                continue
            out.append(dict(t=f["t"], port=port, src=f["src"], mode=MODES.get(t["tlv"], t["tlv"]),
                            resp=t["response"], m=t["m"], s=t["s"], status=t["status"],
                            reason=t["reason"], mgr=mgr, typeid=t.get("type_id"),
                            ver=t.get("type_version"), idfmt=t.get("vsiid_format"),
                            ffmt=t.get("filter_format"), filters=t.get("filters"), seq=f["seq"]))
    return out


def foreign_vsis(path, vm_mac, uuid, stations):
    """VSIIDs other than uuid whose filter names vm_mac in a station's
    request (a second VSI for the same NIC)."""
    out = set()
    if not os.path.exists(path):
        return out
    for f in vsmtest.frames(path):
        if f.get("proto") != "ecp" or f.get("op") != "request" or f["src"] not in stations:
            continue
        for t in f.get("tlvs", []):
            if "vsiid" in t and t["vsiid"] != uuid and any(x.get("mac") == vm_mac for x in t.get("filters") or []):
                out.add(t["vsiid"])
    return out


def other_frames(path, port, vm_mac):
    """The VM's own frames (source MAC = vm_mac) and their kinds."""
    out = []
    if not os.path.exists(path):
        return out
    for t, fr in vsmtest.read_pcap(path):
        if len(fr) < 14:
            continue
        src = vsmtest.mac(fr[6:12])
        et = int.from_bytes(fr[12:14], "big")
        p = 14
        if et == 0x8100 and len(fr) >= 18:
            et = int.from_bytes(fr[16:18], "big")
            p = 18
        kind = None
        if et == 0x8035:
            kind = "rarp"
        elif et == 0x0806 and len(fr) >= p + 28:
            op = int.from_bytes(fr[p + 6:p + 8], "big")
            spa, tpa = fr[p + 14:p + 18], fr[p + 24:p + 28]
            kind = "garp" if spa == tpa else ("arp-reply" if op == 2 else "arp")
        elif et == 0x0800 and len(fr) >= p + 20:
            ihl = (fr[p] & 15) * 4
            proto = fr[p + 9]
            if proto == 2:
                kind = "igmp"
            elif proto == 17 and len(fr) >= p + ihl + 8:
                sp, dp = struct.unpack(">HH", fr[p + ihl:p + ihl + 4])
                if sp == 68 and dp == 67:
                    kind = "dhcp-request"
        elif et == 0x86DD and len(fr) >= p + 41:
            nh = fr[p + 6]
            q = p + 40
            if nh == 0 and len(fr) >= q + 8:  # hop-by-hop (MLD)
                nh = fr[q]
                q += (fr[q + 1] + 1) * 8
            if nh == 58 and len(fr) > q:
                kind = {143: "mld", 131: "mld", 136: "na", 135: "ns"}.get(fr[q])
        if kind:
            out.append(dict(t=t, port=port, src=src, kind=kind, vm=(src == vm_mac)))
    return out


# ---------------------------------------------------------------- libvirt

def libvirt_ops(path, host, uuid):
    """libvirt's SETLINK requests for uuid: the info line before the
    SETLINK, the vmOp before it and libvirt's SUCCESS = the next line of the
    same thread (libvirt logs nothing while it polls)."""
    ops = []
    if not os.path.exists(path):
        return ops, []
    lines = []
    with open(path, errors="replace") as f:
        for line in f:
            m = TS_RE.match(line)
            if not m:
                continue
            rest = line[m.end():]
            tid, _, rest = rest.partition(": ")
            lines.append((ts(m.group(1)), tid, rest.rstrip("\n")))
    errors = [f"{host}: {r}" for (_, _, r) in lines if r.startswith("error : ") and (
        "port-profile" in r or "PortProfile" in r or "virNetDevGetIndex" in r or
        "virNetDevVPortProfile" in r or "virNetDevMacVLan" in r)]
    errors += [f"{host}: {r}" for (_, _, r) in lines if "Re-send 802.1qbg associate" in r]
    vmop = {}
    finish_t = {}
    for i, (t, tid, r) in enumerate(lines):
        mm = re.search(r"vmOp: (.*?) device: ", r)
        if "virNetDevVPortProfile" in r and mm:
            vmop[tid] = (t, mm.group(1))
        if "migrate in finish" in r:
            finish_t[tid] = t
        mm = re.match(r"info : virNetDevVPortProfileOpSetLink:\d+ : (\w+): .*instanceId: ([0-9a-f-]+)", r)
        if not mm or mm.group(2) != uuid:
            continue
        op = LV_OPS.get(mm.group(1), mm.group(1))
        succ = None
        for (t2, tid2, r2) in lines[i + 1:]:
            if tid2 == tid:
                succ = (t2, r2)
                break
        vo = vmop.get(tid, (None, "?"))
        ops.append(dict(host=host, t=t, op=op, vmop=vo[1], vmop_t=vo[0],
                        success_t=succ[0] if succ else None,
                        success_line=succ[1][:100] if succ else None,
                        finish_t=finish_t.get(tid) if vo[1] == "migrate in finish" else None))
    return ops, errors


def agent_results(path, uuid):
    """vsimigd's own account of each libvirt request, in order, per op:
    {"assoc": [True, ...]} - True when it says SUCCESS was the bridge's
    answer to that request (or one the bridge had already given)."""
    out = {}
    if not os.path.exists(path):
        return out
    pat = re.compile(r"libvirt (PREASSOCIATE|ASSOCIATE|DISASSOCIATE) of VSI ([0-9a-f-]+): (\w+)(.*)")
    with open(path, errors="replace") as f:
        for line in f:
            m = pat.search(line)
            if m and m.group(2) == uuid:
                real = m.group(3) == "success" and ("the bridge's answer" in m.group(4) or
                                                     "answered by the bridge before" in m.group(4))
                out.setdefault(LV_OPS[m.group(1)], []).append(real)
    return out


def events(path):
    ev = []
    if not os.path.exists(path):
        return ev
    with open(path, errors="replace") as f:
        for line in f:
            m = TS_RE.match(line)
            if m and "event 'lifecycle'" in line:
                ev.append((ts(m.group(1)), line.rsplit(": ", 1)[-1].strip()))
    return ev


def steps(path):
    st = []
    with open(path) as f:
        for line in f:
            name, t = line.split()
            st.append((name, int(t) / 1e9))
    return st


# ---------------------------------------------------------------- analysis

class Run:
    def __init__(self, d, uuid, st_mac, vm_mac):
        self.uuid = uuid
        self.st_mac = st_mac                      # {"A": mac, "B": mac}
        self.host_of = {v: k for k, v in st_mac.items()}
        self.vdp = sorted(vdp_records(os.path.join(d, "tp-a.pcap"), "A", uuid) +
                          vdp_records(os.path.join(d, "tp-b.pcap"), "B", uuid), key=lambda r: r["t"])
        self.vm = sorted(other_frames(os.path.join(d, "tp-a.pcap"), "A", vm_mac) +
                         other_frames(os.path.join(d, "tp-b.pcap"), "B", vm_mac), key=lambda r: r["t"])
        self.ops, self.errors = [], []
        for h in "AB":
            o, e = libvirt_ops(os.path.join(d, f"libvirtd-{h}.log"), h, uuid)
            self.ops += o
            self.errors += e
        self.ops.sort(key=lambda o: o["t"])
        self.ev = {h: events(os.path.join(d, f"events-{h}.txt")) for h in "AB"}
        self.agent = {h: agent_results(os.path.join(d, f"vsimigd-{h}.log"), uuid) for h in "AB"}
        seen = {}
        for op in self.ops:
            k = (op["host"], op["op"])
            i = seen.get(k, 0)
            seen[k] = i + 1
            lst = self.agent[op["host"]].get(op["op"], [])
            op["agent_real"] = lst[i] if i < len(lst) else None
        sp = os.path.join(d, "steps.txt")
        self.steps = steps(sp) if os.path.exists(sp) else []

    def requests(self):
        return [r for r in self.vdp if not r["resp"] and r["src"] in self.host_of]

    def answer(self, req):
        """The bridge's answer to a station request: the first response
        for the same VSI and mode on the same port after it."""
        for r in self.vdp:
            if r["resp"] and r["port"] == req["port"] and r["mode"] == req["mode"] and r["t"] >= req["t"]:
                return r
        return None

    def transitions(self, t0, t1, last):
        """Station requests in [t0, t1) that change that host's mode
        (keep-alives and retransmissions folded), updating last."""
        out = []
        for r in self.requests():
            h = self.host_of[r["src"]]
            if r["t"] < t0:
                continue
            if r["t"] >= t1:
                break
            if last.get(h) != r["mode"]:
                out.append(r)
                last[h] = r["mode"]
        return out

    def op_frames(self, op):
        """libvirt op -> (station request, bridge answer).  The request is
        the first time that host's VSI entered the op's mode after
        libvirt's previous request on that host: an agent may have sent it
        before libvirt asked (vsimigd's ASSOCIATE+M at SWITCHOVER precedes
        libvirt's Finish) or after (lldpad); keep-alives and
        retransmissions do not count."""
        prev = max([o["t"] for o in self.ops if o["host"] == op["host"] and o["t"] < op["t"]] or [0.0])
        mac = self.st_mac[op["host"]]
        for r in self.transitions(0, float("inf"), {}):
            if r["src"] == mac and r["mode"] == op["op"] and r["t"] > prev:
                return r, self.answer(r)
        return None, None

    def migrations(self):
        """[(src, dst, suspended_t, dst_resumed_event_t, first_rarp_t)] per
        Suspended Migrated event on a source."""
        out = []
        for src in "AB":
            dst = "B" if src == "A" else "A"
            for (t, what) in self.ev[src]:
                if what != "Suspended Migrated":
                    continue
                res = next((t2 for (t2, w2) in self.ev[dst] if w2 == "Resumed Migrated" and t2 >= t), None)
                rarp = next((f["t"] for f in self.vm if f["port"] == dst and f["kind"] == "rarp"
                             and f["t"] >= t - 0.05), None)
                out.append(dict(src=src, dst=dst, suspended=t, resumed=res, rarp=rarp))
        out.sort(key=lambda m: m["suspended"])
        return out


def show_req(r, t0):
    return (f"{fmt_ms(r['t'] - t0):>10} ms  host {r['port']} "
            f"{r['mode']:<9} m={int(r['m'])} s={int(r['s'])} status=0x{r['status']:02x}")


# ---------------------------------------------------------------- check

class Checker:
    def __init__(self):
        self.fails = []

    def ok(self, cond, msg):
        print(("  ok   " if cond else "  FAIL ") + msg)
        if not cond:
            self.fails.append(msg)
        return cond


def expected(phase, step):
    """Mode transitions per step: [(host, mode, m, s)], m/s None = unchecked."""
    hint = phase == "vsimigd"
    M = 1 if hint else 0
    return {
        "boot": [("A", "assoc", 0, 0)],
        "migrate-AB": [("B", "preassoc", M, 0), ("B", "assoc", M, 0), ("A", "deassoc", 0, None)],
        "abort-AB": [("B", "preassoc", M, 0), ("B", "deassoc", 0, None)],
        "migrate-BA": [("A", "preassoc", M, 0), ("A", "assoc", M, 0), ("B", "deassoc", 0, None)],
        "destroy": [("A", "deassoc", 0, None)],
    }.get(step)


def cmd_check(a):
    run = Run(a.dir, a.instanceid, {"A": a.station_a.lower(), "B": a.station_b.lower()}, a.vm_mac.lower())
    c = Checker()
    ph = a.phase
    t_first = run.steps[0][1] if run.steps else 0
    print(f"== {ph}: VSI {a.instanceid}: {len(run.vdp)} VDP TLVs on the ToR ports, "
          f"{len(run.ops)} libvirt port-profile requests")
    reqs = run.requests()
    c.ok(len(reqs) > 0, f"{ph}: station requests for the VSI on the wire ({len(reqs)})")

    # What the bridge sees is what lldpad sent: the fields of every request.
    bad = [r for r in reqs if not (r["mgr"] == chr(int(a.mgrid)) and r["typeid"] == int(a.typeid)
                                   and r["ver"] == int(a.typever) and r["idfmt"] == 5 and r["ffmt"] == 2
                                   and r["filters"] == [dict(mac=a.vm_mac.lower(), ps=False, pcp=0, vid=0)])]
    c.ok(not bad, f"{ph}: every request: Manager ID {a.mgrid}, type {a.typeid} v{a.typever}, VSIID format 5, "
         f"filter MAC/VID {a.vm_mac}/0" + (f" (not: {bad[0]})" if bad else ""))

    other = set()
    for port in ("a", "b"):
        other |= foreign_vsis(os.path.join(a.dir, f"tp-{port}.pcap"), a.vm_mac.lower(), a.instanceid,
                              set(run.host_of))
    c.ok(not other, f"{ph}: no second VSI for the VM's MAC ({sorted(other)})")

    # Sequences per step.
    last = {}
    bounds = run.steps + [("end", float("inf"))]
    for i, (name, t0) in enumerate(run.steps):
        if name == "end":
            continue
        t1 = bounds[i + 1][1]
        tr = run.transitions(t0, t1, last)
        print(f"-- step {name} (from {fmt_ms(t0 - t_first)} ms):")
        for r in tr:
            ans = run.answer(r)
            print(f"     {show_req(r, t0)}  bridge answer "
                  f"{fmt_ms(ans['t'] - r['t']) + ' ms status=0x%02x' % ans['status'] if ans else 'NONE'}")
        want = expected(ph, name)
        if want is None:
            continue
        got = [(run.host_of[r["src"]], r["mode"]) for r in tr]
        c.ok(got == [(h, m) for (h, m, _, _) in want],
             f"{ph}/{name}: mode sequence {got} == {[(h, m) for (h, m, _, _) in want]}")
        for r, (h, m, wm, ws) in zip(tr, want):
            if wm is not None:
                c.ok(int(r["m"]) == wm, f"{ph}/{name}: {h} {m} M-bit {int(r['m'])} == {wm}")
            if ws is not None:
                c.ok(int(r["s"]) == ws, f"{ph}/{name}: {h} {m} S-bit {int(r['s'])} == {ws}")
            ans = run.answer(r)
            c.ok(ans is not None and ans["reason"] == 0,
                 f"{ph}/{name}: the bridge answered {h} {m} with success")

    # Hints over the whole run.
    nm = sum(1 for r in reqs if r["m"])
    ns = sum(1 for r in reqs if r["s"])
    print(f"-- hints: {nm} of {len(reqs)} station requests carry M, {ns} carry S")
    if ph == "lldpad":
        c.ok(nm == 0 and ns == 0, f"baseline: no request carries the M- or S-bit ({nm} M, {ns} S of {len(reqs)})")

    # Migrations: paused window, S-bit while suspended, replay before RESUMED.
    migs = run.migrations()
    c.ok(len(migs) == 2, f"{ph}: two completed migrations seen in the events ({len(migs)})")
    for mg in migs:
        end = mg["rarp"] or mg["resumed"]
        win = (end - mg["suspended"]) if end else None
        print(f"-- migration {mg['src']} -> {mg['dst']}: paused window {fmt_ms(win)} ms "
              f"(SUSPENDED -> first RARP; RESUMED event {fmt_ms((mg['resumed'] or 0) - mg['suspended'])} ms)")
        sbits = [r for r in reqs if run.host_of[r["src"]] == mg["src"] and r["s"]
                 and mg["suspended"] - 0.05 <= r["t"] <= (end or mg["suspended"]) + 0.5]
        rep = [f for f in run.vm if f["port"] == mg["dst"] and f["kind"] != "rarp"
               and mg["suspended"] - 0.05 <= f["t"] < (end or 0)]
        kinds = sorted({f["kind"] for f in rep})
        print(f"     VM frames on the destination's port before RESUMED: {len(rep)} {kinds}")
        if ph == "vsimigd":
            c.ok(bool(sbits), f"vsimigd: S-bit ASSOCIATE from {mg['src']} while suspended")
            c.ok("dhcp-request" in kinds and ("igmp" in kinds or "mld" in kinds) and "garp" in kinds,
                 f"vsimigd: replay (DHCP request, IGMP/MLD reports, GARP) on {mg['dst']}'s port before RESUMED ({kinds})")

    # libvirt's view: each request, and whether SUCCESS came after the bridge's answer.
    print("-- libvirt's port-profile requests (SUCCESS = libvirt's next log line in that thread):")
    n_after = n_before = n_amb = 0
    for op in run.ops:
        req, ans = run.op_frames(op)
        verdict = "no answer on the wire"
        if op["success_t"] is not None and ans is not None:
            # libvirt's time stamps are truncated to the ms.
            if op["success_t"] >= ans["t"]:
                verdict, n_after = "after the bridge's answer", n_after + 1
            elif op["success_t"] + 0.001 <= ans["t"]:
                verdict, n_before = "BEFORE the bridge's answer (stale)", n_before + 1
            elif op.get("agent_real"):
                # libvirt's log cannot tell (ms); vsimigd's log says it
                # answered with the bridge's answer to this request.
                verdict, n_after = "after the bridge's answer (per vsimigd's log; libvirt's ms can't tell)", n_after + 1
            else:
                verdict, n_amb = "within 1 ms of the bridge's answer", n_amb + 1
        step = ""
        if op["finish_t"] is not None and op["success_t"] is not None:
            step = f" Finish step {fmt_ms(op['success_t'] - op['finish_t'])} ms;"
        print(f"     {op['host']} {op['op']:<9} ({op['vmop']}): SETLINK -> SUCCESS "
              f"{fmt_ms((op['success_t'] or op['t']) - op['t'])} ms;{step} {verdict}"
              + (f" (answer {fmt_ms(ans['t'] - op['t'])} ms)" if ans else ""))
    print(f"     SUCCESS after the bridge's answer: {n_after}, before it: {n_before}, within 1 ms: {n_amb}")
    print(f"-- libvirtd.log port-profile errors / re-sends: {len(run.errors)}")
    for e in run.errors[:12]:
        print(f"     {e[:160]}")
    if ph == "vsimigd":
        c.ok(n_before == 0 and n_amb == 0 and n_after == len(run.ops) and run.ops,
             f"vsimigd: every SUCCESS came after the bridge's answer ({n_after}/{len(run.ops)})")
        c.ok(not run.errors, f"vsimigd: no port-profile errors or re-sends in libvirtd.log ({len(run.errors)})")
    print(f"== {ph}: {len(c.fails)} failed check(s)")
    return 1 if c.fails else 0


# ---------------------------------------------------------------- bench

def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def cmd_bench(a):
    """Summary JSON of one variant's run (K migrations each way)."""
    run = Run(a.dir, a.instanceid, {"A": a.station_a.lower(), "B": a.station_b.lower()}, a.vm_mac.lower())
    reqs = run.requests()
    out = dict(variant=a.variant, migrations=[], ops={})
    for mg in run.migrations():
        end = mg["rarp"] or mg["resumed"]
        w = dict(src=mg["src"], dst=mg["dst"], paused_ms=(end - mg["suspended"]) * 1000 if end else None)
        # the step window this migration belongs to
        t0 = max([t for (n, t) in run.steps if t <= mg["suspended"]] or [0])
        nxt = [t for (n, t) in run.steps if t > mg["suspended"]]
        t1 = min(nxt) if nxt else float("inf")
        dst_mac, src_mac = run.st_mac[mg["dst"]], run.st_mac[mg["src"]]
        pre = next((r for r in reqs if r["src"] == dst_mac and r["mode"] == "preassoc" and t0 <= r["t"] < t1), None)
        asc = next((r for r in reqs if r["src"] == dst_mac and r["mode"] == "assoc" and t0 <= r["t"] < t1), None)
        sb = any(r["src"] == src_mac and r["s"] and mg["suspended"] - 0.05 <= r["t"] <= (end or 0) + 0.5
                 for r in reqs)
        w.update(preassoc_m=bool(pre and pre["m"]), assoc_m=bool(asc and asc["m"]), s_bit=sb)
        w["hints_right"] = w["preassoc_m"] and w["assoc_m"] and sb
        w["any_hint"] = any((r["m"] or r["s"]) for r in reqs if t0 <= r["t"] < t1)
        rep = {f["kind"] for f in run.vm if f["port"] == mg["dst"] and f["kind"] != "rarp"
               and mg["suspended"] - 0.05 <= f["t"] < (end or 0)}
        w["replay_kinds"] = sorted(rep)
        w["replay_before_resumed"] = "dhcp-request" in rep and ("igmp" in rep or "mld" in rep) and "garp" in rep
        fin = [o for o in run.ops if o["host"] == mg["dst"] and o["vmop"] == "migrate in finish"
               and o["finish_t"] and t0 <= o["t"] < t1]
        w["finish_step_ms"] = ((fin[0]["success_t"] - fin[0]["finish_t"]) * 1000
                               if fin and fin[0]["success_t"] else None)
        out["migrations"].append(w)
    for op in run.ops:
        k = op["vmop"]
        d = out["ops"].setdefault(k, dict(n=0, setlink_to_success_ms=[], after=0, before=0, within1ms=0, unanswered=0))
        d["n"] += 1
        if op["success_t"] is not None:
            d["setlink_to_success_ms"].append((op["success_t"] - op["t"]) * 1000)
        _, ans = run.op_frames(op)
        if ans is None or op["success_t"] is None:
            d["unanswered"] += 1
        elif op["success_t"] >= ans["t"]:
            d["after"] += 1
        elif op["success_t"] + 0.001 <= ans["t"]:
            d["before"] += 1
        elif op.get("agent_real"):
            d["after"] += 1
            d["after_per_agent_log"] = d.get("after_per_agent_log", 0) + 1
        else:
            d["within1ms"] += 1
    out["requests"] = len(reqs)
    out["requests_m"] = sum(1 for r in reqs if r["m"])
    out["requests_s"] = sum(1 for r in reqs if r["s"])
    out["libvirt_errors"] = len(run.errors)
    sm = os.path.join(a.dir, "start_ms")
    out["start_ms"] = float(open(sm).read()) if os.path.exists(sm) else None
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


def cmd_table(a):
    vs = []
    for spec in a.summaries:
        with open(spec) as f:
            vs.append(json.load(f))

    def f1(x):
        return "-" if x is None else f"{x:.1f}"

    rows = []

    def row(label, fn):
        rows.append([label] + [fn(v) for v in vs])

    def windows(v):
        return [m["paused_ms"] for m in v["migrations"] if m["paused_ms"] is not None]

    def fins(v):
        return [m["finish_step_ms"] for m in v["migrations"] if m["finish_step_ms"] is not None]

    def opstat(v, k, q):
        return f1(pct(v["ops"].get(k, {}).get("setlink_to_success_ms", []), q))

    def succ(v):
        a_ = sum(d["after"] for d in v["ops"].values())
        n = sum(d["n"] for d in v["ops"].values())
        b = sum(d["before"] for d in v["ops"].values())
        return f"{a_}/{n} after ({b} stale)"

    def succ_k(v, k):
        d = v["ops"].get(k)
        return "-" if not d else f"{d['after']}/{d['n']} after ({d['before']} stale)"

    row("migrations (rc 0)", lambda v: str(len(v["migrations"])))
    row("paused window median ms", lambda v: f1(pct(windows(v), 0.5)))
    row("paused window p95 ms", lambda v: f1(pct(windows(v), 0.95)))
    row("Finish port-profile step median ms", lambda v: f1(pct(fins(v), 0.5)))
    row("Finish port-profile step p95 ms", lambda v: f1(pct(fins(v), 0.95)))
    row("Finish SETLINK->SUCCESS median ms", lambda v: opstat(v, "migrate in finish", 0.5))
    row("Finish SUCCESS vs bridge answer", lambda v: succ_k(v, "migrate in finish"))
    row("all SUCCESS vs bridge answer", succ)
    row("domain start (virsh start) ms", lambda v: f1(v.get("start_ms")))
    row("start SETLINK->SUCCESS ms", lambda v: opstat(v, "create", 0.5))
    row("Prepare SETLINK->SUCCESS median ms", lambda v: opstat(v, "migrate in start", 0.5))
    row("requests with M / S / all", lambda v: f"{v['requests_m']} / {v['requests_s']} / {v['requests']}")
    row("migrations with hints right", lambda v: f"{sum(m['hints_right'] for m in v['migrations'])}/{len(v['migrations'])}")
    row("replay before RESUMED", lambda v: f"{sum(m['replay_before_resumed'] for m in v['migrations'])}/{len(v['migrations'])}")
    row("libvirtd.log port-profile errors", lambda v: str(v["libvirt_errors"]))
    w = [max(len(r[i]) for r in rows + [["", *[v["variant"] for v in vs]]]) for i in range(len(vs) + 1)]
    print("  ".join(s.ljust(w[i]) for i, s in enumerate(["", *[v["variant"] for v in vs]])))
    for r in rows:
        print("  ".join(s.ljust(w[i]) for i, s in enumerate(r)))
    by = {v["variant"]: v for v in vs}
    if "lldpad" in by and "vsimigd" in by:
        lp, vm = by["lldpad"], by["vsimigd"]
        n_ops = sum(d["n"] for d in vm["ops"].values())
        real = sum(d["after"] for d in vm["ops"].values())
        goals = [
            ("every SUCCESS the bridge's real answer", real == n_ops and n_ops > 0, f"{real}/{n_ops}"),
            ("paused window median <= lldpad's",
             (pct(windows(vm), 0.5) or 1e9) <= (pct(windows(lp), 0.5) or 0),
             f"{f1(pct(windows(vm), 0.5))} vs {f1(pct(windows(lp), 0.5))} ms"),
            ("start and Prepare without the 125 ms poll",
             all((pct(vm["ops"].get(k, {}).get("setlink_to_success_ms", []), 0.5) or 1e9) < 100
                 for k in ("create", "migrate in start")),
             f"{opstat(vm, 'create', 0.5)} / {opstat(vm, 'migrate in start', 0.5)} ms"),
            ("100 % of the migrations with the right hints",
             vm["migrations"] and all(m["hints_right"] for m in vm["migrations"]),
             f"{sum(m['hints_right'] for m in vm['migrations'])}/{len(vm['migrations'])}"),
        ]
        print("goals (vsimigd):")
        for g, ok, fig in goals:
            print(f"  {'met    ' if ok else 'NOT MET'}  {g}: {fig}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    ck = sub.add_parser("check")
    ck.add_argument("--phase", required=True, choices=["lldpad", "vsimigd"])
    ck.add_argument("--dir", required=True)
    ck.add_argument("--instanceid", required=True)
    ck.add_argument("--station-a", required=True)
    ck.add_argument("--station-b", required=True)
    ck.add_argument("--vm-mac", required=True)
    ck.add_argument("--mgrid", required=True)
    ck.add_argument("--typeid", required=True)
    ck.add_argument("--typever", required=True)
    bn = sub.add_parser("bench")
    for k in ("--variant", "--dir", "--instanceid", "--station-a", "--station-b", "--vm-mac"):
        bn.add_argument(k, required=True)
    tb = sub.add_parser("table")
    tb.add_argument("summaries", nargs="+")
    a = p.parse_args()
    if a.cmd == "check":
        sys.exit(cmd_check(a))
    if a.cmd == "bench":
        sys.exit(cmd_bench(a))
    if a.cmd == "table":
        sys.exit(cmd_table(a))


if __name__ == "__main__":
    main()

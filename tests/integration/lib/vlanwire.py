"""The wire checks test-direct.sh and test-vlan.sh share: the VM's replayed
frames on the switch port are all 802.1Q-tagged with the vNIC's VID (PCP 0),
carry one IGMPv3 record per group, a GARP per address and a DHCP REQUEST;
and every VDP request for the VM's MAC carries that VID in its filter."""
import vsmtest


def tagged_replay(carry, pcap, mac, vid, groups, addrs, fails):
    """Checks 1 and 2; appends to fails."""
    raw = [(t, f) for t, f in vsmtest.read_pcap(pcap) if vsmtest.mac(f[6:12]) == mac]
    if not raw:
        fails.append(f"no frame from {mac} on sw0: no replay")
    for t, f in raw:
        d = carry.decode(t, f) or {}
        et = int.from_bytes(f[12:14], "big")
        if et != 0x8100:
            fails.append(f"untagged frame from {mac} on sw0 (EtherType 0x{et:04x}): {carry.describe(d) if d else f[:20].hex()}")
            continue
        tci = int.from_bytes(f[14:16], "big")
        print(f"info: VID {tci & 0xfff} PCP {tci >> 13}: {carry.describe(d) if d else f[:20].hex()}")
        if tci & 0xfff != vid or tci >> 13 != 0:
            fails.append(f"frame from {mac} with VID {tci & 0xfff} PCP {tci >> 13}, want VID {vid} PCP 0")
    fr = [carry.decode(t, f) for t, f in raw if int.from_bytes(f[12:14], "big") == 0x8100]
    fr = [d for d in fr if d]
    recs = [g for f in fr if f.get("kind") == "igmp-report" and f.get("version") == 3 for g in f["groups"]]
    for g in groups:
        if recs.count(g) != 1:
            fails.append(f"group {g}: {recs.count(g)} IGMPv3 record(s) in VLAN {vid} on sw0, want 1")
    garps = [f["spa"] for f in fr if f.get("kind") == "arp" and f.get("gratuitous")]
    for a in addrs:
        if a not in garps:
            fails.append(f"no gratuitous ARP for {a} in VLAN {vid} on sw0")
    dh = [f for f in fr if f.get("kind") == "dhcp"]
    if not any(f.get("type") == "REQUEST" for f in dh):
        fails.append(f"no DHCP REQUEST in VLAN {vid} on sw0: {[carry.describe(f) for f in dh]}")


def vdp_filters(pcap, mac, vid, fails):
    """Check 3; appends to fails and returns how many VDP requests name mac."""
    n_vdp, said = 0, set()
    for e in vsmtest.frames(pcap):
        for tl in e.get("tlvs") or []:
            if not isinstance(tl, dict) or tl.get("response") is not False:
                continue
            for flt in tl.get("filters") or []:
                if flt.get("mac") != mac:
                    continue
                n_vdp += 1
                if (tl["tlv"], flt["vid"]) not in said:
                    said.add((tl["tlv"], flt["vid"]))
                    print(f"info: VDP {tl['tlv']} M={tl.get('m')} filter {flt['mac']} VID {flt['vid']} (and retries)")
                if flt["vid"] != vid:
                    fails.append(f"VDP {tl['tlv']} for {mac} carries filter VID {flt['vid']}, want {vid}")
    return n_vdp

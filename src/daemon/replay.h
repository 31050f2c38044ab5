/* The frames a destination sends on the VM's behalf in the paused window
 * (DESIGN.md section 4, "Replay facts"), built from the carried state.
 *
 * Pure: no I/O.  The caller sends each frame on the uplink (AF_PACKET,
 * never the bridge device) in the order given and records it in the
 * timeline.  Order: DHCP INIT-REBOOT REQUEST (only with a known, unexpired
 * lease and a known client-id, exactly as learned: vsm_nic_state_can_replay_dhcp),
 * then the IGMP reports of the IPv4 groups in the version the guest used,
 * the MLD reports of the IPv6 groups likewise (TTL/hop limit 1, Router
 * Alert; v3/MLDv2 records packed, many to a report; link-local groups,
 * 224.0.0.0/24 and ff02::/16, never), then a gratuitous ARP per IPv4
 * address (the lease address included while the lease runs) and an
 * unsolicited NA per IPv6 address.  Source MAC = the VM's MAC.  Which
 * addresses the state holds is decided before: the learner's ownership
 * rule and the destination's vsm_nic_state_recheck(). */
#pragma once

#include <glib.h>

#include "daemon/netstate.h"

typedef enum VsmReplayKind {
        VSM_REPLAY_DHCP_REQUEST,
        VSM_REPLAY_IGMP_REPORT,
        VSM_REPLAY_MLD_REPORT,
        VSM_REPLAY_GARP,
        VSM_REPLAY_UNSOLICITED_NA,
        VSM_REPLAY_IGMP_QUERY,         /* post-resume, into the tap */
        VSM_REPLAY_MLD_QUERY,          /* post-resume, into the tap */
        VSM_REPLAY_IGMP_LEAVE,         /* the source, after the migration */
        VSM_REPLAY_MLD_LEAVE,
        _VSM_REPLAY_KIND_MAX,
} VsmReplayKind;

typedef struct VsmReplayFrame {
        VsmReplayKind kind;
        GBytes *frame;                 /* a whole Ethernet frame */
        char *what;                    /* "dhcp-request 10.77.0.5", "igmpv3-report 239.1.1.1",
                                        * "igmpv3-report 239.1.1.1 +49 (50 records)", ... */
} VsmReplayFrame;

VsmReplayFrame *vsm_replay_frame_free(VsmReplayFrame *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmReplayFrame, vsm_replay_frame_free)

/* The replay for one vNIC, as VsmReplayFrame (the array frees them).
 * real_now_usec decides whether the lease is still valid.  The DHCP
 * transaction id is random.  An IPv4 source for IGMP is the lease address,
 * else the first learned IPv4, else 0.0.0.0; for MLD a link-local of the
 * VM (learned, else derived from its MAC by EUI-64).  Never fails: what
 * cannot be built is skipped and said in *ret_skipped (may be NULL;
 * "dhcp: no lease", "dhcp: client-id unknown", "dhcp: lease expired",
 * "group 239.1.1.1: ...", "garp 0.0.0.0: ..."; reasons joined by "; ";
 * set to NULL when nothing was skipped).  IGMPv1/v2 and MLDv1 groups get
 * a report each.  IGMPv3 (MLDv2) groups become MODE_IS_INCLUDE/EXCLUDE
 * records packed in group order into as few reports as fit: every frame
 * fits a 1500-octet MTU and the codec's caps (64 records, 512 (IGMP) /
 * 256 (MLD) sources per report, 64 per record); a v1/v2 group between
 * them closes the report, so the frames keep the group order.  "what"
 * names a report's first group, "igmpv3-report 239.1.1.1" for one record,
 * "igmpv3-report 239.1.1.1 +49 (50 records)" for several.  A record with
 * more sources than one record holds (64, the codec's cap) is split over
 * several reports if INCLUDE and truncated if EXCLUDE (RFC 3376 4.2.16,
 * RFC 3810 5.2.15), each part in a report of its own ("what" then ends in
 * " (i/n)" when split).  The learner's caps (32 sources) never need
 * either: 64 groups x 32 sources take 7 IGMPv3 or 32 MLDv2 reports. */
GPtrArray *vsm_replay_build(const VsmNicState *s, gint64 real_now_usec, char **ret_skipped);

/* The general queries sent into the VM's tap after resume so the guest
 * re-reports its real memberships: an IGMPv3 general query (when the state
 * has IPv4 groups, or always when want_ip4) and an MLDv2 general query
 * (IPv6 likewise), from src_mac with source 0.0.0.0 / the link-local
 * derived from src_mac (Linux ignores MLD queries from non-link-local). */
GPtrArray *vsm_replay_build_queries(const VsmNicState *s, const uint8_t src_mac[VSM_ETH_ALEN],
                                    gboolean want_ip4, gboolean want_ip6);

/* After the VM left (the source, once the migration completed): leaves
 * for its groups on the old port, so the switch stops forwarding them
 * there now instead of when the membership ages out (260 s).  IGMPv3 and
 * MLDv2 groups as CHANGE_TO_INCLUDE{} records packed like the reports,
 * IGMPv2 Leave Group, MLDv1 Done; IGMPv1 has no leave.
 *
 * Never as the VM: the VM runs elsewhere by then, and a frame from its MAC
 * would move it back to the old port in the switch's FDB (DESIGN.md
 * section 7).  The leaves come from host_mac (the uplink's own MAC), with
 * IPv4 source 0.0.0.0 (RFC 3376 4.2.13) and IPv6 source the link-local
 * derived from host_mac by EUI-64 (RFC 3810 5.2.13 wants a link-local; a
 * bridge port has no address of its own).  The Linux bridge's snooping
 * honours them: it matches a leave to the port group by ingress port only
 * (the source MAC counts only with multicast_to_unicast), so as querier it
 * sends a group-specific query out of that port alone and drops the port
 * group after last-member-count x last-member-interval (2 s by default)
 * unless a listener still behind the port answers.  Never NULL. */
GPtrArray *vsm_replay_build_leaves(const VsmNicState *s, const uint8_t host_mac[VSM_ETH_ALEN]);

/* Give every frame an 802.1Q tag with vid (1-4094), PCP 0 (proto/eth.h):
 * the frames leave the uplink in the NIC's VLAN.  A frame that cannot be
 * tagged (none can: every one fits VSM_ETH_FRAME_MAX) is dropped; the
 * number dropped is returned. */
guint vsm_replay_frames_tag(GPtrArray *frames, uint16_t vid);

const char *vsm_replay_kind_to_string(VsmReplayKind k);

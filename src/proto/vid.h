/* The egress VID of a vNIC: the 802.1Q tag its frames carry where they
 * leave the host (on the uplink), derived from what rtnetlink says about
 * the links on its way out (proto/rtlink.h), libvirt's <vlan><tag> and
 * the operator's configuration.  Pure.
 *
 * "Unknown" is a result, never a guess: the replay of a NIC whose VID is
 * unknown is not sent (DESIGN.md section 8). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/rtlink.h"

typedef enum VsmVidState {
        VSM_VID_UNTAGGED,              /* known: no tag */
        VSM_VID_TAGGED,                /* known: tag vid */
        VSM_VID_UNKNOWN,               /* cannot be known: why says why */
        VSM_VID_UNSUPPORTED,           /* an Open vSwitch port */
        VSM_VID_STATE_MAX,
} VsmVidState;

typedef enum VsmVidSource {
        VSM_VID_SOURCE_NONE,           /* no VLAN anywhere: plain bridge or direct NIC */
        VSM_VID_SOURCE_VLAN_DEVICE,    /* a VLAN device under the macvtap or the bridge port */
        VSM_VID_SOURCE_BRIDGE,         /* a VLAN-filtering bridge's PVID / port membership */
        VSM_VID_SOURCE_LIBVIRT,        /* <vlan><tag id=> */
        VSM_VID_SOURCE_CONFIG,         /* [replay] vlan */
        VSM_VID_SOURCE_MAX,
} VsmVidSource;

typedef struct VsmVidInput {
        /* The links the frames cross below the NIC's own device, down to
         * the uplink: for a direct NIC the macvtap and its IFLA_LINK chain,
         * for a bridge NIC the bridge's port toward the uplink and its
         * chain.  chain_error: it could not be read (why in chain_why). */
        const VsmRtLink *chain;
        size_t n_chain;
        bool chain_error;
        const char *chain_why;
        /* Bridge NICs: the bridge (RTM_GETLINK), NULL for a direct NIC. */
        const VsmRtLink *bridge;
        /* A VLAN-filtering bridge's AF_BRIDGE answers (NULL: not read). */
        const VsmRtLink *tap_vlans;
        const VsmRtLink *port_vlans;
        bool has_libvirt_vid;
        uint16_t libvirt_vid;
        bool has_config_vid;
        uint16_t config_vid;
} VsmVidInput;

#define VSM_VID_WHY_MAX 192

typedef struct VsmVid {
        VsmVidState state;
        uint16_t vid;                  /* TAGGED: 1-4094; else 0 */
        VsmVidSource source;
        char why[VSM_VID_WHY_MAX];     /* UNKNOWN/UNSUPPORTED: the reason; else "" */
} VsmVid;

/* The rules (all sources must agree, else the VID is unknown):
 * - the bridge is an Open vSwitch datapath (kind "openvswitch"):
 *   unsupported;
 * - chain_error: unknown;
 * - a VLAN device (kind "vlan") in the chain tags with its IFLA_VLAN_ID;
 *   two of them (Q-in-Q) or an 802.1ad one: unknown;
 * - a VLAN-filtering bridge (IFLA_BR_VLAN_FILTERING 1): the tap's PVID is
 *   the VM's VLAN (none: unknown, the bridge drops its frames); the port
 *   toward the uplink sends it untagged (BRIDGE_VLAN_INFO_UNTAGGED) or
 *   tagged with it, or not at all (unknown); with a tag from the bridge
 *   and one from a VLAN device below it: unknown; libvirt's <vlan><tag>
 *   must be that PVID;
 * - otherwise libvirt's tag and the configured VID are claims about the
 *   wire: each must agree with a VLAN device's VID when there is one;
 * - nothing at all: untagged (source NONE).
 * ret is always written. */
void vsm_vid_derive(const VsmVidInput *in, VsmVid *ret);

const char *vsm_vid_state_to_string(VsmVidState s);
const char *vsm_vid_source_to_string(VsmVidSource s);

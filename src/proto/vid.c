/* The egress VID of a vNIC (see vid.h).  IEEE 802.1Q-2018 clause 9.6 (the
 * tag), 8.6.1/8.6.2 (ingress classification by PVID, egress untagged set)
 * as the Linux bridge implements them (net/bridge/br_vlan.c); VLAN devices
 * as net/8021q does them (one tag per device, the lower device sends it). */
#include "proto/vid.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[VSM_VID_STATE_MAX] = {
        [VSM_VID_UNTAGGED] = "untagged",
        [VSM_VID_TAGGED] = "tagged",
        [VSM_VID_UNKNOWN] = "unknown",
        [VSM_VID_UNSUPPORTED] = "unsupported",
};

static const char *const source_names[VSM_VID_SOURCE_MAX] = {
        [VSM_VID_SOURCE_NONE] = "none",
        [VSM_VID_SOURCE_VLAN_DEVICE] = "vlan-device",
        [VSM_VID_SOURCE_BRIDGE] = "bridge-vlan",
        [VSM_VID_SOURCE_LIBVIRT] = "libvirt",
        [VSM_VID_SOURCE_CONFIG] = "config",
};

/* "untagged", "tagged", "unknown", "unsupported". */
const char *vsm_vid_state_to_string(VsmVidState s) {
        return (unsigned) s < VSM_VID_STATE_MAX ? state_names[s] : "?";
}

/* "none", "vlan-device", "bridge-vlan", "libvirt", "config". */
const char *vsm_vid_source_to_string(VsmVidSource s) {
        return (unsigned) s < VSM_VID_SOURCE_MAX ? source_names[s] : "?";
}

static void set_unknown(VsmVid *ret, VsmVidState state, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_unknown(VsmVid *ret, VsmVidState state, const char *fmt, ...) {
        va_list ap;

        memset(ret, 0, sizeof(*ret));
        ret->state = state;
        va_start(ap, fmt);
        vsnprintf(ret->why, sizeof(ret->why), fmt, ap);
        va_end(ap);
}

static void set_known(VsmVid *ret, uint16_t vid, VsmVidSource source) {
        memset(ret, 0, sizeof(*ret));
        ret->state = vid ? VSM_VID_TAGGED : VSM_VID_UNTAGGED;
        ret->vid = vid;
        ret->source = source;
}

/* One claim about the wire tag (0: untagged). */
typedef struct Claim {
        bool set;
        uint16_t vid;
        VsmVidSource source;
} Claim;

static void vid_text(uint16_t vid, char buf[8]) {
        if (vid)
                snprintf(buf, 8, "%u", vid);
        else
                snprintf(buf, 8, "none");
}

/* See vid.h. */
void vsm_vid_derive(const VsmVidInput *in, VsmVid *ret) {
        const VsmRtLink *vlan_dev = NULL;
        Claim claims[3];
        size_t n_claims = 0;
        Claim wire = { 0 };

        if (in->bridge && strcmp(in->bridge->kind, "openvswitch") == 0) {
                set_unknown(ret, VSM_VID_UNSUPPORTED, "Open vSwitch port (%s): not supported yet",
                            in->bridge->name);
                return;
        }
        if (in->chain_error) {
                set_unknown(ret, VSM_VID_UNKNOWN, "%s", in->chain_why ? in->chain_why : "links not readable");
                return;
        }
        for (size_t i = 0; i < in->n_chain; i++) {
                const VsmRtLink *l = &in->chain[i];

                if (strcmp(l->kind, "vlan") != 0)
                        continue;
                if (!l->has_vlan_id) {
                        set_unknown(ret, VSM_VID_UNKNOWN, "VLAN device %s without a VLAN ID", l->name);
                        return;
                }
                if (l->vlan_protocol != 0 && l->vlan_protocol != 0x8100) {
                        set_unknown(ret, VSM_VID_UNKNOWN, "VLAN device %s is 802.1ad (0x%04x)", l->name,
                                    l->vlan_protocol);
                        return;
                }
                if (vlan_dev) {
                        set_unknown(ret, VSM_VID_UNKNOWN, "stacked VLAN devices %s and %s (two tags)", vlan_dev->name,
                                    l->name);
                        return;
                }
                vlan_dev = l;
        }

        if (in->bridge && in->bridge->has_vlan_filtering && in->bridge->vlan_filtering) {
                uint16_t pvid;

                if (!in->tap_vlans) {
                        set_unknown(ret, VSM_VID_UNKNOWN, "bridge %s filters VLANs and the tap's VLANs were not read",
                                    in->bridge->name);
                        return;
                }
                pvid = in->tap_vlans->pvid;
                if (pvid == 0) {
                        set_unknown(ret, VSM_VID_UNKNOWN, "the tap has no PVID on VLAN-filtering bridge %s",
                                    in->bridge->name);
                        return;
                }
                if (in->has_libvirt_vid && in->libvirt_vid != pvid) {
                        set_unknown(ret, VSM_VID_UNKNOWN, "conflict: libvirt's vlan tag %u, the tap's PVID %u",
                                    in->libvirt_vid, pvid);
                        return;
                }
                if (!in->port_vlans) {
                        set_unknown(ret, VSM_VID_UNKNOWN,
                                    "bridge %s filters VLANs and its uplink port's VLANs were not read",
                                    in->bridge->name);
                        return;
                }
                if (!vsm_rtlink_vlan_member(in->port_vlans, pvid)) {
                        set_unknown(ret, VSM_VID_UNKNOWN, "VLAN %u (the tap's PVID) does not leave through %s", pvid,
                                    in->port_vlans->name);
                        return;
                }
                if (!vsm_rtlink_vlan_untagged(in->port_vlans, pvid)) {
                        if (vlan_dev) {
                                set_unknown(ret, VSM_VID_UNKNOWN, "bridge %s tags VLAN %u and VLAN device %s adds %u",
                                            in->bridge->name, pvid, vlan_dev->name, vlan_dev->vlan_id);
                                return;
                        }
                        wire = (Claim) { true, pvid, VSM_VID_SOURCE_BRIDGE };
                } else if (vlan_dev) {
                        wire = (Claim) { true, vlan_dev->vlan_id, VSM_VID_SOURCE_VLAN_DEVICE };
                } else {
                        wire = (Claim) { true, 0, VSM_VID_SOURCE_BRIDGE };
                }
                claims[n_claims++] = wire;
        } else {
                if (vlan_dev)
                        claims[n_claims++] = (Claim) { true, vlan_dev->vlan_id, VSM_VID_SOURCE_VLAN_DEVICE };
                if (in->has_libvirt_vid)
                        claims[n_claims++] = (Claim) { true, in->libvirt_vid, VSM_VID_SOURCE_LIBVIRT };
        }
        if (in->has_config_vid)
                claims[n_claims++] = (Claim) { true, in->config_vid, VSM_VID_SOURCE_CONFIG };

        for (size_t i = 1; i < n_claims; i++)
                if (claims[i].vid != claims[0].vid) {
                        char a[8], b[8];

                        vid_text(claims[0].vid, a);
                        vid_text(claims[i].vid, b);
                        set_unknown(ret, VSM_VID_UNKNOWN, "conflict: %s says %s, %s says %s",
                                    vsm_vid_source_to_string(claims[0].source), a,
                                    vsm_vid_source_to_string(claims[i].source), b);
                        return;
                }
        if (n_claims == 0) {
                set_known(ret, 0, VSM_VID_SOURCE_NONE);
                return;
        }
        set_known(ret, claims[0].vid, claims[0].source);
}

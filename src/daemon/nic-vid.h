/* A vNIC's way out, read from rtnetlink: its kind (bridge, direct, Open
 * vSwitch) and its egress VID (proto/vid.h) on the uplink its frames leave
 * by.  The links are read at the call (a few single-link RTM_GETLINKs; a
 * bridge's ports and, on a VLAN-filtering bridge, the AF_BRIDGE VLAN
 * answers are dumps bounded by the bridge's ports). */
#pragma once

#include <glib.h>

#include "daemon/config.h"
#include "daemon/domain-xml.h"
#include "proto/vid.h"

typedef enum VsmNicKind {
        VSM_NIC_KIND_BRIDGE,
        VSM_NIC_KIND_DIRECT,
        VSM_NIC_KIND_OVS,
        VSM_NIC_KIND_OTHER,
        VSM_NIC_KIND_MAX,
} VsmNicKind;

const char *vsm_nic_kind_to_string(VsmNicKind k);

/* The NIC's kind: direct for type='direct'; ovs when its tap's master (or
 * its source bridge) is an Open vSwitch device; bridge when it has a
 * bridge; else other. */
VsmNicKind vsm_nic_kind(const VsmNicInfo *n);

/* The egress VID of n's frames on uplink (the uplink's name; NULL: not
 * known, then only what needs no uplink is used).  ret is always set. */
void vsm_nic_vid_resolve(const VsmConfig *c, const VsmNicInfo *n, const char *uplink, VsmVid *ret);

/* "100 (vlan-device)", "none (bridge-vlan)", "unknown: why" into a new string. */
char *vsm_vid_describe(const VsmVid *v);

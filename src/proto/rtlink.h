/* RTM_NEWLINK answers (rtnetlink, linux/rtnetlink.h, linux/if_link.h,
 * linux/if_bridge.h) -> the few facts vsimigd needs about a link: its
 * IFLA_LINK (the lower device of a macvtap, macvlan or VLAN device), its
 * master, its kind, a VLAN device's VID, a bridge's vlan_filtering, and a
 * bridge port's VLAN membership (AF_BRIDGE answers with
 * RTEXT_FILTER_BRVLAN).  Pure: no sockets; the kernel's answers are
 * parsed with bounds checked and hard caps, as if hostile. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VSM_RTLINK_NAME_MAX 16         /* IFNAMSIZ, with the NUL */
#define VSM_RTLINK_VID_MAX 4094
/* Attributes looked at per nesting level: more is refused (a link answer
 * has ~60 top-level attributes; a trunk port's AF_SPEC up to 4094 VLAN
 * entries). */
#define VSM_RTLINK_ATTRS_MAX 8192

/* BRIDGE_VLAN_INFO_* (linux/if_bridge.h) */
#define VSM_BRVLAN_MASTER 0x01
#define VSM_BRVLAN_PVID 0x02
#define VSM_BRVLAN_UNTAGGED 0x04
#define VSM_BRVLAN_RANGE_BEGIN 0x08
#define VSM_BRVLAN_RANGE_END 0x10

typedef struct VsmRtLink {
        uint16_t msg_type;             /* RTM_NEWLINK */
        uint8_t family;                /* ifi_family: AF_UNSPEC, or AF_BRIDGE for the port VLAN answers */
        int32_t ifindex;
        char name[VSM_RTLINK_NAME_MAX];        /* IFLA_IFNAME, "" if absent */
        int32_t link;                  /* IFLA_LINK, 0 if absent */
        bool link_netnsid;             /* IFLA_LINK_NETNSID: link is an index in another netns */
        int32_t master;                /* IFLA_MASTER, 0 if absent */
        char kind[VSM_RTLINK_NAME_MAX];        /* IFLA_LINKINFO/IFLA_INFO_KIND, "" if absent */
        char slave_kind[VSM_RTLINK_NAME_MAX];  /* IFLA_INFO_SLAVE_KIND ("bridge", "openvswitch", ...) */
        bool has_vlan_id;              /* kind "vlan": IFLA_INFO_DATA/IFLA_VLAN_ID */
        uint16_t vlan_id;
        uint16_t vlan_protocol;        /* IFLA_VLAN_PROTOCOL (0x8100, 0x88a8), 0 if absent */
        bool has_vlan_filtering;       /* kind "bridge": IFLA_INFO_DATA/IFLA_BR_VLAN_FILTERING */
        bool vlan_filtering;
        /* IFLA_AF_SPEC/IFLA_BRIDGE_VLAN_INFO (struct bridge_vlan_info
         * {u16 flags; u16 vid;}), ranges expanded: */
        bool has_brvlan;               /* an AF_SPEC with VLAN entries (maybe zero of them) was present */
        uint16_t pvid;                 /* 0: none */
        uint8_t vlan_member[512];      /* bit per VID */
        uint8_t vlan_untagged[512];    /* bit per VID: egress untagged */
} VsmRtLink;

/* One netlink message (struct nlmsghdr, struct ifinfomsg, attributes; host
 * byte order) of type RTM_NEWLINK.  0, or -EBADMSG (short, bad lengths,
 * a name without NUL or too long, a VID out of 1-4094, an unterminated
 * range), -EPROTO (another message type), -E2BIG (more attributes than
 * VSM_RTLINK_ATTRS_MAX at one level).  ret is not written on failure. */
int vsm_rtlink_parse(const void *msg, size_t len, VsmRtLink *ret);

bool vsm_rtlink_vlan_member(const VsmRtLink *l, uint16_t vid);
bool vsm_rtlink_vlan_untagged(const VsmRtLink *l, uint16_t vid);

/* RTM_NEWLINK answers -> VsmRtLink (see rtlink.h).
 *
 * Layouts (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
 * linux/if_bridge.h; host byte order, attributes 4-aligned):
 *   struct nlmsghdr  { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }   16
 *   struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; }  16
 *   struct rtattr    { u16 len; u16 type; } + payload, padded to 4; the type's
 *                    top two bits are NLA_F_NESTED / NLA_F_NET_BYTEORDER
 *   IFLA_IFNAME 3 (string), IFLA_LINK 5 (u32), IFLA_MASTER 10 (u32),
 *   IFLA_LINKINFO 18 { IFLA_INFO_KIND 1 (string), IFLA_INFO_DATA 2 {...},
 *                      IFLA_INFO_SLAVE_KIND 4 (string) },
 *   IFLA_AF_SPEC 26, IFLA_LINK_NETNSID 37 (s32);
 *   kind "vlan": IFLA_VLAN_ID 1 (u16), IFLA_VLAN_PROTOCOL 5 (be16);
 *   kind "bridge": IFLA_BR_VLAN_FILTERING 7 (u8);
 *   AF_BRIDGE answers (br_fill_ifinfo(), net/bridge/br_netlink.c):
 *     IFLA_AF_SPEC { IFLA_BRIDGE_VLAN_INFO 2: struct bridge_vlan_info
 *                    { u16 flags; u16 vid; } ... }, one entry per VID with
 *     RTEXT_FILTER_BRVLAN, BRIDGE_VLAN_INFO_RANGE_BEGIN/END pairs with
 *     RTEXT_FILTER_BRVLAN_COMPRESSED.
 */
#include "proto/rtlink.h"

#include <errno.h>
#include <string.h>

#define NLMSG_HDRLEN_ 16
#define IFINFOMSG_LEN 16
#define RTA_HDRLEN 4
#define NLA_TYPE_MASK 0x3fff
#define RTM_NEWLINK_ 16

#define IFLA_IFNAME_ 3
#define IFLA_LINK_ 5
#define IFLA_MASTER_ 10
#define IFLA_LINKINFO_ 18
#define IFLA_AF_SPEC_ 26
#define IFLA_LINK_NETNSID_ 37
#define IFLA_INFO_KIND_ 1
#define IFLA_INFO_DATA_ 2
#define IFLA_INFO_SLAVE_KIND_ 4
#define IFLA_VLAN_ID_ 1
#define IFLA_VLAN_PROTOCOL_ 5
#define IFLA_BR_VLAN_FILTERING_ 7
#define IFLA_BRIDGE_VLAN_INFO_ 2

typedef struct Attr {
        uint16_t type;
        const uint8_t *data;
        size_t len;
} Attr;

static uint16_t rd16(const uint8_t *p) {
        uint16_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

static uint32_t rd32(const uint8_t *p) {
        uint32_t v = 0;

        memcpy(&v, p, sizeof(v));
        return v;
}

/* Splits [data, data+len) into attributes; calls fn for each.  A trailing
 * attribute's padding may be missing (the kernel pads, but the last one's
 * pad is not required). */
typedef int (*AttrFunc)(const Attr *a, VsmRtLink *l, void *ctx);

static int attrs_walk(const uint8_t *data, size_t len, AttrFunc fn, VsmRtLink *l, void *ctx) {
        size_t off = 0;
        unsigned n = 0;

        while (len - off >= RTA_HDRLEN) {
                uint16_t alen = rd16(data + off);
                Attr a;
                int r;

                if (alen < RTA_HDRLEN || alen > len - off)
                        return -EBADMSG;
                if (++n > VSM_RTLINK_ATTRS_MAX)
                        return -E2BIG;
                a.type = rd16(data + off + 2) & NLA_TYPE_MASK;
                a.data = data + off + RTA_HDRLEN;
                a.len = alen - RTA_HDRLEN;
                r = fn(&a, l, ctx);
                if (r < 0)
                        return r;
                /* Padded to 4; the last attribute's pad may be cut off. */
                off += alen;
                off += (4 - (alen & 3)) & 3;
                if (off > len)
                        off = len;
        }
        return len == off ? 0 : -EBADMSG;
}

static int attr_string(const Attr *a, char ret[VSM_RTLINK_NAME_MAX]) {
        const uint8_t *nul = memchr(a->data, 0, a->len);

        if (!nul || nul == a->data || (size_t) (nul - a->data) >= VSM_RTLINK_NAME_MAX)
                return -EBADMSG;
        memcpy(ret, a->data, (size_t) (nul - a->data) + 1);
        return 0;
}

static int attr_u32(const Attr *a, uint32_t *ret) {
        if (a->len < 4)
                return -EBADMSG;
        *ret = rd32(a->data);
        return 0;
}

static void bit_set(uint8_t *bits, uint16_t vid) {
        bits[vid >> 3] |= (uint8_t) (1u << (vid & 7));
}

static bool bit_get(const uint8_t *bits, uint16_t vid) {
        return vid <= VSM_RTLINK_VID_MAX && (bits[vid >> 3] & (1u << (vid & 7)));
}

static int on_vlan_data(const Attr *a, VsmRtLink *l, void *ctx) {
        (void) ctx;
        if (a->type == IFLA_VLAN_ID_) {
                if (a->len < 2)
                        return -EBADMSG;
                l->vlan_id = rd16(a->data);
                if (l->vlan_id < 1 || l->vlan_id > VSM_RTLINK_VID_MAX)
                        return -EBADMSG;
                l->has_vlan_id = true;
        } else if (a->type == IFLA_VLAN_PROTOCOL_) {
                if (a->len < 2)
                        return -EBADMSG;
                l->vlan_protocol = (uint16_t) (a->data[0] << 8 | a->data[1]);
        }
        return 0;
}

static int on_bridge_data(const Attr *a, VsmRtLink *l, void *ctx) {
        (void) ctx;
        if (a->type == IFLA_BR_VLAN_FILTERING_) {
                if (a->len < 1)
                        return -EBADMSG;
                l->has_vlan_filtering = true;
                l->vlan_filtering = a->data[0] != 0;
        }
        return 0;
}

typedef struct InfoCtx {
        const uint8_t *data;           /* IFLA_INFO_DATA, parsed once the kind is known */
        size_t len;
        bool has_data;
} InfoCtx;

static int on_linkinfo(const Attr *a, VsmRtLink *l, void *ctx) {
        InfoCtx *ic = ctx;

        switch (a->type) {
        case IFLA_INFO_KIND_:
                return attr_string(a, l->kind);
        case IFLA_INFO_SLAVE_KIND_:
                return attr_string(a, l->slave_kind);
        case IFLA_INFO_DATA_:
                ic->data = a->data;
                ic->len = a->len;
                ic->has_data = true;
                return 0;
        default:
                return 0;
        }
}

typedef struct RangeCtx {
        bool open;
        uint16_t begin;
        uint16_t flags;
} RangeCtx;

static int on_af_spec(const Attr *a, VsmRtLink *l, void *ctx) {
        RangeCtx *rc = ctx;
        uint16_t flags, vid, from, to;

        if (a->type != IFLA_BRIDGE_VLAN_INFO_)
                return 0;
        if (a->len < 4)
                return -EBADMSG;
        flags = rd16(a->data);
        vid = rd16(a->data + 2);
        if (vid < 1 || vid > VSM_RTLINK_VID_MAX)
                return -EBADMSG;
        l->has_brvlan = true;
        if (flags & VSM_BRVLAN_RANGE_BEGIN) {
                if (rc->open || (flags & VSM_BRVLAN_RANGE_END) || (flags & VSM_BRVLAN_PVID))
                        return -EBADMSG;
                rc->open = true;
                rc->begin = vid;
                rc->flags = flags;
                return 0;
        }
        if (flags & VSM_BRVLAN_RANGE_END) {
                if (!rc->open || vid < rc->begin)
                        return -EBADMSG;
                rc->open = false;
                from = rc->begin;
                flags = rc->flags;
        } else {
                if (rc->open)
                        return -EBADMSG;
                from = vid;
        }
        to = vid;
        for (uint32_t v = from; v <= to; v++) {
                bit_set(l->vlan_member, (uint16_t) v);
                if (flags & VSM_BRVLAN_UNTAGGED)
                        bit_set(l->vlan_untagged, (uint16_t) v);
        }
        if (flags & VSM_BRVLAN_PVID) {
                if (l->pvid != 0 && l->pvid != vid)
                        return -EBADMSG;       /* a port has one PVID */
                l->pvid = vid;
        }
        return 0;
}

static int on_top(const Attr *a, VsmRtLink *l, void *ctx) {
        uint32_t v = 0;
        int r;

        (void) ctx;
        switch (a->type) {
        case IFLA_IFNAME_:
                return attr_string(a, l->name);
        case IFLA_LINK_:
                r = attr_u32(a, &v);
                l->link = (int32_t) v;
                return r;
        case IFLA_MASTER_:
                r = attr_u32(a, &v);
                l->master = (int32_t) v;
                return r;
        case IFLA_LINK_NETNSID_:
                l->link_netnsid = true;
                return a->len >= 4 ? 0 : -EBADMSG;
        case IFLA_LINKINFO_: {
                InfoCtx ic = { 0 };

                r = attrs_walk(a->data, a->len, on_linkinfo, l, &ic);
                if (r < 0 || !ic.has_data)
                        return r;
                if (strcmp(l->kind, "vlan") == 0)
                        return attrs_walk(ic.data, ic.len, on_vlan_data, l, NULL);
                if (strcmp(l->kind, "bridge") == 0)
                        return attrs_walk(ic.data, ic.len, on_bridge_data, l, NULL);
                return 0;
        }
        case IFLA_AF_SPEC_:
                if (l->family == 7 /* AF_BRIDGE */) {
                        RangeCtx rc = { 0 };

                        /* An AF_BRIDGE answer names its VLANs here, even none. */
                        l->has_brvlan = true;
                        r = attrs_walk(a->data, a->len, on_af_spec, l, &rc);
                        if (r == 0 && rc.open)
                                r = -EBADMSG;
                        return r;
                }
                return 0;
        default:
                return 0;
        }
}

/* See rtlink.h. */
int vsm_rtlink_parse(const void *msg, size_t len, VsmRtLink *ret) {
        const uint8_t *p = msg;
        VsmRtLink l;
        uint32_t nl_len;
        int r;

        if (!p || len < NLMSG_HDRLEN_ + IFINFOMSG_LEN)
                return -EBADMSG;
        nl_len = rd32(p);
        if (nl_len < NLMSG_HDRLEN_ + IFINFOMSG_LEN || nl_len > len)
                return -EBADMSG;
        memset(&l, 0, sizeof(l));
        l.msg_type = rd16(p + 4);
        if (l.msg_type != RTM_NEWLINK_)
                return -EPROTO;
        l.family = p[NLMSG_HDRLEN_];
        l.ifindex = (int32_t) rd32(p + NLMSG_HDRLEN_ + 4);
        r = attrs_walk(p + NLMSG_HDRLEN_ + IFINFOMSG_LEN, nl_len - NLMSG_HDRLEN_ - IFINFOMSG_LEN, on_top, &l, NULL);
        if (r < 0)
                return r;
        *ret = l;
        return 0;
}

/* Whether the port is a member of vid (AF_BRIDGE answers). */
bool vsm_rtlink_vlan_member(const VsmRtLink *l, uint16_t vid) {
        return bit_get(l->vlan_member, vid);
}

/* Whether the port sends vid untagged. */
bool vsm_rtlink_vlan_untagged(const VsmRtLink *l, uint16_t vid) {
        return bit_get(l->vlan_untagged, vid);
}

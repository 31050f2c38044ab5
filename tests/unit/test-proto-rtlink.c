/* proto/rtlink.c and proto/vid.c: RTM_NEWLINK answers built by hand in
 * the kernel's layout, and the egress VID derived from them.
 *
 * The layouts (this kernel has neither 8021q nor VLAN filtering, so no
 * answer with a VLAN could be captured here):
 * - struct nlmsghdr, struct ifinfomsg (linux/netlink.h, rtnetlink.h),
 *   attributes as struct rtattr, 4-aligned, nests with NLA_F_NESTED as the
 *   kernel sets it (nla_nest_start());
 * - a VLAN device (rtnl_fill_ifinfo() + vlan_fill_info(),
 *   net/8021q/vlan_netlink.c): IFLA_IFNAME, IFLA_LINK, IFLA_LINKINFO {
 *   IFLA_INFO_KIND "vlan", IFLA_INFO_DATA { IFLA_VLAN_PROTOCOL (be16),
 *   IFLA_VLAN_ID (u16), IFLA_VLAN_FLAGS } };
 * - a bridge (br_fill_info(), net/bridge/br_netlink.c): IFLA_INFO_DATA {
 *   IFLA_BR_VLAN_FILTERING (u8), ... };
 * - a bridge port's AF_BRIDGE answer (br_fill_ifinfo() with
 *   RTEXT_FILTER_BRVLAN): ifi_family AF_BRIDGE, IFLA_MASTER,
 *   IFLA_AF_SPEC { IFLA_BRIDGE_VLAN_INFO (struct bridge_vlan_info
 *   { u16 flags; u16 vid; }) per VLAN }; with _COMPRESSED, ranges as
 *   RANGE_BEGIN / RANGE_END pairs (br_fill_ifvlaninfo_range()). */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/rtlink.h"
#include "proto/vid.h"
#include "test-util.h"

typedef struct Msg {
        uint8_t buf[8192];
        size_t len;
        size_t nest[4];
        int depth;
} Msg;

static void msg_begin(Msg *m, uint8_t family, int ifindex) {
        struct nlmsghdr nh = { .nlmsg_type = RTM_NEWLINK };
        struct ifinfomsg ifi = { .ifi_family = family, .ifi_index = ifindex };

        memset(m, 0, sizeof(*m));
        memcpy(m->buf, &nh, sizeof(nh));
        memcpy(m->buf + sizeof(nh), &ifi, sizeof(ifi));
        m->len = sizeof(nh) + sizeof(ifi);
}

static void msg_attr(Msg *m, uint16_t type, const void *data, size_t len) {
        struct rtattr rta = { .rta_len = (unsigned short) RTA_LENGTH(len), .rta_type = type };

        g_assert_cmpuint(m->len + RTA_SPACE(len), <=, sizeof(m->buf));
        memcpy(m->buf + m->len, &rta, sizeof(rta));
        if (len)
                memcpy(m->buf + m->len + sizeof(rta), data, len);
        m->len += RTA_SPACE(len);
}

static void msg_str(Msg *m, uint16_t type, const char *s) {
        msg_attr(m, type, s, strlen(s) + 1);
}

static void msg_u32(Msg *m, uint16_t type, uint32_t v) {
        msg_attr(m, type, &v, sizeof(v));
}

static void msg_u16(Msg *m, uint16_t type, uint16_t v) {
        msg_attr(m, type, &v, sizeof(v));
}

static void msg_nest(Msg *m, uint16_t type) {
        m->nest[m->depth++] = m->len;
        msg_attr(m, type | NLA_F_NESTED, NULL, 0);
}

static void msg_end(Msg *m) {
        size_t at = m->nest[--m->depth];
        unsigned short len = (unsigned short) (m->len - at);

        memcpy(m->buf + at, &len, sizeof(len));
}

static void msg_finish(Msg *m) {
        uint32_t len = (uint32_t) m->len;

        g_assert_cmpint(m->depth, ==, 0);
        memcpy(m->buf, &len, sizeof(len));
}

static void brvlan(Msg *m, uint16_t flags, uint16_t vid) {
        struct bridge_vlan_info bi = { .flags = flags, .vid = vid };

        msg_attr(m, IFLA_BRIDGE_VLAN_INFO, &bi, sizeof(bi));
}

/* eth0.100 over eth0 (index 2), as vlan_fill_info() writes it. */
static void build_vlan_dev(Msg *m, const char *name, int ifindex, int link, uint16_t vid, uint16_t proto) {
        msg_begin(m, AF_UNSPEC, ifindex);
        msg_str(m, IFLA_IFNAME, name);
        msg_u32(m, IFLA_MTU, 1500);
        msg_u32(m, IFLA_LINK, (uint32_t) link);
        msg_nest(m, IFLA_LINKINFO);
        msg_str(m, IFLA_INFO_KIND, "vlan");
        msg_nest(m, IFLA_INFO_DATA);
        msg_u16(m, IFLA_VLAN_PROTOCOL, htons(proto));
        msg_u16(m, IFLA_VLAN_ID, vid);
        {
                struct ifla_vlan_flags fl = { .flags = 1, .mask = 0xffffffff };

                msg_attr(m, IFLA_VLAN_FLAGS, &fl, sizeof(fl));
        }
        msg_end(m);
        msg_end(m);
        msg_finish(m);
}

static void build_plain(Msg *m, const char *name, int ifindex, int link, const char *kind) {
        msg_begin(m, AF_UNSPEC, ifindex);
        msg_str(m, IFLA_IFNAME, name);
        if (link)
                msg_u32(m, IFLA_LINK, (uint32_t) link);
        if (kind) {
                msg_nest(m, IFLA_LINKINFO);
                msg_str(m, IFLA_INFO_KIND, kind);
                msg_end(m);
        }
        msg_finish(m);
}

static void build_bridge(Msg *m, const char *name, int ifindex, int filtering) {
        uint8_t f = (uint8_t) filtering;

        msg_begin(m, AF_UNSPEC, ifindex);
        msg_str(m, IFLA_IFNAME, name);
        msg_nest(m, IFLA_LINKINFO);
        msg_str(m, IFLA_INFO_KIND, "bridge");
        msg_nest(m, IFLA_INFO_DATA);
        msg_u32(m, IFLA_BR_FORWARD_DELAY, 1500);
        msg_attr(m, IFLA_BR_VLAN_FILTERING, &f, 1);
        msg_end(m);
        msg_end(m);
        msg_finish(m);
}

static VsmRtLink parse(const Msg *m) {
        VsmRtLink l;

        g_assert_cmpint(vsm_rtlink_parse(m->buf, m->len, &l), ==, 0);
        return l;
}

static void test_parse_vlan_dev(void) {
        Msg m;
        VsmRtLink l;

        build_vlan_dev(&m, "eth0.100", 5, 2, 100, 0x8100);
        l = parse(&m);
        g_assert_cmpint(l.ifindex, ==, 5);
        g_assert_cmpstr(l.name, ==, "eth0.100");
        g_assert_cmpint(l.link, ==, 2);
        g_assert_cmpstr(l.kind, ==, "vlan");
        g_assert_true(l.has_vlan_id);
        g_assert_cmpuint(l.vlan_id, ==, 100);
        g_assert_cmpuint(l.vlan_protocol, ==, 0x8100);
}

static void test_parse_bridge(void) {
        Msg m;
        VsmRtLink l;

        build_bridge(&m, "br0", 3, 1);
        l = parse(&m);
        g_assert_cmpstr(l.kind, ==, "bridge");
        g_assert_true(l.has_vlan_filtering);
        g_assert_true(l.vlan_filtering);
        g_assert_false(l.has_vlan_id);
}

static void test_parse_brvlan(void) {
        Msg m;
        VsmRtLink l;

        /* A tap: PVID 20 untagged, and a trunk range 100-110 (compressed form). */
        msg_begin(&m, AF_BRIDGE, 9);
        msg_str(&m, IFLA_IFNAME, "vnet0");
        msg_u32(&m, IFLA_MASTER, 3);
        msg_nest(&m, IFLA_AF_SPEC);
        brvlan(&m, BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED, 20);
        brvlan(&m, BRIDGE_VLAN_INFO_RANGE_BEGIN, 100);
        brvlan(&m, BRIDGE_VLAN_INFO_RANGE_END, 110);
        msg_end(&m);
        msg_finish(&m);
        l = parse(&m);
        g_assert_cmpint(l.family, ==, AF_BRIDGE);
        g_assert_cmpint(l.master, ==, 3);
        g_assert_true(l.has_brvlan);
        g_assert_cmpuint(l.pvid, ==, 20);
        g_assert_true(vsm_rtlink_vlan_member(&l, 20));
        g_assert_true(vsm_rtlink_vlan_untagged(&l, 20));
        for (uint16_t v = 100; v <= 110; v++) {
                g_assert_true(vsm_rtlink_vlan_member(&l, v));
                g_assert_false(vsm_rtlink_vlan_untagged(&l, v));
        }
        g_assert_false(vsm_rtlink_vlan_member(&l, 99));
        g_assert_false(vsm_rtlink_vlan_member(&l, 111));
        g_assert_false(vsm_rtlink_vlan_member(&l, 0));
        g_assert_false(vsm_rtlink_vlan_member(&l, 4095));
}

static void test_parse_bad(void) {
        Msg m;
        VsmRtLink l;

        memset(&l, 0x5a, sizeof(l));
        /* short */
        build_plain(&m, "eth0", 2, 0, NULL);
        g_assert_cmpint(vsm_rtlink_parse(m.buf, 20, &l), ==, -EBADMSG);
        /* nlmsg_len past the buffer */
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len - 1, &l), ==, -EBADMSG);
        /* another type */
        m.buf[4] = RTM_NEWADDR;
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len, &l), ==, -EPROTO);
        /* an attribute longer than the message */
        build_plain(&m, "eth0", 2, 0, NULL);
        m.buf[32] = 200;
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len, &l), ==, -EBADMSG);
        /* a name without NUL */
        msg_begin(&m, AF_UNSPEC, 2);
        msg_attr(&m, IFLA_IFNAME, "eth0", 4);
        msg_finish(&m);
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len, &l), ==, -EBADMSG);
        /* a name of 16 characters */
        build_plain(&m, "abcdefghijklmnop", 2, 0, NULL);
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len, &l), ==, -EBADMSG);
        /* VID 0 and 4095 */
        build_vlan_dev(&m, "eth0.0", 5, 2, 0, 0x8100);
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len, &l), ==, -EBADMSG);
        build_vlan_dev(&m, "eth0.4095", 5, 2, 4095, 0x8100);
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len, &l), ==, -EBADMSG);
        /* a short IFLA_LINK */
        msg_begin(&m, AF_UNSPEC, 2);
        msg_u16(&m, IFLA_LINK, 3);
        msg_finish(&m);
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len, &l), ==, -EBADMSG);
        /* an unterminated range, a range end first, two PVIDs */
        msg_begin(&m, AF_BRIDGE, 9);
        msg_nest(&m, IFLA_AF_SPEC);
        brvlan(&m, BRIDGE_VLAN_INFO_RANGE_BEGIN, 100);
        msg_end(&m);
        msg_finish(&m);
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len, &l), ==, -EBADMSG);
        msg_begin(&m, AF_BRIDGE, 9);
        msg_nest(&m, IFLA_AF_SPEC);
        brvlan(&m, BRIDGE_VLAN_INFO_RANGE_END, 100);
        msg_end(&m);
        msg_finish(&m);
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len, &l), ==, -EBADMSG);
        msg_begin(&m, AF_BRIDGE, 9);
        msg_nest(&m, IFLA_AF_SPEC);
        brvlan(&m, BRIDGE_VLAN_INFO_PVID, 10);
        brvlan(&m, BRIDGE_VLAN_INFO_PVID, 11);
        msg_end(&m);
        msg_finish(&m);
        g_assert_cmpint(vsm_rtlink_parse(m.buf, m.len, &l), ==, -EBADMSG);
        /* ret untouched on failure */
        g_assert_cmpint(l.ifindex, ==, 0x5a5a5a5a);
}

/* ---- the derivation ---- */

typedef struct World {
        VsmRtLink chain[4];
        size_t n_chain;
        VsmRtLink bridge, tap, port;
        VsmVidInput in;
} World;

/* A direct NIC: macvtap0 (7) over [eth0.VID (5) over] eth0 (2). */
static void world_direct(World *w, uint16_t vid) {
        Msg m;

        memset(w, 0, sizeof(*w));
        build_plain(&m, "macvtap0", 7, vid ? 5 : 2, "macvtap");
        w->chain[w->n_chain++] = parse(&m);
        if (vid) {
                build_vlan_dev(&m, "eth0.100", 5, 2, vid, 0x8100);
                w->chain[w->n_chain++] = parse(&m);
        }
        build_plain(&m, "eth0", 2, 0, NULL);
        w->chain[w->n_chain++] = parse(&m);
        w->in.chain = w->chain;
        w->in.n_chain = w->n_chain;
}

/* A bridge NIC: vnet0 (9) in br0 (3, filtering or not), whose port toward
 * the uplink is [eth0.VID (5) over] eth0 (2). */
static void world_bridge(World *w, int filtering, uint16_t vid) {
        Msg m;

        memset(w, 0, sizeof(*w));
        if (vid) {
                build_vlan_dev(&m, "eth0.100", 5, 2, vid, 0x8100);
                w->chain[w->n_chain++] = parse(&m);
        }
        build_plain(&m, "eth0", 2, 0, NULL);
        w->chain[w->n_chain++] = parse(&m);
        build_bridge(&m, "br0", 3, filtering);
        w->bridge = parse(&m);
        w->in.chain = w->chain;
        w->in.n_chain = w->n_chain;
        w->in.bridge = &w->bridge;
}

/* The AF_BRIDGE answers: the tap with PVID pvid (0: none), the port a
 * member of port_vid (0: none), untagged or not. */
static void world_brvlan(World *w, uint16_t pvid, uint16_t port_vid, gboolean port_untagged) {
        Msg m;

        msg_begin(&m, AF_BRIDGE, 9);
        msg_str(&m, IFLA_IFNAME, "vnet0");
        msg_nest(&m, IFLA_AF_SPEC);
        if (pvid)
                brvlan(&m, BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED, pvid);
        brvlan(&m, 0, 4000);
        msg_end(&m);
        msg_finish(&m);
        w->tap = parse(&m);
        msg_begin(&m, AF_BRIDGE, 5);
        msg_str(&m, IFLA_IFNAME, w->n_chain > 1 ? "eth0.100" : "eth0");
        msg_nest(&m, IFLA_AF_SPEC);
        brvlan(&m, BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED, 1);
        if (port_vid)
                brvlan(&m, port_untagged ? BRIDGE_VLAN_INFO_UNTAGGED : 0, port_vid);
        msg_end(&m);
        msg_finish(&m);
        w->port = parse(&m);
        w->in.tap_vlans = &w->tap;
        w->in.port_vlans = &w->port;
}

static void expect(const World *w, VsmVidState state, uint16_t vid, VsmVidSource source, const char *why) {
        VsmVid r;

        vsm_vid_derive(&w->in, &r);
        g_test_message("%s %u %s: %s", vsm_vid_state_to_string(r.state), r.vid, vsm_vid_source_to_string(r.source),
                       r.why);
        g_assert_cmpstr(vsm_vid_state_to_string(r.state), ==, vsm_vid_state_to_string(state));
        g_assert_cmpuint(r.vid, ==, vid);
        if (state == VSM_VID_TAGGED || state == VSM_VID_UNTAGGED)
                g_assert_cmpstr(vsm_vid_source_to_string(r.source), ==, vsm_vid_source_to_string(source));
        if (why)
                g_assert_nonnull(strstr(r.why, why));
        else
                g_assert_cmpstr(r.why, ==, "");
}

static void test_vid_vlan_device(void) {
        World w;

        /* macvtap over eth0.100: tag 100 (libvirt names eth0 and VID 100). */
        world_direct(&w, 100);
        expect(&w, VSM_VID_TAGGED, 100, VSM_VID_SOURCE_VLAN_DEVICE, NULL);
        /* macvtap straight on eth0: untagged. */
        world_direct(&w, 0);
        expect(&w, VSM_VID_UNTAGGED, 0, VSM_VID_SOURCE_NONE, NULL);
        /* br100 over eth0.100 */
        world_bridge(&w, 0, 100);
        expect(&w, VSM_VID_TAGGED, 100, VSM_VID_SOURCE_VLAN_DEVICE, NULL);
        /* a plain bridge on eth0: untagged */
        world_bridge(&w, 0, 0);
        expect(&w, VSM_VID_UNTAGGED, 0, VSM_VID_SOURCE_NONE, NULL);
}

static void test_vid_stacked(void) {
        World w;
        Msg m;

        world_direct(&w, 100);
        /* eth0.100.200: a second VLAN device in the chain */
        build_vlan_dev(&m, "eth0.100.200", 6, 5, 200, 0x8100);
        w.chain[2] = w.chain[1];
        w.chain[1] = parse(&m);
        w.chain[3] = w.chain[2];
        build_plain(&m, "eth0", 2, 0, NULL);
        w.chain[3] = parse(&m);
        w.in.n_chain = 4;
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "stacked VLAN devices");
        /* 802.1ad */
        world_direct(&w, 100);
        build_vlan_dev(&m, "eth0.100", 5, 2, 100, 0x88a8);
        w.chain[1] = parse(&m);
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "802.1ad");
}

static void test_vid_filtering_bridge(void) {
        World w;

        /* PVID 20 on the tap, the uplink port a tagged member of 20. */
        world_bridge(&w, 1, 0);
        world_brvlan(&w, 20, 20, FALSE);
        expect(&w, VSM_VID_TAGGED, 20, VSM_VID_SOURCE_BRIDGE, NULL);
        /* ... an untagged member: nothing tagged on the wire. */
        world_brvlan(&w, 20, 20, TRUE);
        expect(&w, VSM_VID_UNTAGGED, 0, VSM_VID_SOURCE_BRIDGE, NULL);
        /* ... untagged on a port that is eth0.100: the VLAN device tags. */
        world_bridge(&w, 1, 100);
        world_brvlan(&w, 20, 20, TRUE);
        expect(&w, VSM_VID_TAGGED, 100, VSM_VID_SOURCE_VLAN_DEVICE, NULL);
        /* ... tagged by the bridge and again by eth0.100: two tags. */
        world_brvlan(&w, 20, 20, FALSE);
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "adds 100");
        /* The port is not a member of the tap's VLAN. */
        world_bridge(&w, 1, 0);
        world_brvlan(&w, 20, 30, FALSE);
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "VLAN 20 (the tap's PVID) does not leave through eth0");
        /* No PVID on the tap. */
        world_brvlan(&w, 0, 20, FALSE);
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "no PVID");
        /* The VLAN answers could not be read. */
        world_brvlan(&w, 20, 20, FALSE);
        w.in.tap_vlans = NULL;
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "the tap's VLANs were not read");
        world_brvlan(&w, 20, 20, FALSE);
        w.in.port_vlans = NULL;
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "uplink port's VLANs were not read");
        /* libvirt's tag is the PVID it set: agrees, or conflicts. */
        world_brvlan(&w, 20, 20, FALSE);
        w.in.has_libvirt_vid = TRUE;
        w.in.libvirt_vid = 20;
        expect(&w, VSM_VID_TAGGED, 20, VSM_VID_SOURCE_BRIDGE, NULL);
        w.in.libvirt_vid = 21;
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "conflict: libvirt's vlan tag 21, the tap's PVID 20");
        /* Without filtering the same answers mean nothing. */
        world_bridge(&w, 0, 0);
        world_brvlan(&w, 20, 20, FALSE);
        expect(&w, VSM_VID_UNTAGGED, 0, VSM_VID_SOURCE_NONE, NULL);
}

static void test_vid_libvirt_config(void) {
        World w;

        /* libvirt's <vlan><tag> on a direct NIC straight on eth0. */
        world_direct(&w, 0);
        w.in.has_libvirt_vid = TRUE;
        w.in.libvirt_vid = 42;
        expect(&w, VSM_VID_TAGGED, 42, VSM_VID_SOURCE_LIBVIRT, NULL);
        /* The config for a trunk the host cannot describe. */
        world_bridge(&w, 0, 0);
        w.in.has_config_vid = TRUE;
        w.in.config_vid = 300;
        expect(&w, VSM_VID_TAGGED, 300, VSM_VID_SOURCE_CONFIG, NULL);
        /* config 0 ("none"): untagged, said so by the operator. */
        w.in.config_vid = 0;
        expect(&w, VSM_VID_UNTAGGED, 0, VSM_VID_SOURCE_CONFIG, NULL);
        /* Sources that agree. */
        world_bridge(&w, 0, 100);
        w.in.has_config_vid = TRUE;
        w.in.config_vid = 100;
        expect(&w, VSM_VID_TAGGED, 100, VSM_VID_SOURCE_VLAN_DEVICE, NULL);
        /* Conflicts: a VLAN device against the config, libvirt against the
         * config, the filtering bridge against the config. */
        w.in.config_vid = 200;
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "conflict: vlan-device says 100, config says 200");
        world_direct(&w, 0);
        w.in.has_libvirt_vid = TRUE;
        w.in.libvirt_vid = 42;
        w.in.has_config_vid = TRUE;
        w.in.config_vid = 43;
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "conflict: libvirt says 42, config says 43");
        world_bridge(&w, 1, 0);
        world_brvlan(&w, 20, 20, TRUE);
        w.in.has_config_vid = TRUE;
        w.in.config_vid = 20;
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "conflict: bridge-vlan says none, config says 20");
}

static void test_vid_unknown_unsupported(void) {
        World w;
        Msg m;

        world_bridge(&w, 0, 0);
        w.in.chain_error = TRUE;
        w.in.chain_why = "no port of br0 leads to eth9";
        expect(&w, VSM_VID_UNKNOWN, 0, 0, "no port of br0 leads to eth9");
        /* An Open vSwitch port: the tap's master is the datapath device. */
        world_bridge(&w, 0, 0);
        build_plain(&m, "ovs-system", 4, 0, "openvswitch");
        w.bridge = parse(&m);
        expect(&w, VSM_VID_UNSUPPORTED, 0, 0, "Open vSwitch port (ovs-system): not supported yet");
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/proto-rtlink/parse-vlan-device", test_parse_vlan_dev);
        g_test_add_func("/proto-rtlink/parse-bridge", test_parse_bridge);
        g_test_add_func("/proto-rtlink/parse-brvlan", test_parse_brvlan);
        g_test_add_func("/proto-rtlink/parse-bad", test_parse_bad);
        g_test_add_func("/proto-rtlink/vid-vlan-device", test_vid_vlan_device);
        g_test_add_func("/proto-rtlink/vid-stacked", test_vid_stacked);
        g_test_add_func("/proto-rtlink/vid-filtering-bridge", test_vid_filtering_bridge);
        g_test_add_func("/proto-rtlink/vid-libvirt-config", test_vid_libvirt_config);
        g_test_add_func("/proto-rtlink/vid-unknown-unsupported", test_vid_unknown_unsupported);
        return g_test_run();
}

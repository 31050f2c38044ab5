/* The replay builder (daemon/replay.c): every frame decoded with our own
 * parsers (checksums verified there), the skip reasons, the order, the
 * caps (64 groups x 32 sources, and oversized records split per RFC 3376
 * 4.2.16 / RFC 3810 5.2.15), the post-resume queries, and a pcap of every
 * frame kind checked with tshark when it is installed.
 *
 * The VsmNicState structs are built by hand so this test depends on
 * netstate.c only for vsm_nic_state_can_replay_dhcp(). */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <arpa/inet.h>
#include <string.h>

#include "daemon/replay.h"
#include "proto/arp.h"
#include "proto/dhcp.h"
#include "proto/igmp.h"
#include "proto/mld.h"
#include "proto/ndisc.h"
#include "test-util.h"

#define FRAME_MTU_MAX (VSM_ETH_HLEN + 1500)

static const uint8_t vm_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t client_id[7] = { 0x01, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* --- hand-built state ------------------------------------------------- */

static void test_group_clear(gpointer p) {
        VsmStateGroup *g = p;

        g_clear_pointer(&g->sources, g_free);
}

static VsmNicState *state_new(void) {
        VsmNicState *s = g_new0(VsmNicState, 1);

        memcpy(s->mac, vm_mac, 6);
        s->groups = g_array_new(FALSE, TRUE, sizeof(VsmStateGroup));
        g_array_set_clear_func(s->groups, test_group_clear);
        s->ip4 = g_array_new(FALSE, TRUE, VSM_IP4_ALEN);
        s->ip6 = g_array_new(FALSE, TRUE, VSM_IP6_ALEN);
        return s;
}

static void state_free(VsmNicState *s) {
        g_array_unref(s->groups);
        g_array_unref(s->ip4);
        g_array_unref(s->ip6);
        g_free(s->hostname);
        g_free(s);
}

typedef VsmNicState TestState;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestState, state_free)

static void ip4(const char *text, uint8_t ret[4]) {
        g_assert_cmpint(inet_pton(AF_INET, text, ret), ==, 1);
}

static void ip6(const char *text, uint8_t ret[16]) {
        g_assert_cmpint(inet_pton(AF_INET6, text, ret), ==, 1);
}

static void state_lease(VsmNicState *s, const char *addr, guint32 lease_time, gint64 ack) {
        s->has_lease = TRUE;
        ip4(addr, s->lease_address);
        s->lease_time = lease_time;
        s->lease_ack_real_usec = ack;
        s->has_server_id = TRUE;
        ip4("10.77.0.1", s->server_id);
}

static void state_client_id(VsmNicState *s) {
        s->client_id_state = VSM_LEARN_CLIENT_ID_SENT;
        s->client_id_len = sizeof(client_id);
        memcpy(s->client_id, client_id, sizeof(client_id));
}

/* sources: a NULL-terminated list of addresses, or n generated ones. */
static void state_group(VsmNicState *s, const char *addr, VsmLearnMcastVersion v, VsmLearnFilterMode mode,
                        guint n_generated, const char *const *sources) {
        VsmStateGroup g = { 0 };

        g.is_ip6 = strchr(addr, ':') != NULL;
        if (g.is_ip6)
                ip6(addr, g.address);
        else
                ip4(addr, g.address);
        g.version = v;
        g.mode = mode;
        g.n_sources = n_generated;
        for (guint i = 0; sources && sources[i]; i++)
                g.n_sources++;
        if (g.n_sources > 0)
                g.sources = g_malloc0_n(g.n_sources, VSM_IP6_ALEN);
        for (guint i = 0; i < g.n_sources; i++) {
                if (sources && sources[i]) {
                        if (g.is_ip6)
                                ip6(sources[i], g.sources[i]);
                        else
                                ip4(sources[i], g.sources[i]);
                } else if (g.is_ip6) {
                        ip6("2001:db8:5::", g.sources[i]);
                        g.sources[i][14] = (uint8_t) (i >> 8);
                        g.sources[i][15] = (uint8_t) i;
                } else {
                        ip4("10.5.0.0", g.sources[i]);
                        g.sources[i][2] = (uint8_t) (i >> 8);
                        g.sources[i][3] = (uint8_t) i;
                }
        }
        g_array_append_val(s->groups, g);
}

static void state_ip4(VsmNicState *s, const char *addr) {
        uint8_t a[4];

        ip4(addr, a);
        g_array_append_vals(s->ip4, a, 1);
}

static void state_ip6(VsmNicState *s, const char *addr) {
        uint8_t a[16];

        ip6(addr, a);
        g_array_append_vals(s->ip6, a, 1);
}

/* --- decoding helpers ------------------------------------------------- */

static const VsmReplayFrame *frame_at(GPtrArray *frames, guint i) {
        g_assert_cmpuint(i, <, frames->len);
        return g_ptr_array_index(frames, i);
}

static void frame_reader(const VsmReplayFrame *f, VsmReader *r) {
        gsize len;
        const uint8_t *data = g_bytes_get_data(f->frame, &len);

        g_assert_cmpuint(len, >=, VSM_ETH_ZLEN);
        g_assert_cmpuint(len, <=, FRAME_MTU_MAX);
        vsm_reader_init(r, data, len);
}

static void check_dhcp(const VsmReplayFrame *f, const VsmNicState *s, VsmDhcpFrame *ret) {
        VsmReader r;
        uint8_t zero4[4] = { 0 };

        g_assert_cmpint(f->kind, ==, VSM_REPLAY_DHCP_REQUEST);
        frame_reader(f, &r);
        g_assert_cmpint(vsm_dhcp_frame_parse(&r, ret), ==, 0);
        g_assert_true(ret->udp_checksum_ok);
        g_assert_cmpmem(ret->eth.dst, 6, vsm_eth_addr_broadcast, 6);
        g_assert_cmpmem(ret->eth.src, 6, s->mac, 6);
        g_assert_cmpmem(ret->ip.src, 4, zero4, 4);
        g_assert_cmpmem(ret->ip.dst, 4, vsm_ip4_broadcast, 4);
        g_assert_cmpuint(ret->udp.sport, ==, 68);
        g_assert_cmpuint(ret->udp.dport, ==, 67);
        g_assert_cmpuint(ret->msg.op, ==, VSM_DHCP_OP_REQUEST);
        g_assert_cmpuint(ret->msg.message_type, ==, VSM_DHCP_REQUEST);
        g_assert_cmpuint(ret->msg.flags, ==, 0);
        g_assert_cmpuint(ret->msg.hlen, ==, 6);
        g_assert_cmpmem(ret->msg.ciaddr, 4, zero4, 4);
        g_assert_cmpmem(ret->msg.chaddr, 6, s->mac, 6);
        g_assert_true(ret->msg.has_requested_ip);
        g_assert_cmpmem(ret->msg.requested_ip, 4, s->lease_address, 4);
        /* RFC 2131 4.3.2: no server identifier in INIT-REBOOT. */
        g_assert_false(ret->msg.has_server_id);
}

static void check_igmp(const VsmReplayFrame *f, const uint8_t src[4], VsmIgmpFrame *ret) {
        VsmReader r;
        uint8_t mac[6];

        g_assert_cmpint(f->kind, ==, VSM_REPLAY_IGMP_REPORT);
        frame_reader(f, &r);
        g_assert_cmpint(vsm_igmp_frame_parse(&r, ret), ==, 0);
        g_assert_cmpmem(ret->eth.src, 6, vm_mac, 6);
        vsm_ip4_multicast_mac(ret->ip.dst, mac);
        g_assert_cmpmem(ret->eth.dst, 6, mac, 6);
        g_assert_cmpuint(ret->ip.ttl, ==, 1);
        g_assert_true(ret->ip.router_alert);
        g_assert_cmpmem(ret->ip.src, 4, src, 4);
}

static void check_mld(const VsmReplayFrame *f, const uint8_t src[16], VsmMldFrame *ret) {
        VsmReader r;
        uint8_t mac[6];

        g_assert_cmpint(f->kind, ==, VSM_REPLAY_MLD_REPORT);
        frame_reader(f, &r);
        g_assert_cmpint(vsm_mld_frame_parse(&r, ret), ==, 0);
        g_assert_cmpmem(ret->eth.src, 6, vm_mac, 6);
        vsm_ip6_multicast_mac(ret->ip.dst, mac);
        g_assert_cmpmem(ret->eth.dst, 6, mac, 6);
        g_assert_cmpuint(ret->ip.hop_limit, ==, 1);
        g_assert_true(ret->ip.router_alert);
        g_assert_cmpuint(ret->ip.router_alert_value, ==, 0);
        g_assert_cmpmem(ret->ip.src, 16, src, 16);
}

static void check_garp(const VsmReplayFrame *f, const char *addr) {
        VsmArpFrame af;
        VsmReader r;
        uint8_t a[4];

        ip4(addr, a);
        g_assert_cmpint(f->kind, ==, VSM_REPLAY_GARP);
        frame_reader(f, &r);
        g_assert_cmpint(vsm_arp_frame_parse(&r, &af), ==, 0);
        g_assert_cmpmem(af.eth.dst, 6, vsm_eth_addr_broadcast, 6);
        g_assert_cmpmem(af.eth.src, 6, vm_mac, 6);
        g_assert_cmpuint(af.msg.op, ==, VSM_ARP_OP_REQUEST);
        g_assert_cmpmem(af.msg.sha, 6, vm_mac, 6);
        g_assert_cmpmem(af.msg.spa, 4, a, 4);
        g_assert_cmpmem(af.msg.tpa, 4, a, 4);
        g_assert_true(vsm_arp_is_gratuitous(&af.msg));
}

static void check_na(const VsmReplayFrame *f, const char *addr) {
        VsmNdiscFrame nf;
        VsmReader r;
        uint8_t a[16];

        ip6(addr, a);
        g_assert_cmpint(f->kind, ==, VSM_REPLAY_UNSOLICITED_NA);
        frame_reader(f, &r);
        g_assert_cmpint(vsm_ndisc_frame_parse(&r, &nf), ==, 0);
        g_assert_cmpmem(nf.eth.src, 6, vm_mac, 6);
        g_assert_cmpmem(nf.ip.src, 16, a, 16);
        g_assert_cmpmem(nf.ip.dst, 16, vsm_ip6_all_nodes, 16);
        g_assert_cmpuint(nf.ip.hop_limit, ==, 255);
        g_assert_cmpuint(nf.msg.type, ==, VSM_NDISC_NA);
        g_assert_cmpuint(nf.msg.flags, ==, VSM_NDISC_NA_OVERRIDE);
        g_assert_cmpmem(nf.msg.target, 16, a, 16);
        g_assert_true(nf.msg.has_target_lla);
        g_assert_cmpmem(nf.msg.target_lla, 6, vm_mac, 6);
}

/* --- pcap ------------------------------------------------------------- */

static GByteArray *pcap_new(void) {
        GByteArray *b = g_byte_array_new();
        const guint32 magic = 0xa1b2c3d4, snaplen = 65535, linktype = 1 /* Ethernet */;
        const guint16 major = 2, minor = 4;
        const guint32 zero = 0;

        g_byte_array_append(b, (const guint8 *) &magic, 4);
        g_byte_array_append(b, (const guint8 *) &major, 2);
        g_byte_array_append(b, (const guint8 *) &minor, 2);
        g_byte_array_append(b, (const guint8 *) &zero, 4);
        g_byte_array_append(b, (const guint8 *) &zero, 4);
        g_byte_array_append(b, (const guint8 *) &snaplen, 4);
        g_byte_array_append(b, (const guint8 *) &linktype, 4);
        return b;
}

static void pcap_add(GByteArray *b, GPtrArray *frames) {
        for (guint i = 0; i < frames->len; i++) {
                const VsmReplayFrame *f = g_ptr_array_index(frames, i);
                gsize len;
                const guint8 *data = g_bytes_get_data(f->frame, &len);
                guint32 hdr[4] = { 1700000000u + b->len / 100, 0, (guint32) len, (guint32) len };

                g_byte_array_append(b, (const guint8 *) hdr, sizeof(hdr));
                g_byte_array_append(b, data, (guint) len);
        }
}

/* --- tests ------------------------------------------------------------ */

static VsmNicState *full_state(gint64 now) {
        static const char *const excl[] = { "10.77.0.9", NULL };
        static const char *const incl[] = { "10.0.0.1", "10.0.0.2", NULL };
        static const char *const incl6[] = { "2001:db8::99", NULL };
        VsmNicState *s = state_new();

        state_lease(s, "10.77.0.5", 3600, now - 60 * G_USEC_PER_SEC);
        state_client_id(s);
        s->hostname = g_strdup("vm1");
        state_group(s, "239.1.1.1", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff05::1:3", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.2.2.2", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, excl);
        state_group(s, "239.3.3.3", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 0, incl);
        state_group(s, "ff0e::1234", VSM_LEARN_MLD_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "224.5.5.5", VSM_LEARN_IGMP_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff3e::8000:1", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_INCLUDE, 0, incl6);
        state_ip4(s, "10.77.0.6");
        state_ip4(s, "10.77.0.5");     /* the lease address again: no second GARP */
        state_ip4(s, "10.77.0.6");
        state_ip6(s, "2001:db8::5");
        state_ip6(s, "fe80::1234:5678");  /* learned link-local, not the EUI-64 one */
        state_ip6(s, "2001:db8::5");
        return s;
}

static void test_full(void) {
        gint64 now = g_get_real_time();
        g_autoptr(TestState) s = full_state(now);
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree char *skipped = NULL;
        g_autofree VsmDhcpFrame *df = g_new0(VsmDhcpFrame, 1);
        g_autofree VsmIgmpFrame *igf = g_new0(VsmIgmpFrame, 1);
        g_autofree VsmMldFrame *mf = g_new0(VsmMldFrame, 1);
        uint8_t lease[4], ll[16], a4[4], a6[16];
        guint i = 0;

        ip4("10.77.0.5", lease);
        ip6("fe80::1234:5678", ll);
        frames = vsm_replay_build(s, now, &skipped);
        g_assert_nonnull(frames);
        g_assert_null(skipped);
        /* dhcp, 4 igmp, 3 mld, 2 garp, 2 na */
        g_assert_cmpuint(frames->len, ==, 12);

        check_dhcp(frame_at(frames, i), s, df);
        g_assert_true(df->msg.has_client_id);
        g_assert_cmpmem(df->msg.client_id, df->msg.client_id_len, client_id, sizeof(client_id));
        g_assert_true(df->msg.has_hostname);
        g_assert_cmpstr(df->msg.hostname, ==, "vm1");
        g_assert_cmpstr(frame_at(frames, i)->what, ==, "dhcp-request 10.77.0.5");
        i++;

        /* IGMP in state order, each in the guest's version */
        check_igmp(frame_at(frames, i), lease, igf);
        g_assert_cmpuint(igf->msg.type, ==, VSM_IGMP_V2_REPORT);
        ip4("239.1.1.1", a4);
        g_assert_cmpmem(igf->msg.group, 4, a4, 4);
        g_assert_cmpmem(igf->ip.dst, 4, a4, 4);
        g_assert_cmpstr(frame_at(frames, i)->what, ==, "igmpv2-report 239.1.1.1");
        i++;

        check_igmp(frame_at(frames, i), lease, igf);
        g_assert_cmpuint(igf->msg.type, ==, VSM_IGMP_V3_REPORT);
        g_assert_cmpmem(igf->ip.dst, 4, vsm_ip4_igmpv3_routers, 4);
        g_assert_cmpuint(igf->msg.n_records, ==, 1);
        g_assert_cmpuint(igf->msg.records[0].type, ==, VSM_MCAST_MODE_IS_EXCLUDE);
        ip4("239.2.2.2", a4);
        g_assert_cmpmem(igf->msg.records[0].group, 4, a4, 4);
        g_assert_cmpuint(igf->msg.records[0].n_sources, ==, 1);
        ip4("10.77.0.9", a4);
        g_assert_cmpmem(igf->msg.sources[igf->msg.records[0].first_source], 4, a4, 4);
        g_assert_cmpstr(frame_at(frames, i)->what, ==, "igmpv3-report 239.2.2.2");
        i++;

        check_igmp(frame_at(frames, i), lease, igf);
        g_assert_cmpuint(igf->msg.type, ==, VSM_IGMP_V3_REPORT);
        g_assert_cmpuint(igf->msg.records[0].type, ==, VSM_MCAST_MODE_IS_INCLUDE);
        g_assert_cmpuint(igf->msg.records[0].n_sources, ==, 2);
        ip4("10.0.0.2", a4);
        g_assert_cmpmem(igf->msg.sources[igf->msg.records[0].first_source + 1], 4, a4, 4);
        i++;

        check_igmp(frame_at(frames, i), lease, igf);
        g_assert_cmpuint(igf->msg.type, ==, VSM_IGMP_V1_REPORT);
        ip4("224.5.5.5", a4);
        g_assert_cmpmem(igf->ip.dst, 4, a4, 4);
        g_assert_cmpstr(frame_at(frames, i)->what, ==, "igmpv1-report 224.5.5.5");
        i++;

        /* MLD from the learned link-local */
        check_mld(frame_at(frames, i), ll, mf);
        g_assert_cmpuint(mf->msg.type, ==, VSM_MLD_V2_REPORT);
        g_assert_cmpmem(mf->ip.dst, 16, vsm_ip6_mldv2_routers, 16);
        g_assert_cmpuint(mf->msg.n_records, ==, 1);
        g_assert_cmpuint(mf->msg.records[0].type, ==, VSM_MCAST_MODE_IS_EXCLUDE);
        g_assert_cmpuint(mf->msg.records[0].n_sources, ==, 0);
        ip6("ff05::1:3", a6);
        g_assert_cmpmem(mf->msg.records[0].group, 16, a6, 16);
        g_assert_cmpstr(frame_at(frames, i)->what, ==, "mldv2-report ff05::1:3");
        i++;

        check_mld(frame_at(frames, i), ll, mf);
        g_assert_cmpuint(mf->msg.type, ==, VSM_MLD_V1_REPORT);
        ip6("ff0e::1234", a6);
        g_assert_cmpmem(mf->msg.group, 16, a6, 16);
        g_assert_cmpmem(mf->ip.dst, 16, a6, 16);
        i++;

        check_mld(frame_at(frames, i), ll, mf);
        g_assert_cmpuint(mf->msg.type, ==, VSM_MLD_V2_REPORT);
        g_assert_cmpuint(mf->msg.records[0].type, ==, VSM_MCAST_MODE_IS_INCLUDE);
        g_assert_cmpuint(mf->msg.records[0].n_sources, ==, 1);
        ip6("2001:db8::99", a6);
        g_assert_cmpmem(mf->msg.sources[0], 16, a6, 16);
        i++;

        /* GARP: lease address first, no duplicates */
        check_garp(frame_at(frames, i++), "10.77.0.5");
        check_garp(frame_at(frames, i++), "10.77.0.6");
        check_na(frame_at(frames, i++), "2001:db8::5");
        check_na(frame_at(frames, i++), "fe80::1234:5678");
        g_assert_cmpuint(i, ==, frames->len);

        /* The xid is random: two builds differ (1 in 2^32 to fail). */
        {
                g_autoptr(GPtrArray) again = vsm_replay_build(s, now, NULL);
                g_autofree VsmDhcpFrame *df2 = g_new0(VsmDhcpFrame, 1);

                check_dhcp(frame_at(again, 0), s, df2);
                g_assert_cmpuint(df->msg.xid, !=, df2->msg.xid);
        }
}

static void test_client_id_none(void) {
        gint64 now = g_get_real_time();
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree char *skipped = NULL;
        g_autofree VsmDhcpFrame *df = g_new0(VsmDhcpFrame, 1);

        state_lease(s, "10.77.0.7", VSM_LEARN_LEASE_INFINITE, now - (gint64) 400 * 24 * 3600 * G_USEC_PER_SEC);
        s->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        frames = vsm_replay_build(s, now, &skipped);
        g_assert_null(skipped);
        g_assert_cmpuint(frames->len, ==, 2);
        check_dhcp(frame_at(frames, 0), s, df);
        g_assert_false(df->msg.has_client_id);
        g_assert_false(df->msg.has_hostname);
        check_garp(frame_at(frames, 1), "10.77.0.7");
}

static void test_client_id_empty(void) {
        gint64 now = g_get_real_time();
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree VsmDhcpFrame *df = g_new0(VsmDhcpFrame, 1);

        /* The guest sent an option 61 of length 0: replay exactly that. */
        state_lease(s, "10.77.0.7", 600, now);
        s->client_id_state = VSM_LEARN_CLIENT_ID_SENT;
        s->client_id_len = 0;
        frames = vsm_replay_build(s, now, NULL);
        check_dhcp(frame_at(frames, 0), s, df);
        g_assert_true(df->msg.has_client_id);
        g_assert_cmpuint(df->msg.client_id_len, ==, 0);
}

static void test_skip_dhcp(void) {
        gint64 now = g_get_real_time();
        static const struct {
                const char *name;
                gboolean lease;
                VsmLearnClientId cid;
                guint32 lease_time;
                gint64 age_s;
                const char *skipped;
        } cases[] = {
                { "no lease", FALSE, VSM_LEARN_CLIENT_ID_SENT, 3600, 0, "dhcp: no lease" },
                { "no lease, unknown id", FALSE, VSM_LEARN_CLIENT_ID_UNKNOWN, 3600, 0, "dhcp: no lease" },
                { "unknown id", TRUE, VSM_LEARN_CLIENT_ID_UNKNOWN, 3600, 10, "dhcp: client-id unknown" },
                { "expired", TRUE, VSM_LEARN_CLIENT_ID_SENT, 3600, 3601, "dhcp: lease expired" },
                { "expired, none", TRUE, VSM_LEARN_CLIENT_ID_NONE, 60, 61, "dhcp: lease expired" },
                { "valid", TRUE, VSM_LEARN_CLIENT_ID_SENT, 3600, 3599, NULL },
        };

        for (guint c = 0; c < G_N_ELEMENTS(cases); c++) {
                g_autoptr(TestState) s = state_new();
                g_autoptr(GPtrArray) frames = NULL;
                g_autofree char *skipped = NULL;

                g_test_message("case %s", cases[c].name);
                if (cases[c].lease)
                        state_lease(s, "10.77.0.8", cases[c].lease_time, now - cases[c].age_s * G_USEC_PER_SEC);
                if (cases[c].cid == VSM_LEARN_CLIENT_ID_SENT)
                        state_client_id(s);
                else
                        s->client_id_state = cases[c].cid;
                state_ip4(s, "10.77.0.9");
                frames = vsm_replay_build(s, now, &skipped);
                g_assert_cmpstr(skipped, ==, cases[c].skipped);
                /* The GARPs are sent whatever happened to DHCP. */
                g_assert_cmpuint(frames->len, ==, (cases[c].skipped ? 0 : 1) + (cases[c].lease ? 2 : 1));
                if (!cases[c].skipped)
                        g_assert_cmpint(frame_at(frames, 0)->kind, ==, VSM_REPLAY_DHCP_REQUEST);
                else
                        g_assert_cmpint(frame_at(frames, 0)->kind, ==, VSM_REPLAY_GARP);
        }
}

static void test_sources_default(void) {
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree char *skipped = NULL;
        g_autofree VsmIgmpFrame *igf = g_new0(VsmIgmpFrame, 1);
        g_autofree VsmMldFrame *mf = g_new0(VsmMldFrame, 1);
        uint8_t zero4[4] = { 0 }, eui[16], a4[4];

        /* No lease, no addresses: IGMP from 0.0.0.0, MLD from the EUI-64
         * link-local of the MAC (a global IPv6 is not a valid MLD source). */
        s->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        state_group(s, "239.9.9.9", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff02::1:ff00:1", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_ip6(s, "2001:db8::1");
        frames = vsm_replay_build(s, g_get_real_time(), &skipped);
        g_assert_cmpstr(skipped, ==, "dhcp: no lease");
        g_assert_cmpuint(frames->len, ==, 3);
        check_igmp(frame_at(frames, 0), zero4, igf);
        vsm_ip6_link_local_from_mac(vm_mac, eui);
        check_mld(frame_at(frames, 1), eui, mf);
        check_na(frame_at(frames, 2), "2001:db8::1");

        /* No lease but an address: IGMP from the first learned IPv4. */
        state_ip4(s, "10.77.0.20");
        state_ip4(s, "10.77.0.21");
        g_clear_pointer(&frames, g_ptr_array_unref);
        frames = vsm_replay_build(s, g_get_real_time(), NULL);
        ip4("10.77.0.20", a4);
        check_igmp(frame_at(frames, 0), a4, igf);
        check_garp(frame_at(frames, 2), "10.77.0.20");
        check_garp(frame_at(frames, 3), "10.77.0.21");
}

static void test_bad_entries(void) {
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree char *skipped = NULL;
        VsmStateGroup *g;

        s->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        state_group(s, "239.1.1.1", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.1.1.2", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 0, NULL);
        state_group(s, "10.1.1.1", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff02::2:1", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.1.1.3", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 2, NULL);
        g = &g_array_index(s->groups, VsmStateGroup, s->groups->len - 1);
        g_clear_pointer(&g->sources, g_free);      /* n_sources 2, no array */
        state_ip4(s, "0.0.0.0");
        state_ip4(s, "224.0.0.1");
        state_ip6(s, "ff02::1");
        state_ip6(s, "::");
        frames = vsm_replay_build(s, g_get_real_time(), &skipped);
        g_assert_cmpuint(frames->len, ==, 0);
        g_assert_cmpstr(skipped, ==,
                        "dhcp: no lease; "
                        "group 239.1.1.1: version mldv2 does not match its family; "
                        "group 239.1.1.2: include mode without sources; "
                        "group 10.1.1.1: not a multicast address; "
                        "group 239.1.1.3: sources missing; "
                        "group ff02::2:1: version igmpv2 does not match its family; "
                        "garp 0.0.0.0: not a unicast address; "
                        "garp 224.0.0.1: not a unicast address; "
                        "na ff02::1: not a unicast address; "
                        "na ::: not a unicast address");
}

/* Every source of every group, once, in the reports of that group. */
static void check_caps(guint n4, guint n6, guint n_sources, VsmLearnFilterMode mode) {
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree char *skipped = NULL;
        g_autofree VsmIgmpFrame *igf = g_new0(VsmIgmpFrame, 1);
        g_autofree VsmMldFrame *mf = g_new0(VsmMldFrame, 1);
        uint8_t zero4[4] = { 0 }, eui[16];
        guint seen4 = 0, seen6 = 0, per4 = 0, per6 = 0, pos = 0, cur = G_MAXUINT;

        s->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        vsm_ip6_link_local_from_mac(vm_mac, eui);
        for (guint i = 0; i < n4; i++) {
                g_autofree char *a = g_strdup_printf("239.10.%u.%u", i / 256, i % 256);

                state_group(s, a, VSM_LEARN_IGMP_V3, mode, n_sources, NULL);
        }
        for (guint i = 0; i < n6; i++) {
                g_autofree char *a = g_strdup_printf("ff0e::10:%x", i);

                state_group(s, a, VSM_LEARN_MLD_V2, mode, n_sources, NULL);
        }
        frames = vsm_replay_build(s, g_get_real_time(), &skipped);

        for (guint i = 0; i < frames->len; i++) {
                const VsmReplayFrame *f = frame_at(frames, i);
                guint gi;

                if (f->kind == VSM_REPLAY_IGMP_REPORT) {
                        const VsmStateGroup *g;

                        check_igmp(f, zero4, igf);
                        g_assert_cmpuint(igf->msg.n_records, ==, 1);
                        gi = (guint) igf->msg.records[0].group[2] * 256 + igf->msg.records[0].group[3];
                        g = &g_array_index(s->groups, VsmStateGroup, gi);
                        g_assert_cmpmem(igf->msg.records[0].group, 4, g->address, 4);
                        if (gi != cur) {
                                cur = gi;
                                pos = 0;
                        }
                        for (guint k = 0; k < igf->msg.records[0].n_sources; k++) {
                                g_assert_cmpuint(pos, <, g->n_sources);
                                g_assert_cmpmem(igf->msg.sources[igf->msg.records[0].first_source + k], 4,
                                                g->sources[pos], 4);
                                pos++;
                                seen4++;
                        }
                        per4 = MAX(per4, igf->msg.records[0].n_sources);
                } else {
                        g_assert_cmpint(f->kind, ==, VSM_REPLAY_MLD_REPORT);
                        check_mld(f, eui, mf);
                        g_assert_cmpuint(mf->msg.n_records, ==, 1);
                        for (guint k = 0; k < mf->msg.records[0].n_sources; k++)
                                seen6++;
                        per6 = MAX(per6, mf->msg.records[0].n_sources);
                }
        }
        if (mode == VSM_LEARN_FILTER_INCLUDE || n_sources <= 64) {
                g_assert_cmpuint(seen4, ==, n4 * n_sources);
                g_assert_cmpuint(seen6, ==, n6 * n_sources);
                g_assert_cmpstr(skipped, ==, "dhcp: no lease");
        } else {
                /* RFC 3376 4.2.16: an EXCLUDE record keeps what fits. */
                g_assert_cmpuint(seen4, ==, n4 * 64);
                g_assert_cmpuint(seen6, ==, n6 * 64);
                g_assert_nonnull(strstr(skipped, "excluded sources not reported"));
        }
        g_assert_cmpuint(per4, <=, 64);
        g_assert_cmpuint(per6, <=, 64);
        g_test_message("%u+%u groups x %u sources: %u frames", n4, n6, n_sources, frames->len);
}

static void test_caps(void) {
        /* The learner's caps: 64 groups x 32 sources, one report each. */
        check_caps(64, 0, 32, VSM_LEARN_FILTER_INCLUDE);
        check_caps(0, 64, 32, VSM_LEARN_FILTER_EXCLUDE);
        check_caps(32, 32, 32, VSM_LEARN_FILTER_INCLUDE);
        /* Past the codec's 64 sources per record (a hand-built state):
         * INCLUDE split over several reports, EXCLUDE truncated. */
        check_caps(2, 2, 200, VSM_LEARN_FILTER_INCLUDE);
        check_caps(2, 2, 200, VSM_LEARN_FILTER_EXCLUDE);
}

static void test_split(void) {
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;

        s->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        state_group(s, "239.7.7.7", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 130, NULL);
        frames = vsm_replay_build(s, g_get_real_time(), NULL);
        g_assert_cmpuint(frames->len, ==, 3);
        g_assert_cmpstr(frame_at(frames, 0)->what, ==, "igmpv3-report 239.7.7.7 (1/3)");
        g_assert_cmpstr(frame_at(frames, 2)->what, ==, "igmpv3-report 239.7.7.7 (3/3)");
}

static void check_queries(GPtrArray *q, gboolean ip4_q, gboolean ip6_q, const uint8_t mac[6]) {
        g_autofree VsmIgmpFrame *igf = g_new0(VsmIgmpFrame, 1);
        g_autofree VsmMldFrame *mf = g_new0(VsmMldFrame, 1);
        uint8_t zero4[4] = { 0 }, zero16[16] = { 0 }, ll[16];
        guint i = 0;
        VsmReader r;

        g_assert_cmpuint(q->len, ==, (ip4_q ? 1 : 0) + (ip6_q ? 1 : 0));
        if (ip4_q) {
                const VsmReplayFrame *f = frame_at(q, i++);

                g_assert_cmpint(f->kind, ==, VSM_REPLAY_IGMP_QUERY);
                frame_reader(f, &r);
                g_assert_cmpint(vsm_igmp_frame_parse(&r, igf), ==, 0);
                g_assert_cmpmem(igf->eth.src, 6, mac, 6);
                g_assert_cmpmem(igf->ip.src, 4, zero4, 4);
                g_assert_cmpmem(igf->ip.dst, 4, vsm_ip4_all_hosts, 4);
                g_assert_cmpuint(igf->ip.ttl, ==, 1);
                g_assert_true(igf->ip.router_alert);
                g_assert_cmpuint(igf->msg.type, ==, VSM_IGMP_QUERY);
                g_assert_cmpuint(igf->msg.version, ==, 3);
                g_assert_cmpmem(igf->msg.group, 4, zero4, 4);
                g_assert_cmpuint(vsm_igmp_code_to_value(igf->msg.max_resp_code), ==, 10);
                g_assert_cmpuint(igf->msg.n_sources, ==, 0);
        }
        if (ip6_q) {
                const VsmReplayFrame *f = frame_at(q, i++);

                g_assert_cmpint(f->kind, ==, VSM_REPLAY_MLD_QUERY);
                frame_reader(f, &r);
                g_assert_cmpint(vsm_mld_frame_parse(&r, mf), ==, 0);
                vsm_ip6_link_local_from_mac(mac, ll);
                g_assert_cmpmem(mf->eth.src, 6, mac, 6);
                g_assert_cmpmem(mf->ip.src, 16, ll, 16);
                g_assert_cmpmem(mf->ip.dst, 16, vsm_ip6_all_nodes, 16);
                g_assert_cmpuint(mf->ip.hop_limit, ==, 1);
                g_assert_true(mf->ip.router_alert);
                g_assert_cmpuint(mf->msg.type, ==, VSM_MLD_QUERY);
                g_assert_cmpuint(mf->msg.version, ==, 2);
                g_assert_cmpmem(mf->msg.group, 16, zero16, 16);
                g_assert_cmpuint(vsm_mld_code_to_value(mf->msg.max_resp_code), ==, 1000);
        }
}

static void test_queries(void) {
        static const uint8_t br_mac[6] = { 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc };
        g_autoptr(TestState) s4 = state_new();
        g_autoptr(TestState) s6 = state_new();
        g_autoptr(TestState) none = state_new();
        GPtrArray *q;

        state_group(s4, "239.1.1.1", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s6, "ff05::3", VSM_LEARN_MLD_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);

        q = vsm_replay_build_queries(s4, br_mac, FALSE, FALSE);
        check_queries(q, TRUE, FALSE, br_mac);
        g_ptr_array_unref(q);
        q = vsm_replay_build_queries(s6, br_mac, FALSE, FALSE);
        check_queries(q, FALSE, TRUE, br_mac);
        g_ptr_array_unref(q);
        q = vsm_replay_build_queries(none, br_mac, FALSE, FALSE);
        check_queries(q, FALSE, FALSE, br_mac);
        g_ptr_array_unref(q);
        q = vsm_replay_build_queries(none, br_mac, TRUE, TRUE);
        check_queries(q, TRUE, TRUE, br_mac);
        g_ptr_array_unref(q);
        q = vsm_replay_build_queries(s4, vm_mac, FALSE, TRUE);
        check_queries(q, TRUE, TRUE, vm_mac);
        g_ptr_array_unref(q);
}

static void test_kind_to_string(void) {
        for (int k = 0; k < _VSM_REPLAY_KIND_MAX; k++)
                g_assert_nonnull(vsm_replay_kind_to_string(k));
        g_assert_null(vsm_replay_kind_to_string(_VSM_REPLAY_KIND_MAX));
        g_assert_cmpstr(vsm_replay_kind_to_string(VSM_REPLAY_GARP), ==, "garp");
}

/* Every frame kind into one pcap; tshark (when installed) must decode it
 * without malformed packets, bad checksums or expert errors/warnings. */
static void test_pcap_tshark(void) {
        static const uint8_t br_mac[6] = { 0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc };
        gint64 now = g_get_real_time();
        g_autoptr(TestState) s = full_state(now);
        g_autoptr(TestState) big = state_new();
        g_autoptr(GPtrArray) frames = vsm_replay_build(s, now, NULL);
        g_autoptr(GPtrArray) big_frames = NULL;
        g_autoptr(GPtrArray) queries = vsm_replay_build_queries(NULL, br_mac, TRUE, TRUE);
        g_autoptr(GByteArray) pcap = pcap_new();
        g_autoptr(GError) error = NULL;
        g_autofree char *tshark = g_find_program_in_path("tshark");
        g_autofree char *dir = NULL, *path = NULL, *out = NULL, *err = NULL, *keep = NULL;
        guint n;
        int status;

        big->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        state_group(big, "239.10.0.1", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 32, NULL);
        state_group(big, "ff0e::10:1", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 64, NULL);
        big_frames = vsm_replay_build(big, now, NULL);

        pcap_add(pcap, frames);
        pcap_add(pcap, big_frames);
        pcap_add(pcap, queries);
        n = frames->len + big_frames->len + queries->len;

        dir = g_dir_make_tmp("vsimig-replay-XXXXXX", &error);
        g_assert_no_error(error);
        path = g_build_filename(dir, "replay.pcap", NULL);
        g_assert_true(g_file_set_contents(path, (const char *) pcap->data, pcap->len, &error));
        g_assert_no_error(error);
        g_test_message("pcap with %u frames: %s", n, path);

        if (!tshark) {
                g_test_skip("tshark not installed");
                goto out;
        }
        {
                const char *argv[] = {
                        tshark, "-n", "-r", path, "-V",
                        "-o", "ip.check_checksum:TRUE",
                        "-o", "udp.check_checksum:TRUE",
                        NULL,
                };

                g_assert_true(g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                                           &status, &error));
                g_assert_no_error(error);
                g_assert_true(g_spawn_check_wait_status(status, &error));
                g_assert_no_error(error);
        }
        {
                g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
                guint frames_seen = 0;

                for (guint i = 0; lines[i]; i++) {
                        const char *l = lines[i];

                        if (g_str_has_prefix(l, "Frame ") && strstr(l, "bytes on wire"))
                                frames_seen++;
                        if (strstr(l, "Malformed") || strstr(l, "[Checksum Status: Bad]") ||
                            strstr(l, "incorrect") || strstr(l, "Expert Info (Error") ||
                            strstr(l, "Expert Info (Warning"))
                                g_error("tshark complains: %s\n(pcap kept in %s)", l, path);
                }
                g_assert_cmpuint(frames_seen, ==, n);
                /* Every protocol decoded by name. */
                g_assert_nonnull(strstr(out, "Dynamic Host Configuration Protocol (Request)"));
                g_assert_nonnull(strstr(out, "Membership Report"));
                g_assert_nonnull(strstr(out, "Multicast Listener Report Message v2"));
                g_assert_nonnull(strstr(out, "Multicast Listener Query"));
                g_assert_nonnull(strstr(out, "Neighbor Advertisement"));
                g_assert_nonnull(strstr(out, "(ARP Announcement"));
                g_assert_nonnull(strstr(out, "[Checksum Status: Good]"));
        }
out:
        keep = g_strdup(g_getenv("VSM_KEEP_PCAP"));
        if (!keep) {
                g_unlink(path);
                g_rmdir(dir);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/replay/full", test_full);
        g_test_add_func("/replay/client-id-none", test_client_id_none);
        g_test_add_func("/replay/client-id-empty", test_client_id_empty);
        g_test_add_func("/replay/skip-dhcp", test_skip_dhcp);
        g_test_add_func("/replay/sources-default", test_sources_default);
        g_test_add_func("/replay/bad-entries", test_bad_entries);
        g_test_add_func("/replay/caps", test_caps);
        g_test_add_func("/replay/split", test_split);
        g_test_add_func("/replay/queries", test_queries);
        g_test_add_func("/replay/kind-to-string", test_kind_to_string);
        g_test_add_func("/replay/pcap-tshark", test_pcap_tshark);
        return g_test_run();
}

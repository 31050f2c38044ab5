/* The replay builder (daemon/replay.c): every frame decoded with our own
 * parsers (checksums verified there), the skip reasons, the order, the
 * packing of v3/MLDv2 records into as few reports as fit an MTU, the caps
 * (64 groups x 32 sources, and oversized records split per RFC 3376
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

/* An IPv6 address if text has a colon, else an IPv4 one. */
static void ip_any(const char *text, uint8_t ret[16]) {
        if (strchr(text, ':'))
                ip6(text, ret);
        else
                ip4(text, ret);
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
        ip_any(addr, g.address);
        g.version = v;
        g.mode = mode;
        g.n_sources = n_generated;
        for (guint i = 0; sources && sources[i]; i++)
                g.n_sources++;
        if (g.n_sources > 0)
                g.sources = g_malloc0_n(g.n_sources, VSM_IP6_ALEN);
        for (guint i = 0; i < g.n_sources; i++) {
                if (sources && sources[i]) {
                        ip_any(sources[i], g.sources[i]);
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

/* f is of this kind; r reads its octets. */
static void frame_reader(const VsmReplayFrame *f, VsmReplayKind kind, VsmReader *r) {
        gsize len;
        const uint8_t *data = g_bytes_get_data(f->frame, &len);

        g_assert_cmpint(f->kind, ==, kind);
        g_assert_cmpuint(len, >=, VSM_ETH_ZLEN);
        g_assert_cmpuint(len, <=, FRAME_MTU_MAX);
        vsm_reader_init(r, data, len);
}

static void check_dhcp(const VsmReplayFrame *f, const VsmNicState *s, VsmDhcpFrame *ret) {
        VsmReader r;
        uint8_t zero4[4] = { 0 };

        frame_reader(f, VSM_REPLAY_DHCP_REQUEST, &r);
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

        frame_reader(f, VSM_REPLAY_IGMP_REPORT, &r);
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

        frame_reader(f, VSM_REPLAY_MLD_REPORT, &r);
        g_assert_cmpint(vsm_mld_frame_parse(&r, ret), ==, 0);
        g_assert_cmpmem(ret->eth.src, 6, vm_mac, 6);
        vsm_ip6_multicast_mac(ret->ip.dst, mac);
        g_assert_cmpmem(ret->eth.dst, 6, mac, 6);
        g_assert_cmpuint(ret->ip.hop_limit, ==, 1);
        g_assert_true(ret->ip.router_alert);
        g_assert_cmpuint(ret->ip.router_alert_value, ==, 0);
        g_assert_cmpmem(ret->ip.src, 16, src, 16);
}

/* An expected record of an IGMPv3 or MLDv2 report. */
typedef struct WantRecord {
        VsmMcastRecordType type;
        const char *group;
        const char *const *sources;    /* NULL-terminated; NULL: none */
} WantRecord;

/* An expected IGMP or MLD report, of the family of its type.  A v1/v2
 * one names its group, also its IP destination; a v3/MLDv2 one goes to
 * the routers' address with these records, their sources packed in
 * record order.  what: the frame's description, NULL to skip it. */
typedef struct WantReport {
        guint8 type;                   /* VsmIgmpType or VsmMldType */
        const char *group;
        const WantRecord *records;
        guint n_records;
        const char *what;
} WantReport;

/* f is the report w describes, from src4 (IGMP) or src6 (MLD). */
static void check_report(const VsmReplayFrame *f, const uint8_t src4[4], const uint8_t src6[16], const WantReport *w) {
        g_autofree VsmIgmpFrame *igf = NULL;
        g_autofree VsmMldFrame *mf = NULL;
        gboolean v6 = w->type == VSM_MLD_V1_REPORT || w->type == VSM_MLD_V2_REPORT;
        size_t alen = v6 ? VSM_IP6_ALEN : VSM_IP4_ALEN;
        const uint8_t *dst, *group, *pool;
        guint type, n_records, n_sources, next = 0;
        uint8_t a[16];

        if (v6) {
                mf = g_new0(VsmMldFrame, 1);
                check_mld(f, src6, mf);
                type = mf->msg.type;
                dst = mf->ip.dst;
                group = mf->msg.group;
                n_records = mf->msg.n_records;
                n_sources = mf->msg.n_sources;
                pool = mf->msg.sources[0];
        } else {
                igf = g_new0(VsmIgmpFrame, 1);
                check_igmp(f, src4, igf);
                type = igf->msg.type;
                dst = igf->ip.dst;
                group = igf->msg.group;
                n_records = igf->msg.n_records;
                n_sources = igf->msg.n_sources;
                pool = igf->msg.sources[0];
        }
        g_assert_cmpuint(type, ==, w->type);
        if (w->group) {
                ip_any(w->group, a);
                g_assert_cmpmem(group, alen, a, alen);
                g_assert_cmpmem(dst, alen, a, alen);
        } else {
                g_assert_cmpmem(dst, alen, v6 ? vsm_ip6_mldv2_routers : vsm_ip4_igmpv3_routers, alen);
                g_assert_cmpuint(n_records, ==, w->n_records);
        }
        for (guint r = 0; r < w->n_records; r++) {
                const WantRecord *want = &w->records[r];
                guint rec_type = v6 ? mf->msg.records[r].type : igf->msg.records[r].type;
                const uint8_t *rec_group = v6 ? mf->msg.records[r].group : igf->msg.records[r].group;
                guint first = v6 ? mf->msg.records[r].first_source : igf->msg.records[r].first_source;
                guint n = v6 ? mf->msg.records[r].n_sources : igf->msg.records[r].n_sources;
                guint k = 0;

                g_assert_cmpuint(rec_type, ==, want->type);
                ip_any(want->group, a);
                g_assert_cmpmem(rec_group, alen, a, alen);
                g_assert_cmpuint(first, ==, next);
                for (; want->sources && want->sources[k]; k++) {
                        ip_any(want->sources[k], a);
                        g_assert_cmpmem(pool + (first + k) * alen, alen, a, alen);
                }
                g_assert_cmpuint(n, ==, k);
                next += n;
        }
        if (!w->group)
                g_assert_cmpuint(n_sources, ==, next);
        if (w->what)
                g_assert_cmpstr(f->what, ==, w->what);
}

static void check_garp(const VsmReplayFrame *f, const char *addr) {
        VsmArpFrame af;
        VsmReader r;
        uint8_t a[4];

        ip4(addr, a);
        frame_reader(f, VSM_REPLAY_GARP, &r);
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
        frame_reader(f, VSM_REPLAY_UNSOLICITED_NA, &r);
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

static const char *const full_excl[] = { "10.77.0.9", NULL };
static const char *const full_incl[] = { "10.0.0.1", "10.0.0.2", NULL };
static const char *const full_incl6[] = { "2001:db8::99", NULL };

static VsmNicState *full_state(gint64 now) {
        VsmNicState *s = state_new();

        state_lease(s, "10.77.0.5", 3600, now - 60 * G_USEC_PER_SEC);
        state_client_id(s);
        s->hostname = g_strdup("vm1");
        state_group(s, "239.1.1.1", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff05::1:3", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.2.2.2", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, full_excl);
        state_group(s, "239.3.3.3", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 0, full_incl);
        state_group(s, "ff0e::1234", VSM_LEARN_MLD_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "224.5.5.5", VSM_LEARN_IGMP_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff3e::8000:1", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_INCLUDE, 0, full_incl6);
        state_ip4(s, "10.77.0.6");
        state_ip4(s, "10.77.0.5");     /* the lease address again: no second GARP */
        state_ip4(s, "10.77.0.6");
        state_ip6(s, "2001:db8::5");
        state_ip6(s, "fe80::1234:5678");  /* learned link-local, not the EUI-64 one */
        state_ip6(s, "2001:db8::5");
        return s;
}

static void test_full(void) {
        static const WantRecord v3[] = {
                { VSM_MCAST_MODE_IS_EXCLUDE, "239.2.2.2", full_excl },
                { VSM_MCAST_MODE_IS_INCLUDE, "239.3.3.3", full_incl },
        };
        static const WantRecord mld_excl[] = { { VSM_MCAST_MODE_IS_EXCLUDE, "ff05::1:3", NULL } };
        static const WantRecord mld_incl[] = { { VSM_MCAST_MODE_IS_INCLUDE, "ff3e::8000:1", full_incl6 } };
        /* IGMP in state order, each in the guest's version; the two v3
         * groups in a row share one report, in state order.  MLD from the
         * learned link-local; the v1 group between the two v2 groups keeps
         * them in reports of their own (group order). */
        static const WantReport reports[] = {
                { VSM_IGMP_V2_REPORT, "239.1.1.1", NULL, 0, "igmpv2-report 239.1.1.1" },
                { VSM_IGMP_V3_REPORT, NULL, v3, G_N_ELEMENTS(v3), "igmpv3-report 239.2.2.2 +1 (2 records)" },
                { VSM_IGMP_V1_REPORT, "224.5.5.5", NULL, 0, "igmpv1-report 224.5.5.5" },
                { VSM_MLD_V2_REPORT, NULL, mld_excl, G_N_ELEMENTS(mld_excl), "mldv2-report ff05::1:3" },
                { VSM_MLD_V1_REPORT, "ff0e::1234", NULL, 0, "mldv1-report ff0e::1234" },
                { VSM_MLD_V2_REPORT, NULL, mld_incl, G_N_ELEMENTS(mld_incl), "mldv2-report ff3e::8000:1" },
        };
        gint64 now = g_get_real_time();
        g_autoptr(TestState) s = full_state(now);
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree char *skipped = NULL;
        g_autofree VsmDhcpFrame *df = g_new0(VsmDhcpFrame, 1);
        uint8_t lease[4], ll[16];
        guint i = 0;

        ip4("10.77.0.5", lease);
        ip6("fe80::1234:5678", ll);
        frames = vsm_replay_build(s, now, &skipped);
        g_assert_nonnull(frames);
        g_assert_null(skipped);
        /* dhcp, 3 igmp (v2, one v3 of 2 records, v1), 3 mld (v2, v1, v2),
         * 2 garp, 2 na */
        g_assert_cmpuint(frames->len, ==, 11);

        check_dhcp(frame_at(frames, i), s, df);
        g_assert_true(df->msg.has_client_id);
        g_assert_cmpmem(df->msg.client_id, df->msg.client_id_len, client_id, sizeof(client_id));
        g_assert_true(df->msg.has_hostname);
        g_assert_cmpstr(df->msg.hostname, ==, "vm1");
        g_assert_cmpstr(frame_at(frames, i)->what, ==, "dhcp-request 10.77.0.5");
        i++;

        for (guint k = 0; k < G_N_ELEMENTS(reports); k++)
                check_report(frame_at(frames, i++), lease, ll, &reports[k]);

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
                /* An expired lease is no longer owned: no GARP for it. */
                { "expired", TRUE, VSM_LEARN_CLIENT_ID_SENT, 3600, 3601,
                  "dhcp: lease expired; garp of the lease: lease expired" },
                { "expired, none", TRUE, VSM_LEARN_CLIENT_ID_NONE, 60, 61,
                  "dhcp: lease expired; garp of the lease: lease expired" },
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
                /* The GARPs are sent whatever happened to DHCP; the
                 * lease's only while it runs. */
                g_assert_cmpuint(frames->len, ==,
                                 (cases[c].skipped ? 0 : 1) + 1 +
                                         (cases[c].lease && cases[c].age_s < cases[c].lease_time ? 1 : 0));
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
        state_group(s, "ff05::1:3", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
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
        /* Link-local groups: hosts never report them (DESIGN.md 4). */
        state_group(s, "224.0.0.251", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff02::1:ff00:1", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff02::fb", VSM_LEARN_MLD_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
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
                        "group 224.0.0.251: link-local, never reported; "
                        "group 239.1.1.3: sources missing; "
                        "group ff02::2:1: version igmpv2 does not match its family; "
                        "group ff02::1:ff00:1: link-local, never reported; "
                        "group ff02::fb: link-local, never reported; "
                        "garp 0.0.0.0: not a unicast address; "
                        "garp 224.0.0.1: not a unicast address; "
                        "na ff02::1: not a unicast address; "
                        "na ::: not a unicast address");
}

/* --- packing ---------------------------------------------------------- */

/* Octets for the group records in a v3/v2 report of a 1500-octet IP packet. */
#define IGMP_ROOM (1500 - VSM_IP4_RA_HLEN - VSM_IGMP_HLEN)
#define MLD_ROOM (1500 - VSM_IP6_HLEN - VSM_IP6_HBH_RA_LEN - VSM_MLD_V2_REPORT_HLEN)

/* The most reports n groups of n_sources sources each may take: a record
 * of at most 64 sources is packed, as many to a report as the room and
 * the caps allow, so ceil(n / per report); a larger one is split (INCLUDE)
 * into parts of 64 or truncated (EXCLUDE), each part in a report. */
static guint reports_max(guint n_groups, guint n_sources, VsmLearnFilterMode mode, gboolean v6) {
        size_t room = v6 ? MLD_ROOM : IGMP_ROOM;
        size_t rec = (v6 ? VSM_MLD_RECORD_HLEN : VSM_IGMP_RECORD_HLEN) + (size_t) n_sources * (v6 ? 16 : 4);
        guint per = MIN((guint) (room / rec), v6 ? VSM_MLD_RECORDS_MAX : VSM_IGMP_RECORDS_MAX);

        if (n_sources > 64)
                return n_groups * (mode == VSM_LEARN_FILTER_INCLUDE ? (n_sources + 63) / 64 : 1);
        if (n_sources > 0)
                per = MIN(per, (v6 ? VSM_MLD_SOURCES_MAX : VSM_IGMP_SOURCES_MAX) / n_sources);
        return (n_groups + per - 1) / per;
}

/* Walks the records of the reports of one family: groups in state order,
 * each group's sources in order, each exactly once. */
typedef struct RecordWalk {
        const VsmNicState *s;
        guint cur;                     /* index in s->groups, G_MAXUINT before the first */
        guint pos;                     /* sources of cur seen */
        guint want;                    /* sources of each group to see */
        guint seen;
} RecordWalk;

static void walk_record(RecordWalk *wk, guint gi, const uint8_t *group, guint n, const uint8_t *pool, size_t alen) {
        const VsmStateGroup *g;

        g_assert_cmpuint(gi, <, wk->s->groups->len);
        g = &g_array_index(wk->s->groups, VsmStateGroup, gi);
        g_assert_cmpmem(group, alen, g->address, alen);
        if (gi != wk->cur) {
                /* The previous group is complete and this is the next one. */
                if (wk->cur != G_MAXUINT) {
                        g_assert_cmpuint(wk->pos, ==, wk->want);
                        g_assert_cmpuint(gi, ==, wk->cur + 1);
                }
                wk->cur = gi;
                wk->pos = 0;
        }
        for (guint k = 0; k < n; k++) {
                g_assert_cmpuint(wk->pos, <, wk->want);
                g_assert_cmpmem(pool + k * alen, alen, g->sources[wk->pos], alen);
                wk->pos++;
                wk->seen++;
        }
}

static void check_packed_what(const VsmReplayFrame *f, const char *version, const uint8_t *group, guint n_records,
                              gboolean v6) {
        char a[INET6_ADDRSTRLEN];
        g_autofree char *want = NULL;

        inet_ntop(v6 ? AF_INET6 : AF_INET, group, a, sizeof(a));
        if (n_records > 1)
                want = g_strdup_printf("%s-report %s +%u (%u records)", version, a, n_records - 1, n_records);
        else
                want = g_strdup_printf("%s-report %s", version, a);
        if (!strstr(f->what, " ("))
                g_assert_cmpstr(f->what, ==, want);
        else
                g_assert_true(g_str_has_prefix(f->what, want));
}

/* n4 IGMPv3 and n6 MLDv2 groups of n_sources sources each: every source
 * of every group once, in order, in frames of at most 1514 octets, and
 * no more reports than reports_max().  *ret_n4 / *ret_n6: the reports. */
static void check_caps_full(guint n4, guint n6, guint n_sources, VsmLearnFilterMode mode, guint *ret_n4,
                            guint *ret_n6) {
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree char *skipped = NULL;
        g_autofree VsmIgmpFrame *igf = g_new0(VsmIgmpFrame, 1);
        g_autofree VsmMldFrame *mf = g_new0(VsmMldFrame, 1);
        uint8_t zero4[4] = { 0 }, eui[16];
        guint want = mode == VSM_LEARN_FILTER_INCLUDE ? n_sources : MIN(n_sources, 64);
        RecordWalk w4 = { .cur = G_MAXUINT, .want = want }, w6 = { .cur = G_MAXUINT, .want = want };
        guint frames4 = 0, frames6 = 0, per4 = 0, per6 = 0;
        gboolean in6 = FALSE;

        s->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        w4.s = w6.s = s;
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

                if (f->kind == VSM_REPLAY_IGMP_REPORT) {
                        /* All IGMP before all MLD. */
                        g_assert_false(in6);
                        check_igmp(f, zero4, igf);
                        g_assert_cmpuint(igf->msg.type, ==, VSM_IGMP_V3_REPORT);
                        g_assert_cmpuint(igf->msg.n_records, >=, 1);
                        check_packed_what(f, "igmpv3", igf->msg.records[0].group, igf->msg.n_records, FALSE);
                        for (guint r = 0; r < igf->msg.n_records; r++) {
                                const VsmIgmpRecord *rec = &igf->msg.records[r];

                                g_assert_cmpuint(rec->type, ==,
                                                 mode == VSM_LEARN_FILTER_INCLUDE ? VSM_MCAST_MODE_IS_INCLUDE
                                                                                  : VSM_MCAST_MODE_IS_EXCLUDE);
                                walk_record(&w4, (guint) rec->group[2] * 256 + rec->group[3], rec->group,
                                            rec->n_sources, igf->msg.sources[rec->first_source], 4);
                                per4 = MAX(per4, rec->n_sources);
                        }
                        frames4++;
                } else {
                        g_assert_cmpint(f->kind, ==, VSM_REPLAY_MLD_REPORT);
                        in6 = TRUE;
                        check_mld(f, eui, mf);
                        g_assert_cmpuint(mf->msg.type, ==, VSM_MLD_V2_REPORT);
                        g_assert_cmpuint(mf->msg.n_records, >=, 1);
                        check_packed_what(f, "mldv2", mf->msg.records[0].group, mf->msg.n_records, TRUE);
                        for (guint r = 0; r < mf->msg.n_records; r++) {
                                const VsmMldRecord *rec = &mf->msg.records[r];

                                walk_record(&w6, n4 + (guint) rec->group[14] * 256 + rec->group[15], rec->group,
                                            rec->n_sources, mf->msg.sources[rec->first_source], 16);
                                per6 = MAX(per6, rec->n_sources);
                        }
                        frames6++;
                }
        }
        /* Every group, the last one complete. */
        g_assert_cmpuint(w4.seen, ==, n4 * want);
        g_assert_cmpuint(w6.seen, ==, n6 * want);
        if (n4 > 0)
                g_assert_cmpuint(w4.cur, ==, n4 - 1);
        if (n6 > 0)
                g_assert_cmpuint(w6.cur, ==, n4 + n6 - 1);
        if (want == n_sources) {
                g_assert_cmpstr(skipped, ==, "dhcp: no lease");
        } else {
                /* RFC 3376 4.2.16: an EXCLUDE record keeps what fits. */
                g_assert_nonnull(strstr(skipped, "excluded sources not reported"));
        }
        g_assert_cmpuint(per4, <=, 64);
        g_assert_cmpuint(per6, <=, 64);
        g_assert_cmpuint(frames4, <=, reports_max(n4, n_sources, mode, FALSE));
        g_assert_cmpuint(frames6, <=, reports_max(n6, n_sources, mode, TRUE));
        g_test_message("%u IGMPv3 + %u MLDv2 groups x %u sources: %u + %u reports", n4, n6, n_sources, frames4,
                       frames6);
        if (ret_n4)
                *ret_n4 = frames4;
        if (ret_n6)
                *ret_n6 = frames6;
}

static void test_caps(void) {
        /* reports4/reports6: the reports each family takes, -1 when only
         * the bound of check_caps_full() is checked. */
        static const struct {
                guint n4, n6, n_sources;
                VsmLearnFilterMode mode;
                int reports4, reports6;
        } cases[] = {
                /* The learner's caps: 64 groups x 32 sources.  A v3 record
                 * of 32 sources is 8 + 128 = 136 octets, 10 to the 1468
                 * octets of a report: 7 reports; an MLDv2 one 20 + 512 =
                 * 532, 2 to 1444: 32. */
                { 64, 64, 32, VSM_LEARN_FILTER_INCLUDE, 7, 32 },
                { 64, 0, 32, VSM_LEARN_FILTER_INCLUDE, -1, -1 },
                { 0, 64, 32, VSM_LEARN_FILTER_EXCLUDE, -1, -1 },
                { 32, 32, 32, VSM_LEARN_FILTER_INCLUDE, -1, -1 },
                /* No sources: the 64-record cap, not the MTU, closes a report. */
                { 130, 130, 0, VSM_LEARN_FILTER_EXCLUDE, 3, 3 },
                /* 64 sources, the per-record cap: 5 v3 records or 1 MLDv2
                 * record to a report. */
                { 20, 5, 64, VSM_LEARN_FILTER_INCLUDE, 4, 5 },
                { 7, 3, 5, VSM_LEARN_FILTER_EXCLUDE, -1, -1 },
                /* Past the codec's 64 sources per record (a hand-built
                 * state): INCLUDE split over several reports, EXCLUDE
                 * truncated, each part in a report of its own. */
                { 2, 2, 200, VSM_LEARN_FILTER_INCLUDE, 8, 8 },
                { 2, 2, 200, VSM_LEARN_FILTER_EXCLUDE, 2, 2 },
        };

        g_assert_cmpuint(reports_max(64, 32, VSM_LEARN_FILTER_INCLUDE, FALSE), ==, 7);
        g_assert_cmpuint(reports_max(64, 32, VSM_LEARN_FILTER_INCLUDE, TRUE), ==, 32);
        for (guint c = 0; c < G_N_ELEMENTS(cases); c++) {
                guint n4, n6;

                check_caps_full(cases[c].n4, cases[c].n6, cases[c].n_sources, cases[c].mode, &n4, &n6);
                if (cases[c].reports4 >= 0)
                        g_assert_cmpuint(n4, ==, (guint) cases[c].reports4);
                if (cases[c].reports6 >= 0)
                        g_assert_cmpuint(n6, ==, (guint) cases[c].reports6);
        }
}

/* 50 IGMPv3 EXCLUDE{} groups (the benchmark's vNIC): one report. */
/* Adds 50 EXCLUDE{} groups of version v to s, named prefix + 1..50
 * (hexadecimal for IPv6); ret_records[i] is group i's record, its
 * group in ret_names[i]. */
static void state_50_groups(VsmNicState *s, const char *prefix, VsmLearnMcastVersion v, char ret_names[50][64],
                            WantRecord ret_records[50]) {
        gboolean v6 = strchr(prefix, ':') != NULL;

        for (guint i = 0; i < 50; i++) {
                g_snprintf(ret_names[i], 64, v6 ? "%s%x" : "%s%u", prefix, i + 1);
                state_group(s, ret_names[i], v, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
                ret_records[i] = (WantRecord) { VSM_MCAST_MODE_IS_EXCLUDE, ret_names[i], NULL };
        }
}

static void test_pack_igmp(void) {
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree char *skipped = NULL;
        char names[50][64];
        WantRecord records[50];
        const WantReport want = {
                VSM_IGMP_V3_REPORT, NULL, records, 50, "igmpv3-report 239.1.1.1 +49 (50 records)",
        };
        uint8_t src[4];

        state_lease(s, "10.77.0.5", 3600, g_get_real_time());
        s->client_id_state = VSM_LEARN_CLIENT_ID_UNKNOWN;
        state_50_groups(s, "239.1.1.", VSM_LEARN_IGMP_V3, names, records);
        frames = vsm_replay_build(s, g_get_real_time(), &skipped);
        g_assert_cmpstr(skipped, ==, "dhcp: client-id unknown");
        /* the report, the GARP */
        g_assert_cmpuint(frames->len, ==, 2);
        ip4("10.77.0.5", src);
        check_report(frame_at(frames, 0), src, NULL, &want);
        /* 14 + 24 + 8 + 50 x 8 */
        g_assert_cmpuint(g_bytes_get_size(frame_at(frames, 0)->frame), ==, 446);
        check_garp(frame_at(frames, 1), "10.77.0.5");
}

/* 50 MLDv2 EXCLUDE{} groups: one report too (50 x 20 octets). */
static void test_pack_mld(void) {
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;
        char names[50][64];
        WantRecord records[50];
        const WantReport want = {
                VSM_MLD_V2_REPORT, NULL, records, 50, "mldv2-report ff05::1:1 +49 (50 records)",
        };
        uint8_t eui[16];

        s->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        state_50_groups(s, "ff05::1:", VSM_LEARN_MLD_V2, names, records);
        frames = vsm_replay_build(s, g_get_real_time(), NULL);
        g_assert_cmpuint(frames->len, ==, 1);
        vsm_ip6_link_local_from_mac(vm_mac, eui);
        check_report(frame_at(frames, 0), NULL, eui, &want);
}

/* v1/v2 groups get a report each and close the v3 report before them,
 * so the frames keep the group order. */
static void test_pack_mixed(void) {
        static const char *const src1[] = { "10.0.0.1", NULL };
        static const char *const src3[] = { "10.5.0.0", "10.5.0.1", "10.5.0.2", NULL }; /* generated */
        static const char *const src6[] = { "2001:db8::1", "2001:db8::2", NULL };
        static const WantRecord r0[] = {
                { VSM_MCAST_MODE_IS_EXCLUDE, "239.0.0.1", NULL },
                { VSM_MCAST_MODE_IS_INCLUDE, "239.0.0.2", src1 },
        };
        static const WantRecord r2[] = {
                { VSM_MCAST_MODE_IS_EXCLUDE, "239.0.0.4", NULL },
                { VSM_MCAST_MODE_IS_EXCLUDE, "239.0.0.6", src3 },
                { VSM_MCAST_MODE_IS_EXCLUDE, "239.0.0.10", NULL },
        };
        static const WantRecord r5[] = { { VSM_MCAST_MODE_IS_EXCLUDE, "239.0.0.9", NULL } };
        static const WantRecord r6[] = { { VSM_MCAST_MODE_IS_EXCLUDE, "ff05::1", NULL } };
        static const WantRecord r8[] = {
                { VSM_MCAST_MODE_IS_INCLUDE, "ff05::3", src6 },
                { VSM_MCAST_MODE_IS_EXCLUDE, "ff05::4", NULL },
        };
        static const WantReport want[] = {
                { VSM_IGMP_V3_REPORT, NULL, r0, G_N_ELEMENTS(r0), "igmpv3-report 239.0.0.1 +1 (2 records)" },
                { VSM_IGMP_V2_REPORT, "239.0.0.3", NULL, 0, "igmpv2-report 239.0.0.3" },
                { VSM_IGMP_V3_REPORT, NULL, r2, G_N_ELEMENTS(r2), "igmpv3-report 239.0.0.4 +2 (3 records)" },
                { VSM_IGMP_V1_REPORT, "239.0.0.7", NULL, 0, "igmpv1-report 239.0.0.7" },
                { VSM_IGMP_V2_REPORT, "239.0.0.8", NULL, 0, "igmpv2-report 239.0.0.8" },
                { VSM_IGMP_V3_REPORT, NULL, r5, G_N_ELEMENTS(r5), "igmpv3-report 239.0.0.9" },
                { VSM_MLD_V2_REPORT, NULL, r6, G_N_ELEMENTS(r6), "mldv2-report ff05::1" },
                { VSM_MLD_V1_REPORT, "ff05::2", NULL, 0, "mldv1-report ff05::2" },
                { VSM_MLD_V2_REPORT, NULL, r8, G_N_ELEMENTS(r8), "mldv2-report ff05::3 +1 (2 records)" },
        };
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree char *skipped = NULL;
        uint8_t src[4], ll[16];

        s->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        state_ip4(s, "10.77.0.5");
        state_group(s, "239.0.0.1", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff05::1", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.0.0.2", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 0, src1);
        state_group(s, "239.0.0.3", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff05::2", VSM_LEARN_MLD_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.0.0.4", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.0.0.5", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 0, NULL); /* skipped */
        state_group(s, "239.0.0.6", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 3, NULL);
        state_group(s, "ff05::3", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_INCLUDE, 0, src6);
        state_group(s, "239.0.0.10", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.0.0.7", VSM_LEARN_IGMP_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.0.0.8", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.0.0.9", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff05::4", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        frames = vsm_replay_build(s, g_get_real_time(), &skipped);
        g_assert_cmpstr(skipped, ==, "dhcp: no lease; group 239.0.0.5: include mode without sources");
        /* the reports, then the GARP */
        g_assert_cmpuint(frames->len, ==, G_N_ELEMENTS(want) + 1);

        ip4("10.77.0.5", src);
        vsm_ip6_link_local_from_mac(vm_mac, ll);
        for (guint i = 0; i < G_N_ELEMENTS(want); i++)
                check_report(frame_at(frames, i), src, ll, &want[i]);
        check_garp(frame_at(frames, 9), "10.77.0.5");
        g_assert_cmpstr(frame_at(frames, 9)->what, ==, "garp 10.77.0.5");
}

/* A record too large for one report: each part gets a report of its own,
 * the groups around it are packed before and after it. */
static void test_split(void) {
        static const char *const want[] = {
                "igmpv3-report 239.7.7.6",
                "igmpv3-report 239.7.7.7 (1/3)",
                "igmpv3-report 239.7.7.7 (2/3)",
                "igmpv3-report 239.7.7.7 (3/3)",
                "igmpv3-report 239.7.7.8 +1 (2 records)",
                "igmpv3-report 239.7.7.10",
                "igmpv3-report 239.7.7.11",
                "mldv2-report ff0e::7 (1/2)",
                "mldv2-report ff0e::7 (2/2)",
                "mldv2-report ff0e::8",
        };
        static const guint want_sources[] = { 0, 64, 64, 2, 0, 64, 0, 64, 6, 0 };
        g_autoptr(TestState) s = state_new();
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree char *skipped = NULL;
        g_autofree VsmIgmpFrame *igf = g_new0(VsmIgmpFrame, 1);
        g_autofree VsmMldFrame *mf = g_new0(VsmMldFrame, 1);
        uint8_t zero4[4] = { 0 }, eui[16];

        s->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        state_group(s, "239.7.7.6", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.7.7.7", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 130, NULL);
        state_group(s, "239.7.7.8", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.7.7.9", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.7.7.10", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 100, NULL);
        state_group(s, "239.7.7.11", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff0e::7", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_INCLUDE, 70, NULL);
        state_group(s, "ff0e::8", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        frames = vsm_replay_build(s, g_get_real_time(), &skipped);
        g_assert_cmpstr(skipped, ==, "dhcp: no lease; group 239.7.7.10: 36 excluded sources not reported");
        g_assert_cmpuint(frames->len, ==, G_N_ELEMENTS(want));
        vsm_ip6_link_local_from_mac(vm_mac, eui);
        for (guint i = 0; i < frames->len; i++) {
                g_assert_cmpstr(frame_at(frames, i)->what, ==, want[i]);
                if (i < 7) {
                        check_igmp(frame_at(frames, i), zero4, igf);
                        g_assert_cmpuint(igf->msg.n_sources, ==, want_sources[i]);
                } else {
                        check_mld(frame_at(frames, i), eui, mf);
                        g_assert_cmpuint(mf->msg.n_sources, ==, want_sources[i]);
                }
        }
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

                frame_reader(f, VSM_REPLAY_IGMP_QUERY, &r);
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

                frame_reader(f, VSM_REPLAY_MLD_QUERY, &r);
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
        /* The state's groups ask for a family's query, or the caller does. */
        const struct {
                const VsmNicState *s;
                const uint8_t *mac;
                gboolean want_ip4, want_ip6;
                gboolean ip4_q, ip6_q;
        } cases[] = {
                { s4, br_mac, FALSE, FALSE, TRUE, FALSE },
                { s6, br_mac, FALSE, FALSE, FALSE, TRUE },
                { none, br_mac, FALSE, FALSE, FALSE, FALSE },
                { none, br_mac, TRUE, TRUE, TRUE, TRUE },
                { s4, vm_mac, FALSE, TRUE, TRUE, TRUE },
        };

        state_group(s4, "239.1.1.1", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s6, "ff05::3", VSM_LEARN_MLD_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        for (guint c = 0; c < G_N_ELEMENTS(cases); c++) {
                g_autoptr(GPtrArray) q =
                        vsm_replay_build_queries(cases[c].s, cases[c].mac, cases[c].want_ip4, cases[c].want_ip6);

                check_queries(q, cases[c].ip4_q, cases[c].ip6_q, cases[c].mac);
        }
}

/* Leaves for the VM's groups on the old port: v1 has none, v2 a Leave
 * Group to all-routers, v3 and MLDv2 CHANGE_TO_INCLUDE{} records packed
 * into one report, MLDv1 a Done to all-routers; no sources named.  Never
 * as the VM: from the host's MAC, IPv4 source 0.0.0.0, IPv6 source the
 * host MAC's EUI-64 link-local, although the VM has a lease and a
 * link-local of its own. */
static void test_leaves(void) {
        static const char *const srcs[] = { "10.0.0.1", NULL };
        g_autoptr(GPtrArray) frames = NULL;
        g_autofree VsmIgmpFrame *ig = g_new0(VsmIgmpFrame, 1);
        g_autofree VsmMldFrame *ml = g_new0(VsmMldFrame, 1);
        VsmNicState *s = state_new();
        static const uint8_t host_mac[6] = { 0x0a, 0x11, 0x22, 0x33, 0x44, 0x55 };
        uint8_t src4[4], src6[16], a[16];
        VsmReader r;

        state_lease(s, "10.77.0.5", 3600, g_get_real_time());
        state_ip6(s, "fe80::5054:ff:fe12:3456");
        state_group(s, "224.1.1.1", VSM_LEARN_IGMP_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.2.2.2", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.3.3.3", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "239.4.4.4", VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 0, srcs);
        state_group(s, "ff05::1", VSM_LEARN_MLD_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(s, "ff05::2", VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 3, NULL);
        ip4("0.0.0.0", src4);
        ip6("fe80::811:22ff:fe33:4455", src6);

        frames = vsm_replay_build_leaves(s, host_mac);
        g_assert_cmpuint(frames->len, ==, 4);
        for (guint i = 0; i < frames->len; i++) {
                gsize len;
                const uint8_t *d = g_bytes_get_data(frame_at(frames, i)->frame, &len);

                g_assert_cmpuint(len, >, 12);
                g_assert_cmpmem(d + 6, 6, host_mac, 6);
        }

        frame_reader(frame_at(frames, 0), VSM_REPLAY_IGMP_LEAVE, &r);
        g_assert_cmpint(vsm_igmp_frame_parse(&r, ig), ==, 0);
        g_assert_cmpuint(ig->msg.type, ==, VSM_IGMP_V2_LEAVE);
        ip4("239.2.2.2", a);
        g_assert_cmpmem(ig->msg.group, 4, a, 4);
        ip4("224.0.0.2", a);
        g_assert_cmpmem(ig->ip.dst, 4, a, 4);
        g_assert_cmpmem(ig->ip.src, 4, src4, 4);
        g_assert_cmpuint(ig->ip.ttl, ==, 1);
        g_assert_true(ig->ip.router_alert);
        g_assert_cmpstr(frame_at(frames, 0)->what, ==, "igmpv2-leave 239.2.2.2");

        frame_reader(frame_at(frames, 1), VSM_REPLAY_IGMP_LEAVE, &r);
        memset(ig, 0, sizeof(*ig));
        g_assert_cmpint(vsm_igmp_frame_parse(&r, ig), ==, 0);
        g_assert_cmpuint(ig->msg.type, ==, VSM_IGMP_V3_REPORT);
        g_assert_cmpuint(ig->msg.n_records, ==, 2);
        g_assert_cmpuint(ig->msg.n_sources, ==, 0);
        for (guint i = 0; i < 2; i++) {
                g_assert_cmpuint(ig->msg.records[i].type, ==, VSM_MCAST_CHANGE_TO_INCLUDE);
                g_assert_cmpuint(ig->msg.records[i].n_sources, ==, 0);
        }
        ip4("239.4.4.4", a);
        g_assert_cmpmem(ig->msg.records[1].group, 4, a, 4);
        g_assert_cmpmem(ig->ip.dst, 4, vsm_ip4_igmpv3_routers, 4);
        g_assert_cmpmem(ig->ip.src, 4, src4, 4);
        g_assert_cmpstr(frame_at(frames, 1)->what, ==, "igmpv3-leave 239.3.3.3 +1 (2 records)");

        frame_reader(frame_at(frames, 2), VSM_REPLAY_MLD_LEAVE, &r);
        g_assert_cmpint(vsm_mld_frame_parse(&r, ml), ==, 0);
        g_assert_cmpuint(ml->msg.type, ==, VSM_MLD_V1_DONE);
        ip6("ff05::1", a);
        g_assert_cmpmem(ml->msg.group, 16, a, 16);
        ip6("ff02::2", a);
        g_assert_cmpmem(ml->ip.dst, 16, a, 16);
        g_assert_cmpmem(ml->ip.src, 16, src6, 16);
        g_assert_cmpuint(ml->ip.hop_limit, ==, 1);

        frame_reader(frame_at(frames, 3), VSM_REPLAY_MLD_LEAVE, &r);
        memset(ml, 0, sizeof(*ml));
        g_assert_cmpint(vsm_mld_frame_parse(&r, ml), ==, 0);
        g_assert_cmpuint(ml->msg.type, ==, VSM_MLD_V2_REPORT);
        g_assert_cmpuint(ml->msg.n_records, ==, 1);
        g_assert_cmpuint(ml->msg.records[0].type, ==, VSM_MCAST_CHANGE_TO_INCLUDE);
        g_assert_cmpuint(ml->msg.records[0].n_sources, ==, 0);
        g_assert_cmpmem(ml->ip.dst, 16, vsm_ip6_mldv2_routers, 16);
        g_assert_cmpmem(ml->ip.src, 16, src6, 16);
        g_assert_cmpstr(frame_at(frames, 3)->what, ==, "mldv2-leave ff05::2");

        /* No groups, no leaves. */
        g_array_set_size(s->groups, 0);
        g_ptr_array_unref(g_steal_pointer(&frames));
        frames = vsm_replay_build_leaves(s, host_mac);
        g_assert_cmpuint(frames->len, ==, 0);
        state_free(s);
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
        g_autoptr(TestState) packed = state_new();
        g_autoptr(GPtrArray) packed_frames = NULL;
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
        /* Packed reports: 64 x 32 sources each family (the learner's caps),
         * then 50 source-less groups in one report each family. */
        packed->client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        for (guint i = 0; i < 64; i++) {
                g_autofree char *a4 = g_strdup_printf("239.20.0.%u", i);
                g_autofree char *a6 = g_strdup_printf("ff0e::20:%x", i);

                state_group(packed, a4, VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_INCLUDE, 32, NULL);
                state_group(packed, a6, VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 32, NULL);
        }
        state_group(packed, "239.21.0.1", VSM_LEARN_IGMP_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        state_group(packed, "ff0e::21:1", VSM_LEARN_MLD_V1, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        for (guint i = 0; i < 50; i++) {
                g_autofree char *a4 = g_strdup_printf("239.22.0.%u", i);
                g_autofree char *a6 = g_strdup_printf("ff0e::22:%x", i);

                state_group(packed, a4, VSM_LEARN_IGMP_V3, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
                state_group(packed, a6, VSM_LEARN_MLD_V2, VSM_LEARN_FILTER_EXCLUDE, 0, NULL);
        }
        packed_frames = vsm_replay_build(packed, now, NULL);
        /* 7 + 1 + 1 IGMP, 32 + 1 + 1 MLD */
        g_assert_cmpuint(packed_frames->len, ==, 43);

        pcap_add(pcap, frames);
        pcap_add(pcap, big_frames);
        pcap_add(pcap, packed_frames);
        pcap_add(pcap, queries);
        n = frames->len + big_frames->len + packed_frames->len + queries->len;

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
        g_test_add_func("/replay/pack-igmp", test_pack_igmp);
        g_test_add_func("/replay/pack-mld", test_pack_mld);
        g_test_add_func("/replay/pack-mixed", test_pack_mixed);
        g_test_add_func("/replay/queries", test_queries);
        g_test_add_func("/replay/leaves", test_leaves);
        g_test_add_func("/replay/kind-to-string", test_kind_to_string);
        g_test_add_func("/replay/pcap-tshark", test_pcap_tshark);
        return g_test_run();
}

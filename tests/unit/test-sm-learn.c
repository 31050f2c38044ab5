/* Unit tests for the per-vNIC learner (src/sm/learn.c), DESIGN.md
 * section 4 "Learning on the source": DHCP (RFC 2131/2132), IGMPv1/v2/v3
 * (RFC 1112, 2236, 3376), MLDv1/v2 (RFC 2710, 3810), the addresses the VM
 * owns (DESIGN.md section 7 "Address provenance": the rule atop learn.c),
 * on a fake clock.  Frames are built with the proto/ encoders or taken from
 * tests/data/vectors/. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "proto/arp.h"
#include "proto/dhcp.h"
#include "proto/igmp.h"
#include "proto/mld.h"
#include "proto/ndisc.h"
#include "sm/learn.h"
#include "test-frames.h"
#include "test-util.h"

#define T0 (UINT64_C(1000) * VSM_LEARN_USEC_PER_SEC)
#define SEC(s) ((uint64_t) (s) * VSM_LEARN_USEC_PER_SEC)

#define VM_MAC vsm_test_vm_mac
#define SERVER_MAC vsm_test_server_mac
#define VM_IP vsm_test_vm_ip
#define SERVER_IP vsm_test_server_ip
static const uint8_t OTHER_MAC[VSM_ETH_ALEN] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

typedef VsmTestFrame Frame;

static VsmLearnStats stats(const VsmLearner *l) {
        VsmLearnStats s;

        vsm_learner_get_stats(l, &s);
        return s;
}

/* ---- frame builders (the rest are in test-frames.c) ---- */

static int feed(VsmLearner *l, const Frame *f, VsmLearnDirection d, uint64_t now) {
        return vsm_learner_feed(l, f->buf, f->len, d, now);
}

static VsmIgmpMessage *igmp_msg(uint8_t type, const char *group) {
        VsmIgmpMessage *m = g_new0(VsmIgmpMessage, 1);

        m->type = type;
        m->version = type == VSM_IGMP_V1_REPORT ? 1 : type == VSM_IGMP_V3_REPORT ? 3 : 2;
        if (group)
                g_assert_cmpint(inet_pton(AF_INET, group, m->group), ==, 1);
        return m;
}

/* Source number k (a digit) of a record: 198.51.100.k or 2001:db8::k,
 * stored zero-padded to 16 octets. */
static void source_addr(bool ip6, char k, uint8_t ret[16]) {
        memset(ret, 0, 16);
        if (ip6) {
                g_assert_cmpint(inet_pton(AF_INET6, "2001:db8::", ret), ==, 1);
                ret[15] = (uint8_t) (k - '0');
        } else {
                ret[0] = 198;
                ret[1] = 51;
                ret[2] = 100;
                ret[3] = (uint8_t) (k - '0');
        }
}

#define GROUP4 "232.1.1.1"
#define GROUP6 "ff3e::1234"

/* A v3 report / MLDv2 report with one record for the group, sources given
 * as digits ("12" = sources 1 and 2, as source_addr() numbers them). */
static void record_frame(Frame *f, bool ip6, const char *group, uint8_t type, const char *srcs) {
        size_t n = strlen(srcs);
        g_auto(GStrv) text = g_new0(char *, n + 1);

        for (size_t i = 0; i < n; i++)
                text[i] = g_strdup_printf(ip6 ? "2001:db8::%c" : "198.51.100.%c", srcs[i]);
        vsm_test_record_frame(f, ip6, group, type, (const char *const *) text);
}

static void assert_sources(const VsmLearnGroup *g, bool ip6, const char *want) {
        size_t n = strlen(want);

        g_assert_cmpuint(g->n_sources, ==, n);
        for (size_t i = 0; i < n; i++) {
                uint8_t s[16];
                bool found = false;

                source_addr(ip6, want[i], s);
                for (size_t k = 0; k < g->n_sources; k++)
                        found = found || memcmp(g->sources[k], s, 16) == 0;
                g_assert_true(found);
        }
}

/* ---- DHCP ---- */

/* DISCOVER, REQUEST, ACK: the client-id exactly as sent, or its absence. */
static void test_dhcp_learn(void) {
        static const struct {
                const char *cid_hex;         /* NULL: no option 61 */
                const char *hostname;
                VsmLearnClientId want_state;
                uint8_t want_cid_len;
        } cases[] = {
                { "01525400123456", "vm1", VSM_LEARN_CLIENT_ID_SENT, 7 },
                { "ff00000001000100", NULL, VSM_LEARN_CLIENT_ID_SENT, 8 },
                { "", "empty-cid", VSM_LEARN_CLIENT_ID_SENT, 0 },
                { NULL, "nocid", VSM_LEARN_CLIENT_ID_NONE, 0 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VsmLearner *l = vsm_learner_new(VM_MAC);
                VsmLearnClient c;
                VsmLearnLease lease;
                Frame f;

                g_assert_cmpint(vsm_learner_get_client(l, &c), ==, -ENOENT);
                g_assert_cmpint(vsm_learner_get_lease(l, &lease), ==, -ENOENT);

                vsm_test_client_frame(&f, VSM_DHCP_DISCOVER, cases[i].cid_hex, cases[i].hostname, NULL);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
                vsm_test_client_frame(&f, VSM_DHCP_REQUEST, cases[i].cid_hex, cases[i].hostname, VM_IP);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 1), ==, 1);
                g_assert_cmpint(vsm_learner_get_lease(l, &lease), ==, -ENOENT);   /* no ACK yet */

                g_assert_cmpint(vsm_learner_get_client(l, &c), ==, 0);
                g_assert_cmpint(c.client_id_state, ==, cases[i].want_state);
                g_assert_cmpuint(c.client_id_len, ==, cases[i].want_cid_len);
                if (cases[i].cid_hex)
                        vsm_assert_hex(c.client_id, c.client_id_len, cases[i].cid_hex);
                g_assert_cmpint(c.has_hostname, ==, cases[i].hostname != NULL);
                if (cases[i].hostname)
                        g_assert_cmpstr(c.hostname, ==, cases[i].hostname);
                g_assert_true(c.has_requested_ip);
                g_assert_cmpmem(c.requested_ip, 4, VM_IP, 4);
                g_assert_cmpuint(c.last_message_type, ==, VSM_DHCP_REQUEST);

                vsm_test_server_frame(&f, VSM_DHCP_ACK, VM_MAC, 3600, 1800, 3150);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0 + 2), ==, 1);
                g_assert_cmpint(vsm_learner_get_lease(l, &lease), ==, 0);
                g_assert_cmpmem(lease.address, 4, VM_IP, 4);
                g_assert_true(lease.has_server_id);
                g_assert_cmpmem(lease.server_id, 4, SERVER_IP, 4);
                g_assert_cmpuint(lease.lease_time, ==, 3600);
                g_assert_true(lease.has_t1);
                g_assert_cmpuint(lease.t1, ==, 1800);
                g_assert_true(lease.has_t2);
                g_assert_cmpuint(lease.t2, ==, 3150);
                g_assert_cmpuint(lease.ack_time_usec, ==, T0 + 2);
                vsm_learner_free(l);
        }
}

/* A guest that never sent option 61 is "none", never confused with a
 * learner that saw no client message ("unknown"). */
static void test_dhcp_cid_absence(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        VsmLearnClient c = { .client_id_state = VSM_LEARN_CLIENT_ID_UNKNOWN };
        Frame f;

        /* A server ACK alone says nothing about the client-id. */
        vsm_test_server_frame(&f, VSM_DHCP_ACK, VM_MAC, 600, 0, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 1);
        g_assert_cmpint(vsm_learner_get_client(l, &c), ==, -ENOENT);
        g_assert_cmpint(c.client_id_state, ==, VSM_LEARN_CLIENT_ID_UNKNOWN);   /* untouched */

        vsm_test_client_frame(&f, VSM_DHCP_REQUEST, "0102", NULL, VM_IP);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        g_assert_cmpint(vsm_learner_get_client(l, &c), ==, 0);
        g_assert_cmpint(c.client_id_state, ==, VSM_LEARN_CLIENT_ID_SENT);
        /* The guest stops sending one: the absence replaces it. */
        vsm_test_client_frame(&f, VSM_DHCP_REQUEST, NULL, NULL, VM_IP);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 1), ==, 1);
        g_assert_cmpint(vsm_learner_get_client(l, &c), ==, 0);
        g_assert_cmpint(c.client_id_state, ==, VSM_LEARN_CLIENT_ID_NONE);
        g_assert_cmpuint(c.client_id_len, ==, 0);
        vsm_learner_free(l);
}

/* NAK from the server, RELEASE or DECLINE from the guest drop the lease;
 * the client-id stays. */
static void test_dhcp_drop(void) {
        static const struct {
                uint8_t type;
                VsmLearnDirection dir;
        } cases[] = {
                { VSM_DHCP_NAK, VSM_LEARN_TO_GUEST },
                { VSM_DHCP_RELEASE, VSM_LEARN_FROM_GUEST },
                { VSM_DHCP_DECLINE, VSM_LEARN_FROM_GUEST },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VsmLearner *l = vsm_learner_new(VM_MAC);
                VsmLearnLease lease;
                VsmLearnClient c;
                Frame f;
                uint64_t gen;

                vsm_test_client_frame(&f, VSM_DHCP_REQUEST, "01525400123456", NULL, VM_IP);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
                vsm_test_server_frame(&f, VSM_DHCP_ACK, VM_MAC, 600, 0, 0);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 1);
                g_assert_cmpint(vsm_learner_get_lease(l, &lease), ==, 0);
                gen = vsm_learner_generation(l);

                if (cases[i].dir == VSM_LEARN_TO_GUEST)
                        vsm_test_server_frame(&f, cases[i].type, VM_MAC, 0, 0, 0);
                else
                        vsm_test_client_frame(&f, cases[i].type, "01525400123456", NULL, NULL);
                g_assert_cmpint(feed(l, &f, cases[i].dir, T0 + 1), ==, 1);
                g_assert_cmpint(vsm_learner_get_lease(l, &lease), ==, -ENOENT);
                g_assert_true(vsm_learner_changed(l, gen));
                g_assert_cmpint(vsm_learner_get_client(l, &c), ==, 0);
                g_assert_cmpint(c.client_id_state, ==, VSM_LEARN_CLIENT_ID_SENT);
                /* Again: nothing left to drop. */
                gen = vsm_learner_generation(l);
                g_assert_cmpint(feed(l, &f, cases[i].dir, T0 + 2), ==, 0);
                g_assert_false(vsm_learner_changed(l, gen));
                vsm_learner_free(l);
        }
}

/* Messages for another client, or in the wrong direction, teach nothing. */
static void test_dhcp_foreign(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        VsmLearnLease lease;
        VsmLearnClient c;
        VsmLearnStats s;
        VsmDhcpMessage m;
        Frame f;

        /* ACK for another chaddr, broadcast on the segment. */
        vsm_test_dhcp_msg_init(&m, VSM_DHCP_OP_REPLY, VSM_DHCP_ACK, OTHER_MAC);
        memcpy(m.yiaddr, VM_IP, 4);
        vsm_test_dhcp_frame(&f, SERVER_MAC, vsm_eth_addr_broadcast, false, &m);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 0);
        /* ACK unicast to another MAC. */
        vsm_test_server_frame(&f, VSM_DHCP_ACK, OTHER_MAC, 600, 0, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 0);
        /* Our ACK seen leaving the guest (a DHCP server in the VM?): no
         * lease; its IP source (192.0.2.1) is the guest's own traffic. */
        vsm_test_dhcp_msg_init(&m, VSM_DHCP_OP_REPLY, VSM_DHCP_ACK, VM_MAC);
        memcpy(m.yiaddr, VM_IP, 4);
        vsm_test_dhcp_frame(&f, VM_MAC, OTHER_MAC, false, &m);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        g_assert_cmpuint(vsm_learner_n_addresses(l, false), ==, 1);
        /* An ACK to DHCPINFORM (yiaddr 0) carries no lease. */
        vsm_test_dhcp_msg_init(&m, VSM_DHCP_OP_REPLY, VSM_DHCP_ACK, VM_MAC);
        vsm_test_dhcp_frame(&f, SERVER_MAC, VM_MAC, false, &m);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 0);
        /* REQUEST from another client bridged through the guest. */
        vsm_test_dhcp_msg_init(&m, VSM_DHCP_OP_REQUEST, VSM_DHCP_REQUEST, OTHER_MAC);
        vsm_test_dhcp_frame(&f, VM_MAC, vsm_eth_addr_broadcast, true, &m);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        vsm_test_dhcp_frame(&f, OTHER_MAC, vsm_eth_addr_broadcast, true, &m);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);

        g_assert_cmpint(vsm_learner_get_lease(l, &lease), ==, -ENOENT);
        g_assert_cmpint(vsm_learner_get_client(l, &c), ==, -ENOENT);
        g_assert_cmpuint(vsm_learner_generation(l), ==, 1);
        s = stats(l);
        g_assert_cmpuint(s.n_frames, ==, 6);
        g_assert_cmpuint(s.n_foreign, ==, 4);
        g_assert_cmpuint(s.n_ignored, ==, 2);
        g_assert_cmpuint(s.n_malformed, ==, 0);
        vsm_learner_free(l);
}

/* The lease is dropped once ack_time + lease_time has passed. */
static void test_dhcp_expiry(void) {
        static const struct {
                uint32_t lease;
                uint64_t at;
                bool kept;
        } cases[] = {
                { 600, SEC(599), true },
                { 600, SEC(600), true },
                { 600, SEC(600) + 1, false },
                { 60, SEC(3600), false },
                { VSM_LEARN_LEASE_INFINITE, SEC(100000000), true },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VsmLearner *l = vsm_learner_new(VM_MAC);
                VsmLearnLease lease;
                Frame f;

                vsm_test_server_frame(&f, VSM_DHCP_ACK, VM_MAC, cases[i].lease, 0, 0);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 1);
                if (cases[i].lease == VSM_LEARN_LEASE_INFINITE)
                        g_assert_cmpuint(vsm_learner_next_expiry(l), ==, UINT64_MAX);
                else
                        g_assert_cmpuint(vsm_learner_next_expiry(l), ==, T0 + SEC(cases[i].lease) + 1);
                g_assert_cmpuint(vsm_learner_expire(l, T0 + cases[i].at), ==, cases[i].kept ? 0 : 1);
                g_assert_cmpint(vsm_learner_get_lease(l, &lease), ==, cases[i].kept ? 0 : -ENOENT);
                vsm_learner_free(l);
        }
}

/* ---- IGMP / MLD ---- */

/* IGMPv1/v2 reports join with their version, a v2 leave removes. */
static void test_igmp_v1v2(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        const VsmLearnGroup *g;
        Frame f;
        g_autofree VsmIgmpMessage *v2 = igmp_msg(VSM_IGMP_V2_REPORT, "239.1.2.3");
        g_autofree VsmIgmpMessage *v1 = igmp_msg(VSM_IGMP_V1_REPORT, "239.1.2.4");
        g_autofree VsmIgmpMessage *leave = igmp_msg(VSM_IGMP_V2_LEAVE, "239.1.2.3");
        g_autofree VsmIgmpMessage *query = igmp_msg(VSM_IGMP_QUERY, NULL);
        static const uint8_t g1[4] = { 239, 1, 2, 3 };

        vsm_test_igmp_frame(&f, v2);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        vsm_test_igmp_frame(&f, v1);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 5), ==, 1);
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, 2);
        g = vsm_learner_get_group(l, 0);
        g_assert_false(g->is_ip6);
        g_assert_cmpmem(g->address, 4, g1, 4);
        g_assert_cmpint(g->version, ==, VSM_LEARN_IGMP_V2);
        g_assert_cmpint(g->mode, ==, VSM_LEARN_FILTER_EXCLUDE);
        g_assert_cmpuint(g->n_sources, ==, 0);
        g_assert_cmpuint(g->last_report_usec, ==, T0);
        g_assert_cmpint(vsm_learner_get_group(l, 1)->version, ==, VSM_LEARN_IGMP_V1);
        g_assert_null(vsm_learner_get_group(l, 2));

        /* Refresh: time moves, generation does not. */
        {
                uint64_t gen = vsm_learner_generation(l);

                vsm_test_igmp_frame(&f, v2);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 100), ==, 0);
                g_assert_false(vsm_learner_changed(l, gen));
                g_assert_cmpuint(vsm_learner_get_group(l, 0)->last_report_usec, ==, T0 + 100);
        }

        /* A query the guest sends (it may be a querier) teaches nothing. */
        query->max_resp_code = 100;
        vsm_test_igmp_frame(&f, query);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);

        vsm_test_igmp_frame(&f, leave);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 200), ==, 1);
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, 1);
        g_assert_cmpint(vsm_learner_get_group(l, 0)->version, ==, VSM_LEARN_IGMP_V1);
        /* Reports delivered to the guest are other hosts'. */
        vsm_test_igmp_frame(&f, v2);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 0);
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, 1);
        vsm_learner_free(l);
}

/* MLDv1 report joins, done removes. */
static void test_mld_v1(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        g_autofree VsmMldMessage *m = g_new0(VsmMldMessage, 1);
        const VsmLearnGroup *g;
        uint8_t grp[16];
        Frame f;

        g_assert_cmpint(inet_pton(AF_INET6, "ff05::1:3", grp), ==, 1);
        m->type = VSM_MLD_V1_REPORT;
        m->version = 1;
        memcpy(m->group, grp, 16);
        vsm_test_mld_frame(&f, m);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, 1);
        g = vsm_learner_get_group(l, 0);
        g_assert_true(g->is_ip6);
        g_assert_cmpmem(g->address, 16, grp, 16);
        g_assert_cmpint(g->version, ==, VSM_LEARN_MLD_V1);
        g_assert_cmpint(g->mode, ==, VSM_LEARN_FILTER_EXCLUDE);

        m->type = VSM_MLD_V1_DONE;
        vsm_test_mld_frame(&f, m);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 1), ==, 1);
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, 0);
        vsm_learner_free(l);
}

/* IGMPv3 and MLDv2 records applied in sequence to one group. */
static void test_records(void) {
        typedef struct {
                uint8_t type;
                const char *srcs;
        } Step;
        static const struct {
                Step steps[3];
                bool present;
                VsmLearnFilterMode mode;
                const char *want;
        } cases[] = {
                { { { VSM_MCAST_CHANGE_TO_EXCLUDE, "" } }, true, VSM_LEARN_FILTER_EXCLUDE, "" },
                { { { VSM_MCAST_CHANGE_TO_INCLUDE, "12" } }, true, VSM_LEARN_FILTER_INCLUDE, "12" },
                { { { VSM_MCAST_MODE_IS_INCLUDE, "1" }, { VSM_MCAST_ALLOW_NEW_SOURCES, "23" } },
                  true, VSM_LEARN_FILTER_INCLUDE, "123" },
                { { { VSM_MCAST_CHANGE_TO_INCLUDE, "12" }, { VSM_MCAST_BLOCK_OLD_SOURCES, "1" } },
                  true, VSM_LEARN_FILTER_INCLUDE, "2" },
                { { { VSM_MCAST_CHANGE_TO_INCLUDE, "1" }, { VSM_MCAST_BLOCK_OLD_SOURCES, "1" } },
                  false, 0, "" },
                { { { VSM_MCAST_MODE_IS_EXCLUDE, "12" }, { VSM_MCAST_ALLOW_NEW_SOURCES, "1" } },
                  true, VSM_LEARN_FILTER_EXCLUDE, "2" },
                { { { VSM_MCAST_CHANGE_TO_EXCLUDE, "1" }, { VSM_MCAST_BLOCK_OLD_SOURCES, "2" } },
                  true, VSM_LEARN_FILTER_EXCLUDE, "12" },
                { { { VSM_MCAST_CHANGE_TO_EXCLUDE, "" }, { VSM_MCAST_CHANGE_TO_INCLUDE, "" } },
                  false, 0, "" },
                { { { VSM_MCAST_ALLOW_NEW_SOURCES, "1" } }, true, VSM_LEARN_FILTER_INCLUDE, "1" },
                { { { VSM_MCAST_BLOCK_OLD_SOURCES, "1" } }, false, 0, "" },
                { { { VSM_MCAST_MODE_IS_INCLUDE, "1" }, { VSM_MCAST_MODE_IS_EXCLUDE, "" } },
                  true, VSM_LEARN_FILTER_EXCLUDE, "" },
                { { { VSM_MCAST_CHANGE_TO_EXCLUDE, "12" }, { VSM_MCAST_CHANGE_TO_INCLUDE, "3" },
                    { VSM_MCAST_ALLOW_NEW_SOURCES, "3" } },
                  true, VSM_LEARN_FILTER_INCLUDE, "3" },
        };

        for (int ip6 = 0; ip6 <= 1; ip6++) {
                for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                        VsmLearner *l = vsm_learner_new(VM_MAC);
                        Frame f;

                        for (size_t k = 0; k < G_N_ELEMENTS(cases[i].steps) && cases[i].steps[k].type; k++) {
                                record_frame(&f, ip6, ip6 ? GROUP6 : GROUP4, cases[i].steps[k].type,
                                             cases[i].steps[k].srcs);
                                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + k), >=, 0);
                        }
                        g_assert_cmpuint(vsm_learner_n_groups(l), ==, cases[i].present ? 1 : 0);
                        if (cases[i].present) {
                                const VsmLearnGroup *g = vsm_learner_get_group(l, 0);

                                g_assert_cmpint(g->is_ip6, ==, ip6);
                                g_assert_cmpint(g->version, ==, ip6 ? VSM_LEARN_MLD_V2 : VSM_LEARN_IGMP_V3);
                                g_assert_cmpint(g->mode, ==, cases[i].mode);
                                assert_sources(g, ip6, cases[i].want);
                        }
                        vsm_learner_free(l);
                }
        }
}

/* A v3 join after a v2 one records v3; the vectors decode as joins. */
static void test_version_change(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        g_autofree VsmIgmpMessage *v2 = igmp_msg(VSM_IGMP_V2_REPORT, GROUP4);
        uint64_t gen;
        Frame f;

        vsm_test_igmp_frame(&f, v2);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        gen = vsm_learner_generation(l);
        record_frame(&f, false, GROUP4, VSM_MCAST_MODE_IS_EXCLUDE, "");
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        g_assert_true(vsm_learner_changed(l, gen));
        g_assert_cmpint(vsm_learner_get_group(l, 0)->version, ==, VSM_LEARN_IGMP_V3);
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, 1);
        vsm_learner_free(l);
}

/* Groups not reported for the membership interval go; the interval is
 * settable. */
static void test_group_expiry(void) {
        static const struct {
                uint64_t interval;           /* 0: default 260 s */
                uint64_t at;                 /* after the last report */
                bool kept;
        } cases[] = {
                { 0, SEC(260), true },
                { 0, SEC(260) + 1, false },
                { SEC(30), SEC(30), true },
                { SEC(30), SEC(31), false },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VsmLearner *l = vsm_learner_new(VM_MAC);
                g_autofree VsmIgmpMessage *v2 = igmp_msg(VSM_IGMP_V2_REPORT, GROUP4);
                Frame f;
                uint64_t gen;

                vsm_learner_set_membership_interval(l, cases[i].interval);
                vsm_test_igmp_frame(&f, v2);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + SEC(10)), ==, 0);   /* refresh */
                g_assert_cmpuint(vsm_learner_expire(l, T0 + SEC(20)), ==, 0);
                gen = vsm_learner_generation(l);
                g_assert_cmpuint(vsm_learner_expire(l, T0 + SEC(10) + cases[i].at), ==, cases[i].kept ? 0 : 1);
                g_assert_cmpuint(vsm_learner_n_groups(l), ==, cases[i].kept ? 1 : 0);
                g_assert_cmpint(vsm_learner_changed(l, gen), ==, !cases[i].kept);
                vsm_learner_free(l);
        }
}

/* ---- addresses ---- */

static void arp_frame(Frame *f, const uint8_t mac[6], const uint8_t ip[4]) {
        VsmWriter w;

        vsm_writer_init(&w, f->buf, sizeof(f->buf));
        g_assert_cmpint(vsm_arp_gratuitous_write(&w, mac, ip), ==, 0);
        f->len = w.len;
}

/* An unsolicited NA for ip from mac (Ethernet source and target LLA). */
static void na_frame_from(Frame *f, const uint8_t mac[6], const char *ip) {
        VsmWriter w;
        uint8_t a[16];

        g_assert_cmpint(inet_pton(AF_INET6, ip, a), ==, 1);
        vsm_writer_init(&w, f->buf, sizeof(f->buf));
        g_assert_cmpint(vsm_ndisc_unsolicited_na_write(&w, mac, a, false), ==, 0);
        f->len = w.len;
}

static void na_frame(Frame *f, const char *ip) {
        na_frame_from(f, VM_MAC, ip);
}

/* An NS from src ("::" for DAD) for target, from mac (with a source LLA
 * option unless DAD). */
static void ns_frame_from(Frame *f, const uint8_t mac[6], const char *src, const char *target) {
        VsmWriter w;
        VsmEthHeader eth = { .ethertype = VSM_ETH_P_IPV6 };
        VsmIp6Header ip = { .next_header = VSM_IP_PROTO_ICMPV6, .hop_limit = 255 };
        VsmNdiscMessage m = { .type = VSM_NDISC_NS };
        size_t ip_off, icmp_off;

        memcpy(eth.src, mac, 6);
        memcpy(eth.dst, (uint8_t[]) { 0x33, 0x33, 0xff, 0, 0, 1 }, 6);
        g_assert_cmpint(inet_pton(AF_INET6, src, ip.src), ==, 1);
        g_assert_cmpint(inet_pton(AF_INET6, "ff02::1:ff00:1", ip.dst), ==, 1);
        g_assert_cmpint(inet_pton(AF_INET6, target, m.target), ==, 1);
        if (strcmp(src, "::") != 0) {
                m.has_source_lla = true;
                memcpy(m.source_lla, mac, 6);
        }
        vsm_writer_init(&w, f->buf, sizeof(f->buf));
        g_assert_cmpint(vsm_eth_header_write(&w, &eth), ==, 0);
        g_assert_cmpint(vsm_ip6_header_begin(&w, &ip, &ip_off), ==, 0);
        icmp_off = w.len;
        g_assert_cmpint(vsm_ndisc_message_write(&w, &m), ==, 0);
        vsm_icmp6_checksum_finish(&w, ip.src, ip.dst, icmp_off);
        g_assert_cmpint(vsm_ip6_header_finish(&w, ip_off), ==, 0);
        f->len = w.len;
}

static void ns_frame(Frame *f, const char *src, const char *target) {
        ns_frame_from(f, VM_MAC, src, target);
}

/* An IPv4 packet from eth_src with IP source src and 20 octets of
 * protocol proto (a TCP SYN for 6, an echo request for 1). */
static void ip4_frame(Frame *f, const uint8_t eth_src[6], const char *src, uint8_t proto) {
        VsmWriter w;
        VsmEthHeader eth = { .ethertype = VSM_ETH_P_IPV4 };
        VsmIp4Header ip = { .ttl = 64, .protocol = proto };
        uint8_t l4[20] = { 0 };
        size_t ip_off;

        memcpy(eth.src, eth_src, 6);
        memcpy(eth.dst, SERVER_MAC, 6);
        g_assert_cmpint(inet_pton(AF_INET, src, ip.src), ==, 1);
        memcpy(ip.dst, SERVER_IP, 4);
        if (proto == 6)
                l4[13] = 0x02;  /* SYN */
        else if (proto == 1)
                l4[0] = 8;      /* echo request */
        vsm_writer_init(&w, f->buf, sizeof(f->buf));
        g_assert_cmpint(vsm_eth_header_write(&w, &eth), ==, 0);
        g_assert_cmpint(vsm_ip4_header_begin(&w, &ip, &ip_off), ==, 0);
        g_assert_cmpint(vsm_writer_bytes(&w, l4, sizeof(l4)), ==, 0);
        g_assert_cmpint(vsm_ip4_header_finish(&w, ip_off), ==, 0);
        f->len = w.len;
}

/* An IPv6 packet from eth_src with source src, next header nh (hop limit
 * 255) and 8 octets starting with first (an ICMPv6 type, say). */
static void ip6_frame(Frame *f, const uint8_t eth_src[6], const char *src, uint8_t nh, uint8_t first) {
        VsmWriter w;
        VsmEthHeader eth = { .ethertype = VSM_ETH_P_IPV6 };
        VsmIp6Header ip = { .next_header = nh, .hop_limit = 255 };
        uint8_t l4[8] = { first };
        size_t ip_off;

        memcpy(eth.src, eth_src, 6);
        memcpy(eth.dst, (uint8_t[]) { 0x33, 0x33, 0, 0, 0, 1 }, 6);
        g_assert_cmpint(inet_pton(AF_INET6, src, ip.src), ==, 1);
        g_assert_cmpint(inet_pton(AF_INET6, "ff02::1", ip.dst), ==, 1);
        vsm_writer_init(&w, f->buf, sizeof(f->buf));
        g_assert_cmpint(vsm_eth_header_write(&w, &eth), ==, 0);
        g_assert_cmpint(vsm_ip6_header_begin(&w, &ip, &ip_off), ==, 0);
        g_assert_cmpint(vsm_writer_bytes(&w, l4, sizeof(l4)), ==, 0);
        g_assert_cmpint(vsm_ip6_header_finish(&w, ip_off), ==, 0);
        f->len = w.len;
}

static bool has_address(const VsmLearner *l, bool ip6, const char *text) {
        uint8_t a[16] = { 0 };

        g_assert_cmpint(inet_pton(ip6 ? AF_INET6 : AF_INET, text, a), ==, 1);
        for (size_t i = 0; i < vsm_learner_n_addresses(l, ip6); i++)
                if (memcmp(vsm_learner_get_address(l, ip6, i)->address, a, ip6 ? 16 : 4) == 0)
                        return true;
        return false;
}

/* What the guest says about addresses (its ARP sender, its NA target, its
 * NS source) is a claim, never ownership. */
static void test_claims_not_owned(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        static const uint8_t gw[4] = { 192, 0, 2, 1 };
        Frame f;

        arp_frame(&f, VM_MAC, VM_IP);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        arp_frame(&f, VM_MAC, gw);                                     /* the gateway's IP */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        na_frame(&f, "fe80::1");
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        na_frame(&f, "2001:db8::10");
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        ns_frame(&f, "fe80::1", "fe80::2");                            /* an NS's source: ND too */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        ip6_frame(&f, VM_MAC, "fe80::1", VSM_IP_PROTO_ICMPV6, VSM_NDISC_RS);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        g_assert_cmpuint(vsm_learner_n_addresses(l, false), ==, 0);
        g_assert_cmpuint(vsm_learner_n_addresses(l, true), ==, 0);
        g_assert_cmpuint(vsm_learner_generation(l), ==, 0);
        g_assert_cmpuint(stats(l).n_claims_ignored, ==, 6);
        vsm_learner_free(l);
}

/* Addresses the guest uses as the IP source of its own traffic are its
 * own; they expire after the address age without use. */
static void test_addresses(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        const VsmLearnAddress *a;
        uint8_t want6[16];
        Frame f;

        ip4_frame(&f, VM_MAC, "192.0.2.10", 6);                        /* TCP SYN */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        ip4_frame(&f, VM_MAC, "192.0.2.10", 1);                        /* echo */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + SEC(100)), ==, 0);   /* refresh */
        /* Not unicast, or not ours to have. */
        ip4_frame(&f, VM_MAC, "0.0.0.0", 6);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        ip4_frame(&f, VM_MAC, "127.0.0.1", 6);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        ip4_frame(&f, VM_MAC, "255.255.255.255", 6);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        ip4_frame(&f, VM_MAC, "239.1.1.1", 6);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        ip4_frame(&f, OTHER_MAC, "192.0.2.77", 6);                     /* another MAC */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        ip4_frame(&f, SERVER_MAC, "192.0.2.77", 6);                    /* to the guest */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 0);
        g_assert_cmpuint(vsm_learner_n_addresses(l, false), ==, 1);
        a = vsm_learner_get_address(l, false, 0);
        g_assert_false(a->is_ip6);
        g_assert_cmpmem(a->address, 4, VM_IP, 4);
        g_assert_cmpuint(a->last_seen_usec, ==, T0 + SEC(100));
        g_assert_null(vsm_learner_get_address(l, false, 1));

        ip6_frame(&f, VM_MAC, "2001:db8::10", 6, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        ip6_frame(&f, VM_MAC, "fe80::5054:ff:fe12:3456", VSM_IP_PROTO_ICMPV6, 128);   /* echo */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        ip6_frame(&f, VM_MAC, "::", VSM_IP_PROTO_ICMPV6, 128);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        ip6_frame(&f, VM_MAC, "::1", VSM_IP_PROTO_ICMPV6, 128);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        g_assert_cmpuint(vsm_learner_n_addresses(l, true), ==, 2);
        g_assert_cmpint(inet_pton(AF_INET6, "2001:db8::10", want6), ==, 1);
        g_assert_cmpmem(vsm_learner_get_address(l, true, 0)->address, 16, want6, 16);
        g_assert_cmpint(inet_pton(AF_INET6, "fe80::5054:ff:fe12:3456", want6), ==, 1);
        g_assert_cmpmem(vsm_learner_get_address(l, true, 1)->address, 16, want6, 16);
        g_assert_true(vsm_learner_get_address(l, true, 1)->is_ip6);

        /* An IGMP report's source and a DHCP REQUEST's are sources too. */
        {
                g_autofree VsmIgmpMessage *m = igmp_msg(VSM_IGMP_V2_REPORT, GROUP4);
                VsmLearner *k = vsm_learner_new(VM_MAC);

                vsm_test_igmp_frame(&f, m);
                g_assert_cmpint(feed(k, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
                g_assert_true(has_address(k, false, "192.0.2.10"));
                vsm_learner_free(k);
        }

        /* Expiry: IPv6 last seen at T0, IPv4 at T0 + 100 s; age 3600 s. */
        g_assert_cmpuint(vsm_learner_expire(l, T0 + SEC(3600)), ==, 0);
        g_assert_cmpuint(vsm_learner_expire(l, T0 + SEC(3601)), ==, 2);
        g_assert_cmpuint(vsm_learner_n_addresses(l, true), ==, 0);
        g_assert_cmpuint(vsm_learner_n_addresses(l, false), ==, 1);
        vsm_learner_set_address_max_age(l, SEC(60));
        g_assert_cmpuint(vsm_learner_expire(l, T0 + SEC(161)), ==, 1);
        g_assert_cmpuint(vsm_learner_n_addresses(l, false), ==, 0);
        g_assert_cmpuint(vsm_learner_next_expiry(l), ==, UINT64_MAX);
        vsm_learner_free(l);
}

/* Another MAC's ARP or ND to the guest takes an address away and keeps it
 * out for VSM_LEARN_CLAIM_HOLD_USEC; the guest's own frames coming back
 * (hairpin) do not. */
static void test_contradiction(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        static const uint8_t gw[4] = { 192, 0, 2, 1 };
        uint64_t gen;
        Frame f;

        ip4_frame(&f, VM_MAC, "192.0.2.10", 6);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        ip4_frame(&f, VM_MAC, "192.0.2.1", 6);                         /* spoofs the gateway */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        g_assert_cmpuint(vsm_learner_n_addresses(l, false), ==, 2);

        /* Our own GARP coming back: no claim by another MAC. */
        arp_frame(&f, VM_MAC, VM_IP);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 0);
        /* The gateway's ARP reaches the guest: 192.0.2.1 is not the VM's. */
        gen = vsm_learner_generation(l);
        arp_frame(&f, SERVER_MAC, gw);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0 + SEC(1)), ==, 1);
        g_assert_true(vsm_learner_changed(l, gen));
        g_assert_false(has_address(l, false, "192.0.2.1"));
        g_assert_true(has_address(l, false, "192.0.2.10"));
        g_assert_cmpuint(stats(l).n_contradicted, ==, 1);
        /* Held out: the guest's next use does not bring it back ... */
        ip4_frame(&f, VM_MAC, "192.0.2.1", 6);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + SEC(2)), ==, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + SEC(1) + VSM_LEARN_CLAIM_HOLD_USEC), ==, 0);
        g_assert_cmpuint(stats(l).n_refused_claimed, ==, 2);
        /* ... until the hold ended without a new claim. */
        g_assert_cmpuint(vsm_learner_expire(l, T0 + SEC(2) + VSM_LEARN_CLAIM_HOLD_USEC), ==, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + SEC(3) + VSM_LEARN_CLAIM_HOLD_USEC), ==, 1);
        g_assert_true(has_address(l, false, "192.0.2.1"));
        /* A probe (sender 0.0.0.0) claims nothing. */
        arp_frame(&f, SERVER_MAC, (const uint8_t[4]) { 0, 0, 0, 0 });
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 0);
        vsm_learner_free(l);

        /* IPv6: an NA (target, target LLA), an NS (source, source LLA) and
         * an RA (source) from other MACs. */
        l = vsm_learner_new(VM_MAC);
        ip6_frame(&f, VM_MAC, "2001:db8::10", 6, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        ip6_frame(&f, VM_MAC, "2001:db8::11", 6, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        ip6_frame(&f, VM_MAC, "fe80::1", VSM_IP_PROTO_ICMPV6, 128);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        g_assert_cmpuint(vsm_learner_n_addresses(l, true), ==, 3);
        na_frame_from(&f, VM_MAC, "2001:db8::10");                     /* hairpin: ours */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 0);
        na_frame_from(&f, OTHER_MAC, "2001:db8::10");
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 1);
        ns_frame_from(&f, OTHER_MAC, "2001:db8::11", "2001:db8::99");
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 1);
        ns_frame_from(&f, OTHER_MAC, "::", "2001:db8::99");            /* DAD: no claim */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 0);
        ip6_frame(&f, SERVER_MAC, "fe80::1", VSM_IP_PROTO_ICMPV6, VSM_NDISC_RA);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0), ==, 1);
        g_assert_cmpuint(vsm_learner_n_addresses(l, true), ==, 0);
        g_assert_cmpuint(stats(l).n_contradicted, ==, 3);
        ip6_frame(&f, VM_MAC, "fe80::1", VSM_IP_PROTO_ICMPV6, 128);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + SEC(5)), ==, 0);
        vsm_learner_free(l);

        /* At the cap of holds, the one ending first makes room. */
        l = vsm_learner_new(VM_MAC);
        for (unsigned i = 0; i < VSM_LEARN_CLAIMS_MAX + 1; i++) {
                uint8_t ip[4] = { 198, 51, 100, (uint8_t) (i + 1) };

                arp_frame(&f, SERVER_MAC, ip);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0 + i), ==, 0);
        }
        g_assert_cmpuint(stats(l).n_dropped_claims, ==, 1);
        ip4_frame(&f, VM_MAC, "198.51.100.1", 6);                      /* evicted: learnable */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + SEC(1)), ==, 1);
        ip4_frame(&f, VM_MAC, "198.51.100.2", 6);                      /* still held */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + SEC(1)), ==, 0);
        vsm_learner_free(l);
}

/* The vNIC's nwfilter IP list: only those. */
static void test_allowed(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        VsmLearnAddress allow[2] = {};
        Frame f;

        ip4_frame(&f, VM_MAC, "192.0.2.10", 6);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        ip4_frame(&f, VM_MAC, "192.0.2.11", 6);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        ip6_frame(&f, VM_MAC, "2001:db8::10", 6, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);

        /* IP=192.0.2.11 and nothing for IPv6. */
        g_assert_cmpint(inet_pton(AF_INET, "192.0.2.11", allow[0].address), ==, 1);
        g_assert_cmpint(vsm_learner_set_allowed(l, true, allow, 1), ==, 1);
        g_assert_cmpuint(vsm_learner_n_addresses(l, false), ==, 1);
        g_assert_true(has_address(l, false, "192.0.2.11"));
        g_assert_cmpuint(vsm_learner_n_addresses(l, true), ==, 0);
        ip4_frame(&f, VM_MAC, "192.0.2.10", 6);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        ip6_frame(&f, VM_MAC, "2001:db8::10", 6, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 0);
        g_assert_cmpuint(stats(l).n_refused_filter, ==, 2);

        /* IPV6=2001:db8::10 added; then lifted. */
        allow[1].is_ip6 = true;
        g_assert_cmpint(inet_pton(AF_INET6, "2001:db8::10", allow[1].address), ==, 1);
        g_assert_cmpint(vsm_learner_set_allowed(l, true, allow, 2), ==, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        g_assert_cmpint(vsm_learner_set_allowed(l, false, NULL, 0), ==, 0);
        ip4_frame(&f, VM_MAC, "192.0.2.10", 6);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);

        /* Seeding obeys the list too. */
        {
                VsmLearner *k = vsm_learner_new(VM_MAC);
                VsmLearnAddress seed[2] = {};

                memcpy(seed[0].address, (const uint8_t[4]) { 192, 0, 2, 10 }, 4);
                memcpy(seed[1].address, (const uint8_t[4]) { 192, 0, 2, 11 }, 4);
                g_assert_cmpint(vsm_learner_set_allowed(k, true, allow, 1), ==, 0);
                g_assert_cmpint(vsm_learner_seed(k, NULL, NULL, NULL, 0, seed, 2, T0), ==, 1);
                g_assert_cmpuint(vsm_learner_n_addresses(k, false), ==, 1);
                g_assert_true(has_address(k, false, "192.0.2.11"));
                vsm_learner_free(k);
        }
        vsm_learner_free(l);
}

/* Link-local groups are never learned, seeded, nor take a slot. */
static void test_link_local_groups(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        static const char *const ll4[] = { "224.0.0.251", "224.0.0.22", "224.0.0.1" };
        static const char *const ll6[] = { "ff02::fb", "ff02::1:ff12:3456", "ff02::16" };
        VsmLearnGroup seed[2] = {};
        Frame f;

        for (size_t i = 0; i < G_N_ELEMENTS(ll4); i++) {
                g_autofree VsmIgmpMessage *m = igmp_msg(VSM_IGMP_V2_REPORT, ll4[i]);

                vsm_test_igmp_frame(&f, m);
                feed(l, &f, VSM_LEARN_FROM_GUEST, T0);
                record_frame(&f, false, ll4[i], VSM_MCAST_CHANGE_TO_EXCLUDE, "");
                feed(l, &f, VSM_LEARN_FROM_GUEST, T0);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(ll6); i++) {
                g_autofree VsmMldMessage *m = g_new0(VsmMldMessage, 1);

                m->type = VSM_MLD_V1_REPORT;
                m->version = 1;
                g_assert_cmpint(inet_pton(AF_INET6, ll6[i], m->group), ==, 1);
                vsm_test_mld_frame(&f, m);
                feed(l, &f, VSM_LEARN_FROM_GUEST, T0);
                record_frame(&f, true, ll6[i], VSM_MCAST_MODE_IS_EXCLUDE, "");
                feed(l, &f, VSM_LEARN_FROM_GUEST, T0);
        }
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, 0);
        g_assert_cmpuint(stats(l).n_link_local_groups, ==, 12);

        /* The cap is for the others: 64 fit beside the link-local ones. */
        for (unsigned i = 0; i < VSM_LEARN_GROUPS_MAX; i++) {
                g_autofree char *grp = g_strdup_printf("239.9.0.%u", i + 1);
                g_autofree VsmIgmpMessage *m = igmp_msg(VSM_IGMP_V2_REPORT, grp);

                vsm_test_igmp_frame(&f, m);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        }
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, VSM_LEARN_GROUPS_MAX);
        g_assert_cmpuint(stats(l).n_dropped_groups, ==, 0);
        vsm_learner_free(l);

        /* Carried link-local groups are not seeded. */
        l = vsm_learner_new(VM_MAC);
        g_assert_cmpint(inet_pton(AF_INET, "224.0.0.251", seed[0].address), ==, 1);
        seed[0].version = VSM_LEARN_IGMP_V2;
        seed[0].mode = VSM_LEARN_FILTER_EXCLUDE;
        seed[1].is_ip6 = true;
        g_assert_cmpint(inet_pton(AF_INET6, "ff02::fb", seed[1].address), ==, 1);
        seed[1].version = VSM_LEARN_MLD_V2;
        seed[1].mode = VSM_LEARN_FILTER_EXCLUDE;
        g_assert_cmpint(vsm_learner_seed(l, NULL, NULL, seed, 2, NULL, 0, T0), ==, 0);
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, 0);
        vsm_learner_free(l);
}

/* ---- caps ---- */

static void test_caps(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        VsmLearnStats s;
        Frame f;

        for (unsigned i = 0; i < VSM_LEARN_GROUPS_MAX + 1; i++) {
                g_autofree char *grp = g_strdup_printf("239.9.0.%u", i + 1);
                g_autofree VsmIgmpMessage *m = igmp_msg(VSM_IGMP_V2_REPORT, grp);

                vsm_test_igmp_frame(&f, m);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, i < VSM_LEARN_GROUPS_MAX ? 1 : 0);
        }
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, VSM_LEARN_GROUPS_MAX);
        s = stats(l);
        g_assert_cmpuint(s.n_dropped_groups, ==, 1);
        /* Existing groups still refresh and leave at the cap. */
        {
                g_autofree VsmIgmpMessage *m = igmp_msg(VSM_IGMP_V2_LEAVE, "239.9.0.1");

                vsm_test_igmp_frame(&f, m);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
                g_assert_cmpuint(vsm_learner_n_groups(l), ==, VSM_LEARN_GROUPS_MAX - 1);
        }
        vsm_learner_free(l);

        /* 40 sources in one record: 32 kept, 8 counted. */
        l = vsm_learner_new(VM_MAC);
        {
                g_autofree VsmIgmpMessage *m = igmp_msg(VSM_IGMP_V3_REPORT, NULL);

                m->n_records = 1;
                m->records[0].type = VSM_MCAST_MODE_IS_INCLUDE;
                g_assert_cmpint(inet_pton(AF_INET, GROUP4, m->records[0].group), ==, 1);
                m->records[0].n_sources = 40;
                m->n_sources = 40;
                for (unsigned i = 0; i < 40; i++) {
                        m->sources[i][0] = 10;
                        m->sources[i][3] = (uint8_t) (i + 1);
                }
                vsm_test_igmp_frame(&f, m);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
                g_assert_cmpuint(vsm_learner_get_group(l, 0)->n_sources, ==, VSM_LEARN_GROUP_SOURCES_MAX);
                s = stats(l);
                g_assert_cmpuint(s.n_dropped_sources, ==, 40 - VSM_LEARN_GROUP_SOURCES_MAX);
        }
        vsm_learner_free(l);

        /* 17 IPv4 and 17 IPv6 addresses. */
        l = vsm_learner_new(VM_MAC);
        for (unsigned i = 0; i < 17; i++) {
                uint8_t ip[4] = { 10, 0, 0, (uint8_t) (i + 1) };
                g_autofree char *ip6 = g_strdup_printf("2001:db8::%x", i + 1);

                g_autofree char *ip4 = g_strdup_printf("10.0.0.%u", ip[3]);

                ip4_frame(&f, VM_MAC, ip4, 6);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, i < VSM_LEARN_IP4_MAX ? 1 : 0);
                ip6_frame(&f, VM_MAC, ip6, 6, 0);
                g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, i < VSM_LEARN_IP6_MAX ? 1 : 0);
        }
        g_assert_cmpuint(vsm_learner_n_addresses(l, false), ==, VSM_LEARN_IP4_MAX);
        g_assert_cmpuint(vsm_learner_n_addresses(l, true), ==, VSM_LEARN_IP6_MAX);
        s = stats(l);
        g_assert_cmpuint(s.n_dropped_ip4, ==, 1);
        g_assert_cmpuint(s.n_dropped_ip6, ==, 1);
        vsm_learner_free(l);
}

/* ---- robustness ---- */

/* Every truncation and single-octet corruption of good frames, plus
 * garbage: never a crash, every frame counted. */
static void test_garbage(void) {
        static const char *const vectors[] = {
                "vectors/dhcp-discover.hex",   "vectors/dhcp-ack.hex",        "vectors/igmp-v2-report.hex",
                "vectors/igmp-v3-report.hex",  "vectors/igmp-v3-report-aux.hex", "vectors/mld-v1-report.hex",
                "vectors/mld-v2-report.hex",   "vectors/mld-v2-report-ext.hex", "vectors/arp-gratuitous.hex",
                "vectors/ndisc-na-solicited.hex", "vectors/ndisc-ns.hex",
        };
        uint64_t fed = 0;
        VsmLearnStats s;
        VsmLearner *l;

        for (size_t v = 0; v < G_N_ELEMENTS(vectors); v++) {
                g_autoptr(GBytes) b = vsm_test_hex_file(vectors[v]);
                gsize len;
                const uint8_t *p = g_bytes_get_data(b, &len);
                g_autofree uint8_t *copy = g_memdup2(p, len);

                g_assert_cmpuint(len, >=, 14);
                l = vsm_learner_new(p + 6);   /* the frame's source */
                for (size_t n = 0; n <= len; n++) {
                        int r1 = vsm_learner_feed(l, p, n, VSM_LEARN_FROM_GUEST, T0);
                        int r2 = vsm_learner_feed(l, p, n, VSM_LEARN_TO_GUEST, T0);

                        g_assert_cmpint(r1, >=, -EMSGSIZE);
                        g_assert_cmpint(r2, >=, -EMSGSIZE);
                        fed += 2;
                }
                for (size_t i = 12; i < len; i++) {
                        for (unsigned bit = 0; bit < 8; bit++) {
                                copy[i] ^= (uint8_t) (1u << bit);
                                vsm_learner_feed(l, copy, len, VSM_LEARN_FROM_GUEST, T0 + i);
                                copy[i] ^= (uint8_t) (1u << bit);
                                fed++;
                        }
                }
                s = stats(l);
                g_assert_cmpuint(s.n_frames, ==, fed);
                g_assert_cmpuint(s.n_foreign + s.n_malformed + s.n_ignored, <=, s.n_frames);
                g_assert_cmpuint(s.n_malformed, >, 0);
                vsm_learner_free(l);
                fed = 0;
        }

        /* Pseudo-random garbage with the VM's MAC as source. */
        l = vsm_learner_new(VM_MAC);
        {
                GRand *rand = g_rand_new_with_seed(42);
                static const uint16_t types[] = { VSM_ETH_P_IPV4, VSM_ETH_P_IPV6, VSM_ETH_P_ARP, 0x8100 };
                uint8_t buf[200];

                for (unsigned i = 0; i < 4000; i++) {
                        size_t n = (size_t) g_rand_int_range(rand, 0, sizeof(buf) + 1);

                        for (size_t k = 0; k < sizeof(buf); k++)
                                buf[k] = (uint8_t) g_rand_int(rand);
                        memcpy(buf + 6, VM_MAC, 6);
                        buf[12] = (uint8_t) (types[i % 4] >> 8);
                        buf[13] = (uint8_t) types[i % 4];
                        if (i % 3 == 0 && n > 24) {
                                buf[14] = 0x45;   /* a plausible IPv4 header */
                                buf[23] = (i & 1) ? VSM_IP_PROTO_IGMP : VSM_IP_PROTO_UDP;
                        }
                        g_assert_cmpint(vsm_learner_feed(l, buf, n, i & 4 ? VSM_LEARN_TO_GUEST : VSM_LEARN_FROM_GUEST,
                                                         T0),
                                        <=, 1);
                }
                g_rand_free(rand);
        }
        s = stats(l);
        g_assert_cmpuint(s.n_frames, ==, 4000);
        g_assert_cmpuint(s.n_malformed, >, 0);
        g_assert_cmpint(vsm_learner_feed(l, NULL, 0, VSM_LEARN_FROM_GUEST, T0), ==, -EBADMSG);
        g_assert_cmpint(vsm_learner_feed(l, NULL, 5, VSM_LEARN_FROM_GUEST, T0), ==, -EINVAL);
        g_assert_cmpint(vsm_learner_feed(l, (const uint8_t *) "x", 1, _VSM_LEARN_DIRECTION_MAX, T0), ==, -EINVAL);
        s = stats(l);
        g_assert_cmpuint(s.n_malformed + s.n_foreign + s.n_ignored, <=, s.n_frames);
        vsm_learner_free(l);
}

/* The vectors learn as the frames they are, with the frame's MAC. */
static void test_vectors(void) {
        static const struct {
                const char *file;
                VsmLearnDirection dir;
                size_t mac_off;              /* where the vNIC's MAC sits */
                size_t groups, ip4, ip6;
                bool client, lease;
        } cases[] = {
                { "vectors/dhcp-discover.hex", VSM_LEARN_FROM_GUEST, 70, 0, 0, 0, true, false },
                { "vectors/dhcp-init-reboot.hex", VSM_LEARN_FROM_GUEST, 70, 0, 0, 0, true, false },
                { "vectors/dhcp-init-reboot-no-cid.hex", VSM_LEARN_FROM_GUEST, 70, 0, 0, 0, true, false },
                { "vectors/dhcp-ack.hex", VSM_LEARN_TO_GUEST, 70, 0, 0, 0, false, true },
                { "vectors/igmp-v1-report.hex", VSM_LEARN_FROM_GUEST, 6, 1, 1, 0, false, false },
                { "vectors/igmp-v2-report.hex", VSM_LEARN_FROM_GUEST, 6, 1, 1, 0, false, false },
                { "vectors/igmp-v3-report.hex", VSM_LEARN_FROM_GUEST, 6, 1, 1, 0, false, false },
                { "vectors/mld-v1-report.hex", VSM_LEARN_FROM_GUEST, 6, 1, 0, 1, false, false },
                { "vectors/mld-v2-report.hex", VSM_LEARN_FROM_GUEST, 6, 1, 0, 1, false, false },
                /* claims, never ownership */
                { "vectors/arp-gratuitous.hex", VSM_LEARN_FROM_GUEST, 6, 0, 0, 0, false, false },
                { "vectors/ndisc-unsolicited-na.hex", VSM_LEARN_FROM_GUEST, 6, 0, 0, 0, false, false },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) b = vsm_test_hex_file(cases[i].file);
                gsize len;
                const uint8_t *p = g_bytes_get_data(b, &len);
                VsmLearner *l;
                VsmLearnClient c;
                VsmLearnLease lease;

                g_test_message("%s", cases[i].file);
                g_assert_cmpuint(len, >=, cases[i].mac_off + 6);
                l = vsm_learner_new(p + cases[i].mac_off);
                vsm_learner_feed(l, p, len, cases[i].dir, T0);
                g_assert_cmpuint(stats(l).n_malformed, ==, 0);
                g_assert_cmpuint(vsm_learner_n_groups(l), >=, cases[i].groups);
                if (cases[i].groups == 0)
                        g_assert_cmpuint(vsm_learner_n_groups(l), ==, 0);
                g_assert_cmpuint(vsm_learner_n_addresses(l, false), ==, cases[i].ip4);
                g_assert_cmpuint(vsm_learner_n_addresses(l, true), ==, cases[i].ip6);
                g_assert_cmpint(vsm_learner_get_client(l, &c), ==, cases[i].client ? 0 : -ENOENT);
                g_assert_cmpint(vsm_learner_get_lease(l, &lease), ==, cases[i].lease ? 0 : -ENOENT);
                if (g_str_has_suffix(cases[i].file, "no-cid.hex"))
                        g_assert_cmpint(c.client_id_state, ==, VSM_LEARN_CLIENT_ID_NONE);
                else if (cases[i].client)
                        g_assert_cmpint(c.client_id_state, ==, VSM_LEARN_CLIENT_ID_SENT);
                vsm_learner_free(l);
        }
}

/* The generation moves on content changes only. */
static void test_generation(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        g_autofree VsmIgmpMessage *v2 = igmp_msg(VSM_IGMP_V2_REPORT, GROUP4);
        uint64_t gen;
        Frame f;

        g_assert_cmpuint(vsm_learner_generation(l), ==, 0);
        g_assert_false(vsm_learner_changed(l, 0));
        vsm_test_igmp_frame(&f, v2);
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0);
        g_assert_true(vsm_learner_changed(l, 0));

        /* Same content again, at later times: no change. */
        gen = vsm_learner_generation(l);
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 1);
        vsm_test_client_frame(&f, VSM_DHCP_DISCOVER, "01525400123456", "vm", NULL);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0), ==, 1);
        gen = vsm_learner_generation(l);
        vsm_test_client_frame(&f, VSM_DHCP_REQUEST, "01525400123456", "vm", NULL);   /* same content */
        g_assert_cmpint(feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 1), ==, 0);
        vsm_test_server_frame(&f, VSM_DHCP_ACK, VM_MAC, 600, 0, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0 + 2), ==, 1);
        g_assert_cmpuint(vsm_learner_generation(l), ==, gen + 1);
        gen = vsm_learner_generation(l);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0 + SEC(300)), ==, 0);   /* renewal: same lease */
        g_assert_false(vsm_learner_changed(l, gen));
        vsm_test_server_frame(&f, VSM_DHCP_ACK, VM_MAC, 900, 0, 0);
        g_assert_cmpint(feed(l, &f, VSM_LEARN_TO_GUEST, T0 + SEC(301)), ==, 1);
        g_assert_true(vsm_learner_changed(l, gen));

        /* Garbage and expire with nothing due change nothing. */
        gen = vsm_learner_generation(l);
        g_assert_cmpint(vsm_learner_feed(l, (const uint8_t *) "garbage", 7, VSM_LEARN_FROM_GUEST, T0), ==, -EBADMSG);
        g_assert_cmpuint(vsm_learner_expire(l, T0 + SEC(200)), ==, 0);
        g_assert_false(vsm_learner_changed(l, gen));
        vsm_learner_free(l);
}

/* State carried from the previous host seeds a new learner: what it holds
 * is taken, what was learned here already wins, caps apply. */
static void test_seed(void) {
        VsmLearner *l = vsm_learner_new(VM_MAC);
        VsmLearnClient client = { .client_id_state = VSM_LEARN_CLIENT_ID_SENT, .client_id_len = 3,
                                  .client_id = { 0xff, 0x01, 0x02 } };
        VsmLearnLease lease = { .lease_time = 600, .ack_time_usec = 5 };
        VsmLearnClient got_client;
        VsmLearnLease got_lease;
        g_autofree VsmLearnGroup *groups = g_new0(VsmLearnGroup, VSM_LEARN_GROUPS_MAX + 2);
        VsmLearnAddress addrs[2] = {};
        uint64_t gen;

        memcpy(lease.address, VM_IP, 4);
        for (size_t i = 0; i < VSM_LEARN_GROUPS_MAX + 2; i++) {
                groups[i].address[0] = 239;
                groups[i].address[3] = (uint8_t) i;
                groups[i].version = VSM_LEARN_IGMP_V3;
                groups[i].mode = VSM_LEARN_FILTER_EXCLUDE;
        }
        groups[1].n_sources = VSM_LEARN_GROUP_SOURCES_MAX + 5;   /* clamped, counted */
        memcpy(addrs[0].address, VM_IP, 4);
        addrs[1].is_ip6 = true;
        addrs[1].address[0] = 0xfe;
        addrs[1].address[1] = 0x80;
        addrs[1].address[15] = 1;

        g_assert_cmpint(vsm_learner_seed(l, &client, &lease, groups, VSM_LEARN_GROUPS_MAX + 2, addrs, 2, 1000), ==, 1);
        g_assert_cmpint(vsm_learner_get_client(l, &got_client), ==, 0);
        g_assert_cmpint(got_client.client_id_state, ==, VSM_LEARN_CLIENT_ID_SENT);
        g_assert_cmpmem(got_client.client_id, got_client.client_id_len, client.client_id, 3);
        g_assert_cmpint(vsm_learner_get_lease(l, &got_lease), ==, 0);
        g_assert_cmpmem(got_lease.address, 4, VM_IP, 4);
        g_assert_cmpuint(got_lease.ack_time_usec, ==, 5);
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, VSM_LEARN_GROUPS_MAX);
        g_assert_cmpuint(vsm_learner_get_group(l, 1)->n_sources, ==, VSM_LEARN_GROUP_SOURCES_MAX);
        g_assert_cmpuint(vsm_learner_get_group(l, 0)->last_report_usec, ==, 1000);
        g_assert_cmpuint(vsm_learner_n_addresses(l, false), ==, 1);
        g_assert_cmpuint(vsm_learner_n_addresses(l, true), ==, 1);
        {
                VsmLearnStats st;

                vsm_learner_get_stats(l, &st);
                g_assert_cmpuint(st.n_dropped_groups, ==, 2);
                g_assert_cmpuint(st.n_dropped_sources, ==, 5);
        }

        /* Seeding again changes nothing: the learner's content wins. */
        gen = vsm_learner_generation(l);
        client.client_id_state = VSM_LEARN_CLIENT_ID_NONE;
        lease.lease_time = 1;
        g_assert_cmpint(vsm_learner_seed(l, &client, &lease, groups, 3, addrs, 2, 2000), ==, 0);
        g_assert_cmpuint(vsm_learner_generation(l), ==, gen);
        g_assert_cmpint(vsm_learner_get_client(l, &got_client), ==, 0);
        g_assert_cmpint(got_client.client_id_state, ==, VSM_LEARN_CLIENT_ID_SENT);

        /* Seeded groups expire one membership interval after the seed. */
        g_assert_cmpuint(vsm_learner_expire(l, 1000 + VSM_LEARN_MEMBERSHIP_INTERVAL_USEC + 1), >=,
                         VSM_LEARN_GROUPS_MAX);
        g_assert_cmpuint(vsm_learner_n_groups(l), ==, 0);
        g_assert_cmpint(vsm_learner_seed(NULL, &client, NULL, NULL, 0, NULL, 0, 0), ==, 0);
        vsm_learner_free(l);
}

static void test_misc(void) {
        g_assert_null(vsm_learner_free(NULL));
        g_assert_null(vsm_learner_new(NULL));
        g_assert_cmpstr(vsm_learn_direction_to_string(VSM_LEARN_FROM_GUEST), ==, "from-guest");
        g_assert_cmpstr(vsm_learn_direction_to_string(VSM_LEARN_TO_GUEST), ==, "to-guest");
        g_assert_null(vsm_learn_direction_to_string(_VSM_LEARN_DIRECTION_MAX));
        g_assert_cmpstr(vsm_learn_client_id_to_string(VSM_LEARN_CLIENT_ID_UNKNOWN), ==, "unknown");
        g_assert_cmpstr(vsm_learn_client_id_to_string(VSM_LEARN_CLIENT_ID_NONE), ==, "none");
        g_assert_cmpstr(vsm_learn_client_id_to_string(VSM_LEARN_CLIENT_ID_SENT), ==, "sent");
        g_assert_null(vsm_learn_client_id_to_string(_VSM_LEARN_CLIENT_ID_MAX));
        g_assert_cmpstr(vsm_learn_mcast_version_to_string(VSM_LEARN_IGMP_V1), ==, "igmpv1");
        g_assert_cmpstr(vsm_learn_mcast_version_to_string(VSM_LEARN_MLD_V2), ==, "mldv2");
        g_assert_null(vsm_learn_mcast_version_to_string(_VSM_LEARN_MCAST_VERSION_MAX));
        g_assert_cmpstr(vsm_learn_filter_mode_to_string(VSM_LEARN_FILTER_INCLUDE), ==, "include");
        g_assert_cmpstr(vsm_learn_filter_mode_to_string(VSM_LEARN_FILTER_EXCLUDE), ==, "exclude");
        g_assert_null(vsm_learn_filter_mode_to_string(_VSM_LEARN_FILTER_MODE_MAX));
        {
                VsmLearner *l = vsm_learner_new(VM_MAC);

                g_assert_cmpmem(vsm_learner_get_mac(l), 6, VM_MAC, 6);
                vsm_learner_free(l);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/sm/learn/dhcp-learn", test_dhcp_learn);
        g_test_add_func("/sm/learn/dhcp-cid-absence", test_dhcp_cid_absence);
        g_test_add_func("/sm/learn/dhcp-drop", test_dhcp_drop);
        g_test_add_func("/sm/learn/dhcp-foreign", test_dhcp_foreign);
        g_test_add_func("/sm/learn/dhcp-expiry", test_dhcp_expiry);
        g_test_add_func("/sm/learn/igmp-v1v2", test_igmp_v1v2);
        g_test_add_func("/sm/learn/mld-v1", test_mld_v1);
        g_test_add_func("/sm/learn/records", test_records);
        g_test_add_func("/sm/learn/version-change", test_version_change);
        g_test_add_func("/sm/learn/group-expiry", test_group_expiry);
        g_test_add_func("/sm/learn/claims-not-owned", test_claims_not_owned);
        g_test_add_func("/sm/learn/addresses", test_addresses);
        g_test_add_func("/sm/learn/contradiction", test_contradiction);
        g_test_add_func("/sm/learn/allowed", test_allowed);
        g_test_add_func("/sm/learn/link-local-groups", test_link_local_groups);
        g_test_add_func("/sm/learn/caps", test_caps);
        g_test_add_func("/sm/learn/garbage", test_garbage);
        g_test_add_func("/sm/learn/vectors", test_vectors);
        g_test_add_func("/sm/learn/generation", test_generation);
        g_test_add_func("/sm/learn/seed", test_seed);
        g_test_add_func("/sm/learn/misc", test_misc);
        return g_test_run();
}

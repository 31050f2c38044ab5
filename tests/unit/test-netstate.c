/* Unit tests for the carried network state (daemon/netstate.c): snapshots
 * of a learner fed with real frames (RFC 2131, RFC 3376, RFC 3810, ARP,
 * ND), the JSON and metadata XML round trips (including the forms libvirt
 * hands back), the DHCP replay rule, and hostile JSON and XML. */
#include <arpa/inet.h>
#include <glib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "daemon/config.h"
#include "daemon/domain-xml.h"
#include "daemon/netstate.h"
#include "proto/arp.h"
#include "proto/dhcp.h"
#include "proto/igmp.h"
#include "proto/mld.h"
#include "proto/ndisc.h"
#include "test-frames.h"
#include "test-util.h"

#define SEC(s) ((gint64) (s) * G_USEC_PER_SEC)
#define T0 SEC(1000)                           /* monotonic */
#define REAL0 G_GINT64_CONSTANT(1700000000000000) /* wall clock */
#define NS VSIMIG_METADATA_NS
#define MAC_S "52:54:00:12:34:56"
#define TOKEN "0123456789abcdef0123456789abcdef"

#define VM_MAC vsm_test_vm_mac
#define SERVER_MAC vsm_test_server_mac
#define VM_IP vsm_test_vm_ip
#define SERVER_IP vsm_test_server_ip
static const uint8_t VM2_MAC[VSM_ETH_ALEN] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };

typedef VsmTestFrame Frame;

/* ---- frame builders (test-frames.c) ---- */

/* From the VM, requesting its address; cid_hex NULL: no option 61;
 * hostname as raw octets. */
static void client_frame(Frame *f, uint8_t type, const char *cid_hex, const char *hostname) {
        vsm_test_client_frame(f, type, cid_hex, hostname, VM_IP);
}

static void ack_frame(Frame *f, uint32_t lease) {
        vsm_test_server_frame(f, VSM_DHCP_ACK, VM_MAC, lease, 0, 0);
}

static void feed(VsmLearner *l, const Frame *f, VsmLearnDirection d, gint64 now) {
        g_assert_cmpint(vsm_learner_feed(l, f->buf, f->len, d, (uint64_t) now), >=, 0);
}

/* A learner that has seen a whole DHCP exchange, four kinds of group and
 * both address families. */
static VsmLearner *busy_learner(void) {
        static const char *const inc[] = { "198.51.100.1", "198.51.100.2", NULL };
        static const char *const exc[] = { "198.51.100.9", NULL };
        static const char *const inc6[] = { "2001:db8::1", NULL };
        VsmLearner *l = vsm_learner_new(VM_MAC);
        g_autofree VsmIgmpMessage *v2 = g_new0(VsmIgmpMessage, 1);
        g_autofree VsmMldMessage *v1 = g_new0(VsmMldMessage, 1);
        g_autofree VsmNdiscMessage *na = NULL;
        uint8_t a6[16];
        VsmWriter w;
        Frame f;

        client_frame(&f, VSM_DHCP_DISCOVER, "01525400123456", "vm1");
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0);
        client_frame(&f, VSM_DHCP_REQUEST, "01525400123456", "vm1");
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 1);
        ack_frame(&f, 3600);
        feed(l, &f, VSM_LEARN_TO_GUEST, T0 + 2);

        vsm_test_record_frame(&f, FALSE, "232.1.1.1", VSM_MCAST_MODE_IS_INCLUDE, inc);
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 3);
        vsm_test_record_frame(&f, FALSE, "239.5.5.5", VSM_MCAST_MODE_IS_EXCLUDE, exc);
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 3);
        v2->type = VSM_IGMP_V2_REPORT;
        v2->version = 2;
        g_assert_cmpint(inet_pton(AF_INET, "239.1.1.1", v2->group), ==, 1);
        vsm_test_igmp_frame(&f, v2);
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 4);
        vsm_test_record_frame(&f, TRUE, "ff3e::1234", VSM_MCAST_MODE_IS_INCLUDE, inc6);
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 5);
        v1->type = VSM_MLD_V1_REPORT;
        v1->version = 1;
        g_assert_cmpint(inet_pton(AF_INET6, "ff05::1:3", v1->group), ==, 1);
        vsm_test_mld_frame(&f, v1);
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 6);

        vsm_writer_init(&w, f.buf, sizeof(f.buf));
        g_assert_cmpint(vsm_arp_gratuitous_write(&w, VM_MAC, VM_IP), ==, 0);
        f.len = w.len;
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 7);
        g_assert_cmpint(inet_pton(AF_INET6, "2001:db8::10", a6), ==, 1);
        vsm_writer_init(&w, f.buf, sizeof(f.buf));
        g_assert_cmpint(vsm_ndisc_unsolicited_na_write(&w, VM_MAC, a6, false), ==, 0);
        f.len = w.len;
        feed(l, &f, VSM_LEARN_FROM_GUEST, T0 + 8);
        return l;
}

static const VsmStateGroup *find_group(const VsmNicState *s, const char *addr) {
        char buf[INET6_ADDRSTRLEN];

        for (guint i = 0; i < s->groups->len; i++) {
                const VsmStateGroup *g = &g_array_index(s->groups, VsmStateGroup, i);

                if (g_str_equal(inet_ntop(g->is_ip6 ? AF_INET6 : AF_INET, g->address, buf, sizeof(buf)), addr))
                        return g;
        }
        g_error("group %s not found", addr);
        return NULL;
}

static void assert_source(const VsmStateGroup *g, guint i, const char *want) {
        char buf[INET6_ADDRSTRLEN];

        g_assert_cmpuint(i, <, g->n_sources);
        g_assert_cmpstr(inet_ntop(g->is_ip6 ? AF_INET6 : AF_INET, g->sources[i], buf, sizeof(buf)), ==, want);
}

/* ---- from the learner ---- */

static void test_from_learner(void) {
        VsmLearner *l = busy_learner();
        g_autoptr(VsmNicState) s = vsm_nic_state_from_learner(l, T0 + SEC(100), REAL0);
        const VsmStateGroup *g;
        uint8_t want6[16];

        g_assert_cmpmem(s->mac, 6, VM_MAC, 6);
        g_assert_cmpint(s->client_id_state, ==, VSM_LEARN_CLIENT_ID_SENT);
        vsm_assert_hex(s->client_id, s->client_id_len, "01525400123456");
        g_assert_cmpstr(s->hostname, ==, "vm1");
        g_assert_true(s->has_lease);
        g_assert_cmpmem(s->lease_address, 4, VM_IP, 4);
        g_assert_true(s->has_server_id);
        g_assert_cmpmem(s->server_id, 4, SERVER_IP, 4);
        g_assert_cmpuint(s->lease_time, ==, 3600);
        /* ACK at T0 + 2 µs, 100 s before "now" */
        g_assert_cmpint(s->lease_ack_real_usec, ==, REAL0 - SEC(100) + 2);

        g_assert_cmpuint(s->groups->len, ==, 5);
        g = find_group(s, "232.1.1.1");
        g_assert_false(g->is_ip6);
        g_assert_cmpint(g->version, ==, VSM_LEARN_IGMP_V3);
        g_assert_cmpint(g->mode, ==, VSM_LEARN_FILTER_INCLUDE);
        g_assert_cmpuint(g->n_sources, ==, 2);
        assert_source(g, 0, "198.51.100.1");
        assert_source(g, 1, "198.51.100.2");
        g = find_group(s, "239.5.5.5");
        g_assert_cmpint(g->mode, ==, VSM_LEARN_FILTER_EXCLUDE);
        assert_source(g, 0, "198.51.100.9");
        g = find_group(s, "239.1.1.1");
        g_assert_cmpint(g->version, ==, VSM_LEARN_IGMP_V2);
        g_assert_cmpint(g->mode, ==, VSM_LEARN_FILTER_EXCLUDE);
        g_assert_cmpuint(g->n_sources, ==, 0);
        g_assert_null(g->sources);
        g = find_group(s, "ff3e::1234");
        g_assert_true(g->is_ip6);
        g_assert_cmpint(g->version, ==, VSM_LEARN_MLD_V2);
        assert_source(g, 0, "2001:db8::1");
        g = find_group(s, "ff05::1:3");
        g_assert_cmpint(g->version, ==, VSM_LEARN_MLD_V1);

        g_assert_cmpuint(s->ip4->len, ==, 1);
        g_assert_cmpmem(s->ip4->data, 4, VM_IP, 4);
        /* The IGMP and MLD reports' sources; the ARP and the NA of
         * busy_learner() are claims, not ownership (learn.c). */
        g_assert_cmpuint(s->ip6->len, ==, 1);
        g_assert_cmpint(inet_pton(AF_INET6, "fe80::5054:ff:fe12:3456", want6), ==, 1);
        g_assert_cmpmem(s->ip6->data, 16, want6, 16);

        g_assert_true(vsm_nic_state_can_replay_dhcp(s, REAL0));
        vsm_learner_free(l);
}

/* Nothing seen: client-id unknown; a guest without option 61: none; a
 * hostname that is not printable ASCII is left out. */
static void test_from_learner_edges(void) {
        static const struct {
                const char *cid_hex;
                const char *hostname;
                VsmLearnClientId want_state;
                const char *want_hostname;
        } cases[] = {
                { NULL, "plain", VSM_LEARN_CLIENT_ID_NONE, "plain" },
                { "", NULL, VSM_LEARN_CLIENT_ID_SENT, NULL },
                { "ff00000001", "bad\x01name", VSM_LEARN_CLIENT_ID_SENT, NULL },
                { NULL, "caf\xc3\xa9", VSM_LEARN_CLIENT_ID_NONE, NULL },
        };
        VsmLearner *l = vsm_learner_new(VM_MAC);
        g_autoptr(VsmNicState) empty = vsm_nic_state_from_learner(l, T0, REAL0);

        g_assert_cmpint(empty->client_id_state, ==, VSM_LEARN_CLIENT_ID_UNKNOWN);
        g_assert_null(empty->hostname);
        g_assert_false(empty->has_lease);
        g_assert_cmpuint(empty->groups->len + empty->ip4->len + empty->ip6->len, ==, 0);
        vsm_learner_free(l);

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(VsmNicState) s = NULL;
                g_autoptr(JsonNode) node = NULL;
                g_autoptr(VsmNicState) back = NULL;
                g_autoptr(GError) error = NULL;
                Frame f;

                l = vsm_learner_new(VM_MAC);
                client_frame(&f, VSM_DHCP_REQUEST, cases[i].cid_hex, cases[i].hostname);
                feed(l, &f, VSM_LEARN_FROM_GUEST, T0);
                s = vsm_nic_state_from_learner(l, T0, REAL0);
                g_assert_cmpint(s->client_id_state, ==, cases[i].want_state);
                g_assert_cmpstr(s->hostname, ==, cases[i].want_hostname);
                if (cases[i].cid_hex)
                        vsm_assert_hex(s->client_id, s->client_id_len, cases[i].cid_hex);
                /* whatever the snapshot holds survives the trip */
                node = vsm_nic_state_to_json(s);
                g_assert_true(vsm_nic_state_from_json(node, &back, &error));
                g_assert_no_error(error);
                g_assert_true(vsm_nic_state_equal(s, back));
                vsm_learner_free(l);
        }
}

/* ---- JSON ---- */

static VsmNicState *json_parse_ok(const char *text) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = json_from_string(text, &error);
        VsmNicState *s = NULL;

        g_assert_no_error(error);
        if (!vsm_nic_state_from_json(node, &s, &error))
                g_error("refused %s: %s", text, error->message);
        return s;
}

static void test_json_round_trip(void) {
        VsmLearner *l = busy_learner();
        g_autoptr(VsmNicState) s = vsm_nic_state_from_learner(l, T0 + SEC(1), REAL0);
        g_autoptr(JsonNode) node = vsm_nic_state_to_json(s);
        g_autofree char *text = json_to_string(node, FALSE);
        g_autoptr(VsmNicState) back = json_parse_ok(text);
        g_autoptr(VsmNicState) copy = vsm_nic_state_copy(s);

        g_test_message("%s", text);
        g_assert_true(vsm_nic_state_equal(s, back));
        g_assert_true(vsm_nic_state_equal(s, copy));
        vsm_learner_free(l);

        /* The exact shape of netstate.h. */
        {
                g_autoptr(VsmNicState) n = vsm_nic_state_new(VM_MAC);
                g_autoptr(JsonNode) jn = NULL;
                g_autofree char *js = NULL;
                VsmStateGroup g = { .version = VSM_LEARN_IGMP_V3, .mode = VSM_LEARN_FILTER_EXCLUDE };
                static const uint8_t src[16] = { 10, 77, 0, 9 }, ip4[4] = { 10, 77, 0, 5 };

                n->client_id_state = VSM_LEARN_CLIENT_ID_SENT;
                n->client_id_len = 2;
                n->client_id[0] = 0xff;
                n->client_id[1] = 0x00;
                n->hostname = g_strdup("vm1");
                n->has_lease = TRUE;
                memcpy(n->lease_address, ip4, 4);
                n->has_server_id = TRUE;
                memcpy(n->server_id, (uint8_t[]) { 10, 77, 0, 1 }, 4);
                n->lease_time = 3600;
                n->lease_ack_real_usec = REAL0;
                memcpy(g.address, (uint8_t[]) { 239, 1, 1, 1 }, 4);
                g.n_sources = 1;
                g.sources = g_memdup2(src, 16);
                g_array_append_val(n->groups, g);
                g_array_append_vals(n->ip4, ip4, 1);
                jn = vsm_nic_state_to_json(n);
                js = json_to_string(jn, FALSE);
                g_assert_cmpstr(js, ==,
                                "{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":\"sent\",\"value\":\"ff00\"},"
                                "\"hostname\":\"vm1\",\"lease\":{\"address\":\"10.77.0.5\",\"server_id\":\"10.77.0.1\","
                                "\"lease_time\":3600,\"ack_time\":1700000000000000},"
                                "\"groups\":[{\"address\":\"239.1.1.1\",\"version\":\"igmpv3\",\"mode\":\"exclude\","
                                "\"sources\":[\"10.77.0.9\"]}],\"ip4\":[\"10.77.0.5\"],\"ip6\":[]}");
        }

        /* Optional members may be left out; either hex case is read. */
        {
                g_autoptr(VsmNicState) m = json_parse_ok("{\"mac\":\"52:54:00:AA:BB:CC\","
                                                         "\"client_id\":{\"state\":\"sent\",\"value\":\"AbCd\"}}");

                g_assert_cmpmem(m->mac, 6, VM2_MAC, 6);
                vsm_assert_hex(m->client_id, m->client_id_len, "abcd");
                g_assert_false(m->has_lease);
                g_assert_cmpuint(m->groups->len, ==, 0);
        }
}

/* Changes that must make two states differ. */
static void test_equal(void) {
        VsmLearner *l = busy_learner();
        g_autoptr(VsmNicState) a = vsm_nic_state_from_learner(l, T0, REAL0);
        g_autoptr(VsmNicState) b = NULL;
        VsmStateGroup *g;

        g_assert_true(vsm_nic_state_equal(a, a));
        g_assert_false(vsm_nic_state_equal(a, NULL));

#define DIFFERS(stmt)                                   \
        do {                                            \
                b = vsm_nic_state_copy(a);              \
                g_assert_true(vsm_nic_state_equal(a, b)); \
                stmt;                                   \
                g_assert_false(vsm_nic_state_equal(a, b)); \
                g_clear_pointer(&b, vsm_nic_state_free); \
        } while (0)
        DIFFERS(b->mac[5] ^= 1);
        DIFFERS(b->client_id[0] ^= 1);
        DIFFERS(b->client_id_len--);
        DIFFERS(b->client_id_state = VSM_LEARN_CLIENT_ID_NONE);
        DIFFERS(g_clear_pointer(&b->hostname, g_free));
        DIFFERS(b->lease_time++);
        DIFFERS(b->lease_ack_real_usec++);
        DIFFERS(b->has_server_id = FALSE);
        DIFFERS(b->has_lease = FALSE);
        DIFFERS(g_array_remove_index(b->groups, 0));
        DIFFERS((g = &g_array_index(b->groups, VsmStateGroup, 0), g->sources[0][3] ^= 1));
        DIFFERS((g = &g_array_index(b->groups, VsmStateGroup, 1), g->mode = VSM_LEARN_FILTER_INCLUDE));
        DIFFERS(g_array_set_size(b->ip4, 0));
        DIFFERS(g_array_set_size(b->ip6, 0));
#undef DIFFERS
        vsm_learner_free(l);
}

/* ---- DHCP replay rule ---- */

static void test_can_replay_dhcp(void) {
        static const struct {
                const char *name;
                gboolean has_lease;
                VsmLearnClientId cid;
                guint32 lease_time;
                gint64 ack;                    /* relative to REAL0 */
                gboolean want;
        } cases[] = {
                { "no lease", FALSE, VSM_LEARN_CLIENT_ID_SENT, 3600, 0, FALSE },
                { "valid, cid sent", TRUE, VSM_LEARN_CLIENT_ID_SENT, 3600, -SEC(100), TRUE },
                { "valid, cid none", TRUE, VSM_LEARN_CLIENT_ID_NONE, 3600, -SEC(100), TRUE },
                { "valid, cid unknown", TRUE, VSM_LEARN_CLIENT_ID_UNKNOWN, 3600, -SEC(100), FALSE },
                { "expired", TRUE, VSM_LEARN_CLIENT_ID_SENT, 3600, -SEC(3600) - 1, FALSE },
                { "last instant", TRUE, VSM_LEARN_CLIENT_ID_SENT, 3600, -SEC(3600), TRUE },
                { "zero lease", TRUE, VSM_LEARN_CLIENT_ID_SENT, 0, -1, FALSE },
                { "infinite", TRUE, VSM_LEARN_CLIENT_ID_NONE, VSM_LEARN_LEASE_INFINITE, -SEC(1000000000), TRUE },
                { "ack in the future", TRUE, VSM_LEARN_CLIENT_ID_SENT, 60, SEC(30), TRUE },
                { "ack at the end of time", TRUE, VSM_LEARN_CLIENT_ID_SENT, 60, G_MAXINT64 - REAL0, TRUE },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(VsmNicState) s = vsm_nic_state_new(VM_MAC);

                s->has_lease = cases[i].has_lease;
                memcpy(s->lease_address, VM_IP, 4);
                s->client_id_state = cases[i].cid;
                s->lease_time = cases[i].lease_time;
                s->lease_ack_real_usec = REAL0 + cases[i].ack;
                g_test_message("%s", cases[i].name);
                g_assert_cmpint(vsm_nic_state_can_replay_dhcp(s, REAL0), ==, cases[i].want);
        }

        /* Through the learner: the lease ages on the destination's clock. */
        {
                VsmLearner *l = busy_learner();
                g_autoptr(VsmNicState) s = vsm_nic_state_from_learner(l, T0 + SEC(10), REAL0);

                g_assert_true(vsm_nic_state_can_replay_dhcp(s, REAL0 + SEC(3000)));
                g_assert_false(vsm_nic_state_can_replay_dhcp(s, REAL0 + SEC(3600)));
                vsm_learner_free(l);
        }
}

/* ---- XML ---- */

static VsmDomainState *busy_domain(void) {
        static const uint8_t uuid[16] = { 0x4b, 0x9a, 0x3c, 0x7e };
        VsmLearner *l = busy_learner();
        VsmDomainState *d = vsm_domain_state_new(uuid);
        VsmNicState *n2 = vsm_nic_state_new(VM2_MAC);

        d->origin = g_strdup("[2001:db8::1]:7788");
        g_strlcpy(d->token, TOKEN, sizeof(d->token));
        d->generation = G_MAXUINT64;
        g_ptr_array_add(d->nics, vsm_nic_state_from_learner(l, T0 + SEC(5), REAL0));
        n2->client_id_state = VSM_LEARN_CLIENT_ID_SENT;   /* an empty option 61 */
        n2->hostname = g_strdup("a <b> & 'c' \"d\"");
        g_ptr_array_add(d->nics, n2);
        vsm_learner_free(l);
        return d;
}

static VsmDomainState *xml_parse_ok(const char *xml) {
        g_autoptr(GError) error = NULL;
        VsmDomainState *d = NULL;

        if (!vsm_domain_state_from_xml(xml, strlen(xml), &d, &error))
                g_error("refused: %s\n%s", error->message, xml);
        return d;
}

static void assert_domain_equal(const VsmDomainState *a, const VsmDomainState *b) {
        g_assert_cmpstr(a->origin, ==, b->origin);
        g_assert_cmpstr(a->token, ==, b->token);
        g_assert_cmpuint(a->generation, ==, b->generation);
        g_assert_cmpuint(a->nics->len, ==, b->nics->len);
        for (guint i = 0; i < a->nics->len; i++)
                g_assert_true(vsm_nic_state_equal(g_ptr_array_index(a->nics, i), g_ptr_array_index(b->nics, i)));
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlBuffer, xmlBufferFree)

static void ns_set(xmlNode *node, xmlNs *ns, int depth) {
        xmlSetNs(node, ns);
        if (depth == 0)
                return;
        for (xmlNode *c = node->children; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE)
                        ns_set(c, ns, depth - 1);
}

/* What libvirt's virDomainSetMetadata() stores: our element, a namespace
 * declaration with the key as prefix on it, the namespace set on the
 * element and its element children (depth 1) or on every descendant
 * (depth -1); then dumped, as libvirt dumps <metadata> children. */
static char *libvirt_wrap(const char *xml, const char *prefix, int depth) {
        g_autoptr(xmlDoc) doc = xmlReadMemory(xml, (int) strlen(xml), NULL, NULL, XML_PARSE_NONET);
        g_autoptr(xmlBuffer) buf = xmlBufferCreate();
        xmlNode *root;
        xmlNs *ns;

        g_assert_nonnull(doc);
        root = xmlDocGetRootElement(doc);
        ns = xmlNewNs(root, (const xmlChar *) NS, (const xmlChar *) prefix);
        ns_set(root, ns, depth);
        g_assert_cmpint(xmlNodeDump(buf, doc, root, 0, 1), >=, 0);
        return g_strndup((const char *) xmlBufferContent(buf), (gsize) xmlBufferLength(buf));
}

static void test_xml_round_trip(void) {
        g_autoptr(VsmDomainState) d = busy_domain();
        g_autofree char *xml = vsm_domain_state_to_xml(d);
        static const struct {
                const char *prefix;
                int depth;
        } wraps[] = {
                { "vsimig", 1 },
                { "vsimig", -1 },
                { "other", -1 },
                { NULL, -1 },   /* default namespace */
        };

        g_test_message("%s", xml);
        g_assert_true(g_str_has_prefix(xml, "<state version=\"1\" origin=\"[2001:db8::1]:7788\" token=\"" TOKEN
                                            "\" generation=\"18446744073709551615\"><nic mac=\"" MAC_S "\">"
                                            "<client-id state=\"sent\">01525400123456</client-id>"
                                            "<hostname>vm1</hostname><lease address=\"192.0.2.10\" "
                                            "server-id=\"192.0.2.1\" time=\"3600\" ack=\""));
        g_assert_null(strstr(xml, "xmlns"));

        for (size_t i = 0; i < G_N_ELEMENTS(wraps); i++) {
                g_autofree char *wrapped = libvirt_wrap(xml, wraps[i].prefix, wraps[i].depth);
                g_autoptr(VsmDomainState) back = xml_parse_ok(wrapped);

                g_test_message("%s", wrapped);
                assert_domain_equal(d, back);
        }

        /* Through the domain reader, as the daemon gets it. */
        {
                g_autofree char *wrapped = libvirt_wrap(xml, "vsimig", 1);
                g_autofree char *dom = g_strdup_printf("<domain type='kvm'><name>t</name>"
                                                       "<uuid>4b9a3c7e-1f2d-4e8a-9b6c-0d1e2f3a4b5c</uuid>"
                                                       "<metadata>\n  %s\n</metadata><devices/></domain>",
                                                       wrapped);
                g_autoptr(VsmDomainInfo) info = NULL;
                g_autoptr(VsmDomainState) back = NULL;
                g_autoptr(GError) error = NULL;

                g_assert_true(vsm_domain_xml_parse(dom, strlen(dom), &info, &error));
                g_assert_no_error(error);
                g_assert_nonnull(info->metadata);
                back = xml_parse_ok(info->metadata);
                assert_domain_equal(d, back);
        }

        /* Minimal: no origin, no token, no NICs. */
        {
                g_autoptr(VsmDomainState) e = vsm_domain_state_new(NULL);
                g_autofree char *ex = vsm_domain_state_to_xml(e);
                g_autofree char *wrapped = libvirt_wrap(ex, "vsimig", 1);
                g_autoptr(VsmDomainState) back = NULL;

                g_assert_cmpstr(ex, ==, "<state version=\"1\" generation=\"0\"/>");
                back = xml_parse_ok(wrapped);
                assert_domain_equal(e, back);
                g_assert_null(back->origin);
                g_assert_cmpstr(back->token, ==, "");
        }
}

static void test_domain_misc(void) {
        g_autoptr(VsmDomainState) d = busy_domain();
        g_autoptr(JsonNode) pub = vsm_domain_state_to_json_public(d);
        JsonObject *o = json_node_get_object(pub);
        g_autofree char *text = json_to_string(pub, FALSE);

        g_assert_nonnull(vsm_domain_state_find_nic(d, VM2_MAC));
        g_assert_true(vsm_domain_state_find_nic(d, VM_MAC) == g_ptr_array_index(d->nics, 0));
        g_assert_null(vsm_domain_state_find_nic(d, SERVER_MAC));
        g_assert_cmpstr(json_object_get_string_member(o, "origin"), ==, "[2001:db8::1]:7788");
        g_assert_cmpuint(json_array_get_length(json_object_get_array_member(o, "nics")), ==, 2);
        g_assert_null(strstr(text, TOKEN));
        g_assert_false(json_object_has_member(o, "token"));
        g_assert_null(vsm_nic_state_free(NULL));
        g_assert_null(vsm_domain_state_free(NULL));
}

/* ---- hostile input ---- */

typedef struct Hostile {
        const char *name;
        char *text;                    /* owned */
        gsize len;                     /* 0: strlen */
        const char *want;              /* substring of the error */
} Hostile;

static void hostile_clear(gpointer p) {
        g_free(((Hostile *) p)->text);
}

static GArray *hostile_new(void) {
        GArray *a = g_array_new(FALSE, TRUE, sizeof(Hostile));

        g_array_set_clear_func(a, hostile_clear);
        return a;
}

static void hostile_add(GArray *a, const char *name, char *text, const char *want) {
        Hostile h = { name, text, 0, want };

        g_array_append_val(a, h);
}

/* n copies of fmt (one %u: the index), separated by sep. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *repeat(const char *fmt, guint n, const char *sep) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < n; i++) {
                if (i)
                        g_string_append(s, sep);
                g_string_append_printf(s, fmt, i);
        }
        return g_string_free(s, FALSE);
}
#pragma GCC diagnostic pop

#define NIC_J(extra) "{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":\"none\"}" extra "}"
#define LEASE_J(x) NIC_J(",\"lease\":{" x "}")
#define GROUP_J(x) NIC_J(",\"groups\":[{" x "}]")

static void test_json_hostile(void) {
        static const struct {
                const char *json;
                const char *want;
        } table[] = {
                { "[]", "not an object" },
                { "\"nic\"", "not an object" },
                { "null", "not an object" },
                { "{\"client_id\":{\"state\":\"none\"}}", "missing member 'mac'" },
                { "{\"mac\":52,\"client_id\":{\"state\":\"none\"}}", "'mac' is an integer, not a string" },
                { "{\"mac\":\"01:00:5e:00:00:01\",\"client_id\":{\"state\":\"none\"}}", "not a unicast MAC" },
                { "{\"mac\":\"00:00:00:00:00:00\",\"client_id\":{\"state\":\"none\"}}", "not a unicast MAC" },
                { "{\"mac\":\"52:54:00:12:34\",\"client_id\":{\"state\":\"none\"}}", "not a unicast MAC" },
                { "{\"mac\":\"52:54:00:12:34:56\"}", "missing member 'client_id'" },
                { NIC_J(",\"extra\":1"), "unknown member 'extra'" },
                { "{\"mac\":\"" MAC_S "\",\"client_id\":\"none\"}", "not an object" },
                { "{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":\"maybe\"}}", "state 'maybe'" },
                { "{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":\"sent\"}}", "sent without a value" },
                { "{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":\"none\",\"value\":\"01\"}}", "a value with state none" },
                { "{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":\"sent\",\"value\":\"zz\"}}", "not hex" },
                { "{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":\"sent\",\"value\":\"abc\"}}", "not hex" },
                { "{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":\"sent\",\"value\":\"0x01\"}}", "not hex" },
                { "{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":\"none\",\"x\":1}}", "unknown member 'x'" },
                { "{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":true}}", "a boolean, not a string" },
                { NIC_J(",\"hostname\":\"\""), "hostname ''" },
                { NIC_J(",\"hostname\":\"a\\u0001b\""), "hostname 'a\\001b'" },
                { NIC_J(",\"hostname\":\"h\\u00e9\""), "printable ASCII" },
                { NIC_J(",\"hostname\":null"), "null, not a string" },
                { NIC_J(",\"lease\":[]"), "'lease' is an array" },
                { LEASE_J("\"address\":\"224.0.0.1\",\"lease_time\":60,\"ack_time\":1"), "not a unicast IPv4" },
                { LEASE_J("\"address\":\"0.0.0.0\",\"lease_time\":60,\"ack_time\":1"), "not a unicast IPv4" },
                { LEASE_J("\"address\":\"255.255.255.255\",\"lease_time\":60,\"ack_time\":1"), "not a unicast IPv4" },
                { LEASE_J("\"address\":\"2001:db8::1\",\"lease_time\":60,\"ack_time\":1"), "not a unicast IPv4" },
                { LEASE_J("\"address\":\"10.0.0.1 \",\"lease_time\":60,\"ack_time\":1"), "not a unicast IPv4" },
                { LEASE_J("\"address\":\"10.0.0.1\",\"server_id\":\"10.0.0\",\"lease_time\":60,\"ack_time\":1"), "server-id" },
                { LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":-1,\"ack_time\":1"), "lease time -1" },
                { LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":4294967296,\"ack_time\":1"), "lease time 4294967296" },
                /* json-glib 1.6 saturates past 2^64-1 and wraps past 2^63-1: negative */
                { LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":18446744073709555216,\"ack_time\":1"), "lease time -1" },
                { LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":60,\"ack_time\":9223372036854775808"), "negative" },
                { LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":3600.5,\"ack_time\":1"), "not an integer" },
                { LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":\"3600\",\"ack_time\":1"), "not an integer" },
                { LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":60,\"ack_time\":-5"), "negative" },
                { LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":60,\"ack_time\":1e300"), "not an integer" },
                { LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":60"), "missing member 'ack_time'" },
                { LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":60,\"ack_time\":1,\"t1\":30"), "unknown member 't1'" },
                { NIC_J(",\"groups\":{}"), "not an array" },
                { NIC_J(",\"groups\":[1]"), "not an object" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"mldv2\",\"mode\":\"exclude\""),
                  "nic " MAC_S ": group 239.1.1.1: version mldv2 does not match IPv4" },
                { GROUP_J("\"address\":\"ff02::fb\",\"version\":\"igmpv3\",\"mode\":\"exclude\""),
                  "group ff02::fb: version igmpv3 does not match IPv6" },
                { GROUP_J("\"address\":\"10.0.0.1\",\"version\":\"igmpv3\",\"mode\":\"exclude\""), "not a multicast" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv4\",\"mode\":\"exclude\""), "version 'igmpv4'" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv3\",\"mode\":\"block\""), "mode 'block'" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv3\""), "missing mode" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv3\",\"mode\":\"include\""),
                  "include needs at least one source" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv3\",\"mode\":\"include\",\"sources\":[\"224.0.0.5\"]"),
                  "source '224.0.0.5' is not a unicast IPv4" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv3\",\"mode\":\"include\",\"sources\":[\"2001:db8::1\"]"),
                  "not a unicast IPv4" },
                { GROUP_J("\"address\":\"ff3e::1\",\"version\":\"mldv2\",\"mode\":\"include\",\"sources\":[\"10.0.0.1\"]"),
                  "not a unicast IPv6" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv3\",\"mode\":\"include\","
                          "\"sources\":[\"10.0.0.1\",\"10.0.0.1\"]"), "duplicate source" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv2\",\"mode\":\"exclude\",\"sources\":[\"10.0.0.1\"]"),
                  "igmpv2 carries no sources" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv3\",\"mode\":\"exclude\",\"sources\":[5]"),
                  "sources[0] is an integer" },
                { GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv3\",\"mode\":\"exclude\",\"ttl\":1"),
                  "unknown member 'ttl'" },
                { NIC_J(",\"groups\":[{\"address\":\"239.1.1.1\",\"version\":\"igmpv2\",\"mode\":\"exclude\"},"
                        "{\"address\":\"239.1.1.1\",\"version\":\"igmpv3\",\"mode\":\"exclude\"}]"), "duplicate group" },
                { NIC_J(",\"ip4\":[\"2001:db8::1\"]"), "not a unicast IPv4" },
                { NIC_J(",\"ip6\":[\"10.0.0.1\"]"), "not a unicast IPv6" },
                { NIC_J(",\"ip6\":[\"::1\"]"), "not a unicast IPv6" },
                { NIC_J(",\"ip6\":[\"ff02::1\"]"), "not a unicast IPv6" },
                { NIC_J(",\"ip4\":[\"127.0.0.1\"]"), "not a unicast IPv4" },
                { NIC_J(",\"ip4\":[\"300.1.1.1\"]"), "not a unicast IPv4" },
                { NIC_J(",\"ip4\":[\"10.0.0.1\",\"10.0.0.1\"]"), "duplicate ip" },
                { NIC_J(",\"ip4\":[167772161]"), "ip4[0] is an integer" },
                { NIC_J(",\"ip4\":\"10.0.0.1\""), "not an array" },
        };
        g_autoptr(GArray) gen = hostile_new();
        guint n = 0;

        /* caps + 1 */
        {
                g_autofree char *srcs = repeat("\"10.0.%u.1\"", VSM_LEARN_GROUP_SOURCES_MAX + 1, ",");
                g_autofree char *groups = repeat("{\"address\":\"239.0.0.%u\",\"version\":\"igmpv2\",\"mode\":\"exclude\"}",
                                                 VSM_LEARN_GROUPS_MAX + 1, ",");
                g_autofree char *ip4 = repeat("\"10.1.0.%u\"", VSM_LEARN_IP4_MAX + 1, ",");
                g_autofree char *ip6 = repeat("\"2001:db8::%u\"", VSM_LEARN_IP6_MAX + 1, ",");
                g_autofree char *host = g_strnfill(256, 'h');
                g_autofree char *cid = g_strnfill(2 * 256, 'a');

                hostile_add(gen, "sources+1",
                            g_strdup_printf(GROUP_J("\"address\":\"239.1.1.1\",\"version\":\"igmpv3\","
                                                    "\"mode\":\"exclude\",\"sources\":[%s]"), srcs),
                            "more than 32 entries");
                hostile_add(gen, "groups+1", g_strdup_printf(NIC_J(",\"groups\":[%s]"), groups), "more than 64 entries");
                hostile_add(gen, "ip4+1", g_strdup_printf(NIC_J(",\"ip4\":[%s]"), ip4), "more than 16 entries");
                hostile_add(gen, "ip6+1", g_strdup_printf(NIC_J(",\"ip6\":[%s]"), ip6), "more than 16 entries");
                hostile_add(gen, "hostname 256", g_strdup_printf(NIC_J(",\"hostname\":\"%s\""), host), "hostname");
                hostile_add(gen, "client-id 256",
                            g_strdup_printf("{\"mac\":\"" MAC_S "\",\"client_id\":{\"state\":\"sent\",\"value\":\"%s\"}}",
                                            cid), "at most 255 octets");
                hostile_add(gen, "huge integer",
                            g_strdup(LEASE_J("\"address\":\"10.0.0.1\",\"lease_time\":60,"
                                             "\"ack_time\":99999999999999999999999")), "");
        }

        for (size_t i = 0; i < G_N_ELEMENTS(table) + gen->len; i++) {
                const char *text = i < G_N_ELEMENTS(table) ? table[i].json :
                                                              g_array_index(gen, Hostile, i - G_N_ELEMENTS(table)).text;
                const char *want = i < G_N_ELEMENTS(table) ? table[i].want :
                                                              g_array_index(gen, Hostile, i - G_N_ELEMENTS(table)).want;
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonNode) node = json_from_string(text, &error);
                VsmNicState *s = (VsmNicState *) 0x1;

                if (!node) {
                        /* json-glib itself refused it: also fine */
                        g_test_message("json-glib refused: %s", error->message);
                        n++;
                        continue;
                }
                g_assert_false(vsm_nic_state_from_json(node, &s, &error));
                g_assert_true(s == (VsmNicState *) 0x1);
                g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
                if (!strstr(error->message, want))
                        g_error("case %zu: error \"%s\" does not mention \"%s\"", i, error->message, want);
                g_test_message("refused: %s", error->message);
                n++;
        }
        /* no node at all */
        {
                g_autoptr(GError) error = NULL;
                VsmNicState *s = (VsmNicState *) 0x1;

                g_assert_false(vsm_nic_state_from_json(NULL, &s, &error));
                g_assert_true(s == (VsmNicState *) 0x1);
                g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
        }
        g_assert_cmpuint(n, >=, 25);
}

#define ST(inner) "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\">" inner "</state>"
#define NIC_X(x) ST("<nic mac=\"" MAC_S "\"><client-id state=\"none\"/>" x "</nic>")
#define GROUP_X(attrs, x) NIC_X("<group " attrs ">" x "</group>")

static void test_xml_hostile(void) {
        static const struct {
                const char *xml;
                const char *want;
        } table[] = {
                { "hello", "not well-formed" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\"><nic", "not well-formed" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\"></stat>", "not well-formed" },
                { "<!DOCTYPE state [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>" NIC_X("<hostname>&b;</hostname>"),
                  "DOCTYPE" },
                { "<!DOCTYPE state SYSTEM \"file:///etc/passwd\">" ST(""), "DOCTYPE" },
                { "<!DOCTYPE state [<!ENTITY x SYSTEM \"http://192.0.2.1/x\">]>" NIC_X("<hostname>&x;</hostname>"),
                  "DOCTYPE" },
                { NIC_X("<hostname>&undeclared;</hostname>"), "not well-formed" },
                { "<state version=\"1\" generation=\"1\"/>", "not <state> in namespace" },
                { "<state xmlns=\"urn:other\" version=\"1\" generation=\"1\"/>", "not <state> in namespace" },
                { "<snapshot xmlns=\"" NS "\" version=\"1\" generation=\"1\"/>", "root element <snapshot>" },
                { "<state xmlns=\"" NS "\" version=\"2\" generation=\"1\"/>", "version '2'" },
                { "<state xmlns=\"" NS "\" generation=\"1\"/>", "version ''" },
                { "<state xmlns=\"" NS "\" version=\"1\"/>", "generation ''" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"-1\"/>", "generation '-1'" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"18446744073709551616\"/>", "not a number" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"007\"/>", "not a number" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\" 1\"/>", "not a number" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" token=\"0123456789ABCDEF0123456789ABCDEF\"/>",
                  "token" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" token=\"0123456789abcdef0123456789abcde\"/>",
                  "token" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" token=\"\"/>", "token" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"host&#9;:1\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"\"/>", "origin" },
                /* Host names are refused: a destination would trust the resolver. */
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"host-a.example:7788\"/>",
                  "host names are refused" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"localhost:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"10.77.9.1\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"10.77.9.1:0\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"2001:db8::1:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"[10.77.9.1]:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"[host]:7788\"/>", "origin" },
                /* addresses no other host reaches (a destination would
                 * connect to itself, or to whoever holds the scope) */
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"127.0.0.1:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"0.0.0.0:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"224.0.0.1:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"255.255.255.255:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"[::1]:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"[::]:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"[ff02::1]:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"[fe80::1]:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"[fe80::1%eth0]:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"[::ffff:127.0.0.1]:7788\"/>", "origin" },
                { "<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" color=\"red\"/>", "unknown attribute 'color'" },
                { "<state xmlns=\"" NS "\" xmlns:x=\"urn:x\" version=\"1\" generation=\"1\" x:version=\"1\"/>",
                  "in a namespace" },
                { ST("<bogus/>"), "unknown element <bogus>" },
                { ST("<x:nic xmlns:x=\"urn:x\" mac=\"" MAC_S "\"/>"), "foreign namespace" },
                { ST("hello"), "unexpected text" },
                { ST("<!-- a comment -->"), "unexpected content" },
                { ST("<?pi x?>"), "unexpected content" },
                { ST("<nic><client-id state=\"none\"/></nic>"), "missing mac" },
                { ST("<nic mac=\"ff:ff:ff:ff:ff:ff\"><client-id state=\"none\"/></nic>"), "not a unicast MAC" },
                { ST("<nic mac=\"" MAC_S "\"/>"), "missing <client-id>" },
                { NIC_X("<client-id state=\"none\"/>"), "more than one <client-id>" },
                { ST("<nic mac=\"" MAC_S "\"><client-id state=\"unknown\">01</client-id></nic>"), "a value with state unknown" },
                { ST("<nic mac=\"" MAC_S "\"><client-id state=\"sent\">xyz</client-id></nic>"), "not hex" },
                { ST("<nic mac=\"" MAC_S "\"><client-id>01</client-id></nic>"), "missing state" },
                { ST("<nic mac=\"" MAC_S "\"><client-id state=\"sent\"><b/></client-id></nic>"), "text only" },
                { NIC_X("<hostname/>"), "hostname ''" },
                { NIC_X("<hostname><![CDATA[vm]]></hostname>"), "text only" },
                { NIC_X("<hostname>a</hostname><hostname>b</hostname>"), "more than one <hostname>" },
                { NIC_X("<hostname>new\nline</hostname>"), "printable ASCII" },
                { NIC_X("<lease address=\"10.0.0.1\" time=\"60\" ack=\"1\"/><lease address=\"10.0.0.1\" time=\"60\" ack=\"1\"/>"),
                  "more than one <lease>" },
                { NIC_X("<lease address=\"10.0.0.1\" time=\"-1\" ack=\"1\"/>"), "lease time '-1'" },
                { NIC_X("<lease address=\"10.0.0.1\" time=\"4294967296\" ack=\"1\"/>"), "lease time" },
                { NIC_X("<lease address=\"10.0.0.1\" time=\"60\" ack=\"99999999999999999999999\"/>"), "lease ack" },
                { NIC_X("<lease address=\"10.0.0.1\" time=\"60\" ack=\"9223372036854775808\"/>"), "lease ack" },
                { NIC_X("<lease address=\"10.0.0.1\" time=\"0x10\" ack=\"1\"/>"), "lease time" },
                { NIC_X("<lease address=\"239.0.0.1\" time=\"60\" ack=\"1\"/>"), "not a unicast IPv4" },
                { NIC_X("<lease time=\"60\" ack=\"1\"/>"), "missing lease address" },
                { NIC_X("<lease address=\"10.0.0.1\" time=\"60\" ack=\"1\"><x/></lease>"), "unexpected element <x>" },
                { NIC_X("<lease address=\"10.0.0.1\" time=\"60\" ack=\"1\" t1=\"30\"/>"), "unknown attribute 't1'" },
                { GROUP_X("address=\"239.1.1.1\" version=\"mldv2\" mode=\"exclude\"", ""),
                  "nic " MAC_S ": group 239.1.1.1: version mldv2 does not match IPv4" },
                { GROUP_X("address=\"ff3e::1\" version=\"igmpv3\" mode=\"exclude\"", ""), "does not match IPv6" },
                { GROUP_X("address=\"239.1.1.1\" version=\"igmpv3\" mode=\"include\"", ""), "at least one source" },
                { GROUP_X("address=\"239.1.1.1\" version=\"igmpv3\" mode=\"include\"", "<source address=\"2001:db8::1\"/>"),
                  "not a unicast IPv4" },
                { GROUP_X("address=\"239.1.1.1\" version=\"igmpv3\" mode=\"include\"", "<src address=\"10.0.0.1\"/>"),
                  "unknown element <src>" },
                { GROUP_X("address=\"239.1.1.1\" version=\"igmpv3\" mode=\"include\"", "<source/>"), "missing address" },
                { NIC_X("<group address=\"239.1.1.1\" version=\"igmpv2\" mode=\"exclude\"/>"
                        "<group address=\"239.1.1.1\" version=\"igmpv3\" mode=\"exclude\"/>"), "duplicate group" },
                { NIC_X("<ip address=\"10.0.0.1\"/><ip address=\"10.0.0.1\"/>"), "duplicate ip" },
                { NIC_X("<ip address=\"300.1.1.1\"/>"), "not a unicast IP" },
                { NIC_X("<ip address=\"ff02::1\"/>"), "not a unicast IP" },
                { NIC_X("<ip address=\"10.0.0.1\">x</ip>"), "unexpected text" },
                { ST("<nic mac=\"" MAC_S "\"><client-id state=\"none\"/></nic><nic mac=\"52:54:00:12:34:56\">"
                     "<client-id state=\"none\"/></nic>"), "duplicate NIC" },
        };
        g_autoptr(GArray) gen = hostile_new();
        guint n = 0;

        {
                g_autofree char *nics = repeat("<nic mac=\"52:54:00:00:01:%02x\"><client-id state=\"none\"/></nic>",
                                               VSM_NETSTATE_NICS_MAX + 1, "");
                g_autofree char *groups = repeat("<group address=\"239.0.0.%u\" version=\"igmpv2\" mode=\"exclude\"/>",
                                                 VSM_LEARN_GROUPS_MAX + 1, "");
                g_autofree char *srcs = repeat("<source address=\"10.0.%u.1\"/>", VSM_LEARN_GROUP_SOURCES_MAX + 1, "");
                g_autofree char *ip4 = repeat("<ip address=\"10.1.0.%u\"/>", VSM_LEARN_IP4_MAX + 1, "");
                g_autofree char *ip6 = repeat("<ip address=\"2001:db8::%u\"/>", VSM_LEARN_IP6_MAX + 1, "");
                g_autofree char *origin = g_strnfill(256, 'o');
                g_autofree char *host = g_strnfill(256, 'h');
                g_autofree char *attrs = repeat("a%u=\"\"", 17, " ");
                g_autofree char *nsdecls = repeat("xmlns:n%u=\"urn:x\"", 17, " ");
                GString *big = g_string_new("<state xmlns=\"" NS "\" version=\"1\" generation=\"1\">");
                Hostile h;

                hostile_add(gen, "nics+1", g_strdup_printf(ST("%s"), nics), "more than 64 NICs");
                hostile_add(gen, "groups+1", g_strdup_printf(NIC_X("%s"), groups), "more than 64 groups");
                hostile_add(gen, "sources+1",
                            g_strdup_printf(GROUP_X("address=\"239.1.1.1\" version=\"igmpv3\" mode=\"exclude\"", "%s"),
                                            srcs), "more than 32 sources");
                hostile_add(gen, "ip4+1", g_strdup_printf(NIC_X("%s"), ip4), "more than 16 IPv4");
                hostile_add(gen, "ip6+1", g_strdup_printf(NIC_X("%s"), ip6), "more than 16 IPv6");
                hostile_add(gen, "origin 256",
                            g_strdup_printf("<state xmlns=\"" NS "\" version=\"1\" generation=\"1\" origin=\"%s\"/>", origin),
                            "origin");
                hostile_add(gen, "hostname 256", g_strdup_printf(NIC_X("<hostname>%s</hostname>"), host), "hostname");
                hostile_add(gen, "attrs", g_strdup_printf(ST("<nic %s/>"), attrs), "attributes");
                hostile_add(gen, "ns decls", g_strdup_printf(ST("<nic %s/>"), nsdecls), "namespace declarations");
                hostile_add(gen, "empty", g_strdup(""), "empty");
                hostile_add(gen, "invalid UTF-8", g_strdup(NIC_X("<hostname>\xff\xfe</hostname>")), "UTF-8");
                while (big->len <= 1024 * 1024)
                        g_string_append(big, "<!-- padding padding padding padding padding -->");
                g_string_append(big, "</state>");
                hostile_add(gen, "over 1 MiB", g_string_free(big, FALSE), "too large");
                /* NUL inside: the length says more than strlen */
                h = (Hostile) { "NUL", g_strdup(ST("<nic/>")), 0, "NUL" };
                h.text[20] = '\0';
                h.len = strlen(ST("<nic/>"));
                g_array_append_val(gen, h);
        }

        for (size_t i = 0; i < G_N_ELEMENTS(table) + gen->len; i++) {
                const Hostile *h = i >= G_N_ELEMENTS(table) ? &g_array_index(gen, Hostile, i - G_N_ELEMENTS(table)) :
                                                             NULL;
                const char *xml = h ? h->text : table[i].xml;
                const char *want = h ? h->want : table[i].want;
                gsize len = h && h->len ? h->len : strlen(xml);
                g_autoptr(GError) error = NULL;
                VsmDomainState *d = (VsmDomainState *) 0x1;

                if (vsm_domain_state_from_xml(xml, len, &d, &error))
                        g_error("case %zu accepted: %s", i, xml);
                g_assert_true(d == (VsmDomainState *) 0x1);
                g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
                if (!strstr(error->message, want))
                        g_error("case %zu: error \"%s\" does not mention \"%s\"", i, error->message, want);
                g_test_message("refused: %s", error->message);
                n++;
        }
        g_assert_cmpuint(n, >=, 25);
}

static void nic_state_free_void(gpointer p) {
        vsm_nic_state_free(p);
}

/* The destination's re-check: link-local and bad groups, addresses no
 * one owns, another vNIC's lease, and the nwfilter list of this host's
 * XML. */
static void test_recheck(void) {
        g_autoptr(VsmNicState) s = json_parse_ok(
                "{\"mac\":\"52:54:00:12:34:56\",\"client_id\":{\"state\":\"none\"},"
                "\"lease\":{\"address\":\"192.0.2.10\",\"lease_time\":600,\"ack_time\":1},"
                "\"groups\":[{\"address\":\"224.0.0.251\",\"version\":\"igmpv2\",\"mode\":\"exclude\"},"
                "{\"address\":\"239.1.1.1\",\"version\":\"igmpv2\",\"mode\":\"exclude\"},"
                "{\"address\":\"ff02::fb\",\"version\":\"mldv2\",\"mode\":\"exclude\"},"
                "{\"address\":\"ff05::3\",\"version\":\"mldv2\",\"mode\":\"exclude\"}],"
                "\"ip4\":[\"192.0.2.10\",\"192.0.2.1\"],"
                "\"ip6\":[\"fe80::1\",\"2001:db8::10\"]}");
        g_autoptr(VsmNicState) t = NULL;
        g_autoptr(VsmNicState) u = NULL;
        static const uint8_t loop4[4] = { 127, 0, 0, 1 };
        g_autoptr(GString) why = g_string_new(NULL);
        g_autoptr(VsmNicInfo) ni = g_new0(VsmNicInfo, 1);
        char buf[INET6_ADDRSTRLEN];

        /* The parsers refuse it; a state built otherwise may hold it. */
        g_array_append_vals(s->ip4, loop4, 1);
        t = vsm_nic_state_copy(s);
        u = vsm_nic_state_copy(s);

        /* No nwfilter list: only what no one may own goes. */
        g_assert_cmpuint(vsm_nic_state_recheck(s, NULL, NULL, why), ==, 3);
        g_assert_cmpstr(why->str, ==,
                        "group 224.0.0.251: link-local or not multicast; group ff02::fb: link-local or not "
                        "multicast; ip4 127.0.0.1: not a unicast address");
        g_assert_cmpuint(s->groups->len, ==, 2);
        g_assert_cmpuint(s->ip4->len, ==, 2);
        g_assert_cmpuint(s->ip6->len, ==, 2);
        g_assert_true(s->has_lease);
        g_assert_cmpuint(vsm_nic_state_recheck(s, NULL, NULL, NULL), ==, 0);

        /* IP=192.0.2.1 only (no IPv6 entry): the lease, 192.0.2.10 and
         * both IPv6 addresses go. */
        ni->ip_restricted = TRUE;
        ni->n_allowed_ips = 1;
        g_assert_cmpint(inet_pton(AF_INET, "192.0.2.1", ni->allowed_ips[0].address), ==, 1);
        g_string_truncate(why, 0);
        g_assert_cmpuint(vsm_nic_state_recheck(t, ni, NULL, why), ==, 3 + 1 + 2 + 1);
        g_assert_cmpuint(t->ip4->len, ==, 1);
        g_assert_cmpstr(inet_ntop(AF_INET, t->ip4->data, buf, sizeof(buf)), ==, "192.0.2.1");
        g_assert_cmpuint(t->ip6->len, ==, 0);
        g_assert_false(t->has_lease);
        g_assert_nonnull(strstr(why->str, "lease 192.0.2.10: not in the nwfilter IP list"));
        g_assert_nonnull(strstr(why->str, "ip6 fe80::1: not in the nwfilter IP list"));

        /* IP=192.0.2.10 and IPV6=2001:db8::10. */
        g_assert_cmpint(inet_pton(AF_INET, "192.0.2.10", ni->allowed_ips[0].address), ==, 1);
        ni->allowed_ips[1].is_ip6 = TRUE;
        g_assert_cmpint(inet_pton(AF_INET6, "2001:db8::10", ni->allowed_ips[1].address), ==, 1);
        ni->n_allowed_ips = 2;
        g_assert_cmpuint(vsm_nic_state_recheck(u, ni, NULL, NULL), ==, 2 + 2 + 1);
        g_assert_true(u->has_lease);
        g_assert_cmpuint(u->ip4->len, ==, 1);
        g_assert_cmpuint(u->ip6->len, ==, 1);
        g_assert_cmpstr(inet_ntop(AF_INET6, u->ip6->data, buf, sizeof(buf)), ==, "2001:db8::10");

        /* Another vNIC of the VM (VM2_MAC) leased 192.0.2.1: not ours to
         * announce; our own entry in siblings is skipped. */
        {
                g_autoptr(GPtrArray) siblings = g_ptr_array_new_with_free_func(nic_state_free_void);
                g_autoptr(VsmNicState) v = NULL;
                VsmNicState *other = vsm_nic_state_new(VM2_MAC);

                other->has_lease = TRUE;
                g_assert_cmpint(inet_pton(AF_INET, "192.0.2.1", other->lease_address), ==, 1);
                g_ptr_array_add(siblings, other);
                g_ptr_array_add(siblings, vsm_nic_state_copy(s));
                v = vsm_nic_state_copy(s);
                g_string_truncate(why, 0);
                g_assert_cmpuint(vsm_nic_state_recheck(v, NULL, siblings, why), ==, 1);
                g_assert_cmpstr(why->str, ==, "ip4 192.0.2.1: another vNIC's lease");
                g_assert_cmpuint(v->ip4->len, ==, 1);
                g_assert_cmpstr(inet_ntop(AF_INET, v->ip4->data, buf, sizeof(buf)), ==, "192.0.2.10");
                g_assert_true(v->has_lease);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/daemon/netstate/from-learner", test_from_learner);
        g_test_add_func("/daemon/netstate/from-learner-edges", test_from_learner_edges);
        g_test_add_func("/daemon/netstate/json-round-trip", test_json_round_trip);
        g_test_add_func("/daemon/netstate/equal", test_equal);
        g_test_add_func("/daemon/netstate/can-replay-dhcp", test_can_replay_dhcp);
        g_test_add_func("/daemon/netstate/recheck", test_recheck);
        g_test_add_func("/daemon/netstate/xml-round-trip", test_xml_round_trip);
        g_test_add_func("/daemon/netstate/domain-misc", test_domain_misc);
        g_test_add_func("/daemon/netstate/json-hostile", test_json_hostile);
        g_test_add_func("/daemon/netstate/xml-hostile", test_xml_hostile);
        return g_test_run();
}

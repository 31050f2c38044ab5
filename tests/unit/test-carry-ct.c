/* The destination's side of daemon/carry-ct.c that needs no peer: batches
 * re-checked against the carried vNIC states and installed by the worker
 * (in a network namespace of the test's own), and the rest of a source's
 * dump that comes after the takeover (vsimigd(8) CONNTRACK): while the
 * stream is open (a batch came, the delta's last did not) the takeover
 * keeps a copy of the states, and what still comes is installed against
 * them and counted as late.
 *
 * Needs root (the namespace).  Skipped without, unless CI=true. */
#include <arpa/inet.h>
#include <string.h>

#include "daemon/carry-ct.h"
#include "daemon/netstate.h"
#include "test-netns.h"
#include "test-util.h"

#define UUID "73770000-0000-4000-8000-c7c700000001"
#define IP "10.77.34.10"
#define PEER "10.77.34.1"

static const uint8_t mac[6] = { 0x02, 0x76, 0x73, 0x6d, 0x34, 0x01 };

static VsmCtEntry entry(uint16_t sport) {
        VsmCtEntry e = { .family = 4, .proto = 6, .tcp_state = 3, .timeout = 300,
                         .status = VSM_CT_IPS_SEEN_REPLY | VSM_CT_IPS_ASSURED };

        inet_pton(AF_INET, IP, e.orig_src);
        inet_pton(AF_INET, PEER, e.orig_dst);
        memcpy(e.repl_src, e.orig_dst, 4);
        memcpy(e.repl_dst, e.orig_src, 4);
        e.orig_sport = e.repl_dport = sport;
        e.orig_dport = e.repl_sport = 80;
        return e;
}

static VsmPeerMessage *batch(VsmPeerCtPhase phase, gboolean last, uint16_t sport) {
        VsmPeerMessage *m = g_new0(VsmPeerMessage, 1);
        VsmCtEntry e = entry(sport);

        m->type = VSM_PEER_MSG_CONNTRACK;
        g_strlcpy(m->domain, UUID, sizeof(m->domain));
        m->ct_phase = phase;
        m->ct_last = last;
        m->ct_entries = g_array_new(FALSE, FALSE, sizeof(VsmCtEntry));
        g_array_append_val(m->ct_entries, e);
        return m;
}

static void state_free(gpointer p) {
        vsm_nic_state_free(p);
}

static GPtrArray *states(void) {
        GPtrArray *a = g_ptr_array_new_with_free_func(state_free);
        VsmNicState *s = vsm_nic_state_new(mac);
        uint8_t ip[4];

        inet_pton(AF_INET, IP, ip);
        g_array_append_vals(s->ip4, ip, 1);
        g_ptr_array_add(a, s);
        return a;
}

static gint64 ct_get(VsmCtDomain *d, const char *name) {
        g_autoptr(JsonNode) n = vsm_ct_domain_to_json(d);

        return json_object_get_int_member(json_node_get_object(n), name);
}

static void wait_installed(VsmCtDomain *d, gint64 want) {
        for (int i = 0; i < 500 && ct_get(d, "installed") < want; i++) {
                while (g_main_context_iteration(NULL, FALSE))
                        ;
                g_usleep(10 * 1000);
        }
        g_assert_cmpint(ct_get(d, "installed"), ==, want);
}

static VsmConfig *config(void) {
        VsmConfig *c = vsm_config_new_default();

        c->ct_enabled = VSM_CONFIG_CT_ON;
        return c;
}

/* The source's dump ended after the SWITCHOVER: the pre-stage's first
 * batch came, the delta's last only after the takeover. */
static void test_late(void) {
        g_autoptr(VsmConfig) cfg = config();
        VsmCtCarry *cc = vsm_ct_carry_new(cfg, NULL, NULL);
        VsmCtDomain *d = vsm_ct_domain_new(cc, UUID);
        g_autoptr(GPtrArray) nics = states();
        g_autoptr(VsmPeerMessage) m1 = batch(VSM_PEER_CT_PRESTAGE, FALSE, 40000);
        g_autoptr(VsmPeerMessage) m2 = batch(VSM_PEER_CT_DELTA, FALSE, 40001);
        g_autoptr(VsmPeerMessage) m3 = batch(VSM_PEER_CT_DELTA, TRUE, 40002);

        g_assert_nonnull(cc);
        g_assert_false(vsm_ct_domain_stream_open(d));
        vsm_ct_domain_install(d, m1, nics);
        wait_installed(d, 1);
        g_assert_true(vsm_ct_domain_stream_open(d));
        /* TAKEOVER: the carried states go away (d->incoming is freed). */
        vsm_ct_domain_keep(d, nics);
        g_clear_pointer(&nics, g_ptr_array_unref);
        vsm_ct_domain_install(d, m2, NULL);
        g_assert_true(vsm_ct_domain_stream_open(d));
        vsm_ct_domain_install(d, m3, NULL);
        g_assert_false(vsm_ct_domain_stream_open(d));
        wait_installed(d, 3);
        g_assert_cmpint(ct_get(d, "late"), ==, 2);
        g_assert_cmpint(ct_get(d, "failed"), ==, 0);
        vsm_ct_domain_free(d);
        vsm_ct_carry_free(cc);
}

/* The usual order: the delta's last before the SWITCHOVER; the takeover
 * keeps nothing, nothing is late. */
static void test_not_late(void) {
        g_autoptr(VsmConfig) cfg = config();
        VsmCtCarry *cc = vsm_ct_carry_new(cfg, NULL, NULL);
        VsmCtDomain *d = vsm_ct_domain_new(cc, UUID);
        g_autoptr(GPtrArray) nics = states();
        g_autoptr(VsmPeerMessage) m1 = batch(VSM_PEER_CT_PRESTAGE, TRUE, 41000);
        g_autoptr(VsmPeerMessage) m2 = batch(VSM_PEER_CT_DELTA, TRUE, 41001);

        vsm_ct_domain_install(d, m1, nics);
        vsm_ct_domain_install(d, m2, nics);
        wait_installed(d, 2);
        g_assert_false(vsm_ct_domain_stream_open(d));
        vsm_ct_domain_keep(d, nics);
        g_assert_cmpint(ct_get(d, "late"), ==, 0);
        vsm_ct_domain_free(d);
        vsm_ct_carry_free(cc);
}

int main(int argc, char **argv) {
        int ret = 0;

        g_test_init(&argc, &argv, NULL);
        if (!vsm_test_netns_enter(&ret))
                return ret;
        g_test_add_func("/carry-ct/late", test_late);
        g_test_add_func("/carry-ct/not-late", test_not_late);
        return g_test_run();
}

/* Unit tests for the conntrack carry's pure part (proto/ct-record.c): the
 * record codec (round trip, every bound), the ownership filter, NAT
 * detection, the remaining-lifetime arithmetic, the zone map and the
 * install flags and status. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "proto/ct-record.h"
#include "test-util.h"

static VsmCtEntry tcp4(const char *src, const char *dst, uint16_t sport, uint16_t dport) {
        VsmCtEntry e = { .family = 4, .proto = 6, .tcp_state = 3, .zone = 0, .timeout = 300,
                         .status = VSM_CT_IPS_SEEN_REPLY | VSM_CT_IPS_ASSURED | VSM_CT_IPS_CONFIRMED,
                         .mark = 7, .wscale_orig = 7, .wscale_repl = 9, .tcpflags_orig = 0x23, .tcpflags_repl = 0x03 };

        g_assert_cmpint(inet_pton(AF_INET, src, e.orig_src), ==, 1);
        g_assert_cmpint(inet_pton(AF_INET, dst, e.orig_dst), ==, 1);
        memcpy(e.repl_src, e.orig_dst, 4);
        memcpy(e.repl_dst, e.orig_src, 4);
        e.orig_sport = e.repl_dport = sport;
        e.orig_dport = e.repl_sport = dport;
        return e;
}

static VsmCtEntry udp6(const char *src, const char *dst) {
        VsmCtEntry e = { .family = 6, .proto = 17, .zone = 9, .timeout = 30 };

        g_assert_cmpint(inet_pton(AF_INET6, src, e.orig_src), ==, 1);
        g_assert_cmpint(inet_pton(AF_INET6, dst, e.orig_dst), ==, 1);
        memcpy(e.repl_src, e.orig_dst, 16);
        memcpy(e.repl_dst, e.orig_src, 16);
        e.orig_sport = e.repl_dport = 5000;
        e.orig_dport = e.repl_sport = 5001;
        return e;
}

static void test_round_trip(void) {
        VsmCtEntry in[3] = { tcp4("10.77.1.10", "10.77.1.1", 40000, 80), udp6("fd77::10", "fd77::1"),
                             tcp4("10.77.1.10", "10.77.1.1", 40001, 80) };
        VsmCtEntry out[3];
        uint8_t buf[3 * VSM_CT_RECORD_LEN_IP6];
        VsmWriter w;

        in[2].flags = VSM_CT_F_DESTROYED;
        vsm_writer_init(&w, buf, sizeof(buf));
        for (int i = 0; i < 3; i++)
                g_assert_cmpint(vsm_ct_record_write(&w, &in[i]), ==, 0);
        g_assert_cmpuint(w.len, ==, 2 * VSM_CT_RECORD_LEN_IP4 + VSM_CT_RECORD_LEN_IP6);
        g_assert_cmpuint(vsm_ct_record_len(&in[0]), ==, VSM_CT_RECORD_LEN_IP4);
        g_assert_cmpuint(vsm_ct_record_len(&in[1]), ==, VSM_CT_RECORD_LEN_IP6);
        g_assert_cmpint(vsm_ct_records_decode(buf, w.len, out, 3), ==, 3);
        for (int i = 0; i < 3; i++)
                g_assert_cmpmem(&out[i], sizeof(out[i]), &in[i], sizeof(in[i]));
        /* The cap: a fourth would not fit in 2. */
        g_assert_cmpint(vsm_ct_records_decode(buf, w.len, out, 2), ==, -E2BIG);
        g_assert_cmpint(vsm_ct_records_decode(buf, 0, out, 2), ==, 0);
        /* Truncated anywhere: refused. */
        for (size_t cut = 1; cut < VSM_CT_RECORD_LEN_IP4; cut++)
                g_assert_cmpint(vsm_ct_records_decode(buf, VSM_CT_RECORD_LEN_IP4 - cut, out, 3), ==, -EBADMSG);
        /* A full writer. */
        vsm_writer_init(&w, buf, VSM_CT_RECORD_LEN_IP4 - 1);
        g_assert_cmpint(vsm_ct_record_write(&w, &in[0]), ==, -ENOBUFS);
        g_assert_cmpuint(w.len, ==, 0);
        in[0].family = 5;
        g_assert_cmpint(vsm_ct_record_write(&w, &in[0]), ==, -EINVAL);
}

/* One field of a good record set to a bad value: refused. */
static void test_bounds(void) {
        static const struct {
                size_t off;
                uint8_t v;
                const char *what;
        } bad[] = {
                { 0, 5, "family" },
                { 2, 2, "flags" },
                { 3, VSM_CT_TCP_STATE_MAX, "tcp state" },
                { 5, 1, "zone > 65535" },
                { 16, 0x20, "timeout > max" },
                { 20, VSM_CT_WSCALE_MAX + 1, "wscale orig" },
                { 21, VSM_CT_WSCALE_MAX + 1, "wscale reply" },
        };
        VsmCtEntry e = tcp4("10.77.1.10", "10.77.1.1", 40000, 80), out;
        uint8_t good[VSM_CT_RECORD_LEN_IP4], buf[VSM_CT_RECORD_LEN_IP4];
        VsmWriter w;

        vsm_writer_init(&w, good, sizeof(good));
        g_assert_cmpint(vsm_ct_record_write(&w, &e), ==, 0);
        g_assert_cmpint(vsm_ct_records_decode(good, sizeof(good), &out, 1), ==, 1);
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                memcpy(buf, good, sizeof(buf));
                buf[bad[i].off] = bad[i].v;
                if (vsm_ct_records_decode(buf, sizeof(buf), &out, 1) != -EBADMSG)
                        g_error("a record with a bad %s was taken", bad[i].what);
        }
        /* A TCP state on a UDP entry. */
        memcpy(buf, good, sizeof(buf));
        buf[1] = 17;
        g_assert_cmpint(vsm_ct_records_decode(buf, sizeof(buf), &out, 1), ==, -EBADMSG);
        /* The largest timeout and zone pass. */
        e.timeout = VSM_CT_TIMEOUT_MAX;
        e.zone = 0xffff;
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_ct_record_write(&w, &e), ==, 0);
        g_assert_cmpint(vsm_ct_records_decode(buf, sizeof(buf), &out, 1), ==, 1);
        g_assert_cmpuint(out.zone, ==, 0xffff);
}

static void test_ownership(void) {
        VsmCtOwned o = {};
        uint8_t a[16];
        unsigned nic = 99;
        VsmCtEntry out_flow = tcp4("10.77.1.10", "10.77.1.1", 40000, 80);
        VsmCtEntry in_flow = tcp4("10.77.1.2", "10.77.1.10", 50000, 22);
        VsmCtEntry other = tcp4("10.77.1.99", "10.77.1.1", 40000, 80);
        VsmCtEntry v6 = udp6("fd77::1", "fd77::20");
        VsmCtEntry dnat = tcp4("10.77.1.2", "192.0.2.80", 50000, 80);

        inet_pton(AF_INET, "10.77.1.10", a);
        g_assert_cmpint(vsm_ct_owned_add(&o, 4, a, 0), ==, 0);
        g_assert_cmpint(vsm_ct_owned_add(&o, 4, a, 0), ==, 0);   /* no duplicate */
        g_assert_cmpuint(o.n, ==, 1);
        inet_pton(AF_INET6, "fd77::20", a);
        g_assert_cmpint(vsm_ct_owned_add(&o, 6, a, 1), ==, 0);
        g_assert_cmpint(vsm_ct_owned_add(&o, 5, a, 1), ==, -EINVAL);

        g_assert_true(vsm_ct_owned_match(&o, &out_flow, &nic));
        g_assert_cmpuint(nic, ==, 0);
        g_assert_true(vsm_ct_owned_match(&o, &in_flow, NULL));
        g_assert_false(vsm_ct_owned_match(&o, &other, NULL));
        nic = 99;
        g_assert_true(vsm_ct_owned_match(&o, &v6, &nic));
        g_assert_cmpuint(nic, ==, 1);
        /* DNAT to the VM: only the reply source is the VM's. */
        inet_pton(AF_INET, "10.77.1.10", dnat.repl_src);
        g_assert_true(vsm_ct_owned_match(&o, &dnat, NULL));
        /* The same bytes in the other family are not the address. */
        memset(a, 0, sizeof(a));
        other.family = 6;
        inet_pton(AF_INET, "10.77.1.10", other.orig_src);
        g_assert_false(vsm_ct_owned_match(&o, &other, NULL));

        g_assert_cmpint(vsm_ct_entry_check(&out_flow, &o, false, NULL), ==, -1);
        g_assert_cmpint(vsm_ct_entry_check(&dnat, &o, false, NULL), ==, VSM_CT_SKIP_NAT);
        g_assert_cmpint(vsm_ct_entry_check(&dnat, &o, true, NULL), ==, -1);
        other = tcp4("10.77.1.99", "10.77.1.1", 1, 2);
        g_assert_cmpint(vsm_ct_entry_check(&other, &o, false, NULL), ==, VSM_CT_SKIP_NOT_OWNED);
        out_flow.proto = 1;
        g_assert_cmpint(vsm_ct_entry_check(&out_flow, &o, false, NULL), ==, VSM_CT_SKIP_PROTOCOL);
        out_flow.proto = 132;
        g_assert_cmpint(vsm_ct_entry_check(&out_flow, &o, false, NULL), ==, VSM_CT_SKIP_PROTOCOL);

        /* Full. */
        o.n = 0;
        for (unsigned i = 0; i < VSM_CT_OWNED_MAX; i++) {
                memset(a, 0, sizeof(a));
                a[0] = 10, a[1] = (uint8_t) (i >> 8), a[2] = (uint8_t) i;
                g_assert_cmpint(vsm_ct_owned_add(&o, 4, a, 0), ==, 0);
        }
        a[3] = 1;
        g_assert_cmpint(vsm_ct_owned_add(&o, 4, a, 0), ==, -ENOSPC);
}

static void test_nat(void) {
        VsmCtEntry e = tcp4("10.77.1.10", "10.77.1.1", 40000, 80);

        g_assert_false(vsm_ct_entry_is_nat(&e));
        e.status |= VSM_CT_IPS_SRC_NAT;
        g_assert_true(vsm_ct_entry_is_nat(&e));
        e.status = VSM_CT_IPS_DST_NAT;
        g_assert_true(vsm_ct_entry_is_nat(&e));
        /* Masquerade: the reply goes to the host's address. */
        e = tcp4("10.77.1.10", "10.77.1.1", 40000, 80);
        inet_pton(AF_INET, "10.77.200.1", e.repl_dst);
        g_assert_true(vsm_ct_entry_is_nat(&e));
        /* A port mapping alone. */
        e = tcp4("10.77.1.10", "10.77.1.1", 40000, 80);
        e.repl_dport = 61000;
        g_assert_true(vsm_ct_entry_is_nat(&e));
        e = tcp4("10.77.1.10", "10.77.1.1", 40000, 80);
        e.repl_sport = 8080;
        g_assert_true(vsm_ct_entry_is_nat(&e));
        e = tcp4("10.77.1.10", "10.77.1.1", 40000, 80);
        inet_pton(AF_INET, "10.77.1.5", e.repl_src);
        g_assert_true(vsm_ct_entry_is_nat(&e));
}

static void test_timeout(void) {
        const uint64_t s = 1000000;

        g_assert_cmpuint(vsm_ct_timeout_remaining(300, 10 * s, 10 * s), ==, 300);
        g_assert_cmpuint(vsm_ct_timeout_remaining(300, 10 * s, 10 * s + s / 2), ==, 300);  /* partial second kept */
        g_assert_cmpuint(vsm_ct_timeout_remaining(300, 10 * s, 110 * s), ==, 200);
        g_assert_cmpuint(vsm_ct_timeout_remaining(300, 10 * s, 309 * s), ==, 1);
        g_assert_cmpuint(vsm_ct_timeout_remaining(300, 10 * s, 310 * s), ==, 1);           /* never 0 */
        g_assert_cmpuint(vsm_ct_timeout_remaining(300, 10 * s, 9999 * s), ==, 1);
        g_assert_cmpuint(vsm_ct_timeout_remaining(300, 10 * s, 5 * s), ==, 300);           /* clock before: none elapsed */
        g_assert_cmpuint(vsm_ct_timeout_remaining(UINT32_MAX, 0, 0), ==, VSM_CT_TIMEOUT_MAX);
        g_assert_cmpuint(vsm_ct_timeout_remaining(0, 0, 0), ==, 1);
}

static void test_zone_map(void) {
        static const char *const bad[] = {
                "65536", "-1", "zone", "br0:", ":5", "br0:5,br0:6", "br0:5,", "br0:70000", "br0:5 6",
                "averyveryverylongbridge:1", "a/b:1", "br0=5", ",",
        };
        VsmCtZoneMap m;

        g_assert_cmpint(vsm_ct_zone_map_parse("keep", &m), ==, 0);
        g_assert_cmpint(m.mode, ==, VSM_CT_ZONE_KEEP);
        g_assert_cmpuint(vsm_ct_zone_map_apply(&m, "br0", 12), ==, 12);
        g_assert_cmpint(vsm_ct_zone_map_parse(" 7 ", &m), ==, 0);
        g_assert_cmpint(m.mode, ==, VSM_CT_ZONE_FIXED);
        g_assert_cmpuint(vsm_ct_zone_map_apply(&m, "br0", 12), ==, 7);
        g_assert_cmpuint(vsm_ct_zone_map_apply(&m, NULL, 12), ==, 7);
        g_assert_cmpint(vsm_ct_zone_map_parse("br0:5, br-int:65535", &m), ==, 0);
        g_assert_cmpint(m.mode, ==, VSM_CT_ZONE_BRIDGES);
        g_assert_cmpuint(m.n, ==, 2);
        g_assert_cmpuint(vsm_ct_zone_map_apply(&m, "br0", 12), ==, 5);
        g_assert_cmpuint(vsm_ct_zone_map_apply(&m, "br-int", 12), ==, 65535);
        g_assert_cmpuint(vsm_ct_zone_map_apply(&m, "br1", 12), ==, 12);    /* not named: kept */
        g_assert_cmpuint(vsm_ct_zone_map_apply(&m, NULL, 12), ==, 12);
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                if (vsm_ct_zone_map_parse(bad[i], &m) != -EINVAL)
                        g_error("zone map \"%s\" was taken", bad[i]);
        g_assert_cmpint(vsm_ct_zone_map_parse(NULL, &m), ==, -EINVAL);
}

static void test_install_flags(void) {
        VsmCtEntry e = tcp4("10.77.1.10", "10.77.1.1", 40000, 80);
        uint8_t f, m;

        /* Window scale and SACK kept, MAXACK_SET (0x20) dropped: td_maxack
         * does not travel; BE_LIBERAL always. */
        vsm_ct_tcp_install_flags(0x23, &f, &m);
        g_assert_cmphex(f, ==, VSM_CT_TCP_FLAG_WINDOW_SCALE | VSM_CT_TCP_FLAG_SACK_PERM | VSM_CT_TCP_FLAG_BE_LIBERAL);
        g_assert_cmphex(m, ==, 0xff);
        vsm_ct_tcp_install_flags(0, &f, &m);
        g_assert_cmphex(f, ==, VSM_CT_TCP_FLAG_BE_LIBERAL);
        e.status |= VSM_CT_IPS_SRC_NAT | 0x200 /* DYING */ | 0x1 /* EXPECTED */;
        g_assert_cmphex(vsm_ct_install_status(&e, false), ==, VSM_CT_IPS_SEEN_REPLY | VSM_CT_IPS_ASSURED);
        g_assert_cmphex(vsm_ct_install_status(&e, true), ==,
                        VSM_CT_IPS_SEEN_REPLY | VSM_CT_IPS_ASSURED | VSM_CT_IPS_SRC_NAT);
        g_assert_cmpstr(vsm_ct_skip_to_string(VSM_CT_SKIP_NOT_OWNED), ==, "not_owned");
        g_assert_cmpstr(vsm_ct_skip_to_string(_VSM_CT_SKIP_MAX), ==, "invalid");
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/proto-ct-record/round-trip", test_round_trip);
        g_test_add_func("/proto-ct-record/bounds", test_bounds);
        g_test_add_func("/proto-ct-record/ownership", test_ownership);
        g_test_add_func("/proto-ct-record/nat", test_nat);
        g_test_add_func("/proto-ct-record/timeout", test_timeout);
        g_test_add_func("/proto-ct-record/zone-map", test_zone_map);
        g_test_add_func("/proto-ct-record/install-flags", test_install_flags);
        return g_test_run();
}

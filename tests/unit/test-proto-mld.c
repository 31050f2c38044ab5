/* Unit tests for src/proto/mld.c: MLDv1/v2 decoding and encoding.
 *
 * vectors/mld-v1-report, -v1-done, -v2-report, -v1-query and -v2-query.hex
 * are what vsm_mld_frame_write() builds.  tshark 4.0 (text2pcap + tshark
 * -V) reads each with source fe80::5054:ff:fe12:3456 (EUI-64 of
 * 52:54:00:12:34:56; fe80::ff:fe00:2 for the querier 02:00:00:00:00:02),
 * hop limit 1, a hop-by-hop header with "Router Alert: MLD (0)" and PadN,
 * ICMPv6 checksum [correct], no expert info; destinations ff05::1:3
 * (33:33:00:01:00:03) for the v1 report, ff02::2 for done, ff02::16
 * (33:33:00:00:00:16) for the v2 report (2 records: Exclude ff05::1:3,
 * Changed to include ff3e::1234 with 2 sources), ff02::1 for queries.
 * mld-v2-report-ext.hex (hop-by-hop + destination options) comes from the
 * independent Python builder (README-inet.md).
 */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/mld.h"
#include "test-util.h"

static const uint8_t VM_MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t Q_MAC[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t G1[16] = { 0xff, 0x05, [13] = 0x01, [15] = 0x03 };
static const uint8_t G2[16] = { 0xff, 0x3e, [14] = 0x12, [15] = 0x34 };

#define LL_HEX "fe80000000000000505400fffe123456"

static const uint8_t *bytes_data(GBytes *b, size_t *ret_len) {
        gsize len;
        const uint8_t *p = g_bytes_get_data(b, &len);

        *ret_len = len;
        return p;
}

static void assert_same(const VsmMldMessage *a, const VsmMldMessage *b) {
        g_assert_cmpuint(a->type, ==, b->type);
        g_assert_cmpuint(a->version, ==, b->version);
        g_assert_cmpuint(a->max_resp_code, ==, b->max_resp_code);
        g_assert_cmpmem(a->group, 16, b->group, 16);
        g_assert_cmpint(a->suppress, ==, b->suppress);
        g_assert_cmpuint(a->qrv, ==, b->qrv);
        g_assert_cmpuint(a->qqic, ==, b->qqic);
        g_assert_cmpuint(a->n_records, ==, b->n_records);
        g_assert_cmpuint(a->n_sources, ==, b->n_sources);
        for (uint16_t i = 0; i < a->n_records; i++) {
                g_assert_cmpuint(a->records[i].type, ==, b->records[i].type);
                g_assert_cmpmem(a->records[i].group, 16, b->records[i].group, 16);
                g_assert_cmpuint(a->records[i].n_sources, ==, b->records[i].n_sources);
                g_assert_cmpuint(a->records[i].first_source, ==, b->records[i].first_source);
        }
        g_assert_cmpmem(a->sources, a->n_sources * 16u, b->sources, b->n_sources * 16u);
}

static void msg_v1_report(VsmMldMessage *m) {
        memset(m, 0, sizeof(*m));
        m->type = VSM_MLD_V1_REPORT;
        m->version = 1;
        memcpy(m->group, G1, 16);
}

static void msg_v1_done(VsmMldMessage *m) {
        msg_v1_report(m);
        m->type = VSM_MLD_V1_DONE;
}

static void msg_v2_report(VsmMldMessage *m) {
        memset(m, 0, sizeof(*m));
        m->type = VSM_MLD_V2_REPORT;
        m->version = 2;
        m->n_records = 2;
        m->records[0] = (VsmMldRecord) { .type = VSM_MCAST_MODE_IS_EXCLUDE };
        memcpy(m->records[0].group, G1, 16);
        m->records[1] = (VsmMldRecord) { .type = VSM_MCAST_CHANGE_TO_INCLUDE, .n_sources = 2 };
        memcpy(m->records[1].group, G2, 16);
        m->n_sources = 2;
        memcpy(m->sources[0], (const uint8_t[16]) { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, 16);
        memcpy(m->sources[1], (const uint8_t[16]) { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 }, 16);
}

static void msg_v1_query(VsmMldMessage *m) {
        memset(m, 0, sizeof(*m));
        m->type = VSM_MLD_QUERY;
        m->version = 1;
        m->max_resp_code = 10000;
}

static void msg_v2_query(VsmMldMessage *m) {
        msg_v1_query(m);
        m->version = 2;
        m->qrv = 2;
        m->qqic = 125;
}

static const struct {
        const char *file;
        void (*make)(VsmMldMessage *m);
        bool from_querier;
        const char *dst;
} build_cases[] = {
        { "vectors/mld-v1-report.hex", msg_v1_report, false, "ff050000000000000000000000010003" },
        { "vectors/mld-v1-done.hex", msg_v1_done, false, "ff020000000000000000000000000002" },
        { "vectors/mld-v2-report.hex", msg_v2_report, false, "ff020000000000000000000000000016" },
        { "vectors/mld-v1-query.hex", msg_v1_query, true, "ff020000000000000000000000000001" },
        { "vectors/mld-v2-query.hex", msg_v2_query, true, "ff020000000000000000000000000001" },
};

static void test_build(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(build_cases); i++) {
                g_autoptr(GBytes) want = vsm_test_hex_file(build_cases[i].file);
                size_t want_len;
                const uint8_t *want_data = bytes_data(want, &want_len);
                const uint8_t *mac = build_cases[i].from_querier ? Q_MAC : VM_MAC;
                VsmMldMessage m;
                VsmMldFrame f;
                uint8_t buf[VSM_ETH_FRAME_MAX], emac[6];
                VsmWriter w;
                VsmReader r;

                g_test_message("mld build %s", build_cases[i].file);
                build_cases[i].make(&m);
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_mld_frame_write(&w, mac, NULL, &m), ==, 0);
                g_assert_cmpmem(buf, w.len, want_data, want_len);

                vsm_reader_init(&r, buf, w.len);
                g_assert_cmpint(vsm_mld_frame_parse(&r, &f), ==, 0);
                assert_same(&f.msg, &m);
                g_assert_cmpuint(f.ip.hop_limit, ==, 1);
                g_assert_true(f.ip.router_alert);
                g_assert_cmpuint(f.ip.router_alert_value, ==, VSM_IP6_RA_MLD);
                if (!build_cases[i].from_querier)
                        vsm_assert_hex(f.ip.src, 16, LL_HEX);
                vsm_assert_hex(f.ip.dst, 16, build_cases[i].dst);
                vsm_ip6_multicast_mac(f.ip.dst, emac);
                g_assert_cmpmem(f.eth.dst, 6, emac, 6);

                for (size_t cap = 0; cap < w.len; cap++) {
                        VsmWriter sw;

                        vsm_writer_init(&sw, buf, cap);
                        g_assert_cmpint(vsm_mld_frame_write(&sw, mac, NULL, &m), ==, -ENOBUFS);
                        g_assert_cmpuint(sw.len, ==, 0);
                }
        }
}

static void test_given_source(void) {
        static const uint8_t src[16] = { 0xfe, 0x80, [15] = 0x77 };
        VsmMldMessage m;
        VsmMldFrame f;
        uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmWriter w;
        VsmReader r;

        msg_v2_report(&m);
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_mld_frame_write(&w, VM_MAC, src, &m), ==, 0);
        vsm_reader_init(&r, buf, w.len);
        g_assert_cmpint(vsm_mld_frame_parse(&r, &f), ==, 0);
        g_assert_cmpmem(f.ip.src, 16, src, 16);
}

static void test_ext_vector(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/mld-v2-report-ext.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmMldFrame f;
        VsmReader r;

        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_mld_frame_parse(&r, &f), ==, 0);
        g_assert_cmpuint(f.ip.n_ext, ==, 2);
        g_assert_true(f.ip.router_alert);
        g_assert_cmpuint(f.msg.type, ==, VSM_MLD_V2_REPORT);
        g_assert_cmpuint(f.msg.n_records, ==, 1);
        g_assert_cmpuint(f.msg.records[0].type, ==, VSM_MCAST_ALLOW_NEW_SOURCES);
        g_assert_cmpmem(f.msg.records[0].group, 16, G1, 16);
        g_assert_cmpuint(f.msg.n_sources, ==, 1);
        vsm_assert_hex(f.msg.sources[0], 16, "20010db8000000000000000000000001");
}

#define G_HEX "ff050000000000000000000000010003"
#define S_HEX "20010db8000000000000000000000001"

static const struct {
        const char *name;
        const char *hex;
        int expect;
        uint8_t version;
} msg_cases[] = {
        { "3 octets", "830000", -EBADMSG, 0 },
        { "v1 report", "83000000 0000 0000" G_HEX, 0, 1 },
        { "v1 report truncated", "83000000 0000 0000 ff05", -EBADMSG, 0 },
        { "v1 done with trailing", "84000000 0000 0000" G_HEX "abcd", 0, 1 },
        { "v1 query", "82000000 2710 0000" G_HEX, 0, 1 },
        { "query 25 octets", "82000000 2710 0000" G_HEX "02", -EBADMSG, 0 },
        { "query 27 octets", "82000000 2710 0000" G_HEX "027d00", -EBADMSG, 0 },
        { "v2 query", "82000000 2710 0000" G_HEX "027d0000", 0, 2 },
        { "v2 query 1 source", "82000000 2710 0000" G_HEX "0a7d0001" S_HEX, 0, 2 },
        { "v2 query sources truncated", "82000000 2710 0000" G_HEX "027d0002" S_HEX, -EBADMSG, 0 },
        { "v2 query 65 sources", "82000000 2710 0000" G_HEX "027d0041", -EMSGSIZE, 0 },
        { "not MLD: echo request", "80000000 00010001", -EBADMSG, 0 },
        { "not MLD: NS", "87000000 00000000" S_HEX, -EBADMSG, 0 },
        { "v2 report 7 octets", "8f000000 000000", -EBADMSG, 0 },
        { "v2 report no records", "8f000000 00000000", 0, 2 },
        { "v2 report record truncated", "8f000000 00000001 02000000 ff05", -EBADMSG, 0 },
        { "v2 report 2 records, 1 present", "8f000000 00000002 02000000" G_HEX, -EBADMSG, 0 },
        { "v2 report 65 records", "8f000000 00000041", -EMSGSIZE, 0 },
        { "v2 record 65 sources", "8f000000 00000001 02000041" G_HEX, -EMSGSIZE, 0 },
        { "v2 record aux past end", "8f000000 00000001 02010000" G_HEX "000000", -EBADMSG, 0 },
        { "v2 unknown record skipped", "8f000000 00000002 07000001" G_HEX S_HEX "01000000" G_HEX, 0, 2 },
};

static void test_message_errors(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(msg_cases); i++) {
                g_autoptr(GBytes) b = vsm_test_hex(msg_cases[i].hex);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmMldMessage m;
                VsmReader r;
                int k;

                g_test_message("mld %s", msg_cases[i].name);
                memset(&m, 0xa5, sizeof(m));
                vsm_reader_init(&r, data, len);
                k = vsm_mld_message_parse(&r, &m);
                g_assert_cmpint(k, ==, msg_cases[i].expect);
                if (k < 0) {
                        g_assert_cmpuint(r.off, ==, 0);
                        g_assert_cmphex(m.type, ==, 0xa5);
                        continue;
                }
                g_assert_cmpuint(m.version, ==, msg_cases[i].version);
                g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
                if (strcmp(msg_cases[i].name, "v2 unknown record skipped") == 0) {
                        g_assert_cmpuint(m.n_records, ==, 1);
                        g_assert_cmpuint(m.n_sources, ==, 0);
                        g_assert_cmpuint(m.records[0].first_source, ==, 0);
                }
        }
}

static GBytes *make_v2_report(unsigned n_records, unsigned n_src) {
        GByteArray *a = g_byte_array_new();
        uint8_t hdr[8] = { 143, 0, 0, 0, 0, 0, (uint8_t) (n_records >> 8), (uint8_t) n_records };

        g_byte_array_append(a, hdr, sizeof(hdr));
        for (unsigned i = 0; i < n_records; i++) {
                uint8_t rec[20] = { 1, 0, (uint8_t) (n_src >> 8), (uint8_t) n_src, 0xff, 0x3e, [19] = (uint8_t) i };

                g_byte_array_append(a, rec, sizeof(rec));
                for (unsigned j = 0; j < n_src; j++) {
                        uint8_t s[16] = { 0x20, 0x01, 0x0d, 0xb8, [14] = (uint8_t) i, [15] = (uint8_t) j };
                        g_byte_array_append(a, s, 16);
                }
        }
        return g_byte_array_free_to_bytes(a);
}

static void test_caps(void) {
        static const struct {
                unsigned records, sources;
                int expect;
        } cases[] = {
                { 64, 4, 0 },          /* 256 sources: the message cap */
                { 64, 0, 0 },
                { 1, 64, 0 },
                { 5, 64, -EMSGSIZE },  /* 320 sources */
                { 65, 0, -EMSGSIZE },
                { 1, 65, -EMSGSIZE },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) b = make_v2_report(cases[i].records, cases[i].sources);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmMldMessage m, again;
                uint8_t buf[16384];
                VsmReader r;
                VsmWriter w;

                vsm_reader_init(&r, data, len);
                g_assert_cmpint(vsm_mld_message_parse(&r, &m), ==, cases[i].expect);
                if (cases[i].expect < 0)
                        continue;
                g_assert_cmpuint(m.n_records, ==, cases[i].records);
                g_assert_cmpuint(m.n_sources, ==, cases[i].records * cases[i].sources);

                /* The message encoder leaves the checksum zero: identical. */
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_mld_message_write(&w, &m), ==, 0);
                g_assert_cmpmem(buf, w.len, data, len);
                vsm_reader_init(&r, buf, w.len);
                g_assert_cmpint(vsm_mld_message_parse(&r, &again), ==, 0);
                assert_same(&m, &again);
        }
}

static void test_frame_errors(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/mld-v2-report.hex");
        g_autoptr(GBytes) igmp = vsm_test_hex_file("vectors/igmp-v3-report.hex");
        g_autoptr(GBytes) na = vsm_test_hex_file("vectors/ndisc-unsolicited-na.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        uint8_t copy[VSM_ETH_FRAME_MAX];
        VsmMldFrame f;
        VsmReader r;

        /* Flipped bit in the group: ICMPv6 checksum mismatch. */
        memcpy(copy, data, len);
        copy[14 + 48 + 12] ^= 0x01;
        vsm_reader_init(&r, copy, len);
        g_assert_cmpint(vsm_mld_frame_parse(&r, &f), ==, -EBADMSG);
        g_assert_cmpuint(r.off, ==, 0);
        /* Flipped bit in the source address: pseudo-header mismatch. */
        memcpy(copy, data, len);
        copy[14 + 8 + 15] ^= 0x01;
        vsm_reader_init(&r, copy, len);
        g_assert_cmpint(vsm_mld_frame_parse(&r, &f), ==, -EBADMSG);
        /* Truncated: payload length past the frame. */
        vsm_reader_init(&r, data, len - 1);
        g_assert_cmpint(vsm_mld_frame_parse(&r, &f), ==, -EBADMSG);
        /* IPv4; and ICMPv6 that is not MLD. */
        data = bytes_data(igmp, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_mld_frame_parse(&r, &f), ==, -EBADMSG);
        data = bytes_data(na, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_mld_frame_parse(&r, &f), ==, -EBADMSG);
}

static void test_write_errors(void) {
        VsmMldMessage m;
        uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmWriter w;

        vsm_writer_init(&w, buf, sizeof(buf));
        msg_v2_report(&m);
        m.type = 135;
        g_assert_cmpint(vsm_mld_message_write(&w, &m), ==, -EINVAL);
        g_assert_cmpint(vsm_mld_frame_write(&w, VM_MAC, NULL, &m), ==, -EINVAL);
        msg_v2_report(&m);
        m.n_records = VSM_MLD_RECORDS_MAX + 1;
        g_assert_cmpint(vsm_mld_message_write(&w, &m), ==, -EMSGSIZE);
        msg_v2_report(&m);
        m.records[1].first_source = 1;          /* 1 + 2 > pool of 2 */
        g_assert_cmpint(vsm_mld_message_write(&w, &m), ==, -EINVAL);
        msg_v2_report(&m);
        m.n_sources = VSM_MLD_SOURCES_MAX + 1;
        g_assert_cmpint(vsm_mld_message_write(&w, &m), ==, -EINVAL);
        g_assert_cmpuint(w.len, ==, 0);
}

static void test_code(void) {
        g_assert_cmpuint(vsm_mld_code_to_value(10000), ==, 10000);
        g_assert_cmpuint(vsm_mld_code_to_value(32767), ==, 32767);
        g_assert_cmpuint(vsm_mld_code_to_value(0x8000), ==, 32768);
        g_assert_cmpuint(vsm_mld_code_to_value(0xffff), ==, 0x1fffu << 10);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/mld/build", test_build);
        g_test_add_func("/proto/mld/given-source", test_given_source);
        g_test_add_func("/proto/mld/ext-vector", test_ext_vector);
        g_test_add_func("/proto/mld/message-errors", test_message_errors);
        g_test_add_func("/proto/mld/caps", test_caps);
        g_test_add_func("/proto/mld/frame-errors", test_frame_errors);
        g_test_add_func("/proto/mld/write-errors", test_write_errors);
        g_test_add_func("/proto/mld/code", test_code);

        return g_test_run();
}

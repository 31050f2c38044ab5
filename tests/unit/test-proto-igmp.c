/* Unit tests for src/proto/igmp.c: IGMPv1/v2/v3 decoding and encoding.
 *
 * vectors/igmp-v2-report, -v2-leave, -v2-query, -v3-query, -v3-query-gss
 * and -v3-report.hex are what vsm_igmp_frame_write() builds.  tshark 4.0
 * (text2pcap + tshark -V, ip.check_checksum on) reads each with IPv4
 * header length 24, Router Alert "Router shall examine packet (0)", TTL
 * 1, DF, IP and IGMP checksums [correct], no expert info; destinations
 * 239.1.2.3 (01:00:5e:01:02:03) for the v2 report, 224.0.0.2 for the
 * leave, 224.0.0.1 for general queries, 224.0.0.22 (01:00:5e:00:00:16) for
 * the v3 report with its 3 records (Mode Is Exclude 239.1.2.3, Mode Is
 * Include 232.1.1.1 with sources 192.0.2.1 and .2, Allow New Sources
 * 232.2.2.2 with 198.51.100.7), and for the group-and-source-specific
 * query S=1, QRV 2, QQIC 125, 2 sources, Max Resp Time 20.8 s (0x8a).
 * igmp-v1-*.hex and igmp-v3-report-aux.hex come from the independent
 * Python builder (README-inet.md).
 */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/igmp.h"
#include "test-util.h"

static const uint8_t VM_MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t VM_IP[4] = { 192, 0, 2, 10 };
static const uint8_t Q_MAC[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t Q_IP[4] = { 192, 0, 2, 1 };

static const uint8_t *bytes_data(GBytes *b, size_t *ret_len) {
        gsize len;
        const uint8_t *p = g_bytes_get_data(b, &len);

        *ret_len = len;
        return p;
}

static void set4(uint8_t *dst, uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
        dst[0] = a;
        dst[1] = b;
        dst[2] = c;
        dst[3] = d;
}

/* Compare two messages up to their counts. */
static void assert_same(const VsmIgmpMessage *a, const VsmIgmpMessage *b) {
        g_assert_cmpuint(a->type, ==, b->type);
        g_assert_cmpuint(a->version, ==, b->version);
        g_assert_cmpuint(a->max_resp_code, ==, b->max_resp_code);
        g_assert_cmpmem(a->group, 4, b->group, 4);
        g_assert_cmpint(a->suppress, ==, b->suppress);
        g_assert_cmpuint(a->qrv, ==, b->qrv);
        g_assert_cmpuint(a->qqic, ==, b->qqic);
        g_assert_cmpuint(a->n_records, ==, b->n_records);
        g_assert_cmpuint(a->n_sources, ==, b->n_sources);
        for (uint16_t i = 0; i < a->n_records; i++) {
                g_assert_cmpuint(a->records[i].type, ==, b->records[i].type);
                g_assert_cmpmem(a->records[i].group, 4, b->records[i].group, 4);
                g_assert_cmpuint(a->records[i].n_sources, ==, b->records[i].n_sources);
                g_assert_cmpuint(a->records[i].first_source, ==, b->records[i].first_source);
        }
        g_assert_cmpmem(a->sources, a->n_sources * 4u, b->sources, b->n_sources * 4u);
}

/* The messages behind the built vectors. */
static void msg_v2_report(VsmIgmpMessage *m) {
        memset(m, 0, sizeof(*m));
        m->type = VSM_IGMP_V2_REPORT;
        m->version = 2;
        set4(m->group, 239, 1, 2, 3);
}

static void msg_v2_leave(VsmIgmpMessage *m) {
        msg_v2_report(m);
        m->type = VSM_IGMP_V2_LEAVE;
}

static void msg_v3_report(VsmIgmpMessage *m) {
        memset(m, 0, sizeof(*m));
        m->type = VSM_IGMP_V3_REPORT;
        m->version = 3;
        m->n_records = 3;
        m->records[0] = (VsmIgmpRecord) { .type = VSM_MCAST_MODE_IS_EXCLUDE, .group = { 239, 1, 2, 3 } };
        m->records[1] = (VsmIgmpRecord) { .type = VSM_MCAST_MODE_IS_INCLUDE, .group = { 232, 1, 1, 1 },
                                          .n_sources = 2, .first_source = 0 };
        m->records[2] = (VsmIgmpRecord) { .type = VSM_MCAST_ALLOW_NEW_SOURCES, .group = { 232, 2, 2, 2 },
                                          .n_sources = 1, .first_source = 2 };
        m->n_sources = 3;
        set4(m->sources[0], 192, 0, 2, 1);
        set4(m->sources[1], 192, 0, 2, 2);
        set4(m->sources[2], 198, 51, 100, 7);
}

static void msg_v2_query(VsmIgmpMessage *m) {
        memset(m, 0, sizeof(*m));
        m->type = VSM_IGMP_QUERY;
        m->version = 2;
        m->max_resp_code = 100;
}

static void msg_v3_query(VsmIgmpMessage *m) {
        msg_v2_query(m);
        m->version = 3;
        m->qrv = 2;
        m->qqic = 125;
}

static void msg_v3_query_gss(VsmIgmpMessage *m) {
        msg_v3_query(m);
        set4(m->group, 232, 1, 1, 1);
        m->suppress = true;
        m->max_resp_code = 0x8a;
        m->n_sources = 2;
        set4(m->sources[0], 192, 0, 2, 1);
        set4(m->sources[1], 192, 0, 2, 2);
}

typedef struct {
        const char *file;
        void (*make)(VsmIgmpMessage *m);
        bool from_querier;
        const char *dst_ip;
} BuildCase;

static const BuildCase build_cases[] = {
        { "vectors/igmp-v2-report.hex", msg_v2_report, false, "ef010203" },
        { "vectors/igmp-v2-leave.hex", msg_v2_leave, false, "e0000002" },
        { "vectors/igmp-v3-report.hex", msg_v3_report, false, "e0000016" },
        { "vectors/igmp-v2-query.hex", msg_v2_query, true, "e0000001" },
        { "vectors/igmp-v3-query.hex", msg_v3_query, true, "e0000001" },
        { "vectors/igmp-v3-query-gss.hex", msg_v3_query_gss, true, "e8010101" },
};

static void test_build(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(build_cases); i++) {
                const BuildCase *c = &build_cases[i];
                g_autoptr(GBytes) want = vsm_test_hex_file(c->file);
                size_t want_len;
                const uint8_t *want_data = bytes_data(want, &want_len);
                VsmIgmpMessage m;
                VsmIgmpFrame f;
                uint8_t buf[VSM_ETH_FRAME_MAX], mac[6];
                VsmWriter w;
                VsmReader r;

                g_test_message("igmp build %s", c->file);
                c->make(&m);
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_igmp_frame_write(&w, c->from_querier ? Q_MAC : VM_MAC,
                                                     c->from_querier ? Q_IP : VM_IP, &m), ==, 0);
                g_assert_cmpmem(buf, w.len, want_data, want_len);

                /* Decode what was built. */
                vsm_reader_init(&r, buf, w.len);
                g_assert_cmpint(vsm_igmp_frame_parse(&r, &f), ==, 0);
                assert_same(&f.msg, &m);
                g_assert_cmpuint(f.ip.ttl, ==, 1);
                g_assert_true(f.ip.router_alert);
                vsm_assert_hex(f.ip.dst, 4, c->dst_ip);
                vsm_ip4_multicast_mac(f.ip.dst, mac);
                g_assert_cmpmem(f.eth.dst, 6, mac, 6);

                /* Every shorter writer: -ENOBUFS and nothing written. */
                for (size_t cap = 0; cap < w.len; cap++) {
                        VsmWriter sw;

                        vsm_writer_init(&sw, buf, cap);
                        g_assert_cmpint(vsm_igmp_frame_write(&sw, VM_MAC, VM_IP, &m), ==, -ENOBUFS);
                        g_assert_cmpuint(sw.len, ==, 0);
                }
        }
}

static void test_python_vectors(void) {
        g_autoptr(GBytes) v1 = vsm_test_hex_file("vectors/igmp-v1-report.hex");
        g_autoptr(GBytes) q1 = vsm_test_hex_file("vectors/igmp-v1-query.hex");
        g_autoptr(GBytes) aux = vsm_test_hex_file("vectors/igmp-v3-report-aux.hex");
        size_t len;
        const uint8_t *data;
        VsmIgmpFrame f;
        VsmReader r;

        data = bytes_data(v1, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_igmp_frame_parse(&r, &f), ==, 0);
        g_assert_cmpuint(f.msg.type, ==, VSM_IGMP_V1_REPORT);
        g_assert_cmpuint(f.msg.version, ==, 1);
        vsm_assert_hex(f.msg.group, 4, "ef010203");
        g_assert_false(f.ip.router_alert);

        data = bytes_data(q1, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_igmp_frame_parse(&r, &f), ==, 0);
        g_assert_cmpuint(f.msg.type, ==, VSM_IGMP_QUERY);
        g_assert_cmpuint(f.msg.version, ==, 1);
        g_assert_cmpuint(f.msg.max_resp_code, ==, 0);

        /* Record type 9 is skipped with its source; aux data skipped. */
        data = bytes_data(aux, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_igmp_frame_parse(&r, &f), ==, 0);
        g_assert_cmpuint(f.msg.type, ==, VSM_IGMP_V3_REPORT);
        g_assert_cmpuint(f.msg.n_records, ==, 2);
        g_assert_cmpuint(f.msg.records[0].type, ==, VSM_MCAST_CHANGE_TO_EXCLUDE);
        vsm_assert_hex(f.msg.records[0].group, 4, "ef010203");
        g_assert_cmpuint(f.msg.records[0].n_sources, ==, 0);
        g_assert_cmpuint(f.msg.records[1].type, ==, VSM_MCAST_BLOCK_OLD_SOURCES);
        vsm_assert_hex(f.msg.records[1].group, 4, "e8010101");
        g_assert_cmpuint(f.msg.records[1].n_sources, ==, 1);
        g_assert_cmpuint(f.msg.records[1].first_source, ==, 0);
        g_assert_cmpuint(f.msg.n_sources, ==, 1);
        vsm_assert_hex(f.msg.sources[0], 4, "c0000201");
}

/* ---- errors ------------------------------------------------------- */

typedef struct {
        const char *name;
        const char *hex;
        int expect;
        uint8_t version;
} MsgCase;

static const MsgCase msg_cases[] = {
        { "7 octets", "16000000ef0102", -EBADMSG, 0 },
        { "v2 report with trailing octets", "16000000ef010203aabb", 0, 2 },
        { "v2 query", "11640000 00000000", 0, 2 },
        { "v1 query", "11000000 00000000", 0, 1 },
        { "query 9 octets", "11640000 00000000 00", -EBADMSG, 0 },
        { "query 11 octets", "11640000 00000000 027d00", -EBADMSG, 0 },
        { "v3 query", "11640000 00000000 027d0000", 0, 3 },
        { "v3 query sources truncated", "11640000 e8010101 027d0002 c0000201", -EBADMSG, 0 },
        { "v3 query 65 sources", "11640000 e8010101 027d0041", -EMSGSIZE, 0 },
        { "unknown type 0x13", "13000000 00000000", -EBADMSG, 0 },
        { "unknown type 0x00", "00000000 00000000", -EBADMSG, 0 },
        { "v3 report no records", "22000000 00000000", 0, 3 },
        { "v3 report record truncated", "22000000 00000001 02000000 ef01", -EBADMSG, 0 },
        { "v3 report 2 records, 1 present", "22000000 00000002 02000000 ef010203", -EBADMSG, 0 },
        { "v3 report 65 records", "22000000 00000041", -EMSGSIZE, 0 },
        { "v3 record 65 sources", "22000000 00000001 02000041 ef010203", -EMSGSIZE, 0 },
        { "v3 record sources truncated", "22000000 00000001 01000002 e8010101 c0000201", -EBADMSG, 0 },
        { "v3 record aux past end", "22000000 00000001 02020000 ef010203 00000000", -EBADMSG, 0 },
        { "v3 record aux exact", "22000000 00000001 02020000 ef010203 0000000000000000", 0, 3 },
};

static void test_message_errors(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(msg_cases); i++) {
                g_autoptr(GBytes) b = vsm_test_hex(msg_cases[i].hex);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmIgmpMessage m;
                VsmReader r;
                int k;

                g_test_message("igmp %s", msg_cases[i].name);
                memset(&m, 0xa5, sizeof(m));
                vsm_reader_init(&r, data, len);
                k = vsm_igmp_message_parse(&r, &m);
                g_assert_cmpint(k, ==, msg_cases[i].expect);
                if (k < 0) {
                        g_assert_cmpuint(r.off, ==, 0);
                        g_assert_cmphex(m.type, ==, 0xa5);      /* untouched */
                        continue;
                }
                g_assert_cmpuint(m.version, ==, msg_cases[i].version);
                g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
        }
}

/* A v3 report of n_records records with n_src sources each. */
static GBytes *make_v3_report(unsigned n_records, unsigned n_src) {
        GByteArray *a = g_byte_array_new();
        uint8_t hdr[8] = { 0x22, 0, 0, 0, 0, 0, (uint8_t) (n_records >> 8), (uint8_t) n_records };

        g_byte_array_append(a, hdr, sizeof(hdr));
        for (unsigned i = 0; i < n_records; i++) {
                uint8_t rec[8] = { 1, 0, (uint8_t) (n_src >> 8), (uint8_t) n_src, 232, 0, 0, (uint8_t) i };

                g_byte_array_append(a, rec, sizeof(rec));
                for (unsigned j = 0; j < n_src; j++) {
                        uint8_t s[4] = { 10, 0, (uint8_t) i, (uint8_t) j };
                        g_byte_array_append(a, s, 4);
                }
        }
        return g_byte_array_free_to_bytes(a);
}

static void test_caps(void) {
        static const struct {
                unsigned records, sources;
                int expect;
        } cases[] = {
                { 64, 8, 0 },          /* 512 sources: the message cap */
                { 64, 0, 0 },
                { 1, 64, 0 },
                { 9, 64, -EMSGSIZE },  /* 576 sources */
                { 65, 0, -EMSGSIZE },
                { 1, 65, -EMSGSIZE },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) b = make_v3_report(cases[i].records, cases[i].sources);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmIgmpMessage m, again;
                uint8_t buf[8192];
                VsmReader r;
                VsmWriter w;

                vsm_reader_init(&r, data, len);
                g_assert_cmpint(vsm_igmp_message_parse(&r, &m), ==, cases[i].expect);
                if (cases[i].expect < 0)
                        continue;
                g_assert_cmpuint(m.n_records, ==, cases[i].records);
                g_assert_cmpuint(m.n_sources, ==, cases[i].records * cases[i].sources);
                if (cases[i].sources > 0)
                        vsm_assert_hex(m.sources[m.records[cases[i].records - 1].first_source + 1], 4,
                                       cases[i].records == 64 ? "0a003f01" : "0a000001");

                /* Re-encoding gives the same octets, checksum aside. */
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_igmp_message_write(&w, &m), ==, 0);
                g_assert_cmpuint(w.len, ==, len);
                g_assert_cmpmem(buf + 4, w.len - 4, data + 4, len - 4);
                g_assert_cmphex(vsm_inet_checksum(buf, w.len), ==, 0);
                vsm_reader_init(&r, buf, w.len);
                g_assert_cmpint(vsm_igmp_message_parse(&r, &again), ==, 0);
                assert_same(&m, &again);
        }
}

static void test_frame_errors(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/igmp-v3-report.hex");
        g_autoptr(GBytes) dhcp = vsm_test_hex_file("vectors/dhcp-ack.hex");
        g_autoptr(GBytes) mld = vsm_test_hex_file("vectors/mld-v2-report.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        uint8_t copy[VSM_ETH_FRAME_MAX];
        VsmIgmpFrame f;
        VsmReader r;

        /* A flipped bit in the IGMP message: checksum mismatch. */
        memcpy(copy, data, len);
        copy[14 + 24 + 12] ^= 0x01;
        vsm_reader_init(&r, copy, len);
        g_assert_cmpint(vsm_igmp_frame_parse(&r, &f), ==, -EBADMSG);
        g_assert_cmpuint(r.off, ==, 0);

        /* Truncated frame: IP total length past it. */
        vsm_reader_init(&r, data, len - 1);
        g_assert_cmpint(vsm_igmp_frame_parse(&r, &f), ==, -EBADMSG);

        /* UDP, and IPv6. */
        data = bytes_data(dhcp, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_igmp_frame_parse(&r, &f), ==, -EBADMSG);
        data = bytes_data(mld, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_igmp_frame_parse(&r, &f), ==, -EBADMSG);
}

static void test_write_errors(void) {
        VsmIgmpMessage m;
        uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmWriter w;

        msg_v3_report(&m);
        vsm_writer_init(&w, buf, sizeof(buf));

        m.type = 0x13;
        g_assert_cmpint(vsm_igmp_message_write(&w, &m), ==, -EINVAL);
        msg_v3_report(&m);
        m.n_records = VSM_IGMP_RECORDS_MAX + 1;
        g_assert_cmpint(vsm_igmp_message_write(&w, &m), ==, -EMSGSIZE);
        msg_v3_report(&m);
        m.records[2].first_source = 3;          /* past the pool */
        g_assert_cmpint(vsm_igmp_message_write(&w, &m), ==, -EINVAL);
        msg_v3_report(&m);
        m.records[1].n_sources = VSM_IGMP_RECORD_SOURCES_MAX + 1;
        g_assert_cmpint(vsm_igmp_message_write(&w, &m), ==, -EMSGSIZE);
        msg_v3_query_gss(&m);
        m.n_sources = VSM_IGMP_RECORD_SOURCES_MAX + 1;
        g_assert_cmpint(vsm_igmp_message_write(&w, &m), ==, -EMSGSIZE);
        g_assert_cmpuint(w.len, ==, 0);
}

static void test_code_and_names(void) {
        g_assert_cmpuint(vsm_igmp_code_to_value(100), ==, 100);
        g_assert_cmpuint(vsm_igmp_code_to_value(127), ==, 127);
        g_assert_cmpuint(vsm_igmp_code_to_value(0x80), ==, 128);
        g_assert_cmpuint(vsm_igmp_code_to_value(0x8a), ==, 208);
        g_assert_cmpuint(vsm_igmp_code_to_value(0xff), ==, 31744);
        g_assert_cmpstr(vsm_mcast_record_type_to_string(VSM_MCAST_MODE_IS_INCLUDE), ==, "mode-is-include");
        g_assert_cmpstr(vsm_mcast_record_type_to_string(VSM_MCAST_BLOCK_OLD_SOURCES), ==, "block-old-sources");
        g_assert_null(vsm_mcast_record_type_to_string(0));
        g_assert_null(vsm_mcast_record_type_to_string(7));
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/igmp/build", test_build);
        g_test_add_func("/proto/igmp/python-vectors", test_python_vectors);
        g_test_add_func("/proto/igmp/message-errors", test_message_errors);
        g_test_add_func("/proto/igmp/caps", test_caps);
        g_test_add_func("/proto/igmp/frame-errors", test_frame_errors);
        g_test_add_func("/proto/igmp/write-errors", test_write_errors);
        g_test_add_func("/proto/igmp/code-and-names", test_code_and_names);

        return g_test_run();
}

/* Unit tests for src/proto/ndisc.c: NS/NA decoding and the unsolicited
 * Neighbor Advertisement.
 *
 * vectors/ndisc-unsolicited-na.hex is what
 * vsm_ndisc_unsolicited_na_write() builds; tshark 4.0 (text2pcap +
 * tshark -V) reads it as Neighbor Advertisement from 2001:db8::10 to
 * ff02::1 (33:33:00:00:00:01), hop limit 255, flags 0x20000000 Override,
 * target 2001:db8::10, target link-layer address 52:54:00:12:34:56,
 * checksum [correct], no expert info.  ndisc-ns.hex and
 * ndisc-na-solicited.hex come from the Python builder (README-inet.md).
 */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/ndisc.h"
#include "test-util.h"

static const uint8_t VM_MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t VM_IP6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x10 };
#define VM_IP6_HEX "20010db8000000000000000000000010"

static const uint8_t *bytes_data(GBytes *b, size_t *ret_len) {
        gsize len;
        const uint8_t *p = g_bytes_get_data(b, &len);

        *ret_len = len;
        return p;
}

static void test_unsolicited_na(void) {
        g_autoptr(GBytes) want = vsm_test_hex_file("vectors/ndisc-unsolicited-na.hex");
        size_t want_len;
        const uint8_t *want_data = bytes_data(want, &want_len);
        uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmNdiscFrame f;
        VsmWriter w;
        VsmReader r;

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_ndisc_unsolicited_na_write(&w, VM_MAC, VM_IP6, false), ==, 0);
        g_assert_cmpmem(buf, w.len, want_data, want_len);

        vsm_reader_init(&r, buf, w.len);
        g_assert_cmpint(vsm_ndisc_frame_parse(&r, &f), ==, 0);
        g_assert_cmpuint(f.msg.type, ==, VSM_NDISC_NA);
        g_assert_cmphex(f.msg.flags, ==, VSM_NDISC_NA_OVERRIDE);
        vsm_assert_hex(f.msg.target, 16, VM_IP6_HEX);
        g_assert_true(f.msg.has_target_lla);
        g_assert_false(f.msg.has_source_lla);
        g_assert_cmpmem(f.msg.target_lla, 6, VM_MAC, 6);
        vsm_assert_hex(f.ip.src, 16, VM_IP6_HEX);
        vsm_assert_hex(f.ip.dst, 16, "ff020000000000000000000000000001");
        vsm_assert_hex(f.eth.dst, 6, "333300000001");
        g_assert_cmpuint(f.ip.hop_limit, ==, 255);

        /* Router flag. */
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_ndisc_unsolicited_na_write(&w, VM_MAC, VM_IP6, true), ==, 0);
        vsm_reader_init(&r, buf, w.len);
        g_assert_cmpint(vsm_ndisc_frame_parse(&r, &f), ==, 0);
        g_assert_cmphex(f.msg.flags, ==, VSM_NDISC_NA_OVERRIDE | VSM_NDISC_NA_ROUTER);

        for (size_t cap = 0; cap < want_len; cap++) {
                VsmWriter sw;

                vsm_writer_init(&sw, buf, cap);
                g_assert_cmpint(vsm_ndisc_unsolicited_na_write(&sw, VM_MAC, VM_IP6, false), ==, -ENOBUFS);
                g_assert_cmpuint(sw.len, ==, 0);
        }
}

static void test_python_vectors(void) {
        g_autoptr(GBytes) ns = vsm_test_hex_file("vectors/ndisc-ns.hex");
        g_autoptr(GBytes) na = vsm_test_hex_file("vectors/ndisc-na-solicited.hex");
        size_t len;
        const uint8_t *data;
        uint8_t buf[128];
        VsmNdiscFrame f;
        VsmReader r;
        VsmWriter w;

        data = bytes_data(ns, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_ndisc_frame_parse(&r, &f), ==, 0);
        g_assert_cmpuint(f.msg.type, ==, VSM_NDISC_NS);
        g_assert_cmphex(f.msg.flags, ==, 0);
        vsm_assert_hex(f.msg.target, 16, VM_IP6_HEX);
        g_assert_true(f.msg.has_source_lla);
        vsm_assert_hex(f.msg.source_lla, 6, "020000000001");
        g_assert_false(f.msg.has_target_lla);

        data = bytes_data(na, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_ndisc_frame_parse(&r, &f), ==, 0);
        g_assert_cmpuint(f.msg.type, ==, VSM_NDISC_NA);
        g_assert_cmphex(f.msg.flags, ==, VSM_NDISC_NA_SOLICITED | VSM_NDISC_NA_OVERRIDE);
        g_assert_true(f.msg.has_target_lla);

        /* Re-encoding the NA reproduces its ICMPv6 octets, checksum aside. */
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_ndisc_message_write(&w, &f.msg), ==, 0);
        g_assert_cmpuint(w.len, ==, 32);
        g_assert_cmpmem(buf + 4, w.len - 4, data + 14 + 40 + 4, 28);
}

#define T_HEX "20010db8000000000000000000000010"

static const struct {
        const char *name;
        const char *hex;
        int expect;
} msg_cases[] = {
        { "NS no options", "87000000 00000000" T_HEX, 0 },
        { "NA reserved bits masked", "88000000 ffffffff" T_HEX, 0 },
        { "truncated", "87000000 00000000 20010db8", -EBADMSG },
        { "code 1", "87010000 00000000" T_HEX, -EBADMSG },
        { "type 134 (RA)", "86000000 00000000" T_HEX, -EBADMSG },
        { "multicast target", "87000000 00000000 ff020000000000000000000000000001", -EBADMSG },
        { "option length 0", "87000000 00000000" T_HEX "0100 000000000000", -EBADMSG },
        { "option past end", "87000000 00000000" T_HEX "0102 020000000001", -EBADMSG },
        { "option header truncated", "87000000 00000000" T_HEX "01", -EBADMSG },
        { "long LLA skipped", "87000000 00000000" T_HEX "0102 0000000000000000000000000000", 0 },
        { "17 options", "87000000 00000000" T_HEX
          "0e01000000000000 0e01000000000000 0e01000000000000 0e01000000000000"
          "0e01000000000000 0e01000000000000 0e01000000000000 0e01000000000000"
          "0e01000000000000 0e01000000000000 0e01000000000000 0e01000000000000"
          "0e01000000000000 0e01000000000000 0e01000000000000 0e01000000000000"
          "0e01000000000000", -EMSGSIZE },
        { "16 options", "87000000 00000000" T_HEX
          "0e01000000000000 0e01000000000000 0e01000000000000 0e01000000000000"
          "0e01000000000000 0e01000000000000 0e01000000000000 0e01000000000000"
          "0e01000000000000 0e01000000000000 0e01000000000000 0e01000000000000"
          "0e01000000000000 0e01000000000000 0e01000000000000 0101020000000001", 0 },
};

static void test_message_errors(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(msg_cases); i++) {
                g_autoptr(GBytes) b = vsm_test_hex(msg_cases[i].hex);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmNdiscMessage m;
                VsmReader r;
                int k;

                g_test_message("ndisc %s", msg_cases[i].name);
                memset(&m, 0xa5, sizeof(m));
                vsm_reader_init(&r, data, len);
                k = vsm_ndisc_message_parse(&r, &m);
                g_assert_cmpint(k, ==, msg_cases[i].expect);
                if (k < 0) {
                        g_assert_cmpuint(r.off, ==, 0);
                        g_assert_cmphex(m.type, ==, 0xa5);
                        continue;
                }
                if (m.type == VSM_NDISC_NA)
                        g_assert_cmphex(m.flags, ==, 0xe0000000);
                if (strcmp(msg_cases[i].name, "16 options") == 0) {
                        g_assert_true(m.has_source_lla);
                        vsm_assert_hex(m.source_lla, 6, "020000000001");
                }
                if (strcmp(msg_cases[i].name, "long LLA skipped") == 0)
                        g_assert_false(m.has_source_lla);
        }
}

static void test_frame_errors(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/ndisc-unsolicited-na.hex");
        g_autoptr(GBytes) mld = vsm_test_hex_file("vectors/mld-v1-report.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        uint8_t copy[VSM_ETH_FRAME_MAX];
        VsmNdiscFrame f;
        VsmReader r;

        /* Hop limit 254: not from the link. */
        memcpy(copy, data, len);
        copy[14 + 7] = 254;
        vsm_reader_init(&r, copy, len);
        g_assert_cmpint(vsm_ndisc_frame_parse(&r, &f), ==, -EBADMSG);
        /* Bad checksum. */
        memcpy(copy, data, len);
        copy[14 + 40 + 20] ^= 0x80;
        vsm_reader_init(&r, copy, len);
        g_assert_cmpint(vsm_ndisc_frame_parse(&r, &f), ==, -EBADMSG);
        g_assert_cmpuint(r.off, ==, 0);
        /* MLD (hop-by-hop, hop limit 1) is no NS/NA. */
        data = bytes_data(mld, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_ndisc_frame_parse(&r, &f), ==, -EBADMSG);
}

static void test_write_errors(void) {
        VsmNdiscMessage m = { .type = 133 };
        uint8_t buf[64];
        VsmWriter w;

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_ndisc_message_write(&w, &m), ==, -EINVAL);
        m.type = VSM_NDISC_NS;
        m.flags = VSM_NDISC_NA_OVERRIDE;        /* dropped for NS */
        m.has_source_lla = true;
        g_assert_cmpint(vsm_ndisc_message_write(&w, &m), ==, 0);
        g_assert_cmpuint(w.len, ==, 32);
        vsm_assert_hex(buf + 4, 4, "00000000");
        vsm_writer_init(&w, buf, 31);
        g_assert_cmpint(vsm_ndisc_message_write(&w, &m), ==, -ENOBUFS);
        g_assert_cmpuint(w.len, ==, 0);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/ndisc/unsolicited-na", test_unsolicited_na);
        g_test_add_func("/proto/ndisc/python-vectors", test_python_vectors);
        g_test_add_func("/proto/ndisc/message-errors", test_message_errors);
        g_test_add_func("/proto/ndisc/frame-errors", test_frame_errors);
        g_test_add_func("/proto/ndisc/write-errors", test_write_errors);

        return g_test_run();
}

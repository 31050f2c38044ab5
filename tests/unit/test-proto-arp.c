/* Unit tests for src/proto/arp.c: ARP decoding and the gratuitous ARP.
 *
 * vectors/arp-gratuitous.hex is what vsm_arp_gratuitous_write() builds;
 * tshark 4.0 (text2pcap + tshark -V) reads it as "ARP Announcement",
 * opcode request (1), sender 52:54:00:12:34:56 / 192.0.2.10, target
 * 00:00:00:00:00:00 / 192.0.2.10, to ff:ff:ff:ff:ff:ff, padded to 60, no
 * expert info.  arp-reply.hex comes from the Python builder
 * (README-inet.md): "192.0.2.1 is at 02:00:00:00:00:01".
 */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/arp.h"
#include "test-util.h"

static const uint8_t VM_MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t VM_IP[4] = { 192, 0, 2, 10 };

static const uint8_t *bytes_data(GBytes *b, size_t *ret_len) {
        gsize len;
        const uint8_t *p = g_bytes_get_data(b, &len);

        *ret_len = len;
        return p;
}

static void test_gratuitous(void) {
        g_autoptr(GBytes) want = vsm_test_hex_file("vectors/arp-gratuitous.hex");
        size_t want_len;
        const uint8_t *want_data = bytes_data(want, &want_len);
        uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmArpFrame f;
        VsmWriter w;
        VsmReader r;

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_arp_gratuitous_write(&w, VM_MAC, VM_IP), ==, 0);
        g_assert_cmpmem(buf, w.len, want_data, want_len);
        g_assert_cmpuint(w.len, ==, VSM_ETH_ZLEN);

        vsm_reader_init(&r, buf, w.len);
        g_assert_cmpint(vsm_arp_frame_parse(&r, &f), ==, 0);
        /* Ethernet padding is left unread. */
        g_assert_cmpuint(vsm_reader_remaining(&r), ==, VSM_ETH_ZLEN - VSM_ETH_HLEN - VSM_ARP_LEN);
        g_assert_cmpuint(f.msg.op, ==, VSM_ARP_OP_REQUEST);
        g_assert_true(vsm_arp_is_gratuitous(&f.msg));
        g_assert_cmpmem(f.msg.sha, 6, VM_MAC, 6);
        g_assert_cmpmem(f.msg.spa, 4, VM_IP, 4);
        g_assert_cmpmem(f.msg.tpa, 4, VM_IP, 4);
        vsm_assert_hex(f.msg.tha, 6, "000000000000");
        vsm_assert_hex(f.eth.dst, 6, "ffffffffffff");

        for (size_t cap = 0; cap < w.len; cap++) {
                VsmWriter sw;

                vsm_writer_init(&sw, buf, cap);
                g_assert_cmpint(vsm_arp_gratuitous_write(&sw, VM_MAC, VM_IP), ==, -ENOBUFS);
                g_assert_cmpuint(sw.len, ==, 0);
        }
}

static void test_reply(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/arp-reply.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        uint8_t buf[64];
        VsmArpFrame f;
        VsmReader r;
        VsmWriter w;

        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_arp_frame_parse(&r, &f), ==, 0);
        g_assert_cmpuint(f.msg.op, ==, VSM_ARP_OP_REPLY);
        g_assert_false(vsm_arp_is_gratuitous(&f.msg));
        vsm_assert_hex(f.msg.sha, 6, "020000000001");
        vsm_assert_hex(f.msg.spa, 4, "c0000201");
        g_assert_cmpmem(f.msg.tha, 6, VM_MAC, 6);
        g_assert_cmpmem(f.msg.tpa, 4, VM_IP, 4);

        /* Round trip of the 28-octet packet. */
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_arp_message_write(&w, &f.msg), ==, 0);
        g_assert_cmpmem(buf, w.len, data + VSM_ETH_HLEN, VSM_ARP_LEN);
}

static void test_errors(void) {
        static const struct {
                const char *name;
                size_t off;
                uint8_t value;
                size_t truncate;
        } cases[] = {
                { "htype 6", 1, 6, 0 },
                { "ptype 0x86dd", 2, 0x86, 0 },
                { "hlen 8", 4, 8, 0 },
                { "plen 16", 5, 16, 0 },
                { "op 3 (RARP)", 7, 3, 0 },
                { "op 0", 7, 0, 0 },
                { "truncated", 0, 0, 27 },
        };
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/arp-reply.hex");
        g_autoptr(GBytes) ip = vsm_test_hex_file("vectors/igmp-v2-report.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmArpFrame f;
        VsmReader r;

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                uint8_t copy[64];
                VsmArpMessage m;

                g_test_message("arp %s", cases[i].name);
                memcpy(copy, data + VSM_ETH_HLEN, VSM_ARP_LEN);
                if (!cases[i].truncate)
                        copy[cases[i].off] = cases[i].value;
                vsm_reader_init(&r, copy, cases[i].truncate ? cases[i].truncate : VSM_ARP_LEN);
                g_assert_cmpint(vsm_arp_message_parse(&r, &m), ==, -EBADMSG);
                g_assert_cmpuint(r.off, ==, 0);
        }

        data = bytes_data(ip, &len);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_arp_frame_parse(&r, &f), ==, -EBADMSG);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/arp/gratuitous", test_gratuitous);
        g_test_add_func("/proto/arp/reply", test_reply);
        g_test_add_func("/proto/arp/errors", test_errors);

        return g_test_run();
}

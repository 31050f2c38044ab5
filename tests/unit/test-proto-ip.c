/* Unit tests for src/proto/inet.c: IPv4/IPv6/UDP headers, checksums,
 * multicast MACs and link-local addresses.
 *
 * The frames under tests/data/vectors/ were cross-checked with tshark 4.0
 * (text2pcap, then tshark -V with ip.check_checksum and udp.check_checksum
 * on): every IPv4 header, UDP and ICMPv6 checksum reads "[correct]", no
 * expert info, no malformed packet (see vectors/README-inet.md).
 */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/eth.h"
#include "proto/inet.h"
#include "test-util.h"

static const uint8_t *bytes_data(GBytes *b, size_t *ret_len) {
        gsize len;
        const uint8_t *p = g_bytes_get_data(b, &len);

        *ret_len = len;
        return p;
}

/* ---- checksums ---------------------------------------------------- */

static void test_checksum_rfc1071(void) {
        /* RFC 1071 section 3 example: sum ddf2, checksum 220d. */
        static const uint8_t data[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
        static const uint8_t odd[] = { 0x01, 0x02, 0x03 };       /* 0102 + 0300 */
        uint8_t with_sum[10];
        uint16_t c;

        g_assert_cmphex(vsm_inet_fold(vsm_inet_sum(0, data, sizeof(data))), ==, 0x220d);
        g_assert_cmphex(vsm_inet_checksum(data, sizeof(data)), ==, 0x220d);
        g_assert_cmphex(vsm_inet_checksum(odd, sizeof(odd)), ==, (uint16_t) ~0x0402);
        g_assert_cmphex(vsm_inet_checksum(NULL, 0), ==, 0xffff);

        /* Over data followed by its checksum, the result is zero. */
        memcpy(with_sum, data, sizeof(data));
        c = vsm_inet_checksum(data, sizeof(data));
        with_sum[8] = (uint8_t) (c >> 8);
        with_sum[9] = (uint8_t) c;
        g_assert_cmphex(vsm_inet_checksum(with_sum, sizeof(with_sum)), ==, 0);
}

static void test_checksum_large(void) {
        /* Long runs of 0xff must not overflow the accumulator. */
        g_autofree uint8_t *big = g_malloc(200000);

        memset(big, 0xff, 200000);
        g_assert_cmphex(vsm_inet_checksum(big, 200000), ==, 0);
}

/* ---- IPv4 --------------------------------------------------------- */

/* Recompute the IPv4 header checksum of a mutated frame (IP at 14). */
static void fix_ip4_checksum(uint8_t *frame) {
        size_t hlen = (size_t) (frame[VSM_ETH_HLEN] & 0x0f) * 4;
        uint16_t c;

        if (hlen < 20)
                hlen = 20;
        frame[VSM_ETH_HLEN + 10] = frame[VSM_ETH_HLEN + 11] = 0;
        c = vsm_inet_checksum(frame + VSM_ETH_HLEN, hlen);
        frame[VSM_ETH_HLEN + 10] = (uint8_t) (c >> 8);
        frame[VSM_ETH_HLEN + 11] = (uint8_t) c;
}

static void test_ip4_parse_vector(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/igmp-v2-report.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmReader r, payload;
        VsmIp4Header h;

        vsm_reader_init(&r, data + VSM_ETH_HLEN, len - VSM_ETH_HLEN);
        g_assert_cmpint(vsm_ip4_header_parse(&r, &h, &payload), ==, 0);
        g_assert_cmpuint(h.hlen, ==, 24);
        g_assert_cmphex(h.tos, ==, 0xc0);
        g_assert_cmpuint(h.total_len, ==, 32);
        g_assert_cmphex(h.frag, ==, 0x4000);
        g_assert_cmpuint(h.ttl, ==, 1);
        g_assert_cmpuint(h.protocol, ==, VSM_IP_PROTO_IGMP);
        g_assert_true(h.router_alert);
        vsm_assert_hex(h.src, 4, "c000020a");
        vsm_assert_hex(h.dst, 4, "ef010203");
        g_assert_cmpuint(vsm_reader_remaining(&payload), ==, 8);
        /* r stops after the IP packet: the 14 octets of Ethernet padding
         * are left. */
        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 14);
}

static void test_ip4_parse_no_ra(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/igmp-v1-report.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmReader r, payload;
        VsmIp4Header h;

        vsm_reader_init(&r, data + VSM_ETH_HLEN, len - VSM_ETH_HLEN);
        g_assert_cmpint(vsm_ip4_header_parse(&r, &h, &payload), ==, 0);
        g_assert_cmpuint(h.hlen, ==, 20);
        g_assert_false(h.router_alert);
}

typedef struct {
        const char *name;
        size_t off;            /* into the IPv4 header */
        uint8_t value;
        bool fix_checksum;
        size_t truncate;       /* if non-zero: IP octets kept */
        int expect;
} Ip4Mutation;

/* Mutations of igmp-v2-report.hex: IHL 6 (Router Alert at 20..23),
 * total length 32, 46 octets after the Ethernet header. */
static const Ip4Mutation ip4_mutations[] = {
        { "ok", 0, 0x46, true, 0, 0 },
        { "truncated header", 0, 0x46, true, 19, -EBADMSG },
        { "truncated options", 0, 0x46, true, 23, -EBADMSG },
        { "version 5", 0, 0x56, true, 0, -EBADMSG },
        { "version 6", 0, 0x66, true, 0, -EBADMSG },
        { "IHL 4", 0, 0x44, true, 0, -EBADMSG },
        { "IHL 15 past frame", 0, 0x4f, true, 0, -EBADMSG },
        { "IHL 8 past total length", 0, 0x48, true, 0, -EBADMSG },
        { "total length past frame", 3, 100, true, 0, -EBADMSG },
        { "total length 47", 3, 47, true, 0, -EBADMSG },
        { "total length below header", 3, 20, true, 0, -EBADMSG },
        { "total length 46 (padding)", 3, 46, true, 0, 0 },
        { "bad header checksum", 8, 2, false, 0, -EBADMSG },
        { "more fragments", 6, 0x60, true, 0, -EBADMSG },
        { "fragment offset", 7, 0x01, true, 0, -EBADMSG },
        { "router alert length 3", 21, 3, true, 0, -EBADMSG },
        { "option length 1", 21, 1, true, 0, -EBADMSG },
        { "option length 0", 21, 0, true, 0, -EBADMSG },
        { "option past header", 21, 8, true, 0, -EBADMSG },
        { "EOL first", 20, 0x00, true, 0, 0 },
        { "NOP NOP NOP NOP", 20, 0x01, true, 0, 0 },
        { "unknown option len 4", 20, 0x07, true, 0, 0 },
};

static void test_ip4_errors(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/igmp-v2-report.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);

        for (size_t i = 0; i < G_N_ELEMENTS(ip4_mutations); i++) {
                const Ip4Mutation *m = &ip4_mutations[i];
                uint8_t frame[VSM_ETH_FRAME_MAX];
                size_t n = len - VSM_ETH_HLEN;
                VsmReader r, payload;
                VsmIp4Header h;
                int k;

                g_test_message("ip4 %s", m->name);
                memcpy(frame, data, len);
                if (strcmp(m->name, "NOP NOP NOP NOP") == 0)
                        memset(frame + VSM_ETH_HLEN + 20, 1, 4);
                frame[VSM_ETH_HLEN + m->off] = m->value;
                if (m->fix_checksum)
                        fix_ip4_checksum(frame);
                if (m->truncate)
                        n = m->truncate;
                vsm_reader_init(&r, frame + VSM_ETH_HLEN, n);
                k = vsm_ip4_header_parse(&r, &h, &payload);
                g_assert_cmpint(k, ==, m->expect);
                if (k < 0) {
                        /* The reader does not move on failure. */
                        g_assert_cmpuint(r.off, ==, 0);
                        continue;
                }
                if (strcmp(m->name, "EOL first") == 0 || strcmp(m->name, "NOP NOP NOP NOP") == 0 ||
                    strcmp(m->name, "unknown option len 4") == 0)
                        g_assert_false(h.router_alert);
        }
}

static void test_ip4_build(void) {
        VsmIp4Header h = {
                .tos = 0xc0, .frag = 0x4000, .ttl = 1, .protocol = 2, .router_alert = true,
                .src = { 192, 0, 2, 10 }, .dst = { 239, 1, 2, 3 },
        };
        uint8_t buf[64];
        VsmWriter w;
        size_t off;

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_writer_be16(&w, 0xaaaa), ==, 0);      /* header not at 0 */
        g_assert_cmpint(vsm_ip4_header_begin(&w, &h, &off), ==, 0);
        g_assert_cmpuint(off, ==, 2);
        g_assert_cmpint(vsm_writer_be32(&w, 0xdeadbeef), ==, 0);
        g_assert_cmpint(vsm_ip4_header_finish(&w, off), ==, 0);
        /* Checksum computed independently (Python). */
        vsm_assert_hex(buf, w.len, "aaaa 46c0001c00004000 0102 310d c000020a ef010203 94040000 deadbeef");
}

static void test_ip4_round_trip(void) {
        VsmIp4Header h = {
                .tos = 0x10, .id = 0x1234, .ttl = 64, .protocol = VSM_IP_PROTO_UDP,
                .src = { 10, 0, 0, 1 }, .dst = { 10, 0, 0, 2 },
        };
        uint8_t buf[64], small[23];
        VsmWriter w;
        VsmReader r, payload;
        VsmIp4Header got;
        size_t off;

        for (int ra = 0; ra <= 1; ra++) {
                h.router_alert = ra;
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_ip4_header_begin(&w, &h, &off), ==, 0);
                g_assert_cmpint(vsm_writer_be32(&w, 0xdeadbeef), ==, 0);
                g_assert_cmpint(vsm_ip4_header_finish(&w, off), ==, 0);
                g_assert_cmpuint(w.len, ==, (ra ? 24u : 20u) + 4);

                vsm_reader_init(&r, buf, w.len);
                g_assert_cmpint(vsm_ip4_header_parse(&r, &got, &payload), ==, 0);
                g_assert_cmpuint(got.hlen, ==, ra ? 24 : 20);
                g_assert_cmpuint(got.total_len, ==, w.len);
                g_assert_cmphex(got.tos, ==, 0x10);
                g_assert_cmphex(got.id, ==, 0x1234);
                g_assert_cmpuint(got.ttl, ==, 64);
                g_assert_cmpmem(got.src, 4, h.src, 4);
                g_assert_cmpmem(got.dst, 4, h.dst, 4);
                g_assert_cmpint(got.router_alert, ==, ra);
                vsm_assert_hex(vsm_reader_peek(&payload), vsm_reader_remaining(&payload), "deadbeef");
        }

        /* Full writer: nothing written. */
        h.router_alert = true;
        vsm_writer_init(&w, small, sizeof(small));
        g_assert_cmpint(vsm_ip4_header_begin(&w, &h, &off), ==, -ENOBUFS);
        g_assert_cmpuint(w.len, ==, 0);
}

/* ---- UDP ---------------------------------------------------------- */

static void test_udp(void) {
        static const struct {
                const char *hex;
                int expect;
                size_t payload;
        } cases[] = {
                { "0044004300080000", 0, 0 },
                { "00440043000a0000abcd", 0, 2 },
                { "00440043000a0000abcdef", 0, 2 },          /* trailing octet left */
                { "0044004300070000", -EBADMSG, 0 },         /* length < 8 */
                { "00440043000b0000abcd", -EBADMSG, 0 },     /* length past data */
                { "00440043000800", -EBADMSG, 0 },           /* truncated header */
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) b = vsm_test_hex(cases[i].hex);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmReader r, payload;
                VsmUdpHeader u;

                vsm_reader_init(&r, data, len);
                g_assert_cmpint(vsm_udp_header_parse(&r, &u, &payload), ==, cases[i].expect);
                if (cases[i].expect == 0) {
                        g_assert_cmpuint(u.sport, ==, 68);
                        g_assert_cmpuint(u.dport, ==, 67);
                        g_assert_cmpuint(vsm_reader_remaining(&payload), ==, cases[i].payload);
                } else {
                        g_assert_cmpuint(r.off, ==, 0);
                }
        }
}

/* ---- IPv6 --------------------------------------------------------- */

#define LL_HEX "fe80000000000000505400fffe123456"
#define PAD1_46 "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
#define MLDV2_HEX "ff020000000000000000000000000016"

/* IPv6 header with next header nh and the given extension headers +
 * payload (hex); payload length from the data unless plen_override. */
static size_t build_ip6(uint8_t *buf, uint8_t nh, const char *rest_hex, int plen_override) {
        g_autoptr(GBytes) rest = vsm_test_hex(rest_hex);
        size_t rest_len;
        const uint8_t *p = bytes_data(rest, &rest_len);
        g_autoptr(GBytes) hdr = vsm_test_hex("60000000 0000 00 01" LL_HEX MLDV2_HEX);
        size_t hlen;
        const uint8_t *h = bytes_data(hdr, &hlen);
        size_t plen = plen_override >= 0 ? (size_t) plen_override : rest_len;

        memcpy(buf, h, hlen);
        buf[4] = (uint8_t) (plen >> 8);
        buf[5] = (uint8_t) plen;
        buf[6] = nh;
        if (rest_len > 0)
                memcpy(buf + hlen, p, rest_len);
        return hlen + rest_len;
}

static void test_ip6_parse_vectors(void) {
        static const struct {
                const char *file;
                uint8_t n_ext;
                bool ra;
                uint8_t hop_limit;
                size_t upper_len;
        } cases[] = {
                { "vectors/mld-v1-report.hex", 1, true, 1, 24 },
                { "vectors/mld-v2-report.hex", 1, true, 1, 80 },
                { "vectors/mld-v2-report-ext.hex", 2, true, 1, 44 },
                { "vectors/ndisc-unsolicited-na.hex", 0, false, 255, 32 },
                { "vectors/ndisc-ns.hex", 0, false, 255, 40 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) b = vsm_test_hex_file(cases[i].file);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmReader r, payload;
                VsmIp6Header h;

                g_test_message("ip6 %s", cases[i].file);
                vsm_reader_init(&r, data + VSM_ETH_HLEN, len - VSM_ETH_HLEN);
                g_assert_cmpint(vsm_ip6_header_parse(&r, &h, &payload), ==, 0);
                g_assert_cmpuint(h.next_header, ==, VSM_IP_PROTO_ICMPV6);
                g_assert_cmpuint(h.n_ext, ==, cases[i].n_ext);
                g_assert_cmpint(h.router_alert, ==, cases[i].ra);
                g_assert_cmpuint(h.router_alert_value, ==, 0);
                g_assert_cmpuint(h.hop_limit, ==, cases[i].hop_limit);
                g_assert_cmpuint(vsm_reader_remaining(&payload), ==, cases[i].upper_len);
                g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
        }
}

static void test_ip6_errors(void) {
        static const struct {
                const char *name;
                uint8_t nh;
                const char *rest;
                int plen;
                size_t truncate;
                int expect;
                uint8_t upper;
        } cases[] = {
                { "plain icmpv6", 58, "8f000000", -1, 0, 0, 58 },
                { "no next header", 59, "", -1, 0, 0, 59 },
                { "truncated fixed header", 58, "", -1, 39, -EBADMSG, 0 },
                { "payload length past frame", 58, "8f000000", 5, 0, -EBADMSG, 0 },
                { "payload length short: rest is padding", 58, "8f000000", 2, 0, 0, 58 },
                { "hbh ra", 0, "3a00 05020000 0100 8f000000", -1, 0, 0, 58 },
                { "hbh ra len 3", 0, "3a00 050300000000", -1, 0, -EBADMSG, 0 },
                { "hbh option past header", 0, "3a00 0105000000", -1, 0, -EBADMSG, 0 },
                { "hbh option length octet missing", 0, "3a00 0000000001", -1, 0, -EBADMSG, 0 },
                { "hbh past payload", 0, "3a01 05020000 0100", -1, 0, -EBADMSG, 0 },
                { "hbh truncated", 0, "3a", -1, 0, -EBADMSG, 0 },
                { "hbh after dstopts", 60, "0000 010400000000 3a00 010400000000", -1, 0, -EBADMSG, 0 },
                { "dstopts then routing", 60, "2b00 010400000000 3a00 0000 00000000", -1, 0, 0, 58 },
                { "fragment header", 44, "3a00 0000 00000000", -1, 0, -EBADMSG, 0 },
                { "unknown hbh option skipped", 0, "3a00 3e020000 0100", -1, 0, 0, 58 },
                { "9 dstopts headers", 60,
                  "3c00010400000000 3c00010400000000 3c00010400000000 3c00010400000000"
                  "3c00010400000000 3c00010400000000 3c00010400000000 3c00010400000000"
                  "3a00010400000000", -1, 0, -EMSGSIZE, 0 },
                { "8 dstopts headers", 60,
                  "3c00010400000000 3c00010400000000 3c00010400000000 3c00010400000000"
                  "3c00010400000000 3c00010400000000 3c00010400000000 3a00010400000000",
                  -1, 0, 0, 58 },
                { "41 pad1 options", 0,
                  "3a05 " PAD1_46,
                  -1, 0, -EMSGSIZE, 0 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                uint8_t buf[512];
                size_t n = build_ip6(buf, cases[i].nh, cases[i].rest, cases[i].plen);
                VsmReader r, payload;
                VsmIp6Header h;
                int k;

                g_test_message("ip6 %s", cases[i].name);
                if (cases[i].truncate)
                        n = cases[i].truncate;
                vsm_reader_init(&r, buf, n);
                k = vsm_ip6_header_parse(&r, &h, &payload);
                g_assert_cmpint(k, ==, cases[i].expect);
                if (k == 0)
                        g_assert_cmpuint(h.next_header, ==, cases[i].upper);
                else
                        g_assert_cmpuint(r.off, ==, 0);
        }

        /* A version other than 6. */
        {
                uint8_t buf[64];
                size_t n = build_ip6(buf, 59, "", -1);
                VsmReader r, payload;
                VsmIp6Header h;

                buf[0] = 0x40;
                vsm_reader_init(&r, buf, n);
                g_assert_cmpint(vsm_ip6_header_parse(&r, &h, &payload), ==, -EBADMSG);
        }
}

static void test_ip6_round_trip(void) {
        VsmIp6Header h = {
                .tclass = 0xab, .flow = 0x12345, .next_header = VSM_IP_PROTO_ICMPV6, .hop_limit = 1,
                .router_alert = true, .router_alert_value = 0,
        };
        uint8_t buf[128], small[47];
        VsmWriter w;
        VsmReader r, payload;
        VsmIp6Header got;
        size_t off;

        vsm_ip6_link_local_from_mac((const uint8_t[]) { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, h.src);
        memcpy(h.dst, vsm_ip6_mldv2_routers, 16);
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_ip6_header_begin(&w, &h, &off), ==, 0);
        g_assert_cmpint(vsm_writer_be32(&w, 0x8f000000), ==, 0);
        g_assert_cmpint(vsm_ip6_header_finish(&w, off), ==, 0);
        vsm_assert_hex(buf, w.len,
                       "6ab12345 000c 00 01" LL_HEX MLDV2_HEX
                       "3a00 05020000 0100"
                       "8f000000");

        vsm_reader_init(&r, buf, w.len);
        g_assert_cmpint(vsm_ip6_header_parse(&r, &got, &payload), ==, 0);
        g_assert_cmpuint(got.tclass, ==, 0xab);
        g_assert_cmphex(got.flow, ==, 0x12345);
        g_assert_cmpuint(got.payload_len, ==, 12);
        g_assert_cmpuint(got.n_ext, ==, 1);
        g_assert_true(got.router_alert);
        g_assert_cmpuint(got.next_header, ==, VSM_IP_PROTO_ICMPV6);
        g_assert_cmpuint(vsm_reader_remaining(&payload), ==, 4);

        vsm_writer_init(&w, small, sizeof(small));
        g_assert_cmpint(vsm_ip6_header_begin(&w, &h, &off), ==, -ENOBUFS);
        g_assert_cmpuint(w.len, ==, 0);
}

static void test_icmp6_checksum(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/ndisc-ns.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        uint8_t copy[VSM_ETH_FRAME_MAX];
        const size_t icmp = VSM_ETH_HLEN + VSM_IP6_HLEN;

        g_assert_true(vsm_icmp6_checksum_ok(data + 22, data + 38, data + icmp, len - icmp));
        memcpy(copy, data, len);
        copy[icmp + 8] ^= 0x01;
        g_assert_false(vsm_icmp6_checksum_ok(copy + 22, copy + 38, copy + icmp, len - icmp));
}

/* ---- addresses ---------------------------------------------------- */

static void test_addresses(void) {
        static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        uint8_t ll[16], m[6];
        uint8_t g4[4] = { 239, 129, 2, 3 };
        uint8_t g6[16] = { 0xff, 0x05, [12] = 0xde, 0xad, 0xbe, 0xef };

        vsm_ip6_link_local_from_mac(mac, ll);
        vsm_assert_hex(ll, 16, LL_HEX);
        /* A MAC with the U/L bit set gets it cleared. */
        vsm_ip6_link_local_from_mac((const uint8_t[]) { 0x02, 0, 0, 0, 0, 0x02 }, ll);
        vsm_assert_hex(ll, 16, "fe8000000000000000 0000fffe000002");

        vsm_ip4_multicast_mac(g4, m);
        vsm_assert_hex(m, 6, "01005e010203");       /* high bit of 129 dropped */
        vsm_ip6_multicast_mac(g6, m);
        vsm_assert_hex(m, 6, "3333deadbeef");

        g_assert_true(vsm_ip4_is_multicast(g4));
        g_assert_true(vsm_ip4_is_multicast((const uint8_t[]) { 224, 0, 0, 1 }));
        g_assert_false(vsm_ip4_is_multicast((const uint8_t[]) { 192, 0, 2, 1 }));
        g_assert_false(vsm_ip4_is_multicast((const uint8_t[]) { 240, 0, 0, 1 }));
        g_assert_true(vsm_ip6_is_multicast(g6));
        g_assert_false(vsm_ip6_is_multicast(ll));
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/ip/checksum-rfc1071", test_checksum_rfc1071);
        g_test_add_func("/proto/ip/checksum-large", test_checksum_large);
        g_test_add_func("/proto/ip/ip4-parse-vector", test_ip4_parse_vector);
        g_test_add_func("/proto/ip/ip4-parse-no-ra", test_ip4_parse_no_ra);
        g_test_add_func("/proto/ip/ip4-errors", test_ip4_errors);
        g_test_add_func("/proto/ip/ip4-build", test_ip4_build);
        g_test_add_func("/proto/ip/ip4-round-trip", test_ip4_round_trip);
        g_test_add_func("/proto/ip/udp", test_udp);
        g_test_add_func("/proto/ip/ip6-parse-vectors", test_ip6_parse_vectors);
        g_test_add_func("/proto/ip/ip6-errors", test_ip6_errors);
        g_test_add_func("/proto/ip/ip6-round-trip", test_ip6_round_trip);
        g_test_add_func("/proto/ip/icmp6-checksum", test_icmp6_checksum);
        g_test_add_func("/proto/ip/addresses", test_addresses);

        return g_test_run();
}

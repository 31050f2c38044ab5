/* Unit tests for src/proto/eth.c: Ethernet header, padding, MAC and UUID
 * text forms. */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/eth.h"
#include "test-util.h"

static void test_constants(void) {
        vsm_assert_hex(vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN, "0180c2000000");
        vsm_assert_hex(vsm_eth_addr_lldp_multicast, VSM_ETH_ALEN, "0180c200000e");
        g_assert_cmphex(VSM_ETH_P_ECP, ==, 0x8940);
        g_assert_cmphex(VSM_ETH_P_LLDP, ==, 0x88cc);
}

static void test_header_parse(void) {
        g_autoptr(GBytes) frame = vsm_test_hex_file("vectors/ecp-vdp-assoc-m.hex");
        gsize len;
        const uint8_t *data = g_bytes_get_data(frame, &len);
        VsmEthHeader h, untouched;
        VsmReader r;

        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_eth_header_parse(&r, &h), ==, 0);
        g_assert_cmpmem(h.dst, VSM_ETH_ALEN, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
        vsm_assert_hex(h.src, VSM_ETH_ALEN, "020000000001");
        g_assert_cmphex(h.ethertype, ==, VSM_ETH_P_ECP);
        g_assert_cmpuint(r.off, ==, VSM_ETH_HLEN);

        /* Every truncation of the header fails without side effects. */
        for (size_t n = 0; n < VSM_ETH_HLEN; n++) {
                memset(&h, 0xa5, sizeof(h));
                memset(&untouched, 0xa5, sizeof(untouched));
                vsm_reader_init(&r, data, n);
                g_assert_cmpint(vsm_eth_header_parse(&r, &h), ==, -EBADMSG);
                g_assert_cmpuint(r.off, ==, 0);
                g_assert_cmpmem(&h, sizeof(h), &untouched, sizeof(untouched));
        }
}

static void test_header_write(void) {
        const VsmEthHeader h = {
                .dst = { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e },
                .src = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 },
                .ethertype = VSM_ETH_P_LLDP,
        };
        uint8_t buf[VSM_ETH_ZLEN + 4];
        VsmEthHeader back;
        VsmWriter w;
        VsmReader r;

        for (size_t cap = 0; cap < VSM_ETH_HLEN; cap++) {
                memset(buf, 0xa5, sizeof(buf));
                vsm_writer_init(&w, buf, cap);
                g_assert_cmpint(vsm_eth_header_write(&w, &h), ==, -ENOBUFS);
                g_assert_cmpuint(w.len, ==, 0);
                g_assert_cmphex(buf[0], ==, 0xa5);
        }

        vsm_writer_init(&w, buf, VSM_ETH_HLEN);
        g_assert_cmpint(vsm_eth_header_write(&w, &h), ==, 0);
        vsm_assert_hex(buf, w.len, "0180c200000e 020000000001 88cc");

        vsm_reader_init(&r, buf, w.len);
        g_assert_cmpint(vsm_eth_header_parse(&r, &back), ==, 0);
        g_assert_cmpmem(&back, sizeof(back), &h, sizeof(h));
}

typedef struct {
        const char *name;
        size_t used;           /* octets already in the frame */
        size_t cap;
        int ret;
        size_t len;            /* w.len afterwards */
} PadCase;

static const PadCase pad_cases[] = {
        { "ack-18",         18, 64, 0, 60 },
        { "empty",           0, 60, 0, 60 },
        { "59",             59, 60, 0, 60 },
        { "exactly-60",     60, 60, 0, 60 },
        { "longer",         71, 80, 0, 71 },
        { "no-room",        18, 59, -ENOBUFS, 18 },
        { "one-short",      59, 59, -ENOBUFS, 59 },
};

static void test_pad(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(pad_cases); i++) {
                const PadCase *c = &pad_cases[i];
                uint8_t buf[80], fill[80];
                VsmWriter w;

                g_test_message("case %s", c->name);
                memset(buf, 0xa5, sizeof(buf));
                memset(fill, 0xa5, sizeof(fill));
                vsm_writer_init(&w, buf, c->cap);
                g_assert_cmpint(vsm_writer_bytes(&w, fill, c->used), ==, 0);
                g_assert_cmpint(vsm_eth_pad(&w), ==, c->ret);
                g_assert_cmpuint(w.len, ==, c->len);
                for (size_t j = 0; j < sizeof(buf); j++)
                        g_assert_cmphex(buf[j], ==, j >= c->used && j < c->len ? 0x00 : 0xa5);
        }
}

typedef struct {
        const char *text;
        int ret;
        const char *hex;
} MacCase;

static const MacCase mac_cases[] = {
        { "52:54:00:12:34:56", 0, "525400123456" },
        { "AA:bb:CC:dd:EE:ff", 0, "aabbccddeeff" },
        { "01-80-c2-00-00-00", 0, "0180c2000000" },
        { "00:00:00:00:00:00", 0, "000000000000" },
        { "ff:ff:ff:ff:ff:ff", 0, "ffffffffffff" },
        { "", -EINVAL, NULL },
        { "52:54:00:12:34", -EINVAL, NULL },
        { "52:54:00:12:34:5", -EINVAL, NULL },
        { "52:54:00:12:34:567", -EINVAL, NULL },
        { "52:54:00:12:34:56:", -EINVAL, NULL },
        { "52:54-00:12:34:56", -EINVAL, NULL },
        { "52.54.00.12.34.56", -EINVAL, NULL },
        { "5254:0012:3456:00", -EINVAL, NULL },
        { "g2:54:00:12:34:56", -EINVAL, NULL },
        { "52:54:00:12:34:5g", -EINVAL, NULL },
        { " 52:54:00:12:34:5", -EINVAL, NULL },
        { "525400123456", -EINVAL, NULL },
};

/* 802.1Q tagging (IEEE 802.1Q-2018 9.6): the tag goes between the source
 * MAC and the EtherType, TPID 0x8100, TCI = PCP<<13 | DEI<<12 | VID. */
static void test_vlan_tag(void) {
        static const uint8_t frame[] = {
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
                0x08, 0x06, 0x00, 0x01, 0x08, 0x00,
        };
        static const uint8_t want[] = {
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
                0x81, 0x00, 0x00, 0x64, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00,
        };
        uint8_t buf[VSM_ETH_VLAN_FRAME_MAX], big[VSM_ETH_FRAME_MAX + 1] = { 0 };
        VsmWriter w;

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_eth_vlan_tag_write(&w, frame, sizeof(frame), 100, 0), ==, 0);
        g_assert_cmpmem(buf, w.len, want, sizeof(want));
        /* PCP 5, VID 4094: TCI 0xaffe */
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_eth_vlan_tag_write(&w, frame, sizeof(frame), 4094, 5), ==, 0);
        g_assert_cmpuint(buf[14], ==, 0xaf);
        g_assert_cmpuint(buf[15], ==, 0xfe);
        /* A maximal frame still fits, tagged. */
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_eth_vlan_tag_write(&w, big, VSM_ETH_FRAME_MAX, 1, 0), ==, 0);
        g_assert_cmpuint(w.len, ==, VSM_ETH_VLAN_FRAME_MAX);
        /* Refusals leave the writer as it was. */
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_eth_vlan_tag_write(&w, big, VSM_ETH_FRAME_MAX + 1, 1, 0), ==, -EBADMSG);
        g_assert_cmpint(vsm_eth_vlan_tag_write(&w, frame, VSM_ETH_HLEN - 1, 1, 0), ==, -EBADMSG);
        g_assert_cmpint(vsm_eth_vlan_tag_write(&w, frame, sizeof(frame), 0, 0), ==, -EINVAL);
        g_assert_cmpint(vsm_eth_vlan_tag_write(&w, frame, sizeof(frame), 4095, 0), ==, -EINVAL);
        g_assert_cmpint(vsm_eth_vlan_tag_write(&w, frame, sizeof(frame), 1, 8), ==, -EINVAL);
        g_assert_cmpuint(w.len, ==, 0);
        vsm_writer_init(&w, buf, sizeof(frame) + 3);
        g_assert_cmpint(vsm_eth_vlan_tag_write(&w, frame, sizeof(frame), 1, 0), ==, -ENOBUFS);
        g_assert_cmpuint(w.len, ==, 0);
}

static void test_mac(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(mac_cases); i++) {
                const MacCase *c = &mac_cases[i];
                uint8_t mac[VSM_ETH_ALEN];
                char buf[18];

                g_test_message("case '%s'", c->text);
                memset(mac, 0xa5, sizeof(mac));
                g_assert_cmpint(vsm_mac_parse(c->text, mac), ==, c->ret);
                if (c->ret < 0) {
                        vsm_assert_hex(mac, sizeof(mac), "a5a5a5a5a5a5");
                        continue;
                }
                vsm_assert_hex(mac, sizeof(mac), c->hex);

                /* Formatting gives the canonical lowercase ':' form, which
                 * parses back to the same octets. */
                memset(buf, 'x', sizeof(buf));
                g_assert_true(vsm_mac_format(mac, buf) == buf);
                {
                        g_autofree char *canon = g_ascii_strdown(c->text, -1);

                        g_strdelimit(canon, "-", ':');
                        g_assert_cmpstr(buf, ==, canon);
                }
                {
                        uint8_t back[VSM_ETH_ALEN];

                        g_assert_cmpint(vsm_mac_parse(buf, back), ==, 0);
                        g_assert_cmpmem(back, sizeof(back), mac, sizeof(mac));
                }
        }
        g_assert_cmpint(vsm_mac_parse(NULL, (uint8_t[VSM_ETH_ALEN]) {}), ==, -EINVAL);
}

static void test_mac_format(void) {
        const uint8_t mac[VSM_ETH_ALEN] = { 0x01, 0x80, 0xc2, 0xab, 0xcd, 0xef };
        char buf[18];

        g_assert_cmpstr(vsm_mac_format(mac, buf), ==, "01:80:c2:ab:cd:ef");
}

typedef struct {
        const char *text;
        int ret;
        const char *hex;
} UuidCase;

static const UuidCase uuid_cases[] = {
        { "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", 0, "0f1e2d3c4b5a69788796a5b4c3d2e1f0" },
        { "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", 0, "0f1e2d3c4b5a69788796a5b4c3d2e1f0" },
        { "00000000-0000-0000-0000-000000000000", 0, "00000000000000000000000000000000" },
        { "ffffffff-ffff-ffff-ffff-ffffffffffff", 0, "ffffffffffffffffffffffffffffffff" },
        { "", -EINVAL, NULL },
        { "0f1e2d3c4b5a69788796a5b4c3d2e1f0", -EINVAL, NULL },
        { "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f", -EINVAL, NULL },
        { "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f00", -EINVAL, NULL },
        { "0f1e2d3c-4b5a-6978-8796_a5b4c3d2e1f0", -EINVAL, NULL },
        { "0f1e2d3-c4b5a-6978-8796-a5b4c3d2e1f0", -EINVAL, NULL },
        { "{f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f}", -EINVAL, NULL },
        { "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fz", -EINVAL, NULL },
        { "vsimig-mgr", -EINVAL, NULL },
};

static void test_uuid(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(uuid_cases); i++) {
                const UuidCase *c = &uuid_cases[i];
                uint8_t uuid[16], back[16];
                char buf[37];

                g_test_message("case '%s'", c->text);
                memset(uuid, 0xa5, sizeof(uuid));
                g_assert_cmpint(vsm_uuid_parse(c->text, uuid), ==, c->ret);
                if (c->ret < 0) {
                        vsm_assert_hex(uuid, sizeof(uuid), "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5");
                        continue;
                }
                vsm_assert_hex(uuid, sizeof(uuid), c->hex);

                g_assert_true(vsm_uuid_format(uuid, buf) == buf);
                g_assert_cmpint(g_ascii_strcasecmp(buf, c->text), ==, 0);
                for (const char *p = buf; *p; p++)
                        g_assert_false(g_ascii_isupper(*p));
                g_assert_cmpint(vsm_uuid_parse(buf, back), ==, 0);
                g_assert_cmpmem(back, sizeof(back), uuid, sizeof(uuid));
        }
        g_assert_cmpint(vsm_uuid_parse(NULL, (uint8_t[16]) {}), ==, -EINVAL);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/eth/constants", test_constants);
        g_test_add_func("/proto/eth/vlan-tag", test_vlan_tag);
        g_test_add_func("/proto/eth/header/parse", test_header_parse);
        g_test_add_func("/proto/eth/header/write", test_header_write);
        g_test_add_func("/proto/eth/pad", test_pad);
        g_test_add_func("/proto/eth/mac/parse", test_mac);
        g_test_add_func("/proto/eth/mac/format", test_mac_format);
        g_test_add_func("/proto/eth/uuid", test_uuid);

        return g_test_run();
}

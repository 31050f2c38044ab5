/* Unit tests for src/proto/ecp.c: the ECP22 header, alone and in frames. */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/ecp.h"
#include "proto/eth.h"
#include "test-util.h"

typedef struct {
        const char *name;
        const char *hex;
        int ret;
        uint8_t version;
        uint8_t op;
        uint16_t subtype;
        uint16_t seq;
} ParseCase;

static const ParseCase parse_cases[] = {
        { "request",          "1001 0001", 0, 1, VSM_ECP_OP_REQUEST, VSM_ECP_SUBTYPE_VDP, 0x0001 },
        { "ack",              "1401 0001", 0, 1, VSM_ECP_OP_ACK, VSM_ECP_SUBTYPE_VDP, 0x0001 },
        { "seq-max",          "1001 ffff", 0, 1, VSM_ECP_OP_REQUEST, VSM_ECP_SUBTYPE_VDP, 0xffff },
        { "seq-zero",         "1401 0000", 0, 1, VSM_ECP_OP_ACK, VSM_ECP_SUBTYPE_VDP, 0x0000 },
        /* Subtype is not the codec's business: returned as is. */
        { "subtype-other",    "13ff 1234", 0, 1, VSM_ECP_OP_REQUEST, 0x3ff, 0x1234 },
        { "subtype-zero",     "1000 0002", 0, 1, VSM_ECP_OP_REQUEST, 0, 0x0002 },
        /* Reserved op values and other versions: header still returned. */
        { "op-reserved-2",    "1801 0007", -EPROTONOSUPPORT, 1, 2, 1, 0x0007 },
        { "op-reserved-3",    "1c01 0008", -EPROTONOSUPPORT, 1, 3, 1, 0x0008 },
        { "version-0",        "0001 0009", -EPROTONOSUPPORT, 0, 0, 1, 0x0009 },
        { "version-2",        "2401 000a", -EPROTONOSUPPORT, 2, 1, 1, 0x000a },
        { "version-15",       "f001 000b", -EPROTONOSUPPORT, 15, 0, 1, 0x000b },
        /* Truncated. */
        { "empty",            "", -EBADMSG, 0, 0, 0, 0 },
        { "one-octet",        "10", -EBADMSG, 0, 0, 0, 0 },
        { "three-octets",     "100100", -EBADMSG, 0, 0, 0, 0 },
};

static void test_header_parse(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
                const ParseCase *c = &parse_cases[i];
                g_autoptr(GBytes) b = vsm_test_hex(c->hex);
                gsize len;
                const uint8_t *data = g_bytes_get_data(b, &len);
                VsmEcpHeader h;
                VsmReader r;
                int k;

                g_test_message("case %s", c->name);
                memset(&h, 0xa5, sizeof(h));
                vsm_reader_init(&r, data, len);
                k = vsm_ecp_header_parse(&r, &h);
                g_assert_cmpint(k, ==, c->ret);
                if (k == -EBADMSG) {
                        g_assert_cmpuint(r.off, ==, 0);
                        g_assert_cmphex(h.version, ==, 0xa5);
                        g_assert_cmphex(h.seq, ==, 0xa5a5);
                        continue;
                }
                g_assert_cmpuint(r.off, ==, VSM_ECP_HLEN);
                g_assert_cmpuint(h.version, ==, c->version);
                g_assert_cmpuint(h.op, ==, c->op);
                g_assert_cmphex(h.subtype, ==, c->subtype);
                g_assert_cmphex(h.seq, ==, c->seq);

                /* Every decodable header re-encodes to the same octets,
                 * reserved op values included. */
                {
                        uint8_t buf[VSM_ECP_HLEN];
                        VsmWriter w;

                        vsm_writer_init(&w, buf, sizeof(buf));
                        g_assert_cmpint(vsm_ecp_header_write(&w, &h), ==, 0);
                        vsm_assert_hex(buf, w.len, c->hex);
                }
        }
}

typedef struct {
        const char *name;
        VsmEcpHeader h;
        size_t cap;
        int ret;
        const char *hex;
} WriteCase;

static const WriteCase write_cases[] = {
        { "request", { 1, VSM_ECP_OP_REQUEST, VSM_ECP_SUBTYPE_VDP, 0x1234 }, 4, 0, "10011234" },
        { "ack",     { 1, VSM_ECP_OP_ACK, VSM_ECP_SUBTYPE_VDP, 0xfffe }, 8, 0, "1401fffe" },
        { "max",     { 15, 3, 0x3ff, 0xffff }, 4, 0, "ffffffff" },
        { "cap-3",   { 1, VSM_ECP_OP_ACK, VSM_ECP_SUBTYPE_VDP, 1 }, 3, -ENOBUFS, NULL },
        { "cap-0",   { 1, VSM_ECP_OP_ACK, VSM_ECP_SUBTYPE_VDP, 1 }, 0, -ENOBUFS, NULL },
        { "version-16", { 16, 0, 1, 1 }, 4, -EINVAL, NULL },
        { "op-4",       { 1, 4, 1, 1 }, 4, -EINVAL, NULL },
        { "subtype-1024", { 1, 0, 0x400, 1 }, 4, -EINVAL, NULL },
};

static void test_header_write(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(write_cases); i++) {
                const WriteCase *c = &write_cases[i];
                uint8_t buf[8];
                VsmWriter w;

                g_test_message("case %s", c->name);
                memset(buf, 0xa5, sizeof(buf));
                vsm_writer_init(&w, buf, c->cap);
                g_assert_cmpint(vsm_ecp_header_write(&w, &c->h), ==, c->ret);
                if (c->ret < 0) {
                        g_assert_cmpuint(w.len, ==, 0);
                        vsm_assert_hex(buf, sizeof(buf), "a5a5a5a5a5a5a5a5");
                        continue;
                }
                vsm_assert_hex(buf, w.len, c->hex);
        }
}

static void test_op_to_string(void) {
        g_assert_cmpstr(vsm_ecp_op_to_string(VSM_ECP_OP_REQUEST), ==, "request");
        g_assert_cmpstr(vsm_ecp_op_to_string(VSM_ECP_OP_ACK), ==, "ack");
        g_assert_null(vsm_ecp_op_to_string(_VSM_ECP_OP_MAX));
        g_assert_null(vsm_ecp_op_to_string((VsmEcpOp) 3));
}

/* An ACK frame as we build it: 18 octets, padded to 60 on the wire. */
static void test_ack_frame(void) {
        g_autoptr(GBytes) want = vsm_test_hex_file("vectors/ecp-ack.hex");
        const VsmEthHeader eh = {
                .dst = { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x00 },
                .src = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 },
                .ethertype = VSM_ETH_P_ECP,
        };
        const VsmEcpHeader h = {
                .version = VSM_ECP_VERSION,
                .op = VSM_ECP_OP_ACK,
                .subtype = VSM_ECP_SUBTYPE_VDP,
                .seq = 1,
        };
        uint8_t buf[VSM_ETH_FRAME_MAX];
        gsize want_len;
        const uint8_t *want_data = g_bytes_get_data(want, &want_len);
        VsmWriter w;

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
        g_assert_cmpint(vsm_ecp_header_write(&w, &h), ==, 0);
        g_assert_cmpuint(w.len, ==, 18);
        g_assert_cmpmem(buf, w.len, want_data, 18);
        g_assert_cmpint(vsm_eth_pad(&w), ==, 0);
        g_assert_cmpuint(w.len, ==, VSM_ETH_ZLEN);
        g_assert_cmpmem(buf, w.len, want_data, want_len);
}

typedef struct {
        const char *file;
        const char *src;
        uint8_t op;
        uint16_t seq;
        size_t ulpdu_len;      /* octets after the ECP header */
} FrameCase;

static const FrameCase frame_cases[] = {
        { "vectors/ecp-ack.hex",               "020000000002", VSM_ECP_OP_ACK,     0x0001, 42 },
        { "vectors/ecp-vdp-assoc-m.hex",       "020000000001", VSM_ECP_OP_REQUEST, 0x0001, 53 },
        { "vectors/ecp-vdp-assoc-s.hex",       "020000000001", VSM_ECP_OP_REQUEST, 0x0002, 53 },
        { "vectors/ecp-vdp-deassoc.hex",       "020000000001", VSM_ECP_OP_REQUEST, 0x0005, 53 },
        { "vectors/ecp-vdp-assoc-resp.hex",    "020000000002", VSM_ECP_OP_REQUEST, 0x8000, 53 },
};

static void test_frames(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(frame_cases); i++) {
                const FrameCase *c = &frame_cases[i];
                g_autoptr(GBytes) b = vsm_test_hex_file(c->file);
                gsize len;
                const uint8_t *data = g_bytes_get_data(b, &len);
                VsmEthHeader eh;
                VsmEcpHeader h;
                VsmReader r;

                g_test_message("frame %s", c->file);
                g_assert_cmpuint(len, >=, VSM_ETH_ZLEN);
                vsm_reader_init(&r, data, len);
                g_assert_cmpint(vsm_eth_header_parse(&r, &eh), ==, 0);
                g_assert_cmpmem(eh.dst, VSM_ETH_ALEN, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
                vsm_assert_hex(eh.src, VSM_ETH_ALEN, c->src);
                g_assert_cmphex(eh.ethertype, ==, VSM_ETH_P_ECP);
                g_assert_cmpint(vsm_ecp_header_parse(&r, &h), ==, 0);
                g_assert_cmpuint(h.version, ==, VSM_ECP_VERSION);
                g_assert_cmpuint(h.op, ==, c->op);
                g_assert_cmpuint(h.subtype, ==, VSM_ECP_SUBTYPE_VDP);
                g_assert_cmphex(h.seq, ==, c->seq);
                g_assert_cmpuint(vsm_reader_remaining(&r), ==, c->ulpdu_len);
        }
}

/* lldpad 1.1's ECP ACKs (tests/data/lldpad): 18 octets, not padded. */
static void test_lldpad_acks(void) {
        static const struct {
                const char *file;
                const char *src;
        } cases[] = {
                { "lldpad/ecp-ack.hex", "02:76:73:6d:00:02" },
                { "lldpad/station-ecp-ack.hex", "02:76:73:6d:00:01" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) b = vsm_test_hex_file(cases[i].file);
                gsize len;
                const uint8_t *data = g_bytes_get_data(b, &len);
                uint8_t buf[VSM_ETH_ZLEN];
                VsmEthHeader eh, want_eh = { .ethertype = VSM_ETH_P_ECP };
                VsmEcpHeader h;
                VsmReader r;
                VsmWriter w;

                g_test_message("lldpad %s", cases[i].file);
                g_assert_cmpuint(len, ==, 18);
                vsm_reader_init(&r, data, len);
                g_assert_cmpint(vsm_eth_header_parse(&r, &eh), ==, 0);
                g_assert_cmpmem(eh.dst, VSM_ETH_ALEN, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
                g_assert_cmpint(vsm_mac_parse(cases[i].src, want_eh.src), ==, 0);
                g_assert_cmpmem(eh.src, VSM_ETH_ALEN, want_eh.src, VSM_ETH_ALEN);
                g_assert_cmphex(eh.ethertype, ==, VSM_ETH_P_ECP);
                g_assert_cmpint(vsm_ecp_header_parse(&r, &h), ==, 0);
                g_assert_cmpuint(h.version, ==, VSM_ECP_VERSION);
                g_assert_cmpuint(h.op, ==, VSM_ECP_OP_ACK);
                g_assert_cmpuint(h.subtype, ==, VSM_ECP_SUBTYPE_VDP);
                g_assert_cmpuint(h.seq, ==, 1);
                g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);

                /* Our ACK is the same 18 octets before padding. */
                memcpy(want_eh.dst, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_eth_header_write(&w, &want_eh), ==, 0);
                g_assert_cmpint(vsm_ecp_header_write(&w, &h), ==, 0);
                g_assert_cmpmem(buf, w.len, data, len);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/ecp/header/parse", test_header_parse);
        g_test_add_func("/proto/ecp/header/write", test_header_write);
        g_test_add_func("/proto/ecp/op-to-string", test_op_to_string);
        g_test_add_func("/proto/ecp/frame/ack", test_ack_frame);
        g_test_add_func("/proto/ecp/frame/parse", test_frames);
        g_test_add_func("/proto/ecp/lldpad/acks", test_lldpad_acks);

        return g_test_run();
}

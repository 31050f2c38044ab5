/* Unit tests for src/proto/vdp.c: VDP22 TLV decoding and encoding. */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/ecp.h"
#include "proto/eth.h"
#include "proto/vdp.h"
#include "test-util.h"

#define ECP_FRAME_HLEN (VSM_ETH_HLEN + VSM_ECP_HLEN)
#define TLVS_MAX 40

#define MGR_HEX "7673696d69672d6d6772000000000000"  /* "vsimig-mgr" */
#define VSIID_HEX "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define VM_MAC_HEX "525400123456"

/* ---- helpers ------------------------------------------------------- */

/* Decode TLVs until the decoder says stop; returns how many decoded,
 * *ret_last the stopping code, *ret_end the offset after the last good
 * TLV. */
static size_t decode_all(const uint8_t *data, size_t len, VsmVdpTlv *tlvs, size_t max,
                         int *ret_last, size_t *ret_end) {
        VsmReader r;
        size_t n = 0, end = 0;
        int k;

        vsm_reader_init(&r, data, len);
        for (;;) {
                VsmVdpTlv t;

                g_assert_cmpuint(n, <=, max);
                k = vsm_vdp_tlv_next(&r, &t);
                if (k != 0)
                        break;
                if (n < max)
                        tlvs[n] = t;
                n++;
                end = r.off;
        }
        /* Whatever stopped it, the reader is at the end now. */
        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
        *ret_last = k;
        if (ret_end)
                *ret_end = end;
        return n;
}

/* Re-encode one decoded TLV; unknown types are not re-encodable. */
static int write_tlv(VsmWriter *w, const VsmVdpTlv *t) {
        switch (t->type) {
        case VSM_VDP_TLV_MANAGER_ID:
                return vsm_vdp_write_manager_id(w, t->manager_id);
        case VSM_VDP_TLV_PRE_ASSOCIATE:
        case VSM_VDP_TLV_PRE_ASSOCIATE_RR:
        case VSM_VDP_TLV_ASSOCIATE:
        case VSM_VDP_TLV_DE_ASSOCIATE:
                return vsm_vdp_write_vsi(w, &t->vsi);
        case VSM_VDP_TLV_ORG:
                return vsm_vdp_write_org(w, &t->org);
        default:
                return -EOPNOTSUPP;
        }
}

static const uint8_t *bytes_data(GBytes *b, size_t *ret_len) {
        gsize len;
        const uint8_t *p = g_bytes_get_data(b, &len);

        *ret_len = len;
        return p;
}

/* ---- decoding our vectors ------------------------------------------ */

typedef struct {
        const char *file;
        size_t ulpdu_off;                 /* ECP frame: after eth + ECP header */
        size_t n;                         /* TLVs decoded */
        uint8_t types[4];
        uint8_t status;                   /* of the VSI TLV */
        uint8_t filter_format;
        uint16_t n_filters;
} VectorCase;

static const VectorCase vector_cases[] = {
        { "vectors/ecp-vdp-assoc-m.hex", ECP_FRAME_HLEN, 2, { 5, 3 }, 0x10, 2, 1 },
        { "vectors/ecp-vdp-assoc-s.hex", ECP_FRAME_HLEN, 2, { 5, 3 }, 0x20, 2, 1 },
        { "vectors/ecp-vdp-preassoc-m.hex", ECP_FRAME_HLEN, 2, { 5, 1 }, 0x10, 2, 1 },
        { "vectors/ecp-vdp-preassoc-rr.hex", ECP_FRAME_HLEN, 2, { 5, 2 }, 0x00, 2, 1 },
        { "vectors/ecp-vdp-deassoc.hex", ECP_FRAME_HLEN, 2, { 5, 4 }, 0x00, 2, 1 },
        { "vectors/ecp-vdp-assoc-resp.hex", ECP_FRAME_HLEN, 2, { 5, 3 }, 0x40, 2, 1 },
        { "vectors/ecp-vdp-assoc-resp-keep.hex", ECP_FRAME_HLEN, 2, { 5, 3 }, 0x64, 2, 1 },
        { "vectors/ecp-vdp-assoc-resp-hard.hex", ECP_FRAME_HLEN, 2, { 5, 3 }, 0x52, 2, 1 },
        { "vectors/vdp-filter-vid.hex", 0, 1, { 3 }, 0x10, 1, 2 },
        { "vectors/vdp-filter-group-vid.hex", 0, 1, { 1 }, 0x00, 3, 1 },
        { "vectors/vdp-filter-group-mac-vid.hex", 0, 1, { 2 }, 0x00, 4, 2 },
        { "vectors/vdp-org-end.hex", 0, 3, { 5, 0x7f, 4 }, 0x00, 2, 1 },
};

static void test_vectors(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(vector_cases); i++) {
                const VectorCase *c = &vector_cases[i];
                g_autoptr(GBytes) b = vsm_test_hex_file(c->file);
                VsmVdpTlv tlvs[TLVS_MAX];
                size_t len, n, end;
                const uint8_t *data = bytes_data(b, &len);
                uint8_t buf[VSM_ETH_FRAME_MAX];
                VsmWriter w;
                int last;

                g_test_message("vector %s", c->file);
                g_assert_cmpuint(len, >=, c->ulpdu_off);
                n = decode_all(data + c->ulpdu_off, len - c->ulpdu_off, tlvs, TLVS_MAX, &last, &end);
                g_assert_cmpint(last, ==, -ENODATA);
                g_assert_cmpuint(n, ==, c->n);

                for (size_t j = 0; j < n; j++) {
                        const VsmVdpTlv *t = &tlvs[j];
                        VsmVdpRequest req;

                        g_assert_cmpuint(t->type, ==, c->types[j]);
                        if (vsm_vdp_request_from_tlv(t->type, &req) < 0)
                                continue;
                        g_assert_cmpint(t->vsi.request, ==, req);
                        g_assert_cmphex(t->vsi.status, ==, c->status);
                        g_assert_cmphex(t->vsi.type_id, ==, 0x123456);
                        g_assert_cmpuint(t->vsi.type_version, ==, 1);
                        g_assert_cmpuint(t->vsi.vsiid_format, ==, VSM_VDP_VSIID_UUID);
                        vsm_assert_hex(t->vsi.vsiid, VSM_VDP_VSIID_LEN, VSIID_HEX);
                        g_assert_cmpuint(t->vsi.filter_format, ==, c->filter_format);
                        g_assert_cmpuint(t->vsi.n_filters, ==, c->n_filters);
                }

                /* Re-encoding reproduces the octets; what follows the last
                 * TLV is an END TLV or Ethernet padding, all zero. */
                vsm_writer_init(&w, buf, sizeof(buf));
                for (size_t j = 0; j < n; j++)
                        g_assert_cmpint(write_tlv(&w, &tlvs[j]), ==, 0);
                g_assert_cmpmem(buf, w.len, data + c->ulpdu_off, end);
                for (size_t j = c->ulpdu_off + end; j < len; j++)
                        g_assert_cmphex(data[j], ==, 0);
        }
}

static void test_assoc_m_fields(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/ecp-vdp-assoc-m.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmVdpTlv tlvs[4];
        const VsmVdpVsi *v;
        int last;

        g_assert_cmpuint(decode_all(data + ECP_FRAME_HLEN, len - ECP_FRAME_HLEN, tlvs, 4, &last, NULL), ==, 2);
        g_assert_cmpuint(tlvs[0].type, ==, VSM_VDP_TLV_MANAGER_ID);
        g_assert_cmpuint(tlvs[0].len, ==, 16);
        vsm_assert_hex(tlvs[0].manager_id, VSM_VDP_MANAGER_ID_LEN, MGR_HEX);

        g_assert_cmpuint(tlvs[1].type, ==, VSM_VDP_TLV_ASSOCIATE);
        g_assert_cmpuint(tlvs[1].len, ==, 33);
        v = &tlvs[1].vsi;
        g_assert_cmpint(v->request, ==, VSM_VDP_REQ_ASSOCIATE);
        g_assert_true(v->status & VSM_VDP_STATUS_M);
        g_assert_false(v->status & VSM_VDP_STATUS_S);
        g_assert_false(v->status & VSM_VDP_STATUS_RESPONSE);
        g_assert_cmpuint(v->filter_format, ==, VSM_VDP_FILTER_MAC_VID);
        g_assert_cmpuint(v->n_filters, ==, 1);
        vsm_assert_hex(v->filters[0].mac, VSM_ETH_ALEN, VM_MAC_HEX);
        g_assert_false(v->filters[0].ps);
        g_assert_cmpuint(v->filters[0].pcp, ==, 0);
        g_assert_cmpuint(v->filters[0].vid, ==, 10);
        g_assert_cmpuint(v->filters[0].group_id, ==, 0);
}

static void test_response_bits(void) {
        static const struct {
                const char *file;
                bool hard, keep;
                uint8_t error;
        } cases[] = {
                { "vectors/ecp-vdp-assoc-resp.hex", false, false, VSM_VDP_ERR_OK },
                { "vectors/ecp-vdp-assoc-resp-keep.hex", false, true, VSM_VDP_ERR_OTHER },
                { "vectors/ecp-vdp-assoc-resp-hard.hex", true, false, VSM_VDP_ERR_INSUFFICIENT_RESOURCES },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) b = vsm_test_hex_file(cases[i].file);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmVdpTlv tlvs[4];
                uint8_t st;
                int last;

                g_assert_cmpuint(decode_all(data + ECP_FRAME_HLEN, len - ECP_FRAME_HLEN, tlvs, 4, &last, NULL), ==, 2);
                st = tlvs[1].vsi.status;
                g_assert_true(st & VSM_VDP_STATUS_RESPONSE);
                g_assert_cmpint(!!(st & VSM_VDP_STATUS_HARD_ERROR), ==, cases[i].hard);
                g_assert_cmpint(!!(st & VSM_VDP_STATUS_KEEP), ==, cases[i].keep);
                g_assert_cmpuint(st & VSM_VDP_STATUS_REASON_MASK, ==, cases[i].error);
        }
}

static void test_filter_formats(void) {
        g_autoptr(GBytes) vid = vsm_test_hex_file("vectors/vdp-filter-vid.hex");
        g_autoptr(GBytes) gvid = vsm_test_hex_file("vectors/vdp-filter-group-vid.hex");
        g_autoptr(GBytes) gmv = vsm_test_hex_file("vectors/vdp-filter-group-mac-vid.hex");
        VsmVdpTlv t[2];
        const VsmVdpFilter *f;
        size_t len;
        const uint8_t *data;
        int last;

        data = bytes_data(vid, &len);
        g_assert_cmpuint(decode_all(data, len, t, 2, &last, NULL), ==, 1);
        g_assert_cmpuint(t[0].len, ==, 25 + 2 * 2);
        f = t[0].vsi.filters;
        g_assert_true(f[0].ps);
        g_assert_cmpuint(f[0].pcp, ==, 5);
        g_assert_cmpuint(f[0].vid, ==, 100);
        g_assert_false(f[1].ps);
        g_assert_cmpuint(f[1].pcp, ==, 0);
        g_assert_cmpuint(f[1].vid, ==, 4095);

        data = bytes_data(gvid, &len);
        g_assert_cmpuint(decode_all(data, len, t, 2, &last, NULL), ==, 1);
        g_assert_cmpuint(t[0].len, ==, 25 + 6);
        f = t[0].vsi.filters;
        g_assert_cmphex(f[0].group_id, ==, 0xabcd);
        g_assert_cmpuint(f[0].pcp, ==, 3);
        g_assert_cmpuint(f[0].vid, ==, 20);

        data = bytes_data(gmv, &len);
        g_assert_cmpuint(decode_all(data, len, t, 2, &last, NULL), ==, 1);
        g_assert_cmpuint(t[0].len, ==, 25 + 2 * 12);
        f = t[0].vsi.filters;
        g_assert_cmphex(f[0].group_id, ==, 0xdeadbeef);
        vsm_assert_hex(f[0].mac, VSM_ETH_ALEN, VM_MAC_HEX);
        g_assert_true(f[0].ps);
        g_assert_cmpuint(f[0].pcp, ==, 7);
        g_assert_cmpuint(f[0].vid, ==, 1);
        g_assert_cmphex(f[1].group_id, ==, 1);
        vsm_assert_hex(f[1].mac, VSM_ETH_ALEN, "525400000002");
        g_assert_cmpuint(f[1].vid, ==, 2);
}

static void test_org(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/vdp-org-end.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmVdpTlv t[4];
        int last;

        g_assert_cmpuint(decode_all(data, len, t, 4, &last, NULL), ==, 3);
        g_assert_cmpint(last, ==, -ENODATA);
        g_assert_cmpuint(t[1].type, ==, VSM_VDP_TLV_ORG);
        g_assert_cmpuint(t[1].len, ==, 6);
        vsm_assert_hex(t[1].org.oui, 3, "001b3f");
        g_assert_cmpuint(t[1].org.len, ==, 3);
        vsm_assert_hex(t[1].org.data, t[1].org.len, "010203");
}

static void test_unknown_type(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/vdp-unknown-type.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmVdpTlv t[4];
        int last;

        g_assert_cmpuint(decode_all(data, len, t, 4, &last, NULL), ==, 2);
        g_assert_cmpuint(t[0].type, ==, 0x20);
        g_assert_cmpuint(t[0].len, ==, 3);
        /* Only type and len are set for an unknown type. */
        for (size_t i = 0; i < sizeof(t[0].vsi); i++)
                g_assert_cmphex(((const uint8_t *) &t[0].vsi)[i], ==, 0);
        g_assert_cmpuint(t[1].type, ==, VSM_VDP_TLV_MANAGER_ID);
        g_assert_cmpint(last, ==, -ENODATA);
}

/* ---- building a frame from scratch --------------------------------- */

static void build_assoc(VsmVdpVsi *v, VsmVdpRequest req, uint8_t status) {
        memset(v, 0, sizeof(*v));
        v->request = req;
        v->status = status;
        v->type_id = 0x123456;
        v->type_version = 1;
        v->vsiid_format = VSM_VDP_VSIID_UUID;
        g_assert_cmpint(vsm_uuid_parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", v->vsiid), ==, 0);
        v->filter_format = VSM_VDP_FILTER_MAC_VID;
        v->n_filters = 1;
        g_assert_cmpint(vsm_mac_parse("52:54:00:12:34:56", v->filters[0].mac), ==, 0);
        v->filters[0].vid = 10;
}

static void test_build_frames(void) {
        static const struct {
                const char *file;
                const char *src;
                uint16_t seq;
                VsmVdpRequest req;
                uint8_t status;
        } cases[] = {
                { "vectors/ecp-vdp-assoc-m.hex", "02:00:00:00:00:01", 1, VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_M },
                { "vectors/ecp-vdp-assoc-s.hex", "02:00:00:00:00:01", 2, VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_S },
                { "vectors/ecp-vdp-preassoc-m.hex", "02:00:00:00:00:01", 3, VSM_VDP_REQ_PRE_ASSOCIATE, VSM_VDP_STATUS_M },
                { "vectors/ecp-vdp-preassoc-rr.hex", "02:00:00:00:00:01", 4, VSM_VDP_REQ_PRE_ASSOCIATE_RR, 0 },
                { "vectors/ecp-vdp-deassoc.hex", "02:00:00:00:00:01", 5, VSM_VDP_REQ_DE_ASSOCIATE, 0 },
                { "vectors/ecp-vdp-assoc-resp.hex", "02:00:00:00:00:02", 0x8000, VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_RESPONSE },
                { "vectors/ecp-vdp-assoc-resp-keep.hex", "02:00:00:00:00:02", 0x8001, VSM_VDP_REQ_ASSOCIATE,
                  VSM_VDP_STATUS_RESPONSE | VSM_VDP_STATUS_KEEP | VSM_VDP_ERR_OTHER },
                { "vectors/ecp-vdp-assoc-resp-hard.hex", "02:00:00:00:00:02", 0x8002, VSM_VDP_REQ_ASSOCIATE,
                  VSM_VDP_STATUS_RESPONSE | VSM_VDP_STATUS_HARD_ERROR | VSM_VDP_ERR_INSUFFICIENT_RESOURCES },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GBytes) want = vsm_test_hex_file(cases[i].file);
                VsmEthHeader eh = { .ethertype = VSM_ETH_P_ECP };
                VsmEcpHeader h = {
                        .version = VSM_ECP_VERSION,
                        .op = VSM_ECP_OP_REQUEST,
                        .subtype = VSM_ECP_SUBTYPE_VDP,
                        .seq = cases[i].seq,
                };
                uint8_t mgr[VSM_VDP_MANAGER_ID_LEN];
                uint8_t buf[VSM_ETH_FRAME_MAX];
                size_t want_len;
                const uint8_t *want_data = bytes_data(want, &want_len);
                VsmVdpVsi v;
                VsmWriter w;

                g_test_message("build %s", cases[i].file);
                memcpy(eh.dst, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
                g_assert_cmpint(vsm_mac_parse(cases[i].src, eh.src), ==, 0);
                g_assert_cmpint(vsm_vdp_manager_id_from_string("vsimig-mgr", mgr), ==, 0);
                build_assoc(&v, cases[i].req, cases[i].status);

                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
                g_assert_cmpint(vsm_ecp_header_write(&w, &h), ==, 0);
                g_assert_cmpint(vsm_vdp_write_manager_id(&w, mgr), ==, 0);
                g_assert_cmpint(vsm_vdp_write_vsi(&w, &v), ==, 0);
                /* 14 + 4 + 18 + 35: already longer than the minimum. */
                g_assert_cmpuint(w.len, ==, 71);
                g_assert_cmpint(vsm_eth_pad(&w), ==, 0);
                g_assert_cmpmem(buf, w.len, want_data, want_len);
        }
}

/* ---- real frames from lldpad 1.1 (tests/data/lldpad/README.md) ------ */

#define LLDPAD_STATION_MAC "0276736d0001"
#define LLDPAD_BRIDGE_MAC "0276736d0002"
#define LLDPAD_VSIID_PREFIX "4e1c3a527b9d4f0e9a215c6d7e8f90"

typedef struct {
        const char *file;
        bool from_bridge;
        uint16_t seq;
        uint8_t type;          /* of the VSI TLV */
        uint8_t status;
        unsigned vsi;          /* U1..U3: last octet of VSIID and MAC */
} LldpadCase;

static const LldpadCase lldpad_cases[] = {
        { "lldpad/station-preassoc.hex", false, 1, VSM_VDP_TLV_PRE_ASSOCIATE, 0x00, 1 },
        { "lldpad/bridge-preassoc-resp.hex", true, 1, VSM_VDP_TLV_PRE_ASSOCIATE, 0x40, 1 },
        { "lldpad/station-assoc.hex", false, 2, VSM_VDP_TLV_ASSOCIATE, 0x00, 1 },
        { "lldpad/bridge-assoc-plain-resp.hex", true, 2, VSM_VDP_TLV_ASSOCIATE, 0x40, 1 },
        { "lldpad/station-assoc-m.hex", false, 3, VSM_VDP_TLV_ASSOCIATE, 0x10, 2 },
        { "lldpad/bridge-assoc-resp.hex", true, 3, VSM_VDP_TLV_ASSOCIATE, 0x40, 2 },
        { "lldpad/station-assoc-s.hex", false, 4, VSM_VDP_TLV_ASSOCIATE, 0x20, 3 },
        { "lldpad/bridge-assoc-s-resp.hex", true, 4, VSM_VDP_TLV_ASSOCIATE, 0x40, 3 },
        { "lldpad/station-deassoc.hex", false, 5, VSM_VDP_TLV_DE_ASSOCIATE, 0x00, 1 },
        { "lldpad/bridge-deassoc-resp.hex", true, 5, VSM_VDP_TLV_DE_ASSOCIATE, 0x40, 1 },
        /* Keep-alive: lldpad's station keeps the M-bit the VSI was made with. */
        { "lldpad/station-keepalive-m.hex", false, 6, VSM_VDP_TLV_ASSOCIATE, 0x10, 2 },
        /* lldpad's bridge de-associates on its own ~15.8 s after answering
         * a DE-ASSOCIATE: a request (no response bit), status 0. */
        { "lldpad/bridge-unsolicited-deassoc.hex", true, 9, VSM_VDP_TLV_DE_ASSOCIATE, 0x00, 1 },
};

static void test_lldpad_frames(void) {
        uint8_t mgr[VSM_VDP_MANAGER_ID_LEN];

        g_assert_cmpint(vsm_vdp_manager_id_from_string("vsimig", mgr), ==, 0);

        for (size_t i = 0; i < G_N_ELEMENTS(lldpad_cases); i++) {
                const LldpadCase *c = &lldpad_cases[i];
                g_autoptr(GBytes) b = vsm_test_hex_file(c->file);
                g_autofree char *vsiid = g_strdup_printf(LLDPAD_VSIID_PREFIX "%02x", c->vsi);
                g_autofree char *mac = g_strdup_printf("5254000000%02x", c->vsi);
                VsmVdpTlv tlvs[TLVS_MAX];
                size_t len, n, end;
                const uint8_t *data = bytes_data(b, &len);
                const VsmVdpVsi *v;
                VsmVdpRequest req;
                uint8_t buf[VSM_ETH_FRAME_MAX];
                VsmEthHeader eh;
                VsmEcpHeader h;
                VsmReader r;
                VsmWriter w;
                int last;

                g_test_message("lldpad %s", c->file);
                /* Manager ID + one VSI TLV, no End TLV, no padding. */
                g_assert_cmpuint(len, ==, 71);

                vsm_reader_init(&r, data, len);
                g_assert_cmpint(vsm_eth_header_parse(&r, &eh), ==, 0);
                g_assert_cmpmem(eh.dst, VSM_ETH_ALEN, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
                vsm_assert_hex(eh.src, VSM_ETH_ALEN, c->from_bridge ? LLDPAD_BRIDGE_MAC : LLDPAD_STATION_MAC);
                g_assert_cmphex(eh.ethertype, ==, VSM_ETH_P_ECP);
                g_assert_cmpint(vsm_ecp_header_parse(&r, &h), ==, 0);
                g_assert_cmpuint(h.version, ==, VSM_ECP_VERSION);
                /* A VDP response travels as an ECP request. */
                g_assert_cmpuint(h.op, ==, VSM_ECP_OP_REQUEST);
                g_assert_cmpuint(h.subtype, ==, VSM_ECP_SUBTYPE_VDP);
                g_assert_cmpuint(h.seq, ==, c->seq);

                n = decode_all(vsm_reader_peek(&r), vsm_reader_remaining(&r), tlvs, TLVS_MAX, &last, &end);
                g_assert_cmpint(last, ==, -ENODATA);
                g_assert_cmpuint(n, ==, 2);
                g_assert_cmpuint(end, ==, len - ECP_FRAME_HLEN);

                g_assert_cmpuint(tlvs[0].type, ==, VSM_VDP_TLV_MANAGER_ID);
                g_assert_cmpmem(tlvs[0].manager_id, VSM_VDP_MANAGER_ID_LEN, mgr, sizeof(mgr));

                g_assert_cmpuint(tlvs[1].type, ==, c->type);
                g_assert_cmpuint(tlvs[1].len, ==, 33);
                v = &tlvs[1].vsi;
                g_assert_cmpint(vsm_vdp_request_from_tlv(c->type, &req), ==, 0);
                g_assert_cmpint(v->request, ==, req);
                g_assert_cmphex(v->status, ==, c->status);
                g_assert_cmpint(!!(v->status & VSM_VDP_STATUS_RESPONSE), ==, c->status == 0x40);
                if (!(v->status & VSM_VDP_STATUS_RESPONSE)) {
                        g_assert_cmpint(!!(v->status & VSM_VDP_STATUS_M), ==, c->vsi == 2);
                        g_assert_cmpint(!!(v->status & VSM_VDP_STATUS_S), ==, c->vsi == 3);
                } else {
                        /* The bridge does not echo M/S: no hard error, no
                         * keep, error 0. */
                        g_assert_false(v->status & VSM_VDP_STATUS_HARD_ERROR);
                        g_assert_false(v->status & VSM_VDP_STATUS_KEEP);
                        g_assert_cmpuint(v->status & VSM_VDP_STATUS_REASON_MASK, ==, VSM_VDP_ERR_OK);
                }
                g_assert_cmphex(v->type_id, ==, 4660);
                g_assert_cmpuint(v->type_version, ==, 1);
                g_assert_cmpuint(v->vsiid_format, ==, VSM_VDP_VSIID_UUID);
                vsm_assert_hex(v->vsiid, VSM_VDP_VSIID_LEN, vsiid);
                g_assert_cmpuint(v->filter_format, ==, VSM_VDP_FILTER_MAC_VID);
                g_assert_cmpuint(v->n_filters, ==, 1);
                vsm_assert_hex(v->filters[0].mac, VSM_ETH_ALEN, mac);
                g_assert_false(v->filters[0].ps);
                g_assert_cmpuint(v->filters[0].pcp, ==, 0);
                g_assert_cmpuint(v->filters[0].vid, ==, 10);

                /* Re-encoding gives lldpad's frame octet for octet. */
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
                g_assert_cmpint(vsm_ecp_header_write(&w, &h), ==, 0);
                for (size_t j = 0; j < n; j++)
                        g_assert_cmpint(write_tlv(&w, &tlvs[j]), ==, 0);
                g_assert_cmpint(vsm_eth_pad(&w), ==, 0);
                g_assert_cmpmem(buf, w.len, data, len);
        }
}

/* lldpad's bridge answers with the request's TLVs, status 0x40. */
static void test_lldpad_answers(void) {
        static const char *const pairs[][2] = {
                { "lldpad/station-preassoc.hex", "lldpad/bridge-preassoc-resp.hex" },
                { "lldpad/station-assoc.hex", "lldpad/bridge-assoc-plain-resp.hex" },
                { "lldpad/station-assoc-m.hex", "lldpad/bridge-assoc-resp.hex" },
                { "lldpad/station-assoc-s.hex", "lldpad/bridge-assoc-s-resp.hex" },
                { "lldpad/station-deassoc.hex", "lldpad/bridge-deassoc-resp.hex" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++) {
                g_autoptr(GBytes) req = vsm_test_hex_file(pairs[i][0]);
                g_autoptr(GBytes) resp = vsm_test_hex_file(pairs[i][1]);
                size_t req_len, resp_len;
                const uint8_t *req_data = bytes_data(req, &req_len);
                const uint8_t *resp_data = bytes_data(resp, &resp_len);
                uint8_t buf[VSM_ETH_FRAME_MAX];
                VsmVdpTlv tlvs[4];
                VsmWriter w;
                int last;

                g_test_message("answer to %s", pairs[i][0]);
                g_assert_cmpuint(decode_all(req_data + ECP_FRAME_HLEN, req_len - ECP_FRAME_HLEN,
                                            tlvs, 4, &last, NULL), ==, 2);
                tlvs[1].vsi.status = VSM_VDP_STATUS_RESPONSE | VSM_VDP_ERR_OK;

                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_vdp_write_manager_id(&w, tlvs[0].manager_id), ==, 0);
                g_assert_cmpint(vsm_vdp_write_vsi(&w, &tlvs[1].vsi), ==, 0);
                g_assert_cmpmem(buf, w.len, resp_data + ECP_FRAME_HLEN, resp_len - ECP_FRAME_HLEN);
        }
}

/* What vsimigd must send to look exactly like lldpad's station. */
static void test_lldpad_build_assoc_m(void) {
        g_autoptr(GBytes) want = vsm_test_hex_file("lldpad/station-assoc-m.hex");
        size_t want_len;
        const uint8_t *want_data = bytes_data(want, &want_len);
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_ECP };
        const VsmEcpHeader h = {
                .version = VSM_ECP_VERSION,
                .op = VSM_ECP_OP_REQUEST,
                .subtype = VSM_ECP_SUBTYPE_VDP,
                .seq = 3,
        };
        VsmVdpVsi v = {
                .request = VSM_VDP_REQ_ASSOCIATE,
                .status = VSM_VDP_STATUS_M,
                .type_id = 4660,
                .type_version = 1,
                .vsiid_format = VSM_VDP_VSIID_UUID,
                .filter_format = VSM_VDP_FILTER_MAC_VID,
                .n_filters = 1,
                .filters = { { .vid = 10 } },
        };
        uint8_t mgr[VSM_VDP_MANAGER_ID_LEN];
        uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmWriter w;

        memcpy(eh.dst, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
        g_assert_cmpint(vsm_mac_parse("02:76:73:6d:00:01", eh.src), ==, 0);
        g_assert_cmpint(vsm_vdp_manager_id_from_string("vsimig", mgr), ==, 0);
        g_assert_cmpint(vsm_uuid_parse("4e1c3a52-7b9d-4f0e-9a21-5c6d7e8f9002", v.vsiid), ==, 0);
        g_assert_cmpint(vsm_mac_parse("52:54:00:00:00:02", v.filters[0].mac), ==, 0);

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
        g_assert_cmpint(vsm_ecp_header_write(&w, &h), ==, 0);
        g_assert_cmpint(vsm_vdp_write_manager_id(&w, mgr), ==, 0);
        g_assert_cmpint(vsm_vdp_write_vsi(&w, &v), ==, 0);
        g_assert_cmpint(vsm_eth_pad(&w), ==, 0);
        g_assert_cmpmem(buf, w.len, want_data, want_len);
}

/* ---- malformed ULPDUs ---------------------------------------------- */

#define VSI_FIXED(status) status "123456" "01" "05" VSIID_HEX
#define MGR_TLV "0a10" MGR_HEX

typedef struct {
        const char *name;
        const char *hex;
        int rets[4];           /* successive returns, ending in a non-zero */
} ErrorCase;

static const ErrorCase error_cases[] = {
        { "empty", "", { -ENODATA } },
        { "end", "0000", { -ENODATA } },
        { "end-after-mgr", MGR_TLV "0000", { 0, -ENODATA } },
        { "end-then-garbage", MGR_TLV "0000 ffff", { 0, -ENODATA } },
        { "end-with-length", "0003 aabbcc", { -ENODATA } },
        { "one-pad-octet", MGR_TLV "00", { 0, -ENODATA } },
        { "padding", MGR_TLV "000000000000", { 0, -ENODATA } },
        { "truncated-header", "0a", { -EBADMSG } },
        { "truncated-header-after-mgr", MGR_TLV "07", { 0, -EBADMSG } },
        { "mgr-past-frame", "0a10 7673696d", { -EBADMSG } },
        { "vsi-past-frame", "0621" VSI_FIXED("10") "02 0001 525400123456", { -EBADMSG } },
        { "vsi-past-frame-after-mgr", MGR_TLV "0621" VSI_FIXED("10"), { 0, -EBADMSG } },
        { "org-past-frame", "fe10 0080c2", { -EBADMSG } },
        { "unknown-past-frame", "4010 aabb", { -EBADMSG } },
        { "mgr-len-15", "0a0f 7673696d69672d6d67720000000000", { -EBADMSG } },
        { "mgr-len-17", "0a11" MGR_HEX "00", { -EBADMSG } },
        { "mgr-len-0", "0a00", { -EBADMSG } },
        { "vsi-len-0", "0600", { -EBADMSG } },
        { "vsi-len-24", "0618" "10123456" "01" "05" VSIID_HEX "02" "00", { -EBADMSG } },
        { "mac-vid-len-for-vid", "0621" VSI_FIXED("10") "01 0001 525400123456 000a", { -EBADMSG } },
        { "vid-len-for-mac-vid", "061b" VSI_FIXED("10") "02 0001 000a", { -EBADMSG } },
        { "count-2-room-for-1", "0621" VSI_FIXED("10") "02 0002 525400123456 000a", { -EBADMSG } },
        { "count-0-with-entry", "0621" VSI_FIXED("10") "02 0000 525400123456 000a", { -EBADMSG } },
        { "trailing-octet", "0622" VSI_FIXED("10") "02 0001 525400123456 000a ff", { -EBADMSG } },
        { "filter-format-0", "0621" VSI_FIXED("10") "00 0001 525400123456 000a", { -EBADMSG } },
        { "filter-format-5", "0621" VSI_FIXED("10") "05 0001 525400123456 000a", { -EBADMSG } },
        { "filter-format-ff-empty", "0619" VSI_FIXED("10") "ff 0000", { -EBADMSG } },
        { "org-len-0", "fe00", { -EBADMSG } },
        { "org-len-2", "fe02 0080", { -EBADMSG } },
        { "error-stops-loop", "0a0f 7673696d69672d6d67720000000000" MGR_TLV, { -EBADMSG, -ENODATA } },
        /* Good ones next to the bad. */
        { "vsi-count-0", "0619" VSI_FIXED("00") "02 0000", { 0, -ENODATA } },
        { "org-oui-only", "fe03 0080c2", { 0, -ENODATA } },
        { "unknown-6", "0c02 aabb" MGR_TLV, { 0, 0, -ENODATA } },
        { "unknown-0x7e-empty", "fc00", { 0, -ENODATA } },
        { "every-request", "0219" VSI_FIXED("00") "02 0000"
                           "0419" VSI_FIXED("00") "02 0000"
                           "0619" VSI_FIXED("00") "02 0000", { 0, 0, 0, -ENODATA } },
};

static void test_errors(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(error_cases); i++) {
                const ErrorCase *c = &error_cases[i];
                g_autoptr(GBytes) b = vsm_test_hex(c->hex);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmReader r;

                g_test_message("case %s", c->name);
                vsm_reader_init(&r, data, len);
                for (size_t j = 0; j < G_N_ELEMENTS(c->rets); j++) {
                        VsmVdpTlv t, untouched;
                        int k;

                        memset(&t, 0xa5, sizeof(t));
                        memset(&untouched, 0xa5, sizeof(untouched));
                        k = vsm_vdp_tlv_next(&r, &t);
                        g_assert_cmpint(k, ==, c->rets[j]);
                        if (k == 0)
                                continue;
                        /* The output is not written on failure and the
                         * reader is at the end, so a loop stops. */
                        g_assert_cmpmem(&t, sizeof(t), &untouched, sizeof(untouched));
                        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
                        g_assert_cmpint(vsm_vdp_tlv_next(&r, &t), ==, -ENODATA);
                        break;
                }
        }
}

/* VSI TLVs of every shape: filter format, count and actual entry octets. */
typedef struct {
        const char *name;
        uint8_t filter_format;
        uint16_t count;
        size_t entry_octets;
        int ret;
} VsiShapeCase;

static const VsiShapeCase vsi_shape_cases[] = {
        { "vid-1",                VSM_VDP_FILTER_VID, 1, 2, 0 },
        { "mac-vid-1",            VSM_VDP_FILTER_MAC_VID, 1, 8, 0 },
        { "group-vid-1",          VSM_VDP_FILTER_GROUP_VID, 1, 6, 0 },
        { "group-mac-vid-1",      VSM_VDP_FILTER_GROUP_MAC_VID, 1, 12, 0 },
        { "mac-vid-0",            VSM_VDP_FILTER_MAC_VID, 0, 0, 0 },
        { "vid-32",               VSM_VDP_FILTER_VID, 32, 64, 0 },
        { "mac-vid-32",           VSM_VDP_FILTER_MAC_VID, 32, 256, 0 },
        { "group-mac-vid-32",     VSM_VDP_FILTER_GROUP_MAC_VID, 32, 384, 0 },
        { "vid-33",               VSM_VDP_FILTER_VID, 33, 66, -EBADMSG },
        { "mac-vid-33",           VSM_VDP_FILTER_MAC_VID, 33, 264, -EBADMSG },
        { "group-vid-33",         VSM_VDP_FILTER_GROUP_VID, 33, 198, -EBADMSG },
        { "vid-65535-empty",      VSM_VDP_FILTER_VID, 0xffff, 0, -EBADMSG },
        { "vid-with-8",           VSM_VDP_FILTER_VID, 1, 8, -EBADMSG },
        { "mac-vid-with-7",       VSM_VDP_FILTER_MAC_VID, 1, 7, -EBADMSG },
        { "mac-vid-with-9",       VSM_VDP_FILTER_MAC_VID, 1, 9, -EBADMSG },
        { "mac-vid-with-2",       VSM_VDP_FILTER_MAC_VID, 1, 2, -EBADMSG },
        { "group-vid-with-8",     VSM_VDP_FILTER_GROUP_VID, 1, 8, -EBADMSG },
        { "group-mac-vid-with-8", VSM_VDP_FILTER_GROUP_MAC_VID, 1, 8, -EBADMSG },
        { "group-mac-vid-2-with-12", VSM_VDP_FILTER_GROUP_MAC_VID, 2, 12, -EBADMSG },
        { "format-0",             0, 1, 8, -EBADMSG },
        { "format-5",             5, 1, 8, -EBADMSG },
        { "format-0-empty",       0, 0, 0, -EBADMSG },
};

static void test_vsi_shapes(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(vsi_shape_cases); i++) {
                const VsiShapeCase *c = &vsi_shape_cases[i];
                uint8_t buf[2 + 25 + 512];
                size_t tlv_len = 25 + c->entry_octets;
                VsmVdpTlv t;
                VsmReader r;
                VsmWriter w;
                int k;

                g_test_message("case %s", c->name);
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_writer_be16(&w, (uint16_t) (VSM_VDP_TLV_ASSOCIATE << 9 | tlv_len)), ==, 0);
                g_assert_cmpint(vsm_writer_u8(&w, VSM_VDP_STATUS_M), ==, 0);
                g_assert_cmpint(vsm_writer_be24(&w, 0x123456), ==, 0);
                g_assert_cmpint(vsm_writer_u8(&w, 1), ==, 0);
                g_assert_cmpint(vsm_writer_u8(&w, VSM_VDP_VSIID_UUID), ==, 0);
                g_assert_cmpint(vsm_writer_zero(&w, VSM_VDP_VSIID_LEN), ==, 0);
                g_assert_cmpint(vsm_writer_u8(&w, c->filter_format), ==, 0);
                g_assert_cmpint(vsm_writer_be16(&w, c->count), ==, 0);
                for (size_t j = 0; j < c->entry_octets; j++)
                        g_assert_cmpint(vsm_writer_u8(&w, (uint8_t) (j * 7 + 1)), ==, 0);

                vsm_reader_init(&r, buf, w.len);
                k = vsm_vdp_tlv_next(&r, &t);
                g_assert_cmpint(k, ==, c->ret);
                if (k < 0)
                        continue;
                g_assert_cmpuint(t.len, ==, tlv_len);
                g_assert_cmpuint(t.vsi.n_filters, ==, c->count);
                g_assert_cmpint(vsm_vdp_tlv_next(&r, &t), ==, -ENODATA);

                /* Round trip, whatever the entries hold. */
                {
                        uint8_t out[sizeof(buf)];
                        VsmWriter w2;

                        vsm_writer_init(&w2, out, sizeof(out));
                        g_assert_cmpint(vsm_vdp_write_vsi(&w2, &t.vsi), ==, 0);
                        g_assert_cmpmem(out, w2.len, buf, w.len);
                }
        }
}

typedef struct {
        size_t data_len;       /* info after the OUI */
        int ret;
} OrgCase;

static const OrgCase org_cases[] = {
        { 0, 0 },
        { 1, 0 },
        { VSM_VDP_ORG_DATA_MAX - 1, 0 },
        { VSM_VDP_ORG_DATA_MAX, 0 },
        { VSM_VDP_ORG_DATA_MAX + 1, -EMSGSIZE },
        { 200, -EMSGSIZE },
        { 0x1ff - 3, -EMSGSIZE },
};

static void test_org_sizes(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(org_cases); i++) {
                const OrgCase *c = &org_cases[i];
                uint8_t buf[2 + 0x1ff + 2];
                VsmVdpTlv t, untouched;
                VsmReader r;
                VsmWriter w;
                int k;

                g_test_message("org data %zu", c->data_len);
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_writer_be16(&w, (uint16_t) (VSM_VDP_TLV_ORG << 9 | (3 + c->data_len))), ==, 0);
                g_assert_cmpint(vsm_writer_be24(&w, 0x001b3f), ==, 0);
                for (size_t j = 0; j < c->data_len; j++)
                        g_assert_cmpint(vsm_writer_u8(&w, (uint8_t) j), ==, 0);
                /* Something after it, which an error must not reach. */
                g_assert_cmpint(vsm_writer_be16(&w, 0x4000), ==, 0);

                memset(&t, 0xa5, sizeof(t));
                memset(&untouched, 0xa5, sizeof(untouched));
                vsm_reader_init(&r, buf, w.len);
                k = vsm_vdp_tlv_next(&r, &t);
                g_assert_cmpint(k, ==, c->ret);
                if (k < 0) {
                        g_assert_cmpmem(&t, sizeof(t), &untouched, sizeof(untouched));
                        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
                        continue;
                }
                g_assert_cmpuint(t.org.len, ==, c->data_len);
                vsm_assert_hex(t.org.oui, 3, "001b3f");

                {
                        uint8_t out[sizeof(buf)];
                        VsmWriter w2;

                        vsm_writer_init(&w2, out, sizeof(out));
                        g_assert_cmpint(vsm_vdp_write_org(&w2, &t.org), ==, 0);
                        g_assert_cmpmem(out, w2.len, buf, w.len - 2);
                }
                g_assert_cmpint(vsm_vdp_tlv_next(&r, &t), ==, 0);
                g_assert_cmpuint(t.type, ==, 0x20);
        }
}

/* ---- writer errors ------------------------------------------------- */

/* Every capacity short of what the TLV needs fails with -ENOBUFS and
 * leaves writer and buffer as they were. */
static void check_enobufs(const VsmVdpTlv *t, size_t need) {
        for (size_t cap = 0; cap <= need; cap++) {
                uint8_t buf[600];
                VsmWriter w;
                int k;

                g_assert_cmpuint(cap + 3, <=, sizeof(buf));
                memset(buf, 0xa5, sizeof(buf));
                vsm_writer_init(&w, buf, cap + 3);
                g_assert_cmpint(vsm_writer_zero(&w, 3), ==, 0);
                k = t->type == VSM_VDP_TLV_END ? vsm_vdp_write_end(&w) : write_tlv(&w, t);
                if (cap < need) {
                        g_assert_cmpint(k, ==, -ENOBUFS);
                        g_assert_cmpuint(w.len, ==, 3);
                        for (size_t j = 3; j < sizeof(buf); j++)
                                g_assert_cmphex(buf[j], ==, 0xa5);
                } else {
                        g_assert_cmpint(k, ==, 0);
                        g_assert_cmpuint(w.len, ==, 3 + need);
                }
        }
}

static void test_writer_enobufs(void) {
        static const struct {
                uint8_t format;
                uint16_t n;
        } shapes[] = {
                { VSM_VDP_FILTER_VID, 0 },
                { VSM_VDP_FILTER_MAC_VID, 1 },
                { VSM_VDP_FILTER_GROUP_VID, 3 },
                { VSM_VDP_FILTER_GROUP_MAC_VID, VSM_VDP_FILTERS_MAX },
        };
        static const size_t entry[] = { 0, 2, 8, 6, 12 };
        VsmVdpTlv t;

        for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
                memset(&t, 0, sizeof(t));
                t.type = VSM_VDP_TLV_ASSOCIATE;
                build_assoc(&t.vsi, VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_M);
                t.vsi.filter_format = shapes[i].format;
                t.vsi.n_filters = shapes[i].n;
                check_enobufs(&t, 2 + 25 + shapes[i].n * entry[shapes[i].format]);
        }

        memset(&t, 0, sizeof(t));
        t.type = VSM_VDP_TLV_MANAGER_ID;
        check_enobufs(&t, 18);

        memset(&t, 0, sizeof(t));
        t.type = VSM_VDP_TLV_ORG;
        t.org.len = VSM_VDP_ORG_DATA_MAX;
        check_enobufs(&t, 2 + 3 + VSM_VDP_ORG_DATA_MAX);

        memset(&t, 0, sizeof(t));
        t.type = VSM_VDP_TLV_END;
        check_enobufs(&t, 2);
}

typedef struct {
        const char *name;
        void (*mutate)(VsmVdpVsi *v);
        int ret;
} VsiWriteCase;

static void mut_request(VsmVdpVsi *v) { v->request = _VSM_VDP_REQ_MAX; }
static void mut_type_id(VsmVdpVsi *v) { v->type_id = 0x1000000; }
static void mut_format_0(VsmVdpVsi *v) { v->filter_format = 0; }
static void mut_format_5(VsmVdpVsi *v) { v->filter_format = 5; }
static void mut_count(VsmVdpVsi *v) { v->n_filters = VSM_VDP_FILTERS_MAX + 1; }
static void mut_pcp(VsmVdpVsi *v) { v->filters[0].pcp = 8; }
static void mut_vid(VsmVdpVsi *v) { v->filters[0].vid = 4096; }
static void mut_last_vid(VsmVdpVsi *v) {
        v->n_filters = VSM_VDP_FILTERS_MAX;
        v->filters[VSM_VDP_FILTERS_MAX - 1].vid = 0xffff;
}
static void mut_none(VsmVdpVsi *v) { (void) v; }
static void mut_max(VsmVdpVsi *v) {
        v->type_id = 0xffffff;
        v->filters[0].pcp = 7;
        v->filters[0].vid = 4095;
        v->filters[0].ps = true;
}

static const VsiWriteCase vsi_write_cases[] = {
        { "ok", mut_none, 0 },
        { "ok-max-fields", mut_max, 0 },
        { "bad-request", mut_request, -EINVAL },
        { "type-id-25-bits", mut_type_id, -EINVAL },
        { "filter-format-0", mut_format_0, -EINVAL },
        { "filter-format-5", mut_format_5, -EINVAL },
        { "too-many-filters", mut_count, -EINVAL },
        { "pcp-8", mut_pcp, -EINVAL },
        { "vid-4096", mut_vid, -EINVAL },
        { "last-vid-bad", mut_last_vid, -EINVAL },
};

static void test_writer_einval(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(vsi_write_cases); i++) {
                const VsiWriteCase *c = &vsi_write_cases[i];
                uint8_t buf[600];
                VsmVdpVsi v;
                VsmWriter w;

                g_test_message("case %s", c->name);
                build_assoc(&v, VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_M);
                c->mutate(&v);
                memset(buf, 0xa5, sizeof(buf));
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_vdp_write_vsi(&w, &v), ==, c->ret);
                if (c->ret < 0) {
                        g_assert_cmpuint(w.len, ==, 0);
                        g_assert_cmphex(buf[0], ==, 0xa5);
                }
        }

        {
                VsmVdpOrg org = { .oui = { 0x00, 0x80, 0xc2 }, .len = VSM_VDP_ORG_DATA_MAX + 1 };
                uint8_t buf[128];
                VsmWriter w;

                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_vdp_write_org(&w, &org), ==, -EMSGSIZE);
                g_assert_cmpuint(w.len, ==, 0);
        }
}

static void test_write_end(void) {
        uint8_t buf[4];
        VsmWriter w;

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_vdp_write_end(&w), ==, 0);
        vsm_assert_hex(buf, w.len, "0000");
}

/* ---- names and conversions ----------------------------------------- */

typedef struct {
        const char *text;
        int ret;
        const char *hex;
} MgrCase;

static const MgrCase mgr_cases[] = {
        { "vsimig-mgr", 0, MGR_HEX },
        { "1", 0, "31000000000000000000000000000000" },
        { "0123456789abcdef", 0, "30313233343536373839616263646566" },
        { "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", 0, VSIID_HEX },
        { "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0", 0, VSIID_HEX },
        { "0123456789abcdefg", -EINVAL, NULL },
        { "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f", -EINVAL, NULL },
        { "", -EINVAL, NULL },
};

static void test_manager_id_from_string(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(mgr_cases); i++) {
                const MgrCase *c = &mgr_cases[i];
                uint8_t id[VSM_VDP_MANAGER_ID_LEN];

                g_test_message("case '%s'", c->text);
                memset(id, 0xa5, sizeof(id));
                g_assert_cmpint(vsm_vdp_manager_id_from_string(c->text, id), ==, c->ret);
                if (c->ret == 0)
                        vsm_assert_hex(id, sizeof(id), c->hex);
                else
                        vsm_assert_hex(id, sizeof(id), "a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5");
        }
}

static void test_requests(void) {
        static const struct {
                VsmVdpRequest req;
                uint8_t tlv;
                const char *name;
        } cases[] = {
                { VSM_VDP_REQ_PRE_ASSOCIATE, 1, "pre-associate" },
                { VSM_VDP_REQ_PRE_ASSOCIATE_RR, 2, "pre-associate-rr" },
                { VSM_VDP_REQ_ASSOCIATE, 3, "associate" },
                { VSM_VDP_REQ_DE_ASSOCIATE, 4, "de-associate" },
        };
        static const uint8_t not_requests[] = { 0, 5, 6, 0x7f, 0xff };
        static const char *const bad_names[] = { "", "Associate", "assoc", "associate ", "pre_associate" };
        VsmVdpRequest req;

        G_STATIC_ASSERT(G_N_ELEMENTS(cases) == _VSM_VDP_REQ_MAX);
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_assert_cmpuint(vsm_vdp_request_to_tlv(cases[i].req), ==, cases[i].tlv);
                g_assert_cmpint(vsm_vdp_request_from_tlv(cases[i].tlv, &req), ==, 0);
                g_assert_cmpint(req, ==, cases[i].req);
                g_assert_cmpstr(vsm_vdp_request_to_string(cases[i].req), ==, cases[i].name);
                g_assert_cmpint(vsm_vdp_request_from_string(cases[i].name, &req), ==, 0);
                g_assert_cmpint(req, ==, cases[i].req);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(not_requests); i++) {
                req = (VsmVdpRequest) 77;
                g_assert_cmpint(vsm_vdp_request_from_tlv(not_requests[i], &req), ==, -EINVAL);
                g_assert_cmpint(req, ==, 77);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(bad_names); i++) {
                req = (VsmVdpRequest) 77;
                g_assert_cmpint(vsm_vdp_request_from_string(bad_names[i], &req), ==, -EINVAL);
                g_assert_cmpint(req, ==, 77);
        }
        g_assert_cmpint(vsm_vdp_request_from_string(NULL, &req), ==, -EINVAL);
        g_assert_null(vsm_vdp_request_to_string(_VSM_VDP_REQ_MAX));
        g_assert_cmpuint(vsm_vdp_request_to_tlv(_VSM_VDP_REQ_MAX), ==, VSM_VDP_TLV_END);
}

static void test_errors_to_string(void) {
        static const char *const names[] = {
                "ok", "invalid-format", "insufficient-resources", "no-vsi-manager",
                "other", "invalid-vid-group-mac",
        };

        G_STATIC_ASSERT(G_N_ELEMENTS(names) == _VSM_VDP_ERR_MAX);
        for (VsmVdpError e = 0; e < _VSM_VDP_ERR_MAX; e++)
                g_assert_cmpstr(vsm_vdp_error_to_string(e), ==, names[e]);
        g_assert_null(vsm_vdp_error_to_string(_VSM_VDP_ERR_MAX));
        g_assert_null(vsm_vdp_error_to_string((VsmVdpError) 15));
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/vdp/vectors", test_vectors);
        g_test_add_func("/proto/vdp/assoc-m-fields", test_assoc_m_fields);
        g_test_add_func("/proto/vdp/response-bits", test_response_bits);
        g_test_add_func("/proto/vdp/filter-formats", test_filter_formats);
        g_test_add_func("/proto/vdp/org", test_org);
        g_test_add_func("/proto/vdp/unknown-type", test_unknown_type);
        g_test_add_func("/proto/vdp/build-frames", test_build_frames);
        g_test_add_func("/proto/vdp/lldpad/frames", test_lldpad_frames);
        g_test_add_func("/proto/vdp/lldpad/answers", test_lldpad_answers);
        g_test_add_func("/proto/vdp/lldpad/build-assoc-m", test_lldpad_build_assoc_m);
        g_test_add_func("/proto/vdp/errors", test_errors);
        g_test_add_func("/proto/vdp/vsi-shapes", test_vsi_shapes);
        g_test_add_func("/proto/vdp/org-sizes", test_org_sizes);
        g_test_add_func("/proto/vdp/writer/enobufs", test_writer_enobufs);
        g_test_add_func("/proto/vdp/writer/einval", test_writer_einval);
        g_test_add_func("/proto/vdp/writer/end", test_write_end);
        g_test_add_func("/proto/vdp/manager-id-from-string", test_manager_id_from_string);
        g_test_add_func("/proto/vdp/requests", test_requests);
        g_test_add_func("/proto/vdp/error-to-string", test_errors_to_string);

        return g_test_run();
}

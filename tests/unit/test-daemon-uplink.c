/* The daemon's uplink driven through the I/O seam: a socketpair() stands in
 * for the packet socket (systemd's test-lldp-rx pattern) and the test plays
 * the bridge.  Covers the request/ACK/response exchange, bridge-initiated
 * DE-ASSOCIATE and its repair, keep-alives with the M/S hint (bytes
 * checked against lldpad's), a request queued behind a keep-alive, a
 * superseded TLV taken out of the unsent ULPDU, duplicate sequence numbers
 * and malformed frames. */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/uplink.h"
#include "proto/ecp.h"
#include "proto/eth.h"
#include "proto/lldp.h"
#include "proto/vdp.h"
#include "test-util.h"

static const uint8_t station_mac[6] = { 0x02, 0x77, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t bridge_mac[6] = { 0x02, 0x77, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t instance[16] = { 0x2f, 0x1a, 0x0d, 0x3c, 0x9b, 0x8e, 0x4e, 0x59,
                                      0xa1, 0xf2, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab };

typedef struct Fixture {
        int fds[2];
        VsmConfig *config;
        VsmUplink *uplink;
        uint16_t bridge_seq;
        /* outcome of the last request */
        gboolean done;
        VsmVdpAction report;
} Fixture;

/* Wait (driving the main loop) for the next frame the daemon sends. */
static gssize bridge_recv(Fixture *f, uint8_t *buf, size_t cap, int timeout_ms) {
        gint64 end = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        while (g_get_monotonic_time() < end) {
                struct pollfd p = { .fd = f->fds[1], .events = POLLIN };

                while (g_main_context_iteration(NULL, FALSE))
                        ;
                if (poll(&p, 1, 1) == 1)
                        return recv(f->fds[1], buf, cap, 0);
        }
        return -ETIMEDOUT;
}

/* Next ECP frame from the daemon (LLDP frames are skipped). */
static gssize bridge_recv_ecp(Fixture *f, uint8_t *buf, size_t cap, VsmEcpHeader *ret_hdr,
                              VsmReader *ret_payload) {
        for (;;) {
                gssize n = bridge_recv(f, buf, cap, 3000);
                VsmReader r;
                VsmEthHeader eh;

                g_assert_cmpint(n, >, 0);
                vsm_reader_init(&r, buf, (size_t) n);
                g_assert_cmpint(vsm_eth_header_parse(&r, &eh), ==, 0);
                g_assert_cmpmem(eh.src, 6, station_mac, 6);
                if (eh.ethertype == VSM_ETH_P_LLDP)
                        continue;
                g_assert_cmpuint(eh.ethertype, ==, VSM_ETH_P_ECP);
                g_assert_cmpmem(eh.dst, 6, vsm_eth_addr_nearest_bridge, 6);
                g_assert_cmpint(vsm_ecp_header_parse(&r, ret_hdr), ==, 0);
                *ret_payload = r;
                return n;
        }
}

static void bridge_send_raw(Fixture *f, const void *frame, size_t len) {
        g_assert_cmpint(send(f->fds[1], frame, len, 0), ==, (gssize) len);
        while (g_main_context_iteration(NULL, FALSE))
                ;
}

static size_t build_ecp(uint8_t *frame, size_t cap, uint8_t op, uint16_t seq, const uint8_t *pdu, size_t len) {
        VsmWriter w;
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_ECP };
        VsmEcpHeader h = { .version = 1, .op = op, .subtype = VSM_ECP_SUBTYPE_VDP, .seq = seq };

        memcpy(eh.dst, vsm_eth_addr_nearest_bridge, 6);
        memcpy(eh.src, bridge_mac, 6);
        vsm_writer_init(&w, frame, cap);
        g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
        g_assert_cmpint(vsm_ecp_header_write(&w, &h), ==, 0);
        g_assert_cmpint(vsm_writer_bytes(&w, pdu, len), ==, 0);
        g_assert_cmpint(vsm_eth_pad(&w), ==, 0);
        return w.len;
}

/* The bridge sends a VDP ULPDU (Manager ID + this VSI TLV) and checks
 * that the daemon acknowledges it. */
static void bridge_send_tlv(Fixture *f, const VsmVdpVsi *vsi, uint16_t seq) {
        uint8_t pdu[256], frame[512], ack[128];
        VsmWriter w;
        uint8_t mgr[16] = "vsimig";
        VsmEcpHeader h;
        VsmReader payload;

        vsm_writer_init(&w, pdu, sizeof(pdu));
        g_assert_cmpint(vsm_vdp_write_manager_id(&w, mgr), ==, 0);
        g_assert_cmpint(vsm_vdp_write_vsi(&w, vsi), ==, 0);
        bridge_send_raw(f, frame, build_ecp(frame, sizeof(frame), VSM_ECP_OP_REQUEST, seq, pdu, w.len));
        bridge_recv_ecp(f, ack, sizeof(ack), &h, &payload);
        g_assert_cmpuint(h.op, ==, VSM_ECP_OP_ACK);
        g_assert_cmpuint(h.seq, ==, seq);
}

/* The same for the test's default VSI (instance, type 1, one MAC). */
static void bridge_send_vsi(Fixture *f, VsmVdpRequest req, uint8_t status, uint16_t seq) {
        VsmVdpVsi *vsi = g_new0(VsmVdpVsi, 1);

        vsi->request = req;
        vsi->status = status;
        vsi->type_id = 1;
        vsi->vsiid_format = VSM_VDP_VSIID_UUID;
        memcpy(vsi->vsiid, instance, 16);
        vsi->filter_format = VSM_VDP_FILTER_MAC_VID;
        vsi->n_filters = 1;
        memcpy(vsi->filters[0].mac, "\x52\x54\x00\x12\x34\x56", 6);
        bridge_send_tlv(f, vsi, seq);
        g_free(vsi);
}

/* The bridge's LLDPDU with its EVB TLV: the daemon adopts RWD and RKA
 * (keep-alive = 0.6 x RKA time, at least 1 s). */
static void bridge_send_lldp(Fixture *f, uint8_t rwd, uint8_t rka) {
        uint8_t frame[256];
        VsmWriter w;
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_LLDP };
        VsmLldpdu pdu = {
                .chassis_subtype = 4, .chassis_id_len = 6, .port_subtype = 5, .port_id_len = 3,
                .ttl = 120, .has_evb = true,
                .evb = { .bridge_status = 0x03, .station_status = 0x05, .r = 3, .rte = 8,
                         .mode = VSM_EVB_MODE_BRIDGE, .rol_rwd = true, .rwd = rwd, .rol_rka = true, .rka = rka },
        };

        memcpy(pdu.chassis_id, bridge_mac, 6);
        memcpy(pdu.port_id, "sw0", 3);
        memcpy(eh.dst, vsm_eth_addr_nearest_bridge, 6);
        memcpy(eh.src, bridge_mac, 6);
        vsm_writer_init(&w, frame, sizeof(frame));
        g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
        g_assert_cmpint(vsm_lldp_write(&w, &pdu), ==, 0);
        g_assert_cmpint(vsm_eth_pad(&w), ==, 0);
        bridge_send_raw(f, frame, w.len);
}

static void on_done(VsmVsi *vsi, const VsmVdpAction *report, gpointer user_data) {
        Fixture *f = user_data;

        f->done = TRUE;
        f->report = *report;
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        memset(f, 0, sizeof(*f));
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, f->fds), ==, 0);
        f->config = vsm_config_new_default();
        /* No ECP pacing here: the exchanges below expect the daemon's next
         * frame at once (pacing has its own test in test-sm-ecp.c). */
        f->config->ecp_pacing_usec = 0;
        f->uplink = vsm_uplink_new_with_fd("up0", f->config, f->fds[0], station_mac);
        f->bridge_seq = 100;
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        vsm_uplink_free(f->uplink);     /* closes fds[0] */
        vsm_config_free(f->config);
        close(f->fds[1]);
}

/* Station asks; test checks the frame, ACKs it and returns the VSI TLV. */
static VsmVsi *station_request(Fixture *f, VsmVdpRequest req, uint8_t flags, uint16_t *ret_seq,
                               VsmVdpVsi *ret_tlv) {
        VsmVsiParams p = { .type_id = 1, .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };
        uint8_t frame[1600], ack[128];
        VsmEcpHeader h;
        VsmReader payload;
        VsmVdpTlv *tlv = g_new0(VsmVdpTlv, 1);
        VsmVsi *vsi;

        memcpy(p.instance, instance, 16);
        memcpy(p.manager_id, "vsimig", 6);
        vsi = vsm_uplink_ensure_vsi(f->uplink, &p, NULL);
        g_assert_nonnull(vsi);
        f->done = FALSE;
        g_assert_true(vsm_vsi_request(vsi, req, flags, on_done, f, NULL));

        bridge_recv_ecp(f, frame, sizeof(frame), &h, &payload);
        g_assert_cmpuint(h.op, ==, VSM_ECP_OP_REQUEST);
        g_assert_cmpint(vsm_vdp_tlv_next(&payload, tlv), ==, 0);
        g_assert_cmpuint(tlv->type, ==, VSM_VDP_TLV_MANAGER_ID);
        g_assert_cmpint(vsm_vdp_tlv_next(&payload, tlv), ==, 0);
        g_assert_cmpuint(tlv->type, ==, vsm_vdp_request_to_tlv(req));
        g_assert_cmpuint(tlv->vsi.status, ==, flags);
        g_assert_cmpmem(tlv->vsi.vsiid, 16, instance, 16);
        *ret_tlv = tlv->vsi;
        *ret_seq = h.seq;
        g_free(tlv);

        build_ecp(ack, sizeof(ack), VSM_ECP_OP_ACK, h.seq, NULL, 0);
        bridge_send_raw(f, ack, VSM_ETH_ZLEN);
        return vsi;
}

static void wait_done(Fixture *f) {
        gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;

        while (!f->done && g_get_monotonic_time() < end)
                g_main_context_iteration(NULL, TRUE);
        g_assert_true(f->done);
}

static gint64 counter(Fixture *f, const char *name) {
        g_autoptr(JsonNode) n = vsm_uplink_to_json(f->uplink);

        return json_object_get_int_member(json_object_get_object_member(json_node_get_object(n), "counters"), name);
}

static void test_lldp_first(Fixture *f, gconstpointer data) {
        uint8_t frame[1600];
        gssize n = bridge_recv(f, frame, sizeof(frame), 1000);
        VsmReader r;
        VsmEthHeader eh;
        VsmLldpdu *pdu = g_new0(VsmLldpdu, 1);

        g_assert_cmpint(n, >=, VSM_ETH_ZLEN);
        vsm_reader_init(&r, frame, (size_t) n);
        g_assert_cmpint(vsm_eth_header_parse(&r, &eh), ==, 0);
        g_assert_cmpuint(eh.ethertype, ==, VSM_ETH_P_LLDP);
        g_assert_cmpint(vsm_lldp_parse(&r, pdu), ==, 0);
        g_assert_true(pdu->has_evb);
        g_assert_cmpuint(pdu->evb.mode, ==, VSM_EVB_MODE_STATION);
        g_assert_cmpuint(pdu->evb.r, ==, 3);
        g_assert_cmpuint(pdu->evb.rte, ==, 8);
        g_assert_cmpuint(pdu->evb.rwd, ==, 20);
        g_assert_cmpuint(pdu->evb.rka, ==, 20);
        g_free(pdu);
}

typedef struct FlowCase {
        VsmVdpRequest req;
        uint8_t flags;
        uint8_t response_status;
        VsmVdpOutcome outcome;
        const char *state;
} FlowCase;

static const FlowCase flow_cases[] = {
        { VSM_VDP_REQ_PRE_ASSOCIATE, VSM_VDP_STATUS_M, 0x40, VSM_VDP_OUTCOME_OK, "pre-associated" },
        { VSM_VDP_REQ_PRE_ASSOCIATE_RR, 0, 0x40, VSM_VDP_OUTCOME_OK, "pre-associated-rr" },
        { VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_M, 0x40, VSM_VDP_OUTCOME_OK, "associated" },
        { VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_S, 0x60, VSM_VDP_OUTCOME_OK, "associated" },
        { VSM_VDP_REQ_DE_ASSOCIATE, 0, 0x40, VSM_VDP_OUTCOME_OK, "none" },
        { VSM_VDP_REQ_ASSOCIATE, 0, 0x42, VSM_VDP_OUTCOME_ERROR, "none" },
        { VSM_VDP_REQ_ASSOCIATE, 0, 0x53, VSM_VDP_OUTCOME_ERROR, "none" },
};

static void test_flow(Fixture *f, gconstpointer data) {
        const FlowCase *fc = data;
        VsmVdpVsi tlv;
        uint16_t seq;
        VsmVsi *vsi = station_request(f, fc->req, fc->flags, &seq, &tlv);
        g_autoptr(JsonNode) j = NULL;

        g_assert_false(f->done);
        bridge_send_vsi(f, fc->req, fc->response_status, f->bridge_seq++);
        wait_done(f);
        g_assert_cmpint(f->report.outcome, ==, fc->outcome);
        g_assert_cmpuint(f->report.status, ==, fc->response_status);
        g_assert_cmpuint(f->report.error, ==, fc->response_status & 0x0f);
        j = vsm_vsi_to_json(vsi, "up0");
        g_assert_cmpstr(json_object_get_string_member(json_node_get_object(j), "state"), ==, fc->state);
}

static void test_bridge_deassoc(Fixture *f, gconstpointer data) {
        VsmVdpVsi tlv;
        uint16_t seq;
        VsmVsi *vsi = station_request(f, VSM_VDP_REQ_ASSOCIATE, 0, &seq, &tlv);

        bridge_send_vsi(f, VSM_VDP_REQ_ASSOCIATE, 0x40, f->bridge_seq++);
        wait_done(f);
        g_assert_cmpint(vsm_vsi_get_machine(vsi)->state, ==, VSM_VSI_STATE_ASSOCIATED);
        /* bridge-initiated DE-ASSOCIATE (no response bit) */
        bridge_send_vsi(f, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, f->bridge_seq++);
        g_assert_cmpint(vsm_vsi_get_machine(vsi)->state, ==, VSM_VSI_STATE_NONE);
        /* lldpad sends another ~15.8 s after our DE-ASSOCIATE: tolerated */
        bridge_send_vsi(f, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, f->bridge_seq++);
        g_assert_cmpint(vsm_vsi_get_machine(vsi)->state, ==, VSM_VSI_STATE_NONE);
        g_assert_cmpint(counter(f, "rx_bad"), ==, 0);
}

/* lldpad's late DE-ASSOCIATE (~15.8 s after it answered ours) for a VSI
 * we de-associated: tolerated, not counted, not repaired. */
static void test_bridge_deassoc_after_ours(Fixture *f, gconstpointer data) {
        VsmVdpVsi tlv;
        uint16_t seq;
        VsmVsi *vsi = station_request(f, VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_M, &seq, &tlv);

        bridge_send_vsi(f, VSM_VDP_REQ_ASSOCIATE, 0x40, f->bridge_seq++);
        wait_done(f);
        station_request(f, VSM_VDP_REQ_DE_ASSOCIATE, 0, &seq, &tlv);
        bridge_send_vsi(f, VSM_VDP_REQ_DE_ASSOCIATE, 0x40, f->bridge_seq++);
        wait_done(f);
        bridge_send_vsi(f, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, f->bridge_seq++);
        g_assert_cmpint(vsm_vsi_get_machine(vsi)->state, ==, VSM_VSI_STATE_NONE);
        g_assert_false(vsm_vsi_get_machine(vsi)->repair);
        g_assert_cmpint(counter(f, "vdp_bridge_deassoc"), ==, 0);
        /* nothing goes out for it */
        {
                uint8_t frame[1600];
                gint64 end = g_get_monotonic_time() + 1200 * 1000;

                while (g_get_monotonic_time() < end) {
                        gssize n = bridge_recv(f, frame, sizeof(frame), 100);

                        g_assert_true(n < 0 || (n > 14 && frame[12] == 0x88 && frame[13] == 0xcc));
                }
        }
        g_assert_cmpint(counter(f, "vdp_repairs"), ==, 0);
}

/* A bridge DE-ASSOCIATE of a VSI we associated: re-ASSOCIATE (same M
 * hint) after 1 s; refused, again after 2 s; then ok.  Counted, and the
 * VSI ends associated. */
static void test_bridge_deassoc_repair(Fixture *f, gconstpointer data) {
        uint8_t frame[1600], ack[128];
        VsmVdpVsi tlv;
        uint16_t seq;
        VsmVsi *vsi = station_request(f, VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_M, &seq, &tlv);
        gint64 t_deassoc, t_prev;
        VsmVdpTlv *t = g_new0(VsmVdpTlv, 1);

        bridge_send_vsi(f, VSM_VDP_REQ_ASSOCIATE, 0x40, f->bridge_seq++);
        wait_done(f);
        t_deassoc = g_get_monotonic_time();
        bridge_send_vsi(f, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, f->bridge_seq++);
        g_assert_cmpint(vsm_vsi_get_machine(vsi)->state, ==, VSM_VSI_STATE_NONE);
        g_assert_cmpint(counter(f, "vdp_bridge_deassoc"), ==, 1);
        t_prev = t_deassoc;

        for (int attempt = 1; attempt <= 2; attempt++) {
                VsmEcpHeader h;
                VsmReader payload;
                gint64 t_sent, gap;

                bridge_recv_ecp(f, frame, sizeof(frame), &h, &payload);
                t_sent = g_get_monotonic_time();
                gap = t_sent - t_prev;
                g_test_message("repair %d after %.3f s", attempt, (double) gap / G_USEC_PER_SEC);
                /* 1 s, then 2 s (generous upper margin for a loaded host) */
                g_assert_cmpint(gap, >=, attempt * G_USEC_PER_SEC - 50000);
                g_assert_cmpint(gap, <=, attempt * G_USEC_PER_SEC + 600000);
                g_assert_cmpuint(h.op, ==, VSM_ECP_OP_REQUEST);
                g_assert_cmpint(vsm_vdp_tlv_next(&payload, t), ==, 0);
                g_assert_cmpint(vsm_vdp_tlv_next(&payload, t), ==, 0);
                g_assert_cmpuint(t->type, ==, VSM_VDP_TLV_ASSOCIATE);
                g_assert_cmphex(t->vsi.status, ==, VSM_VDP_STATUS_M);
                g_assert_cmpmem(t->vsi.vsiid, 16, instance, 16);
                g_assert_cmpint(counter(f, "vdp_repairs"), ==, attempt);
                build_ecp(ack, sizeof(ack), VSM_ECP_OP_ACK, h.seq, NULL, 0);
                bridge_send_raw(f, ack, VSM_ETH_ZLEN);
                /* first refused (insufficient resources), then ok */
                bridge_send_vsi(f, VSM_VDP_REQ_ASSOCIATE, attempt == 1 ? 0x42 : 0x40, f->bridge_seq++);
                t_prev = g_get_monotonic_time();
        }
        g_free(t);
        g_assert_cmpint(vsm_vsi_get_machine(vsi)->state, ==, VSM_VSI_STATE_ASSOCIATED);
        g_assert_false(vsm_vsi_get_machine(vsi)->repair);
        g_assert_cmpint(counter(f, "vdp_repaired"), ==, 1);
        g_assert_cmpint(counter(f, "vdp_repairs"), ==, 2);
        {
                g_autoptr(JsonNode) j = vsm_vsi_to_json(vsi, "up0");

                g_assert_cmpint(json_object_get_int_member(json_node_get_object(j), "repairs"), ==, 2);
        }
}

/* Keep-alives carry the request's M or S hint, byte for byte the request
 * but for the ECP sequence number, as lldpad's station sends them
 * (tests/data/lldpad/station-keepalive-m.hex). */
static void test_keepalive_hint(Fixture *f, gconstpointer data) {
        uint8_t flags = (uint8_t) GPOINTER_TO_UINT(data);
        static const uint8_t u2[16] = { 0x4e, 0x1c, 0x3a, 0x52, 0x7b, 0x9d, 0x4f, 0x0e,
                                        0x9a, 0x21, 0x5c, 0x6d, 0x7e, 0x8f, 0x90, 0x02 };
        VsmVsiParams p = { .type_id = 0x1234, .type_version = 1, .vlan = 10,
                           .mac = { 0x52, 0x54, 0x00, 0x00, 0x00, 0x02 } };
        uint8_t req_frame[1600], ka_frame[1600], ack[128];
        gssize n_req, n_ka;
        VsmEcpHeader h;
        VsmReader payload;
        VsmVdpVsi *resp = g_new0(VsmVdpVsi, 1);
        g_autoptr(GBytes) lldpad = vsm_test_hex_file("lldpad/station-keepalive-m.hex");
        gsize lldpad_len;
        const uint8_t *lp = g_bytes_get_data(lldpad, &lldpad_len);
        VsmVsi *vsi;
        gint64 t_req;

        /* RKA 17 (1.31 s): keep-alive every 1 s (the floor). */
        bridge_send_lldp(f, 20, 17);
        memcpy(p.instance, u2, 16);
        memcpy(p.manager_id, "vsimig", 6);
        vsi = vsm_uplink_ensure_vsi(f->uplink, &p, NULL);
        f->done = FALSE;
        g_assert_true(vsm_vsi_request(vsi, VSM_VDP_REQ_ASSOCIATE, flags, on_done, f, NULL));
        n_req = bridge_recv_ecp(f, req_frame, sizeof(req_frame), &h, &payload);
        t_req = g_get_monotonic_time();
        build_ecp(ack, sizeof(ack), VSM_ECP_OP_ACK, h.seq, NULL, 0);
        bridge_send_raw(f, ack, VSM_ETH_ZLEN);
        resp->request = VSM_VDP_REQ_ASSOCIATE;
        resp->status = 0x40;
        resp->type_id = p.type_id;
        resp->type_version = 1;
        resp->vsiid_format = VSM_VDP_VSIID_UUID;
        memcpy(resp->vsiid, u2, 16);
        resp->filter_format = VSM_VDP_FILTER_MAC_VID;
        resp->n_filters = 1;
        memcpy(resp->filters[0].mac, p.mac, 6);
        resp->filters[0].vid = 10;
        bridge_send_tlv(f, resp, f->bridge_seq++);
        g_free(resp);
        wait_done(f);
        g_assert_cmpint(f->report.outcome, ==, VSM_VDP_OUTCOME_OK);

        n_ka = bridge_recv_ecp(f, ka_frame, sizeof(ka_frame), &h, &payload);
        g_test_message("keep-alive %.3f s after the request", (double) (g_get_monotonic_time() - t_req) / G_USEC_PER_SEC);
        g_assert_cmpuint(h.op, ==, VSM_ECP_OP_REQUEST);
        /* the same frame but the ECP sequence number (octets 16-17) */
        g_assert_cmpint(n_ka, ==, n_req);
        g_assert_cmpmem(ka_frame, 16, req_frame, 16);
        g_assert_cmpmem(ka_frame + 18, (size_t) n_ka - 18, req_frame + 18, (size_t) n_req - 18);
        g_assert_cmphex(ka_frame[38], ==, flags);
        /* and lldpad's keep-alive of the same VSI, but the source MAC and
         * sequence number; the S variant differs only in the status octet */
        g_assert_cmpint(n_ka, ==, (gssize) lldpad_len);
        g_assert_cmpmem(ka_frame, 6, lp, 6);
        g_assert_cmpmem(ka_frame + 12, 4, lp + 12, 4);
        g_assert_cmpmem(ka_frame + 18, 20, lp + 18, 20);
        g_assert_cmphex(lp[38], ==, VSM_VDP_STATUS_M);
        g_assert_cmpmem(ka_frame + 39, (size_t) n_ka - 39, lp + 39, lldpad_len - 39);
}

/* A migration request while a keep-alive of the VSI is on the wire (sent,
 * not yet answered): it waits; the keep-alive's answer does not answer it;
 * it goes right after and is answered by its own response. */
static void test_queue_behind_keepalive(Fixture *f, gconstpointer data) {
        uint8_t frame[1600], ack[128];
        VsmVdpVsi tlv;
        uint16_t seq;
        VsmEcpHeader h;
        VsmReader payload;
        VsmVdpTlv *t = g_new0(VsmVdpTlv, 1);
        VsmVsi *vsi;

        bridge_send_lldp(f, 20, 17);
        vsi = station_request(f, VSM_VDP_REQ_ASSOCIATE, 0, &seq, &tlv);
        bridge_send_vsi(f, VSM_VDP_REQ_ASSOCIATE, 0x40, f->bridge_seq++);
        wait_done(f);

        /* the keep-alive, ~1 s later: acked, not answered yet */
        bridge_recv_ecp(f, frame, sizeof(frame), &h, &payload);
        g_assert_cmpuint(h.op, ==, VSM_ECP_OP_REQUEST);
        build_ecp(ack, sizeof(ack), VSM_ECP_OP_ACK, h.seq, NULL, 0);
        bridge_send_raw(f, ack, VSM_ETH_ZLEN);
        g_assert_true(vsm_vsi_get_machine(vsi)->pending);
        g_assert_cmpint(vsm_vsi_get_machine(vsi)->pending_kind, ==, VSM_VDP_SEND_KEEPALIVE);

        f->done = FALSE;
        g_assert_true(vsm_vsi_request(vsi, VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_S, on_done, f, NULL));
        g_assert_cmpint(counter(f, "vdp_queued"), ==, 1);
        /* nothing on the wire while it waits */
        g_assert_cmpint(bridge_recv(f, frame, sizeof(frame), 100), <, 0);
        /* the keep-alive's answer (same TLV type) */
        bridge_send_vsi(f, VSM_VDP_REQ_ASSOCIATE, 0x40, f->bridge_seq++);
        g_assert_false(f->done);
        /* now the ASSOCIATE (S) */
        bridge_recv_ecp(f, frame, sizeof(frame), &h, &payload);
        g_assert_cmpint(vsm_vdp_tlv_next(&payload, t), ==, 0);
        g_assert_cmpint(vsm_vdp_tlv_next(&payload, t), ==, 0);
        g_assert_cmpuint(t->type, ==, VSM_VDP_TLV_ASSOCIATE);
        g_assert_cmphex(t->vsi.status, ==, VSM_VDP_STATUS_S);
        g_free(t);
        build_ecp(ack, sizeof(ack), VSM_ECP_OP_ACK, h.seq, NULL, 0);
        bridge_send_raw(f, ack, VSM_ETH_ZLEN);
        g_assert_false(f->done);
        bridge_send_vsi(f, VSM_VDP_REQ_ASSOCIATE, 0x40, f->bridge_seq++);
        wait_done(f);
        g_assert_cmpint(f->report.outcome, ==, VSM_VDP_OUTCOME_OK);
        g_assert_cmphex(f->report.flags, ==, VSM_VDP_STATUS_S);
}

static void on_done_count(VsmVsi *vsi, const VsmVdpAction *report, gpointer user_data) {
        VsmVdpOutcome *ret = user_data;

        *ret = report->outcome;
}

/* Two requests for one VSI in one loop iteration: the first TLV leaves the
 * ULPDU being built (CANCELLED), the ULPDU carries the second only; another
 * VSI's TLV in it stays. */
static void test_superseded_unsent(Fixture *f, gconstpointer data) {
        uint8_t frame[1600];
        VsmEcpHeader h;
        VsmReader payload;
        VsmVdpTlv *tlv = g_new0(VsmVdpTlv, 1);
        VsmVdpOutcome first = _VSM_VDP_OUTCOME_MAX;
        VsmVsi *vsi[2];
        int n_vsi = 0;

        for (int i = 0; i < 2; i++) {
                VsmVsiParams p = { .type_id = 1, .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t) i } };

                memcpy(p.instance, instance, 16);
                p.instance[15] = (uint8_t) i;
                memcpy(p.manager_id, "vsimig", 6);
                vsi[i] = vsm_uplink_ensure_vsi(f->uplink, &p, NULL);
        }
        g_assert_true(vsm_vsi_request(vsi[0], VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_M, on_done_count, &first, NULL));
        g_assert_true(vsm_vsi_request(vsi[1], VSM_VDP_REQ_ASSOCIATE, 0, NULL, NULL, NULL));
        g_assert_true(vsm_vsi_request(vsi[0], VSM_VDP_REQ_DE_ASSOCIATE, 0, on_done, f, NULL));
        g_assert_cmpint(first, ==, VSM_VDP_OUTCOME_CANCELLED);
        g_assert_cmpint(counter(f, "vdp_withdrawn"), ==, 1);
        g_assert_cmpint(counter(f, "vdp_queued"), ==, 0);

        bridge_recv_ecp(f, frame, sizeof(frame), &h, &payload);
        g_assert_cmpint(vsm_vdp_tlv_next(&payload, tlv), ==, 0);
        g_assert_cmpuint(tlv->type, ==, VSM_VDP_TLV_MANAGER_ID);
        while (vsm_vdp_tlv_next(&payload, tlv) == 0) {
                if (n_vsi == 0) {
                        g_assert_cmpuint(tlv->vsi.vsiid[15], ==, 1);
                        g_assert_cmpuint(tlv->type, ==, VSM_VDP_TLV_ASSOCIATE);
                } else {
                        g_assert_cmpuint(tlv->vsi.vsiid[15], ==, 0);
                        g_assert_cmpuint(tlv->type, ==, VSM_VDP_TLV_DE_ASSOCIATE);
                        g_assert_cmphex(tlv->vsi.status, ==, 0);
                }
                n_vsi++;
        }
        g_assert_cmpint(n_vsi, ==, 2);
        g_assert_cmpint(counter(f, "tx_ecp_requests"), ==, 1);
        g_free(tlv);
}

static void test_unknown_vsi(Fixture *f, gconstpointer data) {
        /* a DE-ASSOCIATE for a VSI never seen: acked, counted, ignored */
        bridge_send_vsi(f, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, f->bridge_seq++);
        g_assert_cmpint(counter(f, "vdp_unknown_vsi"), ==, 1);
        g_assert_cmpint(counter(f, "rx_bad"), ==, 0);
}

static void test_duplicate_seq(Fixture *f, gconstpointer data) {
        VsmVdpVsi tlv;
        uint16_t seq;
        VsmVsi *vsi = station_request(f, VSM_VDP_REQ_ASSOCIATE, 0, &seq, &tlv);
        uint16_t bseq = f->bridge_seq++;

        bridge_send_vsi(f, VSM_VDP_REQ_ASSOCIATE, 0x40, bseq);
        wait_done(f);
        /* a new request is in flight; the same bridge seq again must be
         * acked but not processed, so the request stays pending */
        station_request(f, VSM_VDP_REQ_DE_ASSOCIATE, 0, &seq, &tlv);
        bridge_send_vsi(f, VSM_VDP_REQ_DE_ASSOCIATE, 0x40, bseq);
        g_assert_false(f->done);
        g_assert_true(vsm_vsi_get_machine(vsi)->pending);
        g_assert_cmpint(counter(f, "rx_ecp_duplicates"), ==, 1);
        /* the next fresh seq is processed */
        bridge_send_vsi(f, VSM_VDP_REQ_DE_ASSOCIATE, 0x40, f->bridge_seq++);
        wait_done(f);
        g_assert_cmpint(f->report.outcome, ==, VSM_VDP_OUTCOME_OK);
}

typedef struct BadFrame {
        const char *name;
        const char *hex;             /* full frame; "" = special */
        gboolean acked;              /* the daemon must still ACK it */
} BadFrame;

#define ETH_ECP "0180c2000000" "027700000002" "8940"
#define MGR "0a10" "7673696d6967000000000000000000" "00"
static const BadFrame bad_frames[] = {
        { "runt", "0180c2000000027700", FALSE },
        { "ecp-truncated", ETH_ECP "10", FALSE },
        { "ecp-version-2", ETH_ECP "2001" "0005", FALSE },
        { "ecp-reserved-op", ETH_ECP "1801" "0006", FALSE },
        { "ecp-subtype-2", ETH_ECP "1002" "0007", FALSE },
        { "tlv-past-frame", ETH_ECP "1001" "0008" "06ff" "4000000101", TRUE },
        { "tlv-header-cut", ETH_ECP "1001" "0009" "06", TRUE },
        { "unknown-tlv-type", ETH_ECP "1001" "000a" "1404" "deadbeef", TRUE },
        { "wrong-vsiid-format", ETH_ECP "1001" "000b" MGR
          "0621" "40" "000001" "00" "03" "2f1a0d3c9b8e4e59a1f20123456789ab" "02" "0001" "525400123456" "0000", TRUE },
        { "filter-count-too-large", ETH_ECP "1001" "000c" MGR
          "0621" "40" "000001" "00" "05" "2f1a0d3c9b8e4e59a1f20123456789ab" "02" "ffff" "525400123456" "0000", TRUE },
        { "filter-format-unknown", ETH_ECP "1001" "000d" MGR
          "0621" "40" "000001" "00" "05" "2f1a0d3c9b8e4e59a1f20123456789ab" "09" "0001" "525400123456" "0000", TRUE },
        { "lldp-garbage", "0180c200000e" "027700000002" "88cc" "0207040102030405", FALSE },
};

static void test_bad_frames(Fixture *f, gconstpointer data) {
        VsmVdpVsi tlv;
        uint16_t seq;
        gint64 bad_before = counter(f, "rx_bad");

        for (size_t i = 0; i < G_N_ELEMENTS(bad_frames); i++) {
                g_autoptr(GBytes) b = vsm_test_hex(bad_frames[i].hex);
                gsize len;
                const uint8_t *p = g_bytes_get_data(b, &len);

                g_test_message("bad frame: %s", bad_frames[i].name);
                bridge_send_raw(f, p, len);
                if (bad_frames[i].acked) {
                        uint8_t ack[128];
                        VsmEcpHeader h;
                        VsmReader payload;

                        bridge_recv_ecp(f, ack, sizeof(ack), &h, &payload);
                        g_assert_cmpuint(h.op, ==, VSM_ECP_OP_ACK);
                }
        }
        /* every one was counted as bad (the unknown TLV type too), none crashed */
        g_assert_cmpint(counter(f, "rx_bad"), >=, bad_before + 10);
        /* an oversized datagram is dropped as well */
        {
                g_autofree uint8_t *big = g_malloc0(4000);

                memcpy(big, "\x01\x80\xc2\x00\x00\x00\x02\x77\x00\x00\x00\x02\x89\x40\x10\x01", 16);
                bridge_send_raw(f, big, 4000);
        }
        /* and the uplink still works */
        station_request(f, VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_M, &seq, &tlv);
        bridge_send_vsi(f, VSM_VDP_REQ_ASSOCIATE, 0x40, f->bridge_seq++);
        wait_done(f);
        g_assert_cmpint(f->report.outcome, ==, VSM_VDP_OUTCOME_OK);
}

static void test_unacked_timeout(Fixture *f, gconstpointer data) {
        VsmVsiParams p = { .type_id = 1 };
        uint8_t frame[1600];
        VsmEcpHeader h;
        VsmReader payload;
        VsmVsi *vsi;
        uint16_t seq = 0;
        int sends = 0;

        memcpy(p.instance, instance, 16);
        vsi = vsm_uplink_ensure_vsi(f->uplink, &p, NULL);
        g_assert_true(vsm_vsi_request(vsi, VSM_VDP_REQ_ASSOCIATE, 0, on_done, f, NULL));
        /* R=3: four transmissions with the same seq; after ECP gives up the
         * VSI resends the request twice more (50 and 250 ms later, new
         * seqs), then reports the timeout: 3 rounds x 4 transmissions */
        while (!f->done) {
                gssize n = bridge_recv(f, frame, sizeof(frame), 50);
                VsmEthHeader eh;

                if (n <= 0)
                        continue;
                vsm_reader_init(&payload, frame, (size_t) n);
                g_assert_cmpint(vsm_eth_header_parse(&payload, &eh), ==, 0);
                if (eh.ethertype != VSM_ETH_P_ECP)
                        continue;
                g_assert_cmpint(vsm_ecp_header_parse(&payload, &h), ==, 0);
                if (sends % 4 != 0)
                        g_assert_cmpuint(h.seq, ==, seq);
                else if (sends > 0)
                        g_assert_cmpuint(h.seq, !=, seq);
                seq = h.seq;
                sends++;
        }
        g_assert_cmpint(sends, ==, 12);
        g_assert_cmpint(f->report.outcome, ==, VSM_VDP_OUTCOME_TIMEOUT);
        g_assert_cmpint(counter(f, "tx_ecp_failures"), ==, 3);
        g_assert_cmpint(counter(f, "tx_ecp_retries"), ==, 9);
}

/* Requests made in one main-loop iteration share one ULPDU: one Manager ID
 * TLV, then one VSI TLV each (a multi-vNIC switchover is one ECP PDU). */
static void test_batch(Fixture *f, gconstpointer data) {
        uint8_t frame[1600];
        VsmEcpHeader h;
        VsmReader payload;
        VsmVdpTlv *tlv = g_new0(VsmVdpTlv, 1);
        int n_vsi = 0, n_mgr = 0;

        for (int i = 0; i < 3; i++) {
                VsmVsiParams p = { .type_id = 1, .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t) i } };
                VsmVsi *vsi;

                memcpy(p.instance, instance, 16);
                p.instance[15] = (uint8_t) i;
                memcpy(p.manager_id, "vsimig", 6);
                vsi = vsm_uplink_ensure_vsi(f->uplink, &p, NULL);
                g_assert_true(vsm_vsi_request(vsi, VSM_VDP_REQ_ASSOCIATE, VSM_VDP_STATUS_M, NULL, NULL, NULL));
        }
        bridge_recv_ecp(f, frame, sizeof(frame), &h, &payload);
        g_assert_cmpuint(h.op, ==, VSM_ECP_OP_REQUEST);
        while (vsm_vdp_tlv_next(&payload, tlv) == 0) {
                if (tlv->type == VSM_VDP_TLV_MANAGER_ID) {
                        g_assert_cmpint(n_vsi, ==, 0);
                        n_mgr++;
                } else {
                        g_assert_cmpuint(tlv->type, ==, VSM_VDP_TLV_ASSOCIATE);
                        g_assert_cmpuint(tlv->vsi.vsiid[15], ==, n_vsi);
                        n_vsi++;
                }
        }
        g_assert_cmpint(n_mgr, ==, 1);
        g_assert_cmpint(n_vsi, ==, 3);
        g_assert_cmpint(counter(f, "tx_ecp_requests"), ==, 1);
        g_free(tlv);
}

/* Notes nobody sees are not formatted: the follower asks before it builds
 * a debug line (the paused window's replay makes hundreds). */
static void test_log_level_enabled(void) {
        vsm_log_setup(FALSE);
        g_assert_false(vsm_log_level_enabled(G_LOG_LEVEL_DEBUG));
        g_assert_true(vsm_log_level_enabled(G_LOG_LEVEL_INFO));
        g_assert_true(vsm_log_level_enabled(G_LOG_LEVEL_WARNING));
        vsm_log_setup(TRUE);
        g_assert_true(vsm_log_level_enabled(G_LOG_LEVEL_DEBUG));
        vsm_log_setup(FALSE);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        vsm_log_setup(FALSE);
        g_test_add_func("/log/level-enabled", test_log_level_enabled);
        g_test_add("/uplink/lldp-first", Fixture, NULL, fixture_setup, test_lldp_first, fixture_teardown);
        for (size_t i = 0; i < G_N_ELEMENTS(flow_cases); i++) {
                g_autofree char *name = g_strdup_printf("/uplink/flow/%zu", i);
                g_test_add(name, Fixture, &flow_cases[i], fixture_setup, test_flow, fixture_teardown);
        }
        g_test_add("/uplink/bridge-deassoc", Fixture, NULL, fixture_setup, test_bridge_deassoc, fixture_teardown);
        g_test_add("/uplink/bridge-deassoc-after-ours", Fixture, NULL, fixture_setup, test_bridge_deassoc_after_ours,
                   fixture_teardown);
        g_test_add("/uplink/bridge-deassoc-repair", Fixture, NULL, fixture_setup, test_bridge_deassoc_repair,
                   fixture_teardown);
        g_test_add("/uplink/keepalive-hint/M", Fixture, GUINT_TO_POINTER(VSM_VDP_STATUS_M), fixture_setup,
                   test_keepalive_hint, fixture_teardown);
        g_test_add("/uplink/keepalive-hint/S", Fixture, GUINT_TO_POINTER(VSM_VDP_STATUS_S), fixture_setup,
                   test_keepalive_hint, fixture_teardown);
        g_test_add("/uplink/queue-behind-keepalive", Fixture, NULL, fixture_setup, test_queue_behind_keepalive,
                   fixture_teardown);
        g_test_add("/uplink/superseded-unsent", Fixture, NULL, fixture_setup, test_superseded_unsent, fixture_teardown);
        g_test_add("/uplink/unknown-vsi", Fixture, NULL, fixture_setup, test_unknown_vsi, fixture_teardown);
        g_test_add("/uplink/duplicate-seq", Fixture, NULL, fixture_setup, test_duplicate_seq, fixture_teardown);
        g_test_add("/uplink/bad-frames", Fixture, NULL, fixture_setup, test_bad_frames, fixture_teardown);
        g_test_add("/uplink/batch", Fixture, NULL, fixture_setup, test_batch, fixture_teardown);
        g_test_add("/uplink/unacked-timeout", Fixture, NULL, fixture_setup, test_unacked_timeout, fixture_teardown);
        return g_test_run();
}

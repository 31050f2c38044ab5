/* Unit tests for src/proto/lldp.c: LLDPDU and the EVB TLV. */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/eth.h"
#include "proto/lldp.h"
#include "test-util.h"

/* lldpad 1.1's station EVB TLV (DESIGN.md section 3). */
#define LLDPAD_EVB_HEX "fe090080c20d030568b434"

static const uint8_t *bytes_data(GBytes *b, size_t *ret_len) {
        gsize len;
        const uint8_t *p = g_bytes_get_data(b, &len);

        *ret_len = len;
        return p;
}

/* ---- EVB TLV -------------------------------------------------------- */

static void test_evb_lldpad(void) {
        g_autoptr(GBytes) b = vsm_test_hex(LLDPAD_EVB_HEX);
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        uint8_t buf[16];
        VsmEvbTlv evb;
        VsmReader r;
        VsmWriter w;

        /* The body follows the 2-octet header, OUI and subtype. */
        vsm_reader_init(&r, data + 6, len - 6);
        g_assert_cmpint(vsm_evb_tlv_parse(&r, &evb), ==, 0);
        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
        g_assert_cmphex(evb.bridge_status, ==, 0x03);
        g_assert_cmphex(evb.station_status, ==, 0x05);
        g_assert_cmpuint(evb.r, ==, 3);
        g_assert_cmpuint(evb.rte, ==, 8);
        g_assert_cmpuint(evb.mode, ==, VSM_EVB_MODE_STATION);
        g_assert_true(evb.rol_rwd);
        g_assert_cmpuint(evb.rwd, ==, 20);
        g_assert_true(evb.rol_rka);
        g_assert_cmpuint(evb.rka, ==, 20);
        /* 10 us * 2^20 = 10.49 s, lldpad's resource wait and resend time. */
        g_assert_cmpuint(vsm_evb_exp_to_usec(evb.rwd), ==, 10485760);
        g_assert_cmpuint(vsm_evb_exp_to_usec(evb.rte), ==, 2560);

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_evb_tlv_write(&w, &evb), ==, 0);
        vsm_assert_hex(buf, w.len, LLDPAD_EVB_HEX);
}

typedef struct {
        const char *name;
        const char *body;
        VsmEvbTlv evb;
} EvbCase;

static const EvbCase evb_cases[] = {
        { "zero", "0000000000", { 0 } },
        { "bridge", "0700 ff 7f 3f", { 0x07, 0x00, 7, 31, VSM_EVB_MODE_BRIDGE, true, 31, true, 31 } },
        { "all-ones", "ffff ff ff 3f", { 0xff, 0xff, 7, 31, 3, true, 31, true, 31 } },
        { "no-rol", "0204 21 9f 1f", { 0x02, 0x04, 1, 1, VSM_EVB_MODE_STATION, false, 31, false, 31 } },
};

static void test_evb_table(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(evb_cases); i++) {
                const EvbCase *c = &evb_cases[i];
                g_autoptr(GBytes) b = vsm_test_hex(c->body);
                g_autofree char *want = g_strconcat("fe090080c20d", c->body, NULL);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                uint8_t buf[16];
                VsmEvbTlv evb;
                VsmReader r;
                VsmWriter w;

                g_test_message("case %s", c->name);
                vsm_reader_init(&r, data, len);
                g_assert_cmpint(vsm_evb_tlv_parse(&r, &evb), ==, 0);
                g_assert_cmpuint(evb.bridge_status, ==, c->evb.bridge_status);
                g_assert_cmpuint(evb.station_status, ==, c->evb.station_status);
                g_assert_cmpuint(evb.r, ==, c->evb.r);
                g_assert_cmpuint(evb.rte, ==, c->evb.rte);
                g_assert_cmpuint(evb.mode, ==, c->evb.mode);
                g_assert_cmpint(evb.rol_rwd, ==, c->evb.rol_rwd);
                g_assert_cmpuint(evb.rwd, ==, c->evb.rwd);
                g_assert_cmpint(evb.rol_rka, ==, c->evb.rol_rka);
                g_assert_cmpuint(evb.rka, ==, c->evb.rka);

                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_evb_tlv_write(&w, &evb), ==, 0);
                vsm_assert_hex(buf, w.len, want);
        }
}

static void test_evb_reserved_bits(void) {
        /* The two reserved bits of the RKA octet are ignored on receipt
         * and written as zero. */
        g_autoptr(GBytes) b = vsm_test_hex("030568b4f4");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        uint8_t buf[16];
        VsmEvbTlv evb;
        VsmReader r;
        VsmWriter w;

        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_evb_tlv_parse(&r, &evb), ==, 0);
        g_assert_true(evb.rol_rka);
        g_assert_cmpuint(evb.rka, ==, 20);
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_evb_tlv_write(&w, &evb), ==, 0);
        vsm_assert_hex(buf, w.len, LLDPAD_EVB_HEX);
}

static void test_evb_errors(void) {
        static const uint8_t body[5] = { 3, 5, 0x68, 0xb4, 0x34 };
        VsmEvbTlv evb, untouched, good;
        VsmReader r;

        for (size_t n = 0; n < sizeof(body); n++) {
                memset(&evb, 0xa5, sizeof(evb));
                memset(&untouched, 0xa5, sizeof(untouched));
                vsm_reader_init(&r, body, n);
                g_assert_cmpint(vsm_evb_tlv_parse(&r, &evb), ==, -EBADMSG);
                g_assert_cmpuint(r.off, ==, 0);
                g_assert_cmpmem(&evb, sizeof(evb), &untouched, sizeof(untouched));
        }

        vsm_reader_init(&r, body, sizeof(body));
        g_assert_cmpint(vsm_evb_tlv_parse(&r, &good), ==, 0);

        /* Fields wider than their bits. */
        for (size_t i = 0; i < 5; i++) {
                uint8_t buf[16];
                VsmWriter w;

                evb = good;
                switch (i) {
                case 0: evb.r = 8; break;
                case 1: evb.rte = 32; break;
                case 2: evb.mode = 4; break;
                case 3: evb.rwd = 32; break;
                case 4: evb.rka = 32; break;
                }
                memset(buf, 0xa5, sizeof(buf));
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_evb_tlv_write(&w, &evb), ==, -EINVAL);
                g_assert_cmpuint(w.len, ==, 0);
                g_assert_cmphex(buf[0], ==, 0xa5);
        }

        /* Short buffers. */
        for (size_t cap = 0; cap < 11; cap++) {
                uint8_t buf[16];
                VsmWriter w;

                memset(buf, 0xa5, sizeof(buf));
                vsm_writer_init(&w, buf, cap);
                g_assert_cmpint(vsm_evb_tlv_write(&w, &good), ==, -ENOBUFS);
                g_assert_cmpuint(w.len, ==, 0);
                for (size_t j = 0; j < sizeof(buf); j++)
                        g_assert_cmphex(buf[j], ==, 0xa5);
        }
}

static void test_exp_to_usec(void) {
        static const struct {
                uint8_t exp;
                uint64_t usec;
        } cases[] = {
                { 0, 10 },
                { 1, 20 },
                { 8, 2560 },
                { 20, 10485760 },
                { 21, 20971520 },
                { 25, 335544320 },
                { 31, UINT64_C(21474836480) },
                /* Wider than the 5-bit field: saturates. */
                { 32, UINT64_C(21474836480) },
                { 255, UINT64_C(21474836480) },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                g_assert_cmpuint(vsm_evb_exp_to_usec(cases[i].exp), ==, cases[i].usec);
}

/* ---- LLDPDU --------------------------------------------------------- */

static void fill_station(VsmLldpdu *pdu) {
        memset(pdu, 0, sizeof(*pdu));
        pdu->chassis_subtype = 4;     /* MAC address */
        pdu->chassis_id_len = VSM_ETH_ALEN;
        g_assert_cmpint(vsm_mac_parse("02:00:00:00:00:01", pdu->chassis_id), ==, 0);
        pdu->port_subtype = 5;        /* interface name */
        pdu->port_id_len = 4;
        memcpy(pdu->port_id, "eth0", 4);
        pdu->ttl = 120;
        pdu->has_evb = true;
        pdu->evb = (VsmEvbTlv) {
                .bridge_status = 0x03,
                .station_status = 0x05,
                .r = 3,
                .rte = 8,
                .mode = VSM_EVB_MODE_STATION,
                .rol_rwd = true,
                .rwd = 20,
                .rol_rka = true,
                .rka = 20,
        };
}

static void assert_pdu_equal(const VsmLldpdu *a, const VsmLldpdu *b) {
        g_assert_cmpuint(a->chassis_subtype, ==, b->chassis_subtype);
        g_assert_cmpmem(a->chassis_id, a->chassis_id_len, b->chassis_id, b->chassis_id_len);
        g_assert_cmpuint(a->port_subtype, ==, b->port_subtype);
        g_assert_cmpmem(a->port_id, a->port_id_len, b->port_id, b->port_id_len);
        g_assert_cmpuint(a->ttl, ==, b->ttl);
        g_assert_cmpint(a->has_evb, ==, b->has_evb);
        if (a->has_evb)
                g_assert_cmpmem(&a->evb, sizeof(a->evb), &b->evb, sizeof(b->evb));
}

static void test_parse_station_vector(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/lldp-station-evb.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmLldpdu pdu, want;
        VsmEthHeader eh;
        VsmReader r;

        g_assert_cmpuint(len, ==, VSM_ETH_ZLEN);
        vsm_reader_init(&r, data, len);
        g_assert_cmpint(vsm_eth_header_parse(&r, &eh), ==, 0);
        /* lldpad runs its EVB agent on the nearest customer bridge
         * address, not the nearest bridge one (tests/data/lldpad). */
        g_assert_cmpmem(eh.dst, VSM_ETH_ALEN, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
        g_assert_cmphex(eh.ethertype, ==, VSM_ETH_P_LLDP);
        g_assert_cmpint(vsm_lldp_parse(&r, &pdu), ==, 0);
        /* End and the Ethernet padding after it are consumed. */
        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);

        fill_station(&want);
        assert_pdu_equal(&pdu, &want);
}

static void test_parse_no_evb_vector(void) {
        g_autoptr(GBytes) b = vsm_test_hex_file("vectors/lldp-no-evb.hex");
        size_t len;
        const uint8_t *data = bytes_data(b, &len);
        VsmLldpdu pdu;
        VsmReader r;

        g_assert_cmpmem(data, VSM_ETH_ALEN, vsm_eth_addr_lldp_multicast, VSM_ETH_ALEN);
        vsm_reader_init(&r, data + VSM_ETH_HLEN, len - VSM_ETH_HLEN);
        g_assert_cmpint(vsm_lldp_parse(&r, &pdu), ==, 0);
        g_assert_false(pdu.has_evb);
        g_assert_cmpuint(pdu.chassis_subtype, ==, 4);
        vsm_assert_hex(pdu.chassis_id, pdu.chassis_id_len, "020000000002");
        g_assert_cmpuint(pdu.port_subtype, ==, 3);
        vsm_assert_hex(pdu.port_id, pdu.port_id_len, "020000000002");
        g_assert_cmpuint(pdu.ttl, ==, 120);
}

static void test_write_station(void) {
        g_autoptr(GBytes) want = vsm_test_hex_file("vectors/lldp-station-evb.hex");
        size_t want_len;
        const uint8_t *want_data = bytes_data(want, &want_len);
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_LLDP };
        uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmLldpdu pdu;
        VsmWriter w;

        memcpy(eh.dst, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
        g_assert_cmpint(vsm_mac_parse("02:00:00:00:00:01", eh.src), ==, 0);
        fill_station(&pdu);

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
        g_assert_cmpint(vsm_lldp_write(&w, &pdu), ==, 0);
        g_assert_cmpuint(w.len, ==, 47);
        g_assert_cmpint(vsm_eth_pad(&w), ==, 0);
        g_assert_cmpmem(buf, w.len, want_data, want_len);
}

static void test_write_round_trip(void) {
        static const uint8_t id_lens[] = { 1, 6, 254, 255 };

        for (size_t i = 0; i < G_N_ELEMENTS(id_lens); i++) {
                for (int evb = 0; evb <= 1; evb++) {
                        uint8_t buf[VSM_ETH_FRAME_MAX];
                        VsmLldpdu pdu, back;
                        VsmWriter w;
                        VsmReader r;

                        fill_station(&pdu);
                        pdu.has_evb = evb;
                        pdu.chassis_subtype = 7;
                        pdu.chassis_id_len = id_lens[i];
                        memset(pdu.chassis_id, 'c', id_lens[i]);
                        pdu.port_subtype = 7;
                        pdu.port_id_len = id_lens[G_N_ELEMENTS(id_lens) - 1 - i];
                        memset(pdu.port_id, 'p', pdu.port_id_len);
                        pdu.ttl = 0xffff;

                        vsm_writer_init(&w, buf, sizeof(buf));
                        g_assert_cmpint(vsm_lldp_write(&w, &pdu), ==, 0);
                        g_assert_cmpuint(w.len, ==, 3 + pdu.chassis_id_len + 3 + pdu.port_id_len + 4 +
                                                    (evb ? 11 : 0) + 2);
                        vsm_reader_init(&r, buf, w.len);
                        g_assert_cmpint(vsm_lldp_parse(&r, &back), ==, 0);
                        assert_pdu_equal(&back, &pdu);
                }
        }
}

static void test_write_errors(void) {
        VsmLldpdu pdu;
        size_t need;

        /* -ENOBUFS at every short capacity, nothing written. */
        fill_station(&pdu);
        need = 3 + 6 + 3 + 4 + 4 + 11 + 2;
        for (size_t cap = 0; cap <= need; cap++) {
                uint8_t buf[64];
                VsmWriter w;
                int k;

                memset(buf, 0xa5, sizeof(buf));
                vsm_writer_init(&w, buf, cap);
                k = vsm_lldp_write(&w, &pdu);
                if (cap == need) {
                        g_assert_cmpint(k, ==, 0);
                        g_assert_cmpuint(w.len, ==, need);
                        continue;
                }
                g_assert_cmpint(k, ==, -ENOBUFS);
                g_assert_cmpuint(w.len, ==, 0);
                for (size_t j = 0; j < sizeof(buf); j++)
                        g_assert_cmphex(buf[j], ==, 0xa5);
        }

        for (size_t i = 0; i < 4; i++) {
                uint8_t buf[VSM_ETH_FRAME_MAX];
                VsmWriter w;

                fill_station(&pdu);
                switch (i) {
                case 0: pdu.chassis_id_len = 0; break;
                case 1: pdu.port_id_len = 0; break;
                case 2: pdu.evb.r = 8; break;
                case 3: pdu.evb.mode = 4; break;
                }
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_lldp_write(&w, &pdu), ==, -EINVAL);
                g_assert_cmpuint(w.len, ==, 0);
        }

        /* An invalid EVB TLV does not matter when it is not sent. */
        {
                uint8_t buf[VSM_ETH_FRAME_MAX];
                VsmWriter w;

                fill_station(&pdu);
                pdu.evb.r = 8;
                pdu.has_evb = false;
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_lldp_write(&w, &pdu), ==, 0);
        }
}

/* Mandatory TLVs as the station vector has them. */
#define CHASSIS "0207 04 020000000001"
#define PORT "0405 05 65746830"
#define TTL "0602 0078"
#define EVB LLDPAD_EVB_HEX
#define END "0000"

typedef struct {
        const char *name;
        const char *hex;
        int ret;
        bool has_evb;
} ParseCase;

static const ParseCase parse_cases[] = {
        { "minimal", CHASSIS PORT TTL END, 0, false },
        { "no-end", CHASSIS PORT TTL, 0, false },
        { "one-pad-octet", CHASSIS PORT TTL "00", 0, false },
        { "evb", CHASSIS PORT TTL EVB END, 0, true },
        { "evb-no-end", CHASSIS PORT TTL EVB, 0, true },
        { "end-then-garbage", CHASSIS PORT TTL END "ffffffff", 0, false },
        { "ttl-zero", CHASSIS PORT "0602 0000" END, 0, false },
        { "unknown-skipped", CHASSIS PORT TTL "0a03 616263" EVB "1000" END, 0, true },
        { "other-org-skipped", CHASSIS PORT TTL "fe06 0080c2 01 0001" "fe04 00120f 01" EVB END, 0, true },
        { "evb-subtype-other", CHASSIS PORT TTL "fe09 0080c2 0c 030568b434" END, 0, false },
        { "evb-other-oui", CHASSIS PORT TTL "fe09 001b3f 0d 030568b434" END, 0, false },
        { "id-max", "0300" "07" /* 255 'a' */
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "61616161616161616161616161616161616161616161616161616161616161"
                    PORT TTL END, 0, false },
        /* Missing or misordered mandatory TLVs. */
        { "empty", "", -EBADMSG, false },
        { "only-end", END, -EBADMSG, false },
        { "padding-only", "000000000000", -EBADMSG, false },
        { "no-chassis", PORT TTL END, -EBADMSG, false },
        { "no-port", CHASSIS TTL END, -EBADMSG, false },
        { "no-ttl", CHASSIS PORT END, -EBADMSG, false },
        { "no-ttl-evb", CHASSIS PORT EVB END, -EBADMSG, false },
        { "chassis-only", CHASSIS, -EBADMSG, false },
        { "port-first", PORT CHASSIS TTL END, -EBADMSG, false },
        { "ttl-before-port", CHASSIS TTL PORT END, -EBADMSG, false },
        { "evb-first", EVB CHASSIS PORT TTL END, -EBADMSG, false },
        { "duplicate-chassis", CHASSIS PORT TTL CHASSIS END, -EBADMSG, false },
        { "duplicate-port", CHASSIS PORT TTL PORT END, -EBADMSG, false },
        { "duplicate-ttl", CHASSIS PORT TTL TTL END, -EBADMSG, false },
        { "duplicate-evb", CHASSIS PORT TTL EVB EVB END, -EBADMSG, false },
        /* Lengths. */
        { "chassis-len-0", "0200" PORT TTL END, -EBADMSG, false },
        { "chassis-subtype-only", "0201 04" PORT TTL END, -EBADMSG, false },
        { "port-subtype-only", CHASSIS "0401 05" TTL END, -EBADMSG, false },
        { "chassis-id-256", "0301" "07" /* 256 'a' */
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    "6161616161616161616161616161616161616161616161616161616161616161"
                    PORT TTL END, -EBADMSG, false },
        { "ttl-len-1", CHASSIS PORT "0601 00" END, -EBADMSG, false },
        { "ttl-len-3", CHASSIS PORT "0603 007800" END, -EBADMSG, false },
        { "evb-len-8", CHASSIS PORT TTL "fe08 0080c20d 030568b4" END, -EBADMSG, false },
        { "evb-len-10", CHASSIS PORT TTL "fe0a 0080c20d 030568b43400" END, -EBADMSG, false },
        { "org-len-3", CHASSIS PORT TTL "fe03 0080c2" END, -EBADMSG, false },
        { "org-len-0", CHASSIS PORT TTL "fe00" END, -EBADMSG, false },
        /* Truncation. */
        { "tlv-past-frame", CHASSIS PORT TTL "fe09 0080c20d 0305", -EBADMSG, false },
        { "chassis-past-frame", "0207 04 0200", -EBADMSG, false },
        { "half-header", CHASSIS PORT TTL "fe", -EBADMSG, false },
};

static void test_parse_table(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
                const ParseCase *c = &parse_cases[i];
                g_autoptr(GBytes) b = vsm_test_hex(c->hex);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                VsmLldpdu pdu, untouched;
                VsmReader r;
                int k;

                g_test_message("case %s", c->name);
                memset(&pdu, 0xa5, sizeof(pdu));
                memset(&untouched, 0xa5, sizeof(untouched));
                vsm_reader_init(&r, data, len);
                k = vsm_lldp_parse(&r, &pdu);
                g_assert_cmpint(k, ==, c->ret);
                if (k < 0) {
                        /* Neither output nor reader changed. */
                        g_assert_cmpmem(&pdu, sizeof(pdu), &untouched, sizeof(untouched));
                        g_assert_cmpuint(r.off, ==, 0);
                        continue;
                }
                g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
                g_assert_cmpint(pdu.has_evb, ==, c->has_evb);
                if (pdu.has_evb)
                        g_assert_cmpuint(pdu.evb.rwd, ==, 20);
        }
}

static void test_too_many_tlvs(void) {
        /* VSM_LLDP_TLVS_MAX counts every TLV but End: 3 mandatory plus
         * (max - 3) others is fine, one more is not. */
        for (size_t extra = VSM_LLDP_TLVS_MAX - 4; extra <= VSM_LLDP_TLVS_MAX - 2; extra++) {
                g_autoptr(GString) hex = g_string_new(CHASSIS PORT TTL);
                g_autoptr(GBytes) b = NULL;
                size_t len;
                const uint8_t *data;
                VsmLldpdu pdu;
                VsmReader r;
                int want = 3 + extra <= VSM_LLDP_TLVS_MAX ? 0 : -EBADMSG;

                for (size_t j = 0; j < extra; j++)
                        g_string_append(hex, "1000");   /* type 8, empty */
                g_string_append(hex, END);
                b = vsm_test_hex(hex->str);
                data = bytes_data(b, &len);

                g_test_message("%zu TLVs", 3 + extra);
                vsm_reader_init(&r, data, len);
                g_assert_cmpint(vsm_lldp_parse(&r, &pdu), ==, want);
        }
}

/* lldpad 1.1's LLDPDUs (tests/data/lldpad): EVB agent on the nearest
 * customer bridge address, chassis and port ID both the port MAC, End TLV,
 * padded to 60 by lldpad itself. */
typedef struct {
        const char *file;
        const char *src;
        VsmEvbTlv evb;
} LldpadCase;

static const LldpadCase lldpad_cases[] = {
        /* Before hearing the peer: no ROL, RRSTAT 3 ("not yet known"). */
        { "lldpad/station-lldp-initial.hex", "02:76:73:6d:00:01",
          { 0x00, 0x07, 3, 8, VSM_EVB_MODE_STATION, false, 20, false, 20 } },
        { "lldpad/station-lldp.hex", "02:76:73:6d:00:01",
          { 0x03, 0x05, 3, 8, VSM_EVB_MODE_STATION, true, 20, true, 20 } },
        { "lldpad/bridge-lldp-initial.hex", "02:76:73:6d:00:02",
          { 0x02, 0x00, 3, 8, VSM_EVB_MODE_BRIDGE, false, 20, false, 20 } },
        { "lldpad/bridge-lldp.hex", "02:76:73:6d:00:02",
          { 0x03, 0x05, 3, 8, VSM_EVB_MODE_BRIDGE, true, 20, true, 20 } },
};

static void test_lldpad_frames(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(lldpad_cases); i++) {
                const LldpadCase *c = &lldpad_cases[i];
                g_autoptr(GBytes) b = vsm_test_hex_file(c->file);
                size_t len;
                const uint8_t *data = bytes_data(b, &len);
                uint8_t src[VSM_ETH_ALEN];
                uint8_t buf[VSM_ETH_FRAME_MAX];
                VsmEthHeader eh;
                VsmLldpdu pdu;
                VsmReader r;
                VsmWriter w;

                g_test_message("lldpad %s", c->file);
                g_assert_cmpuint(len, ==, VSM_ETH_ZLEN);
                g_assert_cmpint(vsm_mac_parse(c->src, src), ==, 0);

                vsm_reader_init(&r, data, len);
                g_assert_cmpint(vsm_eth_header_parse(&r, &eh), ==, 0);
                g_assert_cmpmem(eh.dst, VSM_ETH_ALEN, vsm_eth_addr_nearest_bridge, VSM_ETH_ALEN);
                g_assert_cmpmem(eh.src, VSM_ETH_ALEN, src, VSM_ETH_ALEN);
                g_assert_cmphex(eh.ethertype, ==, VSM_ETH_P_LLDP);
                g_assert_cmpint(vsm_lldp_parse(&r, &pdu), ==, 0);
                g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);

                g_assert_cmpuint(pdu.chassis_subtype, ==, 4);     /* MAC address */
                g_assert_cmpmem(pdu.chassis_id, pdu.chassis_id_len, src, VSM_ETH_ALEN);
                g_assert_cmpuint(pdu.port_subtype, ==, 3);        /* MAC address */
                g_assert_cmpmem(pdu.port_id, pdu.port_id_len, src, VSM_ETH_ALEN);
                g_assert_cmpuint(pdu.ttl, ==, 120);
                g_assert_true(pdu.has_evb);
                g_assert_cmpmem(&pdu.evb, sizeof(pdu.evb), &c->evb, sizeof(c->evb));

                /* RTE 8 -> 2.56 ms ECP retransmission; RWD/RKA 20 -> 10.49 s. */
                g_assert_cmpuint(vsm_evb_exp_to_usec(pdu.evb.rte), ==, 2560);
                g_assert_cmpuint(vsm_evb_exp_to_usec(pdu.evb.rwd), ==, 10485760);
                g_assert_cmpuint(vsm_evb_exp_to_usec(pdu.evb.rka), ==, 10485760);

                /* Written back, it is lldpad's frame, padding included. */
                vsm_writer_init(&w, buf, sizeof(buf));
                g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
                g_assert_cmpint(vsm_lldp_write(&w, &pdu), ==, 0);
                g_assert_cmpint(vsm_eth_pad(&w), ==, 0);
                g_assert_cmpmem(buf, w.len, data, len);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/lldp/evb/lldpad", test_evb_lldpad);
        g_test_add_func("/proto/lldp/evb/table", test_evb_table);
        g_test_add_func("/proto/lldp/evb/reserved-bits", test_evb_reserved_bits);
        g_test_add_func("/proto/lldp/evb/errors", test_evb_errors);
        g_test_add_func("/proto/lldp/evb/exp-to-usec", test_exp_to_usec);
        g_test_add_func("/proto/lldp/parse/station", test_parse_station_vector);
        g_test_add_func("/proto/lldp/parse/no-evb", test_parse_no_evb_vector);
        g_test_add_func("/proto/lldp/parse/table", test_parse_table);
        g_test_add_func("/proto/lldp/parse/too-many-tlvs", test_too_many_tlvs);
        g_test_add_func("/proto/lldp/write/station", test_write_station);
        g_test_add_func("/proto/lldp/write/round-trip", test_write_round_trip);
        g_test_add_func("/proto/lldp/write/errors", test_write_errors);
        g_test_add_func("/proto/lldp/lldpad/frames", test_lldpad_frames);

        return g_test_run();
}

/* LLDPDU codec, IEEE 802.1AB-2009 clause 8 (8.4 LLDPDU format, 8.5.1-8.5.4
 * End, Chassis ID, Port ID and Time To Live TLVs, 8.6 organizationally
 * specific TLVs), with the EVB TLV of IEEE 802.1Qbg-2012 D.2.13
 * (OUI 00-80-C2, subtype 0x0D).
 *
 * EVB TLV body, 5 octets:
 *   bridge status | station status | R:3 RTE:5 | mode:2 ROL:1 RWD:5 |
 *   reserved:2 ROL:1 RKA:5
 * lldpad 1.1's station sends fe 09 00 80 c2 0d 03 05 68 b4 34 (R 3, RTE 8,
 * mode station, RWD 20 and RKA 20 with ROL set).
 */
#include "proto/lldp.h"

#include <errno.h>
#include <string.h>

#define LLDP_TLV_HLEN 2
#define LLDP_TLV_LEN_MASK 0x1ff
#define LLDP_TTL_LEN 2
#define LLDP_ORG_HLEN 4                 /* OUI + subtype */
#define EVB_BODY_LEN 5
#define EVB_TLV_LEN (LLDP_ORG_HLEN + EVB_BODY_LEN)
#define EVB_EXP_MAX 31

static uint16_t tlv_header(uint8_t type, size_t len) {
        return (uint16_t) ((type & 0x7f) << 9 | (len & LLDP_TLV_LEN_MASK));
}

/* Chassis ID or Port ID: a subtype octet and 1-255 octets of ID. */
static int parse_id(VsmReader *body, uint8_t *ret_subtype, uint8_t *ret_len, uint8_t *ret_id) {
        size_t n = vsm_reader_remaining(body);

        if (n < 2 || n > 1 + VSM_LLDP_ID_MAX)
                return -EBADMSG;
        (void) vsm_reader_u8(body, ret_subtype);
        (void) vsm_reader_bytes(body, ret_id, n - 1);
        *ret_len = (uint8_t) (n - 1);
        return 0;
}

int vsm_evb_tlv_parse(VsmReader *body, VsmEvbTlv *ret) {
        uint8_t b[EVB_BODY_LEN];
        int k;

        k = vsm_reader_bytes(body, b, sizeof(b));
        if (k < 0)
                return k;

        /* The two reserved bits of the last octet are ignored (802.1Qbg
         * D.2.13: set to zero on transmit, ignored on receipt). */
        *ret = (VsmEvbTlv) {
                .bridge_status = b[0],
                .station_status = b[1],
                .r = b[2] >> 5,
                .rte = b[2] & 0x1f,
                .mode = b[3] >> 6,
                .rol_rwd = b[3] & 0x20,
                .rwd = b[3] & 0x1f,
                .rol_rka = b[4] & 0x20,
                .rka = b[4] & 0x1f,
        };
        return 0;
}

static bool evb_valid(const VsmEvbTlv *evb) {
        return evb->r <= 7 && evb->rte <= EVB_EXP_MAX && evb->mode <= 3 &&
               evb->rwd <= EVB_EXP_MAX && evb->rka <= EVB_EXP_MAX;
}

int vsm_evb_tlv_write(VsmWriter *w, const VsmEvbTlv *evb) {
        if (!evb_valid(evb))
                return -EINVAL;
        if (LLDP_TLV_HLEN + EVB_TLV_LEN > w->cap - w->len)
                return -ENOBUFS;

        (void) vsm_writer_be16(w, tlv_header(VSM_LLDP_TLV_ORG, EVB_TLV_LEN));
        (void) vsm_writer_be24(w, VSM_EVB_OUI_8021);
        (void) vsm_writer_u8(w, VSM_EVB_SUBTYPE);
        (void) vsm_writer_u8(w, evb->bridge_status);
        (void) vsm_writer_u8(w, evb->station_status);
        (void) vsm_writer_u8(w, (uint8_t) (evb->r << 5 | evb->rte));
        (void) vsm_writer_u8(w, (uint8_t) (evb->mode << 6 | (evb->rol_rwd ? 0x20 : 0) | evb->rwd));
        (void) vsm_writer_u8(w, (uint8_t) ((evb->rol_rka ? 0x20 : 0) | evb->rka));
        return 0;
}

uint64_t vsm_evb_exp_to_usec(uint8_t exp) {
        /* The field is 5 bits wide; anything larger saturates. */
        if (exp > EVB_EXP_MAX)
                exp = EVB_EXP_MAX;
        return UINT64_C(10) << exp;
}

/* An organizationally specific TLV: the EVB TLV is extracted, any other is
 * skipped.  A second EVB TLV makes the LLDPDU ambiguous and is refused. */
static int parse_org(VsmReader *body, VsmLldpdu *pdu) {
        uint32_t oui;
        uint8_t subtype;

        if (vsm_reader_remaining(body) < LLDP_ORG_HLEN)
                return -EBADMSG;
        (void) vsm_reader_be24(body, &oui);
        (void) vsm_reader_u8(body, &subtype);

        if (oui != VSM_EVB_OUI_8021 || subtype != VSM_EVB_SUBTYPE)
                return 0;
        if (pdu->has_evb || vsm_reader_remaining(body) != EVB_BODY_LEN)
                return -EBADMSG;
        (void) vsm_evb_tlv_parse(body, &pdu->evb);
        pdu->has_evb = true;
        return 0;
}

int vsm_lldp_parse(VsmReader *r, VsmLldpdu *ret) {
        VsmLldpdu pdu;
        VsmReader rr = *r;
        unsigned n_tlvs = 0;
        int k;

        memset(&pdu, 0, sizeof(pdu));

        for (;;) {
                VsmReader body;
                uint16_t hdr;
                uint8_t type;

                /* 802.1AB-2009 requires an End TLV, but the 2016 revision
                 * made it optional: a frame ending after a TLV is fine, as
                 * is a single octet of zero padding. */
                if (vsm_reader_remaining(&rr) == 0)
                        break;
                if (vsm_reader_remaining(&rr) == 1 && vsm_reader_peek(&rr)[0] == 0) {
                        (void) vsm_reader_skip(&rr, 1);
                        break;
                }

                k = vsm_reader_be16(&rr, &hdr);
                if (k < 0)
                        return k;
                type = (uint8_t) (hdr >> 9);
                /* End (or the zero padding that reads as one): the rest of
                 * the frame is not part of the LLDPDU. */
                if (type == VSM_LLDP_TLV_END) {
                        (void) vsm_reader_skip(&rr, vsm_reader_remaining(&rr));
                        break;
                }
                if (++n_tlvs > VSM_LLDP_TLVS_MAX)
                        return -EBADMSG;
                k = vsm_reader_sub(&rr, hdr & LLDP_TLV_LEN_MASK, &body);
                if (k < 0)
                        return k;

                /* Chassis ID, Port ID, TTL: first, in this order, once. */
                if ((n_tlvs == 1 && type != VSM_LLDP_TLV_CHASSIS_ID) ||
                    (n_tlvs == 2 && type != VSM_LLDP_TLV_PORT_ID) ||
                    (n_tlvs == 3 && type != VSM_LLDP_TLV_TTL))
                        return -EBADMSG;
                if (n_tlvs > 3 && type >= VSM_LLDP_TLV_CHASSIS_ID && type <= VSM_LLDP_TLV_TTL)
                        return -EBADMSG;

                switch (type) {
                case VSM_LLDP_TLV_CHASSIS_ID:
                        k = parse_id(&body, &pdu.chassis_subtype, &pdu.chassis_id_len, pdu.chassis_id);
                        break;
                case VSM_LLDP_TLV_PORT_ID:
                        k = parse_id(&body, &pdu.port_subtype, &pdu.port_id_len, pdu.port_id);
                        break;
                case VSM_LLDP_TLV_TTL:
                        k = vsm_reader_remaining(&body) == LLDP_TTL_LEN ?
                                vsm_reader_be16(&body, &pdu.ttl) : -EBADMSG;
                        break;
                case VSM_LLDP_TLV_ORG:
                        k = parse_org(&body, &pdu);
                        break;
                default:
                        /* Bounds checked by the sub-reader; content skipped. */
                        k = 0;
                        break;
                }
                if (k < 0)
                        return k;
        }

        if (n_tlvs < 3)
                return -EBADMSG;

        *r = rr;
        *ret = pdu;
        return 0;
}

int vsm_lldp_write(VsmWriter *w, const VsmLldpdu *pdu) {
        size_t need;

        if (pdu->chassis_id_len == 0 || pdu->port_id_len == 0)
                return -EINVAL;
        if (pdu->has_evb && !evb_valid(&pdu->evb))
                return -EINVAL;

        need = (size_t) LLDP_TLV_HLEN + 1 + pdu->chassis_id_len +
               LLDP_TLV_HLEN + 1 + pdu->port_id_len +
               LLDP_TLV_HLEN + LLDP_TTL_LEN +
               (pdu->has_evb ? LLDP_TLV_HLEN + EVB_TLV_LEN : 0) +
               LLDP_TLV_HLEN;
        if (need > w->cap - w->len)
                return -ENOBUFS;

        (void) vsm_writer_be16(w, tlv_header(VSM_LLDP_TLV_CHASSIS_ID, 1 + pdu->chassis_id_len));
        (void) vsm_writer_u8(w, pdu->chassis_subtype);
        (void) vsm_writer_bytes(w, pdu->chassis_id, pdu->chassis_id_len);
        (void) vsm_writer_be16(w, tlv_header(VSM_LLDP_TLV_PORT_ID, 1 + pdu->port_id_len));
        (void) vsm_writer_u8(w, pdu->port_subtype);
        (void) vsm_writer_bytes(w, pdu->port_id, pdu->port_id_len);
        (void) vsm_writer_be16(w, tlv_header(VSM_LLDP_TLV_TTL, LLDP_TTL_LEN));
        (void) vsm_writer_be16(w, pdu->ttl);
        if (pdu->has_evb)
                (void) vsm_evb_tlv_write(w, &pdu->evb);
        (void) vsm_writer_be16(w, tlv_header(VSM_LLDP_TLV_END, 0));
        return 0;
}

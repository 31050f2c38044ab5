/* ECP22 header codec, IEEE 802.1Qbg-2012 clause 43.3.1 (ECPDU format).
 *
 * Octets 0-1: version:4 | operation type:2 | subtype:10; octets 2-3:
 * sequence number.  A request carries a ULPDU after the header; an ACK is
 * the header alone (18 octets with the Ethernet header, padded to 60 on
 * the wire).
 */
#include "proto/ecp.h"

#include <errno.h>

int vsm_ecp_header_parse(VsmReader *r, VsmEcpHeader *ret) {
        VsmEcpHeader h;
        uint16_t word, seq;
        VsmReader hr;
        int k;

        k = vsm_reader_sub(r, VSM_ECP_HLEN, &hr);
        if (k < 0)
                return k;
        (void) vsm_reader_be16(&hr, &word);
        (void) vsm_reader_be16(&hr, &seq);

        h = (VsmEcpHeader) {
                .version = (uint8_t) (word >> 12),
                .op = (uint8_t) ((word >> 10) & 0x3),
                .subtype = (uint16_t) (word & 0x3ff),
                .seq = seq,
        };

        /* The header is returned (and consumed) even when it is not one we
         * speak, so that the caller can count or log it. */
        *ret = h;
        if (h.version != VSM_ECP_VERSION || h.op >= _VSM_ECP_OP_MAX)
                return -EPROTONOSUPPORT;
        return 0;
}

int vsm_ecp_header_write(VsmWriter *w, const VsmEcpHeader *h) {
        uint16_t word;

        /* Fields wider than their bits would corrupt their neighbours.
         * Reserved op values (2, 3) fit and are written as given. */
        if (h->version > 0xf || h->op > 0x3 || h->subtype > 0x3ff)
                return -EINVAL;
        if (VSM_ECP_HLEN > w->cap - w->len)
                return -ENOBUFS;

        word = (uint16_t) (h->version << 12 | h->op << 10 | h->subtype);
        (void) vsm_writer_be16(w, word);
        (void) vsm_writer_be16(w, h->seq);
        return 0;
}

const char *vsm_ecp_op_to_string(VsmEcpOp op) {
        switch (op) {
        case VSM_ECP_OP_REQUEST:
                return "request";
        case VSM_ECP_OP_ACK:
                return "ack";
        default:
                return NULL;
        }
}

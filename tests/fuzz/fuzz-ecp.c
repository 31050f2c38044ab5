/* Fuzz target for the ECP22 frame path (src/proto/eth.c, src/proto/ecp.c,
 * src/proto/vdp.c; IEEE 802.1Qbg-2012 clause 43.3.1).
 *
 * The input is a full Ethernet frame as the packet socket delivers it:
 * Ethernet header, ECP header, then for a VDP request the ULPDU's TLVs.
 * Headers that decode must re-encode to the same octets, and so must every
 * VDP TLV the decoder accepts; otherwise the target aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ecp.h"
#include "proto/eth.h"
#include "proto/vdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tlv(const VsmVdpTlv *t, const uint8_t *raw, size_t raw_len) {
        uint8_t buf[2 + 0x1ff];
        VsmWriter w;
        int k;

        vsm_writer_init(&w, buf, sizeof(buf));
        switch (t->type) {
        case VSM_VDP_TLV_MANAGER_ID:
                k = vsm_vdp_write_manager_id(&w, t->manager_id);
                break;
        case VSM_VDP_TLV_PRE_ASSOCIATE:
        case VSM_VDP_TLV_PRE_ASSOCIATE_RR:
        case VSM_VDP_TLV_ASSOCIATE:
        case VSM_VDP_TLV_DE_ASSOCIATE:
                k = vsm_vdp_write_vsi(&w, &t->vsi);
                break;
        case VSM_VDP_TLV_ORG:
                k = vsm_vdp_write_org(&w, &t->org);
                break;
        case VSM_VDP_TLV_END:
                abort();
        default:
                if (raw_len != 2 + (size_t) t->len)
                        abort();
                return;
        }
        if (k != 0 || w.len != raw_len || memcmp(buf, raw, raw_len) != 0)
                abort();
}

static void walk_vdp(VsmReader *r) {
        const uint8_t *base = vsm_reader_peek(r);
        size_t size = vsm_reader_remaining(r), first = r->off;

        for (size_t i = 0; i <= size / 2; i++) {
                size_t start = r->off;
                VsmVdpTlv t;
                int k;

                k = vsm_vdp_tlv_next(r, &t);
                if (k != 0) {
                        if (vsm_reader_remaining(r) != 0)
                                abort();
                        return;
                }
                if (r->off < start + 2)
                        abort();
                check_tlv(&t, base + (start - first), r->off - start);
        }
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t out[VSM_ETH_ZLEN];
        VsmEthHeader eh;
        VsmEcpHeader h;
        VsmReader r;
        VsmWriter w;
        int k;

        if (size > VSM_ETH_FRAME_MAX)
                return 0;

        vsm_reader_init(&r, data, size);
        if (vsm_eth_header_parse(&r, &eh) < 0) {
                if (r.off != 0)
                        abort();
                return 0;
        }
        vsm_writer_init(&w, out, sizeof(out));
        if (vsm_eth_header_write(&w, &eh) != 0 || memcmp(out, data, VSM_ETH_HLEN) != 0)
                abort();

        k = vsm_ecp_header_parse(&r, &h);
        if (k == -EBADMSG)
                return 0;
        /* Also -EPROTONOSUPPORT returns the header, which re-encodes. */
        vsm_writer_init(&w, out, sizeof(out));
        if (vsm_ecp_header_write(&w, &h) != 0 ||
            memcmp(out, data + VSM_ETH_HLEN, VSM_ECP_HLEN) != 0)
                abort();
        if (k < 0) {
                if (k != -EPROTONOSUPPORT)
                        abort();
                return 0;
        }

        if (h.op == VSM_ECP_OP_REQUEST && h.subtype == VSM_ECP_SUBTYPE_VDP) {
                /* What the receiver does: ACK it (18 octets, padded)... */
                const VsmEcpHeader ack = {
                        .version = VSM_ECP_VERSION,
                        .op = VSM_ECP_OP_ACK,
                        .subtype = h.subtype,
                        .seq = h.seq,
                };
                VsmEthHeader reply = { .ethertype = VSM_ETH_P_ECP };

                memcpy(reply.dst, eh.src, VSM_ETH_ALEN);
                memcpy(reply.src, eh.dst, VSM_ETH_ALEN);
                vsm_writer_init(&w, out, sizeof(out));
                if (vsm_eth_header_write(&w, &reply) != 0 ||
                    vsm_ecp_header_write(&w, &ack) != 0 ||
                    w.len != VSM_ETH_HLEN + VSM_ECP_HLEN ||
                    vsm_eth_pad(&w) != 0 || w.len != VSM_ETH_ZLEN)
                        abort();

                /* ...and decode the ULPDU. */
                walk_vdp(&r);
        }
        return 0;
}

/* Fuzz target for the VDP22 TLV decoder (src/proto/vdp.c, IEEE
 * 802.1Qbg-2012 clause 41.2).
 *
 * The input is a VDP ULPDU (an ECP payload).  Every TLV the decoder accepts
 * must re-encode to exactly the octets it came from; a decoder that stops
 * must leave the reader at the end.  Either failing aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/vdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const VsmVdpTlv *t, const uint8_t *raw, size_t raw_len) {
        uint8_t buf[2 + 0x1ff];
        VsmWriter w;
        int k;

        if (raw_len != 2 + (size_t) t->len)
                abort();

        vsm_writer_init(&w, buf, sizeof(buf));
        switch (t->type) {
        case VSM_VDP_TLV_MANAGER_ID:
                k = vsm_vdp_write_manager_id(&w, t->manager_id);
                break;
        case VSM_VDP_TLV_PRE_ASSOCIATE:
        case VSM_VDP_TLV_PRE_ASSOCIATE_RR:
        case VSM_VDP_TLV_ASSOCIATE:
        case VSM_VDP_TLV_DE_ASSOCIATE:
                if (t->vsi.n_filters > VSM_VDP_FILTERS_MAX)
                        abort();
                if (vsm_vdp_request_to_tlv(t->vsi.request) != t->type)
                        abort();
                k = vsm_vdp_write_vsi(&w, &t->vsi);
                break;
        case VSM_VDP_TLV_ORG:
                if (t->org.len > VSM_VDP_ORG_DATA_MAX)
                        abort();
                k = vsm_vdp_write_org(&w, &t->org);
                break;
        case VSM_VDP_TLV_END:
                /* END is never returned as a TLV. */
                abort();
        default:
                /* Unknown types are skipped; nothing to re-encode. */
                return;
        }

        if (k != 0 || w.len != raw_len || memcmp(buf, raw, raw_len) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VsmReader r;

        vsm_reader_init(&r, data, size);
        /* Each accepted TLV consumes at least its 2-octet header, so this
         * bound is never reached by a correct decoder. */
        for (size_t i = 0; i <= size / 2; i++) {
                size_t start = r.off;
                VsmVdpTlv t;
                int k;

                k = vsm_vdp_tlv_next(&r, &t);
                if (k != 0) {
                        if (k != -ENODATA && k != -EBADMSG && k != -EMSGSIZE)
                                abort();
                        if (vsm_reader_remaining(&r) != 0)
                                abort();
                        return 0;
                }
                if (r.off < start + 2)
                        abort();
                check_round_trip(&t, data + start, r.off - start);
        }
        abort();
}

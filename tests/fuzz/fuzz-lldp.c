/* Fuzz target for the LLDPDU decoder with the EVB TLV (src/proto/lldp.c;
 * IEEE 802.1AB-2009 clause 8, IEEE 802.1Qbg-2012 D.2.13).
 *
 * The input is a full Ethernet frame.  An LLDPDU that decodes is written
 * back with vsm_lldp_write() and decoded again; the two decodings must
 * agree, and a decoder failure must leave output and reader untouched.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/eth.h"
#include "proto/lldp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(const VsmLldpdu *a, const VsmLldpdu *b) {
        if (a->chassis_subtype != b->chassis_subtype ||
            a->chassis_id_len != b->chassis_id_len ||
            memcmp(a->chassis_id, b->chassis_id, a->chassis_id_len) != 0 ||
            a->port_subtype != b->port_subtype ||
            a->port_id_len != b->port_id_len ||
            memcmp(a->port_id, b->port_id, a->port_id_len) != 0 ||
            a->ttl != b->ttl ||
            a->has_evb != b->has_evb)
                abort();
        if (a->has_evb && memcmp(&a->evb, &b->evb, sizeof(a->evb)) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmLldpdu pdu, back;
        VsmEthHeader eh;
        VsmReader r;
        VsmWriter w;
        size_t off;
        int k;

        if (size > VSM_ETH_FRAME_MAX)
                return 0;

        vsm_reader_init(&r, data, size);
        if (vsm_eth_header_parse(&r, &eh) < 0)
                return 0;

        off = r.off;
        memset(&pdu, 0x5a, sizeof(pdu));
        k = vsm_lldp_parse(&r, &pdu);
        if (k < 0) {
                VsmLldpdu untouched;

                memset(&untouched, 0x5a, sizeof(untouched));
                if (k != -EBADMSG || r.off != off ||
                    memcmp(&pdu, &untouched, sizeof(pdu)) != 0)
                        abort();
                return 0;
        }
        if (vsm_reader_remaining(&r) != 0)
                abort();
        if (pdu.chassis_id_len == 0 || pdu.port_id_len == 0)
                abort();

        /* Write it back (no Ethernet header needed) and decode again. */
        vsm_writer_init(&w, buf, sizeof(buf));
        if (vsm_lldp_write(&w, &pdu) != 0)
                abort();
        vsm_reader_init(&r, buf, w.len);
        if (vsm_lldp_parse(&r, &back) != 0)
                abort();
        check_same(&pdu, &back);

        if (pdu.has_evb) {
                uint8_t evb_buf[16];
                VsmEvbTlv evb;

                vsm_writer_init(&w, evb_buf, sizeof(evb_buf));
                if (vsm_evb_tlv_write(&w, &pdu.evb) != 0 || w.len != 11)
                        abort();
                vsm_reader_init(&r, evb_buf + 6, w.len - 6);
                if (vsm_evb_tlv_parse(&r, &evb) != 0 ||
                    memcmp(&evb, &pdu.evb, sizeof(evb)) != 0)
                        abort();
                (void) vsm_evb_exp_to_usec(evb.rwd);
        }
        return 0;
}

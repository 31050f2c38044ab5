/* Fuzz target for the ARP decoder (src/proto/arp.c, RFC 826, RFC 5227):
 * hostile guest input, every ARP on a tap reaches it (DESIGN.md section 7).
 *
 * The input is decoded as an ARP packet and as a full Ethernet frame.
 * Every accepted packet must re-encode to the same 28 octets and decode
 * back to the same fields; a gratuitous ARP built from an accepted
 * packet's sender must decode as gratuitous with that sender.  Any
 * violation aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/arp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rc(int k) {
        if (k != 0 && k != -EBADMSG && k != -EMSGSIZE)
                abort();
}

static void assert_same(const VsmArpMessage *a, const VsmArpMessage *b) {
        if (a->op != b->op || memcmp(a->sha, b->sha, 6) || memcmp(a->spa, b->spa, 4) || memcmp(a->tha, b->tha, 6) ||
            memcmp(a->tpa, b->tpa, 4))
                abort();
}

static void check_message(const VsmArpMessage *m, const uint8_t *wire) {
        uint8_t buf[64];
        VsmArpMessage again;
        VsmArpFrame f;
        VsmWriter w;
        VsmReader r;

        if (m->op != VSM_ARP_OP_REQUEST && m->op != VSM_ARP_OP_REPLY)
                abort();
        vsm_writer_init(&w, buf, sizeof(buf));
        if (vsm_arp_message_write(&w, m) != 0 || w.len != 28)
                abort();
        if (wire && memcmp(buf, wire, 28) != 0)
                abort();
        vsm_reader_init(&r, buf, w.len);
        if (vsm_arp_message_parse(&r, &again) != 0)
                abort();
        assert_same(m, &again);
        if (vsm_arp_is_gratuitous(m) != (memcmp(m->spa, m->tpa, 4) == 0))
                abort();

        vsm_writer_init(&w, buf, sizeof(buf));
        if (vsm_arp_gratuitous_write(&w, m->sha, m->spa) != 0 || w.len < 42)
                abort();
        vsm_reader_init(&r, buf, w.len);
        if (vsm_arp_frame_parse(&r, &f) != 0 || !vsm_arp_is_gratuitous(&f.msg) || memcmp(f.msg.sha, m->sha, 6) ||
            memcmp(f.msg.spa, m->spa, 4) || memcmp(f.eth.src, m->sha, 6))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VsmArpMessage m;
        VsmArpFrame f;
        VsmReader r;
        int k;

        vsm_reader_init(&r, data, size);
        k = vsm_arp_message_parse(&r, &m);
        check_rc(k);
        if (k == 0)
                check_message(&m, data);

        vsm_reader_init(&r, data, size);
        k = vsm_arp_frame_parse(&r, &f);
        check_rc(k);
        if (k == 0) {
                if (f.eth.ethertype != VSM_ETH_P_ARP)
                        abort();
                check_message(&f.msg, data + VSM_ETH_HLEN);
        }
        return 0;
}

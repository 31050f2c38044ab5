/* Fuzz target for the Neighbor Discovery decoder (src/proto/ndisc.c, RFC
 * 4861 NS/NA): hostile guest input, every NS/NA on a tap reaches it
 * (DESIGN.md section 7).
 *
 * The input is decoded as an ICMPv6 NS/NA message (no checksum to solve)
 * and as a full Ethernet + IPv6 frame.  Every accepted message must be NS
 * or NA with a non-multicast target, re-encode and decode back to the same
 * fields; an unsolicited NA built from an accepted target must decode as
 * that NA with Override.  Any violation aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/inet.h"
#include "proto/ndisc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rc(int k) {
        if (k != 0 && k != -EBADMSG && k != -EMSGSIZE)
                abort();
}

static void assert_same(const VsmNdiscMessage *a, const VsmNdiscMessage *b) {
        if (a->type != b->type || a->flags != b->flags || memcmp(a->target, b->target, 16) ||
            a->has_source_lla != b->has_source_lla || a->has_target_lla != b->has_target_lla ||
            (a->has_source_lla && memcmp(a->source_lla, b->source_lla, 6)) ||
            (a->has_target_lla && memcmp(a->target_lla, b->target_lla, 6)))
                abort();
}

static void check_message(const VsmNdiscMessage *m) {
        static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        uint8_t buf[256];
        VsmNdiscMessage again;
        VsmNdiscFrame f;
        VsmWriter w;
        VsmReader r;

        if ((m->type != VSM_NDISC_NS && m->type != VSM_NDISC_NA) || vsm_ip6_is_multicast(m->target))
                abort();
        if (m->type == VSM_NDISC_NS && m->flags != 0)
                abort();
        vsm_writer_init(&w, buf, sizeof(buf));
        if (vsm_ndisc_message_write(&w, m) != 0)
                abort();
        vsm_reader_init(&r, buf, w.len);
        if (vsm_ndisc_message_parse(&r, &again) != 0)
                abort();
        assert_same(m, &again);

        vsm_writer_init(&w, buf, sizeof(buf));
        if (vsm_ndisc_unsolicited_na_write(&w, mac, m->target, false) != 0)
                abort();
        vsm_reader_init(&r, buf, w.len);
        if (vsm_ndisc_frame_parse(&r, &f) != 0 || f.msg.type != VSM_NDISC_NA ||
            !(f.msg.flags & VSM_NDISC_NA_OVERRIDE) || (f.msg.flags & VSM_NDISC_NA_SOLICITED) ||
            memcmp(f.msg.target, m->target, 16) || !f.msg.has_target_lla || memcmp(f.msg.target_lla, mac, 6) ||
            f.ip.hop_limit != VSM_NDISC_HOP_LIMIT)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VsmNdiscMessage m;
        VsmNdiscFrame f;
        VsmReader r;
        int k;

        vsm_reader_init(&r, data, size);
        k = vsm_ndisc_message_parse(&r, &m);
        check_rc(k);
        if (k == 0)
                check_message(&m);

        vsm_reader_init(&r, data, size);
        k = vsm_ndisc_frame_parse(&r, &f);
        check_rc(k);
        if (k == 0) {
                if (f.ip.hop_limit != VSM_NDISC_HOP_LIMIT || f.ip.next_header != VSM_IP_PROTO_ICMPV6)
                        abort();
                check_message(&f.msg);
        }
        return 0;
}

/* Fuzz target for the IGMP decoder (src/proto/igmp.c, RFC 2236, RFC
 * 3376).
 *
 * The input is decoded as an IGMP message (no checksum to solve) and as a
 * full Ethernet frame.  Every accepted message must re-encode (message
 * and full frame) and decode back to the same fields; counts stay within
 * the caps and every record's sources within the pool.  Any violation
 * aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/igmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rc(int k) {
        if (k != 0 && k != -EBADMSG && k != -EMSGSIZE)
                abort();
}

static void assert_same(const VsmIgmpMessage *a, const VsmIgmpMessage *b) {
        if (a->type != b->type || a->version != b->version || a->max_resp_code != b->max_resp_code ||
            memcmp(a->group, b->group, 4) || a->suppress != b->suppress || a->qrv != b->qrv ||
            a->qqic != b->qqic || a->n_records != b->n_records || a->n_sources != b->n_sources)
                abort();
        for (uint16_t i = 0; i < a->n_records; i++)
                if (a->records[i].type != b->records[i].type || memcmp(a->records[i].group, b->records[i].group, 4) ||
                    a->records[i].n_sources != b->records[i].n_sources ||
                    a->records[i].first_source != b->records[i].first_source)
                        abort();
        if (memcmp(a->sources, b->sources, a->n_sources * 4u))
                abort();
}

static void check_invariants(const VsmIgmpMessage *m) {
        if (m->n_records > VSM_IGMP_RECORDS_MAX || m->n_sources > VSM_IGMP_SOURCES_MAX)
                abort();
        if (m->version < 1 || m->version > 3)
                abort();
        for (uint16_t i = 0; i < m->n_records; i++) {
                const VsmIgmpRecord *rec = &m->records[i];

                if (rec->type < 1 || rec->type > 6 || rec->n_sources > VSM_IGMP_RECORD_SOURCES_MAX ||
                    rec->first_source > m->n_sources || rec->n_sources > m->n_sources - rec->first_source)
                        abort();
        }
}

static void check_message(const VsmIgmpMessage *m) {
        static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        static const uint8_t ip[4] = { 192, 0, 2, 10 };
        static uint8_t buf[8192];
        static VsmIgmpMessage again;
        static VsmIgmpFrame f;
        VsmWriter w;
        VsmReader r;
        int k;

        check_invariants(m);
        vsm_writer_init(&w, buf, sizeof(buf));
        if (vsm_igmp_message_write(&w, m) != 0)
                abort();
        vsm_reader_init(&r, buf, w.len);
        if (vsm_igmp_message_parse(&r, &again) != 0)
                abort();
        assert_same(m, &again);

        /* Whole frame; may not fit in 1518 octets for large reports. */
        vsm_writer_init(&w, buf, VSM_ETH_FRAME_MAX);
        k = vsm_igmp_frame_write(&w, mac, ip, m);
        if (k == -ENOBUFS)
                return;
        if (k != 0)
                abort();
        vsm_reader_init(&r, buf, w.len);
        if (vsm_igmp_frame_parse(&r, &f) != 0 || f.ip.ttl != 1 || !f.ip.router_alert)
                abort();
        assert_same(m, &f.msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static VsmIgmpMessage m;
        static VsmIgmpFrame f;
        VsmReader r;
        int k;

        if (size > 4 * VSM_ETH_FRAME_MAX)
                return 0;

        vsm_reader_init(&r, data, size);
        k = vsm_igmp_message_parse(&r, &m);
        check_rc(k);
        if (k == 0)
                check_message(&m);
        else if (r.off != 0)
                abort();

        vsm_reader_init(&r, data, size);
        k = vsm_igmp_frame_parse(&r, &f);
        check_rc(k);
        if (k == 0)
                check_message(&f.msg);
        else if (r.off != 0)
                abort();
        return 0;
}

/* IGMP codec.
 *
 * RFC 1112 appendix I (IGMPv1 report 0x12), RFC 2236 section 2 (IGMPv2:
 * query 0x11, report 0x16, leave 0x17, 8 octets each), RFC 3376 section
 * 4.1 (v3 query: max resp code, group, Resv/S/QRV, QQIC, sources), 4.2
 * (v3 report 0x22: group records, aux data ignored), 7.1 (query version
 * from its length and max resp code).  Frames: RFC 3376 section 4 (IP TTL
 * 1, Router Alert, IP TOS 0xc0 as Linux sends) and 4.2.14 (report to
 * 224.0.0.22), RFC 2236 section 9 (v2 report to the group, leave to
 * 224.0.0.2).
 */
#include "proto/igmp.h"
#include "proto/mcast.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define IGMP_TTL 1
#define IGMP_TOS 0xc0
#define IP4_FLAG_DF 0x4000
#define IGMP_QRV_MASK 0x07
#define IGMP_S_FLAG 0x08

/* Copy only the used part of the arrays: unused slots stay as they were
 * in *dst, which is fine because every reader stops at the counts. */
static void copy_message(VsmIgmpMessage *dst, const VsmIgmpMessage *src) {
        memcpy(dst, src, offsetof(VsmIgmpMessage, records));
        memcpy(dst->records, src->records, src->n_records * sizeof(src->records[0]));
        dst->n_sources = src->n_sources;
        memcpy(dst->sources, src->sources, src->n_sources * sizeof(src->sources[0]));
}

static const VsmMcastFamily igmp_family = {
        .alen = VSM_IP4_ALEN,
        .record_hlen = VSM_IGMP_RECORD_HLEN,
        .record_sources_max = VSM_IGMP_RECORD_SOURCES_MAX,
        .sources_max = VSM_IGMP_SOURCES_MAX,
};

/* v3 report body after the 8-octet header. */
static int parse_v3_report(VsmReader *r, uint16_t n_records, VsmIgmpMessage *m) {
        if (n_records > VSM_IGMP_RECORDS_MAX)
                return -EMSGSIZE;

        for (uint16_t i = 0; i < n_records; i++) {
                VsmIgmpRecord *rec = &m->records[m->n_records];
                VsmMcastRecord mr;
                int k;

                k = vsm_mcast_record_parse(r, &igmp_family, m->sources[0], &m->n_sources, &mr);
                if (k < 0)
                        return k;
                if (k == 0)
                        continue;       /* RFC 3376 4.2.12: unknown type, ignored */
                rec->type = mr.type;
                memcpy(rec->group, mr.group, VSM_IP4_ALEN);
                rec->n_sources = mr.n_sources;
                rec->first_source = mr.first_source;
                m->n_records++;
        }
        return 0;
}

int vsm_igmp_message_parse(VsmReader *r, VsmIgmpMessage *ret) {
        VsmIgmpMessage m;
        size_t len = vsm_reader_remaining(r);
        VsmReader mr = *r;
        uint8_t code;
        uint16_t checksum;
        int k;

        if (len < VSM_IGMP_HLEN)
                return -EBADMSG;
        /* Only the header part; the arrays are filled up to their counts. */
        memset(&m, 0, offsetof(VsmIgmpMessage, records));
        m.n_sources = 0;

        (void) vsm_reader_u8(&mr, &m.type);
        (void) vsm_reader_u8(&mr, &code);
        (void) vsm_reader_be16(&mr, &checksum);

        switch (m.type) {
        case VSM_IGMP_QUERY: {
                uint8_t flags;
                uint16_t n;

                (void) vsm_reader_bytes(&mr, m.group, VSM_IP4_ALEN);
                m.max_resp_code = code;
                if (len == VSM_IGMP_HLEN) {
                        m.version = code == 0 ? 1 : 2;
                        break;
                }
                if (len < VSM_IGMP_V3_QUERY_HLEN)
                        return -EBADMSG;
                m.version = 3;
                (void) vsm_reader_u8(&mr, &flags);
                (void) vsm_reader_u8(&mr, &m.qqic);
                (void) vsm_reader_be16(&mr, &n);
                m.suppress = flags & IGMP_S_FLAG;
                m.qrv = flags & IGMP_QRV_MASK;
                k = vsm_mcast_sources_parse(&mr, &igmp_family, n, m.sources[0], &m.n_sources);
                if (k < 0)
                        return k;
                break;
        }

        case VSM_IGMP_V1_REPORT:
        case VSM_IGMP_V2_REPORT:
        case VSM_IGMP_V2_LEAVE:
                m.version = m.type == VSM_IGMP_V1_REPORT ? 1 : 2;
                m.max_resp_code = code;
                (void) vsm_reader_bytes(&mr, m.group, VSM_IP4_ALEN);
                break;

        case VSM_IGMP_V3_REPORT: {
                uint16_t n_records;

                m.version = 3;
                (void) vsm_reader_skip(&mr, 2);         /* reserved */
                (void) vsm_reader_be16(&mr, &n_records);
                k = parse_v3_report(&mr, n_records, &m);
                if (k < 0)
                        return k;
                break;
        }

        default:
                return -EBADMSG;
        }

        /* Octets past the message are ignored; the message is all of r. */
        (void) vsm_reader_skip(r, len);
        copy_message(ret, &m);
        return 0;
}

int vsm_igmp_frame_parse(VsmReader *r, VsmIgmpFrame *ret) {
        VsmReader fr = *r, payload;
        VsmEthHeader eth;
        VsmIp4Header ip;
        VsmIgmpMessage m;
        int k;

        k = vsm_eth_header_parse(&fr, &eth);
        if (k < 0)
                return k;
        if (eth.ethertype != VSM_ETH_P_IPV4)
                return -EBADMSG;
        k = vsm_ip4_header_parse(&fr, &ip, &payload);
        if (k < 0)
                return k;
        if (ip.protocol != VSM_IP_PROTO_IGMP)
                return -EBADMSG;
        if (vsm_inet_checksum(vsm_reader_peek(&payload), vsm_reader_remaining(&payload)) != 0)
                return -EBADMSG;
        k = vsm_igmp_message_parse(&payload, &m);
        if (k < 0)
                return k;

        copy_message(&ret->msg, &m);
        ret->eth = eth;
        ret->ip = ip;
        *r = fr;
        return 0;
}

static int write_record(VsmWriter *w, const VsmIgmpMessage *m, const VsmIgmpRecord *rec) {
        VsmMcastRecord mr = { .type = rec->type, .n_sources = rec->n_sources, .first_source = rec->first_source };

        /* Checked before anything is written: over the cap is -EMSGSIZE
         * even when w is full too. */
        if (rec->n_sources > VSM_IGMP_RECORD_SOURCES_MAX)
                return -EMSGSIZE;
        memcpy(mr.group, rec->group, VSM_IP4_ALEN);
        return vsm_mcast_record_write(w, &igmp_family, m->sources[0], m->n_sources, &mr);
}

static int message_write(VsmWriter *w, const VsmIgmpMessage *m) {
        size_t off = w->len;
        int k;

        switch (m->type) {
        case VSM_IGMP_QUERY:
                if ((k = vsm_writer_u8(w, m->type)) < 0 ||
                    (k = vsm_writer_u8(w, m->version == 1 ? 0 : m->max_resp_code)) < 0 ||
                    (k = vsm_writer_be16(w, 0)) < 0 ||
                    (k = vsm_writer_bytes(w, m->group, VSM_IP4_ALEN)) < 0)
                        return k;
                if (m->version != 3)
                        break;
                if ((k = vsm_writer_u8(w, (uint8_t) ((m->suppress ? IGMP_S_FLAG : 0) | (m->qrv & IGMP_QRV_MASK)))) < 0 ||
                    (k = vsm_writer_u8(w, m->qqic)) < 0 ||
                    (k = vsm_writer_be16(w, m->n_sources)) < 0 ||
                    (k = vsm_mcast_sources_write(w, &igmp_family, m->sources[0], m->n_sources, 0, m->n_sources)) < 0)
                        return k;
                break;

        case VSM_IGMP_V1_REPORT:
        case VSM_IGMP_V2_REPORT:
        case VSM_IGMP_V2_LEAVE:
                if ((k = vsm_writer_u8(w, m->type)) < 0 ||
                    (k = vsm_writer_u8(w, m->max_resp_code)) < 0 ||
                    (k = vsm_writer_be16(w, 0)) < 0 ||
                    (k = vsm_writer_bytes(w, m->group, VSM_IP4_ALEN)) < 0)
                        return k;
                break;

        case VSM_IGMP_V3_REPORT:
                if (m->n_records > VSM_IGMP_RECORDS_MAX)
                        return -EMSGSIZE;
                if ((k = vsm_writer_u8(w, m->type)) < 0 ||
                    (k = vsm_writer_u8(w, 0)) < 0 ||
                    (k = vsm_writer_be16(w, 0)) < 0 ||
                    (k = vsm_writer_be16(w, 0)) < 0 ||
                    (k = vsm_writer_be16(w, m->n_records)) < 0)
                        return k;
                for (uint16_t i = 0; i < m->n_records; i++)
                        if ((k = write_record(w, m, &m->records[i])) < 0)
                                return k;
                break;

        default:
                return -EINVAL;
        }

        vsm_writer_patch_be16(w, off + 2, vsm_inet_checksum(w->data + off, w->len - off));
        return 0;
}

int vsm_igmp_message_write(VsmWriter *w, const VsmIgmpMessage *m) {
        size_t saved = w->len;
        int k;

        k = message_write(w, m);
        if (k < 0)
                w->len = saved;
        return k;
}

void vsm_igmp_destination(const VsmIgmpMessage *m, uint8_t ret[VSM_IP4_ALEN]) {
        static const uint8_t zero[VSM_IP4_ALEN];

        switch (m->type) {
        case VSM_IGMP_V3_REPORT:
                memcpy(ret, vsm_ip4_igmpv3_routers, VSM_IP4_ALEN);
                break;
        case VSM_IGMP_V2_LEAVE:
                memcpy(ret, vsm_ip4_all_routers, VSM_IP4_ALEN);
                break;
        case VSM_IGMP_QUERY:
                if (memcmp(m->group, zero, VSM_IP4_ALEN) == 0) {
                        memcpy(ret, vsm_ip4_all_hosts, VSM_IP4_ALEN);
                        break;
                }
                memcpy(ret, m->group, VSM_IP4_ALEN);
                break;
        default:
                memcpy(ret, m->group, VSM_IP4_ALEN);
                break;
        }
}

int vsm_igmp_frame_write(VsmWriter *w, const uint8_t src_mac[VSM_ETH_ALEN], const uint8_t src_ip[VSM_IP4_ALEN],
                         const VsmIgmpMessage *m) {
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_IPV4 };
        VsmIp4Header ih = {
                .tos = IGMP_TOS,
                .frag = IP4_FLAG_DF,
                .ttl = IGMP_TTL,
                .protocol = VSM_IP_PROTO_IGMP,
                .router_alert = true,
        };
        size_t saved = w->len, ip_off;
        int k;

        memcpy(ih.src, src_ip, VSM_IP4_ALEN);
        vsm_igmp_destination(m, ih.dst);
        memcpy(eh.src, src_mac, VSM_ETH_ALEN);
        vsm_ip4_multicast_mac(ih.dst, eh.dst);

        if ((k = vsm_eth_header_write(w, &eh)) < 0 ||
            (k = vsm_ip4_header_begin(w, &ih, &ip_off)) < 0 ||
            (k = message_write(w, m)) < 0 ||
            (k = vsm_ip4_header_finish(w, ip_off)) < 0 ||
            (k = vsm_eth_pad(w)) < 0) {
                w->len = saved;
                return k;
        }
        return 0;
}

uint32_t vsm_igmp_code_to_value(uint8_t code) {
        uint32_t mant, exp;

        if (code < 128)
                return code;
        mant = code & 0x0f;
        exp = (code >> 4) & 0x07;
        return (mant | 0x10) << (exp + 3);
}

const char *vsm_mcast_record_type_to_string(uint8_t type) {
        switch (type) {
        case VSM_MCAST_MODE_IS_INCLUDE:
                return "mode-is-include";
        case VSM_MCAST_MODE_IS_EXCLUDE:
                return "mode-is-exclude";
        case VSM_MCAST_CHANGE_TO_INCLUDE:
                return "change-to-include";
        case VSM_MCAST_CHANGE_TO_EXCLUDE:
                return "change-to-exclude";
        case VSM_MCAST_ALLOW_NEW_SOURCES:
                return "allow-new-sources";
        case VSM_MCAST_BLOCK_OLD_SOURCES:
                return "block-old-sources";
        default:
                return NULL;
        }
}

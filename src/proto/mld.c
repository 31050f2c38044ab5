/* MLD codec.
 *
 * RFC 2710 section 3 (MLDv1: 24 octets: type, code, checksum, maximum
 * response delay, reserved, multicast address), RFC 3810 sections 5.1
 * (v2 query: + Resv/S/QRV, QQIC, sources), 5.2 (v2 report 143: reserved,
 * record count, multicast address records, aux data ignored), 5.1.3
 * (maximum response code), 8.1 (query version by length).  Frames: RFC
 * 3810 section 5 (link-local source, hop limit 1, Router Alert in a
 * hop-by-hop header), 5.2.14 (reports to ff02::16), RFC 2710 section 5
 * (done to ff02::2), RFC 4443 section 2.3 (checksum).
 */
#include "proto/mld.h"
#include "proto/mcast.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define MLD_HOP_LIMIT 1
#define MLD_QRV_MASK 0x07
#define MLD_S_FLAG 0x08

static void copy_message(VsmMldMessage *dst, const VsmMldMessage *src) {
        memcpy(dst, src, offsetof(VsmMldMessage, records));
        memcpy(dst->records, src->records, src->n_records * sizeof(src->records[0]));
        dst->n_sources = src->n_sources;
        memcpy(dst->sources, src->sources, src->n_sources * sizeof(src->sources[0]));
}

static const VsmMcastFamily mld_family = {
        .alen = VSM_IP6_ALEN,
        .record_hlen = VSM_MLD_RECORD_HLEN,
        .record_sources_max = VSM_MLD_RECORD_SOURCES_MAX,
        .sources_max = VSM_MLD_SOURCES_MAX,
};

static int parse_v2_report(VsmReader *r, uint16_t n_records, VsmMldMessage *m) {
        if (n_records > VSM_MLD_RECORDS_MAX)
                return -EMSGSIZE;

        for (uint16_t i = 0; i < n_records; i++) {
                VsmMldRecord *rec = &m->records[m->n_records];
                VsmMcastRecord mr;
                int k;

                k = vsm_mcast_record_parse(r, &mld_family, m->sources[0], &m->n_sources, &mr);
                if (k < 0)
                        return k;
                if (k == 0)
                        continue;       /* RFC 3810 5.2.12: unknown type, ignored */
                rec->type = mr.type;
                memcpy(rec->group, mr.group, VSM_IP6_ALEN);
                rec->n_sources = mr.n_sources;
                rec->first_source = mr.first_source;
                m->n_records++;
        }
        return 0;
}

int vsm_mld_message_parse(VsmReader *r, VsmMldMessage *ret) {
        VsmMldMessage m;
        size_t len = vsm_reader_remaining(r);
        VsmReader mr = *r;
        uint8_t code;
        uint16_t checksum;
        int k;

        if (len < VSM_ICMP6_HLEN)
                return -EBADMSG;
        memset(&m, 0, offsetof(VsmMldMessage, records));
        m.n_sources = 0;

        (void) vsm_reader_u8(&mr, &m.type);
        (void) vsm_reader_u8(&mr, &code);
        (void) vsm_reader_be16(&mr, &checksum);

        switch (m.type) {
        case VSM_MLD_QUERY: {
                uint8_t flags;
                uint16_t n;

                if (len != VSM_MLD_V1_LEN && len < VSM_MLD_V2_QUERY_HLEN)
                        return -EBADMSG;
                (void) vsm_reader_be16(&mr, &m.max_resp_code);
                (void) vsm_reader_skip(&mr, 2);
                (void) vsm_reader_bytes(&mr, m.group, VSM_IP6_ALEN);
                if (len == VSM_MLD_V1_LEN) {
                        m.version = 1;
                        break;
                }
                m.version = 2;
                (void) vsm_reader_u8(&mr, &flags);
                (void) vsm_reader_u8(&mr, &m.qqic);
                (void) vsm_reader_be16(&mr, &n);
                m.suppress = flags & MLD_S_FLAG;
                m.qrv = flags & MLD_QRV_MASK;
                k = vsm_mcast_sources_parse(&mr, &mld_family, n, m.sources[0], &m.n_sources);
                if (k < 0)
                        return k;
                break;
        }

        case VSM_MLD_V1_REPORT:
        case VSM_MLD_V1_DONE:
                if (len < VSM_MLD_V1_LEN)
                        return -EBADMSG;
                m.version = 1;
                (void) vsm_reader_be16(&mr, &m.max_resp_code);
                (void) vsm_reader_skip(&mr, 2);
                (void) vsm_reader_bytes(&mr, m.group, VSM_IP6_ALEN);
                break;

        case VSM_MLD_V2_REPORT: {
                uint16_t n_records;

                if (len < VSM_MLD_V2_REPORT_HLEN)
                        return -EBADMSG;
                m.version = 2;
                (void) vsm_reader_skip(&mr, 2);
                (void) vsm_reader_be16(&mr, &n_records);
                k = parse_v2_report(&mr, n_records, &m);
                if (k < 0)
                        return k;
                break;
        }

        default:
                return -EBADMSG;
        }

        (void) vsm_reader_skip(r, len);
        copy_message(ret, &m);
        return 0;
}

int vsm_mld_frame_parse(VsmReader *r, VsmMldFrame *ret) {
        VsmReader fr = *r, payload;
        VsmEthHeader eth;
        VsmIp6Header ip;
        VsmMldMessage m;
        int k;

        k = vsm_eth_header_parse(&fr, &eth);
        if (k < 0)
                return k;
        if (eth.ethertype != VSM_ETH_P_IPV6)
                return -EBADMSG;
        k = vsm_ip6_header_parse(&fr, &ip, &payload);
        if (k < 0)
                return k;
        if (ip.next_header != VSM_IP_PROTO_ICMPV6)
                return -EBADMSG;
        if (!vsm_icmp6_checksum_ok(ip.src, ip.dst, vsm_reader_peek(&payload), vsm_reader_remaining(&payload)))
                return -EBADMSG;
        k = vsm_mld_message_parse(&payload, &m);
        if (k < 0)
                return k;

        copy_message(&ret->msg, &m);
        ret->eth = eth;
        ret->ip = ip;
        *r = fr;
        return 0;
}

static int write_record(VsmWriter *w, const VsmMldMessage *m, const VsmMldRecord *rec) {
        VsmMcastRecord mr = { .type = rec->type, .n_sources = rec->n_sources, .first_source = rec->first_source };

        memcpy(mr.group, rec->group, VSM_IP6_ALEN);
        return vsm_mcast_record_write(w, &mld_family, m->sources[0], m->n_sources, &mr);
}

static int message_write(VsmWriter *w, const VsmMldMessage *m) {
        int k;

        switch (m->type) {
        case VSM_MLD_QUERY:
        case VSM_MLD_V1_REPORT:
        case VSM_MLD_V1_DONE:
                if ((k = vsm_writer_u8(w, m->type)) < 0 ||
                    (k = vsm_writer_u8(w, 0)) < 0 ||
                    (k = vsm_writer_be16(w, 0)) < 0 ||
                    (k = vsm_writer_be16(w, m->max_resp_code)) < 0 ||
                    (k = vsm_writer_be16(w, 0)) < 0 ||
                    (k = vsm_writer_bytes(w, m->group, VSM_IP6_ALEN)) < 0)
                        return k;
                if (m->type != VSM_MLD_QUERY || m->version != 2)
                        break;
                if ((k = vsm_writer_u8(w, (uint8_t) ((m->suppress ? MLD_S_FLAG : 0) | (m->qrv & MLD_QRV_MASK)))) < 0 ||
                    (k = vsm_writer_u8(w, m->qqic)) < 0 ||
                    (k = vsm_writer_be16(w, m->n_sources)) < 0 ||
                    (k = vsm_mcast_sources_write(w, &mld_family, m->sources[0], m->n_sources, 0, m->n_sources)) < 0)
                        return k;
                break;

        case VSM_MLD_V2_REPORT:
                if (m->n_records > VSM_MLD_RECORDS_MAX)
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
        return 0;
}

int vsm_mld_message_write(VsmWriter *w, const VsmMldMessage *m) {
        size_t saved = w->len;
        int k;

        k = message_write(w, m);
        if (k < 0)
                w->len = saved;
        return k;
}

void vsm_mld_destination(const VsmMldMessage *m, uint8_t ret[VSM_IP6_ALEN]) {
        static const uint8_t unspecified[VSM_IP6_ALEN];

        switch (m->type) {
        case VSM_MLD_V2_REPORT:
                memcpy(ret, vsm_ip6_mldv2_routers, VSM_IP6_ALEN);
                break;
        case VSM_MLD_V1_DONE:
                memcpy(ret, vsm_ip6_all_routers, VSM_IP6_ALEN);
                break;
        case VSM_MLD_QUERY:
                if (memcmp(m->group, unspecified, VSM_IP6_ALEN) == 0) {
                        memcpy(ret, vsm_ip6_all_nodes, VSM_IP6_ALEN);
                        break;
                }
                memcpy(ret, m->group, VSM_IP6_ALEN);
                break;
        default:
                memcpy(ret, m->group, VSM_IP6_ALEN);
                break;
        }
}

int vsm_mld_frame_write(VsmWriter *w, const uint8_t src_mac[VSM_ETH_ALEN], const uint8_t *src_ip,
                        const VsmMldMessage *m) {
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_IPV6 };
        VsmIp6Header ih = {
                .next_header = VSM_IP_PROTO_ICMPV6,
                .hop_limit = MLD_HOP_LIMIT,
                .router_alert = true,
                .router_alert_value = VSM_IP6_RA_MLD,
        };
        size_t saved = w->len, ip_off, icmp_off;
        int k;

        if (src_ip)
                memcpy(ih.src, src_ip, VSM_IP6_ALEN);
        else
                vsm_ip6_link_local_from_mac(src_mac, ih.src);
        vsm_mld_destination(m, ih.dst);
        memcpy(eh.src, src_mac, VSM_ETH_ALEN);
        vsm_ip6_multicast_mac(ih.dst, eh.dst);

        if ((k = vsm_eth_header_write(w, &eh)) < 0 ||
            (k = vsm_ip6_header_begin(w, &ih, &ip_off)) < 0)
                goto fail;
        icmp_off = w->len;
        if ((k = message_write(w, m)) < 0 ||
            (k = vsm_ip6_header_finish(w, ip_off)) < 0)
                goto fail;
        vsm_icmp6_checksum_finish(w, ih.src, ih.dst, icmp_off);
        return 0;

fail:
        w->len = saved;
        return k;
}

uint32_t vsm_mld_code_to_value(uint16_t code) {
        uint32_t mant, exp;

        if (code < 32768)
                return code;
        mant = code & 0x0fff;
        exp = (code >> 12) & 0x07;
        return (mant | 0x1000) << (exp + 3);
}

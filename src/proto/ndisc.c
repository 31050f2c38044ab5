/* Neighbor Discovery NS/NA codec.
 *
 * RFC 4861 section 4.3 (NS: type 135, reserved, target), 4.4 (NA: type
 * 136, R/S/O flags, target), 4.6.1 (source/target link-layer address
 * options, length in units of 8 octets, 0 invalid), 7.1.1/7.1.2 (hop limit
 * 255, code 0, target not multicast, every option length non-zero), 7.2.6
 * (unsolicited NA: all-nodes destination, Solicited clear, Override set,
 * target link-layer address included).  The source address is the target
 * itself, as Linux's ndisc_send_unsol_na() sends it.
 */
#include "proto/ndisc.h"

#include <errno.h>
#include <string.h>

#define NDISC_FLAGS_MASK (VSM_NDISC_NA_ROUTER | VSM_NDISC_NA_SOLICITED | VSM_NDISC_NA_OVERRIDE)
#define NDISC_OPT_UNIT 8
#define NDISC_OPT_LLA_UNITS 1        /* Ethernet: 2 + 6 octets */

int vsm_ndisc_message_parse(VsmReader *r, VsmNdiscMessage *ret) {
        VsmNdiscMessage m = {};
        VsmReader mr = *r;
        uint8_t code;
        uint16_t checksum;

        if (vsm_reader_remaining(&mr) < VSM_NDISC_HLEN)
                return -EBADMSG;
        (void) vsm_reader_u8(&mr, &m.type);
        (void) vsm_reader_u8(&mr, &code);
        (void) vsm_reader_be16(&mr, &checksum);
        (void) vsm_reader_be32(&mr, &m.flags);
        (void) vsm_reader_bytes(&mr, m.target, VSM_IP6_ALEN);

        if (m.type != VSM_NDISC_NS && m.type != VSM_NDISC_NA)
                return -EBADMSG;
        if (code != 0 || vsm_ip6_is_multicast(m.target))
                return -EBADMSG;
        m.flags = m.type == VSM_NDISC_NA ? m.flags & NDISC_FLAGS_MASK : 0;

        for (size_t n = 0; vsm_reader_remaining(&mr) > 0; n++) {
                uint8_t type, units;
                VsmReader body;

                if (n >= VSM_NDISC_OPTIONS_MAX)
                        return -EMSGSIZE;
                if (vsm_reader_u8(&mr, &type) < 0 || vsm_reader_u8(&mr, &units) < 0 || units == 0)
                        return -EBADMSG;
                if (vsm_reader_sub(&mr, (size_t) units * NDISC_OPT_UNIT - 2, &body) < 0)
                        return -EBADMSG;
                if (units != NDISC_OPT_LLA_UNITS)
                        continue;
                if (type == VSM_NDISC_OPT_SOURCE_LLA) {
                        (void) vsm_reader_bytes(&body, m.source_lla, VSM_ETH_ALEN);
                        m.has_source_lla = true;
                } else if (type == VSM_NDISC_OPT_TARGET_LLA) {
                        (void) vsm_reader_bytes(&body, m.target_lla, VSM_ETH_ALEN);
                        m.has_target_lla = true;
                }
        }

        *r = mr;
        *ret = m;
        return 0;
}

int vsm_ndisc_frame_parse(VsmReader *r, VsmNdiscFrame *ret) {
        VsmNdiscFrame f;
        VsmReader fr = *r, payload;
        int k;

        k = vsm_eth_header_parse(&fr, &f.eth);
        if (k < 0)
                return k;
        if (f.eth.ethertype != VSM_ETH_P_IPV6)
                return -EBADMSG;
        k = vsm_ip6_header_parse(&fr, &f.ip, &payload);
        if (k < 0)
                return k;
        if (f.ip.next_header != VSM_IP_PROTO_ICMPV6 || f.ip.hop_limit != VSM_NDISC_HOP_LIMIT)
                return -EBADMSG;
        if (!vsm_icmp6_checksum_ok(f.ip.src, f.ip.dst, vsm_reader_peek(&payload), vsm_reader_remaining(&payload)))
                return -EBADMSG;
        k = vsm_ndisc_message_parse(&payload, &f.msg);
        if (k < 0)
                return k;

        *r = fr;
        *ret = f;
        return 0;
}

static int write_lla(VsmWriter *w, uint8_t type, const uint8_t mac[VSM_ETH_ALEN]) {
        int k;

        if ((k = vsm_writer_u8(w, type)) < 0 ||
            (k = vsm_writer_u8(w, NDISC_OPT_LLA_UNITS)) < 0 ||
            (k = vsm_writer_bytes(w, mac, VSM_ETH_ALEN)) < 0)
                return k;
        return 0;
}

static int message_write(VsmWriter *w, const VsmNdiscMessage *m) {
        int k;

        if (m->type != VSM_NDISC_NS && m->type != VSM_NDISC_NA)
                return -EINVAL;
        if ((k = vsm_writer_u8(w, m->type)) < 0 ||
            (k = vsm_writer_u8(w, 0)) < 0 ||
            (k = vsm_writer_be16(w, 0)) < 0 ||
            (k = vsm_writer_be32(w, m->type == VSM_NDISC_NA ? m->flags & NDISC_FLAGS_MASK : 0)) < 0 ||
            (k = vsm_writer_bytes(w, m->target, VSM_IP6_ALEN)) < 0)
                return k;
        if (m->has_source_lla && (k = write_lla(w, VSM_NDISC_OPT_SOURCE_LLA, m->source_lla)) < 0)
                return k;
        if (m->has_target_lla && (k = write_lla(w, VSM_NDISC_OPT_TARGET_LLA, m->target_lla)) < 0)
                return k;
        return 0;
}

int vsm_ndisc_message_write(VsmWriter *w, const VsmNdiscMessage *m) {
        size_t saved = w->len;
        int k;

        k = message_write(w, m);
        if (k < 0)
                w->len = saved;
        return k;
}

int vsm_ndisc_unsolicited_na_write(VsmWriter *w, const uint8_t mac[VSM_ETH_ALEN], const uint8_t ip[VSM_IP6_ALEN],
                                   bool router) {
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_IPV6 };
        VsmIp6Header ih = {
                .next_header = VSM_IP_PROTO_ICMPV6,
                .hop_limit = VSM_NDISC_HOP_LIMIT,
        };
        VsmNdiscMessage m = {
                .type = VSM_NDISC_NA,
                .flags = VSM_NDISC_NA_OVERRIDE | (router ? VSM_NDISC_NA_ROUTER : 0),
                .has_target_lla = true,
        };
        size_t saved = w->len, ip_off, icmp_off;
        int k;

        memcpy(ih.src, ip, VSM_IP6_ALEN);
        memcpy(ih.dst, vsm_ip6_all_nodes, VSM_IP6_ALEN);
        vsm_ip6_multicast_mac(ih.dst, eh.dst);
        memcpy(eh.src, mac, VSM_ETH_ALEN);
        memcpy(m.target, ip, VSM_IP6_ALEN);
        memcpy(m.target_lla, mac, VSM_ETH_ALEN);

        if ((k = vsm_eth_header_write(w, &eh)) < 0 ||
            (k = vsm_ip6_header_begin(w, &ih, &ip_off)) < 0)
                goto fail;
        icmp_off = w->len;
        if ((k = message_write(w, &m)) < 0 ||
            (k = vsm_ip6_header_finish(w, ip_off)) < 0)
                goto fail;
        vsm_icmp6_checksum_finish(w, ih.src, ih.dst, icmp_off);
        return 0;

fail:
        w->len = saved;
        return k;
}

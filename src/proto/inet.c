/* IPv4, IPv6 and UDP header codecs and the Internet checksum.
 *
 * RFC 791 section 3.1 (IPv4 header and options), RFC 2113 (IPv4 Router
 * Alert option, type 148 length 4), RFC 8200 sections 3, 4 and 8.1 (IPv6
 * header, extension header walk, upper-layer checksums), RFC 2711 (IPv6
 * Router Alert hop-by-hop option, type 5 length 2), RFC 768 (UDP), RFC 1071
 * (Internet checksum), RFC 4291 appendix A (modified EUI-64), RFC 1112
 * section 6.4 and RFC 2464 section 7 (multicast MAC addresses).
 */
#include "proto/inet.h"

#include <errno.h>
#include <string.h>

#define IP4_VERSION 4
#define IP6_VERSION 6
#define IP4_FLAG_MF 0x2000
#define IP4_FRAG_OFFSET_MASK 0x1fff
#define IP4_TTL_DEFAULT 64

#define IP4_OPT_EOL 0
#define IP4_OPT_NOP 1
#define IP4_OPT_RA 148           /* copied flag set, class 0, number 20 */
#define IP4_OPT_RA_LEN 4

#define IP6_OPT_PAD1 0
#define IP6_OPT_PADN 1
#define IP6_OPT_RA 5
#define IP6_OPT_RA_LEN 2

#define LEN16_MAX 0xffff

const uint8_t vsm_ip4_all_hosts[VSM_IP4_ALEN] = { 224, 0, 0, 1 };
const uint8_t vsm_ip4_all_routers[VSM_IP4_ALEN] = { 224, 0, 0, 2 };
const uint8_t vsm_ip4_igmpv3_routers[VSM_IP4_ALEN] = { 224, 0, 0, 22 };
const uint8_t vsm_ip4_broadcast[VSM_IP4_ALEN] = { 255, 255, 255, 255 };
const uint8_t vsm_ip6_all_nodes[VSM_IP6_ALEN] = { 0xff, 0x02, [15] = 0x01 };
const uint8_t vsm_ip6_all_routers[VSM_IP6_ALEN] = { 0xff, 0x02, [15] = 0x02 };
const uint8_t vsm_ip6_mldv2_routers[VSM_IP6_ALEN] = { 0xff, 0x02, [15] = 0x16 };
const uint8_t vsm_eth_addr_broadcast[VSM_ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ---- checksums ---------------------------------------------------- */

uint32_t vsm_inet_sum(uint32_t sum, const uint8_t *data, size_t len) {
        size_t i;

        /* Fold as we go so that any length up to SIZE_MAX cannot overflow
         * the accumulator. */
        for (i = 0; i + 1 < len; i += 2) {
                sum += (uint32_t) data[i] << 8 | data[i + 1];
                sum = (sum & 0xffff) + (sum >> 16);
        }
        if (i < len) {
                sum += (uint32_t) data[i] << 8;
                sum = (sum & 0xffff) + (sum >> 16);
        }
        return sum;
}

uint16_t vsm_inet_fold(uint32_t sum) {
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t) ~sum;
}

uint16_t vsm_inet_checksum(const uint8_t *data, size_t len) {
        return vsm_inet_fold(vsm_inet_sum(0, data, len));
}

uint16_t vsm_ip4_pseudo_checksum(const uint8_t src[VSM_IP4_ALEN], const uint8_t dst[VSM_IP4_ALEN],
                                 uint8_t protocol, const uint8_t *data, size_t len) {
        uint8_t ph[12];
        uint32_t sum;

        memcpy(ph, src, VSM_IP4_ALEN);
        memcpy(ph + 4, dst, VSM_IP4_ALEN);
        ph[8] = 0;
        ph[9] = protocol;
        ph[10] = (uint8_t) (len >> 8);
        ph[11] = (uint8_t) len;
        sum = vsm_inet_sum(0, ph, sizeof(ph));
        return vsm_inet_fold(vsm_inet_sum(sum, data, len));
}

uint16_t vsm_ip6_pseudo_checksum(const uint8_t src[VSM_IP6_ALEN], const uint8_t dst[VSM_IP6_ALEN],
                                 uint8_t next_header, const uint8_t *data, size_t len) {
        uint8_t ph[40];
        uint32_t sum;

        memcpy(ph, src, VSM_IP6_ALEN);
        memcpy(ph + 16, dst, VSM_IP6_ALEN);
        ph[32] = (uint8_t) (len >> 24);
        ph[33] = (uint8_t) (len >> 16);
        ph[34] = (uint8_t) (len >> 8);
        ph[35] = (uint8_t) len;
        ph[36] = ph[37] = ph[38] = 0;
        ph[39] = next_header;
        sum = vsm_inet_sum(0, ph, sizeof(ph));
        return vsm_inet_fold(vsm_inet_sum(sum, data, len));
}

/* ---- addresses ---------------------------------------------------- */

void vsm_ip4_multicast_mac(const uint8_t ip[VSM_IP4_ALEN], uint8_t ret[VSM_ETH_ALEN]) {
        ret[0] = 0x01;
        ret[1] = 0x00;
        ret[2] = 0x5e;
        ret[3] = ip[1] & 0x7f;
        ret[4] = ip[2];
        ret[5] = ip[3];
}

void vsm_ip6_multicast_mac(const uint8_t ip[VSM_IP6_ALEN], uint8_t ret[VSM_ETH_ALEN]) {
        ret[0] = 0x33;
        ret[1] = 0x33;
        memcpy(ret + 2, ip + 12, 4);
}

void vsm_ip6_link_local_from_mac(const uint8_t mac[VSM_ETH_ALEN], uint8_t ret[VSM_IP6_ALEN]) {
        memset(ret, 0, VSM_IP6_ALEN);
        ret[0] = 0xfe;
        ret[1] = 0x80;
        ret[8] = mac[0] ^ 0x02;         /* universal/local bit inverted */
        ret[9] = mac[1];
        ret[10] = mac[2];
        ret[11] = 0xff;
        ret[12] = 0xfe;
        ret[13] = mac[3];
        ret[14] = mac[4];
        ret[15] = mac[5];
}

bool vsm_ip4_is_multicast(const uint8_t ip[VSM_IP4_ALEN]) {
        return (ip[0] & 0xf0) == 0xe0;
}

bool vsm_ip6_is_multicast(const uint8_t ip[VSM_IP6_ALEN]) {
        return ip[0] == 0xff;
}

bool vsm_ip4_is_link_local_group(const uint8_t ip[VSM_IP4_ALEN]) {
        return ip[0] == 224 && ip[1] == 0 && ip[2] == 0;
}

bool vsm_ip6_is_link_local_group(const uint8_t ip[VSM_IP6_ALEN]) {
        return ip[0] == 0xff && ip[1] == 0x02;
}

/* ---- IPv4 --------------------------------------------------------- */

/* Walk the IPv4 options in o (the header past its 20 fixed octets). */
static int ip4_options_parse(VsmReader *o, bool *ret_router_alert) {
        bool ra = false;

        for (size_t n = 0; vsm_reader_remaining(o) > 0; n++) {
                uint8_t type, len;
                VsmReader body;

                if (n >= VSM_IP_OPTIONS_MAX)
                        return -EBADMSG;
                (void) vsm_reader_u8(o, &type);
                if (type == IP4_OPT_EOL)
                        break;
                if (type == IP4_OPT_NOP)
                        continue;
                if (vsm_reader_u8(o, &len) < 0 || len < 2)
                        return -EBADMSG;
                if (vsm_reader_sub(o, len - 2u, &body) < 0)
                        return -EBADMSG;
                if (type == IP4_OPT_RA) {
                        if (len != IP4_OPT_RA_LEN)
                                return -EBADMSG;
                        ra = true;
                }
        }

        *ret_router_alert = ra;
        return 0;
}

int vsm_ip4_header_parse(VsmReader *r, VsmIp4Header *ret, VsmReader *ret_payload) {
        VsmIp4Header h = {};
        VsmReader hr, opts, payload;
        const uint8_t *start = vsm_reader_peek(r);
        size_t avail = vsm_reader_remaining(r);
        uint8_t vihl;
        uint16_t checksum;
        int k;

        if (avail < VSM_IP4_HLEN)
                return -EBADMSG;
        vihl = start[0];
        if (vihl >> 4 != IP4_VERSION)
                return -EBADMSG;
        h.hlen = (uint8_t) ((vihl & 0x0f) * 4);
        if (h.hlen < VSM_IP4_HLEN || h.hlen > avail)
                return -EBADMSG;
        if (vsm_inet_checksum(start, h.hlen) != 0)
                return -EBADMSG;

        /* Work on a copy so that r moves only on success. */
        hr = *r;
        (void) vsm_reader_skip(&hr, 1);
        (void) vsm_reader_u8(&hr, &h.tos);
        (void) vsm_reader_be16(&hr, &h.total_len);
        (void) vsm_reader_be16(&hr, &h.id);
        (void) vsm_reader_be16(&hr, &h.frag);
        (void) vsm_reader_u8(&hr, &h.ttl);
        (void) vsm_reader_u8(&hr, &h.protocol);
        (void) vsm_reader_be16(&hr, &checksum);
        (void) vsm_reader_bytes(&hr, h.src, VSM_IP4_ALEN);
        (void) vsm_reader_bytes(&hr, h.dst, VSM_IP4_ALEN);

        if (h.total_len < h.hlen || h.total_len > avail)
                return -EBADMSG;
        if ((h.frag & IP4_FLAG_MF) || (h.frag & IP4_FRAG_OFFSET_MASK))
                return -EBADMSG;

        (void) vsm_reader_sub(&hr, h.hlen - VSM_IP4_HLEN, &opts);
        k = ip4_options_parse(&opts, &h.router_alert);
        if (k < 0)
                return k;
        (void) vsm_reader_sub(&hr, h.total_len - h.hlen, &payload);

        *r = hr;
        *ret = h;
        *ret_payload = payload;
        return 0;
}

int vsm_ip4_header_begin(VsmWriter *w, const VsmIp4Header *h, size_t *ret_off) {
        size_t hlen = h->router_alert ? VSM_IP4_RA_HLEN : VSM_IP4_HLEN;
        size_t off = w->len;

        if (hlen > w->cap - w->len)
                return -ENOBUFS;

        (void) vsm_writer_u8(w, (uint8_t) (IP4_VERSION << 4 | hlen / 4));
        (void) vsm_writer_u8(w, h->tos);
        (void) vsm_writer_be16(w, 0);                   /* total length: finish */
        (void) vsm_writer_be16(w, h->id);
        (void) vsm_writer_be16(w, h->frag);
        (void) vsm_writer_u8(w, h->ttl);
        (void) vsm_writer_u8(w, h->protocol);
        (void) vsm_writer_be16(w, 0);                   /* checksum: finish */
        (void) vsm_writer_bytes(w, h->src, VSM_IP4_ALEN);
        (void) vsm_writer_bytes(w, h->dst, VSM_IP4_ALEN);
        if (h->router_alert) {
                (void) vsm_writer_u8(w, IP4_OPT_RA);
                (void) vsm_writer_u8(w, IP4_OPT_RA_LEN);
                (void) vsm_writer_be16(w, 0);           /* "examine packet" */
        }

        *ret_off = off;
        return 0;
}

int vsm_ip4_header_finish(VsmWriter *w, size_t off) {
        size_t total = w->len - off;
        size_t hlen = (size_t) (w->data[off] & 0x0f) * 4;

        if (total > LEN16_MAX)
                return -EMSGSIZE;
        vsm_writer_patch_be16(w, off + 2, (uint16_t) total);
        vsm_writer_patch_be16(w, off + 10, 0);
        vsm_writer_patch_be16(w, off + 10, vsm_inet_checksum(w->data + off, hlen));
        return 0;
}

/* ---- IPv6 --------------------------------------------------------- */

/* Walk the options of a hop-by-hop or destination options header body. */
static int ip6_options_parse(VsmReader *o, bool hop_by_hop, VsmIp6Header *h) {
        for (size_t n = 0; vsm_reader_remaining(o) > 0; n++) {
                uint8_t type, len;
                VsmReader body;

                if (n >= VSM_IP_OPTIONS_MAX)
                        return -EMSGSIZE;
                (void) vsm_reader_u8(o, &type);
                if (type == IP6_OPT_PAD1)
                        continue;
                if (vsm_reader_u8(o, &len) < 0)
                        return -EBADMSG;
                if (vsm_reader_sub(o, len, &body) < 0)
                        return -EBADMSG;
                if (type == IP6_OPT_RA && hop_by_hop) {
                        if (len != IP6_OPT_RA_LEN)
                                return -EBADMSG;
                        h->router_alert = true;
                        (void) vsm_reader_be16(&body, &h->router_alert_value);
                }
                /* Other options, PadN included, are skipped by length: their
                 * action bits matter to forwarding nodes, not to us. */
        }
        return 0;
}

int vsm_ip6_header_parse(VsmReader *r, VsmIp6Header *ret, VsmReader *ret_payload) {
        VsmIp6Header h = {};
        VsmReader hr = *r, payload;
        uint32_t vtf;
        uint8_t nh;
        int k;

        if (vsm_reader_remaining(&hr) < VSM_IP6_HLEN)
                return -EBADMSG;
        (void) vsm_reader_be32(&hr, &vtf);
        if (vtf >> 28 != IP6_VERSION)
                return -EBADMSG;
        h.tclass = (uint8_t) (vtf >> 20);
        h.flow = vtf & 0xfffff;
        (void) vsm_reader_be16(&hr, &h.payload_len);
        (void) vsm_reader_u8(&hr, &nh);
        (void) vsm_reader_u8(&hr, &h.hop_limit);
        (void) vsm_reader_bytes(&hr, h.src, VSM_IP6_ALEN);
        (void) vsm_reader_bytes(&hr, h.dst, VSM_IP6_ALEN);

        /* A payload length of 0 with a Jumbo option cannot fit in an
         * Ethernet frame; it reads as an empty payload. */
        if (vsm_reader_sub(&hr, h.payload_len, &payload) < 0)
                return -EBADMSG;

        for (;;) {
                uint8_t next, hdrlen;
                VsmReader body;
                size_t len;

                if (nh != VSM_IP_PROTO_HOPOPTS && nh != VSM_IP_PROTO_ROUTING &&
                    nh != VSM_IP_PROTO_DSTOPTS && nh != VSM_IP_PROTO_FRAGMENT)
                        break;                  /* upper layer (or no next header) */
                if (nh == VSM_IP_PROTO_FRAGMENT)
                        return -EBADMSG;        /* nothing here reassembles */
                if (nh == VSM_IP_PROTO_HOPOPTS && h.n_ext > 0)
                        return -EBADMSG;        /* hop-by-hop only first */
                if (h.n_ext >= VSM_IP6_EXT_MAX)
                        return -EMSGSIZE;

                if (vsm_reader_u8(&payload, &next) < 0 || vsm_reader_u8(&payload, &hdrlen) < 0)
                        return -EBADMSG;
                len = ((size_t) hdrlen + 1) * 8 - 2;
                if (vsm_reader_sub(&payload, len, &body) < 0)
                        return -EBADMSG;
                if (nh != VSM_IP_PROTO_ROUTING) {
                        k = ip6_options_parse(&body, nh == VSM_IP_PROTO_HOPOPTS, &h);
                        if (k < 0)
                                return k;
                }
                h.n_ext++;
                nh = next;
        }
        h.next_header = nh;

        /* The upper-layer data is what the extension headers left. */
        (void) vsm_reader_sub(&payload, vsm_reader_remaining(&payload), ret_payload);
        *r = hr;
        *ret = h;
        return 0;
}

int vsm_ip6_header_begin(VsmWriter *w, const VsmIp6Header *h, size_t *ret_off) {
        size_t len = VSM_IP6_HLEN + (h->router_alert ? VSM_IP6_HBH_RA_LEN : 0);
        size_t off = w->len;

        if (len > w->cap - w->len)
                return -ENOBUFS;

        (void) vsm_writer_be32(w, (uint32_t) IP6_VERSION << 28 | (uint32_t) h->tclass << 20 | (h->flow & 0xfffff));
        (void) vsm_writer_be16(w, 0);                   /* payload length: finish */
        (void) vsm_writer_u8(w, h->router_alert ? VSM_IP_PROTO_HOPOPTS : h->next_header);
        (void) vsm_writer_u8(w, h->hop_limit);
        (void) vsm_writer_bytes(w, h->src, VSM_IP6_ALEN);
        (void) vsm_writer_bytes(w, h->dst, VSM_IP6_ALEN);
        if (h->router_alert) {
                (void) vsm_writer_u8(w, h->next_header);
                (void) vsm_writer_u8(w, 0);             /* (0 + 1) * 8 octets */
                (void) vsm_writer_u8(w, IP6_OPT_RA);
                (void) vsm_writer_u8(w, IP6_OPT_RA_LEN);
                (void) vsm_writer_be16(w, h->router_alert_value);
                (void) vsm_writer_u8(w, IP6_OPT_PADN);
                (void) vsm_writer_u8(w, 0);
        }

        *ret_off = off;
        return 0;
}

int vsm_ip6_header_finish(VsmWriter *w, size_t off) {
        size_t len = w->len - off - VSM_IP6_HLEN;

        if (len > LEN16_MAX)
                return -EMSGSIZE;
        vsm_writer_patch_be16(w, off + 4, (uint16_t) len);
        return 0;
}

/* ---- UDP ---------------------------------------------------------- */

int vsm_udp_header_parse(VsmReader *r, VsmUdpHeader *ret, VsmReader *ret_payload) {
        VsmUdpHeader u;
        VsmReader hr = *r, payload;

        if (vsm_reader_remaining(&hr) < VSM_UDP_HLEN)
                return -EBADMSG;
        (void) vsm_reader_be16(&hr, &u.sport);
        (void) vsm_reader_be16(&hr, &u.dport);
        (void) vsm_reader_be16(&hr, &u.len);
        (void) vsm_reader_be16(&hr, &u.checksum);
        if (u.len < VSM_UDP_HLEN)
                return -EBADMSG;
        if (vsm_reader_sub(&hr, u.len - VSM_UDP_HLEN, &payload) < 0)
                return -EBADMSG;

        *r = hr;
        *ret = u;
        *ret_payload = payload;
        return 0;
}

int vsm_udp_header_begin(VsmWriter *w, uint16_t sport, uint16_t dport, size_t *ret_off) {
        size_t off = w->len;

        if (VSM_UDP_HLEN > w->cap - w->len)
                return -ENOBUFS;
        (void) vsm_writer_be16(w, sport);
        (void) vsm_writer_be16(w, dport);
        (void) vsm_writer_be16(w, 0);
        (void) vsm_writer_be16(w, 0);
        *ret_off = off;
        return 0;
}

int vsm_udp4_header_finish(VsmWriter *w, const uint8_t src[VSM_IP4_ALEN], const uint8_t dst[VSM_IP4_ALEN],
                           size_t off) {
        size_t len = w->len - off;
        uint16_t sum;

        if (len > LEN16_MAX)
                return -EMSGSIZE;
        vsm_writer_patch_be16(w, off + 4, (uint16_t) len);
        vsm_writer_patch_be16(w, off + 6, 0);
        sum = vsm_ip4_pseudo_checksum(src, dst, VSM_IP_PROTO_UDP, w->data + off, len);
        /* RFC 768: a computed zero is sent as all ones. */
        vsm_writer_patch_be16(w, off + 6, sum == 0 ? 0xffff : sum);
        return 0;
}

/* ---- ICMPv6 ------------------------------------------------------- */

void vsm_icmp6_checksum_finish(VsmWriter *w, const uint8_t src[VSM_IP6_ALEN], const uint8_t dst[VSM_IP6_ALEN],
                               size_t off) {
        vsm_writer_patch_be16(w, off + 2, 0);
        vsm_writer_patch_be16(w, off + 2,
                              vsm_ip6_pseudo_checksum(src, dst, VSM_IP_PROTO_ICMPV6, w->data + off, w->len - off));
}

bool vsm_icmp6_checksum_ok(const uint8_t src[VSM_IP6_ALEN], const uint8_t dst[VSM_IP6_ALEN],
                           const uint8_t *data, size_t len) {
        return vsm_ip6_pseudo_checksum(src, dst, VSM_IP_PROTO_ICMPV6, data, len) == 0;
}

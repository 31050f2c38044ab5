/* IPv4, IPv6 and UDP header codecs and the Internet checksum.
 *
 * RFC 791 (IPv4 header, options), RFC 2113 (IPv4 Router Alert), RFC 8200
 * (IPv6 header and extension headers), RFC 2711 (IPv6 Router Alert),
 * RFC 768 (UDP), RFC 1071 (Internet checksum), RFC 4291 section 2.5.6 and
 * appendix A (link-local addresses from a MAC via modified EUI-64), RFC 1112
 * section 6.4 and RFC 2464 section 7 (IPv4/IPv6 multicast MAC mapping).
 *
 * Addresses are kept as octet arrays in network order, never as host
 * integers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/eth.h"

#define VSM_ETH_P_IPV4 0x0800
#define VSM_ETH_P_ARP  0x0806
#define VSM_ETH_P_IPV6 0x86dd

#define VSM_IP_PROTO_HOPOPTS  0
#define VSM_IP_PROTO_ICMP     1
#define VSM_IP_PROTO_IGMP     2
#define VSM_IP_PROTO_TCP      6
#define VSM_IP_PROTO_UDP      17
#define VSM_IP_PROTO_ROUTING  43
#define VSM_IP_PROTO_FRAGMENT 44
#define VSM_IP_PROTO_ICMPV6   58
#define VSM_IP_PROTO_NONE     59
#define VSM_IP_PROTO_DSTOPTS  60

#define VSM_IP4_ALEN 4
#define VSM_IP6_ALEN 16
#define VSM_IP4_HLEN 20              /* without options */
#define VSM_IP4_HLEN_MAX 60
#define VSM_IP4_RA_HLEN 24           /* with the Router Alert option */
#define VSM_IP6_HLEN 40
#define VSM_IP6_HBH_RA_LEN 8         /* hop-by-hop header carrying only Router Alert */
#define VSM_IP6_EXT_MAX 8            /* hard cap on extension headers walked */
#define VSM_IP_OPTIONS_MAX 40        /* hard cap on options walked per header */
#define VSM_UDP_HLEN 8
#define VSM_ICMP6_HLEN 4             /* type, code, checksum */

/* RFC 2711 Router Alert values. */
#define VSM_IP6_RA_MLD 0

typedef struct VsmIp4Header {
        uint8_t hlen;                /* header length in octets, 20..60 */
        uint8_t tos;
        uint16_t total_len;
        uint16_t id;
        uint16_t frag;               /* flags (3 bits) and fragment offset */
        uint8_t ttl;
        uint8_t protocol;
        uint8_t src[VSM_IP4_ALEN];
        uint8_t dst[VSM_IP4_ALEN];
        bool router_alert;           /* RFC 2113 option present (value 0) */
} VsmIp4Header;

typedef struct VsmIp6Header {
        uint8_t tclass;
        uint32_t flow;               /* 20 bits */
        uint16_t payload_len;        /* from the fixed header */
        uint8_t next_header;         /* parse: the upper-layer protocol after
                                      * the extension headers */
        uint8_t hop_limit;
        uint8_t src[VSM_IP6_ALEN];
        uint8_t dst[VSM_IP6_ALEN];
        uint8_t n_ext;               /* extension headers walked */
        bool router_alert;           /* hop-by-hop Router Alert present */
        uint16_t router_alert_value; /* its value (0 = MLD) */
} VsmIp6Header;

typedef struct VsmUdpHeader {
        uint16_t sport;
        uint16_t dport;
        uint16_t len;                /* header + data */
        uint16_t checksum;
} VsmUdpHeader;

/* Parse an IPv4 header at r.  Checks version 4, IHL >= 5, the header and
 * total length against what r holds, the header checksum, and walks the
 * options (EOL, NOP, and type/length options each inside the header;
 * Router Alert must have length 4).  Fragments (MF set or a non-zero
 * offset) are rejected: nothing here reassembles.  On success *ret_payload
 * covers the payload (total length minus header) and r is advanced past it,
 * so Ethernet padding stays unread.  -EBADMSG on any malformation. */
int vsm_ip4_header_parse(VsmReader *r, VsmIp4Header *ret, VsmReader *ret_payload);

/* Start an IPv4 header: writes it with total length and checksum zero and,
 * if h->router_alert, the 4-octet Router Alert option (IHL 6).  h->hlen,
 * total_len are ignored.  *ret_off is where the header starts; finish it
 * with vsm_ip4_header_finish() once the payload is written. */
int vsm_ip4_header_begin(VsmWriter *w, const VsmIp4Header *h, size_t *ret_off);
/* Patch total length (everything written since off) and the header
 * checksum of the header begun at off.  -EMSGSIZE if over 65535. */
int vsm_ip4_header_finish(VsmWriter *w, size_t off);

/* Parse an IPv6 header at r and walk its extension headers (hop-by-hop,
 * routing, destination options; at most VSM_IP6_EXT_MAX).  Hop-by-hop must
 * come first; its options are walked (Pad1, PadN, Router Alert of length
 * 2, others skipped by length).  Fragment headers are rejected.  On
 * success ret->next_header is the upper-layer protocol, *ret_payload covers
 * the upper-layer data and r is advanced past the payload.  -EBADMSG on any
 * malformation (including a payload length past the frame), -EMSGSIZE for
 * more extension headers or options than the caps. */
int vsm_ip6_header_parse(VsmReader *r, VsmIp6Header *ret, VsmReader *ret_payload);

/* Start an IPv6 header with payload length zero; with h->router_alert an
 * 8-octet hop-by-hop header carrying Router Alert (h->router_alert_value)
 * and PadN follows, and h->next_header goes into it.  Finish with
 * vsm_ip6_header_finish(). */
int vsm_ip6_header_begin(VsmWriter *w, const VsmIp6Header *h, size_t *ret_off);
/* Patch the payload length of the header begun at off.  -EMSGSIZE if over
 * 65535. */
int vsm_ip6_header_finish(VsmWriter *w, size_t off);

/* Parse a UDP header; the length field must be >= 8 and fit in r.
 * *ret_payload covers the data, r is advanced past it.  -EBADMSG. */
int vsm_udp_header_parse(VsmReader *r, VsmUdpHeader *ret, VsmReader *ret_payload);
/* Start a UDP header (length and checksum zero); *ret_off for finish. */
int vsm_udp_header_begin(VsmWriter *w, uint16_t sport, uint16_t dport, size_t *ret_off);
/* Patch length and the IPv4 pseudo-header checksum (0 becomes 0xffff) of
 * the UDP header begun at off.  -EMSGSIZE if over 65535. */
int vsm_udp4_header_finish(VsmWriter *w, const uint8_t src[VSM_IP4_ALEN], const uint8_t dst[VSM_IP4_ALEN],
                           size_t off);

/* Patch the checksum of the ICMPv6 message written from off to the end of
 * w (RFC 4443 section 2.3, over the IPv6 pseudo header). */
void vsm_icmp6_checksum_finish(VsmWriter *w, const uint8_t src[VSM_IP6_ALEN], const uint8_t dst[VSM_IP6_ALEN],
                               size_t off);
/* True if the ICMPv6 message data[0..len) carries a correct checksum for
 * src and dst. */
bool vsm_icmp6_checksum_ok(const uint8_t src[VSM_IP6_ALEN], const uint8_t dst[VSM_IP6_ALEN],
                           const uint8_t *data, size_t len);

/* One's-complement sum of data (RFC 1071), added to sum, not folded.  An
 * odd length is padded with a zero octet. */
uint32_t vsm_inet_sum(uint32_t sum, const uint8_t *data, size_t len);
/* Fold a sum and complement it: the checksum field value.  Over a region
 * that already holds a correct checksum this is 0. */
uint16_t vsm_inet_fold(uint32_t sum);
/* Internet checksum of data (RFC 1071). */
uint16_t vsm_inet_checksum(const uint8_t *data, size_t len);
/* Checksum over the IPv4 pseudo header (src, dst, protocol, len) and data. */
uint16_t vsm_ip4_pseudo_checksum(const uint8_t src[VSM_IP4_ALEN], const uint8_t dst[VSM_IP4_ALEN],
                                 uint8_t protocol, const uint8_t *data, size_t len);
/* Checksum over the IPv6 pseudo header (RFC 8200 section 8.1: src, dst,
 * upper-layer length, next header) and data. */
uint16_t vsm_ip6_pseudo_checksum(const uint8_t src[VSM_IP6_ALEN], const uint8_t dst[VSM_IP6_ALEN],
                                 uint8_t next_header, const uint8_t *data, size_t len);

/* 01:00:5e + low 23 bits of an IPv4 multicast address. */
void vsm_ip4_multicast_mac(const uint8_t ip[VSM_IP4_ALEN], uint8_t ret[VSM_ETH_ALEN]);
/* 33:33 + low 32 bits of an IPv6 multicast address. */
void vsm_ip6_multicast_mac(const uint8_t ip[VSM_IP6_ALEN], uint8_t ret[VSM_ETH_ALEN]);
/* fe80::/64 with the modified EUI-64 interface identifier of mac. */
void vsm_ip6_link_local_from_mac(const uint8_t mac[VSM_ETH_ALEN], uint8_t ret[VSM_IP6_ALEN]);
/* 224.0.0.0/4 */
bool vsm_ip4_is_multicast(const uint8_t ip[VSM_IP4_ALEN]);
/* ff00::/8 */
bool vsm_ip6_is_multicast(const uint8_t ip[VSM_IP6_ALEN]);
/* 224.0.0.0/24, the local network control block (RFC 5771): hosts never
 * report these groups and switches flood them. */
bool vsm_ip4_is_link_local_group(const uint8_t ip[VSM_IP4_ALEN]);
/* ff02::/16, the link-local scope (RFC 4291 2.7) as DESIGN.md section 4
 * draws the line: never learned, reported or replayed. */
bool vsm_ip6_is_link_local_group(const uint8_t ip[VSM_IP6_ALEN]);

/* Well-known groups. */
extern const uint8_t vsm_ip4_all_hosts[VSM_IP4_ALEN];        /* 224.0.0.1 */
extern const uint8_t vsm_ip4_all_routers[VSM_IP4_ALEN];      /* 224.0.0.2 */
extern const uint8_t vsm_ip4_igmpv3_routers[VSM_IP4_ALEN];   /* 224.0.0.22 */
extern const uint8_t vsm_ip4_broadcast[VSM_IP4_ALEN];        /* 255.255.255.255 */
extern const uint8_t vsm_ip6_all_nodes[VSM_IP6_ALEN];        /* ff02::1 */
extern const uint8_t vsm_ip6_all_routers[VSM_IP6_ALEN];      /* ff02::2 */
extern const uint8_t vsm_ip6_mldv2_routers[VSM_IP6_ALEN];    /* ff02::16 */
extern const uint8_t vsm_eth_addr_broadcast[VSM_ETH_ALEN];   /* ff:ff:ff:ff:ff:ff */

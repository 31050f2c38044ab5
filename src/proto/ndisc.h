/* Neighbor Discovery codec for Neighbor Solicitation and Neighbor
 * Advertisement: RFC 4861 sections 4.3, 4.4 (formats), 4.6.1 (link-layer
 * address options), 7.1.1 and 7.1.2 (validation), 7.2.6 (unsolicited
 * Neighbor Advertisement after a move); RFC 2464 section 8 (Ethernet
 * link-layer address option, length 1).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/eth.h"
#include "proto/inet.h"

#define VSM_NDISC_HLEN 24            /* type .. target address */
#define VSM_NDISC_OPTIONS_MAX 16     /* hard cap on options walked */
#define VSM_NDISC_HOP_LIMIT 255

#define VSM_NDISC_NA_ROUTER    0x80000000u
#define VSM_NDISC_NA_SOLICITED 0x40000000u
#define VSM_NDISC_NA_OVERRIDE  0x20000000u

typedef enum VsmNdiscType {
        VSM_NDISC_RS = 133,          /* types 133-137 are Neighbor Discovery; */
        VSM_NDISC_RA = 134,          /* only NS and NA have a codec here */
        VSM_NDISC_NS = 135,
        VSM_NDISC_NA = 136,
        VSM_NDISC_REDIRECT = 137,
} VsmNdiscType;

typedef enum VsmNdiscOption {
        VSM_NDISC_OPT_SOURCE_LLA = 1,
        VSM_NDISC_OPT_TARGET_LLA = 2,
} VsmNdiscOption;

typedef struct VsmNdiscMessage {
        uint8_t type;                /* VsmNdiscType */
        uint32_t flags;              /* NA: R, S, O bits (VSM_NDISC_NA_*); NS: 0 */
        uint8_t target[VSM_IP6_ALEN];
        bool has_source_lla;
        uint8_t source_lla[VSM_ETH_ALEN];
        bool has_target_lla;
        uint8_t target_lla[VSM_ETH_ALEN];
} VsmNdiscMessage;

typedef struct VsmNdiscFrame {
        VsmEthHeader eth;
        VsmIp6Header ip;
        VsmNdiscMessage msg;
} VsmNdiscFrame;

/* Decode an NS or NA (the ICMPv6 message), without the checksum: code 0,
 * 24 octets, target not multicast, then options each of non-zero length
 * inside the message (at most VSM_NDISC_OPTIONS_MAX, else -EMSGSIZE).
 * Link-layer address options of length 1 (Ethernet) are kept; others are
 * skipped.  Flags reserved bits are masked off.  -EBADMSG otherwise. */
int vsm_ndisc_message_parse(VsmReader *r, VsmNdiscMessage *ret);
/* Decode an Ethernet + IPv6 frame carrying NS or NA: hop limit must be 255
 * and the ICMPv6 checksum correct (RFC 4861 7.1); -EBADMSG otherwise. */
int vsm_ndisc_frame_parse(VsmReader *r, VsmNdiscFrame *ret);
/* Encode m with checksum zero, then its link-layer address options (source
 * before target).  -EINVAL for a type other than NS/NA. */
int vsm_ndisc_message_write(VsmWriter *w, const VsmNdiscMessage *m);
/* Build an unsolicited NA (RFC 4861 7.2.6) for one of the VM's addresses:
 * Ethernet mac -> 33:33:00:00:00:01, IPv6 ip -> ff02::1 hop limit 255,
 * flags Override (Router if router), target ip, target link-layer address
 * option mac, checksum. */
int vsm_ndisc_unsolicited_na_write(VsmWriter *w, const uint8_t mac[VSM_ETH_ALEN], const uint8_t ip[VSM_IP6_ALEN],
                                   bool router);

/* Ethernet II header codec (IEEE 802.3 clause 3) and MAC helpers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "proto/buf.h"

#define VSM_ETH_ALEN 6
#define VSM_ETH_HLEN 14
#define VSM_ETH_ZLEN 60          /* minimum frame without FCS; short frames are padded */
#define VSM_ETH_FRAME_MAX 1518   /* hard cap for any frame we build or accept */

#define VSM_ETH_P_8021Q 0x8100   /* IEEE 802.1Q C-tag TPID */
#define VSM_ETH_VLAN_HLEN 4
#define VSM_ETH_VLAN_FRAME_MAX (VSM_ETH_FRAME_MAX + VSM_ETH_VLAN_HLEN)
#define VSM_ETH_P_ECP  0x8940    /* IEEE 802.1Qbg-2012 ECP (lldpad's man page says 0x8890: wrong) */
#define VSM_ETH_P_LLDP 0x88cc

/* 01:80:c2:00:00:00, nearest customer bridge / nearest bridge group address. */
extern const uint8_t vsm_eth_addr_nearest_bridge[VSM_ETH_ALEN];
/* 01:80:c2:00:00:0e, nearest bridge (LLDP). */
extern const uint8_t vsm_eth_addr_lldp_multicast[VSM_ETH_ALEN];

typedef struct VsmEthHeader {
        uint8_t dst[VSM_ETH_ALEN];
        uint8_t src[VSM_ETH_ALEN];
        uint16_t ethertype;
} VsmEthHeader;

int vsm_eth_header_parse(VsmReader *r, VsmEthHeader *ret);
int vsm_eth_header_write(VsmWriter *w, const VsmEthHeader *h);
/* Write frame with an IEEE 802.1Q-2018 C-tag (9.6: TPID 0x8100, then TCI =
 * PCP (3 bits), DEI 0, VID (12 bits)) after its source MAC.  0, -EBADMSG
 * (frame shorter than VSM_ETH_HLEN or longer than VSM_ETH_FRAME_MAX),
 * -EINVAL (vid outside 1-4094, pcp above 7), -ENOBUFS. */
int vsm_eth_vlan_tag_write(VsmWriter *w, const uint8_t *frame, size_t len, uint16_t vid, uint8_t pcp);

/* Pad a finished frame with zeros up to VSM_ETH_ZLEN. */
int vsm_eth_pad(VsmWriter *w);

/* "aa:bb:cc:dd:ee:ff" (case-insensitive, ':' or '-' separators) -> 0 or -EINVAL. */
int vsm_mac_parse(const char *s, uint8_t ret[VSM_ETH_ALEN]);
/* Writes "aa:bb:cc:dd:ee:ff" + NUL into buf (at least 18 octets). */
char *vsm_mac_format(const uint8_t mac[VSM_ETH_ALEN], char buf[18]);

/* RFC 4122 text form <-> 16 octets. 0 or -EINVAL. */
int vsm_uuid_parse(const char *s, uint8_t ret[16]);
/* Writes the 36-char lowercase form + NUL (buf of at least 37). */
char *vsm_uuid_format(const uint8_t uuid[16], char buf[37]);

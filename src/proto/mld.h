/* MLD codec: RFC 2710 section 3 (MLDv1 query 130, report 131, done 132),
 * RFC 3810 section 5 (MLDv2 query, report 143 with multicast address
 * records), 8.1 (query version by length).  Frames are built with hop
 * limit 1 and the hop-by-hop Router Alert option, value 0 (RFC 2711), from
 * a link-local source (RFC 3810 section 5), as DESIGN.md section 4
 * requires.  Record types are shared with IGMPv3 (proto/igmp.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/eth.h"
#include "proto/igmp.h"
#include "proto/inet.h"

#define VSM_MLD_V1_LEN 24            /* v1 messages, v2 query without its tail */
#define VSM_MLD_V2_QUERY_HLEN 28
#define VSM_MLD_V2_REPORT_HLEN 8
#define VSM_MLD_RECORD_HLEN 20
#define VSM_MLD_RECORDS_MAX 64       /* hard cap on records per report */
#define VSM_MLD_RECORD_SOURCES_MAX 64 /* hard cap on sources per record or query */
#define VSM_MLD_SOURCES_MAX 256      /* hard cap on sources per message (a
                                      * 1500-octet report holds at most 89) */

typedef enum VsmMldType {
        VSM_MLD_QUERY = 130,
        VSM_MLD_V1_REPORT = 131,
        VSM_MLD_V1_DONE = 132,
        VSM_MLD_V2_REPORT = 143,
} VsmMldType;

/* A v2 multicast address record; its sources are
 * msg->sources[first_source .. first_source + n_sources). */
typedef struct VsmMldRecord {
        uint8_t type;                /* VsmMcastRecordType */
        uint8_t group[VSM_IP6_ALEN];
        uint16_t n_sources;
        uint16_t first_source;
} VsmMldRecord;

typedef struct VsmMldMessage {
        uint8_t type;                /* VsmMldType */
        uint8_t version;             /* 1 or 2 */
        uint16_t max_resp_code;      /* queries (v1: max response delay, ms) */
        uint8_t group[VSM_IP6_ALEN]; /* queries, v1 report, done */
        /* v2 query */
        bool suppress;
        uint8_t qrv;
        uint8_t qqic;
        /* v2 report */
        uint16_t n_records;
        VsmMldRecord records[VSM_MLD_RECORDS_MAX];
        /* v2 query: its sources; v2 report: the pool the records index */
        uint16_t n_sources;
        uint8_t sources[VSM_MLD_SOURCES_MAX][VSM_IP6_ALEN];
} VsmMldMessage;

typedef struct VsmMldFrame {
        VsmEthHeader eth;
        VsmIp6Header ip;             /* hop limit, router alert as received */
        VsmMldMessage msg;
} VsmMldFrame;

/* Decode an MLD message (the ICMPv6 message), without checking its
 * checksum.  Queries of 24 octets are v1, of 28 or more v2, others
 * -EBADMSG (RFC 3810 8.1).  Reports and done need 24 octets.  v2 reports:
 * records of types 1-6, others skipped; aux data skipped.  Trailing octets
 * are ignored.  -EBADMSG on truncation or a non-MLD ICMPv6 type; -EMSGSIZE
 * over the caps. */
int vsm_mld_message_parse(VsmReader *r, VsmMldMessage *ret);

/* Decode an Ethernet + IPv6 (+ extension headers) frame carrying MLD and
 * verify the ICMPv6 checksum (-EBADMSG if wrong).  Hop limit and Router
 * Alert are reported in ret->ip, not enforced. */
int vsm_mld_frame_parse(VsmReader *r, VsmMldFrame *ret);

/* Encode m by type (queries by version), without the checksum, which
 * needs the IPv6 addresses: vsm_mld_frame_write() fills it.  -EINVAL for
 * an unknown type or sources outside the pool, -EMSGSIZE over the caps,
 * -ENOBUFS when full. */
int vsm_mld_message_write(VsmWriter *w, const VsmMldMessage *m);

/* ff02::16 for v2 reports, the group for v1 reports and specific queries,
 * ff02::2 for done, ff02::1 for general queries. */
void vsm_mld_destination(const VsmMldMessage *m, uint8_t ret[VSM_IP6_ALEN]);

/* Build a full frame: Ethernet from src_mac to 33:33 + the destination's
 * low 32 bits; IPv6 from src_ip (NULL: the link-local address derived
 * from src_mac), hop limit 1, hop-by-hop Router Alert 0; m with its
 * ICMPv6 checksum. */
int vsm_mld_frame_write(VsmWriter *w, const uint8_t src_mac[VSM_ETH_ALEN], const uint8_t *src_ip,
                        const VsmMldMessage *m);

/* RFC 3810 5.1.3: Maximum Response Code as milliseconds. */
uint32_t vsm_mld_code_to_value(uint16_t code);

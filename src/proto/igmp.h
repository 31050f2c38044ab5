/* IGMP codec: RFC 1112 appendix I (v1), RFC 2236 section 2 (v2), RFC 3376
 * section 4 (v3 queries and reports), section 7.1 (query version by
 * length).  Frames are built with IP TTL 1 and Router Alert (RFC 2236
 * section 2, RFC 3376 section 4) as DESIGN.md section 4 requires.
 *
 * Also the group record types shared with MLDv2 (RFC 3810 section 5.2.12).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/eth.h"
#include "proto/inet.h"

#define VSM_IGMP_HLEN 8              /* v1/v2 message, v3 report header */
#define VSM_IGMP_V3_QUERY_HLEN 12
#define VSM_IGMP_RECORD_HLEN 8
#define VSM_IGMP_RECORDS_MAX 64      /* hard cap on group records per report */
#define VSM_IGMP_RECORD_SOURCES_MAX 64 /* hard cap on sources per record or query */
#define VSM_IGMP_SOURCES_MAX 512     /* hard cap on sources per message (a
                                      * 1500-octet report holds at most 367) */

typedef enum VsmIgmpType {
        VSM_IGMP_QUERY = 0x11,
        VSM_IGMP_V1_REPORT = 0x12,
        VSM_IGMP_V2_REPORT = 0x16,
        VSM_IGMP_V2_LEAVE = 0x17,
        VSM_IGMP_V3_REPORT = 0x22,
} VsmIgmpType;

/* Group record types, RFC 3376 section 4.2.12 = RFC 3810 section 5.2.12. */
typedef enum VsmMcastRecordType {
        VSM_MCAST_MODE_IS_INCLUDE = 1,
        VSM_MCAST_MODE_IS_EXCLUDE = 2,
        VSM_MCAST_CHANGE_TO_INCLUDE = 3,
        VSM_MCAST_CHANGE_TO_EXCLUDE = 4,
        VSM_MCAST_ALLOW_NEW_SOURCES = 5,
        VSM_MCAST_BLOCK_OLD_SOURCES = 6,
        _VSM_MCAST_RECORD_MAX,
} VsmMcastRecordType;

/* A v3 group record.  Its sources are msg->sources[first_source ..
 * first_source + n_sources): one pool per message keeps the struct small. */
typedef struct VsmIgmpRecord {
        uint8_t type;                /* VsmMcastRecordType */
        uint8_t group[VSM_IP4_ALEN];
        uint16_t n_sources;
        uint16_t first_source;
} VsmIgmpRecord;

/* One IGMP message of any version.  Fields a type does not use are zero. */
typedef struct VsmIgmpMessage {
        uint8_t type;                /* VsmIgmpType */
        uint8_t version;             /* 1, 2 or 3 */
        uint8_t max_resp_code;       /* queries; 0 in v1 queries */
        uint8_t group[VSM_IP4_ALEN]; /* queries, v1/v2 reports, leave */
        /* v3 query */
        bool suppress;               /* S flag */
        uint8_t qrv;                 /* 3 bits */
        uint8_t qqic;
        /* v3 report */
        uint16_t n_records;
        VsmIgmpRecord records[VSM_IGMP_RECORDS_MAX];
        /* v3 query: its sources; v3 report: the pool the records index */
        uint16_t n_sources;
        uint8_t sources[VSM_IGMP_SOURCES_MAX][VSM_IP4_ALEN];
} VsmIgmpMessage;

typedef struct VsmIgmpFrame {
        VsmEthHeader eth;
        VsmIp4Header ip;             /* ttl and router_alert as received */
        VsmIgmpMessage msg;
} VsmIgmpFrame;

/* Decode an IGMP message (the IPv4 payload), without checking its
 * checksum.  Queries: 8 octets with max resp code 0 are v1, 8 octets
 * otherwise v2, 12 or more v3 (RFC 3376 7.1); 9-11 octets are -EBADMSG.
 * v1/v2 reports and leaves need 8 octets.  v3 reports: group records of
 * types 1-6; records of other types are skipped (RFC 3376 4.2.12) and
 * auxiliary data is skipped (4.2.10), both bounds-checked.  Octets past the
 * message are ignored.  -EBADMSG on truncation or an unknown IGMP type;
 * -EMSGSIZE for more than VSM_IGMP_RECORDS_MAX records,
 * VSM_IGMP_RECORD_SOURCES_MAX sources in a record or query, or
 * VSM_IGMP_SOURCES_MAX in a report. */
int vsm_igmp_message_parse(VsmReader *r, VsmIgmpMessage *ret);

/* Decode an Ethernet + IPv4 frame carrying IGMP and verify the IGMP
 * checksum (-EBADMSG if wrong).  TTL and Router Alert are reported in
 * ret->ip, not enforced (IGMPv1 hosts send no Router Alert). */
int vsm_igmp_frame_parse(VsmReader *r, VsmIgmpFrame *ret);

/* Encode m by m->type (queries by m->version: 1 and 2 as 8 octets, 3 with
 * S/QRV/QQIC and sources), checksum included.  v3 report records are
 * written with no auxiliary data.  -EINVAL for an unknown type or a record
 * whose sources lie outside m->sources[0 .. n_sources), -EMSGSIZE for
 * counts over the caps, -ENOBUFS when w is full. */
int vsm_igmp_message_write(VsmWriter *w, const VsmIgmpMessage *m);

/* Destination IPv4 address for m: 224.0.0.22 for v3 reports, the group
 * for v1/v2 reports and group-specific queries, 224.0.0.2 for leaves,
 * 224.0.0.1 for general queries. */
void vsm_igmp_destination(const VsmIgmpMessage *m, uint8_t ret[VSM_IP4_ALEN]);

/* Build a full frame: Ethernet from src_mac to the multicast MAC of
 * vsm_igmp_destination(), IPv4 from src_ip with TOS 0xc0, DF, TTL 1 and
 * Router Alert, then m; padded to 60 octets. */
int vsm_igmp_frame_write(VsmWriter *w, const uint8_t src_mac[VSM_ETH_ALEN], const uint8_t src_ip[VSM_IP4_ALEN],
                         const VsmIgmpMessage *m);

/* RFC 3376 4.1.1 / 4.1.7: a Max Resp Code or QQIC as a value (tenths of
 * a second, or seconds for QQIC). */
uint32_t vsm_igmp_code_to_value(uint8_t code);

/* "mode-is-include", ..., "block-old-sources"; NULL if unknown. */
const char *vsm_mcast_record_type_to_string(uint8_t type);

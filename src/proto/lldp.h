/* LLDP (IEEE 802.1AB-2009) with the EVB TLV (IEEE 802.1Qbg-2012 D.2.13).
 *
 * We build a minimal LLDPDU: Chassis ID (MAC), Port ID (interface name or
 * MAC), TTL, the EVB TLV, End.  We parse any LLDPDU and extract the EVB TLV
 * if present; other TLVs are skipped after their bounds are checked.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/eth.h"

#define VSM_LLDP_TLV_END 0
#define VSM_LLDP_TLV_CHASSIS_ID 1
#define VSM_LLDP_TLV_PORT_ID 2
#define VSM_LLDP_TLV_TTL 3
#define VSM_LLDP_TLV_ORG 127
#define VSM_LLDP_TLVS_MAX 64        /* hard cap per LLDPDU */
#define VSM_LLDP_ID_MAX 255         /* chassis/port id info */

#define VSM_EVB_OUI_8021 0x0080c2
#define VSM_EVB_SUBTYPE 0x0d

/* EVB mode values (2 bits). */
#define VSM_EVB_MODE_NOT_SUPPORTED 0
#define VSM_EVB_MODE_BRIDGE 1
#define VSM_EVB_MODE_STATION 2

/* The EVB TLV body (5 octets).  Timer exponents: time = 10 us * 2^exp. */
typedef struct VsmEvbTlv {
        uint8_t bridge_status;   /* raw: BGID 0x04, RRCAP 0x02, RRCTR 0x01 */
        uint8_t station_status;  /* raw: SGID 0x08, RRREQ 0x04, RRSTAT 0x03 mask on low bits */
        uint8_t r;               /* max retries, 3 bits */
        uint8_t rte;             /* retransmission exponent, 5 bits */
        uint8_t mode;            /* 2 bits */
        bool rol_rwd;
        uint8_t rwd;             /* resource wait delay exponent, 5 bits */
        bool rol_rka;
        uint8_t rka;             /* reinit keep alive exponent, 5 bits */
} VsmEvbTlv;

typedef struct VsmLldpdu {
        uint8_t chassis_subtype;
        uint8_t chassis_id_len;
        uint8_t chassis_id[VSM_LLDP_ID_MAX];
        uint8_t port_subtype;
        uint8_t port_id_len;
        uint8_t port_id[VSM_LLDP_ID_MAX];
        uint16_t ttl;
        bool has_evb;
        VsmEvbTlv evb;
} VsmLldpdu;

/* Parse an LLDPDU (the Ethernet payload).  -EBADMSG when the mandatory
 * Chassis/Port/TTL TLVs are missing or out of order, a TLV runs past the
 * frame, or a known TLV has the wrong length; unknown and other org TLVs
 * are skipped.  More than VSM_LLDP_TLVS_MAX TLVs is -EBADMSG. */
int vsm_lldp_parse(VsmReader *r, VsmLldpdu *ret);
/* Write an LLDPDU (the Ethernet payload) with the EVB TLV if has_evb. */
int vsm_lldp_write(VsmWriter *w, const VsmLldpdu *pdu);

int vsm_evb_tlv_parse(VsmReader *body, VsmEvbTlv *ret);  /* the 5-octet body */
int vsm_evb_tlv_write(VsmWriter *w, const VsmEvbTlv *evb); /* full org TLV incl. header */
/* 10 us * 2^exp, in microseconds (exp 0..31). */
uint64_t vsm_evb_exp_to_usec(uint8_t exp);

/* ECP22 (Edge Control Protocol) header codec, IEEE 802.1Qbg-2012 clause 43.
 *
 * Header (4 octets): version:4 | op:2 | subtype:10, then a 16-bit sequence
 * number.  An ACK is the header alone.  Each side has its own sequence space.
 */
#pragma once

#include <stdint.h>

#include "proto/buf.h"

#define VSM_ECP_VERSION 1
#define VSM_ECP_HLEN 4
#define VSM_ECP_SUBTYPE_VDP 1
/* Largest ULPDU we accept or build: a 1500-octet payload minus the header. */
#define VSM_ECP_ULPDU_MAX (1500 - VSM_ECP_HLEN)

typedef enum VsmEcpOp {
        VSM_ECP_OP_REQUEST = 0,
        VSM_ECP_OP_ACK = 1,
        _VSM_ECP_OP_MAX,
} VsmEcpOp;

typedef struct VsmEcpHeader {
        uint8_t version;   /* 4 bits */
        uint8_t op;        /* 2 bits: VsmEcpOp, values 2/3 are reserved */
        uint16_t subtype;  /* 10 bits */
        uint16_t seq;
} VsmEcpHeader;

/* Parses the 4-octet header.  -EBADMSG if short; -EPROTONOSUPPORT when the
 * version is not 1 or op is reserved (the header is still returned). */
int vsm_ecp_header_parse(VsmReader *r, VsmEcpHeader *ret);
int vsm_ecp_header_write(VsmWriter *w, const VsmEcpHeader *h);
const char *vsm_ecp_op_to_string(VsmEcpOp op);

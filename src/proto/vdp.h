/* VDP22 TLV codec, IEEE 802.1Qbg-2012 clause 41.
 *
 * A VDP ULPDU (the ECP payload) is a sequence of TLVs, header
 * type:7 | length:9.  A VSI Manager ID TLV (type 5) precedes the VSI TLVs it
 * applies to.  See DESIGN.md §3 for the layout as lldpad emits it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/eth.h"

typedef enum VsmVdpTlvType {
        VSM_VDP_TLV_END = 0,
        VSM_VDP_TLV_PRE_ASSOCIATE = 1,
        VSM_VDP_TLV_PRE_ASSOCIATE_RR = 2,
        VSM_VDP_TLV_ASSOCIATE = 3,
        VSM_VDP_TLV_DE_ASSOCIATE = 4,
        VSM_VDP_TLV_MANAGER_ID = 5,
        VSM_VDP_TLV_ORG = 0x7f,
} VsmVdpTlvType;

/* The four VSI requests, in a dense enum for tables and --json. */
typedef enum VsmVdpRequest {
        VSM_VDP_REQ_PRE_ASSOCIATE,
        VSM_VDP_REQ_PRE_ASSOCIATE_RR,
        VSM_VDP_REQ_ASSOCIATE,
        VSM_VDP_REQ_DE_ASSOCIATE,
        _VSM_VDP_REQ_MAX,
} VsmVdpRequest;

/* Status octet. */
#define VSM_VDP_STATUS_REASON_MASK 0x0f
#define VSM_VDP_STATUS_M           0x10  /* request: migrated to (M-bit) */
#define VSM_VDP_STATUS_HARD_ERROR  0x10  /* response */
#define VSM_VDP_STATUS_S           0x20  /* request: suspended, migrating from (S-bit) */
#define VSM_VDP_STATUS_KEEP        0x20  /* response */
#define VSM_VDP_STATUS_RESPONSE    0x40

/* Error / reason codes in the low nibble of a response. */
typedef enum VsmVdpError {
        VSM_VDP_ERR_OK = 0,
        VSM_VDP_ERR_INVALID_FORMAT = 1,
        VSM_VDP_ERR_INSUFFICIENT_RESOURCES = 2,
        VSM_VDP_ERR_NO_VSI_MANAGER = 3,
        VSM_VDP_ERR_OTHER = 4,
        VSM_VDP_ERR_INVALID_VID_GROUP_MAC = 5,
        _VSM_VDP_ERR_MAX,
} VsmVdpError;

typedef enum VsmVdpVsiidFormat {
        VSM_VDP_VSIID_IPV4 = 1,
        VSM_VDP_VSIID_IPV6 = 2,
        VSM_VDP_VSIID_MAC = 3,
        VSM_VDP_VSIID_LOCAL = 4,
        VSM_VDP_VSIID_UUID = 5,
} VsmVdpVsiidFormat;

typedef enum VsmVdpFilterFormat {
        VSM_VDP_FILTER_VID = 1,
        VSM_VDP_FILTER_MAC_VID = 2,
        VSM_VDP_FILTER_GROUP_VID = 3,
        VSM_VDP_FILTER_GROUP_MAC_VID = 4,
} VsmVdpFilterFormat;

#define VSM_VDP_MANAGER_ID_LEN 16
#define VSM_VDP_VSIID_LEN 16
#define VSM_VDP_FILTERS_MAX 32       /* hard cap on filter entries per VSI TLV */
#define VSM_VDP_ORG_MAX 4            /* hard cap on org TLVs kept per ULPDU */
#define VSM_VDP_ORG_DATA_MAX 64      /* org TLV info kept (longer is rejected) */
#define VSM_VDP_TLVS_MAX 32          /* hard cap on TLVs per ULPDU */

typedef struct VsmVdpFilter {
        uint32_t group_id;           /* formats 3 and 4 */
        uint8_t mac[VSM_ETH_ALEN];   /* formats 2 and 4 */
        bool ps;                     /* PCP significant */
        uint8_t pcp;                 /* 3 bits */
        uint16_t vid;                /* 12 bits */
} VsmVdpFilter;

/* One VSI TLV (types 1-4), as request or response. */
typedef struct VsmVdpVsi {
        VsmVdpRequest request;
        uint8_t status;              /* raw status octet */
        uint32_t type_id;            /* 24 bits */
        uint8_t type_version;
        uint8_t vsiid_format;        /* VsmVdpVsiidFormat */
        uint8_t vsiid[VSM_VDP_VSIID_LEN];
        uint8_t filter_format;       /* VsmVdpFilterFormat */
        uint16_t n_filters;
        VsmVdpFilter filters[VSM_VDP_FILTERS_MAX];
} VsmVdpVsi;

typedef struct VsmVdpOrg {
        uint8_t oui[3];
        uint16_t len;                /* info length after the OUI */
        uint8_t data[VSM_VDP_ORG_DATA_MAX];
} VsmVdpOrg;

/* One decoded TLV. */
typedef struct VsmVdpTlv {
        uint8_t type;                /* VsmVdpTlvType, or an unknown value */
        uint16_t len;                /* payload length from the header */
        union {
                uint8_t manager_id[VSM_VDP_MANAGER_ID_LEN]; /* type 5 */
                VsmVdpVsi vsi;                              /* types 1-4 */
                VsmVdpOrg org;                              /* type 0x7f */
        };
} VsmVdpTlv;

/* Decode the next TLV of a VDP ULPDU.
 * Returns 0 and fills *ret; -ENODATA at the end of the ULPDU (no octets
 * left, or an END TLV); -EBADMSG on a malformed TLV (length past the frame,
 * wrong length for the type or filter format, filter count over
 * VSM_VDP_FILTERS_MAX, unknown filter format); -EMSGSIZE for an org TLV
 * larger than VSM_VDP_ORG_DATA_MAX.  Unknown TLV types are returned with
 * only type and len set and are skipped.  On error the reader is left at
 * the end so a caller loop stops. */
int vsm_vdp_tlv_next(VsmReader *r, VsmVdpTlv *ret);

int vsm_vdp_write_manager_id(VsmWriter *w, const uint8_t id[VSM_VDP_MANAGER_ID_LEN]);
/* Writes a VSI TLV; the type comes from vsi->request. */
int vsm_vdp_write_vsi(VsmWriter *w, const VsmVdpVsi *vsi);
int vsm_vdp_write_org(VsmWriter *w, const VsmVdpOrg *org);
int vsm_vdp_write_end(VsmWriter *w);

/* Manager ID from a string: up to 16 octets, NUL-padded (-EINVAL if
 * longer), or a UUID in text form which is stored as its 16 octets. */
int vsm_vdp_manager_id_from_string(const char *s, uint8_t ret[VSM_VDP_MANAGER_ID_LEN]);

VsmVdpTlvType vsm_vdp_request_to_tlv(VsmVdpRequest req);
/* -EINVAL for a TLV type that is not a VSI request. */
int vsm_vdp_request_from_tlv(uint8_t type, VsmVdpRequest *ret);
/* "pre-associate", "pre-associate-rr", "associate", "de-associate" */
const char *vsm_vdp_request_to_string(VsmVdpRequest req);
int vsm_vdp_request_from_string(const char *s, VsmVdpRequest *ret);
/* "ok", "invalid-format", "insufficient-resources", "no-vsi-manager",
 * "other", "invalid-vid-group-mac"; NULL when out of range. */
const char *vsm_vdp_error_to_string(VsmVdpError e);

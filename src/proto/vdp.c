/* VDP22 TLV codec, IEEE 802.1Qbg-2012 clause 41.2 (VDP TLV formats):
 * 41.2.1 TLV header, 41.2.2-41.2.9 the VSI TLVs (PRE-ASSOCIATE,
 * PRE-ASSOCIATE with resource reservation, ASSOCIATE, DE-ASSOCIATE) with
 * their status, VSIID and filter info fields, 41.2.10 the VSI Manager ID
 * TLV, 41.2.11 the organizationally defined TLV.
 *
 * Layout as lldpad 1.1 emits it: DESIGN.md section 3.  A VSI TLV body is
 * 25 fixed octets (status 1, VSI type ID 3, type version 1, VSIID format 1,
 * VSIID 16, filter info format 1, number of entries 2) followed by the
 * entries, whose size the filter info format fixes.  The TLV length must
 * match exactly.
 */
#include "proto/vdp.h"

#include <errno.h>
#include <string.h>

#define VDP_TLV_HLEN 2
#define VDP_TLV_LEN_MAX 0x1ff               /* 9-bit length field */
#define VDP_VSI_FIXED_LEN 25                /* body before the filter entries */
#define VDP_ORG_OUI_LEN 3

#define VDP_PS_BIT 0x8000
#define VDP_PCP_SHIFT 12
#define VDP_PCP_MAX 7
#define VDP_VID_MASK 0x0fff

/* Octets per filter entry for a filter info format, 0 if unknown. */
static size_t filter_entry_size(uint8_t format) {
        switch (format) {
        case VSM_VDP_FILTER_VID:
                return 2;
        case VSM_VDP_FILTER_MAC_VID:
                return VSM_ETH_ALEN + 2;
        case VSM_VDP_FILTER_GROUP_VID:
                return 4 + 2;
        case VSM_VDP_FILTER_GROUP_MAC_VID:
                return 4 + VSM_ETH_ALEN + 2;
        default:
                return 0;
        }
}

static bool filter_has_group(uint8_t format) {
        return format == VSM_VDP_FILTER_GROUP_VID || format == VSM_VDP_FILTER_GROUP_MAC_VID;
}

static bool filter_has_mac(uint8_t format) {
        return format == VSM_VDP_FILTER_MAC_VID || format == VSM_VDP_FILTER_GROUP_MAC_VID;
}

/* One filter entry; the body length was validated by the caller, but every
 * read is still checked. */
static int parse_filter(VsmReader *r, uint8_t format, VsmVdpFilter *ret) {
        VsmVdpFilter f = {};
        uint16_t word;
        int k;

        if (filter_has_group(format)) {
                k = vsm_reader_be32(r, &f.group_id);
                if (k < 0)
                        return k;
        }
        if (filter_has_mac(format)) {
                k = vsm_reader_bytes(r, f.mac, VSM_ETH_ALEN);
                if (k < 0)
                        return k;
        }
        k = vsm_reader_be16(r, &word);
        if (k < 0)
                return k;

        f.ps = word & VDP_PS_BIT;
        f.pcp = (uint8_t) ((word >> VDP_PCP_SHIFT) & VDP_PCP_MAX);
        f.vid = word & VDP_VID_MASK;

        *ret = f;
        return 0;
}

/* A VSI TLV body (types 1-4), validated and extracted in one pass. */
static int parse_vsi(VsmReader *body, uint8_t type, VsmVdpVsi *ret) {
        size_t entry_size;
        uint16_t n;
        int k;

        /* Fixed part: every field lies inside the sub-reader, so a short
         * body fails here without a separate length check. */
        k = vsm_vdp_request_from_tlv(type, &ret->request);
        if (k < 0)
                return -EBADMSG;
        if ((k = vsm_reader_u8(body, &ret->status)) < 0 ||
            (k = vsm_reader_be24(body, &ret->type_id)) < 0 ||
            (k = vsm_reader_u8(body, &ret->type_version)) < 0 ||
            (k = vsm_reader_u8(body, &ret->vsiid_format)) < 0 ||
            (k = vsm_reader_bytes(body, ret->vsiid, VSM_VDP_VSIID_LEN)) < 0 ||
            (k = vsm_reader_u8(body, &ret->filter_format)) < 0 ||
            (k = vsm_reader_be16(body, &n)) < 0)
                return k;

        entry_size = filter_entry_size(ret->filter_format);
        if (entry_size == 0)
                return -EBADMSG;
        if (n > VSM_VDP_FILTERS_MAX)
                return -EBADMSG;
        /* Exact: no trailing octets, no partial entry.  n * entry_size is at
         * most 32 * 12, so the product cannot overflow. */
        if (vsm_reader_remaining(body) != n * entry_size)
                return -EBADMSG;

        for (uint16_t i = 0; i < n; i++) {
                k = parse_filter(body, ret->filter_format, &ret->filters[i]);
                if (k < 0)
                        return k;
        }
        ret->n_filters = n;
        return 0;
}

static int parse_org(VsmReader *body, VsmVdpOrg *ret) {
        size_t n;
        int k;

        k = vsm_reader_bytes(body, ret->oui, VDP_ORG_OUI_LEN);
        if (k < 0)
                return k;
        n = vsm_reader_remaining(body);
        if (n > VSM_VDP_ORG_DATA_MAX)
                return -EMSGSIZE;
        (void) vsm_reader_bytes(body, ret->data, n);
        ret->len = (uint16_t) n;
        return 0;
}

/* Consume the rest of the ULPDU so that a caller's loop stops. */
static int stop(VsmReader *r, int error) {
        (void) vsm_reader_skip(r, vsm_reader_remaining(r));
        return error;
}

int vsm_vdp_tlv_next(VsmReader *r, VsmVdpTlv *ret) {
        VsmVdpTlv tlv;
        VsmReader body;
        uint16_t hdr;
        int k;

        if (vsm_reader_remaining(r) == 0)
                return -ENODATA;
        /* One zero octet left: Ethernet padding after the last TLV, too
         * short even for an END TLV header. */
        if (vsm_reader_remaining(r) == 1 && vsm_reader_peek(r)[0] == 0)
                return stop(r, -ENODATA);

        k = vsm_reader_be16(r, &hdr);
        if (k < 0)
                return stop(r, k);

        memset(&tlv, 0, sizeof(tlv));
        tlv.type = (uint8_t) (hdr >> 9);
        tlv.len = hdr & VDP_TLV_LEN_MAX;

        /* END, or the zero padding of a frame shorter than 60 octets, which
         * reads as END.  Whatever follows is not looked at, so its length
         * is not checked either. */
        if (tlv.type == VSM_VDP_TLV_END)
                return stop(r, -ENODATA);

        k = vsm_reader_sub(r, tlv.len, &body);
        if (k < 0)
                return stop(r, -EBADMSG);

        switch (tlv.type) {
        case VSM_VDP_TLV_MANAGER_ID:
                if (tlv.len != VSM_VDP_MANAGER_ID_LEN)
                        return stop(r, -EBADMSG);
                (void) vsm_reader_bytes(&body, tlv.manager_id, VSM_VDP_MANAGER_ID_LEN);
                break;

        case VSM_VDP_TLV_PRE_ASSOCIATE:
        case VSM_VDP_TLV_PRE_ASSOCIATE_RR:
        case VSM_VDP_TLV_ASSOCIATE:
        case VSM_VDP_TLV_DE_ASSOCIATE:
                k = parse_vsi(&body, tlv.type, &tlv.vsi);
                if (k < 0)
                        return stop(r, -EBADMSG);
                break;

        case VSM_VDP_TLV_ORG:
                k = parse_org(&body, &tlv.org);
                if (k < 0)
                        return stop(r, k);
                break;

        default:
                /* Unknown type: its bounds are checked (the sub-reader
                 * above), its payload skipped. */
                break;
        }

        *ret = tlv;
        return 0;
}

static uint16_t tlv_header(uint8_t type, size_t len) {
        return (uint16_t) ((type & 0x7f) << 9 | (len & VDP_TLV_LEN_MAX));
}

int vsm_vdp_write_manager_id(VsmWriter *w, const uint8_t id[VSM_VDP_MANAGER_ID_LEN]) {
        if (VDP_TLV_HLEN + VSM_VDP_MANAGER_ID_LEN > w->cap - w->len)
                return -ENOBUFS;

        (void) vsm_writer_be16(w, tlv_header(VSM_VDP_TLV_MANAGER_ID, VSM_VDP_MANAGER_ID_LEN));
        (void) vsm_writer_bytes(w, id, VSM_VDP_MANAGER_ID_LEN);
        return 0;
}

int vsm_vdp_write_vsi(VsmWriter *w, const VsmVdpVsi *vsi) {
        size_t entry_size, len;

        /* Everything is validated and the size computed before the first
         * octet is written, so a failure leaves the writer as it was. */
        if ((unsigned) vsi->request >= _VSM_VDP_REQ_MAX)
                return -EINVAL;
        if (vsi->type_id > 0xffffff)
                return -EINVAL;
        entry_size = filter_entry_size(vsi->filter_format);
        if (entry_size == 0)
                return -EINVAL;
        if (vsi->n_filters > VSM_VDP_FILTERS_MAX)
                return -EINVAL;
        for (size_t i = 0; i < vsi->n_filters; i++)
                if (vsi->filters[i].pcp > VDP_PCP_MAX || vsi->filters[i].vid > VDP_VID_MASK)
                        return -EINVAL;

        len = VDP_VSI_FIXED_LEN + vsi->n_filters * entry_size;
        if (VDP_TLV_HLEN + len > w->cap - w->len)
                return -ENOBUFS;

        (void) vsm_writer_be16(w, tlv_header(vsm_vdp_request_to_tlv(vsi->request), len));
        (void) vsm_writer_u8(w, vsi->status);
        (void) vsm_writer_be24(w, vsi->type_id);
        (void) vsm_writer_u8(w, vsi->type_version);
        (void) vsm_writer_u8(w, vsi->vsiid_format);
        (void) vsm_writer_bytes(w, vsi->vsiid, VSM_VDP_VSIID_LEN);
        (void) vsm_writer_u8(w, vsi->filter_format);
        (void) vsm_writer_be16(w, vsi->n_filters);

        for (size_t i = 0; i < vsi->n_filters; i++) {
                const VsmVdpFilter *f = &vsi->filters[i];

                if (filter_has_group(vsi->filter_format))
                        (void) vsm_writer_be32(w, f->group_id);
                if (filter_has_mac(vsi->filter_format))
                        (void) vsm_writer_bytes(w, f->mac, VSM_ETH_ALEN);
                (void) vsm_writer_be16(w, (uint16_t) ((f->ps ? VDP_PS_BIT : 0) |
                                                      f->pcp << VDP_PCP_SHIFT |
                                                      f->vid));
        }
        return 0;
}

int vsm_vdp_write_org(VsmWriter *w, const VsmVdpOrg *org) {
        size_t len;

        if (org->len > VSM_VDP_ORG_DATA_MAX)
                return -EMSGSIZE;

        len = VDP_ORG_OUI_LEN + org->len;
        if (VDP_TLV_HLEN + len > w->cap - w->len)
                return -ENOBUFS;

        (void) vsm_writer_be16(w, tlv_header(VSM_VDP_TLV_ORG, len));
        (void) vsm_writer_bytes(w, org->oui, VDP_ORG_OUI_LEN);
        (void) vsm_writer_bytes(w, org->data, org->len);
        return 0;
}

int vsm_vdp_write_end(VsmWriter *w) {
        return vsm_writer_be16(w, tlv_header(VSM_VDP_TLV_END, 0));
}

int vsm_vdp_manager_id_from_string(const char *s, uint8_t ret[VSM_VDP_MANAGER_ID_LEN]) {
        uint8_t id[VSM_VDP_MANAGER_ID_LEN] = {};
        size_t n;

        if (!s)
                return -EINVAL;
        if (vsm_uuid_parse(s, id) == 0) {
                memcpy(ret, id, sizeof(id));
                return 0;
        }

        n = strlen(s);
        if (n == 0 || n > VSM_VDP_MANAGER_ID_LEN)
                return -EINVAL;
        memcpy(id, s, n);
        memcpy(ret, id, sizeof(id));
        return 0;
}

VsmVdpTlvType vsm_vdp_request_to_tlv(VsmVdpRequest req) {
        switch (req) {
        case VSM_VDP_REQ_PRE_ASSOCIATE:
                return VSM_VDP_TLV_PRE_ASSOCIATE;
        case VSM_VDP_REQ_PRE_ASSOCIATE_RR:
                return VSM_VDP_TLV_PRE_ASSOCIATE_RR;
        case VSM_VDP_REQ_ASSOCIATE:
                return VSM_VDP_TLV_ASSOCIATE;
        case VSM_VDP_REQ_DE_ASSOCIATE:
                return VSM_VDP_TLV_DE_ASSOCIATE;
        default:
                return VSM_VDP_TLV_END;
        }
}

int vsm_vdp_request_from_tlv(uint8_t type, VsmVdpRequest *ret) {
        switch (type) {
        case VSM_VDP_TLV_PRE_ASSOCIATE:
                *ret = VSM_VDP_REQ_PRE_ASSOCIATE;
                return 0;
        case VSM_VDP_TLV_PRE_ASSOCIATE_RR:
                *ret = VSM_VDP_REQ_PRE_ASSOCIATE_RR;
                return 0;
        case VSM_VDP_TLV_ASSOCIATE:
                *ret = VSM_VDP_REQ_ASSOCIATE;
                return 0;
        case VSM_VDP_TLV_DE_ASSOCIATE:
                *ret = VSM_VDP_REQ_DE_ASSOCIATE;
                return 0;
        default:
                return -EINVAL;
        }
}

static const char *request_name(VsmVdpRequest req) {
        switch (req) {
        case VSM_VDP_REQ_PRE_ASSOCIATE:
                return "pre-associate";
        case VSM_VDP_REQ_PRE_ASSOCIATE_RR:
                return "pre-associate-rr";
        case VSM_VDP_REQ_ASSOCIATE:
                return "associate";
        case VSM_VDP_REQ_DE_ASSOCIATE:
                return "de-associate";
        default:
                return NULL;
        }
}

const char *vsm_vdp_request_to_string(VsmVdpRequest req) {
        return request_name(req);
}

int vsm_vdp_request_from_string(const char *s, VsmVdpRequest *ret) {
        if (!s)
                return -EINVAL;
        for (VsmVdpRequest req = 0; req < _VSM_VDP_REQ_MAX; req++)
                if (strcmp(s, request_name(req)) == 0) {
                        *ret = req;
                        return 0;
                }
        return -EINVAL;
}

const char *vsm_vdp_error_to_string(VsmVdpError e) {
        switch (e) {
        case VSM_VDP_ERR_OK:
                return "ok";
        case VSM_VDP_ERR_INVALID_FORMAT:
                return "invalid-format";
        case VSM_VDP_ERR_INSUFFICIENT_RESOURCES:
                return "insufficient-resources";
        case VSM_VDP_ERR_NO_VSI_MANAGER:
                return "no-vsi-manager";
        case VSM_VDP_ERR_OTHER:
                return "other";
        case VSM_VDP_ERR_INVALID_VID_GROUP_MAC:
                return "invalid-vid-group-mac";
        default:
                return NULL;
        }
}

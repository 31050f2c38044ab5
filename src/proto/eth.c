/* Ethernet II header codec (IEEE 802.3 clause 3.1.1, minimum frame size
 * clause 4.4.2), the IEEE 802.1Q-2014 table 8-1 group addresses used by
 * ECP and LLDP, and the MAC (IEEE 802 canonical form) and UUID (RFC 4122
 * section 3) text forms.
 */
#include "proto/eth.h"

#include <errno.h>
#include <string.h>

const uint8_t vsm_eth_addr_nearest_bridge[VSM_ETH_ALEN] = { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x00 };
const uint8_t vsm_eth_addr_lldp_multicast[VSM_ETH_ALEN] = { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e };

int vsm_eth_header_parse(VsmReader *r, VsmEthHeader *ret) {
        VsmEthHeader h;
        VsmReader hr;
        int k;

        /* Carve the whole header first so that a short frame leaves the
         * reader where it was. */
        k = vsm_reader_sub(r, VSM_ETH_HLEN, &hr);
        if (k < 0)
                return k;
        (void) vsm_reader_bytes(&hr, h.dst, VSM_ETH_ALEN);
        (void) vsm_reader_bytes(&hr, h.src, VSM_ETH_ALEN);
        (void) vsm_reader_be16(&hr, &h.ethertype);

        *ret = h;
        return 0;
}

int vsm_eth_header_write(VsmWriter *w, const VsmEthHeader *h) {
        if (VSM_ETH_HLEN > w->cap - w->len)
                return -ENOBUFS;

        (void) vsm_writer_bytes(w, h->dst, VSM_ETH_ALEN);
        (void) vsm_writer_bytes(w, h->src, VSM_ETH_ALEN);
        (void) vsm_writer_be16(w, h->ethertype);
        return 0;
}

int vsm_eth_vlan_tag_write(VsmWriter *w, const uint8_t *frame, size_t len, uint16_t vid, uint8_t pcp) {
        if (!frame || len < VSM_ETH_HLEN || len > VSM_ETH_FRAME_MAX)
                return -EBADMSG;
        if (vid < 1 || vid > 4094 || pcp > 7)
                return -EINVAL;
        if (len + VSM_ETH_VLAN_HLEN > w->cap - w->len)
                return -ENOBUFS;
        (void) vsm_writer_bytes(w, frame, 2 * VSM_ETH_ALEN);
        (void) vsm_writer_be16(w, VSM_ETH_P_8021Q);
        (void) vsm_writer_be16(w, (uint16_t) (pcp << 13 | vid));
        (void) vsm_writer_bytes(w, frame + 2 * VSM_ETH_ALEN, len - 2 * VSM_ETH_ALEN);
        return 0;
}

int vsm_eth_pad(VsmWriter *w) {
        if (w->len >= VSM_ETH_ZLEN)
                return 0;
        return vsm_writer_zero(w, VSM_ETH_ZLEN - w->len);
}

static int hexdigit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Two hex digits at s -> 0..255, or -1. */
static int hexbyte(const char *s) {
        int hi = hexdigit(s[0]), lo;

        if (hi < 0)
                return -1;
        lo = hexdigit(s[1]);
        if (lo < 0)
                return -1;
        return hi << 4 | lo;
}

int vsm_mac_parse(const char *s, uint8_t ret[VSM_ETH_ALEN]) {
        uint8_t mac[VSM_ETH_ALEN];
        char sep;

        if (!s || strlen(s) != 3 * VSM_ETH_ALEN - 1)
                return -EINVAL;
        sep = s[2];
        if (sep != ':' && sep != '-')
                return -EINVAL;

        for (size_t i = 0; i < VSM_ETH_ALEN; i++) {
                const char *p = s + 3 * i;
                int b = hexbyte(p);

                if (b < 0)
                        return -EINVAL;
                /* One separator style throughout. */
                if (i < VSM_ETH_ALEN - 1 && p[2] != sep)
                        return -EINVAL;
                mac[i] = (uint8_t) b;
        }

        memcpy(ret, mac, VSM_ETH_ALEN);
        return 0;
}

static char hexchar(unsigned v) {
        return "0123456789abcdef"[v & 0x0f];
}

char *vsm_mac_format(const uint8_t mac[VSM_ETH_ALEN], char buf[18]) {
        char *p = buf;

        for (size_t i = 0; i < VSM_ETH_ALEN; i++) {
                if (i > 0)
                        *p++ = ':';
                *p++ = hexchar(mac[i] >> 4);
                *p++ = hexchar(mac[i]);
        }
        *p = '\0';
        return buf;
}

/* Octet index after which RFC 4122's text form has a hyphen. */
static bool uuid_hyphen_after(size_t i) {
        return i == 3 || i == 5 || i == 7 || i == 9;
}

int vsm_uuid_parse(const char *s, uint8_t ret[16]) {
        uint8_t uuid[16];
        const char *p = s;

        if (!s || strlen(s) != 36)
                return -EINVAL;

        for (size_t i = 0; i < 16; i++) {
                int b = hexbyte(p);

                if (b < 0)
                        return -EINVAL;
                uuid[i] = (uint8_t) b;
                p += 2;
                if (uuid_hyphen_after(i)) {
                        if (*p != '-')
                                return -EINVAL;
                        p++;
                }
        }

        memcpy(ret, uuid, 16);
        return 0;
}

char *vsm_uuid_format(const uint8_t uuid[16], char buf[37]) {
        char *p = buf;

        for (size_t i = 0; i < 16; i++) {
                *p++ = hexchar(uuid[i] >> 4);
                *p++ = hexchar(uuid[i]);
                if (uuid_hyphen_after(i))
                        *p++ = '-';
        }
        *p = '\0';
        return buf;
}

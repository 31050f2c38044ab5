/* ARP codec for Ethernet/IPv4.
 *
 * RFC 826 "Packet format" (hardware type, protocol type, address lengths,
 * opcode, sender/target hardware and protocol addresses) and RFC 5227
 * sections 2.3 and 3 (ARP Announcement: an ARP request with sender and
 * target IP both the announced address, target hardware address zero,
 * broadcast).
 */
#include "proto/arp.h"

#include <errno.h>
#include <string.h>

int vsm_arp_message_parse(VsmReader *r, VsmArpMessage *ret) {
        VsmArpMessage m;
        VsmReader mr;
        uint16_t htype, ptype;
        uint8_t hlen, plen;

        if (vsm_reader_remaining(r) < VSM_ARP_LEN)
                return -EBADMSG;
        mr = *r;
        (void) vsm_reader_be16(&mr, &htype);
        (void) vsm_reader_be16(&mr, &ptype);
        (void) vsm_reader_u8(&mr, &hlen);
        (void) vsm_reader_u8(&mr, &plen);
        (void) vsm_reader_be16(&mr, &m.op);
        (void) vsm_reader_bytes(&mr, m.sha, VSM_ETH_ALEN);
        (void) vsm_reader_bytes(&mr, m.spa, VSM_IP4_ALEN);
        (void) vsm_reader_bytes(&mr, m.tha, VSM_ETH_ALEN);
        (void) vsm_reader_bytes(&mr, m.tpa, VSM_IP4_ALEN);

        if (htype != VSM_ARP_HTYPE_ETHER || ptype != VSM_ETH_P_IPV4 ||
            hlen != VSM_ETH_ALEN || plen != VSM_IP4_ALEN)
                return -EBADMSG;
        if (m.op != VSM_ARP_OP_REQUEST && m.op != VSM_ARP_OP_REPLY)
                return -EBADMSG;

        *r = mr;
        *ret = m;
        return 0;
}

int vsm_arp_frame_parse(VsmReader *r, VsmArpFrame *ret) {
        VsmArpFrame f;
        VsmReader fr = *r;
        int k;

        k = vsm_eth_header_parse(&fr, &f.eth);
        if (k < 0)
                return k;
        if (f.eth.ethertype != VSM_ETH_P_ARP)
                return -EBADMSG;
        k = vsm_arp_message_parse(&fr, &f.msg);
        if (k < 0)
                return k;

        *r = fr;
        *ret = f;
        return 0;
}

int vsm_arp_message_write(VsmWriter *w, const VsmArpMessage *m) {
        if (VSM_ARP_LEN > w->cap - w->len)
                return -ENOBUFS;

        (void) vsm_writer_be16(w, VSM_ARP_HTYPE_ETHER);
        (void) vsm_writer_be16(w, VSM_ETH_P_IPV4);
        (void) vsm_writer_u8(w, VSM_ETH_ALEN);
        (void) vsm_writer_u8(w, VSM_IP4_ALEN);
        (void) vsm_writer_be16(w, m->op);
        (void) vsm_writer_bytes(w, m->sha, VSM_ETH_ALEN);
        (void) vsm_writer_bytes(w, m->spa, VSM_IP4_ALEN);
        (void) vsm_writer_bytes(w, m->tha, VSM_ETH_ALEN);
        (void) vsm_writer_bytes(w, m->tpa, VSM_IP4_ALEN);
        return 0;
}

bool vsm_arp_is_gratuitous(const VsmArpMessage *m) {
        return memcmp(m->spa, m->tpa, VSM_IP4_ALEN) == 0;
}

int vsm_arp_gratuitous_write(VsmWriter *w, const uint8_t mac[VSM_ETH_ALEN], const uint8_t ip[VSM_IP4_ALEN]) {
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_ARP };
        VsmArpMessage m = { .op = VSM_ARP_OP_REQUEST };
        size_t saved = w->len;
        int k;

        memcpy(eh.dst, vsm_eth_addr_broadcast, VSM_ETH_ALEN);
        memcpy(eh.src, mac, VSM_ETH_ALEN);
        memcpy(m.sha, mac, VSM_ETH_ALEN);
        memcpy(m.spa, ip, VSM_IP4_ALEN);
        memcpy(m.tpa, ip, VSM_IP4_ALEN);

        if ((k = vsm_eth_header_write(w, &eh)) < 0 ||
            (k = vsm_arp_message_write(w, &m)) < 0 ||
            (k = vsm_eth_pad(w)) < 0) {
                w->len = saved;
                return k;
        }
        return 0;
}

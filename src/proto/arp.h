/* ARP codec for Ethernet/IPv4: RFC 826 (packet format), RFC 5227
 * section 3 (gratuitous ARP announcements: a request whose sender and
 * target protocol addresses are both the announced address).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/eth.h"
#include "proto/inet.h"

#define VSM_ARP_LEN 28               /* Ethernet/IPv4 ARP packet */
#define VSM_ARP_HTYPE_ETHER 1

typedef enum VsmArpOp {
        VSM_ARP_OP_REQUEST = 1,
        VSM_ARP_OP_REPLY = 2,
} VsmArpOp;

typedef struct VsmArpMessage {
        uint16_t op;                 /* VsmArpOp */
        uint8_t sha[VSM_ETH_ALEN];
        uint8_t spa[VSM_IP4_ALEN];
        uint8_t tha[VSM_ETH_ALEN];
        uint8_t tpa[VSM_IP4_ALEN];
} VsmArpMessage;

typedef struct VsmArpFrame {
        VsmEthHeader eth;
        VsmArpMessage msg;
} VsmArpFrame;

/* Decode an ARP packet: hardware type 1, protocol 0x0800, lengths 6 and
 * 4, operation request or reply; otherwise -EBADMSG (also if short).
 * Octets after the 28 (Ethernet padding) are left unread. */
int vsm_arp_message_parse(VsmReader *r, VsmArpMessage *ret);
/* Decode an Ethernet frame (ethertype 0x0806) carrying ARP.  -EBADMSG. */
int vsm_arp_frame_parse(VsmReader *r, VsmArpFrame *ret);
/* Encode the 28-octet packet. */
int vsm_arp_message_write(VsmWriter *w, const VsmArpMessage *m);
/* True for a request or reply announcing its own address (spa == tpa). */
bool vsm_arp_is_gratuitous(const VsmArpMessage *m);
/* Build a gratuitous ARP (RFC 5227 ARP Announcement, request form): from
 * mac to ff:ff:ff:ff:ff:ff, sha = mac, spa = tpa = ip, tha zero; padded to
 * 60 octets. */
int vsm_arp_gratuitous_write(VsmWriter *w, const uint8_t mac[VSM_ETH_ALEN], const uint8_t ip[VSM_IP4_ALEN]);

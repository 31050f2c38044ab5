/* DHCPv4 message codec, RFC 2131 (message format, section 2 and 4.3.2
 * INIT-REBOOT), RFC 2132 (options), RFC 3396 (long options by
 * concatenation), RFC 951 (BOOTP, 300-octet minimum).
 *
 * vsimig learns a VM's lease from the DHCP messages it sniffs on the VM's
 * tap (client-id, requested IP; the server's ACK) and replays an
 * INIT-REBOOT DHCPREQUEST on the destination (DESIGN.md section 4).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/buf.h"
#include "proto/eth.h"
#include "proto/inet.h"

#define VSM_DHCP_SERVER_PORT 67
#define VSM_DHCP_CLIENT_PORT 68
#define VSM_DHCP_CHADDR_LEN 16
#define VSM_DHCP_SNAME_LEN 64
#define VSM_DHCP_FILE_LEN 128
#define VSM_DHCP_FIXED_LEN 236       /* op .. file */
#define VSM_DHCP_MAGIC 0x63825363
#define VSM_DHCP_BOOTP_MIN 300       /* RFC 951 minimum message, padded */
#define VSM_DHCP_OPTION_MAX 255      /* one option's payload, and the cap on a
                                      * concatenated (RFC 3396) option we keep */
#define VSM_DHCP_OPTIONS_MAX 256     /* hard cap on options walked per message */

#define VSM_DHCP_OP_REQUEST 1
#define VSM_DHCP_OP_REPLY 2
#define VSM_DHCP_HTYPE_ETHER 1

typedef enum VsmDhcpOption {
        VSM_DHCP_OPT_PAD = 0,
        VSM_DHCP_OPT_HOSTNAME = 12,
        VSM_DHCP_OPT_REQUESTED_IP = 50,
        VSM_DHCP_OPT_LEASE_TIME = 51,
        VSM_DHCP_OPT_OVERLOAD = 52,
        VSM_DHCP_OPT_MESSAGE_TYPE = 53,
        VSM_DHCP_OPT_SERVER_ID = 54,
        VSM_DHCP_OPT_PARAMETER_LIST = 55,
        VSM_DHCP_OPT_T1 = 58,
        VSM_DHCP_OPT_T2 = 59,
        VSM_DHCP_OPT_CLIENT_ID = 61,
        VSM_DHCP_OPT_END = 255,
} VsmDhcpOption;

/* Option 53 values (RFC 2132 9.6, RFC 4388 6.1). */
typedef enum VsmDhcpMessageType {
        VSM_DHCP_NONE = 0,           /* no option 53: plain BOOTP */
        VSM_DHCP_DISCOVER = 1,
        VSM_DHCP_OFFER = 2,
        VSM_DHCP_REQUEST = 3,
        VSM_DHCP_DECLINE = 4,
        VSM_DHCP_ACK = 5,
        VSM_DHCP_NAK = 6,
        VSM_DHCP_RELEASE = 7,
        VSM_DHCP_INFORM = 8,
        VSM_DHCP_LEASEQUERY = 10,
        VSM_DHCP_LEASEUNASSIGNED = 11,
        VSM_DHCP_LEASEUNKNOWN = 12,
        VSM_DHCP_LEASEACTIVE = 13,
        _VSM_DHCP_MESSAGE_TYPE_MAX,
} VsmDhcpMessageType;

/* One BOOTP/DHCP message.  The has_* flags say whether an option was
 * present: an absent client-id and an empty one differ. */
typedef struct VsmDhcpMessage {
        uint8_t op;
        uint8_t htype;
        uint8_t hlen;                /* <= VSM_DHCP_CHADDR_LEN */
        uint8_t hops;
        uint32_t xid;
        uint16_t secs;
        uint16_t flags;
        uint8_t ciaddr[VSM_IP4_ALEN];
        uint8_t yiaddr[VSM_IP4_ALEN];
        uint8_t siaddr[VSM_IP4_ALEN];
        uint8_t giaddr[VSM_IP4_ALEN];
        uint8_t chaddr[VSM_DHCP_CHADDR_LEN];

        uint8_t message_type;        /* VsmDhcpMessageType; 0 if absent */
        uint8_t overload;            /* option 52 value, 0 if absent */
        bool has_client_id;
        uint8_t client_id_len;
        uint8_t client_id[VSM_DHCP_OPTION_MAX];
        bool has_requested_ip;
        uint8_t requested_ip[VSM_IP4_ALEN];
        bool has_server_id;
        uint8_t server_id[VSM_IP4_ALEN];
        bool has_lease_time;
        uint32_t lease_time;
        bool has_t1;
        uint32_t t1;
        bool has_t2;
        uint32_t t2;
        bool has_hostname;
        uint8_t hostname_len;
        char hostname[VSM_DHCP_OPTION_MAX + 1]; /* NUL-terminated; raw octets */
        bool has_parameter_list;
        uint8_t parameter_list_len;
        uint8_t parameter_list[VSM_DHCP_OPTION_MAX];
} VsmDhcpMessage;

/* A DHCP message with the headers it came in. */
typedef struct VsmDhcpFrame {
        VsmEthHeader eth;
        VsmIp4Header ip;
        VsmUdpHeader udp;
        bool udp_checksum_ok;        /* zero (none) or correct */
        VsmDhcpMessage msg;
} VsmDhcpFrame;

/* Decode a BOOTP/DHCP message (the UDP payload).  Requires the fixed 236
 * octets, hlen <= 16 and the magic cookie.  Options are walked in the
 * options field, then, as option 52 says, in file and then sname
 * (RFC 2131 section 4.1); only option 52 itself must sit in the options
 * field and be 1 octet of value 1..3.  The options field must end with END;
 * overloaded file/sname fields may end with END or at their end.
 * Duplicate options are concatenated (RFC 3396) in walk order: client-id,
 * hostname and parameter list keep up to 255 octets (-EMSGSIZE past that);
 * fixed-size options (50, 51, 53, 54, 58, 59) must total exactly their
 * size.  Unknown options are skipped by length.  -EBADMSG on any
 * malformation, -EMSGSIZE over the caps (also more than
 * VSM_DHCP_OPTIONS_MAX options). */
int vsm_dhcp_message_parse(VsmReader *r, VsmDhcpMessage *ret);

/* Decode a full Ethernet + IPv4 + UDP frame carrying DHCP: ethertype IPv4,
 * protocol UDP, both ports 67 or 68.  The UDP checksum is checked but not
 * enforced (ret->udp_checksum_ok): on a tap, a guest's UDP-socket messages
 * may carry a partial checksum left for offload. */
int vsm_dhcp_frame_parse(VsmReader *r, VsmDhcpFrame *ret);

/* Encode a message: fixed fields, magic cookie, then the options present
 * in the order 53, 61, 50, 54, 51, 58, 59, 12, 55, END, padded with zeros
 * to 300 octets.  Never uses overload (m->overload is ignored). */
int vsm_dhcp_message_write(VsmWriter *w, const VsmDhcpMessage *m);

/* What an INIT-REBOOT DHCPREQUEST replay needs (DESIGN.md section 4). */
typedef struct VsmDhcpInitReboot {
        uint8_t mac[VSM_ETH_ALEN];   /* the VM's MAC: Ethernet source and chaddr */
        uint32_t xid;
        uint8_t requested_ip[VSM_IP4_ALEN]; /* the VM's IP, option 50 */
        bool has_client_id;          /* false when the VM sent none */
        uint8_t client_id_len;
        uint8_t client_id[VSM_DHCP_OPTION_MAX]; /* exactly as the VM sent it */
        uint8_t parameter_list_len;  /* 0: no option 55 */
        uint8_t parameter_list[VSM_DHCP_OPTION_MAX];
} VsmDhcpInitReboot;

/* Build the full frame of an INIT-REBOOT DHCPREQUEST: Ethernet from the
 * VM's MAC to ff:ff:ff:ff:ff:ff, IPv4 0.0.0.0 -> 255.255.255.255 TTL 64,
 * UDP 68 -> 67 with checksum; BOOTREQUEST with ciaddr 0, flags 0, chaddr =
 * the VM's MAC, options 53 = REQUEST, 61 only if has_client_id, 50, 55 if
 * given, END, padded to 300 octets. */
int vsm_dhcp_init_reboot_write(VsmWriter *w, const VsmDhcpInitReboot *req);

/* "discover", "offer", ..., "leaseactive"; NULL for unknown values. */
const char *vsm_dhcp_message_type_to_string(uint8_t type);

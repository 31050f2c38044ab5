/* Frame builders shared by the unit tests that feed a learner real frames
 * (test-sm-learn.c, test-netstate.c): DHCP (RFC 2131/2132) between the VM
 * and its server, IGMP (RFC 1112, 2236, 3376) and MLD (RFC 2710, 3810)
 * reports from the VM.  Built with the proto/ encoders; a failing encoder
 * aborts the test. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/dhcp.h"
#include "proto/eth.h"
#include "proto/igmp.h"
#include "proto/mld.h"

typedef struct VsmTestFrame {
        uint8_t buf[VSM_ETH_FRAME_MAX];
        size_t len;
} VsmTestFrame;

/* The VM (52:54:00:12:34:56, 192.0.2.10) and its DHCP server
 * (02:00:00:00:00:99, 192.0.2.1). */
extern const uint8_t vsm_test_vm_mac[VSM_ETH_ALEN];
extern const uint8_t vsm_test_server_mac[VSM_ETH_ALEN];
extern const uint8_t vsm_test_vm_ip[4];
extern const uint8_t vsm_test_server_ip[4];

/* A DHCP message m in UDP/IPv4/Ethernet: from a client (0.0.0.0:68 to
 * 255.255.255.255:67) or from the server (192.0.2.1:67 to the VM's :68). */
void vsm_test_dhcp_frame(VsmTestFrame *f, const uint8_t eth_src[6], const uint8_t eth_dst[6], bool from_client,
                         const VsmDhcpMessage *m);

/* Clears m and fills the BOOTP header (Ethernet, xid 0x12345678) and the
 * message type. */
void vsm_test_dhcp_msg_init(VsmDhcpMessage *m, uint8_t op, uint8_t type, const uint8_t chaddr[6]);

/* A client message from the VM (chaddr and source = the VM's MAC).
 * cid_hex NULL: no option 61; hostname as raw octets, NULL: no option 12;
 * req_ip NULL: no option 50. */
void vsm_test_client_frame(VsmTestFrame *f, uint8_t type, const char *cid_hex, const char *hostname,
                           const uint8_t *req_ip);

/* A server reply to chaddr, sent to that MAC; an ACK carries the VM's
 * address, the lease time and T1/T2 where not 0. */
void vsm_test_server_frame(VsmTestFrame *f, uint8_t type, const uint8_t chaddr[6], uint32_t lease, uint32_t t1,
                           uint32_t t2);

/* An IGMP message from the VM's MAC and address. */
void vsm_test_igmp_frame(VsmTestFrame *f, const VsmIgmpMessage *m);

/* An MLD message from the VM's MAC and its EUI-64 link-local address. */
void vsm_test_mld_frame(VsmTestFrame *f, const VsmMldMessage *m);

/* An IGMPv3 / MLDv2 report with one record of the given type for group,
 * with the sources srcs (text, NULL-terminated; NULL: none). */
void vsm_test_record_frame(VsmTestFrame *f, bool ip6, const char *group, uint8_t type, const char *const *srcs);

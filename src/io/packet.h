/* AF_PACKET sockets for the uplinks: ECP22 (0x8940) and LLDP (0x88cc). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "proto/eth.h"

/* Opens a packet socket for ifindex: bound to it, BPF-filtered to ECP and
 * LLDP ethertypes, non-blocking, close-on-exec, with memberships for
 * 01:80:c2:00:00:00 and 01:80:c2:00:00:0e.  Returns the fd or -errno. */
typedef int (*VsmPacketOpenFunc)(int ifindex);

int vsm_packet_open(int ifindex);

/* The opener used by the daemon; tests replace it with a socketpair()
 * end (systemd test-lldp-rx pattern). */
extern VsmPacketOpenFunc vsm_packet_open_func;

/* Sends one frame; returns 0 or -errno. */
int vsm_packet_send(int fd, const void *frame, size_t len);

/* Reads one frame into buf.  Returns its length, 0 when nothing is left
 * (EAGAIN), or -errno.  Truncated frames (larger than cap) are reported as
 * -EMSGSIZE and consumed.  Frames we sent ourselves (PACKET_OUTGOING) are
 * reported as 0-length ignores via *ret_outgoing. */
ssize_t vsm_packet_recv(int fd, void *buf, size_t cap, gboolean *ret_outgoing);

/* Interface lookups via ioctl: index and MAC; 0 or -errno. */
int vsm_link_lookup(const char *ifname, int *ret_ifindex, uint8_t ret_mac[VSM_ETH_ALEN]);

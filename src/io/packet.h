/* AF_PACKET sockets for the uplinks: ECP22 (0x8940) and LLDP (0x88cc). */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "proto/eth.h"

struct sock_filter;
struct sockaddr_ll;

/* Opens an AF_PACKET socket (non-blocking, close-on-exec) that receives
 * what the classic BPF program filter[0..n_filter) accepts on ifindex and
 * nothing else: the program is attached before bind() starts delivery.
 * Returns the fd or -errno. */
int vsm_packet_open_filtered(int ifindex, const struct sock_filter *filter, size_t n_filter);

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

/* Frames one sendmmsg(2) call carries at most. */
#define VSM_PACKET_BATCH_MAX 128

/* Sends frames[0..n) with sendmmsg(2): one call per VSM_PACKET_BATCH_MAX
 * frames while the kernel takes them all.  ret_errors[i] is set for every
 * frame: 0, or the -errno the kernel gave for it (that frame is skipped
 * and the call repeated for the rest; -EIO for a frame sent short).
 * Returns the number of frames sent. */
struct iovec;
size_t vsm_packet_send_batch(int fd, const struct iovec *frames, size_t n, int *ret_errors);

/* Reads one frame into buf and where it came from: *ret_sll (zeroed first)
 * and *ret_sll_len, the address length the socket gave (0 from a
 * socketpair()).  Returns its length or -errno: -EAGAIN when nothing is
 * left, -EMSGSIZE for a frame larger than cap (consumed).  Retries after
 * EINTR. */
ssize_t vsm_packet_recv_from(int fd, void *buf, size_t cap, struct sockaddr_ll *ret_sll, socklen_t *ret_sll_len);

/* Reads one frame into buf.  Returns its length, 0 when nothing is left
 * (EAGAIN), or -errno.  Truncated frames (larger than cap) are reported as
 * -EMSGSIZE and consumed.  Frames we sent ourselves (PACKET_OUTGOING) are
 * reported as 0-length ignores via *ret_outgoing. */
ssize_t vsm_packet_recv(int fd, void *buf, size_t cap, gboolean *ret_outgoing);

/* Interface lookups via ioctl: index and MAC; 0 or -errno. */
int vsm_link_lookup(const char *ifname, int *ret_ifindex, uint8_t ret_mac[VSM_ETH_ALEN]);

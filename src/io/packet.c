/* AF_PACKET sockets for ECP22 and LLDP on an uplink.
 *
 * The BPF program accepts only untagged frames with ethertype 0x8940 (ECP,
 * IEEE 802.1Qbg-2012 clause 43) or 0x88cc (LLDP, IEEE 802.1AB), so the
 * daemon never wakes up for ordinary traffic. */
#include "io/packet.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

VsmPacketOpenFunc vsm_packet_open_func = vsm_packet_open;

static int packet_add_membership(int fd, int ifindex, const uint8_t addr[VSM_ETH_ALEN]) {
        struct packet_mreq mreq = {
                .mr_ifindex = ifindex,
                .mr_type = PACKET_MR_MULTICAST,
                .mr_alen = VSM_ETH_ALEN,
        };

        memcpy(mreq.mr_address, addr, VSM_ETH_ALEN);
        if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) < 0)
                return -errno;
        return 0;
}

int vsm_packet_open_filtered(int ifindex, const struct sock_filter *filter, size_t n_filter) {
        const struct sock_fprog fprog = {
                .len = (unsigned short) n_filter,
                .filter = (struct sock_filter *) filter,
        };
        struct sockaddr_ll sll = {
                .sll_family = AF_PACKET,
                .sll_protocol = htons(ETH_P_ALL),
                .sll_ifindex = ifindex,
        };
        int fd, r;

        g_return_val_if_fail(filter && n_filter > 0 && n_filter <= BPF_MAXINSNS, -EINVAL);

        /* Created with protocol 0 so no frame is queued before the filter
         * is attached; bind() then starts delivery. */
        fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) < 0 ||
            bind(fd, (struct sockaddr *) &sll, sizeof(sll)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int vsm_packet_open(int ifindex) {
        static const struct sock_filter filter[] = {
                BPF_STMT(BPF_LD + BPF_H + BPF_ABS, 12),                     /* ethertype */
                BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, VSM_ETH_P_ECP, 1, 0),
                BPF_JUMP(BPF_JMP + BPF_JEQ + BPF_K, VSM_ETH_P_LLDP, 0, 1),
                BPF_STMT(BPF_RET + BPF_K, VSM_ETH_FRAME_MAX),               /* accept */
                BPF_STMT(BPF_RET + BPF_K, 0),                               /* drop */
        };
        int fd, r;

        fd = vsm_packet_open_filtered(ifindex, filter, G_N_ELEMENTS(filter));
        if (fd < 0)
                return fd;
        /* Our own transmissions are of no interest (kernel >= 4.20). */
        (void) setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &(int) { 1 }, sizeof(int));
        r = packet_add_membership(fd, ifindex, vsm_eth_addr_nearest_bridge);
        if (r >= 0)
                r = packet_add_membership(fd, ifindex, vsm_eth_addr_lldp_multicast);
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
}

int vsm_packet_send(int fd, const void *frame, size_t len) {
        ssize_t n;

        do
                n = send(fd, frame, len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

size_t vsm_packet_send_batch(int fd, const struct iovec *frames, size_t n, int *ret_errors) {
        struct mmsghdr msgs[VSM_PACKET_BATCH_MAX];
        size_t off = 0, sent = 0;

        while (off < n) {
                unsigned int k = (unsigned int) MIN(n - off, (size_t) VSM_PACKET_BATCH_MAX);
                int r;

                memset(msgs, 0, sizeof(msgs[0]) * k);
                for (unsigned int i = 0; i < k; i++) {
                        msgs[i].msg_hdr.msg_iov = (struct iovec *) &frames[off + i];
                        msgs[i].msg_hdr.msg_iovlen = 1;
                }
                do
                        r = sendmmsg(fd, msgs, k, MSG_NOSIGNAL);
                while (r < 0 && errno == EINTR);
                if (r < 0) {
                        /* The first frame of this call was refused: say
                         * it, go on with the next (as one send() each did). */
                        ret_errors[off++] = -errno;
                        continue;
                }
                if (r == 0) {
                        ret_errors[off++] = -EIO;   /* never seen; no endless loop */
                        continue;
                }
                for (int i = 0; i < r; i++) {
                        if (msgs[i].msg_len == frames[off + (size_t) i].iov_len) {
                                ret_errors[off + (size_t) i] = 0;
                                sent++;
                        } else {
                                ret_errors[off + (size_t) i] = -EIO;
                        }
                }
                /* Fewer than asked: the next frame's error (if any) comes
                 * from the next call. */
                off += (size_t) r;
        }
        return sent;
}

ssize_t vsm_packet_recv_from(int fd, void *buf, size_t cap, struct sockaddr_ll *ret_sll, socklen_t *ret_sll_len) {
        struct iovec iov = { .iov_base = buf, .iov_len = cap };
        struct msghdr msg = {
                .msg_name = ret_sll,
                .msg_namelen = sizeof(*ret_sll),
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };
        ssize_t n;

        memset(ret_sll, 0, sizeof(*ret_sll));
        do
                n = recvmsg(fd, &msg, MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        *ret_sll_len = msg.msg_namelen;
        if (n < 0)
                return (errno == EAGAIN || errno == EWOULDBLOCK) ? -EAGAIN : -errno;
        if ((size_t) n > cap || (msg.msg_flags & MSG_TRUNC))
                return -EMSGSIZE;
        return n;
}

ssize_t vsm_packet_recv(int fd, void *buf, size_t cap, gboolean *ret_outgoing) {
        struct sockaddr_ll sll;
        socklen_t sll_len;
        ssize_t n;

        *ret_outgoing = FALSE;
        n = vsm_packet_recv_from(fd, buf, cap, &sll, &sll_len);
        if (n == -EAGAIN)
                return 0;
        if (n < 0)
                return n;
        /* A socketpair() seam has no sockaddr_ll. */
        if (sll_len >= sizeof(sll) && sll.sll_family == AF_PACKET && sll.sll_pkttype == PACKET_OUTGOING)
                *ret_outgoing = TRUE;
        return n;
}

int vsm_link_lookup(const char *ifname, int *ret_ifindex, uint8_t ret_mac[VSM_ETH_ALEN]) {
        struct ifreq ifr = {};
        int fd, ifindex, r = 0;

        if (strlen(ifname) >= IFNAMSIZ)
                return -EINVAL;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
        if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
                r = -errno;
                goto out;
        }
        ifindex = ifr.ifr_ifindex;
        if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
                r = -errno;
                goto out;
        }
        *ret_ifindex = ifindex;
        memcpy(ret_mac, ifr.ifr_hwaddr.sa_data, VSM_ETH_ALEN);
out:
        close(fd);
        return r;
}

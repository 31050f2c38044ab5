/* rtnetlink link queries (libnl-route-3). */
#include "io/netlink.h"

#include <errno.h>
#include <netlink/errno.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <string.h>

typedef struct nl_sock VsmNlSock;
typedef struct rtnl_link VsmRtnlLink;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmNlSock, nl_socket_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmRtnlLink, rtnl_link_put)

int vsm_link_get_master(const char *ifname, char ret[16]) {
        g_autoptr(VsmNlSock) sk = nl_socket_alloc();
        g_autoptr(VsmRtnlLink) link = NULL;
        g_autoptr(VsmRtnlLink) master = NULL;
        int r, idx;

        if (!sk)
                return -ENOMEM;
        if (nl_connect(sk, NETLINK_ROUTE) < 0)
                return -EIO;
        r = rtnl_link_get_kernel(sk, 0, ifname, &link);
        if (r < 0)
                return r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV ? -ENODEV : -EIO;
        idx = rtnl_link_get_master(link);
        if (idx <= 0)
                return -ENOENT;
        r = rtnl_link_get_kernel(sk, idx, NULL, &master);
        if (r < 0)
                return -EIO;
        if (!rtnl_link_get_name(master) || strlen(rtnl_link_get_name(master)) >= 16)
                return -EIO;
        strcpy(ret, rtnl_link_get_name(master));
        return 0;
}

/* ---- link notifications ---- */

#include <glib-unix.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

struct VsmLinkMonitor {
        int fd;
        guint io_id;
        VsmLinkEventFunc func;
        gpointer user_data;
};

int vsm_link_monitor_parse(const void *buf, size_t len, VsmLinkEventFunc func, gpointer user_data) {
        const uint8_t *p = buf;
        int n = 0;

        while (len >= sizeof(struct nlmsghdr)) {
                struct nlmsghdr h;
                struct ifinfomsg ifi;
                VsmLinkEvent ev = {};
                size_t off, msglen;

                memcpy(&h, p, sizeof(h));
                if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
                        return -EBADMSG;
                msglen = h.nlmsg_len;
                if (h.nlmsg_type == NLMSG_DONE)
                        break;
                if ((h.nlmsg_type != RTM_NEWLINK && h.nlmsg_type != RTM_DELLINK) ||
                    msglen < NLMSG_HDRLEN + sizeof(ifi))
                        goto next;
                memcpy(&ifi, p + NLMSG_HDRLEN, sizeof(ifi));
                ev.type = h.nlmsg_type == RTM_NEWLINK ? VSM_LINK_EVENT_NEW : VSM_LINK_EVENT_DEL;
                ev.ifindex = ifi.ifi_index;
                ev.flags = ifi.ifi_flags;
                /* Attributes, each bounded by the message. */
                off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifi));
                while (off + sizeof(struct rtattr) <= msglen) {
                        struct rtattr a;

                        memcpy(&a, p + off, sizeof(a));
                        if (a.rta_len < sizeof(a) || a.rta_len > msglen - off)
                                break;
                        if (a.rta_type == IFLA_IFNAME) {
                                size_t l = a.rta_len - RTA_LENGTH(0);
                                const char *s = (const char *) p + off + RTA_LENGTH(0);

                                l = strnlen(s, l);
                                if (l < sizeof(ev.ifname)) {
                                        memcpy(ev.ifname, s, l);
                                        ev.ifname[l] = '\0';
                                }
                        }
                        off += RTA_ALIGN(a.rta_len);
                }
                if (ev.ifindex > 0) {
                        func(&ev, user_data);
                        n++;
                }
next:
                msglen = NLMSG_ALIGN(msglen);
                if (msglen >= len)
                        break;
                p += msglen;
                len -= msglen;
        }
        return n;
}

static gboolean link_monitor_readable(gint fd, GIOCondition cond, gpointer user_data) {
        VsmLinkMonitor *m = user_data;
        /* Aligned for the nlmsghdr/ifinfomsg casts the kernel expects. */
        union {
                struct nlmsghdr h;
                uint8_t b[16384];
        } buf;

        (void) cond;
        /* A bounded batch per wake-up, so a link storm cannot starve the loop. */
        for (int i = 0; i < 32; i++) {
                struct sockaddr_nl sa = {};
                struct iovec iov = { .iov_base = buf.b, .iov_len = sizeof(buf.b) };
                struct msghdr msg = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == ENOBUFS) {
                                VsmLinkEvent ev = { .type = VSM_LINK_EVENT_LOST };

                                m->func(&ev, m->user_data);
                                continue;
                        }
                        break;
                }
                if (n == 0)
                        break;
                /* Only the kernel speaks on this socket. */
                if (sa.nl_pid != 0 || (msg.msg_flags & MSG_TRUNC))
                        continue;
                (void) vsm_link_monitor_parse(buf.b, (size_t) n, m->func, m->user_data);
        }
        return G_SOURCE_CONTINUE;
}

VsmLinkMonitor *vsm_link_monitor_new(VsmLinkEventFunc func, gpointer user_data) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
        VsmLinkMonitor *m;
        int fd;

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
        if (fd < 0)
                return NULL;
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int) { 1 << 20 }, sizeof(int));
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = errno;

                close(fd);
                errno = e;
                return NULL;
        }
        m = g_new0(VsmLinkMonitor, 1);
        m->fd = fd;
        m->func = func;
        m->user_data = user_data;
        m->io_id = g_unix_fd_add(fd, G_IO_IN, link_monitor_readable, m);
        return m;
}

void vsm_link_monitor_free(VsmLinkMonitor *m) {
        if (!m)
                return;
        g_clear_handle_id(&m->io_id, g_source_remove);
        close(m->fd);
        g_free(m);
}

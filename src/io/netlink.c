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

static guint64 link_n_queries;
static int link_table_get_master(const char *ifname, char ret[16]);

guint64 vsm_link_n_queries(void) {
        return link_n_queries;
}

int vsm_link_get_master(const char *ifname, char ret[16]) {
        g_autoptr(VsmNlSock) sk = NULL;
        g_autoptr(VsmRtnlLink) link = NULL;
        g_autoptr(VsmRtnlLink) master = NULL;
        int r, idx;

        r = link_table_get_master(ifname, ret);
        if (r != -EAGAIN)
                return r;
        link_n_queries++;
        sk = nl_socket_alloc();

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
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

struct VsmLinkMonitor {
        int fd;
        guint io_id;
        VsmLinkEventFunc func;
        gpointer user_data;
        guint32 portid;                /* our netlink port: tells our dump's replies */
        guint32 seq;
        gboolean dumping;              /* a dump is running */
        gboolean in_sync;              /* the table holds every link */
        gboolean dump_lost;            /* a datagram was lost during the dump */
        GHashTable *links;             /* ifindex -> LinkEntry, owned */
        GHashTable *names;             /* name -> LinkEntry (borrowed) */
};

/* A message's origin: a reply to our own dump (NLM_F_MULTI, our port) or
 * a notification. */
typedef void (*LinkParseFunc)(const VsmLinkEvent *ev, gboolean dump_reply, gpointer user_data);

static int link_parse(const void *buf, size_t len, guint32 portid, gboolean *ret_done, LinkParseFunc func,
                      gpointer user_data) {
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
                if ((h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR) && portid && h.nlmsg_pid == portid) {
                        if (ret_done)
                                *ret_done = TRUE;
                        break;
                }
                if (h.nlmsg_type == NLMSG_DONE)
                        break;
                if ((h.nlmsg_type != RTM_NEWLINK && h.nlmsg_type != RTM_DELLINK) ||
                    msglen < NLMSG_HDRLEN + sizeof(ifi))
                        goto next;
                memcpy(&ifi, p + NLMSG_HDRLEN, sizeof(ifi));
                ev.type = h.nlmsg_type == RTM_NEWLINK ? VSM_LINK_EVENT_NEW : VSM_LINK_EVENT_DEL;
                ev.ifindex = ifi.ifi_index;
                ev.flags = ifi.ifi_flags;
                ev.family = ifi.ifi_family;
                /* Attributes, each bounded by the message. */
                off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifi));
                while (off + sizeof(struct rtattr) <= msglen) {
                        struct rtattr a;

                        memcpy(&a, p + off, sizeof(a));
                        if (a.rta_len < sizeof(a) || a.rta_len > msglen - off)
                                break;
                        if (a.rta_type == IFLA_MASTER && a.rta_len >= RTA_LENGTH(sizeof(uint32_t))) {
                                uint32_t v;

                                memcpy(&v, p + off + RTA_LENGTH(0), sizeof(v));
                                ev.master = v <= G_MAXINT ? (int) v : 0;
                        }
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
                        func(&ev, portid && h.nlmsg_pid == portid && (h.nlmsg_flags & NLM_F_MULTI), user_data);
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

typedef struct ParseAdapter {
        VsmLinkEventFunc func;
        gpointer user_data;
} ParseAdapter;

static void parse_adapter(const VsmLinkEvent *ev, gboolean dump_reply, gpointer user_data) {
        ParseAdapter *a = user_data;

        (void) dump_reply;
        a->func(ev, a->user_data);
}

int vsm_link_monitor_parse(const void *buf, size_t len, VsmLinkEventFunc func, gpointer user_data) {
        ParseAdapter a = { func, user_data };

        return link_parse(buf, len, 0, NULL, parse_adapter, &a);
}

/* ---- the table of links ---- */

#define LINK_TABLE_MAX 65536           /* links kept; more and the table is out of sync */

typedef struct LinkEntry {
        int ifindex;
        int master;
        char name[16];
} LinkEntry;

static VsmLinkMonitor *table_monitor;  /* the newest monitor: answers vsm_link_get_master() */

static void table_del(VsmLinkMonitor *m, int ifindex) {
        LinkEntry *e = g_hash_table_lookup(m->links, GINT_TO_POINTER(ifindex));

        if (!e)
                return;
        if (g_hash_table_lookup(m->names, e->name) == e)
                g_hash_table_remove(m->names, e->name);
        g_hash_table_remove(m->links, GINT_TO_POINTER(ifindex));
}

static void table_update(VsmLinkMonitor *m, const VsmLinkEvent *ev) {
        LinkEntry *e;

        if (ev->type == VSM_LINK_EVENT_DEL) {
                /* The bridge's RTM_DELLINK (AF_BRIDGE) for a port says it
                 * left the bridge, not that it is gone: the link's own
                 * RTM_NEWLINK (without IFLA_MASTER) follows. */
                if (ev->family != AF_BRIDGE)
                        table_del(m, ev->ifindex);
                return;
        }
        if (ev->type != VSM_LINK_EVENT_NEW || !ev->ifname[0])
                return;
        e = g_hash_table_lookup(m->links, GINT_TO_POINTER(ev->ifindex));
        if (!e) {
                if (g_hash_table_size(m->links) >= LINK_TABLE_MAX) {
                        m->in_sync = FALSE;    /* bounded: fall back to asking the kernel */
                        return;
                }
                e = g_new0(LinkEntry, 1);
                e->ifindex = ev->ifindex;
                g_hash_table_insert(m->links, GINT_TO_POINTER(e->ifindex), e);
        } else if (!g_str_equal(e->name, ev->ifname) && g_hash_table_lookup(m->names, e->name) == e) {
                g_hash_table_remove(m->names, e->name);        /* renamed */
        }
        /* A notification always carries the full state: no IFLA_MASTER is no master. */
        e->master = ev->master;
        g_strlcpy(e->name, ev->ifname, sizeof(e->name));
        g_hash_table_insert(m->names, e->name, e);
}

static int link_table_get_master(const char *ifname, char ret[16]) {
        if (!table_monitor)
                return -EAGAIN;
        return vsm_link_monitor_get_master(table_monitor, ifname, ret);
}

int vsm_link_monitor_get_master(VsmLinkMonitor *m, const char *ifname, char ret[16]) {
        LinkEntry *e, *me;

        if (!m->in_sync)
                return -EAGAIN;
        e = g_hash_table_lookup(m->names, ifname);
        if (!e)
                return -ENODEV;
        if (e->master <= 0)
                return -ENOENT;
        me = g_hash_table_lookup(m->links, GINT_TO_POINTER(e->master));
        if (!me)
                return -EAGAIN;        /* a master we have not seen: ask the kernel */
        memcpy(ret, me->name, sizeof(me->name));
        return 0;
}

guint vsm_link_monitor_n_links(VsmLinkMonitor *m) {
        return g_hash_table_size(m->links);
}

static void monitor_on_message(const VsmLinkEvent *ev, gboolean dump_reply, gpointer user_data) {
        VsmLinkMonitor *m = user_data;

        table_update(m, ev);
        /* Our own dump's replies are state, not news: not passed on. */
        if (!dump_reply && m->func)
                m->func(ev, m->user_data);
}

/* Asks for every link (RTM_GETLINK, NLM_F_DUMP) on the monitor's socket. */
static int monitor_request_dump(VsmLinkMonitor *m) {
        struct {
                struct nlmsghdr h;
                struct ifinfomsg ifi;
        } req = {
                .h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
                       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = ++m->seq },
                .ifi = { .ifi_family = AF_UNSPEC },
        };
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

        if (sendto(m->fd, &req, sizeof(req), 0, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        m->dumping = TRUE;
        m->dump_lost = FALSE;
        return 0;
}

/* One datagram: the table, the callback, the end of our dump. */
static int monitor_consume(VsmLinkMonitor *m, const void *buf, size_t len) {
        gboolean done = FALSE;
        int r = link_parse(buf, len, m->portid, &done, monitor_on_message, m);

        if (done && m->dumping) {
                m->dumping = FALSE;
                m->in_sync = !m->dump_lost && g_hash_table_size(m->links) < LINK_TABLE_MAX;
                m->dump_lost = FALSE;
        }
        return r;
}

static gboolean link_monitor_readable(gint fd, GIOCondition cond, gpointer user_data) {
        VsmLinkMonitor *m = user_data;
        /* Aligned for the nlmsghdr/ifinfomsg casts the kernel expects. */
        union {
                struct nlmsghdr h;
                uint8_t b[32768];      /* the most the kernel puts in one datagram */
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

                                /* The table missed something: a new dump
                                 * (a running one may have lost replies too). */
                                m->in_sync = FALSE;
                                if (monitor_request_dump(m) < 0)
                                        m->dumping = FALSE;
                                m->func(&ev, m->user_data);
                                continue;
                        }
                        break;
                }
                if (n == 0)
                        break;
                /* Only the kernel speaks on this socket. */
                if (sa.nl_pid != 0)
                        continue;
                if (msg.msg_flags & MSG_TRUNC) {
                        m->dump_lost = TRUE;   /* whatever it held, the table missed it */
                        m->in_sync = FALSE;
                        continue;
                }
                if (monitor_consume(m, buf.b, (size_t) n) < 0)
                        break;
        }
        return G_SOURCE_CONTINUE;
}

/* The one dump at start, read here (bounded: 2 s): the table starts
 * complete.  Notifications read meanwhile update the table but are not
 * passed on (the caller is still setting up). */
static void monitor_prime(VsmLinkMonitor *m) {
        union {
                struct nlmsghdr h;
                uint8_t b[32768];
        } buf;
        gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
        VsmLinkEventFunc func = m->func;

        if (monitor_request_dump(m) < 0)
                return;
        m->func = NULL;
        while (m->dumping) {
                struct pollfd pfd = { .fd = m->fd, .events = POLLIN };
                gint64 left = end - g_get_monotonic_time();
                ssize_t n;

                if (left <= 0 || poll(&pfd, 1, (int) (left / 1000) + 1) <= 0)
                        break;
                {
                        struct sockaddr_nl sa = {};
                        socklen_t sl = sizeof(sa);

                        n = recvfrom(m->fd, buf.b, sizeof(buf.b), MSG_DONTWAIT, (struct sockaddr *) &sa, &sl);
                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n <= 0)
                                break;
                        /* Only the kernel speaks on this socket (as in the
                         * dispatch above). */
                        if (sl < sizeof(sa) || sa.nl_pid != 0)
                                continue;
                }
                if (monitor_consume(m, buf.b, (size_t) n) < 0)
                        break;
        }
        m->func = func;
        if (m->dumping) {
                /* Not complete: stays out of sync (vsm_link_get_master asks the kernel). */
                m->dumping = FALSE;
                m->in_sync = FALSE;
        }
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
        m->links = g_hash_table_new_full(NULL, NULL, NULL, g_free);
        m->names = g_hash_table_new(g_str_hash, g_str_equal);
        {
                struct sockaddr_nl me = {};
                socklen_t l = sizeof(me);

                if (getsockname(fd, (struct sockaddr *) &me, &l) == 0)
                        m->portid = me.nl_pid;
        }
        monitor_prime(m);
        m->io_id = g_unix_fd_add(fd, G_IO_IN, link_monitor_readable, m);
        table_monitor = m;
        return m;
}

void vsm_link_monitor_free(VsmLinkMonitor *m) {
        if (!m)
                return;
        if (table_monitor == m)
                table_monitor = NULL;
        g_clear_handle_id(&m->io_id, g_source_remove);
        close(m->fd);
        g_hash_table_unref(m->names);
        g_hash_table_unref(m->links);
        g_free(m);
}

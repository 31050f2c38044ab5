/* rtnetlink link queries: the IFLA_LINK walk, bridge ports, bridge port
 * VLANs (see linkchain.h).  Raw NETLINK_ROUTE (linux/rtnetlink.h): an
 * RTM_GETLINK for one ifindex or name with IFLA_EXT_MASK, or a dump
 * (NLM_F_DUMP) of family AF_BRIDGE with RTEXT_FILTER_BRVLAN_COMPRESSED (the kernel's
 * rtnl_bridge_getlink(): one answer per bridge port), or of AF_UNSPEC
 * with IFLA_MASTER (rtnl_dump_ifinfo() filters by master). */
#include "io/linkchain.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* One answer must fit: a port with every VLAN is ~33 KiB uncompressed. */
#define LINKCHAIN_BUF 65536
/* Answers read per dump at most (a dump is bounded by the host's links). */
#define LINKCHAIN_DUMP_MSGS_MAX 65536

typedef struct Req {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
        char attrs[64];
} Req;

static void req_attr(Req *q, unsigned short type, const void *data, size_t len) {
        struct rtattr *rta = (struct rtattr *) ((char *) q + NLMSG_ALIGN(q->nh.nlmsg_len));

        rta->rta_type = type;
        rta->rta_len = (unsigned short) RTA_LENGTH(len);
        memcpy(RTA_DATA(rta), data, len);
        q->nh.nlmsg_len = NLMSG_ALIGN(q->nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

static int nl_open(void) {
        struct timeval tv = { .tv_sec = 1 };
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

        if (fd < 0)
                return -errno;
        /* The kernel answers at once; never hang on it. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

typedef int (*MsgFunc)(const struct nlmsghdr *nh, void *ctx);

/* Send q; hand each RTM_NEWLINK answer to fn until the single answer or
 * NLMSG_DONE.  fn returns < 0 to fail, 0 to go on. */
static int nl_transact(Req *q, MsgFunc fn, void *ctx) {
        g_autofree uint8_t *buf = g_malloc(LINKCHAIN_BUF);
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        gboolean dump = (q->nh.nlmsg_flags & NLM_F_DUMP) != 0;
        guint n_msgs = 0;
        int fd = nl_open(), r = 0;

        if (fd < 0)
                return fd;
        q->nh.nlmsg_seq = 1;
        if (sendto(fd, q, q->nh.nlmsg_len, 0, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                goto out;
        }
        for (;;) {
                struct sockaddr_nl from = { 0 };
                socklen_t fl = sizeof(from);
                ssize_t n = recvfrom(fd, buf, LINKCHAIN_BUF, MSG_TRUNC, (struct sockaddr *) &from, &fl);
                size_t left;
                struct nlmsghdr *nh;

                if (n < 0) {
                        r = errno == EAGAIN ? -ETIMEDOUT : -errno;
                        goto out;
                }
                /* Only the kernel answers: any local process may send
                 * unicast to our (guessable) port, e.g. a forged RTM_NEWLINK
                 * with seq 1 naming another lower device or VLAN. */
                if (fl < sizeof(from) || from.nl_pid != 0)
                        continue;
                if (n > LINKCHAIN_BUF) {
                        r = -EMSGSIZE;
                        goto out;
                }
                left = (size_t) n;
                for (nh = (struct nlmsghdr *) buf; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
                        if (nh->nlmsg_seq != 1)
                                continue;
                        if (nh->nlmsg_type == NLMSG_DONE)
                                goto out;
                        if (nh->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(nh);

                                r = nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) ? e->error : -EBADMSG;
                                if (r == 0 && !dump)
                                        r = -ENODATA;
                                goto out;
                        }
                        if (nh->nlmsg_type != RTM_NEWLINK)
                                continue;
                        if (++n_msgs > LINKCHAIN_DUMP_MSGS_MAX) {
                                r = -E2BIG;
                                goto out;
                        }
                        r = fn(nh, ctx);
                        if (r < 0 || !dump)
                                goto out;
                }
        }
out:
        close(fd);
        return r;
}

static int on_one(const struct nlmsghdr *nh, void *ctx) {
        return vsm_rtlink_parse(nh, nh->nlmsg_len, ctx);
}

/* See linkchain.h. */
int vsm_linkchain_get(int ifindex, const char *name, VsmRtLink *ret) {
        Req q = { 0 };
        uint32_t mask = 0;
        VsmRtLink l;
        int r;

        if (ifindex <= 0 && (!name || !*name || strlen(name) >= IF_NAMESIZE))
                return -EINVAL;
        q.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        q.nh.nlmsg_type = RTM_GETLINK;
        q.nh.nlmsg_flags = NLM_F_REQUEST;
        q.ifi.ifi_family = AF_UNSPEC;
        q.ifi.ifi_index = ifindex > 0 ? ifindex : 0;
        if (ifindex <= 0)
                req_attr(&q, IFLA_IFNAME, name, strlen(name) + 1);
        req_attr(&q, IFLA_EXT_MASK, &mask, sizeof(mask));
        r = nl_transact(&q, on_one, &l);
        if (r == -ENODATA)
                return -ENODEV;
        if (r < 0)
                return r;
        *ret = l;
        return 0;
}

/* See linkchain.h. */
int vsm_linkchain_walk(const char *ifname, VsmRtLink *ret, size_t max, size_t *ret_n) {
        size_t n = 0;
        int r;

        if (max == 0)
                return -EINVAL;
        r = vsm_linkchain_get(0, ifname, &ret[0]);
        if (r < 0)
                return r;
        n = 1;
        for (;;) {
                const VsmRtLink *cur = &ret[n - 1];

                /* A veth's IFLA_LINK is its peer's index in another netns
                 * (measured, research/qbg-testbed-facts.md): not ours. */
                if (cur->link <= 0 || cur->link_netnsid || cur->link == cur->ifindex)
                        break;
                for (size_t i = 0; i < n; i++)
                        if (ret[i].ifindex == cur->link)
                                return -ELOOP;
                if (n == max)
                        return -ELOOP;
                r = vsm_linkchain_get(cur->link, NULL, &ret[n]);
                if (r < 0)
                        return r;
                n++;
        }
        *ret_n = n;
        return 0;
}

typedef struct FindCtx {
        int ifindex;
        VsmRtLink *ret;
        gboolean found;
} FindCtx;

static int on_brvlan(const struct nlmsghdr *nh, void *ctx) {
        FindCtx *fc = ctx;
        const struct ifinfomsg *ifi = NLMSG_DATA(nh);

        if (fc->found || nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)) || ifi->ifi_index != fc->ifindex)
                return 0;
        if (vsm_rtlink_parse(nh, nh->nlmsg_len, fc->ret) < 0)
                return -EBADMSG;
        fc->found = TRUE;
        return 0;
}

/* See linkchain.h. */
int vsm_linkchain_brvlan(int ifindex, VsmRtLink *ret) {
        g_autofree VsmRtLink *l = g_new0(VsmRtLink, 1);
        FindCtx fc = { .ifindex = ifindex, .ret = l };
        Req q = { 0 };
        /* Ranges as RANGE_BEGIN/RANGE_END pairs (br_fill_ifvlaninfo_range()):
         * a trunk port's answer stays small. */
        uint32_t mask = RTEXT_FILTER_BRVLAN_COMPRESSED;
        int r;

        q.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        q.nh.nlmsg_type = RTM_GETLINK;
        q.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        q.ifi.ifi_family = AF_BRIDGE;
        req_attr(&q, IFLA_EXT_MASK, &mask, sizeof(mask));
        r = nl_transact(&q, on_brvlan, &fc);
        if (r < 0)
                return r;
        if (!fc.found)
                return -ENOENT;
        *ret = *l;
        return 0;
}

typedef struct PortsCtx {
        int master;
        GArray *ret;
} PortsCtx;

static int on_port(const struct nlmsghdr *nh, void *ctx) {
        PortsCtx *pc = ctx;
        VsmRtLink l;

        if (pc->ret->len >= VSM_LINKCHAIN_PORTS_MAX)
                return 0;
        if (vsm_rtlink_parse(nh, nh->nlmsg_len, &l) < 0)
                return -EBADMSG;
        /* Older kernels ignore the filter: check it here too. */
        if (l.master == pc->master)
                g_array_append_val(pc->ret, l);
        return 0;
}

/* See linkchain.h. */
int vsm_linkchain_ports(int master, GArray *ret) {
        PortsCtx pc = { .master = master, .ret = ret };
        Req q = { 0 };
        uint32_t m = (uint32_t) master;

        q.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        q.nh.nlmsg_type = RTM_GETLINK;
        q.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        q.ifi.ifi_family = AF_UNSPEC;
        req_attr(&q, IFLA_MASTER, &m, sizeof(m));
        return nl_transact(&q, on_port, &pc);
}

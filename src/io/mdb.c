/* The kernel bridge's multicast database over rtnetlink: RTM_NEWMDB,
 * RTM_DELMDB (MDBA_SET_ENTRY carrying struct br_mdb_entry) and the
 * RTM_GETMDB dump (MDBA_MDB / MDBA_MDB_ENTRY / MDBA_MDB_ENTRY_INFO), see
 * <linux/if_bridge.h>.  libnl 3.7's rtnl_mdb cache is read-only
 * (DESIGN.md section 4), so the requests are built with libnl's message
 * API and the dump is parsed here.
 *
 * Every call opens its own netlink socket: the calls are rare (one per
 * group per migration) and a private socket keeps sequence numbers and
 * errors of concurrent users apart.  A custom error callback keeps the
 * kernel's errno, which libnl would otherwise fold into its NLE_ codes.
 */
#include "io/mdb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_bridge.h>
#include <linux/netlink.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

typedef struct nl_sock VsmNlSock;
typedef struct nl_msg VsmNlMsg;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmNlSock, nl_socket_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmNlMsg, nlmsg_free)

/* The kernel's answer to one request. */
typedef struct MdbRequest {
        int kernel_errno;              /* from NLMSG_ERROR, 0 if none */
        char *reason;                  /* its extended ack message, or NULL */
        /* dump only */
        int bridge_ifindex;
        int port_ifindex;
        guint max;
        guint truncated;
        GArray *entries;
} MdbRequest;

/* libnl's codes for what it saw itself (send/receive failures). */
static int nlerr_to_errno(int nlerr) {
        switch (nlerr < 0 ? -nlerr : nlerr) {
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_INTR:
                return -EINTR;
        case NLE_AGAIN:
                return -EAGAIN;
        case NLE_MSGSIZE:
                return -EMSGSIZE;
        case NLE_PERM:
                return -EPERM;
        default:
                return -EIO;
        }
}

/* The NLMSGERR_ATTR_MSG of an extended ack (NETLINK_EXT_ACK): the TLVs
 * follow struct nlmsgerr and, unless NLM_F_CAPPED, the echoed request. */
static char *extack_message(const struct nlmsgerr *err) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) ((const char *) err - NLMSG_HDRLEN);
        size_t total = nlh->nlmsg_len, off = NLMSG_HDRLEN + sizeof(*err);
        const struct nlattr *a;
        int rem;

        if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || total < off)
                return NULL;
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
                if (err->msg.nlmsg_len < NLMSG_HDRLEN || err->msg.nlmsg_len - NLMSG_HDRLEN > total - off)
                        return NULL;
                off += NLMSG_ALIGN(err->msg.nlmsg_len - NLMSG_HDRLEN);
                if (off > total)
                        return NULL;
        }
        nla_for_each_attr(a, (const struct nlattr *) ((const char *) nlh + off), (int) (total - off), rem) {
                if (nla_type(a) == NLMSGERR_ATTR_MSG && nla_len(a) > 0)
                        return g_strndup(nla_data(a), (gsize) nla_len(a));
        }
        return NULL;
}

static int mdb_error_cb(struct sockaddr_nl *nla, struct nlmsgerr *err, void *arg) {
        MdbRequest *req = arg;

        if (!req)
                return NL_STOP;
        req->kernel_errno = err->error;     /* already negative */
        if (err->error < 0 && !req->reason)
                req->reason = extack_message(err);
        return NL_STOP;
}

static int mdb_socket_open(MdbRequest *req, VsmNlSock **ret) {
        g_autoptr(VsmNlSock) sk = nl_socket_alloc();
        int r;

        if (!sk)
                return -ENOMEM;
        r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0)
                return nlerr_to_errno(r);
        r = nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, mdb_error_cb, req);
        if (r < 0)
                return nlerr_to_errno(r);
        /* The kernel's reason with the errno (EINVAL alone says little). */
        (void) setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &(int) { 1 }, sizeof(int));
        *ret = g_steal_pointer(&sk);
        return 0;
}

/* The message header every MDB request starts with. */
static int mdb_msg_new(int type, int flags, int bridge_ifindex, VsmNlMsg **ret) {
        struct br_port_msg bpm = {
                .family = AF_BRIDGE,
                .ifindex = (uint32_t) bridge_ifindex,
        };
        g_autoptr(VsmNlMsg) msg = nlmsg_alloc_simple(type, flags);

        if (!msg)
                return -ENOMEM;
        if (nlmsg_append(msg, &bpm, sizeof(bpm), NLMSG_ALIGNTO) < 0)
                return -ENOMEM;
        *ret = g_steal_pointer(&msg);
        return 0;
}

/* The socket mdb_set() keeps between calls (the daemon uses it from the
 * main loop only). */
static VsmNlSock *set_sock;

static int mdb_set(int type, int flags, const VsmMdbEntry *e, char **ret_reason) {
        struct br_mdb_entry me = {
                .ifindex = (uint32_t) e->port_ifindex,
                .state = e->permanent ? MDB_PERMANENT : MDB_TEMPORARY,
                .vid = e->vid,
        };
        MdbRequest req = { 0 };
        g_autoptr(VsmNlSock) sk = NULL;
        g_autoptr(VsmNlMsg) msg = NULL;
        int r;

        g_return_val_if_fail(e, -EINVAL);

        if (e->is_ip6) {
                me.addr.proto = htons(ETH_P_IPV6);
                memcpy(&me.addr.u.ip6, e->group, VSM_IP6_ALEN);
        } else {
                me.addr.proto = htons(ETH_P_IP);
                memcpy(&me.addr.u.ip4, e->group, VSM_IP4_ALEN);
        }

        r = mdb_msg_new(type, flags, e->bridge_ifindex, &msg);
        if (r < 0)
                return r;
        if (nla_put(msg, MDBA_SET_ENTRY, sizeof(me), &me) < 0)
                return -ENOMEM;
        /* One socket for all updates: a replay adds hundreds of entries
         * and opening a socket per entry cost more than the entry. */
        if (!set_sock) {
                r = mdb_socket_open(&req, &set_sock);
                if (r < 0)
                        return r;
        }
        sk = g_steal_pointer(&set_sock);
        r = nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, mdb_error_cb, &req);
        if (r < 0)
                return nlerr_to_errno(r);
        r = nl_send_auto(sk, msg);
        if (r < 0)
                return nlerr_to_errno(r);      /* the socket is dropped */
        r = nl_wait_for_ack(sk);
        (void) nl_socket_modify_err_cb(sk, NL_CB_CUSTOM, mdb_error_cb, NULL);
        if (r >= 0 || req.kernel_errno < 0)
                set_sock = g_steal_pointer(&sk);        /* in sync: keep it */
        if (req.kernel_errno < 0) {
                if (ret_reason)
                        *ret_reason = g_steal_pointer(&req.reason);
                g_free(req.reason);
                return req.kernel_errno;
        }
        g_free(req.reason);
        if (r < 0)
                return nlerr_to_errno(r);
        return 0;
}

int vsm_mdb_add(const VsmMdbEntry *e) {
        return mdb_set(RTM_NEWMDB, NLM_F_CREATE | NLM_F_REPLACE, e, NULL);
}

int vsm_mdb_del(const VsmMdbEntry *e) {
        return mdb_set(RTM_DELMDB, 0, e, NULL);
}

int vsm_mdb_add_full(const VsmMdbEntry *e, char **ret_reason) {
        return mdb_set(RTM_NEWMDB, NLM_F_CREATE | NLM_F_REPLACE, e, ret_reason);
}

int vsm_mdb_del_full(const VsmMdbEntry *e, char **ret_reason) {
        return mdb_set(RTM_DELMDB, 0, e, ret_reason);
}

/* Whether the entry info's trailing attributes name a source, i.e. it is
 * an (S,G) entry rather than the port's (*,G) membership. */
static gboolean entry_has_source(const struct nlattr *info) {
        const struct nlattr *a;
        int rem, hlen = NLA_ALIGN(sizeof(struct br_mdb_entry));

        if (nla_len(info) <= hlen)
                return FALSE;
        nla_for_each_attr(a, (const struct nlattr *) ((const char *) nla_data(info) + hlen), nla_len(info) - hlen,
                          rem) {
                if (nla_type(a) == MDBA_MDB_EATTR_SOURCE)
                        return TRUE;
        }
        return FALSE;
}

static void dump_entry(MdbRequest *req, int bridge_ifindex, const struct nlattr *info) {
        struct br_mdb_entry me;
        VsmMdbEntry e = { .bridge_ifindex = bridge_ifindex };

        if (nla_len(info) < (int) sizeof(me))
                return;
        memcpy(&me, nla_data(info), sizeof(me));
        if ((int) me.ifindex != req->port_ifindex)
                return;
        if (me.addr.proto == htons(ETH_P_IP)) {
                memcpy(e.group, &me.addr.u.ip4, VSM_IP4_ALEN);
        } else if (me.addr.proto == htons(ETH_P_IPV6)) {
                e.is_ip6 = TRUE;
                memcpy(e.group, &me.addr.u.ip6, VSM_IP6_ALEN);
        } else {
                return;                 /* L2 (MAC) entries: not ours */
        }
        if (entry_has_source(info))
                return;
        e.port_ifindex = (int) me.ifindex;
        e.vid = me.vid;
        e.permanent = me.state == MDB_PERMANENT;

        if (req->entries->len >= req->max) {
                req->truncated++;
                return;
        }
        g_array_append_val(req->entries, e);
}

static int mdb_dump_cb(struct nl_msg *msg, void *arg) {
        MdbRequest *req = arg;
        struct nlmsghdr *nlh = nlmsg_hdr(msg);
        const struct br_port_msg *bpm;
        struct nlattr *a, *mdb, *entry;
        int rem, rem_mdb, rem_entry;

        /* Dump replies carry the request's type (RTM_GETMDB); notifications
         * RTM_NEWMDB.  Take either. */
        if ((nlh->nlmsg_type != RTM_GETMDB && nlh->nlmsg_type != RTM_NEWMDB) || !nlmsg_valid_hdr(nlh, sizeof(*bpm)))
                return NL_SKIP;
        bpm = nlmsg_data(nlh);
        if (req->bridge_ifindex > 0 && (int) bpm->ifindex != req->bridge_ifindex)
                return NL_SKIP;

        nlmsg_for_each_attr(a, nlh, sizeof(*bpm), rem) {
                if (nla_type(a) != MDBA_MDB)
                        continue;
                nla_for_each_nested(mdb, a, rem_mdb) {
                        if (nla_type(mdb) != MDBA_MDB_ENTRY)
                                continue;
                        nla_for_each_nested(entry, mdb, rem_entry) {
                                if (nla_type(entry) == MDBA_MDB_ENTRY_INFO)
                                        dump_entry(req, (int) bpm->ifindex, entry);
                        }
                }
        }
        return NL_OK;
}

GArray *vsm_mdb_list_port(int bridge_ifindex, int port_ifindex, guint max, guint *ret_truncated, int *ret_errno) {
        g_autoptr(GArray) entries = g_array_new(FALSE, TRUE, sizeof(VsmMdbEntry));
        MdbRequest req = {
                .bridge_ifindex = bridge_ifindex,
                .port_ifindex = port_ifindex,
                .max = max,
                .entries = entries,
        };
        g_autoptr(VsmNlSock) sk = NULL;
        g_autoptr(VsmNlMsg) msg = NULL;
        int r;

        /* The dump is not filtered by the kernel (a non-zero ifindex is
         * refused under strict checking): bridge and port are matched here. */
        r = mdb_msg_new(RTM_GETMDB, NLM_F_DUMP, 0, &msg);
        if (r < 0)
                goto fail;
        r = mdb_socket_open(&req, &sk);
        if (r < 0)
                goto fail;
        r = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, mdb_dump_cb, &req);
        if (r < 0) {
                r = nlerr_to_errno(r);
                goto fail;
        }
        r = nl_send_auto(sk, msg);
        if (r < 0) {
                r = nlerr_to_errno(r);
                goto fail;
        }
        r = nl_recvmsgs_default(sk);
        g_clear_pointer(&req.reason, g_free);
        if (req.kernel_errno < 0) {
                r = req.kernel_errno;
                goto fail;
        }
        if (r < 0) {
                r = nlerr_to_errno(r);
                goto fail;
        }
        if (ret_truncated)
                *ret_truncated = req.truncated;
        return g_steal_pointer(&entries);

fail:
        if (ret_errno)
                *ret_errno = r;
        return NULL;
}

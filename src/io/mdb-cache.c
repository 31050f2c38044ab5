/* The bridges' multicast databases, kept by notifications (io/mdb-cache.h).
 *
 * The messages are the ones the RTM_GETMDB dump returns (see
 * <linux/if_bridge.h>): struct br_port_msg (the bridge's ifindex), then
 * MDBA_MDB { MDBA_MDB_ENTRY { MDBA_MDB_ENTRY_INFO (struct br_mdb_entry,
 * then optional MDBA_MDB_EATTR_* attributes) ... } ... }.  Notifications
 * carry one entry each, with type RTM_NEWMDB or RTM_DELMDB.  Parsed here
 * with explicit bounds (libnl 3.7's rtnl_mdb cache is read-only and
 * would keep every entry of every bridge as an object, DESIGN.md
 * section 4).
 *
 * The dump and the notifications share one socket, so they are read in
 * the order the kernel made them: an entry a dump part lists was there
 * when that part was written, and a notification read after it is newer.
 * Entries are stamped with the epoch of the dump that saw them (or of the
 * notification that added them during it); at NLMSG_DONE the rest is
 * stale and removed. */
#include "io/mdb-cache.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "proto/inet.h"

#define MDB_CACHE_RECV_BUF (64 * 1024)      /* a dump part is at most 32 KiB */
#define MDB_CACHE_RECVS_PER_TURN 256        /* bounded work per main-loop turn ... */
#define MDB_CACHE_TURN_USEC 500             /* ... in count and in time */
#define MDB_CACHE_RCVBUF (4 * 1024 * 1024)  /* room for a burst of notifications */
#define MDB_CACHE_RETRY_SEC 1

/* One entry as kept: 28 octets (a VsmMdbEntry and its epoch took 40),
 * in arrays grown by MDB_PORT_GROW, not doubled: 25 k entries are
 * 0.7 MiB. */
typedef struct MdbSlot {
        uint8_t group[VSM_IP6_ALEN];
        int32_t bridge_ifindex;
        uint32_t epoch;
        uint16_t vid;
        uint8_t is_ip6;
        uint8_t permanent;
} MdbSlot;

#define MDB_PORT_GROW 8

typedef struct MdbPort {
        MdbSlot *slots;
        guint n, cap;
        gboolean truncated;
} MdbPort;

struct VsmMdbCache {
        guint max_entries, max_per_port;
        int rcvbuf;
        VsmMdbCacheChangedFunc changed;
        gpointer user_data;
        GHashTable *ports;             /* port ifindex -> MdbPort */
        guint n_entries;
        int fd;
        guint fd_source;
        guint retry_timer;
        uint8_t *buf;
        uint32_t seq;
        /* the dump in progress */
        gboolean dumping;
        uint32_t dump_seq;
        uint32_t epoch;
        gboolean dump_interrupted;     /* NLM_F_DUMP_INTR seen: redo */
        gboolean resync_wanted;        /* a notification was lost during the dump: redo */
        gboolean complete;
        guint64 notifications, dumps, resyncs, overflow, malformed;
};

static void port_free(gpointer p) {
        MdbPort *port = p;

        g_free(port->slots);
        g_free(port);
}

static void port_remove(MdbPort *port, guint i) {
        port->slots[i] = port->slots[--port->n];
        if (port->cap - port->n >= 2 * MDB_PORT_GROW) {
                port->cap -= MDB_PORT_GROW;
                port->slots = g_renew(MdbSlot, port->slots, port->cap);
        }
}

VsmMdbCache *vsm_mdb_cache_new(guint max_entries, guint max_per_port, VsmMdbCacheChangedFunc changed,
                               gpointer user_data) {
        VsmMdbCache *c = g_new0(VsmMdbCache, 1);

        c->max_entries = max_entries;
        c->max_per_port = max_per_port;
        c->changed = changed;
        c->user_data = user_data;
        c->ports = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, port_free);
        c->fd = -1;
        c->rcvbuf = MDB_CACHE_RCVBUF;
        return c;
}

void vsm_mdb_cache_set_rcvbuf(VsmMdbCache *c, int bytes) {
        c->rcvbuf = bytes;
}

VsmMdbCache *vsm_mdb_cache_free(VsmMdbCache *c) {
        if (!c)
                return NULL;
        g_clear_handle_id(&c->fd_source, g_source_remove);
        g_clear_handle_id(&c->retry_timer, g_source_remove);
        if (c->fd >= 0)
                close(c->fd);
        g_hash_table_unref(c->ports);
        g_free(c->buf);
        g_free(c);
        return NULL;
}

gboolean vsm_mdb_cache_is_complete(const VsmMdbCache *c) {
        return c && c->complete;
}

GArray *vsm_mdb_cache_port(const VsmMdbCache *c, int port_ifindex, gboolean *ret_truncated) {
        MdbPort *port = c ? g_hash_table_lookup(c->ports, GINT_TO_POINTER(port_ifindex)) : NULL;
        GArray *a;

        if (ret_truncated)
                *ret_truncated = port && port->truncated;
        if (!port || port->n == 0)
                return NULL;
        a = g_array_sized_new(FALSE, TRUE, sizeof(VsmMdbEntry), port->n);
        for (guint i = 0; i < port->n; i++) {
                const MdbSlot *sl = &port->slots[i];
                VsmMdbEntry e = {
                        .bridge_ifindex = sl->bridge_ifindex,
                        .port_ifindex = port_ifindex,
                        .is_ip6 = sl->is_ip6,
                        .vid = sl->vid,
                        .permanent = sl->permanent,
                };

                memcpy(e.group, sl->group, VSM_IP6_ALEN);
                g_array_append_val(a, e);
        }
        return a;
}

void vsm_mdb_cache_get_stats(const VsmMdbCache *c, VsmMdbCacheStats *ret) {
        *ret = (VsmMdbCacheStats) {
                .entries = c->n_entries,
                .ports = g_hash_table_size(c->ports),
                .notifications = c->notifications,
                .dumps = c->dumps,
                .resyncs = c->resyncs,
                .overflow = c->overflow,
                .malformed = c->malformed,
        };
}

/* ---- the table ---- */

static gboolean slot_is(const MdbSlot *sl, const VsmMdbEntry *e) {
        return sl->bridge_ifindex == e->bridge_ifindex && sl->is_ip6 == !!e->is_ip6 && sl->vid == e->vid &&
               memcmp(sl->group, e->group, VSM_IP6_ALEN) == 0;
}

static int port_find(const MdbPort *port, const VsmMdbEntry *e) {
        for (guint i = 0; i < port->n; i++)
                if (slot_is(&port->slots[i], e))
                        return (int) i;
        return -1;
}

static void notify(VsmMdbCache *c, int port_ifindex) {
        if (c->changed)
                c->changed(port_ifindex, c->user_data);
}

static void cache_add(VsmMdbCache *c, const VsmMdbEntry *e) {
        MdbPort *port = g_hash_table_lookup(c->ports, GINT_TO_POINTER(e->port_ifindex));
        int i;

        if (port && (i = port_find(port, e)) >= 0) {
                MdbSlot *old = &port->slots[i];

                old->epoch = c->epoch;
                if (old->permanent != !!e->permanent) {
                        old->permanent = !!e->permanent;
                        notify(c, e->port_ifindex);
                }
                return;
        }
        if (c->n_entries >= c->max_entries || (port && port->n >= c->max_per_port)) {
                c->overflow++;
                if (port)
                        port->truncated = TRUE;
                return;
        }
        if (!port) {
                port = g_new0(MdbPort, 1);
                g_hash_table_insert(c->ports, GINT_TO_POINTER(e->port_ifindex), port);
        }
        if (port->n == port->cap) {
                port->cap += MDB_PORT_GROW;
                port->slots = g_renew(MdbSlot, port->slots, port->cap);
        }
        port->slots[port->n] = (MdbSlot) {
                .bridge_ifindex = e->bridge_ifindex,
                .epoch = c->epoch,
                .vid = e->vid,
                .is_ip6 = !!e->is_ip6,
                .permanent = !!e->permanent,
        };
        memcpy(port->slots[port->n].group, e->group, VSM_IP6_ALEN);
        port->n++;
        c->n_entries++;
        notify(c, e->port_ifindex);
}

static void cache_del(VsmMdbCache *c, const VsmMdbEntry *e) {
        MdbPort *port = g_hash_table_lookup(c->ports, GINT_TO_POINTER(e->port_ifindex));
        int i;

        if (!port || (i = port_find(port, e)) < 0)
                return;
        port_remove(port, (guint) i);
        c->n_entries--;
        if (port->n == 0 && !port->truncated)
                g_hash_table_remove(c->ports, GINT_TO_POINTER(e->port_ifindex));
        notify(c, e->port_ifindex);
}

/* NLMSG_DONE of the dump: what it did not see is gone. */
static void cache_sweep(VsmMdbCache *c) {
        GHashTableIter it;
        gpointer k, v;
        g_autoptr(GArray) touched = g_array_new(FALSE, FALSE, sizeof(int));

        g_hash_table_iter_init(&it, c->ports);
        while (g_hash_table_iter_next(&it, &k, &v)) {
                MdbPort *port = v;
                guint before = port->n;

                for (guint i = port->n; i-- > 0;) {
                        if (port->slots[i].epoch == c->epoch)
                                continue;
                        port_remove(port, i);
                        c->n_entries--;
                }
                if (port->n != before) {
                        int ifindex = GPOINTER_TO_INT(k);

                        g_array_append_val(touched, ifindex);
                }
                if (port->n == 0 && !port->truncated)
                        g_hash_table_iter_remove(&it);
        }
        /* Told after the walk: the callback may look the port up. */
        for (guint i = 0; i < touched->len; i++)
                notify(c, g_array_index(touched, int, i));
}

/* ---- parsing ---- */

/* The attributes in [p, p+len): calls fn for each well-formed one; a
 * header or length that runs past the end stops the walk, counted. */
typedef void (*AttrFunc)(VsmMdbCache *c, const struct nlattr *a, const void *arg);

static void attrs_walk(VsmMdbCache *c, const uint8_t *p, size_t len, AttrFunc fn, const void *arg) {
        while (len >= NLA_HDRLEN) {
                const struct nlattr *a = (const struct nlattr *) p;
                size_t alen = a->nla_len, step;

                if (alen < NLA_HDRLEN || alen > len) {
                        c->malformed++;
                        return;
                }
                fn(c, a, arg);
                step = NLA_ALIGN(alen);
                if (step >= len)
                        return;
                p += step;
                len -= step;
        }
        if (len > 0)
                c->malformed++;
}

static const uint8_t *attr_data(const struct nlattr *a) {
        return (const uint8_t *) a + NLA_HDRLEN;
}

static size_t attr_len(const struct nlattr *a) {
        return a->nla_len - NLA_HDRLEN;
}

typedef struct MsgCtx {
        int bridge_ifindex;
        gboolean del;
} MsgCtx;

static void find_source(VsmMdbCache *c, const struct nlattr *a, const void *arg) {
        gboolean *found = (gboolean *) arg;

        if ((a->nla_type & NLA_TYPE_MASK) == MDBA_MDB_EATTR_SOURCE)
                *found = TRUE;
}

static void on_entry_info(VsmMdbCache *c, const struct nlattr *a, const void *arg) {
        const MsgCtx *m = arg;
        struct br_mdb_entry me;
        VsmMdbEntry e = { .bridge_ifindex = m->bridge_ifindex };
        size_t hlen = NLA_ALIGN(sizeof(me));
        gboolean has_source = FALSE;

        if ((a->nla_type & NLA_TYPE_MASK) != MDBA_MDB_ENTRY_INFO)
                return;
        if (attr_len(a) < sizeof(me)) {
                c->malformed++;
                return;
        }
        memcpy(&me, attr_data(a), sizeof(me));
        if (me.addr.proto == htons(ETH_P_IP)) {
                memcpy(e.group, &me.addr.u.ip4, VSM_IP4_ALEN);
        } else if (me.addr.proto == htons(ETH_P_IPV6)) {
                e.is_ip6 = TRUE;
                memcpy(e.group, &me.addr.u.ip6, VSM_IP6_ALEN);
        } else {
                return;                 /* L2 (MAC) entries: not ours */
        }
        if (attr_len(a) > hlen)
                attrs_walk(c, attr_data(a) + hlen, attr_len(a) - hlen, find_source, &has_source);
        if (has_source || me.ifindex == 0 || me.ifindex > G_MAXINT)
                return;                 /* (S,G), or the bridge itself (host-joined) */
        e.port_ifindex = (int) me.ifindex;
        e.vid = me.vid;
        e.permanent = me.state == MDB_PERMANENT;
        if (m->del)
                cache_del(c, &e);
        else
                cache_add(c, &e);
}

static void on_mdb_entry(VsmMdbCache *c, const struct nlattr *a, const void *arg) {
        if ((a->nla_type & NLA_TYPE_MASK) == MDBA_MDB_ENTRY)
                attrs_walk(c, attr_data(a), attr_len(a), on_entry_info, arg);
}

static void on_top(VsmMdbCache *c, const struct nlattr *a, const void *arg) {
        if ((a->nla_type & NLA_TYPE_MASK) == MDBA_MDB)
                attrs_walk(c, attr_data(a), attr_len(a), on_mdb_entry, arg);
}

static void dump_end(VsmMdbCache *c, gboolean ok) {
        c->dumping = FALSE;
        if (ok) {
                cache_sweep(c);
                c->dumps++;
        }
        if (ok && !c->dump_interrupted && !c->resync_wanted) {
                c->complete = TRUE;
                return;
        }
        /* Swept from an inconsistent walk: not trusted.  Redone by the
         * reader once this buffer is parsed. */
        if (ok)
                c->complete = FALSE;
        c->resync_wanted = TRUE;
}

static void on_message(VsmMdbCache *c, const struct nlmsghdr *nlh) {
        gboolean in_dump = c->dumping && nlh->nlmsg_seq == c->dump_seq;
        size_t plen = nlh->nlmsg_len - NLMSG_HDRLEN;
        const uint8_t *p = (const uint8_t *) nlh + NLMSG_HDRLEN;
        struct br_port_msg bpm;
        MsgCtx m = {};

        if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) {
                int err = 0;

                if (nlh->nlmsg_type == NLMSG_ERROR) {
                        struct nlmsgerr e;

                        if (plen < sizeof(e)) {
                                c->malformed++;
                                err = -EBADMSG;
                        } else {
                                memcpy(&e, p, sizeof(e));
                                err = e.error;
                        }
                }
                if (in_dump)
                        dump_end(c, err == 0);
                return;
        }
        if (nlh->nlmsg_type != RTM_NEWMDB && nlh->nlmsg_type != RTM_DELMDB && nlh->nlmsg_type != RTM_GETMDB)
                return;
        if (plen < sizeof(bpm)) {
                c->malformed++;
                return;
        }
        memcpy(&bpm, p, sizeof(bpm));
        if (bpm.ifindex == 0 || bpm.ifindex > G_MAXINT) {
                c->malformed++;
                return;
        }
        if (in_dump && (nlh->nlmsg_flags & NLM_F_DUMP_INTR))
                c->dump_interrupted = TRUE;
        if (!in_dump)
                c->notifications++;
        m.bridge_ifindex = (int) bpm.ifindex;
        m.del = nlh->nlmsg_type == RTM_DELMDB;
        if (plen > NLMSG_ALIGN(sizeof(bpm)))
                attrs_walk(c, p + NLMSG_ALIGN(sizeof(bpm)), plen - NLMSG_ALIGN(sizeof(bpm)), on_top, &m);
}

void vsm_mdb_cache_begin_dump(VsmMdbCache *c, uint32_t seq) {
        GHashTableIter it;
        gpointer v;

        c->dumping = TRUE;
        c->dump_seq = seq;
        c->epoch++;
        c->dump_interrupted = FALSE;
        c->resync_wanted = FALSE;
        g_hash_table_iter_init(&it, c->ports);
        while (g_hash_table_iter_next(&it, NULL, &v))
                ((MdbPort *) v)->truncated = FALSE;
}

void vsm_mdb_cache_feed(VsmMdbCache *c, const void *buf, size_t len) {
        const uint8_t *p = buf;

        while (len >= NLMSG_HDRLEN) {
                struct nlmsghdr h;
                size_t step;

                memcpy(&h, p, sizeof(h));
                if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len) {
                        c->malformed++;
                        return;
                }
                if (((uintptr_t) p & (NLMSG_ALIGNTO - 1)) == 0) {
                        on_message(c, (const struct nlmsghdr *) p);
                } else {
                        /* Misaligned input (a test's buffer): parse an aligned copy. */
                        g_autofree uint32_t *copy = g_malloc((h.nlmsg_len + 3) / 4 * 4);

                        memcpy(copy, p, h.nlmsg_len);
                        on_message(c, (const struct nlmsghdr *) copy);
                }
                step = NLMSG_ALIGN(h.nlmsg_len);
                if (step >= len)
                        return;
                p += step;
                len -= step;
        }
        if (len > 0)
                c->malformed++;
}

/* ---- the socket ---- */

static int cache_send_dump(VsmMdbCache *c);

static gboolean on_retry(gpointer user_data) {
        VsmMdbCache *c = user_data;

        c->retry_timer = 0;
        if (!c->dumping)
                (void) cache_send_dump(c);
        return G_SOURCE_REMOVE;
}

/* The whole host's mdb (the kernel refuses a filtered RTM_GETMDB dump
 * under strict checking): one request; its parts are read like the
 * notifications. */
static int cache_send_dump(VsmMdbCache *c) {
        struct {
                struct nlmsghdr nlh;
                struct br_port_msg bpm;
        } req = {
                .nlh = {
                        .nlmsg_len = NLMSG_LENGTH(sizeof(struct br_port_msg)),
                        .nlmsg_type = RTM_GETMDB,
                        .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                },
                .bpm = { .family = AF_BRIDGE },
        };
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        ssize_t n;

        if (c->dumping)
                return 0;               /* dump_end redoes it if wanted */
        req.nlh.nlmsg_seq = ++c->seq;
        do
                n = sendto(c->fd, &req, req.nlh.nlmsg_len, MSG_NOSIGNAL, (struct sockaddr *) &kernel, sizeof(kernel));
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                int r = -errno;

                if (!c->retry_timer)
                        c->retry_timer = g_timeout_add_seconds(MDB_CACHE_RETRY_SEC, on_retry, c);
                return r;
        }
        vsm_mdb_cache_begin_dump(c, req.nlh.nlmsg_seq);
        return 0;
}

static gboolean on_readable(int fd, GIOCondition cond, gpointer user_data) {
        VsmMdbCache *c = user_data;
        gint64 end = g_get_monotonic_time() + MDB_CACHE_TURN_USEC;

        for (int i = 0; i < MDB_CACHE_RECVS_PER_TURN && (i == 0 || g_get_monotonic_time() < end); i++) {
                struct sockaddr_nl from;
                struct iovec iov = { .iov_base = c->buf, .iov_len = MDB_CACHE_RECV_BUF };
                struct msghdr msg = {
                        .msg_name = &from,
                        .msg_namelen = sizeof(from),
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                };
                ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == ENOBUFS) {
                                /* Notifications lost: the table is not to
                                 * be trusted until a new dump completes. */
                                c->complete = FALSE;
                                c->resync_wanted = TRUE;
                                if (!c->dumping) {
                                        c->resyncs++;
                                        (void) cache_send_dump(c);
                                }
                                continue;
                        }
                        break;          /* EAGAIN, or nothing we can do here */
                }
                if (msg.msg_namelen < sizeof(from) || from.nl_pid != 0)
                        continue;       /* only the kernel speaks here */
                if (msg.msg_flags & MSG_TRUNC) {
                        c->malformed++;
                        c->complete = FALSE;
                        c->resync_wanted = TRUE;
                        continue;
                }
                vsm_mdb_cache_feed(c, c->buf, (size_t) n);
        }
        if (c->resync_wanted && !c->dumping && !c->retry_timer) {
                c->resyncs++;
                (void) cache_send_dump(c);
        }
        return G_SOURCE_CONTINUE;
}

void vsm_mdb_cache_poll(VsmMdbCache *c) {
        if (c && c->fd >= 0)
                (void) on_readable(c->fd, G_IO_IN, c);
}

int vsm_mdb_cache_start(VsmMdbCache *c) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        int group = RTNLGRP_MDB, r;

        g_return_val_if_fail(c && c->fd < 0, -EINVAL);

        c->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (c->fd < 0)
                return -errno;
        /* Larger than the default where we may (CAP_NET_ADMIN), else what
         * rmem_max allows: a burst of joins must not overflow it. */
        if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &c->rcvbuf, sizeof(int)) < 0)
                (void) setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &c->rcvbuf, sizeof(int));
        if (bind(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            setsockopt(c->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
                r = -errno;
                close(c->fd);
                c->fd = -1;
                return r;
        }
        c->buf = g_malloc(MDB_CACHE_RECV_BUF);
        /* Below the default priority: the peer channel, the uplinks and a
         * replay in the paused window go first; a lag only delays a STATE. */
        c->fd_source = g_unix_fd_add_full(G_PRIORITY_DEFAULT_IDLE, c->fd, G_IO_IN, on_readable, c, NULL);
        /* Subscribed before the dump: nothing falls between the two. */
        r = cache_send_dump(c);
        return r == -EAGAIN ? 0 : r;
}

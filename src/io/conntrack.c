/* ctnetlink I/O for the conntrack carry (see io/conntrack.h):
 * libnetfilter_conntrack builds and parses the messages, libmnl carries
 * them; a worker thread runs the blocking calls; the event socket is
 * non-blocking on the main loop. */
#include "io/conntrack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>

#define CT_BUF_LEN (128u * 1024u)
#define CT_BATCH_LIMIT (CT_BUF_LEN - 1024u)  /* octets of messages per sendmsg */
#define CT_RCVBUF (8 * 1024 * 1024)
#define CT_EVENTS_RCVBUF (32 * 1024 * 1024)
#define CT_EVENTS_PER_DISPATCH 64         /* recv() calls per main-loop dispatch */

struct VsmCtSock {
        bool last_filtered;
        struct mnl_socket *nl;
        unsigned portid;
        uint32_t seq;
        uint8_t *buf;
};

static void sock_set_rcvbuf(int fd, int size) {
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

VsmCtSock *vsm_ct_sock_open(int *ret_errno) {
        VsmCtSock *s = g_new0(VsmCtSock, 1);
        int one = 1;

        s->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!s->nl || mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                *ret_errno = -errno;
                vsm_ct_sock_close(s);
                return NULL;
        }
        /* Acks without the request copied in: a batch's errors fit. */
        (void) mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof(one));
        sock_set_rcvbuf(mnl_socket_get_fd(s->nl), CT_RCVBUF);
        {
                /* Room for one batch (the default, ~208 KiB, would do; a
                 * smaller net.core.wmem_default would not). */
                int snd = 4 * (int) CT_BUF_LEN;

                if (setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) < 0)
                        (void) setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
        }
        s->portid = mnl_socket_get_portid(s->nl);
        s->seq = (uint32_t) g_get_monotonic_time();
        s->buf = g_malloc(CT_BUF_LEN);
        return s;
}

void vsm_ct_sock_close(VsmCtSock *s) {
        if (!s)
                return;
        if (s->nl)
                mnl_socket_close(s->nl);
        g_free(s->buf);
        g_free(s);
}

/* ---- nf_conntrack <-> VsmCtEntry ---- */

static bool ct_to_entry(const struct nf_conntrack *ct, VsmCtEntry *ret) {
        VsmCtEntry e = {};
        uint8_t l3 = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);

        if (l3 == AF_INET) {
                uint32_t a;

                e.family = 4;
                a = nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC);
                memcpy(e.orig_src, &a, 4);
                a = nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST);
                memcpy(e.orig_dst, &a, 4);
                a = nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC);
                memcpy(e.repl_src, &a, 4);
                a = nfct_get_attr_u32(ct, ATTR_REPL_IPV4_DST);
                memcpy(e.repl_dst, &a, 4);
        } else if (l3 == AF_INET6) {
                const void *p;

                e.family = 6;
                if ((p = nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC)))
                        memcpy(e.orig_src, p, 16);
                if ((p = nfct_get_attr(ct, ATTR_ORIG_IPV6_DST)))
                        memcpy(e.orig_dst, p, 16);
                if ((p = nfct_get_attr(ct, ATTR_REPL_IPV6_SRC)))
                        memcpy(e.repl_src, p, 16);
                if ((p = nfct_get_attr(ct, ATTR_REPL_IPV6_DST)))
                        memcpy(e.repl_dst, p, 16);
        } else {
                return false;
        }
        e.proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
        if (e.proto == IPPROTO_ICMP || e.proto == IPPROTO_ICMPV6) {
                /* Not carried, but deleted after the VM left: the tuple
                 * is type, code and id (here in the port fields). */
                e.orig_sport = ntohs(nfct_get_attr_u16(ct, ATTR_ICMP_ID));
                e.orig_dport = (uint16_t) (nfct_get_attr_u8(ct, ATTR_ICMP_TYPE) << 8 | nfct_get_attr_u8(ct, ATTR_ICMP_CODE));
        } else if (nfct_attr_is_set(ct, ATTR_ORIG_PORT_SRC) > 0) {
                e.orig_sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
                e.orig_dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
                e.repl_sport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
                e.repl_dport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));
        }
        if (nfct_attr_is_set(ct, ATTR_ZONE) > 0)
                e.zone = nfct_get_attr_u16(ct, ATTR_ZONE);
        e.status = nfct_get_attr_u32(ct, ATTR_STATUS);
        e.mark = nfct_get_attr_u32(ct, ATTR_MARK);
        e.timeout = nfct_get_attr_u32(ct, ATTR_TIMEOUT);
        if (e.timeout > VSM_CT_TIMEOUT_MAX)
                e.timeout = VSM_CT_TIMEOUT_MAX;
        if (e.proto == IPPROTO_TCP && nfct_attr_is_set(ct, ATTR_TCP_STATE) > 0) {
                e.tcp_state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
                if (e.tcp_state >= VSM_CT_TCP_STATE_MAX)
                        e.tcp_state = 0;
                e.wscale_orig = MIN(nfct_get_attr_u8(ct, ATTR_TCP_WSCALE_ORIG), VSM_CT_WSCALE_MAX);
                e.wscale_repl = MIN(nfct_get_attr_u8(ct, ATTR_TCP_WSCALE_REPL), VSM_CT_WSCALE_MAX);
                e.tcpflags_orig = nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_ORIG);
                e.tcpflags_repl = nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_REPL);
        }
        *ret = e;
        return true;
}

/* ---- a dumped entry, parsed directly ----
 *
 * The dump is the carry's slowest stage (the pre-stage streams as fast as
 * the source dumps): nfct_new(), nfct_nlmsg_parse() and a getter per field
 * cost more than the kernel's own part, so a dumped message is read here
 * with libmnl alone, into the same VsmCtEntry ct_to_entry() makes for an
 * event (test-io-conntrack checks every field of a dumped entry). */

typedef struct AttrTable {
        const struct nlattr **tb;
        unsigned max;
} AttrTable;

static int attr_table_cb(const struct nlattr *a, void *data) {
        AttrTable *t = data;
        unsigned type = mnl_attr_get_type(a);

        if (type <= t->max)
                t->tb[type] = a;
        return MNL_CB_OK;
}

static bool attr_nested(const struct nlattr *a, const struct nlattr **tb, unsigned max) {
        AttrTable t = { .tb = tb, .max = max };

        memset(tb, 0, (max + 1) * sizeof(*tb));
        return a && mnl_attr_parse_nested(a, attr_table_cb, &t) >= 0;
}

static bool attr_len_is(const struct nlattr *a, size_t len) {
        return a && mnl_attr_get_payload_len(a) >= len;
}

static void attr_addr(const struct nlattr *a, uint8_t *out, size_t len) {
        if (attr_len_is(a, len))
                memcpy(out, mnl_attr_get_payload(a), len);
}

static uint16_t attr_be16(const struct nlattr *a) {
        uint16_t v = 0;

        if (attr_len_is(a, 2))
                memcpy(&v, mnl_attr_get_payload(a), 2);
        return ntohs(v);
}

static uint32_t attr_be32(const struct nlattr *a) {
        uint32_t v = 0;

        if (attr_len_is(a, 4))
                memcpy(&v, mnl_attr_get_payload(a), 4);
        return ntohl(v);
}

static uint8_t attr_u8(const struct nlattr *a) {
        return attr_len_is(a, 1) ? *(const uint8_t *) mnl_attr_get_payload(a) : 0;
}

/* One tuple: addresses into src/dst, ports (or the ICMP id, type and
 * code, as ct_to_entry() puts them), the protocol. */
static bool tuple_parse(const struct nlattr *t, uint8_t family, uint8_t *src, uint8_t *dst, uint16_t *sport,
                        uint16_t *dport, uint8_t *proto) {
        const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];
        size_t alen = family == 4 ? 4 : 16;

        if (!attr_nested(t, tb, CTA_TUPLE_MAX) || !attr_nested(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX) ||
            !attr_nested(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX))
                return false;
        attr_addr(ip[family == 4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC], src, alen);
        attr_addr(ip[family == 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST], dst, alen);
        *proto = attr_u8(pr[CTA_PROTO_NUM]);
        if (*proto == IPPROTO_ICMP || *proto == IPPROTO_ICMPV6) {
                bool v6 = *proto == IPPROTO_ICMPV6;

                *sport = attr_be16(pr[v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID]);
                *dport = (uint16_t) (attr_u8(pr[v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE]) << 8 |
                                     attr_u8(pr[v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE]));
        } else {
                *sport = attr_be16(pr[CTA_PROTO_SRC_PORT]);
                *dport = attr_be16(pr[CTA_PROTO_DST_PORT]);
        }
        return true;
}

static bool nlmsg_to_entry(const struct nlmsghdr *nlh, VsmCtEntry *ret) {
        const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *tb[CTA_MAX + 1], *pi[CTA_PROTOINFO_MAX + 1], *tcp[CTA_PROTOINFO_TCP_MAX + 1];
        AttrTable t = { .tb = tb, .max = CTA_MAX };
        VsmCtEntry e = {};
        uint8_t rproto = 0;
        uint16_t rs = 0, rd = 0;

        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*nfg)))
                return false;
        if (nfg->nfgen_family == AF_INET)
                e.family = 4;
        else if (nfg->nfgen_family == AF_INET6)
                e.family = 6;
        else
                return false;
        memset(tb, 0, sizeof(tb));
        if (mnl_attr_parse(nlh, sizeof(*nfg), attr_table_cb, &t) < 0)
                return false;
        if (!tuple_parse(tb[CTA_TUPLE_ORIG], e.family, e.orig_src, e.orig_dst, &e.orig_sport, &e.orig_dport, &e.proto))
                return false;
        if (tb[CTA_TUPLE_REPLY]) {
                if (!tuple_parse(tb[CTA_TUPLE_REPLY], e.family, e.repl_src, e.repl_dst, &rs, &rd, &rproto))
                        return false;
                if (e.proto != IPPROTO_ICMP && e.proto != IPPROTO_ICMPV6) {
                        e.repl_sport = rs;
                        e.repl_dport = rd;
                }
        }
        e.zone = attr_be16(tb[CTA_ZONE]);
        e.status = attr_be32(tb[CTA_STATUS]);
        e.mark = attr_be32(tb[CTA_MARK]);
        e.timeout = MIN(attr_be32(tb[CTA_TIMEOUT]), VSM_CT_TIMEOUT_MAX);
        if (e.proto == IPPROTO_TCP && attr_nested(tb[CTA_PROTOINFO], pi, CTA_PROTOINFO_MAX) &&
            attr_nested(pi[CTA_PROTOINFO_TCP], tcp, CTA_PROTOINFO_TCP_MAX) && tcp[CTA_PROTOINFO_TCP_STATE]) {
                e.tcp_state = attr_u8(tcp[CTA_PROTOINFO_TCP_STATE]);
                if (e.tcp_state >= VSM_CT_TCP_STATE_MAX)
                        e.tcp_state = 0;
                e.wscale_orig = MIN(attr_u8(tcp[CTA_PROTOINFO_TCP_WSCALE_ORIGINAL]), VSM_CT_WSCALE_MAX);
                e.wscale_repl = MIN(attr_u8(tcp[CTA_PROTOINFO_TCP_WSCALE_REPLY]), VSM_CT_WSCALE_MAX);
                e.tcpflags_orig = attr_u8(tcp[CTA_PROTOINFO_TCP_FLAGS_ORIGINAL]);
                e.tcpflags_repl = attr_u8(tcp[CTA_PROTOINFO_TCP_FLAGS_REPLY]);
        }
        *ret = e;
        return true;
}

static void entry_set_tuple(struct nf_conntrack *ct, const VsmCtEntry *e, bool with_reply) {
        if (e->family == 4) {
                uint32_t a;

                nfct_set_attr_u8(ct, ATTR_L3PROTO, AF_INET);
                memcpy(&a, e->orig_src, 4);
                nfct_set_attr_u32(ct, ATTR_IPV4_SRC, a);
                memcpy(&a, e->orig_dst, 4);
                nfct_set_attr_u32(ct, ATTR_IPV4_DST, a);
                if (with_reply) {
                        nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, AF_INET);
                        memcpy(&a, e->repl_src, 4);
                        nfct_set_attr_u32(ct, ATTR_REPL_IPV4_SRC, a);
                        memcpy(&a, e->repl_dst, 4);
                        nfct_set_attr_u32(ct, ATTR_REPL_IPV4_DST, a);
                }
        } else {
                nfct_set_attr_u8(ct, ATTR_L3PROTO, AF_INET6);
                nfct_set_attr(ct, ATTR_IPV6_SRC, e->orig_src);
                nfct_set_attr(ct, ATTR_IPV6_DST, e->orig_dst);
                if (with_reply) {
                        nfct_set_attr_u8(ct, ATTR_REPL_L3PROTO, AF_INET6);
                        nfct_set_attr(ct, ATTR_REPL_IPV6_SRC, e->repl_src);
                        nfct_set_attr(ct, ATTR_REPL_IPV6_DST, e->repl_dst);
                }
        }
        nfct_set_attr_u8(ct, ATTR_L4PROTO, e->proto);
        if (e->proto == IPPROTO_ICMP || e->proto == IPPROTO_ICMPV6) {
                nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons(e->orig_sport));
                nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, (uint8_t) (e->orig_dport >> 8));
                nfct_set_attr_u8(ct, ATTR_ICMP_CODE, (uint8_t) e->orig_dport);
                nfct_set_attr_u16(ct, ATTR_ZONE, (uint16_t) e->zone);
                return;
        }
        nfct_set_attr_u16(ct, ATTR_PORT_SRC, htons(e->orig_sport));
        nfct_set_attr_u16(ct, ATTR_PORT_DST, htons(e->orig_dport));
        if (with_reply) {
                nfct_set_attr_u8(ct, ATTR_REPL_L4PROTO, e->proto);
                nfct_set_attr_u16(ct, ATTR_REPL_PORT_SRC, htons(e->repl_sport));
                nfct_set_attr_u16(ct, ATTR_REPL_PORT_DST, htons(e->repl_dport));
        }
        nfct_set_attr_u16(ct, ATTR_ZONE, (uint16_t) e->zone);
}

static void entry_set_install(struct nf_conntrack *ct, const VsmCtEntry *e, bool nat_carry) {
        uint32_t status = vsm_ct_install_status(e, nat_carry);

        entry_set_tuple(ct, e, true);
        nfct_set_attr_u32(ct, ATTR_STATUS, status);
        nfct_set_attr_u32(ct, ATTR_TIMEOUT, e->timeout ? e->timeout : 1);
        if (e->mark)
                nfct_set_attr_u32(ct, ATTR_MARK, e->mark);
        if (e->proto == IPPROTO_TCP) {
                uint8_t f, m;

                nfct_set_attr_u8(ct, ATTR_TCP_STATE, e->tcp_state);
                vsm_ct_tcp_install_flags(e->tcpflags_orig, &f, &m);
                nfct_set_attr_u8(ct, ATTR_TCP_FLAGS_ORIG, f);
                nfct_set_attr_u8(ct, ATTR_TCP_MASK_ORIG, m);
                vsm_ct_tcp_install_flags(e->tcpflags_repl, &f, &m);
                nfct_set_attr_u8(ct, ATTR_TCP_FLAGS_REPL, f);
                nfct_set_attr_u8(ct, ATTR_TCP_MASK_REPL, m);
                if ((e->tcpflags_orig & VSM_CT_TCP_FLAG_WINDOW_SCALE) &&
                    (e->tcpflags_repl & VSM_CT_TCP_FLAG_WINDOW_SCALE)) {
                        nfct_set_attr_u8(ct, ATTR_TCP_WSCALE_ORIG, e->wscale_orig);
                        nfct_set_attr_u8(ct, ATTR_TCP_WSCALE_REPL, e->wscale_repl);
                }
        }
        if (!nat_carry)
                return;
        /* The mapping the tuples imply, as conntrackd commits it. */
        if (e->status & VSM_CT_IPS_SRC_NAT) {
                if (e->family == 4) {
                        uint32_t a;

                        memcpy(&a, e->repl_dst, 4);
                        nfct_set_attr_u32(ct, ATTR_SNAT_IPV4, a);
                } else {
                        nfct_set_attr(ct, ATTR_SNAT_IPV6, e->repl_dst);
                }
                nfct_set_attr_u16(ct, ATTR_SNAT_PORT, htons(e->repl_dport));
        }
        if (e->status & VSM_CT_IPS_DST_NAT) {
                if (e->family == 4) {
                        uint32_t a;

                        memcpy(&a, e->repl_src, 4);
                        nfct_set_attr_u32(ct, ATTR_DNAT_IPV4, a);
                } else {
                        nfct_set_attr(ct, ATTR_DNAT_IPV6, e->repl_src);
                }
                nfct_set_attr_u16(ct, ATTR_DNAT_PORT, htons(e->repl_sport));
        }
}

static struct nlmsghdr *put_ct_header(void *buf, uint16_t type, uint16_t flags, uint32_t seq, uint8_t family) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nfgenmsg *nfh;

        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        nlh->nlmsg_seq = seq;
        nfh = mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
        nfh->nfgen_family = family;
        nfh->version = NFNETLINK_V0;
        nfh->res_id = 0;
        return nlh;
}

/* ---- dump ---- */

typedef struct DumpCtx {
        const VsmCtOwned *owned;
        GArray *out;
        guint max, seen, over, kept;
        guint chunk;
        void (*post)(GArray *chunk, gpointer data); /* takes the chunk */
        gpointer post_data;
        bool filtering;                /* several kernel-filtered dumps: */
        size_t cur_addr;               /* the owned address ... */
        int cur_pos;                   /* ... and the position (pos_addr) of this one */
        bool orig_only;                /* the kernel's filter on the original tuple only */
} DumpCtx;

/* The address at a tuple position: 0 orig source, 1 orig destination,
 * 2 reply source, 3 reply destination. */
static const uint8_t *pos_addr(const VsmCtEntry *e, int pos) {
        switch (pos) {
        case 0:
                return e->orig_src;
        case 1:
                return e->orig_dst;
        case 2:
                return e->repl_src;
        default:
                return e->repl_dst;
        }
}

/* Several filtered dumps: did an earlier one (address, position) already
 * bring e?  Then it is not taken again. */
static bool dump_seen_before(const DumpCtx *x, const VsmCtEntry *e) {
        size_t alen = e->family == 4 ? 4 : 16;

        for (size_t j = 0; j <= x->cur_addr && j < x->owned->n; j++)
                for (int q = 0; q < 4; q++) {
                        const VsmCtAddr *a = &x->owned->a[j];

                        if (j == x->cur_addr && q >= x->cur_pos)
                                return false;
                        if (x->orig_only && q >= 2)
                                continue;
                        if (a->family == e->family && memcmp(pos_addr(e, q), a->addr, alen) == 0)
                                return true;
                }
        return false;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data) {
        DumpCtx *x = data;
        VsmCtEntry e;

        x->seen++;
        if (!nlmsg_to_entry(nlh, &e) || (x->filtering && dump_seen_before(x, &e)))
                return MNL_CB_OK;
        if (!x->owned || vsm_ct_owned_match(x->owned, &e, NULL)) {
                if (x->kept < x->max) {
                        g_array_append_val(x->out, e);
                        x->kept++;
                        if (x->chunk && x->post && x->out->len >= x->chunk) {
                                x->post(x->out, x->post_data);
                                x->out = g_array_sized_new(FALSE, FALSE, sizeof(VsmCtEntry), x->chunk);
                        }
                } else {
                        x->over++;
                }
        }
        return MNL_CB_OK;
}

static int sock_dump(VsmCtSock *s, DumpCtx *xp, guint *ret_seen, guint *ret_over);

int vsm_ct_sock_dump(VsmCtSock *s, const VsmCtOwned *owned, GArray *out, guint max, guint *ret_seen, guint *ret_over) {
        DumpCtx x = { .owned = owned, .out = out, .max = max };

        return sock_dump(s, &x, ret_seen, ret_over);
}

/* nf_conntrack_netlink.c's tuple filter flags (CTA_FILTER_*_FLAGS; not
 * in the uapi headers). */
#define CT_FILTER_F_IP_SRC (1u << 0)
#define CT_FILTER_F_IP_DST (1u << 1)
#define CT_FILTER_ADDRS_MAX 16          /* more owned addresses: one dump, filtered here */

/* A dump request: the whole table (a NULL), or the kernel's CTA_FILTER
 * for one address at one position (reply: of the reply tuple; src: as
 * its source). */
static struct nlmsghdr *dump_request(VsmCtSock *s, uint32_t seq, const VsmCtAddr *a, bool reply, bool src) {
        struct nlmsghdr *nlh;
        struct nlattr *t, *ip, *f;

        if (!a)
                return put_ct_header(s->buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq, AF_UNSPEC);
        nlh = put_ct_header(s->buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq, a->family == 4 ? AF_INET : AF_INET6);
        t = mnl_attr_nest_start(nlh, reply ? CTA_TUPLE_REPLY : CTA_TUPLE_ORIG);
        ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
        if (a->family == 4)
                mnl_attr_put(nlh, src ? CTA_IP_V4_SRC : CTA_IP_V4_DST, 4, a->addr);
        else
                mnl_attr_put(nlh, src ? CTA_IP_V6_SRC : CTA_IP_V6_DST, 16, a->addr);
        mnl_attr_nest_end(nlh, ip);
        mnl_attr_nest_end(nlh, t);
        f = mnl_attr_nest_start(nlh, CTA_FILTER);
        mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, reply ? 0 : src ? CT_FILTER_F_IP_SRC : CT_FILTER_F_IP_DST);
        mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, !reply ? 0 : src ? CT_FILTER_F_IP_SRC : CT_FILTER_F_IP_DST);
        mnl_attr_nest_end(nlh, f);
        return nlh;
}

/* One datagram from the kernel (nl_pid 0): any local process may send
 * unicast to an unconnected netlink socket's port, so what another sender
 * sends (forged conntrack events or dump answers: entries the carry would
 * install on the destination) is dropped unread.  Like recv(): -1 with
 * errno (ENOSPC when truncated; EPERM for a dropped datagram when
 * MSG_DONTWAIT, so that the caller's per-dispatch bound counts it). */
static ssize_t ct_recv_kernel(int fd, void *buf, size_t len, int flags) {
        for (;;) {
                struct sockaddr_nl from = { 0 };
                socklen_t fl = sizeof(from);
                ssize_t n = recvfrom(fd, buf, len, flags | MSG_TRUNC, (struct sockaddr *) &from, &fl);

                if (n < 0)
                        return n;
                if (fl < sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0) {
                        /* not the kernel: dropped */
                        if (flags & MSG_DONTWAIT) {
                                errno = EPERM;
                                return -1;
                        }
                        continue;
                }
                if ((size_t) n > len) {
                        errno = ENOSPC;
                        return -1;
                }
                return n;
        }
}

static int sock_dump_one(VsmCtSock *s, DumpCtx *x, const VsmCtAddr *a, bool reply, bool src);

/* With owned addresses (at most CT_FILTER_ADDRS_MAX): the kernel filters
 * (Linux >= 5.8: CTA_FILTER), one dump per address and position (orig
 * source, orig destination, reply source, reply destination), entries
 * found twice kept once; the table's other entries never reach user
 * space.  A kernel that refuses the filter: one dump of everything,
 * filtered here. */
static int sock_dump(VsmCtSock *s, DumpCtx *xp, guint *ret_seen, guint *ret_over) {
        DumpCtx x = *xp;
        int r = 0;

        s->last_filtered = false;
        if (x.owned && x.owned->n > 0 && x.owned->n <= CT_FILTER_ADDRS_MAX) {
                x.filtering = true;
                for (size_t i = 0; i < x.owned->n && r == 0; i++)
                        for (int pos = 0; pos < (x.orig_only ? 2 : 4) && r == 0; pos++) {
                                x.cur_addr = i;
                                x.cur_pos = pos;
                                r = sock_dump_one(s, &x, &x.owned->a[i], pos >= 2, pos % 2 == 0);
                                if (r < 0 && i == 0 && pos == 0 && x.seen == 0)
                                        break;  /* not supported: fall back below */
                        }
                x.filtering = false;
                if (r == 0) {
                        s->last_filtered = true;
                        goto out;
                }
                if (x.seen > 0)
                        goto out;
                r = 0;
        }
        r = sock_dump_one(s, &x, NULL, false, false);
out:
        if (ret_seen)
                *ret_seen = x.seen;
        if (ret_over)
                *ret_over = x.over;
        xp->out = x.out;
        return r;
}

bool vsm_ct_sock_last_dump_filtered(const VsmCtSock *s) {
        return s->last_filtered;
}

static int sock_dump_one(VsmCtSock *s, DumpCtx *xp, const VsmCtAddr *a, bool reply, bool src) {
        DumpCtx x = *xp;
        uint32_t seq = ++s->seq;
        struct nlmsghdr *nlh;
        int r = 0;

        nlh = dump_request(s, seq, a, reply, src);
        if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t n = ct_recv_kernel(mnl_socket_get_fd(s->nl), s->buf, CT_BUF_LEN, 0);

                if (n < 0) {
                        r = -errno;
                        break;
                }
                r = mnl_cb_run(s->buf, (size_t) n, seq, s->portid, dump_cb, &x);
                if (r <= MNL_CB_STOP) {
                        r = r < 0 ? -errno : 0;
                        break;
                }
        }
        *xp = x;
        return r;
}

/* ---- batched requests ---- */

/* Reads the answers to seq_first..seq_first+n-1 until the last one's
 * ack: only that one asks for an ack (NLM_F_ACK); the kernel reports the
 * others' errors anyway, and it handles a sendmsg's messages in order
 * inside the call, so their errors come before that ack.  ok[i] (set for
 * all on entry) is cleared for those with an error. */
static int batch_read_acks(VsmCtSock *s, uint32_t seq_first, guint n, bool *ok, guint *ret_ok, int *ret_last_err) {
        guint errors = 0;
        bool last = false;

        while (!last) {
                ssize_t len = ct_recv_kernel(mnl_socket_get_fd(s->nl), s->buf, CT_BUF_LEN, 0);
                const struct nlmsghdr *nlh;
                int rest;

                if (len < 0)
                        return -errno;
                rest = (int) len;
                for (nlh = (const struct nlmsghdr *) s->buf; mnl_nlmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest)) {
                        const struct nlmsgerr *err;
                        uint32_t i = nlh->nlmsg_seq - seq_first;

                        if (nlh->nlmsg_type != NLMSG_ERROR || i >= n)
                                continue;
                        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr)))
                                continue;
                        err = mnl_nlmsg_get_payload(nlh);
                        if (err->error != 0) {
                                errors++;
                                *ret_last_err = err->error;
                                if (ok)
                                        ok[i] = false;
                        }
                        if (i == n - 1)
                                last = true;
                }
        }
        *ret_ok += n - MIN(errors, n);
        return 0;
}

typedef void (*BuildFunc)(struct nf_conntrack *ct, const VsmCtEntry *e, bool nat_carry);

static void build_delete(struct nf_conntrack *ct, const VsmCtEntry *e, bool nat_carry) {
        entry_set_tuple(ct, e, false);
}

static int batch_run(VsmCtSock *s, uint16_t type, uint16_t flags, const VsmCtEntry *e, guint n, bool nat_carry,
                     bool *ok, BuildFunc build) {
        g_autofree uint8_t *out = g_malloc(CT_BUF_LEN);
        guint done = 0, total_ok = 0;
        int last_err = 0;

        if (ok)
                for (guint i = 0; i < n; i++)
                        ok[i] = true;
        while (done < n) {
                struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(out, CT_BATCH_LIMIT);
                uint32_t seq_first = s->seq + 1;
                struct nlmsghdr *last_nlh = NULL;
                guint k = 0;
                int r;

                while (done + k < n) {
                        struct nf_conntrack *ct = nfct_new();
                        struct nlmsghdr *nlh;

                        if (!ct) {
                                mnl_nlmsg_batch_stop(b);
                                return -ENOMEM;
                        }
                        /* NLM_F_ACK goes on the last one, once the batch is full. */
                        nlh = put_ct_header(mnl_nlmsg_batch_current(b), type, flags, ++s->seq,
                                            e[done + k].family == 4 ? AF_INET : AF_INET6);
                        build(ct, &e[done + k], nat_carry);
                        nfct_nlmsg_build(nlh, ct);
                        nfct_destroy(ct);
                        if (!mnl_nlmsg_batch_next(b)) {
                                /* Did not fit: it goes first in the next batch. */
                                s->seq--;
                                break;
                        }
                        last_nlh = nlh;
                        k++;
                }
                if (k == 0) {
                        mnl_nlmsg_batch_stop(b);
                        return -EMSGSIZE;
                }
                /* The batch's last message is the one acked. */
                last_nlh->nlmsg_flags |= NLM_F_ACK;
                if (mnl_socket_sendto(s->nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) < 0) {
                        r = -errno;
                        mnl_nlmsg_batch_stop(b);
                        return r;
                }
                mnl_nlmsg_batch_stop(b);
                r = batch_read_acks(s, seq_first, k, ok ? ok + done : NULL, &total_ok, &last_err);
                if (r < 0)
                        return r;
                done += k;
        }
        return (int) total_ok;
}

int vsm_ct_sock_install(VsmCtSock *s, const VsmCtEntry *e, guint n, bool nat_carry, bool *ok) {
        return batch_run(s, IPCTNL_MSG_CT_NEW, NLM_F_CREATE, e, n, nat_carry, ok, entry_set_install);
}

int vsm_ct_sock_delete(VsmCtSock *s, const VsmCtEntry *e, guint n) {
        return batch_run(s, IPCTNL_MSG_CT_DELETE, 0, e, n, false, NULL, build_delete);
}

/* ---- the worker ---- */

struct VsmCtWorker {
        GThread *thread;
        GAsyncQueue *jobs;             /* to the thread; a job with func == worker_quit ends it */
        GAsyncQueue *done;             /* back */
        int efd;
        guint source;
        GPtrArray *pending;            /* VsmCtJob submitted, not yet called back (main thread) */
        VsmCtSock *sock;               /* the thread's */
};

static void job_free(VsmCtJob *j) {
        if (!j)
                return;
        if (j->in)
                g_array_unref(j->in);
        if (j->out)
                g_array_unref(j->out);
        g_free(j);
}

VsmCtJob *vsm_ct_job_new(VsmCtJobType type) {
        VsmCtJob *j = g_new0(VsmCtJob, 1);

        j->type = type;
        j->max = G_MAXUINT;
        return j;
}

static VsmCtJob worker_quit_job;

typedef struct PostCtx {
        VsmCtWorker *w;
        VsmCtJob *job;
} PostCtx;

static void worker_post(VsmCtWorker *w, VsmCtJob *j) {
        uint64_t one = 1;

        g_async_queue_push(w->done, j);
        if (write(w->efd, &one, sizeof(one)) < 0) {
                /* eventfd saturated: the main loop wakes anyway */
        }
}

/* A chunk of a running dump, posted as a partial result. */
static void worker_post_chunk(GArray *chunk, gpointer data) {
        PostCtx *pc = data;
        VsmCtJob *p = g_new0(VsmCtJob, 1);

        p->type = pc->job->type;
        p->partial = true;
        p->parent = pc->job;
        p->out = chunk;
        p->func = pc->job->func;
        p->user_data = pc->job->user_data;
        p->user_tag = pc->job->user_tag;
        p->started_usec = pc->job->started_usec;
        p->ended_usec = g_get_monotonic_time();
        worker_post(pc->w, p);
}

static void worker_run(VsmCtWorker *w, VsmCtJob *j) {
        int err = 0;

        j->started_usec = g_get_monotonic_time();
        if (!w->sock)
                w->sock = vsm_ct_sock_open(&err);
        if (!w->sock) {
                j->error = err;
                return;
        }
        switch (j->type) {
        case VSM_CT_JOB_DUMP:
        case VSM_CT_JOB_FLUSH: {
                PostCtx pc = { .w = w, .job = j };
                DumpCtx x = { .owned = &j->owned, .max = j->max, .orig_only = j->orig_only };

                x.out = g_array_new(FALSE, FALSE, sizeof(VsmCtEntry));
                if (j->type == VSM_CT_JOB_DUMP && j->chunk) {
                        x.chunk = j->chunk;
                        x.post = worker_post_chunk;
                        x.post_data = &pc;
                }
                j->error = sock_dump(w->sock, &x, &j->seen, &j->over);
                j->out = x.out;
                if (j->error < 0 || j->type == VSM_CT_JOB_DUMP)
                        break;
                err = vsm_ct_sock_delete(w->sock, (const VsmCtEntry *) (void *) j->out->data, j->out->len);
                if (err < 0)
                        j->error = err;
                else
                        j->done = (guint) err;
                break;
        }
        case VSM_CT_JOB_INSTALL: {
                guint n = j->in ? j->in->len : 0;
                g_autofree bool *ok = g_new0(bool, MAX(n, 1));

                j->out = g_array_sized_new(FALSE, FALSE, sizeof(VsmCtEntry), n);
                err = vsm_ct_sock_install(w->sock, n ? (const VsmCtEntry *) (void *) j->in->data : NULL, n,
                                          j->nat_carry, ok);
                if (err < 0) {
                        j->error = err;
                        j->failed = n;
                        break;
                }
                j->done = (guint) err;
                j->failed = n - j->done;
                for (guint i = 0; i < n; i++)
                        if (ok[i])
                                g_array_append_val(j->out, g_array_index(j->in, VsmCtEntry, i));
                break;
        }
        case VSM_CT_JOB_DELETE:
                err = j->in && j->in->len ? vsm_ct_sock_delete(w->sock, (const VsmCtEntry *) (void *) j->in->data,
                                                               j->in->len)
                                          : 0;
                if (err < 0)
                        j->error = err;
                else
                        j->done = (guint) err;
                break;
        default:
                j->error = -EINVAL;
                break;
        }
}

static gpointer worker_thread(gpointer data) {
        VsmCtWorker *w = data;

        for (;;) {
                VsmCtJob *j = g_async_queue_pop(w->jobs);

                if (j == &worker_quit_job)
                        break;
                worker_run(w, j);
                j->ended_usec = g_get_monotonic_time();
                worker_post(w, j);
        }
        vsm_ct_sock_close(w->sock);
        w->sock = NULL;
        return NULL;
}

static gboolean worker_on_done(int fd, GIOCondition cond, gpointer data) {
        VsmCtWorker *w = data;
        uint64_t v;
        VsmCtJob *j;

        if (read(fd, &v, sizeof(v)) < 0) {
                /* EAGAIN: drained already */
        }
        /* One result per dispatch (a callback may take a millisecond or
         * so: a dump's chunk is streamed to the peer): what else waits
         * wakes the loop again, after whatever else is ready (VDP, the
         * replay).  In order: a dump's chunks come before its final result
         * (which frees the parent they point to). */
        j = g_async_queue_try_pop(w->done);
        if (!j)
                return G_SOURCE_CONTINUE;
        if (g_async_queue_length(w->done) > 0) {
                uint64_t one = 1;

                if (write(w->efd, &one, sizeof(one)) < 0) {
                        /* saturated: it fires anyway */
                }
        }
        if (j->partial) {
                if (!j->parent->cancelled && j->func)
                        j->func(j, j->user_data);
                job_free(j);
                return G_SOURCE_CONTINUE;
        }
        g_ptr_array_remove(w->pending, j);
        if (!j->cancelled && j->func)
                j->func(j, j->user_data);
        job_free(j);
        return G_SOURCE_CONTINUE;
}

VsmCtWorker *vsm_ct_worker_new(GError **error) {
        VsmCtWorker *w = g_new0(VsmCtWorker, 1);

        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "eventfd: %s", g_strerror(errno));
                g_free(w);
                return NULL;
        }
        w->jobs = g_async_queue_new();
        w->done = g_async_queue_new();
        w->pending = g_ptr_array_new();
        w->source = g_unix_fd_add(w->efd, G_IO_IN, worker_on_done, w);
        w->thread = g_thread_new("vsimig-ct", worker_thread, w);
        return w;
}

VsmCtWorker *vsm_ct_worker_free(VsmCtWorker *w) {
        VsmCtJob *j;

        if (!w)
                return NULL;
        /* Jobs not started are dropped; the one running ends first. */
        while ((j = g_async_queue_try_pop(w->jobs)))
                if (j != &worker_quit_job)
                        job_free(j);
        g_async_queue_push(w->jobs, &worker_quit_job);
        g_thread_join(w->thread);
        while ((j = g_async_queue_try_pop(w->done)))
                job_free(j);
        g_clear_handle_id(&w->source, g_source_remove);
        close(w->efd);
        g_async_queue_unref(w->jobs);
        g_async_queue_unref(w->done);
        g_ptr_array_unref(w->pending);
        g_free(w);
        return NULL;
}

void vsm_ct_worker_submit(VsmCtWorker *w, VsmCtJob *job, VsmCtJobFunc func, gpointer user_data) {
        job->func = func;
        job->user_data = user_data;
        job->queued_usec = g_get_monotonic_time();
        g_ptr_array_add(w->pending, job);
        g_async_queue_push(w->jobs, job);
}

void vsm_ct_worker_cancel(VsmCtWorker *w, gpointer user_data) {
        for (guint i = 0; i < w->pending->len; i++) {
                VsmCtJob *j = w->pending->pdata[i];

                if (j->user_data == user_data)
                        j->cancelled = true;
        }
}

guint vsm_ct_worker_pending(const VsmCtWorker *w) {
        return w->pending->len;
}

/* ---- events ---- */

struct VsmCtEvents {
        struct mnl_socket *nl;
        guint source;
        VsmCtEventFunc func;
        VsmCtOverrunFunc overrun;
        gpointer user_data;
        struct nf_conntrack *ct;
        uint8_t *buf;
        guint64 received, overruns;
};

static int event_cb(const struct nlmsghdr *nlh, void *data) {
        VsmCtEvents *ev = data;
        uint8_t type = (uint8_t) (nlh->nlmsg_type & 0xff);
        struct nf_conntrack *ct = nfct_new();
        VsmCtEntry e;

        if (!ct)
                return MNL_CB_OK;
        if ((type == IPCTNL_MSG_CT_NEW || type == IPCTNL_MSG_CT_DELETE) && nfct_nlmsg_parse(nlh, ct) >= 0 &&
            ct_to_entry(ct, &e)) {
                ev->received++;
                ev->func(&e, type == IPCTNL_MSG_CT_DELETE, ev->user_data);
        }
        nfct_destroy(ct);
        return MNL_CB_OK;
}

static gboolean events_on_readable(int fd, GIOCondition cond, gpointer data) {
        VsmCtEvents *ev = data;

        /* Bounded per dispatch: a busy table must not hold the loop. */
        for (int i = 0; i < CT_EVENTS_PER_DISPATCH; i++) {
                ssize_t n = ct_recv_kernel(fd, ev->buf, CT_BUF_LEN, MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EPERM || errno == ENOSPC)
                                continue;       /* not from the kernel, or truncated: dropped */
                        if (errno == ENOBUFS) {
                                ev->overruns++;
                                if (ev->overrun)
                                        ev->overrun(ev->user_data);
                                continue;
                        }
                        break;          /* EAGAIN, or nothing to do about it */
                }
                if (n == 0)
                        break;
                (void) mnl_cb_run(ev->buf, (size_t) n, 0, 0, event_cb, ev);
        }
        return G_SOURCE_CONTINUE;
}

VsmCtEvents *vsm_ct_events_new(VsmCtEventFunc func, VsmCtOverrunFunc overrun, gpointer user_data, int *ret_errno) {
        VsmCtEvents *ev = g_new0(VsmCtEvents, 1);
        unsigned groups = (1u << (NFNLGRP_CONNTRACK_NEW - 1)) | (1u << (NFNLGRP_CONNTRACK_UPDATE - 1)) |
                          (1u << (NFNLGRP_CONNTRACK_DESTROY - 1));

        ev->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!ev->nl || mnl_socket_bind(ev->nl, groups, MNL_SOCKET_AUTOPID) < 0) {
                *ret_errno = -errno;
                vsm_ct_events_free(ev);
                return NULL;
        }
        sock_set_rcvbuf(mnl_socket_get_fd(ev->nl), CT_EVENTS_RCVBUF);
        ev->func = func;
        ev->overrun = overrun;
        ev->user_data = user_data;
        ev->buf = g_malloc(CT_BUF_LEN);
        ev->source = g_unix_fd_add(mnl_socket_get_fd(ev->nl), G_IO_IN, events_on_readable, ev);
        return ev;
}

VsmCtEvents *vsm_ct_events_free(VsmCtEvents *ev) {
        if (!ev)
                return NULL;
        g_clear_handle_id(&ev->source, g_source_remove);
        if (ev->nl)
                mnl_socket_close(ev->nl);
        g_free(ev->buf);
        g_free(ev);
        return NULL;
}

void vsm_ct_events_set_rcvbuf(VsmCtEvents *ev, int bytes) {
        int fd = mnl_socket_get_fd(ev->nl);

        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

uint32_t vsm_ct_events_port(const VsmCtEvents *ev) {
        return mnl_socket_get_portid(ev->nl);
}

guint64 vsm_ct_events_received(const VsmCtEvents *ev) {
        return ev->received;
}

guint64 vsm_ct_events_overruns(const VsmCtEvents *ev) {
        return ev->overruns;
}

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

#define CT_BUF_LEN (64u * 1024u)
#define CT_BATCH_LIMIT (CT_BUF_LEN - 1024u)  /* octets of messages per sendmsg */
#define CT_RCVBUF (8 * 1024 * 1024)
#define CT_EVENTS_RCVBUF (32 * 1024 * 1024)
#define CT_EVENTS_PER_DISPATCH 64         /* recv() calls per main-loop dispatch */

struct VsmCtSock {
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
        if (nfct_attr_is_set(ct, ATTR_ORIG_PORT_SRC) > 0) {
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
        guint max, seen, over;
} DumpCtx;

static int dump_cb(const struct nlmsghdr *nlh, void *data) {
        DumpCtx *x = data;
        struct nf_conntrack *ct = nfct_new();
        VsmCtEntry e;

        if (!ct)
                return MNL_CB_ERROR;
        if (nfct_nlmsg_parse(nlh, ct) >= 0) {
                x->seen++;
                if (ct_to_entry(ct, &e) && (!x->owned || vsm_ct_owned_match(x->owned, &e, NULL))) {
                        if (x->out->len < x->max)
                                g_array_append_val(x->out, e);
                        else
                                x->over++;
                }
        }
        nfct_destroy(ct);
        return MNL_CB_OK;
}

int vsm_ct_sock_dump(VsmCtSock *s, const VsmCtOwned *owned, GArray *out, guint max, guint *ret_seen, guint *ret_over) {
        DumpCtx x = { .owned = owned, .out = out, .max = max };
        uint32_t seq = ++s->seq;
        struct nlmsghdr *nlh;
        int r = 0;

        nlh = put_ct_header(s->buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq, AF_UNSPEC);
        if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(s->nl, s->buf, CT_BUF_LEN);

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
        if (ret_seen)
                *ret_seen = x.seen;
        if (ret_over)
                *ret_over = x.over;
        return r;
}

/* ---- batched requests ---- */

/* Reads acks until every message of seq_first..seq_first+n-1 has one;
 * ok[i] is set for those that got error 0. */
static int batch_read_acks(VsmCtSock *s, uint32_t seq_first, guint n, bool *ok, guint *ret_ok, int *ret_last_err) {
        guint acked = 0;

        while (acked < n) {
                ssize_t len = mnl_socket_recvfrom(s->nl, s->buf, CT_BUF_LEN);
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
                        acked++;
                        if (err->error == 0) {
                                (*ret_ok)++;
                                if (ok)
                                        ok[i] = true;
                        } else {
                                *ret_last_err = err->error;
                        }
                }
        }
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
                memset(ok, 0, n * sizeof(bool));
        while (done < n) {
                struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(out, CT_BATCH_LIMIT);
                uint32_t seq_first = s->seq + 1;
                guint k = 0;
                int r;

                while (done + k < n) {
                        struct nf_conntrack *ct = nfct_new();
                        struct nlmsghdr *nlh;

                        if (!ct) {
                                mnl_nlmsg_batch_stop(b);
                                return -ENOMEM;
                        }
                        nlh = put_ct_header(mnl_nlmsg_batch_current(b), type, flags | NLM_F_ACK, ++s->seq,
                                            e[done + k].family == 4 ? AF_INET : AF_INET6);
                        build(ct, &e[done + k], nat_carry);
                        nfct_nlmsg_build(nlh, ct);
                        nfct_destroy(ct);
                        if (!mnl_nlmsg_batch_next(b)) {
                                /* Did not fit: it goes first in the next batch. */
                                s->seq--;
                                break;
                        }
                        k++;
                }
                if (k == 0) {
                        mnl_nlmsg_batch_stop(b);
                        return -EMSGSIZE;
                }
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
        case VSM_CT_JOB_FLUSH:
                j->out = g_array_new(FALSE, FALSE, sizeof(VsmCtEntry));
                j->error = vsm_ct_sock_dump(w->sock, &j->owned, j->out, j->max, &j->seen, &j->over);
                if (j->error < 0 || j->type == VSM_CT_JOB_DUMP)
                        break;
                err = vsm_ct_sock_delete(w->sock, (const VsmCtEntry *) (void *) j->out->data, j->out->len);
                if (err < 0)
                        j->error = err;
                else
                        j->done = (guint) err;
                break;
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
                uint64_t one = 1;

                if (j == &worker_quit_job)
                        break;
                worker_run(w, j);
                j->ended_usec = g_get_monotonic_time();
                g_async_queue_push(w->done, j);
                if (write(w->efd, &one, sizeof(one)) < 0) {
                        /* eventfd saturated: the main loop wakes anyway */
                }
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
        while ((j = g_async_queue_try_pop(w->done))) {
                g_ptr_array_remove_fast(w->pending, j);
                if (!j->cancelled && j->func)
                        j->func(j, j->user_data);
                job_free(j);
        }
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
                ssize_t n = recv(fd, ev->buf, CT_BUF_LEN, MSG_DONTWAIT);

                if (n < 0) {
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

guint64 vsm_ct_events_received(const VsmCtEvents *ev) {
        return ev->received;
}

guint64 vsm_ct_events_overruns(const VsmCtEvents *ev) {
        return ev->overruns;
}

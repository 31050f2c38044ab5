/* lldpad's side of libvirt's 802.1Qbg netlink protocol: codec and socket.
 * See qbgnl.h for the layouts and where they come from. */
#include "io/qbgnl.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NLA_HDRLEN_ 4
#define NLA_TYPE_MASK_ 0x3fff          /* without NLA_F_NESTED / NLA_F_NET_BYTEORDER */
#define ALIGN4(n) (((n) + 3u) & ~(size_t) 3u)

/* sizeof the kernel structs, spelled out: the wire layout is what counts. */
#define IFINFOMSG_LEN 16               /* struct ifinfomsg */
#define VF_MAC_LEN 36                  /* struct ifla_vf_mac: u32 vf, u8 mac[32] */
#define VF_VLAN_LEN 12                 /* struct ifla_vf_vlan: u32 vf, vlan, qos */
#define PORT_VSI_LEN 8                 /* struct ifla_port_vsi */

/* A bounded cursor over a run of netlink attributes. */
typedef struct NlaIter {
        const uint8_t *p;
        size_t len;
        size_t off;
} NlaIter;

static void nla_iter_init(NlaIter *it, const uint8_t *p, size_t len) {
        it->p = p;
        it->len = len;
        it->off = 0;
}

/* Next attribute: 1 with type/payload, 0 at the end, -EBADMSG when the
 * header or length does not fit.  Trailing padding (< 4 octets) ends the
 * run. */
static int nla_iter_next(NlaIter *it, uint16_t *ret_type, const uint8_t **ret_data, size_t *ret_len) {
        uint16_t l, t;
        size_t adv;

        if (it->len - it->off < NLA_HDRLEN_)
                return 0;
        memcpy(&l, it->p + it->off, 2);
        memcpy(&t, it->p + it->off + 2, 2);
        if (l < NLA_HDRLEN_ || l > it->len - it->off)
                return -EBADMSG;
        *ret_type = t & NLA_TYPE_MASK_;
        *ret_data = it->p + it->off + NLA_HDRLEN_;
        *ret_len = l - NLA_HDRLEN_;
        adv = ALIGN4(l);
        it->off = adv > it->len - it->off ? it->len : it->off + adv;
        return 1;
}

static uint32_t get_u32(const uint8_t *p) {
        uint32_t v;

        memcpy(&v, p, 4);
        return v;
}

static uint16_t get_u16(const uint8_t *p) {
        uint16_t v;

        memcpy(&v, p, 2);
        return v;
}

static int parse_vf_info(const uint8_t *data, size_t len, VsmQbgnlRequest *ret) {
        NlaIter it;
        uint16_t t;
        const uint8_t *d;
        size_t l;
        int r;

        nla_iter_init(&it, data, len);
        while ((r = nla_iter_next(&it, &t, &d, &l)) > 0) {
                switch (t) {
                case IFLA_VF_MAC:
                        if (l < VF_MAC_LEN)
                                return -EBADMSG;
                        memcpy(ret->mac, d + 4, 6);
                        ret->has_mac = true;
                        break;
                case IFLA_VF_VLAN: {
                        uint32_t vlan;

                        if (l < VF_VLAN_LEN)
                                return -EBADMSG;
                        vlan = get_u32(d + 4);
                        if (vlan > 4095)
                                return -ERANGE;
                        ret->vlan = (uint16_t) vlan;
                        ret->has_vlan = true;
                        break;
                }
                default:
                        break;
                }
        }
        return r;
}

/* Parses each nested attribute of type `type` in a list (IFLA_VFINFO_LIST,
 * IFLA_VF_PORTS) with `parse`, at most VSM_QBGNL_MAX_NESTED of them. */
static int parse_nested_list(const uint8_t *data, size_t len, uint16_t type,
                             int (*parse)(const uint8_t *, size_t, VsmQbgnlRequest *), VsmQbgnlRequest *ret) {
        NlaIter it;
        uint16_t t;
        const uint8_t *d;
        size_t l, n = 0;
        int r;

        nla_iter_init(&it, data, len);
        while ((r = nla_iter_next(&it, &t, &d, &l)) > 0) {
                if (t != type)
                        continue;
                if (++n > VSM_QBGNL_MAX_NESTED)
                        return -E2BIG;
                r = parse(d, l, ret);
                if (r < 0)
                        return r;
        }
        return r;
}

static int parse_vf_port(const uint8_t *data, size_t len, VsmQbgnlRequest *ret) {
        NlaIter it;
        uint16_t t;
        const uint8_t *d;
        size_t l;
        int r;

        nla_iter_init(&it, data, len);
        while ((r = nla_iter_next(&it, &t, &d, &l)) > 0) {
                switch (t) {
                case IFLA_PORT_VF:
                        if (l < 4)
                                return -EBADMSG;
                        ret->port_vf = get_u32(d);
                        ret->has_port_vf = true;
                        break;
                case IFLA_PORT_VSI_TYPE:
                        if (l < PORT_VSI_LEN - 3) /* the pad may be left out */
                                return -EBADMSG;
                        ret->mgr_id = d[0];
                        ret->type_id = (uint32_t) d[1] | (uint32_t) d[2] << 8 | (uint32_t) d[3] << 16;
                        ret->type_version = d[4];
                        ret->has_vsi_type = true;
                        break;
                case IFLA_PORT_INSTANCE_UUID:
                        if (l != 16)
                                return -EBADMSG;
                        memcpy(ret->instance, d, 16);
                        ret->has_instance = true;
                        break;
                case IFLA_PORT_REQUEST:
                        /* libvirt sends a u8, lldpad's own notices a u16. */
                        if (l == 1)
                                ret->request = d[0];
                        else if (l == 2)
                                ret->request = get_u16(d) > 0xff ? 0xff : (uint8_t) get_u16(d);
                        else
                                return -EBADMSG;
                        ret->has_request = true;
                        break;
                default:
                        break;
                }
        }
        return r;
}

/* Decodes one request (see qbgnl.h). */
int vsm_qbgnl_parse(const uint8_t *buf, size_t len, VsmQbgnlRequest *ret) {
        uint32_t nl_len;
        uint16_t type;
        NlaIter it;
        uint16_t t;
        const uint8_t *d;
        size_t l;
        int r;

        memset(ret, 0, sizeof(*ret));
        if (len < NLMSG_HDRLEN)
                return -EBADMSG;
        nl_len = get_u32(buf);
        type = get_u16(buf + 4);
        ret->nl_flags = get_u16(buf + 6);
        ret->nl_seq = get_u32(buf + 8);
        ret->nl_pid = get_u32(buf + 12);
        if (len > VSM_QBGNL_MAX_MSG || nl_len > VSM_QBGNL_MAX_MSG)
                return -EMSGSIZE;
        if (nl_len < NLMSG_HDRLEN || nl_len > len)
                return -EBADMSG;
        if (type == RTM_SETLINK)
                ret->kind = VSM_QBGNL_SETLINK;
        else if (type == RTM_GETLINK)
                ret->kind = VSM_QBGNL_GETLINK;
        else
                return -EOPNOTSUPP;
        if (nl_len - NLMSG_HDRLEN < IFINFOMSG_LEN)
                return -EBADMSG;
        memcpy(&ret->ifindex, buf + NLMSG_HDRLEN + 4, 4);

        nla_iter_init(&it, buf + NLMSG_HDRLEN + IFINFOMSG_LEN, nl_len - NLMSG_HDRLEN - IFINFOMSG_LEN);
        while ((r = nla_iter_next(&it, &t, &d, &l)) > 0) {
                switch (t) {
                case IFLA_IFNAME: {
                        size_t n = strnlen((const char *) d, l);

                        /* NUL-terminated, not empty, fits IFNAMSIZ. */
                        if (n == 0 || n == l || n >= VSM_QBGNL_IFNAMSIZ)
                                return -EBADMSG;
                        memcpy(ret->ifname, d, n);
                        ret->ifname[n] = '\0';
                        ret->has_ifname = true;
                        break;
                }
                case IFLA_EXT_MASK:
                        if (l < 4)
                                return -EBADMSG;
                        ret->ext_mask = get_u32(d);
                        ret->has_ext_mask = true;
                        break;
                case IFLA_VFINFO_LIST:
                        if (ret->kind != VSM_QBGNL_SETLINK)
                                break;
                        r = parse_nested_list(d, l, IFLA_VF_INFO, parse_vf_info, ret);
                        if (r < 0)
                                return r;
                        break;
                case IFLA_VF_PORTS:
                        if (ret->kind != VSM_QBGNL_SETLINK)
                                break;
                        r = parse_nested_list(d, l, IFLA_VF_PORT, parse_vf_port, ret);
                        if (r < 0)
                                return r;
                        break;
                default:
                        break;
                }
        }
        return r;
}

/* The attributes an 802.1Qbg SETLINK needs (see qbgnl.h). */
int vsm_qbgnl_setlink_check(const VsmQbgnlRequest *req, const char **ret_why) {
        const char *why = NULL;

        if (req->kind != VSM_QBGNL_SETLINK)
                why = "not a SETLINK";
        else if (!req->has_request)
                why = "no IFLA_PORT_REQUEST";
        else if (req->request > VSM_QBGNL_PORT_DISASSOCIATE)
                why = "IFLA_PORT_REQUEST out of range";
        else if (!req->has_instance)
                why = "no IFLA_PORT_INSTANCE_UUID";
        else if (!req->has_vsi_type)
                why = "no IFLA_PORT_VSI_TYPE";
        else if (!req->has_mac)
                why = "no IFLA_VF_MAC";
        else if (!req->has_vlan)
                /* lldpad (vdpnl_vfinfolist) rejects a MAC without a VID. */
                why = "IFLA_VF_MAC without IFLA_VF_VLAN";
        else if (!req->has_ifname && req->ifindex <= 0)
                why = "no interface named";
        if (why) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        return 0;
}

/* A small writer for netlink messages in host byte order. */
typedef struct NlWriter {
        uint8_t *p;
        size_t cap;
        size_t len;
        bool overflow;
} NlWriter;

static void *nlw_put(NlWriter *w, size_t n) {
        void *q;

        if (w->overflow || n > w->cap - w->len) {
                w->overflow = true;
                return NULL;
        }
        q = w->p + w->len;
        memset(q, 0, n);
        w->len += n;
        return q;
}

static void nlw_attr(NlWriter *w, uint16_t type, const void *data, size_t n) {
        size_t total = ALIGN4(NLA_HDRLEN_ + n);
        uint8_t *q = nlw_put(w, total);
        uint16_t l = (uint16_t) (NLA_HDRLEN_ + n);

        if (!q)
                return;
        memcpy(q, &l, 2);
        memcpy(q + 2, &type, 2);
        if (n)
                memcpy(q + NLA_HDRLEN_, data, n);
}

static void nlw_attr_u32(NlWriter *w, uint16_t type, uint32_t v) {
        nlw_attr(w, type, &v, 4);
}

static void nlw_attr_u16(NlWriter *w, uint16_t type, uint16_t v) {
        nlw_attr(w, type, &v, 2);
}

/* Opens a nested attribute; returns its offset for nlw_nest_end. */
static size_t nlw_nest_begin(NlWriter *w, uint16_t type) {
        size_t off = w->len;
        uint8_t *q = nlw_put(w, NLA_HDRLEN_);
        /* Without NLA_F_NESTED, as lldpad writes them (libnl masks it). */
        uint16_t t = type;

        if (q)
                memcpy(q + 2, &t, 2);
        return off;
}

static void nlw_nest_end(NlWriter *w, size_t off) {
        uint16_t l;

        if (w->overflow)
                return;
        l = (uint16_t) (w->len - off);
        memcpy(w->p + off, &l, 2);
}

static void nlw_header(NlWriter *w, uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid) {
        uint8_t *q = nlw_put(w, NLMSG_HDRLEN);

        if (!q)
                return;
        memcpy(q + 4, &type, 2);
        memcpy(q + 6, &flags, 2);
        memcpy(q + 8, &seq, 4);
        memcpy(q + 12, &pid, 4);
}

static int nlw_finish(NlWriter *w) {
        uint32_t l;

        if (w->overflow)
                return -ENOBUFS;
        l = (uint32_t) w->len;
        memcpy(w->p, &l, 4);
        return (int) w->len;
}

static void nlw_ifinfo(NlWriter *w, int32_t ifindex) {
        uint8_t *q = nlw_put(w, IFINFOMSG_LEN);

        if (q)
                memcpy(q + 4, &ifindex, 4);   /* ifi_family AF_UNSPEC, rest 0 */
}

/* NLMSG_ERROR for one request (see qbgnl.h). */
int vsm_qbgnl_build_error(uint8_t *buf, size_t size, const uint8_t *req_hdr, uint32_t our_pid, int error) {
        NlWriter w = { .p = buf, .cap = size };
        uint32_t seq;
        int32_t e = error;
        uint8_t *q;

        memcpy(&seq, req_hdr + 8, 4);
        nlw_header(&w, NLMSG_ERROR, 0, seq, our_pid);
        q = nlw_put(&w, 4 + NLMSG_HDRLEN);
        if (q) {
                memcpy(q, &e, 4);
                memcpy(q + 4, req_hdr, NLMSG_HDRLEN);
        }
        return nlw_finish(&w);
}

/* Size of one IFLA_VF_PORT in a GETLINK reply. */
static size_t port_size(const VsmQbgnlPort *p) {
        return NLA_HDRLEN_ + ALIGN4(NLA_HDRLEN_ + 4) + ALIGN4(NLA_HDRLEN_ + 16) +
               (p->has_response ? ALIGN4(NLA_HDRLEN_ + 2) : 0);
}

/* The GETLINK reply (see qbgnl.h). */
int vsm_qbgnl_build_getlink_reply(uint8_t *buf, size_t size, uint32_t seq, uint32_t our_pid, int32_t ifindex,
                                  const VsmQbgnlPort *ports, size_t n_ports, size_t *ret_n_written) {
        NlWriter w = { .p = buf, .cap = size };
        size_t nest, n = 0;
        int r;

        /* lldpad answers with NLMSG_DONE as the type; libvirt accepts it. */
        nlw_header(&w, NLMSG_DONE, 0, seq, our_pid);
        nlw_ifinfo(&w, ifindex);
        nest = nlw_nest_begin(&w, IFLA_VF_PORTS);
        for (size_t i = 0; i < n_ports && !w.overflow; i++) {
                size_t port;

                if (port_size(&ports[i]) > w.cap - w.len)
                        break;
                port = nlw_nest_begin(&w, IFLA_VF_PORT);
                nlw_attr_u32(&w, IFLA_PORT_VF, UINT32_MAX);   /* PORT_SELF_VF (-1) */
                nlw_attr(&w, IFLA_PORT_INSTANCE_UUID, ports[i].instance, 16);
                if (ports[i].has_response)
                        nlw_attr_u16(&w, IFLA_PORT_RESPONSE, ports[i].response);
                nlw_nest_end(&w, port);
                n++;
        }
        nlw_nest_end(&w, nest);
        r = nlw_finish(&w);
        if (r >= 0 && ret_n_written)
                *ret_n_written = n;
        return r;
}

/* The unsolicited DE-ASSOCIATE notice (see qbgnl.h). */
int vsm_qbgnl_build_notice(uint8_t *buf, size_t size, uint32_t seq, uint32_t our_pid, int32_t ifindex,
                           const char *ifname, const uint8_t mac[6], uint16_t vlan, uint8_t mgr_id,
                           uint32_t type_id, uint8_t type_version, const uint8_t instance[16]) {
        NlWriter w = { .p = buf, .cap = size };
        uint8_t vf_mac[VF_MAC_LEN] = {}, vf_vlan[VF_VLAN_LEN] = {}, vsi[PORT_VSI_LEN] = {};
        uint32_t all = UINT32_MAX, v = vlan;
        size_t list, info, ports, port;
        size_t nlen = strnlen(ifname, VSM_QBGNL_IFNAMSIZ - 1);

        memcpy(vf_mac, &all, 4);
        memcpy(vf_mac + 4, mac, 6);
        memcpy(vf_vlan, &all, 4);
        memcpy(vf_vlan + 4, &v, 4);
        vsi[0] = mgr_id;
        vsi[1] = (uint8_t) type_id;
        vsi[2] = (uint8_t) (type_id >> 8);
        vsi[3] = (uint8_t) (type_id >> 16);
        vsi[4] = type_version;

        nlw_header(&w, RTM_SETLINK, NLM_F_REQUEST, seq, our_pid);
        nlw_ifinfo(&w, ifindex);
        {
                char name[VSM_QBGNL_IFNAMSIZ] = {};

                memcpy(name, ifname, nlen);
                nlw_attr(&w, IFLA_IFNAME, name, nlen + 1);
        }
        list = nlw_nest_begin(&w, IFLA_VFINFO_LIST);
        info = nlw_nest_begin(&w, IFLA_VF_INFO);
        nlw_attr(&w, IFLA_VF_MAC, vf_mac, sizeof(vf_mac));
        nlw_attr(&w, IFLA_VF_VLAN, vf_vlan, sizeof(vf_vlan));
        nlw_nest_end(&w, info);
        nlw_nest_end(&w, list);
        ports = nlw_nest_begin(&w, IFLA_VF_PORTS);
        port = nlw_nest_begin(&w, IFLA_VF_PORT);
        nlw_attr_u32(&w, IFLA_PORT_VF, UINT32_MAX);
        nlw_attr(&w, IFLA_PORT_VSI_TYPE, vsi, sizeof(vsi));
        nlw_attr(&w, IFLA_PORT_INSTANCE_UUID, instance, 16);
        /* lldpad writes the request as a u16; libvirt reads its first
         * octet, which is the same on little-endian hosts.  So do we. */
        nlw_attr_u16(&w, IFLA_PORT_REQUEST, VSM_QBGNL_PORT_DISASSOCIATE);
        nlw_nest_end(&w, port);
        nlw_nest_end(&w, ports);
        return nlw_finish(&w);
}

const char *vsm_qbgnl_port_request_to_string(uint8_t request) {
        switch (request) {
        case VSM_QBGNL_PORT_PREASSOCIATE:
                return "PREASSOCIATE";
        case VSM_QBGNL_PORT_PREASSOCIATE_RR:
                return "PREASSOCIATE_RR";
        case VSM_QBGNL_PORT_ASSOCIATE:
                return "ASSOCIATE";
        case VSM_QBGNL_PORT_DISASSOCIATE:
                return "DISASSOCIATE";
        default:
                return "unknown";
        }
}

/* The agent's socket (see qbgnl.h). */
int vsm_qbgnl_socket_open(void) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_pid = (uint32_t) getpid(), .nl_groups = 0 };
        int one = 1;
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = -errno;

                close(fd);
                return e;
        }
        return fd;
}

ssize_t vsm_qbgnl_socket_recv(int fd, uint8_t *buf, size_t size, uint32_t *ret_port, uid_t *ret_uid,
                              pid_t *ret_pid) {
        struct sockaddr_nl sa = {};
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(struct ucred))];
        } control;
        struct msghdr msg = {
                .msg_name = &sa,
                .msg_namelen = sizeof(sa),
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        ssize_t n;

        memset(&control, 0, sizeof(control));
        n = recvmsg(fd, &msg, MSG_DONTWAIT);
        if (n < 0)
                return -errno;
        *ret_uid = (uid_t) -1;
        *ret_pid = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                    c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                        struct ucred cred;

                        memcpy(&cred, CMSG_DATA(c), sizeof(cred));
                        *ret_uid = cred.uid;
                        *ret_pid = cred.pid;
                }
        }
        *ret_port = msg.msg_namelen >= sizeof(sa) ? sa.nl_pid : 0;
        if (msg.msg_flags & MSG_TRUNC)
                return -EMSGSIZE;
        return n;
}

int vsm_qbgnl_socket_send(int fd, uint32_t port, const uint8_t *buf, size_t len) {
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_pid = port, .nl_groups = 0 };

        if (sendto(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

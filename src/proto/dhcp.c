/* DHCPv4 message codec.
 *
 * RFC 2131 section 2 (message format), 4.1 (options in file/sname after
 * option overload), 4.3.2 and 4.4.2 (INIT-REBOOT DHCPREQUEST: ciaddr 0,
 * option 50 set, no server id); RFC 2132 sections 3.14 (host name), 9.1
 * (requested IP), 9.2 (lease time), 9.3 (option overload), 9.6 (message
 * type), 9.7 (server id), 9.8 (parameter request list), 9.11/9.12 (T1,
 * T2), 9.14 (client identifier); RFC 3396 (an option that appears more
 * than once is the concatenation of its instances); RFC 951 (the 300-octet
 * minimum BOOTP message).
 */
#include "proto/dhcp.h"

#include <errno.h>
#include <string.h>

#define DHCP_FIXED_OPT_MAX 4         /* largest fixed-size option we keep */
#define DHCP_TTL 64

#define OVERLOAD_FILE 1
#define OVERLOAD_SNAME 2

/* A fixed-size option being gathered from one or more instances. */
typedef struct FixedOpt {
        bool seen;
        uint8_t size;                /* what the option must total */
        uint8_t len;
        uint8_t data[DHCP_FIXED_OPT_MAX];
} FixedOpt;

typedef struct ParseState {
        VsmDhcpMessage *m;
        size_t n_options;
        FixedOpt message_type, overload, requested_ip, server_id, lease_time, t1, t2;
} ParseState;

static int fixed_append(FixedOpt *o, VsmReader *body) {
        size_t n = vsm_reader_remaining(body);

        if (n > (size_t) (o->size - o->len))
                return -EBADMSG;
        (void) vsm_reader_bytes(body, o->data + o->len, n);
        o->len = (uint8_t) (o->len + n);
        o->seen = true;
        return 0;
}

/* Append to a variable-length option kept in buf (up to 255 octets). */
static int var_append(bool *has, uint8_t *len, uint8_t *buf, VsmReader *body) {
        size_t n = vsm_reader_remaining(body);

        if (n > (size_t) (VSM_DHCP_OPTION_MAX - *len))
                return -EMSGSIZE;
        (void) vsm_reader_bytes(body, buf + *len, n);
        *len = (uint8_t) (*len + n);
        *has = true;
        return 0;
}

static int option_store(ParseState *st, uint8_t code, VsmReader *body) {
        VsmDhcpMessage *m = st->m;

        switch (code) {
        case VSM_DHCP_OPT_MESSAGE_TYPE:
                return fixed_append(&st->message_type, body);
        case VSM_DHCP_OPT_OVERLOAD:
                return fixed_append(&st->overload, body);
        case VSM_DHCP_OPT_REQUESTED_IP:
                return fixed_append(&st->requested_ip, body);
        case VSM_DHCP_OPT_SERVER_ID:
                return fixed_append(&st->server_id, body);
        case VSM_DHCP_OPT_LEASE_TIME:
                return fixed_append(&st->lease_time, body);
        case VSM_DHCP_OPT_T1:
                return fixed_append(&st->t1, body);
        case VSM_DHCP_OPT_T2:
                return fixed_append(&st->t2, body);
        case VSM_DHCP_OPT_CLIENT_ID:
                return var_append(&m->has_client_id, &m->client_id_len, m->client_id, body);
        case VSM_DHCP_OPT_HOSTNAME:
                return var_append(&m->has_hostname, &m->hostname_len, (uint8_t *) m->hostname, body);
        case VSM_DHCP_OPT_PARAMETER_LIST:
                return var_append(&m->has_parameter_list, &m->parameter_list_len, m->parameter_list, body);
        default:
                return 0;            /* bounds checked by the caller, skipped */
        }
}

/* Walk one options-bearing field.  The options field must end with END;
 * overloaded file and sname fields may simply end. */
static int walk_field(ParseState *st, VsmReader *f, bool is_options_field) {
        for (;;) {
                uint8_t code, len;
                VsmReader body;
                int k;

                if (vsm_reader_remaining(f) == 0)
                        return is_options_field ? -EBADMSG : 0;
                (void) vsm_reader_u8(f, &code);
                if (code == VSM_DHCP_OPT_PAD)
                        continue;
                if (code == VSM_DHCP_OPT_END)
                        return 0;    /* what follows is padding, unread */
                if (vsm_reader_u8(f, &len) < 0 || vsm_reader_sub(f, len, &body) < 0)
                        return -EBADMSG;
                if (st->n_options >= VSM_DHCP_OPTIONS_MAX)
                        return -EMSGSIZE;
                st->n_options++;
                /* RFC 2131 4.1: option overload only in the options field. */
                if (code == VSM_DHCP_OPT_OVERLOAD && !is_options_field)
                        return -EBADMSG;
                k = option_store(st, code, &body);
                if (k < 0)
                        return k;
        }
}

/* A gathered fixed option must total exactly its size. */
static int fixed_check(const FixedOpt *o, bool *ret_has) {
        if (o->seen && o->len != o->size)
                return -EBADMSG;
        if (ret_has)
                *ret_has = o->seen;
        return 0;
}

static uint32_t be32_of(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

int vsm_dhcp_message_parse(VsmReader *r, VsmDhcpMessage *ret) {
        VsmDhcpMessage m = {};
        ParseState st = {
                .m = &m,
                .message_type.size = 1,
                .overload.size = 1,
                .requested_ip.size = VSM_IP4_ALEN,
                .server_id.size = VSM_IP4_ALEN,
                .lease_time.size = 4,
                .t1.size = 4,
                .t2.size = 4,
        };
        VsmReader hr = *r, sname, file, opts;
        uint32_t magic;
        int k;

        if (vsm_reader_remaining(&hr) < VSM_DHCP_FIXED_LEN + 4)
                return -EBADMSG;
        (void) vsm_reader_u8(&hr, &m.op);
        (void) vsm_reader_u8(&hr, &m.htype);
        (void) vsm_reader_u8(&hr, &m.hlen);
        (void) vsm_reader_u8(&hr, &m.hops);
        (void) vsm_reader_be32(&hr, &m.xid);
        (void) vsm_reader_be16(&hr, &m.secs);
        (void) vsm_reader_be16(&hr, &m.flags);
        (void) vsm_reader_bytes(&hr, m.ciaddr, VSM_IP4_ALEN);
        (void) vsm_reader_bytes(&hr, m.yiaddr, VSM_IP4_ALEN);
        (void) vsm_reader_bytes(&hr, m.siaddr, VSM_IP4_ALEN);
        (void) vsm_reader_bytes(&hr, m.giaddr, VSM_IP4_ALEN);
        (void) vsm_reader_bytes(&hr, m.chaddr, VSM_DHCP_CHADDR_LEN);
        (void) vsm_reader_sub(&hr, VSM_DHCP_SNAME_LEN, &sname);
        (void) vsm_reader_sub(&hr, VSM_DHCP_FILE_LEN, &file);
        (void) vsm_reader_be32(&hr, &magic);

        if (m.hlen > VSM_DHCP_CHADDR_LEN)
                return -EBADMSG;
        if (magic != VSM_DHCP_MAGIC)
                return -EBADMSG;

        (void) vsm_reader_sub(&hr, vsm_reader_remaining(&hr), &opts);
        k = walk_field(&st, &opts, true);
        if (k < 0)
                return k;

        k = fixed_check(&st.overload, NULL);
        if (k < 0)
                return k;
        if (st.overload.seen) {
                m.overload = st.overload.data[0];
                if (m.overload < 1 || m.overload > 3)
                        return -EBADMSG;
                if (m.overload & OVERLOAD_FILE) {
                        k = walk_field(&st, &file, false);
                        if (k < 0)
                                return k;
                }
                if (m.overload & OVERLOAD_SNAME) {
                        k = walk_field(&st, &sname, false);
                        if (k < 0)
                                return k;
                }
        }

        if ((k = fixed_check(&st.message_type, NULL)) < 0 ||
            (k = fixed_check(&st.requested_ip, &m.has_requested_ip)) < 0 ||
            (k = fixed_check(&st.server_id, &m.has_server_id)) < 0 ||
            (k = fixed_check(&st.lease_time, &m.has_lease_time)) < 0 ||
            (k = fixed_check(&st.t1, &m.has_t1)) < 0 ||
            (k = fixed_check(&st.t2, &m.has_t2)) < 0)
                return k;

        if (st.message_type.seen) {
                m.message_type = st.message_type.data[0];
                /* 0 means "absent" here and is no DHCP message type. */
                if (m.message_type == VSM_DHCP_NONE)
                        return -EBADMSG;
        }
        memcpy(m.requested_ip, st.requested_ip.data, VSM_IP4_ALEN);
        memcpy(m.server_id, st.server_id.data, VSM_IP4_ALEN);
        m.lease_time = be32_of(st.lease_time.data);
        m.t1 = be32_of(st.t1.data);
        m.t2 = be32_of(st.t2.data);
        m.hostname[m.hostname_len] = '\0';

        /* The options field runs to the end of the UDP payload. */
        *r = hr;
        *ret = m;
        return 0;
}

int vsm_dhcp_frame_parse(VsmReader *r, VsmDhcpFrame *ret) {
        VsmDhcpFrame f = {};
        VsmReader fr = *r, ip_payload, udp_payload;
        const uint8_t *udp_start;
        int k;

        k = vsm_eth_header_parse(&fr, &f.eth);
        if (k < 0)
                return k;
        if (f.eth.ethertype != VSM_ETH_P_IPV4)
                return -EBADMSG;
        k = vsm_ip4_header_parse(&fr, &f.ip, &ip_payload);
        if (k < 0)
                return k;
        if (f.ip.protocol != VSM_IP_PROTO_UDP)
                return -EBADMSG;

        udp_start = vsm_reader_peek(&ip_payload);
        k = vsm_udp_header_parse(&ip_payload, &f.udp, &udp_payload);
        if (k < 0)
                return k;
        if ((f.udp.sport != VSM_DHCP_SERVER_PORT && f.udp.sport != VSM_DHCP_CLIENT_PORT) ||
            (f.udp.dport != VSM_DHCP_SERVER_PORT && f.udp.dport != VSM_DHCP_CLIENT_PORT))
                return -EBADMSG;
        /* udp.len <= udp_avail: the UDP parser carved it. */
        f.udp_checksum_ok = f.udp.checksum == 0 ||
                vsm_ip4_pseudo_checksum(f.ip.src, f.ip.dst, VSM_IP_PROTO_UDP, udp_start, f.udp.len) == 0;

        k = vsm_dhcp_message_parse(&udp_payload, &f.msg);
        if (k < 0)
                return k;

        *r = fr;
        *ret = f;
        return 0;
}

static int write_option(VsmWriter *w, uint8_t code, const void *data, size_t len) {
        int k;

        if ((k = vsm_writer_u8(w, code)) < 0 ||
            (k = vsm_writer_u8(w, (uint8_t) len)) < 0 ||
            (k = vsm_writer_bytes(w, data, len)) < 0)
                return k;
        return 0;
}

static int write_option_be32(VsmWriter *w, uint8_t code, uint32_t v) {
        uint8_t b[4] = { (uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v };

        return write_option(w, code, b, sizeof(b));
}

static int message_write(VsmWriter *w, const VsmDhcpMessage *m) {
        size_t start = w->len;
        int k;

        if ((k = vsm_writer_u8(w, m->op)) < 0 ||
            (k = vsm_writer_u8(w, m->htype)) < 0 ||
            (k = vsm_writer_u8(w, m->hlen)) < 0 ||
            (k = vsm_writer_u8(w, m->hops)) < 0 ||
            (k = vsm_writer_be32(w, m->xid)) < 0 ||
            (k = vsm_writer_be16(w, m->secs)) < 0 ||
            (k = vsm_writer_be16(w, m->flags)) < 0 ||
            (k = vsm_writer_bytes(w, m->ciaddr, VSM_IP4_ALEN)) < 0 ||
            (k = vsm_writer_bytes(w, m->yiaddr, VSM_IP4_ALEN)) < 0 ||
            (k = vsm_writer_bytes(w, m->siaddr, VSM_IP4_ALEN)) < 0 ||
            (k = vsm_writer_bytes(w, m->giaddr, VSM_IP4_ALEN)) < 0 ||
            (k = vsm_writer_bytes(w, m->chaddr, VSM_DHCP_CHADDR_LEN)) < 0 ||
            (k = vsm_writer_zero(w, VSM_DHCP_SNAME_LEN + VSM_DHCP_FILE_LEN)) < 0 ||
            (k = vsm_writer_be32(w, VSM_DHCP_MAGIC)) < 0)
                return k;

        if (m->message_type != VSM_DHCP_NONE && (k = write_option(w, VSM_DHCP_OPT_MESSAGE_TYPE, &m->message_type, 1)) < 0)
                return k;
        if (m->has_client_id && (k = write_option(w, VSM_DHCP_OPT_CLIENT_ID, m->client_id, m->client_id_len)) < 0)
                return k;
        if (m->has_requested_ip &&
            (k = write_option(w, VSM_DHCP_OPT_REQUESTED_IP, m->requested_ip, VSM_IP4_ALEN)) < 0)
                return k;
        if (m->has_server_id && (k = write_option(w, VSM_DHCP_OPT_SERVER_ID, m->server_id, VSM_IP4_ALEN)) < 0)
                return k;
        if (m->has_lease_time && (k = write_option_be32(w, VSM_DHCP_OPT_LEASE_TIME, m->lease_time)) < 0)
                return k;
        if (m->has_t1 && (k = write_option_be32(w, VSM_DHCP_OPT_T1, m->t1)) < 0)
                return k;
        if (m->has_t2 && (k = write_option_be32(w, VSM_DHCP_OPT_T2, m->t2)) < 0)
                return k;
        if (m->has_hostname && (k = write_option(w, VSM_DHCP_OPT_HOSTNAME, m->hostname, m->hostname_len)) < 0)
                return k;
        if (m->has_parameter_list &&
            (k = write_option(w, VSM_DHCP_OPT_PARAMETER_LIST, m->parameter_list, m->parameter_list_len)) < 0)
                return k;
        if ((k = vsm_writer_u8(w, VSM_DHCP_OPT_END)) < 0)
                return k;
        if (w->len - start < VSM_DHCP_BOOTP_MIN && (k = vsm_writer_zero(w, VSM_DHCP_BOOTP_MIN - (w->len - start))) < 0)
                return k;
        return 0;
}

int vsm_dhcp_message_write(VsmWriter *w, const VsmDhcpMessage *m) {
        size_t saved = w->len;
        int k;

        k = message_write(w, m);
        if (k < 0)
                w->len = saved;      /* all or nothing */
        return k;
}

int vsm_dhcp_init_reboot_write(VsmWriter *w, const VsmDhcpInitReboot *req) {
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_IPV4 };
        VsmIp4Header ih = {
                .ttl = DHCP_TTL,
                .protocol = VSM_IP_PROTO_UDP,
        };
        VsmDhcpMessage m = {
                .op = VSM_DHCP_OP_REQUEST,
                .htype = VSM_DHCP_HTYPE_ETHER,
                .hlen = VSM_ETH_ALEN,
                .xid = req->xid,
                .message_type = VSM_DHCP_REQUEST,
                .has_requested_ip = true,
                .has_client_id = req->has_client_id,
                .client_id_len = req->has_client_id ? req->client_id_len : 0,
                .has_parameter_list = req->parameter_list_len > 0,
                .parameter_list_len = req->parameter_list_len,
        };
        size_t saved = w->len, ip_off, udp_off;
        int k;

        memcpy(eh.dst, vsm_eth_addr_broadcast, VSM_ETH_ALEN);
        memcpy(eh.src, req->mac, VSM_ETH_ALEN);
        memcpy(ih.dst, vsm_ip4_broadcast, VSM_IP4_ALEN);
        memcpy(m.chaddr, req->mac, VSM_ETH_ALEN);
        memcpy(m.requested_ip, req->requested_ip, VSM_IP4_ALEN);
        memcpy(m.client_id, req->client_id, m.client_id_len);
        memcpy(m.parameter_list, req->parameter_list, m.parameter_list_len);

        if ((k = vsm_eth_header_write(w, &eh)) < 0 ||
            (k = vsm_ip4_header_begin(w, &ih, &ip_off)) < 0 ||
            (k = vsm_udp_header_begin(w, VSM_DHCP_CLIENT_PORT, VSM_DHCP_SERVER_PORT, &udp_off)) < 0 ||
            (k = message_write(w, &m)) < 0 ||
            (k = vsm_udp4_header_finish(w, ih.src, ih.dst, udp_off)) < 0 ||
            (k = vsm_ip4_header_finish(w, ip_off)) < 0) {
                w->len = saved;
                return k;
        }
        return 0;
}

const char *vsm_dhcp_message_type_to_string(uint8_t type) {
        switch (type) {
        case VSM_DHCP_DISCOVER:
                return "discover";
        case VSM_DHCP_OFFER:
                return "offer";
        case VSM_DHCP_REQUEST:
                return "request";
        case VSM_DHCP_DECLINE:
                return "decline";
        case VSM_DHCP_ACK:
                return "ack";
        case VSM_DHCP_NAK:
                return "nak";
        case VSM_DHCP_RELEASE:
                return "release";
        case VSM_DHCP_INFORM:
                return "inform";
        case VSM_DHCP_LEASEQUERY:
                return "leasequery";
        case VSM_DHCP_LEASEUNASSIGNED:
                return "leaseunassigned";
        case VSM_DHCP_LEASEUNKNOWN:
                return "leaseunknown";
        case VSM_DHCP_LEASEACTIVE:
                return "leaseactive";
        default:
                return NULL;
        }
}

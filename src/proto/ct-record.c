/* Conntrack entries in transit between hosts: the binary record and the
 * carry's pure rules (see proto/ct-record.h; DESIGN.md section 4
 * "Conntrack"). */
#include "proto/ct-record.h"

#include <errno.h>
#include <string.h>

#define CT_IPPROTO_TCP 6
#define CT_IPPROTO_UDP 17

static const char *const skip_names[_VSM_CT_SKIP_MAX] = {
        [VSM_CT_SKIP_NAT] = "nat",
        [VSM_CT_SKIP_NOT_OWNED] = "not_owned",
        [VSM_CT_SKIP_CAP] = "cap",
        [VSM_CT_SKIP_PROTOCOL] = "protocol",
        [VSM_CT_SKIP_ZONE] = "zone",
        [VSM_CT_SKIP_MALFORMED] = "malformed",
};

const char *vsm_ct_skip_to_string(VsmCtSkip s) {
        if ((unsigned) s >= _VSM_CT_SKIP_MAX)
                return "invalid";
        return skip_names[s];
}

static size_t addr_len(uint8_t family) {
        return family == 4 ? 4 : family == 6 ? 16 : 0;
}

size_t vsm_ct_record_len(const VsmCtEntry *e) {
        size_t a = addr_len(e->family);

        return a ? VSM_CT_RECORD_HDR_LEN + 4 * a : 0;
}

int vsm_ct_record_write(VsmWriter *w, const VsmCtEntry *e) {
        size_t a = addr_len(e->family), need = vsm_ct_record_len(e);

        if (!a)
                return -EINVAL;
        if (need > w->cap - w->len)
                return -ENOBUFS;
        (void) vsm_writer_u8(w, e->family);
        (void) vsm_writer_u8(w, e->proto);
        (void) vsm_writer_u8(w, e->flags);
        (void) vsm_writer_u8(w, e->tcp_state);
        (void) vsm_writer_be32(w, e->zone);
        (void) vsm_writer_be32(w, e->status);
        (void) vsm_writer_be32(w, e->mark);
        (void) vsm_writer_be32(w, e->timeout);
        (void) vsm_writer_u8(w, e->wscale_orig);
        (void) vsm_writer_u8(w, e->wscale_repl);
        (void) vsm_writer_u8(w, e->tcpflags_orig);
        (void) vsm_writer_u8(w, e->tcpflags_repl);
        (void) vsm_writer_be16(w, e->orig_sport);
        (void) vsm_writer_be16(w, e->orig_dport);
        (void) vsm_writer_be16(w, e->repl_sport);
        (void) vsm_writer_be16(w, e->repl_dport);
        (void) vsm_writer_bytes(w, e->orig_src, a);
        (void) vsm_writer_bytes(w, e->orig_dst, a);
        (void) vsm_writer_bytes(w, e->repl_src, a);
        (void) vsm_writer_bytes(w, e->repl_dst, a);
        return 0;
}

int vsm_ct_record_read(VsmReader *r, VsmCtEntry *ret) {
        VsmReader sub;
        VsmCtEntry e = {};
        size_t a;
        const uint8_t *p = vsm_reader_peek(r);

        if (vsm_reader_remaining(r) < VSM_CT_RECORD_HDR_LEN || !p)
                return -EBADMSG;
        a = addr_len(p[0]);
        if (!a)
                return -EBADMSG;
        if (vsm_reader_sub(r, VSM_CT_RECORD_HDR_LEN + 4 * a, &sub) < 0)
                return -EBADMSG;
        (void) vsm_reader_u8(&sub, &e.family);
        (void) vsm_reader_u8(&sub, &e.proto);
        (void) vsm_reader_u8(&sub, &e.flags);
        (void) vsm_reader_u8(&sub, &e.tcp_state);
        (void) vsm_reader_be32(&sub, &e.zone);
        (void) vsm_reader_be32(&sub, &e.status);
        (void) vsm_reader_be32(&sub, &e.mark);
        (void) vsm_reader_be32(&sub, &e.timeout);
        (void) vsm_reader_u8(&sub, &e.wscale_orig);
        (void) vsm_reader_u8(&sub, &e.wscale_repl);
        (void) vsm_reader_u8(&sub, &e.tcpflags_orig);
        (void) vsm_reader_u8(&sub, &e.tcpflags_repl);
        (void) vsm_reader_be16(&sub, &e.orig_sport);
        (void) vsm_reader_be16(&sub, &e.orig_dport);
        (void) vsm_reader_be16(&sub, &e.repl_sport);
        (void) vsm_reader_be16(&sub, &e.repl_dport);
        (void) vsm_reader_bytes(&sub, e.orig_src, a);
        (void) vsm_reader_bytes(&sub, e.orig_dst, a);
        (void) vsm_reader_bytes(&sub, e.repl_src, a);
        (void) vsm_reader_bytes(&sub, e.repl_dst, a);
        if ((e.flags & ~VSM_CT_F_DESTROYED) || e.zone > 0xffff || e.timeout > VSM_CT_TIMEOUT_MAX ||
            e.wscale_orig > VSM_CT_WSCALE_MAX || e.wscale_repl > VSM_CT_WSCALE_MAX)
                return -EBADMSG;
        if (e.proto == CT_IPPROTO_TCP ? e.tcp_state >= VSM_CT_TCP_STATE_MAX
                                      : (e.tcp_state || e.wscale_orig || e.wscale_repl || e.tcpflags_orig ||
                                         e.tcpflags_repl))
                return -EBADMSG;
        *ret = e;
        return 0;
}

int vsm_ct_records_decode(const uint8_t *data, size_t len, VsmCtEntry *ret, size_t max) {
        VsmReader r;
        size_t n = 0;

        vsm_reader_init(&r, data, len);
        while (vsm_reader_remaining(&r) > 0) {
                VsmCtEntry e;

                if (n >= max)
                        return -E2BIG;
                if (vsm_ct_record_read(&r, &e) < 0)
                        return -EBADMSG;
                ret[n++] = e;
        }
        return n > (size_t) INT32_MAX ? -E2BIG : (int) n;
}

bool vsm_ct_proto_supported(uint8_t proto) {
        return proto == CT_IPPROTO_TCP || proto == CT_IPPROTO_UDP;
}

bool vsm_ct_entry_is_nat(const VsmCtEntry *e) {
        size_t a = addr_len(e->family);

        if (e->status & (VSM_CT_IPS_SRC_NAT | VSM_CT_IPS_DST_NAT))
                return true;
        return memcmp(e->orig_src, e->repl_dst, a) != 0 || memcmp(e->orig_dst, e->repl_src, a) != 0 ||
               e->orig_sport != e->repl_dport || e->orig_dport != e->repl_sport;
}

static bool owned_find(const VsmCtOwned *o, uint8_t family, const uint8_t *addr, unsigned *ret_nic) {
        size_t a = addr_len(family);

        for (size_t i = 0; i < o->n && i < VSM_CT_OWNED_MAX; i++)
                if (o->a[i].family == family && memcmp(o->a[i].addr, addr, a) == 0) {
                        if (ret_nic)
                                *ret_nic = o->a[i].nic;
                        return true;
                }
        return false;
}

bool vsm_ct_owned_match(const VsmCtOwned *o, const VsmCtEntry *e, unsigned *ret_nic) {
        if (!addr_len(e->family))
                return false;
        return owned_find(o, e->family, e->orig_src, ret_nic) || owned_find(o, e->family, e->orig_dst, ret_nic) ||
               owned_find(o, e->family, e->repl_src, ret_nic) || owned_find(o, e->family, e->repl_dst, ret_nic);
}

int vsm_ct_owned_add(VsmCtOwned *o, uint8_t family, const uint8_t *addr, uint8_t nic) {
        VsmCtAddr *x;
        size_t a = addr_len(family);

        if (!a)
                return -EINVAL;
        if (owned_find(o, family, addr, NULL))
                return 0;
        if (o->n >= VSM_CT_OWNED_MAX)
                return -ENOSPC;
        x = &o->a[o->n++];
        memset(x, 0, sizeof(*x));
        x->family = family;
        x->nic = nic;
        memcpy(x->addr, addr, a);
        return 0;
}

int vsm_ct_entry_check(const VsmCtEntry *e, const VsmCtOwned *o, bool nat_carry, unsigned *ret_nic) {
        if (!vsm_ct_proto_supported(e->proto))
                return VSM_CT_SKIP_PROTOCOL;
        if (e->zone > 0xffff)
                return VSM_CT_SKIP_ZONE;
        if (!vsm_ct_owned_match(o, e, ret_nic))
                return VSM_CT_SKIP_NOT_OWNED;
        if (!nat_carry && vsm_ct_entry_is_nat(e))
                return VSM_CT_SKIP_NAT;
        return -1;
}

uint32_t vsm_ct_timeout_remaining(uint32_t timeout_s, uint64_t learned_usec, uint64_t now_usec) {
        uint64_t elapsed = now_usec > learned_usec ? (now_usec - learned_usec) / 1000000u : 0;
        uint64_t left = timeout_s > elapsed ? timeout_s - elapsed : 1;

        if (left > VSM_CT_TIMEOUT_MAX)
                left = VSM_CT_TIMEOUT_MAX;
        return (uint32_t) left;
}

static int parse_zone(const char *s, size_t len, uint16_t *ret) {
        uint32_t v = 0;

        if (len == 0 || len > 5)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint32_t) (s[i] - '0');
        }
        if (v > 0xffff)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

static bool is_space(char c) {
        return c == ' ' || c == '\t';
}

int vsm_ct_zone_map_parse(const char *s, VsmCtZoneMap *ret) {
        VsmCtZoneMap m = {};
        const char *p = s;

        if (!s)
                return -EINVAL;
        while (is_space(*p))
                p++;
        if (strcmp(p, "keep") == 0 || *p == '\0') {
                *ret = m;
                return 0;
        }
        if (!strchr(p, ':')) {
                size_t len = strlen(p);

                while (len > 0 && is_space(p[len - 1]))
                        len--;
                if (parse_zone(p, len, &m.fixed) < 0)
                        return -EINVAL;
                m.mode = VSM_CT_ZONE_FIXED;
                *ret = m;
                return 0;
        }
        m.mode = VSM_CT_ZONE_BRIDGES;
        while (*p) {
                const char *end = strchr(p, ','), *colon;
                size_t len, blen;

                if (!end)
                        end = p + strlen(p);
                while (p < end && is_space(*p))
                        p++;
                len = (size_t) (end - p);
                while (len > 0 && is_space(p[len - 1]))
                        len--;
                colon = memchr(p, ':', len);
                if (!colon || m.n >= VSM_CT_ZONE_MAP_MAX)
                        return -EINVAL;
                blen = (size_t) (colon - p);
                if (blen == 0 || blen >= sizeof(m.m[0].bridge) || memchr(p, '/', blen))
                        return -EINVAL;
                memcpy(m.m[m.n].bridge, p, blen);
                m.m[m.n].bridge[blen] = '\0';
                if (parse_zone(colon + 1, len - blen - 1, &m.m[m.n].zone) < 0)
                        return -EINVAL;
                for (size_t i = 0; i < m.n; i++)
                        if (strcmp(m.m[i].bridge, m.m[m.n].bridge) == 0)
                                return -EINVAL;
                m.n++;
                if (*end && !end[1])
                        return -EINVAL;         /* a trailing comma */
                p = *end ? end + 1 : end;
        }
        if (m.n == 0)
                return -EINVAL;
        *ret = m;
        return 0;
}

uint16_t vsm_ct_zone_map_apply(const VsmCtZoneMap *m, const char *bridge, uint16_t zone) {
        switch (m->mode) {
        case VSM_CT_ZONE_FIXED:
                return m->fixed;
        case VSM_CT_ZONE_BRIDGES:
                for (size_t i = 0; bridge && i < m->n && i < VSM_CT_ZONE_MAP_MAX; i++)
                        if (strcmp(m->m[i].bridge, bridge) == 0)
                                return m->m[i].zone;
                return zone;
        default:
                return zone;
        }
}

void vsm_ct_tcp_install_flags(uint8_t carried, uint8_t *ret_flags, uint8_t *ret_mask) {
        *ret_flags = (uint8_t) ((carried & (VSM_CT_TCP_FLAG_WINDOW_SCALE | VSM_CT_TCP_FLAG_SACK_PERM |
                                            VSM_CT_TCP_FLAG_CLOSE_INIT)) |
                                VSM_CT_TCP_FLAG_BE_LIBERAL);
        *ret_mask = 0xff;
}

uint32_t vsm_ct_install_status(const VsmCtEntry *e, bool nat_carry) {
        uint32_t keep = VSM_CT_IPS_SEEN_REPLY | VSM_CT_IPS_ASSURED;

        if (nat_carry)
                keep |= VSM_CT_IPS_SRC_NAT | VSM_CT_IPS_DST_NAT;
        return e->status & keep;
}

/* Learner of one vNIC's network state from the frames on the VM's tap,
 * DESIGN.md section 4 "Learning on the source".
 *
 * DHCP (RFC 2131 section 3, RFC 2132): the guest's DISCOVER/REQUEST give
 * the client-id (option 61, or its absence), the hostname (12) and the
 * requested IP (50, else ciaddr of a RENEWING/REBINDING REQUEST); the
 * server's ACK to the vNIC's chaddr gives the lease.  An ACK with yiaddr
 * 0.0.0.0 answers a DHCPINFORM and carries no lease: ignored.  NAK, and the
 * guest's RELEASE or DECLINE, drop the lease but keep the client side (the
 * client-id is the guest's identity, not the lease's).
 *
 * IGMP/MLD: the guest's reports rebuild the host's per-group state
 * (RFC 3376 section 3, RFC 3810 section 4), not a router's (6.4 there
 * merges many hosts and keeps timers per source; one host needs neither):
 *   MODE_IS_INCLUDE(A), CHANGE_TO_INCLUDE(A)  -> INCLUDE(A)
 *   MODE_IS_EXCLUDE(A), CHANGE_TO_EXCLUDE(A)  -> EXCLUDE(A)
 *   ALLOW(A):  INCLUDE(X) -> INCLUDE(X+A);  EXCLUDE(X) -> EXCLUDE(X-A)
 *   BLOCK(A):  INCLUDE(X) -> INCLUDE(X-A);  EXCLUDE(X) -> EXCLUDE(X+A)
 * (RFC 3376 5.1's source-list-change records, applied in reverse).  A group
 * not known is INCLUDE{}; INCLUDE{} removes the group.  v1/v2 reports and
 * MLDv1 reports are EXCLUDE{}, v2 leaves and MLDv1 dones INCLUDE{}.  The
 * version is that of the last report for the group.  Sources past
 * VSM_LEARN_GROUP_SOURCES_MAX are refused and counted.
 *
 * Addresses: IPv4 from the guest's ARP (sender IP when the sender MAC is
 * the vNIC's, not 0.0.0.0, multicast or broadcast); IPv6 from the guest's
 * NA (target) and NS (IPv6 source, unless unspecified: a DAD probe).
 *
 * Last-seen, last-report and ACK times are refreshes: they do not move
 * the generation; everything else learned does.
 */
#include "sm/learn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/arp.h"
#include "proto/igmp.h"
#include "proto/mld.h"
#include "proto/ndisc.h"

struct VsmLearner {
        uint8_t mac[VSM_ETH_ALEN];
        uint64_t membership_interval_usec;
        uint64_t address_max_age_usec;
        uint64_t generation;
        VsmLearnStats stats;

        bool has_client;
        VsmLearnClient client;
        bool has_lease;
        VsmLearnLease lease;

        size_t n_groups;
        VsmLearnGroup groups[VSM_LEARN_GROUPS_MAX];
        size_t n_ip4;
        VsmLearnAddress ip4[VSM_LEARN_IP4_MAX];
        size_t n_ip6;
        VsmLearnAddress ip6[VSM_LEARN_IP6_MAX];
};

static const uint8_t zero16[VSM_IP6_ALEN];

static uint64_t add_sat(uint64_t a, uint64_t b) {
        return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

VsmLearner *vsm_learner_new(const uint8_t mac[VSM_ETH_ALEN]) {
        VsmLearner *l;

        if (!mac)
                return NULL;
        l = calloc(1, sizeof(*l));
        if (!l)
                return NULL;
        memcpy(l->mac, mac, VSM_ETH_ALEN);
        l->membership_interval_usec = VSM_LEARN_MEMBERSHIP_INTERVAL_USEC;
        l->address_max_age_usec = VSM_LEARN_ADDRESS_MAX_AGE_USEC;
        return l;
}

VsmLearner *vsm_learner_free(VsmLearner *l) {
        free(l);
        return NULL;
}

void vsm_learner_set_membership_interval(VsmLearner *l, uint64_t usec) {
        if (l && usec > 0)
                l->membership_interval_usec = usec;
}

void vsm_learner_set_address_max_age(VsmLearner *l, uint64_t usec) {
        if (l && usec > 0)
                l->address_max_age_usec = usec;
}

static void bump(VsmLearner *l) {
        l->generation++;
}

/* ---- DHCP ---- */

static bool client_same(const VsmLearnClient *a, const VsmLearnClient *b) {
        return a->client_id_state == b->client_id_state && a->client_id_len == b->client_id_len &&
               memcmp(a->client_id, b->client_id, a->client_id_len) == 0 && a->has_hostname == b->has_hostname &&
               a->hostname_len == b->hostname_len && memcmp(a->hostname, b->hostname, a->hostname_len) == 0 &&
               a->has_requested_ip == b->has_requested_ip &&
               memcmp(a->requested_ip, b->requested_ip, VSM_IP4_ALEN) == 0;
}

static bool lease_same(const VsmLearnLease *a, const VsmLearnLease *b) {
        return memcmp(a->address, b->address, VSM_IP4_ALEN) == 0 && a->has_server_id == b->has_server_id &&
               memcmp(a->server_id, b->server_id, VSM_IP4_ALEN) == 0 && a->lease_time == b->lease_time &&
               a->has_t1 == b->has_t1 && a->t1 == b->t1 && a->has_t2 == b->has_t2 && a->t2 == b->t2;
}

static bool drop_lease(VsmLearner *l) {
        if (!l->has_lease)
                return false;
        l->has_lease = false;
        memset(&l->lease, 0, sizeof(l->lease));
        bump(l);
        return true;
}

static bool chaddr_is_mac(const VsmLearner *l, const VsmDhcpMessage *m) {
        return m->htype == VSM_DHCP_HTYPE_ETHER && m->hlen == VSM_ETH_ALEN &&
               memcmp(m->chaddr, l->mac, VSM_ETH_ALEN) == 0;
}

static int learn_dhcp_client(VsmLearner *l, const VsmDhcpMessage *m, uint64_t now) {
        VsmLearnClient c;
        bool changed;

        switch (m->message_type) {
        case VSM_DHCP_DISCOVER:
        case VSM_DHCP_REQUEST:
                break;
        case VSM_DHCP_RELEASE:
        case VSM_DHCP_DECLINE:
                return drop_lease(l) ? 1 : 0;
        default:
                l->stats.n_ignored++;
                return 0;
        }

        c = l->client;
        if (m->has_client_id) {
                c.client_id_state = VSM_LEARN_CLIENT_ID_SENT;
                c.client_id_len = m->client_id_len;
                memset(c.client_id, 0, sizeof(c.client_id));
                memcpy(c.client_id, m->client_id, m->client_id_len);
        } else {
                c.client_id_state = VSM_LEARN_CLIENT_ID_NONE;
                c.client_id_len = 0;
                memset(c.client_id, 0, sizeof(c.client_id));
        }
        memset(c.hostname, 0, sizeof(c.hostname));
        c.has_hostname = m->has_hostname;
        c.hostname_len = m->has_hostname ? m->hostname_len : 0;
        if (m->has_hostname)
                memcpy(c.hostname, m->hostname, m->hostname_len);
        if (m->has_requested_ip) {
                c.has_requested_ip = true;
                memcpy(c.requested_ip, m->requested_ip, VSM_IP4_ALEN);
        } else if (memcmp(m->ciaddr, zero16, VSM_IP4_ALEN) != 0) {
                c.has_requested_ip = true;
                memcpy(c.requested_ip, m->ciaddr, VSM_IP4_ALEN);
        }
        c.last_message_type = m->message_type;
        c.last_seen_usec = now;

        changed = !l->has_client || !client_same(&l->client, &c);
        l->client = c;
        l->has_client = true;
        if (changed)
                bump(l);
        return changed ? 1 : 0;
}

static int learn_dhcp_server(VsmLearner *l, const VsmDhcpMessage *m, uint64_t now) {
        VsmLearnLease n = { 0 };
        bool changed;

        switch (m->message_type) {
        case VSM_DHCP_NAK:
                return drop_lease(l) ? 1 : 0;
        case VSM_DHCP_ACK:
                if (memcmp(m->yiaddr, zero16, VSM_IP4_ALEN) != 0)
                        break;
                /* An ACK to DHCPINFORM has no lease. */
                l->stats.n_ignored++;
                return 0;
        default:
                l->stats.n_ignored++;
                return 0;
        }

        memcpy(n.address, m->yiaddr, VSM_IP4_ALEN);
        n.has_server_id = m->has_server_id;
        if (m->has_server_id)
                memcpy(n.server_id, m->server_id, VSM_IP4_ALEN);
        n.lease_time = m->has_lease_time ? m->lease_time : VSM_LEARN_LEASE_INFINITE;
        n.has_t1 = m->has_t1;
        n.t1 = m->has_t1 ? m->t1 : 0;
        n.has_t2 = m->has_t2;
        n.t2 = m->has_t2 ? m->t2 : 0;
        n.ack_time_usec = now;

        changed = !l->has_lease || !lease_same(&l->lease, &n);
        l->lease = n;
        l->has_lease = true;
        if (changed)
                bump(l);
        return changed ? 1 : 0;
}

static int learn_dhcp(VsmLearner *l, const uint8_t *frame, size_t len, VsmLearnDirection dir, uint64_t now) {
        VsmDhcpFrame f;
        VsmReader r;
        int ret;

        vsm_reader_init(&r, frame, len);
        ret = vsm_dhcp_frame_parse(&r, &f);
        if (ret < 0) {
                l->stats.n_malformed++;
                return ret;
        }
        if (!chaddr_is_mac(l, &f.msg)) {
                /* A relay's or another client's message crossing the tap. */
                l->stats.n_foreign++;
                return 0;
        }
        if (dir == VSM_LEARN_FROM_GUEST && f.msg.op == VSM_DHCP_OP_REQUEST)
                return learn_dhcp_client(l, &f.msg, now);
        if (dir == VSM_LEARN_TO_GUEST && f.msg.op == VSM_DHCP_OP_REPLY)
                return learn_dhcp_server(l, &f.msg, now);
        l->stats.n_ignored++;
        return 0;
}

/* ---- groups ---- */

static VsmLearnGroup *group_find(VsmLearner *l, bool is_ip6, const uint8_t addr[VSM_IP6_ALEN]) {
        for (size_t i = 0; i < l->n_groups; i++)
                if (l->groups[i].is_ip6 == is_ip6 && memcmp(l->groups[i].address, addr, VSM_IP6_ALEN) == 0)
                        return &l->groups[i];
        return NULL;
}

static void group_remove(VsmLearner *l, VsmLearnGroup *g) {
        size_t i = (size_t) (g - l->groups);

        memmove(&l->groups[i], &l->groups[i + 1], (l->n_groups - i - 1) * sizeof(*g));
        l->n_groups--;
        memset(&l->groups[l->n_groups], 0, sizeof(*g));
}

static int source_index(const VsmLearnGroup *g, const uint8_t s[VSM_IP6_ALEN]) {
        for (int i = 0; i < g->n_sources; i++)
                if (memcmp(g->sources[i], s, VSM_IP6_ALEN) == 0)
                        return i;
        return -1;
}

static void source_add(VsmLearner *l, VsmLearnGroup *g, const uint8_t s[VSM_IP6_ALEN]) {
        if (source_index(g, s) >= 0)
                return;
        if (g->n_sources >= VSM_LEARN_GROUP_SOURCES_MAX) {
                l->stats.n_dropped_sources++;
                return;
        }
        memcpy(g->sources[g->n_sources++], s, VSM_IP6_ALEN);
}

static void source_del(VsmLearnGroup *g, const uint8_t s[VSM_IP6_ALEN]) {
        int i = source_index(g, s);

        if (i < 0)
                return;
        memmove(g->sources[i], g->sources[i + 1], (size_t) (g->n_sources - i - 1) * VSM_IP6_ALEN);
        g->n_sources--;
        memset(g->sources[g->n_sources], 0, VSM_IP6_ALEN);
}

static bool group_same(const VsmLearnGroup *a, const VsmLearnGroup *b) {
        if (a->version != b->version || a->mode != b->mode || a->n_sources != b->n_sources)
                return false;
        for (int i = 0; i < a->n_sources; i++)
                if (source_index(b, a->sources[i]) < 0)
                        return false;
        return true;
}

/* Apply one record (sources as 16-octet entries, IPv4 zero-padded) for the
 * host's state of group addr.  Returns true if the content changed. */
static bool group_apply(VsmLearner *l, bool is_ip6, const uint8_t addr[VSM_IP6_ALEN], VsmLearnMcastVersion version,
                        uint8_t type, const uint8_t (*src)[VSM_IP6_ALEN], size_t n_src, uint64_t now) {
        VsmLearnGroup *g = group_find(l, is_ip6, addr);
        VsmLearnGroup ng;
        bool changed;

        if (g) {
                ng = *g;
        } else {
                memset(&ng, 0, sizeof(ng));
                ng.is_ip6 = is_ip6;
                memcpy(ng.address, addr, VSM_IP6_ALEN);
                ng.mode = VSM_LEARN_FILTER_INCLUDE;   /* INCLUDE{}: not joined */
        }
        ng.version = version;
        ng.last_report_usec = now;

        switch (type) {
        case VSM_MCAST_MODE_IS_INCLUDE:
        case VSM_MCAST_CHANGE_TO_INCLUDE:
        case VSM_MCAST_MODE_IS_EXCLUDE:
        case VSM_MCAST_CHANGE_TO_EXCLUDE:
                ng.mode = (type == VSM_MCAST_MODE_IS_EXCLUDE || type == VSM_MCAST_CHANGE_TO_EXCLUDE) ?
                                  VSM_LEARN_FILTER_EXCLUDE :
                                  VSM_LEARN_FILTER_INCLUDE;
                ng.n_sources = 0;
                memset(ng.sources, 0, sizeof(ng.sources));
                for (size_t i = 0; i < n_src; i++)
                        source_add(l, &ng, src[i]);
                break;
        case VSM_MCAST_ALLOW_NEW_SOURCES:
        case VSM_MCAST_BLOCK_OLD_SOURCES: {
                bool add = (type == VSM_MCAST_ALLOW_NEW_SOURCES) == (ng.mode == VSM_LEARN_FILTER_INCLUDE);

                for (size_t i = 0; i < n_src; i++) {
                        if (add)
                                source_add(l, &ng, src[i]);
                        else
                                source_del(&ng, src[i]);
                }
                break;
        }
        default:
                return false;
        }

        if (ng.mode == VSM_LEARN_FILTER_INCLUDE && ng.n_sources == 0) {
                if (!g)
                        return false;
                group_remove(l, g);
                bump(l);
                return true;
        }
        if (!g) {
                if (l->n_groups >= VSM_LEARN_GROUPS_MAX) {
                        l->stats.n_dropped_groups++;
                        return false;
                }
                l->groups[l->n_groups++] = ng;
                bump(l);
                return true;
        }
        changed = !group_same(g, &ng);
        *g = ng;
        if (changed)
                bump(l);
        return changed;
}

/* Copy a v3/v2 record's sources (a slice of the message's flat pool of
 * alen-octet addresses) into src[] as 16-octet slots, zero-padded.  Up to
 * one past the cap so source_add() counts the excess; beyond that they are
 * counted here.  Returns how many were copied. */
static size_t record_sources(VsmLearner *l, const uint8_t *pool, size_t n_pool, size_t pool_max, size_t alen,
                             size_t first, uint16_t count,
                             uint8_t src[VSM_LEARN_GROUP_SOURCES_MAX + 1][VSM_IP6_ALEN]) {
        size_t n = 0;

        for (uint16_t k = 0; k < count; k++) {
                size_t idx = first + k;

                if (idx >= n_pool || idx >= pool_max)
                        break;
                if (n >= VSM_LEARN_GROUP_SOURCES_MAX + 1) {
                        l->stats.n_dropped_sources++;
                        continue;
                }
                memset(src[n], 0, VSM_IP6_ALEN);
                memcpy(src[n], pool + idx * alen, alen);
                n++;
        }
        return n;
}

static int learn_igmp(VsmLearner *l, const uint8_t *frame, size_t len, uint64_t now) {
        VsmIgmpFrame f;
        VsmReader r;
        uint8_t addr[VSM_IP6_ALEN] = { 0 };
        uint8_t src[VSM_LEARN_GROUP_SOURCES_MAX + 1][VSM_IP6_ALEN];
        bool changed = false;
        int ret;

        vsm_reader_init(&r, frame, len);
        ret = vsm_igmp_frame_parse(&r, &f);
        if (ret < 0) {
                l->stats.n_malformed++;
                return ret;
        }

        switch (f.msg.type) {
        case VSM_IGMP_V1_REPORT:
        case VSM_IGMP_V2_REPORT:
        case VSM_IGMP_V2_LEAVE:
                if (!vsm_ip4_is_multicast(f.msg.group))
                        break;
                memcpy(addr, f.msg.group, VSM_IP4_ALEN);
                changed = group_apply(l, false, addr,
                                      f.msg.type == VSM_IGMP_V1_REPORT ? VSM_LEARN_IGMP_V1 : VSM_LEARN_IGMP_V2,
                                      f.msg.type == VSM_IGMP_V2_LEAVE ? VSM_MCAST_CHANGE_TO_INCLUDE :
                                                                        VSM_MCAST_MODE_IS_EXCLUDE,
                                      NULL, 0, now);
                return changed ? 1 : 0;
        case VSM_IGMP_V3_REPORT:
                for (uint16_t i = 0; i < f.msg.n_records; i++) {
                        const VsmIgmpRecord *rec = &f.msg.records[i];
                        size_t n;

                        if (!vsm_ip4_is_multicast(rec->group))
                                continue;
                        memset(addr, 0, sizeof(addr));
                        memcpy(addr, rec->group, VSM_IP4_ALEN);
                        n = record_sources(l, &f.msg.sources[0][0], f.msg.n_sources, VSM_IGMP_SOURCES_MAX,
                                           VSM_IP4_ALEN, rec->first_source, rec->n_sources, src);
                        if (group_apply(l, false, addr, VSM_LEARN_IGMP_V3, rec->type, (const uint8_t(*)[VSM_IP6_ALEN]) src, n,
                                        now))
                                changed = true;
                }
                return changed ? 1 : 0;
        default:
                break;
        }
        l->stats.n_ignored++;
        return 0;
}

static int learn_mld(VsmLearner *l, const uint8_t *frame, size_t len, uint64_t now) {
        VsmMldFrame f;
        VsmReader r;
        uint8_t src[VSM_LEARN_GROUP_SOURCES_MAX + 1][VSM_IP6_ALEN];
        bool changed = false;
        int ret;

        vsm_reader_init(&r, frame, len);
        ret = vsm_mld_frame_parse(&r, &f);
        if (ret < 0) {
                l->stats.n_malformed++;
                return ret;
        }

        switch (f.msg.type) {
        case VSM_MLD_V1_REPORT:
        case VSM_MLD_V1_DONE:
                if (!vsm_ip6_is_multicast(f.msg.group))
                        break;
                changed = group_apply(l, true, f.msg.group, VSM_LEARN_MLD_V1,
                                      f.msg.type == VSM_MLD_V1_DONE ? VSM_MCAST_CHANGE_TO_INCLUDE :
                                                                      VSM_MCAST_MODE_IS_EXCLUDE,
                                      NULL, 0, now);
                return changed ? 1 : 0;
        case VSM_MLD_V2_REPORT:
                for (uint16_t i = 0; i < f.msg.n_records; i++) {
                        const VsmMldRecord *rec = &f.msg.records[i];
                        size_t n;

                        if (!vsm_ip6_is_multicast(rec->group))
                                continue;
                        n = record_sources(l, &f.msg.sources[0][0], f.msg.n_sources, VSM_MLD_SOURCES_MAX,
                                           VSM_IP6_ALEN, rec->first_source, rec->n_sources, src);
                        if (group_apply(l, true, rec->group, VSM_LEARN_MLD_V2, rec->type,
                                        (const uint8_t(*)[VSM_IP6_ALEN]) src, n, now))
                                changed = true;
                }
                return changed ? 1 : 0;
        default:
                break;
        }
        l->stats.n_ignored++;
        return 0;
}

/* ---- addresses ---- */

static bool address_seen(VsmLearner *l, bool is_ip6, const uint8_t *addr, uint64_t now) {
        VsmLearnAddress *tab = is_ip6 ? l->ip6 : l->ip4;
        size_t *n = is_ip6 ? &l->n_ip6 : &l->n_ip4;
        size_t cap = is_ip6 ? VSM_LEARN_IP6_MAX : VSM_LEARN_IP4_MAX;
        size_t alen = is_ip6 ? VSM_IP6_ALEN : VSM_IP4_ALEN;

        for (size_t i = 0; i < *n; i++) {
                if (memcmp(tab[i].address, addr, alen) == 0) {
                        tab[i].last_seen_usec = now;
                        return false;
                }
        }
        if (*n >= cap) {
                if (is_ip6)
                        l->stats.n_dropped_ip6++;
                else
                        l->stats.n_dropped_ip4++;
                return false;
        }
        memset(&tab[*n], 0, sizeof(tab[*n]));
        tab[*n].is_ip6 = is_ip6;
        memcpy(tab[*n].address, addr, alen);
        tab[*n].last_seen_usec = now;
        (*n)++;
        bump(l);
        return true;
}

static int learn_arp(VsmLearner *l, const uint8_t *frame, size_t len, uint64_t now) {
        VsmArpFrame f;
        VsmReader r;
        int ret;

        vsm_reader_init(&r, frame, len);
        ret = vsm_arp_frame_parse(&r, &f);
        if (ret < 0) {
                l->stats.n_malformed++;
                return ret;
        }
        if (memcmp(f.msg.sha, l->mac, VSM_ETH_ALEN) != 0) {
                /* e.g. a proxy ARP answer relayed by the guest */
                l->stats.n_foreign++;
                return 0;
        }
        if (memcmp(f.msg.spa, zero16, VSM_IP4_ALEN) == 0 || vsm_ip4_is_multicast(f.msg.spa) ||
            memcmp(f.msg.spa, vsm_ip4_broadcast, VSM_IP4_ALEN) == 0) {
                /* 0.0.0.0: an RFC 5227 probe, not yet the guest's address */
                l->stats.n_ignored++;
                return 0;
        }
        return address_seen(l, false, f.msg.spa, now) ? 1 : 0;
}

static int learn_ndisc(VsmLearner *l, const uint8_t *frame, size_t len, uint64_t now) {
        VsmNdiscFrame f;
        VsmReader r;
        const uint8_t *addr;
        int ret;

        vsm_reader_init(&r, frame, len);
        ret = vsm_ndisc_frame_parse(&r, &f);
        if (ret < 0) {
                l->stats.n_malformed++;
                return ret;
        }
        addr = f.msg.type == VSM_NDISC_NA ? f.msg.target : f.ip.src;
        if (memcmp(addr, zero16, VSM_IP6_ALEN) == 0 || vsm_ip6_is_multicast(addr)) {
                l->stats.n_ignored++;
                return 0;
        }
        return address_seen(l, true, addr, now) ? 1 : 0;
}

/* ---- dispatch ---- */

static bool is_group_mac(const uint8_t mac[VSM_ETH_ALEN]) {
        return (mac[0] & 1) != 0;
}

int vsm_learner_feed(VsmLearner *l, const uint8_t *frame, size_t len, VsmLearnDirection direction,
                     uint64_t now_usec) {
        VsmReader r, payload;
        VsmEthHeader eth;
        bool from_guest = direction == VSM_LEARN_FROM_GUEST;

        if (!l || (!frame && len > 0) || direction < 0 || direction >= _VSM_LEARN_DIRECTION_MAX)
                return -EINVAL;
        l->stats.n_frames++;

        vsm_reader_init(&r, frame, len);
        if (vsm_eth_header_parse(&r, &eth) < 0) {
                l->stats.n_malformed++;
                return -EBADMSG;
        }
        if (from_guest ? memcmp(eth.src, l->mac, VSM_ETH_ALEN) != 0 :
                         memcmp(eth.dst, l->mac, VSM_ETH_ALEN) != 0 && !is_group_mac(eth.dst)) {
                l->stats.n_foreign++;
                return 0;
        }

        switch (eth.ethertype) {
        case VSM_ETH_P_ARP:
                if (from_guest)
                        return learn_arp(l, frame, len, now_usec);
                break;
        case VSM_ETH_P_IPV4: {
                VsmIp4Header ip;
                VsmUdpHeader udp;
                VsmReader udp_payload;

                if (vsm_ip4_header_parse(&r, &ip, &payload) < 0) {
                        l->stats.n_malformed++;
                        return -EBADMSG;
                }
                if (ip.protocol == VSM_IP_PROTO_IGMP && from_guest)
                        return learn_igmp(l, frame, len, now_usec);
                if (ip.protocol != VSM_IP_PROTO_UDP)
                        break;
                if (vsm_udp_header_parse(&payload, &udp, &udp_payload) < 0) {
                        l->stats.n_malformed++;
                        return -EBADMSG;
                }
                if ((udp.sport == VSM_DHCP_CLIENT_PORT || udp.sport == VSM_DHCP_SERVER_PORT) &&
                    (udp.dport == VSM_DHCP_CLIENT_PORT || udp.dport == VSM_DHCP_SERVER_PORT))
                        return learn_dhcp(l, frame, len, direction, now_usec);
                break;
        }
        case VSM_ETH_P_IPV6: {
                VsmIp6Header ip;
                uint8_t type;

                if (vsm_ip6_header_parse(&r, &ip, &payload) < 0) {
                        l->stats.n_malformed++;
                        return -EBADMSG;
                }
                if (!from_guest || ip.next_header != VSM_IP_PROTO_ICMPV6 || vsm_reader_u8(&payload, &type) < 0)
                        break;
                if (type == VSM_MLD_V1_REPORT || type == VSM_MLD_V1_DONE || type == VSM_MLD_V2_REPORT)
                        return learn_mld(l, frame, len, now_usec);
                if (type == VSM_NDISC_NS || type == VSM_NDISC_NA)
                        return learn_ndisc(l, frame, len, now_usec);
                break;
        }
        default:
                break;
        }
        l->stats.n_ignored++;
        return 0;
}

/* ---- seeding with carried state ---- */

int vsm_learner_seed(VsmLearner *l, const VsmLearnClient *client, const VsmLearnLease *lease,
                     const VsmLearnGroup *groups, size_t n_groups, const VsmLearnAddress *addresses,
                     size_t n_addresses, uint64_t now_usec) {
        uint64_t before;

        if (!l)
                return 0;
        before = l->generation;
        if (client && !l->has_client && client->client_id_state < _VSM_LEARN_CLIENT_ID_MAX) {
                l->client = *client;
                l->client.last_seen_usec = now_usec;
                l->has_client = true;
                bump(l);
        }
        if (lease && !l->has_lease) {
                l->lease = *lease;
                l->has_lease = true;
                bump(l);
        }
        for (size_t i = 0; groups && i < n_groups; i++) {
                const VsmLearnGroup *g = &groups[i];
                VsmLearnGroup *n;

                if (group_find(l, g->is_ip6, g->address))
                        continue;
                if (l->n_groups >= VSM_LEARN_GROUPS_MAX) {
                        l->stats.n_dropped_groups++;
                        continue;
                }
                n = &l->groups[l->n_groups++];
                *n = *g;
                if (n->n_sources > VSM_LEARN_GROUP_SOURCES_MAX) {
                        l->stats.n_dropped_sources += n->n_sources - VSM_LEARN_GROUP_SOURCES_MAX;
                        n->n_sources = VSM_LEARN_GROUP_SOURCES_MAX;
                }
                n->last_report_usec = now_usec;
                bump(l);
        }
        for (size_t i = 0; addresses && i < n_addresses; i++)
                (void) address_seen(l, addresses[i].is_ip6, addresses[i].address, now_usec);
        return l->generation != before;
}

/* ---- expiry ---- */

static uint64_t lease_deadline(const VsmLearner *l) {
        if (!l->has_lease || l->lease.lease_time == VSM_LEARN_LEASE_INFINITE)
                return UINT64_MAX;
        return add_sat(l->lease.ack_time_usec, (uint64_t) l->lease.lease_time * VSM_LEARN_USEC_PER_SEC);
}

static unsigned expire_addresses(VsmLearner *l, VsmLearnAddress *tab, size_t *n, uint64_t now) {
        unsigned dropped = 0;
        size_t i = 0;

        while (i < *n) {
                if (add_sat(tab[i].last_seen_usec, l->address_max_age_usec) < now) {
                        memmove(&tab[i], &tab[i + 1], (*n - i - 1) * sizeof(*tab));
                        (*n)--;
                        memset(&tab[*n], 0, sizeof(*tab));
                        dropped++;
                } else {
                        i++;
                }
        }
        return dropped;
}

unsigned vsm_learner_expire(VsmLearner *l, uint64_t now_usec) {
        unsigned dropped = 0, lease_dropped = 0;
        size_t i = 0;

        if (!l)
                return 0;
        if (lease_deadline(l) < now_usec && drop_lease(l))   /* bumps itself */
                lease_dropped = 1;
        while (i < l->n_groups) {
                if (add_sat(l->groups[i].last_report_usec, l->membership_interval_usec) < now_usec) {
                        group_remove(l, &l->groups[i]);
                        dropped++;
                } else {
                        i++;
                }
        }
        dropped += expire_addresses(l, l->ip4, &l->n_ip4, now_usec);
        dropped += expire_addresses(l, l->ip6, &l->n_ip6, now_usec);
        if (dropped > 0)
                bump(l);
        return dropped + lease_dropped;
}

static uint64_t after(uint64_t deadline) {
        return deadline == UINT64_MAX ? UINT64_MAX : deadline + 1;
}

uint64_t vsm_learner_next_expiry(const VsmLearner *l) {
        uint64_t t;

        if (!l)
                return UINT64_MAX;
        t = after(lease_deadline(l));
        for (size_t i = 0; i < l->n_groups; i++) {
                uint64_t d = after(add_sat(l->groups[i].last_report_usec, l->membership_interval_usec));
                if (d < t)
                        t = d;
        }
        for (size_t i = 0; i < l->n_ip4; i++) {
                uint64_t d = after(add_sat(l->ip4[i].last_seen_usec, l->address_max_age_usec));
                if (d < t)
                        t = d;
        }
        for (size_t i = 0; i < l->n_ip6; i++) {
                uint64_t d = after(add_sat(l->ip6[i].last_seen_usec, l->address_max_age_usec));
                if (d < t)
                        t = d;
        }
        return t;
}

/* ---- accessors ---- */

const uint8_t *vsm_learner_get_mac(const VsmLearner *l) {
        return l ? l->mac : NULL;
}

int vsm_learner_get_client(const VsmLearner *l, VsmLearnClient *ret_client) {
        if (!l || !ret_client)
                return -EINVAL;
        if (!l->has_client)
                return -ENOENT;
        *ret_client = l->client;
        return 0;
}

int vsm_learner_get_lease(const VsmLearner *l, VsmLearnLease *ret_lease) {
        if (!l || !ret_lease)
                return -EINVAL;
        if (!l->has_lease)
                return -ENOENT;
        *ret_lease = l->lease;
        return 0;
}

size_t vsm_learner_n_groups(const VsmLearner *l) {
        return l ? l->n_groups : 0;
}

const VsmLearnGroup *vsm_learner_get_group(const VsmLearner *l, size_t i) {
        if (!l || i >= l->n_groups)
                return NULL;
        return &l->groups[i];
}

size_t vsm_learner_n_addresses(const VsmLearner *l, bool is_ip6) {
        if (!l)
                return 0;
        return is_ip6 ? l->n_ip6 : l->n_ip4;
}

const VsmLearnAddress *vsm_learner_get_address(const VsmLearner *l, bool is_ip6, size_t i) {
        if (!l || i >= vsm_learner_n_addresses(l, is_ip6))
                return NULL;
        return is_ip6 ? &l->ip6[i] : &l->ip4[i];
}

void vsm_learner_get_stats(const VsmLearner *l, VsmLearnStats *ret_stats) {
        if (l && ret_stats)
                *ret_stats = l->stats;
}

uint64_t vsm_learner_generation(const VsmLearner *l) {
        return l ? l->generation : 0;
}

bool vsm_learner_changed(const VsmLearner *l, uint64_t since_generation) {
        return l && l->generation != since_generation;
}

/* ---- names ---- */

const char *vsm_learn_direction_to_string(VsmLearnDirection d) {
        static const char *const names[_VSM_LEARN_DIRECTION_MAX] = {
                [VSM_LEARN_FROM_GUEST] = "from-guest",
                [VSM_LEARN_TO_GUEST] = "to-guest",
        };
        return (unsigned) d < _VSM_LEARN_DIRECTION_MAX ? names[d] : NULL;
}

const char *vsm_learn_client_id_to_string(VsmLearnClientId c) {
        static const char *const names[_VSM_LEARN_CLIENT_ID_MAX] = {
                [VSM_LEARN_CLIENT_ID_UNKNOWN] = "unknown",
                [VSM_LEARN_CLIENT_ID_NONE] = "none",
                [VSM_LEARN_CLIENT_ID_SENT] = "sent",
        };
        return (unsigned) c < _VSM_LEARN_CLIENT_ID_MAX ? names[c] : NULL;
}

const char *vsm_learn_mcast_version_to_string(VsmLearnMcastVersion v) {
        static const char *const names[_VSM_LEARN_MCAST_VERSION_MAX] = {
                [VSM_LEARN_IGMP_V1] = "igmpv1", [VSM_LEARN_IGMP_V2] = "igmpv2", [VSM_LEARN_IGMP_V3] = "igmpv3",
                [VSM_LEARN_MLD_V1] = "mldv1",   [VSM_LEARN_MLD_V2] = "mldv2",
        };
        return (unsigned) v < _VSM_LEARN_MCAST_VERSION_MAX ? names[v] : NULL;
}

const char *vsm_learn_filter_mode_to_string(VsmLearnFilterMode m) {
        static const char *const names[_VSM_LEARN_FILTER_MODE_MAX] = {
                [VSM_LEARN_FILTER_INCLUDE] = "include",
                [VSM_LEARN_FILTER_EXCLUDE] = "exclude",
        };
        return (unsigned) m < _VSM_LEARN_FILTER_MODE_MAX ? names[m] : NULL;
}

/* Learner of one vNIC's network state from the frames on the VM's tap,
 * DESIGN.md section 4 "Learning on the source".
 *
 * Ownership rule (DESIGN.md section 7 "Address provenance", vsimigd(8)):
 * the destination announces (GARP, unsolicited NA) only addresses the VM
 * owns, and this learner is where ownership is decided.  The VM owns:
 *   - its DHCP-leased address: an ACK seen going TO the guest for its MAC,
 *     until the lease expires (the lease, below);
 *   - an address the guest recently used as the IP source of its own
 *     traffic (any from-guest IPv4/IPv6 packet but Neighbor Discovery; the
 *     tap's BPF passes the low-volume ones: TCP with SYN, ICMP/ICMPv6
 *     echo, UDP to port 53, IGMP/MLD, DHCP), unicast, not in a loopback
 *     or "this network" block, at most VSM_LEARN_IP4_MAX/VSM_LEARN_IP6_MAX
 *     per vNIC, each forgotten after the address age without use;
 *   - and, for an address from traffic, only while no other MAC claims
 *     it (the lease is the DHCP server's word and stays): a to-guest ARP
 *     (sender IP X, sender MAC not the vNIC's), NA (target X, target
 *     link-layer address, else the Ethernet source, not the vNIC's), NS or
 *     RA (IPv6 source X, source link-layer address, else the Ethernet
 *     source, not the vNIC's) removes X from the owned addresses and keeps
 *     it out for VSM_LEARN_CLAIM_HOLD_USEC;
 *   - and, when the vNIC has nwfilter `IP`/`IPV6` parameters
 *     (vsm_learner_set_allowed), only those (for the lease, the
 *     destination's re-check, vsm_nic_state_recheck(), applies the list).
 * What the guest itself says about addresses (the sender of its ARP, the
 * target of its NA or NS, the source of its ND messages) is a claim, never
 * ownership: a guest that ARPs for the gateway's IP or NAs fe80::1 owns
 * neither.  The tap is sniffed before the bridge, so libvirt's nwfilter
 * (clean-traffic, no-arp-spoofing) does not protect the replay: this does.
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
 * VSM_LEARN_GROUP_SOURCES_MAX are refused and counted.  Link-local groups
 * (224.0.0.0/24, ff02::/16) are never learned (DESIGN.md section 4): they
 * are counted and take no slot of the group cap.
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

        /* Addresses another MAC claimed; last_seen_usec is the end of
         * the hold. */
        size_t n_claims;
        VsmLearnAddress claims[VSM_LEARN_CLAIMS_MAX];

        bool restricted;
        size_t n_allowed;
        VsmLearnAddress allowed[VSM_LEARN_ALLOWED_MAX];
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
        VsmLearnGroup *g;
        VsmLearnGroup ng;
        bool changed;

        if (is_ip6 ? vsm_ip6_is_link_local_group(addr) : vsm_ip4_is_link_local_group(addr)) {
                l->stats.n_link_local_groups++;
                return false;
        }
        g = group_find(l, is_ip6, addr);
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

static size_t alen_of(bool is_ip6) {
        return is_ip6 ? VSM_IP6_ALEN : VSM_IP4_ALEN;
}

bool vsm_learn_address_ownable(bool is_ip6, const uint8_t *a) {
        static const uint8_t loop6[VSM_IP6_ALEN] = { [15] = 1 };

        if (is_ip6)
                return !vsm_ip6_is_multicast(a) && memcmp(a, zero16, VSM_IP6_ALEN) != 0 &&
                       memcmp(a, loop6, VSM_IP6_ALEN) != 0;
        return a[0] != 0 && a[0] != 127 && !vsm_ip4_is_multicast(a) &&
               memcmp(a, vsm_ip4_broadcast, VSM_IP4_ALEN) != 0;
}

static bool address_allowed(const VsmLearner *l, bool is_ip6, const uint8_t *a) {
        if (!l->restricted)
                return true;
        for (size_t i = 0; i < l->n_allowed; i++)
                if (l->allowed[i].is_ip6 == is_ip6 && memcmp(l->allowed[i].address, a, alen_of(is_ip6)) == 0)
                        return true;
        return false;
}

static VsmLearnAddress *claim_find(VsmLearner *l, bool is_ip6, const uint8_t *a) {
        for (size_t i = 0; i < l->n_claims; i++)
                if (l->claims[i].is_ip6 == is_ip6 && memcmp(l->claims[i].address, a, alen_of(is_ip6)) == 0)
                        return &l->claims[i];
        return NULL;
}

static bool claim_held(VsmLearner *l, bool is_ip6, const uint8_t *a, uint64_t now) {
        const VsmLearnAddress *c = claim_find(l, is_ip6, a);

        return c && c->last_seen_usec >= now;
}

static void table_remove(VsmLearnAddress *tab, size_t *n, size_t i) {
        memmove(&tab[i], &tab[i + 1], (*n - i - 1) * sizeof(*tab));
        (*n)--;
        memset(&tab[*n], 0, sizeof(*tab));
}

/* Whether a is in the owned table; removes it if so. */
static bool owned_remove(VsmLearner *l, bool is_ip6, const uint8_t *a) {
        VsmLearnAddress *tab = is_ip6 ? l->ip6 : l->ip4;
        size_t *n = is_ip6 ? &l->n_ip6 : &l->n_ip4;

        for (size_t i = 0; i < *n; i++) {
                if (memcmp(tab[i].address, a, alen_of(is_ip6)) == 0) {
                        table_remove(tab, n, i);
                        return true;
                }
        }
        return false;
}

/* Another MAC claimed a (to the guest): not the VM's, for a while.  At the
 * cap the hold ending first makes room.  Returns true if an owned address
 * went away. */
static bool address_claimed(VsmLearner *l, bool is_ip6, const uint8_t *a, uint64_t now) {
        VsmLearnAddress *c;

        if (!vsm_learn_address_ownable(is_ip6, a))
                return false;
        c = claim_find(l, is_ip6, a);
        if (!c) {
                if (l->n_claims >= VSM_LEARN_CLAIMS_MAX) {
                        size_t oldest = 0;

                        for (size_t i = 1; i < l->n_claims; i++)
                                if (l->claims[i].last_seen_usec < l->claims[oldest].last_seen_usec)
                                        oldest = i;
                        table_remove(l->claims, &l->n_claims, oldest);
                        l->stats.n_dropped_claims++;
                }
                c = &l->claims[l->n_claims++];
                memset(c, 0, sizeof(*c));
                c->is_ip6 = is_ip6;
                memcpy(c->address, a, alen_of(is_ip6));
        }
        c->last_seen_usec = add_sat(now, VSM_LEARN_CLAIM_HOLD_USEC);
        if (!owned_remove(l, is_ip6, a))
                return false;
        l->stats.n_contradicted++;
        bump(l);
        return true;
}

/* The guest used a as an IP source: owned unless the rule says otherwise
 * (the top of this file).  Returns true if the content changed. */
static bool address_used(VsmLearner *l, bool is_ip6, const uint8_t *addr, uint64_t now) {
        VsmLearnAddress *tab = is_ip6 ? l->ip6 : l->ip4;
        size_t *n = is_ip6 ? &l->n_ip6 : &l->n_ip4;
        size_t cap = is_ip6 ? VSM_LEARN_IP6_MAX : VSM_LEARN_IP4_MAX;
        size_t alen = alen_of(is_ip6);

        if (!vsm_learn_address_ownable(is_ip6, addr))
                return false;
        if (!address_allowed(l, is_ip6, addr)) {
                l->stats.n_refused_filter++;
                return false;
        }
        if (claim_held(l, is_ip6, addr, now)) {
                l->stats.n_refused_claimed++;
                return false;
        }
        for (size_t i = 0; i < *n; i++) {
                if (memcmp(tab[i].address, addr, alen) == 0) {
                        if (now > tab[i].last_seen_usec)
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

/* From the guest: its sender fields are a claim, never ownership.  To the
 * guest: another MAC's sender fields take the address away. */
static int learn_arp(VsmLearner *l, const uint8_t *frame, size_t len, bool from_guest, uint64_t now) {
        VsmArpFrame f;
        VsmReader r;
        int ret;

        vsm_reader_init(&r, frame, len);
        ret = vsm_arp_frame_parse(&r, &f);
        if (ret < 0) {
                l->stats.n_malformed++;
                return ret;
        }
        if (from_guest) {
                l->stats.n_claims_ignored++;
                return 0;
        }
        if (memcmp(f.msg.sha, l->mac, VSM_ETH_ALEN) == 0 || !vsm_learn_address_ownable(false, f.msg.spa)) {
                /* our own (hairpin), or an RFC 5227 probe (sender 0.0.0.0) */
                l->stats.n_ignored++;
                return 0;
        }
        return address_claimed(l, false, f.msg.spa, now) ? 1 : 0;
}

static int learn_ndisc(VsmLearner *l, const uint8_t *frame, size_t len, bool from_guest, uint64_t now) {
        VsmNdiscFrame f;
        VsmReader r;
        const uint8_t *addr, *lla;
        int ret;

        vsm_reader_init(&r, frame, len);
        ret = vsm_ndisc_frame_parse(&r, &f);
        if (ret < 0) {
                l->stats.n_malformed++;
                return ret;
        }
        if (from_guest) {
                l->stats.n_claims_ignored++;
                return 0;
        }
        if (f.msg.type == VSM_NDISC_NA) {
                addr = f.msg.target;
                lla = f.msg.has_target_lla ? f.msg.target_lla : f.eth.src;
        } else {
                addr = f.ip.src;        /* :: for DAD: no claim yet */
                lla = f.msg.has_source_lla ? f.msg.source_lla : f.eth.src;
        }
        if (memcmp(lla, l->mac, VSM_ETH_ALEN) == 0 || !vsm_learn_address_ownable(true, addr)) {
                l->stats.n_ignored++;
                return 0;
        }
        return address_claimed(l, true, addr, now) ? 1 : 0;
}

/* A to-guest Router Advertisement (RFC 4861 4.2, 6.1.2: hop limit 255,
 * link-local source) claims its source for the router's MAC.  The
 * Ethernet source stands for the MAC: no claim is more than a removal, so
 * the ICMPv6 body is not checked. */
static int learn_ra(VsmLearner *l, const VsmEthHeader *eth, const VsmIp6Header *ip, uint64_t now) {
        if (ip->hop_limit != 255 || memcmp(eth->src, l->mac, VSM_ETH_ALEN) == 0 || ip->src[0] != 0xfe ||
            (ip->src[1] & 0xc0) != 0x80) {
                l->stats.n_ignored++;
                return 0;
        }
        return address_claimed(l, true, ip->src, now) ? 1 : 0;
}

int vsm_learner_set_allowed(VsmLearner *l, bool restricted, const VsmLearnAddress *allowed, size_t n) {
        uint64_t before;

        if (!l)
                return 0;
        before = l->generation;
        l->restricted = restricted;
        l->n_allowed = 0;
        memset(l->allowed, 0, sizeof(l->allowed));
        for (size_t i = 0; restricted && allowed && i < n && l->n_allowed < VSM_LEARN_ALLOWED_MAX; i++) {
                VsmLearnAddress *a = &l->allowed[l->n_allowed++];

                a->is_ip6 = allowed[i].is_ip6;
                memcpy(a->address, allowed[i].address, alen_of(a->is_ip6));
        }
        for (int fam = 0; fam < 2; fam++) {
                bool is_ip6 = fam == 1;
                VsmLearnAddress *tab = is_ip6 ? l->ip6 : l->ip4;
                size_t *cnt = is_ip6 ? &l->n_ip6 : &l->n_ip4;
                size_t i = 0;

                while (i < *cnt) {
                        if (!address_allowed(l, is_ip6, tab[i].address)) {
                                table_remove(tab, cnt, i);
                                bump(l);
                        } else {
                                i++;
                        }
                }
        }
        return l->generation != before;
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
                return learn_arp(l, frame, len, from_guest, now_usec);
        case VSM_ETH_P_IPV4: {
                VsmIp4Header ip;
                VsmUdpHeader udp;
                VsmReader udp_payload;
                bool used;
                int ret;

                if (vsm_ip4_header_parse(&r, &ip, &payload) < 0) {
                        l->stats.n_malformed++;
                        return -EBADMSG;
                }
                used = from_guest && address_used(l, false, ip.src, now_usec);
                ret = 0;
                if (ip.protocol == VSM_IP_PROTO_IGMP && from_guest) {
                        ret = learn_igmp(l, frame, len, now_usec);
                } else if (ip.protocol == VSM_IP_PROTO_UDP) {
                        if (vsm_udp_header_parse(&payload, &udp, &udp_payload) < 0) {
                                l->stats.n_malformed++;
                                ret = -EBADMSG;
                        } else if ((udp.sport == VSM_DHCP_CLIENT_PORT || udp.sport == VSM_DHCP_SERVER_PORT) &&
                                   (udp.dport == VSM_DHCP_CLIENT_PORT || udp.dport == VSM_DHCP_SERVER_PORT)) {
                                ret = learn_dhcp(l, frame, len, direction, now_usec);
                        } else if (!used) {
                                l->stats.n_ignored++;
                        }
                } else if (!used) {
                        l->stats.n_ignored++;
                }
                return used ? 1 : ret;
        }
        case VSM_ETH_P_IPV6: {
                VsmIp6Header ip;
                uint8_t type;
                bool icmp, used, nd;
                int ret = 0;

                if (vsm_ip6_header_parse(&r, &ip, &payload) < 0) {
                        l->stats.n_malformed++;
                        return -EBADMSG;
                }
                icmp = ip.next_header == VSM_IP_PROTO_ICMPV6 && vsm_reader_u8(&payload, &type) == 0;
                /* Neighbor Discovery (133-137) is how addresses are
                 * claimed: its source proves nothing. */
                nd = icmp && type >= VSM_NDISC_RS && type <= VSM_NDISC_REDIRECT;
                used = from_guest && !nd && address_used(l, true, ip.src, now_usec);
                if (icmp && from_guest &&
                    (type == VSM_MLD_V1_REPORT || type == VSM_MLD_V1_DONE || type == VSM_MLD_V2_REPORT))
                        ret = learn_mld(l, frame, len, now_usec);
                else if (icmp && (type == VSM_NDISC_NS || type == VSM_NDISC_NA))
                        ret = learn_ndisc(l, frame, len, from_guest, now_usec);
                else if (icmp && type == VSM_NDISC_RA && !from_guest)
                        ret = learn_ra(l, &eth, &ip, now_usec);
                else if (nd && from_guest)
                        l->stats.n_claims_ignored++;
                else if (!used)
                        l->stats.n_ignored++;
                return used ? 1 : ret;
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
                if (g->is_ip6 ? vsm_ip6_is_link_local_group(g->address) || !vsm_ip6_is_multicast(g->address)
                              : vsm_ip4_is_link_local_group(g->address) || !vsm_ip4_is_multicast(g->address)) {
                        l->stats.n_link_local_groups++;
                        continue;
                }
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
                (void) address_used(l, addresses[i].is_ip6, addresses[i].address, now_usec);
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
                        table_remove(tab, n, i);
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
        /* Holds that ended: not content, no generation move. */
        for (i = 0; i < l->n_claims;) {
                if (l->claims[i].last_seen_usec < now_usec)
                        table_remove(l->claims, &l->n_claims, i);
                else
                        i++;
        }
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

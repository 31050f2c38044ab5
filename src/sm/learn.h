/* Learner of one vNIC's network state, from the frames seen on the VM's
 * tap ("Learning on the source", DESIGN.md section 4): the DHCP client
 * identity and lease (RFC 2131, RFC 2132), the multicast groups the guest
 * joined with IGMPv1/v2/v3 (RFC 1112, RFC 2236, RFC 3376) and MLDv1/v2
 * (RFC 2710, RFC 3810), and the IPv4 and IPv6 addresses the VM owns
 * (DESIGN.md section 7, "Address provenance"; the rule is at the top of
 * learn.c).
 *
 * Pure: no I/O, no clock, no logging.  Every call takes the time in
 * microseconds.  All tables have hard caps; entries past a cap are refused
 * and counted, never grown.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/dhcp.h"
#include "proto/eth.h"
#include "proto/inet.h"

#define VSM_LEARN_GROUPS_MAX 64
#define VSM_LEARN_GROUP_SOURCES_MAX 32
#define VSM_LEARN_IP4_MAX 16
#define VSM_LEARN_IP6_MAX 16
/* Addresses another MAC claimed, kept out of the owned tables. */
#define VSM_LEARN_CLAIMS_MAX 32
/* The nwfilter IP list of the vNIC (vsm_learner_set_allowed). */
#define VSM_LEARN_ALLOWED_MAX 32

#define VSM_LEARN_USEC_PER_SEC UINT64_C(1000000)
/* RFC 3376 8.4 / RFC 3810 9.4: 2 * 125 s + 10 s. */
#define VSM_LEARN_MEMBERSHIP_INTERVAL_USEC (UINT64_C(260) * VSM_LEARN_USEC_PER_SEC)
#define VSM_LEARN_ADDRESS_MAX_AGE_USEC (UINT64_C(3600) * VSM_LEARN_USEC_PER_SEC)
/* How long another MAC's claim keeps an address out. */
#define VSM_LEARN_CLAIM_HOLD_USEC (UINT64_C(600) * VSM_LEARN_USEC_PER_SEC)
#define VSM_LEARN_LEASE_INFINITE UINT32_MAX

/* Which way a frame crossed the tap. */
typedef enum VsmLearnDirection {
        VSM_LEARN_FROM_GUEST,        /* sent by the VM */
        VSM_LEARN_TO_GUEST,          /* delivered to the VM */
        _VSM_LEARN_DIRECTION_MAX,
} VsmLearnDirection;

/* What we know of the DHCP client-id (option 61): a replay must send
 * exactly what the guest sent, including nothing (DESIGN.md section 4). */
typedef enum VsmLearnClientId {
        VSM_LEARN_CLIENT_ID_UNKNOWN, /* no DISCOVER/REQUEST seen yet */
        VSM_LEARN_CLIENT_ID_NONE,    /* the guest sent no option 61 */
        VSM_LEARN_CLIENT_ID_SENT,    /* the guest sent one (maybe empty) */
        _VSM_LEARN_CLIENT_ID_MAX,
} VsmLearnClientId;

/* The protocol version a group was last reported with. */
typedef enum VsmLearnMcastVersion {
        VSM_LEARN_IGMP_V1,
        VSM_LEARN_IGMP_V2,
        VSM_LEARN_IGMP_V3,
        VSM_LEARN_MLD_V1,
        VSM_LEARN_MLD_V2,
        _VSM_LEARN_MCAST_VERSION_MAX,
} VsmLearnMcastVersion;

/* RFC 3376 section 3 filter mode. */
typedef enum VsmLearnFilterMode {
        VSM_LEARN_FILTER_INCLUDE,
        VSM_LEARN_FILTER_EXCLUDE,
        _VSM_LEARN_FILTER_MODE_MAX,
} VsmLearnFilterMode;

/* The client side, from the guest's DISCOVER/REQUEST (chaddr = the MAC). */
typedef struct VsmLearnClient {
        VsmLearnClientId client_id_state;
        uint8_t client_id_len;
        uint8_t client_id[VSM_DHCP_OPTION_MAX];
        bool has_hostname;
        uint8_t hostname_len;
        char hostname[VSM_DHCP_OPTION_MAX + 1]; /* NUL-terminated; raw octets */
        bool has_requested_ip;
        uint8_t requested_ip[VSM_IP4_ALEN];
        uint8_t last_message_type;   /* VsmDhcpMessageType */
        uint64_t last_seen_usec;
} VsmLearnClient;

/* The lease, from the server's ACK to the MAC.  Known only after an ACK. */
typedef struct VsmLearnLease {
        uint8_t address[VSM_IP4_ALEN]; /* yiaddr */
        bool has_server_id;
        uint8_t server_id[VSM_IP4_ALEN];
        uint32_t lease_time;         /* seconds; VSM_LEARN_LEASE_INFINITE if
                                      * infinite or absent */
        bool has_t1;
        uint32_t t1;
        bool has_t2;
        uint32_t t2;
        uint64_t ack_time_usec;
} VsmLearnLease;

/* A joined group.  INCLUDE mode always has at least one source (INCLUDE{}
 * is "not joined" and removes the group). */
typedef struct VsmLearnGroup {
        bool is_ip6;
        uint8_t address[VSM_IP6_ALEN]; /* IPv4 in the first 4 octets */
        VsmLearnMcastVersion version;
        VsmLearnFilterMode mode;
        uint16_t n_sources;
        uint8_t sources[VSM_LEARN_GROUP_SOURCES_MAX][VSM_IP6_ALEN];
        uint64_t last_report_usec;
} VsmLearnGroup;

/* One of the unicast addresses the VM owns (learn.c: the rule). */
typedef struct VsmLearnAddress {
        bool is_ip6;
        uint8_t address[VSM_IP6_ALEN]; /* IPv4 in the first 4 octets */
        uint64_t last_seen_usec;
} VsmLearnAddress;

/* Frame and refusal counters. */
typedef struct VsmLearnStats {
        uint64_t n_frames;           /* every vsm_learner_feed() call */
        uint64_t n_foreign;          /* not from (or to) this vNIC's MAC */
        uint64_t n_malformed;        /* a codec rejected it */
        uint64_t n_ignored;          /* well-formed but nothing to learn */
        uint64_t n_dropped_groups;   /* new groups refused at the cap */
        uint64_t n_dropped_sources;  /* sources refused at the per-group cap */
        uint64_t n_dropped_ip4;      /* new IPv4 addresses refused at the cap */
        uint64_t n_dropped_ip6;      /* new IPv6 addresses refused at the cap */
        uint64_t n_claims_ignored;   /* the guest's ARP sender / NA target:
                                      * claims, never ownership */
        uint64_t n_contradicted;     /* owned addresses removed: another MAC
                                      * claimed them to the guest */
        uint64_t n_refused_claimed;  /* sources refused: another MAC's claim
                                      * holds the address */
        uint64_t n_refused_filter;   /* sources refused: not in the nwfilter
                                      * IP list */
        uint64_t n_link_local_groups; /* records/joins of 224.0.0.0/24 and
                                      * ff02::/16 ignored */
        uint64_t n_dropped_claims;   /* claim holds evicted at the cap */
} VsmLearnStats;

typedef struct VsmLearner VsmLearner;

/* A learner for the vNIC with this MAC, with the default membership
 * interval (260 s) and address age (3600 s).  NULL on allocation failure. */
VsmLearner *vsm_learner_new(const uint8_t mac[VSM_ETH_ALEN]);
/* Free; accepts NULL and returns NULL. */
VsmLearner *vsm_learner_free(VsmLearner *l);
/* How long a group lives without a report (0 keeps the current value). */
void vsm_learner_set_membership_interval(VsmLearner *l, uint64_t usec);
/* How long an address lives without being seen (0 keeps the current value). */
void vsm_learner_set_address_max_age(VsmLearner *l, uint64_t usec);
/* Decode one Ethernet frame seen on the tap and learn from it.  Returns
 * 1 if the learned state changed (the generation moved), 0 if not,
 * -EBADMSG/-EMSGSIZE if a codec rejected it (counted in n_malformed; the
 * state is unchanged).  Never reads past frame[0..len). */
int vsm_learner_feed(VsmLearner *l, const uint8_t *frame, size_t len, VsmLearnDirection direction,
                     uint64_t now_usec);
/* Drop expired leases (ack_time + lease_time < now), groups not reported
 * for the membership interval and addresses not seen for the maximum age.
 * Returns how many entries were dropped. */
unsigned vsm_learner_expire(VsmLearner *l, uint64_t now_usec);
/* The earliest time at which vsm_learner_expire() would drop something;
 * UINT64_MAX if nothing can expire. */
uint64_t vsm_learner_next_expiry(const VsmLearner *l);

/* Restrict the owned addresses to the vNIC's nwfilter `IP`/`IPV6`
 * parameters (domain XML): with restricted true, only addresses in
 * allowed[0..n) (at most VSM_LEARN_ALLOWED_MAX are kept; an address family
 * with no entry owns nothing) are learned or seeded, and owned addresses
 * outside the list are dropped now; restricted false lifts it.  Returns 1
 * if the content changed, 0 if not. */
int vsm_learner_set_allowed(VsmLearner *l, bool restricted, const VsmLearnAddress *allowed, size_t n);

/* Seed a (new) learner with state carried from the host the VM migrated
 * from, so what the guest did there is not forgotten here: the client side
 * (unless one was seen here already), the lease (ack_time_usec already on
 * this learner's clock; unless one was learned here), and groups and
 * addresses not known yet (link-local groups, addresses outside the
 * nwfilter list, held by another MAC's claim or not unicast are refused as
 * for learned content) (their last-report/last-seen set to now_usec, so
 * they live one membership interval / address age unless refreshed).
 * Caps apply as for learned content and are counted.  Returns 1 if the
 * content changed, 0 if not. */
int vsm_learner_seed(VsmLearner *l, const VsmLearnClient *client, const VsmLearnLease *lease,
                     const VsmLearnGroup *groups, size_t n_groups, const VsmLearnAddress *addresses,
                     size_t n_addresses, uint64_t now_usec);

/* The vNIC's MAC. */
const uint8_t *vsm_learner_get_mac(const VsmLearner *l);
/* Copy the client side into *ret_client; -ENOENT (ret untouched) if no
 * DISCOVER/REQUEST from the guest was seen. */
int vsm_learner_get_client(const VsmLearner *l, VsmLearnClient *ret_client);
/* Copy the lease into *ret_lease; -ENOENT (ret untouched) without an ACK. */
int vsm_learner_get_lease(const VsmLearner *l, VsmLearnLease *ret_lease);
/* Number of joined groups. */
size_t vsm_learner_n_groups(const VsmLearner *l);
/* The i-th group, or NULL past the end.  Valid until the next feed/expire. */
const VsmLearnGroup *vsm_learner_get_group(const VsmLearner *l, size_t i);
/* Number of learned IPv4 (is_ip6 false) or IPv6 addresses. */
size_t vsm_learner_n_addresses(const VsmLearner *l, bool is_ip6);
/* The i-th IPv4 or IPv6 address, or NULL past the end.  Valid until the
 * next feed/expire. */
const VsmLearnAddress *vsm_learner_get_address(const VsmLearner *l, bool is_ip6, size_t i);
/* Copy the counters into *ret_stats. */
void vsm_learner_get_stats(const VsmLearner *l, VsmLearnStats *ret_stats);
/* Bumped on every change of learned content (not on mere refreshes of a
 * last-seen or last-report time); starts at 0. */
uint64_t vsm_learner_generation(const VsmLearner *l);
/* True if the learned content changed since the given generation: lets
 * the daemon debounce snapshot writes. */
bool vsm_learner_changed(const VsmLearner *l, uint64_t since_generation);

/* Whether an address can be owned at all: unicast, and not in 0.0.0.0/8,
 * 127.0.0.0/8, nor 255.255.255.255, ::, ::1.  a holds 4 or 16 octets. */
bool vsm_learn_address_ownable(bool is_ip6, const uint8_t *a);

/* "from-guest", "to-guest"; NULL if unknown. */
const char *vsm_learn_direction_to_string(VsmLearnDirection d);
/* "unknown", "none", "sent"; NULL if unknown. */
const char *vsm_learn_client_id_to_string(VsmLearnClientId c);
/* "igmpv1", "igmpv2", "igmpv3", "mldv1", "mldv2"; NULL if unknown. */
const char *vsm_learn_mcast_version_to_string(VsmLearnMcastVersion v);
/* "include", "exclude"; NULL if unknown. */
const char *vsm_learn_filter_mode_to_string(VsmLearnFilterMode m);

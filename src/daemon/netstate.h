/* A vNIC's learned network state as it travels between hosts: built from
 * the source's learner (sm/learn.h), carried in the domain's live
 * <metadata> (XML, our namespace) and over the peer channel (JSON), and
 * replayed by the destination (daemon/replay.h).
 *
 * Everything parsed here is untrusted (another host's JSON, domain XML):
 * strict types, hard caps (the learner's: VSM_LEARN_GROUPS_MAX groups,
 * VSM_LEARN_GROUP_SOURCES_MAX sources, VSM_LEARN_IP4_MAX/IP6_MAX
 * addresses, VSM_NETSTATE_NICS_MAX NICs), clear GErrors (VSM_ERROR,
 * VSM_ERROR_INVALID), nothing half-built returned.
 *
 * Times: the lease's ACK time is wall-clock (g_get_real_time() µs) so the
 * other host can tell whether it is still valid. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

#include "daemon/domain-xml.h"
#include "proto/eth.h"
#include "proto/inet.h"
#include "sm/learn.h"

#define VSM_NETSTATE_NICS_MAX 64
#define VSM_NETSTATE_TOKEN_LEN 32      /* hex characters of the per-domain token (128 bit) */
#define VSM_NETSTATE_ORIGIN_MAX 255    /* "host:port" / "[v6]:port" */

typedef struct VsmStateGroup {
        gboolean is_ip6;
        uint8_t address[VSM_IP6_ALEN]; /* IPv4 in the first 4 octets */
        VsmLearnMcastVersion version;  /* the version the guest used */
        VsmLearnFilterMode mode;
        guint n_sources;
        uint8_t (*sources)[VSM_IP6_ALEN]; /* n_sources entries, owned; NULL if 0 */
} VsmStateGroup;

typedef struct VsmNicState {
        uint8_t mac[VSM_ETH_ALEN];
        /* DHCP client side */
        VsmLearnClientId client_id_state;
        guint8 client_id_len;
        uint8_t client_id[VSM_DHCP_OPTION_MAX]; /* valid when state == SENT */
        char *hostname;                /* NULL if none; printable ASCII only after parse */
        /* DHCP lease (from the server's ACK) */
        gboolean has_lease;
        uint8_t lease_address[VSM_IP4_ALEN];
        gboolean has_server_id;
        uint8_t server_id[VSM_IP4_ALEN];
        guint32 lease_time;            /* s; VSM_LEARN_LEASE_INFINITE */
        gint64 lease_ack_real_usec;    /* wall clock of the ACK */
        /* groups and addresses */
        GArray *groups;                /* VsmStateGroup (sources owned via clear func) */
        GArray *ip4;                   /* uint8_t[VSM_IP4_ALEN] */
        GArray *ip6;                   /* uint8_t[VSM_IP6_ALEN] */
} VsmNicState;

/* What the snapshot in <metadata> holds for the whole domain. */
typedef struct VsmDomainState {
        uint8_t uuid[16];
        char *origin;                  /* peer listener of the host that wrote it, or NULL */
        char token[VSM_NETSTATE_TOKEN_LEN + 1]; /* "" if none */
        guint64 generation;            /* bumped by the writer on every change */
        GPtrArray *nics;               /* VsmNicState, owned */
} VsmDomainState;

VsmNicState *vsm_nic_state_new(const uint8_t mac[VSM_ETH_ALEN]);
VsmNicState *vsm_nic_state_free(VsmNicState *s);
VsmNicState *vsm_nic_state_copy(const VsmNicState *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmNicState, vsm_nic_state_free)
/* TRUE if both hold the same content. */
gboolean vsm_nic_state_equal(const VsmNicState *a, const VsmNicState *b);

VsmDomainState *vsm_domain_state_new(const uint8_t uuid[16]);
VsmDomainState *vsm_domain_state_free(VsmDomainState *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmDomainState, vsm_domain_state_free)
/* The NIC with this MAC, or NULL. */
VsmNicState *vsm_domain_state_find_nic(const VsmDomainState *s, const uint8_t mac[VSM_ETH_ALEN]);

/* A snapshot of a learner's content.  mono_now/real_now (µs) convert the
 * learner's monotonic ACK time to wall clock.  Never NULL. */
VsmNicState *vsm_nic_state_from_learner(const VsmLearner *l, gint64 mono_now_usec, gint64 real_now_usec);
/* TRUE if s holds a lease that has not expired at real_now (µs). */
gboolean vsm_nic_state_lease_valid(const VsmNicState *s, gint64 real_now_usec);
/* The destination's re-check of a carried state before it replays or
 * seeds it (the source may run an older vsimigd, or be fed by a hostile
 * guest; DESIGN.md section 7 "Address provenance"): drops link-local
 * (224.0.0.0/24, ff02::/16) and non-multicast groups, addresses no one can
 * own (vsm_learn_address_ownable), IPv4 addresses that are the lease of
 * another vNIC in siblings (VsmNicState of the same domain, may be NULL;
 * s itself is skipped by MAC: a guest whose other NIC speaks for that
 * address, arp_announce=0, does not get it announced on the wrong NIC),
 * and, when ni (the NIC in this host's domain XML; may be NULL) has
 * nwfilter IP/IPV6 parameters, the addresses and the lease outside them.
 * Says each drop in why (may be NULL).  Returns how many entries it
 * dropped. */
guint vsm_nic_state_recheck(VsmNicState *s, const VsmNicInfo *ni, const GPtrArray *siblings, GString *why);
/* TRUE if a DHCP replay is allowed: a lease known and not expired at
 * real_now, and the client-id known (SENT or NONE; never UNKNOWN). */
gboolean vsm_nic_state_can_replay_dhcp(const VsmNicState *s, gint64 real_now_usec);

/* JSON (peer channel).  The object:
 *   {"mac":"52:54:00:..","client_id":{"state":"sent","value":"ff00.."},
 *    "hostname":"..","lease":{"address":"10.77.0.5","server_id":"..",
 *    "lease_time":3600,"ack_time":<real µs>},
 *    "groups":[{"address":"239.1.1.1","version":"igmpv3","mode":"exclude",
 *               "sources":["10.77.0.9"]}],
 *    "ip4":["10.77.0.5"],"ip6":["fe80::..."]}
 * client_id.state is "unknown", "none" or "sent" (value: hex, only with
 * "sent"); lease/hostname absent when none.  Parsing refuses unknown
 * members, wrong types, bad addresses, a group version that does not
 * match its family, and anything past the caps. */
JsonNode *vsm_nic_state_to_json(const VsmNicState *s);
gboolean vsm_nic_state_from_json(JsonNode *node, VsmNicState **ret, GError **error);

/* Metadata XML.  vsm_domain_state_to_xml() returns the element for
 * virDomainSetMetadata(type ELEMENT, key VSIMIG_METADATA_PREFIX, uri
 * VSIMIG_METADATA_NS), with no namespace of its own: libvirt puts it into
 * ours:
 *   <state version="1" origin="10.77.9.1:7788" token="hex32" generation="7">
 *     <nic mac=".."> <client-id state="sent">hex</client-id> <hostname>..</hostname>
 *       <lease address=".." server-id=".." time="3600" ack="<real µs>"/>
 *       <group address=".." version="igmpv3" mode="exclude"><source address=".."/></group>
 *       <ip address=".."/> </nic>
 *   </state>
 * vsm_domain_state_from_xml() takes our element as VsmDomainInfo.metadata
 * holds it (serialized on its own, in our namespace, prefix may vary) and
 * applies the same rules as the JSON parser (plus: DOCTYPE refused, at
 * most 1 MiB).  uuid is not in the XML: the caller sets it. */
char *vsm_domain_state_to_xml(const VsmDomainState *s);
gboolean vsm_domain_state_from_xml(const char *xml, gsize len, VsmDomainState **ret, GError **error);
/* Whether host (an IP literal without brackets) may be a peer origin: not
 * loopback, unspecified, multicast or a scoped (link/site-local) IPv6
 * address. */
gboolean vsm_netstate_origin_host_ok(const char *host);

/* The domain state as a JSON object {"origin","generation","nics":[...]}
 * (no token: it is for vsimigctl show and logs). */
JsonNode *vsm_domain_state_to_json_public(const VsmDomainState *s);

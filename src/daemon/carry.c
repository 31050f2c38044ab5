/* Carrying a VM's network state across a live migration: learners on the
 * taps, the <metadata> snapshot, the peer channel, and the replay. */
#include "daemon/carry.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/nic-vid.h"
#include "daemon/netstate.h"
#include "daemon/peer.h"
#include "daemon/replay.h"
#include "io/mdb.h"
#include "io/mdb-cache.h"
#include "io/netlink.h"
#include "io/packet.h"
#include "io/sniffer.h"
#include "sm/carry.h"

#define CARRY_EXPIRE_INTERVAL_SEC 5
#define CARRY_MDB_RETRY_MS 20
#define CARRY_MDB_RETRY_FOR_MS 3000
#define CARRY_MDB_SLICE_US 1000              /* RTM_NEWMDB work per main-loop dispatch */
#define CARRY_STATE_COALESCE_MS 10           /* changes of a domain streamed together */
/* Replayed frames listed in a timeline (the rest is counted), so the
 * timeline's own cap keeps room for what follows. */
#define CARRY_FRAME_NOTES_MAX 96

typedef struct CarryDomain CarryDomain;

typedef struct CarryNic {
        CarryDomain *dom;
        uint8_t mac[VSM_ETH_ALEN];
        int ifindex;
        char ifname[IF_NAMESIZE];
        VsmLearner *learner;
        gboolean streamed;             /* its state went to the destination */
        guint64 streamed_generation;   /* the learner's generation then */
        guint64 mdb_generation;        /* changes of the bridge's mdb for the tap */
        guint64 streamed_mdb_generation;
} CarryNic;

struct CarryDomain {
        VsmCarry *c;
        char uuid[37];
        uint8_t uuid_bin[16];
        char *name;
        char token[VSM_NETSTATE_TOKEN_LEN + 1];
        /* Every decision: when to learn, stream, send SWITCHOVER, replay,
         * send leaves, mint the token, write the snapshot (sm/carry.h). */
        VsmCarryPolicy policy;
        VsmRateLimit refused_rl;       /* timeline notes of refused destinations */
        guint64 generation;
        GPtrArray *nics;               /* CarryNic: the learners */
        /* the <metadata> snapshot */
        guint write_timer;             /* the policy's ARM_TIMER */
        GCancellable *write_cancel;
        guint64 metadata_writes, metadata_errors;
        /* destination: what came with the migration */
        VsmDomainState *incoming;
        VsmDomainState *adopted;       /* our own snapshot, while seeding */
        VsmPeerClient *client;
        char *peer_state;              /* "connecting", "connected", "closed: ..." */
        guint peer_messages;
        guint state_flush;             /* source: one STATE per CARRY_STATE_COALESCE_MS for what changed */
        gint64 suspended_real_usec;    /* the source's clock, from SWITCHOVER */
        gint64 replay_last_real_usec;
        guint replay_frames, replay_errors;
        gint64 resumed_real_usec;
        /* mdb entries waiting for the tap's carrier */
        GArray *mdb_pending;           /* VsmMdbEntry */
        guint mdb_cursor;              /* the pass in progress is at this entry */
        guint mdb_first_n;
        gboolean mdb_queued;           /* in c->mdb_queue */
        guint mdb_timer;               /* retry while the tap has no carrier */
        gint64 mdb_deadline_usec;      /* 0: first pass */
};

struct VsmCarry {
        const VsmConfig *config;
        VsmCarryHost host;
        gpointer host_data;
        VsmLibvirt *libvirt;
        GCancellable *cancel;          /* libvirt calls that end with the carry */
        VsmSniffer *sniffer;
        VsmMdbCache *mdb;              /* the bridges' mdb, by notifications (a source's mdb-only groups) */
        GQueue mdb_queue;              /* CarryDomain with RTM_NEWMDB requests to make */
        guint mdb_idle;
        VsmPeerServer *server;
        VsmPeerTls *tls;               /* [peer] tls = true; NULL: plain TCP */
        VsmPeerSecurity sec;           /* tls, the key file's key, insecure */
        GBytes *key;                   /* [peer] key-file's contents (reloaded on SIGHUP) */
        GHashTable *domains;           /* uuid -> CarryDomain (owned) */
        GHashTable *by_ifindex;        /* ifindex -> CarryNic (borrowed) */
        VsmCarryConfig policy_cfg;     /* for every domain's VsmCarryPolicy */
        guint expire_timer;
        guint64 n_learned_frames, n_changes, n_replays, n_replays_late, n_replay_frames, n_replay_refused;
        guint64 n_switchovers_sent, n_switchovers_received, n_switchovers_refused, n_peer_rejects, n_state_messages;
        guint64 n_peer_auth_failures, n_peer_not_opened, n_tokens_minted;
        guint64 n_metadata_writes, n_metadata_errors, n_mdb_added, n_mdb_failed, n_queries, n_leaves;
};

/* ---- helpers ---- */

static void nic_state_destroy(gpointer p) {
        vsm_nic_state_free(p);
}

static void carry_note(CarryDomain *d, gboolean quiet, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void carry_note(CarryDomain *d, gboolean quiet, const char *fmt, ...) {
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (d->c->host.note)
                d->c->host.note(d->uuid, quiet, text, d->c->host_data);
}

static const char *carry_origin(const VsmCarry *c) {
        return c->config->peer_advertise ? c->config->peer_advertise : c->config->peer_listen;
}

/* 128 bit from getrandom(), valid for one migration: a destination
 * uses it once. */
static void carry_new_token(CarryDomain *d) {
        vsm_peer_random_hex(d->token, VSM_NETSTATE_TOKEN_LEN / 2);
        d->c->n_tokens_minted++;
}

/* Same length, constant time. */
static gboolean token_equal(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        unsigned char diff = la != lb;

        for (size_t i = 0; i < la && i < lb; i++)
                diff |= (unsigned char) (a[i] ^ b[i]);
        return diff == 0 && la == VSM_NETSTATE_TOKEN_LEN;
}

static void nic_free(gpointer p) {
        CarryNic *n = p;

        if (n->dom && n->dom->c->sniffer && n->ifindex > 0) {
                g_hash_table_remove(n->dom->c->by_ifindex, GINT_TO_POINTER(n->ifindex));
                vsm_sniffer_remove(n->dom->c->sniffer, n->ifindex);
        }
        vsm_learner_free(n->learner);
        g_free(n);
}

static void mdb_stop(CarryDomain *d);

static void domain_free(gpointer p) {
        CarryDomain *d = p;

        if (d->write_cancel) {
                g_cancellable_cancel(d->write_cancel);
                g_object_unref(d->write_cancel);
        }
        g_clear_handle_id(&d->write_timer, g_source_remove);
        mdb_stop(d);
        g_clear_handle_id(&d->state_flush, g_source_remove);
        if (d->c->server)
                vsm_peer_server_drop_domain(d->c->server, d->uuid);
        vsm_peer_client_free(d->client);
        vsm_domain_state_free(d->incoming);
        g_ptr_array_unref(d->nics);
        if (d->mdb_pending)
                g_array_unref(d->mdb_pending);
        g_free(d->peer_state);
        g_free(d->name);
        g_free(d);
}

static CarryDomain *carry_lookup(VsmCarry *c, const char *uuid) {
        return g_hash_table_lookup(c->domains, uuid);
}

static CarryDomain *carry_ensure(VsmCarry *c, const char *uuid, const char *name) {
        CarryDomain *d = carry_lookup(c, uuid);

        if (d) {
                if (name && g_strcmp0(d->name, name) != 0) {
                        g_free(d->name);
                        d->name = g_strdup(name);
                }
                return d;
        }
        d = g_new0(CarryDomain, 1);
        d->c = c;
        g_strlcpy(d->uuid, uuid, sizeof(d->uuid));
        (void) vsm_uuid_parse(uuid, d->uuid_bin);
        d->name = g_strdup(name ? name : uuid);
        d->nics = g_ptr_array_new_with_free_func(nic_free);
        d->refused_rl = (VsmRateLimit) VSM_RATELIMIT_INIT(10 * G_USEC_PER_SEC, 1);
        vsm_carry_policy_init(&d->policy, &c->policy_cfg);
        carry_new_token(d);
        g_hash_table_insert(c->domains, d->uuid, d);
        return d;
}

static CarryNic *domain_find_nic(CarryDomain *d, const uint8_t mac[VSM_ETH_ALEN]) {
        for (guint i = 0; i < d->nics->len; i++) {
                CarryNic *n = d->nics->pdata[i];

                if (memcmp(n->mac, mac, VSM_ETH_ALEN) == 0)
                        return n;
        }
        return NULL;
}

/* The groups the bridge's mdb holds for the tap but the learner does not
 * (a guest that joined before we watched, DESIGN.md section 4): added as
 * IGMPv3/MLDv2 EXCLUDE{} joins, which snooping treats like any report.
 * From the cache the mdb notifications keep: no netlink call here. */
static void state_add_mdb_groups(VsmNicState *s, const CarryNic *n) {
        g_autoptr(GArray) list = n->ifindex > 0 ? vsm_mdb_cache_port(n->dom->c->mdb, n->ifindex, NULL) : NULL;

        for (guint i = 0; list && i < list->len && s->groups->len < VSM_LEARN_GROUPS_MAX; i++) {
                const VsmMdbEntry *e = &g_array_index(list, VsmMdbEntry, i);
                VsmStateGroup g = {};
                gboolean known = FALSE;

                /* Never reported (DESIGN.md section 4): no slot for them. */
                if (e->is_ip6 ? vsm_ip6_is_link_local_group(e->group) || !vsm_ip6_is_multicast(e->group)
                              : vsm_ip4_is_link_local_group(e->group) || !vsm_ip4_is_multicast(e->group))
                        continue;

                for (guint j = 0; j < s->groups->len && !known; j++) {
                        const VsmStateGroup *k = &g_array_index(s->groups, VsmStateGroup, j);
                        known = k->is_ip6 == e->is_ip6 && memcmp(k->address, e->group, VSM_IP6_ALEN) == 0;
                }
                if (known)
                        continue;
                g.is_ip6 = e->is_ip6;
                memcpy(g.address, e->group, VSM_IP6_ALEN);
                g.version = e->is_ip6 ? VSM_LEARN_MLD_V2 : VSM_LEARN_IGMP_V3;
                g.mode = VSM_LEARN_FILTER_EXCLUDE;
                g_array_append_val(s->groups, g);
        }
}

/* What a destination gets for one vNIC: the learner's state and the
 * mdb-only groups. */
static VsmNicState *nic_stream_state(const CarryNic *n, gint64 mono, gint64 real) {
        VsmNicState *s = vsm_nic_state_from_learner(n->learner, mono, real);

        state_add_mdb_groups(s, n);
        return s;
}

/* The state of every vNIC learned here. */
static GPtrArray *domain_snapshot(CarryDomain *d, gboolean with_mdb) {
        GPtrArray *nics = g_ptr_array_new_with_free_func(nic_state_destroy);
        gint64 mono = g_get_monotonic_time(), real = g_get_real_time();

        for (guint i = 0; i < d->nics->len; i++) {
                CarryNic *n = d->nics->pdata[i];
                VsmNicState *s = vsm_nic_state_from_learner(n->learner, mono, real);

                if (with_mdb)
                        state_add_mdb_groups(s, n);
                g_ptr_array_add(nics, s);
        }
        return nics;
}

/* ---- feeding the policy ---- */

/* What an event brings beside the facts in VsmCarryInput, for carrying
 * out the actions. */
typedef struct CarryCtx {
        const VsmDomainInfo *info;
        VsmPeerConn *conn;             /* PEER_UP: the destination's connection */
        VsmPeerClient *client;         /* destination: the channel the event came on */
        const VsmPeerMessage *msg;     /* SWITCHOVER_RECEIVED */
        VsmDomainState *incoming;      /* INCOMING: the parsed snapshot (taken) */
        const GError *error;           /* INCOMING: why it was refused; WRITE_REFUSED: libvirt's answer */
        VsmCarrySnapshot snapshot;     /* INCOMING */
        gboolean accepted;             /* PEER_AUTH: ACCEPT_PEER came */
} CarryCtx;

static gboolean carry_feed(CarryDomain *d, VsmCarryInput *in, CarryCtx *ctx);

/* An event with no more facts than the domain's own. */
static gboolean carry_feed_simple(CarryDomain *d, VsmCarryEvent ev) {
        VsmCarryInput in = { .ev = ev };
        CarryCtx ctx = {};

        return carry_feed(d, &in, &ctx);
}

/* ---- the <metadata> snapshot ---- */

static void on_metadata_written(GObject *source, GAsyncResult *result, gpointer user_data) {
        g_autoptr(GError) error = NULL;
        CarryDomain *d;
        gboolean ok = vsm_libvirt_set_metadata_finish(result, &error);
        VsmCarryInput in = {};
        CarryCtx ctx = {};

        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;                 /* the domain is gone; d with it */
        d = user_data;
        if (ok) {
                d->metadata_writes++;
                d->c->n_metadata_writes++;
                in.ev = VSM_CARRY_EV_WRITE_DONE;
                carry_feed(d, &in, &ctx);
                return;
        }
        /* libvirt refuses while a job (the migration) holds the domain:
         * expected, not an error; the policy retries if still wanted. */
        d->metadata_errors++;
        d->c->n_metadata_errors++;
        vsm_log(G_LOG_LEVEL_DEBUG, "domain %s: <metadata> write not taken: %s", d->name, error->message);
        in.ev = VSM_CARRY_EV_WRITE_REFUSED;
        ctx.error = error;
        carry_feed(d, &in, &ctx);
}

/* WRITE_SNAPSHOT: the snapshot of generation d->generation, with this
 * host as the origin and the current token. */
static void domain_write_snapshot(CarryDomain *d) {
        g_autoptr(VsmDomainState) st = NULL;
        g_autofree char *xml = NULL;

        st = vsm_domain_state_new(d->uuid_bin);
        st->origin = g_strdup(carry_origin(d->c));
        memcpy(st->token, d->token, sizeof(st->token));
        st->generation = d->generation;
        g_ptr_array_unref(st->nics);
        st->nics = domain_snapshot(d, FALSE);
        xml = vsm_domain_state_to_xml(st);
        if (!d->write_cancel)
                d->write_cancel = g_cancellable_new();
        if (!d->c->libvirt ||
            !vsm_libvirt_set_metadata_async(d->c->libvirt, d->uuid_bin, xml, VSIMIG_METADATA_PREFIX,
                                            VSIMIG_METADATA_NS, d->write_cancel, on_metadata_written, d))
                carry_feed_simple(d, VSM_CARRY_EV_WRITE_NOT_STARTED);
}

static gboolean on_write_timer(gpointer user_data) {
        CarryDomain *d = user_data;

        d->write_timer = 0;
        carry_feed_simple(d, VSM_CARRY_EV_TIMER);
        return G_SOURCE_REMOVE;
}

/* ---- learning ---- */

static void nic_mark_streamed(CarryNic *n) {
        n->streamed = TRUE;
        n->streamed_generation = vsm_learner_generation(n->learner);
        n->streamed_mdb_generation = n->mdb_generation;
}

static guint peer_send_nics(CarryDomain *d, VsmPeerMessageType type, GPtrArray *nics) {
        VsmPeerMessage m = {
                .type = type,
                .generation = d->generation,
                .nics = nics,
        };

        guint sent;

        if (!d->c->server)
                return 0;
        g_strlcpy(m.domain, d->uuid, sizeof(m.domain));
        if (type == VSM_PEER_MSG_SWITCHOVER)
                m.suspended_at_real_usec = g_get_real_time();
        sent = vsm_peer_server_send(d->c->server, &m);
        if (sent > 0 && type == VSM_PEER_MSG_SWITCHOVER)
                d->c->n_switchovers_sent++;
        return sent;
}

static gboolean nic_changed_since_streamed(CarryNic *n) {
        return !n->streamed || n->streamed_generation != vsm_learner_generation(n->learner) ||
               n->streamed_mdb_generation != n->mdb_generation;
}

/* One STATE with every vNIC of the domain whose state changed since it
 * was streamed: a guest that churns (joins flapping at line rate) costs
 * one message per CARRY_STATE_COALESCE_MS, not one per frame.  A window in
 * time, not one loop turn: how many of a burst's frames one turn reads
 * depends on the machine's load (under ASan a 40-join burst took 19
 * turns).  The delay costs nothing at the switchover: SWITCHOVER carries
 * whatever is still unstreamed. */
static gboolean on_state_flush(gpointer user_data) {
        CarryDomain *d = user_data;
        g_autoptr(GPtrArray) changed = g_ptr_array_new_with_free_func(nic_state_destroy);
        g_autoptr(GPtrArray) which = g_ptr_array_new();
        gint64 mono = g_get_monotonic_time(), real = g_get_real_time();

        d->state_flush = 0;
        for (guint i = 0; i < d->nics->len; i++) {
                CarryNic *n = d->nics->pdata[i];

                if (!nic_changed_since_streamed(n))
                        continue;
                /* With the mdb-only groups: a STATE replaces the vNIC's
                 * state on the destination. */
                g_ptr_array_add(changed, nic_stream_state(n, mono, real));
                g_ptr_array_add(which, n);
        }
        if (changed->len > 0 && peer_send_nics(d, VSM_PEER_MSG_STATE, changed) > 0) {
                d->c->n_state_messages++;
                for (guint i = 0; i < which->len; i++)
                        nic_mark_streamed(which->pdata[i]);
        }
        return G_SOURCE_REMOVE;
}

/* STREAM_CHANGED: a timer, not a low-priority idle, which would starve
 * behind busy taps. */
static void domain_stream_changed(CarryDomain *d) {
        if (d->c->server && !d->state_flush)
                d->state_flush = g_timeout_add(CARRY_STATE_COALESCE_MS, on_state_flush, d);
}

/* The bridge's mdb changed for port_ifindex: if it is a tap of ours, its
 * mdb-only groups go to a connected destination with the next STATE
 * (coalesced like the learner's changes), so SWITCHOVER has nothing new
 * to compute.  Not a change of the <metadata> snapshot (no mdb in it). */
static void on_mdb_changed(int port_ifindex, gpointer user_data) {
        VsmCarry *c = user_data;
        CarryNic *n = c->by_ifindex ? g_hash_table_lookup(c->by_ifindex, GINT_TO_POINTER(port_ifindex)) : NULL;

        if (!n)
                return;
        n->mdb_generation++;
        /* An arriving domain streams to nobody (peer_domain): its own
         * replay's RTM_NEWMDB would only arm flushes. */
        if (n->dom->policy.cfg.stream && !n->dom->incoming)
                domain_stream_changed(n->dom);
}

static void domain_changed(CarryDomain *d, CarryNic *n) {
        d->generation++;
        d->c->n_changes++;
        carry_feed_simple(d, VSM_CARRY_EV_LEARNER_CHANGED);
}

static void on_sniffed(int ifindex, const uint8_t *frame, size_t len, VsmLearnDirection dir, gpointer user_data) {
        VsmCarry *c = user_data;
        CarryNic *n = g_hash_table_lookup(c->by_ifindex, GINT_TO_POINTER(ifindex));

        if (!n)
                return;
        c->n_learned_frames++;
        if (vsm_learner_feed(n->learner, frame, len, dir, (uint64_t) g_get_monotonic_time()) == 1)
                domain_changed(n->dom, n);
}

static gboolean on_expire_timer(gpointer user_data) {
        VsmCarry *c = user_data;
        GHashTableIter it;
        gpointer v;
        uint64_t now = (uint64_t) g_get_monotonic_time();

        g_hash_table_iter_init(&it, c->domains);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                CarryDomain *d = v;

                for (guint i = 0; i < d->nics->len; i++) {
                        CarryNic *n = d->nics->pdata[i];

                        if (vsm_learner_expire(n->learner, now) > 0)
                                domain_changed(d, n);
                }
        }
        return G_SOURCE_CONTINUE;
}

/* The NIC's nwfilter IP/IPV6 list (domain XML) into its learner. */
static void nic_set_allowed(CarryNic *n, const VsmNicInfo *ni) {
        VsmLearnAddress allowed[VSM_NIC_ALLOWED_IPS_MAX] = {};

        for (guint i = 0; i < ni->n_allowed_ips && i < G_N_ELEMENTS(allowed); i++) {
                allowed[i].is_ip6 = ni->allowed_ips[i].is_ip6;
                memcpy(allowed[i].address, ni->allowed_ips[i].address, VSM_IP6_ALEN);
        }
        if (vsm_learner_set_allowed(n->learner, ni->ip_restricted, allowed, ni->n_allowed_ips) == 1)
                domain_changed(n->dom, n);
}

/* A carried vNIC state into a learner here (after the migration), once
 * re-checked against this host's view of the NIC. */
static void nic_seed(CarryNic *n, const VsmNicInfo *ni, const VsmNicState *carried, const GPtrArray *siblings) {
        g_autoptr(VsmNicState) s = vsm_nic_state_copy(carried);
        g_autoptr(GString) why = g_string_new(NULL);
        VsmLearnClient client = {};
        VsmLearnLease lease = {};
        g_autofree VsmLearnGroup *groups = NULL;
        g_autofree VsmLearnAddress *addrs = NULL;
        gint64 mono = g_get_monotonic_time(), real = g_get_real_time();
        guint n_addrs = 0;

        if (vsm_nic_state_recheck(s, ni, siblings, why) > 0) {
                char mac[18];

                carry_note(n->dom, FALSE, "vNIC %s: carried state not taken: %s", vsm_mac_format(n->mac, mac),
                           why->str);
        }
        client.client_id_state = s->client_id_state;
        client.client_id_len = s->client_id_len;
        memcpy(client.client_id, s->client_id, s->client_id_len);
        if (s->hostname) {
                client.has_hostname = TRUE;
                client.hostname_len = (uint8_t) MIN(strlen(s->hostname), sizeof(client.hostname) - 1);
                memcpy(client.hostname, s->hostname, client.hostname_len);
        }
        if (s->has_lease) {
                gint64 age = real - s->lease_ack_real_usec;

                memcpy(lease.address, s->lease_address, VSM_IP4_ALEN);
                lease.has_server_id = s->has_server_id;
                memcpy(lease.server_id, s->server_id, VSM_IP4_ALEN);
                lease.lease_time = s->lease_time;
                lease.ack_time_usec = (uint64_t) MAX(0, mono - MAX(0, age));
        }
        groups = g_new0(VsmLearnGroup, MAX(s->groups->len, 1));
        for (guint i = 0; i < s->groups->len; i++) {
                const VsmStateGroup *g = &g_array_index(s->groups, VsmStateGroup, i);

                groups[i].is_ip6 = g->is_ip6;
                memcpy(groups[i].address, g->address, VSM_IP6_ALEN);
                groups[i].version = g->version;
                groups[i].mode = g->mode;
                groups[i].n_sources = (uint16_t) MIN(g->n_sources, VSM_LEARN_GROUP_SOURCES_MAX);
                for (guint k = 0; k < groups[i].n_sources; k++)
                        memcpy(groups[i].sources[k], g->sources[k], VSM_IP6_ALEN);
        }
        addrs = g_new0(VsmLearnAddress, s->ip4->len + s->ip6->len + 1);
        for (guint i = 0; i < s->ip4->len; i++) {
                memcpy(addrs[n_addrs].address, &g_array_index(s->ip4, uint8_t, i * VSM_IP4_ALEN), VSM_IP4_ALEN);
                n_addrs++;
        }
        for (guint i = 0; i < s->ip6->len; i++) {
                addrs[n_addrs].is_ip6 = TRUE;
                memcpy(addrs[n_addrs].address, &g_array_index(s->ip6, uint8_t, i * VSM_IP6_ALEN), VSM_IP6_ALEN);
                n_addrs++;
        }
        (void) vsm_learner_seed(n->learner, s->client_id_state == VSM_LEARN_CLIENT_ID_UNKNOWN ? NULL : &client,
                                s->has_lease ? &lease : NULL, groups, s->groups->len, addrs, n_addrs,
                                (uint64_t) mono);
}

/* Learners for the vNICs with a tap, seeded from seed (may be NULL);
 * drop the ones that went away. */
static void domain_sync_nics(CarryDomain *d, const VsmDomainInfo *info, const VsmDomainState *seed) {
        VsmCarry *c = d->c;

        for (guint i = d->nics->len; i > 0; i--) {
                CarryNic *n = d->nics->pdata[i - 1];
                gboolean keep = FALSE;

                for (guint j = 0; info && j < info->nics->len && !keep; j++) {
                        const VsmNicInfo *ni = info->nics->pdata[j];
                        keep = memcmp(ni->mac, n->mac, VSM_ETH_ALEN) == 0 && ni->target_dev &&
                               g_str_equal(ni->target_dev, n->ifname);
                }
                if (!keep)
                        g_ptr_array_remove_index(d->nics, i - 1);
        }
        for (guint j = 0; info && j < info->nics->len; j++) {
                const VsmNicInfo *ni = info->nics->pdata[j];
                CarryNic *n = domain_find_nic(d, ni->mac);

                if (n)
                        nic_set_allowed(n, ni);  /* the XML may have changed */
        }
        for (guint j = 0; info && j < info->nics->len; j++) {
                const VsmNicInfo *ni = info->nics->pdata[j];
                CarryNic *n;
                int ifindex, r;

                if (!ni->target_dev || domain_find_nic(d, ni->mac))
                        continue;
                ifindex = (int) if_nametoindex(ni->target_dev);
                if (ifindex <= 0 || g_hash_table_contains(c->by_ifindex, GINT_TO_POINTER(ifindex)))
                        continue;
                n = g_new0(CarryNic, 1);
                n->dom = d;
                memcpy(n->mac, ni->mac, VSM_ETH_ALEN);
                g_strlcpy(n->ifname, ni->target_dev, sizeof(n->ifname));
                n->learner = vsm_learner_new(ni->mac);
                nic_set_allowed(n, ni);
                r = vsm_sniffer_add_full(c->sniffer, ifindex, g_strcmp0(ni->type, "direct") == 0);
                if (r < 0) {
                        char mac[18];

                        carry_note(d, FALSE, "vNIC %s: cannot watch %s: %s", vsm_mac_format(ni->mac, mac),
                                   ni->target_dev, g_strerror(-r));
                } else {
                        n->ifindex = ifindex;
                        g_hash_table_insert(c->by_ifindex, GINT_TO_POINTER(ifindex), n);
                }
                g_ptr_array_add(d->nics, n);
                if (seed) {
                        const VsmNicState *s = vsm_domain_state_find_nic(seed, ni->mac);

                        if (s) {
                                nic_seed(n, ni, s, seed->nics);
                                d->generation++;
                                carry_feed_simple(d, VSM_CARRY_EV_SEEDED);
                        }
                }
        }
}

/* A domain found running (vsimigd restarted, or libvirt reconnected): if
 * its live snapshot is our own, take its token back (destinations may
 * hold it) and seed the learners with what it says. */
static void domain_adopt_snapshot(CarryDomain *d, const VsmDomainInfo *info) {
        g_autoptr(VsmDomainState) st = NULL;
        g_autoptr(GError) error = NULL;
        const char *origin = carry_origin(d->c);

        if (!vsm_domain_state_from_xml(info->metadata, strlen(info->metadata), &st, &error)) {
                carry_note(d, FALSE, "own snapshot refused: %s", error->message);
                return;
        }
        if (!origin || !st->origin || !g_str_equal(origin, st->origin) || !st->token[0])
                return;                 /* someone else's: a migration in */
        memcpy(d->token, st->token, sizeof(d->token));
        d->generation = st->generation;
        carry_feed_simple(d, VSM_CARRY_EV_ADOPTED);
        carry_note(d, FALSE, "snapshot of generation %" G_GUINT64_FORMAT " taken back: token kept, %u vNIC state(s)",
                   st->generation, st->nics->len);
        d->adopted = g_steal_pointer(&st);
}

void vsm_carry_update(VsmCarry *c, const char *uuid, const char *name, const VsmDomainInfo *info,
                      const VsmMigration *m) {
        VsmCarryInput in = {
                .ev = VSM_CARRY_EV_UPDATE,
                .role = m->role,
                .phase = m->phase,
        };
        CarryCtx ctx = { .info = info };
        CarryDomain *d = carry_lookup(c, uuid);

        if (!d && !vsm_carry_policy_creates(&c->policy_cfg, &in))
                return;
        if (!d) {
                d = carry_ensure(c, uuid, name);
                if (info && info->metadata)
                        domain_adopt_snapshot(d, info);
        }
        carry_feed(d, &in, &ctx);
        g_clear_pointer(&d->adopted, vsm_domain_state_free);
}

/* ---- destination: the peer client ---- */

static void domain_merge_incoming(CarryDomain *d, GPtrArray *nics) {
        for (guint i = 0; i < nics->len; i++) {
                VsmNicState *s = nics->pdata[i];
                gboolean replaced = FALSE;

                for (guint j = 0; j < d->incoming->nics->len && !replaced; j++) {
                        VsmNicState *old = d->incoming->nics->pdata[j];

                        if (memcmp(old->mac, s->mac, VSM_ETH_ALEN) == 0) {
                                vsm_nic_state_free(old);
                                d->incoming->nics->pdata[j] = vsm_nic_state_copy(s);
                                replaced = TRUE;
                        }
                }
                if (!replaced && d->incoming->nics->len < VSM_NETSTATE_NICS_MAX)
                        g_ptr_array_add(d->incoming->nics, vsm_nic_state_copy(s));
        }
}

static void on_peer_message(VsmPeerClient *client, VsmPeerMessage *m, gpointer user_data) {
        CarryDomain *d = user_data;
        g_autoptr(VsmPeerMessage) msg = m;

        d->peer_messages++;
        if (g_strcmp0(d->peer_state, "connected") != 0) {
                g_free(d->peer_state);
                d->peer_state = g_strdup("connected");
                carry_note(d, FALSE, "peer channel to %s: connected", d->incoming ? d->incoming->origin : "?");
        }
        if (!d->incoming)
                return;
        if (msg->type == VSM_PEER_MSG_SWITCHOVER) {
                VsmCarryInput in = { .ev = VSM_CARRY_EV_SWITCHOVER_RECEIVED };
                CarryCtx ctx = { .client = client, .msg = msg };

                /* Its vNIC states are merged only once it is taken
                 * (domain_forward_switchover). */
                carry_feed(d, &in, &ctx);
        } else if (msg->type == VSM_PEER_MSG_STATE) {
                domain_merge_incoming(d, msg->nics);
                carry_note(d, TRUE, "peer: state of %u vNIC(s), generation %" G_GUINT64_FORMAT, msg->nics->len,
                           msg->generation);
        }
}

static gboolean on_peer_closed_idle(gpointer user_data) {
        VsmPeerClient *client = user_data;

        vsm_peer_client_free(client);
        return G_SOURCE_REMOVE;
}

static void on_peer_closed(VsmPeerClient *client, const GError *error, gpointer user_data) {
        CarryDomain *d = user_data;

        if (vsm_peer_client_auth_failed(client))
                d->c->n_peer_auth_failures++;
        g_free(d->peer_state);
        d->peer_state = g_strdup_printf("closed: %s", error ? error->message : "by the peer");
        if (!d->policy.switchover_received)
                carry_note(d, FALSE, "peer channel %s%s", d->peer_state,
                           d->policy.replayed ? "" : "; the replay waits for RESUMED (late)");
        else
                carry_note(d, TRUE, "peer channel %s", d->peer_state);
        if (d->client == client) {
                d->client = NULL;
                g_idle_add(on_peer_closed_idle, client);
        }
}

/* FORWARD_SWITCHOVER: the migration machine takes it only while the
 * incoming domain is started here (host->switchover). */
static void domain_forward_switchover(CarryDomain *d, CarryCtx *ctx) {
        VsmCarryInput in = {};
        CarryCtx refused = { .client = ctx->client };
        g_autoptr(GPtrArray) before = g_ptr_array_new_full(d->incoming->nics->len, nic_state_destroy);

        /* The replay runs inside host->switchover and must see the final
         * changes and the source's SUSPENDED time; a refused SWITCHOVER's
         * content is undone, so the late replay at RESUMED never uses it. */
        for (guint i = 0; i < d->incoming->nics->len; i++)
                g_ptr_array_add(before, vsm_nic_state_copy(d->incoming->nics->pdata[i]));
        domain_merge_incoming(d, ctx->msg->nics);
        d->suspended_real_usec = ctx->msg->suspended_at_real_usec;
        if (d->c->host.switchover && !d->c->host.switchover(d->uuid, d->c->host_data)) {
                GPtrArray *merged = d->incoming->nics;

                d->incoming->nics = g_steal_pointer(&before);
                g_ptr_array_unref(merged);
                d->suspended_real_usec = 0;
                d->c->n_switchovers_refused++;
                in.ev = VSM_CARRY_EV_SWITCHOVER_REFUSED;
                carry_feed(d, &in, &refused);
                return;
        }
        in.ev = VSM_CARRY_EV_SWITCHOVER_ACCEPTED;
        carry_feed(d, &in, &refused);
        d->c->n_switchovers_received++;
        carry_note(d, FALSE, "peer: SWITCHOVER (%u changed vNIC state(s))", ctx->msg->nics->len);
}

/* DROP_PEER on a destination: the channel the event came on. */
static void domain_drop_client(CarryDomain *d, VsmPeerClient *client) {
        g_free(d->peer_state);
        d->peer_state = g_strdup("closed: SWITCHOVER before the incoming domain started");
        if (d->client == client)
                d->client = NULL;
        vsm_peer_client_free(client);
}

/* TAKE_INCOMING: keep what the migration brought (or an empty state), and
 * say what the snapshot was. */
static void domain_take_incoming(CarryDomain *d, CarryCtx *ctx) {
        d->replay_frames = d->replay_errors = 0;
        switch (ctx->snapshot) {
        case VSM_CARRY_SNAPSHOT_NONE:
                carry_note(d, FALSE, "no vsimig snapshot in the domain XML: nothing to replay");
                d->incoming = vsm_domain_state_new(d->uuid_bin);
                return;
        case VSM_CARRY_SNAPSHOT_REFUSED:
                carry_note(d, FALSE, "vsimig snapshot refused: %s", ctx->error ? ctx->error->message : "?");
                d->incoming = vsm_domain_state_new(d->uuid_bin);
                return;
        default:
                break;
        }
        d->incoming = g_steal_pointer(&ctx->incoming);
        carry_note(d, FALSE, "snapshot: %u vNIC state(s), generation %" G_GUINT64_FORMAT ", origin %s",
                   d->incoming->nics->len, d->incoming->generation,
                   d->incoming->origin ? d->incoming->origin : "none");
        if (ctx->snapshot == VSM_CARRY_SNAPSHOT_NO_ORIGIN)
                carry_note(d, FALSE, "snapshot has no origin/token: no peer channel, replay at RESUMED (late)");
        else if (ctx->snapshot == VSM_CARRY_SNAPSHOT_SELF)
                carry_note(d, FALSE, "snapshot origin is this host: no peer channel");
}

static void domain_connect_peer(CarryDomain *d) {
        static const VsmPeerClientCallbacks cb = {
                .message = on_peer_message,
                .closed = on_peer_closed,
        };

        g_free(d->peer_state);
        d->peer_state = g_strdup("connecting");
        d->client = vsm_peer_client_new(d->incoming->origin, d->uuid, d->incoming->token, &d->c->sec, &cb, d);
        carry_note(d, TRUE, "peer channel to %s: connecting", d->incoming->origin);
}

static void domain_peer_not_opened(CarryDomain *d) {
        d->c->n_peer_not_opened++;
        g_free(d->peer_state);
        d->peer_state = g_strdup("not opened: no [peer] key-file or tls");
        carry_note(d, FALSE, "no peer channel: neither [peer] key-file nor tls is set (nor insecure = true), "
                   "so the origin could not be authenticated; replay at RESUMED (late)");
}

void vsm_carry_incoming(VsmCarry *c, const char *uuid, const char *name, const VsmDomainInfo *info) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VsmDomainState) st = NULL;
        VsmCarryInput in = { .ev = VSM_CARRY_EV_INCOMING, .snapshot = VSM_CARRY_SNAPSHOT_NONE };
        CarryCtx ctx = { .info = info };
        CarryDomain *d;

        if (!vsm_carry_policy_creates(&c->policy_cfg, &in))
                return;
        d = carry_ensure(c, uuid, name);
        if (!info->metadata)
                in.snapshot = VSM_CARRY_SNAPSHOT_NONE;
        else if (!vsm_domain_state_from_xml(info->metadata, strlen(info->metadata), &st, &error))
                in.snapshot = VSM_CARRY_SNAPSHOT_REFUSED;
        else if (!st->origin || !st->token[0])
                in.snapshot = VSM_CARRY_SNAPSHOT_NO_ORIGIN;
        else if (carry_origin(c) && g_str_equal(st->origin, carry_origin(c)))
                in.snapshot = VSM_CARRY_SNAPSHOT_SELF;
        else
                in.snapshot = VSM_CARRY_SNAPSHOT_PEER;
        if (st)
                memcpy(st->uuid, d->uuid_bin, 16);
        ctx.incoming = st;
        ctx.error = error;
        ctx.snapshot = in.snapshot;
        carry_feed(d, &in, &ctx);
        if (ctx.incoming != st)
                st = NULL;              /* taken */
}

/* ---- source: the peer server ---- */

/* A domain a destination may migrate from here: it runs here with its
 * vNICs watched and is not itself arriving. */
static CarryDomain *peer_domain(VsmCarry *c, const char *domain) {
        CarryDomain *d = carry_lookup(c, domain);

        if (!d || d->nics->len == 0 || d->incoming)
                return NULL;
        return d;
}

/* libvirt's VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT (follower.c too). */
#define CARRY_JOB_OPERATION_MIGRATION_OUT 5

typedef struct PeerJobAsk {
        VsmCarry *c;                   /* not touched once cancelled: it may be gone */
        VsmPeerLookup *q;
        char domain[37];
} PeerJobAsk;

static void peer_answer(VsmPeerLookup *q, CarryDomain *d, gboolean job_asked, VsmMigJobOp job) {
        if (d && vsm_carry_policy_peer_answer(&d->policy, job_asked, job) == VSM_CARRY_PEER_PROVE)
                vsm_peer_lookup_answer(q, d->token);
        else
                vsm_peer_lookup_answer(q, NULL);
}

static void on_peer_job(GObject *source, GAsyncResult *result, gpointer user_data) {
        g_autofree PeerJobAsk *a = user_data;
        g_autoptr(GError) error = NULL;
        int op = vsm_libvirt_get_job_operation_finish(result, &error);

        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
                vsm_peer_lookup_answer(a->q, NULL);     /* the carry (and its server) are gone */
                return;
        }
        /* Asked again: the domain may have changed meanwhile. */
        peer_answer(a->q, peer_domain(a->c, a->domain), TRUE,
                    op == CARRY_JOB_OPERATION_MIGRATION_OUT ? VSM_MIG_JOB_OP_MIGRATION_OUT : VSM_MIG_JOB_OP_OTHER);
}

/* A hello for domain: the real proof only while it migrates out from here
 * (sm/carry.h), else the same answer as for an unknown domain.  libvirt's
 * job is asked in a worker thread when the machine does not know yet. */
static void on_peer_lookup(VsmPeerLookup *q, const char *domain, gpointer user_data) {
        VsmCarry *c = user_data;
        CarryDomain *d = peer_domain(c, domain);
        PeerJobAsk *a;

        if (!d || vsm_carry_policy_peer_answer(&d->policy, FALSE, VSM_MIG_JOB_OP_UNKNOWN) != VSM_CARRY_PEER_ASK_JOB) {
                peer_answer(q, d, FALSE, VSM_MIG_JOB_OP_UNKNOWN);
                return;
        }
        a = g_new0(PeerJobAsk, 1);
        a->c = c;
        a->q = q;
        g_strlcpy(a->domain, domain, sizeof(a->domain));
        if (!c->libvirt ||
            !vsm_libvirt_get_job_operation_async(c->libvirt, d->uuid_bin, c->cancel, on_peer_job, a)) {
                vsm_peer_lookup_answer(q, NULL);
                g_free(a);
        }
}

/* The destination proved it knows the key and this token: it takes the
 * token, once. */
static gboolean on_peer_authorize(const char *domain, const char *token, gpointer user_data) {
        CarryDomain *d = carry_lookup(user_data, domain);
        VsmCarryInput in = { .ev = VSM_CARRY_EV_PEER_AUTH };
        CarryCtx ctx = {};

        if (!d || !token_equal(token, d->token))
                return FALSE;
        carry_feed(d, &in, &ctx);
        return ctx.accepted;
}

/* The destination's connection ended before the domain left: its token
 * is spent, so the next migration gets a new one in the snapshot. */
static void on_peer_disconnected(const char *domain, gpointer user_data) {
        CarryDomain *d = carry_lookup(user_data, domain);

        if (d)
                carry_feed_simple(d, VSM_CARRY_EV_PEER_ENDED);
}

static void on_peer_refused(const char *domain, const char *why, gpointer user_data) {
        VsmCarry *c = user_data;
        CarryDomain *d = carry_lookup(c, domain);

        c->n_peer_rejects++;
        if (d && vsm_ratelimit_test(&d->refused_rl))
                carry_note(d, FALSE, "peer: a destination was refused: %s (%" G_GUINT64_FORMAT " such notes suppressed)",
                           why, d->refused_rl.suppressed);
}

static void on_peer_connected(VsmPeerConn *conn, const char *domain, gpointer user_data) {
        CarryDomain *d = carry_lookup(user_data, domain);
        VsmCarryInput in = { .ev = VSM_CARRY_EV_PEER_UP };
        CarryCtx ctx = { .conn = conn };

        if (d)
                carry_feed(d, &in, &ctx);
}

/* STREAM_ALL: the full state to the destination that just connected. */
static void domain_stream_all(CarryDomain *d, VsmPeerConn *conn) {
        g_autoptr(GPtrArray) nics = NULL;
        VsmPeerMessage m = { .type = VSM_PEER_MSG_STATE };

        nics = domain_snapshot(d, TRUE);
        g_strlcpy(m.domain, d->uuid, sizeof(m.domain));
        m.generation = d->generation;
        m.nics = nics;
        vsm_peer_conn_send(conn, &m);
        for (guint i = 0; i < d->nics->len; i++)
                nic_mark_streamed(d->nics->pdata[i]);
        carry_note(d, FALSE, "peer: destination connected, sent the state of %u vNIC(s)", nics->len);
}

/* SWITCHOVER carries the final state as a delta: the vNICs whose state
 * (learned, or mdb-only groups from the cache) changed since it was last
 * streamed, or was never streamed; the destination has the rest. */
void vsm_carry_suspended(VsmCarry *c, const char *uuid) {
        CarryDomain *d = carry_lookup(c, uuid);

        if (d)
                carry_feed_simple(d, VSM_CARRY_EV_SUSPENDED);
}

/* SEND_SWITCHOVER, then SWITCHOVER_SENT: did a destination get it? */
static void domain_send_switchover(CarryDomain *d) {
        g_autoptr(GPtrArray) changed = NULL;
        VsmCarryInput in = { .ev = VSM_CARRY_EV_SWITCHOVER_SENT };
        CarryCtx ctx = {};
        gint64 mono = g_get_monotonic_time(), real = g_get_real_time();

        /* A notification already queued (its source runs below the
         * default priority) still counts: read it now, without waiting. */
        vsm_mdb_cache_poll(d->c->mdb);
        changed = g_ptr_array_new_with_free_func(nic_state_destroy);
        for (guint i = 0; i < d->nics->len; i++) {
                CarryNic *n = d->nics->pdata[i];

                if (nic_changed_since_streamed(n))
                        g_ptr_array_add(changed, nic_stream_state(n, mono, real));
        }
        if (d->c->mdb && !vsm_mdb_cache_is_complete(d->c->mdb))
                carry_note(d, FALSE, "mdb: the cache is being resynchronised: mdb-only groups may be missing");
        in.sent = peer_send_nics(d, VSM_PEER_MSG_SWITCHOVER, changed) > 0;
        carry_feed(d, &in, &ctx);
        if (in.sent) {
                for (guint i = 0; i < d->nics->len; i++)
                        nic_mark_streamed(d->nics->pdata[i]);
                carry_note(d, FALSE, "peer: SWITCHOVER sent (%u of %u vNIC states changed since streamed)",
                           changed->len, d->nics->len);
        } else {
                carry_note(d, FALSE, "peer: no destination connected: no SWITCHOVER sent");
        }
}

/* ---- destination: the replay ---- */

/* The RTM_NEWMDB requests of every domain that switched over go through
 * one carry-wide queue, served by one low-priority idle source in slices
 * of CARRY_MDB_SLICE_US: each request waits for its kernel ack, and 125
 * domains x 200 groups done in one go held the main loop for ~0.5 s
 * (one GLib dispatch runs every ready idle source back to back). */

/* Add pending entries from d->mdb_cursor on until the slice ends; entries
 * refused for a reason other than the tap's missing carrier ("Port is in
 * disabled state") are dropped and said.  TRUE: the pass is complete. */
static gboolean mdb_pass(CarryDomain *d, gint64 end_usec) {
        while (d->mdb_cursor < d->mdb_pending->len) {
                const VsmMdbEntry *e = &g_array_index(d->mdb_pending, VsmMdbEntry, d->mdb_cursor);
                g_autofree char *reason = NULL;
                int r;

                if (g_get_monotonic_time() >= end_usec)
                        return FALSE;
                r = vsm_mdb_add_full(e, &reason);
                if (r == 0) {
                        d->c->n_mdb_added++;
                        g_array_remove_index(d->mdb_pending, d->mdb_cursor);
                } else if (r == -EINVAL && reason && strstr(reason, "disabled state")) {
                        d->mdb_cursor++;        /* no carrier yet: retry */
                } else {
                        d->c->n_mdb_failed++;
                        carry_note(d, FALSE, "mdb: entry refused: %s", reason ? reason : g_strerror(-r));
                        g_array_remove_index(d->mdb_pending, d->mdb_cursor);
                }
        }
        return TRUE;
}

static void mdb_enqueue(CarryDomain *d);

static gboolean on_mdb_retry(gpointer user_data) {
        CarryDomain *d = user_data;

        d->mdb_timer = 0;
        mdb_enqueue(d);
        return G_SOURCE_REMOVE;
}

/* A pass over d's entries is complete: done, wait for the carrier, or
 * give up. */
static void mdb_pass_done(CarryDomain *d) {
        gboolean first = d->mdb_deadline_usec == 0;

        if (d->mdb_pending->len == 0) {
                if (first)
                        carry_note(d, TRUE, "mdb: %u group(s) added on the new tap(s)", d->mdb_first_n);
                else
                        carry_note(d, FALSE, "mdb: all groups added on the new tap");
                d->mdb_deadline_usec = 0;
                return;
        }
        if (first) {
                d->mdb_deadline_usec = g_get_monotonic_time() + CARRY_MDB_RETRY_FOR_MS * 1000;
                carry_note(d, FALSE, "mdb: %u group(s) wait for the tap's carrier", d->mdb_pending->len);
        } else if (g_get_monotonic_time() >= d->mdb_deadline_usec) {
                d->c->n_mdb_failed += d->mdb_pending->len;
                carry_note(d, FALSE, "mdb: gave up on %u group(s): the tap got no carrier within 3 s",
                           d->mdb_pending->len);
                g_array_set_size(d->mdb_pending, 0);
                d->mdb_deadline_usec = 0;
                return;
        }
        d->mdb_timer = g_timeout_add(CARRY_MDB_RETRY_MS, on_mdb_retry, d);
}

static gboolean on_mdb_work(gpointer user_data) {
        VsmCarry *c = user_data;
        gint64 end = g_get_monotonic_time() + CARRY_MDB_SLICE_US;
        CarryDomain *d;

        while ((d = g_queue_peek_head(&c->mdb_queue))) {
                if (!mdb_pass(d, end))
                        return G_SOURCE_CONTINUE;
                g_queue_pop_head(&c->mdb_queue);
                d->mdb_queued = FALSE;
                mdb_pass_done(d);
                if (g_get_monotonic_time() >= end && !g_queue_is_empty(&c->mdb_queue))
                        return G_SOURCE_CONTINUE;
        }
        c->mdb_idle = 0;
        return G_SOURCE_REMOVE;
}

static void mdb_enqueue(CarryDomain *d) {
        VsmCarry *c = d->c;

        if (d->mdb_queued)
                return;
        d->mdb_queued = TRUE;
        d->mdb_cursor = 0;
        g_queue_push_tail(&c->mdb_queue, d);
        if (!c->mdb_idle)
                c->mdb_idle = g_idle_add_full(G_PRIORITY_LOW, on_mdb_work, c, NULL);
}

/* Nothing more to add for d (a new replay, or d goes away). */
static void mdb_stop(CarryDomain *d) {
        g_clear_handle_id(&d->mdb_timer, g_source_remove);
        if (d->mdb_queued) {
                g_queue_remove(&d->c->mdb_queue, d);
                d->mdb_queued = FALSE;
        }
        if (d->mdb_pending)
                g_array_set_size(d->mdb_pending, 0);
        d->mdb_deadline_usec = 0;
}

/* One domain's replay: the frames per uplink, and the last bridge looked
 * up (a domain's vNICs usually share one). */
typedef struct ReplayRun {
        GArray *bursts;                /* ReplayBurst */
        char bridge[IF_NAMESIZE];
        int bridge_ifindex;
} ReplayRun;

/* Queue the mdb entries of one vNIC's groups on its new tap; they are
 * added after every replayed frame of the domain is out (mdb_start).  The
 * tap's ifindex is the one it is watched by when it is (no lookup in the
 * paused window: each if_nametoindex() is a socket and an ioctl). */
static void replay_mdb(CarryDomain *d, const VsmNicInfo *ni, const VsmNicState *s, ReplayRun *run) {
        char master[IF_NAMESIZE];
        const char *bridge_name = ni->source_bridge;
        const CarryNic *n;
        int port, bridge = 0;

        if (!d->c->config->replay_mdb || s->groups->len == 0 || !ni->target_dev)
                return;
        /* A macvtap has no local bridge: the upstream switch is all. */
        if (g_strcmp0(ni->type, "direct") == 0)
                return;
        n = domain_find_nic(d, ni->mac);
        if (n && n->ifindex > 0 && g_str_equal(n->ifname, ni->target_dev))
                port = n->ifindex;
        else
                port = (int) if_nametoindex(ni->target_dev);
        if (!bridge_name && vsm_link_get_master(ni->target_dev, master) == 0)
                bridge_name = master;
        if (bridge_name && run->bridge_ifindex > 0 && g_str_equal(run->bridge, bridge_name)) {
                bridge = run->bridge_ifindex;
        } else if (bridge_name) {
                bridge = (int) if_nametoindex(bridge_name);
                g_strlcpy(run->bridge, bridge_name, sizeof(run->bridge));
                run->bridge_ifindex = bridge;
        }
        if (port <= 0 || bridge <= 0) {
                carry_note(d, FALSE, "mdb: %s is not a bridge port: no entries", ni->target_dev);
                return;
        }
        if (!d->mdb_pending)
                d->mdb_pending = g_array_new(FALSE, TRUE, sizeof(VsmMdbEntry));
        for (guint i = 0; i < s->groups->len; i++) {
                const VsmStateGroup *g = &g_array_index(s->groups, VsmStateGroup, i);
                VsmMdbEntry e = {
                        .bridge_ifindex = bridge,
                        .port_ifindex = port,
                        .is_ip6 = g->is_ip6,
                        .vid = ni->has_vlan ? ni->vlan : 0,
                };

                memcpy(e.group, g->address, VSM_IP6_ALEN);
                g_array_append_val(d->mdb_pending, e);
        }
}

/* The local bridge's mdb comes after the upstream frames of this and of
 * any other domain switching over in the same loop iteration: the switch
 * upstream is what the paused window is for (a low-priority source). */
static void mdb_start(CarryDomain *d) {
        if (!d->mdb_pending || d->mdb_pending->len == 0 || d->mdb_timer || d->mdb_queued)
                return;
        d->mdb_deadline_usec = 0;
        d->mdb_first_n = d->mdb_pending->len;
        mdb_enqueue(d);
}

static const VsmNicState *states_find(GPtrArray *nics, const uint8_t mac[VSM_ETH_ALEN]) {
        for (guint i = 0; nics && i < nics->len; i++)
                if (memcmp(((const VsmNicState *) nics->pdata[i])->mac, mac, VSM_ETH_ALEN) == 0)
                        return nics->pdata[i];
        return NULL;
}

/* The frames of a domain's vNICs that go out on one uplink, sent with
 * one sendmmsg(2) call (per VSM_PACKET_BATCH_MAX frames) once every vNIC's
 * frames are built: ~6 us per frame saved against one send() each. */
typedef struct ReplayBurst {
        VsmUplink *u;
        GPtrArray *frames;             /* VsmReplayFrame (owned) */
} ReplayBurst;

static void burst_clear(gpointer p) {
        ReplayBurst *b = p;

        g_clear_pointer(&b->frames, g_ptr_array_unref);
}

static GArray *bursts_new(void) {
        GArray *a = g_array_new(FALSE, TRUE, sizeof(ReplayBurst));

        g_array_set_clear_func(a, burst_clear);
        return a;
}

/* Takes frames. */
static void bursts_add(GArray *bursts, VsmUplink *u, GPtrArray *frames) {
        ReplayBurst *b = NULL;

        for (guint i = 0; i < bursts->len && !b; i++)
                if (g_array_index(bursts, ReplayBurst, i).u == u)
                        b = &g_array_index(bursts, ReplayBurst, i);
        if (!b) {
                ReplayBurst nb = { .u = u, .frames = frames };

                g_array_append_val(bursts, nb);
                return;
        }
        g_ptr_array_extend_and_steal(b->frames, frames);
}

/* Every burst on its uplink; each frame counted and noted as one send()
 * each did. */
static void bursts_send(CarryDomain *d, GArray *bursts) {
        VsmCarry *c = d->c;

        for (guint k = 0; k < bursts->len; k++) {
                ReplayBurst *b = &g_array_index(bursts, ReplayBurst, k);
                guint n = b->frames->len;
                g_autofree struct iovec *iov = g_new(struct iovec, MAX(n, 1));
                g_autofree int *errors = g_new0(int, MAX(n, 1));
                gint64 done;

                for (guint i = 0; i < n; i++) {
                        VsmReplayFrame *f = b->frames->pdata[i];
                        gsize len;

                        iov[i].iov_base = (void *) g_bytes_get_data(f->frame, &len);
                        iov[i].iov_len = len;
                }
                g_autoptr(GString) sent = g_string_new(NULL);

                (void) vsm_uplink_send_raw_batch(b->u, iov, n, errors);
                done = g_get_real_time();
                for (guint i = 0; i < n; i++) {
                        VsmReplayFrame *f = b->frames->pdata[i];

                        if (errors[i] < 0) {
                                d->replay_errors++;
                                carry_note(d, FALSE, "replay %s on %s: %s", f->what, vsm_uplink_get_name(b->u),
                                           g_strerror(-errors[i]));
                                continue;
                        }
                        d->replay_frames++;
                        c->n_replay_frames++;
                        d->replay_last_real_usec = done;
                        if (d->replay_frames <= CARRY_FRAME_NOTES_MAX)
                                g_string_append_printf(sent, "%s%s", sent->len ? ", " : "", f->what);
                }
                /* One timeline note per burst, not one per frame: each
                 * note is formatted, kept, logged and sent to watchers
                 * (printf-family formatting was ~18% of the samples of
                 * a 125-domain replay, tests/bench/switchover-synthetic). */
                if (sent->len)
                        carry_note(d, TRUE, "replay on %s: %s", vsm_uplink_get_name(b->u), sent->str);
        }
        g_array_set_size(bursts, 0);
}

/* Replay one vNIC's state (from nics) on the uplink under its bridge: its
 * frames join the burst of that uplink (bursts_send). */
static void replay_nic(CarryDomain *d, const VsmNicInfo *ni, GPtrArray *nics, gint64 real_now, ReplayRun *run) {
        VsmCarry *c = d->c;
        const VsmNicState *carried = states_find(nics, ni->mac);
        g_autoptr(VsmNicState) s = NULL;
        g_autoptr(GString) refused = g_string_new(NULL);
        g_autofree char *why = NULL, *skipped = NULL, *vid_text = NULL;
        g_autoptr(GPtrArray) frames = NULL;
        VsmUplink *u;
        VsmVid vid;
        char mac[18];

        vsm_mac_format(ni->mac, mac);
        if (!carried) {
                carry_note(d, FALSE, "replay vNIC %s: no carried state", mac);
                return;
        }
        /* Announce only what this host, too, finds the VM owns. */
        s = vsm_nic_state_copy(carried);
        if (vsm_nic_state_recheck(s, ni, nics, refused) > 0) {
                c->n_replay_refused++;
                carry_note(d, FALSE, "replay vNIC %s: refused: %s", mac, refused->str);
        }
        u = c->host.uplink_for_nic ? c->host.uplink_for_nic(ni, &why, c->host_data) : NULL;
        if (!u) {
                carry_note(d, FALSE, "replay vNIC %s: %s", mac, why ? why : "no uplink");
                return;
        }
        /* The ASSOCIATE (M) staged just before goes out first. */
        vsm_uplink_flush_vdp(u);
        /* In the NIC's VLAN, or not at all: never an untagged guess. */
        vsm_nic_vid_resolve(c->config, ni, vsm_uplink_get_name(u), &vid);
        if (vid.state != VSM_VID_TAGGED && vid.state != VSM_VID_UNTAGGED) {
                carry_note(d, FALSE, "replay vNIC %s: no replay: VID %s: %s", mac, vsm_vid_state_to_string(vid.state),
                           vid.why);
                return;
        }
        frames = vsm_replay_build(s, real_now, &skipped);
        if (vid.state == VSM_VID_TAGGED)
                (void) vsm_replay_frames_tag(frames, vid.vid);
        vid_text = vsm_vid_describe(&vid);
        carry_note(d, TRUE, "replay vNIC %s: %u frame(s) on %s, vid %s%s%s", mac, frames->len, vsm_uplink_get_name(u),
                   vid_text, skipped ? "; skipped: " : "", skipped ? skipped : "");
        bursts_add(run->bursts, u, g_steal_pointer(&frames));
        replay_mdb(d, ni, s, run);
}

void vsm_carry_replay(VsmCarry *c, const char *uuid, const VsmDomainInfo *info, gboolean late) {
        CarryDomain *d = carry_lookup(c, uuid);
        VsmCarryInput in = { .ev = VSM_CARRY_EV_REPLAY, .late = late };
        CarryCtx ctx = { .info = info };

        if (d)
                carry_feed(d, &in, &ctx);
}

/* REPLAY on the destination: the incoming state on the uplinks. */
static void domain_replay_incoming(CarryDomain *d, const VsmDomainInfo *info, gboolean late) {
        VsmCarry *c = d->c;
        gint64 real_now = g_get_real_time();
        g_autoptr(GArray) bursts = bursts_new();
        ReplayRun run = { .bursts = bursts };

        d->replay_last_real_usec = 0;
        c->n_replays++;
        if (late)
                c->n_replays_late++;
        mdb_stop(d);
        for (guint i = 0; i < info->nics->len; i++)
                replay_nic(d, info->nics->pdata[i], d->incoming->nics, real_now, &run);
        bursts_send(d, bursts);
        mdb_start(d);
        if (d->replay_frames > CARRY_FRAME_NOTES_MAX)
                carry_note(d, TRUE, "replay: the first %d of %u frames are listed", CARRY_FRAME_NOTES_MAX,
                           d->replay_frames);
        if (d->suspended_real_usec && d->replay_last_real_usec)
                carry_note(d, FALSE, "replay%s: %u frame(s), last %.2f ms after the source's SUSPENDED",
                           late ? " (late)" : "", d->replay_frames,
                           (double) (d->replay_last_real_usec - d->suspended_real_usec) / 1000.0);
        else
                carry_note(d, FALSE, "replay%s: %u frame(s)%s", late ? " (late, at RESUMED)" : "", d->replay_frames,
                           d->replay_errors ? ", some failed" : "");
}

static void send_queries(CarryDomain *d, const VsmNicInfo *ni, const VsmNicState *s) {
        char master[IF_NAMESIZE];
        uint8_t mac[VSM_ETH_ALEN];
        g_autoptr(GPtrArray) frames = NULL;
        gboolean want4 = FALSE, want6 = FALSE;
        int tap, bridge_index, fd;

        for (guint i = 0; s && i < s->groups->len; i++) {
                const VsmStateGroup *g = &g_array_index(s->groups, VsmStateGroup, i);

                if (g->is_ip6)
                        want6 = TRUE;
                else
                        want4 = TRUE;
        }
        /* The guest's solicited-node groups (ff02::1:ff00:0/104) are never
         * replayed (link-local, DESIGN.md section 4), but a snooping switch
         * forwards NS to them only where they were reported: an IPv6 guest
         * gets the query that makes it report them on its new port. */
        if (s && s->ip6 && s->ip6->len > 0)
                want6 = TRUE;
        if (!want4 && !want6)
                return;
        if (!ni->target_dev || (tap = (int) if_nametoindex(ni->target_dev)) <= 0 ||
            vsm_link_get_master(ni->target_dev, master) < 0 || vsm_link_lookup(master, &bridge_index, mac) < 0)
                return;
        fd = vsm_packet_open(tap);
        if (fd < 0) {
                carry_note(d, FALSE, "post-resume query into %s: %s", ni->target_dev, g_strerror(-fd));
                return;
        }
        frames = vsm_replay_build_queries(s, mac, want4, want6);
        for (guint i = 0; i < frames->len; i++) {
                VsmReplayFrame *f = frames->pdata[i];
                gsize len;
                const uint8_t *data = g_bytes_get_data(f->frame, &len);
                int r = vsm_packet_send(fd, data, len);

                if (r == 0)
                        d->c->n_queries++;
                carry_note(d, TRUE, "post-resume %s into %s: %s", f->what, ni->target_dev,
                           r == 0 ? "sent" : g_strerror(-r));
        }
        close(fd);
}

void vsm_carry_resumed(VsmCarry *c, const char *uuid, const VsmDomainInfo *info) {
        CarryDomain *d = carry_lookup(c, uuid);
        VsmCarryInput in = { .ev = VSM_CARRY_EV_RESUMED };
        CarryCtx ctx = { .info = info };

        if (d)
                carry_feed(d, &in, &ctx);
}

/* REPORT_RESUMED: how the replay stood at RESUMED. */
static void domain_report_resumed(CarryDomain *d) {
        d->resumed_real_usec = g_get_real_time();
        if (!d->policy.replayed)
                carry_note(d, FALSE, "RESUMED: no replay was done");
        else if (d->policy.replay_late)
                carry_note(d, FALSE, "RESUMED: the replay was late (no SWITCHOVER from the source before RESUMED)");
        else if (d->replay_frames == 0)
                carry_note(d, FALSE, "RESUMED: the replay had nothing to send");
        else
                carry_note(d, FALSE, "RESUMED: all %u replayed frame(s) left before it (last %.2f ms earlier)",
                           d->replay_frames, (double) (d->resumed_real_usec - d->replay_last_real_usec) / 1000.0);
}

/* SEND_QUERIES: the post-resume general queries into the new taps. */
static void domain_send_queries(CarryDomain *d, const VsmDomainInfo *info) {
        for (guint i = 0; i < info->nics->len; i++) {
                const VsmNicInfo *ni = info->nics->pdata[i];

                send_queries(d, ni, vsm_domain_state_find_nic(d->incoming, ni->mac));
        }
}

/* Does a VM other than d, still followed here, hold the group g?  Then the
 * old port keeps it: its tap may be behind the same switch port. */
static gboolean group_held_here(VsmCarry *c, const CarryDomain *d, const VsmStateGroup *g) {
        GHashTableIter it;
        gpointer v;

        g_hash_table_iter_init(&it, c->domains);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                const CarryDomain *o = v;

                for (guint i = 0; o != d && i < o->nics->len; i++) {
                        const CarryNic *n = o->nics->pdata[i];

                        for (size_t k = 0; k < vsm_learner_n_groups(n->learner); k++) {
                                const VsmLearnGroup *h = vsm_learner_get_group(n->learner, k);

                                if (!!h->is_ip6 == !!g->is_ip6 &&
                                    memcmp(h->address, g->address, g->is_ip6 ? VSM_IP6_ALEN : VSM_IP4_ALEN) == 0)
                                        return TRUE;
                        }
                }
        }
        return FALSE;
}

/* The VM runs on the destination now: prune its groups from the old
 * switch port without speaking as the VM (DESIGN.md section 7).  The
 * leaves come from the uplink's own MAC, IPv4 source 0.0.0.0, IPv6 source
 * the uplink MAC's EUI-64 link-local (vsm_replay_build_leaves).  Why leaves
 * and not a query: a group-specific query from this host, seen by the
 * switch on the old port, would lower the group's timers on every port,
 * the new one included, and with source 0.0.0.0 win the querier election.
 * A leave lowers the timer of the port it came in on only; the switch, as
 * querier, asks that port once more (last-member queries), so another VM
 * behind it that still listens answers and keeps the group.  Groups that
 * another VM followed here holds are not left at all. */
static void domain_send_leaves(CarryDomain *d, const VsmDomainInfo *info) {
        VsmCarry *c = d->c;
        guint sent = 0, kept = 0;

        for (guint i = 0; i < info->nics->len; i++) {
                const VsmNicInfo *ni = info->nics->pdata[i];
                CarryNic *n = domain_find_nic(d, ni->mac);
                g_autoptr(VsmNicState) st = NULL;
                g_autoptr(GPtrArray) frames = NULL;
                g_autofree char *why = NULL;
                VsmUplink *u;
                VsmVid vid;

                if (!n || vsm_learner_n_groups(n->learner) == 0)
                        continue;
                u = c->host.uplink_for_nic ? c->host.uplink_for_nic(ni, &why, c->host_data) : NULL;
                if (!u)
                        continue;
                st = vsm_nic_state_from_learner(n->learner, g_get_monotonic_time(), g_get_real_time());
                for (guint k = st->groups->len; k > 0; k--)
                        if (group_held_here(c, d, &g_array_index(st->groups, VsmStateGroup, k - 1))) {
                                g_array_remove_index(st->groups, k - 1);
                                kept++;
                        }
                vsm_nic_vid_resolve(c->config, ni, vsm_uplink_get_name(u), &vid);
                if (vid.state != VSM_VID_TAGGED && vid.state != VSM_VID_UNTAGGED) {
                        carry_note(d, FALSE, "old port: no leaves: VID %s: %s", vsm_vid_state_to_string(vid.state),
                                   vid.why);
                        continue;
                }
                frames = vsm_replay_build_leaves(st, vsm_uplink_get_mac(u));
                if (vid.state == VSM_VID_TAGGED)
                        (void) vsm_replay_frames_tag(frames, vid.vid);
                for (guint k = 0; k < frames->len; k++) {
                        VsmReplayFrame *f = frames->pdata[k];
                        gsize len;
                        const uint8_t *data = g_bytes_get_data(f->frame, &len);
                        int r = vsm_uplink_send_raw(u, data, len);

                        if (r == 0)
                                sent++;
                        carry_note(d, TRUE, "old port: %s on %s: %s", f->what, vsm_uplink_get_name(u),
                                   r == 0 ? "sent" : g_strerror(-r));
                }
        }
        if (kept > 0)
                carry_note(d, FALSE, "old port: %u group(s) kept, another VM here holds them", kept);
        if (sent > 0) {
                c->n_leaves += sent;
                carry_note(d, FALSE, "old port: %u leave(s) sent for the VM's groups, from the uplink's own MAC",
                           sent);
        }
}

void vsm_carry_forget(VsmCarry *c, const char *uuid, const VsmDomainInfo *info) {
        CarryDomain *d = carry_lookup(c, uuid);
        VsmCarryInput in = { .ev = VSM_CARRY_EV_FORGET };
        CarryCtx ctx = { .info = info };

        if (d)
                carry_feed(d, &in, &ctx);
}

/* The destination may have replayed already: the switch then holds the
 * VM's bindings on the wrong port.  Take them back, now that the VM runs
 * here again (never before: DESIGN.md section 7). */
static void failback_replay(CarryDomain *d, const VsmDomainInfo *info) {
        g_autoptr(GPtrArray) nics = domain_snapshot(d, FALSE);
        gint64 real_now = g_get_real_time();
        guint before = d->replay_frames;
        g_autoptr(GArray) bursts = bursts_new();
        ReplayRun run = { .bursts = bursts };

        for (guint i = 0; i < info->nics->len; i++)
                replay_nic(d, info->nics->pdata[i], nics, real_now, &run);
        bursts_send(d, bursts);
        mdb_start(d);
        d->c->n_replays++;
        carry_note(d, FALSE, "replay from the source after the failed switchover: %u frame(s)",
                   d->replay_frames - before);
}

void vsm_carry_failed_back(VsmCarry *c, const char *uuid, const VsmDomainInfo *info, gboolean running) {
        CarryDomain *d = carry_lookup(c, uuid);
        VsmCarryInput in = { .ev = VSM_CARRY_EV_FAILED_BACK, .running = running };
        CarryCtx ctx = { .info = info };

        if (d)
                carry_feed(d, &in, &ctx);
}

void vsm_carry_running(VsmCarry *c, const char *uuid, const VsmDomainInfo *info) {
        CarryDomain *d = carry_lookup(c, uuid);
        VsmCarryInput in = { .ev = VSM_CARRY_EV_RUNNING };
        CarryCtx ctx = { .info = info };

        if (d)
                carry_feed(d, &in, &ctx);
}

/* ---- carrying out the policy's actions ---- */

static void carry_arm_timer(CarryDomain *d, uint64_t at_usec, uint64_t now_usec) {
        g_clear_handle_id(&d->write_timer, g_source_remove);
        d->write_timer = g_timeout_add((guint) ((at_usec > now_usec ? at_usec - now_usec : 0) / 1000), on_write_timer, d);
}

/* Feed one event to d's policy and carry out what it says, in order.
 * FALSE: d is gone (FORGET). */
static gboolean carry_feed(CarryDomain *d, VsmCarryInput *in, CarryCtx *ctx) {
        uint64_t now = (uint64_t) g_get_monotonic_time();
        VsmCarryActions acts;

        in->generation = d->generation;
        in->has_info = ctx->info != NULL;
        in->has_nics = d->nics->len > 0;
        if (vsm_carry_policy_handle(&d->policy, in, now, &acts) < 0)
                return TRUE;
        for (size_t i = 0; i < acts.n; i++) {
                const VsmCarryAction *a = &acts.a[i];

                switch (a->type) {
                case VSM_CARRY_ACT_LEARN_ON:
                        domain_sync_nics(d, ctx->info, d->incoming ? d->incoming : d->adopted);
                        break;
                case VSM_CARRY_ACT_STREAM_CHANGED:
                        domain_stream_changed(d);
                        break;
                case VSM_CARRY_ACT_STREAM_ALL:
                        if (ctx->conn)
                                domain_stream_all(d, ctx->conn);
                        break;
                case VSM_CARRY_ACT_SEND_SWITCHOVER:
                        domain_send_switchover(d);
                        break;
                case VSM_CARRY_ACT_REPLAY:
                        if (a->failback)
                                failback_replay(d, ctx->info);
                        else
                                domain_replay_incoming(d, ctx->info, a->late);
                        break;
                case VSM_CARRY_ACT_SEND_LEAVES:
                        domain_send_leaves(d, ctx->info);
                        break;
                case VSM_CARRY_ACT_SEND_QUERIES:
                        domain_send_queries(d, ctx->info);
                        break;
                case VSM_CARRY_ACT_REPORT_RESUMED:
                        domain_report_resumed(d);
                        break;
                case VSM_CARRY_ACT_MINT_TOKEN:
                        carry_new_token(d);
                        break;
                case VSM_CARRY_ACT_WRITE_SNAPSHOT:
                        domain_write_snapshot(d);
                        break;
                case VSM_CARRY_ACT_ARM_TIMER:
                        carry_arm_timer(d, a->at_usec, now);
                        break;
                case VSM_CARRY_ACT_CANCEL_TIMER:
                        g_clear_handle_id(&d->write_timer, g_source_remove);
                        break;
                case VSM_CARRY_ACT_TAKE_INCOMING:
                        domain_take_incoming(d, ctx);
                        break;
                case VSM_CARRY_ACT_CONNECT_PEER:
                        domain_connect_peer(d);
                        break;
                case VSM_CARRY_ACT_PEER_NOT_OPENED:
                        domain_peer_not_opened(d);
                        break;
                case VSM_CARRY_ACT_ACCEPT_PEER:
                        ctx->accepted = TRUE;
                        break;
                case VSM_CARRY_ACT_DROP_PEER:
                        if (ctx->client)
                                domain_drop_client(d, ctx->client);
                        else if (d->c->server)
                                vsm_peer_server_drop_domain(d->c->server, d->uuid);
                        break;
                case VSM_CARRY_ACT_FORWARD_SWITCHOVER:
                        domain_forward_switchover(d, ctx);
                        break;
                case VSM_CARRY_ACT_TAKEOVER:
                        g_clear_pointer(&d->client, vsm_peer_client_free);
                        g_clear_pointer(&d->incoming, vsm_domain_state_free);
                        break;
                case VSM_CARRY_ACT_NOTE:
                        if (ctx->error && in->ev == VSM_CARRY_EV_WRITE_REFUSED)
                                carry_note(d, FALSE, "%s: %s", a->note, ctx->error->message);
                        else
                                carry_note(d, FALSE, "%s", a->note);
                        break;
                case VSM_CARRY_ACT_FORGET:
                        g_hash_table_remove(d->c->domains, d->uuid);
                        return FALSE;
                default:
                        break;
                }
        }
        return TRUE;
}

/* ---- the JSON views ---- */


JsonNode *vsm_carry_domain_json(VsmCarry *c, const char *uuid) {
        CarryDomain *d = carry_lookup(c, uuid);
        g_autoptr(JsonBuilder) b = NULL;

        if (!d)
                return NULL;
        b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "generation");
        json_builder_add_int_value(b, (gint64) d->generation);
        json_builder_set_member_name(b, "metadata_writes");
        json_builder_add_int_value(b, (gint64) d->metadata_writes);
        json_builder_set_member_name(b, "metadata_refused");
        json_builder_add_int_value(b, (gint64) d->metadata_errors);
        json_builder_set_member_name(b, "learned");
        json_builder_begin_array(b);
        for (guint i = 0; i < d->nics->len; i++) {
                CarryNic *n = d->nics->pdata[i];
                g_autoptr(VsmNicState) s =
                        vsm_nic_state_from_learner(n->learner, g_get_monotonic_time(), g_get_real_time());
                JsonNode *node = vsm_nic_state_to_json(s);
                JsonObject *prov = json_object_new();
                VsmLearnStats st;

                /* Why addresses were not taken (learn.c, the ownership rule). */
                vsm_learner_get_stats(n->learner, &st);
                json_object_set_int_member(prov, "claims_ignored", (gint64) st.n_claims_ignored);
                json_object_set_int_member(prov, "contradicted", (gint64) st.n_contradicted);
                json_object_set_int_member(prov, "refused_claimed", (gint64) st.n_refused_claimed);
                json_object_set_int_member(prov, "refused_nwfilter", (gint64) st.n_refused_filter);
                json_object_set_int_member(prov, "link_local_groups", (gint64) st.n_link_local_groups);
                json_object_set_string_member(json_node_get_object(node), "tap", n->ifname);
                json_object_set_object_member(json_node_get_object(node), "provenance", prov);
                json_builder_add_value(b, node);
        }
        json_builder_end_array(b);
        if (d->incoming) {
                json_builder_set_member_name(b, "incoming");
                json_builder_add_value(b, vsm_domain_state_to_json_public(d->incoming));
                json_builder_set_member_name(b, "peer");
                json_builder_add_string_value(b, d->peer_state ? d->peer_state : "none");
                json_builder_set_member_name(b, "peer_messages");
                json_builder_add_int_value(b, d->peer_messages);
                json_builder_set_member_name(b, "switchover_received");
                json_builder_add_boolean_value(b, d->policy.switchover_received);
        }
        /* The last replay here: kept after the destination took the state
         * over, until the next migration in. */
        if (d->incoming || d->policy.replayed) {
                json_builder_set_member_name(b, "replayed");
                json_builder_add_boolean_value(b, d->policy.replayed);
                json_builder_set_member_name(b, "replay_late");
                json_builder_add_boolean_value(b, d->policy.replay_late);
                json_builder_set_member_name(b, "replay_frames");
                json_builder_add_int_value(b, d->replay_frames);
                if (d->suspended_real_usec && d->replay_last_real_usec) {
                        json_builder_set_member_name(b, "suspended_to_last_frame_ms");
                        json_builder_add_double_value(b, (double) (d->replay_last_real_usec - d->suspended_real_usec) /
                                                                 1000.0);
                }
                if (d->policy.resumed && d->replay_last_real_usec) {
                        json_builder_set_member_name(b, "last_frame_before_resumed_ms");
                        json_builder_add_double_value(b, (double) (d->resumed_real_usec - d->replay_last_real_usec) /
                                                                 1000.0);
                }
        }
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

#define COUNTER(name)                                             \
        json_builder_set_member_name(b, #name);                   \
        json_builder_add_int_value(b, (gint64) c->n_##name)

JsonNode *vsm_carry_status_json(VsmCarry *c) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "learning");
        json_builder_add_boolean_value(b, c->config->learn_enabled);
        json_builder_set_member_name(b, "replay");
        json_builder_add_boolean_value(b, c->config->replay_enabled);
        json_builder_set_member_name(b, "taps");
        json_builder_add_int_value(b, c->sniffer ? vsm_sniffer_n_taps(c->sniffer) : 0);
        COUNTER(learned_frames);
        json_builder_set_member_name(b, "rate_dropped_frames");
        json_builder_add_int_value(b, c->sniffer ? (gint64) vsm_sniffer_get_rate_dropped(c->sniffer, -1) : 0);
        COUNTER(changes);
        COUNTER(state_messages);
        COUNTER(metadata_writes);
        COUNTER(metadata_errors);
        COUNTER(switchovers_sent);
        COUNTER(switchovers_received);
        COUNTER(switchovers_refused);
        COUNTER(peer_rejects);
        COUNTER(peer_auth_failures);
        COUNTER(peer_not_opened);
        COUNTER(tokens_minted);
        COUNTER(replays);
        COUNTER(replays_late);
        COUNTER(replay_frames);
        COUNTER(replay_refused);
        COUNTER(mdb_added);
        COUNTER(mdb_failed);
        COUNTER(queries);
        COUNTER(leaves);
        json_builder_set_member_name(b, "mdb_cache");
        if (c->mdb) {
                VsmMdbCacheStats st;

                vsm_mdb_cache_get_stats(c->mdb, &st);
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "complete");
                json_builder_add_boolean_value(b, vsm_mdb_cache_is_complete(c->mdb));
                json_builder_set_member_name(b, "entries");
                json_builder_add_int_value(b, st.entries);
                json_builder_set_member_name(b, "ports");
                json_builder_add_int_value(b, st.ports);
                json_builder_set_member_name(b, "notifications");
                json_builder_add_int_value(b, (gint64) st.notifications);
                json_builder_set_member_name(b, "dumps");
                json_builder_add_int_value(b, (gint64) st.dumps);
                json_builder_set_member_name(b, "resyncs");
                json_builder_add_int_value(b, (gint64) st.resyncs);
                json_builder_set_member_name(b, "overflow");
                json_builder_add_int_value(b, (gint64) st.overflow);
                json_builder_set_member_name(b, "malformed");
                json_builder_add_int_value(b, (gint64) st.malformed);
                json_builder_end_object(b);
        } else {
                json_builder_add_null_value(b);
        }
        json_builder_set_member_name(b, "peer");
        if (c->server)
                json_builder_add_value(b, vsm_peer_server_to_json(c->server));
        else
                json_builder_add_null_value(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

/* ---- lifetime ---- */

VsmCarry *vsm_carry_new(const VsmConfig *config, const VsmCarryHost *host, gpointer user_data, GError **error) {
        static const VsmPeerServerCallbacks scb = {
                .lookup_deferred = on_peer_lookup,
                .authorize = on_peer_authorize,
                .connected = on_peer_connected,
                .disconnected = on_peer_disconnected,
                .refused = on_peer_refused,
        };
        g_autoptr(VsmCarry) c = g_new0(VsmCarry, 1);

        c->config = config;
        c->host = *host;
        c->host_data = user_data;
        c->domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, domain_free);
        c->cancel = g_cancellable_new();
        c->by_ifindex = g_hash_table_new(g_direct_hash, g_direct_equal);
        c->sniffer = vsm_sniffer_new(on_sniffed, c);
        c->expire_timer = g_timeout_add_seconds(CARRY_EXPIRE_INTERVAL_SEC, on_expire_timer, c);
        if (config->peer_tls) {
                c->tls = vsm_peer_tls_new_from_files(config->peer_tls_ca, config->peer_tls_cert, config->peer_tls_key,
                                                     config->peer_tls_client_cert, config->peer_tls_client_key, error);
                if (!c->tls)
                        return NULL;
        }
        c->sec.tls = c->tls;
        c->key = config->peer_key ? g_bytes_ref(config->peer_key) : NULL;
        c->sec.key = c->key;
        c->sec.insecure = config->peer_insecure;
        c->policy_cfg = (VsmCarryConfig) {
                .learn = config->learn_enabled,
                .replay = config->replay_enabled,
                .leaves = config->replay_leaves,
                .queries = config->replay_query,
                .stream = config->peer_listen != NULL,
                .secure = c->key || c->tls || config->peer_insecure,
                .write_interval_usec = (uint64_t) config->metadata_interval_ms * 1000,
        };
        /* A source's mdb-only groups: only a host that streams needs them. */
        if (config->peer_listen && config->learn_enabled) {
                int r;

                c->mdb = vsm_mdb_cache_new(VSM_MDB_CACHE_ENTRIES_MAX, VSM_MDB_CACHE_PORT_ENTRIES_MAX, on_mdb_changed,
                                           c);
                r = vsm_mdb_cache_start(c->mdb);
                if (r < 0) {
                        vsm_log(G_LOG_LEVEL_WARNING, "mdb notifications unavailable (%s): groups only the bridge's "
                                "mdb knows are not carried", g_strerror(-r));
                        g_clear_pointer(&c->mdb, vsm_mdb_cache_free);
                }
        }
        if (config->peer_listen) {
                c->server = vsm_peer_server_new_retrying(config->peer_listen, &c->sec, &scb, c, error);
                if (!c->server)
                        return NULL;
                vsm_log(G_LOG_LEVEL_MESSAGE, "peer listener on %s%s (origin %s, %s%s%s)", config->peer_listen,
                        vsm_peer_server_is_bound(c->server) ? "" : ", not bound yet", carry_origin(c),
                        config->peer_key ? "key file" : "", config->peer_key && c->tls ? " + " : "",
                        c->tls ? "TLS" : config->peer_key ? "" : "INSECURE: no key file, no TLS");
        }
        return g_steal_pointer(&c);
}

gboolean vsm_carry_reload_key(VsmCarry *c, GError **error) {
        GBytes *key;

        if (!c->config->peer_key_file)
                return TRUE;
        key = vsm_peer_key_load(c->config->peer_key_file, error);
        if (!key)
                return FALSE;
        g_clear_pointer(&c->key, g_bytes_unref);
        c->key = key;
        c->sec.key = key;
        if (c->server)
                vsm_peer_server_set_key(c->server, key);
        vsm_log(G_LOG_LEVEL_MESSAGE, "[peer] key-file %s read again", c->config->peer_key_file);
        return TRUE;
}

void vsm_carry_set_libvirt(VsmCarry *c, VsmLibvirt *lv) {
        GHashTableIter it;
        gpointer v;

        c->libvirt = lv;
        c->policy_cfg.can_write = lv != NULL;
        g_hash_table_iter_init(&it, c->domains);
        while (g_hash_table_iter_next(&it, NULL, &v))
                ((CarryDomain *) v)->policy.cfg.can_write = lv != NULL;
}

VsmCarry *vsm_carry_free(VsmCarry *c) {
        if (!c)
                return NULL;
        g_clear_handle_id(&c->expire_timer, g_source_remove);
        g_clear_pointer(&c->mdb, vsm_mdb_cache_free);
        if (c->cancel)
                g_cancellable_cancel(c->cancel);
        g_clear_object(&c->cancel);
        /* Domains first: their NICs unregister from the sniffer, their
         * connections from the server. */
        g_clear_pointer(&c->domains, g_hash_table_unref);
        g_clear_pointer(&c->by_ifindex, g_hash_table_unref);
        g_clear_handle_id(&c->mdb_idle, g_source_remove);
        vsm_peer_server_free(c->server);
        vsm_peer_tls_free(c->tls);
        g_clear_pointer(&c->key, g_bytes_unref);
        vsm_sniffer_free(c->sniffer);
        g_free(c);
        return NULL;
}

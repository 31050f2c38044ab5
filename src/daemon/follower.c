/* The libvirt follower: domains, migration machines, VDP actions. */
#include "daemon/follower.h"

#include <errno.h>
#include <string.h>

#include "daemon/carry.h"
#include "daemon/domain-xml.h"
#include "daemon/domain.h"
#include "daemon/log.h"
#include "daemon/nic-vid.h"
#include "daemon/qbg-agent.h"
#include "daemon/uplink.h"
#include "io/libvirt.h"
#include "io/linkchain.h"
#include "io/netlink.h"
#include "sm/carry.h"
#include "sm/migration.h"

/* virDomainState values (libvirt-domain.h), kept local so only io/ needs
 * the libvirt headers. */
#define VIR_STATE_RUNNING 1
#define VIR_STATE_PAUSED 3
#define VIR_PAUSED_USER 1
#define VIR_PAUSED_MIGRATION 2
/* virDomainJobOperation */
#define VIR_JOB_OPERATION_MIGRATION_IN 4
#define VIR_JOB_OPERATION_MIGRATION_OUT 5

struct VsmFollower {
        const VsmConfig *config;
        GPtrArray *uplinks;
        VsmQbgAgent *qbg;              /* libvirt's 802.1Qbg agent, borrowed, or NULL */
        VsmFollowerEmitFunc emit;
        VsmFollowerWantFunc want;
        gpointer emit_data;
        VsmMigConfig mig;
        VsmLibvirt *libvirt;
        GHashTable *domains;           /* uuid string -> VsmDomain (owned) */
        guint64 hooks;
        guint64 hook_errors;
        guint64 events;
        VsmCarry *carry;
        GHashTable *job_watches;       /* uuid string -> JobWatch (owned) */
        GList *vdp_waits;              /* VdpWait (owned by their VSI's request) */
        GCancellable *cancel;          /* libvirt calls in flight end with us */
        gboolean found_paused;         /* reconcile: the domain fed is paused */
        GHashTable *fetches;           /* uuid string -> Fetch (owned) */
        struct Reconcile *reconcile;   /* in progress, NULL otherwise */
        guint64 fetches_started;
        guint64 events_waited;         /* events that waited for a fetch */
};

/* A read of one domain's live XML in the libvirt worker, and that
 * domain's events that wait for it: they are fed in order once it is
 * back, so the main loop never waits for libvirt and no event overtakes
 * another. */
typedef struct Fetch {
        VsmFollower *f;
        char uuid[37];
        uint8_t uuid_bin[16];
        char *why;
        GArray *events;                /* VsmMigEvent */
        gboolean nics_changed;         /* a device came or went: compare the vNICs */
        gboolean refetch;              /* another device change while this one was out */
} Fetch;

#define FOLLOWER_FETCH_EVENTS_MAX 64

/* The reconcile at a (re)connect, FOLLOWER_RECONCILE_BATCH domains per
 * dispatch; events wait in it (their names and aliases are not kept:
 * nothing past the lookup by UUID uses them). */
typedef struct Reconcile {
        GPtrArray *list;               /* VsmLibvirtDomain (a reference to the connection's list) */
        guint next;
        GHashTable *seen;              /* uuid strings (owned) */
        GHashTable *active_before;     /* uuid strings (owned): active when it began */
        GArray *events;                /* VsmLibvirtEvent, name and alias NULL */
        guint idle;
} Reconcile;

#define FOLLOWER_RECONCILE_BATCH 8
#define FOLLOWER_RECONCILE_EVENTS_MAX 4096

/* A source in precopy: libvirt sends the source no event when the
 * migration is aborted (domjobabort, a failed destination), so its job is
 * polled until the domain is suspended or the job is gone. */
typedef struct JobWatch {
        VsmFollower *f;
        char uuid[37];
        uint8_t uuid_bin[16];
        guint timer;
        gboolean inflight;
        GCancellable *cancel;
} JobWatch;

#define FOLLOWER_JOB_POLL_SEC 2

/* One VDP request of ours in flight.  The VSI owns it until the request
 * ends (vdp_done); the follower only lists it, and on free detaches it
 * (f = NULL): the uplinks, and so the VSIs, outlive the follower, and they
 * answer their requests "cancelled" when they go. */
typedef struct VdpWait {
        VsmFollower *f;                /* NULL once the follower is gone */
        char uuid[37];
        char *what;
        gint64 sent_usec;
} VdpWait;

static void follower_emit(VsmFollower *f, VsmDomain *d, const char *text) {
        g_autoptr(JsonBuilder) b = NULL;
        g_autoptr(JsonNode) n = NULL;
        VsmMigration *m = vsm_domain_get_machine(d);

        if (!f->emit || (f->want && !f->want(f->emit_data)))
                return;
        b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "time");
        json_builder_add_double_value(b, (double) g_get_real_time() / 1e6);
        json_builder_set_member_name(b, "domain");
        json_builder_add_string_value(b, vsm_domain_get_name(d));
        json_builder_set_member_name(b, "uuid");
        json_builder_add_string_value(b, vsm_domain_get_uuid_string(d));
        json_builder_set_member_name(b, "role");
        json_builder_add_string_value(b, vsm_mig_role_to_string(m->role));
        json_builder_set_member_name(b, "phase");
        json_builder_add_string_value(b, vsm_mig_phase_to_string(m->phase));
        json_builder_set_member_name(b, "text");
        json_builder_add_string_value(b, text);
        json_builder_end_object(b);
        n = json_builder_get_root(b);
        if (f->emit)
                f->emit(n, f->emit_data);
}

/* One note, formatted once by the caller: kept in the timeline (a copy),
 * sent to the watchers (only when there are any) and logged (only when
 * the level is enabled: quiet notes are debug lines, and the paused
 * window's replay makes many of them). */
static void follower_record(VsmFollower *f, VsmDomain *d, gboolean quiet, const char *text) {
        GLogLevelFlags level = quiet ? G_LOG_LEVEL_DEBUG : G_LOG_LEVEL_INFO;

        vsm_domain_timeline_add_text(d, text);
        follower_emit(f, d, text);
        if (vsm_log_level_enabled(level)) {
                g_autofree char *message = g_strconcat(vsm_domain_get_name(d), ": ", text, NULL);
                const GLogField fields[] = {
                        { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 },
                        { "PRIORITY", quiet ? "7" : "6", -1 },
                        { "VSIMIG_DOMAIN", vsm_domain_get_name(d), -1 },
                        { "MESSAGE", message, -1 },
                };

                g_log_structured_array(level, fields, G_N_ELEMENTS(fields));
        }
}

static void follower_note(VsmFollower *f, VsmDomain *d, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void follower_note(VsmFollower *f, VsmDomain *d, const char *fmt, ...) {
        g_autofree char *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        follower_record(f, d, FALSE, text);
}

static VsmUplink *follower_find_uplink(VsmFollower *f, const char *name) {
        for (guint i = 0; i < f->uplinks->len; i++)
                if (g_str_equal(vsm_uplink_get_name(f->uplinks->pdata[i]), name))
                        return f->uplinks->pdata[i];
        return NULL;
}

/* A direct (macvtap) NIC's uplink: the root of the IFLA_LINK chain under
 * its macvtap (libvirt's virNetDevGetPhysdevAndVlan() walk), or under its
 * source/@dev while the macvtap does not exist (yet, or any more). */
static VsmUplink *follower_uplink_for_direct(VsmFollower *f, const VsmNicInfo *n, char **ret_why) {
        g_autofree VsmRtLink *chain = g_new0(VsmRtLink, VSM_LINKCHAIN_MAX);
        const char *start = NULL;
        size_t len = 0;
        VsmUplink *u;
        int r = -ENODEV;

        if (n->target_dev) {
                start = n->target_dev;
                r = vsm_linkchain_walk(start, chain, VSM_LINKCHAIN_MAX, &len);
        }
        if (r == -ENODEV && n->source_dev) {
                start = n->source_dev;
                r = vsm_linkchain_walk(start, chain, VSM_LINKCHAIN_MAX, &len);
        }
        if (!start) {
                *ret_why = g_strdup("direct NIC without source/@dev");
                return NULL;
        }
        if (r < 0) {
                *ret_why = g_strdup_printf("direct NIC: lower devices of %s: %s", start, g_strerror(-r));
                return NULL;
        }
        u = follower_find_uplink(f, chain[len - 1].name);
        if (!u)
                *ret_why = g_strdup_printf("direct NIC: %s (under %s) is no configured uplink", chain[len - 1].name,
                                           start);
        return u;
}

/* The uplink under the NIC's bridge: [bridges] in the config, else the
 * configured uplink enslaved to that bridge (rtnetlink).  For a direct
 * NIC, the uplink under its macvtap. */
static VsmUplink *follower_uplink_for_nic(VsmFollower *f, const VsmNicInfo *n, char **ret_why) {
        char master[16];
        const char *bridge = n->source_bridge;

        if (g_strcmp0(n->type, "direct") == 0)
                return follower_uplink_for_direct(f, n, ret_why);

        if (!bridge && n->target_dev && vsm_link_get_master(n->target_dev, master) == 0)
                bridge = master;
        if (!bridge) {
                *ret_why = g_strdup("no bridge known for it");
                return NULL;
        }
        for (guint i = 0; f->config->bridge_names[i]; i++)
                if (g_str_equal(f->config->bridge_names[i], bridge))
                        return follower_find_uplink(f, f->config->bridge_uplinks[i]);
        for (guint i = 0; i < f->uplinks->len; i++) {
                VsmUplink *u = f->uplinks->pdata[i];
                char um[16];

                if (vsm_link_get_master(vsm_uplink_get_name(u), um) == 0 && g_str_equal(um, bridge))
                        return u;
        }
        *ret_why = g_strdup_printf("no configured uplink under bridge %s", bridge);
        return NULL;
}

/* vid: the NIC's egress VID on its uplink (nic-vid.h); when it is not
 * known the filter keeps libvirt's tag (or 0), as before VIDs were
 * derived: the bridge then refuses or accepts it, the replay is off. */
static void nic_params(VsmFollower *f, VsmDomain *d, const VsmNicInfo *n, const VsmVid *vid, VsmVsiParams *p) {
        memset(p, 0, sizeof(*p));
        memcpy(p->mac, n->mac, VSM_ETH_ALEN);
        if (vid->state == VSM_VID_TAGGED || vid->state == VSM_VID_UNTAGGED)
                p->vlan = vid->vid;
        else
                p->vlan = n->has_vlan ? n->vlan : 0;
        if (n->has_qbg) {
                p->type_id = n->qbg_type_id;
                p->type_version = n->qbg_type_version;
        } else {
                p->type_id = f->config->type_id;
                p->type_version = (uint8_t) f->config->type_version;
        }
        /* The virtualport's managerid (0-255) as lldpad encodes it for
         * libvirt: that octet, then 15 zero octets (qbg/vdp22.c); else ours. */
        guint64 mgr;

        if (n->has_qbg && n->qbg_manager_id && g_ascii_string_to_unsigned(n->qbg_manager_id, 10, 0, 255, &mgr, NULL))
                p->manager_id[0] = (uint8_t) mgr;
        else if (!n->has_qbg || !n->qbg_manager_id ||
                 vsm_vdp_manager_id_from_string(n->qbg_manager_id, p->manager_id) < 0)
                (void) vsm_vdp_manager_id_from_string(f->config->manager_id, p->manager_id);
        if (n->has_qbg && n->has_qbg_instance)
                memcpy(p->instance, n->qbg_instance, VSM_VDP_VSIID_LEN);
        else
                vsm_nic_derive_instance(vsm_domain_get_uuid(d), n->mac, p->instance);
}

static void vdp_wait_free(VdpWait *w) {
        if (w->f)
                w->f->vdp_waits = g_list_remove(w->f->vdp_waits, w);
        g_free(w->what);
        g_free(w);
}

static void vdp_done(VsmVsi *vsi, const VsmVdpAction *report, gpointer user_data) {
        VdpWait *w = user_data;
        VsmDomain *d = w->f ? g_hash_table_lookup(w->f->domains, w->uuid) : NULL;

        if (!w->f)
                vsm_log(G_LOG_LEVEL_INFO, "%s: %s", w->what, vsm_vdp_outcome_to_string(report->outcome));
        if (d) {
                if (report->outcome == VSM_VDP_OUTCOME_OK)
                        follower_note(w->f, d, "%s: ok in %.2f ms", w->what, (double) report->rtt_usec / 1000.0);
                else if (report->outcome == VSM_VDP_OUTCOME_ERROR)
                        follower_note(w->f, d, "%s: bridge error %u (status 0x%02x)", w->what, report->error,
                                      report->status);
                else
                        follower_note(w->f, d, "%s: %s", w->what, vsm_vdp_outcome_to_string(report->outcome));
        }
        vdp_wait_free(w);
}

/* One VDP request for one vNIC, with its outcome noted in the timeline. */
static void follower_vdp_nic(VsmFollower *f, VsmDomain *d, const VsmNicInfo *n, VsmVdpRequest req, uint8_t flags) {
        g_autofree char *why = NULL;
        g_autoptr(GError) error = NULL;
        VsmUplink *u = follower_uplink_for_nic(f, n, &why);
        VsmVsiParams p;
        VsmVid vid;
        VsmVsi *vsi;
        VdpWait *w;
        char mac[18];

        vsm_mac_format(n->mac, mac);
        if (!u) {
                follower_note(f, d, "vNIC %s: %s, no VDP", mac, why);
                return;
        }
        vsm_nic_vid_resolve(f->config, n, vsm_uplink_get_name(u), &vid);
        if (vid.state == VSM_VID_UNSUPPORTED) {
                follower_note(f, d, "vNIC %s: %s, no VDP", mac, vid.why);
                return;
        }
        if (vid.state == VSM_VID_UNKNOWN)
                follower_note(f, d, "vNIC %s: VID unknown (%s): filter VID %u from libvirt", mac, vid.why,
                              n->has_vlan ? n->vlan : 0);
        nic_params(f, d, n, &vid, &p);
        /* libvirt's VSI for this NIC, when it asked the agent for one. */
        (void) vsm_qbg_agent_params_for_mac(f->qbg, vsm_uplink_get_name(u), n->mac, &p);
        vsi = vsm_uplink_ensure_vsi(u, &p, &error);
        if (!vsi) {
                follower_note(f, d, "vNIC %s: %s", mac, error->message);
                return;
        }
        w = g_new0(VdpWait, 1);
        w->f = f;
        memcpy(w->uuid, vsm_domain_get_uuid_string(d), sizeof(w->uuid));
        w->what = g_strdup_printf("vdp %s%s%s %s on %s", vsm_vdp_request_to_string(req),
                                  (flags & VSM_VDP_STATUS_M) ? " M" : "", (flags & VSM_VDP_STATUS_S) ? " S" : "",
                                  mac, vsm_uplink_get_name(u));
        follower_note(f, d, "%s: sent", w->what);
        f->vdp_waits = g_list_prepend(f->vdp_waits, w);
        if (!vsm_vsi_request(vsi, req, flags, vdp_done, w, &error)) {
                follower_note(f, d, "%s: %s", w->what, error->message);
                vdp_wait_free(w);
        }
}

static void follower_vdp(VsmFollower *f, VsmDomain *d, VsmVdpRequest req, uint8_t flags) {
        const VsmDomainInfo *info = vsm_domain_get_info(d);

        if (!info || info->nics->len == 0) {
                follower_note(f, d, "no vNICs known: no VDP %s", vsm_vdp_request_to_string(req));
                return;
        }
        for (guint i = 0; i < info->nics->len; i++)
                follower_vdp_nic(f, d, info->nics->pdata[i], req, flags);
}

/* What the state carry does around one event: sm/carry.h says which of
 * its events the step gives; daemon/carry.h carries them out. */
static void follower_carry(VsmFollower *f, VsmDomain *d, VsmMigEvent ev, const VsmMigAction *a, VsmMigRole old_role,
                           VsmMigPhase old_phase) {
        VsmMigration *m = vsm_domain_get_machine(d);
        const char *uuid = vsm_domain_get_uuid_string(d);
        const VsmDomainInfo *info = vsm_domain_get_info(d);
        VsmCarryInput evs[VSM_CARRY_STEP_EVENTS_MAX];
        size_t n = vsm_carry_events_from_step(ev, a, old_role, old_phase, m, info != NULL, f->found_paused, evs);

        for (size_t i = 0; i < n; i++) {
                switch (evs[i].ev) {
                case VSM_CARRY_EV_FORGET:
                        vsm_carry_forget(f->carry, uuid, info);
                        return;
                case VSM_CARRY_EV_INCOMING:
                        if (evs[i].no_hook)
                                vsm_carry_incoming_no_hook(f->carry, uuid, vsm_domain_get_name(d), info);
                        else
                                vsm_carry_incoming(f->carry, uuid, vsm_domain_get_name(d), info);
                        break;
                case VSM_CARRY_EV_REPLAY:
                        vsm_carry_replay(f->carry, uuid, info, evs[i].late);
                        break;
                case VSM_CARRY_EV_SUSPENDED:
                        vsm_carry_suspended(f->carry, uuid);
                        break;
                case VSM_CARRY_EV_RESUMED:
                        vsm_carry_resumed(f->carry, uuid, info);
                        break;
                case VSM_CARRY_EV_FAILED_BACK:
                        vsm_carry_failed_back(f->carry, uuid, info, evs[i].running);
                        break;
                case VSM_CARRY_EV_RUNNING:
                        vsm_carry_running(f->carry, uuid, info);
                        break;
                case VSM_CARRY_EV_UPDATE:
                        vsm_carry_update(f->carry, uuid, vsm_domain_get_name(d), info, m);
                        break;
                default:
                        break;
                }
        }
}

static void follower_feed(VsmFollower *f, VsmDomain *d, VsmMigEvent ev, const char *source);

static void job_watch_free(gpointer p) {
        JobWatch *w = p;

        g_clear_handle_id(&w->timer, g_source_remove);
        g_cancellable_cancel(w->cancel);
        g_object_unref(w->cancel);
        g_free(w);
}

static gboolean job_watch_applies(VsmDomain *d) {
        const VsmMigration *m = vsm_domain_get_machine(d);

        return m->role == VSM_MIG_ROLE_SOURCE && m->phase == VSM_MIG_PHASE_MIGRATING;
}

static void on_job_info(GObject *source, GAsyncResult *result, gpointer user_data) {
        g_autoptr(GError) error = NULL;
        int type = vsm_libvirt_get_job_finish(result, &error);
        JobWatch *w;
        VsmDomain *d;

        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;                 /* the watch is gone */
        w = user_data;
        w->inflight = FALSE;
        if (type != 0)                  /* still a job, or cannot tell */
                return;
        d = g_hash_table_lookup(w->f->domains, w->uuid);
        if (d && job_watch_applies(d))
                follower_feed(w->f, d, VSM_MIG_EV_RECONCILE_RUNNING, "job check (no migration job any more)");
}

static gboolean on_job_watch_timer(gpointer user_data) {
        JobWatch *w = user_data;

        if (!w->inflight && vsm_libvirt_get_job_async(w->f->libvirt, w->uuid_bin, w->cancel, on_job_info, w))
                w->inflight = TRUE;
        return G_SOURCE_CONTINUE;
}

static void follower_watch_job(VsmFollower *f, VsmDomain *d) {
        const char *uuid = vsm_domain_get_uuid_string(d);
        JobWatch *w;

        if (!f->libvirt || !job_watch_applies(d)) {
                g_hash_table_remove(f->job_watches, uuid);
                return;
        }
        if (g_hash_table_contains(f->job_watches, uuid))
                return;
        w = g_new0(JobWatch, 1);
        w->f = f;
        g_strlcpy(w->uuid, uuid, sizeof(w->uuid));
        memcpy(w->uuid_bin, vsm_domain_get_uuid(d), 16);
        w->cancel = g_cancellable_new();
        w->timer = g_timeout_add_seconds(FOLLOWER_JOB_POLL_SEC, on_job_watch_timer, w);
        g_hash_table_insert(f->job_watches, w->uuid, w);
}

static void follower_feed(VsmFollower *f, VsmDomain *d, VsmMigEvent ev, const char *source) {
        VsmMigration *m = vsm_domain_get_machine(d);
        VsmMigAction a;
        VsmMigRole old_role = m->role;
        VsmMigPhase old_phase = m->phase;

        if (vsm_migration_handle(m, ev, (uint64_t) g_get_monotonic_time(), &a) < 0)
                return;
        if (a.role_changed && m->role != VSM_MIG_ROLE_LOCAL && m->role != old_role)
                vsm_domain_timeline_begin(d, m->role);
        follower_note(f, d, "%s %s: %s", source, vsm_mig_event_to_string(ev), a.note);
        if (a.vdp)
                follower_vdp(f, d, a.request, a.flags);
        if (f->carry)
                follower_carry(f, d, ev, &a, old_role, old_phase);
        vsm_domain_drop_metadata(d);
        follower_watch_job(f, d);
        if (a.forget) {
                vsm_domain_set_active(d, FALSE);
                vsm_migration_init(m, &f->mig);
        }
}

static void follower_evict(VsmFollower *f) {
        GHashTableIter it;
        gpointer k, v;
        const char *oldest = NULL;
        gint64 oldest_usec = G_MAXINT64;

        if (g_hash_table_size(f->domains) < f->config->max_domains)
                return;
        g_hash_table_iter_init(&it, f->domains);
        while (g_hash_table_iter_next(&it, &k, &v))
                if (!vsm_domain_is_active(v) && vsm_domain_get_last_usec(v) < oldest_usec) {
                        oldest = k;
                        oldest_usec = vsm_domain_get_last_usec(v);
                }
        if (oldest)
                g_hash_table_remove(f->domains, oldest);
}

static VsmDomain *follower_lookup(VsmFollower *f, const uint8_t uuid[16]) {
        char s[37];

        return g_hash_table_lookup(f->domains, vsm_uuid_format(uuid, s));
}

static VsmDomain *follower_lookup_name(VsmFollower *f, const char *name) {
        GHashTableIter it;
        gpointer v;
        VsmDomain *best = NULL;

        g_hash_table_iter_init(&it, f->domains);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (g_str_equal(vsm_domain_get_name(v), name) &&
                    (!best || vsm_domain_is_active(v) || vsm_domain_get_last_usec(v) > vsm_domain_get_last_usec(best)))
                        best = v;
        return best;
}

static VsmDomain *follower_ensure(VsmFollower *f, const char *name, const uint8_t uuid[16]) {
        VsmDomain *d = follower_lookup(f, uuid);

        if (d)
                return d;
        follower_evict(f);
        d = vsm_domain_new(name, uuid, &f->mig, f->config->timelines_per_domain);
        g_hash_table_insert(f->domains, (gpointer) vsm_domain_get_uuid_string(d), d);
        return d;
}

/* ---- hook path: never calls libvirt ---- */

JsonNode *vsm_follower_hook(VsmFollower *f, const char *domain, const char *op, const char *subop,
                            const char *extra, const char *xml, gsize xml_len, GError **error) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(VsmDomainInfo) info = NULL;
        g_autoptr(GError) xml_error = NULL;
        VsmMigEvent ev;
        VsmDomain *d = NULL;
        gboolean followed;

        f->hooks++;
        followed = vsm_mig_event_from_hook(op, subop, &ev) == 0;
        if (followed) {
                /* libvirt always passes the domain XML; a call without a
                 * usable one did not come from libvirt and must not move
                 * the state machine (a stray "migrate begin" would drop a
                 * running domain's association). */
                if (!xml || xml_len == 0) {
                        f->hook_errors++;
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "hook %s %s without domain XML", op, subop);
                        return NULL;
                }
                if (!vsm_domain_xml_parse(xml, xml_len, &info, &xml_error)) {
                        f->hook_errors++;
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "hook %s %s: bad domain XML: %s", op, subop,
                                    xml_error->message);
                        return NULL;
                }
                if (!g_str_equal(info->name, domain)) {
                        f->hook_errors++;
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                                    "hook for domain '%s' carries the XML of '%s'", domain, info->name);
                        return NULL;
                }
                d = follower_ensure(f, info->name, info->uuid);
                vsm_domain_set_info(d, g_steal_pointer(&info));
                vsm_domain_set_active(d, TRUE);
                follower_feed(f, d, ev, "hook");
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "followed");
        json_builder_add_boolean_value(b, followed);
        json_builder_set_member_name(b, "event");
        if (followed)
                json_builder_add_string_value(b, vsm_mig_event_to_string(ev));
        else
                json_builder_add_null_value(b);
        if (d) {
                json_builder_set_member_name(b, "role");
                json_builder_add_string_value(b, vsm_mig_role_to_string(vsm_domain_get_machine(d)->role));
                json_builder_set_member_name(b, "phase");
                json_builder_add_string_value(b, vsm_mig_phase_to_string(vsm_domain_get_machine(d)->phase));
        }
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

/* ---- libvirt events ---- */

static gboolean nics_have_mac(const VsmDomainInfo *info, const uint8_t mac[VSM_ETH_ALEN]) {
        for (guint i = 0; info && i < info->nics->len; i++)
                if (memcmp(((const VsmNicInfo *) info->nics->pdata[i])->mac, mac, VSM_ETH_ALEN) == 0)
                        return TRUE;
        return FALSE;
}

/* Hotplug or unplug, the XML read again: for a running domain associate
 * a new vNIC and de-associate a removed one. */
static void follower_nics_changed(VsmFollower *f, VsmDomain *d, const VsmDomainInfo *before) {
        const VsmDomainInfo *after = vsm_domain_get_info(d);
        gboolean running = vsm_domain_get_machine(d)->phase == VSM_MIG_PHASE_RUNNING;
        char mac[18];

        for (guint i = 0; after && i < after->nics->len; i++) {
                const VsmNicInfo *n = after->nics->pdata[i];

                if (nics_have_mac(before, n->mac))
                        continue;
                follower_note(f, d, "vNIC %s hot-plugged", vsm_mac_format(n->mac, mac));
                if (running)
                        follower_vdp_nic(f, d, n, VSM_VDP_REQ_ASSOCIATE, 0);
        }
        for (guint i = 0; before && i < before->nics->len; i++) {
                const VsmNicInfo *n = before->nics->pdata[i];

                if (nics_have_mac(after, n->mac))
                        continue;
                follower_note(f, d, "vNIC %s unplugged", vsm_mac_format(n->mac, mac));
                if (running)
                        follower_vdp_nic(f, d, n, VSM_VDP_REQ_DE_ASSOCIATE, 0);
        }
}

static void fetch_free(gpointer p) {
        Fetch *fe = p;

        g_free(fe->why);
        g_array_unref(fe->events);
        g_free(fe);
}

/* One lifecycle/migration event for a domain we know. */
static void follower_feed_event(VsmFollower *f, VsmDomain *d, VsmMigEvent ev) {
        if (ev == VSM_MIG_EV_STARTED_BOOTED || ev == VSM_MIG_EV_STARTED_RESTORED ||
            ev == VSM_MIG_EV_STARTED_FROM_SNAPSHOT)
                vsm_domain_set_active(d, TRUE);
        follower_feed(f, d, ev, "event");
}

static Fetch *follower_fetch_start(VsmFollower *f, const uint8_t uuid[16], const char *why, gboolean nics_changed);

static void on_fetched(GObject *source, GAsyncResult *result, gpointer user_data) {
        g_autoptr(GError) error = NULL;
        g_autoptr(VsmLibvirtDomain) ld = vsm_libvirt_get_domain_finish(result, &error);
        g_autoptr(VsmDomainInfo) info = NULL;
        g_autoptr(VsmDomainInfo) before = NULL;
        Fetch *fe = user_data;
        VsmFollower *f;
        VsmDomain *d;

        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;                 /* the follower is gone, fe with it */
        f = fe->f;
        g_hash_table_steal(f->fetches, fe->uuid);
        d = g_hash_table_lookup(f->domains, fe->uuid);
        if (!ld)
                vsm_log(G_LOG_LEVEL_INFO, "cannot read domain XML (%s): %s", fe->why, error->message);
        else if (!vsm_domain_xml_parse(ld->xml, strlen(ld->xml), &info, &error))
                vsm_log(G_LOG_LEVEL_WARNING, "domain %s: bad XML: %s", ld->name, error->message);
        else {
                if (!d)
                        d = follower_ensure(f, ld->name, ld->uuid);
                before = vsm_domain_steal_info(d);
                vsm_domain_set_info(d, g_steal_pointer(&info));
                if (fe->nics_changed)
                        follower_nics_changed(f, d, before);
        }
        for (guint i = 0; d && i < fe->events->len; i++) {
                /* A fed event may forget the domain (evicted later). */
                d = g_hash_table_lookup(f->domains, fe->uuid);
                if (d)
                        follower_feed_event(f, d, g_array_index(fe->events, VsmMigEvent, i));
        }
        if (fe->refetch)
                (void) follower_fetch_start(f, fe->uuid_bin, "device change", TRUE);
        fetch_free(fe);
}

/* Reads the domain's live XML in the libvirt worker (or joins the read
 * already out for it).  NULL when libvirt is not connected. */
static Fetch *follower_fetch_start(VsmFollower *f, const uint8_t uuid[16], const char *why, gboolean nics_changed) {
        char s[37];
        Fetch *fe = g_hash_table_lookup(f->fetches, vsm_uuid_format(uuid, s));

        if (fe) {
                if (nics_changed)
                        fe->refetch = TRUE;
                return fe;
        }
        fe = g_new0(Fetch, 1);
        fe->f = f;
        memcpy(fe->uuid, s, sizeof(fe->uuid));
        memcpy(fe->uuid_bin, uuid, 16);
        fe->why = g_strdup(why);
        fe->events = g_array_new(FALSE, FALSE, sizeof(VsmMigEvent));
        fe->nics_changed = nics_changed;
        if (!vsm_libvirt_get_domain_async(f->libvirt, uuid, f->cancel, on_fetched, fe)) {
                vsm_log(G_LOG_LEVEL_INFO, "cannot read domain XML (%s): not connected to libvirt", why);
                fetch_free(fe);
                return NULL;
        }
        f->fetches_started++;
        g_hash_table_insert(f->fetches, fe->uuid, fe);
        return fe;
}

/* Queues ev behind the read out for the domain.  FALSE when there is none
 * (or its queue is full: then the event is dropped, and said so). */
static gboolean fetch_wait(VsmFollower *f, Fetch *fe, VsmMigEvent ev) {
        if (!fe)
                return FALSE;
        if (fe->events->len >= FOLLOWER_FETCH_EVENTS_MAX) {
                vsm_log(G_LOG_LEVEL_WARNING, "domain %s: %u events wait for libvirt already: %s dropped", fe->uuid,
                        fe->events->len, vsm_mig_event_to_string(ev));
                return TRUE;
        }
        g_array_append_val(fe->events, ev);
        f->events_waited++;
        return TRUE;
}

/* Whether the event needs the domain's live XML first: a domain we do
 * not know yet; or an incoming migration that no hook call announced
 * (libvirtd started before the hook was installed): its snapshot is in
 * the live <metadata> (DESIGN.md §2). */
static gboolean event_needs_fetch(VsmDomain *d, VsmMigEvent ev) {
        if (!d)
                return ev == VSM_MIG_EV_STARTED_BOOTED || ev == VSM_MIG_EV_STARTED_RESTORED ||
                       ev == VSM_MIG_EV_STARTED_FROM_SNAPSHOT || ev == VSM_MIG_EV_STARTED_WAKEUP ||
                       ev == VSM_MIG_EV_STARTED_MIGRATED || ev == VSM_MIG_EV_SUSPENDED_MIGRATED ||
                       ev == VSM_MIG_EV_MIGRATION_ITERATION;
        return ev == VSM_MIG_EV_STARTED_MIGRATED && vsm_domain_get_machine(d)->role != VSM_MIG_ROLE_DESTINATION;
}

static void on_libvirt_event(VsmLibvirt *lv, const VsmLibvirtEvent *e, gpointer user_data) {
        VsmFollower *f = user_data;
        VsmDomain *d = follower_lookup(f, e->uuid);
        char s[37];
        Fetch *fe = g_hash_table_lookup(f->fetches, vsm_uuid_format(e->uuid, s));
        VsmMigEvent ev;

        if (f->reconcile) {
                VsmLibvirtEvent copy = *e;

                copy.name = copy.alias = NULL;
                if (f->reconcile->events->len < FOLLOWER_RECONCILE_EVENTS_MAX)
                        g_array_append_val(f->reconcile->events, copy);
                else
                        vsm_log(G_LOG_LEVEL_WARNING, "reconcile: too many events meanwhile, one dropped");
                return;
        }
        f->events++;
        switch (e->kind) {
        case VSM_LIBVIRT_EV_LIFECYCLE:
                if (vsm_mig_event_from_lifecycle(e->event, e->detail, &ev) < 0)
                        return;
                break;
        case VSM_LIBVIRT_EV_MIGRATION_ITERATION:
                ev = VSM_MIG_EV_MIGRATION_ITERATION;
                break;
        case VSM_LIBVIRT_EV_JOB_COMPLETED:
                ev = VSM_MIG_EV_JOB_COMPLETED;
                break;
        case VSM_LIBVIRT_EV_DEVICE_ADDED:
        case VSM_LIBVIRT_EV_DEVICE_REMOVED:
                if (d || fe)
                        (void) follower_fetch_start(f, e->uuid, "device change", d != NULL);
                return;
        case VSM_LIBVIRT_EV_METADATA_CHANGE:
                /* Mostly our own snapshot writes: not timeline material. */
                if (d)
                        vsm_log(G_LOG_LEVEL_DEBUG, "domain %s: metadata changed", vsm_domain_get_name(d));
                return;
        default:
                return;
        }
        /* Behind a read already out for this domain, in order. */
        if (fe && fe->events->len > 0 && fetch_wait(f, fe, ev))
                return;
        if (event_needs_fetch(d, ev) &&
            fetch_wait(f, follower_fetch_start(f, e->uuid, vsm_mig_event_to_string(ev), FALSE), ev))
                return;
        if (!d)
                return;
        follower_feed_event(f, d, ev);
}

/* A domain found paused for a migration at reconcile: which end is it? */
typedef struct ReconcileJob {
        VsmFollower *f;
        char uuid[37];
} ReconcileJob;

static VsmMigJobOp job_op_from_libvirt(int op) {
        switch (op) {
        case VSM_LIBVIRT_JOB_NONE:
                return VSM_MIG_JOB_OP_NONE;
        case VIR_JOB_OPERATION_MIGRATION_IN:
                return VSM_MIG_JOB_OP_MIGRATION_IN;
        case VIR_JOB_OPERATION_MIGRATION_OUT:
                return VSM_MIG_JOB_OP_MIGRATION_OUT;
        case -1:
        case 0:
                return VSM_MIG_JOB_OP_UNKNOWN;
        default:
                return VSM_MIG_JOB_OP_OTHER;
        }
}

static gboolean machine_is_fresh(VsmDomain *d) {
        const VsmMigration *m = vsm_domain_get_machine(d);

        return m->role == VSM_MIG_ROLE_LOCAL && m->phase == VSM_MIG_PHASE_IDLE;
}

static void on_reconcile_job(GObject *source, GAsyncResult *result, gpointer user_data) {
        g_autofree ReconcileJob *r = user_data;
        g_autoptr(GError) error = NULL;
        int op = vsm_libvirt_get_job_operation_finish(result, &error);
        VsmMigJobOp jop = job_op_from_libvirt(op);
        g_autofree char *why = NULL;
        VsmMigEvent ev;
        VsmDomain *d;

        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;                 /* the follower is gone */
        d = g_hash_table_lookup(r->f->domains, r->uuid);
        /* An event since the reconcile knows better than this answer. */
        if (!d || !vsm_domain_is_active(d) || !machine_is_fresh(d))
                return;
        why = g_strdup_printf("reconcile (paused for a migration, job %s)", vsm_mig_job_op_to_string(jop));
        if (vsm_mig_event_from_paused_migration(jop, &ev) == 0)
                follower_feed(r->f, d, ev, why);
        else
                follower_note(r->f, d, "%s%s%s: not an incoming migration for sure, left as it is", why,
                              error ? ": " : "", error ? error->message : "");
}

static void follower_reconcile_paused_migration(VsmFollower *f, VsmDomain *d) {
        ReconcileJob *r = g_new0(ReconcileJob, 1);

        r->f = f;
        memcpy(r->uuid, vsm_domain_get_uuid_string(d), sizeof(r->uuid));
        if (!vsm_libvirt_get_job_operation_async(f->libvirt, vsm_domain_get_uuid(d), f->cancel, on_reconcile_job, r)) {
                follower_note(f, d, "reconcile: paused for a migration, job unknown (not connected): left as it is");
                g_free(r);
        }
}

static void reconcile_free(Reconcile *r) {
        if (!r)
                return;
        g_clear_handle_id(&r->idle, g_source_remove);
        g_ptr_array_unref(r->list);
        g_hash_table_unref(r->seen);
        g_hash_table_unref(r->active_before);
        g_array_unref(r->events);
        g_free(r);
}

static void reconcile_one(VsmFollower *f, Reconcile *r, VsmLibvirtDomain *ld) {
        g_autoptr(VsmDomainInfo) info = NULL;
        g_autoptr(GError) e2 = NULL;
        VsmDomain *d;

        if (!vsm_domain_xml_parse(ld->xml, strlen(ld->xml), &info, &e2)) {
                vsm_log(G_LOG_LEVEL_WARNING, "reconcile: domain %s: %s", ld->name, e2->message);
                return;
        }
        d = follower_ensure(f, ld->name, ld->uuid);
        vsm_domain_set_info(d, g_steal_pointer(&info));
        vsm_domain_set_active(d, TRUE);
        g_hash_table_add(r->seen, g_strdup(vsm_domain_get_uuid_string(d)));
        if (ld->state == VIR_STATE_RUNNING || (ld->state == VIR_STATE_PAUSED && ld->reason == VIR_PAUSED_USER)) {
                f->found_paused = ld->state != VIR_STATE_RUNNING;
                follower_feed(f, d, VSM_MIG_EV_RECONCILE_RUNNING, "reconcile");
                f->found_paused = FALSE;
        } else if (ld->state == VIR_STATE_PAUSED && ld->reason == VIR_PAUSED_MIGRATION && machine_is_fresh(d)) {
                /* Either end of a migration: the job tells, off the loop. */
                follower_reconcile_paused_migration(f, d);
        } else {
                follower_note(f, d, "reconcile: state %d reason %d, left as it is", ld->state, ld->reason);
        }
}

/* FOLLOWER_RECONCILE_BATCH domains per main-loop dispatch, so a host with
 * hundreds of domains does not hold the loop; libvirt's events wait until
 * the reconcile is through, then go in order. */
static gboolean on_reconcile_batch(gpointer user_data) {
        VsmFollower *f = user_data;
        Reconcile *r = f->reconcile;
        g_autoptr(GPtrArray) gone = g_ptr_array_new();
        g_autoptr(GArray) events = NULL;
        GHashTableIter it;
        gpointer k, v;

        for (guint n = 0; n < FOLLOWER_RECONCILE_BATCH && r->next < r->list->len; n++)
                reconcile_one(f, r, r->list->pdata[r->next++]);
        if (r->next < r->list->len)
                return G_SOURCE_CONTINUE;
        r->idle = 0;
        /* Domains that stopped while we were not connected (not those a
         * hook call made active during the reconcile). */
        g_hash_table_iter_init(&it, f->domains);
        while (g_hash_table_iter_next(&it, &k, &v))
                if (vsm_domain_is_active(v) && g_hash_table_contains(r->active_before, k) &&
                    !g_hash_table_contains(r->seen, k))
                        g_ptr_array_add(gone, v);
        for (guint i = 0; i < gone->len; i++)
                follower_feed(f, gone->pdata[i], VSM_MIG_EV_STOPPED_SHUTDOWN, "reconcile (gone)");
        vsm_log(G_LOG_LEVEL_MESSAGE, "reconciled %u active domain(s) from libvirt", r->list->len);
        events = g_array_ref(r->events);
        g_clear_pointer(&f->reconcile, reconcile_free);
        for (guint i = 0; i < events->len; i++)
                on_libvirt_event(f->libvirt, &g_array_index(events, VsmLibvirtEvent, i), f);
        return G_SOURCE_REMOVE;
}

static void on_libvirt_connected(VsmLibvirt *lv, GPtrArray *list, gpointer user_data) {
        VsmFollower *f = user_data;
        Reconcile *r = g_new0(Reconcile, 1);
        GHashTableIter it;
        gpointer k, v;

        /* A reconnect during a reconcile: the new list supersedes it. */
        g_clear_pointer(&f->reconcile, reconcile_free);
        r->list = g_ptr_array_ref(list);
        r->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        r->active_before = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        r->events = g_array_new(FALSE, FALSE, sizeof(VsmLibvirtEvent));
        g_hash_table_iter_init(&it, f->domains);
        while (g_hash_table_iter_next(&it, &k, &v))
                if (vsm_domain_is_active(v))
                        g_hash_table_add(r->active_before, g_strdup(k));
        f->reconcile = r;
        /* The first batch now: a small host is reconciled before any event. */
        if (on_reconcile_batch(f) == G_SOURCE_CONTINUE)
                r->idle = g_idle_add_full(G_PRIORITY_DEFAULT, on_reconcile_batch, f, NULL);
}

static void on_libvirt_disconnected(VsmLibvirt *lv, const char *reason, gpointer user_data) {
}

/* ---- the state carry's view of us ---- */

static void carry_on_note(const char *uuid, gboolean quiet, const char *text, gpointer user_data) {
        VsmFollower *f = user_data;
        VsmDomain *d = g_hash_table_lookup(f->domains, uuid);

        if (d)
                follower_record(f, d, quiet, text);
}

static VsmUplink *carry_on_uplink(const VsmNicInfo *n, char **ret_why, gpointer user_data) {
        return follower_uplink_for_nic(user_data, n, ret_why);
}

/* The peer's SWITCHOVER counts only once the incoming domain is started
 * here (pre-associated at the start hook or STARTED_MIGRATED); before,
 * it is refused and the carry closes the channel. */
static gboolean carry_on_switchover(const char *uuid, gpointer user_data) {
        VsmFollower *f = user_data;
        VsmDomain *d = g_hash_table_lookup(f->domains, uuid);
        VsmMigration *m;

        if (!d)
                return FALSE;
        m = vsm_domain_get_machine(d);
        if (m->role != VSM_MIG_ROLE_DESTINATION ||
            (m->phase != VSM_MIG_PHASE_PRE_ASSOCIATED && m->phase != VSM_MIG_PHASE_SWITCHED))
                return FALSE;
        follower_feed(f, d, VSM_MIG_EV_SWITCHOVER, "peer");
        return TRUE;
}

static void domain_destroy(gpointer p) {
        vsm_domain_free(p);
}

VsmFollower *vsm_follower_new(const VsmConfig *config, GPtrArray *uplinks, VsmFollowerEmitFunc emit,
                              VsmFollowerWantFunc want, gpointer user_data, GError **error) {
        g_autoptr(VsmFollower) f = g_new0(VsmFollower, 1);
        static const VsmCarryHost host = {
                .note = carry_on_note,
                .uplink_for_nic = carry_on_uplink,
                .switchover = carry_on_switchover,
        };
        static const VsmLibvirtCallbacks cb = {
                .connected = on_libvirt_connected,
                .disconnected = on_libvirt_disconnected,
                .event = on_libvirt_event,
        };

        f->config = config;
        f->uplinks = uplinks;
        f->emit = emit;
        f->want = want;
        f->emit_data = user_data;
        f->mig.pre_assoc_rr = config->pre_assoc_rr;
        f->domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, domain_destroy);
        f->cancel = g_cancellable_new();
        f->job_watches = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, job_watch_free);
        f->fetches = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, fetch_free);
        f->carry = vsm_carry_new(config, &host, f, error);
        if (!f->carry)
                return NULL;
        if (config->libvirt_enabled)
                f->libvirt = vsm_libvirt_new(config->libvirt_uri, &cb, f);
        else
                vsm_log(G_LOG_LEVEL_MESSAGE, "libvirt disabled ([libvirt] enabled = false): hooks only");
        vsm_carry_set_libvirt(f->carry, f->libvirt);
        return g_steal_pointer(&f);
}

VsmFollower *vsm_follower_free(VsmFollower *f) {
        if (!f)
                return NULL;
        g_cancellable_cancel(f->cancel);
        g_clear_object(&f->cancel);
        g_clear_pointer(&f->job_watches, g_hash_table_unref);
        g_clear_pointer(&f->reconcile, reconcile_free);
        /* Reads out are cancelled: their callbacks never touch them. */
        g_clear_pointer(&f->fetches, g_hash_table_unref);
        /* Requests still in flight end after us (their VSIs live in the
         * uplinks): they must not call back into a freed follower. */
        for (GList *l = f->vdp_waits; l; l = l->next)
                ((VdpWait *) l->data)->f = NULL;
        g_clear_pointer(&f->vdp_waits, g_list_free);
        /* The carry calls back into the domains table: it goes first. */
        g_clear_pointer(&f->carry, vsm_carry_free);
        vsm_libvirt_free(f->libvirt);
        g_clear_pointer(&f->domains, g_hash_table_unref);
        g_free(f);
        return NULL;
}

gboolean vsm_follower_reload_peer_key(VsmFollower *f, GError **error) {
        return vsm_carry_reload_key(f->carry, error);
}

void vsm_follower_set_qbg_agent(VsmFollower *f, VsmQbgAgent *agent) {
        f->qbg = agent;
}

JsonNode *vsm_follower_status_json(VsmFollower *f) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        GHashTableIter it;
        gpointer v;
        guint active = 0;

        g_hash_table_iter_init(&it, f->domains);
        while (g_hash_table_iter_next(&it, NULL, &v))
                active += vsm_domain_is_active(v);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "enabled");
        json_builder_add_boolean_value(b, f->libvirt != NULL);
        json_builder_set_member_name(b, "uri");
        json_builder_add_string_value(b, f->config->libvirt_uri ? f->config->libvirt_uri : "");
        json_builder_set_member_name(b, "connected");
        json_builder_add_boolean_value(b, f->libvirt && vsm_libvirt_is_connected(f->libvirt));
        json_builder_set_member_name(b, "reconnects");
        json_builder_add_int_value(b, f->libvirt ? vsm_libvirt_get_reconnects(f->libvirt) : 0);
        json_builder_set_member_name(b, "domains_active");
        json_builder_add_int_value(b, active);
        json_builder_set_member_name(b, "domains_known");
        json_builder_add_int_value(b, g_hash_table_size(f->domains));
        json_builder_set_member_name(b, "hooks");
        json_builder_add_int_value(b, (gint64) f->hooks);
        json_builder_set_member_name(b, "hook_errors");
        json_builder_add_int_value(b, (gint64) f->hook_errors);
        json_builder_set_member_name(b, "events");
        json_builder_add_int_value(b, (gint64) f->events);
        json_builder_set_member_name(b, "fetches");
        json_builder_add_int_value(b, (gint64) f->fetches_started);
        json_builder_set_member_name(b, "fetches_out");
        json_builder_add_int_value(b, g_hash_table_size(f->fetches));
        json_builder_set_member_name(b, "events_waited");
        json_builder_add_int_value(b, (gint64) f->events_waited);
        json_builder_set_member_name(b, "reconcile_left");
        json_builder_add_int_value(b, f->reconcile ? f->reconcile->list->len - f->reconcile->next : 0);
        if (f->libvirt) {
                json_builder_set_member_name(b, "workers");
                json_builder_add_value(b, vsm_libvirt_workers_json(f->libvirt));
        }
        json_builder_set_member_name(b, "carry");
        json_builder_add_value(b, vsm_carry_status_json(f->carry));
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static gint domain_cmp(gconstpointer a, gconstpointer b) {
        return g_strcmp0(vsm_domain_get_name(*(VsmDomain *const *) a), vsm_domain_get_name(*(VsmDomain *const *) b));
}

JsonNode *vsm_follower_domains_json(VsmFollower *f) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(GPtrArray) list = g_ptr_array_new();
        GHashTableIter it;
        gpointer v;

        g_hash_table_iter_init(&it, f->domains);
        while (g_hash_table_iter_next(&it, NULL, &v))
                g_ptr_array_add(list, v);
        g_ptr_array_sort(list, domain_cmp);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "domains");
        json_builder_begin_array(b);
        for (guint i = 0; i < list->len; i++)
                json_builder_add_value(b, vsm_domain_to_json(list->pdata[i], FALSE));
        json_builder_end_array(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

/* show: per vNIC its way out as rtnetlink says now: kind (bridge, direct,
 * ovs, other), uplink (null and uplink_why when none), vid (a number,
 * "none", or null when unknown/unsupported), vid_source, vid_why. */
static void follower_show_nics(VsmFollower *f, VsmDomain *d, JsonObject *o) {
        const VsmDomainInfo *info = vsm_domain_get_info(d);
        JsonArray *nics = json_object_has_member(o, "nics") ? json_object_get_array_member(o, "nics") : NULL;

        for (guint i = 0; info && nics && i < info->nics->len && i < json_array_get_length(nics); i++) {
                const VsmNicInfo *n = info->nics->pdata[i];
                JsonObject *no = json_array_get_object_element(nics, i);
                g_autofree char *why = NULL;
                VsmUplink *u = follower_uplink_for_nic(f, n, &why);
                VsmNicKind kind = vsm_nic_kind(n);
                VsmVid vid;

                json_object_set_string_member(no, "kind", vsm_nic_kind_to_string(kind));
                if (u) {
                        json_object_set_string_member(no, "uplink", vsm_uplink_get_name(u));
                } else {
                        json_object_set_null_member(no, "uplink");
                        json_object_set_string_member(no, "uplink_why", why ? why : "?");
                }
                vsm_nic_vid_resolve(f->config, n, u ? vsm_uplink_get_name(u) : NULL, &vid);
                if (vid.state == VSM_VID_TAGGED)
                        json_object_set_int_member(no, "vid", vid.vid);
                else if (vid.state == VSM_VID_UNTAGGED)
                        json_object_set_string_member(no, "vid", "none");
                else
                        json_object_set_null_member(no, "vid");
                json_object_set_string_member(no, "vid_state", vsm_vid_state_to_string(vid.state));
                json_object_set_string_member(no, "vid_source", vsm_vid_source_to_string(vid.source));
                if (vid.why[0])
                        json_object_set_string_member(no, "vid_why", vid.why);
        }
}

JsonNode *vsm_follower_show_json(VsmFollower *f, const char *domain, GError **error) {
        JsonNode *node, *carry;
        uint8_t uuid[16];
        VsmDomain *d = NULL;

        if (vsm_uuid_parse(domain, uuid) == 0)
                d = follower_lookup(f, uuid);
        if (!d)
                d = follower_lookup_name(f, domain);
        if (!d) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_NOT_FOUND, "no domain '%s' known", domain);
                return NULL;
        }
        node = vsm_domain_to_json(d, TRUE);
        follower_show_nics(f, d, json_node_get_object(node));
        carry = vsm_carry_domain_json(f->carry, vsm_domain_get_uuid_string(d));
        if (carry)
                json_object_set_member(json_node_get_object(node), "carry", carry);
        else
                json_object_set_null_member(json_node_get_object(node), "carry");
        carry = vsm_carry_domain_ct_json(f->carry, vsm_domain_get_uuid_string(d));
        if (carry)
                json_object_set_member(json_node_get_object(node), "conntrack", carry);
        else
                json_object_set_null_member(json_node_get_object(node), "conntrack");
        return node;
}

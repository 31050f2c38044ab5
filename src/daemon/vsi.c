/* A VSI on an uplink: drives the pure VDP station machine (sm/vdp.c) and
 * performs the actions it returns. */
#include "daemon/vsi.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/control-request.h"
#include "daemon/log.h"
#include "daemon/uplink.h"
#include "io/timer.h"

/* When ECP gives up on a request (no ACK after 1 + R tries, ~10 ms with
 * lldpad's R=3, RTE=8), the VDP request is sent again after these pauses
 * before it is reported as a timeout.  A bridge that stalls for a few
 * tens of milliseconds (lldpad on a loaded host: seen 28 and 92 ms) then
 * costs a delay instead of a failed association. */
static const gint64 vsi_resend_delay_usec[] = { 50 * 1000, 250 * 1000 };

struct VsmVsi {
        VsmUplink *uplink;
        uint64_t serial;
        char id[37];
        VsmVsiParams params;
        VsmVdpVsiMachine sm;
        VsmTimer *timer;
        uint64_t cookie;               /* ECP cookie of the latest send */
        /* What the latest send carried, for a VDP-level resend when ECP
         * gives up (see vsm_vsi_on_tx_failed). */
        VsmVdpRequest sent_request;
        uint8_t sent_flags;
        guint tx_rounds;               /* ECP give-ups for the request in flight */
        VsmTimer *resend_timer;

        VsmVsiDoneFunc done;
        gpointer done_data;
        VsmVsiObserverFunc observer;
        gpointer observer_data;

        gboolean have_last;
        VsmVdpAction last;
        gint64 last_usec;
};

static void vsi_apply(VsmVsi *vsi, const VsmVdpAction *a);
static void vsi_send(VsmVsi *vsi, VsmVdpRequest req, uint8_t flags, gint64 deadline_usec);

static void vsi_on_resend(gpointer user_data) {
        VsmVsi *vsi = user_data;

        if (!vsi->sm.pending)
                return;
        if (vsi->sm.queued) {
                /* A newer request waits: it goes instead. */
                VsmVdpAction a = {};

                vsm_vdp_vsi_on_tx_failed(&vsi->sm, (uint64_t) g_get_monotonic_time(), &a);
                vsi_apply(vsi, &a);
                return;
        }
        vsm_log_vsi(G_LOG_LEVEL_INFO, vsm_uplink_get_name(vsi->uplink), vsi->id,
                    "resending %s for VSI %s after ECP gave up (round %u)",
                    vsm_vdp_request_to_string(vsi->sent_request), vsi->id, vsi->tx_rounds + 1);
        vsi_send(vsi, vsi->sent_request, vsi->sent_flags, (gint64) vsi->sm.deadline_usec);
}

static void vsi_on_timer(gpointer user_data) {
        VsmVsi *vsi = user_data;
        VsmVdpAction a = {};

        vsm_vdp_vsi_on_timer(&vsi->sm, (uint64_t) g_get_monotonic_time(), &a);
        vsi_apply(vsi, &a);
}

VsmVsi *vsm_vsi_new(VsmUplink *uplink, const VsmVsiParams *params, uint64_t serial) {
        VsmVsi *vsi = g_new0(VsmVsi, 1);

        vsi->uplink = uplink;
        vsi->serial = serial;
        vsi->params = *params;
        vsm_uuid_format(params->instance, vsi->id);
        vsm_vdp_vsi_init(&vsi->sm, vsm_uplink_get_vdp_timers(uplink));
        vsi->timer = vsm_timer_new(vsi_on_timer, vsi);
        vsi->resend_timer = vsm_timer_new(vsi_on_resend, vsi);
        return vsi;
}

static void vsi_finish_waiter(VsmVsi *vsi, const VsmVdpAction *report) {
        VsmVsiDoneFunc done = vsi->done;
        gpointer data = vsi->done_data;

        vsi->done = NULL;
        vsi->done_data = NULL;
        if (done)
                done(vsi, report, data);
}

VsmVsi *vsm_vsi_free(VsmVsi *vsi) {
        if (!vsi)
                return NULL;
        if (vsi->done) {
                VsmVdpAction a = {
                        .report = true,
                        .outcome = VSM_VDP_OUTCOME_CANCELLED,
                        .request = vsi->sm.queued ? vsi->sm.queued_request : vsi->sm.pending_request,
                        .flags = vsi->sm.queued ? vsi->sm.queued_flags : vsi->sm.pending_flags,
                };
                vsi_finish_waiter(vsi, &a);
        }
        vsm_timer_free(vsi->timer);
        vsm_timer_free(vsi->resend_timer);
        g_free(vsi);
        return NULL;
}

void vsm_vsi_set_observer(VsmVsi *vsi, VsmVsiObserverFunc observer, gpointer user_data) {
        vsi->observer = observer;
        vsi->observer_data = user_data;
}

void vsm_vsi_set_params(VsmVsi *vsi, const VsmVsiParams *params) {
        g_return_if_fail(memcmp(params->instance, vsi->params.instance, VSM_VDP_VSIID_LEN) == 0);
        vsi->params = *params;
}

const VsmVsiParams *vsm_vsi_get_params(const VsmVsi *vsi) {
        return &vsi->params;
}

const char *vsm_vsi_get_id(const VsmVsi *vsi) {
        return vsi->id;
}

const VsmVdpVsiMachine *vsm_vsi_get_machine(const VsmVsi *vsi) {
        return &vsi->sm;
}

gboolean vsm_vsi_get_last(const VsmVsi *vsi, VsmVdpAction *ret, gint64 *ret_usec) {
        if (!vsi->have_last)
                return FALSE;
        *ret = vsi->last;
        *ret_usec = vsi->last_usec;
        return TRUE;
}

gboolean vsm_vsi_is_idle(const VsmVsi *vsi) {
        return vsi->sm.state == VSM_VSI_STATE_NONE && !vsi->sm.pending && !vsi->sm.repair && !vsi->done;
}

static const char *vsi_result_name(const VsmVdpAction *a, char *buf, size_t size) {
        const char *s;

        switch (a->outcome) {
        case VSM_VDP_OUTCOME_OK:
        case VSM_VDP_OUTCOME_REFRESHED:
        case VSM_VDP_OUTCOME_REPAIRED:
                return "ok";
        case VSM_VDP_OUTCOME_ERROR:
                s = vsm_vdp_error_to_string(a->error);
                if (s)
                        return s;
                g_snprintf(buf, size, "error-%u", a->error);
                return buf;
        default:
                return vsm_vdp_outcome_to_string(a->outcome);
        }
}

static void vsi_log_report(VsmVsi *vsi, const VsmVdpAction *a) {
        const char *ifname = vsm_uplink_get_name(vsi->uplink);
        char buf[16];
        const char *result = vsi_result_name(a, buf, sizeof(buf));
        const char *flags = (a->flags & VSM_VDP_STATUS_M) ? " (migrated-to)" :
                            (a->flags & VSM_VDP_STATUS_S) ? " (suspended)" : "";

        switch (a->outcome) {
        case VSM_VDP_OUTCOME_OK:
                vsm_log_vsi(G_LOG_LEVEL_INFO, ifname, vsi->id, "%s%s of VSI %s: ok, %.2f ms",
                            vsm_vdp_request_to_string(a->request), flags, vsi->id,
                            (double) a->rtt_usec / 1000.0);
                break;
        case VSM_VDP_OUTCOME_REFRESHED:
                vsm_log_vsi(G_LOG_LEVEL_DEBUG, ifname, vsi->id, "keep-alive %s%s of VSI %s: ok",
                            vsm_vdp_request_to_string(a->request), flags, vsi->id);
                break;
        case VSM_VDP_OUTCOME_BRIDGE_DEASSOC:
                if (vsi->sm.repair)
                        vsm_log_vsi(G_LOG_LEVEL_WARNING, ifname, vsi->id,
                                    "bridge de-associated VSI %s (status 0x%02x), which runs here: "
                                    "re-associating in %.0f s", vsi->id, a->status,
                                    (double) vsi->sm.repair_backoff_usec / G_USEC_PER_SEC);
                else
                        vsm_log_vsi(G_LOG_LEVEL_WARNING, ifname, vsi->id,
                                    "bridge de-associated VSI %s (status 0x%02x)", vsi->id, a->status);
                break;
        case VSM_VDP_OUTCOME_REPAIRED:
                vsm_log_vsi(G_LOG_LEVEL_MESSAGE, ifname, vsi->id,
                            "VSI %s re-associated%s after the bridge de-associated it: ok, %.2f ms", vsi->id,
                            flags, (double) a->rtt_usec / 1000.0);
                break;
        case VSM_VDP_OUTCOME_CANCELLED:
                vsm_log_vsi(G_LOG_LEVEL_INFO, ifname, vsi->id, "%s of VSI %s superseded by a newer request",
                            vsm_vdp_request_to_string(a->request), vsi->id);
                break;
        default:
                vsm_log_vsi(G_LOG_LEVEL_WARNING, ifname, vsi->id, "%s%s%s of VSI %s failed: %s (status 0x%02x)%s",
                            vsi->sm.repair ? "re-" : "", vsm_vdp_request_to_string(a->request), flags, vsi->id,
                            result, a->status, vsi->sm.repair ? ", trying again later" : "");
                break;
        }
}

/* Record, log and hand a reported outcome to the waiter of its request. */
static void vsi_report(VsmVsi *vsi, const VsmVdpAction *a) {
        vsi->have_last = TRUE;
        vsi->last = *a;
        vsi->last_usec = g_get_monotonic_time();
        vsi_log_report(vsi, a);
        if (a->outcome == VSM_VDP_OUTCOME_BRIDGE_DEASSOC)
                vsm_uplink_count_vdp(vsi->uplink, VSM_UPLINK_VDP_BRIDGE_DEASSOC);
        if (vsi->observer)
                vsi->observer(vsi, a, vsi->observer_data);
        else if (a->outcome == VSM_VDP_OUTCOME_REPAIRED)
                vsm_uplink_count_vdp(vsi->uplink, VSM_UPLINK_VDP_REPAIRED);
        /* Keep-alives, repairs and bridge requests have no waiter; one
         * that is installed waits for a queued request. */
        if (!a->report_internal)
                vsi_finish_waiter(vsi, a);
}

static void vsi_apply(VsmVsi *vsi, const VsmVdpAction *a) {
        if (a->withdraw)
                vsm_uplink_withdraw_vdp(vsi->uplink, vsi->cookie, vsi->params.instance);
        if (a->report) {
                vsi_report(vsi, a);
                if (!vsi->sm.pending)
                        vsm_timer_arm(vsi->resend_timer, 0);
        }
        if (a->send) {
                if (a->send_is_repair) {
                        vsm_uplink_count_vdp(vsi->uplink, VSM_UPLINK_VDP_REPAIR);
                        vsm_log_vsi(G_LOG_LEVEL_WARNING, vsm_uplink_get_name(vsi->uplink), vsi->id,
                                    "re-associating VSI %s%s (attempt %" G_GUINT64_FORMAT ")", vsi->id,
                                    (a->send_flags & VSM_VDP_STATUS_M) ? " (migrated-to)" : "", vsi->sm.n_repairs);
                }
                vsi->tx_rounds = 0;
                vsm_timer_arm(vsi->resend_timer, 0);
                vsi_send(vsi, a->send_request, a->send_flags, (gint64) a->deadline_usec);
                return;
        }
        vsm_timer_arm(vsi->timer, (gint64) a->deadline_usec);
}

static void vsi_send(VsmVsi *vsi, VsmVdpRequest req, uint8_t flags, gint64 deadline_usec) {
        uint64_t cookie = 0;
        int r = vsm_uplink_send_vdp(vsi->uplink, &vsi->params, req, flags, &cookie);

        vsi->sent_request = req;
        vsi->sent_flags = flags;
        if (r < 0) {
                VsmVdpAction fail = {};

                vsm_log_vsi(G_LOG_LEVEL_WARNING, vsm_uplink_get_name(vsi->uplink), vsi->id,
                            "cannot send %s for VSI %s: %s", vsm_vdp_request_to_string(req), vsi->id,
                            g_strerror(-r));
                vsi->cookie = 0;
                vsm_vdp_vsi_on_tx_failed(&vsi->sm, (uint64_t) g_get_monotonic_time(), &fail);
                vsi_apply(vsi, &fail);
                return;
        }
        vsi->cookie = cookie;
        vsm_timer_arm(vsi->timer, deadline_usec);
}

gboolean vsm_vsi_request(VsmVsi *vsi, VsmVdpRequest req, uint8_t flags, VsmVsiDoneFunc done,
                         gpointer user_data, GError **error) {
        VsmVdpAction a = {};
        int r;

        /* Whether the request in flight is still in the ULPDU being built:
         * then it is replaced there, else the new one waits for its answer. */
        gboolean unsent = vsi->sm.pending && vsm_uplink_vdp_is_staged(vsi->uplink, vsi->cookie);

        r = vsm_vdp_vsi_request(&vsi->sm, req, flags, unsent, (uint64_t) g_get_monotonic_time(), &a);
        if (r < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "cannot request %s: %s",
                            vsm_vdp_request_to_string(req), g_strerror(-r));
                return FALSE;
        }
        /* A superseded request is reported (and its waiter finished) before
         * the new waiter is installed. */
        if (a.report) {
                VsmVdpAction report = a;

                report.send = false;
                report.deadline_usec = vsi->sm.deadline_usec;
                vsi_report(vsi, &report);
                a.report = false;
        }
        if (a.withdraw) {
                vsm_uplink_withdraw_vdp(vsi->uplink, vsi->cookie, vsi->params.instance);
                a.withdraw = false;
        }
        if (vsi->sm.queued) {
                vsm_uplink_count_vdp(vsi->uplink, VSM_UPLINK_VDP_QUEUED);
                vsm_log_vsi(G_LOG_LEVEL_INFO, vsm_uplink_get_name(vsi->uplink), vsi->id,
                            "%s of VSI %s waits for the answer to the %s on the wire",
                            vsm_vdp_request_to_string(req), vsi->id,
                            vsm_vdp_request_to_string(vsi->sm.pending_request));
        }
        vsi->done = done;
        vsi->done_data = user_data;
        vsi_apply(vsi, &a);
        return TRUE;
}

void vsm_vsi_on_response(VsmVsi *vsi, VsmVdpRequest req, uint8_t status) {
        VsmVdpAction a = {};

        if (vsm_vdp_vsi_on_response(&vsi->sm, req, status, (uint64_t) g_get_monotonic_time(), &a) < 0) {
                vsm_log_vsi(G_LOG_LEVEL_DEBUG, vsm_uplink_get_name(vsi->uplink), vsi->id,
                            "ignoring unexpected %s response for VSI %s (status 0x%02x)",
                            vsm_vdp_request_to_string(req), vsi->id, status);
                return;
        }
        vsi_apply(vsi, &a);
}

void vsm_vsi_on_bridge_request(VsmVsi *vsi, VsmVdpRequest req, uint8_t status) {
        VsmVdpAction a = {};

        if (vsm_vdp_vsi_on_bridge_request(&vsi->sm, req, status, (uint64_t) g_get_monotonic_time(), &a) < 0) {
                vsm_log_vsi(G_LOG_LEVEL_INFO, vsm_uplink_get_name(vsi->uplink), vsi->id,
                            "ignoring bridge-initiated %s for VSI %s",
                            vsm_vdp_request_to_string(req), vsi->id);
                return;
        }
        if (!a.report)
                vsm_log_vsi(G_LOG_LEVEL_DEBUG, vsm_uplink_get_name(vsi->uplink), vsi->id,
                            "bridge de-associated VSI %s, which was not associated (tolerated)", vsi->id);
        vsi_apply(vsi, &a);
}

void vsm_vsi_on_tx_failed(VsmVsi *vsi, uint64_t cookie) {
        VsmVdpAction a = {};

        if (cookie != vsi->cookie || !vsi->sm.pending)
                return;
        vsi->cookie = 0;
        /* No resend rounds for a request that a newer one waits behind. */
        if (!vsi->sm.queued && vsi->tx_rounds < G_N_ELEMENTS(vsi_resend_delay_usec)) {
                vsm_timer_arm(vsi->resend_timer, g_get_monotonic_time() + vsi_resend_delay_usec[vsi->tx_rounds]);
                vsi->tx_rounds++;
                return;
        }
        vsm_vdp_vsi_on_tx_failed(&vsi->sm, (uint64_t) g_get_monotonic_time(), &a);
        vsi_apply(vsi, &a);
}

void vsm_vsi_set_timers(VsmVsi *vsi, const VsmVdpTimers *timers) {
        vsm_vdp_vsi_set_timers(&vsi->sm, timers);
        /* The machine recomputed its deadline; it may already be past, in
         * which case the timer fires at once. */
        vsm_timer_arm(vsi->timer, (gint64) vsi->sm.deadline_usec);
}

static void json_add_report(JsonBuilder *b, const VsmVdpAction *a) {
        char buf[16];

        json_builder_set_member_name(b, "request");
        json_builder_add_string_value(b, vsm_vdp_request_to_string(a->request));
        json_builder_set_member_name(b, "flags");
        json_builder_add_value(b, vsm_vdp_flags_to_json(a->flags));
        json_builder_set_member_name(b, "result");
        json_builder_add_string_value(b, vsi_result_name(a, buf, sizeof(buf)));
        json_builder_set_member_name(b, "outcome");
        json_builder_add_string_value(b, vsm_vdp_outcome_to_string(a->outcome));
        json_builder_set_member_name(b, "error");
        if (a->outcome == VSM_VDP_OUTCOME_OK || a->outcome == VSM_VDP_OUTCOME_ERROR ||
            a->outcome == VSM_VDP_OUTCOME_REFRESHED || a->outcome == VSM_VDP_OUTCOME_BRIDGE_DEASSOC ||
            a->outcome == VSM_VDP_OUTCOME_REPAIRED)
                json_builder_add_int_value(b, a->error);
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "status");
        json_builder_add_int_value(b, a->status);
        json_builder_set_member_name(b, "keep");
        json_builder_add_boolean_value(b, (a->status & VSM_VDP_STATUS_KEEP) != 0);
        json_builder_set_member_name(b, "hard_error");
        json_builder_add_boolean_value(b, a->outcome == VSM_VDP_OUTCOME_ERROR &&
                                              (a->status & VSM_VDP_STATUS_HARD_ERROR) != 0);
        json_builder_set_member_name(b, "rtt_us");
        if (a->outcome == VSM_VDP_OUTCOME_OK || a->outcome == VSM_VDP_OUTCOME_ERROR ||
            a->outcome == VSM_VDP_OUTCOME_REFRESHED || a->outcome == VSM_VDP_OUTCOME_REPAIRED)
                json_builder_add_int_value(b, (gint64) a->rtt_usec);
        else
                json_builder_add_null_value(b);
}

static void json_add_identity(JsonBuilder *b, const VsmVsi *vsi, const char *uplink_name) {
        char mac[18];

        json_builder_set_member_name(b, "uplink");
        json_builder_add_string_value(b, uplink_name);
        json_builder_set_member_name(b, "instance");
        json_builder_add_string_value(b, vsi->id);
        json_builder_set_member_name(b, "mac");
        json_builder_add_string_value(b, vsm_mac_format(vsi->params.mac, mac));
        json_builder_set_member_name(b, "vlan");
        json_builder_add_int_value(b, vsi->params.vlan);
        json_builder_set_member_name(b, "type_id");
        json_builder_add_int_value(b, vsi->params.type_id);
        json_builder_set_member_name(b, "type_version");
        json_builder_add_int_value(b, vsi->params.type_version);
        json_builder_set_member_name(b, "state");
        json_builder_add_string_value(b, vsm_vsi_state_to_string(vsi->sm.state));
}

JsonNode *vsm_vsi_report_to_json(const VsmVsi *vsi, const char *uplink_name, const VsmVdpAction *report) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_add_identity(b, vsi, uplink_name);
        json_add_report(b, report);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

JsonNode *vsm_vsi_to_json(const VsmVsi *vsi, const char *uplink_name) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_add_identity(b, vsi, uplink_name);
        json_builder_set_member_name(b, "pending");
        if (vsi->sm.pending)
                json_builder_add_string_value(b, vsm_vdp_request_to_string(vsi->sm.pending_request));
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "queued");
        if (vsi->sm.queued)
                json_builder_add_string_value(b, vsm_vdp_request_to_string(vsi->sm.queued_request));
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "flags");
        json_builder_add_value(b, vsm_vdp_flags_to_json(vsi->sm.state != VSM_VSI_STATE_NONE || vsi->sm.repair
                                                                ? vsi->sm.current_flags : 0));
        json_builder_set_member_name(b, "repairing");
        json_builder_add_boolean_value(b, vsi->sm.repair);
        json_builder_set_member_name(b, "repairs");
        json_builder_add_int_value(b, (gint64) vsi->sm.n_repairs);
        json_builder_set_member_name(b, "last");
        if (vsi->have_last) {
                json_builder_begin_object(b);
                json_add_report(b, &vsi->last);
                json_builder_set_member_name(b, "age_ms");
                json_builder_add_int_value(b, (g_get_monotonic_time() - vsi->last_usec) / 1000);
                json_builder_end_object(b);
        } else {
                json_builder_add_null_value(b);
        }
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

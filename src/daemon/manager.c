/* vsimigd manager: owns the uplinks and answers the control socket. */
#include "build-config.h"
#include "daemon/manager.h"

#include <grp.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/control-request.h"
#include "daemon/log.h"
#include "daemon/uplink.h"
#include "io/control-server.h"
#include "vsimig/control.h"

struct VsmManager {
        VsmConfig *config;
        GPtrArray *uplinks;            /* VsmUplink, owned */
        VsmControlServer *control;
        gint64 start_usec;
        uint8_t manager_id[VSM_VDP_MANAGER_ID_LEN];
};

typedef struct PendingReply {
        VsmControlClient *client;
        gboolean has_id;
        gint64 id;
        char *uplink;
} PendingReply;

static VsmUplink *manager_find_uplink(VsmManager *m, const char *name) {
        for (guint i = 0; i < m->uplinks->len; i++)
                if (g_str_equal(vsm_uplink_get_name(m->uplinks->pdata[i]), name))
                        return m->uplinks->pdata[i];
        return NULL;
}

static void reply_error(VsmControlClient *c, gboolean has_id, gint64 id, const char *code, const char *msg) {
        g_autofree char *line = vsm_control_reply_error(has_id, id, code, msg);

        vsm_control_client_send(c, line);
}

static void reply_result(VsmControlClient *c, gboolean has_id, gint64 id, JsonNode *result) {
        g_autofree char *line = vsm_control_reply_result(has_id, id, result);

        vsm_control_client_send(c, line);
}

static JsonNode *manager_status_json(VsmManager *m) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "version");
        json_builder_add_string_value(b, VSIMIG_VERSION);
        json_builder_set_member_name(b, "pid");
        json_builder_add_int_value(b, getpid());
        json_builder_set_member_name(b, "uptime_s");
        json_builder_add_int_value(b, (g_get_monotonic_time() - m->start_usec) / G_USEC_PER_SEC);
        json_builder_set_member_name(b, "manager_id");
        json_builder_add_string_value(b, m->config->manager_id);
        json_builder_set_member_name(b, "control_clients");
        json_builder_add_int_value(b, vsm_control_server_n_clients(m->control));
        json_builder_set_member_name(b, "uplinks");
        json_builder_begin_array(b);
        for (guint i = 0; i < m->uplinks->len; i++)
                json_builder_add_value(b, vsm_uplink_to_json(m->uplinks->pdata[i]));
        json_builder_end_array(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static JsonNode *manager_vdp_list_json(VsmManager *m) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "vsis");
        json_builder_begin_array(b);
        for (guint i = 0; i < m->uplinks->len; i++) {
                VsmUplink *u = m->uplinks->pdata[i];
                g_autoptr(GPtrArray) vsis = vsm_uplink_list_vsis(u);

                for (guint j = 0; j < vsis->len; j++)
                        json_builder_add_value(b, vsm_vsi_to_json(vsis->pdata[j], vsm_uplink_get_name(u)));
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

static void pending_reply_done(VsmVsi *vsi, const VsmVdpAction *report, gpointer user_data) {
        PendingReply *p = user_data;
        g_autoptr(JsonNode) result = vsm_vsi_report_to_json(vsi, p->uplink, report);

        reply_result(p->client, p->has_id, p->id, result);
        vsm_control_client_unref(p->client);
        g_free(p->uplink);
        g_free(p);
}

static void manager_vdp_request(VsmManager *m, VsmControlClient *c, VsmControlRequest *req) {
        VsmVdpRequestParams params;
        VsmVsiParams vp = {};
        g_autoptr(GError) error = NULL;
        VsmUplink *u;
        VsmVsi *vsi;
        PendingReply *p;

        if (!vsm_vdp_request_params_parse(req->params, &params, &error)) {
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_INVALID_PARAMS, error->message);
                return;
        }
        u = manager_find_uplink(m, params.uplink);
        if (!u) {
                g_autofree char *msg = g_strdup_printf("%s is not a configured uplink", params.uplink);
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_NO_SUCH_UPLINK, msg);
                return;
        }
        memcpy(vp.instance, params.instance, sizeof(vp.instance));
        memcpy(vp.manager_id, params.has_manager ? params.manager_id : m->manager_id, sizeof(vp.manager_id));
        vp.type_id = params.type_id;
        vp.type_version = params.type_version;
        memcpy(vp.mac, params.mac, sizeof(vp.mac));
        vp.vlan = params.vlan;

        vsi = vsm_uplink_ensure_vsi(u, &vp, &error);
        if (!vsi) {
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_BUSY, error->message);
                return;
        }
        p = g_new0(PendingReply, 1);
        p->client = vsm_control_client_ref(c);
        p->has_id = req->has_id;
        p->id = req->id;
        p->uplink = g_strdup(vsm_uplink_get_name(u));
        vsm_log_vsi(G_LOG_LEVEL_INFO, vsm_uplink_get_name(u), vsm_vsi_get_id(vsi),
                    "control (pid %d): %s%s%s for VSI %s", (int) vsm_control_client_pid(c),
                    vsm_vdp_request_to_string(params.request),
                    (params.flags & VSM_VDP_STATUS_M) ? " migrated-to" : "",
                    (params.flags & VSM_VDP_STATUS_S) ? " suspended" : "", vsm_vsi_get_id(vsi));
        if (!vsm_vsi_request(vsi, params.request, params.flags, pending_reply_done, p, &error)) {
                vsm_control_client_unref(p->client);
                g_free(p->uplink);
                g_free(p);
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_INVALID_PARAMS, error->message);
        }
}

static void manager_on_line(VsmControlClient *c, const char *line, gsize len, gpointer user_data) {
        VsmManager *m = user_data;
        g_autoptr(VsmControlRequest) req = NULL;
        g_autoptr(GError) error = NULL;
        const char *code = NULL;
        gboolean has_id = FALSE;
        gint64 id = 0;

        if (!vsm_control_request_parse(line, len, &req, &code, &has_id, &id, &error)) {
                vsm_log(G_LOG_LEVEL_WARNING, "control (pid %d): bad request: %s",
                        (int) vsm_control_client_pid(c), error->message);
                reply_error(c, has_id, id, code, error->message);
                return;
        }
        if (g_str_equal(req->method, VSIMIG_METHOD_STATUS)) {
                g_autoptr(JsonNode) r = manager_status_json(m);
                reply_result(c, req->has_id, req->id, r);
        } else if (g_str_equal(req->method, VSIMIG_METHOD_VDP_LIST)) {
                g_autoptr(JsonNode) r = manager_vdp_list_json(m);
                reply_result(c, req->has_id, req->id, r);
        } else if (g_str_equal(req->method, VSIMIG_METHOD_VDP_REQUEST)) {
                manager_vdp_request(m, c, req);
        } else {
                g_autofree char *msg = g_strdup_printf("unknown method \"%s\"", req->method);
                vsm_log(G_LOG_LEVEL_WARNING, "control (pid %d): %s", (int) vsm_control_client_pid(c), msg);
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_UNKNOWN_METHOD, msg);
        }
}

static void uplink_destroy(gpointer p) {
        vsm_uplink_free(p);
}

VsmManager *vsm_manager_new(VsmConfig *config, GError **error) {
        g_autoptr(VsmManager) m = g_new0(VsmManager, 1);
        gid_t gid = (gid_t) -1;

        m->config = config;
        m->start_usec = g_get_monotonic_time();
        m->uplinks = g_ptr_array_new_with_free_func(uplink_destroy);
        (void) vsm_vdp_manager_id_from_string(config->manager_id, m->manager_id);

        if (config->control_group) {
                struct group *gr = getgrnam(config->control_group);

                if (!gr) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[control] group: no group named '%s'",
                                    config->control_group);
                        return NULL;
                }
                gid = gr->gr_gid;
        }
        m->control = vsm_control_server_new(config->control_socket, gid, config->control_max_clients,
                                            manager_on_line, m, error);
        if (!m->control)
                return NULL;
        vsm_log(G_LOG_LEVEL_MESSAGE, "control socket %s", config->control_socket);

        for (char **p = config->uplinks; *p; p++)
                g_ptr_array_add(m->uplinks, vsm_uplink_new(*p, config));
        if (m->uplinks->len == 0)
                vsm_log(G_LOG_LEVEL_WARNING, "no uplinks configured ([vdp] uplinks): VDP is idle");
        return g_steal_pointer(&m);
}

VsmManager *vsm_manager_free(VsmManager *m) {
        if (!m)
                return NULL;
        /* Uplinks first: pending control requests get their "cancelled"
         * replies while the control socket still exists. */
        g_clear_pointer(&m->uplinks, g_ptr_array_unref);
        vsm_control_server_free(m->control);
        vsm_config_free(m->config);
        g_free(m);
        return NULL;
}

void vsm_manager_kick(VsmManager *m) {
        for (guint i = 0; i < m->uplinks->len; i++)
                vsm_uplink_kick(m->uplinks->pdata[i]);
}

/* vsimigd manager: owns the uplinks and answers the control socket. */
#include "build-config.h"
#include "daemon/manager.h"

#include <grp.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/control-request.h"
#include "daemon/follower.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/qbg-agent.h"
#include "daemon/uplink.h"
#include "io/control-server.h"
#include "vsimig/control.h"

struct VsmManager {
        VsmConfig *config;
        GPtrArray *uplinks;            /* VsmUplink, owned */
        VsmControlServer *control;
        VsmFollower *follower;
        VsmQbgAgent *qbg;              /* libvirt's 802.1Qbg agent, or NULL */
        GPtrArray *monitors;           /* VsmControlClient refs */
        gint64 start_usec;
        VsmLoop *loop;                 /* borrowed: main.c runs it; NULL in tests */
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
        if (m->loop) {
                const VsmLoopStats *ls = vsm_loop_get_stats(m->loop);

                json_builder_set_member_name(b, "loop_max_dispatch_us");
                json_builder_add_int_value(b, (gint64) ls->all.max_us);
                json_builder_set_member_name(b, "loop_max_dispatch_since_reset_us");
                json_builder_add_int_value(b, (gint64) ls->since_reset.max_us);
                json_builder_set_member_name(b, "loop");
                json_builder_add_value(b, vsm_loop_stats_to_json(ls, g_get_monotonic_time()));
        }
        json_builder_set_member_name(b, "control_clients");
        json_builder_add_int_value(b, vsm_control_server_n_clients(m->control));
        json_builder_set_member_name(b, "libvirt");
        json_builder_add_value(b, vsm_follower_status_json(m->follower));
        json_builder_set_member_name(b, "monitors");
        json_builder_add_int_value(b, m->monitors->len);
        json_builder_set_member_name(b, "qbg_agent");
        if (m->qbg)
                json_builder_add_value(b, vsm_qbg_agent_to_json(m->qbg));
        else
                json_builder_add_null_value(b);
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

static gboolean param_string(VsmControlRequest *req, const char *name, gboolean required, const char **ret,
                             GError **error) {
        JsonNode *n = json_object_get_member(req->params, name);

        *ret = NULL;
        if (!n || JSON_NODE_HOLDS_NULL(n)) {
                if (required)
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "missing \"%s\"", name);
                return !required;
        }
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"%s\" must be a string", name);
                return FALSE;
        }
        *ret = json_node_get_string(n);
        return TRUE;
}

static void manager_hook(VsmManager *m, VsmControlClient *c, VsmControlRequest *req) {
        const char *domain, *op, *subop, *extra, *xml;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) r = NULL;

        if (!param_string(req, "domain", TRUE, &domain, &error) || !param_string(req, "op", TRUE, &op, &error) ||
            !param_string(req, "subop", FALSE, &subop, &error) || !param_string(req, "extra", FALSE, &extra, &error) ||
            !param_string(req, "xml", FALSE, &xml, &error)) {
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_INVALID_PARAMS, error->message);
                return;
        }
        if (strlen(domain) == 0 || strlen(domain) > 255 || strlen(op) > 64 || (subop && strlen(subop) > 64) ||
            (extra && strlen(extra) > 4096) || (xml && strlen(xml) > VSIMIG_HOOK_XML_MAX)) {
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_INVALID_PARAMS, "hook argument out of bounds");
                return;
        }
        r = vsm_follower_hook(m->follower, domain, op, subop ? subop : "-", extra ? extra : "-", xml,
                              xml ? strlen(xml) : 0, &error);
        if (!r) {
                vsm_log(G_LOG_LEVEL_WARNING, "hook %s %s %s: %s", domain, op, subop ? subop : "-", error->message);
                reply_error(c, req->has_id, req->id,
                            g_error_matches(error, VSM_ERROR, VSM_ERROR_NOT_FOUND) ? VSIMIG_ERR_NOT_FOUND
                                                                                   : VSIMIG_ERR_INVALID_PARAMS,
                            error->message);
                return;
        }
        reply_result(c, req->has_id, req->id, r);
}

static void manager_show(VsmManager *m, VsmControlClient *c, VsmControlRequest *req) {
        const char *domain;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) r = NULL;

        if (!param_string(req, "domain", TRUE, &domain, &error)) {
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_INVALID_PARAMS, error->message);
                return;
        }
        r = vsm_follower_show_json(m->follower, domain, &error);
        if (!r) {
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_NOT_FOUND, error->message);
                return;
        }
        reply_result(c, req->has_id, req->id, r);
}

/* Events for `vsimigctl monitor`: one {"event": {...}} line per client. */
static gboolean manager_wants_events(gpointer user_data) {
        VsmManager *m = user_data;

        return m->monitors->len > 0;
}

static void manager_emit(JsonNode *event, gpointer user_data) {
        VsmManager *m = user_data;
        g_autoptr(JsonGenerator) gen = NULL;
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *line = NULL;
        JsonObject *o;

        if (m->monitors->len == 0)
                return;
        o = json_object_new();
        json_object_set_member(o, "event", json_node_copy(event));
        root = json_node_init_object(json_node_alloc(), o);
        json_object_unref(o);
        gen = json_generator_new();
        json_generator_set_root(gen, root);
        line = json_generator_to_data(gen, NULL);
        for (guint i = 0; i < m->monitors->len;) {
                VsmControlClient *c = m->monitors->pdata[i];

                if (vsm_control_client_is_closed(c)) {
                        g_ptr_array_remove_index_fast(m->monitors, i);
                        continue;
                }
                vsm_control_client_send(c, line);
                i++;
        }
}

static void manager_monitor(VsmManager *m, VsmControlClient *c, VsmControlRequest *req) {
        g_autoptr(JsonNode) r = json_from_string("{\"subscribed\":true}", NULL);

        for (guint i = 0; i < m->monitors->len;)
                if (vsm_control_client_is_closed(m->monitors->pdata[i]))
                        g_ptr_array_remove_index_fast(m->monitors, i);
                else
                        i++;
        if (m->monitors->len >= 16) {
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_BUSY, "too many monitors");
                return;
        }
        reply_result(c, req->has_id, req->id, r);
        g_ptr_array_add(m->monitors, vsm_control_client_ref(c));
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
        if (!vsm_control_method_permitted(vsm_control_method_class(req->method), vsm_control_client_access(c))) {
                g_autofree char *msg = g_strdup_printf(
                        "\"%s\" changes state and needs root; members of group %s may use only "
                        "status, domains, show, monitor and vdp list", req->method,
                        m->config->control_group ? m->config->control_group : "(none)");

                vsm_log(G_LOG_LEVEL_INFO, "control (pid %d uid %d): refused \"%s\": not root",
                        (int) vsm_control_client_pid(c), (int) vsm_control_client_uid(c), req->method);
                reply_error(c, req->has_id, req->id, VSIMIG_ERR_PERMISSION, msg);
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
        } else if (g_str_equal(req->method, VSIMIG_METHOD_HOOK)) {
                manager_hook(m, c, req);
        } else if (g_str_equal(req->method, VSIMIG_METHOD_DOMAINS)) {
                g_autoptr(JsonNode) r = vsm_follower_domains_json(m->follower);
                reply_result(c, req->has_id, req->id, r);
        } else if (g_str_equal(req->method, VSIMIG_METHOD_SHOW)) {
                manager_show(m, c, req);
        } else if (g_str_equal(req->method, VSIMIG_METHOD_MONITOR)) {
                manager_monitor(m, c, req);
        } else if (g_str_equal(req->method, VSIMIG_METHOD_LOOP_RESET) && m->loop) {
                VsmLoopStats *ls = vsm_loop_get_stats(m->loop);
                g_autoptr(JsonBuilder) b = json_builder_new();
                g_autoptr(JsonNode) r = NULL;

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "loop_max_dispatch_since_reset_us");
                json_builder_add_int_value(b, (gint64) ls->since_reset.max_us);
                json_builder_end_object(b);
                r = json_builder_get_root(b);
                vsm_log(G_LOG_LEVEL_INFO, "control (pid %d): loop statistics reset (longest dispatch since the "
                        "previous reset %" G_GUINT64_FORMAT " us)", (int) vsm_control_client_pid(c),
                        ls->since_reset.max_us);
                vsm_loop_stats_reset(ls, g_get_monotonic_time());
                reply_result(c, req->has_id, req->id, r);
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
        m->monitors = g_ptr_array_new_with_free_func((GDestroyNotify) vsm_control_client_unref);
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
        m->follower = vsm_follower_new(config, m->uplinks, manager_emit, manager_wants_events, m, error);
        if (!m->follower)
                return NULL;
        return g_steal_pointer(&m);
}

VsmManager *vsm_manager_free(VsmManager *m) {
        if (!m)
                return NULL;
        /* The follower first (it borrows the uplinks), then the uplinks:
         * pending control requests get their "cancelled" replies while
         * the control socket still exists. */
        if (m->follower)
                vsm_follower_set_qbg_agent(m->follower, NULL);
        g_clear_pointer(&m->qbg, vsm_qbg_agent_free);
        g_clear_pointer(&m->follower, vsm_follower_free);
        g_clear_pointer(&m->uplinks, g_ptr_array_unref);
        g_clear_pointer(&m->monitors, g_ptr_array_unref);
        vsm_control_server_free(m->control);
        vsm_config_free(m->config);
        g_free(m);
        return NULL;
}

void vsm_manager_set_loop(VsmManager *m, VsmLoop *loop) {
        m->loop = loop;
}

gboolean vsm_manager_start_qbg_agent(VsmManager *m, int fd, GError **error) {
        m->qbg = vsm_qbg_agent_new(m->config, fd, m->uplinks, error);
        if (m->qbg && m->follower)
                vsm_follower_set_qbg_agent(m->follower, m->qbg);
        return m->qbg != NULL;
}

void vsm_manager_kick(VsmManager *m) {
        g_autoptr(GError) error = NULL;

        for (guint i = 0; i < m->uplinks->len; i++)
                vsm_uplink_kick(m->uplinks->pdata[i]);
        /* The peer key may have been rotated: a bad file keeps the old key. */
        if (m->follower && !vsm_follower_reload_peer_key(m->follower, &error))
                vsm_log(G_LOG_LEVEL_WARNING, "SIGHUP: %s; the previous key stays in use", error->message);
}

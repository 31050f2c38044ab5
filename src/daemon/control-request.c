/* Control requests: bounded parsing of untrusted JSON, and replies. */
#include "daemon/control-request.h"

#include <string.h>

#include "daemon/config.h"
#include "daemon/json-util.h"
#include "vsimig/control.h"

VsmControlRequest *vsm_control_request_free(VsmControlRequest *r) {
        if (!r)
                return NULL;
        g_free(r->method);
        if (r->params)
                json_object_unref(r->params);
        g_free(r);
        return NULL;
}

gboolean vsm_control_request_parse(const char *line, gsize len, VsmControlRequest **ret,
                                   const char **ret_code, gboolean *ret_has_id, gint64 *ret_id,
                                   GError **error) {
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(GError) local = NULL;
        g_autoptr(VsmControlRequest) req = NULL;
        JsonNode *root, *node;
        JsonObject *obj;

        *ret_has_id = FALSE;
        if (len > VSIMIG_CONTROL_LINE_MAX) {
                *ret_code = VSIMIG_ERR_TOO_LARGE;
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "request exceeds %d octets",
                            VSIMIG_CONTROL_LINE_MAX);
                return FALSE;
        }
        if (memchr(line, '\0', len) || !g_utf8_validate(line, (gssize) len, NULL)) {
                *ret_code = VSIMIG_ERR_PARSE;
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "request is not valid UTF-8 text");
                return FALSE;
        }
        if (!vsm_json_precheck(line, len, VSM_CONTROL_JSON_DEPTH_MAX, FALSE, error)) {
                *ret_code = VSIMIG_ERR_PARSE;
                return FALSE;
        }
        parser = json_parser_new_immutable();
        if (!json_parser_load_from_data(parser, line, (gssize) len, &local)) {
                *ret_code = VSIMIG_ERR_PARSE;
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "invalid JSON: %s", local->message);
                return FALSE;
        }
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
                *ret_code = VSIMIG_ERR_PARSE;
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "request is not a JSON object");
                return FALSE;
        }
        obj = json_node_get_object(root);
        req = g_new0(VsmControlRequest, 1);

        node = json_object_get_member(obj, "id");
        if (node && !JSON_NODE_HOLDS_NULL(node)) {
                if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64) {
                        *ret_code = VSIMIG_ERR_INVALID_REQUEST;
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"id\" must be an integer");
                        return FALSE;
                }
                req->has_id = TRUE;
                req->id = json_node_get_int(node);
                *ret_has_id = TRUE;
                *ret_id = req->id;
        }
        node = json_object_get_member(obj, "method");
        if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
                *ret_code = VSIMIG_ERR_INVALID_REQUEST;
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"method\" must be a string");
                return FALSE;
        }
        req->method = g_strdup(json_node_get_string(node));
        node = json_object_get_member(obj, "params");
        if (node && !JSON_NODE_HOLDS_NULL(node)) {
                if (!JSON_NODE_HOLDS_OBJECT(node)) {
                        *ret_code = VSIMIG_ERR_INVALID_REQUEST;
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"params\" must be an object");
                        return FALSE;
                }
                req->params = json_object_ref(json_node_get_object(node));
        } else {
                req->params = json_object_new();
        }
        *ret = g_steal_pointer(&req);
        return TRUE;
}

VsmControlMethodClass vsm_control_method_class(const char *method) {
        static const struct {
                const char *name;
                VsmControlMethodClass cls;
        } methods[] = {
                { VSIMIG_METHOD_STATUS, VSM_CONTROL_METHOD_READ },
                { VSIMIG_METHOD_VDP_LIST, VSM_CONTROL_METHOD_READ },
                { VSIMIG_METHOD_DOMAINS, VSM_CONTROL_METHOD_READ },
                { VSIMIG_METHOD_SHOW, VSM_CONTROL_METHOD_READ },
                { VSIMIG_METHOD_MONITOR, VSM_CONTROL_METHOD_READ },
                { VSIMIG_METHOD_VDP_REQUEST, VSM_CONTROL_METHOD_WRITE },
                { VSIMIG_METHOD_HOOK, VSM_CONTROL_METHOD_WRITE },
                { VSIMIG_METHOD_LOOP_RESET, VSM_CONTROL_METHOD_WRITE },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(methods); i++)
                if (g_str_equal(method, methods[i].name))
                        return methods[i].cls;
        return VSM_CONTROL_METHOD_UNKNOWN;
}

gboolean vsm_control_method_permitted(VsmControlMethodClass cls, VsmControlAccess access) {
        switch (access) {
        case VSM_CONTROL_ACCESS_ADMIN:
                return TRUE;
        case VSM_CONTROL_ACCESS_READ:
                return cls != VSM_CONTROL_METHOD_WRITE;
        default:
                return FALSE;
        }
}

static gboolean member_string(JsonObject *o, const char *name, gboolean required, const char **ret,
                              GError **error) {
        JsonNode *n = json_object_get_member(o, name);

        if (!n) {
                if (required)
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "missing \"%s\"", name);
                *ret = NULL;
                return !required;
        }
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"%s\" must be a string", name);
                return FALSE;
        }
        *ret = json_node_get_string(n);
        return TRUE;
}

static gboolean member_uint(JsonObject *o, const char *name, gboolean required, guint64 max,
                            guint64 *ret, GError **error) {
        JsonNode *n = json_object_get_member(o, name);
        gint64 v;

        if (!n) {
                if (required)
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "missing \"%s\"", name);
                return !required;
        }
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"%s\" must be an integer", name);
                return FALSE;
        }
        v = json_node_get_int(n);
        if (v < 0 || (guint64) v > max) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"%s\" out of range (0-%" G_GUINT64_FORMAT ")",
                            name, max);
                return FALSE;
        }
        *ret = (guint64) v;
        return TRUE;
}

gboolean vsm_vdp_request_params_parse(JsonObject *params, VsmVdpRequestParams *ret, GError **error) {
        static const char *const known[] = {
                "uplink", "request", "mac", "vlan", "type_id", "type_version",
                "instance", "manager", "flags", NULL,
        };
        VsmVdpRequestParams p = {};
        const char *s;
        guint64 u;
        JsonNode *n;
        g_autoptr(GList) members = json_object_get_members(params);

        for (GList *l = members; l; l = l->next)
                if (!g_strv_contains(known, l->data)) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "unknown parameter \"%s\"",
                                    (const char *) l->data);
                        return FALSE;
                }

        if (!member_string(params, "uplink", TRUE, &s, error))
                return FALSE;
        if (strlen(s) == 0 || strlen(s) >= sizeof(p.uplink)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"uplink\" is not an interface name");
                return FALSE;
        }
        strcpy(p.uplink, s);

        if (!member_string(params, "request", TRUE, &s, error))
                return FALSE;
        if (vsm_vdp_request_from_string(s, &p.request) < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "unknown request \"%s\"", s);
                return FALSE;
        }
        if (!member_string(params, "mac", TRUE, &s, error))
                return FALSE;
        if (vsm_mac_parse(s, p.mac) < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"mac\" is not a MAC address");
                return FALSE;
        }
        u = 0;
        if (!member_uint(params, "vlan", FALSE, 4094, &u, error))
                return FALSE;
        p.vlan = (uint16_t) u;
        if (!member_uint(params, "type_id", TRUE, 0xffffff, &u, error))
                return FALSE;
        p.type_id = (uint32_t) u;
        u = 0;
        if (!member_uint(params, "type_version", FALSE, 0xff, &u, error))
                return FALSE;
        p.type_version = (uint8_t) u;
        if (!member_string(params, "instance", TRUE, &s, error))
                return FALSE;
        if (vsm_uuid_parse(s, p.instance) < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"instance\" is not a UUID");
                return FALSE;
        }
        if (!member_string(params, "manager", FALSE, &s, error))
                return FALSE;
        if (s) {
                if (vsm_vdp_manager_id_from_string(s, p.manager_id) < 0) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                                    "\"manager\" must be a UUID or at most 16 octets");
                        return FALSE;
                }
                p.has_manager = TRUE;
        }
        n = json_object_get_member(params, "flags");
        if (n) {
                JsonArray *a;

                if (!JSON_NODE_HOLDS_ARRAY(n)) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"flags\" must be a list");
                        return FALSE;
                }
                a = json_node_get_array(n);
                if (json_array_get_length(a) > 2) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"flags\" has too many entries");
                        return FALSE;
                }
                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonNode *e = json_array_get_element(a, i);
                        const char *f;

                        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
                                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"flags\" entries must be strings");
                                return FALSE;
                        }
                        f = json_node_get_string(e);
                        if (g_str_equal(f, "migrated-to"))
                                p.flags |= VSM_VDP_STATUS_M;
                        else if (g_str_equal(f, "suspended"))
                                p.flags |= VSM_VDP_STATUS_S;
                        else {
                                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "unknown flag \"%s\"", f);
                                return FALSE;
                        }
                }
        }
        *ret = p;
        return TRUE;
}

static char *reply_build(gboolean has_id, gint64 id, const char *member, JsonNode *value) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        if (has_id)
                json_builder_add_int_value(b, id);
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, member);
        json_builder_add_value(b, value);
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        return json_generator_to_data(gen, NULL);
}

char *vsm_control_reply_result(gboolean has_id, gint64 id, JsonNode *result) {
        return reply_build(has_id, id, "result", json_node_copy(result));
}

char *vsm_control_reply_error(gboolean has_id, gint64 id, const char *code, const char *message) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "code");
        json_builder_add_string_value(b, code);
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, message);
        json_builder_end_object(b);
        return reply_build(has_id, id, "error", json_builder_get_root(b));
}

JsonNode *vsm_vdp_flags_to_json(uint8_t flags) {
        JsonArray *a = json_array_new();
        JsonNode *n = json_node_new(JSON_NODE_ARRAY);

        if (flags & VSM_VDP_STATUS_M)
                json_array_add_string_element(a, "migrated-to");
        if (flags & VSM_VDP_STATUS_S)
                json_array_add_string_element(a, "suspended");
        json_node_take_array(n, a);
        return n;
}

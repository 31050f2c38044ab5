/* Unit tests for control request parsing and validation
 * (daemon/control-request.c): every input is untrusted. */
#include <glib.h>
#include <string.h>

#include "daemon/control-request.h"
#include "daemon/config.h"
#include "test-util.h"
#include "vsimig/control.h"

typedef struct ParseCase {
        const char *line;
        const char *code;          /* NULL: must parse */
        gboolean has_id;
        gint64 id;
} ParseCase;

static const ParseCase parse_cases[] = {
        { "{\"id\":1,\"method\":\"status\"}", NULL, TRUE, 1 },
        { "{\"method\":\"status\",\"params\":null}", NULL, FALSE, 0 },
        { "{\"id\":null,\"method\":\"vdp.list\",\"params\":{}}", NULL, FALSE, 0 },
        { "{\"id\":-5,\"method\":\"x\"}", NULL, TRUE, -5 },
        { "", VSIMIG_ERR_PARSE, FALSE, 0 },
        { "not json", VSIMIG_ERR_PARSE, FALSE, 0 },
        { "[1,2,3]", VSIMIG_ERR_PARSE, FALSE, 0 },
        { "\"str\"", VSIMIG_ERR_PARSE, FALSE, 0 },
        { "{\"id\":1,", VSIMIG_ERR_PARSE, FALSE, 0 },
        { "{\"id\":\"1\",\"method\":\"status\"}", VSIMIG_ERR_INVALID_REQUEST, FALSE, 0 },
        { "{\"id\":1.5,\"method\":\"status\"}", VSIMIG_ERR_INVALID_REQUEST, FALSE, 0 },
        { "{\"id\":7}", VSIMIG_ERR_INVALID_REQUEST, TRUE, 7 },
        { "{\"id\":7,\"method\":3}", VSIMIG_ERR_INVALID_REQUEST, TRUE, 7 },
        { "{\"id\":8,\"method\":\"status\",\"params\":[1]}", VSIMIG_ERR_INVALID_REQUEST, TRUE, 8 },
        { "{\"id\":9,\"method\":\"status\",\"params\":\"x\"}", VSIMIG_ERR_INVALID_REQUEST, TRUE, 9 },
        { "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]}", VSIMIG_ERR_PARSE, FALSE, 0 },
        /* brackets inside strings do not count towards the depth */
        { "{\"id\":2,\"method\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", NULL, TRUE, 2 },
        { "{\"id\":3,\"method\":\"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", NULL, TRUE, 3 },
};

static void test_parse(gconstpointer data) {
        const ParseCase *pc = data;
        g_autoptr(VsmControlRequest) req = NULL;
        g_autoptr(GError) error = NULL;
        const char *code = NULL;
        gboolean has_id = FALSE;
        gint64 id = 0;
        gboolean ok;

        ok = vsm_control_request_parse(pc->line, strlen(pc->line), &req, &code, &has_id, &id, &error);
        if (!pc->code) {
                g_assert_no_error(error);
                g_assert_true(ok);
                g_assert_nonnull(req->method);
                g_assert_nonnull(req->params);
                g_assert_cmpint(req->has_id, ==, pc->has_id);
                if (pc->has_id)
                        g_assert_cmpint(req->id, ==, pc->id);
        } else {
                g_assert_false(ok);
                g_assert_null(req);
                g_assert_nonnull(error);
                g_assert_cmpstr(code, ==, pc->code);
                g_assert_cmpint(has_id, ==, pc->has_id);
                if (pc->has_id)
                        g_assert_cmpint(id, ==, pc->id);
        }
}

static void test_parse_binary(void) {
        static const char nul_line[] = "{\"id\":1,\0\"method\":\"status\"}";
        static const char bad_utf8[] = "{\"id\":1,\"method\":\"\xc3\x28\"}";
        g_autoptr(VsmControlRequest) req = NULL;
        g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
        const char *code;
        gboolean has_id;
        gint64 id;
        g_autofree char *huge = g_malloc(VSIMIG_CONTROL_LINE_MAX + 2);

        g_assert_false(vsm_control_request_parse(nul_line, sizeof(nul_line) - 1, &req, &code, &has_id, &id, &e1));
        g_assert_cmpstr(code, ==, VSIMIG_ERR_PARSE);
        g_assert_false(vsm_control_request_parse(bad_utf8, strlen(bad_utf8), &req, &code, &has_id, &id, &e2));
        g_assert_cmpstr(code, ==, VSIMIG_ERR_PARSE);
        memset(huge, ' ', VSIMIG_CONTROL_LINE_MAX + 1);
        huge[VSIMIG_CONTROL_LINE_MAX + 1] = '\0';
        g_assert_false(vsm_control_request_parse(huge, VSIMIG_CONTROL_LINE_MAX + 1, &req, &code, &has_id, &id, &e3));
        g_assert_cmpstr(code, ==, VSIMIG_ERR_TOO_LARGE);
}

static JsonObject *obj_from(const char *json) {
        g_autoptr(JsonParser) p = json_parser_new();

        g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
        return json_object_ref(json_node_get_object(json_parser_get_root(p)));
}

#define GOOD_PARAMS \
        "\"uplink\":\"eth0\",\"request\":\"associate\",\"mac\":\"52:54:00:AB:cd:01\"," \
        "\"type_id\":16777215,\"instance\":\"2F1A0D3C-9B8E-4E59-A1F2-0123456789AB\""

static void test_params_good(void) {
        g_autoptr(JsonObject) o = obj_from("{" GOOD_PARAMS ",\"vlan\":4094,\"type_version\":255,"
                                           "\"manager\":\"mgr1\",\"flags\":[\"migrated-to\"]}");
        VsmVdpRequestParams p;
        g_autoptr(GError) error = NULL;
        static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0x01 };

        g_assert_true(vsm_vdp_request_params_parse(o, &p, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(p.uplink, ==, "eth0");
        g_assert_cmpint(p.request, ==, VSM_VDP_REQ_ASSOCIATE);
        g_assert_cmpmem(p.mac, 6, mac, 6);
        g_assert_cmpuint(p.vlan, ==, 4094);
        g_assert_cmpuint(p.type_id, ==, 0xffffff);
        g_assert_cmpuint(p.type_version, ==, 255);
        g_assert_cmpuint(p.instance[0], ==, 0x2f);
        g_assert_cmpuint(p.instance[15], ==, 0xab);
        g_assert_true(p.has_manager);
        g_assert_cmpmem(p.manager_id, 5, "mgr1\0", 5);
        g_assert_cmpuint(p.flags, ==, VSM_VDP_STATUS_M);
}

static void test_params_flags(void) {
        g_autoptr(JsonObject) o = obj_from("{" GOOD_PARAMS ",\"flags\":[\"suspended\"]}");
        g_autoptr(JsonObject) o2 = obj_from("{" GOOD_PARAMS "}");
        VsmVdpRequestParams p;

        g_assert_true(vsm_vdp_request_params_parse(o, &p, NULL));
        g_assert_cmpuint(p.flags, ==, VSM_VDP_STATUS_S);
        g_assert_true(vsm_vdp_request_params_parse(o2, &p, NULL));
        g_assert_cmpuint(p.flags, ==, 0);
        g_assert_false(p.has_manager);
        g_assert_cmpuint(p.vlan, ==, 0);
}

static const char *const bad_params[] = {
        "{}",
        "{" GOOD_PARAMS ",\"bogus\":1}",
        "{\"uplink\":\"eth0\",\"request\":\"associate\",\"mac\":\"52:54:00:ab:cd:01\",\"type_id\":1}",
        "{\"uplink\":\"\",\"request\":\"associate\",\"mac\":\"52:54:00:ab:cd:01\",\"type_id\":1,\"instance\":\"2f1a0d3c-9b8e-4e59-a1f2-0123456789ab\"}",
        "{\"uplink\":\"0123456789abcdef\",\"request\":\"associate\",\"mac\":\"52:54:00:ab:cd:01\",\"type_id\":1,\"instance\":\"2f1a0d3c-9b8e-4e59-a1f2-0123456789ab\"}",
        "{\"uplink\":\"eth0\",\"request\":\"associated\",\"mac\":\"52:54:00:ab:cd:01\",\"type_id\":1,\"instance\":\"2f1a0d3c-9b8e-4e59-a1f2-0123456789ab\"}",
        "{\"uplink\":\"eth0\",\"request\":\"associate\",\"mac\":\"52:54:00:ab:cd\",\"type_id\":1,\"instance\":\"2f1a0d3c-9b8e-4e59-a1f2-0123456789ab\"}",
        "{\"uplink\":\"eth0\",\"request\":\"associate\",\"mac\":\"52:54:00:ab:cd:01\",\"type_id\":16777216,\"instance\":\"2f1a0d3c-9b8e-4e59-a1f2-0123456789ab\"}",
        "{\"uplink\":\"eth0\",\"request\":\"associate\",\"mac\":\"52:54:00:ab:cd:01\",\"type_id\":-1,\"instance\":\"2f1a0d3c-9b8e-4e59-a1f2-0123456789ab\"}",
        "{\"uplink\":\"eth0\",\"request\":\"associate\",\"mac\":\"52:54:00:ab:cd:01\",\"type_id\":\"1\",\"instance\":\"2f1a0d3c-9b8e-4e59-a1f2-0123456789ab\"}",
        "{\"uplink\":\"eth0\",\"request\":\"associate\",\"mac\":\"52:54:00:ab:cd:01\",\"type_id\":1,\"instance\":\"2f1a0d3c-9b8e-4e59-a1f2-0123456789a\"}",
        "{" GOOD_PARAMS ",\"vlan\":4095}",
        "{" GOOD_PARAMS ",\"type_version\":256}",
        "{" GOOD_PARAMS ",\"manager\":\"0123456789abcdefX\"}",
        "{" GOOD_PARAMS ",\"flags\":\"migrated-to\"}",
        "{" GOOD_PARAMS ",\"flags\":[\"migrated\"]}",
        "{" GOOD_PARAMS ",\"flags\":[1]}",
        "{" GOOD_PARAMS ",\"flags\":[\"suspended\",\"suspended\",\"suspended\"]}",
        "{" GOOD_PARAMS ",\"uplink\":null}",
};

static void test_params_bad(gconstpointer data) {
        g_autoptr(JsonObject) o = obj_from(data);
        VsmVdpRequestParams p;
        g_autoptr(GError) error = NULL;

        g_assert_false(vsm_vdp_request_params_parse(o, &p, &error));
        g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
}

static void test_reply(void) {
        g_autofree char *e = vsm_control_reply_error(TRUE, 42, VSIMIG_ERR_UNKNOWN_METHOD, "no \"such\" method");
        g_autofree char *e2 = vsm_control_reply_error(FALSE, 0, VSIMIG_ERR_PARSE, "x");
        g_autoptr(JsonNode) n = json_from_string("{\"a\":1}", NULL);
        g_autofree char *r = vsm_control_reply_result(TRUE, 3, n);
        g_autoptr(JsonNode) flags = vsm_vdp_flags_to_json(VSM_VDP_STATUS_M | VSM_VDP_STATUS_S);
        g_autofree char *fl = json_to_string(flags, FALSE);

        g_assert_cmpstr(e, ==, "{\"id\":42,\"error\":{\"code\":\"unknown-method\",\"message\":\"no \\\"such\\\" method\"}}");
        g_assert_cmpstr(e2, ==, "{\"id\":null,\"error\":{\"code\":\"parse-error\",\"message\":\"x\"}}");
        g_assert_cmpstr(r, ==, "{\"id\":3,\"result\":{\"a\":1}}");
        g_assert_cmpstr(fl, ==, "[\"migrated-to\",\"suspended\"]");
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
                g_autofree char *name = g_strdup_printf("/control/parse/%zu", i);
                g_test_add_data_func(name, &parse_cases[i], test_parse);
        }
        g_test_add_func("/control/parse-binary", test_parse_binary);
        g_test_add_func("/control/params/good", test_params_good);
        g_test_add_func("/control/params/flags", test_params_flags);
        for (size_t i = 0; i < G_N_ELEMENTS(bad_params); i++) {
                g_autofree char *name = g_strdup_printf("/control/params/bad/%zu", i);
                g_test_add_data_func(name, bad_params[i], test_params_bad);
        }
        g_test_add_func("/control/reply", test_reply);
        return g_test_run();
}

/* Unit tests for control request parsing and validation
 * (daemon/control-request.c): every input is untrusted. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib-unix.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* The server's refusals are warnings; count them instead of aborting. */
static guint n_warnings;

static GLogWriterOutput test_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                                        gpointer user_data) {
        const char *domain = NULL, *message = NULL;

        for (gsize i = 0; i < n_fields; i++) {
                if (g_str_equal(fields[i].key, "GLIB_DOMAIN"))
                        domain = fields[i].value;
                else if (g_str_equal(fields[i].key, "MESSAGE"))
                        message = fields[i].value;
        }
        if (g_strcmp0(domain, "vsimigd") == 0 && (level & G_LOG_LEVEL_WARNING)) {
                n_warnings++;
                g_test_message("warning: %s", message);
                return G_LOG_WRITER_HANDLED;
        }
        return g_log_writer_default(level, fields, n_fields, user_data);
}

/* The access decision: uid, primary gid, supplementary groups. */
typedef struct AccessCase {
        uid_t uid;
        gid_t gid;
        gid_t groups[4];
        size_t n_groups;
        gid_t allowed;
        VsmControlAccess want;
} AccessCase;

#define NO_GROUP ((gid_t) -1)

static const AccessCase access_cases[] = {
        { 0, 0, {}, 0, NO_GROUP, VSM_CONTROL_ACCESS_ADMIN },
        { 0, 0, {}, 0, 100, VSM_CONTROL_ACCESS_ADMIN },
        { 0, 1234, { 5 }, 1, 100, VSM_CONTROL_ACCESS_ADMIN },
        /* no group configured: root only, whatever the groups */
        { 1000, 100, { 100 }, 1, NO_GROUP, VSM_CONTROL_ACCESS_NONE },
        { 1000, NO_GROUP, {}, 0, NO_GROUP, VSM_CONTROL_ACCESS_NONE },
        /* primary group */
        { 1000, 100, {}, 0, 100, VSM_CONTROL_ACCESS_READ },
        /* supplementary group only, first, middle or last */
        { 1000, 1000, { 100 }, 1, 100, VSM_CONTROL_ACCESS_READ },
        { 1000, 1000, { 4, 100, 27 }, 3, 100, VSM_CONTROL_ACCESS_READ },
        { 1000, 1000, { 4, 27, 24, 100 }, 4, 100, VSM_CONTROL_ACCESS_READ },
        /* a member of other groups only */
        { 1000, 1000, { 4, 27, 24 }, 3, 100, VSM_CONTROL_ACCESS_NONE },
        { 1000, 1000, {}, 0, 100, VSM_CONTROL_ACCESS_NONE },
        /* a group count of 0 hides the array */
        { 1000, 1000, { 100 }, 0, 100, VSM_CONTROL_ACCESS_NONE },
        /* gid 0 is not uid 0 */
        { 1000, 0, { 0 }, 1, 100, VSM_CONTROL_ACCESS_NONE },
        { 1000, 0, {}, 0, 0, VSM_CONTROL_ACCESS_READ },
};

static void test_access_decide(gconstpointer data) {
        const AccessCase *c = data;

        g_assert_cmpstr(vsm_control_access_to_string(
                                vsm_control_access_decide(c->uid, c->gid, c->groups, c->n_groups, c->allowed)),
                        ==, vsm_control_access_to_string(c->want));
}

static void test_method_class(void) {
        static const struct {
                const char *method;
                VsmControlMethodClass cls;
        } methods[] = {
                { VSIMIG_METHOD_STATUS, VSM_CONTROL_METHOD_READ },
                { VSIMIG_METHOD_DOMAINS, VSM_CONTROL_METHOD_READ },
                { VSIMIG_METHOD_SHOW, VSM_CONTROL_METHOD_READ },
                { VSIMIG_METHOD_MONITOR, VSM_CONTROL_METHOD_READ },
                { VSIMIG_METHOD_VDP_LIST, VSM_CONTROL_METHOD_READ },
                { VSIMIG_METHOD_VDP_REQUEST, VSM_CONTROL_METHOD_WRITE },
                { VSIMIG_METHOD_HOOK, VSM_CONTROL_METHOD_WRITE },
                { VSIMIG_METHOD_LOOP_RESET, VSM_CONTROL_METHOD_WRITE },
                { "Status", VSM_CONTROL_METHOD_UNKNOWN },
                { "hook ", VSM_CONTROL_METHOD_UNKNOWN },
                { "", VSM_CONTROL_METHOD_UNKNOWN },
        };
        /* permitted[access][class] */
        static const gboolean permitted[_VSM_CONTROL_ACCESS_MAX][_VSM_CONTROL_METHOD_CLASS_MAX] = {
                [VSM_CONTROL_ACCESS_NONE] = { FALSE, FALSE, FALSE },
                [VSM_CONTROL_ACCESS_READ] = { TRUE, TRUE, FALSE },
                [VSM_CONTROL_ACCESS_ADMIN] = { TRUE, TRUE, TRUE },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(methods); i++)
                g_assert_cmpint(vsm_control_method_class(methods[i].method), ==, methods[i].cls);
        for (int a = 0; a < _VSM_CONTROL_ACCESS_MAX; a++)
                for (int k = 0; k < _VSM_CONTROL_METHOD_CLASS_MAX; k++)
                        g_assert_cmpint(vsm_control_method_permitted(k, a), ==, permitted[a][k]);
}

/* A real socket: a child takes the given credentials, connects to a
 * control server and reports what it was told; the server's line callback
 * answers with the access the server gave that client. */
typedef struct SocketCase {
        const char *name;
        uid_t uid;
        gid_t gid;
        gid_t groups[2];
        int n_groups;
        const char *want;          /* the line the child reads */
} SocketCase;

#define T_ALLOWED 4242
#define T_OTHER 4343

static const SocketCase socket_cases[] = {
        { "root", 0, 0, {}, 0, "access admin" },
        { "primary-member", 65534, T_ALLOWED, {}, 0, "access read-only" },
        { "supplementary-member", 65534, 65534, { T_OTHER, T_ALLOWED }, 2, "access read-only" },
        { "non-member", 65534, 65534, { T_OTHER }, 1,
          "{\"id\":null,\"error\":{\"code\":\"permission-denied\",\"message\":\"permission denied\"}}" },
        { "gid-0-non-root", 65534, 0, { 0 }, 1,
          "{\"id\":null,\"error\":{\"code\":\"permission-denied\",\"message\":\"permission denied\"}}" },
};

static void on_line_access(VsmControlClient *c, const char *line, gsize len, gpointer user_data) {
        g_autofree char *reply = g_strdup_printf("access %s",
                                                 vsm_control_access_to_string(vsm_control_client_access(c)));

        vsm_control_client_send(c, reply);
}

static void child_connect(const SocketCase *sc, const char *path, int out_fd) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        char buf[512];
        size_t got = 0;
        int fd;

        if (setgroups((size_t) sc->n_groups, sc->groups) < 0 || setgid(sc->gid) < 0 || setuid(sc->uid) < 0)
                _exit(10);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
        if (fd < 0 || connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0)
                _exit(11);
        /* A refused peer may be closed before this: its error line is
         * still there to read. */
        (void) send(fd, "{}\n", 3, MSG_NOSIGNAL);
        while (got < sizeof(buf) - 1) {
                ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);

                if (n <= 0)
                        break;
                got += (size_t) n;
                if (memchr(buf, '\n', got))
                        break;
        }
        if (write(out_fd, buf, got) != (ssize_t) got)
                _exit(13);
        _exit(0);
}

static gboolean on_child_output(gint fd, GIOCondition cond, gpointer user_data) {
        GString *out = user_data;
        char buf[512];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n > 0) {
                g_string_append_len(out, buf, n);
                return G_SOURCE_CONTINUE;
        }
        g_string_append_c(out, '\0');     /* EOF marker for the loop below */
        return G_SOURCE_REMOVE;
}

static void test_socket_access(gconstpointer data) {
        const SocketCase *sc = data;
        g_autofree char *dir = NULL;
        g_autofree char *path = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(VsmControlServer) server = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        struct stat st;
        int pipefd[2], status;
        guint watch;
        pid_t pid;

        if (geteuid() != 0) {
                g_test_skip("needs root to take other credentials");
                return;
        }
        dir = g_dir_make_tmp("vsm-ctl-XXXXXX", &error);
        g_assert_no_error(error);
        g_assert_cmpint(chmod(dir, 0755), ==, 0);
        path = g_build_filename(dir, "ctl.sock", NULL);
        server = vsm_control_server_new(path, T_ALLOWED, 4, on_line_access, NULL, &error);
        g_assert_no_error(error);
        /* The server gave the socket the group (root has CAP_CHOWN here). */
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_gid, ==, T_ALLOWED);
        g_assert_cmpint(st.st_mode & 0777, ==, 0660);
        /* Let every child reach the socket, so that the daemon decides. */
        g_assert_cmpint(chmod(path, 0666), ==, 0);

        n_warnings = 0;
        g_assert_cmpint(pipe2(pipefd, O_CLOEXEC), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                close(pipefd[0]);
                child_connect(sc, path, pipefd[1]);
        }
        close(pipefd[1]);
        watch = g_unix_fd_add(pipefd[0], G_IO_IN | G_IO_HUP, on_child_output, out);
        while (out->len == 0 || out->str[out->len - 1] != '\0')
                g_main_context_iteration(NULL, TRUE);
        (void) watch;
        close(pipefd[0]);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        g_assert_cmpstr(g_strchomp(out->str), ==, sc->want);
        /* A refusal is logged, once. */
        g_assert_cmpuint(n_warnings, ==, g_str_has_prefix(sc->want, "access ") ? 0 : 1);
        g_clear_pointer(&server, vsm_control_server_free);
        g_assert_cmpint(rmdir(dir), ==, 0);
}

/* No group: the socket is for root alone (mode 0600). */
static void test_socket_root_only(void) {
        g_autofree char *dir = g_dir_make_tmp("vsm-ctl-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "ctl.sock", NULL);
        g_autoptr(GError) error = NULL;
        g_autoptr(VsmControlServer) server = vsm_control_server_new(path, (gid_t) -1, 4, on_line_access, NULL,
                                                                    &error);
        struct stat st;

        g_assert_no_error(error);
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);
        g_clear_pointer(&server, vsm_control_server_free);
        g_assert_cmpint(rmdir(dir), ==, 0);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_log_set_writer_func(test_log_writer, NULL, NULL);
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
        for (size_t i = 0; i < G_N_ELEMENTS(access_cases); i++) {
                g_autofree char *name = g_strdup_printf("/control/access/decide/%zu", i);
                g_test_add_data_func(name, &access_cases[i], test_access_decide);
        }
        g_test_add_func("/control/access/method-class", test_method_class);
        for (size_t i = 0; i < G_N_ELEMENTS(socket_cases); i++) {
                g_autofree char *name = g_strdup_printf("/control/access/socket/%s", socket_cases[i].name);
                g_test_add_data_func(name, &socket_cases[i], test_socket_access);
        }
        g_test_add_func("/control/access/socket/root-only", test_socket_root_only);
        return g_test_run();
}

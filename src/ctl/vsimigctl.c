/* vsimigctl: the operator's tool for vsimigd (status, VDP requests). */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ctl/check.h"
#include "vsimig/control.h"

#define REPLY_MAX (16 * 1024 * 1024)

static char *opt_socket;
static char *opt_config;
static gboolean opt_json;
static gint opt_timeout = 30;
static char *opt_uplink, *opt_mac, *opt_instance, *opt_manager;
static gint opt_vlan = -1, opt_type_version = 0;
static gint64 opt_type_id = -1;
static gboolean opt_migrated_to, opt_suspended;

static const GOptionEntry global_entries[] = {
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &opt_socket,
          "Control socket (default " VSIMIG_DEFAULT_SOCKET ")", "PATH" },
        { "json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, "Print JSON for automation", NULL },
        { "timeout", 't', 0, G_OPTION_ARG_INT, &opt_timeout, "Seconds to wait for the daemon (default 30)", "SEC" },
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config,
          "vsimigd's config, for check and hook (default " VSIMIG_DEFAULT_CONFIG ")", "FILE" },
        { NULL },
};

static const GOptionEntry vdp_entries[] = {
        { "uplink", 'i', 0, G_OPTION_ARG_STRING, &opt_uplink, "Uplink interface (one of [vdp] uplinks)", "IF" },
        { "mac", 'm', 0, G_OPTION_ARG_STRING, &opt_mac, "The vNIC's MAC address", "MAC" },
        { "vlan", 0, 0, G_OPTION_ARG_INT, &opt_vlan, "VLAN ID (0-4094, default 0)", "VID" },
        { "type-id", 0, 0, G_OPTION_ARG_INT64, &opt_type_id, "VSI type ID (0-16777215)", "N" },
        { "type-version", 0, 0, G_OPTION_ARG_INT, &opt_type_version, "VSI type version (0-255, default 0)", "N" },
        { "instance", 'u', 0, G_OPTION_ARG_STRING, &opt_instance, "VSI instance UUID (the VSIID)", "UUID" },
        { "manager", 0, 0, G_OPTION_ARG_STRING, &opt_manager, "VSI Manager ID (default from the daemon config)", "ID" },
        { "migrated-to", 'M', 0, G_OPTION_ARG_NONE, &opt_migrated_to, "Set the M-bit (VSI migrated to this port)", NULL },
        { "suspended", 'S', 0, G_OPTION_ARG_NONE, &opt_suspended, "Set the S-bit (VSI suspended, migrating away)", NULL },
        { NULL },
};

static const char summary[] =
        "Commands:\n"
        "  status                         daemon, libvirt connection, uplinks, bridge EVB parameters\n"
        "  domains                        followed domains, their role, phase and vNICs\n"
        "  show DOMAIN                    the timelines of DOMAIN's last migrations (ms offsets)\n"
        "  monitor                        stream events and actions as they happen (Ctrl-C ends)\n"
        "  loop-reset                     restart the since-reset main-loop dispatch statistics\n"
        "  [--config FILE] hook DOMAIN OP SUBOP [EXTRA]\n"
        "                                 (the libvirt qemu hook) forward one hook call, domain XML\n"
        "                                 on stdin; socket, timeout and veto from FILE\n"
        "                                 (default " VSIMIG_DEFAULT_CONFIG ")\n"
        "  vdp list                       every VSI with its state and last response\n"
        "  vdp pre-associate|pre-associate-rr|associate|de-associate\n"
        "      --uplink IF --mac MAC [--vlan VID] --type-id N [--type-version N]\n"
        "      --instance UUID [--manager ID] [--migrated-to|--suspended]\n"
        "                                 send one VDP request, wait for the bridge's answer\n"
        "  check                          what is still wrong on this host (config, uplinks and EVB,\n"
        "                                 libvirt, hook, peer channel, lldpad, clock, counters),\n"
        "                                 each with its fix; exit 0 all ok, 1 a failure, 4 warnings\n"
        "  peer-key new PATH              write a new [peer] key-file (32 random octets, mode 0600;\n"
        "                                 never overwrites); copy it to every compute node\n"
        "\n"
        "Exit status: 0 ok, 1 request failed (bridge error, timeout, daemon error),\n"
        "2 usage error, 3 daemon not reachable.  'hook' exits 0 unless it vetoes\n"
        "(daemon unreachable at 'migrate begin' with [hook] veto = true): then 1.";

static int die_usage(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int die_usage(const char *fmt, ...) {
        va_list ap;

        fputs("vsimigctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(" (try --help)\n", stderr);
        return VSIMIG_EXIT_USAGE;
}

static JsonObject *read_reply(GSocket *sock, GString *buf, int *ret_exit, GError **error);
static gboolean wait_deadline(GSocket *sock, GIOCondition cond, GError **error);

/* Sends one request, returns the parsed reply object or NULL (and prints
 * why).  With ret_sock the connection stays open for further lines. */
static JsonObject *call_full(const char *method, JsonNode *params, guint timeout_ms, GSocket **ret_sock,
                             GString **ret_buf, int *ret_exit, gboolean quiet) {
        const char *path = opt_socket ? opt_socket : VSIMIG_DEFAULT_SOCKET;
        g_autoptr(GSocket) sock = NULL;
        g_autoptr(GSocketAddress) addr = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        g_autoptr(GString) reply = g_string_new(NULL);
        g_autofree char *line = NULL;
        JsonObject *obj;
        gsize off = 0, len;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_int_value(b, 1);
        json_builder_set_member_name(b, "method");
        json_builder_add_string_value(b, method);
        if (params) {
                json_builder_set_member_name(b, "params");
                json_builder_add_value(b, params);
        }
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        line = json_generator_to_data(gen, &len);
        line = g_realloc(line, len + 2);
        line[len++] = '\n';
        line[len] = '\0';

        sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
        if (!sock)
                goto unreachable;
        if (timeout_ms > 0) {
                /* GSocket timeouts are whole seconds: use a deadline on
                 * the blocking calls through non-blocking polls instead. */
                g_socket_set_blocking(sock, FALSE);
        } else {
                g_socket_set_timeout(sock, (guint) MAX(opt_timeout, 1));
        }
        addr = g_unix_socket_address_new(path);
        if (!g_socket_connect(sock, addr, NULL, &error)) {
                if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PENDING))
                        goto unreachable;
                g_clear_error(&error);
                if (!g_socket_condition_timed_wait(sock, G_IO_OUT, (gint64) timeout_ms * 1000, NULL, &error) ||
                    !g_socket_check_connect_result(sock, &error))
                        goto unreachable;
        }
        if (timeout_ms > 0)
                g_object_set_data(G_OBJECT(sock), "deadline",
                                  GSIZE_TO_POINTER((gsize) (g_get_monotonic_time() / 1000 + timeout_ms)));
        while (off < len) {
                gssize n;

                if (timeout_ms > 0 && !wait_deadline(sock, G_IO_OUT, &error))
                        goto unreachable;
                n = g_socket_send(sock, line + off, len - off, NULL, &error);
                if (n < 0) {
                        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
                                g_clear_error(&error);
                                continue;
                        }
                        goto unreachable;
                }
                off += (gsize) n;
        }
        obj = read_reply(sock, reply, ret_exit, &error);
        if (!obj) {
                if (*ret_exit == VSIMIG_EXIT_UNREACHABLE)
                        goto unreachable;
                if (!quiet)
                        fprintf(stderr, "vsimigctl: bad reply from the daemon: %s\n", error->message);
                return NULL;
        }
        if (ret_sock)
                *ret_sock = g_steal_pointer(&sock);
        if (ret_buf)
                *ret_buf = g_steal_pointer(&reply);
        return obj;

unreachable:
        if (!quiet)
                fprintf(stderr, "vsimigctl: cannot talk to vsimigd at %s: %s\n", path, error ? error->message : "?");
        *ret_exit = VSIMIG_EXIT_UNREACHABLE;
        return NULL;
}

static JsonObject *call(const char *method, JsonNode *params, int *ret_exit) {
        return call_full(method, params, 0, NULL, NULL, ret_exit, FALSE);
}

static gboolean wait_deadline(GSocket *sock, GIOCondition cond, GError **error) {
        gint64 deadline_ms = (gint64) GPOINTER_TO_SIZE(g_object_get_data(G_OBJECT(sock), "deadline"));
        gint64 left = deadline_ms - g_get_monotonic_time() / 1000;

        if (deadline_ms == 0)
                return TRUE;
        if (left <= 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "timed out");
                return FALSE;
        }
        return g_socket_condition_timed_wait(sock, cond, left * 1000, NULL, error);
}

/* Reads one reply line (buf keeps what follows it). */
static JsonObject *read_reply(GSocket *sock, GString *buf, int *ret_exit, GError **error) {
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autofree char *line = NULL;
        char *nl;

        while (!(nl = memchr(buf->str, '\n', buf->len))) {
                char chunk[65536];
                gssize n;

                if (!wait_deadline(sock, G_IO_IN, error)) {
                        *ret_exit = VSIMIG_EXIT_UNREACHABLE;
                        return NULL;
                }
                n = g_socket_receive(sock, chunk, sizeof(chunk), NULL, error);
                if (n < 0) {
                        if (g_error_matches(*error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
                                g_clear_error(error);
                                continue;
                        }
                        *ret_exit = VSIMIG_EXIT_UNREACHABLE;
                        return NULL;
                }
                if (n == 0) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_CLOSED, "daemon closed the connection");
                        *ret_exit = VSIMIG_EXIT_UNREACHABLE;
                        return NULL;
                }
                g_string_append_len(buf, chunk, n);
                if (buf->len > REPLY_MAX) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "reply too large");
                        *ret_exit = VSIMIG_EXIT_FAILED;
                        return NULL;
                }
        }
        line = g_strndup(buf->str, (gsize) (nl - buf->str));
        g_string_erase(buf, 0, (gssize) (nl - buf->str) + 1);
        if (!json_parser_load_from_data(parser, line, -1, error) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
                if (!*error)
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not a JSON object");
                *ret_exit = VSIMIG_EXIT_FAILED;
                return NULL;
        }
        return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static void print_json(JsonNode *node) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autofree char *s = NULL;

        json_generator_set_pretty(gen, TRUE);
        json_generator_set_root(gen, node);
        s = json_generator_to_data(gen, NULL);
        printf("%s\n", s);
}

/* Unwraps "result"; prints daemon errors.  NULL on error. */
static JsonObject *result_of(JsonObject *reply, int *ret_exit) {
        JsonObject *err;

        if (json_object_has_member(reply, "error") &&
            JSON_NODE_HOLDS_OBJECT(json_object_get_member(reply, "error"))) {
                err = json_object_get_object_member(reply, "error");
                if (opt_json)
                        print_json(json_object_get_member(reply, "error") ? json_node_copy(json_object_get_member(reply, "error")) : NULL);
                else
                        fprintf(stderr, "vsimigctl: %s: %s\n",
                                json_object_get_string_member_with_default(err, "code", "error"),
                                json_object_get_string_member_with_default(err, "message", ""));
                *ret_exit = VSIMIG_EXIT_FAILED;
                return NULL;
        }
        if (!json_object_has_member(reply, "result") ||
            !JSON_NODE_HOLDS_OBJECT(json_object_get_member(reply, "result"))) {
                fprintf(stderr, "vsimigctl: reply without a result\n");
                *ret_exit = VSIMIG_EXIT_FAILED;
                return NULL;
        }
        return json_object_get_object_member(reply, "result");
}

static const char *str_or(JsonObject *o, const char *m, const char *dflt) {
        JsonNode *n = json_object_get_member(o, m);

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
                return dflt;
        return json_node_get_string(n);
}

static gint64 int_or(JsonObject *o, const char *m, gint64 dflt) {
        JsonNode *n = json_object_get_member(o, m);

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
                return dflt;
        return json_node_get_int(n);
}

static char *flags_text(JsonObject *o) {
        JsonNode *n = json_object_get_member(o, "flags");
        g_autoptr(GString) s = g_string_new(NULL);

        if (n && JSON_NODE_HOLDS_ARRAY(n)) {
                JsonArray *a = json_node_get_array(n);

                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonNode *e = json_array_get_element(a, i);

                        if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
                                g_string_append_printf(s, "%s%s", s->len ? "," : "", json_node_get_string(e));
                }
        }
        return s->len ? g_strdup_printf(" (%s)", s->str) : g_strdup("");
}

/* Calls METHOD.  On success *ret_result points into *ret_reply; with
 * --json the result has been printed already and *ret_result is NULL.
 * Returns the exit status. */
static int query(const char *method, JsonNode *params, JsonObject **ret_reply, JsonObject **ret_result) {
        int ex = VSIMIG_EXIT_OK;
        JsonObject *r;

        *ret_result = NULL;
        *ret_reply = call(method, params, &ex);
        if (!*ret_reply || !(r = result_of(*ret_reply, &ex)))
                return ex;
        if (opt_json)
                print_json(json_object_get_member(*ret_reply, "result"));
        else
                *ret_result = r;
        return VSIMIG_EXIT_OK;
}

/* "main loop: longest dispatch 812 us (since reset 95 us, 12 s), 10234 dispatches, mean 18 us"
 * and the non-empty histogram buckets. */
static void print_loop(JsonObject *lp) {
        JsonObject *sr = json_object_has_member(lp, "since_reset") &&
                                         JSON_NODE_HOLDS_OBJECT(json_object_get_member(lp, "since_reset"))
                                 ? json_object_get_object_member(lp, "since_reset")
                                 : NULL;
        JsonArray *h = json_object_has_member(lp, "histogram") &&
                                       JSON_NODE_HOLDS_ARRAY(json_object_get_member(lp, "histogram"))
                               ? json_object_get_array_member(lp, "histogram")
                               : NULL;

        printf("main loop: longest dispatch %" G_GINT64_FORMAT " us", int_or(lp, "max_dispatch_us", 0));
        if (sr)
                printf(" (since reset %" G_GINT64_FORMAT " us, %" G_GINT64_FORMAT " s ago)",
                       int_or(sr, "max_dispatch_us", 0), int_or(sr, "seconds", 0));
        printf(", %" G_GINT64_FORMAT " dispatches, mean %" G_GINT64_FORMAT " us\n", int_or(lp, "dispatches", 0),
               int_or(lp, "mean_dispatch_us", 0));
        if (!h)
                return;
        printf("  dispatch histogram:");
        for (guint i = 0; i < json_array_get_length(h); i++) {
                JsonNode *n = json_array_get_element(h, i);
                JsonObject *e;

                if (!JSON_NODE_HOLDS_OBJECT(n))
                        continue;
                e = json_node_get_object(n);
                if (int_or(e, "count", 0) == 0)
                        continue;
                if (json_object_has_member(e, "lt_us"))
                        printf(" <%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, int_or(e, "lt_us", 0), int_or(e, "count", 0));
                else
                        printf(" >=%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, int_or(e, "ge_us", 0),
                               int_or(e, "count", 0));
        }
        printf(" (us:count)\n");
}

static int cmd_loop_reset(void) {
        g_autoptr(JsonObject) reply = NULL;
        JsonObject *r;
        int ex = query(VSIMIG_METHOD_LOOP_RESET, NULL, &reply, &r);

        if (!r)
                return ex;
        printf("main-loop statistics reset; longest dispatch since the previous reset was %" G_GINT64_FORMAT
               " us\n", int_or(r, "loop_max_dispatch_since_reset_us", 0));
        return VSIMIG_EXIT_OK;
}

static int cmd_status(void) {
        g_autoptr(JsonObject) reply = NULL;
        JsonObject *r, *lv, *carry;
        JsonArray *ups;
        int ex = query(VSIMIG_METHOD_STATUS, NULL, &reply, &r);

        if (!r)
                return ex;
        printf("vsimigd %s (pid %" G_GINT64_FORMAT "), up %" G_GINT64_FORMAT " s, manager-id %s\n",
               str_or(r, "version", "?"), int_or(r, "pid", 0), int_or(r, "uptime_s", 0),
               str_or(r, "manager_id", "?"));
        if (json_object_has_member(r, "loop") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(r, "loop")))
                print_loop(json_object_get_object_member(r, "loop"));
        ups = json_object_get_array_member(r, "uplinks");
        for (guint i = 0; ups && i < json_array_get_length(ups); i++) {
                JsonObject *u = json_array_get_object_element(ups, i);
                JsonObject *br = NULL, *n = json_object_get_object_member(u, "counters");

                if (json_object_has_member(u, "bridge") &&
                    JSON_NODE_HOLDS_OBJECT(json_object_get_member(u, "bridge")))
                        br = json_object_get_object_member(u, "bridge");
                printf("uplink %s: %s", str_or(u, "name", "?"),
                       json_object_get_boolean_member_with_default(u, "up", FALSE) ? "up" : "DOWN");
                if (!json_object_get_boolean_member_with_default(u, "up", FALSE))
                        printf(" (%s)", str_or(u, "down_reason", "?"));
                printf(", mac %s, %" G_GINT64_FORMAT " VSI(s)\n", str_or(u, "mac", "?"), int_or(u, "vsis", 0));
                if (br)
                        printf("  bridge %s: R=%" G_GINT64_FORMAT " RTE=%" G_GINT64_FORMAT " RWD=%" G_GINT64_FORMAT
                               " RKA=%" G_GINT64_FORMAT ", last LLDP %" G_GINT64_FORMAT " ms ago\n",
                               str_or(br, "mac", "?"), int_or(br, "r", 0), int_or(br, "rte", 0),
                               int_or(br, "rwd", 0), int_or(br, "rka", 0), int_or(br, "last_lldp_ms_ago", 0));
                else
                        printf("  bridge: no EVB LLDP seen yet\n");
                if (n)
                        printf("  ecp: %" G_GINT64_FORMAT " requests sent (%" G_GINT64_FORMAT " retries, %" G_GINT64_FORMAT
                               " unacked), %" G_GINT64_FORMAT " acks in; %" G_GINT64_FORMAT " requests in (%" G_GINT64_FORMAT
                               " duplicates); %" G_GINT64_FORMAT " bad frames\n",
                               int_or(n, "tx_ecp_requests", 0), int_or(n, "tx_ecp_retries", 0),
                               int_or(n, "tx_ecp_failures", 0), int_or(n, "rx_ecp_acks", 0),
                               int_or(n, "rx_ecp_requests", 0), int_or(n, "rx_ecp_duplicates", 0),
                               int_or(n, "rx_bad", 0));
                if (n)
                        printf("  vdp: %" G_GINT64_FORMAT " bridge de-associate(s), %" G_GINT64_FORMAT
                               " re-associate(s) sent, %" G_GINT64_FORMAT " ok; %" G_GINT64_FORMAT
                               " request(s) queued, %" G_GINT64_FORMAT " withdrawn\n",
                               int_or(n, "vdp_bridge_deassoc", 0), int_or(n, "vdp_repairs", 0),
                               int_or(n, "vdp_repaired", 0), int_or(n, "vdp_queued", 0),
                               int_or(n, "vdp_withdrawn", 0));
        }
        if (json_object_has_member(r, "qbg_agent") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(r, "qbg_agent"))) {
                JsonObject *q = json_object_get_object_member(r, "qbg_agent");
                JsonObject *c = json_object_get_object_member(q, "counters");
                JsonArray *vs = json_object_get_array_member(q, "vsis");

                printf("802.1Qbg agent for libvirt: netlink port %" G_GINT64_FORMAT " %s, pid file %s %s, "
                       "libvirt event port ",
                       int_or(q, "port", 0), json_object_get_boolean_member_with_default(q, "bound", FALSE) ? "bound" : "CLOSED",
                       str_or(q, "pid_file", "?"),
                       json_object_get_boolean_member_with_default(q, "pid_file_ok", FALSE) ? "ok" : "NOT OURS");
                if (JSON_NODE_HOLDS_NULL(json_object_get_member(q, "requester_port")))
                        printf("unknown\n");
                else
                        printf("%" G_GINT64_FORMAT "\n", int_or(q, "requester_port", 0));
                if (c) {
                        printf("  requests: %" G_GINT64_FORMAT " preassociate, %" G_GINT64_FORMAT " associate, %"
                               G_GINT64_FORMAT " disassociate, %" G_GINT64_FORMAT " getlink (%" G_GINT64_FORMAT
                               " held for the bridge); %" G_GINT64_FORMAT " de-associate notice(s) to libvirt\n",
                               int_or(c, "preassociate", 0) + int_or(c, "preassociate_rr", 0), int_or(c, "associate", 0),
                               int_or(c, "disassociate", 0), int_or(c, "getlink", 0), int_or(c, "getlink_held", 0),
                               int_or(c, "deassociate_notices", 0));
                        printf("  refused: %" G_GINT64_FORMAT " malformed, %" G_GINT64_FORMAT " invalid, %" G_GINT64_FORMAT
                               " not root, %" G_GINT64_FORMAT " no such uplink, %" G_GINT64_FORMAT " EVB not negotiated, %"
                               G_GINT64_FORMAT " over limit; %" G_GINT64_FORMAT " send error(s), pid file put back %"
                               G_GINT64_FORMAT " time(s)\n",
                               int_or(c, "err_malformed", 0), int_or(c, "err_invalid", 0), int_or(c, "err_not_root", 0),
                               int_or(c, "err_no_such_uplink", 0), int_or(c, "err_evb_not_negotiated", 0),
                               int_or(c, "err_limit", 0), int_or(c, "err_send", 0), int_or(c, "pid_file_reasserted", 0));
                }
                printf("  %u VSI(s) asked for by libvirt\n", vs ? json_array_get_length(vs) : 0);
        }
        lv = json_object_has_member(r, "libvirt") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(r, "libvirt"))
                     ? json_object_get_object_member(r, "libvirt")
                     : NULL;
        carry = lv && json_object_has_member(lv, "carry") ? json_object_get_object_member(lv, "carry") : NULL;
        if (carry) {
                JsonObject *peer = json_object_has_member(carry, "peer") &&
                                                   JSON_NODE_HOLDS_OBJECT(json_object_get_member(carry, "peer"))
                                           ? json_object_get_object_member(carry, "peer")
                                           : NULL;

                printf("state carry: learning %s on %" G_GINT64_FORMAT " tap(s), replay %s; peer listener %s\n",
                       json_object_get_boolean_member_with_default(carry, "learning", FALSE) ? "on" : "off",
                       int_or(carry, "taps", 0),
                       json_object_get_boolean_member_with_default(carry, "replay", FALSE) ? "on" : "off",
                       peer ? str_or(peer, "listen", "?") : "none");
                printf("  %" G_GINT64_FORMAT " switchover(s) sent, %" G_GINT64_FORMAT " received; %" G_GINT64_FORMAT
                       " replay(s) (%" G_GINT64_FORMAT " late), %" G_GINT64_FORMAT " frame(s); %" G_GINT64_FORMAT
                       " peer(s) refused\n",
                       int_or(carry, "switchovers_sent", 0), int_or(carry, "switchovers_received", 0),
                       int_or(carry, "replays", 0), int_or(carry, "replays_late", 0), int_or(carry, "replay_frames", 0),
                       int_or(carry, "peer_rejects", 0));
                printf("  peer authentication: %" G_GINT64_FORMAT " origin(s) failed it, %" G_GINT64_FORMAT
                       " early switchover(s) refused, %" G_GINT64_FORMAT " channel(s) not opened (no key/TLS)\n",
                       int_or(carry, "peer_auth_failures", 0), int_or(carry, "switchovers_refused", 0),
                       int_or(carry, "peer_not_opened", 0));
                if (peer)
                        printf("  listener (%s%s%s): %" G_GINT64_FORMAT " connection(s), %" G_GINT64_FORMAT
                               " authenticated; refused: %" G_GINT64_FORMAT " not authorized, %" G_GINT64_FORMAT
                               " version 1, %" G_GINT64_FORMAT " per address, %" G_GINT64_FORMAT " over capacity, %"
                               G_GINT64_FORMAT " handshake timeout(s)\n",
                               json_object_get_boolean_member_with_default(peer, "key", FALSE) ? "key" : "",
                               json_object_get_boolean_member_with_default(peer, "tls", FALSE) ? " tls" : "",
                               json_object_get_boolean_member_with_default(peer, "insecure", FALSE) ? " INSECURE" : "",
                               int_or(peer, "connections", 0), int_or(peer, "authorized", 0),
                               int_or(peer, "rejected_auth", 0), int_or(peer, "rejected_v1", 0),
                               int_or(peer, "rejected_per_address", 0), int_or(peer, "over_capacity", 0),
                               int_or(peer, "hello_timeouts", 0));
                if (peer && g_strcmp0(str_or(peer, "listener", "up"), "down") == 0)
                        printf("  listener down: %s (%" G_GINT64_FORMAT " bind retr%s, retrying)\n",
                               str_or(peer, "bind_error", "?"), int_or(peer, "bind_retries", 0),
                               int_or(peer, "bind_retries", 0) == 1 ? "y" : "ies");
        }
        return VSIMIG_EXIT_OK;
}

static int cmd_vdp_list(void) {
        g_autoptr(JsonObject) reply = NULL;
        JsonObject *r;
        JsonArray *vsis;
        int ex = query(VSIMIG_METHOD_VDP_LIST, NULL, &reply, &r);

        if (!r)
                return ex;
        vsis = json_object_get_array_member(r, "vsis");
        printf("%-8s %-36s %-17s %4s %-17s %s\n", "UPLINK", "INSTANCE", "MAC", "VLAN", "STATE", "LAST RESPONSE");
        for (guint i = 0; vsis && i < json_array_get_length(vsis); i++) {
                JsonObject *v = json_array_get_object_element(vsis, i);
                g_autofree char *last = NULL;

                if (json_object_has_member(v, "last") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(v, "last"))) {
                        JsonObject *l = json_object_get_object_member(v, "last");
                        g_autofree char *fl = flags_text(l);

                        last = g_strdup_printf("%s%s %s, %" G_GINT64_FORMAT " s ago", str_or(l, "request", "?"), fl,
                                               str_or(l, "result", "?"), int_or(l, "age_ms", 0) / 1000);
                } else {
                        last = g_strdup("-");
                }
                printf("%-8s %-36s %-17s %4" G_GINT64_FORMAT " %-17s %s%s%s\n", str_or(v, "uplink", "?"),
                       str_or(v, "instance", "?"), str_or(v, "mac", "?"), int_or(v, "vlan", 0),
                       str_or(v, "state", "?"), last,
                       str_or(v, "pending", NULL) ? "; pending " : "", str_or(v, "pending", ""));
        }
        return VSIMIG_EXIT_OK;
}

static int cmd_vdp_request(const char *request) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonObject) reply = NULL;
        g_autofree char *fl = NULL;
        JsonObject *r;
        int ex = VSIMIG_EXIT_OK;
        const char *result;

        if (!opt_uplink || !opt_mac || !opt_instance || opt_type_id < 0)
                return die_usage("vdp %s needs --uplink, --mac, --type-id and --instance", request);
        if (opt_type_id > 0xffffff || opt_vlan > 4094 || opt_type_version < 0 || opt_type_version > 255)
                return die_usage("--type-id, --type-version or --vlan out of range");
        if (opt_migrated_to && opt_suspended)
                return die_usage("--migrated-to and --suspended exclude each other");

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "request");
        json_builder_add_string_value(b, request);
        json_builder_set_member_name(b, "uplink");
        json_builder_add_string_value(b, opt_uplink);
        json_builder_set_member_name(b, "mac");
        json_builder_add_string_value(b, opt_mac);
        if (opt_vlan >= 0) {
                json_builder_set_member_name(b, "vlan");
                json_builder_add_int_value(b, opt_vlan);
        }
        json_builder_set_member_name(b, "type_id");
        json_builder_add_int_value(b, opt_type_id);
        json_builder_set_member_name(b, "type_version");
        json_builder_add_int_value(b, opt_type_version);
        json_builder_set_member_name(b, "instance");
        json_builder_add_string_value(b, opt_instance);
        if (opt_manager) {
                json_builder_set_member_name(b, "manager");
                json_builder_add_string_value(b, opt_manager);
        }
        json_builder_set_member_name(b, "flags");
        json_builder_begin_array(b);
        if (opt_migrated_to)
                json_builder_add_string_value(b, "migrated-to");
        if (opt_suspended)
                json_builder_add_string_value(b, "suspended");
        json_builder_end_array(b);
        json_builder_end_object(b);

        reply = call(VSIMIG_METHOD_VDP_REQUEST, json_builder_get_root(b), &ex);
        if (!reply)
                return ex;
        r = result_of(reply, &ex);
        if (!r)
                return ex;
        result = str_or(r, "result", "?");
        if (opt_json) {
                print_json(json_object_get_member(reply, "result"));
        } else {
                fl = flags_text(r);
                if (g_str_equal(result, "ok"))
                        printf("%s%s VSI %s on %s: ok in %.2f ms, state %s\n", request, fl, str_or(r, "instance", "?"),
                               str_or(r, "uplink", "?"), (double) int_or(r, "rtt_us", 0) / 1000.0,
                               str_or(r, "state", "?"));
                else if (int_or(r, "error", -1) >= 0)
                        printf("%s%s VSI %s on %s: %s (bridge error %" G_GINT64_FORMAT ", status 0x%02" G_GINT64_MODIFIER
                               "x%s), state %s\n", request, fl, str_or(r, "instance", "?"), str_or(r, "uplink", "?"),
                               result, int_or(r, "error", 0), int_or(r, "status", 0),
                               json_object_get_boolean_member_with_default(r, "hard_error", FALSE) ? ", hard error" : "",
                               str_or(r, "state", "?"));
                else
                        printf("%s%s VSI %s on %s: %s (no answer from the bridge), state %s\n", request, fl,
                               str_or(r, "instance", "?"), str_or(r, "uplink", "?"), result, str_or(r, "state", "?"));
        }
        return g_str_equal(result, "ok") ? VSIMIG_EXIT_OK : VSIMIG_EXIT_FAILED;
}

static int cmd_domains(void) {
        g_autoptr(JsonObject) reply = NULL;
        JsonObject *r;
        JsonArray *doms;
        int ex = query(VSIMIG_METHOD_DOMAINS, NULL, &reply, &r);

        if (!r)
                return ex;
        doms = json_object_get_array_member(r, "domains");
        printf("%-20s %-36s %-7s %-12s %-15s %s\n", "DOMAIN", "UUID", "ACTIVE", "ROLE", "PHASE", "VNICS");
        for (guint i = 0; doms && i < json_array_get_length(doms); i++) {
                JsonObject *d = json_array_get_object_element(doms, i);
                JsonArray *nics = json_object_get_array_member(d, "nics");
                g_autoptr(GString) ns = g_string_new(NULL);

                for (guint j = 0; nics && j < json_array_get_length(nics); j++) {
                        JsonObject *n = json_array_get_object_element(nics, j);

                        g_string_append_printf(ns, "%s%s@%s", j ? " " : "", str_or(n, "mac", "?"),
                                               str_or(n, "bridge", str_or(n, "network", "?")));
                }
                printf("%-20s %-36s %-7s %-12s %-15s %s\n", str_or(d, "name", "?"), str_or(d, "uuid", "?"),
                       json_object_get_boolean_member_with_default(d, "active", FALSE) ? "yes" : "no",
                       str_or(d, "role", "?"), str_or(d, "phase", "?"), ns->len ? ns->str : "-");
        }
        return VSIMIG_EXIT_OK;
}

/* One carried/learned vNIC state (daemon/netstate.h JSON) on a line. */
static void print_nic_state(const char *indent, JsonObject *n) {
        JsonObject *cid = json_object_has_member(n, "client_id") ? json_object_get_object_member(n, "client_id") : NULL;
        JsonObject *lease = json_object_has_member(n, "lease") &&
                                            JSON_NODE_HOLDS_OBJECT(json_object_get_member(n, "lease"))
                                    ? json_object_get_object_member(n, "lease")
                                    : NULL;
        JsonArray *groups = json_object_has_member(n, "groups") ? json_object_get_array_member(n, "groups") : NULL;
        const char *fams[] = { "ip4", "ip6" };

        printf("%svNIC %s%s%s: ", indent, str_or(n, "mac", "?"), json_object_has_member(n, "tap") ? " on " : "",
               str_or(n, "tap", ""));
        if (lease)
                printf("lease %s (%" G_GINT64_FORMAT " s)", str_or(lease, "address", "?"), int_or(lease, "lease_time", 0));
        else
                printf("no lease");
        printf(", client-id %s%s%s", cid ? str_or(cid, "state", "?") : "?", cid && json_object_has_member(cid, "value") ? " " : "",
               cid ? str_or(cid, "value", "") : "");
        printf("\n%s  groups:", indent);
        if (!groups || json_array_get_length(groups) == 0)
                printf(" none");
        for (guint i = 0; groups && i < json_array_get_length(groups); i++) {
                JsonObject *g = json_array_get_object_element(groups, i);

                printf(" %s (%s %s)", str_or(g, "address", "?"), str_or(g, "version", "?"), str_or(g, "mode", "?"));
        }
        printf("\n%s  addresses:", indent);
        for (guint f = 0; f < G_N_ELEMENTS(fams); f++) {
                JsonArray *a = json_object_has_member(n, fams[f]) ? json_object_get_array_member(n, fams[f]) : NULL;

                for (guint i = 0; a && i < json_array_get_length(a); i++)
                        printf(" %s", json_array_get_string_element(a, i));
        }
        printf("\n");
        if (json_object_has_member(n, "provenance") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(n, "provenance"))) {
                JsonObject *p = json_object_get_object_member(n, "provenance");

                printf("%s  not owned: %" G_GINT64_FORMAT " claims by the guest, %" G_GINT64_FORMAT
                       " taken by another MAC, %" G_GINT64_FORMAT " held by another MAC, %" G_GINT64_FORMAT
                       " outside nwfilter; %" G_GINT64_FORMAT " link-local group reports ignored\n",
                       indent, int_or(p, "claims_ignored", 0), int_or(p, "contradicted", 0),
                       int_or(p, "refused_claimed", 0), int_or(p, "refused_nwfilter", 0),
                       int_or(p, "link_local_groups", 0));
        }
}

static void print_carry(JsonObject *c) {
        JsonArray *learned = json_object_get_array_member(c, "learned");
        JsonObject *in = json_object_has_member(c, "incoming") &&
                                         JSON_NODE_HOLDS_OBJECT(json_object_get_member(c, "incoming"))
                                 ? json_object_get_object_member(c, "incoming")
                                 : NULL;

        printf("\nnetwork state (generation %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT " <metadata> write(s)):\n",
               int_or(c, "generation", 0), int_or(c, "metadata_writes", 0));
        for (guint i = 0; learned && i < json_array_get_length(learned); i++)
                print_nic_state("  ", json_array_get_object_element(learned, i));
        if (in) {
                JsonArray *nics = json_object_get_array_member(in, "nics");

                printf("  incoming from %s: peer %s, switchover %s, replay %s (%" G_GINT64_FORMAT " frame(s)%s)\n",
                       str_or(in, "origin", "no origin"), str_or(c, "peer", "?"),
                       json_object_get_boolean_member_with_default(c, "switchover_received", FALSE) ? "received"
                                                                                                   : "not received",
                       json_object_get_boolean_member_with_default(c, "replayed", FALSE) ? "done" : "not done",
                       int_or(c, "replay_frames", 0),
                       json_object_get_boolean_member_with_default(c, "replay_late", FALSE) ? ", late" : "");
                for (guint i = 0; nics && i < json_array_get_length(nics); i++)
                        print_nic_state("    ", json_array_get_object_element(nics, i));
        } else if (json_object_get_boolean_member_with_default(c, "replayed", FALSE)) {
                printf("  last replay here: %" G_GINT64_FORMAT " frame(s)%s", int_or(c, "replay_frames", 0),
                       json_object_get_boolean_member_with_default(c, "replay_late", FALSE) ? ", late" : "");
                if (json_object_has_member(c, "suspended_to_last_frame_ms"))
                        printf(", last frame %.2f ms after the source's SUSPENDED",
                               json_object_get_double_member(c, "suspended_to_last_frame_ms"));
                if (json_object_has_member(c, "last_frame_before_resumed_ms"))
                        printf(", %.2f ms before RESUMED", json_object_get_double_member(c, "last_frame_before_resumed_ms"));
                printf("\n");
        }
}

/* show: each vNIC's way out (kind, uplink, VID and where it came from). */
static void print_nics(JsonArray *nics) {
        for (guint i = 0; nics && i < json_array_get_length(nics); i++) {
                JsonObject *n = json_array_get_object_element(nics, i);
                JsonNode *vid = json_object_has_member(n, "vid") ? json_object_get_member(n, "vid") : NULL;
                g_autofree char *vid_text = NULL;

                if (i == 0)
                        printf("\nvNICs:\n");
                if (vid && JSON_NODE_HOLDS_VALUE(vid) && json_node_get_value_type(vid) == G_TYPE_INT64)
                        vid_text = g_strdup_printf("%" G_GINT64_FORMAT " (%s)", json_node_get_int(vid),
                                                   str_or(n, "vid_source", "?"));
                else if (vid && JSON_NODE_HOLDS_VALUE(vid))
                        vid_text = g_strdup_printf("%s (%s)", json_node_get_string(vid), str_or(n, "vid_source", "?"));
                else
                        vid_text = g_strdup_printf("%s: %s", str_or(n, "vid_state", "unknown"),
                                                   str_or(n, "vid_why", "?"));
                printf("  %s %s on %s, uplink %s, vid %s\n", str_or(n, "mac", "?"), str_or(n, "kind", "?"),
                       str_or(n, "target", "-"), str_or(n, "uplink", str_or(n, "uplink_why", "?")), vid_text);
        }
}

static int cmd_show(const char *domain) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonObject) reply = NULL;
        JsonObject *r;
        JsonArray *tls;
        int ex;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "domain");
        json_builder_add_string_value(b, domain);
        json_builder_end_object(b);
        ex = query(VSIMIG_METHOD_SHOW, json_builder_get_root(b), &reply, &r);
        if (!r)
                return ex;
        printf("%s (%s): %s, role %s, phase %s\n", str_or(r, "name", "?"), str_or(r, "uuid", "?"),
               json_object_get_boolean_member_with_default(r, "active", FALSE) ? "active" : "not active here",
               str_or(r, "role", "?"), str_or(r, "phase", "?"));
        tls = json_object_get_array_member(r, "timelines");
        for (guint i = 0; tls && i < json_array_get_length(tls); i++) {
                JsonObject *t = json_array_get_object_element(tls, i);
                JsonArray *es = json_object_get_array_member(t, "entries");
                g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(
                        (gint64) json_object_get_double_member_with_default(t, "start", 0));
                g_autofree char *when = dt ? g_date_time_format(dt, "%F %T") : g_strdup("?");

                printf("\ntimeline %u (%s), started %s:\n", i + 1, str_or(t, "role", "?"), when);
                for (guint j = 0; es && j < json_array_get_length(es); j++) {
                        JsonObject *e = json_array_get_object_element(es, j);

                        printf("  %+10.1f ms  %s\n", json_object_get_double_member_with_default(e, "ms", 0),
                               str_or(e, "text", ""));
                }
        }
        print_nics(json_object_has_member(r, "nics") ? json_object_get_array_member(r, "nics") : NULL);
        if (json_object_has_member(r, "carry") && JSON_NODE_HOLDS_OBJECT(json_object_get_member(r, "carry")))
                print_carry(json_object_get_object_member(r, "carry"));
        return VSIMIG_EXIT_OK;
}

static int cmd_monitor(void) {
        g_autoptr(JsonObject) reply = NULL;
        g_autoptr(GSocket) sock = NULL;
        g_autoptr(GString) buf = NULL;
        int ex = VSIMIG_EXIT_OK;

        reply = call_full(VSIMIG_METHOD_MONITOR, NULL, 0, &sock, &buf, &ex, FALSE);
        if (!reply || !result_of(reply, &ex))
                return ex;
        g_socket_set_timeout(sock, 0);
        if (!opt_json)
                fprintf(stderr, "monitoring vsimigd (Ctrl-C to stop)\n");
        for (;;) {
                g_autoptr(GError) error = NULL;
                g_autoptr(JsonObject) msg = read_reply(sock, buf, &ex, &error);
                JsonObject *e;

                if (!msg) {
                        fprintf(stderr, "vsimigctl: monitor ended: %s\n", error ? error->message : "?");
                        return ex;
                }
                if (!json_object_has_member(msg, "event") ||
                    !JSON_NODE_HOLDS_OBJECT(json_object_get_member(msg, "event")))
                        continue;
                e = json_object_get_object_member(msg, "event");
                if (opt_json) {
                        g_autoptr(JsonGenerator) gen = json_generator_new();
                        g_autofree char *s = NULL;

                        json_generator_set_root(gen, json_object_get_member(msg, "event"));
                        s = json_generator_to_data(gen, NULL);
                        printf("%s\n", s);
                } else {
                        gint64 us = (gint64) (json_object_get_double_member_with_default(e, "time", 0) * 1e6);
                        g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(us / G_USEC_PER_SEC);
                        g_autofree char *when = dt ? g_date_time_format(dt, "%T") : g_strdup("?");

                        printf("%s.%03d %s [%s/%s] %s\n", when, (int) ((us / 1000) % 1000), str_or(e, "domain", "?"),
                               str_or(e, "role", "?"), str_or(e, "phase", "?"), str_or(e, "text", ""));
                }
                fflush(stdout);
        }
}

/* The libvirt hook: forward (domain, op, subop, extra) and the XML on
 * stdin.  Never calls libvirt, never blocks longer than the timeout, and
 * exits 0 unless it vetoes ([hook] veto = true and the daemon is not
 * reachable at "migrate begin"). */
static int cmd_hook(int argc, char **argv, const char *config_path) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonObject) reply = NULL;
        g_autoptr(GString) xml = g_string_new(NULL);
        gboolean veto = FALSE, too_big = FALSE;
        guint timeout_ms = 2000;
        int ex = VSIMIG_EXIT_OK;
        JsonObject *r;

        if (argc < 3 || argc > 4)
                return die_usage("hook needs DOMAIN OP SUBOP [EXTRA]");
        if (strlen(argv[0]) > 255 || strlen(argv[1]) > 64 || strlen(argv[2]) > 64 ||
            (argc == 4 && strlen(argv[3]) > 4096)) {
                fprintf(stderr, "vsimigctl hook: argument too long, ignored\n");
                return VSIMIG_EXIT_OK;
        }
        if (g_key_file_load_from_file(kf, config_path, G_KEY_FILE_NONE, NULL)) {
                g_autoptr(GError) e = NULL;
                gint t;

                veto = g_key_file_get_boolean(kf, "hook", "veto", NULL);
                t = g_key_file_get_integer(kf, "hook", "timeout-ms", &e);
                if (!e && t >= 100 && t <= 30000)
                        timeout_ms = (guint) t;
                if (!opt_socket)
                        opt_socket = g_key_file_get_string(kf, "control", "socket", NULL);
        }
        /* stdin: the domain XML, capped; the rest is drained and dropped. */
        if (!isatty(0)) {
                char chunk[65536];
                size_t n;

                while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
                        if (xml->len + n > VSIMIG_HOOK_XML_MAX)
                                too_big = TRUE;
                        if (!too_big)
                                g_string_append_len(xml, chunk, (gssize) n);
                }
        }
        if (too_big) {
                fprintf(stderr, "vsimigctl hook: domain XML over %d octets, not forwarded\n", VSIMIG_HOOK_XML_MAX);
                g_string_truncate(xml, 0);
        }
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "domain");
        json_builder_add_string_value(b, argv[0]);
        json_builder_set_member_name(b, "op");
        json_builder_add_string_value(b, argv[1]);
        json_builder_set_member_name(b, "subop");
        json_builder_add_string_value(b, argv[2]);
        json_builder_set_member_name(b, "extra");
        json_builder_add_string_value(b, argc == 4 ? argv[3] : "-");
        if (xml->len > 0 && g_utf8_validate(xml->str, (gssize) xml->len, NULL)) {
                json_builder_set_member_name(b, "xml");
                json_builder_add_string_value(b, xml->str);
        }
        json_builder_end_object(b);

        reply = call_full(VSIMIG_METHOD_HOOK, json_builder_get_root(b), timeout_ms, NULL, NULL, &ex, TRUE);
        if (!reply) {
                if (veto && g_str_equal(argv[1], "migrate") && g_str_equal(argv[2], "begin")) {
                        fprintf(stderr, "vsimig: vsimigd is not reachable; refusing the migration of %s "
                                        "([hook] veto = true)\n", argv[0]);
                        return 1;
                }
                fprintf(stderr, "vsimig: warning: vsimigd is not reachable (%s %s %s); continuing\n",
                        argv[0], argv[1], argv[2]);
                return VSIMIG_EXIT_OK;
        }
        r = json_object_has_member(reply, "result") ? json_object_get_object_member(reply, "result") : NULL;
        if (!r) {
                JsonObject *err = json_object_has_member(reply, "error") ?
                        json_object_get_object_member(reply, "error") : NULL;

                fprintf(stderr, "vsimig: warning: vsimigd refused the hook call: %s\n",
                        err ? json_object_get_string_member_with_default(err, "message", "?") : "?");
        }
        return VSIMIG_EXIT_OK;
}

JsonObject *vsm_ctl_request(const char *socket_path, const char *method, guint timeout_ms, char **ret_error) {
        g_autoptr(JsonObject) reply = NULL;
        char *saved = opt_socket;
        int ex = VSIMIG_EXIT_OK;
        JsonNode *n;

        opt_socket = (char *) socket_path;
        reply = call_full(method, NULL, timeout_ms, NULL, NULL, &ex, TRUE);
        opt_socket = saved;
        if (!reply) {
                *ret_error = ex == VSIMIG_EXIT_UNREACHABLE ?
                        g_strdup_printf("cannot connect to %s (or no answer within %u ms)", socket_path, timeout_ms) :
                        g_strdup("bad reply");
                return NULL;
        }
        n = json_object_get_member(reply, "result");
        if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
                JsonNode *e = json_object_get_member(reply, "error");
                const char *msg = e && JSON_NODE_HOLDS_OBJECT(e) ?
                        str_or(json_node_get_object(e), "message", "?") : "reply without a result";

                *ret_error = g_strdup_printf("vsimigd refused %s: %.200s", method, msg);
                return NULL;
        }
        return json_object_ref(json_node_get_object(n));
}

static int cmd_check(void) {
        static const char *const libvirtd_pidfiles[] = { "/run/libvirtd.pid", "/run/virtqemud.pid", NULL };
        const VsmCheckOptions o = {
                .config_path = opt_config ? opt_config : VSIMIG_DEFAULT_CONFIG,
                .socket_path = opt_socket,
                .hook_path = VSIMIG_LIBVIRT_HOOK,
                .libvirtd_pidfiles = libvirtd_pidfiles,
                .lldpad_pidfile = "/run/lldpad.pid",
                .timeout_ms = (guint) CLAMP(opt_timeout, 1, 10) * 1000,
        };
        g_autoptr(VsmCheckReport) r = vsm_check_run(&o);

        if (opt_json) {
                g_autoptr(JsonNode) node = vsm_check_report_json(r);

                print_json(node);
        } else {
                g_autofree char *text = vsm_check_report_text(r);

                fputs(text, stdout);
        }
        return vsm_check_report_exit(r);
}

/* peer-key new PATH: the cluster secret of [peer] key-file, 32 octets
 * from getrandom(), in a file created 0600 with O_EXCL (an existing file
 * is never replaced).  Copy it to every compute node. */
static int cmd_peer_key_new(const char *path) {
        guint8 key[32];
        gsize got = 0, done = 0;
        int fd, e = 0;

        while (got < sizeof(key)) {
                ssize_t n = getrandom(key + got, sizeof(key) - got, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        fprintf(stderr, "vsimigctl: getrandom: %s\n", g_strerror(errno));
                        return VSIMIG_EXIT_FAILED;
                }
                got += (gsize) n;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                e = errno;
                explicit_bzero(key, sizeof(key));
                fprintf(stderr, "vsimigctl: cannot create %s: %s\n", path, g_strerror(e));
                return VSIMIG_EXIT_FAILED;
        }
        while (done < sizeof(key) && !e) {
                ssize_t n = write(fd, key + done, sizeof(key) - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        e = n < 0 ? errno : EIO;
                else
                        done += (gsize) n;
        }
        explicit_bzero(key, sizeof(key));
        if (!e && fsync(fd) < 0)
                e = errno;
        if (close(fd) < 0 && !e)
                e = errno;
        if (e) {
                (void) unlink(path);
                fprintf(stderr, "vsimigctl: cannot write %s: %s\n", path, g_strerror(e));
                return VSIMIG_EXIT_FAILED;
        }
        printf("%s: new peer key (32 octets, mode 0600); copy it to every compute node and set [peer] key-file\n",
               path);
        return VSIMIG_EXIT_OK;
}

int main(int argc, char **argv) {
        g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARGS...]");
        GOptionGroup *vdp_group;
        g_autoptr(GError) error = NULL;
        gboolean version = FALSE;
        const GOptionEntry version_entry[] = {
                { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
                { NULL },
        };

        setlocale(LC_ALL, "");
        g_option_context_set_summary(ctx, "Control and inspect vsimigd, the vsimig daemon.");
        g_option_context_set_description(ctx, summary);
        g_option_context_add_main_entries(ctx, global_entries, NULL);
        g_option_context_add_main_entries(ctx, version_entry, NULL);
        vdp_group = g_option_group_new("vdp", "Options of 'vdp' requests:", "Show the options of vdp requests",
                                       NULL, NULL);
        g_option_group_add_entries(vdp_group, vdp_entries);
        g_option_context_add_group(ctx, vdp_group);

        /* The hook passes libvirt's arguments through untouched: do not let
         * GOption interpret them. */
        if (argc >= 2 && g_str_equal(argv[1], "hook"))
                return cmd_hook(argc - 2, argv + 2, VSIMIG_DEFAULT_CONFIG);
        if (argc >= 4 && (g_str_equal(argv[1], "--config") || g_str_equal(argv[1], "-c")) &&
            g_str_equal(argv[3], "hook"))
                return cmd_hook(argc - 4, argv + 4, argv[2]);
        if (!g_option_context_parse(ctx, &argc, &argv, &error))
                return die_usage("%s", error->message);
        if (version) {
                printf("vsimigctl %s\n", VSIMIG_VERSION);
                return VSIMIG_EXIT_OK;
        }
        if (argc < 2)
                return die_usage("no command given");
        /* --config names the daemon's socket too (unless --socket does). */
        if (opt_config && !opt_socket && !g_str_equal(argv[1], "check")) {
                g_autoptr(GKeyFile) kf = g_key_file_new();

                if (g_key_file_load_from_file(kf, opt_config, G_KEY_FILE_NONE, NULL))
                        opt_socket = g_key_file_get_string(kf, "control", "socket", NULL);
        }
        if (g_str_equal(argv[1], "status")) {
                if (argc != 2)
                        return die_usage("status takes no arguments");
                return cmd_status();
        }
        if (g_str_equal(argv[1], "domains")) {
                if (argc != 2)
                        return die_usage("domains takes no arguments");
                return cmd_domains();
        }
        if (g_str_equal(argv[1], "show")) {
                if (argc != 3)
                        return die_usage("show needs one DOMAIN (name or UUID)");
                return cmd_show(argv[2]);
        }
        if (g_str_equal(argv[1], "monitor")) {
                if (argc != 2)
                        return die_usage("monitor takes no arguments");
                return cmd_monitor();
        }
        if (g_str_equal(argv[1], "loop-reset")) {
                if (argc != 2)
                        return die_usage("loop-reset takes no arguments");
                return cmd_loop_reset();
        }
        if (g_str_equal(argv[1], "hook"))
                return die_usage("hook takes no options before it but --config FILE");
        if (g_str_equal(argv[1], "check")) {
                if (argc != 2)
                        return die_usage("check takes no arguments");
                return cmd_check();
        }
        if (g_str_equal(argv[1], "peer-key")) {
                if (argc != 4 || !g_str_equal(argv[2], "new"))
                        return die_usage("peer-key needs: new PATH");
                return cmd_peer_key_new(argv[3]);
        }
        if (g_str_equal(argv[1], "vdp")) {
                static const char *const requests[] = {
                        "pre-associate", "pre-associate-rr", "associate", "de-associate", NULL,
                };

                if (argc != 3)
                        return die_usage("vdp needs one of: list, pre-associate, pre-associate-rr, associate, de-associate");
                if (g_str_equal(argv[2], "list"))
                        return cmd_vdp_list();
                if (g_strv_contains(requests, argv[2]))
                        return cmd_vdp_request(argv[2]);
                return die_usage("unknown vdp command '%s'", argv[2]);
        }
        return die_usage("unknown command '%s'", argv[1]);
}

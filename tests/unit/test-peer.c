/* Unit tests for the peer channel (daemon/peer.c): the codec against
 * valid and hostile bodies, then real TCP on 127.0.0.1 (port 0) with the
 * listener, the connectors and raw hostile sockets in one GMainContext,
 * then TLS with two throwaway CAs made by openssl at test time. */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/peer.h"
#include "test-util.h"

#define DOM "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
#define DOM_UPPER "6F9619FF-8B86-D011-B42D-00CF4FC964FF"
#define DOM_OTHER "11111111-2222-3333-4444-555555555555"
#define TOKEN "0123456789abcdef0123456789abcdef"
#define TOKEN_BAD "ffffffffffffffffffffffffffffffff"

/* ---- log capture: peer.c warns on every rejection (G_DEBUG=fatal-warnings
 * would abort with the default writer) ---- */

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
        if (g_strcmp0(domain, "vsimigd") == 0 && !(level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))) {
                if (level & G_LOG_LEVEL_WARNING) {
                        n_warnings++;
                        g_test_message("warning: %s", message);
                } else if (g_test_verbose()) {
                        g_test_message("log: %s", message);
                }
                return G_LOG_WRITER_HANDLED;
        }
        if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) && !g_test_verbose())
                return G_LOG_WRITER_HANDLED;   /* GIO's GSocketClient traces */
        return g_log_writer_default(level, fields, n_fields, user_data);
}

static void quiet_log_handler(const char *domain, GLogLevelFlags level, const char *message, gpointer user_data) {
}

/* ---- helpers ---- */

static void nic_free(gpointer p) {
        vsm_nic_state_free(p);
}

static VsmNicState *make_nic(guint8 i) {
        const uint8_t mac[VSM_ETH_ALEN] = { 0x52, 0x54, 0x00, 0x12, 0x34, i };
        const uint8_t ip[4] = { 10, 77, 0, i };
        VsmNicState *nic = vsm_nic_state_new(mac);

        nic->hostname = g_strdup_printf("guest%u", i);
        g_array_append_vals(nic->ip4, ip, 1);
        return nic;
}

static GPtrArray *make_nics(guint n, guint8 first) {
        GPtrArray *nics = g_ptr_array_new_with_free_func(nic_free);

        for (guint i = 0; i < n; i++)
                g_ptr_array_add(nics, make_nic((guint8) (first + i)));
        return nics;
}

static VsmPeerMessage *make_msg(VsmPeerMessageType type, const char *domain, guint64 gen, guint n_nics) {
        VsmPeerMessage *m = g_new0(VsmPeerMessage, 1);

        m->type = type;
        if (domain)
                g_strlcpy(m->domain, domain, sizeof(m->domain));
        switch (type) {
        case VSM_PEER_MSG_HELLO:
                g_strlcpy(m->token, TOKEN, sizeof(m->token));
                break;
        case VSM_PEER_MSG_SWITCHOVER:
                m->suspended_at_real_usec = 1700000000123456;
                /* fall through */
        case VSM_PEER_MSG_STATE:
                m->generation = gen;
                m->nics = make_nics(n_nics, 1);
                break;
        case VSM_PEER_MSG_ERROR:
                m->reason = g_strdup("unknown domain");
                break;
        default:
                g_assert_not_reached();
        }
        return m;
}

static void assert_nics_equal(GPtrArray *a, GPtrArray *b) {
        g_assert_nonnull(a);
        g_assert_nonnull(b);
        g_assert_cmpuint(a->len, ==, b->len);
        for (guint i = 0; i < a->len; i++)
                g_assert_true(vsm_nic_state_equal(g_ptr_array_index(a, i), g_ptr_array_index(b, i)));
}

static void assert_msg_equal(const VsmPeerMessage *a, const VsmPeerMessage *b) {
        g_assert_cmpint(a->type, ==, b->type);
        g_assert_cmpstr(a->domain, ==, b->domain);
        g_assert_cmpstr(a->token, ==, b->token);
        g_assert_cmpuint(a->generation, ==, b->generation);
        g_assert_cmpint(a->suspended_at_real_usec, ==, b->suspended_at_real_usec);
        g_assert_cmpstr(a->reason, ==, b->reason);
        if (a->type == VSM_PEER_MSG_STATE || a->type == VSM_PEER_MSG_SWITCHOVER)
                assert_nics_equal(a->nics, b->nics);
        else
                g_assert_null(b->nics);
}

/* Body of a frame, checking its length prefix. */
static const char *frame_body(GBytes *frame, gsize *ret_len) {
        gsize size;
        const guint8 *p = g_bytes_get_data(frame, &size);
        guint32 len;

        g_assert_cmpuint(size, >, 4);
        len = (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
        g_assert_cmpuint(len, ==, size - 4);
        *ret_len = len;
        return (const char *) p + 4;
}

static gboolean decode_str(const char *s, VsmPeerMessage **ret, GError **error) {
        return vsm_peer_message_decode((const uint8_t *) s, strlen(s), ret, error);
}

/* ---- codec ---- */

static void test_type_names(void) {
        g_assert_cmpstr(vsm_peer_message_type_to_string(VSM_PEER_MSG_HELLO), ==, "hello");
        g_assert_cmpstr(vsm_peer_message_type_to_string(VSM_PEER_MSG_STATE), ==, "state");
        g_assert_cmpstr(vsm_peer_message_type_to_string(VSM_PEER_MSG_SWITCHOVER), ==, "switchover");
        g_assert_cmpstr(vsm_peer_message_type_to_string(VSM_PEER_MSG_ERROR), ==, "error");
        g_assert_cmpstr(vsm_peer_message_type_to_string(_VSM_PEER_MSG_MAX), ==, "invalid");
}

static void test_roundtrip(void) {
        static const struct {
                VsmPeerMessageType type;
                guint n_nics;
        } cases[] = {
                { VSM_PEER_MSG_HELLO, 0 },
                { VSM_PEER_MSG_STATE, 0 },
                { VSM_PEER_MSG_STATE, 3 },
                { VSM_PEER_MSG_SWITCHOVER, 0 },
                { VSM_PEER_MSG_SWITCHOVER, 2 },
                { VSM_PEER_MSG_ERROR, 0 },
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(VsmPeerMessage) m = make_msg(cases[i].type, cases[i].type == VSM_PEER_MSG_ERROR ? NULL : DOM,
                                                       42 + i, cases[i].n_nics);
                g_autoptr(VsmPeerMessage) back = NULL;
                g_autoptr(GError) error = NULL;
                g_autoptr(GBytes) frame = vsm_peer_message_encode(m);
                gsize len;
                const char *body;

                g_assert_nonnull(frame);
                body = frame_body(frame, &len);
                g_test_message("%s: %.*s", vsm_peer_message_type_to_string(m->type), (int) len, body);
                g_assert_true(vsm_peer_message_decode((const uint8_t *) body, len, &back, &error));
                g_assert_no_error(error);
                assert_msg_equal(m, back);
        }
}

/* The exact wire form (member order is part of it). */
static void test_wire(void) {
        static const struct {
                VsmPeerMessageType type;
                const char *json;
        } cases[] = {
                { VSM_PEER_MSG_HELLO,
                  "{\"type\":\"hello\",\"version\":1,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\"}" },
                { VSM_PEER_MSG_STATE,
                  "{\"type\":\"state\",\"domain\":\"" DOM "\",\"generation\":7,\"nics\":[]}" },
                { VSM_PEER_MSG_SWITCHOVER,
                  "{\"type\":\"switchover\",\"domain\":\"" DOM "\",\"generation\":7,\"nics\":[],"
                  "\"suspended_at\":1700000000123456}" },
                { VSM_PEER_MSG_ERROR, "{\"type\":\"error\",\"reason\":\"unknown domain\"}" },
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(VsmPeerMessage) m = make_msg(cases[i].type, cases[i].type == VSM_PEER_MSG_ERROR ? NULL : DOM,
                                                       7, 0);
                g_autoptr(GBytes) frame = vsm_peer_message_encode(m);
                g_autofree char *hex = NULL;
                g_autofree char *text = NULL;
                gsize len;
                const char *body = frame_body(frame, &len);

                text = g_strndup(body, len);
                g_assert_cmpstr(text, ==, cases[i].json);
                hex = vsm_test_to_hex(g_bytes_get_data(frame, NULL), 4);
                g_test_message("%s (prefix %s)", cases[i].json, hex);
        }
        {
                /* One NIC, as netstate.c writes it. */
                g_autoptr(VsmPeerMessage) m = make_msg(VSM_PEER_MSG_STATE, DOM, 8, 1);
                g_autoptr(GBytes) frame = vsm_peer_message_encode(m);
                gsize len;
                const char *body = frame_body(frame, &len);

                g_test_message("state with one NIC: %.*s", (int) len, body);
        }
}

static void test_normalize(void) {
        g_autoptr(VsmPeerMessage) m = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_true(decode_str("{\"token\":\"" TOKEN "\",\"domain\":\"" DOM_UPPER "\",\"version\":1,\"type\":\"hello\"}",
                                 &m, &error));
        g_assert_no_error(error);
        g_assert_cmpint(m->type, ==, VSM_PEER_MSG_HELLO);
        g_assert_cmpstr(m->domain, ==, DOM);
        g_assert_cmpstr(m->token, ==, TOKEN);
        g_clear_pointer(&m, vsm_peer_message_free);

        /* suspended_at is optional; whitespace is fine */
        g_assert_true(decode_str(" { \"type\" : \"switchover\", \"domain\":\"" DOM "\", \"generation\":0,\"nics\":[] }\n",
                                 &m, &error));
        g_assert_no_error(error);
        g_assert_cmpint(m->suspended_at_real_usec, ==, 0);
        g_assert_nonnull(m->nics);
        g_assert_cmpuint(m->nics->len, ==, 0);
        g_clear_pointer(&m, vsm_peer_message_free);

        g_assert_true(decode_str("{\"type\":\"state\",\"domain\":\"" DOM "\",\"generation\":9223372036854775807,\"nics\":[]}",
                                 &m, &error));
        g_assert_cmpuint(m->generation, ==, G_MAXINT64);
}

#define H(extra) "{\"type\":\"hello\"" extra "}"
#define HELLO_OK ",\"version\":1,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\""
#define S(extra) "{\"type\":\"state\"" extra "}"
#define STATE_OK ",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":[]"
#define W(extra) "{\"type\":\"switchover\"" extra "}"

static const char *const hostile_bodies[] = {
        "not json",
        "[]",
        "[{\"type\":\"hello\"}]",
        "\"hello\"",
        "42",
        "null",
        "{}",
        "{\"type\":5}",
        "{\"type\":null}",
        "{\"type\":\"bogus\"}",
        "{\"type\":\"HELLO\"" HELLO_OK "}",
        "{\"type\":\"hello\"" HELLO_OK,                          /* truncated */
        H(HELLO_OK) " x",                                         /* trailing garbage */
        H(HELLO_OK) H(HELLO_OK),                                  /* two objects */
        H(",\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\""),    /* no version */
        H(",\"version\":2,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\""),
        H(",\"version\":0,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\""),
        H(",\"version\":\"1\",\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\""),
        H(",\"version\":1.0,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\""),
        H(",\"version\":true,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\""),
        H(",\"version\":1,\"domain\":\"not-a-uuid\",\"token\":\"" TOKEN "\""),
        H(",\"version\":1,\"domain\":\"" DOM "x\",\"token\":\"" TOKEN "\""),
        H(",\"version\":1,\"domain\":\"6f9619ff8b86d011b42d00cf4fc964ff\",\"token\":\"" TOKEN "\""),
        H(",\"version\":1,\"domain\":null,\"token\":\"" TOKEN "\""),
        H(",\"version\":1,\"domain\":[\"" DOM "\"],\"token\":\"" TOKEN "\""),
        H(",\"version\":1,\"token\":\"" TOKEN "\""),
        H(",\"version\":1,\"domain\":\"" DOM "\""),
        H(",\"version\":1,\"domain\":\"" DOM "\",\"token\":\"0123\""),
        H(",\"version\":1,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "0\""),
        H(",\"version\":1,\"domain\":\"" DOM "\",\"token\":\"0123456789abcdef0123456789abcdeg\""),
        H(",\"version\":1,\"domain\":\"" DOM "\",\"token\":\"0123456789ABCDEF0123456789ABCDEF\""),
        H(",\"version\":1,\"domain\":\"" DOM "\",\"token\":12345"),
        H(HELLO_OK ",\"extra\":1"),
        H(HELLO_OK ",\"generation\":1"),                          /* a state member in a hello */
        S(""),
        S(",\"domain\":\"" DOM "\",\"generation\":1"),            /* no nics */
        S(",\"domain\":\"" DOM "\",\"nics\":[]"),                 /* no generation */
        S(",\"generation\":1,\"nics\":[]"),                       /* no domain */
        S(",\"domain\":\"" DOM "\",\"generation\":-1,\"nics\":[]"),
        S(",\"domain\":\"" DOM "\",\"generation\":\"1\",\"nics\":[]"),
        S(",\"domain\":\"" DOM "\",\"generation\":1.5,\"nics\":[]"),
        S(",\"domain\":\"" DOM "\",\"generation\":1e3,\"nics\":[]"),
        S(",\"domain\":\"" DOM "\",\"generation\":null,\"nics\":[]"),
        S(",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":{}"),
        S(",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":null"),
        S(",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":[1]"),
        S(",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":[{}]"),
        S(",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":[{\"mac\":\"zz\"}]"),
        S(STATE_OK ",\"suspended_at\":1"),                        /* a switchover member in a state */
        S(STATE_OK ",\"token\":\"" TOKEN "\""),
        W(STATE_OK ",\"suspended_at\":-5"),
        W(STATE_OK ",\"suspended_at\":\"now\""),
        W(STATE_OK ",\"suspended_at\":1.25"),
        W(",\"domain\":\"" DOM "\",\"nics\":[]"),
        "{\"type\":\"error\"}",
        "{\"type\":\"error\",\"reason\":5}",
        "{\"type\":\"error\",\"reason\":null}",
        "{\"type\":\"error\",\"reason\":\"x\",\"domain\":\"" DOM "\"}",
        "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],\"type\":\"error\",\"reason\":\"x\"}",
        "{\"type\":\"error\",\"reason\":\"\xc3\x28\"}",             /* invalid UTF-8 */
        "\xef\xbb\xbf{\"type\":\"error\",\"reason\":\"x\"}",       /* BOM */
};

static void test_hostile(void) {
        g_assert_cmpuint(G_N_ELEMENTS(hostile_bodies), >=, 25);
        for (gsize i = 0; i < G_N_ELEMENTS(hostile_bodies); i++) {
                g_autoptr(VsmPeerMessage) m = NULL;
                g_autoptr(GError) error = NULL;
                gboolean ok = decode_str(hostile_bodies[i], &m, &error);

                if (ok)
                        g_error("hostile body %zu accepted: %s", i, hostile_bodies[i]);
                g_assert_null(m);
                g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
                g_test_message("%zu: %s", i, error->message);
        }
}

static void test_hostile_binary(void) {
        static const char nul[] = "{\"type\":\"error\",\0\"reason\":\"x\"}";
        g_autoptr(GString) many = g_string_new("{\"type\":\"state\",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":[");
        g_autoptr(GString) dup = g_string_new("{\"type\":\"state\",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":[");
        g_autoptr(GString) longreason = g_string_new("{\"type\":\"error\",\"reason\":\"");
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(VsmNicState) nic = make_nic(1);
        g_autoptr(JsonNode) node = vsm_nic_state_to_json(nic);
        g_autofree char *nic_json = NULL;
        g_autofree guint8 *huge = NULL;
        VsmPeerMessage *m = NULL;
        GError *error = NULL;

        g_assert_false(vsm_peer_message_decode((const uint8_t *) nul, sizeof(nul) - 1, &m, &error));
        g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
        g_clear_error(&error);
        g_assert_false(vsm_peer_message_decode((const uint8_t *) "", 0, &m, &error));
        g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
        g_clear_error(&error);

        /* Over the cap: refused before any parsing. */
        huge = g_malloc0(VSM_PEER_MESSAGE_MAX + 1);
        memset(huge, ' ', VSM_PEER_MESSAGE_MAX + 1);
        g_assert_false(vsm_peer_message_decode(huge, VSM_PEER_MESSAGE_MAX + 1, &m, &error));
        g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
        g_clear_error(&error);

        /* More NICs than VSM_NETSTATE_NICS_MAX, and a duplicate MAC. */
        json_generator_set_root(gen, node);
        nic_json = json_generator_to_data(gen, NULL);
        for (guint i = 0; i <= VSM_NETSTATE_NICS_MAX; i++) {
                char mac[18];

                g_snprintf(mac, sizeof(mac), "52:54:00:00:%02x:%02x", i >> 8, i & 0xff);
                g_string_append_printf(many, "%s{\"mac\":\"%s\"}", i ? "," : "", mac);
        }
        g_string_append(many, "]}");
        g_assert_false(vsm_peer_message_decode((const uint8_t *) many->str, many->len, &m, &error));
        g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
        g_test_message("%s", error->message);
        g_clear_error(&error);
        g_string_append_printf(dup, "%s,%s]}", nic_json, nic_json);
        g_assert_false(vsm_peer_message_decode((const uint8_t *) dup->str, dup->len, &m, &error));
        g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
        g_test_message("%s", error->message);
        g_clear_error(&error);

        for (guint i = 0; i < 1025; i++)
                g_string_append_c(longreason, 'r');
        g_string_append(longreason, "\"}");
        g_assert_false(vsm_peer_message_decode((const uint8_t *) longreason->str, longreason->len, &m, &error));
        g_assert_error(error, VSM_ERROR, VSM_ERROR_INVALID);
        g_clear_error(&error);
        g_assert_null(m);
}

/* ---- TCP ---- */

static gboolean on_tick(gpointer user_data) {
        return G_SOURCE_CONTINUE;
}

static gboolean on_deadline(gpointer user_data) {
        *(gboolean *) user_data = TRUE;
        return G_SOURCE_REMOVE;
}

/* Runs the default main context until cond holds (a 5 ms tick lets
 * conditions on raw sockets be polled), failing after ms. */
#define WAIT_UNTIL(cond, ms)                                                            \
        G_STMT_START {                                                                  \
                gboolean _late = FALSE, _ok;                                            \
                guint _tick = g_timeout_add(5, on_tick, NULL);                          \
                guint _dl = g_timeout_add((ms), on_deadline, &_late);                   \
                while (!(_ok = (cond)) && !_late)                                       \
                        g_main_context_iteration(NULL, TRUE);                           \
                g_source_remove(_tick);                                                 \
                if (!_late)                                                             \
                        g_source_remove(_dl);                                           \
                if (!_ok)                                                               \
                        g_error("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond); \
        } G_STMT_END

/* Runs the loop for ms whatever happens. */
static void spin(guint ms) {
        gboolean late = FALSE;
        guint id = g_timeout_add(ms, on_deadline, &late);

        while (!late)
                g_main_context_iteration(NULL, TRUE);
        (void) id;
}

typedef struct Srv {
        VsmPeerServer *s;
        guint n_authorize;
        guint n_connected;
        gboolean send_on_connect;
} Srv;

static gboolean srv_authorize(const char *domain, const char *token, gpointer user_data, char **ret_reason) {
        Srv *srv = user_data;

        srv->n_authorize++;
        if (!g_str_equal(domain, DOM)) {
                *ret_reason = g_strdup("unknown domain");
                return FALSE;
        }
        if (!g_str_equal(token, TOKEN)) {
                *ret_reason = g_strdup("bad token");
                return FALSE;
        }
        return TRUE;
}

static void srv_connected(VsmPeerConn *c, const char *domain, gpointer user_data) {
        Srv *srv = user_data;

        srv->n_connected++;
        g_assert_cmpstr(domain, ==, DOM);
        if (srv->send_on_connect) {
                g_autoptr(VsmPeerMessage) m = make_msg(VSM_PEER_MSG_STATE, DOM, 1, 2);

                vsm_peer_conn_send(c, m);
        }
}

static const VsmPeerServerCallbacks srv_cb = { .authorize = srv_authorize, .connected = srv_connected };

static void srv_start_tls(Srv *srv, const VsmPeerTls *tls) {
        g_autoptr(GError) error = NULL;

        srv->s = vsm_peer_server_new("127.0.0.1:0", tls, &srv_cb, srv, &error);
        g_assert_no_error(error);
        g_assert_nonnull(srv->s);
        g_assert_cmpuint(vsm_peer_server_get_port(srv->s), >, 0);
}

static void srv_start(Srv *srv) {
        srv_start_tls(srv, NULL);
}

static gint64 srv_stat(Srv *srv, const char *name) {
        g_autoptr(JsonNode) node = vsm_peer_server_to_json(srv->s);
        JsonObject *o = json_node_get_object(node);

        g_assert_true(json_object_has_member(o, name));
        return json_object_get_int_member(o, name);
}

static char *srv_origin(Srv *srv) {
        return g_strdup_printf("127.0.0.1:%u", vsm_peer_server_get_port(srv->s));
}

typedef struct Rec {
        VsmPeerClient *c;
        GPtrArray *msgs;               /* VsmPeerMessage */
        guint n_closed;
        GError *error;
        gboolean free_in_closed;
        gboolean free_in_message;
        gint64 closed_at;
} Rec;

static void msg_free(gpointer p) {
        vsm_peer_message_free(p);
}

static void rec_init(Rec *r) {
        memset(r, 0, sizeof(*r));
        r->msgs = g_ptr_array_new_with_free_func(msg_free);
}

static void rec_clear(Rec *r) {
        g_clear_pointer(&r->c, vsm_peer_client_free);
        g_clear_pointer(&r->msgs, g_ptr_array_unref);
        g_clear_error(&r->error);
}

static void rec_message(VsmPeerClient *c, VsmPeerMessage *m, gpointer user_data) {
        Rec *r = user_data;

        g_assert_true(c == r->c);
        g_assert_cmpuint(r->n_closed, ==, 0);
        g_ptr_array_add(r->msgs, m);
        if (r->free_in_message)
                g_clear_pointer(&r->c, vsm_peer_client_free);
}

static void rec_closed(VsmPeerClient *c, const GError *error, gpointer user_data) {
        Rec *r = user_data;

        g_assert_true(c == r->c);
        r->n_closed++;
        r->closed_at = g_get_monotonic_time();
        if (error)
                r->error = g_error_copy(error);
        if (error)
                g_test_message("client closed: %s", error->message);
        if (r->free_in_closed)
                g_clear_pointer(&r->c, vsm_peer_client_free);
}

static const VsmPeerClientCallbacks rec_cb = { .message = rec_message, .closed = rec_closed };

static void rec_connect_tls(Rec *r, const char *origin, const char *domain, const char *token,
                            const VsmPeerTls *tls) {
        r->c = vsm_peer_client_new(origin, domain, token, tls, &rec_cb, r);
        g_assert_nonnull(r->c);
}

static void rec_connect(Rec *r, const char *origin, const char *domain, const char *token) {
        rec_connect_tls(r, origin, domain, token, NULL);
}

static void test_tcp_flow(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autofree char *origin = NULL;
        g_autoptr(VsmPeerMessage) sw = NULL;
        g_autoptr(VsmPeerMessage) first = NULL;
        Rec r;
        guint w0 = n_warnings;

        srv_start(&srv);
        origin = srv_origin(&srv);
        rec_init(&r);
        rec_connect(&r, origin, DOM_UPPER, TOKEN);
        g_assert_false(vsm_peer_client_is_connected(r.c));
        WAIT_UNTIL(srv.n_connected == 1 && r.msgs->len == 1, 3000);
        g_assert_true(vsm_peer_client_is_connected(r.c));
        g_assert_cmpint(srv_stat(&srv, "connections"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "authorized_connections"), ==, 1);

        sw = make_msg(VSM_PEER_MSG_SWITCHOVER, DOM, 2, 3);
        first = make_msg(VSM_PEER_MSG_STATE, DOM, 1, 2);
        g_assert_cmpuint(vsm_peer_server_send(srv.s, sw), ==, 1);
        /* no connection for another domain */
        g_strlcpy(first->domain, DOM_OTHER, sizeof(first->domain));
        g_assert_cmpuint(vsm_peer_server_send(srv.s, first), ==, 0);
        g_strlcpy(first->domain, DOM, sizeof(first->domain));
        WAIT_UNTIL(r.msgs->len == 2, 3000);
        assert_msg_equal(first, g_ptr_array_index(r.msgs, 0));
        assert_msg_equal(sw, g_ptr_array_index(r.msgs, 1));
        g_assert_cmpuint(r.n_closed, ==, 0);

        /* After the migration: a clean end. */
        vsm_peer_server_drop_domain(srv.s, DOM_UPPER);
        WAIT_UNTIL(r.n_closed == 1, 3000);
        g_assert_no_error(r.error);
        g_assert_false(vsm_peer_client_is_connected(r.c));
        {
                g_autoptr(JsonNode) j = vsm_peer_client_to_json(r.c);
                JsonObject *o = json_node_get_object(j);

                g_assert_cmpint(json_object_get_int_member(o, "messages_received"), ==, 2);
                g_assert_true(json_object_get_boolean_member(o, "switchover_received"));
        }
        g_assert_cmpint(srv_stat(&srv, "connections"), ==, 0);
        g_assert_cmpint(srv_stat(&srv, "accepted"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "authorized"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "messages_sent"), ==, 2);
        g_assert_cmpint(srv_stat(&srv, "rejected"), ==, 0);
        g_assert_cmpuint(n_warnings, ==, w0);
        rec_clear(&r);
        vsm_peer_server_free(srv.s);
}

static void test_tcp_refused(gconstpointer data) {
        const char *what = data;
        Srv srv = { 0 };
        g_autofree char *origin = NULL;
        Rec r;

        srv_start(&srv);
        origin = srv_origin(&srv);
        rec_init(&r);
        if (g_str_equal(what, "token"))
                rec_connect(&r, origin, DOM, TOKEN_BAD);
        else
                rec_connect(&r, origin, DOM_OTHER, TOKEN);
        WAIT_UNTIL(r.n_closed == 1, 3000);
        g_assert_error(r.error, VSM_ERROR, VSM_ERROR_IO);
        g_assert_nonnull(strstr(r.error->message, g_str_equal(what, "token") ? "bad token" : "unknown domain"));
        g_assert_cmpuint(r.msgs->len, ==, 0);
        g_assert_cmpuint(srv.n_authorize, ==, 1);
        g_assert_cmpuint(srv.n_connected, ==, 0);
        WAIT_UNTIL(srv_stat(&srv, "connections") == 0, 1000);
        g_assert_cmpint(srv_stat(&srv, "rejected"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "rejected_auth"), ==, 1);
        rec_clear(&r);
        vsm_peer_server_free(srv.s);
}

/* ---- raw sockets, for what a real client never sends ---- */

static int raw_connect(guint16 port) {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(connect(fd, (struct sockaddr *) &sin, sizeof(sin)), ==, 0);
        return fd;
}

static void raw_write(int fd, const void *data, gsize len) {
        g_assert_cmpint(send(fd, data, len, MSG_NOSIGNAL), ==, (gssize) len);
}

static void raw_write_frame(int fd, const char *json) {
        guint32 len = (guint32) strlen(json);
        guint8 hdr[4] = { len >> 24, len >> 16, len >> 8, len };

        raw_write(fd, hdr, 4);
        raw_write(fd, json, len);
}

/* TRUE once the peer closed (EOF or reset); reads and drops what came
 * before (the error message). */
static gboolean raw_closed(int fd) {
        guint8 buf[4096];

        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n > 0)
                        continue;
                if (n == 0)
                        return TRUE;
                return errno != EAGAIN && errno != EINTR;
        }
}

typedef enum RawCase {
        RAW_GARBAGE,
        RAW_OVERSIZED,
        RAW_OVER_HELLO_CAP,
        RAW_ZERO,
        RAW_TRUNCATED,
        RAW_SLOWLORIS,
        RAW_SILENT_CLOSE,
        RAW_STATE_FIRST,
        RAW_STATE_AFTER_HELLO,
        RAW_SECOND_HELLO,
        RAW_BAD_JSON,
        _RAW_MAX,
} RawCase;

static const char *const raw_names[_RAW_MAX] = {
        "garbage", "oversized", "over-hello-cap", "zero", "truncated", "slowloris", "silent-close",
        "state-first", "state-after-hello", "second-hello", "bad-json",
};

#define HELLO_JSON "{\"type\":\"hello\",\"version\":1,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\"}"

static void test_tcp_hostile(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autofree char *origin = NULL;
        guint16 port;
        Rec good;

        srv_start(&srv);
        vsm_peer_server_set_hello_timeout_ms(srv.s, 300);
        port = vsm_peer_server_get_port(srv.s);
        origin = srv_origin(&srv);

        /* A good destination, connected all along: nothing disturbs it. */
        rec_init(&good);
        rec_connect(&good, origin, DOM, TOKEN);
        WAIT_UNTIL(good.msgs->len == 1, 3000);

        for (int k = 0; k < _RAW_MAX; k++) {
                gint64 rejected = srv_stat(&srv, "rejected");
                gint64 protocol = srv_stat(&srv, "rejected_protocol");
                gint64 timeouts = srv_stat(&srv, "hello_timeouts");
                gint64 start = g_get_monotonic_time();
                int fd = raw_connect(port);

                g_test_message("hostile client: %s", raw_names[k]);
                switch ((RawCase) k) {
                case RAW_GARBAGE:
                        raw_write(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
                        break;
                case RAW_OVERSIZED:
                        raw_write(fd, "\xff\xff\xff\xff{", 5);
                        break;
                case RAW_OVER_HELLO_CAP:
                        raw_write(fd, "\x00\x00\x10\x01{", 5);  /* 4097: no hello is that long */
                        break;
                case RAW_ZERO:
                        raw_write(fd, "\x00\x00\x00\x00", 4);
                        break;
                case RAW_TRUNCATED:
                        raw_write(fd, "\x00\x00\x00\x64{\"type\":\"hel", 15);
                        shutdown(fd, SHUT_WR);
                        break;
                case RAW_SLOWLORIS:
                        raw_write(fd, "\x00\x00", 2);
                        break;
                case RAW_SILENT_CLOSE:
                        shutdown(fd, SHUT_WR);
                        break;
                case RAW_STATE_FIRST:
                        raw_write_frame(fd, "{\"type\":\"state\",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":[]}");
                        break;
                case RAW_STATE_AFTER_HELLO:
                        raw_write_frame(fd, HELLO_JSON);
                        raw_write_frame(fd, "{\"type\":\"state\",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":[]}");
                        break;
                case RAW_SECOND_HELLO:
                        raw_write_frame(fd, HELLO_JSON);
                        raw_write_frame(fd, HELLO_JSON);
                        break;
                case RAW_BAD_JSON:
                        raw_write_frame(fd, "{\"type\":\"hello\",\"version\":1,");
                        break;
                default:
                        g_assert_not_reached();
                }
                WAIT_UNTIL(srv_stat(&srv, "rejected") == rejected + 1, 3000);
                WAIT_UNTIL(raw_closed(fd), 3000);
                if (k == RAW_SLOWLORIS) {
                        g_assert_cmpint(srv_stat(&srv, "hello_timeouts"), ==, timeouts + 1);
                        g_assert_cmpint(g_get_monotonic_time() - start, >=, 250 * 1000);
                } else {
                        g_assert_cmpint(srv_stat(&srv, "rejected_protocol"), ==, protocol + 1);
                }
                close(fd);
                g_assert_cmpint(srv_stat(&srv, "connections"), ==, 1);
        }
        g_assert_cmpint(srv_stat(&srv, "rejected_auth"), ==, 0);

        /* The good one is still there and still served. */
        {
                g_autoptr(VsmPeerMessage) m = make_msg(VSM_PEER_MSG_STATE, DOM, 5, 1);

                g_assert_true(vsm_peer_client_is_connected(good.c));
                g_assert_cmpuint(good.n_closed, ==, 0);
                g_assert_cmpuint(vsm_peer_server_send(srv.s, m), ==, 1);
                WAIT_UNTIL(good.msgs->len == 2, 3000);
                assert_msg_equal(m, g_ptr_array_index(good.msgs, 1));
        }
        rec_clear(&good);
        vsm_peer_server_free(srv.s);
}

/* A port where nobody listens. */
static guint16 closed_port(void) {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sin);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), ==, 0);
        g_assert_cmpint(getsockname(fd, (struct sockaddr *) &sin, &len), ==, 0);
        close(fd);
        return ntohs(sin.sin_port);
}

static void test_tcp_closed_port(void) {
        g_autofree char *origin = g_strdup_printf("127.0.0.1:%u", closed_port());
        gint64 start = g_get_monotonic_time();
        Rec r;

        rec_init(&r);
        r.free_in_closed = TRUE;       /* the callee frees the client inside closed() */
        rec_connect(&r, origin, DOM, TOKEN);
        WAIT_UNTIL(r.n_closed == 1, VSM_PEER_CONNECT_TIMEOUT_MS + 500);
        g_assert_error(r.error, VSM_ERROR, VSM_ERROR_IO);
        g_assert_null(r.c);
        g_assert_cmpint(r.closed_at - start, <=, (VSM_PEER_CONNECT_TIMEOUT_MS + 200) * 1000);
        spin(50);
        g_assert_cmpuint(r.n_closed, ==, 1);
        rec_clear(&r);
}

static void test_client_bad_args(void) {
        static const char *const cases[][3] = {
                { "127.0.0.1", DOM, TOKEN },                   /* no port */
                { "127.0.0.1:0", DOM, TOKEN },
                { "[::1", DOM, TOKEN },
                { "", DOM, TOKEN },
                { "127.0.0.1:1", "nope", TOKEN },
                { "127.0.0.1:1", DOM, "short" },
                { "127.0.0.1:1", DOM, "0123456789ABCDEF0123456789ABCDEF" },
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                Rec r;

                rec_init(&r);
                rec_connect(&r, cases[i][0], cases[i][1], cases[i][2]);
                g_assert_cmpuint(r.n_closed, ==, 0);    /* never from inside _new() */
                WAIT_UNTIL(r.n_closed == 1, 1000);
                g_assert_error(r.error, VSM_ERROR, VSM_ERROR_INVALID);
                rec_clear(&r);
        }
}

static void test_server_bad_listen(void) {
        static const char *const cases[] = {
                "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "::1:80", "[127.0.0.1]:80",
                "[::1]80", "localhost:80", ":80", "127.0.0.1:80x",
        };
        Srv srv = { 0 };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) error = NULL;

                g_assert_null(vsm_peer_server_new(cases[i], NULL, &srv_cb, &srv, &error));
                g_assert_error(error, VSM_ERROR, VSM_ERROR_CONFIG);
        }
}

static void test_tcp_ipv6(void) {
        g_autoptr(GError) error = NULL;
        g_autofree char *origin = NULL;
        Srv srv = { .send_on_connect = TRUE };
        Rec r;

        srv.s = vsm_peer_server_new("[::1]:0", NULL, &srv_cb, &srv, &error);
        if (!srv.s) {
                g_test_skip(error->message);
                return;
        }
        origin = g_strdup_printf("[::1]:%u", vsm_peer_server_get_port(srv.s));
        rec_init(&r);
        rec_connect(&r, origin, DOM, TOKEN);
        WAIT_UNTIL(r.msgs->len == 1 || r.n_closed, 3000);
        g_assert_cmpuint(r.msgs->len, ==, 1);
        rec_clear(&r);
        vsm_peer_server_free(srv.s);
}

static void test_tcp_free_no_callbacks(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autofree char *origin = NULL;
        Rec r1, r2;

        srv_start(&srv);
        origin = srv_origin(&srv);

        /* Freed while connecting. */
        rec_init(&r1);
        rec_connect(&r1, origin, DOM, TOKEN);
        g_clear_pointer(&r1.c, vsm_peer_client_free);

        /* Freed inside message(). */
        rec_init(&r2);
        r2.free_in_message = TRUE;
        rec_connect(&r2, origin, DOM, TOKEN);
        WAIT_UNTIL(r2.msgs->len == 1, 3000);
        g_assert_null(r2.c);
        {
                g_autoptr(VsmPeerMessage) m = make_msg(VSM_PEER_MSG_SWITCHOVER, DOM, 3, 1);

                vsm_peer_server_send(srv.s, m);
        }
        spin(100);
        g_assert_cmpuint(r1.msgs->len, ==, 0);
        g_assert_cmpuint(r1.n_closed, ==, 0);
        g_assert_cmpuint(r2.msgs->len, ==, 1);
        g_assert_cmpuint(r2.n_closed, ==, 0);
        WAIT_UNTIL(srv_stat(&srv, "connections") == 0, 3000);
        rec_clear(&r1);
        rec_clear(&r2);
        vsm_peer_server_free(srv.s);
}

/* Server callbacks never run after vsm_peer_server_free(). */
static void test_tcp_server_free_pending(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autofree char *origin = NULL;
        guint n_authorize;
        Rec r;

        srv_start(&srv);
        origin = srv_origin(&srv);
        rec_init(&r);
        rec_connect(&r, origin, DOM, TOKEN);
        /* Free as soon as the TCP connection is up (the hello may or may
         * not have been read by then). */
        WAIT_UNTIL(vsm_peer_client_is_connected(r.c), 3000);
        n_authorize = srv.n_authorize;
        srv.s = vsm_peer_server_free(srv.s);
        WAIT_UNTIL(r.n_closed == 1, 3000);
        g_assert_nonnull(r.error);
        spin(50);
        g_assert_cmpuint(srv.n_authorize, ==, n_authorize);
        rec_clear(&r);
}

#define N_MANY 300

static void test_tcp_many(void) {
        Srv srv = { .send_on_connect = FALSE };
        g_autofree char *origin = NULL;
        Rec *recs = g_new0(Rec, N_MANY);
        guint n_closed, n_refused;

        srv_start(&srv);
        origin = srv_origin(&srv);
        for (guint i = 0; i < N_MANY; i++) {
                rec_init(&recs[i]);
                rec_connect(&recs[i], origin, DOM, TOKEN);
        }
#define COUNT_CLOSED() ({ guint _n = 0; for (guint _i = 0; _i < N_MANY; _i++) _n += recs[_i].n_closed; _n; })
        WAIT_UNTIL(COUNT_CLOSED() == N_MANY - VSM_PEER_CONNS_MAX &&
                   srv.n_connected == VSM_PEER_CONNS_MAX, 20000);
        g_assert_cmpint(srv_stat(&srv, "connections"), ==, VSM_PEER_CONNS_MAX);
        g_assert_cmpint(srv_stat(&srv, "over_capacity"), ==, N_MANY - VSM_PEER_CONNS_MAX);
        g_assert_cmpint(srv_stat(&srv, "rejected"), ==, N_MANY - VSM_PEER_CONNS_MAX);
        n_refused = 0;
        for (guint i = 0; i < N_MANY; i++)
                if (recs[i].n_closed) {
                        g_assert_error(recs[i].error, VSM_ERROR, VSM_ERROR_IO);
                        n_refused += strstr(recs[i].error->message, "too many") != NULL;
                }
        g_test_message("%u of %u refused clients got the reason", n_refused, N_MANY - VSM_PEER_CONNS_MAX);

        /* A broadcast reaches every accepted one. */
        {
                g_autoptr(VsmPeerMessage) m = make_msg(VSM_PEER_MSG_STATE, DOM, 1, 1);

                g_assert_cmpuint(vsm_peer_server_send(srv.s, m), ==, VSM_PEER_CONNS_MAX);
        }
#define COUNT_MSGS() ({ guint _n = 0; for (guint _i = 0; _i < N_MANY; _i++) _n += recs[_i].msgs->len; _n; })
        WAIT_UNTIL(COUNT_MSGS() == VSM_PEER_CONNS_MAX, 5000);

        /* The server goes away: every client hears about it. */
        srv.s = vsm_peer_server_free(srv.s);
        WAIT_UNTIL(COUNT_CLOSED() == N_MANY, 5000);
        n_closed = 0;
        for (guint i = 0; i < N_MANY; i++) {
                g_assert_cmpuint(recs[i].n_closed, ==, 1);
                g_assert_nonnull(recs[i].error);     /* no switchover: not a clean end */
                n_closed++;
                rec_clear(&recs[i]);
        }
        g_assert_cmpuint(n_closed, ==, N_MANY);
        g_free(recs);
}

/* A peer that does not read is dropped once 4 * VSM_PEER_MESSAGE_MAX is
 * queued for it. */
static void test_tcp_slow_reader(void) {
        Srv srv = { 0 };
        g_autoptr(VsmPeerMessage) big = g_new0(VsmPeerMessage, 1);
        guint sent = 0;
        int fd;

        srv_start(&srv);
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_write_frame(fd, HELLO_JSON);
        WAIT_UNTIL(srv.n_connected == 1, 3000);

        big->type = VSM_PEER_MSG_ERROR;
        g_strlcpy(big->domain, DOM, sizeof(big->domain));     /* routes it; not on the wire */
        big->reason = g_malloc(VSM_PEER_MESSAGE_MAX - 64);
        memset(big->reason, 'x', VSM_PEER_MESSAGE_MAX - 65);
        big->reason[VSM_PEER_MESSAGE_MAX - 65] = '\0';
        while (srv_stat(&srv, "connections") == 1 && sent < 10) {
                g_assert_cmpuint(vsm_peer_server_send(srv.s, big), ==, 1);   /* counts the dropping one */
                sent++;
        }
        g_test_message("dropped after %u messages of ~8 MiB", sent);
        g_assert_cmpint(srv_stat(&srv, "connections"), ==, 0);
        g_assert_cmpint(srv_stat(&srv, "dropped_slow"), ==, 1);
        g_assert_cmpuint(sent, >=, 4);
        close(fd);
        vsm_peer_server_free(srv.s);
}

/* ---- the destination against a hostile source (a raw listener) ---- */

typedef enum FakeCase {
        FAKE_HELLO,
        FAKE_OTHER_DOMAIN,
        FAKE_OVERSIZED,
        FAKE_ZERO,
        FAKE_GARBAGE,
        FAKE_ERROR,
        FAKE_EOF_EARLY,
        FAKE_TRUNCATED,
        FAKE_CLEAN,
        _FAKE_MAX,
} FakeCase;

static gboolean try_accept(int lfd, int *ret) {
        *ret = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        return *ret >= 0;
}

static gboolean read_some(int fd, GByteArray *buf, gsize want) {
        guint8 tmp[4096];
        ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);

        if (n > 0)
                g_byte_array_append(buf, tmp, (guint) n);
        return buf->len >= want;
}

static void test_client_hostile(void) {
        static const char state_json[] = "{\"type\":\"state\",\"domain\":\"" DOM "\",\"generation\":1,\"nics\":[]}";
        static const char sw_json[] = "{\"type\":\"switchover\",\"domain\":\"" DOM "\",\"generation\":2,\"nics\":[],"
                                      "\"suspended_at\":5}";
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t slen = sizeof(sin);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        g_autofree char *origin = NULL;

        g_assert_cmpint(bind(lfd, (struct sockaddr *) &sin, sizeof(sin)), ==, 0);
        g_assert_cmpint(listen(lfd, 8), ==, 0);
        g_assert_cmpint(getsockname(lfd, (struct sockaddr *) &sin, &slen), ==, 0);
        origin = g_strdup_printf("127.0.0.1:%u", ntohs(sin.sin_port));

        for (int k = 0; k < _FAKE_MAX; k++) {
                g_autoptr(GByteArray) hello = g_byte_array_new();
                Rec r;
                int fd = -1;

                rec_init(&r);
                rec_connect(&r, origin, DOM, TOKEN);
                WAIT_UNTIL(try_accept(lfd, &fd), 3000);
                /* The hello, byte for byte. */
                WAIT_UNTIL(read_some(fd, hello, 4 + strlen(HELLO_JSON)), 3000);
                g_assert_cmpuint(hello->len, ==, 4 + strlen(HELLO_JSON));
                g_assert_cmpmem(hello->data + 4, hello->len - 4, HELLO_JSON, strlen(HELLO_JSON));
                g_assert_cmpuint(hello->data[3], ==, strlen(HELLO_JSON));

                switch ((FakeCase) k) {
                case FAKE_HELLO:
                        raw_write_frame(fd, HELLO_JSON);
                        break;
                case FAKE_OTHER_DOMAIN:
                        raw_write_frame(fd, "{\"type\":\"state\",\"domain\":\"" DOM_OTHER "\",\"generation\":1,\"nics\":[]}");
                        break;
                case FAKE_OVERSIZED:
                        raw_write(fd, "\x00\x80\x00\x01", 4);     /* VSM_PEER_MESSAGE_MAX + 1 */
                        break;
                case FAKE_ZERO:
                        raw_write(fd, "\x00\x00\x00\x00", 4);
                        break;
                case FAKE_GARBAGE:
                        raw_write(fd, "\x00\x00\x00\x05hello", 9);
                        break;
                case FAKE_ERROR:
                        raw_write_frame(fd, "{\"type\":\"error\",\"reason\":\"go away\"}");
                        break;
                case FAKE_EOF_EARLY:
                        raw_write_frame(fd, state_json);
                        break;
                case FAKE_TRUNCATED:
                        raw_write(fd, "\x00\x00\x01\x00{\"ty", 8);
                        break;
                case FAKE_CLEAN:
                        raw_write_frame(fd, state_json);
                        raw_write_frame(fd, sw_json);
                        break;
                default:
                        g_assert_not_reached();
                }
                if (k >= FAKE_EOF_EARLY)
                        shutdown(fd, SHUT_WR);
                WAIT_UNTIL(r.n_closed == 1, 3000);
                switch ((FakeCase) k) {
                case FAKE_ERROR:
                        g_assert_error(r.error, VSM_ERROR, VSM_ERROR_IO);
                        g_assert_nonnull(strstr(r.error->message, "go away"));
                        break;
                case FAKE_EOF_EARLY:
                        g_assert_error(r.error, VSM_ERROR, VSM_ERROR_IO);
                        g_assert_cmpuint(r.msgs->len, ==, 1);
                        break;
                case FAKE_CLEAN:
                        g_assert_no_error(r.error);
                        g_assert_cmpuint(r.msgs->len, ==, 2);
                        break;
                default:
                        g_assert_error(r.error, VSM_ERROR, VSM_ERROR_INVALID);
                        g_assert_cmpuint(r.msgs->len, ==, 0);
                        {
                                g_autoptr(JsonNode) j = vsm_peer_client_to_json(r.c);

                                g_assert_cmpint(json_object_get_int_member(json_node_get_object(j), "rejected"), ==, 1);
                        }
                        break;
                }
                WAIT_UNTIL(raw_closed(fd), 3000);
                close(fd);
                rec_clear(&r);
        }
        close(lfd);
}

/* ---- TLS ---- */

/* Two CAs, each with a server and a client certificate (libvirt's
 * layout: the server certificate names a host, not the address the
 * client connects to), made once per run in a temporary directory. */
typedef struct TlsFiles {
        char *dir;
        char *ca[2], *srv_cert[2], *srv_key[2], *cli_cert[2], *cli_key[2];
        char *garbage;
} TlsFiles;

static TlsFiles tls_files;

static void run_openssl(const char *dir, const char *const *args) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL, *err = NULL;
        int status = 0;

        g_ptr_array_add(argv, (gpointer) "openssl");
        for (const char *const *a = args; *a; a++)
                g_ptr_array_add(argv, (gpointer) *a);
        g_ptr_array_add(argv, NULL);
        if (!g_spawn_sync(dir, (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                          &error))
                g_error("openssl: %s", error->message);
        if (!g_spawn_check_wait_status(status, &error))
                g_error("openssl %s: %s\n%s", args[0], error->message, err);
}

static char *tls_path(const char *name) {
        return g_build_filename(tls_files.dir, name, NULL);
}

/* One EC P-256 key and certificate <name>.pem/<name>.key signed by ca
 * (self-signed when ca is NULL). */
static void make_cert(const char *name, const char *ca, const char *subj, const char *ext) {
        g_autofree char *key = g_strdup_printf("%s.key", name);
        g_autofree char *pem = g_strdup_printf("%s.pem", name);
        g_autofree char *csr = g_strdup_printf("%s.csr", name);
        g_autofree char *extfile = g_strdup_printf("%s.ext", name);
        g_autofree char *extpath = tls_path(extfile);
        g_autofree char *ca_pem = ca ? g_strdup_printf("%s.pem", ca) : NULL;
        g_autofree char *ca_key = ca ? g_strdup_printf("%s.key", ca) : NULL;
        g_autofree char *serial = g_strdup_printf("0x%08x%08x", g_random_int(), g_random_int());
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(extpath, ext, -1, &error));
        run_openssl(tls_files.dir, (const char *const[]) { "req", "-new", "-newkey", "ec", "-pkeyopt",
                                                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                                                            "-out", csr, "-subj", subj, NULL });
        if (!ca)
                run_openssl(tls_files.dir, (const char *const[]) { "x509", "-req", "-in", csr, "-signkey", key,
                                                                    "-out", pem, "-days", "2", "-set_serial", serial,
                                                                    "-extfile", extfile, NULL });
        else
                run_openssl(tls_files.dir, (const char *const[]) { "x509", "-req", "-in", csr, "-CA", ca_pem,
                                                                    "-CAkey", ca_key, "-out", pem, "-days", "2",
                                                                    "-set_serial", serial, "-extfile", extfile,
                                                                    NULL });
}

static const char ext_ca[] = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
static const char ext_server[] = "basicConstraints=critical,CA:FALSE\n"
                                 "keyUsage=critical,digitalSignature,keyEncipherment\n"
                                 "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:host-a.example\n";
static const char ext_client[] = "basicConstraints=critical,CA:FALSE\n"
                                 "keyUsage=critical,digitalSignature,keyEncipherment\n"
                                 "extendedKeyUsage=clientAuth\n";

/* FALSE (after failing or skipping the test) when TLS cannot be tested
 * here.  Under CI=true a missing TLS backend or openssl is a failure. */
static gboolean tls_available(void) {
        g_autofree char *openssl = g_find_program_in_path("openssl");
        const char *why = NULL;

        if (!g_tls_backend_supports_tls(g_tls_backend_get_default()))
                why = "GIO has no TLS backend (install glib-networking)";
        else if (!openssl)
                why = "no openssl to make the test certificates";
        if (why) {
                if (g_strcmp0(g_getenv("CI"), "true") == 0)
                        g_error("%s", why);
                g_test_skip(why);
                return FALSE;
        }
        if (tls_files.dir)
                return TRUE;
        {
                g_autoptr(GError) error = NULL;

                tls_files.dir = g_dir_make_tmp("vsimig-test-peer-XXXXXX", &error);
                g_assert_no_error(error);
        }
        for (int i = 0; i < 2; i++) {
                g_autofree char *ca = g_strdup_printf("ca%d", i);
                g_autofree char *srv = g_strdup_printf("server%d", i);
                g_autofree char *cli = g_strdup_printf("client%d", i);
                g_autofree char *ca_subj = g_strdup_printf("/O=vsimig test/CN=test CA %d", i);
                g_autofree char *cli_subj = g_strdup_printf("/O=vsimig test/CN=host-b.example %d", i);
                g_autofree char *f = NULL;

                make_cert(ca, NULL, ca_subj, ext_ca);
                make_cert(srv, ca, "/O=vsimig test/CN=host-a.example", ext_server);
                make_cert(cli, ca, cli_subj, ext_client);
                tls_files.ca[i] = tls_path((f = g_strdup_printf("%s.pem", ca)));
                g_clear_pointer(&f, g_free);
                tls_files.srv_cert[i] = tls_path((f = g_strdup_printf("%s.pem", srv)));
                g_clear_pointer(&f, g_free);
                tls_files.srv_key[i] = tls_path((f = g_strdup_printf("%s.key", srv)));
                g_clear_pointer(&f, g_free);
                tls_files.cli_cert[i] = tls_path((f = g_strdup_printf("%s.pem", cli)));
                g_clear_pointer(&f, g_free);
                tls_files.cli_key[i] = tls_path((f = g_strdup_printf("%s.key", cli)));
        }
        tls_files.garbage = tls_path("garbage.pem");
        g_assert_true(g_file_set_contents(tls_files.garbage, "not a certificate\n", -1, NULL));
        return TRUE;
}

static void tls_files_clear(void) {
        g_autoptr(GDir) d = NULL;
        const char *name;

        if (!tls_files.dir)
                return;
        d = g_dir_open(tls_files.dir, 0, NULL);
        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *path = tls_path(name);

                (void) g_unlink(path);
        }
        (void) g_rmdir(tls_files.dir);
        for (int i = 0; i < 2; i++) {
                g_free(tls_files.ca[i]);
                g_free(tls_files.srv_cert[i]);
                g_free(tls_files.srv_key[i]);
                g_free(tls_files.cli_cert[i]);
                g_free(tls_files.cli_key[i]);
        }
        g_free(tls_files.garbage);
        g_free(tls_files.dir);
        memset(&tls_files, 0, sizeof(tls_files));
}

/* The material of CA i, as the daemon loads it. */
static VsmPeerTls *tls_load(int i) {
        g_autoptr(GError) error = NULL;
        VsmPeerTls *t = vsm_peer_tls_new_from_files(tls_files.ca[i], tls_files.srv_cert[i], tls_files.srv_key[i],
                                                    tls_files.cli_cert[i], tls_files.cli_key[i], &error);

        g_assert_no_error(error);
        g_assert_nonnull(t);
        g_assert_nonnull(t->server_cert);
        g_assert_nonnull(t->client_cert);
        g_assert_nonnull(t->ca);
        return t;
}

static gboolean client_stat_bool(VsmPeerClient *c, const char *name) {
        g_autoptr(JsonNode) j = vsm_peer_client_to_json(c);

        return json_object_get_boolean_member(json_node_get_object(j), name);
}

static gint64 client_stat(VsmPeerClient *c, const char *name) {
        g_autoptr(JsonNode) j = vsm_peer_client_to_json(c);

        return json_object_get_int_member(json_node_get_object(j), name);
}

static void test_tls_flow(void) {
        g_autoptr(VsmPeerTls) tls = NULL;
        g_autoptr(VsmPeerMessage) sw = NULL;
        g_autoptr(VsmPeerMessage) first = NULL;
        g_autofree char *origin = NULL;
        Srv srv = { .send_on_connect = TRUE };
        guint w0 = n_warnings;
        Rec r;

        if (!tls_available())
                return;
        tls = tls_load(0);
        srv_start_tls(&srv, tls);
        origin = srv_origin(&srv);
        rec_init(&r);
        rec_connect_tls(&r, origin, DOM, TOKEN, tls);
        /* Both keep their own references. */
        g_clear_pointer(&tls, vsm_peer_tls_free);
        WAIT_UNTIL((srv.n_connected == 1 && r.msgs->len == 1) || r.n_closed, 5000);
        g_assert_no_error(r.error);
        g_assert_true(vsm_peer_client_is_connected(r.c));
        g_assert_true(client_stat_bool(r.c, "tls"));
        g_assert_true(srv_stat(&srv, "tls") == TRUE);
        first = make_msg(VSM_PEER_MSG_STATE, DOM, 1, 2);
        assert_msg_equal(first, g_ptr_array_index(r.msgs, 0));

        /* A large switchover (several TLS records) comes through whole. */
        sw = make_msg(VSM_PEER_MSG_SWITCHOVER, DOM, 2, 64);
        g_assert_cmpuint(vsm_peer_server_send(srv.s, sw), ==, 1);
        WAIT_UNTIL(r.msgs->len == 2 || r.n_closed, 5000);
        assert_msg_equal(sw, g_ptr_array_index(r.msgs, 1));
        g_assert_true(client_stat_bool(r.c, "switchover_received"));

        /* A clean end, without a close_notify. */
        vsm_peer_server_drop_domain(srv.s, DOM);
        WAIT_UNTIL(r.n_closed == 1, 3000);
        g_assert_no_error(r.error);
        g_assert_cmpint(client_stat(r.c, "messages_received"), ==, 2);
        g_assert_cmpint(srv_stat(&srv, "authorized"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "rejected"), ==, 0);
        g_assert_cmpint(srv_stat(&srv, "connections"), ==, 0);
        g_assert_cmpuint(n_warnings, ==, w0);
        rec_clear(&r);
        vsm_peer_server_free(srv.s);
}

typedef enum TlsBadCase {
        TLS_PLAIN_CLIENT,              /* no TLS at all */
        TLS_FOREIGN_CLIENT_CERT,       /* the client's certificate is from another CA */
        TLS_UNKNOWN_SERVER_CA,         /* the server's certificate is from a CA the client does not trust */
        TLS_BAD_TOKEN,                 /* TLS is fine, the token is not */
        _TLS_BAD_MAX,
} TlsBadCase;

static void test_tls_refused(gconstpointer data) {
        TlsBadCase k = GPOINTER_TO_INT(data);
        g_autoptr(VsmPeerTls) tls0 = NULL;
        g_autoptr(VsmPeerTls) tls1 = NULL;
        g_autofree char *origin = NULL;
        Srv srv = { .send_on_connect = TRUE };
        VsmPeerTls mixed;
        const VsmPeerTls *client_tls;
        Rec r;

        if (!tls_available())
                return;
        tls0 = tls_load(0);
        tls1 = tls_load(1);
        srv_start_tls(&srv, k == TLS_UNKNOWN_SERVER_CA ? tls1 : tls0);
        origin = srv_origin(&srv);
        switch (k) {
        case TLS_PLAIN_CLIENT:
                client_tls = NULL;
                break;
        case TLS_FOREIGN_CLIENT_CERT:
                /* Trusts the server's CA, but presents a certificate of CA 1. */
                mixed = (VsmPeerTls) { .client_cert = tls1->client_cert, .ca = tls0->ca };
                client_tls = &mixed;
                break;
        default:
                client_tls = tls0;
                break;
        }
        rec_init(&r);
        rec_connect_tls(&r, origin, DOM, k == TLS_BAD_TOKEN ? TOKEN_BAD : TOKEN, client_tls);
        WAIT_UNTIL(r.n_closed == 1, 5000);
        g_assert_nonnull(r.error);
        g_assert_cmpuint(r.msgs->len, ==, 0);
        g_assert_cmpuint(srv.n_connected, ==, 0);
        WAIT_UNTIL(srv_stat(&srv, "connections") == 0 && srv_stat(&srv, "rejected") == 1, 3000);
        switch (k) {
        case TLS_BAD_TOKEN:
                g_assert_error(r.error, VSM_ERROR, VSM_ERROR_IO);
                g_assert_nonnull(strstr(r.error->message, "bad token"));
                g_assert_cmpuint(srv.n_authorize, ==, 1);
                g_assert_cmpint(srv_stat(&srv, "rejected_auth"), ==, 1);
                g_assert_cmpint(srv_stat(&srv, "rejected_tls"), ==, 0);
                break;
        case TLS_UNKNOWN_SERVER_CA:
                /* The client refuses the server's certificate. */
                g_assert_error(r.error, VSM_ERROR, VSM_ERROR_IO);
                g_assert_nonnull(strstr(r.error->message, "TLS handshake"));
                g_assert_cmpint(client_stat(r.c, "rejected"), ==, 1);
                g_assert_false(vsm_peer_client_is_connected(r.c));
                /* fall through */
        default:
                g_assert_cmpuint(srv.n_authorize, ==, 0);
                g_assert_cmpint(srv_stat(&srv, "rejected_tls"), ==, 1);
                g_assert_cmpint(srv_stat(&srv, "authorized"), ==, 0);
                break;
        }
        rec_clear(&r);
        vsm_peer_server_free(srv.s);
}

/* A connection that never starts its handshake hits the hello timeout;
 * one whose server goes away mid-handshake is dropped quietly. */
static void test_tls_silent(void) {
        g_autoptr(VsmPeerTls) tls = NULL;
        Srv srv = { 0 };
        int fd;

        if (!tls_available())
                return;
        tls = tls_load(0);
        srv_start_tls(&srv, tls);
        vsm_peer_server_set_hello_timeout_ms(srv.s, 200);
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        WAIT_UNTIL(srv_stat(&srv, "hello_timeouts") == 1, 3000);
        g_assert_cmpint(srv_stat(&srv, "rejected"), ==, 1);
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);

        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        WAIT_UNTIL(srv_stat(&srv, "accepted") == 2, 3000);
        srv.s = vsm_peer_server_free(srv.s);
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        spin(50);                      /* the cancelled handshake's callback */
        g_assert_cmpuint(srv.n_authorize, ==, 0);
}

static void test_tls_files(void) {
        g_autoptr(GError) error = NULL;
        g_autofree char *missing = NULL;

        if (!tls_available())
                return;
        missing = tls_path("missing.pem");
        {
                const struct {
                        const char *ca, *cert, *key, *ccert, *ckey;
                        const char *needle;
                } cases[] = {
                        { missing, tls_files.srv_cert[0], tls_files.srv_key[0], tls_files.cli_cert[0],
                          tls_files.cli_key[0], "tls-ca" },
                        { tls_files.garbage, tls_files.srv_cert[0], tls_files.srv_key[0], tls_files.cli_cert[0],
                          tls_files.cli_key[0], "tls-ca" },
                        { tls_files.ca[0], missing, tls_files.srv_key[0], tls_files.cli_cert[0], tls_files.cli_key[0],
                          "tls-cert" },
                        { tls_files.ca[0], tls_files.srv_cert[0], missing, tls_files.cli_cert[0], tls_files.cli_key[0],
                          "tls-key" },
                        { tls_files.ca[0], tls_files.srv_cert[0], tls_files.garbage, tls_files.cli_cert[0],
                          tls_files.cli_key[0], "tls-key" },
                        { tls_files.ca[0], tls_files.srv_cert[0], tls_files.srv_key[0], missing, tls_files.cli_key[0],
                          "tls-client-cert" },
                        { tls_files.ca[0], tls_files.srv_cert[0], tls_files.srv_key[0], tls_files.cli_cert[0], missing,
                          "tls-client-key" },
                        /* certificates of another CA */
                        { tls_files.ca[0], tls_files.srv_cert[1], tls_files.srv_key[1], tls_files.cli_cert[0],
                          tls_files.cli_key[0], "does not verify" },
                        { tls_files.ca[0], tls_files.srv_cert[0], tls_files.srv_key[0], tls_files.cli_cert[1],
                          tls_files.cli_key[1], "does not verify" },
                };

                for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                        g_autoptr(VsmPeerTls) t = vsm_peer_tls_new_from_files(cases[i].ca, cases[i].cert,
                                                                               cases[i].key, cases[i].ccert,
                                                                               cases[i].ckey, &error);

                        g_assert_null(t);
                        g_assert_error(error, VSM_ERROR, VSM_ERROR_CONFIG);
                        g_test_message("%s", error->message);
                        g_assert_nonnull(strstr(error->message, cases[i].needle));
                        g_clear_error(&error);
                }
        }
}

/* GIO's TLS backend (glib-networking, loaded with dlopen) gives its
 * threads dynamic thread-local storage, and LeakSanitizer's at-exit scan
 * of it crashes (GCC 12's libsanitizer: "Tracer caught signal 11" on a
 * bogus DTLS range).  So each TLS test runs in a child of its own with
 * leak detection off there; ASan's memory checks stay on. */
typedef struct TlsCase {
        GTestFunc func;
        GTestDataFunc data_func;
        gconstpointer data;
} TlsCase;

static void test_tls_in_child(gconstpointer p) {
        const TlsCase *tc = p;
        g_autofree char *saved = NULL;
        g_autofree char *opts = NULL;

        if (g_test_subprocess()) {
                if (tc->func)
                        tc->func();
                else
                        tc->data_func(tc->data);
                return;
        }
        saved = g_strdup(g_getenv("ASAN_OPTIONS"));
        opts = saved ? g_strconcat(saved, ":detect_leaks=0", NULL) : g_strdup("detect_leaks=0");
        g_setenv("ASAN_OPTIONS", opts, TRUE);
        g_test_trap_subprocess(NULL, 120 * G_USEC_PER_SEC,
                               G_TEST_SUBPROCESS_INHERIT_STDOUT | G_TEST_SUBPROCESS_INHERIT_STDERR);
        if (saved)
                g_setenv("ASAN_OPTIONS", saved, TRUE);
        else
                g_unsetenv("ASAN_OPTIONS");
        g_test_trap_assert_passed();
}

int main(int argc, char **argv) {
        static const TlsCase tls_files_case = { .func = test_tls_files };
        static const TlsCase tls_flow = { .func = test_tls_flow };
        static const TlsCase tls_plain = { .data_func = test_tls_refused, .data = GINT_TO_POINTER(TLS_PLAIN_CLIENT) };
        static const TlsCase tls_foreign = { .data_func = test_tls_refused,
                                             .data = GINT_TO_POINTER(TLS_FOREIGN_CLIENT_CERT) };
        static const TlsCase tls_unknown_ca = { .data_func = test_tls_refused,
                                                .data = GINT_TO_POINTER(TLS_UNKNOWN_SERVER_CA) };
        static const TlsCase tls_bad_token = { .data_func = test_tls_refused, .data = GINT_TO_POINTER(TLS_BAD_TOKEN) };
        static const TlsCase tls_silent = { .func = test_tls_silent };
        int rc;

        g_test_init(&argc, &argv, NULL);
        g_log_set_writer_func(test_log_writer, NULL, NULL);
        if (!g_test_verbose())         /* GSocketClient's traces */
                g_log_set_handler("GLib-GIO", G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO, quiet_log_handler, NULL);

        g_test_add_func("/peer/codec/type-names", test_type_names);
        g_test_add_func("/peer/codec/roundtrip", test_roundtrip);
        g_test_add_func("/peer/codec/wire", test_wire);
        g_test_add_func("/peer/codec/normalize", test_normalize);
        g_test_add_func("/peer/codec/hostile", test_hostile);
        g_test_add_func("/peer/codec/hostile-binary", test_hostile_binary);
        g_test_add_func("/peer/server/bad-listen", test_server_bad_listen);
        g_test_add_func("/peer/client/bad-args", test_client_bad_args);
        g_test_add_func("/peer/tcp/flow", test_tcp_flow);
        g_test_add_data_func("/peer/tcp/bad-token", "token", test_tcp_refused);
        g_test_add_data_func("/peer/tcp/unknown-domain", "domain", test_tcp_refused);
        g_test_add_func("/peer/tcp/hostile-clients", test_tcp_hostile);
        g_test_add_func("/peer/tcp/closed-port", test_tcp_closed_port);
        g_test_add_func("/peer/tcp/ipv6", test_tcp_ipv6);
        g_test_add_func("/peer/tcp/free-no-callbacks", test_tcp_free_no_callbacks);
        g_test_add_func("/peer/tcp/server-free-pending", test_tcp_server_free_pending);
        g_test_add_func("/peer/tcp/many", test_tcp_many);
        g_test_add_func("/peer/tcp/slow-reader", test_tcp_slow_reader);
        g_test_add_func("/peer/tcp/hostile-source", test_client_hostile);
        g_test_add_data_func("/peer/tls/files", &tls_files_case, test_tls_in_child);
        g_test_add_data_func("/peer/tls/flow", &tls_flow, test_tls_in_child);
        g_test_add_data_func("/peer/tls/plain-client", &tls_plain, test_tls_in_child);
        g_test_add_data_func("/peer/tls/foreign-client-cert", &tls_foreign, test_tls_in_child);
        g_test_add_data_func("/peer/tls/unknown-server-ca", &tls_unknown_ca, test_tls_in_child);
        g_test_add_data_func("/peer/tls/bad-token", &tls_bad_token, test_tls_in_child);
        g_test_add_data_func("/peer/tls/silent", &tls_silent, test_tls_in_child);
        rc = g_test_run();
        tls_files_clear();
        return rc;
}

/* Unit tests for the peer channel (daemon/peer.c): the codec against
 * valid and hostile bodies, then real TCP on 127.0.0.1 (port 0) with the
 * listener, the connectors and raw hostile sockets in one GMainContext,
 * then TLS with two throwaway CAs made by openssl at test time. */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <arpa/inet.h>
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
#define NONCE "00112233445566778899aabbccddeeff"
#define PROOF "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

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
                m->version = VSM_PEER_PROTOCOL_VERSION;
                g_strlcpy(m->nonce, NONCE, sizeof(m->nonce));
                break;
        case VSM_PEER_MSG_CHALLENGE:
                g_strlcpy(m->nonce, NONCE, sizeof(m->nonce));
                /* fall through */
        case VSM_PEER_MSG_AUTH:
                g_strlcpy(m->proof, PROOF, sizeof(m->proof));
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
        g_assert_cmpstr(a->nonce, ==, b->nonce);
        g_assert_cmpstr(a->proof, ==, b->proof);
        g_assert_cmpuint(a->version, ==, b->version);
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
        g_assert_cmpstr(vsm_peer_message_type_to_string(VSM_PEER_MSG_CHALLENGE), ==, "challenge");
        g_assert_cmpstr(vsm_peer_message_type_to_string(VSM_PEER_MSG_AUTH), ==, "auth");
        g_assert_cmpstr(vsm_peer_message_type_to_string(VSM_PEER_MSG_CONNTRACK), ==, "conntrack");
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
                { VSM_PEER_MSG_CHALLENGE, 0 },
                { VSM_PEER_MSG_AUTH, 0 },
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                gboolean no_domain = cases[i].type == VSM_PEER_MSG_ERROR || cases[i].type == VSM_PEER_MSG_CHALLENGE ||
                                     cases[i].type == VSM_PEER_MSG_AUTH;
                g_autoptr(VsmPeerMessage) m = make_msg(cases[i].type, no_domain ? NULL : DOM, 42 + i,
                                                       cases[i].n_nics);
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

/* "conntrack" messages: round trip (IPv4, IPv6, destroyed, empty), the
 * wire form, and the caps: more than VSM_CT_BATCH_MAX entries never
 * encode and never decode; bad records, base64, phases refused. */
static VsmCtEntry ct_entry(guint i, gboolean v6) {
        VsmCtEntry e = { .family = v6 ? 6 : 4, .proto = v6 ? 17 : 6, .tcp_state = v6 ? 0 : 3, .timeout = 100 + i,
                         .zone = i % 3, .mark = i, .status = VSM_CT_IPS_SEEN_REPLY };

        e.orig_src[0] = e.repl_dst[0] = 10;
        e.orig_src[3] = e.repl_dst[3] = (uint8_t) i;
        e.orig_dst[0] = e.repl_src[0] = 10;
        e.orig_dst[3] = e.repl_src[3] = 1;
        e.orig_sport = e.repl_dport = (uint16_t) (1000 + i);
        e.orig_dport = e.repl_sport = 80;
        return e;
}

static void test_conntrack_codec(void) {
        g_autoptr(VsmPeerMessage) m = g_new0(VsmPeerMessage, 1);
        g_autoptr(VsmPeerMessage) back = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) frame = NULL;
        g_autoptr(GString) big = NULL;
        g_autofree char *text = NULL;
        const char *body;
        gsize len;
        static const char *const bad[] = {
                "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"later\",\"seq\":0,\"last\":true,\"entries\":\"\"}",
                "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"delta\",\"seq\":-1,\"last\":true,\"entries\":\"\"}",
                "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"delta\",\"seq\":0,\"last\":1,\"entries\":\"\"}",
                "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"delta\",\"seq\":0,\"last\":true,\"entries\":\"AA=A\"}",
                "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"delta\",\"seq\":0,\"last\":true,\"entries\":\"AAA\"}",
                "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"delta\",\"seq\":0,\"last\":true,\"entries\":\"AAAA\"}",
                "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"delta\",\"seq\":0,\"last\":true}",
                "{\"type\":\"conntrack\",\"phase\":\"delta\",\"seq\":0,\"last\":true,\"entries\":\"\"}",
                "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"delta\",\"seq\":0,\"last\":true,\"entries\":\"\",\"nics\":[]}",
        };

        m->type = VSM_PEER_MSG_CONNTRACK;
        g_strlcpy(m->domain, DOM, sizeof(m->domain));
        m->ct_phase = VSM_PEER_CT_DELTA;
        m->ct_seq = 5;
        m->ct_last = TRUE;
        m->ct_entries = g_array_new(FALSE, FALSE, sizeof(VsmCtEntry));
        for (guint i = 0; i < 300; i++) {
                VsmCtEntry e = ct_entry(i, i % 2);

                if (i % 7 == 0)
                        e.flags = VSM_CT_F_DESTROYED;
                g_array_append_val(m->ct_entries, e);
        }
        frame = vsm_peer_message_encode(m);
        g_assert_nonnull(frame);
        body = frame_body(frame, &len);
        g_assert_true(vsm_peer_message_decode((const uint8_t *) body, len, &back, &error));
        g_assert_no_error(error);
        g_assert_cmpint(back->type, ==, VSM_PEER_MSG_CONNTRACK);
        g_assert_cmpstr(back->domain, ==, DOM);
        g_assert_cmpint(back->ct_phase, ==, VSM_PEER_CT_DELTA);
        g_assert_cmpuint(back->ct_seq, ==, 5);
        g_assert_true(back->ct_last);
        g_assert_cmpuint(back->ct_entries->len, ==, 300);
        g_assert_cmpmem(back->ct_entries->data, 300 * sizeof(VsmCtEntry), m->ct_entries->data, 300 * sizeof(VsmCtEntry));
        /* Compact: 150 IPv4 and 150 IPv6 records, base64, little else. */
        g_assert_cmpuint(len, <, (150 * VSM_CT_RECORD_LEN_IP4 + 150 * VSM_CT_RECORD_LEN_IP6) * 4 / 3 + 200);
        g_clear_pointer(&back, vsm_peer_message_free);
        g_clear_pointer(&frame, g_bytes_unref);

        /* The wire form of a full one: written directly (not by
         * json-glib), the same text as the generator's, base64 unwrapped. */
        {
                g_autofree uint8_t *raw = g_malloc(300 * VSM_CT_RECORD_LEN_IP6);
                g_autofree char *b64 = NULL, *want = NULL;
                g_autoptr(JsonParser) p = json_parser_new();
                g_autoptr(JsonGenerator) gen = json_generator_new();
                VsmWriter w;

                vsm_writer_init(&w, raw, 300 * VSM_CT_RECORD_LEN_IP6);
                for (guint i = 0; i < 300; i++)
                        g_assert_cmpint(vsm_ct_record_write(&w, &g_array_index(m->ct_entries, VsmCtEntry, i)), ==, 0);
                b64 = g_base64_encode(raw, w.len);
                want = g_strdup_printf("{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"delta\",\"seq\":5,"
                                       "\"last\":true,\"entries\":\"%s\"}", b64);
                frame = vsm_peer_message_encode(m);
                body = frame_body(frame, &len);
                g_assert_cmpuint(len, ==, strlen(want));
                g_assert_cmpmem(body, len, want, strlen(want));
                /* json-glib writes the same text back. */
                g_assert_true(json_parser_load_from_data(p, body, (gssize) len, NULL));
                json_generator_set_root(gen, json_parser_get_root(p));
                g_free(text);
                text = json_generator_to_data(gen, NULL);
                g_assert_cmpstr(text, ==, want);
                g_clear_pointer(&text, g_free);
                g_clear_pointer(&frame, g_bytes_unref);
        }
        /* Encoding a pre-stage batch of 1024 entries (what the source's
         * main loop does per dispatch), and decoding it (the
         * destination's): printed, not asserted. */
        {
                g_autoptr(VsmPeerMessage) mb = g_new0(VsmPeerMessage, 1);
                gint64 t0, t1, t2;

                mb->type = VSM_PEER_MSG_CONNTRACK;
                g_strlcpy(mb->domain, DOM, sizeof(mb->domain));
                mb->ct_entries = g_array_new(FALSE, FALSE, sizeof(VsmCtEntry));
                for (guint i = 0; i < 1024; i++) {
                        VsmCtEntry e = ct_entry(i, FALSE);

                        g_array_append_val(mb->ct_entries, e);
                }
                t0 = g_get_monotonic_time();
                frame = vsm_peer_message_encode(mb);
                t1 = g_get_monotonic_time();
                body = frame_body(frame, &len);
                g_assert_true(vsm_peer_message_decode((const uint8_t *) body, len, &back, &error));
                t2 = g_get_monotonic_time();
                g_assert_cmpuint(back->ct_entries->len, ==, 1024);
                g_printerr("# a 1024-entry conntrack message (%" G_GSIZE_FORMAT " octets): encoded in %" G_GINT64_FORMAT
                           " us, decoded in %" G_GINT64_FORMAT " us\n", len, t1 - t0, t2 - t1);
                g_clear_pointer(&back, vsm_peer_message_free);
                g_clear_pointer(&frame, g_bytes_unref);
        }

        /* The wire form of an empty pre-stage batch. */
        g_array_set_size(m->ct_entries, 0);
        m->ct_phase = VSM_PEER_CT_PRESTAGE;
        m->ct_seq = 0;
        m->ct_last = FALSE;
        frame = vsm_peer_message_encode(m);
        body = frame_body(frame, &len);
        text = g_strndup(body, len);
        g_assert_cmpstr(text, ==, "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"prestage\",\"seq\":0,"
                                  "\"last\":false,\"entries\":\"\"}");
        g_assert_true(decode_str(text, &back, &error));
        g_assert_cmpuint(back->ct_entries->len, ==, 0);
        g_clear_pointer(&back, vsm_peer_message_free);
        g_clear_pointer(&frame, g_bytes_unref);

        /* The cap, both ways. */
        g_array_set_size(m->ct_entries, VSM_CT_BATCH_MAX + 1);
        for (guint i = 0; i <= VSM_CT_BATCH_MAX; i++)
                g_array_index(m->ct_entries, VsmCtEntry, i) = ct_entry(i, FALSE);
        g_assert_null(vsm_peer_message_encode(m));
        {
                g_autofree uint8_t *raw = g_malloc((VSM_CT_BATCH_MAX + 1) * VSM_CT_RECORD_LEN_IP4);
                g_autofree char *b64 = NULL;
                VsmWriter w;

                vsm_writer_init(&w, raw, (VSM_CT_BATCH_MAX + 1) * VSM_CT_RECORD_LEN_IP4);
                for (guint i = 0; i <= VSM_CT_BATCH_MAX; i++)
                        g_assert_cmpint(vsm_ct_record_write(&w, &g_array_index(m->ct_entries, VsmCtEntry, i)), ==, 0);
                b64 = g_base64_encode(raw, w.len);
                big = g_string_new(NULL);
                g_string_printf(big, "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"delta\",\"seq\":0,"
                                     "\"last\":true,\"entries\":\"%s\"}", b64);
                g_assert_false(decode_str(big->str, &back, &error));
                g_assert_null(back);
                g_assert_nonnull(strstr(error->message, "too many"));
                g_clear_error(&error);
                /* Exactly the cap passes. */
                b64[0] = '\0';
                g_free(b64);
                b64 = g_base64_encode(raw, w.len - VSM_CT_RECORD_LEN_IP4);
                g_string_printf(big, "{\"type\":\"conntrack\",\"domain\":\"" DOM "\",\"phase\":\"delta\",\"seq\":0,"
                                     "\"last\":true,\"entries\":\"%s\"}", b64);
                g_assert_true(decode_str(big->str, &back, &error));
                g_assert_no_error(error);
                g_assert_cmpuint(back->ct_entries->len, ==, VSM_CT_BATCH_MAX);
                g_clear_pointer(&back, vsm_peer_message_free);
        }
        for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
                if (decode_str(bad[i], &back, &error))
                        g_error("taken: %s", bad[i]);
                g_assert_null(back);
                g_clear_error(&error);
        }
}

/* The exact wire form (member order is part of it). */
static void test_wire(void) {
        static const struct {
                VsmPeerMessageType type;
                const char *json;
        } cases[] = {
                { VSM_PEER_MSG_HELLO,
                  "{\"type\":\"hello\",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\"}" },
                { VSM_PEER_MSG_CHALLENGE, "{\"type\":\"challenge\",\"nonce\":\"" NONCE "\",\"proof\":\"" PROOF "\"}" },
                { VSM_PEER_MSG_AUTH, "{\"type\":\"auth\",\"proof\":\"" PROOF "\"}" },
                { VSM_PEER_MSG_STATE,
                  "{\"type\":\"state\",\"domain\":\"" DOM "\",\"generation\":7,\"nics\":[]}" },
                { VSM_PEER_MSG_SWITCHOVER,
                  "{\"type\":\"switchover\",\"domain\":\"" DOM "\",\"generation\":7,\"nics\":[],"
                  "\"suspended_at\":1700000000123456}" },
                { VSM_PEER_MSG_ERROR, "{\"type\":\"error\",\"reason\":\"unknown domain\"}" },
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(VsmPeerMessage) m = make_msg(cases[i].type, cases[i].type == VSM_PEER_MSG_HELLO ||
                                                       cases[i].type == VSM_PEER_MSG_STATE ||
                                                       cases[i].type == VSM_PEER_MSG_SWITCHOVER ? DOM : NULL, 7, 0);
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
                /* Version 1: the token in clear (only for insecure = true). */
                g_autoptr(VsmPeerMessage) m = make_msg(VSM_PEER_MSG_HELLO, DOM, 0, 0);
                g_autoptr(GBytes) frame = NULL;
                g_autofree char *text = NULL;
                gsize len;
                const char *body;

                m->version = 1;
                m->nonce[0] = '\0';
                g_strlcpy(m->token, TOKEN, sizeof(m->token));
                frame = vsm_peer_message_encode(m);
                body = frame_body(frame, &len);
                text = g_strndup(body, len);
                g_assert_cmpstr(text, ==, "{\"type\":\"hello\",\"version\":1,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\"}");
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
        g_assert_cmpuint(m->version, ==, 1);
        g_clear_pointer(&m, vsm_peer_message_free);

        g_assert_true(decode_str("{\"nonce\":\"" NONCE "\",\"domain\":\"" DOM_UPPER "\",\"version\":2,\"type\":\"hello\"}",
                                 &m, &error));
        g_assert_no_error(error);
        g_assert_cmpstr(m->domain, ==, DOM);
        g_assert_cmpstr(m->nonce, ==, NONCE);
        g_assert_cmpstr(m->token, ==, "");
        g_assert_cmpuint(m->version, ==, 2);
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
        H(",\"version\":2,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\""),  /* v2 never carries the token */
        H(",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\",\"token\":\"" TOKEN "\""),
        H(",\"version\":1,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\",\"token\":\"" TOKEN "\""),
        H(",\"version\":2,\"domain\":\"" DOM "\""),                 /* no nonce */
        H(",\"version\":3,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\""),
        H(",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"0011\""),
        H(",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "00\""),
        H(",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"00112233445566778899AABBCCDDEEFF\""),
        H(",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":7"),
        H(",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\",\"proof\":\"" PROOF "\""),
        "{\"type\":\"challenge\"}",
        "{\"type\":\"challenge\",\"nonce\":\"" NONCE "\"}",
        "{\"type\":\"challenge\",\"proof\":\"" PROOF "\"}",
        "{\"type\":\"challenge\",\"nonce\":\"" NONCE "\",\"proof\":\"" NONCE "\"}",
        "{\"type\":\"challenge\",\"nonce\":\"" PROOF "\",\"proof\":\"" PROOF "\"}",
        "{\"type\":\"challenge\",\"nonce\":\"" NONCE "\",\"proof\":\"" PROOF "\",\"domain\":\"" DOM "\"}",
        "{\"type\":\"auth\"}",
        "{\"type\":\"auth\",\"proof\":null}",
        "{\"type\":\"auth\",\"proof\":\"" PROOF "0\"}",
        "{\"type\":\"auth\",\"proof\":\"" PROOF "\",\"nonce\":\"" NONCE "\"}",
        "{\"type\":\"auth\",\"proof\":\"" PROOF "\",\"token\":\"" TOKEN "\"}",
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

/* The cluster secret of the tests, and another one. */
static GBytes *test_key(void) {
        static GBytes *key;

        if (!key)
                key = g_bytes_new_static("0123456789abcdef0123456789abcdef-test-key", 41);
        return key;
}

static GBytes *other_key(void) {
        static GBytes *key;

        if (!key)
                key = g_bytes_new_static("another cluster, another secret: 0123456789", 43);
        return key;
}

typedef struct Srv {
        VsmPeerServer *s;
        guint n_lookup;
        guint n_authorize;
        guint n_connected;
        guint n_disconnected;
        guint n_refused;
        gint64 refused_connections;    /* open connections when refused() ran */
        gboolean send_on_connect;
        gboolean token_used;           /* as the daemon does: a token is used once */
        gboolean reuse_token;          /* ...unless the test says otherwise */
        GBytes *key;                   /* NULL: test_key(); see no_key */
        gboolean no_key;
        gboolean insecure;
        const VsmPeerServerCallbacks *cb; /* NULL: srv_cb */
        VsmPeerLookup *pending;        /* srv_cb_deferred: the lookup not answered yet */
        char pending_domain[37];
        gboolean answer_now;           /* srv_cb_deferred answers inside the call: TOKEN for DOM */
} Srv;

static gboolean srv_lookup(const char *domain, char ret_token[VSM_NETSTATE_TOKEN_LEN + 1], gpointer user_data) {
        Srv *srv = user_data;

        srv->n_lookup++;
        if (!g_str_equal(domain, DOM))
                return FALSE;
        g_strlcpy(ret_token, TOKEN, VSM_NETSTATE_TOKEN_LEN + 1);
        return TRUE;
}

static gboolean srv_authorize(const char *domain, const char *token, gpointer user_data) {
        Srv *srv = user_data;

        srv->n_authorize++;
        g_assert_cmpstr(domain, ==, DOM);
        g_assert_cmpstr(token, ==, TOKEN);
        if (srv->token_used && !srv->reuse_token)
                return FALSE;
        srv->token_used = TRUE;
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

static void srv_disconnected(const char *domain, gpointer user_data) {
        Srv *srv = user_data;

        g_assert_cmpstr(domain, ==, DOM);
        srv->n_disconnected++;
}

static gint64 srv_stat(Srv *srv, const char *name);

static void srv_refused(const char *domain, const char *why, gpointer user_data) {
        Srv *srv = user_data;

        g_assert_cmpstr(domain, ==, DOM);
        g_test_message("refused: %s", why);
        srv->n_refused++;
        srv->refused_connections = srv_stat(srv, "connections");
}

static const VsmPeerServerCallbacks srv_cb = {
        .lookup = srv_lookup,
        .authorize = srv_authorize,
        .connected = srv_connected,
        .disconnected = srv_disconnected,
        .refused = srv_refused,
};

static void srv_start_full(Srv *srv, const char *listen, const VsmPeerTls *tls) {
        g_autoptr(GError) error = NULL;
        VsmPeerSecurity sec = { .tls = tls, .key = srv->no_key ? NULL : srv->key ? srv->key : test_key(),
                                .insecure = srv->insecure };

        srv->s = vsm_peer_server_new(listen, &sec, srv->cb ? srv->cb : &srv_cb, srv, &error);
        g_assert_no_error(error);
        g_assert_nonnull(srv->s);
        g_assert_cmpuint(vsm_peer_server_get_port(srv->s), >, 0);
}

static void srv_start_tls(Srv *srv, const VsmPeerTls *tls) {
        srv_start_full(srv, "127.0.0.1:0", tls);
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

static void rec_connect_full(Rec *r, const char *origin, const char *domain, const char *token, const VsmPeerTls *tls,
                             GBytes *key) {
        VsmPeerSecurity sec = { .tls = tls, .key = key };

        r->c = vsm_peer_client_new(origin, domain, token, &sec, &rec_cb, r);
        g_assert_nonnull(r->c);
}

static void rec_connect_tls(Rec *r, const char *origin, const char *domain, const char *token,
                            const VsmPeerTls *tls) {
        rec_connect_full(r, origin, domain, token, tls, test_key());
}

static void rec_connect(Rec *r, const char *origin, const char *domain, const char *token) {
        rec_connect_tls(r, origin, domain, token, NULL);
}

static gboolean client_auth_failed(VsmPeerClient *c) {
        g_autoptr(JsonNode) j = vsm_peer_client_to_json(c);

        return json_object_get_boolean_member(json_node_get_object(j), "auth_failed");
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
        g_assert_cmpuint(srv.n_disconnected, ==, 0);   /* dropped, not ended by itself */
        g_assert_cmpuint(n_warnings, ==, w0);
        g_assert_true(vsm_peer_client_is_authenticated(r.c));
        rec_clear(&r);
        vsm_peer_server_free(srv.s);
}

/* The source proves itself first: a destination with a wrong token or
 * key, for a domain the source does not migrate, or facing a source with
 * another key, finds out from the challenge and closes; nothing of the
 * domain is ever sent, and the source learns nothing it could use. */
static void test_tcp_origin_fails(gconstpointer data) {
        const char *what = data;
        Srv srv = { .send_on_connect = TRUE };
        g_autofree char *origin = NULL;
        Rec r;

        if (g_str_equal(what, "server-key"))
                srv.key = other_key();
        srv_start(&srv);
        origin = srv_origin(&srv);
        rec_init(&r);
        if (g_str_equal(what, "token"))
                rec_connect(&r, origin, DOM, TOKEN_BAD);
        else if (g_str_equal(what, "domain"))
                rec_connect(&r, origin, DOM_OTHER, TOKEN);
        else if (g_str_equal(what, "client-key"))
                rec_connect_full(&r, origin, DOM, TOKEN, NULL, other_key());
        else if (g_str_equal(what, "no-key"))
                rec_connect_full(&r, origin, DOM, TOKEN, NULL, NULL);
        else
                rec_connect(&r, origin, DOM, TOKEN);
        WAIT_UNTIL(r.n_closed == 1, 3000);
        g_assert_error(r.error, VSM_ERROR, VSM_ERROR_INVALID);
        g_assert_nonnull(strstr(r.error->message, "the origin failed authentication"));
        g_assert_true(client_auth_failed(r.c));
        g_assert_false(vsm_peer_client_is_authenticated(r.c));
        g_assert_cmpuint(r.msgs->len, ==, 0);
        g_assert_cmpuint(srv.n_lookup, ==, 1);
        g_assert_cmpuint(srv.n_authorize, ==, 0);
        g_assert_cmpuint(srv.n_connected, ==, 0);
        WAIT_UNTIL(srv_stat(&srv, "connections") == 0, 1000);
        g_assert_cmpint(srv_stat(&srv, "authorized"), ==, 0);
        g_assert_cmpint(srv_stat(&srv, "messages_sent"), ==, 0);
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

/* json framed and sealed under sk, as the frames after the handshake. */
static void raw_write_sealed(int fd, const guint8 *sk, gboolean from_source, guint64 seq, const char *json) {
        gsize len = strlen(json);
        guint8 *plain = g_malloc(4 + len);
        g_autoptr(GBytes) frame = NULL;
        g_autoptr(GBytes) sealed = NULL;
        gsize size;
        const void *p;

        plain[0] = (guint8) (len >> 24);
        plain[1] = (guint8) (len >> 16);
        plain[2] = (guint8) (len >> 8);
        plain[3] = (guint8) len;
        memcpy(plain + 4, json, len);
        frame = g_bytes_new_take(plain, 4 + len);
        sealed = vsm_peer_frame_seal(sk, from_source, seq, frame);
        p = g_bytes_get_data(sealed, &size);
        raw_write(fd, p, size);
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

#define HELLO_JSON "{\"type\":\"hello\",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\"}"
#define HELLO_V1_JSON "{\"type\":\"hello\",\"version\":1,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\"}"

/* Appends what fd has to buf; TRUE once buf holds a whole frame or the
 * peer closed (*eof). */
static gboolean raw_poll(int fd, GByteArray *buf, gboolean *eof) {
        guint8 tmp[4096];

        for (;;) {
                ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);

                if (n > 0) {
                        g_byte_array_append(buf, tmp, (guint) n);
                        continue;
                }
                if (n == 0 || (errno != EAGAIN && errno != EINTR))
                        *eof = TRUE;
                break;
        }
        if (buf->len >= 4) {
                guint32 len = (guint32) buf->data[0] << 24 | (guint32) buf->data[1] << 16 |
                              (guint32) buf->data[2] << 8 | buf->data[3];

                if (buf->len >= 4 + len)
                        return TRUE;
        }
        return *eof;
}

/* The next frame from fd, whole (prefix included), or NULL at end of
 * stream; the main loop runs meanwhile. */
static GBytes *raw_next_frame(int fd, GByteArray *buf) {
        gboolean eof = FALSE;
        guint32 len;
        GBytes *frame;

        WAIT_UNTIL(raw_poll(fd, buf, &eof), 3000);
        if (buf->len < 4)
                return NULL;
        len = (guint32) buf->data[0] << 24 | (guint32) buf->data[1] << 16 | (guint32) buf->data[2] << 8 | buf->data[3];
        if (buf->len < 4 + len)
                return NULL;
        frame = g_bytes_new(buf->data, 4 + len);
        g_byte_array_remove_range(buf, 0, 4 + len);
        return frame;
}

static VsmPeerMessage *raw_next_msg(int fd, GByteArray *buf) {
        g_autoptr(GBytes) frame = raw_next_frame(fd, buf);
        g_autoptr(GError) error = NULL;
        VsmPeerMessage *m = NULL;
        gsize size;
        const guint8 *p;

        if (!frame)
                return NULL;
        p = g_bytes_get_data(frame, &size);
        g_assert_true(vsm_peer_message_decode(p + 4, size - 4, &m, &error));
        g_assert_no_error(error);
        return m;
}

static GBytes *error_frame(const char *reason);

/* A sealed frame (prefix included) opened with sk: the message, or NULL
 * when its MAC is wrong. */
static VsmPeerMessage *raw_open(GBytes *frame, const guint8 *sk, gboolean from_source, guint64 seq) {
        g_autoptr(GError) error = NULL;
        VsmPeerMessage *m = NULL;
        const guint8 *body;
        gsize size, blen;
        const guint8 *p;

        g_assert_nonnull(frame);
        p = g_bytes_get_data(frame, &size);
        g_assert_cmpuint(size, >, 4);
        if (!vsm_peer_frame_open(sk, from_source, seq, p + 4, size - 4, &body, &blen))
                return NULL;
        g_assert_true(vsm_peer_message_decode(body, blen, &m, &error));
        g_assert_no_error(error);
        return m;
}

/* The next frame from the source, sealed under sk with number seq. */
static VsmPeerMessage *raw_next_sealed(int fd, GByteArray *buf, const guint8 *sk, guint64 seq) {
        g_autoptr(GBytes) frame = raw_next_frame(fd, buf);
        VsmPeerMessage *m;

        if (!frame)
                return NULL;
        m = raw_open(frame, sk, TRUE, seq);
        g_assert_nonnull(m);
        return m;
}

/* The refusal of an auth as the source seals it (sequence 0). */
static GBytes *sealed_refusal(GBytes *key, const char *domain, const char *token, const char *nonce_d,
                              const char *nonce_s) {
        g_autoptr(GBytes) plain = error_frame(VSM_PEER_NOT_AUTHORIZED);
        guint8 sk[VSM_PEER_MAC_LEN];

        vsm_peer_session_key(key, domain, token, nonce_d, nonce_s, sk);
        return vsm_peer_frame_seal(sk, TRUE, 0, plain);
}

static void raw_hello(int fd, const char *domain, const char *nonce) {
        g_autofree char *json = g_strdup_printf("{\"type\":\"hello\",\"version\":2,\"domain\":\"%s\",\"nonce\":\"%s\"}",
                                                domain, nonce);

        raw_write_frame(fd, json);
}

static void raw_auth(int fd, const char *proof) {
        g_autofree char *json = g_strdup_printf("{\"type\":\"auth\",\"proof\":\"%s\"}", proof);

        raw_write_frame(fd, json);
}

/* A destination by hand: hello (nonce), the challenge checked with key,
 * then auth with key.  Returns the challenge. */
static VsmPeerMessage *raw_handshake(int fd, GByteArray *buf, const char *domain, const char *nonce, GBytes *key) {
        VsmPeerMessage *ch;
        char want[VSM_PEER_PROOF_LEN + 1];

        raw_hello(fd, domain, nonce);
        ch = raw_next_msg(fd, buf);
        g_assert_nonnull(ch);
        g_assert_cmpint(ch->type, ==, VSM_PEER_MSG_CHALLENGE);
        vsm_peer_proof(key, TRUE, domain, TOKEN, nonce, ch->nonce, want);
        g_assert_cmpstr(ch->proof, ==, want);
        vsm_peer_proof(key, FALSE, domain, TOKEN, nonce, ch->nonce, want);
        raw_auth(fd, want);
        return ch;
}

static gboolean try_accept(int lfd, int *ret);

/* The "conntrack" capability (vsimigd(8), peer protocol): a destination
 * announces it in its hello; names it does not know are ignored, the
 * list is bounded.  Both ways: our destination to our source (caps seen),
 * an older destination (a hello without caps: none), and our destination
 * to an older source, which refuses the unknown member: it connects once
 * more without it. */
static void test_caps(void) {
        static const char *const bad[] = {
                "{\"type\":\"hello\",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\",\"caps\":\"conntrack\"}",
                "{\"type\":\"hello\",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\",\"caps\":[1]}",
                "{\"type\":\"hello\",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\",\"caps\":[[]]}",
                "{\"type\":\"hello\",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\",\"caps\":"
                "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}",
                "{\"type\":\"hello\",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE "\",\"caps\":"
                "[\"conntrack-with-a-name-longer-than-32\"]}",
                "{\"type\":\"hello\",\"version\":1,\"domain\":\"" DOM "\",\"token\":\"" TOKEN "\",\"caps\":[]}",
        };
        g_autoptr(VsmPeerMessage) m = NULL;
        g_autoptr(GError) error = NULL;
        VsmPeerMessage hello = { .type = VSM_PEER_MSG_HELLO, .version = 2, .caps = VSM_PEER_CAP_CONNTRACK };
        g_autoptr(GBytes) frame = NULL;
        g_autofree char *text = NULL;
        const char *body;
        gsize len;

        /* codec */
        g_assert_true(decode_str("{\"type\":\"hello\",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE
                                 "\",\"caps\":[\"later-thing\",\"conntrack\"]}", &m, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(m->caps, ==, VSM_PEER_CAP_CONNTRACK);
        g_clear_pointer(&m, vsm_peer_message_free);
        g_assert_true(decode_str("{\"type\":\"hello\",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE
                                 "\",\"caps\":[\"later-thing\"]}", &m, &error));
        g_assert_cmpuint(m->caps, ==, 0);
        g_clear_pointer(&m, vsm_peer_message_free);
        for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
                if (decode_str(bad[i], &m, &error))
                        g_error("taken: %s", bad[i]);
                g_clear_error(&error);
        }
        g_strlcpy(hello.domain, DOM, sizeof(hello.domain));
        g_strlcpy(hello.nonce, NONCE, sizeof(hello.nonce));
        frame = vsm_peer_message_encode(&hello);
        body = frame_body(frame, &len);
        text = g_strndup(body, len);
        g_assert_cmpstr(text, ==, "{\"type\":\"hello\",\"version\":2,\"domain\":\"" DOM "\",\"nonce\":\"" NONCE
                                  "\",\"caps\":[\"conntrack\"]}");

        /* our destination -> our source: announced */
        {
                Srv srv = { .send_on_connect = TRUE };
                g_autofree char *origin = NULL;
                Rec r;

                srv_start(&srv);
                origin = srv_origin(&srv);
                rec_init(&r);
                g_assert_cmpuint(vsm_peer_server_caps(srv.s, DOM), ==, 0);
                rec_connect(&r, origin, DOM, TOKEN);
                WAIT_UNTIL(srv.n_connected == 1 && r.msgs->len == 1, 3000);
                g_assert_cmpuint(vsm_peer_server_caps(srv.s, DOM), ==, VSM_PEER_CAP_CONNTRACK);
                rec_clear(&r);
                g_clear_pointer(&srv.s, vsm_peer_server_free);
        }
        /* an older destination (no caps) -> our source: none */
        {
                Srv srv = { .send_on_connect = TRUE };
                g_autoptr(GByteArray) buf = g_byte_array_new();
                g_autoptr(VsmPeerMessage) ch = NULL;
                int fd;

                srv_start(&srv);
                fd = raw_connect(vsm_peer_server_get_port(srv.s));
                ch = raw_handshake(fd, buf, DOM, NONCE, test_key());
                WAIT_UNTIL(srv.n_connected == 1, 3000);
                g_assert_cmpuint(vsm_peer_server_caps(srv.s, DOM), ==, 0);
                close(fd);
                g_clear_pointer(&srv.s, vsm_peer_server_free);
        }
        /* our destination -> an older source that refuses the member:
         * once more, without it */
        {
                struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t slen = sizeof(sin);
                int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                g_autofree char *origin = NULL;
                g_autoptr(GByteArray) buf = g_byte_array_new();
                g_autoptr(GByteArray) buf2 = g_byte_array_new();
                g_autoptr(VsmPeerMessage) h1 = NULL;
                g_autoptr(VsmPeerMessage) h2 = NULL;
                int fd = -1, fd2 = -1;
                Rec r;

                g_assert_cmpint(bind(lfd, (struct sockaddr *) &sin, sizeof(sin)), ==, 0);
                g_assert_cmpint(listen(lfd, 8), ==, 0);
                g_assert_cmpint(getsockname(lfd, (struct sockaddr *) &sin, &slen), ==, 0);
                origin = g_strdup_printf("127.0.0.1:%u", ntohs(sin.sin_port));
                rec_init(&r);
                rec_connect(&r, origin, DOM, TOKEN);
                WAIT_UNTIL(try_accept(lfd, &fd), 3000);
                h1 = raw_next_msg(fd, buf);
                g_assert_nonnull(h1);
                g_assert_cmpuint(h1->caps, ==, VSM_PEER_CAP_CONNTRACK);
                /* what an older source answers a hello with an unknown member */
                raw_write_frame(fd, "{\"type\":\"error\",\"reason\":\"bad message\"}");
                close(fd);
                WAIT_UNTIL(try_accept(lfd, &fd2), 3000);
                h2 = raw_next_msg(fd2, buf2);
                g_assert_nonnull(h2);
                g_assert_cmpint(h2->type, ==, VSM_PEER_MSG_HELLO);
                g_assert_cmpuint(h2->caps, ==, 0);
                g_assert_cmpuint(r.n_closed, ==, 0);
                close(fd2);
                rec_clear(&r);
                close(lfd);
        }
}

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


static GBytes *error_frame(const char *reason) {
        VsmPeerMessage m = { .type = VSM_PEER_MSG_ERROR, .reason = (char *) reason };

        return vsm_peer_message_encode(&m);
}

/* A destination that does not hold the key (here: a proof made with
 * another one) is refused by the source: "not authorized", counted,
 * reported to the daemon for its timeline. */
static void test_auth_wrong_key_at_source(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(VsmPeerMessage) ch = NULL;
        g_autoptr(GBytes) reply = NULL;
        g_autoptr(GBytes) want = NULL;
        char proof[VSM_PEER_PROOF_LEN + 1];
        int fd;

        srv_start(&srv);
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_hello(fd, DOM, NONCE);
        ch = raw_next_msg(fd, buf);
        g_assert_nonnull(ch);
        g_assert_cmpint(ch->type, ==, VSM_PEER_MSG_CHALLENGE);
        g_assert_cmpstr(ch->nonce, !=, NONCE);
        /* The token alone (what a libvirt read-only client can read) with
         * the wrong key. */
        vsm_peer_proof(other_key(), FALSE, DOM, TOKEN, NONCE, ch->nonce, proof);
        raw_auth(fd, proof);
        reply = raw_next_frame(fd, buf);
        g_assert_nonnull(reply);
        want = sealed_refusal(test_key(), DOM, TOKEN, NONCE, ch->nonce);
        g_assert_true(g_bytes_equal(reply, want));
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        g_assert_cmpuint(srv.n_connected, ==, 0);
        g_assert_cmpuint(srv.n_authorize, ==, 0);
        g_assert_cmpuint(srv.n_refused, ==, 1);
        /* The refusal was written and the connection closed before the
         * daemon was told (its note must not delay the answer). */
        g_assert_cmpint(srv.refused_connections, ==, 0);
        g_assert_cmpint(srv_stat(&srv, "rejected_auth"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "authorized"), ==, 0);
        g_assert_cmpint(srv_stat(&srv, "messages_sent"), ==, 0);
        vsm_peer_server_free(srv.s);
}

/* A hello and auth captured from an earlier, successful connection and
 * replayed: the source's fresh nonce makes the captured proof worthless,
 * even with the token unchanged. */
static void test_auth_replay(void) {
        Srv srv = { .send_on_connect = TRUE, .reuse_token = TRUE };
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(VsmPeerMessage) ch1 = NULL;
        g_autoptr(VsmPeerMessage) ch2 = NULL;
        g_autoptr(VsmPeerMessage) st = NULL;
        g_autoptr(GBytes) reply = NULL;
        g_autoptr(GBytes) want = NULL;
        char captured[VSM_PEER_PROOF_LEN + 1];
        guint8 sk[VSM_PEER_MAC_LEN];
        int fd;

        srv_start(&srv);
        /* The genuine exchange, "captured". */
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        ch1 = raw_handshake(fd, buf, DOM, NONCE, test_key());
        vsm_peer_proof(test_key(), FALSE, DOM, TOKEN, NONCE, ch1->nonce, captured);
        vsm_peer_session_key(test_key(), DOM, TOKEN, NONCE, ch1->nonce, sk);
        st = raw_next_sealed(fd, buf, sk, 0);
        g_assert_nonnull(st);
        g_assert_cmpint(st->type, ==, VSM_PEER_MSG_STATE);
        g_assert_cmpuint(srv.n_connected, ==, 1);
        close(fd);
        WAIT_UNTIL(srv.n_disconnected == 1, 3000);

        /* Replayed byte for byte. */
        g_byte_array_set_size(buf, 0);
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_hello(fd, DOM, NONCE);
        raw_auth(fd, captured);
        ch2 = raw_next_msg(fd, buf);
        g_assert_nonnull(ch2);
        g_assert_cmpint(ch2->type, ==, VSM_PEER_MSG_CHALLENGE);
        g_assert_cmpstr(ch2->nonce, !=, ch1->nonce);
        reply = raw_next_frame(fd, buf);
        g_assert_nonnull(reply);
        want = sealed_refusal(test_key(), DOM, TOKEN, NONCE, ch2->nonce);
        g_assert_true(g_bytes_equal(reply, want));
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        g_assert_cmpuint(srv.n_connected, ==, 1);
        g_assert_cmpint(srv_stat(&srv, "rejected_auth"), ==, 1);

        /* The captured auth alone, without a hello: out of order. */
        g_byte_array_set_size(buf, 0);
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_auth(fd, captured);
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        g_assert_cmpuint(srv.n_connected, ==, 1);
        g_assert_cmpint(srv_stat(&srv, "rejected_protocol"), ==, 1);
        vsm_peer_server_free(srv.s);
}

/* One exchange by hand; returns the challenge frame and the reply to the
 * auth (proof: the right one for TOKEN when right, else a fixed wrong one). */
static void probe(Srv *srv, const char *domain, gboolean right, GBytes **ret_challenge, GBytes **ret_reply) {
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(VsmPeerMessage) ch = NULL;
        char proof[VSM_PEER_PROOF_LEN + 1];
        int fd = raw_connect(vsm_peer_server_get_port(srv->s));
        gsize size;
        const guint8 *p;
        g_autoptr(GError) error = NULL;

        raw_hello(fd, domain, NONCE);
        *ret_challenge = raw_next_frame(fd, buf);
        g_assert_nonnull(*ret_challenge);
        p = g_bytes_get_data(*ret_challenge, &size);
        g_assert_true(vsm_peer_message_decode(p + 4, size - 4, &ch, &error));
        g_assert_cmpint(ch->type, ==, VSM_PEER_MSG_CHALLENGE);
        if (right)
                vsm_peer_proof(test_key(), FALSE, domain, TOKEN, NONCE, ch->nonce, proof);
        else
                g_strlcpy(proof, PROOF, sizeof(proof));
        raw_auth(fd, proof);
        *ret_reply = raw_next_frame(fd, buf);
        g_assert_nonnull(*ret_reply);
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
}

/* The nonce of a challenge frame (static storage, for one use). */
static const char *challenge_nonce(GBytes *frame) {
        static char nonce[VSM_PEER_NONCE_LEN + 1];
        g_autoptr(VsmPeerMessage) m = NULL;
        g_autoptr(GError) error = NULL;
        gsize size;
        const guint8 *p = g_bytes_get_data(frame, &size);

        g_assert_true(vsm_peer_message_decode(p + 4, size - 4, &m, &error));
        g_assert_cmpint(m->type, ==, VSM_PEER_MSG_CHALLENGE);
        g_strlcpy(nonce, m->nonce, sizeof(nonce));
        return nonce;
}

/* No probing: an unknown domain, a bad proof and a used token get the
 * same challenge shape and byte-identical refusals. */
static void test_auth_identical_replies(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autoptr(GBytes) ch_unknown = NULL, reply_unknown = NULL;
        g_autoptr(GBytes) ch_bad = NULL, reply_bad = NULL;
        g_autoptr(GBytes) ch_used = NULL, reply_used = NULL;
        g_autoptr(GBytes) want_bad = NULL, want_used = NULL;

        srv_start(&srv);
        probe(&srv, DOM_OTHER, TRUE, &ch_unknown, &reply_unknown);
        probe(&srv, DOM, FALSE, &ch_bad, &reply_bad);
        srv.token_used = TRUE;
        probe(&srv, DOM, TRUE, &ch_used, &reply_used);
        /* Sealed under each connection's session key: the same refusal,
         * and the unknown domain's (under a key from a random token)
         * has the same length. */
        want_bad = sealed_refusal(test_key(), DOM, TOKEN, NONCE, challenge_nonce(ch_bad));
        want_used = sealed_refusal(test_key(), DOM, TOKEN, NONCE, challenge_nonce(ch_used));
        g_assert_true(g_bytes_equal(reply_bad, want_bad));
        g_assert_true(g_bytes_equal(reply_used, want_used));
        g_assert_cmpuint(g_bytes_get_size(reply_unknown), ==, g_bytes_get_size(want_bad));
        g_assert_cmpuint(g_bytes_get_size(ch_unknown), ==, g_bytes_get_size(ch_bad));
        g_assert_cmpuint(g_bytes_get_size(ch_unknown), ==, g_bytes_get_size(ch_used));
        g_assert_cmpuint(srv.n_connected, ==, 0);
        g_assert_cmpuint(srv.n_authorize, ==, 1);       /* the used token: the daemon said no */
        g_assert_cmpuint(srv.n_refused, ==, 2);         /* the unknown domain has no timeline */
        g_assert_cmpint(srv_stat(&srv, "rejected_auth"), ==, 3);
        vsm_peer_server_free(srv.s);
}

/* A token is used once: a second destination for the domain is refused
 * while the first stays served; when the first ends by itself the daemon
 * hears of it (to mint a new token). */
static void test_auth_token_once(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autofree char *origin = NULL;
        Rec r1, r2, r3;

        srv_start(&srv);
        origin = srv_origin(&srv);
        rec_init(&r1);
        rec_connect(&r1, origin, DOM, TOKEN);
        WAIT_UNTIL(r1.msgs->len == 1 || r1.n_closed, 3000);
        g_assert_cmpuint(r1.msgs->len, ==, 1);
        rec_init(&r2);
        rec_connect(&r2, origin, DOM, TOKEN);
        WAIT_UNTIL(r2.n_closed == 1, 3000);
        g_assert_error(r2.error, VSM_ERROR, VSM_ERROR_IO);
        g_assert_nonnull(strstr(r2.error->message, VSM_PEER_NOT_AUTHORIZED));
        g_assert_cmpuint(r2.msgs->len, ==, 0);
        g_assert_true(vsm_peer_client_is_connected(r1.c));
        g_assert_cmpuint(srv.n_connected, ==, 1);

        /* Even a token the daemon would take again: one connection per domain. */
        srv.reuse_token = TRUE;
        rec_init(&r3);
        rec_connect(&r3, origin, DOM, TOKEN);
        WAIT_UNTIL(r3.n_closed == 1, 3000);
        g_assert_nonnull(strstr(r3.error->message, VSM_PEER_NOT_AUTHORIZED));
        g_assert_cmpuint(srv.n_connected, ==, 1);
        g_assert_cmpint(srv_stat(&srv, "rejected_auth"), ==, 2);
        g_assert_cmpuint(srv.n_disconnected, ==, 0);

        g_clear_pointer(&r1.c, vsm_peer_client_free);
        WAIT_UNTIL(srv.n_disconnected == 1, 3000);
        rec_clear(&r1);
        rec_clear(&r2);
        rec_clear(&r3);
        vsm_peer_server_free(srv.s);
}

/* Version 1 (the token in clear) only with insecure = true, and then
 * only without a key or TLS. */
static void test_auth_v1(void) {
        Srv srv = { .send_on_connect = TRUE };
        Srv lax = { .send_on_connect = TRUE, .no_key = TRUE, .insecure = TRUE };
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(VsmPeerMessage) m = NULL;
        int fd;

        srv_start(&srv);
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_write_frame(fd, HELLO_V1_JSON);
        m = raw_next_msg(fd, buf);
        g_assert_nonnull(m);
        g_assert_cmpint(m->type, ==, VSM_PEER_MSG_ERROR);
        g_assert_nonnull(strstr(m->reason, "version 1"));
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        g_assert_cmpuint(srv.n_lookup, ==, 0);
        g_assert_cmpuint(srv.n_connected, ==, 0);
        g_assert_cmpint(srv_stat(&srv, "rejected_v1"), ==, 1);
        vsm_peer_server_free(srv.s);

        srv_start(&lax);
        g_assert_true(srv_stat(&lax, "insecure"));
        fd = raw_connect(vsm_peer_server_get_port(lax.s));
        raw_write_frame(fd, HELLO_V1_JSON);
        g_clear_pointer(&m, vsm_peer_message_free);
        g_byte_array_set_size(buf, 0);
        m = raw_next_msg(fd, buf);
        g_assert_nonnull(m);
        g_assert_cmpint(m->type, ==, VSM_PEER_MSG_STATE);
        g_assert_cmpuint(lax.n_connected, ==, 1);
        close(fd);

        /* insecure = true does not reopen version 1 when a key is set
         * (at start, or later by SIGHUP): the token would go in clear on
         * a channel the operator meant to authenticate. */
        WAIT_UNTIL(lax.n_disconnected == 1, 3000);
        lax.reuse_token = TRUE;        /* only the version can refuse it */
        vsm_peer_server_set_key(lax.s, test_key());
        fd = raw_connect(vsm_peer_server_get_port(lax.s));
        raw_write_frame(fd, HELLO_V1_JSON);
        g_clear_pointer(&m, vsm_peer_message_free);
        g_byte_array_set_size(buf, 0);
        m = raw_next_msg(fd, buf);
        g_assert_nonnull(m);
        g_assert_cmpint(m->type, ==, VSM_PEER_MSG_ERROR);
        g_assert_nonnull(strstr(m->reason, "version 1"));
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        g_assert_cmpuint(lax.n_connected, ==, 1);
        g_assert_cmpint(srv_stat(&lax, "rejected_v1"), ==, 1);
        vsm_peer_server_free(lax.s);

        {
                Srv keyed = { .send_on_connect = TRUE, .insecure = TRUE };

                srv_start(&keyed);
                fd = raw_connect(vsm_peer_server_get_port(keyed.s));
                raw_write_frame(fd, HELLO_V1_JSON);
                g_clear_pointer(&m, vsm_peer_message_free);
                g_byte_array_set_size(buf, 0);
                m = raw_next_msg(fd, buf);
                g_assert_nonnull(m);
                g_assert_cmpint(m->type, ==, VSM_PEER_MSG_ERROR);
                WAIT_UNTIL(raw_closed(fd), 3000);
                close(fd);
                g_assert_cmpuint(keyed.n_lookup, ==, 0);
                g_assert_cmpuint(keyed.n_connected, ==, 0);
                g_assert_cmpint(srv_stat(&keyed, "rejected_v1"), ==, 1);
                vsm_peer_server_free(keyed.s);
        }
}

static int raw_connect_from(guint16 port, const char *from) {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr_in src = { .sin_family = AF_INET };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(inet_pton(AF_INET, from, &src.sin_addr), ==, 1);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &src, sizeof(src)), ==, 0);
        g_assert_cmpint(connect(fd, (struct sockaddr *) &sin, sizeof(sin)), ==, 0);
        return fd;
}

/* At most VSM_PEER_CONNS_PER_ADDR connections in the handshake from one
 * address; others are not disturbed, and an authenticated connection no
 * longer counts. */
static void test_per_address(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autofree char *origin = NULL;
        int fds[VSM_PEER_CONNS_PER_ADDR], extra, other;
        guint16 port;
        Rec r;

        srv_start(&srv);
        port = vsm_peer_server_get_port(srv.s);
        origin = srv_origin(&srv);
        for (int i = 0; i < VSM_PEER_CONNS_PER_ADDR; i++)
                fds[i] = raw_connect_from(port, "127.0.0.1");
        WAIT_UNTIL(srv_stat(&srv, "connections") == VSM_PEER_CONNS_PER_ADDR, 3000);
        extra = raw_connect_from(port, "127.0.0.1");
        WAIT_UNTIL(srv_stat(&srv, "rejected_per_address") == 1, 3000);
        WAIT_UNTIL(raw_closed(extra), 3000);
        close(extra);
        other = raw_connect_from(port, "127.0.0.2");
        WAIT_UNTIL(srv_stat(&srv, "connections") == VSM_PEER_CONNS_PER_ADDR + 1, 3000);
        g_assert_cmpint(srv_stat(&srv, "rejected_per_address"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "over_capacity"), ==, 0);

        /* A real destination from the busy address: refused until one
         * of the idle ones goes. */
        close(fds[0]);
        WAIT_UNTIL(srv_stat(&srv, "connections") == VSM_PEER_CONNS_PER_ADDR, 3000);
        rec_init(&r);
        rec_connect(&r, origin, DOM, TOKEN);
        WAIT_UNTIL(r.msgs->len == 1 || r.n_closed, 3000);
        g_assert_cmpuint(r.msgs->len, ==, 1);
        /* Authenticated, it leaves the address's handshake quota. */
        fds[0] = raw_connect_from(port, "127.0.0.1");
        WAIT_UNTIL(srv_stat(&srv, "connections") == VSM_PEER_CONNS_PER_ADDR + 2, 3000);
        g_assert_cmpint(srv_stat(&srv, "rejected_per_address"), ==, 1);
        for (int i = 0; i < VSM_PEER_CONNS_PER_ADDR; i++)
                close(fds[i]);
        close(other);
        rec_clear(&r);
        vsm_peer_server_free(srv.s);
}

/* The whole handshake has one deadline: a destination that trickles its
 * hello, or never sends its auth, is dropped at it. */
static void test_handshake_timeout(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(VsmPeerMessage) ch = NULL;
        const char *hello = HELLO_JSON;
        guint8 hdr[4] = { 0, 0, 0, (guint8) strlen(HELLO_JSON) };
        gint64 start;
        int fd;

        srv_start(&srv);
        vsm_peer_server_set_hello_timeout_ms(srv.s, 300);

        /* Hello, challenge, then nothing. */
        start = g_get_monotonic_time();
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_hello(fd, DOM, NONCE);
        ch = raw_next_msg(fd, buf);
        g_assert_nonnull(ch);
        WAIT_UNTIL(raw_closed(fd), 3000);
        g_assert_cmpint(g_get_monotonic_time() - start, >=, 250 * 1000);
        close(fd);
        g_assert_cmpint(srv_stat(&srv, "hello_timeouts"), ==, 1);

        /* One octet every 40 ms: every read is progress, and still the
         * deadline holds (a per-message timer would not end it before
         * the ~3 s the hello takes this way). */
        start = g_get_monotonic_time();
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_write(fd, hdr, 4);
        for (gsize i = 0; i < strlen(hello) && !raw_closed(fd); i++) {
                (void) send(fd, hello + i, 1, MSG_NOSIGNAL);
                spin(40);
        }
        WAIT_UNTIL(raw_closed(fd), 3000);
        g_assert_cmpint(g_get_monotonic_time() - start, <, 1500 * 1000);
        close(fd);
        g_assert_cmpint(srv_stat(&srv, "hello_timeouts"), ==, 2);
        g_assert_cmpuint(srv.n_connected, ==, 0);
        vsm_peer_server_free(srv.s);
}

/* A destination whose origin never answers the hello gives up at the
 * handshake deadline. */
static void test_client_no_challenge(void) {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t slen = sizeof(sin);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        g_autofree char *origin = NULL;
        gint64 start = g_get_monotonic_time();
        Rec r;

        g_assert_cmpint(bind(lfd, (struct sockaddr *) &sin, sizeof(sin)), ==, 0);
        g_assert_cmpint(listen(lfd, 8), ==, 0);
        g_assert_cmpint(getsockname(lfd, (struct sockaddr *) &sin, &slen), ==, 0);
        origin = g_strdup_printf("127.0.0.1:%u", ntohs(sin.sin_port));
        rec_init(&r);
        rec_connect(&r, origin, DOM, TOKEN);
        WAIT_UNTIL(r.n_closed == 1, VSM_PEER_HELLO_TIMEOUT_MS + 2000);
        g_assert_nonnull(strstr(r.error->message, "no challenge"));
        g_assert_cmpint(g_get_monotonic_time() - start, >=, (VSM_PEER_HELLO_TIMEOUT_MS - 100) * 1000);
        rec_clear(&r);
        close(lfd);
}

/* A new key (SIGHUP) applies to the next handshakes: a destination with
 * the old one then fails, one with the new one is served. */
static void test_server_set_key(void) {
        Srv srv = { .send_on_connect = TRUE, .reuse_token = TRUE };
        g_autofree char *origin = NULL;
        Rec r1, r2, r3;

        srv_start(&srv);
        origin = srv_origin(&srv);
        rec_init(&r1);
        rec_connect_full(&r1, origin, DOM, TOKEN, NULL, other_key());
        WAIT_UNTIL(r1.n_closed == 1, 3000);
        g_assert_true(client_auth_failed(r1.c));

        vsm_peer_server_set_key(srv.s, other_key());
        rec_init(&r2);
        rec_connect_full(&r2, origin, DOM, TOKEN, NULL, other_key());
        WAIT_UNTIL(r2.msgs->len == 1 || r2.n_closed, 3000);
        g_assert_cmpuint(r2.msgs->len, ==, 1);
        g_clear_pointer(&r2.c, vsm_peer_client_free);
        WAIT_UNTIL(srv.n_disconnected == 1, 3000);

        rec_init(&r3);
        rec_connect(&r3, origin, DOM, TOKEN);          /* the old key */
        WAIT_UNTIL(r3.n_closed == 1, 3000);
        g_assert_true(client_auth_failed(r3.c));
        rec_clear(&r1);
        rec_clear(&r2);
        rec_clear(&r3);
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
                /* host names: a resolver answer is not an authenticated origin */
                { "localhost:7788", DOM, TOKEN },
                { "host-a.example:7788", DOM, TOKEN },
                { "[localhost]:7788", DOM, TOKEN },
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                Rec r;

                rec_init(&r);
                rec_connect(&r, cases[i][0], cases[i][1], cases[i][2]);
                g_assert_cmpuint(r.n_closed, ==, 0);    /* never from inside _new() */
                WAIT_UNTIL(r.n_closed == 1, 1000);
                g_assert_error(r.error, VSM_ERROR, VSM_ERROR_INVALID);
                if (i >= 7)
                        g_assert_nonnull(strstr(r.error->message, "host names are refused"));
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
        VsmPeerSecurity sec = { .key = test_key() };
        Rec r;

        srv.s = vsm_peer_server_new("[::1]:0", &sec, &srv_cb, &srv, &error);
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

/* Stalled handshakes from many addresses (each under its own cap, here
 * each with its hello sent and its auth never) fill at most
 * VSM_PEER_HANDSHAKES_MAX slots: past it the oldest is evicted, not the
 * newcomer refused, so a real destination gets in at once; when the
 * server goes, every connection is closed. */
static void test_tcp_many(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autofree char *origin = NULL;
        int fds[N_MANY];
        guint16 port;
        Rec r;

        srv_start(&srv);
        /* Only the cap may close them, not the clock of a loaded host. */
        vsm_peer_server_set_hello_timeout_ms(srv.s, 60000);
        port = vsm_peer_server_get_port(srv.s);
        origin = srv_origin(&srv);
        for (guint i = 0; i < N_MANY; i++) {
                char from[16];

                g_snprintf(from, sizeof(from), "127.0.%u.%u", 1 + i / VSM_PEER_CONNS_PER_ADDR,
                           1 + i % VSM_PEER_CONNS_PER_ADDR);
                /* one per address: only the global caps apply */
                fds[i] = raw_connect_from(port, from);
                raw_hello(fds[i], DOM, NONCE);
                /* let the listener take it (its backlog is finite) */
                while (g_main_context_iteration(NULL, FALSE))
                        ;
        }
        WAIT_UNTIL(srv_stat(&srv, "accepted") + srv_stat(&srv, "over_capacity") == N_MANY, 20000);
        g_assert_cmpint(srv_stat(&srv, "over_capacity"), ==, 0);
        g_assert_cmpint(srv_stat(&srv, "connections"), ==, VSM_PEER_HANDSHAKES_MAX);
        g_assert_cmpint(srv_stat(&srv, "handshakes"), ==, VSM_PEER_HANDSHAKES_MAX);
        g_assert_cmpint(srv_stat(&srv, "evicted"), ==, N_MANY - VSM_PEER_HANDSHAKES_MAX);
        g_assert_cmpint(srv_stat(&srv, "rejected_per_address"), ==, 0);
        /* the oldest went first */
        for (guint i = 0; i < N_MANY - VSM_PEER_HANDSHAKES_MAX; i++)
                WAIT_UNTIL(raw_closed(fds[i]), 3000);

        /* A real destination now: in at once, the oldest stalled one out. */
        rec_init(&r);
        rec_connect(&r, origin, DOM, TOKEN);
        WAIT_UNTIL(r.msgs->len == 1 || r.n_closed, 3000);
        g_assert_cmpuint(r.msgs->len, ==, 1);
        g_assert_cmpint(srv_stat(&srv, "evicted"), ==, N_MANY - VSM_PEER_HANDSHAKES_MAX + 1);
        g_assert_cmpint(srv_stat(&srv, "authorized_connections"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "handshakes"), ==, VSM_PEER_HANDSHAKES_MAX - 1);
        WAIT_UNTIL(raw_closed(fds[N_MANY - VSM_PEER_HANDSHAKES_MAX]), 3000);

        /* The server goes away: every connection is closed. */
        srv.s = vsm_peer_server_free(srv.s);
        WAIT_UNTIL(r.n_closed == 1, 3000);
        g_assert_nonnull(r.error);     /* no switchover: not a clean end */
        for (guint i = 0; i < N_MANY; i++) {
                WAIT_UNTIL(raw_closed(fds[i]), 3000);
                close(fds[i]);
        }
        rec_clear(&r);
}

/* A peer that does not read is dropped once VSM_PEER_DOMAIN_OUTBUF_MAX
 * is queued for it. */
static void test_tcp_slow_reader(void) {
        Srv srv = { 0 };
        g_autoptr(VsmPeerMessage) big = g_new0(VsmPeerMessage, 1);
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(VsmPeerMessage) ch = NULL;
        guint sent = 0;
        int fd;

        srv_start(&srv);
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        ch = raw_handshake(fd, buf, DOM, NONCE, test_key());
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
        g_assert_cmpuint(sent, >=, 2);
        g_assert_cmpuint(sent, <=, 4);
        g_assert_cmpuint(srv.n_disconnected, ==, 1);
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
        FAKE_BAD_PROOF,                /* the challenge's proof is wrong (a fake origin) */
        FAKE_RANDOM_PROOF,             /* ...as a source that does not know the domain sends */
        FAKE_STATE_BEFORE_CHALLENGE,   /* state before proving anything */
        FAKE_SWITCHOVER_BEFORE_CHALLENGE,
        FAKE_SECOND_CHALLENGE,
        FAKE_BIG_BEFORE_CHALLENGE,     /* a length past any handshake frame, before proving anything */
        _FAKE_MAX,
} FakeCase;

static gboolean try_accept(int lfd, int *ret) {
        *ret = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        return *ret >= 0;
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
                g_autoptr(GByteArray) buf = g_byte_array_new();
                g_autoptr(VsmPeerMessage) hello = NULL;
                g_autoptr(VsmPeerMessage) auth = NULL;
                g_autofree char *challenge = NULL;
                char nonce_s[VSM_PEER_NONCE_LEN + 1];
                char proof[VSM_PEER_PROOF_LEN + 1];
                guint8 sk[VSM_PEER_MAC_LEN];
                guint64 seq = 0;
                gboolean before = k >= FAKE_BAD_PROOF && k != FAKE_SECOND_CHALLENGE;
                Rec r;
                int fd = -1;

                rec_init(&r);
                rec_connect(&r, origin, DOM, TOKEN);
                WAIT_UNTIL(try_accept(lfd, &fd), 3000);
                /* The hello: version 2, a fresh nonce, no token. */
                hello = raw_next_msg(fd, buf);
                g_assert_nonnull(hello);
                g_assert_cmpint(hello->type, ==, VSM_PEER_MSG_HELLO);
                g_assert_cmpuint(hello->version, ==, 2);
                g_assert_cmpstr(hello->domain, ==, DOM);
                g_assert_cmpstr(hello->token, ==, "");
                g_assert_cmpuint(strlen(hello->nonce), ==, VSM_PEER_NONCE_LEN);
                g_assert_cmpstr(hello->nonce, !=, NONCE);
                vsm_peer_random_hex(nonce_s, VSM_PEER_NONCE_LEN / 2);
                vsm_peer_proof(test_key(), TRUE, DOM, TOKEN, hello->nonce, nonce_s, proof);
                if (k == FAKE_BAD_PROOF)
                        /* the token alone, as a read-only libvirt client has it */
                        vsm_peer_proof(NULL, TRUE, DOM, TOKEN, hello->nonce, nonce_s, proof);
                if (k == FAKE_RANDOM_PROOF)
                        vsm_peer_random_hex(proof, VSM_PEER_PROOF_LEN / 2);
                challenge = g_strdup_printf("{\"type\":\"challenge\",\"nonce\":\"%s\",\"proof\":\"%s\"}", nonce_s, proof);
                if (k != FAKE_STATE_BEFORE_CHALLENGE && k != FAKE_SWITCHOVER_BEFORE_CHALLENGE &&
                    k != FAKE_BIG_BEFORE_CHALLENGE)
                        raw_write_frame(fd, challenge);
                if (!before) {
                        /* The destination's proof. */
                        auth = raw_next_msg(fd, buf);
                        g_assert_nonnull(auth);
                        g_assert_cmpint(auth->type, ==, VSM_PEER_MSG_AUTH);
                        vsm_peer_proof(test_key(), FALSE, DOM, TOKEN, hello->nonce, nonce_s, proof);
                        g_assert_cmpstr(auth->proof, ==, proof);
                        g_assert_true(vsm_peer_client_is_authenticated(r.c));
                }
                /* What a source holding the key sends after the challenge
                 * is sealed: the cases below are about what is inside. */
                vsm_peer_session_key(test_key(), DOM, TOKEN, hello->nonce, nonce_s, sk);
#define FAKE_SEND(json) raw_write_sealed(fd, sk, TRUE, seq++, (json))

                switch ((FakeCase) k) {
                case FAKE_HELLO:
                        FAKE_SEND(HELLO_JSON);
                        break;
                case FAKE_OTHER_DOMAIN:
                        FAKE_SEND("{\"type\":\"state\",\"domain\":\"" DOM_OTHER "\",\"generation\":1,\"nics\":[]}");
                        break;
                case FAKE_OVERSIZED:
                        raw_write(fd, "\x00\x80\x00\x21", 4);     /* VSM_PEER_MESSAGE_MAX + MAC + 1 */
                        break;
                case FAKE_ZERO:
                        raw_write(fd, "\x00\x00\x00\x00", 4);
                        break;
                case FAKE_GARBAGE:
                        raw_write(fd, "\x00\x00\x00\x05hello", 9);
                        break;
                case FAKE_ERROR:
                        FAKE_SEND("{\"type\":\"error\",\"reason\":\"go away\"}");
                        break;
                case FAKE_EOF_EARLY:
                        FAKE_SEND(state_json);
                        break;
                case FAKE_TRUNCATED:
                        raw_write(fd, "\x00\x00\x01\x00{\"ty", 8);
                        break;
                case FAKE_CLEAN:
                        FAKE_SEND(state_json);
                        FAKE_SEND(sw_json);
                        break;
                case FAKE_BAD_PROOF:
                case FAKE_RANDOM_PROOF:
                        /* and then what a fake origin would like to say */
                        raw_write_frame(fd, sw_json);
                        break;
                case FAKE_STATE_BEFORE_CHALLENGE:
                        raw_write_frame(fd, state_json);
                        break;
                case FAKE_SWITCHOVER_BEFORE_CHALLENGE:
                        raw_write_frame(fd, sw_json);
                        break;
                case FAKE_SECOND_CHALLENGE:
                        FAKE_SEND(challenge);
                        break;
                case FAKE_BIG_BEFORE_CHALLENGE:
                        /* 4097 octets announced: refused at the prefix,
                         * not buffered (up to 8 MiB) from a source that
                         * proved nothing yet. */
                        raw_write(fd, "\x00\x00\x10\x01{", 5);
                        break;
                default:
                        g_assert_not_reached();
                }
#undef FAKE_SEND
                if (k >= FAKE_EOF_EARLY && k <= FAKE_CLEAN)
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
                case FAKE_BAD_PROOF:
                case FAKE_RANDOM_PROOF:
                        g_assert_error(r.error, VSM_ERROR, VSM_ERROR_INVALID);
                        g_assert_nonnull(strstr(r.error->message, "the origin failed authentication"));
                        g_assert_true(client_auth_failed(r.c));
                        g_assert_false(vsm_peer_client_is_authenticated(r.c));
                        g_assert_cmpuint(r.msgs->len, ==, 0);
                        /* nothing of ours went to it after the hello */
                        {
                                gboolean eof = FALSE;

                                WAIT_UNTIL(raw_poll(fd, buf, &eof), 3000);
                                g_assert_true(eof);
                                g_assert_cmpuint(buf->len, ==, 0);
                        }
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

/* data: TRUE for TLS with a key file, FALSE for TLS alone (the
 * exchange keyed by the token). */
static void test_tls_flow(gconstpointer data) {
        gboolean with_key = GPOINTER_TO_INT(data);
        g_autoptr(VsmPeerTls) tls = NULL;
        g_autoptr(VsmPeerMessage) sw = NULL;
        g_autoptr(VsmPeerMessage) first = NULL;
        g_autofree char *origin = NULL;
        Srv srv = { .send_on_connect = TRUE, .no_key = !with_key };
        guint w0 = n_warnings;
        Rec r;

        if (!tls_available())
                return;
        tls = tls_load(0);
        srv_start_tls(&srv, tls);
        origin = srv_origin(&srv);
        rec_init(&r);
        rec_connect_full(&r, origin, DOM, TOKEN, tls, with_key ? test_key() : NULL);
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
        TLS_NO_KEY_BAD_TOKEN,          /* TLS without a key file: keyed by the token, which is wrong */
        _TLS_BAD_MAX,
} TlsBadCase;

static void test_tls_refused(gconstpointer data) {
        TlsBadCase k = GPOINTER_TO_INT(data);
        g_autoptr(VsmPeerTls) tls0 = NULL;
        g_autoptr(VsmPeerTls) tls1 = NULL;
        g_autofree char *origin = NULL;
        Srv srv = { .send_on_connect = TRUE, .no_key = k == TLS_NO_KEY_BAD_TOKEN };
        VsmPeerTls mixed;
        const VsmPeerTls *client_tls;
        gboolean bad_token = k == TLS_BAD_TOKEN || k == TLS_NO_KEY_BAD_TOKEN;
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
        rec_connect_full(&r, origin, DOM, bad_token ? TOKEN_BAD : TOKEN, client_tls,
                         k == TLS_NO_KEY_BAD_TOKEN ? NULL : test_key());
        WAIT_UNTIL(r.n_closed == 1, 5000);
        g_assert_nonnull(r.error);
        g_assert_cmpuint(r.msgs->len, ==, 0);
        g_assert_cmpuint(srv.n_connected, ==, 0);
        WAIT_UNTIL(srv_stat(&srv, "connections") == 0 && srv_stat(&srv, "rejected") == 1, 3000);
        switch (k) {
        case TLS_BAD_TOKEN:
        case TLS_NO_KEY_BAD_TOKEN:
                /* The destination finds out from the challenge. */
                g_assert_error(r.error, VSM_ERROR, VSM_ERROR_INVALID);
                g_assert_nonnull(strstr(r.error->message, "the origin failed authentication"));
                g_assert_cmpuint(srv.n_authorize, ==, 0);
                g_assert_cmpint(srv_stat(&srv, "rejected_protocol"), ==, 1);
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


/* ---- a relay in the middle (review finding H1) ---- */

static void relay_forward(int from, GByteArray *buf, int to, GBytes **ret_frame) {
        g_autoptr(GBytes) frame = raw_next_frame(from, buf);
        gsize size;
        const void *p;

        g_assert_nonnull(frame);
        p = g_bytes_get_data(frame, &size);
        raw_write(to, p, size);
        if (ret_frame)
                *ret_frame = g_bytes_ref(frame);
}

/* A host without the key answers at the origin the destination connects
 * to and can reach the real source: it forwards the hello, the source's
 * genuine challenge and the destination's auth, then writes frames of
 * its own.  The handshake checks out on both ends, but the frames after
 * it are sealed under a session key the relay cannot derive: an injected
 * SWITCHOVER, or a genuine frame replayed, closes the channel and
 * nothing of it reaches the daemon.  A relay that only forwards is a
 * router: that still works. */
static void test_auth_relay(gconstpointer data) {
        const char *mode = data;
        static const char sw_json[] = "{\"type\":\"switchover\",\"domain\":\"" DOM "\",\"generation\":100,"
                                      "\"nics\":[{\"mac\":\"52:54:00:12:34:01\",\"client_id\":{\"state\":\"unknown\"},"
                                      "\"hostname\":\"x\",\"groups\":[],\"ip4\":[\"10.77.0.1\"],\"ip6\":[]}],"
                                      "\"suspended_at\":1}";
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t slen = sizeof(sin);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        g_autoptr(GByteArray) dbuf = g_byte_array_new();
        g_autoptr(GByteArray) sbuf = g_byte_array_new();
        g_autoptr(GBytes) state = NULL;
        g_autofree char *origin = NULL;
        Srv srv = { .send_on_connect = TRUE };
        int dfd = -1, sfd;
        Rec r;

        srv_start(&srv);
        g_assert_cmpint(bind(lfd, (struct sockaddr *) &sin, sizeof(sin)), ==, 0);
        g_assert_cmpint(listen(lfd, 8), ==, 0);
        g_assert_cmpint(getsockname(lfd, (struct sockaddr *) &sin, &slen), ==, 0);
        origin = g_strdup_printf("127.0.0.1:%u", ntohs(sin.sin_port));

        rec_init(&r);
        rec_connect(&r, origin, DOM, TOKEN);
        WAIT_UNTIL(try_accept(lfd, &dfd), 3000);
        sfd = raw_connect(vsm_peer_server_get_port(srv.s));
        relay_forward(dfd, dbuf, sfd, NULL);           /* hello */
        relay_forward(sfd, sbuf, dfd, NULL);           /* the source's genuine challenge */
        WAIT_UNTIL(vsm_peer_client_is_authenticated(r.c), 3000);
        relay_forward(dfd, dbuf, sfd, NULL);           /* the destination's auth */
        WAIT_UNTIL(srv.n_connected == 1, 3000);
        g_assert_cmpint(srv_stat(&srv, "authorized"), ==, 1);

        if (g_str_equal(mode, "inject")) {
                /* The relay's own SWITCHOVER, plain as before. */
                raw_write_frame(dfd, sw_json);
        } else if (g_str_equal(mode, "inject-sealed")) {
                /* ...or sealed under the key a read-only libvirt client's
                 * token gives (the source's is the cluster key's). */
                guint8 sk[VSM_PEER_MAC_LEN];

                vsm_peer_session_key(NULL, DOM, TOKEN, NONCE, NONCE, sk);
                raw_write_sealed(dfd, sk, TRUE, 0, sw_json);
        } else if (g_str_equal(mode, "replay")) {
                /* The genuine first STATE, forwarded, then again. */
                relay_forward(sfd, sbuf, dfd, &state);
                WAIT_UNTIL(r.msgs->len == 1, 3000);
                raw_write(dfd, g_bytes_get_data(state, NULL), g_bytes_get_size(state));
        } else if (g_str_equal(mode, "drop")) {
                /* The first STATE dropped, the next one forwarded. */
                g_autoptr(VsmPeerMessage) sw = make_msg(VSM_PEER_MSG_SWITCHOVER, DOM, 2, 1);

                g_clear_pointer(&state, g_bytes_unref);
                state = raw_next_frame(sfd, sbuf);
                g_assert_nonnull(state);
                g_assert_cmpuint(vsm_peer_server_send(srv.s, sw), ==, 1);
                relay_forward(sfd, sbuf, dfd, NULL);
        } else {
                /* Forwarding only: the state, and a switchover later. */
                g_autoptr(VsmPeerMessage) sw = make_msg(VSM_PEER_MSG_SWITCHOVER, DOM, 2, 1);

                g_assert_cmpstr(mode, ==, "forward");
                relay_forward(sfd, sbuf, dfd, NULL);
                WAIT_UNTIL(r.msgs->len == 1, 3000);
                g_assert_cmpuint(vsm_peer_server_send(srv.s, sw), ==, 1);
                relay_forward(sfd, sbuf, dfd, NULL);
                WAIT_UNTIL(r.msgs->len == 2, 3000);
                g_assert_cmpint(((VsmPeerMessage *) g_ptr_array_index(r.msgs, 0))->type, ==, VSM_PEER_MSG_STATE);
                g_assert_cmpint(((VsmPeerMessage *) g_ptr_array_index(r.msgs, 1))->type, ==, VSM_PEER_MSG_SWITCHOVER);
                assert_msg_equal(sw, g_ptr_array_index(r.msgs, 1));
                g_assert_cmpuint(r.n_closed, ==, 0);
                g_assert_cmpint(client_stat(r.c, "rejected_mac"), ==, 0);
                g_assert_true(client_stat_bool(r.c, "switchover_received"));
                close(sfd);
                close(dfd);
                close(lfd);
                rec_clear(&r);
                vsm_peer_server_free(srv.s);
                return;
        }
        WAIT_UNTIL(r.n_closed == 1, 3000);
        g_assert_error(r.error, VSM_ERROR, VSM_ERROR_INVALID);
        g_assert_nonnull(strstr(r.error->message, "failed its MAC"));
        g_assert_cmpint(client_stat(r.c, "rejected_mac"), ==, 1);
        g_assert_false(client_stat_bool(r.c, "switchover_received"));
        /* Nothing the relay wrote reached the daemon. */
        for (guint i = 0; i < r.msgs->len; i++)
                g_assert_cmpint(((VsmPeerMessage *) g_ptr_array_index(r.msgs, i))->type, ==, VSM_PEER_MSG_STATE);
        g_assert_cmpuint(r.msgs->len, ==, g_str_equal(mode, "replay") ? 1 : 0);
        WAIT_UNTIL(raw_closed(dfd), 3000);
        close(sfd);
        close(dfd);
        close(lfd);
        rec_clear(&r);
        vsm_peer_server_free(srv.s);
}

/* The destination's frames after its auth are sealed too: the source
 * takes nothing unsealed from the connection it authenticated. */
static void test_auth_sealed_from_destination(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(VsmPeerMessage) ch = NULL;
        g_autoptr(VsmPeerMessage) st = NULL;
        guint8 sk[VSM_PEER_MAC_LEN];
        int fd;

        srv_start(&srv);
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        ch = raw_handshake(fd, buf, DOM, NONCE, test_key());
        vsm_peer_session_key(test_key(), DOM, TOKEN, NONCE, ch->nonce, sk);
        st = raw_next_sealed(fd, buf, sk, 0);
        g_assert_cmpint(st->type, ==, VSM_PEER_MSG_STATE);
        /* A frame "from the destination" with the source's label. */
        raw_write_sealed(fd, sk, TRUE, 0, "{\"type\":\"error\",\"reason\":\"x\"}");
        WAIT_UNTIL(srv_stat(&srv, "rejected_mac") == 1, 3000);
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        g_assert_cmpint(srv_stat(&srv, "rejected_protocol"), ==, 0);
        vsm_peer_server_free(srv.s);
}


/* An IPv6 host has a /64 to pick source addresses from: it counts as
 * one; IPv4 (also mapped into IPv6) by address. */
static void test_source_key(void) {
        static const struct {
                const char *addr, *key;
        } cases[] = {
                { "10.77.0.1", "10.77.0.1" },
                { "::ffff:10.77.0.1", "10.77.0.1" },
                { "2001:db8:1:2::1", "2001:db8:1:2::/64" },
                { "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64" },
                { "2001:db8:1:3::1", "2001:db8:1:3::/64" },
                { "fe80::1", "fe80:0:0:0::/64" },
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GInetAddress) a = g_inet_address_new_from_string(cases[i].addr);
                g_autofree char *key = NULL;

                g_assert_nonnull(a);
                key = vsm_peer_source_key(a);
                g_assert_cmpstr(key, ==, cases[i].key);
        }
}

/* The hello has VSM_PEER_HELLO_ONLY_TIMEOUT_MS, the whole handshake
 * still VSM_PEER_HELLO_TIMEOUT_MS: a silent connection goes after about
 * a second, one that sent its hello stays for its auth. */
static void test_hello_only_timeout(void) {
        Srv srv = { .send_on_connect = TRUE };
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(VsmPeerMessage) ch = NULL;
        gint64 start, took;
        int silent, talker;

        srv_start(&srv);
        start = g_get_monotonic_time();
        silent = raw_connect(vsm_peer_server_get_port(srv.s));
        talker = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_hello(talker, DOM, NONCE);
        ch = raw_next_msg(talker, buf);
        g_assert_nonnull(ch);
        WAIT_UNTIL(raw_closed(silent), 4000);
        took = g_get_monotonic_time() - start;
        g_test_message("silent connection closed after %" G_GINT64_FORMAT " ms", took / 1000);
        g_assert_cmpint(took, >=, (VSM_PEER_HELLO_ONLY_TIMEOUT_MS - 100) * 1000);
        g_assert_cmpint(took, <, (VSM_PEER_HELLO_TIMEOUT_MS - 1000) * 1000);
        g_assert_cmpint(srv_stat(&srv, "hello_timeouts"), ==, 1);
        spin(VSM_PEER_HELLO_ONLY_TIMEOUT_MS);
        g_assert_false(raw_closed(talker));
        g_assert_cmpint(srv_stat(&srv, "connections"), ==, 1);
        close(silent);
        close(talker);
        vsm_peer_server_free(srv.s);
}

/* ---- deferred lookups (the daemon asks libvirt's job first) ---- */

static void srv_lookup_deferred(VsmPeerLookup *q, const char *domain, gpointer user_data) {
        Srv *srv = user_data;

        srv->n_lookup++;
        if (srv->answer_now) {
                vsm_peer_lookup_answer(q, g_str_equal(domain, DOM) ? TOKEN : NULL);
                return;
        }
        g_assert_null(srv->pending);
        srv->pending = q;
        g_strlcpy(srv->pending_domain, domain, sizeof(srv->pending_domain));
}

static const VsmPeerServerCallbacks srv_cb_deferred = {
        .lookup_deferred = srv_lookup_deferred,
        .authorize = srv_authorize,
        .connected = srv_connected,
        .disconnected = srv_disconnected,
        .refused = srv_refused,
};

static void srv_answer(Srv *srv, const char *token) {
        VsmPeerLookup *q = g_steal_pointer(&srv->pending);

        g_assert_nonnull(q);
        vsm_peer_lookup_answer(q, token);
}

/* The challenge waits for the answer; answered with the token, the
 * destination is served. */
static void test_deferred_answered(void) {
        Srv srv = { .send_on_connect = TRUE, .cb = &srv_cb_deferred };
        g_autofree char *origin = NULL;
        Rec r;

        srv_start(&srv);
        origin = srv_origin(&srv);
        rec_init(&r);
        rec_connect(&r, origin, DOM, TOKEN);
        WAIT_UNTIL(srv.pending != NULL, 3000);
        g_assert_cmpstr(srv.pending_domain, ==, DOM);
        spin(200);
        g_assert_false(vsm_peer_client_is_authenticated(r.c));
        g_assert_cmpuint(r.n_closed, ==, 0);
        g_assert_cmpuint(srv.n_authorize, ==, 0);
        srv_answer(&srv, TOKEN);
        WAIT_UNTIL(r.msgs->len == 1 || r.n_closed, 3000);
        g_assert_cmpuint(r.msgs->len, ==, 1);
        g_assert_true(vsm_peer_client_is_authenticated(r.c));
        g_assert_cmpuint(srv.n_connected, ==, 1);
        rec_clear(&r);
        vsm_peer_server_free(srv.s);
}

/* The challenge frame with its nonce and proof blanked: the shape. */
static char *challenge_shape(GBytes *frame) {
        g_autoptr(VsmPeerMessage) m = NULL;
        g_autoptr(GError) error = NULL;
        gsize size;
        const guint8 *p = g_bytes_get_data(frame, &size);
        g_autofree char *body = g_strndup((const char *) p + 4, size - 4);
        g_auto(GStrv) a = NULL, b = NULL;
        g_autofree char *s1 = NULL;

        g_assert_true(vsm_peer_message_decode(p + 4, size - 4, &m, &error));
        a = g_strsplit(body, m->nonce, -1);
        s1 = g_strjoinv("NONCE", a);
        b = g_strsplit(s1, m->proof, -1);
        return g_strjoinv("PROOF", b);
}

/* hello for domain; the lookup answered with token; the right proof for
 * TOKEN sent; returns the challenge and the reply. */
static void probe_deferred(Srv *srv, const char *domain, const char *token, GBytes **ret_challenge,
                           GBytes **ret_reply) {
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(VsmPeerMessage) ch = NULL;
        g_autoptr(GError) error = NULL;
        char proof[VSM_PEER_PROOF_LEN + 1];
        int fd = raw_connect(vsm_peer_server_get_port(srv->s));
        const guint8 *p;
        gsize size;

        raw_hello(fd, domain, NONCE);
        WAIT_UNTIL(srv->pending != NULL, 3000);
        srv_answer(srv, token);
        *ret_challenge = raw_next_frame(fd, buf);
        g_assert_nonnull(*ret_challenge);
        p = g_bytes_get_data(*ret_challenge, &size);
        g_assert_true(vsm_peer_message_decode(p + 4, size - 4, &ch, &error));
        g_assert_cmpint(ch->type, ==, VSM_PEER_MSG_CHALLENGE);
        /* A destination with the key and the token cannot verify a source
         * that answered "not migrating". */
        vsm_peer_proof(test_key(), TRUE, domain, TOKEN, NONCE, ch->nonce, proof);
        if (token)
                g_assert_cmpstr(ch->proof, ==, proof);
        else
                g_assert_cmpstr(ch->proof, !=, proof);
        vsm_peer_proof(test_key(), FALSE, domain, TOKEN, NONCE, ch->nonce, proof);
        raw_auth(fd, proof);
        *ret_reply = raw_next_frame(fd, buf);
        g_assert_nonnull(*ret_reply);
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
}

/* Answered "no" (the domain runs here but does not migrate out): refused
 * even with the key and the token, and the same shape as an unknown
 * domain: the challenge byte-identical but for its random nonce and
 * proof, a refusal of the same length, no refused() note either. */
static void test_deferred_refused(void) {
        Srv srv = { .send_on_connect = TRUE, .cb = &srv_cb_deferred };
        g_autoptr(GBytes) ch_no = NULL, reply_no = NULL, ch_unknown = NULL, reply_unknown = NULL;
        g_autoptr(GBytes) want = NULL;
        g_autofree char *shape_no = NULL, *shape_unknown = NULL;

        srv_start(&srv);
        probe_deferred(&srv, DOM, NULL, &ch_no, &reply_no);
        probe_deferred(&srv, DOM_OTHER, NULL, &ch_unknown, &reply_unknown);
        shape_no = challenge_shape(ch_no);
        shape_unknown = challenge_shape(ch_unknown);
        g_assert_cmpstr(shape_no, ==, shape_unknown);
        g_assert_cmpuint(g_bytes_get_size(ch_no), ==, g_bytes_get_size(ch_unknown));
        g_assert_cmpuint(g_bytes_get_size(reply_no), ==, g_bytes_get_size(reply_unknown));
        /* Not the refusal a known domain's bad proof gets (its token). */
        want = sealed_refusal(test_key(), DOM, TOKEN, NONCE, challenge_nonce(ch_no));
        g_assert_false(g_bytes_equal(reply_no, want));
        g_assert_cmpuint(g_bytes_get_size(reply_no), ==, g_bytes_get_size(want));
        g_assert_cmpuint(srv.n_authorize, ==, 0);
        g_assert_cmpuint(srv.n_connected, ==, 0);
        g_assert_cmpuint(srv.n_refused, ==, 0);
        g_assert_cmpint(srv_stat(&srv, "rejected_auth"), ==, 2);
        vsm_peer_server_free(srv.s);
}

/* The connection ends while the lookup is pending: by the handshake
 * deadline, by the server's end; the late answer is dropped, safely
 * (ASan).  What the destination sends meanwhile (its auth, its end)
 * waits for the answer: handled then as for a synchronous lookup. */
static void test_deferred_closed(void) {
        Srv srv = { .send_on_connect = TRUE, .cb = &srv_cb_deferred };
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(GBytes) reply = NULL;
        int fd;

        srv_start(&srv);
        vsm_peer_server_set_hello_timeout_ms(srv.s, 300);
        /* The deadline. */
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_hello(fd, DOM, NONCE);
        WAIT_UNTIL(srv.pending != NULL, 3000);
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        g_assert_cmpint(srv_stat(&srv, "hello_timeouts"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "connections"), ==, 0);
        srv_answer(&srv, TOKEN);
        /* A (wrong) auth and the end before the challenge: both wait, then
         * the same refusal as without the wait. */
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_hello(fd, DOM, NONCE);
        WAIT_UNTIL(srv.pending != NULL, 3000);
        raw_auth(fd, PROOF);
        shutdown(fd, SHUT_WR);
        spin(100);
        g_assert_cmpint(srv_stat(&srv, "connections"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "rejected"), ==, 1);
        srv_answer(&srv, TOKEN);
        g_assert_nonnull(raw_next_frame(fd, buf));      /* the challenge */
        reply = raw_next_frame(fd, buf);
        g_assert_nonnull(reply);
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        g_assert_cmpint(srv_stat(&srv, "rejected_auth"), ==, 1);
        g_assert_cmpint(srv_stat(&srv, "rejected_protocol"), ==, 0);
        g_assert_cmpuint(srv.n_refused, ==, 1);
        /* The server goes. */
        fd = raw_connect(vsm_peer_server_get_port(srv.s));
        raw_hello(fd, DOM, NONCE);
        WAIT_UNTIL(srv.pending != NULL, 3000);
        srv.s = vsm_peer_server_free(srv.s);
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        srv_answer(&srv, TOKEN);
        spin(50);
        g_assert_cmpuint(srv.n_authorize, ==, 0);
        g_assert_cmpuint(srv.n_connected, ==, 0);
        g_assert_cmpuint(srv.n_lookup, ==, 3);
}

/* Version 1 (insecure) waits for a deferred lookup too: served when
 * answered with the token, refused ("not authorized") when not. */
static void test_deferred_v1(void) {
        Srv lax = { .send_on_connect = TRUE, .no_key = TRUE, .insecure = TRUE, .cb = &srv_cb_deferred };
        g_autoptr(GByteArray) buf = g_byte_array_new();
        g_autoptr(VsmPeerMessage) m = NULL;
        int fd;

        srv_start(&lax);
        fd = raw_connect(vsm_peer_server_get_port(lax.s));
        raw_write_frame(fd, HELLO_V1_JSON);
        WAIT_UNTIL(lax.pending != NULL, 3000);
        g_assert_cmpuint(lax.n_authorize, ==, 0);
        srv_answer(&lax, NULL);
        m = raw_next_msg(fd, buf);
        g_assert_nonnull(m);
        g_assert_cmpint(m->type, ==, VSM_PEER_MSG_ERROR);
        g_assert_cmpstr(m->reason, ==, VSM_PEER_NOT_AUTHORIZED);
        WAIT_UNTIL(raw_closed(fd), 3000);
        close(fd);
        g_assert_cmpuint(lax.n_authorize, ==, 0);

        fd = raw_connect(vsm_peer_server_get_port(lax.s));
        raw_write_frame(fd, HELLO_V1_JSON);
        WAIT_UNTIL(lax.pending != NULL, 3000);
        srv_answer(&lax, TOKEN);
        g_clear_pointer(&m, vsm_peer_message_free);
        g_byte_array_set_size(buf, 0);
        m = raw_next_msg(fd, buf);
        g_assert_nonnull(m);
        g_assert_cmpint(m->type, ==, VSM_PEER_MSG_STATE);
        g_assert_cmpuint(lax.n_connected, ==, 1);
        close(fd);
        WAIT_UNTIL(lax.n_disconnected == 1, 3000);
        vsm_peer_server_free(lax.s);
}

/* A deferred lookup answered inside the call (the daemon knows at once,
 * as for an unknown domain): the same as a synchronous one. */
static void test_deferred_at_once(void) {
        Srv srv = { .send_on_connect = TRUE, .cb = &srv_cb_deferred, .answer_now = TRUE };
        g_autofree char *origin = NULL;
        g_autoptr(GBytes) ch = NULL, reply = NULL;
        Rec r;

        srv_start(&srv);
        origin = srv_origin(&srv);
        rec_init(&r);
        rec_connect(&r, origin, DOM, TOKEN);
        WAIT_UNTIL(r.msgs->len == 1 || r.n_closed, 3000);
        g_assert_cmpuint(r.msgs->len, ==, 1);
        g_assert_cmpuint(srv.n_connected, ==, 1);
        rec_clear(&r);
        probe(&srv, DOM_OTHER, TRUE, &ch, &reply);
        g_assert_cmpint(srv_stat(&srv, "rejected_auth"), ==, 1);
        g_assert_cmpuint(srv.n_lookup, ==, 2);
        vsm_peer_server_free(srv.s);
}

int main(int argc, char **argv) {
        static const TlsCase tls_files_case = { .func = test_tls_files };
        static const TlsCase tls_flow = { .data_func = test_tls_flow, .data = GINT_TO_POINTER(TRUE) };
        static const TlsCase tls_flow_no_key = { .data_func = test_tls_flow, .data = GINT_TO_POINTER(FALSE) };
        static const TlsCase tls_plain = { .data_func = test_tls_refused, .data = GINT_TO_POINTER(TLS_PLAIN_CLIENT) };
        static const TlsCase tls_foreign = { .data_func = test_tls_refused,
                                             .data = GINT_TO_POINTER(TLS_FOREIGN_CLIENT_CERT) };
        static const TlsCase tls_unknown_ca = { .data_func = test_tls_refused,
                                                .data = GINT_TO_POINTER(TLS_UNKNOWN_SERVER_CA) };
        static const TlsCase tls_bad_token = { .data_func = test_tls_refused, .data = GINT_TO_POINTER(TLS_BAD_TOKEN) };
        static const TlsCase tls_no_key_bad_token = { .data_func = test_tls_refused,
                                                      .data = GINT_TO_POINTER(TLS_NO_KEY_BAD_TOKEN) };
        static const TlsCase tls_silent = { .func = test_tls_silent };
        int rc;

        g_test_init(&argc, &argv, NULL);
        g_log_set_writer_func(test_log_writer, NULL, NULL);
        if (!g_test_verbose())         /* GSocketClient's traces */
                g_log_set_handler("GLib-GIO", G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO, quiet_log_handler, NULL);

        g_test_add_func("/peer/codec/type-names", test_type_names);
        g_test_add_func("/peer/codec/roundtrip", test_roundtrip);
        g_test_add_func("/peer/codec/conntrack", test_conntrack_codec);
        g_test_add_func("/peer/caps", test_caps);
        g_test_add_func("/peer/codec/wire", test_wire);
        g_test_add_func("/peer/codec/normalize", test_normalize);
        g_test_add_func("/peer/codec/hostile", test_hostile);
        g_test_add_func("/peer/codec/hostile-binary", test_hostile_binary);
        g_test_add_func("/peer/server/bad-listen", test_server_bad_listen);
        g_test_add_func("/peer/client/bad-args", test_client_bad_args);
        g_test_add_func("/peer/tcp/flow", test_tcp_flow);
        g_test_add_data_func("/peer/tcp/origin-fails/bad-token", "token", test_tcp_origin_fails);
        g_test_add_data_func("/peer/tcp/origin-fails/unknown-domain", "domain", test_tcp_origin_fails);
        g_test_add_data_func("/peer/tcp/origin-fails/client-key", "client-key", test_tcp_origin_fails);
        g_test_add_data_func("/peer/tcp/origin-fails/server-key", "server-key", test_tcp_origin_fails);
        g_test_add_data_func("/peer/tcp/origin-fails/token-only", "no-key", test_tcp_origin_fails);
        g_test_add_func("/peer/auth/wrong-key-at-source", test_auth_wrong_key_at_source);
        g_test_add_func("/peer/auth/replay", test_auth_replay);
        g_test_add_func("/peer/auth/identical-replies", test_auth_identical_replies);
        g_test_add_func("/peer/auth/deferred-answered", test_deferred_answered);
        g_test_add_func("/peer/auth/deferred-refused", test_deferred_refused);
        g_test_add_func("/peer/auth/deferred-closed", test_deferred_closed);
        g_test_add_func("/peer/auth/deferred-v1", test_deferred_v1);
        g_test_add_func("/peer/auth/deferred-at-once", test_deferred_at_once);
        g_test_add_func("/peer/auth/token-once", test_auth_token_once);
        g_test_add_func("/peer/auth/v1", test_auth_v1);
        g_test_add_func("/peer/auth/server-set-key", test_server_set_key);
        g_test_add_data_func("/peer/auth/relay/inject", "inject", test_auth_relay);
        g_test_add_data_func("/peer/auth/relay/inject-sealed", "inject-sealed", test_auth_relay);
        g_test_add_data_func("/peer/auth/relay/replay", "replay", test_auth_relay);
        g_test_add_data_func("/peer/auth/relay/drop", "drop", test_auth_relay);
        g_test_add_data_func("/peer/auth/relay/forward", "forward", test_auth_relay);
        g_test_add_func("/peer/auth/sealed-from-destination", test_auth_sealed_from_destination);
        g_test_add_func("/peer/limits/per-address", test_per_address);
        g_test_add_func("/peer/limits/handshake-timeout", test_handshake_timeout);
        g_test_add_func("/peer/limits/hello-only-timeout", test_hello_only_timeout);
        g_test_add_func("/peer/limits/source-key", test_source_key);
        g_test_add_func("/peer/limits/client-no-challenge", test_client_no_challenge);
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
        g_test_add_data_func("/peer/tls/flow-no-key", &tls_flow_no_key, test_tls_in_child);
        g_test_add_data_func("/peer/tls/plain-client", &tls_plain, test_tls_in_child);
        g_test_add_data_func("/peer/tls/foreign-client-cert", &tls_foreign, test_tls_in_child);
        g_test_add_data_func("/peer/tls/unknown-server-ca", &tls_unknown_ca, test_tls_in_child);
        g_test_add_data_func("/peer/tls/bad-token", &tls_bad_token, test_tls_in_child);
        g_test_add_data_func("/peer/tls/no-key-bad-token", &tls_no_key_bad_token, test_tls_in_child);
        g_test_add_data_func("/peer/tls/silent", &tls_silent, test_tls_in_child);
        rc = g_test_run();
        tls_files_clear();
        return rc;
}

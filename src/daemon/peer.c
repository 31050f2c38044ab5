/* The peer channel between the source's and the destination's vsimigd
 * (DESIGN.md section 2, "Two channels"): a strict codec for the
 * length-prefixed JSON messages, the source's TCP listener and the
 * destination's connector.  The wire format is described in peer.h.
 *
 * Everything read from the socket is untrusted: lengths are checked before
 * anything is buffered, the source never buffers more than one hello, JSON
 * nesting is bounded before json-glib sees it, and every rejection is
 * counted, logged (rate limited) and closes only the offending connection.
 * All I/O is non-blocking on the caller's GMainContext, through the
 * pollable streams of the connection (the TCP one, or the TLS one over
 * it); no threads of our own (GIO's TLS backend runs an asynchronous
 * handshake in its worker thread). */
#include "daemon/peer.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/json-util.h"
#include "daemon/log.h"

#define PEER_JSON_DEPTH_MAX 16
#define PEER_HELLO_MAX 4096            /* a frame of the handshake (hello, challenge, auth, error) */
#define PEER_REASON_MAX 1024           /* characters of an error's reason */
#define PEER_UNAUTH_OUTBUF_MAX 4096   /* a challenge and an error, for a connection not authenticated */
#define PEER_READ_CHUNK 65536
#define PEER_LINGER_MS 5000            /* drop_domain: time left to flush before closing */
#define PEER_LISTEN_BACKLOG 128
#define PEER_FRAME_HDR 4
#define PEER_BUSY "too many connections"
#define PEER_BAD_MESSAGE "bad message"     /* the refusal of a message that did not decode */
#define PEER_RETRY_FOR_MS 10000        /* a destination told PEER_BUSY retries this long */

#define peer_log(level, peer, domain, ...) \
        g_log_structured(G_LOG_DOMAIN, (level), "VSIMIG_PEER", (peer), "VSIMIG_DOMAIN", (domain), \
                         "MESSAGE", __VA_ARGS__)

/* ---- codec ---- */

static const char *const msg_type_names[_VSM_PEER_MSG_MAX] = {
        [VSM_PEER_MSG_HELLO] = "hello",
        [VSM_PEER_MSG_STATE] = "state",
        [VSM_PEER_MSG_SWITCHOVER] = "switchover",
        [VSM_PEER_MSG_ERROR] = "error",
        [VSM_PEER_MSG_CHALLENGE] = "challenge",
        [VSM_PEER_MSG_AUTH] = "auth",
        [VSM_PEER_MSG_CONNTRACK] = "conntrack",
};

/* The members each type allows ("type" included); everything else is refused. */
static const char *const hello_members[] = { "type", "version", "domain", "token", "nonce", "caps", NULL };
/* What a hello's "caps" may name (bit i: name i); other names are ignored
 * (a newer destination's), at most PEER_CAPS_MAX of them. */
static const char *const cap_names[] = { "conntrack", NULL };
#define PEER_CAPS_MAX 16
#define PEER_CAP_NAME_MAX 32
static const char *const state_members[] = { "type", "domain", "generation", "nics", NULL };
static const char *const switchover_members[] = { "type", "domain", "generation", "nics", "suspended_at", NULL };
static const char *const error_members[] = { "type", "reason", NULL };
static const char *const challenge_members[] = { "type", "nonce", "proof", NULL };
static const char *const auth_members[] = { "type", "proof", NULL };
static const char *const conntrack_members[] = { "type", "domain", "phase", "seq", "last", "entries", NULL };
static const char *const ct_phase_names[_VSM_PEER_CT_PHASE_MAX] = {
        [VSM_PEER_CT_PRESTAGE] = "prestage",
        [VSM_PEER_CT_DELTA] = "delta",
};
/* base64 of VSM_CT_BATCH_MAX IPv6 records */
#define PEER_CT_BASE64_MAX (((gsize) VSM_CT_BATCH_MAX * VSM_CT_RECORD_LEN_IP6 + 2) / 3 * 4)

/**
 * vsm_peer_message_type_to_string: the wire name of a message type.
 */
const char *vsm_peer_message_type_to_string(VsmPeerMessageType t) {
        if ((unsigned) t >= _VSM_PEER_MSG_MAX)
                return "invalid";
        return msg_type_names[t];
}

/**
 * vsm_peer_message_free: frees a message and its NICs.  Accepts NULL.
 */
VsmPeerMessage *vsm_peer_message_free(VsmPeerMessage *m) {
        if (!m)
                return NULL;
        if (m->nics)
                g_ptr_array_unref(m->nics);
        if (m->ct_entries)
                g_array_unref(m->ct_entries);
        g_free(m->reason);
        g_free(m);
        return NULL;
}

/* The records of entries, base64; NULL when more than VSM_CT_BATCH_MAX
 * or one does not encode. */
static char *ct_entries_base64(const GArray *entries) {
        guint n = entries ? entries->len : 0;
        g_autofree uint8_t *buf = NULL;
        VsmWriter w;

        if (n > VSM_CT_BATCH_MAX)
                return NULL;
        buf = g_malloc((gsize) MAX(n, 1) * VSM_CT_RECORD_LEN_IP6);
        vsm_writer_init(&w, buf, (gsize) MAX(n, 1) * VSM_CT_RECORD_LEN_IP6);
        for (guint i = 0; i < n; i++)
                if (vsm_ct_record_write(&w, &g_array_index(entries, VsmCtEntry, i)) < 0)
                        return NULL;
        return g_base64_encode(buf, w.len);
}

/* Strict base64: the alphabet, padding only at the end, a multiple of 4. */
static gboolean base64_valid(const char *s, gsize len) {
        gsize pad = 0;

        if (len % 4 != 0)
                return FALSE;
        for (gsize i = 0; i < len; i++) {
                char c = s[i];

                if (c == '=') {
                        pad++;
                        continue;
                }
                if (pad || !(g_ascii_isalnum(c) || c == '+' || c == '/'))
                        return FALSE;
        }
        return pad <= 2;
}

/* A conntrack message, written directly: its members are a lower-case
 * UUID, fixed words, numbers and base64 (nothing to escape), and at a
 * hundred thousand entries a pre-stage is megabytes of base64 that
 * json-glib's builder and generator would copy and scan character by
 * character on the main loop.  Same JSON as the generator's.  NULL when
 * the domain is not a plain UUID (then the generic path), a record does
 * not encode or the body passes VSM_PEER_MESSAGE_MAX. */
static GBytes *ct_message_encode_fast(const VsmPeerMessage *m, gboolean *ret_fallback) {
        guint n = m->ct_entries ? m->ct_entries->len : 0;
        g_autofree uint8_t *raw = NULL;
        GString *s;
        VsmWriter w;
        gsize len, b64_len, pos;
        gint state = 0, save = 0;
        guint8 *frame;

        *ret_fallback = FALSE;
        for (const char *p = m->domain; *p; p++)
                if (!(g_ascii_isdigit(*p) || (*p >= 'a' && *p <= 'f') || *p == '-')) {
                        *ret_fallback = TRUE;
                        return NULL;
                }
        if (n > VSM_CT_BATCH_MAX)
                return NULL;
        raw = g_malloc((gsize) MAX(n, 1) * VSM_CT_RECORD_LEN_IP6);
        vsm_writer_init(&w, raw, (gsize) MAX(n, 1) * VSM_CT_RECORD_LEN_IP6);
        for (guint i = 0; i < n; i++)
                if (vsm_ct_record_write(&w, &g_array_index(m->ct_entries, VsmCtEntry, i)) < 0)
                        return NULL;
        b64_len = (w.len + 2) / 3 * 4;
        s = g_string_sized_new(PEER_FRAME_HDR + 160 + b64_len + 4);
        g_string_append_len(s, "\0\0\0\0", PEER_FRAME_HDR);
        g_string_append_printf(s, "{\"type\":\"conntrack\",\"domain\":\"%s\",\"phase\":\"%s\",\"seq\":%" G_GINT64_FORMAT
                               ",\"last\":%s,\"entries\":\"", m->domain,
                               ct_phase_names[m->ct_phase < _VSM_PEER_CT_PHASE_MAX ? m->ct_phase : 0],
                               (gint64) MIN(m->ct_seq, (guint64) G_MAXINT64), m->ct_last ? "true" : "false");
        pos = s->len;
        /* g_base64_encode_step() writes at most (len / 3 + 1) * 4, close 4
         * more: room for both, and some. */
        g_string_set_size(s, pos + (w.len / 3 + 1) * 4 + 16);
        pos += g_base64_encode_step(raw, w.len, FALSE, s->str + pos, &state, &save);
        pos += g_base64_encode_close(FALSE, s->str + pos, &state, &save);
        g_string_truncate(s, pos);
        g_string_append(s, "\"}");
        len = s->len - PEER_FRAME_HDR;
        if (len > VSM_PEER_MESSAGE_MAX) {
                g_string_free(s, TRUE);
                return NULL;
        }
        frame = (guint8 *) s->str;
        frame[0] = (guint8) (len >> 24);
        frame[1] = (guint8) (len >> 16);
        frame[2] = (guint8) (len >> 8);
        frame[3] = (guint8) len;
        return g_string_free_to_bytes(s);
}

/**
 * vsm_peer_message_encode: the framed octets of m (4-octet big-endian
 * length, then the JSON body).  NULL if the body would pass
 * VSM_PEER_MESSAGE_MAX.
 */
GBytes *vsm_peer_message_encode(const VsmPeerMessage *m) {
        g_autoptr(JsonBuilder) b = NULL;
        g_autoptr(JsonGenerator) gen = NULL;
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *json = NULL;
        guint8 *frame;
        gsize len = 0;

        g_return_val_if_fail(m != NULL, NULL);
        g_return_val_if_fail((unsigned) m->type < _VSM_PEER_MSG_MAX, NULL);
        g_return_val_if_fail(m->generation <= G_MAXINT64, NULL);

        if (m->type == VSM_PEER_MSG_CONNTRACK) {
                gboolean fallback = FALSE;
                GBytes *fast = ct_message_encode_fast(m, &fallback);

                if (fast || !fallback)
                        return fast;
        }

        b = json_builder_new_immutable();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, vsm_peer_message_type_to_string(m->type));
        switch (m->type) {
        case VSM_PEER_MSG_HELLO:
                json_builder_set_member_name(b, "version");
                json_builder_add_int_value(b, m->version == 1 ? 1 : VSM_PEER_PROTOCOL_VERSION);
                json_builder_set_member_name(b, "domain");
                json_builder_add_string_value(b, m->domain);
                if (m->version == 1) {
                        json_builder_set_member_name(b, "token");
                        json_builder_add_string_value(b, m->token);
                } else {
                        json_builder_set_member_name(b, "nonce");
                        json_builder_add_string_value(b, m->nonce);
                        if (m->caps) {
                                json_builder_set_member_name(b, "caps");
                                json_builder_begin_array(b);
                                for (guint i = 0; cap_names[i]; i++)
                                        if (m->caps & (1u << i))
                                                json_builder_add_string_value(b, cap_names[i]);
                                json_builder_end_array(b);
                        }
                }
                break;
        case VSM_PEER_MSG_CHALLENGE:
                json_builder_set_member_name(b, "nonce");
                json_builder_add_string_value(b, m->nonce);
                json_builder_set_member_name(b, "proof");
                json_builder_add_string_value(b, m->proof);
                break;
        case VSM_PEER_MSG_AUTH:
                json_builder_set_member_name(b, "proof");
                json_builder_add_string_value(b, m->proof);
                break;
        case VSM_PEER_MSG_STATE:
        case VSM_PEER_MSG_SWITCHOVER:
                json_builder_set_member_name(b, "domain");
                json_builder_add_string_value(b, m->domain);
                json_builder_set_member_name(b, "generation");
                json_builder_add_int_value(b, (gint64) m->generation);
                json_builder_set_member_name(b, "nics");
                json_builder_begin_array(b);
                for (guint i = 0; m->nics && i < m->nics->len; i++)
                        json_builder_add_value(b, vsm_nic_state_to_json(g_ptr_array_index(m->nics, i)));
                json_builder_end_array(b);
                if (m->type == VSM_PEER_MSG_SWITCHOVER) {
                        json_builder_set_member_name(b, "suspended_at");
                        json_builder_add_int_value(b, m->suspended_at_real_usec);
                }
                break;
        case VSM_PEER_MSG_ERROR:
                json_builder_set_member_name(b, "reason");
                json_builder_add_string_value(b, m->reason ? m->reason : "");
                break;
        case VSM_PEER_MSG_CONNTRACK: {
                g_autofree char *b64 = ct_entries_base64(m->ct_entries);

                if (!b64)
                        return NULL;
                json_builder_set_member_name(b, "domain");
                json_builder_add_string_value(b, m->domain);
                json_builder_set_member_name(b, "phase");
                json_builder_add_string_value(b, ct_phase_names[m->ct_phase < _VSM_PEER_CT_PHASE_MAX ? m->ct_phase : 0]);
                json_builder_set_member_name(b, "seq");
                json_builder_add_int_value(b, (gint64) MIN(m->ct_seq, (guint64) G_MAXINT64));
                json_builder_set_member_name(b, "last");
                json_builder_add_boolean_value(b, m->ct_last);
                json_builder_set_member_name(b, "entries");
                json_builder_add_string_value(b, b64);
                break;
        }
        default:
                g_assert_not_reached();
        }
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        gen = json_generator_new();
        json_generator_set_root(gen, root);
        json = json_generator_to_data(gen, &len);
        if (len == 0 || len > VSM_PEER_MESSAGE_MAX)
                return NULL;
        frame = g_malloc(PEER_FRAME_HDR + len);
        frame[0] = (guint8) (len >> 24);
        frame[1] = (guint8) (len >> 16);
        frame[2] = (guint8) (len >> 8);
        frame[3] = (guint8) len;
        memcpy(frame + PEER_FRAME_HDR, json, len);
        return g_bytes_new_take(frame, PEER_FRAME_HDR + len);
}

/* Untrusted text for an error message: escaped and shortened. */
static char *escape_short(const char *s) {
        g_autofree char *cut = g_utf8_substring(s, 0, MIN(g_utf8_strlen(s, -1), 48));

        return g_strescape(cut, NULL);
}

static gboolean members_ok(JsonObject *obj, const char *const *allowed, const char *type, GError **error) {
        JsonObjectIter it;
        const char *name;
        JsonNode *node;

        json_object_iter_init(&it, obj);
        while (json_object_iter_next(&it, &name, &node)) {
                if (!g_strv_contains(allowed, name)) {
                        g_autofree char *esc = escape_short(name);

                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "unknown member \"%s\" in a \"%s\" message",
                                    esc, type);
                        return FALSE;
                }
        }
        return TRUE;
}

static const char *member_string(JsonObject *obj, const char *name, GError **error) {
        JsonNode *node = json_object_get_member(obj, name);

        if (!node) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"%s\" is missing", name);
                return NULL;
        }
        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"%s\" must be a string", name);
                return NULL;
        }
        return json_node_get_string(node);
}

/* A non-negative integer member.  Absent: FALSE with no error when optional. */
/* A hello's "caps": an array of at most PEER_CAPS_MAX short strings;
 * the names known here set their bit, others are ignored. */
static gboolean parse_caps(JsonObject *obj, guint *ret, GError **error) {
        JsonNode *node = json_object_get_member(obj, "caps");
        JsonArray *a;
        guint caps = 0;

        if (!node || !JSON_NODE_HOLDS_ARRAY(node)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"caps\" is not an array");
                return FALSE;
        }
        a = json_node_get_array(node);
        if (json_array_get_length(a) > PEER_CAPS_MAX) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"caps\" has more than %d names", PEER_CAPS_MAX);
                return FALSE;
        }
        for (guint i = 0; i < json_array_get_length(a); i++) {
                JsonNode *e = json_array_get_element(a, i);
                const char *name;

                if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING ||
                    strlen(name = json_node_get_string(e)) > PEER_CAP_NAME_MAX) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"caps\" holds something else than short names");
                        return FALSE;
                }
                for (guint k = 0; cap_names[k]; k++)
                        if (g_str_equal(name, cap_names[k]))
                                caps |= 1u << k;
        }
        *ret = caps;
        return TRUE;
}

static gboolean member_uint(JsonObject *obj, const char *name, gboolean optional, gint64 *ret, GError **error) {
        JsonNode *node = json_object_get_member(obj, name);
        gint64 v;

        if (!node) {
                if (!optional)
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"%s\" is missing", name);
                return FALSE;
        }
        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"%s\" must be an integer", name);
                return FALSE;
        }
        v = json_node_get_int(node);
        if (v < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"%s\" must not be negative", name);
                return FALSE;
        }
        *ret = v;
        return TRUE;
}

static gboolean parse_domain(JsonObject *obj, char ret[37], GError **error) {
        const char *s = member_string(obj, "domain", error);
        g_autofree char *lower = NULL;

        if (!s)
                return FALSE;
        if (!g_uuid_string_is_valid(s)) {
                g_autofree char *esc = escape_short(s);

                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"domain\" is not a UUID: \"%s\"", esc);
                return FALSE;
        }
        lower = g_ascii_strdown(s, -1);
        g_strlcpy(ret, lower, 37);
        return TRUE;
}

/* want lower-case hex characters, like the token netstate.c keeps in
 * <metadata>. */
static gboolean is_hex_len(const char *s, gsize want) {
        gsize len = strlen(s);

        for (gsize i = 0; i < len; i++)
                if (!g_ascii_isdigit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
                        return FALSE;
        return len == want;
}

static gboolean is_hex_token(const char *s) {
        return is_hex_len(s, VSM_NETSTATE_TOKEN_LEN);
}

/* A member of exactly want lower-case hex characters, into ret (want + 1). */
static gboolean parse_hex(JsonObject *obj, const char *name, gsize want, char *ret, GError **error) {
        const char *s = member_string(obj, name, error);

        if (!s)
                return FALSE;
        if (!is_hex_len(s, want)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"%s\" must be %" G_GSIZE_FORMAT
                            " lower-case hex characters", name, want);
                return FALSE;
        }
        g_strlcpy(ret, s, want + 1);
        return TRUE;
}

static gboolean parse_token(JsonObject *obj, char ret[VSM_NETSTATE_TOKEN_LEN + 1], GError **error) {
        return parse_hex(obj, "token", VSM_NETSTATE_TOKEN_LEN, ret, error);
}

static void nic_free(gpointer p) {
        vsm_nic_state_free(p);
}

static gboolean parse_nics(JsonObject *obj, GPtrArray **ret, GError **error) {
        g_autoptr(GPtrArray) nics = NULL;
        JsonNode *node = json_object_get_member(obj, "nics");
        JsonArray *arr;
        guint n;

        if (!node) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"nics\" is missing");
                return FALSE;
        }
        if (!JSON_NODE_HOLDS_ARRAY(node)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"nics\" must be an array");
                return FALSE;
        }
        arr = json_node_get_array(node);
        n = json_array_get_length(arr);
        if (n > VSM_NETSTATE_NICS_MAX) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "more than %d NICs", VSM_NETSTATE_NICS_MAX);
                return FALSE;
        }
        nics = g_ptr_array_new_full(n, nic_free);
        for (guint i = 0; i < n; i++) {
                g_autoptr(GError) local = NULL;
                VsmNicState *nic = NULL;

                if (!vsm_nic_state_from_json(json_array_get_element(arr, i), &nic, &local)) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "nics[%u]: %s", i,
                                    local ? local->message : "invalid");
                        return FALSE;
                }
                for (guint j = 0; j < nics->len; j++) {
                        const VsmNicState *other = g_ptr_array_index(nics, j);

                        if (memcmp(other->mac, nic->mac, VSM_ETH_ALEN) == 0) {
                                vsm_nic_state_free(nic);
                                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "nics[%u]: duplicate MAC", i);
                                return FALSE;
                        }
                }
                g_ptr_array_add(nics, nic);
        }
        *ret = g_steal_pointer(&nics);
        return TRUE;
}

static gboolean parse_ct(JsonObject *obj, VsmPeerMessage *m, GError **error) {
        const char *phase, *b64;
        JsonNode *last;
        g_autofree guint8 *raw = NULL;
        gsize raw_len = 0, len;
        gint64 v;
        int n;

        if (!parse_domain(obj, m->domain, error))
                return FALSE;
        phase = member_string(obj, "phase", error);
        if (!phase)
                return FALSE;
        if (g_str_equal(phase, "prestage"))
                m->ct_phase = VSM_PEER_CT_PRESTAGE;
        else if (g_str_equal(phase, "delta"))
                m->ct_phase = VSM_PEER_CT_DELTA;
        else {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"phase\" must be prestage or delta");
                return FALSE;
        }
        if (!member_uint(obj, "seq", FALSE, &v, error))
                return FALSE;
        m->ct_seq = (guint64) v;
        last = json_object_get_member(obj, "last");
        if (!last || !JSON_NODE_HOLDS_VALUE(last) || json_node_get_value_type(last) != G_TYPE_BOOLEAN) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"last\" must be a boolean");
                return FALSE;
        }
        m->ct_last = json_node_get_boolean(last);
        b64 = member_string(obj, "entries", error);
        if (!b64)
                return FALSE;
        len = strlen(b64);
        if (len > PEER_CT_BASE64_MAX) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"entries\": more than %u entries",
                            VSM_CT_BATCH_MAX);
                return FALSE;
        }
        if (!base64_valid(b64, len)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"entries\" is not base64");
                return FALSE;
        }
        m->ct_entries = g_array_new(FALSE, FALSE, sizeof(VsmCtEntry));
        if (len == 0)
                return TRUE;
        raw = g_base64_decode(b64, &raw_len);
        /* Room for as many IPv4 records as the octets hold, at most the cap
         * (the decoder refuses more). */
        g_array_set_size(m->ct_entries, (guint) MIN(raw_len / VSM_CT_RECORD_LEN_IP4 + 1, (gsize) VSM_CT_BATCH_MAX + 1));
        n = vsm_ct_records_decode(raw, raw_len, (VsmCtEntry *) (void *) m->ct_entries->data,
                                  MIN(m->ct_entries->len, VSM_CT_BATCH_MAX));
        if (n < 0) {
                g_array_set_size(m->ct_entries, 0);
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"entries\": %s",
                            n == -E2BIG ? "too many entries" : "a record is malformed");
                return FALSE;
        }
        g_array_set_size(m->ct_entries, (guint) n);
        return TRUE;
}

/**
 * vsm_peer_message_decode: parses and validates one message body (without
 * its length prefix).  Strict: unknown types and members, wrong types, a
 * domain that is not a UUID, a token or nonce that is not 32 hex
 * characters, a proof that is not 64, a hello version other than 1 (with
 * a token) or 2 (with a nonce) and negative integers are refused.  The domain is returned in lower case; the token must be.
 */
gboolean vsm_peer_message_decode(const uint8_t *body, gsize len, VsmPeerMessage **ret, GError **error) {
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(GError) local = NULL;
        g_autoptr(VsmPeerMessage) m = NULL;
        g_autofree char *text = NULL;
        const char *type, *const *allowed;
        JsonNode *root;
        JsonObject *obj;
        gint64 v;

        g_return_val_if_fail(ret != NULL, FALSE);
        g_return_val_if_fail(body != NULL || len == 0, FALSE);

        if (len == 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "empty message");
                return FALSE;
        }
        if (len > VSM_PEER_MESSAGE_MAX) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "message exceeds %u octets", VSM_PEER_MESSAGE_MAX);
                return FALSE;
        }
        if (memchr(body, '\0', len) || !g_utf8_validate((const char *) body, (gssize) len, NULL)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "message is not valid UTF-8 text");
                return FALSE;
        }
        /* One JSON object and nothing after it, nested at most
         * PEER_JSON_DEPTH_MAX deep. */
        if (!vsm_json_precheck((const char *) body, len, PEER_JSON_DEPTH_MAX, TRUE, error))
                return FALSE;
        /* A terminated copy: the parser never looks past the end. */
        text = g_malloc(len + 1);
        memcpy(text, body, len);
        text[len] = '\0';
        parser = json_parser_new_immutable();
        if (!json_parser_load_from_data(parser, text, (gssize) len, &local)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "invalid JSON: %s", local->message);
                return FALSE;
        }
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "message is not a JSON object");
                return FALSE;
        }
        obj = json_node_get_object(root);
        type = member_string(obj, "type", error);
        if (!type)
                return FALSE;

        m = g_new0(VsmPeerMessage, 1);
        if (g_str_equal(type, "hello")) {
                m->type = VSM_PEER_MSG_HELLO;
                allowed = hello_members;
        } else if (g_str_equal(type, "state")) {
                m->type = VSM_PEER_MSG_STATE;
                allowed = state_members;
        } else if (g_str_equal(type, "switchover")) {
                m->type = VSM_PEER_MSG_SWITCHOVER;
                allowed = switchover_members;
        } else if (g_str_equal(type, "error")) {
                m->type = VSM_PEER_MSG_ERROR;
                allowed = error_members;
        } else if (g_str_equal(type, "challenge")) {
                m->type = VSM_PEER_MSG_CHALLENGE;
                allowed = challenge_members;
        } else if (g_str_equal(type, "auth")) {
                m->type = VSM_PEER_MSG_AUTH;
                allowed = auth_members;
        } else if (g_str_equal(type, "conntrack")) {
                m->type = VSM_PEER_MSG_CONNTRACK;
                allowed = conntrack_members;
        } else {
                g_autofree char *esc = escape_short(type);

                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "unknown message type \"%s\"", esc);
                return FALSE;
        }
        if (!members_ok(obj, allowed, type, error))
                return FALSE;

        switch (m->type) {
        case VSM_PEER_MSG_HELLO:
                if (!member_uint(obj, "version", FALSE, &v, error))
                        return FALSE;
                if (v != 1 && v != VSM_PEER_PROTOCOL_VERSION) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "unsupported protocol version %" G_GINT64_FORMAT,
                                    v);
                        return FALSE;
                }
                m->version = (guint) v;
                if (!parse_domain(obj, m->domain, error))
                        return FALSE;
                /* Version 1 carries the token, version 2 a nonce: never both. */
                if (v == 1 ? json_object_has_member(obj, "nonce") : json_object_has_member(obj, "token")) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "a version %" G_GINT64_FORMAT
                                    " hello has no \"%s\"", v, v == 1 ? "nonce" : "token");
                        return FALSE;
                }
                if (v == 1 ? !parse_token(obj, m->token, error)
                           : !parse_hex(obj, "nonce", VSM_PEER_NONCE_LEN, m->nonce, error))
                        return FALSE;
                if (json_object_has_member(obj, "caps")) {
                        if (v == 1) {
                                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "a version 1 hello has no \"caps\"");
                                return FALSE;
                        }
                        if (!parse_caps(obj, &m->caps, error))
                                return FALSE;
                }
                break;
        case VSM_PEER_MSG_CHALLENGE:
                if (!parse_hex(obj, "nonce", VSM_PEER_NONCE_LEN, m->nonce, error) ||
                    !parse_hex(obj, "proof", VSM_PEER_PROOF_LEN, m->proof, error))
                        return FALSE;
                break;
        case VSM_PEER_MSG_AUTH:
                if (!parse_hex(obj, "proof", VSM_PEER_PROOF_LEN, m->proof, error))
                        return FALSE;
                break;
        case VSM_PEER_MSG_STATE:
        case VSM_PEER_MSG_SWITCHOVER:
                if (!parse_domain(obj, m->domain, error))
                        return FALSE;
                if (!member_uint(obj, "generation", FALSE, &v, error))
                        return FALSE;
                m->generation = (guint64) v;
                if (m->type == VSM_PEER_MSG_SWITCHOVER) {
                        if (member_uint(obj, "suspended_at", TRUE, &v, &local))
                                m->suspended_at_real_usec = v;
                        else if (local) {
                                g_propagate_error(error, g_steal_pointer(&local));
                                return FALSE;
                        }
                }
                if (!parse_nics(obj, &m->nics, error))
                        return FALSE;
                break;
        case VSM_PEER_MSG_ERROR: {
                const char *reason = member_string(obj, "reason", error);

                if (!reason)
                        return FALSE;
                if (g_utf8_strlen(reason, -1) > PEER_REASON_MAX) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "\"reason\" longer than %d characters",
                                    PEER_REASON_MAX);
                        return FALSE;
                }
                m->reason = g_strdup(reason);
                break;
        }
        case VSM_PEER_MSG_CONNTRACK:
                if (!parse_ct(obj, m, error))
                        return FALSE;
                break;
        default:
                g_assert_not_reached();
        }
        *ret = g_steal_pointer(&m);
        return TRUE;
}

/* ---- authentication ---- */

/**
 * vsm_peer_random_hex: 2 * octets lower-case hex characters from
 * getrandom() (nonces, tokens).  Aborts when the kernel gives none.
 */
void vsm_peer_random_hex(char *out, gsize octets) {
        static const char hex[] = "0123456789abcdef";
        guint8 buf[64];
        gsize got = 0;

        g_return_if_fail(octets <= sizeof(buf));
        while (got < octets) {
                ssize_t n = getrandom(buf + got, octets - got, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        g_error("getrandom: %s", g_strerror(errno));
                got += (gsize) n;
        }
        for (gsize i = 0; i < octets; i++) {
                out[2 * i] = hex[buf[i] >> 4];
                out[2 * i + 1] = hex[buf[i] & 0xf];
        }
        out[2 * octets] = '\0';
        explicit_bzero(buf, sizeof(buf));
}

/* HMAC over label, domain, token and the two nonces, each followed by a
 * NUL; keyed by key, or by the token's characters when key is NULL. */
static GHmac *handshake_hmac(GBytes *key, const char *label, const char *domain, const char *token,
                             const char *nonce_d, const char *nonce_s) {
        const char *fields[] = { label, domain, token, nonce_d, nonce_s };
        const guint8 *k;
        gsize klen;
        GHmac *h;

        if (key) {
                k = g_bytes_get_data(key, &klen);
        } else {
                k = (const guint8 *) token;
                klen = strlen(token);
        }
        h = g_hmac_new(G_CHECKSUM_SHA256, k, klen);
        for (gsize i = 0; i < G_N_ELEMENTS(fields); i++)
                g_hmac_update(h, (const guchar *) fields[i], (gssize) strlen(fields[i]) + 1);
        return h;
}

/**
 * vsm_peer_proof: HMAC-SHA-256 over "vsimig-peer-v2 source" (or
 * "destination"), domain, token and the two nonces, each field followed
 * by a NUL (all but the label have a fixed length), in hex.  Keyed by key,
 * or by the token's characters when key is NULL.
 */
void vsm_peer_proof(GBytes *key, gboolean source, const char *domain, const char *token, const char *nonce_d,
                    const char *nonce_s, char out[VSM_PEER_PROOF_LEN + 1]) {
        const char *label = source ? "vsimig-peer-v2 source" : "vsimig-peer-v2 destination";
        g_autoptr(GHmac) h = handshake_hmac(key, label, domain, token, nonce_d, nonce_s);

        g_strlcpy(out, g_hmac_get_string(h), VSM_PEER_PROOF_LEN + 1);
}

/**
 * vsm_peer_session_key: the key of the frames after the handshake, from
 * the key that keyed the proofs and the same fields, under its own label.
 */
void vsm_peer_session_key(GBytes *key, const char *domain, const char *token, const char *nonce_d,
                          const char *nonce_s, guint8 out[VSM_PEER_MAC_LEN]) {
        g_autoptr(GHmac) h = handshake_hmac(key, "vsimig-peer-v2 session", domain, token, nonce_d, nonce_s);
        gsize len = VSM_PEER_MAC_LEN;

        g_hmac_get_digest(h, out, &len);
        g_assert(len == VSM_PEER_MAC_LEN);
}

/**
 * vsm_peer_frame_mac: HMAC-SHA-256 under the session key of the
 * direction's label, the frame's sequence number in that direction (8
 * octets, big-endian) and its body.
 */
void vsm_peer_frame_mac(const guint8 sk[VSM_PEER_MAC_LEN], gboolean from_source, guint64 seq, const guint8 *body,
                        gsize len, guint8 out[VSM_PEER_MAC_LEN]) {
        const char *label = from_source ? "vsimig-peer-v2 source frame" : "vsimig-peer-v2 destination frame";
        g_autoptr(GHmac) h = g_hmac_new(G_CHECKSUM_SHA256, sk, VSM_PEER_MAC_LEN);
        guint8 be[8];
        gsize out_len = VSM_PEER_MAC_LEN;

        for (int i = 0; i < 8; i++)
                be[i] = (guint8) (seq >> (56 - 8 * i));
        g_hmac_update(h, (const guchar *) label, (gssize) strlen(label) + 1);
        g_hmac_update(h, be, sizeof(be));
        g_hmac_update(h, body, (gssize) len);
        g_hmac_get_digest(h, out, &out_len);
}

/**
 * vsm_peer_frame_seal: frame with its MAC between the length prefix and
 * the body (the prefix counts both).
 */
GBytes *vsm_peer_frame_seal(const guint8 sk[VSM_PEER_MAC_LEN], gboolean from_source, guint64 seq, GBytes *frame) {
        gsize size;
        const guint8 *p = g_bytes_get_data(frame, &size);
        gsize len;
        guint8 *out;

        g_return_val_if_fail(size > PEER_FRAME_HDR, NULL);
        len = size - PEER_FRAME_HDR + VSM_PEER_MAC_LEN;
        out = g_malloc(PEER_FRAME_HDR + len);
        out[0] = (guint8) (len >> 24);
        out[1] = (guint8) (len >> 16);
        out[2] = (guint8) (len >> 8);
        out[3] = (guint8) len;
        vsm_peer_frame_mac(sk, from_source, seq, p + PEER_FRAME_HDR, size - PEER_FRAME_HDR, out + PEER_FRAME_HDR);
        memcpy(out + PEER_FRAME_HDR + VSM_PEER_MAC_LEN, p + PEER_FRAME_HDR, size - PEER_FRAME_HDR);
        return g_bytes_new_take(out, PEER_FRAME_HDR + len);
}

/**
 * vsm_peer_frame_open: checks the MAC of a sealed frame's payload (MAC
 * then body) in constant time, before anything looks at the body.
 */
gboolean vsm_peer_frame_open(const guint8 sk[VSM_PEER_MAC_LEN], gboolean from_source, guint64 seq,
                             const guint8 *payload, gsize len, const guint8 **ret_body, gsize *ret_len) {
        guint8 want[VSM_PEER_MAC_LEN];
        gboolean ok;

        if (len <= VSM_PEER_MAC_LEN)
                return FALSE;
        vsm_peer_frame_mac(sk, from_source, seq, payload + VSM_PEER_MAC_LEN, len - VSM_PEER_MAC_LEN, want);
        ok = vsm_peer_secret_equal((const char *) want, (const char *) payload, VSM_PEER_MAC_LEN);
        explicit_bzero(want, sizeof(want));
        if (!ok)
                return FALSE;
        *ret_body = payload + VSM_PEER_MAC_LEN;
        *ret_len = len - VSM_PEER_MAC_LEN;
        return TRUE;
}

/**
 * vsm_peer_secret_equal: compares len characters of a and b in a time
 * that does not depend on where they differ.  Both must be at least len
 * long (the callers pass validated fixed-length hex).
 */
gboolean vsm_peer_secret_equal(const char *a, const char *b, gsize len) {
        volatile unsigned char diff = 0;

        for (gsize i = 0; i < len; i++)
                diff |= (unsigned char) (a[i] ^ b[i]);
        return diff == 0;
}

/**
 * vsm_peer_key_load: the cluster secret of [peer] key-file.  Refused
 * unless it is a regular file owned by root (or by the daemon's user),
 * with no group or other permission bits, of VSM_PEER_KEY_MIN to
 * VSM_PEER_KEY_MAX octets.
 */
GBytes *vsm_peer_key_load(const char *path, GError **error) {
        g_autofree guint8 *buf = NULL;
        GBytes *key;
        struct stat st;
        gsize got = 0;
        int fd;

        g_return_val_if_fail(path != NULL, NULL);

        if (!g_path_is_absolute(path)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[peer] key-file: '%s' is not an absolute path", path);
                return NULL;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                int e = errno;

                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[peer] key-file: cannot read %s: %s (make one with: vsimigctl peer-key new %s, "
                            "and copy it to every compute node)", path, g_strerror(e), path);
                return NULL;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[peer] key-file: %s is not a regular file", path);
                return NULL;
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                close(fd);
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[peer] key-file: %s is owned by uid %u, not root (fix: chown root: %s)", path,
                            (unsigned) st.st_uid, path);
                return NULL;
        }
        if (st.st_mode & 077) {
                close(fd);
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[peer] key-file: %s is readable or writable by group or others (mode %04o; fix: chmod 0600 %s)",
                            path, (unsigned) (st.st_mode & 07777), path);
                return NULL;
        }
        buf = g_malloc(VSM_PEER_KEY_MAX + 1);
        while (got < VSM_PEER_KEY_MAX + 1) {
                ssize_t n = read(fd, buf + got, VSM_PEER_KEY_MAX + 1 - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;

                        close(fd);
                        explicit_bzero(buf, VSM_PEER_KEY_MAX + 1);
                        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[peer] key-file: cannot read %s: %s", path,
                                    g_strerror(e));
                        return NULL;
                }
                if (n == 0)
                        break;
                got += (gsize) n;
        }
        close(fd);
        if (got < VSM_PEER_KEY_MIN || got > VSM_PEER_KEY_MAX) {
                explicit_bzero(buf, VSM_PEER_KEY_MAX + 1);
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[peer] key-file: %s holds %s%" G_GSIZE_FORMAT " octets, not %d to %d (make one with: "
                            "vsimigctl peer-key new PATH)", path, got > VSM_PEER_KEY_MAX ? "more than " : "",
                            got > VSM_PEER_KEY_MAX ? (gsize) VSM_PEER_KEY_MAX : got, VSM_PEER_KEY_MIN,
                            VSM_PEER_KEY_MAX);
                return NULL;
        }
        key = g_bytes_new(buf, got);
        /* The key lives on in key alone, not in a freed buffer. */
        explicit_bzero(buf, VSM_PEER_KEY_MAX + 1);
        return key;
}

/* ---- framed, non-blocking socket I/O shared by both sides ---- */

/* What peer_io_read() returned (never "would block"): n > 0 octets were
 * appended to the owner's io.in, 0 at end of stream, < 0 with error on a
 * socket error.  G_SOURCE_CONTINUE or G_SOURCE_REMOVE, for the watch. */
typedef gboolean (*PeerIoReadFunc)(gpointer owner, gssize n, const GError *error);

typedef struct PeerIo {
        GMainContext *ctx;
        GSocketConnection *conn;       /* TCP; NULL when not (or no longer) connected */
        GIOStream *tls;                /* the TLS connection over conn, or NULL */
        GPollableInputStream *istream; /* borrowed from tls, else from conn */
        GPollableOutputStream *ostream;
        GSource *in_src;
        GSource *out_src;
        PeerIoReadFunc read_func;
        GPollableSourceFunc out_func;
        gpointer owner;
        GByteArray *in;
        GQueue out;                    /* GBytes, framed */
        gsize out_off;                 /* sent octets of the head */
        gsize out_len;                 /* unsent octets queued */
        gsize out_max;                 /* cap of out_len */
        guint32 frame_max;
        /* After the handshake every frame is sealed (vsm_peer_frame_seal())
         * under the session key, each direction with its own label and
         * sequence numbers from 0. */
        gboolean seal_out;             /* from the next frame queued on */
        gboolean seal_in;              /* from the next frame read on */
        gboolean is_source;            /* the label of our direction */
        guint64 seq_out;
        guint64 seq_in;
        guint8 sk[VSM_PEER_MAC_LEN];
} PeerIo;

static void clear_source(GSource **src) {
        if (!*src)
                return;
        g_source_destroy(*src);
        g_source_unref(*src);
        *src = NULL;
}

static GSource *attach_timeout(GMainContext *ctx, guint ms, GSourceFunc func, gpointer data) {
        GSource *src = g_timeout_source_new(ms);

        g_source_set_callback(src, func, data, NULL);
        g_source_attach(src, ctx);
        return src;
}

/* Closes and drops a connection.  TCP first: closing the TLS connection
 * would write its close_notify with a blocking write, which must not
 * stall the loop when the peer does not read; the write then fails at
 * once on the closed TCP stream.  Both sides accept a missing
 * close_notify (the framing finds truncation). */
static void close_streams(GSocketConnection **conn, GIOStream **tls) {
        if (*conn)
                (void) g_io_stream_close(G_IO_STREAM(*conn), NULL, NULL);
        if (*tls)
                (void) g_io_stream_close(*tls, NULL, NULL);
        g_clear_object(tls);
        g_clear_object(conn);
}

static GSource *peer_io_watch(PeerIo *io, gboolean out, GPollableSourceFunc func, gpointer data) {
        GSource *src = out ? g_pollable_output_stream_create_source(io->ostream, NULL)
                           : g_pollable_input_stream_create_source(io->istream, NULL);

        g_source_set_callback(src, G_SOURCE_FUNC(func), data, NULL);
        g_source_attach(src, io->ctx);
        return src;
}

/* > 0: octets read; 0: end of stream; < 0: error (G_IO_ERROR_WOULD_BLOCK
 * when there is nothing to read). */
static gssize peer_io_read(PeerIo *io, GError **error) {
        /* One scratch buffer for every connection (the main loop reads one
         * at a time): a connection's own buffer holds only what it has
         * not consumed yet, not 64 KiB per idle peer. */
        static guint8 scratch[PEER_READ_CHUNK];
        gssize n;

        n = g_pollable_input_stream_read_nonblocking(io->istream, scratch, sizeof(scratch), NULL, error);
        if (n > 0)
                g_byte_array_append(io->in, scratch, (guint) n);
        return n;
}

/* The input watch: reads what the socket has and hands the result to the
 * owner; a wakeup with nothing to read is not passed on.  io is not
 * touched after read_func, which may free its owner. */
static gboolean peer_io_on_readable(GObject *stream, gpointer user_data) {
        PeerIo *io = user_data;
        g_autoptr(GError) error = NULL;
        gssize n;

        n = peer_io_read(io, &error);
        if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                return G_SOURCE_CONTINUE;
        return io->read_func(io->owner, n, error);
}

/* Takes over conn and tls (NULL for plain TCP). */
static void peer_io_init(PeerIo *io, GMainContext *ctx, GSocketConnection *conn, GIOStream *tls, guint32 frame_max,
                         gsize out_max, PeerIoReadFunc read_func, GPollableSourceFunc out_func, gpointer owner) {
        GIOStream *stream = tls ? tls : G_IO_STREAM(conn);

        io->ctx = g_main_context_ref(ctx);
        io->conn = conn;
        io->tls = tls;
        io->istream = G_POLLABLE_INPUT_STREAM(g_io_stream_get_input_stream(stream));
        io->ostream = G_POLLABLE_OUTPUT_STREAM(g_io_stream_get_output_stream(stream));
        io->in = g_byte_array_new();
        g_queue_init(&io->out);
        io->frame_max = frame_max;
        io->out_max = out_max;
        io->read_func = read_func;
        io->out_func = out_func;
        io->owner = owner;
        g_socket_set_keepalive(g_socket_connection_get_socket(conn), TRUE);
        io->in_src = peer_io_watch(io, FALSE, peer_io_on_readable, io);
}

/* Idempotent. */
static void peer_io_clear(PeerIo *io) {
        clear_source(&io->in_src);
        clear_source(&io->out_src);
        close_streams(&io->conn, &io->tls);
        io->istream = NULL;
        io->ostream = NULL;
        g_clear_pointer(&io->in, g_byte_array_unref);
        g_queue_clear_full(&io->out, (GDestroyNotify) g_bytes_unref);
        io->out_off = 0;
        io->out_len = 0;
        io->seal_out = io->seal_in = FALSE;
        io->seq_out = io->seq_in = 0;
        explicit_bzero(io->sk, sizeof(io->sk));
        g_clear_pointer(&io->ctx, g_main_context_unref);
}

/* The session key of this connection (is_source: which label is ours);
 * then peer_io_seal_out() and peer_io_seal_in() turn sealing on for each
 * direction, at the frame where the handshake ends for it. */
static void peer_io_set_session_key(PeerIo *io, gboolean is_source, GBytes *key, const char *domain,
                                    const char *token, const char *nonce_d, const char *nonce_s) {
        vsm_peer_session_key(key, domain, token, nonce_d, nonce_s, io->sk);
        io->is_source = is_source;
}

static void peer_io_seal_out(PeerIo *io) {
        io->seal_out = TRUE;
        io->seq_out = 0;
}

static void peer_io_seal_in(PeerIo *io) {
        io->seal_in = TRUE;
        io->seq_in = 0;
        /* A sealed frame is a MAC longer than the message it carries. */
        io->frame_max += MIN(VSM_PEER_MAC_LEN, G_MAXUINT32 - io->frame_max);
}

/* Writes what the socket takes now.  FALSE on a socket error. */
static gboolean peer_io_flush(PeerIo *io, GError **error) {
        while (!g_queue_is_empty(&io->out)) {
                GBytes *head = g_queue_peek_head(&io->out);
                g_autoptr(GError) local = NULL;
                gsize size;
                const guint8 *data = g_bytes_get_data(head, &size);
                gssize n;

                n = g_pollable_output_stream_write_nonblocking(io->ostream, data + io->out_off, size - io->out_off,
                                                               NULL, &local);
                if (n < 0) {
                        if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                                break;
                        g_propagate_error(error, g_steal_pointer(&local));
                        return FALSE;
                }
                io->out_off += (gsize) n;
                io->out_len -= (gsize) n;
                if (io->out_off == size) {
                        g_bytes_unref(g_queue_pop_head(&io->out));
                        io->out_off = 0;
                }
        }
        if (io->out_len > 0 && !io->out_src)
                io->out_src = peer_io_watch(io, TRUE, io->out_func, io->owner);
        else if (io->out_len == 0)
                clear_source(&io->out_src);
        return TRUE;
}

/* Queues a frame and writes what fits.  FALSE when the buffer would pass
 * io->out_max (nothing queued) or on a socket error. */
static gboolean peer_io_send(PeerIo *io, GBytes *plain, GError **error) {
        g_autoptr(GBytes) frame = io->seal_out ? vsm_peer_frame_seal(io->sk, io->is_source, io->seq_out, plain)
                                               : g_bytes_ref(plain);
        gsize size = g_bytes_get_size(frame);

        if (size > io->out_max - MIN(io->out_len, io->out_max)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_BUSY, "more than %" G_GSIZE_FORMAT " octets unsent",
                            io->out_max);
                return FALSE;
        }
        g_queue_push_tail(&io->out, g_bytes_ref(frame));
        io->out_len += size;
        if (io->seal_out)
                io->seq_out++;
        return peer_io_flush(io, error);
}

/* 1: a whole frame is buffered (*ret_body, *ret_len); 0: more is needed;
 * -1: the length prefix is 0 or above the cap (*ret_len says which). */
static int peer_io_frame(const PeerIo *io, const guint8 **ret_body, guint32 *ret_len) {
        const guint8 *p = io->in->data;
        guint32 len;

        if (io->in->len < PEER_FRAME_HDR)
                return 0;
        len = (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
        *ret_len = len;
        if (len == 0 || len > io->frame_max)
                return -1;
        if (len > io->in->len - PEER_FRAME_HDR)
                return 0;
        *ret_body = p + PEER_FRAME_HDR;
        return 1;
}

static void peer_io_consume(PeerIo *io, guint32 len) {
        g_byte_array_remove_range(io->in, 0, PEER_FRAME_HDR + len);
        if (io->in->len == 0) {
                /* Give back what a large message grew it to. */
                g_byte_array_unref(io->in);
                io->in = g_byte_array_new();
        }
}

/* The next whole message in io's buffer, its MAC checked first when
 * sealed, then decoded; its frame is then consumed.  1: *ret_m set; 0:
 * more is needed; -EMSGSIZE: the length prefix is 0 or above the cap;
 * -EPERM: the MAC is wrong (forged, replayed, reordered or corrupted);
 * -EBADMSG: the body does not decode.  On failure error says why and the
 * buffer is left as it was. */
static int peer_io_next(PeerIo *io, VsmPeerMessage **ret_m, GError **error) {
        g_autoptr(GError) local = NULL;
        const guint8 *body = NULL;
        guint32 len = 0;
        gsize blen;
        int r;

        r = peer_io_frame(io, &body, &len);
        if (r == 0)
                return 0;
        if (r < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "bad length prefix %u", len);
                return -EMSGSIZE;
        }
        blen = len;
        if (io->seal_in && !vsm_peer_frame_open(io->sk, !io->is_source, io->seq_in, body, len, &body, &blen)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID,
                            "frame %" G_GUINT64_FORMAT " failed its MAC (not sent by the authenticated peer, or "
                            "replayed, reordered or altered on the way)", io->seq_in);
                return -EPERM;
        }
        if (!vsm_peer_message_decode(body, blen, ret_m, &local)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "bad message: %s", local->message);
                return -EBADMSG;
        }
        if (io->seal_in)
                io->seq_in++;
        peer_io_consume(io, len);
        return 1;
}

static char *address_to_string(GSocketAddress *sa) {
        g_autofree char *ip = NULL;
        GInetAddress *addr;

        if (!G_IS_INET_SOCKET_ADDRESS(sa))
                return g_strdup("?");
        addr = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(sa));
        ip = g_inet_address_to_string(addr);
        if (g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6)
                return g_strdup_printf("[%s]:%u", ip, g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(sa)));
        return g_strdup_printf("%s:%u", ip, g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(sa)));
}

static GBytes *encode_error(const char *reason) {
        VsmPeerMessage m = { .type = VSM_PEER_MSG_ERROR, .reason = (char *) reason };

        return vsm_peer_message_encode(&m);
}

/* ---- TLS ---- */

/* Fails naming the file when it cannot be opened (GIO's own messages
 * do not always say which file was wrong). */
static gboolean tls_file_check(const char *key, const char *path, GError **error) {
        int fd;

        if (!path || !*path) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[peer] %s: no file given", key);
                return FALSE;
        }
        fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0) {
                int e = errno;

                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[peer] %s: cannot read %s: %s", key, path,
                            g_strerror(e));
                return FALSE;
        }
        close(fd);
        return TRUE;
}

/* "unknown CA, expired" */
static char *tls_flags_to_string(GTlsCertificateFlags flags) {
        static const struct {
                GTlsCertificateFlags flag;
                const char *name;
        } names[] = {
                { G_TLS_CERTIFICATE_UNKNOWN_CA, "not signed by the CA" },
                { G_TLS_CERTIFICATE_BAD_IDENTITY, "bad identity" },
                { G_TLS_CERTIFICATE_NOT_ACTIVATED, "not valid yet" },
                { G_TLS_CERTIFICATE_EXPIRED, "expired" },
                { G_TLS_CERTIFICATE_REVOKED, "revoked" },
                { G_TLS_CERTIFICATE_INSECURE, "insecure algorithm" },
                { G_TLS_CERTIFICATE_GENERIC_ERROR, "invalid" },
        };
        GString *str = g_string_new(NULL);

        for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
                if (flags & names[i].flag)
                        g_string_append_printf(str, "%s%s", str->len ? ", " : "", names[i].name);
        if (!str->len)
                g_string_append(str, "invalid");
        return g_string_free(str, FALSE);
}

/* A certificate and its key, which must verify against ca for purpose. */
static GTlsCertificate *tls_load_pair(GTlsDatabase *ca, const char *cert_key, const char *cert_file,
                                      const char *key_key, const char *key_file, const char *purpose,
                                      GError **error) {
        g_autoptr(GTlsCertificate) cert = NULL;
        g_autoptr(GError) local = NULL;
        GTlsCertificateFlags flags;

        if (!tls_file_check(cert_key, cert_file, error) || !tls_file_check(key_key, key_file, error))
                return NULL;
        cert = g_tls_certificate_new_from_files(cert_file, key_file, &local);
        if (!cert) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[peer] %s = %s, %s = %s: %s", cert_key, cert_file,
                            key_key, key_file, local->message);
                return NULL;
        }
        /* The other side would refuse it at every migration: say so now. */
        flags = g_tls_database_verify_chain(ca, cert, purpose, NULL, NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, &local);
        if (local || flags != 0) {
                g_autofree char *why = local ? g_strdup(local->message) : tls_flags_to_string(flags);

                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[peer] %s = %s does not verify against tls-ca: %s",
                            cert_key, cert_file, why);
                return NULL;
        }
        return g_steal_pointer(&cert);
}

/**
 * vsm_peer_tls_new_from_files: loads the peer channel's TLS material
 * (PEM files, libvirt's layout): the CA that both sides' certificates
 * chain to, the listener's certificate and key, and the connector's.
 * Each certificate must verify against the CA.  Errors are
 * VSM_ERROR_CONFIG and name the file (and the [peer] key it comes from).
 */
VsmPeerTls *vsm_peer_tls_new_from_files(const char *ca_file, const char *cert_file, const char *key_file,
                                        const char *client_cert_file, const char *client_key_file, GError **error) {
        g_autoptr(VsmPeerTls) t = NULL;
        g_autoptr(GError) local = NULL;
        GList *anchors;

        if (!g_tls_backend_supports_tls(g_tls_backend_get_default())) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[peer] tls = true, but GIO has no TLS backend (install glib-networking)");
                return NULL;
        }
        if (!tls_file_check("tls-ca", ca_file, error))
                return NULL;
        anchors = g_tls_certificate_list_new_from_file(ca_file, &local);
        g_list_free_full(anchors, g_object_unref);
        if (!anchors) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[peer] tls-ca = %s: %s", ca_file,
                            local ? local->message : "no PEM certificate in it");
                return NULL;
        }
        t = g_new0(VsmPeerTls, 1);
        t->ca = g_tls_file_database_new(ca_file, &local);
        if (!t->ca) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[peer] tls-ca = %s: %s", ca_file, local->message);
                return NULL;
        }
        t->server_cert = tls_load_pair(t->ca, "tls-cert", cert_file, "tls-key", key_file,
                                       G_TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER, error);
        if (!t->server_cert)
                return NULL;
        t->client_cert = tls_load_pair(t->ca, "tls-client-cert", client_cert_file, "tls-client-key", client_key_file,
                                       G_TLS_DATABASE_PURPOSE_AUTHENTICATE_CLIENT, error);
        if (!t->client_cert)
                return NULL;
        return g_steal_pointer(&t);
}

/**
 * vsm_peer_tls_free: drops the certificates and the CA (servers and
 * clients keep their own references).  Accepts NULL.
 */
VsmPeerTls *vsm_peer_tls_free(VsmPeerTls *t) {
        if (!t)
                return NULL;
        g_clear_object(&t->server_cert);
        g_clear_object(&t->client_cert);
        g_clear_object(&t->ca);
        g_free(t);
        return NULL;
}

/* The connector's check of the listener's certificate: everything
 * G_TLS_CERTIFICATE_VALIDATE_ALL checks except the identity.  The origin
 * is an address from the snapshot and libvirt's server certificates name
 * the host, so the identity cannot match; trust is "holds a certificate
 * and key from tls-ca", as for libvirt's own migration TLS without
 * tls_allowed_dn_list, plus the domain's token. */
static gboolean client_accept_certificate(GTlsConnection *conn, GTlsCertificate *peer_cert,
                                          GTlsCertificateFlags errors, gpointer user_data) {
        return (errors & ~G_TLS_CERTIFICATE_BAD_IDENTITY) == 0;
}

/* The listener's check of the client certificate.  GIO asks the
 * application about every client certificate, even a valid one, and
 * refuses it without a handler: accept exactly those that verify against
 * tls-ca (no identity is checked on this side). */
static gboolean server_accept_certificate(GTlsConnection *conn, GTlsCertificate *peer_cert,
                                          GTlsCertificateFlags errors, gpointer user_data) {
        return errors == 0;
}

/* Common to both ends once tls wraps their TCP connection and carries
 * their own certificate: the peer's certificate is checked against ca by
 * accept_certificate, a missing close_notify is accepted (see
 * close_streams()), and the handshake starts; callback gets data. */
static void peer_tls_handshake(GIOStream *tls, GTlsDatabase *ca, GCallback accept_certificate,
                               GCancellable *cancellable, GAsyncReadyCallback callback, gpointer data) {
        g_tls_connection_set_database(G_TLS_CONNECTION(tls), ca);
        g_tls_connection_set_require_close_notify(G_TLS_CONNECTION(tls), FALSE);
        g_signal_connect(tls, "accept-certificate", accept_certificate, NULL);
        g_tls_connection_handshake_async(G_TLS_CONNECTION(tls), G_PRIORITY_DEFAULT, cancellable, callback, data);
}

/* ---- source side ---- */

struct VsmPeerServer {
        char *listen;
        guint16 port;
        GMainContext *ctx;
        GSocketService *service;
        GSocketAddress *bind_addr;     /* parsed listen address */
        gboolean bound;                /* FALSE: bind failed, retrying */
        char *bind_error;              /* the last bind failure; NULL once bound */
        guint bind_retries;            /* failed retries since the first failure */
        guint bind_delay_ms;           /* the next retry's delay */
        GSource *bind_timer;
        GTlsCertificate *tls_cert;     /* NULL: plain TCP */
        GTlsDatabase *tls_ca;
        GBytes *key;                   /* NULL: keyed by the token */
        gboolean insecure;             /* version 1 hellos accepted, when neither key nor TLS */
        VsmPeerServerCallbacks cb;
        gpointer user_data;
        GList *conns;                  /* VsmPeerConn, one reference each */
        guint n_conns;
        GHashTable *per_addr;          /* address string -> unauthenticated connections from it */
        guint hello_timeout_ms;
        VsmRateLimit rl;
        /* counters */
        guint64 accepted;              /* TCP connections taken (under the caps) */
        guint64 authorized;            /* destinations authenticated */
        guint64 rejected;              /* every rejection below, summed */
        guint64 rejected_auth;         /* bad proof, unknown domain, token used, domain taken */
        guint64 rejected_v1;           /* version 1 hellos without insecure */
        guint64 rejected_per_address;  /* over VSM_PEER_CONNS_PER_ADDR */
        guint64 rejected_protocol;     /* bad framing/JSON, unexpected type, truncated, no hello */
        guint64 rejected_tls;          /* failed TLS handshakes (plain TCP, bad or missing certificate) */
        guint64 rejected_mac;          /* a sealed frame with a wrong MAC */
        guint64 hello_timeouts;        /* with TLS: handshake and hello */
        guint64 evicted;               /* oldest handshakes closed for a newcomer */
        guint64 over_capacity;
        guint64 dropped_slow;          /* output buffer passed the cap */
        guint64 messages_sent;
};

struct VsmPeerConn {
        gint ref;
        VsmPeerServer *server;         /* NULL once closed */
        PeerIo io;                     /* not set up while the TLS handshake runs */
        GSocketConnection *hs_conn;    /* during the TLS handshake: the TCP connection... */
        GIOStream *hs_tls;             /* ...and the TLS one over it (owned by the handshake's callback) */
        GCancellable *hs_cancel;
        char *peer;                    /* "address:port", for logs */
        char *addr;                    /* the address alone: the key of server->per_addr */
        gboolean challenged;           /* a challenge went out: an auth is expected */
        guint caps;                    /* VSM_PEER_CAP_*: what the destination's hello announced */
        gboolean known;                /* lookup() knew the domain */
        gboolean lookup_pending;       /* a deferred lookup has not answered yet: input waits */
        gboolean eof_pending;          /* the destination closed its side meanwhile */
        gboolean in_lookup;            /* inside lookup_deferred(): conn_process() goes on by itself */
        gboolean v1;                   /* the hello was version 1... */
        char v1_token[VSM_NETSTATE_TOKEN_LEN + 1]; /* ...with this token in clear */
        gboolean authorized;
        gboolean closing;              /* dropped: flushing, then closed */
        char domain[37];
        char token[VSM_NETSTATE_TOKEN_LEN + 1]; /* the domain's, or random */
        char nonce_d[VSM_PEER_NONCE_LEN + 1];
        char nonce_s[VSM_PEER_NONCE_LEN + 1];
        GSource *timer;                /* the handshake timeout, then the linger */
        GSource *hello_timer;          /* until the hello */
};

static void conn_unref(VsmPeerConn *c) {
        if (!c || !g_atomic_int_dec_and_test(&c->ref))
                return;
        peer_io_clear(&c->io);
        close_streams(&c->hs_conn, &c->hs_tls);
        g_clear_object(&c->hs_cancel);
        explicit_bzero(c->token, sizeof(c->token));
        explicit_bzero(c->v1_token, sizeof(c->v1_token));
        g_free(c->peer);
        g_free(c->addr);
        g_free(c);
}

static VsmPeerConn *conn_ref(VsmPeerConn *c) {
        g_atomic_int_inc(&c->ref);
        return c;
}

/* One connection less from c's address among those not authenticated. */
static void conn_unclaim_addr(VsmPeerServer *s, VsmPeerConn *c) {
        guint n;

        if (!c->addr)
                return;
        n = GPOINTER_TO_UINT(g_hash_table_lookup(s->per_addr, c->addr));
        if (n <= 1)
                g_hash_table_remove(s->per_addr, c->addr);
        else
                g_hash_table_insert(s->per_addr, g_strdup(c->addr), GUINT_TO_POINTER(n - 1));
        g_clear_pointer(&c->addr, g_free);
}

/* Closes and drops the server's reference.  An authenticated connection
 * that ends by itself (not dropped, server not being freed) is reported
 * through disconnected(); with_callback FALSE when the server goes. */
static void conn_close_full(VsmPeerConn *c, gboolean with_callback) {
        VsmPeerServer *s = c->server;
        gboolean report;

        if (!s)
                return;
        report = with_callback && c->authorized && !c->closing && s->cb.disconnected;
        s->conns = g_list_remove(s->conns, c);
        s->n_conns--;
        conn_unclaim_addr(s, c);
        c->server = NULL;
        clear_source(&c->timer);
        clear_source(&c->hello_timer);
        /* A running handshake owns its streams: it ends, and its callback
         * closes them. */
        if (c->hs_cancel)
                g_cancellable_cancel(c->hs_cancel);
        peer_io_clear(&c->io);
        if (report) {
                peer_log(G_LOG_LEVEL_INFO, c->peer, c->domain, "peer %s: the connection for domain %s ended", c->peer,
                         c->domain);
                s->cb.disconnected(c->domain, s->user_data);
        }
        conn_unref(c);
}

static void conn_close(VsmPeerConn *c) {
        conn_close_full(c, TRUE);
}

static const char *conn_domain(const VsmPeerConn *c) {
        return c->domain[0] ? c->domain : "-";
}

/* Counts, logs (rate limited), tells the peer why (when reason is not
 * NULL: best effort, one non-blocking write) and closes. */
G_GNUC_PRINTF(4, 5)
static void conn_reject(VsmPeerConn *c, guint64 *counter, const char *reason, const char *fmt, ...) {
        VsmPeerServer *s = c->server;
        va_list ap;

        if (!s)
                return;
        s->rejected++;
        (*counter)++;
        if (vsm_ratelimit_test(&s->rl)) {
                g_autofree char *msg = NULL;

                va_start(ap, fmt);
                msg = g_strdup_vprintf(fmt, ap);
                va_end(ap);
                peer_log(G_LOG_LEVEL_WARNING, c->peer, conn_domain(c),
                         "peer %s: rejected: %s (%" G_GUINT64_FORMAT " rejected, %" G_GUINT64_FORMAT
                         " log lines suppressed)", c->peer, msg, s->rejected, s->rl.suppressed);
        }
        if (reason && c->io.conn) {
                g_autoptr(GBytes) frame = encode_error(reason);

                if (frame)
                        (void) peer_io_send(&c->io, frame, NULL);
        }
        conn_close(c);
}

static gboolean conn_on_hello_timeout(gpointer user_data) {
        VsmPeerConn *c = user_data;

        conn_reject(c, &c->server->hello_timeouts, "handshake timeout", "%s within %u ms",
                    c->hs_cancel ? "no TLS handshake" : c->challenged ? "no auth"
                                                      : c->lookup_pending ? "no answer to the lookup" : "no hello",
                    c->server->hello_timeout_ms);
        return G_SOURCE_REMOVE;
}

static gboolean conn_on_hello_only_timeout(gpointer user_data) {
        VsmPeerConn *c = user_data;

        g_clear_pointer(&c->hello_timer, g_source_unref);
        conn_reject(c, &c->server->hello_timeouts, "handshake timeout", "no hello within %d ms",
                    VSM_PEER_HELLO_ONLY_TIMEOUT_MS);
        return G_SOURCE_REMOVE;
}

/* The hello must come within VSM_PEER_HELLO_ONLY_TIMEOUT_MS of the
 * moment it can be read (the whole handshake keeps its longer one). */
static void conn_start_hello_timer(VsmPeerConn *c) {
        guint ms = MIN(VSM_PEER_HELLO_ONLY_TIMEOUT_MS, c->server->hello_timeout_ms);

        clear_source(&c->hello_timer);
        c->hello_timer = attach_timeout(c->server->ctx, ms, conn_on_hello_only_timeout, c);
}

static gboolean conn_on_linger_timeout(gpointer user_data) {
        VsmPeerConn *c = user_data;

        peer_log(G_LOG_LEVEL_INFO, c->peer, conn_domain(c), "peer %s: %" G_GSIZE_FORMAT " octets left unsent, closing",
                 c->peer, c->io.out_len);
        conn_close(c);
        return G_SOURCE_REMOVE;
}

static gboolean conn_on_writable(GObject *stream, gpointer user_data) {
        VsmPeerConn *c = user_data;
        g_autoptr(GError) error = NULL;

        if (!peer_io_flush(&c->io, &error)) {
                peer_log(G_LOG_LEVEL_INFO, c->peer, conn_domain(c), "peer %s: %s", c->peer, error->message);
                conn_close(c);
                return G_SOURCE_REMOVE;
        }
        if (c->io.out_len == 0 && c->closing)
                conn_close(c);
        return G_SOURCE_CONTINUE;       /* peer_io_flush() removed the source when done */
}

/* The handshake succeeded: the connection belongs to c->domain now. */
static void conn_accept(VsmPeerConn *c) {
        VsmPeerServer *s = c->server;

        c->authorized = TRUE;
        clear_source(&c->timer);
        conn_unclaim_addr(s, c);
        c->io.out_max = VSM_PEER_DOMAIN_OUTBUF_MAX;
        explicit_bzero(c->token, sizeof(c->token));
        s->authorized++;
        peer_log(G_LOG_LEVEL_INFO, c->peer, c->domain, "peer %s: destination authenticated for domain %s", c->peer,
                 c->domain);
        if (s->cb.connected)
                s->cb.connected(c, c->domain, s->user_data);
}

/* Another authenticated connection holds the domain. */
static gboolean domain_taken(VsmPeerServer *s, const VsmPeerConn *self, const char *domain) {
        for (GList *l = s->conns; l; l = l->next) {
                const VsmPeerConn *o = l->data;

                if (o != self && o->authorized && !o->closing && g_str_equal(o->domain, domain))
                        return TRUE;
        }
        return FALSE;
}

/* The one refusal of the handshake, the same whatever was wrong: the
 * error is written and the connection closed first, then the daemon
 * hears of it (its timeline note and journal line take time that must
 * not tell a known domain from an unknown one). */
static void conn_refuse(VsmPeerConn *c, const char *why) {
        VsmPeerServer *s = c->server;
        gboolean known = c->known;
        char domain[37];

        g_strlcpy(domain, c->domain, sizeof(domain));
        conn_reject(c, &s->rejected_auth, VSM_PEER_NOT_AUTHORIZED, "domain %s: %s", domain, why);
        if (known && s->cb.refused)
                s->cb.refused(domain, why, s->user_data);
}

/* A deferred lookup: holds a reference on its connection until answered. */
struct VsmPeerLookup {
        VsmPeerConn *c;
};

static void conn_after_lookup(VsmPeerConn *c);
static void conn_process(VsmPeerConn *c);
static void conn_on_eof(VsmPeerConn *c);

/* Step 1 -> 2: a version 2 hello gets a challenge, true or random, once
 * the daemon answered the lookup (at once, or later: see lookup_deferred). */
static void conn_on_hello(VsmPeerConn *c, VsmPeerMessage *m) {
        VsmPeerServer *s = c->server;

        clear_source(&c->hello_timer);
        g_strlcpy(c->domain, m->domain, sizeof(c->domain));
        c->caps = m->caps;
        if (m->version == 1) {
                /* The token in clear, and nothing proves the source:
                 * only when the operator said so. */
                if (!s->insecure || s->key || s->tls_cert) {
                        /* A key or TLS says the operator wants the
                         * channel authenticated: insecure = true then
                         * does not reopen the clear-text version. */
                        conn_reject(c, &s->rejected_v1, "protocol version 1 refused: set [peer] key-file on both hosts",
                                    "version 1 hello (token in clear) refused: %s",
                                    s->insecure ? "[peer] key-file or tls is set" : "[peer] insecure is not set");
                        return;
                }
                c->v1 = TRUE;
                g_strlcpy(c->v1_token, m->token, sizeof(c->v1_token));
        } else {
                g_strlcpy(c->nonce_d, m->nonce, sizeof(c->nonce_d));
        }
        if (s->cb.lookup_deferred) {
                VsmPeerLookup *q = g_new0(VsmPeerLookup, 1);

                q->c = conn_ref(c);
                conn_ref(c);            /* an answer at once may close it */
                c->lookup_pending = TRUE;
                c->in_lookup = TRUE;
                s->cb.lookup_deferred(q, c->domain, s->user_data);
                c->in_lookup = FALSE;
                conn_unref(c);
                return;
        }
        if (s->cb.lookup)
                c->known = s->cb.lookup(m->domain, c->token, s->user_data);
        if (c->server)
                conn_after_lookup(c);
}

void vsm_peer_lookup_answer(VsmPeerLookup *q, const char *token) {
        VsmPeerConn *c;

        if (!q)
                return;
        c = q->c;
        g_free(q);
        /* Closed (timeout, refused, the server freed) meanwhile: dropped. */
        if (c->server && c->lookup_pending) {
                c->lookup_pending = FALSE;
                c->known = token != NULL;
                if (token)
                        g_strlcpy(c->token, token, sizeof(c->token));
                conn_after_lookup(c);
                /* What came meanwhile: the auth, the end (answered at
                 * once, the caller's conn_process() goes on). */
                if (c->server && !c->in_lookup)
                        conn_process(c);
                if (c->server && c->eof_pending)
                        conn_on_eof(c);
        }
        conn_unref(c);
}

static void conn_after_lookup(VsmPeerConn *c) {
        VsmPeerServer *s = c->server;
        VsmPeerMessage ch = { .type = VSM_PEER_MSG_CHALLENGE };
        g_autoptr(GBytes) frame = NULL;
        g_autoptr(GError) error = NULL;

        if (c->v1) {
                gboolean ok = FALSE;

                if (c->known && !domain_taken(s, c, c->domain) &&
                    vsm_peer_secret_equal(c->v1_token, c->token, VSM_NETSTATE_TOKEN_LEN))
                        ok = !s->cb.authorize || s->cb.authorize(c->domain, c->token, s->user_data);
                explicit_bzero(c->v1_token, sizeof(c->v1_token));
                if (!c->server)
                        return;
                if (!ok) {
                        conn_refuse(c, "version 1 hello refused (unknown domain, or token wrong or used)");
                        return;
                }
                conn_accept(c);
                return;
        }
        if (!c->known || !is_hex_token(c->token)) {
                c->known = FALSE;
                vsm_peer_random_hex(c->token, VSM_NETSTATE_TOKEN_LEN / 2);
        }
        vsm_peer_random_hex(c->nonce_s, VSM_PEER_NONCE_LEN / 2);
        g_strlcpy(ch.nonce, c->nonce_s, sizeof(ch.nonce));
        if (c->known)
                vsm_peer_proof(s->key, TRUE, c->domain, c->token, c->nonce_d, c->nonce_s, ch.proof);
        else
                vsm_peer_random_hex(ch.proof, VSM_PEER_PROOF_LEN / 2);
        c->challenged = TRUE;
        frame = vsm_peer_message_encode(&ch);
        if (!peer_io_send(&c->io, frame, &error)) {
                peer_log(G_LOG_LEVEL_INFO, c->peer, conn_domain(c), "peer %s: %s", c->peer, error->message);
                conn_close(c);
                return;
        }
        /* Everything we send after the challenge is sealed under the
         * session key (a destination that checked the proof has it). */
        peer_io_set_session_key(&c->io, TRUE, s->key, c->domain, c->token, c->nonce_d, c->nonce_s);
        peer_io_seal_out(&c->io);
}

/* Step 4: the destination's proof. */
static void conn_on_auth(VsmPeerConn *c, VsmPeerMessage *m) {
        VsmPeerServer *s = c->server;
        char want[VSM_PEER_PROOF_LEN + 1];
        gboolean ok;

        /* and everything the destination sends after its auth. */
        peer_io_seal_in(&c->io);
        vsm_peer_proof(s->key, FALSE, c->domain, c->token, c->nonce_d, c->nonce_s, want);
        ok = vsm_peer_secret_equal(want, m->proof, VSM_PEER_PROOF_LEN);
        explicit_bzero(want, sizeof(want));
        if (!c->known) {
                conn_refuse(c, "unknown domain, or not migrating from here");
                return;
        }
        if (!ok) {
                conn_refuse(c, "bad proof (wrong key or token)");
                return;
        }
        if (domain_taken(s, c, c->domain)) {
                conn_refuse(c, "the domain already has its destination connected");
                return;
        }
        if (s->cb.authorize && !s->cb.authorize(c->domain, c->token, s->user_data)) {
                if (c->server)
                        conn_refuse(c, "token already used, or the domain is no longer migrating from here");
                return;
        }
        if (c->server)
                conn_accept(c);
}

/* While a deferred lookup runs, what the destination sends waits (so a
 * hello and an auth sent at once get the answer an unknown domain's get). */
#define PEER_PENDING_IN_MAX (2 * PEER_HELLO_MAX)

static void conn_process(VsmPeerConn *c) {
        if (c->server && c->lookup_pending && c->io.in->len > PEER_PENDING_IN_MAX) {
                conn_reject(c, &c->server->rejected_protocol, "bad length", "%u octets before the challenge",
                            c->io.in->len);
                return;
        }
        while (c->server && !c->lookup_pending) {
                g_autoptr(VsmPeerMessage) m = NULL;
                g_autoptr(GError) error = NULL;
                gboolean expected;
                int r;

                r = peer_io_next(&c->io, &m, &error);
                if (r == 0)
                        return;
                if (r == -EPERM) {
                        conn_reject(c, &c->server->rejected_mac, "bad MAC", "%s", error->message);
                        return;
                }
                if (r < 0) {
                        conn_reject(c, &c->server->rejected_protocol, r == -EMSGSIZE ? "bad length" : PEER_BAD_MESSAGE,
                                    "%s", error->message);
                        return;
                }
                /* The destination sends one hello, then one auth. */
                expected = !c->authorized &&
                           (c->challenged ? m->type == VSM_PEER_MSG_AUTH : m->type == VSM_PEER_MSG_HELLO);
                if (!expected) {
                        conn_reject(c, &c->server->rejected_protocol, "unexpected message",
                                    "unexpected %s message from the destination",
                                    vsm_peer_message_type_to_string(m->type));
                        return;
                }
                if (m->type == VSM_PEER_MSG_HELLO)
                        conn_on_hello(c, m);
                else
                        conn_on_auth(c, m);
        }
}

static gboolean conn_on_read(gpointer user_data, gssize n, const GError *error) {
        VsmPeerConn *c = user_data;

        if (n < 0) {
                if (c->authorized)
                        conn_close(c);
                else
                        conn_reject(c, &c->server->rejected_protocol, NULL, "during the handshake: %s",
                                    error->message);
                return G_SOURCE_REMOVE;
        }
        conn_ref(c);
        conn_process(c);
        if (n == 0 && c->server && c->lookup_pending) {
                /* Answered later, as if the answer had come first. */
                c->eof_pending = TRUE;
                clear_source(&c->io.in_src);
        } else if (n == 0 && c->server) {
                conn_on_eof(c);
        }
        conn_unref(c);
        return G_SOURCE_CONTINUE;      /* a closed connection's source is already destroyed */
}

/* The destination closed its side (c->server set). */
static void conn_on_eof(VsmPeerConn *c) {
        if (c->io.in->len > 0)
                conn_reject(c, &c->server->rejected_protocol, NULL, "truncated message (%u octets) at end of stream",
                            c->io.in->len);
        else if (!c->authorized)
                conn_reject(c, &c->server->rejected_protocol, NULL, "closed during the handshake");
        else {
                peer_log(G_LOG_LEVEL_INFO, c->peer, conn_domain(c), "peer %s: destination closed the connection",
                         c->peer);
                conn_close(c);
        }
}

static void conn_on_handshake(GObject *source, GAsyncResult *res, gpointer user_data) {
        VsmPeerConn *c = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocketConnection) conn = g_steal_pointer(&c->hs_conn);
        g_autoptr(GIOStream) tls = g_steal_pointer(&c->hs_tls);
        gboolean ok;

        ok = g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), res, &error);
        g_clear_object(&c->hs_cancel);
        if (!ok || !c->server) {
                close_streams(&conn, &tls);
                /* Closed meanwhile (timeout, server freed): nothing to say. */
                if (c->server)
                        conn_reject(c, &c->server->rejected_tls, NULL, "TLS handshake failed: %s", error->message);
                conn_unref(c);
                return;
        }
        peer_log(G_LOG_LEVEL_DEBUG, c->peer, "-", "peer %s: TLS handshake done", c->peer);
        peer_io_init(&c->io, c->server->ctx, g_steal_pointer(&conn), g_steal_pointer(&tls), PEER_HELLO_MAX,
                     PEER_UNAUTH_OUTBUF_MAX, conn_on_read, conn_on_writable, c);
        conn_start_hello_timer(c);
        conn_unref(c);
}

/* Wraps a new connection in TLS: our server certificate, the client's
 * required and checked against the CA (server_accept_certificate()).
 * The hello is read once the handshake is done. */
static void conn_start_tls(VsmPeerConn *c, GSocketConnection *connection) {
        VsmPeerServer *s = c->server;
        g_autoptr(GError) error = NULL;
        GIOStream *tls;

        tls = g_tls_server_connection_new(G_IO_STREAM(connection), s->tls_cert, &error);
        if (!tls) {
                conn_reject(c, &s->rejected_tls, NULL, "cannot set up TLS: %s", error->message);
                return;
        }
        g_object_set(tls, "authentication-mode", G_TLS_AUTHENTICATION_REQUIRED, NULL);
        c->hs_conn = g_object_ref(connection);
        c->hs_tls = tls;
        c->hs_cancel = g_cancellable_new();
        peer_tls_handshake(tls, s->tls_ca, G_CALLBACK(server_accept_certificate), c->hs_cancel, conn_on_handshake,
                           conn_ref(c));
}

/**
 * vsm_peer_source_key: what VSM_PEER_CONNS_PER_ADDR counts by: the IPv4
 * address (also when it comes IPv4-mapped on an IPv6 socket), or the /64
 * of an IPv6 one (a host usually has a whole /64 to pick from).
 */
char *vsm_peer_source_key(GInetAddress *addr) {
        const guint8 *b;

        if (g_inet_address_get_family(addr) != G_SOCKET_FAMILY_IPV6)
                return g_inet_address_to_string(addr);
        b = g_inet_address_to_bytes(addr);
        if (memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
                return g_strdup_printf("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
        return g_strdup_printf("%x:%x:%x:%x::/64", (b[0] << 8) | b[1], (b[2] << 8) | b[3], (b[4] << 8) | b[5],
                               (b[6] << 8) | b[7]);
}

/* Connections still in the handshake; *ret_oldest the one that has been
 * at it longest (s->conns is newest first). */
static guint count_handshakes(VsmPeerServer *s, VsmPeerConn **ret_oldest) {
        guint n = 0;

        *ret_oldest = NULL;
        for (GList *l = s->conns; l; l = l->next) {
                VsmPeerConn *o = l->data;

                if (o->authorized)
                        continue;
                n++;
                *ret_oldest = o;
        }
        return n;
}

static gboolean server_on_incoming(GSocketService *service, GSocketConnection *connection, GObject *source_object,
                                   gpointer user_data) {
        VsmPeerServer *s = user_data;
        g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(connection, NULL);
        g_autofree char *peer = remote ? address_to_string(remote) : g_strdup("?");
        g_autofree char *addr = NULL;
        guint from_addr;
        VsmPeerConn *c;

        if (remote && G_IS_INET_SOCKET_ADDRESS(remote))
                addr = vsm_peer_source_key(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote)));
        else
                addr = g_strdup("?");
        from_addr = GPOINTER_TO_UINT(g_hash_table_lookup(s->per_addr, addr));
        if (s->n_conns >= VSM_PEER_CONNS_MAX || from_addr >= VSM_PEER_CONNS_PER_ADDR) {
                gboolean total = s->n_conns >= VSM_PEER_CONNS_MAX;
                g_autoptr(GBytes) frame = encode_error(PEER_BUSY);
                gsize size;
                const char *data = g_bytes_get_data(frame, &size);

                if (total)
                        s->over_capacity++;
                else
                        s->rejected_per_address++;
                s->rejected++;
                if (vsm_ratelimit_test(&s->rl))
                        peer_log(G_LOG_LEVEL_WARNING, peer, "-",
                                 "peer %s: rejected: more than %d connections%s (%" G_GUINT64_FORMAT " refused so far)",
                                 peer, total ? VSM_PEER_CONNS_MAX : VSM_PEER_CONNS_PER_ADDR,
                                 total ? "" : " in handshake from this address",
                                 s->over_capacity + s->rejected_per_address);
                /* A TLS client could not read a plain-text refusal. */
                if (!s->tls_cert)
                        (void) g_socket_send_with_blocking(g_socket_connection_get_socket(connection), data, size,
                                                           FALSE, NULL, NULL);
                (void) g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
                return TRUE;
        }
        /* Handshakes in progress are capped below the total: past the
         * cap the oldest one goes (told to retry), not the newcomer, so
         * handshakes stalled from many addresses cannot keep a real
         * destination out. */
        {
                VsmPeerConn *oldest;

                if (count_handshakes(s, &oldest) >= VSM_PEER_HANDSHAKES_MAX && oldest)
                        conn_reject(oldest, &s->evicted, PEER_BUSY, "evicted: %d handshakes in progress",
                                    VSM_PEER_HANDSHAKES_MAX);
        }
        c = g_new0(VsmPeerConn, 1);
        c->ref = 1;
        c->server = s;
        c->peer = g_steal_pointer(&peer);
        g_hash_table_insert(s->per_addr, g_strdup(addr), GUINT_TO_POINTER(from_addr + 1));
        c->addr = g_steal_pointer(&addr);
        /* The whole handshake, TLS included. */
        c->timer = attach_timeout(s->ctx, s->hello_timeout_ms, conn_on_hello_timeout, c);
        s->conns = g_list_prepend(s->conns, c);
        s->n_conns++;
        s->accepted++;
        peer_log(G_LOG_LEVEL_DEBUG, c->peer, "-", "peer %s: connection accepted", c->peer);
        if (s->tls_cert)
                conn_start_tls(c, connection);
        else {
                peer_io_init(&c->io, s->ctx, g_object_ref(connection), NULL, PEER_HELLO_MAX, PEER_UNAUTH_OUTBUF_MAX,
                             conn_on_read, conn_on_writable, c);
                conn_start_hello_timer(c);
        }
        return TRUE;
}

/* "ADDR:PORT" or "[V6ADDR]:PORT", numeric only. */
static gboolean parse_listen(const char *listen, GInetAddress **ret_addr, guint16 *ret_port, GError **error) {
        g_autoptr(GInetAddress) addr = NULL;
        g_autofree char *host = NULL;
        const char *port_str;
        guint64 port;
        gboolean v6;

        if (listen[0] == '[') {
                const char *end = strchr(listen, ']');

                if (!end || end[1] != ':')
                        goto bad;
                host = g_strndup(listen + 1, (gsize) (end - listen - 1));
                port_str = end + 2;
                v6 = TRUE;
        } else {
                const char *colon = strrchr(listen, ':');

                if (!colon)
                        goto bad;
                host = g_strndup(listen, (gsize) (colon - listen));
                port_str = colon + 1;
                v6 = FALSE;
        }
        if (!g_ascii_string_to_unsigned(port_str, 10, 0, 65535, &port, NULL))
                goto bad;
        addr = g_inet_address_new_from_string(host);
        if (!addr || (g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6) != v6)
                goto bad;
        *ret_addr = g_steal_pointer(&addr);
        *ret_port = (guint16) port;
        return TRUE;
bad:
        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                    "peer listen address \"%s\" is not ADDR:PORT or [V6ADDR]:PORT", listen);
        return FALSE;
}

/* Binds s->bind_addr on s->service; FALSE and error on failure. */
static gboolean server_bind(VsmPeerServer *s, GError **error) {
        g_autoptr(GSocketAddress) effective = NULL;

        if (!g_socket_listener_add_address(G_SOCKET_LISTENER(s->service), s->bind_addr, G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, NULL, &effective, error))
                return FALSE;
        s->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
        s->bound = TRUE;
        g_clear_pointer(&s->bind_error, g_free);
        /* A service that is already active picks up the new socket. */
        g_socket_service_start(s->service);
        return TRUE;
}

static gboolean server_on_bind_timer(gpointer data) {
        VsmPeerServer *s = data;
        g_autoptr(GError) local = NULL;

        clear_source(&s->bind_timer);
        if (server_bind(s, &local)) {
                vsm_log(G_LOG_LEVEL_MESSAGE, "peer listener on %s bound after %u retries", s->listen,
                        s->bind_retries + 1);
                return G_SOURCE_REMOVE;
        }
        s->bind_retries++;
        if (g_strcmp0(s->bind_error, local->message) != 0)
                vsm_log(G_LOG_LEVEL_WARNING, "peer listener on %s still not bound: %s", s->listen, local->message);
        g_free(s->bind_error);
        s->bind_error = g_strdup(local->message);
        s->bind_delay_ms = MIN(s->bind_delay_ms * 2, VSM_PEER_BIND_RETRY_MAX_MS);
        s->bind_timer = attach_timeout(s->ctx, s->bind_delay_ms, server_on_bind_timer, s);
        return G_SOURCE_REMOVE;
}

static VsmPeerServer *server_new(const char *listen, const VsmPeerSecurity *sec, const VsmPeerServerCallbacks *cb,
                                 gpointer user_data, gboolean retry, GError **error) {
        const VsmPeerTls *tls = sec ? sec->tls : NULL;
        g_autoptr(GInetAddress) addr = NULL;
        g_autoptr(GError) local = NULL;
        VsmPeerServer *s;
        guint16 port;

        g_return_val_if_fail(listen != NULL, NULL);
        g_return_val_if_fail(cb != NULL, NULL);
        g_return_val_if_fail(!tls || (tls->server_cert && tls->ca), NULL);

        if (!parse_listen(listen, &addr, &port, error))
                return NULL;
        s = g_new0(VsmPeerServer, 1);
        s->listen = g_strdup(listen);
        s->ctx = g_main_context_ref_thread_default();
        s->service = g_socket_service_new();
        g_socket_listener_set_backlog(G_SOCKET_LISTENER(s->service), PEER_LISTEN_BACKLOG);
        s->bind_addr = g_inet_socket_address_new(addr, port);
        s->cb = *cb;
        s->user_data = user_data;
        s->hello_timeout_ms = VSM_PEER_HELLO_TIMEOUT_MS;
        s->rl = (VsmRateLimit) VSM_RATELIMIT_INIT(G_USEC_PER_SEC, 5);
        s->per_addr = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        if (tls) {
                s->tls_cert = g_object_ref(tls->server_cert);
                s->tls_ca = g_object_ref(tls->ca);
        }
        if (sec && sec->key)
                s->key = g_bytes_ref(sec->key);
        s->insecure = sec && sec->insecure;
        g_signal_connect(s->service, "incoming", G_CALLBACK(server_on_incoming), s);
        if (!server_bind(s, &local)) {
                if (!retry) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "cannot listen on %s: %s", listen,
                                    local->message);
                        return vsm_peer_server_free(s);
                }
                s->bind_error = g_strdup(local->message);
                s->bind_delay_ms = VSM_PEER_BIND_RETRY_MIN_MS;
                s->bind_timer = attach_timeout(s->ctx, s->bind_delay_ms, server_on_bind_timer, s);
                vsm_log(G_LOG_LEVEL_WARNING,
                        "peer listener on %s not bound: %s; running without it, retrying every %u to %u s",
                        listen, local->message, VSM_PEER_BIND_RETRY_MIN_MS / 1000, VSM_PEER_BIND_RETRY_MAX_MS / 1000);
        }
        return s;
}

/**
 * vsm_peer_server_new: listens on "ADDR:PORT" / "[V6ADDR]:PORT" (port 0
 * picks one) in the thread-default main context.
 */
VsmPeerServer *vsm_peer_server_new(const char *listen, const VsmPeerSecurity *sec, const VsmPeerServerCallbacks *cb,
                                   gpointer user_data, GError **error) {
        return server_new(listen, sec, cb, user_data, FALSE, error);
}

/**
 * vsm_peer_server_new_retrying: as vsm_peer_server_new(), but a failed
 * bind is not an error: the server starts down, logs a warning and binds
 * again from the main loop, VSM_PEER_BIND_RETRY_MIN_MS doubling to
 * VSM_PEER_BIND_RETRY_MAX_MS, until it succeeds.  A listen address that
 * does not parse is still an error.
 */
VsmPeerServer *vsm_peer_server_new_retrying(const char *listen, const VsmPeerSecurity *sec,
                                            const VsmPeerServerCallbacks *cb, gpointer user_data, GError **error) {
        return server_new(listen, sec, cb, user_data, TRUE, error);
}

/**
 * vsm_peer_server_is_bound: FALSE while a retrying server waits to bind.
 */
gboolean vsm_peer_server_is_bound(const VsmPeerServer *s) {
        return s->bound;
}

/**
 * vsm_peer_server_free: stops listening and closes every connection, with
 * no callback.  Accepts NULL.
 */
VsmPeerServer *vsm_peer_server_free(VsmPeerServer *s) {
        if (!s)
                return NULL;
        clear_source(&s->bind_timer);
        g_signal_handlers_disconnect_by_data(s->service, s);
        g_socket_service_stop(s->service);
        g_socket_listener_close(G_SOCKET_LISTENER(s->service));
        g_clear_object(&s->service);
        while (s->conns)
                conn_close_full(s->conns->data, FALSE);
        g_hash_table_unref(s->per_addr);
        g_clear_pointer(&s->key, g_bytes_unref);
        g_clear_object(&s->tls_cert);
        g_clear_object(&s->tls_ca);
        g_main_context_unref(s->ctx);
        g_clear_object(&s->bind_addr);
        g_free(s->bind_error);
        g_free(s->listen);
        g_free(s);
        return NULL;
}

/**
 * vsm_peer_server_set_hello_timeout_ms: how long a new connection may take
 * for the whole handshake (default VSM_PEER_HELLO_TIMEOUT_MS); applies to
 * connections accepted afterwards.
 */
void vsm_peer_server_set_hello_timeout_ms(VsmPeerServer *s, guint ms) {
        g_return_if_fail(s != NULL);
        g_return_if_fail(ms > 0);
        s->hello_timeout_ms = ms;
}

/**
 * vsm_peer_server_set_key: the key of the handshakes that start from now
 * (a handshake under way when it changes fails, and its destination finds
 * the source unauthenticated, as with any key mismatch).
 */
void vsm_peer_server_set_key(VsmPeerServer *s, GBytes *key) {
        g_return_if_fail(s != NULL);
        g_clear_pointer(&s->key, g_bytes_unref);
        if (key)
                s->key = g_bytes_ref(key);
}

/**
 * vsm_peer_server_get_port: the port actually bound.
 */
guint16 vsm_peer_server_get_port(const VsmPeerServer *s) {
        return s->port;
}

/**
 * vsm_peer_conn_send: queues m to one accepted connection and writes what
 * the socket takes now.  A connection with more than
 * VSM_PEER_DOMAIN_OUTBUF_MAX octets unsent is closed.
 */
void vsm_peer_conn_send(VsmPeerConn *c, const VsmPeerMessage *m) {
        g_autoptr(GBytes) frame = NULL;
        g_autoptr(GError) error = NULL;
        VsmPeerServer *s;

        g_return_if_fail(c != NULL);
        g_return_if_fail(m != NULL);

        s = c->server;
        if (!s || c->closing)
                return;
        frame = vsm_peer_message_encode(m);
        if (!frame) {
                peer_log(G_LOG_LEVEL_WARNING, c->peer, conn_domain(c),
                         "peer %s: cannot send a %s message: larger than %u octets", c->peer,
                         vsm_peer_message_type_to_string(m->type), VSM_PEER_MESSAGE_MAX);
                return;
        }
        if (!peer_io_send(&c->io, frame, &error)) {
                if (g_error_matches(error, VSM_ERROR, VSM_ERROR_BUSY)) {
                        s->dropped_slow++;
                        if (vsm_ratelimit_test(&s->rl))
                                peer_log(G_LOG_LEVEL_WARNING, c->peer, conn_domain(c),
                                         "peer %s reads too slowly (%s), dropping it", c->peer, error->message);
                } else {
                        peer_log(G_LOG_LEVEL_INFO, c->peer, conn_domain(c), "peer %s: %s", c->peer, error->message);
                }
                conn_close(c);
                return;
        }
        s->messages_sent++;
}

/**
 * vsm_peer_server_send: queues m to every accepted connection for
 * m->domain; returns to how many.
 */
guint vsm_peer_server_send(VsmPeerServer *s, const VsmPeerMessage *m) {
        guint n = 0;

        g_return_val_if_fail(s != NULL, 0);
        g_return_val_if_fail(m != NULL, 0);

        for (GList *l = s->conns, *next; l; l = next) {
                VsmPeerConn *c = l->data;

                next = l->next;        /* vsm_peer_conn_send() may close c */
                if (!c->authorized || c->closing || !g_str_equal(c->domain, m->domain))
                        continue;
                vsm_peer_conn_send(c, m);
                n++;
        }
        return n;
}

/**
 * vsm_peer_server_queued: the most octets any accepted connection for
 * domain has queued unsent (0 if none).
 */
gsize vsm_peer_server_queued(const VsmPeerServer *s, const char *domain) {
        gsize most = 0;

        g_return_val_if_fail(s != NULL, 0);
        for (GList *l = s->conns; l; l = l->next) {
                const VsmPeerConn *c = l->data;

                if (c->authorized && !c->closing && g_str_equal(c->domain, domain))
                        most = MAX(most, c->io.out_len);
        }
        return most;
}

/**
 * vsm_peer_server_caps: what the accepted connection for domain announced
 * in its hello (VSM_PEER_CAP_*); 0 when none is accepted.
 */
guint vsm_peer_server_caps(const VsmPeerServer *s, const char *domain) {
        g_return_val_if_fail(s != NULL, 0);
        for (GList *l = s->conns; l; l = l->next) {
                const VsmPeerConn *c = l->data;

                if (c->authorized && !c->closing && g_str_equal(c->domain, domain))
                        return c->caps;
        }
        return 0;
}

/**
 * vsm_peer_server_drop_domain: closes every connection for domain, after
 * what is queued has been written (at most PEER_LINGER_MS).
 */
void vsm_peer_server_drop_domain(VsmPeerServer *s, const char *domain) {
        g_autofree char *lower = NULL;

        g_return_if_fail(s != NULL);
        g_return_if_fail(domain != NULL);

        lower = g_ascii_strdown(domain, -1);
        for (GList *l = s->conns, *next; l; l = next) {
                VsmPeerConn *c = l->data;

                next = l->next;
                if (!c->authorized || c->closing || !g_str_equal(c->domain, lower))
                        continue;
                c->closing = TRUE;
                if (c->io.out_len == 0) {
                        conn_close(c);
                        continue;
                }
                clear_source(&c->timer);
                c->timer = attach_timeout(s->ctx, PEER_LINGER_MS, conn_on_linger_timeout, c);
        }
}

/**
 * vsm_peer_server_to_json: the listener's state and counters.
 */
JsonNode *vsm_peer_server_to_json(const VsmPeerServer *s) {
        g_autoptr(JsonBuilder) b = json_builder_new_immutable();
        guint n_authorized = 0;

        for (GList *l = s->conns; l; l = l->next)
                n_authorized += ((VsmPeerConn *) l->data)->authorized;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "listen");
        json_builder_add_string_value(b, s->listen);
        json_builder_set_member_name(b, "port");
        json_builder_add_int_value(b, s->port);
        json_builder_set_member_name(b, "listener");
        json_builder_add_string_value(b, s->bound ? "up" : "down");
        json_builder_set_member_name(b, "bind_error");
        if (s->bind_error)
                json_builder_add_string_value(b, s->bind_error);
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "bind_retries");
        json_builder_add_int_value(b, s->bind_retries);
        json_builder_set_member_name(b, "tls");
        json_builder_add_boolean_value(b, s->tls_cert != NULL);
        json_builder_set_member_name(b, "key");
        json_builder_add_boolean_value(b, s->key != NULL);
        json_builder_set_member_name(b, "insecure");
        json_builder_add_boolean_value(b, s->insecure);
        json_builder_set_member_name(b, "connections");
        json_builder_add_int_value(b, s->n_conns);
        json_builder_set_member_name(b, "handshakes");
        json_builder_add_int_value(b, s->n_conns - n_authorized);
        json_builder_set_member_name(b, "authorized_connections");
        json_builder_add_int_value(b, n_authorized);
#define COUNTER(name) \
        json_builder_set_member_name(b, #name); \
        json_builder_add_int_value(b, (gint64) s->name)
        COUNTER(accepted);
        COUNTER(authorized);
        COUNTER(rejected);
        COUNTER(rejected_auth);
        COUNTER(rejected_v1);
        COUNTER(rejected_per_address);
        COUNTER(rejected_protocol);
        COUNTER(rejected_tls);
        COUNTER(rejected_mac);
        COUNTER(hello_timeouts);
        COUNTER(evicted);
        COUNTER(over_capacity);
        COUNTER(dropped_slow);
        COUNTER(messages_sent);
#undef COUNTER
        json_builder_set_member_name(b, "log_suppressed");
        json_builder_add_int_value(b, (gint64) s->rl.suppressed);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

/* ---- destination side ---- */

struct VsmPeerClient {
        gint ref;
        gboolean freed;                /* vsm_peer_client_free() was called: no more callbacks */
        gboolean done;                 /* closed() was reported */
        gboolean connected;
        gboolean timed_out;
        gboolean got_switchover;
        gboolean authenticated;        /* the source's proof was right; auth sent */
        gboolean auth_failed;          /* ...or wrong */
        char *origin;
        char domain[37];
        char token[VSM_NETSTATE_TOKEN_LEN + 1];
        char nonce_d[VSM_PEER_NONCE_LEN + 1];
        GBytes *key;                   /* NULL: keyed by the token */
        gint64 hs_deadline_usec;       /* monotonic end of the handshake (TLS, challenge) */
        GSocketAddress *addr;          /* the origin */
        guint retries;                 /* after PEER_BUSY refusals */
        gboolean no_caps;              /* the origin refused a hello with "caps" (older): sent without */
        gint64 retry_until_usec;
        VsmPeerClientCallbacks cb;
        gpointer user_data;
        GMainContext *ctx;
        GSocketClient *sc;
        GCancellable *cancellable;
        GTlsCertificate *tls_cert;     /* NULL: plain TCP */
        GTlsDatabase *tls_ca;
        GSocketConnection *hs_conn;    /* during the TLS handshake: the TCP connection... */
        GIOStream *hs_tls;             /* ...and the TLS one over it (owned by the handshake's callback) */
        GSource *timer;                /* connect or handshake timeout, or the deferred failure */
        GError *deferred;              /* reported from the timer */
        PeerIo io;
        guint64 messages_received;
        guint64 rejected;              /* protocol errors from the source */
        guint64 rejected_mac;          /* ...of which frames with a wrong MAC */
        guint64 refused;               /* error messages from the source */
};

/* One for every client (their number is bounded by the migrations). */
static VsmRateLimit client_rl = VSM_RATELIMIT_INIT(G_USEC_PER_SEC, 5);

static VsmPeerClient *client_ref(VsmPeerClient *c) {
        g_atomic_int_inc(&c->ref);
        return c;
}

static void client_unref(VsmPeerClient *c) {
        if (!c || !g_atomic_int_dec_and_test(&c->ref))
                return;
        peer_io_clear(&c->io);
        close_streams(&c->hs_conn, &c->hs_tls);
        clear_source(&c->timer);
        g_clear_error(&c->deferred);
        g_clear_object(&c->sc);
        g_clear_object(&c->tls_cert);
        g_clear_object(&c->tls_ca);
        g_clear_object(&c->cancellable);
        g_clear_pointer(&c->key, g_bytes_unref);
        g_clear_object(&c->addr);
        explicit_bzero(c->token, sizeof(c->token));
        g_main_context_unref(c->ctx);
        g_free(c->origin);
        g_free(c);
}

/* Tears down and reports closed() once; the callee may free c. */
static void client_fail(VsmPeerClient *c, const GError *error) {
        if (c->done || c->freed)
                return;
        c->done = TRUE;
        c->connected = FALSE;
        clear_source(&c->timer);
        g_cancellable_cancel(c->cancellable);
        peer_io_clear(&c->io);
        if (error)
                peer_log(G_LOG_LEVEL_INFO, c->origin, c->domain, "peer %s: %s", c->origin, error->message);
        if (c->cb.closed) {
                client_ref(c);
                c->cb.closed(c, error, c->user_data);
                client_unref(c);
        }
}

G_GNUC_PRINTF(2, 3)
static void client_reject(VsmPeerClient *c, const char *fmt, ...) {
        g_autoptr(GError) error = NULL;
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        c->rejected++;
        if (vsm_ratelimit_test(&client_rl))
                peer_log(G_LOG_LEVEL_WARNING, c->origin, c->domain, "peer %s: rejected: %s (%" G_GUINT64_FORMAT
                         " log lines suppressed)", c->origin, msg, client_rl.suppressed);
        error = g_error_new(VSM_ERROR, VSM_ERROR_INVALID, "protocol error from %s: %s", c->origin, msg);
        client_fail(c, error);
}

static gboolean client_on_deferred(gpointer user_data) {
        VsmPeerClient *c = user_data;
        g_autoptr(GError) error = g_steal_pointer(&c->deferred);

        client_fail(c, error);
        return G_SOURCE_REMOVE;
}

static gboolean client_on_connect_timeout(gpointer user_data) {
        VsmPeerClient *c = user_data;

        c->timed_out = TRUE;
        g_cancellable_cancel(c->cancellable);
        return G_SOURCE_REMOVE;
}

static gboolean client_on_writable(GObject *stream, gpointer user_data) {
        VsmPeerClient *c = user_data;
        g_autoptr(GError) error = NULL;

        if (!peer_io_flush(&c->io, &error)) {
                client_fail(c, error);
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;      /* peer_io_flush() removed the source when done */
}

static void client_connect(VsmPeerClient *c);

static gboolean client_on_retry(gpointer user_data) {
        VsmPeerClient *c = user_data;

        clear_source(&c->timer);
        client_connect(c);
        return G_SOURCE_REMOVE;
}

/* Closes this attempt and connects again after a short random pause (the
 * jitter spreads the retries of many destinations; it is no secret, so
 * g_random is fine here). */
static void client_retry(VsmPeerClient *c) {
        guint delay_ms = (guint) g_random_int_range(20, 100 + 20 * (gint32) MIN(c->retries, 20u));

        peer_io_clear(&c->io);
        c->connected = FALSE;
        c->authenticated = FALSE;
        c->retries++;
        clear_source(&c->timer);
        peer_log(G_LOG_LEVEL_DEBUG, c->origin, c->domain, "peer %s: busy, retrying in %u ms", c->origin, delay_ms);
        c->timer = attach_timeout(c->ctx, delay_ms, client_on_retry, c);
}

/* Step 3: check the source's proof, then prove ourselves.  FALSE when c
 * is closed. */
static gboolean client_on_challenge(VsmPeerClient *c, const VsmPeerMessage *m) {
        VsmPeerMessage auth = { .type = VSM_PEER_MSG_AUTH };
        char want[VSM_PEER_PROOF_LEN + 1];
        g_autoptr(GBytes) frame = NULL;
        g_autoptr(GError) error = NULL;
        gboolean ok;

        vsm_peer_proof(c->key, TRUE, c->domain, c->token, c->nonce_d, m->nonce, want);
        ok = vsm_peer_secret_equal(want, m->proof, VSM_PEER_PROOF_LEN);
        explicit_bzero(want, sizeof(want));
        if (!ok) {
                g_autoptr(GError) e = NULL;

                c->auth_failed = TRUE;
                c->rejected++;
                if (vsm_ratelimit_test(&client_rl))
                        peer_log(G_LOG_LEVEL_WARNING, c->origin, c->domain,
                                 "peer %s: the origin failed authentication for domain %s (%" G_GUINT64_FORMAT
                                 " log lines suppressed)", c->origin, c->domain, client_rl.suppressed);
                e = g_error_new(VSM_ERROR, VSM_ERROR_INVALID, "%s: the origin failed authentication (wrong key, or "
                                "not the origin of this migration)", c->origin);
                client_fail(c, e);
                return FALSE;
        }
        vsm_peer_proof(c->key, FALSE, c->domain, c->token, c->nonce_d, m->nonce, auth.proof);
        frame = vsm_peer_message_encode(&auth);
        c->authenticated = TRUE;
        clear_source(&c->timer);
        peer_log(G_LOG_LEVEL_INFO, c->origin, c->domain, "peer %s: the origin proved itself for domain %s", c->origin,
                 c->domain);
        if (!peer_io_send(&c->io, frame, &error)) {
                g_autoptr(GError) e = g_error_new(VSM_ERROR, VSM_ERROR_IO, "connection to %s: %s", c->origin,
                                                  error->message);

                client_fail(c, e);
                return FALSE;
        }
        /* The proof alone does not say who writes the frames after it (a
         * relay can forward a genuine challenge): every frame after the
         * challenge, both ways, must carry the MAC of the session key,
         * which only the holder of the key (or token) can derive. */
        peer_io_set_session_key(&c->io, FALSE, c->key, c->domain, c->token, c->nonce_d, m->nonce);
        peer_io_seal_out(&c->io);
        c->io.frame_max = VSM_PEER_MESSAGE_MAX;
        peer_io_seal_in(&c->io);
        return TRUE;
}

/* One decoded message from the source; FALSE when c is closed or freed. */
static gboolean client_on_message(VsmPeerClient *c, VsmPeerMessage *msg) {
        g_autoptr(VsmPeerMessage) m = msg;

        switch (m->type) {
        case VSM_PEER_MSG_CHALLENGE:
                if (c->authenticated) {
                        client_reject(c, "a second challenge from the source");
                        return FALSE;
                }
                return client_on_challenge(c, m);
        case VSM_PEER_MSG_STATE:
        case VSM_PEER_MSG_SWITCHOVER:
        case VSM_PEER_MSG_CONNTRACK:
                /* Nothing counts before the source proved itself. */
                if (!c->authenticated) {
                        client_reject(c, "%s message before the challenge", vsm_peer_message_type_to_string(m->type));
                        return FALSE;
                }
                if (!g_str_equal(m->domain, c->domain)) {
                        client_reject(c, "%s message for another domain (%s)", vsm_peer_message_type_to_string(m->type),
                                      m->domain);
                        return FALSE;
                }
                if (m->type == VSM_PEER_MSG_SWITCHOVER)
                        c->got_switchover = TRUE;
                c->messages_received++;
                if (c->cb.message) {
                        gboolean alive;

                        client_ref(c);
                        c->cb.message(c, g_steal_pointer(&m), c->user_data);
                        alive = !c->freed && !c->done;
                        client_unref(c);
                        return alive;
                }
                return TRUE;
        case VSM_PEER_MSG_ERROR: {
                g_autoptr(GError) error = NULL;

                /* The source is busy with handshakes from our address (many
                 * migrations at once), or evicted ours for a newer one
                 * (then the refusal comes sealed, after the challenge;
                 * the token is not used): try again shortly. */
                if (c->messages_received == 0 && g_str_equal(m->reason, PEER_BUSY) &&
                    g_get_monotonic_time() < c->retry_until_usec) {
                        client_retry(c);
                        return FALSE;
                }
                /* A source older than the hello's "caps" refuses the
                 * unknown member before the challenge: once more without
                 * (it never sends what we would have announced). */
                if (!c->authenticated && !c->no_caps && c->messages_received == 0 &&
                    g_str_equal(m->reason, PEER_BAD_MESSAGE)) {
                        c->no_caps = TRUE;
                        peer_log(G_LOG_LEVEL_INFO, c->origin, c->domain, "peer %s: the origin refused our hello's "
                                 "\"caps\" (an older vsimigd): connecting again without", c->origin);
                        client_retry(c);
                        return FALSE;
                }
                c->refused++;
                if (vsm_ratelimit_test(&client_rl))
                        peer_log(G_LOG_LEVEL_WARNING, c->origin, c->domain, "peer %s refused us: %s", c->origin,
                                 m->reason);
                error = g_error_new(VSM_ERROR, VSM_ERROR_IO, "refused by %s: %s", c->origin, m->reason);
                client_fail(c, error);
                return FALSE;
        }
        default:
                /* The source never gets a hello from us to echo. */
                client_reject(c, "unexpected %s message from the source", vsm_peer_message_type_to_string(m->type));
                return FALSE;
        }
}

static gboolean client_on_read(gpointer user_data, gssize n, const GError *error) {
        VsmPeerClient *c = user_data;

        if (n < 0) {
                g_autoptr(GError) e = g_error_new(VSM_ERROR, VSM_ERROR_IO, "connection to %s: %s", c->origin,
                                                  error->message);

                client_fail(c, e);
                return G_SOURCE_REMOVE;
        }
        client_ref(c);
        for (;;) {
                g_autoptr(GError) local = NULL;
                VsmPeerMessage *m = NULL;
                int r = peer_io_next(&c->io, &m, &local);

                if (r == 0)
                        break;
                if (r < 0) {
                        if (r == -EPERM)
                                c->rejected_mac++;
                        client_reject(c, "%s", local->message);
                        goto out;
                }
                if (!client_on_message(c, m))
                        goto out;
        }
        if (n == 0) {
                g_autoptr(GError) e = NULL;

                if (c->io.in->len > 0) {
                        client_reject(c, "truncated message (%u octets) at end of stream", c->io.in->len);
                        goto out;
                }
                if (!c->got_switchover)
                        e = g_error_new(VSM_ERROR, VSM_ERROR_IO, "%s closed the connection before the switchover",
                                        c->origin);
                client_fail(c, e);
        }
out:
        client_unref(c);
        return G_SOURCE_CONTINUE;      /* a failed client's source is already destroyed */
}

static gboolean client_on_handshake_timeout(gpointer user_data) {
        VsmPeerClient *c = user_data;
        g_autoptr(GError) e = g_error_new(VSM_ERROR, VSM_ERROR_IO, "no challenge from %s within %d ms", c->origin,
                                          VSM_PEER_HELLO_TIMEOUT_MS);

        client_fail(c, e);
        return G_SOURCE_REMOVE;
}

/* The connection is up (and through TLS): queue the hello.  The
 * challenge must come before the handshake deadline (set at connect). */
static void client_start(VsmPeerClient *c, GSocketConnection *conn, GIOStream *tls) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) hello = NULL;
        VsmPeerMessage m = { .type = VSM_PEER_MSG_HELLO, .version = VSM_PEER_PROTOCOL_VERSION };

        /* Until the source proved itself it sends a challenge or an
         * error: a hello-sized frame, not VSM_PEER_MESSAGE_MAX. */
        peer_io_init(&c->io, c->ctx, conn, tls, PEER_HELLO_MAX, PEER_UNAUTH_OUTBUF_MAX, client_on_read,
                     client_on_writable, c);
        c->connected = TRUE;
        peer_log(G_LOG_LEVEL_INFO, c->origin, c->domain, "peer %s: connected%s for domain %s", c->origin,
                 tls ? " (TLS)" : "", c->domain);
        if (!c->timer) {
                gint64 left = (c->hs_deadline_usec - g_get_monotonic_time()) / 1000;

                c->timer = attach_timeout(c->ctx, (guint) CLAMP(left, 1, VSM_PEER_HELLO_TIMEOUT_MS),
                                          client_on_handshake_timeout, c);
        }
        g_strlcpy(m.domain, c->domain, sizeof(m.domain));
        m.caps = c->no_caps ? 0 : VSM_PEER_CAPS_SUPPORTED;
        vsm_peer_random_hex(c->nonce_d, VSM_PEER_NONCE_LEN / 2);
        g_strlcpy(m.nonce, c->nonce_d, sizeof(m.nonce));
        hello = vsm_peer_message_encode(&m);
        if (!peer_io_send(&c->io, hello, &error)) {
                g_autoptr(GError) e = g_error_new(VSM_ERROR, VSM_ERROR_IO, "connection to %s: %s", c->origin,
                                                  error->message);

                client_fail(c, e);
        }
}

static void client_on_handshake(GObject *source, GAsyncResult *res, gpointer user_data) {
        VsmPeerClient *c = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocketConnection) conn = g_steal_pointer(&c->hs_conn);
        g_autoptr(GIOStream) tls = g_steal_pointer(&c->hs_tls);
        g_autoptr(GError) e = NULL;
        gboolean ok;

        ok = g_tls_connection_handshake_finish(G_TLS_CONNECTION(source), res, &error);
        if (c->freed || c->done) {
                close_streams(&conn, &tls);
                client_unref(c);
                return;
        }
        clear_source(&c->timer);
        if (ok) {
                client_start(c, g_steal_pointer(&conn), g_steal_pointer(&tls));
                client_unref(c);
                return;
        }
        close_streams(&conn, &tls);
        if (c->timed_out) {
                e = g_error_new(VSM_ERROR, VSM_ERROR_IO, "TLS handshake with %s timed out after %d ms", c->origin,
                                VSM_PEER_HELLO_TIMEOUT_MS);
        } else {
                c->rejected++;
                if (vsm_ratelimit_test(&client_rl))
                        peer_log(G_LOG_LEVEL_WARNING, c->origin, c->domain, "peer %s: TLS handshake failed: %s (%"
                                 G_GUINT64_FORMAT " log lines suppressed)", c->origin, error->message,
                                 client_rl.suppressed);
                e = g_error_new(VSM_ERROR, VSM_ERROR_IO, "TLS handshake with %s failed: %s", c->origin,
                                error->message);
        }
        client_fail(c, e);
        client_unref(c);
}

/* Wraps the connection in TLS: our client certificate; the source's must
 * verify against the CA (client_accept_certificate() waives only the
 * identity check). */
static void client_start_tls(VsmPeerClient *c, GSocketConnection *conn) {
        g_autoptr(GError) error = NULL;
        GIOStream *tls;

        tls = g_tls_client_connection_new(G_IO_STREAM(conn), NULL, &error);
        if (!tls) {
                g_autoptr(GError) e = g_error_new(VSM_ERROR, VSM_ERROR_IO, "cannot set up TLS to %s: %s", c->origin,
                                                  error->message);

                (void) g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
                g_object_unref(conn);
                client_fail(c, e);
                return;
        }
        g_tls_connection_set_certificate(G_TLS_CONNECTION(tls), c->tls_cert);
        c->hs_conn = conn;
        c->hs_tls = tls;
        c->timed_out = FALSE;
        c->timer = attach_timeout(c->ctx, VSM_PEER_HELLO_TIMEOUT_MS, client_on_connect_timeout, c);
        peer_tls_handshake(tls, c->tls_ca, G_CALLBACK(client_accept_certificate), c->cancellable, client_on_handshake,
                           client_ref(c));
}

static void client_on_connected(GObject *source, GAsyncResult *res, gpointer user_data) {
        VsmPeerClient *c = user_data;
        g_autoptr(GError) error = NULL;
        GSocketConnection *conn;

        conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(source), res, &error);
        if (c->freed || c->done) {
                if (conn) {
                        (void) g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
                        g_object_unref(conn);
                }
                client_unref(c);
                return;
        }
        clear_source(&c->timer);
        if (!conn) {
                g_autoptr(GError) e = NULL;

                if (c->timed_out)
                        e = g_error_new(VSM_ERROR, VSM_ERROR_IO, "connecting to %s timed out after %d ms", c->origin,
                                        VSM_PEER_CONNECT_TIMEOUT_MS);
                else
                        e = g_error_new(VSM_ERROR, VSM_ERROR_IO, "cannot connect to %s: %s", c->origin,
                                        error->message);
                client_fail(c, e);
                client_unref(c);
                return;
        }
        c->hs_deadline_usec = g_get_monotonic_time() + (gint64) VSM_PEER_HELLO_TIMEOUT_MS * 1000;
        if (c->tls_cert)
                client_start_tls(c, conn);
        else
                client_start(c, conn, NULL);
        client_unref(c);
}

/**
 * vsm_peer_client_new: connects to the source's listener at origin
 * ("ADDR:PORT", "[V6ADDR]:PORT" or "HOST:PORT") for domain, in the
 * thread-default main context, does the TLS handshake when tls is not
 * NULL, and sends the hello with token.  Bad
 * arguments and every failure are reported through closed(), never from
 * inside this call.
 */
VsmPeerClient *vsm_peer_client_new(const char *origin, const char *domain, const char *token,
                                   const VsmPeerSecurity *sec, const VsmPeerClientCallbacks *cb, gpointer user_data) {
        const VsmPeerTls *tls = sec ? sec->tls : NULL;
        g_autoptr(GInetAddress) ip = NULL;
        guint16 port = 0;
        VsmPeerClient *c;

        g_return_val_if_fail(origin != NULL, NULL);
        g_return_val_if_fail(domain != NULL, NULL);
        g_return_val_if_fail(token != NULL, NULL);
        g_return_val_if_fail(cb != NULL, NULL);
        g_return_val_if_fail(!tls || (tls->client_cert && tls->ca), NULL);

        c = g_new0(VsmPeerClient, 1);
        c->ref = 1;
        c->origin = g_strdup(origin);
        c->cb = *cb;
        c->user_data = user_data;
        c->ctx = g_main_context_ref_thread_default();
        c->cancellable = g_cancellable_new();
        if (tls) {
                c->tls_cert = g_object_ref(tls->client_cert);
                c->tls_ca = g_object_ref(tls->ca);
        }
        if (sec && sec->key)
                c->key = g_bytes_ref(sec->key);
        if (g_uuid_string_is_valid(domain)) {
                g_autofree char *lower = g_ascii_strdown(domain, -1);

                g_strlcpy(c->domain, lower, sizeof(c->domain));
        }
        if (is_hex_token(token))
                g_strlcpy(c->token, token, sizeof(c->token));

        if (!c->domain[0])
                c->deferred = g_error_new(VSM_ERROR, VSM_ERROR_INVALID, "domain is not a UUID");
        else if (!c->token[0])
                c->deferred = g_error_new(VSM_ERROR, VSM_ERROR_INVALID, "token is not %d lower-case hex characters",
                                          VSM_NETSTATE_TOKEN_LEN);
        else if (strlen(origin) > VSM_NETSTATE_ORIGIN_MAX || !parse_listen(origin, &ip, &port, NULL) || port == 0)
                /* A host name would need a resolver answer, which anyone
                 * on the path can forge: IP literals only. */
                c->deferred = g_error_new(VSM_ERROR, VSM_ERROR_INVALID,
                                          "origin \"%s\" is not IP:PORT or [IPv6]:PORT (host names are refused)",
                                          origin);
        if (c->deferred) {
                c->timer = attach_timeout(c->ctx, 0, client_on_deferred, c);
                return c;
        }

        c->addr = g_inet_socket_address_new(ip, port);
        c->sc = g_socket_client_new();
        c->retry_until_usec = g_get_monotonic_time() + (gint64) PEER_RETRY_FOR_MS * 1000;
        client_connect(c);
        return c;
}

static void client_connect(VsmPeerClient *c) {
        c->timed_out = FALSE;
        c->timer = attach_timeout(c->ctx, VSM_PEER_CONNECT_TIMEOUT_MS, client_on_connect_timeout, c);
        g_socket_client_connect_async(c->sc, G_SOCKET_CONNECTABLE(c->addr), c->cancellable, client_on_connected,
                                      client_ref(c));
}

/**
 * vsm_peer_client_free: cancels the connection attempt or closes the
 * connection; no callback after this.  Accepts NULL, and may be called
 * from the client's own callbacks.
 */
VsmPeerClient *vsm_peer_client_free(VsmPeerClient *c) {
        if (!c)
                return NULL;
        c->freed = TRUE;
        c->connected = FALSE;
        clear_source(&c->timer);
        g_cancellable_cancel(c->cancellable);
        peer_io_clear(&c->io);
        client_unref(c);       /* a pending connect holds its own reference */
        return NULL;
}

/**
 * vsm_peer_client_is_connected: TRUE once the TCP connection is up (and
 * through the TLS handshake) and the hello queued, until it closes.
 */
gboolean vsm_peer_client_is_connected(const VsmPeerClient *c) {
        return c->connected && !c->done && !c->freed;
}

/**
 * vsm_peer_client_is_authenticated: TRUE once the source's proof checked.
 */
gboolean vsm_peer_client_is_authenticated(const VsmPeerClient *c) {
        return c->authenticated;
}

/**
 * vsm_peer_client_auth_failed: TRUE when the source's proof was wrong.
 */
gboolean vsm_peer_client_auth_failed(const VsmPeerClient *c) {
        return c->auth_failed;
}

/**
 * vsm_peer_client_to_json: the client's state and counters.
 */
JsonNode *vsm_peer_client_to_json(const VsmPeerClient *c) {
        g_autoptr(JsonBuilder) b = json_builder_new_immutable();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "origin");
        json_builder_add_string_value(b, c->origin);
        json_builder_set_member_name(b, "domain");
        json_builder_add_string_value(b, c->domain);
        json_builder_set_member_name(b, "tls");
        json_builder_add_boolean_value(b, c->tls_cert != NULL);
        json_builder_set_member_name(b, "connected");
        json_builder_add_boolean_value(b, vsm_peer_client_is_connected(c));
        json_builder_set_member_name(b, "authenticated");
        json_builder_add_boolean_value(b, c->authenticated);
        json_builder_set_member_name(b, "switchover_received");
        json_builder_add_boolean_value(b, c->got_switchover);
        json_builder_set_member_name(b, "messages_received");
        json_builder_add_int_value(b, (gint64) c->messages_received);
        json_builder_set_member_name(b, "rejected");
        json_builder_add_int_value(b, (gint64) c->rejected);
        json_builder_set_member_name(b, "refused");
        json_builder_add_int_value(b, (gint64) c->refused);
        json_builder_set_member_name(b, "rejected_mac");
        json_builder_add_int_value(b, (gint64) c->rejected_mac);
        json_builder_set_member_name(b, "auth_failed");
        json_builder_add_boolean_value(b, c->auth_failed);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

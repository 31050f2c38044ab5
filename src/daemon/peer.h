/* The peer channel between the vsimigd of the source and of the
 * destination of a migration (DESIGN.md section 2, "Two channels"; the
 * trust model is in section 7 and vsimigd(8)).
 *
 * TCP (GSocketService / GSocketClient), every message a 4-octet big-endian
 * length then that many octets of UTF-8 JSON (json-glib), at most
 * VSM_PEER_MESSAGE_MAX.  Protocol version 2 authenticates both ends with
 * HMAC-SHA-256 (GLib's GHmac) keyed by K, the cluster secret of
 * [peer] key-file (without one, under TLS or with insecure = true, K is
 * the migration's token):
 *
 *  1. D->S {"type":"hello","version":2,"domain":"<uuid>","nonce":Nd,"caps":["conntrack"]}
 *     No token on the wire.  "caps" (optional) names what this
 *     destination takes beyond the state and switchover: "conntrack"
 *     messages; unknown names are ignored.  A source older than "caps"
 *     refuses such a hello with {"type":"error","reason":"bad message"}
 *     before any challenge: the destination then connects once more
 *     without it (and gets no conntrack messages).  The source sends
 *     "conntrack" messages only to a destination that announced it (an
 *     older destination refuses the type and closes the channel).
 *  2. S->D {"type":"challenge","nonce":Ns,"proof":Ps}
 *     Ps = HMAC(K, "vsimig-peer-v2 source" NUL domain NUL token NUL Nd NUL Ns)
 *     (every field fixed length: the lower-case UUID, 32 hex characters of
 *     token, 32 of each nonce).  For an unknown domain, or one that does
 *     not run here ready to migrate away, S answers the same way with a
 *     random proof: nothing can be probed.
 *  3. D checks Ps (it has K, and the token from the domain's <metadata>).
 *     Wrong: D closes ("the origin failed authentication").  Right:
 *     D->S {"type":"auth","proof":Pd}, Pd = HMAC(K, "vsimig-peer-v2
 *     destination" NUL the same fields).
 *  4. S checks Pd.  A bad proof, an unknown domain, a token already used
 *     and a domain that already has its authenticated connection all get
 *     the same {"type":"error","reason":"not authorized"} and a close.
 *  5. The proofs say who holds the key, not who writes the frames after
 *     them: a host that answers at the origin and reaches the real
 *     source could relay the hello, the genuine challenge and the auth,
 *     then write its own messages.  So both sides derive the session key
 *       SK = HMAC(K', "vsimig-peer-v2 session" NUL domain NUL token NUL Nd NUL Ns NUL)
 *     (K' the key that keyed the proofs) and every frame after the
 *     handshake is sealed: S's frames from the one after the challenge
 *     on (the refusal of step 4 included), D's from the one after its
 *     auth on.  A sealed frame is
 *       4-octet big-endian length (MAC + body) | MAC (32 octets) | body
 *       MAC = HMAC-SHA-256(SK, label NUL | 64-bit big-endian seq | body)
 *     label "vsimig-peer-v2 source frame" or "vsimig-peer-v2 destination
 *     frame", seq counting each direction's sealed frames from 0.  The
 *     MAC is checked, in constant time, before the body is decoded; a
 *     wrong one (forged, replayed, reordered, or after a dropped frame)
 *     closes the connection and is counted (rejected_mac) and logged; the
 *     destination's daemon notes the close in the domain's timeline.
 * Nonces are 128 bit from getrandom(); proofs are compared in constant
 * time.  The whole handshake (TLS included) must end within
 * VSM_PEER_HELLO_TIMEOUT_MS, on both sides.  A token is used once: the
 * first authenticated connection consumes it (the daemon mints a new one
 * when that connection ends without the migration completing).
 *
 * Then the source streams
 *   {"type":"state","domain":"<uuid>","generation":N,"nics":[<nic>...]}
 * (full state of the NICs that changed; the first one has every NIC) and
 * at SUSPENDED_MIGRATED
 *   {"type":"switchover","domain":"<uuid>","generation":N,"nics":[...],"suspended_at":<real µs>}
 * with the final state: the NICs changed since they were last streamed
 * (the destination has the rest).  <nic> is vsm_nic_state_to_json().
 * The VM's connection-tracking entries (vsimigd(8) CONNTRACK) go as
 *   {"type":"conntrack","domain":"<uuid>","phase":"prestage"|"delta",
 *    "seq":N,"last":true|false,"entries":"<base64>"}
 * entries being the binary records of proto/ct-record.h back to back, at
 * most VSM_CT_BATCH_MAX per message: the pre-stage right after the first
 * state, the delta (entries created, changed or destroyed since) just
 * before the switchover, on the same connection.
 * The destination takes state and switchover only after step 3 and only
 * for its domain.  A refusal is {"type":"error","reason":"..."} and the
 * connection is closed.  Oversized, truncated or garbage messages,
 * unknown types and messages out of order are rejected, logged (rate
 * limited) and closed; nothing else is disturbed.  Each side counts them.
 *
 * Version 1 ({"type":"hello","version":1,"domain":...,"token":"<hex32>"},
 * the token in clear, no proof of the source, nothing sealed) is accepted
 * only by a listener with insecure = true and neither a key nor TLS
 * (also after a key arrives by vsm_peer_server_set_key()); others answer
 * it with an error.
 *
 * Limits on the listener: VSM_PEER_CONNS_MAX connections in all,
 * VSM_PEER_CONNS_PER_ADDR not yet authenticated ones per source address
 * (per /64 for IPv6: one host has them all), VSM_PEER_HANDSHAKES_MAX not
 * yet authenticated ones in all (past it a new connection evicts the
 * oldest handshake, which is told "too many connections" and retries:
 * stalled handshakes from many addresses cannot keep a destination out),
 * one authenticated connection per domain, VSM_PEER_HELLO_ONLY_TIMEOUT_MS
 * for the hello and VSM_PEER_HELLO_TIMEOUT_MS for the whole handshake, a
 * few KiB of output for a connection that is not authenticated and
 * VSM_PEER_DOMAIN_OUTBUF_MAX for the one of a domain.
 *
 * Optional TLS (VsmPeerTls, from libvirt's PKI files): the listener
 * presents its server certificate and requires a client certificate that
 * verifies against the CA; the connector presents its client certificate
 * and verifies the listener's against the same CA, without the host name
 * check (the origin is an address from the snapshot, libvirt's
 * certificates usually name hosts).  The TLS handshake comes before the
 * hello, inside the handshake timeout; a failed handshake is a rejection.
 * The exchange above runs inside TLS too, keyed by the key file when
 * there is one, else by the token (it binds the channel to this
 * migration; the certificates authenticate the hosts).  The framing is
 * self-delimiting, so a missing TLS close_notify is not an error:
 * truncation is caught by the framing and by "closed before the
 * switchover". */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "daemon/netstate.h"
#include "proto/ct-record.h"

#define VSM_PEER_MESSAGE_MAX (8u * 1024u * 1024u)   /* octets of a body (a sealed frame adds the MAC) */
#define VSM_PEER_HELLO_TIMEOUT_MS 5000
#define VSM_PEER_CONNECT_TIMEOUT_MS 3000
#define VSM_PEER_CONNS_MAX 256
#define VSM_PEER_CONNS_PER_ADDR 8      /* not yet authenticated, per source address (IPv6: per /64) */
#define VSM_PEER_HANDSHAKES_MAX 64     /* not yet authenticated, in all: the oldest is evicted */
#define VSM_PEER_HELLO_ONLY_TIMEOUT_MS 1000 /* from accept (or the TLS handshake's end) to the hello */
#define VSM_PEER_DOMAIN_OUTBUF_MAX (2 * (gsize) VSM_PEER_MESSAGE_MAX)
#define VSM_PEER_PROTOCOL_VERSION 2
#define VSM_PEER_NONCE_LEN 32          /* hex characters (128 bit) */
#define VSM_PEER_PROOF_LEN 64          /* hex characters (HMAC-SHA-256) */
#define VSM_PEER_KEY_MIN 32            /* octets of a key file */
#define VSM_PEER_KEY_MAX 4096
#define VSM_PEER_MAC_LEN 32           /* raw octets of a frame's HMAC-SHA-256 */
#define VSM_PEER_NOT_AUTHORIZED "not authorized"

typedef enum VsmPeerMessageType {
        VSM_PEER_MSG_HELLO,
        VSM_PEER_MSG_STATE,
        VSM_PEER_MSG_SWITCHOVER,
        VSM_PEER_MSG_ERROR,
        VSM_PEER_MSG_CHALLENGE,
        VSM_PEER_MSG_AUTH,
        VSM_PEER_MSG_CONNTRACK,
        _VSM_PEER_MSG_MAX,
} VsmPeerMessageType;

/* What a destination announces in its hello's "caps". */
#define VSM_PEER_CAP_CONNTRACK 0x1u    /* takes "conntrack" messages */
#define VSM_PEER_CAPS_SUPPORTED VSM_PEER_CAP_CONNTRACK

/* A "conntrack" message's phase (issue 11): the pre-stage streamed at
 * migrate begin, or the delta sent just before SWITCHOVER. */
typedef enum VsmPeerCtPhase {
        VSM_PEER_CT_PRESTAGE,
        VSM_PEER_CT_DELTA,
        _VSM_PEER_CT_PHASE_MAX,
} VsmPeerCtPhase;

/* A parsed, validated message. */
typedef struct VsmPeerMessage {
        VsmPeerMessageType type;
        char domain[37];               /* lower-case UUID; "" for error, challenge, auth */
        guint version;                 /* hello: 1 or 2 (0 encodes as VSM_PEER_PROTOCOL_VERSION) */
        char token[VSM_NETSTATE_TOKEN_LEN + 1]; /* hello version 1 only */
        char nonce[VSM_PEER_NONCE_LEN + 1];     /* hello version 2, challenge */
        char proof[VSM_PEER_PROOF_LEN + 1];     /* challenge, auth */
        guint64 generation;            /* state/switchover */
        gint64 suspended_at_real_usec; /* switchover; 0 if absent */
        GPtrArray *nics;               /* VsmNicState, owned; state/switchover (never NULL there) */
        char *reason;                  /* error */
        guint caps;                    /* hello (version 2): VSM_PEER_CAP_* announced */
        /* conntrack */
        VsmPeerCtPhase ct_phase;
        guint64 ct_seq;                /* batches of one migration, counted from 0 */
        gboolean ct_last;              /* the last batch of its phase */
        GArray *ct_entries;            /* VsmCtEntry, owned; at most VSM_CT_BATCH_MAX (never NULL there) */
} VsmPeerMessage;

VsmPeerMessage *vsm_peer_message_free(VsmPeerMessage *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmPeerMessage, vsm_peer_message_free)

/* Pure codec, for tests and fuzzing.  Encode: the framed octets (length
 * prefix included).  Decode: one message body (without the prefix). */
GBytes *vsm_peer_message_encode(const VsmPeerMessage *m);
gboolean vsm_peer_message_decode(const uint8_t *body, gsize len, VsmPeerMessage **ret, GError **error);

/* ---- authentication ---- */

/* 2 * octets lower-case hex characters from getrandom(), NUL-terminated
 * (out has room for 2 * octets + 1).  Aborts if the kernel has no
 * randomness to give: a weak secret is worse than no daemon. */
void vsm_peer_random_hex(char *out, gsize octets);
/* The proof of step 2 (source TRUE) or 3 (source FALSE), in hex.  key:
 * the cluster secret, or NULL to key by the token. */
void vsm_peer_proof(GBytes *key, gboolean source, const char *domain, const char *token, const char *nonce_d,
                    const char *nonce_s, char out[VSM_PEER_PROOF_LEN + 1]);
/* The session key of step 5: HMAC(key, "vsimig-peer-v2 session" NUL
 * domain NUL token NUL nonce_d NUL nonce_s NUL), raw; key NULL: keyed by
 * the token, as the proofs. */
void vsm_peer_session_key(GBytes *key, const char *domain, const char *token, const char *nonce_d,
                          const char *nonce_s, guint8 out[VSM_PEER_MAC_LEN]);
/* The MAC of one frame body: HMAC(sk, label NUL seq body), label
 * "vsimig-peer-v2 source frame" (from_source) or "vsimig-peer-v2
 * destination frame", seq 8 octets big-endian. */
void vsm_peer_frame_mac(const guint8 sk[VSM_PEER_MAC_LEN], gboolean from_source, guint64 seq, const guint8 *body,
                        gsize len, guint8 out[VSM_PEER_MAC_LEN]);
/* frame (as vsm_peer_message_encode() makes it) sealed for sending after
 * the handshake: length (of MAC and body), MAC, body. */
GBytes *vsm_peer_frame_seal(const guint8 sk[VSM_PEER_MAC_LEN], gboolean from_source, guint64 seq, GBytes *frame);
/* Checks a sealed frame's payload (what follows the length prefix): TRUE
 * and the body when its MAC is right (compared in constant time). */
gboolean vsm_peer_frame_open(const guint8 sk[VSM_PEER_MAC_LEN], gboolean from_source, guint64 seq,
                             const guint8 *payload, gsize len, const guint8 **ret_body, gsize *ret_len);
/* Constant-time comparison of two NUL-terminated strings of length len. */
gboolean vsm_peer_secret_equal(const char *a, const char *b, gsize len);
/* Reads a key file: a regular file owned by root (or by the daemon's own
 * user), no group or other permission bits, VSM_PEER_KEY_MIN to
 * VSM_PEER_KEY_MAX octets.  VSM_ERROR_CONFIG naming the file and the fix
 * otherwise. */
GBytes *vsm_peer_key_load(const char *path, GError **error);
/* (vsimigctl peer-key new PATH writes one.) */

/* ---- TLS ---- */

/* The certificates of one host, shared by its listener and connectors
 * (each takes its own references). */
typedef struct VsmPeerTls {
        GTlsCertificate *server_cert;  /* presented by the listener (source) */
        GTlsCertificate *client_cert;  /* presented by the connector (destination) */
        GTlsDatabase *ca;              /* verifies the other side's certificate */
} VsmPeerTls;

/* Loads the CA, the server certificate and key and the client
 * certificate and key (PEM; libvirt's /etc/pki layout).  Fails with
 * VSM_ERROR_CONFIG naming the file when one cannot be read or parsed, or
 * when GIO has no TLS backend (glib-networking). */
VsmPeerTls *vsm_peer_tls_new_from_files(const char *ca_file, const char *cert_file, const char *key_file,
                                        const char *client_cert_file, const char *client_key_file, GError **error);
VsmPeerTls *vsm_peer_tls_free(VsmPeerTls *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmPeerTls, vsm_peer_tls_free)

/* ---- source side: the listener ---- */

typedef struct VsmPeerServer VsmPeerServer;
typedef struct VsmPeerConn VsmPeerConn;
typedef struct VsmPeerLookup VsmPeerLookup;

typedef struct VsmPeerServerCallbacks {
        /* A hello arrived: TRUE when domain runs here and may migrate away
         * now; then its current token goes to ret_token.  FALSE: the
         * challenge carries a random proof. */
        gboolean (*lookup)(const char *domain, char ret_token[VSM_NETSTATE_TOKEN_LEN + 1], gpointer user_data);
        /* Instead of lookup when set: the answer may come later.  The
         * callee calls vsm_peer_lookup_answer(q, ...) exactly once, at once
         * or later; q stays valid until then even when the connection was
         * closed or the server freed meanwhile (the answer is dropped).
         * The challenge goes out with the answer, within the handshake's
         * deadline; anything the destination sends before it is refused. */
        void (*lookup_deferred)(VsmPeerLookup *q, const char *domain, gpointer user_data);
        /* The destination proved itself for domain (token is the one it
         * proved): TRUE consumes the token and accepts, FALSE (token used
         * or changed, domain gone) refuses with "not authorized". */
        gboolean (*authorize)(const char *domain, const char *token, gpointer user_data);
        /* After an accepted connection: the daemon sends the first full
         * state with vsm_peer_conn_send(). */
        void (*connected)(VsmPeerConn *c, const char *domain, gpointer user_data);
        /* An accepted connection ended by itself (not by
         * vsm_peer_server_drop_domain() or vsm_peer_server_free()). */
        void (*disconnected)(const char *domain, gpointer user_data);
        /* A destination failed to authenticate for domain, which lookup()
         * knows (for timeline notes; the callee rate-limits them). */
        void (*refused)(const char *domain, const char *why, gpointer user_data);
} VsmPeerServerCallbacks;

/* How the channel is secured, on both sides (borrowed). */
typedef struct VsmPeerSecurity {
        const VsmPeerTls *tls;         /* NULL: plain TCP */
        GBytes *key;                   /* the cluster secret; NULL: keyed by the token */
        gboolean insecure;             /* listener: accept version 1 hellos (ignored with key or tls) */
} VsmPeerSecurity;

/* Listens on "ADDR:PORT" ("[v6]:PORT"; ADDR may be 0.0.0.0 / ::).
 * sec->tls: NULL for plain TCP, else every connection must complete a
 * TLS handshake with a client certificate from tls->ca (the server keeps
 * its own references, and of sec->key). */
VsmPeerServer *vsm_peer_server_new(const char *listen, const VsmPeerSecurity *sec, const VsmPeerServerCallbacks *cb,
                                   gpointer user_data, GError **error);
/* As vsm_peer_server_new(), but a failed bind is not an error: the
 * server starts down (a warning is logged) and binds again from the main
 * loop after VSM_PEER_BIND_RETRY_MIN_MS, doubling to
 * VSM_PEER_BIND_RETRY_MAX_MS.  A bad listen address is still an error. */
#define VSM_PEER_BIND_RETRY_MIN_MS 1000u
#define VSM_PEER_BIND_RETRY_MAX_MS 30000u
VsmPeerServer *vsm_peer_server_new_retrying(const char *listen, const VsmPeerSecurity *sec,
                                            const VsmPeerServerCallbacks *cb, gpointer user_data, GError **error);
/* FALSE while a retrying server has not bound yet. */
gboolean vsm_peer_server_is_bound(const VsmPeerServer *s);
VsmPeerServer *vsm_peer_server_free(VsmPeerServer *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmPeerServer, vsm_peer_server_free)
/* How long a new connection may take for the whole handshake (default
 * VSM_PEER_HELLO_TIMEOUT_MS); applies to connections accepted afterwards. */
void vsm_peer_server_set_hello_timeout_ms(VsmPeerServer *s, guint ms);
/* A new cluster key (SIGHUP); NULL: keyed by the token.  Handshakes that
 * start afterwards use it. */
void vsm_peer_server_set_key(VsmPeerServer *s, GBytes *key);
/* The port actually bound (useful with port 0 in tests). */
guint16 vsm_peer_server_get_port(const VsmPeerServer *s);
/* The answer to a deferred lookup: token, the domain's current token
 * (then the challenge carries the real proof), or NULL (as for an unknown
 * domain: a random proof, later "not authorized").  Frees q. */
void vsm_peer_lookup_answer(VsmPeerLookup *q, const char *token);
/* Queue a message to one accepted connection (non-blocking, buffered;
 * a connection whose buffer passes VSM_PEER_DOMAIN_OUTBUF_MAX is closed).
 * A VsmPeerConn is only valid inside connected(); later, use
 * vsm_peer_server_send(). */
void vsm_peer_conn_send(VsmPeerConn *c, const VsmPeerMessage *m);
/* Queue it to every accepted connection for m->domain; returns how many. */
guint vsm_peer_server_send(VsmPeerServer *s, const VsmPeerMessage *m);
/* The most octets a connection for domain has queued unsent (to pace
 * large streams below VSM_PEER_DOMAIN_OUTBUF_MAX). */
gsize vsm_peer_server_queued(const VsmPeerServer *s, const char *domain);
/* What the accepted connection for domain announced (VSM_PEER_CAP_*),
 * 0 when there is none (or an older destination). */
guint vsm_peer_server_caps(const VsmPeerServer *s, const char *domain);
/* Close every connection for this domain (after the migration ended),
 * once what is queued for it has been written (at most 5 s). */
void vsm_peer_server_drop_domain(VsmPeerServer *s, const char *domain);
/* The key a source address is counted under for VSM_PEER_CONNS_PER_ADDR:
 * the address (an IPv4-mapped IPv6 one as IPv4), an IPv6 one's /64. */
char *vsm_peer_source_key(GInetAddress *addr);
/* {"listen","port","tls","key","insecure","connections","handshakes","accepted","authorized","rejected",
 *  "evicted",
 *  "rejected_auth","rejected_v1","rejected_per_address","rejected_protocol","rejected_tls","rejected_mac",
 *  "hello_timeouts","over_capacity","dropped_slow","messages_sent","log_suppressed"} */
JsonNode *vsm_peer_server_to_json(const VsmPeerServer *s);

/* ---- destination side: one client per incoming migration ---- */

typedef struct VsmPeerClient VsmPeerClient;

typedef struct VsmPeerClientCallbacks {
        /* A validated state or switchover message for our domain (others
         * close the connection).  m is owned by the callee. */
        void (*message)(VsmPeerClient *c, VsmPeerMessage *m, gpointer user_data);
        /* The connection failed or ended; error says why (NULL: closed by
         * the peer after a clean end, i.e. after a switchover).  The client
         * may be freed here. */
        void (*closed)(VsmPeerClient *c, const GError *error, gpointer user_data);
} VsmPeerClientCallbacks;

/* Starts connecting at once (async, VSM_PEER_CONNECT_TIMEOUT_MS; then the
 * TLS handshake when sec->tls, the challenge and its check within
 * VSM_PEER_HELLO_TIMEOUT_MS).  origin must be an IP literal with a port.
 * sec is borrowed (the client keeps its own references). */
VsmPeerClient *vsm_peer_client_new(const char *origin, const char *domain, const char *token,
                                   const VsmPeerSecurity *sec, const VsmPeerClientCallbacks *cb, gpointer user_data);
/* Cancels and closes; no callback after this.  Accepts NULL. */
VsmPeerClient *vsm_peer_client_free(VsmPeerClient *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmPeerClient, vsm_peer_client_free)
gboolean vsm_peer_client_is_connected(const VsmPeerClient *c);
/* TRUE once the source proved itself (step 3). */
gboolean vsm_peer_client_is_authenticated(const VsmPeerClient *c);
/* TRUE when the client closed because the origin's proof was wrong. */
gboolean vsm_peer_client_auth_failed(const VsmPeerClient *c);
/* {"origin","domain","tls","connected","authenticated","switchover_received","messages_received",
 *  "rejected","refused","rejected_mac","auth_failed"} */
JsonNode *vsm_peer_client_to_json(const VsmPeerClient *c);

const char *vsm_peer_message_type_to_string(VsmPeerMessageType t);

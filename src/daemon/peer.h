/* The peer channel between the vsimigd of the source and of the
 * destination of a migration (DESIGN.md section 2, "Two channels").
 *
 * TCP (GSocketService / GSocketClient), every message a 4-octet big-endian
 * length then that many octets of UTF-8 JSON (json-glib), at most
 * VSM_PEER_MESSAGE_MAX.  The destination connects to the origin found in
 * the domain's <metadata> snapshot and sends
 *   {"type":"hello","version":1,"domain":"<uuid>","token":"<hex32>"}
 * first (within VSM_PEER_HELLO_TIMEOUT_MS).  The source checks domain and
 * token (callback) and then streams
 *   {"type":"state","domain":"<uuid>","generation":N,"nics":[<nic>...]}
 * (full state of the NICs that changed; the first one has every NIC) and
 * at SUSPENDED_MIGRATED
 *   {"type":"switchover","domain":"<uuid>","generation":N,"nics":[...],"suspended_at":<real µs>}
 * with the final state: the NICs changed since they were last streamed
 * (the destination has the rest).  <nic> is vsm_nic_state_to_json().
 * A refusal is {"type":"error","reason":"..."} and the connection is
 * closed.  Unknown domains, bad tokens, oversized, truncated or garbage
 * messages, unknown types and a missing hello are rejected, logged (rate
 * limited) and closed; nothing else is disturbed.  Each side counts them.
 * Only one message direction carries state: the destination only ever
 * sends hello.
 *
 * Optional TLS (VsmPeerTls, from libvirt's PKI files): the listener
 * presents its server certificate and requires a client certificate that
 * verifies against the CA; the connector presents its client certificate
 * and verifies the listener's against the same CA, without the host name
 * check (the origin is an address from the snapshot, libvirt's
 * certificates usually name hosts).  The TLS handshake comes before the
 * hello, inside the hello timeout; a failed handshake is a rejection.
 * The framing is self-delimiting, so a missing TLS close_notify is not an
 * error: truncation is caught by the framing and by "closed before the
 * switchover". */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "daemon/netstate.h"

#define VSM_PEER_MESSAGE_MAX (8u * 1024u * 1024u)
#define VSM_PEER_HELLO_TIMEOUT_MS 5000
#define VSM_PEER_CONNECT_TIMEOUT_MS 3000
#define VSM_PEER_CONNS_MAX 256
#define VSM_PEER_PROTOCOL_VERSION 1

typedef enum VsmPeerMessageType {
        VSM_PEER_MSG_HELLO,
        VSM_PEER_MSG_STATE,
        VSM_PEER_MSG_SWITCHOVER,
        VSM_PEER_MSG_ERROR,
        _VSM_PEER_MSG_MAX,
} VsmPeerMessageType;

/* A parsed, validated message. */
typedef struct VsmPeerMessage {
        VsmPeerMessageType type;
        char domain[37];               /* lower-case UUID; "" for error */
        char token[VSM_NETSTATE_TOKEN_LEN + 1]; /* hello only */
        guint64 generation;            /* state/switchover */
        gint64 suspended_at_real_usec; /* switchover; 0 if absent */
        GPtrArray *nics;               /* VsmNicState, owned; state/switchover (never NULL there) */
        char *reason;                  /* error */
} VsmPeerMessage;

VsmPeerMessage *vsm_peer_message_free(VsmPeerMessage *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmPeerMessage, vsm_peer_message_free)

/* Pure codec, for tests and fuzzing.  Encode: the framed octets (length
 * prefix included).  Decode: one message body (without the prefix). */
GBytes *vsm_peer_message_encode(const VsmPeerMessage *m);
gboolean vsm_peer_message_decode(const uint8_t *body, gsize len, VsmPeerMessage **ret, GError **error);

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

typedef struct VsmPeerServerCallbacks {
        /* A hello arrived: TRUE to accept (domain known here, token
         * right).  On FALSE *ret_reason (g_malloc'd) is sent and logged. */
        gboolean (*authorize)(const char *domain, const char *token, gpointer user_data, char **ret_reason);
        /* After an accepted hello: the daemon sends the first full state
         * with vsm_peer_conn_send(). */
        void (*connected)(VsmPeerConn *c, const char *domain, gpointer user_data);
} VsmPeerServerCallbacks;

/* Listens on "ADDR:PORT" ("[v6]:PORT"; ADDR may be 0.0.0.0 / ::).  tls:
 * NULL for plain TCP, else every connection must complete a TLS handshake
 * with a client certificate from tls->ca (borrowed; the server keeps its
 * own references). */
VsmPeerServer *vsm_peer_server_new(const char *listen, const VsmPeerTls *tls, const VsmPeerServerCallbacks *cb,
                                   gpointer user_data, GError **error);
VsmPeerServer *vsm_peer_server_free(VsmPeerServer *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmPeerServer, vsm_peer_server_free)
/* How long a new connection may take to send its hello (default
 * VSM_PEER_HELLO_TIMEOUT_MS); applies to connections accepted afterwards. */
void vsm_peer_server_set_hello_timeout_ms(VsmPeerServer *s, guint ms);
/* The port actually bound (useful with port 0 in tests). */
guint16 vsm_peer_server_get_port(const VsmPeerServer *s);
/* Queue a message to one accepted connection (non-blocking, buffered;
 * a connection whose buffer passes 4 * VSM_PEER_MESSAGE_MAX is closed).
 * A VsmPeerConn is only valid inside connected(); later, use
 * vsm_peer_server_send(). */
void vsm_peer_conn_send(VsmPeerConn *c, const VsmPeerMessage *m);
/* Queue it to every accepted connection for m->domain; returns how many. */
guint vsm_peer_server_send(VsmPeerServer *s, const VsmPeerMessage *m);
/* Close every connection for this domain (after the migration ended),
 * once what is queued for it has been written (at most 5 s). */
void vsm_peer_server_drop_domain(VsmPeerServer *s, const char *domain);
/* {"listen","port","tls","connections","accepted","rejected","rejected_tls","messages_sent", ...} */
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

/* Starts connecting at once (async, VSM_PEER_CONNECT_TIMEOUT_MS; with tls,
 * then the handshake within VSM_PEER_HELLO_TIMEOUT_MS).  tls: NULL for
 * plain TCP (borrowed; the client keeps its own references). */
VsmPeerClient *vsm_peer_client_new(const char *origin, const char *domain, const char *token, const VsmPeerTls *tls,
                                   const VsmPeerClientCallbacks *cb, gpointer user_data);
/* Cancels and closes; no callback after this.  Accepts NULL. */
VsmPeerClient *vsm_peer_client_free(VsmPeerClient *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmPeerClient, vsm_peer_client_free)
gboolean vsm_peer_client_is_connected(const VsmPeerClient *c);
/* {"origin","domain","tls","connected","switchover_received","messages_received","rejected","refused"} */
JsonNode *vsm_peer_client_to_json(const VsmPeerClient *c);

const char *vsm_peer_message_type_to_string(VsmPeerMessageType t);

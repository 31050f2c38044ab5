/* A vNIC's learned network state in transit between hosts (DESIGN.md
 * section 4): snapshot of a learner (sm/learn.h), JSON for the peer
 * channel (json-glib), XML for the domain's <metadata> (libxml2).
 *
 * Both parsers feed the same validators, so the JSON and the XML forms
 * accept exactly the same content:
 * - MAC: unicast, not all-zero; NICs unique per domain, at most
 *   VSM_NETSTATE_NICS_MAX;
 * - DHCP (RFC 2131, RFC 2132): client-id state unknown/none/sent, value
 *   (hex, at most 255 octets, maybe empty) only with sent; hostname
 *   (option 12) 1-255 printable ASCII; lease address and server-id IPv4
 *   unicast, lease time 0-2^32-1 s, ACK time >= 0;
 * - groups (RFC 3376, RFC 3810): IPv4 224.0.0.0/4 with igmpv1/v2/v3,
 *   IPv6 ff00::/8 with mldv1/v2; sources unicast of the group's family,
 *   unique, at most VSM_LEARN_GROUP_SOURCES_MAX; INCLUDE has at least one
 *   source; IGMPv1/v2 and MLDv1 reports carry none (the learner records
 *   them as EXCLUDE{}); groups unique, at most VSM_LEARN_GROUPS_MAX;
 * - addresses: unicast (not 0/8, 127/8, 224/4, 240/4; not ::, ::1,
 *   ff00::/8), unique, at most VSM_LEARN_IP4_MAX / VSM_LEARN_IP6_MAX.
 * vsm_nic_state_from_learner() leaves out whatever these rules would
 * refuse, so a snapshot always survives the trip.
 *
 * XML: no DOCTYPE (refused from the SAX internalSubset callback, before any
 * declaration in it is read), no network, no entity substitution, at most
 * VSM_NETSTATE_XML_MAX octets, valid UTF-8 without NUL, and a lexical cap
 * on attributes per tag and namespace declarations (libxml2 2.9 is
 * quadratic in both). */
#include "daemon/netstate.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>

#include "daemon/config.h"
#include "daemon/domain-xml.h"

#define VSM_NETSTATE_XML_MAX (1024 * 1024)
#define VSM_NETSTATE_HOSTNAME_MAX 255
#define VSM_NETSTATE_XML_VERSION "1"
/* libvirt writes one namespace declaration on our element; a copy out of
 * a larger document may carry a few more.  We write at most 4 attributes
 * per tag. */
#define VSM_NETSTATE_XML_NS_DECLS_MAX 16
#define VSM_NETSTATE_XML_TAG_ATTRS_MAX 16
/* How much of an offending value an error message quotes. */
#define VSM_NETSTATE_QUOTE_MAX 64
#define VSM_NETSTATE_ADDR_TEXT_MAX 64

/* libxml2 2.12 made the structured error const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError VsmNetstateXmlError;
#else
typedef xmlError VsmNetstateXmlError;
#endif

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlParserCtxt, xmlFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlBuffer, xmlBufferFree)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlChar, xmlFree)

static void group_clear(VsmStateGroup *g) {
        g_clear_pointer(&g->sources, g_free);
        g->n_sources = 0;
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VsmStateGroup, group_clear)

static void group_clear_void(gpointer p) {
        group_clear(p);
}

static void nic_state_free_void(gpointer p) {
        vsm_nic_state_free(p);
}

/* ---- Errors -------------------------------------------------------------- */

/* An untrusted value, cut short and escaped (ASCII) for an error message. */
static char *quote(const char *s) {
        g_autofree char *cut = NULL;

        if (!s)
                return g_strdup("");
        if (strlen(s) > VSM_NETSTATE_QUOTE_MAX) {
                cut = g_strdup_printf("%.*s...", VSM_NETSTATE_QUOTE_MAX, s);
                s = cut;
        }
        return g_strescape(s, NULL);
}

/* "<ctx>: <message>" as VSM_ERROR_INVALID. */
static gboolean fail(GError **error, const char *ctx, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean fail(GError **error, const char *ctx, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_set_error(error, VSM_ERROR, VSM_ERROR_INVALID, "%s: %s", ctx, msg);
        return FALSE;
}

/* ---- Values ---------------------------------------------------------------- */

static gboolean ip4_is_unicast(const uint8_t a[VSM_IP4_ALEN]) {
        /* not 0/8 (this network), 127/8 (loopback), 224/4 (multicast) or
         * 240/4 (reserved, and the limited broadcast) */
        return a[0] != 0 && a[0] != 127 && a[0] < 224;
}

static gboolean ip6_is_unicast(const uint8_t a[VSM_IP6_ALEN]) {
        static const uint8_t loopback[VSM_IP6_ALEN] = { [15] = 1 };
        static const uint8_t unspecified[VSM_IP6_ALEN];

        return a[0] != 0xff && memcmp(a, unspecified, VSM_IP6_ALEN) != 0 &&
               memcmp(a, loopback, VSM_IP6_ALEN) != 0;
}

static gboolean ip_is_unicast(gboolean is_ip6, const uint8_t *a) {
        return is_ip6 ? ip6_is_unicast(a) : ip4_is_unicast(a);
}

/* Text form of an address (IPv4 in the first 4 octets). */
static const char *ip_format(gboolean is_ip6, const uint8_t *a, char buf[INET6_ADDRSTRLEN]) {
        const char *s = inet_ntop(is_ip6 ? AF_INET6 : AF_INET, a, buf, INET6_ADDRSTRLEN);

        g_assert(s != NULL);
        return s;
}

/* Parse an address.  family: 4, 6, or 0 for either.  The 16 octets of
 * ret are zero-padded for IPv4. */
static gboolean ip_parse(const char *s, int family, gboolean *ret_is_ip6, uint8_t ret[VSM_IP6_ALEN]) {
        uint8_t a[VSM_IP6_ALEN] = { 0 };
        gboolean is_ip6;

        if (!s || strlen(s) >= VSM_NETSTATE_ADDR_TEXT_MAX)
                return FALSE;
        if (family != 6 && inet_pton(AF_INET, s, a) == 1)
                is_ip6 = FALSE;
        else if (family != 4 && inet_pton(AF_INET6, s, a) == 1)
                is_ip6 = TRUE;
        else
                return FALSE;
        *ret_is_ip6 = is_ip6;
        memcpy(ret, a, VSM_IP6_ALEN);
        return TRUE;
}

static gboolean mac_is_acceptable(const uint8_t mac[VSM_ETH_ALEN]) {
        static const uint8_t zero[VSM_ETH_ALEN];

        return !(mac[0] & 0x01) && memcmp(mac, zero, VSM_ETH_ALEN) != 0;
}

static gboolean hostname_is_valid(const char *s, gsize len) {
        if (len < 1 || len > VSM_NETSTATE_HOSTNAME_MAX)
                return FALSE;
        for (gsize i = 0; i < len; i++)
                if (s[i] < 0x20 || s[i] > 0x7e)
                        return FALSE;
        return TRUE;
}

/* "A.B.C.D:PORT" or "[V6]:PORT", port 1-65535: an IP literal, never a
 * host name (a destination would trust whatever resolves it). */
/**
 * vsm_netstate_origin_host_ok: whether host (an IP literal, no brackets)
 * may be a peer origin: a unicast address another host can reach, so not
 * loopback, unspecified, multicast, or IPv6 link- or site-local (scoped:
 * meaningless without an interface, which an origin does not name).
 */
gboolean vsm_netstate_origin_host_ok(const char *host) {
        g_autoptr(GInetAddress) a = NULL;

        if (strchr(host, '%'))
                return FALSE;
        a = g_inet_address_new_from_string(host);
        if (!a)
                return FALSE;
        if (g_inet_address_get_is_loopback(a) || g_inet_address_get_is_any(a) ||
            g_inet_address_get_is_multicast(a))
                return FALSE;
        if (g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV6) {
                const guint8 *b = g_inet_address_to_bytes(a);

                if (g_inet_address_get_is_link_local(a) || g_inet_address_get_is_site_local(a))
                        return FALSE;
                /* IPv4-mapped: the same rules for the IPv4 address. */
                if (memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
                        return b[12] != 127 && b[12] != 0 && (b[12] & 0xf0) != 0xe0 &&
                               !(b[12] == 255 && b[13] == 255 && b[14] == 255 && b[15] == 255);
                return TRUE;
        }
        /* IPv4 limited broadcast */
        return !g_str_equal(host, "255.255.255.255");
}

static gboolean origin_is_valid(const char *s) {
        g_autofree char *host = NULL;
        const char *colon;
        gsize len = strlen(s);
        guint64 port;

        if (len < 1 || len > VSM_NETSTATE_ORIGIN_MAX)
                return FALSE;
        for (gsize i = 0; i < len; i++)
                if (s[i] <= 0x20 || s[i] > 0x7e)
                        return FALSE;
        colon = strrchr(s, ':');
        if (!colon || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL))
                return FALSE;
        if (s[0] == '[') {
                if (colon - s < 3 || colon[-1] != ']')
                        return FALSE;
                host = g_strndup(s + 1, (gsize) (colon - s - 2));
                return strchr(host, ':') && g_hostname_is_ip_address(host) && vsm_netstate_origin_host_ok(host);
        }
        host = g_strndup(s, (gsize) (colon - s));
        return !strchr(host, ':') && g_hostname_is_ip_address(host) && vsm_netstate_origin_host_ok(host);
}

static gboolean token_is_valid(const char *s) {
        if (strlen(s) != VSM_NETSTATE_TOKEN_LEN)
                return FALSE;
        for (const char *p = s; *p; p++)
                if (!g_ascii_isdigit(*p) && !(*p >= 'a' && *p <= 'f'))
                        return FALSE;
        return TRUE;
}

static gboolean version_is_ip6(VsmLearnMcastVersion v) {
        return v == VSM_LEARN_MLD_V1 || v == VSM_LEARN_MLD_V2;
}

/* The versions whose reports carry no sources (EXCLUDE{} only). */
static gboolean version_is_any_source(VsmLearnMcastVersion v) {
        return v == VSM_LEARN_IGMP_V1 || v == VSM_LEARN_IGMP_V2 || v == VSM_LEARN_MLD_V1;
}

static gboolean parse_client_id_state(const char *s, VsmLearnClientId *ret) {
        for (int i = 0; i < _VSM_LEARN_CLIENT_ID_MAX; i++)
                if (g_strcmp0(s, vsm_learn_client_id_to_string(i)) == 0) {
                        *ret = i;
                        return TRUE;
                }
        return FALSE;
}

static gboolean parse_version(const char *s, VsmLearnMcastVersion *ret) {
        for (int i = 0; i < _VSM_LEARN_MCAST_VERSION_MAX; i++)
                if (g_strcmp0(s, vsm_learn_mcast_version_to_string(i)) == 0) {
                        *ret = i;
                        return TRUE;
                }
        return FALSE;
}

static gboolean parse_mode(const char *s, VsmLearnFilterMode *ret) {
        for (int i = 0; i < _VSM_LEARN_FILTER_MODE_MAX; i++)
                if (g_strcmp0(s, vsm_learn_filter_mode_to_string(i)) == 0) {
                        *ret = i;
                        return TRUE;
                }
        return FALSE;
}

/* Canonical decimal (no sign, no leading zero, no blank) up to max. */
static gboolean parse_decimal(const char *s, guint64 max, guint64 *ret) {
        guint64 v = 0;

        if (!s || !*s || (s[0] == '0' && s[1]))
                return FALSE;
        for (const char *p = s; *p; p++) {
                guint d;

                if (!g_ascii_isdigit(*p))
                        return FALSE;
                d = (guint) (*p - '0');
                if (v > (max - d) / 10)
                        return FALSE;
                v = v * 10 + d;
        }
        *ret = v;
        return TRUE;
}

static char *hex_encode(const uint8_t *p, gsize len) {
        static const char digits[] = "0123456789abcdef";
        char *s = g_malloc(len * 2 + 1);

        for (gsize i = 0; i < len; i++) {
                s[2 * i] = digits[p[i] >> 4];
                s[2 * i + 1] = digits[p[i] & 0x0f];
        }
        s[len * 2] = '\0';
        return s;
}

/* Even-length hex (either case), at most max octets. */
static gboolean hex_decode(const char *s, gsize max, uint8_t *ret, gsize *ret_len) {
        gsize n = strlen(s);

        if (n % 2 || n / 2 > max)
                return FALSE;
        for (gsize i = 0; i < n; i++)
                if (!g_ascii_isxdigit(s[i]))
                        return FALSE;
        for (gsize i = 0; i < n / 2; i++)
                ret[i] = (uint8_t) (g_ascii_xdigit_value(s[2 * i]) << 4 | g_ascii_xdigit_value(s[2 * i + 1]));
        *ret_len = n / 2;
        return TRUE;
}

static const uint8_t *addr_at(GArray *a, guint i) {
        return (const uint8_t *) a->data + (gsize) i * g_array_get_element_size(a);
}

/* ---- Life cycle ---------------------------------------------------------- */

/* A state with nothing learned: client-id unknown, no lease, no groups,
 * no addresses. */
VsmNicState *vsm_nic_state_new(const uint8_t mac[VSM_ETH_ALEN]) {
        VsmNicState *s = g_new0(VsmNicState, 1);

        memcpy(s->mac, mac, VSM_ETH_ALEN);
        s->client_id_state = VSM_LEARN_CLIENT_ID_UNKNOWN;
        s->groups = g_array_new(FALSE, TRUE, sizeof(VsmStateGroup));
        g_array_set_clear_func(s->groups, group_clear_void);
        s->ip4 = g_array_new(FALSE, TRUE, VSM_IP4_ALEN);
        s->ip6 = g_array_new(FALSE, TRUE, VSM_IP6_ALEN);
        return s;
}

/* Free; accepts NULL and returns NULL. */
VsmNicState *vsm_nic_state_free(VsmNicState *s) {
        if (!s)
                return NULL;
        g_free(s->hostname);
        g_clear_pointer(&s->groups, g_array_unref);
        g_clear_pointer(&s->ip4, g_array_unref);
        g_clear_pointer(&s->ip6, g_array_unref);
        g_free(s);
        return NULL;
}

static void group_copy(VsmStateGroup *dst, const VsmStateGroup *src) {
        *dst = *src;
        dst->sources = src->n_sources ? g_memdup2(src->sources, (gsize) src->n_sources * VSM_IP6_ALEN) : NULL;
}

/* A deep copy. */
VsmNicState *vsm_nic_state_copy(const VsmNicState *s) {
        VsmNicState *c;

        g_return_val_if_fail(s != NULL, NULL);

        c = vsm_nic_state_new(s->mac);
        c->client_id_state = s->client_id_state;
        c->client_id_len = s->client_id_len;
        memcpy(c->client_id, s->client_id, sizeof(c->client_id));
        c->hostname = g_strdup(s->hostname);
        c->has_lease = s->has_lease;
        memcpy(c->lease_address, s->lease_address, VSM_IP4_ALEN);
        c->has_server_id = s->has_server_id;
        memcpy(c->server_id, s->server_id, VSM_IP4_ALEN);
        c->lease_time = s->lease_time;
        c->lease_ack_real_usec = s->lease_ack_real_usec;
        for (guint i = 0; i < s->groups->len; i++) {
                VsmStateGroup g;

                group_copy(&g, &g_array_index(s->groups, VsmStateGroup, i));
                g_array_append_val(c->groups, g);
        }
        g_array_append_vals(c->ip4, s->ip4->data, s->ip4->len);
        g_array_append_vals(c->ip6, s->ip6->data, s->ip6->len);
        return c;
}

static gboolean group_equal(const VsmStateGroup *a, const VsmStateGroup *b) {
        return a->is_ip6 == b->is_ip6 && memcmp(a->address, b->address, VSM_IP6_ALEN) == 0 &&
               a->version == b->version && a->mode == b->mode && a->n_sources == b->n_sources &&
               (a->n_sources == 0 || memcmp(a->sources, b->sources, (gsize) a->n_sources * VSM_IP6_ALEN) == 0);
}

static gboolean addrs_equal(GArray *a, GArray *b) {
        return a->len == b->len &&
               (a->len == 0 || memcmp(a->data, b->data, (gsize) a->len * g_array_get_element_size(a)) == 0);
}

/* TRUE if both hold the same content in the same order.  Fields that do
 * not apply (client-id bytes unless sent, lease details without a lease,
 * server-id when absent) are not compared. */
gboolean vsm_nic_state_equal(const VsmNicState *a, const VsmNicState *b) {
        if (a == b)
                return TRUE;
        if (!a || !b)
                return FALSE;
        if (memcmp(a->mac, b->mac, VSM_ETH_ALEN) != 0 || a->client_id_state != b->client_id_state)
                return FALSE;
        if (a->client_id_state == VSM_LEARN_CLIENT_ID_SENT &&
            (a->client_id_len != b->client_id_len || memcmp(a->client_id, b->client_id, a->client_id_len) != 0))
                return FALSE;
        if (g_strcmp0(a->hostname, b->hostname) != 0 || a->has_lease != b->has_lease)
                return FALSE;
        if (a->has_lease) {
                if (memcmp(a->lease_address, b->lease_address, VSM_IP4_ALEN) != 0 ||
                    a->has_server_id != b->has_server_id || a->lease_time != b->lease_time ||
                    a->lease_ack_real_usec != b->lease_ack_real_usec)
                        return FALSE;
                if (a->has_server_id && memcmp(a->server_id, b->server_id, VSM_IP4_ALEN) != 0)
                        return FALSE;
        }
        if (a->groups->len != b->groups->len)
                return FALSE;
        for (guint i = 0; i < a->groups->len; i++)
                if (!group_equal(&g_array_index(a->groups, VsmStateGroup, i),
                                 &g_array_index(b->groups, VsmStateGroup, i)))
                        return FALSE;
        return addrs_equal(a->ip4, b->ip4) && addrs_equal(a->ip6, b->ip6);
}

/* An empty domain state: no origin, no token, generation 0, no NICs. */
VsmDomainState *vsm_domain_state_new(const uint8_t uuid[16]) {
        VsmDomainState *s = g_new0(VsmDomainState, 1);

        if (uuid)
                memcpy(s->uuid, uuid, 16);
        s->nics = g_ptr_array_new_with_free_func(nic_state_free_void);
        return s;
}

/* Free with its NICs; accepts NULL and returns NULL. */
VsmDomainState *vsm_domain_state_free(VsmDomainState *s) {
        if (!s)
                return NULL;
        g_free(s->origin);
        g_clear_pointer(&s->nics, g_ptr_array_unref);
        g_free(s);
        return NULL;
}

/* The NIC with this MAC, or NULL. */
VsmNicState *vsm_domain_state_find_nic(const VsmDomainState *s, const uint8_t mac[VSM_ETH_ALEN]) {
        g_return_val_if_fail(s != NULL, NULL);

        for (guint i = 0; i < s->nics->len; i++) {
                VsmNicState *n = g_ptr_array_index(s->nics, i);

                if (memcmp(n->mac, mac, VSM_ETH_ALEN) == 0)
                        return n;
        }
        return NULL;
}

/* ---- From the learner -------------------------------------------------------- */

static void learner_add_group(VsmNicState *s, const VsmLearnGroup *lg) {
        g_auto(VsmStateGroup) g = { 0 };
        gboolean ok;

        if (lg->version >= _VSM_LEARN_MCAST_VERSION_MAX || lg->mode >= _VSM_LEARN_FILTER_MODE_MAX ||
            version_is_ip6(lg->version) != lg->is_ip6)
                return;
        g.is_ip6 = lg->is_ip6;
        memcpy(g.address, lg->address, lg->is_ip6 ? VSM_IP6_ALEN : VSM_IP4_ALEN);
        ok = lg->is_ip6 ? vsm_ip6_is_multicast(g.address) : vsm_ip4_is_multicast(g.address);
        if (!ok)
                return;
        g.version = lg->version;
        g.mode = lg->mode;
        g.sources = g_malloc0_n(MAX(lg->n_sources, 1), VSM_IP6_ALEN);
        for (guint i = 0; i < lg->n_sources && i < VSM_LEARN_GROUP_SOURCES_MAX; i++) {
                uint8_t a[VSM_IP6_ALEN] = { 0 };

                memcpy(a, lg->sources[i], lg->is_ip6 ? VSM_IP6_ALEN : VSM_IP4_ALEN);
                if (ip_is_unicast(g.is_ip6, a))
                        memcpy(g.sources[g.n_sources++], a, VSM_IP6_ALEN);
        }
        if (g.n_sources == 0)
                g_clear_pointer(&g.sources, g_free);
        if (g.mode == VSM_LEARN_FILTER_INCLUDE && g.n_sources == 0)
                return;
        if (version_is_any_source(g.version) && (g.mode != VSM_LEARN_FILTER_EXCLUDE || g.n_sources))
                return;
        g_array_append_val(s->groups, g);
        memset(&g, 0, sizeof(g));
}

/* A snapshot of a learner's content; see netstate.h.  What the parsers
 * would refuse (a hostname that is not printable ASCII, a non-unicast
 * address) is left out. */
VsmNicState *vsm_nic_state_from_learner(const VsmLearner *l, gint64 mono_now_usec, gint64 real_now_usec) {
        VsmNicState *s;
        VsmLearnClient client;
        VsmLearnLease lease;

        g_return_val_if_fail(l != NULL, NULL);

        s = vsm_nic_state_new(vsm_learner_get_mac(l));
        if (vsm_learner_get_client(l, &client) == 0 && client.client_id_state < _VSM_LEARN_CLIENT_ID_MAX) {
                s->client_id_state = client.client_id_state;
                if (client.client_id_state == VSM_LEARN_CLIENT_ID_SENT) {
                        s->client_id_len = client.client_id_len;
                        memcpy(s->client_id, client.client_id, client.client_id_len);
                }
                if (client.has_hostname && hostname_is_valid(client.hostname, client.hostname_len) &&
                    strlen(client.hostname) == client.hostname_len)
                        s->hostname = g_strndup(client.hostname, client.hostname_len);
        }
        if (vsm_learner_get_lease(l, &lease) == 0 && ip4_is_unicast(lease.address)) {
                /* monotonic ACK time -> wall clock, clamped to the past */
                gint64 age = mono_now_usec - (gint64) MIN(lease.ack_time_usec, (uint64_t) G_MAXINT64);

                s->has_lease = TRUE;
                memcpy(s->lease_address, lease.address, VSM_IP4_ALEN);
                s->has_server_id = lease.has_server_id && ip4_is_unicast(lease.server_id);
                if (s->has_server_id)
                        memcpy(s->server_id, lease.server_id, VSM_IP4_ALEN);
                s->lease_time = lease.lease_time;
                s->lease_ack_real_usec = MAX(real_now_usec - MAX(age, 0), 0);
        }
        for (size_t i = 0; i < vsm_learner_n_groups(l) && s->groups->len < VSM_LEARN_GROUPS_MAX; i++)
                learner_add_group(s, vsm_learner_get_group(l, i));
        for (int v6 = 0; v6 <= 1; v6++) {
                GArray *dst = v6 ? s->ip6 : s->ip4;
                guint cap = v6 ? VSM_LEARN_IP6_MAX : VSM_LEARN_IP4_MAX;

                for (size_t i = 0; i < vsm_learner_n_addresses(l, v6) && dst->len < cap; i++) {
                        const VsmLearnAddress *a = vsm_learner_get_address(l, v6, i);

                        if (a && ip_is_unicast(v6, a->address))
                                g_array_append_vals(dst, a->address, 1);
                }
        }
        return s;
}

/* See netstate.h.  A lease is valid up to and including ack + lease time
 * (the learner drops it only after that); an infinite one never expires. */
gboolean vsm_nic_state_can_replay_dhcp(const VsmNicState *s, gint64 real_now_usec) {
        g_return_val_if_fail(s != NULL, FALSE);

        if (s->client_id_state != VSM_LEARN_CLIENT_ID_SENT && s->client_id_state != VSM_LEARN_CLIENT_ID_NONE)
                return FALSE;
        return vsm_nic_state_lease_valid(s, real_now_usec);
}

gboolean vsm_nic_state_lease_valid(const VsmNicState *s, gint64 real_now_usec) {
        gint64 span;

        g_return_val_if_fail(s != NULL, FALSE);

        if (!s->has_lease)
                return FALSE;
        if (s->lease_time == VSM_LEARN_LEASE_INFINITE)
                return TRUE;
        span = (gint64) s->lease_time * G_USEC_PER_SEC;
        if (s->lease_ack_real_usec > G_MAXINT64 - span)
                return TRUE;
        return real_now_usec <= s->lease_ack_real_usec + span;
}

/* ---- The destination's re-check ------------------------------------------ */

static gboolean nic_allows(const VsmNicInfo *ni, gboolean is_ip6, const uint8_t *a) {
        if (!ni || !ni->ip_restricted)
                return TRUE;
        for (guint i = 0; i < ni->n_allowed_ips; i++)
                if (!!ni->allowed_ips[i].is_ip6 == !!is_ip6 &&
                    memcmp(ni->allowed_ips[i].address, a, is_ip6 ? VSM_IP6_ALEN : VSM_IP4_ALEN) == 0)
                        return TRUE;
        return FALSE;
}

static void why_add(GString *why, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void why_add(GString *why, const char *fmt, ...) {
        va_list ap;

        if (!why)
                return;
        if (why->len > 0)
                g_string_append(why, "; ");
        va_start(ap, fmt);
        g_string_append_vprintf(why, fmt, ap);
        va_end(ap);
}

/* Whether a is the lease of a vNIC in siblings other than mac's. */
static gboolean sibling_lease(const GPtrArray *siblings, const uint8_t mac[VSM_ETH_ALEN], const uint8_t *a) {
        for (guint i = 0; siblings && i < siblings->len; i++) {
                const VsmNicState *o = siblings->pdata[i];

                if (memcmp(o->mac, mac, VSM_ETH_ALEN) != 0 && o->has_lease &&
                    memcmp(o->lease_address, a, VSM_IP4_ALEN) == 0)
                        return TRUE;
        }
        return FALSE;
}

static guint recheck_addresses(GArray *tab, gboolean is_ip6, const VsmNicInfo *ni, const uint8_t mac[VSM_ETH_ALEN],
                               const GPtrArray *siblings, GString *why) {
        guint alen = is_ip6 ? VSM_IP6_ALEN : VSM_IP4_ALEN, dropped = 0, i = 0;
        char buf[INET6_ADDRSTRLEN];

        while (tab && i < tab->len) {
                const uint8_t *a = &g_array_index(tab, uint8_t, i * alen);
                const char *reason = !vsm_learn_address_ownable(is_ip6, a)    ? "not a unicast address"
                                     : !nic_allows(ni, is_ip6, a)              ? "not in the nwfilter IP list"
                                     : !is_ip6 && sibling_lease(siblings, mac, a) ? "another vNIC's lease"
                                                                               : NULL;

                if (!reason) {
                        i++;
                        continue;
                }
                why_add(why, "%s %s: %s", is_ip6 ? "ip6" : "ip4",
                        inet_ntop(is_ip6 ? AF_INET6 : AF_INET, a, buf, sizeof(buf)), reason);
                g_array_remove_index(tab, i);
                dropped++;
        }
        return dropped;
}

guint vsm_nic_state_recheck(VsmNicState *s, const VsmNicInfo *ni, const GPtrArray *siblings, GString *why) {
        char buf[INET6_ADDRSTRLEN];
        guint dropped = 0, i = 0;

        g_return_val_if_fail(s != NULL, 0);

        while (s->groups && i < s->groups->len) {
                const VsmStateGroup *g = &g_array_index(s->groups, VsmStateGroup, i);
                gboolean keep = g->is_ip6 ? vsm_ip6_is_multicast(g->address) && !vsm_ip6_is_link_local_group(g->address)
                                          : vsm_ip4_is_multicast(g->address) && !vsm_ip4_is_link_local_group(g->address);

                if (keep) {
                        i++;
                        continue;
                }
                why_add(why, "group %s: link-local or not multicast",
                        inet_ntop(g->is_ip6 ? AF_INET6 : AF_INET, g->address, buf, sizeof(buf)));
                g_array_remove_index(s->groups, i);
                dropped++;
        }
        dropped += recheck_addresses(s->ip4, FALSE, ni, s->mac, siblings, why);
        dropped += recheck_addresses(s->ip6, TRUE, ni, s->mac, siblings, why);
        if (s->has_lease && !nic_allows(ni, FALSE, s->lease_address)) {
                why_add(why, "lease %s: not in the nwfilter IP list",
                        inet_ntop(AF_INET, s->lease_address, buf, sizeof(buf)));
                s->has_lease = FALSE;
                dropped++;
        }
        return dropped;
}

/* ---- Shared validation (both parsers) ------------------------------------ */

static gboolean nic_parse_mac(const char *s, const char *ctx, uint8_t ret[VSM_ETH_ALEN], GError **error) {
        uint8_t mac[VSM_ETH_ALEN];

        if (!s)
                return fail(error, ctx, "missing mac");
        if (strlen(s) != 17 || vsm_mac_parse(s, mac) < 0 || !mac_is_acceptable(mac)) {
                g_autofree char *q = quote(s);

                return fail(error, ctx, "mac '%s' is not a unicast MAC address", q);
        }
        memcpy(ret, mac, VSM_ETH_ALEN);
        return TRUE;
}

/* "nic 52:54:00:12:34:56" */
static char *nic_ctx(const uint8_t mac[VSM_ETH_ALEN]) {
        char buf[18];

        return g_strdup_printf("nic %s", vsm_mac_format(mac, buf));
}

static gboolean nic_set_client_id(VsmNicState *n, const char *ctx, const char *state, const char *value,
                                  GError **error) {
        VsmLearnClientId cid;
        gsize len = 0;

        if (!state)
                return fail(error, ctx, "client-id: missing state");
        if (!parse_client_id_state(state, &cid)) {
                g_autofree char *q = quote(state);

                return fail(error, ctx, "client-id: state '%s' is not unknown, none or sent", q);
        }
        if (cid != VSM_LEARN_CLIENT_ID_SENT) {
                if (value)
                        return fail(error, ctx, "client-id: a value with state %s", state);
        } else {
                if (!value)
                        return fail(error, ctx, "client-id: state sent without a value");
                if (!hex_decode(value, VSM_DHCP_OPTION_MAX, n->client_id, &len)) {
                        g_autofree char *q = quote(value);

                        return fail(error, ctx, "client-id: value '%s' is not hex of at most %d octets", q,
                                    VSM_DHCP_OPTION_MAX);
                }
        }
        n->client_id_state = cid;
        n->client_id_len = (guint8) len;
        return TRUE;
}

static gboolean nic_set_hostname(VsmNicState *n, const char *ctx, const char *s, GError **error) {
        if (!hostname_is_valid(s, strlen(s))) {
                g_autofree char *q = quote(s);

                return fail(error, ctx, "hostname '%s' is not 1-%d printable ASCII characters", q,
                            VSM_NETSTATE_HOSTNAME_MAX);
        }
        g_free(n->hostname);
        n->hostname = g_strdup(s);
        return TRUE;
}

static gboolean parse_ip4_unicast(const char *s, const char *ctx, const char *what, uint8_t ret[VSM_IP4_ALEN],
                                  GError **error) {
        uint8_t a[VSM_IP6_ALEN];
        gboolean is_ip6;

        if (!s)
                return fail(error, ctx, "missing %s", what);
        if (!ip_parse(s, 4, &is_ip6, a) || !ip4_is_unicast(a)) {
                g_autofree char *q = quote(s);

                return fail(error, ctx, "%s '%s' is not a unicast IPv4 address", what, q);
        }
        memcpy(ret, a, VSM_IP4_ALEN);
        return TRUE;
}

static gboolean nic_set_lease(VsmNicState *n, const char *ctx, const char *address, const char *server_id,
                              gint64 lease_time, gint64 ack, GError **error) {
        uint8_t addr[VSM_IP4_ALEN], sid[VSM_IP4_ALEN] = { 0 };

        if (!parse_ip4_unicast(address, ctx, "lease address", addr, error))
                return FALSE;
        if (server_id && !parse_ip4_unicast(server_id, ctx, "lease server-id", sid, error))
                return FALSE;
        if (lease_time < 0 || lease_time > (gint64) G_MAXUINT32)
                return fail(error, ctx, "lease time %" G_GINT64_FORMAT " is not in 0-%u", lease_time, G_MAXUINT32);
        if (ack < 0)
                return fail(error, ctx, "lease ack time %" G_GINT64_FORMAT " is negative", ack);
        n->has_lease = TRUE;
        memcpy(n->lease_address, addr, VSM_IP4_ALEN);
        n->has_server_id = server_id != NULL;
        memcpy(n->server_id, sid, VSM_IP4_ALEN);
        n->lease_time = (guint32) lease_time;
        n->lease_ack_real_usec = ack;
        return TRUE;
}

/* Start a group from its three mandatory fields; *ret_gctx names it for
 * later errors ("nic ..: group 239.1.1.1"). */
static gboolean group_init(VsmStateGroup *g, const char *ctx, guint idx, const char *address, const char *version,
                           const char *mode, char **ret_gctx, GError **error) {
        g_autofree char *gctx = NULL;
        char buf[INET6_ADDRSTRLEN];

        if (!address)
                return fail(error, ctx, "group[%u]: missing address", idx);
        if (!ip_parse(address, 0, &g->is_ip6, g->address) ||
            !(g->is_ip6 ? vsm_ip6_is_multicast(g->address) : vsm_ip4_is_multicast(g->address))) {
                g_autofree char *q = quote(address);

                return fail(error, ctx, "group[%u]: address '%s' is not a multicast address", idx, q);
        }
        gctx = g_strdup_printf("%s: group %s", ctx, ip_format(g->is_ip6, g->address, buf));
        if (!version)
                return fail(error, gctx, "missing version");
        if (!parse_version(version, &g->version)) {
                g_autofree char *q = quote(version);

                return fail(error, gctx, "version '%s' is not igmpv1, igmpv2, igmpv3, mldv1 or mldv2", q);
        }
        if (version_is_ip6(g->version) != g->is_ip6)
                return fail(error, gctx, "version %s does not match %s", version, g->is_ip6 ? "IPv6" : "IPv4");
        if (!mode)
                return fail(error, gctx, "missing mode");
        if (!parse_mode(mode, &g->mode)) {
                g_autofree char *q = quote(mode);

                return fail(error, gctx, "mode '%s' is not include or exclude", q);
        }
        *ret_gctx = g_steal_pointer(&gctx);
        return TRUE;
}

static gboolean group_add_source(VsmStateGroup *g, const char *gctx, const char *s, GError **error) {
        uint8_t a[VSM_IP6_ALEN];
        gboolean is_ip6;

        if (g->n_sources >= VSM_LEARN_GROUP_SOURCES_MAX)
                return fail(error, gctx, "more than %d sources", VSM_LEARN_GROUP_SOURCES_MAX);
        if (!s)
                return fail(error, gctx, "source[%u]: missing address", g->n_sources);
        if (!ip_parse(s, g->is_ip6 ? 6 : 4, &is_ip6, a) || !ip_is_unicast(is_ip6, a)) {
                g_autofree char *q = quote(s);

                return fail(error, gctx, "source '%s' is not a unicast %s address", q, g->is_ip6 ? "IPv6" : "IPv4");
        }
        for (guint i = 0; i < g->n_sources; i++)
                if (memcmp(g->sources[i], a, VSM_IP6_ALEN) == 0)
                        return fail(error, gctx, "duplicate source %s", s);
        g->sources = g_realloc_n(g->sources, g->n_sources + 1, VSM_IP6_ALEN);
        memcpy(g->sources[g->n_sources++], a, VSM_IP6_ALEN);
        return TRUE;
}

/* Check a complete group and move it into n->groups (*g is emptied). */
static gboolean nic_add_group(VsmNicState *n, const char *gctx, VsmStateGroup *g, GError **error) {
        if (g->mode == VSM_LEARN_FILTER_INCLUDE && g->n_sources == 0)
                return fail(error, gctx, "mode include needs at least one source");
        if (version_is_any_source(g->version) && (g->mode != VSM_LEARN_FILTER_EXCLUDE || g->n_sources > 0))
                return fail(error, gctx, "version %s carries no sources (mode exclude, none listed)",
                            vsm_learn_mcast_version_to_string(g->version));
        for (guint i = 0; i < n->groups->len; i++) {
                const VsmStateGroup *o = &g_array_index(n->groups, VsmStateGroup, i);

                if (o->is_ip6 == g->is_ip6 && memcmp(o->address, g->address, VSM_IP6_ALEN) == 0)
                        return fail(error, gctx, "duplicate group");
        }
        g_array_append_vals(n->groups, g, 1);
        memset(g, 0, sizeof(*g));
        return TRUE;
}

/* family: 4, 6 or 0 (either, from the text). */
static gboolean nic_add_ip(VsmNicState *n, const char *ctx, const char *s, int family, GError **error) {
        uint8_t a[VSM_IP6_ALEN];
        gboolean is_ip6;
        GArray *dst;
        guint cap;

        if (!s)
                return fail(error, ctx, "ip: missing address");
        if (!ip_parse(s, family, &is_ip6, a) || !ip_is_unicast(is_ip6, a)) {
                g_autofree char *q = quote(s);

                return fail(error, ctx, "ip '%s' is not a unicast %s address", q,
                            family == 4 ? "IPv4" : family == 6 ? "IPv6" : "IP");
        }
        dst = is_ip6 ? n->ip6 : n->ip4;
        cap = is_ip6 ? VSM_LEARN_IP6_MAX : VSM_LEARN_IP4_MAX;
        for (guint i = 0; i < dst->len; i++)
                if (memcmp(addr_at(dst, i), a, g_array_get_element_size(dst)) == 0)
                        return fail(error, ctx, "duplicate ip %s", s);
        if (dst->len >= cap)
                return fail(error, ctx, "more than %u %s addresses", cap, is_ip6 ? "IPv6" : "IPv4");
        g_array_append_vals(dst, a, 1);
        return TRUE;
}

/* ---- JSON ------------------------------------------------------------------ */

static JsonArray *addrs_to_json(GArray *a, gboolean is_ip6) {
        JsonArray *arr = json_array_new();
        char buf[INET6_ADDRSTRLEN];

        for (guint i = 0; i < a->len; i++)
                json_array_add_string_element(arr, ip_format(is_ip6, addr_at(a, i), buf));
        return arr;
}

/* The object described in netstate.h. */
JsonNode *vsm_nic_state_to_json(const VsmNicState *s) {
        JsonObject *o, *cid, *lease;
        JsonArray *groups;
        JsonNode *node;
        char buf[INET6_ADDRSTRLEN], mac[18];

        g_return_val_if_fail(s != NULL, NULL);

        o = json_object_new();
        json_object_set_string_member(o, "mac", vsm_mac_format(s->mac, mac));

        cid = json_object_new();
        json_object_set_string_member(cid, "state", vsm_learn_client_id_to_string(s->client_id_state));
        if (s->client_id_state == VSM_LEARN_CLIENT_ID_SENT) {
                g_autofree char *hex = hex_encode(s->client_id, s->client_id_len);

                json_object_set_string_member(cid, "value", hex);
        }
        json_object_set_object_member(o, "client_id", cid);

        if (s->hostname)
                json_object_set_string_member(o, "hostname", s->hostname);

        if (s->has_lease) {
                lease = json_object_new();
                json_object_set_string_member(lease, "address", ip_format(FALSE, s->lease_address, buf));
                if (s->has_server_id)
                        json_object_set_string_member(lease, "server_id", ip_format(FALSE, s->server_id, buf));
                json_object_set_int_member(lease, "lease_time", s->lease_time);
                json_object_set_int_member(lease, "ack_time", s->lease_ack_real_usec);
                json_object_set_object_member(o, "lease", lease);
        }

        groups = json_array_new();
        for (guint i = 0; i < s->groups->len; i++) {
                const VsmStateGroup *g = &g_array_index(s->groups, VsmStateGroup, i);
                JsonObject *go = json_object_new();
                JsonArray *sources = json_array_new();

                json_object_set_string_member(go, "address", ip_format(g->is_ip6, g->address, buf));
                json_object_set_string_member(go, "version", vsm_learn_mcast_version_to_string(g->version));
                json_object_set_string_member(go, "mode", vsm_learn_filter_mode_to_string(g->mode));
                for (guint k = 0; k < g->n_sources; k++)
                        json_array_add_string_element(sources, ip_format(g->is_ip6, g->sources[k], buf));
                json_object_set_array_member(go, "sources", sources);
                json_array_add_object_element(groups, go);
        }
        json_object_set_array_member(o, "groups", groups);
        json_object_set_array_member(o, "ip4", addrs_to_json(s->ip4, FALSE));
        json_object_set_array_member(o, "ip6", addrs_to_json(s->ip6, TRUE));

        node = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(node, o);
        return node;
}

static gboolean json_check_members(JsonObject *o, const char *const *allowed, const char *ctx, GError **error) {
        g_autoptr(GList) members = json_object_get_members(o);

        for (GList *m = members; m; m = m->next) {
                gboolean known = FALSE;

                for (const char *const *a = allowed; *a && !known; a++)
                        known = g_str_equal(m->data, *a);
                if (!known) {
                        g_autofree char *q = quote(m->data);

                        return fail(error, ctx, "unknown member '%s'", q);
                }
        }
        return TRUE;
}

static const char *json_type_name(JsonNode *n) {
        if (JSON_NODE_HOLDS_OBJECT(n))
                return "an object";
        if (JSON_NODE_HOLDS_ARRAY(n))
                return "an array";
        if (JSON_NODE_HOLDS_NULL(n))
                return "null";
        switch (json_node_get_value_type(n)) {
        case G_TYPE_STRING:
                return "a string";
        case G_TYPE_INT64:
                return "an integer";
        case G_TYPE_DOUBLE:
                return "a fraction";
        case G_TYPE_BOOLEAN:
                return "a boolean";
        default:
                return "a value";
        }
}

static gboolean json_is_string(JsonNode *n) {
        return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
}

/* A string member; *ret is NULL when absent (and not required). */
static gboolean json_get_string(JsonObject *o, const char *name, gboolean required, const char *ctx,
                                const char **ret, GError **error) {
        JsonNode *n = json_object_get_member(o, name);

        if (!n) {
                if (required)
                        return fail(error, ctx, "missing member '%s'", name);
                *ret = NULL;
                return TRUE;
        }
        if (!json_is_string(n))
                return fail(error, ctx, "member '%s' is %s, not a string", name, json_type_name(n));
        *ret = json_node_get_string(n);
        return TRUE;
}

static gboolean json_get_int(JsonObject *o, const char *name, const char *ctx, gint64 *ret, GError **error) {
        JsonNode *n = json_object_get_member(o, name);

        if (!n)
                return fail(error, ctx, "missing member '%s'", name);
        if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
                return fail(error, ctx, "member '%s' is %s, not an integer", name, json_type_name(n));
        *ret = json_node_get_int(n);
        return TRUE;
}

/* An array member; *ret is NULL when absent. */
static gboolean json_get_array(JsonObject *o, const char *name, const char *ctx, guint max, JsonArray **ret,
                               GError **error) {
        JsonNode *n = json_object_get_member(o, name);

        if (!n) {
                *ret = NULL;
                return TRUE;
        }
        if (!JSON_NODE_HOLDS_ARRAY(n))
                return fail(error, ctx, "member '%s' is %s, not an array", name, json_type_name(n));
        if (json_array_get_length(json_node_get_array(n)) > max)
                return fail(error, ctx, "member '%s' has more than %u entries", name, max);
        *ret = json_node_get_array(n);
        return TRUE;
}

/* An object member; *ret is NULL when absent (and not required). */
static gboolean json_get_object(JsonObject *o, const char *name, gboolean required, const char *ctx,
                                JsonObject **ret, GError **error) {
        JsonNode *n = json_object_get_member(o, name);

        if (!n) {
                if (required)
                        return fail(error, ctx, "missing member '%s'", name);
                *ret = NULL;
                return TRUE;
        }
        if (!JSON_NODE_HOLDS_OBJECT(n))
                return fail(error, ctx, "member '%s' is %s, not an object", name, json_type_name(n));
        *ret = json_node_get_object(n);
        return TRUE;
}

/* Element i of an array of strings. */
static gboolean json_array_string(JsonArray *a, guint i, const char *ctx, const char *what, const char **ret,
                                  GError **error) {
        JsonNode *n = json_array_get_element(a, i);

        if (!json_is_string(n))
                return fail(error, ctx, "%s[%u] is %s, not a string", what, i, json_type_name(n));
        *ret = json_node_get_string(n);
        return TRUE;
}

static gboolean json_parse_group(VsmNicState *n, const char *ctx, guint idx, JsonNode *node, GError **error) {
        static const char *const allowed[] = { "address", "version", "mode", "sources", NULL };
        g_auto(VsmStateGroup) g = { 0 };
        g_autofree char *gctx = NULL, *ictx = g_strdup_printf("%s: group[%u]", ctx, idx);
        const char *address, *version, *mode;
        JsonArray *sources;
        JsonObject *o;

        if (!JSON_NODE_HOLDS_OBJECT(node))
                return fail(error, ictx, "is %s, not an object", json_type_name(node));
        o = json_node_get_object(node);
        if (!json_check_members(o, allowed, ictx, error) ||
            !json_get_string(o, "address", FALSE, ictx, &address, error) ||
            !json_get_string(o, "version", FALSE, ictx, &version, error) ||
            !json_get_string(o, "mode", FALSE, ictx, &mode, error))
                return FALSE;
        if (!group_init(&g, ctx, idx, address, version, mode, &gctx, error))
                return FALSE;
        if (!json_get_array(o, "sources", gctx, VSM_LEARN_GROUP_SOURCES_MAX, &sources, error))
                return FALSE;
        for (guint i = 0; sources && i < json_array_get_length(sources); i++) {
                const char *s;

                if (!json_array_string(sources, i, gctx, "sources", &s, error) ||
                    !group_add_source(&g, gctx, s, error))
                        return FALSE;
        }
        return nic_add_group(n, gctx, &g, error);
}

static gboolean json_parse_lease(VsmNicState *n, const char *ctx, JsonObject *o, GError **error) {
        static const char *const allowed[] = { "address", "server_id", "lease_time", "ack_time", NULL };
        g_autofree char *lctx = g_strdup_printf("%s: lease", ctx);
        const char *address, *server_id;
        gint64 lease_time, ack;

        return json_check_members(o, allowed, lctx, error) &&
               json_get_string(o, "address", TRUE, lctx, &address, error) &&
               json_get_string(o, "server_id", FALSE, lctx, &server_id, error) &&
               json_get_int(o, "lease_time", lctx, &lease_time, error) &&
               json_get_int(o, "ack_time", lctx, &ack, error) &&
               nic_set_lease(n, ctx, address, server_id, lease_time, ack, error);
}

/* Parse the object of vsm_nic_state_to_json(); see netstate.h. */
gboolean vsm_nic_state_from_json(JsonNode *node, VsmNicState **ret, GError **error) {
        static const char *const allowed[] = { "mac", "client_id", "hostname", "lease", "groups", "ip4", "ip6", NULL };
        static const char *const cid_allowed[] = { "state", "value", NULL };
        g_autoptr(VsmNicState) n = NULL;
        g_autofree char *ctx = NULL;
        uint8_t mac[VSM_ETH_ALEN];
        const char *mac_s, *state, *value, *hostname;
        JsonObject *o, *cid, *lease;
        JsonArray *groups, *ip4, *ip6;

        g_return_val_if_fail(ret != NULL, FALSE);

        if (!node || !JSON_NODE_HOLDS_OBJECT(node))
                return fail(error, "nic", "is %s, not an object", node ? json_type_name(node) : "missing");
        o = json_node_get_object(node);
        if (!json_get_string(o, "mac", TRUE, "nic", &mac_s, error) || !nic_parse_mac(mac_s, "nic", mac, error))
                return FALSE;
        ctx = nic_ctx(mac);
        n = vsm_nic_state_new(mac);
        if (!json_check_members(o, allowed, ctx, error))
                return FALSE;

        if (!json_get_object(o, "client_id", TRUE, ctx, &cid, error) ||
            !json_check_members(cid, cid_allowed, ctx, error) ||
            !json_get_string(cid, "state", TRUE, ctx, &state, error) ||
            !json_get_string(cid, "value", FALSE, ctx, &value, error) ||
            !nic_set_client_id(n, ctx, state, value, error))
                return FALSE;

        if (!json_get_string(o, "hostname", FALSE, ctx, &hostname, error) ||
            (hostname && !nic_set_hostname(n, ctx, hostname, error)))
                return FALSE;

        if (!json_get_object(o, "lease", FALSE, ctx, &lease, error) ||
            (lease && !json_parse_lease(n, ctx, lease, error)))
                return FALSE;

        if (!json_get_array(o, "groups", ctx, VSM_LEARN_GROUPS_MAX, &groups, error))
                return FALSE;
        for (guint i = 0; groups && i < json_array_get_length(groups); i++)
                if (!json_parse_group(n, ctx, i, json_array_get_element(groups, i), error))
                        return FALSE;

        if (!json_get_array(o, "ip4", ctx, VSM_LEARN_IP4_MAX, &ip4, error) ||
            !json_get_array(o, "ip6", ctx, VSM_LEARN_IP6_MAX, &ip6, error))
                return FALSE;
        for (int v6 = 0; v6 <= 1; v6++) {
                JsonArray *a = v6 ? ip6 : ip4;

                for (guint i = 0; a && i < json_array_get_length(a); i++) {
                        const char *s;

                        if (!json_array_string(a, i, ctx, v6 ? "ip6" : "ip4", &s, error) ||
                            !nic_add_ip(n, ctx, s, v6 ? 6 : 4, error))
                                return FALSE;
                }
        }

        *ret = g_steal_pointer(&n);
        return TRUE;
}

/* {"origin","generation","nics":[...]}; origin is null when unknown. */
JsonNode *vsm_domain_state_to_json_public(const VsmDomainState *s) {
        JsonObject *o;
        JsonArray *nics;
        JsonNode *node;

        g_return_val_if_fail(s != NULL, NULL);

        o = json_object_new();
        if (s->origin)
                json_object_set_string_member(o, "origin", s->origin);
        else
                json_object_set_null_member(o, "origin");
        json_object_set_int_member(o, "generation", (gint64) MIN(s->generation, (guint64) G_MAXINT64));
        nics = json_array_new();
        for (guint i = 0; i < s->nics->len; i++)
                json_array_add_element(nics, vsm_nic_state_to_json(g_ptr_array_index(s->nics, i)));
        json_object_set_array_member(o, "nics", nics);
        node = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(node, o);
        return node;
}

/* ---- XML: writing ---------------------------------------------------------- */

static void xml_set(xmlNode *node, const char *name, const char *value) {
        xmlNewProp(node, (const xmlChar *) name, (const xmlChar *) value);
}

static xmlNode *xml_child(xmlNode *parent, const char *name, const char *text) {
        return xmlNewTextChild(parent, NULL, (const xmlChar *) name, (const xmlChar *) text);
}

static void nic_to_xml(xmlNode *root, const VsmNicState *s) {
        xmlNode *nic, *cid, *lease;
        char buf[INET6_ADDRSTRLEN], mac[18], num[24];
        g_autofree char *hex = NULL;

        nic = xml_child(root, "nic", NULL);
        xml_set(nic, "mac", vsm_mac_format(s->mac, mac));
        if (s->client_id_state == VSM_LEARN_CLIENT_ID_SENT)
                hex = hex_encode(s->client_id, s->client_id_len);
        cid = xml_child(nic, "client-id", hex && *hex ? hex : NULL);
        xml_set(cid, "state", vsm_learn_client_id_to_string(s->client_id_state));
        if (s->hostname)
                xml_child(nic, "hostname", s->hostname);
        if (s->has_lease) {
                lease = xml_child(nic, "lease", NULL);
                xml_set(lease, "address", ip_format(FALSE, s->lease_address, buf));
                if (s->has_server_id)
                        xml_set(lease, "server-id", ip_format(FALSE, s->server_id, buf));
                g_snprintf(num, sizeof(num), "%" G_GUINT32_FORMAT, s->lease_time);
                xml_set(lease, "time", num);
                g_snprintf(num, sizeof(num), "%" G_GINT64_FORMAT, s->lease_ack_real_usec);
                xml_set(lease, "ack", num);
        }
        for (guint i = 0; i < s->groups->len; i++) {
                const VsmStateGroup *g = &g_array_index(s->groups, VsmStateGroup, i);
                xmlNode *gn = xml_child(nic, "group", NULL);

                xml_set(gn, "address", ip_format(g->is_ip6, g->address, buf));
                xml_set(gn, "version", vsm_learn_mcast_version_to_string(g->version));
                xml_set(gn, "mode", vsm_learn_filter_mode_to_string(g->mode));
                for (guint k = 0; k < g->n_sources; k++)
                        xml_set(xml_child(gn, "source", NULL), "address", ip_format(g->is_ip6, g->sources[k], buf));
        }
        for (guint i = 0; i < s->ip4->len; i++)
                xml_set(xml_child(nic, "ip", NULL), "address", ip_format(FALSE, addr_at(s->ip4, i), buf));
        for (guint i = 0; i < s->ip6->len; i++)
                xml_set(xml_child(nic, "ip", NULL), "address", ip_format(TRUE, addr_at(s->ip6, i), buf));
}

/* The <state> element, without a namespace; see netstate.h.  Never NULL. */
char *vsm_domain_state_to_xml(const VsmDomainState *s) {
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(xmlBuffer) buf = NULL;
        xmlNode *root;
        char num[24];

        g_return_val_if_fail(s != NULL, NULL);

        doc = xmlNewDoc((const xmlChar *) "1.0");
        buf = xmlBufferCreate();
        g_assert(doc && buf);
        root = xmlNewDocNode(doc, NULL, (const xmlChar *) "state", NULL);
        g_assert(root);
        xmlDocSetRootElement(doc, root);
        xml_set(root, "version", VSM_NETSTATE_XML_VERSION);
        if (s->origin)
                xml_set(root, "origin", s->origin);
        if (s->token[0])
                xml_set(root, "token", s->token);
        g_snprintf(num, sizeof(num), "%" G_GUINT64_FORMAT, s->generation);
        xml_set(root, "generation", num);
        for (guint i = 0; i < s->nics->len; i++)
                nic_to_xml(root, g_ptr_array_index(s->nics, i));
        if (xmlNodeDump(buf, doc, root, 0, 0) < 0)
                g_error("netstate: cannot serialize the <metadata> element");
        return g_strndup((const char *) xmlBufferContent(buf), (gsize) xmlBufferLength(buf));
}

/* ---- XML: reading ---------------------------------------------------------- */

typedef struct XmlParseState {
        char *error;               /* first error, or NULL */
        gboolean doctype;          /* a <!DOCTYPE> was refused */
} XmlParseState;

static void xml_on_error(void *user_data, VsmNetstateXmlError *err) {
        xmlParserCtxt *ctxt = user_data;
        XmlParseState *st = ctxt ? ctxt->_private : NULL;

        if (!st || st->error || !err || err->level < XML_ERR_ERROR)
                return;
        st->error = g_strdup_printf("line %d: %s", err->line, err->message ? err->message : "unknown error");
        g_strchomp(st->error);
}

/* SAX internalSubset: "<!DOCTYPE name" was read, nothing declared yet.
 * libvirt never writes one; stop here. */
static void xml_on_doctype(void *user_data, const xmlChar *name, const xmlChar *external_id,
                           const xmlChar *system_id) {
        xmlParserCtxt *ctxt = user_data;
        XmlParseState *st = ctxt->_private;

        st->doctype = TRUE;
        ctxt->wellFormed = 0;
        xmlStopParser(ctxt);
}

static void xml_init_once(void) {
        static gsize done;

        if (g_once_init_enter(&done)) {
                xmlInitParser();
                g_once_init_leave(&done, 1);
        }
}

/* Lexical upper bounds on namespace declarations and on attributes per tag
 * ('=' outside quotes between a '<' and the next '>' or '<'), found before
 * libxml2 runs. */
static gboolean xml_prescan(const char *xml, gsize len, GError **error) {
        const char *end = xml + len;
        guint n_ns = 0;

        for (const char *q = xml; (q = memmem(q, (gsize) (end - q), "xmlns", 5)); q += 5)
                if (++n_ns > VSM_NETSTATE_XML_NS_DECLS_MAX)
                        return fail(error, "state XML", "more than %d namespace declarations",
                                    VSM_NETSTATE_XML_NS_DECLS_MAX);
        for (const char *p = xml; (p = memchr(p, '<', (gsize) (end - p)));) {
                const char *tag = p++;
                char quote_ch = 0;
                guint n_eq = 0;

                for (; p < end && *p != '<'; p++) {
                        if (quote_ch) {
                                if (*p == quote_ch)
                                        quote_ch = 0;
                        } else if (*p == '"' || *p == '\'') {
                                quote_ch = *p;
                        } else if (*p == '=') {
                                if (++n_eq > VSM_NETSTATE_XML_TAG_ATTRS_MAX)
                                        return fail(error, "state XML",
                                                    "more than %d attributes in the tag at offset %" G_GSIZE_FORMAT,
                                                    VSM_NETSTATE_XML_TAG_ATTRS_MAX, (gsize) (tag - xml));
                        } else if (*p == '>') {
                                break;
                        }
                }
        }
        return TRUE;
}

static xmlDoc *xml_parse(const char *xml, gsize len, GError **error) {
        g_autoptr(xmlParserCtxt) ctxt = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        g_autofree char *first_error = NULL;
        XmlParseState st = { NULL, FALSE };

        xml_init_once();
        ctxt = xmlCreateMemoryParserCtxt(xml, (int) len);
        if (!ctxt) {
                fail(error, "state XML", "cannot create a parser");
                return NULL;
        }
        ctxt->_private = &st;
        ctxt->sax->serror = xml_on_error;
        ctxt->sax->internalSubset = xml_on_doctype;
        ctxt->sax->externalSubset = NULL;
        /* No XML_PARSE_NOENT, DTDLOAD, DTDATTR or HUGE.  IGNORE_ENC: the
         * input was checked to be UTF-8, whatever it declares. */
        xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_IGNORE_ENC);
        xmlParseDocument(ctxt);
        doc = g_steal_pointer(&ctxt->myDoc);
        ctxt->_private = NULL;
        first_error = g_steal_pointer(&st.error);

        if (st.doctype) {
                fail(error, "state XML", "document type declarations (<!DOCTYPE>) are not accepted");
                return NULL;
        }
        if (!ctxt->wellFormed || first_error || !doc) {
                fail(error, "state XML", "not well-formed: %s", first_error ? first_error : "parse failed");
                return NULL;
        }
        return g_steal_pointer(&doc);
}

static gboolean xml_is_blank(const xmlChar *s) {
        for (; s && *s; s++)
                if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
                        return FALSE;
        return TRUE;
}

static gboolean xml_name_is(const xmlNode *node, const char *name) {
        return xmlStrEqual(node->name, (const xmlChar *) name);
}

/* Only the listed attributes, none in a namespace. */
static gboolean xml_check_attrs(xmlNode *node, const char *const *allowed, const char *ctx, GError **error) {
        for (xmlAttr *a = node->properties; a; a = a->next) {
                gboolean known = FALSE;

                for (const char *const *p = allowed; *p && !known; p++)
                        known = !a->ns && xmlStrEqual(a->name, (const xmlChar *) *p);
                if (!known) {
                        g_autofree char *q = quote((const char *) a->name);

                        return fail(error, ctx, "<%s>: unknown attribute '%s'%s", node->name, q,
                                    a->ns ? " (in a namespace)" : "");
                }
        }
        return TRUE;
}

/* An attribute's value (g_free), or NULL if absent. */
static char *xml_attr(xmlNode *node, const char *name) {
        g_autoptr(xmlChar) v = xmlGetNoNsProp(node, (const xmlChar *) name);

        return v ? g_strdup((const char *) v) : NULL;
}

/* The next element child of parent after *iter (NULL to start), in our
 * namespace or none; blank text is skipped, anything else refused.
 * *ret_child is NULL at the end. */
static gboolean xml_next_element(xmlNode *parent, xmlNode **iter, const xmlNs *ns, const char *ctx,
                                 xmlNode **ret_child, GError **error) {
        xmlNode *c = *iter ? (*iter)->next : parent->children;

        for (; c; c = c->next) {
                if (c->type == XML_TEXT_NODE && xml_is_blank(c->content))
                        continue;
                if (c->type != XML_ELEMENT_NODE)
                        return fail(error, ctx, "<%s>: unexpected %s", parent->name,
                                    c->type == XML_TEXT_NODE ? "text" : "content (comment, CDATA, PI or entity)");
                if (c->ns && !xmlStrEqual(c->ns->href, ns->href)) {
                        g_autofree char *q = quote((const char *) c->name);

                        return fail(error, ctx, "<%s>: element <%s> in a foreign namespace", parent->name, q);
                }
                break;
        }
        *iter = c;
        *ret_child = c;
        return TRUE;
}

/* Text-only content (no element children); "" when empty. */
static gboolean xml_text(xmlNode *node, const char *ctx, char **ret, GError **error) {
        g_autoptr(xmlChar) v = NULL;

        for (xmlNode *c = node->children; c; c = c->next)
                if (c->type != XML_TEXT_NODE)
                        return fail(error, ctx, "<%s> must hold text only", node->name);
        v = xmlNodeGetContent(node);
        *ret = g_strdup(v ? (const char *) v : "");
        return TRUE;
}

/* An element that must have no content but blanks. */
static gboolean xml_empty(xmlNode *node, const xmlNs *ns, const char *ctx, GError **error) {
        xmlNode *iter = NULL, *c;

        if (!xml_next_element(node, &iter, ns, ctx, &c, error))
                return FALSE;
        if (c) {
                g_autofree char *q = quote((const char *) c->name);

                return fail(error, ctx, "<%s>: unexpected element <%s>", node->name, q);
        }
        return TRUE;
}

static gboolean xml_parse_group(VsmNicState *n, const char *ctx, guint idx, xmlNode *node, const xmlNs *ns,
                                GError **error) {
        static const char *const allowed[] = { "address", "version", "mode", NULL };
        static const char *const src_allowed[] = { "address", NULL };
        g_auto(VsmStateGroup) g = { 0 };
        g_autofree char *gctx = NULL, *address = NULL, *version = NULL, *mode = NULL;
        xmlNode *iter = NULL, *c;

        if (!xml_check_attrs(node, allowed, ctx, error))
                return FALSE;
        address = xml_attr(node, "address");
        version = xml_attr(node, "version");
        mode = xml_attr(node, "mode");
        if (!group_init(&g, ctx, idx, address, version, mode, &gctx, error))
                return FALSE;
        for (;;) {
                g_autofree char *s = NULL;

                if (!xml_next_element(node, &iter, ns, gctx, &c, error))
                        return FALSE;
                if (!c)
                        break;
                if (!xml_name_is(c, "source")) {
                        g_autofree char *q = quote((const char *) c->name);

                        return fail(error, gctx, "unknown element <%s>", q);
                }
                if (!xml_check_attrs(c, src_allowed, gctx, error) || !xml_empty(c, ns, gctx, error))
                        return FALSE;
                s = xml_attr(c, "address");
                if (!group_add_source(&g, gctx, s, error))
                        return FALSE;
        }
        return nic_add_group(n, gctx, &g, error);
}

static gboolean xml_parse_lease(VsmNicState *n, const char *ctx, xmlNode *node, const xmlNs *ns, GError **error) {
        static const char *const allowed[] = { "address", "server-id", "time", "ack", NULL };
        g_autofree char *address = NULL, *server_id = NULL, *time_s = NULL, *ack_s = NULL;
        guint64 lease_time, ack;

        if (!xml_check_attrs(node, allowed, ctx, error) || !xml_empty(node, ns, ctx, error))
                return FALSE;
        address = xml_attr(node, "address");
        server_id = xml_attr(node, "server-id");
        time_s = xml_attr(node, "time");
        ack_s = xml_attr(node, "ack");
        if (!time_s || !parse_decimal(time_s, G_MAXUINT32, &lease_time)) {
                g_autofree char *q = quote(time_s);

                return fail(error, ctx, "lease time '%s' is not a number in 0-%u", q, G_MAXUINT32);
        }
        if (!ack_s || !parse_decimal(ack_s, G_MAXINT64, &ack)) {
                g_autofree char *q = quote(ack_s);

                return fail(error, ctx, "lease ack '%s' is not a number in 0-%" G_GINT64_FORMAT, q, G_MAXINT64);
        }
        return nic_set_lease(n, ctx, address, server_id, (gint64) lease_time, (gint64) ack, error);
}

static gboolean xml_parse_nic(xmlNode *node, const xmlNs *ns, guint idx, VsmNicState **ret, GError **error) {
        static const char *const allowed[] = { "mac", NULL };
        static const char *const cid_allowed[] = { "state", NULL };
        static const char *const ip_allowed[] = { "address", NULL };
        g_autoptr(VsmNicState) n = NULL;
        g_autofree char *ictx = g_strdup_printf("nic[%u]", idx), *ctx = NULL, *mac_s = NULL;
        gboolean has_cid = FALSE, has_lease = FALSE;
        guint n_groups = 0;
        uint8_t mac[VSM_ETH_ALEN];
        xmlNode *iter = NULL, *c;

        if (!xml_check_attrs(node, allowed, ictx, error))
                return FALSE;
        mac_s = xml_attr(node, "mac");
        if (!nic_parse_mac(mac_s, ictx, mac, error))
                return FALSE;
        ctx = nic_ctx(mac);
        n = vsm_nic_state_new(mac);

        for (;;) {
                if (!xml_next_element(node, &iter, ns, ctx, &c, error))
                        return FALSE;
                if (!c)
                        break;
                if (xml_name_is(c, "client-id")) {
                        g_autofree char *state = NULL, *value = NULL;

                        if (has_cid)
                                return fail(error, ctx, "more than one <client-id>");
                        has_cid = TRUE;
                        if (!xml_check_attrs(c, cid_allowed, ctx, error) || !xml_text(c, ctx, &value, error))
                                return FALSE;
                        state = xml_attr(c, "state");
                        /* the value is the text; empty is fine for "sent" (an
                         * empty option 61), and required empty otherwise */
                        if (g_strcmp0(state, "sent") != 0 && value[0] == '\0')
                                g_clear_pointer(&value, g_free);
                        if (!nic_set_client_id(n, ctx, state, value, error))
                                return FALSE;
                } else if (xml_name_is(c, "hostname")) {
                        g_autofree char *h = NULL;

                        if (n->hostname)
                                return fail(error, ctx, "more than one <hostname>");
                        if (c->properties)
                                return fail(error, ctx, "<hostname> takes no attributes");
                        if (!xml_text(c, ctx, &h, error) || !nic_set_hostname(n, ctx, h, error))
                                return FALSE;
                } else if (xml_name_is(c, "lease")) {
                        if (has_lease)
                                return fail(error, ctx, "more than one <lease>");
                        has_lease = TRUE;
                        if (!xml_parse_lease(n, ctx, c, ns, error))
                                return FALSE;
                } else if (xml_name_is(c, "group")) {
                        if (n->groups->len >= VSM_LEARN_GROUPS_MAX)
                                return fail(error, ctx, "more than %d groups", VSM_LEARN_GROUPS_MAX);
                        if (!xml_parse_group(n, ctx, n_groups++, c, ns, error))
                                return FALSE;
                } else if (xml_name_is(c, "ip")) {
                        g_autofree char *a = NULL;

                        if (!xml_check_attrs(c, ip_allowed, ctx, error) || !xml_empty(c, ns, ctx, error))
                                return FALSE;
                        a = xml_attr(c, "address");
                        if (!nic_add_ip(n, ctx, a, 0, error))
                                return FALSE;
                } else {
                        g_autofree char *q = quote((const char *) c->name);

                        return fail(error, ctx, "unknown element <%s>", q);
                }
        }
        if (!has_cid)
                return fail(error, ctx, "missing <client-id>");
        *ret = g_steal_pointer(&n);
        return TRUE;
}

/* Parse our <metadata> element; see netstate.h. */
gboolean vsm_domain_state_from_xml(const char *xml, gsize len, VsmDomainState **ret, GError **error) {
        static const char *const allowed[] = { "version", "origin", "token", "generation", NULL };
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(VsmDomainState) s = NULL;
        g_autofree char *version = NULL, *origin = NULL, *token = NULL, *generation = NULL;
        const char *end;
        xmlNode *root, *iter = NULL, *c;

        g_return_val_if_fail(xml != NULL || len == 0, FALSE);
        g_return_val_if_fail(ret != NULL, FALSE);

        if (len == 0)
                return fail(error, "state XML", "empty");
        if (len > VSM_NETSTATE_XML_MAX)
                return fail(error, "state XML", "too large (%" G_GSIZE_FORMAT " octets, at most %d)", len,
                            VSM_NETSTATE_XML_MAX);
        if (memchr(xml, '\0', len))
                return fail(error, "state XML", "contains a NUL octet");
        if (!g_utf8_validate_len(xml, len, &end))
                return fail(error, "state XML", "not valid UTF-8 (offset %" G_GSIZE_FORMAT ")", (gsize) (end - xml));
        if (!xml_prescan(xml, len, error))
                return FALSE;
        doc = xml_parse(xml, len, error);
        if (!doc)
                return FALSE;

        root = xmlDocGetRootElement(doc);
        if (!root || !xml_name_is(root, "state") || !root->ns ||
            !xmlStrEqual(root->ns->href, (const xmlChar *) VSIMIG_METADATA_NS)) {
                g_autofree char *q = quote(root ? (const char *) root->name : "");

                return fail(error, "state XML", "root element <%s> is not <state> in namespace " VSIMIG_METADATA_NS,
                            q);
        }
        if (!xml_check_attrs(root, allowed, "state", error))
                return FALSE;
        version = xml_attr(root, "version");
        if (g_strcmp0(version, VSM_NETSTATE_XML_VERSION) != 0) {
                g_autofree char *q = quote(version);

                return fail(error, "state", "version '%s' is not " VSM_NETSTATE_XML_VERSION, q);
        }

        s = vsm_domain_state_new(NULL);
        origin = xml_attr(root, "origin");
        if (origin && !origin_is_valid(origin)) {
                g_autofree char *q = quote(origin);

                return fail(error, "state", "origin '%s' is not IP:PORT or [IPv6]:PORT (at most %d characters; "
                            "host names are refused)", q, VSM_NETSTATE_ORIGIN_MAX);
        }
        token = xml_attr(root, "token");
        if (token && !token_is_valid(token)) {
                g_autofree char *q = quote(token);

                return fail(error, "state", "token '%s' is not %d lower-case hex digits", q, VSM_NETSTATE_TOKEN_LEN);
        }
        generation = xml_attr(root, "generation");
        if (!generation || !parse_decimal(generation, G_MAXUINT64, &s->generation)) {
                g_autofree char *q = quote(generation);

                return fail(error, "state", "generation '%s' is not a number", q);
        }
        s->origin = g_steal_pointer(&origin);
        if (token)
                g_strlcpy(s->token, token, sizeof(s->token));

        for (;;) {
                VsmNicState *n = NULL;

                if (!xml_next_element(root, &iter, root->ns, "state", &c, error))
                        return FALSE;
                if (!c)
                        break;
                if (!xml_name_is(c, "nic")) {
                        g_autofree char *q = quote((const char *) c->name);

                        return fail(error, "state", "unknown element <%s>", q);
                }
                if (s->nics->len >= VSM_NETSTATE_NICS_MAX)
                        return fail(error, "state", "more than %d NICs", VSM_NETSTATE_NICS_MAX);
                if (!xml_parse_nic(c, root->ns, s->nics->len, &n, error))
                        return FALSE;
                if (vsm_domain_state_find_nic(s, n->mac)) {
                        g_autofree char *ctx = nic_ctx(n->mac);

                        vsm_nic_state_free(n);
                        return fail(error, ctx, "duplicate NIC");
                }
                g_ptr_array_add(s->nics, n);
        }

        *ret = g_steal_pointer(&s);
        return TRUE;
}

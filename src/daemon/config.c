/* vsimigd configuration loader (GKeyFile -> VsmConfig). */
#include "build-config.h"
#include "daemon/config.h"

#include <gio/gio.h>

#include <string.h>

#include "daemon/peer.h"
#include "proto/vdp.h"

G_DEFINE_QUARK(vsimig-error-quark, vsm_error)

VsmConfig *vsm_config_new_default(void) {
        VsmConfig *c = g_new0(VsmConfig, 1);

        c->uplinks = g_new0(char *, 1);
        c->manager_id = g_strdup("vsimig");
        /* Same values lldpad's station advertises: R=3, RTE=8 (2.56 ms),
         * RWD=20 and RKA=20 (10.49 s). */
        c->ecp_retries = 3;
        c->ecp_rte = 8;
        c->rwd = 20;
        c->rka = 20;
        c->max_vsis = 1024;
        c->ecp_pacing_usec = 3000;
        c->type_id = 0;
        c->type_version = 0;
        c->pre_assoc_rr = FALSE;
        c->bridge_names = g_new0(char *, 1);
        c->bridge_uplinks = g_new0(char *, 1);
        c->vlan_devs = g_new0(char *, 1);
        c->vlan_ids = g_new0(guint, 1);
        c->libvirt_enabled = TRUE;
        c->libvirt_uri = g_strdup("qemu:///system");
        c->max_domains = 1024;
        c->timelines_per_domain = 8;
        c->hook_veto = FALSE;
        c->hook_timeout_ms = 2000;
        c->lldp_interval_sec = 30;
        c->peer_listen = NULL;
        c->peer_advertise = NULL;
        /* libvirt's default PKI paths (libvirtd.conf, qemu.conf). */
        c->peer_tls = FALSE;
        c->peer_tls_ca = g_strdup("/etc/pki/CA/cacert.pem");
        c->peer_tls_cert = g_strdup("/etc/pki/libvirt/servercert.pem");
        c->peer_tls_key = g_strdup("/etc/pki/libvirt/private/serverkey.pem");
        c->peer_tls_client_cert = g_strdup("/etc/pki/libvirt/clientcert.pem");
        c->peer_tls_client_key = g_strdup("/etc/pki/libvirt/private/clientkey.pem");
        c->learn_enabled = TRUE;
        c->metadata_interval_ms = 1000;
        c->replay_enabled = TRUE;
        c->replay_mdb = TRUE;
        c->replay_query = TRUE;
        c->replay_leaves = TRUE;
        c->control_socket = g_strdup(VSIMIG_DEFAULT_SOCKET);
        c->control_group = NULL;
        c->control_max_clients = 64;
        c->qbg_serve_libvirt = FALSE;
        /* libvirt reads /var/run/lldpad.pid, a symlink to /run. */
        c->qbg_pid_file = g_strdup("/run/lldpad.pid");
        return c;
}

VsmConfig *vsm_config_free(VsmConfig *c) {
        if (!c)
                return NULL;
        g_strfreev(c->uplinks);
        g_free(c->manager_id);
        g_strfreev(c->bridge_names);
        g_strfreev(c->bridge_uplinks);
        g_free(c->replay_vlan);
        g_strfreev(c->vlan_devs);
        g_free(c->vlan_ids);
        g_free(c->libvirt_uri);
        g_free(c->peer_listen);
        g_free(c->peer_advertise);
        g_free(c->peer_tls_ca);
        g_free(c->peer_tls_cert);
        g_free(c->peer_tls_key);
        g_free(c->peer_tls_client_cert);
        g_free(c->peer_tls_client_key);
        g_free(c->peer_key_file);
        g_clear_pointer(&c->peer_key, g_bytes_unref);
        g_free(c->control_socket);
        g_free(c->control_group);
        g_free(c->qbg_pid_file);
        g_free(c);
        return NULL;
}

typedef enum KeyKind {
        KEY_STRV,
        KEY_STRING,
        KEY_UINT,
        KEY_BOOL,
} KeyKind;

typedef struct KeySpec {
        const char *group;
        const char *key;
        KeyKind kind;
        gsize offset;
        unsigned min, max;          /* KEY_UINT */
} KeySpec;

static const KeySpec key_specs[] = {
        { "vdp", "uplinks", KEY_STRV, G_STRUCT_OFFSET(VsmConfig, uplinks), 0, 0 },
        { "vdp", "manager-id", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, manager_id), 0, 0 },
        { "vdp", "ecp-retries", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, ecp_retries), 0, 7 },
        { "vdp", "ecp-rte", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, ecp_rte), 0, 31 },
        { "vdp", "resource-wait-exp", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, rwd), 0, 31 },
        { "vdp", "keep-alive-exp", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, rka), 0, 31 },
        { "vdp", "ecp-pacing-us", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, ecp_pacing_usec), 0, 100000 },
        { "vdp", "max-vsis", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, max_vsis), 1, 65536 },
        { "vdp", "type-id", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, type_id), 0, 0xffffff },
        { "vdp", "type-version", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, type_version), 0, 255 },
        { "vdp", "pre-associate-rr", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, pre_assoc_rr), 0, 0 },
        { "libvirt", "enabled", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, libvirt_enabled), 0, 0 },
        { "libvirt", "uri", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, libvirt_uri), 0, 0 },
        { "libvirt", "max-domains", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, max_domains), 1, 65536 },
        { "libvirt", "timelines-per-domain", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, timelines_per_domain), 1, 64 },
        { "hook", "veto", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, hook_veto), 0, 0 },
        { "hook", "timeout-ms", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, hook_timeout_ms), 100, 30000 },
        { "lldp", "interval", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, lldp_interval_sec), 1, 3600 },
        { "peer", "listen", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, peer_listen), 0, 0 },
        { "peer", "advertise", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, peer_advertise), 0, 0 },
        { "peer", "tls", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, peer_tls), 0, 0 },
        { "peer", "tls-ca", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, peer_tls_ca), 0, 0 },
        { "peer", "tls-cert", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, peer_tls_cert), 0, 0 },
        { "peer", "tls-key", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, peer_tls_key), 0, 0 },
        { "peer", "tls-client-cert", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, peer_tls_client_cert), 0, 0 },
        { "peer", "tls-client-key", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, peer_tls_client_key), 0, 0 },
        { "peer", "key-file", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, peer_key_file), 0, 0 },
        { "peer", "insecure", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, peer_insecure), 0, 0 },
        { "learn", "enabled", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, learn_enabled), 0, 0 },
        { "learn", "metadata-interval-ms", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, metadata_interval_ms), 0, 600000 },
        { "replay", "enabled", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, replay_enabled), 0, 0 },
        { "replay", "mdb", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, replay_mdb), 0, 0 },
        { "replay", "query-after-resume", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, replay_query), 0, 0 },
        { "replay", "leave-old-port", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, replay_leaves), 0, 0 },
        { "replay", "vlan", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, replay_vlan), 0, 0 },
        { "control", "socket", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, control_socket), 0, 0 },
        { "control", "group", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, control_group), 0, 0 },
        { "control", "max-clients", KEY_UINT, G_STRUCT_OFFSET(VsmConfig, control_max_clients), 1, 4096 },
        { "qbg", "serve-libvirt", KEY_BOOL, G_STRUCT_OFFSET(VsmConfig, qbg_serve_libvirt), 0, 0 },
        { "qbg", "pid-file", KEY_STRING, G_STRUCT_OFFSET(VsmConfig, qbg_pid_file), 0, 0 },
};

static const KeySpec *key_spec_find(const char *group, const char *key) {
        for (size_t i = 0; i < G_N_ELEMENTS(key_specs); i++)
                if (g_str_equal(key_specs[i].group, group) && g_str_equal(key_specs[i].key, key))
                        return &key_specs[i];
        return NULL;
}

/* [bridges] maps bridge names (free keys) to uplinks. */
static gboolean load_bridges(GKeyFile *kf, VsmConfig *c, GError **error) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, "bridges", NULL, NULL);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) uplinks = g_ptr_array_new_with_free_func(g_free);

        for (char **k = keys; k && *k; k++) {
                g_autofree char *v = g_key_file_get_string(kf, "bridges", *k, NULL);

                if (!v || strlen(*k) >= 16 || strchr(*k, '/')) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[bridges] %s: not a bridge name", *k);
                        return FALSE;
                }
                g_strstrip(v);
                if (!g_strv_contains((const char *const *) c->uplinks, v)) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                                    "[bridges] %s = %s: not one of [vdp] uplinks", *k, v);
                        return FALSE;
                }
                g_ptr_array_add(names, g_strdup(*k));
                g_ptr_array_add(uplinks, g_steal_pointer(&v));
        }
        g_ptr_array_add(names, NULL);
        g_ptr_array_add(uplinks, NULL);
        g_strfreev(c->bridge_names);
        g_strfreev(c->bridge_uplinks);
        c->bridge_names = (char **) g_ptr_array_free(g_steal_pointer(&names), FALSE);
        c->bridge_uplinks = (char **) g_ptr_array_free(g_steal_pointer(&uplinks), FALSE);
        return TRUE;
}

/* [replay] vlan = DEV:VID, ...: VID 1-4094 or "none"; each DEV once. */
static gboolean load_replay_vlan(VsmConfig *c, GError **error) {
        g_autoptr(GPtrArray) devs = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GArray) ids = g_array_new(TRUE, TRUE, sizeof(guint));
        /* Items split on ',' (and ';', GKeyFile's list separator). */
        g_auto(GStrv) items = c->replay_vlan ? g_strsplit_set(c->replay_vlan, ",;", -1) : NULL;

        for (char **p = items; p && *p; p++) {
                g_strstrip(*p);
                if (!**p)
                        continue;
                const char *colon = strrchr(*p, ':');
                g_autofree char *dev = colon ? g_strstrip(g_strndup(*p, (gsize) (colon - *p))) : NULL;
                g_autofree char *vid = colon ? g_strstrip(g_strdup(colon + 1)) : NULL;
                guint64 v = 0;

                if (!dev || !*dev || strlen(dev) >= 16 || strchr(dev, '/')) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                                    "[replay] vlan: '%s' is not DEVICE:VID (VID 1-4094 or none)", *p);
                        return FALSE;
                }
                if (!g_str_equal(vid, "none") &&
                    (!g_ascii_string_to_unsigned(vid, 10, 1, 4094, &v, NULL) || !g_ascii_isdigit(vid[0]))) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                                    "[replay] vlan: %s: VID '%s' is not 1-4094 or none", dev, vid);
                        return FALSE;
                }
                for (guint i = 0; i < devs->len; i++)
                        if (g_str_equal(devs->pdata[i], dev)) {
                                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[replay] vlan: %s given twice", dev);
                                return FALSE;
                        }
                g_ptr_array_add(devs, g_steal_pointer(&dev));
                {
                        guint vv = (guint) v;

                        g_array_append_val(ids, vv);
                }
        }
        g_ptr_array_add(devs, NULL);
        g_strfreev(c->vlan_devs);
        g_free(c->vlan_ids);
        c->vlan_devs = (char **) g_ptr_array_free(g_steal_pointer(&devs), FALSE);
        c->vlan_ids = (guint *) (void *) g_array_free(g_steal_pointer(&ids), FALSE);
        return TRUE;
}

/* See config.h. */
gboolean vsm_config_vlan_for(const VsmConfig *c, const char *dev, guint *ret_vid) {
        for (guint i = 0; dev && c->vlan_devs && c->vlan_devs[i]; i++)
                if (g_str_equal(c->vlan_devs[i], dev)) {
                        *ret_vid = c->vlan_ids[i];
                        return TRUE;
                }
        return FALSE;
}

static gboolean group_known(const char *group) {
        for (size_t i = 0; i < G_N_ELEMENTS(key_specs); i++)
                if (g_str_equal(key_specs[i].group, group))
                        return TRUE;
        return FALSE;
}

static gboolean load_key(GKeyFile *kf, const KeySpec *spec, VsmConfig *c, GError **error) {
        void *field = (char *) c + spec->offset;
        g_autoptr(GError) local = NULL;

        switch (spec->kind) {
        case KEY_STRV: {
                g_auto(GStrv) v = g_key_file_get_string_list(kf, spec->group, spec->key, NULL, &local);

                if (!v)
                        break;
                /* Drop empty items so that "uplinks=" means none. */
                g_autoptr(GPtrArray) list = g_ptr_array_new();
                for (char **p = v; *p; p++) {
                        g_strstrip(*p);
                        if (**p)
                                g_ptr_array_add(list, g_strdup(*p));
                }
                g_ptr_array_add(list, NULL);
                g_strfreev(*(char ***) field);
                *(char ***) field = (char **) g_ptr_array_free(g_steal_pointer(&list), FALSE);
                return TRUE;
        }
        case KEY_STRING: {
                g_autofree char *v = g_key_file_get_string(kf, spec->group, spec->key, &local);

                if (!v)
                        break;
                g_strstrip(v);
                g_free(*(char **) field);
                *(char **) field = *v ? g_steal_pointer(&v) : NULL;
                return TRUE;
        }
        case KEY_UINT: {
                g_autofree char *v = g_key_file_get_value(kf, spec->group, spec->key, &local);
                guint64 n;

                if (!v)
                        break;
                g_strstrip(v);
                if (!g_ascii_string_to_unsigned(v, 10, spec->min, spec->max, &n, &local))
                        break;
                *(unsigned *) field = (unsigned) n;
                return TRUE;
        }
        case KEY_BOOL: {
                gboolean v = g_key_file_get_boolean(kf, spec->group, spec->key, &local);

                if (local)
                        break;
                *(gboolean *) field = v;
                return TRUE;
        }
        }
        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[%s] %s: %s",
                    spec->group, spec->key, local ? local->message : "invalid value");
        return FALSE;
}

/* "ADDR:PORT" / "[v6]:PORT" with an IP address (or, for advertise, a
 * host name) and a port 1-65535. */
static gboolean endpoint_valid(const char *s, gboolean allow_name) {
        g_autofree char *host = NULL;
        const char *colon;
        guint64 port;

        if (strlen(s) > 255)
                return FALSE;
        colon = strrchr(s, ':');
        if (!colon || !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL))
                return FALSE;
        if (s[0] == '[') {
                if (colon == s || colon[-1] != ']')
                        return FALSE;
                host = g_strndup(s + 1, (gsize) (colon - s - 2));
        } else {
                host = g_strndup(s, (gsize) (colon - s));
                if (strchr(host, ':'))
                        return FALSE;   /* IPv6 needs brackets */
        }
        if (g_hostname_is_ip_address(host))
                return TRUE;
        if (!allow_name || !*host || strlen(host) > 253)
                return FALSE;
        for (const char *p = host; *p; p++)
                if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.')
                        return FALSE;
        return TRUE;
}

/* The address of an endpoint endpoint_valid() accepted, without brackets. */
static char *endpoint_host(const char *s) {
        const char *colon = strrchr(s, ':');

        if (s[0] == '[')
                return g_strndup(s + 1, (gsize) (colon - s - 2));
        return g_strndup(s, (gsize) (colon - s));
}

static gboolean listen_is_wildcard(const char *s) {
        return g_str_has_prefix(s, "0.0.0.0:") || g_str_has_prefix(s, "[::]:");
}

static gboolean config_validate(const VsmConfig *c, GError **error) {
        uint8_t id[VSM_VDP_MANAGER_ID_LEN];
        guint n = g_strv_length(c->uplinks);

        if (n > VSM_CONFIG_UPLINKS_MAX) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[vdp] uplinks: %u interfaces, at most %d", n, VSM_CONFIG_UPLINKS_MAX);
                return FALSE;
        }
        for (guint i = 0; i < n; i++) {
                if (strlen(c->uplinks[i]) >= 16 || strchr(c->uplinks[i], '/')) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                                    "[vdp] uplinks: '%s' is not an interface name", c->uplinks[i]);
                        return FALSE;
                }
                for (guint j = 0; j < i; j++)
                        if (g_str_equal(c->uplinks[i], c->uplinks[j])) {
                                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                                            "[vdp] uplinks: '%s' listed twice", c->uplinks[i]);
                                return FALSE;
                        }
        }
        if (!c->manager_id || vsm_vdp_manager_id_from_string(c->manager_id, id) < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[vdp] manager-id: must be a UUID or at most 16 octets");
                return FALSE;
        }
        if (!c->qbg_pid_file || !g_path_is_absolute(c->qbg_pid_file) || strlen(c->qbg_pid_file) >= 4096) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[qbg] pid-file: must be an absolute path");
                return FALSE;
        }
        if (c->libvirt_enabled && (!c->libvirt_uri || !*c->libvirt_uri)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[libvirt] uri: must not be empty");
                return FALSE;
        }
        if (c->peer_listen && !endpoint_valid(c->peer_listen, FALSE)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[peer] listen: '%s' is not ADDRESS:PORT (an IP address, [v6]:PORT, port 1-65535; "
                            "host names are refused)", c->peer_listen);
                return FALSE;
        }
        /* The origin goes into <metadata> and destinations connect to it:
         * a host name there would trust whatever the resolver says. */
        if (c->peer_advertise && !endpoint_valid(c->peer_advertise, FALSE)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[peer] advertise: '%s' is not ADDRESS:PORT (an IP address, [v6]:PORT, port 1-65535; "
                            "host names are refused)", c->peer_advertise);
                return FALSE;
        }
        if (c->peer_advertise) {
                g_autofree char *host = endpoint_host(c->peer_advertise);

                /* Destinations refuse such an origin in <metadata>. */
                if (!vsm_netstate_origin_host_ok(host)) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                                    "[peer] advertise: '%s' is not an address other hosts reach (loopback, "
                                    "unspecified, multicast and link- or site-local IPv6 addresses are refused)",
                                    c->peer_advertise);
                        return FALSE;
                }
        }
        if (c->peer_listen && !c->peer_advertise && listen_is_wildcard(c->peer_listen)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[peer] listen is a wildcard address: set [peer] advertise to the address peers reach");
                return FALSE;
        }
        if (c->peer_listen && !c->peer_key_file && !c->peer_tls && !c->peer_insecure) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[peer] listen is set but the peer channel would be unauthenticated: set [peer] key-file "
                            "(the same secret on every compute node; make one with: vsimigctl peer-key new "
                            "/etc/vsimig/peer.key), or tls = true, or, to accept anyone who can reach the port, "
                            "insecure = true");
                return FALSE;
        }
        if (c->peer_key_file && !g_path_is_absolute(c->peer_key_file)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "[peer] key-file: must be an absolute path");
                return FALSE;
        }
        if (c->peer_tls) {
                const struct {
                        const char *key;
                        const char *path;
                } files[] = {
                        { "tls-ca", c->peer_tls_ca },
                        { "tls-cert", c->peer_tls_cert },
                        { "tls-key", c->peer_tls_key },
                        { "tls-client-cert", c->peer_tls_client_cert },
                        { "tls-client-key", c->peer_tls_client_key },
                };

                /* The files themselves are read when the daemon starts. */
                for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
                        if (!files[i].path || !g_path_is_absolute(files[i].path)) {
                                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                                            "[peer] %s: must be an absolute path when tls = true", files[i].key);
                                return FALSE;
                        }
        }
        if (!c->control_socket || !g_path_is_absolute(c->control_socket) ||
            strlen(c->control_socket) >= 108) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[control] socket: must be an absolute path shorter than 108 octets");
                return FALSE;
        }
        return TRUE;
}

char **vsm_config_unknown_keys(const char *data, gsize len) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
        g_auto(GStrv) groups = NULL;

        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, NULL))
                return NULL;
        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++) {
                g_auto(GStrv) keys = NULL;

                if (g_str_equal(*g, "bridges"))
                        continue;
                if (!group_known(*g)) {
                        g_ptr_array_add(out, g_strdup_printf("[%s]", *g));
                        continue;
                }
                keys = g_key_file_get_keys(kf, *g, NULL, NULL);
                for (char **k = keys; k && *k; k++)
                        if (!key_spec_find(*g, *k))
                                g_ptr_array_add(out, g_strdup_printf("[%s] %s", *g, *k));
        }
        g_ptr_array_add(out, NULL);
        return (char **) g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

gboolean vsm_config_load_data(const char *data, gsize len, VsmConfig **ret, GError **error) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(VsmConfig) c = vsm_config_new_default();
        g_auto(GStrv) groups = NULL;
        g_autoptr(GError) local = NULL;

        g_return_val_if_fail(ret, FALSE);

        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &local)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "%s", local->message);
                return FALSE;
        }
        groups = g_key_file_get_groups(kf, NULL);
        /* Typos: name every one, not only the first. */
        {
                g_auto(GStrv) unknown = vsm_config_unknown_keys(data, len);
                guint n = unknown ? g_strv_length(unknown) : 0;

                if (n > 1) {
                        g_autofree char *list = g_strjoinv(", ", unknown);

                        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "%u unknown sections or keys: %s", n, list);
                        return FALSE;
                }
        }
        for (char **g = groups; *g; g++) {
                g_auto(GStrv) keys = NULL;

                if (g_str_equal(*g, "bridges"))
                        continue;       /* free keys, loaded after [vdp] */
                if (!group_known(*g)) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "unknown section [%s]", *g);
                        return FALSE;
                }
                keys = g_key_file_get_keys(kf, *g, NULL, NULL);
                for (char **k = keys; k && *k; k++) {
                        const KeySpec *spec = key_spec_find(*g, *k);

                        if (!spec) {
                                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                                            "unknown key '%s' in section [%s]", *k, *g);
                                return FALSE;
                        }
                        if (!load_key(kf, spec, c, error))
                                return FALSE;
                }
        }
        if (g_key_file_has_group(kf, "bridges") && !load_bridges(kf, c, error))
                return FALSE;
        if (!load_replay_vlan(c, error))
                return FALSE;
        if (!config_validate(c, error))
                return FALSE;
        /* Read once, here: a key that is wrong fails the configuration
         * (vsimigd --check-config), not the first migration. */
        if (c->peer_key_file) {
                c->peer_key = vsm_peer_key_load(c->peer_key_file, error);
                if (!c->peer_key)
                        return FALSE;
        }
        *ret = g_steal_pointer(&c);
        return TRUE;
}

gboolean vsm_config_load_file(const char *path, VsmConfig **ret, GError **error) {
        g_autofree char *data = NULL;
        gsize len;
        g_autoptr(GError) local = NULL;

        if (!g_file_get_contents(path, &data, &len, &local)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "%s", local->message);
                return FALSE;
        }
        if (!vsm_config_load_data(data, len, ret, &local)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "%s: %s", path, local->message);
                return FALSE;
        }
        return TRUE;
}

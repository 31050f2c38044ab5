/* vsimigctl check: what is still wrong on this host, each with its fix.
 * Reads the config (with the daemon's own parser), asks the running
 * daemon for its status, and looks at the interfaces, the libvirt hook
 * and libvirtd's start time, lldpad and the clock.  Everything read is
 * bounded; nothing here changes the host. */
#include "build-config.h"
#include "ctl/check.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <limits.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <unistd.h>

#include "daemon/config.h"
#include "vsimig/control.h"

#define SMALL_FILE_MAX (64 * 1024)
#define CONFIG_FILE_MAX (1024 * 1024)
#define PROC_SCAN_MAX 65536
#define EVB_STALE_MS (120 * 1000)
#define CONNECT_TIMEOUT_MS 2000

/* Reads at most max octets of a regular file (see vsm_check_read_file:
 * lldpad's -f and /proc/PID/root may point anywhere a local user likes). */
static gboolean read_small(const char *path, gsize max, char **ret, gsize *ret_len, char **ret_error) {
        return vsm_check_read_file(path, max, ret, ret_len, ret_error);
}

/* A pid file: one decimal pid whose process runs with comm in names. */
static pid_t pidfile_process(const char *path, const char *const *names) {
        g_autofree char *text = NULL, *err = NULL, *comm_path = NULL, *comm = NULL;
        gsize len;
        guint64 pid;

        if (!read_small(path, 64, &text, &len, &err))
                return 0;
        if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, 1, INT_MAX, &pid, NULL))
                return 0;
        comm_path = g_strdup_printf("/proc/%" G_GUINT64_FORMAT "/comm", pid);
        g_clear_pointer(&err, g_free);
        if (!read_small(comm_path, 64, &comm, &len, &err))
                return 0;
        g_strstrip(comm);
        return g_strv_contains(names, comm) ? (pid_t) pid : 0;
}

/* The start time of pid, in seconds since the epoch. */
static gboolean process_start_time(pid_t pid, double *ret) {
        g_autofree char *stat = NULL, *pstat = NULL, *err = NULL, *path = g_strdup_printf("/proc/%d/stat", (int) pid);
        gsize len, plen;
        guint64 ticks, btime;
        long hz = sysconf(_SC_CLK_TCK);

        if (hz <= 0 || !read_small(path, 4096, &stat, &len, &err) ||
            !vsm_check_parse_proc_stat_start(stat, len, &ticks))
                return FALSE;
        g_clear_pointer(&err, g_free);
        if (!read_small("/proc/stat", 1024 * 1024, &pstat, &plen, &err) || !vsm_check_parse_btime(pstat, plen, &btime))
                return FALSE;
        *ret = (double) btime + (double) ticks / (double) hz;
        return TRUE;
}

static const char *str_member(JsonObject *o, const char *m) {
        JsonNode *n = o ? json_object_get_member(o, m) : NULL;

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
                return NULL;
        return json_node_get_string(n);
}

static gint64 int_member(JsonObject *o, const char *m, gint64 dflt) {
        JsonNode *n = o ? json_object_get_member(o, m) : NULL;

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
                return dflt;
        return json_node_get_int(n);
}

static gboolean bool_member(JsonObject *o, const char *m, gboolean dflt) {
        JsonNode *n = o ? json_object_get_member(o, m) : NULL;

        if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
                return dflt;
        return json_node_get_boolean(n);
}

static JsonObject *obj_member(JsonObject *o, const char *m) {
        JsonNode *n = o ? json_object_get_member(o, m) : NULL;

        return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* The daemon's uplink object named ifname in status, or NULL. */
static JsonObject *status_uplink(JsonObject *status, const char *ifname) {
        JsonNode *n = status ? json_object_get_member(status, "uplinks") : NULL;
        JsonArray *a;

        if (!n || !JSON_NODE_HOLDS_ARRAY(n))
                return NULL;
        a = json_node_get_array(n);
        for (guint i = 0; i < json_array_get_length(a) && i < 1024; i++) {
                JsonNode *e = json_array_get_element(a, i);
                const char *name;

                if (!JSON_NODE_HOLDS_OBJECT(e))
                        continue;
                name = str_member(json_node_get_object(e), "name");
                if (name && g_str_equal(name, ifname))
                        return json_node_get_object(e);
        }
        return NULL;
}

/* ---- config ---- */

/* What the checks need from the config even when it does not parse:
 * read leniently with GKeyFile, each value only when it is valid. */
static VsmConfig *config_lenient(const char *data, gsize len) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        VsmConfig *c = vsm_config_new_default();
        g_auto(GStrv) uplinks = NULL;
        char *s;

        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, NULL))
                return c;
        uplinks = g_key_file_get_string_list(kf, "vdp", "uplinks", NULL, NULL);
        if (uplinks) {
                g_autoptr(GPtrArray) list = g_ptr_array_new();

                for (char **p = uplinks; *p && list->len < VSM_CONFIG_UPLINKS_MAX; p++) {
                        g_strstrip(*p);
                        if (**p && strlen(*p) < IFNAMSIZ && !strchr(*p, '/'))
                                g_ptr_array_add(list, g_strdup(*p));
                }
                g_ptr_array_add(list, NULL);
                g_strfreev(c->uplinks);
                c->uplinks = (char **) g_ptr_array_free(g_steal_pointer(&list), FALSE);
        }
#define STR(field, group, key)                                                  \
        if ((s = g_key_file_get_string(kf, group, key, NULL))) {                \
                g_free(c->field);                                               \
                c->field = *g_strstrip(s) ? s : (g_free(s), NULL);              \
        }
        STR(control_socket, "control", "socket");
        STR(peer_listen, "peer", "listen");
        STR(peer_advertise, "peer", "advertise");
        STR(peer_key_file, "peer", "key-file");
        STR(peer_tls_ca, "peer", "tls-ca");
        STR(peer_tls_cert, "peer", "tls-cert");
        STR(peer_tls_key, "peer", "tls-key");
        STR(peer_tls_client_cert, "peer", "tls-client-cert");
        STR(peer_tls_client_key, "peer", "tls-client-key");
#undef STR
        c->peer_tls = g_key_file_get_boolean(kf, "peer", "tls", NULL);
        c->peer_insecure = g_key_file_get_boolean(kf, "peer", "insecure", NULL);
        {
                g_autoptr(GError) e = NULL;
                gboolean en = g_key_file_get_boolean(kf, "libvirt", "enabled", &e);

                if (!e)
                        c->libvirt_enabled = en;
        }
        return c;
}

static VsmConfig *check_config(VsmCheckReport *r, const VsmCheckOptions *o) {
        g_autofree char *data = NULL, *err = NULL, *fix = NULL;
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) unknown = NULL;
        VsmConfig *c = NULL;
        gsize len;

        fix = g_strdup_printf("edit %s (keys and values: man 5 vsimigd.conf), then: vsimigd --check-config --config %s",
                              o->config_path, o->config_path);
        if (!read_small(o->config_path, CONFIG_FILE_MAX, &data, &len, &err)) {
                vsm_check_add(r, "config", o->config_path, VSM_CHECK_FAIL, fix, "cannot read: %s", err);
                return vsm_config_new_default();
        }
        unknown = vsm_config_unknown_keys(data, len);
        if (unknown && unknown[0]) {
                g_autofree char *list = g_strjoinv(", ", unknown);
                g_autofree char *ufix = g_strdup_printf("remove or correct them in %s (man 5 vsimigd.conf)",
                                                        o->config_path);

                vsm_check_add(r, "config", o->config_path, VSM_CHECK_FAIL, ufix,
                              "unknown section or key%s (vsimigd refuses to start): %s",
                              g_strv_length(unknown) > 1 ? "s" : "", list);
        }
        if (!vsm_config_load_data(data, len, &c, &error)) {
                if (!(unknown && unknown[0]))
                        vsm_check_add(r, "config", o->config_path, VSM_CHECK_FAIL, fix, "does not load: %s",
                                      error->message);
                return config_lenient(data, len);
        }
        vsm_check_add(r, "config", o->config_path, VSM_CHECK_OK, NULL, "parses; %u uplink%s",
                      g_strv_length(c->uplinks), g_strv_length(c->uplinks) == 1 ? "" : "s");
        return c;
}

/* ---- uplinks and the EVB bridge ---- */

static void check_uplink(VsmCheckReport *r, const char *conf_path, const char *ifname,
                         JsonObject *status) {
        struct ifreq ifr = {};
        JsonObject *u, *bridge;
        int fd;

        if (!if_nametoindex(ifname)) {
                g_autofree char *fix = g_strdup_printf("create %s, or correct [vdp] uplinks in %s and restart vsimigd",
                                                       ifname, conf_path);

                vsm_check_add(r, "uplink", ifname, VSM_CHECK_FAIL, fix, "no such interface");
                return;
        }
        g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
                vsm_check_add(r, "uplink", ifname, VSM_CHECK_WARN, "run vsimigctl check as root",
                              "cannot read its flags: %s", g_strerror(errno));
                if (fd >= 0)
                        close(fd);
                return;
        }
        close(fd);
        if (!(ifr.ifr_flags & IFF_UP)) {
                g_autofree char *fix = g_strdup_printf("ip link set %s up (and in the host's network config)", ifname);

                vsm_check_add(r, "uplink", ifname, VSM_CHECK_FAIL, fix, "is down (administratively)");
                return;
        }
        if (!(ifr.ifr_flags & IFF_RUNNING)) {
                vsm_check_add(r, "uplink", ifname, VSM_CHECK_FAIL, "check the cable and the switch port",
                              "is up but has no carrier");
                return;
        }
        if (!status) {
                vsm_check_add(r, "uplink", ifname, VSM_CHECK_OK, NULL, "exists and is up");
                return;
        }
        u = status_uplink(status, ifname);
        if (!u) {
                vsm_check_add(r, "uplink", ifname, VSM_CHECK_FAIL, "systemctl restart vsimigd (after fixing the config)",
                              "exists and is up, but the running vsimigd does not use it");
                return;
        }
        if (!bool_member(u, "up", FALSE)) {
                const char *why = str_member(u, "down_reason");

                vsm_check_add(r, "uplink", ifname, VSM_CHECK_FAIL, "journalctl -u vsimigd says more; systemctl restart vsimigd",
                              "vsimigd has it closed: %s", why ? why : "no reason given");
                return;
        }
        vsm_check_add(r, "uplink", ifname, VSM_CHECK_OK, NULL, "exists, is up, vsimigd has it open");
        bridge = obj_member(u, "bridge");
        if (!bridge) {
                g_autofree char *fix = g_strdup_printf(
                        "enable EVB (IEEE 802.1Qbg: LLDP with the EVB TLV, VDP) on the switch port %s connects to",
                        ifname);

                vsm_check_add(r, "evb", ifname, VSM_CHECK_FAIL, fix,
                              "no EVB bridge seen (no LLDP EVB TLV in bridge mode received since vsimigd started)");
                return;
        }
        if (int_member(bridge, "last_lldp_ms_ago", 0) > EVB_STALE_MS) {
                vsm_check_add(r, "evb", ifname, VSM_CHECK_WARN,
                              "check the switch port: its LLDP agent or EVB was turned off",
                              "EVB bridge %s last heard %" G_GINT64_FORMAT " s ago",
                              str_member(bridge, "mac") ? str_member(bridge, "mac") : "?",
                              int_member(bridge, "last_lldp_ms_ago", 0) / 1000);
                return;
        }
        vsm_check_add(r, "evb", ifname, VSM_CHECK_OK, NULL, "EVB bridge %s seen %" G_GINT64_FORMAT " s ago",
                      str_member(bridge, "mac") ? str_member(bridge, "mac") : "?",
                      int_member(bridge, "last_lldp_ms_ago", 0) / 1000);
}

/* ---- libvirt ---- */

static void check_libvirt(VsmCheckReport *r, const VsmConfig *c, const char *conf_path, JsonObject *status) {
        JsonObject *lv = obj_member(status, "libvirt");
        const char *uri;

        if (!c->libvirt_enabled || (lv && !bool_member(lv, "enabled", TRUE))) {
                g_autofree char *fix = g_strdup_printf("set [libvirt] enabled = true in %s", conf_path);

                vsm_check_add(r, "libvirt", NULL, VSM_CHECK_WARN, fix,
                              "[libvirt] enabled = false: vsimigd follows no migrations");
                return;
        }
        if (!status) {
                /* The daemon's view is missing: at least whether libvirt's
                 * read-only socket (monolithic or modular) takes a connection. */
                static const char *const socks[] = { "/run/libvirt/libvirt-sock-ro",
                                                     "/run/libvirt/virtqemud-sock-ro", NULL };
                g_autofree char *err = NULL;

                if (g_strcmp0(c->libvirt_uri, "qemu:///system") != 0)
                        return;
                for (const char *const *p = socks; *p; p++) {
                        g_autoptr(GSocketClient) client = g_socket_client_new();
                        g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(*p);
                        g_autoptr(GSocketConnection) conn = NULL;
                        g_autoptr(GError) error = NULL;

                        g_socket_client_set_timeout(client, 2);
                        conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, &error);
                        if (conn) {
                                vsm_check_add(r, "libvirt", c->libvirt_uri, VSM_CHECK_OK, NULL,
                                              "%s accepts connections (vsimigd's own view unknown)", *p);
                                return;
                        }
                        if (!err)
                                err = g_strdup_printf("%s: %s", *p, error->message);
                }
                vsm_check_add(r, "libvirt", c->libvirt_uri, VSM_CHECK_FAIL,
                              "systemctl start libvirtd (or virtqemud)", "libvirt is not reachable: %s", err);
                return;
        }
        uri = str_member(lv, "uri");
        if (!bool_member(lv, "connected", FALSE)) {
                g_autofree char *fix = g_strdup_printf(
                        "start libvirt (systemctl start libvirtd, or virtqemud), or correct [libvirt] uri in %s",
                        conf_path);

                vsm_check_add(r, "libvirt", uri, VSM_CHECK_FAIL, fix,
                              "vsimigd is not connected (%" G_GINT64_FORMAT " reconnects so far)",
                              int_member(lv, "reconnects", 0));
                return;
        }
        vsm_check_add(r, "libvirt", uri, VSM_CHECK_OK, NULL, "vsimigd is connected, %" G_GINT64_FORMAT
                      " domain(s) active", int_member(lv, "domains_active", 0));
}

/* ---- the hook, and libvirtd started after it ---- */

static void check_hook(VsmCheckReport *r, const VsmCheckOptions *o, JsonObject *status) {
        static const char *const daemon_names[] = { "libvirtd", "virtqemud", NULL };
        JsonObject *lv = obj_member(status, "libvirt");
        g_autofree char *fix_install = g_strdup_printf(
                "install the vsimig package (it ships %s; from a source tree: meson install with "
                "--sysconfdir /etc), then restart libvirtd", o->hook_path);
        struct stat st;
        double hook_time, start = 0;
        pid_t pid = 0;
        const char *which = NULL;
        gint64 hooks = int_member(lv, "hooks", -1);

        if (lstat(o->hook_path, &st) < 0) {
                vsm_check_add(r, "hook", o->hook_path, VSM_CHECK_FAIL, fix_install, "missing: %s", g_strerror(errno));
                return;
        }
        if (S_ISLNK(st.st_mode) && stat(o->hook_path, &st) < 0) {
                vsm_check_add(r, "hook", o->hook_path, VSM_CHECK_FAIL, fix_install, "a dangling symbolic link");
                return;
        }
        if (!S_ISREG(st.st_mode)) {
                vsm_check_add(r, "hook", o->hook_path, VSM_CHECK_FAIL, fix_install, "not a regular file");
                return;
        }
        if (!(st.st_mode & 0100)) {
                g_autofree char *fix = g_strdup_printf("chmod 0755 %s, then restart libvirtd", o->hook_path);

                vsm_check_add(r, "hook", o->hook_path, VSM_CHECK_FAIL, fix,
                              "not executable (mode %04o): libvirt ignores it", (unsigned) (st.st_mode & 07777));
                return;
        }
        if (st.st_uid != 0 || (st.st_mode & 022)) {
                g_autofree char *fix = g_strdup_printf("chown root: %s && chmod go-w %s", o->hook_path, o->hook_path);

                vsm_check_add(r, "hook", o->hook_path, VSM_CHECK_FAIL, fix,
                              "owned by uid %u with mode %04o: libvirtd runs it as root, so only root may change it",
                              (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
                return;
        }
        /* libvirt looks at its hooks when it starts: a hook installed later
         * is not called until libvirtd (or virtqemud) restarts. */
        for (const char *const *p = o->libvirtd_pidfiles; *p && !pid; p++) {
                pid = pidfile_process(*p, daemon_names);
                which = *p;
        }
        if (!pid) {
                vsm_check_add(r, "hook", o->hook_path, VSM_CHECK_OK, NULL,
                              "installed; libvirtd is not running (it reads the hook when it starts)");
                return;
        }
        if (hooks > 0) {
                vsm_check_add(r, "hook", o->hook_path, VSM_CHECK_OK, NULL,
                              "installed; vsimigd has received %" G_GINT64_FORMAT " hook call(s)", hooks);
                return;
        }
        if (!process_start_time(pid, &start)) {
                vsm_check_add(r, "hook", o->hook_path, VSM_CHECK_WARN,
                              "systemctl restart libvirtd, unless it surely started after the hook was installed",
                              "installed; cannot read the start time of libvirt pid %d (%s)", (int) pid, which);
                return;
        }
        /* ctime: creation, replacement or chmod; /proc start times are
         * precise to a second (btime), hence the slack. */
        hook_time = (double) st.st_ctim.tv_sec + st.st_ctim.tv_nsec / 1e9;
        if (hook_time > start + 1.0) {
                g_autoptr(GDateTime) h = g_date_time_new_from_unix_local((gint64) hook_time);
                g_autoptr(GDateTime) s = g_date_time_new_from_unix_local((gint64) start);
                g_autofree char *hs = h ? g_date_time_format(h, "%F %T") : g_strdup("?");
                g_autofree char *ss = s ? g_date_time_format(s, "%F %T") : g_strdup("?");

                vsm_check_add(r, "hook", o->hook_path, VSM_CHECK_FAIL,
                              "restart libvirtd: systemctl restart libvirtd (or virtqemud); libvirt reads hooks "
                              "only when it starts",
                              "installed at %s, after libvirt (pid %d, %s) started at %s: libvirt does not call it",
                              hs, (int) pid, which, ss);
                return;
        }
        vsm_check_add(r, "hook", o->hook_path, VSM_CHECK_OK, NULL, "installed before libvirt (pid %d) started",
                      (int) pid);
}

/* ---- the peer channel ---- */

static gboolean tcp_reachable(const char *endpoint, char **ret_error) {
        g_autoptr(GSocketClient) client = g_socket_client_new();
        g_autoptr(GSocketConnection) conn = NULL;
        g_autoptr(GError) error = NULL;

        g_socket_client_set_timeout(client, (CONNECT_TIMEOUT_MS + 999) / 1000);
        /* endpoint was validated by the config parser as an IP literal */
        conn = g_socket_client_connect_to_host(client, endpoint, 0, NULL, &error);
        if (!conn) {
                *ret_error = g_strdup(error->message);
                return FALSE;
        }
        g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
        return TRUE;
}

static void check_key_file(VsmCheckReport *r, const char *path) {
        g_autofree char *fix_new = g_strdup_printf(
                "copy the cluster key to %s (make one with: vsimigctl peer-key new %s; the same file on every node)",
                path, path);
        struct stat st;

        if (lstat(path, &st) < 0) {
                vsm_check_add(r, "peer", path, VSM_CHECK_FAIL, fix_new, "[peer] key-file: %s", g_strerror(errno));
                return;
        }
        if (!S_ISREG(st.st_mode)) {
                vsm_check_add(r, "peer", path, VSM_CHECK_FAIL, fix_new, "[peer] key-file is not a regular file");
                return;
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                g_autofree char *fix = g_strdup_printf("chown root: %s", path);

                vsm_check_add(r, "peer", path, VSM_CHECK_FAIL, fix, "[peer] key-file is owned by uid %u, not root",
                              (unsigned) st.st_uid);
                return;
        }
        if (st.st_mode & 077) {
                g_autofree char *fix = g_strdup_printf("chmod 0600 %s (and make a new key: others may have read it)",
                                                       path);

                vsm_check_add(r, "peer", path, VSM_CHECK_FAIL, fix,
                              "[peer] key-file has group or other permissions (mode %04o): vsimigd refuses it",
                              (unsigned) (st.st_mode & 07777));
                return;
        }
        vsm_check_add(r, "peer", path, VSM_CHECK_OK, NULL, "[peer] key-file present, mode %04o, owner uid %u",
                      (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid);
}

static void check_peer(VsmCheckReport *r, const VsmConfig *c, const char *conf_path, JsonObject *status) {
        JsonObject *peer = obj_member(obj_member(obj_member(status, "libvirt"), "carry"), "peer");
        const char *target;

        if (!c->peer_listen) {
                g_autofree char *fix = g_strdup_printf(
                        "set [peer] listen, advertise and key-file in %s (man 5 vsimigd.conf)", conf_path);

                vsm_check_add(r, "peer", NULL, VSM_CHECK_WARN, fix,
                              "[peer] listen is not set: no network state is carried to or from this host");
                return;
        }
        if (c->peer_key_file)
                check_key_file(r, c->peer_key_file);
        if (c->peer_tls) {
                const char *files[] = { c->peer_tls_ca, c->peer_tls_cert, c->peer_tls_key, c->peer_tls_client_cert,
                                        c->peer_tls_client_key };
                guint missing = 0;

                for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
                        if (files[i] && access(files[i], F_OK) < 0) {
                                vsm_check_add(r, "peer", files[i], VSM_CHECK_FAIL,
                                              "install libvirt's TLS PKI files (the ones migrations use), or set "
                                              "the [peer] tls-* paths",
                                              "TLS file: %s", g_strerror(errno));
                                missing++;
                        }
                if (!missing)
                        vsm_check_add(r, "peer", NULL, VSM_CHECK_OK, NULL, "TLS files present");
        }
        if (c->peer_insecure && !c->peer_key_file && !c->peer_tls) {
                g_autofree char *fix = g_strdup_printf(
                        "vsimigctl peer-key new /etc/vsimig/peer.key, copy it to every node, set [peer] key-file "
                        "and remove insecure in %s", conf_path);

                vsm_check_add(r, "peer", NULL, VSM_CHECK_WARN, fix,
                              "[peer] insecure = true: anyone who reaches %s can send network state", c->peer_listen);
        } else if (c->peer_insecure) {
                g_autofree char *fix = g_strdup_printf("remove [peer] insecure from %s", conf_path);

                vsm_check_add(r, "peer", NULL, VSM_CHECK_WARN, fix,
                              "[peer] insecure = true next to key-file or tls: it is ignored but misleading");
        }
        if (!status)
                return;
        if (!peer) {
                vsm_check_add(r, "peer", c->peer_listen, VSM_CHECK_FAIL, "systemctl restart vsimigd",
                              "the running vsimigd has no peer listener (started with another config?)");
                return;
        }
        if (g_strcmp0(str_member(peer, "listener"), "up") != 0) {
                g_autofree char *fix = g_strdup_printf(
                        "free the port or correct [peer] listen in %s; vsimigd retries by itself", conf_path);
                const char *e = str_member(peer, "bind_error");

                vsm_check_add(r, "peer", c->peer_listen, VSM_CHECK_FAIL, fix, "the listener is not bound: %s",
                              e ? e : "no error given");
                return;
        }
        target = c->peer_advertise ? c->peer_advertise : c->peer_listen;
        {
                g_autofree char *err = NULL;

                if (!tcp_reachable(target, &err)) {
                        g_autofree char *fix = g_strdup_printf(
                                "check that %s is an address of this host and that the firewall lets the peers "
                                "reach it (TCP)", target);

                        vsm_check_add(r, "peer", target, VSM_CHECK_FAIL, fix,
                                      "listener bound, but a TCP connect to the advertised address failed: %s", err);
                        return;
                }
        }
        vsm_check_add(r, "peer", target, VSM_CHECK_OK, NULL, "listener bound and reachable (%s)",
                      c->peer_tls ? "tls" : c->peer_key_file ? "key-file" : "insecure");
}

/* ---- lldpad ---- */

static gboolean same_netns(pid_t pid) {
        g_autofree char *path = g_strdup_printf("/proc/%d/ns/net", (int) pid);
        struct stat a, b;

        if (stat("/proc/self/ns/net", &a) < 0 || stat(path, &b) < 0)
                return FALSE;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Whether a process runs as root (its /proc directory's owner is its
 * effective uid): a local user may name a process "lldpad" and give it
 * any -f and any root directory, but cannot make it root's. */
static gboolean proc_is_root(pid_t pid) {
        g_autofree char *path = g_strdup_printf("/proc/%d", (int) pid);
        struct stat st;

        return stat(path, &st) == 0 && st.st_uid == 0;
}

/* lldpad in our network namespace, running as root: its pid file, else a
 * bounded scan of /proc (lldpad may run with another /run, e.g. in a
 * container). */
static pid_t find_lldpad(const char *pidfile) {
        static const char *const names[] = { "lldpad", NULL };
        g_autoptr(GDir) dir = NULL;
        const char *e;
        pid_t pid = pidfile_process(pidfile, names);
        guint n = 0;

        if (pid && same_netns(pid) && proc_is_root(pid))
                return pid;
        dir = g_dir_open("/proc", 0, NULL);
        while (dir && (e = g_dir_read_name(dir)) && n++ < PROC_SCAN_MAX) {
                g_autofree char *path = NULL, *comm = NULL, *err = NULL;
                guint64 v;
                gsize len;

                if (!g_ascii_string_to_unsigned(e, 10, 1, INT_MAX, &v, NULL))
                        continue;
                path = g_strdup_printf("/proc/%s/comm", e);
                if (!read_small(path, 64, &comm, &len, &err))
                        continue;
                if (g_str_equal(g_strstrip(comm), "lldpad") && same_netns((pid_t) v) && proc_is_root((pid_t) v))
                        return (pid_t) v;
        }
        return 0;
}

/* lldpad's config file: "-f PATH" on its command line, else the default;
 * read through /proc/PID/root so that its own mount namespace counts. */
static char *lldpad_conf_path(pid_t pid) {
        g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int) pid), *cmd = NULL, *err = NULL;
        const char *conf = "/var/lib/lldpad/lldpad.conf";
        gsize len;

        if (read_small(path, 16384, &cmd, &len, &err)) {
                for (gsize off = 0; off < len;) {
                        const char *arg = cmd + off;
                        gsize alen = strnlen(arg, len - off);

                        if (alen == len - off)
                                break;  /* not NUL-terminated */
                        if (g_str_equal(arg, "-f") && off + alen + 1 < len) {
                                const char *next = arg + alen + 1;

                                if (strnlen(next, len - off - alen - 1) < len - off - alen - 1 &&
                                    g_path_is_absolute(next))
                                        conf = next;
                                break;
                        }
                        if (g_str_has_prefix(arg, "-f") && g_path_is_absolute(arg + 2)) {
                                conf = arg + 2;
                                break;
                        }
                        off += alen + 1;
                }
        }
        return g_strdup_printf("/proc/%d/root%s", (int) pid, conf);
}

static void check_lldpad(VsmCheckReport *r, const VsmConfig *c, const VsmCheckOptions *o) {
        g_autofree char *conf = NULL, *text = NULL, *err = NULL;
        pid_t pid = find_lldpad(o->lldpad_pidfile);
        gboolean any = FALSE;
        gsize len;

        if (!pid) {
                vsm_check_add(r, "lldpad", NULL, VSM_CHECK_OK, NULL, "not running in this network namespace");
                return;
        }
        conf = lldpad_conf_path(pid);
        if (!read_small(conf, 1024 * 1024, &text, &len, &err)) {
                vsm_check_add(r, "lldpad", NULL, VSM_CHECK_WARN,
                              "stop lldpad if nothing else needs it: systemctl disable --now lldpad",
                              "runs (pid %d); cannot read its config %s: %s", (int) pid, conf, err);
                return;
        }
        for (char **u = c->uplinks; *u; u++) {
                g_autoptr(GError) error = NULL;
                VsmLldpadPort port;

                if (!vsm_check_lldpad_conf_port(text, len, *u, &port, &error)) {
                        vsm_check_add(r, "lldpad", *u, VSM_CHECK_WARN,
                                      "stop lldpad if nothing else needs it: systemctl disable --now lldpad",
                                      "runs (pid %d); its config %s does not scan: %s", (int) pid, conf,
                                      error->message);
                        return;
                }
                if (port.evb_tx) {
                        g_autofree char *fix = g_strdup_printf(
                                "lldptool -T -i %s -V evb enableTx=no (or: systemctl disable --now lldpad)", *u);

                        vsm_check_add(r, "lldpad", *u, VSM_CHECK_FAIL, fix,
                                      "lldpad (pid %d) runs EVB/VDP%s%s%s on this uplink: it answers the bridge "
                                      "in vsimigd's place", (int) pid, port.evbmode[0] ? " (evbmode " : "",
                                      port.evbmode, port.evbmode[0] ? ")" : "");
                        any = TRUE;
                } else if (port.admin_status > 0) {
                        g_autofree char *fix = g_strdup_printf("lldptool -L -i %s adminStatus=disabled", *u);

                        vsm_check_add(r, "lldpad", *u, VSM_CHECK_WARN, fix,
                                      "lldpad (pid %d) runs LLDP on this uplink (adminStatus %d): the bridge sees "
                                      "two LLDP agents on one port", (int) pid, port.admin_status);
                        any = TRUE;
                }
        }
        if (!any)
                vsm_check_add(r, "lldpad", NULL, VSM_CHECK_WARN,
                              "stop lldpad if nothing else needs it: systemctl disable --now lldpad",
                              "runs (pid %d), not configured on the uplinks: it must never enable EVB on them",
                              (int) pid);
}

/* ---- time ---- */

static void check_time(VsmCheckReport *r) {
        struct timex tx = { .modes = 0 };
        g_autofree char *text = NULL;
        int ret = adjtimex(&tx);
        VsmCheckLevel level = vsm_check_time_verdict(ret, tx.status, tx.maxerror, &text);

        vsm_check_add(r, "time", NULL, level,
                      "synchronise the clock with NTP (systemctl enable --now systemd-timesyncd, or chrony)", "%s",
                      text);
}

/* ---- the daemon's health counters ---- */

static void add_counter(GString *s, JsonObject *o, const char *name, const char *prefix) {
        gint64 v = int_member(o, name, 0);

        if (v > 0)
                g_string_append_printf(s, "%s%s%s=%" G_GINT64_FORMAT, s->len ? ", " : "", prefix, name, v);
}

static void check_health(VsmCheckReport *r, JsonObject *status) {
        static const char *const uplink_errors[] = { "rx_bad", "tx_errors", "tx_ecp_failures", NULL };
        static const char *const carry_errors[] = { "metadata_errors", "mdb_failed", "peer_auth_failures",
                                                     "replay_refused", "switchovers_refused", NULL };
        JsonObject *lv = obj_member(status, "libvirt"), *carry = obj_member(lv, "carry");
        JsonNode *ups = json_object_get_member(status, "uplinks");
        g_autoptr(GString) s = g_string_new(NULL);
        gint64 loop_us = int_member(status, "loop_max_dispatch_us", -1);

        if (ups && JSON_NODE_HOLDS_ARRAY(ups)) {
                JsonArray *a = json_node_get_array(ups);

                for (guint i = 0; i < json_array_get_length(a) && i < 1024; i++) {
                        JsonNode *e = json_array_get_element(a, i);
                        JsonObject *u = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
                        g_autofree char *prefix = NULL;

                        if (!u)
                                continue;
                        prefix = g_strdup_printf("%s.", str_member(u, "name") ? str_member(u, "name") : "?");
                        for (const char *const *n = uplink_errors; *n; n++)
                                add_counter(s, obj_member(u, "counters"), *n, prefix);
                }
        }
        add_counter(s, lv, "hook_errors", "");
        for (const char *const *n = carry_errors; *n; n++)
                add_counter(s, carry, *n, "");
        if (loop_us > 100000)
                g_string_append_printf(s, "%sloop_max_dispatch_us=%" G_GINT64_FORMAT, s->len ? ", " : "", loop_us);
        if (s->len) {
                vsm_check_add(r, "health", NULL, VSM_CHECK_WARN,
                              "read why in the log (journalctl -u vsimigd) and vsimigctl status; counters reset "
                              "when vsimigd restarts",
                              "error counters are not zero: %s", s->str);
                return;
        }
        vsm_check_add(r, "health", NULL, VSM_CHECK_OK, NULL, "no error counted since vsimigd started %" G_GINT64_FORMAT
                      " s ago", int_member(status, "uptime_s", 0));
}

VsmCheckReport *vsm_check_run(const VsmCheckOptions *o) {
        VsmCheckReport *r = vsm_check_report_new();
        g_autoptr(VsmConfig) c = check_config(r, o);
        g_autoptr(JsonObject) status = NULL;
        g_autofree char *err = NULL;
        const char *sock = o->socket_path ? o->socket_path : c->control_socket;

        status = vsm_ctl_request(sock, VSIMIG_METHOD_STATUS, o->timeout_ms, &err);
        if (status)
                vsm_check_add(r, "daemon", sock, VSM_CHECK_OK, NULL, "vsimigd %s (pid %" G_GINT64_FORMAT
                              ") answers, up %" G_GINT64_FORMAT " s", str_member(status, "version") ?
                              str_member(status, "version") : "?", int_member(status, "pid", 0),
                              int_member(status, "uptime_s", 0));
        else
                vsm_check_add(r, "daemon", sock, VSM_CHECK_FAIL,
                              "systemctl start vsimigd (journalctl -u vsimigd says why it stopped)",
                              "vsimigd does not answer: %s; the checks that ask it are left out", err);
        if (!c->uplinks[0])
                vsm_check_add(r, "uplink", NULL, VSM_CHECK_FAIL, "name the uplinks in [vdp] uplinks",
                              "no uplink configured: vsimigd speaks VDP nowhere");
        for (char **u = c->uplinks; *u; u++)
                check_uplink(r, o->config_path, *u, status);
        check_libvirt(r, c, o->config_path, status);
        check_hook(r, o, status);
        check_peer(r, c, o->config_path, status);
        check_lldpad(r, c, o);
        check_time(r);
        if (status)
                check_health(r, status);
        return r;
}

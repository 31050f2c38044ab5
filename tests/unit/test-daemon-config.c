/* Unit tests for the GKeyFile config loader (daemon/config.c). */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/config.h"
#include "test-util.h"

static void test_defaults(void) {
        g_autoptr(VsmConfig) c = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_true(vsm_config_load_data("", 0, &c, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(g_strv_length(c->uplinks), ==, 0);
        g_assert_cmpstr(c->manager_id, ==, "vsimig");
        g_assert_cmpuint(c->ecp_retries, ==, 3);
        g_assert_cmpuint(c->ecp_rte, ==, 8);
        g_assert_cmpuint(c->rwd, ==, 20);
        g_assert_cmpuint(c->rka, ==, 20);
        g_assert_cmpuint(c->lldp_interval_sec, ==, 30);
        g_assert_false(c->qbg_serve_libvirt);
        g_assert_cmpstr(c->qbg_pid_file, ==, "/run/lldpad.pid");
        g_assert_true(g_str_has_suffix(c->control_socket, "/vsimig/vsimigd.sock"));
        g_assert_null(c->control_group);
        g_assert_null(c->peer_listen);
        g_assert_null(c->peer_advertise);
        /* TLS off; libvirt's PKI paths ready for tls = true */
        g_assert_false(c->peer_tls);
        g_assert_cmpstr(c->peer_tls_ca, ==, "/etc/pki/CA/cacert.pem");
        g_assert_cmpstr(c->peer_tls_cert, ==, "/etc/pki/libvirt/servercert.pem");
        g_assert_cmpstr(c->peer_tls_key, ==, "/etc/pki/libvirt/private/serverkey.pem");
        g_assert_cmpstr(c->peer_tls_client_cert, ==, "/etc/pki/libvirt/clientcert.pem");
        g_assert_cmpstr(c->peer_tls_client_key, ==, "/etc/pki/libvirt/private/clientkey.pem");
        g_assert_true(c->learn_enabled);
        g_assert_cmpuint(c->metadata_interval_ms, ==, 1000);
        g_assert_true(c->replay_enabled);
        g_assert_true(c->replay_mdb);
        g_assert_true(c->replay_query);
        g_assert_true(c->replay_leaves);
}

static void test_full(void) {
        static const char text[] =
                "# comment\n"
                "[vdp]\n"
                "uplinks = eth0; bond0 ;\n"
                "manager-id = 6d1f3a9e-0c1b-4f7a-9e53-2a4b8c6d0e1f\n"
                "ecp-retries = 5\n"
                "ecp-rte = 10\n"
                "resource-wait-exp = 21\n"
                "keep-alive-exp = 19\n"
                "max-vsis = 100\n"
                "[lldp]\n"
                "interval = 5\n"
                "[control]\n"
                "socket = /tmp/x/vsimigd.sock\n"
                "group = libvirt\n"
                "max-clients = 8\n"
                "[peer]\n"
                "listen = [::]:7788\n"
                "advertise = [2001:db8::a]:7788\n"
                "tls = true\n"
                "tls-ca = /srv/pki/ca.pem\n"
                "tls-cert = /srv/pki/server.pem\n"
                "tls-key = /srv/pki/server.key\n"
                "tls-client-cert = /srv/pki/client.pem\n"
                "tls-client-key = /srv/pki/client.key\n"
                "[learn]\n"
                "enabled = false\n"
                "metadata-interval-ms = 250\n"
                "[replay]\n"
                "enabled = false\n"
                "mdb = false\n"
                "query-after-resume = false\n"
                "leave-old-port = false\n"
                "vlan = br0:100, eth1 : none,br-trunk:4094\n";
        g_autoptr(VsmConfig) c = NULL;
        guint vid = 77;
        g_autoptr(GError) error = NULL;

        g_assert_true(vsm_config_load_data(text, strlen(text), &c, &error));
        g_assert_no_error(error);
        g_assert_cmpuint(g_strv_length(c->uplinks), ==, 2);
        g_assert_cmpstr(c->uplinks[0], ==, "eth0");
        g_assert_cmpstr(c->uplinks[1], ==, "bond0");
        g_assert_cmpstr(c->manager_id, ==, "6d1f3a9e-0c1b-4f7a-9e53-2a4b8c6d0e1f");
        g_assert_cmpuint(c->ecp_retries, ==, 5);
        g_assert_cmpuint(c->ecp_rte, ==, 10);
        g_assert_cmpuint(c->rwd, ==, 21);
        g_assert_cmpuint(c->rka, ==, 19);
        g_assert_cmpuint(c->max_vsis, ==, 100);
        g_assert_cmpuint(c->lldp_interval_sec, ==, 5);
        g_assert_cmpstr(c->control_socket, ==, "/tmp/x/vsimigd.sock");
        g_assert_cmpstr(c->control_group, ==, "libvirt");
        g_assert_cmpuint(c->control_max_clients, ==, 8);
        g_assert_cmpstr(c->peer_listen, ==, "[::]:7788");
        g_assert_cmpstr(c->peer_advertise, ==, "[2001:db8::a]:7788");
        g_assert_true(c->peer_tls);
        g_assert_cmpstr(c->peer_tls_ca, ==, "/srv/pki/ca.pem");
        g_assert_cmpstr(c->peer_tls_cert, ==, "/srv/pki/server.pem");
        g_assert_cmpstr(c->peer_tls_key, ==, "/srv/pki/server.key");
        g_assert_cmpstr(c->peer_tls_client_cert, ==, "/srv/pki/client.pem");
        g_assert_cmpstr(c->peer_tls_client_key, ==, "/srv/pki/client.key");
        g_assert_false(c->learn_enabled);
        g_assert_cmpuint(c->metadata_interval_ms, ==, 250);
        g_assert_false(c->replay_enabled);
        g_assert_false(c->replay_mdb);
        g_assert_false(c->replay_query);
        g_assert_false(c->replay_leaves);
        g_assert_true(vsm_config_vlan_for(c, "br0", &vid));
        g_assert_cmpuint(vid, ==, 100);
        g_assert_true(vsm_config_vlan_for(c, "eth1", &vid));
        g_assert_cmpuint(vid, ==, 0);
        g_assert_true(vsm_config_vlan_for(c, "br-trunk", &vid));
        g_assert_cmpuint(vid, ==, 4094);
        vid = 77;
        g_assert_false(vsm_config_vlan_for(c, "br1", &vid));
        g_assert_cmpuint(vid, ==, 77);
}

static void test_peer_listen_ok(void) {
        static const char *const good[] = {
                "[peer]\nlisten = 10.77.9.1:7788\ninsecure = true\n",
                /* the TLS files are only checked when tls = true (and read at start) */
                "[peer]\ntls = false\ntls-ca = relative.pem\n",
                "[peer]\nlisten = 10.77.9.1:7788\ntls = true\n",
                "[peer]\nlisten = [fd00::1]:1\ninsecure = true\n",
                "[peer]\nlisten = 0.0.0.0:65535\nadvertise = 10.77.9.1:65535\ninsecure = true\n",
                /* a destination-only host needs no listener, so no key */
                "[peer]\nadvertise = 10.77.9.1:7788\n",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
                g_autoptr(VsmConfig) c = NULL;
                g_autoptr(GError) error = NULL;

                g_assert_true(vsm_config_load_data(good[i], strlen(good[i]), &c, &error));
                g_assert_no_error(error);
        }
}

typedef struct BadCase {
        const char *text;
        const char *needle;     /* expected in the error message */
} BadCase;

static const BadCase bad_cases[] = {
        { "[vdp]\nuplink = eth0\n", "unknown key 'uplink'" },
        { "[vdp]\nuplink = eth0\nmanager = x\n[vpd]\na = 1\n",
          "3 unknown sections or keys: [vdp] uplink, [vdp] manager, [vpd]" },
        { "[vpd]\nuplinks = eth0\n", "unknown section [vpd]" },
        { "[vdp]\necp-retries = 8\n", "ecp-retries" },
        { "[vdp]\necp-retries = -1\n", "ecp-retries" },
        { "[vdp]\necp-rte = x\n", "ecp-rte" },
        { "[vdp]\nmanager-id = this-is-longer-than-16\n", "manager-id" },
        { "[vdp]\nuplinks = averyveryverylongname0\n", "not an interface name" },
        { "[vdp]\nuplinks = eth0;eth0\n", "listed twice" },
        { "[vdp]\nuplinks = ../x\n", "not an interface name" },
        { "[control]\nsocket = relative.sock\n", "absolute path" },
        { "[lldp]\ninterval = 0\n", "interval" },
        { "[vdp]\nmax-vsis = 999999999\n", "max-vsis" },
        { "[peer]\nlisten = 10.77.9.1\n", "[peer] listen" },
        { "[peer]\nlisten = 10.77.9.1:0\n", "[peer] listen" },
        { "[peer]\nlisten = 10.77.9.1:65536\n", "[peer] listen" },
        { "[peer]\nlisten = host-a:7788\n", "host names are refused" },
        { "[peer]\nlisten = 10.77.9.1:7788\ninsecure = true\nadvertise = host-a.example:7788\n",
          "host names are refused" },
        { "[peer]\nlisten = 10.77.9.1:7788\ninsecure = true\nadvertise = localhost:7788\n", "[peer] advertise" },
        { "[peer]\nlisten = 0.0.0.0:7788\ninsecure = true\nadvertise = 127.0.0.1:7788\n", "not an address other hosts" },
        { "[peer]\nlisten = 0.0.0.0:7788\ninsecure = true\nadvertise = 0.0.0.0:7788\n", "not an address other hosts" },
        { "[peer]\nlisten = [::]:7788\ninsecure = true\nadvertise = [::1]:7788\n", "not an address other hosts" },
        { "[peer]\nlisten = [::]:7788\ninsecure = true\nadvertise = [fe80::1]:7788\n", "not an address other hosts" },
        { "[peer]\nlisten = 0.0.0.0:7788\ninsecure = true\nadvertise = 239.1.2.3:7788\n", "not an address other hosts" },
        /* secure by default: a listener needs a key, TLS, or the explicit opt-out */
        { "[peer]\nlisten = 10.77.9.1:7788\n", "vsimigctl peer-key new" },
        { "[peer]\nlisten = 10.77.9.1:7788\ninsecure = false\n", "key-file" },
        { "[peer]\nlisten = 10.77.9.1:7788\nkey-file = relative.key\n", "absolute path" },
        { "[peer]\nlisten = 10.77.9.1:7788\nkey-file = /nonexistent/peer.key\n", "/nonexistent/peer.key" },
        { "[peer]\ninsecure = maybe\n", "[peer] insecure" },
        { "[peer]\nlisten = fd00::1:7788\n", "[peer] listen" },
        { "[peer]\nlisten = [fd00::1:7788\n", "[peer] listen" },
        { "[peer]\nlisten = 0.0.0.0:7788\n", "advertise" },
        { "[peer]\nlisten = 10.77.9.1:7788\ninsecure = true\nadvertise = a b:1\n", "[peer] advertise" },
        { "[peer]\nport = 7788\n", "unknown key 'port'" },
        { "[peer]\ntls = yes\n", "[peer] tls" },
        { "[peer]\ntls = true\ntls-ca = cacert.pem\n", "[peer] tls-ca" },
        { "[peer]\ntls = true\ntls-key =\n", "[peer] tls-key" },
        { "[peer]\ntls = true\ntls-client-cert = ./clientcert.pem\n", "[peer] tls-client-cert" },
        { "[peer]\ntls-cert = /x.pem\ntls-certificate = /x.pem\n", "unknown key 'tls-certificate'" },
        { "[replay]\nenabled = maybe\n", "enabled" },
        { "[replay]\nvlan = br0\n", "[replay] vlan: 'br0' is not DEVICE:VID" },
        { "[replay]\nvlan = br0:0\n", "[replay] vlan: br0: VID '0' is not 1-4094 or none" },
        { "[replay]\nvlan = br0:4095\n", "VID '4095'" },
        { "[replay]\nvlan = br0:+5\n", "VID '+5'" },
        { "[replay]\nvlan = br0:10x\n", "VID '10x'" },
        { "[replay]\nvlan = :10\n", "is not DEVICE:VID" },
        { "[replay]\nvlan = abcdefghijklmnop:10\n", "is not DEVICE:VID" },
        { "[replay]\nvlan = br0:10,br0:11\n", "[replay] vlan: br0 given twice" },
        { "[learn]\nmetadata-interval-ms = 600001\n", "metadata-interval-ms" },
        { "not a key file", NULL },
        { "[vdp]\n\xff\xfe = 1\n", NULL },
};

static void test_bad(gconstpointer data) {
        const BadCase *bc = data;
        g_autoptr(VsmConfig) c = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_false(vsm_config_load_data(bc->text, strlen(bc->text), &c, &error));
        g_assert_null(c);
        g_assert_error(error, VSM_ERROR, VSM_ERROR_CONFIG);
        if (bc->needle && !strstr(error->message, bc->needle))
                g_error("error '%s' does not mention '%s'", error->message, bc->needle);
}

/* A key file with the given mode and size in a fresh directory; NULL
 * contents: size random-ish octets. */
static char *key_file(const char *dir, const char *name, guint mode, gsize size) {
        g_autofree guint8 *buf = g_malloc(size + 1);
        char *path = g_build_filename(dir, name, NULL);

        for (gsize i = 0; i < size; i++)
                buf[i] = (guint8) g_random_int();
        g_assert_true(g_file_set_contents(path, (const char *) buf, (gssize) size, NULL));
        g_assert_cmpint(g_chmod(path, (int) mode), ==, 0);
        return path;
}

static gboolean load_with_key(const char *path, VsmConfig **ret, GError **error) {
        g_autofree char *text = g_strdup_printf("[peer]\nlisten = 10.77.9.1:7788\nkey-file = %s\n", path);

        return vsm_config_load_data(text, strlen(text), ret, error);
}

static void test_key_file(void) {
        g_autofree char *dir = g_dir_make_tmp("vsm-config-key-XXXXXX", NULL);
        static const struct {
                const char *name;
                guint mode;
                gsize size;
                const char *needle;            /* NULL: accepted */
        } cases[] = {
                { "ok-32", 0600, 32, NULL },
                { "ok-4096", 0400, 4096, NULL },
                { "short", 0600, 31, "not 32 to 4096" },
                { "empty", 0600, 0, "not 32 to 4096" },
                { "long", 0600, 4097, "more than 4096" },
                { "group-read", 0640, 32, "chmod 0600" },
                { "other-read", 0604, 32, "chmod 0600" },
                { "group-write", 0620, 32, "chmod 0600" },
        };

        g_assert_nonnull(dir);
        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *path = key_file(dir, cases[i].name, cases[i].mode, cases[i].size);
                g_autoptr(VsmConfig) c = NULL;
                g_autoptr(GError) error = NULL;
                gboolean ok = load_with_key(path, &c, &error);

                if (!cases[i].needle) {
                        g_assert_no_error(error);
                        g_assert_true(ok);
                        g_assert_nonnull(c->peer_key);
                        g_assert_cmpuint(g_bytes_get_size(c->peer_key), ==, cases[i].size);
                } else {
                        g_assert_false(ok);
                        g_assert_error(error, VSM_ERROR, VSM_ERROR_CONFIG);
                        if (!strstr(error->message, cases[i].needle) || !strstr(error->message, path))
                                g_error("%s: error '%s' does not name the file and '%s'", cases[i].name,
                                        error->message, cases[i].needle);
                }
                (void) g_unlink(path);
        }
        /* Not a regular file. */
        {
                g_autofree char *sub = g_build_filename(dir, "a-dir", NULL);
                g_autoptr(VsmConfig) c = NULL;
                g_autoptr(GError) error = NULL;

                g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
                g_assert_false(load_with_key(sub, &c, &error));
                g_assert_nonnull(strstr(error->message, "not a regular file"));
                (void) g_rmdir(sub);
        }
        /* A symbolic link is not followed (the target's mode is not the link's). */
        {
                g_autofree char *target = key_file(dir, "target", 0600, 32);
                g_autofree char *link = g_build_filename(dir, "link", NULL);
                g_autoptr(VsmConfig) c = NULL;
                g_autoptr(GError) error = NULL;

                g_assert_cmpint(symlink(target, link), ==, 0);
                g_assert_false(load_with_key(link, &c, &error));
                g_assert_nonnull(strstr(error->message, link));
                (void) g_unlink(link);
                (void) g_unlink(target);
        }
        /* Owned by another user: only root can make one. */
        if (geteuid() == 0) {
                g_autofree char *path = key_file(dir, "nobody", 0600, 32);
                g_autoptr(VsmConfig) c = NULL;
                g_autoptr(GError) error = NULL;

                g_assert_cmpint(chown(path, 65534, 65534), ==, 0);
                g_assert_false(load_with_key(path, &c, &error));
                g_assert_nonnull(strstr(error->message, "not root"));
                (void) g_unlink(path);
        }
        g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void test_too_many_uplinks(void) {
        g_autoptr(GString) s = g_string_new("[vdp]\nuplinks = ");
        g_autoptr(VsmConfig) c = NULL;
        g_autoptr(GError) error = NULL;

        for (int i = 0; i <= VSM_CONFIG_UPLINKS_MAX; i++)
                g_string_append_printf(s, "eth%d;", i);
        g_string_append_c(s, '\n');
        g_assert_false(vsm_config_load_data(s->str, s->len, &c, &error));
        g_assert_nonnull(strstr(error->message, "at most"));
}

static void test_missing_file(void) {
        g_autoptr(VsmConfig) c = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_false(vsm_config_load_file("/nonexistent/vsimigd.conf", &c, &error));
        g_assert_error(error, VSM_ERROR, VSM_ERROR_CONFIG);
}

static void test_shipped_example(void) {
        g_autofree char *path = g_build_filename(g_getenv("VSM_SOURCE_ROOT"), "data", "vsimigd.conf", NULL);
        g_autoptr(VsmConfig) c = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_true(vsm_config_load_file(path, &c, &error));
        g_assert_no_error(error);
}

static void test_qbg(void) {
        static const char good[] = "[qbg]\nserve-libvirt = true\npid-file = /tmp/x/lldpad.pid\n";
        static const char *const bad[] = {
                "[qbg]\npid-file = relative.pid\n",
                "[qbg]\nserve-libvirt = maybe\n",
                "[qbg]\nserve_libvirt = true\n",
        };
        g_autoptr(VsmConfig) c = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_true(vsm_config_load_data(good, strlen(good), &c, &error));
        g_assert_no_error(error);
        g_assert_true(c->qbg_serve_libvirt);
        g_assert_cmpstr(c->qbg_pid_file, ==, "/tmp/x/lldpad.pid");
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(VsmConfig) b = NULL;
                g_autoptr(GError) e = NULL;

                g_assert_false(vsm_config_load_data(bad[i], strlen(bad[i]), &b, &e));
                g_assert_nonnull(e);
                g_assert_nonnull(strstr(e->message, "qbg"));
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/config/defaults", test_defaults);
        g_test_add_func("/config/qbg", test_qbg);
        g_test_add_func("/config/full", test_full);
        for (size_t i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
                g_autofree char *name = g_strdup_printf("/config/bad/%zu", i);
                g_test_add_data_func(name, &bad_cases[i], test_bad);
        }
        g_test_add_func("/config/peer-listen", test_peer_listen_ok);
        g_test_add_func("/config/peer-key-file", test_key_file);
        g_test_add_func("/config/too-many-uplinks", test_too_many_uplinks);
        g_test_add_func("/config/missing-file", test_missing_file);
        g_test_add_func("/config/shipped-example", test_shipped_example);
        return g_test_run();
}

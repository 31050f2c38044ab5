/* Unit tests for src/daemon/notify.c: the STATUS= text, and the
 * RELOADING/STOPPING datagrams sent to $NOTIFY_SOCKET (sd_notify(3)). */
#include "build-config.h"

#include <json-glib/json-glib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/notify.h"
#include "test-util.h"

static JsonNode *parse(const char *json) {
        g_autoptr(GError) error = NULL;
        JsonNode *n = json_from_string(json, &error);

        g_assert_no_error(error);
        return n;
}

static void test_status_text(void) {
        static const struct {
                const char *json, *text;
        } t[] = {
                { "{\"libvirt\":{\"enabled\":true,\"connected\":true,\"domains_active\":2,\"hooks\":7,\"events\":31},"
                  "\"uplinks\":[{\"up\":true,\"vsis\":3},{\"up\":false,\"vsis\":1}]}",
                  "uplinks 1/2 up, 4 VSIs; libvirt connected, 2 domains active, 7 hook calls, 31 events" },
                { "{\"libvirt\":{\"enabled\":true,\"connected\":false},\"uplinks\":[]}",
                  "uplinks 0/0 up, 0 VSIs; libvirt connecting, 0 domains active, 0 hook calls, 0 events" },
                { "{\"libvirt\":{\"enabled\":false,\"connected\":false},\"uplinks\":[{\"up\":true,\"vsis\":0}]}",
                  "uplinks 1/1 up, 0 VSIs; libvirt off, 0 domains active, 0 hook calls, 0 events" },
                /* Wrong types and missing members count as zero, never crash. */
                { "{\"libvirt\":[1],\"uplinks\":{\"up\":true}}",
                  "uplinks 0/0 up, 0 VSIs; libvirt off, 0 domains active, 0 hook calls, 0 events" },
                { "[]", "uplinks 0/0 up, 0 VSIs; libvirt off, 0 domains active, 0 hook calls, 0 events" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(t); i++) {
                g_autoptr(JsonNode) n = parse(t[i].json);
                g_autofree char *text = vsm_notify_status_text(n);

                g_assert_cmpstr(text, ==, t[i].text);
        }
}

static char *recv_datagram(int fd) {
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

        g_assert_cmpint(n, >, 0);
        buf[n] = 0;
        return g_strdup(buf);
}

static void test_datagrams(void) {
        g_autofree char *dir = g_dir_make_tmp("vsm-notify-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "notify", NULL);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        g_autofree char *reloading = NULL, *stopping = NULL;
        int fd;

        g_assert_nonnull(dir);
        g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_setenv("NOTIFY_SOCKET", path, TRUE);

        vsm_notify_reloading(NULL);
        reloading = recv_datagram(fd);
        g_assert_true(g_str_has_prefix(reloading, "RELOADING=1\nMONOTONIC_USEC="));
        g_assert_nonnull(strstr(reloading, "\nSTATUS=reloading"));
        g_assert_cmpuint(g_ascii_strtoull(reloading + strlen("RELOADING=1\nMONOTONIC_USEC="), NULL, 10), >, 0);
        vsm_notify_stopping(NULL);
        stopping = recv_datagram(fd);
        g_assert_cmpstr(stopping, ==, "STOPPING=1\nSTATUS=stopping");

        g_unsetenv("NOTIFY_SOCKET");
        close(fd);
        unlink(path);
        rmdir(dir);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/notify/status-text", test_status_text);
        g_test_add_func("/notify/datagrams", test_datagrams);
        return g_test_run();
}

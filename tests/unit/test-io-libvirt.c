/* Unit tests for the libvirt connection's workers (src/io/libvirt.c),
 * against libvirt's in-process test driver (test:///default, one running
 * domain "test"): the connect job hands over the active domains, lookups
 * and <metadata> writes run in the workers and report in the main
 * context, a job cancelled before it ran is dropped without its RPC, an
 * unknown domain is NOT_FOUND. */
#include <string.h>

#include "daemon/config.h"
#include "io/libvirt.h"
#include "test-util.h"

typedef struct Ctx {
        GMainLoop *loop;
        guint connected;
        guint n_domains;
        uint8_t uuid[16];
        char *name;
        VsmLibvirtDomain *dom;
        GError *error;
        gboolean done;
        gboolean ok;
} Ctx;

static void on_connected(VsmLibvirt *lv, GPtrArray *domains, gpointer user_data) {
        Ctx *c = user_data;

        c->connected++;
        c->n_domains = domains->len;
        if (domains->len > 0) {
                VsmLibvirtDomain *d = domains->pdata[0];

                memcpy(c->uuid, d->uuid, 16);
                c->name = g_strdup(d->name);
        }
        g_main_loop_quit(c->loop);
}

static void on_event(VsmLibvirt *lv, const VsmLibvirtEvent *ev, gpointer user_data) {
}

static gboolean on_timeout(gpointer user_data) {
        g_error("timed out waiting for libvirt's test driver");
        return G_SOURCE_REMOVE;
}

static void run(Ctx *c) {
        guint t = g_timeout_add_seconds(20, on_timeout, c);

        g_main_loop_run(c->loop);
        g_source_remove(t);
}

static void on_domain(GObject *source, GAsyncResult *result, gpointer user_data) {
        Ctx *c = user_data;

        g_clear_pointer(&c->dom, vsm_libvirt_domain_free);
        g_clear_error(&c->error);
        c->dom = vsm_libvirt_get_domain_finish(result, &c->error);
        c->done = TRUE;
        g_main_loop_quit(c->loop);
}

static void on_metadata(GObject *source, GAsyncResult *result, gpointer user_data) {
        Ctx *c = user_data;

        g_clear_error(&c->error);
        c->ok = vsm_libvirt_set_metadata_finish(result, &c->error);
        c->done = TRUE;
        g_main_loop_quit(c->loop);
}

static gint64 worker_counter(VsmLibvirt *lv, const char *worker, const char *name) {
        g_autoptr(JsonNode) n = vsm_libvirt_workers_json(lv);

        return json_object_get_int_member(json_object_get_object_member(json_node_get_object(n), worker), name);
}

static void test_workers(void) {
        static const VsmLibvirtCallbacks cb = { .connected = on_connected, .event = on_event };
        Ctx c = { .loop = g_main_loop_new(NULL, FALSE) };
        g_autoptr(VsmLibvirt) lv = NULL;
        g_autoptr(GCancellable) cancelled = g_cancellable_new();
        static const uint8_t nobody[16] = { 0xde, 0xad, 0xbe, 0xef };

        lv = vsm_libvirt_new("test:///default", &cb, &c);
        g_assert_false(vsm_libvirt_is_connected(lv));
        run(&c);
        g_assert_cmpuint(c.connected, ==, 1);
        g_assert_true(vsm_libvirt_is_connected(lv));
        g_assert_cmpuint(c.n_domains, ==, 1);
        g_assert_cmpstr(c.name, ==, "test");
        g_assert_cmpint(worker_counter(lv, "rpc", "ran"), ==, 1);

        /* a lookup in the rpc worker */
        g_assert_true(vsm_libvirt_get_domain_async(lv, c.uuid, NULL, on_domain, &c));
        run(&c);
        g_assert_no_error(c.error);
        g_assert_nonnull(c.dom);
        g_assert_cmpstr(c.dom->name, ==, "test");
        g_assert_nonnull(strstr(c.dom->xml, "<domain"));

        /* an unknown domain */
        c.done = FALSE;
        g_assert_true(vsm_libvirt_get_domain_async(lv, nobody, NULL, on_domain, &c));
        run(&c);
        g_assert_null(c.dom);
        g_assert_error(c.error, VSM_ERROR, VSM_ERROR_NOT_FOUND);

        /* cancelled before the worker took it: dropped, never run */
        g_cancellable_cancel(cancelled);
        c.done = FALSE;
        g_assert_true(vsm_libvirt_get_domain_async(lv, c.uuid, cancelled, on_domain, &c));
        run(&c);
        g_assert_error(c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
        g_assert_cmpint(worker_counter(lv, "rpc", "dropped"), ==, 1);
        g_assert_cmpint(worker_counter(lv, "rpc", "ran"), ==, 3);

        /* a <metadata> write in the metadata worker, then read back */
        c.done = FALSE;
        g_assert_true(vsm_libvirt_set_metadata_async(lv, c.uuid, "<state gen='7'/>", "vsmt",
                                                     "https://vsimig.dev/xmlns/test/1", NULL, on_metadata, &c));
        run(&c);
        g_assert_no_error(c.error);
        g_assert_true(c.ok);
        g_assert_cmpint(worker_counter(lv, "metadata", "ran"), ==, 1);
        g_assert_cmpint(worker_counter(lv, "rpc", "ran"), ==, 3);
        g_assert_true(vsm_libvirt_get_domain_async(lv, c.uuid, NULL, on_domain, &c));
        run(&c);
        g_assert_no_error(c.error);
        g_assert_nonnull(strstr(c.dom->xml, "https://vsimig.dev/xmlns/test/1"));

        g_clear_pointer(&lv, vsm_libvirt_free);
        g_clear_pointer(&c.dom, vsm_libvirt_domain_free);
        g_free(c.name);
        g_main_loop_unref(c.loop);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/io/libvirt/workers", test_workers);
        return g_test_run();
}

/* The bridge mdb over rtnetlink (io/mdb.c) against the real kernel, in a
 * network namespace of the test's own (unshare(CLONE_NEWNET); everything
 * goes away with the process): a bridge with multicast snooping and a veth
 * port that is up with carrier.  Adds, lists and deletes an IPv4 and an
 * IPv6 temp entry and a permanent one, cross-checks with `bridge mdb show`,
 * and pins the errno of each refusal: not a port, no carrier, snooping off,
 * no such bridge, deleting an absent entry.
 *
 * Needs root (CAP_NET_ADMIN).  Without unshare the test is skipped, unless
 * CI=true. */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include "io/mdb.h"
#include "io/mdb-cache.h"
#include "test-netns.h"
#include "test-util.h"

#define BRIDGE "vsmbr0"
#define PORT "vsmbp0"                  /* the "tap": a bridge port */
#define PEER "vsmbp1"                  /* its veth peer: gives PORT carrier */

static char *mdb_show(void) {
        g_autoptr(GError) error = NULL;
        char *out = NULL;
        int status;

        g_assert_true(g_spawn_command_line_sync("bridge mdb show dev " BRIDGE, &out, NULL, &status, &error));
        g_assert_no_error(error);
        g_assert_true(g_spawn_check_wait_status(status, &error));
        g_assert_no_error(error);
        return out;
}

static int ifindex(const char *name) {
        int i = (int) if_nametoindex(name);

        g_assert_cmpint(i, >, 0);
        return i;
}

static VsmMdbEntry entry(const char *group, const char *port, gboolean permanent) {
        VsmMdbEntry e = {
                .bridge_ifindex = ifindex(BRIDGE),
                .port_ifindex = ifindex(port),
                .is_ip6 = strchr(group, ':') != NULL,
                .permanent = permanent,
        };

        g_assert_cmpint(inet_pton(e.is_ip6 ? AF_INET6 : AF_INET, group, e.group), ==, 1);
        return e;
}

/* Wait until PORT has carrier and its bridge port state is forwarding. */
static void wait_port_ready(void) {
        for (int i = 0; i < 300; i++) {
                g_autofree char *out = NULL;

                /* (/sys/class/net shows the namespace sysfs was mounted in.) */
                if (g_spawn_command_line_sync("bridge link show dev " PORT, &out, NULL, NULL, NULL) &&
                    strstr(out, "LOWER_UP") && strstr(out, "state forwarding"))
                        return;
                g_usleep(10 * 1000);
        }
        g_error(PORT " did not become forwarding");
}

static gboolean listed(GArray *a, const VsmMdbEntry *e) {
        for (guint i = 0; i < a->len; i++) {
                const VsmMdbEntry *x = &g_array_index(a, VsmMdbEntry, i);

                if (x->bridge_ifindex == e->bridge_ifindex && x->port_ifindex == e->port_ifindex &&
                    !!x->is_ip6 == !!e->is_ip6 && memcmp(x->group, e->group, VSM_IP6_ALEN) == 0 &&
                    x->vid == e->vid && !!x->permanent == !!e->permanent)
                        return TRUE;
        }
        return FALSE;
}

static void test_add_list_del(void) {
        VsmMdbEntry e4 = entry("239.1.2.3", PORT, FALSE);
        VsmMdbEntry e6 = entry("ff0e::1:2", PORT, FALSE);
        VsmMdbEntry p4 = entry("239.1.2.4", PORT, TRUE);
        g_autoptr(GArray) a = NULL;
        g_autofree char *show = NULL;
        guint truncated = 99;
        int err = 0;

        wait_port_ready();
        g_assert_cmpint(vsm_mdb_add(&e4), ==, 0);
        g_assert_cmpint(vsm_mdb_add(&e4), ==, 0);  /* NLM_F_REPLACE: refresh, no EEXIST */
        g_assert_cmpint(vsm_mdb_add(&e6), ==, 0);
        g_assert_cmpint(vsm_mdb_add(&p4), ==, 0);

        a = vsm_mdb_list_port(ifindex(BRIDGE), ifindex(PORT), 64, &truncated, &err);
        g_assert_nonnull(a);
        g_assert_cmpuint(a->len, ==, 3);
        g_assert_cmpuint(truncated, ==, 0);
        g_assert_true(listed(a, &e4));
        g_assert_true(listed(a, &e6));
        g_assert_true(listed(a, &p4));
        g_clear_pointer(&a, g_array_unref);

        /* bounded by max */
        a = vsm_mdb_list_port(ifindex(BRIDGE), ifindex(PORT), 1, &truncated, NULL);
        g_assert_cmpuint(a->len, ==, 1);
        g_assert_cmpuint(truncated, ==, 2);
        g_clear_pointer(&a, g_array_unref);
        /* bridge 0: any bridge */
        a = vsm_mdb_list_port(0, ifindex(PORT), 64, NULL, NULL);
        g_assert_cmpuint(a->len, ==, 3);
        g_clear_pointer(&a, g_array_unref);
        /* another port: none */
        a = vsm_mdb_list_port(ifindex(BRIDGE), ifindex(PEER), 64, NULL, NULL);
        g_assert_cmpuint(a->len, ==, 0);
        g_clear_pointer(&a, g_array_unref);

        show = mdb_show();
        g_test_message("bridge mdb show:\n%s", show);
        g_assert_nonnull(strstr(show, "port " PORT " grp 239.1.2.3 temp"));
        g_assert_nonnull(strstr(show, "port " PORT " grp ff0e::1:2 temp"));
        g_assert_nonnull(strstr(show, "port " PORT " grp 239.1.2.4 permanent"));

        g_assert_cmpint(vsm_mdb_del(&e4), ==, 0);
        g_assert_cmpint(vsm_mdb_del(&e6), ==, 0);
        g_assert_cmpint(vsm_mdb_del(&p4), ==, 0);
        /* The kernel (6.x br_mdb_del) answers EINVAL, not ENOENT, for an absent entry. */
        g_assert_cmpint(vsm_mdb_del(&e4), ==, -EINVAL);
        a = vsm_mdb_list_port(ifindex(BRIDGE), ifindex(PORT), 64, NULL, NULL);
        g_assert_cmpuint(a->len, ==, 0);
        g_clear_pointer(&show, g_free);
        show = mdb_show();
        g_assert_null(strstr(show, "239.1.2.3"));
        g_assert_null(strstr(show, "ff0e::1:2"));
}

/* vsm_mdb_add_full(), logging errno and reason; the reason is returned. */
static char *add_refused(const char *what, const VsmMdbEntry *e, int expect) {
        char *reason = NULL;
        int r = vsm_mdb_add_full(e, &reason);

        g_test_message("%s: %d (%s): %s", what, r, g_strerror(-r), reason ? reason : "(no reason)");
        g_assert_cmpint(r, ==, expect);
        return reason;
}

static void test_refusals(void) {
        VsmMdbEntry not_port = entry("239.1.2.5", PEER, FALSE);
        VsmMdbEntry e4 = entry("239.1.2.6", PORT, FALSE);
        VsmMdbEntry e6 = entry("ff0e::1:6", PORT, FALSE);
        VsmMdbEntry no_bridge = e4;
        char *reason;

        wait_port_ready();
        reason = add_refused("not a bridge port", &not_port, -EINVAL);
        g_assert_nonnull(reason);
        g_free(reason);

        no_bridge.bridge_ifindex = 999999;
        g_free(add_refused("no such bridge", &no_bridge, -ENODEV));

        /* The port loses carrier when its peer goes down (a tap whose
         * QEMU is gone, DESIGN.md section 4). */
        vsm_test_run("ip link set " PEER " down");
        for (int i = 0; i < 300; i++) {
                g_autofree char *out = NULL;

                if (g_spawn_command_line_sync("ip -o link show dev " PORT, &out, NULL, NULL, NULL) &&
                    !strstr(out, "LOWER_UP"))
                        break;
                g_usleep(10 * 1000);
        }
        reason = add_refused("port without carrier, temp", &e4, -EINVAL);
        g_assert_nonnull(reason);
        g_assert_nonnull(strstr(reason, "disabled state"));
        g_free(reason);
        g_free(add_refused("port without carrier, temp, IPv6", &e6, -EINVAL));
        g_assert_cmpint(vsm_mdb_del(&e4), ==, -EINVAL);       /* nothing was added */
        vsm_test_run("ip link set " PEER " up");
        wait_port_ready();
        g_assert_cmpint(vsm_mdb_add(&e4), ==, 0);
        g_assert_cmpint(vsm_mdb_del(&e4), ==, 0);

        vsm_test_run("ip link set " BRIDGE " type bridge mcast_snooping 0");
        reason = add_refused("snooping off", &e4, -EINVAL);
        g_assert_nonnull(reason);
        g_free(reason);
        vsm_test_run("ip link set " BRIDGE " type bridge mcast_snooping 1");
}

static void test_list_errors(void) {
        g_autoptr(GArray) a = NULL;
        guint truncated = 7;
        int err = 0;

        /* No such bridge: an empty list (the dump is not filtered by the
         * kernel), not an error. */
        a = vsm_mdb_list_port(999999, ifindex(PORT), 64, &truncated, &err);
        g_assert_nonnull(a);
        g_assert_cmpuint(a->len, ==, 0);
        g_assert_cmpuint(truncated, ==, 0);
        g_assert_cmpint(err, ==, 0);
}

static gboolean cached(VsmMdbCache *c, const VsmMdbEntry *e) {
        g_autoptr(GArray) a = vsm_mdb_cache_port(c, e->port_ifindex, NULL);

        return a && listed(a, e);
}

/* Iterate the loop until the cache holds (or no longer holds) e. */
static void wait_cached(VsmMdbCache *c, const VsmMdbEntry *e, gboolean want) {
        gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

        while (cached(c, e) != want && g_get_monotonic_time() < end)
                g_main_context_iteration(NULL, FALSE) || (g_usleep(1000), 0);
        g_assert_true(cached(c, e) == want);
}

static void on_cache_changed(int port, gpointer user_data) {
        (*(guint *) user_data)++;
}

/* The cache against the kernel: primed by the dump (an entry added
 * before it started), kept by RTM_NEWMDB/RTM_DELMDB notifications. */
static void test_cache(void) {
        VsmMdbEntry before = entry("239.1.3.1", PORT, TRUE);
        VsmMdbEntry e4 = entry("239.1.3.2", PORT, FALSE);
        VsmMdbEntry e6 = entry("ff0e::3:2", PORT, FALSE);
        g_autoptr(VsmMdbCache) c = NULL;
        guint changes = 0;
        VsmMdbCacheStats st;
        gint64 end;

        wait_port_ready();
        g_assert_cmpint(vsm_mdb_add(&before), ==, 0);
        c = vsm_mdb_cache_new(VSM_MDB_CACHE_ENTRIES_MAX, VSM_MDB_CACHE_PORT_ENTRIES_MAX, on_cache_changed, &changes);
        g_assert_cmpint(vsm_mdb_cache_start(c), ==, 0);
        end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        while (!vsm_mdb_cache_is_complete(c) && g_get_monotonic_time() < end)
                g_main_context_iteration(NULL, FALSE) || (g_usleep(1000), 0);
        g_assert_true(vsm_mdb_cache_is_complete(c));
        g_assert_true(cached(c, &before));
        g_assert_cmpuint(changes, >=, 1);

        g_assert_cmpint(vsm_mdb_add(&e4), ==, 0);
        g_assert_cmpint(vsm_mdb_add(&e6), ==, 0);
        wait_cached(c, &e4, TRUE);
        wait_cached(c, &e6, TRUE);
        g_assert_cmpint(vsm_mdb_del(&e4), ==, 0);
        g_assert_cmpint(vsm_mdb_del(&before), ==, 0);
        wait_cached(c, &e4, FALSE);
        wait_cached(c, &before, FALSE);
        g_assert_true(cached(c, &e6));
        /* The notification is queued before the add's ack: a poll reads it
         * without the main loop (what the source does at SUSPENDED). */
        g_assert_cmpint(vsm_mdb_add(&e4), ==, 0);
        g_assert_false(cached(c, &e4));
        vsm_mdb_cache_poll(c);
        g_assert_true(cached(c, &e4));
        g_assert_cmpint(vsm_mdb_del(&e4), ==, 0);
        wait_cached(c, &e4, FALSE);
        vsm_mdb_cache_get_stats(c, &st);
        g_assert_cmpuint(st.dumps, ==, 1);
        g_assert_cmpuint(st.notifications, >=, 6);
        g_assert_cmpuint(st.malformed, ==, 0);
        g_assert_cmpint(vsm_mdb_del(&e6), ==, 0);
}

/* Notifications lost (a receive buffer far too small for a burst of
 * adds: ENOBUFS): the cache says it is incomplete, dumps again, and ends
 * with exactly the kernel's entries. */
static void test_cache_resync(void) {
        g_autoptr(VsmMdbCache) c = NULL;
        VsmMdbEntry es[300];
        VsmMdbCacheStats st;
        gint64 end;
        guint n_port = 0;

        wait_port_ready();
        c = vsm_mdb_cache_new(VSM_MDB_CACHE_ENTRIES_MAX, 512, NULL, NULL);
        vsm_mdb_cache_set_rcvbuf(c, 1024);
        g_assert_cmpint(vsm_mdb_cache_start(c), ==, 0);
        end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        while (!vsm_mdb_cache_is_complete(c) && g_get_monotonic_time() < end)
                g_main_context_iteration(NULL, FALSE) || (g_usleep(1000), 0);
        g_assert_true(vsm_mdb_cache_is_complete(c));
        /* The burst, without reading: the socket overflows. */
        for (guint i = 0; i < G_N_ELEMENTS(es); i++) {
                char group[32];

                g_snprintf(group, sizeof(group), "239.3.%u.%u", i / 200, i % 200 + 1);
                es[i] = entry(group, PORT, TRUE);
                g_assert_cmpint(vsm_mdb_add(&es[i]), ==, 0);
        }
        end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        do {
                while (g_main_context_iteration(NULL, FALSE))
                        ;
                vsm_mdb_cache_get_stats(c, &st);
                if (vsm_mdb_cache_is_complete(c) && st.resyncs > 0)
                        break;
                g_usleep(2000);
        } while (g_get_monotonic_time() < end);
        vsm_mdb_cache_get_stats(c, &st);
        g_test_message("after the burst: %u entries, %" G_GUINT64_FORMAT " notifications, %" G_GUINT64_FORMAT
                       " dumps, %" G_GUINT64_FORMAT " resyncs",
                       st.entries, st.notifications, st.dumps, st.resyncs);
        g_assert_cmpuint(st.resyncs, >, 0);
        g_assert_true(vsm_mdb_cache_is_complete(c));
        for (guint i = 0; i < G_N_ELEMENTS(es); i++) {
                g_assert_true(cached(c, &es[i]));
                n_port++;
        }
        {
                g_autoptr(GArray) a = vsm_mdb_cache_port(c, ifindex(PORT), NULL);

                /* Nothing else on the port (earlier tests deleted theirs). */
                g_assert_nonnull(a);
                g_assert_cmpuint(a->len, ==, n_port);
        }
        for (guint i = 0; i < G_N_ELEMENTS(es); i++)
                g_assert_cmpint(vsm_mdb_del(&es[i]), ==, 0);
}

int main(int argc, char **argv) {
        int ret;

        g_test_init(&argc, &argv, NULL);

        /* No IPv6 autoconfiguration on the links: the kernel's own MLD
         * reports would add entries of their own to the port. */
        if (!vsm_test_netns_enter(&ret))
                return ret;
        vsm_test_run("ip link add " BRIDGE " type bridge mcast_snooping 1");
        vsm_test_run("ip link add " PORT " type veth peer name " PEER);
        vsm_test_run("ip link set " PORT " master " BRIDGE);
        vsm_test_run("ip link set " BRIDGE " up && ip link set " PORT " up && ip link set " PEER " up");

        g_test_add_func("/io-mdb/add-list-del", test_add_list_del);
        g_test_add_func("/io-mdb/refusals", test_refusals);
        g_test_add_func("/io-mdb/list-errors", test_list_errors);
        g_test_add_func("/io-mdb/cache", test_cache);
        g_test_add_func("/io-mdb/cache-resync", test_cache_resync);
        return g_test_run();
}

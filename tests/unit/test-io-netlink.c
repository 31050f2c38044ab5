/* Link notifications (src/io/netlink.c): the datagram parser on crafted
 * input (bounded, malformed input refused), and the monitor against real
 * links in a private network namespace (created, carrier, deleted). */
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "io/netlink.h"
#include "test-netns.h"
#include "test-util.h"

typedef struct Seen {
        VsmLinkEvent ev[16];
        guint n;
} Seen;

static void collect(const VsmLinkEvent *ev, gpointer user_data) {
        Seen *s = user_data;

        if (s->n < G_N_ELEMENTS(s->ev))
                s->ev[s->n] = *ev;
        s->n++;
}

/* One RTM_*LINK message with IFLA_IFNAME = name (NULL: none) at buf. */
static size_t put_link(uint8_t *buf, uint16_t type, int ifindex, unsigned flags, const char *name) {
        struct nlmsghdr h = { .nlmsg_type = type };
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex, .ifi_flags = flags };
        size_t off = NLMSG_HDRLEN;

        memcpy(buf + off, &ifi, sizeof(ifi));
        off += NLMSG_ALIGN(sizeof(ifi));
        if (name) {
                struct rtattr a = { .rta_type = IFLA_IFNAME, .rta_len = (unsigned short) RTA_LENGTH(strlen(name) + 1) };

                memcpy(buf + off, &a, sizeof(a));
                memcpy(buf + off + RTA_LENGTH(0), name, strlen(name) + 1);
                off += RTA_ALIGN(a.rta_len);
        }
        h.nlmsg_len = (uint32_t) off;
        memcpy(buf, &h, sizeof(h));
        return off;
}

static void test_parse(void) {
        uint8_t buf[1024] = {};
        size_t len = 0;
        Seen s = {};

        len += put_link(buf + len, RTM_NEWLINK, 7, IFF_UP | IFF_LOWER_UP, "up0");
        len += put_link(buf + len, RTM_NEWADDR, 7, 0, NULL);   /* not a link: skipped */
        len += put_link(buf + len, RTM_DELLINK, 7, 0, "up0");
        len += put_link(buf + len, RTM_NEWLINK, 8, 0, NULL);   /* no name */
        g_assert_cmpint(vsm_link_monitor_parse(buf, len, collect, &s), ==, 3);
        g_assert_cmpuint(s.n, ==, 3);
        g_assert_cmpint(s.ev[0].type, ==, VSM_LINK_EVENT_NEW);
        g_assert_cmpint(s.ev[0].ifindex, ==, 7);
        g_assert_cmpstr(s.ev[0].ifname, ==, "up0");
        g_assert_cmphex(s.ev[0].flags, ==, IFF_UP | IFF_LOWER_UP);
        g_assert_cmpint(s.ev[1].type, ==, VSM_LINK_EVENT_DEL);
        g_assert_cmpstr(s.ev[2].ifname, ==, "");
        g_assert_cmpint(s.ev[2].ifindex, ==, 8);
}

static void test_parse_hostile(void) {
        uint8_t buf[512] = {};
        size_t len;
        Seen s = {};
        struct nlmsghdr h;
        struct rtattr a;

        /* A message longer than the datagram. */
        len = put_link(buf, RTM_NEWLINK, 3, 0, "x");
        memcpy(&h, buf, sizeof(h));
        h.nlmsg_len = 4096;
        memcpy(buf, &h, sizeof(h));
        g_assert_cmpint(vsm_link_monitor_parse(buf, len, collect, &s), ==, -EBADMSG);
        g_assert_cmpuint(s.n, ==, 0);

        /* A length below the header. */
        h.nlmsg_len = 3;
        memcpy(buf, &h, sizeof(h));
        g_assert_cmpint(vsm_link_monitor_parse(buf, len, collect, &s), ==, -EBADMSG);

        /* A name without its NUL and too long: left empty, not overrun. */
        len = put_link(buf, RTM_NEWLINK, 3, 0, "abcdefghijklmnopqrstuvwxyz");
        g_assert_cmpint(vsm_link_monitor_parse(buf, len, collect, &s), ==, 1);
        g_assert_cmpstr(s.ev[0].ifname, ==, "");

        /* An attribute longer than its message: ignored, the event stays. */
        s.n = 0;
        len = put_link(buf, RTM_NEWLINK, 4, 0, "ok0");
        memcpy(&a, buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg)), sizeof(a));
        a.rta_len = 200;
        memcpy(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg)), &a, sizeof(a));
        g_assert_cmpint(vsm_link_monitor_parse(buf, len, collect, &s), ==, 1);
        g_assert_cmpstr(s.ev[0].ifname, ==, "");
        g_assert_cmpint(s.ev[0].ifindex, ==, 4);

        /* A link message too short for its ifinfomsg: skipped.  Truncated
         * datagrams and random bytes: never more events than messages. */
        s.n = 0;
        memset(&h, 0, sizeof(h));
        h.nlmsg_type = RTM_NEWLINK;
        h.nlmsg_len = NLMSG_HDRLEN + 4;
        memcpy(buf, &h, sizeof(h));
        g_assert_cmpint(vsm_link_monitor_parse(buf, NLMSG_HDRLEN + 4, collect, &s), ==, 0);
        for (size_t cut = 0; cut < 64; cut++)
                (void) vsm_link_monitor_parse(buf, cut, collect, &s);
        g_assert_cmpuint(s.n, ==, 0);
}

static gboolean wait_for(Seen *s, VsmLinkEventType type, const char *name, unsigned flags_set) {
        gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

        while (g_get_monotonic_time() < end) {
                for (guint i = 0; i < MIN(s->n, G_N_ELEMENTS(s->ev)); i++)
                        if (s->ev[i].type == type && g_str_equal(s->ev[i].ifname, name) &&
                            (s->ev[i].flags & flags_set) == flags_set)
                                return TRUE;
                g_main_context_iteration(NULL, FALSE);
                g_usleep(1000);
        }
        return FALSE;
}

static void test_monitor(void) {
        Seen s = {};
        VsmLinkMonitor *m = vsm_link_monitor_new(collect, &s);

        g_assert_nonnull(m);
        vsm_test_run("ip link add lnk0 type veth peer name lnk1");
        g_assert_true(wait_for(&s, VSM_LINK_EVENT_NEW, "lnk0", 0));
        s.n = 0;
        vsm_test_run("ip link set lnk0 up && ip link set lnk1 up");
        g_assert_true(wait_for(&s, VSM_LINK_EVENT_NEW, "lnk0", IFF_UP | IFF_LOWER_UP));
        s.n = 0;
        vsm_test_run("ip link del lnk0");
        g_assert_true(wait_for(&s, VSM_LINK_EVENT_DEL, "lnk0", 0));
        g_assert_true(wait_for(&s, VSM_LINK_EVENT_DEL, "lnk1", 0));
        vsm_link_monitor_free(m);
}

/* The table behind vsm_link_get_master(): primed by the dump at start,
 * then kept by notifications, answered without a syscall. */
static gboolean wait_master(VsmLinkMonitor *m, const char *ifname, int want_r, const char *want) {
        gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

        while (g_get_monotonic_time() < end) {
                char master[16] = "";
                int r = vsm_link_monitor_get_master(m, ifname, master);

                if (r == want_r && (r != 0 || g_str_equal(master, want)))
                        return TRUE;
                g_main_context_iteration(NULL, FALSE);
                g_usleep(1000);
        }
        return FALSE;
}

static void test_table(void) {
        Seen s = {};
        VsmLinkMonitor *m;
        char master[16];
        guint64 q0;

        /* Made before the monitor: only the dump at start can know them. */
        vsm_test_run("ip link add tbr0 type bridge && ip link add tap0 type veth peer name tap1 && "
                     "ip link set tap0 master tbr0");
        m = vsm_link_monitor_new(collect, &s);
        g_assert_nonnull(m);
        g_assert_cmpuint(vsm_link_monitor_n_links(m), >=, 4);  /* lo, tbr0, tap0, tap1 */
        g_assert_cmpuint(s.n, ==, 0);                           /* the dump is not news */
        q0 = vsm_link_n_queries();
        g_assert_cmpint(vsm_link_monitor_get_master(m, "tap0", master), ==, 0);
        g_assert_cmpstr(master, ==, "tbr0");
        g_assert_cmpint(vsm_link_get_master("tap0", master), ==, 0);
        g_assert_cmpstr(master, ==, "tbr0");
        g_assert_cmpint(vsm_link_get_master("tap1", master), ==, -ENOENT);
        g_assert_cmpint(vsm_link_get_master("nosuch0", master), ==, -ENODEV);
        g_assert_cmpuint(vsm_link_n_queries(), ==, q0);         /* no syscall: from the table */

        /* Kept by the notifications: released, moved, renamed, deleted. */
        vsm_test_run("ip link set tap0 nomaster");
        g_assert_true(wait_master(m, "tap0", -ENOENT, NULL));
        vsm_test_run("ip link add tbr1 type bridge && ip link set tap0 master tbr1");
        g_assert_true(wait_master(m, "tap0", 0, "tbr1"));
        vsm_test_run("ip link set tap0 down && ip link set tap0 name tap9");
        g_assert_true(wait_master(m, "tap9", 0, "tbr1"));
        g_assert_true(wait_master(m, "tap0", -ENODEV, NULL));
        vsm_test_run("ip link del tap9");
        g_assert_true(wait_master(m, "tap9", -ENODEV, NULL));
        g_assert_cmpuint(vsm_link_n_queries(), ==, q0);
        vsm_link_monitor_free(m);

        /* Without a monitor: the kernel is asked. */
        vsm_test_run("ip link add tap0 type veth peer name tap1 && ip link set tap0 master tbr0");
        g_assert_cmpint(vsm_link_get_master("tap0", master), ==, 0);
        g_assert_cmpstr(master, ==, "tbr0");
        g_assert_cmpuint(vsm_link_n_queries(), ==, q0 + 1);
        vsm_test_run("ip link del tap0 && ip link del tbr0 && ip link del tbr1");
}

int main(int argc, char **argv) {
        int ret;

        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/io-netlink/parse", test_parse);
        g_test_add_func("/io-netlink/parse-hostile", test_parse_hostile);
        if (vsm_test_netns_enter(&ret))
        {
                g_test_add_func("/io-netlink/monitor", test_monitor);
                g_test_add_func("/io-netlink/table", test_table);
        }
        else if (ret != 0)
                return ret;
        return g_test_run();
}

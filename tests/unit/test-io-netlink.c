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

int main(int argc, char **argv) {
        int ret;

        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/io-netlink/parse", test_parse);
        g_test_add_func("/io-netlink/parse-hostile", test_parse_hostile);
        if (vsm_test_netns_enter(&ret))
                g_test_add_func("/io-netlink/monitor", test_monitor);
        else if (ret != 0)
                return ret;
        return g_test_run();
}

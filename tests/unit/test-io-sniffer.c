/* The learning taps (io/sniffer.c) against the real kernel: the test
 * moves into a network namespace of its own (unshare(CLONE_NEWNET), so
 * everything it creates disappears with it), creates a veth pair, sniffs
 * one end and sends frames of every accepted and several rejected kinds
 * with raw packet sockets: from the peer (the sniffed end receives them:
 * "from guest") and on the sniffed end itself (PACKET_OUTGOING: "to
 * guest").  Exactly the accepted ones must reach the callback, in order,
 * with the right direction; a frame larger than the 64 KiB buffer is
 * dropped and counted.
 *
 * Needs root (CAP_NET_ADMIN, CAP_NET_RAW).  Without unshare the test is
 * skipped, unless CI=true. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/sniffer.h"
#include "proto/arp.h"
#include "proto/dhcp.h"
#include "proto/igmp.h"
#include "proto/inet.h"
#include "proto/mld.h"
#include "proto/ndisc.h"
#include "test-netns.h"
#include "test-util.h"

#define SNIFFED "vsmsnf0"              /* the "tap" */
#define PEER "vsmsnf1"                 /* the "guest" side */
#define MVT "vsmsnfm"                  /* a macvtap over SNIFFED */

static const uint8_t test_mac[6] = { 0x02, 0x5e, 0x11, 0x22, 0x33, 0x44 };

typedef struct Seen {
        int ifindex;
        VsmLearnDirection dir;
        GBytes *frame;
} Seen;

static void seen_free(gpointer p) {
        Seen *s = p;

        g_bytes_unref(s->frame);
        g_free(s);
}

typedef struct Fixture {
        GPtrArray *seen;               /* Seen */
        VsmSniffer *sniffer;
        gboolean remove_on_first;
} Fixture;

static void on_frame(int ifindex, const uint8_t *frame, size_t len, VsmLearnDirection dir, gpointer user_data) {
        Fixture *f = user_data;
        Seen *s;

        /* Only our own test frames: the kernel may send something too. */
        if (len < 12 || memcmp(frame + 6, test_mac, 6) != 0)
                return;
        s = g_new0(Seen, 1);
        s->ifindex = ifindex;
        s->dir = dir;
        s->frame = g_bytes_new(frame, len);
        g_ptr_array_add(f->seen, s);
        if (f->remove_on_first)
                vsm_sniffer_remove(f->sniffer, ifindex);
}

static int raw_open(const char *ifname) {
        struct sockaddr_ll sll = {
                .sll_family = AF_PACKET,
                .sll_protocol = 0,      /* send only */
                .sll_ifindex = (int) if_nametoindex(ifname),
        };
        int fd;

        g_assert_cmpint(sll.sll_ifindex, >, 0);
        fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sll, sizeof(sll)), ==, 0);
        return fd;
}

static void raw_send(int fd, GBytes *b) {
        gsize len;
        const void *data = g_bytes_get_data(b, &len);
        ssize_t n = send(fd, data, len, 0);

        if (n < 0)
                g_error("send(%zu): %s", len, g_strerror(errno));
        g_assert_cmpint(n, ==, (ssize_t) len);
}

/* Drive the loop until n frames were seen (or 3 s), then 100 ms more so
 * extra frames would show. */
static void wait_seen(Fixture *f, guint n) {
        gint64 end = g_get_monotonic_time() + 3 * G_USEC_PER_SEC;

        while (f->seen->len < n && g_get_monotonic_time() < end) {
                while (g_main_context_iteration(NULL, FALSE))
                        ;
                g_usleep(1000);
        }
        end = g_get_monotonic_time() + 100 * 1000;
        while (g_get_monotonic_time() < end) {
                while (g_main_context_iteration(NULL, FALSE))
                        ;
                g_usleep(1000);
        }
}

/* --- frames ----------------------------------------------------------- */

typedef struct Case {
        const char *name;
        gboolean accept_from;          /* passes when the guest sent it */
        gboolean accept_to;            /* passes when sent to the guest */
        GBytes *frame;
} Case;

static GBytes *writer_bytes(VsmWriter *w) {
        return g_bytes_new(w->data, w->len);
}

/* Ethernet + IPv4 (IHL 5 or 6) + UDP sport -> dport + payload; frag is the
 * flags/offset field; opt4 (if not NULL) the 4 option octets. */
static GBytes *udp4(uint16_t sport, uint16_t dport, uint16_t frag, const uint8_t *opt4, size_t payload) {
        g_autofree uint8_t *buf = g_malloc0(VSM_ETH_HLEN + 65535);
        VsmWriter w;
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_IPV4 };
        VsmIp4Header ih = { .ttl = 64, .protocol = VSM_IP_PROTO_UDP, .router_alert = opt4 != NULL };
        size_t ip_off, udp_off;

        memcpy(eh.src, test_mac, 6);
        memset(eh.dst, 0xff, 6);
        memset(ih.dst, 0xff, 4);
        vsm_writer_init(&w, buf, VSM_ETH_HLEN + 65535);
        g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
        g_assert_cmpint(vsm_ip4_header_begin(&w, &ih, &ip_off), ==, 0);
        g_assert_cmpint(vsm_udp_header_begin(&w, sport, dport, &udp_off), ==, 0);
        g_assert_cmpint(vsm_writer_zero(&w, payload), ==, 0);
        g_assert_cmpint(vsm_udp4_header_finish(&w, ih.src, ih.dst, udp_off), ==, 0);
        if (opt4)
                memcpy(buf + ip_off + VSM_IP4_HLEN, opt4, 4);
        vsm_writer_patch_be16(&w, ip_off + 6, frag);
        g_assert_cmpint(vsm_ip4_header_finish(&w, ip_off), ==, 0);
        return writer_bytes(&w);
}

/* Ethernet + IPv4 (IHL 5, flags/offset frag) + proto + the l4 octets. */
static GBytes *ip4_l4(uint8_t proto, uint16_t frag, const uint8_t *l4, size_t l4_len) {
        uint8_t buf[128];
        VsmWriter w;
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_IPV4 };
        VsmIp4Header ih = { .ttl = 64, .protocol = proto, .src = { 10, 9, 0, 1 }, .dst = { 10, 9, 0, 2 } };
        size_t ip_off;

        memcpy(eh.src, test_mac, 6);
        memset(eh.dst, 0xff, 6);
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
        g_assert_cmpint(vsm_ip4_header_begin(&w, &ih, &ip_off), ==, 0);
        g_assert_cmpint(vsm_writer_bytes(&w, l4, l4_len), ==, 0);
        vsm_writer_patch_be16(&w, ip_off + 6, frag);
        g_assert_cmpint(vsm_ip4_header_finish(&w, ip_off), ==, 0);
        return writer_bytes(&w);
}

static GBytes *ip4_proto(uint8_t proto) {
        uint8_t buf[128];
        VsmWriter w;
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_IPV4 };
        VsmIp4Header ih = { .ttl = 64, .protocol = proto };
        size_t ip_off;

        memcpy(eh.src, test_mac, 6);
        memset(eh.dst, 0xff, 6);
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
        g_assert_cmpint(vsm_ip4_header_begin(&w, &ih, &ip_off), ==, 0);
        /* 67 -> 68 where UDP ports would be: only the protocol decides */
        g_assert_cmpint(vsm_writer_be16(&w, 67), ==, 0);
        g_assert_cmpint(vsm_writer_be16(&w, 68), ==, 0);
        g_assert_cmpint(vsm_writer_zero(&w, 24), ==, 0);
        g_assert_cmpint(vsm_ip4_header_finish(&w, ip_off), ==, 0);
        return writer_bytes(&w);
}

/* Ethernet + IPv6 with next header nh, then ext (a hop-by-hop header or
 * nothing) and the upper-layer bytes as given. */
static GBytes *ip6_raw(uint8_t nh, const uint8_t *ext, size_t ext_len, const uint8_t *upper, size_t upper_len) {
        uint8_t buf[256];
        VsmWriter w;
        VsmEthHeader eh = { .ethertype = VSM_ETH_P_IPV6 };
        VsmIp6Header ih = { .next_header = nh, .hop_limit = 1 };
        size_t ip_off;

        memcpy(eh.src, test_mac, 6);
        eh.dst[0] = 0x33;
        eh.dst[1] = 0x33;
        eh.dst[5] = 0x16;
        vsm_ip6_link_local_from_mac(test_mac, ih.src);
        memcpy(ih.dst, vsm_ip6_mldv2_routers, 16);
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_eth_header_write(&w, &eh), ==, 0);
        g_assert_cmpint(vsm_ip6_header_begin(&w, &ih, &ip_off), ==, 0);
        if (ext_len > 0)
                g_assert_cmpint(vsm_writer_bytes(&w, ext, ext_len), ==, 0);
        g_assert_cmpint(vsm_writer_bytes(&w, upper, upper_len), ==, 0);
        g_assert_cmpint(vsm_ip6_header_finish(&w, ip_off), ==, 0);
        return writer_bytes(&w);
}

static GPtrArray *cases_new(void) {
        GPtrArray *cases = g_ptr_array_new();
        uint8_t buf[VSM_ETH_FRAME_MAX];
        VsmWriter w;
        uint8_t a4[4] = { 10, 9, 0, 1 }, grp4[4] = { 239, 1, 1, 1 }, grp6[16] = { 0xff, 0x05, [15] = 3 };
        g_autofree VsmIgmpMessage *igmp = g_new0(VsmIgmpMessage, 1);
        g_autofree VsmMldMessage *mld = g_new0(VsmMldMessage, 1);
        VsmDhcpInitReboot req = { .xid = 1, .requested_ip = { 10, 9, 0, 1 }, .has_client_id = FALSE };
        VsmNdiscMessage ns = { .type = VSM_NDISC_NS, .target = { 0xfe, 0x80, [15] = 1 } };
        /* IPv4 options that end with EOL, followed by junk that looks
         * like ports 67 -> 68 where an IHL-5 UDP header would be. */
        static const uint8_t eol_junk[4] = { 0x00, 0x43, 0x00, 0x44 };
        static const uint8_t ra4[4] = { 0x94, 0x04, 0x00, 0x00 };
        /* A 16-octet hop-by-hop header (Hdr Ext Len 1): Router Alert and
         * PadN; the octet at HBH offset 8 is 0. */
        static const uint8_t hbh16[16] = { 58, 1, 0x05, 0x02, 0x00, 0x00, 0x01, 0x08 };
        /* The same length, but an unknown skippable option whose data put
         * 143 at HBH offset 8 (where an 8-octet HBH would end). */
        static const uint8_t hbh16_trap[16] = { 58, 1, 0x05, 0x02, 0x00, 0x00, 0x1e, 0x08, 143 };
        static const uint8_t hbh8_other[8] = { 17, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00 };
        static const uint8_t mld2_empty[8] = { 143, 0, 0, 0, 0, 0, 0, 0 };
        static const uint8_t echo[8] = { 128, 0, 0, 0, 0, 1, 0, 1 };
        static const uint8_t udp6[8] = { 0x02, 0x22, 0x02, 0x23, 0, 8, 0, 0 };
        Case *c;

#define ADD2(n, from, to, bytes) \
        do { \
                c = g_new0(Case, 1); \
                c->name = (n); \
                c->accept_from = (from); \
                c->accept_to = (to); \
                c->frame = (bytes); \
                g_ptr_array_add(cases, c); \
        } while (0)
#define ADD(n, acc, bytes) ADD2(n, acc, acc, bytes)
#define FROM_GUEST(n, bytes) ADD2(n, TRUE, FALSE, bytes)
#define W() (vsm_writer_init(&w, buf, sizeof(buf)), &w)

        g_assert_cmpint(vsm_arp_gratuitous_write(W(), test_mac, a4), ==, 0);
        ADD("arp", TRUE, writer_bytes(&w));

        memcpy(req.mac, test_mac, 6);
        g_assert_cmpint(vsm_dhcp_init_reboot_write(W(), &req), ==, 0);
        ADD("dhcp 68->67", TRUE, writer_bytes(&w));
        ADD("udp 67->68 with router alert option (IHL 6)", TRUE, udp4(67, 68, 0, ra4, 300));
        ADD("udp 5000->68", TRUE, udp4(5000, 68, 0, NULL, 8));
        ADD("udp 67->5000", TRUE, udp4(67, 5000, 0, NULL, 8));
        ADD("udp 68->67 first fragment (MF)", TRUE, udp4(68, 67, 0x2000, NULL, 300));
        ADD("udp 68->67 non-first fragment", FALSE, udp4(68, 67, 0x2000 | 37, NULL, 300));
        ADD("udp 68->67 last fragment", FALSE, udp4(68, 67, 37, NULL, 300));
        FROM_GUEST("udp 53->53 (a DNS query's source)", udp4(53, 53, 0, NULL, 40));
        FROM_GUEST("udp 40000->53 with IHL 6", udp4(40000, 53, 0, ra4, 40));
        ADD("udp 53->40000 (an answer)", FALSE, udp4(53, 40000, 0, NULL, 40));
        ADD("udp 1000->53 non-first fragment", FALSE, udp4(1000, 53, 37, NULL, 40));
        ADD("udp 1000->2000, IHL 6, 67/68 in the options", FALSE, udp4(1000, 2000, 0, eol_junk, 40));
        ADD("tcp", FALSE, ip4_proto(6));
        {
                uint8_t tcp[20] = { 0x9c, 0x40, 0x00, 0x50, [12] = 0x50, [13] = 0x02 };
                uint8_t icmp[8] = { 8, 0, 0, 0, 0, 1, 0, 1 };

                FROM_GUEST("tcp syn", ip4_l4(6, 0, tcp, sizeof(tcp)));
                tcp[13] = 0x12;
                FROM_GUEST("tcp syn+ack", ip4_l4(6, 0, tcp, sizeof(tcp)));
                tcp[13] = 0x10;
                ADD("tcp ack", FALSE, ip4_l4(6, 0, tcp, sizeof(tcp)));
                tcp[13] = 0x02;
                ADD("tcp syn, non-first fragment", FALSE, ip4_l4(6, 37, tcp, sizeof(tcp)));
                FROM_GUEST("icmp echo request", ip4_l4(1, 0, icmp, sizeof(icmp)));
                icmp[0] = 0;
                FROM_GUEST("icmp echo reply", ip4_l4(1, 0, icmp, sizeof(icmp)));
                icmp[0] = 3;
                ADD("icmp unreachable", FALSE, ip4_l4(1, 0, icmp, sizeof(icmp)));
        }
        ADD("ipv4 proto 2 (igmp, raw)", TRUE, ip4_proto(VSM_IP_PROTO_IGMP));

        igmp->type = VSM_IGMP_V2_REPORT;
        igmp->version = 2;
        memcpy(igmp->group, grp4, 4);
        g_assert_cmpint(vsm_igmp_frame_write(W(), test_mac, a4, igmp), ==, 0);
        ADD("igmpv2 report", TRUE, writer_bytes(&w));

        mld->type = VSM_MLD_V2_REPORT;
        mld->version = 2;
        mld->n_records = 1;
        mld->records[0].type = VSM_MCAST_MODE_IS_EXCLUDE;
        memcpy(mld->records[0].group, grp6, 16);
        g_assert_cmpint(vsm_mld_frame_write(W(), test_mac, NULL, mld), ==, 0);
        ADD("mldv2 report (hbh)", TRUE, writer_bytes(&w));

        memset(mld, 0, sizeof(*mld));
        mld->type = VSM_MLD_V1_DONE;
        mld->version = 1;
        memcpy(mld->group, grp6, 16);
        g_assert_cmpint(vsm_mld_frame_write(W(), test_mac, NULL, mld), ==, 0);
        ADD("mldv1 done (hbh)", TRUE, writer_bytes(&w));

        memset(mld, 0, sizeof(*mld));
        mld->type = VSM_MLD_V1_REPORT;
        mld->version = 1;
        memcpy(mld->group, grp6, 16);
        g_assert_cmpint(vsm_mld_frame_write(W(), test_mac, NULL, mld), ==, 0);
        ADD("mldv1 report (hbh)", TRUE, writer_bytes(&w));

        memset(mld, 0, sizeof(*mld));
        mld->type = VSM_MLD_QUERY;
        mld->version = 2;
        mld->max_resp_code = 1000;
        g_assert_cmpint(vsm_mld_frame_write(W(), test_mac, NULL, mld), ==, 0);
        ADD("mldv2 query (hbh)", TRUE, writer_bytes(&w));

        ADD("mldv2 report without hbh", TRUE, ip6_raw(58, NULL, 0, mld2_empty, sizeof(mld2_empty)));
        ADD("mldv2 report behind a 16-octet hbh", TRUE,
            ip6_raw(0, hbh16, sizeof(hbh16), mld2_empty, sizeof(mld2_empty)));
        /* To the guest, only reading the type at offset 8 would pass it. */
        FROM_GUEST("echo behind a 16-octet hbh, 143 at offset 8",
                   ip6_raw(0, hbh16_trap, sizeof(hbh16_trap), echo, sizeof(echo)));
        FROM_GUEST("echo request", ip6_raw(58, NULL, 0, echo, sizeof(echo)));
        {
                static const uint8_t echo_reply[8] = { 129, 0, 0, 0, 0, 1, 0, 1 };
                static const uint8_t unreach[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };
                static const uint8_t dns6[8] = { 0x9c, 0x40, 0x00, 0x35, 0, 8, 0, 0 };
                uint8_t tcp6[20] = { 0x9c, 0x40, 0x00, 0x50, [12] = 0x50, [13] = 0x02 };

                FROM_GUEST("echo reply", ip6_raw(58, NULL, 0, echo_reply, sizeof(echo_reply)));
                ADD("icmpv6 unreachable", FALSE, ip6_raw(58, NULL, 0, unreach, sizeof(unreach)));
                FROM_GUEST("ipv6 udp to 53", ip6_raw(17, NULL, 0, dns6, sizeof(dns6)));
                FROM_GUEST("ipv6 tcp syn", ip6_raw(6, NULL, 0, tcp6, sizeof(tcp6)));
                tcp6[13] = 0x10;
                ADD("ipv6 tcp ack", FALSE, ip6_raw(6, NULL, 0, tcp6, sizeof(tcp6)));
        }
        ADD("udp behind hbh", FALSE, ip6_raw(0, hbh8_other, sizeof(hbh8_other), udp6, sizeof(udp6)));
        ADD("ipv6 udp 546->547", FALSE, ip6_raw(17, NULL, 0, udp6, sizeof(udp6)));

        {
                uint8_t ll[16];

                vsm_ip6_link_local_from_mac(test_mac, ll);
                g_assert_cmpint(vsm_ndisc_unsolicited_na_write(W(), test_mac, ll, false), ==, 0);
                ADD("unsolicited na", TRUE, writer_bytes(&w));
        }
        {
                uint8_t msg[64];
                VsmWriter mw;

                ns.has_source_lla = true;
                memcpy(ns.source_lla, test_mac, 6);
                vsm_writer_init(&mw, msg, sizeof(msg));
                g_assert_cmpint(vsm_ndisc_message_write(&mw, &ns), ==, 0);
                ADD("neighbor solicitation", TRUE, ip6_raw(58, NULL, 0, msg, mw.len));
                msg[0] = 137;   /* redirect */
                ADD("redirect", FALSE, ip6_raw(58, NULL, 0, msg, mw.len));
                msg[0] = 134;   /* router advertisement: another MAC's claim */
                ADD("router advertisement", TRUE, ip6_raw(58, NULL, 0, msg, mw.len));
                msg[0] = 133;   /* router solicitation */
                ADD("router solicitation", FALSE, ip6_raw(58, NULL, 0, msg, mw.len));
        }
        {
                /* LLDP ethertype */
                static const char lldp[] = "0180c200000e 025e11223344 88cc 020704025e11223344 04030302 0602 0078 0000";
                ADD("lldp", FALSE, vsm_test_hex(lldp));
        }
#undef ADD
#undef ADD2
#undef FROM_GUEST
#undef W
        return cases;
}

static void cases_free(GPtrArray *cases) {
        for (guint i = 0; i < cases->len; i++) {
                Case *c = g_ptr_array_index(cases, i);

                g_bytes_unref(c->frame);
                g_free(c);
        }
        g_ptr_array_unref(cases);
}

/* --- tests ------------------------------------------------------------ */

/* A guest's write to a macvtap's /dev/tapN: virtio_net_hdr first (the
 * queue is opened with IFF_VNET_HDR, drivers/net/tap.c tap_open()). */
static void tap_write(int fd, GBytes *b) {
        gsize len;
        const uint8_t *data = g_bytes_get_data(b, &len);
        g_autofree uint8_t *buf = g_malloc0(len + 10);
        ssize_t n;

        memcpy(buf + 10, data, len);
        n = write(fd, buf, len + 10);
        if (n < 0)
                g_error("write(/dev/tapN, %zu): %s", len, g_strerror(errno));
}

/* macvlan reassembles broadcast and multicast IPv4 fragments before it
 * hands them to its devices (macvlan_handle_frame(): ip_check_defrag(...,
 * IP_DEFRAG_MACVLAN)): a lone fragment never reaches a macvtap from below. */
static gboolean skip_case(gboolean macvtap, gboolean send_tap, const Case *c) {
        return macvtap && !send_tap && strstr(c->name, "fragment");
}

static void check_direction_on(const char *sniffed, gboolean macvtap, int send_fd, gboolean send_tap,
                               VsmLearnDirection dir) {
        Fixture f = { .seen = g_ptr_array_new_with_free_func(seen_free) };
        GPtrArray *cases = cases_new();
        int ifindex = (int) if_nametoindex(sniffed);
        guint n_accept = 0, j = 0;

        f.sniffer = vsm_sniffer_new(on_frame, &f);
        g_assert_cmpint(vsm_sniffer_add_full(f.sniffer, ifindex, macvtap), ==, 0);
        g_assert_cmpint(vsm_sniffer_add_full(f.sniffer, ifindex, macvtap), ==, 0);     /* idempotent */
        g_assert_cmpuint(vsm_sniffer_n_taps(f.sniffer), ==, 1);

        for (guint i = 0; i < cases->len; i++) {
                Case *c = g_ptr_array_index(cases, i);

                if (skip_case(macvtap, send_tap, c))
                        continue;
                if (send_tap)
                        tap_write(send_fd, c->frame);
                else
                        raw_send(send_fd, c->frame);
                if (dir == VSM_LEARN_FROM_GUEST ? c->accept_from : c->accept_to)
                        n_accept++;
        }
        wait_seen(&f, n_accept);

        for (guint i = 0; i < cases->len; i++) {
                Case *c = g_ptr_array_index(cases, i);
                Seen *s;

                if (!(dir == VSM_LEARN_FROM_GUEST ? c->accept_from : c->accept_to) ||
                    skip_case(macvtap, send_tap, c))
                        continue;
                if (j >= f.seen->len)
                        g_error("%s: '%s' not seen", vsm_learn_direction_to_string(dir), c->name);
                s = g_ptr_array_index(f.seen, j++);
                g_test_message("%s: %s", vsm_learn_direction_to_string(dir), c->name);
                if (!g_bytes_equal(s->frame, c->frame))
                        g_error("%s: '%s' not the next frame seen (a rejected one passed, or it was lost)",
                                vsm_learn_direction_to_string(dir), c->name);
                g_assert_cmpint(s->dir, ==, dir);
                g_assert_cmpint(s->ifindex, ==, ifindex);
        }
        if (f.seen->len != n_accept) {
                Seen *s = g_ptr_array_index(f.seen, n_accept);
                g_autofree char *hex = NULL;
                gsize len;
                const void *d = g_bytes_get_data(s->frame, &len);

                hex = vsm_test_to_hex(d, MIN(len, 80));
                g_error("%u frames seen, %u expected; first extra: %s", f.seen->len, n_accept, hex);
        }

        vsm_sniffer_remove(f.sniffer, ifindex);
        g_assert_cmpuint(vsm_sniffer_n_taps(f.sniffer), ==, 0);
        g_clear_pointer(&f.sniffer, vsm_sniffer_free);
        g_ptr_array_unref(f.seen);
        cases_free(cases);
}

static void check_direction(int send_fd, VsmLearnDirection dir) {
        check_direction_on(SNIFFED, FALSE, send_fd, FALSE, dir);
}

/* A direct NIC: the macvtap MVT over SNIFFED.  The guest writes to
 * /dev/tapN (PACKET_OUTGOING on the macvtap: "from guest"); what PEER
 * sends arrives on SNIFFED and macvlan hands it to the macvtap ("to
 * guest": the cases are all broadcast or multicast, the macvtap is
 * allmulticast). */
static void test_macvtap(void) {
        g_autofree char *dev = g_strdup_printf("/dev/tap%u", if_nametoindex(MVT));
        int tap = open(dev, O_RDWR | O_CLOEXEC);
        int peer = raw_open(PEER);

        if (tap < 0)
                g_error("open %s: %s", dev, g_strerror(errno));
        check_direction_on(MVT, TRUE, tap, TRUE, VSM_LEARN_FROM_GUEST);
        check_direction_on(MVT, TRUE, peer, FALSE, VSM_LEARN_TO_GUEST);
        close(peer);
        close(tap);
}

static void test_from_guest(void) {
        int fd = raw_open(PEER);

        check_direction(fd, VSM_LEARN_FROM_GUEST);
        close(fd);
}

static void test_to_guest(void) {
        int fd = raw_open(SNIFFED);

        check_direction(fd, VSM_LEARN_TO_GUEST);
        close(fd);
}

static void test_truncated(void) {
        Fixture f = { .seen = g_ptr_array_new_with_free_func(seen_free) };
        g_autoptr(GBytes) huge = NULL, small = udp4(68, 67, 0, NULL, 300);
        int fd = raw_open(PEER);
        guint64 frames = 0, truncated = 0, errors = 0;

        vsm_test_run("ip link set " SNIFFED " mtu 65535 && ip link set " PEER " mtu 65535");
        /* 14 + 65535 octets: past the 64 KiB receive buffer. */
        huge = udp4(68, 67, 0, NULL, 65535 - VSM_IP4_HLEN - VSM_UDP_HLEN);
        g_assert_cmpuint(g_bytes_get_size(huge), ==, 14 + 65535);

        f.sniffer = vsm_sniffer_new(on_frame, &f);
        g_assert_cmpint(vsm_sniffer_add(f.sniffer, (int) if_nametoindex(SNIFFED)), ==, 0);
        raw_send(fd, huge);
        raw_send(fd, small);
        wait_seen(&f, 1);
        g_assert_cmpuint(f.seen->len, ==, 1);
        g_assert_true(g_bytes_equal(((Seen *) g_ptr_array_index(f.seen, 0))->frame, small));
        vsm_sniffer_get_stats(f.sniffer, &frames, &truncated, &errors);
        g_assert_cmpuint(frames, ==, 1);
        g_assert_cmpuint(truncated, ==, 1);
        g_assert_cmpuint(errors, ==, 0);

        g_clear_pointer(&f.sniffer, vsm_sniffer_free);
        g_ptr_array_unref(f.seen);
        close(fd);
        vsm_test_run("ip link set " SNIFFED " mtu 1500 && ip link set " PEER " mtu 1500");
}

static void test_remove_in_callback(void) {
        Fixture f = { .seen = g_ptr_array_new_with_free_func(seen_free), .remove_on_first = TRUE };
        g_autoptr(GBytes) frame = udp4(68, 67, 0, NULL, 300);
        int fd = raw_open(PEER);

        f.sniffer = vsm_sniffer_new(on_frame, &f);
        g_assert_cmpint(vsm_sniffer_add(f.sniffer, (int) if_nametoindex(SNIFFED)), ==, 0);
        /* Three queued at once: the first callback removes the tap. */
        raw_send(fd, frame);
        raw_send(fd, frame);
        raw_send(fd, frame);
        wait_seen(&f, 1);
        g_assert_cmpuint(f.seen->len, ==, 1);
        g_assert_cmpuint(vsm_sniffer_n_taps(f.sniffer), ==, 0);
        g_clear_pointer(&f.sniffer, vsm_sniffer_free);
        g_ptr_array_unref(f.seen);
        close(fd);
}

/* A guest flooding at line rate: per tap and direction, the bucket lets
 * `burst` frames through at once and `rate` per second after; the rest is
 * dropped and counted.  The other direction has a bucket of its own. */
static void test_rate_limit(void) {
        Fixture f = { .seen = g_ptr_array_new_with_free_func(seen_free) };
        g_autoptr(GBytes) join = NULL;
        int from = raw_open(PEER), to = raw_open(SNIFFED);
        int ifindex = (int) if_nametoindex(SNIFFED);
        const guint rate = 50, burst = 20, n_sent = 150;
        guint64 frames = 0, dropped;
        gint64 t0, t1;
        guint n_from = 0, n_to = 0;

        /* A DHCP DISCOVER-sized frame: what the filter passes. */
        join = udp4(68, 67, 0, NULL, 300);

        /* No limit: every frame of a burst arrives. */
        f.sniffer = vsm_sniffer_new(on_frame, &f);
        vsm_sniffer_set_rate_limit(f.sniffer, 0, 0);
        g_assert_cmpint(vsm_sniffer_add(f.sniffer, ifindex), ==, 0);
        for (guint i = 0; i < n_sent; i++)
                raw_send(from, join);
        wait_seen(&f, n_sent);
        g_assert_cmpuint(f.seen->len, ==, n_sent);
        g_assert_cmpuint(vsm_sniffer_get_rate_dropped(f.sniffer, -1), ==, 0);
        g_clear_pointer(&f.sniffer, vsm_sniffer_free);
        g_ptr_array_set_size(f.seen, 0);

        /* Limited: the same burst, then one frame to the guest. */
        f.sniffer = vsm_sniffer_new(on_frame, &f);
        vsm_sniffer_set_rate_limit(f.sniffer, rate, burst);
        g_assert_cmpint(vsm_sniffer_add(f.sniffer, ifindex), ==, 0);
        t0 = g_get_monotonic_time();
        for (guint i = 0; i < n_sent; i++)
                raw_send(from, join);
        raw_send(to, join);
        wait_seen(&f, burst + 1);
        t1 = g_get_monotonic_time();
        for (guint i = 0; i < f.seen->len; i++) {
                if (((Seen *) g_ptr_array_index(f.seen, i))->dir == VSM_LEARN_FROM_GUEST)
                        n_from++;
                else
                        n_to++;
        }
        vsm_sniffer_get_stats(f.sniffer, &frames, NULL, NULL);
        dropped = vsm_sniffer_get_rate_dropped(f.sniffer, -1);
        g_test_message("sent %u + 1 in %.0f ms: %u from the guest and %u to it passed, %" G_GUINT64_FORMAT
                       " dropped", n_sent, (double) (t1 - t0) / 1000.0, n_from, n_to, dropped);
        g_assert_cmpuint(n_from, >=, burst);
        g_assert_cmpuint(n_from, <=, burst + (guint) (rate * (double) (t1 - t0) / G_USEC_PER_SEC) + 1);
        g_assert_cmpuint(n_to, ==, 1);
        g_assert_cmpuint(dropped, ==, n_sent - n_from);
        g_assert_cmpuint(vsm_sniffer_get_rate_dropped(f.sniffer, ifindex), ==, dropped);
        g_assert_cmpuint(frames, ==, n_from + n_to);

        /* The bucket refills: after a pause, a burst passes again. */
        g_usleep((gulong) burst * G_USEC_PER_SEC / rate);
        g_ptr_array_set_size(f.seen, 0);
        for (guint i = 0; i < burst; i++)
                raw_send(from, join);
        wait_seen(&f, burst);
        g_assert_cmpuint(f.seen->len, ==, burst);
        g_assert_cmpuint(vsm_sniffer_get_rate_dropped(f.sniffer, -1), ==, dropped);

        g_clear_pointer(&f.sniffer, vsm_sniffer_free);
        g_ptr_array_unref(f.seen);
        close(from);
        close(to);
}

static void test_errors(void) {
        g_autoptr(VsmSniffer) s = vsm_sniffer_new(on_frame, NULL);

        g_assert_cmpint(vsm_sniffer_add(s, 999999), ==, -ENODEV);
        g_assert_cmpuint(vsm_sniffer_n_taps(s), ==, 0);
        vsm_sniffer_remove(s, 999999);  /* absent: no-op */
        g_assert_null(vsm_sniffer_free(NULL));
}

int main(int argc, char **argv) {
        int ret;

        g_test_init(&argc, &argv, NULL);

        /* No IPv6 autoconfiguration traffic (DAD, MLD) on the veths. */
        if (!vsm_test_netns_enter(&ret))
                return ret;
        vsm_test_run("ip link add " SNIFFED " type veth peer name " PEER);
        vsm_test_run("ip link set " SNIFFED " up && ip link set " PEER " up");

        /* /dev/tap<ifindex> is one global devtmpfs node for every netns
         * (research/qbg-testbed-facts.md): an index no other test uses. */
        {
                g_autofree char *cmd = g_strdup_printf("ip link add link " SNIFFED " name " MVT " index %u "
                                                       "type macvtap mode vepa && ip link set " MVT
                                                       " allmulticast on up", 20000u + (guint) getpid() % 40000u);

                vsm_test_run(cmd);
        }
        g_test_add_func("/io-sniffer/macvtap", test_macvtap);
        g_test_add_func("/io-sniffer/from-guest", test_from_guest);
        g_test_add_func("/io-sniffer/to-guest", test_to_guest);
        g_test_add_func("/io-sniffer/truncated", test_truncated);
        g_test_add_func("/io-sniffer/remove-in-callback", test_remove_in_callback);
        g_test_add_func("/io-sniffer/errors", test_errors);
        g_test_add_func("/io-sniffer/rate-limit", test_rate_limit);
        /* The namespace and its veths go away with this process. */
        return g_test_run();
}

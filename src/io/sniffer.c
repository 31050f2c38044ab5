/* Learning taps: an AF_PACKET socket per VM tap, with a classic BPF
 * program that passes only what sm/learn.c learns from ("Learning on the
 * source", DESIGN.md section 4, and "Address provenance", section 7):
 *   ARP (RFC 826), both ways (the guest's are claims; another MAC's to the
 *   guest take an address away);
 *   IPv4 UDP from or to port 67/68 (RFC 2131), IP options skipped by the
 *   IHL; non-first fragments are dropped (they carry no L4 header);
 *   IPv4 IGMP (protocol 2; RFC 1112, 2236, 3376);
 *   IPv6 ICMPv6 MLD 130/131/132/143 (RFC 2710, 3810) and ND RA/NS/NA
 *   134/135/136 (RFC 4861), directly after the fixed header or behind one
 *   hop-by-hop header (MLD always carries the RFC 2711 Router Alert there);
 *   and, from the guest only (an IP source the guest uses is an address it
 *   owns), the low-volume packets that show one: TCP with SYN set, ICMP /
 *   ICMPv6 echo request and reply, UDP to port 53 (IPv4 behind the IHL;
 *   IPv6 directly after the fixed header).
 * Taps carry untagged frames only, so no 802.1Q handling.
 *
 * Frames the host sends into the tap (PACKET_OUTGOING) go to the guest;
 * every other packet type came from it.  A macvtap is the other way round
 * (measured on 6.18): the guest's writes to /dev/tapN leave through the
 * macvtap's xmit path (tap_get_user() -> dev_queue_xmit(), PACKET_OUTGOING
 * to a packet socket on it), what the lower device delivers to it is
 * received there (PACKET_HOST, BROADCAST, MULTICAST).  The program tells them apart by
 * the packet type (SKF_AD_PKTTYPE), kept in M[0].
 */
#include "io/sniffer.h"

#include <errno.h>
#include <glib-unix.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/packet.h"
#include "proto/dhcp.h"
#include "proto/igmp.h"
#include "proto/inet.h"
#include "proto/mld.h"
#include "proto/ndisc.h"

#define SNIFFER_BUF_SIZE (64 * 1024)
#define SNIFFER_FRAMES_PER_WAKEUP 256  /* then yield to the loop; the fd stays readable */
#define SNIFFER_SNAPLEN 0x40000u       /* BPF accept: the whole frame (tcpdump's snaplen) */
/* Per tap and direction, a token bucket (frames, usec): a guest that
 * floods joins, ARPs or NAs at line rate reaches the learner at this rate
 * and no faster; the rest is read and dropped, and counted. */
#define SNIFFER_RATE_DEFAULT 1000u     /* frames per second */
#define SNIFFER_BURST_DEFAULT 2000u
#define USEC_PER_SEC 1000000u

/* Offsets in an untagged Ethernet frame. */
#define OFF_ETHERTYPE 12
#define OFF_IP4 VSM_ETH_HLEN
#define OFF_IP4_FRAG (OFF_IP4 + 6)
#define OFF_IP4_PROTO (OFF_IP4 + 9)
#define OFF_IP6 VSM_ETH_HLEN
#define OFF_IP6_NEXT (OFF_IP6 + 6)
#define OFF_IP6_PAYLOAD (OFF_IP6 + VSM_IP6_HLEN)
#define IP4_FRAG_OFFSET_MASK 0x1fff
#define OFF_TCP_FLAGS 13
#define TCP_FLAG_SYN 0x02
#define DNS_PORT 53
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129

/* The program, instruction by instruction.  Jump offsets are relative to
 * the next instruction; TO() computes them from the absolute indices
 * below so the numbering stays checkable. */
enum {
        L_IP4 = 6,
        L_UDP4 = 14,
        L_TCP4 = 21,
        L_ICMP4 = 23,
        L_IP6 = 26,
        L_TCP6 = 31,
        L_UDP6 = 33,
        L_IP6_ICMP = 35,
        L_IP6_HBH = 37,
        L_IP6_TAX = 42,
        L_FROM_GUEST = 53,
        L_ACCEPT = 55,
        L_DROP = 56,
};
#define TO(here, label) ((label) - (here) - 1)

static const struct sock_filter sniffer_filter[] = {
        /*  0 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
        /*  1 */ BPF_STMT(BPF_ST, 0),                                                /* M[0] = packet type */
        /*  2 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, OFF_ETHERTYPE),
        /*  3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_ETH_P_ARP, TO(3, L_ACCEPT), 0),
        /*  4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_ETH_P_IPV4, TO(4, L_IP4), 0),
        /*  5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_ETH_P_IPV6, TO(5, L_IP6), TO(5, L_DROP)),

        /* IPv4, first fragments only; X = 4 * IHL skips the options. */
        /*  6 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, OFF_IP4_FRAG),
        /*  7 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, IP4_FRAG_OFFSET_MASK, TO(7, L_DROP), 0),
        /*  8 */ BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, OFF_IP4),
        /*  9 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, OFF_IP4_PROTO),
        /* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_IP_PROTO_IGMP, TO(10, L_ACCEPT), 0),
        /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_IP_PROTO_UDP, TO(11, L_UDP4), 0),
        /* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_IP_PROTO_TCP, TO(12, L_TCP4), 0),
        /* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_IP_PROTO_ICMP, TO(13, L_ICMP4), TO(13, L_DROP)),
        /* UDP: port 67/68 on either side, either way; to port 53 from the guest. */
        /* 14 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, OFF_IP4),                       /* UDP source port */
        /* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_DHCP_SERVER_PORT, TO(15, L_ACCEPT), 0),
        /* 16 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_DHCP_CLIENT_PORT, TO(16, L_ACCEPT), 0),
        /* 17 */ BPF_STMT(BPF_LD | BPF_H | BPF_IND, OFF_IP4 + 2),                   /* UDP destination port */
        /* 18 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_DHCP_SERVER_PORT, TO(18, L_ACCEPT), 0),
        /* 19 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_DHCP_CLIENT_PORT, TO(19, L_ACCEPT), 0),
        /* 20 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DNS_PORT, TO(20, L_FROM_GUEST), TO(20, L_DROP)),
        /* 21 */ BPF_STMT(BPF_LD | BPF_B | BPF_IND, OFF_IP4 + OFF_TCP_FLAGS),
        /* 22 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, TCP_FLAG_SYN, TO(22, L_FROM_GUEST), TO(22, L_DROP)),
        /* 23 */ BPF_STMT(BPF_LD | BPF_B | BPF_IND, OFF_IP4),                       /* ICMP type */
        /* 24 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP_ECHO_REQUEST, TO(24, L_FROM_GUEST), 0),
        /* 25 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP_ECHO_REPLY, TO(25, L_FROM_GUEST), TO(25, L_DROP)),

        /* IPv6: TCP and UDP right after the fixed header; ICMPv6 there
         * (X = 0) or behind one hop-by-hop header (X = its length,
         * (Hdr Ext Len + 1) * 8, RFC 8200 section 4.3). */
        /* 26 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, OFF_IP6_NEXT),
        /* 27 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_IP_PROTO_ICMPV6, TO(27, L_IP6_ICMP), 0),
        /* 28 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_IP_PROTO_TCP, TO(28, L_TCP6), 0),
        /* 29 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_IP_PROTO_UDP, TO(29, L_UDP6), 0),
        /* 30 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_IP_PROTO_HOPOPTS, TO(30, L_IP6_HBH), TO(30, L_DROP)),
        /* 31 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, OFF_IP6_PAYLOAD + OFF_TCP_FLAGS),
        /* 32 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, TCP_FLAG_SYN, TO(32, L_FROM_GUEST), TO(32, L_DROP)),
        /* 33 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, OFF_IP6_PAYLOAD + 2),           /* UDP destination port */
        /* 34 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, DNS_PORT, TO(34, L_FROM_GUEST), TO(34, L_DROP)),
        /* 35 */ BPF_STMT(BPF_LD | BPF_IMM, 0),
        /* 36 */ BPF_JUMP(BPF_JMP | BPF_JA, TO(36, L_IP6_TAX), 0, 0),
        /* 37 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, OFF_IP6_PAYLOAD),               /* HBH next header */
        /* 38 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_IP_PROTO_ICMPV6, 0, TO(38, L_DROP)),
        /* 39 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, OFF_IP6_PAYLOAD + 1),           /* HBH Hdr Ext Len */
        /* 40 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),
        /* 41 */ BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 3),
        /* 42 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
        /* 43 */ BPF_STMT(BPF_LD | BPF_B | BPF_IND, OFF_IP6_PAYLOAD),               /* ICMPv6 type */
        /* 44 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_MLD_QUERY, TO(44, L_ACCEPT), 0),
        /* 45 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_MLD_V1_REPORT, TO(45, L_ACCEPT), 0),
        /* 46 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_MLD_V1_DONE, TO(46, L_ACCEPT), 0),
        /* 47 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_MLD_V2_REPORT, TO(47, L_ACCEPT), 0),
        /* 48 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_NDISC_RA, TO(48, L_ACCEPT), 0),
        /* 49 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_NDISC_NS, TO(49, L_ACCEPT), 0),
        /* 50 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VSM_NDISC_NA, TO(50, L_ACCEPT), 0),
        /* 51 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMPV6_ECHO_REQUEST, TO(51, L_FROM_GUEST), 0),
        /* 52 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMPV6_ECHO_REPLY, TO(52, L_FROM_GUEST), TO(52, L_DROP)),

        /* 53 */ BPF_STMT(BPF_LD | BPF_MEM, 0),                                     /* the packet type */
        /* 54 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, TO(54, L_DROP), TO(54, L_ACCEPT)),
        /* 55 */ BPF_STMT(BPF_RET | BPF_K, SNIFFER_SNAPLEN),                        /* accept, whole frame */
        /* 56 */ BPF_STMT(BPF_RET | BPF_K, 0),                                      /* drop */
};
G_STATIC_ASSERT(G_N_ELEMENTS(sniffer_filter) == L_DROP + 1);

typedef struct SnifferBucket {
        guint64 tokens;                /* frames x USEC_PER_SEC */
        gint64 last_usec;              /* last refill */
} SnifferBucket;

typedef struct SnifferTap {
        VsmSniffer *owner;
        int ifindex;
        int fd;
        guint source_id;
        gboolean removed;              /* removed from its own callback */
        SnifferBucket bucket[2];       /* by VsmLearnDirection */
        gboolean macvtap;              /* guest's frames are PACKET_OUTGOING */
        guint64 n_rate_dropped;
} SnifferTap;

struct VsmSniffer {
        VsmSnifferFunc func;
        gpointer user_data;
        GHashTable *taps;              /* ifindex -> SnifferTap, owned */
        SnifferTap *dispatching;       /* the tap whose frames are being handed out */
        uint8_t *buf;                  /* SNIFFER_BUF_SIZE */
        guint64 n_frames;
        guint64 n_truncated;
        guint64 n_errors;
        guint rate;                    /* frames per second per tap and direction; 0: no limit */
        guint burst;
        guint64 n_rate_dropped;
};

static void tap_close(SnifferTap *t) {
        g_clear_handle_id(&t->source_id, g_source_remove);
        if (t->fd >= 0) {
                close(t->fd);
                t->fd = -1;
        }
}

static void tap_free(gpointer p) {
        SnifferTap *t = p;

        if (!t)
                return;
        tap_close(t);
        g_free(t);
}

static void bucket_refill(SnifferBucket *b, guint rate, guint burst, gint64 now_usec) {
        guint64 cap = (guint64) burst * USEC_PER_SEC;
        guint64 elapsed = now_usec > b->last_usec ? (guint64) (now_usec - b->last_usec) : 0;

        b->last_usec = now_usec;
        /* Full after burst / rate seconds; no overflow for longer gaps. */
        if (elapsed >= (guint64) burst * USEC_PER_SEC / rate)
                b->tokens = cap;
        else
                b->tokens = MIN(cap, b->tokens + elapsed * rate);
}

/* Whether the frame may go to the learner: takes one token. */
static gboolean bucket_take(SnifferBucket *b) {
        if (b->tokens < USEC_PER_SEC)
                return FALSE;
        b->tokens -= USEC_PER_SEC;
        return TRUE;
}

/* Hand out what the socket holds, at most SNIFFER_FRAMES_PER_WAKEUP. */
static gboolean tap_dispatch(gint fd, GIOCondition cond, gpointer user_data) {
        SnifferTap *t = user_data;
        VsmSniffer *s = t->owner;

        if (s->rate > 0) {
                gint64 now = g_get_monotonic_time();

                bucket_refill(&t->bucket[VSM_LEARN_FROM_GUEST], s->rate, s->burst, now);
                bucket_refill(&t->bucket[VSM_LEARN_TO_GUEST], s->rate, s->burst, now);
        }
        s->dispatching = t;
        for (guint i = 0; i < SNIFFER_FRAMES_PER_WAKEUP && !t->removed; i++) {
                struct sockaddr_ll sll;
                socklen_t sll_len;
                VsmLearnDirection dir;
                ssize_t n;

                n = vsm_packet_recv_from(fd, s->buf, SNIFFER_BUF_SIZE, &sll, &sll_len);
                if (n == -EMSGSIZE) {
                        s->n_truncated++;
                        continue;
                }
                if (n < 0) {
                        if (n != -EAGAIN)
                                s->n_errors++;  /* e.g. ENETDOWN, reported once */
                        break;
                }
                dir = (sll.sll_pkttype == PACKET_OUTGOING) != t->macvtap ? VSM_LEARN_TO_GUEST
                                                                         : VSM_LEARN_FROM_GUEST;
                if (s->rate > 0 && !bucket_take(&t->bucket[dir])) {
                        t->n_rate_dropped++;
                        s->n_rate_dropped++;
                        continue;
                }
                s->n_frames++;
                s->func(t->ifindex, s->buf, (size_t) n, dir, s->user_data);
        }
        s->dispatching = NULL;

        if (t->removed) {
                /* vsm_sniffer_remove() from the callback closed it already;
                 * the source is gone, returning REMOVE is harmless. */
                tap_free(t);
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
}

/* A sniffer with no taps; func gets every accepted frame (valid only
 * during the call). */
VsmSniffer *vsm_sniffer_new(VsmSnifferFunc func, gpointer user_data) {
        VsmSniffer *s;

        g_return_val_if_fail(func, NULL);

        s = g_new0(VsmSniffer, 1);
        s->func = func;
        s->user_data = user_data;
        s->taps = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, tap_free);
        s->buf = g_malloc(SNIFFER_BUF_SIZE);
        s->rate = SNIFFER_RATE_DEFAULT;
        s->burst = SNIFFER_BURST_DEFAULT;
        return s;
}

/* Closes every tap socket and removes its source.  Not from inside the
 * sniffer's own callback. */
VsmSniffer *vsm_sniffer_free(VsmSniffer *s) {
        if (!s)
                return NULL;
        g_return_val_if_fail(!s->dispatching, NULL);
        g_clear_pointer(&s->taps, g_hash_table_unref);
        g_free(s->buf);
        g_free(s);
        return NULL;
}

/* Opens the tap's socket and watches it in the default main context. */
int vsm_sniffer_add(VsmSniffer *s, int ifindex) {
        return vsm_sniffer_add_full(s, ifindex, FALSE);
}

/* See sniffer.h: a macvtap's directions are the other way round. */
int vsm_sniffer_add_full(VsmSniffer *s, int ifindex, gboolean macvtap) {
        struct sock_filter filter[G_N_ELEMENTS(sniffer_filter)];
        SnifferTap *t;
        int fd;

        g_return_val_if_fail(s, -EINVAL);
        g_return_val_if_fail(ifindex > 0, -EINVAL);

        if (g_hash_table_contains(s->taps, GINT_TO_POINTER(ifindex)))
                return 0;
        memcpy(filter, sniffer_filter, sizeof(filter));
        if (macvtap) {
                /* From the guest only: PACKET_OUTGOING on a macvtap. */
                uint8_t jt = filter[L_FROM_GUEST + 1].jt;

                filter[L_FROM_GUEST + 1].jt = filter[L_FROM_GUEST + 1].jf;
                filter[L_FROM_GUEST + 1].jf = jt;
        }
        fd = vsm_packet_open_filtered(ifindex, filter, G_N_ELEMENTS(filter));
        if (fd < 0)
                return fd;
        t = g_new0(SnifferTap, 1);
        t->owner = s;
        t->ifindex = ifindex;
        t->fd = fd;
        t->macvtap = macvtap;
        for (guint i = 0; i < G_N_ELEMENTS(t->bucket); i++) {
                t->bucket[i].tokens = (guint64) s->burst * USEC_PER_SEC;
                t->bucket[i].last_usec = g_get_monotonic_time();
        }
        t->source_id = g_unix_fd_add_full(G_PRIORITY_DEFAULT, fd, G_IO_IN | G_IO_ERR | G_IO_HUP, tap_dispatch, t,
                                          NULL);
        g_hash_table_insert(s->taps, GINT_TO_POINTER(ifindex), t);
        return 0;
}

/* Closes the tap's socket; safe from the sniffer's own callback. */
void vsm_sniffer_remove(VsmSniffer *s, int ifindex) {
        SnifferTap *t;

        g_return_if_fail(s);

        t = g_hash_table_lookup(s->taps, GINT_TO_POINTER(ifindex));
        if (!t)
                return;
        if (t == s->dispatching) {
                /* Inside its own callback: tap_dispatch() frees it. */
                g_hash_table_steal(s->taps, GINT_TO_POINTER(ifindex));
                tap_close(t);
                t->removed = TRUE;
                return;
        }
        g_hash_table_remove(s->taps, GINT_TO_POINTER(ifindex));
}

/* Number of taps being sniffed. */
guint vsm_sniffer_n_taps(const VsmSniffer *s) {
        g_return_val_if_fail(s, 0);
        return g_hash_table_size(s->taps);
}

/* Counters, see sniffer.h. */
void vsm_sniffer_get_stats(const VsmSniffer *s, guint64 *ret_frames, guint64 *ret_truncated, guint64 *ret_errors) {
        g_return_if_fail(s);
        if (ret_frames)
                *ret_frames = s->n_frames;
        if (ret_truncated)
                *ret_truncated = s->n_truncated;
        if (ret_errors)
                *ret_errors = s->n_errors;
}

/* The rate limit, see sniffer.h. */
void vsm_sniffer_set_rate_limit(VsmSniffer *s, guint rate, guint burst) {
        GHashTableIter it;
        gpointer v;

        g_return_if_fail(s);
        g_return_if_fail(rate == 0 || burst > 0);
        s->rate = rate;
        s->burst = burst;
        g_hash_table_iter_init(&it, s->taps);
        while (g_hash_table_iter_next(&it, NULL, &v))
                for (guint i = 0; i < G_N_ELEMENTS(((SnifferTap *) v)->bucket); i++)
                        ((SnifferTap *) v)->bucket[i].tokens = (guint64) burst * USEC_PER_SEC;
}

/* Frames dropped by the rate limit, over all taps and for one. */
guint64 vsm_sniffer_get_rate_dropped(const VsmSniffer *s, int ifindex) {
        SnifferTap *t;

        g_return_val_if_fail(s, 0);
        if (ifindex <= 0)
                return s->n_rate_dropped;
        t = g_hash_table_lookup(s->taps, GINT_TO_POINTER(ifindex));
        return t ? t->n_rate_dropped : 0;
}

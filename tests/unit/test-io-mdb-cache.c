/* The mdb cache's parser and table (io/mdb-cache.c), fed netlink messages
 * built here byte by byte in the kernel's layout (br_mdb_dump() and
 * br_mdb_notify() in net/bridge/br_mdb.c): struct br_port_msg, MDBA_MDB
 * { MDBA_MDB_ENTRY { MDBA_MDB_ENTRY_INFO (struct br_mdb_entry [, nested
 * MDBA_MDB_EATTR_*]) } }.  Add, delete, replace, the dump's sweep,
 * notifications during a dump, caps, and cut or hostile input. */
#include <arpa/inet.h>
#include <glib.h>
#include <string.h>

#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "io/mdb-cache.h"
#include "test-util.h"

#define BR 10

typedef struct {
        GArray *changed;               /* int: the ports told */
} Seen;

static void on_changed(int port, gpointer user_data) {
        Seen *s = user_data;

        g_array_append_val(s->changed, port);
}

static void put(GByteArray *b, const void *p, size_t len) {
        static const uint8_t zero[4];

        g_byte_array_append(b, p, (guint) len);
        g_byte_array_append(b, zero, (guint) (NLA_ALIGN(len) - len));
}

/* An attribute header at off, its length set by attr_end(). */
static size_t attr_begin(GByteArray *b, uint16_t type) {
        struct nlattr a = { .nla_type = type };
        size_t off = b->len;

        g_byte_array_append(b, (const uint8_t *) &a, sizeof(a));
        return off;
}

static void attr_end(GByteArray *b, size_t off) {
        struct nlattr *a = (struct nlattr *) (b->data + off);

        a->nla_len = (uint16_t) (b->len - off);
}

typedef struct {
        int port;
        const char *group;             /* IPv4 / IPv6 text, or NULL for an L2 entry */
        gboolean permanent;
        gboolean with_source;          /* an (S,G) entry */
        uint16_t vid;
} E;

/* One message of type with entries es[0..n) of bridge br. */
static void msg_add(GByteArray *b, uint16_t type, uint32_t seq, uint16_t flags, int br, const E *es, size_t n) {
        struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq };
        struct br_port_msg bpm = { .family = AF_BRIDGE, .ifindex = (uint32_t) br };
        size_t start = b->len, mdb, ent;

        g_byte_array_append(b, (const uint8_t *) &h, sizeof(h));
        put(b, &bpm, sizeof(bpm));
        mdb = attr_begin(b, MDBA_MDB | NLA_F_NESTED);
        for (size_t i = 0; i < n; i++) {
                struct br_mdb_entry me = {
                        .ifindex = (uint32_t) es[i].port,
                        .state = es[i].permanent ? MDB_PERMANENT : MDB_TEMPORARY,
                        .vid = es[i].vid,
                };
                size_t info;

                if (!es[i].group) {
                        me.addr.proto = 0;
                        memcpy(me.addr.u.mac_addr, "\x01\x00\x5e\x01\x02\x03", 6);
                } else if (strchr(es[i].group, ':')) {
                        me.addr.proto = htons(ETH_P_IPV6);
                        g_assert_cmpint(inet_pton(AF_INET6, es[i].group, &me.addr.u.ip6), ==, 1);
                } else {
                        me.addr.proto = htons(ETH_P_IP);
                        g_assert_cmpint(inet_pton(AF_INET, es[i].group, &me.addr.u.ip4), ==, 1);
                }
                ent = attr_begin(b, MDBA_MDB_ENTRY | NLA_F_NESTED);
                info = attr_begin(b, MDBA_MDB_ENTRY_INFO);
                put(b, &me, sizeof(me));
                {
                        size_t t = attr_begin(b, MDBA_MDB_EATTR_TIMER);
                        uint32_t timer = 250;

                        put(b, &timer, sizeof(timer));
                        attr_end(b, t);
                }
                if (es[i].with_source) {
                        size_t s = attr_begin(b, MDBA_MDB_EATTR_SOURCE);
                        uint32_t src = htonl(0x0a4d0001);

                        put(b, &src, sizeof(src));
                        attr_end(b, s);
                }
                attr_end(b, info);
                attr_end(b, ent);
        }
        attr_end(b, mdb);
        ((struct nlmsghdr *) (b->data + start))->nlmsg_len = (uint32_t) (b->len - start);
}

static void msg_done(GByteArray *b, uint32_t seq) {
        struct nlmsghdr h = { .nlmsg_len = NLMSG_LENGTH(sizeof(int)), .nlmsg_type = NLMSG_DONE,
                              .nlmsg_flags = NLM_F_MULTI, .nlmsg_seq = seq };
        int zero = 0;

        g_byte_array_append(b, (const uint8_t *) &h, sizeof(h));
        put(b, &zero, sizeof(zero));
}

static void msg_error(GByteArray *b, uint32_t seq, int err) {
        struct nlmsghdr h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr)), .nlmsg_type = NLMSG_ERROR,
                              .nlmsg_seq = seq };
        struct nlmsgerr e = { .error = err };

        g_byte_array_append(b, (const uint8_t *) &h, sizeof(h));
        put(b, &e, sizeof(e));
}

static void feed(VsmMdbCache *c, GByteArray *b) {
        vsm_mdb_cache_feed(c, b->data, b->len);
        g_byte_array_set_size(b, 0);
}

static guint port_len(VsmMdbCache *c, int port) {
        g_autoptr(GArray) a = vsm_mdb_cache_port(c, port, NULL);

        return a ? a->len : 0;
}

static gboolean has(VsmMdbCache *c, int port, const char *group) {
        g_autoptr(GArray) a = vsm_mdb_cache_port(c, port, NULL);
        uint8_t want[16] = {};
        gboolean v6 = strchr(group, ':') != NULL;

        g_assert_cmpint(inet_pton(v6 ? AF_INET6 : AF_INET, group, want), ==, 1);
        for (guint i = 0; a && i < a->len; i++) {
                const VsmMdbEntry *e = &g_array_index(a, VsmMdbEntry, i);

                if (e->is_ip6 == v6 && memcmp(e->group, want, v6 ? 16 : 4) == 0) {
                        g_assert_cmpint(e->bridge_ifindex, ==, BR);
                        g_assert_cmpint(e->port_ifindex, ==, port);
                        return TRUE;
                }
        }
        return FALSE;
}

static VsmMdbCacheStats stats(VsmMdbCache *c) {
        VsmMdbCacheStats st;

        vsm_mdb_cache_get_stats(c, &st);
        return st;
}

static void test_add_del(void) {
        Seen seen = { .changed = g_array_new(FALSE, FALSE, sizeof(int)) };
        g_autoptr(VsmMdbCache) c = vsm_mdb_cache_new(100, 10, on_changed, &seen);
        g_autoptr(GByteArray) b = g_byte_array_new();
        const E add[] = {
                { .port = 5, .group = "239.1.1.1" },
                { .port = 5, .group = "ff3e::1:2" },
                { .port = 6, .group = "239.1.1.2", .vid = 7 },
        };

        g_assert_false(vsm_mdb_cache_is_complete(c));
        /* Several messages in one buffer; one entry each, as notified. */
        for (size_t i = 0; i < G_N_ELEMENTS(add); i++)
                msg_add(b, RTM_NEWMDB, 0, 0, BR, &add[i], 1);
        feed(c, b);
        g_assert_cmpuint(port_len(c, 5), ==, 2);
        g_assert_cmpuint(port_len(c, 6), ==, 1);
        g_assert_true(has(c, 5, "239.1.1.1"));
        g_assert_true(has(c, 5, "ff3e::1:2"));
        g_assert_true(has(c, 6, "239.1.1.2"));
        {
                g_autoptr(GArray) a = vsm_mdb_cache_port(c, 6, NULL);

                g_assert_cmpuint(g_array_index(a, VsmMdbEntry, 0).vid, ==, 7);
        }
        g_assert_cmpuint(seen.changed->len, ==, 3);
        g_assert_cmpuint(stats(c).entries, ==, 3);
        g_assert_cmpuint(stats(c).notifications, ==, 3);

        msg_add(b, RTM_DELMDB, 0, 0, BR, &add[0], 1);
        feed(c, b);
        g_assert_false(has(c, 5, "239.1.1.1"));
        g_assert_true(has(c, 5, "ff3e::1:2"));
        g_assert_cmpuint(seen.changed->len, ==, 4);
        g_assert_cmpint(g_array_index(seen.changed, int, 3), ==, 5);
        /* Deleting what is not there: nothing told. */
        msg_add(b, RTM_DELMDB, 0, 0, BR, &add[0], 1);
        feed(c, b);
        g_assert_cmpuint(seen.changed->len, ==, 4);
        /* Same group on another VLAN is another entry. */
        msg_add(b, RTM_DELMDB, 0, 0, BR, &(E) { .port = 6, .group = "239.1.1.2" }, 1);
        feed(c, b);
        g_assert_cmpuint(port_len(c, 6), ==, 1);
        msg_add(b, RTM_DELMDB, 0, 0, BR, &add[2], 1);
        feed(c, b);
        g_assert_cmpuint(port_len(c, 6), ==, 0);
        g_assert_cmpuint(stats(c).entries, ==, 1);
        g_assert_cmpuint(stats(c).ports, ==, 1);
        g_array_unref(seen.changed);
}

static void test_replace(void) {
        Seen seen = { .changed = g_array_new(FALSE, FALSE, sizeof(int)) };
        g_autoptr(VsmMdbCache) c = vsm_mdb_cache_new(100, 10, on_changed, &seen);
        g_autoptr(GByteArray) b = g_byte_array_new();
        E e = { .port = 5, .group = "239.1.1.1" };

        msg_add(b, RTM_NEWMDB, 0, 0, BR, &e, 1);
        msg_add(b, RTM_NEWMDB, 0, 0, BR, &e, 1);      /* the same again: no change */
        feed(c, b);
        g_assert_cmpuint(port_len(c, 5), ==, 1);
        g_assert_cmpuint(seen.changed->len, ==, 1);
        e.permanent = TRUE;                            /* replaced: temp -> permanent */
        msg_add(b, RTM_NEWMDB, 0, 0, BR, &e, 1);
        feed(c, b);
        g_assert_cmpuint(port_len(c, 5), ==, 1);
        {
                g_autoptr(GArray) a = vsm_mdb_cache_port(c, 5, NULL);

                g_assert_true(g_array_index(a, VsmMdbEntry, 0).permanent);
        }
        g_assert_cmpuint(seen.changed->len, ==, 2);
        g_array_unref(seen.changed);
}

/* (S,G) entries, L2 entries and the bridge's own are not ours. */
static void test_skipped(void) {
        g_autoptr(VsmMdbCache) c = vsm_mdb_cache_new(100, 10, NULL, NULL);
        g_autoptr(GByteArray) b = g_byte_array_new();
        const E es[] = {
                { .port = 5, .group = "239.1.1.1", .with_source = TRUE },
                { .port = 5, .group = NULL },
                { .port = 5, .group = "239.1.1.3" },
        };

        msg_add(b, RTM_NEWMDB, 0, 0, BR, es, G_N_ELEMENTS(es));
        feed(c, b);
        g_assert_cmpuint(port_len(c, 5), ==, 1);
        g_assert_true(has(c, 5, "239.1.1.3"));
        g_assert_cmpuint(stats(c).malformed, ==, 0);
}

/* The dump: what it lists stays, what it does not is swept at its
 * NLMSG_DONE, and a notification read during it survives. */
static void test_dump_sweep(void) {
        Seen seen = { .changed = g_array_new(FALSE, FALSE, sizeof(int)) };
        g_autoptr(VsmMdbCache) c = vsm_mdb_cache_new(100, 10, on_changed, &seen);
        g_autoptr(GByteArray) b = g_byte_array_new();
        const E stale = { .port = 5, .group = "239.1.1.1" };
        const E part1[] = { { .port = 5, .group = "239.1.1.2" }, { .port = 6, .group = "ff3e::9" } };
        const E part2[] = { { .port = 7, .group = "239.1.1.4" } };
        const E during = { .port = 8, .group = "239.1.1.5" };

        msg_add(b, RTM_NEWMDB, 0, 0, BR, &stale, 1);
        feed(c, b);
        vsm_mdb_cache_begin_dump(c, 42);
        msg_add(b, RTM_GETMDB, 42, NLM_F_MULTI, BR, part1, G_N_ELEMENTS(part1));
        msg_add(b, RTM_NEWMDB, 0, 0, BR, &during, 1);
        feed(c, b);
        g_assert_false(vsm_mdb_cache_is_complete(c));
        g_assert_true(has(c, 5, "239.1.1.1"));   /* not swept before the end */
        msg_add(b, RTM_GETMDB, 42, NLM_F_MULTI, BR, part2, G_N_ELEMENTS(part2));
        msg_done(b, 42);
        feed(c, b);
        g_assert_true(vsm_mdb_cache_is_complete(c));
        g_assert_false(has(c, 5, "239.1.1.1"));
        g_assert_true(has(c, 5, "239.1.1.2"));
        g_assert_true(has(c, 6, "ff3e::9"));
        g_assert_true(has(c, 7, "239.1.1.4"));
        g_assert_true(has(c, 8, "239.1.1.5"));
        g_assert_cmpuint(stats(c).entries, ==, 4);
        g_assert_cmpuint(stats(c).dumps, ==, 1);
        /* The sweep told port 5. */
        g_assert_cmpint(g_array_index(seen.changed, int, seen.changed->len - 1), ==, 5);

        /* A failed dump changes nothing and leaves the cache incomplete. */
        vsm_mdb_cache_begin_dump(c, 43);
        msg_add(b, RTM_GETMDB, 43, NLM_F_MULTI, BR, part2, G_N_ELEMENTS(part2));
        msg_error(b, 43, -EBUSY);
        feed(c, b);
        g_assert_cmpuint(stats(c).entries, ==, 4);
        g_assert_cmpuint(stats(c).dumps, ==, 1);
        /* An interrupted dump (NLM_F_DUMP_INTR) is swept but not trusted. */
        vsm_mdb_cache_begin_dump(c, 44);
        msg_add(b, RTM_GETMDB, 44, NLM_F_MULTI | NLM_F_DUMP_INTR, BR, part1, G_N_ELEMENTS(part1));
        msg_done(b, 44);
        feed(c, b);
        g_assert_false(vsm_mdb_cache_is_complete(c));
        g_assert_cmpuint(stats(c).entries, ==, 2);
        g_array_unref(seen.changed);
}

static void test_caps(void) {
        g_autoptr(VsmMdbCache) c = vsm_mdb_cache_new(3, 2, NULL, NULL);
        g_autoptr(GByteArray) b = g_byte_array_new();
        const E es[] = {
                { .port = 5, .group = "239.1.1.1" },
                { .port = 5, .group = "239.1.1.2" },
                { .port = 5, .group = "239.1.1.3" },    /* over the port's cap */
                { .port = 6, .group = "239.1.1.4" },
                { .port = 7, .group = "239.1.1.5" },    /* over the whole cap */
        };
        gboolean truncated = FALSE;

        msg_add(b, RTM_GETMDB, 0, 0, BR, es, G_N_ELEMENTS(es));
        feed(c, b);
        g_assert_cmpuint(port_len(c, 5), ==, 2);
        {
                g_autoptr(GArray) a = vsm_mdb_cache_port(c, 5, &truncated);
        }
        g_assert_true(truncated);
        g_assert_cmpuint(port_len(c, 6), ==, 1);
        g_assert_cmpuint(port_len(c, 7), ==, 0);
        g_assert_cmpuint(stats(c).entries, ==, 3);
        g_assert_cmpuint(stats(c).overflow, ==, 2);
        /* Room again once one goes. */
        msg_add(b, RTM_DELMDB, 0, 0, BR, &es[3], 1);
        msg_add(b, RTM_NEWMDB, 0, 0, BR, &es[4], 1);
        feed(c, b);
        g_assert_cmpuint(port_len(c, 7), ==, 1);
}

/* Many entries on one port, added and removed in a mixed order: the
 * table holds exactly what is left. */
static void test_grow_shrink(void) {
        g_autoptr(VsmMdbCache) c = vsm_mdb_cache_new(1000, 256, NULL, NULL);
        g_autoptr(GByteArray) b = g_byte_array_new();
        char group[32];

        for (int i = 0; i < 200; i++) {
                g_snprintf(group, sizeof(group), "239.2.%d.%d", i / 100, i % 100);
                msg_add(b, RTM_NEWMDB, 0, 0, BR, &(E) { .port = 9, .group = group }, 1);
        }
        feed(c, b);
        g_assert_cmpuint(port_len(c, 9), ==, 200);
        for (int i = 0; i < 200; i += 2) {
                g_snprintf(group, sizeof(group), "239.2.%d.%d", i / 100, i % 100);
                msg_add(b, RTM_DELMDB, 0, 0, BR, &(E) { .port = 9, .group = group }, 1);
        }
        feed(c, b);
        g_assert_cmpuint(port_len(c, 9), ==, 100);
        for (int i = 0; i < 200; i++) {
                g_snprintf(group, sizeof(group), "239.2.%d.%d", i / 100, i % 100);
                g_assert_true(has(c, 9, group) == (i % 2 == 1));
        }
        for (int i = 1; i < 200; i += 2) {
                g_snprintf(group, sizeof(group), "239.2.%d.%d", i / 100, i % 100);
                msg_add(b, RTM_DELMDB, 0, 0, BR, &(E) { .port = 9, .group = group }, 1);
        }
        feed(c, b);
        g_assert_cmpuint(port_len(c, 9), ==, 0);
        g_assert_cmpuint(stats(c).entries, ==, 0);
        g_assert_cmpuint(stats(c).ports, ==, 0);
}

/* Cut or lying lengths: counted, never read past the buffer (ASan). */
static void test_malformed(void) {
        g_autoptr(VsmMdbCache) c = vsm_mdb_cache_new(100, 10, NULL, NULL);
        g_autoptr(GByteArray) b = g_byte_array_new();
        const E e = { .port = 5, .group = "239.1.1.1" };
        guint full;

        msg_add(b, RTM_NEWMDB, 0, 0, BR, &e, 1);
        full = b->len;
        /* Every truncation of a valid message. */
        for (guint cut = 0; cut < full; cut++) {
                g_autofree uint8_t *copy = g_memdup2(b->data, cut);

                if (cut >= sizeof(struct nlmsghdr))
                        ((struct nlmsghdr *) copy)->nlmsg_len = cut;
                vsm_mdb_cache_feed(c, copy, cut);
        }
        g_assert_cmpuint(stats(c).entries, ==, 0);
        g_assert_cmpuint(stats(c).malformed, >, 0);
        /* An attribute claiming more than its message holds. */
        {
                g_autofree uint8_t *copy = g_memdup2(b->data, full);
                struct nlattr *mdb = (struct nlattr *) (copy + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct br_port_msg)));

                mdb->nla_len = 0xffff;
                vsm_mdb_cache_feed(c, copy, full);
                mdb->nla_len = 2;          /* shorter than its own header */
                vsm_mdb_cache_feed(c, copy, full);
        }
        /* Bridge ifindex 0. */
        g_byte_array_set_size(b, 0);
        msg_add(b, RTM_NEWMDB, 0, 0, 0, &e, 1);
        feed(c, b);
        /* Unaligned buffer: parsed from a copy. */
        msg_add(b, RTM_NEWMDB, 0, 0, BR, &e, 1);
        {
                g_autofree uint8_t *odd = g_malloc(b->len + 1);

                memcpy(odd + 1, b->data, b->len);
                vsm_mdb_cache_feed(c, odd + 1, b->len);
        }
        g_assert_cmpuint(stats(c).entries, ==, 1);
        /* Random bytes. */
        for (int i = 0; i < 2000; i++) {
                uint8_t junk[256];
                guint len = (guint) g_test_rand_int_range(0, sizeof(junk));

                for (guint k = 0; k < len; k++)
                        junk[k] = (uint8_t) g_test_rand_int_range(0, 256);
                if (len >= 4) {
                        uint32_t l = (uint32_t) g_test_rand_int_range(0, (gint32) len + 1);

                        memcpy(junk, &l, sizeof(l));
                }
                vsm_mdb_cache_feed(c, junk, len);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/io-mdb-cache/add-del", test_add_del);
        g_test_add_func("/io-mdb-cache/replace", test_replace);
        g_test_add_func("/io-mdb-cache/skipped", test_skipped);
        g_test_add_func("/io-mdb-cache/dump-sweep", test_dump_sweep);
        g_test_add_func("/io-mdb-cache/caps", test_caps);
        g_test_add_func("/io-mdb-cache/grow-shrink", test_grow_shrink);
        g_test_add_func("/io-mdb-cache/malformed", test_malformed);
        return g_test_run();
}

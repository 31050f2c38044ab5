/* A copy of the kernel bridges' multicast databases, kept by RTNLGRP_MDB
 * notifications (RTM_NEWMDB / RTM_DELMDB) and primed by one RTM_GETMDB
 * dump of the host, redone after a lost notification (ENOBUFS).  Nothing
 * blocks: the socket is non-blocking and read from the main loop, a
 * bounded number of messages per turn.
 *
 * Only (*,G) IPv4/IPv6 entries are kept ((S,G) and L2 entries are not
 * ours), per bridge port, with hard caps on the whole and per port:
 * entries beyond a cap are counted and dropped (and the port is marked
 * incomplete until the next complete dump finds room). */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "io/mdb.h"

#define VSM_MDB_CACHE_ENTRIES_MAX 65536
#define VSM_MDB_CACHE_PORT_ENTRIES_MAX 256

typedef struct VsmMdbCache VsmMdbCache;

/* The entries of port_ifindex changed (added, removed, or state). */
typedef void (*VsmMdbCacheChangedFunc)(int port_ifindex, gpointer user_data);

typedef struct VsmMdbCacheStats {
        guint entries;
        guint ports;
        guint64 notifications;         /* RTM_NEWMDB/RTM_DELMDB taken outside a dump */
        guint64 dumps;                 /* complete dumps */
        guint64 resyncs;               /* dumps redone after ENOBUFS or a failed dump */
        guint64 overflow;              /* entries dropped at a cap */
        guint64 malformed;             /* messages or attributes cut short */
} VsmMdbCacheStats;

VsmMdbCache *vsm_mdb_cache_new(guint max_entries, guint max_per_port, VsmMdbCacheChangedFunc changed,
                               gpointer user_data);
VsmMdbCache *vsm_mdb_cache_free(VsmMdbCache *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmMdbCache, vsm_mdb_cache_free)

/* The socket's receive buffer (bytes) vsm_mdb_cache_start() asks for;
 * default 4 MiB.  Tests make it small to see ENOBUFS and the resync. */
void vsm_mdb_cache_set_rcvbuf(VsmMdbCache *c, int bytes);

/* Opens the netlink socket (NETLINK_ROUTE, RTNLGRP_MDB), attaches it to
 * the thread-default main context and sends the priming dump.  0 or
 * -errno. */
int vsm_mdb_cache_start(VsmMdbCache *c);

/* Reads what the socket holds now (non-blocking, bounded like a loop
 * turn): for a caller about to read the table that must not miss a
 * notification already queued (the source at SUSPENDED). */
void vsm_mdb_cache_poll(VsmMdbCache *c);

/* Whether a dump has completed since the start or the last lost
 * notification: before that the cache may miss entries. */
gboolean vsm_mdb_cache_is_complete(const VsmMdbCache *c);

/* A copy of the entries of one bridge port (VsmMdbEntry; g_array_unref),
 * or NULL if it has none.  *ret_truncated (may be NULL): entries of the
 * port were dropped at a cap. */
GArray *vsm_mdb_cache_port(const VsmMdbCache *c, int port_ifindex, gboolean *ret_truncated);

void vsm_mdb_cache_get_stats(const VsmMdbCache *c, VsmMdbCacheStats *ret);

/* The parser, for tests and the socket reader: one receive buffer of
 * netlink messages.  A dump is in progress between begin_dump(seq) and
 * the NLMSG_DONE (or NLMSG_ERROR) with that sequence number; at its end
 * the entries the dump did not list (and no notification re-added) are
 * removed.  Messages with another sequence are notifications. */
void vsm_mdb_cache_begin_dump(VsmMdbCache *c, uint32_t seq);
void vsm_mdb_cache_feed(VsmMdbCache *c, const void *buf, size_t len);

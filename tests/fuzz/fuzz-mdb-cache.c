/* Fuzz target for the mdb cache's netlink parser (src/io/mdb-cache.c):
 * RTM_NEWMDB / RTM_DELMDB / RTM_GETMDB messages, NLMSG_DONE and
 * NLMSG_ERROR as the kernel sends them on the notification socket.
 *
 * The first octet chooses how the rest is fed: bit 0 begins a dump with
 * sequence 1 first (so dump parts and their sweep are reached), bit 1
 * feeds an aligned copy instead of the input as it lies (the parser copies
 * misaligned messages itself).  The caps (64 entries, 8 per port) must
 * hold after every change the cache reports, and the counts must agree;
 * any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/mdb-cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 64
#define MAX_PER_PORT 8

static VsmMdbCache *cache;

static void on_changed(int port, gpointer user_data) {
        g_autoptr(GArray) a = vsm_mdb_cache_port(cache, port, NULL);
        VsmMdbCacheStats st;

        vsm_mdb_cache_get_stats(cache, &st);
        if ((a && a->len > MAX_PER_PORT) || st.entries > MAX_ENTRIES || (a && a->len > st.entries))
                abort();
        for (guint i = 0; a && i < a->len; i++)
                if (g_array_index(a, VsmMdbEntry, i).port_ifindex != port ||
                    g_array_index(a, VsmMdbEntry, i).bridge_ifindex <= 0)
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VsmMdbCacheStats st;
        uint8_t mode;

        if (size < 1)
                return 0;
        mode = data[0];
        data++;
        size--;
        cache = vsm_mdb_cache_new(MAX_ENTRIES, MAX_PER_PORT, on_changed, NULL);
        if (mode & 1)
                vsm_mdb_cache_begin_dump(cache, 1);
        if (mode & 2) {
                uint32_t *copy = g_malloc((size + 3) / 4 * 4 + 4);

                memcpy(copy, data, size);
                vsm_mdb_cache_feed(cache, copy, size);
                g_free(copy);
        } else {
                vsm_mdb_cache_feed(cache, data, size);
        }
        vsm_mdb_cache_get_stats(cache, &st);
        if (st.entries > MAX_ENTRIES || st.ports > st.entries + st.overflow)
                abort();
        cache = vsm_mdb_cache_free(cache);
        return 0;
}

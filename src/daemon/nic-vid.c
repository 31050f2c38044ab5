/* A vNIC's kind and egress VID from rtnetlink (see nic-vid.h). */
#include "daemon/nic-vid.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>

#include "io/linkchain.h"

static const char *const kind_names[VSM_NIC_KIND_MAX] = {
        [VSM_NIC_KIND_BRIDGE] = "bridge",
        [VSM_NIC_KIND_DIRECT] = "direct",
        [VSM_NIC_KIND_OVS] = "ovs",
        [VSM_NIC_KIND_OTHER] = "other",
};

/* "bridge", "direct", "ovs", "other". */
const char *vsm_nic_kind_to_string(VsmNicKind k) {
        return (guint) k < VSM_NIC_KIND_MAX ? kind_names[k] : "?";
}

/* The NIC's bridge as rtnetlink knows it: the tap's master, else the
 * source bridge.  0 or -errno. */
static int nic_bridge(const VsmNicInfo *n, VsmRtLink *tap, gboolean *ret_has_tap, VsmRtLink *ret) {
        *ret_has_tap = FALSE;
        if (n->target_dev && vsm_linkchain_get(0, n->target_dev, tap) == 0) {
                *ret_has_tap = TRUE;
                if (tap->master > 0)
                        return vsm_linkchain_get(tap->master, NULL, ret);
        }
        if (n->source_bridge)
                return vsm_linkchain_get(0, n->source_bridge, ret);
        return -ENOENT;
}

/* See nic-vid.h. */
VsmNicKind vsm_nic_kind(const VsmNicInfo *n) {
        VsmRtLink tap, br;
        gboolean has_tap;

        if (g_strcmp0(n->type, "direct") == 0)
                return VSM_NIC_KIND_DIRECT;
        if (nic_bridge(n, &tap, &has_tap, &br) == 0)
                return g_str_equal(br.kind, "openvswitch") ? VSM_NIC_KIND_OVS : VSM_NIC_KIND_BRIDGE;
        if (has_tap && g_str_equal(tap.slave_kind, "openvswitch"))
                return VSM_NIC_KIND_OVS;
        return n->source_bridge ? VSM_NIC_KIND_BRIDGE : VSM_NIC_KIND_OTHER;
}

static void input_claims(const VsmConfig *c, const VsmNicInfo *n, const char *key, VsmVidInput *in) {
        guint vid;

        if (n->has_vlan) {
                in->has_libvirt_vid = TRUE;
                in->libvirt_vid = n->vlan;
        }
        if (key && vsm_config_vlan_for(c, key, &vid)) {
                in->has_config_vid = TRUE;
                in->config_vid = (uint16_t) vid;
        }
}

static void resolve_direct(const VsmConfig *c, const VsmNicInfo *n, VsmVid *ret) {
        g_autofree VsmRtLink *chain = g_new0(VsmRtLink, VSM_LINKCHAIN_MAX);
        g_autofree char *why = NULL;
        VsmVidInput in = { 0 };
        size_t len = 0;
        int r = -ENODEV;

        if (n->target_dev)
                r = vsm_linkchain_walk(n->target_dev, chain, VSM_LINKCHAIN_MAX, &len);
        if (r == -ENODEV && n->source_dev)
                r = vsm_linkchain_walk(n->source_dev, chain, VSM_LINKCHAIN_MAX, &len);
        if (r < 0) {
                why = g_strdup_printf("the links under %s: %s", n->target_dev ? n->target_dev : "?", g_strerror(-r));
                in.chain_error = TRUE;
                in.chain_why = why;
        } else {
                in.chain = chain;
                in.n_chain = len;
        }
        input_claims(c, n, n->source_dev, &in);
        vsm_vid_derive(&in, ret);
}

/* The bridge's port whose IFLA_LINK chain ends at uplink, and that chain. */
static int port_toward(const VsmRtLink *br, int tap_ifindex, const char *uplink, VsmRtLink *chain, size_t *ret_n) {
        g_autoptr(GArray) ports = NULL;
        VsmRtLink u;
        int r;

        /* The usual case: the uplink is itself the port (one GETLINK). */
        r = vsm_linkchain_get(0, uplink, &u);
        if (r < 0)
                return r;
        if (u.master == br->ifindex) {
                chain[0] = u;
                *ret_n = 1;
                return 0;
        }
        ports = g_array_new(FALSE, FALSE, sizeof(VsmRtLink));
        r = vsm_linkchain_ports(br->ifindex, ports);
        if (r < 0)
                return r;
        for (guint i = 0; i < ports->len; i++) {
                const VsmRtLink *p = &g_array_index(ports, VsmRtLink, i);
                size_t len = 0;

                if (p->ifindex == tap_ifindex || p->link <= 0 || p->link_netnsid)
                        continue;
                if (vsm_linkchain_walk(p->name, chain, VSM_LINKCHAIN_MAX, &len) == 0 &&
                    g_str_equal(chain[len - 1].name, uplink)) {
                        *ret_n = len;
                        return 0;
                }
        }
        return -ENOENT;
}

/* ret_filtering: the answer depends on the tap (a VLAN-filtering bridge, or
 * the bridge not read). */
static void resolve_bridge_full(const VsmConfig *c, const VsmNicInfo *n, const char *uplink, VsmVid *ret,
                                gboolean *ret_filtering) {
        g_autofree VsmRtLink *chain = g_new0(VsmRtLink, VSM_LINKCHAIN_MAX);
        g_autofree VsmRtLink *tap = g_new0(VsmRtLink, 1);
        g_autofree VsmRtLink *br = g_new0(VsmRtLink, 1);
        g_autofree VsmRtLink *tap_vlans = NULL, *port_vlans = NULL;
        g_autofree char *why = NULL;
        VsmVidInput in = { 0 };
        gboolean has_tap;
        size_t len = 0;
        int r;

        *ret_filtering = TRUE;
        r = nic_bridge(n, tap, &has_tap, br);
        if (r < 0) {
                if (has_tap && g_str_equal(tap->slave_kind, "openvswitch")) {
                        memset(ret, 0, sizeof(*ret));
                        ret->state = VSM_VID_UNSUPPORTED;
                        g_strlcpy(ret->why, "Open vSwitch port: not supported yet", sizeof(ret->why));
                        return;
                }
                why = g_strdup_printf("its bridge %s: %s", n->source_bridge ? n->source_bridge : "(none known)",
                                      g_strerror(-r));
                in.chain_error = TRUE;
                in.chain_why = why;
                input_claims(c, n, n->source_bridge, &in);
                vsm_vid_derive(&in, ret);
                return;
        }
        in.bridge = br;
        *ret_filtering = br->vlan_filtering;
        if (g_str_equal(br->kind, "openvswitch")) {
                vsm_vid_derive(&in, ret);
                return;
        }
        if (!uplink) {
                in.chain_error = TRUE;
                in.chain_why = "no uplink known";
        } else if ((r = port_toward(br, has_tap ? tap->ifindex : 0, uplink, chain, &len)) < 0) {
                why = r == -ENOENT ? g_strdup_printf("no port of %s leads to %s", br->name, uplink)
                                   : g_strdup_printf("the ports of %s: %s", br->name, g_strerror(-r));
                in.chain_error = TRUE;
                in.chain_why = why;
        } else {
                in.chain = chain;
                in.n_chain = len;
        }
        if (!in.chain_error && br->vlan_filtering) {
                tap_vlans = g_new0(VsmRtLink, 1);
                port_vlans = g_new0(VsmRtLink, 1);
                if (has_tap && vsm_linkchain_brvlan(tap->ifindex, tap_vlans) == 0)
                        in.tap_vlans = tap_vlans;
                if (vsm_linkchain_brvlan(chain[0].ifindex, port_vlans) == 0)
                        in.port_vlans = port_vlans;
        }
        input_claims(c, n, br->name, &in);
        vsm_vid_derive(&in, ret);
}

static void resolve_bridge(const VsmConfig *c, const VsmNicInfo *n, const char *uplink, VsmVid *ret) {
        gboolean filtering;

        resolve_bridge_full(c, n, uplink, ret, &filtering);
}

/* A switchover resolves every vNIC of every domain switching over, most of
 * them on the same bridge and uplink: on a bridge without VLAN filtering
 * the VID does not depend on the tap, so the answer for (bridge, uplink,
 * libvirt's tag, config) is kept for NIC_VID_CACHE_USEC.  Measured on
 * this machine (tests/unit/test-io-linkchain.c): 24 us per resolve when
 * the uplink is the bridge port, 84-165 us when the bridge's ports are
 * walked; a hit costs no syscall.  Only the main loop calls this. */
#define NIC_VID_CACHE_USEC (1 * G_USEC_PER_SEC)
#define NIC_VID_CACHE_MAX 256

typedef struct CachedVid {
        gint64 at_usec;
        VsmVid vid;
} CachedVid;

static GHashTable *vid_cache;          /* key -> CachedVid */

static char *cache_key(const VsmConfig *c, const VsmNicInfo *n, const char *uplink) {
        return g_strdup_printf("%p|%s|%s|%d|%u", (const void *) c, n->source_bridge, uplink ? uplink : "",
                               n->has_vlan, n->has_vlan ? n->vlan : 0);
}

static gboolean cache_get(const char *key, gint64 now, VsmVid *ret) {
        CachedVid *cv = vid_cache ? g_hash_table_lookup(vid_cache, key) : NULL;

        if (!cv || now - cv->at_usec > NIC_VID_CACHE_USEC || now < cv->at_usec)
                return FALSE;
        *ret = cv->vid;
        return TRUE;
}

static gboolean cache_expired(gpointer key, gpointer value, gpointer now) {
        return *(gint64 *) now - ((CachedVid *) value)->at_usec > NIC_VID_CACHE_USEC;
}

static void cache_put(char *key, gint64 now, const VsmVid *vid) {
        CachedVid *cv;

        if (!vid_cache)
                vid_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        if (g_hash_table_size(vid_cache) >= NIC_VID_CACHE_MAX)
                g_hash_table_foreach_remove(vid_cache, cache_expired, &now);
        if (g_hash_table_size(vid_cache) >= NIC_VID_CACHE_MAX) {
                g_free(key);
                return;
        }
        cv = g_new0(CachedVid, 1);
        cv->at_usec = now;
        cv->vid = *vid;
        g_hash_table_replace(vid_cache, key, cv);
}

/* See nic-vid.h. */
void vsm_nic_vid_resolve(const VsmConfig *c, const VsmNicInfo *n, const char *uplink, VsmVid *ret) {
        if (g_strcmp0(n->type, "direct") == 0) {
                resolve_direct(c, n, ret);
                return;
        }
        if (n->source_bridge && uplink) {
                gint64 now = g_get_monotonic_time();
                g_autofree char *key = cache_key(c, n, uplink);
                gboolean filtering = FALSE;

                if (cache_get(key, now, ret))
                        return;
                resolve_bridge_full(c, n, uplink, ret, &filtering);
                /* Only a tap-independent answer is kept. */
                if (!filtering && ret->state != VSM_VID_UNSUPPORTED)
                        cache_put(g_steal_pointer(&key), now, ret);
                return;
        }
        if (n->source_bridge || n->target_dev) {
                resolve_bridge(c, n, uplink, ret);
                return;
        }
        memset(ret, 0, sizeof(*ret));
        ret->state = VSM_VID_UNKNOWN;
        g_snprintf(ret->why, sizeof(ret->why), "interface type '%s' has no bridge and no tap", n->type);
}

/* See nic-vid.h. */
char *vsm_vid_describe(const VsmVid *v) {
        switch (v->state) {
        case VSM_VID_TAGGED:
                return g_strdup_printf("%u (%s)", v->vid, vsm_vid_source_to_string(v->source));
        case VSM_VID_UNTAGGED:
                return g_strdup_printf("none (%s)", vsm_vid_source_to_string(v->source));
        default:
                return g_strdup_printf("%s: %s", vsm_vid_state_to_string(v->state), v->why);
        }
}

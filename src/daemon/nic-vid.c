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
        g_autofree VsmRtLink *ports = NULL;
        VsmRtLink u;
        size_t n_ports = 0;
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
        ports = g_new0(VsmRtLink, VSM_LINKCHAIN_PORTS_MAX);
        r = vsm_linkchain_ports(br->ifindex, ports, VSM_LINKCHAIN_PORTS_MAX, &n_ports);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_ports; i++) {
                size_t len = 0;

                if (ports[i].ifindex == tap_ifindex || ports[i].link <= 0 || ports[i].link_netnsid)
                        continue;
                if (vsm_linkchain_walk(ports[i].name, chain, VSM_LINKCHAIN_MAX, &len) == 0 &&
                    g_str_equal(chain[len - 1].name, uplink)) {
                        *ret_n = len;
                        return 0;
                }
        }
        return -ENOENT;
}

static void resolve_bridge(const VsmConfig *c, const VsmNicInfo *n, const char *uplink, VsmVid *ret) {
        g_autofree VsmRtLink *chain = g_new0(VsmRtLink, VSM_LINKCHAIN_MAX);
        g_autofree VsmRtLink *tap = g_new0(VsmRtLink, 1);
        g_autofree VsmRtLink *br = g_new0(VsmRtLink, 1);
        g_autofree VsmRtLink *tap_vlans = NULL, *port_vlans = NULL;
        g_autofree char *why = NULL;
        VsmVidInput in = { 0 };
        gboolean has_tap;
        size_t len = 0;
        int r;

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

/* See nic-vid.h. */
void vsm_nic_vid_resolve(const VsmConfig *c, const VsmNicInfo *n, const char *uplink, VsmVid *ret) {
        if (g_strcmp0(n->type, "direct") == 0) {
                resolve_direct(c, n, ret);
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

/* io/linkchain.c against the real kernel, in a network namespace of its
 * own: the IFLA_LINK walk from a macvtap down to its root (the device
 * libvirt names to its VDP agent), over a VXLAN uplink (no IFLA_LINK), a
 * veth whose peer is in another netns (IFLA_LINK_NETNSID: stop there) and
 * a veth pair in one netns (each end's IFLA_LINK is the other: a cycle);
 * a bridge's ports; a bridge port's AF_BRIDGE answer.  Needs root. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>
#include <net/if.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/domain-xml.h"
#include "daemon/nic-vid.h"
#include "io/linkchain.h"
#include "test-netns.h"
#include "test-util.h"

static void test_vxlan(void) {
        VsmRtLink chain[VSM_LINKCHAIN_MAX];
        size_t n = 0;

        g_assert_cmpint(vsm_linkchain_walk("lcmvt0", chain, G_N_ELEMENTS(chain), &n), ==, 0);
        g_assert_cmpuint(n, ==, 2);
        g_assert_cmpstr(chain[0].name, ==, "lcmvt0");
        g_assert_cmpstr(chain[0].kind, ==, "macvtap");
        g_assert_cmpint(chain[0].link, ==, (int) if_nametoindex("lcvx0"));
        g_assert_cmpstr(chain[1].name, ==, "lcvx0");
        g_assert_cmpstr(chain[1].kind, ==, "vxlan");
        g_assert_cmpint(chain[1].link, ==, 0);
        /* The root alone is a chain of one. */
        g_assert_cmpint(vsm_linkchain_walk("lcvx0", chain, G_N_ELEMENTS(chain), &n), ==, 0);
        g_assert_cmpuint(n, ==, 1);
        /* Too short a buffer: the chain is longer than allowed. */
        g_assert_cmpint(vsm_linkchain_walk("lcmvt0", chain, 1, &n), ==, -ELOOP);
        g_assert_cmpint(vsm_linkchain_walk("lcnone0", chain, G_N_ELEMENTS(chain), &n), ==, -ENODEV);
}

static void test_veth_other_netns(void) {
        VsmRtLink chain[VSM_LINKCHAIN_MAX];
        size_t n = 0;

        g_assert_cmpint(vsm_linkchain_walk("lcmvt1", chain, G_N_ELEMENTS(chain), &n), ==, 0);
        g_assert_cmpuint(n, ==, 2);
        g_assert_cmpstr(chain[1].name, ==, "lcul1");
        g_assert_true(chain[1].link_netnsid);
        g_assert_cmpint(chain[1].link, >, 0);
}

static void test_veth_cycle(void) {
        VsmRtLink chain[VSM_LINKCHAIN_MAX];
        size_t n = 0;

        g_assert_cmpint(vsm_linkchain_walk("lcmvt2", chain, G_N_ELEMENTS(chain), &n), ==, -ELOOP);
}

static void test_bridge(void) {
        g_autofree VsmRtLink *ports = g_new0(VsmRtLink, 8);
        VsmRtLink l;
        size_t n = 0;
        int br = (int) if_nametoindex("lcbr0");

        g_assert_cmpint(vsm_linkchain_get(br, NULL, &l), ==, 0);
        g_assert_cmpstr(l.kind, ==, "bridge");
        g_assert_true(l.has_vlan_filtering);
        g_assert_false(l.vlan_filtering);
        g_assert_cmpint(vsm_linkchain_ports(br, ports, 8, &n), ==, 0);
        /* lcp0 and lctap0 */
        g_assert_cmpuint(n, ==, 2);
        for (size_t i = 0; i < n; i++) {
                g_assert_true(g_str_equal(ports[i].name, "lcp0") || g_str_equal(ports[i].name, "lctap0"));
                g_assert_cmpstr(ports[i].slave_kind, ==, "bridge");
                g_assert_cmpint(ports[i].master, ==, br);
        }
        g_assert_cmpstr(ports[0].name, !=, ports[1].name);
        /* Without VLAN filtering the kernel's AF_BRIDGE answer names no VLANs. */
        g_assert_cmpint(vsm_linkchain_brvlan((int) if_nametoindex("lcp0"), &l), ==, 0);
        g_assert_cmpint(l.family, ==, 7);
        g_assert_cmpuint(l.pvid, ==, 0);
        g_assert_cmpint(vsm_linkchain_brvlan((int) if_nametoindex("lcvx0"), &l), ==, -ENOENT);
}

static VsmNicInfo *nic_new(const char *type, const char *target, const char *bridge, const char *dev) {
        VsmNicInfo *n = g_new0(VsmNicInfo, 1);

        n->type = g_strdup(type);
        n->target_dev = g_strdup(target);
        n->source_bridge = g_strdup(bridge);
        n->source_dev = g_strdup(dev);
        return n;
}

static void expect_vid(const VsmConfig *c, const VsmNicInfo *n, const char *uplink, const char *want) {
        g_autofree char *got = NULL;
        VsmVid v;
        gint64 t0 = g_get_monotonic_time();
        guint rounds = 20;

        for (guint i = 0; i < rounds; i++)
                vsm_nic_vid_resolve(c, n, uplink, &v);
        got = vsm_vid_describe(&v);
        g_test_message("%s %s via %s: %s (%.0f us per resolve)", n->type, n->target_dev ? n->target_dev : "-",
                       uplink ? uplink : "-", got, (double) (g_get_monotonic_time() - t0) / rounds);
        if (!g_str_has_prefix(got, want))
                g_error("vid of %s: '%s', want '%s...'", n->target_dev, got, want);
}

/* daemon/nic-vid.c against the kernel: which links it reads for a bridge
 * NIC whose uplink is the bridge port, one whose port is a macvlan over
 * the uplink (the ports dump and walk: where a VLAN device would be), a
 * direct NIC; the config and libvirt claims on top.  The figures printed
 * are the cost of one resolve (it runs in the paused window). */
static void test_nic_vid(void) {
        const char *conf = "[replay]\nvlan = lcbr1:55, lcvx0:none\n";
        g_autoptr(VsmConfig) none = vsm_config_new_default();
        g_autoptr(VsmConfig) c = NULL;
        g_autoptr(VsmNicInfo) tap0 = nic_new("bridge", "lctap0", "lcbr0", NULL);
        g_autoptr(VsmNicInfo) tap1 = nic_new("bridge", "lctap1", "lcbr1", NULL);
        g_autoptr(VsmNicInfo) gone = nic_new("bridge", "lcgone", "lcbr1", NULL);
        g_autoptr(VsmNicInfo) dir = nic_new("direct", "lcmvt0", NULL, "lcvx0");
        g_autoptr(GError) error = NULL;

        g_assert_true(vsm_config_load_data(conf, strlen(conf), &c, &error));
        /* lcp0 is lcbr0's port and the uplink itself. */
        expect_vid(none, tap0, "lcp0", "none (none)");
        expect_vid(none, tap0, "lcvx0", "unknown: no port of lcbr0 leads to lcvx0");
        /* lcbr1's way to lcvx0 is its port lcmvl1, a macvlan over lcvx0. */
        expect_vid(none, tap1, "lcvx0", "none (none)");
        expect_vid(c, tap1, "lcvx0", "55 (config)");
        /* The tap gone: the source bridge still says it. */
        expect_vid(c, gone, "lcvx0", "55 (config)");
        expect_vid(none, dir, "lcvx0", "none (none)");
        expect_vid(c, dir, "lcvx0", "none (config)");
        dir->has_vlan = TRUE;
        dir->vlan = 42;
        expect_vid(none, dir, "lcvx0", "42 (libvirt)");
        expect_vid(c, dir, "lcvx0", "unknown: conflict: libvirt says 42, config says none");
        g_assert_cmpint(vsm_nic_kind(tap0), ==, VSM_NIC_KIND_BRIDGE);
        g_assert_cmpint(vsm_nic_kind(dir), ==, VSM_NIC_KIND_DIRECT);
}

/* A child in a network namespace of its own, to hold a veth's peer; it
 * waits until it is killed. */
static pid_t other_netns_start(void) {
        int p[2];
        pid_t pid;
        char c;

        g_assert_cmpint(pipe(p), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                close(p[0]);
                /* Gone with the test, even when it aborts; and it holds
                 * none of the test's output open. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
                        _exit(1);
                (void) dup2(open("/dev/null", O_WRONLY | O_CLOEXEC), STDOUT_FILENO);
                (void) dup2(STDOUT_FILENO, STDERR_FILENO);
                if (unshare(CLONE_NEWNET) < 0)
                        _exit(1);
                if (write(p[1], "x", 1) != 1)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(p[1]);
        g_assert_cmpint(read(p[0], &c, 1), ==, 1);
        close(p[0]);
        return pid;
}

int main(int argc, char **argv) {
        pid_t other;
        int ret;

        g_test_init(&argc, &argv, NULL);
        if (!vsm_test_netns_enter(&ret))
                return ret;
        vsm_test_run("ip link add lcvx0 type vxlan id 77 dstport 4789 local 10.77.9.1 && ip link set lcvx0 up");
        vsm_test_run("ip link add link lcvx0 name lcmvt0 type macvtap mode vepa");
        vsm_test_run("ip link add lcul1 type veth peer name lcul1p && ip link add lcul2 type veth peer name lcul2p");
        vsm_test_run("ip link add link lcul1 name lcmvt1 type macvtap mode vepa");
        vsm_test_run("ip link add link lcul2 name lcmvt2 type macvtap mode vepa");
        vsm_test_run("ip link add lcbr0 type bridge && ip link add lcp0 type veth peer name lcp0p && "
                     "ip link set lcp0 master lcbr0");
        g_test_add_func("/io-linkchain/vxlan", test_vxlan);
        g_test_add_func("/io-linkchain/veth-cycle", test_veth_cycle);
        g_test_add_func("/io-linkchain/bridge", test_bridge);
        g_test_add_func("/io-linkchain/veth-other-netns", test_veth_other_netns);
        vsm_test_run("ip link add lctap0 type veth peer name lctap0p && ip link set lctap0 master lcbr0");
        vsm_test_run("ip link add lcbr1 type bridge && ip link add lctap1 type veth peer name lctap1p && "
                     "ip link set lctap1 master lcbr1 && "
                     "ip link add link lcvx0 name lcmvl1 type macvlan mode bridge && ip link set lcmvl1 master lcbr1");
        g_test_add_func("/io-linkchain/nic-vid", test_nic_vid);
        other = other_netns_start();
        {
                g_autofree char *cmd = g_strdup_printf("ip link set lcul1p netns %d", (int) other);

                vsm_test_run(cmd);
        }
        ret = g_test_run();
        kill(other, SIGKILL);
        waitpid(other, NULL, 0);
        return ret;
}

/* io/linkchain.c against the real kernel, in a network namespace of its
 * own: the IFLA_LINK walk from a macvtap down to its root (the device
 * libvirt names to its VDP agent), over a VXLAN uplink (no IFLA_LINK), a
 * veth whose peer is in another netns (IFLA_LINK_NETNSID: stop there) and
 * a veth pair in one netns (each end's IFLA_LINK is the other: a cycle);
 * a bridge's ports; a bridge port's AF_BRIDGE answer.  Needs root. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib.h>
#include <net/if.h>
#include <string.h>

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
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpstr(ports[0].name, ==, "lcp0");
        g_assert_cmpstr(ports[0].slave_kind, ==, "bridge");
        g_assert_cmpint(ports[0].master, ==, br);
        /* Without VLAN filtering the kernel's AF_BRIDGE answer names no VLANs. */
        g_assert_cmpint(vsm_linkchain_brvlan((int) if_nametoindex("lcp0"), &l), ==, 0);
        g_assert_cmpint(l.family, ==, 7);
        g_assert_cmpuint(l.pvid, ==, 0);
        g_assert_cmpint(vsm_linkchain_brvlan((int) if_nametoindex("lcvx0"), &l), ==, -ENOENT);
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

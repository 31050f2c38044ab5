/* rtnetlink link queries for a vNIC's way out: the IFLA_LINK walk from a
 * macvtap (or a bridge's port) down to the device without one (the
 * physical NIC or bond, as libvirt's virNetDevGetPhysdevAndVlan() finds
 * it), bridge ports, and a port's bridge VLAN membership.  Answers are
 * parsed by proto/rtlink.c.  Each call opens its own NETLINK_ROUTE socket
 * and asks for single links, except vsm_linkchain_brvlan() and
 * vsm_linkchain_ports(), which dump the bridge ports (kernel-filtered by
 * master where the kernel can). */
#pragma once

#include <glib.h>

#include "proto/rtlink.h"

/* Hops followed at most; a longer chain is -ELOOP. */
#define VSM_LINKCHAIN_MAX 8
/* Ports of one bridge looked at, at most. */
#define VSM_LINKCHAIN_PORTS_MAX 1024

/* One link by ifindex (> 0) or else by name.  0, -ENODEV, or -errno. */
int vsm_linkchain_get(int ifindex, const char *name, VsmRtLink *ret);
/* ret[0] is ifname's link, each next one its IFLA_LINK, the last one the
 * root: no IFLA_LINK, or one into another netns (IFLA_LINK_NETNSID: a
 * veth's peer), or one to itself.  0, -ENODEV (ifname or a lower device
 * is gone), -ELOOP (more than max hops, or a cycle), or -errno. */
int vsm_linkchain_walk(const char *ifname, VsmRtLink *ret, size_t max, size_t *ret_n);
/* The AF_BRIDGE answer (with RTEXT_FILTER_BRVLAN) of bridge port ifindex:
 * its VLAN membership.  -ENOENT when the dump has no entry for it. */
int vsm_linkchain_brvlan(int ifindex, VsmRtLink *ret);
/* The ports of bridge master (IFLA_MASTER), up to max.  0 or -errno. */
int vsm_linkchain_ports(int master, VsmRtLink *ret, size_t max, size_t *ret_n);

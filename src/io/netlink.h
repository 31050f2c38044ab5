/* rtnetlink queries through libnl-route-3. */
#pragma once

#include <glib.h>

/* The name of the master (bridge or bond) of ifname, into ret (16 octets).
 * 0, -ENOENT when it has none, -ENODEV when ifname does not exist, or
 * another -errno. */
int vsm_link_get_master(const char *ifname, char ret[16]);

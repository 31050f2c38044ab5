/* rtnetlink link queries (libnl-route-3). */
#include "io/netlink.h"

#include <errno.h>
#include <netlink/errno.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <string.h>

typedef struct nl_sock VsmNlSock;
typedef struct rtnl_link VsmRtnlLink;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmNlSock, nl_socket_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmRtnlLink, rtnl_link_put)

int vsm_link_get_master(const char *ifname, char ret[16]) {
        g_autoptr(VsmNlSock) sk = nl_socket_alloc();
        g_autoptr(VsmRtnlLink) link = NULL;
        g_autoptr(VsmRtnlLink) master = NULL;
        int r, idx;

        if (!sk)
                return -ENOMEM;
        if (nl_connect(sk, NETLINK_ROUTE) < 0)
                return -EIO;
        r = rtnl_link_get_kernel(sk, 0, ifname, &link);
        if (r < 0)
                return r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV ? -ENODEV : -EIO;
        idx = rtnl_link_get_master(link);
        if (idx <= 0)
                return -ENOENT;
        r = rtnl_link_get_kernel(sk, idx, NULL, &master);
        if (r < 0)
                return -EIO;
        if (!rtnl_link_get_name(master) || strlen(rtnl_link_get_name(master)) >= 16)
                return -EIO;
        strcpy(ret, rtnl_link_get_name(master));
        return 0;
}

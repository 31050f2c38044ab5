/* rtnetlink queries through libnl-route-3. */
#pragma once

#include <glib.h>

/* The name of the master (bridge or bond) of ifname, into ret (16 octets).
 * 0, -ENOENT when it has none, -ENODEV when ifname does not exist, or
 * another -errno.  Answered from the link monitor's table when one is
 * running and in sync (no syscall); otherwise a new rtnetlink socket and
 * two RTM_GETLINK requests (blocking: counted, see vsm_link_n_queries()). */
int vsm_link_get_master(const char *ifname, char ret[16]);
/* How many vsm_link_get_master() calls went to the kernel (blocking). */
guint64 vsm_link_n_queries(void);

/* Link notifications (RTNLGRP_LINK) on a non-blocking rtnetlink socket in
 * the main loop: no dump, only the kernel's own messages as links come,
 * change and go. */
typedef enum VsmLinkEventType {
        VSM_LINK_EVENT_NEW,      /* RTM_NEWLINK: created or changed */
        VSM_LINK_EVENT_DEL,      /* RTM_DELLINK: deleted */
        VSM_LINK_EVENT_LOST,     /* the socket overran (ENOBUFS): events were
                                  * lost, look the links up again */
} VsmLinkEventType;

typedef struct VsmLinkEvent {
        VsmLinkEventType type;
        int ifindex;
        char ifname[16];         /* "" when the message had none */
        unsigned flags;          /* IFF_* (IFF_UP, IFF_LOWER_UP, ...) */
        int master;              /* IFLA_MASTER: the bridge/bond's ifindex, 0 for none */
        unsigned char family;    /* ifi_family: AF_BRIDGE for a bridge port's own
                                  * notifications (its RTM_DELLINK: left the bridge) */
} VsmLinkEvent;

typedef void (*VsmLinkEventFunc)(const VsmLinkEvent *ev, gpointer user_data);
typedef struct VsmLinkMonitor VsmLinkMonitor;

/* Opens the socket and watches it from the thread-default main context;
 * NULL with errno set on failure.  It keeps a table of the links it sees
 * (ifindex, name, master), primed by one RTM_GETLINK dump here (once, at
 * start) and kept by the notifications; after an overrun it asks for a new
 * dump (answered through the socket, not waited for) and the table is out
 * of sync until it is complete.  The newest monitor's table answers
 * vsm_link_get_master(). */
VsmLinkMonitor *vsm_link_monitor_new(VsmLinkEventFunc func, gpointer user_data);
void vsm_link_monitor_free(VsmLinkMonitor *m);
/* The master's name of ifname from m's table (no syscall): 0, -ENOENT
 * (no master), -ENODEV (no such link seen), -EAGAIN (table out of sync). */
int vsm_link_monitor_get_master(VsmLinkMonitor *m, const char *ifname, char ret[16]);
/* The number of links in m's table. */
guint vsm_link_monitor_n_links(VsmLinkMonitor *m);
/* Parses one datagram of rtnetlink messages (test seam): calls func once
 * per RTM_NEWLINK/RTM_DELLINK, skips anything else and stops at the first
 * malformed message.  Returns the number of events or -EBADMSG. */
int vsm_link_monitor_parse(const void *buf, size_t len, VsmLinkEventFunc func, gpointer user_data);

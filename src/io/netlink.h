/* rtnetlink queries through libnl-route-3. */
#pragma once

#include <glib.h>

/* The name of the master (bridge or bond) of ifname, into ret (16 octets).
 * 0, -ENOENT when it has none, -ENODEV when ifname does not exist, or
 * another -errno. */
int vsm_link_get_master(const char *ifname, char ret[16]);

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
} VsmLinkEvent;

typedef void (*VsmLinkEventFunc)(const VsmLinkEvent *ev, gpointer user_data);
typedef struct VsmLinkMonitor VsmLinkMonitor;

/* Opens the socket and watches it from the thread-default main context;
 * NULL with errno set on failure. */
VsmLinkMonitor *vsm_link_monitor_new(VsmLinkEventFunc func, gpointer user_data);
void vsm_link_monitor_free(VsmLinkMonitor *m);
/* Parses one datagram of rtnetlink messages (test seam): calls func once
 * per RTM_NEWLINK/RTM_DELLINK, skips anything else and stops at the first
 * malformed message.  Returns the number of events or -EBADMSG. */
int vsm_link_monitor_parse(const void *buf, size_t len, VsmLinkEventFunc func, gpointer user_data);

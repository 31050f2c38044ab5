/* The kernel bridge's multicast database over rtnetlink (libnl-3 message
 * API; libnl 3.7's rtnl_mdb cache is read-only, DESIGN.md section 4).
 * Blocking calls on a private netlink socket; each returns within the
 * kernel's answer (no waiting for carrier: the caller retries). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "proto/inet.h"

typedef struct VsmMdbEntry {
        int bridge_ifindex;
        int port_ifindex;
        gboolean is_ip6;
        uint8_t group[VSM_IP6_ALEN];   /* IPv4 in the first 4 octets */
        uint16_t vid;                  /* 0: none */
        gboolean permanent;            /* else temp (ages out) */
} VsmMdbEntry;

/* RTM_NEWMDB (NLM_F_CREATE|NLM_F_REPLACE: adding an existing entry
 * refreshes it) for one entry, MDB_TEMPORARY unless permanent.  0 or
 * -errno.  Measured on Linux 6.18: -EINVAL when the port has no carrier
 * (temp entries only; "Port is in disabled state and entry is not
 * permanent"), when it is not a port of that bridge, and when snooping is
 * off; -ENODEV when the bridge does not exist.  Only the extended ack
 * message (vsm_mdb_add_full) tells these apart. */
int vsm_mdb_add(const VsmMdbEntry *e);
/* RTM_DELMDB for one entry; 0 or -errno (-EINVAL if absent: the kernel
 * does not say -ENOENT). */
int vsm_mdb_del(const VsmMdbEntry *e);
/* As above, and on a refusal by the kernel its extended ack message in
 * *ret_reason (g_free; left untouched if there is none or on success). */
int vsm_mdb_add_full(const VsmMdbEntry *e, char **ret_reason);
int vsm_mdb_del_full(const VsmMdbEntry *e, char **ret_reason);
/* The groups of one bridge port (RTM_GETMDB dump), as VsmMdbEntry in a
 * GArray; at most max entries (the rest is counted in *ret_truncated,
 * which may be NULL).  NULL and -errno in *ret_errno on failure. */
GArray *vsm_mdb_list_port(int bridge_ifindex, int port_ifindex, guint max, guint *ret_truncated, int *ret_errno);

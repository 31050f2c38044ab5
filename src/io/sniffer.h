/* Learning taps: one AF_PACKET socket per VM tap, bound to its ifindex,
 * BPF-filtered to what sm/learn.h learns from (ARP; IPv4 UDP 67/68; IGMP;
 * ICMPv6 MLD 130/131/132/143 and ND 135/136, also behind one 802.1Q tag
 * is NOT needed: taps carry untagged frames).  Frames the host sends into
 * the tap (PACKET_OUTGOING) are "to guest", all others "from guest". */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "sm/learn.h"

typedef struct VsmSniffer VsmSniffer;

typedef void (*VsmSnifferFunc)(int ifindex, const uint8_t *frame, size_t len, VsmLearnDirection dir,
                               gpointer user_data);

VsmSniffer *vsm_sniffer_new(VsmSnifferFunc func, gpointer user_data);
VsmSniffer *vsm_sniffer_free(VsmSniffer *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmSniffer, vsm_sniffer_free)
/* Start sniffing ifindex (idempotent).  0 or -errno. */
int vsm_sniffer_add(VsmSniffer *s, int ifindex);
/* The same; macvtap: ifindex is a macvtap (a direct NIC), where the
 * guest's frames are the PACKET_OUTGOING ones and the others go to it. */
int vsm_sniffer_add_full(VsmSniffer *s, int ifindex, gboolean macvtap);
void vsm_sniffer_remove(VsmSniffer *s, int ifindex);
guint vsm_sniffer_n_taps(const VsmSniffer *s);
/* Counters over all taps: frames handed to the callback, frames dropped
 * because they did not fit the 64 KiB receive buffer (MSG_TRUNC), and
 * receive errors (e.g. ENETDOWN when a tap goes away).  Each may be NULL. */
void vsm_sniffer_get_stats(const VsmSniffer *s, guint64 *ret_frames, guint64 *ret_truncated, guint64 *ret_errors);
/* Per tap and direction, at most `rate` frames per second (bursts of
 * `burst`) reach the callback; the others are read and dropped (a guest
 * flapping joins at line rate must not starve the other domains).  rate 0:
 * no limit.  Default: 1000 frames/s, bursts of 2000. */
void vsm_sniffer_set_rate_limit(VsmSniffer *s, guint rate, guint burst);
/* Frames dropped by the rate limit: over all taps (ifindex <= 0, kept
 * after taps go), or for one tap being sniffed. */
guint64 vsm_sniffer_get_rate_dropped(const VsmSniffer *s, int ifindex);

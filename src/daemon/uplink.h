/* An uplink: the physical port (or bond) facing the EVB bridge.  Owns the
 * packet socket, the ECP22 machines, LLDP transmission with the EVB TLV,
 * what it learned of the bridge (its EVB TLV), and the VSIs on it. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <sys/uio.h>

#include "daemon/config.h"
#include "daemon/vsi.h"
#include "proto/lldp.h"

typedef struct VsmUplink VsmUplink;

/* Creates the uplink and starts it: opens the socket and sends LLDP now.
 * If the interface is missing or the socket cannot be opened it logs,
 * stays "down" and retries every few seconds. */
VsmUplink *vsm_uplink_new(const char *ifname, const VsmConfig *config);
VsmUplink *vsm_uplink_free(VsmUplink *u);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmUplink, vsm_uplink_free)

const char *vsm_uplink_get_name(const VsmUplink *u);
/* The interface's own MAC (all zero until it was first opened). */
const uint8_t *vsm_uplink_get_mac(const VsmUplink *u);
gboolean vsm_uplink_is_up(const VsmUplink *u);
/* TRUE once the bridge's EVB TLV was seen (EVB negotiated). */
gboolean vsm_uplink_bridge_known(const VsmUplink *u);
/* Retry opening if down, and send LLDP now (SIGHUP). */
void vsm_uplink_kick(VsmUplink *u);

/* Finds the VSI with params->instance, creating it when missing (then
 * params are taken as they are); an existing VSI gets the new params.
 * FALSE when the uplink holds max-vsis already. */
VsmVsi *vsm_uplink_ensure_vsi(VsmUplink *u, const VsmVsiParams *params, GError **error);
VsmVsi *vsm_uplink_find_vsi(VsmUplink *u, const uint8_t instance[VSM_VDP_VSIID_LEN]);
/* VSIs sorted by instance. Container only. */
GPtrArray *vsm_uplink_list_vsis(VsmUplink *u);

/* Used by VSIs: queue one VDP ULPDU (Manager ID TLV + VSI TLV) on ECP.
 * Returns 0 and the ECP cookie, or -errno (-ENETDOWN when down, -ENOBUFS
 * when the ECP queue is full). */
int vsm_uplink_send_vdp(VsmUplink *u, const VsmVsiParams *params, VsmVdpRequest req,
                        uint8_t status, uint64_t *ret_cookie);
/* TRUE while the ULPDU with this cookie is still being built in this
 * loop iteration: nothing of it has left the station. */
gboolean vsm_uplink_vdp_is_staged(const VsmUplink *u, uint64_t cookie);
/* Take the VSI TLV(s) of this instance out of the ULPDU being built, if
 * cookie is still that ULPDU's (a superseded request is not sent). */
void vsm_uplink_withdraw_vdp(VsmUplink *u, uint64_t cookie, const uint8_t instance[VSM_VDP_VSIID_LEN]);

typedef enum VsmUplinkVdpEvent {
        VSM_UPLINK_VDP_QUEUED,           /* a request waits for the one on the wire */
        VSM_UPLINK_VDP_BRIDGE_DEASSOC,   /* the bridge de-associated a VSI not none */
        VSM_UPLINK_VDP_REPAIR,           /* re-ASSOCIATE sent after that */
        VSM_UPLINK_VDP_REPAIRED,         /* re-ASSOCIATE answered ok */
        _VSM_UPLINK_VDP_EVENT_MAX,
} VsmUplinkVdpEvent;
/* Used by VSIs: count a VDP event in the uplink's counters. */
void vsm_uplink_count_vdp(VsmUplink *u, VsmUplinkVdpEvent ev);

/* Hand VDP TLVs staged in this loop iteration to ECP now if ECP is idle
 * (then they go on the wire at once, unless the pacing gap holds them);
 * behind a ULPDU in flight they keep collecting and go when it is done. */
void vsm_uplink_flush_vdp(VsmUplink *u);
/* Send one whole Ethernet frame as it is (a replayed frame on the VM's
 * behalf); 0 or -errno (-ENETDOWN while the uplink is down). */
int vsm_uplink_send_raw(VsmUplink *u, const uint8_t *frame, size_t len);
/* The same for frames[0..n) in as few sendmmsg(2) calls as the kernel
 * allows; ret_errors[i]: 0 or frame i's -errno.  Returns the number sent. */
size_t vsm_uplink_send_raw_batch(VsmUplink *u, const struct iovec *frames, size_t n, int *ret_errors);
const VsmVdpTimers *vsm_uplink_get_vdp_timers(const VsmUplink *u);

JsonNode *vsm_uplink_to_json(const VsmUplink *u);

/* Test seam: frames come from and go to this fd instead of a packet socket
 * (e.g. one end of a socketpair), with this MAC. */
VsmUplink *vsm_uplink_new_with_fd(const char *ifname, const VsmConfig *config, int fd,
                                  const uint8_t mac[VSM_ETH_ALEN]);

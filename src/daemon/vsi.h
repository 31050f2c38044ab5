/* A VSI (one vNIC's VDP association) on an uplink: its parameters, its
 * station state machine (sm/vdp.c), its timer, and whoever waits for the
 * outcome of its request in flight. */
#pragma once

#include <glib.h>

#include "proto/vdp.h"
#include "sm/vdp.h"

typedef struct VsmUplink VsmUplink;
typedef struct VsmVsi VsmVsi;

typedef struct VsmVsiParams {
        uint8_t instance[VSM_VDP_VSIID_LEN];   /* VSIID, format UUID */
        uint8_t manager_id[VSM_VDP_MANAGER_ID_LEN];
        uint32_t type_id;
        uint8_t type_version;
        uint8_t mac[VSM_ETH_ALEN];
        uint16_t vlan;
} VsmVsiParams;

/* Called once with the outcome of one request (ok, error, timeout,
 * cancelled).  The action is the one the state machine reported. */
typedef void (*VsmVsiDoneFunc)(VsmVsi *vsi, const VsmVdpAction *report, gpointer user_data);

VsmVsi *vsm_vsi_new(VsmUplink *uplink, const VsmVsiParams *params, uint64_t serial);
/* Fails a waiting request as cancelled, stops the timer. */
VsmVsi *vsm_vsi_free(VsmVsi *vsi);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmVsi, vsm_vsi_free)

/* Replace MAC/VLAN/type/manager for the next request (the instance stays). */
void vsm_vsi_set_params(VsmVsi *vsi, const VsmVsiParams *params);
const VsmVsiParams *vsm_vsi_get_params(const VsmVsi *vsi);
const char *vsm_vsi_get_id(const VsmVsi *vsi);            /* instance UUID text */
const VsmVdpVsiMachine *vsm_vsi_get_machine(const VsmVsi *vsi);
/* Last reported outcome, if any. */
gboolean vsm_vsi_get_last(const VsmVsi *vsi, VsmVdpAction *ret, gint64 *ret_usec);

/* Ask for a request; done (may be NULL) is called once with its outcome.
 * FALSE with error when the request cannot be made. */
gboolean vsm_vsi_request(VsmVsi *vsi, VsmVdpRequest req, uint8_t flags, VsmVsiDoneFunc done,
                         gpointer user_data, GError **error);

/* Called with every outcome reported for this VSI, whoever asked for the
 * request (the follower, the control socket, libvirt through the 802.1Qbg
 * agent) and including keep-alives, repairs and bridge DE-ASSOCIATEs
 * (report->report_internal).  One observer per VSI; NULL removes it. */
typedef void (*VsmVsiObserverFunc)(VsmVsi *vsi, const VsmVdpAction *report, gpointer user_data);
void vsm_vsi_set_observer(VsmVsi *vsi, VsmVsiObserverFunc observer, gpointer user_data);

/* Inputs from the uplink. */
void vsm_vsi_on_response(VsmVsi *vsi, VsmVdpRequest req, uint8_t status);
void vsm_vsi_on_bridge_request(VsmVsi *vsi, VsmVdpRequest req, uint8_t status);
/* The ECP ULPDU with this cookie failed; ignored if not the VSI's latest. */
void vsm_vsi_on_tx_failed(VsmVsi *vsi, uint64_t cookie);
void vsm_vsi_set_timers(VsmVsi *vsi, const VsmVdpTimers *timers);
gboolean vsm_vsi_is_idle(const VsmVsi *vsi);   /* none and nothing pending */

/* JSON form for vdp.list (a new JsonObject node). */
struct _JsonNode *vsm_vsi_to_json(const VsmVsi *vsi, const char *uplink_name);
/* JSON form of a reported outcome (vdp.request reply). */
struct _JsonNode *vsm_vsi_report_to_json(const VsmVsi *vsi, const char *uplink_name,
                                         const VsmVdpAction *report);

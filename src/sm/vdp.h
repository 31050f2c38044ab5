/* VDP22 station state machine for one VSI, IEEE 802.1Qbg-2012 clause 41.5.
 *
 * Pure: the caller passes events and the current time, and gets actions
 * back in a VsmVdpAction: send this request, report this outcome, (re)arm
 * the timer.  It never performs them itself.
 *
 * States are the settled association (none, pre-associated, pre-associated
 * with reservation, associated) plus at most one request in flight.
 * - A request moves to the requested state when the bridge answers with
 *   error 0 (DE-ASSOCIATE -> none).  An error response leaves the previous
 *   state (a hard error drops to none) and is reported.
 * - No response within response_timeout_usec (the bridge's resource wait
 *   delay plus margin), or the ECP layer giving up: report TIMEOUT, back to
 *   the previous state.
 * - While settled in any state but none, the current request is resent
 *   every keepalive_usec without M/S flags, so that the bridge's keep-alive
 *   never expires; a keep-alive answer is reported as REFRESHED.
 * - A DE-ASSOCIATE initiated by the bridge drops to none and is reported.
 * - A new request while one is in flight supersedes it (the old one is
 *   reported CANCELLED).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "proto/vdp.h"

typedef enum VsmVsiState {
        VSM_VSI_STATE_NONE,
        VSM_VSI_STATE_PRE_ASSOCIATED,
        VSM_VSI_STATE_PRE_ASSOCIATED_RR,
        VSM_VSI_STATE_ASSOCIATED,
        _VSM_VSI_STATE_MAX,
} VsmVsiState;

typedef enum VsmVdpOutcome {
        VSM_VDP_OUTCOME_OK,              /* response, error 0 */
        VSM_VDP_OUTCOME_ERROR,           /* response with error != 0 */
        VSM_VDP_OUTCOME_TIMEOUT,         /* no response / ECP gave up */
        VSM_VDP_OUTCOME_CANCELLED,       /* superseded by a newer request */
        VSM_VDP_OUTCOME_REFRESHED,       /* keep-alive resend answered ok */
        VSM_VDP_OUTCOME_BRIDGE_DEASSOC,  /* bridge-initiated DE-ASSOCIATE */
        _VSM_VDP_OUTCOME_MAX,
} VsmVdpOutcome;

typedef struct VsmVdpTimers {
        uint64_t response_timeout_usec;
        uint64_t keepalive_usec;
} VsmVdpTimers;

typedef struct VsmVdpAction {
        /* Send a VSI TLV of this request type with these M/S status bits. */
        bool send;
        VsmVdpRequest send_request;
        uint8_t send_flags;              /* VSM_VDP_STATUS_M | VSM_VDP_STATUS_S */
        bool send_is_keepalive;

        /* Report the outcome of request `request` (flags as sent). */
        bool report;
        VsmVdpOutcome outcome;
        VsmVdpRequest request;
        uint8_t flags;
        uint8_t error;                   /* VsmVdpError from the response */
        uint8_t status;                  /* raw response status octet */
        uint64_t rtt_usec;               /* request sent -> response */

        /* Next call to vsm_vdp_vsi_on_timer(); 0 = cancel the timer. */
        uint64_t deadline_usec;
} VsmVdpAction;

typedef struct VsmVdpVsiMachine {
        VsmVsiState state;
        VsmVdpTimers timers;
        bool pending;
        bool pending_keepalive;
        VsmVdpRequest pending_request;
        uint8_t pending_flags;
        uint64_t pending_sent_usec;
        uint64_t deadline_usec;
        /* Last settled request, resent as keep-alive. */
        VsmVdpRequest current_request;
        /* Last response, for status displays. */
        bool have_last;
        uint8_t last_status;
        uint64_t last_rtt_usec;
        uint64_t last_change_usec;
} VsmVdpVsiMachine;

void vsm_vdp_vsi_init(VsmVdpVsiMachine *m, const VsmVdpTimers *timers);
void vsm_vdp_vsi_set_timers(VsmVdpVsiMachine *m, const VsmVdpTimers *timers);

/* The operator or the migration logic asks for a request.  flags is
 * VSM_VDP_STATUS_M and/or VSM_VDP_STATUS_S (other bits: -EINVAL). */
int vsm_vdp_vsi_request(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t flags,
                        uint64_t now_usec, VsmVdpAction *ret);
/* A response TLV for this VSI arrived (status has VSM_VDP_STATUS_RESPONSE).
 * -ESTALE when nothing is pending or the type does not match (ignored). */
int vsm_vdp_vsi_on_response(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t status,
                            uint64_t now_usec, VsmVdpAction *ret);
/* The bridge sent a request TLV (no response bit) for this VSI.  Only a
 * DE-ASSOCIATE is acted on; others: -EOPNOTSUPP. */
int vsm_vdp_vsi_on_bridge_request(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t status,
                                  uint64_t now_usec, VsmVdpAction *ret);
/* ECP gave up on the ULPDU that carried this VSI's pending request. */
void vsm_vdp_vsi_on_tx_failed(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret);
/* The deadline passed: response timeout or keep-alive. */
void vsm_vdp_vsi_on_timer(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret);

const char *vsm_vsi_state_to_string(VsmVsiState s);
const char *vsm_vdp_outcome_to_string(VsmVdpOutcome o);
/* Timers from the bridge's EVB TLV exponents: response timeout = RWD time
 * * 1.5 (at least 1 s, as resource-wait is the bridge's promise), keep-alive
 * = RKA time * 0.6 clamped to [1 s, 60 s]; exponents above 25 are capped. */
void vsm_vdp_timers_from_evb(uint8_t rwd, uint8_t rka, VsmVdpTimers *ret);

/* VDP22 station state machine for one VSI, IEEE 802.1Qbg-2012 clause 41.5.
 *
 * Pure: the caller passes events and the current time, and gets actions
 * back in a VsmVdpAction: send this request, report this outcome, (re)arm
 * the timer.  It never performs them itself.
 *
 * States are the settled association (none, pre-associated, pre-associated
 * with reservation, associated) plus at most one request on the wire and
 * at most one caller request queued behind it.
 * - A request moves to the requested state when the bridge answers with
 *   error 0 (DE-ASSOCIATE -> none).  An error response leaves the previous
 *   state (a hard error drops to none) and is reported.
 * - No response within response_timeout_usec (the bridge's resource wait
 *   delay plus margin), or the ECP layer giving up: report TIMEOUT, back to
 *   the previous state.
 * - While settled in any state but none, the settled request is resent
 *   every keepalive_usec with the M/S hint it was confirmed with (as
 *   lldpad's station does), so that the bridge's keep-alive never expires;
 *   a keep-alive answer is reported as REFRESHED.  A keep-alive that gets
 *   no answer within keepalive_response_usec is sent again, as long as
 *   that answer can still come within half a keep-alive interval of the
 *   round's first send (the bridge waits at least that much longer, see
 *   vsm_vdp_timers_from_evb); only then is the state given up.  The hint changes only
 *   when the bridge confirms another request: that request's flags
 *   (possibly none) replace it.  A failed or cancelled request leaves it.
 * - Matching: the bridge does not echo M/S, so two requests of one type in
 *   flight could not be told apart.  Only one request per VSI is ever on
 *   the wire, and a response answers that one.  A new request while one is
 *   on the wire is queued and sent when that one is answered, times out,
 *   or after VSM_VDP_QUEUE_WAIT_USEC at most.  A request that has not left
 *   the station yet (the caller says so) is withdrawn and replaced instead.
 * - A newer caller request supersedes an older one, which is reported
 *   CANCELLED at once (its answer, if on the wire, still updates the
 *   state but is not reported).
 * - A DE-ASSOCIATE initiated by the bridge drops to none and is reported.
 *   If the VSI was associated by our request (ASSOCIATE without the S-bit:
 *   the VM runs here) and no caller request is in flight or queued, it is
 *   repaired: ASSOCIATE with the same hint after a backoff of 1 s,
 *   doubling per failed or again-de-associated attempt up to 60 s, reset
 *   once a keep-alive is confirmed.  Any caller request ends the repair.
 *   The same repair follows a timeout: a caller's ASSOCIATE without S
 *   from none that got no answer, and an association (ASSOCIATE without
 *   S) whose keep-alive got none (the bridge will have dropped it).
 *   A DE-ASSOCIATE for a VSI already none (lldpad's late one, ~15.8 s
 *   after our own DE-ASSOCIATE) is tolerated silently.
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
        VSM_VDP_OUTCOME_REPAIRED,        /* re-ASSOCIATE after it answered ok */
        VSM_VDP_OUTCOME_LINK_DOWN,       /* the uplink went away with it in flight */
        _VSM_VDP_OUTCOME_MAX,
} VsmVdpOutcome;

/* Why a request goes on the wire. */
typedef enum VsmVdpSendKind {
        VSM_VDP_SEND_REQUEST,            /* asked for by the caller */
        VSM_VDP_SEND_KEEPALIVE,          /* the settled request, resent */
        VSM_VDP_SEND_REPAIR,             /* re-ASSOCIATE after a bridge DE-ASSOCIATE */
        _VSM_VDP_SEND_MAX,
} VsmVdpSendKind;

/* Longest wait of a queued request for the answer to the one on the wire. */
#define VSM_VDP_QUEUE_WAIT_USEC UINT64_C(1000000)
/* Repair backoff: first delay, cap. */
#define VSM_VDP_REPAIR_FIRST_USEC UINT64_C(1000000)
#define VSM_VDP_REPAIR_MAX_USEC UINT64_C(60000000)

typedef struct VsmVdpTimers {
        uint64_t response_timeout_usec;
        uint64_t keepalive_usec;
        /* How long a keep-alive waits for its answer before it is sent
         * again, within half a keep-alive interval of the first; 0: like any
         * request (response_timeout_usec, no resend). */
        uint64_t keepalive_response_usec;
} VsmVdpTimers;

typedef struct VsmVdpAction {
        /* Send a VSI TLV of this request type with these M/S status bits. */
        bool send;
        VsmVdpRequest send_request;
        uint8_t send_flags;              /* VSM_VDP_STATUS_M | VSM_VDP_STATUS_S */
        bool send_is_keepalive;
        bool send_is_repair;
        /* Before sending: take this VSI's previous, unsent TLV out of the
         * ULPDU being built (it was replaced). */
        bool withdraw;

        /* Report the outcome of request `request` (flags as sent). */
        bool report;
        /* The report is about a keep-alive, a repair or a bridge request:
         * no caller waits for it. */
        bool report_internal;
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
        bool pending;                    /* a request is on the wire */
        VsmVdpSendKind pending_kind;
        bool pending_superseded;         /* caller's, replaced: answer not reported */
        VsmVdpRequest pending_request;
        uint8_t pending_flags;
        uint64_t pending_sent_usec;
        /* A caller request waiting for the one on the wire. */
        bool queued;
        VsmVdpRequest queued_request;
        uint8_t queued_flags;
        uint64_t queued_usec;
        uint64_t deadline_usec;
        /* Last settled request and its M/S hint, resent as keep-alive. */
        VsmVdpRequest current_request;
        uint8_t current_flags;
        /* Repair after a bridge DE-ASSOCIATE. */
        bool repair;
        uint64_t repair_due_usec;
        uint64_t repair_backoff_usec;    /* delay of the last attempt, 0 = none yet */
        uint64_t n_repairs;              /* re-ASSOCIATEs sent */
        uint64_t n_timeout_repairs;      /* repairs started by a timeout (request or keep-alive) */
        /* Keep-alive round: when its first send went, and resends so far. */
        uint64_t keepalive_first_usec;
        uint64_t n_keepalive_resends;
        /* Last response, for status displays. */
        bool have_last;
        uint8_t last_status;
        uint64_t last_rtt_usec;
        uint64_t last_change_usec;
} VsmVdpVsiMachine;

void vsm_vdp_vsi_init(VsmVdpVsiMachine *m, const VsmVdpTimers *timers);
void vsm_vdp_vsi_set_timers(VsmVdpVsiMachine *m, const VsmVdpTimers *timers);

/* The operator or the migration logic asks for a request.  flags is
 * VSM_VDP_STATUS_M and/or VSM_VDP_STATUS_S (other bits: -EINVAL).
 * in_flight_unsent: the request in flight (if any) has not left the
 * station yet and can be withdrawn (then ret->withdraw says so and the new
 * one replaces it); else a new request waits for the one on the wire. */
int vsm_vdp_vsi_request(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t flags, bool in_flight_unsent,
                        uint64_t now_usec, VsmVdpAction *ret);
/* A response TLV for this VSI arrived (status has VSM_VDP_STATUS_RESPONSE).
 * It answers the request on the wire; -ESTALE when nothing is on the wire
 * or the type does not match (ignored). */
int vsm_vdp_vsi_on_response(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t status,
                            uint64_t now_usec, VsmVdpAction *ret);
/* The bridge sent a request TLV (no response bit) for this VSI.  Only a
 * DE-ASSOCIATE is acted on; others: -EOPNOTSUPP. */
int vsm_vdp_vsi_on_bridge_request(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t status,
                                  uint64_t now_usec, VsmVdpAction *ret);
/* ECP gave up on the ULPDU that carried this VSI's pending request. */
void vsm_vdp_vsi_on_tx_failed(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret);
/* The uplink's interface went away.  The request on the wire and a queued
 * one are lost: reported LINK_DOWN (to the caller's waiter, or internal for
 * a keep-alive or repair).  The settled state, its request and M/S hint
 * and a wanted repair are kept (the association is what the VM still
 * needs), and the timer stops until vsm_vdp_vsi_link_up(). */
void vsm_vdp_vsi_link_down(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret);
/* The uplink is back (re-created, bridge seen): a settled state other
 * than none is sent again at once as a keep-alive (the settled request
 * with its hint); a wanted repair goes now; else nothing. */
void vsm_vdp_vsi_link_up(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret);
/* Forget the association without telling the bridge (it cannot be told:
 * the uplink is gone): none, no repair, nothing in flight, no timer. */
void vsm_vdp_vsi_drop(VsmVdpVsiMachine *m, uint64_t now_usec);
/* The deadline passed: response timeout or keep-alive. */
void vsm_vdp_vsi_on_timer(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret);

const char *vsm_vsi_state_to_string(VsmVsiState s);
const char *vsm_vdp_outcome_to_string(VsmVdpOutcome o);
/* Keep-alive interval bounds (see vsm_vdp_timers_from_evb). */
#define VSM_VDP_KEEPALIVE_MIN_USEC UINT64_C(1000)
#define VSM_VDP_KEEPALIVE_MAX_USEC UINT64_C(60000000)
/* Least wait for a keep-alive's answer before it is sent again. */
#define VSM_VDP_KEEPALIVE_RESPONSE_MIN_USEC UINT64_C(10000)
/* Timers from the bridge's EVB TLV exponents: response timeout = RWD time
 * * 1.5 (at least 1 s, as resource-wait is the bridge's promise), keep-alive
 * = RKA time (the station's reinitKeepAlive, 802.1Qbg-2012 41.5.5) within
 * [1 ms, 60 s]; exponents above 25 are capped.  sm/vdp.c says why this is
 * the largest safe interval. */
void vsm_vdp_timers_from_evb(uint8_t rwd, uint8_t rka, VsmVdpTimers *ret);
/* The bridge's keep-alive timeout (toutKeepAlive, 802.1Qbg-2012 41.5.5):
 * 1.5 * (RKA time + (2R + 1) * 10 us * 2^RTE); exponents above 25 capped. */
uint64_t vsm_vdp_bridge_keepalive_timeout_usec(uint8_t rka, uint8_t r, uint8_t rte);

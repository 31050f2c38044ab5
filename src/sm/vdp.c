/* VDP22 station state machine for one VSI, IEEE 802.1Qbg-2012 clause 41.5
 * (simplified, see sm/vdp.h).
 *
 * The machine is the settled association `state` (none, pre-associated,
 * pre-associated-rr, associated) times a phase:
 *   SETTLED  nothing on the wire; while state != none the keep-alive timer
 *            runs until last refresh + keepalive_usec; in none with a
 *            repair wanted, the repair timer runs;
 *   WAITING  one request on the wire (`pending`): the caller's, a
 *            keep-alive or a repair; the response timer runs until
 *            send time + response_timeout_usec, or, while a caller
 *            request is `queued` behind it, at most until queueing time +
 *            VSM_VDP_QUEUE_WAIT_USEC.
 * Event handlers only decide the transition (new state, what to report);
 * the entry actions vdp_enter_waiting() and vdp_enter_settled() are the
 * only places that fill in a send and arm or cancel the timer.
 *
 * `pending_sent_usec` is kept after the response: in SETTLED with
 * state != none it is the time of the send that the bridge last
 * confirmed, from which the next keep-alive is scheduled.  Keep-alives are
 * scheduled from the send time (not the response time), so the bridge sees
 * a refresh exactly every keepalive_usec.
 *
 * A failed request (error response without the hard-error bit, timeout,
 * ECP failure) leaves the previous state; if that is not none, a keep-alive
 * for it goes out at once in the same action.  While the request was in
 * flight no keep-alive was sent, and the response timeout (1.5 x resource
 * wait) may exceed the bridge's keep-alive, so the old state must be
 * re-confirmed now, not one keep-alive interval later.
 */
#include "sm/vdp.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#define VDP_REQUEST_FLAGS (VSM_VDP_STATUS_M | VSM_VDP_STATUS_S)
#define USEC_PER_SEC UINT64_C(1000000)

/* now + delta, saturating, and never 0 (0 means "no timer"). */
static uint64_t deadline_after(uint64_t t_usec, uint64_t delta_usec) {
        uint64_t d = delta_usec > UINT64_MAX - t_usec ? UINT64_MAX : t_usec + delta_usec;

        return d == 0 ? 1 : d;
}

static VsmVsiState vdp_request_target(VsmVdpRequest req) {
        switch (req) {
        case VSM_VDP_REQ_PRE_ASSOCIATE:
                return VSM_VSI_STATE_PRE_ASSOCIATED;
        case VSM_VDP_REQ_PRE_ASSOCIATE_RR:
                return VSM_VSI_STATE_PRE_ASSOCIATED_RR;
        case VSM_VDP_REQ_ASSOCIATE:
                return VSM_VSI_STATE_ASSOCIATED;
        case VSM_VDP_REQ_DE_ASSOCIATE:
        case _VSM_VDP_REQ_MAX:
                break;
        }
        return VSM_VSI_STATE_NONE;
}

static bool vdp_request_valid(VsmVdpRequest req) {
        return (unsigned) req < _VSM_VDP_REQ_MAX;
}

static void vdp_action_clear(VsmVdpAction *ret) {
        memset(ret, 0, sizeof(*ret));
}

/* Every action carries the current deadline, so the caller can always
 * re-arm (or cancel) its timer from the last action it got. */
static void vdp_action_finish(const VsmVdpVsiMachine *m, VsmVdpAction *ret) {
        ret->deadline_usec = m->deadline_usec;
}

static void vdp_report(VsmVdpAction *ret, VsmVdpOutcome outcome, VsmVdpRequest req, uint8_t flags,
                       uint8_t status, uint64_t rtt_usec) {
        ret->report = true;
        ret->outcome = outcome;
        ret->request = req;
        ret->flags = flags;
        ret->status = status;
        ret->error = status & VSM_VDP_STATUS_REASON_MASK;
        ret->rtt_usec = rtt_usec;
}

/* Transition of the settled state; records when it changed. */
static void vdp_set_state(VsmVdpVsiMachine *m, VsmVsiState state, uint64_t now_usec) {
        if (m->state != state)
                m->last_change_usec = now_usec;
        m->state = state;
}

static uint64_t min_deadline(uint64_t a, uint64_t b) {
        if (a == 0)
                return b;
        if (b == 0)
                return a;
        return a < b ? a : b;
}

/* The one timer, from the phase: response (shortened while a request is
 * queued), keep-alive from the last confirmed send, repair, or none. */
static uint64_t vdp_deadline(const VsmVdpVsiMachine *m) {
        if (m->pending) {
                uint64_t wait = m->pending_kind == VSM_VDP_SEND_KEEPALIVE && m->timers.keepalive_response_usec
                                        ? m->timers.keepalive_response_usec
                                        : m->timers.response_timeout_usec;
                uint64_t d = deadline_after(m->pending_sent_usec, wait);

                if (m->queued)
                        d = min_deadline(d, deadline_after(m->queued_usec, VSM_VDP_QUEUE_WAIT_USEC));
                return d;
        }
        if (m->state != VSM_VSI_STATE_NONE)
                return deadline_after(m->pending_sent_usec, m->timers.keepalive_usec);
        if (m->repair)
                return m->repair_due_usec;
        return 0;
}

/* Entry action of WAITING: send the request and arm the response timer. */
static void vdp_enter_waiting(VsmVdpVsiMachine *m, VsmVdpSendKind kind, VsmVdpRequest req, uint8_t flags,
                              uint64_t now_usec, VsmVdpAction *ret) {
        m->pending = true;
        m->pending_kind = kind;
        m->pending_superseded = false;
        m->pending_request = req;
        m->pending_flags = flags;
        m->pending_sent_usec = now_usec;
        m->deadline_usec = vdp_deadline(m);

        ret->send = true;
        ret->send_request = req;
        ret->send_flags = flags;
        ret->send_is_keepalive = kind == VSM_VDP_SEND_KEEPALIVE;
        ret->send_is_repair = kind == VSM_VDP_SEND_REPAIR;
        if (kind == VSM_VDP_SEND_REPAIR)
                m->n_repairs++;
}

static void vdp_enter_keepalive(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        /* Keep-alives repeat the settled request with the hint it was
         * confirmed with, as lldpad's station does: a plain ASSOCIATE from
         * a post-copy source (S) would claim the VM back. */
        m->keepalive_first_usec = now_usec;
        vdp_enter_waiting(m, VSM_VDP_SEND_KEEPALIVE, m->current_request, m->current_flags, now_usec, ret);
}

/* Whether an unanswered keep-alive may go again: its answer must be due
 * within half a keep-alive interval of the round's first send, which the
 * bridge's keep-alive timeout still covers (toutKeepAlive >= 1.5 x RKA
 * time, see vsm_vdp_timers_from_evb). */
static bool vdp_keepalive_may_resend(const VsmVdpVsiMachine *m, uint64_t now_usec) {
        uint64_t wait = m->timers.keepalive_response_usec;

        return wait != 0 && now_usec + wait <= m->keepalive_first_usec + m->timers.keepalive_usec / 2;
}

/* An association we asked for, ASSOCIATE without the S-bit: the VM runs
 * here, and losing it is repaired. */
static bool vdp_runs_here(VsmVsiState state, VsmVdpRequest req, uint8_t flags) {
        return state == VSM_VSI_STATE_ASSOCIATED && req == VSM_VDP_REQ_ASSOCIATE && !(flags & VSM_VDP_STATUS_S);
}

/* The next repair attempt: after 1 s, then twice the last delay, capped. */
static void vdp_schedule_repair(VsmVdpVsiMachine *m, uint64_t now_usec) {
        uint64_t b = m->repair_backoff_usec;

        b = b == 0 ? VSM_VDP_REPAIR_FIRST_USEC : b * 2;
        if (b > VSM_VDP_REPAIR_MAX_USEC)
                b = VSM_VDP_REPAIR_MAX_USEC;
        m->repair = true;
        m->repair_backoff_usec = b;
        m->repair_due_usec = deadline_after(now_usec, b);
}

/* Entry action of SETTLED (nothing on the wire): a queued request goes
 * now; else arm the keep-alive timer for a state other than none (sending
 * at once if it is already due), the repair timer for none with a repair
 * wanted (same), or cancel the timer. */
static void vdp_enter_settled(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        m->pending = false;
        m->pending_superseded = false;

        if (m->queued) {
                m->queued = false;
                vdp_enter_waiting(m, VSM_VDP_SEND_REQUEST, m->queued_request, m->queued_flags, now_usec, ret);
                return;
        }
        m->deadline_usec = vdp_deadline(m);
        if (m->deadline_usec == 0 || m->deadline_usec > now_usec)
                return;
        if (m->state != VSM_VSI_STATE_NONE)
                vdp_enter_keepalive(m, now_usec, ret);
        else if (m->repair)
                vdp_enter_waiting(m, VSM_VDP_SEND_REPAIR, VSM_VDP_REQ_ASSOCIATE, m->current_flags, now_usec, ret);
}

/* A request failed without a hard error: keep the previous state and, if
 * it is not none, re-confirm it at once (a queued request goes first). */
static void vdp_enter_after_failure(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        if (m->state == VSM_VSI_STATE_NONE || m->queued) {
                vdp_enter_settled(m, now_usec, ret);
                return;
        }
        m->pending = false;
        vdp_enter_keepalive(m, now_usec, ret);
}

static void vdp_report_internal(VsmVdpAction *ret, VsmVdpOutcome outcome, VsmVdpRequest req, uint8_t flags,
                                uint8_t status, uint64_t rtt_usec) {
        vdp_report(ret, outcome, req, flags, status, rtt_usec);
        ret->report_internal = true;
}

/* The request on the wire got no answer: the response timer ran out, ECP
 * gave up on it, or a queued request waited long enough. */
static void vdp_pending_failed(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        assert(m->pending);

        if (m->queued) {
                /* The queued request decides the state: send it now. */
                if (m->pending_kind != VSM_VDP_SEND_REQUEST)
                        vdp_report_internal(ret, VSM_VDP_OUTCOME_TIMEOUT, m->pending_request, m->pending_flags, 0, 0);
                vdp_enter_settled(m, now_usec, ret);
                return;
        }

        switch (m->pending_kind) {
        case VSM_VDP_SEND_KEEPALIVE:
                /* Lost on the way or in the bridge (lldpad drops input that
                 * a second frame overwrites within 2 ms, and stalls under
                 * load): again, while the bridge still holds the state. */
                if (vdp_keepalive_may_resend(m, now_usec)) {
                        m->n_keepalive_resends++;
                        vdp_enter_waiting(m, VSM_VDP_SEND_KEEPALIVE, m->current_request, m->current_flags, now_usec,
                                          ret);
                        return;
                }
                /* The bridge did not confirm the state, and its keep-alive
                 * timer will drop it: so do we.  An association of a VM
                 * that runs here is repaired. */
                vdp_report_internal(ret, VSM_VDP_OUTCOME_TIMEOUT, m->pending_request, m->pending_flags, 0, 0);
                if (vdp_runs_here(m->state, m->current_request, m->current_flags)) {
                        m->n_timeout_repairs++;
                        vdp_schedule_repair(m, now_usec);
                }
                vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
                vdp_enter_settled(m, now_usec, ret);
                return;
        case VSM_VDP_SEND_REPAIR:
                vdp_report_internal(ret, VSM_VDP_OUTCOME_TIMEOUT, m->pending_request, m->pending_flags, 0, 0);
                vdp_schedule_repair(m, now_usec);
                vdp_enter_settled(m, now_usec, ret);
                return;
        case VSM_VDP_SEND_REQUEST:
        case _VSM_VDP_SEND_MAX:
                break;
        }
        vdp_report(ret, VSM_VDP_OUTCOME_TIMEOUT, m->pending_request, m->pending_flags, 0, 0);
        m->pending = false;
        /* A caller's ASSOCIATE for a VM that runs here, from none, got no
         * answer within the retry budget (a bridge under load): repaired
         * with the backoff, as after a bridge DE-ASSOCIATE. */
        if (m->state == VSM_VSI_STATE_NONE && !m->pending_superseded &&
            vdp_runs_here(VSM_VSI_STATE_ASSOCIATED, m->pending_request, m->pending_flags)) {
                m->current_request = m->pending_request;
                m->current_flags = m->pending_flags;
                m->n_timeout_repairs++;
                vdp_schedule_repair(m, now_usec);
        }
        vdp_enter_after_failure(m, now_usec, ret);
}

/* Initializes the machine: state none, nothing in flight, no timer. */
void vsm_vdp_vsi_init(VsmVdpVsiMachine *m, const VsmVdpTimers *timers) {
        assert(m);
        assert(timers);

        memset(m, 0, sizeof(*m));
        m->state = VSM_VSI_STATE_NONE;
        m->timers = *timers;
}

/* Replaces the timers (e.g. the bridge's EVB TLV changed) and recomputes
 * the running timer from them: the response timer from the send time of
 * the request in flight, the keep-alive timer from the last confirmed
 * send.  The caller re-arms its timer from m->deadline_usec afterwards (it
 * may now lie in the past: then on_timer acts at once). */
void vsm_vdp_vsi_set_timers(VsmVdpVsiMachine *m, const VsmVdpTimers *timers) {
        assert(m);
        assert(timers);

        m->timers = *timers;
        m->deadline_usec = vdp_deadline(m);
}

/* Asks for a request.  The caller's older request, queued or on the wire,
 * is superseded and reported CANCELLED.  If the request in flight has not
 * left the station (in_flight_unsent) it is withdrawn and the new one sent
 * instead; else the new one is queued behind it.  Any repair ends.
 * -EINVAL for an unknown request or flags other than M/S; *ret is always
 * filled and on error says nothing to do. */
int vsm_vdp_vsi_request(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t flags, bool in_flight_unsent,
                        uint64_t now_usec, VsmVdpAction *ret) {
        assert(m);
        assert(ret);

        vdp_action_clear(ret);

        if (!vdp_request_valid(req) || (flags & ~VDP_REQUEST_FLAGS) != 0) {
                vdp_action_finish(m, ret);
                return -EINVAL;
        }

        m->repair = false;
        m->repair_backoff_usec = 0;

        if (m->queued) {
                /* Only a caller request is ever queued, and then the one on
                 * the wire is already superseded or the machine's own. */
                vdp_report(ret, VSM_VDP_OUTCOME_CANCELLED, m->queued_request, m->queued_flags, 0, 0);
                m->queued = false;
        } else if (m->pending && m->pending_kind == VSM_VDP_SEND_REQUEST && !m->pending_superseded) {
                vdp_report(ret, VSM_VDP_OUTCOME_CANCELLED, m->pending_request, m->pending_flags, 0, 0);
                m->pending_superseded = true;
        }

        if (m->pending && in_flight_unsent) {
                ret->withdraw = true;
                m->pending = false;
        }
        if (m->pending) {
                m->queued = true;
                m->queued_request = req;
                m->queued_flags = flags;
                m->queued_usec = now_usec;
                /* If this lies in the past already, the timer acts at once. */
                m->deadline_usec = vdp_deadline(m);
        } else {
                vdp_enter_waiting(m, VSM_VDP_SEND_REQUEST, req, flags, now_usec, ret);
        }
        vdp_action_finish(m, ret);
        return 0;
}

/* Answer to a request the caller no longer waits for, or to the machine's
 * own (keep-alive, repair), while a caller request is queued: the state
 * follows what the bridge says, then the queued request goes. */
static void vdp_on_response_queued(VsmVdpVsiMachine *m, bool ok, bool hard, uint8_t status, uint64_t rtt,
                                   uint64_t now_usec, VsmVdpAction *ret) {
        VsmVdpRequest req = m->pending_request;

        switch (m->pending_kind) {
        case VSM_VDP_SEND_KEEPALIVE:
                vdp_report_internal(ret, ok ? VSM_VDP_OUTCOME_REFRESHED : VSM_VDP_OUTCOME_ERROR, req,
                                    m->pending_flags, status, rtt);
                if (!ok)
                        vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
                break;
        case VSM_VDP_SEND_REPAIR:
                vdp_report_internal(ret, ok ? VSM_VDP_OUTCOME_REPAIRED : VSM_VDP_OUTCOME_ERROR, req,
                                    m->pending_flags, status, rtt);
                /* fall through */
        case VSM_VDP_SEND_REQUEST:
        case _VSM_VDP_SEND_MAX:
                if (ok) {
                        vdp_set_state(m, vdp_request_target(req), now_usec);
                        if (m->state != VSM_VSI_STATE_NONE) {
                                m->current_request = req;
                                m->current_flags = m->pending_flags;
                        }
                } else if (hard) {
                        vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
                }
                break;
        }
        vdp_enter_settled(m, now_usec, ret);
}

/* A response arrived.  -EINVAL if status lacks the response bit or req is
 * unknown, -ESTALE if nothing is on the wire or its type differs; then
 * nothing changes.  Error 0 without the hard-error bit settles the state
 * (OK, REFRESHED for a keep-alive, REPAIRED for a repair).  Any other
 * response is an ERROR: the hard-error bit, or an error to a keep-alive or
 * a repair, drops to none (a repair tries again later); else the previous
 * state stays and is re-confirmed at once. */
int vsm_vdp_vsi_on_response(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t status,
                            uint64_t now_usec, VsmVdpAction *ret) {
        uint64_t rtt;
        bool ok, hard;

        assert(m);
        assert(ret);

        vdp_action_clear(ret);

        if (!vdp_request_valid(req) || !(status & VSM_VDP_STATUS_RESPONSE)) {
                vdp_action_finish(m, ret);
                return -EINVAL;
        }
        if (!m->pending || req != m->pending_request) {
                vdp_action_finish(m, ret);
                return -ESTALE;
        }

        rtt = now_usec >= m->pending_sent_usec ? now_usec - m->pending_sent_usec : 0;
        m->have_last = true;
        m->last_status = status;
        m->last_rtt_usec = rtt;

        /* A hard error with reason 0 is malformed; the bridge still says the
         * VSI is gone, so it counts as an error. */
        hard = status & VSM_VDP_STATUS_HARD_ERROR;
        ok = (status & VSM_VDP_STATUS_REASON_MASK) == VSM_VDP_ERR_OK && !hard;

        if (m->queued) {
                vdp_on_response_queued(m, ok, hard, status, rtt, now_usec, ret);
        } else if (m->pending_kind == VSM_VDP_SEND_KEEPALIVE) {
                if (ok) {
                        vdp_report_internal(ret, VSM_VDP_OUTCOME_REFRESHED, req, m->pending_flags, status, rtt);
                        /* The association held a keep-alive period. */
                        m->repair_backoff_usec = 0;
                        vdp_enter_settled(m, now_usec, ret);
                } else {
                        /* The bridge rejected the state it held: it is gone. */
                        vdp_report_internal(ret, VSM_VDP_OUTCOME_ERROR, req, m->pending_flags, status, rtt);
                        vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
                        vdp_enter_settled(m, now_usec, ret);
                }
        } else if (m->pending_kind == VSM_VDP_SEND_REPAIR) {
                if (ok) {
                        vdp_report_internal(ret, VSM_VDP_OUTCOME_REPAIRED, req, m->pending_flags, status, rtt);
                        vdp_set_state(m, VSM_VSI_STATE_ASSOCIATED, now_usec);
                        m->repair = false;
                } else {
                        vdp_report_internal(ret, VSM_VDP_OUTCOME_ERROR, req, m->pending_flags, status, rtt);
                        vdp_schedule_repair(m, now_usec);
                }
                vdp_enter_settled(m, now_usec, ret);
        } else if (ok) {
                vdp_report(ret, VSM_VDP_OUTCOME_OK, req, m->pending_flags, status, rtt);
                vdp_set_state(m, vdp_request_target(req), now_usec);
                if (m->state != VSM_VSI_STATE_NONE) {
                        m->current_request = req;
                        m->current_flags = m->pending_flags;
                }
                vdp_enter_settled(m, now_usec, ret);
        } else if (hard) {
                vdp_report(ret, VSM_VDP_OUTCOME_ERROR, req, m->pending_flags, status, rtt);
                vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
                vdp_enter_settled(m, now_usec, ret);
        } else {
                vdp_report(ret, VSM_VDP_OUTCOME_ERROR, req, m->pending_flags, status, rtt);
                vdp_enter_after_failure(m, now_usec, ret);
        }

        vdp_action_finish(m, ret);
        return 0;
}

/* The bridge sent a request.  -EINVAL for an unknown req or a status with
 * the response bit; -EOPNOTSUPP for anything but DE-ASSOCIATE.  A
 * DE-ASSOCIATE drops the VSI to none and is reported BRIDGE_DEASSOC; a
 * keep-alive in flight is abandoned (a queued request then goes at once),
 * a caller's request in flight stays (its answer decides the state).  An
 * association we asked for (ASSOCIATE without S) with no caller request
 * in flight or queued is repaired.  When already none it is tolerated
 * silently. */
int vsm_vdp_vsi_on_bridge_request(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t status,
                                  uint64_t now_usec, VsmVdpAction *ret) {
        bool caller_busy, repair;

        assert(m);
        assert(ret);

        vdp_action_clear(ret);

        if (!vdp_request_valid(req) || (status & VSM_VDP_STATUS_RESPONSE)) {
                vdp_action_finish(m, ret);
                return -EINVAL;
        }
        if (req != VSM_VDP_REQ_DE_ASSOCIATE) {
                vdp_action_finish(m, ret);
                return -EOPNOTSUPP;
        }

        /* lldpad's bridge acknowledges a station DE-ASSOCIATE but keeps the
         * VSI, then ~15.8 s later sends its own DE-ASSOCIATE (status 0x00)
         * for it.  By then we are none (or already asking for something
         * new, or repairing): nothing to do, nothing to report. */
        if (m->state == VSM_VSI_STATE_NONE) {
                vdp_action_finish(m, ret);
                return 0;
        }

        caller_busy = m->queued || (m->pending && m->pending_kind == VSM_VDP_SEND_REQUEST);
        repair = !caller_busy && vdp_runs_here(m->state, m->current_request, m->current_flags);

        vdp_report_internal(ret, VSM_VDP_OUTCOME_BRIDGE_DEASSOC, req, status & VDP_REQUEST_FLAGS, status, 0);
        vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
        if (repair)
                vdp_schedule_repair(m, now_usec);
        if (!m->pending || m->pending_kind != VSM_VDP_SEND_REQUEST)
                vdp_enter_settled(m, now_usec, ret);
        /* else: WAITING goes on with the same response timer. */

        vdp_action_finish(m, ret);
        return 0;
}

/* ECP gave up on the ULPDU carrying the request in flight: same as a
 * response timeout.  Nothing in flight: nothing to do. */
void vsm_vdp_vsi_on_tx_failed(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        assert(m);
        assert(ret);

        vdp_action_clear(ret);
        if (m->pending)
                vdp_pending_failed(m, now_usec, ret);
        vdp_action_finish(m, ret);
}

void vsm_vdp_vsi_link_down(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        assert(m);
        assert(ret);

        (void) now_usec;
        vdp_action_clear(ret);
        if (m->queued)
                /* The one on the wire is superseded or the machine's own. */
                vdp_report(ret, VSM_VDP_OUTCOME_LINK_DOWN, m->queued_request, m->queued_flags, 0, 0);
        else if (m->pending && m->pending_kind == VSM_VDP_SEND_REQUEST && !m->pending_superseded)
                vdp_report(ret, VSM_VDP_OUTCOME_LINK_DOWN, m->pending_request, m->pending_flags, 0, 0);
        else if (m->pending && m->pending_kind != VSM_VDP_SEND_REQUEST)
                vdp_report_internal(ret, VSM_VDP_OUTCOME_LINK_DOWN, m->pending_request, m->pending_flags, 0, 0);
        m->queued = false;
        m->pending = false;
        m->pending_superseded = false;
        m->deadline_usec = 0;
        vdp_action_finish(m, ret);
}

void vsm_vdp_vsi_link_up(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        assert(m);
        assert(ret);

        vdp_action_clear(ret);
        if (!m->pending && !m->queued) {
                if (m->state != VSM_VSI_STATE_NONE)
                        vdp_enter_keepalive(m, now_usec, ret);
                else if (m->repair)
                        vdp_enter_waiting(m, VSM_VDP_SEND_REPAIR, VSM_VDP_REQ_ASSOCIATE, m->current_flags, now_usec,
                                          ret);
        }
        vdp_action_finish(m, ret);
}

void vsm_vdp_vsi_drop(VsmVdpVsiMachine *m, uint64_t now_usec) {
        assert(m);

        vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
        m->repair = false;
        m->repair_backoff_usec = 0;
        m->queued = false;
        m->pending = false;
        m->pending_superseded = false;
        m->deadline_usec = 0;
}

/* The timer fired.  Before the deadline, or with no timer, nothing
 * happens.  WAITING: the response timed out (or a queued request waited
 * long enough).  SETTLED: send the keep-alive, or the repair. */
void vsm_vdp_vsi_on_timer(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        assert(m);
        assert(ret);

        vdp_action_clear(ret);

        if (m->deadline_usec != 0 && now_usec >= m->deadline_usec) {
                if (m->pending)
                        vdp_pending_failed(m, now_usec, ret);
                else
                        vdp_enter_settled(m, now_usec, ret);
        }

        vdp_action_finish(m, ret);
}

/* "none", "pre-associated", "pre-associated-rr", "associated"; NULL when
 * out of range. */
const char *vsm_vsi_state_to_string(VsmVsiState s) {
        static const char *const table[_VSM_VSI_STATE_MAX] = {
                [VSM_VSI_STATE_NONE] = "none",
                [VSM_VSI_STATE_PRE_ASSOCIATED] = "pre-associated",
                [VSM_VSI_STATE_PRE_ASSOCIATED_RR] = "pre-associated-rr",
                [VSM_VSI_STATE_ASSOCIATED] = "associated",
        };

        if ((unsigned) s >= _VSM_VSI_STATE_MAX)
                return NULL;
        return table[s];
}

/* "ok", "error", "timeout", "cancelled", "refreshed", "bridge-deassoc",
 * "repaired", "link-down";
 * NULL when out of range. */
const char *vsm_vdp_outcome_to_string(VsmVdpOutcome o) {
        static const char *const table[_VSM_VDP_OUTCOME_MAX] = {
                [VSM_VDP_OUTCOME_OK] = "ok",
                [VSM_VDP_OUTCOME_ERROR] = "error",
                [VSM_VDP_OUTCOME_TIMEOUT] = "timeout",
                [VSM_VDP_OUTCOME_CANCELLED] = "cancelled",
                [VSM_VDP_OUTCOME_REFRESHED] = "refreshed",
                [VSM_VDP_OUTCOME_BRIDGE_DEASSOC] = "bridge-deassoc",
                [VSM_VDP_OUTCOME_REPAIRED] = "repaired",
                [VSM_VDP_OUTCOME_LINK_DOWN] = "link-down",
        };

        if ((unsigned) o >= _VSM_VDP_OUTCOME_MAX)
                return NULL;
        return table[o];
}

/* 10 us * 2^exp, exponent capped at 25 (335.5 s).  Same formula as
 * vsm_evb_exp_to_usec(); kept here so the state machines do not depend on
 * the LLDP codec. */
static uint64_t evb_exp_usec(uint8_t exp) {
        if (exp > 25)
                exp = 25;
        return UINT64_C(10) << exp;
}

/* Timers from the bridge's EVB TLV.
 *
 * Response timeout = RWD time * 1.5, at least 1 s (resource wait is the
 * bridge's promise to answer within RWD time).
 *
 * Keep-alive = RKA time itself (IEEE 802.1Qbg-2012 41.5.5: the station's
 * reinitKeepAlive is 10 us * 2^RKA), at least 1 ms, at most 60 s.  The
 * bridge's keep-alive timeout (toutKeepAlive, 41.5.5) is
 *     1.5 * (RKA time + (2R + 1) * ECP ack timeout)
 * restarted on every keep-alive it receives (lldpad: 1.5 * (10.49 s +
 * 7 * 2.56 ms) = 15.76 s; HPE's EVB bridges document the same formula,
 * with the larger R and RTE of both ends).  Sending every RKA time leaves
 *     toutKeepAlive - RKA time >= RKA time / 2 + 1.5 * (2R + 1) * ack timeout,
 * i.e. a keep-alive delivered by ECP's last retry ((R + 1) ack timeouts
 * after it was due) still arrives at least half an interval before the
 * bridge's timer runs out, for any R and RTE: 5.26 s against lldpad,
 * which covers the VDP-level resends after an ECP give-up (50 + 250 ms),
 * batching behind a ULPDU in flight and main-loop delays.  Any longer
 * interval would spend that margin, which the standard sizes for frames
 * lost in transit; tests/unit/test-sm-vdp.c holds both the factor and the
 * margin.  (The 0.6 * RKA used before sent 67% more keep-alives for no
 * gain in safety.)  The 60 s ceiling bounds how long a bridge that lost
 * its state silently (restarted) stays without our VSIs; the 1 ms floor
 * only keeps a zero exponent from spinning the timer. */
void vsm_vdp_timers_from_evb(uint8_t rwd, uint8_t rka, VsmVdpTimers *ret) {
        uint64_t resp, ka, kaw;

        assert(ret);

        resp = evb_exp_usec(rwd) * 3 / 2;
        if (resp < USEC_PER_SEC)
                resp = USEC_PER_SEC;

        ka = evb_exp_usec(rka);
        if (ka < VSM_VDP_KEEPALIVE_MIN_USEC)
                ka = VSM_VDP_KEEPALIVE_MIN_USEC;
        if (ka > VSM_VDP_KEEPALIVE_MAX_USEC)
                ka = VSM_VDP_KEEPALIVE_MAX_USEC;

        ret->response_timeout_usec = resp;
        ret->keepalive_usec = ka;
        /* The bridge answers a keep-alive at once (no resource wait), so
         * an eighth of the interval (1.31 s against lldpad) is plenty, and
         * leaves room for three resends within the half interval. */
        kaw = ka / 8;
        if (kaw < VSM_VDP_KEEPALIVE_RESPONSE_MIN_USEC)
                kaw = VSM_VDP_KEEPALIVE_RESPONSE_MIN_USEC;
        if (kaw > resp)
                kaw = resp;
        ret->keepalive_response_usec = kaw;
}

uint64_t vsm_vdp_bridge_keepalive_timeout_usec(uint8_t rka, uint8_t r, uint8_t rte) {
        return (evb_exp_usec(rka) + (2 * (uint64_t) r + 1) * evb_exp_usec(rte)) * 3 / 2;
}

/* VDP22 station state machine for one VSI, IEEE 802.1Qbg-2012 clause 41.5
 * (simplified, see sm/vdp.h).
 *
 * The machine is the settled association `state` (none, pre-associated,
 * pre-associated-rr, associated) times a phase:
 *   SETTLED  nothing in flight; while state != none the keep-alive timer
 *            runs until last refresh + keepalive_usec;
 *   WAITING  one request in flight (`pending`), either asked for by the
 *            caller or a keep-alive; the response timer runs until
 *            send time + response_timeout_usec.
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

/* Entry action of WAITING: send the request and arm the response timer. */
static void vdp_enter_waiting(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t flags, bool keepalive,
                              uint64_t now_usec, VsmVdpAction *ret) {
        m->pending = true;
        m->pending_keepalive = keepalive;
        m->pending_request = req;
        m->pending_flags = flags;
        m->pending_sent_usec = now_usec;
        m->deadline_usec = deadline_after(now_usec, m->timers.response_timeout_usec);

        ret->send = true;
        ret->send_request = req;
        ret->send_flags = flags;
        ret->send_is_keepalive = keepalive;
}

static void vdp_enter_keepalive(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        /* Keep-alives repeat the settled request without M/S: the
         * migration they announced is over once the bridge confirmed it. */
        vdp_enter_waiting(m, m->current_request, 0, true, now_usec, ret);
}

/* Entry action of SETTLED: arm the keep-alive timer for a state other than
 * none (sending at once if it is already due), cancel the timer for none. */
static void vdp_enter_settled(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        m->pending = false;
        m->pending_keepalive = false;

        if (m->state == VSM_VSI_STATE_NONE) {
                m->deadline_usec = 0;
                return;
        }

        m->deadline_usec = deadline_after(m->pending_sent_usec, m->timers.keepalive_usec);
        if (m->deadline_usec <= now_usec)
                vdp_enter_keepalive(m, now_usec, ret);
}

/* A request failed without a hard error: keep the previous state and, if
 * it is not none, re-confirm it at once. */
static void vdp_enter_after_failure(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        if (m->state == VSM_VSI_STATE_NONE) {
                vdp_enter_settled(m, now_usec, ret);
                return;
        }
        vdp_enter_keepalive(m, now_usec, ret);
}

/* The request in flight got no answer: the response timer ran out or ECP
 * gave up on it. */
static void vdp_pending_failed(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        assert(m->pending);

        if (m->pending_keepalive) {
                /* The bridge did not confirm the state, and its keep-alive
                 * timer will drop it: so do we. */
                vdp_report(ret, VSM_VDP_OUTCOME_TIMEOUT, m->current_request, 0, 0, 0);
                vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
                vdp_enter_settled(m, now_usec, ret);
                return;
        }

        vdp_report(ret, VSM_VDP_OUTCOME_TIMEOUT, m->pending_request, m->pending_flags, 0, 0);
        m->pending = false;
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
        if (m->pending)
                m->deadline_usec = deadline_after(m->pending_sent_usec, m->timers.response_timeout_usec);
        else if (m->state != VSM_VSI_STATE_NONE)
                m->deadline_usec = deadline_after(m->pending_sent_usec, m->timers.keepalive_usec);
        else
                m->deadline_usec = 0;
}

/* Sends a request.  A request (not a keep-alive) already in flight is
 * superseded and reported CANCELLED; a keep-alive in flight is replaced
 * silently.  -EINVAL for an unknown request or flags other than M/S; *ret
 * is always filled and on error says nothing to do. */
int vsm_vdp_vsi_request(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t flags,
                        uint64_t now_usec, VsmVdpAction *ret) {
        assert(m);
        assert(ret);

        vdp_action_clear(ret);

        if (!vdp_request_valid(req) || (flags & ~VDP_REQUEST_FLAGS) != 0) {
                vdp_action_finish(m, ret);
                return -EINVAL;
        }

        if (m->pending && !m->pending_keepalive)
                vdp_report(ret, VSM_VDP_OUTCOME_CANCELLED, m->pending_request, m->pending_flags, 0, 0);

        vdp_enter_waiting(m, req, flags, false, now_usec, ret);
        vdp_action_finish(m, ret);
        return 0;
}

/* A response arrived.  -EINVAL if status lacks the response bit or req is
 * unknown, -ESTALE if nothing is in flight or its type differs; then
 * nothing changes.  Error 0 without the hard-error bit settles the state
 * (OK, or REFRESHED for a keep-alive).  Any other response is an ERROR:
 * the hard-error bit, or an error to a keep-alive, drops to none; else the
 * previous state stays and is re-confirmed at once. */
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

        if (m->pending_keepalive) {
                if (ok) {
                        vdp_report(ret, VSM_VDP_OUTCOME_REFRESHED, req, 0, status, rtt);
                        vdp_enter_settled(m, now_usec, ret);
                } else {
                        /* The bridge rejected the state it held: it is gone. */
                        vdp_report(ret, VSM_VDP_OUTCOME_ERROR, req, 0, status, rtt);
                        vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
                        vdp_enter_settled(m, now_usec, ret);
                }
        } else if (ok) {
                vdp_report(ret, VSM_VDP_OUTCOME_OK, req, m->pending_flags, status, rtt);
                vdp_set_state(m, vdp_request_target(req), now_usec);
                if (m->state != VSM_VSI_STATE_NONE)
                        m->current_request = req;
                vdp_enter_settled(m, now_usec, ret);
        } else if (hard) {
                vdp_report(ret, VSM_VDP_OUTCOME_ERROR, req, m->pending_flags, status, rtt);
                vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
                vdp_enter_settled(m, now_usec, ret);
        } else {
                vdp_report(ret, VSM_VDP_OUTCOME_ERROR, req, m->pending_flags, status, rtt);
                m->pending = false;
                vdp_enter_after_failure(m, now_usec, ret);
        }

        vdp_action_finish(m, ret);
        return 0;
}

/* The bridge sent a request.  -EINVAL for an unknown req or a status with
 * the response bit; -EOPNOTSUPP for anything but DE-ASSOCIATE.  A
 * DE-ASSOCIATE drops the VSI to none and is reported BRIDGE_DEASSOC; a
 * keep-alive in flight is abandoned, a request in flight stays (its answer
 * decides the state).  When already none it is tolerated silently. */
int vsm_vdp_vsi_on_bridge_request(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t status,
                                  uint64_t now_usec, VsmVdpAction *ret) {
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
         * new): nothing to do, nothing to report. */
        if (m->state == VSM_VSI_STATE_NONE) {
                vdp_action_finish(m, ret);
                return 0;
        }

        vdp_report(ret, VSM_VDP_OUTCOME_BRIDGE_DEASSOC, req, status & VDP_REQUEST_FLAGS, status, 0);
        vdp_set_state(m, VSM_VSI_STATE_NONE, now_usec);
        if (!m->pending || m->pending_keepalive)
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

/* The timer fired.  Before the deadline, or with no timer, nothing
 * happens.  WAITING: the response timed out.  SETTLED: send the
 * keep-alive. */
void vsm_vdp_vsi_on_timer(VsmVdpVsiMachine *m, uint64_t now_usec, VsmVdpAction *ret) {
        assert(m);
        assert(ret);

        vdp_action_clear(ret);

        if (m->deadline_usec != 0 && now_usec >= m->deadline_usec) {
                if (m->pending)
                        vdp_pending_failed(m, now_usec, ret);
                else if (m->state != VSM_VSI_STATE_NONE)
                        vdp_enter_keepalive(m, now_usec, ret);
                else
                        m->deadline_usec = 0;
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

/* "ok", "error", "timeout", "cancelled", "refreshed", "bridge-deassoc";
 * NULL when out of range. */
const char *vsm_vdp_outcome_to_string(VsmVdpOutcome o) {
        static const char *const table[_VSM_VDP_OUTCOME_MAX] = {
                [VSM_VDP_OUTCOME_OK] = "ok",
                [VSM_VDP_OUTCOME_ERROR] = "error",
                [VSM_VDP_OUTCOME_TIMEOUT] = "timeout",
                [VSM_VDP_OUTCOME_CANCELLED] = "cancelled",
                [VSM_VDP_OUTCOME_REFRESHED] = "refreshed",
                [VSM_VDP_OUTCOME_BRIDGE_DEASSOC] = "bridge-deassoc",
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

/* Timers from the bridge's EVB TLV: response timeout = RWD time * 1.5, at
 * least 1 s; keep-alive = RKA time * 0.6 within [1 s, 60 s].  lldpad's
 * bridge (RWD = RKA = 20, 10.49 s) gives 15.73 s and 6.29 s; it drops a
 * VSI after 15.76 s without a refresh. */
void vsm_vdp_timers_from_evb(uint8_t rwd, uint8_t rka, VsmVdpTimers *ret) {
        uint64_t resp, ka;

        assert(ret);

        resp = evb_exp_usec(rwd) * 3 / 2;
        if (resp < USEC_PER_SEC)
                resp = USEC_PER_SEC;

        ka = evb_exp_usec(rka) * 3 / 5;
        if (ka < USEC_PER_SEC)
                ka = USEC_PER_SEC;
        if (ka > 60 * USEC_PER_SEC)
                ka = 60 * USEC_PER_SEC;

        ret->response_timeout_usec = resp;
        ret->keepalive_usec = ka;
}

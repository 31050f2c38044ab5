/* Unit tests for the VDP22 station state machine (src/sm/vdp.c), IEEE
 * 802.1Qbg-2012 clause 41.5, on a fake clock.  The soak test also runs the
 * ECP22 machines (src/sm/ecp.c) on both ends of a simulated link. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "sm/ecp.h"
#include "sm/vdp.h"
#include "test-util.h"

#define T0 UINT64_C(1000000)
#define RTT UINT64_C(2500)              /* lldpad's bridge answers in ~2.5 ms */
#define RESP_TIMEOUT UINT64_C(15728640) /* RWD 20: 10.49 s * 1.5 */
#define KEEPALIVE UINT64_C(10485760)    /* RKA 20: 10.49 s (reinitKeepAlive) */
#define LLDPAD_BRIDGE_KA UINT64_C(15760000) /* lldpad's bridge drops after ~15.76 s */

#define M VSM_VDP_STATUS_M
#define S VSM_VDP_STATUS_S
#define RESP VSM_VDP_STATUS_RESPONSE
#define HARD VSM_VDP_STATUS_HARD_ERROR
#define KEEP VSM_VDP_STATUS_KEEP

static const VsmVdpTimers lldpad_timers = {
        .response_timeout_usec = RESP_TIMEOUT,
        .keepalive_usec = KEEPALIVE,
};

static const VsmVdpRequest all_requests[] = {
        VSM_VDP_REQ_PRE_ASSOCIATE,
        VSM_VDP_REQ_PRE_ASSOCIATE_RR,
        VSM_VDP_REQ_ASSOCIATE,
        VSM_VDP_REQ_DE_ASSOCIATE,
};

static const uint8_t all_flags[] = { 0, M, S, M | S };

static const VsmVsiState settled_states[] = {
        VSM_VSI_STATE_PRE_ASSOCIATED,
        VSM_VSI_STATE_PRE_ASSOCIATED_RR,
        VSM_VSI_STATE_ASSOCIATED,
};

static VsmVsiState target_of(VsmVdpRequest req) {
        switch (req) {
        case VSM_VDP_REQ_PRE_ASSOCIATE:
                return VSM_VSI_STATE_PRE_ASSOCIATED;
        case VSM_VDP_REQ_PRE_ASSOCIATE_RR:
                return VSM_VSI_STATE_PRE_ASSOCIATED_RR;
        case VSM_VDP_REQ_ASSOCIATE:
                return VSM_VSI_STATE_ASSOCIATED;
        default:
                return VSM_VSI_STATE_NONE;
        }
}

static VsmVdpRequest request_of(VsmVsiState s) {
        switch (s) {
        case VSM_VSI_STATE_PRE_ASSOCIATED:
                return VSM_VDP_REQ_PRE_ASSOCIATE;
        case VSM_VSI_STATE_PRE_ASSOCIATED_RR:
                return VSM_VDP_REQ_PRE_ASSOCIATE_RR;
        case VSM_VSI_STATE_ASSOCIATED:
                return VSM_VDP_REQ_ASSOCIATE;
        default:
                g_assert_not_reached();
        }
}

static void assert_idle_action(const VsmVdpAction *a) {
        g_assert_false(a->send);
        g_assert_false(a->report);
}

static void assert_send(const VsmVdpAction *a, VsmVdpRequest req, uint8_t flags, bool keepalive) {
        g_assert_true(a->send);
        g_assert_cmpint(a->send_request, ==, req);
        g_assert_cmphex(a->send_flags, ==, flags);
        g_assert_cmpint(a->send_is_keepalive, ==, keepalive);
}

static void assert_report(const VsmVdpAction *a, VsmVdpOutcome o, VsmVdpRequest req, uint8_t flags) {
        g_assert_true(a->report);
        g_assert_cmpstr(vsm_vdp_outcome_to_string(a->outcome), ==, vsm_vdp_outcome_to_string(o));
        g_assert_cmpint(a->request, ==, req);
        g_assert_cmphex(a->flags, ==, flags);
}

static void assert_machine_eq(const VsmVdpVsiMachine *a, const VsmVdpVsiMachine *b) {
        g_assert_cmpint(a->state, ==, b->state);
        g_assert_cmpuint(a->timers.response_timeout_usec, ==, b->timers.response_timeout_usec);
        g_assert_cmpuint(a->timers.keepalive_usec, ==, b->timers.keepalive_usec);
        g_assert_cmpint(a->pending, ==, b->pending);
        g_assert_cmpint(a->pending_kind, ==, b->pending_kind);
        g_assert_cmpint(a->pending_superseded, ==, b->pending_superseded);
        g_assert_cmpint(a->queued, ==, b->queued);
        g_assert_cmpint(a->queued_request, ==, b->queued_request);
        g_assert_cmphex(a->queued_flags, ==, b->queued_flags);
        g_assert_cmpuint(a->queued_usec, ==, b->queued_usec);
        g_assert_cmphex(a->current_flags, ==, b->current_flags);
        g_assert_cmpint(a->repair, ==, b->repair);
        g_assert_cmpuint(a->repair_due_usec, ==, b->repair_due_usec);
        g_assert_cmpuint(a->repair_backoff_usec, ==, b->repair_backoff_usec);
        g_assert_cmpuint(a->n_repairs, ==, b->n_repairs);
        g_assert_cmpint(a->pending_request, ==, b->pending_request);
        g_assert_cmphex(a->pending_flags, ==, b->pending_flags);
        g_assert_cmpuint(a->pending_sent_usec, ==, b->pending_sent_usec);
        g_assert_cmpuint(a->deadline_usec, ==, b->deadline_usec);
        g_assert_cmpint(a->current_request, ==, b->current_request);
        g_assert_cmpint(a->have_last, ==, b->have_last);
        g_assert_cmphex(a->last_status, ==, b->last_status);
        g_assert_cmpuint(a->last_rtt_usec, ==, b->last_rtt_usec);
        g_assert_cmpuint(a->last_change_usec, ==, b->last_change_usec);
}

/* Request req/flags at *now and answer OK RTT later; *now ends at the
 * response time.  Returns the send time. */
static uint64_t settle(VsmVdpVsiMachine *m, VsmVdpRequest req, uint8_t flags, uint64_t *now) {
        VsmVdpAction a;
        uint64_t sent = *now;

        g_assert_cmpint(vsm_vdp_vsi_request(m, req, flags, false, *now, &a), ==, 0);
        assert_send(&a, req, flags, false);
        *now += RTT;
        g_assert_cmpint(vsm_vdp_vsi_on_response(m, req, RESP, *now, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_OK, req, flags);
        g_assert_false(a.send);
        g_assert_cmpint(m->state, ==, target_of(req));
        return sent;
}

static void test_to_string(void) {
        static const struct {
                int v;
                const char *s;
        } states[] = {
                { VSM_VSI_STATE_NONE, "none" },
                { VSM_VSI_STATE_PRE_ASSOCIATED, "pre-associated" },
                { VSM_VSI_STATE_PRE_ASSOCIATED_RR, "pre-associated-rr" },
                { VSM_VSI_STATE_ASSOCIATED, "associated" },
                { _VSM_VSI_STATE_MAX, NULL },
                { -1, NULL },
        }, outcomes[] = {
                { VSM_VDP_OUTCOME_OK, "ok" },
                { VSM_VDP_OUTCOME_ERROR, "error" },
                { VSM_VDP_OUTCOME_TIMEOUT, "timeout" },
                { VSM_VDP_OUTCOME_CANCELLED, "cancelled" },
                { VSM_VDP_OUTCOME_REFRESHED, "refreshed" },
                { VSM_VDP_OUTCOME_BRIDGE_DEASSOC, "bridge-deassoc" },
                { VSM_VDP_OUTCOME_REPAIRED, "repaired" },
                { VSM_VDP_OUTCOME_LINK_DOWN, "link-down" },
                { _VSM_VDP_OUTCOME_MAX, NULL },
                { 1000, NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(states); i++)
                g_assert_cmpstr(vsm_vsi_state_to_string((VsmVsiState) states[i].v), ==, states[i].s);
        for (size_t i = 0; i < G_N_ELEMENTS(outcomes); i++)
                g_assert_cmpstr(vsm_vdp_outcome_to_string((VsmVdpOutcome) outcomes[i].v), ==, outcomes[i].s);
}

static void test_init(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;

        memset(&m, 0xa5, sizeof(m));
        vsm_vdp_vsi_init(&m, &lldpad_timers);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
        g_assert_false(m.pending);
        g_assert_false(m.have_last);
        g_assert_cmpuint(m.deadline_usec, ==, 0);
        g_assert_cmpuint(m.timers.keepalive_usec, ==, KEEPALIVE);

        /* Nothing to do on a timer when idle in none. */
        vsm_vdp_vsi_on_timer(&m, T0, &a);
        assert_idle_action(&a);
        g_assert_cmpuint(a.deadline_usec, ==, 0);
        vsm_vdp_vsi_on_tx_failed(&m, T0, &a);
        assert_idle_action(&a);
        g_assert_cmpuint(a.deadline_usec, ==, 0);
}

/* Every request type with every flag combination, from every state: it is
 * sent as asked, settles in its target state on OK, and arms the
 * keep-alive (not for DE-ASSOCIATE). */
static void test_request_ok(void) {
        VsmVsiState from[] = {
                VSM_VSI_STATE_NONE,
                VSM_VSI_STATE_PRE_ASSOCIATED,
                VSM_VSI_STATE_PRE_ASSOCIATED_RR,
                VSM_VSI_STATE_ASSOCIATED,
        };

        for (size_t s = 0; s < G_N_ELEMENTS(from); s++)
        for (size_t r = 0; r < G_N_ELEMENTS(all_requests); r++)
        for (size_t f = 0; f < G_N_ELEMENTS(all_flags); f++) {
                VsmVdpRequest req = all_requests[r];
                uint8_t flags = all_flags[f];
                VsmVdpVsiMachine m;
                VsmVdpAction a;
                uint64_t now = T0;

                vsm_vdp_vsi_init(&m, &lldpad_timers);
                if (from[s] != VSM_VSI_STATE_NONE)
                        settle(&m, request_of(from[s]), 0, &now);
                now += 1000;

                g_assert_cmpint(vsm_vdp_vsi_request(&m, req, flags, false, now, &a), ==, 0);
                assert_send(&a, req, flags, false);
                g_assert_false(a.report);
                g_assert_cmpuint(a.deadline_usec, ==, now + RESP_TIMEOUT);
                g_assert_true(m.pending);
                /* Still the old state until the bridge answers. */
                g_assert_cmpint(m.state, ==, from[s]);

                g_assert_cmpint(vsm_vdp_vsi_on_response(&m, req, RESP, now + 2400, &a), ==, 0);
                assert_report(&a, VSM_VDP_OUTCOME_OK, req, flags);
                g_assert_false(a.send);
                g_assert_cmpuint(a.error, ==, 0);
                g_assert_cmphex(a.status, ==, RESP);
                g_assert_cmpuint(a.rtt_usec, ==, 2400);
                g_assert_cmpint(m.state, ==, target_of(req));
                g_assert_false(m.pending);
                g_assert_true(m.have_last);
                g_assert_cmphex(m.last_status, ==, RESP);
                g_assert_cmpuint(m.last_rtt_usec, ==, 2400);
                if (req == VSM_VDP_REQ_DE_ASSOCIATE)
                        g_assert_cmpuint(a.deadline_usec, ==, 0);
                else
                        g_assert_cmpuint(a.deadline_usec, ==, now + KEEPALIVE);
                if (target_of(req) != from[s])
                        g_assert_cmpuint(m.last_change_usec, ==, now + 2400);
        }
}

/* A response with the KEEP bit and error 0 is still OK. */
static void test_response_keep_bit_ok(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, M, false, T0, &a);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP | KEEP, T0 + RTT, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_OK, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_cmphex(a.status, ==, RESP | KEEP);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);
}

/* Error codes: reported with the low nibble, the previous state stays.
 * From none: nothing more.  From a settled state: the old state is
 * re-confirmed at once with a keep-alive. */
static void test_error_mapping(void) {
        static const struct {
                uint8_t status;
                uint8_t error;
                const char *name;
        } errors[] = {
                { RESP | 1, VSM_VDP_ERR_INVALID_FORMAT, "invalid-format" },
                { RESP | 2, VSM_VDP_ERR_INSUFFICIENT_RESOURCES, "insufficient-resources" },
                { RESP | 3, VSM_VDP_ERR_NO_VSI_MANAGER, "no-vsi-manager" },
                { RESP | 4, VSM_VDP_ERR_OTHER, "other" },
                { RESP | 5, VSM_VDP_ERR_INVALID_VID_GROUP_MAC, "invalid-vid-group-mac" },
                { RESP | KEEP | 4, VSM_VDP_ERR_OTHER, "other+keep" },
                { RESP | 0x0c, 0x0c, "reserved-12" },
                { RESP | 0x0f, 0x0f, "reserved-15" },
        };

        for (size_t e = 0; e < G_N_ELEMENTS(errors); e++)
        for (size_t r = 0; r < G_N_ELEMENTS(all_requests); r++) {
                VsmVdpRequest req = all_requests[r];
                VsmVdpVsiMachine m;
                VsmVdpAction a;
                uint64_t now = T0;

                /* From none. */
                vsm_vdp_vsi_init(&m, &lldpad_timers);
                vsm_vdp_vsi_request(&m, req, M, false, now, &a);
                g_assert_cmpint(vsm_vdp_vsi_on_response(&m, req, errors[e].status, now + RTT, &a), ==, 0);
                assert_report(&a, VSM_VDP_OUTCOME_ERROR, req, M);
                g_assert_cmpuint(a.error, ==, errors[e].error);
                g_assert_cmphex(a.status, ==, errors[e].status);
                g_assert_cmpuint(a.rtt_usec, ==, RTT);
                g_assert_false(a.send);
                g_assert_cmpuint(a.deadline_usec, ==, 0);
                g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
                g_assert_false(m.pending);

                /* From associated. */
                vsm_vdp_vsi_init(&m, &lldpad_timers);
                settle(&m, VSM_VDP_REQ_ASSOCIATE, M, &now);
                now += 1000000;
                vsm_vdp_vsi_request(&m, req, S, false, now, &a);
                g_assert_cmpint(vsm_vdp_vsi_on_response(&m, req, errors[e].status, now + RTT, &a), ==, 0);
                assert_report(&a, VSM_VDP_OUTCOME_ERROR, req, S);
                g_assert_cmpuint(a.error, ==, errors[e].error);
                g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);
                assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, true);
                g_assert_cmpuint(a.deadline_usec, ==, now + RTT + RESP_TIMEOUT);
                g_assert_cmpuint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, now + 2 * RTT, &a), ==, 0);
                assert_report(&a, VSM_VDP_OUTCOME_REFRESHED, VSM_VDP_REQ_ASSOCIATE, M);
                g_assert_true(a.report_internal);
                g_assert_cmpuint(a.deadline_usec, ==, now + RTT + KEEPALIVE);
        }
}

/* The hard-error bit drops to none from every state, for every request. */
static void test_hard_error(void) {
        static const uint8_t statuses[] = { RESP | HARD | 2, RESP | HARD | 4, RESP | HARD | KEEP | 1, RESP | HARD };

        for (size_t st = 0; st < G_N_ELEMENTS(statuses); st++)
        for (size_t s = 0; s < G_N_ELEMENTS(settled_states); s++)
        for (size_t r = 0; r < G_N_ELEMENTS(all_requests); r++) {
                VsmVdpVsiMachine m;
                VsmVdpAction a;
                uint64_t now = T0;

                vsm_vdp_vsi_init(&m, &lldpad_timers);
                settle(&m, request_of(settled_states[s]), 0, &now);
                vsm_vdp_vsi_request(&m, all_requests[r], S, false, now, &a);
                g_assert_cmpint(vsm_vdp_vsi_on_response(&m, all_requests[r], statuses[st], now + RTT, &a), ==, 0);
                assert_report(&a, VSM_VDP_OUTCOME_ERROR, all_requests[r], S);
                g_assert_cmpuint(a.error, ==, statuses[st] & 0x0f);
                g_assert_false(a.send);
                g_assert_cmpuint(a.deadline_usec, ==, 0);
                g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
                g_assert_cmpuint(m.last_change_usec, ==, now + RTT);
        }
}

typedef enum {
        FAIL_TIMER,
        FAIL_ECP,
} FailKind;

static void fail_pending(VsmVdpVsiMachine *m, FailKind kind, uint64_t now, VsmVdpAction *a) {
        if (kind == FAIL_TIMER)
                vsm_vdp_vsi_on_timer(m, now, a);
        else
                vsm_vdp_vsi_on_tx_failed(m, now, a);
}

/* No response (response timer or ECP gave up): TIMEOUT, previous state. */
static void test_timeout(void) {
        for (int kind = FAIL_TIMER; kind <= FAIL_ECP; kind++)
        for (size_t r = 0; r < G_N_ELEMENTS(all_requests); r++) {
                VsmVdpRequest req = all_requests[r];
                VsmVdpVsiMachine m;
                VsmVdpAction a;
                uint64_t now = T0, fail_at;

                /* From none: back to none, no timer; an ASSOCIATE (the VM
                 * runs here) is repaired after the first backoff. */
                vsm_vdp_vsi_init(&m, &lldpad_timers);
                vsm_vdp_vsi_request(&m, req, M, false, now, &a);
                fail_at = kind == FAIL_TIMER ? now + RESP_TIMEOUT : now + 10240;
                if (kind == FAIL_TIMER) {
                        vsm_vdp_vsi_on_timer(&m, fail_at - 1, &a);
                        assert_idle_action(&a);
                        g_assert_cmpuint(a.deadline_usec, ==, fail_at);
                }
                fail_pending(&m, kind, fail_at, &a);
                assert_report(&a, VSM_VDP_OUTCOME_TIMEOUT, req, M);
                g_assert_cmpuint(a.rtt_usec, ==, 0);
                g_assert_false(a.send);
                if (req == VSM_VDP_REQ_ASSOCIATE) {
                        g_assert_cmpuint(a.deadline_usec, ==, fail_at + VSM_VDP_REPAIR_FIRST_USEC);
                        g_assert_true(m.repair);
                        g_assert_cmpuint(m.n_timeout_repairs, ==, 1);
                } else {
                        g_assert_cmpuint(a.deadline_usec, ==, 0);
                        g_assert_false(m.repair);
                }
                g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
                g_assert_false(m.pending);
                /* A late response is now stale. */
                g_assert_cmpint(vsm_vdp_vsi_on_response(&m, req, RESP, fail_at + 1, &a), ==, -ESTALE);
                assert_idle_action(&a);

                /* From each settled state: state kept, keep-alive at once. */
                for (size_t s = 0; s < G_N_ELEMENTS(settled_states); s++) {
                        vsm_vdp_vsi_init(&m, &lldpad_timers);
                        now = T0;
                        settle(&m, request_of(settled_states[s]), 0, &now);
                        now += 1000;
                        vsm_vdp_vsi_request(&m, req, S, false, now, &a);
                        fail_at = kind == FAIL_TIMER ? now + RESP_TIMEOUT : now + 10240;
                        fail_pending(&m, kind, fail_at, &a);
                        assert_report(&a, VSM_VDP_OUTCOME_TIMEOUT, req, S);
                        assert_send(&a, request_of(settled_states[s]), 0, true);
                        g_assert_cmpuint(a.deadline_usec, ==, fail_at + RESP_TIMEOUT);
                        g_assert_cmpint(m.state, ==, settled_states[s]);
                }
        }
}

/* Keep-alive: resent every keepalive_usec from the last confirmed send,
 * without M/S, reported REFRESHED. */
static void test_keepalive(void) {
        for (size_t s = 0; s < G_N_ELEMENTS(settled_states); s++)
        for (size_t f = 0; f < G_N_ELEMENTS(all_flags); f++) {
                VsmVsiState st = settled_states[s];
                VsmVdpVsiMachine m;
                VsmVdpAction a;
                uint64_t now = T0, sent;

                vsm_vdp_vsi_init(&m, &lldpad_timers);
                sent = settle(&m, request_of(st), all_flags[f], &now);
                g_assert_cmpuint(m.deadline_usec, ==, sent + KEEPALIVE);

                for (int k = 0; k < 5; k++) {
                        uint64_t due = sent + KEEPALIVE;

                        vsm_vdp_vsi_on_timer(&m, due - 1, &a);
                        assert_idle_action(&a);
                        g_assert_cmpuint(a.deadline_usec, ==, due);

                        now = due;
                        vsm_vdp_vsi_on_timer(&m, now, &a);
                        /* The M/S hint stays, as in lldpad's keep-alives. */
                        assert_send(&a, request_of(st), all_flags[f], true);
                        g_assert_false(a.report);
                        g_assert_cmpuint(a.deadline_usec, ==, now + RESP_TIMEOUT);
                        sent = now;

                        now += RTT + (uint64_t) k * 1000;
                        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, request_of(st), RESP, now, &a), ==, 0);
                        assert_report(&a, VSM_VDP_OUTCOME_REFRESHED, request_of(st), all_flags[f]);
                        g_assert_true(a.report_internal);
                        g_assert_cmpuint(a.rtt_usec, ==, RTT + (uint64_t) k * 1000);
                        g_assert_false(a.send);
                        g_assert_cmpuint(a.deadline_usec, ==, sent + KEEPALIVE);
                        g_assert_cmpint(m.state, ==, st);
                }
        }
}

/* A keep-alive answered later than a keep-alive interval: the next one is
 * already due and goes out in the same action. */
static void test_keepalive_slow_answer(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0, sent;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        sent = settle(&m, VSM_VDP_REQ_ASSOCIATE, 0, &now);
        now = sent + KEEPALIVE;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        now += KEEPALIVE + 5;
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, now, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_REFRESHED, VSM_VDP_REQ_ASSOCIATE, 0);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, 0, true);
        g_assert_cmpuint(a.deadline_usec, ==, now + RESP_TIMEOUT);
}

/* A keep-alive that fails means the bridge dropped the VSI: none. */
static void test_keepalive_failure(void) {
        static const struct {
                const char *name;
                int kind;          /* 0 error response, 1 timer, 2 ECP */
                uint8_t status;
                VsmVdpOutcome outcome;
        } cases[] = {
                { "error-other", 0, RESP | 4, VSM_VDP_OUTCOME_ERROR },
                { "error-resources", 0, RESP | 2, VSM_VDP_OUTCOME_ERROR },
                { "error-keep", 0, RESP | KEEP | 4, VSM_VDP_OUTCOME_ERROR },
                { "hard-error", 0, RESP | HARD | 4, VSM_VDP_OUTCOME_ERROR },
                { "timeout", 1, 0, VSM_VDP_OUTCOME_TIMEOUT },
                { "ecp-failed", 2, 0, VSM_VDP_OUTCOME_TIMEOUT },
        };

        for (size_t c = 0; c < G_N_ELEMENTS(cases); c++)
        for (size_t s = 0; s < G_N_ELEMENTS(settled_states); s++) {
                VsmVsiState st = settled_states[s];
                VsmVdpVsiMachine m;
                VsmVdpAction a;
                uint64_t now = T0, sent;

                vsm_vdp_vsi_init(&m, &lldpad_timers);
                sent = settle(&m, request_of(st), M, &now);
                now = sent + KEEPALIVE;
                vsm_vdp_vsi_on_timer(&m, now, &a);
                assert_send(&a, request_of(st), M, true);

                switch (cases[c].kind) {
                case 0:
                        now += RTT;
                        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, request_of(st), cases[c].status, now, &a), ==, 0);
                        g_assert_cmpuint(a.error, ==, cases[c].status & 0x0f);
                        break;
                case 1:
                        now += RESP_TIMEOUT;
                        vsm_vdp_vsi_on_timer(&m, now, &a);
                        break;
                default:
                        now += 10240;
                        vsm_vdp_vsi_on_tx_failed(&m, now, &a);
                        break;
                }
                assert_report(&a, cases[c].outcome, request_of(st), M);
                g_assert_true(a.report_internal);
                g_assert_false(a.send);
                g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
                g_assert_cmpuint(m.last_change_usec, ==, now);
                g_assert_false(m.pending);
                if (cases[c].kind != 0 && st == VSM_VSI_STATE_ASSOCIATED) {
                        /* Unanswered: the bridge has dropped the VM that
                         * runs here; repaired after the backoff. */
                        g_assert_cmpuint(a.deadline_usec, ==, now + VSM_VDP_REPAIR_FIRST_USEC);
                        g_assert_true(m.repair);
                        g_assert_cmpuint(m.n_timeout_repairs, ==, 1);
                        vsm_vdp_vsi_on_timer(&m, now + VSM_VDP_REPAIR_FIRST_USEC, &a);
                        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, false);
                        g_assert_true(a.send_is_repair);
                        continue;
                }
                g_assert_cmpuint(a.deadline_usec, ==, 0);
                g_assert_false(m.repair);

                /* No keep-alives in none. */
                vsm_vdp_vsi_on_timer(&m, now + 100 * KEEPALIVE, &a);
                assert_idle_action(&a);
        }
}

/* An ASSOCIATE (no S: the VM runs here) from none that the bridge never
 * answers (the reconcile bench: a bridge under load) is retried with the
 * repair backoff until it is answered; with S (the VM is suspended here,
 * leaving) it is not. */
static void test_timeout_repair(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, M, false, now, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, false);
        now += RESP_TIMEOUT;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        assert_report(&a, VSM_VDP_OUTCOME_TIMEOUT, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_false(a.report_internal);              /* the caller hears of its timeout */
        g_assert_cmpuint(a.deadline_usec, ==, now + VSM_VDP_REPAIR_FIRST_USEC);

        /* First repair: unanswered too; the backoff doubles. */
        now += VSM_VDP_REPAIR_FIRST_USEC;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, false);
        g_assert_true(a.send_is_repair);
        g_assert_cmpuint(m.n_repairs, ==, 1);
        now += RESP_TIMEOUT;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        assert_report(&a, VSM_VDP_OUTCOME_TIMEOUT, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_true(a.report_internal);
        g_assert_cmpuint(a.deadline_usec, ==, now + 2 * VSM_VDP_REPAIR_FIRST_USEC);

        /* Second repair: answered, associated. */
        now += 2 * VSM_VDP_REPAIR_FIRST_USEC;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, false);
        now += RTT;
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, now, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_REPAIRED, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);
        g_assert_false(m.repair);
        g_assert_cmpuint(m.n_timeout_repairs, ==, 1);

        /* With S: no repair. */
        vsm_vdp_vsi_init(&m, &lldpad_timers);
        now = T0;
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, S, false, now, &a);
        now += RESP_TIMEOUT;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        assert_report(&a, VSM_VDP_OUTCOME_TIMEOUT, VSM_VDP_REQ_ASSOCIATE, S);
        g_assert_cmpuint(a.deadline_usec, ==, 0);
        g_assert_false(m.repair);

        /* A caller request ends the repair (the VM left: DE-ASSOCIATE). */
        vsm_vdp_vsi_init(&m, &lldpad_timers);
        now = T0;
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, 0, false, now, &a);
        now += RESP_TIMEOUT;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        g_assert_true(m.repair);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, false, now + 1, &a);
        assert_send(&a, VSM_VDP_REQ_DE_ASSOCIATE, 0, false);
        g_assert_false(m.repair);
}

/* Bridge-initiated DE-ASSOCIATE in each state. */
static void test_bridge_deassoc(void) {
        for (size_t s = 0; s < G_N_ELEMENTS(settled_states); s++) {
                VsmVsiState st = settled_states[s];
                VsmVdpVsiMachine m;
                VsmVdpAction a;
                uint64_t now = T0;

                vsm_vdp_vsi_init(&m, &lldpad_timers);
                settle(&m, request_of(st), 0, &now);
                now += 3000000;
                g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now, &a), ==, 0);
                assert_report(&a, VSM_VDP_OUTCOME_BRIDGE_DEASSOC, VSM_VDP_REQ_DE_ASSOCIATE, 0);
                g_assert_true(a.report_internal);
                g_assert_cmphex(a.status, ==, 0);
                g_assert_false(a.send);
                /* Only an association is repaired (the VM runs here). */
                if (st == VSM_VSI_STATE_ASSOCIATED) {
                        g_assert_true(m.repair);
                        g_assert_cmpuint(a.deadline_usec, ==, now + 1000000);
                } else {
                        g_assert_false(m.repair);
                        g_assert_cmpuint(a.deadline_usec, ==, 0);
                }
                g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
                g_assert_cmpuint(m.last_change_usec, ==, now);

                /* A second one is tolerated silently. */
                g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now + 1, &a), ==, 0);
                assert_idle_action(&a);
                g_assert_cmpuint(a.deadline_usec, ==, st == VSM_VSI_STATE_ASSOCIATED ? now + 1000000 : 0);
        }
}

/* lldpad's bridge: it acks a station DE-ASSOCIATE, keeps the VSI, and
 * ~15.8 s later sends its own DE-ASSOCIATE (status 0x00).  Tolerated. */
static void test_bridge_deassoc_lldpad_late(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, M, &now);
        now += 20000000;
        settle(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, &now);
        g_assert_cmpuint(m.deadline_usec, ==, 0);

        now += 15800000;
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now, &a), ==, 0);
        assert_idle_action(&a);
        g_assert_cmpuint(a.deadline_usec, ==, 0);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);

        /* Same while a new ASSOCIATE is in flight: it goes on. */
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, M, false, now, &a);
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now + 1, &a), ==, 0);
        assert_idle_action(&a);
        g_assert_cmpuint(a.deadline_usec, ==, now + RESP_TIMEOUT);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, now + RTT, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_OK, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);
}

/* A bridge DE-ASSOCIATE while something is in flight. */
static void test_bridge_deassoc_pending(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0, sent;

        /* Keep-alive in flight: abandoned, its answer is stale. */
        vsm_vdp_vsi_init(&m, &lldpad_timers);
        sent = settle(&m, VSM_VDP_REQ_ASSOCIATE, 0, &now);
        now = sent + KEEPALIVE;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        g_assert_true(a.send_is_keepalive);
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, now + 10, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_BRIDGE_DEASSOC, VSM_VDP_REQ_DE_ASSOCIATE, 0);
        /* Associated by us: repaired in 1 s. */
        g_assert_cmpuint(a.deadline_usec, ==, now + 10 + 1000000);
        g_assert_false(m.pending);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, now + RTT, &a), ==, -ESTALE);
        assert_idle_action(&a);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);

        /* Request in flight: state none now, the request goes on and its
         * answer decides. */
        vsm_vdp_vsi_init(&m, &lldpad_timers);
        now = T0;
        settle(&m, VSM_VDP_REQ_PRE_ASSOCIATE, 0, &now);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, M, false, now, &a);
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, now + 10, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_BRIDGE_DEASSOC, VSM_VDP_REQ_DE_ASSOCIATE, 0);
        g_assert_false(a.send);
        g_assert_cmpuint(a.deadline_usec, ==, now + RESP_TIMEOUT);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
        g_assert_true(m.pending);
        /* If it then fails, there is nothing to re-confirm. */
        vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP | 4, now + RTT, &a);
        assert_report(&a, VSM_VDP_OUTCOME_ERROR, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_false(a.send);
        g_assert_cmpuint(a.deadline_usec, ==, 0);
}

static void test_bridge_request_other(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, 0, &now);
        for (size_t r = 0; r < G_N_ELEMENTS(all_requests) - 1; r++) {
                g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, all_requests[r], 0, now, &a), ==, -EOPNOTSUPP);
                assert_idle_action(&a);
                g_assert_cmpuint(a.deadline_usec, ==, m.deadline_usec);
        }
        /* A response is not a bridge request. */
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, RESP, now, &a), ==, -EINVAL);
        assert_idle_action(&a);
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, _VSM_VDP_REQ_MAX, 0, now, &a), ==, -EINVAL);
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, (VsmVdpRequest) 77, 0, now, &a), ==, -EINVAL);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);
        g_assert_cmpuint(m.deadline_usec, ==, now - RTT + KEEPALIVE);
}

/* A new request supersedes one that has not left the station: CANCELLED
 * for the old one, which is withdrawn, and the new one is sent in the same
 * action. */
static void test_supersede(void) {
        for (size_t r1 = 0; r1 < G_N_ELEMENTS(all_requests); r1++)
        for (size_t r2 = 0; r2 < G_N_ELEMENTS(all_requests); r2++) {
                VsmVdpVsiMachine m;
                VsmVdpAction a;

                vsm_vdp_vsi_init(&m, &lldpad_timers);
                vsm_vdp_vsi_request(&m, all_requests[r1], M, false, T0, &a);
                g_assert_false(a.withdraw);
                g_assert_cmpint(vsm_vdp_vsi_request(&m, all_requests[r2], S, true, T0 + 500, &a), ==, 0);
                assert_report(&a, VSM_VDP_OUTCOME_CANCELLED, all_requests[r1], M);
                g_assert_false(a.report_internal);
                g_assert_true(a.withdraw);
                g_assert_cmpuint(a.rtt_usec, ==, 0);
                assert_send(&a, all_requests[r2], S, false);
                g_assert_false(m.queued);
                g_assert_cmpuint(a.deadline_usec, ==, T0 + 500 + RESP_TIMEOUT);

                /* An answer to the old type (if different) is stale. */
                if (r1 != r2) {
                        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, all_requests[r1], RESP, T0 + 600, &a), ==, -ESTALE);
                        assert_idle_action(&a);
                }
                g_assert_cmpint(vsm_vdp_vsi_on_response(&m, all_requests[r2], RESP, T0 + 3000, &a), ==, 0);
                assert_report(&a, VSM_VDP_OUTCOME_OK, all_requests[r2], S);
                /* rtt counts from the last send. */
                g_assert_cmpuint(a.rtt_usec, ==, 2500);
                g_assert_cmpint(m.state, ==, target_of(all_requests[r2]));
        }
}

/* A new request while the caller's older one is on the wire: the old one
 * is CANCELLED at once, the new one is queued and goes when the old one is
 * answered; that answer (same type or not) is not taken for the new one. */
static void test_supersede_on_wire(void) {
        for (size_t r1 = 0; r1 < G_N_ELEMENTS(all_requests); r1++)
        for (size_t r2 = 0; r2 < G_N_ELEMENTS(all_requests); r2++) {
                VsmVdpVsiMachine m;
                VsmVdpAction a;

                vsm_vdp_vsi_init(&m, &lldpad_timers);
                vsm_vdp_vsi_request(&m, all_requests[r1], M, false, T0, &a);
                g_assert_cmpint(vsm_vdp_vsi_request(&m, all_requests[r2], S, false, T0 + 500, &a), ==, 0);
                assert_report(&a, VSM_VDP_OUTCOME_CANCELLED, all_requests[r1], M);
                g_assert_false(a.withdraw);
                g_assert_false(a.send);
                g_assert_true(m.queued);
                g_assert_true(m.pending_superseded);
                /* It waits at most VSM_VDP_QUEUE_WAIT_USEC. */
                g_assert_cmpuint(a.deadline_usec, ==, T0 + 500 + VSM_VDP_QUEUE_WAIT_USEC);

                /* The old one's answer: not reported, the new one goes. */
                g_assert_cmpint(vsm_vdp_vsi_on_response(&m, all_requests[r1], RESP, T0 + RTT, &a), ==, 0);
                g_assert_false(a.report);
                assert_send(&a, all_requests[r2], S, false);
                g_assert_false(m.queued);
                g_assert_cmpint(m.state, ==, target_of(all_requests[r1]));
                g_assert_cmpuint(a.deadline_usec, ==, T0 + RTT + RESP_TIMEOUT);
                g_assert_cmpint(vsm_vdp_vsi_on_response(&m, all_requests[r2], RESP, T0 + 2 * RTT, &a), ==, 0);
                assert_report(&a, VSM_VDP_OUTCOME_OK, all_requests[r2], S);
                g_assert_cmpuint(a.rtt_usec, ==, RTT);
                g_assert_cmpint(m.state, ==, target_of(all_requests[r2]));
        }
}

/* A migration request while a keep-alive of the same VSI is on the wire:
 * queued, sent after the keep-alive's answer, and answered only by its
 * own response.  Before the change the keep-alive's response confirmed
 * the ASSOCIATE (M) 2.5 ms after it was asked for. */
static void test_queue_behind_keepalive(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0, sent, ka;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        sent = settle(&m, VSM_VDP_REQ_ASSOCIATE, 0, &now);
        ka = sent + KEEPALIVE;
        vsm_vdp_vsi_on_timer(&m, ka, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, 0, true);

        /* The migration asks for ASSOCIATE (S) 1 ms later. */
        g_assert_cmpint(vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, S, false, ka + 1000, &a), ==, 0);
        g_assert_false(a.send);
        g_assert_false(a.report);
        g_assert_true(m.queued);
        g_assert_cmpuint(a.deadline_usec, ==, ka + 1000 + VSM_VDP_QUEUE_WAIT_USEC);

        /* The keep-alive's answer: REFRESHED (no waiter), S goes now. */
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, ka + RTT, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_REFRESHED, VSM_VDP_REQ_ASSOCIATE, 0);
        g_assert_true(a.report_internal);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, S, false);
        g_assert_true(m.pending);
        g_assert_false(m.queued);

        /* Its own answer. */
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, ka + 2 * RTT, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_OK, VSM_VDP_REQ_ASSOCIATE, S);
        g_assert_false(a.report_internal);
        g_assert_cmpuint(a.rtt_usec, ==, RTT);
        g_assert_cmphex(m.current_flags, ==, S);
        /* A stray second answer is stale. */
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, ka + 3 * RTT, &a), ==, -ESTALE);

        /* A keep-alive that is never answered holds a queued request for
         * VSM_VDP_QUEUE_WAIT_USEC at most; it then goes, the state stays. */
        now = ka + 2 * RTT + KEEPALIVE;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, S, true);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, false, now + 10, &a);
        g_assert_false(a.send);
        vsm_vdp_vsi_on_timer(&m, now + 10 + VSM_VDP_QUEUE_WAIT_USEC - 1, &a);
        assert_idle_action(&a);
        vsm_vdp_vsi_on_timer(&m, now + 10 + VSM_VDP_QUEUE_WAIT_USEC, &a);
        assert_report(&a, VSM_VDP_OUTCOME_TIMEOUT, VSM_VDP_REQ_ASSOCIATE, S);
        g_assert_true(a.report_internal);
        assert_send(&a, VSM_VDP_REQ_DE_ASSOCIATE, 0, false);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);

        /* The same with a keep-alive still unsent: it is withdrawn and the
         * request replaces it at once, without a report. */
        vsm_vdp_vsi_init(&m, &lldpad_timers);
        now = T0;
        sent = settle(&m, VSM_VDP_REQ_ASSOCIATE, M, &now);
        vsm_vdp_vsi_on_timer(&m, sent + KEEPALIVE, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, true);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, true, sent + KEEPALIVE, &a);
        g_assert_false(a.report);
        g_assert_true(a.withdraw);
        assert_send(&a, VSM_VDP_REQ_DE_ASSOCIATE, 0, false);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_DE_ASSOCIATE, RESP, sent + KEEPALIVE + RTT, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_OK, VSM_VDP_REQ_DE_ASSOCIATE, 0);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
        g_assert_cmpuint(a.deadline_usec, ==, 0);
}

/* A newer request replaces a queued one (CANCELLED); the wire still
 * carries only the first. */
static void test_queue_replace(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_PRE_ASSOCIATE, M, false, T0, &a);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, M, false, T0 + 1, &a);
        assert_report(&a, VSM_VDP_OUTCOME_CANCELLED, VSM_VDP_REQ_PRE_ASSOCIATE, M);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, false, T0 + 2, &a);
        assert_report(&a, VSM_VDP_OUTCOME_CANCELLED, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_false(a.send);
        g_assert_cmpint(m.queued_request, ==, VSM_VDP_REQ_DE_ASSOCIATE);
        /* ECP gives up on the first: the queued one goes, no report. */
        vsm_vdp_vsi_on_tx_failed(&m, T0 + 10240, &a);
        g_assert_false(a.report);
        assert_send(&a, VSM_VDP_REQ_DE_ASSOCIATE, 0, false);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_PRE_ASSOCIATE, RESP, T0 + 10240 + RTT, &a), ==, -ESTALE);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_DE_ASSOCIATE, RESP, T0 + 10240 + RTT, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_OK, VSM_VDP_REQ_DE_ASSOCIATE, 0);
}

/* A post-copy source: ASSOCIATE (S) while the guest runs on the
 * destination.  Its keep-alives keep the S-bit; before, the first one (one
 * keep-alive interval later) was a plain ASSOCIATE that claimed the VM
 * back.  The hint is dropped only when the bridge confirms a request
 * without it. */
static void test_keepalive_postcopy_source(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0, sent;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, 0, &now);
        now += 1000000;
        sent = settle(&m, VSM_VDP_REQ_ASSOCIATE, S, &now);
        for (int k = 0; k < 3; k++) {
                vsm_vdp_vsi_on_timer(&m, sent + KEEPALIVE, &a);
                assert_send(&a, VSM_VDP_REQ_ASSOCIATE, S, true);
                sent += KEEPALIVE;
                vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, sent + RTT, &a);
                assert_report(&a, VSM_VDP_OUTCOME_REFRESHED, VSM_VDP_REQ_ASSOCIATE, S);
        }
        /* A failed plain ASSOCIATE leaves the hint. */
        now = sent + 1000;
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, 0, false, now, &a);
        vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP | 2, now + RTT, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, S, true);
        vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, now + 2 * RTT, &a);
        /* A confirmed plain ASSOCIATE (failed back) drops it. */
        now += 10000;
        sent = settle(&m, VSM_VDP_REQ_ASSOCIATE, 0, &now);
        vsm_vdp_vsi_on_timer(&m, sent + KEEPALIVE, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, 0, true);
}

/* The bridge de-associates a VSI we associated (the VM runs here): it is
 * re-associated, with the same hint, after 1 s, 2 s, 4 s ... (capped at
 * 60 s) while attempts fail or the bridge de-associates again; a confirmed
 * keep-alive resets the backoff. */
static void test_repair(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0, sent;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        sent = settle(&m, VSM_VDP_REQ_ASSOCIATE, M, &now);
        now += 2000000;
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_BRIDGE_DEASSOC, VSM_VDP_REQ_DE_ASSOCIATE, 0);
        g_assert_true(a.report_internal);
        g_assert_false(a.send);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
        g_assert_true(m.repair);
        g_assert_cmpuint(a.deadline_usec, ==, now + 1000000);

        /* Attempt 1 after 1 s: ASSOCIATE (M), refused. */
        vsm_vdp_vsi_on_timer(&m, now + 999999, &a);
        assert_idle_action(&a);
        now += 1000000;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, false);
        g_assert_true(a.send_is_repair);
        g_assert_cmpuint(m.n_repairs, ==, 1);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP | 2, now + RTT, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_ERROR, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_true(a.report_internal);
        g_assert_false(a.send);
        g_assert_cmpuint(a.deadline_usec, ==, now + RTT + 2000000);
        /* Attempt 2 after 2 s: ECP gives up. */
        now += RTT + 2000000;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        g_assert_true(a.send_is_repair);
        vsm_vdp_vsi_on_tx_failed(&m, now + 10240, &a);
        assert_report(&a, VSM_VDP_OUTCOME_TIMEOUT, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_cmpuint(a.deadline_usec, ==, now + 10240 + 4000000);
        /* Attempt 3 after 4 s: ok. */
        now += 10240 + 4000000;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, false);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, now + RTT, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_REPAIRED, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_true(a.report_internal);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);
        g_assert_false(m.repair);
        g_assert_cmpuint(m.n_repairs, ==, 3);
        g_assert_cmpuint(a.deadline_usec, ==, now + KEEPALIVE);
        sent = now;

        /* De-associated again before a keep-alive held: 8 s. */
        now += RTT + 100;
        vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now, &a);
        g_assert_cmpuint(a.deadline_usec, ==, now + 8000000);
        now += 8000000;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, now + RTT, &a);
        assert_report(&a, VSM_VDP_OUTCOME_REPAIRED, VSM_VDP_REQ_ASSOCIATE, M);
        sent = now;
        /* A keep-alive held: back to 1 s. */
        vsm_vdp_vsi_on_timer(&m, sent + KEEPALIVE, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, true);
        vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, sent + KEEPALIVE + RTT, &a);
        assert_report(&a, VSM_VDP_OUTCOME_REFRESHED, VSM_VDP_REQ_ASSOCIATE, M);
        now = sent + KEEPALIVE + 2 * RTT;
        vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now, &a);
        g_assert_cmpuint(a.deadline_usec, ==, now + 1000000);

        /* A bridge that refuses forever: the delay stops growing at 60 s. */
        for (int k = 0; k < 12; k++) {
                now = m.deadline_usec;
                vsm_vdp_vsi_on_timer(&m, now, &a);
                g_assert_true(a.send_is_repair);
                vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP | 4, now + RTT, &a);
        }
        g_assert_cmpuint(m.deadline_usec, ==, now + RTT + VSM_VDP_REPAIR_MAX_USEC);
        g_assert_cmpuint(m.repair_backoff_usec, ==, VSM_VDP_REPAIR_MAX_USEC);

        /* A caller request ends the repair (the VM left: DE-ASSOCIATE). */
        now += RTT + 1000;
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, false, now, &a);
        g_assert_false(m.repair);
        assert_send(&a, VSM_VDP_REQ_DE_ASSOCIATE, 0, false);
        vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_DE_ASSOCIATE, RESP, now + RTT, &a);
        g_assert_cmpuint(a.deadline_usec, ==, 0);
        /* ... and lldpad's late DE-ASSOCIATE for it is tolerated. */
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now + 15757000, &a), ==, 0);
        assert_idle_action(&a);
        g_assert_cmpuint(a.deadline_usec, ==, 0);
        g_assert_false(m.repair);
}

/* Not repaired: an association with the S-bit (the VM is leaving), a
 * pre-association, or a DE-ASSOCIATE while a caller request is in flight
 * (its answer decides). */
static void test_repair_not(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, S, &now);
        vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now + 1, &a);
        assert_report(&a, VSM_VDP_OUTCOME_BRIDGE_DEASSOC, VSM_VDP_REQ_DE_ASSOCIATE, 0);
        g_assert_false(m.repair);
        g_assert_cmpuint(a.deadline_usec, ==, 0);

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        now = T0;
        settle(&m, VSM_VDP_REQ_PRE_ASSOCIATE, M, &now);
        vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now + 1, &a);
        g_assert_false(m.repair);

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        now = T0;
        settle(&m, VSM_VDP_REQ_ASSOCIATE, 0, &now);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, S, false, now, &a);
        vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now + 1, &a);
        g_assert_false(m.repair);
        g_assert_true(m.pending);
        g_assert_cmpuint(a.deadline_usec, ==, now + RESP_TIMEOUT);
}

/* A->B->A within lldpad's keep-alive window, seen from A: associated,
 * leaves (S, then DE-ASSOCIATE), comes back 3 s later (PRE-ASSOCIATE M,
 * ASSOCIATE M).  A bridge that still sends its late DE-ASSOCIATE for the
 * first hop (15.76 s after our DE-ASSOCIATE) must not win: A ends
 * associated, with the M hint, one repair later. */
static void test_a_b_a(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0, t_deassoc;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, 0, &now);
        now += 5000000;
        settle(&m, VSM_VDP_REQ_ASSOCIATE, S, &now);
        now += 300000;
        t_deassoc = now;
        settle(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, &now);
        now = t_deassoc + 3000000;
        settle(&m, VSM_VDP_REQ_PRE_ASSOCIATE, M, &now);
        now += 2000000;
        settle(&m, VSM_VDP_REQ_ASSOCIATE, M, &now);

        now = t_deassoc + LLDPAD_BRIDGE_KA;
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0x00, now, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_BRIDGE_DEASSOC, VSM_VDP_REQ_DE_ASSOCIATE, 0);
        /* Whatever comes first, the repair or the keep-alive, ends it. */
        vsm_vdp_vsi_on_timer(&m, now + 1000000, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, false);
        g_assert_true(a.send_is_repair);
        vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, now + 1000000 + RTT, &a);
        assert_report(&a, VSM_VDP_OUTCOME_REPAIRED, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);
        g_assert_cmphex(m.current_flags, ==, M);
        g_assert_cmpuint(a.deadline_usec, ==, now + 1000000 + KEEPALIVE);
}

/* Responses that do not fit are ignored and change nothing. */
static void test_stale_responses(void) {
        VsmVdpVsiMachine m, copy;
        VsmVdpAction a;
        uint64_t now = T0;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        /* Nothing in flight. */
        for (size_t r = 0; r < G_N_ELEMENTS(all_requests); r++) {
                g_assert_cmpint(vsm_vdp_vsi_on_response(&m, all_requests[r], RESP, now, &a), ==, -ESTALE);
                assert_idle_action(&a);
                g_assert_cmpuint(a.deadline_usec, ==, 0);
        }
        g_assert_false(m.have_last);

        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, M, false, now, &a);
        copy = m;
        /* Another type. */
        for (size_t r = 0; r < G_N_ELEMENTS(all_requests); r++) {
                if (all_requests[r] == VSM_VDP_REQ_ASSOCIATE)
                        continue;
                g_assert_cmpint(vsm_vdp_vsi_on_response(&m, all_requests[r], RESP, now + 1, &a), ==, -ESTALE);
                assert_idle_action(&a);
                g_assert_cmpuint(a.deadline_usec, ==, now + RESP_TIMEOUT);
        }
        /* Missing response bit, unknown types. */
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, 0x00, now + 1, &a), ==, -EINVAL);
        assert_idle_action(&a);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, _VSM_VDP_REQ_MAX, RESP, now + 1, &a), ==, -EINVAL);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, (VsmVdpRequest) -1, RESP, now + 1, &a), ==, -EINVAL);
        assert_machine_eq(&m, &copy);

        /* The real one, then a duplicate of it. */
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, now + RTT, &a), ==, 0);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP | 4, now + RTT + 1, &a), ==, -ESTALE);
        assert_idle_action(&a);
        g_assert_cmpuint(a.deadline_usec, ==, now + KEEPALIVE);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);
        g_assert_cmphex(m.last_status, ==, RESP);

        /* A response that arrives "before" the send (clock skew) has rtt 0. */
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_PRE_ASSOCIATE, 0, false, now + 100, &a);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_PRE_ASSOCIATE, RESP, now + 50, &a), ==, 0);
        g_assert_cmpuint(a.rtt_usec, ==, 0);
}

static void test_flags_validation(void) {
        static const uint8_t bad[] = { 0x01, 0x0f, RESP, 0x80, M | 0x40, S | 0x08, 0xff };
        VsmVdpVsiMachine m, copy;
        VsmVdpAction a;
        uint64_t now = T0;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, 0, &now);
        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, S, false, now, &a);
        copy = m;
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        for (size_t r = 0; r < G_N_ELEMENTS(all_requests); r++) {
                g_assert_cmpint(vsm_vdp_vsi_request(&m, all_requests[r], bad[i], false, now + 1, &a), ==, -EINVAL);
                assert_idle_action(&a);
                g_assert_cmpuint(a.deadline_usec, ==, now + RESP_TIMEOUT);
        }
        g_assert_cmpint(vsm_vdp_vsi_request(&m, _VSM_VDP_REQ_MAX, 0, false, now + 1, &a), ==, -EINVAL);
        g_assert_cmpint(vsm_vdp_vsi_request(&m, (VsmVdpRequest) 1234, M, false, now + 1, &a), ==, -EINVAL);
        assert_idle_action(&a);
        assert_machine_eq(&m, &copy);
}

static void test_timers_from_evb(void) {
        static const struct {
                uint8_t rwd, rka;
                uint64_t resp, ka;
        } cases[] = {
                /* lldpad's bridge: both exponents 20 = 10.49 s. */
                { 20, 20, 15728640, 10485760 },
                { 0, 0, 1000000, 1000 },             /* floors */
                { 6, 6, 1000000, 1000 },             /* 0.64 ms: keep-alive floor */
                { 7, 7, 1000000, 1280 },
                { 16, 17, 1000000, 1310720 },        /* response timeout floor */
                { 17, 18, 1966080, 2621440 },
                { 22, 22, 62914560, 41943040 },
                { 23, 23, 125829120, 60000000 },     /* keep-alive ceiling */
                { 25, 25, 503316480, 60000000 },
                { 26, 31, 503316480, 60000000 },     /* exponents capped at 25 */
                { 255, 255, 503316480, 60000000 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VsmVdpTimers t;

                vsm_vdp_timers_from_evb(cases[i].rwd, cases[i].rka, &t);
                g_assert_cmpuint(t.response_timeout_usec, ==, cases[i].resp);
                g_assert_cmpuint(t.keepalive_usec, ==, cases[i].ka);
        }
        /* With lldpad's values the keep-alive beats its 15.76 s expiry. */
        g_assert_cmpuint(KEEPALIVE, <, LLDPAD_BRIDGE_KA);
}

/* The keep-alive interval against the bridge's keep-alive timeout
 * (toutKeepAlive = 1.5 * (RKA time + (2R + 1) * ack timeout), 802.1Qbg-2012
 * 41.5.5; lldpad computes the same, see sm/vdp.c).
 * - The factor: the interval is the station's reinitKeepAlive, RKA time
 *   itself (not less: every keep-alive earlier than that is load on the
 *   bridge for nothing), wherever the floor and the ceiling do not apply.
 * - The margin: a keep-alive that ECP delivers only with its last retry,
 *   (R + 1) ack timeouts after it was due, still reaches the bridge at
 *   least half an interval before its timer runs out, for every R (0-7)
 *   and RTE the two ends may settle on, and every RKA from 7 (1.28 ms; the
 *   1 ms floor is below it) up; for lldpad's values that is 5.26 s. */
static void test_keepalive_margin(void) {
        VsmVdpTimers t;
        uint64_t tout;

        tout = vsm_vdp_bridge_keepalive_timeout_usec(20, 3, 8);
        g_assert_cmpuint(tout, ==, 15755520);  /* lldpad's bridge: 15.76 s */
        g_assert_cmpuint(tout, <=, LLDPAD_BRIDGE_KA);
        vsm_vdp_timers_from_evb(20, 20, &t);
        g_assert_cmpuint(tout - t.keepalive_usec - 4 * 2560, >=, 5000000);

        for (unsigned rka = 7; rka <= 31; rka++) {
                uint64_t k = UINT64_C(10) << MIN(rka, 25u);

                vsm_vdp_timers_from_evb(20, (uint8_t) rka, &t);
                if (k >= VSM_VDP_KEEPALIVE_MIN_USEC && k <= VSM_VDP_KEEPALIVE_MAX_USEC)
                        g_assert_cmpuint(t.keepalive_usec, ==, k);
                else
                        g_assert_cmpuint(t.keepalive_usec, <=, k);
                for (unsigned r = 0; r <= 7; r++)
                        for (unsigned rte = 0; rte <= 31; rte++) {
                                uint64_t ack = UINT64_C(10) << MIN(rte, 25u);

                                tout = vsm_vdp_bridge_keepalive_timeout_usec((uint8_t) rka, (uint8_t) r,
                                                                             (uint8_t) rte);
                                g_assert_cmpuint(t.keepalive_usec + (r + 1) * ack + t.keepalive_usec / 2, <=,
                                                 tout);
                        }
        }
}

/* An unanswered keep-alive is sent again every keepalive_response_usec
 * while its answer can still come within half an interval of the round's
 * first send (the bridge still holds the state then: its timeout is at
 * least 1.5 intervals after the last confirmed send); after that the state
 * is given up as before.  A late answer to any of them confirms it. */
static void test_keepalive_resend(void) {
        VsmVdpTimers t;
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0, first, wait;
        unsigned sends = 1;

        vsm_vdp_timers_from_evb(20, 20, &t);
        wait = t.keepalive_response_usec;
        g_assert_cmpuint(wait, ==, 1310720);    /* lldpad: RKA time / 8 */
        vsm_vdp_vsi_init(&m, &t);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, M, &now);
        first = now - RTT + t.keepalive_usec;
        vsm_vdp_vsi_on_timer(&m, first, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, true);
        g_assert_cmpuint(a.deadline_usec, ==, first + wait);
        now = first;
        while (now + 2 * wait <= first + t.keepalive_usec / 2) {
                now += wait;
                vsm_vdp_vsi_on_timer(&m, now, &a);
                assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, true);
                g_assert_false(a.report);
                g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);
                sends++;
        }
        g_assert_cmpuint(sends, ==, 4);         /* first + 3 resends within 5.24 s */
        g_assert_cmpuint(m.n_keepalive_resends, ==, 3);
        /* The last one's answer would come too late: given up. */
        now += wait;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        g_assert_false(a.send);
        assert_report(&a, VSM_VDP_OUTCOME_TIMEOUT, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_true(a.report_internal);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);

        /* A late answer while a resend is out: refreshed, round over. */
        now = T0;
        vsm_vdp_vsi_init(&m, &t);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, M, &now);
        first = now - RTT + t.keepalive_usec;
        vsm_vdp_vsi_on_timer(&m, first, &a);
        vsm_vdp_vsi_on_timer(&m, first + wait, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, true);
        g_assert_cmpint(vsm_vdp_vsi_on_response(&m, VSM_VDP_REQ_ASSOCIATE, RESP, first + wait + RTT, &a), ==, 0);
        assert_report(&a, VSM_VDP_OUTCOME_REFRESHED, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_cmpuint(a.deadline_usec, ==, first + wait + t.keepalive_usec);

        /* Without keepalive_response_usec (0): one wait of the response
         * timeout, then given up, as before. */
        now = T0;
        vsm_vdp_vsi_init(&m, &lldpad_timers);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, M, &now);
        first = now - RTT + KEEPALIVE;
        vsm_vdp_vsi_on_timer(&m, first, &a);
        g_assert_cmpuint(a.deadline_usec, ==, first + RESP_TIMEOUT);
        vsm_vdp_vsi_on_timer(&m, first + RESP_TIMEOUT, &a);
        g_assert_false(a.send);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
}

/* The uplink goes away and comes back: what was on the wire fails
 * (link-down; the caller's is reported to it, the machine's own is
 * internal), the settled state and its hint stay with no timer running,
 * and link_up re-sends exactly that state as a keep-alive. */
static void test_link_down_up(void) {
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now;

        for (size_t i = 0; i < G_N_ELEMENTS(settled_states); i++) {
                VsmVdpRequest req = request_of(settled_states[i]);

                for (size_t f = 0; f < G_N_ELEMENTS(all_flags); f++) {
                        now = T0;
                        vsm_vdp_vsi_init(&m, &lldpad_timers);
                        settle(&m, req, all_flags[f], &now);

                        /* Idle: nothing to report, the keep-alive timer stops. */
                        vsm_vdp_vsi_link_down(&m, now, &a);
                        assert_idle_action(&a);
                        g_assert_cmpuint(a.deadline_usec, ==, 0);
                        g_assert_cmpint(m.state, ==, settled_states[i]);
                        vsm_vdp_vsi_on_timer(&m, now + 100 * KEEPALIVE, &a);
                        assert_idle_action(&a);

                        vsm_vdp_vsi_link_up(&m, now + 1, &a);
                        assert_send(&a, req, all_flags[f], true);
                        g_assert_false(a.report);
                        g_assert_cmpuint(a.deadline_usec, ==, now + 1 + RESP_TIMEOUT);

                        /* A keep-alive on the wire: lost, internal. */
                        vsm_vdp_vsi_link_down(&m, now + 2, &a);
                        assert_report(&a, VSM_VDP_OUTCOME_LINK_DOWN, req, all_flags[f]);
                        g_assert_true(a.report_internal);
                        g_assert_false(a.send);
                        g_assert_false(m.pending);
                        g_assert_cmpint(m.state, ==, settled_states[i]);
                        g_assert_cmphex(m.current_flags, ==, all_flags[f]);
                        vsm_vdp_vsi_link_up(&m, now + 3, &a);
                        assert_send(&a, req, all_flags[f], true);
                }
        }

        /* A caller request on the wire: reported link-down to it; from
         * none nothing is re-sent. */
        now = T0;
        vsm_vdp_vsi_init(&m, &lldpad_timers);
        g_assert_cmpint(vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, M, false, now, &a), ==, 0);
        vsm_vdp_vsi_link_down(&m, now + 1, &a);
        assert_report(&a, VSM_VDP_OUTCOME_LINK_DOWN, VSM_VDP_REQ_ASSOCIATE, M);
        g_assert_false(a.report_internal);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);
        vsm_vdp_vsi_link_up(&m, now + 2, &a);
        assert_idle_action(&a);
        g_assert_cmpuint(a.deadline_usec, ==, 0);

        /* A queued request behind a keep-alive: the queued one is reported. */
        now = T0;
        vsm_vdp_vsi_init(&m, &lldpad_timers);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, M, &now);
        now += KEEPALIVE;
        vsm_vdp_vsi_on_timer(&m, now, &a);
        assert_send(&a, VSM_VDP_REQ_ASSOCIATE, M, true);
        g_assert_cmpint(vsm_vdp_vsi_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, false, now + 1, &a), ==, 0);
        g_assert_true(m.queued);
        vsm_vdp_vsi_link_down(&m, now + 2, &a);
        assert_report(&a, VSM_VDP_OUTCOME_LINK_DOWN, VSM_VDP_REQ_DE_ASSOCIATE, 0);
        g_assert_false(m.queued);
        g_assert_false(m.pending);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_ASSOCIATED);

        /* Dropped while away: nothing is re-sent. */
        vsm_vdp_vsi_drop(&m, now + 3);
        vsm_vdp_vsi_link_up(&m, now + 4, &a);
        assert_idle_action(&a);
        g_assert_cmpint(m.state, ==, VSM_VSI_STATE_NONE);

        /* A wanted repair goes at once when the link is back. */
        now = T0;
        vsm_vdp_vsi_init(&m, &lldpad_timers);
        settle(&m, VSM_VDP_REQ_ASSOCIATE, M, &now);
        g_assert_cmpint(vsm_vdp_vsi_on_bridge_request(&m, VSM_VDP_REQ_DE_ASSOCIATE, 0, now, &a), ==, 0);
        g_assert_true(m.repair);
        vsm_vdp_vsi_link_down(&m, now + 1, &a);
        g_assert_true(m.repair);
        vsm_vdp_vsi_link_up(&m, now + 2, &a);
        g_assert_true(a.send);
        g_assert_true(a.send_is_repair);
        g_assert_cmpint(a.send_request, ==, VSM_VDP_REQ_ASSOCIATE);
        g_assert_cmphex(a.send_flags, ==, M);
}

/* New timers re-derive the running deadline. */
static void test_set_timers(void) {
        VsmVdpTimers fast = { .response_timeout_usec = 2000000, .keepalive_usec = 1000000 };
        VsmVdpVsiMachine m;
        VsmVdpAction a;
        uint64_t now = T0, sent;

        vsm_vdp_vsi_init(&m, &lldpad_timers);
        vsm_vdp_vsi_set_timers(&m, &fast);
        g_assert_cmpuint(m.deadline_usec, ==, 0);

        sent = settle(&m, VSM_VDP_REQ_ASSOCIATE, 0, &now);
        vsm_vdp_vsi_set_timers(&m, &lldpad_timers);
        g_assert_cmpuint(m.deadline_usec, ==, sent + KEEPALIVE);
        vsm_vdp_vsi_set_timers(&m, &fast);
        g_assert_cmpuint(m.deadline_usec, ==, sent + 1000000);

        vsm_vdp_vsi_request(&m, VSM_VDP_REQ_ASSOCIATE, S, false, now, &a);
        g_assert_cmpuint(a.deadline_usec, ==, now + 2000000);
        vsm_vdp_vsi_set_timers(&m, &lldpad_timers);
        g_assert_cmpuint(m.deadline_usec, ==, now + RESP_TIMEOUT);
}

/* --- Soak: one hour of keep-alives through ECP on a simulated link. ---
 *
 * Station: VDP machine + ECP tx/rx.  Bridge: an lldpad-like model with
 * ECP tx/rx that answers every VDP request OK after RTT, tracks when it
 * last saw a (new) request for the VSI and drops it after
 * LLDPAD_BRIDGE_KA without one.  ULPDUs are two octets {request, status}:
 * the codec is not under test here.  ACKs are lost with probability
 * ack_loss (fixed seed), so ECP retransmits and the receivers see
 * duplicates. */

#define LINK_DELAY UINT64_C(40)
#define SIM_FRAMES_MAX 64

typedef struct SimFrame {
        uint64_t at;
        bool to_bridge;
        bool ack;
        uint16_t seq;
        uint8_t pdu[2];
} SimFrame;

typedef struct Sim {
        uint64_t now;
        GRand *rand;
        double ack_loss;

        VsmVdpVsiMachine vsi;
        VsmEcpTx *st_tx;
        VsmEcpRx st_rx;
        uint64_t st_tx_deadline;
        uint64_t vdp_cookie;         /* ULPDU carrying the VSI's latest send */
        uint64_t next_cookie;

        VsmEcpTx *br_tx;
        VsmEcpRx br_rx;
        uint64_t br_tx_deadline;
        bool br_has_vsi;
        uint64_t br_last_seen;
        uint64_t br_max_gap;
        unsigned br_requests;
        uint64_t br_answer_at[8];
        uint8_t br_answer_req[8];
        size_t n_br_answers;

        SimFrame frames[SIM_FRAMES_MAX];
        size_t n_frames;

        unsigned n_outcome[_VSM_VDP_OUTCOME_MAX];
} Sim;

static void sim_put_frame(Sim *sim, bool to_bridge, bool ack, uint16_t seq, const uint8_t *pdu) {
        SimFrame *f;

        if (ack && g_rand_double(sim->rand) < sim->ack_loss)
                return;
        g_assert_cmpuint(sim->n_frames, <, SIM_FRAMES_MAX);
        f = &sim->frames[sim->n_frames++];
        f->at = sim->now + LINK_DELAY;
        f->to_bridge = to_bridge;
        f->ack = ack;
        f->seq = seq;
        if (pdu)
                memcpy(f->pdu, pdu, 2);
}

static void sim_vdp_apply(Sim *sim, const VsmVdpAction *a);

static void sim_st_ecp_apply(Sim *sim, const VsmEcpTxResult *res) {
        if (res->completed && !res->acked && res->cookie == sim->vdp_cookie) {
                VsmVdpAction a;

                /* Only the ULPDU with the VSI's latest send counts. */
                vsm_vdp_vsi_on_tx_failed(&sim->vsi, sim->now, &a);
                sim_vdp_apply(sim, &a);
        }
        if (res->send) {
                g_assert_cmpuint(res->pdu_len, ==, 2);
                sim_put_frame(sim, true, false, res->seq, res->pdu);
        }
        sim->st_tx_deadline = res->deadline_usec;
}

static void sim_vdp_apply(Sim *sim, const VsmVdpAction *a) {
        if (a->report)
                sim->n_outcome[a->outcome]++;
        if (a->send) {
                uint8_t pdu[2] = { (uint8_t) a->send_request, a->send_flags };
                VsmEcpTxResult res;

                sim->vdp_cookie = ++sim->next_cookie;
                g_assert_cmpint(vsm_ecp_tx_submit(sim->st_tx, sim->vdp_cookie, pdu, 2, sim->now, &res), ==, 0);
                sim_st_ecp_apply(sim, &res);
        }
}

static void sim_br_ecp_apply(Sim *sim, const VsmEcpTxResult *res) {
        if (res->send)
                sim_put_frame(sim, false, false, res->seq, res->pdu);
        sim->br_tx_deadline = res->deadline_usec;
}

static void sim_deliver(Sim *sim, const SimFrame *f) {
        VsmEcpTxResult res;
        VsmVdpAction a;

        if (f->ack) {
                if (f->to_bridge) {
                        (void) vsm_ecp_tx_on_ack(sim->br_tx, f->seq, sim->now, &res);
                        sim_br_ecp_apply(sim, &res);
                } else {
                        (void) vsm_ecp_tx_on_ack(sim->st_tx, f->seq, sim->now, &res);
                        sim_st_ecp_apply(sim, &res);
                }
                return;
        }

        /* A request: always acked, processed only when new. */
        sim_put_frame(sim, !f->to_bridge, true, f->seq, NULL);
        if (f->to_bridge) {
                if (!vsm_ecp_rx_accept(&sim->br_rx, f->seq))
                        return;
                if (sim->br_has_vsi) {
                        uint64_t gap = sim->now - sim->br_last_seen;

                        if (gap > sim->br_max_gap)
                                sim->br_max_gap = gap;
                }
                sim->br_has_vsi = f->pdu[0] != VSM_VDP_REQ_DE_ASSOCIATE;
                sim->br_last_seen = sim->now;
                sim->br_requests++;
                g_assert_cmpuint(sim->n_br_answers, <, G_N_ELEMENTS(sim->br_answer_at));
                sim->br_answer_at[sim->n_br_answers] = sim->now + RTT;
                sim->br_answer_req[sim->n_br_answers] = f->pdu[0];
                sim->n_br_answers++;
        } else {
                if (!vsm_ecp_rx_accept(&sim->st_rx, f->seq))
                        return;
                if (f->pdu[1] & RESP)
                        g_assert_cmpint(vsm_vdp_vsi_on_response(&sim->vsi, f->pdu[0], f->pdu[1], sim->now, &a), ==, 0);
                else
                        vsm_vdp_vsi_on_bridge_request(&sim->vsi, f->pdu[0], f->pdu[1], sim->now, &a);
                sim_vdp_apply(sim, &a);
        }
}

static uint64_t sim_min(uint64_t best, uint64_t t) {
        return t != 0 && (best == 0 || t < best) ? t : best;
}

/* Runs events until `until`; returns false if nothing is left to do. */
static void sim_run(Sim *sim, uint64_t until) {
        for (;;) {
                uint64_t next = 0;
                VsmEcpTxResult res;
                VsmVdpAction a;

                for (size_t i = 0; i < sim->n_frames; i++)
                        next = sim_min(next, sim->frames[i].at);
                for (size_t i = 0; i < sim->n_br_answers; i++)
                        next = sim_min(next, sim->br_answer_at[i]);
                next = sim_min(next, sim->st_tx_deadline);
                next = sim_min(next, sim->br_tx_deadline);
                next = sim_min(next, sim->vsi.deadline_usec);
                if (next == 0 || next > until)
                        break;
                g_assert_cmpuint(next, >=, sim->now);
                sim->now = next;

                /* The bridge's keep-alive must never run out. */
                if (sim->br_has_vsi)
                        g_assert_cmpuint(sim->now - sim->br_last_seen, <=, LLDPAD_BRIDGE_KA);

                for (size_t i = 0; i < sim->n_frames; i++) {
                        if (sim->frames[i].at == sim->now) {
                                SimFrame f = sim->frames[i];

                                sim->frames[i] = sim->frames[--sim->n_frames];
                                sim_deliver(sim, &f);
                                goto next_event;
                        }
                }
                for (size_t i = 0; i < sim->n_br_answers; i++) {
                        if (sim->br_answer_at[i] == sim->now) {
                                uint8_t pdu[2] = { sim->br_answer_req[i], RESP };

                                sim->br_answer_at[i] = sim->br_answer_at[sim->n_br_answers - 1];
                                sim->br_answer_req[i] = sim->br_answer_req[sim->n_br_answers - 1];
                                sim->n_br_answers--;
                                g_assert_cmpint(vsm_ecp_tx_submit(sim->br_tx, 0, pdu, 2, sim->now, &res), ==, 0);
                                sim_br_ecp_apply(sim, &res);
                                goto next_event;
                        }
                }
                if (sim->st_tx_deadline == sim->now) {
                        vsm_ecp_tx_on_timer(sim->st_tx, sim->now, &res);
                        sim_st_ecp_apply(sim, &res);
                } else if (sim->br_tx_deadline == sim->now) {
                        vsm_ecp_tx_on_timer(sim->br_tx, sim->now, &res);
                        sim_br_ecp_apply(sim, &res);
                } else if (sim->vsi.deadline_usec == sim->now) {
                        vsm_vdp_vsi_on_timer(&sim->vsi, sim->now, &a);
                        sim_vdp_apply(sim, &a);
                }
next_event:
                ;
        }
        sim->now = until;
}

static void test_soak(gconstpointer data) {
        const double ack_loss = *(const double *) data;
        const VsmEcpTxConfig ecp_cfg = { .max_retries = 3, .ack_timeout_usec = 2560 };
        const uint64_t hour = UINT64_C(3600) * 1000000;
        Sim sim = { .now = T0, .ack_loss = ack_loss };
        VsmVdpAction a;
        unsigned expected_refreshes;

        sim.rand = g_rand_new_with_seed(0x5eed);
        sim.st_tx = vsm_ecp_tx_new(&ecp_cfg, 0xfff0);
        sim.br_tx = vsm_ecp_tx_new(&ecp_cfg, 0x1234);
        vsm_ecp_rx_init(&sim.st_rx);
        vsm_ecp_rx_init(&sim.br_rx);
        vsm_vdp_vsi_init(&sim.vsi, &lldpad_timers);

        /* Migration in: PRE-ASSOCIATE with M, then ASSOCIATE with M. */
        vsm_vdp_vsi_request(&sim.vsi, VSM_VDP_REQ_PRE_ASSOCIATE, M, false, sim.now, &a);
        sim_vdp_apply(&sim, &a);
        sim_run(&sim, sim.now + 100000);
        g_assert_cmpint(sim.vsi.state, ==, VSM_VSI_STATE_PRE_ASSOCIATED);
        vsm_vdp_vsi_request(&sim.vsi, VSM_VDP_REQ_ASSOCIATE, M, false, sim.now, &a);
        sim_vdp_apply(&sim, &a);
        sim_run(&sim, sim.now + 100000);
        g_assert_cmpint(sim.vsi.state, ==, VSM_VSI_STATE_ASSOCIATED);
        g_assert_cmpuint(sim.n_outcome[VSM_VDP_OUTCOME_OK], ==, 2);

        sim_run(&sim, sim.now + hour);

        g_assert_cmpint(sim.vsi.state, ==, VSM_VSI_STATE_ASSOCIATED);
        g_assert_true(sim.br_has_vsi);
        g_assert_cmpuint(sim.br_max_gap, <=, KEEPALIVE);
        g_assert_cmpuint(sim.br_max_gap, >=, KEEPALIVE - 1000);
        g_assert_cmpuint(sim.n_outcome[VSM_VDP_OUTCOME_ERROR], ==, 0);
        g_assert_cmpuint(sim.n_outcome[VSM_VDP_OUTCOME_TIMEOUT], ==, 0);
        g_assert_cmpuint(sim.n_outcome[VSM_VDP_OUTCOME_BRIDGE_DEASSOC], ==, 0);
        expected_refreshes = (unsigned) (hour / KEEPALIVE);
        g_assert_cmpuint(sim.n_outcome[VSM_VDP_OUTCOME_REFRESHED], >=, expected_refreshes - 1);
        g_assert_cmpuint(sim.n_outcome[VSM_VDP_OUTCOME_REFRESHED], <=, expected_refreshes + 1);
        g_assert_cmpuint(sim.br_requests, ==, sim.n_outcome[VSM_VDP_OUTCOME_REFRESHED] + 2);
        if (ack_loss > 0) {
                g_assert_cmpuint(sim.br_rx.n_duplicates, >, 0);
                g_assert_cmpuint(sim.st_rx.n_duplicates, >, 0);
        } else {
                g_assert_cmpuint(sim.br_rx.n_duplicates, ==, 0);
        }

        /* Migration out: DE-ASSOCIATE; the bridge forgets it. */
        vsm_vdp_vsi_request(&sim.vsi, VSM_VDP_REQ_DE_ASSOCIATE, 0, false, sim.now, &a);
        sim_vdp_apply(&sim, &a);
        sim_run(&sim, sim.now + 100000);
        g_assert_cmpint(sim.vsi.state, ==, VSM_VSI_STATE_NONE);
        g_assert_false(sim.br_has_vsi);
        g_assert_cmpuint(sim.vsi.deadline_usec, ==, 0);

        g_test_message("soak ack_loss=%.2f: %u refreshes, max gap %" G_GUINT64_FORMAT " us, "
                       "duplicates bridge %" G_GUINT64_FORMAT " station %" G_GUINT64_FORMAT,
                       ack_loss, sim.n_outcome[VSM_VDP_OUTCOME_REFRESHED], sim.br_max_gap,
                       sim.br_rx.n_duplicates, sim.st_rx.n_duplicates);

        vsm_ecp_tx_free(sim.st_tx);
        vsm_ecp_tx_free(sim.br_tx);
        g_rand_free(sim.rand);
}

int main(int argc, char **argv) {
        static const double no_loss = 0.0, ack_loss = 0.2;

        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/sm/vdp/to-string", test_to_string);
        g_test_add_func("/sm/vdp/init", test_init);
        g_test_add_func("/sm/vdp/request-ok", test_request_ok);
        g_test_add_func("/sm/vdp/response-keep-bit-ok", test_response_keep_bit_ok);
        g_test_add_func("/sm/vdp/error-mapping", test_error_mapping);
        g_test_add_func("/sm/vdp/hard-error", test_hard_error);
        g_test_add_func("/sm/vdp/timeout", test_timeout);
        g_test_add_func("/sm/vdp/keepalive", test_keepalive);
        g_test_add_func("/sm/vdp/keepalive-slow-answer", test_keepalive_slow_answer);
        g_test_add_func("/sm/vdp/keepalive-failure", test_keepalive_failure);
        g_test_add_func("/sm/vdp/timeout-repair", test_timeout_repair);
        g_test_add_func("/sm/vdp/bridge-deassoc", test_bridge_deassoc);
        g_test_add_func("/sm/vdp/bridge-deassoc-lldpad-late", test_bridge_deassoc_lldpad_late);
        g_test_add_func("/sm/vdp/bridge-deassoc-pending", test_bridge_deassoc_pending);
        g_test_add_func("/sm/vdp/bridge-request-other", test_bridge_request_other);
        g_test_add_func("/sm/vdp/supersede", test_supersede);
        g_test_add_func("/sm/vdp/supersede-on-wire", test_supersede_on_wire);
        g_test_add_func("/sm/vdp/queue-behind-keepalive", test_queue_behind_keepalive);
        g_test_add_func("/sm/vdp/queue-replace", test_queue_replace);
        g_test_add_func("/sm/vdp/keepalive-postcopy-source", test_keepalive_postcopy_source);
        g_test_add_func("/sm/vdp/repair", test_repair);
        g_test_add_func("/sm/vdp/repair-not", test_repair_not);
        g_test_add_func("/sm/vdp/a-b-a", test_a_b_a);
        g_test_add_func("/sm/vdp/stale-responses", test_stale_responses);
        g_test_add_func("/sm/vdp/flags-validation", test_flags_validation);
        g_test_add_func("/sm/vdp/timers-from-evb", test_timers_from_evb);
        g_test_add_func("/sm/vdp/keepalive-margin", test_keepalive_margin);
        g_test_add_func("/sm/vdp/link-down-up", test_link_down_up);
        g_test_add_func("/sm/vdp/keepalive-resend", test_keepalive_resend);
        g_test_add_func("/sm/vdp/set-timers", test_set_timers);
        g_test_add_data_func("/sm/vdp/soak-1h", &no_loss, test_soak);
        g_test_add_data_func("/sm/vdp/soak-1h-ack-loss", &ack_loss, test_soak);

        return g_test_run();
}

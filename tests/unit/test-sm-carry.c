/* Unit tests for the per-domain carry policy (src/sm/carry.c) on a fake
 * clock: every event in every state, scenarios on the source and on the
 * destination (DESIGN.md sections 2, 4 and 7), and random walks checking
 * the invariants: never REPLAY and SEND_LEAVES for a VM that runs
 * elsewhere, never WRITE_SNAPSHOT while migrating away, a new token
 * whenever an authenticated connection ends without a completed
 * migration. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "sm/carry.h"
#include "test-util.h"

#define T0 UINT64_C(1000000000)        /* the fake clock starts at 1000 s */
#define MSEC UINT64_C(1000)
#define INTERVAL_MS 2000               /* [learn] metadata-interval in these tests */

#define LOCAL VSM_MIG_ROLE_LOCAL
#define SRC VSM_MIG_ROLE_SOURCE
#define DST VSM_MIG_ROLE_DESTINATION

static const VsmCarryConfig default_cfg = {
        .learn = true,
        .replay = true,
        .leaves = true,
        .queries = true,
        .stream = true,
        .secure = true,
        .can_write = true,
        .write_interval_usec = INTERVAL_MS * MSEC,
};

/* One host's view of one domain: the policy plus what the daemon would
 * hold (the generation, the taps, the timer) and every action seen. */
typedef struct Host {
        VsmCarryPolicy p;
        uint64_t now;
        uint64_t generation;
        bool has_nics;
        bool forgotten;
        bool refuse_writes;            /* libvirt refuses <metadata> writes (a job holds the domain) */
        bool timer_armed;
        uint64_t timer_at;
        bool write_inflight;
        unsigned writes_cancelled;
        unsigned count[_VSM_CARRY_ACT_MAX];
        VsmCarryActions last;
} Host;

static void host_init(Host *h, const VsmCarryConfig *cfg) {
        memset(h, 0, sizeof(*h));
        vsm_carry_policy_init(&h->p, cfg ? cfg : &default_cfg);
        h->now = T0;
        h->generation = 1;
}

static void host_apply(Host *h, const VsmCarryActions *a) {
        g_assert_cmpuint(a->n, <=, VSM_CARRY_ACTIONS_MAX);
        for (size_t i = 0; i < a->n; i++) {
                g_assert_cmpint(a->a[i].type, <, _VSM_CARRY_ACT_MAX);
                h->count[a->a[i].type]++;
                switch (a->a[i].type) {
                case VSM_CARRY_ACT_ARM_TIMER:
                        g_assert_false(h->timer_armed);       /* never armed twice */
                        g_assert_cmpuint(a->a[i].at_usec, >=, h->now);
                        h->timer_armed = true;
                        h->timer_at = a->a[i].at_usec;
                        break;
                case VSM_CARRY_ACT_CANCEL_TIMER:
                        h->timer_armed = false;
                        break;
                case VSM_CARRY_ACT_CANCEL_WRITE:
                        g_assert_true(h->write_inflight);
                        h->write_inflight = false;
                        h->writes_cancelled++;
                        break;
                case VSM_CARRY_ACT_WRITE_SNAPSHOT:
                        g_assert_false(h->write_inflight);
                        h->write_inflight = true;
                        break;
                case VSM_CARRY_ACT_LEARN_ON:
                        h->has_nics = true;
                        break;
                case VSM_CARRY_ACT_FORGET:
                        h->forgotten = true;
                        break;
                case VSM_CARRY_ACT_NOTE:
                        g_assert_nonnull(a->a[i].note);
                        break;
                default:
                        break;
                }
        }
        g_assert_cmpint(h->p.timer_armed, ==, h->timer_armed);
        g_assert_cmpint(h->p.write_inflight, ==, h->write_inflight);
}

static const VsmCarryActions *feed_in(Host *h, VsmCarryInput in) {
        in.generation = h->generation;
        in.has_nics = h->has_nics;
        g_assert_cmpint(vsm_carry_policy_handle(&h->p, &in, h->now, &h->last), ==, 0);
        host_apply(h, &h->last);
        return &h->last;
}

static const VsmCarryActions *feed(Host *h, VsmCarryEvent ev) {
        return feed_in(h, (VsmCarryInput) { .ev = ev, .has_info = true });
}

static const VsmCarryActions *update(Host *h, VsmMigRole role, VsmMigPhase phase) {
        return feed_in(h, (VsmCarryInput) { .ev = VSM_CARRY_EV_UPDATE, .role = role, .phase = phase,
                                            .has_info = true });
}

static bool has(const VsmCarryActions *a, VsmCarryActionType t) {
        return vsm_carry_actions_find(a, t) != NULL;
}

static void changed(Host *h) {
        h->generation++;
        feed(h, VSM_CARRY_EV_LEARNER_CHANGED);
}

/* The write libvirt was asked for ends: taken or refused. */
static void write_ends(Host *h) {
        if (!h->write_inflight)
                return;
        h->write_inflight = false;
        feed(h, h->refuse_writes ? VSM_CARRY_EV_WRITE_REFUSED : VSM_CARRY_EV_WRITE_DONE);
}

/* Move the fake clock on by ms; the timer fires when due, and a write it
 * starts ends at once. */
static void advance(Host *h, uint64_t ms) {
        uint64_t end = h->now + ms * MSEC;

        while (h->timer_armed && h->timer_at <= end) {
                h->now = h->timer_at;
                h->timer_armed = false;
                feed(h, VSM_CARRY_EV_TIMER);
                write_ends(h);
        }
        h->now = end;
}

/* A domain running here, learned, its snapshot written once. */
static void host_running(Host *h) {
        update(h, LOCAL, VSM_MIG_PHASE_RUNNING);
        g_assert_true(h->has_nics);
        advance(h, INTERVAL_MS + 1);
        g_assert_cmpuint(h->count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 1);
}

/* The destination authenticates with the token: the source takes it. */
static bool peer_auth(Host *h) {
        const VsmCarryActions *a = feed(h, VSM_CARRY_EV_PEER_AUTH);

        if (!has(a, VSM_CARRY_ACT_ACCEPT_PEER))
                return false;
        g_assert_true(has(feed(h, VSM_CARRY_EV_PEER_UP), VSM_CARRY_ACT_STREAM_ALL));
        return true;
}

static void incoming(Host *h, VsmCarrySnapshot snapshot) {
        feed_in(h, (VsmCarryInput) { .ev = VSM_CARRY_EV_INCOMING, .snapshot = snapshot, .has_info = true });
}

/* ---- strings, bad input ---- */

static void test_strings(void) {
        for (int i = 0; i < _VSM_CARRY_EV_MAX; i++)
                g_assert_cmpstr(vsm_carry_event_to_string(i), !=, "?");
        for (int i = 0; i < _VSM_CARRY_ACT_MAX; i++)
                g_assert_cmpstr(vsm_carry_action_type_to_string(i), !=, "?");
        for (int i = 0; i < _VSM_CARRY_SNAPSHOT_MAX; i++)
                g_assert_cmpstr(vsm_carry_snapshot_to_string(i), !=, "?");
        g_assert_cmpstr(vsm_carry_event_to_string(_VSM_CARRY_EV_MAX), ==, "?");
        g_assert_cmpstr(vsm_carry_action_type_to_string(-1), ==, "?");
}

static void test_bad_event(void) {
        VsmCarryPolicy p;
        VsmCarryActions a = { .n = 3 };
        VsmCarryInput in = { .ev = _VSM_CARRY_EV_MAX };

        vsm_carry_policy_init(&p, &default_cfg);
        g_assert_cmpint(vsm_carry_policy_handle(&p, &in, T0, &a), ==, -EINVAL);
        g_assert_cmpuint(a.n, ==, 0);
        in.ev = (VsmCarryEvent) -1;
        g_assert_cmpint(vsm_carry_policy_handle(&p, &in, T0, &a), ==, -EINVAL);
        g_assert_cmpint(vsm_carry_policy_handle(NULL, &in, T0, &a), ==, -EINVAL);
}

/* Which events make the daemon follow an unknown domain. */
static void test_creates(void) {
        VsmCarryConfig off = default_cfg;
        VsmCarryInput in = { .ev = VSM_CARRY_EV_UPDATE, .role = LOCAL, .phase = VSM_MIG_PHASE_RUNNING };

        g_assert_true(vsm_carry_policy_creates(&default_cfg, &in));
        in.role = SRC;
        in.phase = VSM_MIG_PHASE_MIGRATING;
        g_assert_true(vsm_carry_policy_creates(&default_cfg, &in));
        in.role = DST;
        in.phase = VSM_MIG_PHASE_SWITCHED;     /* not resumed yet */
        g_assert_false(vsm_carry_policy_creates(&default_cfg, &in));
        in.role = LOCAL;
        in.phase = VSM_MIG_PHASE_IDLE;
        g_assert_false(vsm_carry_policy_creates(&default_cfg, &in));
        in.ev = VSM_CARRY_EV_INCOMING;
        g_assert_true(vsm_carry_policy_creates(&default_cfg, &in));
        off.replay = false;
        g_assert_false(vsm_carry_policy_creates(&off, &in));
        off.learn = false;
        in = (VsmCarryInput) { .ev = VSM_CARRY_EV_UPDATE, .role = LOCAL, .phase = VSM_MIG_PHASE_RUNNING };
        g_assert_false(vsm_carry_policy_creates(&off, &in));
        in.ev = VSM_CARRY_EV_TIMER;
        g_assert_false(vsm_carry_policy_creates(&default_cfg, &in));
}

/* ---- scenarios ---- */

/* Source, a normal migration: learn, stream, SWITCHOVER at SUSPENDED,
 * no snapshot write while migrating away, leaves once it left. */
static void test_source_normal(void) {
        Host h;
        const VsmCarryActions *a;
        unsigned writes;

        host_init(&h, NULL);
        host_running(&h);
        g_assert_true(peer_auth(&h));
        a = update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        g_assert_true(has(a, VSM_CARRY_ACT_LEARN_ON));
        g_assert_false(h.p.writes_allowed);
        writes = h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT];
        changed(&h);
        g_assert_true(has(&h.last, VSM_CARRY_ACT_STREAM_CHANGED));
        g_assert_false(has(&h.last, VSM_CARRY_ACT_ARM_TIMER));
        advance(&h, 60000);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, writes);
        a = feed(&h, VSM_CARRY_EV_SUSPENDED);
        g_assert_true(has(a, VSM_CARRY_ACT_SEND_SWITCHOVER));
        feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_SWITCHOVER_SENT, .sent = true });
        g_assert_true(h.p.switchover_sent);
        update(&h, SRC, VSM_MIG_PHASE_SUSPENDED);
        a = feed(&h, VSM_CARRY_EV_FORGET);
        g_assert_true(has(a, VSM_CARRY_ACT_SEND_LEAVES));
        g_assert_true(has(a, VSM_CARRY_ACT_FORGET));
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_REPLAY], ==, 0);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, writes);
}

/* Destination, a normal migration: connect to the origin, forward the
 * SWITCHOVER once, replay once, query at RESUMED, learn once resumed,
 * and at LOCAL/RUNNING take over: new token, snapshot written at once. */
static void test_destination_normal(void) {
        Host h;
        const VsmCarryActions *a;

        host_init(&h, NULL);
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        g_assert_true(has(&h.last, VSM_CARRY_ACT_TAKE_INCOMING));
        g_assert_true(has(&h.last, VSM_CARRY_ACT_CONNECT_PEER));
        update(&h, DST, VSM_MIG_PHASE_INCOMING);
        g_assert_false(h.has_nics);
        /* a second migrate begin changes nothing */
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        g_assert_cmpuint(h.last.n, ==, 0);
        update(&h, DST, VSM_MIG_PHASE_PRE_ASSOCIATED);
        a = feed(&h, VSM_CARRY_EV_SWITCHOVER_RECEIVED);
        g_assert_true(has(a, VSM_CARRY_ACT_FORWARD_SWITCHOVER));
        a = feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_REPLAY, .late = false, .has_info = true });
        g_assert_true(has(a, VSM_CARRY_ACT_REPLAY));
        g_assert_false(vsm_carry_actions_find(a, VSM_CARRY_ACT_REPLAY)->late);
        g_assert_false(vsm_carry_actions_find(a, VSM_CARRY_ACT_REPLAY)->failback);
        feed(&h, VSM_CARRY_EV_SWITCHOVER_ACCEPTED);
        update(&h, DST, VSM_MIG_PHASE_SWITCHED);
        /* the same SWITCHOVER again, and RESUMED: no second replay */
        g_assert_cmpuint(feed(&h, VSM_CARRY_EV_SWITCHOVER_RECEIVED)->n, ==, 0);
        a = feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_REPLAY, .late = true, .has_info = true });
        g_assert_false(has(a, VSM_CARRY_ACT_REPLAY));
        a = feed(&h, VSM_CARRY_EV_RESUMED);
        g_assert_true(has(a, VSM_CARRY_ACT_REPORT_RESUMED));
        g_assert_true(has(a, VSM_CARRY_ACT_SEND_QUERIES));
        g_assert_false(h.p.replay_late);
        a = update(&h, DST, VSM_MIG_PHASE_SWITCHED);
        g_assert_true(has(a, VSM_CARRY_ACT_LEARN_ON));
        g_assert_false(has(a, VSM_CARRY_ACT_ARM_TIMER));
        a = update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
        g_assert_true(has(a, VSM_CARRY_ACT_TAKEOVER));
        g_assert_true(has(a, VSM_CARRY_ACT_MINT_TOKEN));
        /* the takeover snapshot goes now, not after the debounce */
        g_assert_true(has(a, VSM_CARRY_ACT_ARM_TIMER));
        g_assert_cmpuint(vsm_carry_actions_find(a, VSM_CARRY_ACT_ARM_TIMER)->at_usec, ==, h.now);
        g_assert_true(h.p.takeover_write);
        advance(&h, 0);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 1);
        g_assert_false(h.p.takeover_write);
        g_assert_false(h.p.incoming);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_REPLAY], ==, 1);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_SEND_LEAVES], ==, 0);
}

/* The takeover snapshot is retried every 50 ms while libvirt refuses it,
 * 100 times, then every 5 s. */
static void test_takeover_retries(void) {
        Host h;

        host_init(&h, NULL);
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_REPLAY, .late = true, .has_info = true });
        feed(&h, VSM_CARRY_EV_RESUMED);
        update(&h, DST, VSM_MIG_PHASE_SWITCHED);
        h.refuse_writes = true;
        update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
        advance(&h, 0);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 1);
        g_assert_cmpuint(h.timer_at - h.now, ==, VSM_CARRY_TAKEOVER_RETRY_USEC);
        advance(&h, 99 * 50);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 100);
        g_assert_false(h.p.takeover_write);
        g_assert_cmpuint(h.timer_at - h.now, ==, VSM_CARRY_WRITE_RETRY_USEC);
        h.refuse_writes = false;
        advance(&h, 5000);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 101);
        g_assert_false(h.timer_armed);
}

/* A migration that fails before the SWITCHOVER went out: new token, the
 * old destination dropped, no replay from here. */
static void test_failed_before_switchover(void) {
        Host h;
        const VsmCarryActions *a;

        host_init(&h, NULL);
        host_running(&h);
        g_assert_true(peer_auth(&h));
        update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        feed(&h, VSM_CARRY_EV_SUSPENDED);
        feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_SWITCHOVER_SENT, .sent = false });
        update(&h, SRC, VSM_MIG_PHASE_SUSPENDED);
        a = feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_FAILED_BACK, .running = true, .has_info = true });
        g_assert_true(has(a, VSM_CARRY_ACT_DROP_PEER));
        g_assert_true(has(a, VSM_CARRY_ACT_MINT_TOKEN));
        g_assert_false(has(a, VSM_CARRY_ACT_REPLAY));
        a = update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
        /* the new token is written at once, not after the debounce: a
         * migration retried now reads it from the <metadata> */
        g_assert_true(has(a, VSM_CARRY_ACT_ARM_TIMER));
        g_assert_cmpuint(h.timer_at, ==, h.now);
        advance(&h, 0);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 2);
        /* the next destination may take the new token */
        g_assert_true(peer_auth(&h));
        g_assert_cmpuint(feed(&h, VSM_CARRY_EV_FORGET)->n, ==, 1);  /* FORGET, no leaves: it runs here */
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_SEND_LEAVES], ==, 0);
}

/* The new token after a failed migration when the domain was already
 * local again (a write scheduled after the debounce): that write goes at
 * once; refused while libvirt still holds the job, it is retried every
 * 50 ms, not every 5 s. */
static void test_failed_token_written_now(void) {
        Host h;

        host_init(&h, NULL);
        host_running(&h);
        g_assert_true(peer_auth(&h));
        update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
        changed(&h);
        g_assert_true(h.timer_armed);
        g_assert_cmpuint(h.timer_at, ==, h.now + INTERVAL_MS * MSEC);
        h.refuse_writes = true;
        feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_FAILED_BACK, .running = true, .has_info = true });
        g_assert_true(h.timer_armed);
        g_assert_cmpuint(h.timer_at, ==, h.now);
        advance(&h, 0);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 2);
        g_assert_cmpuint(h.timer_at - h.now, ==, VSM_CARRY_TAKEOVER_RETRY_USEC);
        h.refuse_writes = false;
        advance(&h, 50);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 3);
        g_assert_false(h.p.token_write);
        g_assert_false(h.timer_armed);
        /* the next destination may take the new token */
        g_assert_true(peer_auth(&h));
}

/* A migration that fails after the SWITCHOVER: the destination may have
 * replayed, so the source replays, but only while the VM runs here: found
 * paused, the replay waits for RUNNING.  Never leaves after that. */
static void test_failed_after_switchover(void) {
        for (int paused = 0; paused <= 1; paused++) {
                Host h;
                const VsmCarryActions *a;

                host_init(&h, NULL);
                host_running(&h);
                g_assert_true(peer_auth(&h));
                update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
                feed(&h, VSM_CARRY_EV_SUSPENDED);
                feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_SWITCHOVER_SENT, .sent = true });
                update(&h, SRC, VSM_MIG_PHASE_SUSPENDED);
                a = feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_FAILED_BACK, .running = !paused,
                                                  .has_info = true });
                g_assert_true(has(a, VSM_CARRY_ACT_MINT_TOKEN));
                g_assert_cmpint(has(a, VSM_CARRY_ACT_REPLAY), ==, !paused);
                g_assert_cmpint(h.p.failback_pending, ==, paused);
                update(&h, LOCAL, paused ? VSM_MIG_PHASE_IDLE : VSM_MIG_PHASE_RUNNING);
                if (paused) {
                        a = feed(&h, VSM_CARRY_EV_RUNNING);
                        g_assert_true(has(a, VSM_CARRY_ACT_REPLAY));
                        g_assert_true(vsm_carry_actions_find(a, VSM_CARRY_ACT_REPLAY)->failback);
                        update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
                }
                /* once only */
                g_assert_false(has(feed(&h, VSM_CARRY_EV_RUNNING), VSM_CARRY_ACT_REPLAY));
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_REPLAY], ==, 1);
                a = feed(&h, VSM_CARRY_EV_FORGET);
                g_assert_false(has(a, VSM_CARRY_ACT_SEND_LEAVES));
        }
}

/* No SWITCHOVER reached the destination: it replays late, at RESUMED. */
static void test_late_replay(void) {
        Host h;
        const VsmCarryActions *a;

        host_init(&h, NULL);
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        update(&h, DST, VSM_MIG_PHASE_PRE_ASSOCIATED);
        /* SWITCHOVER before the incoming domain started: refused once */
        feed(&h, VSM_CARRY_EV_SWITCHOVER_RECEIVED);
        a = feed(&h, VSM_CARRY_EV_SWITCHOVER_REFUSED);
        g_assert_true(has(a, VSM_CARRY_ACT_DROP_PEER));
        g_assert_true(has(a, VSM_CARRY_ACT_NOTE));
        a = feed(&h, VSM_CARRY_EV_SWITCHOVER_REFUSED);
        g_assert_false(has(a, VSM_CARRY_ACT_NOTE));
        a = feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_REPLAY, .late = true, .has_info = true });
        g_assert_true(vsm_carry_actions_find(a, VSM_CARRY_ACT_REPLAY)->late);
        feed(&h, VSM_CARRY_EV_RESUMED);
        g_assert_true(h.p.replay_late);
        g_assert_false(h.p.switchover_received);

        /* Without a way to authenticate the origin: no channel at all. */
        {
                VsmCarryConfig cfg = default_cfg;

                cfg.secure = false;
                host_init(&h, &cfg);
                incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
                g_assert_true(has(&h.last, VSM_CARRY_ACT_PEER_NOT_OPENED));
                g_assert_false(has(&h.last, VSM_CARRY_ACT_CONNECT_PEER));
        }
        /* Snapshots that name no other origin: no channel either. */
        for (VsmCarrySnapshot s = 0; s < VSM_CARRY_SNAPSHOT_PEER; s++) {
                host_init(&h, NULL);
                incoming(&h, s);
                g_assert_true(has(&h.last, VSM_CARRY_ACT_TAKE_INCOMING));
                g_assert_false(has(&h.last, VSM_CARRY_ACT_CONNECT_PEER));
                g_assert_false(has(&h.last, VSM_CARRY_ACT_PEER_NOT_OPENED));
        }
}

/* A -> B -> A: B takes over and writes its snapshot at once, the second
 * migration's destination (A) gets B's fresh token, A's old token is
 * gone with A's first policy. */
static void test_back_to_back(void) {
        Host a, b, a2;

        host_init(&a, NULL);
        host_init(&b, NULL);
        host_running(&a);
        g_assert_true(peer_auth(&a));
        update(&a, SRC, VSM_MIG_PHASE_MIGRATING);
        incoming(&b, VSM_CARRY_SNAPSHOT_PEER);
        update(&b, DST, VSM_MIG_PHASE_PRE_ASSOCIATED);
        feed(&a, VSM_CARRY_EV_SUSPENDED);
        feed_in(&a, (VsmCarryInput) { .ev = VSM_CARRY_EV_SWITCHOVER_SENT, .sent = true });
        feed(&b, VSM_CARRY_EV_SWITCHOVER_RECEIVED);
        feed_in(&b, (VsmCarryInput) { .ev = VSM_CARRY_EV_REPLAY, .has_info = true });
        feed(&b, VSM_CARRY_EV_SWITCHOVER_ACCEPTED);
        update(&b, DST, VSM_MIG_PHASE_SWITCHED);
        feed(&b, VSM_CARRY_EV_RESUMED);
        update(&b, DST, VSM_MIG_PHASE_SWITCHED);
        g_assert_true(has(feed(&a, VSM_CARRY_EV_FORGET), VSM_CARRY_ACT_SEND_LEAVES));
        update(&b, LOCAL, VSM_MIG_PHASE_RUNNING);
        g_assert_cmpuint(b.count[VSM_CARRY_ACT_MINT_TOKEN], ==, 1);
        /* B -> A right away: the snapshot with B's token went first */
        advance(&b, 0);
        g_assert_cmpuint(b.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 1);
        g_assert_true(peer_auth(&b));
        update(&b, SRC, VSM_MIG_PHASE_MIGRATING);
        host_init(&a2, NULL);
        incoming(&a2, VSM_CARRY_SNAPSHOT_PEER);
        g_assert_true(has(&a2.last, VSM_CARRY_ACT_CONNECT_PEER));
        update(&a2, DST, VSM_MIG_PHASE_PRE_ASSOCIATED);
        g_assert_true(has(feed(&b, VSM_CARRY_EV_SUSPENDED), VSM_CARRY_ACT_SEND_SWITCHOVER));
        feed_in(&b, (VsmCarryInput) { .ev = VSM_CARRY_EV_SWITCHOVER_SENT, .sent = true });
        feed(&a2, VSM_CARRY_EV_SWITCHOVER_RECEIVED);
        g_assert_true(has(feed_in(&a2, (VsmCarryInput) { .ev = VSM_CARRY_EV_REPLAY, .has_info = true }),
                          VSM_CARRY_ACT_REPLAY));
        update(&b, SRC, VSM_MIG_PHASE_SUSPENDED);
        g_assert_true(has(feed(&b, VSM_CARRY_EV_FORGET), VSM_CARRY_ACT_SEND_LEAVES));
        g_assert_cmpuint(b.count[VSM_CARRY_ACT_REPLAY], ==, 1);    /* the first migration's, on B */
}

/* Back-to-back before the takeover snapshot was written: it is given up
 * (never written while migrating away), and the note says so. */
static void test_takeover_not_written(void) {
        Host h;
        const VsmCarryActions *a;

        host_init(&h, NULL);
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_REPLAY, .has_info = true });
        feed(&h, VSM_CARRY_EV_RESUMED);
        update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
        g_assert_true(h.timer_armed);
        a = update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        g_assert_true(has(a, VSM_CARRY_ACT_CANCEL_TIMER));
        g_assert_true(has(a, VSM_CARRY_ACT_NOTE));
        g_assert_false(h.p.takeover_write);
        advance(&h, 60000);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 0);
}

/* The token is used once; a second destination with it is refused; a
 * connection that ends before the migration completed spends it, and a
 * new one is minted and written. */
static void test_token_once(void) {
        Host h;
        const VsmCarryActions *a;

        host_init(&h, NULL);
        /* not before the domain is watched here */
        g_assert_false(has(feed(&h, VSM_CARRY_EV_PEER_AUTH), VSM_CARRY_ACT_ACCEPT_PEER));
        host_running(&h);
        g_assert_true(peer_auth(&h));
        g_assert_false(has(feed(&h, VSM_CARRY_EV_PEER_AUTH), VSM_CARRY_ACT_ACCEPT_PEER));
        update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        a = feed(&h, VSM_CARRY_EV_PEER_ENDED);
        g_assert_true(has(a, VSM_CARRY_ACT_MINT_TOKEN));
        g_assert_false(has(a, VSM_CARRY_ACT_ARM_TIMER));    /* not while migrating away */
        g_assert_true(peer_auth(&h));
        /* aborted precopy: local again, the newest token is written */
        feed(&h, VSM_CARRY_EV_PEER_ENDED);
        a = update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
        g_assert_true(has(a, VSM_CARRY_ACT_ARM_TIMER));
        advance(&h, INTERVAL_MS);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 2);
        /* while running, an early end re-mints and re-writes too */
        g_assert_true(peer_auth(&h));
        a = feed(&h, VSM_CARRY_EV_PEER_ENDED);
        g_assert_true(has(a, VSM_CARRY_ACT_MINT_TOKEN));
        g_assert_true(has(a, VSM_CARRY_ACT_ARM_TIMER));
        /* an incoming domain holds no token of ours */
        host_init(&h, NULL);
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        h.has_nics = true;
        g_assert_false(has(feed(&h, VSM_CARRY_EV_PEER_AUTH), VSM_CARRY_ACT_ACCEPT_PEER));
        g_assert_false(has(feed(&h, VSM_CARRY_EV_PEER_ENDED), VSM_CARRY_ACT_MINT_TOKEN));
}

/* Debounce: changes within the interval make one write, at the first
 * change + interval; nothing when nothing changed; a refused write is
 * retried after 5 s. */
static void test_debounce(void) {
        Host h;

        host_init(&h, NULL);
        host_running(&h);
        advance(&h, 60000);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 1);
        changed(&h);
        g_assert_cmpuint(h.timer_at, ==, h.now + INTERVAL_MS * MSEC);
        for (int i = 0; i < 10; i++) {
                advance(&h, INTERVAL_MS / 20);
                changed(&h);
        }
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 1);
        advance(&h, INTERVAL_MS / 2 - 1);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 1);
        advance(&h, 1);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 2);
        g_assert_cmpuint(h.p.written_generation, ==, h.generation);
        advance(&h, 60000);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 2);
        /* a change while the write is in flight: written after it */
        changed(&h);
        advance(&h, INTERVAL_MS);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 3);
        h.refuse_writes = true;
        changed(&h);
        advance(&h, INTERVAL_MS);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 4);
        g_assert_cmpuint(h.timer_at, ==, h.now + VSM_CARRY_WRITE_RETRY_USEC);
        h.refuse_writes = false;
        advance(&h, 4999);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 4);
        advance(&h, 1);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 5);
        /* a write that could not start is retried too */
        changed(&h);
        h.now = h.timer_at;
        h.timer_armed = false;
        g_assert_true(has(feed(&h, VSM_CARRY_EV_TIMER), VSM_CARRY_ACT_WRITE_SNAPSHOT));
        h.write_inflight = false;
        g_assert_true(has(feed(&h, VSM_CARRY_EV_WRITE_NOT_STARTED), VSM_CARRY_ACT_ARM_TIMER));
        /* no libvirt: never */
        {
                VsmCarryConfig cfg = default_cfg;

                cfg.can_write = false;
                host_init(&h, &cfg);
                update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
                changed(&h);
                advance(&h, 60000);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 0);
        }
        /* a snapshot adopted at (re)connect is current: no write */
        host_init(&h, NULL);
        h.generation = 42;
        feed(&h, VSM_CARRY_EV_ADOPTED);
        update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
        advance(&h, 60000);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 0);
        /* ... unless the carried state seeded a learner */
        h.generation++;
        feed(&h, VSM_CARRY_EV_SEEDED);
        g_assert_false(has(&h.last, VSM_CARRY_ACT_STREAM_CHANGED));
        advance(&h, INTERVAL_MS);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 1);
}

/* Config switches: no learning means no learners and no writes; no
 * replay means no incoming and no failback replay; no leaves. */
static void test_config_off(void) {
        VsmCarryConfig cfg = default_cfg;
        Host h;

        cfg.learn = false;
        host_init(&h, &cfg);
        g_assert_false(has(update(&h, LOCAL, VSM_MIG_PHASE_RUNNING), VSM_CARRY_ACT_LEARN_ON));
        changed(&h);
        advance(&h, 60000);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 0);

        cfg = default_cfg;
        cfg.replay = false;
        cfg.leaves = false;
        cfg.stream = false;
        cfg.queries = false;
        host_init(&h, &cfg);
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        g_assert_cmpuint(h.last.n, ==, 0);
        host_running(&h);
        changed(&h);
        g_assert_false(has(&h.last, VSM_CARRY_ACT_STREAM_CHANGED));
        update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        g_assert_cmpuint(feed(&h, VSM_CARRY_EV_SUSPENDED)->n, ==, 0);
        feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_SWITCHOVER_SENT, .sent = true });
        g_assert_false(has(feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_FAILED_BACK, .running = true,
                                                         .has_info = true }),
                           VSM_CARRY_ACT_REPLAY));
        update(&h, SRC, VSM_MIG_PHASE_SUSPENDED);
        g_assert_false(has(feed(&h, VSM_CARRY_EV_FORGET), VSM_CARRY_ACT_SEND_LEAVES));
}

/* ---- driven by the migration machine ---- */

/* One step of the real migration machine, and the carry events it gives
 * fed to the policy, as follower.c does.  Returns the actions of all of
 * them together (counted in h->count as usual). */
static unsigned mig_step(Host *h, VsmMigration *m, VsmMigEvent ev, bool found_paused, unsigned *ret_replays) {
        VsmCarryInput evs[VSM_CARRY_STEP_EVENTS_MAX];
        VsmMigRole old_role = m->role;
        VsmMigPhase old_phase = m->phase;
        VsmMigAction a;
        unsigned before = h->count[VSM_CARRY_ACT_REPLAY];
        size_t n;

        g_assert_cmpint(vsm_migration_handle(m, ev, h->now, &a), ==, 0);
        n = vsm_carry_events_from_step(ev, &a, old_role, old_phase, m, true, found_paused, evs);
        g_assert_cmpuint(n, <=, VSM_CARRY_STEP_EVENTS_MAX);
        g_assert_cmpuint(n, >=, 1);
        /* UPDATE (or FORGET) comes last, always */
        g_assert_true(evs[n - 1].ev == VSM_CARRY_EV_UPDATE || evs[n - 1].ev == VSM_CARRY_EV_FORGET);
        for (size_t i = 0; i < n; i++) {
                feed_in(h, evs[i]);
                /* the daemon says whether SWITCHOVER reached a destination */
                if (has(&h->last, VSM_CARRY_ACT_SEND_SWITCHOVER))
                        feed_in(h, (VsmCarryInput) { .ev = VSM_CARRY_EV_SWITCHOVER_SENT, .sent = true });
        }
        if (ret_replays)
                *ret_replays = h->count[VSM_CARRY_ACT_REPLAY] - before;
        h->now += 10 * MSEC;
        return (unsigned) n;
}

static void test_step_source(void) {
        /* 0: completes (leaves); 1: fails back running (replay, no
         * leaves); 2: fails back found paused (replay at RUNNING) */
        for (int kind = 0; kind <= 2; kind++) {
                Host h;
                VsmMigration m;
                unsigned replays = 0;

                host_init(&h, NULL);
                vsm_migration_init(&m, NULL);
                mig_step(&h, &m, VSM_MIG_EV_STARTED_BOOTED, false, NULL);
                g_assert_true(h.has_nics);
                g_assert_true(h.p.writes_allowed);
                g_assert_true(peer_auth(&h));
                mig_step(&h, &m, VSM_MIG_EV_MIGRATION_ITERATION, false, NULL);
                g_assert_false(h.p.writes_allowed);
                mig_step(&h, &m, VSM_MIG_EV_SUSPENDED_MIGRATED, false, NULL);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_SEND_SWITCHOVER], ==, 1);
                g_assert_true(h.p.switchover_sent);
                if (kind == 0) {
                        mig_step(&h, &m, VSM_MIG_EV_STOPPED_MIGRATED, false, NULL);
                        g_assert_cmpuint(h.count[VSM_CARRY_ACT_SEND_LEAVES], ==, 1);
                        g_assert_true(h.forgotten);
                        continue;
                }
                if (kind == 1) {
                        mig_step(&h, &m, VSM_MIG_EV_RESUMED_MIGRATED, false, &replays);
                        g_assert_cmpuint(replays, ==, 1);
                } else {
                        mig_step(&h, &m, VSM_MIG_EV_RECONCILE_RUNNING, true, &replays);
                        g_assert_cmpuint(replays, ==, 0);
                        g_assert_true(h.p.failback_pending);
                        mig_step(&h, &m, VSM_MIG_EV_SUSPENDED_PAUSED, false, &replays);
                        g_assert_cmpuint(replays, ==, 0);
                        mig_step(&h, &m, VSM_MIG_EV_RESUMED_UNPAUSED, false, &replays);
                        g_assert_cmpuint(replays, ==, 1);
                }
                g_assert_cmpint(h.p.role, ==, LOCAL);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_MINT_TOKEN], ==, 1);
                mig_step(&h, &m, VSM_MIG_EV_STOPPED_SHUTDOWN, false, NULL);
                g_assert_true(h.forgotten);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_SEND_LEAVES], ==, 0);
        }
}

static void test_step_destination(void) {
        for (int late = 0; late <= 1; late++) {
                Host h;
                VsmMigration m;
                unsigned replays = 0;

                host_init(&h, NULL);
                vsm_migration_init(&m, NULL);
                mig_step(&h, &m, VSM_MIG_EV_HOOK_MIGRATE_BEGIN, false, NULL);
                g_assert_true(h.p.incoming);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_TAKE_INCOMING], ==, 1);
                mig_step(&h, &m, VSM_MIG_EV_HOOK_PREPARE_BEGIN, false, NULL);
                mig_step(&h, &m, VSM_MIG_EV_HOOK_START_BEGIN, false, NULL);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_TAKE_INCOMING], ==, 1);
                mig_step(&h, &m, VSM_MIG_EV_STARTED_MIGRATED, false, NULL);
                g_assert_false(h.has_nics);
                if (!late) {
                        mig_step(&h, &m, VSM_MIG_EV_SWITCHOVER, false, &replays);
                        g_assert_cmpuint(replays, ==, 1);
                }
                mig_step(&h, &m, VSM_MIG_EV_RESUMED_MIGRATED, false, &replays);
                g_assert_cmpuint(replays, ==, (unsigned) late);
                g_assert_cmpint(h.p.replay_late, ==, late);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_REPORT_RESUMED], ==, 1);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_REPLAY], ==, 1);
                /* RESUMED_MIGRATED completes the migration: taken over */
                g_assert_cmpint(m.role, ==, LOCAL);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_TAKEOVER], ==, 1);
                g_assert_true(h.has_nics);
                advance(&h, 0);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, 1);
                mig_step(&h, &m, VSM_MIG_EV_STOPPED_DESTROYED, false, NULL);
                g_assert_cmpuint(h.count[VSM_CARRY_ACT_SEND_LEAVES], ==, 0);
        }
}

/* libvirtd started before the hook was installed: the destination sees
 * no hook call, only STARTED_MIGRATED (with the live XML read first).  It
 * takes the snapshot then, and replays at SWITCHOVER. */
static void test_step_destination_no_hook(void) {
        Host h;
        VsmMigration m;
        VsmMigAction a;
        VsmCarryInput evs[VSM_CARRY_STEP_EVENTS_MAX];
        unsigned replays = 0;
        size_t n;

        /* the step itself says no_hook */
        vsm_migration_init(&m, NULL);
        g_assert_cmpint(vsm_migration_handle(&m, VSM_MIG_EV_STARTED_MIGRATED, T0, &a), ==, 0);
        n = vsm_carry_events_from_step(VSM_MIG_EV_STARTED_MIGRATED, &a, LOCAL, VSM_MIG_PHASE_IDLE, &m, true, false,
                                       evs);
        g_assert_cmpuint(n, ==, 2);
        g_assert_cmpint(evs[0].ev, ==, VSM_CARRY_EV_INCOMING);
        g_assert_true(evs[0].no_hook);
        /* without the XML there is no snapshot to take */
        n = vsm_carry_events_from_step(VSM_MIG_EV_STARTED_MIGRATED, &a, LOCAL, VSM_MIG_PHASE_IDLE, &m, false, false,
                                       evs);
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpint(evs[0].ev, ==, VSM_CARRY_EV_UPDATE);

        host_init(&h, NULL);
        vsm_migration_init(&m, NULL);
        mig_step(&h, &m, VSM_MIG_EV_STARTED_MIGRATED, false, NULL);
        g_assert_true(h.p.incoming);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_TAKE_INCOMING], ==, 1);
        mig_step(&h, &m, VSM_MIG_EV_SWITCHOVER, false, &replays);
        g_assert_cmpuint(replays, ==, 1);
        mig_step(&h, &m, VSM_MIG_EV_RESUMED_MIGRATED, false, &replays);
        g_assert_cmpuint(replays, ==, 0);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_REPLAY], ==, 1);

        /* with the hook: STARTED_MIGRATED takes nothing again */
        host_init(&h, NULL);
        vsm_migration_init(&m, NULL);
        mig_step(&h, &m, VSM_MIG_EV_HOOK_MIGRATE_BEGIN, false, NULL);
        mig_step(&h, &m, VSM_MIG_EV_STARTED_MIGRATED, false, NULL);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_TAKE_INCOMING], ==, 1);
}

/* A snapshot write in flight when the domain starts migrating away is
 * cancelled (libvirt would hold it behind the migration job); when the
 * migration fails back, the snapshot is written again. */
static void test_write_cancelled_by_migration(void) {
        Host h;
        VsmMigration m;
        unsigned n_writes;

        host_init(&h, NULL);
        vsm_migration_init(&m, NULL);
        mig_step(&h, &m, VSM_MIG_EV_STARTED_BOOTED, false, NULL);
        changed(&h);
        h.now = h.timer_at;
        h.timer_armed = false;
        feed(&h, VSM_CARRY_EV_TIMER);
        g_assert_true(h.write_inflight);
        mig_step(&h, &m, VSM_MIG_EV_MIGRATION_ITERATION, false, NULL);
        g_assert_cmpuint(h.writes_cancelled, ==, 1);
        g_assert_false(h.p.write_inflight);
        /* its result, if the daemon fed one, changes nothing */
        g_assert_cmpuint(feed(&h, VSM_CARRY_EV_WRITE_DONE)->n, ==, 0);
        mig_step(&h, &m, VSM_MIG_EV_SUSPENDED_MIGRATED, false, NULL);
        mig_step(&h, &m, VSM_MIG_EV_RESUMED_MIGRATED, false, NULL);
        g_assert_cmpint(m.role, ==, LOCAL);
        g_assert_true(h.timer_armed);
        n_writes = h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT];
        advance(&h, VSM_CARRY_WRITE_RETRY_USEC / MSEC);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT], ==, n_writes + 1);
}

/* Random lifecycle and hook events through the real migration machine:
 * the same invariants as the random walk, with the event sequences the
 * follower can really produce. */
static void test_step_random_walk(void) {
        static const VsmMigEvent mig_events[] = {
                VSM_MIG_EV_HOOK_MIGRATE_BEGIN, VSM_MIG_EV_HOOK_PREPARE_BEGIN, VSM_MIG_EV_HOOK_START_BEGIN,
                VSM_MIG_EV_HOOK_STARTED_BEGIN, VSM_MIG_EV_HOOK_STOPPED_END,   VSM_MIG_EV_HOOK_RELEASE_END,
                VSM_MIG_EV_STARTED_BOOTED,     VSM_MIG_EV_STARTED_MIGRATED,   VSM_MIG_EV_SUSPENDED_PAUSED,
                VSM_MIG_EV_SUSPENDED_MIGRATED, VSM_MIG_EV_SUSPENDED_POSTCOPY, VSM_MIG_EV_RESUMED_UNPAUSED,
                VSM_MIG_EV_RESUMED_MIGRATED,   VSM_MIG_EV_RESUMED_POSTCOPY,   VSM_MIG_EV_STOPPED_SHUTDOWN,
                VSM_MIG_EV_STOPPED_MIGRATED,   VSM_MIG_EV_STOPPED_FAILED,     VSM_MIG_EV_MIGRATION_ITERATION,
                VSM_MIG_EV_JOB_COMPLETED,      VSM_MIG_EV_RECONCILE_RUNNING,  VSM_MIG_EV_RECONCILE_INCOMING,
                VSM_MIG_EV_SWITCHOVER,
        };
        Host h;
        VsmMigration m;
        unsigned n_leaves = 0, n_replays = 0, n_writes = 0;
        bool replayed_since_source = false;

        host_init(&h, NULL);
        vsm_migration_init(&m, NULL);
        for (int i = 0; i < 100000; i++) {
                VsmMigEvent ev = mig_events[g_test_rand_int_range(0, G_N_ELEMENTS(mig_events))];
                VsmMigRole old_role = m.role;
                unsigned replays = 0, leaves = h.count[VSM_CARRY_ACT_SEND_LEAVES];
                unsigned writes = h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT];

                if (g_test_rand_int_range(0, 4) == 0)
                        changed(&h);
                if (g_test_rand_int_range(0, 8) == 0)
                        peer_auth(&h);
                if (g_test_rand_int_range(0, 8) == 0)
                        feed(&h, VSM_CARRY_EV_PEER_ENDED);
                advance(&h, (uint64_t) g_test_rand_int_range(0, 3000));
                if (h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT] > writes) {
                        g_assert_cmpint(m.role, ==, LOCAL);
                        g_assert_cmpint(m.phase, ==, VSM_MIG_PHASE_RUNNING);
                }
                mig_step(&h, &m, ev, g_test_rand_bit(), &replays);
                if (old_role != SRC && m.role == SRC)
                        replayed_since_source = false;
                if (replays)
                        replayed_since_source = true;
                if (h.count[VSM_CARRY_ACT_SEND_LEAVES] > leaves) {
                        g_assert_false(replayed_since_source);
                        g_assert_cmpint(old_role, ==, SRC);
                        n_leaves++;
                }
                n_replays += replays;
                n_writes += h.count[VSM_CARRY_ACT_WRITE_SNAPSHOT] - writes;
                if (h.forgotten) {
                        uint64_t now = h.now;

                        host_init(&h, NULL);
                        h.now = now;
                        vsm_migration_init(&m, NULL);
                        replayed_since_source = false;
                }
        }
        g_assert_cmpuint(n_leaves, >, 50);
        g_assert_cmpuint(n_replays, >, 50);
        g_assert_cmpuint(n_writes, >, 50);
}

/* ---- every event in every state ---- */

static const VsmCarryEvent all_events[] = {
        VSM_CARRY_EV_UPDATE,           VSM_CARRY_EV_ADOPTED,          VSM_CARRY_EV_INCOMING,
        VSM_CARRY_EV_REPLAY,           VSM_CARRY_EV_SUSPENDED,        VSM_CARRY_EV_SWITCHOVER_SENT,
        VSM_CARRY_EV_RESUMED,          VSM_CARRY_EV_FAILED_BACK,      VSM_CARRY_EV_RUNNING,
        VSM_CARRY_EV_FORGET,           VSM_CARRY_EV_LEARNER_CHANGED,  VSM_CARRY_EV_SEEDED,
        VSM_CARRY_EV_PEER_AUTH,        VSM_CARRY_EV_PEER_UP,          VSM_CARRY_EV_PEER_ENDED,
        VSM_CARRY_EV_SWITCHOVER_RECEIVED, VSM_CARRY_EV_SWITCHOVER_ACCEPTED, VSM_CARRY_EV_SWITCHOVER_REFUSED,
        VSM_CARRY_EV_TIMER,            VSM_CARRY_EV_WRITE_NOT_STARTED, VSM_CARRY_EV_WRITE_DONE,
        VSM_CARRY_EV_WRITE_REFUSED,
};

/* The role/phase pairs the migration machine reports. */
static const struct {
        VsmMigRole role;
        VsmMigPhase phase;
} all_steps[] = {
        { LOCAL, VSM_MIG_PHASE_IDLE },         { LOCAL, VSM_MIG_PHASE_RUNNING },
        { LOCAL, VSM_MIG_PHASE_GONE },         { SRC, VSM_MIG_PHASE_MIGRATING },
        { SRC, VSM_MIG_PHASE_SUSPENDED },      { DST, VSM_MIG_PHASE_INCOMING },
        { DST, VSM_MIG_PHASE_PRE_ASSOCIATED }, { DST, VSM_MIG_PHASE_SWITCHED },
};

/* Named states, reached from scratch by the scenario steps. */
typedef enum {
        ST_NEW,
        ST_RUNNING,
        ST_RUNNING_WRITING,    /* a write in flight */
        ST_RUNNING_TOKEN_USED,
        ST_MIGRATING,
        ST_SUSPENDED_SENT,
        ST_FAILBACK_PENDING,
        ST_INCOMING,
        ST_INCOMING_PRE,
        ST_SWITCHED_REPLAYED,
        ST_RESUMED,
        ST_TAKEN_OVER,         /* the takeover write armed */
        ST_MAX,
} State;

static void reach(Host *h, State s) {
        host_init(h, NULL);
        switch (s) {
        case ST_NEW:
                return;
        case ST_RUNNING:
        case ST_RUNNING_WRITING:
        case ST_RUNNING_TOKEN_USED:
                host_running(h);
                if (s == ST_RUNNING_TOKEN_USED)
                        g_assert_true(peer_auth(h));
                if (s == ST_RUNNING_WRITING) {
                        changed(h);
                        h->now = h->timer_at;
                        h->timer_armed = false;
                        feed(h, VSM_CARRY_EV_TIMER);
                        g_assert_true(h->write_inflight);
                }
                return;
        case ST_MIGRATING:
        case ST_SUSPENDED_SENT:
        case ST_FAILBACK_PENDING:
                host_running(h);
                g_assert_true(peer_auth(h));
                update(h, SRC, VSM_MIG_PHASE_MIGRATING);
                if (s == ST_MIGRATING)
                        return;
                feed(h, VSM_CARRY_EV_SUSPENDED);
                feed_in(h, (VsmCarryInput) { .ev = VSM_CARRY_EV_SWITCHOVER_SENT, .sent = true });
                update(h, SRC, VSM_MIG_PHASE_SUSPENDED);
                if (s == ST_FAILBACK_PENDING) {
                        feed_in(h, (VsmCarryInput) { .ev = VSM_CARRY_EV_FAILED_BACK, .has_info = true });
                        update(h, LOCAL, VSM_MIG_PHASE_IDLE);
                        g_assert_true(h->p.failback_pending);
                }
                return;
        default:
                break;
        }
        incoming(h, VSM_CARRY_SNAPSHOT_PEER);
        update(h, DST, VSM_MIG_PHASE_INCOMING);
        if (s == ST_INCOMING)
                return;
        update(h, DST, VSM_MIG_PHASE_PRE_ASSOCIATED);
        if (s == ST_INCOMING_PRE)
                return;
        feed(h, VSM_CARRY_EV_SWITCHOVER_RECEIVED);
        feed_in(h, (VsmCarryInput) { .ev = VSM_CARRY_EV_REPLAY, .has_info = true });
        feed(h, VSM_CARRY_EV_SWITCHOVER_ACCEPTED);
        update(h, DST, VSM_MIG_PHASE_SWITCHED);
        if (s == ST_SWITCHED_REPLAYED)
                return;
        feed(h, VSM_CARRY_EV_RESUMED);
        update(h, DST, VSM_MIG_PHASE_SWITCHED);
        if (s == ST_RESUMED)
                return;
        update(h, LOCAL, VSM_MIG_PHASE_RUNNING);
        g_assert_true(h->p.takeover_write);
}

/* Feed ev (with every combination of its facts) in every named state:
 * never a crash, at most VSM_CARRY_ACTIONS_MAX actions, a consistent
 * timer, and the action each (state, event) must or must not give. */
static void test_every_event_every_state(void) {
        unsigned combos = 0;

        for (State s = 0; s < ST_MAX; s++)
                for (size_t e = 0; e < G_N_ELEMENTS(all_events); e++)
                        for (unsigned facts = 0; facts < 32; facts++)
                                for (size_t step = 0; step < (all_events[e] == VSM_CARRY_EV_UPDATE
                                                                      ? G_N_ELEMENTS(all_steps)
                                                                      : 1);
                                     step++) {
                                        Host h;
                                        VsmCarryInput in = {
                                                .ev = all_events[e],
                                                .role = all_steps[step].role,
                                                .phase = all_steps[step].phase,
                                                .has_info = facts & 1,
                                                .late = facts & 2,
                                                .sent = facts & 4,
                                                .running = facts & 8,
                                                .snapshot = (facts & 16) ? VSM_CARRY_SNAPSHOT_PEER
                                                                         : VSM_CARRY_SNAPSHOT_NONE,
                                        };
                                        VsmCarryPolicy before;
                                        const VsmCarryActions *a;
                                        bool ev_timer = in.ev == VSM_CARRY_EV_TIMER;

                                        reach(&h, s);
                                        if (ev_timer)
                                                h.timer_armed = false;  /* it fired */
                                        if (in.ev == VSM_CARRY_EV_WRITE_DONE || in.ev == VSM_CARRY_EV_WRITE_REFUSED ||
                                            in.ev == VSM_CARRY_EV_WRITE_NOT_STARTED)
                                                h.write_inflight = false;       /* it ended */
                                        before = h.p;
                                        a = feed_in(&h, in);
                                        combos++;

                                        /* never a snapshot while migrating away or arriving */
                                        if (has(a, VSM_CARRY_ACT_WRITE_SNAPSHOT) || has(a, VSM_CARRY_ACT_ARM_TIMER))
                                                g_assert_true(h.p.role == LOCAL &&
                                                              h.p.phase == VSM_MIG_PHASE_RUNNING);
                                        /* replay: an incoming domain, or a source failed back */
                                        if (has(a, VSM_CARRY_ACT_REPLAY)) {
                                                const VsmCarryAction *r = vsm_carry_actions_find(
                                                        a, VSM_CARRY_ACT_REPLAY);

                                                g_assert_true(in.has_info);
                                                if (r->failback)
                                                        g_assert_true(before.switchover_sent);
                                                else
                                                        g_assert_true(before.incoming && !before.replayed);
                                        }
                                        if (has(a, VSM_CARRY_ACT_SEND_LEAVES))
                                                g_assert_true(before.role == SRC && in.ev == VSM_CARRY_EV_FORGET);
                                        if (has(a, VSM_CARRY_ACT_ACCEPT_PEER))
                                                g_assert_true(!before.token_used && !before.incoming);
                                        g_assert_cmpint(has(a, VSM_CARRY_ACT_FORGET), ==,
                                                        in.ev == VSM_CARRY_EV_FORGET);

                                        /* expected actions */
                                        switch (in.ev) {
                                        case VSM_CARRY_EV_PEER_ENDED:
                                                g_assert_cmpint(has(a, VSM_CARRY_ACT_MINT_TOKEN), ==,
                                                                h.has_nics && !before.incoming);
                                                break;
                                        case VSM_CARRY_EV_FAILED_BACK:
                                                g_assert_true(has(a, VSM_CARRY_ACT_MINT_TOKEN));
                                                g_assert_true(has(a, VSM_CARRY_ACT_DROP_PEER));
                                                g_assert_cmpint(has(a, VSM_CARRY_ACT_REPLAY), ==,
                                                                before.switchover_sent && in.has_info && in.running);
                                                break;
                                        case VSM_CARRY_EV_SUSPENDED:
                                                g_assert_cmpint(has(a, VSM_CARRY_ACT_SEND_SWITCHOVER), ==, h.has_nics);
                                                break;
                                        case VSM_CARRY_EV_FORGET:
                                                g_assert_cmpint(has(a, VSM_CARRY_ACT_SEND_LEAVES), ==,
                                                                before.role == SRC && in.has_info);
                                                break;
                                        case VSM_CARRY_EV_INCOMING:
                                                g_assert_cmpint(has(a, VSM_CARRY_ACT_TAKE_INCOMING), ==,
                                                                !before.incoming && !h.has_nics);
                                                g_assert_cmpint(has(a, VSM_CARRY_ACT_CONNECT_PEER), ==,
                                                                !before.incoming && !h.has_nics &&
                                                                        in.snapshot == VSM_CARRY_SNAPSHOT_PEER);
                                                break;
                                        case VSM_CARRY_EV_TIMER:
                                                g_assert_cmpint(has(a, VSM_CARRY_ACT_WRITE_SNAPSHOT), ==,
                                                                before.writes_allowed && !before.write_inflight);
                                                break;
                                        case VSM_CARRY_EV_LEARNER_CHANGED:
                                                g_assert_true(has(a, VSM_CARRY_ACT_STREAM_CHANGED));
                                                break;
                                        case VSM_CARRY_EV_SWITCHOVER_RECEIVED:
                                                g_assert_cmpint(has(a, VSM_CARRY_ACT_FORWARD_SWITCHOVER), ==,
                                                                before.incoming && !before.switchover_received);
                                                break;
                                        case VSM_CARRY_EV_UPDATE:
                                                g_assert_cmpint(has(a, VSM_CARRY_ACT_TAKEOVER), ==,
                                                                before.incoming && in.role == LOCAL &&
                                                                        in.phase == VSM_MIG_PHASE_RUNNING);
                                                g_assert_cmpint(h.p.writes_allowed, ==,
                                                                in.role == LOCAL && in.phase == VSM_MIG_PHASE_RUNNING);
                                                /* a write in flight ends when writes stop */
                                                g_assert_cmpint(has(a, VSM_CARRY_ACT_CANCEL_WRITE), ==,
                                                                before.write_inflight && !h.p.writes_allowed);
                                                break;
                                        default:
                                                break;
                                        }
                                }
        g_assert_cmpuint(combos, >, 5000);
}

/* ---- random walks ---- */

/* Random events with random facts on one host's domain; the daemon's
 * side is simulated (timer, writes in flight, learners).  Invariants:
 *   - never WRITE_SNAPSHOT (or its timer) unless the domain runs here
 *     unmigrating;
 *   - never both REPLAY and SEND_LEAVES while the VM runs elsewhere:
 *     leaves only after the domain was last a source and no replay
 *     since (the replay says the VM is here);
 *   - every authenticated connection that ends without a completed
 *     migration mints a new token, and a token is accepted once. */
static void test_random_walk(void) {
        for (int run = 0; run < 2; run++) {
                Host h;
                unsigned n_writes = 0, n_replays = 0, n_leaves = 0, n_mints = 0;
                bool replayed_since_source = false, token_taken = false;

                host_init(&h, NULL);
                for (int i = 0; i < 200000; i++) {
                        VsmCarryEvent ev = all_events[g_test_rand_int_range(0, G_N_ELEMENTS(all_events))];
                        unsigned step = (unsigned) g_test_rand_int_range(0, G_N_ELEMENTS(all_steps));
                        VsmCarryInput in = {
                                .ev = ev,
                                .role = all_steps[step].role,
                                .phase = all_steps[step].phase,
                                .has_info = g_test_rand_int_range(0, 8) != 0,
                                .late = g_test_rand_bit(),
                                .sent = g_test_rand_bit(),
                                .running = g_test_rand_bit(),
                                .snapshot = g_test_rand_int_range(0, _VSM_CARRY_SNAPSHOT_MAX),
                        };
                        VsmCarryPolicy before = h.p;
                        const VsmCarryActions *a;

                        /* events the daemon can only send in some states */
                        if (ev == VSM_CARRY_EV_TIMER) {
                                if (!h.timer_armed)
                                        continue;
                                h.now = MAX(h.now, h.timer_at);
                                h.timer_armed = false;
                        }
                        if (ev == VSM_CARRY_EV_WRITE_DONE || ev == VSM_CARRY_EV_WRITE_REFUSED ||
                            ev == VSM_CARRY_EV_WRITE_NOT_STARTED) {
                                if (!h.write_inflight)
                                        continue;
                                h.write_inflight = false;
                        }
                        if (ev == VSM_CARRY_EV_LEARNER_CHANGED || ev == VSM_CARRY_EV_SEEDED)
                                h.generation++;
                        h.now += (uint64_t) g_test_rand_int_range(0, 500000);
                        a = feed_in(&h, in);

                        if (has(a, VSM_CARRY_ACT_WRITE_SNAPSHOT) || has(a, VSM_CARRY_ACT_ARM_TIMER)) {
                                g_assert_cmpint(h.p.role, ==, LOCAL);
                                g_assert_cmpint(h.p.phase, ==, VSM_MIG_PHASE_RUNNING);
                        }
                        if (ev == VSM_CARRY_EV_UPDATE && in.role == SRC)
                                replayed_since_source = false;
                        if (has(a, VSM_CARRY_ACT_REPLAY))
                                replayed_since_source = true;
                        if (has(a, VSM_CARRY_ACT_SEND_LEAVES)) {
                                g_assert_false(replayed_since_source);
                                g_assert_cmpint(before.role, ==, SRC);
                                n_leaves++;
                        }
                        if (has(a, VSM_CARRY_ACT_ACCEPT_PEER)) {
                                g_assert_false(token_taken);
                                token_taken = true;
                        }
                        if (has(a, VSM_CARRY_ACT_MINT_TOKEN)) {
                                token_taken = false;
                                n_mints++;
                        }
                        if (ev == VSM_CARRY_EV_PEER_ENDED && h.has_nics && !before.incoming)
                                g_assert_true(has(a, VSM_CARRY_ACT_MINT_TOKEN));
                        n_writes += has(a, VSM_CARRY_ACT_WRITE_SNAPSHOT);
                        n_replays += has(a, VSM_CARRY_ACT_REPLAY);
                        if (h.forgotten) {
                                host_init(&h, NULL);
                                h.now = T0 + (uint64_t) i * 1000;
                                replayed_since_source = false;
                                token_taken = false;
                        }
                }
                g_assert_cmpuint(n_writes, >, 100);
                g_assert_cmpuint(n_replays, >, 100);
                g_assert_cmpuint(n_leaves, >, 100);
                g_assert_cmpuint(n_mints, >, 100);
        }
}

/* The source proves itself only while the domain migrates out: the
 * machine is SOURCE (MIGRATING, SUSPENDED), or, before it knows (the
 * destination's migrate begin hook), libvirt's job is MIGRATION_OUT. */
static void test_peer_answer(void) {
        static const VsmMigJobOp jobs[] = { VSM_MIG_JOB_OP_UNKNOWN, VSM_MIG_JOB_OP_NONE, VSM_MIG_JOB_OP_MIGRATION_IN,
                                            VSM_MIG_JOB_OP_OTHER };
        Host h;

        host_init(&h, NULL);
        host_running(&h);
        g_assert_cmpint(vsm_carry_policy_peer_answer(&h.p, false, VSM_MIG_JOB_OP_UNKNOWN), ==, VSM_CARRY_PEER_ASK_JOB);
        g_assert_cmpint(vsm_carry_policy_peer_answer(&h.p, true, VSM_MIG_JOB_OP_MIGRATION_OUT), ==,
                        VSM_CARRY_PEER_PROVE);
        for (size_t i = 0; i < G_N_ELEMENTS(jobs); i++)
                g_assert_cmpint(vsm_carry_policy_peer_answer(&h.p, true, jobs[i]), ==, VSM_CARRY_PEER_REFUSE);
        update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        for (size_t i = 0; i < G_N_ELEMENTS(jobs); i++)
                g_assert_cmpint(vsm_carry_policy_peer_answer(&h.p, true, jobs[i]), ==, VSM_CARRY_PEER_PROVE);
        g_assert_cmpint(vsm_carry_policy_peer_answer(&h.p, false, VSM_MIG_JOB_OP_UNKNOWN), ==, VSM_CARRY_PEER_PROVE);
        update(&h, SRC, VSM_MIG_PHASE_SUSPENDED);
        g_assert_cmpint(vsm_carry_policy_peer_answer(&h.p, false, VSM_MIG_JOB_OP_UNKNOWN), ==, VSM_CARRY_PEER_PROVE);
        /* failed back: local again, the job asked again */
        update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
        g_assert_cmpint(vsm_carry_policy_peer_answer(&h.p, false, VSM_MIG_JOB_OP_UNKNOWN), ==, VSM_CARRY_PEER_ASK_JOB);
        g_assert_cmpint(vsm_carry_policy_peer_answer(&h.p, true, VSM_MIG_JOB_OP_NONE), ==, VSM_CARRY_PEER_REFUSE);

        /* A destination never proves itself as a source, whatever the job. */
        host_init(&h, NULL);
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        update(&h, DST, VSM_MIG_PHASE_INCOMING);
        g_assert_cmpint(vsm_carry_policy_peer_answer(&h.p, false, VSM_MIG_JOB_OP_UNKNOWN), ==, VSM_CARRY_PEER_REFUSE);
        g_assert_cmpint(vsm_carry_policy_peer_answer(&h.p, true, VSM_MIG_JOB_OP_MIGRATION_OUT), ==,
                        VSM_CARRY_PEER_REFUSE);
}

/* ---- the conntrack carry (issue 11) ---- */

static const VsmCarryConfig ct_cfg = {
        .learn = true,
        .replay = true,
        .leaves = true,
        .queries = true,
        .stream = true,
        .secure = true,
        .can_write = true,
        .write_interval_usec = INTERVAL_MS * MSEC,
        .conntrack = true,
};

static size_t index_of(const VsmCarryActions *a, VsmCarryActionType t) {
        for (size_t i = 0; i < a->n; i++)
                if (a->a[i].type == t)
                        return i;
        return SIZE_MAX;
}

/* Source: pre-stage after the first state, the delta just before the
 * SWITCHOVER, the entries deleted once the VM left. */
static void test_ct_source(void) {
        Host h;
        const VsmCarryActions *a;

        host_init(&h, &ct_cfg);
        host_running(&h);
        g_assert_true(has(feed(&h, VSM_CARRY_EV_PEER_AUTH), VSM_CARRY_ACT_ACCEPT_PEER));
        a = feed(&h, VSM_CARRY_EV_PEER_UP);
        g_assert_true(has(a, VSM_CARRY_ACT_CT_PRESTAGE));
        g_assert_cmpuint(index_of(a, VSM_CARRY_ACT_STREAM_ALL), <, index_of(a, VSM_CARRY_ACT_CT_PRESTAGE));
        update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        a = feed(&h, VSM_CARRY_EV_SUSPENDED);
        g_assert_true(has(a, VSM_CARRY_ACT_CT_DELTA));
        g_assert_cmpuint(index_of(a, VSM_CARRY_ACT_CT_DELTA), <, index_of(a, VSM_CARRY_ACT_SEND_SWITCHOVER));
        feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_SWITCHOVER_SENT, .sent = true });
        update(&h, SRC, VSM_MIG_PHASE_SUSPENDED);
        a = feed(&h, VSM_CARRY_EV_FORGET);
        g_assert_true(has(a, VSM_CARRY_ACT_CT_FLUSH));
        g_assert_false(has(a, VSM_CARRY_ACT_CT_UNDO));
        g_assert_cmpuint(index_of(a, VSM_CARRY_ACT_CT_FLUSH), <, index_of(a, VSM_CARRY_ACT_FORGET));
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_CT_PRESTAGE], ==, 1);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_CT_DELTA], ==, 1);
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_CT_STOP], ==, 0);
}

/* Source, a migration that fails: learning stops, the entries stay (the
 * VM runs here), and a later forget of a local domain deletes nothing. */
static void test_ct_source_failed(void) {
        Host h;
        const VsmCarryActions *a;

        host_init(&h, &ct_cfg);
        host_running(&h);
        g_assert_true(peer_auth(&h));
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_CT_PRESTAGE], ==, 1);
        update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        a = feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_FAILED_BACK, .running = true, .has_info = true });
        g_assert_true(has(a, VSM_CARRY_ACT_CT_STOP));
        update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
        /* No delta without learning, even if a SUSPENDED came late. */
        g_assert_false(has(feed(&h, VSM_CARRY_EV_SUSPENDED), VSM_CARRY_ACT_CT_DELTA));
        a = feed(&h, VSM_CARRY_EV_FORGET);
        g_assert_false(has(a, VSM_CARRY_ACT_CT_FLUSH));
        g_assert_true(has(a, VSM_CARRY_ACT_FORGET));
}

/* Destination: batches installed only while incoming; a migration that
 * never resumed here is undone, one that did is kept. */
static void test_ct_destination(void) {
        Host h;
        const VsmCarryActions *a;

        host_init(&h, &ct_cfg);
        /* Not incoming: a batch is ignored. */
        g_assert_false(has(feed(&h, VSM_CARRY_EV_CT_RECEIVED), VSM_CARRY_ACT_CT_INSTALL));
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        update(&h, DST, VSM_MIG_PHASE_INCOMING);
        g_assert_true(has(feed(&h, VSM_CARRY_EV_CT_RECEIVED), VSM_CARRY_ACT_CT_INSTALL));
        g_assert_true(has(feed(&h, VSM_CARRY_EV_CT_RECEIVED), VSM_CARRY_ACT_CT_INSTALL));
        /* domjobabort: the incoming domain goes away before RESUMED. */
        a = feed(&h, VSM_CARRY_EV_FORGET);
        g_assert_true(has(a, VSM_CARRY_ACT_CT_UNDO));
        g_assert_false(has(a, VSM_CARRY_ACT_CT_FLUSH));

        host_init(&h, &ct_cfg);
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        update(&h, DST, VSM_MIG_PHASE_PRE_ASSOCIATED);
        g_assert_true(has(feed(&h, VSM_CARRY_EV_CT_RECEIVED), VSM_CARRY_ACT_CT_INSTALL));
        feed(&h, VSM_CARRY_EV_SWITCHOVER_RECEIVED);
        feed(&h, VSM_CARRY_EV_SWITCHOVER_ACCEPTED);
        feed(&h, VSM_CARRY_EV_RESUMED);
        update(&h, LOCAL, VSM_MIG_PHASE_RUNNING);
        g_assert_false(has(feed(&h, VSM_CARRY_EV_CT_RECEIVED), VSM_CARRY_ACT_CT_INSTALL));
        a = feed(&h, VSM_CARRY_EV_FORGET);
        g_assert_false(has(a, VSM_CARRY_ACT_CT_UNDO));
}

/* Source without a peer channel (nothing carried): the VM's entries are
 * still deleted once it left. */
static void test_ct_source_no_peer(void) {
        Host h;
        const VsmCarryActions *a;

        host_init(&h, &ct_cfg);
        host_running(&h);
        update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        a = feed(&h, VSM_CARRY_EV_SUSPENDED);
        g_assert_false(has(a, VSM_CARRY_ACT_CT_DELTA));
        update(&h, SRC, VSM_MIG_PHASE_SUSPENDED);
        a = feed(&h, VSM_CARRY_EV_FORGET);
        g_assert_true(has(a, VSM_CARRY_ACT_CT_FLUSH));
        g_assert_cmpuint(h.count[VSM_CARRY_ACT_CT_PRESTAGE], ==, 0);
}

/* [conntrack] enabled = false: no conntrack action, ever. */
static void test_ct_off(void) {
        Host h;

        host_init(&h, NULL);
        host_running(&h);
        g_assert_true(peer_auth(&h));
        update(&h, SRC, VSM_MIG_PHASE_MIGRATING);
        feed(&h, VSM_CARRY_EV_SUSPENDED);
        feed_in(&h, (VsmCarryInput) { .ev = VSM_CARRY_EV_SWITCHOVER_SENT, .sent = true });
        feed(&h, VSM_CARRY_EV_FORGET);
        for (int t = VSM_CARRY_ACT_CT_PRESTAGE; t <= VSM_CARRY_ACT_CT_UNDO; t++)
                g_assert_cmpuint(h.count[t], ==, 0);
        host_init(&h, NULL);
        incoming(&h, VSM_CARRY_SNAPSHOT_PEER);
        feed(&h, VSM_CARRY_EV_CT_RECEIVED);
        feed(&h, VSM_CARRY_EV_FORGET);
        for (int t = VSM_CARRY_ACT_CT_PRESTAGE; t <= VSM_CARRY_ACT_CT_UNDO; t++)
                g_assert_cmpuint(h.count[t], ==, 0);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/sm/carry/strings", test_strings);
        g_test_add_func("/sm/carry/ct-source", test_ct_source);
        g_test_add_func("/sm/carry/ct-source-failed", test_ct_source_failed);
        g_test_add_func("/sm/carry/ct-destination", test_ct_destination);
        g_test_add_func("/sm/carry/ct-off", test_ct_off);
        g_test_add_func("/sm/carry/ct-source-no-peer", test_ct_source_no_peer);
        g_test_add_func("/sm/carry/bad-event", test_bad_event);
        g_test_add_func("/sm/carry/creates", test_creates);
        g_test_add_func("/sm/carry/source-normal", test_source_normal);
        g_test_add_func("/sm/carry/destination-normal", test_destination_normal);
        g_test_add_func("/sm/carry/takeover-retries", test_takeover_retries);
        g_test_add_func("/sm/carry/failed-before-switchover", test_failed_before_switchover);
        g_test_add_func("/sm/carry/failed-token-written-now", test_failed_token_written_now);
        g_test_add_func("/sm/carry/failed-after-switchover", test_failed_after_switchover);
        g_test_add_func("/sm/carry/late-replay", test_late_replay);
        g_test_add_func("/sm/carry/back-to-back", test_back_to_back);
        g_test_add_func("/sm/carry/takeover-not-written", test_takeover_not_written);
        g_test_add_func("/sm/carry/token-once", test_token_once);
        g_test_add_func("/sm/carry/peer-answer", test_peer_answer);
        g_test_add_func("/sm/carry/debounce", test_debounce);
        g_test_add_func("/sm/carry/config-off", test_config_off);
        g_test_add_func("/sm/carry/every-event-every-state", test_every_event_every_state);
        g_test_add_func("/sm/carry/random-walk", test_random_walk);
        g_test_add_func("/sm/carry/step-source", test_step_source);
        g_test_add_func("/sm/carry/step-destination", test_step_destination);
        g_test_add_func("/sm/carry/step-random-walk", test_step_random_walk);
        g_test_add_func("/sm/carry/step-destination-no-hook", test_step_destination_no_hook);
        g_test_add_func("/sm/carry/write-cancelled-by-migration", test_write_cancelled_by_migration);
        return g_test_run();
}

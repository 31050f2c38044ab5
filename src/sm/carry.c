/* Per-domain carry policy (see sm/carry.h): the decisions of the state
 * carry (DESIGN.md sections 2, 4 and 7) as a pure machine, so that the
 * fake clock sees when the snapshot is written, the token minted, the
 * SWITCHOVER sent, the state replayed and the leaves sent.
 *
 * Each handler looks at the event, the facts it carries and the policy's
 * state, updates the state and appends the actions in the order the
 * daemon must carry them out.  The snapshot's timer is the only one:
 * policy_schedule_write() is the single place that arms it. */
#include "sm/carry.h"

#include <errno.h>
#include <string.h>

#define CARRY_STR_(x) #x
#define CARRY_STR(x) CARRY_STR_(x)

static const char *const event_names[_VSM_CARRY_EV_MAX] = {
        [VSM_CARRY_EV_UPDATE] = "update",
        [VSM_CARRY_EV_ADOPTED] = "adopted",
        [VSM_CARRY_EV_INCOMING] = "incoming",
        [VSM_CARRY_EV_REPLAY] = "replay",
        [VSM_CARRY_EV_SUSPENDED] = "suspended",
        [VSM_CARRY_EV_SWITCHOVER_SENT] = "switchover-sent",
        [VSM_CARRY_EV_RESUMED] = "resumed",
        [VSM_CARRY_EV_FAILED_BACK] = "failed-back",
        [VSM_CARRY_EV_RUNNING] = "running",
        [VSM_CARRY_EV_FORGET] = "forget",
        [VSM_CARRY_EV_LEARNER_CHANGED] = "learner-changed",
        [VSM_CARRY_EV_SEEDED] = "seeded",
        [VSM_CARRY_EV_PEER_AUTH] = "peer-auth",
        [VSM_CARRY_EV_PEER_UP] = "peer-up",
        [VSM_CARRY_EV_PEER_ENDED] = "peer-ended",
        [VSM_CARRY_EV_SWITCHOVER_RECEIVED] = "switchover-received",
        [VSM_CARRY_EV_SWITCHOVER_ACCEPTED] = "switchover-accepted",
        [VSM_CARRY_EV_SWITCHOVER_REFUSED] = "switchover-refused",
        [VSM_CARRY_EV_TIMER] = "timer",
        [VSM_CARRY_EV_WRITE_NOT_STARTED] = "write-not-started",
        [VSM_CARRY_EV_WRITE_DONE] = "write-done",
        [VSM_CARRY_EV_WRITE_REFUSED] = "write-refused",
        [VSM_CARRY_EV_CT_RECEIVED] = "ct-received",
};

static const char *const action_names[_VSM_CARRY_ACT_MAX] = {
        [VSM_CARRY_ACT_LEARN_ON] = "learn-on",
        [VSM_CARRY_ACT_STREAM_CHANGED] = "stream-changed",
        [VSM_CARRY_ACT_STREAM_ALL] = "stream-all",
        [VSM_CARRY_ACT_SEND_SWITCHOVER] = "send-switchover",
        [VSM_CARRY_ACT_REPLAY] = "replay",
        [VSM_CARRY_ACT_SEND_LEAVES] = "send-leaves",
        [VSM_CARRY_ACT_SEND_QUERIES] = "send-queries",
        [VSM_CARRY_ACT_REPORT_RESUMED] = "report-resumed",
        [VSM_CARRY_ACT_MINT_TOKEN] = "mint-token",
        [VSM_CARRY_ACT_WRITE_SNAPSHOT] = "write-snapshot",
        [VSM_CARRY_ACT_ARM_TIMER] = "arm-timer",
        [VSM_CARRY_ACT_CANCEL_TIMER] = "cancel-timer",
        [VSM_CARRY_ACT_CANCEL_WRITE] = "cancel-write",
        [VSM_CARRY_ACT_TAKE_INCOMING] = "take-incoming",
        [VSM_CARRY_ACT_CONNECT_PEER] = "connect-peer",
        [VSM_CARRY_ACT_PEER_NOT_OPENED] = "peer-not-opened",
        [VSM_CARRY_ACT_ACCEPT_PEER] = "accept-peer",
        [VSM_CARRY_ACT_DROP_PEER] = "drop-peer",
        [VSM_CARRY_ACT_FORWARD_SWITCHOVER] = "forward-switchover",
        [VSM_CARRY_ACT_TAKEOVER] = "takeover",
        [VSM_CARRY_ACT_NOTE] = "note",
        [VSM_CARRY_ACT_FORGET] = "forget",
        [VSM_CARRY_ACT_CT_PRESTAGE] = "ct-prestage",
        [VSM_CARRY_ACT_CT_DELTA] = "ct-delta",
        [VSM_CARRY_ACT_CT_STOP] = "ct-stop",
        [VSM_CARRY_ACT_CT_FLUSH] = "ct-flush",
        [VSM_CARRY_ACT_CT_INSTALL] = "ct-install",
        [VSM_CARRY_ACT_CT_UNDO] = "ct-undo",
};

static const char *const snapshot_names[_VSM_CARRY_SNAPSHOT_MAX] = {
        [VSM_CARRY_SNAPSHOT_NONE] = "none",
        [VSM_CARRY_SNAPSHOT_REFUSED] = "refused",
        [VSM_CARRY_SNAPSHOT_NO_ORIGIN] = "no-origin",
        [VSM_CARRY_SNAPSHOT_SELF] = "self",
        [VSM_CARRY_SNAPSHOT_PEER] = "peer",
};

const char *vsm_carry_event_to_string(VsmCarryEvent e) {
        return (unsigned) e < _VSM_CARRY_EV_MAX ? event_names[e] : "?";
}

const char *vsm_carry_action_type_to_string(VsmCarryActionType t) {
        return (unsigned) t < _VSM_CARRY_ACT_MAX ? action_names[t] : "?";
}

const char *vsm_carry_snapshot_to_string(VsmCarrySnapshot s) {
        return (unsigned) s < _VSM_CARRY_SNAPSHOT_MAX ? snapshot_names[s] : "?";
}

static VsmCarryAction *act(VsmCarryActions *ret, VsmCarryActionType type) {
        VsmCarryAction *a;

        /* No handler appends more than VSM_CARRY_ACTIONS_MAX (checked by
         * the tests); past it, the last slot is reused, never overrun. */
        if (ret->n >= VSM_CARRY_ACTIONS_MAX)
                ret->n = VSM_CARRY_ACTIONS_MAX - 1;
        a = &ret->a[ret->n++];
        memset(a, 0, sizeof(*a));
        a->type = type;
        return a;
}

static void note(VsmCarryActions *ret, const char *text) {
        act(ret, VSM_CARRY_ACT_NOTE)->note = text;
}

const VsmCarryAction *vsm_carry_actions_find(const VsmCarryActions *a, VsmCarryActionType type) {
        for (size_t i = 0; a && i < a->n; i++)
                if (a->a[i].type == type)
                        return &a->a[i];
        return NULL;
}

void vsm_carry_policy_init(VsmCarryPolicy *p, const VsmCarryConfig *cfg) {
        memset(p, 0, sizeof(*p));
        if (cfg)
                p->cfg = *cfg;
        p->role = VSM_MIG_ROLE_LOCAL;
        p->phase = VSM_MIG_PHASE_IDLE;
}

/* Learning follows the role and phase: while the domain runs here, while
 * it is migrated away, and on a destination once it resumed here. */
static bool policy_learns(const VsmCarryConfig *cfg, VsmMigRole role, VsmMigPhase phase, bool resumed) {
        if (!cfg->learn)
                return false;
        return (role == VSM_MIG_ROLE_LOCAL && phase == VSM_MIG_PHASE_RUNNING) ||
               (role == VSM_MIG_ROLE_SOURCE &&
                (phase == VSM_MIG_PHASE_MIGRATING || phase == VSM_MIG_PHASE_SUSPENDED)) ||
               (role == VSM_MIG_ROLE_DESTINATION && phase == VSM_MIG_PHASE_SWITCHED && resumed);
}

/* The snapshot is the origin's: written only while the domain runs here,
 * never while it is migrated away (libvirt refuses then anyway, and the
 * destination already has the XML it reads). */
static bool policy_writes(const VsmCarryConfig *cfg, VsmMigRole role, VsmMigPhase phase) {
        return cfg->learn && role == VSM_MIG_ROLE_LOCAL && phase == VSM_MIG_PHASE_RUNNING;
}

bool vsm_carry_policy_creates(const VsmCarryConfig *cfg, const VsmCarryInput *in) {
        if (!cfg || !in)
                return false;
        if (in->ev == VSM_CARRY_EV_UPDATE)
                return policy_learns(cfg, in->role, in->phase, false);
        if (in->ev == VSM_CARRY_EV_INCOMING)
                return cfg->replay;
        return false;
}

static void policy_cancel_timer(VsmCarryPolicy *p, VsmCarryActions *ret) {
        if (!p->timer_armed)
                return;
        p->timer_armed = false;
        act(ret, VSM_CARRY_ACT_CANCEL_TIMER);
}

/* Debounce: a change arms the timer once; a refused write retries after
 * VSM_CARRY_WRITE_RETRY_USEC; the takeover snapshot goes at once and is
 * retried fast. */
static void policy_schedule_write(VsmCarryPolicy *p, uint64_t generation, uint64_t now_usec, VsmCarryActions *ret) {
        uint64_t delay;

        if (!p->writes_allowed || !p->cfg.can_write || p->timer_armed || p->write_inflight)
                return;
        if (p->written_once && p->written_generation == generation)
                return;
        if (p->takeover_write || p->token_write)
                delay = p->written_once ? VSM_CARRY_TAKEOVER_RETRY_USEC : 0;
        else
                delay = p->written_generation == UINT64_MAX ? VSM_CARRY_WRITE_RETRY_USEC : p->cfg.write_interval_usec;
        p->timer_armed = true;
        p->timer_at_usec = now_usec + delay;
        act(ret, VSM_CARRY_ACT_ARM_TIMER)->at_usec = p->timer_at_usec;
}

static void policy_mint(VsmCarryPolicy *p, VsmCarryActions *ret) {
        p->token_used = false;
        p->written_once = false;
        /* A destination reads the token from the <metadata>: a new one
         * goes there at once (and is retried fast), or a migration
         * retried now would authenticate with the old one. */
        p->token_write = true;
        p->takeover_tries = 0;
        act(ret, VSM_CARRY_ACT_MINT_TOKEN);
}

/* After a mint: a write already scheduled for later goes now. */
static void policy_write_now(VsmCarryPolicy *p, uint64_t generation, uint64_t now_usec, VsmCarryActions *ret) {
        if (p->timer_armed && p->timer_at_usec > now_usec)
                policy_cancel_timer(p, ret);
        policy_schedule_write(p, generation, now_usec, ret);
}

static void on_update(VsmCarryPolicy *p, const VsmCarryInput *in, uint64_t now, VsmCarryActions *ret) {
        bool learn = policy_learns(&p->cfg, in->role, in->phase, p->resumed);
        bool writes = policy_writes(&p->cfg, in->role, in->phase);

        if (in->role == VSM_MIG_ROLE_SOURCE && p->role != VSM_MIG_ROLE_SOURCE)
                p->replayed_as_source = false;
        p->role = in->role;
        p->phase = in->phase;
        p->learning = learn;
        if (learn)
                act(ret, VSM_CARRY_ACT_LEARN_ON);
        p->writes_allowed = writes;
        if (writes && p->incoming) {
                /* The migration into here is over: this host owns the VM
                 * now, with a token of its own, written at once: until
                 * then a next migration would go to the previous host
                 * with its token (back-to-back A->B->C). */
                note(ret, "carried state taken over: learning here now");
                act(ret, VSM_CARRY_ACT_TAKEOVER);
                p->incoming = false;
                policy_mint(p, ret);
                p->takeover_write = true;
                p->takeover_tries = 0;
                policy_cancel_timer(p, ret);
        }
        if (writes) {
                policy_schedule_write(p, in->generation, now, ret);
                return;
        }
        policy_cancel_timer(p, ret);
        if (p->write_inflight) {
                /* libvirt holds a write behind the migration job (up to
                 * 30 s), then refuses it: cancel it, write again later
                 * if this host keeps the domain. */
                p->write_inflight = false;
                p->written_once = p->written_once_before;
                p->written_generation = UINT64_MAX;
                act(ret, VSM_CARRY_ACT_CANCEL_WRITE);
        }
        if (p->takeover_write && !p->write_inflight)
                note(ret, "migrating away before the takeover snapshot was written: "
                          "the next destination finds the previous origin");
        p->takeover_write = false;
}

static void on_incoming(VsmCarryPolicy *p, const VsmCarryInput *in, VsmCarryActions *ret) {
        if (!p->cfg.replay || p->incoming || in->has_nics)
                return;                 /* already incoming, or it runs here */
        p->incoming = true;
        p->switchover_received = p->switchover_refused = false;
        p->replayed = p->replay_late = p->resumed = false;
        act(ret, VSM_CARRY_ACT_TAKE_INCOMING);
        if (in->snapshot != VSM_CARRY_SNAPSHOT_PEER)
                return;
        /* Never to an origin that cannot be authenticated (DESIGN.md
         * section 7): the replay then waits for RESUMED. */
        act(ret, p->cfg.secure ? VSM_CARRY_ACT_CONNECT_PEER : VSM_CARRY_ACT_PEER_NOT_OPENED);
}

static void replay_failback(VsmCarryPolicy *p, VsmCarryActions *ret) {
        p->switchover_sent = false;
        p->failback_pending = false;
        p->replayed_as_source = true;
        act(ret, VSM_CARRY_ACT_REPLAY)->failback = true;
}

/* The source after a failed migration: the old destination's token is
 * void; when SWITCHOVER had gone out (the destination may have replayed),
 * take the VM's bindings back, but only while it runs here. */
static void on_failed_back(VsmCarryPolicy *p, const VsmCarryInput *in, uint64_t now, VsmCarryActions *ret) {
        act(ret, VSM_CARRY_ACT_DROP_PEER);
        if (p->ct_learning) {
                p->ct_learning = false;
                act(ret, VSM_CARRY_ACT_CT_STOP);
        }
        policy_mint(p, ret);
        policy_write_now(p, in->generation, now, ret);
        note(ret, "migration failed: new token, the old destination's channel closed");
        if (!p->switchover_sent || !p->cfg.replay || !in->has_info)
                return;
        if (in->running) {
                replay_failback(p, ret);
                return;
        }
        p->failback_pending = true;
        note(ret, "the VM is paused here: the replay from the source waits until it runs");
}

static void on_timer(VsmCarryPolicy *p, const VsmCarryInput *in, VsmCarryActions *ret) {
        p->timer_armed = false;
        if (!p->writes_allowed || p->write_inflight || !p->cfg.can_write)
                return;
        p->write_inflight = true;
        p->written_once_before = p->written_once;
        p->written_once = true;
        p->written_generation = in->generation;
        act(ret, VSM_CARRY_ACT_WRITE_SNAPSHOT);
}

static void on_write_refused(VsmCarryPolicy *p, const VsmCarryInput *in, uint64_t now, VsmCarryActions *ret) {
        if (!p->write_inflight)
                return;
        /* libvirt refuses while a job (the migration) holds the domain:
         * expected; try again later if still wanted. */
        p->write_inflight = false;
        if ((p->takeover_write || p->token_write) && ++p->takeover_tries >= VSM_CARRY_TAKEOVER_TRIES) {
                note(ret, p->takeover_write ? "takeover snapshot not written after " CARRY_STR(VSM_CARRY_TAKEOVER_TRIES)
                                              " tries"
                                            : "new token not written after " CARRY_STR(VSM_CARRY_TAKEOVER_TRIES) " tries");
                p->takeover_write = false;
                p->token_write = false;
        }
        p->written_generation = UINT64_MAX;
        policy_schedule_write(p, in->generation, now, ret);
}

static bool mig_event_is_resumed(VsmMigEvent ev) {
        return ev == VSM_MIG_EV_RESUMED_MIGRATED || ev == VSM_MIG_EV_RESUMED_POSTCOPY ||
               ev == VSM_MIG_EV_RESUMED_UNPAUSED || ev == VSM_MIG_EV_RESUMED_OTHER;
}

size_t vsm_carry_events_from_step(VsmMigEvent ev, const VsmMigAction *a, VsmMigRole old_role, VsmMigPhase old_phase,
                                  const VsmMigration *m, bool has_info, bool found_paused,
                                  VsmCarryInput ret[VSM_CARRY_STEP_EVENTS_MAX]) {
        size_t n = 0;

#define STEP_ADD(...) ret[n++] = (VsmCarryInput) { .has_info = has_info, __VA_ARGS__ }
        if (a->forget) {
                STEP_ADD(.ev = VSM_CARRY_EV_FORGET);
                return n;
        }
        if (m->role == VSM_MIG_ROLE_DESTINATION && has_info &&
            (ev == VSM_MIG_EV_HOOK_MIGRATE_BEGIN || ev == VSM_MIG_EV_HOOK_PREPARE_BEGIN ||
             ev == VSM_MIG_EV_HOOK_START_BEGIN))
                STEP_ADD(.ev = VSM_CARRY_EV_INCOMING);
        /* No hook announced this migration (libvirtd started before the
         * hook was installed): the snapshot comes from the live XML the
         * follower read for STARTED_MIGRATED. */
        else if (ev == VSM_MIG_EV_STARTED_MIGRATED && old_role != VSM_MIG_ROLE_DESTINATION &&
                 m->role == VSM_MIG_ROLE_DESTINATION && has_info)
                STEP_ADD(.ev = VSM_CARRY_EV_INCOMING, .no_hook = true);
        if (a->vdp && a->request == VSM_VDP_REQ_ASSOCIATE && (a->flags & VSM_VDP_STATUS_M))
                STEP_ADD(.ev = VSM_CARRY_EV_REPLAY, .late = m->late);
        if (m->role == VSM_MIG_ROLE_SOURCE && (ev == VSM_MIG_EV_SUSPENDED_MIGRATED || ev == VSM_MIG_EV_SUSPENDED_POSTCOPY))
                STEP_ADD(.ev = VSM_CARRY_EV_SUSPENDED);
        if (old_role == VSM_MIG_ROLE_DESTINATION && mig_event_is_resumed(ev))
                STEP_ADD(.ev = VSM_CARRY_EV_RESUMED);
        /* A failed migration: the source speaks for the VM again only
         * while it runs here (reconcile also finds it paused by a user). */
        if (old_role == VSM_MIG_ROLE_SOURCE && m->role == VSM_MIG_ROLE_LOCAL &&
            ((old_phase == VSM_MIG_PHASE_SUSPENDED && mig_event_is_resumed(ev)) || ev == VSM_MIG_EV_RECONCILE_RUNNING))
                STEP_ADD(.ev = VSM_CARRY_EV_FAILED_BACK, .running = !found_paused);
        else if (old_role == VSM_MIG_ROLE_LOCAL && m->role == VSM_MIG_ROLE_LOCAL && mig_event_is_resumed(ev))
                STEP_ADD(.ev = VSM_CARRY_EV_RUNNING);
        STEP_ADD(.ev = VSM_CARRY_EV_UPDATE, .role = m->role, .phase = m->phase);
#undef STEP_ADD
        return n;
}

int vsm_carry_policy_handle(VsmCarryPolicy *p, const VsmCarryInput *in, uint64_t now_usec, VsmCarryActions *ret) {
        ret->n = 0;
        if (!p || !in || (unsigned) in->ev >= _VSM_CARRY_EV_MAX)
                return -EINVAL;

        switch (in->ev) {
        case VSM_CARRY_EV_UPDATE:
                on_update(p, in, now_usec, ret);
                break;
        case VSM_CARRY_EV_ADOPTED:
                /* Our own snapshot, written before a restart: it is
                 * current at that generation, with the token it names. */
                p->written_once = true;
                p->written_generation = in->generation;
                break;
        case VSM_CARRY_EV_INCOMING:
                on_incoming(p, in, ret);
                break;
        case VSM_CARRY_EV_REPLAY:
                if (!p->incoming || p->replayed || !p->cfg.replay || !in->has_info)
                        break;
                p->replayed = true;
                p->replay_late = in->late;
                p->replayed_as_source = true;
                act(ret, VSM_CARRY_ACT_REPLAY)->late = in->late;
                break;
        case VSM_CARRY_EV_SUSPENDED:
                if (!in->has_nics || !p->cfg.stream)
                        break;
                /* The delta goes first on the same channel: the
                 * destination starts installing it before the replay. */
                if (p->ct_learning)
                        act(ret, VSM_CARRY_ACT_CT_DELTA);
                act(ret, VSM_CARRY_ACT_SEND_SWITCHOVER);
                break;
        case VSM_CARRY_EV_SWITCHOVER_SENT:
                if (in->sent)
                        p->switchover_sent = true;
                break;
        case VSM_CARRY_EV_RESUMED:
                if (!p->incoming || p->resumed)
                        break;
                p->resumed = true;
                act(ret, VSM_CARRY_ACT_REPORT_RESUMED);
                if (p->cfg.queries && in->has_info)
                        act(ret, VSM_CARRY_ACT_SEND_QUERIES);
                break;
        case VSM_CARRY_EV_FAILED_BACK:
                on_failed_back(p, in, now_usec, ret);
                break;
        case VSM_CARRY_EV_RUNNING:
                if (p->failback_pending && in->has_info && p->cfg.replay)
                        replay_failback(p, ret);
                break;
        case VSM_CARRY_EV_FORGET:
                /* Leaves only for a VM that left as a source: never after
                 * it failed back (then it is LOCAL again, and the replay
                 * said it is here). */
                if (p->role == VSM_MIG_ROLE_SOURCE && !p->replayed_as_source && p->cfg.leaves && in->has_info)
                        act(ret, VSM_CARRY_ACT_SEND_LEAVES);
                /* Its entries stay here from ~300 s to days otherwise. */
                if (p->role == VSM_MIG_ROLE_SOURCE && !p->replayed_as_source && p->cfg.conntrack)
                        act(ret, VSM_CARRY_ACT_CT_FLUSH);
                /* A migration that never resumed here: nothing of it stays. */
                if (p->incoming && !p->resumed && p->cfg.conntrack)
                        act(ret, VSM_CARRY_ACT_CT_UNDO);
                p->ct_learning = false;
                act(ret, VSM_CARRY_ACT_FORGET);
                break;
        case VSM_CARRY_EV_LEARNER_CHANGED:
                policy_schedule_write(p, in->generation, now_usec, ret);
                if (p->cfg.stream)
                        act(ret, VSM_CARRY_ACT_STREAM_CHANGED);
                break;
        case VSM_CARRY_EV_SEEDED:
                policy_schedule_write(p, in->generation, now_usec, ret);
                break;
        case VSM_CARRY_EV_PEER_AUTH:
                /* A domain a destination may migrate from here: it runs
                 * here with its vNICs watched and is not itself arriving.
                 * The token is taken once. */
                if (!in->has_nics || p->incoming || p->token_used)
                        break;
                p->token_used = true;
                act(ret, VSM_CARRY_ACT_ACCEPT_PEER);
                break;
        case VSM_CARRY_EV_PEER_UP:
                act(ret, VSM_CARRY_ACT_STREAM_ALL);
                /* After the first state: the destination has the vNICs'
                 * addresses to re-check the entries against. */
                if (p->cfg.conntrack && in->has_nics) {
                        p->ct_learning = true;
                        act(ret, VSM_CARRY_ACT_CT_PRESTAGE);
                }
                break;
        case VSM_CARRY_EV_CT_RECEIVED:
                if (p->incoming && p->cfg.conntrack)
                        act(ret, VSM_CARRY_ACT_CT_INSTALL);
                break;
        case VSM_CARRY_EV_PEER_ENDED:
                /* Its token is spent: the next migration gets a new one
                 * in the snapshot. */
                if (!in->has_nics || p->incoming)
                        break;
                policy_mint(p, ret);
                note(ret, p->switchover_sent ? "peer: the destination's connection ended after the SWITCHOVER: "
                                               "new token for the next migration"
                                             : "peer: the destination's connection ended before the SWITCHOVER: "
                                               "new token for the next migration");
                policy_schedule_write(p, in->generation, now_usec, ret);
                break;
        case VSM_CARRY_EV_SWITCHOVER_RECEIVED:
                if (p->incoming && !p->switchover_received)
                        act(ret, VSM_CARRY_ACT_FORWARD_SWITCHOVER);
                break;
        case VSM_CARRY_EV_SWITCHOVER_ACCEPTED:
                p->switchover_received = true;
                break;
        case VSM_CARRY_EV_SWITCHOVER_REFUSED:
                /* Before the incoming domain started here, associating
                 * would move the VSI to a host without it. */
                if (!p->switchover_refused)
                        note(ret, "peer: SWITCHOVER refused: the incoming domain is not started here yet; "
                                  "channel closed, the replay waits for RESUMED (late)");
                p->switchover_refused = true;
                act(ret, VSM_CARRY_ACT_DROP_PEER);
                break;
        case VSM_CARRY_EV_TIMER:
                on_timer(p, in, ret);
                break;
        case VSM_CARRY_EV_WRITE_NOT_STARTED:
                if (!p->write_inflight)
                        break;
                p->write_inflight = false;
                p->written_once = p->written_once_before;
                p->written_generation = UINT64_MAX;
                policy_schedule_write(p, in->generation, now_usec, ret);
                break;
        case VSM_CARRY_EV_WRITE_DONE:
                if (!p->write_inflight)
                        break;
                p->write_inflight = false;
                if (p->takeover_write)
                        note(ret, "snapshot written: this host is the origin now");
                p->takeover_write = false;
                p->token_write = false;
                break;
        case VSM_CARRY_EV_WRITE_REFUSED:
                on_write_refused(p, in, now_usec, ret);
                break;
        default:
                break;
        }
        return 0;
}

VsmCarryPeerAnswer vsm_carry_policy_peer_answer(const VsmCarryPolicy *p, bool job_asked, VsmMigJobOp job) {
        if (p->role == VSM_MIG_ROLE_SOURCE && (p->phase == VSM_MIG_PHASE_MIGRATING || p->phase == VSM_MIG_PHASE_SUSPENDED))
                return VSM_CARRY_PEER_PROVE;
        /* A domain arriving here, or gone already, is not ours to prove. */
        if (p->incoming || p->phase == VSM_MIG_PHASE_GONE)
                return VSM_CARRY_PEER_REFUSE;
        if (!job_asked)
                return VSM_CARRY_PEER_ASK_JOB;
        return job == VSM_MIG_JOB_OP_MIGRATION_OUT ? VSM_CARRY_PEER_PROVE : VSM_CARRY_PEER_REFUSE;
}

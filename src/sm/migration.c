/* Per-domain migration state machine (see sm/migration.h): which VDP22
 * request, with the M- or S-bit of the request status (IEEE 802.1Qbg-2012
 * clause 41), to send for a domain's vNICs as libvirt's qemu hooks and
 * domain lifecycle events report a live migration on this host.
 * DESIGN.md §2 has the measured timeline on both hosts.
 *
 * Transitions and entry actions are separate:
 *   - mig_transition() looks at the event and the current phase and picks
 *     the next phase and the timeline note, plus two facts about the step:
 *     the switch came from the peer's SWITCHOVER signal, or the incoming
 *     migration is complete (then the destination becomes a local domain
 *     right after its switch);
 *   - mig_enter() is the only place that fills in a VDP request.  Each
 *     phase stands for one state of the domain's VSIs at the bridge
 *     (mig_phase_bridge()); entering a phase whose bridge state differs
 *     from the current one sends the request that gets there
 *     (mig_phase_request()), and entering GONE forgets the domain.
 * A phase is never re-entered from itself, so each request goes out at
 * most once per migration, whichever of its triggers comes first
 * (PRE-ASSOCIATE at "start begin" or STARTED_MIGRATED; ASSOCIATE-M at
 * SWITCHOVER or RESUMED; DE-ASSOCIATE at "stopped end" or STOPPED_*).
 *
 * Decisions where the header leaves room:
 *   - Only the "migrate begin" hook, STARTED_MIGRATED and
 *     RECONCILE_INCOMING make a destination.  A plain boot runs the same
 *     "prepare"/"start"/"started" hooks, so on an untracked domain those
 *     are noted and the machine waits for the lifecycle event.  The
 *     "started begin" hook pre-associates like "start begin" when the
 *     latter was missed (the tap exists by then).
 *   - Every STOPPED_* detail de-associates, in every phase (the VM is not
 *     running here any more): also STOPPED_MIGRATED of a domain whose
 *     SUSPENDED_MIGRATED never came (a paused VM migrates without one),
 *     and STOPPED_FAILED of a local one.  The "stopped end" hook
 *     de-associates only where the header says so (destination before the
 *     switch, source after the S-bit association); elsewhere the stop
 *     reason or "release end" follows within milliseconds.
 *   - The destination's migration completes at RESUMED_MIGRATED (which
 *     libvirt also sends at the very end of a post-copy migration, after
 *     RESUMED_POSTCOPY), JOB_COMPLETED, SUSPENDED_PAUSED (--suspend) or
 *     RECONCILE_RUNNING: the domain is then local (RUNNING).  Before that
 *     it stays SWITCHED.
 *   - A machine that holds nothing (IDLE, GONE) and gets an event that
 *     starts nothing goes to GONE and says forget, so the daemon can
 *     create a machine for any event of an unknown domain and simply obey
 *     `forget`.  The start hooks keep an IDLE machine (a boot is under
 *     way).  GONE otherwise behaves like IDLE.
 *   - A precopy iteration or SUSPENDED_MIGRATED of an untracked domain
 *     (the daemon missed its start) makes a source all the same; the
 *     iteration associates it (without flags), as the domain runs here.
 *   - RECONCILE_RUNNING means "running here, no migration job": it also
 *     ends a source whose precopy was aborted (libvirt sends no event
 *     then) and completes an incoming migration the daemon missed.
 *   - RECONCILE_INCOMING is ignored for a domain we think runs here: a
 *     source in its paused window has the same state and reason
 *     (paused, migration) as an incoming domain.
 */
#include "sm/migration.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* libvirt's virDomainEventType and its detail enums, from libvirt-domain.h
 * (checked against the installed libvirt 9.0 header).  They are ABI and
 * never change; repeated here so that src/sm does not depend on libvirt. */
enum {
        MIG_LV_EVENT_DEFINED = 0,
        MIG_LV_EVENT_UNDEFINED = 1,
        MIG_LV_EVENT_STARTED = 2,
        MIG_LV_EVENT_SUSPENDED = 3,
        MIG_LV_EVENT_RESUMED = 4,
        MIG_LV_EVENT_STOPPED = 5,
        MIG_LV_EVENT_SHUTDOWN = 6,
        MIG_LV_EVENT_PMSUSPENDED = 7,
        MIG_LV_EVENT_CRASHED = 8,
};

enum {
        MIG_LV_STARTED_BOOTED = 0,
        MIG_LV_STARTED_MIGRATED = 1,
        MIG_LV_STARTED_RESTORED = 2,
        MIG_LV_STARTED_FROM_SNAPSHOT = 3,
        MIG_LV_STARTED_WAKEUP = 4,
};

enum {
        MIG_LV_SUSPENDED_PAUSED = 0,
        MIG_LV_SUSPENDED_MIGRATED = 1,
        MIG_LV_SUSPENDED_IOERROR = 2,
        MIG_LV_SUSPENDED_WATCHDOG = 3,
        MIG_LV_SUSPENDED_RESTORED = 4,
        MIG_LV_SUSPENDED_FROM_SNAPSHOT = 5,
        MIG_LV_SUSPENDED_API_ERROR = 6,
        MIG_LV_SUSPENDED_POSTCOPY = 7,
        MIG_LV_SUSPENDED_POSTCOPY_FAILED = 8,
};

enum {
        MIG_LV_RESUMED_UNPAUSED = 0,
        MIG_LV_RESUMED_MIGRATED = 1,
        MIG_LV_RESUMED_FROM_SNAPSHOT = 2,
        MIG_LV_RESUMED_POSTCOPY = 3,
        MIG_LV_RESUMED_POSTCOPY_FAILED = 4,
};

enum {
        MIG_LV_STOPPED_SHUTDOWN = 0,
        MIG_LV_STOPPED_DESTROYED = 1,
        MIG_LV_STOPPED_CRASHED = 2,
        MIG_LV_STOPPED_MIGRATED = 3,
        MIG_LV_STOPPED_SAVED = 4,
        MIG_LV_STOPPED_FAILED = 5,
        MIG_LV_STOPPED_FROM_SNAPSHOT = 6,
};

/* What the domain's VSIs are at the bridge in each phase. */
typedef enum MigBridge {
        MIG_BRIDGE_NONE,
        MIG_BRIDGE_PRE,           /* PRE-ASSOCIATE(-RR) with M */
        MIG_BRIDGE_ASSOC,         /* ASSOCIATE (the M-bit of a switch is one-shot) */
        MIG_BRIDGE_ASSOC_S,       /* ASSOCIATE with S: the source is paused */
} MigBridge;

/* The decision of one transition. */
typedef struct MigTransition {
        VsmMigPhase next;
        bool switchover;          /* the peer's SWITCHOVER made the switch */
        bool complete;            /* incoming migration over: local after the switch */
        const char *note;
} MigTransition;

static MigBridge mig_phase_bridge(VsmMigPhase p) {
        switch (p) {
        case VSM_MIG_PHASE_PRE_ASSOCIATED:
                return MIG_BRIDGE_PRE;
        case VSM_MIG_PHASE_RUNNING:
        case VSM_MIG_PHASE_SWITCHED:
        case VSM_MIG_PHASE_MIGRATING:
                return MIG_BRIDGE_ASSOC;
        case VSM_MIG_PHASE_SUSPENDED:
                return MIG_BRIDGE_ASSOC_S;
        case VSM_MIG_PHASE_IDLE:
        case VSM_MIG_PHASE_INCOMING:
        case VSM_MIG_PHASE_GONE:
        case _VSM_MIG_PHASE_MAX:
                break;
        }
        return MIG_BRIDGE_NONE;
}

/* The request that brings the bridge to phase p's state. */
static void mig_phase_request(VsmMigPhase p, const VsmMigConfig *cfg, VsmVdpRequest *ret_request,
                              uint8_t *ret_flags) {
        switch (p) {
        case VSM_MIG_PHASE_PRE_ASSOCIATED:
                *ret_request = cfg->pre_assoc_rr ? VSM_VDP_REQ_PRE_ASSOCIATE_RR : VSM_VDP_REQ_PRE_ASSOCIATE;
                *ret_flags = VSM_VDP_STATUS_M;
                return;
        case VSM_MIG_PHASE_SWITCHED:
                *ret_request = VSM_VDP_REQ_ASSOCIATE;
                *ret_flags = VSM_VDP_STATUS_M;
                return;
        case VSM_MIG_PHASE_SUSPENDED:
                *ret_request = VSM_VDP_REQ_ASSOCIATE;
                *ret_flags = VSM_VDP_STATUS_S;
                return;
        case VSM_MIG_PHASE_RUNNING:
        case VSM_MIG_PHASE_MIGRATING:
                *ret_request = VSM_VDP_REQ_ASSOCIATE;
                *ret_flags = 0;
                return;
        case VSM_MIG_PHASE_IDLE:
        case VSM_MIG_PHASE_INCOMING:
        case VSM_MIG_PHASE_GONE:
        case _VSM_MIG_PHASE_MAX:
                break;
        }
        *ret_request = VSM_VDP_REQ_DE_ASSOCIATE;
        *ret_flags = 0;
}

/* The role a phase belongs to; GONE keeps the current one (for the last
 * note and status), IDLE is a fresh local domain. */
static VsmMigRole mig_phase_role(VsmMigPhase p, VsmMigRole current) {
        switch (p) {
        case VSM_MIG_PHASE_IDLE:
        case VSM_MIG_PHASE_RUNNING:
                return VSM_MIG_ROLE_LOCAL;
        case VSM_MIG_PHASE_INCOMING:
        case VSM_MIG_PHASE_PRE_ASSOCIATED:
        case VSM_MIG_PHASE_SWITCHED:
                return VSM_MIG_ROLE_DESTINATION;
        case VSM_MIG_PHASE_MIGRATING:
        case VSM_MIG_PHASE_SUSPENDED:
                return VSM_MIG_ROLE_SOURCE;
        case VSM_MIG_PHASE_GONE:
        case _VSM_MIG_PHASE_MAX:
                break;
        }
        return current;
}

static bool mig_phase_is_empty(VsmMigPhase p) {
        return p == VSM_MIG_PHASE_IDLE || p == VSM_MIG_PHASE_GONE;
}

static bool mig_phase_is_destination(VsmMigPhase p) {
        return mig_phase_role(p, VSM_MIG_ROLE_LOCAL) == VSM_MIG_ROLE_DESTINATION;
}

/* Before the switch of an incoming migration: nothing or PRE-ASSOCIATE sent. */
static bool mig_phase_is_unswitched(VsmMigPhase p) {
        return p == VSM_MIG_PHASE_INCOMING || p == VSM_MIG_PHASE_PRE_ASSOCIATED;
}

static void mig_go(MigTransition *t, VsmMigPhase next, const char *note) {
        t->next = next;
        t->note = note;
}

/* The switch of an incoming migration on a libvirt event (no SWITCHOVER
 * from the peer yet), possibly also its end. */
static void mig_switch_late(MigTransition *t, bool complete, const char *note) {
        mig_go(t, VSM_MIG_PHASE_SWITCHED, note);
        t->complete = complete;
}

/* A machine that holds nothing got an event that starts nothing. */
static void mig_untracked(MigTransition *t) {
        mig_go(t, VSM_MIG_PHASE_GONE, "not tracked here: nothing to do, forget");
}

/* The domain stopped here (STOPPED_* or a hook that ends the domain). */
static void mig_stopped(const VsmMigration *m, MigTransition *t, const char *note) {
        if (mig_phase_bridge(m->phase) == MIG_BRIDGE_NONE)
                mig_go(t, VSM_MIG_PHASE_GONE, "stopped, nothing associated: forget");
        else
                mig_go(t, VSM_MIG_PHASE_GONE, note);
}

/* Decides the next phase for event ev.  Touches nothing but *t. */
static void mig_transition(const VsmMigration *m, VsmMigEvent ev, MigTransition *t) {
        VsmMigPhase p = m->phase;

        *t = (MigTransition) {
                .next = p,
                .note = "ignored",
        };

        switch (ev) {
        case VSM_MIG_EV_HOOK_MIGRATE_BEGIN:
                /* The first sign of an incoming migration (DESIGN.md §2: +106 ms). */
                if (mig_phase_is_empty(p))
                        mig_go(t, VSM_MIG_PHASE_INCOMING, "incoming migration: waiting for the tap");
                else if (mig_phase_is_destination(p))
                        t->note = "incoming migration already under way";
                else
                        /* libvirt refuses an incoming domain that is active
                         * here: what we held is stale. */
                        mig_go(t, VSM_MIG_PHASE_INCOMING,
                               "incoming migration of a domain thought active here: stale state dropped");
                return;

        case VSM_MIG_EV_HOOK_PREPARE_BEGIN:
                if (mig_phase_is_empty(p))
                        mig_go(t, VSM_MIG_PHASE_IDLE, "domain start under way (boot or restore)");
                else if (p == VSM_MIG_PHASE_INCOMING)
                        t->note = "preparing the incoming domain";
                return;

        case VSM_MIG_EV_HOOK_START_BEGIN:
        case VSM_MIG_EV_HOOK_STARTED_BEGIN:
                if (mig_phase_is_empty(p))
                        mig_go(t, VSM_MIG_PHASE_IDLE, "domain start under way (boot or restore)");
                else if (p == VSM_MIG_PHASE_INCOMING)
                        mig_go(t, VSM_MIG_PHASE_PRE_ASSOCIATED, "tap exists: pre-associate (M)");
                else if (p == VSM_MIG_PHASE_PRE_ASSOCIATED)
                        t->note = "already pre-associated";
                return;

        case VSM_MIG_EV_HOOK_STOPPED_END:
                if (mig_phase_is_empty(p))
                        mig_untracked(t);
                else if (mig_phase_is_unswitched(p))
                        mig_stopped(m, t, "incoming migration failed (qemu stopped): de-associate");
                else if (p == VSM_MIG_PHASE_SUSPENDED)
                        mig_stopped(m, t, "source: qemu stopped after the switch: de-associate");
                else
                        t->note = "qemu stopped: de-associate at the stop event or release";
                return;

        case VSM_MIG_EV_HOOK_RELEASE_END:
                if (mig_phase_is_empty(p))
                        mig_untracked(t);
                else if (mig_phase_is_unswitched(p))
                        mig_stopped(m, t, "incoming migration failed (released): de-associate");
                else if (p == VSM_MIG_PHASE_SUSPENDED)
                        mig_stopped(m, t, "source: released after the switch: de-associate");
                else
                        mig_stopped(m, t, "released: de-associate");
                return;

        case VSM_MIG_EV_STARTED_MIGRATED:
                if (p == VSM_MIG_PHASE_PRE_ASSOCIATED)
                        t->note = "already pre-associated at the start hook";
                else if (p == VSM_MIG_PHASE_INCOMING)
                        mig_go(t, VSM_MIG_PHASE_PRE_ASSOCIATED, "incoming domain started: pre-associate (M)");
                else if (p == VSM_MIG_PHASE_SWITCHED)
                        t->note = "ignored: already switched";
                else
                        mig_go(t, VSM_MIG_PHASE_PRE_ASSOCIATED,
                               "incoming domain started (no hook seen): pre-associate (M)");
                return;

        case VSM_MIG_EV_STARTED_BOOTED:
        case VSM_MIG_EV_STARTED_RESTORED:
        case VSM_MIG_EV_STARTED_FROM_SNAPSHOT:
        case VSM_MIG_EV_STARTED_WAKEUP:
                if (mig_phase_bridge(p) == MIG_BRIDGE_ASSOC)
                        t->note = "started: already associated";
                else
                        mig_go(t, VSM_MIG_PHASE_RUNNING, "started: associate");
                return;

        case VSM_MIG_EV_SUSPENDED_PAUSED:
                /* --suspend: the migration completes into a paused
                 * destination (DESIGN.md §2); the VM lives here now. */
                if (mig_phase_is_empty(p))
                        mig_untracked(t);
                else if (p == VSM_MIG_PHASE_PRE_ASSOCIATED)
                        mig_switch_late(t, true,
                                        "migration completed paused (--suspend), no switchover signal: "
                                        "associate (M) late");
                else if (p == VSM_MIG_PHASE_SWITCHED) {
                        t->next = VSM_MIG_PHASE_RUNNING;
                        t->note = "migration completed paused (--suspend): switchover already done";
                } else
                        t->note = "paused: nothing to send";
                return;

        case VSM_MIG_EV_SUSPENDED_MIGRATED:
        case VSM_MIG_EV_SUSPENDED_POSTCOPY:
                /* The source's paused window starts.  Not final: a failed
                 * migration resumes the domain here (DESIGN.md §2). */
                if (p == VSM_MIG_PHASE_SUSPENDED)
                        t->note = "already associated with S";
                else if (mig_phase_is_destination(p))
                        t->note = "ignored: suspended while incoming";
                else if (ev == VSM_MIG_EV_SUSPENDED_POSTCOPY)
                        mig_go(t, VSM_MIG_PHASE_SUSPENDED, "source paused for post-copy: associate (S)");
                else
                        mig_go(t, VSM_MIG_PHASE_SUSPENDED, "source paused for the switch: associate (S)");
                return;

        case VSM_MIG_EV_SUSPENDED_OTHER:
                if (mig_phase_is_empty(p))
                        mig_untracked(t);
                else
                        t->note = "suspended: nothing to send";
                return;

        case VSM_MIG_EV_RESUMED_MIGRATED:
                if (mig_phase_is_empty(p))
                        mig_untracked(t);
                else if (mig_phase_is_unswitched(p))
                        mig_switch_late(t, true,
                                        "resumed here without a switchover signal: associate (M) late");
                else if (p == VSM_MIG_PHASE_SWITCHED) {
                        t->next = VSM_MIG_PHASE_RUNNING;
                        t->note = m->late ? "resumed: migration complete (switched late at post-copy)"
                                          : "resumed: switchover already done, migration complete";
                } else if (p == VSM_MIG_PHASE_SUSPENDED)
                        mig_go(t, VSM_MIG_PHASE_RUNNING, "source resumed: migration failed, re-associate");
                else
                        t->note = "resumed: nothing to send";
                return;

        case VSM_MIG_EV_RESUMED_POSTCOPY:
                /* Destination: the guest runs here while memory still
                 * comes from the source; RESUMED_MIGRATED ends it. */
                if (mig_phase_is_empty(p))
                        mig_untracked(t);
                else if (mig_phase_is_unswitched(p))
                        mig_switch_late(t, false,
                                        "post-copy: resumed here without a switchover signal: "
                                        "associate (M) late");
                else if (p == VSM_MIG_PHASE_SWITCHED)
                        t->note = "post-copy: resumed here, switchover already done";
                else if (p == VSM_MIG_PHASE_SUSPENDED)
                        mig_go(t, VSM_MIG_PHASE_RUNNING, "source resumed: migration failed, re-associate");
                else
                        t->note = "resumed: nothing to send";
                return;

        case VSM_MIG_EV_RESUMED_UNPAUSED:
        case VSM_MIG_EV_RESUMED_OTHER:
                if (mig_phase_is_empty(p))
                        mig_untracked(t);
                else if (p == VSM_MIG_PHASE_SUSPENDED)
                        mig_go(t, VSM_MIG_PHASE_RUNNING, "source resumed: migration failed, re-associate");
                else
                        t->note = "resumed: nothing to send";
                return;

        case VSM_MIG_EV_STOPPED_MIGRATED:
                if (p == VSM_MIG_PHASE_SUSPENDED)
                        mig_stopped(m, t, "migrated away: de-associate");
                else
                        mig_stopped(m, t, "migrated away (no switch pause seen): de-associate");
                return;

        case VSM_MIG_EV_STOPPED_FAILED:
                if (mig_phase_is_unswitched(p) || p == VSM_MIG_PHASE_SWITCHED)
                        mig_stopped(m, t, "incoming migration failed: de-associate");
                else
                        mig_stopped(m, t, "stopped (failed): de-associate");
                return;

        case VSM_MIG_EV_STOPPED_SHUTDOWN:
        case VSM_MIG_EV_STOPPED_DESTROYED:
        case VSM_MIG_EV_STOPPED_CRASHED:
        case VSM_MIG_EV_STOPPED_SAVED:
        case VSM_MIG_EV_STOPPED_FROM_SNAPSHOT:
                mig_stopped(m, t, "stopped: de-associate");
                return;

        case VSM_MIG_EV_MIGRATION_ITERATION:
                if (p == VSM_MIG_PHASE_RUNNING)
                        mig_go(t, VSM_MIG_PHASE_MIGRATING, "precopy: source");
                else if (mig_phase_is_empty(p))
                        mig_go(t, VSM_MIG_PHASE_MIGRATING, "precopy of an untracked domain: source, associate");
                else if (p == VSM_MIG_PHASE_MIGRATING)
                        t->note = "precopy iteration";
                else if (p == VSM_MIG_PHASE_SUSPENDED)
                        t->note = "precopy iteration while paused";
                else
                        t->note = "ignored: precopy iteration while incoming";
                return;

        case VSM_MIG_EV_JOB_COMPLETED:
                if (mig_phase_is_empty(p))
                        mig_untracked(t);
                else if (mig_phase_is_unswitched(p))
                        mig_switch_late(t, true,
                                        "job completed without a switchover signal: associate (M) late");
                else if (p == VSM_MIG_PHASE_SWITCHED) {
                        t->next = VSM_MIG_PHASE_RUNNING;
                        t->note = "job completed: migration complete";
                } else if (p == VSM_MIG_PHASE_SUSPENDED)
                        t->note = "source job completed: de-associate at the stop";
                else
                        t->note = "job completed";
                return;

        case VSM_MIG_EV_RECONCILE_RUNNING:
                /* The daemon's view after a (re)connect: running here with
                 * no migration job. */
                if (mig_phase_is_empty(p))
                        mig_go(t, VSM_MIG_PHASE_RUNNING, "found running: associate");
                else if (p == VSM_MIG_PHASE_RUNNING)
                        t->note = "found running: already associated";
                else if (p == VSM_MIG_PHASE_MIGRATING)
                        mig_go(t, VSM_MIG_PHASE_RUNNING, "found running, migration over: local again");
                else if (p == VSM_MIG_PHASE_SUSPENDED)
                        mig_go(t, VSM_MIG_PHASE_RUNNING, "found running: migration failed, re-associate");
                else if (mig_phase_is_unswitched(p))
                        mig_switch_late(t, true, "found running after the incoming migration: associate (M) late");
                else {
                        t->next = VSM_MIG_PHASE_RUNNING;
                        t->note = "found running: migration complete";
                }
                return;

        case VSM_MIG_EV_RECONCILE_INCOMING:
                if (mig_phase_is_empty(p) || p == VSM_MIG_PHASE_INCOMING)
                        mig_go(t, VSM_MIG_PHASE_PRE_ASSOCIATED,
                               "found paused for an incoming migration: pre-associate (M)");
                else if (p == VSM_MIG_PHASE_PRE_ASSOCIATED)
                        t->note = "found paused for an incoming migration: already pre-associated";
                else if (p == VSM_MIG_PHASE_SWITCHED)
                        t->note = "found paused for an incoming migration: switchover already done";
                else
                        t->note = "ignored: reconcile says incoming, but the domain runs here";
                return;

        case VSM_MIG_EV_SWITCHOVER:
                if (mig_phase_is_empty(p))
                        mig_untracked(t);
                else if (mig_phase_is_unswitched(p)) {
                        mig_go(t, VSM_MIG_PHASE_SWITCHED, "switchover signal: associate (M)");
                        t->switchover = true;
                } else if (p == VSM_MIG_PHASE_SWITCHED || (p == VSM_MIG_PHASE_RUNNING && m->late))
                        t->note = m->late ? "switchover signal after the late switch: nothing to send"
                                          : "switchover signal again: nothing to send";
                else
                        t->note = "ignored: switchover signal without an incoming migration";
                return;

        case _VSM_MIG_EV_MAX:
                break;
        }
}

/* Entry action: moves to phase `to`, sending the request that brings the
 * bridge there (at most one per event), forgetting on GONE, and starting
 * the bookkeeping of a new migration when the role changes to one. */
static void mig_enter(VsmMigration *m, VsmMigPhase to, uint64_t now_usec, VsmMigAction *ret) {
        VsmMigPhase from = m->phase;
        VsmMigRole role = mig_phase_role(to, m->role);

        if (to == VSM_MIG_PHASE_GONE)
                ret->forget = true;
        if (to == from)
                return;

        if (mig_phase_is_empty(from)) {
                /* A new life of the domain: nothing from the last one counts. */
                m->started_usec = 0;
                m->switchover_seen = false;
                m->late = false;
        }
        if (role != VSM_MIG_ROLE_LOCAL && (role != m->role || mig_phase_is_empty(from))) {
                m->started_usec = now_usec;
                m->switchover_seen = false;
                m->late = false;
        }

        if (mig_phase_bridge(to) != mig_phase_bridge(from)) {
                assert(!ret->vdp);
                ret->vdp = true;
                mig_phase_request(to, &m->cfg, &ret->request, &ret->flags);
        }

        m->role = role;
        m->phase = to;
}

/* Initializes the machine: local, idle, nothing sent.  cfg may be NULL
 * (PRE-ASSOCIATE without reservation). */
void vsm_migration_init(VsmMigration *m, const VsmMigConfig *cfg) {
        assert(m);

        memset(m, 0, sizeof(*m));
        if (cfg)
                m->cfg = *cfg;
        m->role = VSM_MIG_ROLE_LOCAL;
        m->phase = VSM_MIG_PHASE_IDLE;
}

/* Feeds one event at now_usec.  Fills *ret always: at most one VDP request
 * (for every vNIC of the domain), whether to forget the domain, whether
 * the role changed, and a static note.  -EINVAL for an event out of range;
 * the machine is then untouched. */
int vsm_migration_handle(VsmMigration *m, VsmMigEvent ev, uint64_t now_usec, VsmMigAction *ret) {
        MigTransition t;
        VsmMigRole old_role;

        assert(m);
        assert(ret);

        memset(ret, 0, sizeof(*ret));

        if ((unsigned) ev >= _VSM_MIG_EV_MAX) {
                ret->note = "ignored: unknown event";
                return -EINVAL;
        }

        old_role = m->role;
        mig_transition(m, ev, &t);

        if (t.switchover)
                m->switchover_seen = true;
        mig_enter(m, t.next, now_usec, ret);
        if (t.next == VSM_MIG_PHASE_SWITCHED && !t.switchover && ret->vdp)
                m->late = true;
        if (t.complete)
                mig_enter(m, VSM_MIG_PHASE_RUNNING, now_usec, ret);

        m->last_usec = now_usec;
        ret->role_changed = m->role != old_role;
        ret->note = t.note;
        return 0;
}

/* "local", "source", "destination"; NULL when out of range. */
const char *vsm_mig_role_to_string(VsmMigRole r) {
        static const char *const table[_VSM_MIG_ROLE_MAX] = {
                [VSM_MIG_ROLE_LOCAL] = "local",
                [VSM_MIG_ROLE_SOURCE] = "source",
                [VSM_MIG_ROLE_DESTINATION] = "destination",
        };

        if ((unsigned) r >= _VSM_MIG_ROLE_MAX)
                return NULL;
        return table[r];
}

/* "idle", "running", "incoming", "pre-associated", "switched",
 * "migrating", "suspended", "gone"; NULL when out of range. */
const char *vsm_mig_phase_to_string(VsmMigPhase p) {
        static const char *const table[_VSM_MIG_PHASE_MAX] = {
                [VSM_MIG_PHASE_IDLE] = "idle",
                [VSM_MIG_PHASE_RUNNING] = "running",
                [VSM_MIG_PHASE_INCOMING] = "incoming",
                [VSM_MIG_PHASE_PRE_ASSOCIATED] = "pre-associated",
                [VSM_MIG_PHASE_SWITCHED] = "switched",
                [VSM_MIG_PHASE_MIGRATING] = "migrating",
                [VSM_MIG_PHASE_SUSPENDED] = "suspended",
                [VSM_MIG_PHASE_GONE] = "gone",
        };

        if ((unsigned) p >= _VSM_MIG_PHASE_MAX)
                return NULL;
        return table[p];
}

/* Kebab-case event names ("hook-migrate-begin", "started-migrated",
 * "switchover", ...); NULL when out of range. */
const char *vsm_mig_event_to_string(VsmMigEvent e) {
        static const char *const table[_VSM_MIG_EV_MAX] = {
                [VSM_MIG_EV_HOOK_MIGRATE_BEGIN] = "hook-migrate-begin",
                [VSM_MIG_EV_HOOK_PREPARE_BEGIN] = "hook-prepare-begin",
                [VSM_MIG_EV_HOOK_START_BEGIN] = "hook-start-begin",
                [VSM_MIG_EV_HOOK_STARTED_BEGIN] = "hook-started-begin",
                [VSM_MIG_EV_HOOK_STOPPED_END] = "hook-stopped-end",
                [VSM_MIG_EV_HOOK_RELEASE_END] = "hook-release-end",
                [VSM_MIG_EV_STARTED_BOOTED] = "started-booted",
                [VSM_MIG_EV_STARTED_MIGRATED] = "started-migrated",
                [VSM_MIG_EV_STARTED_RESTORED] = "started-restored",
                [VSM_MIG_EV_STARTED_FROM_SNAPSHOT] = "started-from-snapshot",
                [VSM_MIG_EV_STARTED_WAKEUP] = "started-wakeup",
                [VSM_MIG_EV_SUSPENDED_PAUSED] = "suspended-paused",
                [VSM_MIG_EV_SUSPENDED_MIGRATED] = "suspended-migrated",
                [VSM_MIG_EV_SUSPENDED_POSTCOPY] = "suspended-postcopy",
                [VSM_MIG_EV_SUSPENDED_OTHER] = "suspended-other",
                [VSM_MIG_EV_RESUMED_UNPAUSED] = "resumed-unpaused",
                [VSM_MIG_EV_RESUMED_MIGRATED] = "resumed-migrated",
                [VSM_MIG_EV_RESUMED_POSTCOPY] = "resumed-postcopy",
                [VSM_MIG_EV_RESUMED_OTHER] = "resumed-other",
                [VSM_MIG_EV_STOPPED_SHUTDOWN] = "stopped-shutdown",
                [VSM_MIG_EV_STOPPED_DESTROYED] = "stopped-destroyed",
                [VSM_MIG_EV_STOPPED_CRASHED] = "stopped-crashed",
                [VSM_MIG_EV_STOPPED_MIGRATED] = "stopped-migrated",
                [VSM_MIG_EV_STOPPED_SAVED] = "stopped-saved",
                [VSM_MIG_EV_STOPPED_FAILED] = "stopped-failed",
                [VSM_MIG_EV_STOPPED_FROM_SNAPSHOT] = "stopped-from-snapshot",
                [VSM_MIG_EV_MIGRATION_ITERATION] = "migration-iteration",
                [VSM_MIG_EV_JOB_COMPLETED] = "job-completed",
                [VSM_MIG_EV_RECONCILE_RUNNING] = "reconcile-running",
                [VSM_MIG_EV_RECONCILE_INCOMING] = "reconcile-incoming",
                [VSM_MIG_EV_SWITCHOVER] = "switchover",
        };

        if ((unsigned) e >= _VSM_MIG_EV_MAX)
                return NULL;
        return table[e];
}

/* The libvirt qemu hook is called as `qemu <domain> <op> <sub-op> <extra>`.
 * Maps the (op, sub-op) pairs we follow; -ENOENT for the others (e.g.
 * "migrate" with another sub-op, "restore", "reconnect", "attach"),
 * -EINVAL for a NULL string.  *ret_event is written on success only. */
int vsm_mig_event_from_hook(const char *op, const char *subop, VsmMigEvent *ret_event) {
        static const struct {
                const char *op;
                const char *subop;
                VsmMigEvent event;
        } table[] = {
                { "migrate", "begin", VSM_MIG_EV_HOOK_MIGRATE_BEGIN },
                { "prepare", "begin", VSM_MIG_EV_HOOK_PREPARE_BEGIN },
                { "start", "begin", VSM_MIG_EV_HOOK_START_BEGIN },
                { "started", "begin", VSM_MIG_EV_HOOK_STARTED_BEGIN },
                { "stopped", "end", VSM_MIG_EV_HOOK_STOPPED_END },
                { "release", "end", VSM_MIG_EV_HOOK_RELEASE_END },
        };

        assert(ret_event);

        if (!op || !subop)
                return -EINVAL;

        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (strcmp(op, table[i].op) == 0 && strcmp(subop, table[i].subop) == 0) {
                        *ret_event = table[i].event;
                        return 0;
                }
        return -ENOENT;
}

const char *vsm_mig_job_op_to_string(VsmMigJobOp op) {
        static const char *const table[_VSM_MIG_JOB_OP_MAX] = {
                [VSM_MIG_JOB_OP_UNKNOWN] = "unknown",
                [VSM_MIG_JOB_OP_NONE] = "none",
                [VSM_MIG_JOB_OP_MIGRATION_IN] = "migration-in",
                [VSM_MIG_JOB_OP_MIGRATION_OUT] = "migration-out",
                [VSM_MIG_JOB_OP_OTHER] = "other",
        };

        if ((unsigned) op >= _VSM_MIG_JOB_OP_MAX)
                return NULL;
        return table[op];
}

/* Both ends of a migration show the domain paused with reason MIGRATION
 * (the destination until it resumes, the source in its paused window), so
 * the state alone must not decide: a restarted daemon that took a source
 * for a destination would PRE-ASSOCIATE with M, from the wrong host, the
 * VSI the bridge is moving away.  Only a known incoming job pre-associates;
 * an unknown one waits for the next event (RESUMED_MIGRATED still
 * associates a destination, late). */
int vsm_mig_event_from_paused_migration(VsmMigJobOp op, VsmMigEvent *ret_event) {
        assert(ret_event);

        switch (op) {
        case VSM_MIG_JOB_OP_MIGRATION_IN:
                *ret_event = VSM_MIG_EV_RECONCILE_INCOMING;
                return 0;
        case VSM_MIG_JOB_OP_MIGRATION_OUT:
                *ret_event = VSM_MIG_EV_SUSPENDED_MIGRATED;
                return 0;
        default:
                return -ENOENT;
        }
}

/* Maps a lifecycle event (virDomainEventType, detail) to an event.
 * SUSPENDED and RESUMED with a detail we do not single out (also ones a
 * later libvirt may add) become SUSPENDED_OTHER / RESUMED_OTHER: they are
 * still a pause or a resume.  Unknown STARTED/STOPPED details and the
 * other event types (DEFINED, UNDEFINED, SHUTDOWN, PMSUSPENDED, CRASHED)
 * give -ENOENT: a stop with a new detail is still caught by the "release
 * end" hook.  *ret_event is written on success only. */
int vsm_mig_event_from_lifecycle(int event, int detail, VsmMigEvent *ret_event) {
        VsmMigEvent e;

        assert(ret_event);

        switch (event) {
        case MIG_LV_EVENT_STARTED:
                switch (detail) {
                case MIG_LV_STARTED_BOOTED:
                        e = VSM_MIG_EV_STARTED_BOOTED;
                        break;
                case MIG_LV_STARTED_MIGRATED:
                        e = VSM_MIG_EV_STARTED_MIGRATED;
                        break;
                case MIG_LV_STARTED_RESTORED:
                        e = VSM_MIG_EV_STARTED_RESTORED;
                        break;
                case MIG_LV_STARTED_FROM_SNAPSHOT:
                        e = VSM_MIG_EV_STARTED_FROM_SNAPSHOT;
                        break;
                case MIG_LV_STARTED_WAKEUP:
                        e = VSM_MIG_EV_STARTED_WAKEUP;
                        break;
                default:
                        return -ENOENT;
                }
                break;

        case MIG_LV_EVENT_SUSPENDED:
                switch (detail) {
                case MIG_LV_SUSPENDED_PAUSED:
                        e = VSM_MIG_EV_SUSPENDED_PAUSED;
                        break;
                case MIG_LV_SUSPENDED_MIGRATED:
                        e = VSM_MIG_EV_SUSPENDED_MIGRATED;
                        break;
                case MIG_LV_SUSPENDED_POSTCOPY:
                        e = VSM_MIG_EV_SUSPENDED_POSTCOPY;
                        break;
                case MIG_LV_SUSPENDED_IOERROR:
                case MIG_LV_SUSPENDED_WATCHDOG:
                case MIG_LV_SUSPENDED_RESTORED:
                case MIG_LV_SUSPENDED_FROM_SNAPSHOT:
                case MIG_LV_SUSPENDED_API_ERROR:
                case MIG_LV_SUSPENDED_POSTCOPY_FAILED:
                default:
                        e = VSM_MIG_EV_SUSPENDED_OTHER;
                        break;
                }
                break;

        case MIG_LV_EVENT_RESUMED:
                switch (detail) {
                case MIG_LV_RESUMED_UNPAUSED:
                        e = VSM_MIG_EV_RESUMED_UNPAUSED;
                        break;
                case MIG_LV_RESUMED_MIGRATED:
                        e = VSM_MIG_EV_RESUMED_MIGRATED;
                        break;
                case MIG_LV_RESUMED_POSTCOPY:
                        e = VSM_MIG_EV_RESUMED_POSTCOPY;
                        break;
                case MIG_LV_RESUMED_FROM_SNAPSHOT:
                case MIG_LV_RESUMED_POSTCOPY_FAILED:
                default:
                        e = VSM_MIG_EV_RESUMED_OTHER;
                        break;
                }
                break;

        case MIG_LV_EVENT_STOPPED:
                switch (detail) {
                case MIG_LV_STOPPED_SHUTDOWN:
                        e = VSM_MIG_EV_STOPPED_SHUTDOWN;
                        break;
                case MIG_LV_STOPPED_DESTROYED:
                        e = VSM_MIG_EV_STOPPED_DESTROYED;
                        break;
                case MIG_LV_STOPPED_CRASHED:
                        e = VSM_MIG_EV_STOPPED_CRASHED;
                        break;
                case MIG_LV_STOPPED_MIGRATED:
                        e = VSM_MIG_EV_STOPPED_MIGRATED;
                        break;
                case MIG_LV_STOPPED_SAVED:
                        e = VSM_MIG_EV_STOPPED_SAVED;
                        break;
                case MIG_LV_STOPPED_FAILED:
                        e = VSM_MIG_EV_STOPPED_FAILED;
                        break;
                case MIG_LV_STOPPED_FROM_SNAPSHOT:
                        e = VSM_MIG_EV_STOPPED_FROM_SNAPSHOT;
                        break;
                default:
                        return -ENOENT;
                }
                break;

        case MIG_LV_EVENT_DEFINED:
        case MIG_LV_EVENT_UNDEFINED:
        case MIG_LV_EVENT_SHUTDOWN:
        case MIG_LV_EVENT_PMSUSPENDED:
        case MIG_LV_EVENT_CRASHED:
        default:
                return -ENOENT;
        }

        *ret_event = e;
        return 0;
}

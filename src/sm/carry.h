/* Per-domain carry policy: when to learn, stream, send SWITCHOVER, replay,
 * send leaves, mint the token and write the <metadata> snapshot, as a
 * live migration runs (DESIGN.md sections 2, 4 and 7).
 *
 * Pure: no I/O, no clock, no logging, no GLib.  daemon/carry.c feeds the
 * events it sees (the migration machine's role and phase after each step,
 * the hooks follower.c passes on, the peer channel, the learners, the
 * snapshot writes, its one timer) with the current time; the machine
 * returns a list of actions that daemon/carry.c carries out.  The sockets,
 * frames, libvirt calls, the token's bytes and the learned state stay in
 * daemon/carry.c; only the decisions live here, so the fake clock drives
 * them through every event in every state (tests/unit/test-sm-carry.c).
 *
 * Source:
 *   - learns while the domain runs here (LOCAL/RUNNING) or is being
 *     migrated away (SOURCE/MIGRATING or SUSPENDED);
 *   - writes the snapshot only while LOCAL/RUNNING: debounced by
 *     cfg.write_interval_usec after a change, retried after
 *     VSM_CARRY_WRITE_RETRY_USEC when libvirt refused it (it does while a
 *     job holds the domain), never while migrating away: a write in
 *     flight when the domain starts migrating is cancelled (CANCEL_WRITE;
 *     libvirt would hold it behind the migration job, then refuse it);
 *   - the token is used once: the first destination that proves it takes
 *     it; when that connection ends before the domain left, or the
 *     migration failed back, a new one is minted and written at once,
 *     retried fast as the takeover snapshot is (a write scheduled for
 *     later goes now): a migration retried at once needs it;
 *   - SUSPENDED: SEND_SWITCHOVER; once it went out, a failed migration
 *     replays from here, but only while the VM runs here again;
 *   - the domain left (forgotten as a source): SEND_LEAVES for its groups.
 * Destination:
 *   - INCOMING (the migrate begin hook, or STARTED_MIGRATED when no hook
 *     call announced the migration: libvirtd started before the hook was
 *     installed; the follower then read the live XML first): TAKE_INCOMING, and CONNECT_PEER
 *     when the snapshot names another origin with a token and the channel
 *     can be authenticated;
 *   - the peer's SWITCHOVER is forwarded once to the migration machine
 *     (FORWARD_SWITCHOVER), which accepts or refuses it;
 *   - REPLAY once, at the ASSOCIATE (M) (late at RESUMED);
 *   - RESUMED: SEND_QUERIES; learning starts, and at LOCAL/RUNNING the
 *     host takes over: TAKEOVER, MINT_TOKEN, and the snapshot is written
 *     at once and retried fast (VSM_CARRY_TAKEOVER_RETRY_USEC, at most
 *     VSM_CARRY_TAKEOVER_TRIES times).
 * Conntrack (cfg.conntrack):
 *   - source: the destination's channel up (PEER_UP): CT_PRESTAGE;
 *     SUSPENDED: CT_DELTA just before SEND_SWITCHOVER (same channel, so
 *     the destination has it first); failed back: CT_STOP; the VM left
 *     (FORGET as a source that did not take it back): CT_FLUSH, also
 *     when nothing was carried (no peer channel);
 *   - destination: each batch while incoming (CT_RECEIVED): CT_INSTALL;
 *     forgotten while incoming and not resumed here (a failed
 *     migration): CT_UNDO. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sm/migration.h"

#define VSM_CARRY_WRITE_RETRY_USEC UINT64_C(5000000)
/* The first snapshot after a takeover is retried this often: until it is
 * written, the domain's XML names the previous host and its token, and a
 * next migration out of here would be sent there. */
#define VSM_CARRY_TAKEOVER_RETRY_USEC UINT64_C(50000)
#define VSM_CARRY_TAKEOVER_TRIES 100        /* then VSM_CARRY_WRITE_RETRY_USEC */
#define VSM_CARRY_ACTIONS_MAX 12

typedef enum VsmCarryEvent {
        VSM_CARRY_EV_UPDATE,           /* the migration machine took a step: in.role, in.phase */
        VSM_CARRY_EV_ADOPTED,          /* our own snapshot found at (re)connect: in.generation */
        VSM_CARRY_EV_INCOMING,         /* destination, migrate begin hook: in.snapshot */
        VSM_CARRY_EV_REPLAY,           /* destination, ASSOCIATE (M) staged: in.late */
        VSM_CARRY_EV_SUSPENDED,        /* source, SUSPENDED_MIGRATED/POSTCOPY */
        VSM_CARRY_EV_SWITCHOVER_SENT,  /* source, SEND_SWITCHOVER done: in.sent */
        VSM_CARRY_EV_RESUMED,          /* destination, RESUMED_* */
        VSM_CARRY_EV_FAILED_BACK,      /* source, the migration failed: in.running */
        VSM_CARRY_EV_RUNNING,          /* a local domain resumed */
        VSM_CARRY_EV_FORGET,           /* the domain is gone from here */
        VSM_CARRY_EV_LEARNER_CHANGED,  /* a vNIC's learned state changed: in.generation */
        VSM_CARRY_EV_SEEDED,           /* carried state seeded a learner (LEARN_ON): in.generation */
        VSM_CARRY_EV_PEER_AUTH,        /* source: a destination proved the key and the token */
        VSM_CARRY_EV_PEER_UP,          /* source: that destination's connection is up */
        VSM_CARRY_EV_PEER_ENDED,       /* source: that connection ended by itself */
        VSM_CARRY_EV_SWITCHOVER_RECEIVED, /* destination: the peer's SWITCHOVER */
        VSM_CARRY_EV_SWITCHOVER_ACCEPTED, /* the migration machine took it */
        VSM_CARRY_EV_SWITCHOVER_REFUSED,  /* it did not: the incoming domain is not started */
        VSM_CARRY_EV_TIMER,            /* the timer of ARM_TIMER fired */
        VSM_CARRY_EV_WRITE_NOT_STARTED, /* WRITE_SNAPSHOT could not be started */
        VSM_CARRY_EV_WRITE_DONE,       /* libvirt took the snapshot */
        VSM_CARRY_EV_WRITE_REFUSED,    /* libvirt refused it */
        VSM_CARRY_EV_CT_RECEIVED,      /* destination: a "conntrack" batch from the peer */
        _VSM_CARRY_EV_MAX,
} VsmCarryEvent;

/* The incoming domain's snapshot, as daemon/carry.c found it. */
typedef enum VsmCarrySnapshot {
        VSM_CARRY_SNAPSHOT_NONE,       /* no vsimig <metadata> */
        VSM_CARRY_SNAPSHOT_REFUSED,    /* it did not parse */
        VSM_CARRY_SNAPSHOT_NO_ORIGIN,  /* no origin or no token */
        VSM_CARRY_SNAPSHOT_SELF,       /* its origin is this host */
        VSM_CARRY_SNAPSHOT_PEER,       /* another origin, with a token */
        _VSM_CARRY_SNAPSHOT_MAX,
} VsmCarrySnapshot;

typedef struct VsmCarryInput {
        VsmCarryEvent ev;
        VsmMigRole role;               /* UPDATE */
        VsmMigPhase phase;             /* UPDATE */
        uint64_t generation;           /* every event: the domain's generation now */
        bool has_info;                 /* the domain's XML (vNICs) is known */
        bool has_nics;                 /* learners exist for its vNICs */
        bool late;                     /* REPLAY */
        bool sent;                     /* SWITCHOVER_SENT: a destination got it */
        bool running;                  /* FAILED_BACK: the VM runs here (not paused) */
        VsmCarrySnapshot snapshot;     /* INCOMING */
        bool no_hook;                  /* INCOMING at STARTED_MIGRATED: no hook call announced it */
} VsmCarryInput;

typedef enum VsmCarryActionType {
        VSM_CARRY_ACT_LEARN_ON,        /* watch the vNICs' taps (seeded), drop gone ones */
        VSM_CARRY_ACT_STREAM_CHANGED,  /* one STATE with what changed, within CARRY_STATE_COALESCE_MS */
        VSM_CARRY_ACT_STREAM_ALL,      /* the full state to the destination just connected */
        VSM_CARRY_ACT_SEND_SWITCHOVER, /* then SWITCHOVER_SENT */
        VSM_CARRY_ACT_REPLAY,          /* late: at RESUMED; failback: the source takes the VM back */
        VSM_CARRY_ACT_SEND_LEAVES,
        VSM_CARRY_ACT_SEND_QUERIES,    /* post-resume general queries into the taps */
        VSM_CARRY_ACT_REPORT_RESUMED,  /* say how the replay stood at RESUMED */
        VSM_CARRY_ACT_MINT_TOKEN,
        VSM_CARRY_ACT_WRITE_SNAPSHOT,  /* then WRITE_DONE, _REFUSED or _NOT_STARTED */
        VSM_CARRY_ACT_ARM_TIMER,       /* at: absolute, on the caller's clock */
        VSM_CARRY_ACT_CANCEL_TIMER,
        VSM_CARRY_ACT_CANCEL_WRITE,    /* the write in flight: drop it queued, ignore its result */
        VSM_CARRY_ACT_TAKE_INCOMING,   /* keep the incoming snapshot */
        VSM_CARRY_ACT_CONNECT_PEER,    /* to the incoming snapshot's origin */
        VSM_CARRY_ACT_PEER_NOT_OPENED, /* it could not be authenticated: no channel */
        VSM_CARRY_ACT_ACCEPT_PEER,     /* PEER_AUTH: the token is taken */
        VSM_CARRY_ACT_DROP_PEER,       /* close the domain's peer channel(s) */
        VSM_CARRY_ACT_FORWARD_SWITCHOVER, /* ask the migration machine, then ACCEPTED/REFUSED */
        VSM_CARRY_ACT_TAKEOVER,        /* drop the incoming snapshot and client: ours now */
        VSM_CARRY_ACT_NOTE,            /* note: static text for the timeline */
        VSM_CARRY_ACT_FORGET,
        /* the conntrack carry (issue 11; vsimigd(8) CONNTRACK) */
        VSM_CARRY_ACT_CT_PRESTAGE,     /* source: learn the VM's entries (dump, events), stream them */
        VSM_CARRY_ACT_CT_DELTA,        /* source: what changed since, just before SWITCHOVER */
        VSM_CARRY_ACT_CT_STOP,         /* source: the migration failed: stop learning, keep the entries */
        VSM_CARRY_ACT_CT_FLUSH,        /* source: the VM left: delete its entries here */
        VSM_CARRY_ACT_CT_INSTALL,      /* destination: re-check and install a received batch */
        VSM_CARRY_ACT_CT_UNDO,         /* destination: the migration failed: delete what we installed */
        _VSM_CARRY_ACT_MAX,
} VsmCarryActionType;

typedef struct VsmCarryAction {
        VsmCarryActionType type;
        bool late;                     /* REPLAY */
        bool failback;                 /* REPLAY */
        uint64_t at_usec;              /* ARM_TIMER */
        const char *note;              /* NOTE */
} VsmCarryAction;

typedef struct VsmCarryActions {
        size_t n;
        VsmCarryAction a[VSM_CARRY_ACTIONS_MAX];
} VsmCarryActions;

typedef struct VsmCarryConfig {
        bool learn;                    /* [learn] enabled */
        bool replay;                   /* [replay] enabled */
        bool leaves;                   /* [replay] leave-old-port */
        bool queries;                  /* [replay] query */
        bool stream;                   /* a peer listener exists */
        bool secure;                   /* a destination can authenticate its origin (key, TLS or insecure) */
        bool can_write;                /* a libvirt connection for <metadata> writes */
        uint64_t write_interval_usec;  /* [learn] metadata-interval */
        bool conntrack;                /* [conntrack] enabled is not false */
} VsmCarryConfig;

typedef struct VsmCarryPolicy {
        VsmCarryConfig cfg;
        VsmMigRole role;               /* as of the last UPDATE */
        VsmMigPhase phase;
        bool learning;
        /* the token */
        bool token_used;               /* a destination authenticated with it */
        /* the snapshot */
        bool writes_allowed;
        bool written_once;
        bool written_once_before;      /* before the write in flight started */
        uint64_t written_generation;   /* UINT64_MAX: the last write was refused, retry later */
        bool timer_armed;
        uint64_t timer_at_usec;
        bool write_inflight;
        bool takeover_write;           /* the first snapshot after a takeover: now, retried fast */
        bool token_write;              /* a minted token not written yet: now, retried fast */
        unsigned takeover_tries;
        /* source */
        bool switchover_sent;          /* the destination may have replayed */
        bool failback_pending;         /* replay once the VM runs here again */
        bool replayed_as_source;       /* a replay since the domain became a source: it is here */
        bool ct_learning;              /* CT_PRESTAGE given, no CT_STOP/CT_FLUSH since */
        /* destination */
        bool incoming;
        bool switchover_received;
        bool switchover_refused;
        bool replayed;
        bool replay_late;
        bool resumed;
} VsmCarryPolicy;

void vsm_carry_policy_init(VsmCarryPolicy *p, const VsmCarryConfig *cfg);
/* Would this event create the policy of a domain not followed yet?  (An
 * UPDATE into a learning role and phase; INCOMING with the replay on.) */
bool vsm_carry_policy_creates(const VsmCarryConfig *cfg, const VsmCarryInput *in);
/* Feed one event at now_usec.  Always fills *ret (possibly empty).
 * -EINVAL for an event out of range (then *ret is empty). */
int vsm_carry_policy_handle(VsmCarryPolicy *p, const VsmCarryInput *in, uint64_t now_usec, VsmCarryActions *ret);
/* May the source prove itself to a destination for this domain (the real
 * proof for its token)?  Only while it migrates out from here: the
 * machine is SOURCE (MIGRATING or SUSPENDED), or libvirt's job for it is
 * an outgoing migration (job: VSM_MIG_JOB_OP_UNKNOWN when not asked; the
 * destination connects at its migrate begin hook, during the source's
 * Begin/Prepare, before the machine knows).  Otherwise the peer channel
 * answers as for an unknown domain. */
typedef enum VsmCarryPeerAnswer {
        VSM_CARRY_PEER_REFUSE,         /* not migrating out: as unknown */
        VSM_CARRY_PEER_PROVE,          /* answer with the real proof */
        VSM_CARRY_PEER_ASK_JOB,        /* ask libvirt's job, then call again with it */
} VsmCarryPeerAnswer;
VsmCarryPeerAnswer vsm_carry_policy_peer_answer(const VsmCarryPolicy *p, bool job_asked, VsmMigJobOp job);
#define VSM_CARRY_STEP_EVENTS_MAX 6

/* The carry events one step of the migration machine gives, in the order
 * to feed them (each with ev and its facts; UPDATE last, with the new role
 * and phase): the migrate begin hook of a destination gives INCOMING (so
 * does a STARTED_MIGRATED that made the domain a destination: no hook
 * announced it, no_hook set), the
 * ASSOCIATE (M) REPLAY (late when switched at RESUMED), the source's
 * SUSPENDED_* SUSPENDED, a destination's RESUMED_* RESUMED, a source that
 * is local again (RESUMED_* after SUSPENDED, or RECONCILE_RUNNING)
 * FAILED_BACK (running: the VM is not found paused), a local domain's
 * RESUMED_* RUNNING; a forget gives FORGET only.  old_*: before the step;
 * m: after it.  Returns how many were written to ret. */
size_t vsm_carry_events_from_step(VsmMigEvent ev, const VsmMigAction *a, VsmMigRole old_role, VsmMigPhase old_phase,
                                  const VsmMigration *m, bool has_info, bool found_paused,
                                  VsmCarryInput ret[VSM_CARRY_STEP_EVENTS_MAX]);
/* The first action of that type in *a, or NULL. */
const VsmCarryAction *vsm_carry_actions_find(const VsmCarryActions *a, VsmCarryActionType type);

const char *vsm_carry_event_to_string(VsmCarryEvent e);
const char *vsm_carry_action_type_to_string(VsmCarryActionType t);
const char *vsm_carry_snapshot_to_string(VsmCarrySnapshot s);

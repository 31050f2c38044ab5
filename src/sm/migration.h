/* Per-domain migration state machine: which VDP requests to send, and
 * when, as a live migration runs through libvirt's hooks and domain
 * events on either host.  DESIGN.md §2 has the measured timeline.
 *
 * Pure: no I/O, no clock, no logging, no GLib.  The daemon feeds events
 * (hook calls and lifecycle events) with the current time; the machine
 * returns at most one VDP action (applied to every vNIC of the domain)
 * plus a short static note for the timeline, and tells when the domain
 * can be forgotten.
 *
 * Roles.  A domain is "local" (running here, not migrating), "destination"
 * (an incoming migration: migrate/prepare/start hooks or STARTED_MIGRATED),
 * or "source" (MIGRATION_ITERATION or SUSPENDED_MIGRATED while it runs here).
 *
 * Destination:
 *   - PRE-ASSOCIATE (or PRE-ASSOCIATE-RR when cfg.pre_assoc_rr) with the
 *     M-bit once the tap exists: at the "start begin" hook or at
 *     STARTED_MIGRATED, whichever comes first (only once);
 *   - ASSOCIATE with the M-bit at switchover: SWITCHOVER (the peer signal,
 *     later work) or RESUMED_MIGRATED / RESUMED_POSTCOPY, whichever comes
 *     first (only once); at RESUMED without SWITCHOVER the note says "late";
 *   - a migration that completes into a paused domain (--suspend:
 *     SUSPENDED_PAUSED after STARTED_MIGRATED, or JOB_COMPLETED while not
 *     yet switched) also associates with the M-bit: the VM lives here now;
 *   - STOPPED_FAILED, or the "release end"/"stopped end" hook before the
 *     switchover: DE-ASSOCIATE and forget.
 * Source:
 *   - SUSPENDED_MIGRATED / SUSPENDED_POSTCOPY: ASSOCIATE with the S-bit;
 *   - STOPPED_MIGRATED (or the "stopped end"/"release end" hook after the
 *     S-bit association): DE-ASSOCIATE and forget;
 *   - any RESUMED_* after the S-bit association (the migration failed and
 *     the domain runs here again): ASSOCIATE without flags, back to local.
 * Local:
 *   - STARTED_BOOTED / STARTED_RESTORED / STARTED_FROM_SNAPSHOT /
 *     STARTED_WAKEUP, or RECONCILE_RUNNING: ASSOCIATE without flags;
 *   - STOPPED_SHUTDOWN / DESTROYED / CRASHED / SAVED / FROM_SNAPSHOT, or
 *     the "release end" hook: DE-ASSOCIATE and forget.
 * Anything else is recorded (note) without a VDP action.  Events never
 * make the machine fail: unexpected ones are noted as ignored.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/vdp.h"

typedef enum VsmMigRole {
        VSM_MIG_ROLE_LOCAL,
        VSM_MIG_ROLE_SOURCE,
        VSM_MIG_ROLE_DESTINATION,
        _VSM_MIG_ROLE_MAX,
} VsmMigRole;

typedef enum VsmMigPhase {
        VSM_MIG_PHASE_IDLE,            /* nothing sent yet */
        VSM_MIG_PHASE_RUNNING,         /* local, associated */
        VSM_MIG_PHASE_INCOMING,        /* destination, before PRE-ASSOCIATE */
        VSM_MIG_PHASE_PRE_ASSOCIATED,  /* destination, PRE-ASSOCIATE (M) sent */
        VSM_MIG_PHASE_SWITCHED,        /* destination, ASSOCIATE (M) sent */
        VSM_MIG_PHASE_MIGRATING,       /* source, precopy seen */
        VSM_MIG_PHASE_SUSPENDED,       /* source, ASSOCIATE (S) sent */
        VSM_MIG_PHASE_GONE,            /* DE-ASSOCIATE sent; forget */
        _VSM_MIG_PHASE_MAX,
} VsmMigPhase;

typedef enum VsmMigEvent {
        /* libvirt qemu hook calls (operation, sub-operation) */
        VSM_MIG_EV_HOOK_MIGRATE_BEGIN,
        VSM_MIG_EV_HOOK_PREPARE_BEGIN,
        VSM_MIG_EV_HOOK_START_BEGIN,
        VSM_MIG_EV_HOOK_STARTED_BEGIN,
        VSM_MIG_EV_HOOK_STOPPED_END,
        VSM_MIG_EV_HOOK_RELEASE_END,
        /* lifecycle events (event, detail) */
        VSM_MIG_EV_STARTED_BOOTED,
        VSM_MIG_EV_STARTED_MIGRATED,
        VSM_MIG_EV_STARTED_RESTORED,
        VSM_MIG_EV_STARTED_FROM_SNAPSHOT,
        VSM_MIG_EV_STARTED_WAKEUP,
        VSM_MIG_EV_SUSPENDED_PAUSED,
        VSM_MIG_EV_SUSPENDED_MIGRATED,
        VSM_MIG_EV_SUSPENDED_POSTCOPY,
        VSM_MIG_EV_SUSPENDED_OTHER,
        VSM_MIG_EV_RESUMED_UNPAUSED,
        VSM_MIG_EV_RESUMED_MIGRATED,
        VSM_MIG_EV_RESUMED_POSTCOPY,
        VSM_MIG_EV_RESUMED_OTHER,
        VSM_MIG_EV_STOPPED_SHUTDOWN,
        VSM_MIG_EV_STOPPED_DESTROYED,
        VSM_MIG_EV_STOPPED_CRASHED,
        VSM_MIG_EV_STOPPED_MIGRATED,
        VSM_MIG_EV_STOPPED_SAVED,
        VSM_MIG_EV_STOPPED_FAILED,
        VSM_MIG_EV_STOPPED_FROM_SNAPSHOT,
        VSM_MIG_EV_MIGRATION_ITERATION,
        VSM_MIG_EV_JOB_COMPLETED,
        /* the daemon found the domain running at (re)connect */
        VSM_MIG_EV_RECONCILE_RUNNING,
        /* the daemon found it paused for an incoming migration */
        VSM_MIG_EV_RECONCILE_INCOMING,
        /* the source's peer signalled the switchover (later work) */
        VSM_MIG_EV_SWITCHOVER,
        _VSM_MIG_EV_MAX,
} VsmMigEvent;

typedef struct VsmMigConfig {
        bool pre_assoc_rr;             /* PRE-ASSOCIATE-RR instead of PRE-ASSOCIATE */
} VsmMigConfig;

typedef struct VsmMigAction {
        bool vdp;                      /* send this request for every vNIC */
        VsmVdpRequest request;
        uint8_t flags;                 /* VSM_VDP_STATUS_M / VSM_VDP_STATUS_S */
        bool forget;                   /* drop the domain after applying */
        bool role_changed;
        const char *note;              /* static text for the timeline, never NULL */
} VsmMigAction;

typedef struct VsmMigration {
        VsmMigConfig cfg;
        VsmMigRole role;
        VsmMigPhase phase;
        uint64_t started_usec;         /* first event of the current migration */
        uint64_t last_usec;
        bool switchover_seen;
        bool late;                     /* switched at RESUMED without SWITCHOVER */
} VsmMigration;

void vsm_migration_init(VsmMigration *m, const VsmMigConfig *cfg);
/* Feed one event.  Always fills *ret (vdp=false when nothing to send).
 * -EINVAL for an event out of range (then *ret is a no-op note). */
int vsm_migration_handle(VsmMigration *m, VsmMigEvent ev, uint64_t now_usec, VsmMigAction *ret);

const char *vsm_mig_role_to_string(VsmMigRole r);
const char *vsm_mig_phase_to_string(VsmMigPhase p);
const char *vsm_mig_event_to_string(VsmMigEvent e);
/* Hook (op, sub-op) -> event; -ENOENT for pairs we do not follow. */
int vsm_mig_event_from_hook(const char *op, const char *subop, VsmMigEvent *ret);
/* libvirt lifecycle (event, detail) numbers -> event (values as in
 * virDomainEventType / virDomain*DetailType, passed as plain ints so this
 * file needs no libvirt header); -ENOENT for ones we do not follow. */
int vsm_mig_event_from_lifecycle(int event, int detail, VsmMigEvent *ret);

/* The operation of the libvirt job that holds a domain, as far as telling
 * a migration's two ends apart needs (virDomainJobOperation, mapped by
 * the daemon). */
typedef enum VsmMigJobOp {
        VSM_MIG_JOB_OP_UNKNOWN,        /* cannot tell (the query failed, an old libvirt) */
        VSM_MIG_JOB_OP_NONE,           /* no job */
        VSM_MIG_JOB_OP_MIGRATION_IN,
        VSM_MIG_JOB_OP_MIGRATION_OUT,
        VSM_MIG_JOB_OP_OTHER,          /* save, dump, snapshot, ... */
        _VSM_MIG_JOB_OP_MAX,
} VsmMigJobOp;

const char *vsm_mig_job_op_to_string(VsmMigJobOp op);
/* A domain found paused for a migration (reconcile after a daemon restart
 * or a libvirt reconnect) is either end of it: the destination's incoming
 * domain before it resumes, or the source in its paused window.  The job's
 * operation tells which: incoming gives RECONCILE_INCOMING (pre-associate
 * with M), outgoing SUSPENDED_MIGRATED (the source's associate with S).
 * When it cannot be told, nothing: 0 with *ret_event set, -ENOENT when
 * there is nothing to feed. */
int vsm_mig_event_from_paused_migration(VsmMigJobOp op, VsmMigEvent *ret_event);

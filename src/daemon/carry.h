/* Carrying a VM's network state across a live migration (DESIGN.md
 * sections 2 and 4): learn on the source from the VM's taps, keep a
 * snapshot in the domain's live <metadata>, stream it to the destination
 * over the peer channel, and at the switchover replay it on the
 * destination's uplink and program the local bridge's mdb.
 *
 * The follower owns one VsmCarry and tells it what the migration machine
 * did; the carry never feeds the machine itself except through
 * host->switchover (the peer's SWITCHOVER). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "daemon/config.h"
#include "daemon/domain-xml.h"
#include "daemon/uplink.h"
#include "io/libvirt.h"
#include "sm/migration.h"

typedef struct VsmCarry VsmCarry;

typedef struct VsmCarryHost {
        /* A line for the domain's timeline (and `vsimigctl monitor`);
         * quiet: not also logged at info level (per-frame lines). */
        void (*note)(const char *uuid, gboolean quiet, const char *text, gpointer user_data);
        /* The uplink under a vNIC's bridge; NULL with *ret_why set. */
        VsmUplink *(*uplink_for_nic)(const VsmNicInfo *n, char **ret_why, gpointer user_data);
        /* The source's SWITCHOVER arrived, on the authenticated channel of
         * this incoming domain's migration.  FALSE: refused, because the
         * incoming domain is not started yet (start hook or
         * STARTED_MIGRATED); the carry then closes the channel. */
        gboolean (*switchover)(const char *uuid, gpointer user_data);
} VsmCarryHost;

/* Starts the peer listener when [peer] listen is set (NULL and an error
 * for a bad address; a failed bind is retried from the main loop, see
 * vsm_peer_server_new_retrying()). */
VsmCarry *vsm_carry_new(const VsmConfig *config, const VsmCarryHost *host, gpointer user_data, GError **error);
VsmCarry *vsm_carry_free(VsmCarry *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmCarry, vsm_carry_free)
/* The libvirt connection for <metadata> writes (NULL: none). */
void vsm_carry_set_libvirt(VsmCarry *c, VsmLibvirt *lv);
/* SIGHUP: reads [peer] key-file again (checked as at start); on an error
 * the old key stays and FALSE says why.  TRUE without a key file. */
gboolean vsm_carry_reload_key(VsmCarry *c, GError **error);

/* After every event the machine took.  Each call below feeds the domain's
 * carry policy (sm/carry.h), which decides; this object carries out its
 * actions.  Learning follows the domain's role and phase (on while it runs
 * or is being migrated away, or has switched over to here), snapshot
 * writes only while it runs here unmigrating. */
void vsm_carry_update(VsmCarry *c, const char *uuid, const char *name, const VsmDomainInfo *info,
                      const VsmMigration *m);
/* Destination, "migrate begin" hook: take the snapshot from the XML and
 * connect to its origin.  Never calls libvirt. */
void vsm_carry_incoming(VsmCarry *c, const char *uuid, const char *name, const VsmDomainInfo *info);
/* Destination, STARTED_MIGRATED with no hook call for this migration
 * (libvirtd started before the hook was installed): as
 * vsm_carry_incoming(), with the snapshot from the live XML the follower
 * read through the libvirt worker; "no hook seen" in show and status. */
void vsm_carry_incoming_no_hook(VsmCarry *c, const char *uuid, const char *name, const VsmDomainInfo *info);
/* Source, SUSPENDED_MIGRATED: send SWITCHOVER with the final changes. */
void vsm_carry_suspended(VsmCarry *c, const char *uuid);
/* Source, the migration failed and the domain is here again: a new token
 * (the failed destination's is void), and when SWITCHOVER had gone out (so
 * the destination may have replayed), replay from here, but only while the
 * VM runs here: running FALSE (found paused) defers the replay to
 * vsm_carry_running(). */
void vsm_carry_failed_back(VsmCarry *c, const char *uuid, const VsmDomainInfo *info, gboolean running);
/* A local domain resumed here: the replay vsm_carry_failed_back()
 * deferred, if any. */
void vsm_carry_running(VsmCarry *c, const char *uuid, const VsmDomainInfo *info);
/* Destination, the ASSOCIATE (M) was just staged: replay now. */
void vsm_carry_replay(VsmCarry *c, const char *uuid, const VsmDomainInfo *info, gboolean late);
/* Destination, RESUMED_MIGRATED/POSTCOPY: record how the replay stood,
 * then the post-resume general query. */
void vsm_carry_resumed(VsmCarry *c, const char *uuid, const VsmDomainInfo *info);
/* The domain is gone from here.  When it left as a source (migrated away,
 * or stopped while migrating), first IGMP/MLD leaves for its groups on the
 * uplink ([replay] leave-old-port), so the switch stops forwarding them to
 * this port now (sm/carry.h decides). */
void vsm_carry_forget(VsmCarry *c, const char *uuid, const VsmDomainInfo *info);

/* What is learned or carried for one domain (NULL if nothing), for
 * `vsimigctl show`; and the daemon-wide counters for `status`. */
JsonNode *vsm_carry_domain_json(VsmCarry *c, const char *uuid);
JsonNode *vsm_carry_status_json(VsmCarry *c);

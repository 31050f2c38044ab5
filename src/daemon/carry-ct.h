/* The conntrack part of the carry (issue 11; vsimigd(8) CONNTRACK): the
 * VM's connection-tracking entries learned on the source (a dump in the
 * worker, then events), pre-staged to the destination over the peer
 * channel at migrate begin, the delta just before SWITCHOVER, installed
 * on the destination after a re-check, deleted on the source after the
 * VM left and on the destination after a failed migration.
 *
 * daemon/carry.c calls these when the carry policy (sm/carry.h) says
 * CT_PRESTAGE, CT_DELTA, CT_STOP, CT_FLUSH, CT_INSTALL or CT_UNDO. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "daemon/config.h"
#include "daemon/domain-xml.h"
#include "daemon/peer.h"
#include "proto/ct-record.h"

typedef struct VsmCtCarry VsmCtCarry;
typedef struct VsmCtDomain VsmCtDomain;

/* A line for the domain's timeline (every phase's line says "conntrack"). */
typedef void (*VsmCtNoteFunc)(const char *uuid, gboolean quiet, const char *text, gpointer user_data);

/* NULL when [conntrack] enabled = false.  The worker thread and the event
 * socket start at first use. */
VsmCtCarry *vsm_ct_carry_new(const VsmConfig *config, VsmCtNoteFunc note, gpointer user_data);
VsmCtCarry *vsm_ct_carry_free(VsmCtCarry *cc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmCtCarry, vsm_ct_carry_free)
/* {"enabled","worker_jobs","events","event_overruns","deleted_after_left","undone"} */
JsonNode *vsm_ct_carry_to_json(const VsmCtCarry *cc);

/* The counters of a domain forgotten here (the source after the VM
 * left), "deleted" updated by the flush; NULL if none. */
JsonNode *vsm_ct_carry_gone_json(const VsmCtCarry *cc, const char *uuid);

VsmCtDomain *vsm_ct_domain_new(VsmCtCarry *cc, const char *uuid);
/* Unregisters; its jobs in flight run on without callbacks.  A source
 * domain whose dump still streams after the SWITCHOVER
 * (vsm_ct_domain_streaming()) lingers instead: it sends the rest, then
 * closes the domain's peer connections (vsm_peer_server_drop_domain()),
 * at most CT_LINGER_MS (10 s) later. */
VsmCtDomain *vsm_ct_domain_free(VsmCtDomain *d);
/* Source: SUSPENDED came before the pre-stage dump ended: the rest still
 * goes, after the SWITCHOVER (the caller leaves the connection to
 * vsm_ct_domain_free()). */
gboolean vsm_ct_domain_streaming(const VsmCtDomain *d);

/* Source: the owned addresses of the domain's vNICs (VsmNicState, index
 * = the vNIC's), from the learners. */
void vsm_ct_owned_from_states(VsmCtOwned *o, const GPtrArray *states);
/* Source, CT_PRESTAGE: dump (worker), learn events, stream the entries as
 * "prestage" batches to server's connection for the domain. */
void vsm_ct_domain_prestage(VsmCtDomain *d, const VsmCtOwned *owned, VsmPeerServer *server);
/* Source, CT_DELTA: the entries created, changed or destroyed since, as
 * "delta" batches (at least one, the last marked), queued before the
 * SWITCHOVER.  Learning stops. */
void vsm_ct_domain_delta(VsmCtDomain *d);
/* Source, CT_STOP: the migration failed: forget what was learned. */
void vsm_ct_domain_stop(VsmCtDomain *d);
/* Source, CT_FLUSH: delete the domain's entries here (a filtered dump and
 * a delete in the worker; runs on after d is freed): those of the
 * addresses the pre-stage used and of owned (the learners' now). */
void vsm_ct_domain_flush(VsmCtDomain *d, const VsmCtOwned *owned);

/* Destination, TAKE_INCOMING: the domain's vNICs here (bridge for the
 * zone map, nwfilter parameters for the re-check). */
void vsm_ct_domain_set_nics(VsmCtDomain *d, const VsmDomainInfo *info);
/* Destination, CT_INSTALL: re-check m's entries against nics (the
 * carried VsmNicState, re-checked again here), map zones, install in the
 * worker. */
void vsm_ct_domain_install(VsmCtDomain *d, const VsmPeerMessage *m, const GPtrArray *nics);
/* Destination, TAKEOVER: the installed entries are the VM's now.  While
 * the stream is still open (vsm_ct_domain_stream_open()), a copy of nics
 * (the carried states) re-checks what still comes: those batches install
 * as "late" ones. */
void vsm_ct_domain_keep(VsmCtDomain *d, const GPtrArray *nics);
/* Destination: a batch came and the delta's last did not yet (the source's
 * dump is slower than the migration: the rest follows the SWITCHOVER). */
gboolean vsm_ct_domain_stream_open(const VsmCtDomain *d);
/* Destination, CT_UNDO: delete what was installed (runs on after d is
 * freed). */
void vsm_ct_domain_undo(VsmCtDomain *d);

/* The "conntrack" object of `vsimigctl show --json`:
 * {"learned","carried","skipped":{"nat","not_owned","cap","protocol","zone","malformed"},"installed","failed",
 *  "deleted","prestage_entries","prestage_ms","delta_entries","delta_us","late",
 *  "install_busy_ms" (destination: the worker's time installing), "dump_ms" (source: the pre-stage dump),
 *  "loop_slice_max_us", "loop_slice_max_cpu_us" (the longest main-loop piece of the carry's streaming or
 *  installing work: wall, and the thread's CPU time)} */
JsonNode *vsm_ct_domain_to_json(const VsmCtDomain *d);

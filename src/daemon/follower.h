/* The libvirt follower: tracks domains from libvirt's events and hook
 * calls, runs each through the migration state machine, and turns its
 * actions into VDP requests on the uplinks. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "daemon/config.h"

typedef struct VsmFollower VsmFollower;

/* A timeline line or VDP outcome for `vsimigctl monitor` (a JSON object,
 * borrowed for the call). */
typedef void (*VsmFollowerEmitFunc)(JsonNode *event, gpointer user_data);
/* Whether anyone listens (the event is not even built otherwise). */
typedef gboolean (*VsmFollowerWantFunc)(gpointer user_data);

/* uplinks: the manager's GPtrArray of VsmUplink (borrowed, outlives us).
 * Connects to libvirt when config->libvirt_enabled. */
VsmFollower *vsm_follower_new(const VsmConfig *config, GPtrArray *uplinks, VsmFollowerEmitFunc emit,
                              VsmFollowerWantFunc want, gpointer user_data, GError **error);
VsmFollower *vsm_follower_free(VsmFollower *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmFollower, vsm_follower_free)

/* A libvirt qemu hook call (from `vsimigctl hook`): never calls libvirt.
 * xml may be NULL/empty.  Returns the reply's result object. */
JsonNode *vsm_follower_hook(VsmFollower *f, const char *domain, const char *op, const char *subop,
                            const char *extra, const char *xml, gsize xml_len, GError **error);

/* libvirt's 802.1Qbg agent (borrowed; NULL: none).  A vNIC whose MAC
 * libvirt associated through it on the same uplink uses libvirt's VSI
 * (its instance), never a second one. */
struct VsmQbgAgent;
void vsm_follower_set_qbg_agent(VsmFollower *f, struct VsmQbgAgent *agent);

JsonNode *vsm_follower_status_json(VsmFollower *f);
/* SIGHUP: the peer channel's key file read again (daemon/carry.h). */
gboolean vsm_follower_reload_peer_key(VsmFollower *f, GError **error);
JsonNode *vsm_follower_domains_json(VsmFollower *f);
/* name or UUID; NULL with VSM_ERROR_NOT_FOUND when unknown. */
JsonNode *vsm_follower_show_json(VsmFollower *f, const char *domain, GError **error);

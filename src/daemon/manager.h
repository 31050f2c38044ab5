/* The daemon's top object: config, uplinks and the control socket. */
#pragma once

#include <glib.h>

#include "daemon/config.h"
#include "daemon/loop.h"

typedef struct VsmManager VsmManager;

/* Takes ownership of config. Opens the control socket and the uplinks. */
VsmManager *vsm_manager_new(VsmConfig *config, GError **error);
VsmManager *vsm_manager_free(VsmManager *m);
/* The main loop whose dispatch times `status` shows and `loop.reset`
 * clears (borrowed; it must outlive the manager's use of it). */
void vsm_manager_set_loop(VsmManager *m, VsmLoop *loop);

/* Starts libvirt's 802.1Qbg agent on fd (from vsm_qbg_agent_claim, taken
 * over even on failure). */
gboolean vsm_manager_start_qbg_agent(VsmManager *m, int fd, GError **error);
/* SIGHUP: retry uplinks that are down and resend LLDP. */
void vsm_manager_kick(VsmManager *m);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmManager, vsm_manager_free)

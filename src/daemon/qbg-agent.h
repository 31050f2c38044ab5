/* vsimigd as libvirt's 802.1Qbg VDP agent, in lldpad's place ([qbg]
 * serve-libvirt = true): libvirt's unicast NETLINK_ROUTE requests
 * (io/qbgnl.h) mapped onto our VSIs (daemon/vsi.h), with the migration
 * hints libvirt cannot send, the pid file libvirt reads, and the
 * DE-ASSOCIATE notices lldpad sends back.  vsimigd(8), section "LIBVIRT
 * 802.1QBG AGENT", describes the behaviour. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "daemon/config.h"
#include "daemon/vsi.h"

typedef struct VsmQbgAgent VsmQbgAgent;

/* Hard caps on the requests the agent remembers (one per VSI libvirt
 * asked for), per interface and in all. */
#define VSM_QBG_AGENT_MAX_PER_IF 512
#define VSM_QBG_AGENT_MAX_TOTAL 4096

/* Before anything else opens a netlink socket: refuse when lldpad is
 * libvirt's agent here (its pid file names a live process, or it holds its
 * client socket without -p), then bind the agent's socket to nl_pid =
 * getpid().  libvirt sends to the port named in the pid file, and the
 * kernel gives a process's first autobound netlink socket exactly that
 * port: libnl, libvirt's client library or GLib would take it first.
 * Returns the fd, or -1 with error. */
int vsm_qbg_agent_claim(const VsmConfig *config, GError **error);

/* Serves on fd (from vsm_qbg_agent_claim, taken over) for these uplinks
 * (borrowed: they must outlive the agent), and writes the pid file. */
VsmQbgAgent *vsm_qbg_agent_new(const VsmConfig *config, int fd, GPtrArray *uplinks, GError **error);
/* Removes the pid file if it still holds our pid, detaches from the VSIs. */
VsmQbgAgent *vsm_qbg_agent_free(VsmQbgAgent *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmQbgAgent, vsm_qbg_agent_free)

/* The VSI libvirt asked for with this MAC on this uplink, if any: its
 * instance, Manager ID (lldpad's encoding), type and VID replace those in
 * *params, so that the domain-events path uses the same VSI with the same
 * identity on the wire (never a second one for one NIC).  FALSE, and
 * *params untouched, when none (or a is NULL). */
gboolean vsm_qbg_agent_params_for_mac(VsmQbgAgent *a, const char *uplink, const uint8_t mac[6],
                                      VsmVsiParams *params);

/* State for `vsimigctl status`: bound port, pid file, requester port,
 * requests by type, errors, the VSIs libvirt asked for. */
JsonNode *vsm_qbg_agent_to_json(VsmQbgAgent *a);

/* The pid in a pid file: 0 when missing or unreadable, -1 when it holds
 * anything else; only a regular file of at most 32 octets is read (no
 * symlink followed, no FIFO or device opened). */
long vsm_qbg_pidfile_read(const char *path);

/* Test seam: the agent on a socket the test made (e.g. a netlink socket
 * bound to another port), answering as if our pid were our_port, with
 * credentials checked as usual. */
VsmQbgAgent *vsm_qbg_agent_new_for_test(const VsmConfig *config, int fd, uint32_t our_port, GPtrArray *uplinks,
                                        GError **error);

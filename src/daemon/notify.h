/* vsimigd and systemd: the sd_notify(3) protocol of a Type=notify unit
 * (READY, RELOADING, STOPPING, STATUS, WATCHDOG).  Every call is a no-op
 * when the daemon was not started by systemd (no $NOTIFY_SOCKET). */
#pragma once

#include <glib.h>

#include "daemon/manager.h"

typedef struct VsmNotify VsmNotify;

/* Sends READY=1 with a first STATUS= line and logs the time it was sent;
 * then, from the main loop, WATCHDOG=1 at a third of the interval systemd
 * asked for (WatchdogSec=) and a STATUS= line with the manager's counters
 * every few seconds.  Call once the manager exists (control socket
 * listening, uplinks open, libvirt connected or connecting).  m is
 * borrowed and must outlive the returned object. */
VsmNotify *vsm_notify_ready(VsmManager *m);
/* SIGHUP: RELOADING=1 (with MONOTONIC_USEC=) before the reload. */
void vsm_notify_reloading(VsmNotify *n);
/* SIGHUP: READY=1 once the reload is done. */
void vsm_notify_reloaded(VsmNotify *n);
/* SIGTERM/SIGINT: STOPPING=1. */
void vsm_notify_stopping(VsmNotify *n);
/* Stops the timers.  Accepts NULL, returns NULL. */
VsmNotify *vsm_notify_free(VsmNotify *n);

/* The STATUS= text for a manager status object (vsimigctl status --json):
 * one line of counters.  Pure; unit-tested. */
char *vsm_notify_status_text(JsonNode *status);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmNotify, vsm_notify_free)

/* A private network namespace for the unit tests that need real links
 * (test-io-sniffer.c, test-io-mdb.c). */
#pragma once

#include <glib.h>

/* Moves the test into a network namespace of its own, with IPv6 turned off
 * on links created from now on (no autoconfiguration, DAD or MLD traffic
 * of the kernel's own).  Returns TRUE when it is in one.  Returns FALSE
 * when it cannot be made: *ret_exit is then 1 under CI=true (the test must
 * run there), else 0 after a TAP skip line saying why. */
gboolean vsm_test_netns_enter(int *ret_exit);

/* Runs a shell command (ip, bridge); aborts the test when it fails. */
void vsm_test_run(const char *cmd);

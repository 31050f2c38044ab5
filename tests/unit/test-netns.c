/* A private network namespace for the unit tests (see test-netns.h). */
#include "test-netns.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

static gboolean write_file(const char *path, const char *value) {
        FILE *fp = fopen(path, "we");

        if (!fp)
                return FALSE;
        fputs(value, fp);
        return fclose(fp) == 0;
}

gboolean vsm_test_netns_enter(int *ret_exit) {
        if (unshare(CLONE_NEWNET) < 0) {
                int e = errno;

                if (g_strcmp0(g_getenv("CI"), "true") == 0) {
                        g_printerr("unshare(CLONE_NEWNET): %s (CI must run this test)\n", g_strerror(e));
                        *ret_exit = 1;
                        return FALSE;
                }
                printf("1..0 # SKIP unshare(CLONE_NEWNET): %s\n", g_strerror(e));
                *ret_exit = 0;
                return FALSE;
        }
        (void) write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
        return TRUE;
}

void vsm_test_run(const char *cmd) {
        int status = system(cmd);

        if (status != 0)
                g_error("'%s' failed: %d", cmd, status);
}

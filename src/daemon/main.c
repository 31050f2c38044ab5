/* vsimigd: the vsimig daemon.  Runs in the foreground on a GLib main loop. */
#include "build-config.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon/config.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/manager.h"
#include "daemon/qbg-agent.h"

static gboolean on_sigterm(gpointer user_data) {
        VsmLoop *loop = user_data;

        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "MESSAGE", "signal received, shutting down");
        vsm_loop_quit(loop);
        return G_SOURCE_CONTINUE;
}

static gboolean on_sighup(gpointer user_data) {
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "MESSAGE",
                         "SIGHUP: retrying uplinks that are down, resending LLDP, reading [peer] key-file again");
        vsm_manager_kick(user_data);
        return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv) {
        g_autofree char *config_path = NULL;
        gboolean verbose = FALSE, version = FALSE, check = FALSE;
        const GOptionEntry entries[] = {
                { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
                  "Configuration file (default " VSIMIG_DEFAULT_CONFIG ")", "FILE" },
                { "check-config", 0, 0, G_OPTION_ARG_NONE, &check, "Validate the configuration and exit", NULL },
                { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL },
                { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
                { NULL },
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("- vsimig daemon: VDP and network state for live migration");
        g_autoptr(GError) error = NULL;
        g_autoptr(VsmConfig) config = NULL;
        g_autoptr(VsmManager) manager = NULL;
        g_autoptr(VsmLoop) loop = NULL;
        guint sig_term, sig_int, sig_hup;
        int qbg_fd = -1;

        setlocale(LC_ALL, "");
        g_option_context_add_main_entries(ctx, entries, NULL);
        g_option_context_set_description(ctx,
                "Runs in the foreground; logs to stderr (or the journal). Signals: SIGTERM/SIGINT stop,\n"
                "SIGHUP retries uplinks that are down and resends LLDP. See vsimigd(8), vsimigd.conf(5).");
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "vsimigd: %s (try --help)\n", error->message);
                return 2;
        }
        if (version) {
                printf("vsimigd %s\n", VSIMIG_VERSION);
                return 0;
        }
        if (argc > 1) {
                fprintf(stderr, "vsimigd: unexpected argument '%s' (try --help)\n", argv[1]);
                return 2;
        }
        vsm_log_setup(verbose);
        if (!vsm_config_load_file(config_path ? config_path : VSIMIG_DEFAULT_CONFIG, &config, &error)) {
                fprintf(stderr, "vsimigd: %s\n", error->message);
                return 1;
        }
        if (check) {
                printf("configuration ok: %u uplink(s), control socket %s\n",
                       g_strv_length(config->uplinks), config->control_socket);
                return 0;
        }

        /* libvirt's 802.1Qbg agent must own the netlink port equal to our
         * pid: bind it before the manager (libnl, libvirt, GLib) opens any
         * other netlink socket, which would be autobound to that port. */
        if (config->qbg_serve_libvirt) {
                qbg_fd = vsm_qbg_agent_claim(config, &error);
                if (qbg_fd < 0) {
                        fprintf(stderr, "vsimigd: %s\n", error->message);
                        return 1;
                }
        }

        loop = vsm_loop_new(NULL);
        manager = vsm_manager_new(g_steal_pointer(&config), &error);
        if (!manager) {
                fprintf(stderr, "vsimigd: %s\n", error->message);
                return 1;
        }
        vsm_manager_set_loop(manager, loop);
        if (qbg_fd >= 0 && !vsm_manager_start_qbg_agent(manager, qbg_fd, &error)) {
                fprintf(stderr, "vsimigd: %s\n", error->message);
                return 1;
        }
        sig_term = g_unix_signal_add(SIGTERM, on_sigterm, loop);
        sig_int = g_unix_signal_add(SIGINT, on_sigterm, loop);
        sig_hup = g_unix_signal_add(SIGHUP, on_sighup, manager);
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "MESSAGE", "vsimigd %s started", VSIMIG_VERSION);

        vsm_loop_run(loop);

        g_source_remove(sig_term);
        g_source_remove(sig_int);
        g_source_remove(sig_hup);
        g_clear_pointer(&manager, vsm_manager_free);
        g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "MESSAGE", "stopped");
        return 0;
}

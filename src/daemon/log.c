/* vsimigd log writer and rate limiting. */
#include "daemon/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static gboolean log_verbose;
static gboolean log_installed;         /* our writer is in place */

static const char *level_name(GLogLevelFlags level) {
        if (level & G_LOG_LEVEL_ERROR)
                return "error";
        if (level & G_LOG_LEVEL_CRITICAL)
                return "critical";
        if (level & G_LOG_LEVEL_WARNING)
                return "warning";
        if (level & G_LOG_LEVEL_MESSAGE)
                return "notice";
        if (level & G_LOG_LEVEL_INFO)
                return "info";
        return "debug";
}

/* Whether stderr is the journal: -1 until known. */
static int journald = -1;

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                                   gpointer user_data) {
        g_autoptr(GString) line = g_string_new("vsimigd: ");
        g_autoptr(GString) extra = g_string_new(NULL);
        const char *message = NULL;

        if (level & G_LOG_LEVEL_DEBUG) {
                if (!log_verbose)
                        return G_LOG_WRITER_HANDLED;
                /* Libraries' debug output (libvirt-glib traces every
                 * event-loop handle) only with G_MESSAGES_DEBUG naming them. */
                for (gsize i = 0; i < n_fields; i++)
                        if (g_str_equal(fields[i].key, "GLIB_DOMAIN") && fields[i].length < 0 &&
                            !g_str_equal(fields[i].value, "vsimigd") &&
                            !g_log_writer_default_would_drop(level, fields[i].value))
                                goto keep;
                for (gsize i = 0; i < n_fields; i++)
                        if (g_str_equal(fields[i].key, "GLIB_DOMAIN") && fields[i].length < 0 &&
                            !g_str_equal(fields[i].value, "vsimigd"))
                                return G_LOG_WRITER_HANDLED;
        }
keep:
        /* Asked once: stderr does not change, and the check is a syscall. */
        if (journald < 0)
                journald = g_log_writer_is_journald(fileno(stderr));
        if (journald)
                return g_log_writer_journald(level, fields, n_fields, user_data);

        for (gsize i = 0; i < n_fields; i++) {
                if (g_str_equal(fields[i].key, "MESSAGE"))
                        message = fields[i].value;
                else if (g_str_has_prefix(fields[i].key, "VSIMIG_") && fields[i].length < 0) {
                        g_autofree char *key = g_ascii_strdown(fields[i].key + 7, -1);

                        g_string_append_printf(extra, " %s=%s", key, (const char *) fields[i].value);
                }
        }
        g_string_append_printf(line, "%s: %s", level_name(level), message ? message : "");
        if (extra->len)
                g_string_append_printf(line, " [%s]", extra->str + 1);
        g_string_append_c(line, '\n');
        fputs(line->str, stderr);
        fflush(stderr);
        return G_LOG_WRITER_HANDLED;
}

void vsm_log_setup(gboolean verbose) {
        log_verbose = verbose;
        if (!log_installed)            /* GLib allows one writer per process */
                g_log_set_writer_func(log_writer, NULL, NULL);
        log_installed = TRUE;
}

gboolean vsm_log_level_enabled(GLogLevelFlags level) {
        if (!(level & G_LOG_LEVEL_DEBUG))
                return TRUE;
        if (log_installed)
                return log_verbose;
        /* GLib's default writer (unit tests): G_MESSAGES_DEBUG decides. */
        return !g_log_writer_default_would_drop(level, G_LOG_DOMAIN);
}

gboolean vsm_ratelimit_test(VsmRateLimit *rl) {
        gint64 now = g_get_monotonic_time();

        if (rl->begin == 0 || now - rl->begin >= rl->interval_usec) {
                rl->begin = now;
                rl->n = 0;
        }
        if (rl->n < rl->burst) {
                rl->n++;
                return TRUE;
        }
        rl->suppressed++;
        return FALSE;
}

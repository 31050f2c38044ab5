/* vsimigd and systemd: the sd_notify(3) protocol of vsimigd.service
 * (Type=notify, WatchdogSec=).  See systemd.service(5) and sd_notify(3). */
#include "build-config.h"
#include "daemon/notify.h"

#include <json-glib/json-glib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "daemon/log.h"

/* How often the STATUS= line is refreshed: cheap (one status object). */
#define STATUS_INTERVAL_USEC (5 * G_USEC_PER_SEC)

struct VsmNotify {
        VsmManager *manager;           /* borrowed */
        guint watchdog_id;
        guint status_id;
};

static gint64 member_int(JsonObject *o, const char *name) {
        JsonNode *n = o ? json_object_get_member(o, name) : NULL;

        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64 ? json_node_get_int(n) : 0;
}

static gboolean member_bool(JsonObject *o, const char *name) {
        JsonNode *n = o ? json_object_get_member(o, name) : NULL;

        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN && json_node_get_boolean(n);
}

char *vsm_notify_status_text(JsonNode *status) {
        JsonObject *o = status && JSON_NODE_HOLDS_OBJECT(status) ? json_node_get_object(status) : NULL;
        JsonNode *ul = o ? json_object_get_member(o, "uplinks") : NULL;
        JsonNode *lv = o ? json_object_get_member(o, "libvirt") : NULL;
        JsonObject *lo = lv && JSON_NODE_HOLDS_OBJECT(lv) ? json_node_get_object(lv) : NULL;
        guint n_up = 0, n_uplinks = 0;
        gint64 vsis = 0;
        const char *libvirt;

        if (ul && JSON_NODE_HOLDS_ARRAY(ul)) {
                JsonArray *a = json_node_get_array(ul);

                n_uplinks = json_array_get_length(a);
                for (guint i = 0; i < n_uplinks; i++) {
                        JsonNode *e = json_array_get_element(a, i);
                        JsonObject *u = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;

                        n_up += member_bool(u, "up");
                        vsis += member_int(u, "vsis");
                }
        }
        if (!lo || !member_bool(lo, "enabled"))
                libvirt = "off";
        else
                libvirt = member_bool(lo, "connected") ? "connected" : "connecting";
        return g_strdup_printf("uplinks %u/%u up, %" G_GINT64_FORMAT " VSIs; libvirt %s, %" G_GINT64_FORMAT
                               " domains active, %" G_GINT64_FORMAT " hook calls, %" G_GINT64_FORMAT " events",
                               n_up, n_uplinks, vsis, libvirt, member_int(lo, "domains_active"),
                               member_int(lo, "hooks"), member_int(lo, "events"));
}

static void notify_status(VsmNotify *n, const char *prefix) {
        g_autoptr(JsonNode) status = vsm_manager_status_json(n->manager);
        g_autofree char *text = vsm_notify_status_text(status);
        g_autofree char *msg = g_strdup_printf("%sSTATUS=%s", prefix, text);

        (void) sd_notify(0, msg);
}

static gboolean on_watchdog(gpointer user_data) {
        /* From the main loop: a loop that is stuck sends nothing, and
         * systemd kills and restarts the service (Restart=). */
        (void) sd_notify(0, "WATCHDOG=1");
        return G_SOURCE_CONTINUE;
}

static gboolean on_status(gpointer user_data) {
        notify_status(user_data, "");
        return G_SOURCE_CONTINUE;
}

VsmNotify *vsm_notify_ready(VsmManager *m) {
        g_autoptr(VsmNotify) n = g_new0(VsmNotify, 1);
        g_autoptr(JsonNode) status = vsm_manager_status_json(m);
        g_autofree char *text = vsm_notify_status_text(status);
        g_autofree char *msg = g_strdup_printf("READY=1\nSTATUS=%s", text);
        struct timespec rt = { 0 }, mt = { 0 };
        uint64_t wd_usec = 0;
        int r;

        n->manager = m;
        /* The time just before the datagram: systemd may act on it (make
         * the unit active) before this thread runs again. */
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mt);
        r = sd_notify(0, msg);
        if (r < 0) {
                vsm_log(G_LOG_LEVEL_WARNING, "sd_notify READY=1: %s", g_strerror(-r));
        } else if (r > 0) {
                /* The system test compares these with systemd's
                 * ActiveEnterTimestamp and with when "systemctl start"
                 * returned. */
                vsm_log(G_LOG_LEVEL_MESSAGE, "READY=1 sent to systemd at realtime %lld.%06ld, monotonic %lld.%06ld",
                        (long long) rt.tv_sec, rt.tv_nsec / 1000, (long long) mt.tv_sec, mt.tv_nsec / 1000);
        }
        if (r <= 0)
                return g_steal_pointer(&n);     /* not under systemd: nothing else to send */

        r = sd_watchdog_enabled(0, &wd_usec);
        if (r > 0 && wd_usec > 0) {
                guint ms = (guint) MAX(wd_usec / 3 / 1000, 1);

                n->watchdog_id = g_timeout_add(ms, on_watchdog, n);
                vsm_log(G_LOG_LEVEL_MESSAGE, "systemd watchdog: %" G_GUINT64_FORMAT " ms, WATCHDOG=1 every %u ms",
                        (guint64) (wd_usec / 1000), ms);
        }
        n->status_id = g_timeout_add(STATUS_INTERVAL_USEC / 1000, on_status, n);
        return g_steal_pointer(&n);
}

void vsm_notify_reloading(VsmNotify *n) {
        struct timespec mt = { 0 };
        g_autofree char *msg = NULL;

        /* MONOTONIC_USEC is what systemd >= 253 wants with RELOADING=1
         * (Type=notify-reload); older ones ignore it. */
        clock_gettime(CLOCK_MONOTONIC, &mt);
        msg = g_strdup_printf("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
                              (unsigned long long) mt.tv_sec * 1000000ULL + (unsigned long long) mt.tv_nsec / 1000);
        (void) sd_notify(0, msg);
}

void vsm_notify_reloaded(VsmNotify *n) {
        if (n)
                notify_status(n, "READY=1\n");
}

void vsm_notify_stopping(VsmNotify *n) {
        (void) sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

VsmNotify *vsm_notify_free(VsmNotify *n) {
        if (!n)
                return NULL;
        g_clear_handle_id(&n->watchdog_id, g_source_remove);
        g_clear_handle_id(&n->status_id, g_source_remove);
        g_free(n);
        return NULL;
}

/* libvirt connection with events on the GLib main loop. */
#include "io/libvirt.h"

#include <libvirt-glib/libvirt-glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/log.h"

#define RECONNECT_MIN_USEC (1 * G_USEC_PER_SEC)
#define RECONNECT_MAX_USEC (30 * G_USEC_PER_SEC)

struct VsmLibvirt {
        char *uri;
        VsmLibvirtCallbacks cb;
        gpointer user_data;
        virConnectPtr conn;
        int callback_ids[_VSM_LIBVIRT_EV_MAX];
        guint retry_id;
        guint close_idle_id;
        gint64 backoff_usec;
        guint reconnects;
        gboolean ever_connected;
        gboolean warned;
};

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)

static void libvirt_schedule_connect(VsmLibvirt *lv);

/* libvirt prints errors to stderr by default; we log what matters ourselves. */
static void libvirt_quiet_error(void *user_data, virErrorPtr err) {
}

static const char *last_error(void) {
        virErrorPtr e = virGetLastError();

        return e && e->message ? e->message : "unknown libvirt error";
}

static void libvirt_emit(VsmLibvirt *lv, VsmLibvirtEvent *ev, virDomainPtr dom) {
        ev->name = virDomainGetName(dom);
        if (virDomainGetUUID(dom, ev->uuid) < 0)
                return;
        lv->cb.event(lv, ev, lv->user_data);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_LIFECYCLE, .event = event, .detail = detail };

        libvirt_emit(opaque, &ev, dom);
        return 0;
}

static void on_iteration(virConnectPtr conn, virDomainPtr dom, int iteration, void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_MIGRATION_ITERATION, .iteration = iteration };

        libvirt_emit(opaque, &ev, dom);
}

static void on_job_completed(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params, int n,
                             void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_JOB_COMPLETED };

        libvirt_emit(opaque, &ev, dom);
}

static void on_device_added(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_DEVICE_ADDED, .alias = alias };

        libvirt_emit(opaque, &ev, dom);
}

static void on_device_removed(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_DEVICE_REMOVED, .alias = alias };

        libvirt_emit(opaque, &ev, dom);
}

static void on_metadata(virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri, void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_METADATA_CHANGE };

        libvirt_emit(opaque, &ev, dom);
}

static void libvirt_drop(VsmLibvirt *lv) {
        if (!lv->conn)
                return;
        for (int i = 0; i < _VSM_LIBVIRT_EV_MAX; i++)
                if (lv->callback_ids[i] >= 0) {
                        (void) virConnectDomainEventDeregisterAny(lv->conn, lv->callback_ids[i]);
                        lv->callback_ids[i] = -1;
                }
        (void) virConnectUnregisterCloseCallback(lv->conn, NULL);
        virConnectClose(lv->conn);
        lv->conn = NULL;
}

static gboolean on_close_idle(gpointer user_data) {
        VsmLibvirt *lv = user_data;

        lv->close_idle_id = 0;
        libvirt_drop(lv);
        if (lv->cb.disconnected)
                lv->cb.disconnected(lv, "connection closed", lv->user_data);
        lv->backoff_usec = RECONNECT_MIN_USEC;
        libvirt_schedule_connect(lv);
        return G_SOURCE_REMOVE;
}

static void on_close(virConnectPtr conn, int reason, void *opaque) {
        VsmLibvirt *lv = opaque;
        static const char *const reasons[] = { "error", "end of file", "keepalive timeout", "client closed" };

        vsm_log(G_LOG_LEVEL_WARNING, "libvirt connection to %s lost: %s", lv->uri,
                reason >= 0 && reason < (int) G_N_ELEMENTS(reasons) ? reasons[reason] : "unknown");
        /* Never close the connection from inside its own callback. */
        if (lv->close_idle_id == 0)
                lv->close_idle_id = g_idle_add(on_close_idle, lv);
}

static gboolean libvirt_register(VsmLibvirt *lv) {
        static const struct {
                int id;
                virConnectDomainEventGenericCallback cb;
        } events[_VSM_LIBVIRT_EV_MAX] = {
                [VSM_LIBVIRT_EV_LIFECYCLE] = { VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle) },
                [VSM_LIBVIRT_EV_MIGRATION_ITERATION] = { VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
                                                         VIR_DOMAIN_EVENT_CALLBACK(on_iteration) },
                [VSM_LIBVIRT_EV_JOB_COMPLETED] = { VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
                                                   VIR_DOMAIN_EVENT_CALLBACK(on_job_completed) },
                [VSM_LIBVIRT_EV_DEVICE_ADDED] = { VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                                                  VIR_DOMAIN_EVENT_CALLBACK(on_device_added) },
                [VSM_LIBVIRT_EV_DEVICE_REMOVED] = { VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                                                    VIR_DOMAIN_EVENT_CALLBACK(on_device_removed) },
                [VSM_LIBVIRT_EV_METADATA_CHANGE] = { VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
                                                     VIR_DOMAIN_EVENT_CALLBACK(on_metadata) },
        };

        for (int i = 0; i < _VSM_LIBVIRT_EV_MAX; i++) {
                lv->callback_ids[i] = virConnectDomainEventRegisterAny(lv->conn, NULL, events[i].id,
                                                                       events[i].cb, lv, NULL);
                if (lv->callback_ids[i] < 0) {
                        vsm_log(G_LOG_LEVEL_WARNING, "libvirt: cannot subscribe to %s events: %s",
                                vsm_libvirt_event_kind_to_string(i), last_error());
                        return FALSE;
                }
        }
        return TRUE;
}

static gboolean on_retry(gpointer user_data) {
        VsmLibvirt *lv = user_data;

        lv->retry_id = 0;
        lv->conn = virConnectOpen(lv->uri);
        if (!lv->conn) {
                if (!lv->warned)
                        vsm_log(G_LOG_LEVEL_WARNING, "cannot connect to libvirt at %s: %s (retrying)",
                                lv->uri, last_error());
                lv->warned = TRUE;
                libvirt_schedule_connect(lv);
                return G_SOURCE_REMOVE;
        }
        if (virConnectSetKeepAlive(lv->conn, 5, 3) < 0)
                vsm_log(G_LOG_LEVEL_INFO, "libvirt keepalive not available: %s", last_error());
        (void) virConnectRegisterCloseCallback(lv->conn, on_close, lv, NULL);
        if (!libvirt_register(lv)) {
                libvirt_drop(lv);
                libvirt_schedule_connect(lv);
                return G_SOURCE_REMOVE;
        }
        if (lv->ever_connected)
                lv->reconnects++;
        lv->ever_connected = TRUE;
        lv->warned = FALSE;
        lv->backoff_usec = RECONNECT_MIN_USEC;
        vsm_log(G_LOG_LEVEL_MESSAGE, "connected to libvirt at %s", lv->uri);
        if (lv->cb.connected)
                lv->cb.connected(lv, lv->user_data);
        return G_SOURCE_REMOVE;
}

static void libvirt_schedule_connect(VsmLibvirt *lv) {
        if (lv->retry_id)
                return;
        lv->retry_id = g_timeout_add((guint) (lv->backoff_usec / 1000), on_retry, lv);
        lv->backoff_usec = MIN(lv->backoff_usec * 2, RECONNECT_MAX_USEC);
}

VsmLibvirt *vsm_libvirt_new(const char *uri, const VsmLibvirtCallbacks *cb, gpointer user_data) {
        static gsize registered;
        VsmLibvirt *lv = g_new0(VsmLibvirt, 1);

        if (g_once_init_enter(&registered)) {
                /* Must precede the first virConnectOpen(). */
                gvir_event_register();
                virSetErrorFunc(NULL, libvirt_quiet_error);
                g_once_init_leave(&registered, 1);
        }
        lv->uri = g_strdup(uri);
        lv->cb = *cb;
        lv->user_data = user_data;
        for (int i = 0; i < _VSM_LIBVIRT_EV_MAX; i++)
                lv->callback_ids[i] = -1;
        lv->backoff_usec = RECONNECT_MIN_USEC;
        lv->retry_id = g_idle_add(on_retry, lv);
        return lv;
}

VsmLibvirt *vsm_libvirt_free(VsmLibvirt *lv) {
        if (!lv)
                return NULL;
        g_clear_handle_id(&lv->retry_id, g_source_remove);
        g_clear_handle_id(&lv->close_idle_id, g_source_remove);
        libvirt_drop(lv);
        g_free(lv->uri);
        g_free(lv);
        return NULL;
}

gboolean vsm_libvirt_is_connected(const VsmLibvirt *lv) {
        return lv->conn != NULL;
}

const char *vsm_libvirt_get_uri(const VsmLibvirt *lv) {
        return lv->uri;
}

guint vsm_libvirt_get_reconnects(const VsmLibvirt *lv) {
        return lv->reconnects;
}

void vsm_libvirt_domain_free(VsmLibvirtDomain *d) {
        if (!d)
                return;
        g_free(d->name);
        g_free(d->xml);
        g_free(d);
}

static VsmLibvirtDomain *domain_describe(virDomainPtr dom, GError **error) {
        g_autoptr(VsmLibvirtDomain) d = g_new0(VsmLibvirtDomain, 1);
        char *xml;

        d->name = g_strdup(virDomainGetName(dom));
        if (virDomainGetUUID(dom, d->uuid) < 0 || virDomainGetState(dom, &d->state, &d->reason, 0) < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "%s: %s", d->name, last_error());
                return NULL;
        }
        xml = virDomainGetXMLDesc(dom, 0);
        if (!xml) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "%s: %s", d->name, last_error());
                return NULL;
        }
        d->xml = g_strdup(xml);
        free(xml);
        return g_steal_pointer(&d);
}

GPtrArray *vsm_libvirt_list_active(VsmLibvirt *lv, GError **error) {
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify) vsm_libvirt_domain_free);
        virDomainPtr *doms = NULL;
        int n;

        if (!lv->conn) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "not connected to libvirt");
                return NULL;
        }
        n = virConnectListAllDomains(lv->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "listing domains: %s", last_error());
                return NULL;
        }
        for (int i = 0; i < n; i++) {
                g_autoptr(GError) local = NULL;
                VsmLibvirtDomain *d = domain_describe(doms[i], &local);

                if (d)
                        g_ptr_array_add(out, d);
                else
                        vsm_log(G_LOG_LEVEL_INFO, "skipping domain: %s", local->message);
                virDomainFree(doms[i]);
        }
        free(doms);
        return g_steal_pointer(&out);
}

VsmLibvirtDomain *vsm_libvirt_get_domain(VsmLibvirt *lv, const uint8_t uuid[16], GError **error) {
        g_autoptr(virDomain) dom = NULL;

        if (!lv->conn) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "not connected to libvirt");
                return NULL;
        }
        dom = virDomainLookupByUUID(lv->conn, uuid);
        if (!dom) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_NOT_FOUND, "%s", last_error());
                return NULL;
        }
        return domain_describe(dom, error);
}

const char *vsm_libvirt_event_kind_to_string(VsmLibvirtEventKind k) {
        static const char *const names[_VSM_LIBVIRT_EV_MAX] = {
                [VSM_LIBVIRT_EV_LIFECYCLE] = "lifecycle",
                [VSM_LIBVIRT_EV_MIGRATION_ITERATION] = "migration-iteration",
                [VSM_LIBVIRT_EV_JOB_COMPLETED] = "job-completed",
                [VSM_LIBVIRT_EV_DEVICE_ADDED] = "device-added",
                [VSM_LIBVIRT_EV_DEVICE_REMOVED] = "device-removed",
                [VSM_LIBVIRT_EV_METADATA_CHANGE] = "metadata-change",
        };

        return k < _VSM_LIBVIRT_EV_MAX ? names[k] : NULL;
}

/* ---- calls about one domain, off the main loop ----
 *
 * libvirt calls are blocking RPCs, and libvirt may hold one for as long as
 * a job holds the domain: these run in GTask worker threads on a
 * connection reference of their own (virConnect is thread-safe), and
 * report in the caller's main context. */

typedef struct DomainCall {
        virConnectPtr conn;
        uint8_t uuid[16];
        /* metadata writes */
        char *xml;
        char *key;
        char *uri;
} DomainCall;

static void domain_call_free(gpointer p) {
        DomainCall *c = p;

        if (c->conn)
                virConnectClose(c->conn);
        g_free(c->xml);
        g_free(c->key);
        g_free(c->uri);
        g_free(c);
}

/* The domain, or NULL with the task's error returned. */
static virDomainPtr domain_call_lookup(GTask *task, const DomainCall *c) {
        virDomainPtr dom = virDomainLookupByUUID(c->conn, c->uuid);

        if (!dom)
                g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "domain gone: %s",
                                        virGetLastErrorMessage());
        return dom;
}

/* Runs func for the domain in a worker thread; takes c. */
static gboolean domain_call_run(VsmLibvirt *lv, DomainCall *c, const uint8_t uuid[16], GTaskThreadFunc func,
                                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data) {
        g_autoptr(GTask) task = NULL;

        if (!lv || !lv->conn) {
                domain_call_free(c);
                return FALSE;
        }
        c->conn = lv->conn;
        virConnectRef(c->conn);
        memcpy(c->uuid, uuid, 16);
        task = g_task_new(NULL, cancellable, callback, user_data);
        g_task_set_task_data(task, c, domain_call_free);
        g_task_run_in_thread(task, func);
        return TRUE;
}

static void metadata_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable) {
        DomainCall *c = task_data;
        virDomainPtr dom = domain_call_lookup(task, c);
        int r;

        if (!dom)
                return;
        r = virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, c->xml, c->key, c->uri, VIR_DOMAIN_AFFECT_LIVE);
        if (r < 0)
                g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", virGetLastErrorMessage());
        else
                g_task_return_boolean(task, TRUE);
        virDomainFree(dom);
}

gboolean vsm_libvirt_set_metadata_async(VsmLibvirt *lv, const uint8_t uuid[16], const char *xml, const char *key,
                                        const char *uri, GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer user_data) {
        DomainCall *c = g_new0(DomainCall, 1);

        c->xml = g_strdup(xml);
        c->key = g_strdup(key);
        c->uri = g_strdup(uri);
        return domain_call_run(lv, c, uuid, metadata_thread, cancellable, callback, user_data);
}

gboolean vsm_libvirt_set_metadata_finish(GAsyncResult *result, GError **error) {
        return g_task_propagate_boolean(G_TASK(result), error);
}

static void job_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable) {
        DomainCall *c = task_data;
        virDomainPtr dom = domain_call_lookup(task, c);
        virDomainJobInfo info;
        int r;

        if (!dom)
                return;
        r = virDomainGetJobInfo(dom, &info);
        /* The error message before virDomainFree(), which resets it. */
        if (r < 0)
                g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", virGetLastErrorMessage());
        else
                g_task_return_int(task, info.type);
        virDomainFree(dom);
}

gboolean vsm_libvirt_get_job_async(VsmLibvirt *lv, const uint8_t uuid[16], GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data) {
        return domain_call_run(lv, g_new0(DomainCall, 1), uuid, job_thread, cancellable, callback, user_data);
}

int vsm_libvirt_get_job_finish(GAsyncResult *result, GError **error) {
        return (int) g_task_propagate_int(G_TASK(result), error);
}

static void job_operation_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable) {
        DomainCall *c = task_data;
        virDomainPtr dom = domain_call_lookup(task, c);
        virTypedParameterPtr params = NULL;
        int type = VIR_DOMAIN_JOB_NONE, n = 0, op = VIR_DOMAIN_JOB_OPERATION_UNKNOWN, r;

        if (!dom)
                return;
        r = virDomainGetJobStats(dom, &type, &params, &n, 0);
        if (r < 0) {
                /* Read before virDomainFree(), which resets it. */
                virErrorPtr e = virGetLastError();

                /* The qemu driver on a migration's destination. */
                if (e && e->code == VIR_ERR_OPERATION_UNSUPPORTED)
                        g_task_return_int(task, VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN);
                else
                        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
                                                virGetLastErrorMessage());
                virDomainFree(dom);
                return;
        }
        virDomainFree(dom);
        if (type == VIR_DOMAIN_JOB_NONE)
                op = VSM_LIBVIRT_JOB_NONE;
        else if (virTypedParamsGetInt(params, n, VIR_DOMAIN_JOB_OPERATION, &op) != 1)
                op = VIR_DOMAIN_JOB_OPERATION_UNKNOWN;
        virTypedParamsFree(params, n);
        g_task_return_int(task, op);
}

gboolean vsm_libvirt_get_job_operation_async(VsmLibvirt *lv, const uint8_t uuid[16], GCancellable *cancellable,
                                             GAsyncReadyCallback callback, gpointer user_data) {
        return domain_call_run(lv, g_new0(DomainCall, 1), uuid, job_operation_thread, cancellable, callback,
                               user_data);
}

int vsm_libvirt_get_job_operation_finish(GAsyncResult *result, GError **error) {
        return (int) g_task_propagate_int(G_TASK(result), error);
}

/* The libvirt connection: events on the GLib loop (libvirt-glib's
 * gvir_event_register()), keepalive, reconnect with backoff, and the few
 * calls the daemon needs, every RPC in a worker thread of our own (see
 * libvirt.c).  Never used from the hook path. */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

typedef struct VsmLibvirt VsmLibvirt;

typedef enum VsmLibvirtEventKind {
        VSM_LIBVIRT_EV_LIFECYCLE,
        VSM_LIBVIRT_EV_MIGRATION_ITERATION,
        VSM_LIBVIRT_EV_JOB_COMPLETED,
        VSM_LIBVIRT_EV_DEVICE_ADDED,
        VSM_LIBVIRT_EV_DEVICE_REMOVED,
        VSM_LIBVIRT_EV_METADATA_CHANGE,
        _VSM_LIBVIRT_EV_MAX,
} VsmLibvirtEventKind;

typedef struct VsmLibvirtEvent {
        VsmLibvirtEventKind kind;
        const char *name;              /* domain name */
        uint8_t uuid[16];
        int event, detail;             /* lifecycle */
        int iteration;                 /* migration iteration */
        const char *alias;             /* device added/removed */
} VsmLibvirtEvent;

typedef struct VsmLibvirtDomain {
        char *name;
        uint8_t uuid[16];
        int state;                     /* virDomainState */
        int reason;
        char *xml;                     /* live XML */
} VsmLibvirtDomain;

typedef struct VsmLibvirtCallbacks {
        /* After every (re)connect, before any event of that connection;
         * domains: the active ones (VsmLibvirtDomain, borrowed), listed
         * after the events were subscribed (an event delivered after this
         * call may predate the list). */
        void (*connected)(VsmLibvirt *lv, GPtrArray *domains, gpointer user_data);
        void (*disconnected)(VsmLibvirt *lv, const char *reason, gpointer user_data);
        void (*event)(VsmLibvirt *lv, const VsmLibvirtEvent *ev, gpointer user_data);
} VsmLibvirtCallbacks;

/* Registers libvirt-glib's event implementation (once per process),
 * starts the workers and connects to uri in the rpc worker (retrying with
 * backoff 1 s .. 30 s until it works). */
VsmLibvirt *vsm_libvirt_new(const char *uri, const VsmLibvirtCallbacks *cb, gpointer user_data);
VsmLibvirt *vsm_libvirt_free(VsmLibvirt *lv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmLibvirt, vsm_libvirt_free)

gboolean vsm_libvirt_is_connected(const VsmLibvirt *lv);
const char *vsm_libvirt_get_uri(const VsmLibvirt *lv);
guint vsm_libvirt_get_reconnects(const VsmLibvirt *lv);

/* The workers' state for `status`: {"rpc": {...}, "metadata": {...}},
 * each with queued, busy_ms (the job running now), ran, dropped,
 * max_busy_ms. */
JsonNode *vsm_libvirt_workers_json(VsmLibvirt *lv);

/* One domain's name, state and live XML, in the rpc worker; _finish()
 * gives it, or NULL with VSM_ERROR_NOT_FOUND when it is gone.  FALSE (and
 * no callback) when not connected. */
gboolean vsm_libvirt_get_domain_async(VsmLibvirt *lv, const uint8_t uuid[16], GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
VsmLibvirtDomain *vsm_libvirt_get_domain_finish(GAsyncResult *result, GError **error);
void vsm_libvirt_domain_free(VsmLibvirtDomain *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmLibvirtDomain, vsm_libvirt_domain_free)

/* virDomainSetMetadata(ELEMENT, key, uri, AFFECT_LIVE) in the metadata
 * worker (a blocking RPC that libvirt may hold while a job runs, so it has
 * a queue of its own); cancelling drops it if still queued and discards
 * its result if in flight; the
 * callback runs in the caller's main context and calls _finish().  FALSE
 * (and no callback) when not connected. */
gboolean vsm_libvirt_set_metadata_async(VsmLibvirt *lv, const uint8_t uuid[16], const char *xml, const char *key,
                                        const char *uri, GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer user_data);
gboolean vsm_libvirt_set_metadata_finish(GAsyncResult *result, GError **error);
/* virDomainGetJobInfo() in the rpc worker: _finish() gives the job type
 * (virDomainJobType: 0 none, 1 bounded, 2 unbounded, ...) or -1 with an
 * error.  FALSE (and no callback) when not connected. */
gboolean vsm_libvirt_get_job_async(VsmLibvirt *lv, const uint8_t uuid[16], GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
int vsm_libvirt_get_job_finish(GAsyncResult *result, GError **error);
/* The operation of the domain's current job (virDomainGetJobStats,
 * VIR_DOMAIN_JOB_OPERATION) in the rpc worker: _finish() gives a
 * virDomainJobOperation value, VSM_LIBVIRT_JOB_NONE when no job holds the
 * domain, or -1 with an error.  libvirt's qemu driver gives no statistics
 * for an incoming migration ("available only on the source host",
 * VIR_ERR_OPERATION_UNSUPPORTED): that answer is reported as
 * VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN.  FALSE (and no callback) when not
 * connected. */
#define VSM_LIBVIRT_JOB_NONE (-2)
gboolean vsm_libvirt_get_job_operation_async(VsmLibvirt *lv, const uint8_t uuid[16], GCancellable *cancellable,
                                             GAsyncReadyCallback callback, gpointer user_data);
int vsm_libvirt_get_job_operation_finish(GAsyncResult *result, GError **error);
const char *vsm_libvirt_event_kind_to_string(VsmLibvirtEventKind k);

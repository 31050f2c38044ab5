/* libvirt connection with events on the GLib main loop.
 *
 * Every libvirt call that is an RPC runs in a worker thread of our own,
 * never on the main loop and never in GLib's shared GTask pool (which TLS
 * handshakes and DNS lookups also use): libvirt may hold an RPC for as
 * long as a job holds the domain (up to 30 s for a migration), and a
 * stalled libvirtd holds every one.  Two workers, each a FIFO queue and
 * one thread: "rpc" (connect with its event registrations and the list of
 * active domains, lookups, job queries) and "metadata" (<metadata>
 * writes, which libvirt makes wait behind a domain's job), so a write
 * waiting for a migration job never delays a lookup.  Results come back
 * to the main context as GTask callbacks.  A job whose cancellable is
 * cancelled before the worker takes it is dropped without its RPC; the
 * result of one in flight is discarded (the callback sees
 * G_IO_ERROR_CANCELLED).  Only the event callbacks, which libvirt runs
 * from its event loop (the GLib main context, gvir_event_register()),
 * run on the main thread. */
#include "io/libvirt.h"

#include <libvirt-glib/libvirt-glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/log.h"

#define RECONNECT_MIN_USEC (1 * G_USEC_PER_SEC)
#define RECONNECT_MAX_USEC (30 * G_USEC_PER_SEC)
/* Events that arrive between a connection's event registration (in the
 * worker) and its "connected" result (in the main context) wait here. */
#define EARLY_EVENTS_MAX 1024
/* How long vsm_libvirt_free() waits for a worker stuck in an RPC. */
#define WORKER_JOIN_USEC (2 * G_USEC_PER_SEC)

/* One worker: a FIFO of jobs and one thread.  Shared by its owner and the
 * thread (a worker stuck in an RPC at shutdown is left to finish alone). */
typedef struct LvWorker {
        gint ref;
        char *name;
        GMutex lock;
        GCond cond;
        GQueue jobs;                   /* LvJob, owned */
        gboolean quit;
        gboolean finished;
        GThread *thread;
        /* under lock */
        guint64 ran;                   /* counted as they start */
        guint64 dropped;               /* cancelled before they ran */
        gint64 busy_since;             /* monotonic µs of the job running, 0 idle */
        gint64 max_busy_usec;
} LvWorker;

typedef struct LvJob {
        GTask *task;                   /* with func; or NULL for a plain job */
        GTaskThreadFunc func;
        GFunc plain;                   /* plain(data, NULL) */
        gpointer data;
} LvJob;

typedef struct EarlyEvent {
        virConnectPtr conn;            /* compared only, no reference */
        VsmLibvirtEvent ev;
        char *name;
        char *alias;
} EarlyEvent;

/* What the connect job hands to the main context. */
typedef struct ConnectResult {
        virConnectPtr conn;
        int callback_ids[_VSM_LIBVIRT_EV_MAX];
        gboolean close_cb;
        GPtrArray *domains;            /* VsmLibvirtDomain: the active ones */
} ConnectResult;

struct VsmLibvirt {
        char *uri;
        VsmLibvirtCallbacks cb;
        gpointer user_data;
        virConnectPtr conn;
        int callback_ids[_VSM_LIBVIRT_EV_MAX];
        gboolean close_cb;
        guint retry_id;
        guint close_idle_id;
        gint64 backoff_usec;
        guint reconnects;
        gboolean ever_connected;
        gboolean warned;
        gboolean connecting;           /* a connect job is queued or running */
        GCancellable *cancel;          /* the connect jobs; cancelled at free */
        LvWorker *rpc;
        LvWorker *meta;
        GQueue early;                  /* EarlyEvent */
        guint64 early_dropped;
        virConnectPtr closed_early;    /* compared only: closed before its result came */
};

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)

static void libvirt_schedule_connect(VsmLibvirt *lv);
static void on_close(virConnectPtr conn, int reason, void *opaque);

/* libvirt prints errors to stderr by default; we log what matters ourselves. */
static void libvirt_quiet_error(void *user_data, virErrorPtr err) {
}

static const char *last_error(void) {
        virErrorPtr e = virGetLastError();

        return e && e->message ? e->message : "unknown libvirt error";
}

static void early_event_free(gpointer p) {
        EarlyEvent *e = p;

        g_free(e->name);
        g_free(e->alias);
        g_free(e);
}

/* Events run on the main thread (libvirt's event loop is GLib's).  One of
 * a connection whose "connected" result has not come back from the worker
 * yet waits for it (connected() first, then its events in order). */
static void libvirt_emit(VsmLibvirt *lv, virConnectPtr conn, VsmLibvirtEvent *ev, virDomainPtr dom) {
        ev->name = virDomainGetName(dom);
        if (virDomainGetUUID(dom, ev->uuid) < 0)
                return;
        if (conn != lv->conn) {
                EarlyEvent *e;

                if (!lv->connecting)
                        return;         /* a connection being dropped */
                if (g_queue_get_length(&lv->early) >= EARLY_EVENTS_MAX) {
                        if (lv->early_dropped++ == 0)
                                vsm_log(G_LOG_LEVEL_WARNING, "libvirt: more than %d events before the connection "
                                        "was ready: dropping the rest", EARLY_EVENTS_MAX);
                        return;
                }
                e = g_new0(EarlyEvent, 1);
                e->conn = conn;
                e->ev = *ev;
                e->name = g_strdup(ev->name);
                e->alias = g_strdup(ev->alias);
                e->ev.name = e->name;
                e->ev.alias = e->alias;
                g_queue_push_tail(&lv->early, e);
                return;
        }
        lv->cb.event(lv, ev, lv->user_data);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_LIFECYCLE, .event = event, .detail = detail };

        libvirt_emit(opaque, conn, &ev, dom);
        return 0;
}

static void on_iteration(virConnectPtr conn, virDomainPtr dom, int iteration, void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_MIGRATION_ITERATION, .iteration = iteration };

        libvirt_emit(opaque, conn, &ev, dom);
}

static void on_job_completed(virConnectPtr conn, virDomainPtr dom, virTypedParameterPtr params, int n,
                             void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_JOB_COMPLETED };

        libvirt_emit(opaque, conn, &ev, dom);
}

static void on_device_added(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_DEVICE_ADDED, .alias = alias };

        libvirt_emit(opaque, conn, &ev, dom);
}

static void on_device_removed(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_DEVICE_REMOVED, .alias = alias };

        libvirt_emit(opaque, conn, &ev, dom);
}

static void on_metadata(virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri, void *opaque) {
        VsmLibvirtEvent ev = { .kind = VSM_LIBVIRT_EV_METADATA_CHANGE };

        libvirt_emit(opaque, conn, &ev, dom);
}

/* ---- the workers ---- */

static LvWorker *worker_ref(LvWorker *w) {
        g_atomic_int_inc(&w->ref);
        return w;
}

static void worker_unref(LvWorker *w) {
        if (!g_atomic_int_dec_and_test(&w->ref))
                return;
        g_queue_clear_full(&w->jobs, g_free);
        g_mutex_clear(&w->lock);
        g_cond_clear(&w->cond);
        g_free(w->name);
        g_free(w);
}

/* The counters move before the result goes out: whoever sees the result
 * sees them. */
static void job_run(LvWorker *w, LvJob *j) {
        if (j->task) {
                GCancellable *c = g_task_get_cancellable(j->task);
                gboolean drop = g_cancellable_is_cancelled(c);

                g_mutex_lock(&w->lock);
                if (drop)
                        w->dropped++;
                else
                        w->ran++;
                g_mutex_unlock(&w->lock);
                if (!drop || !g_task_return_error_if_cancelled(j->task))
                        j->func(j->task, NULL, g_task_get_task_data(j->task), c);
                g_object_unref(j->task);
        } else {
                j->plain(j->data, NULL);
        }
        g_free(j);
}

static gpointer worker_thread(gpointer data) {
        LvWorker *w = data;

        g_mutex_lock(&w->lock);
        for (;;) {
                LvJob *j;
                gint64 took;

                while (!w->quit && g_queue_is_empty(&w->jobs))
                        g_cond_wait(&w->cond, &w->lock);
                j = g_queue_pop_head(&w->jobs);
                if (!j)
                        break;          /* quit, and nothing left */
                w->busy_since = g_get_monotonic_time();
                g_mutex_unlock(&w->lock);
                job_run(w, j);
                g_mutex_lock(&w->lock);
                took = g_get_monotonic_time() - w->busy_since;
                w->max_busy_usec = MAX(w->max_busy_usec, took);
                w->busy_since = 0;
        }
        w->finished = TRUE;
        g_cond_broadcast(&w->cond);
        g_mutex_unlock(&w->lock);
        worker_unref(w);
        return NULL;
}

static LvWorker *worker_new(const char *name) {
        LvWorker *w = g_new0(LvWorker, 1);
        g_autofree char *tname = g_strdup_printf("vsm-lv-%s", name);

        w->ref = 1;
        w->name = g_strdup(name);
        g_mutex_init(&w->lock);
        g_cond_init(&w->cond);
        g_queue_init(&w->jobs);
        w->thread = g_thread_new(tname, worker_thread, worker_ref(w));
        return w;
}

static void worker_push(LvWorker *w, LvJob *j) {
        g_mutex_lock(&w->lock);
        g_queue_push_tail(&w->jobs, j);
        g_cond_signal(&w->cond);
        g_mutex_unlock(&w->lock);
}

/* Runs func(task, NULL, task_data, cancellable) in worker w; takes task. */
static void worker_push_task(LvWorker *w, GTask *task, GTaskThreadFunc func) {
        LvJob *j = g_new0(LvJob, 1);

        j->task = task;
        j->func = func;
        worker_push(w, j);
}

static void worker_push_plain(LvWorker *w, GFunc func, gpointer data) {
        LvJob *j = g_new0(LvJob, 1);

        j->plain = func;
        j->data = data;
        worker_push(w, j);
}

/* Asks w to finish what is queued (cancelled jobs are dropped) and waits
 * up to WORKER_JOIN_USEC; a worker still stuck in an RPC is left to end
 * alone, holding its own reference. */
static void worker_stop(LvWorker *w) {
        gint64 deadline = g_get_monotonic_time() + WORKER_JOIN_USEC;
        gboolean finished;

        g_mutex_lock(&w->lock);
        w->quit = TRUE;
        g_cond_broadcast(&w->cond);
        while (!w->finished)
                if (!g_cond_wait_until(&w->cond, &w->lock, deadline))
                        break;
        finished = w->finished;
        g_mutex_unlock(&w->lock);
        if (finished) {
                g_thread_join(w->thread);
        } else {
                vsm_log(G_LOG_LEVEL_WARNING, "libvirt %s worker still in an RPC after %d s: left behind",
                        w->name, (int) (WORKER_JOIN_USEC / G_USEC_PER_SEC));
                g_thread_unref(w->thread);
        }
        w->thread = NULL;
        worker_unref(w);
}

static void worker_to_json(LvWorker *w, JsonBuilder *b) {
        gint64 now = g_get_monotonic_time();

        g_mutex_lock(&w->lock);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "queued");
        json_builder_add_int_value(b, g_queue_get_length(&w->jobs));
        json_builder_set_member_name(b, "busy_ms");
        json_builder_add_int_value(b, w->busy_since ? (now - w->busy_since) / 1000 : 0);
        json_builder_set_member_name(b, "ran");
        json_builder_add_int_value(b, (gint64) w->ran);
        json_builder_set_member_name(b, "dropped");
        json_builder_add_int_value(b, (gint64) w->dropped);
        json_builder_set_member_name(b, "max_busy_ms");
        json_builder_add_int_value(b, MAX(w->max_busy_usec, w->busy_since ? now - w->busy_since : 0) / 1000);
        json_builder_end_object(b);
        g_mutex_unlock(&w->lock);
}

/* ---- the connection ---- */

static void connect_result_close(ConnectResult *r) {
        if (!r->conn)
                return;
        for (int i = 0; i < _VSM_LIBVIRT_EV_MAX; i++)
                if (r->callback_ids[i] >= 0) {
                        (void) virConnectDomainEventDeregisterAny(r->conn, r->callback_ids[i]);
                        r->callback_ids[i] = -1;
                }
        /* libvirt matches the callback: NULL is refused. */
        if (r->close_cb)
                (void) virConnectUnregisterCloseCallback(r->conn, on_close);
        virConnectClose(r->conn);
        r->conn = NULL;
}

static void connect_result_free(gpointer p) {
        ConnectResult *r = p;

        connect_result_close(r);
        g_clear_pointer(&r->domains, g_ptr_array_unref);
        g_free(r);
}

/* Worker: the deregistrations and the close are RPCs too. */
static void drop_job(gpointer data, gpointer unused) {
        connect_result_free(data);
}

/* Hands the current connection to the rpc worker to be closed. */
static void libvirt_drop(VsmLibvirt *lv) {
        ConnectResult *r;

        if (!lv->conn)
                return;
        r = g_new0(ConnectResult, 1);
        r->conn = g_steal_pointer(&lv->conn);
        memcpy(r->callback_ids, lv->callback_ids, sizeof(r->callback_ids));
        r->close_cb = lv->close_cb;
        for (int i = 0; i < _VSM_LIBVIRT_EV_MAX; i++)
                lv->callback_ids[i] = -1;
        lv->close_cb = FALSE;
        worker_push_plain(lv->rpc, drop_job, r);
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
        if (conn != lv->conn) {
                /* Still on its way from the worker: refused when it
                 * comes (or one already dropped: nothing to do). */
                if (lv->connecting)
                        lv->closed_early = conn;
                return;
        }
        /* Never close the connection from inside its own callback. */
        if (lv->close_idle_id == 0)
                lv->close_idle_id = g_idle_add(on_close_idle, lv);
}

static gboolean libvirt_register(VsmLibvirt *lv, ConnectResult *r) {
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
                r->callback_ids[i] = virConnectDomainEventRegisterAny(r->conn, NULL, events[i].id,
                                                                      events[i].cb, lv, NULL);
                if (r->callback_ids[i] < 0) {
                        vsm_log(G_LOG_LEVEL_WARNING, "libvirt: cannot subscribe to %s events: %s",
                                vsm_libvirt_event_kind_to_string(i), last_error());
                        return FALSE;
                }
        }
        return TRUE;
}

static GPtrArray *list_active(virConnectPtr conn, GError **error);

/* Worker: open, keepalive, close callback, events, then the active
 * domains with their live XML (the reconcile's input). */
typedef struct ConnectJob {
        char *uri;
        VsmLibvirt *lv;                /* the events' opaque only: never read here */
} ConnectJob;

static void connect_job_free(gpointer p) {
        ConnectJob *j = p;

        g_free(j->uri);
        g_free(j);
}

static void connect_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable) {
        ConnectJob *j = task_data;
        VsmLibvirt *lv = j->lv;
        ConnectResult *r = g_new0(ConnectResult, 1);
        GError *error = NULL;

        for (int i = 0; i < _VSM_LIBVIRT_EV_MAX; i++)
                r->callback_ids[i] = -1;
        r->conn = virConnectOpen(j->uri);
        if (!r->conn) {
                g_task_return_new_error(task, VSM_ERROR, VSM_ERROR_IO, "%s", last_error());
                connect_result_free(r);
                return;
        }
        if (virConnectSetKeepAlive(r->conn, 5, 3) < 0)
                vsm_log(G_LOG_LEVEL_INFO, "libvirt keepalive not available: %s", last_error());
        r->close_cb = virConnectRegisterCloseCallback(r->conn, on_close, lv, NULL) == 0;
        if (!libvirt_register(lv, r)) {
                g_task_return_new_error(task, VSM_ERROR, VSM_ERROR_IO, "cannot subscribe to events");
                connect_result_free(r);
                return;
        }
        r->domains = list_active(r->conn, &error);
        if (!r->domains) {
                g_task_return_error(task, error);
                connect_result_free(r);
                return;
        }
        g_task_return_pointer(task, r, connect_result_free);
}

static void on_connected(GObject *source, GAsyncResult *result, gpointer user_data) {
        g_autoptr(GError) error = NULL;
        ConnectResult *r = g_task_propagate_pointer(G_TASK(result), &error);
        VsmLibvirt *lv;

        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;                 /* lv is gone; the result was freed */
        lv = user_data;
        lv->connecting = FALSE;
        if (r && r->conn == lv->closed_early) {
                g_clear_error(&error);
                g_set_error(&error, VSM_ERROR, VSM_ERROR_IO, "connection closed as it was made");
                connect_result_free(r);
                r = NULL;
        }
        lv->closed_early = NULL;
        if (!r) {
                if (!lv->warned)
                        vsm_log(G_LOG_LEVEL_WARNING, "cannot connect to libvirt at %s: %s (retrying)",
                                lv->uri, error->message);
                lv->warned = TRUE;
                g_queue_clear_full(&lv->early, early_event_free);
                libvirt_schedule_connect(lv);
                return;
        }
        lv->conn = g_steal_pointer(&r->conn);
        memcpy(lv->callback_ids, r->callback_ids, sizeof(lv->callback_ids));
        lv->close_cb = r->close_cb;
        if (lv->ever_connected)
                lv->reconnects++;
        lv->ever_connected = TRUE;
        lv->warned = FALSE;
        lv->backoff_usec = RECONNECT_MIN_USEC;
        vsm_log(G_LOG_LEVEL_MESSAGE, "connected to libvirt at %s", lv->uri);
        if (lv->cb.connected)
                lv->cb.connected(lv, r->domains, lv->user_data);
        /* The events that came in meanwhile, in order. */
        while (!g_queue_is_empty(&lv->early)) {
                EarlyEvent *e = g_queue_pop_head(&lv->early);

                if (e->conn == lv->conn)
                        lv->cb.event(lv, &e->ev, lv->user_data);
                early_event_free(e);
                if (!lv->conn)
                        break;
        }
        g_queue_clear_full(&lv->early, early_event_free);
        lv->early_dropped = 0;
        connect_result_free(r);
}

static gboolean on_retry(gpointer user_data) {
        VsmLibvirt *lv = user_data;
        GTask *task;

        lv->retry_id = 0;
        if (lv->connecting)
                return G_SOURCE_REMOVE;
        lv->connecting = TRUE;
        {
        ConnectJob *j = g_new0(ConnectJob, 1);

        j->uri = g_strdup(lv->uri);
        j->lv = lv;
        task = g_task_new(NULL, lv->cancel, on_connected, lv);
        g_task_set_task_data(task, j, connect_job_free);
        worker_push_task(lv->rpc, task, connect_thread);
        }
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
        lv->cancel = g_cancellable_new();
        g_queue_init(&lv->early);
        lv->rpc = worker_new("rpc");
        lv->meta = worker_new("metadata");
        lv->retry_id = g_idle_add(on_retry, lv);
        return lv;
}

VsmLibvirt *vsm_libvirt_free(VsmLibvirt *lv) {
        if (!lv)
                return NULL;
        g_clear_handle_id(&lv->retry_id, g_source_remove);
        g_clear_handle_id(&lv->close_idle_id, g_source_remove);
        /* Queued jobs are dropped, results in flight discarded (their
         * callbacks see CANCELLED and never touch lv); the connection is
         * closed by the rpc worker after what it runs now. */
        g_cancellable_cancel(lv->cancel);
        libvirt_drop(lv);
        worker_stop(lv->meta);
        worker_stop(lv->rpc);
        g_clear_object(&lv->cancel);
        g_queue_clear_full(&lv->early, early_event_free);
        g_free(lv->uri);
        g_free(lv);
        return NULL;
}

JsonNode *vsm_libvirt_workers_json(VsmLibvirt *lv) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "rpc");
        worker_to_json(lv->rpc, b);
        json_builder_set_member_name(b, "metadata");
        worker_to_json(lv->meta, b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
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

static GPtrArray *list_active(virConnectPtr conn, GError **error) {
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify) vsm_libvirt_domain_free);
        virDomainPtr *doms = NULL;
        int n;

        n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
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
 * a job holds the domain: these run in our workers on a connection
 * reference of their own (virConnect is thread-safe), and report in the
 * caller's main context. */

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

/* Runs func for the domain in worker w; takes c. */
static gboolean domain_call_run(VsmLibvirt *lv, LvWorker *w, DomainCall *c, const uint8_t uuid[16],
                                GTaskThreadFunc func, GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data) {
        GTask *task;

        if (!lv || !lv->conn) {
                domain_call_free(c);
                return FALSE;
        }
        c->conn = lv->conn;
        virConnectRef(c->conn);
        memcpy(c->uuid, uuid, 16);
        task = g_task_new(NULL, cancellable, callback, user_data);
        g_task_set_task_data(task, c, domain_call_free);
        worker_push_task(w, task, func);
        return TRUE;
}

static void domain_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable) {
        DomainCall *c = task_data;
        virDomainPtr dom = virDomainLookupByUUID(c->conn, c->uuid);
        GError *error = NULL;
        VsmLibvirtDomain *d;

        if (!dom) {
                g_task_return_new_error(task, VSM_ERROR, VSM_ERROR_NOT_FOUND, "%s", last_error());
                return;
        }
        d = domain_describe(dom, &error);
        virDomainFree(dom);
        if (d)
                g_task_return_pointer(task, d, (GDestroyNotify) vsm_libvirt_domain_free);
        else
                g_task_return_error(task, error);
}

gboolean vsm_libvirt_get_domain_async(VsmLibvirt *lv, const uint8_t uuid[16], GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data) {
        return domain_call_run(lv, lv ? lv->rpc : NULL, g_new0(DomainCall, 1), uuid, domain_thread, cancellable,
                               callback, user_data);
}

VsmLibvirtDomain *vsm_libvirt_get_domain_finish(GAsyncResult *result, GError **error) {
        return g_task_propagate_pointer(G_TASK(result), error);
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
        return domain_call_run(lv, lv ? lv->meta : NULL, c, uuid, metadata_thread, cancellable, callback,
                               user_data);
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
        return domain_call_run(lv, lv ? lv->rpc : NULL, g_new0(DomainCall, 1), uuid, job_thread, cancellable,
                               callback, user_data);
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
        return domain_call_run(lv, lv ? lv->rpc : NULL, g_new0(DomainCall, 1), uuid, job_operation_thread,
                               cancellable, callback, user_data);
}

int vsm_libvirt_get_job_operation_finish(GAsyncResult *result, GError **error) {
        return (int) g_task_propagate_int(G_TASK(result), error);
}

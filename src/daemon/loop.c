/* vsimigd's main loop with dispatch timing.  GLib's g_main_loop_run() does
 * prepare, query, poll, check and dispatch in a loop; we do the same steps
 * ourselves (the documented "Customizing the main loop iteration" API) and
 * time g_main_context_dispatch(), which runs every callback: packet
 * sockets, timers, the control and peer sockets, libvirt events, idles. */
#include "daemon/loop.h"

struct VsmLoop {
        GMainContext *ctx;
        gint quit;
        VsmLoopStats stats;
};

guint vsm_loop_hist_bucket(guint64 us) {
        guint b = 0;
        guint64 limit = VSM_LOOP_HIST_FIRST_US;

        while (b < VSM_LOOP_HIST_BUCKETS - 1 && us >= limit) {
                b++;
                limit <<= 1;
        }
        return b;
}

guint64 vsm_loop_hist_bucket_limit(guint bucket) {
        if (bucket >= VSM_LOOP_HIST_BUCKETS - 1)
                return 0;
        return (guint64) VSM_LOOP_HIST_FIRST_US << bucket;
}

void vsm_loop_stats_init(VsmLoopStats *s, gint64 now_usec) {
        *s = (VsmLoopStats){ .start_usec = now_usec, .reset_usec = now_usec };
}

static void counts_record(VsmLoopCounts *c, guint64 us) {
        c->dispatches++;
        c->total_us += us;
        if (us > c->max_us)
                c->max_us = us;
        c->hist[vsm_loop_hist_bucket(us)]++;
}

void vsm_loop_stats_record(VsmLoopStats *s, guint64 us) {
        counts_record(&s->all, us);
        counts_record(&s->since_reset, us);
}

void vsm_loop_stats_reset(VsmLoopStats *s, gint64 now_usec) {
        s->since_reset = (VsmLoopCounts){ 0 };
        s->reset_usec = now_usec;
        s->resets++;
}

static void counts_to_json(JsonBuilder *b, const VsmLoopCounts *c) {
        json_builder_set_member_name(b, "max_dispatch_us");
        json_builder_add_int_value(b, (gint64) c->max_us);
        json_builder_set_member_name(b, "dispatches");
        json_builder_add_int_value(b, (gint64) c->dispatches);
        json_builder_set_member_name(b, "mean_dispatch_us");
        json_builder_add_int_value(b, c->dispatches ? (gint64) (c->total_us / c->dispatches) : 0);
        /* [{"lt_us": 64, "count": n}, ..., {"ge_us": 65536, "count": n}] */
        json_builder_set_member_name(b, "histogram");
        json_builder_begin_array(b);
        for (guint i = 0; i < VSM_LOOP_HIST_BUCKETS; i++) {
                json_builder_begin_object(b);
                if (i < VSM_LOOP_HIST_BUCKETS - 1) {
                        json_builder_set_member_name(b, "lt_us");
                        json_builder_add_int_value(b, (gint64) vsm_loop_hist_bucket_limit(i));
                } else {
                        json_builder_set_member_name(b, "ge_us");
                        json_builder_add_int_value(b, (gint64) vsm_loop_hist_bucket_limit(i - 1));
                }
                json_builder_set_member_name(b, "count");
                json_builder_add_int_value(b, (gint64) c->hist[i]);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
}

JsonNode *vsm_loop_stats_to_json(const VsmLoopStats *s, gint64 now_usec) {
        g_autoptr(JsonBuilder) b = json_builder_new();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "measures");
        json_builder_add_string_value(b, "g_main_context_dispatch");
        counts_to_json(b, &s->all);
        json_builder_set_member_name(b, "since_reset");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "seconds");
        json_builder_add_int_value(b, (now_usec - s->reset_usec) / G_USEC_PER_SEC);
        json_builder_set_member_name(b, "resets");
        json_builder_add_int_value(b, (gint64) s->resets);
        counts_to_json(b, &s->since_reset);
        json_builder_end_object(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

VsmLoop *vsm_loop_new(GMainContext *ctx) {
        VsmLoop *l = g_new0(VsmLoop, 1);

        l->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref(g_main_context_default());
        vsm_loop_stats_init(&l->stats, g_get_monotonic_time());
        return l;
}

VsmLoop *vsm_loop_free(VsmLoop *l) {
        if (!l)
                return NULL;
        g_main_context_unref(l->ctx);
        g_free(l);
        return NULL;
}

void vsm_loop_run(VsmLoop *l) {
        g_autofree GPollFD *fds = NULL;
        gint allocated = 0;

        if (!g_main_context_acquire(l->ctx))
                g_error("vsimigd: the main context is owned by another thread");
        g_atomic_int_set(&l->quit, 0);
        while (!g_atomic_int_get(&l->quit)) {
                gint max_priority = G_MAXINT, timeout = -1, nfds;
                gint64 t0;

                g_main_context_prepare(l->ctx, &max_priority);
                while ((nfds = g_main_context_query(l->ctx, max_priority, &timeout, fds, allocated)) > allocated) {
                        g_free(fds);
                        allocated = nfds;
                        fds = g_new(GPollFD, allocated);
                }
                g_main_context_get_poll_func(l->ctx)(fds, (guint) nfds, timeout);
                if (!g_main_context_check(l->ctx, max_priority, fds, nfds))
                        continue;
                t0 = g_get_monotonic_time();
                g_main_context_dispatch(l->ctx);
                vsm_loop_stats_record(&l->stats, (guint64) (g_get_monotonic_time() - t0));
        }
        g_main_context_release(l->ctx);
}

void vsm_loop_quit(VsmLoop *l) {
        g_atomic_int_set(&l->quit, 1);
        g_main_context_wakeup(l->ctx);
}

VsmLoopStats *vsm_loop_get_stats(VsmLoop *l) {
        return &l->stats;
}

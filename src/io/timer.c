/* One-shot microsecond timers for the state machines' deadlines. */
#include "io/timer.h"

struct VsmTimer {
        GSource *source;
        VsmTimerFunc func;
        gpointer user_data;
};

static gboolean timer_dispatch(GSource *source, GSourceFunc callback, gpointer user_data) {
        VsmTimer *t = user_data;

        g_source_set_ready_time(source, -1);
        t->func(t->user_data);
        return G_SOURCE_CONTINUE;
}

static GSourceFuncs timer_funcs = {
        .dispatch = timer_dispatch,
};

VsmTimer *vsm_timer_new(VsmTimerFunc func, gpointer user_data) {
        VsmTimer *t = g_new0(VsmTimer, 1);

        t->func = func;
        t->user_data = user_data;
        t->source = g_source_new(&timer_funcs, sizeof(GSource));
        g_source_set_callback(t->source, NULL, t, NULL);
        g_source_set_ready_time(t->source, -1);
        g_source_set_name(t->source, "vsm-timer");
        g_source_attach(t->source, NULL);
        return t;
}

VsmTimer *vsm_timer_free(VsmTimer *t) {
        if (!t)
                return NULL;
        g_source_destroy(t->source);
        g_source_unref(t->source);
        g_free(t);
        return NULL;
}

void vsm_timer_arm(VsmTimer *t, gint64 deadline_usec) {
        g_source_set_ready_time(t->source, deadline_usec > 0 ? deadline_usec : -1);
}

gboolean vsm_timer_armed(const VsmTimer *t) {
        return g_source_get_ready_time(t->source) >= 0;
}

/* A one-shot timer on the GLib main loop with microsecond deadlines on the
 * monotonic clock (g_get_monotonic_time()), the clock the pure state
 * machines are driven with. */
#pragma once

#include <glib.h>

typedef struct VsmTimer VsmTimer;
typedef void (*VsmTimerFunc)(gpointer user_data);

VsmTimer *vsm_timer_new(VsmTimerFunc func, gpointer user_data);
VsmTimer *vsm_timer_free(VsmTimer *t);
/* Fire once at deadline_usec (monotonic); 0 disarms. Re-arming replaces. */
void vsm_timer_arm(VsmTimer *t, gint64 deadline_usec);
gboolean vsm_timer_armed(const VsmTimer *t);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmTimer, vsm_timer_free)

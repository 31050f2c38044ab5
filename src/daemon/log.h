/* Structured logging for vsimigd.  Every line about an uplink or a VSI
 * carries VSIMIG_IFNAME / VSIMIG_VSI fields (journald keeps them; the
 * stderr writer appends them). */
#pragma once

#include <glib.h>

#define vsm_log(level, ...) \
        g_log_structured(G_LOG_DOMAIN, (level), "MESSAGE", __VA_ARGS__)
#define vsm_log_if(level, ifname, ...) \
        g_log_structured(G_LOG_DOMAIN, (level), "VSIMIG_IFNAME", (ifname), "MESSAGE", __VA_ARGS__)
#define vsm_log_vsi(level, ifname, vsi, ...) \
        g_log_structured(G_LOG_DOMAIN, (level), "VSIMIG_IFNAME", (ifname), "VSIMIG_VSI", (vsi), \
                         "MESSAGE", __VA_ARGS__)

/* Install the writer: journald when stderr is connected to it, otherwise
 * "vsimigd: <level>: message [field=value ...]" on stderr.  Debug lines are
 * shown when verbose.  A second call only changes verbose. */
void vsm_log_setup(gboolean verbose);
/* Whether a vsimigd message at `level` would be written: callers skip
 * formatting a message nobody sees (debug lines without --verbose). */
gboolean vsm_log_level_enabled(GLogLevelFlags level);

/* At most `burst` messages per `interval_usec`; the rest are counted. */
typedef struct VsmRateLimit {
        gint64 interval_usec;
        guint burst;
        gint64 begin;
        guint n;
        guint64 suppressed;
} VsmRateLimit;

#define VSM_RATELIMIT_INIT(interval, b) { .interval_usec = (interval), .burst = (b) }
/* TRUE if a message may be logged now. */
gboolean vsm_ratelimit_test(VsmRateLimit *rl);

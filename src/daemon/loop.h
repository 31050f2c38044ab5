/* vsimigd's main loop, run by hand (prepare/query/poll/check/dispatch) so
 * that every dispatch is timed: the longest one bounds how long a frame,
 * an ECP ACK or a SWITCHOVER can wait behind other work. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Log2 buckets: [0] < 64 µs, [1] < 128 µs, ... [10] < 65536 µs, [11] >= 65536 µs. */
#define VSM_LOOP_HIST_FIRST_US 64
#define VSM_LOOP_HIST_BUCKETS 12

typedef struct VsmLoopCounts {
        guint64 dispatches;
        guint64 total_us;
        guint64 max_us;
        guint64 hist[VSM_LOOP_HIST_BUCKETS];
} VsmLoopCounts;

/* Pure statistics, unit-tested: since start and since the last reset. */
typedef struct VsmLoopStats {
        VsmLoopCounts all;
        VsmLoopCounts since_reset;
        gint64 start_usec;
        gint64 reset_usec;
        guint64 resets;
} VsmLoopStats;

/* The histogram bucket for a dispatch of `us` microseconds. */
guint vsm_loop_hist_bucket(guint64 us);
/* A bucket's exclusive upper bound in µs; 0 for the last (open) bucket. */
guint64 vsm_loop_hist_bucket_limit(guint bucket);
/* Starts the statistics at `now_usec` (monotonic). */
void vsm_loop_stats_init(VsmLoopStats *s, gint64 now_usec);
/* Records one dispatch that took `us` microseconds. */
void vsm_loop_stats_record(VsmLoopStats *s, guint64 us);
/* Clears the since-reset counts (the since-start ones stay). */
void vsm_loop_stats_reset(VsmLoopStats *s, gint64 now_usec);
/* The "loop" object of `status`: max, count, mean, histogram, since_reset. */
JsonNode *vsm_loop_stats_to_json(const VsmLoopStats *s, gint64 now_usec);

typedef struct VsmLoop VsmLoop;

/* A loop over ctx (NULL: the default context). */
VsmLoop *vsm_loop_new(GMainContext *ctx);
VsmLoop *vsm_loop_free(VsmLoop *l);
/* Iterates ctx until vsm_loop_quit(), timing each g_main_context_dispatch()
 * (all sources ready at the highest ready priority, dispatched in one go). */
void vsm_loop_run(VsmLoop *l);
/* Makes vsm_loop_run() return after the current dispatch; any thread. */
void vsm_loop_quit(VsmLoop *l);
/* The statistics (owned by the loop; main thread only). */
VsmLoopStats *vsm_loop_get_stats(VsmLoop *l);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmLoop, vsm_loop_free)

/* Unit tests for the main-loop dispatch statistics (src/daemon/loop.c):
 * log2 histogram buckets, max since start and since reset, the JSON form,
 * and a real GMainContext run through vsm_loop_run(). */
#include <json-glib/json-glib.h>

#include "daemon/loop.h"
#include "test-util.h"

static void test_buckets(void) {
        static const struct {
                guint64 us;
                guint bucket;
        } cases[] = {
                { 0, 0 },        { 1, 0 },        { 63, 0 },       { 64, 1 },       { 127, 1 },
                { 128, 2 },      { 255, 2 },      { 256, 3 },      { 1023, 4 },     { 1024, 5 },
                { 2047, 5 },     { 2048, 6 },     { 4096, 7 },     { 8191, 7 },     { 16384, 9 },
                { 32767, 9 },    { 32768, 10 },   { 65535, 10 },   { 65536, 11 },   { 1000000, 11 },
                { G_MAXUINT64, 11 },
        };

        for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_test_message("%" G_GUINT64_FORMAT " us", cases[i].us);
                g_assert_cmpuint(vsm_loop_hist_bucket(cases[i].us), ==, cases[i].bucket);
        }
        /* Each bucket's limit is the first value of the next one. */
        for (guint b = 0; b < VSM_LOOP_HIST_BUCKETS - 1; b++) {
                guint64 lim = vsm_loop_hist_bucket_limit(b);

                g_assert_cmpuint(lim, ==, (guint64) 64 << b);
                g_assert_cmpuint(vsm_loop_hist_bucket(lim - 1), ==, b);
                g_assert_cmpuint(vsm_loop_hist_bucket(lim), ==, b + 1);
        }
        g_assert_cmpuint(vsm_loop_hist_bucket_limit(VSM_LOOP_HIST_BUCKETS - 1), ==, 0);
}

static void test_record_reset(void) {
        VsmLoopStats s;
        static const guint64 samples[] = { 10, 70, 70, 5000, 200000, 3 };

        vsm_loop_stats_init(&s, 1000);
        for (gsize i = 0; i < G_N_ELEMENTS(samples); i++)
                vsm_loop_stats_record(&s, samples[i]);
        g_assert_cmpuint(s.all.dispatches, ==, 6);
        g_assert_cmpuint(s.all.max_us, ==, 200000);
        g_assert_cmpuint(s.all.total_us, ==, 10 + 70 + 70 + 5000 + 200000 + 3);
        g_assert_cmpuint(s.all.hist[0], ==, 2);
        g_assert_cmpuint(s.all.hist[1], ==, 2);
        g_assert_cmpuint(s.all.hist[7], ==, 1);
        g_assert_cmpuint(s.all.hist[11], ==, 1);
        g_assert_cmpuint(s.since_reset.max_us, ==, 200000);

        vsm_loop_stats_reset(&s, 5000000);
        g_assert_cmpuint(s.resets, ==, 1);
        g_assert_cmpuint(s.since_reset.dispatches, ==, 0);
        g_assert_cmpuint(s.since_reset.max_us, ==, 0);
        for (guint b = 0; b < VSM_LOOP_HIST_BUCKETS; b++)
                g_assert_cmpuint(s.since_reset.hist[b], ==, 0);
        /* The since-start figures survive a reset. */
        g_assert_cmpuint(s.all.max_us, ==, 200000);
        g_assert_cmpuint(s.all.dispatches, ==, 6);

        vsm_loop_stats_record(&s, 300);
        g_assert_cmpuint(s.since_reset.max_us, ==, 300);
        g_assert_cmpuint(s.since_reset.hist[3], ==, 1);
        g_assert_cmpuint(s.all.max_us, ==, 200000);
        g_assert_cmpuint(s.all.hist[3], ==, 1);
}

static JsonObject *member_object(JsonObject *o, const char *name) {
        g_assert_true(json_object_has_member(o, name));
        g_assert_true(JSON_NODE_HOLDS_OBJECT(json_object_get_member(o, name)));
        return json_object_get_object_member(o, name);
}

static void test_json(void) {
        VsmLoopStats s;
        g_autoptr(JsonNode) n = NULL;
        JsonObject *o, *sr;
        JsonArray *h;

        vsm_loop_stats_init(&s, 0);
        vsm_loop_stats_record(&s, 100);
        vsm_loop_stats_record(&s, 70000);
        vsm_loop_stats_reset(&s, 2 * G_USEC_PER_SEC);
        vsm_loop_stats_record(&s, 40);
        n = vsm_loop_stats_to_json(&s, 7 * G_USEC_PER_SEC);
        g_assert_true(JSON_NODE_HOLDS_OBJECT(n));
        o = json_node_get_object(n);
        g_assert_cmpint(json_object_get_int_member(o, "max_dispatch_us"), ==, 70000);
        g_assert_cmpint(json_object_get_int_member(o, "dispatches"), ==, 3);
        g_assert_cmpint(json_object_get_int_member(o, "mean_dispatch_us"), ==, (100 + 70000 + 40) / 3);
        h = json_object_get_array_member(o, "histogram");
        g_assert_cmpuint(json_array_get_length(h), ==, VSM_LOOP_HIST_BUCKETS);
        g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(h, 0), "lt_us"), ==, 64);
        g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(h, 0), "count"), ==, 1);
        g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(h, 1), "count"), ==, 1);
        g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(h, 10), "lt_us"), ==, 65536);
        g_assert_false(json_object_has_member(json_array_get_object_element(h, 11), "lt_us"));
        g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(h, 11), "ge_us"), ==, 65536);
        g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(h, 11), "count"), ==, 1);
        sr = member_object(o, "since_reset");
        g_assert_cmpint(json_object_get_int_member(sr, "max_dispatch_us"), ==, 40);
        g_assert_cmpint(json_object_get_int_member(sr, "dispatches"), ==, 1);
        g_assert_cmpint(json_object_get_int_member(sr, "seconds"), ==, 5);
        g_assert_cmpint(json_object_get_int_member(sr, "resets"), ==, 1);
        h = json_object_get_array_member(sr, "histogram");
        g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(h, 0), "count"), ==, 1);
        g_assert_cmpint(json_object_get_int_member(json_array_get_object_element(h, 11), "count"), ==, 0);
}

typedef struct RunCtx {
        VsmLoop *loop;
        guint ticks;
} RunCtx;

/* A slow callback: at least 5 ms of work, so its dispatch lands in a
 * bucket >= 4096 µs whatever the machine's load (a lower bound only). */
static gboolean on_slow(gpointer user_data) {
        RunCtx *r = user_data;

        g_usleep(5000);
        r->ticks++;
        return G_SOURCE_REMOVE;
}

static gboolean on_fast(gpointer user_data) {
        RunCtx *r = user_data;

        r->ticks++;
        if (r->ticks < 20)
                return G_SOURCE_CONTINUE;
        vsm_loop_quit(r->loop);
        return G_SOURCE_REMOVE;
}

static void test_run(void) {
        g_autoptr(GMainContext) ctx = g_main_context_new();
        g_autoptr(VsmLoop) loop = vsm_loop_new(ctx);
        RunCtx r = { .loop = loop };
        GSource *s;
        const VsmLoopStats *st;
        guint64 slow = 0;

        s = g_timeout_source_new(1);
        g_source_set_callback(s, on_slow, &r, NULL);
        g_source_attach(s, ctx);
        g_source_unref(s);
        s = g_timeout_source_new(10);
        g_source_set_callback(s, on_fast, &r, NULL);
        g_source_attach(s, ctx);
        g_source_unref(s);

        vsm_loop_run(loop);
        st = vsm_loop_get_stats(loop);
        g_assert_cmpuint(r.ticks, ==, 20);
        /* Every callback ran inside a timed dispatch. */
        g_assert_cmpuint(st->all.dispatches, >=, 2);
        g_assert_cmpuint(st->all.dispatches, <=, 20);
        g_assert_cmpuint(st->all.max_us, >=, 5000);
        for (guint b = vsm_loop_hist_bucket(5000); b < VSM_LOOP_HIST_BUCKETS; b++)
                slow += st->all.hist[b];
        g_assert_cmpuint(slow, >=, 1);
        g_assert_cmpuint(st->since_reset.max_us, ==, st->all.max_us);

        /* It can be run again after a quit, and quit from a callback at once. */
        s = g_timeout_source_new(0);
        g_source_set_callback(s, on_fast, &r, NULL);
        g_source_attach(s, ctx);
        g_source_unref(s);
        r.ticks = 19;
        vsm_loop_run(loop);
        g_assert_cmpuint(r.ticks, ==, 20);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/daemon/loop/buckets", test_buckets);
        g_test_add_func("/daemon/loop/record-reset", test_record_reset);
        g_test_add_func("/daemon/loop/json", test_json);
        g_test_add_func("/daemon/loop/run", test_run);
        return g_test_run();
}

/* The unit-test helpers themselves: a skip is a skip outside CI and a
 * failure under CI=true (test-util.h).  The skipping subtests run in a
 * child (this binary, --tap -p PATH, VSM_UNIT_HELPERS_CHILD=1, CI set or
 * not); their TAP
 * line and exit status are checked. */
#include "test-util.h"

static void skipping(void) {
        g_test_skip("a prerequisite is missing");
}

static void skipping_printf(void) {
        g_test_skip_printf("%s is missing", "a prerequisite");
}

static void run_child(const char *path, const char *ci, gboolean want_fail) {
        g_autoptr(GError) error = NULL;
        g_autofree char *out = NULL;
        g_auto(GStrv) env = g_get_environ();
        const char *argv[] = { "/proc/self/exe", "--tap", "-p", path, NULL };
        int status = 0;

        env = ci ? g_environ_setenv(env, "CI", ci, TRUE) : g_environ_unsetenv(env, "CI");
        env = g_environ_setenv(env, "VSM_UNIT_HELPERS_CHILD", "1", TRUE);
        g_assert_true(g_spawn_sync(NULL, (char **) argv, env, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                                   &status, &error));
        g_assert_no_error(error);
        g_test_message("CI=%s %s: status %d, output:\n%s", ci ? ci : "(unset)", path, status, out);
        if (want_fail) {
                g_assert_nonnull(strstr(out, "not ok 1 "));
                g_assert_false(g_spawn_check_wait_status(status, NULL));
        } else {
                g_assert_nonnull(strstr(out, "ok 1 "));
                g_assert_nonnull(strstr(out, "# SKIP"));
                g_assert_null(strstr(out, "not ok"));
        }
}

static void test_skip_fails_in_ci(void) {
        run_child("/unit-helpers/skip/child", "true", TRUE);
        run_child("/unit-helpers/skip-printf/child", "true", TRUE);
        run_child("/unit-helpers/skip/child", NULL, FALSE);
        run_child("/unit-helpers/skip-printf/child", "false", FALSE);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        /* The children exist only in a child. */
        if (g_getenv("VSM_UNIT_HELPERS_CHILD")) {
                g_test_add_func("/unit-helpers/skip/child", skipping);
                g_test_add_func("/unit-helpers/skip-printf/child", skipping_printf);
        } else {
                g_test_add_func("/unit-helpers/skip-fails-in-ci", test_skip_fails_in_ci);
        }
        return g_test_run();
}

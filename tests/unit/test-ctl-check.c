/* Unit tests for the pure parts of `vsimigctl check` (src/ctl/check-util.c)
 * and the config's unknown-key listing (daemon/config.c). */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <sys/timex.h>

#include "ctl/check.h"
#include "daemon/config.h"
#include "test-util.h"

static void test_time_verdict(void) {
        g_autofree char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL, *t5 = NULL;

        g_assert_cmpint(vsm_check_time_verdict(TIME_OK, 0, 2000, &t1), ==, VSM_CHECK_OK);
        g_assert_nonnull(strstr(t1, "synchronised (maximum error 2.0 ms)"));
        g_assert_cmpint(vsm_check_time_verdict(TIME_OK, STA_UNSYNC, 2000, &t2), ==, VSM_CHECK_WARN);
        g_assert_nonnull(strstr(t2, "STA_UNSYNC"));
        g_assert_cmpint(vsm_check_time_verdict(TIME_ERROR, 0, 2000, &t3), ==, VSM_CHECK_WARN);
        g_assert_cmpint(vsm_check_time_verdict(TIME_OK, 0, 16000000, &t4), ==, VSM_CHECK_WARN);
        g_assert_nonnull(strstr(t4, "16000 ms"));
        g_assert_cmpint(vsm_check_time_verdict(-1, 0, 0, &t5), ==, VSM_CHECK_WARN);
}

static void test_proc_stat(void) {
        /* comm with spaces and ')' */
        static const char stat[] =
                "4242 (lib virt) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 18 0 987654 1000 200 "
                "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
        static const char short_stat[] = "1 (x) S 1 2 3\n";
        static const char proc_stat[] = "cpu  1 2 3\nintr 5\nbtime 1764800000\nprocesses 9\n";
        guint64 v = 0;

        g_assert_true(vsm_check_parse_proc_stat_start(stat, strlen(stat), &v));
        g_assert_cmpuint(v, ==, 987654);
        g_assert_false(vsm_check_parse_proc_stat_start(short_stat, strlen(short_stat), &v));
        g_assert_false(vsm_check_parse_proc_stat_start("garbage", 7, &v));
        g_assert_false(vsm_check_parse_proc_stat_start("", 0, &v));
        g_assert_true(vsm_check_parse_btime(proc_stat, strlen(proc_stat), &v));
        g_assert_cmpuint(v, ==, 1764800000);
        g_assert_false(vsm_check_parse_btime("cpu 1\n", 6, &v));
        g_assert_false(vsm_check_parse_btime("btime x\n", 8, &v));
}

static char *read_data(const char *rel, gsize *len) {
        const char *dir = g_getenv("VSM_TEST_DATA");
        g_autofree char *path = g_build_filename(dir ? dir : "tests/data", rel, NULL);
        char *text = NULL;

        g_assert_true(g_file_get_contents(path, &text, len, NULL));
        return text;
}

static void test_lldpad_conf(void) {
        gsize len;
        g_autofree char *text = read_data("check/lldpad-rewritten.conf", &len);
        g_autoptr(GError) error = NULL;
        VsmLldpadPort p;

        g_assert_true(vsm_check_lldpad_conf_port(text, len, "sw0", &p, &error));
        g_assert_no_error(error);
        g_assert_true(p.named);
        g_assert_true(p.evb_tx);
        g_assert_cmpstr(p.evbmode, ==, "bridge");
        g_assert_cmpint(p.admin_status, ==, 3);

        g_assert_true(vsm_check_lldpad_conf_port(text, len, "cksw1", &p, &error));
        g_assert_true(p.named);
        g_assert_false(p.evb_tx);
        g_assert_cmpint(p.admin_status, ==, -1);

        g_assert_true(vsm_check_lldpad_conf_port(text, len, "eth1", &p, &error));
        g_assert_false(p.evb_tx);
        g_assert_cmpint(p.admin_status, ==, 2);

        g_assert_true(vsm_check_lldpad_conf_port(text, len, "eth2", &p, &error));
        g_assert_false(p.evb_tx);       /* enableTx = false */

        g_assert_true(vsm_check_lldpad_conf_port(text, len, "up0", &p, &error));
        g_assert_false(p.named);
        g_assert_false(p.evb_tx);
        g_assert_cmpint(p.admin_status, ==, -1);
}

static void test_lldpad_conf_hostile(void) {
        static const char *const bad[] = {
                "a : { b : { ",                 /* unbalanced */
                "} ;",
                "a = \"unterminated",
                "/* open comment",
                "a = \x01;",
        };
        g_autoptr(GString) deep = g_string_new(NULL);
        VsmLldpadPort p;

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) error = NULL;

                g_assert_false(vsm_check_lldpad_conf_port(bad[i], strlen(bad[i]), "eth0", &p, &error));
                g_assert_nonnull(error);
        }
        for (int i = 0; i < 100; i++)
                g_string_append(deep, "x : { ");
        {
                g_autoptr(GError) error = NULL;

                g_assert_false(vsm_check_lldpad_conf_port(deep->str, deep->len, "eth0", &p, &error));
                g_assert_nonnull(strstr(error->message, "nested deeper"));
        }
        g_string_truncate(deep, 0);
        for (int i = 0; i < 100; i++)
                g_string_append(deep, "x = ( { ");
        {
                g_autoptr(GError) error = NULL;

                g_assert_false(vsm_check_lldpad_conf_port(deep->str, deep->len, "eth0", &p, &error));
                g_assert_nonnull(strstr(error->message, "nested deeper"));
        }
        /* An over-long interface-like name is truncated, never overflows. */
        {
                g_autoptr(GString) s = g_string_new(NULL);
                g_autoptr(GError) error = NULL;

                for (int i = 0; i < 300; i++)
                        g_string_append_c(s, 'e');
                g_string_append(s, " : { tlvid0080c20d : { enableTx = true; }; };");
                g_assert_true(vsm_check_lldpad_conf_port(s->str, s->len, "eth0", &p, &error));
                g_assert_false(p.evb_tx);
        }
}

static void test_report(void) {
        g_autoptr(VsmCheckReport) r = vsm_check_report_new();
        g_autofree char *text = NULL;
        g_autoptr(JsonNode) node = NULL;
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autofree char *json = NULL;

        vsm_check_add(r, "time", NULL, VSM_CHECK_OK, "ignored for ok", "clock %s", "fine");
        g_assert_cmpint(vsm_check_report_exit(r), ==, VSM_CHECK_EXIT_OK);
        vsm_check_add(r, "peer", NULL, VSM_CHECK_WARN, "fix it", "insecure");
        g_assert_cmpint(vsm_check_report_exit(r), ==, VSM_CHECK_EXIT_WARN);
        /* hostile text: control characters never reach the terminal */
        vsm_check_add(r, "uplink", "ev\x1b[31mil", VSM_CHECK_FAIL, "do\nthis", "line\r\nbreak");
        g_assert_cmpint(vsm_check_report_exit(r), ==, VSM_CHECK_EXIT_FAIL);

        text = vsm_check_report_text(r);
        g_assert_cmpstr(text, ==,
                        "ok    time     clock fine\n"
                        "warn  peer     insecure\n"
                        "      fix: fix it\n"
                        "fail  uplink   ev?[31mil: line??break\n"
                        "      fix: do?this\n"
                        "1 ok, 1 warning, 1 failure\n");
        node = vsm_check_report_json(r);
        json_generator_set_root(gen, node);
        json = json_generator_to_data(gen, NULL);
        g_assert_cmpstr(json, ==,
                        "{\"status\":\"fail\",\"ok\":1,\"warn\":1,\"fail\":1,\"checks\":["
                        "{\"check\":\"time\",\"subject\":null,\"level\":\"ok\",\"text\":\"clock fine\",\"fix\":null},"
                        "{\"check\":\"peer\",\"subject\":null,\"level\":\"warn\",\"text\":\"insecure\",\"fix\":\"fix it\"},"
                        "{\"check\":\"uplink\",\"subject\":\"ev?[31mil\",\"level\":\"fail\",\"text\":\"line??break\","
                        "\"fix\":\"do?this\"}]}");
}

static void test_report_caps(void) {
        g_autoptr(VsmCheckReport) r = vsm_check_report_new();
        g_autofree char *big = g_malloc(100000);
        const VsmCheckResult *res;

        memset(big, 'x', 99999);
        big[99999] = '\0';
        vsm_check_add(r, "config", big, VSM_CHECK_FAIL, big, "%s", big);
        res = r->results->pdata[0];
        g_assert_cmpuint(strlen(res->text), <=, 512);
        g_assert_cmpuint(strlen(res->subject), <=, 512);
        g_assert_cmpuint(strlen(res->fix), <=, 512);
}

static void test_unknown_keys(void) {
        static const char text[] =
                "[vdp]\nuplinks = eth0\nuplink = eth1\n"
                "[peer]\nlisten = 10.77.0.1:7000\nkey_file = /x\n"
                "[bridges]\nbr0 = eth0\n"
                "[nonsense]\na = 1\n";
        g_auto(GStrv) u = vsm_config_unknown_keys(text, strlen(text));
        g_auto(GStrv) none = vsm_config_unknown_keys("[vdp]\nuplinks = x\n", 18);

        g_assert_nonnull(u);
        g_assert_cmpuint(g_strv_length(u), ==, 3);
        g_assert_cmpstr(u[0], ==, "[vdp] uplink");
        g_assert_cmpstr(u[1], ==, "[peer] key_file");
        g_assert_cmpstr(u[2], ==, "[nonsense]");
        g_assert_nonnull(none);
        g_assert_cmpuint(g_strv_length(none), ==, 0);
        g_assert_null(vsm_config_unknown_keys("not a key file", 14));
}

/* The reader check uses for /proc, pid files and lldpad.conf: a FIFO or a
 * device planted where a file is expected is refused, not opened (a FIFO
 * with no writer would read as empty, a FIFO with one would block), and a
 * file over the cap is refused. */
static void test_read_file(void) {
        g_autofree char *dir = g_dir_make_tmp("vsm-check-XXXXXX", NULL);
        g_autofree char *fifo = g_build_filename(dir, "fifo", NULL);
        g_autofree char *file = g_build_filename(dir, "file", NULL);
        g_autofree char *link = g_build_filename(dir, "link", NULL);
        char *text = NULL, *err = NULL;
        gsize len = 0;

        g_assert_nonnull(dir);
        g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
        g_assert_true(g_file_set_contents(file, "lldpad.conf\n", -1, NULL));
        g_assert_cmpint(symlink("/dev/null", link), ==, 0);

        g_assert_false(vsm_check_read_file(fifo, 4096, &text, &len, &err));
        g_assert_null(text);
        g_assert_cmpstr(err, ==, "not a regular file");
        g_clear_pointer(&err, g_free);
        g_assert_false(vsm_check_read_file("/dev/null", 4096, &text, &len, &err));
        g_assert_cmpstr(err, ==, "not a regular file");
        g_clear_pointer(&err, g_free);
        g_assert_false(vsm_check_read_file(link, 4096, &text, &len, &err));
        g_assert_cmpstr(err, ==, "not a regular file");
        g_clear_pointer(&err, g_free);
        g_assert_false(vsm_check_read_file(file, 4, &text, &len, &err));
        g_assert_nonnull(strstr(err, "larger than 4 octets"));
        g_clear_pointer(&err, g_free);

        g_assert_true(vsm_check_read_file(file, 4096, &text, &len, &err));
        g_assert_cmpuint(len, ==, 12);
        g_assert_cmpstr(text, ==, "lldpad.conf\n");
        g_clear_pointer(&text, g_free);
        /* /proc files are regular (size 0) and still read */
        g_assert_true(vsm_check_read_file("/proc/self/stat", 4096, &text, &len, &err));
        g_assert_cmpuint(len, >, 0);
        g_clear_pointer(&text, g_free);

        g_unlink(link);
        g_unlink(file);
        g_unlink(fifo);
        g_rmdir(dir);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/check/time-verdict", test_time_verdict);
        g_test_add_func("/check/proc-stat", test_proc_stat);
        g_test_add_func("/check/lldpad-conf", test_lldpad_conf);
        g_test_add_func("/check/lldpad-conf-hostile", test_lldpad_conf_hostile);
        g_test_add_func("/check/read-file", test_read_file);
        g_test_add_func("/check/report", test_report);
        g_test_add_func("/check/report-caps", test_report_caps);
        g_test_add_func("/check/config-unknown-keys", test_unknown_keys);
        return g_test_run();
}

/* Helpers shared by the unit tests. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* Decode a hex string (whitespace and ':' ignored) into a new buffer.
 * Aborts the test on bad hex. */
GBytes *vsm_test_hex(const char *hex);
/* Read tests/data/<relpath> (a hex file) and decode it. */
GBytes *vsm_test_hex_file(const char *relpath);
/* Lowercase hex of a buffer (g_free it). */
char *vsm_test_to_hex(const void *data, size_t len);
/* Assert that data[0..len) equals the given hex string, printing both on mismatch. */
#define vsm_assert_hex(data, len, hex) vsm_test_assert_hex_impl(__FILE__, __LINE__, (data), (len), (hex))
void vsm_test_assert_hex_impl(const char *file, int line, const void *data, size_t len, const char *hex);

/* A skipped subtest counts as passed in meson's TAP summary.  Under
 * CI=true every test must run: a skip there fails the subtest instead,
 * saying why (g_test_fail).  Every unit test includes this header, so
 * these replace GLib's skip calls in all of them. */
void vsm_test_skip_impl(const char *file, int line, const char *msg);
#define g_test_skip(msg) vsm_test_skip_impl(__FILE__, __LINE__, (msg))
#define g_test_incomplete(msg) vsm_test_skip_impl(__FILE__, __LINE__, (msg))
#define g_test_skip_printf(...) vsm_test_skip_printf_impl(__FILE__, __LINE__, __VA_ARGS__)
#define g_test_incomplete_printf(...) vsm_test_skip_printf_impl(__FILE__, __LINE__, __VA_ARGS__)
void vsm_test_skip_printf_impl(const char *file, int line, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

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

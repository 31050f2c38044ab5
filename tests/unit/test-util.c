/* Helpers shared by the unit tests: hex vectors; skips that fail in CI. */
#include "test-util.h"

#include <string.h>

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

GBytes *vsm_test_hex(const char *hex) {
        g_autoptr(GByteArray) out = g_byte_array_new();
        int hi = -1;

        for (const char *p = hex; *p; p++) {
                int v;

                if (g_ascii_isspace(*p) || *p == ':')
                        continue;
                v = hexval(*p);
                if (v < 0)
                        g_error("bad hex character '%c' in vector", *p);
                if (hi < 0) {
                        hi = v;
                } else {
                        guint8 b = (guint8) (hi << 4 | v);
                        g_byte_array_append(out, &b, 1);
                        hi = -1;
                }
        }
        if (hi >= 0)
                g_error("odd number of hex digits in vector");
        return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

GBytes *vsm_test_hex_file(const char *relpath) {
        const char *dir = g_getenv("VSM_TEST_DATA");
        g_autofree char *path = NULL;
        g_autofree char *text = NULL;
        g_autoptr(GError) error = NULL;

        g_assert_nonnull(dir);
        path = g_build_filename(dir, relpath, NULL);
        if (!g_file_get_contents(path, &text, NULL, &error))
                g_error("cannot read vector %s: %s", path, error->message);
        return vsm_test_hex(text);
}

char *vsm_test_to_hex(const void *data, size_t len) {
        GString *s = g_string_sized_new(len * 2 + 1);
        const guint8 *p = data;

        for (size_t i = 0; i < len; i++)
                g_string_append_printf(s, "%02x", p[i]);
        return g_string_free(s, FALSE);
}

void vsm_test_assert_hex_impl(const char *file, int line, const void *data, size_t len, const char *hex) {
        g_autoptr(GBytes) want = vsm_test_hex(hex);
        gsize want_len;
        const void *want_data = g_bytes_get_data(want, &want_len);

        /* An empty vector decodes to a NULL buffer: memcmp must not see it. */
        if (want_len != len || (len > 0 && memcmp(want_data, data, len) != 0)) {
                g_autofree char *got = vsm_test_to_hex(data, len);
                g_autofree char *exp = vsm_test_to_hex(want_data, want_len);
                g_error("%s:%d: bytes differ\n  got:  %s\n  want: %s", file, line, got, exp);
        }
}

void vsm_test_skip_impl(const char *file, int line, const char *msg) {
        if (g_strcmp0(g_getenv("CI"), "true") == 0) {
                g_test_message("%s:%d: would skip (%s), which fails under CI=true", file, line, msg ? msg : "");
                g_test_fail();
                return;
        }
        /* The parentheses keep the macro from expanding: GLib's own. */
        (g_test_skip)(msg);
}

void vsm_test_skip_printf_impl(const char *file, int line, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        vsm_test_skip_impl(file, line, msg);
}

/* Unit tests for src/proto/buf.c: the bounded reader and writer. */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "proto/buf.h"
#include "test-util.h"

static const uint8_t src8[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };

/* ---- reader -------------------------------------------------------- */

typedef enum {
        RD_U8,
        RD_BE16,
        RD_BE24,
        RD_BE32,
} ReadOp;

typedef struct {
        const char *name;
        ReadOp op;
        size_t avail;          /* octets of src8 the reader covers */
        size_t start;          /* octets skipped first */
        int ret;
        uint32_t value;
} ReadCase;

static const ReadCase read_cases[] = {
        { "u8",              RD_U8,   8, 0, 0, 0x01 },
        { "u8-last",         RD_U8,   8, 7, 0, 0x08 },
        { "u8-empty",        RD_U8,   0, 0, -EBADMSG, 0 },
        { "u8-at-end",       RD_U8,   3, 3, -EBADMSG, 0 },
        { "be16",            RD_BE16, 8, 0, 0, 0x0102 },
        { "be16-exact",      RD_BE16, 2, 0, 0, 0x0102 },
        { "be16-short",      RD_BE16, 1, 0, -EBADMSG, 0 },
        { "be16-short-off",  RD_BE16, 8, 7, -EBADMSG, 0 },
        { "be24",            RD_BE24, 8, 1, 0, 0x020304 },
        { "be24-exact",      RD_BE24, 3, 0, 0, 0x010203 },
        { "be24-short",      RD_BE24, 2, 0, -EBADMSG, 0 },
        { "be32",            RD_BE32, 8, 4, 0, 0x05060708 },
        { "be32-exact",      RD_BE32, 4, 0, 0, 0x01020304 },
        { "be32-short",      RD_BE32, 3, 0, -EBADMSG, 0 },
        { "be32-short-off",  RD_BE32, 8, 5, -EBADMSG, 0 },
};

static void test_reader_getters(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(read_cases); i++) {
                const ReadCase *c = &read_cases[i];
                VsmReader r;
                uint8_t v8 = 0xa5;
                uint16_t v16 = 0xa5a5;
                uint32_t v32 = 0xa5a5a5a5, got = 0;
                uint32_t untouched = 0;
                size_t width = 0;
                int k = 0;

                g_test_message("case %s", c->name);
                vsm_reader_init(&r, src8, c->avail);
                g_assert_cmpint(vsm_reader_skip(&r, c->start), ==, 0);

                switch (c->op) {
                case RD_U8:
                        k = vsm_reader_u8(&r, &v8);
                        got = v8;
                        untouched = 0xa5;
                        width = 1;
                        break;
                case RD_BE16:
                        k = vsm_reader_be16(&r, &v16);
                        got = v16;
                        untouched = 0xa5a5;
                        width = 2;
                        break;
                case RD_BE24:
                        k = vsm_reader_be24(&r, &v32);
                        got = v32;
                        untouched = 0xa5a5a5a5;
                        width = 3;
                        break;
                case RD_BE32:
                        k = vsm_reader_be32(&r, &v32);
                        got = v32;
                        untouched = 0xa5a5a5a5;
                        width = 4;
                        break;
                }

                g_assert_cmpint(k, ==, c->ret);
                if (k == 0) {
                        g_assert_cmphex(got, ==, c->value);
                        g_assert_cmpuint(r.off, ==, c->start + width);
                } else {
                        /* Output and offset unchanged on failure. */
                        g_assert_cmphex(got, ==, untouched);
                        g_assert_cmpuint(r.off, ==, c->start);
                }
                g_assert_cmpuint(vsm_reader_remaining(&r), ==, r.len - r.off);
        }
}

static void test_reader_bytes_skip(void) {
        VsmReader r;
        uint8_t out[8];

        vsm_reader_init(&r, src8, sizeof(src8));
        g_assert_true(vsm_reader_peek(&r) == src8);

        memset(out, 0xa5, sizeof(out));
        g_assert_cmpint(vsm_reader_bytes(&r, out, 3), ==, 0);
        vsm_assert_hex(out, 3, "010203");
        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 5);
        g_assert_true(vsm_reader_peek(&r) == src8 + 3);

        /* Asking for one more than remains fails and changes nothing. */
        memset(out, 0xa5, sizeof(out));
        g_assert_cmpint(vsm_reader_bytes(&r, out, 6), ==, -EBADMSG);
        vsm_assert_hex(out, sizeof(out), "a5a5a5a5a5a5a5a5");
        g_assert_cmpuint(r.off, ==, 3);

        /* Zero octets always succeed, even at the end. */
        g_assert_cmpint(vsm_reader_bytes(&r, out, 0), ==, 0);
        g_assert_cmpint(vsm_reader_skip(&r, 0), ==, 0);
        g_assert_cmpuint(r.off, ==, 3);

        g_assert_cmpint(vsm_reader_skip(&r, 6), ==, -EBADMSG);
        g_assert_cmpuint(r.off, ==, 3);
        g_assert_cmpint(vsm_reader_skip(&r, 5), ==, 0);
        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
        g_assert_cmpint(vsm_reader_skip(&r, 1), ==, -EBADMSG);
        g_assert_cmpint(vsm_reader_bytes(&r, out, 0), ==, 0);
}

static void test_reader_overflow(void) {
        /* Lengths near SIZE_MAX must not wrap an offset computation. */
        static const size_t huge[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 7, SIZE_MAX / 2 + 1 };
        VsmReader r, sub = { .data = NULL, .len = 77, .off = 5 };
        uint8_t out[1];

        vsm_reader_init(&r, src8, sizeof(src8));
        g_assert_cmpint(vsm_reader_skip(&r, 2), ==, 0);
        for (size_t i = 0; i < G_N_ELEMENTS(huge); i++) {
                g_assert_cmpint(vsm_reader_skip(&r, huge[i]), ==, -EBADMSG);
                g_assert_cmpint(vsm_reader_bytes(&r, out, huge[i]), ==, -EBADMSG);
                g_assert_cmpint(vsm_reader_sub(&r, huge[i], &sub), ==, -EBADMSG);
                g_assert_cmpuint(r.off, ==, 2);
                g_assert_cmpuint(sub.len, ==, 77);
                g_assert_cmpuint(sub.off, ==, 5);
        }
}

static void test_reader_sub(void) {
        VsmReader r, sub, sub2;
        uint8_t v;
        uint16_t v16 = 0x5a5a;
        uint32_t v32;

        vsm_reader_init(&r, src8, sizeof(src8));
        g_assert_cmpint(vsm_reader_u8(&r, &v), ==, 0);
        g_assert_cmpint(vsm_reader_sub(&r, 4, &sub), ==, 0);
        g_assert_cmpuint(r.off, ==, 5);
        g_assert_cmpuint(sub.len, ==, 4);
        g_assert_cmpuint(sub.off, ==, 0);
        g_assert_true(sub.data == src8 + 1);

        /* The sub-reader cannot run past its own end, even though the
         * parent buffer continues. */
        g_assert_cmpint(vsm_reader_be24(&sub, &v32), ==, 0);
        g_assert_cmphex(v32, ==, 0x020304);
        g_assert_cmpint(vsm_reader_be16(&sub, &v16), ==, -EBADMSG);
        g_assert_cmphex(v16, ==, 0x5a5a);
        g_assert_cmpint(vsm_reader_u8(&sub, &v), ==, 0);
        g_assert_cmphex(v, ==, 0x05);
        g_assert_cmpint(vsm_reader_u8(&sub, &v), ==, -EBADMSG);

        /* Too long for the parent: parent and output unchanged. */
        sub2 = (VsmReader) { .data = NULL, .len = 99, .off = 9 };
        g_assert_cmpint(vsm_reader_sub(&r, 4, &sub2), ==, -EBADMSG);
        g_assert_cmpuint(sub2.len, ==, 99);
        g_assert_cmpuint(r.off, ==, 5);

        /* Exactly the rest, then an empty sub-reader at the end. */
        g_assert_cmpint(vsm_reader_sub(&r, 3, &sub2), ==, 0);
        g_assert_cmpuint(sub2.len, ==, 3);
        g_assert_cmpint(vsm_reader_sub(&r, 0, &sub2), ==, 0);
        g_assert_cmpuint(sub2.len, ==, 0);
        g_assert_cmpuint(vsm_reader_remaining(&sub2), ==, 0);
}

static void test_reader_empty(void) {
        VsmReader r;
        uint8_t v = 0x5a;

        vsm_reader_init(&r, NULL, 0);
        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
        g_assert_cmpint(vsm_reader_u8(&r, &v), ==, -EBADMSG);
        g_assert_cmphex(v, ==, 0x5a);
        g_assert_cmpint(vsm_reader_skip(&r, 0), ==, 0);
}

/* ---- writer -------------------------------------------------------- */

typedef enum {
        WR_U8,
        WR_BE16,
        WR_BE24,
        WR_BE32,
        WR_BYTES,
        WR_ZERO,
        WR_RESERVE,
} WriteOp;

typedef struct {
        const char *name;
        WriteOp op;
        uint32_t value;
        size_t n;              /* octets the op writes */
        const char *hex;       /* what it writes */
} WriteCase;

static const WriteCase write_cases[] = {
        { "u8",      WR_U8,      0xfe,       1, "fe" },
        { "be16",    WR_BE16,    0x8940,     2, "8940" },
        { "be24",    WR_BE24,    0x0080c2,   3, "0080c2" },
        { "be32",    WR_BE32,    0xdeadbeef, 4, "deadbeef" },
        { "bytes",   WR_BYTES,   0,          5, "0102030405" },
        { "zero",    WR_ZERO,    0,          6, "000000000000" },
        { "reserve", WR_RESERVE, 0,          2, "0000" },
};

static int do_write(VsmWriter *w, const WriteCase *c, size_t *ret_off) {
        switch (c->op) {
        case WR_U8:
                return vsm_writer_u8(w, (uint8_t) c->value);
        case WR_BE16:
                return vsm_writer_be16(w, (uint16_t) c->value);
        case WR_BE24:
                return vsm_writer_be24(w, c->value);
        case WR_BE32:
                return vsm_writer_be32(w, c->value);
        case WR_BYTES:
                return vsm_writer_bytes(w, src8, c->n);
        case WR_ZERO:
                return vsm_writer_zero(w, c->n);
        case WR_RESERVE:
                return vsm_writer_reserve(w, c->n, ret_off);
        }
        g_assert_not_reached();
}

static void test_writer_putters(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(write_cases); i++) {
                const WriteCase *c = &write_cases[i];

                g_test_message("case %s", c->name);
                /* Every capacity from "one octet already used, none left"
                 * up to "exactly enough". */
                for (size_t cap = 1; cap <= 1 + c->n; cap++) {
                        uint8_t buf[16];
                        size_t off = 4242;
                        VsmWriter w;
                        int k;

                        memset(buf, 0xa5, sizeof(buf));
                        vsm_writer_init(&w, buf, cap);
                        g_assert_cmpint(vsm_writer_u8(&w, 0x11), ==, 0);

                        k = do_write(&w, c, &off);
                        if (cap < 1 + c->n) {
                                g_assert_cmpint(k, ==, -ENOBUFS);
                                g_assert_cmpuint(w.len, ==, 1);
                                g_assert_cmpuint(w.cap, ==, cap);
                                g_assert_true(w.data == buf);
                                g_assert_cmpuint(off, ==, 4242);
                                /* Not even a partial write. */
                                vsm_assert_hex(buf, 8, "11a5a5a5a5a5a5a5");
                        } else {
                                g_autofree char *want = g_strconcat("11", c->hex, NULL);

                                g_assert_cmpint(k, ==, 0);
                                g_assert_cmpuint(w.len, ==, 1 + c->n);
                                vsm_assert_hex(buf, w.len, want);
                                if (c->op == WR_RESERVE)
                                        g_assert_cmpuint(off, ==, 1);
                        }
                }
        }
}

static void test_writer_overflow(void) {
        static const size_t huge[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX / 2 + 1 };
        uint8_t buf[8];
        VsmWriter w;
        size_t off = 7;

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_writer_be16(&w, 0x1234), ==, 0);
        for (size_t i = 0; i < G_N_ELEMENTS(huge); i++) {
                g_assert_cmpint(vsm_writer_zero(&w, huge[i]), ==, -ENOBUFS);
                g_assert_cmpint(vsm_writer_bytes(&w, src8, huge[i]), ==, -ENOBUFS);
                g_assert_cmpint(vsm_writer_reserve(&w, huge[i], &off), ==, -ENOBUFS);
                g_assert_cmpuint(w.len, ==, 2);
                g_assert_cmpuint(off, ==, 7);
        }
}

static void test_writer_reserve_patch(void) {
        uint8_t buf[16];
        VsmWriter w;
        size_t hdr;

        memset(buf, 0xa5, sizeof(buf));
        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_writer_u8(&w, 0x7f), ==, 0);
        g_assert_cmpint(vsm_writer_reserve(&w, 2, &hdr), ==, 0);
        g_assert_cmpuint(hdr, ==, 1);
        g_assert_cmpint(vsm_writer_bytes(&w, src8, 3), ==, 0);
        vsm_writer_patch_be16(&w, hdr, (uint16_t) (w.len - hdr - 2));
        vsm_assert_hex(buf, w.len, "7f0003010203");

        /* Patch the last two written octets: the upper bound. */
        vsm_writer_patch_be16(&w, w.len - 2, 0xbeef);
        vsm_assert_hex(buf, w.len, "7f000301beef");

        /* Zero-length writes on a full writer succeed. */
        vsm_writer_init(&w, buf, 0);
        g_assert_cmpint(vsm_writer_bytes(&w, src8, 0), ==, 0);
        g_assert_cmpint(vsm_writer_zero(&w, 0), ==, 0);
        g_assert_cmpint(vsm_writer_u8(&w, 1), ==, -ENOBUFS);
        g_assert_cmpuint(w.len, ==, 0);
}

static void test_round_trip(void) {
        uint8_t buf[16];
        VsmWriter w;
        VsmReader r;
        uint8_t v8;
        uint16_t v16;
        uint32_t v24, v32;

        vsm_writer_init(&w, buf, sizeof(buf));
        g_assert_cmpint(vsm_writer_u8(&w, 0x9c), ==, 0);
        g_assert_cmpint(vsm_writer_be16(&w, 0xfffe), ==, 0);
        g_assert_cmpint(vsm_writer_be24(&w, 0xffffff), ==, 0);
        g_assert_cmpint(vsm_writer_be32(&w, 0x80000001), ==, 0);
        g_assert_cmpuint(w.len, ==, 10);

        vsm_reader_init(&r, buf, w.len);
        g_assert_cmpint(vsm_reader_u8(&r, &v8), ==, 0);
        g_assert_cmpint(vsm_reader_be16(&r, &v16), ==, 0);
        g_assert_cmpint(vsm_reader_be24(&r, &v24), ==, 0);
        g_assert_cmpint(vsm_reader_be32(&r, &v32), ==, 0);
        g_assert_cmphex(v8, ==, 0x9c);
        g_assert_cmphex(v16, ==, 0xfffe);
        g_assert_cmphex(v24, ==, 0xffffff);
        g_assert_cmphex(v32, ==, 0x80000001);
        g_assert_cmpuint(vsm_reader_remaining(&r), ==, 0);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proto/buf/reader/getters", test_reader_getters);
        g_test_add_func("/proto/buf/reader/bytes-skip", test_reader_bytes_skip);
        g_test_add_func("/proto/buf/reader/overflow", test_reader_overflow);
        g_test_add_func("/proto/buf/reader/sub", test_reader_sub);
        g_test_add_func("/proto/buf/reader/empty", test_reader_empty);
        g_test_add_func("/proto/buf/writer/putters", test_writer_putters);
        g_test_add_func("/proto/buf/writer/overflow", test_writer_overflow);
        g_test_add_func("/proto/buf/writer/reserve-patch", test_writer_reserve_patch);
        g_test_add_func("/proto/buf/round-trip", test_round_trip);

        return g_test_run();
}

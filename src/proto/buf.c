/* Bounded packet reader and writer used by every codec in proto/.
 *
 * Not a protocol of its own: this is the one place that does pointer
 * arithmetic on packet buffers.  Every check is in subtraction form
 * (n > len - off), which cannot overflow because off <= len always holds.
 * On failure neither outputs nor offsets change.
 */
#include "proto/buf.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

void vsm_reader_init(VsmReader *r, const void *data, size_t len) {
        assert(r);
        assert(data || len == 0);

        *r = (VsmReader) {
                .data = data,
                .len = len,
                .off = 0,
        };
}

size_t vsm_reader_remaining(const VsmReader *r) {
        return r->len - r->off;
}

const uint8_t *vsm_reader_peek(const VsmReader *r) {
        if (!r->data)
                return NULL;
        return r->data + r->off;
}

/* Points *ret at the next n octets and advances, or fails with -EBADMSG if
 * fewer remain.  An empty reader may have data == NULL: no arithmetic on it. */
static int reader_take(VsmReader *r, size_t n, const uint8_t **ret) {
        if (n > r->len - r->off)
                return -EBADMSG;
        *ret = n > 0 ? r->data + r->off : NULL;
        r->off += n;
        return 0;
}

int vsm_reader_u8(VsmReader *r, uint8_t *ret) {
        const uint8_t *p;

        if (reader_take(r, 1, &p) < 0)
                return -EBADMSG;
        *ret = p[0];
        return 0;
}

int vsm_reader_be16(VsmReader *r, uint16_t *ret) {
        const uint8_t *p;

        if (reader_take(r, 2, &p) < 0)
                return -EBADMSG;
        *ret = (uint16_t) ((uint16_t) p[0] << 8 | p[1]);
        return 0;
}

int vsm_reader_be24(VsmReader *r, uint32_t *ret) {
        const uint8_t *p;

        if (reader_take(r, 3, &p) < 0)
                return -EBADMSG;
        *ret = (uint32_t) p[0] << 16 | (uint32_t) p[1] << 8 | p[2];
        return 0;
}

int vsm_reader_be32(VsmReader *r, uint32_t *ret) {
        const uint8_t *p;

        if (reader_take(r, 4, &p) < 0)
                return -EBADMSG;
        *ret = (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
        return 0;
}

int vsm_reader_bytes(VsmReader *r, void *ret, size_t n) {
        const uint8_t *p;

        if (reader_take(r, n, &p) < 0)
                return -EBADMSG;
        if (n > 0)
                memcpy(ret, p, n);
        return 0;
}

int vsm_reader_skip(VsmReader *r, size_t n) {
        const uint8_t *p;

        return reader_take(r, n, &p);
}

int vsm_reader_sub(VsmReader *r, size_t n, VsmReader *ret_sub) {
        const uint8_t *p;

        if (reader_take(r, n, &p) < 0)
                return -EBADMSG;
        *ret_sub = (VsmReader) {
                .data = p,
                .len = n,
                .off = 0,
        };
        return 0;
}

void vsm_writer_init(VsmWriter *w, void *buf, size_t cap) {
        assert(w);
        assert(buf || cap == 0);

        *w = (VsmWriter) {
                .data = buf,
                .cap = cap,
                .len = 0,
        };
}

/* Points *ret at room for the next n octets and advances, or fails with
 * -ENOBUFS if full.  An empty writer may have data == NULL. */
static int writer_take(VsmWriter *w, size_t n, uint8_t **ret) {
        if (n > w->cap - w->len)
                return -ENOBUFS;
        *ret = n > 0 ? w->data + w->len : NULL;
        w->len += n;
        return 0;
}

int vsm_writer_u8(VsmWriter *w, uint8_t v) {
        uint8_t *p;

        if (writer_take(w, 1, &p) < 0)
                return -ENOBUFS;
        p[0] = v;
        return 0;
}

int vsm_writer_be16(VsmWriter *w, uint16_t v) {
        uint8_t *p;

        if (writer_take(w, 2, &p) < 0)
                return -ENOBUFS;
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
        return 0;
}

int vsm_writer_be24(VsmWriter *w, uint32_t v) {
        uint8_t *p;

        assert(v <= 0xffffff);

        if (writer_take(w, 3, &p) < 0)
                return -ENOBUFS;
        p[0] = (uint8_t) (v >> 16);
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) v;
        return 0;
}

int vsm_writer_be32(VsmWriter *w, uint32_t v) {
        uint8_t *p;

        if (writer_take(w, 4, &p) < 0)
                return -ENOBUFS;
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
        return 0;
}

int vsm_writer_bytes(VsmWriter *w, const void *src, size_t n) {
        uint8_t *p;

        if (writer_take(w, n, &p) < 0)
                return -ENOBUFS;
        if (n > 0)
                memcpy(p, src, n);
        return 0;
}

int vsm_writer_zero(VsmWriter *w, size_t n) {
        uint8_t *p;

        if (writer_take(w, n, &p) < 0)
                return -ENOBUFS;
        if (n > 0)
                memset(p, 0, n);
        return 0;
}

int vsm_writer_reserve(VsmWriter *w, size_t n, size_t *ret_off) {
        size_t off = w->len;
        uint8_t *p;

        if (writer_take(w, n, &p) < 0)
                return -ENOBUFS;
        /* Zeroed so that a header never patched is not stale memory. */
        if (n > 0)
                memset(p, 0, n);
        *ret_off = off;
        return 0;
}

void vsm_writer_patch_be16(VsmWriter *w, size_t off, uint16_t v) {
        /* API misuse, not network input: the offset must lie in what was
         * already written or reserved. */
        assert(w->len >= 2 && off <= w->len - 2);

        w->data[off] = (uint8_t) (v >> 8);
        w->data[off + 1] = (uint8_t) v;
}

/* Bounded packet reader and writer.
 *
 * Every codec in proto/ reads through a VsmReader and writes through a
 * VsmWriter.  Bounds are checked in subtraction form so that no length
 * taken from the wire can overflow an offset computation.
 *
 * Readers: every getter returns 0, or -EBADMSG when fewer octets remain than
 * asked for; on failure neither the output nor the read offset changes.
 * Writers: every putter returns 0, or -ENOBUFS when the buffer is full; on
 * failure the writer is unchanged.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct VsmReader {
        const uint8_t *data;
        size_t len;
        size_t off;
} VsmReader;

typedef struct VsmWriter {
        uint8_t *data;
        size_t cap;
        size_t len;
} VsmWriter;

/* Reader over [data, data+len). */
void vsm_reader_init(VsmReader *r, const void *data, size_t len);
/* Octets not yet read. */
size_t vsm_reader_remaining(const VsmReader *r);
/* Pointer to the unread part (valid while the underlying buffer is). */
const uint8_t *vsm_reader_peek(const VsmReader *r);
int vsm_reader_u8(VsmReader *r, uint8_t *ret);
int vsm_reader_be16(VsmReader *r, uint16_t *ret);
int vsm_reader_be24(VsmReader *r, uint32_t *ret);
int vsm_reader_be32(VsmReader *r, uint32_t *ret);
int vsm_reader_bytes(VsmReader *r, void *ret, size_t n);
int vsm_reader_skip(VsmReader *r, size_t n);
/* Carve the next n octets into *ret_sub and advance past them. */
int vsm_reader_sub(VsmReader *r, size_t n, VsmReader *ret_sub);

void vsm_writer_init(VsmWriter *w, void *buf, size_t cap);
int vsm_writer_u8(VsmWriter *w, uint8_t v);
int vsm_writer_be16(VsmWriter *w, uint16_t v);
int vsm_writer_be24(VsmWriter *w, uint32_t v);
int vsm_writer_be32(VsmWriter *w, uint32_t v);
int vsm_writer_bytes(VsmWriter *w, const void *p, size_t n);
int vsm_writer_zero(VsmWriter *w, size_t n);
/* Reserve n octets to be filled later (e.g. a TLV header); *ret_off is
 * their offset in w->data. */
int vsm_writer_reserve(VsmWriter *w, size_t n, size_t *ret_off);
/* Store a big-endian 16-bit value at an offset already written/reserved. */
void vsm_writer_patch_be16(VsmWriter *w, size_t off, uint16_t v);

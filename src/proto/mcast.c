/* Multicast address records and source lists shared by IGMPv3 and MLDv2.
 *
 * RFC 3376 section 4.1.8-4.1.10 = RFC 3810 section 5.1.9-5.1.11 (query
 * source lists) and RFC 3376 section 4.2.4-4.2.12 = RFC 3810 section
 * 5.2.4-5.2.12 (records: type, aux data len in 32-bit words, number of
 * sources, address, sources, aux data; unknown types ignored).
 */
#include "proto/mcast.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "proto/igmp.h"              /* VsmMcastRecordType */

int vsm_mcast_sources_parse(VsmReader *r, const VsmMcastFamily *f, uint16_t n, uint8_t *pool, uint16_t *n_pool) {
        if (n > f->record_sources_max)
                return -EMSGSIZE;
        if (n > f->sources_max - *n_pool)
                return -EMSGSIZE;
        /* n < 2^16 and alen < 2^8, so n * alen cannot overflow. */
        if ((size_t) n * f->alen > vsm_reader_remaining(r))
                return -EBADMSG;
        for (uint16_t i = 0; i < n; i++)
                (void) vsm_reader_bytes(r, pool + (size_t) (*n_pool + i) * f->alen, f->alen);
        *n_pool = (uint16_t) (*n_pool + n);
        return 0;
}

int vsm_mcast_record_parse(VsmReader *r, const VsmMcastFamily *f, uint8_t *pool, uint16_t *n_pool,
                           VsmMcastRecord *ret) {
        VsmMcastRecord rec = { .first_source = *n_pool };
        uint16_t n = *n_pool;
        uint8_t aux_len;
        int k;

        if (vsm_reader_remaining(r) < f->record_hlen)
                return -EBADMSG;
        (void) vsm_reader_u8(r, &rec.type);
        (void) vsm_reader_u8(r, &aux_len);
        (void) vsm_reader_be16(r, &rec.n_sources);
        (void) vsm_reader_bytes(r, rec.group, f->alen);
        k = vsm_mcast_sources_parse(r, f, rec.n_sources, pool, &n);
        if (k < 0)
                return k;
        if (vsm_reader_skip(r, (size_t) aux_len * 4) < 0)
                return -EBADMSG;
        /* Unknown record type: silently ignored, and its sources dropped
         * from the pool again. */
        if (rec.type == 0 || rec.type >= _VSM_MCAST_RECORD_MAX)
                return 0;
        *n_pool = n;
        *ret = rec;
        return 1;
}

int vsm_mcast_sources_write(VsmWriter *w, const VsmMcastFamily *f, const uint8_t *pool, uint16_t n_pool,
                            uint16_t first, uint16_t n) {
        if (n > f->record_sources_max)
                return -EMSGSIZE;
        if (n_pool > f->sources_max || first > n_pool || n > n_pool - first)
                return -EINVAL;
        for (uint16_t i = 0; i < n; i++) {
                int k = vsm_writer_bytes(w, pool + (size_t) (first + i) * f->alen, f->alen);
                if (k < 0)
                        return k;
        }
        return 0;
}

int vsm_mcast_record_write(VsmWriter *w, const VsmMcastFamily *f, const uint8_t *pool, uint16_t n_pool,
                           const VsmMcastRecord *rec) {
        int k;

        if ((k = vsm_writer_u8(w, rec->type)) < 0 ||
            (k = vsm_writer_u8(w, 0)) < 0 ||          /* aux data len */
            (k = vsm_writer_be16(w, rec->n_sources)) < 0 ||
            (k = vsm_writer_bytes(w, rec->group, f->alen)) < 0 ||
            (k = vsm_mcast_sources_write(w, f, pool, n_pool, rec->first_source, rec->n_sources)) < 0)
                return k;
        return 0;
}

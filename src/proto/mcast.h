/* Multicast address records and source lists shared by IGMPv3 (RFC 3376
 * sections 4.1.8-4.1.10, 4.2.4-4.2.12) and MLDv2 (RFC 3810 sections
 * 5.1.9-5.1.11, 5.2.4-5.2.12): the two differ only in the address length.
 * Internal to proto/igmp.c and proto/mld.c.
 *
 * A message keeps the sources of its query or of all its records in one
 * pool: sources_max addresses of alen octets, packed, n_pool of them used.
 */
#pragma once

#include <stdint.h>

#include "proto/buf.h"
#include "proto/inet.h"

/* What differs between IGMPv3 and MLDv2. */
typedef struct VsmMcastFamily {
        uint8_t alen;                /* VSM_IP4_ALEN or VSM_IP6_ALEN */
        uint8_t record_hlen;         /* record header: 4 + alen */
        uint16_t record_sources_max; /* hard cap on sources per record or query */
        uint16_t sources_max;        /* hard cap on sources per message (pool size) */
} VsmMcastFamily;

/* One record; only the first alen octets of group are used.  Its sources
 * are pool[first_source .. first_source + n_sources). */
typedef struct VsmMcastRecord {
        uint8_t type;                /* VsmMcastRecordType */
        uint8_t group[VSM_IP6_ALEN];
        uint16_t n_sources;
        uint16_t first_source;
} VsmMcastRecord;

/* Read n sources into the pool after its *n_pool used ones and add n to
 * *n_pool.  -EMSGSIZE if n is over f->record_sources_max or the pool
 * would exceed f->sources_max, -EBADMSG if r is too short. */
int vsm_mcast_sources_parse(VsmReader *r, const VsmMcastFamily *f, uint16_t n, uint8_t *pool, uint16_t *n_pool);

/* Read one record (type, aux data len, source count, group, sources,
 * aux data) and append its sources to the pool.  Returns 1 with the record
 * in *ret; 0 for a record of unknown type, which is skipped with its
 * sources (RFC 3376 4.2.12, RFC 3810 5.2.12), pool and *ret untouched;
 * -EBADMSG on truncation; -EMSGSIZE over the caps. */
int vsm_mcast_record_parse(VsmReader *r, const VsmMcastFamily *f, uint8_t *pool, uint16_t *n_pool,
                           VsmMcastRecord *ret);

/* Write pool sources [first, first + n).  -EMSGSIZE if n is over
 * f->record_sources_max, -EINVAL if they lie outside the n_pool used
 * ones (or n_pool is over f->sources_max), -ENOBUFS when w is full. */
int vsm_mcast_sources_write(VsmWriter *w, const VsmMcastFamily *f, const uint8_t *pool, uint16_t n_pool,
                            uint16_t first, uint16_t n);

/* Write rec with no auxiliary data, then its sources from the pool;
 * errors as vsm_mcast_sources_write(). */
int vsm_mcast_record_write(VsmWriter *w, const VsmMcastFamily *f, const uint8_t *pool, uint16_t n_pool,
                           const VsmMcastRecord *rec);

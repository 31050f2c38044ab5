/* Fuzz target: the conntrack records of the peer channel's "conntrack"
 * message (proto/ct-record.c), as the destination receives them from a
 * possibly hostile source: a block decodes into at most VSM_CT_BATCH_MAX
 * entries or is refused as a whole; every entry that decodes is in range,
 * re-encodes to the same octets, and goes through the destination's
 * re-check (ownership, NAT, protocol, zone map, install flags) without
 * harm.  The input's first octet picks the cap, so the "too many" path is
 * reached with small inputs. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ct-record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static VsmCtEntry entries[64];
        static const uint8_t vm4[4] = { 10, 77, 1, 10 };
        static const uint8_t vm6[16] = { 0xfd, 0x77, [15] = 0x10 };
        VsmCtOwned owned = {};
        VsmCtZoneMap zm = {};
        size_t max;
        int n;

        if (size < 1)
                return 0;
        max = 1 + data[0] % 64;
        assert(vsm_ct_owned_add(&owned, 4, vm4, 0) == 0);
        assert(vsm_ct_owned_add(&owned, 6, vm6, 1) == 0);
        assert(vsm_ct_zone_map_parse("br0:7,br1:65535", &zm) == 0);
        n = vsm_ct_records_decode(data + 1, size - 1, entries, max);
        if (n < 0) {
                assert(n == -EBADMSG || n == -E2BIG);
                return 0;
        }
        assert((size_t) n <= max);
        for (int i = 0; i < n; i++) {
                const VsmCtEntry *e = &entries[i];
                uint8_t buf[VSM_CT_RECORD_LEN_IP6];
                VsmWriter w;
                VsmReader r;
                VsmCtEntry back;
                unsigned nic = 99;
                uint8_t f, m;
                int v;

                assert(e->family == 4 || e->family == 6);
                assert(e->zone <= 0xffff && e->timeout <= VSM_CT_TIMEOUT_MAX);
                vsm_writer_init(&w, buf, sizeof(buf));
                assert(vsm_ct_record_write(&w, e) == 0);
                assert(w.len == vsm_ct_record_len(e));
                vsm_reader_init(&r, buf, w.len);
                assert(vsm_ct_record_read(&r, &back) == 0);
                assert(memcmp(&back, e, sizeof(back)) == 0);
                v = vsm_ct_entry_check(e, &owned, false, &nic);
                assert(v >= -1 && v < _VSM_CT_SKIP_MAX);
                if (v == -1) {
                        assert(nic <= 1);
                        assert(vsm_ct_owned_match(&owned, e, NULL));
                        assert(!vsm_ct_entry_is_nat(e));
                }
                (void) vsm_ct_zone_map_apply(&zm, nic == 1 ? "br1" : "br0", (uint16_t) e->zone);
                vsm_ct_tcp_install_flags(e->tcpflags_orig, &f, &m);
                assert(f & VSM_CT_TCP_FLAG_BE_LIBERAL);
                assert((vsm_ct_install_status(e, false) & ~(VSM_CT_IPS_SEEN_REPLY | VSM_CT_IPS_ASSURED)) == 0);
        }
        return 0;
}

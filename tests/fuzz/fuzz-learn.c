/* Fuzz target for the per-vNIC learner fed a frame sequence
 * (src/sm/learn.c): everything a hostile guest can put on its tap, and
 * everything the network sends to it, in any order (DESIGN.md section 7).
 *
 * Input: one flags octet, then records, each
 *   direction-and-time (1 octet: bit 0 = to-guest, bits 1-7 = seconds the
 *   fake clock advances first), length (2 octets, big endian), frame.
 * Flags bit 0: restrict the vNIC to an nwfilter list (192.0.2.10,
 * 2001:db8::10); bit 1: run expiry after every record.  The vNIC's MAC is
 * 52:54:00:12:34:56 (the seeds' frames use it).
 *
 * After every record the learner's invariants must hold: counts within the
 * caps; owned addresses ownable, distinct, and in the list when restricted;
 * no link-local group; INCLUDE groups have sources; the generation never
 * goes back.  At the end its content seeds a fresh learner, which must hold
 * the same groups and addresses.  Any violation aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/inet.h"
#include "sm/learn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t vm_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static bool in_allowed(const VsmLearnAddress *allowed, size_t n, const VsmLearnAddress *a) {
        for (size_t i = 0; i < n; i++)
                if (allowed[i].is_ip6 == a->is_ip6 && memcmp(allowed[i].address, a->address, a->is_ip6 ? 16 : 4) == 0)
                        return true;
        return false;
}

static void check(const VsmLearner *l, bool restricted, const VsmLearnAddress *allowed, size_t n_allowed) {
        if (vsm_learner_n_groups(l) > VSM_LEARN_GROUPS_MAX || vsm_learner_n_addresses(l, false) > VSM_LEARN_IP4_MAX ||
            vsm_learner_n_addresses(l, true) > VSM_LEARN_IP6_MAX)
                abort();
        for (size_t i = 0; i < vsm_learner_n_groups(l); i++) {
                const VsmLearnGroup *g = vsm_learner_get_group(l, i);

                if (!g || g->n_sources > VSM_LEARN_GROUP_SOURCES_MAX)
                        abort();
                if (g->is_ip6 ? !vsm_ip6_is_multicast(g->address) || vsm_ip6_is_link_local_group(g->address)
                              : !vsm_ip4_is_multicast(g->address) || vsm_ip4_is_link_local_group(g->address))
                        abort();
                if (g->mode == VSM_LEARN_FILTER_INCLUDE && g->n_sources == 0)
                        abort();
        }
        if (vsm_learner_get_group(l, vsm_learner_n_groups(l)))
                abort();
        for (int fam = 0; fam < 2; fam++) {
                size_t n = vsm_learner_n_addresses(l, fam == 1);

                for (size_t i = 0; i < n; i++) {
                        const VsmLearnAddress *a = vsm_learner_get_address(l, fam == 1, i);

                        if (!a || a->is_ip6 != (fam == 1) || !vsm_learn_address_ownable(a->is_ip6, a->address))
                                abort();
                        if (restricted && !in_allowed(allowed, n_allowed, a))
                                abort();
                        for (size_t k = 0; k < i; k++)
                                if (memcmp(vsm_learner_get_address(l, fam == 1, k)->address, a->address, 16) == 0)
                                        abort();
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        VsmLearnAddress allowed[2] = { { .address = { 192, 0, 2, 10 } },
                                       { .is_ip6 = true, .address = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x10 } } };
        VsmLearner *l, *copy;
        uint64_t now = UINT64_C(1000000000), gen = 0;
        bool restricted, expire;
        size_t off = 1;

        if (size < 1)
                return 0;
        restricted = data[0] & 1;
        expire = data[0] & 2;
        l = vsm_learner_new(vm_mac);
        if (!l)
                abort();
        if (restricted)
                vsm_learner_set_allowed(l, true, allowed, 2);
        while (size - off >= 3) {
                uint8_t dt = data[off];
                size_t len = (size_t) data[off + 1] << 8 | data[off + 2];
                int k;

                off += 3;
                if (len > size - off)
                        len = size - off;
                now += (uint64_t) (dt >> 1) * VSM_LEARN_USEC_PER_SEC;
                k = vsm_learner_feed(l, data + off, len, (dt & 1) ? VSM_LEARN_TO_GUEST : VSM_LEARN_FROM_GUEST, now);
                if (k < -EMSGSIZE || k > 1)
                        abort();
                off += len;
                if (expire)
                        vsm_learner_expire(l, now);
                if (vsm_learner_generation(l) < gen)
                        abort();
                gen = vsm_learner_generation(l);
                check(l, restricted, allowed, 2);
        }

        /* Its content seeds a fresh learner with the same restriction. */
        copy = vsm_learner_new(vm_mac);
        if (restricted)
                vsm_learner_set_allowed(copy, true, allowed, 2);
        {
                VsmLearnGroup *groups = calloc(VSM_LEARN_GROUPS_MAX, sizeof(*groups));
                VsmLearnAddress addrs[VSM_LEARN_IP4_MAX + VSM_LEARN_IP6_MAX];
                size_t n_groups = vsm_learner_n_groups(l), n_addrs = 0;

                if (!groups)
                        abort();
                for (size_t i = 0; i < n_groups; i++)
                        groups[i] = *vsm_learner_get_group(l, i);
                for (int fam = 0; fam < 2; fam++)
                        for (size_t i = 0; i < vsm_learner_n_addresses(l, fam == 1); i++)
                                addrs[n_addrs++] = *vsm_learner_get_address(l, fam == 1, i);
                vsm_learner_seed(copy, NULL, NULL, groups, n_groups, addrs, n_addrs, now);
                if (vsm_learner_n_groups(copy) != n_groups ||
                    vsm_learner_n_addresses(copy, false) != vsm_learner_n_addresses(l, false) ||
                    vsm_learner_n_addresses(copy, true) != vsm_learner_n_addresses(l, true))
                        abort();
                check(copy, restricted, allowed, 2);
                free(groups);
        }
        vsm_learner_free(copy);
        vsm_learner_free(l);
        return 0;
}

/* Fuzz target: the domain state in <metadata> (daemon/netstate.c).
 * Every accepted document must respect the caps and survive both trips
 * unchanged: to_xml -> (in our namespace, as libvirt stores it) ->
 * from_xml, and each NIC to_json -> from_json. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/domain-xml.h"
#include "daemon/netstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_nic(const VsmNicState *n) {
        g_autoptr(JsonNode) node = NULL;
        g_autoptr(VsmNicState) back = NULL;
        g_autoptr(GError) error = NULL;

        g_assert(!(n->mac[0] & 0x01));
        g_assert(n->client_id_state < _VSM_LEARN_CLIENT_ID_MAX);
        if (n->client_id_state != VSM_LEARN_CLIENT_ID_SENT)
                g_assert(n->client_id_len == 0);
        if (n->hostname)
                g_assert(strlen(n->hostname) >= 1 && strlen(n->hostname) <= 255);
        g_assert(n->groups->len <= VSM_LEARN_GROUPS_MAX);
        g_assert(n->ip4->len <= VSM_LEARN_IP4_MAX && n->ip6->len <= VSM_LEARN_IP6_MAX);
        for (guint i = 0; i < n->groups->len; i++) {
                const VsmStateGroup *g = &g_array_index(n->groups, VsmStateGroup, i);

                g_assert(g->n_sources <= VSM_LEARN_GROUP_SOURCES_MAX);
                g_assert(g->mode == VSM_LEARN_FILTER_EXCLUDE || g->n_sources >= 1);
                g_assert((g->n_sources == 0) == (g->sources == NULL));
        }
        if (n->has_lease)
                g_assert(n->lease_ack_real_usec >= 0);

        node = vsm_nic_state_to_json(n);
        if (!vsm_nic_state_from_json(node, &back, &error))
                g_error("JSON round trip refused: %s", error->message);
        g_assert(vsm_nic_state_equal(n, back));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(VsmDomainState) s = NULL, back = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *xml = g_memdup2(data, size ? size : 1);   /* no terminator: len rules */
        g_autofree char *out = NULL, *wrapped = NULL;

        if (!vsm_domain_state_from_xml(xml, size, &s, &error)) {
                g_assert(s == NULL);
                g_assert(error != NULL && error->domain == VSM_ERROR && error->code == VSM_ERROR_INVALID);
                g_assert(g_utf8_validate(error->message, -1, NULL));
                return 0;
        }
        g_assert(error == NULL && s != NULL);
        g_assert(size <= 1024 * 1024);
        g_assert(s->nics->len <= VSM_NETSTATE_NICS_MAX);
        g_assert(s->token[0] == '\0' || strlen(s->token) == VSM_NETSTATE_TOKEN_LEN);
        if (s->origin)
                g_assert(strlen(s->origin) >= 1 && strlen(s->origin) <= VSM_NETSTATE_ORIGIN_MAX);
        for (guint i = 0; i < s->nics->len; i++)
                check_nic(g_ptr_array_index(s->nics, i));

        out = vsm_domain_state_to_xml(s);
        g_assert(g_str_has_prefix(out, "<state "));
        wrapped = g_strconcat("<state xmlns=\"" VSIMIG_METADATA_NS "\"", out + strlen("<state"), NULL);
        if (!vsm_domain_state_from_xml(wrapped, strlen(wrapped), &back, &error))
                g_error("XML round trip refused: %s\n%s", error->message, wrapped);
        g_assert(s->generation == back->generation);
        g_assert(g_strcmp0(s->origin, back->origin) == 0);
        g_assert(strcmp(s->token, back->token) == 0);
        g_assert(s->nics->len == back->nics->len);
        for (guint i = 0; i < s->nics->len; i++)
                g_assert(vsm_nic_state_equal(g_ptr_array_index(s->nics, i), g_ptr_array_index(back->nics, i)));
        return 0;
}

/* Fuzz target: libvirt domain XML (daemon/domain-xml.c).  Checks the
 * documented bounds on every accepted document. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/domain-xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(VsmDomainInfo) info = NULL;
        g_autoptr(GError) error = NULL;
        /* Exactly size octets, no terminator: the parser must honour len. */
        g_autofree char *xml = g_memdup2(data, size ? size : 1);
        gsize name_len;

        if (!vsm_domain_xml_parse(xml, size, &info, &error)) {
                g_assert(info == NULL);
                g_assert(error != NULL && error->domain == VSM_ERROR && error->code == VSM_ERROR_INVALID);
                g_assert(g_utf8_validate(error->message, -1, NULL));
                return 0;
        }
        g_assert(error == NULL && info != NULL);
        g_assert(size <= VSM_DOMAIN_XML_MAX);
        name_len = strlen(info->name);
        g_assert(name_len >= 1 && name_len <= VSM_DOMAIN_NAME_MAX);
        g_assert(info->nics != NULL && info->nics->len <= VSM_DOMAIN_NICS_MAX);
        if (info->metadata)
                g_assert(g_utf8_validate(info->metadata, -1, NULL));
        for (guint i = 0; i < info->nics->len; i++) {
                const VsmNicInfo *n = g_ptr_array_index(info->nics, i);
                uint8_t vsiid[VSM_VDP_VSIID_LEN];

                g_assert(n->type != NULL && n->type[0] != '\0');
                if (n->target_dev)
                        g_assert(strlen(n->target_dev) >= 1 && strlen(n->target_dev) <= 15);
                if (n->has_vlan)
                        g_assert(n->vlan >= 1 && n->vlan <= 4094);
                else
                        g_assert(n->vlan == 0);
                if (n->has_qbg)
                        g_assert(n->qbg_manager_id != NULL && n->qbg_type_id <= 0xffffff);
                else
                        g_assert(n->qbg_manager_id == NULL);
                vsm_nic_derive_instance(info->uuid, n->mac, vsiid);
                g_assert((vsiid[6] >> 4) == 5 && (vsiid[8] & 0xc0) == 0x80);
        }
        return 0;
}

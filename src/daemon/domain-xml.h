/* Domain XML (untrusted) -> what vsimigd needs, with libxml2 XPath.
 * Bounded: at most VSM_DOMAIN_XML_MAX octets and VSM_DOMAIN_NICS_MAX
 * interfaces; no network access, no entity expansion. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "proto/eth.h"
#include "proto/vdp.h"

#define VSM_DOMAIN_XML_MAX (4 * 1024 * 1024)
#define VSM_DOMAIN_NICS_MAX 64
#define VSM_DOMAIN_NAME_MAX 255
/* Our element in <metadata>, and its namespace. */
#define VSIMIG_METADATA_NS "https://vsimig.dev/xmlns/metadata/1"
#define VSIMIG_METADATA_PREFIX "vsimig"

/* nwfilter `IP`/`IPV6` parameter values kept per NIC. */
#define VSM_NIC_ALLOWED_IPS_MAX 32

/* One address a NIC's nwfilter parameters allow. */
typedef struct VsmNicAddress {
        gboolean is_ip6;
        uint8_t address[16];           /* IPv4 in the first 4 octets */
} VsmNicAddress;

/* <interface type='direct'><source mode=>: the macvtap mode (libvirt's
 * virNetDevMacVLanMode names; no attribute is vepa, libvirt's default). */
typedef enum VsmDirectMode {
        VSM_DIRECT_MODE_VEPA,
        VSM_DIRECT_MODE_PRIVATE,
        VSM_DIRECT_MODE_BRIDGE,
        VSM_DIRECT_MODE_PASSTHROUGH,
        VSM_DIRECT_MODE_MAX,
} VsmDirectMode;

const char *vsm_direct_mode_to_string(VsmDirectMode m);

typedef struct VsmNicInfo {
        uint8_t mac[VSM_ETH_ALEN];
        char *type;                    /* interface type attribute: bridge, network, direct, ... */
        char *target_dev;              /* the tap, NULL until libvirt set it */
        char *source_bridge;           /* <source bridge=> */
        char *source_network;          /* <source network=> */
        /* type='direct': <source dev= mode=>; the macvtap is target_dev */
        char *source_dev;
        VsmDirectMode direct_mode;
        gboolean has_vlan;
        uint16_t vlan;                 /* first <vlan><tag id=>, 1-4094 */
        /* <virtualport type='802.1Qbg'><parameters .../></virtualport> */
        gboolean has_qbg;
        char *qbg_manager_id;          /* managerid attribute as text */
        uint32_t qbg_type_id;
        uint8_t qbg_type_version;
        gboolean has_qbg_instance;
        uint8_t qbg_instance[VSM_VDP_VSIID_LEN];
        /* <filterref><parameter name='IP'|'IPV6' value=.../>: libvirt
         * reserves IP (the guest's IPv4 addresses, one parameter per
         * address); IPV6 is no libvirt name but the one custom
         * no-ipv6-spoofing filters use.  With any of them the NIC owns
         * only the listed addresses (both families; a value that is not
         * an address allows nothing; past VSM_NIC_ALLOWED_IPS_MAX, the
         * rest allow nothing either). */
        gboolean ip_restricted;
        guint n_allowed_ips;
        VsmNicAddress allowed_ips[VSM_NIC_ALLOWED_IPS_MAX];
} VsmNicInfo;

typedef struct VsmDomainInfo {
        char *name;
        uint8_t uuid[16];
        GPtrArray *nics;               /* VsmNicInfo, owned */
        char *metadata;                /* our <metadata> child serialized, or NULL */
} VsmDomainInfo;

VsmNicInfo *vsm_nic_info_free(VsmNicInfo *n);
VsmDomainInfo *vsm_domain_info_free(VsmDomainInfo *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmNicInfo, vsm_nic_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmDomainInfo, vsm_domain_info_free)

/* Parse a <domain> document.  Errors (VSM_ERROR, VSM_ERROR_INVALID) for:
 * too large, not well-formed XML, root not <domain>, missing/invalid name
 * or uuid, more than VSM_DOMAIN_NICS_MAX interfaces, an interface without
 * a valid MAC, out-of-range VLAN or 802.1Qbg parameters.  Interfaces of
 * other kinds than bridge/network/direct/ethernet are still listed. */
gboolean vsm_domain_xml_parse(const char *xml, gsize len, VsmDomainInfo **ret, GError **error);

/* The VSIID for a NIC without an 802.1Qbg instanceid: UUIDv5 (SHA-1) in
 * the namespace of the domain UUID over the MAC's 6 octets, so both hosts
 * compute the same value. */
void vsm_nic_derive_instance(const uint8_t domain_uuid[16], const uint8_t mac[VSM_ETH_ALEN],
                             uint8_t ret[VSM_VDP_VSIID_LEN]);

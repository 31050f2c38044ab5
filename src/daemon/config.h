/* vsimigd configuration: a GKeyFile loaded into a plain struct.
 * The keys are documented in vsimigd.conf(5). */
#pragma once

#include <glib.h>
#include <stdint.h>

#define VSM_CONFIG_UPLINKS_MAX 64

typedef struct VsmConfig {
        /* [vdp] */
        char **uplinks;                 /* NULL-terminated; may be empty */
        char *manager_id;               /* VSI Manager ID, <= 16 octets or a UUID */
        unsigned ecp_retries;           /* R we advertise (0-7) */
        unsigned ecp_rte;               /* RTE exponent we advertise (0-31) */
        unsigned rwd;                   /* RWD exponent we advertise (0-31) */
        unsigned rka;                   /* RKA exponent we advertise (0-31) */
        unsigned max_vsis;              /* per uplink */
        unsigned ecp_pacing_usec;       /* min gap between ECP ULPDUs */
        unsigned type_id;               /* VSI type for NICs without 802.1Qbg parameters */
        unsigned type_version;
        gboolean pre_assoc_rr;          /* PRE-ASSOCIATE-RR at the destination */
        /* [bridges]: bridge name -> uplink, both NULL-terminated, same length */
        char **bridge_names;
        char **bridge_uplinks;
        /* [libvirt] */
        gboolean libvirt_enabled;
        char *libvirt_uri;
        unsigned max_domains;           /* domains (with their timelines) remembered */
        unsigned timelines_per_domain;
        /* [hook] */
        gboolean hook_veto;             /* refuse "migrate begin" when vsimigd is unreachable */
        unsigned hook_timeout_ms;
        /* [lldp] */
        unsigned lldp_interval_sec;     /* msgTxInterval */
        /* [peer] */
        char *peer_listen;              /* "ADDR:PORT" of our peer listener; NULL: none */
        char *peer_advertise;           /* origin written into <metadata>; NULL: peer_listen */
        gboolean peer_tls;              /* TLS on the peer channel, with libvirt's PKI files: */
        char *peer_tls_ca;              /* CA both sides' certificates chain to */
        char *peer_tls_cert;            /* our listener's certificate and key */
        char *peer_tls_key;
        char *peer_tls_client_cert;     /* our connector's certificate and key */
        char *peer_tls_client_key;
        char *peer_key_file;            /* the cluster secret's file; NULL: none */
        GBytes *peer_key;               /* its contents, read at load */
        gboolean peer_insecure;         /* the explicit opt-out of authentication */
        /* [learn] */
        gboolean learn_enabled;         /* sniff the VMs' taps */
        unsigned metadata_interval_ms;  /* debounce of <metadata> snapshot writes */
        /* [replay] */
        gboolean replay_enabled;        /* replay at the destination */
        gboolean replay_mdb;            /* RTM_NEWMDB on the new tap */
        gboolean replay_query;          /* general query into the tap after resume */
        gboolean replay_leaves;         /* the source: leaves for the VM's groups after it left */
        /* [replay] vlan = DEV:VID,...: the egress VID of the NICs on bridge
         * (or, direct NICs, source device) DEV; VID 1-4094, or 0 for
         * "none" (untagged).  Both NULL-terminated/parallel, same length. */
        char *replay_vlan;              /* the raw text */
        char **vlan_devs;
        guint *vlan_ids;
        /* [control] */
        char *control_socket;
        char *control_group;            /* NULL: root only */
        unsigned control_max_clients;
        /* [qbg] */
        gboolean qbg_serve_libvirt;     /* answer libvirt's 802.1Qbg netlink requests (lldpad's role) */
        char *qbg_pid_file;             /* where libvirt looks for "lldpad"'s pid */
} VsmConfig;

VsmConfig *vsm_config_new_default(void);
/* [replay] vlan for dev: TRUE and *ret_vid (0: untagged) when configured. */
gboolean vsm_config_vlan_for(const VsmConfig *c, const char *dev, guint *ret_vid);
VsmConfig *vsm_config_free(VsmConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmConfig, vsm_config_free)

/* Parse config text.  Unknown groups and keys are errors (typos must not be
 * silently ignored); missing keys keep their defaults. */
gboolean vsm_config_load_data(const char *data, gsize len, VsmConfig **ret, GError **error);
gboolean vsm_config_load_file(const char *path, VsmConfig **ret, GError **error);
/* Every unknown section ("[s]") and key ("[s] k") of a config text, where
 * vsm_config_load_data stops at the first; NULL when it is no key file. */
char **vsm_config_unknown_keys(const char *data, gsize len);

/* The daemon's error quark, used by all daemon-level GErrors. */
#define VSM_ERROR (vsm_error_quark())
GQuark vsm_error_quark(void);

typedef enum VsmErrorCode {
        VSM_ERROR_CONFIG,
        VSM_ERROR_IO,
        VSM_ERROR_INVALID,
        VSM_ERROR_NOT_FOUND,
        VSM_ERROR_BUSY,
        _VSM_ERROR_MAX,
} VsmErrorCode;

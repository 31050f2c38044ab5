/* Parsing and validation of control requests (untrusted JSON) and
 * building of replies.  See include/vsimig/control.h for the framing. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/control-server.h"
#include "proto/eth.h"
#include "proto/vdp.h"

#define VSM_CONTROL_JSON_DEPTH_MAX 16

typedef struct VsmControlRequest {
        gboolean has_id;
        gint64 id;
        char *method;
        JsonObject *params;          /* never NULL: empty when absent */
} VsmControlRequest;

VsmControlRequest *vsm_control_request_free(VsmControlRequest *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmControlRequest, vsm_control_request_free)

/* Parse one request line.  On failure *ret_code is set to a static
 * VSIMIG_ERR_* string and error explains; *ret_id/has_id are filled when
 * the id could still be read, so the reply can carry it. */
gboolean vsm_control_request_parse(const char *line, gsize len, VsmControlRequest **ret,
                                   const char **ret_code, gboolean *ret_has_id, gint64 *ret_id,
                                   GError **error);

/* What a method does, for the access check. */
typedef enum VsmControlMethodClass {
        VSM_CONTROL_METHOD_UNKNOWN,    /* answered "unknown-method" to anyone connected */
        VSM_CONTROL_METHOD_READ,       /* status, domains, show, monitor, vdp.list */
        VSM_CONTROL_METHOD_WRITE,      /* changes state: vdp.request, hook */
        _VSM_CONTROL_METHOD_CLASS_MAX,
} VsmControlMethodClass;

VsmControlMethodClass vsm_control_method_class(const char *method);

/* Whether a client with this access may call a method of this class:
 * ADMIN may call anything, READ only READ (and UNKNOWN, to learn that it
 * is unknown), NONE nothing. */
gboolean vsm_control_method_permitted(VsmControlMethodClass cls, VsmControlAccess access);

/* Params of "vdp.request". */
typedef struct VsmVdpRequestParams {
        char uplink[16];
        VsmVdpRequest request;
        uint8_t mac[VSM_ETH_ALEN];
        uint16_t vlan;               /* 0 = untagged/any */
        uint32_t type_id;            /* 24 bits */
        uint8_t type_version;
        uint8_t instance[VSM_VDP_VSIID_LEN];
        gboolean has_manager;
        uint8_t manager_id[VSM_VDP_MANAGER_ID_LEN];
        uint8_t flags;               /* VSM_VDP_STATUS_M | VSM_VDP_STATUS_S */
} VsmVdpRequestParams;

/* Validate "vdp.request" params:
 *   uplink (string), request ("pre-associate"|"pre-associate-rr"|
 *   "associate"|"de-associate"), mac ("aa:bb:.."), vlan (0-4094, optional),
 *   type_id (0-16777215), type_version (0-255, optional), instance (UUID),
 *   manager (optional string), flags (optional list of "migrated-to",
 *   "suspended"). Unknown members are rejected. */
gboolean vsm_vdp_request_params_parse(JsonObject *params, VsmVdpRequestParams *ret, GError **error);

/* Replies, as one line of JSON (no newline). */
char *vsm_control_reply_result(gboolean has_id, gint64 id, JsonNode *result);
char *vsm_control_reply_error(gboolean has_id, gint64 id, const char *code, const char *message);

/* Flags as a JSON string array: ["migrated-to", "suspended"]. */
JsonNode *vsm_vdp_flags_to_json(uint8_t flags);

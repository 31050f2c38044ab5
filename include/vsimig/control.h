/* The vsimigd control protocol, shared by the daemon, vsimigctl and tests.
 *
 * Transport: a Unix stream socket (default VSIMIG_DEFAULT_SOCKET).  Each
 * message is one JSON object on one line, at most VSIMIG_CONTROL_LINE_MAX
 * octets including the newline.  Requests:
 *
 *   {"id": N, "method": "<method>", "params": {...}}
 *
 * Replies carry the same id and either "result" (an object) or "error":
 *
 *   {"id": N, "result": {...}}
 *   {"id": N, "error": {"code": "<error code>", "message": "<text>"}}
 *
 * Methods and their params are documented in vsimigd(8).
 */
#pragma once

/* Large enough for a hook call carrying a domain XML (hooks cap their
 * stdin at VSIMIG_HOOK_XML_MAX; JSON escaping grows it somewhat). */
#define VSIMIG_CONTROL_LINE_MAX (4 * 1024 * 1024)
#define VSIMIG_HOOK_XML_MAX (2 * 1024 * 1024)

#define VSIMIG_METHOD_STATUS      "status"
#define VSIMIG_METHOD_VDP_REQUEST "vdp.request"
#define VSIMIG_METHOD_VDP_LIST    "vdp.list"
#define VSIMIG_METHOD_HOOK        "hook"
#define VSIMIG_METHOD_DOMAINS     "domains"
#define VSIMIG_METHOD_SHOW        "show"
#define VSIMIG_METHOD_MONITOR     "monitor"
#define VSIMIG_METHOD_LOOP_RESET  "loop.reset"

/* Error codes in a reply's error.code. */
#define VSIMIG_ERR_PARSE           "parse-error"       /* not JSON, or not an object */
#define VSIMIG_ERR_TOO_LARGE       "too-large"         /* line over VSIMIG_CONTROL_LINE_MAX */
#define VSIMIG_ERR_INVALID_REQUEST "invalid-request"   /* missing/ill-typed members */
#define VSIMIG_ERR_UNKNOWN_METHOD  "unknown-method"
#define VSIMIG_ERR_INVALID_PARAMS  "invalid-params"
#define VSIMIG_ERR_NO_SUCH_UPLINK  "no-such-uplink"
#define VSIMIG_ERR_BUSY            "busy"              /* too many requests queued */
#define VSIMIG_ERR_PERMISSION      "permission-denied"
#define VSIMIG_ERR_INTERNAL        "internal-error"
#define VSIMIG_ERR_NOT_FOUND       "not-found"

/* vsimigctl exit statuses. */
#define VSIMIG_EXIT_OK            0
#define VSIMIG_EXIT_FAILED        1   /* request done, result not ok */
#define VSIMIG_EXIT_USAGE         2
#define VSIMIG_EXIT_UNREACHABLE   3   /* daemon not reachable */

/* vsimigctl check: the host doctor.  check-util.c holds the pure parts
 * (results, rendering, parsers of what the checks read), check.c the
 * checks themselves. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <sys/types.h>

typedef enum VsmCheckLevel {
        VSM_CHECK_OK,
        VSM_CHECK_WARN,
        VSM_CHECK_FAIL,
} VsmCheckLevel;

/* Exit status of `vsimigctl check`: every check ok; at least one fail;
 * warnings but no fail.  (2 stays the usage error of every command.) */
#define VSM_CHECK_EXIT_OK   0
#define VSM_CHECK_EXIT_FAIL 1
#define VSM_CHECK_EXIT_WARN 4

typedef struct VsmCheckResult {
        char *check;            /* "config", "uplink", "evb", ... */
        char *subject;          /* e.g. the interface; NULL */
        VsmCheckLevel level;
        char *text;             /* what was found, one line */
        char *fix;              /* the fix, one line; NULL when ok */
} VsmCheckResult;

typedef struct VsmCheckReport {
        GPtrArray *results;     /* VsmCheckResult */
} VsmCheckReport;

VsmCheckReport *vsm_check_report_new(void);
void vsm_check_report_free(VsmCheckReport *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmCheckReport, vsm_check_report_free)

/* Adds one result (fmt: the text).  Control characters in subject, text
 * and fix become '?' and each is capped (they may quote hostile input);
 * the fix of an ok result is dropped. */
void vsm_check_add(VsmCheckReport *r, const char *check, const char *subject, VsmCheckLevel level,
                   const char *fix, const char *fmt, ...) G_GNUC_PRINTF(6, 7);
const char *vsm_check_level_name(VsmCheckLevel level);
VsmCheckLevel vsm_check_report_worst(const VsmCheckReport *r);
int vsm_check_report_exit(const VsmCheckReport *r);
/* The text rendering: one line per result, "  fix: ..." under each that is
 * not ok, and a summary line. */
char *vsm_check_report_text(const VsmCheckReport *r);
/* {"status": "ok"|"warn"|"fail", "ok": N, "warn": N, "fail": N,
 *  "checks": [{"check", "subject", "level", "text", "fix"}, ...]} */
JsonNode *vsm_check_report_json(const VsmCheckReport *r);

/* adjtimex(2) verdict: status word, return value (TIME_ERROR = 5) and
 * maxerror (µs). */
#define VSM_CHECK_MAXERROR_WARN_US 100000
VsmCheckLevel vsm_check_time_verdict(int adjtimex_ret, int status, long maxerror_us, char **ret_text);

/* /proc/PID/stat: the start time (clock ticks after boot, field 22).
 * The comm field may hold spaces and ')'.  FALSE when malformed. */
gboolean vsm_check_parse_proc_stat_start(const char *stat, gsize len, guint64 *ret_ticks);
/* Reads at most max octets of a regular file, without opening anything
 * else: the path is opened O_PATH first and reopened for reading only
 * when it is a regular file, so a FIFO, a device or a socket a local
 * user planted (e.g. through a fake lldpad's -f or /proc/PID/root) is
 * never opened for real (no blocking, no side effect of open(2)).
 * FALSE with a message when it cannot be read, is not a regular file or
 * holds more than max octets. */
gboolean vsm_check_read_file(const char *path, gsize max, char **ret, gsize *ret_len, char **ret_error);
/* /proc/stat: "btime N".  FALSE when absent. */
gboolean vsm_check_parse_btime(const char *text, gsize len, guint64 *ret_btime);

/* lldpad.conf (libconfig): for interface ifname, whether its EVB TLV
 * (tlvid0080c20d) has enableTx = true in any agent section, and its
 * highest adminStatus (0 disabled .. 3 rxtx; -1 not named).  FALSE (with
 * error) when the text cannot be scanned (bounded: size, depth). */
typedef struct VsmLldpadPort {
        gboolean named;         /* the interface has a section */
        gboolean evb_tx;        /* tlvid0080c20d enableTx = true */
        char evbmode[16];       /* "bridge"/"station"/"" */
        int admin_status;       /* -1 when not set */
} VsmLldpadPort;

gboolean vsm_check_lldpad_conf_port(const char *text, gsize len, const char *ifname, VsmLldpadPort *ret,
                                    GError **error);

/* Provided by vsimigctl.c: one request to the daemon, the "result" object
 * (a new reference) or NULL with *ret_error set. */
JsonObject *vsm_ctl_request(const char *socket_path, const char *method, guint timeout_ms, char **ret_error);

/* check.c */
typedef struct VsmCheckOptions {
        const char *config_path;
        const char *socket_path;        /* NULL: from the config */
        const char *hook_path;
        const char *const *libvirtd_pidfiles;
        const char *lldpad_pidfile;
        guint timeout_ms;
} VsmCheckOptions;

VsmCheckReport *vsm_check_run(const VsmCheckOptions *o);

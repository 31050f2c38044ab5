/* vsimigd as libvirt's 802.1Qbg VDP agent (lldpad's netlink role).
 *
 * libvirt (virnetdevvportprofile.c) reads the agent's pid from
 * /var/run/lldpad.pid and sends it, on NETLINK_ROUTE, unicast to that
 * port: RTM_SETLINK with the port request (PREASSOCIATE for an incoming
 * migration's Prepare, ASSOCIATE at start, Finish and libvirtd restart,
 * DISASSOCIATE at stop and after an outgoing migration), then polls
 * RTM_GETLINK every 125 ms for up to 10 s until IFLA_PORT_RESPONSE says
 * done.  lldpad (qbg/vdpnl.c) answers SETLINK at once with NLMSG_ERROR,
 * GETLINK with NLMSG_DONE listing each VSI of the interface, and sends an
 * RTM_SETLINK DE-ASSOCIATE notice to the requester's event port when the
 * bridge de-associates a VSI.  The research note libvirt-lldpad-netlink.md
 * has the citations.
 *
 * What we do differently from lldpad:
 * - hints: PREASSOCIATE only happens for an incoming migration, so it goes
 *   out with the M-bit, and so does the ASSOCIATE that follows it;
 * - the answer: libvirt gets SUCCESS only once the bridge has answered
 *   the request libvirt is waiting for.  lldpad hands libvirt's Finish the
 *   PRE-ASSOCIATE's old status.  When our follower already sent the
 *   ASSOCIATE (M) at SWITCHOVER, libvirt's Finish-phase ASSOCIATE is
 *   answered from the bridge's answer to that request (or waits for it);
 * - no notice for a DE-ASSOCIATE libvirt itself asked for.
 *
 * Records: one per VSI libvirt asked for (keyed by instance), holding
 * libvirt's latest request and its result.  Results stay readable by
 * every GETLINK; a finished DISASSOCIATE is forgotten once a GETLINK has
 * read it (lldpad deletes finished VSIs after the first read), or after
 * VSM_QBG_STALE_USEC unread.  Records of associated VSIs stay, so that a
 * bridge DE-ASSOCIATE can be passed on. */
#include "daemon/qbg-agent.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/uplink.h"
#include "daemon/vsi.h"
#include "io/qbgnl.h"
#include "proto/eth.h"

#define VSM_QBG_TICK_SEC 5
#define VSM_QBG_STALE_USEC (300 * G_USEC_PER_SEC)
/* libvirt polls GETLINK right after its SETLINK (0.2-0.4 ms), before any
 * bridge can answer, and then only every 125 ms.  A poll for a pending
 * request is held until the bridge answers, up to this long (libvirt
 * waits 2 s for a netlink reply), so the first poll gets the answer. */
#define VSM_QBG_HOLD_MSEC 1000
#define VSM_QBG_HOLD_MAX 64
#define LLDPAD_CLIENT_SOCKET "@/com/intel/lldpad"

typedef enum QbgCounter {
        QC_PREASSOCIATE,
        QC_PREASSOCIATE_RR,
        QC_ASSOCIATE,
        QC_DISASSOCIATE,
        QC_GETLINK,
        QC_ANSWERED_AT_ONCE,       /* the bridge had already answered (e.g. ASSOCIATE (M) at SWITCHOVER) */
        QC_JOINED,                 /* joined a request already on the wire */
        QC_GETLINK_HELD,           /* a poll answered once the bridge answered */
        QC_NOTICES,
        QC_ERR_MALFORMED,
        QC_ERR_INVALID,
        QC_ERR_PERM,
        QC_ERR_NODEV,
        QC_ERR_NO_EVB,
        QC_ERR_LIMIT,
        QC_ERR_SEND,
        QC_IGNORED_KERNEL,
        QC_PIDFILE_REASSERTED,
        _QC_MAX,
} QbgCounter;

static const char *const counter_names[_QC_MAX] = {
        [QC_PREASSOCIATE] = "preassociate",
        [QC_PREASSOCIATE_RR] = "preassociate_rr",
        [QC_ASSOCIATE] = "associate",
        [QC_DISASSOCIATE] = "disassociate",
        [QC_GETLINK] = "getlink",
        [QC_ANSWERED_AT_ONCE] = "answered_at_once",
        [QC_JOINED] = "joined_request_on_wire",
        [QC_GETLINK_HELD] = "getlink_held",
        [QC_NOTICES] = "deassociate_notices",
        [QC_ERR_MALFORMED] = "err_malformed",
        [QC_ERR_INVALID] = "err_invalid",
        [QC_ERR_PERM] = "err_not_root",
        [QC_ERR_NODEV] = "err_no_such_uplink",
        [QC_ERR_NO_EVB] = "err_evb_not_negotiated",
        [QC_ERR_LIMIT] = "err_limit",
        [QC_ERR_SEND] = "err_send",
        [QC_IGNORED_KERNEL] = "ignored_from_kernel",
        [QC_PIDFILE_REASSERTED] = "pid_file_reasserted",
};

typedef struct QbgRecord {
        char id[37];                    /* instance UUID text, the key */
        uint8_t instance[16];
        char uplink[IF_NAMESIZE];
        int32_t ifindex;
        uint8_t mac[6];
        uint16_t vlan;
        uint8_t mgr_id;
        uint32_t type_id;
        uint8_t type_version;
        uint8_t request;                /* libvirt's latest (IFLA_PORT_REQUEST) */
        gboolean have_request;
        gboolean pending;               /* the bridge has not answered it yet */
        uint16_t response;              /* valid when !pending */
        gboolean read;                  /* a GETLINK returned the result */
        gint64 request_usec;
        gint64 answer_usec;
        guint64 order;                  /* newest request first in GETLINK */
} QbgRecord;

typedef struct HeldGetlink {
        VsmQbgAgent *agent;
        uint32_t port;
        uint8_t hdr[16];
        VsmQbgnlRequest req;
        char id[37];                    /* the pending request it waits for */
        guint timer;
} HeldGetlink;

struct VsmQbgAgent {
        const VsmConfig *config;
        GPtrArray *uplinks;             /* borrowed */
        int fd;
        guint fd_source;
        guint tick;
        uint32_t our_port;
        gboolean for_test;
        char *pid_file;
        gboolean pid_file_ok;
        uint32_t requester;             /* nlmsg_pid of the latest SETLINK: libvirt's event port */
        gboolean have_requester;
        uint32_t notice_seq;
        guint64 next_order;
        GHashTable *records;            /* id -> QbgRecord */
        GPtrArray *held;                /* HeldGetlink: polls waiting for the bridge */
        guint64 counters[_QC_MAX];
        VsmRateLimit log_rl;
};

static void agent_count(VsmQbgAgent *a, QbgCounter c) {
        a->counters[c]++;
}

/* ---- pid file ---------------------------------------------------------- */

/* The pid in the file, 0 when missing or unreadable, -1 when it holds
 * something else (also: not a regular file, a symlink, or over 32
 * octets).  Nothing else is opened for real: the path is opened O_PATH
 * and O_NOFOLLOW, and only a regular file is reopened for reading, so a
 * FIFO planted there cannot block the main loop nor a symlink make us
 * read a huge file or open a device. */
long vsm_qbg_pidfile_read(const char *path) {
        char text[33], fdpath[64];
        struct stat st, st2;
        size_t len = 0;
        char *end;
        long v;
        int pfd, fd;

        pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
                return 0;
        if (fstat(pfd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(pfd);
                return -1;
        }
        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", pfd);
        fd = open(fdpath, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        close(pfd);
        if (fd < 0)
                return 0;
        if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) {
                close(fd);
                return -1;
        }
        while (len < sizeof(text)) {
                ssize_t n = read(fd, text + len, sizeof(text) - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        close(fd);
        if (len == 0 || len >= sizeof(text) || memchr(text, '\0', len))
                return len == 0 ? 0 : -1;
        text[len] = '\0';
        /* libvirt reads at most 10 bytes and accepts trailing whitespace. */
        errno = 0;
        v = strtol(text, &end, 10);
        if (errno || end == text || v <= 0 || v > INT32_MAX)
                return -1;
        while (*end == '\n' || *end == ' ' || *end == '\0') {
                if (*end == '\0')
                        return v;
                end++;
        }
        return -1;
}

/* Written whole (temporary file + rename), so libvirt never reads half. */
static gboolean pidfile_write(const char *path, uint32_t pid, GError **error) {
        g_autofree char *text = g_strdup_printf("%u\n", pid);

        return g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, error);
}

static char *proc_comm(long pid) {
        g_autofree char *path = g_strdup_printf("/proc/%ld/comm", pid);
        char *text = NULL;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return NULL;
        g_strchomp(text);
        return text;
}

/* Whether lldpad's client socket @/com/intel/lldpad is bound in this
 * network namespace (lldpad, or systemd's lldpad.socket). */
static gboolean lldpad_socket_bound(void) {
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;

        if (!g_file_get_contents("/proc/net/unix", &text, NULL, NULL))
                return FALSE;
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++) {
                const char *sp = strrchr(*l, ' ');

                if (sp && g_str_equal(sp + 1, LLDPAD_CLIENT_SOCKET))
                        return TRUE;
        }
        return FALSE;
}

/* The network namespace of a process (its inode), 0 when unreadable. */
static ino_t proc_netns(const char *pid) {
        g_autofree char *path = g_strdup_printf("/proc/%s/ns/net", pid);
        struct stat st;

        return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* A running lldpad in our network namespace (lldpads serving other
 * namespaces, e.g. a test switch's, do not matter): 1 with -p (no pid
 * file: the DCB companion), 2 without, 0 none. */
static int lldpad_running(long *ret_pid) {
        g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
        ino_t self = proc_netns("self");
        const char *name;

        if (!dir)
                return 0;
        while ((name = g_dir_read_name(dir))) {
                g_autofree char *comm = NULL;
                g_autofree char *path = NULL;
                g_autofree char *cmdline = NULL;
                gsize len = 0;
                long pid;
                char *end;

                pid = strtol(name, &end, 10);
                if (*end || pid <= 0)
                        continue;
                comm = proc_comm(pid);
                if (!comm || !g_str_equal(comm, "lldpad") || proc_netns(name) != self)
                        continue;
                *ret_pid = pid;
                path = g_strdup_printf("/proc/%ld/cmdline", pid);
                if (g_file_get_contents(path, &cmdline, &len, NULL))
                        for (gsize off = 0; off < len; off += strlen(cmdline + off) + 1)
                                if (g_str_equal(cmdline + off, "-p"))
                                        return 1;
                return 2;
        }
        return 0;
}

#define LLDPAD_HOWTO                                                                                  \
        "to let vsimigd be libvirt's VDP agent, stop and mask lldpad (systemctl mask --now "          \
        "lldpad.service lldpad.socket); to keep lldpad for DCB, run it with -p (no pid file) and "    \
        "with EVB off on the uplinks (lldptool -T -i UPLINK -g ncb -V evb enableTx=no); see vsimigd(8)"

int vsm_qbg_agent_claim(const VsmConfig *config, GError **error) {
        long pid = vsm_qbg_pidfile_read(config->qbg_pid_file), lp = 0;
        int running = lldpad_running(&lp);
        int fd;

        if (pid > 0 && pid != (long) getpid() && (kill((pid_t) pid, 0) == 0 || errno == EPERM)) {
                g_autofree char *comm = proc_comm(pid);

                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[qbg] serve-libvirt: %s names a running process, %ld (%s): libvirt would keep "
                            "talking to it; %s", config->qbg_pid_file, pid, comm ? comm : "?", LLDPAD_HOWTO);
                return -1;
        }
        if (running == 2) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[qbg] serve-libvirt: lldpad runs (pid %ld) without -p, as libvirt's VDP agent; %s",
                            lp, LLDPAD_HOWTO);
                return -1;
        }
        if (running == 0 && lldpad_socket_bound()) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "[qbg] serve-libvirt: lldpad's socket %s is bound (lldpad.socket would start "
                            "lldpad on demand); %s", LLDPAD_CLIENT_SOCKET, LLDPAD_HOWTO);
                return -1;
        }
        if (running == 1)
                vsm_log(G_LOG_LEVEL_WARNING,
                        "lldpad runs with -p (pid %ld) beside the 802.1Qbg agent: it must not run EVB/VDP on "
                        "our uplinks (lldptool -T -i UPLINK -g ncb -V evb enableTx=no), or the bridge sees "
                        "two stations", lp);
        fd = vsm_qbgnl_socket_open();
        if (fd < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO,
                            "[qbg] serve-libvirt: cannot bind the netlink port %d (our pid) for libvirt: %s%s",
                            (int) getpid(), g_strerror(-fd),
                            fd == -EADDRINUSE ? " (another netlink socket of this process took it first)" : "");
                return -1;
        }
        return fd;
}

/* Puts our pid back into the pid file if something changed it (lldpad
 * overwrites it without a lock), and says so. */
static void agent_assert_pidfile(VsmQbgAgent *a, gboolean first) {
        g_autoptr(GError) error = NULL;
        long pid = vsm_qbg_pidfile_read(a->pid_file);

        if (pid == (long) a->our_port) {
                a->pid_file_ok = TRUE;
                return;
        }
        if (!first) {
                agent_count(a, QC_PIDFILE_REASSERTED);
                vsm_log(G_LOG_LEVEL_WARNING, "%s %s (it held %ld): writing our pid %u again; is lldpad running?",
                        a->pid_file, pid == 0 ? "vanished" : "changed", pid, a->our_port);
        }
        a->pid_file_ok = pidfile_write(a->pid_file, a->our_port, &error);
        if (!a->pid_file_ok)
                vsm_log(G_LOG_LEVEL_WARNING, "cannot write %s: %s; libvirt cannot find its 802.1Qbg agent",
                        a->pid_file, error->message);
}

/* ---- records ----------------------------------------------------------- */

static VsmUplink *agent_find_uplink(VsmQbgAgent *a, const char *name) {
        for (guint i = 0; i < a->uplinks->len; i++)
                if (g_str_equal(vsm_uplink_get_name(a->uplinks->pdata[i]), name))
                        return a->uplinks->pdata[i];
        return NULL;
}

static VsmVsi *record_vsi(VsmQbgAgent *a, const QbgRecord *r) {
        VsmUplink *u = agent_find_uplink(a, r->uplink);

        return u ? vsm_uplink_find_vsi(u, r->instance) : NULL;
}

static uint16_t response_from_report(const VsmVdpAction *rep) {
        switch (rep->outcome) {
        case VSM_VDP_OUTCOME_OK:
                return VSM_QBGNL_RESPONSE_SUCCESS;
        case VSM_VDP_OUTCOME_ERROR:
                /* The bridge's reason, as lldpad passes it on. */
                return rep->error >= 1 && rep->error <= 5 ? rep->error : VSM_QBGNL_RESPONSE_OTHER;
        case VSM_VDP_OUTCOME_TIMEOUT:
                return VSM_QBGNL_RESPONSE_TIMEOUT;
        default:
                return VSM_QBGNL_RESPONSE_OTHER;
        }
}

static void agent_release_held(VsmQbgAgent *a, const char *id);

static void record_finish(VsmQbgAgent *a, QbgRecord *r, uint16_t response, const char *how) {
        r->pending = FALSE;
        r->response = response;
        r->read = FALSE;
        r->answer_usec = g_get_monotonic_time();
        vsm_log_vsi(response == 0 ? G_LOG_LEVEL_INFO : G_LOG_LEVEL_WARNING, r->uplink, r->id,
                    "libvirt %s of VSI %s: %s%s, %.2f ms after its request", vsm_qbgnl_port_request_to_string(r->request),
                    r->id, response == 0 ? "success" : "failed, response ", response == 0 ? how : "",
                    (double) (r->answer_usec - r->request_usec) / 1000.0);
        if (response != 0)
                vsm_log_vsi(G_LOG_LEVEL_WARNING, r->uplink, r->id, "libvirt gets IFLA_PORT_RESPONSE %u for VSI %s",
                            response, r->id);
        agent_release_held(a, r->id);
}

/* libvirt's request `want`: still on the wire or queued on the VSI? */
static gboolean machine_carries(const VsmVdpVsiMachine *m, VsmVdpRequest want) {
        if (m->queued)
                return m->queued_request == want;
        return m->pending && m->pending_kind == VSM_VDP_SEND_REQUEST && !m->pending_superseded &&
               m->pending_request == want;
}

static void agent_send_notice(VsmQbgAgent *a, QbgRecord *r) {
        uint8_t buf[512];
        int n, e;

        if (!a->have_requester) {
                vsm_log_vsi(G_LOG_LEVEL_WARNING, r->uplink, r->id,
                            "bridge de-associated VSI %s, but no libvirt event port is known to tell", r->id);
                return;
        }
        n = vsm_qbgnl_build_notice(buf, sizeof(buf), ++a->notice_seq, a->our_port, r->ifindex, r->uplink, r->mac,
                                   r->vlan, r->mgr_id, r->type_id, r->type_version, r->instance);
        if (n < 0)
                return;
        e = vsm_qbgnl_socket_send(a->fd, a->requester, buf, (size_t) n);
        if (e < 0) {
                agent_count(a, QC_ERR_SEND);
                vsm_log_vsi(G_LOG_LEVEL_WARNING, r->uplink, r->id,
                            "cannot tell libvirt (port %u) that the bridge de-associated VSI %s: %s", a->requester,
                            r->id, g_strerror(-e));
                return;
        }
        agent_count(a, QC_NOTICES);
        vsm_log_vsi(G_LOG_LEVEL_MESSAGE, r->uplink, r->id,
                    "bridge de-associated VSI %s: told libvirt (port %u), which re-associates it", r->id,
                    a->requester);
}

/* Every outcome on a VSI libvirt asked for (vsm_vsi_set_observer). */
static void agent_on_report(VsmVsi *vsi, const VsmVdpAction *rep, gpointer user_data) {
        VsmQbgAgent *a = user_data;
        QbgRecord *r = g_hash_table_lookup(a->records, vsm_vsi_get_id(vsi));
        VsmVdpRequest want;

        if (!r)
                return;
        want = (VsmVdpRequest) r->request;
        if (rep->outcome == VSM_VDP_OUTCOME_BRIDGE_DEASSOC) {
                /* lldpad (vdp22_nlback) tells libvirt only about VSIs created
                 * through netlink; and never when libvirt itself asked for
                 * the DE-ASSOCIATE (no spurious notices). */
                if (r->request != VSM_QBGNL_PORT_DISASSOCIATE)
                        agent_send_notice(a, r);
                return;
        }
        if (!r->pending || rep->report_internal)
                return;
        if (rep->outcome == VSM_VDP_OUTCOME_CANCELLED) {
                /* Superseded: by libvirt's own newer request or one of the
                 * same type (the follower's) we keep waiting for; by
                 * another request, libvirt's will never be answered. */
                if (!machine_carries(vsm_vsi_get_machine(vsi), want))
                        record_finish(a, r, VSM_QBGNL_RESPONSE_OTHER, "");
                return;
        }
        if (rep->request != want)
                return;
        record_finish(a, r, response_from_report(rep), ", the bridge's answer");
}

static void record_free(gpointer p) {
        g_free(p);
}

static guint agent_count_on_if(VsmQbgAgent *a, const char *uplink) {
        GHashTableIter it;
        gpointer v;
        guint n = 0;

        g_hash_table_iter_init(&it, a->records);
        while (g_hash_table_iter_next(&it, NULL, &v))
                if (g_str_equal(((QbgRecord *) v)->uplink, uplink))
                        n++;
        return n;
}

/* Another VSI, not idle, for this MAC on this uplink? */
static VsmVsi *uplink_other_vsi_for_mac(VsmUplink *u, const uint8_t mac[6], const uint8_t instance[16]) {
        g_autoptr(GPtrArray) vsis = vsm_uplink_list_vsis(u);

        for (guint i = 0; i < vsis->len; i++) {
                VsmVsi *v = vsis->pdata[i];
                const VsmVsiParams *p = vsm_vsi_get_params(v);

                if (memcmp(p->mac, mac, 6) == 0 && memcmp(p->instance, instance, 16) != 0 && !vsm_vsi_is_idle(v))
                        return v;
        }
        return NULL;
}

/* At a cap: forget the oldest record (on that uplink, or anywhere) that
 * has nothing pending and whose VSI is gone or idle, e.g. one whose
 * DISASSOCIATE never came (libvirtd died). */
static void agent_evict_one(VsmQbgAgent *a, const char *uplink) {
        GHashTableIter it;
        gpointer v;
        QbgRecord *oldest = NULL;

        g_hash_table_iter_init(&it, a->records);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                QbgRecord *r = v;
                VsmVsi *vsi;

                if (r->pending || (uplink && !g_str_equal(r->uplink, uplink)) || (oldest && oldest->order < r->order))
                        continue;
                vsi = record_vsi(a, r);
                if (vsi && !vsm_vsi_is_idle(vsi))
                        continue;
                oldest = r;
        }
        if (!oldest)
                return;
        vsm_log_vsi(G_LOG_LEVEL_INFO, oldest->uplink, oldest->id, "802.1Qbg agent: forgetting idle VSI %s (at the cap)",
                    oldest->id);
        if (record_vsi(a, oldest))
                vsm_vsi_set_observer(record_vsi(a, oldest), NULL, NULL);
        g_hash_table_remove(a->records, oldest->id);
}

/* ---- requests ---------------------------------------------------------- */

/* Sends an answer to netlink port `port`; a failure is counted and logged
 * (rate-limited) as "cannot answer <what> <port>".  Returns whether it went. */
static bool agent_answer(VsmQbgAgent *a, uint32_t port, const uint8_t *buf, size_t n, const char *what) {
        int e = vsm_qbgnl_socket_send(a->fd, port, buf, n);

        if (e >= 0)
                return true;
        agent_count(a, QC_ERR_SEND);
        if (vsm_ratelimit_test(&a->log_rl))
                vsm_log(G_LOG_LEVEL_WARNING, "802.1Qbg agent: cannot answer %s %u: %s", what, port, g_strerror(-e));
        return false;
}

static void agent_reply_error(VsmQbgAgent *a, uint32_t port, const uint8_t *req_hdr, int error) {
        uint8_t buf[64];
        int n = vsm_qbgnl_build_error(buf, sizeof(buf), req_hdr, a->our_port, error);

        if (n < 0)
                return;
        agent_answer(a, port, buf, (size_t) n, "netlink port");
}

static void agent_refuse(VsmQbgAgent *a, uint32_t port, const uint8_t *hdr, int error, QbgCounter c,
                         const char *fmt, ...) G_GNUC_PRINTF(6, 7);
static void agent_refuse(VsmQbgAgent *a, uint32_t port, const uint8_t *hdr, int error, QbgCounter c,
                         const char *fmt, ...) {
        agent_count(a, c);
        if (vsm_ratelimit_test(&a->log_rl)) {
                g_autofree char *msg = NULL;
                va_list ap;

                va_start(ap, fmt);
                msg = g_strdup_vprintf(fmt, ap);
                va_end(ap);
                vsm_log(G_LOG_LEVEL_WARNING, "802.1Qbg agent: request from netlink port %u refused (%s): %s", port,
                        g_strerror(-error), msg);
        }
        agent_reply_error(a, port, hdr, error);
}

static void agent_setlink(VsmQbgAgent *a, uint32_t port, const uint8_t *hdr, const VsmQbgnlRequest *req) {
        static const QbgCounter by_request[] = { QC_PREASSOCIATE, QC_PREASSOCIATE_RR, QC_ASSOCIATE, QC_DISASSOCIATE };
        char ifname[IF_NAMESIZE] = {};
        const char *why = NULL;
        g_autoptr(GError) error = NULL;
        VsmUplink *u;
        VsmVsi *vsi, *other;
        VsmVsiParams p = {};
        QbgRecord *r;
        VsmVdpRequest vreq;
        const VsmVdpVsiMachine *m;
        gboolean created, incoming;
        uint8_t flags = 0;
        char id[37], mac[18];

        if (vsm_qbgnl_setlink_check(req, &why) < 0) {
                agent_refuse(a, port, hdr, -EINVAL, QC_ERR_INVALID, "SETLINK: %s", why);
                return;
        }
        if (req->has_ifname)
                g_strlcpy(ifname, req->ifname, sizeof(ifname));
        else if (!if_indextoname((unsigned) req->ifindex, ifname)) {
                agent_refuse(a, port, hdr, -ENODEV, QC_ERR_NODEV, "SETLINK: no interface with index %d",
                             req->ifindex);
                return;
        }
        vsm_uuid_format(req->instance, id);
        u = agent_find_uplink(a, ifname);
        if (!u) {
                agent_refuse(a, port, hdr, -ENODEV, QC_ERR_NODEV, "SETLINK %s for VSI %s: %s is not one of [vdp] uplinks",
                             vsm_qbgnl_port_request_to_string(req->request), id, ifname);
                return;
        }
        if (!vsm_uplink_bridge_known(u)) {
                agent_refuse(a, port, hdr, -EPROTONOSUPPORT, QC_ERR_NO_EVB,
                             "SETLINK %s for VSI %s: EVB is not negotiated on %s (no bridge EVB TLV yet)",
                             vsm_qbgnl_port_request_to_string(req->request), id, ifname);
                return;
        }
        agent_count(a, by_request[req->request]);
        /* libvirt's event port, for notices: every SETLINK updates it (a
         * restarted libvirtd re-associates its VEPA NICs to tell us). */
        if (!a->have_requester || a->requester != req->nl_pid)
                vsm_log(G_LOG_LEVEL_INFO, "802.1Qbg agent: libvirt's event port is now %u", req->nl_pid);
        a->requester = req->nl_pid;
        a->have_requester = TRUE;

        r = g_hash_table_lookup(a->records, id);
        if (!r && (g_hash_table_size(a->records) >= VSM_QBG_AGENT_MAX_TOTAL ||
                   agent_count_on_if(a, ifname) >= VSM_QBG_AGENT_MAX_PER_IF))
                agent_evict_one(a, g_hash_table_size(a->records) >= VSM_QBG_AGENT_MAX_TOTAL ? NULL : ifname);
        if (!r && (g_hash_table_size(a->records) >= VSM_QBG_AGENT_MAX_TOTAL ||
                   agent_count_on_if(a, ifname) >= VSM_QBG_AGENT_MAX_PER_IF)) {
                agent_refuse(a, port, hdr, -ENOSPC, QC_ERR_LIMIT, "SETLINK for VSI %s: the agent holds %u VSIs "
                             "(at most %d per interface, %d in all)", id, g_hash_table_size(a->records),
                             VSM_QBG_AGENT_MAX_PER_IF, VSM_QBG_AGENT_MAX_TOTAL);
                return;
        }
        other = uplink_other_vsi_for_mac(u, req->mac, req->instance);
        if (other) {
                agent_refuse(a, port, hdr, -EEXIST, QC_ERR_INVALID,
                             "SETLINK for VSI %s: MAC %s on %s belongs to VSI %s already (one VSI per NIC)", id,
                             vsm_mac_format(req->mac, mac), ifname, vsm_vsi_get_id(other));
                return;
        }
        memcpy(p.instance, req->instance, 16);
        /* lldpad's Manager ID: libvirt's managerid octet, then 15 zeros. */
        p.manager_id[0] = req->mgr_id;
        p.type_id = req->type_id;
        p.type_version = req->type_version;
        memcpy(p.mac, req->mac, 6);
        p.vlan = req->vlan;
        created = vsm_uplink_find_vsi(u, req->instance) == NULL;
        vsi = vsm_uplink_ensure_vsi(u, &p, &error);
        if (!vsi) {
                agent_refuse(a, port, hdr, -ENOSPC, QC_ERR_LIMIT, "SETLINK for VSI %s: %s", id, error->message);
                return;
        }
        vsm_vsi_set_observer(vsi, agent_on_report, a);
        if (!r) {
                r = g_new0(QbgRecord, 1);
                memcpy(r->id, id, sizeof(r->id));
                memcpy(r->instance, req->instance, 16);
                g_hash_table_insert(a->records, r->id, r);
        }
        /* libvirt's previous request for this VSI a PRE-ASSOCIATE: this is
         * an incoming migration. */
        incoming = r->have_request &&
                   (r->request == VSM_QBGNL_PORT_PREASSOCIATE || r->request == VSM_QBGNL_PORT_PREASSOCIATE_RR);
        g_strlcpy(r->uplink, ifname, sizeof(r->uplink));
        r->ifindex = req->ifindex > 0 ? req->ifindex : (int32_t) if_nametoindex(ifname);
        memcpy(r->mac, req->mac, 6);
        r->vlan = req->vlan;
        r->mgr_id = req->mgr_id;
        r->type_id = req->type_id;
        r->type_version = req->type_version;
        r->request = req->request;
        r->have_request = TRUE;
        r->pending = TRUE;
        r->read = FALSE;
        r->request_usec = g_get_monotonic_time();
        r->order = ++a->next_order;

        /* libvirt answers NLMSG_ERROR first, at once: the bridge's answer
         * comes through GETLINK. */
        agent_reply_error(a, port, hdr, 0);

        vreq = (VsmVdpRequest) req->request;
        m = vsm_vsi_get_machine(vsi);
        switch (vreq) {
        case VSM_VDP_REQ_PRE_ASSOCIATE:
        case VSM_VDP_REQ_PRE_ASSOCIATE_RR:
                /* libvirt pre-associates only for an incoming migration
                 * (MIGRATE_IN_START): the VSI migrated to us. */
                flags = VSM_VDP_STATUS_M;
                break;
        case VSM_VDP_REQ_ASSOCIATE:
                /* After a PRE-ASSOCIATE this is the migration's Finish. */
                if (incoming || m->state == VSM_VSI_STATE_PRE_ASSOCIATED ||
                    m->state == VSM_VSI_STATE_PRE_ASSOCIATED_RR ||
                    (m->pending && (m->pending_request == VSM_VDP_REQ_PRE_ASSOCIATE ||
                                    m->pending_request == VSM_VDP_REQ_PRE_ASSOCIATE_RR)))
                        flags = VSM_VDP_STATUS_M;
                break;
        default:
                flags = 0;
                break;
        }
        vsm_log_vsi(G_LOG_LEVEL_INFO, ifname, id, "libvirt (port %u) asks %s for VSI %s, MAC %s VID %u%s", req->nl_pid,
                    vsm_qbgnl_port_request_to_string(req->request), id, vsm_mac_format(req->mac, mac), req->vlan,
                    (flags & VSM_VDP_STATUS_M) ? ": sent with the M-bit (migrated to this host)" : "");

        if (machine_carries(m, vreq)) {
                /* E.g. the ASSOCIATE (M) the follower sent at SWITCHOVER:
                 * libvirt gets the bridge's answer to it. */
                agent_count(a, QC_JOINED);
                vsm_log_vsi(G_LOG_LEVEL_INFO, ifname, id, "VSI %s: the %s is on the wire already; libvirt gets "
                            "the bridge's answer to it", id, vsm_vdp_request_to_string(vreq));
                return;
        }
        if (!created && !m->pending && !m->queued &&
            ((vreq == VSM_VDP_REQ_DE_ASSOCIATE && m->state == VSM_VSI_STATE_NONE) ||
             (vreq != VSM_VDP_REQ_DE_ASSOCIATE && m->state == (VsmVsiState) (vreq + 1)))) {
                /* Settled in that state by a request the bridge answered
                 * (the follower's at SWITCHOVER, or libvirt repeating
                 * itself): a repeated request is idempotent. */
                agent_count(a, QC_ANSWERED_AT_ONCE);
                record_finish(a, r, VSM_QBGNL_RESPONSE_SUCCESS, ", answered by the bridge before");
                return;
        }
        if (!vsm_vsi_request(vsi, vreq, flags, NULL, NULL, &error)) {
                vsm_log_vsi(G_LOG_LEVEL_WARNING, ifname, id, "VSI %s: %s", id, error->message);
                record_finish(a, r, VSM_QBGNL_RESPONSE_OTHER, "");
        }
}

static gint record_newest_first(gconstpointer pa, gconstpointer pb) {
        const QbgRecord *x = *(QbgRecord *const *) pa, *y = *(QbgRecord *const *) pb;

        return x->order < y->order ? 1 : x->order > y->order ? -1 : 0;
}

static void held_free(gpointer p) {
        HeldGetlink *h = p;

        g_clear_handle_id(&h->timer, g_source_remove);
        g_free(h);
}

static void agent_getlink(VsmQbgAgent *a, uint32_t port, const uint8_t *hdr, const VsmQbgnlRequest *req,
                          gboolean may_hold);

/* Held too long: answer with what there is (libvirt polls again). */
static gboolean held_on_timeout(gpointer user_data) {
        HeldGetlink *h = user_data;
        VsmQbgAgent *a = h->agent;
        HeldGetlink copy = *h;

        h->timer = 0;
        g_ptr_array_remove(a->held, h);
        agent_getlink(a, copy.port, copy.hdr, &copy.req, FALSE);
        return G_SOURCE_REMOVE;
}

/* The request these polls waited for is answered: answer them now. */
static void agent_release_held(VsmQbgAgent *a, const char *id) {
        for (guint i = 0; i < a->held->len;) {
                HeldGetlink *h = a->held->pdata[i];
                HeldGetlink copy;

                if (!g_str_equal(h->id, id)) {
                        i++;
                        continue;
                }
                copy = *h;
                g_ptr_array_remove_index(a->held, i);
                agent_count(a, QC_GETLINK_HELD);
                agent_getlink(a, copy.port, copy.hdr, &copy.req, FALSE);
        }
}

static void agent_getlink(VsmQbgAgent *a, uint32_t port, const uint8_t *hdr, const VsmQbgnlRequest *req,
                          gboolean may_hold) {
        g_autoptr(GPtrArray) list = g_ptr_array_new();
        g_autofree VsmQbgnlPort *ports = NULL;
        uint8_t buf[VSM_QBGNL_MAX_REPLY];
        GHashTableIter it;
        gpointer v;
        size_t written = 0;
        int n;

        g_hash_table_iter_init(&it, a->records);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                QbgRecord *r = v;

                if ((req->ifindex > 0 && r->ifindex == req->ifindex) ||
                    (req->ifindex <= 0 && req->has_ifname && g_str_equal(r->uplink, req->ifname)))
                        g_ptr_array_add(list, r);
        }
        if (list->len == 0 && req->ifindex > 0) {
                char name[IF_NAMESIZE];

                if (!if_indextoname((unsigned) req->ifindex, name) || !agent_find_uplink(a, name)) {
                        agent_refuse(a, port, hdr, -ENODEV, QC_ERR_NODEV, "GETLINK: ifindex %d is not an uplink",
                                     req->ifindex);
                        return;
                }
        }
        g_ptr_array_sort(list, record_newest_first);
        if (may_hold && list->len > 0 && ((QbgRecord *) list->pdata[0])->pending && record_vsi(a, list->pdata[0]) &&
            a->held->len < VSM_QBG_HOLD_MAX) {
                HeldGetlink *h = g_new0(HeldGetlink, 1);

                h->agent = a;
                h->port = port;
                memcpy(h->hdr, hdr, sizeof(h->hdr));
                h->req = *req;
                memcpy(h->id, ((QbgRecord *) list->pdata[0])->id, sizeof(h->id));
                h->timer = g_timeout_add(VSM_QBG_HOLD_MSEC, held_on_timeout, h);
                g_ptr_array_add(a->held, h);
                return;
        }
        ports = g_new0(VsmQbgnlPort, list->len + 1);
        for (guint i = 0; i < list->len; i++) {
                QbgRecord *r = list->pdata[i];

                /* A VSI that went away under a pending request (evicted,
                 * uplink gone) will not be answered. */
                if (r->pending && !record_vsi(a, r))
                        record_finish(a, r, VSM_QBGNL_RESPONSE_OTHER, "");
                memcpy(ports[i].instance, r->instance, 16);
                ports[i].has_response = !r->pending;
                ports[i].response = r->response;
        }
        n = vsm_qbgnl_build_getlink_reply(buf, sizeof(buf), req->nl_seq, a->our_port, req->ifindex, ports, list->len,
                                          &written);
        if (n < 0)
                return;
        if (!agent_answer(a, port, buf, (size_t) n, "GETLINK of port"))
                return;
        for (size_t i = 0; i < written; i++) {
                QbgRecord *r = list->pdata[i];

                if (r->pending)
                        continue;
                r->read = TRUE;
                /* A finished DISASSOCIATE is forgotten once read, as lldpad
                 * deletes it. */
                if (r->request == VSM_QBGNL_PORT_DISASSOCIATE) {
                        VsmVsi *vsi = record_vsi(a, r);

                        if (vsi)
                                vsm_vsi_set_observer(vsi, NULL, NULL);
                        g_hash_table_remove(a->records, r->id);
                }
        }
}

static void agent_handle(VsmQbgAgent *a, const uint8_t *buf, size_t len, uint32_t port, uid_t uid) {
        VsmQbgnlRequest req;
        uint8_t hdr[16] = {};
        int r;

        if (port == 0) {
                /* The kernel (nl_pid 0) sends us nothing we asked for. */
                agent_count(a, QC_IGNORED_KERNEL);
                return;
        }
        memcpy(hdr, buf, MIN(len, sizeof(hdr)));
        if (uid != 0) {
                /* lldpad checks its clients for uid 0 too (ctrl_iface.c);
                 * on netlink anyone may send to our port. */
                agent_refuse(a, port, hdr, -EPERM, QC_ERR_PERM, "sender uid %d is not root", (int) uid);
                return;
        }
        r = vsm_qbgnl_parse(buf, len, &req);
        if (r < 0) {
                if (len < sizeof(hdr)) {
                        agent_count(a, QC_ERR_MALFORMED);
                        if (vsm_ratelimit_test(&a->log_rl))
                                vsm_log(G_LOG_LEVEL_WARNING, "802.1Qbg agent: %zu-octet datagram from port %u "
                                        "ignored (no netlink header)", len, port);
                        return;
                }
                agent_refuse(a, port, hdr, r == -EOPNOTSUPP ? -EOPNOTSUPP : r == -EMSGSIZE ? -EMSGSIZE : -EINVAL,
                             QC_ERR_MALFORMED, "%s", r == -EOPNOTSUPP ? "not RTM_SETLINK or RTM_GETLINK"
                                                     : r == -EMSGSIZE ? "message too long"
                                                     : r == -E2BIG    ? "too many nested entries"
                                                     : r == -ERANGE   ? "VID above 4095"
                                                                      : "malformed message or attribute");
                return;
        }
        if (req.kind == VSM_QBGNL_SETLINK)
                agent_setlink(a, port, hdr, &req);
        else {
                agent_count(a, QC_GETLINK);
                agent_getlink(a, port, hdr, &req, TRUE);
        }
}

static gboolean agent_on_readable(gint fd, GIOCondition cond, gpointer user_data) {
        VsmQbgAgent *a = user_data;
        uint8_t buf[VSM_QBGNL_MAX_MSG + 64];

        (void) cond;
        /* A bounded batch per wakeup: a flood cannot starve the loop. */
        for (int i = 0; i < 64; i++) {
                uint32_t port = 0;
                uid_t uid = (uid_t) -1;
                pid_t pid = 0;
                ssize_t n = vsm_qbgnl_socket_recv(fd, buf, sizeof(buf), &port, &uid, &pid);

                if (n == -EAGAIN || n == -EINTR)
                        break;
                if (n == -EMSGSIZE) {
                        uint8_t hdr[16];

                        memcpy(hdr, buf, sizeof(hdr));
                        if (uid == 0 && port != 0)
                                agent_refuse(a, port, hdr, -EMSGSIZE, QC_ERR_MALFORMED, "datagram too long");
                        else
                                agent_count(a, QC_ERR_MALFORMED);
                        continue;
                }
                if (n == -ENOBUFS) {
                        vsm_log(G_LOG_LEVEL_WARNING, "802.1Qbg agent: netlink receive queue overflowed");
                        continue;
                }
                if (n < 0) {
                        vsm_log(G_LOG_LEVEL_WARNING, "802.1Qbg agent: netlink receive: %s", g_strerror((int) -n));
                        break;
                }
                agent_handle(a, buf, (size_t) n, port, uid);
        }
        return G_SOURCE_CONTINUE;
}

static gboolean agent_on_tick(gpointer user_data) {
        VsmQbgAgent *a = user_data;
        gint64 now = g_get_monotonic_time();
        GHashTableIter it;
        gpointer v;

        if (!a->for_test)
                agent_assert_pidfile(a, FALSE);
        g_hash_table_iter_init(&it, a->records);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                QbgRecord *r = v;

                if (r->request == VSM_QBGNL_PORT_DISASSOCIATE && !r->pending &&
                    now - r->answer_usec > VSM_QBG_STALE_USEC) {
                        VsmVsi *vsi = record_vsi(a, r);

                        if (vsi)
                                vsm_vsi_set_observer(vsi, NULL, NULL);
                        g_hash_table_iter_remove(&it);
                }
        }
        return G_SOURCE_CONTINUE;
}

static VsmQbgAgent *agent_new(const VsmConfig *config, int fd, uint32_t our_port, gboolean for_test,
                              GPtrArray *uplinks, GError **error) {
        VsmQbgAgent *a = g_new0(VsmQbgAgent, 1);

        a->config = config;
        a->uplinks = g_ptr_array_ref(uplinks);
        a->fd = fd;
        a->our_port = our_port;
        a->for_test = for_test;
        a->pid_file = g_strdup(config->qbg_pid_file);
        a->records = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, record_free);
        a->held = g_ptr_array_new_with_free_func(held_free);
        a->log_rl = (VsmRateLimit) VSM_RATELIMIT_INIT(10 * G_USEC_PER_SEC, 20);
        a->fd_source = g_unix_fd_add(fd, G_IO_IN, agent_on_readable, a);
        a->tick = g_timeout_add_seconds(VSM_QBG_TICK_SEC, agent_on_tick, a);
        if (!for_test) {
                agent_assert_pidfile(a, TRUE);
                if (!a->pid_file_ok) {
                        g_set_error(error, VSM_ERROR, VSM_ERROR_IO,
                                    "[qbg] serve-libvirt: cannot write %s (libvirt finds its agent there); under "
                                    "systemd, the unit needs ReadWritePaths=/run (see vsimigd(8))", a->pid_file);
                        vsm_qbg_agent_free(a);
                        return NULL;
                }
        }
        vsm_log(G_LOG_LEVEL_MESSAGE, "802.1Qbg agent for libvirt: netlink port %u, pid file %s", our_port,
                for_test ? "(none: test)" : a->pid_file);
        return a;
}

VsmQbgAgent *vsm_qbg_agent_new(const VsmConfig *config, int fd, GPtrArray *uplinks, GError **error) {
        return agent_new(config, fd, (uint32_t) getpid(), FALSE, uplinks, error);
}

VsmQbgAgent *vsm_qbg_agent_new_for_test(const VsmConfig *config, int fd, uint32_t our_port, GPtrArray *uplinks,
                                        GError **error) {
        return agent_new(config, fd, our_port, TRUE, uplinks, error);
}

VsmQbgAgent *vsm_qbg_agent_free(VsmQbgAgent *a) {
        GHashTableIter it;
        gpointer v;

        if (!a)
                return NULL;
        g_hash_table_iter_init(&it, a->records);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                VsmVsi *vsi = record_vsi(a, v);

                if (vsi)
                        vsm_vsi_set_observer(vsi, NULL, NULL);
        }
        g_clear_handle_id(&a->fd_source, g_source_remove);
        g_clear_handle_id(&a->tick, g_source_remove);
        g_clear_pointer(&a->held, g_ptr_array_unref);
        if (a->fd >= 0)
                close(a->fd);
        /* Only ours: lldpad may have taken the file over meanwhile. */
        if (!a->for_test && vsm_qbg_pidfile_read(a->pid_file) == (long) a->our_port)
                (void) g_unlink(a->pid_file);
        g_hash_table_unref(a->records);
        g_ptr_array_unref(a->uplinks);
        g_free(a->pid_file);
        g_free(a);
        return NULL;
}

gboolean vsm_qbg_agent_params_for_mac(VsmQbgAgent *a, const char *uplink, const uint8_t mac[6],
                                      VsmVsiParams *params) {
        GHashTableIter it;
        gpointer v;

        if (!a)
                return FALSE;
        g_hash_table_iter_init(&it, a->records);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
                QbgRecord *r = v;

                if (g_str_equal(r->uplink, uplink) && memcmp(r->mac, mac, 6) == 0 &&
                    r->request != VSM_QBGNL_PORT_DISASSOCIATE) {
                        memcpy(params->instance, r->instance, 16);
                        memset(params->manager_id, 0, sizeof(params->manager_id));
                        params->manager_id[0] = r->mgr_id;
                        params->type_id = r->type_id;
                        params->type_version = r->type_version;
                        params->vlan = r->vlan;
                        return TRUE;
                }
        }
        return FALSE;
}

JsonNode *vsm_qbg_agent_to_json(VsmQbgAgent *a) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(GPtrArray) list = g_ptr_array_new();
        GHashTableIter it;
        gpointer v;
        gint64 now = g_get_monotonic_time();

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "bound");
        json_builder_add_boolean_value(b, a->fd >= 0);
        json_builder_set_member_name(b, "port");
        json_builder_add_int_value(b, a->our_port);
        json_builder_set_member_name(b, "pid_file");
        json_builder_add_string_value(b, a->pid_file);
        json_builder_set_member_name(b, "pid_file_ok");
        json_builder_add_boolean_value(b, a->for_test ? TRUE
                                                      : vsm_qbg_pidfile_read(a->pid_file) == (long) a->our_port);
        json_builder_set_member_name(b, "requester_port");
        if (a->have_requester)
                json_builder_add_int_value(b, a->requester);
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "counters");
        json_builder_begin_object(b);
        for (int i = 0; i < _QC_MAX; i++) {
                json_builder_set_member_name(b, counter_names[i]);
                json_builder_add_int_value(b, (gint64) a->counters[i]);
        }
        json_builder_end_object(b);
        json_builder_set_member_name(b, "vsis");
        json_builder_begin_array(b);
        g_hash_table_iter_init(&it, a->records);
        while (g_hash_table_iter_next(&it, NULL, &v))
                g_ptr_array_add(list, v);
        g_ptr_array_sort(list, record_newest_first);
        for (guint i = 0; i < list->len; i++) {
                QbgRecord *r = list->pdata[i];
                char mac[18];

                json_builder_begin_object(b);
                json_builder_set_member_name(b, "instance");
                json_builder_add_string_value(b, r->id);
                json_builder_set_member_name(b, "uplink");
                json_builder_add_string_value(b, r->uplink);
                json_builder_set_member_name(b, "mac");
                json_builder_add_string_value(b, vsm_mac_format(r->mac, mac));
                json_builder_set_member_name(b, "vlan");
                json_builder_add_int_value(b, r->vlan);
                json_builder_set_member_name(b, "request");
                json_builder_add_string_value(b, vsm_qbgnl_port_request_to_string(r->request));
                json_builder_set_member_name(b, "response");
                if (r->pending)
                        json_builder_add_null_value(b);
                else
                        json_builder_add_int_value(b, r->response);
                json_builder_set_member_name(b, "age_ms");
                json_builder_add_int_value(b, (now - r->request_usec) / 1000);
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        return json_builder_get_root(b);
}

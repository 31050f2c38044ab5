/* The control socket: a Unix stream listener speaking newline-delimited
 * JSON (include/vsimig/control.h).  This layer only frames lines, enforces
 * the size cap and the peer credential check, and queues replies; the
 * daemon parses and answers requests. */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

typedef struct VsmControlServer VsmControlServer;
typedef struct VsmControlClient VsmControlClient;

/* One complete line (without the newline, NUL-terminated) from a client. */
typedef void (*VsmControlLineFunc)(VsmControlClient *client, const char *line, gsize len,
                                   gpointer user_data);

/* What a control client may do, decided once from the credentials the
 * kernel reports for it at connect time (SO_PEERCRED, SO_PEERGROUPS). */
typedef enum VsmControlAccess {
        VSM_CONTROL_ACCESS_NONE,       /* refused: dropped at connect */
        VSM_CONTROL_ACCESS_READ,       /* a member of the configured group: read-only methods */
        VSM_CONTROL_ACCESS_ADMIN,      /* uid 0: every method */
        _VSM_CONTROL_ACCESS_MAX,
} VsmControlAccess;

const char *vsm_control_access_to_string(VsmControlAccess a);

/* The access of a peer with effective uid, primary gid and supplementary
 * groups (n_groups of them): uid 0 is ADMIN; a peer whose primary or any
 * supplementary group is allowed_gid is READ; anyone else, and everyone
 * but root when allowed_gid is (gid_t) -1, is NONE.  Pure. */
VsmControlAccess vsm_control_access_decide(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
                                           gid_t allowed_gid);

/* Listens on path (an old socket file there is replaced; the parent
 * directory is created 0755 if missing).  Peers get the access
 * vsm_control_access_decide() gives them; those with none are sent a
 * permission-denied error and dropped.
 *
 * The socket file is mode 0600 when allowed_gid is (gid_t) -1, else 0660
 * and must belong to allowed_gid.  The file gets the daemon's group, or its
 * directory's if that directory is set-group-ID; only when that is not
 * allowed_gid does vsimigd chown() it, and only if it has CAP_CHOWN.
 * Without it (the shipped systemd unit, whose seccomp filter would kill
 * the daemon on chown) this fails with an error that says to set the
 * group in the unit instead. */
VsmControlServer *vsm_control_server_new(const char *path, gid_t allowed_gid, guint max_clients,
                                         VsmControlLineFunc func, gpointer user_data,
                                         GError **error);
/* Closes every client and unlinks the socket file. */
VsmControlServer *vsm_control_server_free(VsmControlServer *s);
guint vsm_control_server_n_clients(const VsmControlServer *s);

/* Queue line + '\n' for the client (no-op if it has gone). */
void vsm_control_client_send(VsmControlClient *c, const char *line);
/* Clients are reference counted so a request can outlive its connection;
 * check vsm_control_client_is_closed() before caring. */
VsmControlClient *vsm_control_client_ref(VsmControlClient *c);
void vsm_control_client_unref(VsmControlClient *c);
gboolean vsm_control_client_is_closed(const VsmControlClient *c);
pid_t vsm_control_client_pid(const VsmControlClient *c);
uid_t vsm_control_client_uid(const VsmControlClient *c);
/* READ or ADMIN (clients with NONE never reach the line callback). */
VsmControlAccess vsm_control_client_access(const VsmControlClient *c);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmControlServer, vsm_control_server_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmControlClient, vsm_control_client_unref)

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

/* Listens on path (an old socket file there is replaced; the parent
 * directory is created 0755).  Peers must be uid 0 or, when allowed_gid is
 * not (gid_t) -1, members of that group by primary gid; others are sent a
 * permission-denied error and dropped.  The socket file is mode 0660. */
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

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmControlServer, vsm_control_server_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VsmControlClient, vsm_control_client_unref)

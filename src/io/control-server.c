/* Control socket server: Unix stream, one JSON object per line. */
#include "io/control-server.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/config.h"
#include "vsimig/control.h"

#define CONTROL_OUTBUF_MAX (4 * 1024 * 1024)   /* a client that reads nothing is dropped */
/* Linux's NGROUPS_MAX: the most supplementary groups a peer can have. */
#define CONTROL_PEER_GROUPS_MAX 65536

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59                        /* Linux 4.13 */
#endif

struct VsmControlServer {
        char *path;
        int fd;
        guint source_id;
        gid_t allowed_gid;
        guint max_clients;
        VsmControlLineFunc func;
        gpointer user_data;
        GList *clients;
};

struct VsmControlClient {
        gint ref;
        VsmControlServer *server;      /* NULL once closed */
        int fd;
        guint in_id;
        guint out_id;
        pid_t pid;
        uid_t uid;
        VsmControlAccess access;
        GByteArray *in;
        GByteArray *out;
        gboolean discarding;           /* inside an over-long line */
};

static void client_close(VsmControlClient *c) {
        if (!c->server)
                return;
        c->server->clients = g_list_remove(c->server->clients, c);
        c->server = NULL;
        g_clear_handle_id(&c->in_id, g_source_remove);
        g_clear_handle_id(&c->out_id, g_source_remove);
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        vsm_control_client_unref(c);
}

VsmControlClient *vsm_control_client_ref(VsmControlClient *c) {
        g_atomic_int_inc(&c->ref);
        return c;
}

void vsm_control_client_unref(VsmControlClient *c) {
        if (!c || !g_atomic_int_dec_and_test(&c->ref))
                return;
        g_byte_array_unref(c->in);
        g_byte_array_unref(c->out);
        g_free(c);
}

gboolean vsm_control_client_is_closed(const VsmControlClient *c) {
        return c->server == NULL;
}

pid_t vsm_control_client_pid(const VsmControlClient *c) {
        return c->pid;
}

uid_t vsm_control_client_uid(const VsmControlClient *c) {
        return c->uid;
}

VsmControlAccess vsm_control_client_access(const VsmControlClient *c) {
        return c->access;
}

const char *vsm_control_access_to_string(VsmControlAccess a) {
        static const char *const names[_VSM_CONTROL_ACCESS_MAX] = {
                [VSM_CONTROL_ACCESS_NONE] = "none",
                [VSM_CONTROL_ACCESS_READ] = "read-only",
                [VSM_CONTROL_ACCESS_ADMIN] = "admin",
        };

        return (unsigned) a < _VSM_CONTROL_ACCESS_MAX ? names[a] : "invalid";
}

VsmControlAccess vsm_control_access_decide(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups,
                                           gid_t allowed_gid) {
        if (uid == 0)
                return VSM_CONTROL_ACCESS_ADMIN;
        if (allowed_gid == (gid_t) -1)
                return VSM_CONTROL_ACCESS_NONE;
        if (gid == allowed_gid)
                return VSM_CONTROL_ACCESS_READ;
        for (size_t i = 0; i < n_groups; i++)
                if (groups[i] == allowed_gid)
                        return VSM_CONTROL_ACCESS_READ;
        return VSM_CONTROL_ACCESS_NONE;
}

static gboolean client_flush(VsmControlClient *c) {
        while (c->out->len > 0) {
                ssize_t n = send(c->fd, c->out->data, c->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return TRUE;
                        return FALSE;
                }
                g_byte_array_remove_range(c->out, 0, (guint) n);
        }
        return TRUE;
}

static gboolean client_on_writable(gint fd, GIOCondition cond, gpointer user_data) {
        VsmControlClient *c = user_data;

        if (!client_flush(c)) {
                c->out_id = 0;
                client_close(c);
                return G_SOURCE_REMOVE;
        }
        if (c->out->len == 0) {
                c->out_id = 0;
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
}

void vsm_control_client_send(VsmControlClient *c, const char *line) {
        if (!c->server)
                return;
        if (c->out->len + strlen(line) + 1 > CONTROL_OUTBUF_MAX) {
                g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
                                 "MESSAGE", "control client pid %d reads too slowly, dropping it",
                                 (int) c->pid);
                client_close(c);
                return;
        }
        g_byte_array_append(c->out, (const guint8 *) line, strlen(line));
        g_byte_array_append(c->out, (const guint8 *) "\n", 1);
        if (!client_flush(c)) {
                client_close(c);
                return;
        }
        if (c->out->len > 0 && c->out_id == 0)
                c->out_id = g_unix_fd_add(c->fd, G_IO_OUT, client_on_writable, c);
}

static void client_send_error(VsmControlClient *c, const char *code, const char *message) {
        g_autofree char *esc = g_strescape(message, NULL);
        g_autofree char *line = g_strdup_printf("{\"id\":null,\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}",
                                                code, esc);

        vsm_control_client_send(c, line);
}

static void client_process_lines(VsmControlClient *c) {
        for (;;) {
                guint8 *nl = memchr(c->in->data, '\n', c->in->len);
                gsize len;

                if (!nl)
                        break;
                len = (gsize) (nl - c->in->data);
                if (c->discarding) {
                        c->discarding = FALSE;
                } else {
                        *nl = '\0';
                        if (len > 0 && c->in->data[len - 1] == '\r')
                                c->in->data[--len] = '\0';
                        if (len > 0) {
                                /* The callback may close us; keep c alive. */
                                vsm_control_client_ref(c);
                                c->server->func(c, (const char *) c->in->data, len, c->server->user_data);
                                if (!c->server) {
                                        vsm_control_client_unref(c);
                                        return;
                                }
                                vsm_control_client_unref(c);
                        }
                }
                g_byte_array_remove_range(c->in, 0, (guint) (nl - c->in->data) + 1);
        }
        if (c->in->len >= VSIMIG_CONTROL_LINE_MAX) {
                /* Over the cap without a newline: answer once, then skip the
                 * rest of this line without buffering it. */
                if (!c->discarding)
                        client_send_error(c, VSIMIG_ERR_TOO_LARGE, "request line too long");
                c->discarding = TRUE;
                g_byte_array_set_size(c->in, 0);
        }
}

static gboolean client_on_readable(gint fd, GIOCondition cond, gpointer user_data) {
        VsmControlClient *c = user_data;
        guint8 buf[8192];
        ssize_t n;

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return G_SOURCE_CONTINUE;
        if (n <= 0) {
                c->in_id = 0;
                client_close(c);
                return G_SOURCE_REMOVE;
        }
        if (c->discarding) {
                guint8 *nl = memchr(buf, '\n', (size_t) n);

                if (!nl)
                        return G_SOURCE_CONTINUE;
                c->discarding = FALSE;
                g_byte_array_append(c->in, nl + 1, (guint) (n - (nl + 1 - buf)));
        } else {
                g_byte_array_append(c->in, buf, (guint) n);
        }
        client_process_lines(c);
        return G_SOURCE_CONTINUE;
}

/* The peer's supplementary groups (as at its connect()), in a new array;
 * NULL with *ret_n = 0 when the kernel cannot tell (before Linux 4.13) or
 * the peer has none. */
static gid_t *peer_groups(int fd, size_t *ret_n) {
        socklen_t len = 32 * sizeof(gid_t);
        g_autofree gid_t *groups = NULL;

        *ret_n = 0;
        for (int attempt = 0; attempt < 2; attempt++) {
                g_free(groups);
                groups = g_malloc(len > 0 ? len : sizeof(gid_t));
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
                        *ret_n = len / sizeof(gid_t);
                        return g_steal_pointer(&groups);
                }
                /* Too small: len now holds the size needed. */
                if (errno != ERANGE || len > CONTROL_PEER_GROUPS_MAX * sizeof(gid_t))
                        break;
        }
        return NULL;
}

static VsmControlAccess server_peer_access(VsmControlServer *s, int fd, pid_t *ret_pid, uid_t *ret_uid) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        g_autofree gid_t *groups = NULL;
        size_t n_groups = 0;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return VSM_CONTROL_ACCESS_NONE;
        *ret_pid = cred.pid;
        *ret_uid = cred.uid;
        if (cred.uid != 0 && s->allowed_gid != (gid_t) -1 && cred.gid != s->allowed_gid)
                groups = peer_groups(fd, &n_groups);
        return vsm_control_access_decide(cred.uid, cred.gid, groups, n_groups, s->allowed_gid);
}

static gboolean server_on_accept(gint fd, GIOCondition cond, gpointer user_data) {
        VsmControlServer *s = user_data;
        VsmControlClient *c;
        pid_t pid = 0;
        uid_t uid = (uid_t) -1;
        int cfd;

        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0)
                return G_SOURCE_CONTINUE;

        c = g_new0(VsmControlClient, 1);
        c->ref = 1;
        c->fd = cfd;
        c->in = g_byte_array_new();
        c->out = g_byte_array_new();
        c->server = s;
        s->clients = g_list_prepend(s->clients, c);

        c->access = server_peer_access(s, cfd, &pid, &uid);
        c->pid = pid;
        c->uid = uid;
        if (c->access == VSM_CONTROL_ACCESS_NONE) {
                g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
                                 "MESSAGE", "control: refused peer pid %d uid %d (not root nor in the configured group)",
                                 (int) pid, (int) uid);
                client_send_error(c, VSIMIG_ERR_PERMISSION, "permission denied");
                client_close(c);
                return G_SOURCE_CONTINUE;
        }
        if (g_list_length(s->clients) > s->max_clients) {
                client_send_error(c, VSIMIG_ERR_BUSY, "too many control clients");
                client_close(c);
                return G_SOURCE_CONTINUE;
        }
        c->in_id = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, client_on_readable, c);
        return G_SOURCE_CONTINUE;
}

/* Whether this process may chown() files to another group: CAP_CHOWN in
 * its effective set, read from /proc so that no syscall outside the unit's
 * seccomp filter is needed to find out. */
static gboolean have_cap_chown(void) {
        g_autofree char *status = NULL;
        const char *p;
        guint64 eff;

        if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
                return FALSE;
        p = strstr(status, "\nCapEff:");
        if (!p)
                return FALSE;
        eff = g_ascii_strtoull(p + strlen("\nCapEff:"), NULL, 16);
        return (eff & (G_GUINT64_CONSTANT(1) << 0 /* CAP_CHOWN */)) != 0;
}

/* Give the socket file at path the group gid: nothing to do when it got it
 * at bind() (the daemon runs with that group, as the shipped unit's Group=
 * arranges, or the directory is set-group-ID); else chown() if allowed. */
static gboolean socket_set_group(const char *path, gid_t gid, GError **error) {
        struct stat st;

        if (stat(path, &st) < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "cannot stat %s: %s", path, g_strerror(errno));
                return FALSE;
        }
        if (st.st_gid == gid)
                return TRUE;
        if (!have_cap_chown()) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG,
                            "control socket %s has group id %u, not the [control] group's %u, and vsimigd "
                            "may not chown it (no CAP_CHOWN, as under the shipped systemd unit): run vsimigd "
                            "with that group (Group= in the unit, see vsimigd.conf(5))",
                            path, (unsigned) st.st_gid, (unsigned) gid);
                return FALSE;
        }
        if (chown(path, (uid_t) -1, gid) < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "cannot give %s group id %u: %s", path,
                            (unsigned) gid, g_strerror(errno));
                return FALSE;
        }
        return TRUE;
}

VsmControlServer *vsm_control_server_new(const char *path, gid_t allowed_gid, guint max_clients,
                                         VsmControlLineFunc func, gpointer user_data,
                                         GError **error) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        g_autofree char *dir = NULL;
        VsmControlServer *s;
        int fd;

        if (strlen(path) >= sizeof(sun.sun_path)) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_CONFIG, "control socket path too long: %s", path);
                return NULL;
        }
        strcpy(sun.sun_path, path);
        dir = g_path_get_dirname(path);
        if (g_mkdir_with_parents(dir, 0755) < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "cannot create %s: %s", dir, g_strerror(errno));
                return NULL;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "socket: %s", g_strerror(errno));
                return NULL;
        }
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0 ||
            chmod(path, allowed_gid == (gid_t) -1 ? 0600 : 0660) < 0) {
                int e = errno;

                close(fd);
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "cannot listen on %s: %s", path, g_strerror(e));
                return NULL;
        }
        if (allowed_gid != (gid_t) -1 && !socket_set_group(path, allowed_gid, error)) {
                close(fd);
                (void) unlink(path);
                return NULL;
        }
        if (listen(fd, 16) < 0) {
                int e = errno;

                close(fd);
                (void) unlink(path);
                g_set_error(error, VSM_ERROR, VSM_ERROR_IO, "cannot listen on %s: %s", path, g_strerror(e));
                return NULL;
        }
        s = g_new0(VsmControlServer, 1);
        s->path = g_strdup(path);
        s->fd = fd;
        s->allowed_gid = allowed_gid;
        s->max_clients = max_clients;
        s->func = func;
        s->user_data = user_data;
        s->source_id = g_unix_fd_add(fd, G_IO_IN, server_on_accept, s);
        return s;
}

VsmControlServer *vsm_control_server_free(VsmControlServer *s) {
        if (!s)
                return NULL;
        while (s->clients)
                client_close(s->clients->data);
        g_clear_handle_id(&s->source_id, g_source_remove);
        close(s->fd);
        (void) unlink(s->path);
        g_free(s->path);
        g_free(s);
        return NULL;
}

guint vsm_control_server_n_clients(const VsmControlServer *s) {
        return g_list_length(s->clients);
}

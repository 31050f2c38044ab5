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

static gboolean server_peer_allowed(VsmControlServer *s, int fd, pid_t *ret_pid) {
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return FALSE;
        *ret_pid = cred.pid;
        if (cred.uid == 0)
                return TRUE;
        return s->allowed_gid != (gid_t) -1 && cred.gid == s->allowed_gid;
}

static gboolean server_on_accept(gint fd, GIOCondition cond, gpointer user_data) {
        VsmControlServer *s = user_data;
        VsmControlClient *c;
        pid_t pid = 0;
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

        if (!server_peer_allowed(s, cfd, &pid)) {
                c->pid = pid;
                g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
                                 "MESSAGE", "control: refused peer pid %d (not root or the configured group)",
                                 (int) pid);
                client_send_error(c, VSIMIG_ERR_PERMISSION, "permission denied");
                client_close(c);
                return G_SOURCE_CONTINUE;
        }
        c->pid = pid;
        if (g_list_length(s->clients) > s->max_clients) {
                client_send_error(c, VSIMIG_ERR_BUSY, "too many control clients");
                client_close(c);
                return G_SOURCE_CONTINUE;
        }
        c->in_id = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, client_on_readable, c);
        return G_SOURCE_CONTINUE;
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
            chmod(path, 0660) < 0 ||
            (allowed_gid != (gid_t) -1 && chown(path, 0, allowed_gid) < 0) ||
            listen(fd, 16) < 0) {
                int e = errno;

                close(fd);
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

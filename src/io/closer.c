/* The closer thread (see closer.h): a ring of fds under a mutex, one
 * thread that pops and closes them.  Used for AF_PACKET sockets, whose
 * close() blocks in synchronize_net() (net/packet/af_packet.c,
 * packet_release()). */
#include <unistd.h>

#include "io/closer.h"

static GMutex closer_lock;
static GCond closer_cond;              /* signalled on push, on pop and on stop */
static GThread *closer_thread;
static int closer_ring[VSM_CLOSER_QUEUE_MAX];
static guint closer_head;              /* next to pop */
static guint closer_len;
static guint closer_busy;              /* popped, close() not yet returned */
static gboolean closer_stop;
static VsmCloserStats closer_stats;
static VsmCloserHook closer_hook;
static gpointer closer_hook_data;

static void closer_do_close(int fd, VsmCloserHook hook, gpointer data) {
        if (hook)
                hook(fd, data);
        (void) close(fd);
}

static gpointer closer_main(gpointer unused) {
        (void) unused;
        g_mutex_lock(&closer_lock);
        for (;;) {
                VsmCloserHook hook;
                gpointer data;
                int fd;

                while (closer_len == 0 && !closer_stop)
                        g_cond_wait(&closer_cond, &closer_lock);
                if (closer_len == 0)
                        break;                 /* stopping, and drained */
                fd = closer_ring[closer_head];
                closer_head = (closer_head + 1) % VSM_CLOSER_QUEUE_MAX;
                closer_len--;
                closer_busy++;
                hook = closer_hook;
                data = closer_hook_data;
                g_mutex_unlock(&closer_lock);
                closer_do_close(fd, hook, data);
                g_mutex_lock(&closer_lock);
                closer_busy--;
                closer_stats.closed++;
                g_cond_broadcast(&closer_cond);
        }
        g_mutex_unlock(&closer_lock);
        return NULL;
}

void vsm_closer_close(int fd) {
        VsmCloserHook hook;
        gpointer data;

        if (fd < 0)
                return;
        g_mutex_lock(&closer_lock);
        if (!closer_thread && !closer_stop) {
                g_autoptr(GError) error = NULL;

                closer_thread = g_thread_try_new("vsm-closer", closer_main, NULL, &error);
                if (!closer_thread)
                        g_warning("closer thread: %s; closing packet sockets inline", error->message);
        }
        if (closer_thread && !closer_stop && closer_len < VSM_CLOSER_QUEUE_MAX) {
                closer_ring[(closer_head + closer_len) % VSM_CLOSER_QUEUE_MAX] = fd;
                closer_len++;
                closer_stats.queued++;
                if (closer_len > closer_stats.max_depth)
                        closer_stats.max_depth = closer_len;
                g_cond_broadcast(&closer_cond);
                g_mutex_unlock(&closer_lock);
                return;
        }
        closer_stats.inline_closed++;
        hook = closer_hook;
        data = closer_hook_data;
        g_mutex_unlock(&closer_lock);
        closer_do_close(fd, hook, data);
}

void vsm_closer_flush(void) {
        g_mutex_lock(&closer_lock);
        while (closer_thread && (closer_len > 0 || closer_busy > 0))
                g_cond_wait(&closer_cond, &closer_lock);
        g_mutex_unlock(&closer_lock);
}

void vsm_closer_shutdown(void) {
        GThread *t;

        g_mutex_lock(&closer_lock);
        t = g_steal_pointer(&closer_thread);
        closer_stop = TRUE;
        g_cond_broadcast(&closer_cond);
        g_mutex_unlock(&closer_lock);
        if (t)
                g_thread_join(t);      /* returns once the queue is empty */
        g_mutex_lock(&closer_lock);
        closer_stop = FALSE;
        g_mutex_unlock(&closer_lock);
}

void vsm_closer_get_stats(VsmCloserStats *ret_stats) {
        g_mutex_lock(&closer_lock);
        *ret_stats = closer_stats;
        g_mutex_unlock(&closer_lock);
}

void vsm_closer_set_hook(VsmCloserHook hook, gpointer user_data) {
        g_mutex_lock(&closer_lock);
        closer_hook = hook;
        closer_hook_data = user_data;
        g_mutex_unlock(&closer_lock);
}
